// The events benchmark's producer side: every getppid() of the target process writes a
// 64-byte record into a 256 KiB ring buffer. Policy 0 wakes the consumer for every record,
// policy 1 every 64th (and for the last one, so no consumer is left waiting).
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

struct event {
	u64 seq;
	u64 ts;
	u32 pid;
	u32 cpu;
	char comm[16];
	u64 pad[3];
};

struct cfg {
	u32 pid;
	u32 policy;
	u64 count;
	u64 seq;
	u64 drops;
};

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 256 * 1024);
} events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, u32);
	__type(value, struct cfg);
} bench_cfg SEC(".maps");

struct event *_keep_event __attribute__((unused));

SEC("tracepoint/syscalls/sys_enter_getppid")
int on_getppid(void *ctx)
{
	u32 k = 0;
	struct cfg *c = bpf_map_lookup_elem(&bench_cfg, &k);
	if (!c || (u32)(bpf_get_current_pid_tgid() >> 32) != c->pid)
		return 0;
	u64 seq = c->seq++;
	struct event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		c->drops++;
		return 0;
	}
	e->seq = seq;
	e->ts = bpf_ktime_get_ns();
	e->pid = c->pid;
	e->cpu = bpf_get_smp_processor_id();
	bpf_get_current_comm(e->comm, sizeof(e->comm));
	u64 flags = BPF_RB_FORCE_WAKEUP;
	if (c->policy == 1 && (seq + 1) % 64 != 0 && seq + 1 != c->count)
		flags = BPF_RB_NO_WAKEUP;
	bpf_ringbuf_submit(e, flags);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
