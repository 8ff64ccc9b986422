/**
 * uprobes and uretprobes: a program runs when any process (or one pid) executes an address in
 * a binary or shared library. Needs a kernel with CONFIG_UPROBE_EVENTS and the uprobe PMU
 * (4.17+); `cookie` needs 5.15+.
 *
 * @module
 */
import { cstr, lib } from "../_ffi.ts";
import { attachCall, checkOptions, UPROBE_OPTIONS } from "../_options.ts";
import {
  AttachError,
  ElfFormatError,
  Errno,
  withPermission,
} from "../errors.ts";
import { type ElfFile, PT, readElf } from "../spec/elf.ts";
import { type AttachableProgram, attachNative } from "./attachment.ts";
import type { Link } from "./link.ts";
import { resolveBinary } from "./find_library.ts";

const PF_X = 1;

/**
 * Where a uprobe goes. Kernel: 4.17+ (uprobe PMU); `cookie` 5.15+.
 *
 * @example readline of one bash process
 * ```ts
 * import { BPF } from "bpf";
 * using b = await BPF.load({ file: "./probe.bpf.c", autoAttach: false });
 * declare const pid: number;
 * b.attachUprobe("on_readline", { binary: "bash", symbol: "readline", pid });
 * ```
 */
export interface UprobeOptions {
  /**
   * The binary: a path, a library name resolved like BCC's find_library (`c`, `libssl`), or a
   * program name found on PATH (`bash`).
   */
  binary: string;
  /** The function (ELF symbol) to probe; give this or `offset`. `symbol+0x10` adds an offset. */
  symbol?: string;
  /** A file offset to probe, instead of `symbol` (or added to it). */
  offset?: number | bigint;
  /** Only this process (default: every process running the binary). */
  pid?: number;
  /** A value the program reads with `bpf_get_attach_cookie()` (5.15+). */
  cookie?: bigint;
}

const elfCache = new Map<string, { mtime: number; elf: ElfFile }>();

/** Reads and parses an ELF file, cached by path and mtime. */
export function readBinary(path: string): ElfFile {
  return withPermission(`--allow-read=${path}`, `read ${path}`, () => {
    let stat: Deno.FileInfo;
    try {
      stat = Deno.statSync(path);
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) {
        throw new AttachError(
          `Binary ${path} does not exist: pass an existing path or a library name such as "c"`,
          { program: "", target: path, errno: Errno.ENOENT, cause: error },
        );
      }
      throw error;
    }
    const mtime = stat.mtime?.getTime() ?? 0;
    const hit = elfCache.get(path);
    if (hit && hit.mtime === mtime) return hit.elf;
    let elf: ElfFile;
    try {
      elf = readElf(Deno.readFileSync(path));
    } catch (error) {
      if (error instanceof ElfFormatError) {
        throw new AttachError(
          `${path} is not an ELF binary (${error.message}): uprobes need an executable or shared library`,
          { program: "", target: path, errno: Errno.ENOEXEC, cause: error },
        );
      }
      throw error;
    }
    elfCache.set(path, { mtime, elf });
    return elf;
  });
}

/**
 * The file offset of a virtual address in an ELF file: through the executable PT_LOAD segment
 * that holds it, else the section that does.
 *
 * @param elf the parsed file
 * @param address a symbol's value
 * @returns the offset, or `undefined` when no segment or section covers it
 */
export function addressToOffset(
  elf: ElfFile,
  address: bigint,
): bigint | undefined {
  for (const ph of elf.programHeaders) {
    if (ph.type !== PT.LOAD) continue;
    if (address >= ph.vaddr && address < ph.vaddr + ph.memsz) {
      if ((ph.flags & PF_X) === 0) continue;
      return address - ph.vaddr + ph.offset;
    }
  }
  for (const s of elf.sections) {
    if (s.addr === 0n || s.type === 8 /* NOBITS */) continue;
    if (address >= s.addr && address < s.addr + BigInt(s.size)) {
      return address - s.addr + BigInt(s.offset);
    }
  }
  return undefined;
}

/**
 * Resolves a function symbol of a binary to the file offset a uprobe takes.
 *
 * @param binary the resolved path
 * @param symbol the symbol name, optionally `name+offset`
 * @returns the file offset
 *
 * @example Offset of readline in bash
 * ```ts
 * import { symbolOffset } from "./uprobe.ts";
 * console.log(symbolOffset("/usr/bin/bash", "readline"));
 * ```
 */
export function symbolOffset(binary: string, symbol: string): bigint {
  const plus = symbol.lastIndexOf("+");
  let name = symbol;
  let add = 0n;
  if (plus > 0) {
    name = symbol.slice(0, plus);
    add = BigInt(symbol.slice(plus + 1));
  }
  const elf = readBinary(binary);
  const candidates = elf.symbols.filter((s) =>
    (s.name === name || s.name.split("@")[0] === name) &&
    s.sectionIndex !== 0 &&
    s.value !== 0n
  );
  const sym = candidates.find((s) => s.type === "func") ?? candidates[0];
  if (!sym) {
    const funcs = elf.symbols.filter((s) => s.type === "func").length;
    throw new AttachError(
      `Symbol ${name} not found in ${binary} (${funcs} function symbols${
        funcs === 0 ? ": the binary is stripped" : ""
      }): check the name with \`nm -D ${binary}\` or pass { offset }`,
      { program: "", target: `${binary}:${name}`, errno: Errno.ENOENT },
    );
  }
  const offset = addressToOffset(elf, sym.value);
  if (offset === undefined) {
    throw new AttachError(
      `Symbol ${name} in ${binary} is at 0x${
        sym.value.toString(16)
      }, outside every loadable segment: pass { offset } instead`,
      { program: "", target: `${binary}:${name}`, errno: Errno.ENOEXEC },
    );
  }
  return offset + add;
}

function checkUprobeOptions(kind: string, opts: UprobeOptions): void {
  checkOptions(attachCall(kind), opts, UPROBE_OPTIONS);
  if (opts.symbol === undefined && opts.offset === undefined) {
    throw new TypeError(
      `${
        attachCall(kind)
      }: give a symbol or an offset to probe in ${opts.binary}`,
    );
  }
}

/** Resolves `opts` to `{ path, offset, target }`, throwing for bad input. */
export function resolveUprobe(
  kind: string,
  opts: UprobeOptions,
): { path: string; offset: bigint; target: string } {
  checkUprobeOptions(kind, opts);
  const path = resolveBinary(opts.binary);
  if (!path) {
    throw new AttachError(
      `Cannot find binary or library ${opts.binary} (not in /etc/ld.so.cache, the library directories or PATH): pass its path`,
      { program: "", target: opts.binary, errno: Errno.ENOENT },
    );
  }
  let offset = opts.offset === undefined ? 0n : BigInt(opts.offset);
  if (opts.symbol !== undefined) offset += symbolOffset(path, opts.symbol);
  else readBinary(path);
  const target = `${path}:${opts.symbol ?? `0x${offset.toString(16)}`}${
    opts.pid ? ` (pid ${opts.pid})` : ""
  }`;
  return { path, offset, target };
}

function attach(
  program: AttachableProgram,
  opts: UprobeOptions,
  ret: boolean,
): Link {
  const kind = ret ? "uretprobe" : "uprobe";
  let resolved;
  try {
    resolved = resolveUprobe(kind, opts);
  } catch (error) {
    if (error instanceof AttachError) {
      throw new AttachError(
        `Cannot attach program '${program.name}' as ${kind}: ${error.message}`,
        {
          program: program.name,
          target: error.target,
          errno: error.errno,
          cause: error,
        },
      );
    }
    throw error;
  }
  const { path, offset, target } = resolved;
  return attachNative(
    program,
    kind,
    target,
    (fd) =>
      lib().bpfpm_program__attach_uprobe(
        fd,
        cstr(path),
        offset,
        opts.pid ?? -1,
        ret ? 1 : 0,
        0n,
        opts.cookie ?? 0n,
      ),
  );
}

/**
 * Attaches a program at a function (or offset) of a binary; it runs on every call.
 *
 * @param program a loaded program (`SEC("uprobe")` or BCC-style)
 * @param opts the binary, the symbol or offset, and an optional pid
 * @returns a disposable link
 *
 * @example Count readline calls of bash
 * ```ts
 * import { BPF } from "bpf";
 * using b = await BPF.load({ file: "./readline.bpf.c", autoAttach: false });
 * using link = b.attachUprobe(b.programs.get("on_readline")!, { binary: "bash", symbol: "readline" });
 * ```
 */
export function attachUprobe(
  program: AttachableProgram,
  opts: UprobeOptions,
): Link {
  return attach(program, opts, false);
}

/**
 * Attaches a program to the return of a function of a binary.
 *
 * @param program a loaded program (`SEC("uretprobe")`)
 * @param opts the binary, the symbol or offset, and an optional pid
 * @returns a disposable link
 *
 * @example Read what bash's readline returned
 * ```ts
 * import { BPF } from "bpf";
 * using b = await BPF.load({ file: "./bashreadline.bpf.c", autoAttach: false });
 * using link = b.attachUretprobe(b.programs.get("ret_readline")!, { binary: "/bin/bash", symbol: "readline" });
 * ```
 */
export function attachUretprobe(
  program: AttachableProgram,
  opts: UprobeOptions,
): Link {
  return attach(program, opts, true);
}
