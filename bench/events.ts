/**
 * `deno task bench events [count] [runs]`: ring buffer throughput, our TypeScript reader against a C
 * libbpf consumer, in the same run and on the same BPF program (bench/events_c/events.bpf.c):
 * a tight getppid() loop writes 64-byte records into a 256 KiB ring buffer, with a wakeup per
 * record and with one per 64 records. Both consumers decode every record (C reads fields in
 * its callback; ours builds a JS object per record). Ours is one probe package (its entry
 * below), run two ways: in process (`deno run -A`, `"bpf"` is mod.ts) and sandboxed, under
 * `bpfpm run` (the trusted parent drains the ring buffer and sends batches over the sandbox
 * channel; the package's code, as nobody, decodes and counts them; its row gives the peak
 * RSS of parent + child). Prints a table, `result events ours_per_s=… c_per_s=… ratio=…
 * drops=…` (in process) and `result events-sandboxed …`, each for its better policy.
 *
 * @module
 */
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import {
  type BenchPackage,
  Lines,
  type RunMode,
  startPackage,
  treePeakRss,
  writePackage,
} from "./_sandbox.ts";

const here = dirname(fileURLToPath(import.meta.url));

interface Run {
  records: number;
  drops: number;
  seconds: number;
  wakeups: number;
  /** Peak RSS (KiB) of the package's processes (sandboxed: the trusted parent + the child). */
  rssKb?: number;
}

/**
 * The package's entry: loads the bench program, targets the producer, says READY, counts
 * records (each decoded to an object, as in process) until all the producer's records that
 * were not dropped are in, then prints `DONE records drops wakeups lastRecordEpochMs` and
 * waits for stdin to close (so its peak RSS can be read).
 */
const PACKAGE_MAIN = `import { BPF } from "bpf";
const [pid, countArg, policy, mode] = Deno.args;
const count = Number(countArg);
using b = await BPF.load({ file: new URL("./events.bpf.c", import.meta.url) });
const reader = b.ringbuf("events", { type: "struct event", onFull: () => {} });
const config = b.map("bench_cfg");
config.set(0, { pid: Number(pid), policy: Number(policy), count: BigInt(count), seq: 0n, drops: 0n });
let records = 0;
let checksum = 0n;
let last = 0;
let lastProgress = performance.now();
const watchdog = setInterval(() => {
  const c = config.get(0);
  if (c.seq < BigInt(count)) return;
  if (records + Number(c.drops) >= count || performance.now() - lastProgress > 2000) {
    reader.close();
  }
}, 20);
console.log("READY");
if (mode === "iterator") {
  for await (const e of reader) {
    records++;
    checksum += e.seq;
    if ((records & 4095) === 0) lastProgress = performance.now();
    if (records === count) break;
  }
  last = performance.now();
} else {
  for await (const batch of reader.batches()) {
    for (const e of batch) checksum += e.seq;
    records += batch.length;
    last = lastProgress = performance.now();
    if (records === count) break;
  }
}
clearInterval(watchdog);
reader.close();
if (checksum < 0n) throw new Error("unreachable");
console.log(\`DONE \${records} \${config.get(0).drops} \${reader.wakeups} \${performance.timeOrigin + last}\`);
await Deno.stdin.readable.pipeTo(new WritableStream());
`;

function eventsPackage(source: string): Promise<BenchPackage> {
  return writePackage("bench-events", {
    attach: [{ kind: "tracepoint", target: "syscalls:sys_enter_getppid" }],
    helpers: [],
    mapMemory: "1MiB",
  }, { "main.ts": PACKAGE_MAIN, "events.bpf.c": source });
}

async function exec(
  cmd: string,
  args: string[],
  stdoutTo?: string,
): Promise<string> {
  const out = await new Deno.Command(cmd, {
    args,
    stdout: "piped",
    stderr: "piped",
  })
    .output();
  if (!out.success) {
    throw new Error(
      `${cmd} ${args.join(" ")} failed: ${
        new TextDecoder().decode(out.stderr)
      }`,
    );
  }
  if (stdoutTo) await Deno.writeFile(stdoutTo, out.stdout);
  return new TextDecoder().decode(out.stdout);
}

async function build(
  dir: string,
): Promise<{ obj: string; consumer: string; producer: string }> {
  const src = join(here, "events_c");
  await exec(
    "bpftool",
    ["btf", "dump", "file", "/sys/kernel/btf/vmlinux", "format", "c"],
    join(dir, "vmlinux.h"),
  );
  const obj = join(dir, "events.bpf.o");
  const arch = Deno.build.arch === "aarch64" ? "arm64" : "x86";
  await exec("clang", [
    "-O2",
    "-g",
    "-target",
    "bpf",
    `-D__TARGET_ARCH_${arch}`,
    "-I",
    dir,
    "-c",
    join(src, "events.bpf.c"),
    "-o",
    obj,
  ]);
  const consumer = join(dir, "consumer");
  await exec("gcc", ["-O2", "-o", consumer, join(src, "consumer.c"), "-lbpf"]);
  const producer = join(dir, "producer");
  await exec("gcc", ["-O2", "-o", producer, join(src, "producer.c")]);
  return { obj, consumer, producer };
}

async function runC(
  tools: { obj: string; consumer: string; producer: string },
  count: number,
  policy: number,
): Promise<Run> {
  const out = await exec(tools.consumer, [
    tools.obj,
    tools.producer,
    String(count),
    String(policy),
  ]);
  const [records, drops, seconds, wakeups] = out.trim().split(/\s+/).map(
    Number,
  );
  return { records, drops, seconds, wakeups };
}

/**
 * One run of the package (`loop`: for await or batches): the clock runs from the producer's
 * start to the package's last record.
 */
async function runPackage(
  pkg: BenchPackage,
  mode: RunMode,
  producer: string,
  count: number,
  policy: number,
  loop: "iterator" | "batches",
): Promise<Run> {
  // The shell calls getppid() while starting: target it only once it says it is ready.
  const prod = new Deno.Command("sh", {
    args: ["-c", `echo ready; read _; exec ${producer} ${count}`],
    stdin: "piped",
    stdout: "piped",
  }).spawn();
  try {
    const prodOut = new Lines(prod.stdout);
    await prodOut.next("ready");
    await prodOut.cancel();
    await using run = startPackage(pkg, mode, [
      String(prod.pid),
      String(count),
      String(policy),
      loop,
    ]);
    await run.expect("READY");
    const go = prod.stdin.getWriter();
    const t0 = performance.timeOrigin + performance.now();
    await go.write(new Uint8Array([10]));
    await go.close();
    const done = await run.expect("DONE");
    const rssKb = treePeakRss(run.process.pid).kb;
    const [records, drops, wakeups, last] = done.split(" ").slice(1).map(
      Number,
    );
    return { records, drops, seconds: (last - t0) / 1000, wakeups, rssKb };
  } finally {
    await prod.stdin.close().catch(() => {});
    await prod.status;
  }
}

/**
 * Runs the benchmark.
 *
 * @param args `[count, runs]`: getppid() calls per run (default 1,000,000), and runs per
 *   consumer and policy, the best kept (default 1)
 * @returns the exit code
 *
 * @example
 * ```ts
 * import { main } from "./events.ts";
 * await main(["200000"]);
 * ```
 */
export async function main(args: string[]): Promise<number> {
  const count = Number(args[0] ?? 1_000_000);
  const runs = Number(args[1] ?? 1);
  const dir = await Deno.makeTempDir({ prefix: "bpfpm_bench_events_" });
  try {
    const tools = await build(dir);
    const source = await Deno.readTextFile(
      join(here, "events_c", "events.bpf.c"),
    );
    await using pkg = await eventsPackage(source);
    const rows: { policy: string; consumer: string; run: Run }[] = [];
    const best: { ours: Run; c: Run; policy: string }[] = [];
    const sandboxedBest: { run: Run; c: Run; policy: string }[] = [];
    for (
      const [policy, label] of [[0, "wakeup/record"], [1, "wakeup/64"]] as const
    ) {
      // On a shared machine one run can be descheduled for long: keep each one's best of `runs`.
      const bestOf = async (run: () => Promise<Run>) => {
        let top: Run | undefined;
        for (let i = 0; i < runs; i++) {
          const r = await run();
          if (!top || r.records / r.seconds > top.records / top.seconds) {
            top = r;
          }
        }
        return top!;
      };
      const c = await bestOf(() => runC(tools, count, policy));
      const ours = await bestOf(() =>
        runPackage(pkg, "in process", tools.producer, count, policy, "iterator")
      );
      const batches = await bestOf(() =>
        runPackage(pkg, "in process", tools.producer, count, policy, "batches")
      );
      const sbIter = await bestOf(() =>
        runPackage(pkg, "sandboxed", tools.producer, count, policy, "iterator")
      );
      const sbBatches = await bestOf(() =>
        runPackage(pkg, "sandboxed", tools.producer, count, policy, "batches")
      );
      rows.push({ policy: label, consumer: "C libbpf", run: c });
      rows.push({ policy: label, consumer: "ours (for await)", run: ours });
      rows.push({ policy: label, consumer: "ours (batches)", run: batches });
      rows.push({
        policy: label,
        consumer: "sandboxed (for await)",
        run: sbIter,
      });
      rows.push({
        policy: label,
        consumer: "sandboxed (batches)",
        run: sbBatches,
      });
      best.push({ ours, c, policy: label });
      sandboxedBest.push({ run: sbIter, c, policy: label });
    }
    const rate = (r: Run) => r.records / r.seconds;
    console.log(
      "policy         consumer                 records    drops   seconds   M rec/s  wakeups  peak RSS",
    );
    for (const { policy, consumer, run } of rows) {
      console.log(
        `${policy.padEnd(14)} ${consumer.padEnd(24)} ${
          String(run.records).padStart(8)
        } ${String(run.drops).padStart(8)} ${
          run.seconds.toFixed(3).padStart(9)
        } ${(rate(run) / 1e6).toFixed(3).padStart(9)} ${
          String(run.wakeups).padStart(8)
        } ${
          run.rssKb === undefined
            ? ""
            : `${(run.rssKb / 1024).toFixed(1).padStart(6)} MB`
        }`,
      );
    }
    best.sort((x, y) => rate(y.ours) - rate(x.ours));
    const { ours, c, policy } = best[0];
    console.log(`(better policy: ${policy})`);
    console.log(
      `result events ours_per_s=${Math.round(rate(ours))} c_per_s=${
        Math.round(rate(c))
      } ratio=${(rate(ours) / rate(c)).toFixed(2)} drops=${ours.drops}`,
    );
    // The sandboxed package's loop is the for-await one, as the in-process result's.
    sandboxedBest.sort((x, y) => rate(y.run) - rate(x.run));
    const sb = sandboxedBest[0];
    console.log(
      `result events-sandboxed policy=${
        sb.policy.replace("/", "-")
      } sandboxed_per_s=${Math.round(rate(sb.run))} c_per_s=${
        Math.round(rate(sb.c))
      } ratio=${
        (rate(sb.run) / rate(sb.c)).toFixed(2)
      } drops=${sb.run.drops} rss_mb=${
        ((sb.run.rssKb ?? 0) / 1024).toFixed(1)
      }`,
    );
    return 0;
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}
