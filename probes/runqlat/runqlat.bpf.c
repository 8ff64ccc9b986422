// runqlat: run queue (scheduler) latency as log2 histograms: the time from a task's wakeup
// (or its preemption while still runnable) to when it runs, from BTF-typed sched tracepoints.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#define MAX_SLOTS 27
#define TASK_RUNNING 0

struct hist {
  u32 slots[MAX_SLOTS];
  char comm[16];
};

/* Set before load (BPF.load's constants, the manifest's .rodata parameters): the verifier
 * sees them as constants and prunes the branches they turn off. */
const volatile u32 targ_tgid = 0;
const volatile bool per_process = false;
const volatile bool per_thread = false;
const volatile bool ms = false;

struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 10240);
  __type(key, u32);
  __type(value, u64);
} start SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 10240);
  __type(key, u32);
  __type(value, struct hist);
} hists SEC(".maps");

static __always_inline int enqueue(struct task_struct *p) {
  u32 tgid = p->tgid, pid = p->pid;
  if (!pid) return 0;
  if (targ_tgid && targ_tgid != tgid) return 0;
  u64 ts = bpf_ktime_get_ns();
  bpf_map_update_elem(&start, &pid, &ts, BPF_ANY);
  return 0;
}

SEC("tp_btf/sched_wakeup")
int BPF_PROG(sched_wakeup, struct task_struct *p) { return enqueue(p); }

SEC("tp_btf/sched_wakeup_new")
int BPF_PROG(sched_wakeup_new, struct task_struct *p) { return enqueue(p); }

SEC("tp_btf/sched_switch")
int BPF_PROG(sched_switch, bool preempt, struct task_struct *prev, struct task_struct *next) {
  /* Preempted while runnable: it waits in the run queue from now. */
  if (prev->__state == TASK_RUNNING) enqueue(prev);
  u32 pid = next->pid;
  u64 *tsp = bpf_map_lookup_elem(&start, &pid);
  if (!tsp) return 0;
  u64 delta = bpf_ktime_get_ns() - *tsp;
  bpf_map_delete_elem(&start, &pid);
  delta /= ms ? 1000000 : 1000;
  u32 key = per_process ? (u32)next->tgid : per_thread ? pid : 0;
  struct hist *h = bpf_map_lookup_elem(&hists, &key);
  if (!h) {
    struct hist zero = {};
    bpf_map_update_elem(&hists, &key, &zero, BPF_NOEXIST);
    h = bpf_map_lookup_elem(&hists, &key);
    if (!h) return 0;
  }
  /* The latest comm: a new child first runs under its parent's, until it execs. */
  if (key) bpf_probe_read_kernel_str(h->comm, sizeof(h->comm), next->comm);
  u32 slot = bpf_log2l(delta);
  if (slot >= MAX_SLOTS) slot = MAX_SLOTS - 1;
  __sync_fetch_and_add(&h->slots[slot], 1);
  return 0;
}

char LICENSE[] SEC("license") = "GPL";
