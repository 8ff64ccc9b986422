/**
 * A tracepoint's format file (tracefs `events/<cat>/<event>/format`) as a C struct whose
 * fields sit at exactly the offsets the kernel gives, with the declared types where C knows
 * them and fixed-width integers of the right size and signedness otherwise.
 *
 * @module
 */

/** One `field:` line of a format file. */
export interface FormatField {
  /** The declaration as written, e.g. `const char * filename`. */
  decl: string;
  /** The field name. */
  name: string;
  /** Byte offset in the record. */
  offset: number;
  /** Size in bytes. */
  size: number;
  /** Whether the kernel says it is signed. */
  signed: boolean;
}

const FIELD = /^\s*field:(.*?);\s*offset:(\d+);\s*size:(\d+);\s*signed:(\d+);/;

/** The fields of a format file, in order. */
export function parseFormat(format: string): FormatField[] {
  const fields: FormatField[] = [];
  for (const line of format.split("\n")) {
    const m = FIELD.exec(line);
    if (!m) continue;
    const decl = m[1].trim();
    const name = /([A-Za-z_]\w*)\s*(?:\[[^\]]*\])?$/.exec(decl)?.[1];
    if (!name) continue;
    fields.push({
      decl,
      name,
      offset: Number(m[2]),
      size: Number(m[3]),
      signed: m[4] === "1",
    });
  }
  return fields;
}

const BUILTIN = new Set([
  "unsigned",
  "signed",
  "char",
  "short",
  "int",
  "long",
  "_Bool",
  "bool",
  "const",
  "volatile",
]);

function intType(size: number, signed: boolean): string | undefined {
  if (![1, 2, 4, 8].includes(size)) return undefined;
  return `__${signed ? "s" : "u"}${size * 8}`;
}

/** A C member declaration and its natural alignment, for one field. */
function member(f: FormatField): { text: string; align: number } {
  const bytes = { text: `__u8 ${f.name}[${f.size}]`, align: 1 };
  if (f.decl.startsWith("__data_loc") || f.decl.startsWith("__rel_loc")) {
    return { text: `int data_loc_${f.name}`, align: 4 };
  }
  const array = /^(.*?)\s*\b[A-Za-z_]\w*\s*\[(\d*)\]$/.exec(f.decl);
  if (array) {
    const count = Number(array[2]);
    if (!count || f.size % count) return bytes;
    const elem = f.size / count;
    const words = array[1].split(/\s+/).filter(Boolean);
    const type = words.every((w) =>
        BUILTIN.has(w)
      ) && words.some((w) => w !== "const")
      ? array[1]
      : intType(elem, f.signed);
    return type ? { text: `${type} ${f.name}[${count}]`, align: elem } : bytes;
  }
  const base = f.decl.slice(0, f.decl.length - f.name.length).trim();
  if (base.includes("*")) {
    if (f.size !== 8) return bytes;
    const words = base.replace(/\*/g, " ").split(/\s+/).filter(Boolean);
    const known = words.every((w) => BUILTIN.has(w) || w === "void") ||
      (words.some((w) => w === "struct" || w === "union"));
    return { text: `${known ? base : "const void *"} ${f.name}`, align: 8 };
  }
  const words = base.split(/\s+/).filter(Boolean);
  const builtin = words.length > 0 && words.every((w) => BUILTIN.has(w));
  // Syscall tracepoints declare `int dfd` with size 8: keep the sign, take the kernel's size.
  const type = builtin && builtinSize(words) === f.size
    ? base
    : intType(f.size, builtin ? !words.includes("unsigned") : f.signed);
  return type
    ? { text: `${type} ${f.name}`, align: Math.min(f.size, 8) }
    : bytes;
}

/** sizeof of a builtin integer type (LP64). */
function builtinSize(words: string[]): number {
  if (words.some((w) => w === "char" || w === "_Bool" || w === "bool")) {
    return 1;
  }
  if (words.includes("short")) return 2;
  if (words.includes("long")) return 8;
  return 4;
}

/** The struct name used for a tracepoint's `args`, as BCC names it. */
export function tracepointStructName(category: string, event: string): string {
  return `tracepoint__${category}__${event}`;
}

/**
 * The C definition of `struct tracepoint__<category>__<event>` for a format file. Each field
 * lands at its kernel offset: padding fills gaps, and a field whose offset does not suit its
 * type's alignment becomes a byte array.
 */
export function formatToStruct(
  category: string,
  event: string,
  format: string,
): string {
  const lines = [`struct ${tracepointStructName(category, event)} {`];
  let at = 0;
  for (const f of parseFormat(format)) {
    if (f.offset < at) continue;
    let m = member(f);
    if (f.offset % m.align) m = { text: `__u8 ${f.name}[${f.size}]`, align: 1 };
    if (f.offset > at) lines.push(`\t__u8 __pad_${at}[${f.offset - at}];`);
    lines.push(`\t${m.text};`);
    at = f.offset + f.size;
  }
  lines.push("};");
  return lines.join("\n");
}
