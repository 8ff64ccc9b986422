import assert from "node:assert/strict";
import { AttachError, BPF, Errno, features, Link } from "bpf";
import { thrown, withBuilt } from "./_helpers.ts";

const TARGET = `
#include <stdlib.h>
__attribute__((noinline)) int target_fn(int x) { __asm__ volatile(""); return x + 1; }
int main(int argc, char **argv) { int s = 0; for (int i = 0; i < atoi(argv[1]); i++) s += target_fn(i); return s == -1; }`;

async function runTarget(bin: string, n: number) {
  assert.ok(
    (await new Deno.Command(bin, { args: [String(n)] }).output()).success,
  );
}

/** A program counting calls of the target's target_fn, under a uprobe section `prefix`. */
function uprobeCounter(prefix: string, bin: string): string {
  return `
struct { __uint(type, BPF_MAP_TYPE_ARRAY); __uint(max_entries, 1); __type(key, __u32); __type(value, __u64); } calls SEC(".maps");
SEC("${prefix}/${bin}:target_fn") int on_call(struct pt_regs *ctx) {
  __u32 k = 0; __u64 *v = bpf_map_lookup_elem(&calls, &k);
  if (v) __sync_fetch_and_add(v, 1);
  return 0;
}
char LICENSE[] SEC("license") = "GPL";`;
}

/** Runs `fn` with the target binary built in a temp dir, removed after. */
const withTarget = (fn: (bin: string) => Promise<void>) =>
  withBuilt(TARGET, fn);

Deno.test("BPF.load auto-attaches uprobe sections; close() detaches", async () => {
  await withTarget(async (bin) => {
    const b = await BPF.load({ text: uprobeCounter("uprobe", bin) });
    try {
      const [link] = b.links;
      assert.ok(link instanceof Link, "an auto-attached uprobe is a Link");
      assert.equal(link.kind, "uprobe");
      await runTarget(bin, 6);
      assert.equal(b.map<number, bigint>("calls").get(0), 6n);
      b.close();
      assert.equal(link.attached, false);
    } finally {
      b.close();
    }
  });
});

Deno.test("BPF.load auto-attaches a sleepable uprobe.s/ section as it does uprobe/", async () => {
  await withTarget(async (bin) => {
    using b = await BPF.load({ text: uprobeCounter("uprobe.s", bin) });
    assert.equal(b.links.length, 1);
    assert.equal(b.links[0].kind, "uprobe");
    await runTarget(bin, 4);
    assert.equal(b.map<number, bigint>("calls").get(0), 4n);
  });
});

Deno.test("BPF.load checks fentry.s/, fexit.s/ and lsm.s/ sections before loading, as their plain kinds", async () => {
  const cases = [
    ["fentry", "fentry.s/do_unlinkat"],
    ["fexit", "fexit.s/do_unlinkat"],
    ["lsm", "lsm.s/file_open"],
  ] as const;
  for (const [kind, section] of cases) {
    const support = features().attach[kind];
    const text = `
SEC("${section}") int BPF_PROG(on_it) { return 0; }
char LICENSE[] SEC("license") = "GPL";`;
    if (support.supported) {
      using b = await BPF.load({ text });
      assert.equal(b.links[0]?.kind, kind, section);
      continue;
    }
    await assert.rejects(
      BPF.load({ text }),
      (e: unknown) =>
        // Refused by auto-attach's check before load ("Cannot attach"), not by the load.
        e instanceof AttachError && e.message.includes(support.reason!) &&
        e.message.startsWith(`Cannot attach program 'on_it' as ${kind} `),
      section,
    );
  }
});

Deno.test("BPF.load names the BTF-typed program whose target the kernel lacks (ESRCH), not another", async () => {
  const iter = features().attach.iter;
  if (!iter.supported) return; // refused earlier, for the missing kind
  await assert.rejects(
    BPF.load({
      text: `
SEC("iter/task") int fine(struct bpf_iter__task *ctx) { return 0; }
SEC("iter/bpfpm_no_such_iter") int wrong(struct bpf_iter__task *ctx) { return 0; }
char LICENSE[] SEC("license") = "GPL";`,
    }),
    (e: unknown) =>
      e instanceof AttachError && e.program === "wrong" &&
      e.errno === Errno.ESRCH &&
      e.message.includes("names 'bpfpm_no_such_iter'"),
  );
});

Deno.test("BPF.load: a ksyscall program falls back to the syscall tracepoint", async () => {
  using b = await BPF.load({
    text: `
struct { __uint(type, BPF_MAP_TYPE_ARRAY); __uint(max_entries, 1); __type(key, __u32); __type(value, __u64); } opens SEC(".maps");
SEC("ksyscall/openat") int count_openat(void *ctx) {
  if ((bpf_get_current_pid_tgid() >> 32) != PID) return 0;
  __u32 k = 0; __u64 *v = bpf_map_lookup_elem(&opens, &k);
  if (v) __sync_fetch_and_add(v, 1);
  return 0;
}
char LICENSE[] SEC("license") = "GPL";`,
    cflags: [`-DPID=${Deno.pid}`],
  });
  const before = b.map<number, bigint>("opens").get(0)!;
  for (let i = 0; i < 5; i++) Deno.openSync("/etc/hostname").close();
  const counted = b.map<number, bigint>("opens").get(0)! - before;
  assert.ok(counted >= 5n, `counted ${counted}`);
  const [link] = b.links;
  assert.ok(link instanceof Link, "a syscall fallback is a Link");
  assert.equal(link.kind, "kprobe");
  if (!features().attach.kprobe.supported) {
    assert.equal(link.target, "syscalls:sys_enter_openat");
  }
});

Deno.test("BPF.load refuses an fentry program before loading where ftrace is denied", async () => {
  const fentry = features().attach.fentry;
  if (fentry.supported) return; // the kernel has it: nothing to refuse
  await assert.rejects(
    BPF.load({
      text: `
SEC("fentry/do_unlinkat") int BPF_PROG(on_unlink, int dfd, struct filename *name) { return 0; }
char LICENSE[] SEC("license") = "GPL";`,
    }),
    (e: unknown) =>
      e instanceof AttachError && /ftrace function ops/.test(e.message),
  );
});

Deno.test("b.attachX methods take a program name and tie the link to the object", async () => {
  using b = await BPF.load({
    text: `
SEC("socket") int count(struct __sk_buff *skb) { return 0; }
SEC("xdp") int pass(struct xdp_md *ctx) { return XDP_PASS; }
char LICENSE[] SEC("license") = "GPL";`,
    autoAttach: false,
  });
  const link = b.attachSocketFilter("count", { ifname: "lo" });
  assert.ok(link instanceof Link, "b.attachSocketFilter returns a Link");
  assert.ok(b.links.includes(link));
  thrown(() => b.attachXdp("pass", "bpfpm_none0"), AttachError);
  b.close();
  assert.equal(link.attached, false);
});

Deno.test("BPF.load refuses an LSM program before loading where the kernel cannot attach it", async () => {
  const lsm = features().attach.lsm;
  const text = `
SEC("lsm/file_open") int BPF_PROG(on_open, struct file *file) { return 0; }
char LICENSE[] SEC("license") = "GPL";`;
  if (lsm.supported) {
    using b = await BPF.load({ text });
    assert.ok(b.links[0] instanceof Link);
    assert.equal(b.links[0].kind, "lsm");
    return;
  }
  await assert.rejects(
    BPF.load({ text }),
    (e: unknown) => e instanceof AttachError && e.message.includes(lsm.reason!),
  );
});

Deno.test("perf_event: a hardware event on a machine without a PMU says so", async () => {
  using b = await BPF.load({
    text: `SEC("perf_event") int s(void *ctx) { return 0; }
char LICENSE[] SEC("license") = "GPL";`,
    autoAttach: false,
  });
  try {
    using link = b.attachPerfEvent("s", { event: "cpu-cycles", frequency: 99 });
    assert.ok(link.count > 0, "this machine has hardware counters");
  } catch (error) {
    assert.ok(error instanceof AttachError);
    assert.match(
      error.message,
      /lack hardware counters: use a software event such as cpu-clock/,
    );
  }
});

Deno.test("BPF.load without auto-attach names the missing feature when fentry cannot load", async () => {
  const fentry = features().attach.fentry;
  if (fentry.supported) return;
  await assert.rejects(
    BPF.load({
      text: `
SEC("fentry/do_unlinkat") int BPF_PROG(on_unlink, int dfd, struct filename *name) { return 0; }
char LICENSE[] SEC("license") = "GPL";`,
      autoAttach: false,
    }),
    (e: unknown) =>
      e instanceof AttachError && e.program === "on_unlink" &&
      e.message.includes(fentry.reason!),
  );
});

Deno.test("BCC kprobe__ names: a kernel function says kprobes are missing, a syscall falls back", async () => {
  if (features().attach.kprobe.supported) return; // nothing is missing to report
  await assert.rejects(
    BPF.load({
      text: `int kprobe__do_sys_openat2(struct pt_regs *ctx) { return 0; }`,
    }),
    (e: unknown) =>
      e instanceof AttachError &&
      /this kernel has no kprobes \(CONFIG_KPROBES is not set\)/.test(
        e.message,
      ),
  );
  using b = await BPF.load({
    text: `
BPF_ARRAY(opens, u64, 1);
int kprobe__sys_openat(struct pt_regs *ctx, int dfd, const char __user *filename) {
  if ((bpf_get_current_pid_tgid() >> 32) != PID) return 0;
  int k = 0; u64 *v = opens.lookup(&k);
  if (v) __sync_fetch_and_add(v, 1);
  return 0;
}`,
    cflags: [`-DPID=${Deno.pid}`],
  });
  for (let i = 0; i < 3; i++) Deno.openSync("/etc/hostname").close();
  assert.ok(b.map<number, bigint>("opens").get(0)! >= 3n);
});
