/**
 * Readers of ring buffers and perf buffers: the native side drains many records per call
 * into a buffer this module owns ([u32 len][u32 cpu][bytes, 8-aligned]...), and the reader
 * decodes them into JS values and hands them out as an async iterator. Busy streams are
 * drained by a synchronous call (no thread hop); only an empty buffer waits, in a
 * `nonblocking` call that leaves the event loop free and that close() interrupts.
 *
 * @module
 */
import type { Codec } from "../btf/codec.ts";
import { check } from "../maps/_native.ts";
import { Errno, RecordSizeError } from "../errors.ts";
import { type EventKind, type EventSource, openSource } from "./_source.ts";

export type { EventKind };

/**
 * Options of `b.ringbuf(name)` and `b.perfBuffer(name)`.
 *
 * @example Stop reading after ten seconds
 * ```ts
 * import { BPF } from "bpf";
 * using b = await BPF.load({ file: "./events.bpf.c" });
 * const signal = AbortSignal.timeout(10_000);
 * for await (const e of b.ringbuf("events", { type: "struct event", signal })) console.log(e);
 * ```
 */
export interface EventReaderOptions<T> {
  /** Decodes a record; default: the record's bytes as a `Uint8Array` copy. */
  codec?: Codec<T>;
  /** Stops the reader when aborted. */
  signal?: AbortSignal;
  /** Bytes drained per native call (default 256 KiB; grows when one record is larger). */
  batchBytes?: number;
  /** Perf buffers: data pages per CPU, a power of two (default 64). */
  pageCount?: number;
  /** Perf buffers: samples per wakeup (default 1). */
  wakeupEvents?: number;
  /**
   * Bytes of records a native thread may hold for this reader while the JS side is busy
   * (default 64 MiB, taken only as needed): bursts then wait here instead of being dropped by
   * the kernel. 0 reads the kernel buffer directly from the JS thread.
   */
  stagingBytes?: number;
  /**
   * Whether the native drain threads run `SCHED_FIFO` (priority 1) when the process may
   * (CAP_SYS_NICE; default true). They sleep while the stream is quiet and wake on the
   * kernel's signal or, while it is busy, every millisecond; realtime keeps a busy CPU from
   * delaying them past the few milliseconds a ring buffer holds. Without the right, they run
   * at normal priority. See {@link EventReader.drainers}.
   */
  realtime?: boolean;
  /**
   * Called when the kernel reports lost records (perf buffers), with the number lost since
   * the last report and the total. Without it, a warning goes to stderr: a loss is never silent.
   */
  onLost?: (lost: number, total: number) => void;
  /**
   * Ring buffers: called when the buffer was found (nearly) full again, with the number of
   * times so far. The kernel does not count records a full ring buffer refuses (the BPF
   * program's reserve/output call fails), so this is the reader's only sign of them. Without
   * it, a warning goes to stderr once per burst.
   */
  onFull?: (times: number) => void;
}

/**
 * What {@link EventReader.drainers} reports about a reader's native drain threads.
 *
 * @example
 * ```ts
 * import { BPF, type DrainerInfo } from "bpf";
 * using b = await BPF.load({ file: "./events.bpf.c" });
 * const info: DrainerInfo = b.ringbuf("events").drainers;
 * ```
 */
export interface DrainerInfo {
  /** Drain threads: 0 (no staging), 1, or 2 (a ring buffer's primary and watchdog). */
  threads: number;
  /** How many of them run `SCHED_FIFO`. */
  realtime: number;
  /** The CPU the primary drainer last ran on; -1 before it ran. */
  cpu: number;
  /** Records the watchdog drained while the primary was late. */
  watchdogRecords: number;
}

/**
 * Tests only: `reader[testStall](ms)` makes the primary drain thread sleep `ms` after each
 * claim, the worst moment for it to be descheduled, to show the watchdog takes over.
 */
export const testStall: unique symbol = Symbol("bpfpm.testStall");

const ST_LOST = 0;
const ST_RECORDS = 1;
const ST_NEED = 2;
const ST_WAKEUPS = 3;
const ST_FULL = 4;

// A safety net only: readers are closed by close(), dispose, their signal or their owner.
const leaked = new FinalizationRegistry<EventSource>((source) => source.free());

/**
 * An async iterable of records from a ring buffer or a perf buffer map.
 *
 * @example Read events as they come
 * ```ts
 * import { BPF } from "bpf";
 * using b = await BPF.load({ file: "./exec.bpf.c" });
 * for await (const ev of b.ringbuf<{ pid: number; comm: string }>("events", { type: "struct event" })) {
 *   console.log(ev.pid, ev.comm);
 * }
 * ```
 */
export class EventReader<T = Uint8Array>
  implements AsyncIterable<T>, Disposable {
  #kind: EventKind;
  #name: string;
  #source: EventSource | null;
  #codec: Codec<T> | undefined;
  #padShort: boolean;
  #buf: Uint8Array<ArrayBuffer>;
  #view: DataView;
  #stats = new BigUint64Array(8);
  #statsBytes: Uint8Array<ArrayBuffer>;
  #pending: Promise<unknown> | null = null;
  #closed = false;
  #iterating = false;
  #lostReported = 0;
  #onLost: ((lost: number, total: number) => void) | undefined;
  #onFull: ((times: number) => void) | undefined;
  #fullReported = 0;
  #fullWarned = -Infinity;
  #unlink: (() => void) | undefined;
  #isOpen: () => boolean;
  #abort: (() => void) | undefined;
  #signal: AbortSignal | undefined;

  /**
   * Opens a reader on a map fd; the runtime calls this (scripts use `b.ringbuf(name)` or
   * `b.perfBuffer(name)`).
   *
   * @param kind "ringbuf" or "perf"
   * @param map the map's fd and name
   * @param options codec, signal, sizes, loss handler
   * @param owner the owner's liveness, a hook it uses to cancel this reader on close, and
   *   whether a record shorter than the codec decodes with the rest zero (`padShort`: a
   *   type taken from the C, as BCC's `event()` casts any record to it) instead of throwing
   */
  constructor(
    kind: EventKind,
    map: { fd: number; name: string },
    options: EventReaderOptions<T> = {},
    owner: {
      isOpen?: () => boolean;
      register?: (r: { cancel(): void }) => () => void;
      padShort?: boolean;
    } = {},
  ) {
    const batch = options.batchBytes ?? 256 * 1024;
    if (!Number.isInteger(batch) || batch < 64) {
      throw new RangeError(
        `batchBytes must be an integer of at least 64, got ${batch}`,
      );
    }
    this.#kind = kind;
    this.#name = map.name;
    this.#codec = options.codec;
    this.#padShort = owner.padShort ?? false;
    this.#onLost = options.onLost;
    this.#onFull = options.onFull;
    this.#isOpen = owner.isOpen ?? (() => true);
    this.#buf = new Uint8Array(batch);
    this.#view = new DataView(this.#buf.buffer);
    this.#statsBytes = new Uint8Array(this.#stats.buffer);
    const pages = options.pageCount ?? 64;
    if (
      kind === "perf" &&
      (!Number.isInteger(pages) || pages < 1 || (pages & (pages - 1)) !== 0)
    ) {
      throw new RangeError(`pageCount must be a power of two, got ${pages}`);
    }
    const staging = options.stagingBytes ?? 64 << 20;
    if (!Number.isInteger(staging) || staging < 0) {
      throw new RangeError(
        `stagingBytes must be a non-negative integer, got ${staging}`,
      );
    }
    this.#source = openSource(kind, map.fd, {
      pageCount: pages,
      wakeupEvents: options.wakeupEvents ?? 1,
      stagingBytes: staging,
      realtime: options.realtime !== false,
    }, this.#label());
    leaked.register(this, this.#source, this);
    this.#unlink = owner.register?.({ cancel: () => this.close() });
    if (options.signal) {
      this.#signal = options.signal;
      if (options.signal.aborted) this.close();
      else {
        this.#abort = () => this.close();
        options.signal.addEventListener("abort", this.#abort, { once: true });
      }
    }
  }

  #label(): string {
    return `${
      this.#kind === "ringbuf" ? "ring buffer" : "perf buffer"
    } "${this.#name}"`;
  }

  /**
   * Records lost by the kernel so far (perf buffers; a ring buffer's producer sees its own drops).
   *
   * @example Report drops
   * ```ts
   * import { BPF } from "bpf";
   * using b = await BPF.load({ file: "./events.bpf.c" });
   * const events = b.ringbuf<{ pid: number }>("events", { type: "struct event" });
   * for await (const e of events) console.log(e.pid, events.lost);
   * ```
   */
  get lost(): number {
    return Number(this.#stats[ST_LOST]);
  }

  /**
   * Ring buffers: how many times the reader found the buffer (nearly) full, when the BPF
   * program's reservations may have failed.
   *
   * @example How often the buffer was found full
   * ```ts
   * import { BPF } from "bpf";
   * using b = await BPF.load({ file: "./events.bpf.c" });
   * const events = b.ringbuf<{ pid: number }>("events", { type: "struct event" });
   * console.log(events.full);
   * ```
   */
  get full(): number {
    return Number(this.#stats[ST_FULL]);
  }

  /**
   * Records read so far.
   *
   * @example How many records were read
   * ```ts
   * import { BPF } from "bpf";
   * using b = await BPF.load({ file: "./events.bpf.c" });
   * const events = b.ringbuf<{ pid: number }>("events", { type: "struct event" });
   * console.log(events.records);
   * ```
   */
  get records(): number {
    return Number(this.#stats[ST_RECORDS]);
  }

  /**
   * Times a wait was woken by the kernel.
   *
   * @example How many wakeups it took
   * ```ts
   * import { BPF } from "bpf";
   * using b = await BPF.load({ file: "./events.bpf.c" });
   * const events = b.ringbuf<{ pid: number }>("events", { type: "struct event" });
   * console.log(events.records / Math.max(1, events.wakeups));
   * ```
   */
  get wakeups(): number {
    return Number(this.#stats[ST_WAKEUPS]);
  }

  /**
   * The native threads draining the kernel buffer for this reader: `threads` (0 with
   * `stagingBytes: 0`; a ring buffer gets a second, watchdog drainer that keeps off the
   * primary's CPU when there is another), how many of them got realtime priority
   * (`realtime`; threads set it as they start, so ask after the first read), the CPU the
   * primary drainer last ran on (`cpu`, -1 before it ran) and the records the watchdog
   * drained because the primary was late (`watchdogRecords`).
   *
   * @example Check the drain threads
   * ```ts
   * import { BPF } from "bpf";
   * using b = await BPF.load({ file: "./events.bpf.c" });
   * const events = b.ringbuf("events");
   * await events.read(10);
   * console.log(events.drainers); // { threads: 2, realtime: 2, cpu: 0, watchdogRecords: 0 }
   * ```
   */
  get drainers(): DrainerInfo {
    const out = new Int32Array(4);
    if (!this.#source?.info(out)) {
      return { threads: 0, realtime: 0, cpu: -1, watchdogRecords: 0 };
    }
    return {
      threads: out[0],
      realtime: out[1],
      cpu: out[2],
      watchdogRecords: out[3] >>> 0,
    };
  }

  /**
   * Tests only: see {@link testStall}.
   *
   * @param ms how long the primary drainer sleeps after each claim (0: not at all)
   */
  [testStall](ms: number): void {
    this.#source?.testStall(ms);
  }

  /**
   * Whether the reader was closed.
   *
   * @example After close()
   * ```ts
   * import { BPF } from "bpf";
   * using b = await BPF.load({ file: "./events.bpf.c" });
   * const events = b.ringbuf<{ pid: number }>("events", { type: "struct event" });
   * events.close();
   * console.log(events.closed); // true
   * ```
   */
  get closed(): boolean {
    return this.#closed;
  }

  #consume(): number {
    return this.#source!.consume(this.#buf, this.#statsBytes);
  }

  async #wait(timeoutMs: number): Promise<number> {
    const p = this.#source!.wait(this.#buf, timeoutMs, this.#statsBytes);
    this.#pending = p;
    try {
      return await p;
    } finally {
      this.#pending = null;
      if (this.#closed) this.#free();
    }
  }

  #grow(): void {
    const need = Number(this.#stats[ST_NEED]);
    let size = this.#buf.length * 2;
    while (size < need) size *= 2;
    this.#buf = new Uint8Array(size);
    this.#view = new DataView(this.#buf.buffer);
  }

  #reportLost(): void {
    const full = this.full;
    if (full !== this.#fullReported) {
      this.#fullReported = full;
      if (this.#onFull) this.#onFull(full);
      else if (performance.now() - this.#fullWarned > 1000) {
        this.#fullWarned = performance.now();
        console.warn(
          `bpfpm: ${this.#label()} was full (${full} times so far): the BPF program's records may have been refused; read faster, or make it larger`,
        );
      }
    }
    const total = this.lost;
    if (total === this.#lostReported) return;
    const delta = total - this.#lostReported;
    this.#lostReported = total;
    if (this.#onLost) this.#onLost(delta, total);
    else {
      console.warn(
        `bpfpm: ${this.#label()} lost ${delta} records (${total} in all): read faster, or give it more pageCount`,
      );
    }
  }

  /**
   * Reads what is available now (up to one batch) or, when nothing is, waits up to
   * `timeoutMs` (-1: until data comes or the reader is closed).
   *
   * @param timeoutMs how long to wait when empty; 0 never waits
   * @returns the decoded records (empty on timeout or once closed)
   *
   * @example Poll with a timeout
   * ```ts
   * import { BPF } from "bpf";
   * using b = await BPF.load({ file: "./events.bpf.c" });
   * const events = b.ringbuf<{ pid: number }>("events", { type: "struct event" });
   * const records = await events.read(100);
   * ```
   */
  async read(timeoutMs = -1): Promise<T[]> {
    if (this.#pending) {
      throw new TypeError(
        `${this.#label()} is already being read: read it from one loop`,
      );
    }
    // A wake without records (the kernel's full or lost counts changed) waits on: only
    // records, the timeout or a close end a read.
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      if (this.#closed || !this.#isOpen()) return [];
      let n = this.#consume();
      if (n === 0 && timeoutMs !== 0) {
        const left = timeoutMs < 0
          ? -1
          : Math.ceil(deadline - performance.now());
        if (timeoutMs > 0 && left <= 0) return [];
        n = await this.#wait(left);
      }
      if (this.#closed) return [];
      this.#reportLost();
      if (n === -Errno.ECANCELED) return [];
      if (n === -Errno.EMSGSIZE) {
        this.#grow();
        continue;
      }
      if (n < 0) check(n, `Cannot read the ${this.#label()}`);
      if (n === 0 && timeoutMs !== 0) continue;
      return this.#decode(n);
    }
  }

  #decode(n: number): T[] {
    const out: T[] = [];
    const view = this.#view;
    const codec = this.#codec;
    let off = 0;
    while (off < n) {
      const len = view.getUint32(off, true);
      const at = off + 8;
      if (codec && len < codec.size && this.#padShort) {
        const whole = new Uint8Array(codec.size);
        whole.set(this.#buf.subarray(at, at + len));
        out.push(codec.decode(new DataView(whole.buffer), 0));
      } else if (codec) {
        if (len < codec.size) {
          throw new RecordSizeError(
            `A ${len}-byte record of the ${this.#label()} is shorter than ${codec.describe}: decode it as a smaller type`,
            { length: len, expected: codec.size },
          );
        }
        out.push(codec.decode(view, at));
      } else {
        out.push(this.#buf.slice(at, at + len) as unknown as T);
      }
      off = at + ((len + 7) & ~7);
    }
    return out;
  }

  /**
   * The records in batches, one array per native drain: the cheapest way to read a busy
   * stream.
   *
   * @returns an async iterable of record arrays; ends when the reader is closed
   *
   * @example A batch at a time
   * ```ts
   * import { BPF } from "bpf";
   * using b = await BPF.load({ file: "./events.bpf.c" });
   * const events = b.ringbuf<{ pid: number }>("events", { type: "struct event" });
   * for await (const batch of events.batches()) console.log(batch.length);
   * ```
   */
  async *batches(): AsyncGenerator<T[], void, undefined> {
    if (this.#iterating) {
      throw new TypeError(
        `${this.#label()} is already being iterated: use one loop per reader`,
      );
    }
    this.#iterating = true;
    try {
      while (!this.#closed && this.#isOpen()) {
        const recs = await this.read(-1);
        if (recs.length) yield recs;
      }
    } finally {
      this.#iterating = false;
    }
  }

  /**
   * The records one by one; ends when the reader is closed (or its signal aborts). Leaving
   * the loop early (`break`) closes the reader.
   *
   * @example for await
   * ```ts
   * import { BPF } from "bpf";
   * using b = await BPF.load({ file: "./events.bpf.c" });
   * const events = b.ringbuf<{ pid: number }>("events", { type: "struct event" });
   * for await (const e of events) console.log(e.pid);
   * ```
   */
  [Symbol.asyncIterator](): AsyncIterator<T, undefined> {
    if (this.#iterating) {
      throw new TypeError(
        `${this.#label()} is already being iterated: use one loop per reader`,
      );
    }
    this.#iterating = true;
    // A plain iterator over each drained batch: no generator frame per record.
    let batch: T[] = [];
    let i = 0;
    const done = { value: undefined, done: true } as const;
    const finish = () => {
      this.#iterating = false;
      this.close();
      return done;
    };
    const refill = async (): Promise<IteratorResult<T, undefined>> => {
      while (!this.#closed && this.#isOpen()) {
        batch = await this.read(-1);
        i = 0;
        if (batch.length) return { value: batch[i++], done: false };
      }
      return finish();
    };
    return {
      next: () =>
        i < batch.length
          ? Promise.resolve({ value: batch[i++], done: false })
          : refill(),
      return: () => Promise.resolve(finish()),
    };
  }

  #free(): void {
    const source = this.#source;
    if (source === null) return;
    this.#source = null;
    leaked.unregister(this);
    source.free();
  }

  /**
   * Stops the reader: a pending wait returns at once; native resources are freed. Idempotent.
   *
   * @example Stop reading
   * ```ts
   * import { BPF } from "bpf";
   * using b = await BPF.load({ file: "./events.bpf.c" });
   * const events = b.ringbuf<{ pid: number }>("events", { type: "struct event" });
   * setTimeout(() => events.close(), 1000);
   * for await (const e of events) console.log(e.pid);
   * ```
   */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#abort) this.#signal?.removeEventListener("abort", this.#abort);
    this.#unlink?.();
    if (this.#source === null) return;
    // The wait owns the source until it returns; it frees it then.
    if (this.#pending) this.#source.wake();
    else this.#free();
  }

  /**
   * Same as {@link EventReader.close}.
   *
   * @example Scoped
   * ```ts
   * import { BPF } from "bpf";
   * using b = await BPF.load({ file: "./events.bpf.c" });
   * {
   *   using events = b.ringbuf("events");
   *   console.log(await events.read(0));
   * }
   * ```
   */
  [Symbol.dispose](): void {
    this.close();
  }

  /**
   * Closes and waits until a pending native wait has returned.
   *
   * @example Scoped, awaiting the close
   * ```ts
   * import { BPF } from "bpf";
   * using b = await BPF.load({ file: "./events.bpf.c" });
   * {
   *   await using events = b.ringbuf("events");
   *   console.log(await events.read(0));
   * }
   * ```
   */
  async [Symbol.asyncDispose](): Promise<void> {
    const p = this.#pending;
    this.close();
    if (p) await p.catch(() => {});
  }
}
