/**
 * Layouts: a plain description of how a BTF type sits in memory, the common ground of the
 * codecs (bytes ⇄ JS values) and the generated TypeScript interfaces.
 *
 * @module
 */

import type { Btf } from "./btf.ts";

/** A field of a struct or union layout. */
export interface LayoutField {
  /** Field name; members of anonymous structs/unions are lifted into their parent, as in C. */
  name: string;
  /** Byte offset from the start of the enclosing struct (the containing byte for bitfields). */
  offset: number;
  /** For bitfields: the bit offset from the start of the enclosing struct. */
  bitOffset?: number;
  /** For bitfields: the width in bits. */
  bitSize?: number;
  /** The field's own layout. */
  layout: Layout;
}

/** What every layout has. */
export interface LayoutBase {
  /** Size in bytes. */
  size: number;
  /** Alignment in bytes. */
  align: number;
  /** The C spelling of the type, e.g. `struct event`, `u32`, `char[16]`. */
  cName: string;
}

/** An integer of 1, 2, 4, 8 or 16 bytes. JS: `number`, or `bigint` for 8 and 16 bytes. */
export interface IntLayout extends LayoutBase {
  /** The layout kind. */
  kind: "int";
  /** Two's complement signed. */
  signed: boolean;
}

/** A C `_Bool`. JS: `boolean`. */
export interface BoolLayout extends LayoutBase {
  /** The layout kind. */
  kind: "bool";
}

/** A `float` or `double`. JS: `number`. */
export interface FloatLayout extends LayoutBase {
  /** The layout kind. */
  kind: "float";
}

/** An enum. JS: `{ value, name }` (see the codecs). */
export interface EnumLayout extends LayoutBase {
  /** The layout kind. */
  kind: "enum";
  /** Signed values. */
  signed: boolean;
  /** Enumerators in declaration order. */
  values: { name: string; value: bigint }[];
}

/** A pointer. JS: `bigint` (the address). */
export interface PointerLayout extends LayoutBase {
  /** The layout kind. */
  kind: "pointer";
}

/** A `char[N]`. JS: `string` (up to the first NUL). */
export interface StringLayout extends LayoutBase {
  /** The layout kind. */
  kind: "string";
}

/** Opaque bytes (`unsigned char[N]`, `long double`, forward declarations). JS: `Uint8Array`. */
export interface BytesLayout extends LayoutBase {
  /** The layout kind. */
  kind: "bytes";
}

/** A fixed-length array of anything but `char`. JS: an array. */
export interface ArrayLayout extends LayoutBase {
  /** The layout kind. */
  kind: "array";
  /** Number of elements. */
  length: number;
  /** The element layout. */
  element: Layout;
}

/** A struct or union. JS: a plain object with one property per field. */
export interface RecordLayout extends LayoutBase {
  /** The layout kind. */
  kind: "struct" | "union";
  /** The struct/union tag, or empty when anonymous. */
  name: string;
  /** Fields in declaration order. */
  fields: LayoutField[];
}

/** How a type sits in memory. */
export type Layout =
  | IntLayout
  | BoolLayout
  | FloatLayout
  | EnumLayout
  | PointerLayout
  | StringLayout
  | BytesLayout
  | ArrayLayout
  | RecordLayout;

/**
 * The layout of a BTF type, with typedef/const/volatile resolved.
 *
 * @param btf the type graph
 * @param typeId the type to lay out
 * @returns its layout; throws a TypeError for types with no value (void, functions)
 *
 * @example Lay out a struct
 * ```ts
 * import { parseBtf } from "./btf.ts";
 * import { layoutOf } from "./layout.ts";
 * declare const btf: ReturnType<typeof parseBtf>;
 * const ev = btf.find("event", "struct")[0];
 * console.log(layoutOf(btf, ev.id));
 * ```
 */
export function layoutOf(btf: Btf, typeId: number): Layout {
  return build(btf, typeId, new Set());
}

function build(btf: Btf, typeId: number, visiting: Set<number>): Layout {
  const cName = btf.typeName(typeId);
  const t = btf.resolve(typeId);
  switch (t.kind) {
    case "int": {
      if (t.bool) return { kind: "bool", size: t.size, align: t.size, cName };
      if (t.bits !== t.size * 8 || t.bitOffset !== 0) {
        // A legacy-encoded bitfield int: the enclosing struct handles the bits.
        return {
          kind: "int",
          size: t.size,
          align: Math.min(t.size, 8),
          cName,
          signed: t.signed,
        };
      }
      if (t.size > 16 || ![1, 2, 4, 8, 16].includes(t.size)) {
        return { kind: "bytes", size: t.size, align: 1, cName };
      }
      return {
        kind: "int",
        size: t.size,
        align: Math.min(t.size, 8),
        cName,
        signed: t.signed,
      };
    }
    case "float":
      if (t.size === 4 || t.size === 8) {
        return { kind: "float", size: t.size, align: t.size, cName };
      }
      return {
        kind: "bytes",
        size: t.size,
        align: Math.min(t.size, 16),
        cName,
      };
    case "enum":
      return {
        kind: "enum",
        size: t.size,
        align: Math.min(t.size, 8),
        cName,
        signed: t.signed,
        values: t.values,
      };
    case "ptr":
      return { kind: "pointer", size: 8, align: 8, cName };
    case "array": {
      const el = btf.resolve(t.type);
      if (
        el.kind === "int" && el.size === 1 && !el.bool &&
        (el.char || el.name === "char")
      ) {
        return { kind: "string", size: t.length, align: 1, cName };
      }
      if (el.kind === "int" && el.size === 1 && !el.bool) {
        return { kind: "bytes", size: t.length, align: 1, cName };
      }
      const element = build(btf, t.type, visiting);
      return {
        kind: "array",
        size: element.size * t.length,
        align: element.align,
        cName,
        length: t.length,
        element,
      };
    }
    case "struct":
    case "union": {
      if (visiting.has(t.id)) {
        throw new TypeError(
          `${cName} contains itself by value, which C does not allow`,
        );
      }
      visiting.add(t.id);
      const fields: LayoutField[] = [];
      let align = 1;
      let packed = false;
      for (const m of t.members) {
        let bitOffset = m.bitOffset;
        let bitSize = m.bitSize;
        const mt = btf.resolve(m.type);
        if (
          bitSize === 0 && mt.kind === "int" &&
          (mt.bits !== mt.size * 8 || mt.bitOffset)
        ) {
          bitOffset += mt.bitOffset;
          bitSize = mt.bits;
        }
        const layout = build(btf, m.type, visiting);
        if (bitSize === 0) {
          if (bitOffset % 8 !== 0) {
            throw new TypeError(
              `${cName} member ${m.name} sits at bit ${bitOffset}, not on a byte boundary`,
            );
          }
          const offset = bitOffset / 8;
          if (offset % layout.align !== 0) packed = true;
          align = Math.max(align, layout.align);
          if (
            m.name === "" &&
            (layout.kind === "struct" || layout.kind === "union")
          ) {
            for (const f of layout.fields) {
              fields.push({
                ...f,
                offset: f.offset + offset,
                ...(f.bitOffset !== undefined
                  ? { bitOffset: f.bitOffset + bitOffset }
                  : {}),
              });
            }
          } else {
            fields.push({ name: m.name, offset, layout });
          }
        } else {
          // Unnamed bitfields are padding and carry no value.
          if (m.name === "") continue;
          align = Math.max(align, layout.align);
          fields.push({
            name: m.name,
            offset: Math.floor(bitOffset / 8),
            bitOffset,
            bitSize,
            layout,
          });
        }
      }
      visiting.delete(t.id);
      if (packed || t.size % align !== 0) align = 1;
      return { kind: t.kind, size: t.size, align, cName, name: t.name, fields };
    }
    case "fwd":
      return { kind: "bytes", size: 0, align: 1, cName };
    default:
      throw new TypeError(`${cName} (BTF ${t.kind}) has no value layout`);
  }
}
