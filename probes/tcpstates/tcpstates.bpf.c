// tcpstates: every TCP state change from sock:inet_sock_set_state, with the time spent in the
// old state (per socket) and the process the kernel ran in at the change.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

#define AF_INET 2
#define IPPROTO_TCP 6
#define TCP_CLOSE 7

struct event {
  u64 ts;
  u64 skaddr;
  u64 delta_us;
  u32 pid;
  int oldstate;
  int newstate;
  u16 family;
  u16 sport;
  u16 dport;
  u16 pad;
  u8 saddr[16];
  u8 daddr[16];
  char comm[16];
};

/* Set before load (BPF.load's constants): -4/-6's address family, 0 for both. */
const volatile u32 targ_family = 0;

struct event *_event_type __attribute__((unused));

struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 10240);
  __type(key, u64);
  __type(value, u64);
} timestamps SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_RINGBUF);
  __uint(max_entries, 1 << 20);
} events SEC(".maps");

SEC("tracepoint/sock/inet_sock_set_state")
int inet_sock_set_state(struct trace_event_raw_inet_sock_set_state *args) {
  if (args->protocol != IPPROTO_TCP) return 0;
  if (targ_family && targ_family != args->family) return 0;
  u64 sk = (u64)args->skaddr;
  u64 now = bpf_ktime_get_ns();
  u64 *last = bpf_map_lookup_elem(&timestamps, &sk);
  struct event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
  if (e) {
    e->ts = now;
    e->skaddr = sk;
    e->delta_us = last ? (now - *last) / 1000 : 0;
    e->pid = bpf_get_current_pid_tgid() >> 32;
    e->oldstate = args->oldstate;
    e->newstate = args->newstate;
    e->family = args->family;
    e->sport = args->sport;
    e->dport = args->dport;
    e->pad = 0;
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
  }
  if (args->newstate == TCP_CLOSE) bpf_map_delete_elem(&timestamps, &sk);
  else bpf_map_update_elem(&timestamps, &sk, &now, BPF_ANY);
  return 0;
}

char LICENSE[] SEC("license") = "GPL";
