import assert from "node:assert/strict";
import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { createTarball } from "../../registry/pack/mod.ts";
import { fakeRegistry } from "./_fake_registry.ts";
import { bpfpm, CLI_ARGV, sandbox, snapshot } from "./_helpers.ts";

Deno.test("an install killed mid-download leaves the previous state intact", async () => {
  const v1 = await createTarball({
    "package.json": JSON.stringify({ name: "tool", version: "1.0.0" }),
    "index.js": "v1",
  });
  const big = "x".repeat(4096);
  const v2 = await createTarball({
    "package.json": JSON.stringify({ name: "tool", version: "2.0.0" }),
    "index.js": "v2",
    "big.txt": big,
  });
  {
    await using fast = await fakeRegistry([{
      name: "tool",
      version: "1.0.0",
      tarball: v1,
    }]);
    await using s = await sandbox(fast.url);
    const r1 = await bpfpm(["install", "tool@1.0.0", "--yes"], {
      cwd: s.project,
      env: s.env,
    });
    assert.equal(r1.code, 0, r1.stderr);
    const before = await snapshot(s.project);
    assert.equal(before["bpf_modules/tool/index.js"], "v1");

    await using slow = await fakeRegistry([
      { name: "tool", version: "1.0.0", tarball: v1 },
      { name: "tool", version: "2.0.0", tarball: v2 },
    ], { tarballDelayMs: 40 });
    const child = new Deno.Command(CLI_ARGV[0], {
      args: [
        ...CLI_ARGV.slice(1),
        "install",
        "tool@2.0.0",
        "--yes",
        "--registry",
        slow.url,
      ],
      cwd: s.project,
      env: s.env,
      stdout: "null",
      stderr: "null",
    }).spawn();
    await slow.tarballRequested;
    await new Promise((r) => setTimeout(r, 150));
    child.kill("SIGKILL");
    const status = await child.status;
    assert.equal(status.signal, "SIGKILL");
    assert.deepEqual(await snapshot(s.project), before);

    // The next install completes and removes what the killed one left behind.
    const r2 = await bpfpm([
      "install",
      "tool@2.0.0",
      "--yes",
      "--registry",
      slow.url,
    ], { cwd: s.project, env: s.env });
    assert.equal(r2.code, 0, r2.stderr);
    const after = await snapshot(s.project);
    assert.equal(after["bpf_modules/tool/index.js"], "v2");
    assert.equal(after["bpf_modules/tool/big.txt"], big);
    assert.equal(
      JSON.parse(after["bpfpm.lock"]).packages["bpf_modules/tool"].version,
      "2.0.0",
    );
    assert.equal(readdirSync(join(s.project, ".bpfpm", "trees")).length, 1);
    assert.ok(!existsSync(join(s.project, "bpfpm.lock.tmp")));
  }
});

Deno.test("kills at any point leave either the whole old or the whole new install", async () => {
  const versions = [];
  for (const v of ["1.0.0", "2.0.0"]) {
    for (let i = 0; i < 6; i++) {
      const files: Record<string, string> = {
        "package.json": JSON.stringify({ name: `p${i}`, version: v }),
      };
      for (let f = 0; f < 40; f++) files[`lib/f${f}.js`] = `${v}:${f}`;
      versions.push({
        name: `p${i}`,
        version: v,
        tarball: await createTarball(files),
      });
    }
  }
  await using reg = await fakeRegistry(versions);
  await using s = await sandbox(reg.url);
  const names = Array.from({ length: 6 }, (_, i) => `p${i}`);
  const t0 = performance.now();
  const r1 = await bpfpm([
    "install",
    ...names.map((n) => `${n}@1.0.0`),
    "--yes",
  ], { cwd: s.project, env: s.env });
  assert.equal(r1.code, 0, r1.stderr);
  const seen = new Set<string>();
  // Kill points spread over one install's duration, from start-up to the end.
  const took = performance.now() - t0;
  for (const f of [0.3, 0.5, 0.65, 0.8, 0.95, 1.1]) {
    const delay = Math.round(f * took);
    const target = seen.has("2.0.0") ? "1.0.0" : "2.0.0";
    const child = new Deno.Command(CLI_ARGV[0], {
      args: [
        ...CLI_ARGV.slice(1),
        "install",
        ...names.map((n) => `${n}@${target}`),
        "--yes",
      ],
      cwd: s.project,
      env: s.env,
      stdout: "null",
      stderr: "null",
    }).spawn();
    await new Promise((r) => setTimeout(r, delay));
    try {
      child.kill("SIGKILL");
    } catch { /* it finished first */ }
    await child.status;
    const list = await bpfpm(["list", "--json"], {
      cwd: s.project,
      env: s.env,
    });
    assert.equal(list.code, 0, list.stderr);
    const installed = JSON.parse(list.stdout) as {
      name: string;
      version: string;
    }[];
    const lockVersions = new Set(installed.map((p) => p.version));
    assert.equal(
      lockVersions.size,
      1,
      `mixed versions after a kill at ${delay} ms: ${list.stdout}`,
    );
    const [version] = lockVersions;
    seen.add(version);
    const snap = await snapshot(s.project);
    const deps = JSON.parse(snap["package.json"]).dependencies;
    for (const n of names) {
      assert.equal(
        deps[n],
        version,
        `package.json after a kill at ${delay} ms`,
      );
      for (let f = 0; f < 40; f++) {
        assert.equal(snap[`bpf_modules/${n}/lib/f${f}.js`], `${version}:${f}`);
      }
    }
  }
});

Deno.test("a death after the tree switch is rolled forward; one before it is discarded", async () => {
  const { newTree, recoverProject, swapTree, writeJournal } = await import(
    "../../registry/client/project.ts"
  );
  const { readLockfile, writeLockfile } = await import(
    "../../registry/client/lockfile.ts"
  );
  await using s = await sandbox();
  const dir = s.project;
  await Deno.writeTextFile(
    join(dir, "package.json"),
    JSON.stringify({ dependencies: { a: "^1" } }),
  );
  const oldLock = {
    lockfileVersion: 1 as const,
    root: { dependencies: { a: "^1" } },
    packages: {},
  };
  writeLockfile(dir, oldLock);
  const first = newTree(dir);
  swapTree(dir, first);
  const newLock = {
    lockfileVersion: 1 as const,
    root: { dependencies: { a: "^1", b: "^2" } },
    packages: {},
  };

  // Journal written, switch never happened: nothing changes and the journal goes.
  const unswitched = newTree(dir);
  writeJournal(dir, {
    tree: unswitched.split("/").pop()!,
    lock: newLock,
    dependencies: { a: "^1", b: "^2" },
  });
  assert.equal(recoverProject(dir), false);
  assert.deepEqual(readLockfile(dir), oldLock);
  assert.ok(!existsSync(join(dir, ".bpfpm", "pending.json")));

  // Journal written and switched, then death: the lockfile and package.json roll forward.
  const switched = newTree(dir);
  writeJournal(dir, {
    tree: switched.split("/").pop()!,
    lock: newLock,
    dependencies: { a: "^1", b: "^2" },
  });
  swapTree(dir, switched);
  assert.equal(recoverProject(dir), true);
  assert.deepEqual(readLockfile(dir), newLock);
  assert.deepEqual(
    JSON.parse(await Deno.readTextFile(join(dir, "package.json"))).dependencies,
    { a: "^1", b: "^2" },
  );
  assert.ok(!existsSync(join(dir, ".bpfpm", "pending.json")));
  assert.deepEqual(readdirSync(join(dir, ".bpfpm", "trees")), [
    switched.split("/").pop(),
  ]);
});

Deno.test("a second install waits its turn; a lock left by a dead process is taken over", async () => {
  const tgz = await createTarball({
    "package.json": JSON.stringify({ name: "tool", version: "1.0.0" }),
  });
  await using reg = await fakeRegistry([{
    name: "tool",
    version: "1.0.0",
    tarball: tgz,
  }]);
  await using s = await sandbox(reg.url);
  const sleeper = new Deno.Command("sleep", { args: ["30"] }).spawn();
  try {
    await Deno.mkdir(join(s.project, ".bpfpm"), { recursive: true });
    await Deno.writeTextFile(
      join(s.project, ".bpfpm", "install.lock"),
      String(sleeper.pid),
    );
    const busy = await bpfpm(["install", "tool", "--yes"], {
      cwd: s.project,
      env: s.env,
    });
    assert.equal(busy.code, 1);
    assert.match(
      busy.stderr,
      new RegExp(`Another bpfpm install \\(pid ${sleeper.pid}\\) is running`),
    );
    assert.ok(!existsSync(join(s.project, "bpf_modules")));
  } finally {
    sleeper.kill("SIGKILL");
    await sleeper.status;
  }
  const ok = await bpfpm(["install", "tool", "--yes"], {
    cwd: s.project,
    env: s.env,
  });
  assert.equal(ok.code, 0, ok.stderr);
  assert.ok(!existsSync(join(s.project, ".bpfpm", "install.lock")));
});

Deno.test("staging trees made back to back, in the same millisecond, are never the same directory", async () => {
  const { newTree } = await import("../../registry/client/project.ts");
  await using s = await sandbox();
  const made = new Set<string>();
  for (let i = 0; i < 200; i++) made.add(newTree(s.project));
  assert.equal(made.size, 200);
  assert.equal(readdirSync(join(s.project, ".bpfpm", "trees")).length, 200);
});
