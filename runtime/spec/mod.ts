/**
 * Specs before objects: compiled BPF objects and ordinary ELF binaries read without the
 * kernel.
 *
 * @example Inspect an object
 * ```ts
 * import { helperName, inspectObject } from "./mod.ts";
 * const spec = inspectObject(await Deno.readFile("probe.bpf.o"));
 * for (const p of spec.programs) console.log(p.name, p.kind, p.target, p.helpers.map(helperName));
 * ```
 *
 * @module
 */

export * from "./elf.ts";
export * from "./helpers.ts";
export * from "./map_types.ts";
export * from "./section_kinds.ts";
export * from "./object.ts";
