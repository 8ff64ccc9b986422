/**
 * The one `--json` convention of the shipped probes (probes/README.md states it): every line
 * is one JSON object whose first key is `time`, RFC 3339 with its zone (an event's own
 * `bpf_ktime_get_ns()` converted by the boot clock, or the moment a summary is printed);
 * keys are snake_case; a number with a unit says so in its key (`latency_us`, `bytes`,
 * `duration_ms`: the runtime's `unitKey`); 64-bit values never throw (the runtime's
 * `toJson`); a histogram is one object with its labels and `buckets`. `Table` (cli.ts),
 * `printHists` (hist.ts) and `printStacks` (stacks.ts) print through here, so a probe
 * cannot print another shape.
 *
 * @module
 */
import {
  type Clock,
  histogramJson,
  rfc3339,
  systemClock,
  toJson,
  UNIT_SUFFIX,
  unitKey,
} from "bpf";
import type { Unit } from "../../registry/manifest.ts";

export type { Unit };

const KEY = /^[a-z][a-z0-9_]*$/;
/**
 * Unit spellings the convention's suffixes replace (BCC's `usecs`, `kb`, a bare `ms`), and
 * a bare `ts`/`timestamp`, whose unit is unsaid (the line's `time` is the event's time; a
 * relative one is `ts_s`).
 */
const OTHER_UNIT =
  /(^|_)(usecs?|msecs?|nsecs?|secs|kb|kbytes|us|ms|ns)$|^(s|ts|timestamp)$/;
const SUFFIXES = Object.values(UNIT_SUFFIX);

let clock: Clock | undefined;

/**
 * The `time` of a JSON line: an event's kernel monotonic timestamp (`bpf_ktime_get_ns()`)
 * as RFC 3339 with the zone, or now when there is none (a summary).
 *
 * @example
 * ```ts
 * import { jsonTime } from "./json.ts";
 * jsonTime(); // e.g. "2026-12-07T03:58:01.123456Z"
 * ```
 */
export function jsonTime(ktime?: bigint): string {
  if (ktime === undefined) return rfc3339(BigInt(Date.now()) * 1_000_000n);
  clock ??= systemClock();
  return rfc3339(clock.bootNs + ktime);
}

/**
 * Throws a TypeError unless `key` may name a field of a JSON line: snake_case, not `time`
 * (which the line's printer adds), a unit only as one of the runtime's suffixes
 * (`latency_us`, not `latency_usecs`, `rx_kb` or `ms`).
 *
 * @example
 * ```ts
 * import { checkJsonKey } from "./json.ts";
 * checkJsonKey("latency_us"); // fine
 * ```
 */
export function checkJsonKey(key: string): void {
  if (key === "time") {
    throw new TypeError(
      "A JSON field may not be named time: the printer adds the line's time",
    );
  }
  if (!KEY.test(key)) {
    throw new TypeError(
      `The JSON field ${JSON.stringify(key)} is not snake_case (a-z, 0-9, _)`,
    );
  }
  if (OTHER_UNIT.test(key) && !SUFFIXES.some((s) => key.endsWith(s))) {
    throw new TypeError(
      `The JSON field ${key} spells its unit outside the convention: give its column a unit (its key then ends with one of ${
        SUFFIXES.join(" ")
      })`,
    );
  }
}

/**
 * Prints one JSON line: `time` (from `ktime`, else now) then `fields`, whose keys are
 * checked by {@link checkJsonKey} (an undefined field is left out, as JSON does); bigints
 * print as numbers while exact, else as strings.
 *
 * @example
 * ```ts
 * import { printJsonLine } from "./json.ts";
 * printJsonLine({ pid: 42, bytes: 2n ** 64n - 1n });
 * ```
 */
export function printJsonLine(
  fields: Record<string, unknown>,
  ktime?: bigint,
): void {
  // A field left undefined is not printed, so its name is not checked either.
  for (const [k, v] of Object.entries(fields)) {
    if (v !== undefined) checkJsonKey(k);
  }
  console.log(toJson({ time: jsonTime(ktime), ...fields }));
}

/** The unit BCC's histogram header names (`usecs`, `msecs`, `nsecs`). */
export function unitOfValType(valType: string): Unit {
  switch (valType) {
    case "nsecs":
      return "nanoseconds";
    case "usecs":
      return "microseconds";
    case "msecs":
      return "milliseconds";
    case "secs":
      return "seconds";
    case "kbytes":
      return "kibibytes";
    case "bytes":
      return "bytes";
    default:
      return "count";
  }
}

/** What {@link printHistJson} prints besides the buckets. */
export interface HistJsonOptions {
  /** The unit of the counted values: the buckets' `min`/`max` keys carry it. */
  unit: Unit;
  /** log2 (BCC's power-of-two slots, the default) or linear (one value a slot). */
  kind?: "log2" | "linear";
  /** The histogram's labels (`pid`, `comm`, `disk`, ...), before `buckets`. */
  labels?: Record<string, unknown>;
  /** `-e`: the average, sum and number of the counted values (`avg_<unit>`, `total_<unit>`, `count`). */
  extension?: { avg: number; total: number; count: number };
}

/**
 * Prints one histogram as one JSON line: `time`, its labels, `buckets` (each
 * `{min_<unit>, max_<unit>, count}`, up to the last non-empty one) and with `extension` its
 * `avg_<unit>`, `total_<unit>` and `count`.
 *
 * @example
 * ```ts
 * import { printHistJson } from "./json.ts";
 * printHistJson([0, 2, 5], { unit: "microseconds", labels: { pid: 42 } });
 * // {"time":"…","pid":42,"buckets":[{"min_us":0,"max_us":1,"count":2},{"min_us":2,"max_us":3,"count":5}]}
 * ```
 */
export function printHistJson(
  slots: ArrayLike<number | bigint>,
  options: HistJsonOptions,
): void {
  const min = unitKey("min", options.unit);
  const max = unitKey("max", options.unit);
  const buckets = histogramJson(slots, { kind: options.kind }).data.map((
    b,
  ) => ({
    [min]: b["interval-start"],
    [max]: b["interval-end"],
    count: b.count,
  }));
  const fields: Record<string, unknown> = { ...options.labels, buckets };
  const e = options.extension;
  if (e) {
    fields[unitKey("avg", options.unit)] = e.avg;
    fields[unitKey("total", options.unit)] = e.total;
    fields.count = e.count;
  }
  printJsonLine(fields);
}
