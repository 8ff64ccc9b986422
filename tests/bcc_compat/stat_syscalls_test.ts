/**
 * A stat-snooping tool as BCC writes them: one `syscall__<name>_entry` per stat syscall and a
 * shared return probe, attached by a loop over the syscalls whose function the kernel has
 * (BCC's `ksymname(fn) != -1` test). x86-64 still has `__x64_sys_stat`, the 32-bit table's
 * old stat, which nothing on a 64-bit kernel calls and which has no syscall tracepoint: on a
 * kernel without kprobes its probes are attached to nothing, as BCC's kprobes there never
 * fire, and every other syscall reports what the child did.
 */
import assert from "node:assert/strict";
import { BPF } from "../../runtime/bpf.ts";
import { haveKprobes } from "../../runtime/attach/kprobe.ts";
import { load, runRegistered } from "./_helpers.ts";

const PREFIX = Deno.build.arch === "x86_64" ? "__x64_sys_" : "__arm64_sys_";

const TOOL = `
#include <uapi/linux/ptrace.h>
#include <uapi/linux/limits.h>
#include <linux/sched.h>

enum stat_kind { K_STAT = 1, K_STATX, K_STATFS, K_NEWSTAT, K_NEWLSTAT, K_NEWFSTATAT };

struct pending_t {
    const char *path;
    enum stat_kind kind;
};

struct event_t {
    u32 pid;
    int ret;
    u32 kind;
    char comm[TASK_COMM_LEN];
    char path[NAME_MAX];
};

BPF_HASH(watched, u32, u32);
BPF_HASH(pending, u32, struct pending_t);
BPF_HASH(entries, u32, u64);
BPF_PERF_OUTPUT(events);

static int remember(enum stat_kind kind, const char __user *path)
{
    u64 id = bpf_get_current_pid_tgid();
    u32 pid = id >> 32, tid = (u32)id;
    if (!watched.lookup(&pid))
        return 0;
    struct pending_t p = {};
    p.path = path;
    p.kind = kind;
    pending.update(&tid, &p);
    u32 k = kind;
    entries.increment(k);
    return 0;
}

int syscall__stat_entry(struct pt_regs *ctx, const char __user *path)
{ return remember(K_STAT, path); }

int syscall__statx_entry(struct pt_regs *ctx, int dfd, const char __user *path)
{ return remember(K_STATX, path); }

int syscall__statfs_entry(struct pt_regs *ctx, const char __user *path)
{ return remember(K_STATFS, path); }

int syscall__newstat_entry(struct pt_regs *ctx, const char __user *path)
{ return remember(K_NEWSTAT, path); }

int syscall__newlstat_entry(struct pt_regs *ctx, const char __user *path)
{ return remember(K_NEWLSTAT, path); }

int syscall__newfstatat_entry(struct pt_regs *ctx, int dfd, const char __user *path)
{ return remember(K_NEWFSTATAT, path); }

int on_return(struct pt_regs *ctx)
{
    u64 id = bpf_get_current_pid_tgid();
    u32 tid = (u32)id;
    struct pending_t *p = pending.lookup(&tid);
    if (p == 0)
        return 0;
    struct event_t e = { .pid = id >> 32 };
    bpf_probe_read_user_str(&e.path, sizeof(e.path), (void *)p->path);
    e.kind = p->kind;
    e.ret = PT_REGS_RC(ctx);
    bpf_get_current_comm(&e.comm, sizeof(e.comm));
    events.perf_submit(ctx, &e, sizeof(e));
    pending.delete(&tid);
    return 0;
}
`;

const SYSCALLS = [
  "stat",
  "statx",
  "statfs",
  "newstat",
  "newlstat",
  "newfstatat",
];

/** The kernel has this function (what BCC's `BPF.ksymname(name) != -1` asks). */
function kernelHas(func: string): boolean {
  return new RegExp(` [tT] ${func}$`, "m").test(
    Deno.readTextFileSync("/proc/kallsyms"),
  );
}

interface StatEvent {
  pid: number;
  ret: number;
  kind: number;
  comm: string;
  path: string;
}

Deno.test("statsnoop-style: entries on every stat syscall the kernel has, the old stat's attached to nothing, returns reported", async () => {
  using b = await load(TOOL);
  assert.equal(
    b.links.length,
    0,
    "syscall__ functions are attached by the tool",
  );
  const links = [];
  for (const sys of SYSCALLS) {
    const fn = `${PREFIX}${sys}`;
    if (!kernelHas(fn)) continue;
    links.push(b.attachKprobe(`syscall__${sys}_entry`, fn));
    links.push(b.attachKretprobe("on_return", fn));
  }
  const old = links.filter((l) => l.target === `${PREFIX}stat`);
  if (!haveKprobes() && kernelHas(`${PREFIX}stat`)) {
    assert.equal(old.length, 2, "the old stat's kprobe and kretprobe");
    for (const l of old) {
      assert.deepEqual([l.count, l.fd, l.id, l.attached], [0, -1, 0, true]);
    }
    assert.throws(() => old[0].pin("/sys/fs/bpf/never"), /attached to nothing/);
  }
  const live = links.filter((l) => !old.includes(l));
  assert.ok(
    live.length >= 8,
    `expected the other stat syscalls, got ${live.map((l) => l.target)}`,
  );
  assert.ok(live.every((l) => l.count > 0));

  using events = b.perfBuffer<StatEvent>("events", {
    signal: AbortSignal.timeout(10_000),
  });
  const missing = `/tmp/bpfpm-statsnoop-${crypto.randomUUID()}`;
  const pid = await runRegistered(
    b.map<number, number>("watched"),
    `sysstat:${missing}:2`,
    "statx:/tmp:1",
    "statfs:/:1",
    "stat:/etc:1",
    "lstat:/etc/hostname:1",
  );
  const got: StatEvent[] = [];
  for await (const e of events) {
    // The loader's own fstatat(fd, "", AT_EMPTY_PATH) calls of the child are not ours.
    if (e.pid === pid && e.path !== "") got.push(e);
    if (got.length === 6) break;
  }
  const seen = got.map((e) => [e.kind, e.path, e.ret]);
  assert.deepEqual(seen, [
    [4, missing, -2], // the stat syscall: newstat's function, ENOENT
    [4, missing, -2],
    [2, "/tmp", 0], // statx
    [3, "/", 0], // statfs
    [6, "/etc", 0], // glibc's stat() and lstat() are newfstatat
    [6, "/etc/hostname", 0],
  ]);
  assert.ok(got.every((e) => e.comm === "bpfpmbccchild"));
  // Nothing entered the old stat: its counter has no entry.
  assert.equal(b.map<number, bigint>("entries").get(1), undefined);
  assert.equal(b.map<number, bigint>("entries").get(4), 2n);

  for (const l of links) l.close();
  assert.ok(old.every((l) => !l.attached));
});

Deno.test('a SEC("kprobe/...") program on the old stat: attached to nothing, said once on stderr', async () => {
  if (haveKprobes() || !kernelHas(`${PREFIX}stat`)) return;
  const script = `
    import { BPF } from ${
    JSON.stringify(new URL("../../mod.ts", import.meta.url).href)
  };
    using b = await BPF.load({
      text: 'SEC("kprobe/${PREFIX}stat") int on_stat(void *ctx) { return 0; }',
      autoAttach: false,
    });
    const a = b.attachKprobe("on_stat", "${PREFIX}stat");
    const r = b.attachKretprobe("on_stat", "${PREFIX}stat");
    console.log(JSON.stringify([a.kind, a.count, r.kind, r.count]));
    a.close();
    r.close();`;
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["eval", "--ext=ts", script],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  const stderr = dec.decode(out.stderr);
  assert.ok(out.success, stderr);
  assert.deepEqual(JSON.parse(dec.decode(out.stdout)), [
    "kprobe",
    0,
    "kretprobe",
    0,
  ]);
  const said = stderr.split("\n").filter((l) =>
    l.includes("attached to nothing")
  );
  assert.equal(said.length, 1, stderr);
  assert.match(
    said[0],
    new RegExp(`${PREFIX}stat is not in this kernel.s syscall table`),
  );
});

Deno.test("a syscall function the kernel lacks still fails to attach, naming it", () => {
  if (haveKprobes()) return;
  return (async () => {
    using b = await BPF.load({
      text: `int on_nothing(struct pt_regs *ctx) { return 0; }`,
      autoAttach: false,
    });
    assert.throws(
      () => b.attachKprobe("on_nothing", `${PREFIX}bpfpm_no_such_call`),
      /bpfpm_no_such_call/,
    );
  })();
});
