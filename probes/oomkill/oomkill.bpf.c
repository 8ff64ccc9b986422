// oomkill: OOM killer victims, from oom:mark_victim, with the task that triggered the kill
// (the one running when the victim is chosen) and the victim's memory.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

struct event {
  u64 ts;
  u64 total_vm;
  u64 anon_rss;
  u64 file_rss;
  u32 tpid;
  u32 vpid;
  char tcomm[16];
  char vcomm[16];
};

struct event *_event_type __attribute__((unused));

struct {
  __uint(type, BPF_MAP_TYPE_RINGBUF);
  __uint(max_entries, 1 << 16);
} events SEC(".maps");

SEC("tracepoint/oom/mark_victim")
int mark_victim(struct trace_event_raw_mark_victim *ctx) {
  struct event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
  if (!e) return 0;
  e->ts = bpf_ktime_get_ns();
  e->total_vm = ctx->total_vm;
  e->anon_rss = ctx->anon_rss;
  e->file_rss = ctx->file_rss;
  e->tpid = bpf_get_current_pid_tgid() >> 32;
  e->vpid = ctx->pid;
  bpf_get_current_comm(e->tcomm, sizeof(e->tcomm));
  unsigned off = ctx->__data_loc_comm & 0xffff;
  bpf_probe_read_kernel_str(e->vcomm, sizeof(e->vcomm), (void *)ctx + off);
  bpf_ringbuf_submit(e, 0);
  return 0;
}

char LICENSE[] SEC("license") = "GPL";
