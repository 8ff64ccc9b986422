/**
 * Probes through the client: `bpfpm run ./probes/execsnoop` from a directory, and an install
 * from a registry started in this process (seeded by scripts/seed.ts) then
 * `bpfpm run execsnoop`, each with `--yes` and the manifest's exact grants.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { startRegistry } from "../../registry/server/cli.ts";
import { seed } from "../../scripts/seed.ts";
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
    /execsnoop@1\.0\.0 runs with:\n {2}attach tracepoint syscalls:sys_enter_execve\n/,
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

Deno.test("bpfpm install execsnoop from a seeded registry, then bpfpm run execsnoop --yes", async () => {
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
    const project = join(tmp, "project");
    await Deno.mkdir(project);
    const inst = await bpfpm(["install", "execsnoop", "--yes"], {
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
  } finally {
    await registry.close();
    await Deno.remove(tmp, { recursive: true });
  }
});
