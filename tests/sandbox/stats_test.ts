/**
 * The trusted side's own counters of a sandboxed package's event readers (what an agent
 * reports as events and drops), checked against records the test makes.
 */
import assert from "node:assert/strict";
import { runSandboxed } from "../../runtime/sandbox/host.ts";
import type { SandboxSession } from "../../runtime/sandbox/server.ts";
import { hostilePackage, world } from "./_helpers.ts";

/** A ring buffer program sending `RECORD` (a C expression) for each getppid of `TARGET`. */
function ringbufPackage(
  root: string,
  name: string,
  record: string,
  code: string,
) {
  return hostilePackage(
    root,
    name,
    `import { BPF } from "bpf";
using b = await BPF.load({ text: \`BPF_RINGBUF_OUTPUT(events, 8);
TRACEPOINT_PROBE(syscalls, sys_enter_getppid) {
  u32 pid = bpf_get_current_pid_tgid() >> 32;
  if (pid != TARGET) return 0;
  ${record};
  events.ringbuf_output(&rec, sizeof(rec), 0);
  return 0;
}\`, cflags: ["-DTARGET=" + Deno.args[0]] });
const r = b.ringbuf("events");
${code}`,
  );
}

/**
 * Runs a package (its pid argument: a python child that runs `python` once the package's
 * object is loaded) and returns how it ended, its session and its stdout.
 */
async function runWithPinger(dir: string, name: string, python: string) {
  const pinger = new Deno.Command("python3", {
    args: ["-c", `import os,sys,time; sys.stdin.read(1)\n${python}`],
    stdin: "piped",
  }).spawn();
  let session: SandboxSession | undefined;
  const out: Uint8Array[] = [];
  const writer = pinger.stdin.getWriter();
  const result = await runSandboxed({
    spec: `${name}@1.0.0`,
    name,
    packageDir: dir,
    entry: "mod.ts",
    args: [String(pinger.pid)],
    grants: { attach: [{ kind: "tracepoint", target: "syscalls:*" }] },
    deno: [],
    stdio: "piped",
    onSession: (s) => session = s,
    onStart: (child) => {
      child.stdout.pipeTo(
        new WritableStream({ write: (c) => void out.push(c) }),
      ).catch(() => {});
    },
    onObject: () => {
      writer.write(new Uint8Array([10])).catch(() => {});
    },
  });
  try {
    pinger.kill("SIGKILL");
  } catch { /* it finished */ }
  await pinger.status;
  await writer.close().catch(() => {});
  assert.ok(session);
  const stdout = new TextDecoder().decode(
    new Uint8Array(out.flatMap((c) => [...c])),
  );
  return { result, session, stdout };
}

Deno.test("eventStats counts the records a sandboxed package read", async () => {
  await using w = await world();
  const dir = await ringbufPackage(
    w.root,
    "counted",
    "u32 rec = pid",
    `let n = 0;
for (let i = 0; i < 20 && n < 100; i++) n += (await r.read(1000)).length;
console.log(n);`,
  );
  // getppid 100 times once the package is ready.
  const { result, session } = await runWithPinger(
    dir,
    "counted",
    "[os.getppid() for _ in range(100)]",
  );
  assert.equal(result.code, 0);
  const stats = session.eventStats();
  assert.equal(stats.records, 100);
  assert.equal(stats.lost, 0);
});

Deno.test("a sandboxed reader gets every record in order whether it polls, waits with a timeout or iterates (batches drained ahead of it)", async () => {
  await using w = await world();
  const dir = await ringbufPackage(
    w.root,
    "polled",
    "u64 rec = bpf_ktime_get_ns()",
    `const times = [];
const deadline = Date.now() + 10_000;
const as = (recs) => recs.map((x) => new DataView(x.buffer, x.byteOffset).getBigUint64(0, true));
// 100 records by polling, 100 by waits with a timeout, 100 by iterating.
while (times.length < 100 && Date.now() < deadline) {
  times.push(...as(await r.read(0)));
  await new Promise((ok) => setTimeout(ok, 2));
}
while (times.length < 200 && Date.now() < deadline) times.push(...as(await r.read(50)));
for await (const x of r) {
  times.push(...as([x]));
  if (times.length >= 300 || Date.now() > deadline) break;
}
const ordered = times.every((t, i) => i === 0 || times[i - 1] <= t);
console.log(JSON.stringify({ n: times.length, ordered, closed: r.closed }));`,
  );
  // getppid 300 times, a few at a time, once the package is ready.
  const { result, session, stdout } = await runWithPinger(
    dir,
    "polled",
    "for i in range(300):\n  os.getppid()\n  time.sleep(0.001 if i % 7 else 0.02)",
  );
  assert.equal(result.code, 0);
  assert.deepEqual(JSON.parse(stdout), { n: 300, ordered: true, closed: true });
  assert.equal(session.eventStats().lost, 0);
});
