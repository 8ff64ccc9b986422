/**
 * Issue 16.5: every expected failure of the real CLI is one line on stderr naming the
 * cause and the fix, with the exit status docs/client.md gives (2 for usage and
 * configuration errors, 1 for the rest). The stalled download and the malformed lockfile
 * are in client_download_test.ts and client_lockfile_test.ts.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { freePort, publishRaw, sandbox } from "../client/_helpers.ts";
import {
  assertOneLineError,
  baseEnv,
  realRegistry,
  runCli,
} from "./_client.ts";

Deno.test("usage and configuration errors: one line naming the argument or setting (and where it was set), exit 2", async (t) => {
  await using s = await sandbox();
  const env = { ...baseEnv(), ...s.env };
  const cases: [string, string[], Record<string, string>, string, RegExp][] = [
    [
      "BPFPM_REGISTRY=foo",
      ["list"],
      { BPFPM_REGISTRY: "foo" },
      "",
      /^bpfpm list: BPFPM_REGISTRY="foo" is not an http\(s\) URL; use http\(s\):\/\/host:port\/$/,
    ],
    [
      "--registry with an ftp URL",
      ["info", "x", "--registry", "ftp://example.org/"],
      {},
      "",
      /^bpfpm info: --registry "ftp:\/\/example\.org\/" is not an http\(s\) URL; use/,
    ],
    [
      "registry=foo in .bpfpmrc",
      ["list"],
      {},
      "# mine\nregistry=foo\n",
      /\.bpfpmrc:2: registry="foo" is not an http\(s\) URL; use/,
    ],
    [
      "a scope's registry that is not a URL",
      ["list"],
      {},
      "@acme:registry=//nope\n",
      /\.bpfpmrc:1: @acme:registry="\/\/nope" is not an http\(s\) URL/,
    ],
    [
      "a line that is not key=value",
      ["list"],
      {},
      "registry http://127.0.0.1:4873/\n",
      /\.bpfpmrc:1: "registry http:\/\/127\.0\.0\.1:4873\/" is not key=value; fix or delete that line$/,
    ],
    [
      "BPFPM_FETCH_TIMEOUT=soon",
      ["list"],
      { BPFPM_FETCH_TIMEOUT: "soon" },
      "",
      /BPFPM_FETCH_TIMEOUT="soon" is not a duration; use milliseconds \(30000\) or/,
    ],
    [
      "fetch-retries=many in .bpfpmrc",
      ["list"],
      {},
      "fetch-retries=many\n",
      /\.bpfpmrc:1: fetch-retries="many" is not a retry count; use a whole number/,
    ],
    [
      "a missing argument",
      ["info"],
      {},
      "",
      /^bpfpm info: info needs a package name$/,
    ],
    [
      "an invalid package name",
      ["install", "Bad Name"],
      {},
      "",
      /^bpfpm install: Package name "Bad Name" is invalid; use lowercase letters/,
    ],
    [
      "an unknown option",
      ["list", "--frobnicate"],
      {},
      "",
      /^Unknown option '--frobnicate'; bpfpm list --help shows the options$/,
    ],
  ];
  for (const [what, args, extra, rc, pattern] of cases) {
    await t.step(what, async () => {
      const rcPath = join(s.project, ".bpfpmrc");
      if (rc) await Deno.writeTextFile(rcPath, rc);
      else await Deno.remove(rcPath).catch(() => {});
      const run = await runCli(args, {
        cwd: s.project,
        env: { ...env, ...extra },
      });
      assertOneLineError(run, 2, pattern);
    });
  }
  await t.step("an rc file that cannot be read", async () => {
    const rcPath = join(s.project, ".bpfpmrc");
    await Deno.remove(rcPath).catch(() => {});
    await Deno.mkdir(rcPath);
    try {
      const run = await runCli(["list"], { cwd: s.project, env });
      assertOneLineError(
        run,
        2,
        /Cannot read the rc file .*\.bpfpmrc \(.*\); make it a readable file or remove it$/,
      );
    } finally {
      await Deno.remove(rcPath);
    }
  });
});

Deno.test("registry failures: one line naming the cause and the fix, exit 1", async (t) => {
  await using reg = await realRegistry();
  await publishRaw(reg.url, reg.token, {
    name: "present",
    version: "1.2.0",
    description: "here",
  });
  await using s = await sandbox(reg.url);
  const env = { ...baseEnv(), ...s.env };
  await t.step(
    "info NAME@RANGE with no match is an error, not NAME@null",
    async () => {
      const run = await runCli(["info", "present@^9"], { cwd: s.project, env });
      assertOneLineError(
        run,
        1,
        /^bpfpm info: No version of present satisfies "\^9" \(available: 1\.2\.0\); choose another range$/,
      );
      assert.doesNotMatch(run.stdout, /null/);
      const tag = await runCli(["info", "present@nosuchtag"], {
        cwd: s.project,
        env,
      });
      assertOneLineError(tag, 1, /No version of present satisfies "nosuchtag"/);
    },
  );
  await t.step("info NAME@RANGE with a match", async () => {
    const run = await runCli(["info", "present@^1"], { cwd: s.project, env });
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, /^present@1\.2\.0: here$/m);
  });
  await t.step("a package that does not exist", async () => {
    const run = await runCli(["info", "absent"], { cwd: s.project, env });
    assertOneLineError(
      run,
      1,
      /^bpfpm info: Package absent was not found at http:\/\/127\.0\.0\.1:\d+.*; check the name/,
    );
  });
  await t.step("search with no hits says so", async () => {
    const run = await runCli(["search", "zzzqqq"], { cwd: s.project, env });
    assert.equal(run.code, 0, run.stderr);
    assert.equal(
      run.stdout.trim(),
      `No packages match "zzzqqq" at ${reg.url}`,
    );
    const hit = await runCli(["search", "present"], { cwd: s.project, env });
    assert.match(hit.stdout, /^present@1\.2\.0 {2}here$/m);
  });
  await t.step("a registry that does not run", async () => {
    const url = `http://127.0.0.1:${freePort()}/`;
    const run = await runCli(["info", "present"], {
      cwd: s.project,
      env: { ...env, BPFPM_REGISTRY: url, BPFPM_FETCH_RETRIES: "1" },
    });
    assertOneLineError(
      run,
      1,
      /^bpfpm info: Cannot reach the registry at http:\/\/127\.0\.0\.1:\d+ \(.*[Cc]onnection refused.*\) \(after 2 attempts\); check that it runs, or set --registry or BPFPM_REGISTRY$/,
    );
  });
});
