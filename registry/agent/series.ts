/**
 * A probe's declared metrics (the manifest's `bpf.metrics`) as series: which entries of a
 * map make which series, their labels (shown by their declared format), their values in the
 * base unit, histogram slots and bounds. Both exports read their series from here: the
 * Prometheus text of `/metrics` (prometheus.ts) and OpenTelemetry's metric data for OTLP
 * and `bpfpm run --output` (metrics.ts). Nothing here loads OpenTelemetry.
 *
 * A {@linkcode SeriesTable} lives as long as the probe version it reads: each read of a
 * map updates its series in place and marks the ones whose value changed, so a reader that
 * keeps text per series rebuilds only those.
 *
 * @module
 */
import { constants } from "node:os";
import type {
  BpfManifest,
  MetricDeclaration,
  MetricLabel,
  Unit,
} from "../manifest.ts";

/** How a unit becomes the metric's base unit: the factor, the name suffix, the UCUM unit. */
const UNITS: Record<Unit, { scale: number; suffix: string; ucum: string }> = {
  count: { scale: 1, suffix: "", ucum: "1" },
  nanoseconds: { scale: 1e-9, suffix: "_seconds", ucum: "s" },
  microseconds: { scale: 1e-6, suffix: "_seconds", ucum: "s" },
  milliseconds: { scale: 1e-3, suffix: "_seconds", ucum: "s" },
  seconds: { scale: 1, suffix: "_seconds", ucum: "s" },
  bytes: { scale: 1, suffix: "_bytes", ucum: "By" },
  kibibytes: { scale: 1024, suffix: "_bytes", ucum: "By" },
  pages: { scale: 1, suffix: "_pages", ucum: "{page}" },
  percent: { scale: 0.01, suffix: "_ratio", ucum: "1" },
  packets: { scale: 1, suffix: "_packets", ucum: "{packet}" },
};

/**
 * A declared metric's unit: the factor to its base unit, the name suffix and the UCUM unit.
 *
 * @example
 * ```ts
 * import { unitOf } from "./series.ts";
 * unitOf({ map: "m", name: "x", kind: "gauge", unit: "microseconds", value: "value" });
 * // { scale: 1e-6, suffix: "_seconds", ucum: "s" }
 * ```
 */
export function unitOf(
  d: MetricDeclaration,
): { scale: number; suffix: string; ucum: string } {
  return UNITS[d.unit ?? "count"];
}

/**
 * The exported name of a declared metric: its name plus the base unit (`_seconds`,
 * `_bytes`); Prometheus counters get `_total` on top.
 *
 * @example
 * ```ts
 * import { metricName } from "./series.ts";
 * metricName({ map: "data", name: "syscount_syscall_time", kind: "counter", unit: "nanoseconds", value: "value.total_ns" });
 * // "syscount_syscall_time_seconds"
 * ```
 */
export function metricName(d: MetricDeclaration): string {
  const suffix = unitOf(d).suffix;
  return d.name.endsWith(suffix) ? d.name : d.name + suffix;
}

/**
 * The value at a declared path (`key`, `key.pid`, `value.slots`) of one map entry.
 *
 * @example
 * ```ts
 * import { fieldAt } from "./series.ts";
 * fieldAt([7, { count: 3n }], "value.count"); // 3n
 * ```
 */
export function fieldAt(entry: [unknown, unknown], path: string): unknown {
  return pathReader(path)(entry);
}

/** A reader of one declared path, its split done once. */
function pathReader(path: string): (entry: [unknown, unknown]) => unknown {
  const [root, ...rest] = path.split(".");
  const side = root === "key" ? 0 : 1;
  // Indexed loops, no iterators: a first scrape reads 10,000 entries in code not yet
  // optimized, where each iterator step is an object made.
  if (rest.length === 0) return (entry) => entry[side];
  if (rest.length === 1) {
    const p = rest[0];
    return (entry) => {
      const v = entry[side];
      return v === null || typeof v !== "object"
        ? undefined
        : (v as Record<string, unknown>)[p];
    };
  }
  return (entry) => {
    let v: unknown = entry[side];
    for (let i = 0; i < rest.length; i++) {
      if (v === null || typeof v !== "object") return undefined;
      v = (v as Record<string, unknown>)[rest[i]];
    }
    return v;
  };
}

/** Errno and signal names by number, from Node's tables of the platform's. */
const ERRNO_NAMES = new Map<number, string>(
  Object.entries(constants.errno).map(([k, v]) => [v, k]),
);
const SIGNAL_NAMES = new Map<number, string>(
  Object.entries(constants.signals).map(([k, v]) => [v, k]),
);

function ip(bytes: unknown, v6: boolean): string {
  if (typeof bytes === "number" && !v6) {
    return [0, 8, 16, 24].map((s) => (bytes >>> s) & 255).join(".");
  }
  const b = bytes instanceof Uint8Array
    ? bytes
    : Array.isArray(bytes)
    ? Uint8Array.from(bytes as number[])
    : new Uint8Array(0);
  if (!v6) return [...b.subarray(0, 4)].join(".");
  const groups: string[] = [];
  for (let i = 0; i + 1 < 16 && i + 1 < b.length; i += 2) {
    groups.push(((b[i] << 8) | b[i + 1]).toString(16));
  }
  return groups.join(":").replace(/(^|:)0(:0)+(:|$)/, "::");
}

/** The running kernel's syscall names, once {@linkcode loadSyscallNames} has read them. */
let syscallNames: ReadonlyMap<number, string> | undefined;

/**
 * Reads the running kernel's syscall names (the runtime's `syscallTable()`: this machine's
 * architecture, not one table of x86_64's) for the `syscall` format; the trusted side calls
 * it before it reads a probe declaring that format. Until then, and if the kernel's names
 * cannot be read, a syscall is its number.
 *
 * @example
 * ```ts
 * import { labelValue, loadSyscallNames } from "./series.ts";
 * await loadSyscallNames();
 * labelValue(59, { name: "syscall", from: "key", format: "syscall" }); // "execve" on x86_64
 * ```
 */
export async function loadSyscallNames(): Promise<void> {
  if (syscallNames) return;
  const { syscallTable } = await import("../../runtime/trace/syscalls.ts");
  syscallNames = await syscallTable();
}

/**
 * Loads what the formats a manifest declares need before its metrics or records are shown:
 * the kernel's syscall names when a label or field has the `syscall` format. Without them
 * (no tracefs), a syscall shows as its number.
 *
 * @example
 * ```ts
 * import { loadFormatsOf } from "./series.ts";
 * await loadFormatsOf({ entry: "mod.ts", metrics: [{ map: "data", name: "syscalls",
 *   kind: "counter", value: "value.count",
 *   labels: [{ name: "syscall", from: "key", format: "syscall" }] }] });
 * ```
 */
export async function loadFormatsOf(manifest: BpfManifest): Promise<void> {
  const named = [
    ...(manifest.metrics ?? []).flatMap((m) => m.labels ?? []),
    ...(manifest.events ?? []).flatMap((e) => e.fields),
  ];
  if (named.some((x) => x.format === "syscall")) {
    await loadSyscallNames().catch(() => {});
  }
}

/**
 * A label's value as text, by its declared format.
 *
 * @example
 * ```ts
 * import { labelValue } from "./series.ts";
 * labelValue(2, { name: "errno", from: "key", format: "errno" }); // "ENOENT"
 * ```
 */
export function labelValue(raw: unknown, label: MetricLabel): string {
  switch (label.format) {
    case "syscall": {
      const n = Number(raw);
      return syscallNames?.get(n) ?? String(n);
    }
    case "errno": {
      const n = Math.abs(Number(raw));
      return ERRNO_NAMES.get(n) ?? String(n);
    }
    case "signal": {
      const n = Number(raw);
      return SIGNAL_NAMES.get(n) ?? String(n);
    }
    case "ipv4":
      return ip(raw, false);
    case "ipv6":
      return ip(raw, true);
    default:
      return typeof raw === "string" ? raw : String(raw ?? "");
  }
}

/**
 * The upper bounds of a histogram's slots in the base unit; the last slot has none (+Inf).
 * A log2 slot _i_ holds values below 2^_i_ units; a linear one below (_i_ + 1) × step.
 *
 * @example
 * ```ts
 * import { bucketBounds } from "./series.ts";
 * bucketBounds({ map: "h", name: "x", kind: "histogram", unit: "microseconds",
 *   value: "value.slots", buckets: { layout: "log2" } }, 4); // [1e-6, 2e-6, 4e-6]
 * ```
 */
export function bucketBounds(d: MetricDeclaration, slots: number): number[] {
  const scale = unitOf(d).scale;
  const step = d.buckets?.step ?? 1;
  const out: number[] = [];
  for (let i = 0; i < slots - 1; i++) {
    out.push(
      (d.buckets?.layout === "linear" ? (i + 1) * step : 2 ** i) * scale,
    );
  }
  return out;
}

/**
 * A histogram's sum, estimated: the map keeps counts by slot, not the values, so each
 * slot counts at its midpoint (the last, open-ended slot at its lower bound).
 *
 * @example
 * ```ts
 * import { histogramSum } from "./series.ts";
 * histogramSum([1, 2], [2, 1, 1]); // 2 × 0.5 + 1 × 1.5 + 1 × 2 = 4.5
 * ```
 */
export function histogramSum(bounds: number[], counts: number[]): number {
  let sum = 0;
  for (let i = 0; i < counts.length; i++) {
    const lo = i ? bounds[i - 1] : 0;
    const hi = bounds[i] ?? lo;
    sum += counts[i] * (lo + hi) / 2;
  }
  return sum;
}

/** One series of a declared metric, as the last read left it. */
export interface Series {
  /** Label values, in the order of the declaration's labels. */
  readonly labels: readonly string[];
  /** A counter's or gauge's value in the base unit; a histogram's count. */
  value: number;
  /** A histogram's counts by slot (not cumulative). */
  counts?: number[];
  /** Whether the value (or a slot) changed at the last read, or the series is new. */
  changed: boolean;
  /** Text a reader keeps with the series (the Prometheus renderer's quoted labels or lines). */
  text?: string;
}

interface Live extends Series {
  /** Its key in the table's series. */
  id: string;
  epoch: number;
  /** The last read at which a map key of the series' own was seen. */
  keyEpoch: number;
  /** Dropped from the table (no entry made it at a read). */
  gone: boolean;
  acc: number;
  accCounts?: number[];
}

/** A new series, every field set at once (one object shape for every series). */
function live(id: string, labels: string[]): Live {
  return {
    labels,
    value: NaN,
    counts: undefined,
    changed: true,
    text: undefined,
    id,
    epoch: -1,
    keyEpoch: -1,
    gone: false,
    acc: 0,
    accCounts: undefined,
  };
}

/**
 * The series of one declared metric over successive reads of its map. Entries that differ
 * only in fields that are not labels (a stack id, a flag) add up into one series, since
 * Prometheus refuses two series with the same labels.
 *
 * @example
 * ```ts
 * import { SeriesTable } from "./series.ts";
 * const t = new SeriesTable({ map: "data", name: "syscalls", kind: "counter",
 *   value: "value.count", labels: [{ name: "syscall", from: "key", format: "syscall" }] });
 * t.read([[59, { count: 3n }]]); // true: a new series
 * t.read([[59, { count: 3n }]]); // false: nothing changed
 * [...t.series.values()][0].labels; // ["execve"]
 * ```
 */
export class SeriesTable {
  /** The live series by id. */
  readonly series: Map<string, Series> = new Map<string, Live>();
  #epoch = 0;
  #value: (e: [unknown, unknown]) => unknown;
  #labels: { read: (e: [unknown, unknown]) => unknown; label: MetricLabel }[];
  /**
   * The series of each map key, when every label comes from a key that is a number or
   * text: a key seen before costs one lookup, not its labels made again (nor an object of
   * its own: the entry is the series).
   */
  #byKey = new Map<unknown, Live>();
  #keyOnly: boolean;
  #scale: number;
  #histogram: boolean;

  constructor(readonly declaration: MetricDeclaration) {
    this.#value = pathReader(declaration.value);
    const labels = declaration.labels ?? [];
    this.#labels = labels.map((label) => ({
      read: pathReader(label.from),
      label,
    }));
    this.#keyOnly = labels.every((l) => l.from === "key");
    this.#scale = unitOf(declaration).scale;
    this.#histogram = declaration.kind === "histogram";
  }

  /** The series with these labels, made if it is new. */
  #withLabels(labels: string[]): Live {
    const id = labels.join("\u0000");
    const all = this.series as Map<string, Live>;
    let s = all.get(id);
    if (!s) all.set(id, s = live(id, labels));
    return s;
  }

  #seriesOf(e: [unknown, unknown]): Live {
    const key = e[0];
    if (this.#keyOnly && typeof key !== "object") {
      // The series may have gone (no entry made it at a read) and come back since.
      let s = this.#byKey.get(key);
      if (s === undefined || s.gone) {
        s = this.#withLabels(
          this.#labels.map((l) => labelValue(key, l.label)),
        );
        this.#byKey.set(key, s);
      }
      s.keyEpoch = this.#epoch;
      return s;
    }
    return this.#withLabels(
      this.#labels.map((l) => labelValue(l.read(e), l.label)),
    );
  }

  /**
   * Reads one dump of the map: updates the series, drops the ones no entry makes any more.
   *
   * @param entries the map's `[key, value]` pairs, as its typed map decodes them
   * @returns whether any series was added, changed or dropped
   */
  read(entries: [unknown, unknown][]): boolean {
    const epoch = ++this.#epoch;
    for (let n = 0; n < entries.length; n++) {
      const e = entries[n];
      const raw = this.#value(e);
      if (this.#histogram) {
        if (!Array.isArray(raw) || !raw.length) continue;
        const s = this.#seriesOf(e);
        if (s.epoch !== epoch) {
          s.epoch = epoch;
          const acc = s.accCounts?.length === raw.length
            ? s.accCounts
            : s.accCounts = new Array<number>(raw.length);
          for (let i = 0; i < raw.length; i++) acc[i] = Number(raw[i]);
        } else {
          const acc = s.accCounts!;
          for (let i = 0; i < raw.length; i++) {
            acc[i] = (acc[i] ?? 0) + Number(raw[i]);
          }
        }
        continue;
      }
      if (typeof raw !== "number" && typeof raw !== "bigint") continue;
      const v = Number(raw) * this.#scale;
      const s = this.#seriesOf(e);
      if (s.epoch !== epoch) {
        s.epoch = epoch;
        s.acc = v;
      } else s.acc += v;
    }
    let dirty = false;
    for (const s of (this.series as Map<string, Live>).values()) {
      if (s.epoch !== epoch) {
        this.series.delete(s.id);
        s.gone = true;
        dirty = true;
        continue;
      }
      s.changed = s.value !== s.acc;
      if (this.#histogram) {
        const acc = s.accCounts!;
        let count = 0;
        for (let i = 0; i < acc.length; i++) count += acc[i];
        s.acc = count;
        const old = s.counts;
        s.changed = !old || old.length !== acc.length ||
          acc.some((c, i) => c !== old[i]);
        if (s.changed) s.counts = acc.slice();
      }
      if (s.changed) {
        s.value = s.acc;
        dirty = true;
      }
    }
    if (this.#byKey.size > this.series.size) {
      for (const [k, s] of this.#byKey) {
        if (s.gone || s.keyEpoch !== epoch) this.#byKey.delete(k);
      }
    }
    return dirty;
  }
}
