/*
 * test_queue.c - the blocking queue (tpool_queue.h).
 *
 * Threads never synchronise with sleeps: a test that needs a thread to be
 * blocked inside the queue waits until tp_queue_stats_get() counts it as a
 * waiter (await_waiters), and threads hand results back through pthread_join.
 * The only time measurements check that a timeout waited at least as long as
 * asked, and less than a loose bound.
 */
#include "tpool_queue.h" /* first: the header must stand on its own */

#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <time.h>

#include "check.h"
#include "clock.h"
#include "util.h"

/* Sanitizers slow the contention tests down a lot: use fewer items there
 * (200,000 instead of 1,000,000 per combination). */
#define TQ_SCALE (UNDER_SANITIZER ? 5 : 1)

/* Items are small integers carried in the pointer. */
static void *iv(uintptr_t v)
{
    return (void *)v;
}

static uintptr_t vi(void *p)
{
    return (uintptr_t)p;
}

static tp_queue *make(tp_queue_order order, size_t capacity)
{
    tp_queue *q = NULL;
    CHECK_OK(tp_queue_create(&q, order, capacity));
    CHECK(q != NULL);
    return q;
}

static void spawn(pthread_t *t, void *(*fn)(void *), void *arg)
{
    CHECK(pthread_create(t, NULL, fn, arg) == 0);
}

static void join_thread(pthread_t t)
{
    CHECK(pthread_join(t, NULL) == 0);
}

static uint64_t elapsed_ms(uint64_t since_ns)
{
    return (tpi_now_ns() - since_ns) / 1000000u;
}

/* Waits until q counts exactly the given numbers of blocked getters, putters
 * and joiners.  A thread cannot announce that it has entered (or left) a
 * condition variable wait, so this polls the queue's own counters; the nap
 * between looks only saves CPU, the counters are the synchronisation.  Fails
 * after 30 s: that is how a test sees a thread that a wake-up missed (its
 * own call waits for ever, so it cannot recover by timing out). */
static void await_waiters(tp_queue *q, size_t getters, size_t putters,
                          size_t joiners)
{
    uint64_t start = tpi_now_ns();
    for (;;) {
        tp_queue_stats st;
        CHECK_OK(tp_queue_stats_get(q, &st));
        if (st.getters == getters && st.putters == putters &&
            st.joiners == joiners)
            return;
        if (elapsed_ms(start) > 30000) {
            fprintf(stderr, "waiters: %zu getters, %zu putters, %zu joiners\n",
                    st.getters, st.putters, st.joiners);
            CHECK(!"the expected threads did not block, or stayed blocked");
        }
        struct timespec nap = {0, 200000};
        nanosleep(&nap, NULL);
    }
}

/* ---- a thread that makes one call and reports its result ------------------ */

typedef enum call_kind {
    CALL_GET,
    CALL_PUT,
    CALL_GET_BATCH,
    CALL_PUT_BATCH,
    CALL_JOIN
} call_kind;

typedef struct call {
    pthread_t thread;
    tp_queue *q;
    call_kind kind;
    int64_t timeout_ms;
    void *items[8]; /* in (puts) or out (gets) */
    size_t n;       /* in: items to put / max to get; out: moved */
    int rc;
} call;

static void *call_main(void *arg)
{
    call *c = arg;
    switch (c->kind) {
    case CALL_GET:
        c->rc = tp_queue_get(c->q, &c->items[0], c->timeout_ms);
        c->n = c->rc == 0;
        break;
    case CALL_PUT:
        c->rc = tp_queue_put(c->q, c->items[0], c->timeout_ms);
        c->n = c->rc == 0;
        break;
    case CALL_GET_BATCH:
        c->rc = tp_queue_get_batch(c->q, c->items, c->n, c->timeout_ms, &c->n);
        break;
    case CALL_PUT_BATCH:
        c->rc = tp_queue_put_batch(c->q, c->items, c->n, c->timeout_ms, &c->n);
        break;
    case CALL_JOIN:
        c->rc = tp_queue_join(c->q, c->timeout_ms);
        break;
    }
    return NULL;
}

static void call_start(call *c, tp_queue *q, call_kind kind, int64_t timeout)
{
    c->q = q;
    c->kind = kind;
    c->timeout_ms = timeout;
    c->rc = 1; /* not a tp result: shows the call has not returned */
    spawn(&c->thread, call_main, c);
}

/* ---- single-threaded behaviour ------------------------------------------- */

TEST(bad_arguments)
{
    tp_queue *q = iv(1), *fifo = make(TP_QUEUE_FIFO, 0);
    void *item = iv(7), *items[2] = {0};
    size_t n = 99;
    int prio = 0;

    CHECK_EQ(tp_queue_create(NULL, TP_QUEUE_FIFO, 0), TP_EINVAL);
    CHECK_EQ(tp_queue_create(&q, (tp_queue_order)3, 0), TP_EINVAL);
    CHECK_EQ(tp_queue_create(&q, (tp_queue_order)-1, 0), TP_EINVAL);
    CHECK_EQ(tp_queue_create(&q, TP_QUEUE_FIFO, TP_MAX_CAPACITY + 1),
             TP_EINVAL);
    CHECK(q == iv(1)); /* unchanged on error */

    CHECK_EQ(tp_queue_destroy(NULL, NULL, NULL), TP_EINVAL);
    CHECK_EQ(tp_queue_put(NULL, item, 0), TP_EINVAL);
    CHECK_EQ(tp_queue_put_prio(NULL, item, 1, 0), TP_EINVAL);
    CHECK_EQ(tp_queue_put_prio(fifo, item, 1, 0), TP_EINVAL);
    CHECK_EQ(tp_queue_put_batch(NULL, items, 2, 0, &n), TP_EINVAL);
    CHECK_EQ(n, 0);
    n = 99;
    CHECK_EQ(tp_queue_put_batch(fifo, NULL, 2, 0, &n), TP_EINVAL);
    CHECK_EQ(n, 0);
    CHECK_EQ(tp_queue_get(NULL, &item, 0), TP_EINVAL);
    CHECK_EQ(tp_queue_get(fifo, NULL, 0), TP_EINVAL);
    CHECK_EQ(tp_queue_get_prio(NULL, &item, &prio, 0), TP_EINVAL);
    CHECK_EQ(tp_queue_get_prio(fifo, &item, &prio, 0), TP_EINVAL);
    n = 99;
    CHECK_EQ(tp_queue_get_batch(NULL, items, 2, 0, &n), TP_EINVAL);
    CHECK_EQ(n, 0);
    CHECK_EQ(tp_queue_get_batch(fifo, NULL, 2, 0, &n), TP_EINVAL);
    CHECK_EQ(tp_queue_get_batch(fifo, items, 2, 0, NULL), TP_EINVAL);
    CHECK_EQ(tp_queue_get_batch(fifo, items, 0, 0, &n), TP_EINVAL);
    CHECK_EQ(tp_queue_peek(NULL, 0, &item), TP_EINVAL);
    CHECK_EQ(tp_queue_peek(fifo, 0, NULL), TP_EINVAL);
    CHECK_EQ(tp_queue_size(NULL), 0);
    CHECK_EQ(tp_queue_empty(NULL), TP_EINVAL);
    CHECK_EQ(tp_queue_full(NULL), TP_EINVAL);
    CHECK_EQ(tp_queue_capacity(NULL), 0);
    tp_queue_stats st;
    CHECK_EQ(tp_queue_stats_get(NULL, &st), TP_EINVAL);
    CHECK_EQ(tp_queue_stats_get(fifo, NULL), TP_EINVAL);
    CHECK_EQ(tp_queue_task_done(NULL), TP_EINVAL);
    CHECK_EQ(tp_queue_join(NULL, 0), TP_EINVAL);
    CHECK_EQ(tp_queue_close(NULL), TP_EINVAL);
    CHECK_EQ(tp_queue_close_now(NULL, NULL, NULL), TP_EINVAL);
    CHECK(item == iv(7)); /* no failed call wrote through it */

    /* task_done more often than items were put (Python's ValueError). */
    CHECK_EQ(tp_queue_task_done(fifo), TP_EINVAL);
    CHECK_OK(tp_queue_put(fifo, item, 0));
    CHECK_OK(tp_queue_task_done(fifo));
    CHECK_EQ(tp_queue_task_done(fifo), TP_EINVAL);

    /* An empty batch is no error; a failed call left the queue as it was. */
    CHECK_OK(tp_queue_put_batch(fifo, NULL, 0, 0, &n));
    CHECK_EQ(n, 0);
    CHECK_EQ(tp_queue_size(fifo), 1);
    CHECK_OK(tp_queue_destroy(fifo, NULL, NULL));

    /* The largest capacity is accepted, and costs nothing up front. */
    tp_queue *big = make(TP_QUEUE_PRIORITY, TP_MAX_CAPACITY);
    CHECK_EQ(tp_queue_capacity(big), TP_MAX_CAPACITY);
    CHECK_EQ(tp_queue_peek(big, 1, &item), TP_EINVAL); /* heap: index 0 only */
    CHECK_OK(tp_queue_destroy(big, NULL, NULL));
}

TEST(state_queries)
{
    tp_queue *q = make(TP_QUEUE_FIFO, 3);
    tp_queue_stats st;
    CHECK_EQ(tp_queue_capacity(q), 3);
    CHECK_EQ(tp_queue_size(q), 0);
    CHECK_EQ(tp_queue_empty(q), 1);
    CHECK_EQ(tp_queue_full(q), 0);
    for (uintptr_t i = 1; i <= 3; i++)
        CHECK_OK(tp_queue_put(q, iv(i), 0));
    CHECK_EQ(tp_queue_size(q), 3);
    CHECK_EQ(tp_queue_empty(q), 0);
    CHECK_EQ(tp_queue_full(q), 1);
    CHECK_OK(tp_queue_stats_get(q, &st));
    CHECK_EQ(st.size, 3);
    CHECK_EQ(st.capacity, 3);
    CHECK_EQ(st.unfinished, 3);
    CHECK_EQ(st.getters + st.putters + st.joiners, 0);
    CHECK_EQ(st.closed, 0);
    CHECK_EQ(st.closed_now, 0);
    CHECK_OK(tp_queue_destroy(q, NULL, NULL));

    tp_queue *u = make(TP_QUEUE_LIFO, 0);
    CHECK_EQ(tp_queue_capacity(u), 0);
    for (uintptr_t i = 0; i < 1000; i++)
        CHECK_OK(tp_queue_put(u, iv(i), 0));
    CHECK_EQ(tp_queue_full(u), 0); /* unbounded: never full */
    CHECK_EQ(tp_queue_size(u), 1000);
    CHECK_OK(tp_queue_destroy(u, NULL, NULL));
}

TEST(fifo_order)
{
    tp_queue *q = make(TP_QUEUE_FIFO, 0);
    void *item;
    uintptr_t next_in = 0, next_out = 0;
    /* Interleave so that head travels round the ring and the ring grows
     * while it is wrapped: the order must survive both. */
    for (int round = 0; round < 6; round++) {
        for (int i = 0; i < 11 + 7 * round; i++)
            CHECK_OK(tp_queue_put(q, iv(next_in++), 0));
        for (int i = 0; i < 9 + 3 * round; i++) {
            CHECK_OK(tp_queue_get(q, &item, 0));
            CHECK_EQ(vi(item), next_out++);
        }
    }
    CHECK_EQ(tp_queue_size(q), next_in - next_out);
    while (next_out < next_in) {
        CHECK_OK(tp_queue_get(q, &item, 0));
        CHECK_EQ(vi(item), next_out++);
    }
    CHECK_EQ(tp_queue_get(q, &item, 0), TP_EEMPTY);
    CHECK_OK(tp_queue_destroy(q, NULL, NULL));
}

/* A bounded queue's ring is the power of two above its capacity (8 slots
 * for 5 items): head wraps long before the ring is full, and batches and
 * peeks cross the wrap.  Order, the bound and peek must all hold. */
TEST(bounded_ring_wraps_in_order)
{
    enum { CAP = 5 };
    tp_queue *q = make(TP_QUEUE_FIFO, CAP);
    void *item, *batch[CAP], *out[CAP];
    uintptr_t next_in = 0, next_out = 0;
    size_t n;
    for (int round = 0; round < 40; round++) {
        /* Fill to the bound, with a batch every other round. */
        size_t room = CAP - (next_in - next_out);
        if (round % 2 == 0) {
            for (size_t i = 0; i < room; i++)
                batch[i] = iv(next_in + i);
            CHECK_OK(tp_queue_put_batch(q, batch, room, 0, &n));
            CHECK_EQ(n, room);
            next_in += room;
        } else {
            for (size_t i = 0; i < room; i++)
                CHECK_OK(tp_queue_put(q, iv(next_in++), 0));
        }
        CHECK_EQ(tp_queue_put(q, iv(999), 0), TP_EFULL);
        CHECK_EQ(tp_queue_full(q), 1);
        for (size_t i = 0; i < CAP; i++) {
            CHECK_OK(tp_queue_peek(q, i, &item));
            CHECK_EQ(vi(item), next_out + i);
        }
        /* Take 1 to 4, alternately one by one and in a batch. */
        size_t take = 1 + (size_t)round % 4;
        if (round % 3 == 0) {
            CHECK_OK(tp_queue_get_batch(q, out, take, 0, &n));
            CHECK_EQ(n, take);
            for (size_t i = 0; i < take; i++)
                CHECK_EQ(vi(out[i]), next_out++);
        } else {
            for (size_t i = 0; i < take; i++) {
                CHECK_OK(tp_queue_get(q, &item, 0));
                CHECK_EQ(vi(item), next_out++);
            }
        }
    }
    CHECK_OK(tp_queue_get_batch(q, out, CAP, 0, &n));
    CHECK_EQ(n, next_in - next_out);
    for (size_t i = 0; i < n; i++)
        CHECK_EQ(vi(out[i]), next_out++);
    CHECK_OK(tp_queue_destroy(q, NULL, NULL));

    /* A bound between two powers of two: the ring grows to 128 slots while
     * wrapped, and stops taking items at 100. */
    q = make(TP_QUEUE_FIFO, 100);
    for (uintptr_t i = 0; i < 10; i++)
        CHECK_OK(tp_queue_put(q, iv(i), 0));
    for (uintptr_t i = 0; i < 10; i++) {
        CHECK_OK(tp_queue_get(q, &item, 0));
        CHECK_EQ(vi(item), i);
    }
    for (uintptr_t i = 10; i < 110; i++)
        CHECK_OK(tp_queue_put(q, iv(i), 0));
    CHECK_EQ(tp_queue_put(q, iv(999), 0), TP_EFULL);
    CHECK_EQ(tp_queue_size(q), 100);
    for (uintptr_t i = 10; i < 110; i++) {
        CHECK_OK(tp_queue_get(q, &item, 0));
        CHECK_EQ(vi(item), i);
    }
    CHECK_OK(tp_queue_destroy(q, NULL, NULL));

    /* Capacity 1, LIFO: a one-slot ring. */
    q = make(TP_QUEUE_LIFO, 1);
    for (uintptr_t i = 0; i < 20; i++) {
        CHECK_OK(tp_queue_put(q, iv(i), 0));
        CHECK_EQ(tp_queue_put(q, iv(999), 0), TP_EFULL);
        CHECK_OK(tp_queue_get(q, &item, 0));
        CHECK_EQ(vi(item), i);
    }
    CHECK_OK(tp_queue_destroy(q, NULL, NULL));
}

/* Equal priorities keep put order while the heap grows and while items of
 * other priorities come and go around them. */
TEST(priority_ties_in_order_across_growth)
{
    tp_queue *q = make(TP_QUEUE_PRIORITY, 0);
    void *item;
    int prio;
    uintptr_t next_in = 0, next_out = 0;
    for (int round = 0; round < 8; round++) {
        /* 3 levels per round: -1 and 1 around the level under test, 0. */
        for (int i = 0; i < 5 + 9 * round; i++) {
            CHECK_OK(tp_queue_put_prio(q, iv(100000 + (uintptr_t)i), 1, 0));
            CHECK_OK(tp_queue_put_prio(q, iv(next_in++), 0, 0));
            CHECK_OK(tp_queue_put_prio(q, iv(200000 + (uintptr_t)i), -1, 0));
        }
        /* The -1s first, in put order, then the 0s: take some of them. */
        for (int i = 0; i < 5 + 9 * round; i++) {
            CHECK_OK(tp_queue_get_prio(q, &item, &prio, 0));
            CHECK_EQ(prio, -1);
            CHECK_EQ(vi(item), 200000 + (uintptr_t)i);
        }
        for (int i = 0; i < 3 + 4 * round; i++) {
            CHECK_OK(tp_queue_get_prio(q, &item, &prio, 0));
            CHECK_EQ(prio, 0);
            CHECK_EQ(vi(item), next_out++);
        }
    }
    while (next_out < next_in) {
        CHECK_OK(tp_queue_get_prio(q, &item, &prio, 0));
        CHECK_EQ(prio, 0);
        CHECK_EQ(vi(item), next_out++);
    }
    /* Only the 1s are left, each round's in put order after the last's. */
    size_t ones = 0;
    uintptr_t last = 0;
    while (tp_queue_get_prio(q, &item, &prio, 0) == 0) {
        CHECK_EQ(prio, 1);
        if (vi(item) != 100000)
            CHECK(vi(item) == last + 1);
        last = vi(item);
        ones++;
    }
    CHECK_EQ(ones, next_in);
    CHECK_OK(tp_queue_destroy(q, NULL, NULL));
}

TEST(lifo_order)
{
    tp_queue *q = make(TP_QUEUE_LIFO, 0);
    void *item;
    for (uintptr_t i = 0; i < 100; i++)
        CHECK_OK(tp_queue_put(q, iv(i), 0));
    for (uintptr_t i = 100; i-- > 50;) {
        CHECK_OK(tp_queue_get(q, &item, 0));
        CHECK_EQ(vi(item), i);
    }
    CHECK_OK(tp_queue_put(q, iv(1000), 0));
    CHECK_OK(tp_queue_get(q, &item, 0));
    CHECK_EQ(vi(item), 1000);
    for (uintptr_t i = 50; i-- > 0;) {
        CHECK_OK(tp_queue_get(q, &item, 0));
        CHECK_EQ(vi(item), i);
    }
    CHECK_EQ(tp_queue_get(q, &item, 0), TP_EEMPTY);
    CHECK_OK(tp_queue_destroy(q, NULL, NULL));
}

/* Expected priority of the i-th item of the priority tests: few distinct
 * values (many ties), pseudo-random order, and both extremes of int. */
static int prio_of(size_t i)
{
    if (i % 97 == 5)
        return INT_MIN;
    if (i % 89 == 7)
        return INT_MAX;
    return (int)((i * 2654435761u) % 11) - 5;
}

TEST(priority_order_is_stable)
{
    enum { N = 3000 };
    tp_queue *q = make(TP_QUEUE_PRIORITY, 0);
    for (size_t i = 0; i < N; i++)
        CHECK_OK(tp_queue_put_prio(q, iv(i), prio_of(i), 0));
    /* A plain put on a priority queue means priority 0. */
    CHECK_OK(tp_queue_put(q, iv(N), 0));

    int last_prio = INT_MIN;
    uintptr_t last_item = 0;
    size_t seen_zero_extra = 0;
    for (size_t k = 0; k <= N; k++) {
        void *item;
        int prio = 12345;
        CHECK_OK(tp_queue_get_prio(q, &item, &prio, 0));
        uintptr_t i = vi(item);
        CHECK_EQ(prio, i == N ? 0 : prio_of(i));
        CHECK(prio >= last_prio);
        if (k > 0 && prio == last_prio)
            CHECK(i > last_item); /* ties in put order */
        seen_zero_extra += i == N;
        last_prio = prio;
        last_item = i;
    }
    CHECK_EQ(seen_zero_extra, 1);
    CHECK_EQ(tp_queue_empty(q), 1);

    /* A batch on a priority queue: priority 0, in batch order. */
    void *batch[4] = {iv(1), iv(2), iv(3), iv(4)};
    CHECK_OK(tp_queue_put_prio(q, iv(9), 1, 0));
    CHECK_OK(tp_queue_put_batch(q, batch, 4, 0, NULL));
    CHECK_OK(tp_queue_put_prio(q, iv(8), -1, 0));
    void *out[8];
    size_t got;
    CHECK_OK(tp_queue_get_batch(q, out, 8, 0, &got));
    CHECK_EQ(got, 6);
    const uintptr_t want[6] = {8, 1, 2, 3, 4, 9};
    for (size_t i = 0; i < 6; i++)
        CHECK_EQ(vi(out[i]), want[i]);
    CHECK_OK(tp_queue_destroy(q, NULL, NULL));
}

TEST(peek)
{
    tp_queue *f = make(TP_QUEUE_FIFO, 0), *l = make(TP_QUEUE_LIFO, 0);
    tp_queue *p = make(TP_QUEUE_PRIORITY, 0);
    void *item = iv(99);
    CHECK_EQ(tp_queue_peek(f, 0, &item), TP_EEMPTY);
    CHECK(item == iv(99));
    for (uintptr_t i = 0; i < 40; i++) {
        CHECK_OK(tp_queue_put(f, iv(i), 0));
        CHECK_OK(tp_queue_put(l, iv(i), 0));
        CHECK_OK(tp_queue_put_prio(p, iv(i), (int)(40 - i), 0));
    }
    for (int i = 0; i < 25; i++) { /* move the ring's head */
        CHECK_OK(tp_queue_get(f, &item, 0));
        CHECK_OK(tp_queue_put(f, iv(40 + (uintptr_t)i), 0));
    }
    for (size_t i = 0; i < 40; i++) {
        CHECK_OK(tp_queue_peek(f, i, &item));
        CHECK_EQ(vi(item), 25 + i);
        CHECK_OK(tp_queue_peek(l, i, &item));
        CHECK_EQ(vi(item), 39 - i);
    }
    CHECK_EQ(tp_queue_peek(f, 40, &item), TP_EEMPTY);
    CHECK_OK(tp_queue_peek(p, 0, &item));
    CHECK_EQ(vi(item), 39);
    CHECK_EQ(tp_queue_size(f), 40); /* peeking takes nothing */
    CHECK_OK(tp_queue_destroy(f, NULL, NULL));
    CHECK_OK(tp_queue_destroy(l, NULL, NULL));
    CHECK_OK(tp_queue_destroy(p, NULL, NULL));
}

TEST(null_items)
{
    tp_queue *q = make(TP_QUEUE_FIFO, 2);
    void *item = iv(5);
    CHECK_OK(tp_queue_put(q, NULL, 0));
    CHECK_EQ(tp_queue_size(q), 1);
    CHECK_OK(tp_queue_get(q, &item, 0));
    CHECK(item == NULL);
    CHECK_OK(tp_queue_destroy(q, NULL, NULL));
}

TEST(poll_forms)
{
    tp_queue *q = make(TP_QUEUE_FIFO, 3);
    void *item = iv(42), *items[5] = {iv(1), iv(2), iv(3), iv(4), iv(5)};
    size_t n = 99;
    CHECK_EQ(tp_queue_get(q, &item, 0), TP_EEMPTY);
    CHECK(item == iv(42));
    CHECK_EQ(tp_queue_get_batch(q, items, 5, 0, &n), TP_EEMPTY);
    CHECK_EQ(n, 0);

    /* As many as fit go in, in order; the rest stay the caller's. */
    CHECK_EQ(tp_queue_put_batch(q, items, 5, 0, &n), TP_EFULL);
    CHECK_EQ(n, 3);
    CHECK_EQ(tp_queue_put(q, iv(6), 0), TP_EFULL);
    CHECK_EQ(tp_queue_put_batch(q, items + 3, 2, 0, &n), TP_EFULL);
    CHECK_EQ(n, 0);
    tp_queue_stats st;
    CHECK_OK(tp_queue_stats_get(q, &st));
    CHECK_EQ(st.size, 3);
    CHECK_EQ(st.unfinished, 3); /* failed puts are not counted */

    void *out[5];
    CHECK_OK(tp_queue_get_batch(q, out, 2, 0, &n));
    CHECK_EQ(n, 2);
    CHECK_EQ(vi(out[0]), 1);
    CHECK_EQ(vi(out[1]), 2);
    CHECK_OK(tp_queue_get_batch(q, out, 5, 0, &n));
    CHECK_EQ(n, 1);
    CHECK_EQ(vi(out[0]), 3);
    CHECK_OK(tp_queue_destroy(q, NULL, NULL));
}

TEST(timeouts)
{
    const int64_t t = 60;       /* ms */
    const uint64_t bound = 10000; /* ms: loose, for loaded machines */
    tp_queue *q = make(TP_QUEUE_FIFO, 2);
    void *item = iv(42), *items[3] = {iv(1), iv(2), iv(3)};
    size_t n;

    uint64_t start = tpi_now_ns();
    CHECK_EQ(tp_queue_get(q, &item, t), TP_EEMPTY);
    uint64_t ms = elapsed_ms(start);
    CHECK(ms >= (uint64_t)t && ms < bound);
    CHECK(item == iv(42));

    start = tpi_now_ns();
    CHECK_EQ(tp_queue_get_batch(q, items, 3, t, &n), TP_EEMPTY);
    ms = elapsed_ms(start);
    CHECK(ms >= (uint64_t)t && ms < bound);
    CHECK_EQ(n, 0);

    /* A batch that does not fit waits once, for the whole timeout. */
    start = tpi_now_ns();
    CHECK_EQ(tp_queue_put_batch(q, items, 3, t, &n), TP_EFULL);
    ms = elapsed_ms(start);
    CHECK(ms >= (uint64_t)t && ms < bound);
    CHECK_EQ(n, 2);

    start = tpi_now_ns();
    CHECK_EQ(tp_queue_put(q, iv(9), t), TP_EFULL);
    ms = elapsed_ms(start);
    CHECK(ms >= (uint64_t)t && ms < bound);
    CHECK_EQ(tp_queue_size(q), 2);

    start = tpi_now_ns();
    CHECK_EQ(tp_queue_join(q, t), TP_ETIMEDOUT);
    ms = elapsed_ms(start);
    CHECK(ms >= (uint64_t)t && ms < bound);
    CHECK_EQ(tp_queue_join(q, 0), TP_ETIMEDOUT);

    /* A timed call that can proceed does so at once. */
    CHECK_OK(tp_queue_get(q, &item, t));
    CHECK_EQ(vi(item), 1);
    CHECK_OK(tp_queue_put(q, iv(9), t));
    CHECK_OK(tp_queue_destroy(q, NULL, NULL));
}

/* ---- blocking and wake-ups ------------------------------------------------ */

TEST(put_blocks_until_room)
{
    tp_queue *q = make(TP_QUEUE_FIFO, 2);
    void *item;
    CHECK_OK(tp_queue_put(q, iv(1), 0));
    CHECK_OK(tp_queue_put(q, iv(2), 0));

    call c = {.items = {iv(3)}};
    call_start(&c, q, CALL_PUT, -1);
    await_waiters(q, 0, 1, 0);
    CHECK_EQ(tp_queue_size(q), 2); /* blocked, not over capacity */
    CHECK_OK(tp_queue_get(q, &item, 0));
    CHECK_EQ(vi(item), 1);
    await_waiters(q, 0, 0, 0); /* every blocked call woke */
    join_thread(c.thread);
    CHECK_OK(c.rc);
    CHECK_EQ(tp_queue_size(q), 2);
    CHECK_OK(tp_queue_get(q, &item, 0));
    CHECK_EQ(vi(item), 2);
    CHECK_OK(tp_queue_get(q, &item, 0));
    CHECK_EQ(vi(item), 3);
    CHECK_OK(tp_queue_destroy(q, NULL, NULL));
}

TEST(get_blocks_until_item)
{
    tp_queue *q = make(TP_QUEUE_LIFO, 0);
    call c = {0};
    call_start(&c, q, CALL_GET, -1);
    await_waiters(q, 1, 0, 0);
    CHECK_OK(tp_queue_put(q, iv(77), 0));
    await_waiters(q, 0, 0, 0); /* every blocked call woke */
    join_thread(c.thread);
    CHECK_OK(c.rc);
    CHECK_EQ(vi(c.items[0]), 77);
    CHECK_EQ(tp_queue_size(q), 0);
    CHECK_OK(tp_queue_destroy(q, NULL, NULL));
}

/* A batch of k items must wake k getters: with one signal for the whole
 * batch, three of them would stay asleep and time out. */
TEST(batch_put_wakes_one_getter_per_item)
{
    enum { G = 4 };
    tp_queue *q = make(TP_QUEUE_FIFO, 0);
    call c[G] = {0};
    for (int i = 0; i < G; i++)
        call_start(&c[i], q, CALL_GET, -1);
    await_waiters(q, G, 0, 0);
    void *items[G] = {iv(1), iv(2), iv(4), iv(8)};
    size_t n;
    CHECK_OK(tp_queue_put_batch(q, items, G, 0, &n));
    CHECK_EQ(n, G);
    await_waiters(q, 0, 0, 0); /* every blocked call woke */
    uintptr_t mask = 0;
    for (int i = 0; i < G; i++) {
        join_thread(c[i].thread);
        CHECK_OK(c[i].rc);
        mask |= vi(c[i].items[0]);
    }
    CHECK_EQ(mask, 15); /* each item went to exactly one getter */
    CHECK_OK(tp_queue_destroy(q, NULL, NULL));
}

/* Symmetrically, a batch get of k items wakes k putters. */
TEST(batch_get_wakes_one_putter_per_item)
{
    enum { P = 3 };
    tp_queue *q = make(TP_QUEUE_FIFO, P);
    for (uintptr_t i = 0; i < P; i++)
        CHECK_OK(tp_queue_put(q, iv(100 + i), 0));
    call c[P] = {0};
    for (uintptr_t i = 0; i < P; i++) {
        c[i].items[0] = iv(i);
        call_start(&c[i], q, CALL_PUT, -1);
    }
    await_waiters(q, 0, P, 0);
    void *out[P];
    size_t n;
    CHECK_OK(tp_queue_get_batch(q, out, P, 0, &n));
    CHECK_EQ(n, P);
    await_waiters(q, 0, 0, 0); /* every blocked call woke */
    for (int i = 0; i < P; i++) {
        join_thread(c[i].thread);
        CHECK_OK(c[i].rc);
    }
    CHECK_EQ(tp_queue_size(q), P);
    CHECK_OK(tp_queue_destroy(q, NULL, NULL));
}

/* Two puts in a row with two getters asleep: the second put must wake the
 * second getter although the first one, signalled by the first put, may
 * not have run yet (a put skips only the getters a signal is already on
 * its way to, never a sleeping one).  Repeated to meet both orders. */
TEST(puts_in_a_row_wake_a_getter_each)
{
    const int rounds = UNDER_SANITIZER ? 50 : 200;
    for (int r = 0; r < rounds; r++) {
        tp_queue *q = make(TP_QUEUE_FIFO, 0);
        call c[2] = {0};
        call_start(&c[0], q, CALL_GET, -1);
        call_start(&c[1], q, CALL_GET, -1);
        await_waiters(q, 2, 0, 0);
        CHECK_OK(tp_queue_put(q, iv(1), 0));
        CHECK_OK(tp_queue_put(q, iv(2), 0));
        await_waiters(q, 0, 0, 0); /* both woke */
        join_thread(c[0].thread);
        join_thread(c[1].thread);
        CHECK_OK(c[0].rc);
        CHECK_OK(c[1].rc);
        CHECK_EQ(vi(c[0].items[0]) | vi(c[1].items[0]), 3);
        CHECK_OK(tp_queue_destroy(q, NULL, NULL));
    }
}

/* A batch of fewer items than getters wakes as many getters as items; the
 * others go on waiting, and the next put wakes one of them. */
TEST(batch_put_leaves_the_other_getters_waiting)
{
    enum { G = 3 };
    tp_queue *q = make(TP_QUEUE_FIFO, 0);
    call c[G] = {0};
    for (int i = 0; i < G; i++)
        call_start(&c[i], q, CALL_GET, -1);
    await_waiters(q, G, 0, 0);
    void *items[2] = {iv(1), iv(2)};
    CHECK_OK(tp_queue_put_batch(q, items, 2, 0, NULL));
    await_waiters(q, 1, 0, 0);
    CHECK_OK(tp_queue_put(q, iv(4), 0));
    await_waiters(q, 0, 0, 0);
    uintptr_t mask = 0;
    for (int i = 0; i < G; i++) {
        join_thread(c[i].thread);
        CHECK_OK(c[i].rc);
        mask |= vi(c[i].items[0]);
    }
    CHECK_EQ(mask, 7);
    CHECK_OK(tp_queue_destroy(q, NULL, NULL));
}

/* A timed getter beside one that waits for ever, with the item put around
 * the moment the timed one gives up: whichever takes it, the other must
 * still be woken by the next put.  A getter that times out just as it is
 * signalled takes the signal with it; were the queue still to count that
 * signal as on its way, it would never signal the getter left asleep. */
TEST(timed_getter_beside_a_waiting_one)
{
    const int rounds = UNDER_SANITIZER ? 60 : 300;
    int timed_got = 0, timed_out = 0;
    for (int r = 0; r < rounds; r++) {
        tp_queue *q = make(TP_QUEUE_FIFO, 0);
        call waiting = {0}, timed = {0};
        call_start(&waiting, q, CALL_GET, -1);
        await_waiters(q, 1, 0, 0);
        call_start(&timed, q, CALL_GET, 1);
        /* From at once to past the 1 ms timeout, in 50 us steps. */
        struct timespec d = {0, (long)(r % 30) * 50000L};
        nanosleep(&d, NULL);
        CHECK_OK(tp_queue_put(q, iv(1), 0));
        join_thread(timed.thread);
        if (timed.rc == 0) {
            CHECK_EQ(vi(timed.items[0]), 1);
            timed_got++;
            CHECK_OK(tp_queue_put(q, iv(2), 0));
        } else {
            CHECK_EQ(timed.rc, TP_EEMPTY);
            timed_out++;
        }
        await_waiters(q, 0, 0, 0); /* the waiting getter woke */
        join_thread(waiting.thread);
        CHECK_OK(waiting.rc);
        CHECK_EQ(vi(waiting.items[0]), timed.rc == 0 ? 2 : 1);
        CHECK_EQ(tp_queue_size(q), 0);
        CHECK_OK(tp_queue_destroy(q, NULL, NULL));
    }
    CHECK_EQ(timed_got + timed_out, rounds);
}

/* The same for putters on a full queue: a timed putter and one that waits
 * for ever, room made around the timed one's deadline. */
TEST(timed_putter_beside_a_waiting_one)
{
    const int rounds = UNDER_SANITIZER ? 60 : 300;
    for (int r = 0; r < rounds; r++) {
        tp_queue *q = make(TP_QUEUE_FIFO, 1);
        void *item;
        CHECK_OK(tp_queue_put(q, iv(1), 0));
        call waiting = {.items = {iv(2)}}, timed = {.items = {iv(3)}};
        call_start(&waiting, q, CALL_PUT, -1);
        await_waiters(q, 0, 1, 0);
        call_start(&timed, q, CALL_PUT, 1);
        struct timespec d = {0, (long)(r % 30) * 50000L};
        nanosleep(&d, NULL);
        CHECK_OK(tp_queue_get(q, &item, 0));
        CHECK_EQ(vi(item), 1);
        join_thread(timed.thread);
        if (timed.rc == 0) {
            /* The timed putter took the room: make more for the other. */
            CHECK_OK(tp_queue_get(q, &item, -1));
            CHECK_EQ(vi(item), 3);
        } else {
            CHECK_EQ(timed.rc, TP_EFULL);
        }
        await_waiters(q, 0, 0, 0); /* the waiting putter woke */
        join_thread(waiting.thread);
        CHECK_OK(waiting.rc);
        CHECK_OK(tp_queue_get(q, &item, 0));
        CHECK_EQ(vi(item), 2);
        CHECK_OK(tp_queue_destroy(q, NULL, NULL));
    }
}

/* A consumer that takes `n` items with plain gets and checks their order. */
typedef struct drain_arg {
    tp_queue *q;
    uintptr_t n;
} drain_arg;

static void *drain_in_order(void *arg)
{
    drain_arg *d = arg;
    for (uintptr_t i = 0; i < d->n; i++) {
        void *item;
        CHECK_OK(tp_queue_get(d->q, &item, -1));
        CHECK_EQ(vi(item), i);
    }
    return NULL;
}

TEST(batch_put_larger_than_capacity)
{
    enum { N = 1000, CAP = 4 };
    tp_queue *q = make(TP_QUEUE_FIFO, CAP);
    void *items[N];
    for (uintptr_t i = 0; i < N; i++)
        items[i] = iv(i);
    drain_arg d = {q, N};
    pthread_t t;
    spawn(&t, drain_in_order, &d);
    size_t n = 0;
    CHECK_OK(tp_queue_put_batch(q, items, N, -1, &n));
    CHECK_EQ(n, N);
    join_thread(t);
    CHECK_EQ(tp_queue_size(q), 0);
    CHECK_OK(tp_queue_destroy(q, NULL, NULL));
}

TEST(get_batch_waits_for_first_item)
{
    tp_queue *q = make(TP_QUEUE_FIFO, 0);
    call c = {.n = 8};
    call_start(&c, q, CALL_GET_BATCH, -1);
    await_waiters(q, 1, 0, 0);
    void *items[3] = {iv(1), iv(2), iv(3)};
    CHECK_OK(tp_queue_put_batch(q, items, 3, 0, NULL));
    await_waiters(q, 0, 0, 0); /* every blocked call woke */
    join_thread(c.thread);
    CHECK_OK(c.rc);
    CHECK_EQ(c.n, 3); /* one wake-up, then all that was there */
    for (uintptr_t i = 0; i < 3; i++)
        CHECK_EQ(vi(c.items[i]), i + 1);
    CHECK_OK(tp_queue_destroy(q, NULL, NULL));
}

/* ---- closing ---------------------------------------------------------------- */

TEST(close_wakes_blocked_getters)
{
    enum { G = 4 };
    tp_queue *q = make(TP_QUEUE_FIFO, 0);
    call c[G] = {0};
    for (int i = 0; i < G; i++) {
        c[i].n = 4;
        call_start(&c[i], q, i % 2 ? CALL_GET_BATCH : CALL_GET, -1);
    }
    await_waiters(q, G, 0, 0);
    CHECK_OK(tp_queue_close(q));
    await_waiters(q, 0, 0, 0); /* every blocked call woke */
    for (int i = 0; i < G; i++) {
        join_thread(c[i].thread);
        CHECK_EQ(c[i].rc, TP_ESHUTDOWN);
        CHECK_EQ(c[i].n, 0);
    }
    tp_queue_stats st;
    CHECK_OK(tp_queue_stats_get(q, &st));
    CHECK_EQ(st.closed, 1);
    CHECK_EQ(st.closed_now, 0);
    CHECK_EQ(st.getters, 0);
    CHECK_OK(tp_queue_destroy(q, NULL, NULL));
}

/* A close that comes while a put's signal is still on its way to one
 * getter wakes all the others too: one returns the item, the rest
 * TP_ESHUTDOWN. */
TEST(close_wakes_every_getter_after_a_put)
{
    enum { G = 4 };
    const int rounds = UNDER_SANITIZER ? 20 : 100;
    for (int r = 0; r < rounds; r++) {
        tp_queue *q = make(TP_QUEUE_FIFO, 0);
        call c[G] = {0};
        for (int i = 0; i < G; i++)
            call_start(&c[i], q, CALL_GET, -1);
        await_waiters(q, G, 0, 0);
        CHECK_OK(tp_queue_put(q, iv(7), 0));
        CHECK_OK(tp_queue_close(q));
        await_waiters(q, 0, 0, 0); /* every blocked call woke */
        int got = 0, shut = 0;
        for (int i = 0; i < G; i++) {
            join_thread(c[i].thread);
            if (c[i].rc == 0) {
                CHECK_EQ(vi(c[i].items[0]), 7);
                got++;
            } else {
                CHECK_EQ(c[i].rc, TP_ESHUTDOWN);
                shut++;
            }
        }
        CHECK_EQ(got, 1);
        CHECK_EQ(shut, G - 1);
        CHECK_OK(tp_queue_destroy(q, NULL, NULL));
    }
}

TEST(close_wakes_blocked_putters)
{
    enum { P = 4 };
    tp_queue *q = make(TP_QUEUE_PRIORITY, 1);
    CHECK_OK(tp_queue_put(q, iv(1), 0));
    call c[P] = {0};
    for (uintptr_t i = 0; i < P; i++) {
        c[i].items[0] = iv(10 + i);
        c[i].items[1] = iv(20 + i);
        c[i].n = 2;
        call_start(&c[i], q, i % 2 ? CALL_PUT_BATCH : CALL_PUT, -1);
    }
    await_waiters(q, 0, P, 0);
    CHECK_OK(tp_queue_close(q));
    await_waiters(q, 0, 0, 0); /* every blocked call woke */
    for (int i = 0; i < P; i++) {
        join_thread(c[i].thread);
        CHECK_EQ(c[i].rc, TP_ESHUTDOWN);
        CHECK_EQ(c[i].n, 0); /* nothing of theirs went in */
    }
    void *item;
    CHECK_OK(tp_queue_get(q, &item, 0));
    CHECK_EQ(vi(item), 1);
    CHECK_EQ(tp_queue_get(q, &item, -1), TP_ESHUTDOWN);
    CHECK_OK(tp_queue_destroy(q, NULL, NULL));
}

TEST(get_drains_after_close)
{
    tp_queue *q = make(TP_QUEUE_FIFO, 0);
    void *item, *items[4];
    size_t n = 99;
    for (uintptr_t i = 0; i < 5; i++)
        CHECK_OK(tp_queue_put(q, iv(i), 0));
    CHECK_OK(tp_queue_close(q));
    CHECK_OK(tp_queue_close(q)); /* idempotent */
    CHECK_EQ(tp_queue_put(q, iv(9), 0), TP_ESHUTDOWN);
    CHECK_EQ(tp_queue_put(q, iv(9), -1), TP_ESHUTDOWN);
    CHECK_EQ(tp_queue_put_batch(q, items, 1, -1, &n), TP_ESHUTDOWN);
    CHECK_EQ(n, 0);
    CHECK_EQ(tp_queue_size(q), 5);

    CHECK_OK(tp_queue_get(q, &item, -1));
    CHECK_EQ(vi(item), 0);
    CHECK_OK(tp_queue_get_batch(q, items, 3, -1, &n));
    CHECK_EQ(n, 3);
    CHECK_EQ(vi(items[2]), 3);
    CHECK_OK(tp_queue_get(q, &item, 0));
    CHECK_EQ(vi(item), 4);
    /* Empty and closed: TP_ESHUTDOWN whatever the timeout, never EEMPTY. */
    CHECK_EQ(tp_queue_get(q, &item, 0), TP_ESHUTDOWN);
    CHECK_EQ(tp_queue_get(q, &item, 50), TP_ESHUTDOWN);
    CHECK_EQ(tp_queue_get(q, &item, -1), TP_ESHUTDOWN);
    CHECK_EQ(tp_queue_get_batch(q, items, 4, -1, &n), TP_ESHUTDOWN);
    CHECK_EQ(vi(item), 4);

    /* Join still counts: the five items were taken but not marked done. */
    CHECK_EQ(tp_queue_join(q, 0), TP_ETIMEDOUT);
    for (int i = 0; i < 5; i++)
        CHECK_OK(tp_queue_task_done(q));
    CHECK_OK(tp_queue_join(q, -1));
    CHECK_OK(tp_queue_destroy(q, NULL, NULL));
}

/* Records dropped items: each must come exactly once, in get order. */
typedef struct drop_log {
    tp_queue *q;
    uintptr_t items[256];
    size_t n;
} drop_log;

static void log_drop(void *item, void *ctx)
{
    drop_log *log = ctx;
    CHECK(log->n < 256);
    log->items[log->n++] = vi(item);
    /* The lock is free during the callback: the queue may be used. */
    if (log->q != NULL)
        CHECK_EQ(tp_queue_size(log->q), 0);
    if (log->q != NULL)
        CHECK_EQ(tp_queue_put(log->q, item, 0), TP_ESHUTDOWN);
}

TEST(close_now_hands_back_every_item)
{
    const tp_queue_order orders[3] = {TP_QUEUE_FIFO, TP_QUEUE_LIFO,
                                      TP_QUEUE_PRIORITY};
    for (int o = 0; o < 3; o++) {
        tp_queue *q = make(orders[o], 0);
        for (uintptr_t i = 0; i < 100; i++) {
            if (orders[o] == TP_QUEUE_PRIORITY)
                CHECK_OK(tp_queue_put_prio(q, iv(i), (int)(i % 3), 0));
            else
                CHECK_OK(tp_queue_put(q, iv(i), 0));
        }
        drop_log log = {.q = q};
        CHECK_OK(tp_queue_close_now(q, log_drop, &log));
        CHECK_EQ(log.n, 100);
        for (size_t k = 0; k < 100; k++) {
            uintptr_t want = k; /* FIFO */
            if (orders[o] == TP_QUEUE_LIFO)
                want = 99 - k;
            else if (orders[o] == TP_QUEUE_PRIORITY) /* 34, 33, 33 per prio */
                want = k < 34 ? 3 * k : k < 67 ? 3 * (k - 34) + 1
                                               : 3 * (k - 67) + 2;
            CHECK_EQ(log.items[k], want);
        }
        void *item;
        CHECK_EQ(tp_queue_get(q, &item, -1), TP_ESHUTDOWN);
        CHECK_EQ(tp_queue_size(q), 0);
        CHECK_OK(tp_queue_join(q, 0)); /* discarded items count as done */

        tp_queue_stats st;
        CHECK_OK(tp_queue_stats_get(q, &st));
        CHECK_EQ(st.closed, 1);
        CHECK_EQ(st.closed_now, 1);
        CHECK_EQ(st.unfinished, 0);

        log.n = 0; /* a second close_now, and destroy, find nothing */
        CHECK_OK(tp_queue_close_now(q, log_drop, &log));
        CHECK_OK(tp_queue_close_now(q, NULL, NULL));
        log.q = NULL;
        CHECK_OK(tp_queue_destroy(q, log_drop, &log));
        CHECK_EQ(log.n, 0);
    }
}

TEST(close_now_wakes_everyone)
{
    tp_queue *q = make(TP_QUEUE_FIFO, 2);
    CHECK_OK(tp_queue_put(q, iv(1), 0));
    CHECK_OK(tp_queue_put(q, iv(2), 0));
    call put[2] = {{.items = {iv(3)}}, {.items = {iv(4), iv(5)}, .n = 2}};
    call_start(&put[0], q, CALL_PUT, -1);
    call_start(&put[1], q, CALL_PUT_BATCH, -1);
    call join = {0};
    call_start(&join, q, CALL_JOIN, -1);
    await_waiters(q, 0, 2, 1);

    drop_log log = {.q = q};
    CHECK_OK(tp_queue_close_now(q, log_drop, &log));
    CHECK_EQ(log.n, 2);
    CHECK_EQ(log.items[0], 1);
    CHECK_EQ(log.items[1], 2);
    await_waiters(q, 0, 0, 0); /* every blocked call woke */
    for (int i = 0; i < 2; i++) {
        join_thread(put[i].thread);
        CHECK_EQ(put[i].rc, TP_ESHUTDOWN);
        CHECK_EQ(put[i].n, 0);
    }
    join_thread(join.thread);
    CHECK_OK(join.rc); /* both unfinished items were discarded */
    CHECK_OK(tp_queue_destroy(q, NULL, NULL));

    /* An item taken before close_now and not yet done: join reports it
     * rather than wait for a consumer that may have stopped. */
    q = make(TP_QUEUE_FIFO, 0);
    void *item;
    CHECK_OK(tp_queue_put(q, iv(1), 0));
    CHECK_OK(tp_queue_put(q, iv(2), 0));
    CHECK_OK(tp_queue_get(q, &item, 0));
    call g = {0};
    call_start(&join, q, CALL_JOIN, -1);
    await_waiters(q, 0, 0, 1);
    CHECK_OK(tp_queue_close_now(q, NULL, NULL));
    await_waiters(q, 0, 0, 0); /* every blocked call woke */
    join_thread(join.thread);
    CHECK_EQ(join.rc, TP_ESHUTDOWN);
    CHECK_EQ(tp_queue_join(q, -1), TP_ESHUTDOWN);
    CHECK_OK(tp_queue_task_done(q)); /* the consumer finishes late */
    CHECK_OK(tp_queue_join(q, 0));
    CHECK_EQ(tp_queue_task_done(q), TP_EINVAL);
    call_start(&g, q, CALL_GET, -1); /* closed: does not block */
    join_thread(g.thread);
    CHECK_EQ(g.rc, TP_ESHUTDOWN);
    CHECK_OK(tp_queue_destroy(q, NULL, NULL));
}

TEST(destroy_hands_back_items)
{
    tp_queue *q = make(TP_QUEUE_LIFO, 10);
    for (uintptr_t i = 0; i < 10; i++)
        CHECK_OK(tp_queue_put(q, iv(i), 0));
    drop_log log = {0};
    CHECK_OK(tp_queue_destroy(q, log_drop, &log));
    CHECK_EQ(log.n, 10);
    for (size_t k = 0; k < 10; k++)
        CHECK_EQ(log.items[k], 9 - k);
}

/* A queue handed from thread to thread: the taker of the last item frees
 * it at once, while the putter of that item may still be on its way out
 * of tp_queue_put (after the item became visible, the put still reads the
 * waiter count and releases its lock).  With a getter already asleep the
 * put also signals it.  ASan reports any touch of the freed queue. */
static void *put_one_item(void *arg)
{
    CHECK_OK(tp_queue_put(arg, iv(7), -1));
    return NULL;
}

TEST(destroy_right_after_the_last_get)
{
    for (int round = 0; round < 4000 / TQ_SCALE; round++) {
        tp_queue *q = make(TP_QUEUE_FIFO, round % 3 == 2 ? 1 : 0);
        pthread_t t;
        spawn(&t, put_one_item, q);
        void *item = NULL;
        /* Odd rounds poll once first, which sometimes finds the item
         * without sleeping. */
        if (round % 2 == 0 || tp_queue_get(q, &item, 0) == TP_EEMPTY)
            CHECK_OK(tp_queue_get(q, &item, -1));
        CHECK_EQ(vi(item), 7);
        CHECK_OK(tp_queue_destroy(q, NULL, NULL));
        join_thread(t);
    }
}

/* The same for a consumer's task_done and the thread that joins: the
 * joiner frees the queue as soon as join returns. */
static void *get_and_mark_done(void *arg)
{
    void *item;
    CHECK_OK(tp_queue_get(arg, &item, -1));
    CHECK_OK(tp_queue_task_done(arg));
    return NULL;
}

TEST(destroy_right_after_join)
{
    for (int round = 0; round < 4000 / TQ_SCALE; round++) {
        tp_queue *q = make(TP_QUEUE_FIFO, 0);
        pthread_t t;
        spawn(&t, get_and_mark_done, q);
        CHECK_OK(tp_queue_put(q, iv(1), -1));
        CHECK_OK(tp_queue_join(q, -1));
        CHECK_OK(tp_queue_destroy(q, NULL, NULL));
        join_thread(t);
    }
}

/* ---- task_done and join ----------------------------------------------------- */

TEST(join_returns_after_last_task_done)
{
    tp_queue *q = make(TP_QUEUE_FIFO, 0);
    CHECK_OK(tp_queue_join(q, 0)); /* nothing put: nothing to wait for */
    for (uintptr_t i = 0; i < 3; i++)
        CHECK_OK(tp_queue_put(q, iv(i), 0));
    call join = {0};
    call_start(&join, q, CALL_JOIN, -1);
    await_waiters(q, 0, 0, 1);

    void *item;
    for (int i = 0; i < 3; i++)
        CHECK_OK(tp_queue_get(q, &item, 0));
    CHECK_OK(tp_queue_task_done(q));
    CHECK_OK(tp_queue_task_done(q));
    tp_queue_stats st;
    CHECK_OK(tp_queue_stats_get(q, &st));
    CHECK_EQ(st.unfinished, 1);
    CHECK_EQ(st.joiners, 1); /* still waiting: one item is unfinished */
    CHECK_EQ(join.rc, 1);    /* (its thread has not returned) */
    CHECK_OK(tp_queue_task_done(q));
    await_waiters(q, 0, 0, 0); /* every blocked call woke */
    join_thread(join.thread);
    CHECK_OK(join.rc);
    CHECK_OK(tp_queue_destroy(q, NULL, NULL));
}

typedef struct worker_arg {
    tp_queue *q;
    atomic_size_t *processed;
} worker_arg;

/* Takes items until the queue is closed and empty, counting each as
 * processed before marking it done. */
static void *count_and_mark_done(void *arg)
{
    worker_arg *w = arg;
    void *item;
    int rc;
    while ((rc = tp_queue_get(w->q, &item, -1)) == 0) {
        atomic_fetch_add(w->processed, 1);
        CHECK_OK(tp_queue_task_done(w->q));
    }
    CHECK_EQ(rc, TP_ESHUTDOWN);
    return NULL;
}

TEST(join_waits_for_all_consumers)
{
    enum { W = 4, N = 20000 / TQ_SCALE };
    tp_queue *q = make(TP_QUEUE_FIFO, 64);
    atomic_size_t processed = 0;
    worker_arg w = {q, &processed};
    pthread_t t[W];
    for (int i = 0; i < W; i++)
        spawn(&t[i], count_and_mark_done, &w);
    for (uintptr_t i = 0; i < N; i++)
        CHECK_OK(tp_queue_put(q, iv(i), -1));
    CHECK_OK(tp_queue_join(q, -1));
    /* Every task_done came after its count: all N must be visible. */
    CHECK_EQ(atomic_load(&processed), N);
    CHECK_OK(tp_queue_close(q));
    for (int i = 0; i < W; i++)
        join_thread(t[i]);
    CHECK_OK(tp_queue_destroy(q, NULL, NULL));
}

/* ---- conservation under contention --------------------------------------- */

typedef struct stress {
    tp_queue *q;
    tp_queue_order order;
    size_t capacity;
    size_t total; /* items 1..total, a multiple of producers */
    unsigned producers, consumers;
    atomic_uchar *seen;
    atomic_uint_fast64_t sum;
    atomic_size_t count;
} stress;

typedef struct stress_thread {
    pthread_t thread;
    stress *s;
    unsigned id;
} stress_thread;

static void check_bound(const stress *s)
{
    if (s->capacity != 0)
        CHECK(tp_queue_size(s->q) <= s->capacity);
}

/* Producer id puts its own range of items: odd ids in batches of 64, even
 * ones one by one (with a priority on a priority queue). */
static void *stress_producer(void *arg)
{
    stress_thread *p = arg;
    stress *s = p->s;
    size_t per = s->total / s->producers;
    uintptr_t lo = p->id * per + 1, hi = lo + per;
    void *batch[64];
    for (uintptr_t v = lo; v < hi;) {
        if (p->id % 2 == 1) {
            size_t k = 0, put = 0;
            while (k < 64 && v + k < hi) {
                batch[k] = iv(v + k);
                k++;
            }
            CHECK_OK(tp_queue_put_batch(s->q, batch, k, -1, &put));
            CHECK_EQ(put, k);
            v += k;
        } else if (s->order == TP_QUEUE_PRIORITY) {
            CHECK_OK(tp_queue_put_prio(s->q, iv(v), (int)(v % 13) - 6, -1));
            v++;
        } else {
            CHECK_OK(tp_queue_put(s->q, iv(v), -1));
            v++;
        }
        check_bound(s);
    }
    return NULL;
}

/* Consumer: odd ids take batches of up to 32, even ones single items, until
 * the queue is closed and empty.  Marks every item seen (a second sighting
 * fails); on a FIFO queue also checks that each producer's items arrive in
 * the order it put them. */
static void *stress_consumer(void *arg)
{
    stress_thread *c = arg;
    stress *s = c->s;
    size_t per = s->total / s->producers;
    uintptr_t last[8] = {0};
    uint64_t sum = 0;
    size_t count = 0;
    void *items[32];
    for (;;) {
        size_t got = 0;
        int rc;
        if (c->id % 2 == 1) {
            rc = tp_queue_get_batch(s->q, items, 32, -1, &got);
        } else {
            rc = tp_queue_get(s->q, &items[0], -1);
            got = rc == 0;
        }
        if (rc == TP_ESHUTDOWN)
            break;
        CHECK_OK(rc);
        CHECK(got >= 1 && got <= 32);
        check_bound(s);
        for (size_t i = 0; i < got; i++) {
            uintptr_t v = vi(items[i]);
            CHECK(v >= 1 && v <= s->total);
            CHECK_EQ(atomic_fetch_add_explicit(&s->seen[v - 1], 1,
                                               memory_order_relaxed),
                     0);
            if (s->order == TP_QUEUE_FIFO) {
                size_t from = (v - 1) / per;
                CHECK(v > last[from]);
                last[from] = v;
            }
            sum += v;
            count++;
        }
    }
    atomic_fetch_add(&s->sum, sum);
    atomic_fetch_add(&s->count, count);
    return NULL;
}

static void run_stress(tp_queue_order order, size_t capacity,
                       unsigned producers, unsigned consumers, size_t total)
{
    stress s = {.order = order, .capacity = capacity,
                .total = total - total % producers,
                .producers = producers, .consumers = consumers};
    CHECK(producers <= 8 && consumers <= 8);
    s.q = make(order, capacity);
    s.seen = calloc(s.total, sizeof *s.seen);
    CHECK(s.seen != NULL);
    atomic_init(&s.sum, 0);
    atomic_init(&s.count, 0);

    stress_thread p[8], c[8];
    for (unsigned i = 0; i < consumers; i++) {
        c[i] = (stress_thread){.s = &s, .id = i};
        spawn(&c[i].thread, stress_consumer, &c[i]);
    }
    for (unsigned i = 0; i < producers; i++) {
        p[i] = (stress_thread){.s = &s, .id = i};
        spawn(&p[i].thread, stress_producer, &p[i]);
    }
    for (unsigned i = 0; i < producers; i++)
        join_thread(p[i].thread);
    /* Every item is in; closing lets the consumers drain and stop. */
    CHECK_OK(tp_queue_close(s.q));
    for (unsigned i = 0; i < consumers; i++)
        join_thread(c[i].thread);

    uint64_t n = s.total;
    CHECK_EQ(atomic_load(&s.count), n);
    CHECK(atomic_load(&s.sum) == n * (n + 1) / 2);
    for (size_t i = 0; i < s.total; i++)
        CHECK_EQ(atomic_load_explicit(&s.seen[i], memory_order_relaxed), 1);
    CHECK_EQ(tp_queue_size(s.q), 0);
    tp_queue_stats st;
    CHECK_OK(tp_queue_stats_get(s.q, &st));
    CHECK_EQ(st.unfinished, n); /* nobody called task_done */
    CHECK_EQ(st.getters + st.putters, 0);
    CHECK_OK(tp_queue_destroy(s.q, NULL, NULL));
    free(s.seen);
}

/* Every call at once, then close_now in the middle of it all: threads
 * mix single and batch puts and gets, polls and short timeouts, peeks,
 * stats, task_done and join, on every order, bounded and not; the main
 * thread discards what is inside while they run.  Each item put must come
 * out exactly once, got or discarded; a got item is marked done, so
 * nothing is left unfinished; every size seen is within the bound. */
typedef struct chaos {
    tp_queue *q;
    size_t capacity;
    atomic_uint next;           /* the next item value to put */
    atomic_uchar *fate;         /* per value: 1 put, 2 got or discarded */
    pthread_barrier_t half;     /* the threads' halfway point, and main */
    atomic_size_t puts_ok, gets_ok;
} chaos;

enum { CHAOS_THREADS = 6, CHAOS_OPS = 4000, CHAOS_VALUES = 6 * 4000 * 4 };

static void chaos_came_out(chaos *c, uintptr_t v)
{
    CHECK(v >= 1 && v < CHAOS_VALUES);
    /* Put before (1), and only once out (1 -> 2). */
    unsigned char want = 1;
    CHECK(atomic_compare_exchange_strong(&c->fate[v], &want, 2));
}

static void chaos_discard(void *item, void *ctx)
{
    chaos_came_out(ctx, vi(item));
}

static void *chaos_thread(void *arg)
{
    chaos *c = arg;
    uint64_t rnd = (uint64_t)(uintptr_t)&rnd * 0x9E3779B97F4A7C15u | 1u;
    void *items[4];
    for (int op = 0; op < CHAOS_OPS; op++) {
        if (op == CHAOS_OPS / 2)
            pthread_barrier_wait(&c->half);
        rnd ^= rnd << 13, rnd ^= rnd >> 7, rnd ^= rnd << 17;
        int64_t tmo = rnd % 3 == 0 ? 1 : 0; /* a poll or 1 ms */
        unsigned kind = (unsigned)(rnd >> 8) % 9;
        if (kind <= 2) { /* one put, or a batch of up to 4 */
            size_t n = kind == 2 ? 1 + (rnd >> 20) % 4 : 1, done = 0;
            uintptr_t first = atomic_fetch_add(&c->next, (unsigned)n);
            CHECK(first + n < CHAOS_VALUES);
            for (size_t i = 0; i < n; i++) {
                atomic_store(&c->fate[first + i], 1);
                items[i] = iv(first + i);
            }
            int rc = n == 1 ? tp_queue_put(c->q, items[0], tmo)
                            : tp_queue_put_batch(c->q, items, n, tmo, &done);
            if (n == 1)
                done = rc == 0;
            CHECK(rc == 0 || rc == TP_EFULL || rc == TP_ESHUTDOWN);
            CHECK(rc != 0 || done == n);
            /* Not put: never to come out. */
            for (size_t i = done; i < n; i++)
                atomic_store(&c->fate[first + i], 0);
            atomic_fetch_add(&c->puts_ok, done);
        } else if (kind <= 5) { /* one get, or a batch of up to 4 */
            size_t got = 0;
            int rc = kind == 5
                         ? tp_queue_get_batch(c->q, items, 4, tmo, &got)
                         : tp_queue_get(c->q, &items[0], tmo);
            if (kind != 5)
                got = rc == 0;
            CHECK(rc == 0 || rc == TP_EEMPTY || rc == TP_ESHUTDOWN);
            for (size_t i = 0; i < got; i++) {
                chaos_came_out(c, vi(items[i]));
                CHECK_OK(tp_queue_task_done(c->q));
            }
            atomic_fetch_add(&c->gets_ok, got);
        } else if (kind == 6) {
            void *item;
            int rc = tp_queue_peek(c->q, 0, &item);
            CHECK(rc == 0 || rc == TP_EEMPTY);
            if (rc == 0)
                CHECK(vi(item) >= 1 && vi(item) < CHAOS_VALUES);
        } else if (kind == 7) {
            tp_queue_stats st;
            CHECK_OK(tp_queue_stats_get(c->q, &st));
            CHECK(c->capacity == 0 || st.size <= c->capacity);
            CHECK(st.size <= st.unfinished); /* nobody marks ahead */
        } else {
            int rc = tp_queue_join(c->q, 0);
            CHECK(rc == 0 || rc == TP_ETIMEDOUT || rc == TP_ESHUTDOWN);
        }
        if (c->capacity != 0)
            CHECK(tp_queue_size(c->q) <= c->capacity);
    }
    return NULL;
}

TEST(every_call_racing_close_now)
{
    const tp_queue_order orders[] = {TP_QUEUE_FIFO, TP_QUEUE_LIFO,
                                     TP_QUEUE_PRIORITY};
    const size_t caps[] = {0, 3};
    for (int round = 0; round < 12 / (UNDER_SANITIZER ? 3 : 1); round++) {
        chaos c = {.capacity = caps[round % 2]};
        c.q = make(orders[round % 3], c.capacity);
        c.fate = calloc(CHAOS_VALUES, sizeof *c.fate);
        CHECK(c.fate != NULL);
        atomic_init(&c.next, 1);
        CHECK(pthread_barrier_init(&c.half, NULL, CHAOS_THREADS + 1) == 0);
        pthread_t t[CHAOS_THREADS];
        for (int i = 0; i < CHAOS_THREADS; i++)
            spawn(&t[i], chaos_thread, &c);
        /* Half their calls made, the threads go on with the rest while
         * this one discards what is inside. */
        pthread_barrier_wait(&c.half);
        CHECK_OK(tp_queue_close_now(c.q, chaos_discard, &c));
        for (int i = 0; i < CHAOS_THREADS; i++)
            join_thread(t[i]);
        /* Nothing may be left inside a queue closed with close_now. */
        tp_queue_stats st;
        CHECK_OK(tp_queue_stats_get(c.q, &st));
        CHECK_EQ(st.size, 0);
        CHECK_EQ(st.unfinished, 0); /* got ones marked, the rest discarded */
        CHECK_EQ(st.getters + st.putters + st.joiners, 0);
        CHECK_OK(tp_queue_join(c.q, 0));
        unsigned next = atomic_load(&c.next);
        for (unsigned v = 1; v < next; v++)
            CHECK(atomic_load(&c.fate[v]) != 1); /* put, never out: lost */
        CHECK_OK(tp_queue_destroy(c.q, NULL, NULL));
        pthread_barrier_destroy(&c.half);
        free(c.fate);
    }
}

#define STRESS_ITEMS ((size_t)1000000 / TQ_SCALE)

TEST(contention_fifo_4x4)
{
    run_stress(TP_QUEUE_FIFO, 0, 4, 4, STRESS_ITEMS);
}

TEST(contention_fifo_8x1)
{
    run_stress(TP_QUEUE_FIFO, 0, 8, 1, STRESS_ITEMS);
}

TEST(contention_fifo_1x8)
{
    run_stress(TP_QUEUE_FIFO, 0, 1, 8, STRESS_ITEMS);
}

TEST(contention_bounded)
{
    run_stress(TP_QUEUE_FIFO, 64, 4, 4, STRESS_ITEMS / 4);
    run_stress(TP_QUEUE_FIFO, 1, 2, 2, STRESS_ITEMS / 20);
    run_stress(TP_QUEUE_LIFO, 16, 8, 1, STRESS_ITEMS / 10);
    run_stress(TP_QUEUE_PRIORITY, 16, 1, 8, STRESS_ITEMS / 10);
}

TEST(contention_lifo_and_priority)
{
    run_stress(TP_QUEUE_LIFO, 0, 4, 4, STRESS_ITEMS / 4);
    run_stress(TP_QUEUE_PRIORITY, 0, 4, 4, STRESS_ITEMS / 4);
}

/* ---- allocation failure ----------------------------------------------------- */

/* Fails the fail_at-th allocation counted since `calls` was reset (0: none).
 * Installed once for the whole test, while no queue exists, as
 * tp_replace_allocator() requires. */
static atomic_long alloc_calls;
static atomic_long alloc_fail_at;

static void *counting_malloc(size_t size)
{
    long k = atomic_fetch_add(&alloc_calls, 1) + 1;
    if (k == atomic_load(&alloc_fail_at))
        return NULL;
    return malloc(size);
}

static void counting_free(void *p)
{
    free(p);
}

static void fail_allocation(long nth)
{
    atomic_store(&alloc_calls, 0);
    atomic_store(&alloc_fail_at, nth);
}

/* The item the i-th put of the allocation test uses, and its priority. */
static int alloc_prio(uintptr_t i)
{
    return (int)(i % 7);
}

/* Puts `n` items one by one with the nth allocation failing, retrying the put
 * that fails; checks the failure left the queue as it was.  Returns how many
 * puts failed. */
static int fill_with_failure(tp_queue *q, tp_queue_order order, size_t n,
                             long nth)
{
    int failures = 0;
    fail_allocation(nth);
    for (uintptr_t i = 0; i < n; i++) {
        int rc = order == TP_QUEUE_PRIORITY
                     ? tp_queue_put_prio(q, iv(i), alloc_prio(i), 0)
                     : tp_queue_put(q, iv(i), 0);
        if (rc == TP_ENOMEM) {
            failures++;
            tp_queue_stats st;
            CHECK_OK(tp_queue_stats_get(q, &st));
            CHECK_EQ(st.size, i);
            CHECK_EQ(st.unfinished, i);
            /* still usable: the same put now succeeds */
            rc = order == TP_QUEUE_PRIORITY
                     ? tp_queue_put_prio(q, iv(i), alloc_prio(i), 0)
                     : tp_queue_put(q, iv(i), 0);
        }
        CHECK_OK(rc);
    }
    fail_allocation(0);
    return failures;
}

/* Takes everything and checks it is what fill_with_failure put, in order. */
static void check_contents(tp_queue *q, tp_queue_order order, size_t n)
{
    int last_prio = INT_MIN;
    uintptr_t last = 0;
    for (size_t k = 0; k < n; k++) {
        void *item;
        if (order == TP_QUEUE_PRIORITY) {
            int prio;
            CHECK_OK(tp_queue_get_prio(q, &item, &prio, 0));
            CHECK_EQ(prio, alloc_prio(vi(item)));
            CHECK(prio > last_prio || (prio == last_prio && vi(item) > last));
            last_prio = prio;
            last = vi(item);
        } else {
            CHECK_OK(tp_queue_get(q, &item, 0));
            CHECK_EQ(vi(item), order == TP_QUEUE_FIFO ? k : n - 1 - k);
        }
    }
    CHECK_EQ(tp_queue_empty(q), 1);
}

TEST(allocation_failure)
{
    CHECK_OK(tp_replace_allocator(counting_malloc, counting_free));
    fail_allocation(0);

    /* Creation: fail each allocation in turn until none is left to fail. */
    long nth = 1;
    for (;; nth++) {
        CHECK(nth < 100);
        tp_queue *q = iv(1);
        fail_allocation(nth);
        int rc = tp_queue_create(&q, TP_QUEUE_FIFO, 0);
        fail_allocation(0);
        if (rc == 0) {
            CHECK_OK(tp_queue_destroy(q, NULL, NULL));
            break;
        }
        CHECK_EQ(rc, TP_ENOMEM);
        CHECK(q == iv(1));
    }
    CHECK(nth > 1); /* at least one allocation was made, and failed */

    /* Puts that grow the store: fail the 1st, 2nd, ... allocation made while
     * filling, for every order, unbounded and bounded, until a fill runs
     * without a failure.  With `turn`, the store exists already and its
     * ring is wrapped when it first has to grow. */
    const tp_queue_order orders[3] = {TP_QUEUE_FIFO, TP_QUEUE_LIFO,
                                      TP_QUEUE_PRIORITY};
    const size_t caps[2] = {0, 100};
    for (int o = 0; o < 3; o++) {
        for (int c = 0; c < 4; c++) {
            size_t n = caps[c % 2] != 0 ? caps[c % 2] : 300;
            uintptr_t turn = c < 2 ? 0 : 11;
            int tried = 0;
            for (nth = 1;; nth++) {
                CHECK(nth < 100);
                tp_queue *q = make(orders[o], caps[c % 2]);
                for (uintptr_t i = 0; i < turn; i++) {
                    void *item;
                    CHECK_OK(tp_queue_put(q, iv(i), 0));
                    CHECK_OK(tp_queue_get(q, &item, 0));
                    CHECK_OK(tp_queue_task_done(q));
                }
                int failures = fill_with_failure(q, orders[o], n, nth);
                CHECK(failures <= 1);
                check_contents(q, orders[o], n);
                CHECK_OK(tp_queue_destroy(q, NULL, NULL));
                if (failures == 0)
                    break;
                tried++;
            }
            /* 0 -> 16 -> 32 -> 64 -> 128 (-> 256 ...) */
            CHECK(tried >= (turn == 0 ? 4 : 3));
        }
    }

    /* A batch that needs the store to grow: nothing of it goes in. */
    tp_queue *q = make(TP_QUEUE_FIFO, 0);
    void *items[40];
    for (uintptr_t i = 0; i < 40; i++)
        items[i] = iv(i);
    size_t n = 99;
    fail_allocation(1);
    CHECK_EQ(tp_queue_put_batch(q, items, 10, 0, &n), TP_ENOMEM);
    CHECK_EQ(n, 0);
    CHECK_EQ(tp_queue_size(q), 0);
    CHECK_OK(tp_queue_put_batch(q, items, 10, 0, &n)); /* 16 slots */
    fail_allocation(1);
    CHECK_EQ(tp_queue_put_batch(q, items + 10, 30, 0, &n), TP_ENOMEM);
    CHECK_EQ(n, 0);
    tp_queue_stats st;
    CHECK_OK(tp_queue_stats_get(q, &st));
    CHECK_EQ(st.size, 10);
    CHECK_EQ(st.unfinished, 10);
    CHECK_OK(tp_queue_put_batch(q, items + 10, 30, 0, &n));
    CHECK_EQ(n, 30);
    check_contents(q, TP_QUEUE_FIFO, 40);
    CHECK_OK(tp_queue_destroy(q, NULL, NULL));

    CHECK_OK(tp_replace_allocator(NULL, NULL));
}

TEST_MAIN(
    TEST_ENTRY(bad_arguments)
    TEST_ENTRY(state_queries)
    TEST_ENTRY(fifo_order)
    TEST_ENTRY(bounded_ring_wraps_in_order)
    TEST_ENTRY(lifo_order)
    TEST_ENTRY(priority_order_is_stable)
    TEST_ENTRY(priority_ties_in_order_across_growth)
    TEST_ENTRY(peek)
    TEST_ENTRY(null_items)
    TEST_ENTRY(poll_forms)
    TEST_ENTRY(timeouts)
    TEST_ENTRY(put_blocks_until_room)
    TEST_ENTRY(get_blocks_until_item)
    TEST_ENTRY(batch_put_wakes_one_getter_per_item)
    TEST_ENTRY(batch_get_wakes_one_putter_per_item)
    TEST_ENTRY(puts_in_a_row_wake_a_getter_each)
    TEST_ENTRY(batch_put_leaves_the_other_getters_waiting)
    TEST_ENTRY(timed_getter_beside_a_waiting_one)
    TEST_ENTRY(timed_putter_beside_a_waiting_one)
    TEST_ENTRY(batch_put_larger_than_capacity)
    TEST_ENTRY(get_batch_waits_for_first_item)
    TEST_ENTRY(close_wakes_blocked_getters)
    TEST_ENTRY(close_wakes_every_getter_after_a_put)
    TEST_ENTRY(close_wakes_blocked_putters)
    TEST_ENTRY(get_drains_after_close)
    TEST_ENTRY(close_now_hands_back_every_item)
    TEST_ENTRY(close_now_wakes_everyone)
    TEST_ENTRY(destroy_hands_back_items)
    TEST_ENTRY(destroy_right_after_the_last_get)
    TEST_ENTRY(destroy_right_after_join)
    TEST_ENTRY(join_returns_after_last_task_done)
    TEST_ENTRY(join_waits_for_all_consumers)
    TEST_ENTRY(contention_fifo_4x4)
    TEST_ENTRY(contention_fifo_8x1)
    TEST_ENTRY(contention_fifo_1x8)
    TEST_ENTRY(contention_bounded)
    TEST_ENTRY(contention_lifo_and_priority)
    TEST_ENTRY(every_call_racing_close_now)
    TEST_ENTRY(allocation_failure))
