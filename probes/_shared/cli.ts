/**
 * What every probe's CLI shares: BCC-style argument parsing (`node:util` parseArgs, usage on
 * `-h`, exit 2 on a bad flag), column output with a `--json` twin (one JSON object a line,
 * by json.ts's convention), the `-u` filter's constants, BCC's time columns, and the
 * interval/count loop of summary tools. `bpfpm publish` bundles it into each probe's entry, so a published
 * package does not need this directory.
 *
 * @module
 */
import { parseArgs, type ParseArgsConfig } from "node:util";
import { type BPF, type EventReader, interrupted, unitKey } from "bpf";
import { checkJsonKey, printJsonLine, type Unit } from "./json.ts";

/** One `parseArgs` option, plus its line in the usage text. */
export interface Flag {
  /** `boolean` or `string`. */
  type: "boolean" | "string";
  /** One-letter alias. */
  short?: string;
  /** The usage line's description. */
  help: string;
  /** Repeatable. */
  multiple?: boolean;
}

/** A probe's command line: its flags, positionals and usage text. */
export interface CliSpec {
  /** The program name, as in BCC. */
  name: string;
  /** One line saying what it traces. */
  description: string;
  /** The flags (`json` and `help` are added). */
  flags: Record<string, Flag>;
  /** Positional arguments, e.g. `[interval [count]]`. */
  positionals?: string;
  /** Example invocations. */
  examples?: readonly string[];
}

/** Parsed flags and positionals. */
export interface Parsed {
  /** Flag values by long name. */
  values: Record<string, string | boolean | string[] | undefined>;
  /** The positional arguments. */
  positionals: string[];
  /** `--json` was given. */
  json: boolean;
}

/** A bad command line: printed with the usage, exit status 2. */
export class UsageError extends Error {
  /**
   * Makes the error.
   *
   * @param message what is wrong and how to fix it
   */
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}

/**
 * The usage text of a probe.
 *
 * @example
 * ```ts
 * import { usage } from "./cli.ts";
 * console.log(usage({ name: "execsnoop", description: "Trace exec()", flags: {} }));
 * ```
 */
export function usage(spec: CliSpec): string {
  const lines = [
    `usage: ${spec.name} [options]${
      spec.positionals ? " " + spec.positionals : ""
    }`,
    "",
    spec.description,
    "",
    "options:",
  ];
  const all: Record<string, Flag> = {
    ...spec.flags,
    json: { type: "boolean", help: "print one JSON object per line" },
    help: { type: "boolean", short: "h", help: "show this help and exit" },
  };
  for (const [long, f] of Object.entries(all)) {
    const left = `  ${f.short ? `-${f.short}, ` : "    "}--${long}${
      f.type === "string" ? ` ${long.toUpperCase().replaceAll("-", "_")}` : ""
    }`;
    lines.push(`${left.padEnd(30)} ${f.help}`);
  }
  if (spec.examples?.length) {
    lines.push("", "examples:", ...spec.examples.map((e) => `  ${e}`));
  }
  return lines.join("\n");
}

/**
 * Parses `args` by `spec`; `-h` prints the usage and exits 0, a bad flag prints it and exits 2.
 *
 * @example
 * ```ts
 * import { parseCli } from "./cli.ts";
 * const { values } = parseCli(["-p", "42"], {
 *   name: "opensnoop", description: "Trace open()",
 *   flags: { pid: { type: "string", short: "p", help: "trace this PID only" } },
 * });
 * console.log(values.pid); // "42"
 * ```
 */
export function parseCli(args: string[], spec: CliSpec): Parsed {
  const options: NonNullable<ParseArgsConfig["options"]> = {
    json: { type: "boolean" },
    help: { type: "boolean", short: "h" },
  };
  for (const [long, f] of Object.entries(spec.flags)) {
    options[long] = f.short
      ? { type: f.type, short: f.short, multiple: f.multiple === true }
      : { type: f.type, multiple: f.multiple === true };
  }
  try {
    const r = parseArgs({
      args,
      options,
      allowPositionals: spec.positionals !== undefined,
      strict: true,
    });
    if (r.values.help) {
      console.log(usage(spec));
      Deno.exit(0);
    }
    return {
      values: r.values as Parsed["values"],
      positionals: r.positionals,
      json: r.values.json === true,
    };
  } catch (e) {
    fail(spec, (e as Error).message);
  }
}

/** Prints `message` and the usage on stderr and exits 2. */
export function fail(spec: CliSpec, message: string): never {
  console.error(`${spec.name}: ${message}\n\n${usage(spec)}`);
  Deno.exit(2);
}

/**
 * A non-negative integer flag or positional, or `undefined` when absent.
 *
 * @example
 * ```ts
 * import { intArg } from "./cli.ts";
 * intArg("42", "-p PID"); // 42
 * ```
 */
export function intArg(
  value: unknown,
  what: string,
  options: { min?: number } = {},
): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  const min = options.min ?? 0;
  if (typeof value !== "string" || !/^\d+$/.test(value) || n < min) {
    throw new UsageError(
      `${what} must be an integer of at least ${min}, got ${
        JSON.stringify(value)
      }`,
    );
  }
  return n;
}

/**
 * Runs a probe's `main` with its command line (`Deno.args` parsed by `spec`), printing a
 * UsageError with the usage (exit 2) and any other error as one line (exit 1).
 *
 * @example
 * ```ts
 * import { runMain } from "./cli.ts";
 * await runMain({ name: "x", description: "y", flags: {} }, async ({ json }) => {
 *   console.log(json);
 * });
 * ```
 */
export async function runMain(
  spec: CliSpec,
  main: (parsed: Parsed) => Promise<void>,
): Promise<void> {
  try {
    await main(parseCli(Deno.args, spec));
  } catch (e) {
    if (e instanceof UsageError) fail(spec, e.message);
    console.error(`${spec.name}: ${(e as Error).message}`);
    Deno.exit(1);
  }
  // Signal waiters (interrupted()) would keep the process alive after the work is done.
  Deno.exit(0);
}

/** A column of a probe's table, and the field it is in `--json`. */
export interface Column<R> {
  /** The header, as BCC prints it. */
  header: string;
  /** The row's field. */
  key: keyof R & string;
  /** The field's JSON key before its unit's suffix, when not `key`. */
  jsonKey?: string;
  /** The value's unit: its JSON key ends with the unit's suffix (`_us`, `_bytes`, ...). */
  unit?: Unit;
  /**
   * `false`: only in the table, not in JSON. A column whose JSON key would be `time` (BCC's
   * `HH:MM:SS`) is table-only too: the line's own `time` replaces it.
   */
  json?: boolean;
  /** `false`: only in JSON, not in the table. */
  table?: boolean;
  /** The JSON value, when not the field's (64-bit safe either way). */
  jsonFormat?: (value: R[keyof R], row: R) => unknown;
  /** Width (padded); the last column is never padded. */
  width?: number;
  /** Right-align (numbers). */
  right?: boolean;
  /** Formats the value for the table; default `String`. */
  format?: (value: R[keyof R], row: R) => string;
  /** The header in CSV output, when not `header`. */
  csvHeader?: string;
  /** Formats the value in CSV output, when not as `format` does. */
  csvFormat?: (value: R[keyof R], row: R) => string;
}

/**
 * Rows printed as BCC's columns, as comma separated values with `csv` (BCC's `-s`), or as
 * JSON lines with `--json` (which wins over `csv`) by the convention of json.ts: `time`
 * first (the event's kernel timestamp given to `row`, else now), then each column's field
 * under its JSON key with its unit's suffix, then the row's fields no column names.
 *
 * @example
 * ```ts
 * import { Table } from "./cli.ts";
 * const t = new Table<{ pid: number; comm: string; lat: number }>([
 *   { header: "PID", key: "pid", width: 7 },
 *   { header: "COMM", key: "comm", width: 16 },
 *   { header: "LAT(us)", key: "lat", jsonKey: "latency", unit: "microseconds" },
 * ], false);
 * t.header();
 * t.row({ pid: 1, comm: "init", lat: 12 }, 5_000_000_000n); // JSON: latency_us
 * ```
 */
export class Table<R extends object> {
  #columns: Column<R>[];
  #shown: Column<R>[];
  #json: boolean;
  #csv: boolean;

  /**
   * Makes a table; throws a TypeError when two columns have one JSON key or a key is not
   * snake_case.
   *
   * @param columns the columns, in order
   * @param json print JSON lines instead
   * @param options `csv`: comma separated values instead of padded columns
   */
  constructor(
    columns: Column<R>[],
    json: boolean,
    options: { csv?: boolean } = {},
  ) {
    this.#columns = columns.map((c) =>
      c.json !== false && jsonKeyOf(c) === "time" ? { ...c, json: false } : c
    );
    this.#shown = this.#columns.filter((c) => c.table !== false);
    this.#json = json;
    this.#csv = options.csv === true && !json;
    const seen = new Set<string>();
    for (const c of this.#columns) {
      if (c.json === false) continue;
      const k = jsonKeyOf(c);
      checkJsonKey(k);
      if (seen.has(k)) {
        throw new TypeError(`Two columns have the JSON key ${k}`);
      }
      seen.add(k);
    }
  }

  /** Prints the header line (nothing in JSON mode). */
  header(): void {
    if (this.#json) return;
    if (this.#csv) {
      console.log(this.#shown.map((c) => c.csvHeader ?? c.header).join(","));
      return;
    }
    console.log(this.#line(this.#shown.map((c) => c.header)));
  }

  /**
   * Prints one row; `ktime`, the event's `bpf_ktime_get_ns()`, is its JSON `time`.
   *
   * @param row the row
   * @param ktime the event's kernel timestamp (absent: now)
   */
  row(row: R, ktime?: bigint): void {
    if (this.#json) {
      const out: Record<string, unknown> = {};
      const claimed = new Set<string>(["time"]);
      for (const c of this.#columns) {
        claimed.add(c.key);
        if (c.json === false) continue;
        const v = row[c.key];
        out[jsonKeyOf(c)] = c.jsonFormat ? c.jsonFormat(v, row) : v;
      }
      for (const [k, v] of Object.entries(row)) {
        if (!claimed.has(k) && !(k in out)) out[k] = v;
      }
      printJsonLine(out, ktime);
      return;
    }
    if (this.#csv) {
      console.log(
        this.#shown.map((c) =>
          (c.csvFormat ?? c.format ?? String)(row[c.key], row)
        ).join(","),
      );
      return;
    }
    console.log(
      this.#line(
        this.#shown.map((c) =>
          c.format ? c.format(row[c.key], row) : String(row[c.key])
        ),
      ),
    );
  }

  #line(cells: string[]): string {
    return cells.map((cell, i) => {
      const c = this.#shown[i];
      if (i === cells.length - 1 && !c.right) return cell;
      const w = c.width ?? cell.length;
      return c.right ? cell.padStart(w) : cell.padEnd(w);
    }).join(" ").trimEnd();
  }
}

function jsonKeyOf<R>(c: Column<R>): string {
  return unitKey(c.jsonKey ?? c.key, c.unit);
}

/**
 * The uid of `-u USER`: a number, or a user name looked up in /etc/passwd (as BCC's
 * tools do with `pwd.getpwnam`).
 *
 * @example
 * ```ts
 * import { userArg } from "./cli.ts";
 * userArg("root"); // 0
 * userArg("1000"); // 1000
 * ```
 */
export function userArg(value: unknown): number | undefined {
  if (typeof value !== "string" || /^\d+$/.test(value)) {
    return intArg(value, "-u UID");
  }
  let passwd: string;
  try {
    passwd = Deno.readTextFileSync("/etc/passwd");
  } catch (e) {
    throw new UsageError(
      `-u ${value}: cannot read /etc/passwd to find the user (${
        (e as Error).message.split("\n")[0]
      }); pass the numeric UID`,
    );
  }
  for (const line of passwd.split("\n")) {
    const f = line.split(":");
    if (f[0] === value && /^\d+$/.test(f[2] ?? "")) return Number(f[2]);
  }
  throw new UsageError(
    `-u ${value}: no such user in /etc/passwd; pass a user name or a numeric UID`,
  );
}

/**
 * The constants of a `-u USER` filter (`const volatile bool filter_uid` and `u32
 * targ_uid`), to spread into `BPF.load`'s `constants`.
 *
 * @example
 * ```ts
 * import { uidFilter } from "./cli.ts";
 * uidFilter(undefined); // { filter_uid: false, targ_uid: 0 }
 * uidFilter("root"); // { filter_uid: true, targ_uid: 0 }
 * ```
 */
export function uidFilter(
  value: unknown,
): { filter_uid: boolean; targ_uid: number } {
  const uid = userArg(value);
  return { filter_uid: uid !== undefined, targ_uid: uid ?? 0 };
}

/** `HH:MM:SS`, local time, as BCC's `-T`. */
export function clock(d = new Date()): string {
  return d.toTimeString().slice(0, 8);
}

/**
 * BCC's `-t` clock: seconds from the first event's timestamp (the first call sets it) to
 * each event's.
 *
 * @example
 * ```ts
 * import { sinceFirst } from "./cli.ts";
 * const elapsed = sinceFirst();
 * elapsed(5_000_000_000n); // 0
 * elapsed(6_500_000_000n); // 1.5
 * ```
 */
export function sinceFirst(): (ts: bigint) => number {
  let t0: bigint | undefined;
  return (ts) => Number(ts - (t0 ??= ts)) / 1e9;
}

/**
 * The `-t` column: seconds since the first event, with `digits` decimals (`ts_s` in JSON).
 *
 * @example
 * ```ts
 * import { type Column, timestampColumn } from "./cli.ts";
 * const columns: Column<{ ts: number }>[] = [timestampColumn(9, 3)];
 * ```
 */
export function timestampColumn<R extends { ts?: number }>(
  width: number,
  digits: number,
): Column<R> {
  return {
    header: "TIME(s)",
    key: "ts",
    unit: "seconds",
    width,
    format: (t) => (t as number).toFixed(digits),
  };
}

/**
 * The probe's `events` ring buffer of `struct event` records, ending on Ctrl-C/SIGTERM or
 * after the duration flag's seconds (`what` names the flag in a usage error).
 *
 * @example
 * ```ts
 * import type { BPF } from "bpf";
 * import { eventStream } from "./cli.ts";
 * export async function pids(b: BPF) {
 *   for await (const e of eventStream<{ pid: number }>(b, "5")) console.log(e.pid);
 * }
 * ```
 */
export function eventStream<E>(
  b: BPF,
  duration: unknown,
  what = "-d DURATION",
): EventReader<E> {
  const signal = untilInterrupted(intArg(duration, what));
  return b.ringbuf<E>("events", { type: "struct event", signal });
}

/**
 * The interval/count loop of BCC's summary tools: `tick` runs every `interval` seconds,
 * `count` times (forever if absent), or once on Ctrl-C; `duration` caps the whole run.
 *
 * @example
 * ```ts
 * import { summaryLoop } from "./cli.ts";
 * await summaryLoop({ interval: 1, count: 3 }, () => console.log("tick"));
 * ```
 */
export async function summaryLoop(
  options: { interval?: number; count?: number; duration?: number },
  tick: (last: boolean) => void,
): Promise<void> {
  // setTimeout takes at most 2^31-1 ms; without an interval only Ctrl-C or the duration ends it.
  const interval = Math.min(options.interval ?? Infinity, 2_000_000);
  const end = options.duration !== undefined
    ? Date.now() + options.duration * 1000
    : Infinity;
  const stop = interrupted().then(() => "stop" as const);
  for (let i = 1;; i++) {
    const wait = Math.min(interval * 1000, end - Date.now());
    let timer: ReturnType<typeof setTimeout> | undefined;
    const r = await Promise.race([
      stop,
      new Promise<"tick">((r) => timer = setTimeout(() => r("tick"), wait)),
    ]);
    clearTimeout(timer);
    const last = r === "stop" || i === options.count || Date.now() >= end;
    tick(last);
    if (last) return;
  }
}

/**
 * Ends an event stream on Ctrl-C/SIGTERM with exit status 0 after `cleanup`, or exits 130
 * on a second signal.
 *
 * @example
 * ```ts
 * import { untilInterrupted } from "./cli.ts";
 * const signal = untilInterrupted();
 * ```
 */
export function untilInterrupted(
  duration?: number,
): AbortSignal {
  const ac = new AbortController();
  interrupted().then(() => ac.abort());
  if (duration !== undefined) {
    setTimeout(() => ac.abort(), duration * 1000);
  }
  return ac.signal;
}

/**
 * Says on stderr that the probe is attached (tests and scripts wait for this line), as BCC's
 * "Tracing... Hit Ctrl-C to end."
 *
 * @example
 * ```ts
 * import { announce } from "./cli.ts";
 * announce("Tracing exec()s");
 * ```
 */
export function announce(what = "Tracing"): void {
  console.error(`${what}... Hit Ctrl-C to end.`);
}
