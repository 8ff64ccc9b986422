/**
 * What user space may do with each map type (the types themselves: runtime/spec/map_types.ts).
 *
 * @module
 */
import { MapType } from "../spec/map_types.ts";

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
