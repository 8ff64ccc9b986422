/**
 * Typed readers of libbpf-style C without a `type` option: the record type is the one the C
 * passes to bpf_ringbuf_reserve/bpf_ringbuf_submit, bpf_ringbuf_output and
 * bpf_perf_event_output (as BCC's dialect already did for perf_submit and friends), checked
 * on real events; where the C shows no one struct, one line names the `type` option.
 */
import assert from "node:assert/strict";
import { BPF, type BpfMap } from "../../mod.ts";
import { buildC, GETPPID_LOOP } from "../maps/_helpers.ts";
import { runTargeted } from "./_helpers.ts";

// No _keep_ globals: the structs reach the object's BTF only through the helper calls.
const PROGRAM = `
struct rec_event { u32 pid; u32 seq; char comm[16]; };
struct rec_sample { u64 seq; u32 pid; u16 cpu; u8 flag; };
struct rec_a { u32 pid; u32 a; };
struct rec_b { u32 pid; u64 b; };
struct { __uint(type, BPF_MAP_TYPE_RINGBUF); __uint(max_entries, 1 << 16); } reserved SEC(".maps");
struct { __uint(type, BPF_MAP_TYPE_RINGBUF); __uint(max_entries, 1 << 16); } output SEC(".maps");
struct { __uint(type, BPF_MAP_TYPE_PERF_EVENT_ARRAY); __uint(key_size, 4); __uint(value_size, 4); } perf SEC(".maps");
struct { __uint(type, BPF_MAP_TYPE_RINGBUF); __uint(max_entries, 1 << 16); } mixed SEC(".maps");
struct { __uint(type, BPF_MAP_TYPE_RINGBUF); __uint(max_entries, 1 << 16); } raw SEC(".maps");
struct { __uint(type, BPF_MAP_TYPE_RINGBUF); __uint(max_entries, 1 << 16); } literal SEC(".maps");
struct rec_key { u32 pid; u32 cpu; };
struct { __uint(type, BPF_MAP_TYPE_HASH); __uint(max_entries, 64); __type(key, struct rec_key); __type(value, u64); } counts SEC(".maps");
u32 target_pid;
u32 seq;

static __always_inline void emit(void *ctx, u32 pid) {
  struct rec_event *e = bpf_ringbuf_reserve(&reserved, sizeof(struct rec_event), 0);
  if (e) {
    e->pid = pid;
    e->seq = seq;
    bpf_get_current_comm(e->comm, sizeof(e->comm));
    bpf_ringbuf_submit(e, 0);
  }
  struct rec_sample s = { .seq = seq, .pid = pid, .cpu = bpf_get_smp_processor_id(), .flag = 7 };
  bpf_ringbuf_output(&output, &s, sizeof(s), 0);
  bpf_perf_event_output(ctx, &perf, BPF_F_CURRENT_CPU, &s, sizeof(s));
  struct rec_a a = { pid, 1 };
  struct rec_b b = { pid, 2 };
  if (seq & 1) bpf_ringbuf_output(&mixed, &a, sizeof(a), 0);
  else bpf_ringbuf_output(&mixed, &b, sizeof(b), 0);
  char text[8] = "bytes";
  bpf_ringbuf_output(&raw, text, sizeof(text), 0);
  /* The preprocessor splits a compound literal at its commas: the call stays as written. */
  bpf_ringbuf_output(&literal, &(struct rec_a){ .pid = pid, .a = 3 }, sizeof(struct rec_a), 0);
}

SEC("tracepoint/syscalls/sys_enter_getppid")
int on_getppid(void *ctx) {
  u32 pid = bpf_get_current_pid_tgid() >> 32;
  if (pid != target_pid) return 0;
  emit(ctx, pid);
  struct rec_key k = { pid, 0 };
  u64 one = 1, *n = bpf_map_lookup_elem(&counts, &k);
  if (n) __sync_fetch_and_add(n, 1);
  else bpf_map_update_elem(&counts, &k, &one, BPF_NOEXIST);
  seq++;
  return 0;
}
char LICENSE[] SEC("license") = "GPL";
`;

interface Event {
  pid: number;
  seq: number;
  comm: string;
}

interface Sample {
  seq: bigint;
  pid: number;
  cpu: number;
  flag: number;
}

/** The next `n` records of `reader` (each read waits up to a second). */
async function take<T>(
  reader: { read(timeoutMs: number): Promise<T[]> },
  n: number,
): Promise<T[]> {
  const got: T[] = [];
  for (let i = 0; got.length < n && i < 10; i++) {
    got.push(...await reader.read(1000));
  }
  return got;
}

/** What console.warn printed while `f` ran. */
function warnings<T>(f: () => T): [T, string[]] {
  const lines: string[] = [];
  const warn = console.warn;
  console.warn = (...args: unknown[]) => lines.push(args.join(" "));
  try {
    return [f(), lines];
  } finally {
    console.warn = warn;
  }
}

Deno.test("ringbuf<T>() and perfBuffer<T>() of libbpf C decode the struct the C writes, with no type option", async () => {
  const prog = await buildC("getppid_loop", GETPPID_LOOP);
  try {
    using b = await BPF.load({ text: PROGRAM });
    const [readers, warned] = warnings(() => ({
      reserved: b.ringbuf<Event>("reserved"),
      output: b.ringbuf<Sample>("output"),
      perf: b.perfBuffer<Sample>("perf"),
    }));
    assert.deepEqual(warned, []);
    const pid = await runTargeted(b, prog.path, 3, { seq: 0 });
    const reserved = await take(readers.reserved, 3);
    const output = await take(readers.output, 3);
    const perf = await take(readers.perf, 3);
    // The child made three getppid calls after the target was set; the shell exec'd it.
    assert.deepEqual(
      reserved,
      [0, 1, 2].map((seq) => ({
        pid,
        seq,
        comm: "getppid_loop",
      })),
    );
    for (const records of [output, perf]) {
      assert.deepEqual(
        records.map(({ seq, pid, flag }) => ({ seq, pid, flag })),
        [0n, 1n, 2n].map((seq) => ({ seq, pid, flag: 7 })),
      );
      assert.ok(records.every((r) => r.cpu >= 0 && r.cpu < 1024));
    }
    // A typed map view: keys and values decoded from BTF, typed by the caller.
    const counts: BpfMap<{ pid: number; cpu: number }, bigint> = b.map(
      "counts",
    );
    assert.deepEqual([...counts], [[{ pid, cpu: 0 }, 3n]]);
  } finally {
    prog.cleanup();
  }
});

Deno.test("a buffer given two structs, or bytes, stays bytes and says so in one line naming the type option", async () => {
  const prog = await buildC("getppid_loop", GETPPID_LOOP);
  try {
    using b = await BPF.load({ text: PROGRAM });
    const [[mixed, raw, literal], warned] = warnings(() => [
      b.ringbuf("mixed"),
      b.ringbuf("raw"),
      b.ringbuf("literal"),
    ]);
    assert.deepEqual(warned, [
      'bpfpm: records of "mixed" are bytes: the C does not show one struct for them; pass { type: "struct NAME" } to b.ringbuf("mixed", ...) to decode them (or { type: "bytes" } to keep bytes)',
      'bpfpm: records of "raw" are bytes: the C does not show one struct for them; pass { type: "struct NAME" } to b.ringbuf("raw", ...) to decode them (or { type: "bytes" } to keep bytes)',
      'bpfpm: records of "literal" are bytes: the C does not show one struct for them; pass { type: "struct NAME" } to b.ringbuf("literal", ...) to decode them (or { type: "bytes" } to keep bytes)',
    ]);
    const [[mixedBytes, rawBytes], quiet] = warnings(() => [
      b.ringbuf<Uint8Array>("mixed", { type: "bytes" }),
      b.ringbuf<Uint8Array>("raw", { type: "bytes" }),
    ]);
    assert.deepEqual(quiet, []);
    const pid = await runTargeted(b, prog.path, 2, { seq: 0 });
    for (const reader of [mixed, mixedBytes]) {
      const two = await take(reader, 2) as Uint8Array[];
      // seq 0 wrote a rec_b (16 bytes), seq 1 a rec_a (8 bytes), each starting with the pid.
      assert.deepEqual(two.map((r) => r.length), [16, 8]);
      for (const r of two) {
        assert.equal(
          new DataView(r.buffer, r.byteOffset).getUint32(0, true),
          pid,
        );
      }
    }
    const [one] = await take(literal, 1) as Uint8Array[];
    assert.deepEqual([...one], [
      ...new Uint8Array(new Uint32Array([pid, 3]).buffer),
    ]);
    for (const reader of [raw, rawBytes]) {
      const got = await take(reader, 2);
      assert.equal(got.length, 2);
      assert.equal(
        new TextDecoder().decode((got[0] as Uint8Array).subarray(0, 5)),
        "bytes",
      );
    }
  } finally {
    prog.cleanup();
  }
});
