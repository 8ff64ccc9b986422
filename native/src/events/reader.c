/* The event reader: one handle over a ring buffer or a perf buffer, read directly or through
 * a pump. Each reader picks its read functions once, at construction. */
#include <errno.h>
#include <stdlib.h>

#include "bpfpm_maps.h"
#include "bpfpm_test.h"
#include "events.h"

/* How a reader reads what it is active on: a source, or the pump over it. */
struct read_ops {
	int64_t (*consume)(void *src, void *buf, uint64_t cap, uint64_t *stats);
	int (*wait)(void *src, int timeout_ms, uint64_t *stats); /* wait_ready's answer */
	int (*wake)(void *src);
};

struct bpfpm_event_reader {
	const struct read_ops *ops;
	void *active; /* what ops read: the pump, or the source itself */
	struct ringbuf *rb;
	struct perfbuf *pb;
	struct pump *pump;
};

/* The read functions of each source, over the reader's active pointer. The sources and the
 * pump begin with their struct waiter: the kernel sources are waited on alike, and all three
 * are woken alike. */
static int64_t rb_consume(void *s, void *b, uint64_t c, uint64_t *st) { return ringbuf_consume(s, b, c, st); }
static int64_t pb_consume(void *s, void *b, uint64_t c, uint64_t *st) { return perfbuf_consume(s, b, c, st); }
static int64_t pu_consume(void *s, void *b, uint64_t c, uint64_t *st) { return pump_consume(s, b, c, st); }
static int source_wait(void *s, int t, uint64_t *st) { return wait_counted(s, t, st); }
static int pu_wait(void *s, int t, uint64_t *st) { return pump_wait(s, t, st); }
static int any_wake(void *s) { return wake_fd(((struct waiter *)s)->evfd); }
static const struct read_ops ringbuf_ops = {rb_consume, source_wait, any_wake};
static const struct read_ops perfbuf_ops = {pb_consume, source_wait, any_wake};
static const struct read_ops pump_ops = {pu_consume, pu_wait, any_wake};

int source_map_info(int map_fd, uint32_t type, const char *what, uint32_t info[16])
{
	int r = bpfpm_map__fd_info(map_fd, info);
	if (!r && info[0] != type)
		r = bpfpm_fail(EINVAL, "map fd %d is not %s (its type is %u)", map_fd, what, info[0]);
	if (r)
		errno = -r;
	return r ? -1 : 0;
}

BPFPM_API struct bpfpm_event_reader *bpfpm_event_reader__new(uint32_t kind, int map_fd, uint32_t page_count,
							      uint32_t wakeup_events, uint64_t staging_bytes,
							      uint32_t flags)
{
	bpfpm_clear_error();
	if (kind != BPFPM_EVENTS_RINGBUF && kind != BPFPM_EVENTS_PERF)
		return bpfpm_fail_null(EINVAL, "unknown event reader kind %u", kind);
	struct bpfpm_event_reader *r = calloc(1, sizeof(*r));
	if (!r)
		return bpfpm_fail_null(ENOMEM, "out of memory");
	if (kind == BPFPM_EVENTS_RINGBUF) {
		r->rb = ringbuf_new(map_fd);
		r->ops = &ringbuf_ops;
		r->active = r->rb;
	} else {
		r->pb = perfbuf_new(map_fd, page_count, wakeup_events);
		r->ops = &perfbuf_ops;
		r->active = r->pb;
	}
	if (!r->active) {
		int err = errno;
		free(r);
		errno = err;
		return NULL;
	}
	if (staging_bytes > 0) {
		r->pump = pump_new(r->rb, r->pb, staging_bytes, flags);
		if (!r->pump) {
			int err = errno;
			bpfpm_event_reader__free(r);
			errno = err;
			return NULL;
		}
		r->ops = &pump_ops;
		r->active = r->pump;
	}
	return r;
}

BPFPM_API int64_t bpfpm_event_reader__consume(struct bpfpm_event_reader *r, void *buf, uint64_t cap,
					      uint64_t *stats)
{
	return r->ops->consume(r->active, buf, cap, stats);
}

BPFPM_API int64_t bpfpm_event_reader__wait_drain(struct bpfpm_event_reader *r, void *buf, uint64_t cap,
						 int timeout_ms, uint64_t *stats)
{
	/* Drain first; wait only when there was nothing (no record, no newly lost ones). */
	uint64_t lost = stats[ST_LOST];
	int64_t n = r->ops->consume(r->active, buf, cap, stats);
	if (n != 0 || timeout_ms == 0 || stats[ST_LOST] != lost)
		return n;
	int w = r->ops->wait(r->active, timeout_ms, stats);
	if (w < 0)
		return w;
	return r->ops->consume(r->active, buf, cap, stats);
}

BPFPM_API int bpfpm_event_reader__wake(struct bpfpm_event_reader *r) { return r->ops->wake(r->active); }

BPFPM_API int bpfpm_event_reader__drainers(struct bpfpm_event_reader *r, uint32_t *out)
{
	if (r->pump)
		return pump_info(r->pump, out);
	out[0] = out[1] = out[3] = 0;
	out[2] = (uint32_t)-1;
	return 0;
}

BPFPM_API void bpfpm_event_reader__free(struct bpfpm_event_reader *r)
{
	if (!r)
		return;
	pump_free(r->pump); /* the drainers first: they read the source */
	ringbuf_free(r->rb);
	perfbuf_free(r->pb);
	free(r);
}

BPFPM_API void bpfpm_test__drainer_stall(struct bpfpm_event_reader *r, int ms)
{
	if (r->pump)
		pump_test_stall(r->pump, ms);
}
