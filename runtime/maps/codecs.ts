/**
 * Codecs the map views need beyond the BTF ones: fds in, ids out (prog arrays, maps of maps),
 * stack traces as address lists, and the choice of codecs for a map from its BTF.
 *
 * @module
 */
import type { Btf } from "../btf/btf.ts";
import { bytes, type Codec, codecFor, u32, u64 } from "../btf/codec.ts";
import type { MapInfo } from "./bpf_map.ts";
import { holdsFds, isPerCpu } from "./map_types.ts";
import { MapType, mapTypeName } from "../spec/map_types.ts";
import { type PerCpu, perCpuCodec } from "./per_cpu.ts";
import { possibleCpus } from "./_native.ts";
import { datasecCodec } from "./object_btf.ts";

/** Something with an fd: a program, a map, a perf event. */
export interface HasFd {
  /** The fd. */
  readonly fd: number;
}

/**
 * A 4-byte value user space writes as an fd (a number or anything with `fd`) and reads back
 * as the kernel object's id, as prog arrays and maps of maps work.
 *
 * @example
 * ```ts
 * import { fdCodec } from "./codecs.ts";
 * fdCodec.size; // 4
 * ```
 */
export const fdCodec: Codec<number> & {
  encode(v: number | HasFd, view: DataView, o: number): void;
} = {
  size: 4,
  align: 4,
  describe: "fd (4 bytes; reads back as the object's id)",
  decode: (view, offset) => view.getUint32(offset, true),
  encode(v, view, offset) {
    const fd = typeof v === "number" ? v : v?.fd;
    if (!Number.isInteger(fd) || fd! < 0) {
      throw new TypeError(
        `Expected an fd or an object with an fd, got ${String(v)}`,
      );
    }
    view.setUint32(offset, fd!, true);
  },
};

/**
 * A codec for a stack trace map's value: `depth` u64 addresses, decoded up to the first 0.
 *
 * @param depth the number of slots (the value size / 8; 127 by default in the kernel)
 * @returns the codec
 *
 * @example
 * ```ts
 * import { stackCodec } from "./codecs.ts";
 * stackCodec(127).size; // 1016
 * ```
 */
export function stackCodec(depth: number): Codec<bigint[]> {
  return {
    size: depth * 8,
    align: 8,
    describe: `u64[${depth}] stack (${depth * 8} bytes)`,
    decode(view, offset) {
      const out: bigint[] = [];
      for (let i = 0; i < depth; i++) {
        const a = view.getBigUint64(offset + i * 8, true);
        if (a === 0n) break;
        out.push(a);
      }
      return out;
    },
    encode(value, view, offset) {
      if (!Array.isArray(value) || value.length > depth) {
        throw new RangeError(`A stack holds at most ${depth} addresses`);
      }
      for (let i = 0; i < depth; i++) {
        view.setBigUint64(offset + i * 8, BigInt(value[i] ?? 0n), true);
      }
    },
  };
}

/** A codec for `size` bytes without BTF: u32 and u64 for 4 and 8 bytes, else raw bytes. */
export function plainCodec(size: number): Codec<unknown> {
  if (size === 4) return u32 as Codec<unknown>;
  if (size === 8) return u64 as Codec<unknown>;
  return bytes(size) as Codec<unknown>;
}

/**
 * The key and value codecs of a map: from its BTF types when the object has them, else plain
 * integers or bytes by size; fd-holding maps take fds; stack trace maps give address lists;
 * per-CPU maps give one value per possible CPU.
 *
 * @param info the map
 * @param btf the object's BTF, if any
 * @param object the object's ELF bytes (global-data maps need its symbols)
 * @returns the codecs
 *
 * @example
 * ```ts
 * import { codecsForMap } from "./codecs.ts";
 * const c = codecsForMap({ fd: 3, name: "m", type: 1, keySize: 4, valueSize: 8, maxEntries: 1, flags: 0 });
 * c.key.size; // 4
 * ```
 */
export function codecsForMap(
  info: MapInfo,
  btf?: Btf,
  object?: Uint8Array,
): { key: Codec<unknown>; value: Codec<unknown> } {
  const name = `map "${info.name}" (${mapTypeName(info.type)})`;
  const key = btf && info.btfKeyTypeId
    ? codecFor(btf, info.btfKeyTypeId, { name: `the key of ${name}` })
    : plainCodec(info.keySize);
  let value: Codec<unknown>;
  if (holdsFds(info.type) && info.valueSize === 4) {
    value = fdCodec as Codec<unknown>;
  } else if (info.type === MapType.stack_trace) {
    value = stackCodec(info.valueSize / 8) as Codec<unknown>;
  } else if (btf && info.btfValueTypeId) {
    value = (object &&
      datasecCodec(btf, info.btfValueTypeId, object, info.valueSize)) ??
      codecFor(btf, info.btfValueTypeId, { name: `the value of ${name}` });
  } else value = plainCodec(info.valueSize);
  if (isPerCpu(info.type)) {
    value = perCpuCodec(value, possibleCpus()) as Codec<
      PerCpu<unknown>
    > as Codec<unknown>;
  }
  return { key, value };
}
