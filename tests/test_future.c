/*
 * test_future.c - futures: states, results and failures, cancellation,
 * timeouts, done-callbacks, references, waiting on many (all, any,
 * waitset), and nested waits (fork-join) on small pools.
 */
#include <stdatomic.h>

#include "check.h"
#include "tpool.h"
#include "util.h"

static void *identity(void *arg)
{
    return arg;
}

static atomic_int runs;

static void *count_run(void *arg)
{
    (void)arg;
    atomic_fetch_add(&runs, 1);
    return NULL;
}

static void *fail_with(void *arg)
{
    CHECK_OK(tp_task_fail((int)(intptr_t)arg));
    return (void *)1;
}

TEST(states_and_results)
{
    gate g;
    gate_init(&g);
    tp_pool *p = make_pool(1);
    tp_future *a, *b;
    CHECK_OK(tp_submit_future(p, gate_task, &g, &a));
    event_wait(&g.started, 1);
    CHECK_OK(tp_submit_future(p, identity, (void *)7, &b));
    CHECK_EQ(tp_future_state(a), TP_RUNNING);
    CHECK_EQ(tp_future_state(b), TP_PENDING);
    CHECK(tp_future_id(a) != 0 && tp_future_id(a) != tp_future_id(b));
    void *r = NULL;
    CHECK_EQ(tp_future_get(b, 0, &r), TP_ETIMEDOUT); /* poll */
    CHECK(r == NULL);
    event_signal(&g.open);
    CHECK_OK(tp_future_get(b, -1, &r));
    CHECK_EQ((uintptr_t)r, 7);
    CHECK_OK(tp_future_get(a, -1, &r));
    CHECK(r == &g);
    CHECK_EQ(tp_future_state(a), TP_COMPLETED);
    CHECK(strcmp(tp_state_name(TP_CANCELLED), "cancelled") == 0);
    tp_future_release(a);
    tp_future_release(b);
    CHECK_OK(tp_pool_destroy(p));
    gate_destroy(&g);
}

TEST(task_failure)
{
    tp_pool *p = make_pool(2);
    tp_future *f;
    CHECK_OK(tp_submit_future(p, fail_with, (void *)(intptr_t)42, &f));
    void *r = (void *)99;
    CHECK_EQ(tp_future_get(f, -1, &r), TP_EFAILED);
    CHECK(r == (void *)99); /* untouched on failure */
    CHECK_EQ(tp_future_state(f), TP_FAILED);
    CHECK_EQ(tp_future_error(f), 42);
    tp_future_release(f);
    /* Outside a task there is nothing to fail. */
    CHECK_EQ(tp_task_fail(1), TP_EPERM);
    CHECK_EQ(tp_task_stop_requested(), 0);
    CHECK_EQ(tp_task_id(), 0);
    /* The worker survives a failed task. */
    CHECK_OK(tp_submit_future(p, identity, (void *)3, &f));
    CHECK_OK(tp_future_get(f, -1, &r));
    CHECK_EQ((uintptr_t)r, 3);
    tp_future_release(f);
    CHECK_OK(tp_pool_destroy(p));
}

static void *fail_zero(void *arg)
{
    (void)arg;
    return (void *)(intptr_t)tp_task_fail(0);
}

static void *own_id(void *arg)
{
    (void)arg;
    return (void *)(uintptr_t)tp_task_id();
}

TEST(task_context)
{
    tp_pool *p = make_pool(1);
    tp_future *f;
    void *r;
    CHECK_OK(tp_submit_future(p, fail_zero, NULL, &f));
    CHECK_OK(tp_future_get(f, -1, &r));
    CHECK_EQ((intptr_t)r, TP_EINVAL);
    tp_future_release(f);
    CHECK_OK(tp_submit_future(p, own_id, NULL, &f));
    CHECK_OK(tp_future_get(f, -1, &r));
    CHECK_EQ((uintptr_t)r, tp_future_id(f));
    tp_future_release(f);
    CHECK_OK(tp_pool_destroy(p));
}

TEST(cancel_pending_never_runs)
{
    gate g;
    gate_init(&g);
    atomic_init(&runs, 0);
    tp_pool *p = make_pool(1);
    tp_future *blocker, *f;
    CHECK_OK(tp_submit_future(p, gate_task, &g, &blocker));
    event_wait(&g.started, 1);
    CHECK_OK(tp_submit_future(p, count_run, NULL, &f));
    CHECK_OK(tp_future_cancel(f));
    CHECK_EQ(tp_future_state(f), TP_CANCELLED);
    CHECK_EQ(tp_future_get(f, -1, NULL), TP_ECANCELED);
    CHECK_EQ(tp_future_error(f), TP_ECANCELED);
    CHECK_EQ(tp_future_cancel(f), TP_EALREADY);
    CHECK_EQ(tp_future_cancel(blocker), TP_EBUSY);
    event_signal(&g.open);
    CHECK_OK(tp_pool_wait_idle(p, -1));
    CHECK_EQ(atomic_load(&runs), 0);
    /* The blocker did not acknowledge the request: it completed. */
    CHECK_EQ(tp_future_state(blocker), TP_COMPLETED);
    CHECK_EQ(tp_future_cancel(blocker), TP_EALREADY);
    CHECK_EQ(tp_future_cancel(NULL), TP_EINVAL);
    tp_pool_stats s;
    tp_pool_stats_get(p, &s);
    CHECK_EQ(s.cancelled, 1);
    CHECK_EQ(s.completed, 1);
    tp_future_release(blocker);
    tp_future_release(f);
    CHECK_OK(tp_pool_destroy(p));
    gate_destroy(&g);
}

static void *until_stopped(void *arg)
{
    event *started = arg;
    event_signal(started);
    while (!tp_task_stop_requested()) {
        struct timespec ts = {0, 500000}; /* simulated work */
        nanosleep(&ts, NULL);
    }
    tp_task_fail(TP_ECANCELED);
    return NULL;
}

TEST(cancel_running_cooperative)
{
    event started;
    event_init(&started);
    tp_pool *p = make_pool(2);
    tp_future *f;
    CHECK_OK(tp_submit_future(p, until_stopped, &started, &f));
    event_wait(&started, 1);
    CHECK_EQ(tp_future_cancel(f), TP_EBUSY);
    CHECK_EQ(tp_future_get(f, -1, NULL), TP_ECANCELED);
    CHECK_EQ(tp_future_state(f), TP_CANCELLED);
    tp_future_release(f);
    CHECK_OK(tp_pool_destroy(p));
    event_destroy(&started);
}

/* Cancel races with the start, many times: either the task never ran and
 * the future is CANCELLED, or it ran and the future is COMPLETED. */
TEST(cancel_race)
{
    const int n = SCALE(20000);
    atomic_init(&runs, 0);
    tp_pool *p = make_pool(2);
    int cancelled = 0;
    for (int i = 0; i < n; i++) {
        tp_future *f;
        CHECK_OK(tp_submit_future(p, count_run, NULL, &f));
        int rc = tp_future_cancel(f);
        CHECK(rc == 0 || rc == TP_EBUSY || rc == TP_EALREADY);
        CHECK_OK(tp_future_wait(f, -1));
        tp_state s = tp_future_state(f);
        if (rc == 0)
            CHECK_EQ(s, TP_CANCELLED);
        else
            CHECK_EQ(s, TP_COMPLETED);
        cancelled += s == TP_CANCELLED;
        tp_future_release(f);
    }
    CHECK_OK(tp_pool_wait_idle(p, -1));
    CHECK_EQ(atomic_load(&runs) + cancelled, n);
    CHECK_OK(tp_pool_destroy(p));
}

TEST(wait_timeouts)
{
    gate g;
    gate_init(&g);
    tp_pool *p = make_pool(1);
    tp_future *f;
    CHECK_OK(tp_submit_future(p, gate_task, &g, &f));
    double t0 = now_ms();
    CHECK_EQ(tp_future_wait(f, 0), TP_ETIMEDOUT);
    CHECK(now_ms() - t0 < 1000);
    t0 = now_ms();
    CHECK_EQ(tp_future_wait(f, 60), TP_ETIMEDOUT);
    double waited = now_ms() - t0;
    CHECK(waited >= 59 && waited < 5000);
    t0 = now_ms();
    CHECK_EQ(tp_future_get(f, 30, NULL), TP_ETIMEDOUT);
    CHECK(now_ms() - t0 >= 29);
    tp_future *both[2] = {f, f};
    CHECK_EQ(tp_wait_all(both, 2, 20), TP_ETIMEDOUT);
    size_t idx = 99;
    CHECK_EQ(tp_wait_any(both, 2, 20, &idx), TP_ETIMEDOUT);
    event_signal(&g.open);
    CHECK_OK(tp_future_wait(f, -1));
    CHECK_OK(tp_future_wait(f, 0)); /* settled: polls succeed */
    CHECK_EQ(tp_future_wait(NULL, 0), TP_EINVAL);
    tp_future_release(f);
    CHECK_OK(tp_pool_destroy(p));
    gate_destroy(&g);
}

typedef struct cb_log {
    atomic_int calls;
    int order[4];
    atomic_int next;
} cb_log;

static void record(tp_future *f, void *ctx)
{
    cb_log *log = ctx;
    CHECK(tp_future_state(f) >= TP_COMPLETED);
    atomic_fetch_add(&log->calls, 1);
}

static cb_log ordered;

static void record_order(tp_future *f, void *ctx)
{
    (void)f;
    int slot = atomic_fetch_add(&ordered.next, 1);
    ordered.order[slot] = (int)(intptr_t)ctx;
}

TEST(done_callbacks)
{
    gate g;
    gate_init(&g);
    tp_pool *p = make_pool(1);
    tp_future *f;
    cb_log log;
    atomic_init(&log.calls, 0);
    CHECK_OK(tp_submit_future(p, gate_task, &g, &f));
    CHECK_OK(tp_future_on_done(f, record, &log));
    atomic_init(&ordered.next, 0);
    for (intptr_t i = 0; i < 3; i++)
        CHECK_OK(tp_future_on_done(f, record_order, (void *)i));
    CHECK_EQ(atomic_load(&log.calls), 0);
    event_signal(&g.open);
    CHECK_OK(tp_future_wait(f, -1));
    CHECK_OK(tp_pool_wait_idle(p, -1)); /* callbacks ran before idle */
    CHECK_EQ(atomic_load(&log.calls), 1);
    CHECK_EQ(atomic_load(&ordered.next), 3);
    for (int i = 0; i < 3; i++)
        CHECK_EQ(ordered.order[i], i);
    /* Registered after settling: runs now, on this thread. */
    CHECK_OK(tp_future_on_done(f, record, &log));
    CHECK_EQ(atomic_load(&log.calls), 2);
    CHECK_EQ(tp_future_on_done(f, NULL, NULL), TP_EINVAL);
    CHECK_EQ(tp_future_on_done(NULL, record, &log), TP_EINVAL);
    tp_future_release(f);
    CHECK_OK(tp_pool_destroy(p));
    gate_destroy(&g);
}

/* Callbacks of a cancelled task run on the cancelling thread. */
TEST(callback_on_cancel)
{
    gate g;
    gate_init(&g);
    tp_pool *p = make_pool(1);
    tp_future *blocker, *f;
    cb_log log;
    atomic_init(&log.calls, 0);
    CHECK_OK(tp_submit_future(p, gate_task, &g, &blocker));
    event_wait(&g.started, 1);
    CHECK_OK(tp_submit_future(p, identity, NULL, &f));
    CHECK_OK(tp_future_on_done(f, record, &log));
    CHECK_OK(tp_future_cancel(f));
    CHECK_EQ(atomic_load(&log.calls), 1);
    event_signal(&g.open);
    tp_future_release(f);
    tp_future_release(blocker);
    CHECK_OK(tp_pool_destroy(p));
    CHECK_EQ(atomic_load(&log.calls), 1);
    gate_destroy(&g);
}

/* Releasing a future before its task has run leaks nothing (ASan checks)
 * and the task still runs. */
TEST(release_early)
{
    const int n = SCALE(10000);
    atomic_init(&runs, 0);
    tp_pool *p = make_pool(2);
    for (int i = 0; i < n; i++) {
        tp_future *f;
        CHECK_OK(tp_submit_future(p, count_run, NULL, &f));
        CHECK_OK(tp_future_retain(f));
        CHECK_OK(tp_future_release(f));
        CHECK_OK(tp_future_release(f));
    }
    CHECK_OK(tp_pool_wait_idle(p, -1));
    CHECK_EQ(atomic_load(&runs), n);
    CHECK_EQ(tp_future_retain(NULL), TP_EINVAL);
    CHECK_EQ(tp_future_release(NULL), TP_EINVAL);
    CHECK_OK(tp_pool_destroy(p));
}

/* A future outlives its pool. */
TEST(future_outlives_pool)
{
    tp_pool *p = make_pool(1);
    tp_future *f;
    CHECK_OK(tp_submit_future(p, identity, (void *)11, &f));
    CHECK_OK(tp_pool_destroy(p));
    void *r;
    CHECK_OK(tp_future_get(f, 0, &r));
    CHECK_EQ((uintptr_t)r, 11);
    tp_future_release(f);
}

typedef struct waiter_arg {
    tp_future *f;
    int rc;
    void *result;
} waiter_arg;

static void *waiter_thread(void *arg)
{
    waiter_arg *w = arg;
    w->rc = tp_future_get(w->f, -1, &w->result);
    return NULL;
}

/* Many threads wait on one future; all are woken with the result. */
TEST(many_waiters)
{
    enum { T = 8 };
    gate g;
    gate_init(&g);
    tp_pool *p = make_pool(1);
    tp_future *f;
    CHECK_OK(tp_submit_future(p, gate_task, &g, &f));
    pthread_t th[T];
    waiter_arg wa[T];
    for (int i = 0; i < T; i++) {
        wa[i] = (waiter_arg){f, -1, NULL};
        CHECK(pthread_create(&th[i], NULL, waiter_thread, &wa[i]) == 0);
    }
    event_signal(&g.open);
    for (int i = 0; i < T; i++) {
        pthread_join(th[i], NULL);
        CHECK_OK(wa[i].rc);
        CHECK(wa[i].result == &g);
    }
    tp_future_release(f);
    CHECK_OK(tp_pool_destroy(p));
    gate_destroy(&g);
}

TEST(wait_all_and_any)
{
    enum { N = 20 };
    gate g;
    gate_init(&g);
    tp_pool *p = make_pool(2);
    tp_future *fs[N];
    CHECK_OK(tp_submit_future(p, gate_task, &g, &fs[0]));
    for (intptr_t i = 1; i < N; i++)
        CHECK_OK(tp_submit_future(p, identity, (void *)i, &fs[i]));
    /* Any: never the gated one while it is closed. */
    size_t idx = 99;
    CHECK_OK(tp_wait_any(fs, N, -1, &idx));
    CHECK(idx >= 1 && idx < N);
    CHECK(tp_future_state(fs[idx]) == TP_COMPLETED);
    CHECK_OK(tp_wait_all(fs + 1, N - 1, -1));
    CHECK_EQ(tp_wait_any(fs, 1, 10, &idx), TP_ETIMEDOUT);
    event_signal(&g.open);
    CHECK_OK(tp_wait_all(fs, N, -1));
    CHECK_OK(tp_wait_all(fs, 0, 0));
    CHECK_EQ(tp_wait_any(fs, 0, 0, &idx), TP_EINVAL);
    CHECK_EQ(tp_wait_any(NULL, 1, 0, &idx), TP_EINVAL);
    CHECK_EQ(tp_wait_any(fs, 1, 0, NULL), TP_EINVAL);
    CHECK_EQ(tp_wait_all(NULL, 1, 0), TP_EINVAL);
    tp_future *with_null[2] = {fs[0], NULL};
    CHECK_EQ(tp_wait_all(with_null, 2, 0), TP_EINVAL);
    CHECK_EQ(tp_wait_any(with_null, 2, 0, &idx), TP_EINVAL);

    /* as_completed with wait_any: each handled once. */
    tp_future *left[N];
    int seen[N] = {0};
    for (intptr_t i = 0; i < N; i++)
        CHECK_OK(tp_submit_future(p, identity, (void *)i, &left[i]));
    size_t n = N;
    while (n > 0) {
        CHECK_OK(tp_wait_any(left, n, -1, &idx));
        void *r;
        CHECK_OK(tp_future_get(left[idx], 0, &r));
        seen[(intptr_t)r]++;
        tp_future_release(left[idx]);
        left[idx] = left[--n];
    }
    for (int i = 0; i < N; i++) {
        CHECK_EQ(seen[i], 1);
        tp_future_release(fs[i]);
    }
    CHECK_OK(tp_pool_destroy(p));
    gate_destroy(&g);
}

TEST(waitset_as_completed)
{
    const int n = SCALE(20000);
    gate g;
    gate_init(&g);
    tp_pool *p = make_pool(2);
    tp_waitset *ws;
    CHECK_OK(tp_waitset_create(&ws));
    tp_future *blocker;
    CHECK_OK(tp_submit_future(p, gate_task, &g, &blocker));
    CHECK_OK(tp_waitset_add(ws, blocker));
    char *seen = calloc((size_t)n, 1);
    for (intptr_t i = 0; i < n; i++) {
        tp_future *f;
        CHECK_OK(tp_submit_future(p, identity, (void *)i, &f));
        CHECK_OK(tp_waitset_add(ws, f));
        tp_future_release(f); /* the set keeps its own reference */
    }
    CHECK_EQ(tp_waitset_size(ws), (size_t)n + 1);
    /* The n quick ones come out first: the blocker has not settled. */
    for (int i = 0; i < n; i++) {
        tp_future *f;
        CHECK_OK(tp_waitset_next(ws, -1, &f));
        void *r;
        CHECK_OK(tp_future_get(f, 0, &r));
        CHECK(r != &g);
        CHECK_EQ(seen[(intptr_t)r], 0);
        seen[(intptr_t)r] = 1;
        tp_future_release(f);
    }
    tp_future *f = NULL;
    CHECK_EQ(tp_waitset_next(ws, 10, &f), TP_ETIMEDOUT);
    CHECK_EQ(tp_waitset_size(ws), 1);
    event_signal(&g.open);
    CHECK_OK(tp_waitset_next(ws, -1, &f));
    CHECK(f == blocker);
    tp_future_release(f);
    CHECK_EQ(tp_waitset_next(ws, -1, &f), TP_EEMPTY);
    CHECK_OK(tp_waitset_destroy(ws));
    tp_future_release(blocker);
    free(seen);
    CHECK_EQ(tp_waitset_create(NULL), TP_EINVAL);
    CHECK_EQ(tp_waitset_add(NULL, NULL), TP_EINVAL);
    CHECK_EQ(tp_waitset_destroy(NULL), TP_EINVAL);
    CHECK_OK(tp_pool_destroy(p));
    gate_destroy(&g);
}

/* Destroying a waitset while its futures are pending is safe: their
 * callbacks fire later and release everything (ASan checks). */
TEST(waitset_destroy_pending)
{
    gate g;
    gate_init(&g);
    tp_pool *p = make_pool(1);
    tp_waitset *ws;
    CHECK_OK(tp_waitset_create(&ws));
    for (int i = 0; i < 10; i++) {
        tp_future *f;
        CHECK_OK(tp_submit_future(p, i == 0 ? gate_task : identity, &g, &f));
        CHECK_OK(tp_waitset_add(ws, f));
        tp_future_release(f);
    }
    CHECK_OK(tp_waitset_destroy(ws));
    event_signal(&g.open);
    CHECK_OK(tp_pool_destroy(p));
    gate_destroy(&g);
}

/* ---- nested waits --------------------------------------------------------- */

static tp_pool *fib_pool;

static long fib_seq(long n)
{
    return n < 2 ? n : fib_seq(n - 1) + fib_seq(n - 2);
}

/* fib(n) = fib(n-1) as a child task + fib(n-2) here, waiting on the child
 * from inside the pool. */
static void *fib_task(void *arg)
{
    long n = (long)(intptr_t)arg;
    if (n < 2)
        return arg;
    tp_future *child;
    CHECK_OK(tp_submit_future(fib_pool, fib_task, (void *)(intptr_t)(n - 1),
                              &child));
    long b = (long)(intptr_t)fib_task((void *)(intptr_t)(n - 2));
    void *a;
    CHECK_OK(tp_future_get(child, -1, &a));
    tp_future_release(child);
    return (void *)(intptr_t)((long)(intptr_t)a + b);
}

static void run_fib(unsigned threads, long n)
{
    fib_pool = make_pool(threads);
    tp_future *f;
    CHECK_OK(tp_submit_future(fib_pool, fib_task, (void *)(intptr_t)n, &f));
    void *r;
    CHECK_OK(tp_future_get(f, -1, &r));
    CHECK_EQ((long)(intptr_t)r, fib_seq(n));
    tp_future_release(f);
    CHECK_OK(tp_pool_destroy(fib_pool));
}

TEST(nested_fib_one_thread)
{
    run_fib(1, UNDER_SANITIZER ? 18 : 25);
}

TEST(nested_fib_two_threads)
{
    run_fib(2, UNDER_SANITIZER ? 18 : 25);
}

TEST(nested_fib_many_threads)
{
    run_fib(8, UNDER_SANITIZER ? 16 : 22);
}

/* Every worker waits at once on a child it submitted. */
static void *parent_task(void *arg)
{
    tp_future *child;
    CHECK_OK(tp_submit_future(fib_pool, identity, arg, &child));
    void *r;
    CHECK_OK(tp_future_get(child, -1, &r));
    tp_future_release(child);
    return r;
}

TEST(all_workers_wait_on_children)
{
    enum { T = 3, N = 64 };
    fib_pool = make_pool(T);
    tp_future *fs[N];
    for (intptr_t i = 0; i < N; i++)
        CHECK_OK(tp_submit_future(fib_pool, parent_task, (void *)i, &fs[i]));
    for (intptr_t i = 0; i < N; i++) {
        void *r;
        CHECK_OK(tp_future_get(fs[i], -1, &r));
        CHECK_EQ((intptr_t)r, i);
        tp_future_release(fs[i]);
    }
    CHECK_OK(tp_pool_destroy(fib_pool));
}

static tp_future *self_future;
static event self_ready;

static void *wait_on_self(void *arg)
{
    (void)arg;
    event_wait(&self_ready, 1);
    return (void *)(intptr_t)tp_future_wait(self_future, -1);
}

TEST(wait_on_own_future_is_deadlock)
{
    event_init(&self_ready);
    tp_pool *p = make_pool(1);
    CHECK_OK(tp_submit_future(p, wait_on_self, NULL, &self_future));
    event_signal(&self_ready);
    void *r;
    CHECK_OK(tp_future_get(self_future, -1, &r));
    CHECK_EQ((intptr_t)r, TP_EDEADLK);
    tp_future_release(self_future);
    CHECK_OK(tp_pool_destroy(p));
    event_destroy(&self_ready);
}

TEST_MAIN(TEST_ENTRY(states_and_results)
          TEST_ENTRY(task_failure)
          TEST_ENTRY(task_context)
          TEST_ENTRY(cancel_pending_never_runs)
          TEST_ENTRY(cancel_running_cooperative)
          TEST_ENTRY(cancel_race)
          TEST_ENTRY(wait_timeouts)
          TEST_ENTRY(done_callbacks)
          TEST_ENTRY(callback_on_cancel)
          TEST_ENTRY(release_early)
          TEST_ENTRY(future_outlives_pool)
          TEST_ENTRY(many_waiters)
          TEST_ENTRY(wait_all_and_any)
          TEST_ENTRY(waitset_as_completed)
          TEST_ENTRY(waitset_destroy_pending)
          TEST_ENTRY(nested_fib_one_thread)
          TEST_ENTRY(nested_fib_two_threads)
          TEST_ENTRY(nested_fib_many_threads)
          TEST_ENTRY(all_workers_wait_on_children)
          TEST_ENTRY(wait_on_own_future_is_deadlock))
