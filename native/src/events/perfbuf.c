/* Perf buffers: a BPF-output perf event per CPU, its ring mapped, put into the perf event
 * array; consume drains the CPUs round-robin. */
#include <errno.h>
#include <fcntl.h>
#include <linux/perf_event.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/bpf.h>

#include "events.h"

struct perf_ring {
	int fd, cpu;
	struct perf_event_mmap_page *meta;
	uint8_t *data;
};

struct perfbuf {
	struct waiter wait; /* first: the reader waits through it */
	int map_fd;
	size_t page_size, data_size, mmap_size;
	int n, next;
	struct perf_ring *rings;
	uint8_t scratch[65536]; /* a record that wraps around the ring's end is joined here */
};

struct perfbuf *perfbuf_new(int map_fd, uint32_t page_count, uint32_t wakeup_events)
{
	uint32_t info[16];
	if (source_map_info(map_fd, BPF_MAP_TYPE_PERF_EVENT_ARRAY, "a perf event array", info))
		return NULL;
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
	struct perfbuf *pb = calloc(1, sizeof(*pb));
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
	pb->wait.evfd = pb->wait.epfd = -1;
	if (pb->map_fd < 0) {
		int e = errno;
		perfbuf_free(pb);
		bpfpm_fail(e, "cannot duplicate the perf event array's fd: %s", strerror(e));
		errno = e;
		return NULL;
	}
	int r = make_waiter(&pb->wait);
	if (r) {
		perfbuf_free(pb);
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
			perfbuf_free(pb);
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
			perfbuf_free(pb);
			bpfpm_fail(e, "cannot map the perf buffer of CPU %d: %s", cpu, strerror(e));
			errno = e;
			return NULL;
		}
		ring->meta = m;
		ring->data = (uint8_t *)m + pb->page_size;
		struct epoll_event ev = { .events = EPOLLIN, .data.u64 = (uint64_t)cpu };
		if (ioctl(fd, PERF_EVENT_IOC_ENABLE, 0) ||
		    bpf_map_update_elem(pb->map_fd, &cpu, &fd, BPF_ANY) ||
		    epoll_ctl(pb->wait.epfd, EPOLL_CTL_ADD, fd, &ev)) {
			int e = errno;
			perfbuf_free(pb);
			bpfpm_fail(e, "cannot set up the perf buffer of CPU %d: %s", cpu,
				   strerror(e));
			errno = e;
			return NULL;
		}
	}
	return pb;
}

/* Drains one CPU's ring into out; returns bytes written or -EMSGSIZE; *full when out is full. */
static int64_t perf_ring_consume(struct perfbuf *pb, struct perf_ring *ring, uint8_t *out,
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

int64_t perfbuf_consume(struct perfbuf *pb, void *buf, uint64_t cap, uint64_t *stats)
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

void perfbuf_free(struct perfbuf *pb)
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
	waiter_close(&pb->wait);
	free(pb->rings);
	free(pb);
}

int perfbuf_epoll_fd(const struct perfbuf *pb) { return pb->wait.epfd; }
