/**
 * The kernel's map types (`enum bpf_map_type`): the one table of their numbers and names,
 * read by the object inspector, `features()` and the map classes.
 *
 * @module
 */

/** Map type names, indexed by their `enum bpf_map_type` number. */
export const MAP_TYPES = [
  "unspec",
  "hash",
  "array",
  "prog_array",
  "perf_event_array",
  "percpu_hash",
  "percpu_array",
  "stack_trace",
  "cgroup_array",
  "lru_hash",
  "lru_percpu_hash",
  "lpm_trie",
  "array_of_maps",
  "hash_of_maps",
  "devmap",
  "sockmap",
  "cpumap",
  "xskmap",
  "sockhash",
  "cgroup_storage",
  "reuseport_sockarray",
  "percpu_cgroup_storage",
  "queue",
  "stack",
  "sk_storage",
  "devmap_hash",
  "struct_ops",
  "ringbuf",
  "inode_storage",
  "task_storage",
  "bloom_filter",
  "user_ringbuf",
  "cgrp_storage",
  "arena",
] as const;

/** A map type's name, e.g. `"hash"` or `"percpu_array"`. */
export type MapTypeName = Exclude<typeof MAP_TYPES[number], "unspec">;

/**
 * `enum bpf_map_type` values by name, from {@linkcode MAP_TYPES}.
 *
 * @example
 * ```ts
 * import { MapType } from "./map_types.ts";
 * MapType.ringbuf; // 27
 * ```
 */
export const MapType: Readonly<Record<MapTypeName, number>> = Object.freeze(
  Object.fromEntries(
    MAP_TYPES.slice(1).map((name, i) => [name, i + 1]),
  ) as Record<MapTypeName, number>,
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
  return MAP_TYPES[type] ?? `type ${type}`;
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
  if (!Object.hasOwn(MapType, type)) {
    throw new RangeError(
      `Unknown map type "${type}": use one of ${MAP_TYPES.slice(1).join(", ")}`,
    );
  }
  return MapType[type];
}
