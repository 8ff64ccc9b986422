/**
 * A map of a loaded object, described (`b.maps`): what typed views (`b.map()`, runtime/maps)
 * are built from.
 *
 * @module
 */
import { lib, type MapHandle, readCString } from "./_ffi.ts";

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
   * Reads a map's description; made by BPF.load only.
   *
   * @param handle The native map.
   */
  constructor(handle: MapHandle) {
    const s = lib();
    this.name = readCString(s.bpfpm_map__name(handle));
    const info = new Uint8Array(40);
    s.bpfpm_map__info(handle, info);
    const v = new DataView(info.buffer);
    this.type = v.getUint32(0, true);
    this.keySize = v.getUint32(4, true);
    this.valueSize = v.getUint32(8, true);
    this.maxEntries = v.getUint32(12, true);
    this.flags = v.getUint32(16, true);
    this.btfKeyTypeId = v.getUint32(20, true);
    this.btfValueTypeId = v.getUint32(24, true);
    this.fd = v.getInt32(28, true);
    this.id = v.getUint32(32, true);
  }
}
