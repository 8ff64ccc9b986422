/**
 * Runs under README.md's narrow Deno flags (plus read access to the traced binary): attaches a
 * uprobe to `target_fn` of the binary given, prints `{ link }` as one JSON line, waits for a
 * line on stdin (the parent runs the binary meanwhile), then prints `{ calls }` and exits,
 * closing everything.
 *
 * usage: deno run <README flags> --allow-read=<binary> _narrow_uprobe_child.ts <binary>
 */
import { BPF, Link } from "bpf";

const [binary] = Deno.args;
using b = await BPF.load({
  autoAttach: false,
  text: `
struct { __uint(type, BPF_MAP_TYPE_ARRAY); __uint(max_entries, 1); __type(key, __u32); __type(value, __u64); } calls SEC(".maps");
SEC("uprobe") int on_call(struct pt_regs *ctx) {
  __u32 k = 0; __u64 *v = bpf_map_lookup_elem(&calls, &k);
  if (v) __sync_fetch_and_add(v, 1);
  return 0;
}
char LICENSE[] SEC("license") = "GPL";`,
});
using link = b.attachUprobe("on_call", { binary, symbol: "target_fn" });
console.log(JSON.stringify({
  link: {
    isLink: link instanceof Link,
    kind: link.kind,
    target: link.target,
    id: link.id,
  },
}));
const reader = Deno.stdin.readable.getReader();
await reader.read();
reader.releaseLock();
console.log(
  JSON.stringify({
    calls: String(b.map<number, bigint>("calls").get(0)),
  }),
);
