/**
 * Map types that are not key/value stores: queues and stacks (push/pop/peek), and stack
 * trace maps (ids → addresses → symbols).
 *
 * @module
 */
import { Errno } from "../errors.ts";
import type { Codec } from "../btf/codec.ts";
import { ksym, userSymbolizer } from "../output/symbols.ts";
import {
  BpfMap,
  type BpfMapOptions,
  mapClosed,
  type MapInfo,
} from "./bpf_map.ts";
import { check, leakedFds, mapCalls } from "./_native.ts";
import { MapType, mapTypeName } from "../spec/map_types.ts";
import { checkCodecSize } from "../btf/codec.ts";

/**
 * A queue (FIFO) or stack (LIFO) map: no keys, values pushed and popped.
 *
 * @example
 * ```ts
 * import { QueueMap } from "./special_maps.ts";
 * import { u32 } from "../btf/codec.ts";
 * using q = QueueMap.create({ type: "queue", value: u32, maxEntries: 8 });
 * q.push(1);
 * q.pop(); // 1
 * ```
 */
export class QueueMap<V = unknown> implements Disposable {
  #info: MapInfo;
  #value: Codec<V>;
  #buf: Uint8Array<ArrayBuffer>;
  #view: DataView;
  #closed = false;
  #ownsFd: boolean;
  #isOpen: () => boolean;

  /**
   * Makes a view of a queue or stack map; `b.queue(name)` and {@link QueueMap.create} call it.
   *
   * @param info the map
   * @param value the value codec (checked against the map's value size)
   * @param options fd ownership and the owner's liveness
   */
  constructor(info: MapInfo, value: Codec<V>, options: BpfMapOptions = {}) {
    if (info.type !== MapType.queue && info.type !== MapType.stack) {
      throw new TypeError(
        `Map "${info.name}" is a ${
          mapTypeName(info.type)
        }, not a queue or stack`,
      );
    }
    checkCodecSize(
      value,
      info.valueSize,
      `The value of map "${info.name}" (${mapTypeName(info.type)})`,
    );
    this.#info = { ...info };
    this.#value = value;
    this.#buf = new Uint8Array(Math.max(value.size, 1));
    this.#view = new DataView(this.#buf.buffer);
    this.#ownsFd = options.ownsFd ?? false;
    this.#isOpen = options.isOpen ?? (() => true);
    if (this.#ownsFd) leakedFds.register(this, info.fd, this);
  }

  /**
   * Creates a queue or stack map from user space.
   *
   * @param options type, value codec, capacity, name
   * @returns a view that owns the map
   *
   * @example A queue made from TypeScript
   * ```ts
   * import { QueueMap } from "./special_maps.ts";
   * import { u32 } from "../btf/codec.ts";
   * using q = QueueMap.create({ type: "queue", value: u32, maxEntries: 16, name: "jobs" });
   * q.push(7);
   * ```
   */
  static create<V>(
    options: {
      type: "queue" | "stack";
      value: Codec<V>;
      maxEntries: number;
      name?: string;
    },
  ): QueueMap<V> {
    const type = MapType[options.type];
    const fd = check(
      mapCalls().bpfpm_map__create(
        type,
        new TextEncoder().encode((options.name ?? "") + "\0"),
        0,
        options.value.size,
        options.maxEntries,
        0,
        -1,
        0n,
      ),
      `Cannot create the ${options.type} map`,
    );
    return new QueueMap(
      {
        fd,
        name: options.name ?? "",
        type,
        keySize: 0,
        valueSize: options.value.size,
        maxEntries: options.maxEntries,
        flags: 0,
      },
      options.value,
      { ownsFd: true },
    );
  }

  /**
   * The map's name.
   *
   * @example Its name
   * ```ts
   * import { BPF } from "bpf";
   * using b = await BPF.load({ file: "./queue.bpf.c" });
   * const q = b.queue<number>("jobs");
   * console.log(q.name); // "jobs"
   * ```
   */
  get name(): string {
    return this.#info.name;
  }

  /**
   * The map's fd.
   *
   * @example Its fd
   * ```ts
   * import { BPF } from "bpf";
   * using b = await BPF.load({ file: "./queue.bpf.c" });
   * const q = b.queue<number>("jobs");
   * console.log(q.fd >= 0);
   * ```
   */
  get fd(): number {
    this.#live();
    return this.#info.fd;
  }

  #live(): void {
    if (this.#closed || !this.#isOpen()) {
      throw mapClosed(this.#info.name);
    }
  }

  /**
   * Adds a value; when full, "exist" drops the oldest to make room, "any" fails.
   *
   * @param value the value
   * @param mode "any" (default) or "exist"
   *
   * @example Push a value
   * ```ts
   * import { BPF } from "bpf";
   * using b = await BPF.load({ file: "./queue.bpf.c" });
   * const q = b.queue<number>("jobs");
   * q.push(7);
   * ```
   */
  push(value: V, mode: "any" | "exist" = "any"): void {
    this.#live();
    try {
      this.#value.encode(value, this.#view, 0);
    } catch (e) {
      throw new RangeError(
        `Bad value for map "${this.#info.name}": it takes ${this.#value.describe}: ${
          (e as Error).message
        }`,
        { cause: e },
      );
    }
    const rc = mapCalls().bpfpm_map__update(
      this.#info.fd,
      null,
      this.#buf,
      mode === "exist" ? 2n : 0n,
    );
    if (rc === -Errno.E2BIG) {
      check(
        rc,
        `Map "${this.#info.name}" is full: pop values, or push with mode "exist"`,
      );
    }
    check(rc, `Cannot push to map "${this.#info.name}"`);
  }

  /**
   * Removes and returns the next value, or undefined when empty.
   *
   * @example Pop a value
   * ```ts
   * import { BPF } from "bpf";
   * using b = await BPF.load({ file: "./queue.bpf.c" });
   * const q = b.queue<number>("jobs");
   * const next = q.pop();
   * ```
   */
  pop(): V | undefined {
    this.#live();
    const rc = mapCalls().bpfpm_map__lookup_and_delete(
      this.#info.fd,
      null,
      this.#buf,
    );
    if (rc === -Errno.ENOENT) return undefined;
    check(rc, `Cannot pop from map "${this.#info.name}"`);
    return this.#value.decode(this.#view, 0);
  }

  /**
   * Returns the next value without removing it, or undefined when empty.
   *
   * @example Look without removing
   * ```ts
   * import { BPF } from "bpf";
   * using b = await BPF.load({ file: "./queue.bpf.c" });
   * const q = b.queue<number>("jobs");
   * console.log(q.peek());
   * ```
   */
  peek(): V | undefined {
    this.#live();
    const rc = mapCalls().bpfpm_map__lookup(this.#info.fd, null, this.#buf, 0n);
    if (rc === -Errno.ENOENT) return undefined;
    check(rc, `Cannot peek into map "${this.#info.name}"`);
    return this.#value.decode(this.#view, 0);
  }

  /**
   * Pops every value.
   *
   * @example Empty it
   * ```ts
   * import { BPF } from "bpf";
   * using b = await BPF.load({ file: "./queue.bpf.c" });
   * const q = b.queue<number>("jobs");
   * for (const v of q.drain()) console.log(v);
   * ```
   */
  *drain(): IterableIterator<V> {
    for (let v = this.pop(); v !== undefined; v = this.pop()) yield v;
  }

  /**
   * Closes the fd if this view owns it. Idempotent.
   *
   * @example Close the view
   * ```ts
   * import { BPF } from "bpf";
   * using b = await BPF.load({ file: "./queue.bpf.c" });
   * const q = b.queue<number>("jobs");
   * q.close();
   * ```
   */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#ownsFd) {
      leakedFds.unregister(this);
      mapCalls().bpfpm_map__close(this.#info.fd);
    }
  }

  /**
   * Same as {@link QueueMap.close}.
   *
   * @example Scoped
   * ```ts
   * import { BPF } from "bpf";
   * using b = await BPF.load({ file: "./queue.bpf.c" });
   * {
   *   using q = b.queue<number>("jobs");
   *   console.log(q.pop());
   * }
   * ```
   */
  [Symbol.dispose](): void {
    this.close();
  }
}

/** Where user space ends and the kernel begins on x86-64 and arm64. */
const KERNEL_START = 0xffff800000000000n;

/**
 * Options of stack symbolization.
 *
 * @example Symbolize a user stack of a process
 * ```ts
 * import { BPF } from "bpf";
 * using b = await BPF.load({ file: "./stacks.bpf.c" });
 * declare const id: number, pid: number;
 * console.log(b.stackTraces("stacks").symbolize(id, { pid, offset: true }).join("\n"));
 * ```
 */
export interface StackOptions {
  /** The process of the user addresses (user stacks). */
  pid?: number;
  /** Append `+0x<offset>` to each symbol. */
  offset?: boolean;
  /** Append ` [module]` to each symbol. */
  module?: boolean;
}

/**
 * Symbolizes a list of addresses: kernel addresses through /proc/kallsyms, user addresses
 * through the ELF files mapped by `pid`.
 *
 * @param addrs the addresses, innermost first
 * @param options the pid for user addresses, offset and module display
 * @returns one symbol per address (`[unknown]` where none)
 *
 * @example
 * ```ts
 * import { symbolizeStack } from "./special_maps.ts";
 * console.log(symbolizeStack([0xffffffff81000000n]).join("\n"));
 * ```
 */
export function symbolizeStack(
  addrs: readonly bigint[],
  options: StackOptions = {},
): string[] {
  return symbolizer(addrs, options);
}

/** How stacks are symbolized: in process from kallsyms and /proc, or by the trusted side. */
export type StackSymbolizer = typeof symbolizeHere;

let symbolizer: StackSymbolizer = symbolizeHere;

/**
 * Replaces how stacks are symbolized (a sandboxed package, which cannot read kallsyms or
 * other processes' maps, asks the trusted side).
 *
 * @param replacement the symbolizer
 */
export function useStackSymbolizer(replacement: StackSymbolizer): void {
  symbolizer = replacement;
}

function symbolizeHere(
  addrs: readonly bigint[],
  options: StackOptions = {},
): string[] {
  const user = options.pid !== undefined && addrs.some((a) => a < KERNEL_START)
    ? userSymbolizer(options.pid)
    : undefined;
  return addrs.map((a) =>
    a >= KERNEL_START ? ksym(a, options) : user ? user(a, options) : "[unknown]"
  );
}

/**
 * A stack trace map (`BPF_STACK_TRACE`, filled by `bpf_get_stackid`): ids to addresses.
 *
 * @example Print the kernel stacks a probe collected
 * ```ts
 * import type { StackTraceMap } from "./special_maps.ts";
 * declare const stacks: StackTraceMap;
 * declare const id: number;
 * console.log(stacks.symbolize(id).join("\n"));
 * ```
 */
export class StackTraceMap extends BpfMap<number, bigint[]> {
  /**
   * The addresses of a stack, innermost first (empty when the id is unknown).
   *
   * @param id a stack id from `bpf_get_stackid`
   * @returns the addresses
   *
   * @example Raw addresses
   * ```ts
   * import { BPF } from "bpf";
   * using b = await BPF.load({ file: "./stacks.bpf.c" });
   * const stacks = b.stackTraces("stacks");
   * declare const id: number;
   * console.log(stacks.stack(id).map((a) => a.toString(16)));
   * ```
   */
  stack(id: number): bigint[] {
    if (!Number.isInteger(id) || id < 0) {
      throw new RangeError(
        `Stack ids are non-negative integers, got ${id} (a negative id from bpf_get_stackid is an error code)`,
      );
    }
    return this.get(id) ?? [];
  }

  /**
   * The symbols of a stack, innermost first.
   *
   * @param id a stack id
   * @param options the pid for user stacks, offsets and modules
   * @returns one symbol per frame
   *
   * @example Kernel stack
   * ```ts
   * import { BPF } from "bpf";
   * using b = await BPF.load({ file: "./stacks.bpf.c" });
   * const stacks = b.stackTraces("stacks");
   * declare const id: number;
   * console.log(stacks.symbolize(id).join("\n"));
   * ```
   */
  symbolize(id: number, options: StackOptions = {}): string[] {
    return symbolizeStack(this.stack(id), options);
  }
}
