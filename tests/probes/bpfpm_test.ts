/**
 * Probes through the client: `bpfpm run ./probes/execsnoop` from a directory, and an install
 * from a registry started in this process (seeded by scripts/seed.ts) then
 * `bpfpm run execsnoop`, each with `--yes` and the manifest's exact grants.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { startRegistry } from "../../registry/server/cli.ts";
import { probeDirs, seed } from "../../scripts/seed.ts";
import { bpfpm, REPO, runCmd, startBpfpm } from "./_helpers.ts";

interface ExecRow {
  pid: number;
  ppid: number;
  comm: string;
  ret: number;
  args: string[];
}

async function execShows(p: ReturnType<typeof startBpfpm>): Promise<void> {
  await p.attached();
  assert.match(
    p.stderr,
    /execsnoop@1\.0\.0 runs with:\n {2}attach tracepoint syscalls:sys_enter_execve: observe kernel events/,
  );
  const ran = await runCmd("/bin/echo", ["through", "bpfpm"]);
  const row = await p.row<ExecRow>((r) => r.pid === ran.pid);
  assert.deepEqual(
    [row.comm, row.ppid, row.ret, row.args],
    ["echo", Deno.pid, 0, ["/bin/echo", "through", "bpfpm"]],
  );
  const status = await p.stop();
  assert.equal(status.code, 0, p.stderr);
  await p.assertUnloaded();
}

Deno.test("bpfpm run ./probes/execsnoop --yes runs the package from its directory", async () => {
  await using p = startBpfpm(
    ["run", "./probes/execsnoop", "--yes", "--", "--json"],
    { cwd: REPO },
  );
  await execShows(p);
});

Deno.test("bpfpm install from a seeded registry, then bpfpm run execsnoop --yes (and every other probe)", async () => {
  const tmp = await Deno.makeTempDir({ prefix: "bpfpm-probes-reg-" });
  const registry = await startRegistry({
    db: join(tmp, "registry.sqlite"),
    quiet: true,
  });
  try {
    const env = {
      ...Deno.env.toObject(),
      BPFPM_REGISTRY: `${registry.url}/`,
      BPFPM_CONFIG_DIR: join(tmp, "config"),
      BPFPM_CACHE_DIR: join(tmp, "cache"),
    };
    const seeded = await seed({
      registry: `${registry.url}/`,
      env,
      only: ["execsnoop"],
      quiet: true,
    });
    assert.deepEqual(seeded, { published: ["execsnoop@1.0.0"], skipped: [] });
    const again = await seed({
      registry: `${registry.url}/`,
      env,
      only: ["execsnoop"],
      quiet: true,
    });
    assert.deepEqual(again, { published: [], skipped: ["execsnoop@1.0.0"] });
    const all = await seed({ registry: `${registry.url}/`, env, quiet: true });
    const names = probeDirs().map((d) => d.split("/").pop()!);
    assert.deepEqual(all.skipped, ["execsnoop@1.0.0"]);
    assert.equal(all.published.length, names.length - 1);
    const project = join(tmp, "project");
    await Deno.mkdir(project);
    const inst = await bpfpm(["install", ...names, "--yes"], {
      cwd: project,
      env,
    });
    assert.equal(inst.code, 0, inst.stderr);
    const installed = JSON.parse(
      await Deno.readTextFile(
        join(project, "bpf_modules", "execsnoop", "package.json"),
      ),
    );
    // publish bundled the entry (and probes/_shared) into one file.
    assert.equal(installed.bpf.entry, "mod.bundle.js");
    await using p = startBpfpm(["run", "execsnoop", "--yes", "--", "--json"], {
      cwd: project,
      env,
    });
    await execShows(p);
    // Every other installed (bundled) probe runs with its grants too.
    assert.deepEqual(
      await shortRuns(names.filter((n) => n !== "execsnoop"), (n) => n, {
        cwd: project,
        env,
      }),
      [],
    );
  } finally {
    await registry.close();
    await Deno.remove(tmp, { recursive: true });
  }
});

/** A short run of each probe: its own way of stopping after about a second. */
const SHORT_RUN: Record<string, string[]> = {
  execsnoop: ["-d", "1"],
  exitsnoop: ["-d", "1"],
  opensnoop: ["-d", "1"],
  statsnoop: ["-d", "1"],
  killsnoop: ["-d", "1"],
  mountsnoop: ["-d", "1"],
  syscount: ["-d", "1"],
  tcplife: ["-d", "1"],
  tcpstates: ["-d", "1"],
  tcpconnect: ["--duration", "1"],
  biolatency: ["1", "1"],
  biosnoop: ["--duration", "1"],
  runqlat: ["1", "1"],
  cpudist: ["1", "1"],
  offcputime: ["1"],
  profile: ["1"],
  bashreadline: ["-d", "1"],
  oomkill: ["-d", "1"],
};

Deno.test("every probe package runs under bpfpm run with exactly its declared grants and Deno flags", async () => {
  const dirs = probeDirs().map((d) => d.split("/").pop()!);
  assert.deepEqual(dirs.sort(), Object.keys(SHORT_RUN).sort());
  assert.deepEqual(
    await shortRuns(dirs, (n) => `./probes/${n}`, { cwd: REPO }),
    [],
  );
});

/** Runs each probe briefly through `bpfpm run`, three at a time; returns the failures. */
async function shortRuns(
  names: string[],
  target: (name: string) => string,
  options: { cwd: string; env?: Record<string, string> },
): Promise<string[]> {
  const failures: string[] = [];
  const queue = [...names];
  await Promise.all([0, 1, 2].map(async () => {
    for (let name = queue.shift(); name; name = queue.shift()) {
      const r = await bpfpm(
        ["run", target(name), "--yes", "--", ...SHORT_RUN[name]],
        options,
      );
      if (r.code !== 0 || !r.stderr.includes("Hit Ctrl-C")) {
        failures.push(`${name}: exit ${r.code}\n${r.stderr.slice(-1500)}`);
      }
    }
  }));
  return failures;
}
