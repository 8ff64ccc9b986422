import assert from "node:assert/strict";
import { compileBpf } from "../spec/_clang.ts";
import { inspectObject, type ObjectSpec } from "../../runtime/spec/mod.ts";
import {
  checkAttachTarget,
  checkGrants,
  globCovers,
  globMatch,
  grantDenials,
  type Grants,
  mapMemoryBytes,
  narrowGrants,
  PermissionDeniedError,
  validateGrants,
} from "../../runtime/policy/mod.ts";

const HEAD = `#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>
`;
const LICENSE = `char LICENSE[] SEC("license") = "GPL";\n`;

async function inspect(body: string): Promise<ObjectSpec> {
  return inspectObject(await compileBpf(HEAD + body + LICENSE), { cpus: 2 });
}

function denied(spec: ObjectSpec, grants: Grants): PermissionDeniedError {
  try {
    checkGrants(spec, grants);
  } catch (e) {
    if (e instanceof PermissionDeniedError) return e;
    throw e;
  }
  assert.fail("checkGrants allowed what it should refuse");
}

Deno.test("send_signal is refused with the program, the helper and the grant to add", async () => {
  const spec = await inspect(`
SEC("tp/syscalls/sys_enter_kill") int kill_it(void *ctx) { bpf_send_signal(9); return 0; }`);
  const e = denied(spec, {});
  assert.equal(
    e.message,
    'Permission denied: program "kill_it" calls bpf_send_signal (helper 109), which needs the grant helpers: ["send_signal"]',
  );
  assert.deepEqual([e.program, e.helper, e.helperId, e.missingGrant], [
    "kill_it",
    "bpf_send_signal",
    109,
    'helpers: ["send_signal"]',
  ]);
  checkGrants(spec, { helpers: ["send_signal"] });
});

Deno.test("each risky helper class is refused until granted, also from subprograms", async () => {
  const spec = await inspect(`
static __attribute__((noinline)) int poke(void *p) { return bpf_probe_write_user(p, &p, 1); }
SEC("uprobe//bin/true:main") int writer(void *ctx) { return poke(ctx); }
SEC("kprobe/do_nanosleep") int overrider(void *ctx) { return bpf_override_return(ctx, 0); }
SEC("tc") int rewriter(struct __sk_buff *skb) { char b = 0; bpf_skb_store_bytes(skb, 0, &b, 1, 0); return TC_ACT_OK; }
SEC("xdp") int redirector(struct xdp_md *ctx) { return bpf_redirect(1, 0); }
SEC("tp/sched/sched_switch") int threader(void *ctx) { return bpf_send_signal_thread(15); }`);
  const denials = grantDenials(spec, {});
  const byProgram = (name: string) =>
    denials.filter((d) => d.program === name).map((d) => d.missingGrant);
  assert.deepEqual(byProgram("writer"), ['helpers: ["probe_write_user"]']);
  assert.deepEqual(byProgram("overrider"), ['helpers: ["override_return"]']);
  assert.deepEqual(byProgram("rewriter"), ['helpers: ["packet_rewrite"]']);
  // bpf_redirect's return value is the verdict, unknown statically: it may also drop.
  assert.deepEqual(byProgram("redirector"), [
    'helpers: ["packet_redirect"]',
    'helpers: ["packet_drop"]',
  ]);
  assert.deepEqual(byProgram("threader"), ['helpers: ["send_signal"]']);
  assert.match(
    denials.find((d) => d.program === "writer")!.message,
    /calls bpf_probe_write_user \(helper 36\)/,
  );
  const e = denied(spec, { helpers: ["send_signal"] });
  assert.equal(e.denials.length, 5);
  assert.match(e.message, /\(and 4 more: /);
  checkGrants(spec, {
    helpers: [
      "probe_write_user",
      "override_return",
      "packet_rewrite",
      "packet_redirect",
      "packet_drop",
      "send_signal",
    ],
  });
});

Deno.test("packet_drop follows what an XDP/TC/cgroup program can return", async () => {
  const spec = await inspect(`
struct { __uint(type, BPF_MAP_TYPE_ARRAY); __uint(max_entries, 1); __type(key, __u32); __type(value, __u64); } n SEC(".maps");
SEC("xdp") int count_pass(struct xdp_md *ctx) {
  __u32 k = 0; __u64 *v = bpf_map_lookup_elem(&n, &k);
  if (v) __sync_fetch_and_add(v, 1);
  return XDP_PASS;
}
SEC("xdp") int drop_big(struct xdp_md *ctx) {
  return ctx->data_end - ctx->data > 1000 ? XDP_DROP : XDP_PASS;
}
SEC("xdp") int bounce(struct xdp_md *ctx) { return XDP_TX; }
SEC("tc") int shoot(struct __sk_buff *skb) { return skb->len > 100 ? TC_ACT_SHOT : TC_ACT_OK; }
SEC("tc") int tc_ok(struct __sk_buff *skb) { return TC_ACT_OK; }
SEC("cgroup_skb/egress") int egress_allow(struct __sk_buff *skb) { return 1; }
SEC("cgroup_skb/ingress") int ingress_filter(struct __sk_buff *skb) { return skb->len < 9000; }
SEC("socket") int sock(struct __sk_buff *skb) { return 0; }`);
  const denials = grantDenials(spec, {});
  const programs = [...new Set(denials.map((d) => d.program))].sort();
  assert.deepEqual(programs, ["bounce", "drop_big", "ingress_filter", "shoot"]);
  assert.equal(
    denials.find((d) => d.program === "drop_big")!.message,
    'program "drop_big" (xdp) can return XDP_DROP (1), which needs the grant helpers: ["packet_drop"]',
  );
  assert.equal(
    denials.find((d) => d.program === "bounce")!.message,
    'program "bounce" (xdp) can return XDP_TX (3), which needs the grant helpers: ["packet_redirect"]',
  );
  assert.match(
    denials.find((d) => d.program === "shoot")!.message,
    /can return TC_ACT_SHOT \(2\)/,
  );
  assert.match(
    denials.find((d) => d.program === "ingress_filter")!.message,
    /can return 0 \(drop\)/,
  );
  checkGrants(spec, { helpers: ["packet_drop", "packet_redirect"] });
});

Deno.test("direct packet writes need packet_rewrite; reads do not", async () => {
  const spec = await inspect(`
#include <linux/if_ether.h>
SEC("xdp") int swap_macs(struct xdp_md *ctx) {
  void *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
  struct ethhdr *eth = data;
  if ((void *)(eth + 1) > end) return XDP_PASS;
  unsigned char tmp[ETH_ALEN];
  __builtin_memcpy(tmp, eth->h_source, ETH_ALEN);
  __builtin_memcpy(eth->h_source, eth->h_dest, ETH_ALEN);
  __builtin_memcpy(eth->h_dest, tmp, ETH_ALEN);
  return XDP_TX;
}
struct { __uint(type, BPF_MAP_TYPE_ARRAY); __uint(max_entries, 256); __type(key, __u32); __type(value, __u64); } protos SEC(".maps");
SEC("xdp") int count_protos(struct xdp_md *ctx) {
  void *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
  struct ethhdr *eth = data;
  if ((void *)(eth + 1) > end) return XDP_PASS;
  __u32 k = eth->h_proto & 0xff;
  __u64 *v = bpf_map_lookup_elem(&protos, &k);
  if (v) *v += 1;
  return XDP_PASS;
}
SEC("tc") int mark_tos(struct __sk_buff *skb) {
  void *data = (void *)(long)skb->data, *end = (void *)(long)skb->data_end;
  if (data + 16 > end) return TC_ACT_OK;
  ((unsigned char *)data)[15] = 0x10;
  return TC_ACT_OK;
}`);
  const denials = grantDenials(spec, { helpers: ["packet_redirect"] });
  assert.deepEqual(denials.map((d) => [d.program, d.missingGrant]), [
    ["swap_macs", 'helpers: ["packet_rewrite"]'],
    ["mark_tos", 'helpers: ["packet_rewrite"]'],
  ]);
  assert.match(
    denials[0].message,
    /^program "swap_macs" \(xdp\) writes packet data directly \(instruction \d+\), which needs the grant helpers: \["packet_rewrite"\]$/,
  );
  checkGrants(spec, { helpers: ["packet_redirect", "packet_rewrite"] });
});

Deno.test("attach kinds and target globs are enforced", async () => {
  const spec = await inspect(`
SEC("tp/syscalls/sys_enter_openat") int on_open(void *ctx) { return 0; }
SEC("uprobe//bin/bash:readline") int on_readline(void *ctx) { return 0; }
SEC("xdp") int on_xdp(struct xdp_md *ctx) { return XDP_PASS; }`);
  const all: Grants = {
    attach: [
      { kind: "tracepoint", target: "syscalls:sys_enter_open*" },
      { kind: "uprobe", target: "/bin/bash:*" },
      { kind: "xdp" },
    ],
  };
  checkGrants(spec, all);
  const noUprobe = denied(spec, { attach: [all.attach![0], all.attach![2]] });
  assert.equal(
    noUprobe.message,
    'Permission denied: program "on_readline" attaches as uprobe /bin/bash:readline, which needs the grant attach: [{ kind: "uprobe", target: "/bin/bash:readline" }]',
  );
  assert.deepEqual([noUprobe.program, noUprobe.kind, noUprobe.target], [
    "on_readline",
    "uprobe",
    "/bin/bash:readline",
  ]);
  const outside = denied(spec, {
    attach: [
      { kind: "tracepoint", target: "syscalls:sys_enter_read*" },
      all.attach![1],
      all.attach![2],
    ],
  });
  assert.equal(
    outside.message,
    'Permission denied: program "on_open" attaches to tracepoint syscalls:sys_enter_openat, outside the granted targets (syscalls:sys_enter_read*): it needs the grant attach: [{ kind: "tracepoint", target: "syscalls:sys_enter_openat" }]',
  );
  assert.equal(grantDenials(spec, { attach: [] }).length, 3);
  // The XDP program's target (the interface) is only known at attach time.
  const g: Grants = { attach: [{ kind: "xdp", target: "veth*" }] };
  checkAttachTarget(g, { program: "on_xdp", kind: "xdp", target: "veth-a" });
  assert.throws(
    () =>
      checkAttachTarget(g, { program: "on_xdp", kind: "xdp", target: "eth0" }),
    {
      name: "PermissionDeniedError",
      message:
        /program "on_xdp" attaches to xdp eth0, outside the granted targets \(veth\*\)/,
    },
  );
});

Deno.test("map memory over the cap is refused, naming the biggest maps", async () => {
  const spec = await inspect(`
struct { __uint(type, BPF_MAP_TYPE_HASH); __uint(max_entries, 100000); __type(key, __u64); __type(value, __u64); } big SEC(".maps");
struct { __uint(type, BPF_MAP_TYPE_RINGBUF); __uint(max_entries, 1 << 20); } rb SEC(".maps");
SEC("tp/sched/sched_switch") int t(void *ctx) { __u64 k = 0; bpf_map_lookup_elem(&big, &k); return 0; }`);
  const total = spec.maps.reduce((s, m) => s + m.memoryBytes, 0);
  assert.equal(
    total,
    131072 * 16 + (100000 + 2) * 64 + (1 << 20) + 16384 + 258 * 8,
  );
  checkGrants(spec, { mapMemory: "10MiB" });
  const e = denied(spec, { mapMemory: "4MiB" });
  assert.equal(
    e.message,
    'Permission denied: the maps need about 9.2MiB (big 8.2MiB, rb 1.1MiB), more than the granted mapMemory of 4MiB: it needs the grant mapMemory: "9.2MiB"',
  );
  assert.ok(mapMemoryBytes("9.2MiB") >= total);
  assert.equal(e.program, undefined);
});

Deno.test("grant sets are validated and narrowed, never widened", () => {
  assert.throws(() => validateGrants({ attach: [{ kind: "kprobes" }] }), {
    name: "TypeError",
    message:
      /^grants\.attach\[0\]\.kind must be one of tracepoint, raw_tp, .*got "kprobes"$/,
  });
  assert.throws(
    () => validateGrants({ helpers: ["send_signals"] }),
    /grants\.helpers\[0\] must be one of/,
  );
  assert.throws(
    () => validateGrants({ mapMemory: "lots" }),
    /grants\.mapMemory: mapMemory must be/,
  );
  assert.throws(() => validateGrants({ helper: [] }), /unknown field "helper"/);
  const outer: Grants = {
    attach: [{ kind: "tracepoint", target: "syscalls:*" }, { kind: "uprobe" }],
    helpers: ["send_signal"],
    mapMemory: "16MiB",
  };
  assert.deepEqual(
    narrowGrants(outer, {
      attach: [{ kind: "tracepoint", target: "syscalls:sys_enter_*" }],
    }),
    {
      attach: [{ kind: "tracepoint", target: "syscalls:sys_enter_*" }],
      helpers: ["send_signal"],
      mapMemory: "16MiB",
    },
  );
  assert.throws(
    () => narrowGrants(outer, { attach: [{ kind: "tracepoint" }] }),
    {
      name: "PermissionDeniedError",
      message:
        "Permission denied: the script asks for attach tracepoint (any target), which the outer grant set (BPFPM_GRANTS, from bpfpm run) does not include: declare it in the package's bpf.grants",
    },
  );
  assert.throws(
    () => narrowGrants(outer, { helpers: ["probe_write_user"] }),
    /helper class probe_write_user, which the outer grant set/,
  );
  assert.throws(
    () => narrowGrants(outer, { mapMemory: "1GiB" }),
    /mapMemory 1GiB, more than 16MiB/,
  );
  assert.deepEqual(
    narrowGrants(outer, { helpers: [], mapMemory: 1024 }).helpers,
    [],
  );
});

Deno.test("globs match whole targets, and cover only narrower globs", () => {
  assert.ok(globMatch("syscalls:sys_enter_*", "syscalls:sys_enter_openat"));
  assert.ok(!globMatch("syscalls:sys_enter_*", "syscalls:sys_exit_openat"));
  assert.ok(
    globMatch(
      "/usr/lib/*/libc.so.?:malloc",
      "/usr/lib/x86_64-linux-gnu/libc.so.6:malloc",
    ),
  );
  assert.ok(!globMatch("sched:sched_switch", "sched:sched_switch2"));
  assert.ok(globCovers("syscalls:*", "syscalls:sys_enter_*"));
  assert.ok(globCovers("a*", "a?c"));
  assert.ok(!globCovers("a?c", "a*c"));
  assert.ok(!globCovers("syscalls:sys_enter_*", "syscalls:*"));
});
