/* BPF iterators: a link that each pass opens an fd of, whose read() runs the program. */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include <bpf/bpf.h>

#include "link.h"

BPFPM_API struct bpfpm_link *bpfpm_program__attach_iter(int prog_fd)
{
	bpfpm_clear_error();
	int fd = bpf_link_create(prog_fd, 0, BPF_TRACE_ITER, NULL);
	if (fd < 0)
		return bpfpm_fail_null(errno, "creating the iterator link failed: %s",
				       errno == EINVAL ? "the program must be an iterator (SEC(\"iter/task\") etc.)"
						       : strerror(errno));
	return link_of_fd(fd, 1);
}

BPFPM_API int bpfpm_link__iter_open(const struct bpfpm_link *l)
{
	bpfpm_clear_error();
	if (!l || !l->bpf_link || l->fd < 0)
		return bpfpm_fail(EINVAL, "not an iterator link");
	int fd = bpf_iter_create(l->fd);
	if (fd < 0)
		return bpfpm_fail(errno, "starting the iterator failed: %s", strerror(errno));
	return fd;
}

BPFPM_API int64_t bpfpm_iter__read(int fd, uint8_t *buf, uint64_t cap)
{
	for (;;) {
		ssize_t n = read(fd, buf, cap);
		if (n >= 0)
			return n;
		if (errno != EINTR && errno != EAGAIN)
			return bpfpm_fail(errno, "reading the iterator failed: %s", strerror(errno));
	}
}

BPFPM_API int bpfpm_fd__close(int fd) { return close(fd) < 0 ? -errno : 0; }
