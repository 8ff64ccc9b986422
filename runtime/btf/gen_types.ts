/**
 * TypeScript interfaces for the values a compiled object's maps and events hold, generated
 * from its BTF, in the JS shapes the codecs produce (see `codec.ts`).
 *
 * @module
 */

import { inspectObject } from "../spec/object.ts";
import { type Layout, layoutOf } from "./layout.ts";

/** Options for {@link generateTypes}. */
export interface GenerateTypesOptions {
  /**
   * Struct/union names (without `struct `) to emit as well as the map types, e.g. the event
   * records a program submits to a ring buffer. The `gen-types` task passes every struct the
   * script's C defines.
   */
  structs?: readonly string[];
  /** Where the object came from, for the header comment. */
  source?: string;
}

function pascal(name: string): string {
  const p = name.split(/[^A-Za-z0-9]+/).filter(Boolean)
    .map((w) => w[0].toUpperCase() + w.slice(1)).join("");
  return /^[0-9]/.test(p) ? `T${p}` : p || "Anon";
}

const IDENT = /^[A-Za-z_$][A-Za-z0-9_$]*$/;
const prop = (name: string) => IDENT.test(name) ? name : JSON.stringify(name);

class Emitter {
  #named = new Map<string, string>(); // C name -> TS name
  #queue: { cName: string; layout: Layout }[] = [];
  #out: string[] = [];
  #used = new Set<string>();

  /** The TS name for a named C struct/union/enum, queued for emission. */
  #nameFor(layout: Layout): string {
    const existing = this.#named.get(layout.cName);
    if (existing) return existing;
    const base = layout.cName.replace(/^(struct|union|enum) /, "");
    let ts = pascal(base);
    while (this.#used.has(ts)) ts += "_";
    this.#used.add(ts);
    this.#named.set(layout.cName, ts);
    this.#queue.push({ cName: layout.cName, layout });
    return ts;
  }

  typeOf(layout: Layout, indent: string): string {
    switch (layout.kind) {
      case "int":
        return layout.size > 4 ? "bigint" : "number";
      case "bool":
        return "boolean";
      case "float":
        return "number";
      case "pointer":
        return "bigint";
      case "string":
        return "string";
      case "bytes":
        return "Uint8Array";
      case "enum":
        return layout.cName.endsWith("<anon>")
          ? this.#enumShape(layout)
          : this.#nameFor(layout);
      case "array": {
        const el = this.typeOf(layout.element, indent);
        return /^[A-Za-z_$][\w$]*$/.test(el) ? `${el}[]` : `Array<${el}>`;
      }
      case "struct":
      case "union":
        return layout.name ? this.#nameFor(layout) : this.#body(layout, indent);
    }
  }

  #enumShape(layout: Layout & { kind: "enum" }): string {
    const names = [
      ...new Set(layout.values.map((v) => JSON.stringify(v.name))),
    ];
    const value = layout.size > 4 ? "bigint" : "number";
    return `{ value: ${value}; name: ${
      names.length ? names.join(" | ") + " | " : ""
    }undefined }`;
  }

  #body(layout: Layout & { kind: "struct" | "union" }, indent: string): string {
    const inner = indent + "  ";
    const lines = ["{"];
    for (const f of layout.fields) {
      const bits = f.bitSize
        ? ` : ${f.bitSize} (bits ${f.bitOffset! % 8}.., byte ${f.offset})`
        : "";
      const where = f.bitSize
        ? bits
        : `, offset ${f.offset}, ${f.layout.size} byte${
          f.layout.size === 1 ? "" : "s"
        }`;
      lines.push(`${inner}/** ${f.layout.cName} ${f.name}${where} */`);
      lines.push(`${inner}${prop(f.name)}: ${this.typeOf(f.layout, inner)};`);
    }
    lines.push(`${indent}}`);
    return lines.join("\n");
  }

  /** Emits queued named types until none is left. */
  flush(): void {
    while (this.#queue.length) {
      const { cName, layout } = this.#queue.shift()!;
      const ts = this.#named.get(cName)!;
      if (layout.kind === "enum") {
        const names = [
          ...new Set(layout.values.map((v) => JSON.stringify(v.name))),
        ];
        this.#out.push(
          `/** ${cName}: ${
            layout.values.map((v) => `${v.name} = ${v.value}`).join(", ")
          } */`,
          `export type ${ts}Name = ${names.join(" | ") || "never"};`,
          `/** ${cName} (${layout.size} bytes) as decoded; encode also takes a name or a number. */`,
          `export interface ${ts} {`,
          `  value: ${layout.size > 4 ? "bigint" : "number"};`,
          `  name: ${ts}Name | undefined;`,
          `}`,
          "",
        );
      } else if (layout.kind === "struct" || layout.kind === "union") {
        const note = layout.kind === "union"
          ? " Decoded with every member; encode writes the members given."
          : "";
        this.#out.push(
          `/** ${cName} (${layout.size} bytes).${note} */`,
          `export interface ${ts} ${this.#body(layout, "")}`,
          "",
        );
      }
    }
  }

  emitNamed(layout: Layout): void {
    this.#nameFor(layout);
  }

  push(...lines: string[]): void {
    this.#out.push(...lines);
  }

  text(): string {
    return this.#out.join("\n");
  }
}

/**
 * TypeScript interfaces for a compiled object: every map's key and value (as a `Maps`
 * interface by map name) and the named structs asked for, with the JS shapes the codecs use
 * (`bigint` for 64-bit integers and pointers, `string` for `char[]`, `{ value, name }` for
 * enums, `Uint8Array` for byte arrays).
 *
 * @param objectBytes a BPF object compiled with `-g` (it needs BTF)
 * @param options extra struct names and a source label
 * @returns TypeScript source
 *
 * @example Types of a compiled probe
 * ```ts
 * import { generateTypes } from "./gen_types.ts";
 * const ts = generateTypes(await Deno.readFile("probe.bpf.o"), { structs: ["event"] });
 * console.log(ts);
 * ```
 */
export function generateTypes(
  objectBytes: Uint8Array,
  options: GenerateTypesOptions = {},
): string {
  const spec = inspectObject(objectBytes);
  if (!spec.btf) {
    throw new TypeError(
      "The object has no BTF (.BTF section) to generate types from: compile it with -g",
    );
  }
  const e = new Emitter();
  e.push(
    `// Generated by bpfpm gen-types${
      options.source ? ` from ${options.source}` : ""
    }. Do not edit.`,
    "// Shapes follow runtime/btf/codec.ts: 64-bit integers and pointers are bigint, char[] is",
    "// string, other byte arrays are Uint8Array, enums are { value, name }.",
    "",
  );
  for (const name of options.structs ?? []) {
    const t = spec.btf.find(name).find((x) =>
      x.kind === "struct" || x.kind === "union"
    );
    if (!t) {
      throw new TypeError(
        `struct ${name} is not in the object's BTF: clang only records types that a global, a map or a function signature uses; compile the C with typeAnchors() appended`,
      );
    }
    e.emitNamed(layoutOf(spec.btf, t.id));
  }
  const mapLines: string[] = [];
  const maps = spec.maps.filter((m) => m.source !== "global-data")
    .sort((a, b) => a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
  for (const m of maps) {
    const key = m.btfKeyTypeId
      ? e.typeOf(layoutOf(spec.btf, m.btfKeyTypeId), "  ")
      : m.keySize
      ? "Uint8Array"
      : "never";
    const value = m.btfValueTypeId
      ? e.typeOf(layoutOf(spec.btf, m.btfValueTypeId), "  ")
      : m.valueSize
      ? "Uint8Array"
      : "never";
    const keyC = m.btfKeyTypeId
      ? `key ${spec.btf.typeName(m.btfKeyTypeId)}`
      : m.keySize
      ? `key ${m.keySize} bytes`
      : "no key";
    const valueC = m.btfValueTypeId
      ? `value ${spec.btf.typeName(m.btfValueTypeId)}`
      : m.valueSize
      ? `value ${m.valueSize} bytes`
      : "no value";
    mapLines.push(
      `  /** ${m.type} map, max_entries ${m.maxEntries}; ${keyC}, ${valueC}${
        m.type.includes("percpu") ? " (b.map() gives one value per CPU)" : ""
      } */`,
      `  ${prop(m.name)}: { key: ${key}; value: ${value} };`,
    );
  }
  e.flush();
  e.push(
    "/** The object's maps: key and value types by map name. */",
    "export interface Maps {",
    ...mapLines,
    "}",
    "",
  );
  return e.text();
}

/**
 * Struct and union names a piece of C defines (`struct event { ... }`), for
 * {@link GenerateTypesOptions.structs}.
 *
 * @param source C source
 * @returns the names, in order of appearance
 *
 * @example
 * ```ts
 * import { definedStructs } from "./gen_types.ts";
 * definedStructs("struct event { int pid; };"); // ["event"]
 * ```
 */
export function definedStructs(source: string): string[] {
  const noComments = source.replace(/\/\*[\s\S]*?\*\//g, "").replace(
    /\/\/[^\n]*/g,
    "",
  );
  const names: string[] = [];
  for (
    const m of noComments.matchAll(/\b(?:struct|union)\s+([A-Za-z_]\w*)\s*\{/g)
  ) {
    if (!names.includes(m[1])) names.push(m[1]);
  }
  return names;
}

/**
 * C to append to a source so that its structs reach the BTF even when only local variables
 * use them (an event record filled in a ring buffer slot, say): one global pointer per
 * struct, named `__bpfpm_type_<name>`. For type generation only; the object is not loaded.
 *
 * @param source C source
 * @returns declarations to append
 *
 * @example
 * ```ts
 * import { typeAnchors } from "./gen_types.ts";
 * typeAnchors("struct event { int pid; };"); // "\nstruct event *__bpfpm_type_event;\n"
 * ```
 */
export function typeAnchors(source: string): string {
  const noComments = source.replace(/\/\*[\s\S]*?\*\//g, "").replace(
    /\/\/[^\n]*/g,
    "",
  );
  let out = "\n";
  for (
    const m of noComments.matchAll(/\b(struct|union)\s+([A-Za-z_]\w*)\s*\{/g)
  ) {
    const decl = `${m[1]} ${m[2]} *__bpfpm_type_${m[2]};\n`;
    if (!out.includes(decl)) out += decl;
  }
  return out;
}
