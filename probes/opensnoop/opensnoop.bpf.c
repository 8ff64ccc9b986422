// opensnoop: open(), openat() and openat2() from their syscall tracepoints. The path's user
// pointer and the flags are kept per thread at entry; the row is sent at return.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpfpm/container.h>

#define NAME_MAX 255
/* -F: the working directory's components, innermost first (BCC's --full-path). */
#define MAX_DIRS 16
#define DNAME_LEN 64

struct args_t {
  const char *fname;
  int flags;
};

struct event {
  u64 ts;
  u32 pid;
  u32 tid;
  u32 uid;
  int ret;
  int flags;
  char comm[16];
  char fname[NAME_MAX + 1];
  char dirs[MAX_DIRS][DNAME_LEN];
};

/* Set before load (BPF.load's constants, the manifest's .rodata parameters): the verifier
 * sees them as constants and prunes the filters left off. */
const volatile u32 targ_pid = 0; /* 0: any */
const volatile u32 targ_tid = 0; /* 0: any */
const volatile bool filter_uid = false;
const volatile u32 targ_uid = 0;
const volatile bool failed_only = false; /* -x */
const volatile bool full_path = false;   /* -F */

/* The record type, kept in BTF for the reader (ring buffers carry no type). */
struct event *_event_type __attribute__((unused));

struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 10240);
  __type(key, u32);
  __type(value, struct args_t);
} start SEC(".maps");

/* -b: the ring's size in pages (a power of two; mod.ts passes -DRING_PAGES=N). */
#ifndef RING_PAGES
#define RING_PAGES 256
#endif

struct {
  __uint(type, BPF_MAP_TYPE_RINGBUF);
  __uint(max_entries, RING_PAGES * 4096);
} events SEC(".maps");

static __always_inline int on_enter(const char *fname, int flags) {
  u64 id = bpf_get_current_pid_tgid();
  u32 pid = id >> 32, tid = (u32)id;
  if (targ_pid && targ_pid != pid) return 0;
  if (targ_tid && targ_tid != tid) return 0;
  if (filter_uid && targ_uid != (u32)bpf_get_current_uid_gid()) return 0;
  if (container_excluded()) return 0;
  struct args_t args = { .fname = fname, .flags = flags };
  bpf_map_update_elem(&start, &tid, &args, BPF_ANY);
  return 0;
}

/* The names from the current task's working directory up to the root, crossing mounts; a
 * slot left empty where a mount was crossed. */
static __always_inline void read_pwd(struct event *e) {
  struct task_struct *t = (struct task_struct *)bpf_get_current_task();
  struct fs_struct *fs = BPF_CORE_READ(t, fs);
  struct dentry *d = BPF_CORE_READ(fs, pwd.dentry);
  struct vfsmount *vm = BPF_CORE_READ(fs, pwd.mnt);
  struct mount *mnt = container_of(vm, struct mount, mnt);
  for (int i = 0; i < MAX_DIRS; i++) {
    struct dentry *parent = BPF_CORE_READ(d, d_parent);
    if (d == parent) {
      struct mount *up = BPF_CORE_READ(mnt, mnt_parent);
      if (up == mnt) break;
      d = BPF_CORE_READ(mnt, mnt_mountpoint);
      mnt = up;
      continue;
    }
    bpf_probe_read_kernel_str(e->dirs[i], DNAME_LEN, BPF_CORE_READ(d, d_name.name));
    d = parent;
  }
}

static __always_inline int on_exit(long ret) {
  u64 id = bpf_get_current_pid_tgid();
  u32 tid = (u32)id;
  struct args_t *ap = bpf_map_lookup_elem(&start, &tid);
  if (!ap) return 0;
  if (failed_only && ret >= 0) goto cleanup;
  struct event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
  if (!e) goto cleanup;
  e->ts = bpf_ktime_get_ns();
  e->pid = id >> 32;
  e->tid = tid;
  e->uid = (u32)bpf_get_current_uid_gid();
  e->ret = ret;
  e->flags = ap->flags;
  bpf_get_current_comm(e->comm, sizeof(e->comm));
  bpf_probe_read_user_str(e->fname, sizeof(e->fname), ap->fname);
  __builtin_memset(e->dirs, 0, sizeof(e->dirs));
  if (full_path && e->fname[0] != '/') read_pwd(e);
  bpf_ringbuf_submit(e, 0);
cleanup:
  bpf_map_delete_elem(&start, &tid);
  return 0;
}

SEC("tracepoint/syscalls/sys_enter_open")
int open_enter(struct trace_event_raw_sys_enter *ctx) {
  return on_enter((const char *)ctx->args[0], (int)ctx->args[1]);
}

SEC("tracepoint/syscalls/sys_exit_open")
int open_exit(struct trace_event_raw_sys_exit *ctx) {
  return on_exit(ctx->ret);
}

SEC("tracepoint/syscalls/sys_enter_openat")
int openat_enter(struct trace_event_raw_sys_enter *ctx) {
  return on_enter((const char *)ctx->args[1], (int)ctx->args[2]);
}

SEC("tracepoint/syscalls/sys_exit_openat")
int openat_exit(struct trace_event_raw_sys_exit *ctx) {
  return on_exit(ctx->ret);
}

SEC("tracepoint/syscalls/sys_enter_openat2")
int openat2_enter(struct trace_event_raw_sys_enter *ctx) {
  struct open_how how = {};
  bpf_probe_read_user(&how, sizeof(how), (void *)ctx->args[2]);
  return on_enter((const char *)ctx->args[1], (int)how.flags);
}

SEC("tracepoint/syscalls/sys_exit_openat2")
int openat2_exit(struct trace_event_raw_sys_exit *ctx) {
  return on_exit(ctx->ret);
}

char LICENSE[] SEC("license") = "GPL";
