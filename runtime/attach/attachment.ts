/**
 * The disposable link every attach kind of this folder returns (uprobe, kprobe, perf_event,
 * XDP, TC, socket filter, cgroup, LSM, iterator, USDT, fentry/fexit), over one native
 * `bpfpm_attachment` handle that owns whatever keeps the program attached.
 *
 * @module
 */
import { cstr, type Handle, lastError, lib } from "../_ffi.ts";
import { AttachError, BpfError } from "../errors.ts";
import { track } from "../lifecycle.ts";

/** `struct bpfpm_attachment *` */
export type AttachmentHandle = Handle<"bpfpm_attachment">;

/** What an attach function needs of a loaded program. */
export interface AttachableProgram {
  /** The program's name (its C function name). */
  readonly name: string;
  /** The program's fd; negative before load. */
  readonly fd: number;
  /** The libbpf `struct bpf_program *`, needed only by USDT. */
  readonly handle?: Deno.PointerObject | null;
}

/** The attach kinds of this folder, as `grants.attach[].kind` names them. */
export type AttachKind =
  | "kprobe"
  | "kretprobe"
  | "fentry"
  | "fexit"
  | "uprobe"
  | "uretprobe"
  | "usdt"
  | "perf_event"
  | "xdp"
  | "tc"
  | "socket_filter"
  | "cgroup"
  | "lsm"
  | "iter";

const registry = new FinalizationRegistry<AttachmentHandle>((handle) => {
  lib().bpfpm_attachment__destroy(handle);
});

/**
 * A program attached somewhere. Disposing it (or `close()`) detaches the program; after a
 * `pin()`, disposing only drops this process's reference and the pin keeps it attached.
 *
 * @example Detach at the end of a block
 * ```ts
 * import { BPF } from "bpf";
 * using b = await BPF.load({ file: "./count.bpf.c", autoAttach: false });
 * {
 *   using link = b.attachUprobe(b.programs.get("count")!, { binary: "/bin/bash", symbol: "readline" });
 *   console.log(link.kind, link.target);
 * }
 * ```
 */
export class Attachment implements Disposable {
  #handle: AttachmentHandle | null;
  #pinned: string | undefined;
  #untrack: () => void;
  /** The attach kind, e.g. `uprobe` (`pinned` for a link opened from a pin). */
  readonly kind: AttachKind | "pinned";
  /** What the program is attached to, e.g. `/usr/bin/bash:readline`. */
  readonly target: string;
  /** The program's name ("" for a link opened from a pin). */
  readonly program: string;

  /**
   * Wraps a native handle; used by the attach functions of this folder.
   *
   * @param handle the native attachment
   * @param info kind, target and program name
   */
  constructor(
    handle: AttachmentHandle,
    info: {
      kind: AttachKind | "pinned";
      target: string;
      program: string;
      pinned?: string;
    },
  ) {
    this.#handle = handle;
    this.kind = info.kind;
    this.target = info.target;
    this.program = info.program;
    this.#pinned = info.pinned;
    registry.register(this, handle, this);
    // Exit paths (normal exit, SIGINT, SIGTERM, uncaught error) detach what is still open.
    this.#untrack = track(this);
  }

  /** True until `close()`. */
  get attached(): boolean {
    return this.#handle !== null;
  }

  /** The fd that represents it: a bpf link fd, or the raw socket of a socket filter. */
  get fd(): number {
    return lib().bpfpm_attachment__fd(this.#live());
  }

  /** The kernel's link id (0 when it is not a bpf link: socket filters, netlink XDP/TC). */
  get id(): number {
    return Number(lib().bpfpm_attachment__id(this.#live()));
  }

  /** How many kernel attachments it groups (a per-CPU perf event: one per CPU). */
  get count(): number {
    return lib().bpfpm_attachment__count(this.#live());
  }

  /** The bpffs path it is pinned at, if any. */
  get pinnedPath(): string | undefined {
    return this.#pinned;
  }

  /**
   * Pins the link at `path` on bpffs: it then stays attached after this process exits, until
   * `unpin()` (or `rm path`) and the last fd are gone.
   *
   * @param path a path under a bpffs mount, e.g. `/sys/fs/bpf/my_link`
   */
  pin(path: string): void {
    if (typeof path !== "string" || !path.startsWith("/")) {
      throw new TypeError(`Pin path must be absolute, got ${String(path)}`);
    }
    if (lib().bpfpm_attachment__pin(this.#live(), cstr(path)) !== 0) {
      throw nativeError(`Cannot pin ${this.kind} ${this.target}`);
    }
    this.#pinned = path;
  }

  /** Removes the pin; the link detaches once this process closes it too. */
  unpin(): void {
    if (lib().bpfpm_attachment__unpin(this.#live()) !== 0) {
      throw nativeError(`Cannot unpin ${this.kind} ${this.target}`);
    }
    this.#pinned = undefined;
  }

  /**
   * Opens a link pinned by `pin()` (maybe by another process).
   *
   * @param path the pin's bpffs path
   * @returns the link; `unpin()` then `close()` detaches it
   */
  static openPinned(path: string): Attachment {
    const handle = lib().bpfpm_attachment__open_pinned(cstr(path));
    if (handle === null) throw nativeError(`Cannot open pinned link ${path}`);
    return new Attachment(handle as AttachmentHandle, {
      kind: "pinned",
      target: path,
      program: "",
      pinned: path,
    });
  }

  /** Detaches (unless pinned) and frees; idempotent. */
  close(): void {
    const handle = this.#handle;
    if (handle === null) return;
    this.#handle = null;
    registry.unregister(this);
    this.#untrack();
    if (lib().bpfpm_attachment__destroy(handle) !== 0) {
      throw nativeError(`Cannot detach ${this.kind} ${this.target}`);
    }
  }

  /** Same as `close()`. */
  [Symbol.dispose](): void {
    this.close();
  }

  /** The native handle, for the attach functions of this folder only. */
  nativeHandle(): AttachmentHandle {
    return this.#live();
  }

  #live(): AttachmentHandle {
    if (this.#handle === null) {
      throw new BpfError(
        `The ${this.kind} link on ${this.target} is closed: attach again to use it`,
        { errno: 9 },
      );
    }
    return this.#handle;
  }
}

/** A BpfError from the thread's last native error. */
export function nativeError(what: string): BpfError {
  const { errno, message } = lastError();
  return new BpfError(`${what}: ${message || "unknown error"}`, {
    errno: errno || 22,
  });
}

/**
 * Runs a native attach call and wraps its handle, or throws an AttachError naming the
 * program, the target and the kernel's reason (errno kept).
 */
export function attachNative(
  program: AttachableProgram,
  kind: AttachKind,
  target: string,
  call: (fd: number) => Deno.PointerValue,
): Attachment {
  checkProgram(program, kind);
  const handle = call(program.fd);
  if (handle === null) {
    const { errno, message } = lastError();
    throw new AttachError(
      `Cannot attach program '${program.name}' as ${kind} to ${target}: ${message}`,
      {
        program: program.name,
        target: `${kind} ${target}`,
        errno: errno || 22,
      },
    );
  }
  return new Attachment(handle as AttachmentHandle, {
    kind,
    target,
    program: program.name,
  });
}

/** Throws a TypeError unless `program` looks loaded. */
export function checkProgram(program: AttachableProgram, kind: string): void {
  if (
    program === null || typeof program !== "object" ||
    typeof program.fd !== "number"
  ) {
    throw new TypeError(
      `attach ${kind}: expected a loaded program (b.programs.get(name)), got ${
        String(program)
      }`,
    );
  }
  if (program.fd < 0) {
    throw new TypeError(
      `attach ${kind}: program '${program.name}' is not loaded (was it excluded from load?)`,
    );
  }
}
