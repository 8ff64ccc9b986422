/**
 * Helpers of the BCC-compat tests: the workload child (built once per process) and loads of
 * BCC-dialect C through the public API.
 *
 * @module
 */
import assert from "node:assert/strict";
import { BPF, type LoadOptions } from "../../runtime/bpf.ts";
import type { TraceFields } from "../../runtime/trace/trace_pipe.ts";
import { BpfError, Errno } from "../../runtime/errors.ts";

/** The child's comm (its file name, truncated by the kernel to 15 characters). */
export const CHILD_COMM = "bpfpmbccchild";

const built = new Map<string, Promise<string>>();

/**
 * Builds a program of this folder (`source`, e.g. `_child.c`) into a temp dir once per
 * process, as `name` (its comm), linked with `libs`; returns its path.
 */
export function buildProgram(
  source: string,
  name: string,
  libs: string[] = [],
): Promise<string> {
  let bin = built.get(source);
  if (!bin) {
    bin = (async () => {
      const dir = await Deno.makeTempDir({ prefix: "bpfpm_bcc_" });
      const path = `${dir}/${name}`;
      const src = new URL(`./${source}`, import.meta.url).pathname;
      const out = await new Deno.Command("gcc", {
        args: [
          "-O1",
          "-g",
          "-fno-omit-frame-pointer",
          "-o",
          path,
          src,
          ...libs,
        ],
      }).output();
      assert.ok(out.success, new TextDecoder().decode(out.stderr));
      globalThis.addEventListener("unload", () => {
        try {
          Deno.removeSync(dir, { recursive: true });
        } catch { /* already gone */ }
      });
      return path;
    })();
    built.set(source, bin);
  }
  return bin;
}

/** Builds the workload (tests/bcc_compat/_child.c) once; returns its path. */
export function childPath(): Promise<string> {
  return buildProgram("_child.c", CHILD_COMM);
}

/** Runs the child with `ops` (e.g. `getpid:5`) to completion; returns its pid. */
export async function runChild(...ops: string[]): Promise<number> {
  const bin = await childPath();
  const child = new Deno.Command(bin, {
    args: ops,
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const out = await child.output();
  assert.ok(
    out.success,
    `child ${ops.join(" ")} failed: ${new TextDecoder().decode(out.stderr)}`,
  );
  return child.pid;
}

/** Loads BCC-dialect C (kprobes: as detected). */
export function load(
  text: string,
  options: Omit<LoadOptions, "text" | "file"> = {},
): Promise<BPF> {
  return BPF.load({ text, ...options });
}

/** The error `fn` throws (or rejects with), checked to be an instance of `type`. */
export async function rejects<T extends Error>(
  fn: () => unknown,
  type: new (...args: never[]) => T,
): Promise<T> {
  try {
    await fn();
  } catch (e) {
    assert.ok(e instanceof type, `expected ${type.name}, got ${e}`);
    return e as T;
  }
  assert.fail(`expected ${type.name}, nothing was thrown`);
}

/**
 * Runs the child with its pid put in `pids` (key pid, value 1) before it makes any syscall:
 * a shell stops itself, the pid is registered, and the shell continues into the child.
 * For programs that filter on a map of pids (arrays, histograms) rather than key by pid.
 */
export async function runRegistered(
  pids: { set(key: number, value: number): unknown },
  ...ops: string[]
): Promise<number> {
  return runBinaryRegistered(pids, await childPath(), ...ops);
}

/** {@linkcode runRegistered} for another program `bin` with arguments `args`. */
export async function runBinaryRegistered(
  pids: { set(key: number, value: number): unknown },
  bin: string,
  ...ops: string[]
): Promise<number> {
  const sh = new Deno.Command("sh", {
    args: ["-c", 'kill -STOP $$; exec "$0" "$@"', bin, ...ops],
    stdout: "null",
  }).spawn();
  try {
    await waitStopped(sh.pid);
    pids.set(sh.pid, 1);
  } finally {
    Deno.kill(sh.pid, "SIGCONT");
  }
  const status = await sh.status;
  assert.ok(status.success, `child ${ops.join(" ")} failed`);
  return sh.pid;
}

/**
 * `b.traceFields()` once this process holds trace_pipe. The kernel lets one process read it
 * at a time, and other processes on this machine (probes, benches, other tests) read it too:
 * a test that opened it whenever, and made its line before, would fail (EBUSY) or lose the
 * line to the other reader. This waits its turn (up to 60 s), so the caller makes its events
 * only while it is the reader.
 */
export async function holdTraceFields(
  b: BPF,
): Promise<{ next(): Promise<TraceFields | undefined> }> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const fields = b.traceFields();
    // Opening happens in the first next(), at once: an EBUSY has settled it by the next turn.
    let busy: unknown;
    const first = fields.next().then(
      (r) => r,
      (e) => {
        busy = e;
        return undefined;
      },
    );
    await new Promise((r) => setTimeout(r, 0));
    if (busy === undefined) {
      let pending: typeof first | undefined = first;
      return {
        async next() {
          const r = await (pending ?? fields.next());
          pending = undefined;
          return r && !r.done ? r.value : undefined;
        },
      };
    }
    if (
      !(busy instanceof BpfError && busy.errno === Errno.EBUSY) ||
      Date.now() > deadline
    ) throw busy;
    await new Promise((r) => setTimeout(r, 200));
  }
}

async function waitStopped(pid: number): Promise<void> {
  for (let i = 0; i < 1000; i++) {
    const stat = await Deno.readTextFile(`/proc/${pid}/stat`);
    if (stat.slice(stat.lastIndexOf(")") + 2).startsWith("T")) return;
    await new Promise((r) => setTimeout(r, 2));
  }
  assert.fail(`process ${pid} did not stop`);
}
