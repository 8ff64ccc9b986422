// tcplife: TCP sessions, from sock:inet_sock_set_state. A socket's birth is its first move
// into SYN_SENT/SYN_RECV/ESTABLISHED; the process is noted where the kernel runs in its
// context (connect: SYN_SENT, close: FIN_WAIT1, LAST_ACK); the row is sent at TCP_CLOSE with
// the bytes the tcp_sock counted.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>

#define AF_INET 2
#define AF_INET6 10
#define IPPROTO_TCP 6
#define TCP_ESTABLISHED 1
#define TCP_SYN_SENT 2
#define TCP_SYN_RECV 3
#define TCP_FIN_WAIT1 4
#define TCP_CLOSE 7
#define TCP_LAST_ACK 9

struct ident {
  u32 pid;
  char comm[16];
};

struct event {
  u64 ts;
  u64 span_ns;
  u64 rx_bytes;
  u64 tx_bytes;
  u32 pid;
  u16 family;
  u16 lport;
  u16 rport;
  u8 saddr[16];
  u8 daddr[16];
  char comm[16];
};

/* Set before load (BPF.load's constants, the manifest's .rodata parameters): the verifier
 * sees them as constants and prunes the branches they turn off. */
const volatile u32 targ_pid = 0;
const volatile bool only_ipv4 = false;
const volatile bool only_ipv6 = false;

struct event *_event_type __attribute__((unused));

struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 10240);
  __type(key, u64);
  __type(value, u64);
} birth SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 10240);
  __type(key, u64);
  __type(value, struct ident);
} idents SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_RINGBUF);
  __uint(max_entries, 1 << 20);
} events SEC(".maps");

SEC("tracepoint/sock/inet_sock_set_state")
int inet_sock_set_state(struct trace_event_raw_inet_sock_set_state *args) {
  if (args->protocol != IPPROTO_TCP) return 0;
  if (only_ipv4 && args->family != AF_INET) return 0;
  if (only_ipv6 && args->family != AF_INET6) return 0;
  u64 sk = (u64)args->skaddr;
  int state = args->newstate;
  if (state < TCP_FIN_WAIT1) {
    u64 ts = bpf_ktime_get_ns();
    bpf_map_update_elem(&birth, &sk, &ts, BPF_NOEXIST);
  }
  if (state == TCP_SYN_SENT || state == TCP_FIN_WAIT1 || state == TCP_LAST_ACK) {
    struct ident id = { .pid = bpf_get_current_pid_tgid() >> 32 };
    bpf_get_current_comm(id.comm, sizeof(id.comm));
    bpf_map_update_elem(&idents, &sk, &id, BPF_NOEXIST);
  }
  if (state != TCP_CLOSE) return 0;

  u64 *start = bpf_map_lookup_elem(&birth, &sk);
  if (!start) {
    bpf_map_delete_elem(&idents, &sk);
    return 0;
  }
  u64 now = bpf_ktime_get_ns(), span = now - *start;
  struct ident *id = bpf_map_lookup_elem(&idents, &sk);
  u32 pid = id ? id->pid : bpf_get_current_pid_tgid() >> 32;
  if (targ_pid && targ_pid != pid) goto cleanup;
  struct event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
  if (!e) goto cleanup;
  e->ts = now;
  e->span_ns = span;
  struct tcp_sock *tp = (struct tcp_sock *)args->skaddr;
  e->rx_bytes = BPF_CORE_READ(tp, bytes_received);
  e->tx_bytes = BPF_CORE_READ(tp, bytes_acked);
  e->pid = pid;
  e->family = args->family;
  e->lport = args->sport;
  e->rport = args->dport;
  if (args->family == AF_INET) {
    __builtin_memset(e->saddr, 0, sizeof(e->saddr));
    __builtin_memset(e->daddr, 0, sizeof(e->daddr));
    bpf_probe_read_kernel(e->saddr, 4, args->saddr);
    bpf_probe_read_kernel(e->daddr, 4, args->daddr);
  } else {
    bpf_probe_read_kernel(e->saddr, 16, args->saddr_v6);
    bpf_probe_read_kernel(e->daddr, 16, args->daddr_v6);
  }
  if (id) __builtin_memcpy(e->comm, id->comm, sizeof(e->comm));
  else bpf_get_current_comm(e->comm, sizeof(e->comm));
  bpf_ringbuf_submit(e, 0);
cleanup:
  bpf_map_delete_elem(&birth, &sk);
  bpf_map_delete_elem(&idents, &sk);
  return 0;
}

char LICENSE[] SEC("license") = "GPL";
