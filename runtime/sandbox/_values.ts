/**
 * JSON-safe values for the sandbox channel: options and results may hold bigints (addresses,
 * cookies, perf configs), which JSON cannot; they cross as `{ "$bigint": "123" }`.
 *
 * @module
 */

/**
 * A copy of `value` whose bigints are tagged objects.
 *
 * @param value options or a result
 * @returns the JSON-safe copy
 */
export function toWire(value: unknown): unknown {
  if (typeof value === "bigint") return { $bigint: value.toString() };
  if (Array.isArray(value)) return value.map(toWire);
  if (value && typeof value === "object" && !(value instanceof Uint8Array)) {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) {
      if (typeof v !== "function" && !(v instanceof AbortSignal)) {
        out[k] = toWire(v);
      }
    }
    return out;
  }
  return value;
}

/**
 * The value `toWire` encoded, with its bigints back; only plain data comes out (objects
 * have no prototype, so a key such as `__proto__` or `constructor` is just a key).
 *
 * @param value what came over the channel
 * @param depth how deep the value may nest
 * @returns the decoded value
 */
export function fromWire(value: unknown, depth = 0): unknown {
  if (depth > 32) throw new RangeError("a value nested more than 32 deep");
  if (Array.isArray(value)) return value.map((v) => fromWire(v, depth + 1));
  if (value && typeof value === "object") {
    const o = value as Record<string, unknown>;
    const keys = Object.keys(o);
    if (keys.length === 1 && keys[0] === "$bigint") {
      if (typeof o.$bigint !== "string" || !/^-?\d{1,40}$/.test(o.$bigint)) {
        throw new TypeError("a malformed bigint");
      }
      return BigInt(o.$bigint);
    }
    const out = Object.create(null) as Record<string, unknown>;
    for (const k of keys) out[k] = fromWire(o[k], depth + 1);
    return out;
  }
  return value;
}
