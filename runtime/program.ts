/**
 * A loaded BPF program, as listed by its object.
 *
 * @module
 */
import type { ProgramHandle } from "./_ffi.ts";
import type { ProgramDescription } from "./_describe.ts";
import { ClosedError } from "./errors.ts";

/**
 * One program of a loaded object: its name (the C function), section, kind and fd.
 *
 * @example Listing programs
 * ```ts
 * import { BPF } from "bpf";
 * using b = await BPF.load({ text: `TRACEPOINT_PROBE(syscalls, sys_enter_getppid) { return 0; }` });
 * for (const p of b.programs.values()) console.log(p.name, p.section, p.id);
 * ```
 */
export class Program {
  #handle: ProgramHandle;
  #isOpen: () => boolean;
  /** The program's name: its C function name. */
  readonly name: string;
  /** Its ELF section, e.g. `tracepoint/syscalls/sys_enter_clone`. */
  readonly section: string;
  /** `enum bpf_prog_type`. */
  readonly type: number;
  /** `enum bpf_attach_type` it was loaded for. */
  readonly expectedAttachType: number;
  /** Its fd (valid while the object is open). */
  readonly fd: number;
  /** The kernel's program id (as `bpftool prog show id N` takes it). */
  readonly id: number;

  /**
   * Wraps one program of a loaded object; made by BPF.load only.
   *
   * @param handle The native program.
   * @param isOpen Whether the owning object is still open.
   * @param info Its description (from `describeObject`).
   */
  constructor(
    handle: ProgramHandle,
    isOpen: () => boolean,
    info: ProgramDescription,
  ) {
    this.#handle = handle;
    this.#isOpen = isOpen;
    this.name = info.name;
    this.section = info.section;
    this.type = info.type;
    this.expectedAttachType = info.expectedAttachType;
    this.fd = info.fd;
    this.id = info.id;
  }

  /**
   * The libbpf `struct bpf_program *`, for attach functions (throws once the object is closed).
   *
   * @example The libbpf program
   * ```ts
   * import { BPF } from "bpf";
   * using b = await BPF.load({ file: "./probe.bpf.c", autoAttach: false });
   * const handle = b.programs.get("on_clone")!.handle;
   * ```
   */
  get handle(): ProgramHandle {
    if (!this.#isOpen()) {
      throw new ClosedError(
        `Program '${this.name}' belongs to a closed BPF object: load it again to use it`,
        { resource: `program '${this.name}'` },
      );
    }
    return this.#handle;
  }
}
