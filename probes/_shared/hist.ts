/**
 * Printing the keyed log2 histograms of the scheduler probes (runqlat, cpudist): one per
 * process, per thread, or one in all, as BCC prints them, or as JSON lines.
 *
 * @module
 */
import { formatLog2Hist, histogramJson } from "bpf";

/** A histogram as the probes keep it: counts by slot, and the task's comm. */
export interface SlotHist {
  /** Counts by log2 slot. */
  slots: number[];
  /** The comm, for per-process and per-thread histograms. */
  comm: string;
}

/**
 * Prints `entries` (key 0: the one histogram; else a pid or tid section).
 *
 * @example
 * ```ts
 * import { printHists } from "./hist.ts";
 * printHists([[0, { slots: [0, 2, 5], comm: "" }]], { valType: "usecs", json: false });
 * ```
 */
export function printHists(
  entries: [number, SlotHist][],
  options: { valType: string; json: boolean; section?: "pid" | "tid" },
): void {
  entries.sort(([a], [b]) => a - b);
  for (const [key, h] of entries) {
    const section: [string, unknown] | undefined = options.section
      ? [options.section, key]
      : undefined;
    if (options.json) {
      const out = histogramJson(h.slots, { valType: options.valType, section });
      if (section) out.comm = h.comm;
      console.log(JSON.stringify(out));
      continue;
    }
    if (section) console.log(`\n${section[0]} = ${key} ${h.comm}`);
    console.log(formatLog2Hist(h.slots, { valType: options.valType }));
  }
}
