/*
 * queue.c - the public blocking queue (tp_queue_*, see tpool_queue.h).
 *
 * Two locks, one for each end of the store, and counted waiters: the
 * shape of the two-lock queues (Michael and Scott's, Java's
 * LinkedBlockingQueue), kept lean enough that the features (timeouts,
 * close, task_done/join, priorities, bounds, batches) cost the common call,
 * a single put or get that does not wait, nothing it does not use.
 *
 * The items live in a store (queue_store.h): a power-of-two ring for FIFO
 * and LIFO, a stable binary heap for PRIORITY, grown by doubling, never
 * shrunk, so that put and get allocate nothing once the queue has reached
 * its working size.
 *
 * Locks
 * -----
 *   put_lock    the put end: tail, next_seq, the slots at the tail
 *   take_lock   the take end of a FIFO queue: head, the slots at the head
 *   wait_lock   the waits: the condition variables, the signals still on
 *               their way (getters_woken, putters_woken), joiners, every
 *               change of the counts getters and putters, and `done`
 * Lock order: put_lock, then take_lock, then wait_lock.  A FIFO queue's put
 * and get work at opposite ends of the ring, so a putter and a getter run
 * at once, each under its own lock: one producer and one consumer never
 * meet on a mutex.  A LIFO or PRIORITY queue gets and puts at the same end
 * (the top of the stack, the root of the heap), so its getters take
 * put_lock too (take_lock_of): one lock, as a one-lock queue.  Changing
 * the store itself (slots, cap: growth, close_now) needs both ends, and
 * closed and closed_now are written with all three locks held, so any one
 * of them is enough to read them.  wait_lock is a leaf and no caller code
 * runs under any lock (close_now and destroy call the drop callback on a
 * store that has been detached from the queue), so the queue cannot take
 * part in a deadlock.
 *
 * The length, `len`, is the one word both ends write: a put adds to it
 * (seq_cst) after writing its slots, a get subtracts after reading its
 * slots.  So len = items published - items whose reading has finished, and:
 *   a get that reads len > 0 (acquire) under take_lock finds the slot at
 *     head written (every earlier get has finished: they held the lock);
 *   a put that reads len + k <= cap (acquire) under put_lock finds the k
 *     slots from tail free (len can only be higher than the truth, never
 *     lower); otherwise it takes take_lock too and grows the store with
 *     both ends held, where tail - head is exact.
 *
 * Sleeping and waking: no lost wake-up
 * ------------------------------------
 * A getter that finds len == 0 takes wait_lock, adds itself to `getters`
 * (seq_cst) and reads len again (seq_cst); only if that is still 0 (and
 * the queue open) does it release its end's lock and wait on not_empty,
 * with wait_lock.  A put adds to len (seq_cst) and then reads `getters`
 * (seq_cst); only if it is not 0 does it take wait_lock to signal.  Both
 * sides write one word and then read the other's, all seq_cst: in the
 * single total order one of the two reads comes after the other side's
 * write, so either the getter sees the item and does not sleep, or the
 * put sees the getter and signals, and the getter holds wait_lock from its
 * second read until it is inside the wait, so the signal cannot arrive
 * early.  Putters on a full bounded queue and gets are the mirror image
 * (`putters`, not_full, len < capacity).  model/queue.pml checks this
 * handshake with spin for every interleaving.  A put that finds no getter
 * touches nothing but its own end, len and one read of `getters`.
 *
 * Waking only whom nobody is waking yet
 * -------------------------------------
 * Beside each waiter count is the number of signals sent to that condition
 * variable that no waiter has yet absorbed (getters_woken, putters_woken,
 * under wait_lock).  The waiters a signal can still help are the
 * difference: a put signals only if some getter is waiting with no signal
 * on its way, and a batch of k items signals min(k, that many).  So the
 * stream of puts that arrives while a consumer is being woken does not
 * signal again (a system call each) for the same sleeping consumer.  Every
 * waiter, when it leaves its wait, absorbs one pending signal if there is
 * one, whether it was woken by it or by a timeout or spuriously:
 *   woken <= waiting whenever wait_lock is free (a signal is sent only
 *     while woken < waiting, and a waiter that leaves takes one pending
 *     signal with it, under wait_lock)
 *   woken <= U + S, where U counts the waiters no longer blocked (they will
 *     absorb) and S the signals that will unblock a blocked waiter.
 * Hence when woken == waiting, every counted waiter is awake or about to be
 * and will look at the queue again before it sleeps: an item put then is
 * not left behind, so skipping the signal loses no wake-up.  A waiter that
 * absorbs a signal meant for another only makes woken smaller than it
 * could be, which costs at worst one more signal.  close and close_now
 * broadcast and set woken = waiting.  Joiners wait only for the last
 * task_done or close_now, which broadcast, so they need no second count.
 *
 * Signals are sent before the signalling call lets go of its end's lock
 * (wait_lock nests inside it), and a thread's last touch of the queue in
 * any call is the release of a lock: a thread that takes the last item
 * and destroys the queue at once (tp_queue_destroy takes and releases
 * every lock first) never frees it under a putter still on its way out.
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
 * Invariants (whenever no lock is held)
 *   len == tail - head, and len <= capacity for a bounded queue
 *   closed_now implies closed; a closed queue's len never grows
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

/* The line size tp_queue_create aligns a queue to. */
#define TPI_QUEUE_ALIGN 64u

/* Laid out for the common calls, one cache line for each party (64-byte
 * lines; glibc's mutex is 40 bytes): a FIFO put writes the put line and
 * the shared line, a get the take line and the shared line, and neither
 * writes the other's line.  The rest is read-mostly.  Padded on purpose,
 * hence the lint exception. */
struct tp_queue { /* NOLINT(clang-analyzer-optin.performance.Padding) */
    /* the put end */
    _Alignas(TPI_QUEUE_ALIGN) pthread_mutex_t put_lock;
    size_t tail;               /* the store's tail (queue_store.h) */
    size_t len_hi;             /* len is at most this (see the top comment) */
    _Atomic size_t puts;       /* items ever put (written under put_lock) */
    uint64_t next_seq;         /* PRIORITY: seq of the next item put */
    /* the take end (FIFO) */
    _Alignas(TPI_QUEUE_ALIGN) pthread_mutex_t take_lock;
    size_t head;               /* the store's head */
    size_t len_lo;             /* len is at least this */
    /* written by both ends */
    _Alignas(TPI_QUEUE_ALIGN) _Atomic size_t len; /* see the top comment */
    _Atomic unsigned getters;  /* waiting for an item */
    _Atomic unsigned putters;  /* waiting for room */
    /* read-mostly */
    _Alignas(TPI_QUEUE_ALIGN) tpi_qstore st; /* changed with both ends held */
    tp_queue_order order;   /* immutable */
    size_t capacity;        /* immutable; 0: unbounded */
    bool closed;            /* no more puts */
    bool closed_now;        /* closed, and the items then inside discarded */
    void *mem;              /* the allocation q lies in (q is aligned) */
    /* the waits */
    _Alignas(TPI_QUEUE_ALIGN) pthread_mutex_t wait_lock;
    unsigned getters_woken; /* signals on not_empty not yet absorbed */
    unsigned putters_woken; /* signals on not_full not yet absorbed */
    unsigned joiners;       /* waiting on all_done */
    size_t done;            /* items marked done or discarded: puts - done
                               are unfinished */
    pthread_cond_t not_empty;
    pthread_cond_t not_full;
    pthread_cond_t all_done;
};

/* The lock of the take end: take_lock for FIFO; put_lock for LIFO and
 * PRIORITY, whose gets work at the put end (see the top comment). */
static pthread_mutex_t *take_lock_of(tp_queue *q)
{
    return q->order == TP_QUEUE_FIFO ? &q->take_lock : &q->put_lock;
}

/* Items put and not yet marked done (wait_lock held). */
static size_t unfinished(const tp_queue *q)
{
    return atomic_load_explicit(&q->puts, memory_order_relaxed) - q->done;
}

/* Takes every lock, in the lock order; unlock_all releases them. */
static void lock_all(tp_queue *q)
{
    pthread_mutex_lock(&q->put_lock);
    pthread_mutex_lock(&q->take_lock);
    pthread_mutex_lock(&q->wait_lock);
}

static void unlock_all(tp_queue *q)
{
    pthread_mutex_unlock(&q->wait_lock);
    pthread_mutex_unlock(&q->take_lock);
    pthread_mutex_unlock(&q->put_lock);
}

static size_t len_of(const tp_queue *q)
{
    return atomic_load_explicit(&q->len, memory_order_acquire);
}

/* Room at the put end (put_lock held): capacity - len, or less, from the
 * put end's bound len_hi, read again only when that bound says full. */
static size_t room(tp_queue *q)
{
    if (q->capacity == 0)
        return SIZE_MAX;
    if (q->len_hi >= q->capacity)
        q->len_hi = len_of(q);
    return q->capacity - q->len_hi;
}

/* Items the take end may take (its lock held): len, or less, from the take
 * end's bound len_lo, read again only when that bound says empty or
 * `want` is more than it promises. */
static size_t ready(tp_queue *q, size_t want)
{
    if (q->len_lo < want)
        q->len_lo = len_of(q);
    return q->len_lo;
}

/* ---- waiting and waking ----------------------------------------------------- */

/* A call's timeout, turned into a deadline on its first wait (see the top
 * comment: a call that does not wait reads no clock). */
typedef struct qwait {
    int64_t timeout_ms;
    bool armed; /* dl is set */
    tpi_deadline dl;
} qwait;

/* The call's deadline, set on its first wait. */
static const tpi_deadline *deadline_of(qwait *w)
{
    if (!w->armed) {
        w->dl = tpi_deadline_after_ms(w->timeout_ms);
        w->armed = true;
    }
    return &w->dl;
}

/* Signals up to n of the threads waiting on cond that no signal is on its
 * way to yet (see "Waking only whom nobody is waking yet").  Called by a
 * put or a get that has just changed len and read *waiting > 0, with its
 * end's lock held. */
static void wake(tp_queue *q, pthread_cond_t *cond, _Atomic unsigned *waiting,
                 unsigned *woken, size_t n)
{
    pthread_mutex_lock(&q->wait_lock);
    unsigned now = atomic_load_explicit(waiting, memory_order_relaxed);
    unsigned k = (unsigned)tpi_qmin(n, now - *woken);
    *woken += k;
    while (k-- > 0)
        pthread_cond_signal(cond);
    pthread_mutex_unlock(&q->wait_lock);
}

/* Whether a getter (for_item) or a putter would stop waiting now. */
static bool can_go(const tp_queue *q, bool for_item)
{
    size_t len = atomic_load(&q->len); /* seq_cst: the handshake's read */
    return q->closed || (for_item ? len > 0 : len < q->capacity);
}

/* One wait for an item (for_item) or for room, by a thread that holds its
 * end's lock `end` and found none: registers in *waiting, looks again (the
 * handshake of the top comment) and, if there is still nothing, lets go of
 * `end` and waits on cond; absorbs a pending signal; returns with `end`
 * held again.  Returns true if the deadline has passed.  Never called with
 * timeout 0: a poll returns before it would wait. */
static bool wait_once(tp_queue *q, pthread_mutex_t *end, bool for_item,
                      qwait *w)
{
    pthread_cond_t *cond = for_item ? &q->not_empty : &q->not_full;
    _Atomic unsigned *waiting = for_item ? &q->getters : &q->putters;
    unsigned *woken = for_item ? &q->getters_woken : &q->putters_woken;
    const tpi_deadline *dl = deadline_of(w);
    bool expired = false;
    pthread_mutex_lock(&q->wait_lock);
    atomic_fetch_add(waiting, 1); /* seq_cst: the handshake's write */
    bool sleep = !can_go(q, for_item);
    if (sleep) {
        pthread_mutex_unlock(end);
        expired = tpi_cond_wait(cond, &q->wait_lock, dl) != 0;
    }
    atomic_fetch_sub_explicit(waiting, 1, memory_order_relaxed);
    if (*woken > 0)
        (*woken)--;
    pthread_mutex_unlock(&q->wait_lock);
    if (sleep)
        pthread_mutex_lock(end);
    return expired;
}

/* Waits, holding the take end's lock `end`, until the queue holds an item.
 * Returns 0 (len > 0), TP_ESHUTDOWN (closed and empty) or TP_EEMPTY (no
 * wait allowed, or the deadline passed). */
static int wait_for_item(tp_queue *q, pthread_mutex_t *end, qwait *w)
{
    bool expired = w->timeout_ms == 0;
    while (ready(q, 1) == 0) {
        if (q->closed)
            return TP_ESHUTDOWN;
        if (expired)
            return TP_EEMPTY;
        expired = wait_once(q, end, true, w);
    }
    return 0;
}

/* Waits, holding put_lock, until the queue is open and has room for at
 * least one item.  Returns 0, TP_ESHUTDOWN or TP_EFULL. */
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
        expired = wait_once(q, &q->put_lock, false, w);
    }
}

/* ---- put and get ------------------------------------------------------------ */

/* Makes sure the k slots from the tail are free, growing the store if they
 * are not; put_lock held, k <= room.  Returns 0 or TP_ENOMEM. */
static int reserve(tp_queue *q, size_t k)
{
    if (k <= q->st.cap && q->len_hi <= q->st.cap - k)
        return 0;
    size_t len = q->len_hi = len_of(q);
    if (k <= q->st.cap && len <= q->st.cap - k)
        return 0;
    if (k > SIZE_MAX - len)
        return TP_ENOMEM;
    /* Both ends: a FIFO queue's getters must not read the store while it
     * moves (for the other orders take_lock_of is put_lock, already
     * held). */
    bool fifo = q->order == TP_QUEUE_FIFO;
    if (fifo)
        pthread_mutex_lock(&q->take_lock);
    q->len_hi = q->tail - q->head; /* exact now: both ends held */
    size_t need = q->len_hi + k;
    int rc = need <= q->st.cap
                 ? 0
                 : tpi_qstore_grow(&q->st, &q->head, &q->tail,
                                   tpi_qslot_size(q->order), need,
                                   q->capacity);
    if (fifo)
        pthread_mutex_unlock(&q->take_lock);
    return rc;
}

/* Publishes k items just written at the tail (put_lock held): they count
 * as unfinished before a getter can see them, then len grows, then the
 * getters that no signal is on its way to are woken (see the top
 * comment). */
static void published(tp_queue *q, size_t k)
{
    /* Only put_lock's holder writes puts: no read-modify-write. */
    atomic_store_explicit(
        &q->puts, atomic_load_explicit(&q->puts, memory_order_relaxed) + k,
        memory_order_relaxed);
    /* seq_cst: the handshake's write */
    q->len_hi = atomic_fetch_add(&q->len, k) + k;
    if (atomic_load(&q->getters) > 0)
        wake(q, &q->not_empty, &q->getters, &q->getters_woken, k);
}

/* Records that k items were just read at the head (their end's lock held):
 * len shrinks, and putters waiting for room are woken. */
static void taken(tp_queue *q, size_t k)
{
    q->len_lo = atomic_fetch_sub(&q->len, k) - k; /* seq_cst: the write */
    if (q->capacity != 0 && atomic_load(&q->putters) > 0)
        wake(q, &q->not_full, &q->putters, &q->putters_woken, k);
}

/* A put of one item, the common call: put_items with n = 1, written out
 * so that its critical section is as short as the hand-written queue's. */
static int put_one(tp_queue *q, void *item, int prio, int64_t timeout_ms)
{
    int rc = 0;
    pthread_mutex_lock(&q->put_lock);
    if (q->closed || room(q) == 0) {
        qwait w = {.timeout_ms = timeout_ms};
        rc = wait_for_room(q, &w);
    }
    if (rc == 0)
        rc = reserve(q, 1);
    if (rc == 0) {
        tpi_qstore_push(&q->st, &q->tail, q->order, item, prio,
                        &q->next_seq);
        published(q, 1);
    }
    pthread_mutex_unlock(&q->put_lock);
    return rc;
}

/* A get of one item: get_items with max = 1, written out as put_one. */
static int get_one(tp_queue *q, void **item, int *prio, int64_t timeout_ms)
{
    int rc = 0;
    pthread_mutex_t *end = take_lock_of(q);
    pthread_mutex_lock(end);
    if (ready(q, 1) == 0) {
        qwait w = {.timeout_ms = timeout_ms};
        rc = wait_for_item(q, end, &w);
    }
    if (rc == 0) {
        *item = tpi_qstore_pop(&q->st, &q->head, &q->tail, q->order, prio);
        taken(q, 1);
    }
    pthread_mutex_unlock(end);
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

    pthread_mutex_lock(&q->put_lock);
    do {
        if (q->closed || room(q) == 0) {
            rc = wait_for_room(q, &w);
            if (rc != 0)
                break;
        }
        size_t k = tpi_qmin(n - put, room(q));
        rc = reserve(q, k);
        if (rc != 0)
            break;
        for (size_t i = 0; i < k; i++)
            tpi_qstore_push(&q->st, &q->tail, q->order, items[put + i],
                            prio, &q->next_seq);
        put += k;
        /* Now, not at the end: if this batch must wait for room, the
         * getters woken here are what will make it. */
        published(q, k);
    } while (put < n);
    pthread_mutex_unlock(&q->put_lock);
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
    pthread_mutex_t *end = take_lock_of(q);

    pthread_mutex_lock(end);
    if (ready(q, 1) == 0) {
        qwait w = {.timeout_ms = timeout_ms};
        rc = wait_for_item(q, end, &w);
    }
    if (rc == 0) {
        k = tpi_qmin(max, ready(q, max));
        for (size_t i = 0; i < k; i++)
            items[i] = tpi_qstore_pop(&q->st, &q->head, &q->tail, q->order,
                                      prios != NULL ? &prios[i] : NULL);
        taken(q, k);
    }
    pthread_mutex_unlock(end);
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

    /* Zero-filled: no store, no waiters, nothing unfinished, open; on a
     * line boundary, for the layout of struct tp_queue. */
    void *mem;
    tp_queue *q = tpi_calloc_aligned(sizeof(tp_queue), _Alignof(tp_queue),
                                     &mem);
    if (q == NULL)
        return TP_ENOMEM;
    q->mem = mem;
    q->order = order;
    q->capacity = capacity;
    atomic_init(&q->len, 0);
    atomic_init(&q->puts, 0);
    atomic_init(&q->getters, 0);
    atomic_init(&q->putters, 0);

    /* pthread init functions fail only for lack of resources. */
    if (pthread_mutex_init(&q->put_lock, NULL) != 0)
        goto fail_put_lock;
    if (pthread_mutex_init(&q->take_lock, NULL) != 0)
        goto fail_take_lock;
    if (pthread_mutex_init(&q->wait_lock, NULL) != 0)
        goto fail_wait_lock;
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
    pthread_mutex_destroy(&q->wait_lock);
fail_wait_lock:
    pthread_mutex_destroy(&q->take_lock);
fail_take_lock:
    pthread_mutex_destroy(&q->put_lock);
fail_put_lock:
    tpi_free(mem);
    return TP_ENOMEM;
}

int tp_queue_destroy(tp_queue *q, tp_queue_drop_fn drop, void *ctx)
{
    if (q == NULL)
        return TP_EINVAL;
    /* No other call may be running, but one may just be leaving: a thread
     * that took an item may destroy the queue while the putter of that item
     * still holds put_lock (see the top comment).  Taking every lock waits
     * for its release, the last touch of any call. */
    lock_all(q);
    unlock_all(q);
    tpi_qstore_drain(&q->st, q->head, q->tail, q->order, drop, ctx);
    pthread_cond_destroy(&q->all_done);
    pthread_cond_destroy(&q->not_full);
    pthread_cond_destroy(&q->not_empty);
    pthread_mutex_destroy(&q->wait_lock);
    pthread_mutex_destroy(&q->take_lock);
    pthread_mutex_destroy(&q->put_lock);
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
    pthread_mutex_t *end = take_lock_of(q);
    pthread_mutex_lock(end);
    const tpi_qstore *s = &q->st;
    if (index >= len_of(q)) {
        rc = TP_EEMPTY;
    } else if (q->order == TP_QUEUE_PRIORITY) {
        *item = ((const tpi_qslot *)s->slots)[0].item;
    } else {
        /* FIFO hands out from head forwards, LIFO from the tail backwards
         * (for LIFO `end` is put_lock, so the tail holds still). */
        size_t pos = q->order == TP_QUEUE_FIFO ? q->head + index
                                               : q->tail - 1 - index;
        *item = *tpi_qring_slot(s, pos);
    }
    pthread_mutex_unlock(end);
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
    lock_all(q);
    *stats = (tp_queue_stats){
        .size = atomic_load_explicit(&q->len, memory_order_relaxed),
        .capacity = q->capacity,
        .unfinished = unfinished(q),
        .getters = atomic_load_explicit(&q->getters, memory_order_relaxed),
        .putters = atomic_load_explicit(&q->putters, memory_order_relaxed),
        .joiners = q->joiners,
        .closed = q->closed,
        .closed_now = q->closed_now,
    };
    unlock_all(q);
    return 0;
}

int tp_queue_task_done(tp_queue *q)
{
    if (q == NULL)
        return TP_EINVAL;
    /* Under wait_lock, which every change of `done` holds; `puts` only
     * grows, so what is unfinished cannot drop to 0 between the test and
     * the increment.  The item being marked was got after its put
     * published `puts`, so the read here sees it.  A joiner that saw
     * unfinished items is inside its wait before the broadcast. */
    pthread_mutex_lock(&q->wait_lock);
    if (unfinished(q) == 0) {
        pthread_mutex_unlock(&q->wait_lock);
        return TP_EINVAL;
    }
    q->done++;
    if (unfinished(q) == 0 && q->joiners > 0)
        pthread_cond_broadcast(&q->all_done);
    pthread_mutex_unlock(&q->wait_lock);
    return 0;
}

int tp_queue_join(tp_queue *q, int64_t timeout_ms)
{
    if (q == NULL)
        return TP_EINVAL;
    qwait w = {.timeout_ms = timeout_ms};
    bool expired = timeout_ms == 0;
    int rc = 0;
    pthread_mutex_lock(&q->wait_lock);
    while (unfinished(q) > 0) {
        if (q->closed_now) {
            rc = TP_ESHUTDOWN;
            break;
        }
        if (expired) {
            rc = TP_ETIMEDOUT;
            break;
        }
        q->joiners++;
        expired =
            tpi_cond_wait(&q->all_done, &q->wait_lock, deadline_of(&w)) != 0;
        q->joiners--;
    }
    pthread_mutex_unlock(&q->wait_lock);
    return rc;
}

/* Closes q; with `now` also detaches its items into *taken (for the caller
 * to drain without the lock).  Wakes every waiter that now has an answer:
 * getters and putters (TP_ESHUTDOWN, or the items left to take) and, after
 * close_now, joiners (the discarded items are done). */
static void close_queue(tp_queue *q, bool now, tpi_qstore *gone,
                        size_t *head, size_t *tail)
{
    lock_all(q);
    q->closed = true;
    if (now) {
        q->closed_now = true;
        *gone = q->st;
        *head = q->head;
        *tail = q->tail;
        q->st = (tpi_qstore){NULL, 0};
        q->head = q->tail = q->len_hi = q->len_lo = 0;
        atomic_store_explicit(&q->len, 0, memory_order_relaxed);
        /* Discarded items will never be marked done by a consumer.  The
         * count can be lower than what was inside if task_done ran ahead
         * of the gets (Python allows that): clamp rather than wrap. */
        q->done += tpi_qmin(unfinished(q), *tail - *head);
    }
    unsigned getters = atomic_load_explicit(&q->getters, memory_order_relaxed);
    unsigned putters = atomic_load_explicit(&q->putters, memory_order_relaxed);
    if (getters > 0) {
        q->getters_woken = getters;
        pthread_cond_broadcast(&q->not_empty);
    }
    if (putters > 0) {
        q->putters_woken = putters;
        pthread_cond_broadcast(&q->not_full);
    }
    if (now && q->joiners > 0)
        pthread_cond_broadcast(&q->all_done);
    unlock_all(q);
}

int tp_queue_close(tp_queue *q)
{
    if (q == NULL)
        return TP_EINVAL;
    close_queue(q, false, NULL, NULL, NULL);
    return 0;
}

int tp_queue_close_now(tp_queue *q, tp_queue_drop_fn drop, void *ctx)
{
    if (q == NULL)
        return TP_EINVAL;
    tpi_qstore gone;
    size_t head, tail;
    close_queue(q, true, &gone, &head, &tail);
    /* Outside the locks: drop may call back into the queue. */
    tpi_qstore_drain(&gone, head, tail, q->order, drop, ctx);
    return 0;
}
