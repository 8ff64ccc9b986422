/* uprobes and uretprobes: a perf event of the uprobe PMU on a binary's file offset. */
#include <errno.h>
#include <string.h>

#include "link.h"

BPFPM_API struct bpfpm_link *bpfpm_program__attach_uprobe(int prog_fd, const char *binary, uint64_t offset,
							   int32_t pid, uint32_t flags, uint64_t ref_ctr_offset,
							   uint64_t cookie)
{
	bpfpm_clear_error();
	int type;
	if (bpfpm_read_int_file("/sys/bus/event_source/devices/uprobe/type", &type) < 0)
		return bpfpm_fail_null(EOPNOTSUPP, "this kernel has no uprobe PMU (/sys/bus/event_source/devices/uprobe "
						   "is missing; CONFIG_UPROBE_EVENTS is not set)");
	struct perf_event_attr attr = probe_attr("uprobe", type, flags & BPFPM_PROBE_RETURN, binary, offset);
	if (ref_ctr_offset) {
		int bit = pmu_format_bit("uprobe", "ref_ctr_offset");
		if (bit < 0)
			return bpfpm_fail_null(EOPNOTSUPP, "this kernel cannot count USDT semaphores in uprobes (needs 4.20+)");
		attr.config |= ref_ctr_offset << bit;
	}
	int pfd = perf_event_open(&attr, pid >= 0 ? pid : -1, pid >= 0 ? -1 : 0, -1, PERF_FLAG_FD_CLOEXEC);
	if (pfd < 0) {
		int err = errno;
		if (err == ESRCH)
			return bpfpm_fail_null(err, "process %d does not exist (it may have exited): pass a live pid or none",
					       pid);
		if (err == ENOENT)
			return bpfpm_fail_null(err, "binary %s does not exist", binary);
		return bpfpm_fail_null(err, "opening a %s on %s+0x%llx failed: %s",
				       flags & BPFPM_PROBE_RETURN ? "uretprobe" : "uprobe", binary,
				       (unsigned long long)offset, strerror(err));
	}
	int err;
	struct bpfpm_link *l = perf_link_of(prog_fd, pfd, cookie, &err);
	if (!l)
		return bpfpm_fail_null(err, "attaching the program to the uprobe on %s+0x%llx failed: %s", binary,
				       (unsigned long long)offset, perf_bpf_reason(err));
	return l;
}
