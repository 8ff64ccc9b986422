/* Kernel files and process facts the runtime needs before loading. Read natively because
 * Deno grants /sys and /proc reads only with --allow-all, while --allow-ffi on this library
 * already implies that access. */
#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <malloc.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

BPFPM_API int64_t bpfpm_file__read(const char *path, void *buf, uint64_t cap)
{
	bpfpm_clear_error();
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return bpfpm_fail(errno, "cannot open %s: %s", path, strerror(errno));
	uint64_t got = 0;
	while (got < cap) {
		ssize_t n = read(fd, (char *)buf + got, cap - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int err = errno;
			close(fd);
			return bpfpm_fail(err, "cannot read %s: %s", path, strerror(err));
		}
		if (n == 0)
			break;
		got += n;
	}
	close(fd);
	return (int64_t)got;
}

BPFPM_API int bpfpm_file__exists(const char *path)
{
	bpfpm_clear_error();
	struct stat st;
	if (stat(path, &st))
		return bpfpm_fail(errno, "cannot stat %s: %s", path, strerror(errno));
	return 0;
}

BPFPM_API int bpfpm_process__effective_caps(uint64_t *out)
{
	bpfpm_clear_error();
	struct __user_cap_header_struct hdr = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
	struct __user_cap_data_struct data[2];
	memset(data, 0, sizeof(data));
	if (syscall(SYS_capget, &hdr, data))
		return bpfpm_fail(errno, "capget failed: %s", strerror(errno));
	*out = (uint64_t)data[0].effective | ((uint64_t)data[1].effective << 32);
	return 0;
}

BPFPM_API uint64_t bpfpm_string__copy(const char *s, void *buf, uint64_t cap)
{
	size_t n = s ? strlen(s) : 0;
	if (cap) {
		size_t k = n < cap - 1 ? n : cap - 1;
		if (k)
			memcpy(buf, s, k);
		((char *)buf)[k] = '\0';
	}
	return n;
}

int bpfpm_read_int_file(const char *path, int *out)
{
	FILE *f = fopen(path, "re");
	if (!f)
		return -errno;
	int ok = fscanf(f, "%d", out) == 1;
	fclose(f);
	return ok ? 0 : -EINVAL;
}

int bpfpm_tracefs_dir(char *out, size_t n)
{
	if (access("/sys/kernel/tracing/events", F_OK) == 0) {
		snprintf(out, n, "/sys/kernel/tracing");
		return 0;
	}
	if (access("/sys/kernel/debug/tracing/events", F_OK) == 0) {
		snprintf(out, n, "/sys/kernel/debug/tracing");
		return 0;
	}
	return -ENOENT;
}

static int64_t ns_of(const struct timespec *t)
{
	return (int64_t)t->tv_sec * 1000000000 + t->tv_nsec;
}

BPFPM_API int64_t bpfpm_clock__boot_ns(void)
{
	/* monotonic, realtime, monotonic: the realtime read is taken to be at the midpoint; the
	 * narrowest of five brackets bounds the error by half its width. */
	int64_t best = 0, width = INT64_MAX;
	for (int i = 0; i < 5; i++) {
		struct timespec a, r, b;
		clock_gettime(CLOCK_MONOTONIC, &a);
		clock_gettime(CLOCK_REALTIME, &r);
		clock_gettime(CLOCK_MONOTONIC, &b);
		int64_t w = ns_of(&b) - ns_of(&a);
		if (w < width) {
			width = w;
			best = ns_of(&r) - (ns_of(&a) + w / 2);
		}
	}
	return best;
}

BPFPM_API int bpfpm_memory__tune(int arena_max, int mmap_threshold)
{
	/* mallopt returns 1 on success, 0 on a value it refuses. A fixed M_MMAP_THRESHOLD also
	 * stops glibc raising it after each large free; the trim threshold follows it. */
	if (!mallopt(M_ARENA_MAX, arena_max) || !mallopt(M_MMAP_THRESHOLD, mmap_threshold) ||
	    !mallopt(M_TRIM_THRESHOLD, mmap_threshold))
		return -EINVAL;
	return 0;
}

BPFPM_API int bpfpm_memory__trim(void) { return malloc_trim(0); }
