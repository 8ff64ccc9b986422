/**
 * The one disposable link every attach call returns, whatever the kind. Natively it is one
 * `struct bpfpm_link` (native/include/bpfpm_link.h), which owns whatever keeps the program
 * attached (a bpf link, one perf event per CPU, a raw socket, a netlink XDP/TC attachment)
 * and carries its own detach: `Link` holds that one handle type and never asks its kind.
 *
 * @module
 */
import { cstr, lastError, lib, type LinkHandle } from "../_ffi.ts";
import {
  AttachError,
  BpfError,
  CapabilityError,
  ClosedError,
  Errno,
} from "../errors.ts";
import { CAPABILITY_FIX } from "../_system.ts";
import { track } from "../lifecycle.ts";
import { readKernelFile } from "../_kernel_files.ts";
import type { Program } from "../program.ts";
import type { AttachKind } from "../spec/section_kinds.ts";

/**
 * `BPFPM_TRACING_FTRACE` (bpfpm_link.h): the BTF-typed program's target is reached through
 * ftrace (fentry, fexit, fmod_ret, lsm), so a kernel that denies ftrace is named as the cause.
 */
export const TRACING_FTRACE = 1;

/**
 * What a link is: its kind, target and program, and its pin if it was opened from one.
 *
 * @example The description of a uprobe link
 * ```ts
 * import type { LinkInit } from "bpf";
 * const init: LinkInit = { kind: "uprobe", target: "/usr/bin/bash:readline", program: "on_readline" };
 * console.log(init.kind);
 * ```
 */
export interface LinkInit {
  /** The attach kind. */
  kind: AttachKind;
  /** What the program is attached to. */
  target: string;
  /** The program's name ("" when unknown: a link opened from a pin). */
  program: string;
  /** The bpffs path the link is pinned at, if any. */
  pinned?: string;
}

const registry = new FinalizationRegistry<LinkHandle>((handle) => {
  lib().bpfpm_link__destroy(handle);
});

let handleOf: (link: Link) => LinkHandle;

/** Stands for the native link of a link attached to nothing (`Link.unattached`). */
const NOTHING: unique symbol = Symbol("attached to nothing");

function isNothing(handle: LinkHandle): boolean {
  return (handle as unknown) === NOTHING;
}

/**
 * A program attached to a hook: what every `b.attachX(...)` (and auto-attach) returns.
 * `close()`, or leaving a `using` block, detaches it; closing the BPF object that made it
 * detaches it too; so do the script's exit paths (normal exit, SIGINT, SIGTERM, an uncaught
 * error). After `pin()`, closing only drops this process's reference: the pin keeps the
 * program attached until `unpin()`.
 *
 * @example Attach by hand, detach at the end of the block
 * ```ts
 * import { BPF, Link } from "bpf";
 * using b = await BPF.load({
 *   text: `SEC("tracepoint/syscalls/sys_enter_getppid") int on_getppid(void *ctx) { return 0; }`,
 *   autoAttach: false,
 * });
 * {
 *   using link = b.attachTracepoint("on_getppid", "syscalls:sys_enter_getppid");
 *   console.log(link instanceof Link, link.kind, link.target, link.id);
 * }
 * ```
 *
 * @example Keep a uprobe attached after the script ends, and remove it later
 * ```ts
 * import { BPF, Link } from "bpf";
 * using b = await BPF.load({ file: "./readline.bpf.c", autoAttach: false });
 * b.attachUprobe("on_readline", { binary: "bash", symbol: "readline" }).pin("/sys/fs/bpf/rl");
 * // ... later, maybe in another process:
 * using link = Link.openPinned("/sys/fs/bpf/rl"); // link.kind === "uprobe"
 * link.unpin();
 * ```
 */
export class Link implements Disposable {
  /** The native link; `NOTHING` for a link attached to nothing; null once closed. */
  #handle: LinkHandle | typeof NOTHING | null;
  #pinned: string | undefined;
  #untrack: () => void;
  /** The attach kind, e.g. `tracepoint`, `uprobe`, `xdp`: also for a link opened from a pin. */
  readonly kind: AttachKind;
  /**
   * What the program is attached to, e.g. `syscalls:sys_enter_clone`,
   * `/usr/bin/bash:readline`, `eth0`. For a link opened from a pin, what the kernel says
   * (see `Link.openPinned`).
   */
  readonly target: string;
  /** The attached program's name ("" for a link opened from a pin: see `programId`). */
  readonly program: string;

  static {
    handleOf = (link) => link.#native() ?? link.#nothingError("use");
  }

  /**
   * Wraps a native link; the attach functions make links, scripts do not.
   *
   * @param handle The native link that keeps the program attached (it is the Link's now).
   * @param init Its kind, target and program.
   */
  constructor(handle: LinkHandle, init: LinkInit) {
    this.#handle = handle;
    this.kind = init.kind;
    this.target = init.target;
    this.program = init.program;
    this.#pinned = init.pinned;
    if (!isNothing(handle)) registry.register(this, handle, this);
    this.#untrack = track(this);
  }

  /**
   * A link attached to nothing, for a hook that exists but that nothing can reach (a kprobe
   * on a syscall function outside this kernel's syscall table): what BCC's attach gives
   * there, a probe that never fires. `fd` is -1, `id` and `count` are 0, it cannot be
   * pinned, and `close()` only marks it closed. The attach functions make these.
   *
   * @param init Its kind, target and program.
   * @returns The link.
   *
   * @example
   * ```ts
   * import { Link } from "bpf";
   * using link = Link.unattached({ kind: "kprobe", target: "__x64_sys_stat", program: "on_stat" });
   * console.log(link.count); // 0
   * ```
   */
  static unattached(init: LinkInit): Link {
    return new Link(NOTHING as unknown as LinkHandle, init);
  }

  /**
   * True until `close()`.
   *
   * @example Closed links say so
   * ```ts
   * import { BPF } from "bpf";
   * using b = await BPF.load({ file: "./probe.bpf.c", autoAttach: false });
   * const link = b.attachRawTracepoint("on_switch", "sched_switch");
   * link.close();
   * console.log(link.attached); // false
   * ```
   */
  get attached(): boolean {
    return this.#handle !== null;
  }

  /**
   * The fd that represents it: a bpf link fd, or the raw socket of a socket filter.
   *
   * @example Look it up in /proc
   * ```ts
   * import { BPF } from "bpf";
   * using b = await BPF.load({ file: "./probe.bpf.c", autoAttach: false });
   * using link = b.attachSocketFilter("count", { ifname: "lo" });
   * console.log(`/proc/${Deno.pid}/fd/${link.fd}`);
   * ```
   */
  get fd(): number {
    const handle = this.#native();
    return handle ? lib().bpfpm_link__fd(handle) : -1;
  }

  /**
   * The kernel's link id (0 when it is not one bpf link: socket filters, netlink XDP/TC, and
   * USDT, which libbpf makes of several uprobes).
   *
   * @example Find it with bpftool
   * ```ts
   * import { BPF } from "bpf";
   * using b = await BPF.load({ file: "./probe.bpf.c", autoAttach: false });
   * using link = b.attachTracepoint("on_clone", "syscalls:sys_enter_clone");
   * console.log(`bpftool link show id ${link.id}`);
   * ```
   */
  get id(): number {
    const handle = this.#native();
    return handle ? Number(lib().bpfpm_link__id(handle)) : 0;
  }

  /**
   * The kernel id of the attached program (0 when it is not a bpf link).
   *
   * @example The same id as the program's
   * ```ts
   * import { BPF } from "bpf";
   * using b = await BPF.load({ file: "./probe.bpf.c", autoAttach: false });
   * using link = b.attachTracepoint("on_clone", "syscalls:sys_enter_clone");
   * console.log(link.programId === b.programs.get("on_clone")!.id); // true
   * ```
   */
  get programId(): number {
    if (this.id === 0) return 0;
    return Number(fdInfo(this.fd).prog_id ?? 0);
  }

  /**
   * How many kernel attachments it groups (a per-CPU perf event: one per CPU).
   *
   * @example One perf event per CPU
   * ```ts
   * import { BPF } from "bpf";
   * using b = await BPF.load({ file: "./probe.bpf.c", autoAttach: false });
   * using link = b.attachPerfEvent("on_sample", { event: "cpu-clock", frequency: 99 });
   * console.log(link.count === navigator.hardwareConcurrency);
   * ```
   */
  get count(): number {
    const handle = this.#native();
    return handle ? lib().bpfpm_link__count(handle) : 0;
  }

  /**
   * The bpffs path it is pinned at, if any.
   *
   * @example After pin()
   * ```ts
   * import { BPF } from "bpf";
   * using b = await BPF.load({ file: "./probe.bpf.c", autoAttach: false });
   * using link = b.attachRawTracepoint("on_switch", "sched_switch");
   * link.pin("/sys/fs/bpf/on_switch");
   * console.log(link.pinnedPath); // "/sys/fs/bpf/on_switch"
   * link.unpin();
   * ```
   */
  get pinnedPath(): string | undefined {
    return this.#pinned;
  }

  /**
   * Pins the link at `path` on bpffs: it then stays attached after this process exits, until
   * `unpin()` (or `rm path`) and the last fd are gone. Socket filters, netlink XDP/TC and
   * per-CPU perf groups are not bpf links and cannot be pinned.
   *
   * @param path An absolute path under a bpffs mount, e.g. `/sys/fs/bpf/my_link`.
   * @throws {TypeError} When `path` is not absolute.
   * @throws {BpfError} When the kernel refuses (no bpffs there, the path exists, ...).
   *
   * @example Pin a link
   * ```ts
   * import { BPF } from "bpf";
   * using b = await BPF.load({ file: "./probe.bpf.c", autoAttach: false });
   * b.attachRawTracepoint("on_switch", "sched_switch").pin("/sys/fs/bpf/on_switch");
   * ```
   */
  pin(path: string): void {
    if (typeof path !== "string" || !path.startsWith("/")) {
      throw new TypeError(`Pin path must be absolute, got ${String(path)}`);
    }
    const handle = this.#native() ?? this.#nothingError("pin");
    const rc = lib().bpfpm_link__pin(handle, cstr(path));
    if (rc !== 0) throw nativeError(`Cannot pin ${this.kind} ${this.target}`);
    this.#pinned = path;
  }

  /**
   * Removes the pin; the link detaches once this process closes it too.
   *
   * @throws {BpfError} When the link is not pinned or the pin cannot be removed.
   *
   * @example Remove a pin left by an earlier run
   * ```ts
   * import { Link } from "bpf";
   * using link = Link.openPinned("/sys/fs/bpf/on_switch");
   * link.unpin();
   * ```
   */
  unpin(): void {
    const handle = this.#native() ?? this.#nothingError("unpin");
    const rc = lib().bpfpm_link__unpin(handle);
    if (rc !== 0) throw nativeError(`Cannot unpin ${this.kind} ${this.target}`);
    this.#pinned = undefined;
  }

  /**
   * Opens a link pinned by `pin()` (maybe by another process). Its kind comes from the
   * kernel's link info (the link type, and for perf-event links the event type), so a pinned
   * uprobe reopens as `uprobe`; a USDT link reopens as `uprobe`, which is what the kernel
   * holds. Its target is what the kernel records: `binary:0xoffset` for uprobes, the event
   * name for tracepoints, `type:config` for perf events, the iterator's target, else the pin's
   * path. Its `program` is "" (the kernel's link info has only the id: `programId`).
   *
   * @param path The pin's bpffs path.
   * @returns The link; `unpin()` then `close()` detaches it.
   * @throws {BpfError} When there is no link pinned at `path`.
   *
   * @example Detach a link pinned by an earlier run
   * ```ts
   * import { Link } from "bpf";
   * using link = Link.openPinned("/sys/fs/bpf/rl");
   * console.log(link.kind, link.target, link.programId);
   * link.unpin();
   * ```
   */
  static openPinned(path: string): Link {
    if (typeof path !== "string" || !path.startsWith("/")) {
      throw new TypeError(`Pin path must be absolute, got ${String(path)}`);
    }
    const handle = lib().bpfpm_link__open_pinned(cstr(path)) as LinkHandle;
    if (handle === null) throw nativeError(`Cannot open pinned link ${path}`);
    let described;
    try {
      described = describeLink(fdInfo(lib().bpfpm_link__fd(handle)), path);
    } catch (error) {
      lib().bpfpm_link__destroy(handle);
      throw error;
    }
    return new Link(handle, { ...described, program: "", pinned: path });
  }

  /**
   * Detaches (unless pinned) and frees; idempotent.
   *
   * @throws {BpfError} When the kernel refuses to detach (the link is freed all the same).
   *
   * @example Detach now
   * ```ts
   * import { BPF } from "bpf";
   * using b = await BPF.load({ file: "./probe.bpf.c", autoAttach: false });
   * const link = b.attachRawTracepoint("on_switch", "sched_switch");
   * link.close();
   * link.close(); // idempotent
   * ```
   */
  close(): void {
    const handle = this.#handle;
    if (handle === null) return;
    this.#handle = null;
    registry.unregister(this);
    this.#untrack();
    if (handle === NOTHING) return;
    if (lib().bpfpm_link__destroy(handle) !== 0) {
      throw nativeError(`Cannot detach ${this.kind} ${this.target}`);
    }
  }

  /**
   * Same as `close()`.
   *
   * @example Detach at the end of a block
   * ```ts
   * import { BPF } from "bpf";
   * using b = await BPF.load({ file: "./probe.bpf.c", autoAttach: false });
   * {
   *   using _link = b.attachRawTracepoint("on_switch", "sched_switch");
   * } // detached here
   * ```
   */
  [Symbol.dispose](): void {
    this.close();
  }

  /** The native link; undefined for a link attached to nothing; throws once closed. */
  #native(): LinkHandle | undefined {
    if (this.#handle === null) {
      throw new ClosedError(
        `The ${this.kind} link on ${this.target} is closed: attach again to use it`,
        { resource: `${this.kind} link on ${this.target}` },
      );
    }
    return this.#handle === NOTHING ? undefined : this.#handle;
  }

  #nothingError(what: string): never {
    throw new BpfError(
      `Cannot ${what} ${this.kind} ${this.target}: it is attached to nothing (nothing on this kernel reaches it)`,
      { errno: Errno.EINVAL },
    );
  }
}

/** The native link behind a live link, for the attach functions of this folder only. */
export function linkHandle(link: Link): LinkHandle {
  return handleOf(link);
}

/**
 * The kernel's link info for a link fd, as `bpf_link_show_fdinfo` prints it in
 * /proc/self/fdinfo (the same fields `bpf_link_get_info_by_fd` fills), read natively so no
 * Deno read permission is needed.
 */
function fdInfo(fd: number): Record<string, string> {
  const text = readKernelFile(`/proc/self/fdinfo/${fd}`, 4096) ?? "";
  const out: Record<string, string> = {};
  for (const line of text.split("\n")) {
    const at = line.indexOf(":");
    if (at > 0) out[line.slice(0, at)] = line.slice(at + 1).trim();
  }
  return out;
}

/** `bpf_attach_type` values of tracing links (include/uapi/linux/bpf.h). */
const TRACING_KINDS: Record<string, AttachKind> = {
  "23": "tp_btf", // BPF_TRACE_RAW_TP
  "24": "fentry", // BPF_TRACE_FENTRY
  "25": "fexit", // BPF_TRACE_FEXIT
  "26": "fexit", // BPF_MODIFY_RETURN: fmod_ret runs where fexit does
  "27": "lsm", // BPF_LSM_MAC
};

const PERF_KINDS: Record<string, AttachKind> = {
  tracepoint: "tracepoint",
  uprobe: "uprobe",
  uretprobe: "uretprobe",
  kprobe: "kprobe",
  kretprobe: "kretprobe",
  event: "perf_event",
};

/** A pinned link's kind and target from its fdinfo fields. */
function describeLink(
  info: Record<string, string>,
  path: string,
): { kind: AttachKind; target: string } {
  const type = info.link_type;
  let kind: AttachKind | undefined;
  let target = path;
  switch (type) {
    case "perf":
      kind = PERF_KINDS[info.event_type ?? ""];
      if (kind === "uprobe" || kind === "uretprobe") {
        target = `${info.name}:${info.offset}`;
      } else if (kind === "perf_event") {
        target = `${info.type}:${info.config}`;
      } else if (info.tp_name ?? info.func) {
        target = info.tp_name ?? info.func;
      }
      break;
    case "raw_tracepoint":
      kind = "raw_tp";
      target = info.tp_name ?? path;
      break;
    case "tracing":
      kind = TRACING_KINDS[info.attach_type ?? ""];
      break;
    case "kprobe_multi":
      kind = "kprobe";
      break;
    case "uprobe_multi":
      kind = "uprobe";
      break;
    case "iter":
      kind = "iter";
      target = info.target_name ?? path;
      break;
    case "cgroup":
      kind = "cgroup";
      break;
    case "xdp":
      kind = "xdp";
      break;
    case "tcx":
      kind = "tc";
      break;
  }
  if (kind === undefined) {
    throw new BpfError(
      `${path} is a ${type ?? "non-link"} ${
        info.event_type ? `(${info.event_type}) ` : ""
      }bpf object, not a link of a kind bpfpm attaches: remove it with rm ${path} or open it with bpftool`,
      { errno: Errno.EINVAL },
    );
  }
  return { kind, target };
}

/** A BpfError from the thread's last native error. */
export function nativeError(what: string): BpfError {
  const { errno, message } = lastError();
  return new BpfError(`${what}: ${message || "unknown error"}`, {
    errno: errno || Errno.EINVAL,
  });
}

/**
 * Wraps the result of a native libbpf attach call, or throws: CapabilityError for
 * EPERM/EACCES, `notFound()`'s error for ENOENT when given, else an AttachError with the
 * kernel's reason.
 */
export function linkOrThrow(
  handle: Deno.PointerValue,
  program: Program,
  info: { kind: AttachKind; target: string },
  notFound?: () => Error,
): Link {
  if (handle !== null) {
    return new Link(handle as LinkHandle, { ...info, program: program.name });
  }
  const { errno, message } = lastError();
  if (errno === Errno.EPERM || errno === Errno.EACCES) {
    throw new CapabilityError(
      `Attaching program '${program.name}' to ${info.kind} ${info.target} was refused (${message}): ${CAPABILITY_FIX}`,
      { missing: ["CAP_BPF", "CAP_PERFMON"], errno },
    );
  }
  if (errno === Errno.ENOENT && notFound) throw notFound();
  throw new AttachError(
    `Cannot attach program '${program.name}' to ${info.kind} ${info.target}: ${message}`,
    {
      program: program.name,
      target: `${info.kind} ${info.target}`,
      errno: errno || Errno.EINVAL,
    },
  );
}
