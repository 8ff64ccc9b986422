/* tracefs: mounting it, and reading trace_pipe without blocking the caller's event loop
 * (reads wait in poll on a worker thread and can be cancelled through an eventfd). */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mount.h>
#include <unistd.h>

#include "internal.h"

struct bpfpm_trace_pipe {
	int fd;
	int cancel_fd;
};

BPFPM_API int bpfpm_tracefs__mount(const char *path)
{
	bpfpm_clear_error();
	if (mount("tracefs", path, "tracefs", 0, NULL))
		return bpfpm_fail(errno, "cannot mount tracefs at %s: %s", path, strerror(errno));
	return 0;
}

BPFPM_API struct bpfpm_trace_pipe *bpfpm_trace_pipe__open(const char *path)
{
	bpfpm_clear_error();
	struct bpfpm_trace_pipe *tp = calloc(1, sizeof(*tp));
	if (!tp) {
		bpfpm_fail(ENOMEM, "out of memory opening %s", path);
		return NULL;
	}
	tp->fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	if (tp->fd < 0) {
		bpfpm_fail(errno, "cannot open %s: %s", path, strerror(errno));
		free(tp);
		return NULL;
	}
	tp->cancel_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (tp->cancel_fd < 0) {
		bpfpm_fail(errno, "cannot create an eventfd: %s", strerror(errno));
		close(tp->fd);
		free(tp);
		return NULL;
	}
	return tp;
}

BPFPM_API int64_t bpfpm_trace_pipe__read(struct bpfpm_trace_pipe *tp, void *buf, uint64_t len)
{
	for (;;) {
		struct pollfd fds[2] = {{.fd = tp->fd, .events = POLLIN}, {.fd = tp->cancel_fd, .events = POLLIN}};
		if (poll(fds, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (fds[1].revents)
			return 0;
		ssize_t n = read(tp->fd, buf, len);
		if (n > 0)
			return n;
		if (n < 0 && errno != EAGAIN && errno != EINTR)
			return -errno;
	}
}

BPFPM_API void bpfpm_trace_pipe__cancel(struct bpfpm_trace_pipe *tp)
{
	uint64_t one = 1;
	while (write(tp->cancel_fd, &one, sizeof(one)) < 0 && errno == EINTR)
		;
}

BPFPM_API void bpfpm_trace_pipe__close(struct bpfpm_trace_pipe *tp)
{
	if (!tp)
		return;
	close(tp->fd);
	close(tp->cancel_fd);
	free(tp);
}
