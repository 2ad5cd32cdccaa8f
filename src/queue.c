/*
 * queue.c - the public blocking queue (tp_queue_*, see tpool_queue.h).
 *
 * One mutex, a ring, and counted waiters: the same shape as the queue one
 * writes by hand, kept lean enough that the features (timeouts, close,
 * task_done/join, priorities, bounds, batches) cost the common call, a
 * single put or get that does not wait, nothing it does not use.
 *
 * The items themselves live in a store (queue_store.h): a power-of-two
 * ring for FIFO and LIFO, a stable binary heap for PRIORITY, grown by
 * doubling under the lock, never shrunk, so that put and get allocate
 * nothing once the queue has reached its working size.
 *
 * Lock and condition variables
 * ----------------------------
 * One mutex, `lock`, guards every field below it in struct tp_queue.  It is
 * a leaf: nothing else is locked while it is held, and no caller code runs
 * under it (close_now and destroy call the drop callback on a store that has
 * been detached from the queue), so it cannot take part in a deadlock.
 * Three condition variables, each with a count of the threads waiting on it:
 *   not_empty   getters wait for an item (or close)
 *   not_full    putters wait for room, bounded queues only (or close)
 *   all_done    joiners wait for `unfinished` to reach 0 (or close_now)
 *
 * Waking only whom nobody is waking yet
 * -------------------------------------
 * A waiter stays counted (getters, putters) from before its wait until it
 * has the lock back, and beside each count is the number of signals sent
 * to that condition variable that no waiter has yet absorbed (getters_woken,
 * putters_woken).  The waiters a signal can still help are the difference:
 * a put signals only if some getter is waiting with no signal on its way,
 * and a batch of k items signals min(k, that many).  So nobody waiting
 * costs no signal, and neither does the stream of puts that arrives while a
 * consumer is being woken: without the second count every one of them
 * would signal again (a system call each) for the same sleeping consumer.
 * Every waiter, when it has the lock back, absorbs one pending signal if
 * there is one, whether it was woken by it or by a timeout or spuriously:
 *   woken <= waiting, always (a signal is sent only while woken < waiting,
 *     and a waiter that leaves takes one pending signal with it)
 *   woken <= U + S, where U counts the waiters no longer blocked (they will
 *     reach the lock and absorb) and S the signals that will unblock a
 *     blocked waiter: a signal sent when no counted waiter is blocked still
 *     finds U >= waiting > woken, and every other case keeps the sum.
 * Hence when woken == waiting, every counted waiter is awake or about to be
 * and will look at the queue again before it sleeps: an item put then is
 * not left behind, so skipping the signal loses no wake-up.  A waiter that
 * absorbs a signal meant for another only makes woken smaller than it
 * could be, which costs at worst one more signal.  close and close_now
 * broadcast and set woken = waiting.  Joiners wait only for the last
 * task_done or close_now, which broadcast, so they need no second count.
 *
 * Every signal and broadcast is sent with the lock held.  Signalling after
 * unlocking was measured (bench/qdriver.c, one producer and eight consumers
 * on two cores) to be up to ten times slower: the consumers then take each
 * item as soon as it is put and go back to sleep, about ten times as many
 * condition waits, where a consumer woken under the lock mostly finds more
 * items by the time it has the mutex.  A batch put that must wait for room
 * signals before it waits, since the getters it wakes are what make room.
 *
 * Timeouts
 * --------
 * A call that does not wait reads no clock: its timeout becomes an absolute
 * monotonic deadline only on the first wait, and only if it is finite
 * (qwait).  From then on the call loops on its predicate against that one
 * deadline: spurious wake-ups, a signal won by another thread, and a
 * timeout that raced with a signal are all handled by looking again.  The
 * predicate is checked before the deadline, so a thread that times out just
 * as an item arrives takes the item rather than leaving it to a getter that
 * nobody will signal again.
 *
 * Invariants (whenever the lock is free)
 *   st.count <= st.cap, and st.count <= capacity for a bounded queue
 *   len == st.count (len is its lock-free copy)
 *   closed_now implies closed; a closed queue's count never grows
 *   getters/putters/joiners = threads between the ++ and -- around a wait
 *   getters_woken <= getters, putters_woken <= putters
 */
#include "tpool_queue.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "alloc.h"
#include "clock.h"
#include "queue_store.h"

/* Laid out for the common calls: a put or a get that does not wait reads
 * and writes only the mutex's cache line and the next one (64-byte lines,
 * glibc's 40-byte mutex; elsewhere the layout is merely compact), which is
 * why the queue is allocated on a line boundary (tp_queue_create) and the
 * waiter counts are `unsigned` (they count threads). */
struct tp_queue {
    pthread_mutex_t lock;   /* guards everything below but the immutables */
    tp_queue_order order;   /* immutable */
    bool closed;            /* no more puts */
    bool closed_now;        /* closed, and the items then inside discarded */
    unsigned getters;       /* waiting on not_empty */
    unsigned getters_woken; /* signals on not_empty not yet absorbed */
    unsigned putters;       /* waiting on not_full */
    unsigned putters_woken; /* signals on not_full not yet absorbed */
    /* second line */
    tpi_qstore st;
    size_t capacity;        /* immutable; 0: unbounded */
    size_t unfinished;      /* put and not yet marked done */
    _Atomic size_t len;     /* copy of st.count for size/empty/full */
    /* the rest: waits, PRIORITY, life cycle */
    unsigned joiners;       /* waiting on all_done */
    uint64_t next_seq;      /* PRIORITY: seq of the next item put */
    void *mem;              /* the allocation q lies in (q is aligned) */
    pthread_cond_t not_empty;
    pthread_cond_t not_full;
    pthread_cond_t all_done;
};

/* The line size tp_queue_create aligns a queue to. */
#define TPI_QUEUE_ALIGN 64u

/* ---- waiting and waking (lock held) ----------------------------------------- */

/* A call's timeout, turned into a deadline on its first wait (see the top
 * comment: a call that does not wait reads no clock). */
typedef struct qwait {
    int64_t timeout_ms;
    bool armed; /* dl is set */
    tpi_deadline dl;
} qwait;

/* Signals up to n of the threads waiting on cond that no signal is on its
 * way to yet (see "Waking only whom nobody is waking yet"). */
static void wake(pthread_cond_t *cond, unsigned waiting, unsigned *woken,
                 size_t n)
{
    unsigned k = (unsigned)tpi_qmin(n, waiting - *woken);
    *woken += k;
    while (k-- > 0)
        pthread_cond_signal(cond);
}

/* One wait on cond, counted in *waiting; absorbs a pending signal (woken:
 * NULL for joiners, who are only ever broadcast to) once it has the lock
 * back.  Returns true if the deadline has passed.  Never called with
 * timeout 0: a poll returns before it would wait. */
static bool wait_once(tp_queue *q, pthread_cond_t *cond, unsigned *waiting,
                      unsigned *woken, qwait *w)
{
    if (!w->armed) {
        w->dl = tpi_deadline_after_ms(w->timeout_ms);
        w->armed = true;
    }
    (*waiting)++;
    bool expired = tpi_cond_wait(cond, &q->lock, &w->dl) != 0;
    (*waiting)--;
    if (woken != NULL && *woken > 0)
        (*woken)--;
    return expired;
}

static size_t room(const tp_queue *q)
{
    return q->capacity == 0 ? SIZE_MAX : q->capacity - q->st.count;
}

/* Waits until the queue holds an item.  Returns 0 (st.count > 0),
 * TP_ESHUTDOWN (closed and empty) or TP_EEMPTY (no wait allowed, or the
 * deadline passed). */
static int wait_for_item(tp_queue *q, qwait *w)
{
    bool expired = w->timeout_ms == 0;
    while (q->st.count == 0) {
        if (q->closed)
            return TP_ESHUTDOWN;
        if (expired)
            return TP_EEMPTY;
        expired = wait_once(q, &q->not_empty, &q->getters, &q->getters_woken,
                            w);
    }
    return 0;
}

/* Waits until the queue is open and has room for at least one item.
 * Returns 0, TP_ESHUTDOWN or TP_EFULL. */
static int wait_for_room(tp_queue *q, qwait *w)
{
    bool expired = w->timeout_ms == 0;
    for (;;) {
        if (q->closed)
            return TP_ESHUTDOWN;
        if (room(q) > 0)
            return 0;
        if (expired)
            return TP_EFULL;
        expired = wait_once(q, &q->not_full, &q->putters, &q->putters_woken,
                            w);
    }
}

/* ---- put and get ------------------------------------------------------------ */

/* A put of one item, the common call: put_items with n = 1, written out
 * so that its critical section is as short as the hand-written queue's. */
static int put_one(tp_queue *q, void *item, int prio, int64_t timeout_ms)
{
    int rc = 0;
    pthread_mutex_lock(&q->lock);
    if (q->closed || room(q) == 0) {
        qwait w = {.timeout_ms = timeout_ms};
        rc = wait_for_room(q, &w);
    }
    if (rc == 0 && q->st.count == q->st.cap)
        rc = tpi_qstore_grow(&q->st, tpi_qslot_size(q->order),
                             q->st.count + 1, q->capacity);
    if (rc == 0) {
        tpi_qstore_push(&q->st, q->order, item, prio, &q->next_seq);
        q->unfinished++;
        atomic_store_explicit(&q->len, q->st.count, memory_order_relaxed);
        if (q->getters > q->getters_woken)
            wake(&q->not_empty, q->getters, &q->getters_woken, 1);
    }
    pthread_mutex_unlock(&q->lock);
    return rc;
}

/* A get of one item: get_items with max = 1, written out as put_one. */
static int get_one(tp_queue *q, void **item, int *prio, int64_t timeout_ms)
{
    int rc = 0;
    pthread_mutex_lock(&q->lock);
    if (q->st.count == 0) {
        qwait w = {.timeout_ms = timeout_ms};
        rc = wait_for_item(q, &w);
    }
    if (rc == 0) {
        *item = tpi_qstore_pop(&q->st, q->order, prio);
        atomic_store_explicit(&q->len, q->st.count, memory_order_relaxed);
        if (q->putters > q->putters_woken)
            wake(&q->not_full, q->putters, &q->putters_woken, 1);
    }
    pthread_mutex_unlock(&q->lock);
    return rc;
}

/* The batch put path: puts items[0 .. n-1] (n >= 1) with priority prio;
 * *done receives how many went in.  Arguments have been checked. */
static int put_items(tp_queue *q, void *const *items, int prio, size_t n,
                     int64_t timeout_ms, size_t *done)
{
    qwait w = {.timeout_ms = timeout_ms};
    size_t put = 0;
    int rc = 0;

    pthread_mutex_lock(&q->lock);
    do {
        if (q->closed || room(q) == 0) {
            rc = wait_for_room(q, &w);
            if (rc != 0)
                break;
        }
        size_t k = tpi_qmin(n - put, room(q));
        if (k > SIZE_MAX - q->st.count) {
            rc = TP_ENOMEM;
            break;
        }
        rc = tpi_qstore_reserve(&q->st, tpi_qslot_size(q->order),
                                q->st.count + k, q->capacity);
        if (rc != 0)
            break;
        for (size_t i = 0; i < k; i++)
            tpi_qstore_push(&q->st, q->order, items[put + i], prio,
                            &q->next_seq);
        q->unfinished += k;
        put += k;
        atomic_store_explicit(&q->len, q->st.count, memory_order_relaxed);
        /* Now, not at the end: if this batch must wait for room, the
         * getters woken here are what will make it. */
        if (q->getters > q->getters_woken)
            wake(&q->not_empty, q->getters, &q->getters_woken, k);
    } while (put < n);
    pthread_mutex_unlock(&q->lock);
    *done = put;
    return rc;
}

/* The batch get path: takes up to max items (max >= 1) into items[] (and
 * their priorities into prios[] unless NULL); *got receives how many. */
static int get_items(tp_queue *q, void **items, int *prios, size_t max,
                     int64_t timeout_ms, size_t *got)
{
    size_t k = 0;
    int rc = 0;

    pthread_mutex_lock(&q->lock);
    if (q->st.count == 0) {
        qwait w = {.timeout_ms = timeout_ms};
        rc = wait_for_item(q, &w);
    }
    if (rc == 0) {
        k = tpi_qmin(max, q->st.count);
        for (size_t i = 0; i < k; i++)
            items[i] = tpi_qstore_pop(&q->st, q->order,
                                 prios != NULL ? &prios[i] : NULL);
        atomic_store_explicit(&q->len, q->st.count, memory_order_relaxed);
        if (q->putters > q->putters_woken)
            wake(&q->not_full, q->putters, &q->putters_woken, k);
    }
    pthread_mutex_unlock(&q->lock);
    *got = k;
    return rc;
}

/* ---- public API ------------------------------------------------------------- */

int tp_queue_create(tp_queue **out, tp_queue_order order, size_t capacity)
{
    if (out == NULL || capacity > TP_MAX_CAPACITY)
        return TP_EINVAL;
    switch (order) {
    case TP_QUEUE_FIFO:
    case TP_QUEUE_LIFO:
    case TP_QUEUE_PRIORITY:
        break;
    default:
        return TP_EINVAL;
    }

    /* Zero-filled: no store, no waiters, nothing unfinished, open.  The
     * queue starts at the first line boundary inside its allocation. */
    unsigned char *mem = tpi_calloc(1, sizeof(tp_queue) + TPI_QUEUE_ALIGN - 1);
    if (mem == NULL)
        return TP_ENOMEM;
    size_t skip = (TPI_QUEUE_ALIGN - (uintptr_t)mem % TPI_QUEUE_ALIGN) %
                  TPI_QUEUE_ALIGN;
    tp_queue *q = (tp_queue *)(void *)(mem + skip);
    q->mem = mem;
    q->order = order;
    q->capacity = capacity;
    atomic_init(&q->len, 0);

    /* pthread init functions fail only for lack of resources. */
    if (pthread_mutex_init(&q->lock, NULL) != 0)
        goto fail_lock;
    if (tpi_cond_init(&q->not_empty) != 0)
        goto fail_not_empty;
    if (tpi_cond_init(&q->not_full) != 0)
        goto fail_not_full;
    if (tpi_cond_init(&q->all_done) != 0)
        goto fail_all_done;
    *out = q;
    return 0;

fail_all_done:
    pthread_cond_destroy(&q->not_full);
fail_not_full:
    pthread_cond_destroy(&q->not_empty);
fail_not_empty:
    pthread_mutex_destroy(&q->lock);
fail_lock:
    tpi_free(mem);
    return TP_ENOMEM;
}

int tp_queue_destroy(tp_queue *q, tp_queue_drop_fn drop, void *ctx)
{
    if (q == NULL)
        return TP_EINVAL;
    /* No other call may be running: the store can be drained in place. */
    tpi_qstore_drain(&q->st, q->order, drop, ctx);
    pthread_cond_destroy(&q->all_done);
    pthread_cond_destroy(&q->not_full);
    pthread_cond_destroy(&q->not_empty);
    pthread_mutex_destroy(&q->lock);
    tpi_free(q->mem);
    return 0;
}

int tp_queue_put(tp_queue *q, void *item, int64_t timeout_ms)
{
    if (q == NULL)
        return TP_EINVAL;
    return put_one(q, item, 0, timeout_ms);
}

int tp_queue_put_prio(tp_queue *q, void *item, int prio, int64_t timeout_ms)
{
    if (q == NULL || q->order != TP_QUEUE_PRIORITY)
        return TP_EINVAL;
    return put_one(q, item, prio, timeout_ms);
}

int tp_queue_put_batch(tp_queue *q, void *const *items, size_t n,
                       int64_t timeout_ms, size_t *put)
{
    size_t done = 0;
    int rc = 0;
    if (q == NULL || (items == NULL && n > 0))
        rc = TP_EINVAL;
    else if (n > 0)
        rc = put_items(q, items, 0, n, timeout_ms, &done);
    if (put != NULL)
        *put = done;
    return rc;
}

int tp_queue_get(tp_queue *q, void **item, int64_t timeout_ms)
{
    if (q == NULL || item == NULL)
        return TP_EINVAL;
    return get_one(q, item, NULL, timeout_ms);
}

int tp_queue_get_prio(tp_queue *q, void **item, int *prio, int64_t timeout_ms)
{
    if (q == NULL || item == NULL || q->order != TP_QUEUE_PRIORITY)
        return TP_EINVAL;
    return get_one(q, item, prio, timeout_ms);
}

int tp_queue_get_batch(tp_queue *q, void **items, size_t max,
                       int64_t timeout_ms, size_t *got)
{
    if (got != NULL)
        *got = 0;
    if (q == NULL || items == NULL || got == NULL || max == 0)
        return TP_EINVAL;
    return get_items(q, items, NULL, max, timeout_ms, got);
}

int tp_queue_peek(tp_queue *q, size_t index, void **item)
{
    if (q == NULL || item == NULL ||
        (q->order == TP_QUEUE_PRIORITY && index > 0))
        return TP_EINVAL;
    int rc = 0;
    pthread_mutex_lock(&q->lock);
    const tpi_qstore *s = &q->st;
    if (index >= s->count) {
        rc = TP_EEMPTY;
    } else if (q->order == TP_QUEUE_PRIORITY) {
        *item = ((const tpi_qslot *)s->slots)[0].item;
    } else {
        /* FIFO hands out from head forwards, LIFO from the end backwards. */
        size_t i = q->order == TP_QUEUE_FIFO ? index : s->count - 1 - index;
        *item = ((void *const *)s->slots)[tpi_qring_index(s, i)];
    }
    pthread_mutex_unlock(&q->lock);
    return rc;
}

size_t tp_queue_size(const tp_queue *q)
{
    return q == NULL ? 0 : atomic_load_explicit(&q->len, memory_order_relaxed);
}

int tp_queue_empty(const tp_queue *q)
{
    if (q == NULL)
        return TP_EINVAL;
    return atomic_load_explicit(&q->len, memory_order_relaxed) == 0;
}

int tp_queue_full(const tp_queue *q)
{
    if (q == NULL)
        return TP_EINVAL;
    return q->capacity != 0 &&
           atomic_load_explicit(&q->len, memory_order_relaxed) >= q->capacity;
}

size_t tp_queue_capacity(const tp_queue *q)
{
    return q == NULL ? 0 : q->capacity;
}

int tp_queue_stats_get(tp_queue *q, tp_queue_stats *stats)
{
    if (q == NULL || stats == NULL)
        return TP_EINVAL;
    pthread_mutex_lock(&q->lock);
    *stats = (tp_queue_stats){
        .size = q->st.count,
        .capacity = q->capacity,
        .unfinished = q->unfinished,
        .getters = q->getters,
        .putters = q->putters,
        .joiners = q->joiners,
        .closed = q->closed,
        .closed_now = q->closed_now,
    };
    pthread_mutex_unlock(&q->lock);
    return 0;
}

int tp_queue_task_done(tp_queue *q)
{
    if (q == NULL)
        return TP_EINVAL;
    pthread_mutex_lock(&q->lock);
    if (q->unfinished == 0) {
        pthread_mutex_unlock(&q->lock);
        return TP_EINVAL;
    }
    if (--q->unfinished == 0 && q->joiners > 0)
        pthread_cond_broadcast(&q->all_done);
    pthread_mutex_unlock(&q->lock);
    return 0;
}

int tp_queue_join(tp_queue *q, int64_t timeout_ms)
{
    if (q == NULL)
        return TP_EINVAL;
    qwait w = {.timeout_ms = timeout_ms};
    bool expired = timeout_ms == 0;
    int rc = 0;
    pthread_mutex_lock(&q->lock);
    while (q->unfinished > 0) {
        if (q->closed_now) {
            rc = TP_ESHUTDOWN;
            break;
        }
        if (expired) {
            rc = TP_ETIMEDOUT;
            break;
        }
        expired = wait_once(q, &q->all_done, &q->joiners, NULL, &w);
    }
    pthread_mutex_unlock(&q->lock);
    return rc;
}

/* Closes q; with `now` also detaches its items into *taken (for the caller
 * to drain without the lock).  Wakes every waiter that now has an answer:
 * getters and putters (TP_ESHUTDOWN, or the items left to take) and, after
 * close_now, joiners (the discarded items are done). */
static void close_queue(tp_queue *q, bool now, tpi_qstore *taken)
{
    pthread_mutex_lock(&q->lock);
    q->closed = true;
    if (now) {
        q->closed_now = true;
        *taken = q->st;
        q->st = (tpi_qstore){NULL, 0, 0, 0};
        atomic_store_explicit(&q->len, 0, memory_order_relaxed);
        /* Discarded items will never be marked done by a consumer.  The
         * count can be lower than what was inside if task_done ran ahead
         * of the gets (Python allows that): clamp rather than wrap. */
        q->unfinished -= tpi_qmin(q->unfinished, taken->count);
    }
    if (q->getters > 0) {
        q->getters_woken = q->getters;
        pthread_cond_broadcast(&q->not_empty);
    }
    if (q->putters > 0) {
        q->putters_woken = q->putters;
        pthread_cond_broadcast(&q->not_full);
    }
    if (now && q->joiners > 0)
        pthread_cond_broadcast(&q->all_done);
    pthread_mutex_unlock(&q->lock);
}

int tp_queue_close(tp_queue *q)
{
    if (q == NULL)
        return TP_EINVAL;
    close_queue(q, false, NULL);
    return 0;
}

int tp_queue_close_now(tp_queue *q, tp_queue_drop_fn drop, void *ctx)
{
    if (q == NULL)
        return TP_EINVAL;
    tpi_qstore taken;
    close_queue(q, true, &taken);
    /* Outside the lock: drop may call back into the queue. */
    tpi_qstore_drain(&taken, q->order, drop, ctx);
    return 0;
}
