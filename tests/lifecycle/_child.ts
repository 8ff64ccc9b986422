/**
 * A probe process for the lifecycle tests: loads one object with programs of many attach
 * kinds, attaches each, prints `{ progIds, linkIds }` as one JSON line, then does what argv
 * says: `wait` (until a signal), `exit` (return normally, nothing closed), `throw` (an
 * uncaught error), or `pin <path>` (pin the uprobe link, then wait).
 *
 * With `NETLINK=1` in the environment it also attaches XDP (replace) and a clsact TC filter to
 * v1 through netlink: attachments the kernel does not free with the process, so only the
 * runtime's exit paths remove them.
 *
 * usage: deno run -A _child.ts <mode> <netns> <cgroup> [pin path]
 */
import { BPF, type Link } from "../../mod.ts";

const [mode, netns, cgroup, pinPath] = Deno.args;

const b = await BPF.load({
  text: `
SEC("uprobe") int on_readline(struct pt_regs *ctx) { return 0; }
SEC("perf_event") int on_sample(struct bpf_perf_event_data *ctx) { return 0; }
SEC("socket") int on_packet(struct __sk_buff *skb) { return 0; }
SEC("xdp") int on_xdp(struct xdp_md *ctx) { return XDP_PASS; }
SEC("tc") int on_tc(struct __sk_buff *skb) { return 0; }
SEC("cgroup_skb/egress") int on_egress(struct __sk_buff *skb) { return 1; }
SEC("iter/task") int on_task(struct bpf_iter__task *ctx) { return 0; }
SEC("ksyscall/getppid") int on_getppid(void *ctx) { return 0; }
SEC("tracepoint/syscalls/sys_enter_getpid") int on_getpid(void *ctx) { return 0; }
char LICENSE[] SEC("license") = "GPL";`,
});
const links: Link[] = [
  b.attachUprobe("on_readline", { binary: "bash", symbol: "readline" }),
  b.attachPerfEvent("on_sample", { event: "cpu-clock", frequency: 10 }),
  b.attachSocketFilter("on_packet", { ifname: "lo" }),
  b.attachXdp("on_xdp", "v0", { netns }),
  b.attachTc("on_tc", "v0", { netns }),
  b.attachCgroup("on_egress", { path: cgroup }),
  b.attachIter("on_task"),
];
if (Deno.env.get("NETLINK") === "1") {
  links.push(b.attachXdp("on_xdp", "v1", { netns, replace: true }));
  links.push(b.attachTc("on_tc", "v1", { netns, clsact: true }));
}
const fallback = b.links.find((l) => l.kind === "kprobe") as
  | (Link & { fallbackProgramId?: number })
  | undefined;
const progIds = [...b.programs.values()].map((p) => p.id);
if (fallback?.fallbackProgramId) progIds.push(fallback.fallbackProgramId);
const linkIds = links.map((l) => l.id).filter((id) => id > 0);
if (mode === "pin") links[0].pin(pinPath);
console.log(
  JSON.stringify({
    progIds,
    linkIds,
    uprobeProg: b.programs.get("on_readline")!.id,
  }),
);

if (mode === "throw") {
  setTimeout(() => {
    throw new Error("bpfpm lifecycle test: an uncaught error");
  }, 50);
} else if (mode === "wait" || mode === "pin") {
  setInterval(() => {}, 1000);
}
