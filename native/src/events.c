/* Ring buffer and perf buffer consumers. Both read the kernel's shared memory directly and
 * copy many records per call into a buffer the caller (TypeScript) owns, laid out as
 * [u32 len][u32 cpu][len bytes, padded to 8]..., so no call crosses the FFI boundary per
 * record. Waiting is epoll on the map (or perf event fds) plus an eventfd that wake() uses to
 * interrupt a blocked wait. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/perf_event.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/ioctl.h>
#include <time.h>
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

/* Copies the committed records in [from, prod) into out, stopping at a record still being
 * written or when out is full. Returns the bytes written and sets *end to the position after
 * the last record taken (discarded ones included) and *records; -EMSGSIZE with stats[ST_NEED]
 * when the first record does not fit. A length that runs past prod stops the walk: a reader
 * behind another may see a header the kernel is rewriting. */
static int64_t rb_walk(struct bpfpm_ringbuf *rb, uint64_t from, uint64_t prod, uint8_t *out,
		       uint64_t cap, uint64_t *stats, uint64_t *end, uint64_t *records)
{
	uint64_t pos = from, written = 0;
	*records = 0;
	*end = from;
	while (pos < prod) {
		uint8_t *hdr = rb->data + (pos & rb->mask);
		uint32_t len = __atomic_load_n((uint32_t *)hdr, __ATOMIC_ACQUIRE);
		if (len & RB_BUSY)
			break;
		uint32_t size = len & ~(RB_BUSY | RB_DISCARD);
		if ((uint64_t)size + RB_HDR > prod - pos)
			break;
		if (!(len & RB_DISCARD)) {
			uint64_t need = RB_HDR + ALIGN8(size);
			if (written + need > cap) {
				if (written == 0 && pos == from) {
					stats[ST_NEED] = need;
					return -EMSGSIZE;
				}
				break;
			}
			uint32_t h[2] = { size, 0 };
			memcpy(out + written, h, sizeof(h));
			memcpy(out + written + RB_HDR, hdr + RB_HDR, size);
			written += need;
			(*records)++;
		}
		pos += ALIGN8(size + RB_HDR);
	}
	*end = pos;
	return (int64_t)written;
}

/* The kernel does not count what a full ring buffer refuses; a ring found (nearly) full is
 * the consumer's only sign that reservations may have failed. */
static int rb_nearly_full(struct bpfpm_ringbuf *rb, uint64_t prod)
{
	return prod - __atomic_load_n(rb->consumer_pos, __ATOMIC_ACQUIRE) + 512 > rb->mask + 1;
}

BPFPM_API int64_t bpfpm_ringbuf__consume(struct bpfpm_ringbuf *rb, void *buf, uint64_t cap,
					 uint64_t *stats)
{
	uint64_t written = 0, records, cons = __atomic_load_n(rb->consumer_pos, __ATOMIC_ACQUIRE);
	uint64_t prod = __atomic_load_n(rb->producer_pos, __ATOMIC_ACQUIRE);
	if (rb_nearly_full(rb, prod))
		stats[ST_FULL]++;
	/* Until the ring is empty or buf is full, releasing each stretch to the kernel at once. */
	for (;;) {
		uint64_t end;
		int64_t n = rb_walk(rb, cons, prod, (uint8_t *)buf + written, cap - written, stats,
				    &end, &records);
		if (n == -EMSGSIZE && written == 0)
			return bpfpm_fail(EMSGSIZE,
					  "a %llu-byte record does not fit the %llu-byte batch buffer",
					  (unsigned long long)(stats[ST_NEED] - RB_HDR),
					  (unsigned long long)cap);
		if (n <= 0 && end == cons)
			break;
		if (n > 0) {
			written += n;
			stats[ST_RECORDS] += records;
		}
		cons = end;
		__atomic_store_n(rb->consumer_pos, cons, __ATOMIC_RELEASE);
		prod = __atomic_load_n(rb->producer_pos, __ATOMIC_ACQUIRE);
	}
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
 * Native threads that keep draining a ring or perf buffer into queues of chunks (bounded by
 * max_bytes), so a consumer that is busy or descheduled for a while (a JS thread decoding, a
 * GC pause, a loaded machine) does not make the kernel drop records; the JS side then takes
 * whole chunks with memcpy. The threads are plain C: no FFI callback, no per-record FFI call.
 *
 * A ring buffer holds only milliseconds of a busy stream (256 KiB is 3.6 ms at 1 M records/s of
 * 64 bytes), while a thread can be off its CPU for longer: behind other work, or when a VM's
 * vCPU is descheduled (measured on the development VM: 8-15 ms gaps for a SCHED_FIFO thread,
 * a few times a minute). So a ring buffer gets two drainers: the primary waits for the
 * kernel's wakeups; the watchdog keeps off the primary's CPU and, on a 1 ms timer while the
 * stream is busy, drains only when the primary is late (the ring a quarter full, or records
 * unclaimed for 2 ms). Either may claim records, lock-free: a drainer copies [claim, end)
 * first and then moves the shared claim position with a compare-and-swap, so a drainer
 * stopped anywhere never blocks the other, and the kernel's consumer position only passes
 * records that were copied. Each drainer appends its chunks, with their ring positions, to
 * its own lock-free single-producer queue; the consumer delivers them in position order and
 * never waits for a drainer. Drainers run SCHED_FIFO (priority 1) when the process may and
 * the caller asks, so a busy CPU does not delay them either; they sleep while the stream is
 * quiet. A perf buffer (per-CPU rings, one reader each) gets one drainer. */

#define DRAIN_MAX 2
#define BUSY_MS 100 /* the stream counts as busy this long after data was last seen */

typedef int64_t (*src_consume_fn)(void *src, void *buf, uint64_t cap, uint64_t *stats);

struct chunk {
	struct chunk *next;
	uint64_t start, end; /* stream positions: ring positions, or a perf drainer's count */
	uint64_t len, records;
	uint8_t data[];
};

struct bpfpm_pump;

struct drainer {
	struct bpfpm_pump *p;
	pthread_t thread;
	int started, watchdog;
	int realtime;	/* atomic: got SCHED_FIFO */
	int epfd;	/* stop, and the source's readiness */
	int tick_epfd;	/* the watchdog's timer waits: stop only (the source does not wake it) */
	struct chunk *q_head; /* the consumer's: a spent node whose next is the first chunk */
	struct chunk *q_tail; /* the drainer's: the last chunk */
	uint64_t stats[ST_COUNT]; /* atomic: the drainer stores, the consumer loads */
	int err;		  /* atomic */
};

struct bpfpm_pump {
	struct bpfpm_ringbuf *rb; /* a ring buffer, or: */
	void *src;		  /* a perf buffer and its consume function */
	src_consume_fn consume;
	int n;
	struct drainer d[DRAIN_MAX];
	uint64_t claim;	  /* ring buffers: the next position to claim (atomic) */
	uint64_t staged;  /* bytes queued (atomic) */
	uint64_t last_ms; /* when data was last seen (atomic) */
	int primary_cpu;  /* atomic: where the primary last ran */
	int stall_ms;	  /* atomic: tests make the primary stall after each claim */
	uint64_t max_bytes;
	int stop; /* atomic */
	int stop_fd;
	int want_realtime;
	cpu_set_t allowed;
	/* the consumer's side */
	uint64_t next, delivered;
	int epfd, ready_fd, wake_fd;
};

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Claims and copies the ring's committed records after p->claim into out. Returns the bytes
 * written (0 with *start == *end when there was nothing), or -EMSGSIZE with stats[ST_NEED]
 * when the first record does not fit. */
static int64_t rb_claim(struct bpfpm_pump *p, uint8_t *out, uint64_t cap, uint64_t *stats,
			uint64_t *start, uint64_t *end)
{
	struct bpfpm_ringbuf *rb = p->rb;
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
 * source's wakeups in stats. */
static void drainer_wait(struct drainer *d, int timeout_ms, int tick, uint64_t *stats)
{
	struct epoll_event evs[4];
	int n;
	do
		n = epoll_wait(tick ? d->tick_epfd : d->epfd, evs, 4, timeout_ms);
	while (n < 0 && errno == EINTR);
	for (int i = 0; i < n; i++)
		if (evs[i].data.u64 == 0)
			stats[ST_WAKEUPS]++;
}

/* Publishes a drainer's stats for the consumer. */
static void drainer_publish(struct drainer *d, const uint64_t *local)
{
	for (int i = 0; i < ST_COUNT; i++)
		__atomic_store_n(&d->stats[i], local[i], __ATOMIC_RELAXED);
}

/* The watchdog keeps off the primary's CPU, so one CPU stalling cannot stop both. */
static void watchdog_avoid(struct bpfpm_pump *p, int *avoided)
{
	int cpu = __atomic_load_n(&p->primary_cpu, __ATOMIC_RELAXED);
	if (cpu < 0 || cpu == *avoided || !CPU_ISSET(cpu, &p->allowed))
		return;
	cpu_set_t set = p->allowed;
	CPU_CLR(cpu, &set);
	if (CPU_COUNT(&set) && !pthread_setaffinity_np(pthread_self(), sizeof(set), &set))
		*avoided = cpu;
}

static void *drainer_main(void *arg)
{
	struct drainer *d = arg;
	struct bpfpm_pump *p = d->p;
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
	uint64_t last_prod = 0, last_claim = 0, stuck_since = 0;
	int avoided = -1;
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
			if (!late && (prod - cons) * 4 < p->rb->mask + 1) {
				/* (pending data keeps the source ready: a timer, not a spin) */
				drainer_wait(d, busy || pending ? 1 : BUSY_MS, busy || pending, local);
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
			n = p->consume(p->src, scratch, cap, local);
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
			__atomic_add_fetch(&p->staged, c->len, __ATOMIC_RELEASE);
			__atomic_store_n(&d->q_tail->next, c, __ATOMIC_RELEASE);
			d->q_tail = c;
		}
		drainer_publish(d, local);
		if (c || local[ST_LOST] != lost || local[ST_FULL] != full)
			wake_fd(p->ready_fd);
		if (!c) {
			/* Nothing now. While the stream is busy, do not rely on the kernel's wakeup
			 * alone (it may come late, or the producer may wake only every N records). */
			drainer_wait(d, busy ? 1 : 200, d->watchdog && busy, local);
			drainer_publish(d, local);
		}
	}
	free(scratch);
	if (err)
		__atomic_store_n(&d->err, err, __ATOMIC_RELEASE);
	wake_fd(p->ready_fd);
	return NULL;
}

static int drainer_init(struct drainer *d, struct bpfpm_pump *p, int src_epfd)
{
	d->p = p;
	d->q_head = d->q_tail = calloc(1, sizeof(struct chunk));
	if (!d->q_head)
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

static void pump_destroy(struct bpfpm_pump *p)
{
	__atomic_store_n(&p->stop, 1, __ATOMIC_RELEASE);
	if (p->stop_fd >= 0)
		wake_fd(p->stop_fd);
	for (int i = 0; i < p->n; i++) {
		struct drainer *d = &p->d[i];
		if (d->started)
			pthread_join(d->thread, NULL);
		for (struct chunk *c = d->q_head, *next; c; c = next) {
			next = c->next;
			free(c);
		}
		if (d->epfd > 0)
			close(d->epfd);
		if (d->tick_epfd > 0)
			close(d->tick_epfd);
	}
	if (p->stop_fd >= 0)
		close(p->stop_fd);
	if (p->ready_fd >= 0)
		close(p->ready_fd);
	if (p->epfd >= 0) {
		close(p->epfd);
		close(p->wake_fd);
	}
	free(p);
}

static struct bpfpm_pump *pump_new(struct bpfpm_ringbuf *rb, void *src, src_consume_fn consume,
				   int src_epfd, uint64_t max_bytes, uint32_t flags)
{
	struct bpfpm_pump *p = calloc(1, sizeof(*p));
	if (!p) {
		bpfpm_fail(ENOMEM, "out of memory");
		errno = ENOMEM;
		return NULL;
	}
	p->rb = rb;
	p->src = src;
	p->consume = consume;
	p->max_bytes = max_bytes ? max_bytes : 1;
	p->want_realtime = flags & BPFPM_PUMP_REALTIME;
	p->stop_fd = p->ready_fd = p->epfd = -1;
	p->primary_cpu = -1;
	if (rb)
		p->claim = p->next = __atomic_load_n(rb->consumer_pos, __ATOMIC_ACQUIRE);
	if (sched_getaffinity(0, sizeof(p->allowed), &p->allowed))
		CPU_ZERO(&p->allowed);
	/* A ring buffer gets a watchdog drainer when there is another CPU for it. */
	p->n = rb && CPU_COUNT(&p->allowed) >= 2 ? 2 : 1;
	int r = make_waiter(&p->epfd, &p->wake_fd);
	if (!r) {
		p->ready_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		p->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		struct epoll_event ev = { .events = EPOLLIN, .data.u64 = 0 };
		if (p->ready_fd < 0 || p->stop_fd < 0 ||
		    epoll_ctl(p->epfd, EPOLL_CTL_ADD, p->ready_fd, &ev))
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

static int64_t pb_consume(void *src, void *buf, uint64_t cap, uint64_t *stats)
{
	return bpfpm_perfbuf__consume(src, buf, cap, stats);
}

BPFPM_API struct bpfpm_pump *bpfpm_ringbuf__pump(struct bpfpm_ringbuf *rb, uint64_t max_bytes,
						 uint32_t flags)
{
	return pump_new(rb, rb, NULL, rb->epfd, max_bytes, flags);
}

BPFPM_API struct bpfpm_pump *bpfpm_perfbuf__pump(struct bpfpm_perfbuf *pb, uint64_t max_bytes,
						 uint32_t flags)
{
	return pump_new(NULL, pb, pb_consume, pb->epfd, max_bytes, flags);
}

BPFPM_API int bpfpm_pump__info(struct bpfpm_pump *p, uint32_t *out)
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

BPFPM_API void bpfpm_pump__test_stall(struct bpfpm_pump *p, int ms)
{
	__atomic_store_n(&p->stall_ms, ms, __ATOMIC_RELAXED);
}

BPFPM_API int64_t bpfpm_pump__consume(struct bpfpm_pump *p, void *buf, uint64_t cap,
				      uint64_t *stats)
{
	uint64_t written = 0, need = 0;
	int err = 0;
	/* Chunks leave in stream order: the one that starts where the last one ended. A chunk a
	 * drainer has claimed but not queued yet holds back the ones after it. */
	for (int progressed = 1; progressed && !need;) {
		progressed = 0;
		for (int i = 0; i < p->n && !need; i++) {
			struct drainer *d = &p->d[i];
			struct chunk *c;
			while ((c = __atomic_load_n(&d->q_head->next, __ATOMIC_ACQUIRE)) &&
			       c->start == p->next) {
				if (written + c->len > cap) {
					need = c->len;
					break;
				}
				memcpy((uint8_t *)buf + written, c->data, c->len);
				written += c->len;
				p->delivered += c->records;
				p->next = c->end;
				__atomic_sub_fetch(&p->staged, c->len, __ATOMIC_RELEASE);
				free(d->q_head);
				d->q_head = c; /* spent: its next is the new first chunk */
				progressed = 1;
			}
		}
	}
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

BPFPM_API int64_t bpfpm_pump__wait_drain(struct bpfpm_pump *p, void *buf, uint64_t cap,
					 int timeout_ms, uint64_t *stats)
{
	uint64_t lost = stats[ST_LOST];
	int64_t n = bpfpm_pump__consume(p, buf, cap, stats);
	if (n != 0 || timeout_ms == 0 || stats[ST_LOST] != lost)
		return n;
	int w = wait_ready(p->epfd, p->wake_fd, timeout_ms);
	if (w < 0)
		return w;
	uint64_t v; /* re-arm the drainers' signal */
	if (read(p->ready_fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		return bpfpm_fail(errno, "eventfd read failed: %s", strerror(errno));
	return bpfpm_pump__consume(p, buf, cap, stats);
}

BPFPM_API int bpfpm_pump__wake(struct bpfpm_pump *p) { return wake_fd(p->wake_fd); }

BPFPM_API void bpfpm_pump__free(struct bpfpm_pump *p)
{
	if (p)
		pump_destroy(p);
}
