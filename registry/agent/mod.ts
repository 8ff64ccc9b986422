/**
 * `bpfpm agent`: runs probe packages on a node as `bpfpm run` does, follows their ranges
 * and dist-tags in the registry, and exports their declared metrics to Prometheus and
 * OTLP, and their records as OTLP logs (docs/fleet.md). OpenTelemetry's SDK is loaded only
 * for an OTLP export: its metric data comes from `./metrics.ts` (`toMetricData`, `hrTime`)
 * and the export from `./otlp.ts`, which this module does not load.
 *
 * @example
 * ```ts
 * import { agentCommand } from "./mod.ts";
 * Deno.exitCode = await agentCommand({ config: "agent.json", yes: true });
 * ```
 *
 * @module
 */
export {
  Agent,
  AGENT_V8_FLAGS,
  agentCommand,
  type AgentOptions,
} from "./agent.ts";
export {
  type AgentConfig,
  type AgentProbe,
  parseAgentConfig,
  parseDuration,
} from "./config.ts";
export {
  bucketBounds,
  fieldAt,
  histogramSum,
  labelValue,
  loadFormatsOf,
  loadSyscallNames,
  metricName,
  type Series,
  SeriesTable,
  unitOf,
} from "./series.ts";
export { type MetricSource, PrometheusText } from "./prometheus.ts";
export {
  declarations,
  probeArgs,
  type ProbeState,
  type ProbeStatus,
  readLines,
  type Release,
  Supervisor,
} from "./probe.ts";
