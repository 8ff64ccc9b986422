/**
 * Programs typed at attach time, as BCC loads them (`load_func` inside `attach_perf_event`,
 * `attach_kprobe`, ...). The BCC rewriter puts a function whose kind the C does not say
 * (`int on_sample(void *ctx)`) in `?bcc/late`, and gives a `struct pt_regs *` function a
 * twin per syscall tracepoint record (`?bcc/sys_enter`, `?bcc/sys_exit`) on a kernel without
 * kprobes; libbpf leaves them out of the object's load. Attaching one loads it then: a second
 * opening of the same ELF, where only that program loads, as the kind it is attached as, and
 * every map of the loaded object is shared (its fd reused), so both see the same data.
 *
 * @module
 */
import {
  cstr,
  lastError,
  lib,
  type ObjectHandle,
  type ProgramHandle,
} from "./_ffi.ts";
import { describeObject } from "./_describe.ts";
import { Program } from "./program.ts";
import { BpfError, Errno } from "./errors.ts";
import { loadError } from "./_load_error.ts";
import { isLateSection, programTypeNumber } from "./spec/section_kinds.ts";

/** The program types a late program can be loaded as, by the attach kind that loads it. */
const LATE_TYPES = {
  kprobe: programTypeNumber("kprobe"),
  tracepoint: programTypeNumber("tracepoint"),
  perf_event: programTypeNumber("perf_event"),
  raw_tp: programTypeNumber("raw_tracepoint"),
} as const;

/** An attach kind that loads a late program (uprobes are kprobe programs). */
export type LateKind = keyof typeof LATE_TYPES;

/** Counts of late loads this process made (for the bench and tests). */
export const lateStats = { loads: 0 };

/**
 * The late-loaded programs of one object, each loaded once per kind and kept until the object
 * closes (after its links).
 */
export class LatePrograms {
  #base: ObjectHandle;
  #object: Uint8Array;
  #btfPath: string;
  #isOpen: () => boolean;
  #loaded = new Map<string, { handle: ObjectHandle; program: Program }>();
  #names: Set<string>;

  /**
   * @param base The loaded object.
   * @param object Its ELF bytes.
   * @param btfPath The BTF for CO-RE ("" for the kernel's).
   * @param isOpen Whether the owning object is still open.
   */
  constructor(
    base: ObjectHandle,
    object: Uint8Array,
    btfPath: string,
    isOpen: () => boolean,
  ) {
    this.#base = base;
    this.#object = object;
    this.#btfPath = btfPath;
    this.#isOpen = isOpen;
    this.#names = new Set(
      describeObject(base).programs.filter((p) => isLateSection(p.section))
        .map((p) => p.name),
    );
  }

  /**
   * Whether the object has a program typed at attach time named `name`.
   *
   * @param name A program name.
   * @returns Whether {@linkcode LatePrograms.load} can load it.
   */
  has(name: string): boolean {
    return this.#names.has(name);
  }

  /**
   * Program `name` loaded as `kind` (once; later calls return the same program).
   *
   * @param name The program's name in the object.
   * @param kind What it is attached as.
   * @returns The loaded program.
   */
  load(name: string, kind: LateKind): Program {
    const key = `${name}\0${kind}`;
    const done = this.#loaded.get(key);
    if (done) return done.program;
    const s = lib();
    const handle = s.bpfpm_object__open_mem(
      this.#object,
      BigInt(this.#object.length),
      cstr("bpfpm"),
      cstr(this.#btfPath),
    ) as ObjectHandle | null;
    if (handle === null) {
      const { errno, message } = lastError();
      throw new BpfError(
        `Cannot open the BPF object again to load program '${name}' as ${kind}: ${message}`,
        { errno: errno || Errno.EINVAL },
      );
    }
    try {
      if (
        s.bpfpm_object__prepare_late(
            handle,
            this.#base,
            cstr(name),
            LATE_TYPES[kind],
            0,
          ) !== 0 || s.bpfpm_object__load(handle) !== 0
      ) {
        throw loadError(handle, {
          ...lastError(),
          locate: () => undefined,
          late: { program: name, kind },
        });
      }
    } catch (error) {
      s.bpfpm_object__close(handle);
      throw error;
    }
    lateStats.loads++;
    const info = describeObject(handle).programs.find((p) => p.name === name)!;
    const program = new Program(
      s.bpfpm_object__program(handle, info.index) as ProgramHandle,
      this.#isOpen,
      info,
    );
    this.#loaded.set(key, { handle, program });
    return program;
  }

  /** Unloads every late program (their links must be closed first). */
  close(): void {
    for (const { handle } of this.#loaded.values()) {
      lib().bpfpm_object__close(handle);
    }
    this.#loaded.clear();
  }
}
