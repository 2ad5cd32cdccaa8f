/*
 * deque.h - a worker's task deque: Chase-Lev work stealing (internal).
 *
 * One owner pushes and pops at the bottom (LIFO: the newest task, whose
 * data is still in cache); any number of thieves steal at the top (FIFO:
 * the oldest task, usually the root of the biggest piece of remaining
 * work).  The owner's operations take no lock and, except when the deque
 * holds a single task, no atomic read-modify-write.
 *
 * The capacity is fixed (TPI_DEQUE_CAP).  A full deque refuses a push and
 * the caller puts the task in the pool's shared queue instead; so the
 * buffer never moves and no reclamation scheme is needed.
 *
 * Memory orders follow Le, Pop, Cohen and Zappa Nardelli, "Correct and
 * Efficient Work-Stealing for Weak Memory Models" (PPoPP 2013), with two
 * fences replaced by the equivalent release store / acquire load so that
 * ThreadSanitizer, which does not model fences, sees every
 * happens-before edge the algorithm relies on:
 *
 *  push:  slot[b] = x (relaxed); bottom = b + 1 (release).
 *         The release store publishes the slot and the task's fields to a
 *         thief that reads bottom with acquire.
 *  pop:   bottom = b - 1; fence(seq_cst); read top.  (Its stores to
 *         bottom are release too: a thief may read bottom from them, and
 *         must still see the slots and tasks pushed before.)
 *         The fence orders the owner's claim on slot b-1 before its read
 *         of top, against the thief's fence between reading top and
 *         bottom: at most one of them can believe it owns the last task,
 *         and for the last one both race on a seq_cst CAS of top.
 *  steal: t = top (acquire); fence(seq_cst); b = bottom (acquire);
 *         if t < b: x = slot[t] (relaxed); CAS top t -> t+1 (seq_cst).
 *         A thief that loses the CAS drops x: the owner or another thief
 *         took it.  A slot can be overwritten by a later push only once
 *         top has moved past it, so a thief that read an overwritten slot
 *         always fails its CAS.
 *
 * Slots are atomics (relaxed) because a thief may read a slot while the
 * owner rewrites it; such a read is always discarded, as above.
 */
#ifndef TPI_DEQUE_H
#define TPI_DEQUE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "fence.h"
#include "tpool.h"

/* The deque holds tasks (future.h) but never looks inside them. */
typedef struct tpi_task tpi_task;

#define TPI_DEQUE_CAP 4096 /* a power of two */
#define TPI_CACHE_LINE 64

typedef struct tpi_deque {
    _Alignas(TPI_CACHE_LINE) _Atomic int64_t top;    /* thieves' end */
    _Alignas(TPI_CACHE_LINE) _Atomic int64_t bottom; /* owner's end */
    _Alignas(TPI_CACHE_LINE) _Atomic(tpi_task *) slot[TPI_DEQUE_CAP];
} tpi_deque;

static inline void tpi_deque_init(tpi_deque *d)
{
    atomic_init(&d->top, 0);
    atomic_init(&d->bottom, 0);
    for (int i = 0; i < TPI_DEQUE_CAP; i++)
        atomic_init(&d->slot[i], NULL);
}

/* Owner only.  Returns false when full. */
static inline bool tpi_deque_push(tpi_deque *d, tpi_task *f)
{
    int64_t b = atomic_load_explicit(&d->bottom, memory_order_relaxed);
    int64_t t = atomic_load_explicit(&d->top, memory_order_acquire);
    if (b - t >= TPI_DEQUE_CAP)
        return false;
    atomic_store_explicit(&d->slot[b & (TPI_DEQUE_CAP - 1)], f,
                          memory_order_relaxed);
    atomic_store_explicit(&d->bottom, b + 1, memory_order_release);
    return true;
}

/* Owner only.  The newest task, or NULL when empty. */
static inline tpi_task *tpi_deque_pop(tpi_deque *d)
{
    int64_t b = atomic_load_explicit(&d->bottom, memory_order_relaxed) - 1;
    atomic_store_explicit(&d->bottom, b, memory_order_release);
    tpi_fence();
    int64_t t = atomic_load_explicit(&d->top, memory_order_relaxed);
    if (t > b) { /* was empty */
        atomic_store_explicit(&d->bottom, b + 1, memory_order_release);
        return NULL;
    }
    tpi_task *f = atomic_load_explicit(&d->slot[b & (TPI_DEQUE_CAP - 1)],
                                        memory_order_relaxed);
    if (t == b) { /* the last task: race the thieves for it */
        if (!atomic_compare_exchange_strong_explicit(
                &d->top, &t, t + 1, memory_order_seq_cst,
                memory_order_relaxed))
            f = NULL;
        atomic_store_explicit(&d->bottom, b + 1, memory_order_release);
    }
    return f;
}

enum { TPI_STEAL_EMPTY = 0, TPI_STEAL_OK = 1, TPI_STEAL_RETRY = 2 };

/* Any thread.  TPI_STEAL_OK with *out set, TPI_STEAL_EMPTY, or
 * TPI_STEAL_RETRY when it lost a race (the deque may still hold tasks). */
static inline int tpi_deque_steal(tpi_deque *d, tpi_task **out)
{
    int64_t t = atomic_load_explicit(&d->top, memory_order_acquire);
    tpi_fence();
    int64_t b = atomic_load_explicit(&d->bottom, memory_order_acquire);
    if (t >= b)
        return TPI_STEAL_EMPTY;
    tpi_task *f = atomic_load_explicit(&d->slot[t & (TPI_DEQUE_CAP - 1)],
                                        memory_order_relaxed);
    if (!atomic_compare_exchange_strong_explicit(&d->top, &t, t + 1,
                                                 memory_order_seq_cst,
                                                 memory_order_relaxed))
        return TPI_STEAL_RETRY;
    *out = f;
    return TPI_STEAL_OK;
}

/* Any thread: whether the deque looks non-empty (a hint, exact only when
 * nobody is pushing or taking). */
static inline bool tpi_deque_nonempty(tpi_deque *d)
{
    int64_t t = atomic_load_explicit(&d->top, memory_order_acquire);
    int64_t b = atomic_load_explicit(&d->bottom, memory_order_acquire);
    return t < b;
}

/* Any thread: how many tasks the deque holds, as a hint (as above). */
static inline size_t tpi_deque_size(tpi_deque *d)
{
    int64_t t = atomic_load_explicit(&d->top, memory_order_relaxed);
    int64_t b = atomic_load_explicit(&d->bottom, memory_order_relaxed);
    return b > t ? (size_t)(b - t) : 0;
}

#endif
