/**
 * Multi-attach: one link puts a program at many places at once, the functions of a binary
 * that match a glob (`uprobe.multi`, 6.6+) or many kernel functions (`kprobe.multi`, 5.18+
 * with CONFIG_FPROBE), at their entry, their return (`uretprobe.multi`, `kretprobe.multi`)
 * or both (`uprobe.session` 6.13+, `kprobe.session` 6.10+: the program runs at entry, and
 * at return when it returned 0 at entry; `bpf_session_is_return()` tells which). The native
 * side is one `bpfpm_link` over one kernel bpf link (`bpfpm_program__attach_multi`).
 *
 * On a kernel without kprobes, a kprobe.multi (or kretprobe.multi) whose functions are all
 * syscall functions falls back to their syscall tracepoints, as a single kprobe does
 * (runtime/attach/kprobe.ts): one tracepoint twin of the program on every one of them.
 *
 * @module
 */
import { cstr, lib } from "../_ffi.ts";
import {
  checkOptions,
  KPROBE_MULTI_OPTIONS,
  UPROBE_MULTI_OPTIONS,
} from "../_options.ts";
import { AttachError, Errno } from "../errors.ts";
import { readKernelFile } from "../_kernel_files.ts";
import { globMatch } from "../policy/grants.ts";
import { type AttachableProgram, attachNative } from "./attachment.ts";
import { fallbackToTracepoints, haveKprobes, syscallName } from "./kprobe.ts";
import type { Link } from "./link.ts";
import { addressToOffset, readBinary, symbolOffset } from "./uprobe.ts";
import { resolveBinary } from "./find_library.ts";

/**
 * Where a multi probe runs: at entry (`uprobe.multi`, `kprobe.multi`), at return
 * (`uretprobe.multi`, `kretprobe.multi`) or both (a session program: `uprobe.session`,
 * `kprobe.session`).
 */
export type MultiMode = "entry" | "return" | "session";

/**
 * Where a uprobe.multi goes.
 *
 * @example Every str*cmp of libc
 * ```ts
 * import { attachUprobeMulti } from "./multi.ts";
 * import { BPF } from "bpf";
 * using b = await BPF.load({ file: "./probe.bpf.c", autoAttach: false });
 * using link = attachUprobeMulti(b.programs.get("on_cmp")!, { binary: "c", symbols: "str*cmp" });
 * console.log(link.count, "functions");
 * ```
 */
export interface UprobeMultiOptions {
  /** The binary: a path, a library name (`c`) or a program on PATH, as for uprobes. */
  binary: string;
  /**
   * The functions: a list of symbol names, or one glob (`*` any run, `?` one character)
   * matched against the binary's function symbols.
   */
  symbols?: string | readonly string[];
  /** File offsets to probe besides (or instead of) symbols. */
  offsets?: readonly (number | bigint)[];
  /** One `bpf_get_attach_cookie()` value per place: the symbols' first, then the offsets'. */
  cookies?: readonly bigint[];
  /** Only this process (default: every process running the binary). */
  pid?: number;
  /** Entry (default), return or session. */
  mode?: MultiMode;
}

/**
 * Where a kprobe.multi goes.
 *
 * @example The syscalls that open files
 * ```ts
 * import { attachKprobeMulti } from "./multi.ts";
 * import { BPF } from "bpf";
 * using b = await BPF.load({ file: "./probe.bpf.c", autoAttach: false });
 * using link = attachKprobeMulti(b.programs.get("on_open")!, {
 *   symbols: ["__x64_sys_openat", "__x64_sys_openat2"],
 * });
 * ```
 */
export interface KprobeMultiOptions {
  /**
   * The kernel functions: a list of names, or one glob matched against the traceable
   * functions (tracefs available_filter_functions, else /proc/kallsyms).
   */
  symbols: string | readonly string[];
  /** One `bpf_get_attach_cookie()` value per function. */
  cookies?: readonly bigint[];
  /** Entry (default), return or session. */
  mode?: MultiMode;
  /**
   * On a kernel without kprobes, when every function is a syscall function: `"tracepoint"`
   * (default) attaches to their syscall tracepoints instead; `"error"` throws.
   */
  fallback?: "tracepoint" | "error";
}

/** What a multi attach resolved: the places, each as a grant names its target. */
export interface MultiTargets {
  /** The binary's resolved path (uprobes), or `""` (kernel functions). */
  path: string;
  /** Function names (kernel), or file offsets (uprobes), one per place. */
  names: string[];
  offsets: bigint[];
  /** Each place as an attach grant's target: `path:symbol` (or `path:0xoff`), or the function. */
  targets: string[];
}

const isGlob = (s: string) => /[*?]/.test(s);
const list = (s: string | readonly string[] | undefined) =>
  s === undefined ? [] : typeof s === "string" ? [s] : [...s];

function refuse(
  kind: string,
  target: string,
  message: string,
  errno: number,
  program = "",
): AttachError {
  return new AttachError(message, {
    program,
    target: `${kind} ${target}`,
    errno,
  });
}

/**
 * The places a uprobe.multi names: every function symbol a glob matches (aliases at one
 * address counted once), the named symbols, the offsets.
 *
 * @param opts the binary, symbols and offsets
 * @returns the resolved places
 */
export function resolveUprobeMulti(opts: UprobeMultiOptions): MultiTargets {
  const kind = opts.mode === "return" ? "uretprobe" : "uprobe";
  const path = resolveBinary(opts.binary);
  if (!path) {
    throw refuse(
      kind,
      opts.binary,
      `Cannot find binary or library ${opts.binary} (not in /etc/ld.so.cache, the library directories or PATH): pass its path`,
      Errno.ENOENT,
    );
  }
  const places = new Map<bigint, string>();
  for (const symbol of list(opts.symbols)) {
    if (!isGlob(symbol)) {
      const offset = symbolOffset(path, symbol);
      if (!places.has(offset)) places.set(offset, symbol);
      continue;
    }
    const before = places.size;
    const elf = readBinary(path);
    for (const s of elf.symbols) {
      const name = s.name.split("@")[0];
      if (
        s.type !== "func" || s.sectionIndex === 0 || s.value === 0n ||
        !globMatch(symbol, name)
      ) continue;
      const offset = addressToOffset(elf, s.value);
      if (offset !== undefined && !places.has(offset)) {
        places.set(offset, name);
      }
    }
    if (places.size === before) {
      throw refuse(
        kind,
        `${path}:${symbol}`,
        `No function of ${path} matches ${symbol}: check the pattern with \`nm -D ${path}\``,
        Errno.ENOENT,
      );
    }
  }
  for (const o of opts.offsets ?? []) {
    const offset = BigInt(o);
    if (!places.has(offset)) places.set(offset, `0x${offset.toString(16)}`);
  }
  const offsets = [...places.keys()];
  return {
    path,
    names: [...places.values()],
    offsets,
    targets: [...places.values()].map((name) => `${path}:${name}`),
  };
}

/** Kernel function names from /proc/kallsyms-style text ("addr type name [module]"). */
function traceableFunctions(): string[] {
  const filter = readKernelFile(
    "/sys/kernel/tracing/available_filter_functions",
    16 << 20,
  );
  if (filter) return filter.split("\n").map((l) => l.split(/\s/)[0]);
  const kallsyms = readKernelFile("/proc/kallsyms", 16 << 20) ?? "";
  const out: string[] = [];
  for (const line of kallsyms.split("\n")) {
    const [, type, name] = line.split(" ");
    if (type && "tTwW".includes(type)) out.push(name);
  }
  return out;
}

/**
 * The kernel functions a kprobe.multi names: the names given, and every traceable function a
 * glob matches.
 *
 * @param opts the symbols
 * @returns the resolved places
 */
export function resolveKprobeMulti(opts: KprobeMultiOptions): MultiTargets {
  const kind = opts.mode === "return" ? "kretprobe" : "kprobe";
  const names = new Set<string>();
  let known: string[] | undefined;
  for (const symbol of list(opts.symbols)) {
    if (!isGlob(symbol)) {
      names.add(symbol);
      continue;
    }
    known ??= traceableFunctions();
    const before = names.size;
    for (const name of known) if (globMatch(symbol, name)) names.add(name);
    if (names.size === before) {
      throw refuse(
        kind,
        symbol,
        `No kernel function matches ${symbol}: check it in /proc/kallsyms`,
        Errno.ENOENT,
      );
    }
  }
  const all = [...names];
  return { path: "", names: all, offsets: [], targets: all };
}

function modeFlags(mode: MultiMode | undefined): number {
  return mode === "return" ? 1 : mode === "session" ? 2 : 0;
}

function cookiesFor(
  call: string,
  cookies: readonly bigint[] | undefined,
  count: number,
): BigUint64Array<ArrayBuffer> | null {
  if (!cookies) return null;
  if (cookies.length !== count) {
    throw new TypeError(
      `${call}: ${cookies.length} cookies for ${count} places: give one per place`,
    );
  }
  return new BigUint64Array(cookies.map(BigInt));
}

/** The NUL-separated names the native call takes. */
function packNames(names: readonly string[]): Uint8Array<ArrayBuffer> {
  return cstr(names.join("\0"));
}

/**
 * The places `resolve` finds, each passed to the grants `check`; a refusal of the resolution
 * names the program.
 */
function placesOf(
  program: AttachableProgram,
  kind: string,
  resolve: () => MultiTargets,
  check: ((kind: string, target: string) => void) | undefined,
): MultiTargets {
  let places: MultiTargets;
  try {
    places = resolve();
  } catch (error) {
    if (!(error instanceof AttachError) || error.program) throw error;
    throw new AttachError(
      `Cannot attach program '${program.name}': ${error.message}`,
      {
        program: program.name,
        target: error.target,
        errno: error.errno,
        cause: error,
      },
    );
  }
  for (const target of places.targets) check?.(kind, target);
  return places;
}

/**
 * Attaches a uprobe.multi, uretprobe.multi or uprobe.session program at many functions of a
 * binary as one link (`link.count` places).
 *
 * @param program a loaded program of such a section
 * @param opts the binary, the symbols (a glob or names) or offsets, the mode
 * @param check called with the kind and each place as a grant names it (`path:symbol`)
 *   before attaching (the grants check)
 * @returns a disposable link
 *
 * @example Count calls of every target_fn_* of a binary
 * ```ts
 * import { attachUprobeMulti } from "./multi.ts";
 * import { BPF } from "bpf";
 * using b = await BPF.load({ file: "./probe.bpf.c", autoAttach: false });
 * using link = attachUprobeMulti(b.programs.get("on_call")!, {
 *   binary: "./target",
 *   symbols: "target_fn_*",
 * });
 * ```
 */
export function attachUprobeMulti(
  program: AttachableProgram,
  opts: UprobeMultiOptions,
  check?: (kind: string, target: string) => void,
): Link {
  const kind = opts?.mode === "return" ? "uretprobe" : "uprobe";
  checkOptions("attachUprobeMulti", opts, UPROBE_MULTI_OPTIONS);
  if (opts.symbols === undefined && opts.offsets === undefined) {
    throw new TypeError(
      `attachUprobeMulti: give symbols or offsets to probe in ${opts.binary}`,
    );
  }
  const places = placesOf(program, kind, () => resolveUprobeMulti(opts), check);
  const cookies = cookiesFor(
    "attachUprobeMulti",
    opts.cookies,
    places.offsets.length,
  );
  const pattern = list(opts.symbols).concat(
    (opts.offsets ?? []).map((o) => `0x${BigInt(o).toString(16)}`),
  ).join(",");
  return attachNative(
    program,
    kind,
    `${places.path}:${pattern}${opts.pid ? ` (pid ${opts.pid})` : ""}`,
    (fd) =>
      lib().bpfpm_program__attach_multi(
        fd,
        cstr(places.path),
        null,
        new BigUint64Array(places.offsets),
        cookies,
        places.offsets.length,
        opts.pid ?? -1,
        modeFlags(opts.mode),
      ),
  );
}

/**
 * Attaches a kprobe.multi, kretprobe.multi or kprobe.session program at many kernel functions
 * as one link. On a kernel without kprobes it throws an AttachError naming CONFIG_KPROBES
 * (errno EOPNOTSUPP), except that syscall functions fall back to their tracepoints (entry
 * and return modes).
 *
 * @param program a loaded program of such a section
 * @param opts the functions (a glob or names), cookies, the mode, the fallback
 * @param check called with the kind and each function before attaching (the grants check)
 * @returns a disposable link
 *
 * @example
 * ```ts
 * import { attachKprobeMulti } from "./multi.ts";
 * import { BPF } from "bpf";
 * using b = await BPF.load({ file: "./probe.bpf.c", autoAttach: false });
 * using link = attachKprobeMulti(b.programs.get("on_vfs")!, { symbols: "vfs_*" });
 * ```
 */
export function attachKprobeMulti(
  program: AttachableProgram,
  opts: KprobeMultiOptions,
  check?: (kind: string, target: string) => void,
): Link {
  const kind = opts?.mode === "return" ? "kretprobe" : "kprobe";
  checkOptions("attachKprobeMulti", opts, KPROBE_MULTI_OPTIONS);
  const places = placesOf(program, kind, () => resolveKprobeMulti(opts), check);
  const funcs = places.names;
  const target = list(opts.symbols).join(",");
  if (!haveKprobes()) {
    const syscalls = funcs.every((f) => syscallName(f) !== undefined);
    // What keeps the syscall tracepoint fallback from applying, if anything.
    const why = !syscalls
      ? "only syscall functions (__x64_sys_*) fall back to their tracepoints"
      : opts.mode === "session"
      ? "a session has no tracepoint fallback"
      : opts.cookies !== undefined
      ? "cookies need kprobes (a tracepoint fallback has none)"
      : opts.fallback === "error"
      ? 'fallback: "error" was asked'
      : undefined;
    if (!why) {
      return fallbackToTracepoints(program, funcs, opts.mode === "return");
    }
    throw refuse(
      kind,
      target,
      `Cannot attach program '${program.name}' as ${kind}.${
        opts.mode === "session" ? "session" : "multi"
      } to ${target}: this kernel has no kprobes (CONFIG_KPROBES is not set) and ${why}: use a tracepoint (e.g. syscalls:sys_enter_*) instead`,
      Errno.EOPNOTSUPP,
      program.name,
    );
  }
  const cookies = cookiesFor("attachKprobeMulti", opts.cookies, funcs.length);
  return attachNative(
    program,
    kind,
    target,
    (fd) =>
      lib().bpfpm_program__attach_multi(
        fd,
        null,
        packNames(funcs),
        null,
        cookies,
        funcs.length,
        -1,
        modeFlags(opts.mode),
      ),
  );
}
