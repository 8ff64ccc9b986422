/**
 * The agent's OTLP/HTTP export (protobuf), with OpenTelemetry's own SDK and exporters: one
 * metric producer reads the declared maps at each export and hands the SDK pre-aggregated
 * data; the probes' records go out as log records. The agent imports this module only when
 * its configuration names an OTLP endpoint, so an agent that is only scraped never loads the
 * SDK.
 *
 * The exporters are the ones `@opentelemetry/exporter-metrics-otlp-proto` and
 * `exporter-logs-otlp-proto` build for a runtime with `fetch` (their browser build): the
 * SDK's exporter bases, its protobuf serializers and its fetch transport with retries
 * (`@opentelemetry/otlp-exporter-base/browser-http`). Their Node build sends through
 * `node:http`, which under Deno pipes each body through Node streams in JavaScript: measured
 * here on the bench's 10,000 series, about 20 ms of CPU an export more than `fetch`, which
 * sends the body from native code.
 *
 * @module
 */
import { type Attributes, SeverityNumber } from "@opentelemetry/api";
import { resourceFromAttributes } from "@opentelemetry/resources";
import {
  type CollectionResult,
  MeterProvider,
  type MetricData,
  PeriodicExportingMetricReader,
} from "@opentelemetry/sdk-metrics";
import {
  BatchLogRecordProcessor,
  LoggerProvider,
} from "@opentelemetry/sdk-logs";
import { OTLPMetricExporterBase } from "@opentelemetry/exporter-metrics-otlp-http";
import { OTLPExporterBase } from "@opentelemetry/otlp-exporter-base";
import { createLegacyOtlpBrowserExportDelegate } from "@opentelemetry/otlp-exporter-base/browser-http";
import {
  LogsExporterMetricsHelper,
  MetricsExporterMetricsHelper,
  ProtobufLogsSerializer,
  ProtobufMetricsSerializer,
} from "@opentelemetry/otlp-transformer";
import type { ReadableLogRecord } from "@opentelemetry/sdk-logs";
import type { MetricDeclaration } from "../manifest.ts";
import type { AgentConfig } from "./config.ts";
import { hrTime, metricData, MetricPoints } from "./metrics.ts";
import type { MetricSource } from "./prometheus.ts";
import type { ProbeRecord } from "./probe.ts";

/** The most log records in one OTLP request. */
const LOG_BATCH = 4096;

/** Log records made in one turn of the event loop at an export. */
const LOG_SLICE = 256;

/** The most log records waiting for an export; more are dropped (as the SDK's queue does). */
const LOG_QUEUE = 2 * LOG_BATCH;

/** What the SDK's exporters send: protobuf. */
const PROTOBUF = { "Content-Type": "application/x-protobuf" };

/**
 * The export delegate OpenTelemetry's OTLP/HTTP protobuf exporters get in their browser
 * build, for `<endpoint>/v1/<signal>s`: `fetch`, retries, and the SDK's serializer for the
 * signal (the component name and metrics helper are the SDK's, for its self-observability
 * metrics).
 */
function fetchDelegate<T>(
  endpoint: string,
  headers: Record<string, string>,
  signal: "metric" | "log",
  serializer: Parameters<
    typeof createLegacyOtlpBrowserExportDelegate<T, unknown>
  >[1],
  metricsHelper: Parameters<
    typeof createLegacyOtlpBrowserExportDelegate<T, unknown>
  >[3],
) {
  const path = `v1/${signal}s`;
  return createLegacyOtlpBrowserExportDelegate<T, unknown>(
    { url: `${endpoint}/${path}`, headers },
    serializer,
    `otlp_http_${signal}_exporter`,
    metricsHelper,
    undefined,
    path,
    PROTOBUF,
  );
}

/** A declared metric's source, with when its probe version started (the counters' start). */
export interface TimedSource extends MetricSource {
  /** When the probe version started, ms since the epoch. */
  started: number;
}

/** A running OTLP export. */
export interface OtlpExport {
  /**
   * Queues one record of a probe, to go out as a log record at the next export: a JSON line
   * is kept as its text and parsed then.
   */
  emit(probe: string, version: string, record: ProbeRecord): void;
  /** Pushes what is queued and stops. */
  shutdown(): Promise<void>;
}

/** A record waiting for the next export, with when it came. */
interface Queued {
  at: number;
  probe: string;
  version: string;
  record: ProbeRecord;
}

/**
 * Starts pushing metrics (read from `sources()` at each interval) and log records to the
 * configured endpoint.
 *
 * @param otlp the endpoint, interval and headers
 * @param resource the node's attributes
 * @param sources every running probe version's declared metrics, their maps read now
 * @returns the export
 *
 * @example
 * ```ts
 * import { startOtlp } from "./otlp.ts";
 * const otlp = startOtlp(
 *   { endpoint: "http://127.0.0.1:4318", intervalMs: 10_000, headers: {} },
 *   { "host.name": "n1" },
 *   () => ({ sources: [], errors: [] }),
 * );
 * otlp.emit("execsnoop", "1.0.0", { json: '{"pid":1}' });
 * await otlp.shutdown();
 * ```
 */
export function startOtlp(
  otlp: NonNullable<AgentConfig["otlp"]>,
  resource: Attributes,
  sources: () => { sources: TimedSource[]; errors: unknown[] },
): OtlpExport {
  const res = resourceFromAttributes(resource);
  // Each running probe version's points are kept between exports (the same series make
  // the same points); a version no longer running is forgotten.
  const kept = new Map<string, { points: MetricPoints; epoch: number }>();
  let epoch = 0;
  const collect = (): Promise<CollectionResult> => {
    const now = hrTime(Date.now());
    epoch++;
    const { sources: all, errors } = sources();
    const byName = new Map<
      string,
      { d: MetricDeclaration; points: ReturnType<MetricPoints["read"]> }
    >();
    for (const src of all) {
      const d = src.declaration;
      const id =
        `${src.probe}\u0000${src.version}\u0000${d.name}\u0000${d.map}`;
      let k = kept.get(id);
      if (!k) {
        k = {
          points: new MetricPoints(
            d,
            { probe: src.probe, probe_version: src.version },
            hrTime(src.started),
          ),
          epoch,
        };
        kept.set(id, k);
      }
      k.epoch = epoch;
      const slot = byName.get(d.name) ?? { d, points: [] };
      slot.points.push(...k.points.read(src.entries, now));
      byName.set(d.name, slot);
    }
    for (const [id, k] of kept) if (k.epoch !== epoch) kept.delete(id);
    const metrics: MetricData[] = [...byName.values()].map(({ d, points }) =>
      metricData(d, points)
    );
    return Promise.resolve({
      resourceMetrics: {
        resource: resourceFromAttributes({}),
        scopeMetrics: [{ scope: { name: "bpfpm-agent" }, metrics }],
      },
      errors,
    });
  };
  const meters = new MeterProvider({
    resource: res,
    readers: [
      new PeriodicExportingMetricReader({
        exporter: new OTLPMetricExporterBase(
          fetchDelegate(
            otlp.endpoint,
            otlp.headers,
            "metric",
            ProtobufMetricsSerializer,
            MetricsExporterMetricsHelper,
          ),
        ),
        exportIntervalMillis: otlp.intervalMs,
        exportTimeoutMillis: Math.min(otlp.intervalMs, 30_000),
        metricProducers: [{ collect }],
      }),
    ],
  });
  const logs = new LoggerProvider({
    resource: res,
    processors: [
      new BatchLogRecordProcessor({
        exporter: new OTLPExporterBase<ReadableLogRecord[]>(
          fetchDelegate(
            otlp.endpoint,
            otlp.headers,
            "log",
            ProtobufLogsSerializer,
            LogsExporterMetricsHelper,
          ),
        ),
        scheduledDelayMillis: otlp.intervalMs,
        // One request an interval, not one every 512 records (the SDK's default batch: at
        // 150 records a second, four requests each 10 s, each through node:http).
        maxExportBatchSize: LOG_BATCH,
        maxQueueSize: LOG_QUEUE,
      }),
    ],
  });
  const logger = logs.getLogger("bpfpm-agent");
  // Records wait here, as they came (a JSON line as its text), and become the SDK's log
  // records only at the export: made, serialized and dropped in one go, they die young,
  // where log records made as records came lived an interval and were promoted to V8's
  // old generation, then collected there.
  let queue: Queued[] = [];
  const flush = async () => {
    const batch = queue;
    queue = [];
    for (let i = 0; i < batch.length; i++) {
      // A turn of the event loop between slices: a scrape waits for one slice at most.
      if (i && i % LOG_SLICE === 0) await new Promise((r) => setTimeout(r, 0));
      const { at, probe, version, record } = batch[i];
      logger.emit({
        timestamp: at,
        observedTimestamp: at,
        severityNumber: SeverityNumber.INFO,
        severityText: "INFO",
        eventName: `${probe}.event`,
        body:
          ("json" in record ? JSON.parse(record.json) : record.value) as never,
        attributes: { probe, probe_version: version },
      });
    }
    if (batch.length) await logs.forceFlush();
  };
  // The log records go half an interval after the metrics: each push serializes in one
  // piece (~20 ms each at 10,000 points or 1,500 records, plus the collection before the
  // metrics'), and a scrape that comes meanwhile waits behind one of them, not both.
  let timer: ReturnType<typeof setInterval> | undefined;
  const offset = setTimeout(() => {
    flush().catch(() => {});
    const every = setInterval(() => {
      flush().catch(() => {});
    }, otlp.intervalMs);
    Deno.unrefTimer(every);
    timer = every;
  }, otlp.intervalMs / 2);
  Deno.unrefTimer(offset);
  return {
    emit(probe, version, record) {
      // As the SDK's queue: beyond its size, records are dropped.
      if (queue.length < LOG_QUEUE) {
        queue.push({ at: Date.now(), probe, version, record });
      }
    },
    async shutdown() {
      clearTimeout(offset);
      clearInterval(timer);
      await flush().catch(() => {});
      await Promise.allSettled([meters.shutdown(), logs.shutdown()]);
    },
  };
}
