/**
 * The BTF of a loaded object, for typed views of its maps and events: parsed once per object
 * from its `.BTF` section, and BTF types looked up by C name (`struct event`, `u32`).
 *
 * @module
 */
import { type Btf, parseBtf } from "../btf/btf.ts";
import { type Codec, codecFor, codecForLayout } from "../btf/codec.ts";
import { type LayoutField, layoutOf } from "../btf/layout.ts";
import { readElf } from "../spec/elf.ts";

const cache = new WeakMap<Uint8Array, Btf | null>();

/**
 * The object's BTF, or undefined when it has none.
 *
 * @param object the ELF bytes of a BPF object
 * @returns its parsed `.BTF` section
 *
 * @example
 * ```ts
 * import { objectBtf } from "./object_btf.ts";
 * declare const elf: Uint8Array;
 * objectBtf(elf)?.find("event", "struct");
 * ```
 */
export function objectBtf(object: Uint8Array): Btf | undefined {
  let btf = cache.get(object);
  if (btf === undefined) {
    const sec = readElf(object).section(".BTF");
    btf = sec ? parseBtf(sec.bytes) : null;
    cache.set(object, btf);
  }
  return btf ?? undefined;
}

const KINDS = ["struct", "union", "enum", "typedef"] as const;

/**
 * A codec for a type of the object named as in C: `struct event`, `union u`, `enum e`, or a
 * bare name (a typedef, struct, union or enum of that name).
 *
 * @param btf the object's BTF
 * @param cName the type's name
 * @param what what is decoded, for messages
 * @returns the codec
 *
 * @example
 * ```ts
 * import { codecForName, objectBtf } from "./object_btf.ts";
 * declare const elf: Uint8Array;
 * const c = codecForName(objectBtf(elf)!, "struct event", 'records of "events"');
 * ```
 */
export function codecForName<T>(
  btf: Btf,
  cName: string,
  what: string,
): Codec<T> {
  return codecFor<T>(btf, typeIdForName(btf, cName, what), { name: what });
}

/**
 * The BTF type id of a type named as in C (see {@link codecForName}).
 *
 * @param btf the object's BTF
 * @param cName the type's name
 * @param what what is decoded, for messages
 * @returns the type id
 *
 * @example
 * ```ts
 * import { objectBtf, typeIdForName } from "./object_btf.ts";
 * declare const elf: Uint8Array;
 * typeIdForName(objectBtf(elf)!, "struct event", "records");
 * ```
 */
export function typeIdForName(btf: Btf, cName: string, what: string): number {
  const m = /^\s*(struct|union|enum)\s+(\w+)\s*$/.exec(cName);
  const name = m ? m[2] : cName.trim();
  const kinds = m ? [m[1]] : [...KINDS, "int"];
  for (const kind of kinds) {
    const found = btf.find(name, kind as Parameters<Btf["find"]>[1]);
    const t = found.find((x) =>
      (x as { size?: number }).size !== 0 || kind === "typedef"
    ) ?? found[0];
    if (t) {
      return t.id;
    }
  }
  throw new RangeError(
    `The object's BTF has no type "${cName}" for ${what}: clang only keeps types that globals, maps or functions use, so mention it in a global (e.g. \`${cName} *_keep_${name} __attribute__((unused));\`) or pass a codec`,
  );
}

/**
 * A codec for a global-data map's value (`.bss`, `.data`, `.rodata`): a struct with one field
 * per variable of the BTF data section. Offsets come from the ELF symbols, since clang leaves
 * them to libbpf to fill in.
 *
 * @param btf the object's BTF
 * @param typeId the DATASEC type
 * @param object the object's ELF bytes
 * @param size the map's value size
 * @returns the codec, or undefined when `typeId` is not a data section
 *
 * @example
 * ```ts
 * import { datasecCodec, objectBtf } from "./object_btf.ts";
 * declare const elf: Uint8Array;
 * declare const typeId: number;
 * const c = datasecCodec(objectBtf(elf)!, typeId, elf, 8);
 * ```
 */
export function datasecCodec(
  btf: Btf,
  typeId: number,
  object: Uint8Array,
  size: number,
): Codec<Record<string, unknown>> | undefined {
  const sec = btf.type(typeId);
  if (sec.kind !== "datasec") return undefined;
  const elf = readElf(object);
  const section = elf.section(sec.name);
  const fields: LayoutField[] = [];
  for (const v of sec.vars) {
    const vt = btf.type(v.type);
    if (vt.kind !== "var") continue;
    let offset = v.offset;
    if (section) {
      const s = elf.symbols.find((x) =>
        x.sectionIndex === section.index && x.name === vt.name
      );
      if (s) offset = Number(s.value);
    }
    fields.push({ name: vt.name, offset, layout: layoutOf(btf, vt.type) });
  }
  fields.sort((a, b) => a.offset - b.offset);
  return codecForLayout<Record<string, unknown>>({
    kind: "struct",
    name: sec.name,
    cName: `${sec.name} (global data)`,
    size,
    align: 8,
    fields,
  });
}
