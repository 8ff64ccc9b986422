import assert from "node:assert/strict";
import { compileBpf } from "./_clang.ts";
import {
  helperId,
  helperName,
  inspectObject,
  kindFromBccName,
  kindFromSection,
  readElf,
  SHT,
} from "../../runtime/spec/mod.ts";
import { ObjectFormatError } from "../../runtime/errors.ts";

const SOURCE = `#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct key { __u32 pid; char comm[16]; };
struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 10240);
  __type(key, struct key);
  __type(value, __u64);
} counts SEC(".maps");
struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, 4);
  __uint(key_size, 4);
  __uint(value_size, 16);
  __uint(map_flags, BPF_F_NUMA_NODE);
} scratch SEC(".maps");
struct { __uint(type, BPF_MAP_TYPE_RINGBUF); __uint(max_entries, 1 << 18); } events SEC(".maps");
struct inner_map { __uint(type, BPF_MAP_TYPE_ARRAY); __uint(max_entries, 8); __type(key, __u32); __type(value, __u32); };
struct {
  __uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
  __uint(max_entries, 2);
  __type(key, __u32);
  __array(values, struct inner_map);
} outer SEC(".maps");
int hits;

static __attribute__((noinline)) int signal_it(int sig) { return bpf_send_signal(sig); }
__attribute__((noinline)) int redirect_it(int ifindex) { return bpf_redirect(ifindex, 0); }
static long loop_cb(__u32 i, void *ctx) { bpf_probe_write_user((void *)0, ctx, 0); return 0; }

SEC("tracepoint/syscalls/sys_enter_kill")
int on_kill(void *ctx) {
  struct key k = {};
  k.pid = bpf_get_current_pid_tgid() >> 32;
  bpf_get_current_comm(k.comm, sizeof k.comm);
  __u64 one = 1, *v = bpf_map_lookup_elem(&counts, &k);
  if (v) __sync_fetch_and_add(v, 1); else bpf_map_update_elem(&counts, &k, &one, BPF_ANY);
  hits++;
  return signal_it(9);
}
SEC("xdp") int on_xdp(struct xdp_md *ctx) { return redirect_it(1); }
SEC("uprobe//bin/bash:readline") int on_readline(void *ctx) { bpf_loop(2, loop_cb, 0, 0); return 0; }
SEC("raw_tp/sched_switch") int on_switch(void *ctx) { return 0; }
SEC("cgroup_skb/egress") int on_egress(struct __sk_buff *skb) { return 1; }
int kprobe__do_nanosleep(void *ctx) { return 0; }
char LICENSE[] SEC("license") = "Dual BSD/GPL";
`;

Deno.test("inspectObject reports programs, kinds, targets and helpers through subprograms", async () => {
  const spec = inspectObject(await compileBpf(SOURCE), { cpus: 4 });
  assert.equal(spec.license, "Dual BSD/GPL");
  const byName = new Map(spec.programs.map((p) => [p.name, p]));
  assert.deepEqual(
    [...byName.keys()].sort(),
    [
      "kprobe__do_nanosleep",
      "on_egress",
      "on_kill",
      "on_readline",
      "on_switch",
      "on_xdp",
    ],
  );
  const kill = byName.get("on_kill")!;
  assert.equal(kill.kind, "tracepoint");
  assert.equal(kill.target, "syscalls:sys_enter_kill");
  assert.equal(kill.section, "tracepoint/syscalls/sys_enter_kill");
  assert.deepEqual(
    kill.helpers.map(helperName),
    [
      "bpf_map_lookup_elem",
      "bpf_map_update_elem",
      "bpf_get_current_pid_tgid",
      "bpf_get_current_comm",
      "bpf_send_signal",
    ].sort((a, b) => helperId(a)! - helperId(b)!),
  );
  assert.deepEqual(kill.subprograms, ["signal_it"]);
  assert.equal(kill.instructions.length, kill.insnCount * 8);
  const xdp = byName.get("on_xdp")!;
  assert.equal(xdp.kind, "xdp");
  assert.deepEqual(xdp.helpers, [23]);
  assert.deepEqual(xdp.subprograms, ["redirect_it"]);
  const rl = byName.get("on_readline")!;
  assert.deepEqual([rl.kind, rl.target], ["uprobe", "/bin/bash:readline"]);
  assert.ok(
    rl.helpers.includes(36),
    "the bpf_loop callback's probe_write_user is found",
  );
  assert.ok(rl.helpers.includes(helperId("loop")!));
  assert.deepEqual([
    byName.get("on_switch")!.kind,
    byName.get("on_switch")!.target,
  ], [
    "raw_tp",
    "sched_switch",
  ]);
  assert.deepEqual([
    byName.get("on_egress")!.kind,
    byName.get("on_egress")!.target,
  ], [
    "cgroup",
    "skb/egress",
  ]);
  const bcc = byName.get("kprobe__do_nanosleep")!;
  assert.deepEqual([bcc.kind, bcc.target, bcc.section], [
    "kprobe",
    "do_nanosleep",
    ".text",
  ]);
  assert.ok(!byName.has("signal_it") && !byName.has("loop_cb"));
});

Deno.test("inspectObject reports maps with sizes, BTF ids and memory", async () => {
  const spec = inspectObject(await compileBpf(SOURCE), { cpus: 4 });
  const maps = new Map(spec.maps.map((m) => [m.name, m]));
  const counts = maps.get("counts")!;
  assert.equal(counts.type, "hash");
  assert.equal(counts.typeNumber, 1);
  assert.equal(counts.keySize, 20);
  assert.equal(counts.valueSize, 8);
  assert.equal(counts.maxEntries, 10240);
  assert.equal(spec.btf!.typeName(counts.btfKeyTypeId), "struct key");
  assert.equal(spec.btf!.typeName(counts.btfValueTypeId), "__u64");
  assert.equal(counts.memoryBytes, 16384 * 16 + (10240 + 4) * (48 + 24 + 8));
  const scratch = maps.get("scratch")!;
  assert.deepEqual(
    [
      scratch.type,
      scratch.keySize,
      scratch.valueSize,
      scratch.flags,
      scratch.btfKeyTypeId,
    ],
    ["percpu_array", 4, 16, 4, 0],
  );
  assert.equal(scratch.memoryBytes, 4 * (8 + 16 * 4));
  const events = maps.get("events")!;
  assert.deepEqual([events.type, events.maxEntries, events.keySize], [
    "ringbuf",
    1 << 18,
    0,
  ]);
  const outer = maps.get("outer")!;
  assert.equal(outer.type, "array_of_maps");
  assert.equal(outer.inner?.type, "array");
  assert.equal(outer.inner?.maxEntries, 8);
  const bss = maps.get(".bss")!;
  assert.deepEqual([bss.source, bss.valueSize], ["global-data", 4]);
});

Deno.test("section names and BCC names map to kinds like libbpf and BCC", () => {
  const cases: [string, string, string][] = [
    ["tp/sched/sched_switch", "tracepoint", "sched:sched_switch"],
    ["kprobe/do_unlinkat", "kprobe", "do_unlinkat"],
    ["kretprobe/do_unlinkat", "kretprobe", "do_unlinkat"],
    ["ksyscall/clone", "kprobe", "clone"],
    ["fentry/tcp_sendmsg", "fentry", "tcp_sendmsg"],
    ["fexit/tcp_sendmsg", "fexit", "tcp_sendmsg"],
    ["uretprobe/libc.so.6:malloc", "uretprobe", "libc.so.6:malloc"],
    ["usdt/libc.so.6:libc:setjmp", "usdt", "libc.so.6:libc:setjmp"],
    ["perf_event", "perf_event", ""],
    ["tc", "tc", ""],
    ["tc/ingress", "tc", "ingress"],
    ["classifier", "tc", ""],
    ["socket", "socket_filter", ""],
    ["cgroup/connect4", "cgroup", "connect4"],
    ["lsm/file_open", "lsm", "file_open"],
    ["iter/task", "iter", "task"],
    ["tp_btf/sched_switch", "tp_btf", "sched_switch"],
    ["raw_tracepoint/sys_enter", "raw_tp", "sys_enter"],
  ];
  for (const [sec, kind, target] of cases) {
    const info = kindFromSection(sec);
    assert.deepEqual([info?.kind, info?.target], [kind, target], sec);
  }
  assert.equal(kindFromSection("fentry.s/x")?.sleepable, true);
  assert.equal(kindFromSection("tpx/foo"), undefined);
  assert.equal(kindFromSection(".text"), undefined);
  assert.deepEqual(
    kindFromBccName("tracepoint__syscalls__sys_enter_openat")?.target,
    "syscalls:sys_enter_openat",
  );
  assert.deepEqual(
    kindFromBccName("kfunc__vmlinux__tcp_v4_connect")?.kind,
    "fentry",
  );
  assert.deepEqual(
    kindFromBccName("kfunc__vmlinux__tcp_v4_connect")?.target,
    "tcp_v4_connect",
  );
  assert.deepEqual(kindFromBccName("kretfunc__tcp_v4_connect")?.kind, "fexit");
  assert.deepEqual(kindFromBccName("lsm__bpf")?.kind, "lsm");
  assert.equal(kindFromBccName("helper_fn"), undefined);
});

Deno.test("inspectObject refuses files that are not BPF objects", async () => {
  assert.throws(() => inspectObject(new Uint8Array(100)), {
    name: "ObjectFormatError",
    message: /^Not a BPF object: Not an ELF file/,
  });
  const host = await Deno.readFile("/bin/true");
  assert.throws(
    () => inspectObject(host),
    (e) =>
      e instanceof ObjectFormatError &&
      /ELF machine is 62, not EM_BPF \(247\)/.test(e.message),
  );
});

Deno.test("inspectObject reads legacy maps sections", async () => {
  const spec = inspectObject(
    await compileBpf(`#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
struct bpf_map_def_legacy { unsigned int type, key_size, value_size, max_entries, map_flags; };
struct bpf_map_def_legacy SEC("maps") old_counts = { BPF_MAP_TYPE_HASH, 4, 8, 512, 1 };
struct bpf_map_def_legacy SEC("maps") old_arr = { BPF_MAP_TYPE_ARRAY, 4, 16, 4, 0 };
SEC("socket") int s(void *ctx) { return 0; }
char LICENSE[] SEC("license") = "GPL";
`),
    { cpus: 1 },
  );
  const legacy = spec.maps.filter((m) => m.source === "legacy").map((
    m,
  ) => [m.name, m.type, m.keySize, m.valueSize, m.maxEntries, m.flags]);
  assert.deepEqual(legacy.sort(), [
    ["old_arr", "array", 4, 16, 4, 0],
    ["old_counts", "hash", 4, 8, 512, 1],
  ]);
});

Deno.test("corrupt objects give ObjectFormatError, never a crash", async () => {
  const object = await compileBpf(SOURCE);
  const elf = readElf(object);
  // Mutate where inspection reads: headers, symbols, relocations, BTF, map definitions, code.
  const targets = elf.sections.filter((s) =>
    s.type === SHT.SYMTAB || s.type === SHT.REL || s.name.startsWith(".BTF") ||
    s.name === ".maps" ||
    s.name.startsWith("tracepoint/") || s.name === ".text"
  );
  let seed = 42;
  const rnd = () =>
    (seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff;
  let failures = 0;
  for (let i = 0; i < 3000; i++) {
    const bytes = object.slice();
    for (let k = 0; k < 1 + Math.floor(rnd() * 4); k++) {
      const s = targets[Math.floor(rnd() * targets.length)];
      bytes[s.offset + Math.floor(rnd() * s.size)] = Math.floor(rnd() * 256);
    }
    if (rnd() < 0.1) bytes[Math.floor(rnd() * 64)] = Math.floor(rnd() * 256);
    try {
      inspectObject(bytes, { cpus: 2 });
    } catch (e) {
      assert.ok(
        e instanceof ObjectFormatError,
        `mutation ${i}: ${(e as Error).stack}`,
      );
      failures++;
    }
  }
  assert.ok(failures > 0, "some mutations must be detected");
});
