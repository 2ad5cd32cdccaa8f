/*
 * test_inplace.c - tasks in caller storage: submitting and waiting
 * allocate nothing, the storage can be reused as soon as a wait returns,
 * and cancellation, callbacks and shutdown behave as for other futures.
 */
#include <stdatomic.h>
#include <stdlib.h>

#include "check.h"
#include "tpool.h"
#include "util.h"

static atomic_long allocations;

static void *counting_malloc(size_t size)
{
    atomic_fetch_add(&allocations, 1);
    return malloc(size);
}

static void *add_one(void *arg)
{
    return (void *)((uintptr_t)arg + 1);
}

typedef struct job {
    tp_task_storage storage; /* embedded in the caller's own object */
    tp_future *f;
    uintptr_t input;
} job;

static tp_pool *pool;

/* A task that submits children in its own (stack) storage and waits. */
static void *parent(void *arg)
{
    uintptr_t n = (uintptr_t)arg;
    job kids[4];
    for (int i = 0; i < 4; i++) {
        kids[i].input = n + (uintptr_t)i;
        CHECK_OK(tp_submit_inplace(pool, &kids[i].storage, add_one,
                                   (void *)kids[i].input, NULL, &kids[i].f));
    }
    uintptr_t sum = 0;
    for (int i = 0; i < 4; i++) {
        void *r;
        CHECK_OK(tp_future_get(kids[i].f, -1, &r));
        CHECK_OK(tp_future_release(kids[i].f));
        sum += (uintptr_t)r;
    }
    return (void *)sum; /* the storage on this stack goes here */
}

TEST(submit_and_wait_allocate_nothing)
{
    CHECK_OK(tp_replace_allocator(counting_malloc, free));
    tp_options o;
    tp_options_init(&o);
    o.threads = 2;
    CHECK_OK(tp_pool_create(&pool, &o));
    job jobs[8];
    /* Warm up, then count. */
    for (int round = 0; round < 2; round++) {
        atomic_store(&allocations, 0);
        for (int rep = 0; rep < SCALE(2000); rep++) {
            for (uintptr_t i = 0; i < 8; i++) {
                jobs[i].input = i;
                CHECK_OK(tp_submit_inplace(pool, &jobs[i].storage,
                                           i % 2 ? add_one : parent,
                                           (void *)i, NULL, &jobs[i].f));
            }
            size_t idx;
            CHECK_OK(tp_wait_any((tp_future *const[]){jobs[0].f, jobs[1].f},
                                 2, -1, &idx));
            for (uintptr_t i = 0; i < 8; i++) {
                void *r;
                CHECK_OK(tp_future_get(jobs[i].f, -1, &r));
                uintptr_t want = i % 2 ? i + 1 : 4 * i + 6 + 4;
                CHECK_EQ((uintptr_t)r, want);
                CHECK_OK(tp_future_release(jobs[i].f));
            }
        }
    }
    CHECK_EQ(atomic_load(&allocations), 0);
    CHECK_OK(tp_pool_destroy(pool));
    CHECK_OK(tp_replace_allocator(NULL, NULL));
}

static atomic_int callbacks;

static void on_done(tp_future *f, void *ctx)
{
    (void)f;
    (void)ctx;
    atomic_fetch_add(&callbacks, 1);
}

/* The same storage, reused as soon as each wait returns: the sanitizers
 * report any access the pool made after letting go of it. */
TEST(storage_reused_at_once)
{
    CHECK_OK(tp_pool_create(&pool, NULL));
    tp_task_storage storage;
    atomic_store(&callbacks, 0);
    const int n = SCALE(20000);
    for (int i = 0; i < n; i++) {
        tp_future *f;
        CHECK_OK(tp_submit_inplace(pool, &storage, add_one,
                                   (void *)(uintptr_t)i, NULL, &f));
        if (i % 3 == 0)
            CHECK_OK(tp_future_on_done(f, on_done, NULL));
        CHECK_OK(tp_future_wait(f, -1));
        void *r;
        CHECK_OK(tp_future_get(f, 0, &r));
        CHECK_EQ((uintptr_t)r, (uintptr_t)i + 1);
        CHECK_OK(tp_future_release(f));
        /* Scribble over it, as a caller reusing its memory would. */
        memset(&storage, 0xA5, sizeof storage);
    }
    CHECK_EQ(atomic_load(&callbacks), (n + 2) / 3);
    CHECK_OK(tp_pool_destroy(pool));
}

TEST(cancel_and_shutdown)
{
    gate g;
    gate_init(&g);
    tp_options o;
    tp_options_init(&o);
    o.threads = 1;
    CHECK_OK(tp_pool_create(&pool, &o));
    tp_future *blocker;
    CHECK_OK(tp_submit_future(pool, gate_task, &g, &blocker));
    event_wait(&g.started, 1);
    job a, b;
    CHECK_OK(tp_submit_inplace(pool, &a.storage, add_one, NULL, NULL, &a.f));
    CHECK_OK(tp_submit_inplace(pool, &b.storage, add_one, NULL, NULL, &b.f));
    CHECK_OK(tp_future_cancel(a.f));
    /* Cancelled but still queued: the pool still holds the storage. */
    CHECK_EQ(tp_future_wait(a.f, 0), TP_ETIMEDOUT);
    event_signal(&g.open);
    CHECK_EQ(tp_future_get(a.f, -1, NULL), TP_ECANCELED);
    CHECK_OK(tp_future_wait(a.f, 0));
    CHECK_OK(tp_future_get(b.f, -1, NULL));
    tp_future_release(a.f);
    tp_future_release(b.f);

    /* Queued when an immediate shutdown comes: cancelled and let go. */
    gate g2;
    gate_init(&g2);
    tp_future *blocker2;
    CHECK_OK(tp_submit_future(pool, gate_task, &g2, &blocker2));
    event_wait(&g2.started, 1);
    CHECK_OK(tp_submit_inplace(pool, &a.storage, add_one, NULL, NULL, &a.f));
    event_signal(&g2.open);
    CHECK_OK(tp_pool_shutdown_now(pool, NULL, NULL));
    int rc = tp_future_get(a.f, -1, NULL);
    CHECK(rc == 0 || rc == TP_ECANCELED);
    tp_future_release(a.f);
    tp_future_release(blocker);
    tp_future_release(blocker2);
    CHECK_OK(tp_pool_destroy(pool));
    gate_destroy(&g);
    gate_destroy(&g2);
}

TEST(bad_arguments)
{
    CHECK_OK(tp_pool_create(&pool, NULL));
    tp_task_storage s;
    tp_future *f = NULL;
    CHECK_EQ(tp_submit_inplace(pool, NULL, add_one, NULL, NULL, &f),
             TP_EINVAL);
    CHECK_EQ(tp_submit_inplace(pool, &s, add_one, NULL, NULL, NULL),
             TP_EINVAL);
    CHECK_EQ(tp_submit_inplace(pool, &s, NULL, NULL, NULL, &f), TP_EINVAL);
    CHECK_EQ(tp_submit_inplace(NULL, &s, add_one, NULL, NULL, &f), TP_EINVAL);
    CHECK(f == NULL);
    CHECK_OK(tp_pool_destroy(pool));
}

TEST_MAIN(TEST_ENTRY(submit_and_wait_allocate_nothing)
          TEST_ENTRY(storage_reused_at_once)
          TEST_ENTRY(cancel_and_shutdown)
          TEST_ENTRY(bad_arguments))
