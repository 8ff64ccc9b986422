/* Waiting on a source: epoll on its fds plus an eventfd that a wake writes, so a blocked
 * wait can be interrupted from another thread. */
#include <errno.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "events.h"

int make_waiter(int *epfd, int *evfd)
{
	*epfd = epoll_create1(EPOLL_CLOEXEC);
	if (*epfd < 0)
		return -errno;
	*evfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (*evfd < 0) {
		int e = errno;
		close(*epfd);
		return -e;
	}
	struct epoll_event ev = { .events = EPOLLIN, .data.u64 = UINT64_MAX };
	if (epoll_ctl(*epfd, EPOLL_CTL_ADD, *evfd, &ev)) {
		int e = errno;
		close(*evfd);
		close(*epfd);
		return -e;
	}
	return 0;
}

int wait_ready(int epfd, int evfd, int timeout_ms)
{
	struct epoll_event evs[8];
	int n;
	do
		n = epoll_wait(epfd, evs, 8, timeout_ms);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return bpfpm_fail(errno, "epoll_wait failed: %s", strerror(errno));
	for (int i = 0; i < n; i++)
		if (evs[i].data.u64 == UINT64_MAX) {
			uint64_t v;
			if (read(evfd, &v, sizeof(v)) < 0 && errno != EAGAIN)
				return bpfpm_fail(errno, "eventfd read failed: %s", strerror(errno));
			return -ECANCELED;
		}
	return n > 0;
}

int wake_fd(int evfd)
{
	uint64_t one = 1;
	return write(evfd, &one, sizeof(one)) < 0 && errno != EAGAIN ? -errno : 0;
}

int wait_counted(int epfd, int evfd, int timeout_ms, uint64_t *stats)
{
	int w = wait_ready(epfd, evfd, timeout_ms);
	if (w >= 0)
		stats[ST_WAKEUPS]++;
	return w;
}
