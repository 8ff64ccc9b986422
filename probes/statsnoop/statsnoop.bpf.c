// statsnoop: stat-family syscalls (stat, lstat, fstatat, statx, statfs) from their syscall
// tracepoints; the path pointer is kept per thread at entry and the row sent at return.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

struct event {
  u64 ts;
  u32 pid;
  int ret;
  char call[8]; /* stat, lstat, fstatat, statx or statfs */
  char comm[16];
  char pathname[256];
};

/* Set before load (BPF.load's constants, the manifest's .rodata parameters): the verifier
 * sees them as constants and prunes the branches they turn off. */
const volatile u32 targ_pid = 0;
const volatile bool failed_only = false;

struct event *_event_type __attribute__((unused));

struct entry {
  const char *path;
  char call[8];
};

struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 10240);
  __type(key, u32);
  __type(value, struct entry);
} start SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_RINGBUF);
  __uint(max_entries, 1 << 20);
} events SEC(".maps");

static __always_inline int on_enter(const char *path, const char *call) {
  u64 id = bpf_get_current_pid_tgid();
  u32 tid = (u32)id;
  if (targ_pid && targ_pid != id >> 32) return 0;
  struct entry e = { .path = path };
  __builtin_memcpy(e.call, call, sizeof(e.call));
  bpf_map_update_elem(&start, &tid, &e, BPF_ANY);
  return 0;
}

static __always_inline int on_exit(long ret) {
  u64 id = bpf_get_current_pid_tgid();
  u32 tid = (u32)id;
  struct entry *s = bpf_map_lookup_elem(&start, &tid);
  if (!s) return 0;
  if (failed_only && ret >= 0) goto cleanup;
  struct event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
  if (!e) goto cleanup;
  e->ts = bpf_ktime_get_ns();
  e->pid = id >> 32;
  e->ret = ret;
  __builtin_memcpy(e->call, s->call, sizeof(e->call));
  bpf_get_current_comm(e->comm, sizeof(e->comm));
  bpf_probe_read_user_str(e->pathname, sizeof(e->pathname), s->path);
  bpf_ringbuf_submit(e, 0);
cleanup:
  bpf_map_delete_elem(&start, &tid);
  return 0;
}

#define STAT_PROBES(name, argn, call)                                      \
  static const char name##_call[8] = #call;                                \
  SEC("tracepoint/syscalls/sys_enter_" #name)                              \
  int name##_enter(struct trace_event_raw_sys_enter *ctx) {                \
    return on_enter((const char *)ctx->args[argn], name##_call);           \
  }                                                                        \
  SEC("tracepoint/syscalls/sys_exit_" #name)                               \
  int name##_exit(struct trace_event_raw_sys_exit *ctx) {                  \
    return on_exit(ctx->ret);                                              \
  }

STAT_PROBES(newstat, 0, stat)
STAT_PROBES(newlstat, 0, lstat)
STAT_PROBES(newfstatat, 1, fstatat)
STAT_PROBES(statx, 1, statx)
STAT_PROBES(statfs, 0, statfs)

char LICENSE[] SEC("license") = "GPL";
