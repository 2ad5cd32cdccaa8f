/*
 * test_fj.c - fork-join frames (tp_spawn, tp_sync, tp_fj_run): results
 * against sequential code on 1, 2 and 4 threads, deep and wide nesting
 * (past the per-worker limit), spawned calls that submit tasks and wait on
 * futures, use from threads that are not workers, a spawner that sleeps
 * until its thief finishes, shutdown while a computation runs, and a
 * stress run in which every spawned call is counted and must run exactly
 * once.  The timing-free checks are meant for ThreadSanitizer too.
 */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

#include "check.h"
#include "tpool.h"
#include "util.h"

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0)
        ;
}

/* ---- fib ------------------------------------------------------------------ */

static intptr_t fib_seq(intptr_t n)
{
    return n < 2 ? n : fib_seq(n - 1) + fib_seq(n - 2);
}

static void *fib(void *arg)
{
    intptr_t n = (intptr_t)arg;
    if (n < 2)
        return arg;
    tp_fj_frame f;
    CHECK_OK(tp_spawn(&f, fib, (void *)(n - 1)));
    intptr_t b = (intptr_t)fib((void *)(n - 2));
    intptr_t a = (intptr_t)tp_sync(&f);
    return (void *)(a + b);
}

static const unsigned thread_counts[] = {1, 2, 4};

TEST(fib_matches_sequential)
{
    static const intptr_t sizes[] = {0, 1, 2, 3, 10, 17, 22};
    intptr_t big = UNDER_SANITIZER ? 22 : 27;
    for (size_t t = 0; t < 3; t++) {
        tp_pool *p = make_pool(thread_counts[t]);
        for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
            void *r = NULL;
            CHECK_OK(tp_fj_run(p, fib, (void *)sizes[i], &r));
            CHECK_EQ((intptr_t)r, fib_seq(sizes[i]));
        }
        for (int round = 0; round < 3; round++) {
            void *r = NULL;
            CHECK_OK(tp_fj_run(p, fib, (void *)big, &r));
            CHECK_EQ((intptr_t)r, fib_seq(big));
        }
        /* Frames are not tasks: one task per computation. */
        tp_pool_stats st;
        CHECK_OK(tp_pool_wait_idle(p, -1));
        CHECK_OK(tp_pool_stats_get(p, &st));
        CHECK_EQ(st.submitted, sizeof sizes / sizeof sizes[0] + 3);
        CHECK_EQ(st.completed, st.submitted);
        CHECK_OK(tp_pool_destroy(p));
    }
}

/* ---- outside the pool --------------------------------------------------------- */

TEST(spawn_outside_a_worker_runs_sequentially)
{
    /* No pool at all: spawn makes the call, sync returns its result. */
    CHECK_EQ((intptr_t)fib((void *)18), fib_seq(18));
    tp_fj_frame f;
    CHECK_EQ(tp_spawn(NULL, fib, NULL), TP_EINVAL);
    CHECK_EQ(tp_spawn(&f, NULL, NULL), TP_EINVAL);
    CHECK_EQ(tp_fj_run(NULL, fib, NULL, NULL), TP_EINVAL);
    tp_pool *p = make_pool(2);
    CHECK_EQ(tp_fj_run(p, NULL, NULL, NULL), TP_EINVAL);
    CHECK_OK(tp_fj_run(p, fib, (void *)12, NULL)); /* result may be NULL */
    CHECK_OK(tp_pool_destroy(p));
}

/* Several outside threads start computations on one pool at once. */
typedef struct outside_arg {
    tp_pool *pool;
    intptr_t n;
    int ok;
} outside_arg;

static void *outside_thread(void *arg)
{
    outside_arg *a = arg;
    a->ok = 1;
    for (int i = 0; i < 5; i++) {
        void *r = NULL;
        if (tp_fj_run(a->pool, fib, (void *)a->n, &r) != 0 ||
            (intptr_t)r != fib_seq(a->n))
            a->ok = 0;
    }
    return NULL;
}

TEST(concurrent_computations_from_outside)
{
    tp_pool *p = make_pool(4);
    pthread_t th[3];
    outside_arg args[3];
    for (int i = 0; i < 3; i++) {
        args[i] = (outside_arg){p, 14 + 2 * i, 0};
        CHECK(pthread_create(&th[i], NULL, outside_thread, &args[i]) == 0);
    }
    for (int i = 0; i < 3; i++) {
        CHECK(pthread_join(th[i], NULL) == 0);
        CHECK(args[i].ok);
    }
    CHECK_OK(tp_pool_destroy(p));
}

/* ---- from tasks --------------------------------------------------------------- */

typedef struct nested_arg {
    tp_pool *pool;
    intptr_t n;
} nested_arg;

static void *task_runs_fj(void *arg)
{
    nested_arg *a = arg;
    void *r = NULL;
    CHECK_OK(tp_fj_run(a->pool, fib, (void *)a->n, &r));
    return r;
}

TEST(run_from_tasks_of_this_and_another_pool)
{
    tp_pool *p = make_pool(2), *other = make_pool(2);
    /* A task of p: the computation runs nested in it. */
    nested_arg a = {p, 20};
    tp_future *f;
    CHECK_OK(tp_submit_future(p, task_runs_fj, &a, &f));
    void *r = NULL;
    CHECK_OK(tp_future_get(f, -1, &r));
    CHECK_EQ((intptr_t)r, fib_seq(20));
    CHECK_OK(tp_future_release(f));
    /* A task of another pool: its worker waits (helping its own pool). */
    CHECK_OK(tp_submit_future(other, task_runs_fj, &a, &f));
    CHECK_OK(tp_future_get(f, -1, &r));
    CHECK_EQ((intptr_t)r, fib_seq(20));
    CHECK_OK(tp_future_release(f));
    /* tp_spawn straight from a task (no tp_fj_run). */
    CHECK_OK(tp_submit_future(p, fib, (void *)19, &f));
    CHECK_OK(tp_future_get(f, -1, &r));
    CHECK_EQ((intptr_t)r, fib_seq(19));
    CHECK_OK(tp_future_release(f));
    CHECK_OK(tp_pool_destroy(other));
    CHECK_OK(tp_pool_destroy(p));
}

/* ---- deep and wide -------------------------------------------------------------- */

/* A chain: each level spawns the next and syncs it at once. */
static void *chain(void *arg)
{
    intptr_t d = (intptr_t)arg;
    if (d == 0)
        return NULL;
    tp_fj_frame f;
    CHECK_OK(tp_spawn(&f, chain, (void *)(d - 1)));
    return (void *)((intptr_t)tp_sync(&f) + 1);
}

/* Half the depth spawned before a sync, so that up to that many frames
 * are unsynced on one worker at once. */
static void *ladder(void *arg)
{
    intptr_t d = (intptr_t)arg;
    if (d == 0)
        return NULL;
    tp_fj_frame f;
    CHECK_OK(tp_spawn(&f, chain, (void *)(d % 3)));
    intptr_t below = (intptr_t)ladder((void *)(d - 1));
    return (void *)(below + (intptr_t)tp_sync(&f) + 1);
}

static void *plus_one(void *arg)
{
    return (void *)((intptr_t)arg + 1);
}

/* Spawns n frames in a row, then syncs them all, newest first. */
static void *wide(void *arg)
{
    intptr_t n = (intptr_t)arg;
    tp_fj_frame *fs = malloc((size_t)n * sizeof *fs);
    CHECK(fs != NULL);
    for (intptr_t i = 0; i < n; i++)
        CHECK_OK(tp_spawn(&fs[i], plus_one, (void *)i));
    intptr_t sum = 0;
    for (intptr_t i = n; i-- > 0;)
        sum += (intptr_t)tp_sync(&fs[i]);
    free(fs);
    return (void *)sum;
}

TEST(deep_and_wide_nesting)
{
    intptr_t depth = UNDER_SANITIZER ? 5000 : 20000; /* past TP_FJ_DEPTH */
    intptr_t n = TP_FJ_DEPTH + 2000;
    for (size_t t = 0; t < 3; t++) {
        tp_options o;
        CHECK_OK(tp_options_init(&o));
        o.threads = thread_counts[t];
        o.stack_size = 64u << 20; /* the chains recurse deeply */
        tp_pool *p;
        CHECK_OK(tp_pool_create(&p, &o));
        void *r = NULL;
        CHECK_OK(tp_fj_run(p, chain, (void *)depth, &r));
        CHECK_EQ((intptr_t)r, depth);
        intptr_t want = 0;
        for (intptr_t d = 1; d <= 3000; d++)
            want += 1 + d % 3;
        CHECK_OK(tp_fj_run(p, ladder, (void *)3000, &r));
        CHECK_EQ((intptr_t)r, want);
        CHECK_OK(tp_fj_run(p, wide, (void *)n, &r));
        CHECK_EQ((intptr_t)r, n * (n + 1) / 2);
        CHECK_OK(tp_pool_destroy(p));
    }
}

/* ---- spawned calls that submit and wait ---------------------------------------- */

typedef struct mixed_ctx {
    tp_pool *pool;
    tp_pool *other;
    atomic_long plain_ran;
    atomic_long chunks;
} mixed_ctx;

typedef struct mixed_arg {
    mixed_ctx *ctx;
    intptr_t n;
} mixed_arg;

static void *seq_task(void *arg)
{
    return (void *)fib_seq((intptr_t)arg);
}

static void *count_plain(void *arg)
{
    atomic_fetch_add_explicit(&((mixed_ctx *)arg)->plain_ran, 1,
                              memory_order_relaxed);
    return NULL;
}

static void count_chunk(size_t lo, size_t hi, void *ctx)
{
    atomic_fetch_add_explicit(&((mixed_ctx *)ctx)->chunks, (long)(hi - lo),
                              memory_order_relaxed);
}

/* fib, where some calls compute their n-2 half as a future of the pool
 * (or of another pool) and wait for it, submit an ordinary task, or run a
 * parallel loop. */
static void *mixed(void *arg)
{
    mixed_arg *a = arg;
    mixed_ctx *c = a->ctx;
    if (a->n < 2)
        return (void *)a->n;
    mixed_arg child = {c, a->n - 1};
    tp_fj_frame f;
    CHECK_OK(tp_spawn(&f, mixed, &child));
    intptr_t b;
    switch (a->n % 5) {
    case 0: {
        tp_future *fut;
        tp_pool *where = a->n % 2 ? c->pool : c->other;
        CHECK_OK(tp_submit_future(where, seq_task, (void *)(a->n - 2), &fut));
        void *r = NULL;
        CHECK_OK(tp_future_get(fut, -1, &r));
        CHECK_OK(tp_future_release(fut));
        b = (intptr_t)r;
        break;
    }
    case 1:
        CHECK_OK(tp_submit(c->pool, count_plain, c));
        b = fib_seq(a->n - 2);
        break;
    case 2:
        CHECK_OK(tp_parallel_for(c->pool, 0, 64, 4, count_chunk, c));
        b = fib_seq(a->n - 2);
        break;
    default: {
        mixed_arg self = {c, a->n - 2};
        b = (intptr_t)mixed(&self);
        break;
    }
    }
    return (void *)((intptr_t)tp_sync(&f) + b);
}

/* How many of mixed(n)'s calls take each branch. */
static void mixed_expect(intptr_t n, long *plain, long *loops)
{
    if (n < 2)
        return;
    mixed_expect(n - 1, plain, loops);
    if (n % 5 == 1)
        ++*plain;
    else if (n % 5 == 2)
        ++*loops;
    else if (n % 5 != 0)
        mixed_expect(n - 2, plain, loops);
}

TEST(spawned_calls_submit_and_wait)
{
    intptr_t n = UNDER_SANITIZER ? 16 : 21;
    long plain = 0, loops = 0;
    mixed_expect(n, &plain, &loops);
    for (size_t t = 0; t < 3; t++) {
        mixed_ctx c = {make_pool(thread_counts[t]), make_pool(2), 0, 0};
        mixed_arg root = {&c, n};
        void *r = NULL;
        CHECK_OK(tp_fj_run(c.pool, mixed, &root, &r));
        CHECK_EQ((intptr_t)r, fib_seq(n));
        CHECK_OK(tp_pool_wait_idle(c.pool, -1));
        CHECK_EQ(atomic_load(&c.plain_ran), plain);
        CHECK_EQ(atomic_load(&c.chunks), 64 * loops);
        CHECK_OK(tp_pool_destroy(c.other));
        CHECK_OK(tp_pool_destroy(c.pool));
    }
}

/* ---- a spawner that waits for its thief --------------------------------------- */

typedef struct park_ctx {
    tp_pool *pool;
    event started, release;
    atomic_int runs;
} park_ctx;

static void *blocking_child(void *arg)
{
    park_ctx *c = arg;
    atomic_fetch_add(&c->runs, 1);
    event_signal(&c->started);
    event_wait(&c->release, 1);
    return (void *)42;
}

static void *wait_started(void *arg)
{
    event_wait(&((park_ctx *)arg)->started, 1);
    return NULL;
}

/* The root spawns a child that blocks, then waits on a future whose task
 * waits until the child has started: the wait publishes the child, which
 * the other worker steals (the root's worker is busy with the future's
 * task).  The root then syncs a frame whose thief is blocked: with
 * nothing else to do it parks, until the thief finishes and wakes it. */
static void *park_root(void *arg)
{
    park_ctx *c = arg;
    tp_fj_frame f;
    CHECK_OK(tp_spawn(&f, blocking_child, c));
    tp_future *g;
    CHECK_OK(tp_submit_future(c->pool, wait_started, c, &g));
    CHECK_OK(tp_future_wait(g, -1));
    CHECK_OK(tp_future_release(g));
    return tp_sync(&f);
}

TEST(spawner_sleeps_until_its_thief_finishes)
{
    for (int round = 0; round < 3; round++) {
        park_ctx c;
        event_init(&c.started);
        event_init(&c.release);
        atomic_init(&c.runs, 0);
        c.pool = make_pool(2);
        tp_future *f;
        CHECK_OK(tp_submit_future(c.pool, park_root, &c, &f));
        event_wait(&c.started, 1);
        sleep_ms(20); /* the root reaches its sync and parks */
        CHECK_EQ(tp_future_state(f), TP_RUNNING);
        event_signal(&c.release);
        void *r = NULL;
        CHECK_OK(tp_future_get(f, -1, &r));
        CHECK_EQ((intptr_t)r, 42);
        CHECK_EQ(atomic_load(&c.runs), 1);
        CHECK_OK(tp_future_release(f));
        CHECK_OK(tp_pool_destroy(c.pool));
        event_destroy(&c.started);
        event_destroy(&c.release);
    }
}

/* ---- context and shutdown --------------------------------------------------------- */

typedef struct ctx_probe {
    atomic_int nonzero_ids;
    atomic_int stops;
    atomic_int calls;
} ctx_probe;

typedef struct probe_arg {
    ctx_probe *probe;
    intptr_t n;
} probe_arg;

static void *probe(void *arg)
{
    probe_arg *a = arg;
    atomic_fetch_add(&a->probe->calls, 1);
    if (tp_task_id() != 0)
        atomic_fetch_add(&a->probe->nonzero_ids, 1);
    if (tp_task_stop_requested())
        atomic_fetch_add(&a->probe->stops, 1);
    CHECK_OK(tp_task_fail(5)); /* ignored inside a computation */
    if (a->n < 2)
        return (void *)a->n;
    probe_arg l = {a->probe, a->n - 1}, r = {a->probe, a->n - 2};
    tp_fj_frame f;
    CHECK_OK(tp_spawn(&f, probe, &l));
    intptr_t b = (intptr_t)probe(&r);
    return (void *)((intptr_t)tp_sync(&f) + b);
}

TEST(computations_are_no_tasks)
{
    tp_pool *p = make_pool(2);
    ctx_probe pr = {0, 0, 0};
    probe_arg root = {&pr, 16};
    void *r = NULL;
    CHECK_OK(tp_fj_run(p, probe, &root, &r));
    CHECK_EQ((intptr_t)r, fib_seq(16));
    CHECK_EQ(atomic_load(&pr.nonzero_ids), 0);
    CHECK_EQ(atomic_load(&pr.stops), 0);
    CHECK_EQ(atomic_load(&pr.calls), 2 * fib_seq(17) - 1);
    CHECK_OK(tp_pool_destroy(p));
}

typedef struct stop_ctx {
    tp_pool *pool;
    event started;
    atomic_long calls;
    atomic_int saw_stop;
    intptr_t n;
    int rc;
    void *result;
} stop_ctx;

typedef struct stop_arg {
    stop_ctx *c;
    intptr_t n;
} stop_arg;

static void *slow_fib(void *arg)
{
    stop_arg *a = arg;
    atomic_fetch_add_explicit(&a->c->calls, 1, memory_order_relaxed);
    if (tp_task_stop_requested())
        atomic_store(&a->c->saw_stop, 1);
    if (a->n < 2) {
        sched_yield(); /* slow enough for the shutdown to meet it */
        return (void *)a->n;
    }
    stop_arg l = {a->c, a->n - 1}, r = {a->c, a->n - 2};
    tp_fj_frame f;
    CHECK_OK(tp_spawn(&f, slow_fib, &l));
    intptr_t b = (intptr_t)slow_fib(&r);
    return (void *)((intptr_t)tp_sync(&f) + b);
}

static void *stop_root(void *arg)
{
    stop_ctx *c = arg;
    event_signal(&c->started);
    stop_arg a = {c, c->n};
    return slow_fib(&a);
}

static void *stop_caller(void *arg)
{
    stop_ctx *c = arg;
    c->rc = tp_fj_run(c->pool, stop_root, c, &c->result);
    return NULL;
}

TEST(immediate_shutdown_lets_computations_finish)
{
    stop_ctx c;
    c.pool = make_pool(4);
    event_init(&c.started);
    atomic_init(&c.calls, 0);
    atomic_init(&c.saw_stop, 0);
    c.n = UNDER_SANITIZER ? 17 : 22;
    c.rc = -1;
    pthread_t th;
    CHECK(pthread_create(&th, NULL, stop_caller, &c) == 0);
    event_wait(&c.started, 1);
    sleep_ms(5);
    CHECK_OK(tp_pool_shutdown_now(c.pool, NULL, NULL));
    /* shutdown_now waited for the running task: the computation is done. */
    CHECK_EQ(atomic_load(&c.calls), 2 * fib_seq(c.n + 1) - 1);
    CHECK(pthread_join(th, NULL) == 0);
    CHECK_OK(c.rc);
    CHECK_EQ((intptr_t)c.result, fib_seq(c.n));
    printf("# stop seen inside: %d\n", atomic_load(&c.saw_stop));
    CHECK_EQ(tp_fj_run(c.pool, fib, (void *)5, NULL), TP_ESHUTDOWN);
    CHECK_OK(tp_pool_destroy(c.pool));
    event_destroy(&c.started);
}

/* ---- stress: exact accounting ----------------------------------------------------- */

/* A deterministic irregular tree over the ids [lo, hi): the node is lo; the
 * rest is split among 0 to 4 children, each spawned, then synced in
 * reverse.  Every id is one call, which counts itself once. */
typedef struct tree {
    atomic_uchar *seen;
    atomic_long calls;
} tree;

typedef struct tree_arg {
    tree *t;
    uint32_t lo, hi;
} tree_arg;

static uint32_t mix(uint32_t x)
{
    x ^= x >> 16;
    x *= 0x7feb352du;
    x ^= x >> 15;
    x *= 0x846ca68bu;
    x ^= x >> 16;
    return x;
}

static void *tree_node(void *arg)
{
    tree_arg *a = arg;
    tree *t = a->t;
    atomic_fetch_add_explicit(&t->seen[a->lo], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&t->calls, 1, memory_order_relaxed);
    uint32_t rest = a->hi - a->lo - 1, h = mix(a->lo);
    uint32_t k = rest == 0 ? 0 : 1 + h % 4;
    if (k > rest)
        k = rest;
    tree_arg kids[4];
    tp_fj_frame fs[4];
    uint32_t at = a->lo + 1;
    for (uint32_t i = 0; i < k; i++) {
        /* Uneven shares: about half of what is left, leaving at least one
         * id for each child still to come. */
        uint32_t left = a->hi - at, later = k - i - 1;
        uint32_t share = later == 0 ? left : left / 2;
        if (share > left - later)
            share = left - later;
        if (share == 0)
            share = 1;
        kids[i] = (tree_arg){t, at, at + share};
        at += share;
    }
    for (uint32_t i = 0; i < k; i++)
        CHECK_OK(tp_spawn(&fs[i], tree_node, &kids[i]));
    volatile uint32_t spin = h % 64; /* a little uneven work */
    while (spin > 0)
        spin = spin - 1;
    for (uint32_t i = k; i-- > 0;)
        CHECK(tp_sync(&fs[i]) == &kids[i]);
    return a;
}

TEST(stress_every_frame_runs_exactly_once)
{
    uint32_t n = UNDER_SANITIZER ? 20000 : 300000;
    int rounds = UNDER_SANITIZER ? 3 : 10;
    tree t;
    t.seen = malloc(n * sizeof *t.seen);
    CHECK(t.seen != NULL);
    for (size_t ti = 0; ti < 3; ti++) {
        tp_pool *p = make_pool(thread_counts[ti]);
        for (int r = 0; r < rounds; r++) {
            for (uint32_t i = 0; i < n; i++)
                atomic_init(&t.seen[i], 0);
            atomic_init(&t.calls, 0);
            tree_arg root = {&t, 0, n};
            void *res = NULL;
            CHECK_OK(tp_fj_run(p, tree_node, &root, &res));
            CHECK(res == &root);
            CHECK_EQ(atomic_load(&t.calls), n);
            for (uint32_t i = 0; i < n; i++)
                CHECK_EQ(atomic_load_explicit(&t.seen[i],
                                              memory_order_relaxed),
                         1);
        }
        CHECK_OK(tp_pool_destroy(p));
    }
    free(t.seen);
}

TEST_MAIN(TEST_ENTRY(fib_matches_sequential)
              TEST_ENTRY(spawn_outside_a_worker_runs_sequentially)
                  TEST_ENTRY(concurrent_computations_from_outside)
                      TEST_ENTRY(run_from_tasks_of_this_and_another_pool)
                          TEST_ENTRY(deep_and_wide_nesting)
                              TEST_ENTRY(spawned_calls_submit_and_wait)
                                  TEST_ENTRY(
                                      spawner_sleeps_until_its_thief_finishes)
                                      TEST_ENTRY(computations_are_no_tasks)
                                          TEST_ENTRY(
                                              immediate_shutdown_lets_computations_finish)
                                              TEST_ENTRY(
                                                  stress_every_frame_runs_exactly_once))
