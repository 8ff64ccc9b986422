/**
 * Where an {@link EventReader} gets its batches: the native drain of a ring or perf buffer in
 * process, or, in a sandboxed package (runtime/sandbox/), the trusted side's drain forwarded
 * over the channel. A batch is `[u32 len][u32 cpu][bytes, 8-aligned]...`; `stats` receives
 * the counters (lost, records, bytes needed, wakeups, full).
 *
 * @module
 */
import { lib } from "../_ffi.ts";
import { check } from "../maps/_native.ts";

/** Which kernel mechanism a reader drains. */
export type EventKind = "ringbuf" | "perf";

/** How to open a source: the reader's options, validated. */
export interface SourceOptions {
  /** Perf buffers: data pages per CPU. */
  pageCount: number;
  /** Perf buffers: samples per wakeup. */
  wakeupEvents: number;
  /** Bytes a native drain thread may hold; 0: read the kernel buffer directly. */
  stagingBytes: number;
  /** Whether drain threads ask for SCHED_FIFO. */
  realtime: boolean;
}

/** A drained stream of records. */
export interface EventSource {
  /** Copies what is ready into `buf` (never waits); bytes, or -errno (-EMSGSIZE: grow). */
  consume(buf: Uint8Array<ArrayBuffer>, stats: Uint8Array<ArrayBuffer>): number;
  /** Waits up to `timeoutMs` (-1: until data or wake) and then drains; bytes or -errno. */
  wait(
    buf: Uint8Array<ArrayBuffer>,
    timeoutMs: number,
    stats: Uint8Array<ArrayBuffer>,
  ): Promise<number>;
  /** Makes a pending wait return -ECANCELED. */
  wake(): void;
  /** Frees the source (after any pending wait returned). */
  free(): void;
  /** Drain threads, realtime ones, the primary's CPU, watchdog records. */
  info(out: Int32Array): boolean;
  /** Tests only: the primary drainer sleeps `ms` after each claim. */
  testStall(ms: number): void;
}

type Ptr = Deno.PointerObject;

class NativeSource implements EventSource {
  #kind: EventKind;
  #handle: Ptr;
  #pump: Ptr | null;

  constructor(kind: EventKind, handle: Ptr, pump: Ptr | null) {
    this.#kind = kind;
    this.#handle = handle;
    this.#pump = pump;
  }

  consume(buf: Uint8Array<ArrayBuffer>, stats: Uint8Array<ArrayBuffer>) {
    const s = lib();
    const len = BigInt(buf.length);
    if (this.#pump) {
      return Number(s.bpfpm_pump__consume(this.#pump, buf, len, stats));
    }
    return Number(
      this.#kind === "ringbuf"
        ? s.bpfpm_ringbuf__consume(this.#handle, buf, len, stats)
        : s.bpfpm_perfbuf__consume(this.#handle, buf, len, stats),
    );
  }

  async wait(
    buf: Uint8Array<ArrayBuffer>,
    timeoutMs: number,
    stats: Uint8Array<ArrayBuffer>,
  ): Promise<number> {
    const s = lib();
    const len = BigInt(buf.length);
    const h = this.#handle;
    return Number(
      await (this.#pump
        ? s.bpfpm_pump__wait_drain(this.#pump, buf, len, timeoutMs, stats)
        : this.#kind === "ringbuf"
        ? s.bpfpm_ringbuf__wait_drain(h, buf, len, timeoutMs, stats)
        : s.bpfpm_perfbuf__wait_drain(h, buf, len, timeoutMs, stats)),
    );
  }

  wake(): void {
    const s = lib();
    if (this.#pump) s.bpfpm_pump__wake(this.#pump);
    else if (this.#kind === "ringbuf") s.bpfpm_ringbuf__wake(this.#handle);
    else s.bpfpm_perfbuf__wake(this.#handle);
  }

  free(): void {
    freeNative(this.#kind, this.#handle, this.#pump);
  }

  info(out: Int32Array): boolean {
    if (!this.#pump) return false;
    lib().bpfpm_pump__info(this.#pump, out);
    return true;
  }

  testStall(ms: number): void {
    if (this.#pump) lib().bpfpm_pump__test_stall(this.#pump, ms);
  }
}

function freeNative(kind: EventKind, handle: Ptr, pump: Ptr | null): void {
  if (pump) lib().bpfpm_pump__free(pump);
  if (kind === "ringbuf") lib().bpfpm_ringbuf__free(handle);
  else lib().bpfpm_perfbuf__free(handle);
}

/**
 * Opens the native drain of the ring or perf buffer map behind `fd`.
 *
 * @param kind ring buffer or perf buffer
 * @param fd the map's fd
 * @param options sizes and scheduling
 * @param label how errors name the buffer
 * @returns the source
 */
function openNativeSource(
  kind: EventKind,
  fd: number,
  options: SourceOptions,
  label: string,
): EventSource {
  const s = lib();
  const h = kind === "ringbuf"
    ? s.bpfpm_ringbuf__new(fd)
    : s.bpfpm_perfbuf__new(fd, options.pageCount, options.wakeupEvents);
  if (h === null) {
    check(-(s.bpfpm_last_errno() || 22), `Cannot read the ${label}`);
  }
  let pump: Ptr | null = null;
  if (options.stagingBytes > 0) {
    const bytes = BigInt(options.stagingBytes);
    const flags = options.realtime ? 1 : 0;
    pump = (kind === "ringbuf"
      ? s.bpfpm_ringbuf__pump(h as Ptr, bytes, flags)
      : s.bpfpm_perfbuf__pump(h as Ptr, bytes, flags)) as Ptr | null;
    if (pump === null) {
      const errno = s.bpfpm_last_errno() || 22;
      freeNative(kind, h as Ptr, null);
      check(-errno, `Cannot start reading the ${label}`);
    }
  }
  return new NativeSource(kind, h as Ptr, pump);
}

/** Opens a source for a reader. */
export type OpenSource = typeof openNativeSource;

let opener: OpenSource = openNativeSource;

/**
 * Opens the source of a reader with the opener in force (native unless replaced).
 *
 * @param kind ring buffer or perf buffer
 * @param fd the map's fd
 * @param options sizes and scheduling
 * @param label how errors name the buffer
 * @returns the source
 */
export function openSource(
  kind: EventKind,
  fd: number,
  options: SourceOptions,
  label: string,
): EventSource {
  return opener(kind, fd, options, label);
}

/** Replaces how sources open (the sandboxed side installs its forwarder once, at start). */
export function useEventSources(replacement: OpenSource): void {
  opener = replacement;
}
