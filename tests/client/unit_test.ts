import assert from "node:assert/strict";
import { join } from "node:path";
import {
  loadConfig,
  nerfDart,
  parseRc,
  tokenFor,
} from "../../registry/client/config.ts";
import { diffGrants, grantLines } from "../../registry/client/grants.ts";
import { ConfigError } from "../../registry/client/errors.ts";
import { stableStringify } from "../../registry/common/stable_json.ts";
import { globToRegExp, selectFiles } from "../../registry/client/publish.ts";
import { trustedKeys } from "../../registry/client/signatures.ts";
import { bpfpm, sandbox } from "./_helpers.ts";

Deno.test("rc files: env expansion, comments, precedence, and path-bound tokens", async () => {
  const rc = parseRc(
    '# c\n; c\nregistry = http://a:1/\n//a:1/:_authToken=${T}\n@x:registry="http://b:2/p/"\n',
    {
      T: "tok",
    },
  );
  assert.equal(rc.get("registry"), "http://a:1/");
  assert.equal(rc.get("//a:1/:_authToken"), "tok");
  assert.equal(rc.get("@x:registry"), "http://b:2/p/");
  assert.equal(nerfDart("http://b:2/p/pkg"), "//b:2/p/");
  await using s = await sandbox();
  await Deno.mkdir(s.config, { recursive: true });
  await Deno.writeTextFile(
    join(s.config, "bpfpmrc"),
    "registry=http://user:1/\n//b:2/p/:_authToken=deep\n//b:2/:_authToken=shallow\n",
  );
  await Deno.writeTextFile(
    join(s.project, ".bpfpmrc"),
    "registry=http://project:1/\n",
  );
  const env = { ...s.env };
  assert.equal(
    loadConfig({ cwd: s.project, env }).registry,
    "http://project:1/",
  );
  assert.equal(
    loadConfig({
      cwd: s.project,
      env: { ...env, BPFPM_REGISTRY: "http://env:1" },
    }).registry,
    "http://env:1/",
  );
  const flagged = loadConfig({
    cwd: s.project,
    env: { ...env, BPFPM_REGISTRY: "http://env:1" },
    registry: "http://flag:1/",
  });
  assert.equal(flagged.registry, "http://flag:1/");
  const c = loadConfig({ cwd: s.project, env });
  assert.equal(tokenFor(c, "http://b:2/p/x"), "deep");
  assert.equal(tokenFor(c, "http://b:2/q/x"), "shallow");
  assert.equal(tokenFor(c, "http://b:3/p/x"), undefined);
  assert.equal(tokenFor(c, "https://evil.example/b:2/p/x"), undefined);
  assert.throws(
    () => loadConfig({ cwd: s.project, env, registry: "ftp://x/" }),
    (e: Error) =>
      e instanceof ConfigError &&
      /^--registry "ftp:\/\/x\/" is not an http\(s\) URL; use/.test(e.message),
  );
});

Deno.test("grants: lines, diffs, and the exact Deno flags run uses", () => {
  const v1 = {
    grants: {
      attach: [{ kind: "tracepoint" as const, target: "sched:*" }],
      mapMemory: "1MiB",
    },
    deno: ["--allow-ffi"],
  };
  const v2 = {
    grants: {
      attach: [{ kind: "tracepoint" as const, target: "sched:*" }],
      helpers: ["send_signal" as const],
    },
    deno: ["--allow-ffi", "--allow-net=127.0.0.1"],
  };
  assert.deepEqual(grantLines(v1), [
    "attach tracepoint sched:*",
    "map memory 1MiB",
    "deno --allow-ffi",
  ]);
  assert.deepEqual(diffGrants(v1, v2), {
    added: ["helper send_signal", "deno --allow-net=127.0.0.1"],
    removed: ["map memory 1MiB"],
  });
});

Deno.test("lockfile JSON is byte-stable regardless of key order", () => {
  assert.equal(
    stableStringify({ b: 1, a: { d: [2, { z: 1, y: 2 }], c: undefined } }),
    stableStringify({ a: { d: [2, { y: 2, z: 1 }] }, b: 1 }),
  );
  assert.equal(stableStringify({ b: 1, a: 2 }), '{\n  "a": 2,\n  "b": 1\n}\n');
});

Deno.test("pack file selection: files globs, ignore files, and what is always in or out", async () => {
  assert.ok(globToRegExp("lib/").test("lib/a/b.js"));
  assert.ok(globToRegExp("*.c").test("src/x.c"));
  assert.ok(!globToRegExp("/*.c").test("src/x.c"));
  assert.ok(globToRegExp("src/**/*.ts").test("src/a/b/c.ts"));
  assert.ok(!globToRegExp("*.c", { anchored: true }).test("src/x.c"));
  assert.ok(globToRegExp("lib", { anchored: true }).test("lib/a.ts"));
  assert.ok(!globToRegExp("lib", { anchored: true }).test("src/lib/a.ts"));
  await using s = await sandbox();
  const d = s.project;
  for (
    const f of [
      "mod.ts",
      "lib/a.ts",
      "x.bpf.c",
      "notes.txt",
      "README.md",
      "node_modules/q/i.js",
      ".git/HEAD",
      "bpfpm.lock",
    ]
  ) {
    await Deno.mkdir(join(d, f, ".."), { recursive: true });
    await Deno.writeTextFile(join(d, f), f);
  }
  await Deno.writeTextFile(
    join(d, "package.json"),
    JSON.stringify({
      name: "p",
      version: "1.0.0",
      files: ["mod.ts", "lib", "*.c"],
    }),
  );
  assert.deepEqual(selectFiles(d), [
    "README.md",
    "lib/a.ts",
    "mod.ts",
    "package.json",
    "x.bpf.c",
  ]);
  await Deno.writeTextFile(
    join(d, "package.json"),
    JSON.stringify({ name: "p", version: "1.0.0" }),
  );
  await Deno.writeTextFile(join(d, ".npmignore"), "*.txt\nlib/\n");
  assert.deepEqual(selectFiles(d), [
    ".npmignore",
    "README.md",
    "mod.ts",
    "package.json",
    "x.bpf.c",
  ]);
});

Deno.test("bpfpm trust adds, lists and removes publisher keys", async () => {
  await using s = await sandbox();
  const cli = (args: string[]) => bpfpm(args, { cwd: s.project, env: s.env });
  const id = "ed25519:0123456789abcdef0123456789abcdef";
  assert.equal((await cli(["trust", id])).code, 0);
  assert.equal((await cli(["trust"])).stdout, `trusted: ${id}\n`);
  assert.deepEqual([...trustedKeys(s.config)], [id]);
  const bad = await cli(["trust", "rsa:1"]);
  assert.equal(bad.code, 2); // a bad argument: a usage error
  assert.match(bad.stderr, /"rsa:1" is not a publisher key id/);
  assert.equal((await cli(["trust", "--remove", id])).code, 0);
  assert.equal((await cli(["trust"])).stdout, "");
});
