/**
 * How bpfpm names and times values in JSON output, the rule the probes' `--json` and
 * `bpfpm run --output json` share: a value with a unit says so in its key (`latency_us`,
 * `duration_ms`, `bytes`), and a time is RFC 3339 with its zone, converted from the
 * kernel's monotonic clock (`bpf_ktime_get_ns`) by the wall clock at boot.
 *
 * @module
 */
import { lib } from "../_ffi.ts";

/**
 * The key suffix of each declared unit (a count has none).
 *
 * @example
 * ```ts
 * import { UNIT_SUFFIX } from "./time.ts";
 * UNIT_SUFFIX.microseconds; // "_us"
 * ```
 */
export const UNIT_SUFFIX: Readonly<Record<string, string>> = {
  nanoseconds: "_ns",
  microseconds: "_us",
  milliseconds: "_ms",
  seconds: "_s",
  bytes: "_bytes",
  kibibytes: "_kib",
  pages: "_pages",
  percent: "_pct",
  packets: "_packets",
};

/**
 * A field's JSON key: `name` with its unit's suffix appended, unless it already ends with it
 * (`bytes` stays `bytes`, `latency` in microseconds becomes `latency_us`).
 *
 * @example
 * ```ts
 * import { unitKey } from "./time.ts";
 * unitKey("latency", "microseconds"); // "latency_us"
 * unitKey("bytes", "bytes"); // "bytes"
 * ```
 */
export function unitKey(name: string, unit?: string): string {
  const s = unit === undefined ? undefined : UNIT_SUFFIX[unit];
  if (!s || name.endsWith(s) || `_${name}` === s) return name;
  return name + s;
}

/** Converts CLOCK_MONOTONIC nanoseconds to wall-clock time. */
export interface Clock {
  /** Wall-clock nanoseconds since the epoch at monotonic time 0 (boot). */
  bootNs: bigint;
}

/**
 * The wall clock at CLOCK_MONOTONIC zero, the clock of BPF's `bpf_ktime_get_ns`: read by the
 * native library (CLOCK_REALTIME between two CLOCK_MONOTONIC reads, to the microsecond);
 * without it (no FFI permission), from `/proc/uptime` (CLOCK_BOOTTIME in hundredths of a
 * second, which also counts time spent suspended). A package run by `bpfpm run` gets it
 * from the trusted side.
 *
 * @example
 * ```ts
 * import { rfc3339, systemClock } from "./time.ts";
 * const ktime = 5_000_000_000n; // an event's bpf_ktime_get_ns()
 * console.log(rfc3339(systemClock().bootNs + ktime));
 * ```
 */
export function systemClock(): Clock {
  try {
    return { bootNs: BigInt(lib().bpfpm_clock__boot_ns()) };
  } catch {
    // No native library here, or no FFI permission: the coarser clock below.
  }
  const up = Number(Deno.readTextFileSync("/proc/uptime").split(" ")[0]);
  return {
    bootNs: BigInt(Date.now()) * 1_000_000n - BigInt(Math.round(up * 1e9)),
  };
}

/**
 * RFC 3339 with the local zone's offset, to the microsecond.
 *
 * @example
 * ```ts
 * import { rfc3339 } from "./time.ts";
 * rfc3339(0n); // "1970-01-01T00:00:00.000000Z" with TZ=UTC
 * ```
 */
export function rfc3339(epochNs: bigint): string {
  const ms = Number(epochNs / 1_000_000n);
  const d = new Date(ms);
  const off = -d.getTimezoneOffset();
  const local = new Date(ms + off * 60_000).toISOString().slice(0, 19);
  const frac = (epochNs % 1_000_000_000n + 1_000_000_000n) % 1_000_000_000n;
  const us = String(frac / 1000n).padStart(6, "0");
  const zone = off === 0
    ? "Z"
    : `${off > 0 ? "+" : "-"}${
      String(Math.floor(Math.abs(off) / 60)).padStart(2, "0")
    }:${String(Math.abs(off) % 60).padStart(2, "0")}`;
  return `${local}.${us}${zone}`;
}
