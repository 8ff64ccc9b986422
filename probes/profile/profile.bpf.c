// profile: samples stacks at a timed interval on every CPU (a perf_event program on the
// cpu-clock software event) and counts them by kernel and user stack.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpfpm/container.h>

#define PF_KTHREAD 0x00200000

struct key_t {
  u32 pid;
  u32 tgid;
  int user_stack_id;
  int kern_stack_id;
  char comm[16];
};

/* Set before load (BPF.load's constants, the manifest's .rodata parameters): the verifier
 * sees them as constants and prunes the filters left off. */
const volatile u32 targ_tgid = 0; /* -p: 0 any */
const volatile u32 targ_pid = 0;  /* -L: 0 any */
const volatile bool include_idle = false;
const volatile bool user_only = false;
const volatile bool kernel_only = false;

struct {
  __uint(type, BPF_MAP_TYPE_STACK_TRACE);
  __uint(max_entries, 4096);
  __uint(key_size, sizeof(u32));
  __uint(value_size, 127 * sizeof(u64));
} stacks SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 10240);
  __type(key, struct key_t);
  __type(value, u64);
} counts SEC(".maps");

SEC("perf_event")
int do_perf_event(struct bpf_perf_event_data *ctx) {
  u64 id = bpf_get_current_pid_tgid();
  u32 tgid = id >> 32, pid = (u32)id;
  if (!pid && !include_idle) return 0;
  if (targ_tgid && targ_tgid != tgid) return 0;
  if (targ_pid && targ_pid != pid) return 0;
  if (container_excluded()) return 0;
  struct key_t key = { .pid = pid, .tgid = tgid };
  bpf_get_current_comm(key.comm, sizeof(key.comm));
  key.kern_stack_id = user_only ? -1 : bpf_get_stackid(ctx, &stacks, 0);
  key.user_stack_id = kernel_only || !pid ? -1 : bpf_get_stackid(ctx, &stacks, BPF_F_USER_STACK);
  u64 zero = 0, *v = bpf_map_lookup_elem(&counts, &key);
  if (!v) {
    bpf_map_update_elem(&counts, &key, &zero, BPF_NOEXIST);
    v = bpf_map_lookup_elem(&counts, &key);
    if (!v) return 0;
  }
  __sync_fetch_and_add(v, 1);
  return 0;
}

char LICENSE[] SEC("license") = "GPL";
