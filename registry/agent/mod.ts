/**
 * `bpfpm agent`: runs probe packages on a node as `bpfpm run` does, follows their ranges
 * and dist-tags in the registry, and exports their declared metrics to Prometheus and
 * OTLP, and their records as OTLP logs (docs/fleet.md).
 *
 * @example
 * ```ts
 * import { agentCommand } from "./mod.ts";
 * Deno.exitCode = await agentCommand({ config: "agent.json", yes: true });
 * ```
 *
 * @module
 */
export { Agent, agentCommand, type AgentOptions } from "./agent.ts";
export {
  type AgentConfig,
  type AgentProbe,
  parseAgentConfig,
  parseDuration,
} from "./config.ts";
export {
  fieldAt,
  hrTime,
  labelValue,
  type MapSample,
  metricName,
  toMetricData,
} from "./metrics.ts";
export {
  declarations,
  probeArgs,
  type ProbeState,
  type ProbeStatus,
  readLines,
  type Release,
  Supervisor,
} from "./probe.ts";
