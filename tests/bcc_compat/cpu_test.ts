/**
 * The BPF CPU programs are compiled for. BCC's tools are written for the verifier of a compiler
 * whose code keeps 32-bit values in 32-bit registers (clang 20 and later default to BPF CPU
 * v3): clang 14's default, v1, sign-extends with shifts that lose a clamp's bounds, and
 * sslsniff's `bpf_probe_read_user(buf, min(MAX, len), ...)` is then rejected. bpfpm compiles
 * for v3 unless `-mcpu=` says otherwise, with the precompiled vmlinux.h.
 */
import assert from "node:assert/strict";
import { compile, compilerStats } from "../../runtime/compile/mod.ts";
import { inspectObject } from "../../runtime/spec/object.ts";
import { VerifierError } from "../../runtime/errors.ts";
import { checkSandboxSource } from "../../runtime/sandbox/source_policy.ts";
import { PermissionDeniedError } from "../../runtime/policy/check.ts";
import {
  buildProgram,
  load,
  rejects,
  runBinaryRegistered,
  runRegistered,
} from "./_helpers.ts";

const SNIFF = `
#include <linux/ptrace.h>
#include <linux/sched.h>

#define MAX_CHUNK 200
#define smaller(a, b) ((a) < (b) ? (a) : (b))

struct chunk_t {
    u32 pid;
    u32 len;
    int copied;
    int dir;
    char comm[TASK_COMM_LEN];
    char data[MAX_CHUNK];
};

BPF_HASH(watched, u32, u32);
BPF_HASH(buffers, u32, u64);
BPF_PERCPU_ARRAY(scratch, struct chunk_t, 1);
BPF_PERF_OUTPUT(chunks);

int on_tls_call(struct pt_regs *ctx, void *ssl, void *buf, int num)
{
    u64 id = bpf_get_current_pid_tgid();
    u32 pid = id >> 32, tid = (u32)id;
    if (!watched.lookup(&pid))
        return 0;
    u64 where = (u64)buf;
    buffers.update(&tid, &where);
    return 0;
}

static int tls_done(struct pt_regs *ctx, int dir)
{
    u64 id = bpf_get_current_pid_tgid();
    u32 tid = (u32)id;
    u64 *where = buffers.lookup(&tid);
    if (where == 0)
        return 0;
    int len = PT_REGS_RC(ctx);
    if (len <= 0)
        return 0;
    u32 zero = 0;
    struct chunk_t *c = scratch.lookup(&zero);
    if (!c)
        return 0;
    c->pid = id >> 32;
    c->len = (u32)len;
    c->dir = dir;
    u32 n = smaller(MAX_CHUNK, len);
    bpf_get_current_comm(&c->comm, sizeof(c->comm));
    c->copied = bpf_probe_read_user(&c->data, n, (char *)*where) == 0;
    buffers.delete(&tid);
    // Only the bytes read, as sslsniff submits its events.
    chunks.perf_submit(ctx, c, sizeof(*c) - MAX_CHUNK + n);
    return 0;
}

int on_tls_read_done(struct pt_regs *ctx) { return tls_done(ctx, 0); }
int on_tls_write_done(struct pt_regs *ctx) { return tls_done(ctx, 1); }
`;

interface Chunk {
  pid: number;
  len: number;
  copied: number;
  dir: number;
  comm: string;
  data: string;
}

Deno.test("sslsniff-style: a clamped bpf_probe_read_user of SSL_read's result loads with the default CPU; the records, cut to the bytes read, decode with no type", async () => {
  using b = await load(SNIFF, { autoAttach: false });
  for (
    const [symbol, done] of [["SSL_write", "on_tls_write_done"], [
      "SSL_read",
      "on_tls_read_done",
    ]]
  ) {
    b.attachUprobe("on_tls_call", { binary: "libssl.so.3", symbol });
    b.attachUretprobe(done, { binary: "libssl.so.3", symbol });
  }
  using chunks = b.perfBuffer<Chunk>("chunks", {
    signal: AbortSignal.timeout(10_000),
  });
  const secret = `GET /${crypto.randomUUID()} HTTP/1.1`;
  const pid = await runBinaryRegistered(
    b.map<number, number>("watched"),
    await buildProgram("_tls.c", "bpfpmtls", ["-lssl", "-lcrypto"]),
    secret,
    "2",
  );
  const got: Chunk[] = [];
  for await (const c of chunks) {
    if (c.pid === pid) got.push(c);
    if (got.length === 4) break;
  }
  assert.deepEqual(
    got.map((c) => [c.dir, c.len, c.copied, c.data, c.comm]),
    [1, 0, 1, 0].map((dir) => [dir, secret.length, 1, secret, "bpfpmtls"]),
  );
});

Deno.test("-mcpu=v1 (clang 14's own default) is what the verifier rejects there", async () => {
  const e = await rejects(
    () => load(SNIFF, { autoAttach: false, cflags: ["-mcpu=v1"] }),
    VerifierError,
  );
  assert.match(e.message, /R2 min value is negative/);
});

Deno.test("a 32-bit counter's __sync_add_and_fetch result is usable (LLVM 14 aborts on it for v1)", async () => {
  using b = await load(`
    BPF_HASH(watched, u32, u32);
    BPF_ARRAY(last, u32, 1);
    u32 calls;
    TRACEPOINT_PROBE(syscalls, sys_enter_getppid) {
      u32 pid = bpf_get_current_pid_tgid() >> 32;
      if (!watched.lookup(&pid)) return 0;
      u32 n = __sync_add_and_fetch(&calls, 1);
      int k = 0;
      last.update(&k, &n);
      return 0;
    }`);
  await runRegistered(b.map<number, number>("watched"), "getppid:5");
  assert.equal(b.map<number, number>("last").get(0), 5);
});

/** How many instructions of the object's programs are 32-bit jumps (BPF_JMP32, class 6). */
function jmp32Count(object: Uint8Array): number {
  let n = 0;
  for (const p of inspectObject(object).programs) {
    for (let i = 0; i < p.instructions.length; i += 8) {
      if ((p.instructions[i] & 7) === 6) n++;
    }
  }
  return n;
}

Deno.test("compiles target BPF CPU v3 with the PCH unless -mcpu= says otherwise; the cache keeps them apart", async () => {
  const cacheDir = await Deno.makeTempDir({ prefix: "bpfpm_bcc_cpu_" });
  try {
    const src = `
      SEC("raw_tp/sys_enter") int f(struct bpf_raw_tracepoint_args *ctx) {
        int nr = (int)ctx->args[1];
        if (nr > 3 && nr < 100) return 1;
        return 0;
      }
      char LICENSE[] SEC("license") = "GPL";`;
    const pchBuilds = compilerStats().pchBuilds;
    const byDefault = await compile(src, { cacheDir });
    const v3 = await compile(src, { cacheDir, cflags: ["-mcpu=v3"] });
    assert.equal(
      compilerStats().pchBuilds,
      pchBuilds + 1,
      "one PCH, built for v3, served both",
    );
    const v1 = await compile(src, { cacheDir, cflags: ["-mcpu=v1"] });
    const probe = await compile(src, { cacheDir, cflags: ["-mcpu=probe"] });
    assert.equal(compilerStats().pchBuilds, pchBuilds + 1);
    assert.ok(jmp32Count(byDefault.object) > 0, "v3 has 32-bit jumps");
    assert.equal(jmp32Count(v3.object), jmp32Count(byDefault.object));
    assert.ok(jmp32Count(probe.object) > 0, "this kernel supports v3");
    assert.equal(jmp32Count(v1.object), 0, "v1 has none");
    assert.equal(new Set([byDefault.key, v1.key, probe.key]).size, 3);
    assert.equal((await compile(src, { cacheDir })).cached, true);
    await rejects(
      () => compile(src, { cacheDir, cflags: ["-mcpu=v9"] }),
      TypeError,
    );
  } finally {
    await Deno.remove(cacheDir, { recursive: true });
  }
});

Deno.test("a sandboxed package may choose the BPF CPU, and nothing else with -m", () => {
  for (const cpu of ["v1", "v2", "v3", "generic", "probe"]) {
    checkSandboxSource("int x;", [`-mcpu=${cpu}`], "/pkg");
  }
  for (
    const flag of ["-mcpu=v3 -Xclang", "-mcpu", "-march=bpf", "-mcpu=../x"]
  ) {
    assert.throws(
      () => checkSandboxSource("int x;", [flag], "/pkg"),
      PermissionDeniedError,
    );
  }
});
