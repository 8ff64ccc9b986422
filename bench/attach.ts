/**
 * Attach costs, measured in one run with their baselines:
 *
 * 1. Per-call overhead of a uprobe and a uretprobe (a counting program) on a C function,
 *    against the same binary with nothing attached (the baseline), and against bpftrace's
 *    uprobe on the same function when bpftrace is installed (a peer).
 * 2. Attach + detach latency per kind (uprobe, uretprobe, perf_event on every CPU, socket
 *    filter, the syscall-kprobe fallback, iterator), against a tracepoint (core's attach,
 *    the baseline).
 *
 * `deno task bench attach [calls] [rounds]` (defaults: 20,000 calls, 5 rounds). Medians. A uprobe
 * traps (int3), which costs tens of microseconds inside this project's nested VMs.
 *
 * @module
 */
import { BPF } from "../mod.ts";

const TARGET_C = `
#include <stdlib.h>
__attribute__((noinline)) int target_fn(int x) { __asm__ volatile(""); return x + 1; }
int main(int argc, char **argv) {
  long n = atol(argv[1]), s = 0;
  for (long i = 0; i < n; i++) s += target_fn(i);
  return s == -1;
}`;

const PROBES = `
struct { __uint(type, BPF_MAP_TYPE_ARRAY); __uint(max_entries, 1); __type(key, __u32); __type(value, __u64); } calls SEC(".maps");
static __always_inline void bump(void) {
  __u32 k = 0; __u64 *v = bpf_map_lookup_elem(&calls, &k);
  if (v) __sync_fetch_and_add(v, 1);
}
SEC("uprobe") int on_call(struct pt_regs *ctx) { bump(); return 0; }
SEC("uretprobe") int on_ret(struct pt_regs *ctx) { bump(); return 0; }
SEC("perf_event") int on_sample(struct bpf_perf_event_data *ctx) { return 0; }
SEC("socket") int on_packet(struct __sk_buff *skb) { return 0; }
SEC("kprobe/__x64_sys_getppid") int on_getppid(void *ctx) { return 0; }
SEC("tracepoint/syscalls/sys_enter_getppid") int on_tp(void *ctx) { return 0; }
SEC("iter/task") int on_task(struct bpf_iter__task *ctx) { return 0; }
char LICENSE[] SEC("license") = "GPL";`;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

async function timeRun(cmd: string, args: string[]): Promise<number> {
  const t = performance.now();
  const out = await new Deno.Command(cmd, {
    args,
    stdout: "null",
    stderr: "null",
  }).output();
  const ms = performance.now() - t;
  if (!out.success) throw new Error(`${cmd} failed`);
  return ms;
}

function hasBpftrace(): boolean {
  try {
    return new Deno.Command("bpftrace", {
      args: ["--version"],
      stdout: "null",
      stderr: "null",
    })
      .outputSync().success;
  } catch {
    return false;
  }
}

/** Runs the benchmark; returns the exit code. */
export async function main(args: string[]): Promise<number> {
  const calls = Number(args[0] ?? 20_000);
  const rounds = Number(args[1] ?? 5);
  const dir = await Deno.makeTempDir({ prefix: "bpfpm_bench_attach_" });
  try {
    await Deno.writeTextFile(`${dir}/target.c`, TARGET_C);
    const bin = `${dir}/target`;
    const cc = await new Deno.Command("gcc", {
      args: ["-O1", "-o", bin, `${dir}/target.c`],
    })
      .output();
    if (!cc.success) throw new Error("gcc failed");
    using b = await BPF.load({ text: PROBES, autoAttach: false });
    const run = () => timeRun(bin, [String(calls)]);

    console.log(
      `# uprobe overhead per call (${calls} calls, median of ${rounds})`,
    );
    const base: number[] = [];
    const up: number[] = [];
    const uret: number[] = [];
    for (let r = 0; r < rounds; r++) {
      base.push(await run());
      {
        using _l = b.attachUprobe("on_call", {
          binary: bin,
          symbol: "target_fn",
        });
        up.push(await run());
      }
      {
        using _l = b.attachUretprobe("on_ret", {
          binary: bin,
          symbol: "target_fn",
        });
        uret.push(await run());
      }
    }
    const per = (xs: number[]) => ((median(xs) - median(base)) * 1e6) / calls;
    console.log(
      `baseline (nothing attached): ${
        median(base).toFixed(1)
      } ms per run of ${calls} calls`,
    );
    console.log(`uprobe:    +${per(up).toFixed(0)} ns/call`);
    console.log(`uretprobe: +${per(uret).toFixed(0)} ns/call`);
    if (hasBpftrace()) {
      const bt: number[] = [];
      for (let r = 0; r < Math.min(rounds, 3); r++) {
        const child = new Deno.Command("bpftrace", {
          args: ["-e", `uprobe:${bin}:target_fn { @n = count(); }`],
          stdout: "piped",
          stderr: "null",
        }).spawn();
        const reader = child.stdout.getReader();
        // bpftrace prints "Attaching 1 probe..." once its probe is live.
        await reader.read();
        await new Promise((r) => setTimeout(r, 200));
        bt.push(await run());
        child.kill("SIGINT");
        await child.status;
        reader.releaseLock();
        await child.stdout.cancel();
      }
      console.log(`bpftrace uprobe (peer): +${per(bt).toFixed(0)} ns/call`);
    } else {
      console.log(
        "bpftrace uprobe (peer): not installed (apt-get install bpftrace)",
      );
    }

    console.log(`\n# attach + detach latency (median of ${rounds})`);
    const kinds: [string, () => Disposable][] = [
      [
        "tracepoint (baseline)",
        () => b.attachTracepoint("on_tp", "syscalls:sys_enter_getppid"),
      ],
      [
        "uprobe",
        () => b.attachUprobe("on_call", { binary: bin, symbol: "target_fn" }),
      ],
      [
        "uretprobe",
        () => b.attachUretprobe("on_ret", { binary: bin, symbol: "target_fn" }),
      ],
      [
        `perf_event (${navigator.hardwareConcurrency} CPUs)`,
        () =>
          b.attachPerfEvent("on_sample", { event: "cpu-clock", frequency: 49 }),
      ],
      [
        "socket_filter (lo)",
        () => b.attachSocketFilter("on_packet", { ifname: "lo" }),
      ],
      [
        "kprobe → syscall tracepoint fallback",
        () => b.attachKprobe("on_getppid", "__x64_sys_getppid"),
      ],
      ["iter", () => b.attachIter("on_task")],
    ];
    for (const [name, attach] of kinds) {
      const a: number[] = [];
      const d: number[] = [];
      for (let r = 0; r < rounds; r++) {
        let t = performance.now();
        const link = attach();
        a.push(performance.now() - t);
        t = performance.now();
        link[Symbol.dispose]();
        d.push(performance.now() - t);
      }
      console.log(
        `${name.padEnd(40)} attach ${median(a).toFixed(2)} ms, detach ${
          median(d).toFixed(2)
        } ms`,
      );
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
  return 0;
}
