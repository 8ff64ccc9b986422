/**
 * kprobes and kretprobes: a program runs at a kernel function's entry (or return). Needs
 * CONFIG_KPROBES (the kprobe PMU, 4.17+, or tracefs kprobe_events); `maxactive` uses
 * kprobe_events; `cookie` needs 5.15+.
 *
 * On a kernel without kprobes, a syscall kprobe (`kprobe__sys_clone`, `__x64_sys_openat`,
 * `ksyscall/openat`) falls back to the syscall's tracepoint (`syscalls:sys_enter_clone`,
 * kretprobes `sys_exit_*`) and says so once on stderr. The fallback reloads the program's
 * instructions as a tracepoint program, so it works for programs that do not read registers
 * (counting, pid/comm/stack from helpers); one that reads `PT_REGS_PARMn(ctx)` is refused by
 * the verifier with a message pointing at `TRACEPOINT_PROBE(syscalls, ...)`. A syscall
 * function outside the syscall table (no tracepoint: x86-64's old `__x64_sys_stat`) gets a
 * link attached to nothing, as BCC's kprobe there never fires (`unreachableSyscall`).
 *
 * @module
 */
import { cstr, lastError, lib, type LinkHandle } from "../_ffi.ts";
import {
  attachCall,
  checkArgument,
  checkOptions,
  KERNEL_FUNCTION,
  KPROBE_OPTIONS,
} from "../_options.ts";
import { AttachError, Errno } from "../errors.ts";
import { tracefsDir } from "../trace/tracefs.ts";
import { kernelPathExists, readKernelFile } from "../_kernel_files.ts";
import {
  type AttachableProgram,
  attachNative,
  checkProgram,
} from "./attachment.ts";
import { Link, linkHandle } from "./link.ts";

/**
 * Where a kprobe goes. Kernel: CONFIG_KPROBES; `cookie` 5.15+.
 *
 * @example A kretprobe with more instances in flight
 * ```ts
 * import { BPF } from "bpf";
 * using b = await BPF.load({ file: "./probe.bpf.c", autoAttach: false });
 * b.attachKretprobe("on_ret", "do_sys_openat2", { maxactive: 64, fallback: "error" });
 * ```
 */
export interface KprobeOptions {
  /** Bytes past the function's start (kprobe only). */
  offset?: number | bigint;
  /** kretprobe: how many instances may be pending at once (uses tracefs kprobe_events). */
  maxactive?: number;
  /** A value the program reads with `bpf_get_attach_cookie()` (5.15+). */
  cookie?: bigint;
  /**
   * What to do for a syscall function when the kernel has no kprobes: `"tracepoint"`
   * (default) attaches to its syscall tracepoint instead; `"error"` throws.
   */
  fallback?: "tracepoint" | "error";
}

const SYSCALL_PREFIXES = [
  "__x64_sys_",
  "__ia32_sys_",
  "__arm64_sys_",
  "__s390x_sys_",
  "__riscv_sys_",
  "__se_sys_",
  "__do_sys_",
  "ksys_",
  "sys_",
];

/**
 * The syscall a kernel function name stands for (`__x64_sys_openat`, `sys_clone` → `openat`,
 * `clone`), or `undefined` when it is not a syscall entry.
 *
 * @param func a kernel function name
 * @returns the syscall's name
 *
 * @example
 * ```ts
 * import { syscallName } from "./kprobe.ts";
 * syscallName("__x64_sys_openat"); // "openat"
 * ```
 */
export function syscallName(func: string): string | undefined {
  for (const p of SYSCALL_PREFIXES) {
    if (func.startsWith(p) && func.length > p.length) {
      return func.slice(p.length);
    }
  }
  return undefined;
}

const warned = new Set<string>();

/** Whether this kernel has kprobes (the kprobe PMU or tracefs kprobe_events). */
export function haveKprobes(): boolean {
  return lib().bpfpm_probe__kprobes() === 1;
}

/** Whether kernel function `func` exists (a text symbol in /proc/kallsyms). */
function kernelHasFunction(func: string): boolean {
  const text = readKernelFile("/proc/kallsyms", 8 << 20) ?? "";
  for (const type of "tTwW") {
    const at = text.indexOf(` ${type} ${func}\n`);
    if (at >= 0) return true;
  }
  return false;
}

/**
 * A kprobe on a syscall function that nothing can reach, on a kernel without kprobes: the
 * kernel makes a syscall tracepoint for every syscall of its syscall table, so a syscall
 * function it has (kallsyms) without one is outside the table (x86-64's old
 * `__x64_sys_stat`, whose `stat` the table maps to `newstat`), nothing enters it, and BCC's
 * kprobe there is attached and never fires. This says so once on stderr and gives a link
 * attached to nothing. `undefined` when the syscall has a tracepoint, the function does not
 * exist, or the kernel has no syscall tracepoints at all: the caller's error applies then.
 *
 * @param program The program's name.
 * @param func The kernel function, e.g. `__x64_sys_stat`.
 * @param ret A kretprobe rather than a kprobe.
 * @returns The link, or `undefined`.
 *
 * @example
 * ```ts
 * import { unreachableSyscall } from "./kprobe.ts";
 * const link = unreachableSyscall("on_stat", "__x64_sys_stat", false); // count 0, or undefined
 * ```
 */
export function unreachableSyscall(
  program: string,
  func: string,
  ret: boolean,
): Link | undefined {
  const syscall = syscallName(func);
  const events = `${tracefsDir()}/events/syscalls`;
  if (
    !syscall || !kernelPathExists(events) ||
    kernelPathExists(`${events}/sys_enter_${syscall}`) ||
    !kernelHasFunction(func)
  ) return undefined;
  if (!warned.has(func)) {
    warned.add(func);
    console.error(
      `bpfpm: ${func} is not in this kernel's syscall table (it has no tracepoint syscalls:sys_enter_${syscall}), so nothing calls it: kprobes and kretprobes on it (program '${program}') are attached to nothing and never fire, as in BCC`,
    );
  }
  return Link.unattached({
    kind: ret ? "kretprobe" : "kprobe",
    target: func,
    program,
  });
}

/**
 * Syscall kprobes on a kernel without kprobes: one tracepoint twin of the program attached to
 * the syscall tracepoint of every function (`sys_enter_*`, kretprobes `sys_exit_*`), said once
 * on stderr. A function outside the syscall table is attached to nothing (see
 * {@linkcode unreachableSyscall}).
 *
 * @param program The kprobe (or kprobe.multi) program.
 * @param funcs Syscall functions, each with a {@linkcode syscallName}.
 * @param ret Kretprobes rather than kprobes.
 * @returns One link grouping the tracepoints (`count`), or an unattached one.
 */
export function fallbackToTracepoints(
  program: AttachableProgram,
  funcs: readonly string[],
  ret: boolean,
): Link {
  const kind = ret ? "kretprobe" : "kprobe";
  const ids: number[] = [];
  const tracepoints: string[] = [];
  for (const func of funcs) {
    const event = `sys_${ret ? "exit" : "enter"}_${syscallName(func)}`;
    const tracepoint = `syscalls:${event}`;
    let text: string | undefined;
    let cause: unknown;
    try {
      text = readKernelFile(`${tracefsDir()}/events/syscalls/${event}/id`);
    } catch (error) {
      cause = error;
    }
    if (text === undefined && !cause) {
      if (unreachableSyscall(program.name, func, ret)) continue;
    }
    if (text === undefined) {
      throw new AttachError(
        `Cannot attach program '${program.name}' to ${func}: this kernel has no kprobes (CONFIG_KPROBES is not set) and no tracepoint ${tracepoint} to fall back to`,
        {
          program: program.name,
          target: `${kind} ${func}`,
          errno: Errno.EOPNOTSUPP,
          cause: cause ?? new Error(`no tracepoint ${tracepoint}`),
        },
      );
    }
    ids.push(Number(text.trim()));
    tracepoints.push(tracepoint);
  }
  const target = tracepoints.join(",");
  if (ids.length === 0) {
    return Link.unattached({
      kind,
      target: funcs.join(","),
      program: program.name,
    });
  }
  if (!program.handle) {
    throw new TypeError(
      `Program '${program.name}' has no libbpf handle: the syscall fallback needs a program from BPF.load`,
    );
  }
  const handle = lib().bpfpm_program__attach_syscall_twin(
    program.handle,
    new Int32Array(ids),
    ids.length,
    cstr(target),
  );
  if (handle === null) throw attachFailure(program, kind, funcs.join(","));
  const key = `${funcs.join(",")}:${ret}`;
  if (!warned.has(key)) {
    warned.add(key);
    console.error(
      `bpfpm: this kernel has no kprobes (CONFIG_KPROBES is not set): ${kind} ${
        funcs.join(", ")
      } of program '${program.name}' ${
        tracepoints.length === 1 ? "is" : "are"
      } attached to tracepoint ${tracepoints.join(", ")} instead`,
    );
  }
  return new SyscallFallback(
    handle as LinkHandle,
    { kind, target, program: program.name },
  );
}

/** A syscall kprobe that fell back to its tracepoint; `requested` kept the kprobe's target. */
export class SyscallFallback extends Link {
  /** The kernel id of the tracepoint twin of the program this fallback loaded. */
  get fallbackProgramId(): number {
    return Number(
      lib().bpfpm_link__own_program_id(linkHandle(this)),
    );
  }
}

function attachFailure(
  program: AttachableProgram,
  kind: string,
  func: string,
): AttachError {
  const { errno, message } = lastError();
  return new AttachError(
    `Cannot attach program '${program.name}' as ${kind} to ${func}: ${message}`,
    {
      program: program.name,
      target: `${kind} ${func}`,
      errno: errno || Errno.EINVAL,
    },
  );
}

function attach(
  program: AttachableProgram,
  func: string,
  opts: KprobeOptions,
  ret: boolean,
): Link {
  const kind = ret ? "kretprobe" : "kprobe";
  checkProgram(program, kind);
  checkArgument(attachCall(kind), "func", func, KERNEL_FUNCTION);
  checkOptions(attachCall(kind), opts, KPROBE_OPTIONS);
  const syscall = syscallName(func);
  if (syscall && !haveKprobes() && opts.fallback !== "error") {
    return fallbackToTracepoints(program, [func], ret);
  }
  const offset = BigInt(opts.offset ?? 0);
  const target = offset ? `${func}+${offset}` : func;
  return attachNative(
    program,
    kind,
    target,
    (fd) =>
      lib().bpfpm_program__attach_kprobe(
        fd,
        cstr(func),
        offset,
        ret ? 1 : 0,
        opts.maxactive ?? 0,
        opts.cookie ?? 0n,
      ),
  );
}

/**
 * Attaches a program to a kernel function's entry. On a kernel without kprobes it throws an
 * AttachError ("this kernel has no kprobes (CONFIG_KPROBES is not set)", errno EOPNOTSUPP),
 * except for a syscall function, which falls back to its tracepoint.
 *
 * @param program a loaded kprobe program
 * @param func the kernel function, e.g. `do_sys_openat2` or `__x64_sys_openat`
 * @param opts offset, cookie, fallback
 * @returns a disposable link
 *
 * @example Count clone calls
 * ```ts
 * import { BPF } from "bpf";
 * using b = await BPF.load({ file: "./clone.bpf.c", autoAttach: false });
 * using link = b.attachKprobe(b.programs.get("on_clone")!, "__x64_sys_clone");
 * ```
 */
export function attachKprobe(
  program: AttachableProgram,
  func: string,
  opts: KprobeOptions = {},
): Link {
  return attach(program, func, opts, false);
}

/**
 * Attaches a program to a kernel function's return (see {@link attachKprobe}).
 *
 * @param program a loaded kretprobe program
 * @param func the kernel function
 * @param opts maxactive, cookie, fallback
 * @returns a disposable link
 *
 * @example
 * ```ts
 * import { BPF } from "bpf";
 * using b = await BPF.load({ file: "./ret.bpf.c", autoAttach: false });
 * using link = b.attachKretprobe(b.programs.get("on_ret")!, "do_sys_openat2", { maxactive: 64 });
 * ```
 */
export function attachKretprobe(
  program: AttachableProgram,
  func: string,
  opts: KprobeOptions = {},
): Link {
  return attach(program, func, opts, true);
}
