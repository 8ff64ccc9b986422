import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { loadConfig } from "../../registry/client/config.ts";
import { planRun } from "../../registry/client/run.ts";
import { bpfpm, sandbox } from "./_helpers.ts";

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

Deno.test("run: the package gets its declared flags and nothing more, as nobody; grants stay on the trusted side", async () => {
  await using s = await sandbox();
  await Deno.chmod(s.root, 0o755);
  const dir = await probeDir(
    s.root,
    `const tryIt = (f) => { try { f(); return "allowed"; } catch (e) { return e.name; } };
console.log(JSON.stringify({
  setGrants: tryIt(() => Deno.env.set("BPFPM_GRANTS", JSON.stringify({ helpers: ["send_signal"] }))),
  write: tryIt(() => Deno.writeTextFileSync("/tmp/bpfpm-run-test-denied", "x")),
  hostname: tryIt(() => Deno.readTextFileSync("/etc/hostname")),
  passwd: tryIt(() => Deno.readTextFileSync("/etc/passwd")),
  run: tryIt(() => new Deno.Command("/bin/true").outputSync()),
  ffi: tryIt(() => Deno.dlopen("libc.so.6", {})),
  uid: Deno.uid(),
  args: Deno.args,
}));
`,
    ["--allow-read=/etc/hostname", "--allow-sys=uid"],
  );
  const plan = await planRun(loadConfig({ cwd: s.project, env: s.env }), dir);
  assert.deepEqual(plan.bpf.grants, grants);
  assert.deepEqual(plan.bpf.deno, [
    "--allow-read=/etc/hostname",
    "--allow-sys=uid",
  ]);
  assert.equal(plan.files, undefined);
  const r = await bpfpm(["run", dir, "--yes", "--", "x", "--y"], {
    cwd: s.project,
    env: s.env,
  });
  assert.equal(r.code, 0, r.stderr);
  const out = JSON.parse(r.stdout.trim().split("\n").pop()!);
  assert.deepEqual(out, {
    setGrants: "NotCapable",
    write: "NotCapable",
    hostname: "allowed",
    passwd: "NotCapable",
    run: "NotCapable",
    ffi: "NotCapable",
    uid: 65534,
    args: ["x", "--y"],
  });
  assert.equal(existsSync("/tmp/bpfpm-run-test-denied"), false);
  assert.match(
    r.stderr,
    /local-probe@0\.0\.1 runs with:\n {2}attach tracepoint sched:sched_switch: observe kernel events \(sched:sched_switch\)\n {2}map memory 1MiB: hold up to this much kernel memory in maps\n {2}deno --allow-read=\/etc\/hostname: read these files: \/etc\/hostname/,
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
  assert.match(
    bad.stderr,
    /invalid bpf manifest: bpf\.deno\[0\]: "--allow-all" gives the package native code/,
  );
  const exits = await probeDir(join(s.root, "x"), "Deno.exit(3);", []);
  const three = await bpfpm(["run", exits, "--yes"], {
    cwd: s.project,
    env: s.env,
  });
  assert.equal(three.code, 3);
});
