/**
 * End to end with the real npm CLI against a server on 127.0.0.1, on SQLite and on
 * PostgreSQL: publish, view, install (with registry-signature verification), dist-tag,
 * deprecate, unpublish, owner, search, whoami; and another user refused throughout.
 */
import { Buffer } from "node:buffer";
import { createPublicKey, verify } from "node:crypto";
import { assert, assertEquals, assertMatch } from "./_assert.ts";
import { NpmEnv, signup } from "./_helpers.ts";
import { hasPostgres, startPostgres } from "./_pg.ts";
import {
  type RunningRegistry,
  startRegistry,
} from "../../registry/server/cli.ts";

async function writePackage(
  dir: string,
  pj: Record<string, unknown>,
  files: Record<string, string>,
) {
  await Deno.mkdir(dir, { recursive: true });
  await Deno.writeTextFile(`${dir}/package.json`, JSON.stringify(pj, null, 2));
  for (const [p, text] of Object.entries(files)) {
    await Deno.writeTextFile(`${dir}/${p}`, text);
  }
}

const PROBE = {
  name: "e2e-probe",
  version: "1.0.0",
  description: "An end-to-end probe",
  keywords: ["bpf", "e2e"],
  license: "MIT",
  bin: { "e2e-probe": "./cli.js" },
  bpf: {
    entry: "mod.ts",
    kernel: { btf: true, tracepoints: ["syscalls:sys_enter_execve"] },
    grants: {
      attach: [{ kind: "tracepoint", target: "syscalls:sys_enter_execve" }],
    },
    deno: ["--allow-net=127.0.0.1"],
  },
};

async function scenario(reg: RunningRegistry, full: boolean) {
  const fetcher = (r: Request) => fetch(r);
  const aliceToken = await signup(fetcher, reg.url, "alice");
  const bobToken = await signup(fetcher, reg.url, "bob");
  const alice = await NpmEnv.create(reg.url, aliceToken);
  const bob = await NpmEnv.create(reg.url, bobToken);
  const work = await Deno.makeTempDir({ prefix: "bpfpm-e2e-" });
  try {
    const pkg = `${work}/probe`;
    const files = {
      "mod.ts": "console.log('probe');\n",
      "cli.js": "#!/usr/bin/env node\nconsole.log('hi');\n",
      "README.md": "# e2e-probe\n\nTraces execs.\n",
    };
    await writePackage(pkg, PROBE, files);

    let r = await alice.npm(["whoami"], work);
    assertEquals(r.stdout.trim(), "alice", r.stderr);
    if (full) {
      // The interactive login: web login answers 404, npm falls back to the legacy flow.
      const carol = await NpmEnv.create(reg.url);
      try {
        await signup(fetcher, reg.url, "carol", "carol-password");
        assertEquals(await carol.login("carol", "carol-password"), 0);
        r = await carol.npm(["whoami"], work);
        assertEquals(r.stdout.trim(), "carol", r.stderr);
      } finally {
        await carol.remove();
      }
    }

    r = await alice.npm(["publish"], pkg);
    assertEquals(r.code, 0, `npm publish: ${r.stderr}`);

    r = await alice.npm(["view", "e2e-probe", "--json"], work);
    assertEquals(r.code, 0, r.stderr);
    const view = JSON.parse(r.stdout);
    assertEquals(view.version, "1.0.0");
    assertEquals(view.bpf.grants.attach[0].kind, "tracepoint");
    assertMatch(view.dist.integrity, /^sha512-/);

    await writePackage(pkg, { ...PROBE, version: "1.1.0" }, files);
    r = await alice.npm(["publish"], pkg);
    assertEquals(r.code, 0, `npm publish 1.1.0: ${r.stderr}`);

    r = await alice.npm(["dist-tag", "add", "e2e-probe@1.0.0", "stable"], work);
    assertEquals(r.code, 0, r.stderr);
    r = await alice.npm(["dist-tag", "ls", "e2e-probe"], work);
    assertMatch(r.stdout, /stable: 1\.0\.0/);
    assertMatch(r.stdout, /latest: 1\.1\.0/);

    r = await alice.npm(["deprecate", "e2e-probe@1.0.0", "use 1.1.0"], work);
    assertEquals(r.code, 0, r.stderr);
    r = await alice.npm(["view", "e2e-probe@1.0.0", "deprecated"], work);
    assertEquals(r.stdout.trim(), "use 1.1.0");

    const consumer = `${work}/consumer`;
    await writePackage(consumer, {
      name: "consumer",
      version: "0.0.0",
      private: true,
    }, {});
    r = await alice.npm(["install", "e2e-probe"], consumer);
    assertEquals(r.code, 0, `npm install: ${r.stderr}`);
    const installed = JSON.parse(
      await Deno.readTextFile(
        `${consumer}/node_modules/e2e-probe/package.json`,
      ),
    );
    assertEquals(installed.version, "1.1.0");
    assert(
      await Deno.stat(`${consumer}/node_modules/.bin/e2e-probe`).then(() =>
        true
      ),
    );
    // npm audit signatures consults Sigstore's TUF repository first (unreachable here), so
    // verify the installed version's registry signature the way it does, by hand.
    const lock = JSON.parse(
      await Deno.readTextFile(`${consumer}/package-lock.json`),
    );
    const integrity = lock.packages["node_modules/e2e-probe"].integrity;
    const { keys } = await (await fetch(`${reg.url}/-/npm/v1/keys`)).json();
    const manifest = await (await fetch(`${reg.url}/e2e-probe/1.1.0`)).json();
    assertEquals(manifest.dist.integrity, integrity);
    const [sig] = manifest.dist.signatures;
    assertEquals(sig.keyid, keys[0].keyid);
    const publicKey = createPublicKey({
      key: Buffer.from(keys[0].key, "base64"),
      format: "der",
      type: "spki",
    });
    assert(
      verify(
        "sha256",
        Buffer.from(`e2e-probe@1.1.0:${integrity}`),
        publicKey,
        Buffer.from(sig.sig, "base64"),
      ),
      "registry signature does not verify",
    );

    if (!full) {
      r = await alice.npm(["unpublish", "e2e-probe@1.1.0"], work);
      assertEquals(r.code, 0, `npm unpublish: ${r.stderr}`);
      r = await alice.npm(["view", "e2e-probe", "versions", "--json"], work);
      assertEquals(JSON.parse(r.stdout), ["1.0.0"]);
      return;
    }
    r = await alice.npm(["search", "e2e", "--json"], work);
    assertEquals(JSON.parse(r.stdout)[0].name, "e2e-probe");

    // Another user: refused everywhere.
    await writePackage(pkg, { ...PROBE, version: "9.0.0" }, files);
    const refusals = await Promise.all([
      bob.npm(["publish"], pkg),
      bob.npm(["dist-tag", "add", "e2e-probe@1.0.0", "latest"], work),
      bob.npm(["unpublish", "e2e-probe@1.0.0"], work),
      bob.npm(["deprecate", "e2e-probe@1.1.0", "mine now"], work),
    ]);
    for (
      const [i, what] of ["publish", "dist-tag", "unpublish", "deprecate"]
        .entries()
    ) {
      const x = refusals[i];
      assert(x.code !== 0 && /403/.test(x.stderr), `bob ${what}: ${x.stderr}`);
    }
    r = await alice.npm(["view", "e2e-probe", "--json"], work);
    const after = JSON.parse(r.stdout);
    assertEquals(after["dist-tags"].latest, "1.1.0");
    assertEquals(after.versions, ["1.0.0", "1.1.0"]);

    // A scope belongs to its user.
    const scoped = `${work}/scoped`;
    await writePackage(scoped, { name: "@alice/tool", version: "0.1.0" }, {
      "index.js": "",
    });
    r = await bob.npm(["publish", "--access", "public"], scoped);
    assert(
      r.code !== 0 && /403/.test(r.stderr),
      `bob @alice publish: ${r.stderr}`,
    );
    r = await alice.npm(["publish", "--access", "public"], scoped);
    assertEquals(r.code, 0, `@alice/tool publish: ${r.stderr}`);
    r = await bob.npm(["view", "@alice/tool", "version"], work);
    assertEquals(r.stdout.trim(), "0.1.0");

    // Owners add owners.
    r = await alice.npm(["owner", "add", "bob", "e2e-probe"], work);
    assertEquals(r.code, 0, r.stderr);
    r = await alice.npm(["owner", "ls", "e2e-probe"], work);
    assertMatch(r.stdout, /bob/);

    r = await alice.npm(["unpublish", "e2e-probe@1.1.0"], work);
    assertEquals(r.code, 0, `npm unpublish: ${r.stderr}`);
    r = await alice.npm(["view", "e2e-probe", "versions", "--json"], work);
    assertEquals(JSON.parse(r.stdout), ["1.0.0"]);
    r = await alice.npm(["view", "e2e-probe", "dist-tags.latest"], work);
    assertEquals(r.stdout.trim(), "1.0.0");
    const gone = await fetch(`${reg.url}/e2e-probe/-/e2e-probe-1.1.0.tgz`);
    await gone.body?.cancel();
    assertEquals(gone.status, 404);

    // Logout revokes the token on the server.
    r = await alice.npm(["logout"], work);
    assertEquals(r.code, 0, r.stderr);
    const who = await fetch(`${reg.url}/-/whoami`, {
      headers: { authorization: `Bearer ${aliceToken}` },
    });
    await who.body?.cancel();
    assertEquals(who.status, 401);
  } finally {
    await Deno.remove(work, { recursive: true });
    await alice.remove();
    await bob.remove();
  }
}

// The two backends run at once: most of the time is npm starting up.
Deno.test("npm CLI end to end on SQLite and on PostgreSQL", async () => {
  const dir = await Deno.makeTempDir({ prefix: "bpfpm-reg-" });
  const pg = hasPostgres ? await startPostgres() : null;
  try {
    const onSqlite = (async () => {
      const reg = await startRegistry({ port: 0, db: `${dir}/registry.db` });
      try {
        await scenario(reg, true);
      } finally {
        await reg.close();
      }
    })();
    const onPostgres = (async () => {
      if (!pg) {
        console.log(
          "PostgreSQL is not installed (tests/registry/setup.sh): SQLite only",
        );
        return;
      }
      const reg = await startRegistry({
        port: 0,
        database: await pg.createDatabase("e2e"),
      });
      try {
        await scenario(reg, false);
      } finally {
        await reg.close();
      }
    })();
    const results = await Promise.allSettled([onSqlite, onPostgres]);
    for (const r of results) if (r.status === "rejected") throw r.reason;
  } finally {
    await pg?.stop();
    await Deno.remove(dir, { recursive: true });
  }
});
