/**
 * The disposable link returned by the tracepoint, raw tracepoint and tp_btf attach
 * functions, over a libbpf `struct bpf_link`.
 *
 * @module
 */
import { lastError, lib, type LinkHandle } from "../_ffi.ts";
import { AttachError, BpfError, CapabilityError } from "../errors.ts";
import { CAPABILITY_FIX } from "../_system.ts";
import type { Program } from "../program.ts";

const EPERM = 1;
const EACCES = 13;

const registry = new FinalizationRegistry<LinkHandle>((handle) => {
  lib().bpfpm_link__destroy(handle);
});

/**
 * A program attached to a hook. `close()` (or leaving a `using` block) detaches it; closing
 * the BPF object that made it detaches it too.
 *
 * @example Attaching by hand
 * ```ts
 * import { BPF } from "bpf";
 * using b = await BPF.load({
 *   text: `SEC("tracepoint/syscalls/sys_enter_getppid") int on_getppid(void *ctx) { return 0; }`,
 *   autoAttach: false,
 * });
 * using link = b.attachTracepoint("on_getppid", "syscalls:sys_enter_getppid");
 * console.log(link.kind, link.target, link.attached);
 * ```
 */
export class Link implements Disposable {
  #handle: LinkHandle | null;
  /** The attach kind: `tracepoint`, `raw_tp` or `tp_btf`. */
  readonly kind: string;
  /** What the program is attached to, e.g. `syscalls:sys_enter_clone`. */
  readonly target: string;
  /** The attached program's name. */
  readonly program: string;

  /**
   * Wraps a native link; made by the attach functions only.
   *
   * @param handle The native link.
   * @param info The kind, target and program name.
   */
  constructor(
    handle: LinkHandle,
    info: { kind: string; target: string; program: string },
  ) {
    this.#handle = handle;
    this.kind = info.kind;
    this.target = info.target;
    this.program = info.program;
    registry.register(this, handle, this);
  }

  /** True until `close()`. */
  get attached(): boolean {
    return this.#handle !== null;
  }

  /** The bpf link's fd. */
  get fd(): number {
    if (this.#handle === null) {
      throw new BpfError(
        `The ${this.kind} link on ${this.target} is closed: attach again to use it`,
        { errno: 9 },
      );
    }
    return lib().bpfpm_link__fd(this.#handle);
  }

  /** Detaches and frees; idempotent. */
  close(): void {
    const handle = this.#handle;
    if (handle === null) return;
    this.#handle = null;
    registry.unregister(this);
    if (lib().bpfpm_link__destroy(handle) !== 0) {
      const { errno, message } = lastError();
      throw new BpfError(
        `Cannot detach ${this.kind} ${this.target}: ${message}`,
        {
          errno,
        },
      );
    }
  }

  /** Same as `close()`. */
  [Symbol.dispose](): void {
    this.close();
  }
}

/**
 * Wraps the result of a native attach call, or throws: CapabilityError for EPERM/EACCES,
 * `notFound()`'s error for ENOENT when given, else an AttachError with the kernel's reason.
 */
export function linkOrThrow(
  handle: Deno.PointerValue,
  program: Program,
  info: { kind: string; target: string },
  notFound?: () => Error,
): Link {
  if (handle !== null) {
    return new Link(handle as LinkHandle, { ...info, program: program.name });
  }
  const { errno, message } = lastError();
  if (errno === EPERM || errno === EACCES) {
    throw new CapabilityError(
      `Attaching program '${program.name}' to ${info.kind} ${info.target} was refused (${message}): ${CAPABILITY_FIX}`,
      { missing: ["CAP_BPF", "CAP_PERFMON"], errno },
    );
  }
  if (errno === 2 && notFound) throw notFound();
  throw new AttachError(
    `Cannot attach program '${program.name}' to ${info.kind} ${info.target}: ${message}`,
    {
      program: program.name,
      target: `${info.kind} ${info.target}`,
      errno: errno || 22,
    },
  );
}
