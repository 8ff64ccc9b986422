// syscount: syscall counts (and total latency), by syscall or by process, from the
// raw_syscalls:sys_enter/sys_exit tracepoints.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>

struct data_t {
  u64 count;
  u64 total_ns;
  char comm[16];
};

/* Set before load (BPF.load's constants, the manifest's .rodata parameters): the verifier
 * sees them as constants and prunes the branches they turn off. */
const volatile u32 targ_pid = 0;
const volatile bool failed_only = false;
const volatile int filter_errno = 0; /* 0: any; else the errno (positive) */
const volatile bool by_process = false;
const volatile bool latency = false;
const volatile u32 targ_tid = 0;     /* -t */
const volatile u32 targ_ppid = 0;    /* -c: children of this process only */
const volatile bool filter_sys = false; /* --syscall */
const volatile u32 targ_sys = 0;

struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 10240);
  __type(key, u32);
  __type(value, u64);
} start SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 10240);
  __type(key, u32);
  __type(value, struct data_t);
} data SEC(".maps");

/* -p, -t, -c and --syscall. */
static __always_inline bool wanted(u64 id, long sys) {
  if (targ_pid && targ_pid != id >> 32) return false;
  if (targ_tid && targ_tid != (u32)id) return false;
  if (filter_sys && targ_sys != (u32)sys) return false;
  if (targ_ppid) {
    struct task_struct *t = (struct task_struct *)bpf_get_current_task();
    if ((u32)BPF_CORE_READ(t, real_parent, tgid) != targ_ppid) return false;
  }
  return true;
}

SEC("tracepoint/raw_syscalls/sys_enter")
int sys_enter(struct trace_event_raw_sys_enter *args) {
  if (!latency) return 0;
  long sys = args->id;
  u64 id = bpf_get_current_pid_tgid();
  if (!wanted(id, sys)) return 0;
  u32 tid = (u32)id;
  u64 ts = bpf_ktime_get_ns();
  bpf_map_update_elem(&start, &tid, &ts, BPF_ANY);
  return 0;
}

SEC("tracepoint/raw_syscalls/sys_exit")
int sys_exit(struct trace_event_raw_sys_exit *args) {
  /* The context is read first: the compiler may not keep a ctx pointer it offset. */
  long sys = args->id, ret = args->ret;
  u64 id = bpf_get_current_pid_tgid();
  u32 pid = id >> 32, tid = (u32)id;
  if (!wanted(id, sys)) return 0;
  if (sys < 0) return 0;
  u64 delta = 0;
  if (latency) {
    u64 *ts = bpf_map_lookup_elem(&start, &tid);
    if (!ts) return 0;
    delta = bpf_ktime_get_ns() - *ts;
    bpf_map_delete_elem(&start, &tid);
  }
  if (failed_only && ret >= 0) return 0;
  if (filter_errno && ret != -filter_errno) return 0;
  u32 key = by_process ? pid : (u32)sys;
  struct data_t *d = bpf_map_lookup_elem(&data, &key);
  if (!d) {
    struct data_t zero = {};
    bpf_map_update_elem(&data, &key, &zero, BPF_NOEXIST);
    d = bpf_map_lookup_elem(&data, &key);
    if (!d) return 0;
    if (by_process) bpf_get_current_comm(d->comm, sizeof(d->comm));
  }
  __sync_fetch_and_add(&d->count, 1);
  if (latency) __sync_fetch_and_add(&d->total_ns, delta);
  return 0;
}

char LICENSE[] SEC("license") = "GPL";
