/* The maps and events part of the flat C ABI (declared for FFI in runtime/_ffi.ts,
 * section "maps & events"). Every call returns 0 (or a count) or -errno, with
 * bpfpm_last_error() saying why. */
#ifndef BPFPM_MAPS_EVENTS_H
#define BPFPM_MAPS_EVENTS_H
#include "bpfpm.h"

/* --- maps: single elements on an fd --- */
/* Creates a map from user space; returns the fd. inner_map_fd < 0 means none. */
BPFPM_API int bpfpm_map__create(uint32_t type, const char *name, uint32_t key_size,
				uint32_t value_size, uint32_t max_entries, uint32_t flags,
				int inner_map_fd, uint64_t map_extra);
/* Fills a 64-byte record: u32 type, id, key_size, value_size, max_entries, flags, btf_id,
 * btf_key_type_id, btf_value_type_id, pad; u64 map_extra; char name[16]. */
BPFPM_API int bpfpm_map__fd_info(int fd, void *out64);
BPFPM_API int bpfpm_map__lookup(int fd, const void *key, void *value, uint64_t flags);
BPFPM_API int bpfpm_map__update(int fd, const void *key, const void *value, uint64_t flags);
BPFPM_API int bpfpm_map__delete(int fd, const void *key);
/* Pops (queue/stack: key NULL) or takes an element out of a hash. */
BPFPM_API int bpfpm_map__lookup_and_delete(int fd, const void *key, void *value);
/* Writes the key after key (NULL: the first) into next; -ENOENT after the last. */
BPFPM_API int bpfpm_map__next_key(int fd, const void *key, void *next);
/* Counts the keys by walking them (key_size bytes each); returns the count. */
BPFPM_API int64_t bpfpm_map__count(int fd, uint32_t key_size);
BPFPM_API int bpfpm_map__close(int fd);
BPFPM_API int bpfpm_num_possible_cpus(void);

/* --- maps: many elements per call --- */
/* Updates/deletes count elements (batch syscall, element by element where the kernel has none);
 * value_size is the full user-space value size (per-CPU: rounded size x CPUs). */
BPFPM_API int bpfpm_map__update_many(int fd, const void *keys, const void *values, uint32_t count,
				     uint32_t key_size, uint32_t value_size, uint64_t flags);
BPFPM_API int bpfpm_map__delete_many(int fd, const void *keys, uint32_t count, uint32_t key_size);
/* A dump cursor: each next() fills up to cap keys and values (batch lookup where the kernel
 * has it, else get_next_key + lookup) and returns how many; 0 at the end. Options:
 * BPFPM_ITER_NO_BATCH forces the element-by-element walk; BPFPM_ITER_DELETE deletes what it
 * returns. */
#define BPFPM_ITER_NO_BATCH 1u
#define BPFPM_ITER_DELETE 2u
struct bpfpm_map_iter;
BPFPM_API struct bpfpm_map_iter *bpfpm_map__iter_new(int fd, uint32_t key_size, uint32_t value_size,
						      uint32_t options);
BPFPM_API int64_t bpfpm_map__iter_next(struct bpfpm_map_iter *it, void *keys, void *values,
				       uint32_t cap);
/* 1 if the cursor used batch syscalls, 0 if it fell back. */
BPFPM_API int bpfpm_map__iter_batched(struct bpfpm_map_iter *it);
BPFPM_API void bpfpm_map__iter_free(struct bpfpm_map_iter *it);

/* --- pinning (bpffs) --- */
BPFPM_API int bpfpm_obj__pin(int fd, const char *path);
BPFPM_API int bpfpm_obj__unpin(const char *path);
BPFPM_API int bpfpm_obj__open_pinned(const char *path);

/* --- events ---
 * drain/consume copy many records into buf as [u32 len][u32 cpu][len bytes, padded to 8]...
 * and return the bytes written. stats is u64[8]: lost total, records total, bytes needed
 * by a record that did not fit an empty buf (with -EMSGSIZE), wakeups, times a ring buffer
 * was found (nearly) full (its producer's reservations fail then), 3 spare. consume never waits;
 * wait_drain waits up to timeout_ms (-1: forever) in epoll and returns -ECANCELED when
 * wake() interrupted it. A handle must not be used from two threads at once. */
struct bpfpm_ringbuf;
BPFPM_API struct bpfpm_ringbuf *bpfpm_ringbuf__new(int map_fd);
BPFPM_API int64_t bpfpm_ringbuf__consume(struct bpfpm_ringbuf *rb, void *buf, uint64_t cap,
					 uint64_t *stats);
BPFPM_API int64_t bpfpm_ringbuf__wait_drain(struct bpfpm_ringbuf *rb, void *buf, uint64_t cap,
					    int timeout_ms, uint64_t *stats);
BPFPM_API int bpfpm_ringbuf__wake(struct bpfpm_ringbuf *rb);
BPFPM_API void bpfpm_ringbuf__free(struct bpfpm_ringbuf *rb);

struct bpfpm_perfbuf;
/* Opens a BPF-output perf event per CPU (page_count data pages each, a power of two) and
 * puts them into the perf event array map_fd; wakeup_events: samples per wakeup. */
BPFPM_API struct bpfpm_perfbuf *bpfpm_perfbuf__new(int map_fd, uint32_t page_count,
						   uint32_t wakeup_events);
BPFPM_API int64_t bpfpm_perfbuf__consume(struct bpfpm_perfbuf *pb, void *buf, uint64_t cap,
					 uint64_t *stats);
BPFPM_API int64_t bpfpm_perfbuf__wait_drain(struct bpfpm_perfbuf *pb, void *buf, uint64_t cap,
					    int timeout_ms, uint64_t *stats);
BPFPM_API int bpfpm_perfbuf__wake(struct bpfpm_perfbuf *pb);
BPFPM_API void bpfpm_perfbuf__free(struct bpfpm_perfbuf *pb);

/* A pump drains a ring or perf buffer from its own threads into queues of at most max_bytes,
 * so records survive a consumer that is briefly too slow or off its CPU; once pumped, the
 * source must only be read through the pump (consume/wait_drain/wake as above), and freed
 * after the pump. flags: BPFPM_PUMP_REALTIME runs the drainers SCHED_FIFO when permitted.
 * bpfpm_pump__info fills out[0] (drainer threads), out[1] (those running SCHED_FIFO), out[2]
 * (the CPU the primary last ran on, -1 before it ran) and out[3] (records the watchdog
 * claimed). bpfpm_pump__test_stall makes the primary sleep ms after each claim (tests). */
#define BPFPM_PUMP_REALTIME 1u
struct bpfpm_pump;
BPFPM_API struct bpfpm_pump *bpfpm_ringbuf__pump(struct bpfpm_ringbuf *rb, uint64_t max_bytes,
						 uint32_t flags);
BPFPM_API struct bpfpm_pump *bpfpm_perfbuf__pump(struct bpfpm_perfbuf *pb, uint64_t max_bytes,
						 uint32_t flags);
BPFPM_API int bpfpm_pump__info(struct bpfpm_pump *p, uint32_t *out);
BPFPM_API void bpfpm_pump__test_stall(struct bpfpm_pump *p, int ms);
BPFPM_API int64_t bpfpm_pump__consume(struct bpfpm_pump *p, void *buf, uint64_t cap,
				      uint64_t *stats);
BPFPM_API int64_t bpfpm_pump__wait_drain(struct bpfpm_pump *p, void *buf, uint64_t cap,
					 int timeout_ms, uint64_t *stats);
BPFPM_API int bpfpm_pump__wake(struct bpfpm_pump *p);
BPFPM_API void bpfpm_pump__free(struct bpfpm_pump *p);

#endif
