/**
 * Programs typed at attach time, as BCC loads them (`load_func` inside `attach_*`): a
 * function whose kind the C does not say is loaded when it is attached, as that kind, with
 * the object's maps; a `struct pt_regs *` function attached to a syscall on a kernel without
 * kprobes reads its arguments and return value from the syscall's tracepoint, as auto-attach
 * does; `syscall__X` is attached by the program, never automatically.
 */
import assert from "node:assert/strict";
import { BPF } from "../../runtime/bpf.ts";
import { PermissionDeniedError } from "../../runtime/policy/check.ts";
import { lateStats } from "../../runtime/late.ts";
import { haveKprobes } from "../../runtime/attach/kprobe.ts";
import {
  childPath,
  load,
  rejects,
  runChild,
  runRegistered,
} from "./_helpers.ts";

const PID = "u32 pid = bpf_get_current_pid_tgid() >> 32;";
const REGISTERED = `${PID} if (!pids.lookup(&pid)) return 0;`;

Deno.test("profile-style: int on_sample(void *ctx) attached by name with attachPerfEvent samples the child", async () => {
  using b = await load(
    `
    BPF_HASH(pids, u32, u32);
    BPF_HASH(samples, u32, u64);
    int on_sample(void *ctx) {
      ${REGISTERED}
      samples.increment(pid);
      return 0;
    }`,
    { autoAttach: false },
  );
  assert.equal(b.programs.get("on_sample")?.section, "bcc/late");
  const link = b.attachPerfEvent("on_sample", {
    event: "cpu-clock",
    frequency: 999,
  });
  assert.equal(link.kind, "perf_event");
  const pid = await runRegistered(b.map("pids"), "spin:300:1");
  const n = b.map<number, bigint>("samples").get(pid) ?? 0n;
  assert.ok(n > 0n, `expected samples of a 300 ms spin at 999 Hz, got ${n}`);
});

Deno.test("do_perf_event(struct bpf_perf_event_data *ctx) reads the sampled registers' pid", async () => {
  using b = await load(
    `
    #include <uapi/linux/bpf_perf_event.h>
    BPF_HASH(pids, u32, u32);
    BPF_HASH(user_ips, u32, u64);
    int do_perf_event(struct bpf_perf_event_data *ctx) {
      ${REGISTERED}
      u64 ip = PT_REGS_IP(&ctx->regs);
      if (ip) user_ips.increment(pid);
      return 0;
    }`,
    { autoAttach: false },
  );
  b.attachPerfEvent("do_perf_event", { event: "cpu-clock", frequency: 999 });
  const pid = await runRegistered(b.map("pids"), "spin:300:1");
  assert.ok((b.map<number, bigint>("user_ips").get(pid) ?? 0n) > 0n);
});

Deno.test("a late program shares the object's maps with the programs loaded with it", async () => {
  using b = await load(`
    BPF_HASH(pids, u32, u32);
    BPF_HASH(counts, u32, u64);
    TRACEPOINT_PROBE(syscalls, sys_enter_getpid) {
      ${REGISTERED}
      u32 k = 1;
      counts.increment(k);
      return 0;
    }
    int on_getppid(void *ctx) {
      ${REGISTERED}
      u32 k = 2;
      counts.increment(k);
      return 0;
    }`);
  const before = lateStats.loads;
  b.attachTracepoint("on_getppid", "syscalls:sys_enter_getppid");
  assert.equal(lateStats.loads, before + 1);
  await runRegistered(b.map("pids"), "getpid:4", "getppid:6");
  const counts = b.map<number, bigint>("counts");
  assert.equal(counts.get(1), 4n);
  assert.equal(counts.get(2), 6n);
});

Deno.test("a void *ctx program attached twice as the same kind loads once", async () => {
  using b = await load(
    `
    BPF_HASH(calls, u32, u64);
    int on_id(void *ctx) { ${PID} calls.increment(pid); return 0; }`,
    { autoAttach: false },
  );
  const before = lateStats.loads;
  b.attachTracepoint("on_id", "syscalls:sys_enter_getpid");
  b.attachTracepoint("on_id", "syscalls:sys_enter_getppid");
  assert.equal(lateStats.loads, before + 1);
  const pid = await runChild("getpid:2", "getppid:3");
  assert.equal(b.map<number, bigint>("calls").get(pid), 5n);
});

Deno.test("a void *ctx program attached as a raw tracepoint and as a uprobe", async () => {
  using b = await load(
    `
    BPF_HASH(pids, u32, u32);
    BPF_HASH(hits, u32, u64);
    int on_hit(void *ctx) {
      ${REGISTERED}
      u32 k = bpf_get_current_pid_tgid() == 0 ? 0 : 1;
      hits.increment(k);
      return 0;
    }`,
    { autoAttach: false },
  );
  b.attachRawTracepoint("on_hit", "sys_enter");
  const bin = await childPath();
  b.attachUprobe("on_hit", { binary: bin, symbol: "bpfpm_leaf" });
  assert.deepEqual(b.links.map((l) => l.kind).sort(), ["raw_tp", "uprobe"]);
  await runRegistered(b.map("pids"), "stack:3");
  // Every syscall the child makes (at least the 3 getppid) plus 3 uprobe hits.
  assert.ok((b.map<number, bigint>("hits").get(1) ?? 0n) >= 6n);
});

Deno.test("a syscall kretprobe attached explicitly reads PT_REGS_RC", async () => {
  using b = await load(
    `
    BPF_HASH(rets, u32, long);
    int trace_return(struct pt_regs *ctx) {
      ${PID}
      long rc = PT_REGS_RC(ctx);
      rets.update(&pid, &rc);
      return 0;
    }`,
    { autoAttach: false },
  );
  b.attachKretprobe("trace_return", "__x64_sys_getppid");
  const pid = await runChild("getppid:1");
  assert.equal(b.map<number, bigint>("rets").get(pid), BigInt(Deno.pid));
});

Deno.test("opensnoop-style: a pt_regs function with arguments attached explicitly to a syscall's entry", async () => {
  using b = await load(
    `
    struct open_t { int dfd; int same; char name[32]; };
    BPF_HASH(opens, u32, struct open_t);
    int trace_entry(struct pt_regs *ctx, int dfd, const char __user *filename) {
      ${PID}
      struct open_t o = { .dfd = dfd };
      o.same = (const char *)PT_REGS_PARM2(ctx) == filename;
      bpf_probe_read_user_str(o.name, sizeof(o.name), filename);
      opens.update(&pid, &o);
      return 0;
    }`,
    { autoAttach: false },
  );
  b.attachKprobe("trace_entry", "__x64_sys_openat");
  const pid = await runChild("open:/etc/hostname:1");
  assert.deepEqual(b.map("opens").get(pid), {
    dfd: -100,
    same: 1,
    name: "/etc/hostname",
  });
});

Deno.test("statsnoop-style: syscall__path_entry attached to two syscalls, and its return", async () => {
  using b = await load(
    `
    struct key_t { u32 pid; char name[16]; };
    BPF_HASH(pids, u32, u32);
    BPF_HASH(paths, struct key_t, u64);
    BPF_HASH(rets, u32, long);
    int syscall__path_entry(struct pt_regs *ctx, const char __user *filename) {
      ${REGISTERED}
      struct key_t k = { .pid = pid };
      bpf_probe_read_user_str(k.name, sizeof(k.name), filename);
      paths.increment(k);
      return 0;
    }
    int trace_return(struct pt_regs *ctx) {
      ${REGISTERED}
      long rc = PT_REGS_RC(ctx);
      rets.update(&pid, &rc);
      return 0;
    }`,
  );
  assert.equal(b.links.length, 0, "syscall__ is not auto-attached");
  for (const sys of ["statfs", "chdir"]) {
    b.attachKprobe("syscall__path_entry", `__x64_sys_${sys}`);
  }
  b.attachKretprobe("trace_return", "__x64_sys_chdir");
  const pid = await runRegistered(
    b.map("pids"),
    "statfs:/tmp:2",
    "chdir:/:1",
  );
  const paths = b.map<{ pid: number; name: string }, bigint>("paths");
  assert.equal(paths.get({ pid, name: "/tmp" }), 2n);
  assert.equal(paths.get({ pid, name: "/" }), 1n);
  assert.equal(b.map<number, bigint>("rets").get(pid), 0n);
});

Deno.test("grants: a late program's kind is checked when it is attached, its helpers at load", async () => {
  const text = `
    BPF_HASH(calls, u32, u64);
    int on_event(void *ctx) { ${PID} calls.increment(pid); return 0; }`;
  using b = await BPF.load({
    text,
    autoAttach: false,
    grants: { attach: [{ kind: "tracepoint", target: "syscalls:*" }] },
  });
  const before = lateStats.loads;
  const denied = await rejects(
    () => b.attachPerfEvent("on_event", { event: "cpu-clock", frequency: 99 }),
    PermissionDeniedError,
  );
  assert.match(denied.message, /perf_event/);
  await rejects(
    () => b.attachTracepoint("on_event", "sched:sched_switch"),
    PermissionDeniedError,
  );
  assert.equal(
    lateStats.loads,
    before,
    "nothing was loaded for a denied attach",
  );
  b.attachTracepoint("on_event", "syscalls:sys_enter_getppid");
  const pid = await runChild("getppid:2");
  assert.equal(b.map<number, bigint>("calls").get(pid), 2n);
  const signal = await rejects(
    () =>
      BPF.load({
        text: `int on_event(void *ctx) { bpf_send_signal(9); return 0; }`,
        autoAttach: false,
        grants: { attach: [{ kind: "perf_event" }] },
      }),
    PermissionDeniedError,
  );
  assert.match(signal.message, /send_signal/);
});

Deno.test("without kprobes, attaching a late program as a kprobe to a kernel function says why", async () => {
  if (haveKprobes()) return;
  using b = await load(
    `int on_fn(void *ctx) { return 0; }`,
    { autoAttach: false },
  );
  assert.throws(
    () => b.attachKprobe("on_fn", "tcp_v4_connect"),
    /no kprobes|CONFIG_KPROBES/,
  );
});
