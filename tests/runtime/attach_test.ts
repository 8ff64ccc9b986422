/**
 * Attach kinds of the core: tracepoint, raw tracepoint and tp_btf, auto-attached by section
 * name or attached by hand; each link counts real events in a map and detaches on close.
 */
import assert from "node:assert/strict";
import { BPF } from "../../mod.ts";
import { uniqueName, waitGone } from "./_helpers.ts";

const COUNTERS = `
struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, 3);
  __type(key, __u32);
  __type(value, __u64);
} counts SEC(".maps");

static void bump(__u32 k) {
  if ((bpf_get_current_pid_tgid() >> 32) != TARGET) return;
  __u64 *v = bpf_map_lookup_elem(&counts, &k);
  if (v) __sync_fetch_and_add(v, 1);
}
`;

function countsOf(b: BPF): bigint[] {
  const m = b.map<number, bigint>("counts");
  return [0, 1, 2].map((k) => m.get(k) ?? 0n);
}

Deno.test("auto-attach: tracepoint/, raw_tp/ and tp_btf/ sections each see this process's events", async () => {
  const name = uniqueName();
  const b = await BPF.load({
    cflags: [`-DTARGET=${Deno.pid}`],
    text: `${COUNTERS}
SEC("tracepoint/syscalls/sys_enter_kill") int ${name}_tp(void *ctx) { bump(0); return 0; }
SEC("raw_tp/sys_enter") int ${name}_raw(void *ctx) { bump(1); return 0; }
SEC("tp_btf/sched_switch") int BPF_PROG(${name}_btf, bool preempt, struct task_struct *prev) {
  bump(2);
  return 0;
}
char LICENSE[] SEC("license") = "GPL";`,
  });
  const ids = [...b.programs.values()].map((p) => p.id);
  try {
    assert.deepEqual(
      b.links.map((l) => l.kind).sort(),
      ["raw_tp", "tp_btf", "tracepoint"],
    );
    for (let i = 0; i < 20; i++) {
      Deno.kill(Deno.pid, "SIGCONT");
      await new Promise((r) => setTimeout(r, 5));
    }
    const [tp, raw, btf] = countsOf(b);
    assert.ok(tp > 0n, `tracepoint count ${tp}`);
    assert.ok(raw > 0n, `raw_tp count ${raw}`);
    assert.ok(btf > 0n, `tp_btf count ${btf}`);
  } finally {
    b.close();
  }
  assert.deepEqual(await waitGone(ids), []);
});

Deno.test("by hand: attachTracepoint / attachRawTracepoint return links that detach on dispose", async () => {
  const name = uniqueName();
  using b = await BPF.load({
    autoAttach: false,
    cflags: [`-DTARGET=${Deno.pid}`],
    text: `${COUNTERS}
SEC("tracepoint") int ${name}_tp(void *ctx) { bump(0); return 0; }
SEC("raw_tp") int ${name}_raw(void *ctx) { bump(1); return 0; }
char LICENSE[] SEC("license") = "GPL";`,
  });
  assert.equal(b.links.length, 0);
  const kick = async () => {
    for (let i = 0; i < 10; i++) {
      Deno.kill(Deno.pid, "SIGCONT");
      await new Promise((r) => setTimeout(r, 2));
    }
  };
  {
    using tp = b.attachTracepoint(`${name}_tp`, "syscalls:sys_enter_kill");
    using raw = b.attachRawTracepoint(
      b.programs.get(`${name}_raw`)!,
      "sys_enter",
    );
    assert.equal(tp.target, "syscalls:sys_enter_kill");
    assert.equal(raw.kind, "raw_tp");
    await kick();
  }
  const [tp1, raw1] = countsOf(b);
  assert.ok(tp1 > 0n && raw1 > 0n, `counts ${tp1} ${raw1}`);
  await kick();
  const [tp2, raw2] = countsOf(b);
  assert.equal(tp2, tp1, "detached tracepoint still counting");
  assert.equal(raw2, raw1, "detached raw tracepoint still counting");
  assert.throws(
    () => b.attachTracepoint(`${name}_tp`, "syscalls:sys_enter_nope"),
    /Tracepoint syscalls:sys_enter_nope does not exist on this kernel/,
  );
  assert.throws(
    () => b.attachTracepoint("nope", "syscalls:sys_enter_kill"),
    RangeError,
  );
});
