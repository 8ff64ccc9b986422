/**
 * Typed views of a loaded object's maps and events, as `b.map(name)`, `b.ringbuf(name)` and
 * `b.perfBuffer(name)` return them: codecs from the object's BTF, the right view per type.
 *
 * @module
 */
import type { Codec } from "../btf/codec.ts";
import type { Btf } from "../btf/btf.ts";
import {
  EventReader,
  type EventReaderOptions,
} from "../events/event_reader.ts";
import { BpfMap, type MapInfo } from "./bpf_map.ts";
import { ClosedError } from "../errors.ts";
import { codecsForMap } from "./codecs.ts";
import { MapType, mapTypeName } from "../spec/map_types.ts";
import { objectBtf, typeIdForName } from "./object_btf.ts";
import { codecFor } from "../btf/codec.ts";
import { layoutOf } from "../btf/layout.ts";
import { compileDecoder } from "../events/_fast_decode.ts";
import { QueueMap, StackTraceMap } from "./special_maps.ts";

/** What the owner (a loaded BPF object) gives a view. */
export interface MapOwner {
  /** All maps of the object, by name. */
  maps: ReadonlyMap<string, MapInfo>;
  /** The object's ELF bytes (for BTF). */
  object: Uint8Array;
  /** False once the object is closed. */
  isOpen: () => boolean;
  /** Registers a reader the owner cancels when it closes; returns the unregister function. */
  register?: (r: { cancel(): void }) => () => void;
}

function find(owner: MapOwner, name: string): MapInfo {
  if (typeof name !== "string") {
    throw new TypeError(`A map name must be a string, got ${typeof name}`);
  }
  const m = owner.maps.get(name);
  if (!m) {
    const names = [...owner.maps.keys()];
    throw new RangeError(
      `No map named "${name}" in this object: ${
        names.length ? `use one of ${names.join(", ")}` : "it has no maps"
      }`,
    );
  }
  return m;
}

/**
 * The typed view of one map of a loaded object.
 *
 * @param owner the object's maps, ELF bytes and liveness
 * @param name the map's name
 * @param codecs override the BTF codecs (key and/or value)
 * @returns a BpfMap (StackTraceMap for stack trace maps) or a QueueMap for queues/stacks
 *
 * @example
 * ```ts
 * import { openObjectMap, type MapOwner } from "./object_maps.ts";
 * declare const owner: MapOwner;
 * const counts = openObjectMap(owner, "counts");
 * ```
 */
export function openObjectMap(
  owner: MapOwner,
  name: string,
  codecs: { key?: Codec<unknown>; value?: Codec<unknown> } = {},
): BpfMap<unknown, unknown, unknown> | QueueMap<unknown> {
  if (!owner.isOpen()) {
    throw new ClosedError(
      `This BPF object is closed: map "${name}" is gone; load it again`,
      { resource: "BPF object" },
    );
  }
  const info = find(owner, name);
  if (info.type === MapType.ringbuf) {
    throw new TypeError(
      `Map "${name}" is a ring buffer: read its records with b.ringbuf("${name}")`,
    );
  }
  if (info.type === MapType.perf_event_array) {
    throw new TypeError(
      `Map "${name}" is a perf event array: read its records with b.perfBuffer("${name}")`,
    );
  }
  const btf = objectBtf(owner.object);
  const opts = { isOpen: owner.isOpen };
  if (info.type === MapType.queue || info.type === MapType.stack) {
    const value = codecs.value ??
      codecsForMap({ ...info, keySize: 0 }, btf, owner.object).value;
    return new QueueMap(info, value, opts);
  }
  const base = codecsForMap(info, btf, owner.object);
  const c = { key: codecs.key ?? base.key, value: codecs.value ?? base.value };
  if (info.type === MapType.stack_trace) {
    return new StackTraceMap(
      info,
      c as { key: Codec<number>; value: Codec<bigint[]> },
      opts,
    );
  }
  return new BpfMap(info, c, opts);
}

/**
 * `b.map(name)`: the typed view of a map that is not a queue or stack.
 *
 * @param owner the object's maps, ELF bytes and liveness
 * @param name the map's name
 * @param codecs override the BTF codecs (key and/or value)
 * @returns the view (a StackTraceMap for stack trace maps)
 *
 * @example
 * ```ts
 * import { openMapView, type MapOwner } from "./object_maps.ts";
 * declare const owner: MapOwner;
 * const counts = openMapView(owner, "counts");
 * ```
 */
export function openMapView(
  owner: MapOwner,
  name: string,
  codecs: { key?: Codec<unknown>; value?: Codec<unknown> } = {},
): BpfMap<unknown, unknown, unknown> {
  const m = openObjectMap(owner, name, codecs);
  if (!("dump" in m)) {
    throw new TypeError(
      `Map "${name}" is a queue or stack: use b.queue("${name}")`,
    );
  }
  return m;
}

/**
 * `b.stackTraces(name)`: a stack trace map's view.
 *
 * @param owner the object's maps, ELF bytes and liveness
 * @param name the map's name
 * @returns the view
 *
 * @example
 * ```ts
 * import { openStackTraces, type MapOwner } from "./object_maps.ts";
 * declare const owner: MapOwner;
 * const stacks = openStackTraces(owner, "stacks");
 * ```
 */
export function openStackTraces(owner: MapOwner, name: string): StackTraceMap {
  const m = openMapView(owner, name);
  if (!(m instanceof StackTraceMap)) {
    throw new TypeError(
      `Map "${name}" is a ${m.type}, not a stack trace map`,
    );
  }
  return m;
}

/**
 * `b.queue(name)`: a queue or stack map's view.
 *
 * @param owner the object's maps, ELF bytes and liveness
 * @param name the map's name
 * @returns the view
 *
 * @example
 * ```ts
 * import { openQueue, type MapOwner } from "./object_maps.ts";
 * declare const owner: MapOwner;
 * const q = openQueue(owner, "q");
 * ```
 */
export function openQueue(owner: MapOwner, name: string): QueueMap<unknown> {
  const m = openObjectMap(owner, name);
  if ("dump" in m) {
    throw new TypeError(
      `Map "${name}" is a ${m.type}, not a queue or stack: use b.map("${name}")`,
    );
  }
  return m;
}

/**
 * Options of `b.ringbuf` and `b.perfBuffer`: a reader's options plus the record type.
 *
 * @example Decode ring buffer records as a C struct
 * ```ts
 * import { BPF } from "bpf";
 * using b = await BPF.load({ file: "./events.bpf.c" });
 * for await (const e of b.ringbuf("events", { type: "struct event" })) console.log(e);
 * ```
 */
export interface ObjectEventOptions<T> extends EventReaderOptions<T> {
  /**
   * The C type of a record in the object's BTF, e.g. `"struct event"`; `"bytes"` keeps
   * records as bytes. Without it (or a codec) the type is the one the C passes to the
   * helpers that write records (`bpf_ringbuf_output`, `bpf_ringbuf_reserve` and
   * `bpf_ringbuf_submit`, `bpf_perf_event_output`, BCC's `perf_submit`, ...).
   */
  type?: string;
}

/**
 * A record read without a type or codec: decoded as an object when the C shows its type (the
 * struct given to `bpf_ringbuf_output`, `bpf_ringbuf_reserve`/`bpf_ringbuf_submit`,
 * `bpf_perf_event_output`, or BCC's `perf_submit`, `ringbuf_output` or `ringbuf_submit`; a
 * record shorter than it, of a C that submits part of the struct, with the rest zero), else
 * its bytes.
 *
 * @example Narrowing a record
 * ```ts
 * import { BPF, type EventRecord } from "bpf";
 * using b = await BPF.load({ file: "./exec.bpf.c" });
 * for await (const e of b.perfBuffer("events")) {
 *   const r: EventRecord = e;
 *   if (!(r instanceof Uint8Array)) console.log(r.pid);
 * }
 * ```
 */
export type EventRecord = Uint8Array | { [field: string]: unknown };

/** A decoder of type `id` (its generic codec, with the compiled decoder of its layout). */
function recordCodec<T>(btf: Btf, id: number, what: string): Codec<T> {
  const generic = codecFor<T>(btf, id, { name: what });
  return { ...generic, decode: compileDecoder<T>(layoutOf(btf, id)) };
}

/**
 * The struct or union a marker points at (a pointer, or bpfpm.h's array of one pointer), or
 * undefined.
 */
function pointee(btf: Btf, id: number | undefined): number | undefined {
  if (id === undefined) return undefined;
  let p = btf.resolve(id);
  if (p.kind === "array") p = btf.resolve(p.type);
  if (p.kind !== "ptr") return undefined;
  const t = btf.resolve(p.type);
  return t.kind === "struct" || t.kind === "union" ? t.id : undefined;
}

/**
 * The record type of event map `name` as the C shows it, from the markers the helpers leave
 * in `.bcc.events`: BCC's `__bcc_event_type__<name>` (bcc/helpers.h: the data given to
 * perf_submit, ringbuf_output and ringbuf_submit), and bpfpm.h's `__bpfpm_output_N` (a map
 * and the data given to bpf_ringbuf_output or bpf_perf_event_output), `__bpfpm_reserve_N` (a
 * map and the size given to bpf_ringbuf_reserve) and `__bpfpm_submit_N` (the data given to
 * bpf_ringbuf_submit, tied to the map whose reserve has its size). One struct or union only.
 */
function recordTypeId(btf: Btf, name: string): number | undefined {
  // A function's static is `<function>.<name>`, and a second one in it `<name>.1`, ...
  const bcc = new RegExp(`(^|\\.)__bcc_event_type__${name}(\\.\\d+)?$`);
  const ours = /(?:^|\.)__bpfpm_(output|reserve|submit)_\d+$/;
  const maps = btf.find(".maps", "datasec")[0];
  const mapVar = maps?.kind === "datasec"
    ? maps.vars.map((v) => btf.type(v.type)).find((v) =>
      v.kind === "var" && v.name === name
    )
    : undefined;
  const mapType = mapVar?.kind === "var" ? btf.resolve(mapVar.type).id : -1;
  const ids = new Set<number>();
  const sizes = new Set<number>();
  const submitted = new Set<number>();
  for (const sec of btf.find(".bcc.events", "datasec")) {
    if (sec.kind !== "datasec") continue;
    for (const v of sec.vars) {
      const variable = btf.type(v.type);
      if (variable.kind !== "var") continue;
      if (bcc.test(variable.name)) {
        const record = pointee(btf, variable.type);
        if (record === undefined) return;
        ids.add(record);
        continue;
      }
      const kind = ours.exec(variable.name)?.[1];
      const ptr = btf.resolve(variable.type);
      const marker = kind && ptr.kind === "ptr" && btf.resolve(ptr.type);
      if (!marker || marker.kind !== "struct") continue;
      const member = (n: string) => marker.members.find((m) => m.name === n);
      if (kind === "submit") {
        const record = pointee(btf, member("record")?.type);
        if (record !== undefined) submitted.add(record);
        continue;
      }
      const map = member("map");
      const mapPtr = map && btf.resolve(map.type);
      if (mapPtr?.kind !== "ptr" || btf.resolve(mapPtr.type).id !== mapType) {
        continue;
      }
      if (kind === "output") {
        const record = pointee(btf, member("record")?.type);
        if (record === undefined) return;
        ids.add(record);
      } else {
        const size = btf.resolve(member("size")!.type);
        if (size.kind !== "array" || size.length === 0) return;
        sizes.add(size.length);
      }
    }
  }
  for (const size of sizes) {
    const fits = [...submitted].filter((id) => btf.sizeOf(id) === size);
    if (fits.length === 1) ids.add(fits[0]);
    else if (!ids.size) return;
  }
  return ids.size === 1 ? [...ids][0] : undefined;
}

/**
 * A reader of a ring buffer or perf event array map of a loaded object.
 *
 * @param owner the object's maps, ELF bytes and liveness
 * @param name the map's name
 * @param kind "ringbuf" or "perf"
 * @param options the record type (or codec), signal, sizes, loss handler
 * @returns the reader (an async iterable of records)
 *
 * @example
 * ```ts
 * import { openObjectEvents, type MapOwner } from "./object_maps.ts";
 * declare const owner: MapOwner;
 * const r = openObjectEvents(owner, "events", "ringbuf", { type: "struct event" });
 * ```
 */
export function openObjectEvents<T>(
  owner: MapOwner,
  name: string,
  kind: "ringbuf" | "perf",
  options: ObjectEventOptions<T> = {},
): EventReader<T> {
  if (!owner.isOpen()) {
    throw new ClosedError(
      `This BPF object is closed: map "${name}" is gone; load it again`,
      { resource: "BPF object" },
    );
  }
  const info = find(owner, name);
  const want = kind === "ringbuf" ? MapType.ringbuf : MapType.perf_event_array;
  if (info.type !== want) {
    throw new TypeError(
      `Map "${name}" is a ${mapTypeName(info.type)}, not a ${
        kind === "ringbuf" ? "ring buffer" : "perf event array"
      }: ${
        info.type === MapType.ringbuf
          ? `use b.ringbuf("${name}")`
          : info.type === MapType.perf_event_array
          ? `use b.perfBuffer("${name}")`
          : `use b.map("${name}")`
      }`,
    );
  }
  let codec = options.codec;
  let inferred = false;
  const what = `records of "${name}"`;
  if (!codec && options.type && options.type !== "bytes") {
    const btf = objectBtf(owner.object);
    if (!btf) {
      throw new TypeError(
        `The object has no BTF to find "${options.type}" in: compile it with -g, or pass a codec`,
      );
    }
    codec = recordCodec<T>(btf, typeIdForName(btf, options.type, what), what);
  } else if (!codec && options.type !== "bytes") {
    // No type given: the one the C passes to the helpers that write records.
    const btf = objectBtf(owner.object);
    const id = btf && recordTypeId(btf, name);
    if (btf && id !== undefined) {
      codec = recordCodec<T>(btf, id, what);
      inferred = true;
    } else {
      console.warn(
        `bpfpm: ${what} are bytes: the C does not show one struct for them; pass { type: "struct NAME" } to b.${
          kind === "ringbuf" ? "ringbuf" : "perfBuffer"
        }("${name}", ...) to decode them (or { type: "bytes" } to keep bytes)`,
      );
    }
  }
  // A C that submits part of its struct (sslsniff's EVENT_SIZE(len)) is read as BCC reads
  // it, the struct over the record, here with the rest zero.
  return new EventReader<T>(kind, info, { ...options, codec }, {
    isOpen: owner.isOpen,
    register: owner.register,
    padShort: inferred,
  });
}
