/**
 * One probe under `bpfpm agent`: installed (locked, verified) into its own project per
 * version, run exactly as `bpfpm run` runs it (`planRun` → `sandboxRun` → `runSandboxed`),
 * restarted with backoff when it fails, and moved to the version its range or dist-tag
 * names when that changes. A new version starts beside the old one and replaces it only
 * once it has loaded its programs; an upgrade whose grants widen is held unless the
 * configuration allows it. Either way the old version keeps running.
 *
 * @module
 */
import { mkdirSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { trimHeap } from "../../runtime/_memory.ts";
import type { BPF } from "../../runtime/bpf.ts";
import type { SandboxResult } from "../../runtime/sandbox/host.ts";
import type { SandboxSession } from "../../runtime/sandbox/server.ts";
import { loadConfig } from "../client/config.ts";
import { diffGrants } from "../client/grants.ts";
import { install } from "../client/install.ts";
import { RegistryClient } from "../client/registry.ts";
import { pickVersion } from "../client/resolve.ts";
import { namedPins, planRun, type RunPlan, sandboxRun } from "../client/run.ts";
import { Ui } from "../client/ui.ts";
import { ClientError } from "../client/errors.ts";
import { type BpfManifest, validateBpfManifest } from "../manifest.ts";
import type { AgentProbe } from "./config.ts";
import { loadFormatsOf } from "./series.ts";
import type { DeclaredRun } from "../render/run.ts";

/** Where a probe is in its life. */
export type ProbeState =
  | "installing"
  | "starting"
  | "running"
  | "restarting"
  | "failed"
  | "stopped";

/** An installed version: its run plan and its manifest's declarations. */
export interface Release {
  /** The exact version. */
  version: string;
  /** How it runs (lockfile grants, verified files). */
  plan: RunPlan;
  /** Its `bpf` manifest (metrics, events, parameters), from the verified tarball. */
  manifest: BpfManifest;
  /** Its project directory. */
  dir: string;
}

/**
 * A probe's `bpf` manifest from its verified files (or its directory), checked against the
 * schema: its declared metrics, events and parameters are safe to act on.
 *
 * @param plan from `planRun`
 * @returns the manifest
 *
 * @example
 * ```ts
 * import { loadConfig } from "../client/config.ts";
 * import { planRun } from "../client/run.ts";
 * import { declarations } from "./probe.ts";
 * console.log(declarations(await planRun(loadConfig(), "runqlat")).metrics);
 * ```
 */
export function declarations(plan: RunPlan): BpfManifest {
  const bytes = plan.files?.get("package.json") ??
    readFileSync(join(plan.dir, "package.json"));
  const bpf = JSON.parse(new TextDecoder().decode(bytes)).bpf;
  const v = validateBpfManifest(bpf);
  if (!v.ok) {
    throw new ClientError(
      "EMANIFEST",
      `${plan.spec} has an invalid bpf manifest: ${
        v.errors.join("; ")
      }; ask its publisher for a fixed version`,
    );
  }
  return bpf;
}

/**
 * One record of a probe: the line a package printed (`--json`), checked to be JSON and kept
 * as that text until it is exported (one string, not an object graph that lives until the
 * next export), or a record the trusted side formatted itself (declared mode).
 */
export type ProbeRecord = { json: string } | { value: unknown };

/** What the supervisor needs from the agent. */
export interface ProbeHost {
  /** The registry URL. */
  registry: string;
  /** Where versions are installed. */
  stateDir: string;
  /** Refuse unsigned packages. */
  requireSigned: boolean;
  /** Approves a first version's grants (throws to refuse). */
  approve(release: Release): void;
  /** A line for the agent's log. */
  log(line: string): void;
  /** One record of the probe, as an event. */
  onEvent(probe: Supervisor, release: Release, record: ProbeRecord): void;
}

/**
 * How long the agent lets a probe's records gather in its stdout pipe between reads. They
 * are exported in batches at the OTLP interval (seconds), so 50 ms more wait nothing; at
 * 150 records a second they come about 8 to a read instead of one.
 */
const RECORD_GATHER_MS = 50;

/** Terminal colour codes, which a log line does without. */
// deno-lint-ignore no-control-regex
const ANSI = /\x1b\[[0-9;]*m/g;

/** A running (or ended) process of one release. */
class Instance {
  readonly objects: BPF[] = [];
  /** The trusted side's session: the package's event counters. */
  session?: SandboxSession;
  readonly started = Date.now();
  child?: Deno.ChildProcess;
  stopping = false;
  lastLine = "";
  readonly done: Promise<SandboxResult>;
  readonly ready: Promise<boolean>;
  #setReady!: (ok: boolean) => void;

  constructor(
    readonly release: Release,
    args: string[],
    onRecord: (record: ProbeRecord) => void,
  ) {
    this.ready = new Promise((r) => this.#setReady = r);
    const pumps: Promise<void>[] = [];
    this.done = (async () => {
      const { runSandboxed } = await import(
        "../../runtime/sandbox/host.ts"
      );
      // Pins the config's args name (--cgroupmap/--mntnsmap) are the user's, as on a command line.
      const userPins = await namedPins(args);
      return await runSandboxed(sandboxRun(release.plan, args, {
        userPins,
        stdio: "piped",
        onStart: (child) => {
          this.child = child;
          pumps.push(readLines(child.stdout, (l) => {
            // Only JSON lines are records; the parsed value is dropped at once (the
            // export parses the line again when it builds the log record).
            try {
              JSON.parse(l);
            } catch {
              return;
            }
            onRecord({ json: l });
          }, { gatherMs: RECORD_GATHER_MS }));
          pumps.push(readLines(child.stderr, (l) => {
            // Deno's "error: ..." line, else the last message (not a stack frame or the
            // caret under a source line), without colours.
            const t = l.replace(ANSI, "").trim();
            if (/^error: /.test(t)) this.lastLine = t;
            else if (
              t && !/^(at |\^)/.test(t) && !/^error: /.test(this.lastLine)
            ) {
              this.lastLine = t;
            }
          }));
        },
        onObject: (b) => {
          this.objects.push(b);
          this.#setReady(true);
        },
        onSession: (session) => this.session = session,
      }));
    })().finally(async () => {
      this.#setReady(false);
      await Promise.allSettled(pumps);
    });
    this.done.catch(() => {});
  }

  /** SIGTERM, then SIGKILL after `graceMs`; resolves when the process is gone. */
  async stop(graceMs = 5000): Promise<void> {
    this.stopping = true;
    const kill = (sig: Deno.Signal) => {
      try {
        this.child?.kill(sig);
      } catch { /* gone */ }
    };
    kill("SIGTERM");
    const timer = setTimeout(() => kill("SIGKILL"), graceMs);
    await this.done.catch(() => {});
    clearTimeout(timer);
  }
}

/**
 * A release run from its declaration (`"run": "declared"`): no package code, the trusted
 * side reads the declared buffers itself, so records are formatted by their declared fields
 * and the kernel's drops are known.
 */
class DeclaredInstance {
  readonly objects: BPF[] = [];
  /** The trusted side's session: the package's event counters. */
  session?: SandboxSession;
  readonly started = Date.now();
  readonly child?: Deno.ChildProcess;
  stopping = false;
  lastLine = "";
  readonly done: Promise<SandboxResult>;
  readonly ready: Promise<boolean>;
  #run?: DeclaredRun;

  constructor(
    readonly release: Release,
    params: AgentProbe["params"],
    onRecord: (record: ProbeRecord) => void,
  ) {
    let setReady!: (ok: boolean) => void;
    this.ready = new Promise((r) => setReady = r);
    this.done = (async (): Promise<SandboxResult> => {
      try {
        const { startDeclared } = await import("../render/run.ts");
        this.#run = await startDeclared(
          release.plan,
          release.manifest,
          params,
          (_, r) => onRecord({ value: r }),
        );
        this.objects.push(...this.#run.objects);
        setReady(true);
        if (this.stopping) this.#run.stop();
        await this.#run.done;
        return { code: 0 };
      } catch (e) {
        this.lastLine = (e as Error).message;
        return { code: 1, violation: this.lastLine };
      } finally {
        this.#run?.close();
        setReady(false);
      }
    })();
  }

  /** Records the kernel lost. */
  get lost(): number {
    return this.#run?.lost() ?? 0;
  }

  /** Ends the readers and frees the objects. */
  async stop(): Promise<void> {
    this.stopping = true;
    this.#run?.stop();
    await this.done;
  }
}

/** A release's run, either way. */
type Running = Instance | DeclaredInstance;

/** The longest line kept from a probe's output: a package cannot grow the agent's memory. */
const MAX_LINE = 1 << 20;

/** A read at least this long is not followed by a pause: the probe is writing fast. */
const GATHER_BYTES = 16 << 10;

/** The buffer a probe's output is read into: a pipe's capacity. */
const READ_BYTES = 64 << 10;

/**
 * Calls `each` with every line of `stream`; a line longer than 1 MiB is skipped whole.
 * With `gatherMs`, a short read is followed by a pause of that long before the next one,
 * so lines written one at a time (a probe prints a record per write) come many to a read:
 * each read costs the agent a turn of its event loop, which it shares with every probe's
 * sandbox channel. The pipe holds what arrives meanwhile (64 KiB); a read of 16 KiB or
 * more is followed at once by the next.
 *
 * @param stream the bytes
 * @param each called with each line, without its newline
 * @param options `gatherMs`: the pause after a short read (none by default)
 *
 * @example
 * ```ts
 * import { readLines } from "./probe.ts";
 * await readLines(new Response("a\nb\n").body!, console.log); // a, b
 * ```
 */
export async function readLines(
  stream: ReadableStream<Uint8Array>,
  each: (line: string) => void,
  options: { gatherMs?: number } = {},
): Promise<void> {
  // A reader and a TextDecoder, not a TextDecoderStream: a probe writes a record per
  // chunk, and a transform stream's promise hops per chunk cost more than the record.
  const decoder = new TextDecoder();
  // A byte stream (a child's pipe) is read into one buffer of ours, again and again: its
  // default reader would allocate a 64 KiB buffer for every read.
  let byob: ReadableStreamBYOBReader | undefined;
  try {
    byob = stream.getReader({ mode: "byob" });
  } catch { /* not a byte stream */ }
  const reader = byob ?? stream.getReader();
  let buffer = new ArrayBuffer(byob ? READ_BYTES : 0);
  const gatherMs = options.gatherMs ?? 0;
  let rest = "";
  let skipping = false; // inside a line already too long
  try {
    for (;;) {
      const { value, done } = byob
        ? await byob.read(new Uint8Array(buffer))
        : await (reader as ReadableStreamDefaultReader<Uint8Array>).read();
      if (done || !value) break;
      if (byob) buffer = value.buffer as ArrayBuffer;
      const text = rest + decoder.decode(value, { stream: true });
      let at = 0;
      for (let nl = text.indexOf("\n"); nl >= 0; nl = text.indexOf("\n", at)) {
        if (!skipping && nl - at <= MAX_LINE) each(text.slice(at, nl));
        skipping = false;
        at = nl + 1;
      }
      rest = text.slice(at);
      if (rest.length > MAX_LINE) {
        rest = "";
        skipping = true;
      }
      if (gatherMs > 0 && value.length < GATHER_BYTES) {
        await new Promise((r) => setTimeout(r, gatherMs));
      }
    }
    rest += decoder.decode();
  } finally {
    reader.releaseLock();
  }
  if (rest && !skipping) each(rest);
}

/**
 * The arguments of a probe's entry: `--json` (records for the events export), the
 * configured parameters as the flags their declarations name, then the configured args.
 *
 * @example
 * ```ts
 * import { probeArgs } from "./probe.ts";
 * probeArgs("syscount@1.0.0", { entry: "mod.ts", parameters: [
 *   { name: "latency", type: "boolean", description: "d", variable: "cfg.latency" },
 * ] }, { latency: true }, []);
 * // ["--json", "--latency"]
 * ```
 */
export function probeArgs(
  spec: string,
  manifest: BpfManifest,
  params: AgentProbe["params"],
  args: string[],
): string[] {
  const out = args.includes("--json") ? [] : ["--json"];
  const decls = manifest.parameters ?? [];
  for (const [name, value] of Object.entries(params)) {
    const d = decls.find((p) => p.name === name);
    if (!d) {
      throw new ClientError(
        "ECONFIG",
        `${spec} has no parameter ${name}; its parameters are ${
          decls.map((p) => p.name).join(", ") || "none"
        }`,
      );
    }
    const bad = (want: string) =>
      new ClientError(
        "ECONFIG",
        `${spec}'s parameter ${name} takes ${want}, not ${
          JSON.stringify(value)
        }`,
      );
    if (d.type === "boolean") {
      if (typeof value !== "boolean") throw bad("true or false");
      if (value) out.push(`--${name}`);
      continue;
    }
    if (d.type === "integer") {
      if (
        typeof value !== "number" || !Number.isInteger(value) ||
        (d.minimum !== undefined && value < d.minimum) ||
        (d.maximum !== undefined && value > d.maximum)
      ) {
        throw bad(
          `an integer${d.minimum !== undefined ? ` ≥ ${d.minimum}` : ""}${
            d.maximum !== undefined ? ` ≤ ${d.maximum}` : ""
          }`,
        );
      }
    } else if (typeof value !== "string") throw bad("a string");
    out.push(`--${name}=${value}`);
  }
  return [...out, ...args];
}

/** What `/status` shows of a probe. */
export interface ProbeStatus {
  /** The package name. */
  name: string;
  /** The range or dist-tag it follows. */
  follows: string;
  /** The running (or last) version. */
  version: string | null;
  /** Where it is in its life. */
  state: ProbeState;
  /** The sandboxed process's pid. */
  pid: number | null;
  /** Restarts after failures. */
  restarts: number;
  /** Records printed since start. */
  events: number;
  /** Records per second over the last status interval. */
  eventsPerSecond: number;
  /**
   * Records the kernel lost (perf buffers): the trusted side's own count, from the
   * sandbox's event counters or, in declared mode, its readers; null before a start.
   */
  drops: number | null;
  /** The last failure. */
  lastError: string | null;
  /** A version not taken, and why. */
  held: { version: string; reason: string } | null;
}

/** Supervises one configured probe. */
export class Supervisor {
  state: ProbeState = "installing";
  restarts = 0;
  events = 0;
  lastError: string | null = null;
  held: { version: string; reason: string } | null = null;
  #current?: Running;
  #closing = false;
  #wake?: () => void;
  #looping?: Promise<void>;
  #rate = { at: Date.now(), events: 0, perSecond: 0 };
  #polling?: Promise<void>;

  constructor(readonly probe: AgentProbe, readonly host: ProbeHost) {}

  /** The running release, if any. */
  get release(): Release | undefined {
    return this.#current?.release;
  }

  /** The objects the running version loaded (the trusted side's own). */
  get objects(): readonly BPF[] {
    return this.#current?.objects ?? [];
  }

  /** When the running version started. */
  get started(): number {
    return this.#current?.started ?? Date.now();
  }

  /**
   * Resolves the followed range or tag, installs it (or a newer one) and starts it, or
   * moves to it; an error is recorded (and logged), never thrown.
   */
  poll(): Promise<void> {
    if (this.#polling || this.#closing) {
      return this.#polling ?? Promise.resolve();
    }
    this.#polling = this.#poll().catch((e) => {
      this.lastError = (e as Error).message;
      if (!this.#current) this.state = "failed";
      this.host.log(`${this.probe.name}: ${this.lastError}`);
    }).finally(() => this.#polling = undefined);
    return this.#polling;
  }

  async #poll(): Promise<void> {
    const version = await this.#resolve();
    const cur = this.#current?.release;
    if (version === cur?.version || version === this.held?.version) return;
    const next = await this.#install(version);
    if (!cur) {
      this.host.approve(next);
      this.#current = this.#launch(next);
      this.#looping = this.#supervise();
      return;
    }
    const added = diffGrants(cur.plan.bpf, next.plan.bpf).added;
    if (added.length && !this.probe.allowWiderGrants) {
      this.held = {
        version,
        reason: `${next.plan.spec} widens its grants (${
          added.join("; ")
        }): set allowWiderGrants for ${this.probe.name} in the agent config to take it`,
      };
      this.host.log(
        `${this.probe.name}: upgrade to ${version} held, ${cur.version} keeps running: ${this.held.reason}`,
      );
      rmSync(next.dir, { recursive: true, force: true });
      return;
    }
    const inst = this.#launch(next, false);
    const ready = await inst.ready;
    if (!ready || this.#closing) {
      await inst.stop();
      if (this.#closing) return;
      const r = await inst.done.catch((e) => ({
        code: -1,
        violation: String(e),
      }));
      this.held = {
        version,
        reason: `${next.plan.spec} failed to start (exit ${r.code}${
          inst.lastLine ? `: ${inst.lastLine}` : ""
        })`,
      };
      this.host.log(
        `${this.probe.name}: upgrade to ${version} failed, ${cur.version} keeps running: ${this.held.reason}`,
      );
      rmSync(next.dir, { recursive: true, force: true });
      return;
    }
    const old = this.#current!;
    this.#current = inst;
    this.held = null;
    this.state = "running";
    this.host.log(`${this.probe.name}: upgraded ${cur.version} → ${version}`);
    await old.stop();
    if (old.release.dir !== next.dir) {
      rmSync(old.release.dir, { recursive: true, force: true });
    }
  }

  async #resolve(): Promise<string> {
    const config = loadConfig({
      cwd: this.host.stateDir,
      registry: this.host.registry,
    });
    const doc = await new RegistryClient(config).packument(this.probe.name);
    return pickVersion(doc, this.probe.range).version;
  }

  async #install(version: string): Promise<Release> {
    const dir = join(
      this.host.stateDir,
      "probes",
      `${this.probe.name}@${version}`,
    );
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const config = loadConfig({ cwd: dir, registry: this.host.registry });
    await install(config, {
      add: [`${this.probe.name}@${version}`],
      yes: true,
      requireSigned: this.host.requireSigned,
      ui: new Ui({ quiet: true, tty: false }),
    });
    const plan = await planRun(config, this.probe.name);
    const manifest = declarations(plan);
    // Before the release runs: its series keep the label text they are first given.
    await loadFormatsOf(manifest);
    return { version, plan, manifest, dir };
  }

  /** Starts a release; only one that becomes current (not an upgrade's trial) sets the state. */
  #launch(release: Release, current = true): Running {
    if (current) this.state = "starting";
    const onRecord = (record: ProbeRecord) => {
      this.events++;
      this.host.onEvent(this, release, record);
    };
    const inst = this.probe.run === "declared"
      ? new DeclaredInstance(release, this.probe.params, onRecord)
      : new Instance(
        release,
        probeArgs(
          release.plan.spec,
          release.manifest,
          this.probe.params,
          this.probe.args,
        ),
        onRecord,
      );
    inst.ready.then((ok) => {
      // The load's BTF and ELF buffers are freed by now: their pages go back.
      if (ok) trimHeap();
      if (ok && inst === this.#current) this.state = "running";
    });
    return inst;
  }

  async #supervise(): Promise<void> {
    let backoff = 1000;
    while (!this.#closing) {
      const inst = this.#current!;
      const r = await inst.done.catch((e): SandboxResult => ({
        code: -1,
        violation: (e as Error).message,
      }));
      if (this.#closing) break;
      if (inst !== this.#current) continue;
      this.restarts++;
      this.lastError = `${inst.release.plan.spec} exited (${
        r.violation ?? (r.signal ? `signal ${r.signal}` : `code ${r.code}`)
      })${inst.lastLine ? `: ${inst.lastLine}` : ""}`;
      if (Date.now() - inst.started > 60_000) backoff = 1000;
      this.state = "restarting";
      this.host.log(
        `${this.probe.name}: ${this.lastError}; restarting in ${backoff} ms`,
      );
      await new Promise<void>((r) => {
        const t = setTimeout(r, backoff);
        this.#wake = () => {
          clearTimeout(t);
          r();
        };
      });
      backoff = Math.min(backoff * 2, 30_000);
      if (this.#closing) break;
      if (inst === this.#current) this.#current = this.#launch(inst.release);
    }
  }

  /** The status line of this probe. */
  status(): ProbeStatus {
    const now = Date.now();
    if (now - this.#rate.at >= 1000) {
      this.#rate.perSecond = (this.events - this.#rate.events) * 1000 /
        (now - this.#rate.at);
      this.#rate = {
        at: now,
        events: this.events,
        perSecond: this.#rate.perSecond,
      };
    }
    return {
      name: this.probe.name,
      follows: this.probe.range,
      version: this.#current?.release.version ?? null,
      state: this.state,
      pid: this.#current?.child?.pid ?? null,
      restarts: this.restarts,
      events: this.events,
      eventsPerSecond: Math.round(this.#rate.perSecond * 100) / 100,
      drops: this.#current instanceof DeclaredInstance
        ? this.#current.lost
        : this.#current?.session?.eventStats().lost ?? null,
      lastError: this.lastError,
      held: this.held,
    };
  }

  /** Stops the probe (SIGTERM, then SIGKILL); everything it loaded is unloaded. */
  async close(): Promise<void> {
    this.#closing = true;
    this.#wake?.();
    // An upgrade under way stops its trial version itself once it sees #closing.
    await Promise.all([this.#current?.stop(), this.#polling]);
    await this.#current?.stop();
    await this.#looping;
    this.state = "stopped";
  }
}
