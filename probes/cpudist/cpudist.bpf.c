// cpudist: how long tasks run on a CPU each time they are scheduled (or, with offcpu, how
// long they stay off it), as log2 histograms from the BTF-typed sched_switch tracepoint.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#define MAX_SLOTS 27

struct hist {
  u32 slots[MAX_SLOTS];
  char comm[16];
  u64 total; /* the summed times and their count, for -e's average */
  u64 count;
};

/* Set before load (BPF.load's constants, the manifest's .rodata parameters): the verifier
 * sees them as constants and prunes the branches they turn off. */
const volatile u32 targ_tgid = 0;
const volatile bool per_process = false;
const volatile bool per_thread = false;
const volatile bool ms = false;
const volatile bool offcpu = false;

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

static __always_inline void store_start(struct task_struct *t, u64 ts) {
  if (targ_tgid && targ_tgid != (u32)t->tgid) return;
  u32 pid = t->pid;
  if (!pid) return;
  bpf_map_update_elem(&start, &pid, &ts, BPF_ANY);
}

static __always_inline void update_hist(struct task_struct *t, u64 ts) {
  u32 pid = t->pid;
  u64 *tsp = bpf_map_lookup_elem(&start, &pid);
  if (!tsp) return;
  if (ts < *tsp) return;
  u64 delta = (ts - *tsp) / (ms ? 1000000 : 1000);
  u32 key = per_process ? (u32)t->tgid : per_thread ? pid : 0;
  struct hist *h = bpf_map_lookup_elem(&hists, &key);
  if (!h) {
    struct hist zero = {};
    bpf_map_update_elem(&hists, &key, &zero, BPF_NOEXIST);
    h = bpf_map_lookup_elem(&hists, &key);
    if (!h) return;
  }
  /* The latest comm: a new child first runs under its parent's, until it execs. */
  if (key) bpf_probe_read_kernel_str(h->comm, sizeof(h->comm), t->comm);
  u32 slot = bpf_log2l(delta);
  if (slot >= MAX_SLOTS) slot = MAX_SLOTS - 1;
  __sync_fetch_and_add(&h->slots[slot], 1);
  __sync_fetch_and_add(&h->total, delta);
  __sync_fetch_and_add(&h->count, 1);
}

SEC("tp_btf/sched_switch")
int BPF_PROG(sched_switch, bool preempt, struct task_struct *prev, struct task_struct *next) {
  u64 ts = bpf_ktime_get_ns();
  if (offcpu) {
    store_start(prev, ts);
    if (!targ_tgid || targ_tgid == (u32)next->tgid) update_hist(next, ts);
  } else {
    if (!targ_tgid || targ_tgid == (u32)prev->tgid) update_hist(prev, ts);
    store_start(next, ts);
  }
  return 0;
}

char LICENSE[] SEC("license") = "GPL";
