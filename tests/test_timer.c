/*
 * test_timer.c - delayed and periodic tasks (tp_submit_after,
 * tp_submit_every): ordering, cancellation before, while and after they
 * are due, the schedule of periodic runs, no CPU while a timer waits,
 * shutdown, bad arguments, allocation and thread failures.
 *
 * Timing: assertions are against the schedule (a run never starts before
 * it is due; a fixed-delay run starts at least a period after the last
 * one ended), plus one bound that a healthy machine meets by a wide margin
 * (the lateness of a fixed-rate run compared with a drift the size of all
 * the runs together).
 */
#include <errno.h>
#include <stdatomic.h>
#include <time.h>

#include "check.h"
#include "failalloc.h"
#include "pool.h"
#include "util.h"

/* Under valgrind (helgrind in make test) everything is tens of times
 * slower: loads shrink, and bounds on time are reported, not asserted. */
static bool under_valgrind(void)
{
    const char *pre = getenv("LD_PRELOAD");
    return pre != NULL && strstr(pre, "vgpreload") != NULL;
}

static uint64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Work that takes time (not synchronisation): a task's body that lasts. */
static void busy_for_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

/* ---- delayed tasks ------------------------------------------------------ */

typedef struct stamp {
    atomic_ullong at; /* when the task ran (ns) */
    atomic_int runs;
} stamp;

static void *stamp_task(void *arg)
{
    stamp *s = arg;
    atomic_store(&s->at, mono_ns());
    atomic_fetch_add(&s->runs, 1);
    return arg;
}

TEST(after_runs_no_earlier_than_due)
{
    tp_pool *p = make_pool(2);
    stamp s = {0, 0};
    uint64_t before = mono_ns();
    tp_future *f;
    CHECK_OK(tp_submit_after(p, stamp_task, &s, 30, &f));
    void *r = NULL;
    CHECK_OK(tp_future_get(f, -1, &r));
    CHECK(r == &s);
    CHECK_EQ(atomic_load(&s.runs), 1);
    CHECK(atomic_load(&s.at) >= before + 30 * 1000000ull);
    CHECK_EQ(tp_future_started(f), 1);
    CHECK_OK(tp_future_release(f));
    /* Delay 0: at once, through the same path. */
    CHECK_OK(tp_submit_after(p, stamp_task, &s, 0, &f));
    CHECK_OK(tp_future_get(f, -1, &r));
    CHECK_EQ(atomic_load(&s.runs), 2);
    CHECK_OK(tp_future_release(f));
    CHECK_OK(tp_pool_destroy(p));
}

typedef struct order_log {
    pthread_mutex_t mu;
    int seen[64];
    int n;
} order_log;

typedef struct order_arg {
    order_log *log;
    int key;
} order_arg;

static void *log_task(void *arg)
{
    order_arg *a = arg;
    pthread_mutex_lock(&a->log->mu);
    a->log->seen[a->log->n++] = a->key;
    pthread_mutex_unlock(&a->log->mu);
    return NULL;
}

/* Submitted in a scrambled order, run in the order of their due times;
 * equal due times in submission order (one worker: queue order is run
 * order). */
TEST(ordering)
{
    tp_pool *p = make_pool(1);
    order_log log = {PTHREAD_MUTEX_INITIALIZER, {0}, 0};
    order_arg args[40];
    tp_future *fs[40];
    /* 20 distinct delays, 10 ms apart, submitted in a scrambled order. */
    for (int i = 0; i < 20; i++) {
        int k = (i * 7) % 20; /* a permutation of 0..19 */
        args[i] = (order_arg){&log, k};
        CHECK_OK(tp_submit_after(p, log_task, &args[i], 10 * k + 20, &fs[i]));
    }
    CHECK_OK(tp_wait_all(fs, 20, -1));
    CHECK_EQ(log.n, 20);
    for (int i = 0; i < 20; i++)
        CHECK_EQ(log.seen[i], i);
    /* The same due time for all (a delay that ends after the last
     * submit): submission order. */
    log.n = 0;
    for (int i = 0; i < 20; i++) {
        args[20 + i] = (order_arg){&log, i};
        CHECK_OK(tp_submit_after(p, log_task, &args[20 + i],
                                 200, &fs[20 + i]));
    }
    CHECK_OK(tp_wait_all(fs + 20, 20, -1));
    CHECK_EQ(log.n, 20);
    /* Due times are "now + 200 ms" read at each call, so never
     * decreasing: the order of submission. */
    for (int i = 0; i < 20; i++)
        CHECK_EQ(log.seen[i], i);
    for (int i = 0; i < 40; i++)
        CHECK_OK(tp_future_release(fs[i]));
    CHECK_OK(tp_pool_destroy(p));
}

TEST(cancel_before_due)
{
    tp_pool *p = make_pool(2);
    stamp s = {0, 0};
    enum { N = 1000 };
    static tp_future *fs[N];
    for (int i = 0; i < N; i++)
        CHECK_OK(tp_submit_after(p, stamp_task, &s, 3600 * 1000, &fs[i]));
    for (int i = 0; i < N; i++) {
        CHECK_EQ(tp_future_state(fs[i]), TP_PENDING);
        CHECK_OK(tp_future_cancel(fs[i]));
        CHECK_EQ(tp_future_state(fs[i]), TP_CANCELLED);
        CHECK_EQ(tp_future_error(fs[i]), TP_ECANCELED);
        CHECK_EQ(tp_future_started(fs[i]), 0);
        CHECK_EQ(tp_future_cancel(fs[i]), TP_EALREADY);
        CHECK_EQ(tp_future_get(fs[i], 0, NULL), TP_ECANCELED);
        CHECK_OK(tp_future_release(fs[i]));
    }
    /* Nothing was counted: the pool never saw them. */
    tp_pool_stats st;
    CHECK_OK(tp_pool_stats_get(p, &st));
    CHECK_EQ(st.submitted, 0);
    CHECK_OK(tp_pool_wait_idle(p, -1));
    CHECK_OK(tp_pool_destroy(p));
    CHECK_EQ(atomic_load(&s.runs), 0);
}

/* Cancels racing with the timer and the workers: whatever the moment,
 * the task ran exactly when the cancel did not return 0. */
TEST(cancel_while_due_races)
{
    tp_pool *p = make_pool(2);
    int rounds = under_valgrind() ? 100 : SCALE(2000);
    for (int i = 0; i < rounds; i++) {
        stamp s = {0, 0};
        tp_future *f;
        CHECK_OK(tp_submit_after(p, stamp_task, &s, i % 3, &f));
        if (i % 2)
            sched_yield();
        int rc = tp_future_cancel(f);
        CHECK_OK(tp_future_wait(f, -1));
        CHECK(rc == 0 || rc == TP_EBUSY || rc == TP_EALREADY);
        CHECK_EQ(atomic_load(&s.runs), rc == 0 ? 0 : 1);
        CHECK_EQ(tp_future_started(f), rc == 0 ? 0 : 1);
        CHECK_OK(tp_future_release(f));
    }
    CHECK_OK(tp_pool_wait_idle(p, -1));
    tp_pool_stats st;
    CHECK_OK(tp_pool_stats_get(p, &st));
    CHECK_EQ(st.queued, 0);
    CHECK_EQ(st.running, 0);
    CHECK_OK(tp_pool_destroy(p));
}

typedef struct stopper {
    event started;
    event go;
} stopper;

static void *wait_for_stop(void *arg)
{
    stopper *s = arg;
    event_signal(&s->started);
    event_wait(&s->go, 1);
    if (tp_task_stop_requested())
        tp_task_fail(TP_ECANCELED);
    return NULL;
}

TEST(cancel_while_running)
{
    tp_pool *p = make_pool(1);
    stopper s;
    event_init(&s.started);
    event_init(&s.go);
    tp_future *f;
    CHECK_OK(tp_submit_after(p, wait_for_stop, &s, 5, &f));
    event_wait(&s.started, 1);
    CHECK_EQ(tp_future_state(f), TP_RUNNING);
    CHECK_EQ(tp_future_cancel(f), TP_EBUSY);
    event_signal(&s.go);
    CHECK_EQ(tp_future_get(f, -1, NULL), TP_ECANCELED);
    CHECK_EQ(tp_future_started(f), 1);
    CHECK_OK(tp_future_release(f));
    CHECK_OK(tp_pool_destroy(p));
    event_destroy(&s.started);
    event_destroy(&s.go);
}

/* Random due times, half of them cancelled in a random order (arbitrary
 * removals from the timers' heap): the rest run, in due order.  The
 * library reads the clock inside the call, so a timer's due time is known
 * to lie between before + delay and after + delay: the check allows the
 * longest call's length. */
typedef struct due_log {
    pthread_mutex_t mu;
    uint64_t last, slack;
    int n, disorder;
} due_log;

typedef struct due_arg {
    due_log *log;
    uint64_t at; /* the earliest its due time can be (ns) */
} due_arg;

static void *due_task(void *arg)
{
    due_arg *a = arg;
    pthread_mutex_lock(&a->log->mu);
    if (a->at + a->log->slack < a->log->last)
        a->log->disorder++;
    a->log->last = a->at;
    a->log->n++;
    pthread_mutex_unlock(&a->log->mu);
    return NULL;
}

TEST(random_cancels_keep_due_order)
{
    tp_pool *p = make_pool(1);
    enum { N = 2000 };
    static due_arg args[N];
    static tp_future *fs[N];
    static int perm[N];
    static due_log log;
    pthread_mutex_init(&log.mu, NULL);
    log.last = log.slack = 0;
    log.n = log.disorder = 0;
    uint64_t x = 88172645463325252ull;
    gate g;
    gate_init(&g);
    /* Held until every timer is armed and the cancels are done. */
    CHECK_OK(tp_submit(p, gate_task, &g));
    event_wait(&g.started, 1);
    for (int i = 0; i < N; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        int64_t delay = 100 + (int64_t)(x % 200);
        uint64_t before = mono_ns();
        args[i] = (due_arg){&log, before + (uint64_t)delay * 1000000u};
        CHECK_OK(tp_submit_after(p, due_task, &args[i], delay, &fs[i]));
        uint64_t took = mono_ns() - before;
        if (took > log.slack)
            log.slack = took;
        perm[i] = i;
    }
    for (int i = N - 1; i > 0; i--) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        int j = (int)(x % (uint64_t)(i + 1)), t = perm[i];
        perm[i] = perm[j];
        perm[j] = t;
    }
    int cancelled = 0;
    for (int i = 0; i < N / 2; i++)
        if (tp_future_cancel(fs[perm[i]]) == 0)
            cancelled++;
    event_signal(&g.open);
    CHECK_OK(tp_wait_all(fs, N, -1));
    pthread_mutex_lock(&log.mu);
    CHECK_EQ(log.n, N - cancelled);
    CHECK_EQ(log.disorder, 0);
    pthread_mutex_unlock(&log.mu);
    for (int i = 0; i < N; i++)
        CHECK_OK(tp_future_release(fs[i]));
    CHECK_OK(tp_pool_destroy(p));
    gate_destroy(&g);
}

/* ---- an ordinary future ------------------------------------------------- */

static void *plus_one(tp_future *src, void *ctx)
{
    (void)ctx;
    void *r = NULL;
    CHECK_OK(tp_future_get(src, 0, &r));
    return (void *)((uintptr_t)r + 1);
}

static void *ret_arg(void *arg)
{
    return arg;
}

TEST(future_is_ordinary)
{
    tp_pool *p = make_pool(2);
    tp_future *a, *b, *c, *all, *any;
    CHECK_OK(tp_submit_after(p, ret_arg, (void *)(uintptr_t)41, 10, &a));
    CHECK_OK(tp_submit_after(p, ret_arg, (void *)(uintptr_t)7, 20, &b));
    CHECK_OK(tp_future_then(a, p, plus_one, NULL, 0, &c));
    tp_future *both[2] = {a, b};
    CHECK_OK(tp_when_all(both, 2, 0, &all));
    CHECK_OK(tp_when_any(both, 2, 0, &any));
    tp_waitset *ws;
    CHECK_OK(tp_waitset_create(&ws));
    CHECK_OK(tp_waitset_add(ws, b));
    CHECK_OK(tp_waitset_add(ws, a));
    tp_future *first;
    CHECK_OK(tp_waitset_next(ws, -1, &first));
    CHECK_OK(tp_future_wait(first, 0));
    CHECK_OK(tp_future_release(first));
    CHECK_OK(tp_waitset_next(ws, -1, &first));
    CHECK_OK(tp_future_release(first));
    CHECK_OK(tp_waitset_destroy(ws));
    void *r;
    CHECK_OK(tp_future_get(c, -1, &r));
    CHECK_EQ((uintptr_t)r, 42);
    CHECK_OK(tp_future_get(all, -1, NULL));
    CHECK_OK(tp_future_get(any, -1, &r));
    size_t idx;
    CHECK_OK(tp_wait_any(both, 2, -1, &idx));
    CHECK(tp_future_id(a) != tp_future_id(b));
    tp_future *fs[5] = {a, b, c, all, any};
    for (int i = 0; i < 5; i++)
        CHECK_OK(tp_future_release(fs[i]));
    CHECK_OK(tp_pool_destroy(p));
}

/* ---- periodic tasks ----------------------------------------------------- */

#define RUNS 20

typedef struct series {
    uint64_t start[RUNS + 1];
    uint64_t end[RUNS + 1];
    atomic_int n;
    atomic_int overlap; /* runs in progress: must never exceed 1 */
    atomic_int max_overlap;
    int stop_after;     /* the run that fails (ends the series) */
    long work_ms;       /* how long each run lasts */
    uint64_t id_seen;
} series;

static void *series_run(void *arg)
{
    series *s = arg;
    int in = atomic_fetch_add(&s->overlap, 1) + 1;
    if (in > atomic_load(&s->max_overlap))
        atomic_store(&s->max_overlap, in);
    int k = atomic_load(&s->n);
    s->start[k] = mono_ns();
    s->id_seen = tp_task_id();
    if (s->work_ms > 0)
        busy_for_ms(s->work_ms);
    s->end[k] = mono_ns();
    atomic_fetch_sub(&s->overlap, 1);
    atomic_store(&s->n, k + 1);
    if (k + 1 == s->stop_after)
        tp_task_fail(42);
    return NULL;
}

/* Fixed rate: run k never starts before first + k x period, and the
 * schedule does not drift: the last run's lateness stays well below the
 * drift the runs' own length would add up to (what a fixed delay does). */
TEST(fixed_rate_schedule)
{
    tp_pool *p = make_pool(2);
    static series s;
    memset(&s, 0, sizeof s);
    s.stop_after = RUNS;
    s.work_ms = 10;
    const uint64_t period = 20 * 1000000ull, first = 5 * 1000000ull;
    uint64_t base = mono_ns();
    tp_future *f;
    CHECK_OK(tp_submit_every(p, series_run, &s, 5, 20, TP_FIXED_RATE, &f));
    CHECK_EQ(tp_future_get(f, -1, NULL), TP_EFAILED);
    CHECK_EQ(tp_future_error(f), 42);
    CHECK_EQ(tp_future_state(f), TP_FAILED);
    CHECK_EQ(tp_future_started(f), 1);
    CHECK_EQ(s.id_seen, tp_future_id(f));
    CHECK_EQ(atomic_load(&s.n), RUNS);
    CHECK_EQ(atomic_load(&s.max_overlap), 1);
    for (int k = 0; k < RUNS; k++) {
        CHECK(s.start[k] >= base + first + (uint64_t)k * period);
        if (k > 0)
            CHECK(s.start[k] >= s.end[k - 1]); /* never overlapping */
    }
    uint64_t sched_last = base + first + (uint64_t)(RUNS - 1) * period;
    uint64_t late = s.start[RUNS - 1] - sched_last;
    uint64_t drift_if_delay = (uint64_t)(RUNS - 1) * 10 * 1000000ull;
    if (late >= drift_if_delay)
        fprintf(stderr, "fixed rate: last run %llu ms late\n",
                (unsigned long long)(late / 1000000));
    CHECK(late < drift_if_delay || under_valgrind());
    CHECK_OK(tp_future_release(f));
    CHECK_OK(tp_pool_destroy(p));
}

/* Fixed delay: each run starts at least a period after the previous one
 * ended (a guarantee, not a timing). */
TEST(fixed_delay_schedule)
{
    tp_pool *p = make_pool(2);
    static series s;
    memset(&s, 0, sizeof s);
    s.stop_after = 8;
    s.work_ms = 5;
    tp_future *f;
    uint64_t base = mono_ns();
    CHECK_OK(tp_submit_every(p, series_run, &s, 0, 10, TP_FIXED_DELAY, &f));
    CHECK_EQ(tp_future_get(f, -1, NULL), TP_EFAILED);
    CHECK_EQ(atomic_load(&s.n), 8);
    CHECK(s.start[0] >= base);
    for (int k = 1; k < 8; k++)
        CHECK(s.start[k] >= s.end[k - 1] + 10 * 1000000ull);
    CHECK_EQ(atomic_load(&s.max_overlap), 1);
    CHECK_OK(tp_future_release(f));
    CHECK_OK(tp_pool_destroy(p));
}

/* A run longer than the period: the next one starts when it returns,
 * never while it runs, and the missed ones follow (fixed rate). */
TEST(fixed_rate_overrun_never_overlaps)
{
    tp_pool *p = make_pool(4);
    static series s;
    memset(&s, 0, sizeof s);
    s.stop_after = 6;
    s.work_ms = 15;
    tp_future *f;
    uint64_t base = mono_ns();
    CHECK_OK(tp_submit_every(p, series_run, &s, 0, 5, TP_FIXED_RATE, &f));
    CHECK_EQ(tp_future_get(f, -1, NULL), TP_EFAILED);
    CHECK_EQ(atomic_load(&s.max_overlap), 1);
    for (int k = 1; k < 6; k++) {
        CHECK(s.start[k] >= s.end[k - 1]);
        CHECK(s.start[k] >= base + (uint64_t)k * 5 * 1000000ull);
    }
    CHECK_OK(tp_future_release(f));
    CHECK_OK(tp_pool_destroy(p));
}

typedef struct ticker {
    atomic_int runs;
    event ran;
    event go;
    int block_on; /* the run that waits for `go` (0: none) */
} ticker;

static void *tick(void *arg)
{
    ticker *t = arg;
    int k = atomic_fetch_add(&t->runs, 1) + 1;
    event_signal(&t->ran);
    if (k == t->block_on) {
        event_wait(&t->go, 1);
        CHECK(tp_task_stop_requested());
    }
    return NULL;
}

TEST(periodic_cancel_between_and_during_runs)
{
    tp_pool *p = make_pool(2);
    /* Between runs: CANCELLED at once, 0 returned, no further run. */
    ticker t = {0};
    event_init(&t.ran);
    event_init(&t.go);
    tp_future *f;
    CHECK_OK(tp_submit_every(p, tick, &t, 0, 3600 * 1000, TP_FIXED_RATE, &f));
    event_wait(&t.ran, 1);
    /* Once the first run's task is done (the pool is idle: the next run
     * is an hour away, and timers are not tasks), the future is PENDING
     * again, and started. */
    CHECK_OK(tp_pool_wait_idle(p, -1));
    CHECK_EQ(tp_future_state(f), TP_PENDING);
    CHECK_EQ(tp_future_started(f), 1);
    CHECK_OK(tp_future_cancel(f));
    CHECK_EQ(tp_future_state(f), TP_CANCELLED);
    CHECK_EQ(tp_future_started(f), 1);
    CHECK_EQ(tp_future_get(f, -1, NULL), TP_ECANCELED);
    CHECK_OK(tp_future_release(f));
    CHECK_EQ(atomic_load(&t.runs), 1);

    /* During a run: TP_EBUSY, the run sees the stop request, and the
     * series ends CANCELLED when it returns. */
    ticker u = {0};
    u.block_on = 3;
    event_init(&u.ran);
    event_init(&u.go);
    CHECK_OK(tp_submit_every(p, tick, &u, 0, 1, TP_FIXED_RATE, &f));
    event_wait(&u.ran, 3);
    CHECK_EQ(tp_future_state(f), TP_RUNNING);
    CHECK_EQ(tp_future_cancel(f), TP_EBUSY);
    event_signal(&u.go);
    CHECK_EQ(tp_future_get(f, -1, NULL), TP_ECANCELED);
    CHECK_EQ(atomic_load(&u.runs), 3);
    CHECK_OK(tp_future_release(f));
    CHECK_OK(tp_pool_destroy(p));
    CHECK_EQ(atomic_load(&u.runs), 3);
    event_destroy(&t.ran);
    event_destroy(&t.go);
    event_destroy(&u.ran);
    event_destroy(&u.go);
}

/* A periodic task that waits on its own future would wait for itself. */
typedef struct self_ref {
    _Atomic(tp_future *) f;
} self_ref;

static void *wait_self(void *arg)
{
    self_ref *self = arg;
    tp_future *f = atomic_load(&self->f);
    if (f == NULL)
        return NULL; /* not known yet: the next run tries */
    CHECK_EQ(tp_future_wait(f, -1), TP_EDEADLK);
    tp_task_fail(5);
    return NULL;
}

TEST(periodic_waiting_on_itself)
{
    tp_pool *p = make_pool(1);
    static self_ref self;
    atomic_store(&self.f, NULL);
    tp_future *f;
    CHECK_OK(tp_submit_every(p, wait_self, &self, 0, 2,
                             TP_FIXED_RATE, &f));
    atomic_store(&self.f, f);
    CHECK_EQ(tp_future_get(f, -1, NULL), TP_EFAILED);
    CHECK_EQ(tp_future_error(f), 5);
    CHECK_OK(tp_future_release(f));
    CHECK_OK(tp_pool_destroy(p));
}

/* ---- no CPU while a timer waits ----------------------------------------- */

static double process_cpu_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* A pool with a timer an hour away: over 300 ms of waiting, the whole
 * process uses a few milliseconds of CPU at most (a polling timer thread
 * or worker would use the whole wait).  Bounded: it can fail. */
TEST(idle_with_timer_uses_no_cpu)
{
    tp_pool *p = make_pool(4);
    stamp s = {0, 0};
    tp_future *f, *g;
    CHECK_OK(tp_submit_after(p, stamp_task, &s, 3600 * 1000, &f));
    CHECK_OK(tp_submit_every(p, stamp_task, &s, 3600 * 1000, 1000,
                             TP_FIXED_RATE, &g));
    CHECK_OK(tp_pool_wait_idle(p, -1)); /* idle: timers are not tasks */
    double cpu0 = process_cpu_ms(), wall0 = now_ms();
    CHECK_EQ(tp_future_wait(f, 300), TP_ETIMEDOUT);
    double cpu = process_cpu_ms() - cpu0, wall = now_ms() - wall0;
    printf("# %.1f ms of CPU over %.0f ms with a timer an hour away\n", cpu,
           wall);
    CHECK(cpu < 30.0 || under_valgrind());
    CHECK_OK(tp_future_cancel(f));
    CHECK_OK(tp_future_cancel(g));
    CHECK_OK(tp_future_release(f));
    CHECK_OK(tp_future_release(g));
    CHECK_OK(tp_pool_destroy(p));
    CHECK_EQ(atomic_load(&s.runs), 0);
}

/* ---- shutdown ----------------------------------------------------------- */

typedef struct drops {
    pthread_mutex_t mu;
    int n;
    uint64_t ids[256];
    void *args[256];
} drops;

static void on_drop(const tp_job *job, void *ctx)
{
    drops *d = ctx;
    pthread_mutex_lock(&d->mu);
    CHECK(d->n < 256);
    d->ids[d->n] = job->id;
    d->args[d->n] = job->arg;
    d->n++;
    pthread_mutex_unlock(&d->mu);
}

static int dropped_times(drops *d, uint64_t id)
{
    int k = 0;
    for (int i = 0; i < d->n; i++)
        k += d->ids[i] == id;
    return k;
}

TEST(graceful_shutdown_cancels_pending)
{
    tp_pool *p = make_pool(2);
    stamp s = {0, 0};
    tp_future *f, *g, *h;
    CHECK_OK(tp_submit_after(p, stamp_task, &s, 3600 * 1000, &f));
    CHECK_OK(tp_submit_every(p, stamp_task, &s, 3600 * 1000, 10,
                             TP_FIXED_DELAY, &g));
    CHECK_OK(tp_submit_after(p, stamp_task, &s, 0, &h));
    CHECK_OK(tp_future_wait(h, -1));
    CHECK_OK(tp_pool_shutdown(p));
    CHECK_EQ(tp_future_get(f, -1, NULL), TP_ECANCELED);
    CHECK_EQ(tp_future_get(g, -1, NULL), TP_ECANCELED);
    CHECK_EQ(tp_future_started(f), 0);
    CHECK_EQ(tp_future_started(g), 0);
    tp_future *x;
    CHECK_EQ(tp_submit_after(p, stamp_task, &s, 0, &x), TP_ESHUTDOWN);
    CHECK_EQ(tp_submit_every(p, stamp_task, &s, 0, 1, TP_FIXED_RATE, &x),
             TP_ESHUTDOWN);
    CHECK_OK(tp_pool_destroy(p));
    CHECK_EQ(atomic_load(&s.runs), 1);
    CHECK_OK(tp_future_release(f));
    CHECK_OK(tp_future_release(g));
    CHECK_OK(tp_future_release(h));
}

/* A periodic series running when the graceful shutdown comes ends
 * CANCELLED after its run, with the runs it made. */
TEST(graceful_shutdown_ends_series)
{
    tp_pool *p = make_pool(2);
    ticker t = {0};
    event_init(&t.ran);
    event_init(&t.go);
    tp_future *f;
    CHECK_OK(tp_submit_every(p, tick, &t, 0, 1, TP_FIXED_RATE, &f));
    event_wait(&t.ran, 3);
    CHECK_OK(tp_pool_destroy(p));
    CHECK_EQ(tp_future_get(f, -1, NULL), TP_ECANCELED);
    CHECK_EQ(tp_future_started(f), 1);
    int runs = atomic_load(&t.runs);
    CHECK(runs >= 3);
    CHECK_OK(tp_future_release(f));
    event_destroy(&t.ran);
    event_destroy(&t.go);
}

/* Immediate shutdown: every delayed task either ran or was handed to drop
 * exactly once (never both, never neither), whatever the moment it was
 * due; those an hour away are all dropped; periodic ones that never ran
 * are dropped, those that ran are not. */
TEST(shutdown_now_drops_or_runs_each_once)
{
    int rounds = under_valgrind() ? 4 : SCALE(40);
    for (int r = 0; r < rounds; r++) {
        tp_pool *p = make_pool(2);
        drops d = {PTHREAD_MUTEX_INITIALIZER, 0, {0}, {0}};
        enum { N = 24 };
        stamp st[N];
        tp_future *fs[N];
        for (int i = 0; i < N; i++) {
            st[i] = (stamp){0, 0};
            int64_t delay = i < 8 ? 0 : i < 16 ? (i % 3) : 3600 * 1000;
            CHECK_OK(tp_submit_after(p, stamp_task, &st[i], delay, &fs[i]));
        }
        stamp ps = {0, 0};
        tp_future *pf;
        CHECK_OK(tp_submit_every(p, stamp_task, &ps, 3600 * 1000, 10,
                                 TP_FIXED_RATE, &pf));
        CHECK_OK(tp_pool_shutdown_now(p, on_drop, &d));
        for (int i = 0; i < N; i++) {
            CHECK_OK(tp_future_wait(fs[i], -1));
            int ran = atomic_load(&st[i].runs);
            int dropped = dropped_times(&d, tp_future_id(fs[i]));
            CHECK_EQ(ran + dropped, 1);
            CHECK_EQ(tp_future_started(fs[i]), ran);
            if (dropped) {
                CHECK_EQ(tp_future_state(fs[i]), TP_CANCELLED);
                for (int j = 0; j < d.n; j++)
                    if (d.ids[j] == tp_future_id(fs[i]))
                        CHECK(d.args[j] == &st[i]);
            }
            if (i >= 16)
                CHECK_EQ(dropped, 1);
            CHECK_OK(tp_future_release(fs[i]));
        }
        CHECK_EQ(tp_future_get(pf, -1, NULL), TP_ECANCELED);
        CHECK_EQ(dropped_times(&d, tp_future_id(pf)), 1);
        CHECK_OK(tp_future_release(pf));
        CHECK_OK(tp_pool_destroy(p));
    }
}

/* Timers created by tasks of the pool, and a shutdown racing with a
 * stream of them: each accepted one settles. */
static void *spawn_timers(void *arg)
{
    tp_pool *p = arg;
    for (int i = 0; i < 20; i++) {
        tp_future *f;
        int rc = tp_submit_after(p, ret_arg, NULL, i % 2, &f);
        if (rc == 0)
            CHECK_OK(tp_future_release(f));
        else
            CHECK_EQ(rc, TP_ESHUTDOWN);
    }
    return NULL;
}

TEST(timers_from_tasks_race_shutdown)
{
    int rounds = under_valgrind() ? 5 : SCALE(100);
    for (int r = 0; r < rounds; r++) {
        tp_pool *p = make_pool(2);
        for (int i = 0; i < 4; i++)
            CHECK_OK(tp_submit(p, spawn_timers, p));
        if (r % 2)
            CHECK_OK(tp_pool_shutdown_now(p, NULL, NULL));
        CHECK_OK(tp_pool_destroy(p));
    }
}

/* ---- errors ------------------------------------------------------------- */

TEST(bad_arguments)
{
    tp_pool *p = make_pool(1);
    tp_future *f = NULL;
    CHECK_EQ(tp_submit_after(NULL, ret_arg, NULL, 0, &f), TP_EINVAL);
    CHECK_EQ(tp_submit_after(p, NULL, NULL, 0, &f), TP_EINVAL);
    CHECK_EQ(tp_submit_after(p, ret_arg, NULL, 0, NULL), TP_EINVAL);
    CHECK_EQ(tp_submit_after(p, ret_arg, NULL, -1, &f), TP_EINVAL);
    CHECK_EQ(tp_submit_every(NULL, ret_arg, NULL, 0, 1, TP_FIXED_RATE, &f),
             TP_EINVAL);
    CHECK_EQ(tp_submit_every(p, NULL, NULL, 0, 1, TP_FIXED_RATE, &f),
             TP_EINVAL);
    CHECK_EQ(tp_submit_every(p, ret_arg, NULL, 0, 1, TP_FIXED_RATE, NULL),
             TP_EINVAL);
    CHECK_EQ(tp_submit_every(p, ret_arg, NULL, -1, 1, TP_FIXED_RATE, &f),
             TP_EINVAL);
    CHECK_EQ(tp_submit_every(p, ret_arg, NULL, 0, 0, TP_FIXED_RATE, &f),
             TP_EINVAL);
    CHECK_EQ(tp_submit_every(p, ret_arg, NULL, 0, -5, TP_FIXED_DELAY, &f),
             TP_EINVAL);
    CHECK_EQ(tp_submit_every(p, ret_arg, NULL, 0, 1, (tp_period_mode)7, &f),
             TP_EINVAL);
    CHECK(f == NULL);
    /* Huge delays are capped, not overflowed. */
    CHECK_OK(tp_submit_after(p, ret_arg, NULL, INT64_MAX, &f));
    CHECK_EQ(tp_future_state(f), TP_PENDING);
    CHECK_OK(tp_future_cancel(f));
    CHECK_OK(tp_future_release(f));
    CHECK_OK(tp_submit_every(p, ret_arg, NULL, INT64_MAX, INT64_MAX,
                             TP_FIXED_RATE, &f));
    CHECK_OK(tp_future_cancel(f));
    CHECK_OK(tp_future_release(f));
    CHECK_OK(tp_pool_destroy(p));
}

TEST(timer_thread_start_failure)
{
    tp_pool *p = make_pool(1);
    tp_future *f = NULL;
    atomic_store(&tpi_fail_thread_countdown, 1);
    CHECK_EQ(tp_submit_after(p, ret_arg, NULL, 0, &f), TP_EAGAIN);
    CHECK(f == NULL);
    atomic_store(&tpi_fail_thread_countdown, 0);
    CHECK_OK(tp_submit_after(p, ret_arg, (void *)(uintptr_t)3, 0, &f));
    void *r;
    CHECK_OK(tp_future_get(f, -1, &r));
    CHECK_EQ((uintptr_t)r, 3);
    CHECK_OK(tp_future_release(f));
    CHECK_OK(tp_pool_destroy(p));
}

static void timer_scenario(void)
{
    tp_pool *p;
    if (!ok_or_nomem(tp_pool_create(&p, NULL)))
        return;
    tp_future *f, *g, *h;
    if (ok_or_nomem(tp_submit_after(p, ret_arg, (void *)(uintptr_t)9, 1, &f))) {
        void *r;
        int rc = tp_future_get(f, -1, &r);
        /* No memory for its carrier when it was due: FAILED(TP_ENOMEM). */
        if (rc == 0)
            CHECK_EQ((uintptr_t)r, 9);
        else
            CHECK(rc == TP_EFAILED && tp_future_error(f) == TP_ENOMEM);
        CHECK_OK(tp_future_release(f));
    }
    if (ok_or_nomem(tp_submit_after(p, ret_arg, NULL, 3600 * 1000, &g))) {
        CHECK_OK(tp_future_cancel(g));
        CHECK_OK(tp_future_release(g));
    }
    if (ok_or_nomem(tp_submit_every(p, ret_arg, NULL, 0, 1, TP_FIXED_RATE,
                                    &h))) {
        /* Runs until cancelled (or a run could not be queued). */
        int rc = tp_future_cancel(h);
        CHECK(rc == 0 || rc == TP_EBUSY || rc == TP_EALREADY);
        CHECK_OK(tp_future_wait(h, -1));
        CHECK_OK(tp_future_release(h));
    }
    CHECK_OK(tp_pool_destroy(p));
}

TEST(allocation_failure)
{
    CHECK(walk_allocation_failures(timer_scenario) > 0);
}

TEST_MAIN(
    TEST_ENTRY(after_runs_no_earlier_than_due)
    TEST_ENTRY(ordering)
    TEST_ENTRY(cancel_before_due)
    TEST_ENTRY(random_cancels_keep_due_order)
    TEST_ENTRY(cancel_while_due_races)
    TEST_ENTRY(cancel_while_running)
    TEST_ENTRY(future_is_ordinary)
    TEST_ENTRY(fixed_rate_schedule)
    TEST_ENTRY(fixed_delay_schedule)
    TEST_ENTRY(fixed_rate_overrun_never_overlaps)
    TEST_ENTRY(periodic_cancel_between_and_during_runs)
    TEST_ENTRY(periodic_waiting_on_itself)
    TEST_ENTRY(idle_with_timer_uses_no_cpu)
    TEST_ENTRY(graceful_shutdown_cancels_pending)
    TEST_ENTRY(graceful_shutdown_ends_series)
    TEST_ENTRY(shutdown_now_drops_or_runs_each_once)
    TEST_ENTRY(timers_from_tasks_race_shutdown)
    TEST_ENTRY(bad_arguments)
    TEST_ENTRY(timer_thread_start_failure)
    TEST_ENTRY(allocation_failure)
)
