/**
 * `deno task bench maps [entries]`: dump a 1,000,000-entry u64 → u64 hash map into JS
 * (`BpfMap.dump()`: batch lookups, then a `[bigint, bigint]` pair per entry), against the C
 * batch-lookup dump into arrays (bench/maps_c/dump.c, built in the same run), best of 3
 * each. Prints a table and `result maps ours_ms=… c_ms=… ratio=…`.
 *
 * Sandboxed row: a probe package whose object declares the same 1,000,000-entry hash map,
 * run under `bpfpm run`; it fills the map, the C dump reads that same map (by id), then the
 * package dumps it with `b.map(name).dump()` (each page crosses the sandbox channel), best of
 * 3. `result maps-sandboxed sandboxed_ms=… c_ms=… ratio=… rss_mb=…` (peak RSS of the trusted
 * parent + the child).
 *
 * @module
 */
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { BpfMap } from "../runtime/maps/bpf_map.ts";
import { u64 } from "../runtime/btf/codec.ts";
import {
  type BenchPackage,
  startPackage,
  treePeakRss,
  writePackage,
} from "./_sandbox.ts";

const here = dirname(fileURLToPath(import.meta.url));

async function exec(cmd: string, args: string[]): Promise<string> {
  const out = await new Deno.Command(cmd, {
    args,
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!out.success) {
    throw new Error(
      `${cmd} ${args.join(" ")} failed: ${
        new TextDecoder().decode(out.stderr)
      }`,
    );
  }
  return new TextDecoder().decode(out.stdout);
}

const PACKAGE_MAIN = `import { BPF } from "bpf";
const entries = Number(Deno.args[0]);
using b = await BPF.load({ file: new URL("./map.bpf.c", import.meta.url) });
const m = b.map("big");
for (let i = 0; i < entries; i += 100_000) {
  const batch = [];
  for (let j = i; j < Math.min(entries, i + 100_000); j++) {
    batch.push([BigInt(j) * 2654435761n, BigInt(j)]);
  }
  m.setMany(batch);
}
const stdin = Deno.stdin.readable.getReader();
console.log(\`READY \${b.maps.get("big").id}\`);
await stdin.read();
let best = Infinity;
let n = 0;
for (let i = 0; i < 3; i++) {
  const t = performance.now();
  n = m.dump().length;
  best = Math.min(best, performance.now() - t);
}
console.log(\`DONE \${n} \${best}\`);
while (!(await stdin.read()).done);
`;

function mapPackage(entries: number): Promise<BenchPackage> {
  return writePackage("bench-maps", {
    attach: [],
    helpers: [],
    mapMemory: "512MiB",
  }, {
    "main.ts": PACKAGE_MAIN,
    "map.bpf.c": `#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, ${entries});
  __type(key, u64);
  __type(value, u64);
} big SEC(".maps");

char LICENSE[] SEC("license") = "GPL";
`,
  });
}

/**
 * Runs the package: once it has filled its map, the C dump reads the same map by id, then
 * the package dumps it.
 */
async function runSandboxed(
  pkg: BenchPackage,
  entries: number,
  dumpBin: string,
): Promise<{ n: number; ms: number; cN: number; cMs: number; rssKb: number }> {
  await using run = startPackage(pkg, "sandboxed", [String(entries)]);
  const ready = await run.expect("READY");
  const [cN, cMs] = (await exec(dumpBin, [`id:${ready.split(" ")[1]}`, "3"]))
    .trim().split(/\s+/).map(Number);
  await run.send("go");
  const done = await run.expect("DONE");
  const rssKb = treePeakRss(run.process.pid).kb;
  const [n, ms] = done.split(" ").slice(1).map(Number);
  return { n, ms, cN, cMs, rssKb };
}

function best(runs: number, fn: () => number): { ms: number; n: number } {
  let ms = Infinity;
  let n = 0;
  for (let i = 0; i < runs; i++) {
    const t = performance.now();
    n = fn();
    ms = Math.min(ms, performance.now() - t);
  }
  return { ms, n };
}

/**
 * Runs the benchmark.
 *
 * @param args `[entries]` (default 1,000,000)
 * @returns the exit code
 *
 * @example
 * ```ts
 * import { main } from "./maps.ts";
 * await main(["100000"]);
 * ```
 */
export async function main(args: string[]): Promise<number> {
  const entries = Number(args[0] ?? 1_000_000);
  const dir = await Deno.makeTempDir({ prefix: "bpfpm_bench_maps_" });
  const pin = `/sys/fs/bpf/bpfpm_bench_maps_${Deno.pid}`;
  using m = BpfMap.create({
    type: "hash",
    key: u64,
    value: u64,
    maxEntries: entries,
  });
  try {
    const dump = join(dir, "dump");
    await exec("gcc", [
      "-O2",
      "-o",
      dump,
      join(here, "maps_c", "dump.c"),
      "-lbpf",
    ]);
    const chunk = 100_000;
    for (let i = 0; i < entries; i += chunk) {
      const batch: [bigint, bigint][] = [];
      for (let j = i; j < Math.min(entries, i + chunk); j++) {
        batch.push([BigInt(j) * 2654435761n, BigInt(j)]);
      }
      m.setMany(batch);
    }
    m.pin(pin);
    const [cN, cBatch, cWalk] = (await exec(dump, [pin, "3"])).trim().split(
      /\s+/,
    ).map(Number);
    const ours = best(3, () => m.dump().length);
    const oursWalk = best(1, () => m.dump({ noBatch: true }).length);
    await using pkg = await mapPackage(entries);
    const sb = await runSandboxed(pkg, entries, dump);
    const rows: [string, number, number][] = [
      ["C batch lookup", cN, cBatch],
      ["C get_next_key + lookup", cN, cWalk],
      ["ours dump() (batch)", ours.n, ours.ms],
      ["ours dump({ noBatch })", oursWalk.n, oursWalk.ms],
      ["C batch lookup (pkg's map)", sb.cN, sb.cMs],
      ["sandboxed dump() (batch)", sb.n, sb.ms],
    ];
    console.log(
      "dump                          entries        ms   M entries/s",
    );
    for (const [name, n, ms] of rows) {
      console.log(
        `${name.padEnd(28)} ${String(n).padStart(8)} ${
          ms.toFixed(1).padStart(9)
        } ${(n / ms / 1000).toFixed(2).padStart(13)}`,
      );
    }
    console.log(
      `result maps ours_ms=${ours.ms.toFixed(1)} c_ms=${
        cBatch.toFixed(1)
      } ratio=${(ours.ms / cBatch).toFixed(2)}`,
    );
    console.log(
      `result maps-sandboxed sandboxed_ms=${sb.ms.toFixed(1)} c_ms=${
        sb.cMs.toFixed(1)
      } ratio=${(sb.ms / sb.cMs).toFixed(2)} rss_mb=${
        (sb.rssKb / 1024).toFixed(1)
      }`,
    );
    return 0;
  } finally {
    try {
      BpfMap.unpin(pin);
    } catch { /* not pinned yet */ }
    await Deno.remove(dir, { recursive: true });
  }
}
