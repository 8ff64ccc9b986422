/**
 * Runs under README.md's narrow Deno flags with an empty BPFPM_CACHE_DIR: compiles BCC-dialect
 * C with a CO-RE read (the rewriter, vmlinux.h, the precompiled prelude and the object all
 * made cold), loads it, attaches its tracepoint, opens a few files, and prints
 * `{ opens, ppid, link }` as one JSON line.
 *
 * usage: deno run <README flags> _readme_cold_child.ts
 */
import { BPF, Link } from "bpf";

using b = await BPF.load({
  text: `
#include <linux/sched.h>
BPF_ARRAY(seen, u64, 2);
TRACEPOINT_PROBE(syscalls, sys_enter_openat) {
  if ((bpf_get_current_pid_tgid() >> 32) != PID) return 0;
  struct task_struct *task = (struct task_struct *)bpf_get_current_task();
  u64 ppid = task->real_parent->tgid;
  seen.increment(0);
  int one = 1;
  seen.update(&one, &ppid);
  return 0;
}`,
  cflags: [`-DPID=${Deno.pid}`],
});
// The cache directory is one of the few paths the flags let Deno itself open.
const cache = Deno.env.get("BPFPM_CACHE_DIR")!;
for (let i = 0; i < 5; i++) [...Deno.readDirSync(cache)];
const seen = b.map<number, bigint>("seen");
const [link] = b.links;
console.log(JSON.stringify({
  opens: String(seen.get(0)),
  ppid: Number(seen.get(1)),
  link: { isLink: link instanceof Link, kind: link.kind, target: link.target },
}));
