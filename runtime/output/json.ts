/**
 * 64-bit-safe JSON: the runtime decodes 64-bit integers as bigints, which
 * `JSON.stringify` refuses. {@linkcode jsonSafe} makes a value JSON can carry (a bigint as
 * a number while exact, else its decimal string; bytes as an array of numbers), and
 * {@linkcode toJson} writes one. The one rule every JSON output of bpfpm uses (the probes'
 * `--json`, `bpfpm run --output json`).
 *
 * @module
 */

/** A bigint or bytes as JSON carries them; any other value unchanged. */
function scalar(v: unknown): unknown {
  if (typeof v === "bigint") {
    return v <= BigInt(Number.MAX_SAFE_INTEGER) &&
        v >= BigInt(Number.MIN_SAFE_INTEGER)
      ? Number(v)
      : v.toString();
  }
  if (v instanceof Uint8Array) return [...v];
  return v;
}

/**
 * A copy of `v` JSON can carry: bigints as numbers while exact (within
 * ±`Number.MAX_SAFE_INTEGER`), else decimal strings; `Uint8Array`s as arrays of numbers;
 * arrays and plain objects converted deeply.
 *
 * @param v Any value (a decoded record, a map entry, a histogram).
 * @returns The value with no bigint or byte array left in it.
 *
 * @example
 * ```ts
 * import { jsonSafe } from "bpf";
 * jsonSafe({ pid: 42n, bytes: 2n ** 64n - 1n });
 * // { pid: 42, bytes: "18446744073709551615" }
 * ```
 */
export function jsonSafe(v: unknown): unknown {
  const s = scalar(v);
  if (s !== v) return s;
  if (Array.isArray(v)) return v.map(jsonSafe);
  if (v && typeof v === "object" && !(v instanceof Date)) {
    return Object.fromEntries(
      Object.entries(v).map(([k, x]) => [k, jsonSafe(x)]),
    );
  }
  return v;
}

/**
 * `JSON.stringify` for values with bigints and bytes in them, by the rule of
 * {@linkcode jsonSafe}, without copying the value first.
 *
 * @param v The value.
 * @param space Indentation, as `JSON.stringify` takes it.
 * @returns The JSON text.
 *
 * @example
 * ```ts
 * import { BPF, toJson } from "bpf";
 * using b = await BPF.load({ file: "./counts.bpf.c" });
 * for (const [pid, n] of b.map<number, bigint>("counts")) console.log(toJson({ pid, n }));
 * ```
 */
export function toJson(v: unknown, space?: number | string): string {
  return JSON.stringify(v, (_key, value) => scalar(value), space);
}
