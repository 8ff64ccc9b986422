/**
 * Printing the keyed log2 histograms of the scheduler probes (runqlat, cpudist): one per
 * process, per thread, or one in all, as BCC prints them, or as JSON lines.
 *
 * @module
 */
import { type BpfMap, formatLog2Hist } from "bpf";
import { printHistJson, unitOfValType } from "./json.ts";
import { clock, intArg, summaryLoop, UsageError } from "./cli.ts";
import {
  HIST_TIMESTAMP,
  MILLISECONDS,
  PER_PROCESS,
  PER_THREAD,
  PID,
} from "./flags.ts";

/** A histogram as the probes keep it: counts by slot, and the task's comm. */
export interface SlotHist extends Partial<Totals> {
  /** Counts by log2 slot. */
  slots: number[];
  /** The comm, for per-process and per-thread histograms. */
  comm: string;
}

/** The summed values of a histogram and how many there were (for `-e`; absent: 0). */
export interface Totals {
  /** The sum of every value counted. */
  total: bigint;
  /** How many values were counted. */
  count: bigint;
}

/** `-e`'s figures of a histogram, in its unit: average (rounded down), total and count. */
export interface Extension {
  /** The average value. */
  avg: number;
  /** The sum of the values. */
  total: number;
  /** How many values. */
  count: number;
}

/**
 * `-e`'s summary of a histogram: the average, total and count, and the line BCC prints
 * (`avg = 12 usecs, total: 120 usecs, count: 10`).
 *
 * @example
 * ```ts
 * import { extension } from "./hist.ts";
 * extension({ total: 120n, count: 10n }, "usecs").line; // "avg = 12 usecs, total: 120 usecs, count: 10"
 * ```
 */
export function extension(
  t: Partial<Totals>,
  valType: string,
): Extension & { line: string } {
  const total = Number(t.total ?? 0n);
  const count = Number(t.count ?? 0n);
  const avg = count ? Math.floor(total / count) : 0;
  return {
    avg,
    total,
    count,
    line:
      `avg = ${avg} ${valType}, total: ${total} ${valType}, count: ${count}`,
  };
}

/**
 * Prints `entries` (key 0: the one histogram; else a pid or tid section), in JSON one line
 * a histogram by json.ts's `printHistJson` (`pid`/`tid` and `comm` labels with a section).
 *
 * @example
 * ```ts
 * import { printHists } from "./hist.ts";
 * printHists([[0, { slots: [0, 2, 5], comm: "" }]], { valType: "usecs", json: false });
 * ```
 */
export function printHists(
  entries: [number, SlotHist][],
  options: {
    valType: string;
    json: boolean;
    section?: "pid" | "tid";
    extension?: boolean;
  },
): void {
  entries.sort(([a], [b]) => a - b);
  for (const [key, h] of entries) {
    const section: [string, unknown] | undefined = options.section
      ? [options.section, key]
      : undefined;
    if (options.json) {
      printHistJson(h.slots, {
        unit: unitOfValType(options.valType),
        labels: section ? { [section[0]]: key, comm: h.comm } : undefined,
        extension: options.extension
          ? extension(h, options.valType)
          : undefined,
      });
      continue;
    }
    if (section) console.log(`\n${section[0]} = ${key} ${h.comm}`);
    console.log(formatLog2Hist(h.slots, { valType: options.valType }));
    if (options.extension) {
      console.log(`\n${extension(h, options.valType).line}`);
    }
  }
}

/** The flags runqlat and cpudist share, in their usage order. */
export const SCHED_HIST_FLAGS = {
  timestamp: HIST_TIMESTAMP,
  milliseconds: MILLISECONDS,
  pids: PER_PROCESS,
  tids: PER_THREAD,
  pid: PID,
} as const;

/** What a scheduler histogram probe's command line says. */
export interface SchedHistArgs {
  /** Seconds between summaries; absent: one summary at Ctrl-C. */
  interval?: number;
  /** How many summaries. */
  count?: number;
  /** `-T`: a time line before each summary. */
  timestamp: boolean;
  /** The histograms' unit. */
  valType: "msecs" | "usecs";
  /** One histogram per process (`-P`) or thread (`-L`). */
  section?: "pid" | "tid";
  /** The `const volatile` globals every scheduler histogram probe has (`BPF.load`'s constants). */
  config: {
    targ_tgid: number;
    per_process: boolean;
    per_thread: boolean;
    ms: boolean;
  };
}

/**
 * Reads the flags of {@link SCHED_HIST_FLAGS} and `[interval [count]]`.
 *
 * @example
 * ```ts
 * import { schedHistArgs } from "./hist.ts";
 * schedHistArgs({ pids: true }, ["1", "5"]).section; // "pid"
 * ```
 */
export function schedHistArgs(
  values: Record<string, unknown>,
  positionals: string[],
): SchedHistArgs {
  if (values.pids && values.tids) {
    throw new UsageError("-P and -L exclude each other");
  }
  return {
    interval: intArg(positionals[0], "interval", { min: 1 }),
    count: intArg(positionals[1], "count", { min: 1 }),
    timestamp: values.timestamp === true,
    valType: values.milliseconds ? "msecs" : "usecs",
    section: values.pids ? "pid" : values.tids ? "tid" : undefined,
    config: {
      targ_tgid: intArg(values.pid, "-p PID") ?? 0,
      per_process: values.pids === true,
      per_thread: values.tids === true,
      ms: values.milliseconds === true,
    },
  };
}

/**
 * The summary loop of the histogram probes: every interval (or at the end) takes the
 * histograms out of `map`, prints a blank line and with `timestamp` the time (table mode
 * only), then hands the entries to `print`.
 *
 * @example
 * ```ts
 * import type { BPF } from "bpf";
 * import { printHists, type SlotHist, summarizeHists } from "./hist.ts";
 * export async function report(b: BPF) {
 *   await summarizeHists(b.map<number, SlotHist>("hists"), { json: false }, (e) =>
 *     printHists(e, { valType: "usecs", json: false }));
 * }
 * ```
 */
export async function summarizeHists<K, V>(
  map: BpfMap<K, V>,
  options: {
    interval?: number;
    count?: number;
    json: boolean;
    timestamp?: boolean;
  },
  print: (entries: [K, V][]) => void,
): Promise<void> {
  await summaryLoop(options, () => {
    const entries = map.dump();
    map.clear();
    if (!options.json) {
      console.log();
      if (options.timestamp) console.log(clock());
    }
    print(entries);
  });
}
