/**
 * `bpfpm agent --config FILE [--yes]`: a long-running supervisor that runs the configured
 * probe packages as `bpfpm run` does, follows their ranges or dist-tags in the registry,
 * and exports what their manifests declare. Metrics go through OpenTelemetry's SDK: one
 * producer reads the declared maps at collection time, the Prometheus exporter's
 * serializer answers `/metrics`, and the OTLP/HTTP (protobuf) exporter pushes the same
 * data; the probes' records go out as OTLP log records. `/healthz` and `/status` say how
 * each probe is doing.
 *
 * @module
 */
import { mkdirSync, readFileSync } from "node:fs";
import { release as kernelRelease } from "node:os";
import { interrupted } from "../../runtime/lifecycle.ts";
import { tuneHeapForLongRun } from "../../runtime/_memory.ts";
import { ClientError } from "../client/errors.ts";
import { confirmGrants } from "../client/run.ts";
import { Ui } from "../client/ui.ts";
import { type AgentConfig, parseAgentConfig } from "./config.ts";
import type { OtlpExport, TimedSource } from "./otlp.ts";
import { PrometheusText } from "./prometheus.ts";
import { type ProbeRecord, type Release, Supervisor } from "./probe.ts";

/**
 * The V8 flags `bpfpm agent` is measured and deployed with, as `DENO_V8_FLAGS` (the systemd
 * unit and the DaemonSet in docs/fleet.md set it; `deno task bench agent` runs the agent
 * with it). A 2 MiB semi-space keeps V8's young generation from growing to 3 × 16 MiB under
 * the agent's steady allocation (sandbox frames, map dumps, records). Measured here with five
 * probes and 10,000 series, the trusted side's peak RSS was 230 to 275 MB without it and 159
 * to 175 MB with it. `--optimize-for-size`, which took it to 133 to 156 MB, cost 2.5 % of a
 * core (two agents side by side under the same load: 21.1 % against 18.6 %); it is not used
 * since the C heap is sized for a long run instead (runtime/_memory.ts: two malloc arenas,
 * large blocks returned when freed), which keeps the agent at 134 to 148 MB without it.
 * A 4 MiB semi-space saved 0.5 % of a core more at 145 MB.
 *
 * @example
 * ```ts
 * import { AGENT_V8_FLAGS } from "./agent.ts";
 * const env = { DENO_V8_FLAGS: AGENT_V8_FLAGS };
 * ```
 */
export const AGENT_V8_FLAGS = "--max-semi-space-size=2";

/** Resource attributes that become labels of every Prometheus series. */
const NODE_LABELS = ["host.name", "kernel.release"];

/** Options of an {@linkcode Agent}. */
export interface AgentOptions {
  /** Approve every probe's declared grants without asking. */
  yes?: boolean;
  /** Where messages go. */
  ui?: Ui;
}

/**
 * The agent: probes, exports and the HTTP endpoints.
 *
 * @example
 * ```ts
 * import { Agent } from "./agent.ts";
 * import { parseAgentConfig } from "./config.ts";
 * const agent = new Agent(parseAgentConfig(Deno.readTextFileSync("agent.json"), "agent.json"), { yes: true });
 * await agent.start();
 * // ... later
 * await agent.close();
 * ```
 */
export class Agent {
  readonly probes: Supervisor[];
  #ui: Ui;
  #yes: boolean;
  #resource: Record<string, string>;
  /** The `/metrics` text, kept between scrapes. */
  readonly prometheus: PrometheusText;
  #otlp?: OtlpExport;
  #server?: Deno.HttpServer;
  #timer?: ReturnType<typeof setInterval>;
  #started = Date.now();

  constructor(readonly config: AgentConfig, options: AgentOptions = {}) {
    this.#ui = options.ui ?? new Ui();
    this.#yes = options.yes ?? false;
    mkdirSync(config.stateDir, { recursive: true, mode: 0o700 });
    const host = {
      registry: config.registry,
      stateDir: config.stateDir,
      requireSigned: config.requireSigned,
      approve: (r: Release) => this.#approve(r),
      log: (line: string) => this.#ui.info(`bpfpm agent: ${line}`),
      onEvent: (p: Supervisor, r: Release, record: ProbeRecord) =>
        this.#event(p, r, record),
    };
    this.probes = config.probes.map((p) => new Supervisor(p, host));
    this.#resource = {
      "service.name": "bpfpm-agent",
      "host.name": config.instance,
      "kernel.release": kernelRelease(),
      "os.type": "linux",
    };
    this.prometheus = new PrometheusText(this.#resource, NODE_LABELS);
  }

  #approve(r: Release): void {
    confirmGrants(r.plan, { yes: this.#yes, ui: this.#ui });
    if (!this.#yes && !this.#ui.interactive) {
      throw new ClientError(
        "EGRANTS",
        `${r.plan.spec}'s permissions were not accepted: run bpfpm agent with --yes to approve the declared grants`,
      );
    }
  }

  #event(p: Supervisor, r: Release, record: ProbeRecord): void {
    this.#otlp?.emit(p.probe.name, r.version, record);
  }

  /**
   * Each object's last dump of each map read for metrics: the next read decodes only the
   * entries that changed since (most of 10,000 per-process counts do not).
   */
  #lastDumps = new WeakMap<object, Map<string, [unknown, unknown][]>>();

  /**
   * Every declared metric of every running probe, its map read now (a map several metrics
   * read is dumped once); a map that cannot be read (its probe is stopping) is left out.
   */
  #sources(): { sources: TimedSource[]; errors: unknown[] } {
    const sources: TimedSource[] = [];
    const errors: unknown[] = [];
    for (const p of this.probes) {
      const r = p.release;
      if (!r) continue;
      const dumps = new Map<string, [unknown, unknown][]>();
      for (const d of r.manifest.metrics ?? []) {
        const b = p.objects.find((o) => o.maps.has(d.map));
        if (!b) continue;
        let entries = dumps.get(d.map);
        try {
          if (!entries) {
            let last = this.#lastDumps.get(b);
            if (!last) this.#lastDumps.set(b, last = new Map());
            entries = b.map(d.map).dump({ since: last.get(d.map) ?? null });
            last.set(d.map, entries);
          }
        } catch (e) {
          errors.push(e);
          continue;
        }
        dumps.set(d.map, entries);
        sources.push({
          probe: p.probe.name,
          version: r.version,
          declaration: d,
          entries,
          started: p.started,
        });
      }
    }
    return { sources, errors };
  }

  /**
   * Every declared metric's map read for an OTLP push. Where `/metrics` is served, its kept
   * text is brought up to date from the same read: the next scrape remakes only what changed
   * since (the first one after many new series finds their text made), for a pass over the
   * entries at each push.
   *
   * @returns the sources, and the errors of maps that could not be read
   */
  collect(): { sources: TimedSource[]; errors: unknown[] } {
    const read = this.#sources();
    if (this.config.prometheus?.listen) this.prometheus.render(read.sources);
    return read;
  }

  /**
   * The Prometheus text of every declared metric now, as UTF-8 chunks (the parts that did
   * not change since the last scrape are kept, not made again).
   */
  metrics(): Uint8Array[] {
    return this.prometheus.render(this.#sources().sources);
  }

  /** Every probe's status. */
  status(): Record<string, unknown> {
    return {
      instance: this.config.instance,
      kernel: kernelRelease(),
      uptimeSeconds: Math.round((Date.now() - this.#started) / 1000),
      probes: this.probes.map((p) => p.status()),
    };
  }

  /**
   * The HTTP API: `/metrics` (Prometheus text), `/healthz`, `/status` (JSON).
   *
   * @param req the request
   * @returns the response
   */
  handler(req: Request): Response {
    const path = new URL(req.url).pathname;
    if (req.method !== "GET" && req.method !== "HEAD") {
      return new Response("Method not allowed\n", { status: 405 });
    }
    if (path === "/metrics") {
      const headers = {
        "content-type": "text/plain; version=0.0.4; charset=utf-8",
      };
      if (req.method === "HEAD") return new Response(null, { headers });
      const chunks = this.metrics();
      let next = 0;
      const body = new ReadableStream<Uint8Array>({
        pull(c) {
          if (next < chunks.length) c.enqueue(chunks[next++]);
          else c.close();
        },
      });
      return new Response(body, { headers });
    }
    if (path === "/healthz") {
      const down = this.probes.filter((p) => p.state !== "running");
      return down.length
        ? new Response(
          `not ready: ${
            down.map((p) => `${p.probe.name} ${p.state}`).join(", ")
          }\n`,
          { status: 503 },
        )
        : new Response("ok\n");
    }
    if (path === "/status") {
      return Response.json(this.status());
    }
    return new Response("Not found: try /metrics, /healthz or /status\n", {
      status: 404,
    });
  }

  /** Installs and starts every probe, the HTTP listener and the registry poll. */
  async start(): Promise<void> {
    // A long run: a C heap that gives back what each probe's load freed.
    tuneHeapForLongRun();
    if (this.config.otlp) {
      const { startOtlp } = await import("./otlp.ts");
      this.#otlp = startOtlp(
        this.config.otlp,
        this.#resource,
        () => this.collect(),
      );
    }
    const listen = this.config.prometheus?.listen;
    if (listen) {
      const i = listen.lastIndexOf(":");
      this.#server = Deno.serve({
        hostname: listen.slice(0, i) || "0.0.0.0",
        port: Number(listen.slice(i + 1)),
        onListen: () => {},
      }, (req) => this.handler(req));
    }
    await Promise.all(this.probes.map((p) => p.poll()));
    const refused = this.probes.find((p) =>
      !p.release && /not accepted/.test(p.lastError ?? "")
    );
    if (refused) throw new ClientError("EGRANTS", refused.lastError!);
    this.#timer = setInterval(() => {
      for (const p of this.probes) p.poll();
    }, this.config.pollMs);
  }

  /** Stops the probes (nothing they loaded remains), flushes the exports, closes the listener. */
  async close(): Promise<void> {
    clearInterval(this.#timer);
    await Promise.all(this.probes.map((p) => p.close()));
    await this.#otlp?.shutdown();
    await this.#server?.shutdown();
  }
}

/**
 * The `bpfpm agent` command: `--config FILE` (required) and `--yes`. Runs until SIGTERM or
 * Ctrl-C, then stops every probe (nothing they loaded remains) and returns 0.
 *
 * @param options the config file, `yes`, where messages go
 * @returns the exit code
 *
 * @example
 * ```ts
 * import { agentCommand } from "./agent.ts";
 * Deno.exitCode = await agentCommand({ config: "/etc/bpfpm/agent.json", yes: true });
 * ```
 */
export async function agentCommand(
  options: { config?: string; yes?: boolean; ui?: Ui },
): Promise<number> {
  const file = options.config;
  if (!file) {
    // A usage error (exit 2), as every missing argument of the CLI.
    throw new TypeError(
      "agent needs --config FILE: bpfpm agent --config /etc/bpfpm/agent.json --yes (docs/fleet.md shows one)",
    );
  }
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (e) {
    throw new ClientError(
      "ECONFIG",
      `Cannot read the agent config ${file} (${
        (e as Error).message
      }): check the path`,
    );
  }
  const agent = new Agent(parseAgentConfig(text, file), options);
  const stop = interrupted();
  try {
    await agent.start();
  } catch (e) {
    await agent.close();
    throw e;
  }
  await stop;
  await agent.close();
  return 0;
}
