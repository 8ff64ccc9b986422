/* bpfpm native layer, events (src/events/): one reader over a ring buffer or a perf buffer
 * map, drained directly or through a pump of native drainer threads. The rules are at the
 * top of bpfpm.h.
 *
 * consume and wait_drain copy many records into buf as [u32 len][u32 cpu][len bytes, padded
 * to 8]... and return the bytes written. stats is u64[8]: lost total, records total, bytes
 * needed by a record (or staged batch) that did not fit an empty buf (with -EMSGSIZE),
 * wakeups, times a ring buffer was found (nearly) full (its producer's reservations fail
 * then), 3 spare. consume never waits; wait_drain waits up to timeout_ms (-1: forever) and
 * returns -ECANCELED when wake() interrupted it. A reader must not be used from two threads
 * at once, except wake(). */
#ifndef BPFPM_EVENTS_H
#define BPFPM_EVENTS_H
#include "bpfpm.h"

#ifdef __cplusplus
extern "C" {
#endif

/* kind of bpfpm_event_reader__new */
#define BPFPM_EVENTS_RINGBUF 1u /* a BPF_MAP_TYPE_RINGBUF */
#define BPFPM_EVENTS_PERF 2u    /* a BPF_MAP_TYPE_PERF_EVENT_ARRAY */
/* flags of bpfpm_event_reader__new: the drainer threads run SCHED_FIFO when permitted */
#define BPFPM_PUMP_REALTIME 1u

struct bpfpm_event_reader;
/* A reader of the map map_fd of kind. Perf buffers: a BPF-output perf event per CPU with
 * page_count data pages each (a power of two), wakeup_events samples per wakeup, put into
 * the map. staging_bytes > 0 starts a pump: drainer threads that keep draining the kernel
 * buffer into queues of at most staging_bytes, so records survive a consumer that is briefly
 * too slow or off its CPU (a ring buffer gets a second, watchdog drainer when there is
 * another CPU); 0 reads the kernel buffer directly in consume. NULL on error. */
BPFPM_API struct bpfpm_event_reader *bpfpm_event_reader__new(uint32_t kind, int map_fd, uint32_t page_count,
							      uint32_t wakeup_events, uint64_t staging_bytes,
							      uint32_t flags);
BPFPM_API int64_t bpfpm_event_reader__consume(struct bpfpm_event_reader *r, void *buf, uint64_t cap,
					      uint64_t *stats);
/* Blocking: declare it nonblocking in FFI. */
BPFPM_API int64_t bpfpm_event_reader__wait_drain(struct bpfpm_event_reader *r, void *buf, uint64_t cap,
						 int timeout_ms, uint64_t *stats);
/* Interrupts a pending wait_drain (which returns -ECANCELED). */
BPFPM_API int bpfpm_event_reader__wake(struct bpfpm_event_reader *r);
/* The drainer threads: out[0] threads (0 without staging), out[1] those running SCHED_FIFO,
 * out[2] the CPU the primary last ran on (-1 before it ran), out[3] records the watchdog
 * claimed. */
BPFPM_API int bpfpm_event_reader__drainers(struct bpfpm_event_reader *r, uint32_t *out);
/* Stops the drainers and frees the reader; no wait may be pending. */
BPFPM_API void bpfpm_event_reader__free(struct bpfpm_event_reader *r);

#ifdef __cplusplus
}
#endif
#endif
