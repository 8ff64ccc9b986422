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
  const descriptor = {
    name: metricName(d),
    description: d.help ?? "",
    unit: unitOf(d).ucum,
    valueType: ValueType.DOUBLE,
  };
  const labels = d.labels ?? [];
  const pointsOf = <T>(value: (s: Series) => T): DataPoint<T>[] =>
    samples.flatMap((sample) => {
      const table = new SeriesTable(d);
      table.read(sample.entries);
      return [...table.series.values()].map((s) => {
        const attributes: Attributes = { ...sample.attributes };
        labels.forEach((l, i) => attributes[l.name] = s.labels[i]);
        return {
          startTime: sample.start,
          endTime: now,
          attributes,
          value: value(s),
        };
      });
    });
  const common = {
    descriptor,
    aggregationTemporality: AggregationTemporality.CUMULATIVE,
  };
  if (d.kind === "histogram") {
    return {
      ...common,
      dataPointType: DataPointType.HISTOGRAM,
      dataPoints: pointsOf((s): Histogram => {
        const counts = s.counts!;
        const boundaries = bucketBounds(d, counts.length);
        return {
          buckets: { boundaries, counts },
          count: s.value,
          sum: histogramSum(boundaries, counts),
          hasMinMax: false,
        } as Histogram;
      }),
    };
  }
  const dataPoints = pointsOf((s) => s.value);
  return d.kind === "counter"
    ? {
      ...common,
      dataPointType: DataPointType.SUM,
      dataPoints,
      isMonotonic: true,
    }
    : { ...common, dataPointType: DataPointType.GAUGE, dataPoints };
}
