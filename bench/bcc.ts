/**
 * BCC compatibility costs, each with its baseline measured in the same run:
 *
 * 1. Rewrite time of a BCC-dialect program (maps, methods, probe forms, kernel reads) through
 *    the whole rewriter, against the same rewriter on the equivalent libbpf C (where the BCC
 *    passes find nothing to do).
 * 2. Per-syscall cost of a BCC program counting getpid per pid with `counts.increment(pid)`
 *    and a `task->real_parent->tgid` CO-RE read, against the hand-written libbpf C doing the
 *    same, and against nothing attached.
 * 3. The extra cost of a program typed at attach time (BCC's `int on_event(void *ctx)`,
 *    loaded when attached, with the object's maps): load + attach of it, against the same
 *    program typed at load (`SEC("tracepoint")`), both from the compile cache; and the late
 *    load alone (the attach call, against the typed program's attach call).
 *
 * `deno task bench bcc [calls] [rounds]` (defaults: 1,000,000 calls, 5 rounds). Medians.
 *
 * @module
 */
import { BPF } from "../mod.ts";
import { rewrite } from "../runtime/source/rewrite.ts";
import { rewriteBcc } from "../runtime/source/bcc/mod.ts";

const BCC = `
#include <linux/sched.h>
struct data_t { u32 pid; u32 ppid; char comm[TASK_COMM_LEN]; };
BPF_HASH(counts, u32, u64);
BPF_HASH(parents, u32, u32);
BPF_PERF_OUTPUT(events);
TRACEPOINT_PROBE(syscalls, sys_enter_getpid) {
  u32 pid = bpf_get_current_pid_tgid() >> 32;
  if (pid != FILTER_PID) return 0;
  struct task_struct *task = (struct task_struct *)bpf_get_current_task();
  u32 ppid = task->real_parent->tgid;
  counts.increment(pid);
  parents.update(&pid, &ppid);
  return 0;
}
int kprobe__sys_getppid(struct pt_regs *ctx) {
  struct data_t d = {};
  d.pid = bpf_get_current_pid_tgid() >> 32;
  bpf_get_current_comm(d.comm, sizeof(d.comm));
  events.perf_submit(ctx, &d, sizeof(d));
  return 0;
}`;

const LIBBPF = `
struct { __uint(type, BPF_MAP_TYPE_HASH); __uint(max_entries, 10240); __type(key, __u32); __type(value, __u64); } counts SEC(".maps");
struct { __uint(type, BPF_MAP_TYPE_HASH); __uint(max_entries, 10240); __type(key, __u32); __type(value, __u32); } parents SEC(".maps");
SEC("tracepoint/syscalls/sys_enter_getpid") int on_getpid(void *ctx) {
  __u32 pid = bpf_get_current_pid_tgid() >> 32;
  if (pid != FILTER_PID) return 0;
  struct task_struct *task = (struct task_struct *)bpf_get_current_task();
  __u32 ppid = BPF_CORE_READ(task, real_parent, tgid);
  __u64 one = 1, *v = bpf_map_lookup_elem(&counts, &pid);
  if (v) __sync_fetch_and_add(v, 1);
  else bpf_map_update_elem(&counts, &pid, &one, BPF_NOEXIST);
  bpf_map_update_elem(&parents, &pid, &ppid, BPF_ANY);
  return 0;
}
char LICENSE[] SEC("license") = "GPL";`;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

async function buildChild(dir: string): Promise<string> {
  const bin = `${dir}/bpfpmbccbench`;
  const src = new URL("../tests/bcc_compat/_child.c", import.meta.url).pathname;
  const out = await new Deno.Command("gcc", { args: ["-O2", "-o", bin, src] })
    .output();
  if (!out.success) throw new Error(new TextDecoder().decode(out.stderr));
  return bin;
}

/** Runs `bin getpid:calls` stopped first, so the program can filter on its pid. */
async function timedRun(
  bin: string,
  calls: number,
  before: (pid: number) => Promise<() => void>,
): Promise<number> {
  const sh = new Deno.Command("sh", {
    args: ["-c", 'kill -STOP $$; exec "$0" "$@"', bin, `getpid:${calls}`],
  }).spawn();
  for (;;) {
    const stat = await Deno.readTextFile(`/proc/${sh.pid}/stat`);
    if (stat.slice(stat.lastIndexOf(")") + 2).startsWith("T")) break;
    await new Promise((r) => setTimeout(r, 1));
  }
  const done = await before(sh.pid);
  const t0 = performance.now();
  Deno.kill(sh.pid, "SIGCONT");
  await sh.status;
  const ms = performance.now() - t0;
  done();
  return ms;
}

const LATE_BODY = `{
  u32 pid = bpf_get_current_pid_tgid() >> 32;
  counts.increment(pid);
  struct task_struct *task = (struct task_struct *)bpf_get_current_task();
  u32 ppid = task->real_parent->tgid;
  parents.update(&pid, &ppid);
  return 0;
}`;
const LATE_MAPS = `BPF_HASH(counts, u32, u64);\nBPF_HASH(parents, u32, u32);\n`;
/** Typed at attach time. */
const LATE = `${LATE_MAPS}int on_event(void *ctx) ${LATE_BODY}`;
/** The same program typed at load (no auto-attach target). */
const TYPED =
  `${LATE_MAPS}SEC("tracepoint") int on_event(void *ctx) ${LATE_BODY}`;

/** Medians of load + attach and of the attach call alone, over `rounds` warm loads. */
async function loadAndAttach(
  text: string,
  rounds: number,
): Promise<{ total: number; attach: number }> {
  (await BPF.load({ text, autoAttach: false })).close(); // fill the compile cache
  const totals: number[] = [];
  const attaches: number[] = [];
  for (let r = 0; r < rounds; r++) {
    const t0 = performance.now();
    const b = await BPF.load({ text, autoAttach: false });
    const t1 = performance.now();
    b.attachTracepoint("on_event", "syscalls:sys_enter_getppid");
    const t2 = performance.now();
    totals.push(t2 - t0);
    attaches.push(t2 - t1);
    b.close();
  }
  return { total: median(totals), attach: median(attaches) };
}

/** Runs the benchmark; prints figures. */
export async function main(args: string[]): Promise<number> {
  const calls = Number(args[0] ?? 1_000_000);
  const rounds = Number(args[1] ?? 5);

  // 1. Rewrite time.
  const times = (fn: () => void, n = 200) => {
    for (let i = 0; i < 20; i++) fn();
    const xs: number[] = [];
    for (let i = 0; i < n; i++) {
      const t0 = performance.now();
      fn();
      xs.push(performance.now() - t0);
    }
    return median(xs);
  };
  const bccMs = times(() => rewriteBcc(BCC, { kprobes: false }));
  const libbpfMs = times(() => rewrite(LIBBPF));
  console.log(
    `rewrite: BCC program ${(bccMs * 1000).toFixed(0)} µs; ` +
      `baseline (libbpf C, same rewriter) ${(libbpfMs * 1000).toFixed(0)} µs`,
  );

  // 3. Programs typed at attach time.
  const late = await loadAndAttach(LATE, Math.max(rounds, 11));
  const typed = await loadAndAttach(TYPED, Math.max(rounds, 11));
  console.log(
    `typed at attach time: load + attach ${late.total.toFixed(1)} ms ` +
      `(attach with its late load ${late.attach.toFixed(1)} ms); ` +
      `baseline typed at load ${typed.total.toFixed(1)} ms (attach ${
        typed.attach.toFixed(1)
      } ms): extra ${(late.total - typed.total).toFixed(1)} ms`,
  );

  // 2. Per-syscall cost.
  const dir = await Deno.makeTempDir({ prefix: "bpfpm_bench_bcc_" });
  try {
    const bin = await buildChild(dir);
    const variant = (text: string | undefined) => async (pid: number) => {
      if (!text) return () => {};
      const b = await BPF.load({ text, cflags: [`-DFILTER_PID=${pid}`] });
      return () => b.close();
    };
    const results: Record<string, number[]> = {
      "nothing attached": [],
      "libbpf C": [],
      "BCC dialect": [],
    };
    for (let r = 0; r < rounds; r++) {
      results["nothing attached"].push(
        await timedRun(bin, calls, variant(undefined)),
      );
      results["libbpf C"].push(await timedRun(bin, calls, variant(LIBBPF)));
      results["BCC dialect"].push(await timedRun(bin, calls, variant(BCC)));
    }
    const base = median(results["nothing attached"]);
    for (const [name, xs] of Object.entries(results)) {
      const m = median(xs);
      console.log(
        `${name}: ${(m * 1e6 / calls).toFixed(0)} ns/getpid` +
          (xs === results["nothing attached"]
            ? ""
            : ` (+${
              ((m - base) * 1e6 / calls).toFixed(0)
            } ns over nothing attached)`),
      );
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
  return 0;
}
