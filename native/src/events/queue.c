/* The pump's chunk queues: each drainer appends the chunks it fills, with their stream
 * positions, to its own lock-free single-producer queue; the consumer delivers them in
 * position order and never waits for a drainer. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "pump.h"

int queue_init(struct drainer *d)
{
	d->q_head = d->q_tail = calloc(1, sizeof(struct chunk));
	return d->q_head ? 0 : -ENOMEM;
}

void queue_push(struct drainer *d, struct chunk *c)
{
	__atomic_add_fetch(&d->p->staged, c->len, __ATOMIC_RELEASE);
	__atomic_store_n(&d->q_tail->next, c, __ATOMIC_RELEASE);
	d->q_tail = c;
}

uint64_t queue_deliver(struct pump *p, uint8_t *buf, uint64_t cap, uint64_t *need)
{
	uint64_t written = 0;
	*need = 0;
	/* Chunks leave in stream order: the one that starts where the last one ended. A chunk a
	 * drainer has claimed but not queued yet holds back the ones after it. */
	for (int progressed = 1; progressed && !*need;) {
		progressed = 0;
		for (int i = 0; i < p->n && !*need; i++) {
			struct drainer *d = &p->d[i];
			struct chunk *c;
			while ((c = __atomic_load_n(&d->q_head->next, __ATOMIC_ACQUIRE)) &&
			       c->start == p->next) {
				if (written + c->len > cap) {
					*need = c->len;
					break;
				}
				memcpy(buf + written, c->data, c->len);
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
	return written;
}

void queue_free(struct drainer *d)
{
	for (struct chunk *c = d->q_head, *next; c; c = next) {
		next = c->next;
		free(c);
	}
	d->q_head = d->q_tail = NULL;
}
