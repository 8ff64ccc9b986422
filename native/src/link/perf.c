/* Perf-event links, shared by tracepoints, uprobes, kprobes and perf_event sampling: one or
 * more perf events, each connected to the program by a BPF_PERF_EVENT link where the kernel
 * has one (5.15+, carries the cookie), else by the older ioctl. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <linux/bpf.h>

#include "link.h"

static int perf_detach(struct bpfpm_link *l)
{
	struct perf_link *pl = (struct perf_link *)l;
	int ret = 0;
	for (int i = 0; i < pl->n; i++) {
		if (pl->ioctl && pl->fds[i] >= 0)
			ioctl(pl->fds[i], PERF_EVENT_IOC_DISABLE, 0);
		if (pl->fds[i] >= 0)
			close(pl->fds[i]);
		if (pl->perf_fds[i] >= 0)
			close(pl->perf_fds[i]);
		pl->fds[i] = pl->perf_fds[i] = -1;
	}
	if (pl->kprobe_event[0]) {
		char cmd[160];
		int fd = open(pl->kprobe_events_path, O_WRONLY | O_APPEND | O_CLOEXEC);
		if (fd >= 0) {
			int n = snprintf(cmd, sizeof(cmd), "-:%s\n", pl->kprobe_event);
			if (write(fd, cmd, n) < 0)
				ret = bpfpm_fail(errno, "removing kprobe event %s failed: %s", pl->kprobe_event,
						 strerror(errno));
			close(fd);
		}
	}
	l->fd = -1;
	return ret;
}

static void perf_dealloc(struct bpfpm_link *l)
{
	struct perf_link *pl = (struct perf_link *)l;
	free(pl->fds);
	free(pl->perf_fds);
	free(pl);
}

struct perf_link *perf_link_new(int n)
{
	struct perf_link *pl = calloc(1, sizeof(*pl));
	if (!pl)
		return bpfpm_fail_null(ENOMEM, "out of memory");
	link_init(&pl->link);
	pl->link.detach = perf_detach;
	pl->link.dealloc = perf_dealloc;
	pl->link.count = 0;
	pl->link.bpf_link = 1;
	pl->fds = calloc(n > 0 ? n : 1, sizeof(int));
	pl->perf_fds = calloc(n > 0 ? n : 1, sizeof(int));
	if (!pl->fds || !pl->perf_fds) {
		perf_dealloc(&pl->link);
		return bpfpm_fail_null(ENOMEM, "out of memory");
	}
	for (int i = 0; i < n; i++)
		pl->fds[i] = pl->perf_fds[i] = -1;
	return pl;
}

int perf_link_connect(struct perf_link *pl, int i, int prog_fd, int pfd, uint64_t cookie)
{
	LIBBPF_OPTS(bpf_link_create_opts, opts, .perf_event.bpf_cookie = cookie);
	int lfd = bpf_link_create(prog_fd, pfd, BPF_PERF_EVENT, &opts);
	if (lfd >= 0) {
		pl->fds[i] = lfd;
		pl->perf_fds[i] = pfd;
	} else {
		int err = errno;
		if (err != EINVAL && err != EOPNOTSUPP)
			return -err;
		if (cookie)
			return -EOPNOTSUPP;
		if (ioctl(pfd, PERF_EVENT_IOC_SET_BPF, prog_fd) < 0 || ioctl(pfd, PERF_EVENT_IOC_ENABLE, 0) < 0)
			return -errno;
		pl->ioctl = 1;
		pl->link.bpf_link = 0;
		pl->fds[i] = pfd;
	}
	if (i >= pl->n)
		pl->n = i + 1;
	pl->link.count = pl->n;
	pl->link.fd = pl->fds[0];
	return 0;
}

struct bpfpm_link *perf_link_of(int prog_fd, int pfd, uint64_t cookie, int *err)
{
	struct perf_link *pl = perf_link_new(1);
	if (!pl) {
		close(pfd);
		*err = ENOMEM;
		return NULL;
	}
	int ret = perf_link_connect(pl, 0, prog_fd, pfd, cookie);
	if (ret < 0) {
		close(pfd);
		bpfpm_link__destroy(&pl->link);
		*err = -ret;
		return NULL;
	}
	return &pl->link;
}

long perf_event_open(struct perf_event_attr *attr, int pid, int cpu, int group, unsigned long flags)
{
	return syscall(__NR_perf_event_open, attr, pid, cpu, group, flags);
}

struct perf_event_attr perf_attr(uint32_t type, uint64_t config)
{
	struct perf_event_attr attr;
	memset(&attr, 0, sizeof(attr));
	attr.size = sizeof(attr);
	attr.type = type;
	attr.config = config;
	return attr;
}

int perf_open_tracepoint(int id)
{
	struct perf_event_attr attr = perf_attr(PERF_TYPE_TRACEPOINT, id);
	return perf_event_open(&attr, -1, 0, -1, PERF_FLAG_FD_CLOEXEC);
}

int pmu_format_bit(const char *pmu, const char *field)
{
	char path[256], buf[64];
	snprintf(path, sizeof(path), "/sys/bus/event_source/devices/%s/format/%s", pmu, field);
	FILE *f = fopen(path, "re");
	if (!f)
		return -1;
	int bit = -1;
	if (fgets(buf, sizeof(buf), f) && sscanf(buf, "config:%d", &bit) != 1)
		bit = -1;
	fclose(f);
	return bit;
}

struct perf_event_attr probe_attr(const char *pmu, int type, int retprobe, const char *name, uint64_t offset)
{
	struct perf_event_attr attr = perf_attr(type, 0);
	if (retprobe) {
		int bit = pmu_format_bit(pmu, "retprobe");
		attr.config |= 1ull << (bit < 0 ? 0 : bit);
	}
	attr.config1 = (uint64_t)(uintptr_t)name;
	attr.config2 = offset;
	return attr;
}

const char *perf_bpf_reason(int err)
{
	switch (err) {
	case EINVAL:
		return "the program's type does not fit this event (a probe needs a kprobe/uprobe program)";
	case EEXIST:
		return "a program is already attached to this event";
	case EPERM:
	case EACCES:
		return "permission denied (needs CAP_BPF and CAP_PERFMON)";
	default:
		return strerror(err);
	}
}
