import assert from "node:assert/strict";
import dgram from "node:dgram";
import { attachSocketFilter } from "../../runtime/attach/socket_filter.ts";
import { attachCgroup } from "../../runtime/attach/cgroup.ts";
import { attachIter, readIter } from "../../runtime/attach/iter.ts";
import { attachPerfEvent } from "../../runtime/attach/perf_event.ts";
import { attachFentry } from "../../runtime/attach/fentry.ts";
import { AttachError } from "../../runtime/errors.ts";
import { features } from "../../runtime/features.ts";
import { attachUprobe } from "../../runtime/attach/uprobe.ts";
import { attachKprobe } from "../../runtime/attach/kprobe.ts";
import { load, thrown, u64Array } from "./_helpers.ts";

const port = () => 20000 + Math.floor(Math.random() * 40000);

async function sendUdp(to: number, n: number) {
  const sock = dgram.createSocket("udp4");
  try {
    for (let i = 0; i < n; i++) {
      await new Promise<void>((resolve, reject) =>
        sock.send(
          "probe",
          to,
          "127.0.0.1",
          (err) => err ? reject(err) : resolve(),
        )
      );
    }
  } finally {
    sock.close();
  }
}

Deno.test("socket filter on a raw socket counts loopback packets", async () => {
  const dport = port();
  using obj = await load(`
${u64Array("seen")}
SEC("socket") int count_udp(struct __sk_buff *skb) {
  __u8 proto; __u16 dest;
  if (skb->pkt_type != 0 /* PACKET_HOST: not our own outgoing copy */) return 0;
  if (skb->protocol != __builtin_bswap16(0x0800)) return 0;
  if (bpf_skb_load_bytes(skb, 14 + 9, &proto, 1) || proto != 17) return 0;
  if (bpf_skb_load_bytes(skb, 14 + 20 + 2, &dest, 2) || dest != __builtin_bswap16(${dport})) return 0;
  __u32 k = 0; __u64 *v = bpf_map_lookup_elem(&seen, &k);
  if (v) __sync_fetch_and_add(v, 1);
  return 0;
}
char LICENSE[] SEC("license") = "GPL";`);
  {
    using link = attachSocketFilter(obj.programs.get("count_udp")!, {
      ifname: "lo",
    });
    assert.ok(link.fd >= 0, "the link's fd is the raw socket");
    await sendUdp(dport, 7);
    assert.equal(obj.u64("seen"), 7n);
  }
  await sendUdp(dport, 3);
  assert.equal(
    obj.u64("seen"),
    7n,
    "closed: the socket and its filter are gone",
  );
});

Deno.test("socket filter on a caller's socket detaches on close and leaves the socket", async () => {
  const dport = port();
  using obj = await load(`
${u64Array("seen")}
SEC("socket") int noop(struct __sk_buff *skb) { return 0; }
SEC("socket") int count_udp(struct __sk_buff *skb) {
  __u16 dest;
  if (skb->pkt_type != 0 || skb->protocol != __builtin_bswap16(0x0800)) return 0;
  if (bpf_skb_load_bytes(skb, 14 + 20 + 2, &dest, 2) || dest != __builtin_bswap16(${dport})) return 0;
  __u32 k = 0; __u64 *v = bpf_map_lookup_elem(&seen, &k);
  if (v) __sync_fetch_and_add(v, 1);
  return 0;
}
char LICENSE[] SEC("license") = "GPL";`);
  using owner = attachSocketFilter(obj.programs.get("noop")!, { ifname: "lo" });
  {
    using borrowed = attachSocketFilter(obj.programs.get("count_udp")!, {
      fd: owner.fd,
    });
    assert.equal(borrowed.target, `socket fd ${owner.fd}`);
    await sendUdp(dport, 4);
    assert.equal(obj.u64("seen"), 4n);
  }
  await sendUdp(dport, 2);
  assert.equal(
    obj.u64("seen"),
    4n,
    "the filter is detached from the caller's socket",
  );
  assert.ok(owner.fd >= 0 && owner.attached, "the socket itself stays open");
});

function cgroup2Root(): string {
  for (const line of Deno.readTextFileSync("/proc/self/mounts").split("\n")) {
    const [, dir, type] = line.split(" ");
    if (type === "cgroup2") return dir;
  }
  throw new Error("no cgroup2 mount");
}

Deno.test("cgroup_skb counts the egress packets of a child moved into a test cgroup", async () => {
  const dport = port();
  const cg = `${cgroup2Root()}/bpfpm_test_${
    Math.random().toString(36).slice(2, 8)
  }`;
  Deno.mkdirSync(cg);
  try {
    using obj = await load(`
${u64Array("seen")}
SEC("cgroup_skb/egress") int count_egress(struct __sk_buff *skb) {
  __u8 proto; __u16 dest;
  if (bpf_skb_load_bytes(skb, 9, &proto, 1) || proto != 17) return 1;
  if (bpf_skb_load_bytes(skb, 20 + 2, &dest, 2) || dest != __builtin_bswap16(${dport})) return 1;
  __u32 k = 0; __u64 *v = bpf_map_lookup_elem(&seen, &k);
  if (v) __sync_fetch_and_add(v, 1);
  return 1;
}
char LICENSE[] SEC("license") = "GPL";`);
    using link = attachCgroup(obj.programs.get("count_egress")!, { path: cg });
    assert.ok(link.id > 0);
    const child = await new Deno.Command("bash", {
      args: [
        "-c",
        `echo $$ > ${cg}/cgroup.procs && for i in 1 2 3 4 5; do echo x > /dev/udp/127.0.0.1/${dport}; done`,
      ],
    }).output();
    assert.ok(child.success, new TextDecoder().decode(child.stderr));
    await sendUdp(dport, 3); // this process is not in the cgroup: not counted
    assert.equal(obj.u64("seen"), 5n);
  } finally {
    Deno.removeSync(cg);
  }
});

Deno.test("cgroup sock_create and connect4 count a child's sockets and connects", async () => {
  const cg = `${cgroup2Root()}/bpfpm_test_${
    Math.random().toString(36).slice(2, 8)
  }`;
  Deno.mkdirSync(cg);
  try {
    using obj = await load(`
${u64Array("socks")}
${u64Array("connects")}
SEC("cgroup/sock_create") int on_sock(struct bpf_sock *sk) {
  __u32 k = 0; __u64 *v = bpf_map_lookup_elem(&socks, &k);
  if (v && sk->type == 2 /* SOCK_DGRAM */) __sync_fetch_and_add(v, 1);
  return 1;
}
SEC("cgroup/connect4") int on_connect(struct bpf_sock_addr *ctx) {
  __u32 k = 0; __u64 *v = bpf_map_lookup_elem(&connects, &k);
  if (v) __sync_fetch_and_add(v, 1);
  return 1;
}
char LICENSE[] SEC("license") = "GPL";`);
    using sock = attachCgroup(obj.programs.get("on_sock")!, { path: cg });
    using conn = attachCgroup(obj.programs.get("on_connect")!, {
      path: cg,
      attach: "connect4",
    });
    assert.match(sock.target, /sock_create$/);
    assert.match(conn.target, /connect4$/);
    const child = await new Deno.Command("bash", {
      args: [
        "-c",
        `echo $$ > ${cg}/cgroup.procs && for i in 1 2 3; do echo x > /dev/udp/127.0.0.1/${port()}; done`,
      ],
    }).output();
    assert.ok(child.success, new TextDecoder().decode(child.stderr));
    await sendUdp(port(), 2); // outside the cgroup
    assert.equal(obj.u64("socks"), 3n);
    assert.equal(obj.u64("connects"), 3n);
  } finally {
    Deno.removeSync(cg);
  }
});

Deno.test("cgroup bad input: a missing path says so", async () => {
  using obj = await load(`
SEC("cgroup_skb/ingress") int pass(struct __sk_buff *skb) { return 1; }
char LICENSE[] SEC("license") = "GPL";`);
  const e = thrown(
    () =>
      attachCgroup(obj.programs.get("pass")!, {
        path: "/sys/fs/cgroup/bpfpm_no_such",
      }),
    AttachError,
  );
  assert.match(
    e.message,
    /cgroup \/sys\/fs\/cgroup\/bpfpm_no_such does not exist/,
  );
  assert.equal(e.errno, 2);
});

Deno.test("task iterator output lists this process", async () => {
  using obj = await load(`
SEC("iter/task") int dump_task(struct bpf_iter__task *ctx) {
  struct seq_file *seq = ctx->meta->seq;
  struct task_struct *task = ctx->task;
  if (!task || task->pid != task->tgid) return 0;
  BPF_SEQ_PRINTF(seq, "%d %s\\n", task->tgid, task->comm);
  return 0;
}
char LICENSE[] SEC("license") = "GPL";`);
  const child = new Deno.Command("sleep", { args: ["30"] }).spawn();
  try {
    // spawn() returns after fork; wait for the exec that makes the comm "sleep".
    for (let i = 0; i < 100; i++) {
      if (Deno.readTextFileSync(`/proc/${child.pid}/comm`).trim() === "sleep") {
        break;
      }
      await new Promise((r) => setTimeout(r, 10));
    }
    using it = attachIter(obj.programs.get("dump_task")!);
    const lines = readIter(it).trim().split("\n");
    assert.ok(lines.length > 5, lines.join("\n"));
    assert.ok(
      lines.includes(`${child.pid} sleep`),
      `child ${child.pid} missing`,
    );
    assert.ok(
      lines.some((l) => l.startsWith(`${Deno.pid} `)),
      `pid ${Deno.pid} missing`,
    );
    child.kill("SIGKILL");
    await child.status;
    assert.ok(
      !readIter(it).includes(`${child.pid} sleep`),
      "a second read runs it again",
    );
  } finally {
    try {
      child.kill("SIGKILL");
    } catch { /* exited */ }
  }
});

Deno.test("perf_event sampling sees a busy child", async () => {
  using obj = await load(`
struct { __uint(type, BPF_MAP_TYPE_HASH); __uint(max_entries, 4096); __type(key, __u32); __type(value, __u64); } samples SEC(".maps");
SEC("perf_event") int on_sample(struct bpf_perf_event_data *ctx) {
  __u32 pid = bpf_get_current_pid_tgid() >> 32;
  __u64 one = 1, *v = bpf_map_lookup_elem(&samples, &pid);
  if (v) __sync_fetch_and_add(v, 1); else bpf_map_update_elem(&samples, &pid, &one, BPF_ANY);
  return 0;
}
char LICENSE[] SEC("license") = "GPL";`);
  const busy = new Deno.Command("bash", { args: ["-c", "while :; do :; done"] })
    .spawn();
  try {
    using link = attachPerfEvent(obj.programs.get("on_sample")!, {
      event: "cpu-clock",
      frequency: 499,
    });
    assert.equal(
      link.count,
      navigator.hardwareConcurrency,
      "one event per online CPU",
    );
    await new Promise((r) => setTimeout(r, 600));
    const n = obj.u64("samples", busy.pid);
    assert.ok(n > 0n, `samples of the busy child: ${n}`);
    link.close();
    // One event that follows the child (task-clock counts only while it runs).
    const other = new Deno.Command("bash", {
      args: ["-c", "while :; do :; done"],
    }).spawn();
    try {
      using mine = attachPerfEvent(obj.programs.get("on_sample")!, {
        event: "task-clock",
        period: 1_000_000, // one sample per ms of the child's CPU time
        pid: busy.pid,
      });
      assert.equal(mine.count, 1);
      const before = obj.u64("samples", busy.pid);
      const otherBefore = (() => {
        try {
          return obj.u64("samples", other.pid);
        } catch {
          return 0n;
        }
      })();
      await new Promise((r) => setTimeout(r, 400));
      assert.ok(
        obj.u64("samples", busy.pid) > before,
        "the followed child is sampled",
      );
      let otherAfter = 0n;
      try {
        otherAfter = obj.u64("samples", other.pid);
      } catch { /* never sampled */ }
      assert.equal(otherAfter, otherBefore, "another busy process is not");
    } finally {
      other.kill("SIGKILL");
      await other.status;
    }
  } finally {
    busy.kill("SIGKILL");
    await busy.status;
  }
});

Deno.test("perf_event bad input: a gone pid", async () => {
  using obj = await load(`
SEC("perf_event") int on_sample(struct bpf_perf_event_data *ctx) { return 0; }
char LICENSE[] SEC("license") = "GPL";`);
  const gone = new Deno.Command("true").spawn();
  await gone.status;
  const e = thrown(
    () =>
      attachPerfEvent(obj.programs.get("on_sample")!, {
        event: "cpu-clock",
        period: 100000,
        pid: gone.pid,
      }),
    AttachError,
  );
  assert.match(e.message, /process \d+ does not exist/);
});

Deno.test("fentry where ftrace is denied fails naming the feature; attaches elsewhere", async () => {
  const fentry = features().attach.fentry;
  const source = `
SEC("fentry/do_unlinkat") int BPF_PROG(on_unlink, int dfd, struct filename *name) { return 0; }
char LICENSE[] SEC("license") = "GPL";`;
  if (fentry.supported) {
    using obj = await load(source);
    using link = attachFentry(obj.programs.get("on_unlink")!);
    assert.equal(link.kind, "fentry");
    return;
  }
  // The kernel refuses such programs already at load; the error names the missing feature.
  await assert.rejects(load(source), /this kernel denies ftrace function ops/);
  assert.match(fentry.reason!, /this kernel denies ftrace function ops/);
});

Deno.test("attaching and closing every kind leaves no file descriptor behind", async () => {
  const cg = `${cgroup2Root()}/bpfpm_test_${
    Math.random().toString(36).slice(2, 8)
  }`;
  Deno.mkdirSync(cg);
  try {
    using obj = await load(`
SEC("uprobe") int on_call(struct pt_regs *ctx) { return 0; }
SEC("perf_event") int on_sample(struct bpf_perf_event_data *ctx) { return 0; }
SEC("socket") int on_packet(struct __sk_buff *skb) { return 0; }
SEC("cgroup_skb/egress") int on_egress(struct __sk_buff *skb) { return 1; }
SEC("kprobe/__x64_sys_getppid") int on_getppid(void *ctx) { return 0; }
SEC("iter/task") int on_task(struct bpf_iter__task *ctx) { return 0; }
char LICENSE[] SEC("license") = "GPL";`);
    const p = (name: string) => obj.programs.get(name)!;
    const fds = () => [...Deno.readDirSync("/proc/self/fd")].length;
    const cycle = () => {
      const links = [
        attachUprobe(p("on_call"), { binary: "bash", symbol: "readline" }),
        attachPerfEvent(p("on_sample"), { event: "cpu-clock", frequency: 10 }),
        attachSocketFilter(p("on_packet"), { ifname: "lo" }),
        attachCgroup(p("on_egress"), { path: cg }),
        attachKprobe(p("on_getppid"), "__x64_sys_getppid"),
        attachIter(p("on_task")),
      ];
      readIter(links[5]);
      for (const l of links) l.close();
    };
    cycle(); // warm-up: libraries and caches open their files once
    const before = fds();
    for (let i = 0; i < 3; i++) cycle();
    assert.equal(fds(), before);
  } finally {
    Deno.removeSync(cg);
  }
});
