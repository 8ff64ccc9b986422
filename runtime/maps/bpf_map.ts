/**
 * `BpfMap`: a typed, JS-Map-like view of a BPF map, over native lookup/update/delete and
 * batch dumps (one syscall for many elements where the kernel has batch operations).
 *
 * @module
 */
import type { Codec } from "../btf/codec.ts";
import { checkCodecSize, i32, i64, u32, u64 } from "../btf/codec.ts";
import { check, cstr, fdInfo, leakedFds, mapCalls } from "./_native.ts";
import { isArrayLike, isPerCpu, isQueueLike } from "./map_types.ts";
import { MapType, mapTypeName } from "../spec/map_types.ts";
import { ClosedError, Errno } from "../errors.ts";

/**
 * What the runtime knows of a map: its fd and the kernel's description.
 *
 * @example What the kernel says about a map
 * ```ts
 * import { BPF } from "bpf";
 * using b = await BPF.load({ file: "./counts.bpf.c" });
 * const { type, keySize, valueSize, maxEntries } = b.map("counts").info;
 * console.log(type, keySize, valueSize, maxEntries);
 * ```
 */
export interface MapInfo {
  /** The map's fd (owned by the BPF object, or by the BpfMap when it made or opened it). */
  fd: number;
  /** The map's name in the object (or as created). */
  name: string;
  /** `enum bpf_map_type`. */
  type: number;
  /** Key size in bytes. */
  keySize: number;
  /** Value size in bytes (of one CPU's value for per-CPU maps). */
  valueSize: number;
  /** Capacity. */
  maxEntries: number;
  /** `map_flags`. */
  flags: number;
  /** BTF type of the key in the object's BTF, 0 if none. */
  btfKeyTypeId?: number;
  /** BTF type of the value in the object's BTF, 0 if none. */
  btfValueTypeId?: number;
}

/** The error of a map used after it, or its BPF object, was closed. */
export function mapClosed(name: string): ClosedError {
  return new ClosedError(
    `Map "${name}" is closed (it or its BPF object was closed): read it before calling close()`,
    { resource: `map "${name}"` },
  );
}

/**
 * How `set` treats an existing or missing element.
 *
 * @example Insert only when the key is new
 * ```ts
 * import { BPF } from "bpf";
 * using b = await BPF.load({ file: "./counts.bpf.c" });
 * b.map<number, bigint>("counts").set(1, 0n, "noexist");
 * ```
 */
export type UpdateMode = "any" | "noexist" | "exist";
const UPDATE_FLAGS: Record<UpdateMode, number> = {
  any: 0,
  noexist: 1,
  exist: 2,
};

/** Options of `BpfMap` construction (by the runtime; scripts use `b.map(name)`). */
export interface BpfMapOptions {
  /** Close the fd with the map (maps created or opened from user space). */
  ownsFd?: boolean;
  /** The owner's liveness: false once the BPF object is closed. */
  isOpen?: () => boolean;
}

/**
 * Options of a dump.
 *
 * @example Read and empty a map in one pass
 * ```ts
 * import { BPF } from "bpf";
 * using b = await BPF.load({ file: "./counts.bpf.c" });
 * const counts = b.map<number, bigint>("counts");
 * for (const [k, v] of counts.dump({ delete: true })) console.log(k, v);
 * ```
 */
export interface DumpOptions {
  /** Delete what is read (hash maps; batch lookup-and-delete where the kernel has it). */
  delete?: boolean;
  /** Walk with get_next_key + lookup even where batch syscalls exist. */
  noBatch?: boolean;
  /** Elements per buffer (default: as many as fit in 32 MiB of keys and values, at most the capacity). */
  chunkEntries?: number;
  /**
   * An earlier dump of this map, for a map read again and again (counters scraped every few
   * seconds): a pair whose key and value bytes are the same as in that dump is that dump's
   * pair, the same array and objects, not decoded again. Keys are matched in the order the
   * kernel walks the map, which keys added or deleted since leave alone for the others.
   * Where few values change between reads (the counts of processes that have exited), a
   * dump then makes almost nothing new for the garbage collector. `null` starts such a
   * series of dumps. The pairs are shared between dumps: treat them as read-only.
   */
  since?: readonly [unknown, unknown][] | null;
}

/** The bytes of each dump made with `since`, for the next one. */
const dumpBytes = new WeakMap<
  readonly [unknown, unknown][],
  { keys: Uint8Array; values: Uint8Array }
>();

/** How far behind and past its expected place a dump with `since` looks for a key. */
const SINCE_BEHIND = 8;
const SINCE_AHEAD = 64;

/** Whether `a` from `i` and `b` from `j` hold the same `n` bytes. */
function sameBytesAt(
  a: Uint8Array,
  i: number,
  b: Uint8Array,
  j: number,
  n: number,
): boolean {
  for (let k = 0; k < n; k++) if (a[i + k] !== b[j + k]) return false;
  return true;
}

const ITER_NO_BATCH = 1;
const ITER_DELETE = 2;
/** Dump chunks stay under this many bytes of keys + values. */
const CHUNK_BYTES = 32 << 20;

function describeType(c: Codec<unknown>): string {
  return c.describe;
}

/** A typed-array view of `n` plain integers, which decodes faster than DataView reads. */
function column(
  codec: Codec<unknown, never>,
  bytes: Uint8Array,
  n: number,
): ArrayLike<unknown> | undefined {
  if (bytes.byteOffset % 8 !== 0) return undefined;
  const C = codec === (u64 as unknown)
    ? BigUint64Array
    : codec === (i64 as unknown)
    ? BigInt64Array
    : codec === (u32 as unknown)
    ? Uint32Array
    : codec === (i32 as unknown)
    ? Int32Array
    : undefined;
  return C && new C(bytes.buffer as ArrayBuffer, bytes.byteOffset, n);
}

/**
 * A typed view of a BPF map: JS `Map`-like access with keys and values encoded and decoded
 * by codecs (from BTF, or given by hand). Sizes are checked when the view is made.
 *
 * @typeParam K the decoded key
 * @typeParam V the decoded value
 * @typeParam VIn what `set` accepts (the same as V except for per-CPU and fd-holding maps)
 *
 * @example Count by key, read in TypeScript
 * ```ts
 * import { BpfMap } from "./bpf_map.ts";
 * import { u32, u64 } from "../btf/codec.ts";
 * using m = BpfMap.create({ type: "hash", key: u32, value: u64, maxEntries: 64 });
 * m.set(1, 10n);
 * for (const [k, v] of m) console.log(k, v);
 * ```
 */
export class BpfMap<K = unknown, V = unknown, VIn = V, KIn = K>
  implements Iterable<[K, V]> {
  #fd: number;
  #info: MapInfo;
  #key: Codec<K, KIn>;
  #value: Codec<V, VIn>;
  #ownsFd: boolean;
  #isOpen: () => boolean;
  #closed = false;
  #pinned: string | undefined;
  #kbuf: Uint8Array<ArrayBuffer>;
  #kview: DataView;
  #vbuf: Uint8Array<ArrayBuffer>;
  #vview: DataView;

  /**
   * Makes a view; the runtime calls this (scripts use `b.map(name)`, {@link BpfMap.create}
   * or {@link BpfMap.openPinned}).
   *
   * @param info the map's fd and description
   * @param codecs the key codec and the codec of the whole user-space value (per-CPU:
   *   see `perCpuCodec`)
   * @param options fd ownership and the owner's liveness
   */
  constructor(
    info: MapInfo,
    codecs: { key: Codec<K, KIn>; value: Codec<V, VIn> },
    options: BpfMapOptions = {},
  ) {
    this.#info = { ...info };
    this.#fd = info.fd;
    const what = `map "${info.name}" (${mapTypeName(info.type)})`;
    checkCodecSize(codecs.key, info.keySize, `The key of ${what}`);
    if (isPerCpu(info.type)) {
      const el =
        (codecs.value as unknown as { element?: Codec<unknown> }).element;
      if (!el) {
        throw new TypeError(
          `The value of ${what} is per-CPU: give a perCpuCodec(elementCodec, cpus) value codec`,
        );
      }
      checkCodecSize(el, info.valueSize, `The value of ${what} (per CPU)`);
    } else {
      checkCodecSize(codecs.value, info.valueSize, `The value of ${what}`);
    }
    this.#key = codecs.key;
    this.#value = codecs.value;
    this.#ownsFd = options.ownsFd ?? false;
    this.#isOpen = options.isOpen ?? (() => true);
    this.#kbuf = new Uint8Array(Math.max(info.keySize, 1));
    this.#kview = new DataView(this.#kbuf.buffer);
    this.#vbuf = new Uint8Array(Math.max(codecs.value.size, 1));
    this.#vview = new DataView(this.#vbuf.buffer);
    if (this.#ownsFd) leakedFds.register(this, info.fd, this);
  }

  /**
   * The map's name.
   *
   * @example Its name
   * ```ts
   * import { BPF } from "bpf";
   * using b = await BPF.load({ file: "./counts.bpf.c" });
   * const counts = b.map<number, bigint>("counts");
   * console.log(counts.name); // "counts"
   * ```
   */
  get name(): string {
    return this.#info.name;
  }

  /**
   * The map's fd (valid while the map is open).
   *
   * @example Its fd
   * ```ts
   * import { BPF } from "bpf";
   * using b = await BPF.load({ file: "./counts.bpf.c" });
   * const counts = b.map<number, bigint>("counts");
   * console.log(counts.fd >= 0);
   * ```
   */
  get fd(): number {
    this.#live();
    return this.#fd;
  }

  /**
   * The map's type name, e.g. `"hash"`.
   *
   * @example Its type
   * ```ts
   * import { BPF } from "bpf";
   * using b = await BPF.load({ file: "./counts.bpf.c" });
   * const counts = b.map<number, bigint>("counts");
   * console.log(counts.type); // e.g. "hash"
   * ```
   */
  get type(): string {
    return mapTypeName(this.#info.type);
  }

  /**
   * The kernel's description of the map.
   *
   * @example Sizes
   * ```ts
   * import { BPF } from "bpf";
   * using b = await BPF.load({ file: "./counts.bpf.c" });
   * const counts = b.map<number, bigint>("counts");
   * console.log(counts.info.keySize, counts.info.valueSize);
   * ```
   */
  get info(): Readonly<MapInfo> {
    return this.#info;
  }

  /**
   * The key codec.
   *
   * @example Encode a key by hand
   * ```ts
   * import { BPF } from "bpf";
   * using b = await BPF.load({ file: "./counts.bpf.c" });
   * const counts = b.map<number, bigint>("counts");
   * const view = new DataView(new ArrayBuffer(counts.keyCodec.size));
   * counts.keyCodec.encode(7, view, 0);
   * ```
   */
  get keyCodec(): Codec<K, KIn> {
    return this.#key;
  }

  /**
   * The (whole) value codec.
   *
   * @example Decode a value by hand
   * ```ts
   * import { BPF } from "bpf";
   * using b = await BPF.load({ file: "./counts.bpf.c" });
   * const counts = b.map<number, bigint>("counts");
   * const view = new DataView(new ArrayBuffer(counts.valueCodec.size));
   * console.log(counts.valueCodec.decode(view, 0)); // 0n
   * ```
   */
  get valueCodec(): Codec<V, VIn> {
    return this.#value;
  }

  /**
   * The capacity.
   *
   * @example Capacity
   * ```ts
   * import { BPF } from "bpf";
   * using b = await BPF.load({ file: "./counts.bpf.c" });
   * const counts = b.map<number, bigint>("counts");
   * console.log(`${counts.size} of ${counts.maxEntries}`);
   * ```
   */
  get maxEntries(): number {
    return this.#info.maxEntries;
  }

  #live(): void {
    if (this.#closed || !this.#isOpen()) {
      throw mapClosed(this.#info.name);
    }
  }

  #what(): string {
    return `map "${this.#info.name}"`;
  }

  #encodeKey(key: KIn): Uint8Array<ArrayBuffer> {
    try {
      this.#key.encode(key, this.#kview, 0);
    } catch (e) {
      throw new RangeError(
        `Bad key for ${this.#what()}: it takes ${describeType(this.#key)}: ${
          (e as Error).message
        }`,
        { cause: e },
      );
    }
    return this.#kbuf;
  }

  #encodeValue(value: VIn, view = this.#vview, offset = 0): void {
    try {
      this.#value.encode(value, view, offset);
    } catch (e) {
      throw new RangeError(
        `Bad value for ${this.#what()}: it takes ${
          describeType(this.#value)
        }: ${(e as Error).message}`,
        { cause: e },
      );
    }
  }

  /**
   * The value stored under `key`, or undefined.
   *
   * @param key the key
   * @returns the decoded value (per-CPU maps: one value per CPU)
   *
   * @example Read one value
   * ```ts
   * import { BPF } from "bpf";
   * using b = await BPF.load({ file: "./counts.bpf.c" });
   * const counts = b.map<number, bigint>("counts");
   * console.log(counts.get(42) ?? 0n);
   * ```
   */
  get(key: KIn): V | undefined {
    this.#live();
    const rc = mapCalls().bpfpm_map__lookup(
      this.#fd,
      this.#encodeKey(key),
      this.#vbuf,
      0n,
    );
    if (rc === -Errno.ENOENT) return undefined;
    check(rc, `Cannot look up a key in ${this.#what()}`);
    return this.#value.decode(this.#vview, 0);
  }

  /**
   * Stores `value` under `key`.
   *
   * @param key the key
   * @param value the value (per-CPU maps: an array with one value per CPU, or one value for all)
   * @param mode "any" (default), "noexist" (only add) or "exist" (only replace)
   * @returns this map
   *
   * @example Write one value
   * ```ts
   * import { BPF } from "bpf";
   * using b = await BPF.load({ file: "./counts.bpf.c" });
   * const counts = b.map<number, bigint>("counts");
   * counts.set(42, 1n).set(43, 2n);
   * ```
   */
  set(key: KIn, value: VIn, mode: UpdateMode = "any"): this {
    this.#live();
    const k = this.#encodeKey(key);
    this.#encodeValue(value);
    const rc = mapCalls().bpfpm_map__update(
      this.#fd,
      k,
      this.#vbuf,
      BigInt(UPDATE_FLAGS[mode]),
    );
    if (rc < 0) {
      const msg = rc === -Errno.E2BIG
        ? `${this.#what()} is full (${this.#info.maxEntries} entries): delete entries or make it larger`
        : `Cannot update ${this.#what()}`;
      check(rc, msg);
    }
    return this;
  }

  /**
   * Removes `key`. Array maps cannot remove: their element is zeroed, as BCC does.
   *
   * @param key the key
   * @returns whether the key was there
   *
   * @example Delete one key
   * ```ts
   * import { BPF } from "bpf";
   * using b = await BPF.load({ file: "./counts.bpf.c" });
   * const counts = b.map<number, bigint>("counts");
   * console.log(counts.delete(42)); // true if it was there
   * ```
   */
  delete(key: KIn): boolean {
    this.#live();
    const k = this.#encodeKey(key);
    if (isArrayLike(this.#info.type)) {
      this.#vbuf.fill(0);
      check(
        mapCalls().bpfpm_map__update(this.#fd, k, this.#vbuf, 0n),
        `Cannot zero an element of ${this.#what()}`,
      );
      return true;
    }
    const rc = mapCalls().bpfpm_map__delete(this.#fd, k);
    if (rc === -Errno.ENOENT) return false;
    check(rc, `Cannot delete from ${this.#what()}`);
    return true;
  }

  /**
   * Whether `key` is present.
   *
   * @param key the key
   * @returns true if a lookup finds it
   *
   * @example Test a key
   * ```ts
   * import { BPF } from "bpf";
   * using b = await BPF.load({ file: "./counts.bpf.c" });
   * const counts = b.map<number, bigint>("counts");
   * if (counts.has(42)) console.log(counts.get(42));
   * ```
   */
  has(key: KIn): boolean {
    this.#live();
    const rc = mapCalls().bpfpm_map__lookup(
      this.#fd,
      this.#encodeKey(key),
      this.#vbuf,
      0n,
    );
    if (rc === -Errno.ENOENT) return false;
    check(rc, `Cannot look up a key in ${this.#what()}`);
    return true;
  }

  /**
   * Takes the value of `key` out of a hash map in one step.
   *
   * @param key the key
   * @returns the value it had, or undefined
   *
   * @example Read and delete
   * ```ts
   * import { BPF } from "bpf";
   * using b = await BPF.load({ file: "./counts.bpf.c" });
   * const counts = b.map<number, bigint>("counts");
   * const v = counts.take(42);
   * ```
   */
  take(key: KIn): V | undefined {
    this.#live();
    const rc = mapCalls().bpfpm_map__lookup_and_delete(
      this.#fd,
      this.#encodeKey(key),
      this.#vbuf,
    );
    if (rc === -Errno.ENOENT) return undefined;
    check(rc, `Cannot take a key out of ${this.#what()}`);
    return this.#value.decode(this.#vview, 0);
  }

  /**
   * Removes every element (array maps: zeroes every element).
   *
   * @example Start over
   * ```ts
   * import { BPF } from "bpf";
   * using b = await BPF.load({ file: "./counts.bpf.c" });
   * const counts = b.map<number, bigint>("counts");
   * counts.clear();
   * console.log(counts.size); // 0
   * ```
   */
  clear(): void {
    this.#live();
    const keys = this.#dumpRaw({ noBatch: false }).keys;
    const n = keys.length / Math.max(this.#info.keySize, 1);
    if (n === 0) return;
    if (isArrayLike(this.#info.type)) {
      const zeros = new Uint8Array(n * this.#value.size);
      check(
        mapCalls().bpfpm_map__update_many(
          this.#fd,
          keys,
          zeros,
          n,
          this.#info.keySize,
          this.#value.size,
          0n,
        ),
        `Cannot clear ${this.#what()}`,
      );
      return;
    }
    check(
      mapCalls().bpfpm_map__delete_many(this.#fd, keys, n, this.#info.keySize),
      `Cannot clear ${this.#what()}`,
    );
  }

  /**
   * The number of elements (array maps: the capacity, at no cost). Costly for the other
   * maps: the kernel keeps no count, so this walks every key, one `bpf(MAP_GET_NEXT_KEY)`
   * syscall per element (about 0.2 µs each): O(n), and a snapshot only while programs
   * update the map. Read it once, not in a loop; `dump()` gives the elements and their
   * number in one batched pass.
   *
   * @example Count entries
   * ```ts
   * import { BPF } from "bpf";
   * using b = await BPF.load({ file: "./counts.bpf.c" });
   * const counts = b.map<number, bigint>("counts");
   * console.log(counts.size);
   * ```
   */
  get size(): number {
    this.#live();
    if (isArrayLike(this.#info.type)) return this.#info.maxEntries;
    return check(
      mapCalls().bpfpm_map__count(this.#fd, this.#info.keySize),
      `Cannot count the elements of ${this.#what()}`,
    );
  }

  /** Raw dump: all keys and values in two byte arrays, and whether batch syscalls were used. */
  #dumpRaw(
    options: DumpOptions,
  ): { keys: Uint8Array; values: Uint8Array; batched: boolean } {
    if (isQueueLike(this.#info.type) || this.#info.type === MapType.ringbuf) {
      throw new TypeError(
        `${this.#what()} is a ${this.type}: it has no keys to walk (use pop/peek or an event reader)`,
      );
    }
    const ks = this.#info.keySize;
    const vs = this.#value.size;
    const per = Math.max(ks + vs, 1);
    if (
      options.chunkEntries !== undefined &&
      (!Number.isInteger(options.chunkEntries) || options.chunkEntries < 1)
    ) {
      throw new RangeError(
        `chunkEntries must be a positive integer, got ${options.chunkEntries}`,
      );
    }
    let cap = options.chunkEntries ?? Math.max(
      1,
      Math.min(this.#info.maxEntries || 1, Math.floor(CHUNK_BYTES / per)),
    );
    const opts = (options.noBatch ? ITER_NO_BATCH : 0) |
      (options.delete ? ITER_DELETE : 0);
    const it = mapCalls().bpfpm_map__iter_new(this.#fd, ks, vs, opts);
    if (it === null) check(-1, `Cannot walk ${this.#what()}`);
    const kChunks: Uint8Array[] = [];
    const vChunks: Uint8Array[] = [];
    let total = 0;
    let batched = false;
    try {
      // Fill one pair of buffers across calls (a batch stops at a hash bucket that does not
      // fit); start a new pair only when this one is full.
      let keys = new Uint8Array(cap * ks);
      let values = new Uint8Array(cap * vs);
      let used = 0;
      const flush = () => {
        if (used === 0) return;
        kChunks.push(used === cap ? keys : keys.subarray(0, used * ks));
        vChunks.push(used === cap ? values : values.subarray(0, used * vs));
        total += used;
        used = 0;
      };
      for (;;) {
        if (used === cap) {
          flush();
          keys = new Uint8Array(cap * ks);
          values = new Uint8Array(cap * vs);
        }
        const rc = Number(
          mapCalls().bpfpm_map__iter_next(
            it,
            keys.subarray(used * ks),
            values.subarray(used * vs),
            cap - used,
          ),
        );
        if (rc === -Errno.ENOSPC) {
          // A hash bucket holds more elements than the room left: read it with more room.
          flush();
          cap *= 2;
          keys = new Uint8Array(cap * ks);
          values = new Uint8Array(cap * vs);
          continue;
        }
        const n = check(rc, `Cannot dump ${this.#what()}`);
        if (n === 0) break;
        used += n;
      }
      flush();
      batched = mapCalls().bpfpm_map__iter_batched(it) === 1;
    } finally {
      mapCalls().bpfpm_map__iter_free(it);
    }
    if (kChunks.length <= 1) {
      return {
        keys: kChunks[0] ?? new Uint8Array(0),
        values: vChunks[0] ?? new Uint8Array(0),
        batched,
      };
    }
    const keys = new Uint8Array(total * ks);
    const values = new Uint8Array(total * vs);
    let ko = 0;
    let vo = 0;
    for (let i = 0; i < kChunks.length; i++) {
      keys.set(kChunks[i], ko);
      values.set(vChunks[i], vo);
      ko += kChunks[i].length;
      vo += vChunks[i].length;
    }
    return { keys, values, batched };
  }

  /**
   * Every element, read in as few syscalls as the kernel allows (batch lookup, or
   * get_next_key + lookup for map types without batch operations).
   *
   * @param options delete what is read, or force the element-by-element walk
   * @returns `[key, value]` pairs
   *
   * @example Everything at once
   * ```ts
   * import { BPF } from "bpf";
   * using b = await BPF.load({ file: "./counts.bpf.c" });
   * const counts = b.map<number, bigint>("counts");
   * const all = counts.dump();
   * console.log(all.length);
   * ```
   *
   * @example Read again, decoding only what changed
   * ```ts
   * import { BPF } from "bpf";
   * using b = await BPF.load({ file: "./counts.bpf.c" });
   * const counts = b.map<number, bigint>("counts");
   * let last = counts.dump({ since: null });
   * last = counts.dump({ since: last }); // unchanged pairs are last's own
   * ```
   */
  dump(options: DumpOptions = {}): [K, V][] {
    this.#live();
    const { keys, values } = this.#dumpRaw(options);
    const ks = this.#info.keySize;
    const vs = this.#value.size;
    const n = ks ? keys.length / ks : values.length / Math.max(vs, 1);
    const kv = new DataView(keys.buffer, keys.byteOffset, keys.byteLength);
    const vv = new DataView(
      values.buffer,
      values.byteOffset,
      values.byteLength,
    );
    const out = new Array<[K, V]>(n);
    if (options.since !== undefined) {
      const since = options.since as [K, V][] | null;
      const prev = since && dumpBytes.get(since);
      const kc = this.#key;
      const vc = this.#value;
      // The kernel walks a map in the same order each time (a hash map bucket by bucket),
      // so the keys still there come in about the same order as before, with new ones among
      // them and gone ones missing (an updated hash element moves to the head of its
      // bucket): the earlier dump is walked alongside, and a key is looked for a little
      // behind and ahead of where the walk is.
      const m = prev ? since.length : 0;
      let j = 0;
      for (let i = 0; i < n; i++) {
        let found = -1;
        const end = Math.min(m, j + SINCE_AHEAD);
        for (let d = Math.max(0, j - SINCE_BEHIND); d < end; d++) {
          if (sameBytesAt(keys, i * ks, prev!.keys, d * ks, ks)) {
            found = d;
            break;
          }
        }
        if (found >= 0) {
          j = Math.max(j, found + 1);
          if (sameBytesAt(values, i * vs, prev!.values, found * vs, vs)) {
            out[i] = since![found];
            continue;
          }
        }
        out[i] = [kc.decode(kv, i * ks), vc.decode(vv, i * vs)];
      }
      dumpBytes.set(out, { keys, values });
      return out;
    }
    const kcol = column(this.#key, keys, n);
    const vcol = column(this.#value, values, n);
    if (kcol && vcol) {
      for (let i = 0; i < n; i++) out[i] = [kcol[i] as K, vcol[i] as V];
      return out;
    }
    const kc = this.#key;
    const vc = this.#value;
    for (let i = 0; i < n; i++) {
      out[i] = [kc.decode(kv, i * ks), vc.decode(vv, i * vs)];
    }
    return out;
  }

  /**
   * Whether a dump of this map uses batch syscalls on this kernel.
   *
   * @returns true when batch lookup works for this map type
   *
   * @example Whether dumps use batch syscalls
   * ```ts
   * import { BPF } from "bpf";
   * using b = await BPF.load({ file: "./counts.bpf.c" });
   * const counts = b.map<number, bigint>("counts");
   * console.log(counts.batchSupported());
   * ```
   */
  batchSupported(): boolean {
    this.#live();
    return this.#dumpRaw({}).batched;
  }

  /**
   * `[key, value]` pairs of a dump made now.
   *
   * @example Every entry
   * ```ts
   * import { BPF } from "bpf";
   * using b = await BPF.load({ file: "./counts.bpf.c" });
   * const counts = b.map<number, bigint>("counts");
   * for (const [k, v] of counts.entries()) console.log(k, v);
   * ```
   */
  entries(): IterableIterator<[K, V]> {
    return this.dump()[Symbol.iterator]();
  }

  /**
   * The keys of a dump made now.
   *
   * @example Every key
   * ```ts
   * import { BPF } from "bpf";
   * using b = await BPF.load({ file: "./counts.bpf.c" });
   * const counts = b.map<number, bigint>("counts");
   * console.log([...counts.keys()]);
   * ```
   */
  *keys(): IterableIterator<K> {
    for (const [k] of this.dump()) yield k;
  }

  /**
   * The values of a dump made now.
   *
   * @example Every value
   * ```ts
   * import { BPF } from "bpf";
   * using b = await BPF.load({ file: "./counts.bpf.c" });
   * const counts = b.map<number, bigint>("counts");
   * let total = 0n;
   * for (const v of counts.values()) total += v;
   * ```
   */
  *values(): IterableIterator<V> {
    for (const [, v] of this.dump()) yield v;
  }

  /**
   * Same as {@link BpfMap.entries}.
   *
   * @example Iterate like a Map
   * ```ts
   * import { BPF } from "bpf";
   * using b = await BPF.load({ file: "./counts.bpf.c" });
   * const counts = b.map<number, bigint>("counts");
   * for (const [k, v] of counts) console.log(k, v);
   * ```
   */
  [Symbol.iterator](): IterableIterator<[K, V]> {
    return this.entries();
  }

  /**
   * Calls `fn` for each element of a dump made now.
   *
   * @param fn called with value, key and this map
   *
   * @example Like Map.prototype.forEach
   * ```ts
   * import { BPF } from "bpf";
   * using b = await BPF.load({ file: "./counts.bpf.c" });
   * const counts = b.map<number, bigint>("counts");
   * counts.forEach((v, k) => console.log(k, v));
   * ```
   */
  forEach(fn: (value: V, key: K, map: this) => void): void {
    for (const [k, v] of this.dump()) fn(v, k, this);
  }

  /**
   * Looks up many keys (each with one syscall; missing keys give undefined).
   *
   * @param keys the keys
   * @returns the values, in order
   *
   * @example Several lookups at once
   * ```ts
   * import { BPF } from "bpf";
   * using b = await BPF.load({ file: "./counts.bpf.c" });
   * const counts = b.map<number, bigint>("counts");
   * const [a, c] = counts.getMany([1, 3]);
   * ```
   */
  getMany(keys: Iterable<KIn>): (V | undefined)[] {
    const out: (V | undefined)[] = [];
    for (const k of keys) out.push(this.get(k));
    return out;
  }

  /**
   * Stores many elements in one batch syscall (element by element where the kernel has none).
   *
   * @param entries `[key, value]` pairs
   * @param mode "any", "noexist" or "exist"
   *
   * @example Several updates at once
   * ```ts
   * import { BPF } from "bpf";
   * using b = await BPF.load({ file: "./counts.bpf.c" });
   * const counts = b.map<number, bigint>("counts");
   * counts.setMany([[1, 10n], [2, 20n]]);
   * ```
   */
  setMany(
    entries: Iterable<readonly [KIn, VIn]>,
    mode: UpdateMode = "any",
  ): void {
    this.#live();
    const list = [...entries];
    if (list.length === 0) return;
    const ks = this.#info.keySize;
    const vs = this.#value.size;
    const keys = new Uint8Array(list.length * ks);
    const values = new Uint8Array(list.length * vs);
    const vv = new DataView(values.buffer);
    for (let i = 0; i < list.length; i++) {
      this.#encodeKey(list[i][0]);
      keys.set(this.#kbuf.subarray(0, ks), i * ks);
      this.#encodeValue(list[i][1], vv, i * vs);
    }
    check(
      mapCalls().bpfpm_map__update_many(
        this.#fd,
        keys,
        values,
        list.length,
        ks,
        vs,
        BigInt(UPDATE_FLAGS[mode]),
      ),
      `Cannot update ${this.#what()} in a batch`,
    );
  }

  /**
   * Deletes many keys in one batch syscall (element by element where the kernel has none).
   *
   * @param keys the keys
   *
   * @example Several deletes at once
   * ```ts
   * import { BPF } from "bpf";
   * using b = await BPF.load({ file: "./counts.bpf.c" });
   * const counts = b.map<number, bigint>("counts");
   * counts.deleteMany([1, 2, 3]);
   * ```
   */
  deleteMany(keys: Iterable<KIn>): void {
    this.#live();
    const list = [...keys];
    if (list.length === 0) return;
    const ks = this.#info.keySize;
    const buf = new Uint8Array(list.length * ks);
    for (let i = 0; i < list.length; i++) {
      buf.set(this.#encodeKey(list[i]).subarray(0, ks), i * ks);
    }
    check(
      mapCalls().bpfpm_map__delete_many(this.#fd, buf, list.length, ks),
      `Cannot delete from ${this.#what()} in a batch`,
    );
  }

  /**
   * Pins the map in bpffs (mounted at /sys/fs/bpf when absent), so it outlives this process.
   *
   * @param path a path under /sys/fs/bpf
   *
   * @example Keep the map after exit
   * ```ts
   * import { BPF } from "bpf";
   * using b = await BPF.load({ file: "./counts.bpf.c" });
   * const counts = b.map<number, bigint>("counts");
   * counts.pin("/sys/fs/bpf/counts");
   * ```
   */
  pin(path: string): void {
    this.#live();
    check(
      mapCalls().bpfpm_obj__pin(this.#fd, cstr(path)),
      `Cannot pin ${this.#what()}`,
    );
    this.#pinned = path;
  }

  /**
   * Removes a pin made by {@link BpfMap.pin} (or the one at `path`).
   *
   * @param path the pin; default the last one this view made
   *
   * @example Remove its pin
   * ```ts
   * import { BPF } from "bpf";
   * using b = await BPF.load({ file: "./counts.bpf.c" });
   * const counts = b.map<number, bigint>("counts");
   * counts.pin("/sys/fs/bpf/counts");
   * counts.unpin();
   * ```
   */
  unpin(path: string | undefined = this.#pinned): void {
    if (!path) {
      throw new TypeError(
        `${this.#what()} was not pinned by this view: pass the path`,
      );
    }
    BpfMap.unpin(path);
    if (path === this.#pinned) this.#pinned = undefined;
  }

  /**
   * Removes a pinned object's bpffs entry.
   *
   * @param path the pin
   *
   * @example Remove a pin left by an earlier run
   * ```ts
   * import { BpfMap } from "./bpf_map.ts";
   * BpfMap.unpin("/sys/fs/bpf/counts");
   * ```
   */
  static unpin(path: string): void {
    check(mapCalls().bpfpm_obj__unpin(cstr(path)), `Cannot unpin ${path}`);
  }

  /**
   * Opens a map pinned in bpffs.
   *
   * @param path the pin
   * @param codecs the key and value codecs (checked against the map's sizes)
   * @returns a view that owns its fd
   *
   * @example
   * ```ts
   * import { BpfMap } from "./bpf_map.ts";
   * import { u32, u64 } from "../btf/codec.ts";
   * using m = BpfMap.openPinned("/sys/fs/bpf/counts", { key: u32, value: u64 });
   * console.log(m.size);
   * ```
   */
  static openPinned<K, V, VIn = V, KIn = K>(
    path: string,
    codecs: { key: Codec<K, KIn>; value: Codec<V, VIn> },
  ): BpfMap<K, V, VIn, KIn> {
    const fd = check(
      mapCalls().bpfpm_obj__open_pinned(cstr(path)),
      `Cannot open ${path}`,
    );
    try {
      const i = fdInfo(fd);
      return new BpfMap<K, V, VIn, KIn>({ ...i, fd }, codecs, { ownsFd: true });
    } catch (e) {
      mapCalls().bpfpm_map__close(fd);
      throw e;
    }
  }

  /**
   * Creates a map from user space.
   *
   * @param options type, codecs (for per-CPU maps: `perCpuCodec(element, cpus)`),
   *   capacity, name, flags, inner map (maps of maps), map_extra
   * @returns a view that owns the new map
   *
   * @example
   * ```ts
   * import { BpfMap } from "./bpf_map.ts";
   * import { u32, u64 } from "../btf/codec.ts";
   * using m = BpfMap.create({ type: "lru_hash", key: u32, value: u64, maxEntries: 1024 });
   * ```
   */
  static create<K, V, VIn = V, KIn = K>(options: {
    type: keyof typeof MapType | number;
    key: Codec<K, KIn>;
    value: Codec<V, VIn>;
    maxEntries: number;
    name?: string;
    flags?: number;
    innerMap?: { fd: number };
    mapExtra?: bigint;
  }): BpfMap<K, V, VIn, KIn> {
    const type = typeof options.type === "number"
      ? options.type
      : MapType[options.type];
    if (type === undefined) {
      throw new RangeError(
        `Unknown map type "${options.type}": use one of ${
          Object.keys(MapType).join(", ")
        }`,
      );
    }
    if (!Number.isInteger(options.maxEntries) || options.maxEntries < 1) {
      throw new RangeError(
        `maxEntries must be a positive integer, got ${options.maxEntries}`,
      );
    }
    const name = options.name ?? "";
    if (name.length > 15) {
      throw new RangeError(
        `Map names are at most 15 characters, got "${name}"`,
      );
    }
    const el =
      (options.value as unknown as { element?: Codec<unknown> }).element;
    const valueSize = isPerCpu(type) && el ? el.size : options.value.size;
    const fd = check(
      mapCalls().bpfpm_map__create(
        type,
        cstr(name),
        options.key.size,
        valueSize,
        options.maxEntries,
        options.flags ?? (type === MapType.lpm_trie ? 1 : 0),
        options.innerMap?.fd ?? -1,
        options.mapExtra ?? 0n,
      ),
      `Cannot create the ${mapTypeName(type)} map ${name}`,
    );
    try {
      const i = fdInfo(fd);
      return new BpfMap<K, V, VIn, KIn>(
        { ...i, fd, name: name || i.name },
        options,
        {
          ownsFd: true,
        },
      );
    } catch (e) {
      mapCalls().bpfpm_map__close(fd);
      throw e;
    }
  }

  /**
   * Closes the fd if this view owns it; later use throws a `ClosedError`. Idempotent.
   *
   * @example Close the view
   * ```ts
   * import { BPF } from "bpf";
   * using b = await BPF.load({ file: "./counts.bpf.c" });
   * const counts = b.map<number, bigint>("counts");
   * counts.close();
   * ```
   */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#ownsFd) {
      leakedFds.unregister(this);
      mapCalls().bpfpm_map__close(this.#fd);
    }
  }

  /**
   * Same as {@link BpfMap.close}.
   *
   * @example Scoped
   * ```ts
   * import { BPF } from "bpf";
   * using b = await BPF.load({ file: "./counts.bpf.c" });
   * {
   *   using counts = b.map("counts");
   *   console.log(counts.size);
   * }
   * ```
   */
  [Symbol.dispose](): void {
    this.close();
  }
}
