/**
 * A small, dependency-free ELF64 reader: sections, symbols, relocations and program headers.
 *
 * It reads compiled BPF objects (EM_BPF, relocatable) as well as ordinary x86-64 executables
 * and shared libraries, so the same code serves object inspection and user-space
 * symbolization. Nothing here touches the kernel.
 *
 * @module
 */
import { ElfFormatError } from "../errors.ts";

/** Section header types used by callers (`sh_type`). */
export const SHT = {
  NULL: 0,
  PROGBITS: 1,
  SYMTAB: 2,
  STRTAB: 3,
  RELA: 4,
  HASH: 5,
  DYNAMIC: 6,
  NOTE: 7,
  NOBITS: 8,
  REL: 9,
  DYNSYM: 11,
} as const;

/** Section flags (`sh_flags`). */
export const SHF = { WRITE: 0x1, ALLOC: 0x2, EXECINSTR: 0x4 } as const;

/** Machine numbers (`e_machine`) callers care about. */
export const EM = { X86_64: 62, AARCH64: 183, BPF: 247 } as const;

/** Object file types (`e_type`). */
export const ET = { REL: 1, EXEC: 2, DYN: 3, CORE: 4 } as const;

/** Program header types (`p_type`). */
export const PT = { NULL: 0, LOAD: 1, DYNAMIC: 2, INTERP: 3, NOTE: 4 } as const;

/** One section of an ELF file. */
export interface ElfSection {
  /** Index in the section header table. */
  index: number;
  /** Name from the section header string table. */
  name: string;
  /** `sh_type`. */
  type: number;
  /** `sh_flags`. */
  flags: bigint;
  /** `sh_addr`: the virtual address when loaded (0 in relocatable objects). */
  addr: bigint;
  /** `sh_offset` in the file. */
  offset: number;
  /** `sh_size`. */
  size: number;
  /** `sh_link`. */
  link: number;
  /** `sh_info`. */
  info: number;
  /** `sh_addralign`. */
  addralign: number;
  /** `sh_entsize`. */
  entsize: number;
  /** The section's bytes: a view into the file, empty for SHT_NOBITS. */
  bytes: Uint8Array;
}

/** Symbol binding (`STB_*`). */
export type SymbolBinding = "local" | "global" | "weak" | "other";
/** Symbol type (`STT_*`). */
export type SymbolType =
  | "notype"
  | "object"
  | "func"
  | "section"
  | "file"
  | "common"
  | "tls"
  | "other";

/** One entry of `.symtab` or `.dynsym`. */
export interface ElfSymbol {
  /** Index in its symbol table. */
  index: number;
  /** Name (may be empty). */
  name: string;
  /** `st_value`: an address in executables, an offset into the section in relocatable files. */
  value: bigint;
  /** `st_size`. */
  size: bigint;
  /** `st_shndx`: the section it belongs to (0 undefined, 0xfff1 absolute, 0xfff2 common). */
  sectionIndex: number;
  /** Binding from `st_info`. */
  binding: SymbolBinding;
  /** Type from `st_info`. */
  type: SymbolType;
  /** Visibility from `st_other` (0 default, 1 internal, 2 hidden, 3 protected). */
  visibility: number;
  /** Which table it came from. */
  table: "symtab" | "dynsym";
}

/** One relocation entry. */
export interface ElfRelocation {
  /** `r_offset`: offset within the target section (or address in executables). */
  offset: bigint;
  /** Relocation type from `r_info`. */
  type: number;
  /** Symbol index from `r_info` into the section's linked symbol table. */
  symbolIndex: number;
  /** The resolved symbol when the linked table was read. */
  symbol?: ElfSymbol;
  /** `r_addend` (0 for SHT_REL). */
  addend: bigint;
}

/** The relocations of one relocation section, with the section they apply to. */
export interface ElfRelocationSection {
  /** The relocation section itself (`.rel.text`, `.rela.dyn`, ...). */
  section: ElfSection;
  /** Index of the section the relocations apply to (`sh_info`). */
  targetIndex: number;
  /** The entries. */
  relocations: ElfRelocation[];
}

/** One program header (segment). */
export interface ElfProgramHeader {
  /** `p_type`. */
  type: number;
  /** `p_flags` (1 X, 2 W, 4 R). */
  flags: number;
  /** `p_offset`. */
  offset: bigint;
  /** `p_vaddr`. */
  vaddr: bigint;
  /** `p_filesz`. */
  filesz: bigint;
  /** `p_memsz`. */
  memsz: bigint;
  /** `p_align`. */
  align: bigint;
}

/** A parsed ELF64 file. */
export interface ElfFile {
  /** True for little-endian files. */
  littleEndian: boolean;
  /** `e_type` (see {@link ET}). */
  type: number;
  /** `e_machine` (see {@link EM}). */
  machine: number;
  /** `e_entry`. */
  entry: bigint;
  /** All sections in header order. */
  sections: ElfSection[];
  /** Symbols of `.symtab` followed by those of `.dynsym`. */
  symbols: ElfSymbol[];
  /** Program headers (empty for relocatable objects). */
  programHeaders: ElfProgramHeader[];
  /** The first section with this name. */
  section(name: string): ElfSection | undefined;
  /**
   * Relocation sections (SHT_REL and SHT_RELA), parsed; with `target`, only those applying to
   * the sections it accepts (debug sections carry most relocations and are rarely wanted).
   */
  relocations(
    target?: (section: ElfSection) => boolean,
  ): ElfRelocationSection[];
  /**
   * The load bias base: the lowest `p_vaddr - p_offset` of the PT_LOAD segments, which a
   * symbolizer subtracts from a mapping's start; 0n when there are no PT_LOAD segments.
   */
  loadBase(): bigint;
}

const decoder = new TextDecoder();

function cString(bytes: Uint8Array, offset: number): string {
  if (offset >= bytes.length) return "";
  let end = offset;
  while (end < bytes.length && bytes[end] !== 0) end++;
  return decoder.decode(bytes.subarray(offset, end));
}

const BINDINGS: SymbolBinding[] = ["local", "global", "weak"];
const TYPES: SymbolType[] = [
  "notype",
  "object",
  "func",
  "section",
  "file",
  "common",
  "tls",
];

/**
 * Parses an ELF64 file. Throws {@link ElfFormatError} for anything that is not ELF64 or whose
 * headers point outside the bytes.
 *
 * @param bytes the whole file
 * @returns the parsed file; section bytes are views into `bytes`
 *
 * @example Read the symbols of a binary
 * ```ts
 * import { readElf } from "./elf.ts";
 * const elf = readElf(await Deno.readFile("/bin/true"));
 * console.log(elf.machine, elf.sections.map((s) => s.name));
 * ```
 */
export function readElf(bytes: Uint8Array): ElfFile {
  if (!(bytes instanceof Uint8Array)) {
    throw new TypeError("readElf expects a Uint8Array with the file's bytes");
  }
  if (
    bytes.length < 64 || bytes[0] !== 0x7f || bytes[1] !== 0x45 ||
    bytes[2] !== 0x4c ||
    bytes[3] !== 0x46
  ) {
    throw new ElfFormatError(
      "Not an ELF file: the magic bytes \\x7fELF are missing",
      {
        offset: 0,
      },
    );
  }
  if (bytes[4] !== 2) {
    throw new ElfFormatError(
      `Unsupported ELF class ${bytes[4]}: only 64-bit ELF (class 2) is read`,
      { offset: 4 },
    );
  }
  const le = bytes[5] === 1;
  if (bytes[5] !== 1 && bytes[5] !== 2) {
    throw new ElfFormatError(`Unknown ELF data encoding ${bytes[5]}`, {
      offset: 5,
    });
  }
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const u16 = (o: number) => dv.getUint16(o, le);
  const u32 = (o: number) => dv.getUint32(o, le);
  const u64 = (o: number) => dv.getBigUint64(o, le);
  const i64 = (o: number) => dv.getBigInt64(o, le);
  const num = (v: bigint, what: string, at: number) => {
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) {
      throw new ElfFormatError(`ELF ${what} ${v} is too large`, { offset: at });
    }
    return Number(v);
  };

  const type = u16(16);
  const machine = u16(18);
  const entry = u64(24);
  const phoff = num(u64(32), "program header offset", 32);
  const shoff = num(u64(40), "section header offset", 40);
  const phentsize = u16(54);
  let phnum = u16(56);
  const shentsize = u16(58);
  let shnum = u16(60);
  let shstrndx = u16(62);

  const checkRange = (off: number, len: number, what: string) => {
    if (off < 0 || len < 0 || off + len > bytes.length) {
      throw new ElfFormatError(
        `ELF ${what} at ${off} (+${len}) lies outside the ${bytes.length}-byte file; the file is truncated or corrupt`,
        { offset: off },
      );
    }
  };

  // Extended numbering: counts that overflow 16 bits live in section header 0.
  if (shoff !== 0 && (shnum === 0 || shstrndx === 0xffff)) {
    checkRange(shoff, 64, "section header 0");
    if (shnum === 0) shnum = num(u64(shoff + 32), "section count", shoff + 32);
    if (shstrndx === 0xffff) shstrndx = u32(shoff + 40);
  }
  if (shoff !== 0 && phnum === 0xffff) {
    phnum = u32(shoff + 44);
  }

  const sections: ElfSection[] = [];
  const nameOffsets: number[] = [];
  if (shoff !== 0 && shnum > 0) {
    if (shentsize < 64) {
      throw new ElfFormatError(
        `ELF section header size ${shentsize} is below 64`,
        {
          offset: 58,
        },
      );
    }
    checkRange(shoff, shnum * shentsize, "section header table");
    for (let i = 0; i < shnum; i++) {
      const h = shoff + i * shentsize;
      const shType = u32(h + 4);
      const offset = num(u64(h + 24), "section offset", h + 24);
      const size = num(u64(h + 32), "section size", h + 32);
      if (shType !== SHT.NOBITS && shType !== SHT.NULL) {
        checkRange(offset, size, `section ${i}`);
      }
      sections.push({
        index: i,
        name: "",
        type: shType,
        flags: u64(h + 8),
        addr: u64(h + 16),
        offset,
        size,
        link: u32(h + 40),
        info: u32(h + 44),
        addralign: num(u64(h + 48), "section alignment", h + 48),
        entsize: num(u64(h + 56), "section entry size", h + 56),
        bytes: shType === SHT.NOBITS || shType === SHT.NULL
          ? new Uint8Array(0)
          : bytes.subarray(offset, offset + size),
      });
      nameOffsets.push(u32(h));
    }
    // Names are resolved once the string table section is known.
    const shstr = sections[shstrndx]?.bytes ?? new Uint8Array(0);
    for (const s of sections) s.name = cString(shstr, nameOffsets[s.index]);
  }

  const programHeaders: ElfProgramHeader[] = [];
  if (phoff !== 0 && phnum > 0) {
    checkRange(phoff, phnum * phentsize, "program header table");
    for (let i = 0; i < phnum; i++) {
      const h = phoff + i * phentsize;
      programHeaders.push({
        type: u32(h),
        flags: u32(h + 4),
        offset: u64(h + 8),
        vaddr: u64(h + 16),
        filesz: u64(h + 32),
        memsz: u64(h + 40),
        align: u64(h + 48),
      });
    }
  }

  const symbolTables = new Map<number, ElfSymbol[]>();
  const readSymbols = (
    sec: ElfSection,
    table: "symtab" | "dynsym",
  ): ElfSymbol[] => {
    const cached = symbolTables.get(sec.index);
    if (cached) return cached;
    const strtab = sections[sec.link]?.bytes ?? new Uint8Array(0);
    const ent = sec.entsize || 24;
    const out: ElfSymbol[] = [];
    for (
      let i = 0, o = sec.offset;
      o + 24 <= sec.offset + sec.size;
      i++, o += ent
    ) {
      const info = bytes[o + 4];
      out.push({
        index: i,
        name: cString(strtab, u32(o)),
        value: u64(o + 8),
        size: u64(o + 16),
        sectionIndex: u16(o + 6),
        binding: BINDINGS[info >> 4] ?? "other",
        type: TYPES[info & 0xf] ?? "other",
        visibility: bytes[o + 5] & 0x3,
        table,
      });
    }
    symbolTables.set(sec.index, out);
    return out;
  };
  const symbols: ElfSymbol[] = [];
  for (const s of sections) {
    if (s.type === SHT.SYMTAB) symbols.push(...readSymbols(s, "symtab"));
  }
  for (const s of sections) {
    if (s.type === SHT.DYNSYM) symbols.push(...readSymbols(s, "dynsym"));
  }

  const byName = new Map<string, ElfSection>();
  for (const s of sections) if (!byName.has(s.name)) byName.set(s.name, s);

  return {
    littleEndian: le,
    type,
    machine,
    entry,
    sections,
    symbols,
    programHeaders,
    section: (name) => byName.get(name),
    relocations(target) {
      const out: ElfRelocationSection[] = [];
      for (const sec of sections) {
        if (sec.type !== SHT.REL && sec.type !== SHT.RELA) continue;
        if (target && (!sections[sec.info] || !target(sections[sec.info]))) {
          continue;
        }
        const rela = sec.type === SHT.RELA;
        const ent = sec.entsize || (rela ? 24 : 16);
        const symSec = sections[sec.link];
        const syms =
          symSec && (symSec.type === SHT.SYMTAB || symSec.type === SHT.DYNSYM)
            ? readSymbols(
              symSec,
              symSec.type === SHT.SYMTAB ? "symtab" : "dynsym",
            )
            : [];
        const relocations: ElfRelocation[] = [];
        for (let o = sec.offset; o + ent <= sec.offset + sec.size; o += ent) {
          const info = u64(o + 8);
          const symbolIndex = Number(info >> 32n);
          relocations.push({
            offset: u64(o),
            type: Number(info & 0xffffffffn),
            symbolIndex,
            symbol: syms[symbolIndex],
            addend: rela ? i64(o + 16) : 0n,
          });
        }
        out.push({ section: sec, targetIndex: sec.info, relocations });
      }
      return out;
    },
    loadBase() {
      let base: bigint | undefined;
      for (const p of programHeaders) {
        if (p.type !== PT.LOAD) continue;
        const b = p.vaddr - p.offset;
        if (base === undefined || b < base) base = b;
      }
      return base ?? 0n;
    },
  };
}
