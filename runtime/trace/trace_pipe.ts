/**
 * trace_pipe as async iterators: `tracePrint()` yields its lines, `traceFields()` parses
 * them. Reads wait on a native worker thread (never on the event loop) and are cancelled
 * when the iterator or its BPF object is closed.
 *
 * @module
 */
import { cstr, lastError, lib, type TracePipeHandle } from "../_ffi.ts";
import { BpfError } from "../errors.ts";
import { tracefsDir } from "./tracefs.ts";

/** One trace_pipe line, parsed like BCC's `trace_fields()`. */
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

/** Parses one trace_pipe line; undefined for lines that are not events (e.g. lost-event notes). */
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

/**
 * Yields trace_pipe's non-empty lines until cancelled (through `track`'s canceller or by ending the
 * iteration).
 *
 * @param track Called once with the reader's canceller, so an owner can stop it.
 * @returns The lines, without their newline.
 */
export async function* readTracePipe(
  track?: (reader: Cancellable) => () => void,
): AsyncGenerator<string, void, undefined> {
  const s = lib();
  const path = `${tracefsDir()}/trace_pipe`;
  const handle = s.bpfpm_trace_pipe__open(cstr(path)) as TracePipeHandle | null;
  if (handle === null) {
    const { errno, message } = lastError();
    throw new BpfError(
      `Cannot read ${path} (${message}): run as root and check that tracefs is mounted`,
      { errno },
    );
  }
  const untrack = track?.({ cancel: () => s.bpfpm_trace_pipe__cancel(handle) });
  const buf = new Uint8Array(1 << 16);
  const decoder = new TextDecoder();
  let rest = "";
  try {
    for (;;) {
      const n = Number(
        await s.bpfpm_trace_pipe__read(handle, buf, BigInt(buf.length)),
      );
      if (n === 0) return;
      if (n < 0) {
        throw new BpfError(`Reading ${path} failed with errno ${-n}`, {
          errno: -n,
        });
      }
      const text = rest + decoder.decode(buf.subarray(0, n), { stream: true });
      const lines = text.split("\n");
      rest = lines.pop() ?? "";
      for (const line of lines) if (line.trim()) yield line;
    }
  } finally {
    untrack?.();
    s.bpfpm_trace_pipe__close(handle);
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
