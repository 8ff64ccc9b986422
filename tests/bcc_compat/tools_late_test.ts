/**
 * More programs in the manner of BCC's tools that attach by name, typed at attach time:
 * killsnoop's entry/return pair, a uprobe reading its argument from registers, a uretprobe on
 * a `void *ctx` function, profile's sampled stacks, hello_world's trace_print, runqlen's
 * parameterless sampler and mountsnoop's big event.
 */
import assert from "node:assert/strict";
import { AttachError } from "../../runtime/errors.ts";
import { haveKprobes } from "../../runtime/attach/kprobe.ts";
import {
  CHILD_COMM,
  childPath,
  holdTraceFields,
  load,
  runRegistered,
} from "./_helpers.ts";

const REGISTERED =
  "u32 pid = bpf_get_current_pid_tgid() >> 32; if (!pids.lookup(&pid)) return 0;";

Deno.test("killsnoop-style: syscall__kill and its return attached by name, events decoded with no type", async () => {
  using b = await load(
    `
    #include <uapi/linux/ptrace.h>
    #include <linux/sched.h>
    struct val_t { u32 pid; int sig; int tpid; char comm[TASK_COMM_LEN]; };
    struct data_t { u32 pid; int tpid; int sig; int ret; char comm[TASK_COMM_LEN]; };
    BPF_HASH(pids, u32, u32);
    BPF_HASH(infotmp, u32, struct val_t);
    BPF_PERF_OUTPUT(events);
    int syscall__kill(struct pt_regs *ctx, int tpid, int sig) {
      ${REGISTERED}
      struct val_t val = { .pid = pid, .tpid = tpid, .sig = sig };
      if (bpf_get_current_comm(&val.comm, sizeof(val.comm)) == 0)
        infotmp.update(&pid, &val);
      return 0;
    }
    int do_ret_sys_kill(struct pt_regs *ctx) {
      ${REGISTERED}
      struct val_t *valp = infotmp.lookup(&pid);
      if (valp == 0) return 0;
      struct data_t data = {};
      data.pid = pid;
      data.tpid = valp->tpid;
      data.ret = PT_REGS_RC(ctx);
      data.sig = valp->sig;
      __builtin_memcpy(data.comm, valp->comm, sizeof(data.comm));
      events.perf_submit(ctx, &data, sizeof(data));
      infotmp.delete(&pid);
      return 0;
    }`,
  );
  b.attachKprobe("syscall__kill", "__x64_sys_kill");
  b.attachKretprobe("do_ret_sys_kill", "__x64_sys_kill");
  const events = b.perfBuffer("events");
  const pid = await runRegistered(b.map("pids"), "kill0:2");
  const got = [];
  for await (const e of events) {
    got.push(e);
    if (got.length === 2) break;
  }
  const one = { pid, tpid: Deno.pid, sig: 0, ret: 0, comm: CHILD_COMM };
  assert.deepEqual(got, [one, one]);
});

Deno.test("a struct pt_regs * function attached as a uprobe reads PT_REGS_PARM1", async () => {
  using b = await load(
    `
    BPF_HASH(pids, u32, u32);
    BPF_HASH(args, u32, u64);
    int on_leaf(struct pt_regs *ctx) {
      ${REGISTERED}
      u64 n = PT_REGS_PARM1(ctx);
      args.update(&pid, &n);
      return 0;
    }`,
    { autoAttach: false },
  );
  b.attachUprobe("on_leaf", {
    binary: await childPath(),
    symbol: "bpfpm_leaf",
  });
  const pid = await runRegistered(b.map("pids"), "leaf:7:1");
  assert.equal(b.map<number, bigint>("args").get(pid), 7n);
});

Deno.test("bashreadline-style: a void *ctx function attached as a uretprobe", async () => {
  using b = await load(
    `
    BPF_HASH(pids, u32, u32);
    BPF_HASH(returns, u32, u64);
    int printret(void *ctx) {
      ${REGISTERED}
      returns.increment(pid);
      return 0;
    }`,
    { autoAttach: false },
  );
  b.attachUretprobe("printret", {
    binary: await childPath(),
    symbol: "bpfpm_leaf",
  });
  const pid = await runRegistered(b.map("pids"), "leaf:1:3");
  assert.equal(b.map<number, bigint>("returns").get(pid), 3n);
});

Deno.test("profile-style: do_perf_event counts user stacks by comm, attached by name", async () => {
  using b = await load(
    `
    #include <uapi/linux/ptrace.h>
    #include <uapi/linux/bpf_perf_event.h>
    #include <linux/sched.h>
    struct key_t { u32 pid; int user_stack_id; char name[TASK_COMM_LEN]; };
    BPF_HASH(pids, u32, u32);
    BPF_HASH(counts, struct key_t);
    BPF_STACK_TRACE(stack_traces, 1024);
    int do_perf_event(struct bpf_perf_event_data *ctx) {
      ${REGISTERED}
      struct key_t key = { .pid = pid };
      bpf_get_current_comm(&key.name, sizeof(key.name));
      key.user_stack_id = stack_traces.get_stackid(&ctx->regs, BPF_F_USER_STACK);
      counts.increment(key);
      return 0;
    }`,
    { autoAttach: false },
  );
  b.attachPerfEvent("do_perf_event", { event: "cpu-clock", frequency: 999 });
  const pid = await runRegistered(b.map("pids"), "spin:300:1");
  const keys = [
    ...b.map<{ pid: number; user_stack_id: number; name: string }, bigint>(
      "counts",
    ).entries(),
  ].filter(([k]) => k.pid === pid && k.name === CHILD_COMM);
  assert.ok(keys.length > 0, "no sample of the child after its exec");
  assert.ok(keys.some(([k]) => k.user_stack_id >= 0));
  const total = keys.reduce((s, [, n]) => s + n, 0n);
  assert.ok(total > 0n, `samples: ${total}`);
});

Deno.test("hello_world: int hello(void *ctx) attached as a kprobe on a syscall, bpf_trace_printk read back", async () => {
  const tag = `bpfpm-${crypto.randomUUID().slice(0, 8)}`;
  using b = await load(
    `
    BPF_HASH(pids, u32, u32);
    int hello(void *ctx) {
      ${REGISTERED}
      bpf_trace_printk("${tag} %d\\n", pid);
      return 0;
    }`,
    { autoAttach: false },
  );
  b.attachKprobe("hello", "__x64_sys_getppid");
  const lines = await holdTraceFields(b);
  const pid = await runRegistered(b.map("pids"), "getppid:1");
  const timer = setTimeout(() => b.close(), 10_000);
  try {
    for (let f = await lines.next(); f; f = await lines.next()) {
      if (!f.msg.startsWith(tag)) continue;
      assert.equal(f.msg, `${tag} ${pid}`);
      assert.equal(f.pid, pid);
      return;
    }
    assert.fail("no trace line from the child");
  } finally {
    clearTimeout(timer);
  }
});

Deno.test("runqlen-style: int do_perf_event() with no parameters, reading through the program's own partial struct", async () => {
  using b = await load(
    `
    #include <linux/sched.h>
    struct cfs_rq_partial {
      struct load_weight load;
      unsigned int nr_running, h_nr_running;
    };
    struct pair_t { u32 mine; u32 kernels; };
    BPF_HASH(pids, u32, u32);
    BPF_HASH(lens, u32, struct pair_t);
    int do_perf_event() {
      ${REGISTERED}
      struct task_struct *task = NULL;
      struct cfs_rq_partial *my_q = NULL;
      task = (struct task_struct *)bpf_get_current_task();
      my_q = (struct cfs_rq_partial *)task->se.cfs_rq;
      struct pair_t p = {};
      p.mine = my_q->nr_running;
      p.kernels = BPF_CORE_READ(task, se.cfs_rq, nr_queued);
      lens.update(&pid, &p);
      return 0;
    }`,
    { autoAttach: false },
  );
  assert.equal(b.programs.get("do_perf_event")?.section, "bcc/late");
  b.attachPerfEvent("do_perf_event", { event: "cpu-clock", frequency: 999 });
  const pid = await runRegistered(b.map("pids"), "spin:300:1");
  const p = b.map<number, { mine: number; kernels: number }>("lens").get(pid);
  assert.ok(p, "no sample of the child");
  assert.ok(p.kernels >= 1, `a running task's queue holds it: ${p.kernels}`);
  assert.equal(p.mine, p.kernels);
});

Deno.test("mountsnoop-style: a syscall__ with five arguments and a 400-byte event fits the stack", async () => {
  using b = await load(
    `
    struct data_t { u32 pid; int dfd; int flags; char str[400]; };
    BPF_HASH(pids, u32, u32);
    BPF_PERF_OUTPUT(events);
    int syscall__openat(struct pt_regs *ctx, int dfd, const char __user *filename,
                        int flags, unsigned short mode, void *unused) {
      ${REGISTERED}
      struct data_t event = {};
      event.pid = pid;
      event.dfd = dfd;
      event.flags = flags;
      bpf_probe_read_user_str(event.str, sizeof(event.str), filename);
      events.perf_submit(ctx, &event, sizeof(event));
      return 0;
    }`,
  );
  b.attachKprobe("syscall__openat", "__x64_sys_openat");
  const events = b.perfBuffer<{ pid: number; dfd: number; str: string }>(
    "events",
  );
  const pid = await runRegistered(b.map("pids"), "open:/etc/hostname:1");
  for await (const e of events) {
    if (e.str !== "/etc/hostname") continue;
    assert.equal(e.pid, pid);
    assert.equal(e.dfd, -100);
    break;
  }
});

Deno.test("mountsnoop-style: a kretprobe's static helper reads PT_REGS_RC(ctx), the entry's helper PT_REGS_PARM1(ctx)", async () => {
  using b = await load(
    `
    struct val_t { u64 arg; long ret; };
    BPF_HASH(pids, u32, u32);
    BPF_HASH(vals, u32, struct val_t);
    static int __note_arg(struct pt_regs *ctx, u32 pid) {
      struct val_t v = { .arg = PT_REGS_PARM1(ctx) };
      vals.update(&pid, &v);
      return 0;
    }
    static int __do_ret_sys(struct pt_regs *ctx, u32 pid) {
      struct val_t *v = vals.lookup(&pid);
      if (v) v->ret = PT_REGS_RC(ctx);
      return 0;
    }
    int syscall__kill(struct pt_regs *ctx) {
      ${REGISTERED}
      return __note_arg(ctx, pid);
    }
    int do_ret_sys_kill(struct pt_regs *ctx) {
      ${REGISTERED}
      return __do_ret_sys(ctx, pid);
    }`,
  );
  b.attachKprobe("syscall__kill", "__x64_sys_kill");
  b.attachKretprobe("do_ret_sys_kill", "__x64_sys_kill");
  const pid = await runRegistered(b.map("pids"), "kill0:1");
  assert.deepEqual(b.map("vals").get(pid), { arg: BigInt(Deno.pid), ret: 0n });
});

Deno.test("without kprobes, a syscall probe reading registers through ctx directly is refused with the reason", async () => {
  if (haveKprobes()) return;
  using b = await load(
    `
    BPF_HASH(rets, u32, long);
    int do_ret(struct pt_regs *ctx) {
      u32 pid = bpf_get_current_pid_tgid() >> 32;
      long rc = ctx->ax;
      rets.update(&pid, &rc);
      return 0;
    }`,
    { autoAttach: false },
  );
  assert.throws(
    () => b.attachKretprobe("do_ret", "__x64_sys_getppid"),
    (e: Error) =>
      e instanceof AttachError &&
      /reads registers through ctx beyond the syscall's record/.test(e.message),
  );
});
