/* The event reader: one handle over a ring buffer or a perf buffer, read directly or through
 * a pump. Each reader picks its read functions once, at construction. */
#include <errno.h>
#include <stdlib.h>

#include "bpfpm_test.h"
#include "events.h"

struct bpfpm_event_reader {
	int64_t (*consume)(void *src, void *buf, uint64_t cap, uint64_t *stats);
	int64_t (*wait_drain)(void *src, void *buf, uint64_t cap, int timeout_ms, uint64_t *stats);
	int (*wake)(void *src);
	void *active; /* what consume reads: the pump, or the source itself */
	struct ringbuf *rb;
	struct perfbuf *pb;
	struct pump *pump;
};

/* The read functions of each source, over the reader's active pointer. */
static int64_t rb_consume(void *s, void *b, uint64_t c, uint64_t *st) { return ringbuf_consume(s, b, c, st); }
static int64_t rb_wait(void *s, void *b, uint64_t c, int t, uint64_t *st) { return ringbuf_wait_drain(s, b, c, t, st); }
static int rb_wake(void *s) { return ringbuf_wake(s); }
static int64_t pb_consume(void *s, void *b, uint64_t c, uint64_t *st) { return perfbuf_consume(s, b, c, st); }
static int64_t pb_wait(void *s, void *b, uint64_t c, int t, uint64_t *st) { return perfbuf_wait_drain(s, b, c, t, st); }
static int pb_wake(void *s) { return perfbuf_wake(s); }
static int64_t pu_consume(void *s, void *b, uint64_t c, uint64_t *st) { return pump_consume(s, b, c, st); }
static int64_t pu_wait(void *s, void *b, uint64_t c, int t, uint64_t *st) { return pump_wait_drain(s, b, c, t, st); }
static int pu_wake(void *s) { return pump_wake(s); }

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
		r->consume = rb_consume;
		r->wait_drain = rb_wait;
		r->wake = rb_wake;
		r->active = r->rb;
	} else {
		r->pb = perfbuf_new(map_fd, page_count, wakeup_events);
		r->consume = pb_consume;
		r->wait_drain = pb_wait;
		r->wake = pb_wake;
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
		r->consume = pu_consume;
		r->wait_drain = pu_wait;
		r->wake = pu_wake;
		r->active = r->pump;
	}
	return r;
}

BPFPM_API int64_t bpfpm_event_reader__consume(struct bpfpm_event_reader *r, void *buf, uint64_t cap,
					      uint64_t *stats)
{
	return r->consume(r->active, buf, cap, stats);
}

BPFPM_API int64_t bpfpm_event_reader__wait_drain(struct bpfpm_event_reader *r, void *buf, uint64_t cap,
						 int timeout_ms, uint64_t *stats)
{
	return r->wait_drain(r->active, buf, cap, timeout_ms, stats);
}

BPFPM_API int bpfpm_event_reader__wake(struct bpfpm_event_reader *r) { return r->wake(r->active); }

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
