/**
 * trace_pipe as async iterators: `tracePrint()` yields its lines, `traceFields()` parses
 * them. Reads wait on a native worker thread (never on the event loop) and are cancelled
 * when the iterator or its BPF object is closed.
 *
 * @module
 */
import { cstr, lastError, lib, type TracePipeHandle } from "../_ffi.ts";
import { BpfError, Errno } from "../errors.ts";
import { tracefsDir } from "./tracefs.ts";

/**
 * One trace_pipe line, parsed like BCC's `trace_fields()`.
 *
 * @example Fields of printk output
 * ```ts
 * import { BPF } from "bpf";
 * using b = await BPF.load({ file: "./hello.bpf.c" });
 * for await (const { task, pid, cpu, ts, msg } of b.traceFields()) console.log(task, pid, cpu, ts, msg);
 * ```
 */
export interface TraceFields {
  /** The task's command name (`comm`). */
  task: string;
  /** The thread id that wrote the line. */
  pid: number;
  /** The CPU it ran on. */
  cpu: number;
  /** The irq/preempt flags column, e.g. `d..31`. */
  flags: string;
  /** The timestamp in seconds. */
  ts: number;
  /** The message (without the `bpf_trace_printk: ` prefix). */
  msg: string;
}

/** Something an owner can cancel: the owner closes it when it closes. */
export interface Cancellable {
  /** Ends the iteration; a pending read returns at once. */
  cancel(): void;
}

const LINE =
  /^\s*(.*?)-(\d+)\s+(?:\(\s*[\d-]+\)\s+)?\[(\d+)\]\s+(\S+)\s+(\d+\.\d+):\s(?:\s*bpf_trace_printk:\s)?(.*)$/;

/**
 * Parses one trace_pipe line; undefined for lines that are not events (e.g. lost-event notes).
 *
 * @example Parse one trace_pipe line
 * ```ts
 * import { parseTraceLine } from "bpf";
 * const f = parseTraceLine("           bash-1234    [001] d..31  5079.123456: bpf_trace_printk: Hello");
 * console.log(f?.task, f?.pid, f?.msg);
 * ```
 */
export function parseTraceLine(line: string): TraceFields | undefined {
  const m = LINE.exec(line);
  if (!m) return undefined;
  return {
    task: m[1],
    pid: Number(m[2]),
    cpu: Number(m[3]),
    flags: m[4],
    ts: Number(m[5]),
    msg: m[6],
  };
}

/** Lines a subscriber has not read yet, at most; older ones are dropped (and counted). */
const MAX_QUEUED = 1 << 16;

/** One reader of the shared pipe: its queue, and how to wake it. */
interface Subscriber {
  queue: string[];
  dropped: number;
  closed: boolean;
  error?: unknown;
  wake?: () => void;
}

/**
 * trace_pipe is consumed by reading: two readers would each get part of the lines. So one
 * native reader per process feeds every iterator (each sees every line), opened for the first
 * and closed after the last.
 */
class TracePipeHub {
  #subs = new Set<Subscriber>();
  #handle: TracePipeHandle | null = null;
  #running = false;

  subscribe(): Subscriber {
    const sub: Subscriber = { queue: [], dropped: 0, closed: false };
    if (!this.#running) this.#start();
    this.#subs.add(sub);
    return sub;
  }

  unsubscribe(sub: Subscriber): void {
    sub.closed = true;
    sub.wake?.();
    this.#subs.delete(sub);
    if (this.#subs.size === 0 && this.#handle) {
      lib().bpfpm_trace_pipe__cancel(this.#handle);
    }
  }

  #start(): void {
    const s = lib();
    const path = `${tracefsDir()}/trace_pipe`;
    const handle = s.bpfpm_trace_pipe__open(cstr(path)) as
      | TracePipeHandle
      | null;
    if (handle === null) {
      const { errno, message } = lastError();
      throw new BpfError(
        errno === Errno.EBUSY
          ? `Cannot read ${path}: another process is reading it (the kernel allows one reader at a time); stop that reader (\`fuser -v ${path}\` names it), or send this program's output through a ring buffer instead of bpf_trace_printk`
          : `Cannot read ${path} (${message}): run as root and check that tracefs is mounted`,
        { errno },
      );
    }
    this.#handle = handle;
    this.#running = true;
    this.#pump(handle, path).finally(() => {
      s.bpfpm_trace_pipe__close(handle);
      this.#handle = null;
      this.#running = false;
      if (this.#subs.size) {
        try {
          this.#start();
        } catch (error) {
          this.#fail(error);
        }
      }
    });
  }

  async #pump(handle: TracePipeHandle, path: string): Promise<void> {
    const s = lib();
    const buf = new Uint8Array(1 << 16);
    const decoder = new TextDecoder();
    let rest = "";
    while (this.#subs.size) {
      const n = Number(
        await s.bpfpm_trace_pipe__read(handle, buf, BigInt(buf.length)),
      );
      if (n === 0) return;
      if (n < 0) {
        this.#fail(
          new BpfError(`Reading ${path} failed with errno ${-n}`, {
            errno: -n,
          }),
        );
        return;
      }
      const text = rest + decoder.decode(buf.subarray(0, n), { stream: true });
      const lines = text.split("\n");
      rest = lines.pop() ?? "";
      const kept = lines.filter((line) => line.trim());
      if (!kept.length) continue;
      for (const sub of this.#subs) {
        sub.queue.push(...kept);
        if (sub.queue.length > MAX_QUEUED) {
          sub.dropped += sub.queue.length - MAX_QUEUED;
          sub.queue.splice(0, sub.queue.length - MAX_QUEUED);
        }
        sub.wake?.();
      }
    }
  }

  #fail(error: unknown): void {
    for (const sub of this.#subs) {
      sub.error = error;
      sub.wake?.();
    }
  }
}

const hub = new TracePipeHub();

/**
 * Yields trace_pipe's non-empty lines until cancelled (through `track`'s canceller or by
 * ending the iteration). Every iterator in the process sees every line: one native reader
 * feeds them all, and waits on a worker thread, never on the event loop.
 *
 * @param track Called once with the reader's canceller, so an owner can stop it.
 * @returns The lines, without their newline.
 */
export async function* readTracePipe(
  track?: (reader: Cancellable) => () => void,
): AsyncGenerator<string, void, undefined> {
  const sub = hub.subscribe();
  const untrack = track?.({ cancel: () => hub.unsubscribe(sub) });
  try {
    for (;;) {
      if (sub.closed) return;
      if (sub.queue.length) {
        yield sub.queue.shift()!;
        continue;
      }
      if (sub.error) throw sub.error;
      await new Promise<void>((resolve) => sub.wake = resolve);
      sub.wake = undefined;
    }
  } finally {
    untrack?.();
    hub.unsubscribe(sub);
  }
}

/**
 * Yields trace_pipe's events as fields (lines that are not events are skipped).
 *
 * @param track As for readTracePipe.
 */
export async function* readTraceFields(
  track?: (reader: Cancellable) => () => void,
): AsyncGenerator<TraceFields, void, undefined> {
  for await (const line of readTracePipe(track)) {
    const fields = parseTraceLine(line);
    if (fields) yield fields;
  }
}
