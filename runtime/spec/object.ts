/**
 * `inspectObject`: a compiled BPF object read into a spec (programs, maps, BTF) without the
 * kernel, as cilium/ebpf does before it creates live objects. The permission check, `bpfpm
 * publish` and type generation all start here, and none of them needs root.
 *
 * @module
 */

import { type Btf, type BtfExt, parseBtf, parseBtfExt } from "../btf/btf.ts";
import { type ElfFile, type ElfSection, EM, readElf, SHF, SHT } from "./elf.ts";
import { possibleCpus } from "./_cpus.ts";
import { ElfFormatError, ObjectFormatError } from "../errors.ts";
import {
  kindFromBccName,
  kindFromSection,
  type ProgramKind,
} from "./section_kinds.ts";
import { mapTypeName } from "./map_types.ts";
import { CALL, INSN_SIZE, LD_IMM64, Pseudo, readInsn } from "./insn.ts";

/** One BPF program found in the object. */
export interface ProgramSpec {
  /** The function name. */
  name: string;
  /** Its ELF section, e.g. `tracepoint/syscalls/sys_enter_getppid`. */
  section: string;
  /** The program kind from the section name, or from a BCC function-name prefix. */
  kind: ProgramKind;
  /** The attach target the name carries (see `SectionInfo.target`), or `""`. */
  target: string;
  /** A sleepable variant (`fentry.s`, `uprobe.s`, ...). */
  sleepable: boolean;
  /** libbpf's variant of the kind (`multi`, `syscall`, `frags`, ...), when any. */
  variant?: string;
  /** Helper ids called (`call` with src_reg 0) by the program or its subprograms, sorted. */
  helpers: number[];
  /** Kernel functions called (`call` with src_reg 2), by name, sorted. */
  kfuncs: string[];
  /** Names of the subprograms it calls (directly or not). */
  subprograms: string[];
  /** Instruction count of the program itself (an ld_imm64 counts as two). */
  insnCount: number;
  /** The program's instruction bytes (8 per slot), a view into the object. */
  instructions: Uint8Array;
}

/** One map the object defines. */
export interface MapSpec {
  /** The map name (the variable name in `.maps`, or the section name for global data). */
  name: string;
  /** The map type's name, e.g. `hash`, `ringbuf` (`MAP_TYPES` in map_types.ts). */
  type: string;
  /** The `enum bpf_map_type` number. */
  typeNumber: number;
  /** Key size in bytes (0 for maps without keys: ring buffers, queues). */
  keySize: number;
  /** Value size in bytes. */
  valueSize: number;
  /** `max_entries` (for ring buffers: the size in bytes). */
  maxEntries: number;
  /** `map_flags`. */
  flags: number;
  /** BTF type id of the key, 0 when the object does not say (`key_size` only). */
  btfKeyTypeId: number;
  /** BTF type id of the value, 0 when the object does not say. */
  btfValueTypeId: number;
  /** `pinning` (0 none, 1 by name). */
  pinning: number;
  /** An estimate of the kernel memory the map takes when created (see `estimateMapMemory`). */
  memoryBytes: number;
  /** Where the definition came from. */
  source: "btf" | "legacy" | "global-data";
  /** For array/hash of maps: the inner map's definition, when given with `__array(values, ...)`. */
  inner?: MapSpec;
}

/** The whole object. */
export interface ObjectSpec {
  /** Programs in section order. */
  programs: ProgramSpec[];
  /** Maps: `.maps` definitions, legacy `maps` definitions, then global data sections. */
  maps: MapSpec[];
  /** The `license` section's string, or `""`. */
  license: string;
  /** The `version` section's value, or 0. */
  kernelVersion: number;
  /** The parsed `.BTF`, when present. */
  btf?: Btf;
  /** The parsed `.BTF.ext`, when present. */
  btfExt?: BtfExt;
  /** The ELF file underneath. */
  elf: ElfFile;
}

/** Options for {@link inspectObject}. */
export interface InspectOptions {
  /**
   * CPUs to count per-CPU map memory with. Default: the possible CPUs of
   * /sys/devices/system/cpu/possible, else `navigator.hardwareConcurrency`.
   */
  cpus?: number;
}

const roundUp8 = (n: number) => Math.ceil(n / 8) * 8;

/**
 * Estimates the kernel memory a map takes when created, from its type and sizes. It follows
 * the kernel's allocation shapes (element headers of hash maps, per-CPU copies, ring buffer
 * pages) closely enough to compare against a cap; it is not exact. Storage maps (sk, inode,
 * task, cgroup) grow with the objects they attach to and count as 0 here.
 *
 * @param map type, sizes and max_entries
 * @param cpus CPUs for per-CPU maps
 * @returns bytes
 *
 * @example
 * ```ts
 * import { estimateMapMemory } from "./object.ts";
 * estimateMapMemory({ type: "hash", keySize: 8, valueSize: 8, maxEntries: 1024 }, 2);
 * ```
 */
export function estimateMapMemory(
  map: { type: string; keySize: number; valueSize: number; maxEntries: number },
  cpus: number,
): number {
  const { keySize: k, valueSize: v, maxEntries: n } = map;
  // Shapes from the kernel's map_mem_usage callbacks (checked against bpftool's bytes_memlock):
  // hash maps preallocate n elements of struct htab_elem (48 bytes) + key + value, plus a
  // power-of-two bucket array of 16-byte buckets and one spare element per CPU.
  const htabElem = 48;
  let buckets = 1;
  while (buckets < n) buckets *= 2;
  switch (map.type) {
    case "hash":
      return buckets * 16 + (n + cpus) * (htabElem + roundUp8(k) + roundUp8(v));
    case "lru_hash":
      return buckets * 16 + n * (htabElem + roundUp8(k) + roundUp8(v));
    case "percpu_hash":
    case "lru_percpu_hash":
      return buckets * 16 + n * (htabElem + roundUp8(k) + 8) +
        n * roundUp8(v) * cpus;
    case "hash_of_maps":
      return buckets * 16 + n * (htabElem + roundUp8(k) + 8);
    case "array":
      return n * roundUp8(v);
    case "percpu_array":
      return n * (8 + roundUp8(v) * cpus);
    case "perf_event_array":
      // libbpf sizes a perf event array left at 0 entries to the CPU count.
      return (n || cpus) * 8;
    case "prog_array":
    case "cgroup_array":
    case "array_of_maps":
    case "devmap":
    case "devmap_hash":
    case "cpumap":
    case "xskmap":
    case "sockmap":
    case "sockhash":
    case "reuseport_sockarray":
      return n * 8;
    case "stack_trace":
      return n * (16 + v) + buckets * 8;
    case "lpm_trie":
      return n * (32 + k + v);
    case "queue":
    case "stack":
      return (n + 1) * v;
    case "ringbuf":
    case "user_ringbuf":
      // The data pages, the consumer/producer pages and the page pointer array.
      return n + 4 * 4096 + (n / 4096 + 2) * 8;
    case "bloom_filter":
      return Math.ceil((n * 5) / 0.69314718 / 8);
    case "arena":
      return n * 4096;
    default:
      return 0;
  }
}

/**
 * Reads a compiled BPF object (clang `-target bpf`) into an {@link ObjectSpec}: its programs
 * with kinds, attach targets and the helper ids they call (following subprogram calls), and
 * its maps with types, sizes, BTF type ids and a memory estimate. Touches no kernel.
 *
 * @param bytes the object file
 * @param options CPU count for per-CPU memory estimates
 * @returns the spec; throws {@link ObjectFormatError} for non-BPF or malformed input
 *
 * @example List the helpers each program calls
 * ```ts
 * import { inspectObject } from "./object.ts";
 * import { helperName } from "./helpers.ts";
 * const spec = inspectObject(await Deno.readFile("probe.bpf.o"));
 * for (const p of spec.programs) console.log(p.name, p.kind, p.helpers.map(helperName));
 * ```
 */
export function inspectObject(
  bytes: Uint8Array,
  options: InspectOptions = {},
): ObjectSpec {
  let elf: ElfFile;
  try {
    elf = readElf(bytes);
  } catch (e) {
    if (e instanceof ElfFormatError) {
      throw new ObjectFormatError(`Not a BPF object: ${e.message}`, {
        cause: e,
      });
    }
    throw e;
  }
  if (elf.machine !== EM.BPF) {
    throw new ObjectFormatError(
      `Not a BPF object: the ELF machine is ${elf.machine}, not EM_BPF (247); compile with clang -target bpf`,
    );
  }
  const cpus = options.cpus ?? possibleCpus();
  const btfSec = elf.section(".BTF");
  let btf: Btf | undefined;
  let btfExt: BtfExt | undefined;
  if (btfSec) {
    try {
      btf = parseBtf(btfSec.bytes);
      const ext = elf.section(".BTF.ext");
      if (ext) btfExt = parseBtfExt(ext.bytes, btf);
    } catch (e) {
      throw new ObjectFormatError(
        `The object's BTF cannot be read: ${(e as Error).message}`,
        {
          section: ".BTF",
          cause: e,
        },
      );
    }
  }
  const programs = readPrograms(elf);
  const maps = [
    ...readBtfMaps(elf, btf, cpus),
    ...readLegacyMaps(elf, cpus),
    ...readGlobalData(elf, cpus),
  ];
  const licenseSec = elf.section("license");
  const license = licenseSec
    ? new TextDecoder().decode(licenseSec.bytes).replace(/\0.*$/s, "")
    : "";
  const versionSec = elf.section("version");
  const kernelVersion = versionSec && versionSec.size >= 4
    ? new DataView(versionSec.bytes.buffer, versionSec.bytes.byteOffset, 4)
      .getUint32(0, elf.littleEndian)
    : 0;
  return { programs, maps, license, kernelVersion, btf, btfExt, elf };
}

interface Func {
  name: string;
  section: ElfSection;
  start: number; // byte offset within the section
  end: number;
  global: boolean;
}

function readPrograms(elf: ElfFile): ProgramSpec[] {
  const funcs: Func[] = [];
  for (const s of elf.symbols) {
    if (s.table !== "symtab" || s.type !== "func" || s.sectionIndex === 0) {
      continue;
    }
    const section = elf.sections[s.sectionIndex];
    if (
      !section || section.type !== SHT.PROGBITS ||
      !(section.flags & BigInt(SHF.EXECINSTR))
    ) continue;
    const start = Number(s.value);
    let size = Number(s.size);
    if (size === 0) size = section.size - start;
    if (start % INSN_SIZE || start + size > section.size) {
      throw new ObjectFormatError(
        `Function ${s.name} (${start}+${size}) does not fit section ${section.name} of ${section.size} bytes`,
        { section: section.name },
      );
    }
    funcs.push({
      name: s.name,
      section,
      start,
      end: start + size,
      global: s.binding !== "local",
    });
  }
  funcs.sort((a, b) => a.section.index - b.section.index || a.start - b.start);

  const isCode = (index: number) => {
    const sec = elf.sections[index];
    return !!sec && sec.type === SHT.PROGBITS &&
      (sec.flags & BigInt(SHF.EXECINSTR)) !== 0n;
  };
  // Relocations by (section index, byte offset) to resolve calls across sections.
  const relocs = new Map<
    number,
    Map<
      number,
      {
        symbolSection: number;
        symbolValue: number;
        symbolType: string;
        name: string;
      }
    >
  >();
  for (const rs of elf.relocations((s) => isCode(s.index))) {
    const m = new Map<
      number,
      {
        symbolSection: number;
        symbolValue: number;
        symbolType: string;
        name: string;
      }
    >();
    for (const r of rs.relocations) {
      if (!r.symbol) continue;
      m.set(Number(r.offset), {
        symbolSection: r.symbol.sectionIndex,
        symbolValue: Number(r.symbol.value),
        symbolType: r.symbol.type,
        name: r.symbol.name,
      });
    }
    relocs.set(rs.targetIndex, m);
  }
  const funcAt = (sectionIndex: number, offset: number): Func | undefined =>
    funcs.find((f) =>
      f.section.index === sectionIndex && offset >= f.start && offset < f.end
    );

  const scan = (root: Func) => {
    const helpers = new Set<number>();
    const kfuncs = new Set<string>();
    const subs = new Set<Func>();
    const todo: Func[] = [root];
    const seen = new Set<Func>([root]);
    while (todo.length) {
      const f = todo.pop()!;
      const b = f.section.bytes;
      const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
      const rel = relocs.get(f.section.index);
      for (let off = f.start; off < f.end; off += INSN_SIZE) {
        const { code, src, imm } = readInsn(dv, off, elf.littleEndian);
        let target: Func | undefined;
        if (code === CALL) {
          if (src === 0) helpers.add(imm);
          else if (src === Pseudo.KFUNC_CALL) {
            const r = rel?.get(off);
            kfuncs.add(r?.name || `btf#${imm}`);
          } else if (src === Pseudo.CALL) {
            const r = rel?.get(off);
            if (r && r.symbolSection === 0) {
              // A call to an undefined (extern `__ksym`) symbol: libbpf turns it into a kfunc
              // call (BPF_PSEUDO_KFUNC_CALL) at load.
              kfuncs.add(r.name);
            } else {
              // libbpf: with a relocation the callee is at sym_off / 8 + imm + 1 in the
              // symbol's section; without one the call is relative within this section.
              target = r
                ? funcAt(r.symbolSection, r.symbolValue + (imm + 1) * INSN_SIZE)
                : funcAt(f.section.index, off + (imm + 1) * INSN_SIZE);
            }
          }
        } else if (code === LD_IMM64) {
          // A function address (bpf_loop, timers, for_each callbacks): clang leaves src_reg 0
          // and a relocation against the code section; libbpf turns it into BPF_PSEUDO_FUNC at
          // byte offset sym_off + imm.
          const r = rel?.get(off);
          if (r && isCode(r.symbolSection)) {
            target = funcAt(r.symbolSection, r.symbolValue + imm);
          } else if (!r && src === Pseudo.FUNC) {
            target = funcAt(f.section.index, off + (imm + 1) * INSN_SIZE);
          }
          off += INSN_SIZE;
        }
        if (target && !seen.has(target)) {
          seen.add(target);
          subs.add(target);
          todo.push(target);
        }
      }
    }
    return { helpers, kfuncs, subs };
  };

  const programs: ProgramSpec[] = [];
  for (const f of funcs) {
    const secName = f.section.name;
    // A BCC name says more than a late section's `unknown` (typed at attach time).
    const section = secName === ".text" ? undefined : kindFromSection(secName);
    const info = secName === ".text"
      ? kindFromBccName(f.name)
      : section?.kind === "unknown"
      ? kindFromBccName(f.name) ?? section
      : section ?? kindFromBccName(f.name);
    if (!info || (secName === ".text" && !f.global)) continue;
    const { helpers, kfuncs, subs } = scan(f);
    programs.push({
      name: f.name,
      section: secName,
      kind: info.kind,
      target: info.target,
      sleepable: info.sleepable,
      ...(info.variant ? { variant: info.variant } : {}),
      helpers: [...helpers].sort((a, b) => a - b),
      kfuncs: [...kfuncs].sort(),
      subprograms: [...subs].map((s) => s.name).sort(),
      insnCount: (f.end - f.start) / INSN_SIZE,
      instructions: f.section.bytes.subarray(f.start, f.end),
    });
  }
  return programs;
}

function readBtfMaps(
  elf: ElfFile,
  btf: Btf | undefined,
  cpus: number,
): MapSpec[] {
  if (!btf || !elf.section(".maps")) return [];
  const sec = btf.find(".maps", "datasec")[0];
  if (!sec || sec.kind !== "datasec") return [];
  const out: MapSpec[] = [];
  for (const v of sec.vars) {
    const varType = btf.type(v.type);
    if (varType.kind !== "var") continue;
    try {
      out.push(mapFromDef(btf, varType.name, varType.type, cpus));
    } catch (e) {
      if (e instanceof ObjectFormatError) throw e;
      throw new ObjectFormatError(
        `Map ${varType.name} in .maps has a definition its BTF cannot describe: ${
          (e as Error).message
        }`,
        { section: ".maps", cause: e },
      );
    }
  }
  return out;
}

function mapFromDef(
  btf: Btf,
  name: string,
  defTypeId: number,
  cpus: number,
): MapSpec {
  const def = btf.resolve(defTypeId);
  if (def.kind !== "struct") {
    throw new ObjectFormatError(
      `Map ${name} in .maps is a ${def.kind}, not a struct made with __uint/__type`,
      { section: ".maps" },
    );
  }
  let typeNumber = 0,
    keySize = 0,
    valueSize = 0,
    maxEntries = 0,
    flags = 0,
    pinning = 0;
  let btfKeyTypeId = 0, btfValueTypeId = 0;
  let inner: MapSpec | undefined;
  // __uint(name, val) is `int (*name)[val]`: a pointer to an array whose length is the value.
  const uintOf = (typeId: number, field: string): number => {
    const p = btf.resolve(typeId);
    const a = p.kind === "ptr" ? btf.resolve(p.type) : undefined;
    if (!a || a.kind !== "array") {
      throw new ObjectFormatError(
        `Map ${name}: field ${field} is not declared with __uint()`,
        {
          section: ".maps",
        },
      );
    }
    return a.length;
  };
  const pointee = (typeId: number, field: string): number => {
    const p = btf.resolve(typeId);
    if (p.kind !== "ptr") {
      throw new ObjectFormatError(
        `Map ${name}: field ${field} is not declared with __type()`,
        {
          section: ".maps",
        },
      );
    }
    return p.type;
  };
  for (const m of def.members) {
    switch (m.name) {
      case "type":
        typeNumber = uintOf(m.type, m.name);
        break;
      case "max_entries":
        maxEntries = uintOf(m.type, m.name);
        break;
      case "map_flags":
        flags = uintOf(m.type, m.name);
        break;
      case "pinning":
        pinning = uintOf(m.type, m.name);
        break;
      case "key_size":
        keySize = uintOf(m.type, m.name);
        break;
      case "value_size":
        valueSize = uintOf(m.type, m.name);
        break;
      case "key":
        btfKeyTypeId = pointee(m.type, m.name);
        keySize = btf.sizeOf(btfKeyTypeId);
        break;
      case "value":
        btfValueTypeId = pointee(m.type, m.name);
        valueSize = btf.sizeOf(btfValueTypeId);
        break;
      case "values": {
        // __array(values, struct inner) is `struct inner *values[]`.
        const arr = btf.resolve(m.type);
        if (arr.kind === "array") {
          const ptr = btf.resolve(arr.type);
          if (ptr.kind === "ptr") {
            const target = btf.resolve(ptr.type);
            if (
              target.kind === "struct" &&
              target.members.some((x) => x.name === "type")
            ) {
              inner = mapFromDef(btf, `${name}.inner`, ptr.type, cpus);
            }
          }
        }
        if (valueSize === 0) valueSize = 4;
        break;
      }
    }
  }
  const type = mapTypeName(typeNumber);
  // Map-in-map and fd-array maps take 4-byte keys/values (fds) when the definition omits them.
  if (
    keySize === 0 &&
    ["prog_array", "perf_event_array", "array_of_maps", "cgroup_array"]
      .includes(type)
  ) keySize = 4;
  if (
    valueSize === 0 &&
    [
      "prog_array",
      "perf_event_array",
      "array_of_maps",
      "hash_of_maps",
      "cgroup_array",
    ].includes(type)
  ) valueSize = 4;
  return {
    name,
    type,
    typeNumber,
    keySize,
    valueSize,
    maxEntries,
    flags,
    btfKeyTypeId,
    btfValueTypeId,
    pinning,
    memoryBytes: estimateMapMemory(
      { type, keySize, valueSize, maxEntries },
      cpus,
    ),
    source: "btf",
    ...(inner ? { inner } : {}),
  };
}

function readLegacyMaps(elf: ElfFile, cpus: number): MapSpec[] {
  const sec = elf.section("maps");
  if (!sec) return [];
  const dv = new DataView(
    sec.bytes.buffer,
    sec.bytes.byteOffset,
    sec.bytes.byteLength,
  );
  const out: MapSpec[] = [];
  for (const s of elf.symbols) {
    if (
      s.table !== "symtab" || s.sectionIndex !== sec.index ||
      s.type === "section" || !s.name
    ) continue;
    const o = Number(s.value);
    if (o + 20 > sec.size) {
      throw new ObjectFormatError(
        `Legacy map ${s.name} runs past the maps section`,
        { section: "maps" },
      );
    }
    const typeNumber = dv.getUint32(o, elf.littleEndian);
    const type = mapTypeName(typeNumber);
    const keySize = dv.getUint32(o + 4, elf.littleEndian);
    const valueSize = dv.getUint32(o + 8, elf.littleEndian);
    const maxEntries = dv.getUint32(o + 12, elf.littleEndian);
    out.push({
      name: s.name,
      type,
      typeNumber,
      keySize,
      valueSize,
      maxEntries,
      flags: dv.getUint32(o + 16, elf.littleEndian),
      btfKeyTypeId: 0,
      btfValueTypeId: 0,
      pinning: 0,
      memoryBytes: estimateMapMemory(
        { type, keySize, valueSize, maxEntries },
        cpus,
      ),
      source: "legacy",
    });
  }
  return out;
}

function readGlobalData(elf: ElfFile, cpus: number): MapSpec[] {
  const out: MapSpec[] = [];
  for (const s of elf.sections) {
    const isData = s.name === ".bss" || s.name === ".data" ||
      s.name === ".rodata" ||
      s.name.startsWith(".data.") || s.name.startsWith(".rodata.") ||
      s.name === ".kconfig";
    if (!isData || s.size === 0) continue;
    out.push({
      name: s.name,
      type: "array",
      typeNumber: 2,
      keySize: 4,
      valueSize: s.size,
      maxEntries: 1,
      flags: 0,
      btfKeyTypeId: 0,
      btfValueTypeId: 0,
      pinning: 0,
      memoryBytes: estimateMapMemory({
        type: "array",
        keySize: 4,
        valueSize: s.size,
        maxEntries: 1,
      }, cpus),
      source: "global-data",
    });
  }
  return out;
}
