/**
 * The trusted side's own counters of a sandboxed package's event readers (what an agent
 * reports as events and drops), checked against records the test makes.
 */
import assert from "node:assert/strict";
import { runSandboxed } from "../../runtime/sandbox/host.ts";
import type { SandboxSession } from "../../runtime/sandbox/server.ts";
import { hostilePackage, world } from "./_helpers.ts";

Deno.test("eventStats counts the records a sandboxed package read", async () => {
  await using w = await world();
  const dir = await hostilePackage(
    w.root,
    "counted",
    `import { BPF } from "bpf";
using b = await BPF.load({ text: \`BPF_RINGBUF_OUTPUT(events, 8);
TRACEPOINT_PROBE(syscalls, sys_enter_getppid) {
  u32 pid = bpf_get_current_pid_tgid() >> 32;
  if (pid != TARGET) return 0;
  events.ringbuf_output(&pid, sizeof(pid), 0);
  return 0;
}\`, cflags: ["-DTARGET=" + Deno.args[0]] });
const r = b.ringbuf("events");
let n = 0;
for (let i = 0; i < 20 && n < 100; i++) n += (await r.read(1000)).length;
console.log(n);`,
  );
  // A child that calls getppid 100 times once the package is ready.
  const pinger = new Deno.Command("python3", {
    args: [
      "-c",
      "import os,sys; sys.stdin.read(1); [os.getppid() for _ in range(100)]",
    ],
    stdin: "piped",
  }).spawn();
  let session: SandboxSession | undefined;
  const writer = pinger.stdin.getWriter();
  const result = await runSandboxed({
    spec: "counted@1.0.0",
    name: "counted",
    packageDir: dir,
    entry: "mod.ts",
    args: [String(pinger.pid)],
    grants: { attach: [{ kind: "tracepoint", target: "syscalls:*" }] },
    deno: [],
    stdio: "piped",
    onSession: (s) => session = s,
    onObject: () => {
      writer.write(new Uint8Array([10])).catch(() => {});
    },
  });
  try {
    pinger.kill("SIGKILL");
  } catch { /* it finished */ }
  await pinger.status;
  await writer.close().catch(() => {});
  assert.equal(result.code, 0);
  assert.ok(session);
  const stats = session.eventStats();
  assert.equal(stats.records, 100);
  assert.equal(stats.lost, 0);
});
