/**
 * BPF map types by name (`enum bpf_map_type`), and what user space may do with each.
 *
 * @module
 */

/** `enum bpf_map_type` values by the lower-case name used in options and messages. */
export const MapType = {
  hash: 1,
  array: 2,
  prog_array: 3,
  perf_event_array: 4,
  percpu_hash: 5,
  percpu_array: 6,
  stack_trace: 7,
  cgroup_array: 8,
  lru_hash: 9,
  lru_percpu_hash: 10,
  lpm_trie: 11,
  array_of_maps: 12,
  hash_of_maps: 13,
  devmap: 14,
  sockmap: 15,
  cpumap: 16,
  xskmap: 17,
  sockhash: 18,
  cgroup_storage: 19,
  reuseport_sockarray: 20,
  percpu_cgroup_storage: 21,
  queue: 22,
  stack: 23,
  sk_storage: 24,
  devmap_hash: 25,
  struct_ops: 26,
  ringbuf: 27,
  inode_storage: 28,
  task_storage: 29,
  bloom_filter: 30,
} as const;

/** A map type's name, e.g. `"hash"` or `"percpu_array"`. */
export type MapTypeName = keyof typeof MapType;

const NAMES = new Map<number, MapTypeName>(
  Object.entries(MapType).map(([k, v]) => [v, k as MapTypeName]),
);

/**
 * The name of a map type number (`"type 99"` for one this table does not know).
 *
 * @param type an `enum bpf_map_type` value
 * @returns its name
 *
 * @example
 * ```ts
 * import { mapTypeName } from "./map_types.ts";
 * mapTypeName(1); // "hash"
 * ```
 */
export function mapTypeName(type: number): string {
  return NAMES.get(type) ?? `type ${type}`;
}

/**
 * The number of a map type given by name or number; a RangeError for an unknown name.
 *
 * @param type a name such as `"lru_hash"` or a number
 * @returns the `enum bpf_map_type` value
 *
 * @example
 * ```ts
 * import { mapTypeNumber } from "./map_types.ts";
 * mapTypeNumber("ringbuf"); // 27
 * ```
 */
export function mapTypeNumber(type: MapTypeName | number): number {
  if (typeof type === "number") return type;
  const n = MapType[type];
  if (n === undefined) {
    throw new RangeError(
      `Unknown map type "${type}": use one of ${
        Object.keys(MapType).join(", ")
      }`,
    );
  }
  return n;
}

/** Per-CPU maps: user space sees one value per possible CPU. */
export function isPerCpu(type: number): boolean {
  return type === MapType.percpu_hash || type === MapType.percpu_array ||
    type === MapType.lru_percpu_hash || type === MapType.percpu_cgroup_storage;
}

/** Array-like maps: every index exists, delete is not possible (it zeroes instead). */
export function isArrayLike(type: number): boolean {
  return type === MapType.array || type === MapType.percpu_array;
}

/** Maps whose values user space writes as fds and reads back as ids. */
export function holdsFds(type: number): boolean {
  return type === MapType.prog_array || type === MapType.array_of_maps ||
    type === MapType.hash_of_maps || type === MapType.perf_event_array ||
    type === MapType.cgroup_array || type === MapType.sockmap ||
    type === MapType.sockhash || type === MapType.devmap ||
    type === MapType.xskmap;
}

/** Maps without keys (push/pop/peek). */
export function isQueueLike(type: number): boolean {
  return type === MapType.queue || type === MapType.stack ||
    type === MapType.bloom_filter;
}
