import assert from "node:assert/strict";
import { BPF } from "bpf";
import { PermissionDeniedError } from "../../runtime/policy/check.ts";
import { resolveBinary } from "../../runtime/attach/find_library.ts";
import { thrown } from "./_helpers.ts";

const TEXT = `
SEC("uprobe") int on_call(struct pt_regs *ctx) { return 0; }
SEC("socket") int on_packet(struct __sk_buff *skb) { return 0; }
char LICENSE[] SEC("license") = "GPL";`;

Deno.test("targets given at attach time are checked against the grants", async () => {
  const bash = resolveBinary("bash")!;
  using b = await BPF.load({
    text: TEXT,
    autoAttach: false,
    grants: {
      attach: [{ kind: "uprobe", target: `${bash}:*` }, {
        kind: "socket_filter",
      }],
    },
  });
  using _ok = b.attachUprobe("on_call", { binary: "bash", symbol: "readline" });
  const e = thrown(
    () => b.attachUprobe("on_call", { binary: "c", symbol: "getpid" }),
    PermissionDeniedError,
  );
  assert.match(e.message, /outside the granted targets/);
  assert.ok(e.message.includes("libc.so"), e.message);
  using _sock = b.attachSocketFilter("on_packet", { ifname: "lo" });
  assert.equal(b.links.length, 2, "the denied attach made no link");
});

Deno.test("an attach kind that was not granted is refused before anything attaches", async () => {
  using b = await BPF.load({
    text: TEXT,
    autoAttach: false,
    grants: {
      attach: [{ kind: "uprobe" }, { kind: "socket_filter", target: "eth*" }],
    },
  });
  const e = thrown(
    () => b.attachSocketFilter("on_packet", { ifname: "lo" }),
    PermissionDeniedError,
  );
  assert.ok(e.message.includes("socket_filter lo"), e.message);
  assert.equal(b.links.length, 0);
});
