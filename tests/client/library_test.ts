/**
 * The library as a TypeScript user meets it: a script of their own (outside the
 * repository, `bpf` mapped to mod.ts) loads a probe, reads a map with `b.map<K, V>` and a
 * ring buffer with `b.ringbuf<T>`, prints records with `toJson` (64-bit values that
 * `JSON.stringify` refuses), and prints `requiredDenoFlags()`; `deno check` sees the
 * types: a wrong use of a typed map value or record is a type error.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { REPO, run } from "./_helpers.ts";

const C = `#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
struct event { __u32 pid; __u64 big; char comm[16]; };
const struct event *_keep_event __attribute__((unused));
struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 64);
  __type(key, __u32);
  __type(value, __u64);
} counts SEC(".maps");
struct { __uint(type, BPF_MAP_TYPE_RINGBUF); __uint(max_entries, 4096); } events SEC(".maps");
SEC("tracepoint/syscalls/sys_enter_openat")
int on_openat(void *ctx) {
  __u32 pid = bpf_get_current_pid_tgid() >> 32;
  __u64 one = 1, *n = bpf_map_lookup_elem(&counts, &pid);
  if (n) __sync_fetch_and_add(n, 1); else bpf_map_update_elem(&counts, &pid, &one, BPF_ANY);
  struct event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
  if (!e) return 0;
  e->pid = pid;
  e->big = 0xfffffffffffffff0ULL;
  bpf_get_current_comm(e->comm, sizeof(e->comm));
  bpf_ringbuf_submit(e, 0);
  return 0;
}
char LICENSE[] SEC("license") = "GPL";
`;

const SCRIPT = `import { BPF, requiredDenoFlags, toJson } from "bpf";
interface Event { pid: number; big: bigint; comm: string }
using b = await BPF.load({ file: new URL("./probe.bpf.c", import.meta.url) });
const counts = b.map<number, bigint>("counts");
using events = b.ringbuf<Event>("events", {
  type: "struct event",
  signal: AbortSignal.timeout(10_000),
});
await Deno.readTextFile(new URL("./deno.json", import.meta.url)); // an openat
for await (const e of events) {
  const pid: number = e.pid;
  const big: bigint = e.big;
  const n: bigint | undefined = counts.get(pid);
  console.log(toJson({ pid, big, comm: e.comm, n }));
  break;
}
console.log(requiredDenoFlags().join(" "));
`;

function deno(args: string[], cwd: string) {
  return run([Deno.execPath(), ...args], { cwd, env: { NO_COLOR: "1" } });
}

Deno.test("a user's script: typed map and ring buffer, toJson of 64-bit values, requiredDenoFlags", async () => {
  const dir = await Deno.makeTempDir({ prefix: "bpfpm-lib-" });
  try {
    await Deno.writeTextFile(join(dir, "probe.bpf.c"), C);
    await Deno.writeTextFile(join(dir, "main.ts"), SCRIPT);
    await Deno.writeTextFile(
      join(dir, "deno.json"),
      JSON.stringify({ imports: { bpf: join(REPO, "mod.ts") } }),
    );
    // The types hold: this checks, and a misuse of each typed value does not.
    let r = await deno(["check", "main.ts"], dir);
    assert.equal(r.code, 0, r.stderr);
    await Deno.writeTextFile(
      join(dir, "bad.ts"),
      SCRIPT.replace("const pid: number = e.pid;", "const pid: string = e.pid;")
        .replace(
          "const n: bigint | undefined = counts.get(pid);",
          "const n: string | undefined = counts.get(1);",
        ),
    );
    r = await deno(["check", "bad.ts"], dir);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /Type 'number' is not assignable to type 'string'/);
    assert.match(
      r.stderr,
      /Type 'bigint \| undefined' is not assignable to type 'string \| undefined'/,
    );

    r = await deno(["run", "-A", "main.ts"], dir);
    assert.equal(r.code, 0, r.stderr);
    const [line, flags] = r.stdout.trim().split("\n");
    const rec = JSON.parse(line);
    assert.equal(typeof rec.pid, "number");
    assert.ok(rec.pid > 0);
    // 2^64 - 16 is not exact as a double: a decimal string; a count is a number.
    assert.equal(rec.big, "18446744073709551600");
    assert.equal(typeof rec.n, "number");
    assert.ok(rec.n >= 1);
    assert.equal(rec.comm.length > 0, true);
    assert.match(flags, /--allow-ffi=\S*libbpfpm\.so/);
    assert.match(flags, /--allow-read=\S*\/sys\/kernel\/btf/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
