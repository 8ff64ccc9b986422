/**
 * Publisher keys end to end against the in-process bpfpm registry: `publish` registers
 * the key, and `install --require-signed` accepts a package only when its signature
 * verifies, its key is registered to one of its maintainers (or trusted with `bpfpm
 * trust`), and the key is not revoked.
 */
import assert from "node:assert/strict";
import { copyFileSync, existsSync } from "node:fs";
import { join } from "node:path";
import { startRegistry } from "../../registry/server/cli.ts";
import { adduser } from "../../registry/client/commands.ts";
import { type ClientConfig, loadConfig } from "../../registry/client/config.ts";
import { ClientError } from "../../registry/client/errors.ts";
import { SignatureError } from "../../registry/common/errors.ts";
import { install } from "../../registry/client/install.ts";
import { publish } from "../../registry/client/publish.ts";
import {
  publisherKey,
  setTrustedKeys,
} from "../../registry/client/signatures.ts";
import { Ui } from "../../registry/client/ui.ts";
import { bpfpm, sandbox } from "./_helpers.ts";

const quiet = new Ui({ quiet: true, tty: false });

async function writePackage(dir: string, name: string, version: string) {
  await Deno.mkdir(dir, { recursive: true });
  await Deno.writeTextFile(
    join(dir, "package.json"),
    JSON.stringify({ name, version }),
  );
  await Deno.writeTextFile(join(dir, "index.js"), `// ${name}@${version}\n`);
}

async function refused(p: Promise<unknown>): Promise<SignatureError> {
  const e = await p.then(() => null, (e) => e);
  assert.ok(e instanceof SignatureError, `expected a SignatureError, got ${e}`);
  return e;
}

Deno.test("publisher keys end to end: registered on publish, checked against maintainers, revocable", async () => {
  const dir = await Deno.makeTempDir({ prefix: "bpfpm-keys-" });
  const reg = await startRegistry({ db: join(dir, "registry.db") });
  try {
    const url = `${reg.url}/`;
    await using a = await sandbox(url);
    await using b = await sandbox(url);
    await using m = await sandbox(url);
    await using i = await sandbox(url);
    const cfg = (s: { project: string; env: Record<string, string> }) =>
      loadConfig({ cwd: s.project, env: s.env });
    const alice = await adduser(cfg(a), "alice", "alice-secret-1");
    await adduser(cfg(b), "bob", "bob-secret-12");
    await adduser(cfg(m), "mallory", "mallory-secret-1");
    const installer: ClientConfig = cfg(i);
    const keyA = publisherKey(a.config)!.keyid;
    const keyB = publisherKey(b.config)!.keyid;

    // Publishing registers the key, so an installer needs no trust step.
    await writePackage(join(a.root, "tool"), "team-tool", "1.0.0");
    await publish(cfg(a), join(a.root, "tool"), { ui: quiet });
    const rec = await (await fetch(`${reg.url}/-/bpfpm/v1/keys/${keyA}`))
      .json();
    assert.equal(rec.user, "alice");
    const first = await install(installer, {
      add: ["team-tool@1.0.0"],
      requireSigned: true,
      yes: true,
      ui: quiet,
    });
    assert.equal(
      first.lock.packages["bpf_modules/team-tool"].publisherKey,
      keyA,
    );

    // Someone holding a copy of alice's key cannot use it as theirs: the registration
    // is refused before anything is published.
    copyFileSync(
      join(a.config, "publisher_ed25519.pem"),
      join(m.config, "publisher_ed25519.pem"),
    );
    await writePackage(join(m.root, "tool"), "mallory-tool", "1.0.0");
    const taken = await publish(cfg(m), join(m.root, "tool"), { ui: quiet })
      .then(() => null, (e) => e);
    assert.ok(taken instanceof ClientError, String(taken));
    assert.equal(taken.code, "EKEY");
    assert.match(taken.message, /is registered to another user/);
    assert.equal(
      await fetch(`${reg.url}/mallory-tool`).then(async (r) => {
        await r.body?.cancel();
        return r.status;
      }),
      404,
    );

    // Alice makes bob a maintainer; bob publishes 1.1.0 with his own key.
    const setOwners = async (owners: string[]) => {
      const doc = await (await fetch(`${reg.url}/team-tool?write=true`, {
        headers: { authorization: `Bearer ${alice}` },
      })).json();
      const r = await fetch(`${reg.url}/team-tool/-rev/${doc._rev}`, {
        method: "PUT",
        headers: {
          authorization: `Bearer ${alice}`,
          "content-type": "application/json",
        },
        body: JSON.stringify({
          _id: "team-tool",
          _rev: doc._rev,
          maintainers: owners.map((name) => ({ name })),
        }),
      });
      await r.body?.cancel();
      assert.equal(r.status, 200);
    };
    await setOwners(["alice", "bob"]);
    await writePackage(join(b.root, "tool"), "team-tool", "1.1.0");
    await publish(cfg(b), join(b.root, "tool"), { ui: quiet });
    await using i2 = await sandbox(url);
    const byBob = await install(cfg(i2), {
      add: ["team-tool@1.1.0"],
      requireSigned: true,
      yes: true,
      ui: quiet,
    });
    assert.equal(
      byBob.lock.packages["bpf_modules/team-tool"].publisherKey,
      keyB,
    );

    // Bob is removed: a version he signed no longer passes, unless the installer
    // trusts his key explicitly.
    await setOwners(["alice"]);
    await using i3 = await sandbox(url);
    const notMaintainer = await refused(install(cfg(i3), {
      add: ["team-tool@1.1.0"],
      requireSigned: true,
      yes: true,
      ui: quiet,
    }));
    assert.equal(notMaintainer.reason, "not-maintainer");
    assert.equal(notMaintainer.keyid, keyB);
    assert.match(
      notMaintainer.message,
      /signed by ed25519:\w+, the key of bob, who is not a maintainer of team-tool \(maintainers: alice\)/,
    );
    assert.ok(!existsSync(join(i3.project, "bpf_modules")));
    setTrustedKeys(i3.config, [keyB]);
    const trusted = await install(cfg(i3), {
      add: ["team-tool@1.1.0"],
      requireSigned: true,
      yes: true,
      ui: quiet,
    });
    assert.equal(
      trusted.lock.packages["bpf_modules/team-tool"].version,
      "1.1.0",
    );

    // Alice revokes her key: what it signed is refused, even by an installer who
    // trusts it, and even from an existing lockfile.
    const del = await fetch(`${reg.url}/-/bpfpm/v1/keys/${keyA}`, {
      method: "DELETE",
      headers: { authorization: `Bearer ${alice}` },
    });
    await del.body?.cancel();
    assert.equal(del.status, 200);
    setTrustedKeys(i.config, [keyA]);
    const revoked = await refused(
      install(installer, { requireSigned: true, yes: true, ui: quiet }),
    );
    assert.equal(revoked.reason, "revoked-key");
    assert.match(revoked.message, /a key alice revoked on \d{4}-/);
    // And alice cannot publish with it again until she makes a new key.
    await writePackage(join(a.root, "tool"), "team-tool", "1.2.0");
    const again = await publish(cfg(a), join(a.root, "tool"), { ui: quiet })
      .then(() => null, (e) => e);
    assert.ok(again instanceof ClientError, String(again));
    assert.match(
      again.message,
      /was revoked on .* makes a new key; key file: .*publisher_ed25519\.pem/,
    );
  } finally {
    await reg.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("bpfpm keys registers, lists and revokes publisher keys", async () => {
  const dir = await Deno.makeTempDir({ prefix: "bpfpm-keys-cli-" });
  const reg = await startRegistry({ db: join(dir, "registry.db") });
  try {
    await using s = await sandbox(`${reg.url}/`);
    const cli = (args: string[]) => bpfpm(args, { cwd: s.project, env: s.env });
    const anon = await cli(["keys", "register"]);
    assert.equal(anon.code, 1);
    assert.match(anon.stderr, /Not logged in to .*; run bpfpm login/);
    await adduser(
      loadConfig({ cwd: s.project, env: s.env }),
      "kim",
      "kim-secret-1",
    );
    const reg1 = await cli(["keys", "register"]);
    assert.equal(reg1.code, 0, reg1.stderr);
    const keyid = publisherKey(s.config, false)!.keyid;
    assert.match(reg1.stderr, new RegExp(`registered publisher key ${keyid}`));
    const listed = JSON.parse((await cli(["keys", "--json"])).stdout);
    assert.deepEqual(
      listed.map((k: { keyid: string; user: string }) => [k.keyid, k.user]),
      [[keyid, "kim"]],
    );
    const revoked = await cli(["keys", "revoke", keyid]);
    assert.equal(revoked.code, 0, revoked.stderr);
    assert.match(revoked.stdout, new RegExp(`revoked: ${keyid} \\(\\d{4}-`));
    assert.match(
      (await cli(["keys", "--user", "kim"])).stdout,
      new RegExp(`^${keyid}  kim  \\S+  revoked \\d{4}-`),
    );
    const bad = await cli(["keys", "revoke", "rsa:1"]);
    assert.equal(bad.code, 2); // a bad argument: a usage error
    assert.match(bad.stderr, /"rsa:1" is not a publisher key id/);
  } finally {
    await reg.close();
    await Deno.remove(dir, { recursive: true });
  }
});
