/**
 * Where an {@link EventReader} gets its batches: the native drain of a ring or perf buffer in
 * process, or, in a sandboxed package (runtime/sandbox/), the trusted side's drain forwarded
 * over the channel. A batch is `[u32 len][u32 cpu][bytes, 8-aligned]...`; `stats` receives
 * the counters (lost, records, bytes needed, wakeups, full).
 *
 * @module
 */
import { type EventReaderHandle, lib, testLib } from "../_ffi.ts";
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

/** `kind` of bpfpm_event_reader__new (bpfpm_events.h). */
const NATIVE_KIND: Record<EventKind, number> = { ringbuf: 1, perf: 2 };
/** `BPFPM_PUMP_REALTIME` */
const PUMP_REALTIME = 1;

/** The one native event reader (ring or perf buffer, drained directly or by a pump). */
class NativeSource implements EventSource {
  #handle: EventReaderHandle;

  constructor(handle: EventReaderHandle) {
    this.#handle = handle;
  }

  consume(buf: Uint8Array<ArrayBuffer>, stats: Uint8Array<ArrayBuffer>) {
    return Number(
      lib().bpfpm_event_reader__consume(
        this.#handle,
        buf,
        BigInt(buf.length),
        stats,
      ),
    );
  }

  async wait(
    buf: Uint8Array<ArrayBuffer>,
    timeoutMs: number,
    stats: Uint8Array<ArrayBuffer>,
  ): Promise<number> {
    return Number(
      await lib().bpfpm_event_reader__wait_drain(
        this.#handle,
        buf,
        BigInt(buf.length),
        timeoutMs,
        stats,
      ),
    );
  }

  wake(): void {
    lib().bpfpm_event_reader__wake(this.#handle);
  }

  free(): void {
    lib().bpfpm_event_reader__free(this.#handle);
  }

  info(out: Int32Array): boolean {
    lib().bpfpm_event_reader__drainers(this.#handle, out);
    return true;
  }

  testStall(ms: number): void {
    testLib().bpfpm_test__drainer_stall(this.#handle, ms);
  }
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
  const h = s.bpfpm_event_reader__new(
    NATIVE_KIND[kind],
    fd,
    kind === "perf" ? options.pageCount : 0,
    options.wakeupEvents,
    BigInt(options.stagingBytes),
    options.realtime ? PUMP_REALTIME : 0,
  );
  if (h === null) {
    check(-(s.bpfpm_last_errno() || 22), `Cannot read the ${label}`);
  }
  return new NativeSource(h as EventReaderHandle);
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
