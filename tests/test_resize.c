/*
 * test_resize.c - a running pool's thread count: tp_pool_resize(),
 * tp_options.max_threads, and the extra threads of
 * tp_task_blocking_begin/end.  Threads coming and going are observed
 * through the thread hooks and through tasks held on gates, never through
 * timing; accounting is exact under resizes racing with submits.
 */
#include <errno.h>
#include <stdatomic.h>
#include <time.h>

#include "util.h"

/* Counts of hook calls, and the highest index seen. */
typedef struct hooks {
    event started, stopped;
} hooks;

static void on_start(unsigned index, void *ctx)
{
    (void)index;
    event_signal(&((hooks *)ctx)->started);
}

static void on_stop(unsigned index, void *ctx)
{
    (void)index;
    event_signal(&((hooks *)ctx)->stopped);
}

static tp_pool *resizable(unsigned threads, unsigned max, hooks *h)
{
    event_init(&h->started);
    event_init(&h->stopped);
    tp_options o;
    CHECK_OK(tp_options_init(&o));
    o.threads = threads;
    o.max_threads = max;
    o.on_thread_start = on_start;
    o.on_thread_stop = on_stop;
    o.hook_ctx = h;
    tp_pool *p = NULL;
    CHECK_OK(tp_pool_create(&p, &o));
    return p;
}

static void hooks_destroy(hooks *h)
{
    event_destroy(&h->started);
    event_destroy(&h->stopped);
}

/* Waits until e is signalled n times, at most ms milliseconds: false if
 * it was not (a bound that only a broken pool reaches). */
static bool event_wait_ms(event *e, int n, int ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += ms / 1000;
    ts.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&e->mu);
    int rc = 0;
    while (e->count < n && rc != ETIMEDOUT)
        rc = pthread_cond_timedwait(&e->cv, &e->mu, &ts);
    bool ok = e->count >= n;
    pthread_mutex_unlock(&e->mu);
    return ok;
}

/* Submits n gate tasks and waits until all of them run at once: proof
 * that the pool has at least n workers. */
static void hold_n(tp_pool *p, gate *g, int n, tp_future **fs)
{
    for (int i = 0; i < n; i++)
        CHECK_OK(tp_submit_future(p, gate_task, g, &fs[i]));
    event_wait(&g->started, n);
}

static void release_n(gate *g, int n, tp_future **fs)
{
    event_signal(&g->open);
    for (int i = 0; i < n; i++) {
        CHECK_OK(tp_future_wait(fs[i], -1));
        tp_future_release(fs[i]);
    }
}

static void *record_index(void *arg)
{
    atomic_int *max = arg;
    int i = tp_worker_index();
    int seen = atomic_load(max);
    while (i > seen && !atomic_compare_exchange_weak(max, &seen, i)) {
    }
    return NULL;
}

TEST(grow_and_shrink)
{
    hooks h;
    tp_pool *p = resizable(2, 6, &h);
    CHECK_EQ(tp_pool_size(p), 2);
    CHECK_EQ(tp_pool_max_size(p), 6);
    CHECK_EQ(event_count(&h.started), 2);

    /* Grow: six tasks run at once. */
    CHECK_OK(tp_pool_resize(p, 6));
    CHECK_EQ(tp_pool_size(p), 6);
    gate g;
    gate_init(&g);
    tp_future *fs[6];
    hold_n(p, &g, 6, fs);
    release_n(&g, 6, fs);
    gate_destroy(&g);

    /* Shrink: five workers leave (their stop hooks run), the indices left
     * are 0 only. */
    CHECK_OK(tp_pool_resize(p, 1));
    CHECK_EQ(tp_pool_size(p), 1);
    event_wait(&h.stopped, 5);
    atomic_int max;
    atomic_init(&max, -1);
    for (int i = 0; i < 200; i++)
        CHECK_OK(tp_submit(p, record_index, &max));
    CHECK_OK(tp_pool_wait_idle(p, -1));
    CHECK_EQ(atomic_load(&max), 0);
    tp_pool_stats s;
    CHECK_OK(tp_pool_stats_get(p, &s));
    CHECK_EQ(s.threads, 1);

    /* Grow again: the slots are reused, with new threads. */
    CHECK_OK(tp_pool_resize(p, 3));
    gate_init(&g);
    hold_n(p, &g, 3, fs);
    CHECK_EQ(event_count(&h.started), 2 + 4 + 2);
    release_n(&g, 3, fs);
    gate_destroy(&g);
    CHECK_OK(tp_pool_destroy(p));
    CHECK_EQ(event_count(&h.stopped), 5 + 3);
    hooks_destroy(&h);
}

/* Workers asked to leave finish their tasks first, and a grow that comes
 * before they have left keeps them: no thread ends or starts. */
TEST(shrink_while_busy_and_keep)
{
    hooks h;
    tp_pool *p = resizable(4, 4, &h);
    gate g;
    gate_init(&g);
    tp_future *fs[4];
    hold_n(p, &g, 4, fs);
    CHECK_OK(tp_pool_resize(p, 2));
    CHECK_EQ(tp_pool_size(p), 2);
    for (int i = 0; i < 4; i++)
        CHECK_EQ(tp_future_state(fs[i]), TP_RUNNING);
    CHECK_OK(tp_pool_resize(p, 4)); /* they are still in their tasks */
    release_n(&g, 4, fs);
    gate_destroy(&g);
    /* Four workers still: four gate tasks at once again. */
    gate_init(&g);
    hold_n(p, &g, 4, fs);
    CHECK_EQ(event_count(&h.started), 4);
    CHECK_EQ(event_count(&h.stopped), 0);
    release_n(&g, 4, fs);
    gate_destroy(&g);

    /* A shrink with work queued behind the leaving workers: all of it
     * runs. */
    gate_init(&g);
    hold_n(p, &g, 4, fs);
    atomic_int ran;
    atomic_init(&ran, 0);
    CHECK_OK(tp_pool_resize(p, 1));
    for (int i = 0; i < 100; i++)
        CHECK_OK(tp_submit(p, record_index, &ran));
    release_n(&g, 4, fs);
    gate_destroy(&g);
    CHECK_OK(tp_pool_wait_idle(p, -1));
    event_wait(&h.stopped, 3);
    tp_pool_stats s;
    CHECK_OK(tp_pool_stats_get(p, &s));
    CHECK_EQ(s.completed, 4 + 4 + 4 + 100);
    CHECK_OK(tp_pool_destroy(p));
    hooks_destroy(&h);
}

/* ---- accounting under resizes ------------------------------------------ */

typedef struct load {
    tp_pool *pool;
    atomic_long ran;
    long submitted;
} load;

static void *leaf(void *arg)
{
    atomic_fetch_add(&((load *)arg)->ran, 1);
    return NULL;
}

/* Runs, and leaves two children on its worker's own deque: a leaving
 * worker must run them (or have them stolen), never strand them. */
static void *parent(void *arg)
{
    load *l = arg;
    atomic_fetch_add(&l->ran, 1);
    CHECK_OK(tp_submit(l->pool, leaf, l));
    CHECK_OK(tp_submit(l->pool, leaf, l));
    return NULL;
}

static void *submitter(void *arg)
{
    load *l = arg;
    for (long i = 0; i < l->submitted; i++)
        CHECK_OK(tp_submit(l->pool, (i % 4) == 0 ? parent : leaf, l));
    return NULL;
}

TEST(exact_accounting_under_resizes)
{
    hooks h;
    tp_pool *p = resizable(2, 5, &h);
    load l;
    l.pool = p;
    atomic_init(&l.ran, 0);
    l.submitted = SCALE(40000);
    pthread_t t;
    CHECK(pthread_create(&t, NULL, submitter, &l) == 0);
    uint64_t x = 88172645463325252ull;
    for (int i = 0; i < SCALE(400); i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        CHECK_OK(tp_pool_resize(p, 1 + (unsigned)(x % 5)));
    }
    pthread_join(t, NULL);
    CHECK_OK(tp_pool_wait_idle(p, -1));
    long parents = (l.submitted + 3) / 4;
    long want = l.submitted + 2 * parents;
    CHECK_EQ(atomic_load(&l.ran), want);
    tp_pool_stats s;
    CHECK_OK(tp_pool_stats_get(p, &s));
    CHECK_EQ(s.completed, (uint64_t)want);
    CHECK_EQ(s.queued, 0);
    CHECK_OK(tp_pool_destroy(p));
    CHECK_EQ(event_count(&h.started), event_count(&h.stopped));
    hooks_destroy(&h);
}

/* ---- blocking tasks ---------------------------------------------------------- */

typedef struct blocker {
    event in, out; /* it is inside its blocking section; let it out */
    atomic_int failed_begins;
} blocker;

static void *blocking_task(void *arg)
{
    blocker *b = arg;
    if (tp_task_blocking_begin() != 0)
        atomic_fetch_add(&b->failed_begins, 1);
    CHECK_OK(tp_task_blocking_begin()); /* nested: not counted again */
    event_signal(&b->in);
    event_wait(&b->out, 1); /* "I/O" */
    tp_task_blocking_end();
    tp_task_blocking_end();
    return NULL;
}

static void *cpu_task(void *arg)
{
    event_signal(arg);
    return NULL;
}

TEST(blocked_tasks_get_extra_threads)
{
    hooks h;
    tp_pool *p = resizable(2, 4, &h);
    blocker b;
    event_init(&b.in);
    event_init(&b.out);
    atomic_init(&b.failed_begins, 0);
    tp_future *bf[2];
    for (int i = 0; i < 2; i++)
        CHECK_OK(tp_submit_future(p, blocking_task, &b, &bf[i]));
    event_wait(&b.in, 2);
    CHECK_EQ(tp_pool_size(p), 4);
    /* Both workers are blocked; the CPU tasks still run. */
    event done;
    event_init(&done);
    for (int i = 0; i < 100; i++)
        CHECK_OK(tp_submit(p, cpu_task, &done));
    CHECK(event_wait_ms(&done, 100, 60000));
    event_signal(&b.out);
    for (int i = 0; i < 2; i++) {
        CHECK_OK(tp_future_wait(bf[i], -1));
        tp_future_release(bf[i]);
    }
    CHECK_EQ(atomic_load(&b.failed_begins), 0);
    CHECK_EQ(tp_pool_size(p), 2);
    event_wait(&h.stopped, 2); /* the extra threads leave */
    CHECK_OK(tp_pool_destroy(p));
    event_destroy(&done);
    event_destroy(&b.in);
    event_destroy(&b.out);
    hooks_destroy(&h);
}

/* At max_threads, blocking adds nothing (the bound holds), and outside a
 * worker the calls do nothing. */
TEST(blocking_within_the_bound)
{
    CHECK_OK(tp_task_blocking_begin());
    tp_task_blocking_end();
    tp_task_blocking_end(); /* unmatched: ignored */

    hooks h;
    tp_pool *p = resizable(2, 3, &h);
    blocker b;
    event_init(&b.in);
    event_init(&b.out);
    atomic_init(&b.failed_begins, 0);
    tp_future *bf[2];
    for (int i = 0; i < 2; i++)
        CHECK_OK(tp_submit_future(p, blocking_task, &b, &bf[i]));
    event_wait(&b.in, 2);
    CHECK_EQ(tp_pool_size(p), 3);
    event_wait(&h.started, 3);
    event_signal(&b.out);
    for (int i = 0; i < 2; i++) {
        CHECK_OK(tp_future_wait(bf[i], -1));
        tp_future_release(bf[i]);
    }
    CHECK_EQ(tp_pool_size(p), 2);
    CHECK_OK(tp_pool_destroy(p));
    event_destroy(&b.in);
    event_destroy(&b.out);
    hooks_destroy(&h);
}

/* ---- errors ---------------------------------------------------------------- */

TEST(bad_sizes_and_states)
{
    CHECK_EQ(tp_pool_resize(NULL, 1), TP_EINVAL);
    CHECK_EQ(tp_pool_size(NULL), 0);
    CHECK_EQ(tp_pool_max_size(NULL), 0);

    tp_options o;
    CHECK_OK(tp_options_init(&o));
    tp_pool *p = NULL;
    o.threads = 3;
    o.max_threads = 2;
    CHECK_EQ(tp_pool_create(&p, &o), TP_EINVAL);
    o.max_threads = TP_MAX_THREADS + 1;
    CHECK_EQ(tp_pool_create(&p, &o), TP_EINVAL);
    CHECK(p == NULL);
    /* A default thread count is cut to max_threads. */
    o.threads = 0;
    o.max_threads = 1;
    CHECK_OK(tp_pool_create(&p, &o));
    CHECK_EQ(tp_pool_size(p), 1);
    CHECK_EQ(tp_pool_max_size(p), 1);
    CHECK_EQ(tp_pool_resize(p, 0), TP_EINVAL);
    CHECK_EQ(tp_pool_resize(p, 2), TP_EINVAL);
    CHECK_OK(tp_pool_resize(p, 1));
    CHECK_OK(tp_pool_shutdown(p));
    CHECK_EQ(tp_pool_resize(p, 1), TP_ESHUTDOWN);
    CHECK_OK(tp_pool_destroy(p));

    /* Fixed size by default. */
    p = make_pool(2);
    CHECK_EQ(tp_pool_max_size(p), 2);
    CHECK_EQ(tp_pool_resize(p, 3), TP_EINVAL);
    CHECK_OK(tp_pool_resize(p, 1));
    CHECK_OK(tp_pool_resize(p, 2));
    CHECK_OK(tp_pool_destroy(p));
}

/* A thread the system refuses: the grow stops there, the pool keeps what
 * it has and works on. */
extern _Atomic int tpi_fail_thread_countdown;

TEST(grow_refused_by_the_system)
{
    hooks h;
    tp_pool *p = resizable(1, 4, &h);
    atomic_store(&tpi_fail_thread_countdown, 2); /* the second thread */
    CHECK_EQ(tp_pool_resize(p, 4), TP_EAGAIN);
    CHECK_EQ(tp_pool_size(p), 2);
    gate g;
    gate_init(&g);
    tp_future *fs[4];
    hold_n(p, &g, 2, fs);
    release_n(&g, 2, fs);
    gate_destroy(&g);
    CHECK_OK(tp_pool_resize(p, 4));
    CHECK_EQ(tp_pool_size(p), 4);
    CHECK_OK(tp_pool_destroy(p));
    hooks_destroy(&h);
}

/* Resizing from inside a task of the pool, and racing with shutdown. */
static void *resize_self(void *arg)
{
    tp_pool *p = arg;
    /* A task run by the final shutdown's drain is refused. */
    int rc = tp_pool_resize(p, 1);
    CHECK(rc == 0 || rc == TP_ESHUTDOWN);
    rc = tp_pool_resize(p, 3);
    CHECK(rc == 0 || rc == TP_ESHUTDOWN);
    return NULL;
}

TEST(resize_from_a_task_and_with_shutdown)
{
    hooks h;
    tp_pool *p = resizable(2, 3, &h);
    tp_future *f;
    CHECK_OK(tp_submit_future(p, resize_self, p, &f));
    CHECK_OK(tp_future_wait(f, -1));
    tp_future_release(f);
    CHECK_EQ(tp_pool_size(p), 3);
    for (int i = 0; i < SCALE(50); i++) {
        CHECK_OK(tp_pool_resize(p, 1 + (unsigned)(i % 3)));
        CHECK_OK(tp_submit(p, resize_self, p));
    }
    CHECK_OK(tp_pool_destroy(p));
    CHECK_EQ(event_count(&h.started), event_count(&h.stopped));
    hooks_destroy(&h);
}

TEST_MAIN(TEST_ENTRY(grow_and_shrink)
          TEST_ENTRY(shrink_while_busy_and_keep)
          TEST_ENTRY(exact_accounting_under_resizes)
          TEST_ENTRY(blocked_tasks_get_extra_threads)
          TEST_ENTRY(blocking_within_the_bound)
          TEST_ENTRY(bad_sizes_and_states)
          TEST_ENTRY(grow_refused_by_the_system)
          TEST_ENTRY(resize_from_a_task_and_with_shutdown))
