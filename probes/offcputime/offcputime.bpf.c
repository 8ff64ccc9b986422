// offcputime: time spent blocked (off-CPU), summed by kernel and user stack, from the
// BTF-typed sched_switch tracepoint: the stacks are taken as a task switches out (it is still
// current then), the time is counted when it switches back in.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#define PF_KTHREAD 0x00200000

struct key_t {
  u32 pid;  /* the thread */
  u32 tgid; /* its process */
  int user_stack_id;
  int kern_stack_id;
  char comm[16];
};

struct start_t {
  u64 ts;
  struct key_t key;
};

/* Set before load (BPF.load's constants, the manifest's .rodata parameters): the verifier
 * sees them as constants and prunes the branches they turn off. */
const volatile u32 targ_tgid = 0;
const volatile u32 targ_pid = 0;
const volatile bool user_threads_only = false;
const volatile bool kernel_threads_only = false;
const volatile u64 min_us = 1;
const volatile u64 max_us = ~0ULL;
/* --state as BCC reads it: -1 any; 0 TASK_RUNNING (preempted); else a bitmask of states. */
const volatile int targ_state = -1;

struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 10240);
  __type(key, u32);
  __type(value, struct start_t);
} start SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_STACK_TRACE);
  __uint(max_entries, 4096);
  __uint(key_size, sizeof(u32));
  __uint(value_size, 127 * sizeof(u64));
} stacks SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 10240);
  __type(key, struct key_t);
  __type(value, u64);
} counts SEC(".maps");

static __always_inline bool wanted(struct task_struct *t) {
  if (!t->pid) return false; /* idle */
  if (targ_tgid && targ_tgid != (u32)t->tgid) return false;
  if (targ_pid && targ_pid != (u32)t->pid) return false;
  bool kthread = t->flags & PF_KTHREAD;
  if (user_threads_only && kthread) return false;
  if (kernel_threads_only && !kthread) return false;
  return true;
}

SEC("tp_btf/sched_switch")
int BPF_PROG(sched_switch, bool preempt, struct task_struct *prev, struct task_struct *next) {
  u64 now = bpf_ktime_get_ns();
  u32 st = prev->__state;
  bool state_ok = targ_state < 0 || (targ_state ? (st & targ_state) != 0 : st == 0);
  if (state_ok && wanted(prev)) {
    struct start_t s = {};
    s.ts = now;
    s.key.pid = prev->pid;
    s.key.tgid = prev->tgid;
    s.key.kern_stack_id = bpf_get_stackid(ctx, &stacks, 0);
    s.key.user_stack_id = prev->flags & PF_KTHREAD ? -1 : bpf_get_stackid(ctx, &stacks, BPF_F_USER_STACK);
    bpf_probe_read_kernel_str(s.key.comm, sizeof(s.key.comm), prev->comm);
    u32 pid = prev->pid;
    bpf_map_update_elem(&start, &pid, &s, BPF_ANY);
  }
  u32 pid = next->pid;
  struct start_t *s = bpf_map_lookup_elem(&start, &pid);
  if (!s) return 0;
  u64 delta_us = (now - s->ts) / 1000;
  struct key_t key = s->key;
  bpf_map_delete_elem(&start, &pid);
  if (delta_us < min_us || delta_us > max_us) return 0;
  u64 zero = 0, *v = bpf_map_lookup_elem(&counts, &key);
  if (!v) {
    bpf_map_update_elem(&counts, &key, &zero, BPF_NOEXIST);
    v = bpf_map_lookup_elem(&counts, &key);
    if (!v) return 0;
  }
  __sync_fetch_and_add(v, delta_us);
  return 0;
}

char LICENSE[] SEC("license") = "GPL";
