/**
 * Records and metric rows as a probe's declaration describes them, for `bpfpm run NAME
 * --output table|json|ndjson --fields a,b`: every field, units in the names (`span_ns`,
 * `delta_us`), times as RFC 3339 with their zone, errnos and addresses by name, 64-bit
 * values as JSON numbers while exact and as strings beyond 2^53 (never a thrown
 * `JSON.stringify`).
 *
 * @module
 */
import type { EventField } from "../manifest.ts";
import { labelValue } from "../agent/series.ts";
import { jsonSafe } from "../../runtime/output/json.ts";
import {
  type Clock,
  rfc3339,
  systemClock,
  unitKey,
} from "../../runtime/output/time.ts";

/** A 64-bit-safe JSON value (the runtime's one rule: `jsonSafe` in runtime/output/json.ts). */
export { jsonSafe };

/**
 * A field's name in rendered output: its unit appended unless the name has it (a time
 * shown as RFC 3339 keeps its name).
 */
export function fieldName(f: EventField): string {
  return f.format === "ktime" || f.format === "walltime"
    ? f.name
    : unitKey(f.name, f.unit);
}

/** The boot clock and RFC 3339 times (the runtime's one rule: runtime/output/time.ts). */
export { type Clock, rfc3339, systemClock };

function formatValue(
  raw: unknown,
  f: EventField,
  record: Record<string, unknown>,
  clock: Clock,
): unknown {
  switch (f.format) {
    case "ktime":
      return typeof raw === "bigint" || typeof raw === "number"
        ? rfc3339(clock.bootNs + BigInt(raw))
        : raw;
    case "errno":
      // A negative value is an errno; zero or more is a result (an fd, a count).
      return Number(raw) < 0
        ? labelValue(raw, { name: f.name, from: "value", format: "errno" })
        : jsonSafe(raw);
    case "signal":
    case "ipv4":
    case "ipv6":
      return labelValue(raw, { name: f.name, from: "value", format: f.format });
    case "ip":
      return labelValue(raw, {
        name: f.name,
        from: "value",
        format: Number(record.family) === 2 ? "ipv4" : "ipv6",
      });
    case "syscall":
      return labelValue(raw, {
        name: f.name,
        from: "value",
        format: "syscall",
      });
    case "hex":
      return typeof raw === "bigint" || typeof raw === "number"
        ? `0x${raw.toString(16)}`
        : raw;
    case "walltime":
      return typeof raw === "bigint" || typeof raw === "number"
        ? rfc3339(BigInt(raw))
        : raw;
    default:
      // A fixed array of strings (argv) ends at its first unused slot.
      if (f.type === "string[]" && Array.isArray(raw)) {
        const end = raw.findLastIndex((x) => x !== "");
        return raw.slice(0, end + 1);
      }
      return jsonSafe(raw);
  }
}

/**
 * One decoded record as its declaration says: declared fields in order, renamed with their
 * units and formatted; a field the record lacks is left out.
 *
 * @example
 * ```ts
 * import { formatRecord } from "./format.ts";
 * formatRecord({ pid: 7, retval: -2, span_ns: 5n }, [
 *   { name: "pid", type: "u32" },
 *   { name: "retval", type: "s32", format: "errno" },
 *   { name: "span_ns", type: "u64", unit: "nanoseconds" },
 * ], { bootNs: 0n });
 * // { pid: 7, retval: "ENOENT", span_ns: 5 }
 * ```
 */
export function formatRecord(
  record: Record<string, unknown>,
  fields: readonly EventField[],
  clock: Clock,
): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const f of fields) {
    if (!(f.name in record)) continue;
    out[fieldName(f)] = formatValue(record[f.name], f, record, clock);
  }
  return out;
}

/** How `bpfpm run --output` prints. */
export type OutputFormat = "table" | "json" | "ndjson";

/**
 * Prints rows as a table (a header, then padded columns), NDJSON (one object a line) or
 * one JSON array (opened at the first row, closed by `end()`), keeping only `fields` when
 * given.
 *
 * @example
 * ```ts
 * import { RowWriter } from "./format.ts";
 * const w = new RowWriter("table", ["pid", "comm"], (l) => console.log(l));
 * w.row({ pid: 1, comm: "init", extra: true });
 * w.end();
 * ```
 */
export class RowWriter {
  #format: OutputFormat;
  #fields?: string[];
  #out: (line: string) => void;
  #columns?: string[];
  #widths: number[] = [];
  #pending: string[][] = [];
  #count = 0;

  constructor(
    format: OutputFormat,
    fields: string[] | undefined,
    out: (line: string) => void,
  ) {
    if (!["table", "json", "ndjson"].includes(format)) {
      throw new RangeError(
        `--output ${format} is not an output: use table, json or ndjson`,
      );
    }
    this.#format = format;
    this.#fields = fields?.length ? fields : undefined;
    this.#out = out;
  }

  /** Prints one row. */
  row(row: Record<string, unknown>): void {
    const picked: Record<string, unknown> = this.#fields
      ? Object.fromEntries(
        this.#fields.filter((f) => f in row).map((f) => [f, row[f]]),
      )
      : row;
    const safe = jsonSafe(picked) as Record<string, unknown>;
    if (this.#format === "ndjson") {
      this.#out(JSON.stringify(safe));
    } else if (this.#format === "json") {
      this.#out(`${this.#count ? "," : "["}${JSON.stringify(safe)}`);
    } else {
      this.#columns ??= this.#fields ?? Object.keys(safe);
      this.#pending.push(this.#columns.map((c) => {
        const v = safe[c];
        return v === undefined
          ? "-"
          : typeof v === "object"
          ? JSON.stringify(v)
          : String(v);
      }));
    }
    this.#count++;
  }

  /**
   * Prints the table rows held back so far, with columns as wide as every row printed yet
   * needs (the header first); NDJSON and JSON rows are printed as they come.
   */
  flush(): void {
    if (!this.#columns || !this.#pending.length) return;
    const head = !this.#widths.length;
    if (head) this.#widths = this.#columns.map((c) => c.length);
    for (const r of this.#pending) {
      r.forEach((c, i) =>
        this.#widths[i] = Math.max(this.#widths[i], c.length)
      );
    }
    const line = (cells: string[]) =>
      cells.map((c, i) =>
        i === cells.length - 1 ? c : c.padEnd(this.#widths[i])
      )
        .join("  ");
    if (head) this.#out(line(this.#columns.map((c) => c.toUpperCase())));
    for (const r of this.#pending) this.#out(line(r));
    this.#pending = [];
  }

  /** Ends the output: the held-back table rows, or the JSON array's end. */
  end(): void {
    this.flush();
    if (this.#format === "json") this.#out(this.#count ? "]" : "[]");
  }
}
