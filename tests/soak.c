/*
 * soak.c - a long randomised run of the pool and the queue in which every
 * task and every queue item is accounted for.
 *
 *   tpool_soak [SECONDS [SEED]]     default: 600 s, a seed from the clock
 *
 * The run is a sequence of epochs.  An epoch creates a pool with random
 * options (threads, capacity, full policy, submit timeout, thread hooks)
 * and a queue with a random order and capacity, and starts DRIVERS threads
 * that apply a weighted random mix of operations to both: submit (plain,
 * or with a priority and sometimes a start deadline), batch submit (with
 * and without futures), cancel, wait and get with timeouts, wait-any,
 * wait-all, waitsets, done-callbacks, releases, stats and idle waits, bad
 * arguments, whole private pools created, used and shut down (graceful,
 * immediate, or by a plain destroy); queue put, put_prio, batches, get,
 * get_prio, get_batch, peek, task_done, join, stats and (rarely) close.
 * Tasks are quick, spin a little, nap (polling for a stop request, which
 * they sometimes acknowledge), fail, or submit children to their own pool
 * and wait on them (one, a batch with wait-all, a batch with wait-any, or
 * fire and forget), up to MAX_DEPTH levels.  After a random time the main
 * thread ends the epoch with a random shutdown: graceful, immediate (with
 * the drop callback), both at once from two threads, or a graceful one
 * after the drivers have stopped; and a random close of the queue:
 * graceful, immediate (with the drop callback), or none (destroy drops what
 * is left).  In the first three the drivers keep going while the pool
 * shuts down, so their calls race with it.
 *
 * The books.  Each task's argument is a pointer to its record in an array
 * (task_rec), and each queue item is a pointer to its own (item_rec).  At
 * the end of each epoch, with every thread joined:
 *   - a task a submit did not accept never ran;
 *   - a task accepted ran exactly once, or was cancelled by a
 *     tp_future_cancel() that returned 0, or was handed to the drop callback
 *     of an immediate shutdown, or (with a start deadline) expired, as its
 *     future said: exactly one of these;
 *   - every done-callback registered ran exactly once;
 *   - every settled future seen (by a wait, a waitset, a callback) was in
 *     the state its record implies, with the right result or error code;
 *   - the pool's counters agree with the records (submitted, completed,
 *     cancelled), and its thread hooks ran once per thread;
 *   - an item a put accepted came out of exactly one get or was handed to a
 *     drop callback exactly once; an item not accepted never came out, and
 *     a priority came out with the item it was put with.
 * A violation prints what and where, with the seed, and exits with 1.
 *
 * Memory: the resident set size (from /proc/self/statm) is read at start,
 * after the warm-up (the first quarter of the run, at most 60 s), and at
 * the end.  Growing by more than RSS_BOUND_KIB after warm-up fails the run
 * (plain builds only, outside valgrind: sanitizers keep freed memory in
 * quarantine, and valgrind's own memory is counted in the RSS).  The
 * bound, 8 MiB, is 13 times the growth of a 10-minute run (624 KiB, the
 * allocator's arenas settling); a leak of the smallest block malloc hands
 * out (32 bytes) per task would pass it after some 260,000 tasks, a few
 * seconds of this run.
 *
 * Reproducing: the seed fixes every random choice of the run (options,
 * operation mix, task kinds); the interleaving of threads still differs
 * from run to run, so a failure reproduces as the same mix, not the same
 * schedule.  Rerun with the seed printed, ideally under the sanitizer build
 * (build-tsan/tests/tpool_soak SECONDS SEED).
 *
 * Sleeps here only pace the run (how long an epoch lasts, how long a task
 * naps); no check depends on them: every wait for an event is a condition
 * variable wait or a library wait.
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "tpool.h"
#include "util.h"

enum {
    DRIVERS = 3,           /* threads that drive an epoch */
    RING = 48,             /* futures a driver holds at most */
    MAX_DEPTH = 3,         /* nesting of child tasks */
    MAX_TASKS = 1 << 18,   /* task records per epoch */
    MAX_ITEMS = 1 << 17,   /* queue item records per epoch */
    QUEUE_SOFT_MAX = 4096, /* puts pause while the queue holds more */
    FAIL_CODE = 4242,      /* what failing tasks give tp_task_fail() */
    RSS_BOUND_KIB = 8192,  /* allowed growth after warm-up, see top */
    WATCHDOG_S = 120       /* no epoch finished for this long: a hang */
};

/* ---- failure reporting --------------------------------------------------- */

static uint64_t g_seed;
static unsigned long g_seconds;
static _Atomic unsigned g_epoch;
static _Atomic unsigned g_end_how; /* how the current epoch ends */

static void violation(const char *fmt, ...)
    __attribute__((format(printf, 1, 2), noreturn));

static void violation(const char *fmt, ...)
{
    va_list ap;
    fflush(stdout);
    fprintf(stderr, "soak: VIOLATION (epoch %u, ending %u): ",
            atomic_load(&g_epoch), atomic_load(&g_end_how));
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\nsoak: reproduce the mix with: tpool_soak %lu %" PRIu64
                    "\n",
            g_seconds, g_seed);
    fflush(stderr);
    /* Other threads are still running: leave without running exit
     * handlers that could race with them. */
    _Exit(1);
}

#define REQUIRE(cond, ...)                                                     \
    do {                                                                       \
        if (!(cond))                                                           \
            violation(__VA_ARGS__);                                            \
    } while (0)

/* A return code that must be one of a few; anything else is a violation. */
#define EXPECT_RC(rc, call, ...)                                               \
    do {                                                                       \
        int er_ = (rc);                                                        \
        const int ok_[] = {__VA_ARGS__};                                       \
        bool found_ = false;                                                   \
        for (size_t i_ = 0; i_ < sizeof ok_ / sizeof ok_[0]; i_++)             \
            found_ |= er_ == ok_[i_];                                          \
        REQUIRE(found_, "%s returned %s (line %d)", call, tp_err_name(er_),   \
                __LINE__);                                                     \
    } while (0)

/* ---- random numbers ------------------------------------------------------ */

static uint64_t splitmix(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15u);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9u;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBu;
    return z ^ (z >> 31);
}

/* xorshift64*: fast, and good enough to pick operations. */
static uint64_t rnd(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *s = x;
    return x * 0x2545F4914F6CDD1Du;
}

static uint64_t seed_for(uint64_t a, uint64_t b)
{
    uint64_t s = g_seed ^ (a * 0x100000001B3u) ^ (b << 32);
    uint64_t x = splitmix(&s);
    return x != 0 ? x : 1; /* xorshift must not start at 0 */
}

static unsigned below(uint64_t *s, unsigned n)
{
    return (unsigned)(rnd(s) % n);
}

/* A timeout for a wait: mostly a poll or a millisecond or two. */
static int64_t pick_timeout(uint64_t *s, bool forever_ok)
{
    unsigned r = below(s, 16);
    if (r < 7)
        return 0;
    if (r < 13)
        return 1;
    if (r < 15 || !forever_ok)
        return 2;
    return -1;
}

static void nap_us(unsigned us)
{
    struct timespec ts = {0, (long)us * 1000L};
    nanosleep(&ts, NULL);
}

/* ---- counters ------------------------------------------------------------ */

static struct {
    atomic_ullong ops;
    atomic_ullong tasks_accepted, tasks_refused, tasks_ran, tasks_cancelled,
        tasks_dropped, tasks_expired, tasks_stop_acked, tasks_failed,
        tasks_nested;
    atomic_ullong futures_seen, callbacks_registered, callbacks_ran;
    atomic_ullong items_accepted, items_refused, items_got, items_dropped;
    atomic_ullong pools, private_pools, waitsets, epochs;
} tally;

static void count(atomic_ullong *c, unsigned long long n)
{
    atomic_fetch_add_explicit(c, n, memory_order_relaxed);
}

static atomic_ullong g_sink; /* keeps the spin tasks' work observable */

/* ---- records ------------------------------------------------------------- */

enum {
    F_ACCEPTED = 1u << 0,  /* a submit accepted the task */
    F_FUTURE = 1u << 1,    /* submitted with a future */
    F_CANCELLED = 1u << 2, /* tp_future_cancel() returned 0 on it */
    F_STOP_ACK = 1u << 3,  /* it saw a stop request and reported it */
    F_EXPIRED = 1u << 4    /* its future settled TP_EEXPIRED */
};

typedef enum task_kind {
    K_QUICK,
    K_SPIN,
    K_NAP,
    K_FAIL,
    K_NESTED
} task_kind;

typedef struct epoch epoch;

typedef struct task_rec {
    atomic_uint runs;
    atomic_uint drops;
    atomic_uint flags;
    atomic_uint cb_registered;
    atomic_uint cb_ran;
    atomic_int final_state; /* -1 until a settled future of it is seen */
    /* Written before the submit, read by the task: the submit publishes
     * them (it takes the pool's lock; the worker takes it to pop). */
    task_kind kind;
    unsigned depth;
    uint64_t seed;
    tp_pool *pool;
    epoch *ep;
} task_rec;

enum { I_ACCEPTED = 1u << 0 };

typedef struct item_rec {
    atomic_uint got;
    atomic_uint dropped;
    atomic_uint flags;
    int prio; /* written before the put */
} item_rec;

struct epoch {
    tp_pool *pool;
    tp_queue *queue;
    tp_queue_order qorder;
    size_t qcap;
    task_rec *tasks;
    atomic_size_t ntasks; /* records handed out (may pass MAX_TASKS) */
    item_rec *items;
    atomic_size_t nitems;
    atomic_bool stop;       /* drivers: wind down */
    atomic_bool exhausted;  /* records ran out: end the epoch early */
    atomic_uint hook_starts, hook_stops;
    pthread_mutex_t mu; /* guards nothing but the wake-up below */
    pthread_cond_t cv;  /* the main thread waits here for the epoch's end */
};

static void epoch_exhausted(epoch *ep)
{
    if (!atomic_exchange(&ep->exhausted, true)) {
        pthread_mutex_lock(&ep->mu);
        pthread_cond_signal(&ep->cv);
        pthread_mutex_unlock(&ep->mu);
    }
}

static task_rec *new_task(epoch *ep, task_kind kind, unsigned depth,
                          tp_pool *pool, uint64_t seed)
{
    size_t i = atomic_fetch_add_explicit(&ep->ntasks, 1, memory_order_relaxed);
    if (i >= MAX_TASKS) {
        epoch_exhausted(ep);
        return NULL;
    }
    task_rec *r = &ep->tasks[i];
    r->kind = kind;
    r->depth = depth;
    r->seed = seed != 0 ? seed : 1;
    r->pool = pool;
    r->ep = ep;
    return r;
}

static size_t task_index(const task_rec *r)
{
    return (size_t)(r - r->ep->tasks);
}

static task_kind pick_kind(uint64_t *s, unsigned depth)
{
    unsigned r = below(s, 100);
    if (r < 40)
        return K_QUICK;
    if (r < 65)
        return K_SPIN;
    if (r < 75)
        return K_NAP;
    if (r < 85)
        return K_FAIL;
    return depth < MAX_DEPTH ? K_NESTED : K_QUICK;
}

static void accepted(task_rec *r, bool with_future)
{
    atomic_fetch_or(&r->flags, F_ACCEPTED | (with_future ? F_FUTURE : 0u));
}

/* A future seen settled: check it against the record.  Returns whether it
 * had settled. */
static bool observe(task_rec *r, tp_future *f)
{
    tp_state st = tp_future_state(f);
    if (st != TP_COMPLETED && st != TP_FAILED && st != TP_CANCELLED)
        return false;
    int prev = -1;
    if (!atomic_compare_exchange_strong(&r->final_state, &prev, (int)st))
        REQUIRE(prev == (int)st, "task %zu settled %s, later seen %s",
                task_index(r), tp_state_name((tp_state)prev),
                tp_state_name(st));
    void *res = NULL;
    int rc = tp_future_get(f, 0, &res);
    int err = tp_future_error(f);
    switch (st) {
    case TP_COMPLETED:
        REQUIRE(rc == 0 && res == r && err == 0,
                "task %zu completed: get %s, result %s, error %d",
                task_index(r), tp_err_name(rc), res == r ? "right" : "wrong",
                err);
        break;
    case TP_FAILED:
        REQUIRE(rc == TP_EFAILED && err == FAIL_CODE,
                "task %zu failed: get %s, error %d", task_index(r),
                tp_err_name(rc), err);
        break;
    default:
        if (err == TP_EEXPIRED) { /* its start deadline passed */
            REQUIRE(rc == TP_EEXPIRED, "task %zu expired: get %s",
                    task_index(r), tp_err_name(rc));
            atomic_fetch_or(&r->flags, F_EXPIRED);
            break;
        }
        REQUIRE(rc == TP_ECANCELED && err == TP_ECANCELED,
                "task %zu cancelled: get %s, error %d", task_index(r),
                tp_err_name(rc), err);
        break;
    }
    count(&tally.futures_seen, 1);
    return true;
}

/* ---- tasks --------------------------------------------------------------- */

static void *task_fn(void *arg);

static void on_done(tp_future *f, void *ctx)
{
    task_rec *r = ctx;
    atomic_fetch_add(&r->cb_ran, 1);
    REQUIRE(observe(r, f), "task %zu: done-callback on a future not settled",
            task_index(r));
    count(&tally.callbacks_ran, 1);
}

static void register_callback(task_rec *r, tp_future *f)
{
    int rc = tp_future_on_done(f, on_done, r);
    EXPECT_RC(rc, "tp_future_on_done", 0);
    atomic_fetch_add(&r->cb_registered, 1);
    count(&tally.callbacks_registered, 1);
}

static void drop_task(const tp_job *job, void *ctx)
{
    (void)ctx;
    REQUIRE(job->fn == task_fn && job->arg != NULL && job->id != 0,
            "drop callback got a job that is not ours");
    task_rec *r = job->arg;
    unsigned d = atomic_fetch_add(&r->drops, 1) + 1;
    REQUIRE(d == 1, "task %zu handed back %u times", task_index(r), d);
}

/* Accepted results of a submit: the task is in, or was refused because
 * the pool is shutting down or its queue is full. */
static bool submit_ok(int rc, const char *call)
{
    EXPECT_RC(rc, call, 0, TP_ESHUTDOWN, TP_EFULL);
    if (rc != 0)
        count(&tally.tasks_refused, 1);
    return rc == 0;
}

/* A task waits on children it submitted to its own pool. */
static void nested(task_rec *r)
{
    uint64_t s = r->seed;
    enum { MAXC = 4 };
    task_rec *kids[MAXC];
    tp_future *fs[MAXC];
    tp_job jobs[MAXC];
    unsigned mode = below(&s, 5);
    unsigned n = mode == 0 || mode == 4 ? 1 : 1 + below(&s, MAXC);
    unsigned made = 0;
    for (; made < n; made++) {
        kids[made] = new_task(r->ep, pick_kind(&s, r->depth + 1),
                              r->depth + 1, r->pool, rnd(&s));
        if (kids[made] == NULL)
            break;
        jobs[made] = (tp_job){task_fn, kids[made], 0};
    }
    if (made == 0)
        return;
    count(&tally.tasks_nested, made);
    if (mode == 4) { /* fire and forget */
        if (submit_ok(tp_submit(r->pool, task_fn, kids[0]), "tp_submit"))
            accepted(kids[0], false);
        return;
    }
    size_t ok = 0;
    int rc = tp_submit_batch(r->pool, jobs, made, fs, &ok);
    submit_ok(rc, "tp_submit_batch");
    REQUIRE(ok <= made, "tp_submit_batch accepted %zu of %u", ok, made);
    for (size_t i = 0; i < ok; i++)
        accepted(kids[i], true);
    if (ok == 0)
        return;
    int64_t t = pick_timeout(&s, true);
    switch (mode) {
    case 0:
    case 1:
        rc = tp_wait_all(fs, ok, t);
        EXPECT_RC(rc, "tp_wait_all (task)", 0, TP_ETIMEDOUT);
        REQUIRE(rc == 0 || t >= 0, "wait for ever timed out");
        break;
    case 2: {
        size_t idx = SIZE_MAX;
        rc = tp_wait_any(fs, ok, t, &idx);
        EXPECT_RC(rc, "tp_wait_any (task)", 0, TP_ETIMEDOUT);
        REQUIRE(rc != 0 || (idx < ok && observe(kids[idx], fs[idx])),
                "tp_wait_any returned a future not settled");
        break;
    }
    default:
        if (below(&s, 4) == 0) {
            rc = tp_future_cancel(fs[0]);
            EXPECT_RC(rc, "tp_future_cancel (task)", 0, TP_EBUSY,
                      TP_EALREADY);
            if (rc == 0)
                atomic_fetch_or(&kids[0]->flags, F_CANCELLED);
        }
        rc = tp_future_wait(fs[0], t);
        EXPECT_RC(rc, "tp_future_wait (task)", 0, TP_ETIMEDOUT);
        break;
    }
    for (size_t i = 0; i < ok; i++) {
        observe(kids[i], fs[i]);
        tp_future_release(fs[i]);
    }
}

static void *task_fn(void *arg)
{
    task_rec *r = arg;
    unsigned runs = atomic_fetch_add(&r->runs, 1) + 1;
    REQUIRE(runs == 1, "task %zu ran %u times", task_index(r), runs);
    REQUIRE(tp_task_id() != 0, "tp_task_id() is 0 inside a task");
    uint64_t s = r->seed;
    switch (r->kind) {
    case K_QUICK:
        break;
    case K_SPIN: {
        uint64_t x = s;
        unsigned n = 100 + below(&s, 2000);
        for (unsigned i = 0; i < n; i++)
            x = rnd(&x) | 1;
        atomic_store_explicit(&g_sink, x, memory_order_relaxed);
        break;
    }
    case K_NAP:
        for (int i = 0; i < 4; i++) {
            if (tp_task_stop_requested()) {
                if (below(&s, 2) == 0) {
                    REQUIRE(tp_task_fail(TP_ECANCELED) == 0,
                            "tp_task_fail in a task failed");
                    atomic_fetch_or(&r->flags, F_STOP_ACK);
                }
                break;
            }
            nap_us(20 + below(&s, 100));
        }
        break;
    case K_FAIL:
        REQUIRE(tp_task_fail(FAIL_CODE) == 0, "tp_task_fail in a task failed");
        break;
    case K_NESTED:
        nested(r);
        break;
    }
    return r;
}

/* ---- drivers: the pool --------------------------------------------------- */

typedef struct held {
    tp_future *f;
    task_rec *r;
} held;

typedef struct driver {
    epoch *ep;
    uint64_t rng;
    unsigned id;
    size_t nheld;
    held ring[RING];
    pthread_t thread;
} driver;

static void drop_held(driver *d, size_t i)
{
    observe(d->ring[i].r, d->ring[i].f);
    tp_future_release(d->ring[i].f);
    d->ring[i] = d->ring[--d->nheld];
}

static void hold(driver *d, tp_future *f, task_rec *r)
{
    if (d->nheld == RING)
        drop_held(d, below(&d->rng, RING));
    d->ring[d->nheld++] = (held){f, r};
    if (below(&d->rng, 3) == 0)
        register_callback(r, f);
}

static held *pick_held(driver *d)
{
    return d->nheld == 0 ? NULL : &d->ring[below(&d->rng, (unsigned)d->nheld)];
}

/* A submit of one task: plain, or tp_submit_ex() with a random priority
 * and, for a task with a future, sometimes a start deadline of 0 to 2 ms.
 * An expired task never runs; its future says so, and the done-callback
 * every such task gets sees it even if the future is released at once. */
static void submit_single(driver *d, bool with_future)
{
    task_rec *r = new_task(d->ep, pick_kind(&d->rng, 0), 0, d->ep->pool,
                           rnd(&d->rng));
    if (r == NULL)
        return;
    tp_future *f = NULL;
    tp_future **out = with_future ? &f : NULL;
    tp_task_opts o;
    bool deadline = false;
    int rc;
    if (below(&d->rng, 3) == 0) {
        EXPECT_RC(tp_task_opts_init(&o), "tp_task_opts_init", 0);
        o.priority = (tp_priority)below(&d->rng, 3);
        if (with_future && below(&d->rng, 8) == 0) {
            o.start_deadline_ms = below(&d->rng, 3);
            deadline = true;
        }
        rc = tp_submit_ex(d->ep->pool, task_fn, r, &o, out);
    } else if (with_future) {
        rc = tp_submit_future(d->ep->pool, task_fn, r, out);
    } else {
        rc = tp_submit(d->ep->pool, task_fn, r);
    }
    if (!submit_ok(rc, "submit"))
        return;
    accepted(r, with_future);
    if (with_future) {
        if (deadline)
            register_callback(r, f);
        hold(d, f, r);
    }
}

static void op_submit(driver *d)
{
    submit_single(d, false);
}

static void op_submit_future(driver *d)
{
    submit_single(d, true);
}

static void op_batch(driver *d)
{
    enum { MAXB = 16 };
    tp_job jobs[MAXB];
    task_rec *recs[MAXB];
    tp_future *fs[MAXB];
    bool want = below(&d->rng, 2) == 0;
    size_t n = 1 + below(&d->rng, MAXB), made = 0;
    for (; made < n; made++) {
        recs[made] = new_task(d->ep, pick_kind(&d->rng, 0), 0, d->ep->pool,
                              rnd(&d->rng));
        if (recs[made] == NULL)
            break;
        jobs[made] = (tp_job){task_fn, recs[made], 0};
    }
    if (made == 0)
        return;
    size_t ok = SIZE_MAX;
    int rc = tp_submit_batch(d->ep->pool, jobs, made, want ? fs : NULL, &ok);
    submit_ok(rc, "tp_submit_batch");
    REQUIRE(ok <= made && (rc != 0 || ok == made),
            "tp_submit_batch: accepted %zu of %zu with %s", ok, made,
            tp_err_name(rc));
    for (size_t i = 0; i < made; i++) {
        if (i >= ok) {
            REQUIRE(!want || fs[i] == NULL, "batch: refused slot not NULL");
            continue;
        }
        REQUIRE(jobs[i].id != 0, "batch: accepted job without an id");
        accepted(recs[i], want);
        if (want) {
            REQUIRE(tp_future_id(fs[i]) == jobs[i].id, "batch: id mismatch");
            hold(d, fs[i], recs[i]);
        }
    }
}

static void op_cancel(driver *d)
{
    held *h = pick_held(d);
    if (h == NULL)
        return;
    int rc = tp_future_cancel(h->f);
    EXPECT_RC(rc, "tp_future_cancel", 0, TP_EBUSY, TP_EALREADY);
    if (rc == 0) {
        atomic_fetch_or(&h->r->flags, F_CANCELLED);
        REQUIRE(tp_future_state(h->f) == TP_CANCELLED,
                "cancel returned 0, state %s",
                tp_state_name(tp_future_state(h->f)));
    } else if (rc == TP_EALREADY) {
        REQUIRE(observe(h->r, h->f), "cancel: TP_EALREADY, not settled");
    }
}

static void op_wait(driver *d, bool get)
{
    held *h = pick_held(d);
    if (h == NULL)
        return;
    int64_t t = pick_timeout(&d->rng, true);
    void *res = NULL;
    int rc = get ? tp_future_get(h->f, t, &res) : tp_future_wait(h->f, t);
    if (get)
        EXPECT_RC(rc, "tp_future_get", 0, TP_ETIMEDOUT, TP_EFAILED,
                  TP_ECANCELED, TP_EEXPIRED);
    else
        EXPECT_RC(rc, "tp_future_wait", 0, TP_ETIMEDOUT);
    REQUIRE(rc != TP_ETIMEDOUT || t >= 0, "wait for ever timed out");
    if (rc != TP_ETIMEDOUT)
        REQUIRE(observe(h->r, h->f), "wait returned, future not settled");
    if (get && rc == 0)
        REQUIRE(res == h->r, "tp_future_get: wrong result");
    if (rc != TP_ETIMEDOUT && below(&d->rng, 2) == 0)
        drop_held(d, (size_t)(h - d->ring));
}

static void op_wait_many(driver *d, int how)
{
    enum { MAXW = 12 };
    tp_future *fs[MAXW];
    size_t idx[MAXW];
    if (d->nheld == 0)
        return;
    size_t n = 1 + below(&d->rng, MAXW);
    if (n > d->nheld)
        n = d->nheld;
    size_t start = below(&d->rng, (unsigned)d->nheld);
    for (size_t i = 0; i < n; i++) {
        idx[i] = (start + i) % d->nheld;
        fs[i] = d->ring[idx[i]].f;
    }
    int64_t t = pick_timeout(&d->rng, true);
    if (how == 0) { /* wait-any */
        size_t at = SIZE_MAX;
        int rc = tp_wait_any(fs, n, t, &at);
        EXPECT_RC(rc, "tp_wait_any", 0, TP_ETIMEDOUT);
        REQUIRE(rc == 0 || t >= 0, "wait-any for ever timed out");
        if (rc == 0)
            REQUIRE(at < n && observe(d->ring[idx[at]].r, fs[at]),
                    "tp_wait_any: index %zu of %zu not settled", at, n);
        return;
    }
    if (how == 1) { /* wait-all */
        int rc = tp_wait_all(fs, n, t);
        EXPECT_RC(rc, "tp_wait_all", 0, TP_ETIMEDOUT);
        REQUIRE(rc == 0 || t >= 0, "wait-all for ever timed out");
        for (size_t i = 0; i < n && rc == 0; i++)
            REQUIRE(observe(d->ring[idx[i]].r, fs[i]),
                    "tp_wait_all returned 0, a future not settled");
        return;
    }
    /* A waitset over the n futures, drained with short timeouts; it may be
     * destroyed with futures still inside. */
    tp_waitset *ws = NULL;
    EXPECT_RC(tp_waitset_create(&ws), "tp_waitset_create", 0);
    count(&tally.waitsets, 1);
    for (size_t i = 0; i < n; i++)
        EXPECT_RC(tp_waitset_add(ws, fs[i]), "tp_waitset_add", 0);
    bool seen[MAXW] = {false};
    size_t taken = 0;
    for (;;) {
        REQUIRE(tp_waitset_size(ws) == n - taken, "waitset size %zu, want %zu",
                tp_waitset_size(ws), n - taken);
        tp_future *f = NULL;
        int rc = tp_waitset_next(ws, pick_timeout(&d->rng, false), &f);
        EXPECT_RC(rc, "tp_waitset_next", 0, TP_ETIMEDOUT, TP_EEMPTY);
        if (rc == TP_EEMPTY) {
            REQUIRE(taken == n, "waitset empty after %zu of %zu", taken, n);
            break;
        }
        if (rc != 0)
            break;
        size_t k = 0;
        while (k < n && (fs[k] != f || seen[k]))
            k++;
        REQUIRE(k < n, "waitset returned a future twice or one not added");
        seen[k] = true;
        taken++;
        REQUIRE(observe(d->ring[idx[k]].r, f), "waitset: future not settled");
        tp_future_release(f); /* the set's reference, now ours */
    }
    EXPECT_RC(tp_waitset_destroy(ws), "tp_waitset_destroy", 0);
}

static void op_on_done(driver *d)
{
    held *h = pick_held(d);
    if (h != NULL)
        register_callback(h->r, h->f);
}

static void op_release(driver *d)
{
    if (d->nheld > 0)
        drop_held(d, below(&d->rng, (unsigned)d->nheld));
}

static void check_stats(tp_pool *p)
{
    tp_pool_stats st;
    EXPECT_RC(tp_pool_stats_get(p, &st), "tp_pool_stats_get", 0);
    REQUIRE(st.threads == tp_pool_size(p), "stats: threads");
    REQUIRE(st.completed + st.cancelled + st.queued + st.running <=
                st.submitted,
            "stats: completed %" PRIu64 " + cancelled %" PRIu64
            " + queued %zu + running %zu > submitted %" PRIu64,
            st.completed, st.cancelled, st.queued, st.running, st.submitted);
}

static void op_stats(driver *d)
{
    check_stats(d->ep->pool);
    int rc = tp_pool_wait_idle(d->ep->pool, pick_timeout(&d->rng, false));
    EXPECT_RC(rc, "tp_pool_wait_idle", 0, TP_ETIMEDOUT);
}

/* Calls that must fail, and calls outside a task. */
static void op_misc(driver *d)
{
    tp_pool *p = d->ep->pool;
    EXPECT_RC(tp_submit(p, NULL, NULL), "tp_submit(fn NULL)", TP_EINVAL);
    EXPECT_RC(tp_submit(NULL, task_fn, NULL), "tp_submit(NULL)", TP_EINVAL);
    EXPECT_RC(tp_submit_batch(p, NULL, 1, NULL, NULL), "batch(NULL)",
              TP_EINVAL);
    EXPECT_RC(tp_submit_batch(p, NULL, 0, NULL, NULL), "batch(0)", 0,
              TP_ESHUTDOWN);
    EXPECT_RC(tp_future_cancel(NULL), "tp_future_cancel(NULL)", TP_EINVAL);
    EXPECT_RC(tp_future_wait(NULL, 0), "tp_future_wait(NULL)", TP_EINVAL);
    EXPECT_RC(tp_task_fail(1), "tp_task_fail outside a task", TP_EPERM);
    REQUIRE(tp_task_stop_requested() == 0 && tp_task_id() == 0,
            "task state seen outside a task");
}

/* A whole pool of its own: created, used, shut down one way or another. */
static void op_private_pool(driver *d)
{
    uint64_t *s = &d->rng;
    tp_options o;
    tp_options_init(&o);
    o.threads = 1 + below(s, 2);
    o.name = "soak-own";
    o.queue_capacity = below(s, 2) ? 0 : 1 + below(s, 8);
    o.on_full = (tp_full_policy)below(s, 3);
    o.submit_timeout_ms = below(s, 2) ? -1 : 1;
    tp_pool *p = NULL;
    int rc = tp_pool_create(&p, &o);
    EXPECT_RC(rc, "tp_pool_create (private)", 0, TP_EAGAIN);
    if (rc != 0)
        return;
    count(&tally.private_pools, 1);
    enum { MAXP = 16 };
    tp_future *fs[MAXP];
    task_rec *recs[MAXP];
    size_t n = 0, m = 1 + below(s, MAXP);
    for (size_t i = 0; i < m; i++) {
        task_rec *r = new_task(d->ep, pick_kind(s, 0), 0, p, rnd(s));
        if (r == NULL)
            break;
        if (submit_ok(tp_submit_future(p, task_fn, r, &fs[n]),
                      "tp_submit_future (private)")) {
            accepted(r, true);
            recs[n++] = r;
            if (below(s, 4) == 0)
                register_callback(r, fs[n - 1]);
        }
    }
    for (size_t i = 0; i < n; i++)
        if (below(s, 4) == 0) {
            rc = tp_future_cancel(fs[i]);
            EXPECT_RC(rc, "tp_future_cancel", 0, TP_EBUSY, TP_EALREADY);
            if (rc == 0)
                atomic_fetch_or(&recs[i]->flags, F_CANCELLED);
        }
    switch (below(s, 3)) {
    case 0:
        EXPECT_RC(tp_pool_shutdown_now(p, drop_task, NULL), "shutdown_now", 0);
        break;
    case 1:
        EXPECT_RC(tp_pool_shutdown(p), "tp_pool_shutdown", 0);
        break;
    default:
        break; /* destroy shuts it down */
    }
    EXPECT_RC(tp_pool_destroy(p), "tp_pool_destroy (private)", 0);
    for (size_t i = 0; i < n; i++) {
        REQUIRE(observe(recs[i], fs[i]), "private pool destroyed, task %zu "
                "not settled", task_index(recs[i]));
        tp_future_release(fs[i]);
    }
}

/* ---- drivers: the queue -------------------------------------------------- */

static item_rec *new_item(epoch *ep, int prio)
{
    size_t i = atomic_fetch_add_explicit(&ep->nitems, 1, memory_order_relaxed);
    if (i >= MAX_ITEMS) {
        epoch_exhausted(ep);
        return NULL;
    }
    ep->items[i].prio = prio;
    return &ep->items[i];
}

static void item_accepted(item_rec *it)
{
    atomic_fetch_or(&it->flags, I_ACCEPTED);
}

static item_rec *as_item(epoch *ep, void *p)
{
    size_t n = atomic_load(&ep->nitems);
    if (n > MAX_ITEMS)
        n = MAX_ITEMS;
    item_rec *it = p;
    /* Compare addresses as integers: the pointer may be anything. */
    uintptr_t a = (uintptr_t)p, lo = (uintptr_t)ep->items,
              hi = (uintptr_t)(ep->items + n);
    REQUIRE(a >= lo && a < hi && (a - lo) % sizeof(item_rec) == 0,
            "queue handed out a pointer that is not an item");
    return it;
}

/* An item came out of a get: once only, with its own priority. */
static void received(epoch *ep, void *p, const int *prio)
{
    item_rec *it = as_item(ep, p);
    unsigned got = atomic_fetch_add(&it->got, 1) + 1;
    REQUIRE(got == 1, "item %zu came out %u times", (size_t)(it - ep->items),
            got);
    if (prio != NULL)
        REQUIRE(*prio == it->prio, "item %zu: priority %d, put with %d",
                (size_t)(it - ep->items), *prio, it->prio);
    EXPECT_RC(tp_queue_task_done(ep->queue), "tp_queue_task_done", 0);
}

static void drop_item(void *item, void *ctx)
{
    epoch *ep = ctx;
    item_rec *it = as_item(ep, item);
    unsigned n = atomic_fetch_add(&it->dropped, 1) + 1;
    REQUIRE(n == 1, "item %zu dropped %u times", (size_t)(it - ep->items), n);
}

static bool queue_has_room(epoch *ep)
{
    return tp_queue_size(ep->queue) < QUEUE_SOFT_MAX;
}

static void put_result(item_rec *it, int rc, const char *call)
{
    EXPECT_RC(rc, call, 0, TP_EFULL, TP_ESHUTDOWN);
    if (rc == 0)
        item_accepted(it);
    else
        count(&tally.items_refused, 1);
}

static void q_put(driver *d, bool with_prio)
{
    epoch *ep = d->ep;
    if (!queue_has_room(ep))
        return;
    int prio = 0;
    if (with_prio) {
        unsigned r = below(&d->rng, 32);
        prio = r == 0 ? INT_MIN : r == 1 ? INT_MAX : (int)r - 16;
    }
    item_rec *it = new_item(ep, prio);
    if (it == NULL)
        return;
    int64_t t = pick_timeout(&d->rng, false);
    if (!with_prio) {
        put_result(it, tp_queue_put(ep->queue, it, t), "tp_queue_put");
        return;
    }
    int rc = tp_queue_put_prio(ep->queue, it, prio, t);
    if (ep->qorder != TP_QUEUE_PRIORITY) {
        EXPECT_RC(rc, "tp_queue_put_prio (not PRIORITY)", TP_EINVAL);
        count(&tally.items_refused, 1);
        return;
    }
    put_result(it, rc, "tp_queue_put_prio");
}

static void q_put_batch(driver *d)
{
    enum { MAXQ = 16 };
    epoch *ep = d->ep;
    void *items[MAXQ];
    if (!queue_has_room(ep))
        return;
    size_t n = 1 + below(&d->rng, MAXQ), made = 0;
    for (; made < n; made++)
        if ((items[made] = new_item(ep, 0)) == NULL)
            break;
    if (made == 0)
        return;
    size_t put = SIZE_MAX;
    int rc = tp_queue_put_batch(ep->queue, items, made,
                                pick_timeout(&d->rng, false), &put);
    EXPECT_RC(rc, "tp_queue_put_batch", 0, TP_EFULL, TP_ESHUTDOWN);
    REQUIRE(put <= made && (rc != 0 || put == made),
            "tp_queue_put_batch: put %zu of %zu with %s", put, made,
            tp_err_name(rc));
    for (size_t i = 0; i < put; i++)
        item_accepted(items[i]);
    count(&tally.items_refused, made - put);
}

static void q_get(driver *d, int how)
{
    enum { MAXQ = 16 };
    epoch *ep = d->ep;
    void *items[MAXQ];
    int prio = 0;
    int64_t t = pick_timeout(&d->rng, false);
    int rc;
    size_t got = 0;
    if (how == 0) {
        rc = tp_queue_get(ep->queue, &items[0], t);
        got = rc == 0;
    } else if (how == 1) {
        rc = tp_queue_get_prio(ep->queue, &items[0], &prio, t);
        if (ep->qorder != TP_QUEUE_PRIORITY) {
            EXPECT_RC(rc, "tp_queue_get_prio (not PRIORITY)", TP_EINVAL);
            return;
        }
        got = rc == 0;
    } else {
        size_t max = 1 + below(&d->rng, MAXQ);
        rc = tp_queue_get_batch(ep->queue, items, max, t, &got);
        REQUIRE(got <= max && (rc == 0) == (got > 0),
                "tp_queue_get_batch: got %zu of at most %zu with %s", got,
                max, tp_err_name(rc));
    }
    EXPECT_RC(rc, "tp_queue_get", 0, TP_EEMPTY, TP_ESHUTDOWN);
    for (size_t i = 0; i < got; i++)
        received(ep, items[i], how == 1 ? &prio : NULL);
}

static void q_inspect(driver *d)
{
    epoch *ep = d->ep;
    void *item = NULL;
    size_t index = below(&d->rng, 4);
    int rc = tp_queue_peek(ep->queue, index, &item);
    if (ep->qorder == TP_QUEUE_PRIORITY && index > 0)
        EXPECT_RC(rc, "tp_queue_peek (PRIORITY, index > 0)", TP_EINVAL);
    else
        EXPECT_RC(rc, "tp_queue_peek", 0, TP_EEMPTY);
    if (rc == 0)
        as_item(ep, item);
    tp_queue_stats st;
    EXPECT_RC(tp_queue_stats_get(ep->queue, &st), "tp_queue_stats_get", 0);
    REQUIRE(st.capacity == ep->qcap, "queue stats: capacity");
    REQUIRE(ep->qcap == 0 || st.size <= ep->qcap, "queue over capacity");
    REQUIRE(!st.closed_now || (st.closed && st.size == 0),
            "queue closed_now but not closed or not empty");
    int full = tp_queue_full(ep->queue);
    REQUIRE(full == 0 || full == 1, "tp_queue_full returned %d", full);
    REQUIRE(ep->qcap != 0 || full == 0, "unbounded queue full");
    EXPECT_RC(tp_queue_join(ep->queue, 0), "tp_queue_join", 0, TP_ETIMEDOUT,
              TP_ESHUTDOWN);
}

/* ---- the driver loop ----------------------------------------------------- */

static void one_op(driver *d)
{
    /* Rare operations first, then a weighted pick among the rest. */
    if (below(&d->rng, 2000) == 0) {
        op_private_pool(d);
        return;
    }
    if (below(&d->rng, 50000) == 0) {
        EXPECT_RC(tp_queue_close(d->ep->queue), "tp_queue_close", 0);
        return;
    }
    unsigned r = below(&d->rng, 100);
    if (r < 8)
        op_submit(d);
    else if (r < 20)
        op_submit_future(d);
    else if (r < 24)
        op_batch(d);
    else if (r < 28)
        op_cancel(d);
    else if (r < 33)
        op_wait(d, false);
    else if (r < 37)
        op_wait(d, true);
    else if (r < 40)
        op_wait_many(d, 0);
    else if (r < 42)
        op_wait_many(d, 1);
    else if (r < 44)
        op_wait_many(d, 2);
    else if (r < 47)
        op_on_done(d);
    else if (r < 53)
        op_release(d);
    else if (r < 54)
        op_stats(d);
    else if (r < 55)
        op_misc(d);
    else if (r < 65)
        q_put(d, false);
    else if (r < 69)
        q_put(d, true);
    else if (r < 73)
        q_put_batch(d);
    else if (r < 86)
        q_get(d, 0);
    else if (r < 89)
        q_get(d, 1);
    else if (r < 98)
        q_get(d, 2);
    else
        q_inspect(d);
}

static void *driver_main(void *arg)
{
    driver *d = arg;
    unsigned long long ops = 0;
    while (!atomic_load_explicit(&d->ep->stop, memory_order_relaxed)) {
        one_op(d);
        ops++;
    }
    /* The pool has shut down (or is about to be destroyed, which runs what
     * is queued): every future settles, so waiting for ever is safe. */
    while (d->nheld > 0) {
        held *h = &d->ring[d->nheld - 1];
        EXPECT_RC(tp_future_wait(h->f, -1), "final tp_future_wait", 0);
        drop_held(d, d->nheld - 1);
    }
    count(&tally.ops, ops);
    return NULL;
}

/* ---- the epoch ----------------------------------------------------------- */

static void hook_start(unsigned index, void *ctx)
{
    (void)index;
    atomic_fetch_add(&((epoch *)ctx)->hook_starts, 1);
}

static void hook_stop(unsigned index, void *ctx)
{
    (void)index;
    atomic_fetch_add(&((epoch *)ctx)->hook_stops, 1);
}

static void *shutdown_now_thread(void *arg)
{
    EXPECT_RC(tp_pool_shutdown_now(arg, drop_task, NULL),
              "tp_pool_shutdown_now (second thread)", 0);
    return NULL;
}

static void reset_records(epoch *ep)
{
    size_t nt = atomic_load(&ep->ntasks), ni = atomic_load(&ep->nitems);
    if (nt > MAX_TASKS)
        nt = MAX_TASKS;
    if (ni > MAX_ITEMS)
        ni = MAX_ITEMS;
    for (size_t i = 0; i < nt; i++) {
        task_rec *r = &ep->tasks[i];
        atomic_init(&r->runs, 0);
        atomic_init(&r->drops, 0);
        atomic_init(&r->flags, 0);
        atomic_init(&r->cb_registered, 0);
        atomic_init(&r->cb_ran, 0);
        atomic_init(&r->final_state, -1);
    }
    for (size_t i = 0; i < ni; i++) {
        atomic_init(&ep->items[i].got, 0);
        atomic_init(&ep->items[i].dropped, 0);
        atomic_init(&ep->items[i].flags, 0);
    }
    atomic_init(&ep->ntasks, 0);
    atomic_init(&ep->nitems, 0);
}

/* The books of one epoch; every thread of it has been joined. */
static void verify(epoch *ep, const tp_pool_stats *st)
{
    size_t nt = atomic_load(&ep->ntasks), ni = atomic_load(&ep->nitems);
    if (nt > MAX_TASKS)
        nt = MAX_TASKS;
    if (ni > MAX_ITEMS)
        ni = MAX_ITEMS;
    uint64_t pool_accepted = 0, pool_ran = 0, pool_unrun = 0;
    for (size_t i = 0; i < nt; i++) {
        task_rec *r = &ep->tasks[i];
        unsigned fl = atomic_load(&r->flags), runs = atomic_load(&r->runs),
                 drops = atomic_load(&r->drops);
        unsigned cancelled = (fl & F_CANCELLED) != 0;
        unsigned expired = (fl & F_EXPIRED) != 0;
        unsigned cbr = atomic_load(&r->cb_registered),
                 cbn = atomic_load(&r->cb_ran);
        if (!(fl & F_ACCEPTED)) {
            REQUIRE(runs == 0 && drops == 0 && !cancelled && !expired &&
                        cbn == 0,
                    "task %zu was refused, yet ran %u, dropped %u, "
                    "cancelled %u, expired %u",
                    i, runs, drops, cancelled, expired);
            continue;
        }
        REQUIRE(runs + drops + cancelled + expired == 1,
                "task %zu (kind %d, depth %u, %s pool, %s future, settled "
                "%d): ran %u, handed back %u, cancelled %u, expired %u "
                "(want exactly one)",
                i, (int)r->kind, r->depth,
                r->pool == ep->pool ? "the epoch's" : "a private",
                (fl & F_FUTURE) ? "with a" : "no",
                atomic_load(&r->final_state), runs, drops, cancelled,
                expired);
        REQUIRE(cbr == cbn, "task %zu: %u callbacks registered, %u ran", i,
                cbr, cbn);
        int fs = atomic_load(&r->final_state);
        if (fs >= 0) {
            tp_state want = TP_CANCELLED;
            if (runs == 1)
                want = r->kind == K_FAIL        ? TP_FAILED
                       : (fl & F_STOP_ACK) != 0 ? TP_CANCELLED
                                                : TP_COMPLETED;
            REQUIRE(fs == (int)want, "task %zu settled %s, want %s", i,
                    tp_state_name((tp_state)fs), tp_state_name(want));
        }
        count(&tally.tasks_accepted, 1);
        count(&tally.tasks_ran, runs);
        count(&tally.tasks_dropped, drops);
        count(&tally.tasks_cancelled, cancelled);
        count(&tally.tasks_expired, expired);
        count(&tally.tasks_stop_acked, (fl & F_STOP_ACK) != 0);
        count(&tally.tasks_failed, runs == 1 && r->kind == K_FAIL);
        if (r->pool == ep->pool) {
            pool_accepted++;
            pool_ran += runs;
            pool_unrun += drops + cancelled + expired;
        }
    }
    REQUIRE(st->submitted == pool_accepted && st->completed == pool_ran &&
                st->cancelled == pool_unrun && st->queued == 0 &&
                st->running == 0,
            "pool stats (submitted %" PRIu64 ", completed %" PRIu64
            ", cancelled %" PRIu64 ", queued %zu, running %zu) disagree "
            "with the records (%" PRIu64 ", %" PRIu64 ", %" PRIu64 ")",
            st->submitted, st->completed, st->cancelled, st->queued,
            st->running, pool_accepted, pool_ran, pool_unrun);
    for (size_t i = 0; i < ni; i++) {
        item_rec *it = &ep->items[i];
        unsigned fl = atomic_load(&it->flags), got = atomic_load(&it->got),
                 dropped = atomic_load(&it->dropped);
        if (fl & I_ACCEPTED) {
            REQUIRE(got + dropped == 1,
                    "item %zu: got %u, dropped %u (want exactly one)", i, got,
                    dropped);
            count(&tally.items_accepted, 1);
            count(&tally.items_got, got);
            count(&tally.items_dropped, dropped);
        } else {
            REQUIRE(got == 0 && dropped == 0,
                    "item %zu was refused, yet got %u, dropped %u", i, got,
                    dropped);
        }
    }
}

/* Watchdog: if no epoch ends for WATCHDOG_S seconds, something hangs. */
static pthread_mutex_t wd_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t wd_cv = PTHREAD_COND_INITIALIZER;
static unsigned long wd_progress;
static bool wd_done;

static void *watchdog_main(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&wd_mu);
    unsigned long seen = wd_progress;
    while (!wd_done) {
        struct timespec at;
        clock_gettime(CLOCK_REALTIME, &at);
        at.tv_sec += WATCHDOG_S;
        int rc = 0;
        while (!wd_done && wd_progress == seen && rc != ETIMEDOUT)
            rc = pthread_cond_timedwait(&wd_cv, &wd_mu, &at);
        if (!wd_done && wd_progress == seen)
            violation("no epoch finished in %d s: a hang (deadlock or lost "
                      "wake-up)",
                      WATCHDOG_S);
        seen = wd_progress;
    }
    pthread_mutex_unlock(&wd_mu);
    return NULL;
}

static void watchdog_tick(bool done)
{
    pthread_mutex_lock(&wd_mu);
    wd_progress++;
    wd_done = done;
    pthread_cond_signal(&wd_cv);
    pthread_mutex_unlock(&wd_mu);
}

static void run_epoch(epoch *ep, unsigned index, double ms)
{
    uint64_t s = seed_for(index, 0xE70C);
    reset_records(ep);
    atomic_store(&ep->stop, false);
    atomic_store(&ep->exhausted, false);
    atomic_store(&ep->hook_starts, 0);
    atomic_store(&ep->hook_stops, 0);

    tp_options o;
    tp_options_init(&o);
    o.threads = 1 + below(&s, 4);
    o.name = "soak";
    o.queue_capacity = below(&s, 2) ? 0 : 1 + below(&s, 64);
    o.on_full = (tp_full_policy)below(&s, 3);
    o.submit_timeout_ms = below(&s, 2) ? -1 : (int64_t)below(&s, 3);
    o.on_thread_start = hook_start;
    o.on_thread_stop = hook_stop;
    o.hook_ctx = ep;
    EXPECT_RC(tp_pool_create(&ep->pool, &o), "tp_pool_create", 0);
    count(&tally.pools, 1);
    ep->qorder = (tp_queue_order)below(&s, 3);
    ep->qcap = below(&s, 2) ? 0 : 1 + below(&s, 128);
    EXPECT_RC(tp_queue_create(&ep->queue, ep->qorder, ep->qcap),
              "tp_queue_create", 0);

    static driver drivers[DRIVERS];
    for (unsigned i = 0; i < DRIVERS; i++) {
        driver *d = &drivers[i];
        d->ep = ep;
        d->rng = seed_for(index, i + 1);
        d->id = i;
        d->nheld = 0;
        REQUIRE(pthread_create(&d->thread, NULL, driver_main, d) == 0,
                "pthread_create");
    }

    /* Pace: let the drivers run for `ms`, or until the records run out. */
    struct timespec at;
    clock_gettime(CLOCK_REALTIME, &at);
    long long ns = (long long)at.tv_nsec + (long long)(ms * 1e6);
    at.tv_sec += (time_t)(ns / 1000000000LL);
    at.tv_nsec = (long)(ns % 1000000000LL);
    pthread_mutex_lock(&ep->mu);
    int rc = 0;
    while (!atomic_load(&ep->exhausted) && rc != ETIMEDOUT)
        rc = pthread_cond_timedwait(&ep->cv, &ep->mu, &at);
    pthread_mutex_unlock(&ep->mu);

    /* End the epoch while the drivers are still at work. */
    unsigned how = below(&s, 4);
    atomic_store(&g_end_how, how);
    switch (how) {
    case 0:
        EXPECT_RC(tp_pool_shutdown(ep->pool), "tp_pool_shutdown", 0);
        break;
    case 1:
        EXPECT_RC(tp_pool_shutdown_now(ep->pool, drop_task, NULL),
                  "tp_pool_shutdown_now", 0);
        break;
    case 2: { /* both at once, from two threads */
        pthread_t t;
        REQUIRE(pthread_create(&t, NULL, shutdown_now_thread, ep->pool) == 0,
                "pthread_create");
        EXPECT_RC(tp_pool_shutdown(ep->pool), "tp_pool_shutdown", 0);
        pthread_join(t, NULL);
        break;
    }
    default:
        break; /* shut down below, once the drivers have stopped */
    }
    switch (below(&s, 3)) {
    case 0:
        EXPECT_RC(tp_queue_close(ep->queue), "tp_queue_close", 0);
        break;
    case 1:
        EXPECT_RC(tp_queue_close_now(ep->queue, drop_item, ep),
                  "tp_queue_close_now", 0);
        break;
    default:
        break; /* tp_queue_destroy drops what is left */
    }
    atomic_store(&ep->stop, true);
    for (unsigned i = 0; i < DRIVERS; i++)
        pthread_join(drivers[i].thread, NULL);

    if (how == 3)
        EXPECT_RC(tp_pool_shutdown(ep->pool), "tp_pool_shutdown", 0);
    tp_pool_stats st;
    EXPECT_RC(tp_pool_stats_get(ep->pool, &st), "tp_pool_stats_get", 0);
    EXPECT_RC(tp_pool_destroy(ep->pool), "tp_pool_destroy", 0);
    REQUIRE(atomic_load(&ep->hook_starts) == o.threads &&
                atomic_load(&ep->hook_stops) == o.threads,
            "thread hooks: %u starts, %u stops, %u threads",
            atomic_load(&ep->hook_starts), atomic_load(&ep->hook_stops),
            o.threads);
    EXPECT_RC(tp_queue_destroy(ep->queue, drop_item, ep), "tp_queue_destroy",
              0);
    verify(ep, &st);
    count(&tally.epochs, 1);
}

/* ---- main ---------------------------------------------------------------- */

static long rss_kib(void)
{
    /* statm: sizes in pages, "total resident shared ..." */
    FILE *fp = fopen("/proc/self/statm", "r");
    if (fp == NULL)
        return -1;
    char line[256];
    long resident = -1;
    if (fgets(line, sizeof line, fp) != NULL) {
        char *end;
        (void)strtol(line, &end, 10); /* total size: not needed */
        char *num = end;
        resident = strtol(num, &end, 10);
        if (end == num)
            resident = -1;
    }
    fclose(fp);
    long page = sysconf(_SC_PAGESIZE);
    return resident < 0 || page <= 0 ? -1 : resident * (page / 1024);
}

static unsigned long long total(atomic_ullong *c)
{
    return atomic_load(c);
}

/* Under valgrind the resident set holds the tool's own shadow memory,
 * which grows with the run's history: the bound does not apply. */
#if defined(__has_include)
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#define SOAK_HAVE_VALGRIND_H 1
#endif
#endif
static bool under_valgrind(void)
{
#ifdef SOAK_HAVE_VALGRIND_H
    return RUNNING_ON_VALGRIND != 0;
#else
    const char *preload = getenv("LD_PRELOAD");
    return preload != NULL && strstr(preload, "vgpreload") != NULL;
#endif
}

int main(int argc, char **argv)
{
    g_seconds = 600;
    if (argc > 1) {
        char *end;
        g_seconds = strtoul(argv[1], &end, 10);
        if (*end != '\0' || g_seconds == 0) {
            fprintf(stderr, "usage: %s [SECONDS [SEED]]\n", argv[0]);
            return 2;
        }
    }
    if (argc > 2) {
        char *end;
        g_seed = strtoull(argv[2], &end, 0);
        if (*end != '\0') {
            fprintf(stderr, "usage: %s [SECONDS [SEED]]\n", argv[0]);
            return 2;
        }
    } else {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        uint64_t s = (uint64_t)ts.tv_sec * 1000000007u ^ (uint64_t)ts.tv_nsec ^
                     ((uint64_t)getpid() << 20);
        g_seed = splitmix(&s);
    }
    long rss_start = rss_kib();
    printf("soak: %lu s, seed %" PRIu64 ", %d drivers, rss at start %ld KiB\n",
           g_seconds, g_seed, DRIVERS, rss_start);
    fflush(stdout);

    static epoch ep;
    ep.tasks = calloc(MAX_TASKS, sizeof *ep.tasks);
    ep.items = calloc(MAX_ITEMS, sizeof *ep.items);
    REQUIRE(ep.tasks != NULL && ep.items != NULL, "out of memory");
    /* calloc's zeros are not initialised atomics: initialise every one. */
    atomic_init(&ep.ntasks, MAX_TASKS);
    atomic_init(&ep.nitems, MAX_ITEMS);
    atomic_init(&ep.stop, false);
    atomic_init(&ep.exhausted, false);
    atomic_init(&ep.hook_starts, 0);
    atomic_init(&ep.hook_stops, 0);
    REQUIRE(pthread_mutex_init(&ep.mu, NULL) == 0 &&
                pthread_cond_init(&ep.cv, NULL) == 0,
            "pthread_mutex_init/pthread_cond_init failed");

    pthread_t wd;
    REQUIRE(pthread_create(&wd, NULL, watchdog_main, NULL) == 0,
            "pthread_create");

    double t0 = now_ms(), end = t0 + (double)g_seconds * 1000.0;
    double warm_at = t0 + (double)g_seconds * 250.0; /* a quarter */
    if (warm_at > t0 + 60000.0)
        warm_at = t0 + 60000.0;
    long rss_warm = -1;
    uint64_t s = seed_for(0, 0x5EED);
    double next_report = t0 + 60000.0;
    for (unsigned e = 0; now_ms() < end; e++) {
        atomic_store(&g_epoch, e);
        double left = end - now_ms();
        double ms = 50.0 + (double)below(&s, 950);
        run_epoch(&ep, e, ms < left ? ms : (left > 10.0 ? left : 10.0));
        watchdog_tick(false);
        if (rss_warm < 0 && now_ms() >= warm_at)
            rss_warm = rss_kib();
        if (now_ms() >= next_report) {
            printf("soak: %.0f s: %llu epochs, %llu tasks ran, %llu "
                   "operations, rss %ld KiB\n",
                   (now_ms() - t0) / 1000.0, total(&tally.epochs),
                   total(&tally.tasks_ran), total(&tally.ops), rss_kib());
            fflush(stdout);
            next_report += 60000.0;
        }
    }
    watchdog_tick(true);
    pthread_join(wd, NULL);
    long rss_end = rss_kib();
    if (rss_warm < 0)
        rss_warm = rss_end;

    free(ep.tasks);
    free(ep.items);
    pthread_cond_destroy(&ep.cv);
    pthread_mutex_destroy(&ep.mu);

    unsigned long long processed =
        total(&tally.tasks_ran) + total(&tally.tasks_cancelled) +
        total(&tally.tasks_dropped) + total(&tally.tasks_expired);
    printf("soak: %.1f s, %llu epochs, %llu pools (%llu private), %llu "
           "waitsets\n",
           (now_ms() - t0) / 1000.0, total(&tally.epochs),
           total(&tally.pools) + total(&tally.private_pools),
           total(&tally.private_pools), total(&tally.waitsets));
    printf("soak: tasks processed %llu: accepted %llu = ran %llu + cancelled "
           "%llu + handed back %llu + expired %llu; refused %llu; nested "
           "%llu; failed %llu; stop acknowledged %llu\n",
           processed, total(&tally.tasks_accepted), total(&tally.tasks_ran),
           total(&tally.tasks_cancelled), total(&tally.tasks_dropped),
           total(&tally.tasks_expired), total(&tally.tasks_refused),
           total(&tally.tasks_nested), total(&tally.tasks_failed),
           total(&tally.tasks_stop_acked));
    printf("soak: futures checked %llu; done-callbacks registered %llu, ran "
           "%llu\n",
           total(&tally.futures_seen), total(&tally.callbacks_registered),
           total(&tally.callbacks_ran));
    printf("soak: queue items accepted %llu = got %llu + dropped %llu; "
           "refused %llu\n",
           total(&tally.items_accepted), total(&tally.items_got),
           total(&tally.items_dropped), total(&tally.items_refused));
    printf("soak: operations %llu\n", total(&tally.ops));
    printf("soak: violations 0\n");
    long growth = rss_end - rss_warm;
    printf("soak: rss start %ld KiB, after warm-up %ld KiB, end %ld KiB, "
           "growth %ld KiB (bound %d KiB%s)\n",
           rss_start, rss_warm, rss_end, growth, RSS_BOUND_KIB,
           UNDER_SANITIZER  ? ", not enforced under a sanitizer"
           : under_valgrind() ? ", not enforced under valgrind"
                              : "");
    REQUIRE(total(&tally.tasks_accepted) == processed &&
                total(&tally.callbacks_registered) ==
                    total(&tally.callbacks_ran) &&
                total(&tally.items_accepted) ==
                    total(&tally.items_got) + total(&tally.items_dropped),
            "totals do not add up");
    if (!UNDER_SANITIZER && !under_valgrind() && rss_end >= 0 &&
        rss_warm >= 0)
        REQUIRE(growth <= RSS_BOUND_KIB,
                "rss grew by %ld KiB after warm-up (bound %d KiB)", growth,
                RSS_BOUND_KIB);
    printf("soak: passed\n");
    return 0;
}
