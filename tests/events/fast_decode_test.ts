// The compiled record decoder gives exactly what the BTF codec gives, for every kind of field.
import assert from "node:assert/strict";
import { BPF } from "../../runtime/bpf.ts";
import { codecFor, encodeBytes } from "../../runtime/btf/codec.ts";
import { layoutOf } from "../../runtime/btf/layout.ts";
import { compileDecoder } from "../../runtime/events/_fast_decode.ts";
import { objectBtf, typeIdForName } from "../../runtime/maps/object_btf.ts";

const TYPES = `
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
enum mood { CALM = 1, ANGRY = -3 };
union num { u32 u; s16 s[2]; };
struct bits { u32 a : 3, b : 13; u8 c; };
struct inner { u8 x; s64 y; char tag[4]; };
struct rec {
  u8 u8v; s8 s8v; u16 u16v; s16 s16v; u32 u32v; s32 s32v; u64 u64v; s64 s64v;
  bool flag; float f; double d; void *ptr;
  enum mood mood; union num num; struct bits bits;
  char name[12]; unsigned char raw[5];
  u16 small[3]; u32 big[40]; struct inner inners[2];
  struct { u32 anon_a; u32 anon_b; };
};
struct rec *_keep_rec __attribute__((unused));
SEC("tracepoint/syscalls/sys_enter_getppid") int f(void *ctx) { return 0; }
char LICENSE[] SEC("license") = "GPL";
`;

Deno.test("compiled decoder equals the BTF codec on every field kind", async () => {
  using b = await BPF.load({ text: TYPES, autoAttach: false });
  const btf = objectBtf(b.object)!;
  const id = typeIdForName(btf, "struct rec", "rec");
  const codec = codecFor<Record<string, unknown>>(btf, id);
  const fast = compileDecoder<Record<string, unknown>>(layoutOf(btf, id));
  const value = {
    u8v: 255,
    s8v: -128,
    u16v: 65535,
    s16v: -2,
    u32v: 4294967295,
    s32v: -5,
    u64v: 18446744073709551615n,
    s64v: -9n,
    flag: true,
    f: 1.5,
    d: -2.25,
    ptr: 0xffff888012345678n,
    mood: "ANGRY",
    num: { u: 0x0001fffe },
    bits: { a: 5, b: 8191, c: 7 },
    name: "naïve ✓",
    raw: new Uint8Array([1, 2, 3, 4, 5]),
    small: [1, 2, 3],
    big: Array.from({ length: 40 }, (_, i) => i * 1000),
    inners: [{ x: 1, y: -1n, tag: "ab" }, { x: 2, y: 1n << 62n, tag: "abcd" }],
    anon_a: 10,
    anon_b: 20,
  };
  const bytes = encodeBytes(codec, value);
  const padded = new Uint8Array(bytes.length + 24);
  padded.set(bytes, 8);
  const view = new DataView(padded.buffer);
  const expected = codec.decode(view, 8);
  assert.deepEqual(fast(view, 8), expected);
  assert.equal((expected as { name: string }).name, "naïve ✓");
  assert.equal((expected as { mood: { name: string } }).mood.name, "ANGRY");
  // An all-zero record too (empty strings, enum values without names).
  assert.deepEqual(
    fast(new DataView(new ArrayBuffer(codec.size)), 0),
    codec.decode(new DataView(new ArrayBuffer(codec.size)), 0),
  );
});

Deno.test("compiled string fields give the bytes' own string when thousands of strings share the decoder's cache", () => {
  // Sizes with and without a partial last word, one past the cached sizes.
  for (const size of [3, 7, 16, 64, 65]) {
    const layout = {
      kind: "string",
      size,
      align: 1,
      cName: `char[${size}]`,
    } as const;
    const decode = compileDecoder<string>(layout);
    const slow = (bytes: Uint8Array) => {
      const end = bytes.indexOf(0);
      return new TextDecoder().decode(end < 0 ? bytes : bytes.subarray(0, end));
    };
    const words = ["bash", "sshd", "naïve ✓", "", "x".repeat(size)];
    const buf = new Uint8Array(size);
    const view = new DataView(buf.buffer);
    let seed = 7;
    for (let i = 0; i < 5000; i++) {
      seed = (seed * 1103515245 + 12345) >>> 0;
      buf.fill(0);
      if (i % 3 === 0) {
        // Random bytes: many distinct strings, colliding in the cache's slots.
        for (let k = 0; k < size; k++) buf[k] = (seed >>> (k % 24)) & 0x7f;
      } else {
        const w = new TextEncoder().encode(words[seed % words.length]);
        buf.set(w.subarray(0, size));
        // Bytes after the NUL are not part of the string.
        if (w.length + 1 < size) buf[w.length + 1] = seed & 0xff;
      }
      assert.equal(decode(view, 0), slow(buf), `char[${size}] #${i}`);
    }
  }
});
