/**
 * What the attach kinds that take any loaded program share (uprobe, kprobe, perf_event,
 * XDP, TC, socket filter, cgroup, LSM, iterator, USDT, fentry/fexit): the program check and
 * the native call wrapped into a {@link Link}.
 *
 * @module
 */
import { lastError, type LinkHandle } from "../_ffi.ts";
import { AttachError, Errno } from "../errors.ts";
import { Link, nativeError } from "./link.ts";
import type { AttachKind } from "../spec/section_kinds.ts";

export { nativeError };

/**
 * What an attach function needs of a loaded program.
 *
 * @example A loaded program is attachable
 * ```ts
 * import { type AttachableProgram, BPF } from "bpf";
 * using b = await BPF.load({ file: "./probe.bpf.c", autoAttach: false });
 * const p: AttachableProgram = b.programs.get("on_readline")!;
 * console.log(p.name, p.fd);
 * ```
 */
export interface AttachableProgram {
  /** The program's name (its C function name). */
  readonly name: string;
  /** The program's fd; negative before load. */
  readonly fd: number;
  /** The libbpf `struct bpf_program *`, needed only by USDT. */
  readonly handle?: Deno.PointerObject | null;
}

/**
 * The attach kinds that take any loaded program (see {@link AttachableProgram}): all but the
 * tracepoint kinds, which take a `Program` from `BPF.load`.
 */
export type AttachmentKind = Exclude<
  AttachKind,
  "tracepoint" | "raw_tp" | "tp_btf"
>;

/**
 * The link every attach kind returns: this name is kept for scripts written against it.
 *
 * @deprecated Use {@link Link}: `Attachment` is the same class.
 *
 * @example Old code keeps working
 * ```ts
 * import { Attachment, Link } from "bpf";
 * console.log(Attachment === Link); // true
 * ```
 */
export const Attachment: typeof Link = Link;
/**
 * The link every attach kind returns.
 *
 * @deprecated Use {@link Link}.
 *
 * @example Old type annotations keep working
 * ```ts
 * import { BPF, type Attachment } from "bpf";
 * using b = await BPF.load({ file: "./probe.bpf.c", autoAttach: false });
 * const link: Attachment = b.attachUprobe("on_readline", { binary: "bash", symbol: "readline" });
 * ```
 */
export type Attachment = Link;

/**
 * Runs a native attach call and wraps its handle, or throws an AttachError naming the
 * program, the target and the kernel's reason (errno kept).
 */
export function attachNative(
  program: AttachableProgram,
  kind: AttachmentKind,
  target: string,
  call: (fd: number) => Deno.PointerValue,
): Link {
  checkProgram(program, kind);
  const handle = call(program.fd);
  if (handle === null) {
    const { errno, message } = lastError();
    throw new AttachError(
      `Cannot attach program '${program.name}' as ${kind} to ${target}: ${message}`,
      {
        program: program.name,
        target: `${kind} ${target}`,
        errno: errno || Errno.EINVAL,
      },
    );
  }
  return new Link(
    handle as LinkHandle,
    { kind, target, program: program.name },
  );
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
