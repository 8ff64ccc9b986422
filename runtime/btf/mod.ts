/**
 * BTF: the type graph of a compiled object (or the kernel), layouts, and codecs that turn
 * map keys/values and event records into plain JS objects and back.
 *
 * @example Decode a record of a struct type named in the object's BTF
 * ```ts
 * import { codecFor, parseBtf } from "./mod.ts";
 * declare const btfBytes: Uint8Array;
 * declare const record: Uint8Array;
 * const btf = parseBtf(btfBytes);
 * const event = codecFor(btf, btf.find("event", "struct")[0].id);
 * console.log(event.decode(new DataView(record.buffer), 0));
 * ```
 *
 * @module
 */

export * from "./btf.ts";
export * from "./layout.ts";
export * from "./codec.ts";
export * from "./gen_types.ts";
