/* Internal to src/events/: the parts of the event reader (bpfpm_events.h). A reader drains
 * a ring buffer or a perf buffer (the sources: ringbuf.c, perfbuf.c), directly or through a
 * pump (pump.c) whose drainer threads (drainer.c) stage records in chunk queues (queue.c).
 * Every consume copies many records into the caller's buffer as
 * [u32 len][u32 cpu][len bytes, padded to 8]..., so no call crosses the FFI boundary per
 * record. Waiting is epoll on the source plus an eventfd that a wake interrupts it with
 * (waiter.c). */
#ifndef BPFPM_EVENTS_INTERNAL_H
#define BPFPM_EVENTS_INTERNAL_H
#include <stddef.h>
#include <stdint.h>

#include "bpfpm_events.h"
#include "../internal.h"

#define RB_BUSY (1u << 31)
#define RB_DISCARD (1u << 30)
#define RB_HDR 8u /* the kernel's ring record header, and ours in the caller's buffer */
#define ALIGN8(x) (((x) + 7u) & ~(uint64_t)7u)

/* The u64 stats every consume fills (bpfpm_events.h). */
enum { ST_LOST, ST_RECORDS, ST_NEED, ST_WAKEUPS, ST_FULL, ST_COUNT };

/* ---- waiting (waiter.c) ---- */

/* What a reader waits on: an epoll fd over a source's fds, with an eventfd in it (data
 * UINT64_MAX) that a wake writes. The ring buffer, the perf buffer and the pump each begin
 * with one, so the reader waits on and wakes any of them through it. */
struct waiter {
	int epfd, evfd;
};

/* Creates both fds; -errno (none left open) on failure. */
int make_waiter(struct waiter *w);
/* Closes what make_waiter opened (-1s are skipped). */
void waiter_close(struct waiter *w);
/* Waits; returns 1 if data may be ready, 0 on timeout, -ECANCELED when woken. */
int wait_ready(const struct waiter *w, int timeout_ms);
/* Wakes a waiter (or signals any eventfd). */
int wake_fd(int evfd);
/* wait_ready on a kernel source, counting the wakeup in stats[ST_WAKEUPS]. */
int wait_counted(const struct waiter *w, int timeout_ms, uint64_t *stats);

/* Reads map_fd's info (bpfpm_map__fd_info: info[0] its type, info[4] max_entries) and checks
 * that it is a map of type, which `what` names in the error: 0, or -1 with errno and the
 * error set (reader.c). */
int source_map_info(int map_fd, uint32_t type, const char *what, uint32_t info[16]);

/* ---- ring buffers (ringbuf.c): the ring walker ---- */

struct ringbuf {
	struct waiter wait; /* first: the reader waits through it */
	int map_fd;
	size_t page_size;
	uint64_t mask;
	uint64_t *consumer_pos;
	uint64_t *producer_pos;
	uint8_t *data;
	size_t ro_len;
};

struct ringbuf *ringbuf_new(int map_fd);
/* Copies the committed records in [from, prod) into out, stopping at a record still being
 * written or when out is full; the walker the direct reader and the drainers' claims share. */
int64_t rb_walk(struct ringbuf *rb, uint64_t from, uint64_t prod, uint8_t *out, uint64_t cap,
		uint64_t *stats, uint64_t *end, uint64_t *records);
/* Whether the ring is (nearly) full at producer position prod. */
int rb_nearly_full(struct ringbuf *rb, uint64_t prod);
int64_t ringbuf_consume(struct ringbuf *rb, void *buf, uint64_t cap, uint64_t *stats);
void ringbuf_free(struct ringbuf *rb);

/* ---- perf buffers (perfbuf.c) ---- */

struct perfbuf; /* begins with its struct waiter, as struct ringbuf does */
struct perfbuf *perfbuf_new(int map_fd, uint32_t page_count, uint32_t wakeup_events);
/* The epoll fd that is ready when any CPU's buffer is. */
int perfbuf_epoll_fd(const struct perfbuf *pb);
int64_t perfbuf_consume(struct perfbuf *pb, void *buf, uint64_t cap, uint64_t *stats);
void perfbuf_free(struct perfbuf *pb);

/* ---- pumps (pump.c, drainer.c, queue.c) ---- */

struct pump; /* begins with its struct waiter (woken by the drainers) */
/* A pump over a ring buffer (rb) or a perf buffer (pb); the source must outlive it. */
struct pump *pump_new(struct ringbuf *rb, struct perfbuf *pb, uint64_t max_bytes, uint32_t flags);
int pump_info(struct pump *p, uint32_t *out);
void pump_test_stall(struct pump *p, int ms);
int64_t pump_consume(struct pump *p, void *buf, uint64_t cap, uint64_t *stats);
/* Waits (wait_ready) for the drainers to queue something. */
int pump_wait(struct pump *p, int timeout_ms, uint64_t *stats);
void pump_free(struct pump *p);

#endif
