/**
 * Issue 14.10: a malformed lockfile and a tarball whose entries clash on disk. Each gives
 * one line on stderr naming the file and the fix, exit 1, and installs nothing.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { join } from "node:path";
import { writeEntries } from "../../registry/client/cache.ts";
import { ClientError } from "../../registry/client/errors.ts";
import { publishRaw, sandbox } from "../client/_helpers.ts";
import { gzip, pjEntry, rawTar } from "../registry/_hostile.ts";
import {
  assertOneLineError,
  baseEnv,
  packumentFor,
  rawServer,
  realRegistry,
  runCli,
  writeAll,
  writeHead,
} from "./_client.ts";

type Entry = Record<string, unknown>;

const CASES: [string, (e: Entry) => void, RegExp][] = [
  ["no integrity", (e) => delete e.integrity, /integrity/],
  ["a sha1 integrity", (e) => e.integrity = "sha1-AAAA", /integrity/],
  ["a number for integrity", (e) => e.integrity = 42, /integrity/],
  ["no resolved URL", (e) => delete e.resolved, /resolved/],
  [
    "a file: resolved URL",
    (e) => e.resolved = "file:///etc/passwd",
    /resolved/,
  ],
  ["no version", (e) => delete e.version, /version/],
  ["dependencies as a string", (e) => e.dependencies = "lkdep", /dependencies/],
  ["bpf as an array", (e) => e.bpf = [], /bpf/],
  [
    "grants.attach a number",
    (e) => e.bpf = { grants: { attach: 5 } },
    /invalid bpf manifest \(bpf\.grants\.attach must be/,
  ],
  ["an entry that is not a path", (e) => e.bpf = { entry: 5 }, /bpf\.entry/],
  ["deno flags as a string", (e) => e.bpf = { deno: "-A" }, /bpf\.deno/],
];

Deno.test("a malformed lockfile entry is one line naming bpfpm.lock and the fix", async (t) => {
  await using reg = await realRegistry();
  await publishRaw(reg.url, reg.token, { name: "lkdep", version: "1.0.0" });
  await publishRaw(reg.url, reg.token, {
    name: "lk",
    version: "1.0.0",
    dependencies: { lkdep: "^1" },
  });
  await using s = await sandbox(reg.url);
  const env = { ...baseEnv(), ...s.env };
  const first = await runCli(["install", "lk", "--yes"], {
    cwd: s.project,
    env,
  });
  assert.equal(first.code, 0, first.stderr);
  const lockPath = join(s.project, "bpfpm.lock");
  const good = await Deno.readTextFile(lockPath);
  for (const [what, mutate, field] of CASES) {
    await t.step(what, async () => {
      const lock = JSON.parse(good);
      mutate(lock.packages["bpf_modules/lkdep"]);
      await Deno.writeTextFile(lockPath, JSON.stringify(lock));
      for (const cmd of [["install"], ["list"]]) {
        const run = await runCli(cmd, { cwd: s.project, env });
        assertOneLineError(run, 1, /bpfpm\.lock/);
        assert.match(run.stderr, /"bpf_modules\/lkdep"/);
        assert.match(run.stderr, field);
        assert.match(run.stderr, /delete it and run bpfpm install/);
      }
    });
  }
  await t.step("a lockfile that is not an object of entries", async () => {
    for (
      const text of ["[]", '{"lockfileVersion":1,"root":{},"packages":[]}']
    ) {
      await Deno.writeTextFile(lockPath, text);
      const run = await runCli(["list"], { cwd: s.project, env });
      assertOneLineError(
        run,
        1,
        /bpfpm\.lock .*delete it and run bpfpm install/,
      );
    }
  });
});

Deno.test("a tarball whose entries clash (file x and file x/y) fails in one line, nothing installed", async (t) => {
  for (
    const [what, second] of [
      ["x/y under the file x", { name: "package/x/y", data: "2" }],
      ["a directory x/ over the file x", {
        name: "package/x/",
        type: "directory" as const,
      }],
    ] as const
  ) {
    await t.step(what, async () => {
      const tgz = await gzip(
        await rawTar([
          pjEntry("clash", "1.0.0"),
          { name: "package/x", data: "1" },
          second,
        ]),
      );
      const integrity = "sha512-" +
        createHash("sha512").update(tgz).digest("base64");
      await using server = rawServer(async (path, conn, url) => {
        const body = path === "/clash"
          ? new TextEncoder().encode(
            packumentFor("clash", `${url}clash/-/clash-1.0.0.tgz`, integrity),
          )
          : tgz;
        await writeHead(conn, 200, { "content-length": body.length });
        await writeAll(conn, body);
      });
      await using s = await sandbox(server.url);
      const run = await runCli(["install", "clash", "--yes"], {
        cwd: s.project,
        env: { ...baseEnv(), ...s.env },
      });
      assertOneLineError(run, 1, /clash@1\.0\.0.*package\/x\b/);
      await assert.rejects(Deno.stat(join(s.project, "bpf_modules")));
      await assert.rejects(Deno.stat(join(s.project, "bpfpm.lock")));
    });
  }
});

Deno.test("extraction itself refuses clashing entries that got past the tarball check", async () => {
  const root = await Deno.makeTempDir({ prefix: "bpfpm-clash-" });
  try {
    for (
      const second of [
        { path: "package/x/y", type: "file" as const },
        { path: "package/x", type: "file" as const },
        { path: "package/x", type: "directory" as const },
      ]
    ) {
      const dir = join(root, crypto.randomUUID());
      assert.throws(
        () =>
          writeEntries([
            {
              path: "package/x",
              size: 1,
              mode: 0o644,
              type: "file",
              data: new Uint8Array([49]),
            },
            { ...second, size: 0, mode: 0o644, data: new Uint8Array() },
          ], dir),
        (e: Error) =>
          e instanceof ClientError && e.code === "EEXTRACT" &&
          /^Entry "package\/x(\/y)?" clashes on disk with another entry \(E[A-Z]+\)/
            .test(e.message) &&
          !e.message.includes("\n"),
      );
    }
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});
