import assert from "node:assert/strict";
import { compileBpf, runHostC } from "../spec/_clang.ts";
import { inspectObject } from "../../runtime/spec/object.ts";
import {
  bytes,
  checkCodecSize,
  codecFor,
  cstring,
  decodeBytes,
  encodeBytes,
  i32,
  layoutOf,
  u32,
  u64,
} from "../../runtime/btf/mod.ts";

// One definition, compiled both for BPF (to get its BTF) and for the host (the byte oracle).
const TYPES = `
enum state { ST_IDLE = 0, ST_RUN = 1, ST_DEAD = 7 };
union u { __u32 word; __u8 b[4]; };
struct inner { __u16 a; __s16 b[3]; };
struct event {
  __u64 ts;
  __s32 pid;
  char comm[16];
  enum state st;
  struct inner in[2];
  union u un;
  unsigned int f1 : 3, f2 : 5;
  int sf : 4;
  _Bool ok;
  void *ptr;
  struct { __u32 x; __u32 y; };
  __s64 neg;
  __u8 raw[3];
};
`;

const BPF = `#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
${TYPES}
struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 16);
  __type(key, __u32);
  __type(value, struct event);
} events SEC(".maps");
SEC("tp/syscalls/sys_enter_getppid")
int on_getppid(void *ctx) { __u32 k = 0; bpf_map_lookup_elem(&events, &k); return 0; }
char LICENSE[] SEC("license") = "GPL";
`;

const HOST = `#include <linux/types.h>
#include <stdio.h>
#include <string.h>
${TYPES}
int main(void) {
  struct event e;
  memset(&e, 0, sizeof e);
  e.ts = 0xfedcba9876543210ULL;
  e.pid = -42;
  strcpy(e.comm, "bash");
  e.st = ST_DEAD;
  e.in[0].a = 1; e.in[0].b[0] = -1; e.in[0].b[1] = 2; e.in[0].b[2] = -3;
  e.in[1].a = 65535; e.in[1].b[0] = 32767; e.in[1].b[1] = -32768; e.in[1].b[2] = 0;
  e.un.word = 0x04030201;
  e.f1 = 5; e.f2 = 17; e.sf = -3;
  e.ok = 1;
  e.ptr = (void *)0xffff888012345678ULL;
  e.x = 7; e.y = 8;
  e.neg = -9000000000LL;
  e.raw[0] = 1; e.raw[1] = 2; e.raw[2] = 255;
  unsigned int size = sizeof e;
  fwrite(&size, 4, 1, stdout);
  fwrite(&e, sizeof e, 1, stdout);
  return 0;
}
`;

const EXPECTED = {
  ts: 0xfedcba9876543210n,
  pid: -42,
  comm: "bash",
  st: { value: 7, name: "ST_DEAD" },
  in: [{ a: 1, b: [-1, 2, -3] }, { a: 65535, b: [32767, -32768, 0] }],
  un: { word: 0x04030201, b: new Uint8Array([1, 2, 3, 4]) },
  f1: 5,
  f2: 17,
  sf: -3,
  ok: true,
  ptr: 0xffff888012345678n,
  x: 7,
  y: 8,
  neg: -9000000000n,
  raw: new Uint8Array([1, 2, 255]),
};

async function fixture() {
  const [object, host] = await Promise.all([compileBpf(BPF), runHostC(HOST)]);
  const spec = inspectObject(object);
  const map = spec.maps.find((m) => m.name === "events")!;
  const size = new DataView(host.buffer).getUint32(0, true);
  return { spec, map, cBytes: host.subarray(4, 4 + size), size };
}

Deno.test("a struct with nested array, enum, char[], union, bitfields and u64 round-trips as C lays it out", async () => {
  const { spec, map, cBytes, size } = await fixture();
  const btf = spec.btf!;
  assert.equal(map.valueSize, size);
  const layout = layoutOf(btf, map.btfValueTypeId);
  assert.equal(layout.size, size);
  assert.equal(layout.align, 8);
  const codec = codecFor(btf, map.btfValueTypeId, { name: "value" });
  assert.equal(codec.describe, `struct event (${size} bytes)`);
  // C's bytes decode to the values C wrote.
  assert.deepEqual(decodeBytes(codec, cBytes), EXPECTED);
  // The values encode to exactly C's bytes, padding included.
  assert.deepEqual(encodeBytes(codec, EXPECTED), cBytes);
  // Enum by name, union by one member, typed arrays for arrays.
  const alt = {
    ...EXPECTED,
    st: "ST_DEAD",
    un: { word: 0x04030201 },
    in: [{ a: 1, b: Int16Array.of(-1, 2, -3) }, EXPECTED.in[1]],
  };
  assert.deepEqual(encodeBytes(codec, alt as never), cBytes);
  const key = codecFor(btf, map.btfKeyTypeId);
  assert.equal(key.size, 4);
  assert.deepEqual(encodeBytes(key, 0x01020304), new Uint8Array([4, 3, 2, 1]));
});

Deno.test("encode names the field path, the C type and its size on bad input", async () => {
  const { spec, map } = await fixture();
  const codec = codecFor(spec.btf!, map.btfValueTypeId, { name: "value" });
  const bad = (patch: Record<string, unknown>) =>
    encodeBytes(codec, { ...EXPECTED, ...patch });
  assert.throws(() => bad({ comm: "x".repeat(17) }), {
    name: "RangeError",
    message:
      "Cannot encode value.comm: expects char[16] (16 bytes): a string of at most 16 bytes in UTF-8, got 17 bytes",
  });
  assert.throws(() => bad({ pid: "42" }), {
    name: "TypeError",
    message:
      /^Cannot encode value\.pid: expects __s32 \(4 bytes, signed\): a number, got string$/,
  });
  assert.throws(() => bad({ pid: 2 ** 31 }), {
    name: "RangeError",
    message: /value\.pid: .*-2147483648\.\.2147483647, got 2147483648/,
  });
  assert.throws(() => bad({ in: [EXPECTED.in[0], { a: 1, b: [1, 2] }] }), {
    name: "RangeError",
    message:
      /^Cannot encode value\.in\[1\]\.b: expects __s16\[3\]: exactly 3 elements, got 2$/,
  });
  assert.throws(() => bad({ in: [EXPECTED.in[0], { a: -1, b: [1, 2, 3] }] }), {
    name: "RangeError",
    message: /value\.in\[1\]\.a: expects __u16 \(2 bytes, unsigned\)/,
  });
  assert.throws(() => bad({ st: "ST_GONE" }), {
    name: "TypeError",
    message:
      /value\.st: .*"ST_GONE" is not one of its enumerators \(ST_IDLE, ST_RUN, ST_DEAD\)/,
  });
  assert.throws(() => bad({ f1: 8 }), {
    name: "RangeError",
    message: /value\.f1: .*3-bit unsigned bitfield.*0\.\.7, got 8n/,
  });
  assert.throws(() => bad({ sf: -9 }), {
    name: "RangeError",
    message: /value\.sf: .*-8\.\.7/,
  });
  assert.throws(() => bad({ ts: 1.5 }), {
    name: "RangeError",
    message: /value\.ts: .*safe integer/,
  });
  assert.throws(() => bad({ raw: new Uint8Array(4) }), {
    name: "RangeError",
    message: /value\.raw: expects __u8\[3\]: exactly 3 bytes, got 4/,
  });
  assert.throws(() => bad({ un: {} }), {
    name: "TypeError",
    message: /value\.un: .*one of word, b/,
  });
  const { y: _y, ...missing } = EXPECTED;
  assert.throws(() => encodeBytes(codec, missing), {
    name: "TypeError",
    message:
      /^Cannot encode value\.y: the field is missing \(struct event needs every field: ts, pid, comm/,
  });
  assert.throws(() => bad({ colour: 1 }), {
    name: "TypeError",
    message: /struct event has no field "colour"/,
  });
  assert.throws(() => encodeBytes(codec, 5), {
    name: "TypeError",
    message: /expects struct event .*an object, got 5/,
  });
  assert.throws(
    () => codec.encode(EXPECTED, new DataView(new ArrayBuffer(8)), 0),
    {
      name: "RangeError",
      message: /needs \d+ bytes at offset 0, but the view has 8/,
    },
  );
});

Deno.test("plain codecs check ranges and sizes", () => {
  assert.deepEqual(
    encodeBytes(u64, 5),
    new Uint8Array([5, 0, 0, 0, 0, 0, 0, 0]),
  );
  assert.equal(
    decodeBytes(u64, new Uint8Array(8).fill(255)),
    0xffffffffffffffffn,
  );
  assert.equal(decodeBytes(i32, new Uint8Array([0xfe, 0xff, 0xff, 0xff])), -2);
  assert.throws(() => encodeBytes(u32, -1), {
    name: "RangeError",
    message: /u32 \(4 bytes, unsigned\).*0\.\.4294967295, got -1/,
  });
  assert.throws(() => encodeBytes(u64, -1n), RangeError);
  assert.equal(
    decodeBytes(cstring(8), encodeBytes(cstring(8), "héllo")),
    "héllo",
  );
  assert.deepEqual(
    decodeBytes(bytes(2), new Uint8Array([9, 8, 7])),
    new Uint8Array([9, 8]),
  );
  assert.throws(() => decodeBytes(u64, new Uint8Array(4)), {
    name: "RangeError",
    message: /8 are needed/,
  });
  checkCodecSize(u64, 8, 'the key of map "counts"');
  assert.throws(
    () => checkCodecSize(u32, 8, 'the key of map "counts" (hash)'),
    {
      name: "RangeError",
      message:
        'the key of map "counts" (hash) is 8 bytes, but the given type is u32 (4 bytes): use a 8-byte type',
    },
  );
});
