/*
 * test_contracts.c - documented promises of the pool that a user relies on
 * without thinking about them: nothing accepted is lost at shutdown, a
 * cancelled task gives back its place at once, outside submitters racing
 * with a shutdown lose nothing, thread names and stack sizes are what the
 * options asked for, and an empty pool survives a tight life cycle.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

#include "check.h"
#include "tpool.h"
#include "util.h"

static void *noop(void *arg)
{
    return arg;
}

/* ---- nothing the user submitted is lost at shutdown --------------------- */

enum { USER_TASKS = 64 };

typedef struct spawner {
    tp_pool *target;
    atomic_int submitted;
} spawner;

static void submit_user_tasks(spawner *s)
{
    for (int i = 0; i < USER_TASKS; i++)
        if (tp_submit(s->target, noop, NULL) == 0)
            atomic_fetch_add(&s->submitted, 1);
}

static void *then_spawns(tp_future *src, void *ctx)
{
    (void)src;
    submit_user_tasks(ctx);
    return NULL;
}

static void body_spawns(size_t lo, size_t hi, void *ctx)
{
    for (size_t i = lo; i < hi; i++)
        submit_user_tasks(ctx);
}

/* A task that holds a worker until the gate opens, or 10 s at most (a
 * safety bound, so that a failing run ends in a failed check, not a hang). */
static void *bounded_gate_task(void *arg)
{
    gate *g = arg;
    event_signal(&g->started);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += 10;
    pthread_mutex_lock(&g->open.mu);
    while (g->open.count == 0 &&
           pthread_cond_timedwait(&g->open.cv, &g->open.mu, &ts) == 0) {
    }
    pthread_mutex_unlock(&g->open.mu);
    return arg;
}

/* A drop function that counts, and on its first call opens the gate that
 * holds the pool's only worker: by then the shutdown has taken every queued
 * task, so each of them reaches drop. */
typedef struct drop_count {
    atomic_int n;
    gate *g;
} drop_count;

static void drop_and_open(const tp_job *job, void *ctx)
{
    drop_count *d = ctx;
    (void)job;
    if (atomic_fetch_add(&d->n, 1) == 0)
        event_signal(&d->g->open);
}

/* `full`: one worker held by g, its queue of one full; `target`: one
 * worker held by g2. */
static void make_full_and_target(tp_pool **full, tp_pool **target, gate *g,
                                 gate *g2)
{
    gate_init(g);
    gate_init(g2);
    *full = make_pool_with(1, 1, TP_FULL_CALLER_RUNS);
    *target = make_pool_with(1, 0, TP_FULL_BLOCK);
    CHECK_OK(tp_submit(*full, gate_task, g));
    event_wait(&g->started, 1);
    CHECK_OK(tp_submit(*full, noop, NULL)); /* fills the queue */
    CHECK_OK(tp_submit(*target, bounded_gate_task, g2));
    event_wait(&g2->started, 1);
}

static void finish_full_and_target(tp_pool *full, tp_pool *target, gate *g,
                                   gate *g2, int want_dropped)
{
    drop_count d = {0, g2};
    CHECK_OK(tp_pool_shutdown_now(target, drop_and_open, &d));
    CHECK_EQ(atomic_load(&d.n), want_dropped);
    tp_pool_stats st;
    CHECK_OK(tp_pool_stats_get(target, &st));
    CHECK_EQ(st.completed, 1); /* the gate task only */
    event_signal(&g->open);
    CHECK_OK(tp_pool_destroy(target));
    CHECK_OK(tp_pool_destroy(full));
    gate_destroy(g);
    gate_destroy(g2);
}

/* A continuation carrier that runs inline (the queue of its caller-runs
 * pool is full) must not make the user's own submits, done inside it,
 * count as the library's: an immediate shutdown hands every one of them
 * to drop. */
TEST(inline_carrier_does_not_hide_user_tasks)
{
    gate g, g2;
    tp_pool *full, *target;
    make_full_and_target(&full, &target, &g, &g2);
    spawner s = {target, 0};
    tp_future *src, *then;
    CHECK_OK(tp_submit_future(target, noop, NULL, &src));
    CHECK_OK(tp_future_cancel(src)); /* settled: then submits at once */
    CHECK_OK(tp_future_then(src, full, then_spawns, &s, TP_THEN_ALWAYS,
                            &then));
    CHECK_OK(tp_future_wait(then, -1)); /* ran inline, on this thread */
    CHECK_EQ(atomic_load(&s.submitted), USER_TASKS);
    tp_future_release(then);
    tp_future_release(src);
    finish_full_and_target(full, target, &g, &g2, USER_TASKS);
}

/* The same for a parallel loop whose helper ran inline. */
TEST(inline_loop_helper_does_not_hide_user_tasks)
{
    gate g, g2;
    tp_pool *full, *target;
    make_full_and_target(&full, &target, &g, &g2);
    spawner s = {target, 0};
    CHECK_OK(tp_parallel_for(full, 0, 4, 1, body_spawns, &s));
    CHECK_EQ(atomic_load(&s.submitted), 4 * USER_TASKS);
    /* And a plain submit after the loop is the user's too. */
    CHECK_OK(tp_submit(target, noop, NULL));
    finish_full_and_target(full, target, &g, &g2, 4 * USER_TASKS + 1);
}

/* ---- a cancelled task gives back its place at once ------------------------ */

TEST(cancel_frees_slot_and_counts)
{
    gate g;
    gate_init(&g);
    tp_pool *p = make_pool_with(1, 2, TP_FULL_FAIL);
    CHECK_OK(tp_submit(p, gate_task, &g));
    event_wait(&g.started, 1);
    tp_future *a, *b, *c;
    CHECK_OK(tp_submit_future(p, noop, NULL, &a));
    CHECK_OK(tp_submit_future(p, noop, NULL, &b));
    CHECK_EQ(tp_submit(p, noop, NULL), TP_EFULL);
    CHECK_OK(tp_future_cancel(a));
    CHECK_OK(tp_future_cancel(b));
    tp_pool_stats st;
    CHECK_OK(tp_pool_stats_get(p, &st));
    CHECK_EQ(st.cancelled, 2);
    CHECK_EQ(st.queued, 0);
    CHECK_EQ(st.running, 1);
    /* Both places are free again, while the worker is still busy. */
    CHECK_OK(tp_submit_future(p, noop, NULL, &c));
    CHECK_OK(tp_submit(p, noop, NULL));
    CHECK_EQ(tp_submit(p, noop, NULL), TP_EFULL);
    event_signal(&g.open);
    CHECK_OK(tp_future_wait(c, -1));
    CHECK_OK(tp_pool_wait_idle(p, -1));
    CHECK_OK(tp_pool_stats_get(p, &st));
    CHECK_EQ(st.submitted, 5);
    CHECK_EQ(st.completed, 3);
    CHECK_EQ(st.cancelled, 2);
    CHECK_EQ(st.queued, 0);
    CHECK_EQ(st.running, 0);
    tp_future_release(a);
    tp_future_release(b);
    tp_future_release(c);
    CHECK_OK(tp_pool_destroy(p));
    gate_destroy(&g);
}

/* wait_idle returns once the only queued task is cancelled. */
TEST(cancel_of_last_task_makes_pool_idle)
{
    gate g;
    gate_init(&g);
    tp_pool *p = make_pool_with(2, 0, TP_FULL_BLOCK);
    tp_future *held, *queued;
    CHECK_OK(tp_submit_future(p, gate_task, &g, &held));
    event_wait(&g.started, 1);
    CHECK_EQ(tp_pool_wait_idle(p, 0), TP_ETIMEDOUT);
    event_signal(&g.open);
    CHECK_OK(tp_future_wait(held, -1));
    /* Now a task that no worker can reach before the cancel: queued
     * behind a second gate on both workers. */
    gate g2;
    gate_init(&g2);
    tp_future *h1, *h2;
    CHECK_OK(tp_submit_future(p, gate_task, &g2, &h1));
    CHECK_OK(tp_submit_future(p, gate_task, &g2, &h2));
    event_wait(&g2.started, 2);
    CHECK_OK(tp_submit_future(p, noop, NULL, &queued));
    CHECK_OK(tp_future_cancel(queued));
    event_signal(&g2.open);
    CHECK_OK(tp_pool_wait_idle(p, -1));
    tp_pool_stats st;
    CHECK_OK(tp_pool_stats_get(p, &st));
    CHECK_EQ(st.cancelled, 1);
    CHECK_EQ(st.completed, 3);
    tp_future_release(held);
    tp_future_release(h1);
    tp_future_release(h2);
    tp_future_release(queued);
    CHECK_OK(tp_pool_destroy(p));
    gate_destroy(&g);
    gate_destroy(&g2);
}

/* Cancels racing with workers and with destroy: every task is counted
 * once, whoever settles it, and destroy never frees the pool under a
 * cancel in progress. */
TEST(cancel_races_with_run_and_destroy)
{
    int rounds = SCALE(200);
    for (int r = 0; r < rounds; r++) {
        tp_pool *p = make_pool_with(2, 64, TP_FULL_BLOCK);
        enum { N = 32 };
        tp_future *fs[N];
        for (int i = 0; i < N; i++)
            CHECK_OK(tp_submit_future(p, noop, NULL, &fs[i]));
        int cancelled = 0;
        for (int i = 0; i < N; i++)
            cancelled += tp_future_cancel(fs[i]) == 0;
        CHECK_OK(tp_pool_wait_idle(p, -1));
        tp_pool_stats st;
        CHECK_OK(tp_pool_stats_get(p, &st));
        CHECK_EQ(st.cancelled, cancelled);
        CHECK_EQ(st.completed + st.cancelled, N);
        CHECK_EQ(st.queued, 0);
        CHECK_OK(tp_pool_destroy(p));
        for (int i = 0; i < N; i++)
            tp_future_release(fs[i]);
    }
}

/* ---- after an immediate shutdown, whose argument is whose ---------------- */

/* Holds the worker until the shutdown's drop opens the gate, then
 * acknowledges the stop request that the shutdown made before. */
static void *stop_when_asked(void *arg)
{
    bounded_gate_task(arg);
    if (tp_task_stop_requested())
        tp_task_fail(TP_ECANCELED);
    return NULL;
}

TEST(shutdown_now_tells_started_from_dropped)
{
    gate g;
    gate_init(&g);
    tp_pool *p = make_pool_with(1, 0, TP_FULL_BLOCK);
    tp_future *running, *queued;
    CHECK_OK(tp_submit_future(p, stop_when_asked, &g, &running));
    event_wait(&g.started, 1);
    CHECK_OK(tp_submit_future(p, noop, NULL, &queued));
    CHECK_EQ(tp_future_started(queued), 0);
    CHECK_EQ(tp_future_started(running), 1);
    drop_count d = {0, &g};
    CHECK_OK(tp_pool_shutdown_now(p, drop_and_open, &d));
    CHECK_EQ(atomic_load(&d.n), 1);
    CHECK_EQ(tp_future_state(running), TP_CANCELLED);
    CHECK_EQ(tp_future_state(queued), TP_CANCELLED);
    CHECK_EQ(tp_future_started(running), 1); /* arg still the caller's */
    CHECK_EQ(tp_future_started(queued), 0);  /* arg went to drop */
    CHECK_EQ(tp_future_started(NULL), 0);
    tp_future_release(running);
    tp_future_release(queued);
    CHECK_OK(tp_pool_destroy(p));
    gate_destroy(&g);
}

/* ---- thread names and stacks ----------------------------------------------- */

typedef struct names {
    pthread_mutex_t mu;
    char got[4][32];
} names;

static void record_name(unsigned index, void *ctx)
{
    names *n = ctx;
    char buf[32] = "";
#if defined(__linux__) && defined(__GLIBC__)
    pthread_getname_np(pthread_self(), buf, sizeof buf);
#endif
    pthread_mutex_lock(&n->mu);
    if (index < 4)
        memcpy(n->got[index], buf, sizeof buf);
    pthread_mutex_unlock(&n->mu);
}

static void check_names(const char *prefix, const char *want0,
                        const char *want1)
{
    names n;
    memset(&n, 0, sizeof n);
    pthread_mutex_init(&n.mu, NULL);
    tp_options o;
    CHECK_OK(tp_options_init(&o));
    o.threads = 2;
    o.name = prefix;
    o.on_thread_start = record_name;
    o.hook_ctx = &n;
    tp_pool *p;
    CHECK_OK(tp_pool_create(&p, &o));
    CHECK_OK(tp_pool_destroy(p));
#if defined(__linux__) && defined(__GLIBC__)
    CHECK(strcmp(n.got[0], want0) == 0);
    CHECK(strcmp(n.got[1], want1) == 0);
#else
    (void)want0;
    (void)want1;
#endif
    pthread_mutex_destroy(&n.mu);
}

TEST(thread_names_keep_the_prefix)
{
    check_names("SpecialPool", "SpecialPool-0", "SpecialPool-1");
    check_names("abcdefghijkl", "abcdefghijkl-0", "abcdefghijkl-1");
    /* Cut only at the kernel's 15 bytes. */
    check_names("abcdefghijklmnopq", "abcdefghijklmno", "abcdefghijklmno");
    check_names(NULL, "tpool-0", "tpool-1");
}

/* Deep recursion in a task: 24 MiB of stack, three times the usual
 * default, with a worker stack of 256 MiB. */
static int deep(int n)
{
    volatile char pad[1024];
    pad[0] = (char)n;
    pad[sizeof pad - 1] = (char)n;
    if (n == 0)
        return 0;
    return deep(n - 1) + (pad[0] == (char)n);
}

static void *deep_task(void *arg)
{
    return (void *)(intptr_t)deep((int)(intptr_t)arg);
}

TEST(stack_size_option)
{
    tp_options o;
    CHECK_OK(tp_options_init(&o));
    CHECK_EQ(o.stack_size, 0);
    o.threads = 1;
    o.stack_size = 1; /* below the system's minimum */
    tp_pool *p;
    CHECK_EQ(tp_pool_create(&p, &o), TP_EINVAL);
    o.stack_size = (size_t)256 << 20;
    CHECK_OK(tp_pool_create(&p, &o));
    tp_future *f;
    enum { LEVELS = 24 * 1024 };
    CHECK_OK(tp_submit_future(p, deep_task, (void *)(intptr_t)LEVELS, &f));
    void *res;
    CHECK_OK(tp_future_get(f, -1, &res));
    CHECK_EQ((intptr_t)res, LEVELS);
    tp_future_release(f);
    CHECK_OK(tp_pool_destroy(p));
}

/* ---- submitters from outside racing with a shutdown ---------------------- */

/* Outside threads push on the injectors without a lock while a shutdown
 * closes them: every task a submit accepted must run (a graceful
 * shutdown) or reach the drop function (an immediate one), exactly once,
 * whichever level and form it was submitted in; a snapshot draining the
 * injectors meanwhile must lose nothing either. */

enum { RACE_SUBMITTERS = 3 };

typedef struct race {
    tp_pool *pool;
    atomic_ulong accepted, ran, dropped;
    atomic_int submitting; /* submitter threads still going */
    event warmed;          /* each submitter had some tasks accepted */
} race;

static race *race_now; /* for race_task, which gets a job argument */

static void *race_task(void *arg)
{
    (void)arg;
    atomic_fetch_add(&race_now->ran, 1);
    return NULL;
}

static void race_drop(const tp_job *job, void *ctx)
{
    race *r = ctx;
    CHECK(job->fn == race_task);
    atomic_fetch_add(&r->dropped, 1);
}

/* Submits in every outside form until the pool refuses. */
static void *race_submitter(void *arg)
{
    race *r = arg;
    tp_job jobs[16];
    for (size_t j = 0; j < 16; j++)
        jobs[j] = (tp_job){race_task, NULL, 0};
    unsigned long mine = 0;
    bool warmed = false;
    for (unsigned i = 0;; i++) {
        int rc;
        size_t n = 1;
        switch (i % 4) {
        case 0:
            rc = tp_submit(r->pool, race_task, NULL);
            break;
        case 1: {
            tp_task_opts o;
            tp_task_opts_init(&o);
            o.priority = (i / 4) % 2 ? TP_PRIORITY_HIGH : TP_PRIORITY_LOW;
            rc = tp_submit_ex(r->pool, race_task, NULL, &o, NULL);
            break;
        }
        default: /* a small batch (tasks) and a large one (jobs) */
            rc = tp_submit_batch(r->pool, jobs, i % 4 == 2 ? 4 : 16, NULL,
                                 &n);
            break;
        }
        if (rc == TP_ESHUTDOWN)
            break;
        CHECK_OK(rc);
        atomic_fetch_add(&r->accepted, n);
        mine += n;
        if (!warmed && mine >= 64) {
            warmed = true;
            event_signal(&r->warmed);
        }
    }
    if (!warmed)
        event_signal(&r->warmed);
    atomic_fetch_sub(&r->submitting, 1);
    return NULL;
}

static void *race_snapshots(void *arg)
{
    race *r = arg;
    tp_pool_snapshot snap;
    while (atomic_load(&r->submitting) > 0)
        CHECK_OK(tp_pool_snapshot_get(r->pool, &snap, NULL, 0));
    return NULL;
}

TEST(outside_submitters_race_shutdown)
{
    int rounds = SCALE(200);
    for (int round = 0; round < rounds; round++) {
        race r = {.pool = make_pool(1 + (unsigned)(round % 3))};
        atomic_init(&r.accepted, 0);
        atomic_init(&r.ran, 0);
        atomic_init(&r.dropped, 0);
        atomic_init(&r.submitting, RACE_SUBMITTERS);
        event_init(&r.warmed);
        race_now = &r;
        pthread_t sub[RACE_SUBMITTERS], snapper;
        for (int i = 0; i < RACE_SUBMITTERS; i++)
            CHECK(pthread_create(&sub[i], NULL, race_submitter, &r) == 0);
        CHECK(pthread_create(&snapper, NULL, race_snapshots, &r) == 0);
        event_wait(&r.warmed, RACE_SUBMITTERS);
        bool now = round % 2 == 1;
        if (now)
            CHECK_OK(tp_pool_shutdown_now(r.pool, race_drop, &r));
        else
            CHECK_OK(tp_pool_shutdown(r.pool));
        for (int i = 0; i < RACE_SUBMITTERS; i++)
            pthread_join(sub[i], NULL);
        pthread_join(snapper, NULL);
        tp_pool_stats s;
        CHECK_OK(tp_pool_stats_get(r.pool, &s));
        CHECK_OK(tp_pool_destroy(r.pool));
        unsigned long accepted = atomic_load(&r.accepted);
        CHECK_EQ(s.submitted, accepted);
        if (now)
            CHECK_EQ(atomic_load(&r.ran) + atomic_load(&r.dropped), accepted);
        else
            CHECK_EQ(atomic_load(&r.ran), accepted);
        CHECK_EQ(atomic_load(&r.dropped) == 0, !now || s.cancelled == 0);
        event_destroy(&r.warmed);
    }
}

/* ---- life cycle ----------------------------------------------------------- */

/* An empty pool: create, wait_idle, destroy, many times over. */
TEST(empty_pool_tight_life_cycle)
{
    int rounds = SCALE(2000);
    for (int i = 0; i < rounds; i++) {
        tp_pool *p = make_pool_with(1 + (unsigned)(i % 4), 0, TP_FULL_BLOCK);
        CHECK_OK(tp_pool_wait_idle(p, -1));
        if (i % 3 == 0)
            CHECK_OK(tp_pool_shutdown(p));
        CHECK_OK(tp_pool_destroy(p));
    }
}

TEST_MAIN(TEST_ENTRY(inline_carrier_does_not_hide_user_tasks)
          TEST_ENTRY(inline_loop_helper_does_not_hide_user_tasks)
          TEST_ENTRY(cancel_frees_slot_and_counts)
          TEST_ENTRY(cancel_of_last_task_makes_pool_idle)
          TEST_ENTRY(cancel_races_with_run_and_destroy)
          TEST_ENTRY(shutdown_now_tells_started_from_dropped)
          TEST_ENTRY(thread_names_keep_the_prefix)
          TEST_ENTRY(stack_size_option)
          TEST_ENTRY(outside_submitters_race_shutdown)
          TEST_ENTRY(empty_pool_tight_life_cycle))
