/**
 * Printing the stack summaries of profile and offcputime: BCC's multi-line form (kernel
 * frames innermost first, `--`, user frames, then `-  comm (pid)` and the value), the folded
 * form for flame graphs (`comm;outer;...;inner value`), or JSON lines.
 *
 * @module
 */
import { type BPF, ksym, sym, unitKey } from "bpf";
import { printJsonLine, type Unit } from "./json.ts";
import { summaryLoop, UsageError } from "./cli.ts";

/** A counted stack, as the probes key their `counts` map. */
export interface StackKey {
  /** The thread. */
  pid: number;
  /** Its process. */
  tgid: number;
  /** The user stack id, negative when none was taken. */
  user_stack_id: number;
  /** The kernel stack id, negative when none was taken. */
  kern_stack_id: number;
  /** The thread's comm. */
  comm: string;
}

/** One stack row of `--json` (after its `time`; `value` is named by `StackOptions.value`). */
export interface StackRow {
  /** The process. */
  pid: number;
  /** The thread. */
  tid: number;
  /** The thread's comm. */
  comm: string;
  /** Kernel frames, innermost first. */
  kernel_stack: string[];
  /** User frames, innermost first. */
  user_stack: string[];
  /** Samples (profile) or microseconds (offcputime), under the key `StackOptions.value` names. */
  value: number;
  /** With `-A`: the kernel frames' addresses (hex), as `kernel_stack`. */
  kernel_addresses?: string[];
  /** With `-A`: the user frames' addresses (hex), as `user_stack`. */
  user_addresses?: string[];
}

/** How the stacks are printed: BCC's `-U`, `-K`, `-f`, `-d` and `--json`. */
export interface StackOptions {
  /** One JSON object a stack. */
  json: boolean;
  /** `-f`: folded stacks for flame graphs. */
  folded?: boolean;
  /** `-d`: a `--` between kernel and user frames. */
  delimited?: boolean;
  /** `-U`: user frames only. */
  userOnly?: boolean;
  /** `-K`: kernel frames only. */
  kernelOnly?: boolean;
  /** `-a`: kernel frames marked `_[k]` (profile), as in flame graphs. */
  annotations?: boolean;
  /** `-A` (profile): each frame's raw address before its symbol. */
  address?: boolean;
  /** `-s` (offcputime): `+0x<offset>` after each symbol. */
  offset?: boolean;
  /**
   * The JSON key and unit of a stack's value (`samples`; `off_cpu` in microseconds is
   * `off_cpu_us`); absent: `value`.
   */
  value?: { key: string; unit?: Unit };
}

/**
 * Reads `-U` (`user-stacks-only`), `-K` (`kernel-stacks-only`), `-f` and `-d`, which exclude
 * each other as BCC's do.
 *
 * @example
 * ```ts
 * import { stackOptions } from "./stacks.ts";
 * stackOptions({ folded: true }, false).folded; // true
 * ```
 */
export function stackOptions(
  values: Record<string, unknown>,
  json: boolean,
): StackOptions {
  if (values["user-stacks-only"] && values["kernel-stacks-only"]) {
    throw new UsageError("-U and -K exclude each other");
  }
  if (values.folded && values.offset) {
    throw new UsageError("-f and -s exclude each other: use one of them");
  }
  return {
    json,
    folded: values.folded === true,
    delimited: values.delimited === true,
    userOnly: values["user-stacks-only"] === true,
    kernelOnly: values["kernel-stacks-only"] === true,
    annotations: values.annotations === true,
    address: values.address === true,
    offset: values.offset === true,
  };
}

/**
 * What is traced and which stacks are shown, in the words of the probes' start line.
 *
 * @example
 * ```ts
 * import { stackScope } from "./stacks.ts";
 * stackScope(undefined, { json: false, userOnly: true }, 5);
 * // "of all threads by user stack for 5 secs"
 * ```
 */
export function stackScope(
  pid: unknown,
  options: StackOptions,
  duration: number | undefined,
): string {
  const shown = options.userOnly
    ? "user"
    : options.kernelOnly
    ? "kernel"
    : "user + kernel";
  return `of ${pid ? `PID ${pid}` : "all threads"} by ${shown} stack${
    duration ? ` for ${duration} secs` : ""
  }`;
}

/**
 * Prints the `counts` map's stacks once, after `duration` seconds or at Ctrl-C.
 *
 * @example
 * ```ts
 * import type { BPF } from "bpf";
 * import { summarizeStacks } from "./stacks.ts";
 * export async function report(b: BPF) {
 *   await summarizeStacks(b, 5, { json: true });
 * }
 * ```
 */
export async function summarizeStacks(
  b: BPF,
  duration: number | undefined,
  options: StackOptions,
): Promise<void> {
  await summaryLoop({ duration }, () => {
    printStacks(b, b.map<StackKey, bigint>("counts").dump(), options);
  });
}

const EFAULT = 14;
const PROBE_FRAME = /^(bpf_prog_|bpf_trace_run|__traceiter_|__bpf_trace_)/;

/**
 * Symbolizes and prints counted stacks, smallest value first (as BCC does).
 *
 * @example
 * ```ts
 * import type { BPF } from "bpf";
 * import { printStacks } from "./stacks.ts";
 * export function report(b: BPF) {
 *   printStacks(b, [], { json: false });
 * }
 * ```
 */
export function printStacks(
  b: BPF,
  entries: [StackKey, bigint | number][],
  options: StackOptions,
): void {
  const stacks = b.stackTraces("stacks");
  // A stack taken in a BTF-typed tracepoint starts in the BPF program and the tracepoint's
  // dispatch: those frames are the probe's own, not the traced task's.
  // Frames as [address, symbol]; -s adds offsets, and -A prints the symbol as BCC does
  // beside the address: with its offset and module.
  const symOpts = {
    offset: options.offset || options.address,
    module: options.address,
  };
  const kernel = (k: StackKey): [bigint, string][] => {
    if (options.userOnly || k.kern_stack_id < 0) return [];
    const frames = stacks.stack(k.kern_stack_id).map((a) =>
      [BigInt(a), ksym(a, symOpts)] as [bigint, string]
    );
    let i = 0;
    while (i < frames.length && PROBE_FRAME.test(frames[i][1])) i++;
    return frames.slice(i);
  };
  const user = (k: StackKey): [bigint, string][] =>
    options.kernelOnly || k.user_stack_id < 0
      ? []
      : stacks.stack(k.user_stack_id).map((a) => {
        try {
          return [BigInt(a), sym(a, k.tgid, symOpts)];
        } catch {
          return [BigInt(a), "[unknown]"]; // the process is gone: its mappings with it
        }
      });
  const hex = (frames: [bigint, string][]) =>
    frames.map(([a]) => `0x${a.toString(16)}`);
  // BCC's -A: "0x%-16x sym" for kernel frames, "0x%016x sym" for user frames.
  const kLine = ([a, f]: [bigint, string]) =>
    options.address ? `0x${a.toString(16).padEnd(16)} ${f}` : f;
  const uLine = ([a, f]: [bigint, string]) =>
    options.address ? `0x${a.toString(16).padStart(16, "0")} ${f}` : f;
  const sorted = [...entries].sort(([, a], [, b]) => Number(a) - Number(b));
  for (const [k, value] of sorted) {
    const kFrames = kernel(k);
    const uFrames = user(k);
    const ks = kFrames.map(([, f]) => f);
    const us = uFrames.map(([, f]) => f);
    if (options.json) {
      const row: Record<string, unknown> = {
        pid: k.tgid,
        tid: k.pid,
        comm: k.comm,
        kernel_stack: ks,
        user_stack: us,
        [unitKey(options.value?.key ?? "value", options.value?.unit)]: value,
      };
      if (options.address) {
        row.kernel_addresses = hex(kFrames);
        row.user_addresses = hex(uFrames);
      }
      printJsonLine(row);
    } else if (options.folded) {
      const kf = options.annotations ? ks.map((f) => `${f}_[k]`) : ks;
      const parts = [k.comm, ...[...us].reverse()];
      if (options.delimited && us.length && kf.length) parts.push("-");
      parts.push(...[...kf].reverse());
      console.log(`${parts.join(";")} ${value}`);
    } else {
      if (!options.userOnly) {
        if (k.kern_stack_id < 0 && k.kern_stack_id !== -EFAULT) {
          console.log("    [Missed Kernel Stack]");
        }
        for (const f of kFrames) {
          console.log(`    ${kLine(f)}${options.annotations ? "_[k]" : ""}`);
        }
      }
      if (!options.kernelOnly) {
        if (options.delimited && ks.length && us.length) console.log("    --");
        if (k.user_stack_id < 0 && k.user_stack_id !== -EFAULT) {
          console.log("    [Missed User Stack]");
        }
        for (const f of uFrames) console.log(`    ${uLine(f)}`);
      }
      console.log(`    ${"-".padEnd(16)} ${k.comm} (${k.tgid})`);
      console.log(`        ${value}\n`);
    }
  }
}
