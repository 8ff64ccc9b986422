// biosnoop: one event per block I/O, from BTF-typed block tracepoints: the process is noted
// at insert (or issue, when the request skips the scheduler), the latency is issue to
// completion, and the queued time insert to issue.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>

struct piddata {
  u64 insert_ts;
  u64 issue_ts;
  u32 pid;
  char comm[16];
};

struct event {
  u64 ts;
  u64 delta_ns;
  u64 qdelta_ns;
  u64 sector;
  u32 len;
  u32 pid;
  u32 dev;
  u32 flags;
  char comm[16];
  char disk[32];
};

/* Set before load (BPF.load's constants): -d DISK's device number, 0 for every disk. */
const volatile u32 targ_dev = 0;

struct event *_event_type __attribute__((unused));

struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 10240);
  __type(key, u64);
  __type(value, struct piddata);
} infos SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_RINGBUF);
  __uint(max_entries, 1 << 20);
} events SEC(".maps");

static __always_inline u32 rq_dev(struct request *rq) {
  struct gendisk *disk = rq->q->disk;
  if (!disk) return 0;
  return ((u32)disk->major << 20) | (u32)disk->first_minor;
}

static __always_inline int note(struct request *rq, bool insert) {
  if (targ_dev && rq_dev(rq) != targ_dev) return 0;
  u64 key = (u64)rq, now = bpf_ktime_get_ns();
  struct piddata *p = bpf_map_lookup_elem(&infos, &key);
  if (p) {
    if (insert) p->insert_ts = now;
    else p->issue_ts = now;
    return 0;
  }
  struct piddata d = {};
  d.pid = bpf_get_current_pid_tgid() >> 32;
  bpf_get_current_comm(d.comm, sizeof(d.comm));
  if (insert) d.insert_ts = now;
  else d.issue_ts = now;
  bpf_map_update_elem(&infos, &key, &d, BPF_ANY);
  return 0;
}

SEC("tp_btf/block_rq_insert")
int BPF_PROG(block_rq_insert, struct request *rq) { return note(rq, true); }

SEC("tp_btf/block_rq_issue")
int BPF_PROG(block_rq_issue, struct request *rq) { return note(rq, false); }

SEC("tp_btf/block_rq_complete")
int BPF_PROG(block_rq_complete, struct request *rq, blk_status_t error, unsigned int nr_bytes) {
  u64 key = (u64)rq;
  struct piddata *p = bpf_map_lookup_elem(&infos, &key);
  if (!p) return 0;
  if (!p->issue_ts) goto cleanup;
  struct event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
  if (!e) goto cleanup;
  u64 now = bpf_ktime_get_ns();
  e->ts = now;
  e->delta_ns = now - p->issue_ts;
  e->qdelta_ns = p->insert_ts && p->insert_ts < p->issue_ts ? p->issue_ts - p->insert_ts : 0;
  e->sector = rq->__sector;
  e->len = nr_bytes;
  e->pid = p->pid;
  e->dev = rq_dev(rq);
  u32 f = rq->cmd_flags;
  e->flags = f & 0xff;
  if (f & (1u << bpf_core_enum_value(enum req_flag_bits, __REQ_SYNC))) e->flags |= 1 << 8;
  if (f & (1u << bpf_core_enum_value(enum req_flag_bits, __REQ_FUA))) e->flags |= 1 << 9;
  if (f & (1u << bpf_core_enum_value(enum req_flag_bits, __REQ_META))) e->flags |= 1 << 10;
  if (f & (1u << bpf_core_enum_value(enum req_flag_bits, __REQ_PREFLUSH))) e->flags |= 1 << 11;
  __builtin_memcpy(e->comm, p->comm, sizeof(e->comm));
  struct gendisk *disk = rq->q->disk;
  if (disk) bpf_probe_read_kernel_str(e->disk, sizeof(e->disk), disk->disk_name);
  else e->disk[0] = 0;
  bpf_ringbuf_submit(e, 0);
cleanup:
  bpf_map_delete_elem(&infos, &key);
  return 0;
}

char LICENSE[] SEC("license") = "GPL";
