/* kprobes and kretprobes: a perf event of the kprobe PMU (4.17+), or an entry written to
 * tracefs kprobe_events (maxactive, or kernels without the PMU), removed again on detach. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "bpfpm_features.h"
#include "link.h"

static void *no_kprobes(const char *what)
{
	return bpfpm_fail_null(EOPNOTSUPP,
			       "cannot attach %s: this kernel has no kprobes (CONFIG_KPROBES is not set); use a "
			       "tracepoint (e.g. syscalls:sys_enter_*) or a kernel built with CONFIG_KPROBES=y",
			       what);
}

/* Connects prog_fd to the kprobe's perf event pfd as event 0 of pl; NULL with the error set
 * (pl destroyed, pfd closed) on failure. */
static struct bpfpm_link *kprobe_connect(struct perf_link *pl, int prog_fd, int pfd, const char *func,
					 uint64_t cookie)
{
	int ret = perf_link_connect(pl, 0, prog_fd, pfd, cookie);
	if (ret < 0) {
		close(pfd);
		bpfpm_link__destroy(&pl->link);
		return bpfpm_fail_null(-ret, "attaching the program to kprobe %s failed: %s", func,
				       perf_bpf_reason(-ret));
	}
	return &pl->link;
}

static struct bpfpm_link *kprobe_legacy(int prog_fd, const char *func, uint64_t offset, int retprobe,
					int maxactive, uint64_t cookie)
{
	static int seq;
	char dir[64], path[192], event[64], cmd[256];
	if (bpfpm_tracefs_dir(dir, sizeof(dir)) < 0)
		return bpfpm_fail_null(ENOENT, "tracefs is not mounted: run mount -t tracefs tracefs /sys/kernel/tracing");
	snprintf(event, sizeof(event), "bpfpm_%d_%d", getpid(), __sync_add_and_fetch(&seq, 1));
	char maxa[16] = "";
	if (retprobe && maxactive > 0)
		snprintf(maxa, sizeof(maxa), "%d", maxactive);
	int n = snprintf(cmd, sizeof(cmd), "%c%s:bpfpm/%s %s+%llu\n", retprobe ? 'r' : 'p', maxa, event, func,
			 (unsigned long long)offset);
	snprintf(path, sizeof(path), "%s/kprobe_events", dir);
	int fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC);
	if (fd < 0)
		return no_kprobes(func);
	if (write(fd, cmd, n) < 0) {
		int err = errno;
		close(fd);
		return bpfpm_fail_null(err, "creating a kprobe on %s failed: %s (is the symbol in /proc/kallsyms?)",
				       func, strerror(err));
	}
	close(fd);
	struct perf_link *pl = perf_link_new(1);
	if (!pl)
		return NULL;
	/* From here on, destroying pl removes the kprobe_events entry. */
	snprintf(pl->kprobe_event, sizeof(pl->kprobe_event), "bpfpm/%s", event);
	snprintf(pl->kprobe_events_path, sizeof(pl->kprobe_events_path), "%s/kprobe_events", dir);
	snprintf(path, sizeof(path), "%s/events/bpfpm/%s/id", dir, event);
	int id;
	if (bpfpm_read_int_file(path, &id) < 0) {
		bpfpm_link__destroy(&pl->link);
		return bpfpm_fail_null(ENOENT, "kprobe event %s has no id", event);
	}
	int pfd = perf_open_tracepoint(id);
	if (pfd < 0) {
		int err = errno;
		bpfpm_link__destroy(&pl->link);
		return bpfpm_fail_null(err, "opening kprobe event %s failed: %s", event, strerror(err));
	}
	return kprobe_connect(pl, prog_fd, pfd, func, cookie);
}

BPFPM_API struct bpfpm_link *bpfpm_program__attach_kprobe(int prog_fd, const char *func, uint64_t offset,
							   uint32_t flags, int32_t maxactive, uint64_t cookie)
{
	bpfpm_clear_error();
	int retprobe = (flags & BPFPM_PROBE_RETURN) != 0;
	int type;
	if (bpfpm_read_int_file("/sys/bus/event_source/devices/kprobe/type", &type) < 0 || maxactive > 0) {
		if (!bpfpm_probe__kprobes())
			return no_kprobes(func);
		return kprobe_legacy(prog_fd, func, offset, retprobe, maxactive, cookie);
	}
	struct perf_event_attr attr = probe_attr("kprobe", type, retprobe, func, offset);
	int pfd = perf_event_open(&attr, -1, 0, -1, PERF_FLAG_FD_CLOEXEC);
	if (pfd < 0) {
		int err = errno;
		return bpfpm_fail_null(err, "opening a %s on %s+%llu failed: %s (is the symbol in /proc/kallsyms?)",
				       retprobe ? "kretprobe" : "kprobe", func, (unsigned long long)offset,
				       strerror(err));
	}
	struct perf_link *pl = perf_link_new(1);
	if (!pl) {
		close(pfd);
		return NULL;
	}
	return kprobe_connect(pl, prog_fd, pfd, func, cookie);
}
