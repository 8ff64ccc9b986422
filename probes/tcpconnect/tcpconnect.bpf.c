// tcpconnect: active TCP connections (connect()), seen where the kernel moves the socket to
// SYN_SENT (sock:inet_sock_set_state, in the connecting process's context) rather than with
// a kprobe on tcp_v4_connect/tcp_v6_connect, so it needs no kprobes. The local port is only
// bound after that transition, so with lport the event waits (by socket) for the socket's
// next state, which carries it.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include <bpfpm/container.h>

#define AF_INET 2
#define IPPROTO_TCP 6
#define IPPROTO_UDP 17
#define DNS_MAX 512
#define TCP_CLOSE 7
#define TCP_SYN_SENT 2

struct event {
  u64 ts;
  u32 pid;
  u32 tid;
  u32 uid;
  u16 family;
  u16 dport;
  u16 lport;
  u16 pad;
  u8 saddr[16];
  u8 daddr[16];
  char comm[16];
};

/* Set before load (BPF.load's constants, the manifest's .rodata parameters): the verifier
 * sees them as constants and prunes the filters left off. */
const volatile u32 targ_pid = 0; /* 0: any */
const volatile bool filter_uid = false;
const volatile u32 targ_uid = 0;
const volatile u32 targ_family = 0; /* -4/-6: AF_INET or AF_INET6, 0: both */
const volatile bool with_lport = false; /* -L */
const volatile bool with_dns = false;   /* -d: send DNS replies (UDP from port 53) as they are read */

/* -d: a DNS reply's payload, as the receiving process reads it (BCC's --dns). */
struct dns_event {
  u32 len;
  u8 data[DNS_MAX];
};

struct event *_event_type __attribute__((unused));
struct dns_event *_dns_event_type __attribute__((unused));

struct {
  __uint(type, BPF_MAP_TYPE_RINGBUF);
  __uint(max_entries, 1 << 20);
} events SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 4096);
  __type(key, u64);
  __type(value, struct event);
} pending SEC(".maps");

SEC("tracepoint/sock/inet_sock_set_state")
int inet_sock_set_state(struct trace_event_raw_inet_sock_set_state *args) {
  if (args->protocol != IPPROTO_TCP) return 0;
  u64 sk = (u64)args->skaddr;
  if (with_lport && args->oldstate == TCP_SYN_SENT) {
    struct event *p = bpf_map_lookup_elem(&pending, &sk);
    if (!p) return 0;
    struct event *out = bpf_ringbuf_reserve(&events, sizeof(*out), 0);
    if (out) {
      *out = *p;
      out->lport = args->sport;
      bpf_ringbuf_submit(out, 0);
    }
    bpf_map_delete_elem(&pending, &sk);
    return 0;
  }
  if (args->oldstate != TCP_CLOSE || args->newstate != TCP_SYN_SENT) return 0;
  if (targ_family && targ_family != args->family) return 0;
  u64 id = bpf_get_current_pid_tgid();
  u32 pid = id >> 32;
  if (targ_pid && targ_pid != pid) return 0;
  u32 uid = (u32)bpf_get_current_uid_gid();
  if (filter_uid && targ_uid != uid) return 0;
  if (container_excluded()) return 0;
  struct event held = {};
  held.ts = bpf_ktime_get_ns();
  held.pid = pid;
  held.tid = (u32)id;
  held.uid = uid;
  held.family = args->family;
  held.dport = args->dport;
  held.lport = args->sport;
  if (args->family == AF_INET) {
    bpf_probe_read_kernel(held.saddr, 4, args->saddr);
    bpf_probe_read_kernel(held.daddr, 4, args->daddr);
  } else {
    bpf_probe_read_kernel(held.saddr, 16, args->saddr_v6);
    bpf_probe_read_kernel(held.daddr, 16, args->daddr_v6);
  }
  bpf_get_current_comm(held.comm, sizeof(held.comm));
  if (with_lport) {
    bpf_map_update_elem(&pending, &sk, &held, BPF_ANY);
    return 0;
  }
  struct event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
  if (!e) return 0;
  *e = held;
  bpf_ringbuf_submit(e, 0);
  return 0;
}

struct {
  __uint(type, BPF_MAP_TYPE_RINGBUF);
  __uint(max_entries, 1 << 18);
} dns SEC(".maps");

/*
 * -d: BCC hooks udp_recvmsg with a kprobe; without kprobes, a DNS reply is seen as it
 * arrives (net:netif_receive_skb, loopback included): a UDP datagram (IPv4, or IPv6
 * without extension headers) from port 53, its payload sent whole (up to 512 bytes)
 * for mod.ts to parse. skb->data points at the IP header there.
 */
SEC("tracepoint/net/netif_receive_skb")
int dns_reply(struct trace_event_raw_net_dev_template *args) {
  if (!with_dns) return 0;
  struct sk_buff *skb = (struct sk_buff *)args->skbaddr;
  unsigned char *nh = BPF_CORE_READ(skb, data);
  u16 proto = BPF_CORE_READ(skb, protocol);
  u32 l4off;
  if (proto == bpf_htons(0x0800)) {
    struct iphdr ip;
    if (bpf_probe_read_kernel(&ip, sizeof(ip), nh)) return 0;
    if (ip.protocol != IPPROTO_UDP) return 0;
    l4off = ip.ihl * 4;
  } else if (proto == bpf_htons(0x86DD)) {
    struct ipv6hdr ip6;
    if (bpf_probe_read_kernel(&ip6, sizeof(ip6), nh)) return 0;
    if (ip6.nexthdr != IPPROTO_UDP) return 0;
    l4off = sizeof(ip6);
  } else {
    return 0;
  }
  struct udphdr uh;
  if (bpf_probe_read_kernel(&uh, sizeof(uh), nh + l4off)) return 0;
  if (uh.source != bpf_htons(53)) return 0;
  u32 len = bpf_ntohs(uh.len);
  if (len <= sizeof(uh)) return 0;
  len -= sizeof(uh);
  if (len > DNS_MAX) len = DNS_MAX;
  struct dns_event *e = bpf_ringbuf_reserve(&dns, sizeof(*e), 0);
  if (!e) return 0;
  e->len = len;
  if (bpf_probe_read_kernel(e->data, len, nh + l4off + sizeof(uh))) {
    bpf_ringbuf_discard(e, 0);
    return 0;
  }
  bpf_ringbuf_submit(e, 0);
  return 0;
}

char LICENSE[] SEC("license") = "GPL";
