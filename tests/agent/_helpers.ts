/**
 * Helpers of the agent tests: a registry seeded with probes (and a way to publish changed
 * copies of them), an OTLP/HTTP receiver that decodes what it gets with OpenTelemetry's own
 * protobuf definitions, Debian's Prometheus on a loopback port, and free ports.
 *
 * @module
 */
import { cpSync, symlinkSync } from "node:fs";
import { join } from "node:path";
import root from "@opentelemetry/otlp-proto-root";
import { loadConfig } from "../../registry/client/config.ts";
import { publish } from "../../registry/client/publish.ts";
import { Ui } from "../../registry/client/ui.ts";
import { startRegistry } from "../../registry/server/cli.ts";
import { seed } from "../../scripts/seed.ts";
import { REPO, sleep } from "../probes/_helpers.ts";

/** A registry in this process, seeded with probe packages, and a client environment for it. */
export interface SeededRegistry {
  /** A temp directory for the caller's files (removed by `close`). */
  tmp: string;
  /** The registry's URL (no trailing slash). */
  url: string;
  /** An environment whose bpfpm config and cache live in `tmp`. */
  env: Record<string, string>;
  /** Stops the registry and removes `tmp`. */
  close: () => Promise<void>;
}

/**
 * Starts a registry (SQLite in a temp directory) and publishes `probes` to it with
 * scripts/seed.ts.
 */
export async function seededRegistry(
  prefix: string,
  probes: string[],
): Promise<SeededRegistry> {
  const tmp = await Deno.makeTempDir({ prefix });
  const registry = await startRegistry({
    db: join(tmp, "registry.sqlite"),
    quiet: true,
  });
  const close = async () => {
    await registry.close();
    await Deno.remove(tmp, { recursive: true });
  };
  const env = {
    ...Deno.env.toObject(),
    BPFPM_REGISTRY: `${registry.url}/`,
    BPFPM_CONFIG_DIR: join(tmp, "config"),
    BPFPM_CACHE_DIR: join(tmp, "cache"),
  };
  try {
    await seed({
      registry: `${registry.url}/`,
      env,
      only: probes,
      quiet: true,
    });
  } catch (e) {
    await close();
    throw e;
  }
  return { tmp, url: registry.url, env, close };
}

/** A loopback port nobody listens on now. */
export function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

/**
 * Publishes a copy of `probes/<name>` with another version and `edit` applied to its
 * package.json (and, through `dir`, to its files); its `_shared` imports resolve through a
 * symlink to the repository's.
 */
export async function publishVariant(
  tmp: string,
  env: Record<string, string>,
  registry: string,
  name: string,
  version: string,
  edit: (pj: Record<string, unknown>, dir: string) => void = () => {},
): Promise<void> {
  const base = join(tmp, `variant-${name}-${version}`);
  const dir = join(base, name);
  cpSync(join(REPO, "probes", name), dir, { recursive: true });
  symlinkSync(join(REPO, "probes", "_shared"), join(base, "_shared"));
  const pj = JSON.parse(Deno.readTextFileSync(join(dir, "package.json")));
  pj.version = version;
  edit(pj, dir);
  Deno.writeTextFileSync(join(dir, "package.json"), JSON.stringify(pj));
  await publish(loadConfig({ registry, env, cwd: dir }), dir, {
    tag: "next",
    ui: new Ui({ quiet: true, tty: false }),
  });
}

// deno-lint-ignore no-explicit-any
const proto = (root as any).opentelemetry.proto;

/** What an OTLP receiver got, decoded to plain objects. */
export interface Received {
  /** ExportMetricsServiceRequest messages (plus `receivedAt`, ms since the epoch). */
  metrics: Record<string, unknown>[];
  /** ExportLogsServiceRequest messages. */
  logs: Record<string, unknown>[];
}

/** An OTLP/HTTP (protobuf) receiver on a loopback port. */
export function startOtlpReceiver(): {
  url: string;
  received: Received;
  close: () => Promise<void>;
} {
  const received: Received = { metrics: [], logs: [] };
  const port = freePort();
  const server = Deno.serve(
    { hostname: "127.0.0.1", port, onListen: () => {} },
    async (req) => {
      let body = req.body ?? new ReadableStream();
      if (req.headers.get("content-encoding") === "gzip") {
        body = body.pipeThrough(new DecompressionStream("gzip"));
      }
      const bytes = new Uint8Array(await new Response(body).arrayBuffer());
      const path = new URL(req.url).pathname;
      const type = path === "/v1/metrics"
        ? proto.collector.metrics.v1.ExportMetricsServiceRequest
        : path === "/v1/logs"
        ? proto.collector.logs.v1.ExportLogsServiceRequest
        : undefined;
      if (!type) return new Response("not found", { status: 404 });
      const msg = type.toObject(type.decode(bytes), {
        longs: Number,
        enums: String,
        defaults: true,
      });
      msg.receivedAt = Date.now();
      (path === "/v1/metrics" ? received.metrics : received.logs).push(msg);
      return new Response(new Uint8Array(0), {
        headers: { "content-type": "application/x-protobuf" },
      });
    },
  );
  return {
    url: `http://127.0.0.1:${port}`,
    received,
    close: () => server.shutdown(),
  };
}

/** Debian's prometheus, started on a loopback port with a temp config and TSDB. */
export async function startPrometheus(
  dir: string,
  targets: string[],
): Promise<
  {
    url: string;
    query: (q: string) => Promise<PromResult[]>;
    close: () => Promise<void>;
  }
> {
  const port = freePort();
  const config = join(dir, "prometheus.yml");
  Deno.writeTextFileSync(
    config,
    [
      "global:",
      "  scrape_interval: 1s",
      "  evaluation_interval: 1s",
      "scrape_configs:",
      "  - job_name: bpfpm",
      "    static_configs:",
      `      - targets: [${targets.map((t) => `"${t}"`).join(", ")}]`,
      "",
    ].join("\n"),
  );
  const child = new Deno.Command("prometheus", {
    args: [
      `--config.file=${config}`,
      `--storage.tsdb.path=${join(dir, "tsdb")}`,
      `--web.listen-address=127.0.0.1:${port}`,
      "--log.level=warn",
    ],
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const stderr = new Response(child.stderr).text();
  const url = `http://127.0.0.1:${port}`;
  const close = async () => {
    try {
      child.kill("SIGTERM");
    } catch { /* gone */ }
    await child.status;
    await stderr;
  };
  for (let i = 0;; i++) {
    try {
      if ((await fetch(`${url}/-/ready`)).ok) break;
    } catch { /* not yet */ }
    if (i > 100) {
      await close();
      throw new Error(`prometheus did not start: ${await stderr}`);
    }
    await sleep(200);
  }
  return {
    url,
    close,
    query: async (q) => {
      const r = await fetch(
        `${url}/api/v1/query?query=${encodeURIComponent(q)}`,
      );
      const j = await r.json();
      if (j.status !== "success") throw new Error(`${q}: ${JSON.stringify(j)}`);
      return j.data.result;
    },
  };
}

/** One series of a PromQL instant vector. */
export interface PromResult {
  /** Its labels. */
  metric: Record<string, string>;
  /** `[time, value]`. */
  value: [number, string];
}

/** Waits until `f` returns a value (not undefined), or throws after `ms` with `what`. */
export async function until<T>(
  what: () => string,
  f: () => Promise<T | undefined> | T | undefined,
  ms = 90_000,
): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    try {
      const v = await f();
      if (v !== undefined) return v;
    } catch (e) {
      if (Date.now() > end) throw e;
    }
    if (Date.now() > end) throw new Error(`Timed out waiting: ${what()}`);
    await sleep(500);
  }
}

/** `promtool check metrics` on `text`: its complaints, or "" when it accepts it. */
export async function promtoolProblems(text: string): Promise<string> {
  const check = new Deno.Command("promtool", {
    args: ["check", "metrics"],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const w = check.stdin.getWriter();
  await w.write(new TextEncoder().encode(text));
  await w.close();
  const out = await check.output();
  const dec = new TextDecoder();
  return out.success
    ? ""
    : `promtool: ${dec.decode(out.stderr)}${dec.decode(out.stdout)}`;
}
