/* Tracepoints (a perf event on tracefs events/<category>/<event>) and raw tracepoints. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <bpf/bpf.h>

#include "link.h"

BPFPM_API struct bpfpm_link *bpfpm_program__attach_tracepoint(int prog_fd, const char *category,
							       const char *event)
{
	bpfpm_clear_error();
	char dir[64], path[512];
	if (bpfpm_tracefs_dir(dir, sizeof(dir)) < 0)
		return bpfpm_fail_null(ENOENT, "tracefs is not mounted: run mount -t tracefs tracefs /sys/kernel/tracing");
	snprintf(path, sizeof(path), "%s/events/%s/%s/id", dir, category, event);
	int id, r = bpfpm_read_int_file(path, &id);
	if (r < 0)
		return bpfpm_fail_null(-r, "tracepoint %s:%s does not exist (%s: %s)", category, event, path,
				       strerror(-r));
	int pfd = perf_open_tracepoint(id);
	if (pfd < 0) {
		int err = errno;
		return bpfpm_fail_null(err, "opening tracepoint %s:%s failed: %s", category, event, strerror(err));
	}
	int err;
	struct bpfpm_link *l = perf_link_of(prog_fd, pfd, 0, &err);
	if (!l)
		return bpfpm_fail_null(err, "attaching to tracepoint %s:%s failed: %s", category, event,
				       err == EINVAL ? "the program must be a tracepoint program (SEC(\"tracepoint/...\"))"
						     : perf_bpf_reason(err));
	return l;
}

BPFPM_API struct bpfpm_link *bpfpm_program__attach_raw_tracepoint(int prog_fd, const char *name)
{
	bpfpm_clear_error();
	int fd = bpf_raw_tracepoint_open(name, prog_fd);
	if (fd < 0) {
		int err = errno;
		if (err == ENOENT)
			return bpfpm_fail_null(err, "raw tracepoint %s does not exist", name);
		return bpfpm_fail_null(err, "attaching to raw tracepoint %s failed: %s", name,
				       err == EINVAL ? "the program must be a raw tracepoint program (SEC(\"raw_tp/...\"))"
						     : strerror(err));
	}
	return link_of_fd(fd, 1);
}
