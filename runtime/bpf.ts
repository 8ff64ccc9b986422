/**
 * The BPF class: compile (cached), check grants, load, auto-attach, trace output, and one
 * cleanup path for every way the script ends.
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
import { compile } from "./compile/compile.ts";
import { CompileError } from "./compile/compile_error.ts";
import {
  AttachError,
  BpfError,
  CapabilityError,
  ClosedError,
  Errno,
  withPermission,
} from "./errors.ts";
import {
  attachCall,
  checkArgument,
  checkLoadOptions,
  PROGRAM,
} from "./_options.ts";
import {
  kernelBtfPath,
  requireCapabilities,
  requireKernelBtf,
} from "./_system.ts";
import { optionalEnv } from "./_env.ts";
import { type SourceSite, sourceSite } from "./_location.ts";
import {
  type ObjectFacts,
  objectFacts,
  type RewrittenSource,
  rewrittenSource,
} from "./_warm.ts";
import { Program } from "./program.ts";
import type { LateKind, LatePrograms } from "./late.ts";
import {
  isLateSection,
  isSyscallTwin,
  syscallTwinName,
} from "./spec/section_kinds.ts";
import { describeObject } from "./_describe.ts";
import type { LocatedSource } from "./_load_error.ts";
import { ObjectMap } from "./object_map.ts";
import { autoAttachRule, type Detachable } from "./attach/auto.ts";
import { attachTracepoint } from "./attach/tracepoint.ts";
import { attachRawTracepoint } from "./attach/raw_tracepoint.ts";
import type { Link } from "./attach/link.ts";
import {
  attachKprobe,
  attachKretprobe,
  haveKprobes,
  type KprobeOptions,
  syscallName,
  unreachableSyscall,
} from "./attach/kprobe.ts";
import { attachFentry, attachFexit } from "./attach/fentry.ts";
import {
  attachUprobe,
  attachUretprobe,
  type UprobeOptions,
} from "./attach/uprobe.ts";
import { attachUsdt, type UsdtOptions } from "./attach/usdt.ts";
import {
  attachKprobeMulti,
  attachUprobeMulti,
  type KprobeMultiOptions,
  type UprobeMultiOptions,
} from "./attach/multi.ts";
import { attachPerfEvent, type PerfEventOptions } from "./attach/perf_event.ts";
import { attachXdp, type XdpOptions } from "./attach/xdp.ts";
import { attachTc, type TcOptions } from "./attach/tc.ts";
import {
  attachSocketFilter,
  type SocketFilterOptions,
} from "./attach/socket_filter.ts";
import { attachCgroup, type CgroupOptions } from "./attach/cgroup.ts";
import { attachLsm } from "./attach/lsm.ts";
import { attachIter } from "./attach/iter.ts";
import { checkAttachTarget } from "./policy/check.ts";
import { resolveBinary } from "./attach/find_library.ts";

/** The effective grants of each object, for targets given at attach time. */
const attachGrants = new WeakMap<BPF, Grants>();

/** A uprobe's target as grants name it: `/usr/bin/bash:readline`. */
function uprobeTarget(o: UprobeOptions): string {
  if (typeof o?.binary !== "string" || o.binary === "") return "";
  const path = resolveBinary(o.binary) ?? o.binary;
  return `${path}:${o.symbol ?? `0x${BigInt(o.offset ?? 0).toString(16)}`}`;
}

import {
  type Cancellable,
  readTraceFields,
  readTracePipe,
  type TraceFields,
} from "./trace/trace_pipe.ts";
import { checkGrants } from "./policy/check.ts";
import { effectiveGrants } from "./policy/effective.ts";
import type { Grants } from "./policy/grants.ts";
import { track } from "./lifecycle.ts";
import type {
  EventRecord,
  MapOwner,
  ObjectEventOptions,
} from "./maps/object_maps.ts";
import type { BpfMap as TypedMap } from "./maps/bpf_map.ts";
import type { QueueMap, StackTraceMap } from "./maps/special_maps.ts";
import type { Codec } from "./btf/codec.ts";
import type { EventReader } from "./events/event_reader.ts";

/**
 * The typed map and event views (runtime/maps, runtime/events, runtime/btf) are imported
 * only by objects that have maps a script can read: a warm start of a map-less probe (whose
 * only maps hold its string constants) then skips loading those modules.
 */
let objectMapsModule: typeof import("./maps/object_maps.ts") | undefined;
const READ_ONLY_DATA = /\.(rodata|kconfig)(\.|$)/;

async function loadObjectMaps(): Promise<void> {
  objectMapsModule ??= await import("./maps/object_maps.ts");
}

function objectMaps(): typeof import("./maps/object_maps.ts") {
  if (!objectMapsModule) {
    throw new RangeError(
      "This object has no maps a script can read (only read-only data): b.map() and friends need a map",
    );
  }
  return objectMapsModule;
}

/**
 * Options of {@linkcode BPF.load}.
 *
 * @example Load a file without auto-attach
 * ```ts
 * import { BPF, type LoadOptions } from "bpf";
 * const options: LoadOptions = { file: "./probe.bpf.c", cflags: ["-DDEBUG"], autoAttach: false };
 * using b = await BPF.load(options);
 * ```
 *
 * @example Set a `const volatile u32 target_pid` before load
 * ```ts
 * import { BPF } from "bpf";
 * using b = await BPF.load({ file: "./probe.bpf.c", constants: { target_pid: 42 } });
 * ```
 *
 * @example Use a hash map the user pinned as the object's `cgroup_map`
 * ```ts
 * import { BPF } from "bpf";
 * using b = await BPF.load({
 *   file: "./probe.bpf.c",
 *   reuseMaps: { cgroup_map: "/sys/fs/bpf/cgroupset" },
 * });
 * ```
 */
export interface LoadOptions {
  /** BPF C (libbpf style, or BCC's dialect such as `TRACEPOINT_PROBE`). */
  text?: string;
  /** A file holding BPF C, instead of `text`. */
  file?: string | URL;
  /** A compiled BPF ELF object, instead of `text` or `file` (no compile). */
  object?: Uint8Array;
  /** Extra clang flags, e.g. `["-DFILTER_PID=42"]`. */
  cflags?: readonly string[];
  /** BPF permissions granted to this object (docs/manifest.md); checked before load. */
  grants?: Grants;
  /** Attach programs by section name (`tracepoint/`, `raw_tp/`, `tp_btf/`, ...); default true. */
  autoAttach?: boolean;
  /**
   * The program's `const volatile` values (its `.rodata`) by name, set between open and load
   * so the verifier sees them as constants (`if (target_pid && ...)` is pruned when 0). Each
   * is checked against the variable's BTF type: a number or bigint for an integer or enum, a
   * boolean for a `bool`.
   */
  constants?: Readonly<Record<string, number | bigint | boolean>>;
  /**
   * Maps to take from bpffs instead of creating them, by map name: each path must be a pin
   * of a map with the type and key size the object declares (its value size and capacity
   * are the pin's), e.g. a filter set the user keeps, as BCC's `BPF_TABLE_PINNED`. Under
   * `bpfpm run` only the pins the user named on the command line (docs/security.md).
   */
  reuseMaps?: Readonly<Record<string, string>>;
}

/** C whose place is known to the caller of {@link loadLocated}, by the options it loads. */
const located = new WeakMap<
  LoadOptions,
  {
    source: string;
    site?: SourceSite;
    name?: string;
    check?: (facts: ObjectFacts) => void;
  }
>();

/**
 * `BPF.load({ text })` for C that came from elsewhere: the sandbox's trusted side loads a
 * package's C with the package's own file name and place, so diagnostics point there.
 *
 * @param options the load options (`text` holds the C)
 * @param place clang's file name for the C, where it sits in the package's file, and a
 *   check of the compiled object's facts the caller adds to the grants check
 * @returns the loaded object
 */
export function loadLocated(
  options: LoadOptions & { text: string },
  place: {
    name?: string;
    site?: SourceSite;
    check?: (facts: ObjectFacts) => void;
  },
): Promise<BPF> {
  located.set(options, { source: options.text, ...place });
  return BPF.load(options);
}

const objects = new FinalizationRegistry<ObjectHandle>((handle) => {
  lib().bpfpm_object__close(handle);
});

/**
 * A loaded BPF object: its programs and maps, the links that attach them, and its output.
 * Closing it (or leaving a `using` block, or the script ending in any way) detaches and
 * frees everything.
 *
 * @example BCC's Hello World
 * ```ts
 * import { BPF } from "bpf";
 * using b = await BPF.load({ text: `
 *   TRACEPOINT_PROBE(syscalls, sys_enter_clone) {
 *     bpf_trace_printk("Hello, World!\\n");
 *     return 0;
 *   }` });
 * for await (const line of b.tracePrint()) console.log(line);
 * ```
 */
export class BPF implements Disposable {
  #handle: ObjectHandle | null;
  #links = new Set<Detachable>();
  #readers = new Set<Cancellable>();
  #untrack: () => void;
  /** BCC's programs typed at attach time, loaded when attached (runtime/late.ts). */
  #late: LatePrograms | undefined;
  /** The programs, by name. */
  readonly programs: ReadonlyMap<string, Program>;
  /** The maps, by name. */
  readonly maps: ReadonlyMap<string, ObjectMap>;
  /** The loaded ELF object's bytes (for BTF-typed views of maps and events). */
  readonly object: Uint8Array;
  /** Whether the object came from the compile cache (nothing was compiled). */
  readonly cached: boolean;

  private constructor(
    handle: ObjectHandle,
    object: Uint8Array,
    cached: boolean,
    late?: typeof LatePrograms,
  ) {
    this.#handle = handle;
    this.object = object;
    this.cached = cached;
    const s = lib();
    const isOpen = () => this.#handle !== null;
    const described = describeObject(handle);
    const programs = new Map<string, Program>();
    for (const info of described.programs) {
      if (late && isLateSection(info.section)) {
        this.#late ??= new late(
          handle,
          object,
          optionalEnv("BPFPM_BTF_PATH") ? kernelBtfPath() : "",
          isOpen,
        );
        // A syscall twin is loaded in place of its function's kprobe, never by name.
        if (isSyscallTwin(info.section)) continue;
      }
      const p = new Program(
        s.bpfpm_object__program(handle, info.index) as ProgramHandle,
        isOpen,
        info,
      );
      programs.set(p.name, p);
    }
    const maps = new Map<string, ObjectMap>();
    for (const info of described.maps) maps.set(info.name, new ObjectMap(info));
    this.programs = programs;
    this.maps = maps;
    objects.register(this, handle, this);
    this.#untrack = track(this);
  }

  /**
   * Compiles (through the cache), checks grants, loads and auto-attaches a BPF object.
   *
   * @param options The C (`text` or `file`) or a compiled `object`, and how to load it.
   * @returns The loaded object; dispose or `close()` it to detach.
   * @throws {CompileError} When the C does not compile (positions in the caller's file).
   * @throws {VerifierError} When the verifier rejects a program (`log`, `summary`).
   * @throws {CapabilityError} Without CAP_BPF and CAP_PERFMON.
   * @throws {KernelBtfError} Without kernel BTF.
   * @throws {TracepointNotFoundError} When a probed tracepoint does not exist.
   * @throws {DenoPermissionError} When a Deno permission is missing (names the flag).
   *
   * @example Loading libbpf-style C without attaching
   * ```ts
   * import { BPF } from "bpf";
   * using b = await BPF.load({
   *   text: `SEC("raw_tp/sys_enter") int on_enter(void *ctx) { return 0; }`,
   *   autoAttach: false,
   * });
   * console.log([...b.programs.keys()]);
   * ```
   */
  static async load(options: LoadOptions): Promise<BPF> {
    // The caller's frames, formatted (source-mapped) only if an error needs its place.
    const caller = new Error();
    checkLoadOptions(options);
    const grants = effectiveGrants(options.grants);
    requireCapabilities();
    requireKernelBtf();

    const { object, cached, locate } = await objectOf(options, caller);
    // Grants (runtime/policy) are checked here: on the ELF bytes, before anything is loaded.
    const facts = await objectFacts(object);
    checkGrants(facts, grants);
    located.get(options)?.check?.(facts);
    // Constants are checked against the object's BTF before anything is opened.
    const constants = options.constants && Object.keys(options.constants).length
      ? (await import("./_constants.ts")).constantBytes(
        object,
        options.constants,
      )
      : [];

    // BCC's programs typed at attach time (runtime/late.ts, with the load-failure classifier)
    // are loaded by a module only an object that has them imports.
    const late = facts.programs.some((p) => isLateSection(p.section))
      ? (await import("./late.ts")).LatePrograms
      : undefined;

    const s = lib();
    const btfOverride = optionalEnv("BPFPM_BTF_PATH");
    const handle = s.bpfpm_object__open_mem(
      object,
      BigInt(object.length),
      cstr("bpfpm"),
      cstr(btfOverride ? kernelBtfPath() : ""),
    ) as ObjectHandle | null;
    if (handle === null) {
      const { errno, message } = lastError();
      throw new BpfError(
        `Cannot open the BPF object (${message}): check that it is a BPF ELF built with -target bpf -g`,
        { errno: errno || Errno.EINVAL },
      );
    }
    try {
      if (options.autoAttach !== false) checkAutoAttachTargets(handle);
      for (const c of constants) {
        const rc = s.bpfpm_object__set_initial_bytes(
          handle,
          cstr(c.section),
          BigInt(c.offset),
          c.bytes,
          BigInt(c.bytes.length),
        );
        if (rc !== 0) {
          const { errno, message } = lastError();
          throw new BpfError(
            `Cannot set the constant ${c.name} (${message}): check that the object's ${c.section} holds it`,
            { errno: errno || Errno.EINVAL },
          );
        }
      }
      if (options.reuseMaps && Object.keys(options.reuseMaps).length) {
        (await import("./_pinned_maps.ts")).reusePinnedMaps(
          handle,
          facts,
          options.reuseMaps,
        );
      }
      if (s.bpfpm_object__load(handle) !== 0) {
        // The thread's last error is read before the await; the failure's classifier (and
        // the verifier's log reader) is loaded only when a load fails.
        const failure = lastError();
        const { loadError } = await import("./_load_error.ts");
        throw loadError(handle, { ...failure, locate });
      }
    } catch (error) {
      s.bpfpm_object__close(handle);
      throw error;
    }
    const b = new BPF(handle, object, cached, late);
    attachGrants.set(b, grants); // targets given at attach time are checked too
    if ([...b.maps.keys()].some((name) => !READ_ONLY_DATA.test(name))) {
      await loadObjectMaps();
    }
    if (options.autoAttach !== false) {
      try {
        await b.#prepareAutoAttach();
        b.#autoAttach();
      } catch (error) {
        b.close();
        throw error;
      }
    }
    return b;
  }

  async #prepareAutoAttach(): Promise<void> {
    for (const program of this.programs.values()) {
      const prepare = autoAttachRule(program.section)?.rule.prepare;
      if (prepare) await prepare();
    }
  }

  #autoAttach(): void {
    for (const program of this.programs.values()) {
      const found = autoAttachRule(program.section);
      // A multi section's glob is checked against the grants place by place.
      if (found) {
        this.adopt(
          found.rule.attach(program, found.target, this.#placeCheck(program)),
        );
      }
    }
  }

  /**
   * Whether the object is still loaded.
   *
   * @example After close()
   * ```ts
   * import { BPF } from "bpf";
   * const b = await BPF.load({ file: "./probe.bpf.c" });
   * b.close();
   * console.log(b.loaded); // false
   * ```
   */
  get loaded(): boolean {
    return this.#handle !== null;
  }

  /**
   * Attaches a program to the tracepoint `category:event`.
   *
   * @param program The program or its name.
   * @param tracepoint `category:event`, e.g. `syscalls:sys_enter_clone`.
   * @returns The link; closing this object detaches it too.
   *
   * @example
   * ```ts
   * import { BPF } from "bpf";
   * using b = await BPF.load({ file: "./probe.bpf.c", autoAttach: false });
   * b.attachTracepoint("on_clone", "syscalls:sys_enter_clone");
   * ```
   */
  attachTracepoint(program: Program | string, tracepoint: string): Link {
    // The target comes at run time: it is checked against the grants like any other.
    const p = this.#granted("tracepoint", program, tracepoint);
    if (isLateSection(p.section)) {
      return this.adopt(
        attachTracepoint(this.#typed(p, "tracepoint"), tracepoint),
      );
    }
    return this.adopt(attachTracepoint(p, tracepoint));
  }

  /**
   * Attaches a program to the raw tracepoint `name` (e.g. `sched_switch`).
   *
   * @param program The program or its name.
   * @param name The tracepoint's event name.
   * @returns The link; closing this object detaches it too.
   *
   * @example
   * ```ts
   * import { BPF } from "bpf";
   * using b = await BPF.load({ file: "./probe.bpf.c", autoAttach: false });
   * b.attachRawTracepoint("on_switch", "sched_switch");
   * ```
   */
  attachRawTracepoint(program: Program | string, name: string): Link {
    const p = this.#granted("raw_tp", program, name);
    if (isLateSection(p.section)) {
      return this.adopt(attachRawTracepoint(this.#typed(p, "raw_tp"), name));
    }
    return this.adopt(attachRawTracepoint(p, name));
  }

  /**
   * Attaches a program to a kernel function's entry (kprobe). Without kprobes (CONFIG_KPROBES unset)
   * it throws an AttachError naming that, except that a syscall function falls back to its
   * syscall tracepoint and says so once on stderr.
   *
   * @param program The program or its name.
   * @param func The kernel function, e.g. `do_sys_openat2` or `__x64_sys_openat`.
   * @param options Offset, cookie, fallback.
   * @returns The link; closing this object detaches it too.
   *
   * @example
   * ```ts
   * import { BPF } from "bpf";
   * using b = await BPF.load({ file: "./probe.bpf.c", autoAttach: false });
   * b.attachKprobe("on_open", "do_sys_openat2");
   * ```
   */
  attachKprobe(
    program: Program | string,
    func: string,
    options?: KprobeOptions,
  ): Link {
    const p = this.#granted("kprobe", program, func);
    return this.#syscallTwin(p, func, false, options) ??
      this.adopt(attachKprobe(this.#typed(p, "kprobe"), func, options));
  }

  /**
   * Attaches a program to a kernel function's return (kretprobe); see `attachKprobe`.
   *
   * @param program The program or its name.
   * @param func The kernel function.
   * @param options maxactive, cookie, fallback.
   * @returns The link; closing this object detaches it too.
   *
   * @example
   * ```ts
   * import { BPF } from "bpf";
   * using b = await BPF.load({ file: "./probe.bpf.c", autoAttach: false });
   * b.attachKretprobe("on_open_ret", "do_sys_openat2", { maxactive: 64 });
   * ```
   */
  attachKretprobe(
    program: Program | string,
    func: string,
    options?: KprobeOptions,
  ): Link {
    const p = this.#granted("kretprobe", program, func);
    return this.#syscallTwin(p, func, true, options) ??
      this.adopt(attachKretprobe(this.#typed(p, "kprobe"), func, options));
  }

  /**
   * Attaches an fentry program to the kernel function its section names (`fentry/<function>`).
   *
   * @param program The program or its name.
   * @returns The link; closing this object detaches it too.
   *
   * @example
   * ```ts
   * import { BPF } from "bpf";
   * using b = await BPF.load({ file: "./probe.bpf.c", autoAttach: false });
   * b.attachFentry("on_unlink");
   * ```
   */
  attachFentry(program: Program | string): Link {
    return this.adopt(attachFentry(this.#program(program)));
  }

  /**
   * Attaches an fexit program to the kernel function its section names (`fexit/<function>`).
   *
   * @param program The program or its name.
   * @returns The link; closing this object detaches it too.
   *
   * @example
   * ```ts
   * import { BPF } from "bpf";
   * using b = await BPF.load({ file: "./probe.bpf.c", autoAttach: false });
   * b.attachFexit("on_unlink_ret");
   * ```
   */
  attachFexit(program: Program | string): Link {
    return this.adopt(attachFexit(this.#program(program)));
  }

  /**
   * Attaches a program at a function (or offset) of a binary or library (uprobe).
   *
   * @param program The program or its name.
   * @param options `{ binary, symbol | offset, pid? }`; `binary` may be a library name (`c`).
   * @returns The link; closing this object detaches it too.
   *
   * @example
   * ```ts
   * import { BPF } from "bpf";
   * using b = await BPF.load({ file: "./probe.bpf.c", autoAttach: false });
   * b.attachUprobe("on_readline", { binary: "/bin/bash", symbol: "readline" });
   * ```
   */
  attachUprobe(program: Program | string, options: UprobeOptions): Link {
    const p = this.#granted("uprobe", program, uprobeTarget(options));
    return this.adopt(attachUprobe(this.#typed(p, "kprobe"), options));
  }

  /**
   * Attaches a program to the return of a function of a binary or library (uretprobe).
   *
   * @param program The program or its name.
   * @param options `{ binary, symbol | offset, pid? }`.
   * @returns The link; closing this object detaches it too.
   *
   * @example
   * ```ts
   * import { BPF } from "bpf";
   * using b = await BPF.load({ file: "./probe.bpf.c", autoAttach: false });
   * b.attachUretprobe("ret_readline", { binary: "bash", symbol: "readline" });
   * ```
   */
  attachUretprobe(
    program: Program | string,
    options: UprobeOptions,
  ): Link {
    const p = this.#granted("uretprobe", program, uprobeTarget(options));
    return this.adopt(attachUretprobe(this.#typed(p, "kprobe"), options));
  }

  /**
   * Attaches a `uprobe.multi`, `uretprobe.multi` or `uprobe.session` program at many functions
   * of a binary as one link; each function is checked against the grants' targets.
   *
   * @param program The program or its name.
   * @param options `{ binary, symbols (a glob or names) | offsets, cookies?, pid?, mode? }`.
   * @returns The link (`count` places); closing this object detaches it too.
   *
   * @example Every str*cmp of libc
   * ```ts
   * import { BPF } from "bpf";
   * using b = await BPF.load({ file: "./probe.bpf.c", autoAttach: false });
   * b.attachUprobeMulti("on_cmp", { binary: "c", symbols: "str*cmp" });
   * ```
   */
  attachUprobeMulti(
    program: Program | string,
    options: UprobeMultiOptions,
  ): Link {
    const p = this.#program(program, "uprobe");
    return this.adopt(attachUprobeMulti(p, options, this.#placeCheck(p)));
  }

  /**
   * Attaches a `kprobe.multi`, `kretprobe.multi` or `kprobe.session` program at many kernel
   * functions as one link; each function is checked against the grants' targets. Without
   * kprobes (CONFIG_KPROBES unset) it throws an AttachError naming that, except that syscall
   * functions fall back to their syscall tracepoints.
   *
   * @param program The program or its name.
   * @param options `{ symbols (a glob or names), cookies?, mode?, fallback? }`.
   * @returns The link; closing this object detaches it too.
   *
   * @example
   * ```ts
   * import { BPF } from "bpf";
   * using b = await BPF.load({ file: "./probe.bpf.c", autoAttach: false });
   * b.attachKprobeMulti("on_open", { symbols: ["__x64_sys_openat", "__x64_sys_openat2"] });
   * ```
   */
  attachKprobeMulti(
    program: Program | string,
    options: KprobeMultiOptions,
  ): Link {
    const p = this.#program(program, "kprobe");
    return this.adopt(attachKprobeMulti(p, options, this.#placeCheck(p)));
  }

  /** The grants check of each place a multi attach resolves, if this object has grants. */
  #placeCheck(
    p: Program,
  ): ((kind: string, target: string) => void) | undefined {
    const grants = attachGrants.get(this);
    return grants &&
      ((kind, target) =>
        checkAttachTarget(grants, { program: p.name, kind, target }));
  }

  /**
   * Attaches a `SEC("usdt")` program to a USDT probe (arguments via `bpf_usdt_arg()`).
   *
   * @param program The program or its name.
   * @param options `{ binary, provider, name, pid? }`.
   * @returns The link; closing this object detaches it too.
   *
   * @example
   * ```ts
   * import { BPF } from "bpf";
   * using b = await BPF.load({ file: "./probe.bpf.c", autoAttach: false });
   * b.attachUsdt("on_tick", { binary: "./app", provider: "app", name: "tick" });
   * ```
   */
  attachUsdt(program: Program | string, options: UsdtOptions): Link {
    const p = this.#granted(
      "usdt",
      program,
      `${
        uprobeTarget({ binary: options?.binary, offset: 0 }).split(":0x")[0]
      }:${options?.provider}:${options?.name}`,
    );
    return this.adopt(attachUsdt(p, options));
  }

  /**
   * Attaches a perf_event program to a sampling event on every CPU (or one pid/CPU).
   *
   * @param program The program or its name.
   * @param options `{ event | type+config, frequency | period, pid?, cpu? }`.
   * @returns The link; closing this object detaches it too.
   *
   * @example
   * ```ts
   * import { BPF } from "bpf";
   * using b = await BPF.load({ file: "./probe.bpf.c", autoAttach: false });
   * b.attachPerfEvent("on_sample", { event: "cpu-clock", frequency: 99 });
   * ```
   */
  attachPerfEvent(
    program: Program | string,
    options: PerfEventOptions,
  ): Link {
    const p = this.#granted(
      "perf_event",
      program,
      options.event ?? `${options.type}:${options.config}`,
    );
    return this.adopt(attachPerfEvent(this.#typed(p, "perf_event"), options));
  }

  /**
   * Attaches an XDP program to a network interface (a bpf link unless `replace`).
   *
   * @param program The program or its name.
   * @param ifname The interface.
   * @param options mode, replace, netns.
   * @returns The link; closing this object detaches it too.
   *
   * @example
   * ```ts
   * import { BPF } from "bpf";
   * using b = await BPF.load({ file: "./probe.bpf.c", autoAttach: false });
   * b.attachXdp("count", "eth0", { mode: "generic" });
   * ```
   */
  attachXdp(
    program: Program | string,
    ifname: string,
    options?: XdpOptions,
  ): Link {
    const p = this.#granted("xdp", program, ifname);
    return this.adopt(attachXdp(p, ifname, options));
  }

  /**
   * Attaches a TC classifier to an interface's ingress or egress (tcx link, else clsact).
   *
   * @param program The program or its name.
   * @param ifname The interface.
   * @param options direction, clsact, netns.
   * @returns The link; closing this object detaches it too.
   *
   * @example
   * ```ts
   * import { BPF } from "bpf";
   * using b = await BPF.load({ file: "./probe.bpf.c", autoAttach: false });
   * b.attachTc("count", "eth0", { direction: "egress" });
   * ```
   */
  attachTc(
    program: Program | string,
    ifname: string,
    options?: TcOptions,
  ): Link {
    const p = this.#granted("tc", program, ifname);
    return this.adopt(attachTc(p, ifname, options));
  }

  /**
   * Attaches a socket filter to a new raw socket (bound to `ifname`) or to a socket fd.
   *
   * @param program The program or its name.
   * @param options ifname, fd, netns.
   * @returns The link; closing this object detaches it too.
   *
   * @example
   * ```ts
   * import { BPF } from "bpf";
   * using b = await BPF.load({ file: "./probe.bpf.c", autoAttach: false });
   * b.attachSocketFilter("count", { ifname: "lo" });
   * ```
   */
  attachSocketFilter(
    program: Program | string,
    options?: SocketFilterOptions,
  ): Link {
    const p = this.#granted("socket_filter", program, options?.ifname ?? "*");
    return this.adopt(attachSocketFilter(p, options));
  }

  /**
   * Attaches a cgroup program (skb, sock, sock_addr, ...) to a cgroup v2 directory.
   *
   * @param program The program or its name.
   * @param options `{ path, attach? }`.
   * @returns The link; closing this object detaches it too.
   *
   * @example
   * ```ts
   * import { BPF } from "bpf";
   * using b = await BPF.load({ file: "./probe.bpf.c", autoAttach: false });
   * b.attachCgroup("egress", { path: "/sys/fs/cgroup/test" });
   * ```
   */
  attachCgroup(program: Program | string, options: CgroupOptions): Link {
    const p = this.#granted("cgroup", program, options?.path);
    return this.adopt(attachCgroup(p, options));
  }

  /**
   * Attaches a BPF LSM program to the hook its section names (`lsm/<hook>`).
   *
   * @param program The program or its name.
   * @returns The link; closing this object detaches it too.
   *
   * @example
   * ```ts
   * import { BPF } from "bpf";
   * using b = await BPF.load({ file: "./probe.bpf.c", autoAttach: false });
   * b.attachLsm("on_file_open");
   * ```
   */
  attachLsm(program: Program | string): Link {
    return this.adopt(attachLsm(this.#program(program)));
  }

  /**
   * Makes an iterator link; `readIter(link)` runs the program once and returns its text.
   *
   * @param program The program or its name.
   * @returns The link; closing this object detaches it too.
   *
   * @example
   * ```ts
   * import { BPF, readIter } from "bpf";
   * using b = await BPF.load({ file: "./probe.bpf.c", autoAttach: false });
   * console.log(readIter(b.attachIter("dump_task")));
   * ```
   */
  attachIter(program: Program | string): Link {
    return this.adopt(attachIter(this.#program(program)));
  }
  /**
   * The program to attach as `kind`: itself, or, for a BCC program typed at attach time, the
   * program loaded as that kind then (with this object's maps).
   */
  #typed(p: Program, kind: LateKind): Program {
    return this.#late && isLateSection(p.section)
      ? this.#late.load(p.name, kind)
      : p;
  }

  /**
   * A kprobe on a syscall where the kernel has no kprobes, of a BCC program that has a
   * tracepoint form (typed at attach time, or a `struct pt_regs *` function's twin reading
   * the arguments and return value from the record): that form on the syscall's tracepoint,
   * exactly as auto-attach falls back. `undefined` when the kprobe path applies.
   */
  #syscallTwin(
    p: Program,
    func: string,
    ret: boolean,
    options: KprobeOptions | undefined,
  ): Link | undefined {
    const syscall = syscallName(func);
    if (
      !this.#late || !syscall || options?.fallback === "error" || haveKprobes()
    ) return undefined;
    const name = isLateSection(p.section)
      ? p.name
      : syscallTwinName(p.name, ret);
    if (!this.#late.has(name)) return undefined;
    const tracepoint = `syscalls:sys_${ret ? "exit" : "enter"}_${syscall}`;
    try {
      const twin = this.#late.load(name, "tracepoint");
      return this.adopt(
        unreachableSyscall(p.name, func, ret) ??
          attachTracepoint(twin, tracepoint),
      );
    } catch (error) {
      // The kernel refuses (EACCES) a program reading past the tracepoint's record (the
      // capabilities were checked at load): registers read through ctx directly, which the
      // twin cannot map.
      if (!(error instanceof CapabilityError)) throw error;
      throw new AttachError(
        `Cannot attach program '${p.name}' to ${func} through tracepoint ${tracepoint} (this kernel has no kprobes): it reads registers through ctx beyond the syscall's record: only PT_REGS_PARMn(ctx) and PT_REGS_RC(ctx), in the probe function or a static helper it passes ctx to, are mapped to the record (a direct ctx->di or ctx->ax is not)`,
        {
          program: p.name,
          target: `${ret ? "kretprobe" : "kprobe"} ${func}`,
          errno: error.errno,
          cause: error,
        },
      );
    }
  }

  /** The program, after checking a run-time attach target against the grants. */
  #granted(kind: string, program: Program | string, target: string): Program {
    const p = this.#program(program, kind);
    const grants = attachGrants.get(this);
    if (grants) checkAttachTarget(grants, { program: p.name, kind, target });
    return p;
  }

  /**
   * Makes `link` this object's: `close()` closes it too (before unloading the programs).
   * Attach functions of every kind use this.
   *
   * @param link A link made for one of this object's programs.
   * @returns `link`.
   *
   * @example
   * ```ts
   * import { BPF } from "bpf";
   * import { attachTracepoint } from "./attach/tracepoint.ts";
   * using b = await BPF.load({ file: "./probe.bpf.c", autoAttach: false });
   * b.adopt(attachTracepoint(b.programs.get("on_clone")!, "syscalls:sys_enter_clone"));
   * ```
   */
  adopt<T extends Detachable>(link: T): T {
    this.#open();
    this.#links.add(link);
    return link;
  }

  /**
   * The links attached so far (auto-attached and adopted), still open or not.
   *
   * @example What auto-attach did
   * ```ts
   * import { BPF } from "bpf";
   * using b = await BPF.load({ file: "./probe.bpf.c" });
   * for (const l of b.links) console.log(l.kind, l.target, l.program);
   * ```
   */
  get links(): readonly Detachable[] {
    return [...this.#links];
  }

  /**
   * trace_pipe's lines (the output of `bpf_trace_printk`), until this object is closed or
   * the loop ends. trace_pipe is global: it carries every process's BPF printk output.
   *
   * @returns An async iterable of lines.
   *
   * @example
   * ```ts
   * import { BPF } from "bpf";
   * using b = await BPF.load({ text: `TRACEPOINT_PROBE(syscalls, sys_enter_getppid) { bpf_trace_printk("hi\\n"); return 0; }` });
   * for await (const line of b.tracePrint()) { console.log(line); break; }
   * ```
   */
  tracePrint(): AsyncGenerator<string, void, undefined> {
    this.#open();
    return keepAlive(this, readTracePipe((r) => this.#reader(r)));
  }

  /**
   * trace_pipe's events parsed into `{ task, pid, cpu, flags, ts, msg }`, like BCC's
   * `trace_fields()`.
   *
   * @returns An async iterable of parsed events.
   *
   * @example
   * ```ts
   * import { BPF } from "bpf";
   * using b = await BPF.load({ text: `TRACEPOINT_PROBE(syscalls, sys_enter_getppid) { bpf_trace_printk("hi\\n"); return 0; }` });
   * for await (const { pid, msg } of b.traceFields()) { console.log(pid, msg); break; }
   * ```
   */
  traceFields(): AsyncGenerator<TraceFields, void, undefined> {
    this.#open();
    return keepAlive(this, readTraceFields((r) => this.#reader(r)));
  }

  // The map and event views are runtime/maps and runtime/events, which load() imports only
  // for an object with maps a script can read (loadObjectMaps): a warm start without maps
  // does not load them.
  #mapOwner(): MapOwner {
    return {
      maps: this.maps,
      object: this.object,
      isOpen: () => this.loaded,
      register: (r) => this.#reader(r),
    };
  }

  /**
   * A typed view of a map: keys and values decoded from the object's BTF (integers, bigint
   * for 64-bit, structs as objects, `char[]` as strings), `get/set/delete/has/clear`,
   * `size`, iteration, batch dumps, histograms. Per-CPU maps give one value per CPU.
   *
   * @param name The map's name.
   * @param codecs Codecs to use instead of the BTF ones.
   * @returns The view (a `StackTraceMap` for stack trace maps); it fails once this object closes.
   *
   * @example
   * ```ts
   * import { BPF } from "bpf";
   * using b = await BPF.load({ file: "./counts.bpf.c" });
   * const counts = b.map<number, bigint>("counts");
   * for (const [pid, n] of counts) console.log(pid, n);
   * ```
   */
  map<K = unknown, V = unknown, VIn = V>(
    name: string,
    codecs: { key?: Codec<K>; value?: Codec<V> } = {},
  ): TypedMap<K, V, VIn> {
    const m = objectMaps().openMapView(
      this.#mapOwner(),
      name,
      codecs as { key?: Codec<unknown>; value?: Codec<unknown> },
    );
    return m as unknown as TypedMap<K, V, VIn>;
  }

  /**
   * A stack trace map (`BPF_STACK_TRACE`): stack ids to addresses and symbols.
   *
   * @param name The map's name.
   * @returns The view.
   *
   * @example
   * ```ts
   * import { BPF } from "bpf";
   * using b = await BPF.load({ file: "./stacks.bpf.c" });
   * console.log(b.stackTraces("stacks").symbolize(0).join("\n"));
   * ```
   */
  stackTraces(name: string): StackTraceMap {
    return objectMaps().openStackTraces(this.#mapOwner(), name);
  }

  /**
   * A queue or stack map: `push`, `pop`, `peek`.
   *
   * @param name The map's name.
   * @returns The view.
   *
   * @example
   * ```ts
   * import { BPF } from "bpf";
   * using b = await BPF.load({ file: "./q.bpf.c" });
   * console.log(b.queue<number>("q").pop());
   * ```
   */
  queue<V = unknown>(name: string): QueueMap<V> {
    return objectMaps().openQueue(this.#mapOwner(), name) as QueueMap<V>;
  }

  /**
   * The records of a ring buffer map, decoded, as an async iterable. Native code drains many
   * records per call; waiting leaves the event loop free. Stop it with `signal`, `close()`,
   * `using`, or by closing this object.
   *
   * @param name The map's name.
   * @param options `type` names the record's C type (`"bytes"`: keep bytes), or `codec`;
   *   without either, records are decoded with the struct the C passes to
   *   `bpf_ringbuf_output`, `bpf_ringbuf_reserve`/`bpf_ringbuf_submit` (or BCC's
   *   `ringbuf_output`/`ringbuf_submit`); where the C shows no one struct they are bytes, and
   *   one line says so, naming the `type` option.
   * @returns The reader; `lost`, `records`, `batches()`, `read()`.
   *
   * @example
   * ```ts
   * import { BPF } from "bpf";
   * using b = await BPF.load({ file: "./exec.bpf.c" });
   * for await (const e of b.ringbuf<{ pid: number }>("events")) {
   *   console.log(e.pid); // struct event, as the C reserves and submits it
   * }
   * ```
   */
  ringbuf<T = EventRecord>(
    name: string,
    options: ObjectEventOptions<T> = {},
  ): EventReader<T> {
    return objectMaps().openObjectEvents<T>(
      this.#mapOwner(),
      name,
      "ringbuf",
      options,
    );
  }

  /**
   * The records of a perf event array map (`bpf_perf_event_output`), decoded, as an async
   * iterable; `lost` counts what the kernel dropped (and each loss is reported).
   *
   * @param name The map's name.
   * @param options `type` or `codec` (without either: the struct the C passes to
   *   `bpf_perf_event_output` or BCC's `perf_submit`, else bytes and one line naming `type`),
   *   `pageCount` per CPU, `wakeupEvents`, `onLost`, `signal`.
   * @returns The reader.
   *
   * @example
   * ```ts
   * import { BPF } from "bpf";
   * using b = await BPF.load({ file: "./exec.bpf.c" });
   * for await (const e of b.perfBuffer<{ pid: number }>("events", { type: "struct event" })) {
   *   console.log(e.pid);
   * }
   * ```
   */
  perfBuffer<T = EventRecord>(
    name: string,
    options: ObjectEventOptions<T> = {},
  ): EventReader<T> {
    return objectMaps().openObjectEvents<T>(
      this.#mapOwner(),
      name,
      "perf",
      options,
    );
  }

  /**
   * Detaches every link, ends trace readers, unloads programs and frees maps; idempotent.
   *
   * @example Clean up by hand
   * ```ts
   * import { BPF } from "bpf";
   * const b = await BPF.load({ file: "./probe.bpf.c" });
   * try {
   *   console.log(b.programs.size);
   * } finally {
   *   b.close();
   * }
   * ```
   */
  close(): void {
    const handle = this.#handle;
    if (handle === null) return;
    for (const reader of this.#readers) reader.cancel();
    this.#readers.clear();
    const errors: unknown[] = [];
    for (const link of [...this.#links].reverse()) {
      try {
        link.close();
      } catch (error) {
        errors.push(error);
      }
    }
    this.#handle = null;
    objects.unregister(this);
    this.#untrack();
    this.#late?.close();
    lib().bpfpm_object__close(handle);
    if (errors.length) throw errors[0];
  }

  /**
   * Same as `close()`.
   *
   * @example Clean up at the end of the scope
   * ```ts
   * import { BPF } from "bpf";
   * {
   *   using b = await BPF.load({ file: "./probe.bpf.c" });
   *   console.log(b.links.length);
   * } // closed here
   * ```
   */
  [Symbol.dispose](): void {
    this.close();
  }

  #reader(reader: Cancellable): () => void {
    this.#readers.add(reader);
    return () => this.#readers.delete(reader);
  }

  #program(program: Program | string, kind?: string): Program {
    this.#open();
    checkArgument(
      kind ? attachCall(kind) : "attach",
      "program",
      program,
      PROGRAM,
    );
    if (typeof program !== "string") return program;
    const found = this.programs.get(program);
    if (!found) {
      throw new RangeError(
        `No program named '${program}' in this object: use one of ${
          [...this.programs.keys()].join(", ")
        }`,
      );
    }
    return found;
  }

  #open(): void {
    if (this.#handle === null) {
      throw new ClosedError(
        "This BPF object is closed: load it again to use it",
        { resource: "BPF object" },
      );
    }
  }
}

/** The iterator, holding `owner` reachable while it is iterated. */
async function* keepAlive<T>(
  owner: BPF,
  inner: AsyncGenerator<T, void, undefined>,
): AsyncGenerator<T, void, undefined> {
  try {
    for await (const item of inner) {
      if (!owner.loaded) return;
      yield item;
    }
  } finally {
    await inner.return();
  }
}

/** The object `options` load: given, or compiled (through the cache) from their C. */
async function objectOf(
  options: LoadOptions,
  caller: Error,
): Promise<
  {
    object: Uint8Array;
    cached: boolean;
    locate: () => LocatedSource | undefined;
  }
> {
  if (options.object) {
    return { object: options.object, cached: false, locate: () => undefined };
  }
  const { source, site, name } = located.get(options) ?? readSource(options);
  const c = await rewrittenSource(source, caller);
  const result = await compileAt(
    c,
    options.cflags,
    name,
    site ?? (() => sourceSite(source, caller.stack)),
  );
  return {
    object: result.object,
    cached: result.cached,
    locate: () => ({
      name: name ?? DEFAULT_C_NAME,
      site: site ?? sourceSite(source, caller.stack),
    }),
  };
}

/**
 * The first half of `BPF.load` for C that a load will likely ask for soon: compiles it
 * (through the cache) and reads the object's facts, loading nothing. The sandbox's trusted
 * side runs it on a package's C files while the package's process starts, so that the
 * load's first run of this code, its lazily imported modules and the cache's files are warm
 * when the request comes. Never throws: the load itself reports what is wrong.
 *
 * @param text the C
 * @param name clang's file name for it (as the load will give it)
 *
 * @example
 * ```ts ignore
 * import { warmLoad } from "./bpf.ts";
 * await warmLoad(Deno.readTextFileSync("/pkg/probe.bpf.c"), "/pkg/probe.bpf.c");
 * ```
 */
export async function warmLoad(text: string, name: string): Promise<void> {
  try {
    const options = { text };
    located.set(options, { source: text, name });
    const { object } = await objectOf(options, new Error());
    await objectFacts(object);
  } catch { /* the load reports it */ }
}

/**
 * Compiles through the cache, the rewriter's declarations as the prelude (their diagnostics
 * never point into the user's file). Where embedded C sits in the caller's file is worked out
 * only when clang reports errors (a warm start never reads the script).
 */
async function compileAt(
  c: RewrittenSource,
  cflags: readonly string[] | undefined,
  name: string | undefined,
  site: SourceSite | (() => SourceSite | undefined),
) {
  const at = typeof site === "function" ? undefined : site;
  try {
    return await compile(c.body, {
      cflags,
      name,
      prelude: c.prelude,
      positions: c.positions,
      file: at?.file,
      lineOffset: at?.lineOffset,
      columnOffset: at?.columnOffset,
    });
  } catch (error) {
    if (!(error instanceof CompileError)) throw error;
    const found = typeof site === "function" ? site() : site;
    throw found ? error.at({ ...found, source: c.source }) : error;
  }
}

function readSource(
  options: LoadOptions,
): {
  source: string;
  site?: { file: string; lineOffset: number; columnOffset: number };
  name?: string;
} {
  if (options.text !== undefined) {
    return { source: options.text };
  }
  const file = options.file!;
  const path = file instanceof URL ? decodeURIComponent(file.pathname) : file;
  const absolute = path.startsWith("/") ? path : `${Deno.cwd()}/${path}`;
  const source = withPermission(
    `--allow-read=${absolute}`,
    `read the BPF source ${absolute}`,
    () => Deno.readTextFileSync(absolute),
  );
  return {
    source,
    site: { file: absolute, lineOffset: 1, columnOffset: 1 },
    name: absolute,
  };
}

function checkAutoAttachTargets(handle: ObjectHandle): void {
  for (const { name, section } of describeObject(handle).programs) {
    const found = autoAttachRule(section);
    found?.rule.check?.(found.target, name);
  }
}

/** The C file name clang is given when the C is not read from a file (compile's default). */
const DEFAULT_C_NAME = "/bpfpm/script.bpf.c";
