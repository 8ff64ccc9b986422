/**
 * Output helpers: BCC-layout histograms (text and JSON) and symbol names for stack addresses.
 *
 * @example
 * ```ts
 * import { formatLog2Hist, ksym } from "./mod.ts";
 * console.log(formatLog2Hist([0, 3, 5]));
 * console.log(ksym(0xffffffff81000000n));
 * ```
 *
 * @module
 */
export {
  type Count,
  formatLinearHist,
  formatLog2Hist,
  formatSectionHist,
  type HistogramEntries,
  histogramJson,
  histogramJsonOf,
  type HistogramOptions,
  type JsonBucket,
  type JsonHistogram,
  linearHistText,
  log2HistText,
  log2Slot,
  type MapHistogramOptions,
  printLinearHist,
  printLog2Hist,
  type SectionOptions,
} from "./histogram.ts";
export {
  ksym,
  ksymAddress,
  sym,
  type SymOptions,
  UNKNOWN,
  userSymbolizer,
} from "./symbols.ts";
