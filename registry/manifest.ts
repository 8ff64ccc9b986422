/**
 * The probe manifest: the `bpf` field of a probe package's `package.json`
 * (docs/manifest.md). {@linkcode validateBpfManifest} checks a value against
 * `registry/bpf-manifest.schema.json` with Ajv; the registry runs it at publish and
 * the client before it packs.
 *
 * @example Validate a manifest
 * ```ts
 * import { validateBpfManifest } from "./manifest.ts";
 * const r = validateBpfManifest({ entry: "mod.ts", grants: { helpers: ["send_signal"] } });
 * if (!r.ok) console.error(r.errors.join("\n"));
 * ```
 *
 * @module
 */
import { Ajv, type ErrorObject, type ValidateFunction } from "ajv";
import { denoFlagProblem } from "./common/deno_flags.ts";
import schema from "./bpf-manifest.schema.json" with { type: "json" };
import {
  type Grants,
  MAP_MEMORY_UNITS,
  RISKY_HELPERS,
  type RiskyHelper,
} from "../runtime/policy/grants.ts";

/**
 * Every attach kind a manifest grant can name: the runtime's list, which
 * `bpf-manifest.schema.json`'s enum repeats (tests/registry/manifest_test.ts
 * keeps the two equal).
 */
export {
  ATTACH_KINDS,
  type AttachKind,
} from "../runtime/spec/section_kinds.ts";

/**
 * The risky helpers a package must declare before its programs may call them
 * (the runtime's list, which the schema's `helpers` enum repeats).
 */
export { RISKY_HELPERS, type RiskyHelper };

/** What a package (or a `BPF.load` call) is allowed to do: the runtime's own types. */
export type { AttachGrant, Grants } from "../runtime/policy/grants.ts";

/**
 * A kernel name a package uses: the name alone when the package needs it, or
 * `{ name, optional: true }` when it runs without it (publish accepts it missing from the
 * publisher's kernel; install and run say when this kernel lacks it).
 *
 * @example One needed tracepoint, one optional
 * ```ts
 * import type { KernelName } from "./manifest.ts";
 * const tracepoints: KernelName[] = [
 *   "syscalls:sys_enter_openat",
 *   { name: "syscalls:sys_enter_open", optional: true },
 * ];
 * ```
 */
export type KernelName = string | { name: string; optional?: boolean };

/** What the kernel must offer for the probe to run. */
export interface KernelRequirements {
  /** Needs `/sys/kernel/btf/vmlinux`. */
  btf?: boolean;
  /** Lowest kernel `major.minor`. */
  minVersion?: string;
  /** `category:event` tracepoints the programs use. */
  tracepoints?: KernelName[];
  /** Kernel functions (as /proc/kallsyms names them) the programs use. */
  functions?: KernelName[];
  /** Kernel BTF types the programs' CO-RE reads need: `struct request`, or a bare name. */
  btfTypes?: KernelName[];
}

/** Where a metric's value or label comes from: `key`, `key.pid`, `value.count`. */
export type FieldPath = string;

/** A unit of declared values. */
export type Unit =
  | "count"
  | "nanoseconds"
  | "microseconds"
  | "milliseconds"
  | "seconds"
  | "bytes"
  | "kibibytes"
  | "pages"
  | "percent"
  | "packets";

/** One label of a metric: a key (or value) field. */
export interface MetricLabel {
  /** The label name. */
  name: string;
  /** The field it comes from. */
  from: FieldPath;
  /** How the raw value is shown (`syscall`: the x86-64 syscall name, ...). */
  format?:
    | "number"
    | "string"
    | "syscall"
    | "errno"
    | "ipv4"
    | "ipv6"
    | "comm"
    | "signal";
}

/** A map exported as a metric (docs/fleet.md). */
export interface MetricDeclaration {
  /** The BPF map's name. */
  map: string;
  /** The metric's name, without unit or `_total` suffix. */
  name: string;
  /** Counter, gauge or histogram. */
  kind: "counter" | "gauge" | "histogram";
  /** One line of help. */
  help?: string;
  /** The unit of the values (of the bucket bounds, for a histogram). */
  unit?: Unit;
  /** The value field: a number, or counts by slot for a histogram. */
  value: FieldPath;
  /** Fields that become labels. */
  labels?: MetricLabel[];
  /** A histogram's slots: log2 (slot i holds values below 2^i) or linear. */
  buckets?: { layout: "log2" | "linear"; step?: number };
}

/** One field of an event record. */
export interface EventField {
  /** The field's name, as the record decodes it. */
  name: string;
  /** Its type. */
  type:
    | "u8"
    | "u16"
    | "u32"
    | "u64"
    | "s8"
    | "s16"
    | "s32"
    | "s64"
    | "bool"
    | "string"
    | "bytes"
    | "string[]";
  /** Its unit. */
  unit?: Unit;
  /** What it means (`ktime`: CLOCK_MONOTONIC ns; `errno`: a negative errno; ...). */
  format?: string;
  /** One line saying what it is. */
  description?: string;
}

/** A ring or perf buffer and its records' fields. */
export interface EventDeclaration {
  /** The buffer map's name. */
  buffer: string;
  /** Ring buffer or perf buffer. */
  kind?: "ringbuf" | "perf";
  /** The record's C type (`struct event`), which decodes it. */
  record?: string;
  /** The record's fields. */
  fields: EventField[];
}

/** A typed setting of the program, and the entry's CLI flag for it. */
export interface ParameterDeclaration {
  /** The long flag, without `--`. */
  name: string;
  /** A one-letter alias. */
  short?: string;
  /** Its type. */
  type: "boolean" | "integer" | "string" | "duration";
  /** The value when the flag is not given. */
  default?: boolean | number | string;
  /** One line of help. */
  description: string;
  /** The global it sets before the program runs (`cfg.targ_pid`). */
  variable: string;
  /**
   * The section of that global: `.rodata` (the default) is a `const volatile` set before
   * load (`BPF.load`'s `constants`), so the verifier sees it as a constant; `.bss`/`.data`
   * is written after load.
   */
  section?: ".rodata" | ".bss" | ".data";
  /** The lowest integer value. */
  minimum?: number;
  /** The highest integer value. */
  maximum?: number;
}

/** The `bpf` field of a probe package's `package.json`. */
export interface BpfManifest {
  /** The TypeScript CLI entry, relative to the package root. */
  entry: string;
  /** BPF C files the entry loads. */
  sources?: string[];
  /** Kernel requirements. */
  kernel?: KernelRequirements;
  /** Declared grants. */
  grants?: Grants;
  /** Deno permission flags the entry runs with. */
  deno?: string[];
  /** Maps exported as metrics. */
  metrics?: MetricDeclaration[];
  /** Ring/perf buffers and their records' fields. */
  events?: EventDeclaration[];
  /** Typed settings, each a CLI flag. */
  parameters?: ParameterDeclaration[];
  /** A global the programs wait for, set to 1 once the parameters are written. */
  ready?: string;
}

/** The result of {@linkcode validateBpfManifest}. */
export type ManifestValidation = { ok: true } | { ok: false; errors: string[] };

// Compiled on first use: compiling the schema costs a start (~60 ms) that `bpfpm run` of an
// installed package, which reads its manifest from the lockfile, does not need.
let compiled: ValidateFunction | undefined;
const validator = (): ValidateFunction =>
  compiled ??= new Ajv({ allErrors: true, strict: true }).compile(schema);

export { denoFlagProblem } from "./common/deno_flags.ts";

function describe(e: ErrorObject, value: unknown): string {
  const where = "bpf" +
    e.instancePath.replaceAll("/", ".").replace(/\.(\d+)/g, "[$1]");
  const flag = /^\/deno\/(\d+)$/.exec(e.instancePath);
  if (flag && e.keyword === "pattern") {
    const problem = denoFlagProblem(
      ((value as { deno?: unknown[] }).deno ?? [])[Number(flag[1])] as string,
    );
    if (problem) return `${where}: ${problem}`;
  }
  if (e.instancePath === "/grants/mapMemory") {
    return `${where}: ${describeFormat(e.instancePath)}`;
  }
  if (e.keyword === "pattern") {
    return `${where}: ${describeFormat(e.instancePath)}`;
  }
  if (
    e.keyword === "type" &&
    /^\/kernel\/(tracepoints|functions|btfTypes)\/\d+$/.test(e.instancePath)
  ) {
    return `${where}: must be a name, or { "name": NAME, "optional": true }`;
  }
  return schemaProblem(e, where);
}

/**
 * One line for an Ajv error at `where`: an unknown field by name, an enum's choices, else
 * Ajv's message. Shared by the JSON files bpfpm checks against a schema.
 *
 * @example
 * ```ts
 * import { schemaProblem } from "./manifest.ts";
 * schemaProblem({ keyword: "enum", params: { allowedValues: ["a", "b"] } } as never, "x");
 * // "x: must be one of a, b"
 * ```
 */
export function schemaProblem(e: ErrorObject, where: string): string {
  switch (e.keyword) {
    case "additionalProperties":
      return `${where}: unknown field ${
        JSON.stringify(
          (e.params as { additionalProperty: string }).additionalProperty,
        )
      }`;
    case "enum":
      return `${where}: must be one of ${
        (e.params as { allowedValues: unknown[] }).allowedValues.join(", ")
      }`;
    default:
      return `${where}: ${e.message}`;
  }
}

function describeFormat(path: string): string {
  if (/^\/deno\//.test(path)) {
    return "must be --allow-read=PATHS, --allow-write=PATHS, --allow-net[=HOSTS], --allow-env=NAMES (not BPFPM_*), --allow-sys[=NAMES] or --allow-import[=HOSTS] (comma-separated, no spaces, no empty items)";
  }
  if (/^\/kernel\/tracepoints\//.test(path)) return "must be category:event";
  if (/^\/kernel\/functions\//.test(path)) {
    return "must be a kernel function name, such as tcp_v4_connect";
  }
  if (/^\/kernel\/btfTypes\//.test(path)) {
    return "must be a type name, such as struct request or task_struct";
  }
  if (path === "/kernel/minVersion") return "must be major.minor, such as 5.8";
  if (path === "/grants/mapMemory") {
    return "must be bytes or a size such as 64MiB";
  }
  if (path === "/entry" || path.startsWith("/sources/")) {
    return "must be a relative path inside the package (no leading /, no .., no backslash)";
  }
  return "has an invalid format";
}

/** What the schema cannot say: names unique, defaults of the declared type. */
function declarationProblems(m: BpfManifest): string[] {
  const out: string[] = [];
  const seen = new Set<string>();
  m.metrics?.forEach((d, i) => {
    if (seen.has(d.name)) {
      out.push(`bpf.metrics[${i}].name: ${d.name} is declared twice`);
    }
    seen.add(d.name);
    if ((d.kind === "histogram") !== (d.buckets !== undefined)) {
      out.push(
        `bpf.metrics[${i}].buckets: ${
          d.kind === "histogram"
            ? "a histogram needs its bucket layout"
            : `a ${d.kind} has no buckets`
        }`,
      );
    }
  });
  const flags = new Set<string>();
  m.parameters?.forEach((p, i) => {
    const where = `bpf.parameters[${i}]`;
    for (const f of [p.name, p.short]) {
      if (f === undefined) continue;
      if (flags.has(f)) out.push(`${where}: flag ${f} is declared twice`);
      flags.add(f);
    }
    if ((p.section ?? ".rodata") === ".rodata" && p.variable.includes(".")) {
      out.push(
        `${where}.variable: ${p.variable} is a field, but a .rodata parameter is a const volatile global set before load: name the global, or set section to .bss or .data`,
      );
    }
    if (p.default === undefined) return;
    const ok = p.type === "boolean"
      ? typeof p.default === "boolean"
      : p.type === "integer"
      ? Number.isInteger(p.default)
      : typeof p.default === "string";
    if (!ok) {
      out.push(`${where}.default: must be of type ${p.type}`);
    }
  });
  return out;
}

/**
 * Checks a `bpf` manifest against the JSON schema.
 *
 * @param value The `bpf` field of a package.json.
 * @returns `{ ok: true }`, or `{ ok: false, errors }` with one readable line per problem.
 *
 * @example
 * ```ts
 * validateBpfManifest({ entry: "mod.ts" }); // { ok: true }
 * validateBpfManifest({}); // { ok: false, errors: ["bpf: must have required property 'entry'"] }
 * ```
 */
export function validateBpfManifest(value: unknown): ManifestValidation {
  const validate = validator();
  if (validate(value)) {
    const errors = declarationProblems(value as unknown as BpfManifest);
    return errors.length ? { ok: false, errors } : { ok: true };
  }
  const errors = [
    ...new Set(
      (validate.errors ?? []).filter((e) =>
        e.keyword !== "oneOf" && e.keyword !== "if"
      ).map((e) => describe(e, value)),
    ),
  ];
  return {
    ok: false,
    errors: errors.length ? errors : ["bpf: invalid manifest"],
  };
}

/**
 * Turns a `grants.mapMemory` value into bytes.
 *
 * @param value A byte count or a size string such as `"64MiB"`.
 * @returns The number of bytes.
 *
 * @example
 * ```ts
 * parseMapMemory("16MiB"); // 16777216
 * ```
 */
export function parseMapMemory(value: number | string): number {
  if (typeof value === "number") {
    if (!Number.isInteger(value) || value < 0) {
      throw new RangeError(`Invalid map memory ${value}`);
    }
    return value;
  }
  const m = /^([0-9]+(?:\.[0-9]+)?)\s?([A-Za-z]*)$/.exec(value);
  if (!m || !Object.hasOwn(MAP_MEMORY_UNITS, m[2])) {
    throw new RangeError(`Invalid map memory ${JSON.stringify(value)}`);
  }
  return Math.floor(Number(m[1]) * MAP_MEMORY_UNITS[m[2]]);
}
