/**
 * JSON with sorted keys, so the same value always gives the same text: the lockfile is
 * written so, and publisher signatures sign their payload so.
 *
 * @module
 */

/**
 * `JSON.stringify` with object keys sorted at every level, undefined members dropped,
 * two-space indent and a final newline.
 *
 * @example
 * ```ts
 * import { stableStringify } from "./stable_json.ts";
 * stableStringify({ b: 1, a: 2 }) === stableStringify({ a: 2, b: 1 }); // true
 * ```
 */
export function stableStringify(value: unknown): string {
  const sort = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(sort);
    if (v && typeof v === "object") {
      const out: Record<string, unknown> = Object.create(null);
      for (const k of Object.keys(v as Record<string, unknown>).sort()) {
        const x = (v as Record<string, unknown>)[k];
        if (x !== undefined) out[k] = sort(x);
      }
      return out;
    }
    return v;
  };
  return JSON.stringify(sort(value), null, 2) + "\n";
}
