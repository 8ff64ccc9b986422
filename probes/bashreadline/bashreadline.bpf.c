// bashreadline: the lines interactive bash shells read, from a uretprobe on readline():
// its return value is the line the user typed.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

struct event {
  u64 ts;
  u32 pid;
  char comm[16];
  char str[120];
};

/* Set before load (BPF.load's constants, the manifest's .rodata parameters): the verifier
 * sees them as constants and prunes the branches they turn off. */
const volatile bool any_comm = false; /* readline in a library: every process, not only bash */

struct event *_event_type __attribute__((unused));

struct {
  __uint(type, BPF_MAP_TYPE_RINGBUF);
  __uint(max_entries, 1 << 18);
} events SEC(".maps");

/* bash itself (readline linked in); mod.ts attaches its -b/-s binary instead. */
SEC("uretprobe/bash:readline")
int BPF_KRETPROBE(printret, const void *ret) {
  if (!ret) return 0;
  char comm[16];
  bpf_get_current_comm(comm, sizeof(comm));
  if (!any_comm && !(comm[0] == 'b' && comm[1] == 'a' && comm[2] == 's' && comm[3] == 'h' && comm[4] == 0)) return 0;
  struct event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
  if (!e) return 0;
  e->ts = bpf_ktime_get_ns();
  e->pid = bpf_get_current_pid_tgid() >> 32;
  __builtin_memcpy(e->comm, comm, sizeof(comm));
  bpf_probe_read_user_str(e->str, sizeof(e->str), ret);
  bpf_ringbuf_submit(e, 0);
  return 0;
}

char LICENSE[] SEC("license") = "GPL";
