import assert from "node:assert/strict";
import { attachXdp } from "../../runtime/attach/xdp.ts";
import { attachTc } from "../../runtime/attach/tc.ts";
import { AttachError } from "../../runtime/errors.ts";
import { load, run, thrown, u64Array } from "./_helpers.ts";

const PORT = 9999;
/** xdp_drop returns XDP_DROP: a risky verdict that must be granted. */
const DROP = { helpers: ["packet_drop" as const] };

// Counts (and optionally drops) IPv4 UDP packets to PORT; XDP and TC flavours.
const PROGRAMS = `
${u64Array("xdp_seen")}
${u64Array("tc_seen")}
static __always_inline int is_probe_udp(void *data, void *end) {
  struct ethhdr *eth = data;
  if ((void *)(eth + 1) > end || eth->h_proto != __builtin_bswap16(0x0800)) return 0;
  struct iphdr *ip = (void *)(eth + 1);
  if ((void *)(ip + 1) > end || ip->protocol != 17) return 0;
  struct udphdr *udp = (void *)ip + ip->ihl * 4;
  if ((void *)(udp + 1) > end) return 0;
  return udp->dest == __builtin_bswap16(${PORT});
}
static __always_inline void bump(void *map) {
  __u32 k = 0; __u64 *v = bpf_map_lookup_elem(map, &k);
  if (v) __sync_fetch_and_add(v, 1);
}
SEC("xdp") int xdp_count(struct xdp_md *ctx) {
  void *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
  if (is_probe_udp(data, end)) bump(&xdp_seen);
  return XDP_PASS;
}
SEC("xdp") int xdp_drop(struct xdp_md *ctx) {
  void *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
  if (!is_probe_udp(data, end)) return XDP_PASS;
  bump(&xdp_seen);
  return XDP_DROP;
}
SEC("tc") int tc_count(struct __sk_buff *skb) {
  void *data = (void *)(long)skb->data, *end = (void *)(long)skb->data_end;
  if (is_probe_udp(data, end)) bump(&tc_seen);
  return 0; /* TC_ACT_OK */
}
char LICENSE[] SEC("license") = "GPL";`;

/** Two namespaces joined by a veth pair: a (10.x.y.1) and b (10.x.y.2). */
async function withVethPair(
  fn: (
    net: { a: string; b: string; ifA: string; ifB: string; ipB: string },
  ) => Promise<void>,
) {
  const tag = Math.random().toString(36).slice(2, 8);
  const octet = 1 + Math.floor(Math.random() * 250);
  const net = {
    a: `bpfpm_a_${tag}`,
    b: `bpfpm_b_${tag}`,
    ifA: `bpa${tag}`,
    ifB: `bpb${tag}`,
    ipB: `10.213.${octet}.2`,
  };
  try {
    await run("ip", ["netns", "add", net.a]);
    await run("ip", ["netns", "add", net.b]);
    await run("ip", [
      "link",
      "add",
      net.ifA,
      "netns",
      net.a,
      "type",
      "veth",
      "peer",
      "name",
      net.ifB,
      "netns",
      net.b,
    ]);
    await run("ip", [
      "-n",
      net.a,
      "addr",
      "add",
      `10.213.${octet}.1/24`,
      "dev",
      net.ifA,
    ]);
    await run("ip", [
      "-n",
      net.b,
      "addr",
      "add",
      `${net.ipB}/24`,
      "dev",
      net.ifB,
    ]);
    await run("ip", ["-n", net.a, "link", "set", net.ifA, "up"]);
    await run("ip", ["-n", net.b, "link", "set", net.ifB, "up"]);
    await fn(net);
  } finally {
    for (const ns of [net.a, net.b]) {
      await new Deno.Command("ip", {
        args: ["netns", "del", ns],
        stderr: "null",
      }).output();
    }
  }
}

/** Sends n UDP datagrams to ip:PORT from namespace ns (bash's /dev/udp). */
async function sendUdp(ns: string, ip: string, n: number) {
  await run("ip", [
    "netns",
    "exec",
    ns,
    "bash",
    "-c",
    `for i in $(seq ${n}); do echo probe > /dev/udp/${ip}/${PORT}; done`,
  ]);
}

Deno.test("XDP and TC (tcx) count packets on a veth pair between two namespaces", async () => {
  using obj = await load(PROGRAMS, DROP);
  await withVethPair(async (net) => {
    using xdp = attachXdp(obj.programs.get("xdp_count")!, net.ifB, {
      netns: net.b,
    });
    using tc = attachTc(obj.programs.get("tc_count")!, net.ifB, {
      netns: net.b,
    });
    assert.ok(xdp.id > 0, "XDP is a bpf link");
    assert.equal(tc.kind, "tc");
    await sendUdp(net.a, net.ipB, 6);
    assert.equal(obj.u64("xdp_seen"), 6n);
    assert.equal(obj.u64("tc_seen"), 6n);
  });
});

Deno.test("XDP drops packets before TC sees them", async () => {
  using obj = await load(PROGRAMS, DROP);
  await withVethPair(async (net) => {
    using _xdp = attachXdp(obj.programs.get("xdp_drop")!, net.ifB, {
      netns: net.b,
      mode: "generic",
    });
    using _tc = attachTc(obj.programs.get("tc_count")!, net.ifB, {
      netns: net.b,
    });
    await sendUdp(net.a, net.ipB, 4);
    assert.equal(obj.u64("xdp_seen"), 4n);
    assert.equal(obj.u64("tc_seen"), 0n, "dropped packets never reach TC");
  });
});

Deno.test("TC egress through a clsact filter counts what a namespace sends", async () => {
  using obj = await load(PROGRAMS, DROP);
  await withVethPair(async (net) => {
    {
      using tc = attachTc(obj.programs.get("tc_count")!, net.ifA, {
        netns: net.a,
        direction: "egress",
        clsact: true,
      });
      assert.equal(tc.id, 0, "a netlink filter is not a bpf link");
      await sendUdp(net.a, net.ipB, 5);
      assert.equal(obj.u64("tc_seen"), 5n);
    }
    const filters = await run("ip", [
      "netns",
      "exec",
      net.a,
      "tc",
      "filter",
      "show",
      "dev",
      net.ifA,
      "egress",
    ]);
    assert.equal(filters.trim(), "", "the filter is gone after dispose");
    await sendUdp(net.a, net.ipB, 2);
    assert.equal(obj.u64("tc_seen"), 5n);
  });
});

Deno.test("XDP: a second program is refused unless replace is asked, which swaps it", async () => {
  using obj = await load(PROGRAMS, DROP);
  await withVethPair(async (net) => {
    {
      using _count = attachXdp(obj.programs.get("xdp_count")!, net.ifB, {
        netns: net.b,
      });
      const e = thrown(
        () =>
          attachXdp(obj.programs.get("xdp_drop")!, net.ifB, { netns: net.b }),
        AttachError,
      );
      assert.match(
        e.message,
        /already has an XDP program: pass \{ replace: true \}/,
      );
    }
    using _count = attachXdp(obj.programs.get("xdp_count")!, net.ifB, {
      netns: net.b,
      replace: true,
    });
    {
      using drop = attachXdp(obj.programs.get("xdp_drop")!, net.ifB, {
        netns: net.b,
        replace: true,
      });
      assert.equal(drop.id, 0, "a netlink attachment is not a bpf link");
      await sendUdp(net.a, net.ipB, 3);
      assert.equal(obj.u64("xdp_seen"), 3n);
    }
    const link = await run("ip", ["-n", net.b, "link", "show", net.ifB]);
    assert.doesNotMatch(
      link,
      /prog\/xdp/,
      "closing the replacement detached it",
    );
  });
});

Deno.test("XDP/TC bad input: missing interface or namespace, one clear message", async () => {
  using obj = await load(PROGRAMS, DROP);
  const e1 = thrown(
    () => attachXdp(obj.programs.get("xdp_count")!, "nosuch0"),
    AttachError,
  );
  assert.match(e1.message, /network interface nosuch0 does not exist/);
  assert.equal(e1.errno, 19);
  const e2 = thrown(
    () =>
      attachTc(obj.programs.get("tc_count")!, "lo", {
        netns: "bpfpm_no_such_ns",
      }),
    AttachError,
  );
  assert.match(e2.message, /network namespace bpfpm_no_such_ns does not exist/);
});
