/**
 * perf_event programs: a program runs on every sample of a software or hardware perf event,
 * on every CPU (one event per CPU, grouped in one link) or for one process. Kernel 4.9+.
 * Hardware events need a PMU; virtual machines often have none (use `cpu-clock`).
 *
 * @module
 */
import { lib } from "../_ffi.ts";
import { checkOptions, PERF_EVENT_OPTIONS } from "../_options.ts";
import { type AttachableProgram, attachNative } from "./attachment.ts";
import type { Link } from "./link.ts";

/** perf_event_attr.type values. */
export const PerfType = { HARDWARE: 0, SOFTWARE: 1 } as const;

/**
 * Named software events (PERF_COUNT_SW_*) and hardware events (PERF_COUNT_HW_*).
 *
 * @example The named events
 * ```ts
 * import { PERF_EVENTS } from "bpf";
 * console.log(Object.keys(PERF_EVENTS).join(", "));
 * ```
 */
export const PERF_EVENTS: Record<string, { type: number; config: number }> = {
  "cpu-clock": { type: 1, config: 0 },
  "task-clock": { type: 1, config: 1 },
  "page-faults": { type: 1, config: 2 },
  "context-switches": { type: 1, config: 3 },
  "cpu-migrations": { type: 1, config: 4 },
  "minor-faults": { type: 1, config: 5 },
  "major-faults": { type: 1, config: 6 },
  "cpu-cycles": { type: 0, config: 0 },
  "instructions": { type: 0, config: 1 },
  "cache-references": { type: 0, config: 2 },
  "cache-misses": { type: 0, config: 3 },
  "branch-instructions": { type: 0, config: 4 },
  "branch-misses": { type: 0, config: 5 },
};

/**
 * What to sample. Kernel: 4.9+ (BPF on perf events).
 *
 * @example Sample one CPU at 99 Hz
 * ```ts
 * import { BPF } from "bpf";
 * using b = await BPF.load({ file: "./profile.bpf.c", autoAttach: false });
 * b.attachPerfEvent("on_sample", { event: "cpu-clock", frequency: 99, cpu: 0 });
 * ```
 */
export interface PerfEventOptions {
  /** A named event (`cpu-clock`, `page-faults`, `cpu-cycles`, ...); or give `type` + `config`. */
  event?: string;
  /** perf_event_attr.type (0 hardware, 1 software, or a PMU's type). */
  type?: number;
  /** perf_event_attr.config. */
  config?: number | bigint;
  /** Samples per second per CPU (give this or `period`). */
  frequency?: number;
  /** One sample every `period` events. */
  period?: number | bigint;
  /** Only this process (then one event follows it across CPUs). */
  pid?: number;
  /** Only this CPU (default: every online CPU). */
  cpu?: number;
}

/**
 * Attaches a perf_event program to a sampling event; the link groups one event per CPU.
 *
 * @param program a loaded `SEC("perf_event")` program
 * @param opts the event and the sampling rate
 * @returns a disposable link (`count` = events opened)
 *
 * @example Sample every CPU at 99 Hz
 * ```ts
 * import { BPF } from "bpf";
 * using b = await BPF.load({ file: "./profile.bpf.c", autoAttach: false });
 * using link = b.attachPerfEvent(b.programs.get("on_sample")!, { event: "cpu-clock", frequency: 99 });
 * ```
 */
export function attachPerfEvent(
  program: AttachableProgram,
  opts: PerfEventOptions,
): Link {
  checkOptions("attachPerfEvent", opts, PERF_EVENT_OPTIONS);
  let type = opts.type;
  let config = opts.config === undefined ? undefined : BigInt(opts.config);
  if (opts.event !== undefined) {
    const known = PERF_EVENTS[opts.event];
    if (!known) {
      throw new RangeError(
        `perf_event: unknown event ${opts.event}; known: ${
          Object.keys(PERF_EVENTS).join(", ")
        }`,
      );
    }
    type = known.type;
    config = BigInt(known.config);
  }
  if (type === undefined || config === undefined) {
    throw new TypeError("perf_event: give an event name or a type and config");
  }
  if ((opts.frequency === undefined) === (opts.period === undefined)) {
    throw new TypeError("perf_event: give exactly one of frequency and period");
  }
  const freq = opts.frequency !== undefined;
  const sample = freq
    ? BigInt(Math.round(opts.frequency!))
    : BigInt(opts.period!);
  const name = opts.event ?? `type ${type} config ${config}`;
  const target = `${name} ${freq ? `${opts.frequency} Hz` : `every ${sample}`}${
    opts.pid ? ` pid ${opts.pid}` : ""
  }${opts.cpu !== undefined ? ` cpu ${opts.cpu}` : ""}`;
  return attachNative(
    program,
    "perf_event",
    target,
    (fd) =>
      lib().bpfpm_program__attach_perf_event(
        fd,
        type!,
        config!,
        sample,
        freq ? 1 : 0,
        opts.pid ?? -1,
        opts.cpu ?? -1,
      ),
  );
}
