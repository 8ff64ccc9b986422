/* Container filters, as BCC's tools have them (docs/special_filtering.md there), for a BPF
 * program that includes this once (#include <bpfpm/container.h>) and starts each event with
 * `if (container_excluded()) return 0;`. Set from user space before load (probes/_shared/
 * container.ts builds both):
 *   --cgroup PATH     targ_cgid: one cgroup v2's id (its directory's inode), 0 for any;
 *   --cgroupmap PATH  filter_cgroup_map, and cgroup_map taken from the user's pin (BPF.load's
 *                     reuseMaps): a hash keyed by u64 cgroup id;
 *   --mntnsmap PATH   filter_mntns_map, and mntns_map from the user's pin: a hash keyed by
 *                     u64 mount namespace inode.
 * Only the keys of a map count; its values are never read. Without the flags the maps stay
 * the one-entry placeholders below and the verifier prunes the lookups (constants). */
#ifndef BPFPM_CONTAINER_H
#define BPFPM_CONTAINER_H

const volatile u64 targ_cgid = 0;
const volatile bool filter_cgroup_map = false;
const volatile bool filter_mntns_map = false;

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1);
	__type(key, u64);
	__type(value, u64);
} cgroup_map SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1);
	__type(key, u64);
	__type(value, u32);
} mntns_map SEC(".maps");

/* Whether the current task is outside the containers asked for. */
static __always_inline bool container_excluded(void)
{
	if (targ_cgid && bpf_get_current_cgroup_id() != targ_cgid)
		return true;
	if (filter_cgroup_map) {
		u64 cgid = bpf_get_current_cgroup_id();
		if (!bpf_map_lookup_elem(&cgroup_map, &cgid))
			return true;
	}
	if (filter_mntns_map) {
		struct task_struct *task = (struct task_struct *)bpf_get_current_task();
		u64 mntns = BPF_CORE_READ(task, nsproxy, mnt_ns, ns.inum);
		if (!bpf_map_lookup_elem(&mntns_map, &mntns))
			return true;
	}
	return false;
}

#endif
