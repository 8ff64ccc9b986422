/**
 * Helpers of the probe tests: start a probe (its mod.ts under deno, or through `bpfpm run`)
 * as a child, wait until it is attached, collect its `--json` rows, stop it with SIGINT and
 * check that the programs it loaded are gone.
 *
 * @module
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { bpfpmCli, checkoutRun } from "../../bench/_sandbox.ts";

/** The repository root. */
export const REPO: string = decodeURIComponent(
  new URL("../../", import.meta.url).pathname,
).replace(/\/$/, "");

/** A probe running as a child process. */
export class RunningProbe implements AsyncDisposable {
  #child: Deno.ChildProcess;
  #stdout = "";
  #stderr = "";
  #done: Promise<Deno.CommandStatus>;
  #pumps: Promise<void>[];
  /** The ids of the BPF programs the probe process holds (read once it is attached). */
  progIds: number[] = [];

  /**
   * Wraps a spawned child with piped stdout and stderr.
   *
   * @param child the child
   */
  constructor(child: Deno.ChildProcess) {
    this.#child = child;
    this.#pumps = [
      pump(child.stdout, (s) => this.#stdout += s),
      pump(child.stderr, (s) => this.#stderr += s),
    ];
    this.#done = child.status;
  }

  /** The child's pid. */
  get pid(): number {
    return this.#child.pid;
  }

  /** What it printed so far. */
  get stdout(): string {
    return this.#stdout;
  }

  /** What it printed on stderr so far. */
  get stderr(): string {
    return this.#stderr;
  }

  /** Complete stdout lines parsed as JSON (non-JSON lines are skipped). */
  rows<T = Record<string, unknown>>(): T[] {
    const out: T[] = [];
    for (const line of this.#stdout.split("\n")) {
      if (!line.startsWith("{")) continue;
      try {
        out.push(JSON.parse(line));
      } catch { /* a line still being written */ }
    }
    return out;
  }

  /** Waits until `cond()` holds (polling), failing after `ms` with the output so far. */
  async until(cond: () => boolean, ms: number, what: string): Promise<void> {
    const end = Date.now() + ms;
    while (!cond()) {
      if (Date.now() > end) {
        assert.fail(
          `${what}: not seen within ${ms} ms\nstdout:\n${
            this.#stdout.slice(-4000)
          }\nstderr:\n${this.#stderr.slice(-4000)}`,
        );
      }
      const exited = await Promise.race([
        this.#done.then(() => true),
        new Promise<false>((r) => setTimeout(() => r(false), 25)),
      ]);
      if (exited && !cond()) {
        await Promise.all(this.#pumps);
        if (cond()) return;
        assert.fail(
          `${what}: the probe exited first\nstdout:\n${
            this.#stdout.slice(-4000)
          }\nstderr:\n${this.#stderr.slice(-4000)}`,
        );
      }
    }
  }

  /** Waits for the first row matching `pred` and returns it. */
  async row<T = Record<string, unknown>>(
    pred: (row: T) => boolean,
    ms = 15_000,
    what = "a matching row",
  ): Promise<T> {
    let found: T | undefined;
    await this.until(
      () => {
        found = this.rows<T>().find(pred);
        return found !== undefined;
      },
      ms,
      what,
    );
    return found!;
  }

  /** Waits for the probe's "Hit Ctrl-C" line, then notes the programs it holds. */
  async attached(ms = 90_000): Promise<void> {
    await this.until(
      () => this.#stderr.includes("Hit Ctrl-C"),
      ms,
      "the probe's Tracing... line",
    );
    this.progIds = progIdsOfTree(this.pid);
    assert.ok(this.progIds.length > 0, "the probe holds no BPF program");
  }

  /** Waits for the probe to exit by itself; returns its status. */
  async exited(ms = 30_000): Promise<Deno.CommandStatus> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const status = await Promise.race([
      this.#done,
      new Promise<never>((_, reject) =>
        timer = setTimeout(
          () =>
            reject(
              new Error(
                `the probe did not exit within ${ms} ms\nstderr:\n${this.#stderr}`,
              ),
            ),
          ms,
        )
      ),
    ]).finally(() => clearTimeout(timer));
    await Promise.all(this.#pumps);
    return status;
  }

  /** SIGINT, then waits for the exit; returns the status. */
  async stop(): Promise<Deno.CommandStatus> {
    try {
      this.#child.kill("SIGINT");
    } catch { /* already gone */ }
    return await this.exited();
  }

  /**
   * Asserts every program the probe held is gone from the kernel. The kernel frees a program
   * after an RCU grace period once its last fd and link are closed, so this waits a little.
   */
  async assertUnloaded(ms = 10_000): Promise<void> {
    const end = Date.now() + ms;
    let still = this.progIds.filter(progExists);
    while (still.length && Date.now() < end) {
      await sleep(100);
      still = still.filter(progExists);
    }
    assert.deepEqual(still, [], `programs still loaded: ${still.join(", ")}`);
  }

  /** Stops it (SIGKILL if SIGINT is not enough). */
  async [Symbol.asyncDispose](): Promise<void> {
    try {
      this.#child.kill("SIGINT");
    } catch {
      await this.#done.catch(() => {});
      await Promise.all(this.#pumps);
      return;
    }
    const t = setTimeout(() => {
      try {
        this.#child.kill("SIGKILL");
      } catch { /* gone */ }
    }, 10_000);
    await this.#done;
    clearTimeout(t);
    await Promise.all(this.#pumps);
  }
}

async function pump(
  stream: ReadableStream<Uint8Array>,
  add: (s: string) => void,
): Promise<void> {
  const dec = new TextDecoder();
  for await (const chunk of stream) add(dec.decode(chunk, { stream: true }));
}

/**
 * Starts probe `name` as users run it: `bpfpm run ./probes/<name> --yes -- args`, its code
 * in the sandbox (add `--json` yourself). The process holding the programs is `bpfpm`.
 *
 * @example
 * ```ts
 * await using p = startProbe("execsnoop", ["--json"]);
 * await p.attached();
 * ```
 */
export function startProbe(
  name: string,
  args: string[],
  options: { env?: Record<string, string> } = {},
): RunningProbe {
  return startBpfpm(
    ["run", `./probes/${name}`, "--yes", "--", ...args],
    { cwd: REPO, env: options.env },
  );
}

/**
 * The command line (after the deno executable) that runs a probe directly, in process, as
 * a user trusting it would: `deno run -A --quiet --config deno.json probes/NAME/mod.ts ARGS`.
 */
export function directArgv(name: string, args: string[]): string[] {
  return [...checkoutRun(`probes/${name}/mod.ts`), ...args];
}

/** Kills (SIGKILL) and reaps each child a test started; one already gone is fine. */
export async function reap(
  children: Iterable<Deno.ChildProcess>,
): Promise<void> {
  for (const c of children) {
    try {
      c.kill("SIGKILL");
    } catch { /* already gone */ }
    await c.status;
  }
}

/** Starts `bpfpm <args>` (the CLI entry under deno) as a child. */
export function startBpfpm(
  args: string[],
  options: { cwd: string; env?: Record<string, string> },
): RunningProbe {
  const child = new Deno.Command(Deno.execPath(), {
    args: [...bpfpmCli(), ...args],
    cwd: options.cwd,
    env: options.env,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  return new RunningProbe(child);
}

/** Runs `bpfpm <args>` to completion. */
export async function bpfpm(
  args: string[],
  options: { cwd: string; env?: Record<string, string> },
): Promise<{ code: number; stdout: string; stderr: string }> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: [...bpfpmCli(), ...args],
    cwd: options.cwd,
    env: options.env,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  return {
    code: out.code,
    stdout: dec.decode(out.stdout),
    stderr: dec.decode(out.stderr),
  };
}

/** The pids of `pid` and all its descendants. */
export function tree(pid: number): number[] {
  const children = new Map<number, number[]>();
  for (const e of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(e.name)) continue;
    try {
      const stat = Deno.readTextFileSync(`/proc/${e.name}/stat`);
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      children.set(ppid, [...(children.get(ppid) ?? []), Number(e.name)]);
    } catch { /* exited */ }
  }
  const out = [pid];
  for (let i = 0; i < out.length; i++) out.push(...children.get(out[i]) ?? []);
  return out;
}

/** The ids of the BPF programs held by fds of `pid` or its descendants. */
export function progIdsOfTree(pid: number): number[] {
  const ids = new Set<number>();
  for (const p of tree(pid)) {
    let fds: Deno.DirEntry[];
    try {
      fds = [...Deno.readDirSync(`/proc/${p}/fd`)];
    } catch {
      continue;
    }
    for (const fd of fds) {
      try {
        if (
          Deno.readLinkSync(`/proc/${p}/fd/${fd.name}`) !==
            "anon_inode:bpf-prog"
        ) continue;
        const info = Deno.readTextFileSync(`/proc/${p}/fdinfo/${fd.name}`);
        const m = /prog_id:\s+(\d+)/.exec(info);
        if (m) ids.add(Number(m[1]));
      } catch { /* closed meanwhile */ }
    }
  }
  return [...ids];
}

/** Whether a BPF program with this id is loaded (`bpftool prog show id N`). */
export function progExists(id: number): boolean {
  const out = new Deno.Command("bpftool", {
    args: ["prog", "show", "id", String(id)],
    stdout: "null",
    stderr: "null",
  }).outputSync();
  return out.success;
}

/** Sleeps. */
export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Runs a command to completion; returns its pid and status. */
export async function runCmd(
  cmd: string,
  args: string[],
  options: { stdin?: string } = {},
): Promise<{ pid: number; code: number; stdout: string; stderr: string }> {
  const child = new Deno.Command(cmd, {
    args,
    stdin: options.stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  if (options.stdin !== undefined) {
    const w = child.stdin.getWriter();
    await w.write(new TextEncoder().encode(options.stdin));
    await w.close();
  }
  const out = await child.output();
  const dec = new TextDecoder();
  return {
    pid: child.pid,
    code: out.code,
    stdout: dec.decode(out.stdout),
    stderr: dec.decode(out.stderr),
  };
}

/**
 * offcputime with `args` (and `-p` of the reader) on a child that blocks reading its
 * stdin a second time once the probe is attached (off-CPU time is taken from when a
 * thread leaves the CPU), for 300 ms; what the probe printed once stopped.
 */
export async function offcpuOfBlockedReader(
  args: string[],
): Promise<{ stdout: string; rows: Record<string, unknown>[] }> {
  const child = new Deno.Command("sh", {
    args: ["-c", "read x; read y"],
    stdin: "piped",
    stdout: "null",
    stderr: "null",
  }).spawn();
  try {
    await using p = startProbe("offcputime", [
      ...args,
      "-p",
      String(child.pid),
    ]);
    await p.attached();
    const w = child.stdin.getWriter();
    await w.write(new TextEncoder().encode("one\n"));
    await new Promise((r) => setTimeout(r, 300));
    await w.write(new TextEncoder().encode("two\n"));
    await w.close();
    assert.equal((await child.status).code, 0);
    assert.equal((await p.stop()).code, 0, p.stderr);
    await p.assertUnloaded();
    return { stdout: p.stdout, rows: p.rows() };
  } finally {
    try {
      child.kill("SIGKILL");
    } catch { /* exited */ }
  }
}

/** A `dd` copying /dev/zero to /dev/null a byte at a time: a process always on a CPU. */
export function spawnBusyDd(): Deno.ChildProcess {
  return new Deno.Command("dd", {
    args: ["if=/dev/zero", "of=/dev/null", "bs=1"],
    stdout: "null",
    stderr: "null",
  }).spawn();
}

/** A histogram line of a probe's `--json` (probes/README.md), in microseconds. */
export interface JsonHist {
  /** RFC 3339. */
  time: string;
  /** Buckets up to the last non-empty one. */
  buckets: { min_us: number; max_us: number; count: number }[];
  /** With -P/-L. */
  pid?: number;
  /** With -P/-L. */
  comm?: string;
  /** biolatency -D. */
  disk?: string;
  /** biolatency -F. */
  flags?: string;
  /** With -e. */
  avg_us?: number;
  /** With -e. */
  total_us?: number;
  /** With -e. */
  count?: number;
}

/** How many values a histogram line counts (the sum of its buckets). */
export function histCount(h: JsonHist): number {
  return h.buckets.reduce((n, b) => n + b.count, 0);
}

/** One loopback session: the client sends `up` bytes, the server answers `down`, both close. */
export async function loopbackSession(
  up: number,
  down: number,
): Promise<{ port: number; clientPort: number }> {
  using l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  const served = (async () => {
    using c = await l.accept();
    const buf = new Uint8Array(65536);
    let n = 0;
    while (n < up) {
      const r = await c.read(buf);
      if (r === null) break;
      n += r;
    }
    await c.write(new Uint8Array(down));
    return n;
  })();
  using c = await Deno.connect({ hostname: "127.0.0.1", port });
  const clientPort = (c.localAddr as Deno.NetAddr).port;
  await c.write(new Uint8Array(up));
  const buf = new Uint8Array(65536);
  let got = 0;
  while (got < down) {
    const r = await c.read(buf);
    if (r === null) break;
    got += r;
  }
  assert.equal(await served, up);
  assert.equal(got, down);
  return { port, clientPort };
}

/** A memory-limited cgroup (v2 `memory.max`, or v1's memory controller); removed by the caller. */
function memoryCgroup(
  name: string,
  limit: string,
): { dir: string; procs: string } {
  let v2 = false;
  try {
    v2 = Deno.readTextFileSync("/sys/fs/cgroup/cgroup.controllers").split(/\s+/)
      .includes("memory");
  } catch { /* not a v2 root */ }
  const dir = v2 ? `/sys/fs/cgroup/${name}` : `/sys/fs/cgroup/memory/${name}`;
  Deno.mkdirSync(dir);
  try {
    if (v2) {
      Deno.writeTextFileSync(`${dir}/memory.max`, limit);
      try {
        Deno.writeTextFileSync(`${dir}/memory.swap.max`, "0");
      } catch { /* no swap accounting */ }
    } else {
      Deno.writeTextFileSync(`${dir}/memory.limit_in_bytes`, limit);
    }
  } catch (e) {
    Deno.removeSync(dir);
    throw e;
  }
  return { dir, procs: `${dir}/cgroup.procs` };
}

/**
 * Makes the OOM killer kill a `tail` (a line that never ends) that outgrows a 32 MiB memory
 * cgroup made for it; the cgroup is removed after.
 */
export async function oomKillTail(): Promise<void> {
  const cg = memoryCgroup(
    `bpfpm-oomkill-${Date.now()}-${Math.random().toString(36).slice(2, 8)}`,
    String(32 * 1024 * 1024),
  );
  try {
    // The shell moves itself into the cgroup, then tail grows past it.
    const r = await runCmd("sh", [
      "-c",
      `echo $$ > ${cg.procs} && head -c 400000000 /dev/zero | tail -n 1 > /dev/null`,
    ]);
    assert.notEqual(r.code, 0, "tail should have been killed");
  } finally {
    for (let i = 0; i < 50; i++) {
      try {
        Deno.removeSync(cg.dir);
        break;
      } catch {
        await sleep(100); // its processes are still exiting
      }
    }
  }
}

/** The `time` of every `--json` line (probes/README.md): RFC 3339 to the microsecond, with its zone. */
export const RFC3339: RegExp =
  /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}(Z|[+-]\d\d:\d\d)$/;

/**
 * Asserts a `--json` line's `time` is RFC 3339 with a zone and, as an event's kernel
 * timestamp put on the wall clock, within `ms` of now.
 */
export function assertEventTime(row: object, ms = 60_000): void {
  const time = String((row as { time?: unknown }).time);
  assert.match(time, RFC3339);
  const off = Math.abs(new Date(time).getTime() - Date.now());
  assert.ok(off < ms, `time ${time} is ${off} ms from now`);
}

/**
 * Writes `count` blocks of `bs` with O_DIRECT (and with `sync` O_SYNC) into a new file under
 * `dir` (make it under /var/tmp: a real disk, not tmpfs), with dd; returns dd's pid.
 */
export async function directWrites(
  dir: string,
  bs: string,
  count: number,
  sync: boolean,
): Promise<number> {
  const dd = await runCmd("dd", [
    "if=/dev/zero",
    `of=${join(dir, "data")}`,
    `bs=${bs}`,
    `count=${count}`,
    `oflag=direct${sync ? ",sync" : ""}`,
  ]);
  assert.equal(dd.code, 0, dd.stderr);
  return dd.pid;
}
