/**
 * Typed views of BPF maps: `BpfMap` (hash, array, per-CPU, LRU, LPM trie, maps of maps, prog
 * arrays), `QueueMap` (queue/stack), `StackTraceMap`; maps created from user space, pinned
 * maps, per-CPU values and the codecs the views use.
 *
 * @example Count in user space, dump in one batch
 * ```ts
 * import { BpfMap, u32, u64 } from "./mod.ts";
 * using m = BpfMap.create({ type: "hash", key: u32, value: u64, maxEntries: 1024 });
 * m.setMany([[1, 10n], [2, 20n]]);
 * console.log(m.dump());
 * ```
 *
 * @module
 */
export {
  BpfMap,
  type BpfMapOptions,
  type DumpOptions,
  type MapInfo,
  type UpdateMode,
} from "./bpf_map.ts";
export { PerCpu, perCpuCodec, type PerCpuNumber } from "./per_cpu.ts";
export {
  QueueMap,
  type StackOptions,
  StackTraceMap,
  symbolizeStack,
} from "./special_maps.ts";
export { fdCodec, type HasFd, stackCodec } from "./codecs.ts";
export { isPerCpu } from "./map_types.ts";
export {
  MapType,
  type MapTypeName,
  mapTypeName,
  mapTypeNumber,
} from "../spec/map_types.ts";
export { type Codec, u16, u32, u64, u8 } from "../btf/codec.ts";
