/**
 * BCC's output maps, loaded for real: perf_submit, ringbuf_output, ringbuf_reserve with
 * submit and discard, and get_stackid, each carrying what the test's own child did.
 */
import assert from "node:assert/strict";
import { CHILD_COMM, load, runChild, runRegistered } from "./_helpers.ts";

const EVENT = `
  struct data_t { u32 pid; u32 seq; char comm[TASK_COMM_LEN]; };
  BPF_HASH(pids, u32, u32);
  BPF_ARRAY(seqs, u64, 1);
  static __always_inline int fill(struct data_t *d) {
    d->pid = bpf_get_current_pid_tgid() >> 32;
    if (!pids.lookup(&d->pid)) return -1;
    int k = 0;
    u64 *s = seqs.lookup(&k);
    if (!s) return -1;
    d->seq = __sync_add_and_fetch(s, 1);
    bpf_get_current_comm(d->comm, sizeof(d->comm));
    return 0;
  }`;

interface Data {
  pid: number;
  seq: number;
  comm: string;
}

async function collect(
  events: AsyncIterable<Data>,
  want: number,
): Promise<Data[]> {
  const got: Data[] = [];
  for await (const e of events) {
    got.push(e);
    if (got.length === want) break;
  }
  return got;
}

Deno.test("BPF_PERF_OUTPUT: perf_submit(ctx, &data, sizeof(data)) reaches b.perfBuffer", async () => {
  using b = await load(`${EVENT}
    BPF_PERF_OUTPUT(events);
    TRACEPOINT_PROBE(syscalls, sys_enter_getpid) {
      struct data_t d = {};
      if (fill(&d)) return 0;
      events.perf_submit(args, &d, sizeof(d));
      return 0;
    }`);
  using events = b.perfBuffer<Data>("events", {
    type: "struct data_t",
    signal: AbortSignal.timeout(10_000),
  });
  const pid = await runRegistered(b.map<number, number>("pids"), "getpid:3");
  const got = await collect(events, 3);
  assert.deepEqual(got.map((e) => e.seq).sort(), [1, 2, 3]);
  assert.ok(got.every((e) => e.pid === pid && e.comm === CHILD_COMM));
});

Deno.test("BPF_RINGBUF_OUTPUT(name, pages): ringbuf_output reaches b.ringbuf", async () => {
  using b = await load(`${EVENT}
    BPF_RINGBUF_OUTPUT(rb, 8);
    TRACEPOINT_PROBE(syscalls, sys_enter_getpid) {
      struct data_t d = {};
      if (fill(&d)) return 0;
      rb.ringbuf_output(&d, sizeof(d), 0);
      return 0;
    }`);
  assert.equal(b.maps.get("rb")!.maxEntries, 8 * 4096);
  using events = b.ringbuf<Data>("rb", {
    type: "struct data_t",
    signal: AbortSignal.timeout(10_000),
  });
  const pid = await runRegistered(b.map<number, number>("pids"), "getpid:4");
  const got = await collect(events, 4);
  assert.deepEqual(got.map((e) => e.seq), [1, 2, 3, 4]);
  assert.ok(got.every((e) => e.pid === pid));
});

Deno.test("ringbuf_reserve, ringbuf_submit and ringbuf_discard: only submitted records arrive", async () => {
  using b = await load(`${EVENT}
    BPF_RINGBUF_OUTPUT(rb, 4);
    TRACEPOINT_PROBE(syscalls, sys_enter_getpid) {
      struct data_t *d = rb.ringbuf_reserve(sizeof(struct data_t));
      if (!d) return 0;
      if (fill(d)) { rb.ringbuf_discard(d, 0); return 0; }
      if (d->seq % 2) rb.ringbuf_submit(d, 0);
      else rb.ringbuf_discard(d, 0);
      return 0;
    }`);
  using events = b.ringbuf<Data>("rb", {
    type: "struct data_t",
    signal: AbortSignal.timeout(10_000),
  });
  await runRegistered(b.map<number, number>("pids"), "getpid:6");
  const got = await collect(events, 3);
  assert.deepEqual(got.map((e) => e.seq), [1, 3, 5]);
  assert.equal(events.records, 3);
});

Deno.test("BPF_STACK_TRACE and get_stackid(ctx, BPF_F_USER_STACK): the child's user stack", async () => {
  using b = await load(`
    BPF_STACK_TRACE(stacks, 128);
    BPF_HASH(ids, u32, int);
    TRACEPOINT_PROBE(syscalls, sys_enter_getppid) {
      u32 pid = bpf_get_current_pid_tgid() >> 32;
      int id = stacks.get_stackid(args, BPF_F_USER_STACK);
      ids.update(&pid, &id);
      return 0;
    }`);
  assert.equal(b.map("stacks").type, "stack_trace");
  const pid = await runChild("stack:1");
  const id = b.map<number, number>("ids").get(pid);
  assert.ok(id !== undefined && id >= 0, `stack id ${id}`);
  const frames = b.stackTraces("stacks").stack(id);
  assert.ok(frames.length >= 2, `frames: ${frames}`);
  assert.ok(frames.every((ip) => ip > 0n));
});
