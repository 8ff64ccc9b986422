/* Pumps: native threads that keep draining a ring or perf buffer into queues of chunks
 * (bounded by max_bytes), so a consumer that is busy or descheduled for a while does not make
 * the kernel drop records; the consumer then takes whole chunks with memcpy. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "pump.h"

static void pump_destroy(struct pump *p)
{
	__atomic_store_n(&p->stop, 1, __ATOMIC_RELEASE);
	if (p->stop_fd >= 0)
		wake_fd(p->stop_fd);
	for (int i = 0; i < p->n; i++) {
		struct drainer *d = &p->d[i];
		if (d->started)
			pthread_join(d->thread, NULL);
		queue_free(d);
		if (d->epfd > 0)
			close(d->epfd);
		if (d->tick_epfd > 0)
			close(d->tick_epfd);
	}
	if (p->stop_fd >= 0)
		close(p->stop_fd);
	if (p->ready_fd >= 0)
		close(p->ready_fd);
	waiter_close(&p->wait);
	free(p);
}

struct pump *pump_new(struct ringbuf *rb, struct perfbuf *pb, uint64_t max_bytes, uint32_t flags)
{
	struct pump *p = calloc(1, sizeof(*p));
	if (!p) {
		bpfpm_fail(ENOMEM, "out of memory");
		errno = ENOMEM;
		return NULL;
	}
	p->rb = rb;
	p->pb = pb;
	int src_epfd = rb ? rb->wait.epfd : perfbuf_epoll_fd(pb);
	p->max_bytes = max_bytes ? max_bytes : 1;
	p->want_realtime = flags & BPFPM_PUMP_REALTIME;
	p->stop_fd = p->ready_fd = p->wait.epfd = p->wait.evfd = -1;
	p->primary_cpu = -1;
	if (rb)
		p->claim = p->next = __atomic_load_n(rb->consumer_pos, __ATOMIC_ACQUIRE);
	if (sched_getaffinity(0, sizeof(p->allowed), &p->allowed))
		CPU_ZERO(&p->allowed);
	/* A ring buffer gets a watchdog drainer when there is another CPU for it. */
	p->n = rb && CPU_COUNT(&p->allowed) >= 2 ? 2 : 1;
	int r = make_waiter(&p->wait);
	if (!r) {
		p->ready_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		p->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		struct epoll_event ev = { .events = EPOLLIN, .data.u64 = 0 };
		if (p->ready_fd < 0 || p->stop_fd < 0 ||
		    epoll_ctl(p->wait.epfd, EPOLL_CTL_ADD, p->ready_fd, &ev))
			r = -errno;
	}
	for (int i = 0; !r && i < p->n; i++) {
		p->d[i].watchdog = i == 1;
		r = drainer_init(&p->d[i], p, src_epfd);
	}
	for (int i = 0; !r && i < p->n; i++) {
		r = -pthread_create(&p->d[i].thread, NULL, drainer_main, &p->d[i]);
		p->d[i].started = r == 0;
	}
	if (!r)
		return p;
	pump_destroy(p);
	bpfpm_fail(-r, "cannot start the event pump: %s", strerror(-r));
	errno = -r;
	return NULL;
}

int pump_info(struct pump *p, uint32_t *out)
{
	/* out[0]: drainer threads; out[1]: how many run SCHED_FIFO; out[2]: the CPU the primary
	 * last ran on (-1: not yet); out[3]: records the watchdog claimed */
	out[0] = p->n;
	out[1] = 0;
	out[2] = (uint32_t)__atomic_load_n(&p->primary_cpu, __ATOMIC_RELAXED);
	out[3] = 0;
	for (int i = 0; i < p->n; i++) {
		out[1] += __atomic_load_n(&p->d[i].realtime, __ATOMIC_RELAXED);
		if (p->d[i].watchdog)
			out[3] = (uint32_t)__atomic_load_n(&p->d[i].stats[ST_RECORDS],
							   __ATOMIC_RELAXED);
	}
	return 0;
}

void pump_test_stall(struct pump *p, int ms)
{
	__atomic_store_n(&p->stall_ms, ms, __ATOMIC_RELAXED);
}

int64_t pump_consume(struct pump *p, void *buf, uint64_t cap, uint64_t *stats)
{
	uint64_t need, written = queue_deliver(p, buf, cap, &need);
	int err = 0;
	uint64_t sum[ST_COUNT] = { 0 };
	for (int i = 0; i < p->n; i++) {
		struct drainer *d = &p->d[i];
		sum[ST_LOST] += __atomic_load_n(&d->stats[ST_LOST], __ATOMIC_RELAXED);
		sum[ST_WAKEUPS] += __atomic_load_n(&d->stats[ST_WAKEUPS], __ATOMIC_RELAXED);
		sum[ST_FULL] += __atomic_load_n(&d->stats[ST_FULL], __ATOMIC_RELAXED);
		int e = __atomic_load_n(&d->err, __ATOMIC_ACQUIRE);
		if (e && !err)
			err = e;
	}
	stats[ST_LOST] = sum[ST_LOST];
	stats[ST_WAKEUPS] = sum[ST_WAKEUPS];
	stats[ST_FULL] = sum[ST_FULL];
	stats[ST_RECORDS] = p->delivered;
	if (written == 0 && need) {
		stats[ST_NEED] = need;
		return bpfpm_fail(EMSGSIZE, "a %llu-byte batch does not fit the %llu-byte buffer",
				  (unsigned long long)need, (unsigned long long)cap);
	}
	if (written == 0 && err)
		return bpfpm_fail(err, "the event pump stopped: %s", strerror(err));
	return (int64_t)written;
}

int pump_wait(struct pump *p, int timeout_ms, uint64_t *stats)
{
	int w = wait_ready(&p->wait, timeout_ms);
	if (w < 0)
		return w;
	uint64_t v; /* re-arm the drainers' signal (the drainers count the kernel's wakeups) */
	if (read(p->ready_fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		return bpfpm_fail(errno, "eventfd read failed: %s", strerror(errno));
	return w;
}

void pump_free(struct pump *p)
{
	if (p)
		pump_destroy(p);
}

