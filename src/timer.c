/*
 * timer.c - a pool's timers: delayed tasks (tp_submit_after), periodic
 * tasks (tp_submit_every), and the timers behind tp_future_or_timeout().
 *
 * One thread per pool, started with its first timer
 * -----------------------------------------------------
 * A pool that uses timers gets one timer thread, started lazily by the
 * first arm; a pool that never does has none and pays nothing.  The thread
 * sleeps on a condition variable measured on CLOCK_MONOTONIC until the
 * earliest timer is due (for ever when there is none), so an idle pool
 * with a timer an hour away wakes once, in an hour.  An arm that becomes
 * the earliest signals it; any other arm wakes nobody.  When a timer is
 * due, the thread takes it out and queues a small carrier task on the pool
 * (tpi_submit_runner), which calls the timer's `fire` on a worker.  So the
 * thread never runs a user's code, nor settles a future or runs a
 * callback (except in the rare case that there is no memory for the
 * carrier): a long task cannot delay other timers, and the pool's
 * scheduler, with its proven sleep and wake-up protocol, is left as it
 * is.  The alternative, workers sleeping with a timeout, would have put a
 * clock reading and a deadline into that protocol and every worker's
 * idle path, to save one mostly sleeping thread.
 *
 * The armed timers are a pairing heap, intrusive (each timer's links are
 * in it), so arming allocates nothing and cannot fail for memory once the
 * pool has its timers: a periodic task can always be re-armed.  Insert is
 * O(1), removing the earliest or any other O(log n) amortised.  Ties are
 * broken by arm order, so timers due at the same moment fire in the order
 * they were armed.
 *
 * Delayed tasks
 * -------------
 * tp_submit_after() makes the task's future at once (PENDING) and arms a
 * timer; when it fires, the carrier runs the future with tpi_future_run(),
 * exactly as a worker runs a queued task, so the future is an ordinary one
 * in every respect.  The future itself is never in the pool's queue: a
 * delayed task counts in the pool's statistics (as its carrier) from the
 * moment it is due.  A done-callback on the future disarms the timer when
 * the future settles first (a cancel), so that a cancelled timer an hour
 * away gives back its memory now and wakes nobody.
 *
 * Periodic tasks
 * --------------
 * One future for the whole series.  Each run is started like a task
 * (PENDING -> RUNNING, so tp_future_cancel() during a run asks it to stop
 * and returns TP_EBUSY), runs the function with the future as the running
 * task, and then goes back to PENDING (tpi_future_rearm) and re-arms the
 * timer: at the previous due time plus the period (fixed rate; runs that
 * fall behind follow one another at once until the schedule is caught
 * up), or at the end of the run plus the period (fixed delay).  Runs never
 * overlap: the next is armed only when one has returned.  The future
 * settles only when the series ends: CANCELLED by a cancel (at once
 * between runs; after the run in progress, which is asked to stop, during
 * one), FAILED with the code of a run that called tp_task_fail(), or
 * CANCELLED by a shutdown.  Its result is always NULL.
 *
 * Shutdown and fork
 * -----------------
 * A shutdown of either kind closes the timers before it does anything else
 * (pool.c): new timers are refused with TP_ESHUTDOWN, the timer thread is
 * joined, and each timer still armed is abandoned: a delayed or periodic
 * task settles CANCELLED (its argument is the caller's again, as for any
 * cancelled task), and an immediate shutdown also hands it to its drop
 * function if its function never ran.  A carrier already queued is a task
 * like any other: a graceful shutdown runs it (a periodic task's run then
 * finds the timers closed and its series ends CANCELLED), an immediate one
 * drops it, and the carrier's timer is then abandoned the same way, with
 * that shutdown's drop function (drop_all in pool.c calls
 * tpi_timer_dropped).  So no accepted task is lost without its future or
 * the drop function saying so.  In the child of a fork() the pool's calls
 * return TP_EFORKED and the timers are never touched: their thread is
 * not there, and their lock may have been held by a thread that is not.
 *
 * Lifetime
 * --------
 * The pool holds a reference to its timers, and so does every timer armed
 * at least once (until tpi_timer_finish()), so that a timeout whose source
 * settles after the pool has gone can still disarm safely.  Each user of
 * a timer counts its own references: see sched_task below, and combine.c.
 *
 * Locks: the timers' mu is a leaf.  No future is settled, and nothing is
 * submitted, while it is held.
 */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>

#include "alloc.h"
#include "clock.h"
#include "error.h"
#include "fork.h"
#include "pool_internal.h"
#include "timer.h"

struct tpi_timers {
    pthread_mutex_t mu;
    pthread_cond_t cv;   /* the thread's sleep; joiners wait for `joined` */
    tpi_timer *root;     /* the earliest armed timer (mu) */
    uint64_t seq;        /* arms so far (mu) */
    bool closed;         /* a shutdown has begun (mu) */
    bool started;        /* the thread was created (mu) */
    bool join_claimed;   /* a shutdown is joining it (mu) */
    bool joined;         /* it has been joined (mu) */
    pthread_t thread;
    tp_pool *pool;       /* valid until the thread is joined */
    _Atomic unsigned refs;
};

/* What a pool's `timers` points to once it is shut down without ever
 * having had a timer: never locked, only compared with. */
static tpi_timers timers_closed;

#define TPI_MAX_DELAY_MS ((int64_t)3155760000000) /* ~100 years */

static uint64_t ns_after_ms(uint64_t now, int64_t ms)
{
    if (ms > TPI_MAX_DELAY_MS)
        ms = TPI_MAX_DELAY_MS;
    return now + (uint64_t)ms * 1000000u;
}

/* ---- the pairing heap (mu held) --------------------------------------- */

static bool earlier(const tpi_timer *a, const tpi_timer *b)
{
    return a->due_ns < b->due_ns || (a->due_ns == b->due_ns && a->seq < b->seq);
}

/* Melds two heaps (roots with no siblings) into one. */
static tpi_timer *meld(tpi_timer *a, tpi_timer *b)
{
    if (a == NULL)
        return b;
    if (b == NULL)
        return a;
    if (earlier(b, a)) {
        tpi_timer *x = a;
        a = b;
        b = x;
    }
    /* b becomes a's first child: its prev is its parent. */
    b->sibling = a->child;
    if (a->child != NULL)
        a->child->prev = b;
    b->prev = a;
    a->child = b;
    return a;
}

/* The two-pass merge of a list of sibling heaps into one. */
static tpi_timer *merge_pairs(tpi_timer *first)
{
    tpi_timer *pairs = NULL; /* melded pairs, in reverse order */
    while (first != NULL) {
        tpi_timer *a = first, *b = a->sibling;
        first = b != NULL ? b->sibling : NULL;
        a->sibling = a->prev = NULL;
        if (b != NULL)
            b->sibling = b->prev = NULL;
        tpi_timer *m = meld(a, b);
        m->sibling = pairs;
        pairs = m;
    }
    tpi_timer *root = NULL;
    while (pairs != NULL) {
        tpi_timer *next = pairs->sibling;
        pairs->sibling = NULL;
        root = meld(root, pairs);
        pairs = next;
    }
    return root;
}

static void heap_insert(tpi_timers *tm, tpi_timer *t)
{
    t->child = t->sibling = t->prev = NULL;
    tm->root = meld(tm->root, t);
    t->armed = true;
}

static void heap_remove(tpi_timers *tm, tpi_timer *t)
{
    tpi_timer *sub = merge_pairs(t->child);
    if (t == tm->root) {
        tm->root = sub;
    } else {
        /* Cut t out of its parent's list of children. */
        if (t->prev->child == t)
            t->prev->child = t->sibling;
        else
            t->prev->sibling = t->sibling;
        if (t->sibling != NULL)
            t->sibling->prev = t->prev;
        tm->root = meld(tm->root, sub);
    }
    if (tm->root != NULL)
        tm->root->prev = NULL;
    t->child = t->sibling = t->prev = NULL;
    t->armed = false;
}

/* ---- the timers of a pool --------------------------------------------- */

static void timers_unref(tpi_timers *tm)
{
    if (atomic_fetch_sub_explicit(&tm->refs, 1, memory_order_acq_rel) != 1)
        return;
    pthread_cond_destroy(&tm->cv);
    pthread_mutex_destroy(&tm->mu);
    tpi_free(tm);
}

/* The pool's timers, made on first use; NULL with *err set (a TP_E*
 * code) if there are none to be had. */
static tpi_timers *timers_get(tp_pool *p, int *err)
{
    tpi_timers *tm;
    while ((tm = atomic_load_explicit(&p->timers, memory_order_acquire)) ==
           NULL) {
        tpi_timers *made = tpi_calloc(1, sizeof *made);
        if (made == NULL) {
            *err = TP_ENOMEM;
            return NULL;
        }
        int rc = pthread_mutex_init(&made->mu, NULL);
        if (rc == 0 && (rc = tpi_cond_init(&made->cv)) != 0)
            pthread_mutex_destroy(&made->mu);
        if (rc != 0) {
            tpi_free(made);
            *err = tpi_errno_to_tp(rc);
            return NULL;
        }
        made->pool = p;
        atomic_init(&made->refs, 1); /* the pool's */
        tpi_timers *none = NULL;
        if (atomic_compare_exchange_strong_explicit(&p->timers, &none, made,
                                                    memory_order_acq_rel,
                                                    memory_order_acquire))
            return made;
        /* Another thread made them first (or a shutdown closed them). */
        timers_unref(made);
    }
    if (tm == &timers_closed) {
        *err = TP_ESHUTDOWN;
        return NULL;
    }
    return tm;
}

/* Names the thread "<prefix>-timer", cut to the kernel's 15 bytes. */
static void name_thread(const tp_pool *p)
{
#if defined(__linux__) && defined(__GLIBC__)
    char name[40];
    snprintf(name, sizeof name, "%s-timer", p->name);
    name[15] = '\0';
    pthread_setname_np(pthread_self(), name);
#else
    (void)p;
#endif
}

/* The timer thread: sleeps until the earliest timer is due, then queues
 * its carrier (see the top comment). */
static void *timer_main(void *arg)
{
    tpi_timers *tm = arg;
    name_thread(tm->pool);
    pthread_mutex_lock(&tm->mu);
    while (!tm->closed) {
        tpi_timer *t = tm->root;
        if (t == NULL) {
            pthread_cond_wait(&tm->cv, &tm->mu);
            continue;
        }
        if (t->due_ns > tpi_now_ns()) {
            tpi_deadline dl = {{(time_t)(t->due_ns / 1000000000u),
                                (long)(t->due_ns % 1000000000u)},
                               false, false};
            (void)tpi_cond_wait(&tm->cv, &tm->mu, &dl);
            continue;
        }
        heap_remove(tm, t);
        pthread_mutex_unlock(&tm->mu);
        /* The pool accepts it: its shutdown joins this thread before it
         * stops accepting (so only TP_ENOMEM can refuse). */
        int rc = tpi_submit_runner(tm->pool, tpi_timer_carrier, t, false);
        if (rc != 0)
            t->ops->abandon(t, rc, NULL, NULL);
        pthread_mutex_lock(&tm->mu);
    }
    pthread_mutex_unlock(&tm->mu);
    return NULL;
}

/* Starts the timer thread (mu held).  Honours the test hook of pool.h. */
static int start_thread(tpi_timers *tm)
{
    int countdown = atomic_load(&tpi_fail_thread_countdown);
    while (countdown > 0) {
        if (atomic_compare_exchange_weak(&tpi_fail_thread_countdown,
                                         &countdown, countdown - 1)) {
            if (countdown == 1)
                return TP_EAGAIN;
            break;
        }
    }
    int rc = pthread_create(&tm->thread, NULL, timer_main, tm);
    return rc == 0 ? 0 : tpi_errno_to_tp(rc);
}

void tpi_timer_init(tpi_timer *t, const tpi_timer_ops *ops)
{
    t->ops = ops;
    t->tm = NULL;
    t->gen = 0;
    t->due_ns = t->seq = 0;
    t->child = t->sibling = t->prev = NULL;
    t->armed = false;
}

int tpi_timer_arm(tp_pool *p, tpi_timer *t, uint64_t due_ns)
{
    tpi_timers *tm = t->tm;
    int rc = 0;
    if (tm == NULL && (tm = timers_get(p, &rc)) == NULL)
        return rc;
    pthread_mutex_lock(&tm->mu);
    if (tm->closed) {
        pthread_mutex_unlock(&tm->mu);
        return TP_ESHUTDOWN;
    }
    if (!tm->started) {
        if ((rc = start_thread(tm)) != 0) {
            pthread_mutex_unlock(&tm->mu);
            return rc;
        }
        tm->started = true;
    }
    if (t->tm == NULL) {
        atomic_fetch_add_explicit(&tm->refs, 1, memory_order_relaxed);
        t->tm = tm;
        t->gen = tpi_fork_generation();
    }
    t->due_ns = due_ns;
    t->seq = tm->seq++;
    heap_insert(tm, t);
    if (tm->root == t) /* earlier than what the thread sleeps for */
        pthread_cond_signal(&tm->cv);
    pthread_mutex_unlock(&tm->mu);
    return 0;
}

bool tpi_timer_disarm(tpi_timer *t)
{
    tpi_timers *tm = t->tm;
    if (tm == NULL || t->gen != tpi_fork_generation())
        return false;
    pthread_mutex_lock(&tm->mu);
    bool was = t->armed;
    if (was)
        heap_remove(tm, t);
    pthread_mutex_unlock(&tm->mu);
    return was;
}

void tpi_timer_finish(tpi_timer *t)
{
    if (t->tm != NULL && t->gen == tpi_fork_generation())
        timers_unref(t->tm);
    t->tm = NULL;
}

void *tpi_timer_carrier(void *arg)
{
    tpi_timer *t = arg;
    t->ops->fire(t);
    return NULL;
}

void tpi_timer_dropped(void *arg, tp_drop_fn drop, void *ctx)
{
    tpi_timer *t = arg;
    t->ops->abandon(t, TP_ESHUTDOWN, drop, ctx);
}

void tpi_timers_shutdown(tp_pool *p, tp_drop_fn drop, void *ctx)
{
    tpi_timers *tm = NULL;
    if (atomic_compare_exchange_strong_explicit(&p->timers, &tm,
                                                &timers_closed,
                                                memory_order_acq_rel,
                                                memory_order_acquire))
        return; /* never had a timer; none can come now */
    if (tm == &timers_closed)
        return;
    pthread_mutex_lock(&tm->mu);
    tm->closed = true;
    bool join = tm->started && !tm->join_claimed;
    tm->join_claimed |= join;
    pthread_cond_broadcast(&tm->cv);
    /* A second shutdown waits for the first one's join, so that neither
     * returns (nor stops the pool) while the thread may still queue. */
    while (!join && tm->started && !tm->joined)
        pthread_cond_wait(&tm->cv, &tm->mu);
    pthread_mutex_unlock(&tm->mu);
    if (join) {
        pthread_join(tm->thread, NULL);
        pthread_mutex_lock(&tm->mu);
        tm->joined = true;
        pthread_cond_broadcast(&tm->cv);
        pthread_mutex_unlock(&tm->mu);
    }
    for (;;) {
        pthread_mutex_lock(&tm->mu);
        tpi_timer *t = tm->root;
        if (t != NULL)
            heap_remove(tm, t);
        pthread_mutex_unlock(&tm->mu);
        if (t == NULL)
            break;
        t->ops->abandon(t, TP_ESHUTDOWN, drop, ctx);
    }
}

void tpi_timers_release(tp_pool *p)
{
    tpi_timers *tm = atomic_load_explicit(&p->timers, memory_order_acquire);
    if (tm != NULL && tm != &timers_closed)
        timers_unref(tm);
}

/* ---- delayed and periodic tasks ---------------------------------------- */

/* A delayed or periodic task: its future, its timer, and two references
 * to it: the timer side (armed, or firing, or abandoned: whoever ends the
 * arm gives it up, or passes it to the next arm) and the done-callback on
 * the future.  It holds a reference to the future. */
typedef struct sched_task {
    tpi_timer timer;
    tpi_callback on_done;
    tp_future *f;
    tp_pool *pool;
    uint64_t period_ns; /* 0: runs once */
    tp_period_mode mode;
    _Atomic unsigned refs;
} sched_task;

static void sched_unref(sched_task *e)
{
    if (atomic_fetch_sub_explicit(&e->refs, 1, memory_order_acq_rel) != 1)
        return;
    tp_future_release(e->f);
    tpi_timer_finish(&e->timer);
    tpi_free(e);
}

/* The future settled: if it is still armed (a cancel came first), take
 * the timer back now. */
static void sched_settled(tp_future *f, void *ctx)
{
    sched_task *e = ctx;
    (void)f;
    if (e->timer.tm != NULL && e->timer.gen != tpi_fork_generation())
        return; /* a forked child's copy: leave it as it is */
    if (tpi_timer_disarm(&e->timer))
        sched_unref(e);
    sched_unref(e);
}

static void once_fire(tpi_timer *t)
{
    sched_task *e = (sched_task *)(void *)((char *)t - offsetof(sched_task, timer));
    (void)tpi_future_run(e->f); /* false: cancelled meanwhile */
    sched_unref(e);
}

/* Ends a task that will not run (again): CANCELLED for a shutdown, else
 * FAILED with the code; an immediate shutdown's drop receives it if its
 * function never ran and this settled it. */
static void sched_abandon(tpi_timer *t, int code, tp_drop_fn drop, void *ctx)
{
    sched_task *e = (sched_task *)(void *)((char *)t - offsetof(sched_task, timer));
    tp_future *f = e->f;
    bool started = tp_future_started(f) != 0;
    bool ours = code == TP_ESHUTDOWN
                    ? tpi_future_settle(f, TP_PENDING, TP_CANCELLED)
                    : tpi_promise_settle(f, TP_FAILED, NULL, code);
    if (ours && drop != NULL && !started) {
        tp_job job = {f->task.fn, f->task.arg, tp_future_id(f)};
        drop(&job, ctx);
    }
    sched_unref(e);
}

static void periodic_fire(tpi_timer *t)
{
    sched_task *e = (sched_task *)(void *)((char *)t - offsetof(sched_task, timer));
    tp_future *f = e->f;
    if (!tpi_future_start(f)) { /* cancelled since it was armed */
        sched_unref(e);
        return;
    }
    tpi_running_ctx outer = tpi_running_enter(f, tp_future_id(f), e->pool);
    (void)f->task.fn(f->task.arg);
    tpi_running_leave(outer);

    int error = f->out.error; /* tp_task_fail()'s, 0 if none */
    if (error != 0) {
        /* As a task's failure (tpi_future_execute): ends the series. */
        bool stop = error == TP_ECANCELED && tpi_stop_requested(f);
        tpi_future_settle(f, TP_RUNNING, stop ? TP_CANCELLED : TP_FAILED);
        sched_unref(e);
        return;
    }
    if (!tpi_future_rearm(f)) { /* cancelled while it ran */
        tpi_future_settle(f, TP_RUNNING, TP_CANCELLED);
        sched_unref(e);
        return;
    }
    uint64_t due = e->mode == TP_FIXED_RATE ? t->due_ns + e->period_ns
                                            : tpi_now_ns() + e->period_ns;
    /* The timer side's reference passes to the next arm.  Should the
     * future be cancelled between the re-arm above and this, the arm
     * stands until it is due (or a shutdown), then finds it settled. */
    int rc = tpi_timer_arm(e->pool, t, due);
    if (rc != 0)
        sched_abandon(t, rc, NULL, NULL);
}

static const tpi_timer_ops once_ops = {once_fire, sched_abandon};
static const tpi_timer_ops periodic_ops = {periodic_fire, sched_abandon};

static int schedule(tp_pool *p, tp_task_fn fn, void *arg, int64_t delay_ms,
                    int64_t period_ms, tp_period_mode mode, tp_future **out)
{
    if (p == NULL || fn == NULL || out == NULL || delay_ms < 0)
        return TP_EINVAL;
    if (tpi_forked(p))
        return TP_EFORKED;
    sched_task *e = tpi_malloc(sizeof *e);
    if (e == NULL)
        return TP_ENOMEM;
    /* Two references: the caller's and this entry's. */
    tp_future *f = tpi_future_new(fn, arg, p, 2);
    if (f == NULL) {
        tpi_free(e);
        return TP_ENOMEM;
    }
    e->f = f;
    e->pool = p;
    e->period_ns = period_ms > 0 ? ns_after_ms(0, period_ms) : 0;
    e->mode = mode;
    atomic_init(&e->refs, 2);
    tpi_timer_init(&e->timer, period_ms > 0 ? &periodic_ops : &once_ops);
    e->on_done.node.next = NULL;
    e->on_done.fn = sched_settled;
    e->on_done.ctx = e;
    e->on_done.heap = false;
    /* Before the arm: nobody else can settle f yet, so this only links. */
    tpi_future_add_callback(f, &e->on_done);
    int rc = tpi_timer_arm(p, &e->timer, ns_after_ms(tpi_now_ns(), delay_ms));
    if (rc != 0) {
        tpi_future_discard(f); /* never published: its callback goes too */
        tpi_free(e);
        return rc;
    }
    *out = f;
    return 0;
}

int tp_submit_after(tp_pool *pool, tp_task_fn fn, void *arg, int64_t delay_ms,
                    tp_future **out)
{
    return schedule(pool, fn, arg, delay_ms, 0, TP_FIXED_RATE, out);
}

int tp_submit_every(tp_pool *pool, tp_task_fn fn, void *arg,
                    int64_t first_delay_ms, int64_t period_ms,
                    tp_period_mode mode, tp_future **out)
{
    if (period_ms <= 0 ||
        (mode != TP_FIXED_RATE && mode != TP_FIXED_DELAY))
        return TP_EINVAL;
    return schedule(pool, fn, arg, first_delay_ms, period_ms, mode, out);
}
