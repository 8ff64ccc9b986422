import assert from "node:assert/strict";
import { encodeFrame, FrameReader } from "../../runtime/sandbox/protocol.ts";

Deno.test("FrameReader: a frame larger than one read, read into one reused buffer, arrives intact", () => {
  const keys = new Uint8Array(800_000).map((_, i) => i * 7);
  const values = new Uint8Array(800_000).map((_, i) => i * 13);
  const bytes = new Uint8Array([
    ...encodeFrame({ id: 1, op: "map", fn: "update_many" }, [keys, values]),
    ...encodeFrame({ id: 2, op: "cpus" }),
  ]);
  const reader = new FrameReader();
  const buf = new Uint8Array(65536); // as the serving loop reads: one buffer, reused
  const frames = [];
  for (let at = 0; at < bytes.length; at += buf.length) {
    const n = Math.min(buf.length, bytes.length - at);
    buf.set(bytes.subarray(at, at + n));
    frames.push(...reader.push(buf.subarray(0, n)));
    buf.fill(0xff); // the next read overwrites it
  }
  assert.equal(frames.length, 2);
  assert.equal(frames[0].head.fn, "update_many");
  assert.deepEqual(frames[0].parts[0], keys);
  assert.deepEqual(frames[0].parts[1], values);
  assert.equal(frames[1].head.op, "cpus");
});
