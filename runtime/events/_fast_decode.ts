/**
 * A decoder compiled to straight-line JS for one layout, for the event hot path: reading a
 * record becomes one object literal of DataView reads (≈ 6x faster than walking the layout
 * per record). It gives the same values as the BTF codec (tests compare them); the parts it
 * does not inline (enums, unions, bitfields, byte arrays) call the codec's own decoders.
 *
 * @module
 */
import { codecForLayout } from "../btf/codec.ts";
import type { Layout } from "../btf/layout.ts";

type Decode = (v: DataView, o: number) => unknown;

const textDecoder = new TextDecoder();

function stringDecoder(size: number): Decode {
  return (v, o) => {
    const bytes = new Uint8Array(v.buffer, v.byteOffset + o, size);
    let s = "";
    for (let i = 0; i < size; i++) {
      const c = bytes[i];
      if (c === 0) return s;
      if (c >= 0x80) {
        const end = bytes.indexOf(0, i);
        return textDecoder.decode(bytes.subarray(0, end < 0 ? size : end));
      }
      s += String.fromCharCode(c);
    }
    return s;
  };
}

/**
 * Compiles a decoder for `layout`.
 *
 * @param layout the record's layout
 * @returns `(view, offset) => value`, equal to the layout's codec's decode
 */
export function compileDecoder<T>(
  layout: Layout,
): (v: DataView, o: number) => T {
  const helpers: Decode[] = [];
  const helper = (d: Decode): string => `h[${helpers.push(d) - 1}]`;
  const delegate = (l: Layout, off: string) =>
    `${helper(codecForLayout(l).decode as Decode)}(v, ${off})`;

  const expr = (l: Layout, off: string): string => {
    switch (l.kind) {
      case "int":
        switch (l.size) {
          case 1:
            return l.signed ? `v.getInt8(${off})` : `v.getUint8(${off})`;
          case 2:
            return `v.get${l.signed ? "Int" : "Uint"}16(${off}, true)`;
          case 4:
            return `v.get${l.signed ? "Int" : "Uint"}32(${off}, true)`;
          case 8:
            return `v.getBig${l.signed ? "Int" : "Uint"}64(${off}, true)`;
          default:
            return delegate(l, off);
        }
      case "pointer":
        return l.size === 8 ? `v.getBigUint64(${off}, true)` : delegate(l, off);
      case "float":
        return l.size === 4
          ? `v.getFloat32(${off}, true)`
          : l.size === 8
          ? `v.getFloat64(${off}, true)`
          : delegate(l, off);
      case "string":
        return `${helper(stringDecoder(l.size))}(v, ${off})`;
      case "array": {
        const es = l.element.size;
        if (l.length <= 16) {
          const items = [];
          for (let k = 0; k < l.length; k++) {
            items.push(expr(l.element, `${off} + ${k * es}`));
          }
          return `[${items.join(", ")}]`;
        }
        const el = compileDecoder(l.element) as Decode;
        const n = l.length;
        return `${
          helper((v, o) => {
            const a = new Array(n);
            for (let k = 0; k < n; k++) a[k] = el(v, o + k * es);
            return a;
          })
        }(v, ${off})`;
      }
      case "struct": {
        if (l.fields.some((f) => f.bitSize !== undefined)) {
          return delegate(l, off);
        }
        const parts = l.fields.map((f) =>
          `${JSON.stringify(f.name)}: ${expr(f.layout, `${off} + ${f.offset}`)}`
        );
        return `({ ${parts.join(", ")} })`;
      }
      default:
        return delegate(l, off);
    }
  };
  const body = expr(layout, "o");
  return new Function("h", `"use strict"; return (v, o) => ${body};`)(helpers);
}
