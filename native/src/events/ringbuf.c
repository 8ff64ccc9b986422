/* Ring buffers: the consumer page and the data pages mapped (the data twice in a row, so a
 * record is always contiguous), and the ring walker that copies committed records out. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <unistd.h>

#include <linux/bpf.h>

#include "events.h"

struct ringbuf *ringbuf_new(int map_fd)
{
	uint32_t info[16];
	if (source_map_info(map_fd, BPF_MAP_TYPE_RINGBUF, "a ring buffer", info))
		return NULL;
	struct ringbuf *rb = calloc(1, sizeof(*rb));
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
	int r = make_waiter(&rb->wait);
	if (r) {
		munmap(p, rb->ro_len);
		munmap(c, rb->page_size);
		close(rb->map_fd);
		free(rb);
		bpfpm_fail(-r, "cannot create the ring buffer's epoll/eventfd: %s", strerror(-r));
		errno = -r;
		return NULL;
	}
	struct epoll_event ev = { .events = EPOLLIN, .data.u64 = 0 };
	if (epoll_ctl(rb->wait.epfd, EPOLL_CTL_ADD, map_fd, &ev)) {
		int e = errno;
		ringbuf_free(rb);
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
int64_t rb_walk(struct ringbuf *rb, uint64_t from, uint64_t prod, uint8_t *out, uint64_t cap,
		uint64_t *stats, uint64_t *end, uint64_t *records)
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
int rb_nearly_full(struct ringbuf *rb, uint64_t prod)
{
	return prod - __atomic_load_n(rb->consumer_pos, __ATOMIC_ACQUIRE) + 512 > rb->mask + 1;
}

int64_t ringbuf_consume(struct ringbuf *rb, void *buf, uint64_t cap, uint64_t *stats)
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

void ringbuf_free(struct ringbuf *rb)
{
	if (!rb)
		return;
	waiter_close(&rb->wait);
	munmap(rb->producer_pos, rb->ro_len);
	munmap(rb->consumer_pos, rb->page_size);
	close(rb->map_fd);
	free(rb);
}
