/**
 * Helpers of the hostile client tests: a real bpfpm registry with one signed-up user, the
 * real CLI (`scripts/bpfpm.ts`) run as a child process under a deadline and a heap cap,
 * and the one-line-error assertion every expected failure must pass.
 *
 * @module
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { startRegistry } from "../../registry/server/cli.ts";
import { CLI, REPO } from "../client/_helpers.ts";

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
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      "--quiet",
      `--v8-flags=--max-old-space-size=${opts.heapMb ?? 512}`,
      "--config",
      join(REPO, "deno.json"),
      CLI,
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
  try {
    const out = await child.output();
    const dec = new TextDecoder();
    return {
      code: out.code,
      stdout: dec.decode(out.stdout),
      stderr: dec.decode(out.stderr),
      killed,
      ms: performance.now() - t0,
    };
  } finally {
    clearTimeout(timer);
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
