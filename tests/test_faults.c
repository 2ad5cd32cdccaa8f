/*
 * test_faults.c - allocation and thread-creation failures.
 *
 * A counting allocator (tp_replace_allocator) fails the N-th allocation.
 * For N = 1, 2, ... a scenario that touches every allocating path of the
 * pool (create, submit, batch submit, done-callbacks, waitsets, wait-any
 * over many futures, shutdown) runs until a run completes without reaching
 * the failure point.  Each call either succeeds or returns TP_ENOMEM, the
 * pool stays usable after a failure, nothing already accepted is lost, and
 * every byte allocated is freed (checked here by counting, and by LSan in
 * the ASan build).
 */
#include <stdatomic.h>
#include <stdlib.h>

#include "check.h"
#include "failalloc.h"
#include "pool.h"
#include "tpool.h"
#include "util.h"

static atomic_int runs;

static void *work(void *arg)
{
    atomic_fetch_add(&runs, 1);
    return arg;
}

static void on_done(tp_future *f, void *ctx)
{
    (void)f;
    atomic_fetch_add((atomic_int *)ctx, 1);
}

enum { MANY = 12 };

static void scenario(void)
{
    atomic_init(&runs, 0);
    int expected_runs = 0;
    tp_options o;
    tp_options_init(&o);
    o.threads = 2;
    tp_pool *p;
    if (!ok_or_nomem(tp_pool_create(&p, &o)))
        return;

    /* Single submits, with and without futures. */
    tp_future *fs[MANY] = {0};
    size_t nfs = 0;
    for (int i = 0; i < 3; i++) {
        if (ok_or_nomem(tp_submit(p, work, NULL)))
            expected_runs++;
        if (ok_or_nomem(tp_submit_future(p, work, (void *)(intptr_t)i,
                                         &fs[nfs])))
            nfs++, expected_runs++;
    }

    /* A batch: the accepted prefix runs, the rest is reported. */
    tp_job jobs[7];
    tp_future *bf[7];
    for (int i = 0; i < 7; i++)
        jobs[i] = (tp_job){work, NULL, 0};
    size_t accepted = 0;
    ok_or_nomem(tp_submit_batch(p, jobs, 7, bf, &accepted));
    expected_runs += (int)accepted;
    for (size_t i = 0; i < accepted && nfs < MANY; i++)
        fs[nfs++] = bf[i];
    for (size_t i = accepted; i < 7; i++)
        CHECK(bf[i] == NULL);
    /* MANY slots: release what does not fit. */
    for (size_t i = 0; i < accepted; i++) {
        bool kept = false;
        for (size_t j = 0; j < nfs; j++)
            kept |= fs[j] == bf[i];
        if (!kept)
            tp_future_release(bf[i]);
    }

    /* A batch of ordinary tasks (one block of jobs): all or nothing. */
    tp_job plain[10];
    for (int i = 0; i < 10; i++)
        plain[i] = (tp_job){work, NULL, 0};
    accepted = 99;
    if (ok_or_nomem(tp_submit_batch(p, plain, 10, NULL, &accepted)))
        expected_runs += 10;
    else
        CHECK_EQ(accepted, 0);

    /* Done-callbacks run exactly once if registered. */
    atomic_int callbacks;
    atomic_init(&callbacks, 0);
    int registered = 0;
    for (size_t i = 0; i < nfs; i++)
        registered += ok_or_nomem(tp_future_on_done(fs[i], on_done, &callbacks));

    /* Wait-any over more than 8 futures (the stack's share) allocates. */
    if (nfs > 0) {
        size_t idx;
        int rc = tp_wait_any(fs, nfs, -1, &idx);
        CHECK(rc == 0 || rc == TP_ENOMEM);
    }

    /* A waitset. */
    tp_waitset *ws;
    if (ok_or_nomem(tp_waitset_create(&ws))) {
        size_t added = 0;
        for (size_t i = 0; i < nfs; i++)
            added += ok_or_nomem(tp_waitset_add(ws, fs[i]));
        for (size_t i = 0; i < added; i++) {
            tp_future *f;
            CHECK_OK(tp_waitset_next(ws, -1, &f));
            tp_future_release(f);
        }
        CHECK_OK(tp_waitset_destroy(ws));
    }

    /* Everything accepted runs, whatever failed around it. */
    CHECK_OK(tp_wait_all(fs, nfs, -1));
    CHECK_OK(tp_pool_wait_idle(p, -1));
    CHECK_EQ(atomic_load(&runs), expected_runs);
    CHECK_EQ(atomic_load(&callbacks), registered);
    for (size_t i = 0; i < nfs; i++) {
        CHECK_EQ(tp_future_state(fs[i]), TP_COMPLETED);
        tp_future_release(fs[i]);
    }
    CHECK_OK(tp_pool_shutdown_now(p, NULL, NULL));
    CHECK_OK(tp_pool_destroy(p));
}

TEST(every_allocation_failure)
{
    CHECK(walk_allocation_failures(scenario) >= 10);
}

TEST(every_thread_creation_failure)
{
    CHECK_OK(tp_replace_allocator(failing_malloc, counting_free));
    atomic_store(&allocs_left, -1);
    for (int k = 1; k <= 4; k++) {
        atomic_store(&tpi_fail_thread_countdown, k);
        tp_options o;
        tp_options_init(&o);
        o.threads = 4;
        tp_pool *p = NULL;
        CHECK_EQ(tp_pool_create(&p, &o), TP_EAGAIN);
        CHECK(p == NULL);
        CHECK_EQ(atomic_load(&live), 0);
    }
    atomic_store(&tpi_fail_thread_countdown, 0);
    /* And the next create works. */
    tp_pool *p;
    CHECK_OK(tp_pool_create(&p, NULL));
    CHECK_OK(tp_pool_destroy(p));
    CHECK_EQ(atomic_load(&live), 0);
    CHECK_OK(tp_replace_allocator(NULL, NULL));
}

TEST(replace_allocator_args)
{
    CHECK_EQ(tp_replace_allocator(failing_malloc, NULL), TP_EINVAL);
    CHECK_EQ(tp_replace_allocator(NULL, counting_free), TP_EINVAL);
    CHECK_OK(tp_replace_allocator(NULL, NULL));
}

TEST_MAIN(TEST_ENTRY(every_allocation_failure)
          TEST_ENTRY(every_thread_creation_failure)
          TEST_ENTRY(replace_allocator_args))
