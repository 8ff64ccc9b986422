// execsnoop: new processes, from execve()'s and execveat()'s syscall tracepoints. The
// arguments are read at entry (while the old image still holds them) into a per-thread
// slot, and the row is sent at return, with the return code and the new comm.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpfpm/container.h>

#define ARGSIZE 128
#define MAXARG 20

struct event {
  u64 ts;
  u32 pid;
  u32 ppid;
  u32 uid;
  int retval;
  u32 args_count;
  u32 truncated;
  u32 cpu;        /* -C: the CPU the exec returned on */
  char comm[16];
  char pcomm[16]; /* -M: the parent's comm */
  char args[MAXARG][ARGSIZE];
};

/* Set before load (BPF.load's constants, the manifest's .rodata parameters): the verifier
 * sees them as constants and prunes the filters left off. */
const volatile u32 targ_pid = 0;  /* 0: any */
const volatile u32 targ_ppid = 0; /* 0: any */
const volatile bool filter_uid = false;
const volatile u32 targ_uid = 0;
const volatile bool include_failed = false; /* -x */
const volatile u32 max_args = MAXARG;

static const struct event empty_event = {};

struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 1024);
  __type(key, u32);
  __type(value, struct event);
} execs SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_RINGBUF);
  __uint(max_entries, 1 << 20);
} events SEC(".maps");

static __always_inline int on_enter(const char *filename, const char *const *argv) {
  u64 id = bpf_get_current_pid_tgid();
  u32 pid = id >> 32, tid = (u32)id;
  u32 uid = (u32)bpf_get_current_uid_gid();
  if (targ_pid && targ_pid != pid) return 0;
  if (filter_uid && targ_uid != uid) return 0;
  if (container_excluded()) return 0;
  struct task_struct *task = (struct task_struct *)bpf_get_current_task();
  u32 ppid = BPF_CORE_READ(task, real_parent, tgid);
  if (targ_ppid && targ_ppid != ppid) return 0;
  if (bpf_map_update_elem(&execs, &tid, &empty_event, BPF_NOEXIST)) return 0;
  struct event *e = bpf_map_lookup_elem(&execs, &tid);
  if (!e) return 0;
  e->pid = pid;
  e->ppid = ppid;
  e->uid = uid;
  bpf_probe_read_user_str(e->args[0], ARGSIZE, filename);
  e->args_count = 1;
  u32 max = max_args && max_args < MAXARG ? max_args : MAXARG;
  for (u32 i = 1; i < MAXARG; i++) {
    const char *arg = NULL;
    if (bpf_probe_read_user(&arg, sizeof(arg), &argv[i]) || !arg) return 0;
    if (i >= max) {
      e->truncated = 1;
      return 0;
    }
    bpf_probe_read_user_str(e->args[i], ARGSIZE, arg);
    e->args_count++;
  }
  const char *more = NULL;
  bpf_probe_read_user(&more, sizeof(more), &argv[MAXARG]);
  if (more) e->truncated = 1;
  return 0;
}

static __always_inline int on_exit(long ret) {
  u32 tid = (u32)bpf_get_current_pid_tgid();
  struct event *e = bpf_map_lookup_elem(&execs, &tid);
  if (!e) return 0;
  if (include_failed || ret >= 0) {
    e->retval = ret;
    e->ts = bpf_ktime_get_ns();
    bpf_get_current_comm(e->comm, sizeof(e->comm));
    e->cpu = bpf_get_smp_processor_id();
    struct task_struct *task = (struct task_struct *)bpf_get_current_task();
    struct task_struct *parent = BPF_CORE_READ(task, real_parent);
    bpf_probe_read_kernel_str(e->pcomm, sizeof(e->pcomm), &parent->comm);
    bpf_ringbuf_output(&events, e, sizeof(*e), 0);
  }
  bpf_map_delete_elem(&execs, &tid);
  return 0;
}

SEC("tracepoint/syscalls/sys_enter_execve")
int execve_enter(struct trace_event_raw_sys_enter *ctx) {
  return on_enter((const char *)ctx->args[0], (const char *const *)ctx->args[1]);
}

SEC("tracepoint/syscalls/sys_exit_execve")
int execve_exit(struct trace_event_raw_sys_exit *ctx) {
  return on_exit(ctx->ret);
}

SEC("tracepoint/syscalls/sys_enter_execveat")
int execveat_enter(struct trace_event_raw_sys_enter *ctx) {
  return on_enter((const char *)ctx->args[1], (const char *const *)ctx->args[2]);
}

SEC("tracepoint/syscalls/sys_exit_execveat")
int execveat_exit(struct trace_event_raw_sys_exit *ctx) {
  return on_exit(ctx->ret);
}

char LICENSE[] SEC("license") = "GPL";
