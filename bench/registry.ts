/**
 * `deno task bench registry [--duration S] [--connections N]`: abbreviated-packument and
 * tarball GETs against our registry and against Verdaccio 5 in the same run, on the same
 * machine, with the same package published to both, measured with autocannon (50
 * connections, 10 s each by default, in 2 s slices taken in turns so that load from
 * elsewhere falls on both alike; a p99 shown is the worst slice's). Both tools are
 * installed by the bench itself into `.cache/bench-registry/` (npm `verdaccio@5.33`,
 * `autocannon@8`; Node here is v20, and Verdaccio 6 needs 22). Then a mixed load on ours
 * alone: `--mixed-connections` (50) clients for `--mixed-duration` (30) s, one request in
 * ten a publish of a new version, the rest abbreviated-packument GETs (gzip accepted, as
 * npm asks) of a package whose packument is 1 MiB; the default publish limits are on.
 * Ends with `result registry-mixed p99_ms=… read_p99_ms=… publish_p99_ms=…` and
 * `result registry ours_rps=… verdaccio_rps=… ratio=… p99_ms=…` (abbreviated packuments),
 * each with `load=` (the 1-minute load average: the machine is shared).
 *
 * @module
 */
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { createTarball } from "../registry/pack/mod.ts";
import { publishDocument } from "../registry/common/publish_document.ts";

const ROOT = fileURLToPath(new URL("../", import.meta.url));
const TOOLS = `${ROOT}.cache/bench-registry`;
const PKG = "bench-probe";
const VERSIONS = Array.from({ length: 10 }, (_, i) => `1.${i}.0`);

async function run(cmd: string, args: string[], cwd = ROOT): Promise<string> {
  const out = await new Deno.Command(cmd, {
    args,
    cwd,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(out.stdout);
  if (!out.success) {
    throw new Error(
      `${cmd} ${args.join(" ")}: ${new TextDecoder().decode(out.stderr)}`,
    );
  }
  return text;
}

async function installTools() {
  if (
    existsSync(`${TOOLS}/node_modules/.bin/verdaccio`) &&
    existsSync(`${TOOLS}/node_modules/.bin/autocannon`)
  ) return;
  console.log(
    "bench registry: installing verdaccio@5.33 and autocannon@8 into .cache/bench-registry",
  );
  await Deno.mkdir(TOOLS, { recursive: true });
  // Verdaccio asks for node-fetch@cjs, a dist-tag the registry does not serve: pin it.
  await Deno.writeTextFile(
    `${TOOLS}/package.json`,
    JSON.stringify({
      name: "bench-registry-tools",
      private: true,
      overrides: { "node-fetch": "2.7.0" },
    }),
  );
  await run("npm", [
    "install",
    "--no-audit",
    "--no-fund",
    "--loglevel=error",
    "verdaccio@5.33",
    "autocannon@8",
  ], TOOLS);
}

function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

async function waitFor(url: string, child: Deno.ChildProcess, what: string) {
  for (let i = 0; i < 300; i++) {
    try {
      const r = await fetch(url);
      await r.body?.cancel();
      if (r.ok) return;
    } catch { /* not up yet */ }
    await new Promise((r) => setTimeout(r, 100));
  }
  child.kill("SIGKILL");
  throw new Error(`${what} did not start`);
}

async function publishAll(base: string, tarballs: Map<string, Uint8Array>) {
  const token = await signupToken(base, "bench");
  for (const v of VERSIONS) {
    await publishTo(base, token, packageJson(v), tarballs.get(v)!);
  }
}

/** Publishes one version (npm's publish document); throws unless it is accepted. */
async function publishTo(
  base: string,
  token: string,
  manifest: Record<string, unknown>,
  tarball: Uint8Array,
): Promise<void> {
  const res = await fetch(`${base}/${manifest.name}`, {
    method: "PUT",
    headers: {
      "content-type": "application/json",
      authorization: `Bearer ${token}`,
    },
    body: JSON.stringify(
      publishDocument({ manifest, tarball, registry: `${base}/` }),
    ),
  });
  if (!res.ok) {
    throw new Error(
      `publish ${manifest.name}@${manifest.version} to ${base}: ${res.status} ${await res
        .text()}`,
    );
  }
  await res.body?.cancel();
}

function packageJson(version: string) {
  return {
    name: PKG,
    version,
    description: "A small probe package for the registry benchmark",
    keywords: ["bpf", "bench"],
    license: "MIT",
    dependencies: { semver: "^7.0.0" },
    bpf: {
      entry: "mod.ts",
      grants: {
        attach: [{ kind: "tracepoint", target: "syscalls:sys_enter_*" }],
      },
    },
  };
}

interface Load {
  rps: number;
  p99: number;
  p50: number;
  non2xx: number;
  errors: number;
}

async function autocannon(
  url: string,
  seconds: number,
  connections: number,
  headers: string[] = [],
): Promise<Load> {
  const args = [
    `${TOOLS}/node_modules/autocannon/autocannon.js`,
    "-j",
    "-c",
    String(connections),
    "-d",
    String(seconds),
  ];
  for (const h of headers) args.push("-H", h);
  const r = JSON.parse(await run("node", [...args, url]));
  return {
    rps: r.requests.average,
    p99: r.latency.p99,
    p50: r.latency.p50,
    non2xx: r.non2xx,
    errors: r.errors,
  };
}

const BIG = "bench-big";

/** A manifest of about 8 KiB (many dependencies), so 128 versions make a 1 MiB packument. */
function bigManifest(version: string, deps = 180): Record<string, unknown> {
  const dependencies: Record<string, string> = {};
  for (let i = 0; i < deps; i++) {
    dependencies[`bench-dependency-with-a-long-name-${i}`] = "^1.0.0";
  }
  return { ...packageJson(version), name: BIG, dependencies };
}

async function signupToken(base: string, name: string): Promise<string> {
  const r = await fetch(`${base}/-/user/org.couchdb.user:${name}`, {
    method: "PUT",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({
      _id: `org.couchdb.user:${name}`,
      name,
      password: `${name}-password-1`,
      type: "user",
      roles: [],
    }),
  });
  const { token } = await r.json();
  if (!token) throw new Error(`signup ${name} at ${base}: ${r.status}`);
  return token;
}

/** Serialized publish documents of `bench-big` for `versions`, with small manifests. */
async function publishBodies(base: string, versions: string[]) {
  const out: string[] = [];
  for (const v of versions) {
    const pj = bigManifest(v, 0);
    const tarball = await createTarball({
      "package.json": JSON.stringify(pj),
      "mod.ts": `export const version = "${v}";\n`,
    });
    out.push(JSON.stringify(
      publishDocument({ manifest: pj, tarball, registry: `${base}/` }),
    ));
  }
  return out;
}

/** The 1-minute load average (the machine is shared: figures follow it). */
function loadAverage(): string {
  try {
    return Deno.readTextFileSync("/proc/loadavg").split(" ")[0];
  } catch {
    return "?";
  }
}

function percentile(sorted: number[], p: number): number {
  if (!sorted.length) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))];
}

interface MixedResult {
  reads: number[];
  publishes: number[];
  /** Answers other than 2xx, by status. */
  non2xx: Record<string, number>;
  seconds: number;
  packumentBytes: number;
  /** CPU time of the server and of the load driver during the load, in ms. */
  serverCpuMs: number;
  driverCpuMs: number;
}

/** A process's CPU time (user + system, all threads) in ms, from /proc (100 ticks/s). */
function cpuMsOf(pid: number): number {
  const fields = Deno.readTextFileSync(`/proc/${pid}/stat`).split(") ")[1]
    .split(" ");
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

/**
 * `connections` clients (autocannon), each sending its next request as soon as the last
 * answered: every tenth a publish of a new version, the others abbreviated-packument
 * GETs of `bench-big`, whose packument is 1 MiB. Latencies in ms.
 */
async function mixedLoad(
  base: string,
  seconds: number,
  connections: number,
  serverPid: number,
): Promise<MixedResult> {
  // 1 MiB of packument: 128 versions of an 8 KiB manifest.
  const owner = await signupToken(base, "bench-mixed");
  const seed = Array.from({ length: 128 }, (_, i) => `1.${i}.0`);
  for (const v of seed) {
    const pj = bigManifest(v);
    const tarball = await createTarball({
      "package.json": JSON.stringify(pj),
      "mod.ts": `export const version = "${v}";\n`,
    });
    await publishTo(base, owner, pj, tarball);
  }
  // Five maintainers publish, so the per-user publish limit is not what is measured.
  const names = ["bench-mixed", ...[1, 2, 3, 4].map((i) => `bench-mixed-${i}`)];
  const tokens = [owner];
  for (const n of names.slice(1)) tokens.push(await signupToken(base, n));
  const owners = await fetch(`${base}/${BIG}`, {
    method: "PUT",
    headers: {
      "content-type": "application/json",
      authorization: `Bearer ${owner}`,
    },
    body: JSON.stringify({ maintainers: names.map((name) => ({ name })) }),
  });
  if (!owners.ok) throw new Error(`maintainers: ${await owners.text()}`);
  const accept = { accept: "application/vnd.npm.install-v1+json" };
  const packumentBytes =
    (await (await fetch(`${base}/${BIG}`, { headers: accept })).arrayBuffer())
      .byteLength;
  // One new version per publish: enough for 400 publishes a second (a repeated one
  // would be refused, 403, and counted as non-2xx).
  const bodies = await publishBodies(
    base,
    Array.from({ length: Math.max(3000, seconds * 400) }, (_, i) => `2.0.${i}`),
  );
  // autocannon (Node, a process of its own) cycles each connection through nine reads
  // and one publish; its response events say which was which.
  const work = await Deno.makeTempDir({ prefix: "bpfpm-bench-mixed-" });
  try {
    await Deno.writeTextFile(`${work}/bodies.jsonl`, bodies.join("\n"));
    await Deno.writeTextFile(`${work}/load.cjs`, MIXED_DRIVER);
    const cpuBefore = cpuMsOf(serverPid);
    const out = JSON.parse(
      await run("node", [
        `${work}/load.cjs`,
        `${TOOLS}/node_modules/autocannon`,
        `${base}/${BIG}`,
        tokens.join(","),
        `${work}/bodies.jsonl`,
        String(seconds),
        String(connections),
      ]),
    );
    return {
      ...out,
      packumentBytes,
      serverCpuMs: cpuMsOf(serverPid) - cpuBefore,
      driverCpuMs: (out.driverCpu.user + out.driverCpu.system) / 1000,
    };
  } finally {
    await Deno.remove(work, { recursive: true });
  }
}

/** The Node side of {@linkcode mixedLoad}: prints `{ reads, publishes, non2xx, seconds, driverCpu }`. */
const MIXED_DRIVER = `
const [autocannonPath, url, tokenList, bodiesPath, seconds, connections] = process.argv.slice(2);
const tokens = tokenList.split(",");
const autocannon = require(autocannonPath);
// autocannon keeps every response body as a string: decoding an 80 KiB gzipped
// packument as UTF-8 cost the driver ~1.5 ms of CPU per read, three times what the
// server spent, so on a 2-core machine the latencies measured the driver. Nothing here
// reads the bodies (the response event has status, bytes and time).
require(autocannonPath + "/lib/pipelinedRequestsQueue.js").prototype.addBody = () => {};
const bodies = require("fs").readFileSync(bodiesPath, "utf8").split("\\n");
let next = 0;
// As npm asks: the abbreviated document, gzipped.
const read = {
  method: "GET",
  headers: {
    accept: "application/vnd.npm.install-v1+json",
    "accept-encoding": "gzip",
  },
};
const publish = {
  method: "PUT",
  setupRequest: (req) => {
    const n = next++;
    return {
      ...req,
      headers: {
        "content-type": "application/json",
        authorization: "Bearer " + tokens[n % tokens.length],
      },
      body: bodies[n % bodies.length],
    };
  },
};
const reads = [], publishes = [];
const counters = new Map();
const non2xx = {};
const started = Date.now();
const instance = autocannon({
  url,
  connections: Number(connections),
  duration: Number(seconds),
  requests: [read, read, read, read, read, read, read, read, read, publish],
}, (err) => {
  if (err) { console.error(err); process.exit(1); }
  console.log(JSON.stringify({
    reads, publishes, non2xx, seconds: (Date.now() - started) / 1000,
    driverCpu: process.cpuUsage(),
  }));
});
instance.on("response", (client, status, bytes, ms) => {
  const n = (counters.get(client) ?? 0) + 1;
  counters.set(client, n);
  (n % 10 === 0 ? publishes : reads).push(ms);
  if (status >= 300) non2xx[status] = (non2xx[status] ?? 0) + 1;
});
`;

/** Runs the benchmark. */
export async function main(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      duration: { type: "string", default: "10" },
      connections: { type: "string", default: "50" },
      "mixed-duration": { type: "string", default: "30" },
      "mixed-connections": { type: "string", default: "50" },
    },
  });
  const seconds = Number(values.duration);
  const connections = Number(values.connections);
  await installTools();
  const tmp = await Deno.makeTempDir({ prefix: "bpfpm-bench-registry-" });
  const children: Deno.ChildProcess[] = [];
  try {
    const oursPort = freePort();
    const ours = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        `${ROOT}registry/server/cli.ts`,
        "serve",
        "--port",
        String(oursPort),
        "--db",
        `${tmp}/ours.db`,
      ],
      cwd: ROOT,
      stdout: "null",
      stderr: "inherit",
    }).spawn();
    children.push(ours);
    const vPort = freePort();
    await Deno.mkdir(`${tmp}/verdaccio`);
    await Deno.writeTextFile(
      `${tmp}/verdaccio/config.yaml`,
      [
        `storage: ${tmp}/verdaccio/storage`,
        "auth:",
        "  htpasswd:",
        `    file: ${tmp}/verdaccio/htpasswd`,
        "    max_users: 100",
        "uplinks: {}",
        "packages:",
        "  '**':",
        "    access: $all",
        "    publish: $authenticated",
        "logs: { type: stdout, format: pretty, level: warn }",
        "publish:",
        "  allow_offline: true",
      ].join("\n") + "\n",
    );
    const verdaccio = new Deno.Command(`${TOOLS}/node_modules/.bin/verdaccio`, {
      args: [
        "--config",
        `${tmp}/verdaccio/config.yaml`,
        "--listen",
        `127.0.0.1:${vPort}`,
      ],
      cwd: `${tmp}/verdaccio`,
      stdout: "null",
      stderr: "null", // it warns about running as root on every start
      env: { VERDACCIO_HANDLE_KILL_SIGNALS: "true" },
    }).spawn();
    children.push(verdaccio);
    const oursUrl = `http://127.0.0.1:${oursPort}`;
    const vUrl = `http://127.0.0.1:${vPort}`;
    await waitFor(`${oursUrl}/-/ping`, ours, "our registry");
    await waitFor(`${vUrl}/-/ping`, verdaccio, "verdaccio");

    const tarballs = new Map<string, Uint8Array>();
    for (const v of VERSIONS) {
      tarballs.set(
        v,
        await createTarball({
          "package.json": JSON.stringify(packageJson(v), null, 2),
          "mod.ts": `export const version = "${v}";\n`.repeat(40),
          "README.md": "# bench-probe\n\nA probe for the benchmark.\n",
        }),
      );
    }
    await publishAll(oursUrl, tarballs);
    await publishAll(vUrl, tarballs);
    for (const base of [oursUrl, vUrl]) {
      const r = await fetch(`${base}/${PKG}`, {
        headers: { accept: "application/vnd.npm.install-v1+json" },
      });
      const doc = await r.json();
      if (Object.keys(doc.versions ?? {}).length !== VERSIONS.length) {
        throw new Error(
          `${base} does not serve the published package: ${r.status} ${
            JSON.stringify(doc).slice(0, 200)
          }`,
        );
      }
    }

    const accept = "accept=application/vnd.npm.install-v1+json";
    const tarball = `/${PKG}/-/${PKG}-1.9.0.tgz`;
    // Warm both (JIT, caches) before measuring.
    await autocannon(`${oursUrl}/${PKG}`, 2, connections, [accept]);
    await autocannon(`${vUrl}/${PKG}`, 2, connections, [accept]);
    // Ours and Verdaccio take turns in short slices, so that load from elsewhere on the
    // machine falls on both alike rather than on whichever ran second.
    const loadRatio = loadAverage();
    const slices = Math.max(1, Math.round(seconds / 2));
    const slice = seconds / slices;
    const runs: Record<string, Load[]> = {
      oursPackument: [],
      verdaccioPackument: [],
      oursTarball: [],
      verdaccioTarball: [],
    };
    for (let i = 0; i < slices; i++) {
      runs.oursPackument.push(
        await autocannon(`${oursUrl}/${PKG}`, slice, connections, [accept]),
      );
      runs.verdaccioPackument.push(
        await autocannon(`${vUrl}/${PKG}`, slice, connections, [accept]),
      );
      runs.oursTarball.push(
        await autocannon(`${oursUrl}${tarball}`, slice, connections),
      );
      runs.verdaccioTarball.push(
        await autocannon(`${vUrl}${tarball}`, slice, connections),
      );
    }
    const combine = (list: Load[]): Load => ({
      rps: list.reduce((n, l) => n + l.rps, 0) / list.length,
      p99: Math.max(...list.map((l) => l.p99)),
      p50: list.map((l) => l.p50).sort((x, y) => x - y)[list.length >> 1],
      non2xx: list.reduce((n, l) => n + l.non2xx, 0),
      errors: list.reduce((n, l) => n + l.errors, 0),
    });
    const results = {
      oursPackument: combine(runs.oursPackument),
      verdaccioPackument: combine(runs.verdaccioPackument),
      oursTarball: combine(runs.oursTarball),
      verdaccioTarball: combine(runs.verdaccioTarball),
    };
    console.log(
      `registry bench: ${connections} connections, ${seconds} s each in ${slices} alternating slices, autocannon, same machine`,
    );
    console.log(
      "what                      req/s     p50 ms  p99 ms  non-2xx  errors",
    );
    for (const [k, r] of Object.entries(results)) {
      console.log(
        `${k.padEnd(24)} ${r.rps.toFixed(0).padStart(7)} ${
          String(r.p50).padStart(9)
        } ${String(r.p99).padStart(7)} ${String(r.non2xx).padStart(8)} ${
          String(r.errors).padStart(7)
        }`,
      );
    }
    const loadBefore = loadAverage();
    const mixed = await mixedLoad(
      oursUrl,
      Number(values["mixed-duration"]),
      Number(values["mixed-connections"]),
      ours.pid,
    );
    const loadAfter = loadAverage();
    const all = [...mixed.reads, ...mixed.publishes].sort((a, b) => a - b);
    const reads = mixed.reads.sort((a, b) => a - b);
    const pubs = mixed.publishes.sort((a, b) => a - b);
    const ms = (x: number) => x.toFixed(1);
    console.log(
      `mixed load on ours: ${values["mixed-connections"]} connections, ${
        ms(mixed.seconds)
      } s, ${all.length} requests (${pubs.length} publishes), a ${
        (mixed.packumentBytes / 1024).toFixed(0)
      } KiB abbreviated packument, non-2xx by status ${
        JSON.stringify(mixed.non2xx)
      }; load average ${loadBefore} before, ${loadAfter} after`,
    );
    console.log(
      `  all      p50 ${ms(percentile(all, 0.5))} ms  p99 ${
        ms(percentile(all, 0.99))
      } ms  (${(all.length / mixed.seconds).toFixed(0)} req/s)`,
    );
    console.log(
      `  reads    p50 ${ms(percentile(reads, 0.5))} ms  p99 ${
        ms(percentile(reads, 0.99))
      } ms`,
    );
    console.log(
      `  publish  p50 ${ms(percentile(pubs, 0.5))} ms  p99 ${
        ms(percentile(pubs, 0.99))
      } ms  (${(pubs.length / mixed.seconds).toFixed(1)} /s)`,
    );
    // The driver shares the machine: its CPU per request says how much of the latency
    // it could be.
    const perRequest = (cpu: number) => (cpu * 1000 / all.length).toFixed(0);
    console.log(
      `  cpu      server ${
        perRequest(mixed.serverCpuMs)
      } µs per request, driver ${perRequest(mixed.driverCpuMs)} µs per request`,
    );
    const p = results.oursPackument, vp = results.verdaccioPackument;
    const t = results.oursTarball, vt = results.verdaccioTarball;
    console.log(
      `result registry-tarball ours_rps=${t.rps.toFixed(0)} verdaccio_rps=${
        vt.rps.toFixed(0)
      } ratio=${(t.rps / vt.rps).toFixed(1)} p99_ms=${t.p99} load=${loadRatio}`,
    );
    console.log(
      `result registry ours_rps=${p.rps.toFixed(0)} verdaccio_rps=${
        vp.rps.toFixed(0)
      } ratio=${(p.rps / vp.rps).toFixed(1)} p99_ms=${p.p99} load=${loadRatio}`,
    );
    console.log(
      `result registry-mixed p99_ms=${ms(percentile(all, 0.99))} read_p99_ms=${
        ms(percentile(reads, 0.99))
      } publish_p99_ms=${ms(percentile(pubs, 0.99))} rps=${
        (all.length / mixed.seconds).toFixed(0)
      } publishes=${pubs.length} non2xx=${
        Object.values(mixed.non2xx).reduce((a, b) => a + b, 0)
      } load=${loadAfter}`,
    );
    return 0;
  } finally {
    for (const c of children) {
      try {
        c.kill("SIGTERM");
      } catch { /* gone */ }
      await c.status;
    }
    await Deno.remove(tmp, { recursive: true });
  }
}
