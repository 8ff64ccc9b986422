/**
 * The sandboxed side's end of the channel: three FIFOs the trusted side made in a private
 * directory (`BPFPM_SANDBOX`). Requests go on `req`; the reply to a synchronous request comes
 * on `sync` (read with a blocking read, as an FFI call would block), the replies to
 * asynchronous ones (a load, an event wait) come on `async`, read only while one is pending
 * so the channel never keeps the process alive by itself.
 *
 * @module
 */
import {
  checkFrameLength,
  decodeFrame,
  encodeFrame,
  type Frame,
  FrameReader,
  ProtocolError,
  type WireError,
} from "./protocol.ts";

/** A reply: the value and the binary parts. */
export interface Reply {
  /** The reply's JSON value. */
  value: unknown;
  /** Binary parts. */
  parts: Uint8Array[];
}

/** Turns a wire error back into an error of its class. */
export type Rebuild = (error: WireError) => Error;

/** The channel of a sandboxed package. */
export class Channel {
  #req: Deno.FsFile;
  #sync: Deno.FsFile;
  #async: Deno.FsFile;
  #next = 1;
  #pending = new Map<
    number,
    { resolve: (r: Reply) => void; reject: (e: unknown) => void }
  >();
  #reading = false;
  #rebuild: Rebuild;
  /** What the asynchronous replies are read into (the frame reader copies what it keeps). */
  #buf = new Uint8Array(1 << 20);

  /**
   * Opens the channel's FIFOs in `dir`.
   *
   * @param dir the private directory the trusted side made
   * @param rebuild how errors are rebuilt
   */
  constructor(dir: string, rebuild: Rebuild) {
    this.#req = Deno.openSync(`${dir}/req`, { write: true });
    this.#sync = Deno.openSync(`${dir}/sync`, { read: true });
    this.#async = Deno.openSync(`${dir}/async`, { read: true });
    this.#rebuild = rebuild;
  }

  #send(head: Record<string, unknown>, parts: readonly Uint8Array[]): void {
    const bytes = encodeFrame(head, parts);
    let at = 0;
    while (at < bytes.length) at += this.#req.writeSync(bytes.subarray(at));
  }

  #readSync(n: number): Uint8Array {
    const out = new Uint8Array(n);
    let at = 0;
    while (at < n) {
      const got = this.#sync.readSync(out.subarray(at));
      if (got === null || got === 0) {
        throw new ProtocolError(
          "the trusted side (bpfpm) closed the channel: it has exited",
        );
      }
      at += got;
    }
    return out;
  }

  #result(frame: Frame): Reply {
    const error = frame.head.error as WireError | undefined;
    if (error) throw this.#rebuild(error);
    return { value: frame.head.value, parts: frame.parts };
  }

  /**
   * A request answered before this returns (the thread blocks, as for an FFI call).
   *
   * @param op the operation
   * @param args its JSON arguments
   * @param parts its binary arguments
   * @returns the reply
   */
  call(
    op: string,
    args: Record<string, unknown> = {},
    parts: readonly Uint8Array[] = [],
  ): Reply {
    const id = this.#next++;
    this.#send({ ...args, id, op, sync: true }, parts);
    const prefix = this.#readSync(4);
    const rest = checkFrameLength(
      new DataView(prefix.buffer).getUint32(0, true),
    );
    const frame = decodeFrame(this.#readSync(rest));
    if (frame.head.id !== id) {
      throw new ProtocolError(
        `a reply to request ${frame.head.id} where ${id} was expected`,
      );
    }
    return this.#result(frame);
  }

  /**
   * A request answered later (a load, an event wait), leaving the event loop free.
   *
   * @param op the operation
   * @param args its JSON arguments
   * @param parts its binary arguments
   * @returns the reply
   */
  callAsync(
    op: string,
    args: Record<string, unknown> = {},
    parts: readonly Uint8Array[] = [],
  ): Promise<Reply> {
    const id = this.#next++;
    const reply = new Promise<Reply>((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
    });
    this.#send({ ...args, id, op, sync: false }, parts);
    this.#pump();
    return reply;
  }

  async #pump(): Promise<void> {
    if (this.#reading) return;
    this.#reading = true;
    const reader = new FrameReader();
    const buf = this.#buf;
    try {
      while (this.#pending.size) {
        const n = await this.#async.read(buf);
        if (n === null || n === 0) {
          throw new ProtocolError(
            "the trusted side (bpfpm) closed the channel: it has exited",
          );
        }
        for (const frame of reader.push(buf.subarray(0, n))) {
          const waiter = this.#pending.get(frame.head.id as number);
          if (!waiter) continue;
          this.#pending.delete(frame.head.id as number);
          try {
            waiter.resolve(this.#result(frame));
          } catch (error) {
            waiter.reject(error);
          }
        }
      }
    } catch (error) {
      for (const w of this.#pending.values()) w.reject(error);
      this.#pending.clear();
    } finally {
      this.#reading = false;
    }
  }
}
