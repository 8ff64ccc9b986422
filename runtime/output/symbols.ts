/**
 * Symbol names for stack addresses, BCC-style: {@link ksym} from /proc/kallsyms and
 * {@link sym} from the ELF symbol tables of the files a process has mapped.
 *
 * @module
 */
import { readElf } from "../spec/elf.ts";
import type { ElfFile } from "../spec/elf.ts";
import { readKernelFile } from "../_kernel_files.ts";

/**
 * How a symbol is printed.
 *
 * @example A user address with its offset and module
 * ```ts
 * import { sym } from "bpf";
 * declare const addr: bigint, pid: number;
 * console.log(sym(addr, pid, { offset: true, module: true }));
 * ```
 */
export interface SymOptions {
  /** Append `+0x<offset>` from the symbol's start. */
  offset?: boolean;
  /** Append ` [module]`: the kernel module, or the mapped file's base name. */
  module?: boolean;
}

/** Returned for an address no symbol covers, as BCC does. */
export const UNKNOWN = "[unknown]";

interface SymTable {
  addrs: BigUint64Array;
  names: string[];
  modules: (string | undefined)[];
}

let kernel: SymTable | undefined;

function loadKallsyms(): SymTable {
  // Through the native library: Deno lets a script read /proc only with --allow-all.
  const text = readKernelFile("/proc/kallsyms", 8 << 20) ?? "";
  const rows: { a: bigint; n: string; m?: string }[] = [];
  for (const line of text.split("\n")) {
    if (!line) continue;
    const s1 = line.indexOf(" ");
    const s2 = line.indexOf(" ", s1 + 1);
    const type = line[s1 + 1];
    // Only text symbols: data symbols would shadow the function an address falls into.
    if (type !== "t" && type !== "T" && type !== "w" && type !== "W") continue;
    const rest = line.slice(s2 + 1);
    const tab = rest.indexOf("\t");
    const name = tab < 0 ? rest : rest.slice(0, tab);
    const mod = tab < 0
      ? undefined
      : rest.slice(tab + 1).replace(/^\[|\]$/g, "");
    rows.push({ a: BigInt("0x" + line.slice(0, s1)), n: name, m: mod });
  }
  rows.sort((x, y) => (x.a < y.a ? -1 : x.a > y.a ? 1 : 0));
  if (rows.length > 0 && rows[rows.length - 1].a === 0n) {
    throw new Error(
      "/proc/kallsyms shows only zero addresses: run as root or set kernel.kptr_restrict=0",
    );
  }
  return {
    addrs: BigUint64Array.from(rows, (r) => r.a),
    names: rows.map((r) => r.n),
    modules: rows.map((r) => r.m),
  };
}

/** Index of the last entry whose address is <= addr, or -1. */
function floorIndex(addrs: BigUint64Array, addr: bigint): number {
  let lo = 0;
  let hi = addrs.length - 1;
  let best = -1;
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1;
    if (addrs[mid] <= addr) {
      best = mid;
      lo = mid + 1;
    } else hi = mid - 1;
  }
  return best;
}

function toBig(addr: number | bigint, what: string): bigint {
  if (typeof addr === "number") {
    if (!Number.isSafeInteger(addr) || addr < 0) {
      throw new RangeError(
        `${what} expects a non-negative integer address, got ${addr}`,
      );
    }
    return BigInt(addr);
  }
  if (typeof addr !== "bigint") {
    throw new TypeError(`${what} expects a bigint address, got ${typeof addr}`);
  }
  return BigInt.asUintN(64, addr);
}

/**
 * The kernel symbol an address falls into, from /proc/kallsyms (read once, then cached).
 *
 * @param addr a kernel address (bigint as stack trace maps return them)
 * @param options add the offset (`name+0x1f`) or the module (`name [ext4]`)
 * @returns the symbol name, or `[unknown]`
 *
 * @example
 * ```ts
 * import { ksym } from "./symbols.ts";
 * console.log(ksym(0xffffffff81000000n, { offset: true }));
 * ```
 */
export function ksym(addr: number | bigint, options: SymOptions = {}): string {
  const a = toBig(addr, "ksym");
  kernel ??= loadKallsyms();
  const i = floorIndex(kernel.addrs, a);
  if (i < 0) return UNKNOWN;
  let s = kernel.names[i];
  if (options.offset) s += `+0x${(a - kernel.addrs[i]).toString(16)}`;
  if (options.module) s += ` [${kernel.modules[i] ?? "kernel"}]`;
  return s;
}

/**
 * The address of a kernel symbol, or undefined.
 *
 * @param name the symbol name as /proc/kallsyms spells it
 * @returns its address
 *
 * @example
 * ```ts
 * import { ksymAddress } from "./symbols.ts";
 * console.log(ksymAddress("schedule"));
 * ```
 */
export function ksymAddress(name: string): bigint | undefined {
  kernel ??= loadKallsyms();
  const i = kernel.names.indexOf(name);
  return i < 0 ? undefined : kernel.addrs[i];
}

interface ElfSyms {
  elf: ElfFile;
  table: SymTable;
  sizes: BigUint64Array;
}

const elfCache = new Map<string, ElfSyms | null>();

function loadElfSyms(path: string): ElfSyms | null {
  let st: Deno.FileInfo;
  try {
    st = Deno.statSync(path);
  } catch {
    return null;
  }
  const key = `${path}\0${st.mtime?.getTime()}\0${st.size}`;
  const hit = elfCache.get(key);
  if (hit !== undefined) return hit;
  let result: ElfSyms | null = null;
  try {
    const elf = readElf(Deno.readFileSync(path));
    const funcs = elf.symbols.filter((s) =>
      (s.type === "func" || s.type === "notype") && s.value !== 0n &&
      s.sectionIndex !== 0 &&
      s.name !== ""
    );
    funcs.sort((x, y) => (x.value < y.value ? -1 : x.value > y.value ? 1 : 0));
    result = {
      elf,
      table: {
        addrs: BigUint64Array.from(funcs, (s) => s.value),
        names: funcs.map((s) => s.name),
        modules: [],
      },
      sizes: BigUint64Array.from(funcs, (s) => s.size),
    };
  } catch {
    result = null;
  }
  elfCache.set(key, result);
  return result;
}

interface Mapping {
  start: bigint;
  end: bigint;
  offset: bigint;
  path: string;
}

function readMaps(pid: number): Mapping[] {
  const text = readKernelFile(`/proc/${pid}/maps`);
  if (text === undefined) return [];
  const out: Mapping[] = [];
  for (const line of text.split("\n")) {
    const m = /^([0-9a-f]+)-([0-9a-f]+) \S+ ([0-9a-f]+) \S+ \d+\s+(\/.*)$/.exec(
      line,
    );
    if (!m) continue;
    out.push({
      start: BigInt("0x" + m[1]),
      end: BigInt("0x" + m[2]),
      offset: BigInt("0x" + m[3]),
      path: m[4].replace(/ \(deleted\)$/, ""),
    });
  }
  return out;
}

/**
 * The user-space symbol an address of process `pid` falls into: the file mapped there (from
 * /proc/PID/maps), its `.symtab` and `.dynsym`, and the load bias from its program headers.
 *
 * @param addr a user address (as a stack trace map returns it)
 * @param pid the process whose address space `addr` belongs to (still running)
 * @param options add the offset (`main+0x12`) or the file's base name (`main [demo]`)
 * @returns the symbol name, or `[unknown]`
 *
 * @example
 * ```ts
 * import { sym } from "./symbols.ts";
 * console.log(sym(0x401136n, Deno.pid, { offset: true, module: true }));
 * ```
 */
export function sym(
  addr: number | bigint,
  pid: number,
  options: SymOptions = {},
): string {
  return userSymbolizer(pid)(addr, options);
}

function lookupUser(
  a: bigint,
  pid: number,
  maps: Mapping[],
  options: SymOptions,
): string {
  const m = maps.find((x) => a >= x.start && a < x.end);
  if (!m) return UNKNOWN;
  const file = loadElfSyms(`/proc/${pid}/root${m.path}`) ?? loadElfSyms(m.path);
  if (!file) return UNKNOWN;
  const fileOffset = a - m.start + m.offset;
  const seg = file.elf.programHeaders.find((p) =>
    p.type === 1 && fileOffset >= p.offset && fileOffset < p.offset + p.filesz
  );
  const vaddr = seg
    ? fileOffset - seg.offset + seg.vaddr
    : fileOffset + file.elf.loadBase();
  const i = floorIndex(file.table.addrs, vaddr);
  if (i < 0) return UNKNOWN;
  const size = file.sizes[i];
  const start = file.table.addrs[i];
  if (size !== 0n && vaddr >= start + size) return UNKNOWN;
  let s = file.table.names[i];
  if (options.offset) s += `+0x${(vaddr - start).toString(16)}`;
  if (options.module) s += ` [${m.path.slice(m.path.lastIndexOf("/") + 1)}]`;
  return s;
}

/**
 * A symbolizer for one process: reads its /proc/PID/maps once, so a whole stack costs one
 * read (use a new one after the process maps or unmaps files).
 *
 * @param pid the process (still running)
 * @returns `(addr, options) => name`, as {@link sym}
 *
 * @example
 * ```ts
 * import { userSymbolizer } from "./symbols.ts";
 * const name = userSymbolizer(Deno.pid);
 * console.log(name(0x401136n, { offset: true }));
 * ```
 */
export function userSymbolizer(
  pid: number,
): (addr: number | bigint, options?: SymOptions) => string {
  if (!Number.isInteger(pid) || pid <= 0) {
    throw new RangeError(
      `sym expects a process id (a positive integer), got ${pid}`,
    );
  }
  let maps: Mapping[];
  try {
    maps = readMaps(pid);
  } catch {
    maps = [];
  }
  return (addr, options = {}) =>
    lookupUser(toBig(addr, "sym"), pid, maps, options);
}
