/**
 * A loaded (or opened) object's programs and maps in one native call
 * (`bpfpm_object__describe`): each declared FFI symbol costs Deno a call stub at startup, so
 * the warm path asks once instead of once per field.
 *
 * @module
 */
import { lib, type ObjectHandle } from "./_ffi.ts";

/** What the kernel and libbpf say about one program. */
export interface ProgramDescription {
  /** Its index in the object (for `bpfpm_object__program`). */
  index: number;
  /** Its name (the C function). */
  name: string;
  /** Its ELF section. */
  section: string;
  /** `enum bpf_prog_type`. */
  type: number;
  /** `enum bpf_attach_type`. */
  expectedAttachType: number;
  /** Its fd; -1 before load. */
  fd: number;
  /** The kernel's program id; 0 before load. */
  id: number;
}

/** What the kernel and libbpf say about one map. */
export interface MapDescription {
  /** Its name. */
  name: string;
  /** `enum bpf_map_type`. */
  type: number;
  /** Key size in bytes. */
  keySize: number;
  /** Value size in bytes. */
  valueSize: number;
  /** Maximum number of entries. */
  maxEntries: number;
  /** `map_flags`. */
  flags: number;
  /** BTF type id of the key (0 if none). */
  btfKeyTypeId: number;
  /** BTF type id of the value (0 if none). */
  btfValueTypeId: number;
  /** Its fd; -1 before load. */
  fd: number;
  /** The kernel's map id; 0 before load. */
  id: number;
}

const decoder = new TextDecoder();

/** The programs and maps of `handle`, in object order. */
export function describeObject(
  handle: ObjectHandle,
): { programs: ProgramDescription[]; maps: MapDescription[] } {
  const describe = lib().bpfpm_object__describe;
  let buf = new Uint8Array(4096);
  let size = Number(describe(handle, buf, BigInt(buf.length)));
  if (size > buf.length) {
    buf = new Uint8Array(size);
    size = Number(describe(handle, buf, BigInt(buf.length)));
  }
  const v = new DataView(buf.buffer, 0, size);
  const u32 = (at: number) => v.getUint32(at, true);
  const i32 = (at: number) => v.getInt32(at, true);
  const str = (at: number) => {
    const end = buf.indexOf(0, at);
    return decoder.decode(buf.subarray(at, end < 0 ? size : end));
  };
  const programCount = u32(0);
  const mapCount = u32(4);
  const programs: ProgramDescription[] = [];
  for (let i = 0; i < programCount; i++) {
    const at = 8 + i * 32;
    programs.push({
      index: i,
      type: u32(at),
      expectedAttachType: u32(at + 4),
      fd: i32(at + 8),
      id: u32(at + 12),
      name: str(u32(at + 16)),
      section: str(u32(at + 20)),
    });
  }
  const maps: MapDescription[] = [];
  for (let i = 0; i < mapCount; i++) {
    const at = 8 + programCount * 32 + i * 48;
    maps.push({
      type: u32(at),
      keySize: u32(at + 4),
      valueSize: u32(at + 8),
      maxEntries: u32(at + 12),
      flags: u32(at + 16),
      btfKeyTypeId: u32(at + 20),
      btfValueTypeId: u32(at + 24),
      fd: i32(at + 28),
      id: u32(at + 32),
      name: str(u32(at + 36)),
    });
  }
  return { programs, maps };
}
