/**
 * The `bpfpm agent` configuration file (JSON; docs/fleet.md): the registry, the probes with
 * the range or dist-tag each follows, the Prometheus listener and the OTLP endpoint. Checked
 * with Ajv against one schema; every problem is one line naming the file, the field and
 * the fix.
 *
 * @module
 */
import { Ajv, type ErrorObject } from "ajv";
import { ClientError } from "../client/errors.ts";
import { schemaProblem } from "../manifest.ts";

/** One probe the agent runs. */
export interface AgentProbe {
  /** The package name. */
  name: string;
  /** A semver range or a dist-tag the agent follows (default `latest`). */
  range: string;
  /** Extra arguments for the probe's entry. */
  args: string[];
  /** Values of the manifest's declared parameters, passed as their flags. */
  params: Record<string, boolean | number | string>;
  /** Upgrade even when the new version declares wider grants. */
  allowWiderGrants: boolean;
  /**
   * `package` (default): the package's code runs in the sandbox, as `bpfpm run` runs it;
   * `declared`: no package code, the agent runs the declared programs, events and
   * parameters itself (as `bpfpm run --output` does).
   */
  run: "package" | "declared";
}

/** The agent's configuration, with defaults filled in. */
export interface AgentConfig {
  /** The registry URL. */
  registry: string;
  /** The probes. */
  probes: AgentProbe[];
  /** The Prometheus (and status) listener, `host:port`. */
  prometheus?: { listen: string };
  /** OTLP/HTTP push: the collector's base URL and the export interval in ms. */
  otlp?: {
    endpoint: string;
    intervalMs: number;
    headers: Record<string, string>;
  };
  /** How often the registry is polled for new versions, in ms (default 30 s). */
  pollMs: number;
  /** Where installed probe versions live (default /var/lib/bpfpm/agent). */
  stateDir: string;
  /** The node's name in exported data (default: the hostname). */
  instance: string;
  /** Refuse packages without a trusted publisher signature. */
  requireSigned: boolean;
}

const DURATION = "^[0-9]+(ms|s|m|h)$";

const schema = {
  type: "object",
  additionalProperties: false,
  required: ["registry", "probes"],
  properties: {
    registry: { type: "string", pattern: "^https?://" },
    probes: {
      type: "array",
      minItems: 1,
      maxItems: 64,
      items: {
        type: "object",
        additionalProperties: false,
        required: ["name"],
        properties: {
          name: { type: "string", minLength: 1, maxLength: 214 },
          range: { type: "string", minLength: 1, maxLength: 256 },
          args: { type: "array", items: { type: "string" }, maxItems: 64 },
          params: {
            type: "object",
            additionalProperties: {
              anyOf: [
                { type: "boolean" },
                { type: "number" },
                { type: "string" },
              ],
            },
          },
          allowWiderGrants: { type: "boolean" },
          run: { enum: ["package", "declared"] },
        },
      },
    },
    prometheus: {
      type: "object",
      additionalProperties: false,
      required: ["listen"],
      properties: {
        listen: { type: "string", pattern: "^[^\\s:]*:[0-9]{1,5}$" },
      },
    },
    otlp: {
      type: "object",
      additionalProperties: false,
      required: ["endpoint"],
      properties: {
        endpoint: { type: "string", pattern: "^https?://" },
        interval: { type: "string", pattern: DURATION },
        headers: {
          type: "object",
          additionalProperties: { type: "string" },
        },
      },
    },
    poll: { type: "string", pattern: DURATION },
    stateDir: { type: "string", minLength: 1 },
    instance: { type: "string", minLength: 1, maxLength: 256 },
    requireSigned: { type: "boolean" },
    allowWiderGrants: { type: "boolean" },
  },
};

const validate = new Ajv({ allErrors: true, strict: true }).compile(schema);

/**
 * Milliseconds of a duration such as `10s`, `500ms`, `1m`.
 *
 * @example
 * ```ts
 * import { parseDuration } from "./config.ts";
 * parseDuration("10s"); // 10000
 * ```
 */
export function parseDuration(text: string): number {
  const m = /^([0-9]+)(ms|s|m|h)$/.exec(text);
  if (!m) {
    throw new RangeError(
      `${JSON.stringify(text)} is not a duration: write 500ms, 10s, 1m or 1h`,
    );
  }
  return Number(m[1]) * { ms: 1, s: 1e3, m: 60e3, h: 3600e3 }[m[2]]!;
}

function describe(e: ErrorObject): string {
  const where = e.instancePath.replaceAll("/", ".").replace(/^\./, "") ||
    "(top level)";
  if (e.keyword === "minItems" && where === "probes") {
    return 'probes: list at least one probe, such as {"name": "runqlat"}';
  }
  if (e.keyword !== "pattern") return schemaProblem(e, where);
  return /interval|poll/.test(where)
    ? `${where}: must be a duration such as 10s`
    : /listen/.test(where)
    ? `${where}: must be host:port, such as 127.0.0.1:9464`
    : `${where}: must be an http(s) URL`;
}

/**
 * Reads and checks an agent configuration.
 *
 * @param text the file's JSON text
 * @param source the file's path, for messages
 * @returns the configuration with defaults
 *
 * @example
 * ```ts
 * import { parseAgentConfig } from "./config.ts";
 * const c = parseAgentConfig(
 *   '{"registry":"http://127.0.0.1:4873","probes":[{"name":"runqlat","range":"^1"}]}',
 *   "agent.json",
 * );
 * c.probes[0].range; // "^1"
 * ```
 */
export function parseAgentConfig(text: string, source: string): AgentConfig {
  let raw: Record<string, unknown>;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new ClientError(
      "ECONFIG",
      `${source} is not valid JSON (${(e as Error).message}): fix the file`,
    );
  }
  if (!validate(raw)) {
    throw new ClientError(
      "ECONFIG",
      `${source}: ${
        [...new Set((validate.errors ?? []).map(describe))].join("; ")
      }`,
    );
  }
  const probes = raw.probes as Record<string, unknown>[];
  const names = probes.map((p) => p.name);
  const twice = names.find((n, i) => names.indexOf(n) !== i);
  if (twice) {
    throw new ClientError(
      "ECONFIG",
      `${source}: probe ${twice} is listed twice; keep one entry per package`,
    );
  }
  const otlp = raw.otlp as
    | { endpoint: string; interval?: string; headers?: Record<string, string> }
    | undefined;
  return {
    registry: raw.registry as string,
    probes: probes.map((p) => ({
      name: p.name as string,
      range: (p.range as string | undefined) ?? "latest",
      args: (p.args as string[] | undefined) ?? [],
      params: (p.params as AgentProbe["params"] | undefined) ?? {},
      allowWiderGrants:
        (p.allowWiderGrants ?? raw.allowWiderGrants ?? false) as boolean,
      run: (p.run as AgentProbe["run"] | undefined) ?? "package",
    })),
    prometheus: raw.prometheus as AgentConfig["prometheus"],
    otlp: otlp && {
      endpoint: otlp.endpoint.replace(/\/+$/, ""),
      intervalMs: parseDuration(otlp.interval ?? "10s"),
      headers: otlp.headers ?? {},
    },
    pollMs: parseDuration((raw.poll as string | undefined) ?? "30s"),
    stateDir: (raw.stateDir as string | undefined) ?? "/var/lib/bpfpm/agent",
    instance: (raw.instance as string | undefined) ?? Deno.hostname(),
    requireSigned: (raw.requireSigned as boolean | undefined) ?? false,
  };
}
