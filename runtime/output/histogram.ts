/**
 * Text and JSON histograms in BCC's layout (`print_log2_hist`, `print_linear_hist`), from
 * plain bucket counts. Map classes call these; they are usable on any array of counts.
 *
 * @module
 */

/**
 * A bucket count: maps hand out u64 counters as bigint, scripts may pass numbers.
 *
 * @example Counts may be numbers or bigints
 * ```ts
 * import { type Count, formatLog2Hist } from "bpf";
 * const counts: Count[] = [0, 3n, 7, 1n];
 * console.log(formatLog2Hist(counts));
 * ```
 */
export type Count = number | bigint;

/**
 * Options of the text histograms.
 *
 * @example Name the value column
 * ```ts
 * import { formatLog2Hist } from "bpf";
 * console.log(formatLog2Hist([0, 1, 5, 2], { valType: "usecs", stripLeadingZero: true }));
 * ```
 */
export interface HistogramOptions {
  /** The column header naming what the buckets measure (BCC's `val_type`); default "value". */
  valType?: string;
  /** Leave out the empty buckets before the first non-empty one. */
  stripLeadingZero?: boolean;
}

/** Options of histograms whose key is `{ section, slot }` (a section per distinct value). */
export interface SectionOptions<S = unknown> extends HistogramOptions {
  /** The label in front of each section's value; default "Bucket ptr" as in BCC. */
  sectionHeader?: string;
  /** Formats a section value; default `String(value)`. */
  sectionFormat?: (section: S) => string;
  /** Orders the sections; default: the order they were first seen. */
  sectionSort?: (sections: S[]) => S[];
}

const STARS_MAX = 40;

function stars(val: number, valMax: number, width: number): string {
  // BCC draws floor(width * val / max) stars, at most width.
  const n = Math.min(width, Math.floor((width * val) / valMax));
  let text = "*".repeat(Math.max(0, n));
  if (val > valMax) text = text.slice(0, -1) + "+";
  return text;
}

function scan(vals: ArrayLike<Count>): { idxMax: number; valMax: number } {
  let idxMax = -1;
  let valMax = 0;
  for (let i = 0; i < vals.length; i++) {
    const v = Number(vals[i]);
    if (v > 0) idxMax = i;
    if (v > valMax) valMax = v;
  }
  return { idxMax, valMax };
}

/**
 * Formats log2 bucket counts (slot i counts values in [2^(i-1), 2^i - 1]) exactly as BCC's
 * `print_log2_hist` prints them: a header, one line per slot up to the last non-empty one,
 * ranges `low -> high`, the count, and a 40-character star bar (20 when slots above 32 are
 * used, with wider range columns).
 *
 * @param vals counts by slot (index 0 is the value 0)
 * @param options column header and leading-zero stripping
 * @returns the text, each line ending in "\n"; "" when every slot above 0 is empty
 *
 * @example Three slots
 * ```ts
 * import { formatLog2Hist } from "./histogram.ts";
 * console.log(formatLog2Hist([0, 1, 4, 2], { valType: "usecs" }));
 * ```
 */
export function formatLog2Hist(
  vals: ArrayLike<Count>,
  options: HistogramOptions = {},
): string {
  const valType = options.valType ?? "value";
  let strip = options.stripLeadingZero ?? false;
  const { idxMax, valMax } = scan(vals);
  const wide = idxMax > 32;
  const width = wide ? STARS_MAX / 2 : STARS_MAX;
  let out = "";
  if (idxMax > 0) {
    out += wide
      ? `               ${valType.padEnd(29)} : count     distribution\n`
      : `     ${valType.padEnd(19)} : count     distribution\n`;
  }
  for (let i = 1; i <= idxMax; i++) {
    let low = (1n << BigInt(i)) >> 1n;
    const high = (1n << BigInt(i)) - 1n;
    if (low === high) low -= 1n;
    const val = vals[i];
    if (strip) {
      if (!Number(val)) continue;
      strip = false;
    }
    const lo = wide ? low.toString().padStart(20) : low.toString().padStart(10);
    const hi = wide ? high.toString().padEnd(20) : high.toString().padEnd(10);
    out += `${lo} -> ${hi} : ${String(val).padEnd(8)} |${
      stars(Number(val), valMax, width).padEnd(width)
    }|\n`;
  }
  return out;
}

/**
 * Formats linear bucket counts (slot i counts the value i) exactly as BCC's
 * `print_linear_hist`: a header and one line per slot up to the last non-empty one.
 *
 * @param vals counts by value
 * @param options the column header
 * @returns the text, each line ending in "\n"; "" when every slot is empty
 *
 * @example
 * ```ts
 * import { formatLinearHist } from "./histogram.ts";
 * console.log(formatLinearHist([3, 0, 5], { valType: "queue" }));
 * ```
 */
export function formatLinearHist(
  vals: ArrayLike<Count>,
  options: HistogramOptions = {},
): string {
  const valType = options.valType ?? "value";
  let strip = options.stripLeadingZero ?? false;
  const { idxMax, valMax } = scan(vals);
  let out = "";
  if (idxMax >= 0) {
    out += `     ${valType.padEnd(13)} : count     distribution\n`;
  }
  for (let i = 0; i <= idxMax; i++) {
    const val = vals[i];
    if (strip) {
      if (!Number(val)) continue;
      strip = false;
    }
    out += `        ${String(i).padEnd(10)} : ${String(val).padEnd(8)} |${
      stars(Number(val), valMax, STARS_MAX).padEnd(STARS_MAX)
    }|\n`;
  }
  return out;
}

/**
 * Formats keyed histograms, a section per distinct section value, as BCC does for a map
 * whose key is a struct `{ bucket, slot }`: each section starts with an empty line and
 * `<sectionHeader> = <value>`.
 *
 * @param sections counts by slot for each section value
 * @param kind "log2" or "linear"
 * @param options headers, formatting and ordering
 * @returns the text
 *
 * @example
 * ```ts
 * import { formatSectionHist } from "./histogram.ts";
 * const s = new Map([["disk0", [0, 2, 1]]]);
 * console.log(formatSectionHist(s, "log2", { sectionHeader: "disk" }));
 * ```
 */
export function formatSectionHist<S>(
  sections: Map<S, ArrayLike<Count>>,
  kind: "log2" | "linear",
  options: SectionOptions<S> = {},
): string {
  const header = options.sectionHeader ?? "Bucket ptr";
  const fmt = options.sectionFormat ?? ((s: S) => String(s));
  let keys = [...sections.keys()];
  if (options.sectionSort) keys = options.sectionSort(keys);
  let out = "";
  for (const k of keys) {
    out += `\n${header} = ${fmt(k)}\n`;
    const vals = sections.get(k)!;
    out += kind === "log2"
      ? formatLog2Hist(vals, options)
      : formatLinearHist(vals, options);
  }
  return out;
}

/**
 * One bucket of {@link histogramJson}, named as in BCC's JSON histograms.
 *
 * @example The buckets of a JSON histogram
 * ```ts
 * import { histogramJson, type JsonBucket } from "bpf";
 * const buckets: JsonBucket[] = histogramJson([0, 1, 5, 2]).data;
 * for (const b of buckets) console.log(b["interval-start"], b["interval-end"], b.count);
 * ```
 */
export interface JsonBucket {
  /** The lowest value the bucket counts. */
  "interval-start": number;
  /** The highest value the bucket counts. */
  "interval-end": number;
  /** How many values fell into it. */
  count: number;
}

/**
 * BCC's JSON histogram (`ts`, `val_type`, `data`), plus the section value when keyed.
 *
 * @example A log2 histogram as JSON
 * ```ts
 * import { histogramJson, type JsonHistogram } from "bpf";
 * const h: JsonHistogram = histogramJson([0, 1, 5, 2], { valType: "usecs" });
 * console.log(JSON.stringify(h));
 * ```
 */
export interface JsonHistogram {
  /** Local time, `YYYY-MM-DD HH:MM:SS`. */
  ts: string;
  /** The column header. */
  val_type: string;
  /** Buckets up to the last non-empty one. */
  data: JsonBucket[];
  /** Present for a keyed histogram: the section's label and value. */
  [section: string]: unknown;
}

function timestamp(d: Date): string {
  const p = (n: number) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${
    p(d.getHours())
  }:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

/**
 * The JSON form of a histogram: log2 buckets as BCC's `print_json_hist` reports them
 * (`interval-start`, `interval-end`, `count`), or linear buckets one value wide.
 *
 * @param vals counts by slot
 * @param options kind, column header, and a `[label, value]` section for keyed histograms
 * @returns a plain object ready for `JSON.stringify`
 *
 * @example
 * ```ts
 * import { histogramJson } from "./histogram.ts";
 * console.log(JSON.stringify(histogramJson([0, 1, 3], { valType: "usecs" })));
 * ```
 */
export function histogramJson(
  vals: ArrayLike<Count>,
  options: {
    kind?: "log2" | "linear";
    valType?: string;
    section?: [string, unknown];
    now?: Date;
  } = {},
): JsonHistogram {
  const data: JsonBucket[] = [];
  const { idxMax } = scan(vals);
  if (options.kind === "linear") {
    for (let i = 0; i <= idxMax; i++) {
      data.push({
        "interval-start": i,
        "interval-end": i,
        count: Number(vals[i]),
      });
    }
  } else {
    for (let i = 1; i <= idxMax; i++) {
      data.push({
        "interval-start": i === 1 ? 0 : 2 ** (i - 1),
        "interval-end": 2 ** i - 1,
        count: Number(vals[i]),
      });
    }
  }
  const out: JsonHistogram = {
    ts: timestamp(options.now ?? new Date()),
    val_type: options.valType ?? "value",
    data,
  };
  if (options.section) out[options.section[0]] = options.section[1];
  return out;
}

/**
 * The log2 slot of a value, as BCC's `bpf_log2l()` + 1 computes it in a probe: 0 for 0,
 * else the bit length. Handy for building expected histograms in tests and in user space.
 *
 * @param v a non-negative integer
 * @returns the slot index
 *
 * @example
 * ```ts
 * import { log2Slot } from "./histogram.ts";
 * log2Slot(1000); // 10
 * ```
 */
export function log2Slot(v: number | bigint): number {
  let b = BigInt(v);
  if (b < 0n) {
    throw new RangeError(`log2Slot expects a non-negative integer, got ${v}`);
  }
  let n = 0;
  while (b > 0n) {
    b >>= 1n;
    n++;
  }
  return n;
}
