/*
 * inject.h - the injector: the queue of tasks handed to a pool by threads
 * that are not its workers (and by workers, at a level other than normal
 * or when their deque is full) (internal).
 *
 * Two halves, so that a submitter never waits for a worker:
 *
 *   producers (any thread, no lock)        consumers (workers, inj_mu held)
 *   ------------------------------         -------------------------------
 *   `top`: a stack of tasks, newest        `ready`: a FIFO of tasks, oldest
 *   first, linked through task->next;      first, with its length in
 *   a push is one compare-and-swap         `ready_len`; a consumer that
 *   (tpi_inject_push)                      finds it empty takes the whole
 *                                          stack at once (one fetch-and),
 *                                          reverses it and appends it
 *
 * Order: every task in `ready` was pushed before every task still on the
 * stack, and the reversal restores push order, so the injector is FIFO
 * (a chain pushed at once keeps its order: it goes on the stack reversed).
 *
 * Why a stack and not a linked queue: a consumer takes everything in one
 * atomic step and never meets a half-linked node (the window of a Vyukov
 * queue, where a producer has swung the tail but not yet linked its node,
 * and which makes "is it empty?" unanswerable without waiting for it).
 * No ABA either: producers only push, consumers only take the whole
 * stack, so a compare-and-swap that succeeds on a top it read has linked
 * its task to exactly the stack that is there.
 *
 * Closing: the low bit of `top` (TPI_INJ_CLOSED; tasks are aligned) says
 * a shutdown has begun.  A push from outside the pool that reads it fails
 * (TP_ESHUTDOWN, nothing queued); a worker's push keeps it and succeeds
 * (children of running tasks are part of the work).  As the bit is in the
 * word the push swaps, a push that succeeded without it is ordered before
 * the close in `top`'s modification order: whoever sees the pool stopping
 * (set after the close) also sees the task.
 *
 * Visibility for the sleep/wake claim (pool_internal.h): the push's
 * compare-and-swap is the store that R1 of a worker about to sleep reads
 * (tpi_inject_nonempty reads `top` and `ready_len`).  Between a consumer's
 * fetch-and and its store of the new `ready_len` both read empty, but the
 * tasks are then in the hands of an awake thread that stores `ready_len`
 * and then runs F2 and wakes a sleeper if it leaves any (sched.c,
 * introspect.c): to the claim it is a push.  model/inject.pml checks this
 * protocol, with the close, for lost tasks and lost wake-ups.
 */
#ifndef TPI_INJECT_H
#define TPI_INJECT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "future.h"
#include "list.h"

#ifndef TPI_CACHE_LINE
#define TPI_CACHE_LINE 64
#endif

#define TPI_INJ_CLOSED ((uintptr_t)1)

typedef struct tpi_injector {
    /* Written by producers: its own cache line. */
    _Alignas(TPI_CACHE_LINE) _Atomic uintptr_t top;
    /* The consumers' half (inj_mu), on another line. */
    _Alignas(TPI_CACHE_LINE) tpi_list ready;
    _Atomic size_t ready_len; /* written under inj_mu, read anywhere */
} tpi_injector;

static inline void tpi_inject_init(tpi_injector *q)
{
    atomic_init(&q->top, 0);
    q->ready.head = q->ready.tail = NULL;
    atomic_init(&q->ready_len, 0);
}

/* Pushes a chain of tasks (in order, not empty) and empties it.  `outside`:
 * the caller is not a worker of the pool, and the push fails once the
 * injector is closed.  Returns false (the chain untouched) only then.
 * seq_cst: the compare-and-swap is what R1 reads (pool_internal.h). */
static inline bool tpi_inject_push(tpi_injector *q, tpi_list *chain,
                                   bool outside)
{
    /* Reversed: its newest task goes on top. */
    tpi_task *oldest = chain->head;
    tpi_task *newest = tpi_chain_reverse(chain->head, NULL);
    uintptr_t old = atomic_load_explicit(&q->top, memory_order_relaxed);
    do {
        if (outside && (old & TPI_INJ_CLOSED) != 0) {
            /* Put the chain back as it was (a failed compare-and-swap
             * may have linked its oldest task to the stack). */
            oldest->next = NULL;
            (void)tpi_chain_reverse(newest, NULL);
            return false;
        }
        oldest->next = (tpi_task *)(old & ~TPI_INJ_CLOSED);
    } while (!atomic_compare_exchange_weak_explicit(
        &q->top, &old, (uintptr_t)newest | (old & TPI_INJ_CLOSED),
        memory_order_seq_cst, memory_order_relaxed));
    chain->head = chain->tail = NULL;
    return true;
}

/* Moves every task on the stack to the end of `ready`, in push order;
 * returns how many.  inj_mu held.  The caller stores nothing else: the
 * new length is stored here, and a caller that is not going to run the
 * tasks itself wakes a sleeper (see the top comment). */
static inline size_t tpi_inject_drain(tpi_injector *q)
{
    uintptr_t got = atomic_fetch_and_explicit(&q->top, TPI_INJ_CLOSED,
                                              memory_order_acquire);
    tpi_task *last = (tpi_task *)(got & ~TPI_INJ_CLOSED);
    size_t n;
    tpi_task *fwd = tpi_chain_reverse(last, &n);
    if (n > 0) {
        tpi_list chain = {fwd, last};
        tpi_list_splice(&q->ready, &chain);
        atomic_store_explicit(
            &q->ready_len,
            atomic_load_explicit(&q->ready_len, memory_order_relaxed) + n,
            memory_order_relaxed);
    }
    return n;
}

/* How many tasks `ready` holds, after draining the stack into it if it
 * was empty.  inj_mu held. */
static inline size_t tpi_inject_ready(tpi_injector *q)
{
    size_t len = atomic_load_explicit(&q->ready_len, memory_order_relaxed);
    return len > 0 ? len : tpi_inject_drain(q);
}

/* Takes the first k tasks off `ready` (k <= tpi_inject_ready()).  inj_mu
 * held. */
static inline tpi_list tpi_inject_take(tpi_injector *q, size_t k)
{
    tpi_list got = tpi_list_take(&q->ready, k);
    atomic_store_explicit(
        &q->ready_len,
        atomic_load_explicit(&q->ready_len, memory_order_relaxed) - k,
        memory_order_relaxed);
    return got;
}

/* Takes every task, in push order.  inj_mu held. */
static inline tpi_list tpi_inject_take_all(tpi_injector *q)
{
    tpi_inject_drain(q);
    return tpi_inject_take(
        q, atomic_load_explicit(&q->ready_len, memory_order_relaxed));
}

/* Whether a task may be there (lock-free; exact but for the window above). */
static inline bool tpi_inject_nonempty(tpi_injector *q)
{
    return (atomic_load_explicit(&q->top, memory_order_relaxed) &
            ~TPI_INJ_CLOSED) != 0 ||
           atomic_load_explicit(&q->ready_len, memory_order_relaxed) > 0;
}

/* Closes the injector to pushes from outside the pool. */
static inline void tpi_inject_close(tpi_injector *q)
{
    atomic_fetch_or_explicit(&q->top, TPI_INJ_CLOSED, memory_order_seq_cst);
}

#endif
