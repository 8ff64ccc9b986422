/**
 * Programs in the style of BCC's tools (execsnoop, a fork tracker in the runqlat style),
 * with their includes, enums, static helpers, loops and perf events, loaded for real.
 */
import assert from "node:assert/strict";
import { load, runChild } from "./_helpers.ts";

Deno.test("execsnoop-style: syscall__execve arguments, the return value, ppid and comm, through perf events", async () => {
  using b = await load(
    `
    #include <uapi/linux/ptrace.h>
    #include <linux/sched.h>
    #include <linux/fs.h>

    #define ARGSIZE 32
    #define MAXARG 4

    enum event_type { EVENT_ARG, EVENT_RET };

    struct data_t {
      u32 pid;
      u32 ppid;
      char comm[TASK_COMM_LEN];
      enum event_type type;
      char argv[ARGSIZE];
      int retval;
    };

    BPF_PERF_OUTPUT(events);

    static int __submit_arg(struct pt_regs *ctx, void *ptr, struct data_t *data) {
      bpf_probe_read_user(data->argv, sizeof(data->argv), ptr);
      events.perf_submit(ctx, data, sizeof(struct data_t));
      return 1;
    }

    static int submit_arg(struct pt_regs *ctx, void *ptr, struct data_t *data) {
      const char *argp = NULL;
      bpf_probe_read_user(&argp, sizeof(argp), ptr);
      if (argp) return __submit_arg(ctx, (void *)(argp), data);
      return 0;
    }

    int syscall__execve(struct pt_regs *ctx, const char __user *filename,
                        const char __user *const __user *__argv,
                        const char __user *const __user *__envp) {
      struct data_t data = {};
      struct task_struct *task;
      data.pid = bpf_get_current_pid_tgid() >> 32;
      if (data.pid != FILTER_PID) return 0;
      task = (struct task_struct *)bpf_get_current_task();
      data.ppid = task->real_parent->tgid;
      bpf_get_current_comm(&data.comm, sizeof(data.comm));
      data.type = EVENT_ARG;
      __submit_arg(ctx, (void *)filename, &data);
      #pragma unroll
      for (int i = 1; i < MAXARG; i++) {
        if (submit_arg(ctx, (void *)&__argv[i], &data) == 0) goto out;
      }
    out:
      return 0;
    }

    int kretprobe__sys_execve(struct pt_regs *ctx) {
      struct data_t data = {};
      data.pid = bpf_get_current_pid_tgid() >> 32;
      if (data.pid != FILTER_PID) return 0;
      bpf_get_current_comm(&data.comm, sizeof(data.comm));
      data.type = EVENT_RET;
      data.retval = PT_REGS_RC(ctx);
      events.perf_submit(ctx, &data, sizeof(data));
      return 0;
    }`,
    { cflags: [`-DFILTER_PID=${await stoppedChildPid()}`] },
  );
  b.attachKprobe("syscall__execve", "__x64_sys_execve");
  interface Data {
    pid: number;
    ppid: number;
    comm: string;
    type: { value: number; name: string };
    argv: string;
    retval: number;
  }
  using events = b.perfBuffer<Data>("events", {
    type: "struct data_t",
    signal: AbortSignal.timeout(10_000),
  });
  const pid = await continueStoppedChild();
  const got: Data[] = [];
  for await (const e of events) {
    got.push(e);
    if (e.type.name === "EVENT_RET") break;
  }
  assert.ok(got.every((e) => e.pid === pid));
  assert.ok(
    got.filter((e) => e.type.name === "EVENT_ARG").every((e) =>
      e.ppid === Deno.pid
    ),
  );
  assert.deepEqual(
    got.filter((e) => e.type.name === "EVENT_ARG").map((e) => e.argv),
    [
      "/bin/echo",
      "alpha",
      "beta",
    ],
  );
  const ret = got.at(-1)!;
  assert.equal(ret.retval, 0);
  assert.equal(ret.comm, "echo");
});

Deno.test("fork tracker: RAW_TRACEPOINT_PROBE(sched_process_fork) reading both task_structs with CO-RE", async () => {
  using b = await load(`
    #include <linux/sched.h>
    struct fork_t { u32 children; u32 last_child; u32 child_tgid_is_child; char comm[TASK_COMM_LEN]; };
    BPF_HASH(forks, u32, struct fork_t);
    RAW_TRACEPOINT_PROBE(sched_process_fork) {
      struct task_struct *parent = (struct task_struct *)ctx->args[0];
      struct task_struct *child = (struct task_struct *)ctx->args[1];
      u32 ppid = parent->tgid;
      struct fork_t zero = {}, *f = forks.lookup_or_try_init(&ppid, &zero);
      if (!f) return 0;
      f->children++;
      f->last_child = child->pid;
      f->child_tgid_is_child = child->tgid == child->pid;
      bpf_probe_read_kernel_str(f->comm, sizeof(f->comm), parent->comm);
      return 0;
    }`);
  const pid = await runChild("fork:3");
  const f = b.map<
    number,
    {
      children: number;
      last_child: number;
      child_tgid_is_child: number;
      comm: string;
    }
  >("forks").get(pid);
  assert.equal(f?.children, 3);
  assert.ok(f!.last_child > pid);
  assert.equal(f?.child_tgid_is_child, 1);
  assert.equal(f?.comm, "bpfpmbccchild");
});

let stopped: Deno.ChildProcess | undefined;

/** Starts `/bin/echo alpha beta` stopped before its exec; returns its pid. */
async function stoppedChildPid(): Promise<number> {
  stopped = new Deno.Command("sh", {
    args: ["-c", "kill -STOP $$; exec /bin/echo alpha beta"],
    stdout: "null",
  }).spawn();
  for (;;) {
    const stat = await Deno.readTextFile(`/proc/${stopped.pid}/stat`);
    if (stat.slice(stat.lastIndexOf(")") + 2).startsWith("T")) break;
    await new Promise((r) => setTimeout(r, 2));
  }
  return stopped.pid;
}

async function continueStoppedChild(): Promise<number> {
  const child = stopped!;
  Deno.kill(child.pid, "SIGCONT");
  assert.ok((await child.status).success);
  return child.pid;
}

Deno.test("opensnoop-style: entry stashes the filename by thread id, the return emits it with the fd", async () => {
  using b = await load(`
    #include <uapi/linux/ptrace.h>
    #include <uapi/linux/limits.h>
    #include <linux/sched.h>

    struct val_t { u64 id; char comm[TASK_COMM_LEN]; const char *fname; int flags; };
    struct data_t { u64 id; u64 ts; int ret; int flags; char comm[TASK_COMM_LEN]; char fname[NAME_MAX]; };

    BPF_HASH(infotmp, u64, struct val_t);
    BPF_RINGBUF_OUTPUT(events, 16);

    int syscall__openat(struct pt_regs *ctx, int dfd, const char __user *filename, int flags) {
      struct val_t val = {};
      u64 id = bpf_get_current_pid_tgid();
      if (bpf_get_current_comm(&val.comm, sizeof(val.comm)) == 0) {
        val.id = id;
        val.fname = filename;
        val.flags = flags;
        infotmp.update(&id, &val);
      }
      return 0;
    }

    int kretprobe__sys_openat(struct pt_regs *ctx) {
      u64 id = bpf_get_current_pid_tgid();
      struct val_t *valp = infotmp.lookup(&id);
      if (valp == 0) return 0;
      struct data_t *data = events.ringbuf_reserve(sizeof(struct data_t));
      if (!data) { infotmp.delete(&id); return 0; }
      bpf_probe_read_kernel(&data->comm, sizeof(data->comm), valp->comm);
      bpf_probe_read_user_str(&data->fname, sizeof(data->fname), (void *)valp->fname);
      data->id = valp->id;
      data->flags = valp->flags;
      data->ts = bpf_ktime_get_ns() / 1000;
      data->ret = PT_REGS_RC(ctx);
      events.ringbuf_submit(data, 0);
      infotmp.delete(&id);
      return 0;
    }`);
  interface Data {
    id: bigint;
    ret: number;
    flags: number;
    comm: string;
    fname: string;
  }
  using events = b.ringbuf<Data>("events", {
    type: "struct data_t",
    signal: AbortSignal.timeout(10_000),
  });
  const pid = await runChild("open:/etc/hostname:2");
  const mine: Data[] = [];
  for await (const e of events) {
    if (Number(e.id >> 32n) !== pid || e.fname !== "/etc/hostname") continue;
    mine.push(e);
    if (mine.length === 2) break;
  }
  assert.ok(mine.every((e) => e.ret >= 3 && e.comm === "bpfpmbccchild"));
  assert.ok(mine.every((e) => (e.flags & 3) === 0)); // O_RDONLY
  // The return deleted the child's entry (key: tgid << 32 | tid).
  const id = (BigInt(pid) << 32n) | BigInt(pid);
  assert.equal(b.map<bigint, unknown>("infotmp").has(id), false);
});
