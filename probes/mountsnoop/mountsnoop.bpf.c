// mountsnoop: mount() and umount() (umount2), and the new mount API (fsopen, fsconfig,
// fsmount, move_mount) that newer mount(8)s use, from their syscall tracepoints: the arguments
// at entry, the result at return, and the caller's mount namespace.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>

struct event {
  u64 ts;
  u64 flags;
  u32 pid;
  u32 tid;
  u32 mnt_ns;
  int ret;
  u32 op; /* 0 mount, 1 umount, 2 fsopen, 3 fsconfig, 4 fsmount, 5 move_mount */
  int fd1;     /* fsconfig/fsmount: the fs fd; move_mount: from_dfd */
  int fd2;     /* move_mount: to_dfd; fsconfig: aux */
  u32 cmd;     /* fsconfig: the command */
  u64 flags2;  /* fsmount: attr_flags */
  char comm[16];
  char fs[32];
  char src[256];
  char dest[256];
  char data[128];
};

/* Set before load (BPF.load's constants, the manifest's .rodata parameters): the verifier
 * sees them as constants and prunes the branches they turn off. */
const volatile u32 targ_pid = 0;

static const struct event empty_event = {};

struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 1024);
  __type(key, u32);
  __type(value, struct event);
} start SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_RINGBUF);
  __uint(max_entries, 1 << 20);
} events SEC(".maps");

static __always_inline struct event *begin(u32 op) {
  u64 id = bpf_get_current_pid_tgid();
  u32 tid = (u32)id;
  if (targ_pid && targ_pid != id >> 32) return NULL;
  if (bpf_map_update_elem(&start, &tid, &empty_event, BPF_ANY)) return NULL;
  struct event *e = bpf_map_lookup_elem(&start, &tid);
  if (!e) return NULL;
  e->pid = id >> 32;
  e->tid = tid;
  e->op = op;
  struct task_struct *task = (struct task_struct *)bpf_get_current_task();
  e->mnt_ns = BPF_CORE_READ(task, nsproxy, mnt_ns, ns.inum);
  bpf_get_current_comm(e->comm, sizeof(e->comm));
  return e;
}

static __always_inline int finish(long ret) {
  u32 tid = (u32)bpf_get_current_pid_tgid();
  struct event *e = bpf_map_lookup_elem(&start, &tid);
  if (!e) return 0;
  e->ret = ret;
  e->ts = bpf_ktime_get_ns();
  bpf_ringbuf_output(&events, e, sizeof(*e), 0);
  bpf_map_delete_elem(&start, &tid);
  return 0;
}

SEC("tracepoint/syscalls/sys_enter_mount")
int mount_enter(struct trace_event_raw_sys_enter *ctx) {
  struct event *e = begin(0);
  if (!e) return 0;
  bpf_probe_read_user_str(e->src, sizeof(e->src), (void *)ctx->args[0]);
  bpf_probe_read_user_str(e->dest, sizeof(e->dest), (void *)ctx->args[1]);
  bpf_probe_read_user_str(e->fs, sizeof(e->fs), (void *)ctx->args[2]);
  e->flags = ctx->args[3];
  bpf_probe_read_user_str(e->data, sizeof(e->data), (void *)ctx->args[4]);
  return 0;
}

SEC("tracepoint/syscalls/sys_exit_mount")
int mount_exit(struct trace_event_raw_sys_exit *ctx) { return finish(ctx->ret); }

SEC("tracepoint/syscalls/sys_enter_umount")
int umount_enter(struct trace_event_raw_sys_enter *ctx) {
  struct event *e = begin(1);
  if (!e) return 0;
  bpf_probe_read_user_str(e->dest, sizeof(e->dest), (void *)ctx->args[0]);
  e->flags = ctx->args[1];
  return 0;
}

SEC("tracepoint/syscalls/sys_exit_umount")
int umount_exit(struct trace_event_raw_sys_exit *ctx) { return finish(ctx->ret); }

SEC("tracepoint/syscalls/sys_enter_fsopen")
int fsopen_enter(struct trace_event_raw_sys_enter *ctx) {
  struct event *e = begin(2);
  if (!e) return 0;
  bpf_probe_read_user_str(e->fs, sizeof(e->fs), (void *)ctx->args[0]);
  e->flags = ctx->args[1];
  return 0;
}

SEC("tracepoint/syscalls/sys_exit_fsopen")
int fsopen_exit(struct trace_event_raw_sys_exit *ctx) { return finish(ctx->ret); }

SEC("tracepoint/syscalls/sys_enter_fsconfig")
int fsconfig_enter(struct trace_event_raw_sys_enter *ctx) {
  struct event *e = begin(3);
  if (!e) return 0;
  e->fd1 = ctx->args[0];
  e->cmd = ctx->args[1];
  bpf_probe_read_user_str(e->src, sizeof(e->src), (void *)ctx->args[2]);
  /* FSCONFIG_SET_STRING (1): the value is a string */
  if (e->cmd == 1) bpf_probe_read_user_str(e->data, sizeof(e->data), (void *)ctx->args[3]);
  e->fd2 = ctx->args[4];
  return 0;
}

SEC("tracepoint/syscalls/sys_exit_fsconfig")
int fsconfig_exit(struct trace_event_raw_sys_exit *ctx) { return finish(ctx->ret); }

SEC("tracepoint/syscalls/sys_enter_fsmount")
int fsmount_enter(struct trace_event_raw_sys_enter *ctx) {
  struct event *e = begin(4);
  if (!e) return 0;
  e->fd1 = ctx->args[0];
  e->flags = ctx->args[1];
  e->flags2 = ctx->args[2];
  return 0;
}

SEC("tracepoint/syscalls/sys_exit_fsmount")
int fsmount_exit(struct trace_event_raw_sys_exit *ctx) { return finish(ctx->ret); }

SEC("tracepoint/syscalls/sys_enter_move_mount")
int move_mount_enter(struct trace_event_raw_sys_enter *ctx) {
  struct event *e = begin(5);
  if (!e) return 0;
  e->fd1 = ctx->args[0];
  bpf_probe_read_user_str(e->src, sizeof(e->src), (void *)ctx->args[1]);
  e->fd2 = ctx->args[2];
  bpf_probe_read_user_str(e->dest, sizeof(e->dest), (void *)ctx->args[3]);
  e->flags = ctx->args[4];
  return 0;
}

SEC("tracepoint/syscalls/sys_exit_move_mount")
int move_mount_exit(struct trace_event_raw_sys_exit *ctx) { return finish(ctx->ret); }

char LICENSE[] SEC("license") = "GPL";
