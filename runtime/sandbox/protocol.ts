/**
 * The sandbox channel's wire format, shared by both sides. A frame is
 * `[u32 LE rest][u32 LE json][json bytes][body bytes]`: `rest` counts everything after
 * itself, `json` the UTF-8 JSON header (`{ id, op, ... }` for a request; `{ id, value }` or
 * `{ id, error }` for a reply), and the body carries binary payloads (map keys and values,
 * event batches, the ELF object) back to back, their lengths in the header's `lens`.
 *
 * The trusted side reads frames from an untrusted process: every length is bounded before
 * anything is allocated, and a frame that breaks a bound ends the session.
 *
 * @module
 */

/** The attach methods a sandboxed object forwards; the trusted side accepts only these. */
export const ATTACH_METHODS: readonly string[] = [
  "attachTracepoint",
  "attachRawTracepoint",
  "attachKprobe",
  "attachKretprobe",
  "attachFentry",
  "attachFexit",
  "attachUprobe",
  "attachUretprobe",
  "attachUprobeMulti",
  "attachKprobeMulti",
  "attachUsdt",
  "attachPerfEvent",
  "attachXdp",
  "attachTc",
  "attachSocketFilter",
  "attachCgroup",
  "attachLsm",
  "attachIter",
];

/** The largest frame either side accepts: an event batch or a map dump page fits. */
export const MAX_FRAME = 80 << 20;
/** The largest JSON header. */
export const MAX_HEADER = 1 << 20;

/** A decoded frame: its JSON header and its binary parts. */
export interface Frame {
  /** The JSON header. */
  head: Record<string, unknown>;
  /** The binary parts, as the header's `lens` cut the body. */
  parts: Uint8Array[];
}

/** Thrown for a frame that breaks the format: the session cannot go on. */
export class ProtocolError extends Error {
  /**
   * Makes the error.
   *
   * @param message what is wrong with the frame
   */
  constructor(message: string) {
    super(message);
    this.name = "ProtocolError";
  }
}

const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: true });

/**
 * Encodes a frame.
 *
 * @param head the JSON header (`lens` is set here from `parts`)
 * @param parts binary parts
 * @returns the frame's bytes
 *
 * @example
 * ```ts
 * import { decodeFrame, encodeFrame } from "./protocol.ts";
 * const bytes = encodeFrame({ id: 1, op: "ping" }, [new Uint8Array([1, 2])]);
 * console.log(decodeFrame(bytes.subarray(4)).head.op); // "ping"
 * ```
 */
export function encodeFrame(
  head: Record<string, unknown>,
  parts: readonly Uint8Array[] = [],
): Uint8Array<ArrayBuffer> {
  const json = encoder.encode(
    JSON.stringify(
      parts.length ? { ...head, lens: parts.map((p) => p.length) } : head,
    ),
  );
  let body = 0;
  for (const p of parts) body += p.length;
  const rest = 4 + json.length + body;
  if (json.length > MAX_HEADER || rest > MAX_FRAME) {
    throw new RangeError(
      `A sandbox message of ${rest} bytes is larger than the channel allows (${MAX_FRAME}): ask for less at once (a smaller batch or dump page)`,
    );
  }
  const out = new Uint8Array(4 + rest);
  const view = new DataView(out.buffer);
  view.setUint32(0, rest, true);
  view.setUint32(4, json.length, true);
  out.set(json, 8);
  let at = 8 + json.length;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/**
 * Checks a frame's length prefix before its bytes are read.
 *
 * @param rest the prefix's value
 * @returns `rest`
 */
export function checkFrameLength(rest: number): number {
  if (rest < 4 || rest > MAX_FRAME) {
    throw new ProtocolError(
      `a frame of ${rest} bytes (the channel allows 4 to ${MAX_FRAME})`,
    );
  }
  return rest;
}

/**
 * Decodes the bytes after a frame's length prefix.
 *
 * @param rest the frame without its first four bytes
 * @returns the header and the parts
 */
export function decodeFrame(rest: Uint8Array): Frame {
  const view = new DataView(rest.buffer, rest.byteOffset, rest.byteLength);
  const jsonLength = view.getUint32(0, true);
  if (jsonLength > MAX_HEADER || 4 + jsonLength > rest.length) {
    throw new ProtocolError(
      `a header of ${jsonLength} bytes in a frame of ${rest.length}`,
    );
  }
  let head: unknown;
  try {
    head = JSON.parse(decoder.decode(rest.subarray(4, 4 + jsonLength)));
  } catch (cause) {
    throw new ProtocolError(
      `a header that is not JSON (${(cause as Error).message})`,
    );
  }
  if (head === null || typeof head !== "object" || Array.isArray(head)) {
    throw new ProtocolError("a header that is not a JSON object");
  }
  const h = head as Record<string, unknown>;
  const parts: Uint8Array[] = [];
  let at = 4 + jsonLength;
  if (h.lens !== undefined) {
    if (!Array.isArray(h.lens) || h.lens.length > 16) {
      throw new ProtocolError("a header whose lens is not a short array");
    }
    for (const n of h.lens) {
      if (!Number.isSafeInteger(n) || n < 0 || at + n > rest.length) {
        throw new ProtocolError(`a part of ${n} bytes past the frame's end`);
      }
      parts.push(rest.subarray(at, at + n));
      at += n;
    }
  }
  if (at !== rest.length) {
    throw new ProtocolError(
      `${rest.length - at} bytes after the frame's last part`,
    );
  }
  return { head: h, parts };
}

/**
 * Cuts complete frames out of a byte stream as it arrives (the trusted side's reader).
 *
 * @example
 * ```ts
 * import { encodeFrame, FrameReader } from "./protocol.ts";
 * const r = new FrameReader();
 * console.log(r.push(encodeFrame({ id: 1, op: "ping" })).length); // 1
 * ```
 */
export class FrameReader {
  #chunks: Uint8Array[] = [];
  #have = 0;
  #need = -1;

  /**
   * Adds bytes; returns the frames they completed. The reader keeps a copy of what it
   * holds past the call, so the caller may read into the same buffer again.
   *
   * @param chunk bytes read from the channel
   * @returns the complete frames, in order
   */
  push(chunk: Uint8Array): Frame[] {
    this.#chunks.push(chunk);
    this.#have += chunk.length;
    const out: Frame[] = [];
    for (;;) {
      if (this.#need < 0) {
        if (this.#have < 4) break;
        const prefix = this.#take(4);
        this.#need = checkFrameLength(
          new DataView(prefix.buffer, prefix.byteOffset, 4).getUint32(0, true),
        );
      }
      if (this.#have < this.#need) break;
      const rest = this.#take(this.#need);
      this.#need = -1;
      out.push(decodeFrame(rest));
    }
    // Only the rest of this chunk can be a view of the caller's buffer (earlier ones are copies).
    const last = this.#chunks.length - 1;
    if (last >= 0 && this.#chunks[last].buffer === chunk.buffer) {
      this.#chunks[last] = this.#chunks[last].slice();
    }
    return out;
  }

  #take(n: number): Uint8Array {
    const out = new Uint8Array(n);
    let at = 0;
    while (at < n) {
      const c = this.#chunks[0];
      const k = Math.min(c.length, n - at);
      out.set(c.subarray(0, k), at);
      at += k;
      if (k === c.length) this.#chunks.shift();
      else this.#chunks[0] = c.subarray(k);
    }
    this.#have -= n;
    return out;
  }
}

/** An error as it crosses the channel: its class name, message and own fields. */
export interface WireError {
  /** The class name (`PermissionDeniedError`, `VerifierError`, ...). */
  name: string;
  /** The message, unchanged. */
  message: string;
  /** Own enumerable fields (errno, log, missingGrant, ...), JSON-safe. */
  fields: Record<string, unknown>;
}

/**
 * An error made JSON-safe for the channel (bigints become strings, functions are dropped).
 *
 * @param error what was thrown
 * @returns the wire form
 */
export function toWireError(error: unknown): WireError {
  if (!(error instanceof Error)) {
    return { name: "Error", message: String(error), fields: {} };
  }
  const fields: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(error)) {
    if (k === "cause" || typeof v === "function") continue;
    fields[k] = typeof v === "bigint" ? v.toString() : v;
  }
  try {
    JSON.stringify(fields);
  } catch {
    return { name: error.name, message: error.message, fields: {} };
  }
  return { name: error.name, message: error.message, fields };
}
