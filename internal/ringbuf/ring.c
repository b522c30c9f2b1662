// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* ring.c - the ring-buffer reader of ring.h. */
#include <errno.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "ring.h"

#define HDR_SIZE 8u            /* struct bpf_ringbuf_hdr: u32 len, u32 pg_off */
#define BUSY_BIT (1u << 31)    /* BPF_RINGBUF_BUSY_BIT: being written */
#define DISCARD_BIT (1u << 30) /* BPF_RINGBUF_DISCARD_BIT: skip it */
#define LEN_MASK (~(BUSY_BIT | DISCARD_BIT))

/* Lingering after records came: look again after LINGER_FIRST, doubling up to
 * LINGER_MAX, for LINGER_FOR in all, before setting the wake flag. */
#define LINGER_FIRST_NS 50000LL
#define LINGER_MAX_NS 1000000LL
#define LINGER_FOR_NS 5000000LL

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* publish moves the shared consumer position up to this reader's: each reader
 * of a shared ring moves it to the furthest any reader got. */
static void publish(struct es_ring *r)
{
	uint64_t c = __atomic_load_n(r->cons_pos, __ATOMIC_ACQUIRE);

	while (c < r->pos &&
	       !__atomic_compare_exchange_n(r->cons_pos, &c, r->pos, 0, __ATOMIC_RELEASE, __ATOMIC_ACQUIRE))
		;
}

void es_ring_init(struct es_ring *r, void *cons, void *prod, size_t page, uint64_t size)
{
	*r = (struct es_ring){
		.cons_pos = cons,
		.prod_pos = prod,
		.data = (const uint8_t *)prod + page,
		.mask = size - 1,
		.pause_ns = LINGER_FIRST_NS,
	};
	/* A new reader starts with the records to come; older ones are for others. */
	r->pos = __atomic_load_n(r->prod_pos, __ATOMIC_ACQUIRE);
	publish(r);
}

int es_ring_map(struct es_ring *r, int fd, uint32_t size)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	void *cons, *prod;

	*r = (struct es_ring){0};
	if (size == 0 || (size & (size - 1)) || size % page)
		return -EINVAL;
	cons = mmap(NULL, page, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (cons == MAP_FAILED)
		return -errno;
	prod = mmap(NULL, page + 2 * (size_t)size, PROT_READ, MAP_SHARED, fd, (off_t)page);
	if (prod == MAP_FAILED) {
		int err = -errno;

		munmap(cons, page);
		return err;
	}
	es_ring_init(r, cons, prod, page, size);
	r->cons_map = cons;
	r->prod_map = prod;
	r->prod_len = page + 2 * (size_t)size;
	return 0;
}

int es_ring_unmap(struct es_ring *r)
{
	int err = 0;

	if (r->cons_map && munmap(r->cons_map, (size_t)sysconf(_SC_PAGESIZE)))
		err = -errno;
	if (r->prod_map && munmap(r->prod_map, r->prod_len) && !err)
		err = -errno;
	*r = (struct es_ring){0};
	return err;
}

void es_ring_wake_on_demand(struct es_ring *r, uint32_t *waiting)
{
	r->waiting = waiting;
}

uint64_t es_ring_lost(const struct es_ring *r)
{
	return __atomic_load_n(&r->lost, __ATOMIC_RELAXED);
}

/* resync skips what the producer overwrote: up to the shared consumer position,
 * where the kernel keeps records intact. */
static void resync(struct es_ring *r)
{
	uint64_t c = __atomic_load_n(r->cons_pos, __ATOMIC_ACQUIRE);

	__atomic_add_fetch(&r->lost, 1, __ATOMIC_RELAXED);
	if (c > r->pos)
		r->pos = c;
}

/* A reader left behind may find its records overwritten: it checks, after
 * copying each record, that the producer has not come round to it, and skips to
 * the shared position if so. */
size_t es_ring_consume(struct es_ring *r, uint8_t *out, uint32_t *lens, size_t max)
{
	size_t n = 0;

	while (n < max) {
		uint64_t prod = __atomic_load_n(r->prod_pos, __ATOMIC_ACQUIRE);
		uint64_t off, size;
		uint32_t hdr;

		if (prod - r->pos > r->mask + 1) {
			resync(r);
			continue;
		}
		if (r->pos >= prod)
			break;
		off = r->pos & r->mask;
		hdr = __atomic_load_n((const uint32_t *)(r->data + off), __ATOMIC_ACQUIRE);
		if (hdr & BUSY_BIT)
			break; /* being written; the writer wakes us when done */
		size = hdr & LEN_MASK;
		if (size > r->mask) {
			resync(r); /* read a header the producer was overwriting */
			continue;
		}
		if (!(hdr & DISCARD_BIT) && size <= ES_RING_MAX_RECORD) {
			__builtin_memcpy(out + n * ES_RING_MAX_RECORD, r->data + off + HDR_SIZE, size);
			__atomic_thread_fence(__ATOMIC_ACQUIRE);
		}
		if (__atomic_load_n(r->prod_pos, __ATOMIC_ACQUIRE) - r->pos > r->mask + 1) {
			resync(r); /* overwritten while copied */
			continue;
		}
		r->pos += (size + HDR_SIZE + 7) & ~7ULL;
		if (hdr & DISCARD_BIT)
			continue;
		if (size > ES_RING_MAX_RECORD) {
			__atomic_add_fetch(&r->lost, 1, __ATOMIC_RELAXED);
			continue;
		}
		lens[n++] = (uint32_t)size;
	}
	publish(r);
	if (n > 0) {
		r->last_ns = now_ns();
		r->pause_ns = LINGER_FIRST_NS;
	}
	return n;
}

void es_ring_arm(struct es_ring *r)
{
	if (r->waiting) /* ordered as in es_ring_idle */
		__atomic_store_n(r->waiting, 1, __ATOMIC_SEQ_CST);
}

int64_t es_ring_idle(struct es_ring *r)
{
	if (!r->waiting)
		return -1;
	if (now_ns() - r->last_ns < LINGER_FOR_NS) {
		int64_t p = r->pause_ns;

		r->pause_ns = p * 2 < LINGER_MAX_NS ? p * 2 : LINGER_MAX_NS;
		return p;
	}
	/* Sequentially consistent: the flag is ordered before the caller's next look
	 * at the records, as the producer's commit is before its look at the flag. */
	__atomic_store_n(r->waiting, 1, __ATOMIC_SEQ_CST);
	return 0;
}
