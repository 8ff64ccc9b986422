/**
 * BPF grants: what a script or probe package may do (docs/manifest.md, `bpf.grants`), and
 * their validation.
 *
 * @module
 */

import { PROGRAM_KINDS, type ProgramKind } from "../spec/section_kinds.ts";

/**
 * A risky helper class, such as `send_signal`.
 *
 * @example Grant one
 * ```ts
 * import type { Grants, RiskyHelper } from "bpf";
 * const helper: RiskyHelper = "send_signal";
 * const grants: Grants = { helpers: [helper] };
 * console.log(grants);
 * ```
 */
export type RiskyHelper =
  | "probe_write_user"
  | "send_signal"
  | "override_return"
  | "packet_rewrite"
  | "packet_redirect"
  | "packet_drop";

/** The risky helper classes a grant set can name. */
export const RISKY_HELPERS: readonly RiskyHelper[] = [
  "probe_write_user",
  "send_signal",
  "override_return",
  "packet_rewrite",
  "packet_redirect",
  "packet_drop",
];

/**
 * One granted attach kind, with an optional target glob (`syscalls:sys_enter_*`).
 *
 * @example Allow syscall tracepoints only
 * ```ts
 * import type { AttachGrant } from "bpf";
 * const grant: AttachGrant = { kind: "tracepoint", target: "syscalls:sys_enter_*" };
 * ```
 */
export interface AttachGrant {
  /** The program kind granted (an attach kind, or another program kind such as `sockops`). */
  kind: ProgramKind;
  /**
   * A glob over targets (`*` any run of characters, `?` one character): `cat:event` for
   * tracepoints, the function for kprobe/fentry/raw_tp/lsm/iter, `binary:symbol` for
   * uprobes, `binary:provider:name` for USDT, `ingress`/`egress` for tc, the attach point
   * (`skb/ingress`, `connect4`) for cgroup programs, the interface name for XDP. Absent: any.
   */
  target?: string;
  /**
   * True when the package runs without this target: `bpfpm publish` accepts it missing
   * from the publisher's kernel, install and run say when this kernel lacks it. It grants
   * nothing more or less.
   */
  optional?: boolean;
}

/**
 * What a script or package may do; the shape of `bpf.grants` in a package.json. A field left
 * out keeps its default: every attach kind, no risky helper, no map memory cap. An empty
 * `attach: []` allows no attach kind.
 *
 * @example Load under a narrow grant set
 * ```ts
 * import { BPF, type Grants } from "bpf";
 * const grants: Grants = {
 *   attach: [{ kind: "tracepoint", target: "syscalls:*" }],
 *   helpers: [],
 *   mapMemory: "16MiB",
 * };
 * using b = await BPF.load({ file: "./probe.bpf.c", grants });
 * ```
 */
export interface Grants {
  /** Attach kinds, each with an optional target glob. */
  attach?: AttachGrant[];
  /** Risky helpers the programs may call. */
  helpers?: RiskyHelper[];
  /**
   * Risky kernel functions (kfuncs) the programs may call, by name (see
   * `RISKY_KFUNCS` in runtime/policy/check.ts); other kfuncs need no grant.
   */
  kfuncs?: string[];
  /** Cap on the summed map memory: bytes, or a string such as `"64MiB"`. */
  mapMemory?: number | string;
}

/**
 * The units a `mapMemory` size string may end in, as bytes per unit (`""` is bytes); the
 * registry's manifest schema accepts exactly these.
 *
 * @example Bytes in a MiB
 * ```ts
 * import { MAP_MEMORY_UNITS } from "./grants.ts";
 * MAP_MEMORY_UNITS.MiB; // 1048576
 * ```
 */
export const MAP_MEMORY_UNITS: Readonly<Record<string, number>> = {
  "": 1,
  B: 1,
  k: 1024,
  K: 1024,
  KiB: 1024,
  KB: 1000,
  kB: 1000,
  M: 1024 ** 2,
  MiB: 1024 ** 2,
  MB: 1000 ** 2,
  G: 1024 ** 3,
  GiB: 1024 ** 3,
  GB: 1000 ** 3,
};

/**
 * A `mapMemory` value in bytes.
 *
 * @param value bytes, or a size such as `"64MiB"`, `"512 KiB"`, `"1GB"`
 * @returns bytes; throws a RangeError for anything else
 *
 * @example
 * ```ts
 * import { mapMemoryBytes } from "./grants.ts";
 * mapMemoryBytes("16MiB"); // 16777216
 * ```
 */
export function mapMemoryBytes(value: number | string): number {
  if (typeof value === "number") {
    if (!Number.isSafeInteger(value) || value < 0) {
      throw new RangeError(
        `mapMemory must be a whole number of bytes or a size such as "64MiB", got ${value}`,
      );
    }
    return value;
  }
  const m = typeof value === "string"
    ? /^([0-9]+(?:\.[0-9]+)?)\s?([A-Za-z]*)$/.exec(value)
    : null;
  if (!m || !Object.hasOwn(MAP_MEMORY_UNITS, m[2])) {
    throw new RangeError(
      `mapMemory must be a whole number of bytes or a size such as "64MiB", got ${
        JSON.stringify(value)
      }`,
    );
  }
  return Math.floor(Number(m[1]) * MAP_MEMORY_UNITS[m[2]]);
}

/**
 * Formats bytes the way a person writes a cap: `16MiB`, `1.5GiB`, `900B`.
 *
 * @param bytes a byte count
 * @returns a size string `mapMemoryBytes` reads back to at least `bytes`
 *
 * @example
 * ```ts
 * import { formatBytes } from "./grants.ts";
 * formatBytes(16 * 1024 * 1024); // "16MiB"
 * ```
 */
export function formatBytes(bytes: number): string {
  for (
    const [unit, size] of [["GiB", 1024 ** 3], ["MiB", 1024 ** 2], [
      "KiB",
      1024,
    ]] as const
  ) {
    if (bytes >= size) {
      const v = Math.ceil((bytes / size) * 10) / 10;
      return `${Number.isInteger(v) ? v : v.toFixed(1)}${unit}`;
    }
  }
  return `${bytes}B`;
}

/**
 * Checks that a value is a {@link Grants} object and returns a normalized copy. Throws a
 * TypeError naming the path of the first bad field and what it must be.
 *
 * @param value the candidate (parsed JSON, or `BPF.load`'s `grants` option)
 * @param where where it came from, for messages, e.g. `BPFPM_GRANTS`
 * @returns the grants, with `mapMemory` kept as given
 *
 * @example
 * ```ts
 * import { validateGrants } from "./grants.ts";
 * validateGrants({ attach: [{ kind: "tracepoint", target: "sched:*" }] }, "grants");
 * ```
 */
export function validateGrants(value: unknown, where = "grants"): Grants {
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    throw new TypeError(
      `${where} must be an object with attach, helpers and mapMemory fields, got ${
        Array.isArray(value)
          ? "an array"
          : value === null
          ? "null"
          : typeof value
      }`,
    );
  }
  const v = value as Record<string, unknown>;
  for (const k of Object.keys(v)) {
    if (!["attach", "helpers", "mapMemory"].includes(k)) {
      throw new TypeError(
        `${where} has an unknown field ${
          JSON.stringify(k)
        }: the fields are attach, helpers and mapMemory`,
      );
    }
  }
  const out: Grants = {};
  if (v.attach !== undefined) {
    if (!Array.isArray(v.attach)) {
      throw new TypeError(
        `${where}.attach must be an array of { kind, target? }`,
      );
    }
    out.attach = v.attach.map((a, i) => {
      const at = `${where}.attach[${i}]`;
      if (a === null || typeof a !== "object" || Array.isArray(a)) {
        throw new TypeError(`${at} must be an object { kind, target? }`);
      }
      const { kind, target, optional, ...rest } = a as Record<
        string,
        unknown
      >;
      if (Object.keys(rest).length) {
        throw new TypeError(
          `${at} has an unknown field ${
            JSON.stringify(Object.keys(rest)[0])
          }: only kind, target and optional`,
        );
      }
      if (optional !== undefined && typeof optional !== "boolean") {
        throw new TypeError(`${at}.optional must be true or false when given`);
      }
      if (
        typeof kind !== "string" ||
        !(PROGRAM_KINDS as readonly string[]).includes(kind)
      ) {
        throw new TypeError(
          `${at}.kind must be one of ${PROGRAM_KINDS.join(", ")}, got ${
            JSON.stringify(kind)
          }`,
        );
      }
      if (
        target !== undefined && (typeof target !== "string" || target === "")
      ) {
        throw new TypeError(
          `${at}.target must be a non-empty glob string when given`,
        );
      }
      return target === undefined
        ? { kind: kind as ProgramKind }
        : { kind: kind as ProgramKind, target: target as string };
    });
  }
  if (v.helpers !== undefined) {
    if (!Array.isArray(v.helpers)) {
      throw new TypeError(
        `${where}.helpers must be an array of ${RISKY_HELPERS.join(", ")}`,
      );
    }
    out.helpers = v.helpers.map((h, i) => {
      if (!(RISKY_HELPERS as readonly unknown[]).includes(h)) {
        throw new TypeError(
          `${where}.helpers[${i}] must be one of ${
            RISKY_HELPERS.join(", ")
          }, got ${JSON.stringify(h)}`,
        );
      }
      return h as RiskyHelper;
    });
  }
  if (v.kfuncs !== undefined) {
    if (
      !Array.isArray(v.kfuncs) ||
      v.kfuncs.some((k) =>
        typeof k !== "string" || !/^[A-Za-z_][A-Za-z0-9_]*$/.test(k)
      )
    ) {
      throw new TypeError(
        `${where}.kfuncs must be an array of kernel function names, such as "bpf_send_signal_task"`,
      );
    }
    out.kfuncs = [...v.kfuncs];
  }
  if (v.mapMemory !== undefined) {
    if (typeof v.mapMemory !== "number" && typeof v.mapMemory !== "string") {
      throw new TypeError(
        `${where}.mapMemory must be bytes or a size such as "64MiB"`,
      );
    }
    try {
      mapMemoryBytes(v.mapMemory);
    } catch (e) {
      throw new TypeError(`${where}.mapMemory: ${(e as Error).message}`, {
        cause: e,
      });
    }
    out.mapMemory = v.mapMemory;
  }
  return out;
}

/**
 * Whether `text` matches a glob where `*` is any run of characters and `?` one character.
 *
 * @param glob the pattern
 * @param text the candidate
 * @returns true on a match of the whole text
 *
 * @example
 * ```ts
 * import { globMatch } from "./grants.ts";
 * globMatch("syscalls:sys_enter_*", "syscalls:sys_enter_openat"); // true
 * ```
 */
export function globMatch(glob: string, text: string): boolean {
  return matchAt(glob, 0, text, 0, false);
}

/**
 * Whether every text `inner` matches is matched by `outer` too (sound, not complete): a `*` in
 * `inner` is only covered by a `*` in `outer`, a `?` by a `?` or `*`.
 *
 * @param outer the wider glob
 * @param inner the glob that should be narrower
 * @returns true when `inner` is provably within `outer`
 *
 * @example
 * ```ts
 * import { globCovers } from "./grants.ts";
 * globCovers("syscalls:*", "syscalls:sys_enter_*"); // true
 * ```
 */
export function globCovers(outer: string, inner: string): boolean {
  return matchAt(outer, 0, inner, 0, true);
}

function matchAt(
  g: string,
  gi: number,
  t: string,
  ti: number,
  wild: boolean,
): boolean {
  // Iterative matching with one backtrack point for the last `*`, the classic linear scheme.
  let starG = -1, starT = -1;
  while (ti < t.length) {
    const gc = g[gi];
    const tc = t[ti];
    const tIsWild = wild && (tc === "*" || tc === "?");
    if (gi < g.length && gc === "*") {
      starG = gi++;
      starT = ti;
      continue;
    }
    if (
      gi < g.length &&
      (gc === "?" ? tc !== "*" || !wild : gc === tc && !tIsWild)
    ) {
      gi++;
      ti++;
      continue;
    }
    if (starG >= 0) {
      gi = starG + 1;
      ti = ++starT;
      continue;
    }
    return false;
  }
  while (gi < g.length && g[gi] === "*") gi++;
  return gi === g.length;
}
