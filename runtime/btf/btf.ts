/**
 * A parser for BTF, the BPF Type Format (the `.BTF` section of a compiled BPF object, or
 * `/sys/kernel/btf/vmlinux`), and for the `.BTF.ext` function and line records.
 *
 * The result is a type graph indexed by type id (id 0 is `void`). Nothing here touches the
 * kernel.
 *
 * @module
 */
import { BtfFormatError } from "../errors.ts";

/** The kinds of BTF types, named after `BTF_KIND_*`. */
export type BtfKind =
  | "void"
  | "int"
  | "ptr"
  | "array"
  | "struct"
  | "union"
  | "enum"
  | "fwd"
  | "typedef"
  | "volatile"
  | "const"
  | "restrict"
  | "func"
  | "func_proto"
  | "var"
  | "datasec"
  | "float"
  | "decl_tag"
  | "type_tag";

const KINDS: BtfKind[] = [
  "void",
  "int",
  "ptr",
  "array",
  "struct",
  "union",
  "enum",
  "fwd",
  "typedef",
  "volatile",
  "const",
  "restrict",
  "func",
  "func_proto",
  "var",
  "datasec",
  "float",
  "decl_tag",
  "type_tag",
  "enum", // BTF_KIND_ENUM64 (19) is an enum with 64-bit values
];

/** One member of a struct or union. */
export interface BtfMember {
  /** Member name; empty for an anonymous struct/union member. */
  name: string;
  /** Type id of the member. */
  type: number;
  /** Offset from the start of the struct, in bits. */
  bitOffset: number;
  /** Width in bits for a bitfield, 0 otherwise. */
  bitSize: number;
}

/** One enumerator. */
export interface BtfEnumValue {
  /** Enumerator name. */
  name: string;
  /** Its value (`bigint`, since BTF_KIND_ENUM64 values may exceed 2^53). */
  value: bigint;
}

/** One parameter of a function prototype. */
export interface BtfParam {
  /** Parameter name (may be empty). */
  name: string;
  /** Type id (0 for a trailing `...`). */
  type: number;
}

/** One variable placed in a data section. */
export interface BtfVarSecInfo {
  /** Type id of the VAR (or FUNC for `.ksyms`). */
  type: number;
  /** Byte offset within the section. */
  offset: number;
  /** Size in bytes. */
  size: number;
}

/** A BTF type. Fields not relevant to a kind are absent. */
export type BtfType =
  | { id: number; kind: "void"; name: "" }
  | {
    id: number;
    kind: "int";
    name: string;
    size: number;
    signed: boolean;
    char: boolean;
    bool: boolean;
    /** Bit offset of the value inside the int (legacy bitfield encoding). */
    bitOffset: number;
    /** Number of value bits. */
    bits: number;
  }
  | {
    id: number;
    kind: "ptr" | "typedef" | "volatile" | "const" | "restrict";
    name: string;
    type: number;
  }
  | { id: number; kind: "type_tag"; name: string; type: number }
  | {
    id: number;
    kind: "array";
    name: "";
    type: number;
    indexType: number;
    length: number;
  }
  | {
    id: number;
    kind: "struct" | "union";
    name: string;
    size: number;
    members: BtfMember[];
  }
  | {
    id: number;
    kind: "enum";
    name: string;
    size: number;
    signed: boolean;
    values: BtfEnumValue[];
  }
  | { id: number; kind: "fwd"; name: string; union: boolean }
  | { id: number; kind: "func"; name: string; type: number; linkage: number }
  | {
    id: number;
    kind: "func_proto";
    name: "";
    returnType: number;
    params: BtfParam[];
  }
  | { id: number; kind: "var"; name: string; type: number; linkage: number }
  | {
    id: number;
    kind: "datasec";
    name: string;
    size: number;
    vars: BtfVarSecInfo[];
  }
  | { id: number; kind: "float"; name: string; size: number }
  | {
    id: number;
    kind: "decl_tag";
    name: string;
    type: number;
    componentIndex: number;
  };

const MODIFIERS = new Set<BtfKind>([
  "typedef",
  "volatile",
  "const",
  "restrict",
  "type_tag",
]);

/** A parsed BTF type graph. */
export class Btf {
  #types: BtfType[];
  #byName = new Map<string, BtfType[]>();
  #strings: Uint8Array;

  /**
   * Wraps parsed types and their string section.
   *
   * @param types the types, indexed by id (index 0 is void)
   * @param strings the string section
   */
  constructor(types: BtfType[], strings: Uint8Array) {
    this.#types = types;
    this.#strings = strings;
    for (const t of types) {
      if (!t.name) continue;
      const list = this.#byName.get(t.name);
      if (list) list.push(t);
      else this.#byName.set(t.name, [t]);
    }
  }

  /** All types in id order; index 0 is `void`. */
  get types(): readonly BtfType[] {
    return this.#types;
  }

  /** The raw string section. */
  get strings(): Uint8Array {
    return this.#strings;
  }

  /**
   * The type with this id.
   *
   * @param id a type id
   * @returns the type; throws a RangeError for an unknown id
   */
  type(id: number): BtfType {
    const t = this.#types[id];
    if (!t) {
      throw new RangeError(
        `BTF type id ${id} does not exist: ids run from 0 to ${
          this.#types.length - 1
        }`,
      );
    }
    return t;
  }

  /**
   * Types with this name, optionally of one kind.
   *
   * @param name a type name such as `event` (without `struct `)
   * @param kind restrict to one kind
   * @returns the matching types, possibly empty
   */
  find(name: string, kind?: BtfKind): BtfType[] {
    const all = this.#byName.get(name) ?? [];
    return kind ? all.filter((t) => t.kind === kind) : all;
  }

  /**
   * Follows typedef, const, volatile, restrict and type_tag to the underlying type.
   *
   * @param id a type id
   * @returns the first type that is not a modifier
   */
  resolve(id: number): BtfType {
    let t = this.type(id);
    for (let hops = 0; MODIFIERS.has(t.kind); hops++) {
      if (hops > 64) {
        throw new BtfFormatError(`BTF type ${id} has a modifier cycle`);
      }
      t = this.type((t as { type: number }).type);
    }
    return t;
  }

  /**
   * The size in bytes of a type, as the C compiler sees it.
   *
   * @param id a type id
   * @returns the size; throws a TypeError for types without a size (void, func, fwd)
   */
  sizeOf(id: number): number {
    const t = this.resolve(id);
    switch (t.kind) {
      case "int":
      case "struct":
      case "union":
      case "enum":
      case "float":
      case "datasec":
        return t.size;
      case "ptr":
        return 8;
      case "array":
        return t.length * this.sizeOf(t.type);
      case "var":
        return this.sizeOf(t.type);
      default:
        throw new TypeError(`BTF type ${id} (${t.kind} ${t.name}) has no size`);
    }
  }

  /**
   * A C-like spelling of a type, e.g. `struct event`, `u32`, `char[16]`, `int *`.
   *
   * @param id a type id
   * @returns the spelling
   */
  typeName(id: number): string {
    const t = this.type(id);
    switch (t.kind) {
      case "void":
        return "void";
      case "int":
      case "float":
      case "typedef":
        return t.name;
      case "struct":
      case "union":
      case "enum":
        return t.name ? `${t.kind} ${t.name}` : `${t.kind} <anon>`;
      case "fwd":
        return `${t.union ? "union" : "struct"} ${t.name}`;
      case "ptr":
        return `${this.typeName(t.type)} *`;
      case "const":
      case "volatile":
      case "restrict":
        return `${t.kind} ${this.typeName(t.type)}`;
      case "type_tag":
        return this.typeName(t.type);
      case "array":
        return `${this.typeName(t.type)}[${t.length}]`;
      case "func":
      case "var":
      case "datasec":
      case "decl_tag":
        return t.name;
      case "func_proto":
        return `${this.typeName(t.returnType)} (*)(${
          t.params.map((p) => p.type === 0 ? "..." : this.typeName(p.type))
            .join(", ")
        })`;
    }
  }
}

const decoder = new TextDecoder();

function stringAt(strings: Uint8Array, offset: number): string {
  if (offset >= strings.length) {
    throw new BtfFormatError(
      `BTF string offset ${offset} is beyond the ${strings.length}-byte string section`,
    );
  }
  // Names are nearly always ASCII; building them by char code is far faster than TextDecoder.
  let s = "";
  for (let i = offset; i < strings.length; i++) {
    const c = strings[i];
    if (c === 0) return s;
    if (c >= 0x80) {
      let end = i;
      while (end < strings.length && strings[end] !== 0) end++;
      return decoder.decode(strings.subarray(offset, end));
    }
    s += String.fromCharCode(c);
  }
  return s;
}

const BTF_MAGIC = 0xeb9f;

/**
 * Parses raw BTF (a `.BTF` section or `/sys/kernel/btf/vmlinux`).
 *
 * @param bytes the BTF blob, starting at its header
 * @returns the type graph
 *
 * @example Parse the BTF of a compiled object
 * ```ts
 * import { readElf } from "../spec/elf.ts";
 * import { parseBtf } from "./btf.ts";
 * const elf = readElf(await Deno.readFile("probe.bpf.o"));
 * const btf = parseBtf(elf.section(".BTF")!.bytes);
 * console.log(btf.find("event", "struct"));
 * ```
 */
export function parseBtf(bytes: Uint8Array): Btf {
  if (!(bytes instanceof Uint8Array)) {
    throw new TypeError("parseBtf expects a Uint8Array with the BTF bytes");
  }
  if (bytes.length < 24) {
    throw new BtfFormatError(
      `BTF is ${bytes.length} bytes, shorter than its 24-byte header`,
    );
  }
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let le = true;
  if (dv.getUint16(0, true) !== BTF_MAGIC) {
    if (dv.getUint16(0, false) !== BTF_MAGIC) {
      throw new BtfFormatError("Not BTF: the magic 0xeb9f is missing", {
        offset: 0,
      });
    }
    le = false;
  }
  const u32 = (o: number) => dv.getUint32(o, le);
  const hdrLen = u32(4);
  const typeOff = hdrLen + u32(8);
  const typeLen = u32(12);
  const strOff = hdrLen + u32(16);
  const strLen = u32(20);
  if (typeOff + typeLen > bytes.length || strOff + strLen > bytes.length) {
    throw new BtfFormatError(
      `BTF sections (types ${typeOff}+${typeLen}, strings ${strOff}+${strLen}) exceed the ${bytes.length}-byte blob`,
    );
  }
  const strings = bytes.subarray(strOff, strOff + strLen);
  // The string section is deduplicated, so equal names share an offset: decode each once.
  const seen = new Map<number, string>();
  const str = (o: number) => {
    let v = seen.get(o);
    if (v === undefined) seen.set(o, v = stringAt(strings, o));
    return v;
  };
  const types: BtfType[] = [{ id: 0, kind: "void", name: "" }];
  let o = typeOff;
  const end = typeOff + typeLen;
  const need = (n: number) => {
    if (o + n > end) {
      throw new BtfFormatError(
        `BTF type ${types.length} runs past the type section`,
        {
          offset: o,
        },
      );
    }
  };
  while (o < end) {
    need(12);
    const id = types.length;
    const nameOff = u32(o);
    const info = u32(o + 4);
    const sizeOrType = u32(o + 8);
    o += 12;
    const vlen = info & 0xffff;
    const kindNo = (info >>> 24) & 0x1f;
    const kindFlag = (info >>> 31) === 1;
    const kind = KINDS[kindNo];
    if (kind === undefined || kindNo === 0) {
      throw new BtfFormatError(`BTF type ${id} has unknown kind ${kindNo}`, {
        offset: o - 12,
      });
    }
    const name = str(nameOff);
    switch (kindNo) {
      case 1: {
        need(4);
        const enc = u32(o);
        o += 4;
        const encoding = (enc >>> 24) & 0xf;
        types.push({
          id,
          kind: "int",
          name,
          size: sizeOrType,
          signed: (encoding & 1) !== 0,
          char: (encoding & 2) !== 0,
          bool: (encoding & 4) !== 0,
          bitOffset: (enc >>> 16) & 0xff,
          bits: enc & 0xff,
        });
        break;
      }
      case 2:
      case 8:
      case 9:
      case 10:
      case 11:
      case 18:
        types.push({ id, kind: kind as "ptr", name, type: sizeOrType });
        break;
      case 3:
        need(12);
        types.push({
          id,
          kind: "array",
          name: "",
          type: u32(o),
          indexType: u32(o + 4),
          length: u32(o + 8),
        });
        o += 12;
        break;
      case 4:
      case 5: {
        need(12 * vlen);
        const members: BtfMember[] = [];
        for (let i = 0; i < vlen; i++, o += 12) {
          const off = u32(o + 8);
          members.push({
            name: str(u32(o)),
            type: u32(o + 4),
            bitOffset: kindFlag ? off & 0xffffff : off,
            bitSize: kindFlag ? off >>> 24 : 0,
          });
        }
        types.push({
          id,
          kind: kind as "struct",
          name,
          size: sizeOrType,
          members,
        });
        break;
      }
      case 6: {
        need(8 * vlen);
        const values: BtfEnumValue[] = [];
        for (let i = 0; i < vlen; i++, o += 8) {
          const v = kindFlag
            ? BigInt(dv.getInt32(o + 4, le))
            : BigInt(u32(o + 4));
          values.push({ name: str(u32(o)), value: v });
        }
        types.push({
          id,
          kind: "enum",
          name,
          size: sizeOrType,
          signed: kindFlag,
          values,
        });
        break;
      }
      case 19: {
        need(12 * vlen);
        const values: BtfEnumValue[] = [];
        for (let i = 0; i < vlen; i++, o += 12) {
          const raw = (BigInt(u32(o + 8)) << 32n) | BigInt(u32(o + 4));
          values.push({
            name: str(u32(o)),
            value: kindFlag ? BigInt.asIntN(64, raw) : raw,
          });
        }
        types.push({
          id,
          kind: "enum",
          name,
          size: sizeOrType,
          signed: kindFlag,
          values,
        });
        break;
      }
      case 7:
        types.push({ id, kind: "fwd", name, union: kindFlag });
        break;
      case 12:
        types.push({ id, kind: "func", name, type: sizeOrType, linkage: vlen });
        break;
      case 13: {
        need(8 * vlen);
        const params: BtfParam[] = [];
        for (let i = 0; i < vlen; i++, o += 8) {
          params.push({ name: str(u32(o)), type: u32(o + 4) });
        }
        types.push({
          id,
          kind: "func_proto",
          name: "",
          returnType: sizeOrType,
          params,
        });
        break;
      }
      case 14:
        need(4);
        types.push({
          id,
          kind: "var",
          name,
          type: sizeOrType,
          linkage: u32(o),
        });
        o += 4;
        break;
      case 15: {
        need(12 * vlen);
        const vars: BtfVarSecInfo[] = [];
        for (let i = 0; i < vlen; i++, o += 12) {
          vars.push({ type: u32(o), offset: u32(o + 4), size: u32(o + 8) });
        }
        types.push({ id, kind: "datasec", name, size: sizeOrType, vars });
        break;
      }
      case 16:
        types.push({ id, kind: "float", name, size: sizeOrType });
        break;
      case 17:
        need(4);
        types.push({
          id,
          kind: "decl_tag",
          name,
          type: sizeOrType,
          componentIndex: dv.getInt32(o, le),
        });
        o += 4;
        break;
    }
  }
  for (const t of types) checkRefs(t, types.length);
  return new Btf(types, strings);
}

function checkRefs(t: BtfType, count: number): void {
  const refs: number[] = [];
  if ("type" in t) refs.push(t.type);
  if (t.kind === "array") refs.push(t.indexType);
  if (t.kind === "struct" || t.kind === "union") {
    for (const m of t.members) refs.push(m.type);
  }
  if (t.kind === "func_proto") {
    refs.push(
      t.returnType,
      ...t.params.map((p) => p.type),
    );
  }
  if (t.kind === "datasec") { for (const v of t.vars) refs.push(v.type); }
  for (const r of refs) {
    if (r >= count) {
      throw new BtfFormatError(
        `BTF type ${t.id} (${t.kind} ${t.name}) refers to type ${r}, but only ${count} types exist`,
      );
    }
  }
}

/** One `.BTF.ext` function record: the BTF FUNC type of the function at an instruction. */
export interface BtfFuncInfo {
  /** Byte offset of the instruction in its section (8 bytes per instruction). */
  insnOffset: number;
  /** The BTF FUNC type id. */
  typeId: number;
}

/** One `.BTF.ext` line record. */
export interface BtfLineInfo {
  /** Byte offset of the instruction in its section. */
  insnOffset: number;
  /** Source file name. */
  fileName: string;
  /** The source line's text. */
  line: string;
  /** Line number. */
  lineNumber: number;
  /** Column. */
  column: number;
}

/** One `.BTF.ext` CO-RE relocation record. */
export interface BtfCoreRelo {
  /** Byte offset of the instruction in its section. */
  insnOffset: number;
  /** The local BTF type id the access starts from. */
  typeId: number;
  /** The access string, e.g. `0:1:2`. */
  access: string;
  /** `enum bpf_core_relo_kind`. */
  kind: number;
}

/** Parsed `.BTF.ext`, grouped by the code section name. */
export interface BtfExt {
  /** Function records by section name. */
  funcInfo: Map<string, BtfFuncInfo[]>;
  /** Line records by section name. */
  lineInfo: Map<string, BtfLineInfo[]>;
  /** CO-RE relocations by section name. */
  coreRelos: Map<string, BtfCoreRelo[]>;
}

/**
 * Parses a `.BTF.ext` section. Strings are looked up in the matching `.BTF`.
 *
 * @param bytes the `.BTF.ext` section bytes
 * @param btf the object's parsed `.BTF`
 * @returns function, line and CO-RE records grouped by section name
 *
 * @example Line info of each program section
 * ```ts
 * import { readElf } from "../spec/elf.ts";
 * import { parseBtf, parseBtfExt } from "./btf.ts";
 * const elf = readElf(await Deno.readFile("probe.bpf.o"));
 * const btf = parseBtf(elf.section(".BTF")!.bytes);
 * const ext = parseBtfExt(elf.section(".BTF.ext")!.bytes, btf);
 * for (const [sec, lines] of ext.lineInfo) console.log(sec, lines.length);
 * ```
 */
export function parseBtfExt(bytes: Uint8Array, btf: Btf): BtfExt {
  if (bytes.length < 24) {
    throw new BtfFormatError(
      `BTF.ext is ${bytes.length} bytes, shorter than its header`,
    );
  }
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const le = dv.getUint16(0, true) === BTF_MAGIC;
  if (!le && dv.getUint16(0, false) !== BTF_MAGIC) {
    throw new BtfFormatError("Not BTF.ext: the magic 0xeb9f is missing", {
      offset: 0,
    });
  }
  const u32 = (o: number) => dv.getUint32(o, le);
  const hdrLen = u32(4);
  const str = (o: number) => stringAt(btf.strings, o);
  function records<T>(
    off: number,
    len: number,
    read: (o: number) => T,
  ): Map<string, T[]> {
    const out = new Map<string, T[]>();
    if (len === 0) return out;
    let o = hdrLen + off;
    const end = o + len;
    if (end > bytes.length) {
      throw new BtfFormatError("BTF.ext record block runs past the section", {
        offset: o,
      });
    }
    const recSize = u32(o);
    o += 4;
    while (o + 8 <= end) {
      const sec = str(u32(o));
      const n = u32(o + 4);
      o += 8;
      if (o + n * recSize > end) {
        throw new BtfFormatError(
          `BTF.ext records for ${sec} run past the section`,
          { offset: o },
        );
      }
      const list = out.get(sec) ?? [];
      for (let i = 0; i < n; i++, o += recSize) list.push(read(o));
      out.set(sec, list);
    }
    return out;
  }
  const funcInfo = records(
    u32(8),
    u32(12),
    (o) => ({ insnOffset: u32(o), typeId: u32(o + 4) }),
  );
  const lineInfo = records(u32(16), u32(20), (o) => ({
    insnOffset: u32(o),
    fileName: str(u32(o + 4)),
    line: str(u32(o + 8)),
    lineNumber: u32(o + 12) >>> 10,
    column: u32(o + 12) & 0x3ff,
  }));
  const coreRelos = hdrLen >= 32
    ? records(u32(24), u32(28), (o) => ({
      insnOffset: u32(o),
      typeId: u32(o + 4),
      access: str(u32(o + 8)),
      kind: u32(o + 12),
    }))
    : new Map<string, BtfCoreRelo[]>();
  return { funcInfo, lineInfo, coreRelos };
}
