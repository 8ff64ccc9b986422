/**
 * A probe's declared metrics (the manifest's `bpf.metrics`) as OpenTelemetry's metric data
 * model, for the OTLP exporter: the series of series.ts (read on the trusted side from the
 * maps of the objects the package loaded, at collection time: what a push shows is what
 * the kernel counted up to that moment) become data points.
 *
 * @module
 */
import { type Attributes, type HrTime, ValueType } from "@opentelemetry/api";
import {
  AggregationTemporality,
  type DataPoint,
  DataPointType,
  type Histogram,
  type MetricData,
} from "@opentelemetry/sdk-metrics";
import type { MetricDeclaration } from "../manifest.ts";
import {
  bucketBounds,
  histogramSum,
  metricName,
  type Series,
  SeriesTable,
  unitOf,
} from "./series.ts";

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

/** A map dump and where it came from, for {@linkcode toMetricData}. */
export interface MapSample {
  /** The map's entries, as the trusted side's typed map decodes them. */
  entries: [unknown, unknown][];
  /** Attributes every point carries (probe, probe_version). */
  attributes: Attributes;
  /** When the probe started (the counters' start). */
  start: HrTime;
}

/** A data point of a counter or gauge (a number) or of a histogram. */
type Point = DataPoint<number> | DataPoint<Histogram>;

/**
 * One running probe version's series of one declared metric as data points. A series'
 * point is made when it appears and kept: a collection sets its end time, and its value
 * only when it changed, so a collection of 10,000 idle series makes nothing new. A point
 * returned by one read is changed by the next: the SDK serializes a collection before
 * the next one starts.
 *
 * @example
 * ```ts
 * import { hrTime, MetricPoints } from "./metrics.ts";
 * const p = new MetricPoints(
 *   { map: "data", name: "syscount_syscalls", kind: "counter", value: "value.count",
 *     labels: [{ name: "syscall", from: "key", format: "syscall" }] },
 *   { probe: "syscount" },
 *   hrTime(0),
 * );
 * p.read([[59, { count: 3n }]], hrTime(Date.now()));
 * // [{ attributes: { probe: "syscount", syscall: "execve" }, value: 3, ... }]
 * ```
 */
export class MetricPoints {
  readonly #table: SeriesTable;
  #kept = new WeakMap<Series, Point>();

  /**
   * @param declaration the declared metric
   * @param attributes what every point carries (probe, probe_version)
   * @param start when the probe version started (the counters' start)
   */
  constructor(
    readonly declaration: MetricDeclaration,
    readonly attributes: Attributes,
    readonly start: HrTime,
  ) {
    this.#table = new SeriesTable(declaration);
  }

  #value(s: Series): number | Histogram {
    if (!s.counts) return s.value;
    const boundaries = bucketBounds(this.declaration, s.counts.length);
    return {
      buckets: { boundaries, counts: s.counts },
      count: s.value,
      sum: histogramSum(boundaries, s.counts),
      hasMinMax: false,
    } as Histogram;
  }

  /**
   * Reads a dump of the map.
   *
   * @param entries the map's `[key, value]` pairs
   * @param now the collection time
   * @returns every series' point
   */
  read(entries: [unknown, unknown][], now: HrTime): Point[] {
    this.#table.read(entries);
    const labels = this.declaration.labels ?? [];
    const out: Point[] = [];
    for (const s of this.#table.series.values()) {
      let p = this.#kept.get(s);
      if (!p) {
        const attributes: Attributes = { ...this.attributes };
        labels.forEach((l, i) => attributes[l.name] = s.labels[i]);
        p = {
          startTime: this.start,
          endTime: now,
          attributes,
          value: this.#value(s),
        } as Point;
        this.#kept.set(s, p);
      } else {
        // The SDK types its points read-only; it is done with this one (above).
        const w = p as { endTime: HrTime; value: number | Histogram };
        w.endTime = now;
        if (s.changed) w.value = this.#value(s);
      }
      out.push(p);
    }
    return out;
  }
}

/**
 * A declared metric's OpenTelemetry metric data from its points.
 *
 * @param d the declaration
 * @param points the points of every running probe version
 * @returns the metric data (cumulative; counters are monotonic sums)
 *
 * @example
 * ```ts
 * import { hrTime, metricData, MetricPoints } from "./metrics.ts";
 * const d = { map: "data", name: "syscount_syscalls", kind: "counter" as const, value: "value.count" };
 * metricData(d, new MetricPoints(d, {}, hrTime(0)).read([[59, { count: 3n }]], hrTime(1)));
 * ```
 */
export function metricData(d: MetricDeclaration, points: Point[]): MetricData {
  const common = {
    descriptor: {
      name: metricName(d),
      description: d.help ?? "",
      unit: unitOf(d).ucum,
      valueType: ValueType.DOUBLE,
    },
    aggregationTemporality: AggregationTemporality.CUMULATIVE,
  };
  if (d.kind === "histogram") {
    return {
      ...common,
      dataPointType: DataPointType.HISTOGRAM,
      dataPoints: points as DataPoint<Histogram>[],
    };
  }
  const dataPoints = points as DataPoint<number>[];
  return d.kind === "counter"
    ? {
      ...common,
      dataPointType: DataPointType.SUM,
      dataPoints,
      isMonotonic: true,
    }
    : { ...common, dataPointType: DataPointType.GAUGE, dataPoints };
}

/**
 * One declared metric's data from map dumps (one per running probe version), made afresh.
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
  return metricData(
    d,
    samples.flatMap((s) =>
      new MetricPoints(d, s.attributes, s.start).read(s.entries, now)
    ),
  );
}
