/* perf_event sampling: one perf event per CPU (or one for a pid/CPU), all in one link. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "link.h"

static int online_cpus(int *cpus, int max)
{
	FILE *f = fopen("/sys/devices/system/cpu/online", "re");
	if (!f)
		return -errno;
	char buf[1024];
	int n = 0;
	if (fgets(buf, sizeof(buf), f)) {
		char *s = buf;
		while (*s && *s != '\n') {
			int a, b;
			int used;
			if (sscanf(s, "%d%n", &a, &used) != 1)
				break;
			s += used;
			b = a;
			if (*s == '-') {
				s++;
				if (sscanf(s, "%d%n", &b, &used) != 1)
					break;
				s += used;
			}
			for (int c = a; c <= b && n < max; c++)
				cpus[n++] = c;
			if (*s == ',')
				s++;
		}
	}
	fclose(f);
	return n;
}

BPFPM_API struct bpfpm_link *bpfpm_program__attach_perf_event(int prog_fd, uint32_t type, uint64_t config,
							       uint64_t sample, uint32_t flags, int32_t pid,
							       int32_t cpu)
{
	bpfpm_clear_error();
	int cpus[1024];
	int ncpu;
	if (cpu >= 0) {
		cpus[0] = cpu;
		ncpu = 1;
	} else if (pid >= 0) {
		cpus[0] = -1;
		ncpu = 1;
	} else {
		ncpu = online_cpus(cpus, 1024);
		if (ncpu <= 0)
			return bpfpm_fail_null(ncpu < 0 ? -ncpu : ENOENT, "cannot read the online CPUs");
	}
	struct perf_link *pl = perf_link_new(ncpu);
	if (!pl)
		return NULL;
	for (int i = 0; i < ncpu; i++) {
		struct perf_event_attr attr = perf_attr(type, config);
		attr.sample_period = sample;
		attr.freq = (flags & BPFPM_PERF_FREQ) != 0;
		int pfd = perf_event_open(&attr, pid >= 0 ? pid : -1, cpus[i], -1, PERF_FLAG_FD_CLOEXEC);
		if (pfd < 0) {
			int err = errno;
			bpfpm_link__destroy(&pl->link);
			if (err == ESRCH)
				return bpfpm_fail_null(err, "process %d does not exist (it may have exited)", pid);
			if (err == ENOENT || err == EOPNOTSUPP)
				return bpfpm_fail_null(err,
						       "this kernel or machine has no perf event type %u config %llu (%s); "
						       "virtual machines often lack hardware counters: use a software "
						       "event such as cpu-clock",
						       type, (unsigned long long)config, strerror(err));
			return bpfpm_fail_null(err, "opening perf event type %u config %llu on CPU %d failed: %s",
					       type, (unsigned long long)config, cpus[i], strerror(err));
		}
		int ret = perf_link_connect(pl, i, prog_fd, pfd, 0);
		if (ret < 0) {
			close(pfd);
			bpfpm_link__destroy(&pl->link);
			return bpfpm_fail_null(-ret, "attaching the program to the perf event failed: %s",
					       -ret == EINVAL ? "the program must be a perf_event program "
								"(SEC(\"perf_event\"))"
							      : strerror(-ret));
		}
	}
	return &pl->link;
}
