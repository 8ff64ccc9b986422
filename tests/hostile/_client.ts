/**
 * Helpers of the hostile client tests: a real bpfpm registry with one signed-up user, the
 * real CLI (`scripts/bpfpm.ts`) run as a child process under a deadline and a heap cap,
 * and the one-line-error assertion every expected failure must pass.
 *
 * @module
 */
import assert from "node:assert/strict";
import { startRegistry } from "../../registry/server/cli.ts";
import { CLI_ARGV } from "../client/_helpers.ts";

/** A running bpfpm registry (in this process) and a publish token for it. */
export interface RealRegistry extends AsyncDisposable {
  /** The registry URL, with a trailing slash. */
  url: string;
  /** A token of the user `hostile`. */
  token: string;
}

/** Starts the bpfpm registry on a free loopback port and signs up one user. */
export async function realRegistry(): Promise<RealRegistry> {
  const reg = await startRegistry({ port: 0, db: ":memory:", quiet: true });
  try {
    const r = await fetch(`${reg.url}/-/user/org.couchdb.user:hostile`, {
      method: "PUT",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({
        name: "hostile",
        password: "hostile-pass-1",
        type: "user",
        roles: [],
      }),
    });
    const body = await r.json();
    if (!r.ok) throw new Error(`signup failed: ${r.status}`);
    return {
      url: reg.url + "/",
      token: body.token,
      [Symbol.asyncDispose]: () => reg.close(),
    };
  } catch (e) {
    await reg.close();
    throw e;
  }
}

/** What a CLI run gave. */
export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
  /** Whether the deadline killed it. */
  killed: boolean;
  /** Wall time, for messages only (never asserted). */
  ms: number;
  /** The child's peak resident set size seen (VmHWM sampled every 20 ms), bytes. */
  peakRss: number;
}

/**
 * Runs `bpfpm ARGS` as a child process with a V8 heap cap (so a runaway resolution fails
 * fast instead of eating the machine) and kills it at the deadline.
 */
export async function runCli(
  args: string[],
  opts: {
    cwd: string;
    env: Record<string, string>;
    deadlineMs?: number;
    heapMb?: number;
  },
): Promise<CliRun> {
  const t0 = performance.now();
  const [deno, run, ...rest] = CLI_ARGV;
  const child = new Deno.Command(deno, {
    args: [
      run,
      `--v8-flags=--max-old-space-size=${opts.heapMb ?? 512}`,
      ...rest,
      ...args,
    ],
    cwd: opts.cwd,
    env: { ...opts.env, NO_COLOR: "1" },
    clearEnv: true,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let killed = false;
  const timer = setTimeout(() => {
    killed = true;
    try {
      child.kill("SIGKILL");
    } catch { /* gone */ }
  }, opts.deadlineMs ?? 60_000);
  let peak = 0;
  const sampler = setInterval(() => {
    peak = Math.max(peak, peakRss(child.pid));
  }, 20);
  try {
    const out = await child.output();
    const dec = new TextDecoder();
    return {
      code: out.code,
      stdout: dec.decode(out.stdout),
      stderr: dec.decode(out.stderr),
      killed,
      ms: performance.now() - t0,
      peakRss: peak,
    };
  } finally {
    clearTimeout(timer);
    clearInterval(sampler);
  }
}

/** The environment a CLI child needs besides the sandbox's own variables. */
export function baseEnv(): Record<string, string> {
  const env: Record<string, string> = {};
  for (const k of ["PATH", "DENO_DIR", "HOME", "XDG_CACHE_HOME"]) {
    const v = Deno.env.get(k);
    if (v !== undefined) env[k] = v;
  }
  return env;
}

/**
 * Asserts a run failed the way an expected failure must: the documented exit code, and
 * stderr exactly one line (no stack, no "error: Uncaught") matching `pattern`.
 */
export function assertOneLineError(
  run: CliRun,
  code: number,
  pattern: RegExp,
): void {
  const where = `exit ${run.code}${
    run.killed ? " (killed at the deadline)" : ""
  }, stderr:\n${run.stderr}`;
  assert.equal(run.killed, false, where);
  assert.equal(run.code, code, where);
  const lines = run.stderr.trimEnd().split("\n");
  assert.equal(lines.length, 1, `more than one line on stderr: ${where}`);
  assert.doesNotMatch(run.stderr, /^\s+at |Uncaught|\bStack\b/m, where);
  assert.match(lines[0], pattern, where);
}

/** A raw TCP "registry" whose every answer is written by the test, byte by byte. */
export interface RawServer extends AsyncDisposable {
  /** `http://127.0.0.1:PORT/`. */
  url: string;
  /** Request paths received so far, one per connection. */
  paths: string[];
}

/**
 * Starts a hostile HTTP server on a free loopback port: for each connection it reads the
 * request head and hands the path and connection to `respond`, then closes it. Everything
 * is closed on dispose, including connections `respond` left stalled.
 */
export function rawServer(
  respond: (path: string, conn: Deno.Conn, url: string) => Promise<void>,
): RawServer {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const url = `http://127.0.0.1:${(listener.addr as Deno.NetAddr).port}/`;
  const conns = new Set<Deno.Conn>();
  const paths: string[] = [];
  const tasks: Promise<void>[] = [];
  const serve = async (conn: Deno.Conn) => {
    conns.add(conn);
    try {
      const buf = new Uint8Array(16384);
      let head = "";
      while (!head.includes("\r\n\r\n")) {
        const n = await conn.read(buf);
        if (n === null) return;
        head += new TextDecoder().decode(buf.subarray(0, n));
      }
      const path = head.split(" ")[1] ?? "/";
      paths.push(path);
      await respond(path, conn, url);
    } catch {
      /* the client went away */
    } finally {
      conns.delete(conn);
      try {
        conn.close();
      } catch { /* closed on dispose */ }
    }
  };
  const accepting = (async () => {
    for await (const conn of listener) tasks.push(serve(conn));
  })().catch(() => {});
  return {
    url,
    paths,
    async [Symbol.asyncDispose]() {
      listener.close();
      for (const c of conns) {
        try {
          c.close();
        } catch { /* gone */ }
      }
      await accepting;
      await Promise.all(tasks);
    },
  };
}

/** Writes an HTTP/1.1 response head. */
export async function writeHead(
  conn: Deno.Conn,
  status: number,
  headers: Record<string, string | number>,
): Promise<void> {
  const lines = [`HTTP/1.1 ${status} X`, "connection: close"];
  for (const [k, v] of Object.entries(headers)) lines.push(`${k}: ${v}`);
  await writeAll(
    conn,
    new TextEncoder().encode(lines.join("\r\n") + "\r\n\r\n"),
  );
}

/** Writes all of `data`. */
export async function writeAll(
  conn: Deno.Conn,
  data: Uint8Array,
): Promise<void> {
  for (let off = 0; off < data.length;) {
    off += await conn.write(data.subarray(off));
  }
}

/** Never resolves until the connection is closed from the other side or on dispose. */
export async function stall(conn: Deno.Conn): Promise<void> {
  const buf = new Uint8Array(1024);
  while ((await conn.read(buf)) !== null) { /* keep waiting */ }
}

/** A packument naming one version whose tarball is at `tarball`. */
export function packumentFor(
  name: string,
  tarball: string,
  integrity = "sha512-" + "A".repeat(86) + "==",
): string {
  return JSON.stringify({
    name,
    "dist-tags": { latest: "1.0.0" },
    versions: {
      "1.0.0": { name, version: "1.0.0", dist: { tarball, integrity } },
    },
  });
}

/** The peak resident set size (VmHWM) of a process, in bytes, or 0 once it is gone. */
export function peakRss(pid: number): number {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(
      Deno.readTextFileSync(`/proc/${pid}/status`),
    );
    return m ? Number(m[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}
