/**
 * The runtime's errors and errno constants, in one place. Every error the API throws is a
 * {@linkcode BpfError} (bad arguments aside, which are `TypeError`/`RangeError`), names its
 * cause and the fix, and keeps the error it came from as `cause`; fields carry the details.
 *
 * @module
 */
import { callerFrame, locateText } from "./_location.ts";

/**
 * The errno values the runtime names (Linux's, as the kernel and libbpf return them).
 *
 * @example Tell "not found" from other failures
 * ```ts
 * import { BpfError, Errno, Link } from "bpf";
 * try {
 *   Link.openPinned("/sys/fs/bpf/nothing_here");
 * } catch (e) {
 *   if (e instanceof BpfError && e.errno === Errno.ENOENT) console.log("not pinned");
 * }
 * ```
 */
export const Errno = {
  EPERM: 1,
  ENOENT: 2,
  ESRCH: 3,
  E2BIG: 7,
  ENOEXEC: 8,
  EBADF: 9,
  /** Try again: the verifier stopped for a pending signal, among others. */
  EAGAIN: 11,
  EACCES: 13,
  EBUSY: 16,
  EINVAL: 22,
  ENOSPC: 28,
  EMSGSIZE: 90,
  EOPNOTSUPP: 95,
  ECANCELED: 125,
  /** The kernel's internal "not supported" (`ENOTSUPP`), which some BPF paths return. */
  ENOTSUPP: 524,
} as const;

/**
 * The base of every runtime error. `errno` is set when a call into the kernel or libbpf
 * failed with one (the message says why).
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
  /** The positive errno the failed call returned, when one did. */
  readonly errno?: number;
  /**
   * Makes the error.
   *
   * @param message What failed and how to fix it.
   * @param options `errno` when a call failed with one, and the `cause`.
   */
  constructor(
    message: string,
    options: { errno?: number; cause?: unknown } = {},
  ) {
    super(message, { cause: options.cause });
    this.name = "BpfError";
    if (options.errno !== undefined) this.errno = options.errno;
  }
}

/**
 * Something was used after it, or the BPF object owning it, was closed: a BPF object, its
 * programs and maps, a link, an event reader. The one error of every use after close.
 *
 * @example Reading a map after its object is closed
 * ```ts
 * import { BPF, ClosedError } from "bpf";
 * const b = await BPF.load({ file: "./counts.bpf.c" });
 * const counts = b.map("counts");
 * b.close();
 * try {
 *   counts.get(0);
 * } catch (e) {
 *   if (e instanceof ClosedError) console.log(e.resource, e.errno); // map "counts" 9
 * }
 * ```
 */
export class ClosedError extends BpfError {
  /** The positive errno (always set for this error). */
  declare readonly errno: number;
  /** What was closed, e.g. `map "counts"`, `BPF object`, `tracepoint link on sched:x`. */
  readonly resource: string;
  /**
   * Makes the error (errno EBADF).
   *
   * @param message What was closed and what to do instead.
   * @param options The resource and the cause.
   */
  constructor(
    message: string,
    options: { resource: string; cause?: unknown },
  ) {
    super(message, { errno: Errno.EBADF, cause: options.cause });
    this.name = "ClosedError";
    this.resource = options.resource;
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
  /** The positive errno (always set for this error). */
  declare readonly errno: number;
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
  /** The positive errno (always set for this error). */
  declare readonly errno: number;
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
export class KernelBtfError extends BpfError {
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
export class TracefsError extends BpfError {
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
export class TracepointNotFoundError extends BpfError {
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
  /** The positive errno (always set for this error). */
  declare readonly errno: number;
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
export class DenoPermissionError extends BpfError {
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
export class NativeLibraryError extends BpfError {
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

/**
 * A BCC construct the rewriter cannot translate: names the construct, where it is (line and
 * column in the C source as the user wrote it) and why.
 *
 * @example Reporting the construct and its line
 * ```ts
 * import { BccRewriteError, BPF } from "bpf";
 * try {
 *   await BPF.load({ text: `BPF_HASH(counts);\nint kprobe__f(void *ctx) { counts.frobnicate(1); return 0; }` });
 * } catch (e) {
 *   if (e instanceof BccRewriteError) console.error(e.line, e.construct, e.message);
 * }
 * ```
 */
export class BccRewriteError extends BpfError {
  /** The construct, e.g. `counts.frobnicate()` or `BPF_TABLE("extern", ...)`. */
  readonly construct: string;
  /** 1-based line in the C source. */
  readonly line: number;
  /** 1-based column in the C source. */
  readonly column: number;
  /** The .ts (or C) file the C sits in, when known; `line`/`column` are then that file's. */
  readonly file?: string;
  /** Why, without the position. */
  readonly reason: string;

  /**
   * Makes the error; the message starts with the position (`file:line:col:` or `Line L:C:`).
   *
   * @param message Why it cannot be rewritten and what to write instead.
   * @param options The construct, its position and an optional cause.
   */
  constructor(
    message: string,
    options: {
      construct: string;
      line: number;
      column: number;
      file?: string;
      cause?: unknown;
    },
  ) {
    const where = options.file
      ? `${options.file}:${options.line}:${options.column}`
      : `Line ${options.line}:${options.column}`;
    super(`${where}: ${message}`, { cause: options.cause });
    this.name = "BccRewriteError";
    this.construct = options.construct;
    this.line = options.line;
    this.column = options.column;
    this.file = options.file;
    this.reason = message;
  }

  /**
   * The same error at its place in the script whose template literal holds the C, when the
   * C can be found there (as `BPF.load({ text })` callers write it); else this error.
   *
   * @param source The C as the user wrote it.
   * @param stack A stack through the user's call (default: the current one).
   * @returns An error with `file`, and `line`/`column` in that file.
   */
  locate(
    source: string,
    stack: string | undefined = new Error().stack,
  ): BccRewriteError {
    if (this.file) return this;
    const frame = callerFrame(stack);
    if (!frame?.url.startsWith("file://")) return this;
    const file = decodeURIComponent(new URL(frame.url).pathname);
    let text: string;
    try {
      text = Deno.readTextFileSync(file);
    } catch {
      return this;
    }
    const at = locateText(text, source, frame.line);
    if (!at) return this;
    const line = at.line + this.line - 1;
    // The literal search is loose on lines with `${`: check the construct is really there.
    const word = /[A-Za-z_]\w*/.exec(this.construct)?.[0] ?? "";
    if (!text.split("\n")[line - 1]?.includes(word)) return this;
    return new BccRewriteError(this.reason, {
      construct: this.construct,
      file,
      line,
      column: this.line === 1 ? at.column + this.column - 1 : this.column,
      cause: this.cause,
    });
  }
}

/**
 * Thrown when a record is shorter than the type it is decoded as.
 *
 * @example A record shorter than its declared type
 * ```ts
 * import { BPF, RecordSizeError } from "bpf";
 * using b = await BPF.load({ file: "./events.bpf.c" });
 * try {
 *   for await (const e of b.ringbuf("events", { type: "struct event" })) console.log(e);
 * } catch (e) {
 *   const { length, expected } = e as RecordSizeError;
 *   console.error(`record of ${length} bytes, expected ${expected}`);
 * }
 * ```
 */
export class RecordSizeError extends BpfError {
  /** The record's length in bytes. */
  readonly length: number;
  /** The size of the type. */
  readonly expected: number;
  /**
   * Makes the error for a record shorter than its type.
   *
   * @param message what is wrong
   * @param options record length, expected size, cause
   */
  constructor(
    message: string,
    options: { length: number; expected: number; cause?: unknown },
  ) {
    super(message, { cause: options.cause });
    this.name = "RecordSizeError";
    this.length = options.length;
    this.expected = options.expected;
  }
}

/** Thrown when an object cannot be inspected: not a BPF object, or malformed. */
export class ObjectFormatError extends BpfError {
  /** The section involved, when one is. */
  readonly section?: string;
  /**
   * Creates the error with its fields.
   *
   * @param message what is wrong
   * @param options section and cause
   */
  constructor(
    message: string,
    options: { section?: string; cause?: unknown } = {},
  ) {
    super(message, { cause: options.cause });
    this.name = "ObjectFormatError";
    this.section = options.section;
  }
}

/**
 * Bytes that are not the format they should be: the base of {@linkcode ElfFormatError} and
 * {@linkcode BtfFormatError}.
 *
 * @example Any malformed input
 * ```ts
 * import { BpfError, FormatError } from "bpf";
 * const e: BpfError = new FormatError("truncated header", { offset: 12 });
 * console.log(e instanceof FormatError, (e as FormatError).offset);
 * ```
 */
export class FormatError extends BpfError {
  /** Byte offset where reading failed, when known. */
  readonly offset?: number;
  /**
   * Creates the error with its fields.
   *
   * @param message what is wrong
   * @param options the offset and cause
   */
  constructor(
    message: string,
    options: { offset?: number; cause?: unknown } = {},
  ) {
    super(message, { cause: options.cause });
    this.name = new.target.name;
    this.offset = options.offset;
  }
}

/**
 * Thrown when bytes are not a readable ELF64 file (an object, or a uprobe's binary).
 *
 * @example A uprobe on a file that is not ELF
 * ```ts
 * import { BPF, ElfFormatError } from "bpf";
 * using b = await BPF.load({ file: "./probe.bpf.c", autoAttach: false });
 * try {
 *   b.attachUprobe("on_call", { binary: "/etc/hostname", symbol: "main" });
 * } catch (e) {
 *   if (e instanceof ElfFormatError) console.error(e.message);
 * }
 * ```
 */
export class ElfFormatError extends FormatError {}

/**
 * Thrown when bytes are not valid BTF (an object's `.BTF`, or the kernel's).
 *
 * @example Where the BTF broke
 * ```ts
 * import { BPF, BtfFormatError } from "bpf";
 * try {
 *   await BPF.load({ object: await Deno.readFile("./damaged.bpf.o") });
 * } catch (e) {
 *   if (e instanceof BtfFormatError) console.error(e.offset, e.message);
 * }
 * ```
 */
export class BtfFormatError extends FormatError {}

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
