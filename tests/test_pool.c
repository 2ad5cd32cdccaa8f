/*
 * test_pool.c - the pool: creation, submit (single, batch, backpressure),
 * task counts, hooks and names, idle waits, shutdown modes, idle CPU.
 */
#include <stdatomic.h>
#include <sys/resource.h>
#include <unistd.h>

#include "check.h"
#include "tpool.h"
#include "util.h"

static void *double_it(void *arg)
{
    return (void *)((uintptr_t)arg * 2);
}

static atomic_int *run_counts;

static void *count_run(void *arg)
{
    atomic_fetch_add(&run_counts[(uintptr_t)arg], 1);
    return NULL;
}

TEST(create_defaults)
{
    tp_pool *p = NULL;
    CHECK_OK(tp_pool_create(&p, NULL));
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    CHECK_EQ(tp_pool_size(p), 2 * cpus);
    tp_pool_stats s;
    CHECK_OK(tp_pool_stats_get(p, &s));
    CHECK_EQ(s.threads, 2 * cpus);
    CHECK_EQ(s.queued + s.running + s.submitted + s.completed, 0);
    CHECK_OK(tp_pool_destroy(p));
}

TEST(create_invalid)
{
    tp_options o;
    tp_pool *p = (tp_pool *)&o; /* must stay unchanged on error */
    CHECK_EQ(tp_pool_create(NULL, NULL), TP_EINVAL);
    CHECK_EQ(tp_options_init(NULL), TP_EINVAL);
    tp_options_init(&o);
    o.threads = TP_MAX_THREADS + 1;
    CHECK_EQ(tp_pool_create(&p, &o), TP_EINVAL);
    tp_options_init(&o);
    o.queue_capacity = TP_MAX_CAPACITY + 1;
    CHECK_EQ(tp_pool_create(&p, &o), TP_EINVAL);
    tp_options_init(&o);
    o.on_full = (tp_full_policy)7;
    CHECK_EQ(tp_pool_create(&p, &o), TP_EINVAL);
    CHECK(p == (tp_pool *)&o);
    CHECK_EQ(tp_submit(NULL, double_it, NULL), TP_EINVAL);
    CHECK_EQ(tp_pool_size(NULL), 0);
    CHECK_EQ(tp_pool_destroy(NULL), TP_EINVAL);
    CHECK_EQ(tp_pool_shutdown(NULL), TP_EINVAL);
    CHECK_EQ(tp_pool_wait_idle(NULL, 0), TP_EINVAL);
    CHECK_EQ(tp_pool_stats_get(NULL, NULL), TP_EINVAL);

    p = make_pool(1);
    tp_future *f = NULL;
    CHECK_EQ(tp_submit(p, NULL, NULL), TP_EINVAL);
    CHECK_EQ(tp_submit_future(p, double_it, NULL, NULL), TP_EINVAL);
    CHECK_EQ(tp_submit_future(p, NULL, NULL, &f), TP_EINVAL);
    CHECK(f == NULL);
    CHECK_EQ(tp_submit_batch(p, NULL, 3, NULL, NULL), TP_EINVAL);
    tp_job jobs[2] = {{double_it, NULL, 0}, {NULL, NULL, 0}};
    size_t accepted = 99;
    CHECK_EQ(tp_submit_batch(p, jobs, 2, NULL, &accepted), TP_EINVAL);
    CHECK_EQ(accepted, 0);
    CHECK_OK(tp_submit_batch(p, jobs, 0, NULL, &accepted));
    CHECK_OK(tp_pool_destroy(p));
}

/* 100,000 tasks across threads: each result matches its input and each
 * task ran exactly once. */
TEST(results_match_inputs)
{
    const size_t n = SCALE(100000);
    tp_pool *p = make_pool(4);
    tp_future **fs = calloc(n, sizeof *fs);
    CHECK(fs != NULL);
    for (size_t i = 0; i < n; i++)
        CHECK_OK(tp_submit_future(p, double_it, (void *)(uintptr_t)i, &fs[i]));
    uint64_t last_id = 0;
    for (size_t i = 0; i < n; i++) {
        void *r = NULL;
        CHECK_OK(tp_future_get(fs[i], -1, &r));
        CHECK_EQ((uintptr_t)r, 2 * i);
        CHECK_EQ(tp_future_state(fs[i]), TP_COMPLETED);
        CHECK_EQ(tp_future_error(fs[i]), 0);
        CHECK(tp_future_id(fs[i]) > last_id); /* unique, increasing */
        last_id = tp_future_id(fs[i]);
        CHECK_OK(tp_future_release(fs[i]));
    }
    free(fs);
    tp_pool_stats s;
    CHECK_OK(tp_pool_wait_idle(p, -1));
    CHECK_OK(tp_pool_stats_get(p, &s));
    CHECK_EQ(s.submitted, n);
    CHECK_EQ(s.completed, n);
    CHECK_EQ(s.queued + s.running, 0);
    CHECK_OK(tp_pool_destroy(p));
}

TEST(every_task_runs_once)
{
    const size_t n = SCALE(100000);
    run_counts = calloc(n, sizeof *run_counts);
    CHECK(run_counts != NULL);
    tp_pool *p = make_pool(3);
    for (size_t i = 0; i < n / 2; i++)
        CHECK_OK(tp_submit(p, count_run, (void *)(uintptr_t)i));
    /* The other half in batches of 1000. */
    tp_job batch[1000];
    for (size_t i = n / 2; i < n;) {
        size_t k = 0;
        for (; k < 1000 && i < n; k++, i++)
            batch[k] = (tp_job){count_run, (void *)(uintptr_t)i, 0};
        size_t accepted = 0;
        CHECK_OK(tp_submit_batch(p, batch, k, NULL, &accepted));
        CHECK_EQ(accepted, k);
    }
    CHECK_OK(tp_pool_wait_idle(p, -1));
    for (size_t i = 0; i < n; i++)
        CHECK_EQ(atomic_load(&run_counts[i]), 1);
    CHECK_OK(tp_pool_destroy(p));
    free(run_counts);
}

TEST(batch_futures_and_ids)
{
    enum { N = 500 };
    tp_pool *p = make_pool(2);
    tp_job jobs[N];
    tp_future *fs[N];
    for (size_t i = 0; i < N; i++)
        jobs[i] = (tp_job){double_it, (void *)(uintptr_t)i, 0};
    size_t accepted = 0;
    CHECK_OK(tp_submit_batch(p, jobs, N, fs, &accepted));
    CHECK_EQ(accepted, N);
    for (size_t i = 0; i < N; i++) {
        void *r;
        CHECK_EQ(jobs[i].id, tp_future_id(fs[i]));
        if (i > 0)
            CHECK(jobs[i].id > jobs[i - 1].id);
        CHECK_OK(tp_future_get(fs[i], -1, &r));
        CHECK_EQ((uintptr_t)r, 2 * i);
        tp_future_release(fs[i]);
    }
    CHECK_OK(tp_pool_destroy(p));
}

static _Atomic uint64_t *seen_ids;

static void *record_id(void *arg)
{
    atomic_store(&seen_ids[(uintptr_t)arg], tp_task_id());
    return NULL;
}

/* A large batch of ordinary tasks: each job runs once, sees its own id,
 * and counts as one task. */
TEST(batch_jobs_ids_and_counts)
{
    const size_t n = SCALE(50000);
    seen_ids = calloc(n, sizeof *seen_ids);
    tp_job *jobs = calloc(n, sizeof *jobs);
    CHECK(seen_ids != NULL && jobs != NULL);
    for (size_t i = 0; i < n; i++)
        jobs[i] = (tp_job){record_id, (void *)(uintptr_t)i, 0};
    tp_pool *p = make_pool(3);
    size_t accepted = 0;
    CHECK_OK(tp_submit_batch(p, jobs, n, NULL, &accepted));
    CHECK_EQ(accepted, n);
    CHECK_OK(tp_pool_wait_idle(p, -1));
    for (size_t i = 0; i < n; i++) {
        CHECK(jobs[i].id != 0);
        if (i > 0)
            CHECK_EQ(jobs[i].id, jobs[i - 1].id + 1);
        CHECK_EQ(atomic_load(&seen_ids[i]), jobs[i].id);
    }
    tp_pool_stats st;
    CHECK_OK(tp_pool_stats_get(p, &st));
    CHECK_EQ(st.submitted, n);
    CHECK_EQ(st.completed, n);
    CHECK_EQ(st.queued + st.running, 0);
    CHECK_OK(tp_pool_destroy(p));
    free(jobs);
    free(seen_ids);
}

static tp_pool *nested_pool;

/* A task that submits a batch of ordinary tasks to its own pool. */
static void *submit_batch_inside(void *arg)
{
    size_t n = (size_t)(uintptr_t)arg;
    tp_job *jobs = calloc(n, sizeof *jobs);
    CHECK(jobs != NULL);
    for (size_t i = 0; i < n; i++)
        jobs[i] = (tp_job){count_run, (void *)(uintptr_t)i, 0};
    size_t accepted = 0;
    CHECK_OK(tp_submit_batch(nested_pool, jobs, n, NULL, &accepted));
    CHECK_EQ(accepted, n);
    free(jobs); /* the pool keeps its own copy of a batch */
    return NULL;
}

TEST(batch_from_inside_a_task)
{
    enum { N = 3000 };
    run_counts = calloc(N, sizeof *run_counts);
    nested_pool = make_pool(2);
    CHECK_OK(tp_submit(nested_pool, submit_batch_inside, (void *)(uintptr_t)N));
    CHECK_OK(tp_pool_wait_idle(nested_pool, -1));
    for (size_t i = 0; i < N; i++)
        CHECK_EQ(atomic_load(&run_counts[i]), 1);
    CHECK_OK(tp_pool_destroy(nested_pool));
    free(run_counts);
}

typedef struct handed_back {
    atomic_int *counts; /* per job: runs + drops */
    size_t drops;
} handed_back;

static void count_drop(const tp_job *job, void *ctx)
{
    handed_back *h = ctx;
    CHECK(job->fn == count_run);
    atomic_fetch_add(&h->counts[(uintptr_t)job->arg], 1);
    h->drops++;
}

/* Immediate shutdown with a batch still queued: every job either ran once
 * or was handed back once. */
TEST(shutdown_now_hands_back_batch)
{
    const size_t n = 20000;
    for (int round = 0; round < 20; round++) {
        run_counts = calloc(n, sizeof *run_counts);
        tp_job *jobs = calloc(n, sizeof *jobs);
        for (size_t i = 0; i < n; i++)
            jobs[i] = (tp_job){count_run, (void *)(uintptr_t)i, 0};
        tp_pool *p = make_pool(2);
        CHECK_OK(tp_submit_batch(p, jobs, n, NULL, NULL));
        handed_back h = {run_counts, 0};
        CHECK_OK(tp_pool_shutdown_now(p, count_drop, &h));
        for (size_t i = 0; i < n; i++)
            CHECK_EQ(atomic_load(&run_counts[i]), 1);
        tp_pool_stats st;
        CHECK_OK(tp_pool_stats_get(p, &st));
        CHECK_EQ(st.submitted, n);
        CHECK_EQ(st.completed + st.cancelled, n);
        CHECK_EQ(st.cancelled, h.drops);
        CHECK_OK(tp_pool_wait_idle(p, 0));
        CHECK_OK(tp_pool_destroy(p));
        free(jobs);
        free(run_counts);
    }
}

/* A bounded queue with TP_FULL_FAIL: a batch is accepted up to capacity,
 * the rest is reported, and nothing accepted is lost. */
TEST(batch_partial_when_full)
{
    gate g;
    gate_init(&g);
    tp_options o;
    tp_options_init(&o);
    o.threads = 1;
    o.queue_capacity = 10;
    o.on_full = TP_FULL_FAIL;
    tp_pool *p;
    CHECK_OK(tp_pool_create(&p, &o));
    CHECK_OK(tp_submit(p, gate_task, &g));
    event_wait(&g.started, 1);

    enum { N = 25 };
    run_counts = calloc(N, sizeof *run_counts);
    tp_job jobs[N];
    tp_future *fs[N];
    for (size_t i = 0; i < N; i++)
        jobs[i] = (tp_job){count_run, (void *)(uintptr_t)i, 0};
    size_t accepted = 0;
    CHECK_EQ(tp_submit_batch(p, jobs, N, fs, &accepted), TP_EFULL);
    CHECK_EQ(accepted, 10);
    for (size_t i = accepted; i < N; i++)
        CHECK(fs[i] == NULL);
    CHECK_EQ(tp_submit(p, count_run, (void *)0), TP_EFULL);
    tp_pool_stats s;
    tp_pool_stats_get(p, &s);
    CHECK_EQ(s.queued, 10);
    CHECK_EQ(s.running, 1);

    event_signal(&g.open);
    CHECK_OK(tp_wait_all(fs, accepted, -1));
    for (size_t i = 0; i < N; i++)
        CHECK_EQ(atomic_load(&run_counts[i]), i < accepted ? 1 : 0);
    for (size_t i = 0; i < accepted; i++)
        tp_future_release(fs[i]);
    CHECK_OK(tp_pool_destroy(p));
    free(run_counts);
    gate_destroy(&g);
}

typedef struct blocked_submit {
    tp_pool *pool;
    int rc;
    event done;
} blocked_submit;

static void *submit_thread(void *arg)
{
    blocked_submit *b = arg;
    b->rc = tp_submit(b->pool, double_it, NULL);
    event_signal(&b->done);
    return NULL;
}

/* TP_FULL_BLOCK: a submit times out with TP_EFULL, and a submit with no
 * deadline blocks until a worker makes room. */
TEST(backpressure_block)
{
    gate g;
    gate_init(&g);
    tp_options o;
    tp_options_init(&o);
    o.threads = 1;
    o.queue_capacity = 2;
    o.on_full = TP_FULL_BLOCK;
    o.submit_timeout_ms = 50;
    tp_pool *p;
    CHECK_OK(tp_pool_create(&p, &o));
    CHECK_OK(tp_submit(p, gate_task, &g));
    event_wait(&g.started, 1);
    CHECK_OK(tp_submit(p, double_it, NULL));
    CHECK_OK(tp_submit(p, double_it, NULL));
    double t0 = now_ms();
    CHECK_EQ(tp_submit(p, double_it, NULL), TP_EFULL);
    double waited = now_ms() - t0;
    CHECK(waited >= 45 && waited < 5000);
    event_signal(&g.open);
    CHECK_OK(tp_pool_destroy(p));

    /* No deadline: the submitter blocks until the gate opens. */
    gate g2;
    gate_init(&g2);
    o.submit_timeout_ms = -1;
    CHECK_OK(tp_pool_create(&p, &o));
    CHECK_OK(tp_submit(p, gate_task, &g2));
    event_wait(&g2.started, 1);
    CHECK_OK(tp_submit(p, double_it, NULL));
    CHECK_OK(tp_submit(p, double_it, NULL));
    blocked_submit b = {.pool = p, .rc = -1};
    event_init(&b.done);
    pthread_t t;
    CHECK(pthread_create(&t, NULL, submit_thread, &b) == 0);
    /* The queue is full and its only worker is held: the submit cannot
     * have completed. */
    CHECK_EQ(tp_pool_wait_idle(p, 20), TP_ETIMEDOUT);
    CHECK_EQ(event_count(&b.done), 0);
    event_signal(&g2.open);
    event_wait(&b.done, 1);
    pthread_join(t, NULL);
    CHECK_OK(b.rc);
    CHECK_OK(tp_pool_wait_idle(p, -1));
    tp_pool_stats s;
    tp_pool_stats_get(p, &s);
    CHECK_EQ(s.completed, 4);
    CHECK_OK(tp_pool_destroy(p));
    event_destroy(&b.done);
    gate_destroy(&g);
    gate_destroy(&g2);
}

static _Thread_local int on_caller;

static void *where_am_i(void *arg)
{
    (void)arg;
    return (void *)(uintptr_t)on_caller;
}

/* TP_FULL_CALLER_RUNS: the task that does not fit runs on the submitter. */
TEST(backpressure_caller_runs)
{
    gate g;
    gate_init(&g);
    tp_options o;
    tp_options_init(&o);
    o.threads = 1;
    o.queue_capacity = 1;
    o.on_full = TP_FULL_CALLER_RUNS;
    tp_pool *p;
    CHECK_OK(tp_pool_create(&p, &o));
    on_caller = 1;
    CHECK_OK(tp_submit(p, gate_task, &g));
    event_wait(&g.started, 1);
    tp_future *queued, *inline_f;
    CHECK_OK(tp_submit_future(p, where_am_i, NULL, &queued));
    CHECK_OK(tp_submit_future(p, where_am_i, NULL, &inline_f));
    /* Ran before the submit returned, on this thread. */
    CHECK_EQ(tp_future_state(inline_f), TP_COMPLETED);
    void *r = NULL;
    CHECK_OK(tp_future_get(inline_f, 0, &r));
    CHECK_EQ((uintptr_t)r, 1);
    event_signal(&g.open);
    CHECK_OK(tp_future_get(queued, -1, &r));
    CHECK_EQ((uintptr_t)r, 0);
    tp_future_release(queued);
    tp_future_release(inline_f);
    CHECK_OK(tp_pool_destroy(p));
    gate_destroy(&g);
}

static void *sum_tree(void *arg);

typedef struct tree_ctx {
    tp_pool *pool;
    atomic_int nodes;
} tree_ctx;

static tree_ctx tree;

/* Each node with depth > 0 submits two ordinary children. */
static void *sum_tree(void *arg)
{
    uintptr_t depth = (uintptr_t)arg;
    atomic_fetch_add(&tree.nodes, 1);
    if (depth > 0) {
        CHECK_OK(tp_submit(tree.pool, sum_tree, (void *)(depth - 1)));
        CHECK_OK(tp_submit(tree.pool, sum_tree, (void *)(depth - 1)));
    }
    return NULL;
}

TEST(tasks_submit_tasks)
{
    tree.pool = make_pool(2);
    atomic_init(&tree.nodes, 0);
    CHECK_OK(tp_submit(tree.pool, sum_tree, (void *)(uintptr_t)12));
    CHECK_OK(tp_pool_wait_idle(tree.pool, -1));
    CHECK_EQ(atomic_load(&tree.nodes), (1 << 13) - 1);
    CHECK_OK(tp_pool_destroy(tree.pool));
}

static void *try_wait_idle(void *arg)
{
    return (void *)(intptr_t)tp_pool_wait_idle(arg, -1);
}

static void *try_shutdown(void *arg)
{
    return (void *)(intptr_t)tp_pool_shutdown(arg);
}

TEST(wait_idle_and_deadlock_checks)
{
    tp_pool *p = make_pool(2);
    CHECK_OK(tp_pool_wait_idle(p, 0)); /* idle already */
    tp_future *f;
    void *r;
    CHECK_OK(tp_submit_future(p, try_wait_idle, p, &f));
    CHECK_OK(tp_future_get(f, -1, &r));
    CHECK_EQ((intptr_t)r, TP_EDEADLK);
    tp_future_release(f);
    CHECK_OK(tp_submit_future(p, try_shutdown, p, &f));
    CHECK_OK(tp_future_get(f, -1, &r));
    CHECK_EQ((intptr_t)r, TP_EDEADLK);
    tp_future_release(f);

    gate g;
    gate_init(&g);
    CHECK_OK(tp_submit(p, gate_task, &g));
    event_wait(&g.started, 1);
    double t0 = now_ms();
    CHECK_EQ(tp_pool_wait_idle(p, 30), TP_ETIMEDOUT);
    CHECK(now_ms() - t0 >= 25);
    CHECK_EQ(tp_pool_wait_idle(p, 0), TP_ETIMEDOUT);
    event_signal(&g.open);
    CHECK_OK(tp_pool_wait_idle(p, -1));
    /* Still accepting after an idle wait. */
    CHECK_OK(tp_submit_future(p, double_it, (void *)21, &f));
    CHECK_OK(tp_future_get(f, -1, &r));
    CHECK_EQ((uintptr_t)r, 42);
    tp_future_release(f);
    CHECK_OK(tp_pool_destroy(p));
    gate_destroy(&g);
}

static atomic_int hook_starts, hook_stops;
static atomic_uint hook_seen;

static void on_start(unsigned index, void *ctx)
{
    CHECK(ctx == &hook_starts);
    atomic_fetch_add(&hook_starts, 1);
    atomic_fetch_or(&hook_seen, 1u << index);
}

static void on_stop(unsigned index, void *ctx)
{
    (void)index;
    (void)ctx;
    atomic_fetch_add(&hook_stops, 1);
}

static void *thread_name(void *arg)
{
    char *buf = arg;
#if defined(__linux__) && defined(__GLIBC__)
    pthread_getname_np(pthread_self(), buf, 16);
#else
    strcpy(buf, "mypool-0");
#endif
    return NULL;
}

TEST(hooks_and_names)
{
    tp_options o;
    tp_options_init(&o);
    o.threads = 3;
    o.name = "mypool";
    o.on_thread_start = on_start;
    o.on_thread_stop = on_stop;
    o.hook_ctx = &hook_starts;
    tp_pool *p;
    CHECK_OK(tp_pool_create(&p, &o));
    /* Every worker is up (its start hook has run) before create returns. */
    CHECK_EQ(atomic_load(&hook_starts), 3);
    CHECK_EQ(atomic_load(&hook_seen), 7);
    char name[16] = {0};
    tp_future *f;
    CHECK_OK(tp_submit_future(p, thread_name, name, &f));
    CHECK_OK(tp_future_wait(f, -1));
    tp_future_release(f);
    CHECK(strncmp(name, "mypool-", 7) == 0);
    CHECK_EQ(atomic_load(&hook_stops), 0);
    CHECK_OK(tp_pool_destroy(p));
    CHECK_EQ(atomic_load(&hook_stops), 3);
}

TEST(shutdown_graceful_runs_everything)
{
    gate g;
    gate_init(&g);
    enum { N = 200 };
    run_counts = calloc(N, sizeof *run_counts);
    tp_pool *p = make_pool(1);
    CHECK_OK(tp_submit(p, gate_task, &g));
    event_wait(&g.started, 1);
    for (uintptr_t i = 0; i < N; i++)
        CHECK_OK(tp_submit(p, count_run, (void *)i));
    /* One more from another thread; then shutdown must run all of them. */
    pthread_t t;
    blocked_submit b = {.pool = p, .rc = 0};
    event_init(&b.done);
    CHECK(pthread_create(&t, NULL, submit_thread, &b) == 0);
    event_wait(&b.done, 1); /* the submit from another thread is in */
    pthread_join(t, NULL);
    CHECK_OK(b.rc);
    event_signal(&g.open);
    CHECK_OK(tp_pool_shutdown(p));
    for (size_t i = 0; i < N; i++)
        CHECK_EQ(atomic_load(&run_counts[i]), 1);
    CHECK_EQ(tp_submit(p, count_run, NULL), TP_ESHUTDOWN);
    tp_future *f = NULL;
    CHECK_EQ(tp_submit_future(p, double_it, NULL, &f), TP_ESHUTDOWN);
    CHECK(f == NULL);
    tp_job job = {double_it, NULL, 0};
    size_t accepted = 7;
    CHECK_EQ(tp_submit_batch(p, &job, 1, NULL, &accepted), TP_ESHUTDOWN);
    CHECK_EQ(accepted, 0);
    CHECK_OK(tp_pool_shutdown(p)); /* again: no-op */
    CHECK_OK(tp_pool_shutdown_now(p, NULL, NULL));
    tp_pool_stats s;
    tp_pool_stats_get(p, &s);
    CHECK_EQ(s.completed, N + 2);
    CHECK_OK(tp_pool_destroy(p));
    free(run_counts);
    event_destroy(&b.done);
    gate_destroy(&g);
}

/* A long task that stops when asked, acknowledging with TP_ECANCELED. */
static void *stoppable(void *arg)
{
    event *started = arg;
    event_signal(started);
    while (!tp_task_stop_requested()) {
        /* Simulated work: yield the CPU between checks. */
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
    tp_task_fail(TP_ECANCELED);
    return NULL;
}

typedef struct dropped {
    uint64_t ids[64];
    size_t n;
} dropped;

static void on_drop(const tp_job *job, void *ctx)
{
    dropped *d = ctx;
    CHECK(job->fn == count_run);
    d->ids[d->n++] = job->id;
}

TEST(shutdown_now_cancels_queued)
{
    enum { N = 50 };
    event started;
    event_init(&started);
    run_counts = calloc(N, sizeof *run_counts);
    tp_pool *p = make_pool(1);
    tp_future *running, *fs[N];
    CHECK_OK(tp_submit_future(p, stoppable, &started, &running));
    event_wait(&started, 1);
    for (uintptr_t i = 0; i < N; i++)
        CHECK_OK(tp_submit_future(p, count_run, (void *)i, &fs[i]));
    CHECK_OK(tp_future_cancel(fs[0])); /* cancelled before: not dropped */
    dropped d = {{0}, 0};
    CHECK_OK(tp_pool_shutdown_now(p, on_drop, &d));
    CHECK_EQ(d.n, N - 1);
    for (size_t i = 0; i < N; i++) {
        CHECK_EQ(tp_future_state(fs[i]), TP_CANCELLED);
        CHECK_EQ(tp_future_get(fs[i], 0, NULL), TP_ECANCELED);
        CHECK_EQ(atomic_load(&run_counts[i]), 0);
        if (i > 0)
            CHECK_EQ(d.ids[i - 1], tp_future_id(fs[i]));
        tp_future_release(fs[i]);
    }
    /* The running task saw the stop request and acknowledged it. */
    CHECK_EQ(tp_future_state(running), TP_CANCELLED);
    tp_future_release(running);
    CHECK_EQ(tp_submit(p, count_run, NULL), TP_ESHUTDOWN);
    tp_pool_stats s;
    tp_pool_stats_get(p, &s);
    CHECK_EQ(s.cancelled, N);
    CHECK_OK(tp_pool_destroy(p));
    free(run_counts);
    event_destroy(&started);
}

/* Many pools created, used, cancelled into and destroyed. */
TEST(create_destroy_cycles)
{
    const int cycles = UNDER_SANITIZER ? 300 : 2000;
    for (int c = 0; c < cycles; c++) {
        tp_pool *p = make_pool(1 + (unsigned)(c % 3));
        tp_future *f[4];
        for (int i = 0; i < 4; i++)
            CHECK_OK(tp_submit_future(p, double_it, (void *)(uintptr_t)i,
                                      &f[i]));
        int rc = tp_future_cancel(f[c % 4]);
        CHECK(rc == 0 || rc == TP_EBUSY || rc == TP_EALREADY);
        if (c % 2)
            CHECK_OK(tp_pool_shutdown_now(p, NULL, NULL));
        CHECK_OK(tp_pool_destroy(p));
        for (int i = 0; i < 4; i++) {
            tp_state s = tp_future_state(f[i]);
            CHECK(s == TP_COMPLETED || s == TP_CANCELLED);
            tp_future_release(f[i]);
        }
    }
}

/* Two pools are independent: destroying one leaves the other working. */
TEST(pools_are_independent)
{
    tp_pool *a = make_pool(2), *b = make_pool(2);
    CHECK_OK(tp_pool_destroy(a));
    tp_future *f;
    void *r;
    CHECK_OK(tp_submit_future(b, double_it, (void *)5, &f));
    CHECK_OK(tp_future_get(f, -1, &r));
    CHECK_EQ((uintptr_t)r, 10);
    tp_future_release(f);
    CHECK_OK(tp_pool_destroy(b));
}

static double cpu_ms(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e3 +
           (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e3;
}

/* An idle pool's threads sleep: over one second the process uses almost
 * no CPU.  (The sleep here is the measurement window, not
 * synchronisation.) */
TEST(idle_uses_no_cpu)
{
    tp_pool *p = make_pool(8);
    CHECK_OK(tp_pool_wait_idle(p, -1));
    double c0 = cpu_ms();
    struct timespec ts = {1, 0};
    nanosleep(&ts, NULL);
    double used = cpu_ms() - c0;
    printf("# idle CPU over 1 s with 8 workers: %.2f ms\n", used);
    CHECK(used < 50);
    CHECK_OK(tp_pool_destroy(p));
}

TEST(error_strings)
{
    static const int codes[] = {TP_EINVAL,  TP_ENOMEM,   TP_EAGAIN,
                                TP_ETIMEDOUT, TP_ECANCELED, TP_EDEADLK,
                                TP_EBUSY,   TP_EALREADY, TP_EPERM,
                                TP_ESHUTDOWN, TP_EFULL,  TP_EEMPTY,
                                TP_EFAILED, TP_EFORKED, TP_EEXPIRED};
    size_t n = sizeof codes / sizeof codes[0];
    for (size_t i = 0; i < n; i++) {
        CHECK(codes[i] < 0);
        CHECK(strcmp(tp_strerror(codes[i]), "unknown error") != 0);
        CHECK(strncmp(tp_err_name(codes[i]), "TP_E", 4) == 0);
        for (size_t j = 0; j < i; j++)
            CHECK(codes[i] != codes[j]);
    }
    CHECK(strcmp(tp_err_name(TP_EFULL), "TP_EFULL") == 0);
    CHECK(strcmp(tp_strerror(0), "success") == 0);
    CHECK(strcmp(tp_strerror(12345), "unknown error") == 0);
    CHECK(strcmp(tp_err_name(12345), "TP_EUNKNOWN") == 0);
    CHECK_EQ(tp_version(), TP_VERSION_HEX);
    CHECK(strcmp(tp_version_string(), "0.1.0") == 0);
}

TEST_MAIN(TEST_ENTRY(create_defaults)
          TEST_ENTRY(create_invalid)
          TEST_ENTRY(results_match_inputs)
          TEST_ENTRY(every_task_runs_once)
          TEST_ENTRY(batch_futures_and_ids)
          TEST_ENTRY(batch_jobs_ids_and_counts)
          TEST_ENTRY(batch_from_inside_a_task)
          TEST_ENTRY(shutdown_now_hands_back_batch)
          TEST_ENTRY(batch_partial_when_full)
          TEST_ENTRY(backpressure_block)
          TEST_ENTRY(backpressure_caller_runs)
          TEST_ENTRY(tasks_submit_tasks)
          TEST_ENTRY(wait_idle_and_deadlock_checks)
          TEST_ENTRY(hooks_and_names)
          TEST_ENTRY(shutdown_graceful_runs_everything)
          TEST_ENTRY(shutdown_now_cancels_queued)
          TEST_ENTRY(create_destroy_cycles)
          TEST_ENTRY(pools_are_independent)
          TEST_ENTRY(idle_uses_no_cpu)
          TEST_ENTRY(error_strings))
