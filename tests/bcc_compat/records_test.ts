/**
 * Records decoded without being told their type, as BCC's `b["events"].event(data)` does: the
 * struct the C passes to perf_submit, ringbuf_output or ringbuf_submit decodes the map's
 * records; a map given raw or mixed data stays bytes.
 */
import assert from "node:assert/strict";
import { type EventRecord, RecordSizeError } from "../../mod.ts";
import { CHILD_COMM, load, runRegistered } from "./_helpers.ts";

const FILL = `
  BPF_HASH(pids, u32, u32);
  #define FILL(d) \\
    (d)->pid = bpf_get_current_pid_tgid() >> 32; \\
    if (!pids.lookup(&(d)->pid)) return 0; \\
    bpf_get_current_comm((d)->comm, sizeof((d)->comm));`;

async function first<T>(events: AsyncIterable<T>, n: number): Promise<T[]> {
  const got: T[] = [];
  for await (const e of events) {
    got.push(e);
    if (got.length === n) break;
  }
  return got;
}

Deno.test("perf_submit(ctx, &data, sizeof(data)): b.perfBuffer(name) with no type yields the struct", async () => {
  using b = await load(`
    struct data_t { u32 pid; u64 ts; char comm[TASK_COMM_LEN]; };
    ${FILL}
    BPF_PERF_OUTPUT(events);
    TRACEPOINT_PROBE(syscalls, sys_enter_getppid) {
      struct data_t data = {};
      FILL(&data)
      data.ts = 7;
      events.perf_submit(args, &data, sizeof(data));
      return 0;
    }`);
  const events = b.perfBuffer("events");
  const pid = await runRegistered(b.map("pids"), "getppid:2");
  const got = await first(events, 2);
  assert.deepEqual(got, [
    { pid, ts: 7n, comm: CHILD_COMM },
    { pid, ts: 7n, comm: CHILD_COMM },
  ]);
});

Deno.test("a record cut short (offsetof + length, as sslsniff submits) decodes with no type, the rest zero; a given type refuses it", async () => {
  const text = `
    struct line_t { u32 pid; u32 len; char comm[TASK_COMM_LEN]; char text[64]; };
    ${FILL}
    BPF_PERF_OUTPUT(lines);
    TRACEPOINT_PROBE(syscalls, sys_enter_getppid) {
      struct line_t l = {};
      FILL(&l)
      l.len = 3;
      __builtin_memcpy(l.text, "abcdefgh", 8);
      lines.perf_submit(args, &l, offsetof(struct line_t, text) + l.len);
      return 0;
    }`;
  {
    using b = await load(text);
    const lines = b.perfBuffer("lines", {
      signal: AbortSignal.timeout(10_000),
    });
    const pid = await runRegistered(b.map("pids"), "getppid:1");
    const [line] = await first(lines, 1);
    assert.deepEqual(line, { pid, len: 3, comm: CHILD_COMM, text: "abc" });
  }
  using b = await load(text);
  const typed = b.perfBuffer("lines", {
    type: "struct line_t",
    signal: AbortSignal.timeout(10_000),
  });
  await runRegistered(b.map("pids"), "getppid:1");
  await assert.rejects(first(typed, 1), RecordSizeError);
});

Deno.test("ringbuf_output(&data, ...) and ringbuf_reserve/submit decode with no type", async () => {
  using b = await load(`
    struct out_t { u32 pid; char comm[16]; };
    struct rsv_t { u32 pid; u32 magic; char comm[16]; };
    ${FILL}
    BPF_RINGBUF_OUTPUT(outs, 8);
    BPF_RINGBUF_OUTPUT(rsvs, 8);
    TRACEPOINT_PROBE(syscalls, sys_enter_getppid) {
      struct out_t o = {};
      FILL(&o)
      outs.ringbuf_output(&o, sizeof(o), 0);
      struct rsv_t *r = rsvs.ringbuf_reserve(sizeof(struct rsv_t));
      if (!r) return 0;
      r->pid = o.pid;
      r->magic = 0xbcc;
      __builtin_memcpy(r->comm, o.comm, sizeof(r->comm));
      rsvs.ringbuf_submit(r, 0);
      return 0;
    }`);
  const outs = b.ringbuf("outs");
  const rsvs = b.ringbuf("rsvs");
  const pid = await runRegistered(b.map("pids"), "getppid:1");
  assert.deepEqual(await first(outs, 1), [{ pid, comm: CHILD_COMM }]);
  assert.deepEqual(await first(rsvs, 1), [
    { pid, magic: 0xbcc, comm: CHILD_COMM },
  ]);
});

Deno.test("tcpdrop-style: two perf maps, each with its own struct, from a static helper", async () => {
  using b = await load(`
    struct small_t { u32 pid; char comm[16]; };
    struct big_t { u32 pid; unsigned __int128 addr; char comm[16]; };
    ${FILL}
    BPF_PERF_OUTPUT(small_events);
    BPF_PERF_OUTPUT(big_events);
    static int emit(void *ctx, int big) {
      if (big) {
        struct big_t b = { .addr = 1 };
        FILL(&b)
        big_events.perf_submit(ctx, &b, sizeof(b));
      } else {
        struct small_t s = {};
        FILL(&s)
        small_events.perf_submit(ctx, &s, sizeof(s));
      }
      return 0;
    }
    TRACEPOINT_PROBE(syscalls, sys_enter_getpid) { return emit(args, 0); }
    TRACEPOINT_PROBE(syscalls, sys_enter_getppid) { return emit(args, 1); }`);
  const small = b.perfBuffer("small_events");
  const big = b.perfBuffer("big_events");
  const pid = await runRegistered(b.map("pids"), "getpid:1", "getppid:1");
  assert.deepEqual(await first(small, 1), [{ pid, comm: CHILD_COMM }]);
  assert.deepEqual(await first(big, 1), [{ pid, addr: 1n, comm: CHILD_COMM }]);
});

Deno.test("records stay bytes when the C passes no struct, or two different ones", async () => {
  using b = await load(`
    struct a_t { u32 pid; u32 a; };
    struct b_t { u32 pid; u64 b; };
    BPF_HASH(pids, u32, u32);
    BPF_PERF_OUTPUT(raw);
    BPF_PERF_OUTPUT(mixed);
    TRACEPOINT_PROBE(syscalls, sys_enter_getppid) {
      u32 pid = bpf_get_current_pid_tgid() >> 32;
      if (!pids.lookup(&pid)) return 0;
      char buf[8] = "bytes";
      raw.perf_submit(args, buf, sizeof(buf));
      struct a_t a = { pid, 1 };
      struct b_t bb = { pid, 2 };
      mixed.perf_submit(args, &a, sizeof(a));
      mixed.perf_submit(args, &bb, sizeof(bb));
      return 0;
    }`);
  const raw = b.perfBuffer("raw");
  const mixed = b.perfBuffer("mixed");
  const pid = await runRegistered(b.map("pids"), "getppid:1");
  const [bytes] = await first<EventRecord>(raw, 1);
  assert.ok(bytes instanceof Uint8Array);
  assert.equal(new TextDecoder().decode(bytes.subarray(0, 5)), "bytes");
  const two = await first<EventRecord>(mixed, 2);
  assert.ok(two.every((r) => r instanceof Uint8Array));
  assert.equal(
    new DataView(
      (two[0] as Uint8Array).buffer,
      (two[0] as Uint8Array).byteOffset,
    )
      .getUint32(0, true),
    pid,
  );
});
