/**
 * What the BCC passes learn about one source and hand to each other: the maps declared, the
 * program kind of each function, and the options of the rewrite.
 *
 * @module
 */
import type { RewriteContext } from "../rewrite.ts";
import { maskC } from "../_scan.ts";
import type { RegsHelper } from "./regs_helpers.ts";

/** A map declared with one of BCC's macros (or a libbpf `SEC(".maps")` struct). */
export interface BccMap {
  /** The map's name. */
  name: string;
  /** The declaring macro, e.g. `BPF_HASH`; `SEC` for a libbpf-style map. */
  macro: string;
  /** BCC's table type, e.g. `hash`, `perf_output`, `ringbuf`. */
  type: string;
  /** 1-based line of the declaration. */
  line: number;
}

/** How a function's pointers may be read. */
export type ReadMode =
  /** Kernel pointers must be read with CO-RE reads (kprobe, tracepoint, raw_tp, ...). */
  | "probe"
  /** BTF-typed program (fentry, fexit, LSM, tp_btf, iter): direct access works. */
  | "btf";

/** A program the BCC passes made or recognised. */
export interface BccProgram {
  /** The program's (function's) name. */
  name: string;
  /** Its ELF section. */
  section: string;
  /** The BCC form it came from, e.g. `kprobe__`, `KFUNC_PROBE`, `TRACEPOINT_PROBE`. */
  form: string;
  /** For a syscall kprobe loaded as its syscall tracepoint: that tracepoint. */
  fallback?: string;
}

/** Options of the BCC rewrite. */
export interface BccOptions {
  /**
   * Whether the kernel has kprobes. Without them, a syscall kprobe (`kprobe__sys_X`,
   * `syscall__X`, `kretprobe__sys_X`) becomes a program on the syscall's tracepoint.
   * Default: detected (`/sys/bus/event_source/devices/kprobe`).
   */
  kprobes?: boolean;
  /** `LINUX_VERSION_CODE` for `<linux/version.h>`. Default: from the running kernel. */
  kernelVersion?: string;
}

/** The shared state of the BCC passes over one source. */
export interface BccState {
  options: BccOptions;
  maps: Map<string, BccMap>;
  /** Read mode by function name (including the inner functions of generated wrappers). */
  readModes: Map<string, ReadMode>;
  /** Functions whose struct pointer parameters point at user memory (syscall arguments). */
  userPointerFunctions: Set<string>;
  programs: BccProgram[];
  /** Static helpers reading registers through a `struct pt_regs *` parameter (regs_helpers.ts). */
  regsHelpers: Map<string, RegsHelper>;
  /** Functions whose bodies have the hidden register parameters (and pass them on). */
  hiddenRegs: Set<string>;
  /** Whether the source uses BCC's dialect (then the BCC header is included). */
  bcc: boolean;
  /** Whether the source as written declares sections itself (libbpf style). */
  hasSec: boolean;
  /** The source as the user wrote it. */
  source: string;
}

const states = new WeakMap<RewriteContext, BccState>();

/** The BCC state of a rewrite, made on first use. */
export function bccState(ctx: RewriteContext, options?: BccOptions): BccState {
  let s = states.get(ctx);
  if (!s) {
    s = {
      options: options ?? {},
      maps: new Map(),
      readModes: new Map(),
      userPointerFunctions: new Set(),
      programs: [],
      regsHelpers: new Map(),
      hiddenRegs: new Set(),
      bcc: false,
      hasSec: /\bSEC\s*\(/.test(maskC(ctx.text)),
      source: ctx.text,
    };
    states.set(ctx, s);
  }
  return s;
}

/** Names of the BPF_PROG-style macros whose first argument is the program's name. */
export const NAMING_MACROS = new Set([
  "BPF_PROG",
  "BPF_PROG2",
  "BPF_KPROBE",
  "BPF_KRETPROBE",
  "BPF_KSYSCALL",
  "BPF_UPROBE",
  "BPF_URETPROBE",
]);
