/**
 * The corners of BCC's dialect its tools rely on: static helpers taking a struct by value,
 * a program's own copy of a kernel struct, and the kernel headers and constants BTF lacks,
 * each loaded for real and checked on the events of the test's own child.
 */
import assert from "node:assert/strict";
import { load, runChild, runRegistered } from "./_helpers.ts";
import { rewriteBcc } from "../../runtime/source/bcc/mod.ts";

const PID = "u32 pid = bpf_get_current_pid_tgid() >> 32;";

Deno.test("biolatency-style: a static helper taking a struct by value, called from two programs", async () => {
  using b = await load(`
    struct start_key { u32 pid; u32 op; };
    BPF_HASH(calls, struct start_key, u64);
    static int __count(struct start_key key) {
      calls.increment(key);
      return 0;
    }
    TRACEPOINT_PROBE(syscalls, sys_enter_getpid) {
      struct start_key key = { .pid = bpf_get_current_pid_tgid() >> 32, .op = 1 };
      return __count(key);
    }
    TRACEPOINT_PROBE(syscalls, sys_enter_getppid) {
      struct start_key key = { .pid = bpf_get_current_pid_tgid() >> 32, .op = 2 };
      return __count(key);
    }`);
  const pid = await runChild("getpid:3", "getppid:5");
  const calls = b.map<{ pid: number; op: number }, bigint>("calls");
  assert.equal(calls.get({ pid, op: 1 }), 3n);
  assert.equal(calls.get({ pid, op: 2 }), 5n);
});

Deno.test("a static helper returning a struct by value is inlined too", async () => {
  using b = await load(`
    struct pair { u32 a; u32 b; };
    BPF_HASH(sums, u32, u32);
    static struct pair make(u32 a, u32 b) { struct pair p = { a, b }; return p; }
    static u32 add(struct pair p) { return p.a + p.b; }
    TRACEPOINT_PROBE(syscalls, sys_enter_getppid) {
      ${PID}
      u32 s = add(make(pid, 7));
      sums.update(&pid, &s);
      return 0;
    }`);
  const pid = await runChild("getppid:1");
  assert.equal(b.map<number, number>("sums").get(pid), pid + 7);
});

Deno.test("mountsnoop-style: the program's own struct mnt_namespace, read through the kernel's", async () => {
  using b = await load(`
    #include <linux/sched.h>
    #include <linux/nsproxy.h>
    #include <linux/ns_common.h>
    struct mnt_namespace {
      atomic_t count;
      struct ns_common ns;
    };
    BPF_HASH(inums, u32, u32);
    TRACEPOINT_PROBE(syscalls, sys_enter_getppid) {
      ${PID}
      struct task_struct *task = (struct task_struct *)bpf_get_current_task();
      struct mnt_namespace *mnt = (struct mnt_namespace *)task->nsproxy->mnt_ns;
      u32 inum = mnt->ns.inum;
      inums.update(&pid, &inum);
      return 0;
    }`);
  const pid = await runChild("getppid:1");
  const ino = Deno.statSync(`/proc/${Deno.pid}/ns/mnt`).ino;
  assert.equal(b.map<number, number>("inums").get(pid), ino);
});

Deno.test("a copy of struct nameidata keeps both: the kernel's in vmlinux.h, the program's as a CO-RE flavor", () => {
  const { text } = rewriteBcc(
    `struct nameidata { struct path path; struct qstr last; };
     int trace(struct pt_regs *ctx, struct nameidata *nd) { return nd->last.len; }`,
    { kprobes: true },
  );
  assert.match(text, /struct nameidata___bcc \{/);
  assert.match(text, /struct nameidata___bcc \* ?nd\)/);
  assert.match(text, /BPF_CORE_READ\(nd, last\.len\)/);
});

Deno.test("opensnoop-style: <linux/fcntl.h>'s O_CREAT on sys_enter_openat", async () => {
  using b = await load(`
    #include <uapi/linux/ptrace.h>
    #include <linux/fcntl.h>
    BPF_HASH(pids, u32, u32);
    BPF_HASH(creates, u32, u64);
    TRACEPOINT_PROBE(syscalls, sys_enter_openat) {
      ${PID}
      if (!pids.lookup(&pid)) return 0;
      if (args->flags & O_CREAT) creates.increment(pid);
      return 0;
    }`);
  const dir = await Deno.makeTempDir({ prefix: "bpfpm_bcc_fcntl_" });
  try {
    const pid = await runRegistered(
      b.map("pids"),
      `creat:${dir}/f:3`,
      `open:${dir}:2`,
    );
    assert.equal(b.map<number, bigint>("creates").get(pid), 3n);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("perf sampler with <uapi/linux/bpf_perf_event.h>: sample_period read from the context", async () => {
  using b = await load(
    `
    #include <uapi/linux/bpf_perf_event.h>
    BPF_HASH(periods, u32, u64);
    int on_cpu_sample(struct bpf_perf_event_data *ctx) {
      u32 zero = 0;
      u64 period = ctx->sample_period;
      periods.update(&zero, &period);
      return 0;
    }`,
    { autoAttach: false },
  );
  b.attachPerfEvent("on_cpu_sample", { event: "cpu-clock", period: 1_000_000 });
  const until = Date.now() + 5000;
  let got: bigint | undefined;
  while (got === undefined && Date.now() < until) {
    await runChild("getppid:20000");
    got = b.map<number, bigint>("periods").get(0);
  }
  assert.equal(got, 1_000_000n);
});

Deno.test("constants BTF lacks, from the headers BCC's tools include, recorded on a real event", async () => {
  using b = await load(`
    #include <linux/socket.h>
    #include <linux/fs.h>
    #include <linux/capability.h>
    #include <linux/ns_common.h>
    #include <linux/errno.h>
    #include <net/sock.h>
    #include <linux/mmzone.h>
    #include <linux/slub_def.h>
    #include <linux/delay.h>
    #include <linux/not_a_header_bpfpm_has.h>
    struct consts_t {
      u32 scm_rights; u32 fmode_created; u32 cap_sys_admin; u32 so_reuseport;
      u32 ip_transparent; u32 eprotonosupport; u32 etimedout; u32 af_inet6;
    };
    BPF_HASH(seen, u32, struct consts_t);
    TRACEPOINT_PROBE(syscalls, sys_enter_getppid) {
      ${PID}
      struct consts_t c = {
        SCM_RIGHTS, FMODE_CREATED, CAP_SYS_ADMIN, SO_REUSEPORT,
        IP_TRANSPARENT, EPROTONOSUPPORT, ETIMEDOUT, AF_INET6,
      };
      seen.update(&pid, &c);
      return 0;
    }`);
  const pid = await runChild("getppid:1");
  assert.deepEqual(b.map("seen").get(pid), {
    scm_rights: 1,
    fmode_created: 0x100000,
    cap_sys_admin: 21,
    so_reuseport: 15,
    ip_transparent: 19,
    eprotonosupport: 93,
    etimedout: 110,
    af_inet6: 10,
  });
});

Deno.test("a kernel header bpfpm has no shim for never reaches the system's UAPI header", () => {
  const { text } = rewriteBcc(
    `#include <linux/fcntl.h>\n#include <linux/bpfpm_no_such.h>\n#include <stdint.h>\nint x;`,
  );
  const lines = text.slice(text.indexOf("#line 1")).split("\n");
  assert.ok(lines.some((l) => l.startsWith("#include <linux/fcntl.h>")));
  assert.ok(
    lines.some((l) =>
      l.startsWith("#include <bcc/compat.h> /* for <linux/bpfpm_no_such.h> */")
    ),
  );
  assert.ok(lines.some((l) => l.startsWith("#include <stdint.h>")));
});

Deno.test("the running kernel's CONFIG_* options, as BCC has them from the kernel's headers", async () => {
  const { gunzipSync } = await import("node:zlib");
  const config = new TextDecoder().decode(
    gunzipSync(await Deno.readFile("/proc/config.gz")),
  );
  const option = (name: string) =>
    new RegExp(`^${name}=(.*)$`, "m").exec(config)?.[1];
  using b = await load(`
    struct cfg_t { u32 net_ns; u32 wrapper; u32 hz; u32 no_such; };
    BPF_HASH(cfgs, u32, struct cfg_t);
    TRACEPOINT_PROBE(syscalls, sys_enter_getppid) {
      ${PID}
      struct cfg_t c = {};
    #ifdef CONFIG_NET_NS
      c.net_ns = 1;
    #endif
    #if defined(CONFIG_ARCH_HAS_SYSCALL_WRAPPER)
      c.wrapper = 1;
    #endif
    #ifdef CONFIG_HZ
      c.hz = CONFIG_HZ;
    #endif
    #ifdef CONFIG_BPFPM_NO_SUCH_OPTION
      c.no_such = 1;
    #endif
      cfgs.update(&pid, &c);
      return 0;
    }`);
  const pid = await runChild("getppid:1");
  assert.deepEqual(b.map("cfgs").get(pid), {
    net_ns: option("CONFIG_NET_NS") === "y" ? 1 : 0,
    wrapper: option("CONFIG_ARCH_HAS_SYSCALL_WRAPPER") === "y" ? 1 : 0,
    hz: Number(option("CONFIG_HZ") ?? 0),
    no_such: 0,
  });
});

/** Every kernel header BCC's tools (tools/*.py) and libbpf-tools include. */
const TOOL_HEADERS = [
  "asm-generic/errno.h",
  "bcc/proto.h",
  "linux/bio.h",
  "linux/blk-mq.h",
  "linux/blk_types.h",
  "linux/blkdev.h",
  "linux/bpf.h",
  "linux/compaction.h",
  "linux/dcache.h",
  "linux/delay.h",
  "linux/ethtool.h",
  "linux/fcntl.h",
  "linux/fs.h",
  "linux/fs_struct.h",
  "linux/init_task.h",
  "linux/interrupt.h",
  "linux/irq.h",
  "linux/irqdesc.h",
  "linux/kasan.h",
  "linux/mm.h",
  "linux/mm_types.h",
  "linux/mmzone.h",
  "linux/mount.h",
  "linux/net.h",
  "linux/netdevice.h",
  "linux/nfs_fs.h",
  "linux/ns_common.h",
  "linux/nsproxy.h",
  "linux/oom.h",
  "linux/pid_namespace.h",
  "linux/ptrace.h",
  "linux/sched.h",
  "linux/security.h",
  "linux/skbuff.h",
  "linux/slab_def.h",
  "linux/slub_def.h",
  "linux/socket.h",
  "linux/string.h",
  "linux/tcp.h",
  "linux/time64.h",
  "linux/topology.h",
  "linux/uio.h",
  "linux/virtio.h",
  "linux/workqueue.h",
  "net/inet_connection_sock.h",
  "net/inet_sock.h",
  "net/net_namespace.h",
  "net/sock.h",
  "net/tcp.h",
  "net/tcp_states.h",
  "rdma/rdma_cm.h",
  "uapi/linux/bpf_perf_event.h",
  "uapi/linux/in.h",
  "uapi/linux/ip.h",
  "uapi/linux/limits.h",
  "uapi/linux/openat2.h",
  "uapi/linux/ptrace.h",
  "uapi/linux/tcp.h",
  "uapi/linux/udp.h",
];

Deno.test("every kernel header BCC's tools and libbpf-tools include resolves on BTF alone, together", async () => {
  for (const h of TOOL_HEADERS) {
    const found = await Deno.stat(
      new URL(`../../runtime/include/${h}`, import.meta.url),
    ).then(() => true, () => false);
    assert.ok(found, `no shim for <${h}>`);
  }
  using b = await load(`
    ${TOOL_HEADERS.map((h) => `#include <${h}>`).join("\n")}
    BPF_HASH(seen, u32, u32);
    TRACEPOINT_PROBE(syscalls, sys_enter_getppid) {
      ${PID}
      u32 v = TASK_COMM_LEN + O_CREAT + AF_INET6 + SCM_RIGHTS;
      seen.update(&pid, &v);
      return 0;
    }`);
  const pid = await runChild("getppid:1");
  assert.equal(b.map<number, number>("seen").get(pid), 16 + 0o100 + 10 + 1);
});
