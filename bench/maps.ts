/**
 * `deno task bench maps [entries]`: dump a 1,000,000-entry u64 → u64 hash map into JS
 * (`BpfMap.dump()`: batch lookups, then a `[bigint, bigint]` pair per entry), against the C
 * batch-lookup dump into arrays (bench/maps_c/dump.c, built in the same run), best of 3
 * each. Prints a table and `result maps ours_ms=… c_ms=… ratio=…`.
 *
 * @module
 */
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { BpfMap } from "../runtime/maps/bpf_map.ts";
import { u64 } from "../runtime/btf/codec.ts";

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
    const rows: [string, number, number][] = [
      ["C batch lookup", cN, cBatch],
      ["C get_next_key + lookup", cN, cWalk],
      ["ours dump() (batch)", ours.n, ours.ms],
      ["ours dump({ noBatch })", oursWalk.n, oursWalk.ms],
    ];
    console.log("dump                        entries        ms   M entries/s");
    for (const [name, n, ms] of rows) {
      console.log(
        `${name.padEnd(26)} ${String(n).padStart(8)} ${
          ms.toFixed(1).padStart(9)
        } ${(n / ms / 1000).toFixed(2).padStart(13)}`,
      );
    }
    console.log(
      `result maps ours_ms=${ours.ms.toFixed(1)} c_ms=${
        cBatch.toFixed(1)
      } ratio=${(ours.ms / cBatch).toFixed(2)}`,
    );
    return 0;
  } finally {
    try {
      BpfMap.unpin(pin);
    } catch { /* not pinned yet */ }
    await Deno.remove(dir, { recursive: true });
  }
}
