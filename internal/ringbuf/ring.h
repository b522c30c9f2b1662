/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * ring.h - the one reader of exitsnoop's notification ring buffer
 * (BPF_MAP_TYPE_RINGBUF, kernel 5.8+), shared by the Go package (through cgo,
 * internal/ringbuf) and the C library: C, no threads, no allocation, no global
 * state. One struct es_ring per reader; a reader is used by one thread at a
 * time. Several readers, in several processes, may share one ring buffer: each
 * sees every record.
 *
 * The layout is the kernel's (kernel/bpf/ringbuf.c): a consumer page that
 * readers write, then a producer page and the data area, mapped twice in a row
 * so that a record that wraps around is contiguous.
 *
 * Reading, in either language:
 *   1. es_ring_consume(): copies what is committed, publishes the position.
 *   2. Nothing? es_ring_idle() says what next: > 0, sleep that many ns and go to
 *      1 (lingering after records came, so that a stream of records costs the
 *      producer no wake-ups); 0, it has just set the producer's wake flag: go to
 *      1 once more, and if still nothing, sleep; < 0 (the producer wakes readers
 *      itself: no es_ring_wake_on_demand), sleep at once. The sleep is in epoll on
 *      the ring's fd, for at most a backstop: an overtaken reader is not woken
 *      (see ES_RING_BACKSTOP_MS).
 */
#ifndef EXITSNOOP_RING_H
#define EXITSNOOP_RING_H

#include <stddef.h>
#include <stdint.h>

/* The longest record delivered; longer ones are skipped and counted as lost. */
#define ES_RING_MAX_RECORD 256
/* The default bound on a sleep that a wake-up cannot end (see ring.c). */
#define ES_RING_BACKSTOP_MS 100

struct es_ring {
	uint64_t *cons_pos;       /* the shared consumer position */
	const uint64_t *prod_pos; /* the kernel's producer position */
	const uint8_t *data;      /* the data area, mapped twice */
	uint64_t mask;            /* data size - 1 */
	uint64_t pos;             /* this reader's position */
	uint64_t lost;            /* read with es_ring_lost(), from any thread */
	uint32_t *waiting;        /* the producer's wake flag, or NULL */
	int64_t last_ns;          /* CLOCK_MONOTONIC when records last came */
	int64_t pause_ns;         /* the next lingering pause */
	void *cons_map, *prod_map; /* es_ring_map's mappings, or NULL */
	size_t prod_len;
};

/* es_ring_map maps the ring buffer behind fd, of data size size (a power-of-two
 * multiple of the page size; fd may be closed afterwards). The reader starts at
 * the records to come. 0 or a negative errno (-EINVAL: a size the kernel cannot
 * have). */
int es_ring_map(struct es_ring *r, int fd, uint32_t size);

/* es_ring_init is es_ring_map on mappings the caller made (a consumer page and
 * a producer page followed by the data area twice); tests lay them out in
 * anonymous memory and play the producer. */
void es_ring_init(struct es_ring *r, void *cons, void *prod, size_t page, uint64_t size);

/* es_ring_unmap releases es_ring_map's mappings: 0 or a negative errno. */
int es_ring_unmap(struct es_ring *r);

/* es_ring_wake_on_demand: the producer writes records without waking readers
 * (BPF_RB_NO_WAKEUP) and wakes them all only when it finds *waiting set,
 * clearing it; es_ring_idle sets it before the reader sleeps. */
void es_ring_wake_on_demand(struct es_ring *r, uint32_t *waiting);

/* es_ring_consume copies up to max committed records that follow the reader's
 * position into out, ES_RING_MAX_RECORD bytes apart, their lengths into lens,
 * in order, publishes the position, and returns how many it copied. Discarded
 * records are skipped; one too long, or records the producer overwrote before
 * the reader got to them (it fell behind), count as lost. A record still being
 * written stops it. */
size_t es_ring_consume(struct es_ring *r, uint8_t *out, uint32_t *lens, size_t max);

/* es_ring_arm sets the producer's wake flag at once, without lingering (an
 * event loop's reader, which cannot pause): look for records once more after it. */
void es_ring_arm(struct es_ring *r);

/* es_ring_idle: what a reader that found nothing does next (see the top). */
int64_t es_ring_idle(struct es_ring *r);

/* es_ring_lost counts what this reader missed: one for each record too long,
 * and one for each time it fell behind, however many records that was (their
 * headers are overwritten too: the number is unknowable). 0 if and only if the
 * reader missed nothing. */
uint64_t es_ring_lost(const struct es_ring *r);

#endif
