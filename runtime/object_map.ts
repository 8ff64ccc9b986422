/**
 * A map of a loaded object, described (`b.maps`): what typed views (`b.map()`, runtime/maps)
 * are built from.
 *
 * @module
 */
import type { MapDescription } from "./_describe.ts";

/**
 * One map of a loaded object: fd, kind, sizes and BTF type ids.
 *
 * @example Describing maps
 * ```ts
 * import { BPF } from "bpf";
 * using b = await BPF.load({ file: "./counts.bpf.c" });
 * for (const m of b.maps.values()) console.log(m.name, m.type, m.keySize, m.valueSize);
 * ```
 */
export class ObjectMap {
  /** The map's name, as libbpf names it (e.g. `counts`, `hello.rodata`). */
  readonly name: string;
  /** `enum bpf_map_type`. */
  readonly type: number;
  /** Key size in bytes. */
  readonly keySize: number;
  /** Value size in bytes. */
  readonly valueSize: number;
  /** Maximum number of entries. */
  readonly maxEntries: number;
  /** `map_flags`. */
  readonly flags: number;
  /** BTF type id of the key in the object's BTF (0 if none). */
  readonly btfKeyTypeId: number;
  /** BTF type id of the value in the object's BTF (0 if none). */
  readonly btfValueTypeId: number;
  /** Its fd (valid while the object is open). */
  readonly fd: number;
  /** The kernel's map id. */
  readonly id: number;

  /**
   * Describes one map of a loaded object; made by BPF.load only.
   *
   * @param info Its description (from `describeObject`).
   */
  constructor(info: MapDescription) {
    this.name = info.name;
    this.type = info.type;
    this.keySize = info.keySize;
    this.valueSize = info.valueSize;
    this.maxEntries = info.maxEntries;
    this.flags = info.flags;
    this.btfKeyTypeId = info.btfKeyTypeId;
    this.btfValueTypeId = info.btfValueTypeId;
    this.fd = info.fd;
    this.id = info.id;
  }
}
