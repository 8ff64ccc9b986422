/**
 * BCC's probe forms, loaded and attached for real on this kernel: tracepoints, raw
 * tracepoints, the name prefixes, syscall kprobes (which fall back to the syscall's tracepoint
 * when the kernel has no kprobes), kprobe arguments, USDT arguments, and the kprobe/fentry/LSM
 * forms' clear errors where the kernel lacks them.
 */
import assert from "node:assert/strict";
import { AttachError } from "../../runtime/errors.ts";
import { haveKprobes } from "../../runtime/attach/kprobe.ts";
import { attachUsdt } from "../../runtime/attach/usdt.ts";
import { BPF } from "../../runtime/bpf.ts";
import { compile } from "../../runtime/compile/mod.ts";
import { rewriteBcc } from "../../runtime/source/bcc/mod.ts";
import { childPath, load, rejects, runChild } from "./_helpers.ts";

const PID = "u32 pid = bpf_get_current_pid_tgid() >> 32;";

Deno.test("TRACEPOINT_PROBE: args->filename of the child's openat", async () => {
  using b = await load(`
    struct path_t { char name[64]; };
    BPF_HASH(paths, u32, struct path_t);
    TRACEPOINT_PROBE(syscalls, sys_enter_openat) {
      ${PID}
      struct path_t p = {};
      bpf_probe_read_user_str(p.name, sizeof(p.name), args->filename);
      paths.update(&pid, &p);
      return 0;
    }`);
  const pid = await runChild("open:/etc/hostname:1");
  assert.equal(
    b.map<number, { name: string }>("paths").get(pid)?.name,
    "/etc/hostname",
  );
});

Deno.test("RAW_TRACEPOINT_PROBE(sys_enter): ctx->args[1] is the syscall number", async () => {
  using b = await load(`
    BPF_HASH(getpids, u32, u64);
    RAW_TRACEPOINT_PROBE(sys_enter) {
      ${PID}
      if (ctx->args[1] == 39 /* __NR_getpid */) getpids.increment(pid);
      return 0;
    }`);
  assert.equal(
    b.programs.get("raw_tracepoint__sys_enter")?.section,
    "raw_tp/sys_enter",
  );
  const pid = await runChild("getpid:5");
  assert.equal(b.map<number, bigint>("getpids").get(pid), 5n);
});

Deno.test("name prefixes tracepoint__cat__ev (with its args struct) and raw_tracepoint__ev", async () => {
  using b = await load(`
    BPF_HASH(enters, u32, u64);
    BPF_HASH(exits, u32, u64);
    BPF_HASH(nr, u32, int);
    int tracepoint__syscalls__sys_enter_getppid(struct tracepoint__syscalls__sys_enter_getppid *args) {
      ${PID}
      int n = args->__syscall_nr;
      enters.increment(pid);
      nr.update(&pid, &n);
      return 0;
    }
    int raw_tracepoint__sys_exit(struct bpf_raw_tracepoint_args *ctx) {
      ${PID}
      exits.increment(pid);
      return 0;
    }`);
  const pid = await runChild("getppid:4");
  assert.equal(b.map<number, bigint>("enters").get(pid), 4n);
  assert.equal(b.map<number, number>("nr").get(pid), 110);
  assert.ok(b.map<number, bigint>("exits").get(pid)! >= 4n);
});

Deno.test("kprobe__sys_X and kretprobe__sys_X: counted, and PT_REGS_RC is the syscall's result", async () => {
  using b = await load(`
    BPF_HASH(calls, u32, u64);
    BPF_HASH(rc, u32, u64);
    int kprobe__sys_getpid(struct pt_regs *ctx) {
      ${PID}
      calls.increment(pid);
      return 0;
    }
    int kretprobe__sys_getpid(struct pt_regs *ctx) {
      ${PID}
      u64 ret = PT_REGS_RC(ctx);
      rc.update(&pid, &ret);
      return 0;
    }`);
  if (!haveKprobes()) {
    assert.equal(
      b.programs.get("kprobe__sys_getpid")?.section,
      "tracepoint/syscalls/sys_enter_getpid",
    );
    assert.equal(
      b.programs.get("kretprobe__sys_getpid")?.section,
      "tracepoint/syscalls/sys_exit_getpid",
    );
  }
  const pid = await runChild("getpid:3");
  assert.equal(b.map<number, bigint>("calls").get(pid), 3n);
  assert.equal(b.map<number, bigint>("rc").get(pid), BigInt(pid));
});

Deno.test("syscall__X(ctx, args...): arguments after ctx, and PT_REGS_PARMn(ctx), are the syscall's", async () => {
  using b = await load(`
    struct open_t { int dfd; int same; char name[64]; };
    BPF_HASH(opens, u32, struct open_t);
    int syscall__openat(struct pt_regs *ctx, int dfd, const char __user *filename, int flags) {
      ${PID}
      struct open_t o = {};
      o.dfd = dfd;
      o.same = (const char *)PT_REGS_PARM2(ctx) == filename;
      bpf_probe_read_user_str(o.name, sizeof(o.name), filename);
      opens.update(&pid, &o);
      return 0;
    }`);
  // As in BCC, syscall__ only marks the arguments: the program attaches it.
  assert.equal(b.links.length, 0);
  b.attachKprobe("syscall__openat", "__x64_sys_openat");
  const pid = await runChild("open:/etc/hostname:1");
  const o = b.map<number, { dfd: number; same: number; name: string }>("opens")
    .get(pid);
  assert.deepEqual(o, { dfd: -100, same: 1, name: "/etc/hostname" });
});

Deno.test("kprobe__ on a kernel function: the attach's clear error without kprobes", async () => {
  const src = `
    BPF_HASH(ports, u32, u64);
    int kprobe__tcp_v4_connect(struct pt_regs *ctx, struct sock *sk) {
      u32 dport = sk->__sk_common.skc_dport;
      ports.increment(dport);
      return 0;
    }`;
  if (haveKprobes()) {
    using b = await load(src);
    assert.equal(b.links.length, 1);
    return;
  }
  const e = await rejects(() => load(src), AttachError);
  assert.match(e.message, /kprobe__tcp_v4_connect/);
  assert.match(
    e.message,
    /this kernel has no kprobes \(CONFIG_KPROBES is not set\)/,
  );
  // Without auto-attach the program loads: the verifier accepts its register and CO-RE reads.
  using b = await load(src, { autoAttach: false });
  assert.equal(
    b.programs.get("kprobe__tcp_v4_connect")?.section,
    "kprobe/tcp_v4_connect",
  );
});

Deno.test("an unprefixed function on struct pt_regs * is a kprobe program; its arguments come from registers", async () => {
  using b = await load(
    `
    BPF_HASH(seen, u32, u64);
    int trace_connect(struct pt_regs *ctx, struct sock *sk, struct sockaddr *uaddr, int len) {
      u32 fam = sk->__sk_common.skc_family;
      u64 l = len;
      seen.update(&fam, &l);
      return 0;
    }`,
    { autoAttach: false },
  );
  const p = b.programs.get("trace_connect");
  assert.equal(p?.section, "kprobe");
  assert.ok(p!.fd > 0);
  assert.equal(b.links.length, 0);
});

for (
  const [form, src, section, pattern] of [
    [
      "KFUNC_PROBE",
      `KFUNC_PROBE(do_unlinkat, int dfd, struct filename *name) { return 0; }`,
      "fentry/do_unlinkat",
      /fentry/,
    ],
    [
      "KRETFUNC_PROBE",
      `KRETFUNC_PROBE(do_unlinkat, int dfd, struct filename *name, int ret) { return 0; }`,
      "fexit/do_unlinkat",
      /fexit|fentry/,
    ],
    [
      "kfunc__ prefix",
      `int kfunc__do_unlinkat(int dfd, struct filename *name) { return 0; }`,
      "fentry/do_unlinkat",
      /fentry/,
    ],
    [
      "LSM_PROBE",
      `LSM_PROBE(bpf, int cmd, union bpf_attr *attr, unsigned int size) { return 0; }`,
      "lsm/bpf",
      /lsm/,
    ],
    [
      "lsm__ prefix",
      `int lsm__file_open(struct file *file) { return 0; }`,
      "lsm/file_open",
      /lsm/,
    ],
  ] as const
) {
  Deno.test(`${form}: ${section}, or the clear error where the kernel lacks it`, async () => {
    try {
      using b = await load(src);
      assert.deepEqual([...b.programs.values()].map((p) => p.section), [
        section,
      ]);
      assert.equal(b.links.length, 1);
    } catch (e) {
      assert.ok(e instanceof AttachError, String(e));
      assert.match(e.message, pattern);
      assert.match(e.message, /this kernel (denies|cannot)/);
    }
  });
}

Deno.test("bpf_usdt_readarg(n, ctx, &v) in a pt_regs function: a USDT program reading BCC's 1-based arguments", async () => {
  const dir = await Deno.makeTempDir({ prefix: "bpfpm_bcc_usdt_" });
  try {
    const bin = `${dir}/app`;
    await Deno.writeTextFile(
      `${dir}/app.c`,
      `#include <stdlib.h>
       #include <sys/sdt.h>
       int main(int argc, char **argv) {
         for (long i = 1; i <= atoi(argv[1]); i++) DTRACE_PROBE2(bpfpm, tick, i, 100 * i);
         return 0;
       }`,
    );
    const cc = await new Deno.Command("gcc", {
      args: ["-O1", "-o", bin, `${dir}/app.c`],
    }).output();
    assert.ok(cc.success, new TextDecoder().decode(cc.stderr));
    using b = await load(
      `
      BPF_ARRAY(sum, u64, 2);
      int on_tick(struct pt_regs *ctx) {
        long i = 0, v = 0;
        bpf_usdt_readarg(1, ctx, &i);
        bpf_usdt_readarg(2, ctx, &v);
        sum.increment(0, i);
        sum.increment(1, v);
        return 0;
      }`,
      { autoAttach: false },
    );
    assert.equal(b.programs.get("on_tick")?.section, "usdt");
    b.adopt(
      attachUsdt(b.programs.get("on_tick")!, {
        binary: bin,
        provider: "bpfpm",
        name: "tick",
      }),
    );
    const run = await new Deno.Command(bin, { args: ["4"] }).output();
    assert.ok(run.success);
    const sum = b.map<number, bigint>("sum");
    assert.deepEqual([sum.get(0), sum.get(1)], [10n, 1000n]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("TP_DATA_LOC_READ_CONST and TP_DATA_LOC_READ_STR: a __data_loc field (the exec'd filename)", async () => {
  await childPath();
  using b = await load(`
    struct exec_t { char a[32]; char b[32]; };
    BPF_HASH(execs, u32, struct exec_t);
    TRACEPOINT_PROBE(sched, sched_process_exec) {
      ${PID}
      struct exec_t e = {};
      TP_DATA_LOC_READ_CONST(e.a, filename, sizeof(e.a));
      TP_DATA_LOC_READ_STR(e.b, filename, sizeof(e.b));
      execs.update(&pid, &e);
      return 0;
    }`);
  const pid = await runChild("exec:/bin/true:1");
  const e = b.map<number, { a: string; b: string }>("execs").get(pid);
  assert.equal(e?.b, "/bin/true");
  assert.ok(e?.a.startsWith("/bin/true"));
});

Deno.test("BCC's hello world: int hello(void *ctx) attached with attachKprobe to a syscall", async () => {
  using b = await load(
    `
    BPF_HASH(calls, u32, u64);
    int hello(void *ctx) {
      ${PID}
      calls.increment(pid);
      return 0;
    }`,
    { autoAttach: false },
  );
  // Typed when attached, as BCC's load_func inside attach_kprobe.
  assert.equal(b.programs.get("hello")?.section, "bcc/late");
  b.attachKprobe("hello", "__x64_sys_getppid");
  const pid = await runChild("getppid:3");
  assert.equal(b.map<number, bigint>("calls").get(pid), 3n);
});

Deno.test("on a kernel with kprobes, syscall probes are kprobes on __x64_sys_X reading the wrapped registers", async () => {
  const { text, programs } = rewriteBcc(
    `
    BPF_HASH(calls, u32, u64);
    int kprobe__sys_getpid(struct pt_regs *ctx) { ${PID} calls.increment(pid); return 0; }
    int kretprobe__sys_getpid(struct pt_regs *ctx) { u64 rc = PT_REGS_RC(ctx); calls.increment(rc); return 0; }
    int syscall__openat(struct pt_regs *ctx, int dfd, const char __user *name, int flags) {
      u32 k = dfd + flags; calls.increment(k); return 0;
    }`,
    { kprobes: true },
  );
  assert.deepEqual(programs.map((p) => [p.name, p.section, p.fallback]), [
    ["kprobe__sys_getpid", "kprobe/__x64_sys_getpid", undefined],
    ["kretprobe__sys_getpid", "kretprobe/__x64_sys_getpid", undefined],
    ["syscall__openat", "kprobe", undefined],
  ]);
  const { object } = await compile(text);
  // kprobe programs load on this kernel too (only attaching needs kprobes).
  using b = await BPF.load({ object, autoAttach: false });
  assert.deepEqual([...b.programs.values()].map((p) => p.section).sort(), [
    "kprobe",
    "kprobe/__x64_sys_getpid",
    "kretprobe/__x64_sys_getpid",
  ]);
});
