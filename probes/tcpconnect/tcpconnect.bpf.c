// tcpconnect: active TCP connections (connect()), seen where the kernel moves the socket to
// SYN_SENT (sock:inet_sock_set_state, in the connecting process's context) rather than with
// a kprobe on tcp_v4_connect/tcp_v6_connect, so it needs no kprobes.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

#define AF_INET 2
#define IPPROTO_TCP 6
#define TCP_CLOSE 7
#define TCP_SYN_SENT 2

struct event {
  u64 ts;
  u32 pid;
  u32 tid;
  u32 uid;
  u16 family;
  u16 dport;
  u8 saddr[16];
  u8 daddr[16];
  char comm[16];
};

struct config {
  u32 ready;
  u32 targ_pid;
  u32 filter_uid;
  u32 targ_uid;
  u32 family;
};

struct config cfg = {};
struct event *_event_type __attribute__((unused));

struct {
  __uint(type, BPF_MAP_TYPE_RINGBUF);
  __uint(max_entries, 1 << 20);
} events SEC(".maps");

SEC("tracepoint/sock/inet_sock_set_state")
int inet_sock_set_state(struct trace_event_raw_inet_sock_set_state *args) {
  if (!cfg.ready || args->protocol != IPPROTO_TCP) return 0;
  if (args->oldstate != TCP_CLOSE || args->newstate != TCP_SYN_SENT) return 0;
  if (cfg.family && cfg.family != args->family) return 0;
  u64 id = bpf_get_current_pid_tgid();
  u32 pid = id >> 32;
  if (cfg.targ_pid && cfg.targ_pid != pid) return 0;
  u32 uid = (u32)bpf_get_current_uid_gid();
  if (cfg.filter_uid && cfg.targ_uid != uid) return 0;
  struct event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
  if (!e) return 0;
  e->ts = bpf_ktime_get_ns();
  e->pid = pid;
  e->tid = (u32)id;
  e->uid = uid;
  e->family = args->family;
  e->dport = args->dport;
  __builtin_memset(e->saddr, 0, sizeof(e->saddr));
  __builtin_memset(e->daddr, 0, sizeof(e->daddr));
  if (args->family == AF_INET) {
    bpf_probe_read_kernel(e->saddr, 4, args->saddr);
    bpf_probe_read_kernel(e->daddr, 4, args->daddr);
  } else {
    bpf_probe_read_kernel(e->saddr, 16, args->saddr_v6);
    bpf_probe_read_kernel(e->daddr, 16, args->daddr_v6);
  }
  bpf_get_current_comm(e->comm, sizeof(e->comm));
  bpf_ringbuf_submit(e, 0);
  return 0;
}

char LICENSE[] SEC("license") = "GPL";
