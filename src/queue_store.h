/*
 * queue_store.h - the items of a tp_queue (internal; included by queue.c
 * alone, which owns the locking: see queue.c for which lock guards which
 * end of a store).
 *
 * The items of a queue live in one array, the store, so that put and get
 * allocate nothing once the queue has reached its working size:
 *  - FIFO and LIFO: a ring of `void *` whose size is a power of two.  The
 *    items are at positions head .. tail-1, two counters that only grow
 *    (an index is a position masked with cap - 1; 64 bits do not wrap in
 *    practice: 585 years at one put per nanosecond).  A put appends at
 *    tail; FIFO takes from head and LIFO from tail - 1.  Keeping the two
 *    ends in two counters, rather than a head and a count, is what lets a
 *    FIFO queue's putters and getters work on the ring at once under two
 *    different locks: a put writes only tail and the slot at tail, a get
 *    only head and the slot at head.
 *  - PRIORITY: a binary min-heap of {item, prio, seq} keyed on (prio, seq),
 *    with head 0 and tail the number of entries.  seq numbers the puts of
 *    the queue (64 bits, as the positions); a heap alone is not stable,
 *    the key makes items of equal priority come out in put order.
 *    Priorities are any int, so a ring per level would need a search for
 *    the level on every put; the heap needs none and is O(log n).
 * A new queue owns no store: the first put allocates it, and it grows by
 * doubling (a bounded queue's never beyond the power of two at or above its
 * capacity, so a huge capacity costs nothing until it is used).  Growth
 * copies with both ends held, amortised O(1) per item, unwrapping the ring
 * to start at position 0; a failed allocation leaves the queue as it was.
 * The store never shrinks, so get never allocates and cannot fail for lack
 * of memory; a queue keeps the memory of its largest size until it is
 * destroyed.
 */
#ifndef TPI_QUEUE_STORE_H
#define TPI_QUEUE_STORE_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "alloc.h"
#include "tpool_queue.h"

/* A store starts with this many slots (or fewer for a smaller capacity);
 * a power of two, as every store size is. */
#define TPI_QUEUE_MIN_SLOTS 16u

/* One entry of a priority heap. */
typedef struct tpi_qslot {
    void *item;
    uint64_t seq; /* put order: breaks ties between equal priorities */
    int prio;
} tpi_qslot;

/* The array of a store.  Its two ends, head and tail (see the top
 * comment), are passed beside it, so that a queue can keep each on the
 * cache line of the lock that guards it: head is a ring's position of the
 * oldest item (always 0 for a heap), tail the position after the newest
 * (a heap's size). */
typedef struct tpi_qstore {
    void *slots; /* void *[cap] (FIFO, LIFO) or tpi_qslot[cap] (PRIORITY) */
    size_t cap;  /* slots allocated: 0 or a power of two */
} tpi_qstore;

static inline size_t tpi_qmin(size_t a, size_t b)
{
    return a < b ? a : b;
}

static inline size_t tpi_qslot_size(tp_queue_order order)
{
    return order == TP_QUEUE_PRIORITY ? sizeof(tpi_qslot) : sizeof(void *);
}

/* The smallest power of two >= n (n <= TP_MAX_CAPACITY, itself one). */
static inline size_t tpi_qpow2_at_least(size_t n)
{
    size_t p = 1;
    while (p < n)
        p *= 2;
    return p;
}

/* Makes room for `need` items in all, growing by doubling but never beyond
 * the power of two at or above `limit` (0: none; need <= limit).  The items
 * keep their order; a ring is unwrapped to start at position 0 (*head and
 * *tail are moved with it).  The caller holds both ends.  Returns 0 or
 * TP_ENOMEM, with s unchanged. */
static int tpi_qstore_grow(tpi_qstore *s, size_t *head, size_t *tail,
                           size_t slot, size_t need, size_t limit)
{
    if (need > SIZE_MAX / 2)
        return TP_ENOMEM;
    size_t cap = s->cap == 0 ? TPI_QUEUE_MIN_SLOTS : s->cap;
    while (cap < need)
        cap *= 2;
    if (limit != 0 && cap > tpi_qpow2_at_least(limit))
        cap = tpi_qpow2_at_least(limit);
    if (cap > SIZE_MAX / slot)
        return TP_ENOMEM;
    unsigned char *fresh = tpi_malloc(cap * slot);
    if (fresh == NULL)
        return TP_ENOMEM;
    /* A heap has head 0 and never wraps, so first == count for it. */
    const unsigned char *old = s->slots;
    size_t count = *tail - *head;
    size_t at = s->cap == 0 ? 0 : *head & (s->cap - 1);
    size_t first = tpi_qmin(count, s->cap - at);
    if (first > 0)
        memcpy(fresh, old + at * slot, first * slot);
    if (count > first)
        memcpy(fresh + first * slot, old, (count - first) * slot);
    tpi_free(s->slots);
    s->slots = fresh;
    s->cap = cap;
    *head = 0;
    *tail = count;
    return 0;
}

/* The slot of a ring position. */
static inline void **tpi_qring_slot(const tpi_qstore *s, size_t pos)
{
    return &((void **)s->slots)[pos & (s->cap - 1)];
}

static inline bool tpi_qslot_before(const tpi_qslot *a, const tpi_qslot *b)
{
    return a->prio < b->prio || (a->prio == b->prio && a->seq < b->seq);
}

/* Adds one item to a heap that has room. */
static void tpi_qheap_push(tpi_qstore *s, size_t *size, void *item, int prio,
                           uint64_t seq)
{
    /* Sift up, moving parents down into the hole rather than swapping. */
    tpi_qslot *heap = s->slots;
    tpi_qslot in = {item, seq, prio};
    size_t hole = (*size)++;
    while (hole > 0) {
        size_t parent = (hole - 1) / 2;
        if (!tpi_qslot_before(&in, &heap[parent]))
            break;
        heap[hole] = heap[parent];
        hole = parent;
    }
    heap[hole] = in;
}

/* Removes the smallest entry of a heap that is not empty. */
static tpi_qslot tpi_qheap_pop(tpi_qstore *s, size_t *size)
{
    /* Take the root, then sift the last entry down from the root's hole. */
    tpi_qslot *heap = s->slots;
    tpi_qslot top = heap[0];
    size_t n = --*size;
    if (n > 0) {
        tpi_qslot last = heap[n];
        size_t hole = 0;
        for (;;) {
            size_t child = 2 * hole + 1;
            if (child >= n)
                break;
            if (child + 1 < n &&
                tpi_qslot_before(&heap[child + 1], &heap[child]))
                child++;
            if (!tpi_qslot_before(&heap[child], &last))
                break;
            heap[hole] = heap[child];
            hole = child;
        }
        heap[hole] = last;
    }
    return top;
}

/* Adds one item; the store has room (tpi_qstore_reserve).  Touches only
 * the tail end of a ring.  *seq numbers the puts of a PRIORITY queue
 * (unused by the other orders). */
static inline void tpi_qstore_push(tpi_qstore *s, size_t *tail,
                                   tp_queue_order order, void *item, int prio,
                                   uint64_t *seq)
{
    if (order == TP_QUEUE_PRIORITY) {
        tpi_qheap_push(s, tail, item, prio, (*seq)++);
        return;
    }
    *tpi_qring_slot(s, (*tail)++) = item;
}

/* Removes the next item in the queue's order; the store is not empty.
 * FIFO touches only the head end of the ring.  Stores the item's priority
 * in *prio (0 for FIFO and LIFO) if prio is not NULL.  Small enough to
 * inline: the heap's work is in tpi_qheap_pop. */
static inline void *tpi_qstore_pop(tpi_qstore *s, size_t *head, size_t *tail,
                                   tp_queue_order order, int *prio)
{
    void *item;
    int p = 0;
    if (order == TP_QUEUE_FIFO) {
        item = *tpi_qring_slot(s, (*head)++);
    } else if (order == TP_QUEUE_LIFO) {
        item = *tpi_qring_slot(s, --*tail);
    } else {
        tpi_qslot top = tpi_qheap_pop(s, tail);
        item = top.item;
        p = top.prio;
    }
    if (prio != NULL)
        *prio = p;
    return item;
}

/* Hands every item of a detached store (ends head and tail) to drop (if
 * any), in get order, then frees the store's memory. */
static void tpi_qstore_drain(tpi_qstore *s, size_t head, size_t tail,
                             tp_queue_order order, tp_queue_drop_fn drop,
                             void *ctx)
{
    if (drop != NULL) {
        while (tail != head)
            drop(tpi_qstore_pop(s, &head, &tail, order, NULL), ctx);
    }
    tpi_free(s->slots);
    *s = (tpi_qstore){NULL, 0};
}

#endif
