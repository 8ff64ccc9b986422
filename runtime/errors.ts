/**
 * The runtime's errors. Each names its cause and the fix; fields carry the details.
 *
 * @module
 */

/**
 * A native call into libbpfpm failed with an errno (the message says why).
 *
 * @example The errno of a failed native call
 * ```ts
 * import { BpfError, Link } from "bpf";
 * try {
 *   Link.openPinned("/sys/fs/bpf/nothing_here");
 * } catch (e) {
 *   if (e instanceof BpfError) console.error(e.errno, e.message);
 * }
 * ```
 */
export class BpfError extends Error {
  /** The positive errno the native call returned. */
  readonly errno: number;
  /**
   * Makes the error.
   *
   * @param message What failed and how to fix it.
   * @param options `errno` and an optional `cause`.
   */
  constructor(message: string, options: { errno: number; cause?: unknown }) {
    super(message, { cause: options.cause });
    this.name = "BpfError";
    this.errno = options.errno;
  }
}

/**
 * The kernel's verifier rejected a program. `log` keeps the whole verifier log; `summary`
 * names the failing instruction and the reason.
 *
 * @example Showing the summary, keeping the log
 * ```ts
 * import { BPF, VerifierError } from "bpf";
 * try {
 *   await BPF.load({ text: `SEC("tp/syscalls/sys_enter_getpid") int f(void *c) { return *(int *)0; }` });
 * } catch (e) {
 *   if (e instanceof VerifierError) console.error(e.summary, e.log.length);
 * }
 * ```
 */
export class VerifierError extends BpfError {
  /** The program the verifier rejected. */
  readonly program: string;
  /** The full verifier log. */
  readonly log: string;
  /** The failing instruction and the reason, on one line. */
  readonly summary: string;
  /**
   * Makes the error.
   *
   * @param message The error message (includes the summary).
   * @param options The program, log, summary, errno and cause.
   */
  constructor(
    message: string,
    options: {
      program: string;
      log: string;
      summary: string;
      errno: number;
      cause?: unknown;
    },
  ) {
    super(message, options);
    this.name = "VerifierError";
    this.program = options.program;
    this.log = options.log;
    this.summary = options.summary;
  }
}

/**
 * The process lacks CAP_BPF and CAP_PERFMON (or root).
 *
 * @example Not root
 * ```ts
 * import { BPF, CapabilityError } from "bpf";
 * try {
 *   await BPF.load({ file: "./probe.bpf.c" });
 * } catch (e) {
 *   if (e instanceof CapabilityError) console.error("missing", e.missing.join(", "));
 * }
 * ```
 */
export class CapabilityError extends BpfError {
  /** The capabilities that are missing, e.g. `["CAP_BPF"]`. */
  readonly missing: string[];
  /**
   * Makes the error.
   *
   * @param message The error message.
   * @param options The missing capabilities, errno and cause.
   */
  constructor(
    message: string,
    options: { missing: string[]; errno: number; cause?: unknown },
  ) {
    super(message, options);
    this.name = "CapabilityError";
    this.missing = options.missing;
  }
}

/**
 * The kernel exposes no BTF (needed for vmlinux.h and CO-RE).
 *
 * @example A kernel without BTF
 * ```ts
 * import { BPF, KernelBtfError } from "bpf";
 * try {
 *   await BPF.load({ file: "./probe.bpf.c" });
 * } catch (e) {
 *   if (e instanceof KernelBtfError) console.error("no BTF at", e.path);
 * }
 * ```
 */
export class KernelBtfError extends Error {
  /** Where BTF was looked for. */
  readonly path: string;
  /**
   * Makes the error.
   *
   * @param message The error message.
   * @param options The path and cause.
   */
  constructor(message: string, options: { path: string; cause?: unknown }) {
    super(message, { cause: options.cause });
    this.name = "KernelBtfError";
    this.path = options.path;
  }
}

/**
 * tracefs is not mounted and could not be mounted.
 *
 * @example tracefs not mounted
 * ```ts
 * import { BPF, TracefsError } from "bpf";
 * using b = await BPF.load({ file: "./probe.bpf.c" });
 * try {
 *   for await (const line of b.tracePrint()) console.log(line);
 * } catch (e) {
 *   if (e instanceof TracefsError) console.error("mount tracefs at", e.path);
 * }
 * ```
 */
export class TracefsError extends Error {
  /** The mount point tried. */
  readonly path: string;
  /**
   * Makes the error.
   *
   * @param message The error message.
   * @param options The path and cause.
   */
  constructor(message: string, options: { path: string; cause?: unknown }) {
    super(message, { cause: options.cause });
    this.name = "TracefsError";
    this.path = options.path;
  }
}

/**
 * A tracepoint named by a program does not exist on this kernel.
 *
 * @example A tracepoint this kernel lacks
 * ```ts
 * import { BPF, TracepointNotFoundError } from "bpf";
 * using b = await BPF.load({ file: "./probe.bpf.c", autoAttach: false });
 * try {
 *   b.attachTracepoint("on_event", "nosuch:event");
 * } catch (e) {
 *   if (e instanceof TracepointNotFoundError) console.error(e.category, e.event);
 * }
 * ```
 */
export class TracepointNotFoundError extends Error {
  /** The tracepoint's category, e.g. `syscalls`. */
  readonly category: string;
  /** The tracepoint's event, e.g. `sys_enter_clone`. */
  readonly event: string;
  /**
   * Makes the error.
   *
   * @param message The error message.
   * @param options The category, event and cause.
   */
  constructor(
    message: string,
    options: { category: string; event: string; cause?: unknown },
  ) {
    super(message, { cause: options.cause });
    this.name = "TracepointNotFoundError";
    this.category = options.category;
    this.event = options.event;
  }
}

/**
 * Attaching a program failed.
 *
 * @example Which program and target failed
 * ```ts
 * import { AttachError, BPF } from "bpf";
 * using b = await BPF.load({ file: "./probe.bpf.c", autoAttach: false });
 * try {
 *   b.attachXdp("count", "nosuch0");
 * } catch (e) {
 *   if (e instanceof AttachError) console.error(e.program, e.target, e.errno);
 * }
 * ```
 */
export class AttachError extends BpfError {
  /** The program that failed to attach. */
  readonly program: string;
  /** What it was attached to, e.g. `tracepoint syscalls:sys_enter_clone`. */
  readonly target: string;
  /**
   * Makes the error.
   *
   * @param message The error message.
   * @param options The program, target, errno and cause.
   */
  constructor(
    message: string,
    options: {
      program: string;
      target: string;
      errno: number;
      cause?: unknown;
    },
  ) {
    super(message, options);
    this.name = "AttachError";
    this.program = options.program;
    this.target = options.target;
  }
}

/**
 * Deno was not granted a permission the runtime needs; `flag` is the one to add.
 *
 * @example The Deno flag to add
 * ```ts
 * import { BPF, DenoPermissionError } from "bpf";
 * try {
 *   await BPF.load({ file: "./probe.bpf.c" });
 * } catch (e) {
 *   if (e instanceof DenoPermissionError) console.error("run deno with", e.flag);
 * }
 * ```
 */
export class DenoPermissionError extends Error {
  /** The exact flag to add, e.g. `--allow-ffi=/path/libbpfpm.so`. */
  readonly flag: string;
  /**
   * Makes the error.
   *
   * @param message The error message.
   * @param options The flag and cause.
   */
  constructor(message: string, options: { flag: string; cause?: unknown }) {
    super(message, { cause: options.cause });
    this.name = "DenoPermissionError";
    this.flag = options.flag;
  }
}

/**
 * The native library could not be opened (not built, or a bad `BPFPM_LIB`).
 *
 * @example libbpfpm.so not built
 * ```ts
 * import { BPF, NativeLibraryError } from "bpf";
 * try {
 *   await BPF.load({ file: "./probe.bpf.c" });
 * } catch (e) {
 *   if (e instanceof NativeLibraryError) console.error("build", e.path, "with make -C native");
 * }
 * ```
 */
export class NativeLibraryError extends Error {
  /** The library path tried. */
  readonly path: string;
  /**
   * Makes the error.
   *
   * @param message The error message.
   * @param options The path and cause.
   */
  constructor(message: string, options: { path: string; cause?: unknown }) {
    super(message, { cause: options.cause });
    this.name = "NativeLibraryError";
    this.path = options.path;
  }
}

/** Whether `error` is Deno's missing-permission error. */
export function isPermissionDenied(error: unknown): boolean {
  return error instanceof Deno.errors.NotCapable ||
    error instanceof Deno.errors.PermissionDenied;
}

/** Runs `fn`; turns Deno's missing-permission error into a DenoPermissionError naming `flag`. */
export function withPermission<T>(flag: string, why: string, fn: () => T): T {
  try {
    return fn();
  } catch (error) {
    if (isPermissionDenied(error)) {
      throw new DenoPermissionError(
        `Deno may not ${why}: run deno with ${flag} (or -A)`,
        { flag, cause: error },
      );
    }
    throw error;
  }
}
