/* Waiting on a source: epoll on its fds plus an eventfd that a wake writes, so a blocked
 * wait can be interrupted from another thread. */
#include <errno.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "events.h"

void waiter_close(struct waiter *w)
{
	if (w->evfd >= 0)
		close(w->evfd);
	if (w->epfd >= 0)
		close(w->epfd);
	w->epfd = w->evfd = -1;
}

int make_waiter(struct waiter *w)
{
	w->epfd = epoll_create1(EPOLL_CLOEXEC);
	w->evfd = w->epfd < 0 ? -1 : eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	struct epoll_event ev = { .events = EPOLLIN, .data.u64 = UINT64_MAX };
	if (w->evfd < 0 || epoll_ctl(w->epfd, EPOLL_CTL_ADD, w->evfd, &ev)) {
		int e = errno;
		waiter_close(w);
		return -e;
	}
	return 0;
}

int wait_ready(const struct waiter *w, int timeout_ms)
{
	int epfd = w->epfd, evfd = w->evfd;
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

int wait_counted(const struct waiter *w, int timeout_ms, uint64_t *stats)
{
	int r = wait_ready(w, timeout_ms);
	if (r >= 0)
		stats[ST_WAKEUPS]++;
	return r;
}
