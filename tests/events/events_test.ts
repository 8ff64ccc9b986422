// Ring buffers and perf buffers on real tracepoints: exact records, data_loc strings, lost
// counting, stopping, and several readers at once.
import assert from "node:assert/strict";
import { BPF } from "../../runtime/bpf.ts";
import { testStall } from "../../runtime/events/event_reader.ts";
import { buildC, GETPPID_LOOP } from "../maps/_helpers.ts";
import { runTargeted as runTargetedBy } from "./_helpers.ts";

const PROGRAM = `
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
struct event { u32 pid; u32 seq; u64 n; char comm[16]; u8 pad[32]; };
struct exec_event { u32 pid; char filename[256]; };
struct { __uint(type, BPF_MAP_TYPE_RINGBUF); __uint(max_entries, 1 << 20); } events SEC(".maps");
struct { __uint(type, BPF_MAP_TYPE_RINGBUF); __uint(max_entries, 1 << 20); } events2 SEC(".maps");
struct { __uint(type, BPF_MAP_TYPE_RINGBUF); __uint(max_entries, 1 << 20); } execs SEC(".maps");
struct { __uint(type, BPF_MAP_TYPE_RINGBUF); __uint(max_entries, 4096); } small SEC(".maps");
struct { __uint(type, BPF_MAP_TYPE_PERF_EVENT_ARRAY); __uint(key_size, 4); __uint(value_size, 4); } pevents SEC(".maps");
struct event *_keep_event __attribute__((unused));
struct exec_event *_keep_exec __attribute__((unused));
u32 target_pid;
u32 mode; /* 1: ring buffer, 2: perf buffer, 4: second ring buffer, 8: small ring buffer */
u32 rseq, pseq, rseq2;

SEC("tracepoint/syscalls/sys_enter_getppid")
int on_getppid(void *ctx) {
  u32 pid = bpf_get_current_pid_tgid() >> 32;
  if (pid != target_pid) return 0;
  struct event ev = { .pid = pid };
  bpf_get_current_comm(ev.comm, sizeof(ev.comm));
  if (mode & 1) {
    struct event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
    if (e) { *e = ev; e->seq = rseq++; e->n = 1; bpf_ringbuf_submit(e, 0); }
  }
  if (mode & 4) {
    struct event *e = bpf_ringbuf_reserve(&events2, sizeof(*e), 0);
    if (e) { *e = ev; e->seq = rseq2++; e->n = 2; bpf_ringbuf_submit(e, 0); }
  }
  if (mode & 8) bpf_ringbuf_output(&small, &ev, sizeof(ev), 0);
  if (mode & 2) {
    ev.seq = pseq++;
    ev.n = 3;
    bpf_perf_event_output(ctx, &pevents, BPF_F_CURRENT_CPU, &ev, sizeof(ev));
  }
  return 0;
}

SEC("tracepoint/sched/sched_process_exec")
int on_exec(struct trace_event_raw_sched_process_exec *ctx) {
  struct exec_event *e = bpf_ringbuf_reserve(&execs, sizeof(*e), 0);
  if (!e) return 0;
  e->pid = bpf_get_current_pid_tgid() >> 32;
  unsigned off = ctx->__data_loc_filename & 0xFFFF;
  bpf_probe_read_str(e->filename, sizeof(e->filename), (void *)ctx + off);
  bpf_ringbuf_submit(e, 0);
  return 0;
}
char LICENSE[] SEC("license") = "GPL";
`;

interface Event {
  pid: number;
  seq: number;
  n: bigint;
  comm: string;
  pad: Uint8Array;
}

/** Runs `path count` with the program's target set to its pid, and `mode`, sequences zeroed. */
function runTargeted(
  b: BPF,
  path: string,
  count: number,
  mode: number,
  cpu?: number,
): Promise<number> {
  return runTargetedBy(
    b,
    path,
    count,
    { mode, rseq: 0, pseq: 0, rseq2: 0 },
    cpu,
  );
}

async function collect<T>(it: AsyncIterable<T>, n: number): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) {
    out.push(x);
    if (out.length === n) break;
  }
  return out;
}

Deno.test("ring buffer records decode with exact fields, in order", async () => {
  const prog = await buildC("getppid_loop", GETPPID_LOOP);
  try {
    using b = await BPF.load({ text: PROGRAM });
    using r = b.ringbuf<Event>("events", { type: "struct event" });
    const pid = await runTargeted(b, prog.path, 3000, 1);
    const got = await collect(r, 3000);
    assert.equal(got.length, 3000);
    got.forEach((e, i) => {
      assert.equal(e.pid, pid);
      assert.equal(e.seq, i);
      assert.equal(e.n, 1n);
      assert.equal(e.comm, "getppid_loop");
    });
    assert.equal(r.records, 3000);
    assert.equal(r.lost, 0);
    assert.equal(r.closed, true); // breaking out of for-await closes the reader
  } finally {
    prog.cleanup();
  }
});

Deno.test("perf buffer records decode with exact fields", async () => {
  const prog = await buildC("getppid_loop", GETPPID_LOOP);
  try {
    using b = await BPF.load({ text: PROGRAM });
    using p = b.perfBuffer<Event>("pevents", {
      type: "struct event",
      pageCount: 64,
    });
    const pid = await runTargeted(b, prog.path, 2000, 2);
    const got = await collect(p, 2000);
    // Records of different CPUs interleave: the set of sequence numbers is exact.
    assert.deepEqual(got.map((e) => e.seq).sort((a, b) => a - b), [
      ...Array(2000).keys(),
    ]);
    for (const e of got) {
      assert.equal(e.pid, pid);
      assert.equal(e.n, 3n);
      assert.equal(e.comm, "getppid_loop");
    }
    assert.equal(p.lost, 0);
  } finally {
    prog.cleanup();
  }
});

Deno.test("exec filenames come through the data_loc field of sched_process_exec", async () => {
  const prog = await buildC("exec_me", `int main(void) { return 0; }\n`);
  try {
    using b = await BPF.load({ text: PROGRAM });
    const r = b.ringbuf<{ pid: number; filename: string }>("execs", {
      type: "struct exec_event",
      signal: AbortSignal.timeout(10_000),
    });
    const child = new Deno.Command(prog.path).spawn();
    await child.status;
    let found: { pid: number; filename: string } | undefined;
    for await (const e of r) {
      if (e.filename === prog.path) {
        found = e;
        break;
      }
    }
    assert.deepEqual(found, { pid: child.pid, filename: prog.path });
  } finally {
    prog.cleanup();
  }
});

Deno.test("a perf buffer overflow is counted and reported, never silent", async () => {
  const prog = await buildC("getppid_loop", GETPPID_LOOP);
  try {
    using b = await BPF.load({ text: PROGRAM });
    const reports: [number, number][] = [];
    using p = b.perfBuffer<Event>("pevents", {
      type: "struct event",
      pageCount: 1,
      stagingBytes: 0, // read from the JS thread, so the tiny buffer overflows
      onLost: (lost, total) => reports.push([lost, total]),
    });
    const N = 20_000;
    // One CPU, so the loss note lands in the ring the next sample uses.
    await runTargeted(b, prog.path, N, 2, 0);
    let read = 0;
    const drain = async () => {
      for (;;) {
        const batch = await p.read(0);
        if (batch.length === 0) break;
        read += batch.length;
      }
    };
    await drain();
    // The kernel writes its lost-record note with the next sample that fits.
    await runTargeted(b, prog.path, 1, 2, 0);
    await drain();
    assert.ok(p.lost > 0, "a 4 KiB buffer cannot hold 20,000 records");
    assert.equal(read + p.lost, N + 1);
    assert.ok(reports.length > 0);
    assert.equal(reports[reports.length - 1][1], p.lost);
    assert.equal(reports.reduce((a, [d]) => a + d, 0), p.lost);
  } finally {
    prog.cleanup();
  }
});

Deno.test("two ring buffers are read at once; batches grow past batchBytes", async () => {
  const prog = await buildC("getppid_loop", GETPPID_LOOP);
  try {
    using b = await BPF.load({ text: PROGRAM });
    const r1 = b.ringbuf<Event>("events", {
      type: "struct event",
      batchBytes: 64,
      stagingBytes: 0,
    });
    const r2 = b.ringbuf<Event>("events2", { type: "struct event" });
    const both = Promise.all([collect(r1, 500), collect(r2, 500)]);
    await runTargeted(b, prog.path, 500, 1 | 4);
    const [a, c] = await both;
    assert.deepEqual(
      a.map((e) => [e.seq, e.n]),
      [...Array(500).keys()].map((i) => [i, 1n]),
    );
    assert.deepEqual(
      c.map((e) => [e.seq, e.n]),
      [...Array(500).keys()].map((i) => [i, 2n]),
    );
  } finally {
    prog.cleanup();
  }
});

Deno.test("AbortSignal, close() and closing the object end a waiting reader at once", async () => {
  using b = await BPF.load({ text: PROGRAM });
  const ac = new AbortController();
  const r1 = b.ringbuf("events", { signal: ac.signal });
  const r2 = b.perfBuffer("pevents");
  const r3 = b.ringbuf("events2");
  const t0 = performance.now();
  const ends = [collect(r1, 1), collect(r2, 1), collect(r3, 1)];
  setTimeout(() => ac.abort(), 50);
  setTimeout(() => r2.close(), 60);
  setTimeout(() => b.close(), 70);
  const results = await Promise.all(ends);
  assert.deepEqual(results, [[], [], []]);
  assert.ok(performance.now() - t0 < 2000);
  assert.ok(r1.closed && r2.closed && r3.closed);
  assert.throws(() => b.ringbuf("events"), /closed/);
});

Deno.test("readers name the wrong kind of map and the maps that exist", async () => {
  using b = await BPF.load({ text: PROGRAM });
  assert.throws(
    () => b.ringbuf("pevents"),
    /perf_event_array, not a ring buffer.*b\.perfBuffer\("pevents"\)/,
  );
  assert.throws(
    () => b.perfBuffer("events"),
    /ringbuf, not a perf event array.*b\.ringbuf\("events"\)/,
  );
  assert.throws(
    () => b.ringbuf("nope"),
    /No map named "nope".*events, events2/,
  );
  assert.throws(
    () => b.ringbuf("events", { type: "struct nope" }),
    /has no type "struct nope"/,
  );
  assert.throws(() => b.perfBuffer("pevents", { pageCount: 3 }), RangeError);
});

Deno.test("readers give back their fds, threads and mappings when closed", async () => {
  using b = await BPF.load({ text: PROGRAM });
  const fds = () => [...Deno.readDirSync("/proc/self/fd")].length;
  const before = fds();
  for (let i = 0; i < 10; i++) {
    const r = b.ringbuf("events");
    const p = b.perfBuffer("pevents", { pageCount: 2 });
    await r.read(0);
    await p.read(0);
    r.close();
    p.close();
  }
  assert.equal(fds(), before);
});

Deno.test("a full ring buffer is reported, never silent", async () => {
  const prog = await buildC("getppid_loop", GETPPID_LOOP);
  try {
    using b = await BPF.load({ text: PROGRAM });
    const fulls: number[] = [];
    using r = b.ringbuf<Event>("small", {
      type: "struct event",
      stagingBytes: 0, // read from the JS thread, so the 4 KiB ring overflows
      onFull: (times) => fulls.push(times),
    });
    await runTargeted(b, prog.path, 1000, 8);
    let read = 0;
    for (;;) {
      const batch = await r.read(0);
      if (batch.length === 0) break;
      read += batch.length;
    }
    assert.ok(read > 0 && read < 1000, `read ${read} of 1000 records`);
    assert.ok(r.full > 0);
    assert.deepEqual(fulls, [r.full]);
  } finally {
    prog.cleanup();
  }
});

Deno.test("a stalled primary drainer: the watchdog drains the ring, in order, nothing lost", async () => {
  const prog = await buildC("getppid_loop", GETPPID_LOOP);
  try {
    using b = await BPF.load({ text: PROGRAM });
    using r = b.ringbuf<Event>("events", { type: "struct event" });
    await r.read(10); // the drainers set their priority as they start
    const cpus = Number(
      new TextDecoder().decode(
        (await new Deno.Command("nproc").output()).stdout,
      ),
    );
    const info = r.drainers;
    assert.equal(info.threads, cpus >= 2 ? 2 : 1);
    assert.equal(info.realtime, info.threads); // the tests run as root
    // The kernel agrees: that many of this process's threads run SCHED_FIFO (policy 1).
    const fifo = () =>
      [...Deno.readDirSync("/proc/self/task")].filter((t) => {
        const stat = Deno.readTextFileSync(`/proc/self/task/${t.name}/stat`);
        return stat.slice(stat.lastIndexOf(")") + 2).split(" ")[38] === "1";
      }).length;
    assert.equal(fifo(), info.threads);
    {
      using plain = b.ringbuf("events2", { realtime: false });
      await plain.read(10);
      assert.equal(plain.drainers.realtime, 0);
      assert.equal(fifo(), info.threads);
    }
    if (cpus < 2) return;
    // The primary sleeps 30 ms after each claim, longer than the 1 MiB ring lasts at full
    // speed: without the watchdog the program's reservations would fail.
    r[testStall](30);
    const count = 300_000;
    let finished = false;
    const done = runTargeted(b, prog.path, count, 1).finally(() =>
      finished = true
    );
    // Until the program has ended and every record it committed is read, with a deadline:
    // a record the ring refuses (the reader's staging full, this CPU busy) gets no seq
    // and is the kernel's refusal, reported as such, not one the drainers lost.
    const bss = b.map<number, Record<string, number>>("bpfpm.bss");
    const got: Event[] = [];
    const deadline = Date.now() + 60_000;
    while (
      Date.now() < deadline && (!finished || got.length < bss.get(0)!.rseq)
    ) got.push(...await r.read(100));
    await done;
    const committed = bss.get(0)!.rseq;
    assert.equal(got.length, committed, `read ${got.length} of ${committed}`);
    assert.ok(committed > count / 2, `the ring took ${committed} of ${count}`);
    for (let i = 0; i < committed; i++) {
      if (got[i].seq !== i) assert.fail(`record ${i} has seq ${got[i].seq}`);
    }
    const { watchdogRecords } = r.drainers; // while the reader is open
    assert.ok(
      watchdogRecords > committed / 2,
      `the watchdog drained ${watchdogRecords} of ${count}`,
    );
  } finally {
    prog.cleanup();
  }
});
