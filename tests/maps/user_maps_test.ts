// Maps created from user space: the Map-like API, batches, per-CPU values, special types,
// pinning and the errors for bad input.
import assert from "node:assert/strict";
import { BpfMap } from "../../runtime/maps/bpf_map.ts";
import { ClosedError } from "../../runtime/errors.ts";
import { PerCpu, perCpuCodec } from "../../runtime/maps/per_cpu.ts";
import { QueueMap } from "../../runtime/maps/special_maps.ts";
import { fdCodec } from "../../runtime/maps/codecs.ts";
import { fdInfo, possibleCpus } from "../../runtime/maps/_native.ts";
import { bytes, codecForLayout, u32, u64 } from "../../runtime/btf/codec.ts";
import { BpfError } from "../../runtime/errors.ts";

Deno.test("hash map: get/set/delete/has/size/clear and iteration", () => {
  using m = BpfMap.create({
    type: "hash",
    key: u32,
    value: u64,
    maxEntries: 256,
    name: "t_hash",
  });
  assert.equal(m.size, 0);
  for (let i = 0; i < 100; i++) m.set(i, BigInt(i) * 3n);
  assert.equal(m.size, 100);
  assert.equal(m.get(7), 21n);
  assert.equal(m.get(1000), undefined);
  assert.equal(m.has(99), true);
  assert.equal(m.has(100), false);
  assert.equal(m.delete(99), true);
  assert.equal(m.delete(99), false);
  assert.equal(m.take(98), 294n);
  assert.equal(m.has(98), false);
  const seen = new Map([...m]);
  assert.equal(seen.size, 98);
  for (const [k, v] of seen) assert.equal(v, BigInt(k) * 3n);
  assert.deepEqual(
    [...m.keys()].sort((a, b) => a - b),
    [...seen.keys()].sort((a, b) => a - b),
  );
  assert.equal(
    [...m.values()].reduce((a, b) => a + b, 0n),
    [...seen.values()].reduce((a, b) => a + b, 0n),
  );
  m.set(1, 5n, "exist");
  assert.throws(() => m.set(1, 6n, "noexist"), BpfError);
  assert.throws(() => m.set(5000, 6n, "exist"), BpfError);
  m.clear();
  assert.equal(m.size, 0);
  assert.deepEqual(m.dump(), []);
});

Deno.test("batch and element-by-element dumps agree on 20,000 entries", () => {
  using m = BpfMap.create({
    type: "hash",
    key: u64,
    value: u64,
    maxEntries: 20_000,
  });
  const entries: [bigint, bigint][] = [];
  for (let i = 0n; i < 20_000n; i++) entries.push([i * 7919n, i ^ 0x5an]);
  m.setMany(entries);
  assert.equal(m.size, 20_000);
  assert.equal(m.batchSupported(), true);
  const cmp = (
    a: [bigint, bigint],
    b: [bigint, bigint],
  ) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0);
  const batched = m.dump().sort(cmp);
  const walked = m.dump({ noBatch: true }).sort(cmp);
  assert.equal(batched.length, 20_000);
  assert.deepEqual(batched, walked);
  assert.deepEqual(batched, [...entries].sort(cmp));
  // Small chunks: many native calls, and hash buckets that do not fit the room left.
  for (const chunkEntries of [1, 7, 100, 4096]) {
    assert.deepEqual(m.dump({ chunkEntries }).sort(cmp), batched);
  }
  assert.throws(() => m.dump({ chunkEntries: 0 }), RangeError);
  m.deleteMany(entries.slice(0, 5000).map(([k]) => k));
  assert.equal(m.size, 15_000);
  const taken = m.dump({ delete: true });
  assert.equal(taken.length, 15_000);
  assert.equal(m.size, 0);
});

const U64 = {
  kind: "int",
  size: 8,
  align: 8,
  cName: "u64",
  signed: false,
} as const;

Deno.test("a dump since an earlier one shares the pairs that did not change and decodes the rest", () => {
  using m = BpfMap.create({
    type: "hash",
    key: u32,
    value: codecForLayout<{ count: bigint; ns: bigint }>({
      kind: "struct",
      size: 16,
      align: 8,
      name: "counts",
      cName: "struct counts",
      fields: [
        {
          name: "count",
          offset: 0,
          layout: U64,
        },
        {
          name: "ns",
          offset: 8,
          layout: U64,
        },
      ],
    }),
    maxEntries: 4096,
  });
  for (let i = 0; i < 3000; i++) m.set(i, { count: BigInt(i), ns: 1n });
  const first = m.dump({ since: null });
  assert.equal(first.length, 3000);
  // Nothing changed: every pair is the first dump's own.
  const second = m.dump({ since: first });
  assert.ok(second.every((p, i) => p === first[i]));
  // Two values change, keys go and come: those are decoded, the others shared, wherever
  // the kernel's walk puts them.
  m.set(5, { count: 500n, ns: 1n });
  m.set(2999, { count: 7n, ns: 9n });
  for (let k = 10; k < 20; k++) m.delete(k);
  for (let k = 5000; k < 5010; k++) m.set(k, { count: 1n, ns: 1n });
  const third = m.dump({ since: second });
  const byKey = new Map(third.map(([k, v]) => [k, v]));
  assert.equal(third.length, 3000);
  assert.deepEqual(byKey.get(5), { count: 500n, ns: 1n });
  assert.deepEqual(byKey.get(2999), { count: 7n, ns: 9n });
  assert.deepEqual(byKey.get(5000), { count: 1n, ns: 1n });
  assert.equal(byKey.has(10), false);
  assert.equal(byKey.has(19), false);
  // Same contents as a dump made afresh, and most pairs shared.
  const cmp = (a: [number, unknown], b: [number, unknown]) => a[0] - b[0];
  assert.deepEqual([...third].sort(cmp), m.dump().sort(cmp));
  // Every pair whose key and value were there before is shared: 3000 - 10 gone - 2 changed.
  const shared = new Set(second);
  assert.equal(third.filter((p) => shared.has(p)).length, 2988);
  assert.ok(!third.some((p) => p[0] === 5 && shared.has(p)));
});

Deno.test("array map: fixed size, delete zeroes, batch update", () => {
  using m = BpfMap.create({
    type: "array",
    key: u32,
    value: u64,
    maxEntries: 8,
  });
  assert.equal(m.size, 8);
  assert.equal(m.get(3), 0n);
  m.setMany([[1, 10n], [2, 20n]]);
  assert.equal(m.get(2), 20n);
  assert.equal(m.delete(2), true);
  assert.equal(m.get(2), 0n);
  assert.equal(m.dump().length, 8);
  assert.throws(() => m.set(8, 1n), BpfError);
});

Deno.test("per-CPU hash: one value per possible CPU, sum/max/avg", () => {
  const cpus = possibleCpus();
  using m = BpfMap.create<number, PerCpu<bigint>, bigint | bigint[]>({
    type: "percpu_hash",
    key: u32,
    value: perCpuCodec(u64, cpus),
    maxEntries: 16,
  });
  const vals = Array.from({ length: cpus }, (_, i) => BigInt(i + 1) * 10n);
  m.set(1, vals);
  const got = m.get(1)!;
  assert.ok(got instanceof PerCpu);
  assert.deepEqual([...got], vals);
  assert.equal(got.sum(), vals.reduce((a, b) => a + b, 0n));
  assert.equal(got.max(), vals[vals.length - 1]);
  assert.equal(got.avg(), Number(got.sum()) / cpus);
  m.set(2, 4n);
  assert.deepEqual([...m.get(2)!], new Array(cpus).fill(4n));
  assert.throws(() => m.set(3, [1n]), RangeError);
  assert.deepEqual(m.dump().map(([k, v]) => [k, v.sum()]).sort(), [[
    1,
    got.sum(),
  ], [2, 4n * BigInt(cpus)]]);
});

Deno.test("LRU hash evicts instead of failing", () => {
  using m = BpfMap.create({
    type: "lru_hash",
    key: u32,
    value: u32,
    maxEntries: 64,
  });
  for (let i = 0; i < 1000; i++) m.set(i, i);
  assert.ok(m.size <= 64 + 64 * possibleCpus());
  assert.equal(m.get(999), 999);
});

Deno.test("LPM trie: longest prefix match", () => {
  const key = codecForLayout<{ prefixlen: number; data: Uint8Array }>(
    {
      kind: "struct",
      size: 8,
      align: 4,
      cName: "struct lpm_key",
      fields: [
        {
          name: "prefixlen",
          offset: 0,
          layout: {
            kind: "int",
            size: 4,
            align: 4,
            cName: "u32",
            signed: false,
          },
        },
        {
          name: "data",
          offset: 4,
          layout: { kind: "bytes", size: 4, align: 1, cName: "u8[4]" },
        },
      ],
    } as unknown as Parameters<typeof codecForLayout>[0],
  );
  using m = BpfMap.create({
    type: "lpm_trie",
    key,
    value: u32,
    maxEntries: 16,
  });
  m.set({ prefixlen: 8, data: new Uint8Array([10, 0, 0, 0]) }, 8);
  m.set({ prefixlen: 24, data: new Uint8Array([10, 1, 2, 0]) }, 24);
  assert.equal(
    m.get({ prefixlen: 32, data: new Uint8Array([10, 1, 2, 3]) }),
    24,
  );
  assert.equal(
    m.get({ prefixlen: 32, data: new Uint8Array([10, 9, 9, 9]) }),
    8,
  );
  assert.equal(
    m.get({ prefixlen: 32, data: new Uint8Array([11, 0, 0, 0]) }),
    undefined,
  );
  assert.equal(m.dump().length, 2);
  assert.deepEqual(m.dump({ noBatch: true }), m.dump());
});

Deno.test("queue and stack maps: push/pop/peek order", () => {
  using q = QueueMap.create({ type: "queue", value: u32, maxEntries: 4 });
  using s = QueueMap.create({ type: "stack", value: u32, maxEntries: 4 });
  for (const v of [1, 2, 3]) {
    q.push(v);
    s.push(v);
  }
  assert.equal(q.peek(), 1);
  assert.deepEqual([...q.drain()], [1, 2, 3]);
  assert.deepEqual([...s.drain()], [3, 2, 1]);
  assert.equal(q.pop(), undefined);
  for (const v of [1, 2, 3, 4]) q.push(v);
  assert.throws(() => q.push(5), BpfError);
  q.push(5, "exist");
  assert.deepEqual([...q.drain()], [2, 3, 4, 5]);
});

Deno.test("array and hash of maps take inner map fds and read back ids", () => {
  using inner = BpfMap.create({
    type: "array",
    key: u32,
    value: u32,
    maxEntries: 1,
  });
  using outer = BpfMap.create<number, number, number | { fd: number }>({
    type: "array_of_maps",
    key: u32,
    value: fdCodec,
    maxEntries: 2,
    innerMap: inner,
  });
  outer.set(0, inner);
  // The kernel reads back the inner map's id, not the fd it was given.
  assert.equal(outer.get(0), fdInfo(inner.fd).id);
  assert.equal(outer.get(1), undefined);
  using byName = BpfMap.create<number, number, number | { fd: number }>({
    type: "hash_of_maps",
    key: u32,
    value: fdCodec,
    maxEntries: 4,
    innerMap: inner,
  });
  byName.set(7, inner.fd);
  assert.equal(byName.get(7), fdInfo(inner.fd).id);
  assert.deepEqual(byName.dump(), [[7, fdInfo(inner.fd).id]]);
  assert.throws(() => byName.set(8, { fd: -1 }), RangeError);
});

Deno.test("pin, open pinned, unpin", () => {
  const path = `/sys/fs/bpf/bpfpm_test_${Deno.pid}`;
  using m = BpfMap.create({
    type: "hash",
    key: u32,
    value: u64,
    maxEntries: 4,
    name: "t_pin",
  });
  m.pin(path);
  try {
    using o = BpfMap.openPinned(path, { key: u32, value: u64 });
    m.set(1, 42n);
    assert.equal(o.get(1), 42n);
    assert.equal(o.name, "t_pin");
    assert.throws(
      () => BpfMap.openPinned(path, { key: u64, value: u64 }),
      RangeError,
    );
  } finally {
    m.unpin();
  }
  assert.throws(() => Deno.statSync(path), Deno.errors.NotFound);
  assert.throws(
    () => BpfMap.openPinned(path, { key: u32, value: u64 }),
    BpfError,
  );
});

Deno.test("bad input: sizes and types named, closed maps, full maps", () => {
  assert.throws(
    () => BpfMap.create({ type: "hash", key: u32, value: u64, maxEntries: 0 }),
    RangeError,
  );
  assert.throws(
    () =>
      BpfMap.create({
        type: "nope" as "hash",
        key: u32,
        value: u64,
        maxEntries: 1,
      }),
    /Unknown map type "nope"/,
  );
  using m = BpfMap.create({
    type: "hash",
    key: u32,
    value: u64,
    maxEntries: 1,
    name: "t_bad",
  });
  assert.throws(() => m.set("x" as unknown as number, 1n), (e: Error) => {
    assert.ok(e instanceof RangeError);
    assert.match(e.message, /map "t_bad".*u32 \(4 bytes\)/);
    return true;
  });
  assert.throws(() => m.set(1, "x" as unknown as bigint), /u64 \(8 bytes\)/);
  m.set(1, 1n);
  assert.throws(() => m.set(2, 2n), /is full \(1 entries\)/);
  const view = new BpfMap(m.info, { key: u32, value: u64 });
  assert.throws(
    () => new BpfMap(m.info, { key: u64, value: u64 }),
    (e: Error) =>
      e instanceof RangeError &&
      /The key of map "t_bad" \(hash\) is 4 bytes/.test(e.message),
  );
  assert.throws(
    () => new BpfMap(m.info, { key: u32, value: bytes(4) }),
    /value .* is 8 bytes/,
  );
  m.close();
  assert.throws(() => m.get(1), ClosedError);
  assert.throws(() => m.size, /Map "t_bad" is closed/);
  void view;
});

Deno.test("views that own fds close them", () => {
  const fds = () => [...Deno.readDirSync("/proc/self/fd")].length;
  const before = fds();
  for (let i = 0; i < 20; i++) {
    using m = BpfMap.create({
      type: "hash",
      key: u32,
      value: u64,
      maxEntries: 4,
    });
    using q = QueueMap.create({ type: "queue", value: u32, maxEntries: 4 });
    m.set(1, 1n);
    q.push(1);
    m.dump();
  }
  assert.equal(fds(), before);
});
