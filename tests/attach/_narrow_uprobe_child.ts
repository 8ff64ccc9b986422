/**
 * Runs under README.md's narrow Deno flags (plus read access to the traced binary): attaches a
 * uprobe to `target_fn` and a USDT program to `bpfpm:tick` of the binary given, tries a USDT
 * attach for a process that is gone (the native error must come back as an AttachError, not
 * as a Deno permission error), prints `{ link, usdt, goneError }` as one JSON line, waits for a
 * line on stdin (the parent runs the binary meanwhile), then prints `{ calls, ticks }` and
 * exits, closing everything.
 *
 * usage: deno run <README flags> --allow-read=<binary> _narrow_uprobe_child.ts <binary> <gone pid>
 */
import { AttachError, BPF, Link } from "bpf";

const [binary, gonePid] = Deno.args;
using b = await BPF.load({
  autoAttach: false,
  text: `
struct { __uint(type, BPF_MAP_TYPE_ARRAY); __uint(max_entries, 2); __type(key, __u32); __type(value, __u64); } calls SEC(".maps");
SEC("uprobe") int on_call(struct pt_regs *ctx) {
  __u32 k = 0; __u64 *v = bpf_map_lookup_elem(&calls, &k);
  if (v) __sync_fetch_and_add(v, 1);
  return 0;
}
#include <bpf/usdt.bpf.h>
SEC("usdt") int BPF_USDT(on_tick, int i) {
  __u32 k = 1; __u64 *v = bpf_map_lookup_elem(&calls, &k);
  if (v) __sync_fetch_and_add(v, 1);
  return 0;
}
char LICENSE[] SEC("license") = "GPL";`,
});
using link = b.attachUprobe("on_call", { binary, symbol: "target_fn" });
using usdt = b.attachUsdt("on_tick", {
  binary,
  provider: "bpfpm",
  name: "tick",
});
let goneError = "";
try {
  b.attachUsdt("on_tick", {
    binary,
    provider: "bpfpm",
    name: "tick",
    pid: Number(gonePid),
  }).close();
} catch (e) {
  goneError = `${(e as Error).name}${
    e instanceof AttachError ? ` errno ${e.errno}` : ""
  }: ${(e as Error).message}`;
}
const describe = (l: Link) => ({
  isLink: l instanceof Link,
  kind: l.kind,
  target: l.target,
  id: l.id,
});
console.log(
  JSON.stringify({ link: describe(link), usdt: describe(usdt), goneError }),
);
const reader = Deno.stdin.readable.getReader();
await reader.read();
reader.releaseLock();
const calls = b.map<number, bigint>("calls");
console.log(
  JSON.stringify({ calls: String(calls.get(0)), ticks: String(calls.get(1)) }),
);
