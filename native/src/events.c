/* Ring buffer and perf buffer consumers. Both read the kernel's shared memory directly and
 * copy many records per call into a buffer the caller (TypeScript) owns, laid out as
 * [u32 len][u32 cpu][len bytes, padded to 8]..., so no call crosses the FFI boundary per
 * record. Waiting is epoll on the map (or perf event fds) plus an eventfd that wake() uses to
 * interrupt a blocked wait. */
#include <errno.h>
#include <fcntl.h>
#include <linux/perf_event.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/bpf.h>

#include "_maps_events.h"
#include "internal.h"

#define RB_BUSY (1u << 31)
#define RB_DISCARD (1u << 30)
#define RB_HDR 8u
#define ALIGN8(x) (((x) + 7u) & ~(uint64_t)7u)

enum { ST_LOST, ST_RECORDS, ST_NEED, ST_WAKEUPS, ST_FULL, ST_COUNT };

static int make_waiter(int *epfd, int *evfd)
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

/* Waits; returns 1 if data may be ready, 0 on timeout, -ECANCELED when woken by wake(). */
static int wait_ready(int epfd, int evfd, int timeout_ms)
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

static int wake_fd(int evfd)
{
	uint64_t one = 1;
	return write(evfd, &one, sizeof(one)) < 0 && errno != EAGAIN ? -errno : 0;
}

/* ---------------------------------------------------------------- ring buffer */

struct bpfpm_ringbuf {
	int map_fd, epfd, evfd;
	size_t page_size;
	uint64_t mask;
	uint64_t *consumer_pos;
	uint64_t *producer_pos;
	uint8_t *data;
	size_t ro_len;
};

BPFPM_API struct bpfpm_ringbuf *bpfpm_ringbuf__new(int map_fd)
{
	uint32_t info[16];
	int r = bpfpm_map__fd_info(map_fd, info);
	if (r) {
		errno = -r;
		return NULL;
	}
	if (info[0] != BPF_MAP_TYPE_RINGBUF) {
		bpfpm_fail(EINVAL, "map fd %d is not a ring buffer (its type is %u)", map_fd, info[0]);
		errno = EINVAL;
		return NULL;
	}
	struct bpfpm_ringbuf *rb = calloc(1, sizeof(*rb));
	if (!rb) {
		bpfpm_fail(ENOMEM, "out of memory");
		errno = ENOMEM;
		return NULL;
	}
	rb->map_fd = fcntl(map_fd, F_DUPFD_CLOEXEC, 0);
	if (rb->map_fd < 0) {
		int e = errno;
		free(rb);
		bpfpm_fail(e, "cannot duplicate the ring buffer's fd: %s", strerror(e));
		errno = e;
		return NULL;
	}
	map_fd = rb->map_fd;
	rb->page_size = sysconf(_SC_PAGESIZE);
	rb->mask = info[4] - 1;
	void *c = mmap(NULL, rb->page_size, PROT_READ | PROT_WRITE, MAP_SHARED, map_fd, 0);
	if (c == MAP_FAILED) {
		int e = errno;
		close(rb->map_fd);
		free(rb);
		bpfpm_fail(e, "cannot map the ring buffer's consumer page: %s", strerror(e));
		errno = e;
		return NULL;
	}
	/* The data pages are mapped twice in a row, so a record is always contiguous. */
	rb->ro_len = rb->page_size + 2 * (size_t)info[4];
	void *p = mmap(NULL, rb->ro_len, PROT_READ, MAP_SHARED, map_fd, rb->page_size);
	if (p == MAP_FAILED) {
		int e = errno;
		munmap(c, rb->page_size);
		close(rb->map_fd);
		free(rb);
		bpfpm_fail(e, "cannot map the ring buffer's data pages: %s", strerror(e));
		errno = e;
		return NULL;
	}
	rb->consumer_pos = c;
	rb->producer_pos = p;
	rb->data = (uint8_t *)p + rb->page_size;
	if ((r = make_waiter(&rb->epfd, &rb->evfd))) {
		munmap(p, rb->ro_len);
		munmap(c, rb->page_size);
		close(rb->map_fd);
		free(rb);
		bpfpm_fail(-r, "cannot create the ring buffer's epoll/eventfd: %s", strerror(-r));
		errno = -r;
		return NULL;
	}
	struct epoll_event ev = { .events = EPOLLIN, .data.u64 = 0 };
	if (epoll_ctl(rb->epfd, EPOLL_CTL_ADD, map_fd, &ev)) {
		int e = errno;
		bpfpm_ringbuf__free(rb);
		bpfpm_fail(e, "cannot poll the ring buffer: %s", strerror(e));
		errno = e;
		return NULL;
	}
	return rb;
}

BPFPM_API int64_t bpfpm_ringbuf__consume(struct bpfpm_ringbuf *rb, void *buf, uint64_t cap,
					 uint64_t *stats)
{
	uint8_t *out = buf;
	uint64_t written = 0, records = 0;
	uint64_t cons = __atomic_load_n(rb->consumer_pos, __ATOMIC_ACQUIRE);
	/* The kernel does not count what a full ring buffer refuses; a ring found (nearly) full
	 * is the consumer's only sign that reservations may have failed. */
	if (__atomic_load_n(rb->producer_pos, __ATOMIC_ACQUIRE) - cons + 512 > rb->mask + 1)
		stats[ST_FULL]++;
	for (;;) {
		uint64_t prod = __atomic_load_n(rb->producer_pos, __ATOMIC_ACQUIRE);
		if (cons >= prod)
			break;
		while (cons < prod) {
			uint8_t *hdr = rb->data + (cons & rb->mask);
			uint32_t len = __atomic_load_n((uint32_t *)hdr, __ATOMIC_ACQUIRE);
			if (len & RB_BUSY)
				goto done;
			uint32_t size = len & ~(RB_BUSY | RB_DISCARD);
			if (!(len & RB_DISCARD)) {
				uint64_t need = RB_HDR + ALIGN8(size);
				if (written + need > cap) {
					if (written == 0) {
						stats[ST_NEED] = need;
						return bpfpm_fail(EMSGSIZE,
								  "a %u-byte record does not fit the "
								  "%llu-byte batch buffer",
								  size, (unsigned long long)cap);
					}
					goto done;
				}
				uint32_t h[2] = { size, 0 };
				memcpy(out + written, h, sizeof(h));
				memcpy(out + written + RB_HDR, hdr + RB_HDR, size);
				written += need;
				records++;
			}
			cons += ALIGN8(size + RB_HDR);
			__atomic_store_n(rb->consumer_pos, cons, __ATOMIC_RELEASE);
		}
	}
done:
	stats[ST_RECORDS] += records;
	return (int64_t)written;
}

BPFPM_API int64_t bpfpm_ringbuf__wait_drain(struct bpfpm_ringbuf *rb, void *buf, uint64_t cap,
					    int timeout_ms, uint64_t *stats)
{
	int64_t n = bpfpm_ringbuf__consume(rb, buf, cap, stats);
	if (n != 0 || timeout_ms == 0)
		return n;
	int w = wait_ready(rb->epfd, rb->evfd, timeout_ms);
	if (w < 0)
		return w;
	stats[ST_WAKEUPS]++;
	return bpfpm_ringbuf__consume(rb, buf, cap, stats);
}

BPFPM_API int bpfpm_ringbuf__wake(struct bpfpm_ringbuf *rb) { return wake_fd(rb->evfd); }

BPFPM_API void bpfpm_ringbuf__free(struct bpfpm_ringbuf *rb)
{
	if (!rb)
		return;
	close(rb->evfd);
	close(rb->epfd);
	munmap(rb->producer_pos, rb->ro_len);
	munmap(rb->consumer_pos, rb->page_size);
	close(rb->map_fd);
	free(rb);
}

/* ---------------------------------------------------------------- perf buffer */

struct perf_ring {
	int fd, cpu;
	struct perf_event_mmap_page *meta;
	uint8_t *data;
};

struct bpfpm_perfbuf {
	int map_fd, epfd, evfd;
	size_t page_size, data_size, mmap_size;
	int n, next;
	struct perf_ring *rings;
	uint8_t scratch[65536]; /* a record that wraps around the ring's end is joined here */
};

BPFPM_API struct bpfpm_perfbuf *bpfpm_perfbuf__new(int map_fd, uint32_t page_count,
						   uint32_t wakeup_events)
{
	uint32_t info[16];
	int r = bpfpm_map__fd_info(map_fd, info);
	if (r) {
		errno = -r;
		return NULL;
	}
	if (info[0] != BPF_MAP_TYPE_PERF_EVENT_ARRAY) {
		bpfpm_fail(EINVAL, "map fd %d is not a perf event array (its type is %u)", map_fd,
			   info[0]);
		errno = EINVAL;
		return NULL;
	}
	if (page_count == 0 || (page_count & (page_count - 1))) {
		bpfpm_fail(EINVAL, "pageCount must be a power of two, got %u", page_count);
		errno = EINVAL;
		return NULL;
	}
	int ncpu = libbpf_num_possible_cpus();
	if (ncpu <= 0) {
		bpfpm_fail(EINVAL, "cannot read /sys/devices/system/cpu/possible");
		errno = EINVAL;
		return NULL;
	}
	if ((uint32_t)ncpu > info[4])
		ncpu = info[4];
	struct bpfpm_perfbuf *pb = calloc(1, sizeof(*pb));
	if (!pb || !(pb->rings = calloc(ncpu, sizeof(*pb->rings)))) {
		free(pb);
		bpfpm_fail(ENOMEM, "out of memory");
		errno = ENOMEM;
		return NULL;
	}
	/* Our own reference: the object may close its fd while we still clear our entries. */
	pb->map_fd = fcntl(map_fd, F_DUPFD_CLOEXEC, 0);
	pb->page_size = sysconf(_SC_PAGESIZE);
	pb->data_size = (size_t)page_count * pb->page_size;
	pb->mmap_size = pb->data_size + pb->page_size;
	pb->evfd = pb->epfd = -1;
	if (pb->map_fd < 0) {
		int e = errno;
		bpfpm_perfbuf__free(pb);
		bpfpm_fail(e, "cannot duplicate the perf event array's fd: %s", strerror(e));
		errno = e;
		return NULL;
	}
	if ((r = make_waiter(&pb->epfd, &pb->evfd))) {
		bpfpm_perfbuf__free(pb);
		bpfpm_fail(-r, "cannot create the perf buffer's epoll/eventfd: %s", strerror(-r));
		errno = -r;
		return NULL;
	}
	for (int cpu = 0; cpu < ncpu; cpu++) {
		struct perf_event_attr attr = {
			.type = PERF_TYPE_SOFTWARE,
			.size = sizeof(attr),
			.config = PERF_COUNT_SW_BPF_OUTPUT,
			.sample_type = PERF_SAMPLE_RAW,
			.sample_period = 1,
			.wakeup_events = wakeup_events ? wakeup_events : 1,
		};
		int fd = syscall(__NR_perf_event_open, &attr, -1, cpu, -1, PERF_FLAG_FD_CLOEXEC);
		if (fd < 0) {
			if (errno == ENODEV)
				continue; /* an offline CPU */
			int e = errno;
			bpfpm_perfbuf__free(pb);
			bpfpm_fail(e, "perf_event_open for CPU %d failed: %s", cpu, strerror(e));
			errno = e;
			return NULL;
		}
		struct perf_ring *ring = &pb->rings[pb->n++];
		ring->fd = fd;
		ring->cpu = cpu;
		void *m = mmap(NULL, pb->mmap_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
		if (m == MAP_FAILED) {
			int e = errno;
			ring->meta = NULL;
			bpfpm_perfbuf__free(pb);
			bpfpm_fail(e, "cannot map the perf buffer of CPU %d: %s", cpu, strerror(e));
			errno = e;
			return NULL;
		}
		ring->meta = m;
		ring->data = (uint8_t *)m + pb->page_size;
		struct epoll_event ev = { .events = EPOLLIN, .data.u64 = (uint64_t)cpu };
		if (ioctl(fd, PERF_EVENT_IOC_ENABLE, 0) ||
		    bpf_map_update_elem(pb->map_fd, &cpu, &fd, BPF_ANY) ||
		    epoll_ctl(pb->epfd, EPOLL_CTL_ADD, fd, &ev)) {
			int e = errno;
			bpfpm_perfbuf__free(pb);
			bpfpm_fail(e, "cannot set up the perf buffer of CPU %d: %s", cpu,
				   strerror(e));
			errno = e;
			return NULL;
		}
	}
	return pb;
}

/* Drains one CPU's ring into out; returns bytes written or -EMSGSIZE; *full when out is full. */
static int64_t perf_ring_consume(struct bpfpm_perfbuf *pb, struct perf_ring *ring, uint8_t *out,
				 uint64_t cap, uint64_t *stats, int *full)
{
	struct perf_event_mmap_page *meta = ring->meta;
	uint64_t head = __atomic_load_n(&meta->data_head, __ATOMIC_ACQUIRE);
	uint64_t tail = meta->data_tail;
	uint64_t written = 0;
	while (tail < head) {
		uint64_t off = tail % pb->data_size;
		struct perf_event_header *eh = (void *)(ring->data + off);
		uint16_t size = eh->size;
		if (size < sizeof(*eh)) {
			/* A corrupt header: skip what the kernel has written rather than spin. */
			__atomic_store_n(&meta->data_tail, head, __ATOMIC_RELEASE);
			break;
		}
		uint8_t *rec = (uint8_t *)eh;
		if (off + size > pb->data_size) {
			size_t first = pb->data_size - off;
			memcpy(pb->scratch, rec, first);
			memcpy(pb->scratch + first, ring->data, size - first);
			rec = pb->scratch;
		}
		eh = (void *)rec;
		if (eh->type == PERF_RECORD_SAMPLE) {
			uint32_t raw;
			memcpy(&raw, rec + sizeof(*eh), 4);
			uint64_t need = RB_HDR + ALIGN8(raw);
			if (written + need > cap) {
				*full = 1;
				if (written == 0) {
					stats[ST_NEED] = need;
					return bpfpm_fail(EMSGSIZE,
							  "a %u-byte record does not fit the %llu-byte "
							  "batch buffer",
							  raw, (unsigned long long)cap);
				}
				break;
			}
			uint32_t h[2] = { raw, (uint32_t)ring->cpu };
			memcpy(out + written, h, sizeof(h));
			memcpy(out + written + RB_HDR, rec + sizeof(*eh) + 4, raw);
			written += need;
			stats[ST_RECORDS]++;
		} else if (eh->type == PERF_RECORD_LOST) {
			uint64_t lost;
			memcpy(&lost, rec + sizeof(*eh) + 8, 8);
			stats[ST_LOST] += lost;
		}
		tail += size;
		__atomic_store_n(&meta->data_tail, tail, __ATOMIC_RELEASE);
	}
	return (int64_t)written;
}

BPFPM_API int64_t bpfpm_perfbuf__consume(struct bpfpm_perfbuf *pb, void *buf, uint64_t cap,
					 uint64_t *stats)
{
	uint64_t written = 0;
	int full = 0;
	/* Start where the last call stopped, so a busy CPU cannot starve the others. */
	for (int i = 0; i < pb->n && !full; i++) {
		struct perf_ring *ring = &pb->rings[(pb->next + i) % pb->n];
		int64_t n = perf_ring_consume(pb, ring, (uint8_t *)buf + written, cap - written,
					      stats, &full);
		if (n < 0) {
			if (written > 0 && n == -EMSGSIZE) {
				pb->next = (pb->next + i) % pb->n;
				return (int64_t)written;
			}
			return n;
		}
		written += n;
		if (full)
			pb->next = (pb->next + i) % pb->n;
	}
	if (!full && pb->n)
		pb->next = (pb->next + 1) % pb->n;
	return (int64_t)written;
}

BPFPM_API int64_t bpfpm_perfbuf__wait_drain(struct bpfpm_perfbuf *pb, void *buf, uint64_t cap,
					    int timeout_ms, uint64_t *stats)
{
	uint64_t lost = stats[ST_LOST];
	int64_t n = bpfpm_perfbuf__consume(pb, buf, cap, stats);
	if (n != 0 || timeout_ms == 0 || stats[ST_LOST] != lost)
		return n;
	int w = wait_ready(pb->epfd, pb->evfd, timeout_ms);
	if (w < 0)
		return w;
	stats[ST_WAKEUPS]++;
	return bpfpm_perfbuf__consume(pb, buf, cap, stats);
}

BPFPM_API int bpfpm_perfbuf__wake(struct bpfpm_perfbuf *pb) { return wake_fd(pb->evfd); }

BPFPM_API void bpfpm_perfbuf__free(struct bpfpm_perfbuf *pb)
{
	if (!pb)
		return;
	for (int i = 0; i < pb->n; i++) {
		struct perf_ring *ring = &pb->rings[i];
		bpf_map_delete_elem(pb->map_fd, &ring->cpu);
		if (ring->meta)
			munmap(ring->meta, pb->mmap_size);
		close(ring->fd);
	}
	if (pb->map_fd >= 0)
		close(pb->map_fd);
	if (pb->evfd >= 0)
		close(pb->evfd);
	if (pb->epfd >= 0)
		close(pb->epfd);
	free(pb->rings);
	free(pb);
}

/* ---------------------------------------------------------------- pump
 * A thread that keeps draining a ring or perf buffer into a queue of chunks (bounded by
 * max_bytes), so a consumer that is busy or descheduled for a while (a JS thread decoding,
 * a GC pause, a loaded machine) does not make the kernel drop records; the JS side then takes
 * whole chunks with memcpy. The thread is plain C: no FFI callback, no per-record FFI call. */


typedef int64_t (*src_consume_fn)(void *src, void *buf, uint64_t cap, uint64_t *stats);

struct chunk {
	struct chunk *next;
	uint64_t len, records;
	uint8_t data[];
};

struct bpfpm_pump {
	void *src;
	src_consume_fn consume;
	int src_epfd, src_evfd;
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t space;
	struct chunk *head, *tail;
	uint64_t staged, max_bytes;
	uint64_t stats[ST_COUNT]; /* the thread's, as the consumer's below */
	uint64_t delivered;
	int stop, err;
	int epfd, ready_fd, wake_fd; /* the consumer's wait: data staged, or woken */
};

static void *pump_main(void *arg)
{
	struct bpfpm_pump *p = arg;
	uint64_t cap = 64 * 1024;
	uint8_t *scratch = malloc(cap);
	uint64_t local[ST_COUNT] = { 0 };
	int err = scratch ? 0 : ENOMEM;
	while (!err) {
		pthread_mutex_lock(&p->mu);
		while (!p->stop && p->staged >= p->max_bytes)
			pthread_cond_wait(&p->space, &p->mu);
		int stop = p->stop;
		pthread_mutex_unlock(&p->mu);
		if (stop)
			break;
		uint64_t before = local[ST_RECORDS];
		int64_t n = p->consume(p->src, scratch, cap, local);
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
		if (n > 0) {
			c = malloc(sizeof(*c) + n);
			if (!c) {
				err = ENOMEM;
				break;
			}
			c->next = NULL;
			c->len = n;
			c->records = local[ST_RECORDS] - before;
			memcpy(c->data, scratch, n);
		}
		pthread_mutex_lock(&p->mu);
		if (c) {
			if (p->tail)
				p->tail->next = c;
			else
				p->head = c;
			p->tail = c;
			p->staged += c->len;
		}
		int lost_changed = local[ST_LOST] != p->stats[ST_LOST] ||
				   local[ST_FULL] != p->stats[ST_FULL];
		memcpy(p->stats, local, sizeof(local));
		pthread_mutex_unlock(&p->mu);
		if (c || lost_changed)
			wake_fd(p->ready_fd);
		if (n == 0) {
			int w = wait_ready(p->src_epfd, p->src_evfd, 200);
			if (w > 0)
				local[ST_WAKEUPS]++;
		}
	}
	free(scratch);
	pthread_mutex_lock(&p->mu);
	if (err)
		p->err = err;
	pthread_mutex_unlock(&p->mu);
	wake_fd(p->ready_fd);
	return NULL;
}

static struct bpfpm_pump *pump_new(void *src, src_consume_fn consume, int src_epfd, int src_evfd,
				   uint64_t max_bytes)
{
	struct bpfpm_pump *p = calloc(1, sizeof(*p));
	if (!p) {
		bpfpm_fail(ENOMEM, "out of memory");
		errno = ENOMEM;
		return NULL;
	}
	p->src = src;
	p->consume = consume;
	p->src_epfd = src_epfd;
	p->src_evfd = src_evfd;
	p->max_bytes = max_bytes ? max_bytes : 1;
	pthread_mutex_init(&p->mu, NULL);
	pthread_cond_init(&p->space, NULL);
	int r = make_waiter(&p->epfd, &p->wake_fd);
	if (!r) {
		p->ready_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		struct epoll_event ev = { .events = EPOLLIN, .data.u64 = 0 };
		if (p->ready_fd < 0 || epoll_ctl(p->epfd, EPOLL_CTL_ADD, p->ready_fd, &ev))
			r = -errno;
	}
	if (!r && (r = -pthread_create(&p->thread, NULL, pump_main, p)) == 0)
		return p;
	bpfpm_fail(-r, "cannot start the event pump: %s", strerror(-r));
	if (p->ready_fd > 0)
		close(p->ready_fd);
	if (p->epfd > 0) {
		close(p->epfd);
		close(p->wake_fd);
	}
	free(p);
	errno = -r;
	return NULL;
}

static int64_t rb_consume(void *src, void *buf, uint64_t cap, uint64_t *stats)
{
	return bpfpm_ringbuf__consume(src, buf, cap, stats);
}

static int64_t pb_consume(void *src, void *buf, uint64_t cap, uint64_t *stats)
{
	return bpfpm_perfbuf__consume(src, buf, cap, stats);
}

BPFPM_API struct bpfpm_pump *bpfpm_ringbuf__pump(struct bpfpm_ringbuf *rb, uint64_t max_bytes)
{
	return pump_new(rb, rb_consume, rb->epfd, rb->evfd, max_bytes);
}

BPFPM_API struct bpfpm_pump *bpfpm_perfbuf__pump(struct bpfpm_perfbuf *pb, uint64_t max_bytes)
{
	return pump_new(pb, pb_consume, pb->epfd, pb->evfd, max_bytes);
}

BPFPM_API int64_t bpfpm_pump__consume(struct bpfpm_pump *p, void *buf, uint64_t cap,
				      uint64_t *stats)
{
	uint64_t written = 0;
	int64_t ret;
	pthread_mutex_lock(&p->mu);
	while (p->head && written + p->head->len <= cap) {
		struct chunk *c = p->head;
		memcpy((uint8_t *)buf + written, c->data, c->len);
		written += c->len;
		p->delivered += c->records;
		p->staged -= c->len;
		p->head = c->next;
		if (!p->head)
			p->tail = NULL;
		free(c);
	}
	stats[ST_LOST] = p->stats[ST_LOST];
	stats[ST_WAKEUPS] = p->stats[ST_WAKEUPS];
	stats[ST_FULL] = p->stats[ST_FULL];
	stats[ST_RECORDS] = p->delivered;
	if (written == 0 && p->head) {
		stats[ST_NEED] = p->head->len;
		ret = -EMSGSIZE;
	} else if (written == 0 && p->err) {
		ret = -p->err;
	} else {
		ret = (int64_t)written;
	}
	pthread_cond_signal(&p->space);
	pthread_mutex_unlock(&p->mu);
	if (ret == -EMSGSIZE)
		return bpfpm_fail(EMSGSIZE, "a %llu-byte batch does not fit the %llu-byte buffer",
				  (unsigned long long)stats[ST_NEED], (unsigned long long)cap);
	if (ret < 0)
		return bpfpm_fail((int)-ret, "the event pump stopped: %s", strerror((int)-ret));
	return ret;
}

BPFPM_API int64_t bpfpm_pump__wait_drain(struct bpfpm_pump *p, void *buf, uint64_t cap,
					 int timeout_ms, uint64_t *stats)
{
	uint64_t lost = stats[ST_LOST];
	int64_t n = bpfpm_pump__consume(p, buf, cap, stats);
	if (n != 0 || timeout_ms == 0 || stats[ST_LOST] != lost)
		return n;
	struct epoll_event evs[2];
	int k;
	do
		k = epoll_wait(p->epfd, evs, 2, timeout_ms);
	while (k < 0 && errno == EINTR);
	if (k < 0)
		return bpfpm_fail(errno, "epoll_wait failed: %s", strerror(errno));
	for (int i = 0; i < k; i++) {
		uint64_t v;
		if (evs[i].data.u64 == UINT64_MAX) {
			if (read(p->wake_fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
				return bpfpm_fail(errno, "eventfd read failed: %s", strerror(errno));
			return -ECANCELED;
		}
		if (read(p->ready_fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
			return bpfpm_fail(errno, "eventfd read failed: %s", strerror(errno));
	}
	return bpfpm_pump__consume(p, buf, cap, stats);
}

BPFPM_API int bpfpm_pump__wake(struct bpfpm_pump *p) { return wake_fd(p->wake_fd); }

BPFPM_API void bpfpm_pump__free(struct bpfpm_pump *p)
{
	if (!p)
		return;
	pthread_mutex_lock(&p->mu);
	p->stop = 1;
	pthread_cond_signal(&p->space);
	pthread_mutex_unlock(&p->mu);
	wake_fd(p->src_evfd);
	pthread_join(p->thread, NULL);
	for (struct chunk *c = p->head, *next; c; c = next) {
		next = c->next;
		free(c);
	}
	close(p->ready_fd);
	close(p->wake_fd);
	close(p->epfd);
	pthread_mutex_destroy(&p->mu);
	pthread_cond_destroy(&p->space);
	free(p);
}
