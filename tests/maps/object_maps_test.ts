// Maps of programs on real tracepoints, read through b.map(name) with BTF-typed codecs.
import assert from "node:assert/strict";
import { BPF } from "../../runtime/bpf.ts";
import { PerCpu } from "../../runtime/maps/per_cpu.ts";
import { ClosedError } from "../../runtime/errors.ts";
import { possibleCpus } from "../../runtime/maps/_native.ts";
import { buildC, GETPPID_LOOP, run } from "./_helpers.ts";

const COUNTERS = `
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
struct { __uint(type, BPF_MAP_TYPE_HASH); __uint(max_entries, 4096); __type(key, u32); __type(value, u64); } counts SEC(".maps");
struct { __uint(type, BPF_MAP_TYPE_PERCPU_HASH); __uint(max_entries, 4096); __type(key, u32); __type(value, u64); } pcpu SEC(".maps");
struct { __uint(type, BPF_MAP_TYPE_HASH); __uint(max_entries, 65536); __type(key, u32); __type(value, u64); } switches SEC(".maps");

static void bump(void *map, u32 key) {
  u64 one = 1, *v = bpf_map_lookup_elem(map, &key);
  if (v) __sync_fetch_and_add(v, 1);
  else bpf_map_update_elem(map, &key, &one, BPF_NOEXIST);
}

SEC("tracepoint/syscalls/sys_enter_getppid")
int on_getppid(void *ctx) {
  u32 pid = bpf_get_current_pid_tgid() >> 32;
  bump(&counts, pid);
  u64 one = 1, *v = bpf_map_lookup_elem(&pcpu, &pid);
  if (v) *v += 1; else bpf_map_update_elem(&pcpu, &pid, &one, BPF_NOEXIST);
  return 0;
}

SEC("tracepoint/sched/sched_switch")
int on_switch(struct trace_event_raw_sched_switch *ctx) {
  bump(&switches, ctx->prev_pid);
  return 0;
}
char LICENSE[] SEC("license") = "GPL";
`;

Deno.test("getppid loops are counted exactly, in a hash and a per-CPU hash", async () => {
  const prog = await buildC("getppid_loop", GETPPID_LOOP);
  try {
    using b = await BPF.load({ text: COUNTERS });
    const counts = b.map<number, bigint>("counts");
    const pcpu = b.map<number, PerCpu<bigint>>("pcpu");
    for (const n of [1, 1000, 25_000]) {
      const { pid } = await run(prog.path, [String(n)]);
      assert.equal(counts.get(pid), BigInt(n));
      const per = pcpu.get(pid)!;
      assert.ok(per instanceof PerCpu);
      assert.equal(per.length, possibleCpus());
      assert.equal(per.sum(), BigInt(n));
      assert.ok(per.max() <= BigInt(n));
    }
    // Dumps with and without batch syscalls see the same finished children.
    const { pid } = await run(prog.path, ["77"]);
    const batch = new Map(counts.dump());
    const walk = new Map(counts.dump({ noBatch: true }));
    assert.equal(batch.get(pid), 77n);
    assert.equal(walk.get(pid), 77n);
  } finally {
    prog.cleanup();
  }
});

Deno.test("sched_switch counts a sleeping child's context switches", async () => {
  const prog = await buildC(
    "sleeper",
    `#include <unistd.h>\nint main(void) { for (int i = 0; i < 20; i++) usleep(2000); return 0; }\n`,
  );
  try {
    using b = await BPF.load({ text: COUNTERS });
    const { pid } = await run(prog.path);
    const switches = b.map<number, bigint>("switches");
    const mine = switches.get(pid) ?? 0n;
    assert.ok(
      mine >= 20n,
      `expected at least 20 switches out of pid ${pid}, got ${mine}`,
    );
    assert.ok(switches.size > 1);
  } finally {
    prog.cleanup();
  }
});

const ROUNDTRIP = `
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
enum color { RED = 1, GREEN = 2, BLUE = 40 };
struct point { u8 x; u64 y; };
struct rec {
  u32 id;
  enum color color;
  char name[16];
  u16 arr[4];
  struct point pts[2];
  bool flag;
  s64 neg;
};
struct { __uint(type, BPF_MAP_TYPE_ARRAY); __uint(max_entries, 2); __type(key, u32); __type(value, struct rec); } recs SEC(".maps");
u32 target_pid;
SEC("tracepoint/syscalls/sys_enter_getppid")
int copy(void *ctx) {
  if ((bpf_get_current_pid_tgid() >> 32) != target_pid) return 0;
  u32 k0 = 0, k1 = 1;
  struct rec *in = bpf_map_lookup_elem(&recs, &k0);
  if (!in) return 0;
  struct rec out = *in;
  out.id = in->id + 1;
  out.color = GREEN;
  for (int i = 0; i < 4; i++) out.arr[i] = in->arr[i] * 2;
  out.pts[1].y = in->pts[0].y + 1;
  out.flag = !in->flag;
  out.neg = -in->neg;
  bpf_map_update_elem(&recs, &k1, &out, BPF_ANY);
  return 0;
}
char LICENSE[] SEC("license") = "GPL";
`;

interface Rec {
  id: number;
  color: { value: number; name: string | undefined };
  name: string;
  arr: number[];
  pts: { x: number; y: bigint }[];
  flag: boolean;
  neg: bigint;
}

Deno.test("a struct with nested arrays, an enum and char[] round-trips through a map and a program", async () => {
  const prog = await buildC("getppid_loop", GETPPID_LOOP);
  try {
    using b = await BPF.load({ text: ROUNDTRIP });
    const recs = b.map<
      number,
      Rec,
      Omit<Rec, "color"> & { color: string | number }
    >("recs");
    const input = {
      id: 41,
      color: "BLUE",
      name: "héllo",
      arr: [1, 2, 3, 65535],
      pts: [{ x: 7, y: 1n << 40n }, { x: 255, y: 0n }],
      flag: false,
      neg: 5n,
    };
    recs.set(0, input);
    const back = recs.get(0)!;
    assert.deepEqual(back, { ...input, color: { value: 40, name: "BLUE" } });
    // The program reads the layout we wrote and writes one we decode.
    const bss = b.map<number, { target_pid: number }>("bpfpm.bss");
    // The target pid is known before the child calls getppid: a shell waits, then execs it.
    const shell = new Deno.Command("sh", {
      args: ["-c", `read _; exec ${prog.path} 3`],
      stdin: "piped",
    }).spawn();
    bss.set(0, { target_pid: shell.pid });
    const w = shell.stdin.getWriter();
    await w.write(new TextEncoder().encode("go\n"));
    await w.close();
    assert.equal((await shell.status).success, true);
    const out = recs.get(1)!;
    assert.deepEqual(out, {
      id: 42,
      color: { value: 2, name: "GREEN" },
      name: "héllo",
      arr: [2, 4, 6, 65534],
      pts: [{ x: 7, y: 1n << 40n }, { x: 255, y: (1n << 40n) + 1n }],
      flag: true,
      neg: -5n,
    });
    assert.throws(
      () => recs.set(0, { ...input, name: "x".repeat(40) }),
      RangeError,
    );
  } finally {
    prog.cleanup();
  }
});

Deno.test("unknown maps are listed; maps fail clearly after close", async () => {
  const b = await BPF.load({ text: COUNTERS });
  const counts = b.map("counts");
  assert.throws(() => b.map("nope"), (e: Error) => {
    assert.ok(e instanceof RangeError);
    assert.match(e.message, /No map named "nope".*counts, pcpu, switches/);
    return true;
  });
  b.close();
  assert.throws(() => counts.get(1), ClosedError);
  assert.throws(() => b.map("counts"), /closed/);
});

const TAIL = `
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
struct { __uint(type, BPF_MAP_TYPE_PROG_ARRAY); __uint(max_entries, 2); __uint(key_size, 4); __uint(value_size, 4); } progs SEC(".maps");
struct { __uint(type, BPF_MAP_TYPE_ARRAY); __uint(max_entries, 1); __type(key, u32); __type(value, u64); } hits SEC(".maps");
u32 target_pid;
SEC("tracepoint/syscalls/sys_enter_getppid")
int entry(void *ctx) {
  if ((bpf_get_current_pid_tgid() >> 32) != target_pid) return 0;
  bpf_tail_call(ctx, &progs, 0);
  return 0;
}
SEC("tracepoint")
int tail(void *ctx) {
  u32 k = 0;
  u64 *v = bpf_map_lookup_elem(&hits, &k);
  if (v) __sync_fetch_and_add(v, 1);
  return 0;
}
char LICENSE[] SEC("license") = "GPL";
`;

Deno.test("a prog array takes a program's fd and tail calls reach it", async () => {
  const prog = await buildC("getppid_loop", GETPPID_LOOP);
  try {
    using b = await BPF.load({ text: TAIL });
    const progs = b.map<number, number, number | { fd: number }>("progs");
    const hits = b.map<number, bigint>("hits");
    const tail = b.programs.get("tail")!;
    progs.set(0, tail);
    assert.ok(progs.get(0)! > 0); // the kernel reads back the program's id
    const shell = new Deno.Command("sh", {
      args: ["-c", `echo ready; read _; exec ${prog.path} 50`],
      stdin: "piped",
      stdout: "piped",
    }).spawn();
    const out = shell.stdout.getReader();
    await out.read();
    out.releaseLock();
    await shell.stdout.cancel();
    const bss = b.map<number, { target_pid: number }>("bpfpm.bss");
    bss.set(0, { target_pid: shell.pid });
    const w = shell.stdin.getWriter();
    await w.write(new Uint8Array([10]));
    await w.close();
    assert.equal((await shell.status).success, true);
    assert.equal(hits.get(0), 50n);
    assert.equal(progs.delete(0), true);
    assert.equal(progs.get(0), undefined);
  } finally {
    prog.cleanup();
  }
});
