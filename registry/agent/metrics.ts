/**
 * A probe's declared metrics (the manifest's `bpf.metrics`) read from its live maps into
 * OpenTelemetry's metric data model, which both exports use: the Prometheus serializer of
 * `@opentelemetry/exporter-prometheus` and the OTLP exporter. The values are read on the
 * trusted side, from the maps of the objects the package loaded, at collection time: what a
 * scrape or a push shows is what the kernel counted up to that moment.
 *
 * @module
 */
import { constants } from "node:os";
import { type Attributes, type HrTime, ValueType } from "@opentelemetry/api";
import {
  AggregationTemporality,
  type DataPoint,
  DataPointType,
  type Histogram,
  type MetricData,
} from "@opentelemetry/sdk-metrics";
import type { MetricDeclaration, MetricLabel, Unit } from "../manifest.ts";
import { SYSCALLS_X86_64 } from "../../probes/syscount/syscalls.ts";

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
 * The exported name of a declared metric: its name plus the base unit (`_seconds`,
 * `_bytes`); the Prometheus serializer adds `_total` to counters.
 *
 * @example
 * ```ts
 * import { metricName } from "./metrics.ts";
 * metricName({ map: "data", name: "syscount_syscall_time", kind: "counter", unit: "nanoseconds", value: "value.total_ns" });
 * // "syscount_syscall_time_seconds"
 * ```
 */
export function metricName(d: MetricDeclaration): string {
  const suffix = UNITS[d.unit ?? "count"].suffix;
  return d.name.endsWith(suffix) ? d.name : d.name + suffix;
}

/**
 * The value at a declared path (`key`, `key.pid`, `value.slots`) of one map entry.
 *
 * @example
 * ```ts
 * import { fieldAt } from "./metrics.ts";
 * fieldAt([7, { count: 3n }], "value.count"); // 3n
 * ```
 */
export function fieldAt(entry: [unknown, unknown], path: string): unknown {
  const [root, ...rest] = path.split(".");
  let v: unknown = root === "key" ? entry[0] : entry[1];
  for (const p of rest) {
    if (v === null || typeof v !== "object") return undefined;
    v = (v as Record<string, unknown>)[p];
  }
  return v;
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

/**
 * A label's value as text, by its declared format.
 *
 * @example
 * ```ts
 * import { labelValue } from "./metrics.ts";
 * labelValue(59, { name: "syscall", from: "key", format: "syscall" }); // "execve"
 * ```
 */
export function labelValue(raw: unknown, label: MetricLabel): string {
  switch (label.format) {
    case "syscall": {
      const n = Number(raw);
      return SYSCALLS_X86_64[n] || String(n);
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
 * Seconds and nanoseconds of a `Date.now()`-style millisecond time.
 *
 * @example
 * ```ts
 * import { hrTime } from "./metrics.ts";
 * hrTime(1500); // [1, 500000000]
 * ```
 */
export function hrTime(ms: number): HrTime {
  const s = Math.floor(ms / 1000);
  return [s, Math.round((ms - s * 1000) * 1e6)];
}

/** The upper bounds of a histogram's slots, in the base unit (the last slot is +Inf). */
function bounds(d: MetricDeclaration, slots: number): number[] {
  const scale = UNITS[d.unit ?? "count"].scale;
  const step = d.buckets?.step ?? 1;
  const out: number[] = [];
  for (let i = 0; i < slots - 1; i++) {
    out.push(
      (d.buckets?.layout === "linear" ? (i + 1) * step : 2 ** i) * scale,
    );
  }
  return out;
}

/** A map dump and where it came from, for {@linkcode toMetricData}. */
export interface MapSample {
  /** The map's entries, as the trusted side's typed map decodes them. */
  entries: [unknown, unknown][];
  /** Attributes every point carries (probe, probe_version). */
  attributes: Attributes;
  /** When the probe started (the counters' start). */
  start: HrTime;
}

/**
 * One declared metric's data from map dumps (one per running probe version).
 *
 * @param d the declaration
 * @param samples the dumps
 * @param now the collection time
 * @returns the OpenTelemetry metric data
 *
 * @example
 * ```ts
 * import { hrTime, toMetricData } from "./metrics.ts";
 * const d = toMetricData(
 *   { map: "data", name: "syscount_syscalls", kind: "counter", value: "value.count",
 *     labels: [{ name: "syscall", from: "key", format: "syscall" }] },
 *   [{ entries: [[59, { count: 3n }]], attributes: { probe: "syscount" }, start: hrTime(0) }],
 *   hrTime(Date.now()),
 * );
 * // d.dataPoints[0]: { attributes: { probe: "syscount", syscall: "execve" }, value: 3, ... }
 * ```
 */
export function toMetricData(
  d: MetricDeclaration,
  samples: MapSample[],
  now: HrTime,
): MetricData {
  const unit = UNITS[d.unit ?? "count"];
  const descriptor = {
    name: metricName(d),
    description: d.help ?? "",
    unit: unit.ucum,
    valueType: ValueType.DOUBLE,
  };
  const labels = d.labels ?? [];
  // A series is its sample (probe version) and its label values.
  const seriesOf = (si: number, e: [unknown, unknown]) => {
    const values = labels.map((l) => labelValue(fieldAt(e, l.from), l));
    return { id: `${si}\u0000${values.join("\u0000")}`, values };
  };
  const attrsOf = (s: MapSample, values: string[]): Attributes => {
    const a: Attributes = { ...s.attributes };
    labels.forEach((l, i) => a[l.name] = values[i]);
    return a;
  };
  if (d.kind === "histogram") {
    // Entries that differ only in fields that are not labels (a stack id, a flag) fold into
    // one series: Prometheus refuses two series with the same labels.
    const merged = new Map<
      string,
      { s: MapSample; values: string[]; counts: number[] }
    >();
    for (const [si, s] of samples.entries()) {
      for (const e of s.entries) {
        const slots = fieldAt(e, d.value);
        if (!Array.isArray(slots) || !slots.length) continue;
        const { id, values } = seriesOf(si, e);
        const m = merged.get(id);
        if (!m) merged.set(id, { s, values, counts: slots.map(Number) });
        else {slots.forEach((c, i) =>
            m.counts[i] = (m.counts[i] ?? 0) + Number(c)
          );}
      }
    }
    const points: DataPoint<Histogram>[] = [];
    for (const { s, values, counts } of merged.values()) {
      const boundaries = bounds(d, counts.length);
      const count = counts.reduce((x, y) => x + y, 0);
      // The map keeps counts by slot, not the values: the sum is estimated from each
      // slot's midpoint (its lower bound for the last, open-ended slot).
      let sum = 0;
      counts.forEach((c, i) => {
        const lo = i ? boundaries[i - 1] : 0;
        const hi = boundaries[i] ?? lo;
        sum += c * (lo + hi) / 2;
      });
      points.push({
        startTime: s.start,
        endTime: now,
        attributes: attrsOf(s, values),
        value: {
          buckets: { boundaries, counts },
          count,
          sum,
          hasMinMax: false,
        } as Histogram,
      });
    }
    return {
      descriptor,
      aggregationTemporality: AggregationTemporality.CUMULATIVE,
      dataPointType: DataPointType.HISTOGRAM,
      dataPoints: points,
    };
  }
  const byAttrs = new Map<string, DataPoint<number>>();
  for (const [si, s] of samples.entries()) {
    for (const e of s.entries) {
      const raw = fieldAt(e, d.value);
      if (typeof raw !== "number" && typeof raw !== "bigint") continue;
      const { id, values } = seriesOf(si, e);
      const value = Number(raw) * unit.scale;
      const p = byAttrs.get(id);
      if (p) (p as { value: number }).value += value;
      else {
        byAttrs.set(id, {
          startTime: s.start,
          endTime: now,
          attributes: attrsOf(s, values),
          value,
        });
      }
    }
  }
  const points = [...byAttrs.values()];
  return d.kind === "counter"
    ? {
      descriptor,
      aggregationTemporality: AggregationTemporality.CUMULATIVE,
      dataPointType: DataPointType.SUM,
      dataPoints: points,
      isMonotonic: true,
    }
    : {
      descriptor,
      aggregationTemporality: AggregationTemporality.CUMULATIVE,
      dataPointType: DataPointType.GAUGE,
      dataPoints: points,
    };
}
