/*
 * queue.c - the public blocking queue (tp_queue_*, see tpool_queue.h).
 *
 * Storage
 * -------
 * The items of a queue live in one array, the store, so that put and get
 * allocate nothing once the queue has reached its working size:
 *  - FIFO and LIFO: a ring of `void *`.  The items sit at head, head+1, ...
 *    (wrapping at cap); a put appends after the last one, FIFO takes from
 *    head and LIFO from the end, so the two orders share everything else.
 *  - PRIORITY: a binary min-heap of {item, prio, seq} keyed on (prio, seq).
 *    seq numbers the puts of the queue; a heap alone is not stable, the key
 *    makes items of equal priority come out in put order.  64 bits do not
 *    wrap in practice (585 years at one put per nanosecond).
 * A new queue owns no store: the first put allocates it, and it grows by
 * doubling (a bounded queue's never beyond its capacity, so a huge capacity
 * costs nothing until it is used).  Growth copies under the lock, amortised
 * O(1) per item; a failed allocation leaves the queue as it was.  The store
 * never shrinks, so get never allocates and cannot fail for lack of memory;
 * a queue keeps the memory of its largest size until it is destroyed.
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
 * The counts let the common case, nobody waiting, skip the signal entirely,
 * and let a batch wake exactly as many threads as it moved items: a put of k
 * items signals min(k, getters waiting) times, a get of k items min(k,
 * putters waiting); only close, close_now and the last task_done broadcast.
 * A signal meant for a thread already woken (it is counted until it runs)
 * is not wasted: POSIX wakes a thread still blocked, if there is one.
 * Every signal and broadcast is sent with the lock held.  Signalling after
 * unlocking was measured (bench/qdriver.c, one producer and eight consumers
 * on two cores) to be up to ten times slower: the consumers then take each
 * item as soon as it is put and go back to sleep, about ten times as many
 * condition waits, where a consumer woken under the lock mostly finds more
 * items by the time it has the mutex.  A batch put that must wait for room
 * signals before it waits, since the getters it wakes are what make room.
 *
 * Every wait turns its timeout into one absolute monotonic deadline and loops
 * on its predicate: spurious wake-ups, a signal won by another thread, and a
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
 */
#include "tpool_queue.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "alloc.h"
#include "clock.h"

/* A store starts with this many slots (or the capacity, if smaller). */
#define TPI_QUEUE_MIN_SLOTS 16u

/* One entry of a priority heap. */
typedef struct tpi_qslot {
    void *item;
    uint64_t seq; /* put order: breaks ties between equal priorities */
    int prio;
} tpi_qslot;

/* The items (see the top comment).  Kept apart from the queue so that
 * close_now and destroy can detach it and drain it without the lock. */
typedef struct tpi_qstore {
    void *slots;  /* void *[cap] (FIFO, LIFO) or tpi_qslot[cap] (PRIORITY) */
    size_t cap;   /* slots allocated */
    size_t head;  /* ring: index of the oldest item; heap: always 0 */
    size_t count; /* items stored */
} tpi_qstore;

struct tp_queue {
    tp_queue_order order; /* immutable */
    size_t capacity;      /* immutable; 0: unbounded */
    _Atomic size_t len;   /* copy of st.count for size/empty/full */

    pthread_mutex_t lock; /* guards everything below */
    pthread_cond_t not_empty;
    pthread_cond_t not_full;
    pthread_cond_t all_done;
    tpi_qstore st;
    uint64_t next_seq;   /* PRIORITY: seq of the next item put */
    size_t unfinished;   /* put and not yet marked done */
    size_t getters;      /* waiting on not_empty */
    size_t putters;      /* waiting on not_full */
    size_t joiners;      /* waiting on all_done */
    bool closed;         /* no more puts */
    bool closed_now;     /* closed, and the items then inside discarded */
};

static size_t min_size(size_t a, size_t b)
{
    return a < b ? a : b;
}

/* ---- store ---------------------------------------------------------------- */

static size_t slot_size(tp_queue_order order)
{
    return order == TP_QUEUE_PRIORITY ? sizeof(tpi_qslot) : sizeof(void *);
}

/* Makes room for `need` items in all, growing by doubling but never beyond
 * `limit` (0: none; need <= limit).  The items keep their order; a ring is
 * unwrapped to start at 0.  Returns 0 or TP_ENOMEM, with s unchanged. */
static int store_reserve(tpi_qstore *s, size_t slot, size_t need,
                         size_t limit)
{
    if (need <= s->cap)
        return 0;
    size_t cap = s->cap == 0 ? TPI_QUEUE_MIN_SLOTS : s->cap;
    while (cap < need)
        cap = cap > SIZE_MAX / 2 ? need : cap * 2;
    if (limit != 0 && cap > limit)
        cap = limit;
    if (cap > SIZE_MAX / slot)
        return TP_ENOMEM;
    unsigned char *fresh = tpi_malloc(cap * slot);
    if (fresh == NULL)
        return TP_ENOMEM;
    /* A heap has head 0 and never wraps, so first == count for it. */
    const unsigned char *old = s->slots;
    size_t first = min_size(s->count, s->cap - s->head);
    if (first > 0)
        memcpy(fresh, old + s->head * slot, first * slot);
    if (s->count > first)
        memcpy(fresh + first * slot, old, (s->count - first) * slot);
    tpi_free(s->slots);
    s->slots = fresh;
    s->cap = cap;
    s->head = 0;
    return 0;
}

/* Index of the i-th item of a ring, counting from head. */
static size_t ring_index(const tpi_qstore *s, size_t i)
{
    size_t at = s->head + i; /* head < cap and i < cap: no overflow */
    return at >= s->cap ? at - s->cap : at;
}

static bool slot_before(const tpi_qslot *a, const tpi_qslot *b)
{
    return a->prio < b->prio || (a->prio == b->prio && a->seq < b->seq);
}

/* Adds one item; the store has room (store_reserve). */
static void store_push(tpi_qstore *s, tp_queue_order order, void *item,
                       int prio, uint64_t seq)
{
    if (order != TP_QUEUE_PRIORITY) {
        ((void **)s->slots)[ring_index(s, s->count)] = item;
        s->count++;
        return;
    }
    /* Sift up, moving parents down into the hole rather than swapping. */
    tpi_qslot *heap = s->slots;
    tpi_qslot in = {item, seq, prio};
    size_t hole = s->count++;
    while (hole > 0) {
        size_t parent = (hole - 1) / 2;
        if (!slot_before(&in, &heap[parent]))
            break;
        heap[hole] = heap[parent];
        hole = parent;
    }
    heap[hole] = in;
}

/* Removes the next item in the queue's order; the store is not empty.
 * Stores its priority in *prio (0 for FIFO and LIFO) if prio is not NULL. */
static void *store_pop(tpi_qstore *s, tp_queue_order order, int *prio)
{
    if (order != TP_QUEUE_PRIORITY) {
        void **ring = s->slots;
        void *item;
        if (order == TP_QUEUE_FIFO) {
            item = ring[s->head];
            s->head = s->head + 1 == s->cap ? 0 : s->head + 1;
        } else {
            item = ring[ring_index(s, s->count - 1)];
        }
        s->count--;
        if (prio != NULL)
            *prio = 0;
        return item;
    }
    /* Take the root, then sift the last entry down from the root's hole. */
    tpi_qslot *heap = s->slots;
    tpi_qslot top = heap[0];
    size_t n = --s->count;
    if (n > 0) {
        tpi_qslot last = heap[n];
        size_t hole = 0;
        for (;;) {
            size_t child = 2 * hole + 1;
            if (child >= n)
                break;
            if (child + 1 < n && slot_before(&heap[child + 1], &heap[child]))
                child++;
            if (!slot_before(&heap[child], &last))
                break;
            heap[hole] = heap[child];
            hole = child;
        }
        heap[hole] = last;
    }
    if (prio != NULL)
        *prio = top.prio;
    return top.item;
}

/* Hands every item of a detached store to drop (if any), in get order, then
 * frees the store's memory. */
static void store_drain(tpi_qstore *s, tp_queue_order order,
                        tp_queue_drop_fn drop, void *ctx)
{
    if (drop != NULL) {
        while (s->count > 0)
            drop(store_pop(s, order, NULL), ctx);
    }
    tpi_free(s->slots);
    *s = (tpi_qstore){NULL, 0, 0, 0};
}

/* ---- waiting and waking (lock held) ----------------------------------------- */

static void signal_n(pthread_cond_t *cond, size_t n)
{
    while (n-- > 0)
        pthread_cond_signal(cond);
}

static size_t room(const tp_queue *q)
{
    return q->capacity == 0 ? SIZE_MAX : q->capacity - q->st.count;
}

/* Waits until the queue holds an item.  Returns 0 (st.count > 0),
 * TP_ESHUTDOWN (closed and empty) or TP_EEMPTY (deadline passed). */
static int wait_for_item(tp_queue *q, const tpi_deadline *dl)
{
    bool expired = false;
    while (q->st.count == 0) {
        if (q->closed)
            return TP_ESHUTDOWN;
        if (expired)
            return TP_EEMPTY;
        q->getters++;
        expired = tpi_cond_wait(&q->not_empty, &q->lock, dl) != 0;
        q->getters--;
    }
    return 0;
}

/* Waits until the queue is open and has room for at least one item.
 * Returns 0, TP_ESHUTDOWN or TP_EFULL. */
static int wait_for_room(tp_queue *q, const tpi_deadline *dl)
{
    bool expired = false;
    for (;;) {
        if (q->closed)
            return TP_ESHUTDOWN;
        if (room(q) > 0)
            return 0;
        if (expired)
            return TP_EFULL;
        q->putters++;
        expired = tpi_cond_wait(&q->not_full, &q->lock, dl) != 0;
        q->putters--;
    }
}

/* ---- put and get ------------------------------------------------------------ */

/* The one put path: puts items[0 .. n-1] with priority prio; *done receives
 * how many went in.  Arguments have been checked. */
static int put_items(tp_queue *q, void *const *items, int prio, size_t n,
                     int64_t timeout_ms, size_t *done)
{
    tpi_deadline dl = tpi_deadline_after_ms(timeout_ms);
    size_t slot = slot_size(q->order);
    size_t put = 0;
    int rc = 0;

    pthread_mutex_lock(&q->lock);
    while (put < n) {
        rc = wait_for_room(q, &dl);
        if (rc != 0)
            break;
        size_t k = min_size(n - put, room(q));
        if (k > SIZE_MAX - q->st.count) {
            rc = TP_ENOMEM;
            break;
        }
        rc = store_reserve(&q->st, slot, q->st.count + k, q->capacity);
        if (rc != 0)
            break;
        for (size_t i = 0; i < k; i++)
            store_push(&q->st, q->order, items[put + i], prio, q->next_seq++);
        q->unfinished += k;
        put += k;
        atomic_store_explicit(&q->len, q->st.count, memory_order_relaxed);
        /* Now, not at the end: if this batch must wait for room, the
         * getters woken here are what will make it. */
        signal_n(&q->not_empty, min_size(k, q->getters));
    }
    pthread_mutex_unlock(&q->lock);
    *done = put;
    return rc;
}

/* The one get path: takes up to max items into items[] (and their
 * priorities into prios[] unless NULL); *got receives how many. */
static int get_items(tp_queue *q, void **items, int *prios, size_t max,
                     int64_t timeout_ms, size_t *got)
{
    tpi_deadline dl = tpi_deadline_after_ms(timeout_ms);
    size_t k = 0;

    pthread_mutex_lock(&q->lock);
    int rc = wait_for_item(q, &dl);
    if (rc == 0) {
        k = min_size(max, q->st.count);
        for (size_t i = 0; i < k; i++)
            items[i] = store_pop(&q->st, q->order,
                                 prios != NULL ? &prios[i] : NULL);
        atomic_store_explicit(&q->len, q->st.count, memory_order_relaxed);
        signal_n(&q->not_full, min_size(k, q->putters));
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

    /* Zero-filled: no store, no waiters, nothing unfinished, open. */
    tp_queue *q = tpi_calloc(1, sizeof *q);
    if (q == NULL)
        return TP_ENOMEM;
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
    tpi_free(q);
    return TP_ENOMEM;
}

int tp_queue_destroy(tp_queue *q, tp_queue_drop_fn drop, void *ctx)
{
    if (q == NULL)
        return TP_EINVAL;
    /* No other call may be running: the store can be drained in place. */
    store_drain(&q->st, q->order, drop, ctx);
    pthread_cond_destroy(&q->all_done);
    pthread_cond_destroy(&q->not_full);
    pthread_cond_destroy(&q->not_empty);
    pthread_mutex_destroy(&q->lock);
    tpi_free(q);
    return 0;
}

int tp_queue_put(tp_queue *q, void *item, int64_t timeout_ms)
{
    if (q == NULL)
        return TP_EINVAL;
    size_t put;
    return put_items(q, &item, 0, 1, timeout_ms, &put);
}

int tp_queue_put_prio(tp_queue *q, void *item, int prio, int64_t timeout_ms)
{
    if (q == NULL || q->order != TP_QUEUE_PRIORITY)
        return TP_EINVAL;
    size_t put;
    return put_items(q, &item, prio, 1, timeout_ms, &put);
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
    size_t got;
    return get_items(q, item, NULL, 1, timeout_ms, &got);
}

int tp_queue_get_prio(tp_queue *q, void **item, int *prio, int64_t timeout_ms)
{
    if (q == NULL || item == NULL || q->order != TP_QUEUE_PRIORITY)
        return TP_EINVAL;
    size_t got;
    return get_items(q, item, prio, 1, timeout_ms, &got);
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
        *item = ((void *const *)s->slots)[ring_index(s, i)];
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
    tpi_deadline dl = tpi_deadline_after_ms(timeout_ms);
    bool expired = false;
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
        q->joiners++;
        expired = tpi_cond_wait(&q->all_done, &q->lock, &dl) != 0;
        q->joiners--;
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
        q->unfinished -= min_size(q->unfinished, taken->count);
    }
    if (q->getters > 0)
        pthread_cond_broadcast(&q->not_empty);
    if (q->putters > 0)
        pthread_cond_broadcast(&q->not_full);
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
    store_drain(&taken, q->order, drop, ctx);
    return 0;
}
