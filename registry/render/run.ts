/**
 * `bpfpm run NAME --output table|json|ndjson [--fields a,b] [-- --param value ...]`: runs a
 * probe from its declaration alone. The package's own code does not run: this (trusted)
 * process compiles the declared sources, checks them against the locked grants as the
 * sandbox does, sets the declared parameters (typed flags after `--`: `.rodata` ones as
 * `BPF.load`'s constants before load, `.bss`/`.data` ones after) and the `ready` flag,
 * prints every declared event record as it arrives, and on Ctrl-C or SIGTERM the declared
 * metrics, then unloads everything.
 *
 * @module
 */
import { constants } from "node:os";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs, type ParseArgsConfig } from "node:util";
import type { BPF } from "../../runtime/bpf.ts";
import type { ClientConfig } from "../client/config.ts";
import { ClientError } from "../client/errors.ts";
import {
  checkKernel,
  confirmGrants,
  planRun,
  type RunPlan,
} from "../client/run.ts";
import { Ui } from "../client/ui.ts";
import type { BpfManifest, ParameterDeclaration } from "../manifest.ts";
import {
  bucketBounds,
  loadFormatsOf,
  metricName,
  SeriesTable,
} from "../agent/series.ts";
import { declarations } from "../agent/probe.ts";
import {
  formatRecord,
  type OutputFormat,
  rfc3339,
  RowWriter,
  systemClock,
} from "./format.ts";

/** Options of {@linkcode runDeclared}. */
export interface RenderOptions {
  /** Table, JSON array or NDJSON. */
  output: OutputFormat;
  /** Only these fields (and in this order, for a table). */
  fields?: string[];
  /** Approve the grants without asking. */
  yes?: boolean;
  /** Where messages go. */
  ui?: Ui;
  /** Where rows go (default: stdout). */
  out?: (line: string) => void;
}

function sourceOf(plan: RunPlan, rel: string): string {
  const bytes = plan.files?.get(rel) ?? readFileSync(join(plan.dir, rel));
  return new TextDecoder().decode(bytes);
}

/** The declared parameters as `parseArgs` options. */
function flagOptions(
  params: readonly ParameterDeclaration[],
): NonNullable<ParseArgsConfig["options"]> {
  return Object.fromEntries(params.map((p) => [p.name, {
    type: p.type === "boolean" ? "boolean" as const : "string" as const,
    ...(p.short ? { short: p.short } : {}),
  }]));
}

/** A parameter's value as the number or text its variable holds. */
function parameterValue(
  spec: string,
  p: ParameterDeclaration,
  raw: string | boolean,
  current: unknown,
): unknown {
  if (typeof raw === "boolean") {
    return typeof current === "boolean" ? raw : raw ? 1 : 0;
  }
  if (p.type === "integer") {
    const n = Number(raw);
    if (
      !/^-?\d+$/.test(raw) || (p.minimum !== undefined && n < p.minimum) ||
      (p.maximum !== undefined && n > p.maximum)
    ) {
      throw new ClientError(
        "EUSAGE",
        `${spec}: --${p.name} takes an integer${
          p.minimum !== undefined ? ` ≥ ${p.minimum}` : ""
        }, not ${JSON.stringify(raw)}`,
      );
    }
    return typeof current === "bigint" ? BigInt(n) : n;
  }
  if (typeof current !== "number" && typeof current !== "bigint") return raw;
  // A text flag read into a number: a number, or an errno's name (ENOENT).
  const errno = (constants.errno as Record<string, number>)[raw.toUpperCase()];
  const n = /^-?\d+$/.test(raw) ? Number(raw) : errno;
  if (n === undefined) {
    throw new ClientError(
      "EUSAGE",
      `${spec}: --${p.name} takes a number or an errno name such as ENOENT, not ${
        JSON.stringify(raw)
      }`,
    );
  }
  return typeof current === "bigint" ? BigInt(n) : n;
}

/**
 * The `.rodata` parameters (`const volatile` values, the default section) as `BPF.load`'s
 * `constants` of each source: all of them for a single source, else each to the source that
 * declares it `const volatile` (the load checks the name and type against the object's BTF).
 */
function sourceConstants(
  spec: string,
  params: readonly ParameterDeclaration[],
  values: Record<string, string | boolean | number | undefined>,
  texts: readonly string[],
): Record<string, number | bigint | boolean>[] {
  const out = texts.map(
    () => ({} as Record<string, number | bigint | boolean>),
  );
  for (const p of params) {
    if ((p.section ?? ".rodata") !== ".rodata") continue;
    const given = values[p.name] ?? p.default;
    if (given === undefined) continue;
    const raw = typeof given === "number" ? String(given) : given;
    const value = parameterValue(
      spec,
      p,
      raw,
      p.type === "boolean" ? false : 0,
    );
    const declares = new RegExp(
      `\\bconst\\s+volatile\\b[^;]*\\b${p.variable}\\b`,
    );
    const at = texts.length === 1
      ? 0
      : Math.max(0, texts.findIndex((t) => declares.test(t)));
    out[at][p.variable] = value as number | bigint | boolean;
  }
  return out;
}

/** Writes `value` to a global (`cfg.targ_pid`) of the object that has it. */
function setVariable(
  spec: string,
  objects: BPF[],
  path: string,
  section: string,
  value: (current: unknown) => unknown,
): void {
  const [root, ...fields] = path.split(".");
  for (const b of objects) {
    const name = [...b.maps.keys()].find((n) => n.endsWith(section));
    if (!name) continue;
    const m = b.map<number, Record<string, unknown>>(name);
    const data = m.get(0);
    if (!data || !(root in data)) continue;
    const next = structuredClone(data);
    let at: Record<string, unknown> = next;
    let key = root;
    for (const f of fields) {
      at = at[key] as Record<string, unknown>;
      key = f;
    }
    if (!at || !(key in at)) break;
    at[key] = value(at[key]);
    m.set(0, next);
    return;
  }
  throw new ClientError(
    "EMANIFEST",
    `${spec} declares ${path} in ${section}, which its programs do not have: ask its publisher to fix the manifest`,
  );
}

/**
 * Runs a probe from its declaration and renders its records and metrics.
 *
 * @param config the client configuration
 * @param target an installed package or a package directory
 * @param args the declared parameters as flags (`--pid 42 --latency`)
 * @param options output format, fields, approval
 * @returns the exit code
 *
 * @example
 * ```ts
 * import { loadConfig } from "../client/config.ts";
 * import { runDeclared } from "./run.ts";
 * await runDeclared(loadConfig(), "execsnoop", [], { output: "ndjson", fields: ["pid", "comm"], yes: true });
 * ```
 */
export async function runDeclared(
  config: ClientConfig,
  target: string,
  args: string[],
  options: RenderOptions,
): Promise<number> {
  const ui = options.ui ?? new Ui();
  const writer = new RowWriter(
    options.output,
    options.fields,
    options.out ?? ((l) => console.log(l)),
  );
  const plan = await planRun(config, target);
  await checkKernel(plan.dir, ui);
  const manifest = declarations(plan);
  if (!manifest.events?.length && !manifest.metrics?.length) {
    throw new ClientError(
      "EMANIFEST",
      `${plan.spec} declares no metrics or events, so there is nothing for --output to render: run it without --output`,
    );
  }
  const params = manifest.parameters ?? [];
  let values: Record<string, string | boolean | undefined>;
  try {
    values = parseArgs({
      args,
      options: flagOptions(params),
      strict: true,
      allowPositionals: false,
    }).values as Record<string, string | boolean | undefined>;
  } catch (e) {
    throw new ClientError(
      "EUSAGE",
      `${plan.spec}: ${
        (e as Error).message.split("\n")[0]
      }; its parameters are ${
        params.map((p) => `--${p.name}`).join(", ") || "none"
      }`,
    );
  }
  confirmGrants(plan, { yes: options.yes, ui });
  const { interrupted } = await import("../../mod.ts");
  const run = await startDeclared(
    plan,
    manifest,
    values,
    (_, r) => writer.row(r),
  );
  const objects = run.objects;
  try {
    ui.info(`Tracing ${plan.spec} from its declaration... Hit Ctrl-C to end.`);
    const flusher = setInterval(() => writer.flush(), 250);
    // Until Ctrl-C or SIGTERM; a reader that fails ends the run with its error.
    try {
      await Promise.race([interrupted(), run.done]);
    } finally {
      clearInterval(flusher);
      run.stop();
    }
    await run.done;
    const now = Date.now();
    for (const d of manifest.metrics ?? []) {
      const b = objects.find((o) => o.maps.has(d.map));
      if (!b) continue;
      const table = new SeriesTable(d);
      table.read(b.map(d.map).dump());
      const time = rfc3339(BigInt(now) * 1_000_000n);
      const name = metricName(d);
      const labels = d.labels ?? [];
      for (const s of table.series.values()) {
        const row: Record<string, unknown> = { time, metric: name };
        labels.forEach((l, i) => row[l.name] = s.labels[i]);
        if (!s.counts) {
          writer.row({ ...row, value: s.value });
          continue;
        }
        const bounds = bucketBounds(d, s.counts.length);
        s.counts.forEach((count, i) => {
          if (count) writer.row({ ...row, le: bounds[i] ?? "+Inf", count });
        });
      }
    }
  } finally {
    run.stop();
    run.close();
    writer.end();
  }
  return 0;
}

/** A probe running from its declaration, in this process. */
export interface DeclaredRun {
  /** The loaded objects. */
  objects: BPF[];
  /** Records the kernel lost, summed over the declared buffers. */
  lost(): number;
  /** Settles once stopped and every reader has ended; rejects when a reader fails. */
  done: Promise<void>;
  /** Ends the readers. */
  stop(): void;
  /** Frees the objects (detaching everything). */
  close(): void;
}

/**
 * Loads a probe's declared sources under its locked grants, writes its declared parameters
 * (`values` by name, as flags give them) and its `ready` flag, and passes every record of
 * its declared event buffers, formatted by their fields, to `onRecord`. The package's own
 * code does not run.
 *
 * @param plan from `planRun`
 * @param manifest its checked declarations
 * @param values parameter values by name
 * @param onRecord called with the buffer's name and each formatted record
 * @returns the running probe
 *
 * @example
 * ```ts
 * import { loadConfig } from "../client/config.ts";
 * import { planRun } from "../client/run.ts";
 * import { declarations } from "../agent/probe.ts";
 * import { startDeclared } from "./run.ts";
 * const plan = await planRun(loadConfig(), "./probes/execsnoop");
 * const run = await startDeclared(plan, declarations(plan), {}, (_, r) => console.log(r));
 * run.stop();
 * await run.done;
 * run.close();
 * ```
 */
export async function startDeclared(
  plan: RunPlan,
  manifest: BpfManifest,
  values: Record<string, string | boolean | number | undefined>,
  onRecord: (buffer: string, record: Record<string, unknown>) => void,
): Promise<DeclaredRun> {
  const { BPF } = await import("../../mod.ts");
  await loadFormatsOf(manifest);
  const objects: BPF[] = [];
  const stop = new AbortController();
  const close = () => {
    stop.abort();
    for (const b of objects.splice(0)) b.close();
  };
  const readers: { lost: number }[] = [];
  try {
    const texts = (manifest.sources ?? []).map((src) => sourceOf(plan, src));
    const params = manifest.parameters ?? [];
    const preset = sourceConstants(plan.spec, params, values, texts);
    for (const [i, text] of texts.entries()) {
      try {
        objects.push(
          await BPF.load({
            text,
            grants: { attach: [], helpers: [], ...plan.bpf.grants },
            constants: preset[i],
          }),
        );
      } catch (e) {
        // A declared .rodata parameter the program lacks, or of another type.
        if (!(e instanceof TypeError) || !/constant/.test(e.message)) throw e;
        throw new ClientError(
          "EMANIFEST",
          `${plan.spec}'s parameters do not match its program: ${
            e.message.replace(/^BPF\.load: /, "")
          }; ask its publisher to fix the manifest`,
        );
      }
    }
    for (const p of params) {
      if ((p.section ?? ".rodata") === ".rodata") continue; // set before load
      const given = values[p.name] ?? p.default;
      if (given === undefined) continue;
      const raw = typeof given === "number" ? String(given) : given;
      setVariable(
        plan.spec,
        objects,
        p.variable,
        p.section!,
        (cur) => parameterValue(plan.spec, p, raw, cur),
      );
    }
    if (manifest.ready) {
      setVariable(
        plan.spec,
        objects,
        manifest.ready,
        ".bss",
        (cur) => typeof cur === "bigint" ? 1n : 1,
      );
    }
    const clock = systemClock();
    const streams = (manifest.events ?? []).map((e) => {
      const b = objects.find((o) => o.maps.has(e.buffer));
      if (!b) {
        throw new ClientError(
          "EMANIFEST",
          `${plan.spec} declares events of ${e.buffer}, which its programs do not have`,
        );
      }
      const opts = { type: e.record, signal: stop.signal };
      const reader = e.kind === "perf"
        ? b.perfBuffer<Record<string, unknown>>(e.buffer, opts)
        : b.ringbuf<Record<string, unknown>>(e.buffer, opts);
      readers.push(reader);
      return (async () => {
        for await (const r of reader) {
          onRecord(e.buffer, formatRecord(r, e.fields, clock));
        }
      })();
    });
    const stopped = new Promise<void>((r) =>
      stop.signal.addEventListener("abort", () => r(), { once: true })
    );
    const done = Promise.all([...streams, stopped]).then(() => {});
    done.catch(() => {});
    return {
      objects,
      lost: () => readers.reduce((n, r) => n + r.lost, 0),
      done,
      stop: () => stop.abort(),
      close,
    };
  } catch (e) {
    close();
    throw e;
  }
}
