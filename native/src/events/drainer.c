/* The pump's drainer threads: plain C threads (no FFI callback, no per-record FFI call) that
 * claim records from the source into chunks; a ring buffer's watchdog drains only when the
 * primary is late (pump.h says why). */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#include "pump.h"

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Claims and copies the ring's committed records after p->claim into out. Returns the bytes
 * written (0 with *start == *end when there was nothing), or -EMSGSIZE with stats[ST_NEED]
 * when the first record does not fit. */
static int64_t rb_claim(struct pump *p, uint8_t *out, uint64_t cap, uint64_t *stats,
			uint64_t *start, uint64_t *end)
{
	struct ringbuf *rb = p->rb;
	for (;;) {
		uint64_t c = __atomic_load_n(&p->claim, __ATOMIC_ACQUIRE);
		uint64_t prod = __atomic_load_n(rb->producer_pos, __ATOMIC_ACQUIRE);
		int full = rb_nearly_full(rb, prod);
		uint64_t pos, records;
		int64_t n = rb_walk(rb, c, prod, out, cap, stats, &pos, &records);
		if (n < 0)
			return n;
		*start = *end = c;
		if (pos == c)
			return 0;
		if (!__atomic_compare_exchange_n(&p->claim, &c, pos, 0, __ATOMIC_ACQ_REL,
						 __ATOMIC_ACQUIRE))
			continue; /* the other drainer took these: ours may be torn; start again */
		/* Everything before pos was copied by whoever claimed it: release it. */
		uint64_t cur = __atomic_load_n(rb->consumer_pos, __ATOMIC_ACQUIRE);
		while (cur < pos && !__atomic_compare_exchange_n(rb->consumer_pos, &cur, pos, 0,
								 __ATOMIC_RELEASE,
								 __ATOMIC_ACQUIRE))
			;
		if (full)
			stats[ST_FULL]++;
		stats[ST_RECORDS] += records;
		*end = pos;
		return n;
	}
}

/* Sleeps until stopped, timeout_ms, or (unless tick) the source is ready; counts the
 * source's wakeups in stats. Returns whether anything woke it before the timeout. */
static int drainer_wait(struct drainer *d, int timeout_ms, int tick, uint64_t *stats)
{
	struct epoll_event evs[4];
	int n;
	do
		n = epoll_wait(tick ? d->tick_epfd : d->epfd, evs, 4, timeout_ms);
	while (n < 0 && errno == EINTR);
	for (int i = 0; i < n; i++)
		if (evs[i].data.u64 == 0)
			stats[ST_WAKEUPS]++;
	return n > 0;
}

/* The next look's interval while busy: back to 1 ms when the last one was needed, doubled
 * up to max when it found nothing. */
static int backoff(int ms, int needed, int max)
{
	return needed ? 1 : ms * 2 > max ? max : ms * 2;
}

/* Publishes a drainer's stats for the consumer. */
static void drainer_publish(struct drainer *d, const uint64_t *local)
{
	for (int i = 0; i < ST_COUNT; i++)
		__atomic_store_n(&d->stats[i], local[i], __ATOMIC_RELAXED);
}

/* The watchdog keeps off the primary's CPU, so one CPU stalling cannot stop both. */
static void watchdog_avoid(struct pump *p, int *avoided)
{
	int cpu = __atomic_load_n(&p->primary_cpu, __ATOMIC_RELAXED);
	if (cpu < 0 || cpu == *avoided || !CPU_ISSET(cpu, &p->allowed))
		return;
	cpu_set_t set = p->allowed;
	CPU_CLR(cpu, &set);
	if (CPU_COUNT(&set) && !pthread_setaffinity_np(pthread_self(), sizeof(set), &set))
		*avoided = cpu;
}

void *drainer_main(void *arg)
{
	struct drainer *d = arg;
	struct pump *p = d->p;
	if (p->want_realtime) {
		struct sched_param sp = { .sched_priority = 1 };
		__atomic_store_n(&d->realtime,
				 pthread_setschedparam(pthread_self(), SCHED_FIFO, &sp) == 0,
				 __ATOMIC_RELAXED);
	}
	uint64_t cap = 64 * 1024;
	uint8_t *scratch = malloc(cap);
	uint64_t local[ST_COUNT] = { 0 };
	uint64_t counted = 0; /* a perf drainer's stream position */
	uint64_t last_prod = 0, last_claim = 0, stuck_since = 0, seen_prod = 0;
	int avoided = -1;
	/* Busy looks: the primary's after a look that found nothing, the watchdog's while
	 * nothing is pending; whether the last wait ended on its timer. */
	int look_ms = 1, timed_out = 0;
	int err = scratch ? 0 : ENOMEM;
	while (!err && !__atomic_load_n(&p->stop, __ATOMIC_ACQUIRE)) {
		uint64_t t = now_ms();
		int busy = t - __atomic_load_n(&p->last_ms, __ATOMIC_RELAXED) < BUSY_MS;
		if (d->watchdog)
			watchdog_avoid(p, &avoided);
		else
			__atomic_store_n(&p->primary_cpu, sched_getcpu(), __ATOMIC_RELAXED);
		if (__atomic_load_n(&p->staged, __ATOMIC_ACQUIRE) >= p->max_bytes) {
			drainer_wait(d, 1, 1, local); /* the consumer is behind: let it take chunks */
			continue;
		}
		if (d->watchdog) {
			/* Drain only when the primary is late: the ring is a quarter full, or
			 * records have waited unclaimed for 2 ms. While the stream is busy, look
			 * every millisecond (a timer: the kernel's wakeups go to the primary);
			 * while it is quiet, wait for its first wakeup like the primary. */
			uint64_t prod = __atomic_load_n(p->rb->producer_pos, __ATOMIC_ACQUIRE);
			uint64_t cons = __atomic_load_n(p->rb->consumer_pos, __ATOMIC_ACQUIRE);
			uint64_t claim = __atomic_load_n(&p->claim, __ATOMIC_ACQUIRE);
			if (prod != last_prod) {
				last_prod = prod;
				__atomic_store_n(&p->last_ms, t, __ATOMIC_RELAXED);
				busy = 1;
			}
			if (claim != last_claim || claim >= prod) {
				last_claim = claim;
				stuck_since = t;
			}
			int pending = claim < prod, late = pending && t - stuck_since >= 2;
			/* Records came fast since the last look: a stall could fill the ring. */
			int fast = (prod - seen_prod) * 16 > p->rb->mask + 1;
			seen_prod = prod;
			if (!late && (prod - cons) * 4 < p->rb->mask + 1) {
				/* (pending data keeps the source ready: a timer, not a spin) While
				 * records wait or come fast, look every millisecond; while a slow
				 * stream's primary keeps up, less often: a stall shows as pending
				 * records at the next look, long before the ring could fill. */
				look_ms = backoff(look_ms, pending || fast, WATCHDOG_BACKOFF_MS);
				drainer_wait(d, busy || pending ? look_ms : BUSY_MS, busy || pending, local);
				drainer_publish(d, local);
				continue;
			}
		}
		uint64_t before = local[ST_RECORDS], lost = local[ST_LOST], full = local[ST_FULL];
		uint64_t start = 0, end = 0;
		int64_t n;
		if (p->rb) {
			n = rb_claim(p, scratch, cap, local, &start, &end);
		} else {
			n = perfbuf_consume(p->pb, scratch, cap, local);
			start = counted;
			end = counted += n > 0 ? (uint64_t)n : 0;
		}
		if (n == -EMSGSIZE) {
			uint64_t need = local[ST_NEED];
			uint8_t *bigger = realloc(scratch, need);
			if (!bigger) {
				err = ENOMEM;
				break;
			}
			scratch = bigger;
			cap = need;
			continue;
		}
		if (n < 0) {
			err = (int)-n;
			break;
		}
		struct chunk *c = NULL;
		if (end > start) {
			c = malloc(sizeof(*c) + n);
			if (!c) {
				err = ENOMEM;
				break;
			}
			c->next = NULL;
			c->start = start;
			c->end = end;
			c->len = n;
			c->records = local[ST_RECORDS] - before;
			memcpy(c->data, scratch, n);
			__atomic_store_n(&p->last_ms, t, __ATOMIC_RELAXED);
			int stall = __atomic_load_n(&p->stall_ms, __ATOMIC_RELAXED);
			if (stall && !d->watchdog)
				usleep(stall * 1000); /* tests: the worst moment to stop */
			queue_push(d, c);
		}
		drainer_publish(d, local);
		if (c || local[ST_LOST] != lost || local[ST_FULL] != full)
			wake_fd(p->ready_fd);
		/* Records the timer found: the kernel did not wake us for them (the producer
		 * wakes every N records, or late). Look again soon while the stream is busy. */
		if (!d->watchdog && timed_out)
			look_ms = backoff(look_ms, c != NULL, PRIMARY_BACKOFF_MS);
		timed_out = 0;
		if (!c) {
			/* Nothing now. While the stream is busy, do not rely on the kernel's wakeup
			 * alone (it may come late, or the producer may wake only every N records). */
			int ms = !busy ? 200 : d->watchdog ? 1 : look_ms;
			timed_out = !drainer_wait(d, ms, d->watchdog && busy, local);
			drainer_publish(d, local);
		}
	}
	free(scratch);
	if (err)
		__atomic_store_n(&d->err, err, __ATOMIC_RELEASE);
	wake_fd(p->ready_fd);
	return NULL;
}

int drainer_init(struct drainer *d, struct pump *p, int src_epfd)
{
	d->p = p;
	if (queue_init(d))
		return -ENOMEM;
	d->epfd = epoll_create1(EPOLL_CLOEXEC);
	d->tick_epfd = epoll_create1(EPOLL_CLOEXEC);
	if (d->epfd < 0 || d->tick_epfd < 0)
		return -errno;
	struct epoll_event ev = { .events = EPOLLIN, .data.u64 = UINT64_MAX };
	if (epoll_ctl(d->epfd, EPOLL_CTL_ADD, p->stop_fd, &ev) ||
	    epoll_ctl(d->tick_epfd, EPOLL_CTL_ADD, p->stop_fd, &ev))
		return -errno;
	/* The source's own epoll fd nests: ready when any of its fds is. */
	struct epoll_event se = { .events = EPOLLIN, .data.u64 = 0 };
	if (epoll_ctl(d->epfd, EPOLL_CTL_ADD, src_epfd, &se))
		return -errno;
	return 0;
}
