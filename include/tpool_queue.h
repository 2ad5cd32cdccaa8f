/**
 * @file
 * tpool_queue.h - a thread-safe blocking queue of `void *` items.
 *
 * Any number of threads may put items in and take them out at once
 * (multi-producer, multi-consumer).  The order in which items come out is
 * chosen when the queue is created:
 *
 * ~~~
 *   TP_QUEUE_FIFO      first in, first out
 *   TP_QUEUE_LIFO      last in, first out (a stack)
 *   TP_QUEUE_PRIORITY  smallest priority first (as Python's PriorityQueue);
 *                      items of equal priority come out in the order they
 *                      were put (the order is stable)
 * ~~~
 *
 * A queue is unbounded or holds at most `capacity` items; a put on a full
 * queue waits for room.  Every operation that can wait takes a timeout as in
 * tpool.h (milliseconds on the monotonic clock, 0 = do not wait, negative =
 * wait for ever).  Items are opaque to the queue: it never reads, copies or
 * frees what they point to.  NULL is a valid item.
 *
 * Ownership of an item passes to the queue when a put returns 0 and back to
 * the thread whose get returns it (or to a drop callback at close_now or
 * destroy).  A put that fails leaves the item with its caller; no call loses
 * an item.
 *
 * Work accounting (Python's task_done/join): each item put counts as one
 * unfinished task; tp_queue_task_done() marks one finished, and
 * tp_queue_join() waits until none is unfinished.
 *
 * Shutting down: tp_queue_close() refuses further puts but lets getters take
 * every item still inside; tp_queue_close_now() also discards those items
 * (handing each to a callback so it can be freed).  Both wake every blocked
 * caller.  Neither frees the queue: tp_queue_destroy() does, once no other
 * thread uses it.
 *
 * Unless said otherwise, every function is thread-safe: it may be called on
 * one queue from any number of threads at once.
 */
#ifndef TPOOL_QUEUE_H
#define TPOOL_QUEUE_H

/* tpool.h includes this header at its end; defining the guard first makes
 * that inner include a no-op whichever of the two a program includes. */
#include "tpool.h"

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/** An opaque queue handle. */
typedef struct tp_queue tp_queue;

/** The order in which a queue hands out its items. */
typedef enum tp_queue_order {
    TP_QUEUE_FIFO = 0, /**< first in, first out                        */
    TP_QUEUE_LIFO,     /**< last in, first out                         */
    TP_QUEUE_PRIORITY  /**< smallest priority first; ties in put order */
} tp_queue_order;

/** Receives an item that a queue discards (tp_queue_close_now(),
 * tp_queue_destroy()), on the thread that called that function, so that the
 * caller can free it.  The item belongs to the callback from then on. */
typedef void (*tp_queue_drop_fn)(void *item, void *ctx);

/** A snapshot of a queue, consistent at one instant (tp_queue_stats_get()). */
typedef struct tp_queue_stats {
    size_t size;       /**< items inside                                     */
    size_t capacity;   /**< the bound; 0 for an unbounded queue              */
    size_t unfinished; /**< items put and not yet marked done (task_done)    */
    size_t getters;    /**< threads waiting in a get for an item             */
    size_t putters;    /**< threads waiting in a put for room                */
    size_t joiners;    /**< threads waiting in tp_queue_join()               */
    int closed;        /**< 1 after tp_queue_close() or _close_now(), else 0 */
    int closed_now;    /**< 1 after tp_queue_close_now(), else 0             */
} tp_queue_stats;

/* ------------------------------------------------------------------------ */
/* Life cycle                                                               */
/* ------------------------------------------------------------------------ */

/** Creates an empty, open queue that hands out items in `order` and holds at
 * most `capacity` items (0: no bound; at most TP_MAX_CAPACITY).  The queue
 * allocates its storage as it fills (nothing for the items at creation), so
 * a large capacity costs nothing until it is used.  On success *out owns the
 * new queue: free it with tp_queue_destroy().  Thread-safe (queues are
 * independent of each other).
 * Errors: TP_EINVAL (out NULL, unknown order, capacity over TP_MAX_CAPACITY),
 * TP_ENOMEM (memory or another system resource).  On error nothing is left
 * behind and *out is unchanged. */
TP_EXTERN int tp_queue_create(tp_queue **out, tp_queue_order order,
                              size_t capacity);

/** Frees the queue.  Each item still inside is handed to drop(item, ctx), in
 * the order a get would have returned them, before this returns; with drop
 * NULL they are simply forgotten (they stay the caller's to free).  After
 * this call q is invalid.  NOT thread-safe: call it exactly once, when no
 * other thread is in, or will enter, any call on q (close the queue and join
 * the threads that use it first); drop must not use q.
 * Errors: TP_EINVAL (q NULL). */
TP_EXTERN int tp_queue_destroy(tp_queue *q, tp_queue_drop_fn drop, void *ctx);

/* ------------------------------------------------------------------------ */
/* Putting items in                                                         */
/* ------------------------------------------------------------------------ */

/** Puts item in the queue, waiting up to timeout_ms for room if the queue is
 * bounded and full (an unbounded queue never waits).  On a PRIORITY queue
 * the item gets priority 0.  On success the item belongs to the queue, the
 * unfinished count grows by one, and one waiting getter (if any) is woken.
 * Errors: TP_EINVAL (q NULL), TP_ESHUTDOWN (the queue is closed, or was
 * closed while this waited), TP_EFULL (no room: timeout_ms 0 and the queue
 * full, or the timeout expired), TP_ENOMEM (the storage could not grow).  On
 * error the item was not put and still belongs to the caller; the queue is
 * unchanged. */
TP_EXTERN int tp_queue_put(tp_queue *q, void *item, int64_t timeout_ms);

/** As tp_queue_put(), on a PRIORITY queue, with the item's priority: the
 * smallest value comes out first (any int, INT_MIN to INT_MAX); items of
 * equal priority come out in the order they were put.
 * Errors: those of tp_queue_put(); TP_EINVAL also if q is not a PRIORITY
 * queue. */
TP_EXTERN int tp_queue_put_prio(tp_queue *q, void *item, int prio,
                                int64_t timeout_ms);

/** Puts items[0 .. n-1], in that order, waiting up to timeout_ms in all for
 * room as a bounded queue fills.  The items go in as room allows: when the
 * call must wait, those already in are visible to getters (and other
 * threads' items may come between them); until then the queue's put lock
 * is taken once for as many items as fit.  On a PRIORITY queue every item
 * gets priority 0 (so they come out in this order among themselves).
 * Wakes as many waiting getters as it puts items.  *put (may be NULL)
 * receives how many were put: always the first ones, items[0 .. *put-1],
 * which now belong to the queue; the rest still belong to the caller.
 * n == 0 does nothing and returns 0.  Returns 0 when all n were put, else
 * the error that stopped the batch:
 * Errors: TP_EINVAL (q NULL; items NULL with n > 0; nothing put),
 * TP_ESHUTDOWN (closed before all were put), TP_EFULL (no room for the
 * rest: timeout_ms 0, or the timeout expired), TP_ENOMEM (the storage could
 * not grow for the next items; those were not put). */
TP_EXTERN int tp_queue_put_batch(tp_queue *q, void *const *items, size_t n,
                                 int64_t timeout_ms, size_t *put);

/* ------------------------------------------------------------------------ */
/* Taking items out                                                         */
/* ------------------------------------------------------------------------ */

/** Takes the next item (in the queue's order) and stores it in *item, waiting
 * up to timeout_ms for one if the queue is empty.  A closed queue still
 * hands out the items inside it; once it is empty, get fails with
 * TP_ESHUTDOWN (never TP_EEMPTY), so a consumer can run until then.  Wakes
 * one waiting putter (if any).  The item belongs to the caller from now on;
 * the unfinished count does not change (see tp_queue_task_done()).
 * Errors: TP_EINVAL (q or item NULL), TP_ESHUTDOWN (closed and empty),
 * TP_EEMPTY (nothing came: timeout_ms 0 and the queue empty, or the timeout
 * expired).  On error *item is unchanged and the queue is unchanged. */
TP_EXTERN int tp_queue_get(tp_queue *q, void **item, int64_t timeout_ms);

/** As tp_queue_get(), on a PRIORITY queue, and also stores the item's
 * priority in *prio (prio may be NULL).
 * Errors: those of tp_queue_get(); TP_EINVAL also if q is not a PRIORITY
 * queue. */
TP_EXTERN int tp_queue_get_prio(tp_queue *q, void **item, int *prio,
                                int64_t timeout_ms);

/** Takes up to max items at once, in the queue's order, into
 * items[0 .. *got-1]: waits up to timeout_ms for at least one, then takes
 * all it can without waiting again (at most max).  Wakes as many waiting
 * putters as it takes items.  Returns 0 with *got >= 1, or an error with
 * *got = 0.
 * Errors: TP_EINVAL (q, items or got NULL, max 0), TP_ESHUTDOWN (closed and
 * empty), TP_EEMPTY (nothing came: timeout_ms 0 and the queue empty, or the
 * timeout expired). */
TP_EXTERN int tp_queue_get_batch(tp_queue *q, void **items, size_t max,
                                 int64_t timeout_ms, size_t *got);

/** Stores in *item the item that the index-th get from now would return
 * (index 0: the next one) without taking it; the item still belongs to the
 * queue, and by the time the caller looks at it another thread may have
 * taken it (so a caller must not free it on the strength of a peek).  On a
 * PRIORITY queue only index 0 is available (the rest are not kept sorted).
 * Errors: TP_EINVAL (q or item NULL, index > 0 on a PRIORITY queue),
 * TP_EEMPTY (the queue holds index items or fewer). */
TP_EXTERN int tp_queue_peek(tp_queue *q, size_t index, void **item);

/* ------------------------------------------------------------------------ */
/* State                                                                    */
/* ------------------------------------------------------------------------ */

/** The number of items inside; 0 for NULL.  Lock-free; a snapshot that other
 * threads may change at once (as Python's qsize()). */
TP_EXTERN size_t tp_queue_size(const tp_queue *q);

/** 1 if the queue holds no item, 0 if it holds some; TP_EINVAL for NULL.
 * Lock-free; a snapshot, as tp_queue_size(). */
TP_EXTERN int tp_queue_empty(const tp_queue *q);

/** 1 if the queue is bounded and holds `capacity` items, else 0 (always 0
 * for an unbounded queue); TP_EINVAL for NULL.  Lock-free; a snapshot. */
TP_EXTERN int tp_queue_full(const tp_queue *q);

/** The capacity given at creation: 0 for an unbounded queue, and for NULL. */
TP_EXTERN size_t tp_queue_capacity(const tp_queue *q);

/** Fills *stats with a snapshot of the queue, consistent at one instant (it
 * takes the queue's locks).  A thread that was woken but has not yet run
 * still counts as waiting.
 * Errors: TP_EINVAL (q or stats NULL). */
TP_EXTERN int tp_queue_stats_get(tp_queue *q, tp_queue_stats *stats);

/* ------------------------------------------------------------------------ */
/* Work accounting                                                          */
/* ------------------------------------------------------------------------ */

/** Marks one unfinished item as done: a consumer calls it once for each item
 * it took, when it has finished with it.  When the last unfinished item is
 * marked done, every thread waiting in tp_queue_join() wakes.  Works on a
 * closed queue too.
 * Errors: TP_EINVAL (q NULL, or no item is unfinished: called more times than
 * items were put, as Python's ValueError). */
TP_EXTERN int tp_queue_task_done(tp_queue *q);

/** Waits until every item put has been marked done with tp_queue_task_done()
 * (returns at once if none is unfinished).  A graceful close does not
 * change this: consumers drain the queue and mark their items done.
 * tp_queue_close_now() counts the items it discards as done, and wakes every
 * joiner: join then returns 0 if nothing is left unfinished, or TP_ESHUTDOWN
 * if items taken before it are still unfinished (join would otherwise wait
 * on consumers that may have stopped).
 * Errors: TP_EINVAL (q NULL), TP_ETIMEDOUT (items still unfinished when the
 * timeout expired; with timeout_ms 0: at once), TP_ESHUTDOWN (closed with
 * tp_queue_close_now() and items still unfinished). */
TP_EXTERN int tp_queue_join(tp_queue *q, int64_t timeout_ms);

/* ------------------------------------------------------------------------ */
/* Shutting down                                                            */
/* ------------------------------------------------------------------------ */

/** Closes the queue: every put from now on fails with TP_ESHUTDOWN, and
 * every thread waiting in a put returns TP_ESHUTDOWN (its item was not put).
 * Gets go on handing out the items still inside; once the queue is empty
 * they fail with TP_ESHUTDOWN, and threads waiting in a get are woken to
 * return it.  Nothing is lost.  Closing a closed queue does nothing.  There
 * is no reopening.
 * Errors: TP_EINVAL (q NULL). */
TP_EXTERN int tp_queue_close(tp_queue *q);

/** Closes the queue as tp_queue_close() and discards every item still inside:
 * each is handed to drop(item, ctx) (drop may be NULL), once, in the order a
 * get would have returned them, on this thread, after the queue's locks have
 * been released (drop may call any tp_queue function, except destroy on q),
 * before this returns.  Gets then fail with TP_ESHUTDOWN; the discarded items
 * count as done for tp_queue_join(), which wakes (see there).  Calling it
 * after tp_queue_close() discards what is left; calling it twice discards
 * nothing the second time.
 * Errors: TP_EINVAL (q NULL). */
TP_EXTERN int tp_queue_close_now(tp_queue *q, tp_queue_drop_fn drop,
                                 void *ctx);

#ifdef __cplusplus
}
#endif

#endif /* TPOOL_QUEUE_H */
