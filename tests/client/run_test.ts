import assert from "node:assert/strict";
import { join } from "node:path";
import { loadConfig } from "../../registry/client/config.ts";
import {
  GRANTS_PRELOAD,
  planRun,
  RUNTIME_CONFIG,
} from "../../registry/client/run.ts";
import { bpfpm, REPO, sandbox } from "./_helpers.ts";

const grants = {
  attach: [{ kind: "tracepoint", target: "sched:sched_switch" }],
  mapMemory: "1MiB",
};

async function probeDir(root: string, entry: string, deno: string[]) {
  const dir = join(root, "probe");
  await Deno.mkdir(dir, { recursive: true });
  await Deno.writeTextFile(
    join(dir, "package.json"),
    JSON.stringify({
      name: "local-probe",
      version: "0.0.1",
      bpf: { entry: "main.ts", grants, deno },
    }),
  );
  await Deno.writeTextFile(join(dir, "main.ts"), entry);
  return dir;
}

Deno.test("run: exact flags, grants preloaded before the script can touch them, nothing widened", async () => {
  await using s = await sandbox();
  const effective =
    new URL("runtime/policy/effective.ts", "file://" + REPO).href;
  const dir = await probeDir(
    s.root,
    `Deno.env.set("BPFPM_GRANTS", JSON.stringify({ helpers: ["send_signal"] }));
const { grantsFromEnvironment } = await import(${JSON.stringify(effective)});
const write = await Deno.writeTextFile("/tmp/bpfpm-run-test-denied", "x").then(() => "allowed", (e) => e.name);
console.log(JSON.stringify({ ceiling: grantsFromEnvironment(), write, args: Deno.args }));
`,
    ["--allow-ffi", "--allow-read=/etc/hostname"],
  );
  const plan = planRun(loadConfig({ cwd: s.project, env: s.env }), dir, ["a"]);
  assert.deepEqual(plan.argv, [
    "run",
    "--no-prompt",
    "--allow-ffi",
    "--allow-read=/etc/hostname",
    "--allow-env=BPFPM_GRANTS",
    "--config",
    RUNTIME_CONFIG,
    "--preload",
    GRANTS_PRELOAD,
    join(dir, "main.ts"),
    "a",
  ]);
  assert.deepEqual(JSON.parse(plan.env.BPFPM_GRANTS), grants);
  const r = await bpfpm(["run", dir, "--yes", "--", "x", "--y"], {
    cwd: s.project,
    env: s.env,
  });
  assert.equal(r.code, 0, r.stderr);
  const out = JSON.parse(r.stdout.trim().split("\n").pop()!);
  assert.deepEqual(out.ceiling, grants);
  assert.equal(out.write, "NotCapable");
  assert.deepEqual(out.args, ["x", "--y"]);
  assert.match(
    r.stderr,
    /local-probe@0\.0\.1 runs with:\n {2}attach tracepoint sched:sched_switch\n {2}map memory 1MiB/,
  );
});

Deno.test("run: refuses what is not a valid probe, and reports the exit status", async () => {
  await using s = await sandbox();
  const missing = await bpfpm(["run", "tcplife", "--yes"], {
    cwd: s.project,
    env: s.env,
  });
  assert.equal(missing.code, 1);
  assert.match(
    missing.stderr,
    /tcplife is not installed in .*; run bpfpm install tcplife first/,
  );
  const widen = await probeDir(s.root, "Deno.exit(3);", ["--allow-all"]);
  const bad = await bpfpm(["run", widen, "--yes"], {
    cwd: s.project,
    env: s.env,
  });
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /invalid bpf manifest: bpf\.deno\[0\]/);
  const exits = await probeDir(join(s.root, "x"), "Deno.exit(3);", []);
  const three = await bpfpm(["run", exits, "--yes"], {
    cwd: s.project,
    env: s.env,
  });
  assert.equal(three.code, 3);
});
