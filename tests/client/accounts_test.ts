/**
 * Accounts and package maintenance as a user does them, with the `bpfpm` command against
 * a real bpfpm registry server: adduser creates, login never does (a typo is an error),
 * the password typed on a terminal is not shown, and dist-tag, deprecate, owner and
 * unpublish change what the registry serves.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { startRegistry } from "../../registry/server/cli.ts";
import {
  bpfpm,
  CLI_ARGV,
  onPty,
  publishRaw,
  sandbox,
  startVerdaccio,
} from "./_helpers.ts";

function oneLine(text: string): string {
  const lines = text.trim().split("\n");
  assert.equal(lines.length, 1, `expected one line, got:\n${text}`);
  return lines[0];
}

Deno.test("accounts: adduser creates, login never does, the password is not echoed", async () => {
  const dir = await Deno.makeTempDir({ prefix: "bpfpm-accounts-" });
  const reg = await startRegistry({ db: join(dir, "registry.db") });
  try {
    await using s = await sandbox(`${reg.url}/`);
    const cli = (args: string[], env: Record<string, string> = {}) =>
      bpfpm(args, { cwd: s.project, env: { ...s.env, ...env } });
    const userStatus = async (name: string) => {
      const r = await fetch(`${reg.url}/-/user/org.couchdb.user:${name}`);
      await r.body?.cancel();
      return r.status;
    };

    let r = await cli(["adduser", "--user", "alice"], {
      BPFPM_PASSWORD: "alice-secret-1",
    });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /Created alice/);
    assert.equal((await cli(["whoami"])).stdout.trim(), "alice");

    // A typo at login is an error, and no account appears.
    r = await cli(["login", "--user", "alcie"], {
      BPFPM_PASSWORD: "alice-secret-1",
    });
    assert.equal(r.code, 1);
    assert.match(
      oneLine(r.stderr),
      /^bpfpm login: .* has no user named alcie; .*bpfpm adduser --user alcie$/,
    );
    assert.equal(await userStatus("alcie"), 404);

    r = await cli(["login", "--user", "alice"], {
      BPFPM_PASSWORD: "not-alices-pw",
    });
    assert.equal(r.code, 1);
    assert.match(oneLine(r.stderr), /Wrong password for alice/);

    r = await cli(["adduser", "--user", "alice"], {
      BPFPM_PASSWORD: "someone-else-pw",
    });
    assert.equal(r.code, 1);
    assert.match(
      oneLine(r.stderr),
      /already has a user named alice; log in with bpfpm login/,
    );

    // On a terminal: the name is asked (and shown as typed), the password is not shown.
    await cli(["logout"]);
    const password = "pty-Visible-Check-77";
    await using t = await sandbox(`${reg.url}/`);
    const argv = CLI_ARGV;
    const env = { ...t.env, PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin" };
    let tty = await onPty(
      [...argv, "adduser"],
      [["Username:", "ptyuser"], ["Password:", password]],
      t.project,
      env,
    );
    assert.equal(tty.code, 0, tty.screen);
    assert.match(tty.screen, /Username: ptyuser/, "the name is echoed");
    assert.match(tty.screen, /Password:/);
    assert.ok(
      !tty.screen.includes(password),
      `the password appeared on the terminal:\n${tty.screen}`,
    );
    assert.match(tty.screen, /Created ptyuser/);
    await bpfpm(["logout"], { cwd: t.project, env: t.env });
    tty = await onPty(
      [...argv, "login"],
      [["Username:", "ptyuser"], ["Password:", password]],
      t.project,
      env,
    );
    assert.equal(tty.code, 0, tty.screen);
    assert.ok(!tty.screen.includes(password), tty.screen);
    assert.match(tty.screen, /Logged in as ptyuser/);
    const who = await bpfpm(["whoami"], { cwd: t.project, env: t.env });
    assert.equal(who.stdout.trim(), "ptyuser");
  } finally {
    await reg.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("dist-tag, deprecate, owner and unpublish change what the registry serves", async () => {
  const dir = await Deno.makeTempDir({ prefix: "bpfpm-maintain-" });
  const reg = await startRegistry({ db: join(dir, "registry.db") });
  try {
    const url = `${reg.url}/`;
    await using a = await sandbox(url);
    await using b = await sandbox(url);
    const alice = (args: string[]) =>
      bpfpm(args, { cwd: a.project, env: a.env });
    const bob = (args: string[]) => bpfpm(args, { cwd: b.project, env: b.env });
    const ok = async (
      run: (args: string[]) => ReturnType<typeof alice>,
      args: string[],
    ) => {
      const r = await run(args);
      assert.equal(r.code, 0, `bpfpm ${args.join(" ")}: ${r.stderr}`);
      return r;
    };
    const fails = async (
      run: (args: string[]) => ReturnType<typeof alice>,
      args: string[],
      pattern: RegExp,
    ) => {
      const r = await run(args);
      assert.notEqual(r.code, 0, `bpfpm ${args.join(" ")} succeeded`);
      assert.match(oneLine(r.stderr), pattern);
    };
    const doc = async () => await (await fetch(`${reg.url}/mtool`)).json();

    await ok(
      alice,
      ["adduser", "--user", "alice", "--password", "alice-secret-1"],
    );
    await ok(bob, ["adduser", "--user", "bob", "--password", "bob-secret-12"]);
    const token = (await Deno.readTextFile(join(a.config, "bpfpmrc")))
      .match(/:_authToken=(.+)/)![1];
    for (const version of ["1.0.0", "1.1.0"]) {
      await publishRaw(url, token, { name: "mtool", version }, {
        "index.js": `// ${version}\n`,
      });
    }

    // dist-tag
    await ok(alice, ["dist-tag", "add", "mtool@1.0.0", "stable"]);
    let r = await ok(alice, ["dist-tag", "ls", "mtool"]);
    assert.match(r.stdout, /^stable: 1\.0\.0$/m);
    assert.match(r.stdout, /^latest: 1\.1\.0$/m);
    assert.equal((await doc())["dist-tags"].stable, "1.0.0");
    await fails(
      bob,
      ["dist-tag", "add", "mtool@1.1.0", "stable"],
      /You do not own mtool/,
    );
    await fails(
      alice,
      ["dist-tag", "add", "mtool@9.9.9", "next"],
      /9\.9\.9 of mtool is not published/,
    );
    await ok(alice, ["dist-tag", "rm", "mtool", "stable"]);
    assert.equal((await doc())["dist-tags"].stable, undefined);
    await fails(
      alice,
      ["dist-tag", "rm", "mtool", "latest"],
      /latest tag cannot be removed/,
    );

    // deprecate, and undeprecate with an empty message
    await ok(alice, ["deprecate", "mtool@1.0.0", "use 1.1.0"]);
    let d = await doc();
    assert.equal(d.versions["1.0.0"].deprecated, "use 1.1.0");
    assert.equal(d.versions["1.1.0"].deprecated, undefined);
    await ok(alice, ["deprecate", "mtool@1.0.0", ""]);
    assert.equal((await doc()).versions["1.0.0"].deprecated, undefined);
    await fails(
      alice,
      ["deprecate", "mtool@>=5", "x"],
      /No version of mtool matches >=5/,
    );

    // owner: bob may tag once he is an owner, and not after
    r = await ok(alice, ["owner", "ls", "mtool"]);
    assert.deepEqual(r.stdout.trim().split("\n").map((l) => l.split(" ")[0]), [
      "alice",
    ]);
    await fails(alice, ["owner", "add", "bbo", "mtool"], /no user named bbo/);
    await ok(alice, ["owner", "add", "bob", "mtool"]);
    r = await ok(alice, ["owner", "ls", "mtool", "--json"]);
    assert.deepEqual(
      JSON.parse(r.stdout).map((o: { name: string }) => o.name),
      ["alice", "bob"],
    );
    await ok(bob, ["dist-tag", "add", "mtool@1.0.0", "bobs"]);
    assert.equal((await doc())["dist-tags"].bobs, "1.0.0");
    await ok(alice, ["owner", "rm", "bob", "mtool"]);
    await fails(
      bob,
      ["dist-tag", "add", "mtool@1.1.0", "bobs"],
      /You do not own mtool/,
    );
    await fails(
      alice,
      ["owner", "rm", "alice", "mtool"],
      /only owner/,
    );

    // unpublish one version: latest moves back, the tarball is gone
    await ok(alice, ["unpublish", "mtool@1.1.0"]);
    d = await doc();
    assert.deepEqual(Object.keys(d.versions), ["1.0.0"]);
    assert.equal(d["dist-tags"].latest, "1.0.0");
    const gone = await fetch(`${reg.url}/mtool/-/mtool-1.1.0.tgz`);
    await gone.body?.cancel();
    assert.equal(gone.status, 404);
    await fails(alice, ["unpublish", "mtool"], /needs --force/);
    await ok(alice, ["unpublish", "mtool", "--force"]);
    const none = await fetch(`${reg.url}/mtool`);
    await none.body?.cancel();
    assert.equal(none.status, 404);
  } finally {
    await reg.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("login against Verdaccio: a typo is refused and no account appears; the right password logs in", async () => {
  await using v = await startVerdaccio();
  await using s = await sandbox(v.url);
  const login = (user: string, password: string) =>
    bpfpm(["login", "--user", user], {
      cwd: s.project,
      env: { ...s.env, BPFPM_PASSWORD: password },
    });
  let r = await login("testr", "tester-pass-1");
  assert.equal(r.code, 1);
  assert.match(
    oneLine(r.stderr),
    /did not accept testr with that password; check both, or create the account with bpfpm adduser --user testr$/,
  );
  r = await login("tester", "not-the-password");
  assert.equal(r.code, 1);
  const htpasswd = await Deno.readTextFile(join(v.dir, "htpasswd"));
  assert.deepEqual(
    htpasswd.trim().split("\n").map((l) => l.split(":")[0]),
    ["tester"],
  );
  r = await login("tester", "tester-pass-1");
  assert.equal(r.code, 0, r.stderr);
  const who = await bpfpm(["whoami"], { cwd: s.project, env: s.env });
  assert.equal(who.stdout.trim(), "tester");
});
