/**
 * Kernel memory reads BCC rewrites, on real packets of the test's own loopback traffic:
 * chains through `struct sk_buff *` and `struct sock *` from a tracepoint's `void *` argument,
 * header pointers computed in static helpers (`skb->head + skb->transport_header`), a
 * subscripted cast (`((u_int8_t *)tcp)[13]`, tcpdrop's flags byte) and a local pointer
 * assigned from another read (`unsigned char *head = skb->head; head[off]`).
 */
import assert from "node:assert/strict";
import dgram from "node:dgram";
import { load } from "./_helpers.ts";

const HEADERS = `
  #include <uapi/linux/ptrace.h>
  #include <uapi/linux/tcp.h>
  #include <uapi/linux/ip.h>
  #include <net/sock.h>
  #include <bcc/proto.h>
  #include <linux/skbuff.h>

  static struct tcphdr *skb_to_tcphdr(const struct sk_buff *skb) {
    return (struct tcphdr *)(skb->head + skb->transport_header);
  }
  static inline struct iphdr *skb_to_iphdr(const struct sk_buff *skb) {
    return (struct iphdr *)(skb->head + skb->network_header);
  }`;

Deno.test("a TCP SYN on net:net_dev_queue: skb->sk->__sk_common, the IP header and tcpdrop's flags byte", async () => {
  const server = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = server.addr.port;
  try {
    using b = await load(
      `${HEADERS}
      struct seen_t { u32 family; u32 sport; u32 flags; u32 flags_via_head; u32 proto; u32 daddr; };
      BPF_HASH(seen, u16, struct seen_t);
      TRACEPOINT_PROBE(net, net_dev_queue) {
        struct sk_buff *skb = (struct sk_buff *)args->skbaddr;
        struct sock *sk = skb->sk;
        if (sk == NULL) return 0;
        u16 family = sk->__sk_common.skc_family;
        u16 dport = sk->__sk_common.skc_dport;
        dport = ntohs(dport);
        if (family != AF_INET || dport != PORT) return 0;
        struct tcphdr *tcp = skb_to_tcphdr(skb);
        struct iphdr *ip = skb_to_iphdr(skb);
        unsigned char *head = skb->head;
        u16 th = skb->transport_header;
        struct seen_t zero = {};
        struct seen_t *s = seen.lookup_or_try_init(&dport, &zero);
        if (!s) return 0;
        s->family = family;
        s->sport = sk->__sk_common.skc_num;
        s->flags |= ((u_int8_t *)tcp)[13];
        s->flags_via_head |= head[th + 13];
        s->proto = ip->protocol;
        s->daddr = ip->daddr;
        return 0;
      }`,
      { cflags: [`-DPORT=${port}`] },
    );
    const conn = await Deno.connect({ hostname: "127.0.0.1", port });
    const accepted = await server.accept();
    const local = (conn.localAddr as Deno.NetAddr).port;
    conn.close();
    accepted.close();
    const s = b.map<number, Record<string, number>>("seen").get(port);
    assert.ok(s, "no packet of the test's connection was seen");
    assert.equal(s.family, 2);
    assert.equal(s.sport, local);
    assert.equal(s.proto, 6);
    assert.equal(s.daddr, 0x0100007f); // 127.0.0.1 in network byte order, read as LE u32
    assert.ok(s.flags & 0x02, `SYN in the flags ${s.flags}`);
    assert.equal(s.flags_via_head, s.flags);
  } finally {
    server.close();
  }
});

Deno.test("tcpdrop-style on skb:kfree_skb: a UDP datagram to a closed port, dropped for NO_SOCKET", async () => {
  const probe = dgram.createSocket("udp4");
  await new Promise<void>((r) => probe.bind(0, "127.0.0.1", () => r()));
  const closed = probe.address().port;
  probe.close();
  using b = await load(
    `${HEADERS}
    #include <uapi/linux/udp.h>
    struct drop_t { u32 reason; u32 proto; u32 has_sk; u32 len; };
    BPF_HASH(drops, u16, struct drop_t);
    static int __trace_drop(void *ctx, struct sock *sk, struct sk_buff *skb, u32 reason) {
      struct iphdr *ip = skb_to_iphdr(skb);
      if (ip->protocol != IPPROTO_UDP) return 0;
      struct udphdr *udp = (struct udphdr *)(skb->head + skb->transport_header);
      u16 dport = ntohs(udp->dest);
      if (dport != PORT) return 0;
      struct drop_t d = { .reason = reason, .proto = ip->protocol,
                          .has_sk = sk != NULL, .len = skb->len };
      drops.update(&dport, &d);
      return 0;
    }
    TRACEPOINT_PROBE(skb, kfree_skb) {
      struct sk_buff *skb = args->skbaddr;
      struct sock *sk = skb->sk;
      enum skb_drop_reason reason = args->reason;
      if (reason > SKB_DROP_REASON_NOT_SPECIFIED)
        return __trace_drop(args, sk, skb, (u32)reason);
      return 0;
    }`,
    { cflags: [`-DPORT=${closed}`] },
  );
  const sender = dgram.createSocket("udp4");
  try {
    for (let i = 0; i < 3 && !b.map("drops").get(closed); i++) {
      await new Promise<void>((r, j) =>
        sender.send("bpfpm", closed, "127.0.0.1", (e) => e ? j(e) : r())
      );
      await new Promise((r) => setTimeout(r, 50));
    }
  } finally {
    sender.close();
  }
  const d = b.map<number, Record<string, number>>("drops").get(closed);
  assert.ok(d, "the datagram's drop was not seen");
  assert.equal(d.proto, 17);
  assert.equal(d.reason, 3); // SKB_DROP_REASON_NO_SOCKET
  assert.equal(d.has_sk, 0);
});
