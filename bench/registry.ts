/**
 * `deno task bench registry [--duration S] [--connections N]`: abbreviated-packument and
 * tarball GETs against our registry and against Verdaccio 5 in the same run, on the same
 * machine, with the same package published to both, measured with autocannon (50
 * connections, 10 s each by default). Both tools are installed by the bench itself into
 * `.cache/bench-registry/` (npm `verdaccio@5.33`, `autocannon@8`; Node here is v20, and
 * Verdaccio 6 needs 22). Ends with
 * `result registry ours_rps=… verdaccio_rps=… ratio=… p99_ms=…` (abbreviated packuments).
 *
 * @module
 */
import { Buffer } from "node:buffer";
import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { createTarball } from "../registry/pack/mod.ts";

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
  const signup = await fetch(`${base}/-/user/org.couchdb.user:bench`, {
    method: "PUT",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({
      _id: "org.couchdb.user:bench",
      name: "bench",
      password: "bench-password-1",
      type: "user",
      roles: [],
    }),
  });
  const { token } = await signup.json();
  if (!token) throw new Error(`signup at ${base} failed: ${signup.status}`);
  for (const v of VERSIONS) {
    const tgz = tarballs.get(v)!;
    const pj = packageJson(v);
    const res = await fetch(`${base}/${PKG}`, {
      method: "PUT",
      headers: {
        "content-type": "application/json",
        authorization: `Bearer ${token}`,
      },
      body: JSON.stringify({
        _id: PKG,
        name: PKG,
        description: pj.description,
        "dist-tags": { latest: v },
        versions: {
          [v]: {
            ...pj,
            _id: `${PKG}@${v}`,
            dist: {
              integrity: `sha512-${
                createHash("sha512").update(tgz).digest("base64")
              }`,
              shasum: createHash("sha1").update(tgz).digest("hex"),
              tarball: `${base}/${PKG}/-/${PKG}-${v}.tgz`,
            },
          },
        },
        _attachments: {
          [`${PKG}-${v}.tgz`]: {
            content_type: "application/octet-stream",
            data: Buffer.from(tgz).toString("base64"),
            length: tgz.length,
          },
        },
      }),
    });
    if (!res.ok) {
      throw new Error(
        `publish ${v} to ${base}: ${res.status} ${await res.text()}`,
      );
    }
    await res.body?.cancel();
  }
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

/** Runs the benchmark. */
export async function main(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      duration: { type: "string", default: "10" },
      connections: { type: "string", default: "50" },
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
    const results = {
      oursPackument: await autocannon(
        `${oursUrl}/${PKG}`,
        seconds,
        connections,
        [accept],
      ),
      verdaccioPackument: await autocannon(
        `${vUrl}/${PKG}`,
        seconds,
        connections,
        [accept],
      ),
      oursTarball: await autocannon(
        `${oursUrl}${tarball}`,
        seconds,
        connections,
      ),
      verdaccioTarball: await autocannon(
        `${vUrl}${tarball}`,
        seconds,
        connections,
      ),
    };
    console.log(
      `registry bench: ${connections} connections, ${seconds} s each, autocannon, same machine`,
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
    const p = results.oursPackument, vp = results.verdaccioPackument;
    const t = results.oursTarball, vt = results.verdaccioTarball;
    console.log(
      `result registry-tarball ours_rps=${t.rps.toFixed(0)} verdaccio_rps=${
        vt.rps.toFixed(0)
      } ratio=${(t.rps / vt.rps).toFixed(1)} p99_ms=${t.p99}`,
    );
    console.log(
      `result registry ours_rps=${p.rps.toFixed(0)} verdaccio_rps=${
        vp.rps.toFixed(0)
      } ratio=${(p.rps / vp.rps).toFixed(1)} p99_ms=${p.p99}`,
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
