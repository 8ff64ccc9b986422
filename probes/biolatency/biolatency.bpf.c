// biolatency: block I/O latency as log2 histograms, from BTF-typed block tracepoints: the
// request's issue (or insert, with -Q) is timed to its completion, keyed by the request.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>

#define MAX_SLOTS 27

struct hist_key {
  u32 dev;   /* major << 20 | minor, with per_disk */
  u32 flags; /* op | sync << 8 | fua << 9 | meta << 10 | preflush << 11, with per_flag */
};

struct hist {
  u32 slots[MAX_SLOTS];
  char disk[32];
  u64 total; /* the summed latencies and their count, for -e's average */
  u64 count;
};

/* Set before load (BPF.load's constants, the manifest's .rodata parameters): the verifier
 * sees them as constants and prunes the branches they turn off. */
const volatile bool queued = false;
const volatile bool ms = false;
const volatile bool per_disk = false;
const volatile bool per_flag = false;
const volatile u32 targ_dev = 0; /* -d DISK's device number, 0 for every disk */

struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 10240);
  __type(key, u64);
  __type(value, u64);
} start SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 1024);
  __type(key, struct hist_key);
  __type(value, struct hist);
} hists SEC(".maps");

/* The histogram slot of v as BCC numbers them: its bit length (1 for 0-1, 2 for 2-3, ...). */
static __always_inline u32 rq_dev(struct request *rq) {
  struct gendisk *disk = rq->q->disk;
  if (!disk) return 0;
  return ((u32)disk->major << 20) | (u32)disk->first_minor;
}

static __always_inline int trace_start(struct request *rq, bool insert) {
  if (targ_dev && rq_dev(rq) != targ_dev) return 0;
  u64 key = (u64)rq, ts = bpf_ktime_get_ns();
  /* With -Q the time starts at insert; an issue without insert (no scheduler) starts it. */
  bpf_map_update_elem(&start, &key, &ts, insert ? BPF_ANY : (queued ? BPF_NOEXIST : BPF_ANY));
  return 0;
}

SEC("tp_btf/block_rq_insert")
int BPF_PROG(block_rq_insert, struct request *rq) {
  if (!queued) return 0;
  return trace_start(rq, true);
}

SEC("tp_btf/block_rq_issue")
int BPF_PROG(block_rq_issue, struct request *rq) {
  return trace_start(rq, false);
}

SEC("tp_btf/block_rq_complete")
int BPF_PROG(block_rq_complete, struct request *rq, blk_status_t error, unsigned int nr_bytes) {
  u64 key = (u64)rq;
  u64 *tsp = bpf_map_lookup_elem(&start, &key);
  if (!tsp) return 0;
  u64 delta = bpf_ktime_get_ns() - *tsp;
  bpf_map_delete_elem(&start, &key);
  delta /= ms ? 1000000 : 1000;
  struct hist_key hk = {};
  if (per_disk) hk.dev = rq_dev(rq);
  if (per_flag) {
    u32 f = rq->cmd_flags;
    hk.flags = f & 0xff;
    if (f & (1u << bpf_core_enum_value(enum req_flag_bits, __REQ_SYNC))) hk.flags |= 1 << 8;
    if (f & (1u << bpf_core_enum_value(enum req_flag_bits, __REQ_FUA))) hk.flags |= 1 << 9;
    if (f & (1u << bpf_core_enum_value(enum req_flag_bits, __REQ_META))) hk.flags |= 1 << 10;
    if (f & (1u << bpf_core_enum_value(enum req_flag_bits, __REQ_PREFLUSH))) hk.flags |= 1 << 11;
  }
  struct hist *h = bpf_map_lookup_elem(&hists, &hk);
  if (!h) {
    struct hist zero = {};
    bpf_map_update_elem(&hists, &hk, &zero, BPF_NOEXIST);
    h = bpf_map_lookup_elem(&hists, &hk);
    if (!h) return 0;
    struct gendisk *disk = rq->q->disk;
    if (per_disk && disk) bpf_probe_read_kernel_str(h->disk, sizeof(h->disk), disk->disk_name);
  }
  u32 slot = bpf_log2l(delta);
  if (slot >= MAX_SLOTS) slot = MAX_SLOTS - 1;
  __sync_fetch_and_add(&h->slots[slot], 1);
  __sync_fetch_and_add(&h->total, delta);
  __sync_fetch_and_add(&h->count, 1);
  return 0;
}

char LICENSE[] SEC("license") = "GPL";
