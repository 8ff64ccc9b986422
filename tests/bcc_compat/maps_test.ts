/**
 * BCC's map macros and methods, loaded for real: each program counts or records what the
 * test's own child process did, keyed by its pid so other processes cannot disturb it. A map
 * smaller than the machine's processes (hundreds call getpid every second here) counts only
 * registered pids: others would fill it first.
 */
import assert from "node:assert/strict";
import { log2HistText } from "../../runtime/output/histogram.ts";
import { load, runChild, runRegistered } from "./_helpers.ts";

const PID = "u32 pid = bpf_get_current_pid_tgid() >> 32;";
/** The child's pid, and a return for every other process (runRegistered fills `pids`). */
const ONLY_REGISTERED = `BPF_HASH(pids, u32, u32);`;
const REGISTERED = `${PID} if (!pids.lookup(&pid)) return 0;`;

Deno.test("BPF_HASH with BCC's defaults (u64 key and leaf) and increment(key)", async () => {
  using b = await load(`
    BPF_HASH(counts);
    TRACEPOINT_PROBE(syscalls, sys_enter_getpid) {
      u64 pid = bpf_get_current_pid_tgid() >> 32;
      counts.increment(pid);
      return 0;
    }`);
  const pid = await runChild("getpid:7");
  const counts = b.map<bigint, bigint>("counts");
  assert.equal(counts.keyCodec.size, 8);
  assert.equal(counts.valueCodec.size, 8);
  assert.equal(counts.maxEntries, 10240);
  assert.equal(counts.get(BigInt(pid)), 7n);
});

Deno.test("BPF_HASH(name, key, leaf, size): lookup, update, insert, delete", async () => {
  using b = await load(`
    ${ONLY_REGISTERED}
    BPF_HASH(seen, u32, u64, 64);
    BPF_HASH(inserted, u32, u64, 64);
    TRACEPOINT_PROBE(syscalls, sys_enter_getpid) {
      ${REGISTERED}
      u64 one = 1, *v = seen.lookup(&pid);
      if (v) { u64 n = *v + 1; seen.update(&pid, &n); } else { seen.update(&pid, &one); }
      u64 first = bpf_ktime_get_ns(), later = 0;
      inserted.insert(&pid, &first);
      inserted.insert(&pid, &later);   /* BPF_NOEXIST: keeps the first value */
      return 0;
    }
    TRACEPOINT_PROBE(syscalls, sys_enter_getppid) {
      ${REGISTERED}
      seen.delete(&pid);
      return 0;
    }`);
  const seen = b.map<number, bigint>("seen");
  const inserted = b.map<number, bigint>("inserted");
  assert.equal(seen.maxEntries, 64);
  const pids = b.map<number, number>("pids");
  const pid = await runRegistered(pids, "getpid:3");
  assert.equal(seen.get(pid), 3n);
  assert.ok(inserted.get(pid)! > 0n);
  const pid2 = await runRegistered(pids, "getpid:2", "getppid:1");
  assert.equal(seen.has(pid2), false);
});

Deno.test("BPF_TABLE and BPF_F_TABLE with a type string; lookup_or_try_init and lookup_or_init", async () => {
  using b = await load(`
    ${ONLY_REGISTERED}
    BPF_TABLE("hash", u32, u64, plain, 128);
    BPF_F_TABLE("hash", u32, u64, noprealloc, 128, BPF_F_NO_PREALLOC);
    BPF_TABLE("lru_hash", u32, u64, lru, 128);
    TRACEPOINT_PROBE(syscalls, sys_enter_getpid) {
      ${REGISTERED}
      u64 zero = 0, *a = plain.lookup_or_try_init(&pid, &zero);
      if (a) __sync_fetch_and_add(a, 1);
      u64 *c = noprealloc.lookup_or_init(&pid, &zero);
      if (c) __sync_fetch_and_add(c, 2);
      u64 *l = lru.lookup_or_try_init(&pid, &zero);
      if (l) __sync_fetch_and_add(l, 3);
      return 0;
    }`);
  const pid = await runRegistered(b.map<number, number>("pids"), "getpid:4");
  assert.equal(b.map("plain").type, "hash");
  assert.equal(b.map("noprealloc").info.flags & 1, 1);
  assert.equal(b.map("lru").type, "lru_hash");
  assert.equal(b.map<number, bigint>("plain").get(pid), 4n);
  assert.equal(b.map<number, bigint>("noprealloc").get(pid), 8n);
  assert.equal(b.map<number, bigint>("lru").get(pid), 12n);
});

Deno.test("BPF_ARRAY with atomic_increment and increment(key, n)", async () => {
  using b = await load(`
    BPF_ARRAY(calls, u64, 4);
    BPF_HASH(pids, u32, u32);   /* the test's children */
    TRACEPOINT_PROBE(syscalls, sys_enter_getpid) {
      ${PID}
      u32 *want = pids.lookup(&pid);
      if (!want) return 0;
      calls.atomic_increment(0);
      calls.increment(1, 10);
      return 0;
    }`);
  const calls = b.map<number, bigint>("calls");
  assert.equal(calls.maxEntries, 4);
  const pids = b.map<number, number>("pids");
  await runRegistered(pids, "getpid:5");
  assert.equal(calls.get(0), 5n);
  assert.equal(calls.get(1), 50n);
});

Deno.test("BPF_HISTOGRAM with bpf_log2l buckets (and bpf_log2) of the child's write sizes", async () => {
  using b = await load(`
    BPF_HISTOGRAM(dist);
    struct size_key { u32 fd; u32 slot; };
    BPF_HISTOGRAM(byFd, struct size_key, 128);
    BPF_ARRAY(log2s, u32, 2);
    BPF_HASH(pids, u32, u32);
    TRACEPOINT_PROBE(syscalls, sys_enter_write) {
      ${PID}
      if (!pids.lookup(&pid)) return 0;
      dist.increment(bpf_log2l(args->count));
      struct size_key key = { (u32)args->fd, bpf_log2l(args->count) };
      byFd.increment(key);
      u32 k = 0, v = bpf_log2(1000);
      log2s.update(&k, &v);
      return 0;
    }`);
  const dist = b.map<number, bigint>("dist");
  assert.equal(dist.maxEntries, 64);
  await runRegistered(
    b.map<number, number>("pids"),
    "write:1:1",
    "write:100:1",
    "write:1000:1",
    "write:5000:2",
  );
  // BCC's buckets: bpf_log2l(v) = floor(log2(v)) + 1.
  assert.equal(dist.get(1), 1n);
  assert.equal(dist.get(7), 1n);
  assert.equal(dist.get(10), 1n);
  assert.equal(dist.get(13), 2n);
  assert.equal(b.map<number, number>("log2s").get(0), 9);
  // A struct key makes the histogram a hash, as in BCC.
  const byFd = b.map<{ fd: number; slot: number }, bigint>("byFd");
  assert.equal(dist.type, "array");
  assert.equal(byFd.type, "hash");
  assert.deepEqual(
    [...byFd.entries()].map(([k, v]) => [k.slot, v]).sort((a, b) =>
      Number(a[0]) - Number(b[0])
    ),
    [[1, 1n], [7, 1n], [10, 1n], [13, 2n]],
  );
  const text = log2HistText(dist, { valType: "bytes" });
  assert.match(text, /4096 -> 8191\s+: 2\s/);
});

Deno.test("BPF_PERCPU_HASH and BPF_PERCPU_ARRAY: per-CPU values that sum to the child's calls", async () => {
  using b = await load(`
    BPF_PERCPU_HASH(byPid, u32, u64);
    BPF_PERCPU_ARRAY(total, u64, 1);
    BPF_HASH(pids, u32, u32);
    TRACEPOINT_PROBE(syscalls, sys_enter_getpid) {
      ${PID}
      if (!pids.lookup(&pid)) return 0;
      byPid.increment(pid);
      total.increment(0);
      return 0;
    }`);
  const pid = await runRegistered(b.map<number, number>("pids"), "getpid:6");
  const sum = (xs: bigint[] | undefined) =>
    (xs ?? []).reduce((a, x) => a + x, 0n);
  const perCpu = b.map<number, bigint[]>("byPid").get(pid)!;
  assert.equal(perCpu.length, navigator.hardwareConcurrency);
  assert.equal(sum(perCpu), 6n);
  assert.equal(sum(b.map<number, bigint[]>("total").get(0)), 6n);
});

Deno.test("BPF_LPM_TRIE: longest-prefix lookups from the program on entries set from TypeScript", async () => {
  using b = await load(`
    struct lpm_key { u32 prefixlen; u32 addr; };
    BPF_LPM_TRIE(routes, struct lpm_key, u64, 16);
    BPF_ARRAY(found, u64, 3);
    BPF_HASH(pids, u32, u32);
    TRACEPOINT_PROBE(syscalls, sys_enter_getpid) {
      ${PID}
      if (!pids.lookup(&pid)) return 0;
      /* addresses as the bytes of a u32 in memory: 10.0.0.5, 10.1.2.3, 11.0.0.1 */
      u32 addrs[3] = { 0x0500000a, 0x0302010a, 0x0100000b };
      for (int i = 0; i < 3; i++) {
        struct lpm_key k = { 32, addrs[i] };
        u64 *v = routes.lookup(&k);
        u32 idx = i;
        if (v) found.update(&idx, v);
      }
      return 0;
    }`);
  const routes = b.map<{ prefixlen: number; addr: number }, bigint>("routes");
  assert.equal(routes.type, "lpm_trie");
  routes.set({ prefixlen: 24, addr: 0x0000000a }, 24n); // 10.0.0.0/24
  routes.set({ prefixlen: 16, addr: 0x0000010a }, 16n); // 10.1.0.0/16
  routes.set({ prefixlen: 8, addr: 0x0000000a }, 8n); // 10.0.0.0/8
  await runRegistered(b.map<number, number>("pids"), "getpid:1");
  const found = b.map<number, bigint>("found");
  assert.deepEqual([found.get(0), found.get(1), found.get(2)], [24n, 16n, 0n]);
});

Deno.test("BPF_QUEUE and BPF_STACK: push in the program, pop/peek in the program and in TypeScript", async () => {
  using b = await load(`
    BPF_QUEUE(fifo, u64, 8);
    BPF_STACK(lifo, u64, 8);
    BPF_ARRAY(seq, u64, 1);
    BPF_ARRAY(seen, u64, 2);
    BPF_HASH(pids, u32, u32);
    TRACEPOINT_PROBE(syscalls, sys_enter_getpid) {
      ${PID}
      if (!pids.lookup(&pid)) return 0;
      int k = 0;
      u64 *n = seq.lookup(&k);
      if (!n) return 0;
      u64 v = __sync_add_and_fetch(n, 1);
      fifo.push(&v, 0);
      lifo.push(&v, BPF_EXIST);
      return 0;
    }
    TRACEPOINT_PROBE(syscalls, sys_enter_getppid) {
      ${PID}
      if (!pids.lookup(&pid)) return 0;
      u64 head = 0, top = 0;
      u32 a = 0, c = 1;
      if (fifo.pop(&head) == 0) seen.update(&a, &head);
      if (lifo.peek(&top) == 0) seen.update(&c, &top);
      return 0;
    }`);
  await runRegistered(b.map<number, number>("pids"), "getpid:3", "getppid:1");
  const seen = b.map<number, bigint>("seen");
  assert.equal(seen.get(0), 1n);
  assert.equal(seen.get(1), 3n);
  const fifo = b.queue<bigint>("fifo");
  const lifo = b.queue<bigint>("lifo");
  assert.deepEqual([fifo.pop(), fifo.pop(), fifo.pop()], [2n, 3n, undefined]);
  assert.deepEqual([lifo.pop(), lifo.pop(), lifo.pop(), lifo.pop()], [
    3n,
    2n,
    1n,
    undefined,
  ]);
});

Deno.test("BPF_ARRAY_OF_MAPS and BPF_HASH_OF_MAPS: the program finds the inner map set from TypeScript", async () => {
  using b = await load(`
    BPF_ARRAY(inner, u64, 4);
    BPF_ARRAY(inner2, u64, 4);
    BPF_ARRAY_OF_MAPS(outer, "inner", 2);
    BPF_HASH_OF_MAPS(byName, u32, "inner", 2);
    BPF_HASH(pids, u32, u32);
    TRACEPOINT_PROBE(syscalls, sys_enter_getpid) {
      ${PID}
      if (!pids.lookup(&pid)) return 0;
      int slot = 1, i = 0;
      u32 key = 7;
      void *m = outer.lookup(&slot);
      if (m) { u64 *v = bpf_map_lookup_elem(m, &i); if (v) __sync_fetch_and_add(v, 1); }
      void *h = byName.lookup(&key);
      if (h) { i = 2; u64 *v = bpf_map_lookup_elem(h, &i); if (v) __sync_fetch_and_add(v, 10); }
      return 0;
    }`);
  assert.equal(b.map("outer").type, "array_of_maps");
  assert.equal(b.map("byName").type, "hash_of_maps");
  b.map<number, number>("outer").set(1, b.map("inner").fd);
  b.map<number, number>("byName").set(7, b.map("inner2").fd);
  await runRegistered(b.map<number, number>("pids"), "getpid:3");
  assert.equal(b.map<number, bigint>("inner").get(0), 3n);
  assert.equal(b.map<number, bigint>("inner2").get(2), 30n);
});

Deno.test("BPF_TASK_STORAGE: task_storage_get creates and counts per task, task_storage_delete drops it", async () => {
  using b = await load(`
    BPF_TASK_STORAGE(perTask, u64);
    BPF_HASH(result, u32, u64);
    TRACEPOINT_PROBE(syscalls, sys_enter_getpid) {
      struct task_struct *t = bpf_get_current_task_btf();
      u64 *v = perTask.task_storage_get(t, 0, BPF_LOCAL_STORAGE_GET_F_CREATE);
      if (v) *v += 1;
      return 0;
    }
    TRACEPOINT_PROBE(syscalls, sys_enter_getppid) {
      ${PID}
      struct task_struct *t = bpf_get_current_task_btf();
      u64 *v = perTask.task_storage_get(t, 0, 0);
      if (v) result.increment(pid, *v * 100);
      perTask.task_storage_delete(t);
      return 0;
    }`);
  assert.equal(b.map("perTask").type, "task_storage");
  const pid = await runChild("getpid:4", "getppid:1", "getpid:2", "getppid:1");
  // 4 then, after the delete, 2 again from zero.
  assert.equal(b.map<number, bigint>("result").get(pid), 600n);
});

Deno.test("BPF_TABLE_PINNED: a second load finds the values of the first in /sys/fs/bpf", async () => {
  const name = `bcc_pin_${Deno.pid}`;
  const src = `
    ${ONLY_REGISTERED}
    BPF_TABLE_PINNED("hash", u32, u64, ${name}, 16, "/sys/fs/bpf/${name}");
    TRACEPOINT_PROBE(syscalls, sys_enter_getpid) {
      ${REGISTERED}
      ${name}.increment(pid);
      return 0;
    }`;
  try {
    let pid: number;
    {
      using b = await load(src);
      pid = await runRegistered(b.map<number, number>("pids"), "getpid:2");
      assert.equal(b.map<number, bigint>(name).get(pid), 2n);
    }
    assert.ok(Deno.statSync(`/sys/fs/bpf/${name}`));
    using again = await load(src);
    assert.equal(again.map<number, bigint>(name).get(pid), 2n);
  } finally {
    try {
      Deno.removeSync(`/sys/fs/bpf/${name}`);
    } catch { /* not pinned */ }
  }
});

Deno.test("BPF_PROG_ARRAY and call(ctx, index): a tail call into a program set from TypeScript", async () => {
  using b = await load(`
    BPF_PROG_ARRAY(jump, 4);
    BPF_HASH(hits, u32, u64);
    RAW_TRACEPOINT_PROBE(sys_enter) {
      if (ctx->args[1] != 39 /* __NR_getpid */) return 0;
      jump.call(ctx, 2);
      return 0;
    }
    int on_getpid(struct bpf_raw_tracepoint_args *ctx) {
      ${PID}
      hits.increment(pid);
      return 0;
    }`);
  const target = b.programs.get("on_getpid")!;
  assert.equal(target.section, "raw_tp");
  b.map<number, number>("jump").set(2, target.fd);
  const pid = await runChild("getpid:3");
  assert.equal(b.map<number, bigint>("hits").get(pid), 3n);
});

Deno.test("BPF_SK_STORAGE: sk_storage_get/_delete per socket, on the test's own TCP connection", async () => {
  using b = await load(`
    BPF_SK_STORAGE(perSock, u64);
    BPF_HASH(changes, u16, u64);
    SEC("tp_btf/inet_sock_set_state")
    int BPF_PROG(on_state, struct sock *sk, int oldstate, int newstate) {
      u64 *n = perSock.sk_storage_get(sk, 0, BPF_SK_STORAGE_GET_F_CREATE);
      if (!n) return 0;
      *n += 1;
      u16 port = sk->__sk_common.skc_num;
      changes.update(&port, n);
      if (newstate == TCP_CLOSE) perSock.sk_storage_delete(sk);
      return 0;
    }`);
  assert.equal(b.map("perSock").type, "sk_storage");
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  try {
    const accepted = listener.accept();
    const conn = await Deno.connect({
      hostname: "127.0.0.1",
      port: (listener.addr as Deno.NetAddr).port,
    });
    const local = (conn.localAddr as Deno.NetAddr).port;
    (await accepted).close();
    conn.close();
    // SYN_SENT, ESTABLISHED, then the close's transitions: counted on one socket's storage.
    assert.ok(b.map<number, bigint>("changes").get(local)! >= 2n);
  } finally {
    listener.close();
  }
});

Deno.test("BPF_INODE_STORAGE, BPF_DEVMAP with redirect_map: maps of their kinds, an XDP program the verifier accepts", async () => {
  using b = await load(
    `
    BPF_INODE_STORAGE(perInode, u32);
    BPF_DEVMAP(ports, 4);
    int xdp_redirect(struct xdp_md *ctx) {
      return ports.redirect_map(0, XDP_PASS);
    }`,
    {
      autoAttach: false,
      grants: {
        attach: [{ kind: "xdp" }],
        helpers: ["packet_redirect", "packet_drop"],
      },
    },
  );
  assert.equal(b.map("perInode").type, "inode_storage");
  assert.equal(b.map("ports").type, "devmap");
  const p = b.programs.get("xdp_redirect");
  assert.equal(p?.section, "xdp");
  assert.ok(p!.fd > 0);
});
