// killsnoop: signals sent by kill(), tkill() and tgkill(), from their syscall tracepoints,
// with the result of the call.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

struct event {
  u64 ts;
  u32 pid;
  int tpid;
  int sig;
  int ret;
  char call[8]; /* kill, tkill or tgkill: the name, so the record says it on any arch */
  char comm[16];
};

/* Set before load (BPF.load's constants, the manifest's .rodata parameters): the verifier
 * sees them as constants and prunes the branches they turn off. */
const volatile u32 targ_pid = 0;
const volatile u32 targ_sig = 0;  /* 0: any signal */
const volatile u32 targ_tpid = 0; /* 0: any target */
const volatile bool failed_only = false;

struct event *_event_type __attribute__((unused));

struct entry {
  int tpid;
  int sig;
  char call[8];
};

static const char call_kill[8] = "kill", call_tkill[8] = "tkill", call_tgkill[8] = "tgkill";

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

static __always_inline int on_enter(int tpid, int sig, const char *call) {
  u64 id = bpf_get_current_pid_tgid();
  u32 tid = (u32)id;
  if (targ_pid && targ_pid != id >> 32) return 0;
  if (targ_sig && targ_sig != (u32)sig) return 0;
  if (targ_tpid && targ_tpid != (u32)tpid) return 0;
  struct entry e = { .tpid = tpid, .sig = sig };
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
  e->tpid = s->tpid;
  e->sig = s->sig;
  e->ret = ret;
  __builtin_memcpy(e->call, s->call, sizeof(e->call));
  bpf_get_current_comm(e->comm, sizeof(e->comm));
  bpf_ringbuf_submit(e, 0);
cleanup:
  bpf_map_delete_elem(&start, &tid);
  return 0;
}

SEC("tracepoint/syscalls/sys_enter_kill")
int kill_enter(struct trace_event_raw_sys_enter *ctx) {
  return on_enter((int)ctx->args[0], (int)ctx->args[1], call_kill);
}
SEC("tracepoint/syscalls/sys_exit_kill")
int kill_exit(struct trace_event_raw_sys_exit *ctx) { return on_exit(ctx->ret); }

SEC("tracepoint/syscalls/sys_enter_tkill")
int tkill_enter(struct trace_event_raw_sys_enter *ctx) {
  return on_enter((int)ctx->args[0], (int)ctx->args[1], call_tkill);
}
SEC("tracepoint/syscalls/sys_exit_tkill")
int tkill_exit(struct trace_event_raw_sys_exit *ctx) { return on_exit(ctx->ret); }

SEC("tracepoint/syscalls/sys_enter_tgkill")
int tgkill_enter(struct trace_event_raw_sys_enter *ctx) {
  return on_enter((int)ctx->args[1], (int)ctx->args[2], call_tgkill);
}
SEC("tracepoint/syscalls/sys_exit_tgkill")
int tgkill_exit(struct trace_event_raw_sys_exit *ctx) { return on_exit(ctx->ret); }

char LICENSE[] SEC("license") = "GPL";
