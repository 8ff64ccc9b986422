/**
 * `BPF.load`'s `constants`: a program's `const volatile` values (its `.rodata`), checked
 * against each variable's BTF type and size and encoded, so the load path writes them
 * between open and load and the verifier sees them as constants.
 *
 * @module
 */
import type { BtfType } from "./btf/btf.ts";
import { codecForLayout, encodeBytes } from "./btf/codec.ts";
import { type Layout, layoutOf } from "./btf/layout.ts";
import { objectBtf } from "./maps/object_btf.ts";
import { readElf } from "./spec/elf.ts";
import { describeValue } from "./_options.ts";

/** A value `constants` may give: an integer, a bigint or a boolean. */
export type ConstantValue = number | bigint | boolean;

/** The bytes one constant puts into an internal map's initial value. */
export interface ConstantBytes {
  /** The variable's name. */
  readonly name: string;
  /** The data section (the internal map's section name), `.rodata` or `.rodata.*`. */
  readonly section: string;
  /** The variable's offset in the section. */
  readonly offset: number;
  /** Its new value, encoded. */
  readonly bytes: Uint8Array;
}

interface Variable {
  section: string;
  offset: number;
  size: number;
  type: number;
}

/**
 * Every variable placed in a data section, by name, with its section. The offsets and sizes
 * are the ELF symbols' (clang leaves a DATASEC's offsets for libbpf to fix up at open).
 */
function variables(
  object: Uint8Array,
  types: readonly BtfType[],
): Map<string, Variable> {
  const elf = readElf(object);
  const symbols = new Map<string, { offset: number; size: number }>();
  for (const sym of elf.symbols) {
    const section = elf.sections[sym.sectionIndex]?.name;
    if (sym.type !== "object" || !section) continue;
    symbols.set(`${section}\0${sym.name}`, {
      offset: Number(sym.value),
      size: Number(sym.size),
    });
  }
  const out = new Map<string, Variable>();
  for (const t of types) {
    if (t.kind !== "datasec") continue;
    for (const v of t.vars) {
      const variable = types[v.type];
      if (variable?.kind !== "var") continue;
      const sym = symbols.get(`${t.name}\0${variable.name}`);
      out.set(variable.name, {
        section: t.name,
        offset: sym?.offset ?? v.offset,
        size: sym?.size ?? v.size,
        type: variable.type,
      });
    }
  }
  return out;
}

const isRodata = (section: string) =>
  section === ".rodata" || section.startsWith(".rodata.");

/** Whether `value` fits `layout` (an int, bool or enum), and what it accepts if not. */
function accepts(layout: Layout): string | undefined {
  switch (layout.kind) {
    case "bool":
      return "true or false";
    case "int":
    case "enum": {
      const bits = BigInt(layout.size * 8);
      const min = layout.signed ? -(1n << (bits - 1n)) : 0n;
      const max = layout.signed ? (1n << (bits - 1n)) - 1n : (1n << bits) - 1n;
      return `an integer from ${min} to ${max} (number or bigint)`;
    }
    default:
      return undefined;
  }
}

function fits(layout: Layout, value: ConstantValue): boolean {
  if (layout.kind === "bool") return typeof value === "boolean";
  if (typeof value === "boolean") return false;
  if (typeof value === "number" && !Number.isSafeInteger(value)) return false;
  const bits = BigInt(layout.size * 8);
  const signed = layout.kind === "int" || layout.kind === "enum"
    ? layout.signed
    : false;
  const min = signed ? -(1n << (bits - 1n)) : 0n;
  const max = signed ? (1n << (bits - 1n)) - 1n : (1n << bits) - 1n;
  const v = BigInt(value);
  return v >= min && v <= max;
}

/**
 * Checks `constants` against the object's `.rodata` variables and encodes each value.
 *
 * @param object the BPF ELF object's bytes
 * @param constants the values by variable name
 * @returns the bytes to write into each variable before load
 * @throws {TypeError} naming an unknown variable, one that is not `const volatile`, or a
 *   value of the wrong type or out of the variable's range
 *
 * @example
 * ```ts
 * import { constantBytes } from "./_constants.ts";
 * declare const object: Uint8Array; // built from `const volatile u32 target_pid = 0;`
 * constantBytes(object, { target_pid: 42 }); // [{ name: "target_pid", section: ".rodata", offset: 0, bytes }]
 * ```
 */
export function constantBytes(
  object: Uint8Array,
  constants: Readonly<Record<string, ConstantValue>>,
): ConstantBytes[] {
  const names = Object.keys(constants);
  if (names.length === 0) return [];
  const btf = objectBtf(object);
  if (!btf) {
    throw new TypeError(
      "BPF.load: option constants needs the object's BTF: compile it with -g",
    );
  }
  const vars = variables(object, btf.types);
  const rodata = [...vars].filter(([, v]) => isRodata(v.section)).map(([n]) =>
    n
  );
  const out: ConstantBytes[] = [];
  for (const name of names) {
    const v = vars.get(name);
    if (!v) {
      throw new TypeError(
        `BPF.load: option constants names ${name}, which the program does not declare; ${
          rodata.length
            ? `its const volatile values are ${rodata.join(", ")}`
            : "it has no const volatile values (declare one: const volatile u32 " +
              name + " = 0;)"
        }`,
      );
    }
    if (!isRodata(v.section)) {
      throw new TypeError(
        `BPF.load: option constants names ${name}, which sits in ${v.section}, not .rodata: declare it const volatile to set it before load`,
      );
    }
    const layout = layoutOf(btf, v.type);
    const cName = layout.cName.replace(/^((const|volatile) )+/, "");
    const value = constants[name];
    const want = accepts(layout);
    if (!want) {
      throw new TypeError(
        `BPF.load: constant ${name} is a ${cName}, which constants cannot set: use an integer, enum or bool variable`,
      );
    }
    if (layout.size !== v.size) {
      throw new TypeError(
        `BPF.load: constant ${name} is ${v.size} bytes in ${v.section}, but its type ${cName} is ${layout.size}: rebuild the object`,
      );
    }
    if (!fits(layout, value)) {
      throw new TypeError(
        `BPF.load: constant ${name} (${cName}, ${layout.size} byte${
          layout.size === 1 ? "" : "s"
        }) must be ${want}, got ${describeValue(value)}`,
      );
    }
    const codec = codecForLayout<unknown, unknown>(layout, { name });
    const encoded = layout.kind !== "bool" && layout.size <= 4
      ? Number(value)
      : value;
    out.push({
      name,
      section: v.section,
      offset: v.offset,
      bytes: encodeBytes(codec, encoded),
    });
  }
  return out;
}
