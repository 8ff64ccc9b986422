/* Internal to the pump (pump.c, drainer.c, queue.c).
 *
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
#ifndef BPFPM_PUMP_H
#define BPFPM_PUMP_H
#include <pthread.h>
#include <sched.h>

#include "events.h"

#define DRAIN_MAX 2
#define BUSY_MS 100 /* the stream counts as busy this long after data was last seen */
/* While busy, a drainer looks again after 1 ms when the kernel may not wake it (records came
 * without a wakeup), and backs off to these when its looks find nothing to do: a stream
 * whose producer wakes it per record needs no fast timer. */
#define PRIMARY_BACKOFF_MS 32
#define WATCHDOG_BACKOFF_MS 8

struct chunk {
	struct chunk *next;
	uint64_t start, end; /* stream positions: ring positions, or a perf drainer's count */
	uint64_t len, records;
	uint8_t data[];
};

struct drainer {
	struct pump *p;
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

struct pump {
	struct waiter wait; /* first: the consumer waits through it (drainers' ready_fd, wakes) */
	struct ringbuf *rb; /* the source: a ring buffer, or */
	struct perfbuf *pb; /* a perf buffer */
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
	int ready_fd;
};

/* ---- drainer threads (drainer.c) ---- */

/* Sets up drainer d of p (its queue and epoll fds, waiting also on the source's src_epfd). */
int drainer_init(struct drainer *d, struct pump *p, int src_epfd);
void *drainer_main(void *arg);

/* ---- chunk queues (queue.c): one lock-free single-producer queue per drainer ---- */

/* An empty queue (its spent head node); -ENOMEM. */
int queue_init(struct drainer *d);
/* The drainer appends a chunk it filled. */
void queue_push(struct drainer *d, struct chunk *c);
/* The consumer copies whole chunks, in stream order across the drainers' queues, into buf;
 * returns the bytes copied and sets *need to the size of a chunk that did not fit. */
uint64_t queue_deliver(struct pump *p, uint8_t *buf, uint64_t cap, uint64_t *need);
/* Frees every chunk of d's queue. */
void queue_free(struct drainer *d);

#endif
