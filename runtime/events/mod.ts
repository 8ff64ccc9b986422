/**
 * Readers of ring buffers and perf buffers: native code drains many records per call into a
 * buffer TypeScript owns; records are decoded (from BTF) and handed out as async iterables.
 *
 * @example
 * ```ts
 * import { BPF } from "../../mod.ts";
 * using b = await BPF.load({ file: "./exec.bpf.c" });
 * for await (const e of b.ringbuf<{ pid: number }>("events", { type: "struct event" })) {
 *   console.log(e.pid);
 * }
 * ```
 *
 * @module
 */
export {
  type DrainerInfo,
  type EventKind,
  EventReader,
  type EventReaderOptions,
} from "./event_reader.ts";
export type { Codec } from "../btf/codec.ts";
