/**
 * Text and JSON histograms in BCC's layout (`print_log2_hist`, `print_linear_hist`), from
 * bucket counts (`formatLog2Hist`, ...) or from a histogram's entries, such as a BPF map's
 * (`printLog2Hist(b.map("dist"))`, ...). Presentation only: the maps know nothing of it.
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

/**
 * A histogram's entries: `[slot, count]` pairs, or `[{ section, slot }, count]` pairs for a
 * keyed histogram (a section per distinct first field). A BPF map is one (iterating it dumps
 * it in one batch); counts may be numbers, bigints, per-CPU counts (summed) or `{ value }`.
 *
 * @example A map, or any entries
 * ```ts
 * import type { HistogramEntries } from "bpf";
 * const entries: HistogramEntries = [[1, 3n], [2, 5n], [4, 1n]];
 * ```
 */
export type HistogramEntries = Iterable<readonly [unknown, unknown]>;

/**
 * Options of the histograms of entries, as BCC's `print_log2_hist`.
 *
 * @example Print a log2 histogram in microseconds
 * ```ts
 * import { BPF, printLog2Hist } from "bpf";
 * using b = await BPF.load({ file: "./latency.bpf.c" });
 * printLog2Hist(b.map("dist"), { valType: "usecs" });
 * ```
 */
export interface MapHistogramOptions<S = unknown> extends SectionOptions<S> {
  /** Maps a key's section field to the section value (BCC's `bucket_fn`). */
  bucketFn?: (section: S) => unknown;
}

function count(v: unknown): Count {
  if (typeof v === "number" || typeof v === "bigint") return v;
  if (Array.isArray(v) && "sum" in v) {
    return (v as unknown as { sum(): Count }).sum();
  }
  if (v && typeof v === "object" && "value" in v) {
    return count((v as { value: unknown }).value);
  }
  throw new TypeError(
    `A histogram needs integer counts (numbers, bigints, per-CPU counts or { value }), got ${
      v === null ? "null" : typeof v
    }: print a map of counters`,
  );
}

/** The entries as counts by slot, or as sections of counts by slot. */
function buckets(
  entries: HistogramEntries,
  maxSlots: number,
  options: MapHistogramOptions,
): { sections?: Map<unknown, Count[]>; vals?: Count[] } {
  const slotOf = (k: unknown): number => {
    const n = Number(k);
    if (!Number.isInteger(n) || n < 0 || n >= maxSlots) {
      throw new RangeError(
        `Histogram slot ${String(k)} is out of range (0 to ${maxSlots - 1})`,
      );
    }
    return n;
  };
  const list = [...entries];
  const first = list.length ? list[0][0] : undefined;
  if (
    first !== null && typeof first === "object" &&
    !(first instanceof Uint8Array)
  ) {
    const fields = Object.keys(first as object).filter((f) =>
      !f.startsWith("__pad")
    );
    if (fields.length < 2) {
      throw new TypeError(
        `Keyed histograms need a key struct { section, slot }, got one with ${
          fields.length ? `only the field ${fields[0]}` : "no fields"
        }`,
      );
    }
    const [f1, f2] = fields;
    const sections = new Map<unknown, Count[]>();
    for (const [k, v] of list) {
      const rec = k as Record<string, unknown>;
      let section = rec[f1];
      if (options.bucketFn) section = options.bucketFn(section);
      let vals = sections.get(section);
      if (!vals) sections.set(section, vals = new Array(maxSlots).fill(0));
      vals[slotOf(rec[f2])] = count(v);
    }
    return { sections };
  }
  const vals: Count[] = new Array(maxSlots).fill(0);
  for (const [k, v] of list) vals[slotOf(k)] = count(v);
  return { vals };
}

const SLOTS = { log2: 65, linear: 1025 } as const;

function histText(
  entries: HistogramEntries,
  kind: "log2" | "linear",
  options: MapHistogramOptions,
): string {
  const d = buckets(entries, SLOTS[kind], options);
  if (d.sections) return formatSectionHist(d.sections, kind, options);
  return kind === "log2"
    ? formatLog2Hist(d.vals!, options)
    : formatLinearHist(d.vals!, options);
}

function print(text: string): void {
  if (text) console.log(text.replace(/\n$/, ""));
}

/**
 * Entries as a log2 histogram in BCC's text layout (keys are slots; a struct key
 * `{ section, slot }` gives a section per section value).
 *
 * @param entries the histogram's entries, such as a BPF map
 * @param options column and section headers, formatting
 * @returns the text
 *
 * @example The text, to log elsewhere
 * ```ts
 * import { BPF, log2HistText } from "bpf";
 * using b = await BPF.load({ file: "./dist.bpf.c" });
 * console.error(log2HistText(b.map("dist"), { valType: "usecs" }));
 * ```
 */
export function log2HistText<S>(
  entries: HistogramEntries,
  options: MapHistogramOptions<S> = {},
): string {
  return histText(entries, "log2", options as MapHistogramOptions);
}

/**
 * Entries as a linear histogram in BCC's text layout.
 *
 * @param entries the histogram's entries, such as a BPF map
 * @param options column and section headers, formatting
 * @returns the text
 *
 * @example The text, to log elsewhere
 * ```ts
 * import { BPF, linearHistText } from "bpf";
 * using b = await BPF.load({ file: "./dist.bpf.c" });
 * console.error(linearHistText(b.map("dist"), { valType: "ms" }));
 * ```
 */
export function linearHistText<S>(
  entries: HistogramEntries,
  options: MapHistogramOptions<S> = {},
): string {
  return histText(entries, "linear", options as MapHistogramOptions);
}

/**
 * Prints {@linkcode log2HistText} to stdout, as BCC's `print_log2_hist`.
 *
 * @param entries the histogram's entries, such as a BPF map
 * @param options column and section headers, formatting
 *
 * @example At Ctrl-C
 * ```ts
 * import { BPF, interrupted, printLog2Hist } from "bpf";
 * using b = await BPF.load({ file: "./biolatency.bpf.c" });
 * await interrupted();
 * printLog2Hist(b.map("dist"), { valType: "usecs" });
 * ```
 */
export function printLog2Hist<S>(
  entries: HistogramEntries,
  options: MapHistogramOptions<S> = {},
): void {
  print(log2HistText(entries, options));
}

/**
 * Prints {@linkcode linearHistText} to stdout, as BCC's `print_linear_hist`.
 *
 * @param entries the histogram's entries, such as a BPF map
 * @param options column and section headers, formatting
 *
 * @example
 * ```ts
 * import { BPF, printLinearHist } from "bpf";
 * using b = await BPF.load({ file: "./dist.bpf.c" });
 * printLinearHist(b.map("dist"), { valType: "ms" });
 * ```
 */
export function printLinearHist<S>(
  entries: HistogramEntries,
  options: MapHistogramOptions<S> = {},
): void {
  print(linearHistText(entries, options));
}

/**
 * Entries as BCC's JSON histograms: one object, or one per section for a keyed histogram
 * (with `[sectionHeader]: section`).
 *
 * @param entries the histogram's entries, such as a BPF map
 * @param options "log2" (default) or "linear", the column header, the section label
 * @returns plain objects for `JSON.stringify`
 *
 * @example As JSON
 * ```ts
 * import { BPF, histogramJsonOf } from "bpf";
 * using b = await BPF.load({ file: "./dist.bpf.c" });
 * console.log(JSON.stringify(histogramJsonOf(b.map("dist"), { valType: "usecs" })));
 * ```
 */
export function histogramJsonOf<S>(
  entries: HistogramEntries,
  options: { kind?: "log2" | "linear" } & MapHistogramOptions<S> = {},
): JsonHistogram[] {
  const o = options as MapHistogramOptions & { kind?: "log2" | "linear" };
  const kind = o.kind ?? "log2";
  const d = buckets(entries, SLOTS[kind], o);
  if (!d.sections) {
    return [histogramJson(d.vals!, { kind, valType: o.valType })];
  }
  const label = o.sectionHeader ?? "Bucket ptr";
  let keys = [...d.sections.keys()];
  if (o.sectionSort) keys = o.sectionSort(keys);
  return keys.map((s) =>
    histogramJson(d.sections!.get(s)!, {
      kind,
      valType: o.valType,
      section: [label, o.sectionFormat ? o.sectionFormat(s) : s],
    })
  );
}
