// exitsnoop: process (or, with per_thread, thread) exits from sched:sched_process_exit, with
// the exit code and the age of the task.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>

struct event {
  u64 ts;
  u64 start_time;
  u64 exit_time;
  u32 pid;
  u32 tid;
  u32 ppid;
  u32 sig;       /* the fatal signal, 0 for an exit() */
  int exit_code; /* exit()'s status */
  u32 core;      /* 1: the signal dumped core */
  char comm[16];
};

/* Set before load (BPF.load's constants, the manifest's .rodata parameters): the verifier
 * sees them as constants and prunes the branches they turn off. */
const volatile u32 targ_pid = 0;
const volatile bool per_thread = false;
const volatile bool failed_only = false;

struct event *_event_type __attribute__((unused));

struct {
  __uint(type, BPF_MAP_TYPE_RINGBUF);
  __uint(max_entries, 1 << 20);
} events SEC(".maps");

SEC("tracepoint/sched/sched_process_exit")
int sched_process_exit(void *ctx) {
  u64 id = bpf_get_current_pid_tgid();
  u32 pid = id >> 32, tid = (u32)id;
  if (targ_pid && targ_pid != pid) return 0;
  /* A process exits when its last thread does; its leader's exit is the one reported. */
  if (!per_thread && pid != tid) return 0;
  struct task_struct *task = (struct task_struct *)bpf_get_current_task();
  int exit_code = BPF_CORE_READ(task, exit_code);
  if (failed_only && exit_code == 0) return 0;
  struct event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
  if (!e) return 0;
  e->ts = bpf_ktime_get_ns();
  e->start_time = BPF_CORE_READ(task, start_time);
  e->exit_time = e->ts;
  e->pid = pid;
  e->tid = tid;
  e->ppid = BPF_CORE_READ(task, real_parent, tgid);
  e->sig = exit_code & 0x7f;
  e->core = (exit_code & 0x80) != 0;
  e->exit_code = exit_code >> 8;
  bpf_get_current_comm(e->comm, sizeof(e->comm));
  bpf_ringbuf_submit(e, 0);
  return 0;
}

char LICENSE[] SEC("license") = "GPL";
