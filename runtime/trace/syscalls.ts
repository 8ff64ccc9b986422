/**
 * The running kernel's syscall names by number, for this machine's architecture, read from
 * the kernel itself rather than from a table of one architecture. The kernel keeps, for each
 * syscall event of tracefs (`events/syscalls/sys_enter_NAME`), a `struct syscall_metadata`
 * with its name and the number it was given at boot; tracefs shows the events but not the
 * numbers (an event's `id` file is the event's own id). So the trusted side opens each
 * event's `format` file, whose inode points at the event (`i_private`), and a BPF
 * iterator over this process's open files (`iter/task_file`, kernel 5.8+) follows
 * file → inode → event → metadata and prints each number and name.
 *
 * @module
 */
import { BPF } from "../bpf.ts";
import { readIter } from "../attach/iter.ts";
import { tracefsDir } from "./tracefs.ts";

const ITERATOR = `
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>

#define TRACEFS_MAGIC 0x74726163

const volatile int targ_tgid = 0;

SEC("iter/task_file")
int syscall_names(struct bpf_iter__task_file *ctx) {
  struct task_struct *task = ctx->task;
  struct file *file = ctx->file;
  if (!task || !file || task->tgid != targ_tgid) return 0;
  struct dentry *d = BPF_CORE_READ(file, f_path.dentry);
  if (BPF_CORE_READ(d, d_sb, s_magic) != TRACEFS_MAGIC) return 0;
  char leaf[8] = {}, dir[64] = {}, name[64] = {};
  bpf_probe_read_kernel_str(leaf, sizeof(leaf), BPF_CORE_READ(d, d_name.name));
  if (leaf[0] != 'f' || leaf[1] != 'o' || leaf[2] != 'r' || leaf[3] != 'm' ||
      leaf[4] != 'a' || leaf[5] != 't' || leaf[6] != 0) return 0;
  bpf_probe_read_kernel_str(dir, sizeof(dir), BPF_CORE_READ(d, d_parent, d_name.name));
  if (dir[0] != 's' || dir[1] != 'y' || dir[2] != 's' || dir[3] != '_' || dir[4] != 'e' ||
      dir[5] != 'n' || dir[6] != 't' || dir[7] != 'e' || dir[8] != 'r' || dir[9] != '_')
    return 0;
  /* A syscall event's format file: its inode's private data is the event's file (eventfs,
   * 6.6+) or the event itself (before); each is printed, the caller keeps the one whose
   * metadata names this event. */
  void *priv = BPF_CORE_READ(file, f_inode, i_private);
  struct trace_event_file *tf = priv;
  struct syscall_metadata *meta = BPF_CORE_READ(tf, event_call, data);
  bpf_probe_read_kernel_str(name, sizeof(name), BPF_CORE_READ(meta, name));
  BPF_SEQ_PRINTF(ctx->meta->seq, "%s %d %s\\n", dir, BPF_CORE_READ(meta, syscall_nr), name);
  struct trace_event_call *call = priv;
  meta = BPF_CORE_READ(call, data);
  name[0] = 0;
  bpf_probe_read_kernel_str(name, sizeof(name), BPF_CORE_READ(meta, name));
  BPF_SEQ_PRINTF(ctx->meta->seq, "%s %d %s\\n", dir, BPF_CORE_READ(meta, syscall_nr), name);
  return 0;
}

char LICENSE[] SEC("license") = "GPL";
`;

/** Files open at once while the iterator runs (each batch is one run). */
const BATCH = 256;

let table: Promise<ReadonlyMap<number, string>> | undefined;

/**
 * The running kernel's syscall names by number (`read`, `openat`, ... as its syscall
 * tracepoints name them: x86_64's `stat` is `newstat`), read once per process. Needs root
 * (or CAP_BPF and CAP_PERFMON) and tracefs; a package run by `bpfpm run` gets it from the
 * trusted side.
 *
 * @returns names by syscall number; a number the kernel has no traced syscall for is absent
 *
 * @example
 * ```ts
 * import { syscallTable } from "bpf";
 * const names = await syscallTable();
 * console.log(names.get(0)); // "read" on x86_64, "io_setup" on arm64
 * ```
 */
export function syscallTable(): Promise<ReadonlyMap<number, string>> {
  table ??= readTable().catch((e) => {
    table = undefined;
    throw e;
  });
  return table;
}

async function readTable(): Promise<ReadonlyMap<number, string>> {
  const events = `${tracefsDir()}/events/syscalls`;
  let dirs: string[];
  try {
    dirs = [...Deno.readDirSync(events)].map((e) => e.name)
      .filter((n) => n.startsWith("sys_enter_"));
  } catch (e) {
    throw new Error(
      `Cannot list the syscall events in ${events} (${
        (e as Error).message
      }): the kernel needs CONFIG_FTRACE_SYSCALLS, and this process root`,
    );
  }
  const out = new Map<number, string>();
  using b = await BPF.load({
    text: ITERATOR,
    autoAttach: false,
    constants: { targ_tgid: Deno.pid },
  });
  for (let i = 0; i < dirs.length; i += BATCH) {
    const files: Deno.FsFile[] = [];
    try {
      for (const d of dirs.slice(i, i + BATCH)) {
        files.push(Deno.openSync(`${events}/${d}/format`));
      }
      using it = b.attachIter("syscall_names");
      for (const line of readIter(it).split("\n")) {
        const [dir, nr, name] = line.split(" ");
        // The event's own name and its metadata's agree (sys_enter_read, sys_read).
        if (!name || dir !== `sys_enter_${name.slice(4)}` || Number(nr) < 0) {
          continue;
        }
        out.set(Number(nr), name.slice(4));
      }
    } finally {
      for (const f of files) f.close();
    }
  }
  if (!out.size) {
    throw new Error(
      `The kernel's syscall events in ${events} gave no syscall numbers`,
    );
  }
  return out;
}
