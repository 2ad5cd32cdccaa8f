/*
 * pool.c - a pool's life cycle: options, create (workers started through a
 * handshake), idleness and tp_pool_wait_idle, the accounting of tasks
 * settled without running, graceful and immediate shutdown, destroy.  The
 * structures, the design of the scheduler and the lock order are in
 * pool_internal.h; the scheduler itself is sched.c, submitting submit.c.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "alloc.h"
#include "clock.h"
#include "error.h"
#include "fence.h"
#include "futmem.h"
#include "opts.h"
#include "pool_internal.h"
#include "threads.h"

_Atomic int tpi_fail_thread_countdown;
#ifdef TPI_TSAN
_Atomic int tpi_fence_word;
#endif

/* ---- idleness -------------------------------------------------------------- */

/* Whether every task submitted so far has finished (nothing queued and
 * nothing running).  mu held (for the counters of other threads).
 *
 * Each count only grows, and a task is counted submitted before it is
 * counted finished (release/acquire through the queues and tpi_bump()).  The
 * finished counts are all read before the submitted ones; so if their sums
 * are equal, then at the moment the last finished count was read, all the
 * tasks submitted by then had finished: the pool was idle then.  (One
 * exception: an outside submit that a shutdown refuses takes back its
 * count, then calls tpi_notify_if_idle().  Read before the take-back, the
 * count is one too high, which can only make this say "not idle" and the
 * waiter wait for that notify.) */
bool tpi_pool_idle(tp_pool *p)
{
    uint64_t finished = p->ext_completed + p->ext_dropped;
    for (unsigned i = 0; i < p->nthreads; i++) {
        tpi_counters *c = &p->workers[i].count;
        finished += atomic_load_explicit(&c->completed, memory_order_acquire);
    }
    uint64_t submitted =
        atomic_load_explicit(&p->ext_submitted, memory_order_acquire);
    for (unsigned i = 0; i < p->nthreads; i++)
        submitted += atomic_load_explicit(&p->workers[i].count.submitted,
                                          memory_order_acquire);
    return finished == submitted;
}

/* Wakes tp_pool_wait_idle() callers if the pool is idle.  Called by a
 * worker that ran out of local work and by threads that ran a task inline;
 * the fence pairs with the one in tp_pool_wait_idle() (either the waiter
 * sees the last task finished, or this sees the waiter). */
void tpi_notify_if_idle(tp_pool *p)
{
    tpi_fence();
    if (atomic_load_explicit(&p->state_waiters, memory_order_relaxed) == 0)
        return;
    pthread_mutex_lock(&p->mu);
    if (tpi_pool_idle(p))
        pthread_cond_broadcast(&p->state_cv);
    pthread_mutex_unlock(&p->mu);
}

/* ---- tasks settled without running ----------------------------------------- */

void tpi_pool_settled_unrun(tp_pool *p)
{
    /* Under mu, the waiter counts are exact: waiters change them under mu
     * before they look at what they wait for. */
    pthread_mutex_lock(&p->mu);
    if (p->capacity != 0) {
        atomic_fetch_sub_explicit(&p->queued, 1, memory_order_seq_cst);
        if (atomic_load_explicit(&p->space_waiters, memory_order_relaxed) > 0)
            pthread_cond_broadcast(&p->space_cv);
    }
    p->ext_started++;
    p->ext_dropped++;
    if (atomic_load_explicit(&p->state_waiters, memory_order_relaxed) > 0 &&
        tpi_pool_idle(p))
        pthread_cond_broadcast(&p->state_cv);
    pthread_mutex_unlock(&p->mu);
}

bool tpi_pool_forked(const tp_pool *p)
{
    return tpi_forked(p);
}

bool tpi_pool_abort_requested(const tp_pool *p)
{
    return p != NULL && atomic_load_explicit(&p->abort, memory_order_relaxed);
}

/* True if the calling thread is running a task of p (as one of its
 * workers, or inline on a submitting thread): waiting for p to go idle or
 * shut down would then wait for itself. */
static bool inside_pool(const tp_pool *p)
{
    return tpi_on_worker_of(p) || tpi_current_pool() == p;
}

/* ---- creation ------------------------------------------------------------------ */

static unsigned default_threads(void)
{
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    if (cpus < 1)
        cpus = 1;
    if (cpus > (long)(TP_MAX_THREADS / 2))
        cpus = TP_MAX_THREADS / 2;
    return (unsigned)cpus * 2;
}

/* A zeroed pool (its injectors' halves are on lines of their own);
 * free_pool_mem() frees it. */
static tp_pool *alloc_pool(void)
{
    void *block;
    tp_pool *p = tpi_calloc_aligned(sizeof(tp_pool), _Alignof(tp_pool), &block);
    if (p != NULL)
        p->block = block;
    return p;
}

static void free_pool_mem(tp_pool *p)
{
    tpi_free(p->workers_mem);
    tpi_free(p->block);
}

/* Stops and joins the first n workers, which have been started. */
static void stop_workers(tp_pool *p, unsigned n)
{
    pthread_mutex_lock(&p->mu);
    p->stopping = STOP_NOW;
    atomic_store(&p->stop_flag, STOP_NOW);
    pthread_mutex_unlock(&p->mu);
    for (unsigned i = 0; i < n; i++)
        tpi_parker_unpark(&p->workers[i].parker);
    for (unsigned i = 0; i < n; i++)
        pthread_join(p->workers[i].thread, NULL);
}

static void free_pool(tp_pool *p, unsigned parkers)
{
    tpi_timers_release(p);
    for (unsigned i = 0; i < parkers; i++)
        tpi_parker_destroy(&p->workers[i].parker);
    tpi_taskmem_release(p->mem);
    pthread_cond_destroy(&p->state_cv);
    pthread_cond_destroy(&p->space_cv);
    pthread_mutex_destroy(&p->inj_mu);
    pthread_mutex_destroy(&p->mu);
    free_pool_mem(p);
    tpi_futmem_pool_down();
}

/* The stack size a worker gets for opts->stack_size: rounded up to whole
 * pages; 0 if the option is unset; SIZE_MAX if it is below the system's
 * minimum (an error). */
static size_t stack_size_of(const tp_options *opts)
{
    size_t want = opts->stack_size;
    if (want == 0)
        return 0;
    if (want < (size_t)PTHREAD_STACK_MIN)
        return SIZE_MAX;
    long page = sysconf(_SC_PAGESIZE);
    size_t pg = page > 0 ? (size_t)page : 4096;
    if (want > SIZE_MAX - pg)
        return SIZE_MAX;
    return (want + pg - 1) / pg * pg;
}

/* The workers' array (a worker's deque is on cache lines of its own).
 * NULL when out of memory. */
static tpi_worker *alloc_workers(tp_pool *p)
{
    return tpi_calloc_aligned(p->nthreads * sizeof(tpi_worker),
                          _Alignof(tpi_worker), &p->workers_mem);
}

/* Fills in a zeroed pool from valid options; nothing here can fail. */
static void init_fields(tp_pool *p, const tp_options *opts)
{
    tpi_fork_install();
    tpi_future_fork_install();
    p->gen = tpi_fork_generation();
    p->target = opts->threads;
    p->nthreads = opts->max_threads; /* slots: threads.c */
    p->capacity = opts->queue_capacity;
    p->on_full = opts->on_full;
    p->submit_timeout_ms = opts->submit_timeout_ms;
    p->on_start = opts->on_thread_start;
    p->on_stop = opts->on_thread_stop;
    p->hook_ctx = opts->hook_ctx;
    p->stack_size = stack_size_of(opts);
    snprintf(p->name, sizeof p->name, "%s",
             opts->name != NULL ? opts->name : "tpool");
    for (int l = 0; l < TPI_LEVELS; l++)
        tpi_inject_init(&p->inj[l]);
    atomic_init(&p->sleepers, 0);
    atomic_init(&p->searching, 0);
    atomic_init(&p->state_waiters, 0);
    atomic_init(&p->space_waiters, 0);
    atomic_init(&p->queued, 0);
    atomic_init(&p->ext_submitted, 0);
    atomic_init(&p->stop_flag, STOP_NONE);
    atomic_init(&p->abort, false);
    atomic_init(&p->live_seen, 0);
    atomic_init(&p->timers, NULL);
}

/* Long for a reason: one goto ladder undoes a partial creation in reverse
 * order, in one place, rather than cleanup written at each failure. */
int tp_pool_create(tp_pool **out, const tp_options *caller_opts)
{
    tp_options o; /* the caller's options in the library's layout */
    if (out == NULL || tpi_options_read(caller_opts, &o) != 0 ||
        o.threads > TP_MAX_THREADS || o.max_threads > TP_MAX_THREADS ||
        o.queue_capacity > TP_MAX_CAPACITY ||
        (unsigned)o.on_full > (unsigned)TP_FULL_CALLER_RUNS ||
        stack_size_of(&o) == SIZE_MAX)
        return TP_EINVAL;
    if (o.threads == 0) { /* the default, within max_threads */
        o.threads = default_threads();
        if (o.max_threads != 0 && o.threads > o.max_threads)
            o.threads = o.max_threads;
    }
    if (o.max_threads == 0)
        o.max_threads = o.threads;
    if (o.threads > o.max_threads)
        return TP_EINVAL;
    const tp_options *opts = &o;

    tp_pool *p = alloc_pool();
    if (p == NULL)
        return TP_ENOMEM;
    init_fields(p, opts);
    if (opts->pin_threads && !tpi_threads_pick_cpus(p)) {
        free_pool_mem(p);
        return TP_EINVAL;
    }

    /* One cleanup ladder: each step undoes those before it. */
    int rc = TP_ENOMEM;
    unsigned parkers = 0, threads = 0;
    if ((p->workers = alloc_workers(p)) == NULL)
        goto fail_workers;
    if ((rc = pthread_mutex_init(&p->mu, NULL)) != 0)
        goto fail_mu;
    if ((rc = pthread_mutex_init(&p->inj_mu, NULL)) != 0)
        goto fail_inj_mu;
    if ((rc = tpi_cond_init(&p->space_cv)) != 0)
        goto fail_space_cv;
    if ((rc = tpi_cond_init(&p->state_cv)) != 0)
        goto fail_state_cv;
    if ((rc = tpi_taskmem_create(&p->mem)) != 0)
        goto fail_taskmem;
    tpi_futmem_pool_up(); /* undone by free_pool() */
    for (; parkers < p->nthreads; parkers++) {
        tpi_worker *w = &p->workers[parkers];
        tpi_deque_init(&w->dq);
        w->pool = p;
        w->index = parkers;
        tpi_fj_init(w); /* fork-join deque (fj.c) */
        w->own.rng = 0x9E3779B97F4A7C15ull * (parkers + 1);
        atomic_init(&w->retire, false);
        if ((rc = tpi_parker_init(&w->parker)) != 0)
            goto fail_threads;
    }
    rc = tpi_threads_start(p, p->target);
    threads = p->live;
    if (rc != 0)
        goto fail_threads;
    /* Handshake: return only once every worker is up (no polling). */
    pthread_mutex_lock(&p->mu);
    while (p->started_threads < threads)
        pthread_cond_wait(&p->state_cv, &p->mu);
    pthread_mutex_unlock(&p->mu);
    *out = p;
    return 0;

fail_threads:
    if (threads > 0)
        stop_workers(p, threads);
    free_pool(p, parkers); /* the locks and the workers' array too */
    return tpi_errno_to_tp(rc);
fail_taskmem:
    pthread_cond_destroy(&p->state_cv);
fail_state_cv:
    pthread_cond_destroy(&p->space_cv);
fail_space_cv:
    pthread_mutex_destroy(&p->inj_mu);
fail_inj_mu:
    pthread_mutex_destroy(&p->mu);
fail_mu:
fail_workers:
    free_pool_mem(p); /* workers_mem may be NULL */
    return rc == TP_ENOMEM ? rc : tpi_errno_to_tp(rc);
}

/* ---- idle wait ------------------------------------------------------------------- */

/* Waits until every task accepted so far is accounted for, or the
 * deadline passes (TP_ETIMEDOUT). */
static int wait_until_idle(tp_pool *p, const tpi_deadline *dl)
{
    int rc = 0;
    pthread_mutex_lock(&p->mu);
    atomic_fetch_add_explicit(&p->state_waiters, 1, memory_order_relaxed);
    tpi_fence(); /* see tpi_notify_if_idle() */
    while (!tpi_pool_idle(p)) {
        int w = tpi_cond_wait(&p->state_cv, &p->mu, dl);
        if (w == ETIMEDOUT && !tpi_pool_idle(p)) {
            rc = TP_ETIMEDOUT;
            break;
        }
    }
    atomic_fetch_sub_explicit(&p->state_waiters, 1, memory_order_relaxed);
    pthread_mutex_unlock(&p->mu);
    return rc;
}

/* Whether the caller may wait for p to go idle or stop: 0, or the error
 * (TP_EINVAL, TP_EFORKED, TP_EDEADLK: a task of p would wait for itself). */
static int check_waiter(const tp_pool *p)
{
    if (p == NULL)
        return TP_EINVAL;
    if (tpi_forked(p))
        return TP_EFORKED;
    return inside_pool(p) ? TP_EDEADLK : 0;
}

int tp_pool_wait_idle(tp_pool *p, int64_t timeout_ms)
{
    int rc = check_waiter(p);
    if (rc != 0)
        return rc;
    tpi_deadline dl = tpi_deadline_after_ms(timeout_ms);
    return wait_until_idle(p, &dl);
}

/* ---- shutdown ---------------------------------------------------------------------- */

/* Takes every task out of the injector and the deques into *queued, and
 * the tasks workers met during an abort into *aborted. */
static void sweep(tp_pool *p, tpi_task **queued, tpi_task **aborted)
{
    /* In queue order: the injector first to last, then each deque from
     * its oldest task. */
    tpi_list all = TPI_LIST_INIT;
    pthread_mutex_lock(&p->inj_mu);
    for (int l = 0; l < TPI_LEVELS; l++) {
        tpi_list got = tpi_inject_take_all(&p->inj[l]);
        tpi_list_splice(&all, &got);
    }
    pthread_mutex_unlock(&p->inj_mu);
    pthread_mutex_lock(&p->mu);
    *aborted = p->aborted;
    p->aborted = NULL;
    pthread_mutex_unlock(&p->mu);
    for (unsigned i = 0; i < p->nthreads; i++) {
        tpi_task *t;
        int rc;
        while ((rc = tpi_deque_steal(&p->workers[i].dq, &t)) !=
               TPI_STEAL_EMPTY) {
            if (rc == TPI_STEAL_OK)
                tpi_list_push(&all, t);
        }
    }
    /* Nothing is counted here: drop_all() does it. */
    *queued = all.head;
}

/* Hands the jobs of a carrier's batch that nobody claimed to drop;
 * returns how many. */
static size_t drop_batch(tpi_task *carrier, tp_drop_fn drop, void *ctx)
{
    tpi_batch *b = carrier->arg;
    size_t lo = tpi_batch_claim_rest(b);
    size_t left = lo < b->n ? b->n - lo : 0;
    for (size_t i = lo; i < b->n && drop != NULL; i++)
        drop(&b->jobs[i], ctx);
    tpi_batch_unref(b); /* b may be gone now */
    return left;
}

/* Hands each task of the list to drop (if not NULL) and lets go of it.
 * `settle`: the futures are pending and are cancelled here; only those
 * this call cancels are handed back (ones cancelled earlier, by
 * tp_future_cancel() or a deadline, went back to their caller then).
 * Futures are counted by their settle (future.h, Accounting); ordinary
 * tasks and the jobs of batches, which nobody else can settle, here. */
static void drop_all(tp_pool *p, tpi_task *list, bool settle, tp_drop_fn drop,
                     void *ctx)
{
    size_t plain = 0, jobs = 0;
    while (list != NULL) {
        tpi_task *t = list;
        list = t->next;
        if (!tpi_task_is_future(t)) {
            if (t->fn == tpi_batch_carrier) {
                jobs += drop_batch(t, drop, ctx);
            } else {
                plain++;
                /* The library's carriers hand back what they carry. */
                if (t->fn == tpi_timer_carrier) {
                    tpi_timer_dropped(t->arg, drop, ctx);
                } else if (t->fn == tpi_strand_runner) {
                    tpi_strand_dropped(t->arg, drop, ctx);
                } else if (drop != NULL) {
                    tp_job job = {t->fn, t->arg, tpi_task_id(t)};
                    drop(&job, ctx);
                }
            }
            tpi_task_free(p, NULL, t); /* the shutdown thread: no worker */
            continue;
        }
        tp_future *f = tpi_future_of(t);
        bool ours = !settle || tpi_future_settle(f, TP_PENDING, TP_CANCELLED);
        if (ours && drop != NULL && !tpi_future_has(f, TPI_K_INTERNAL)) {
            tp_job job = {t->fn, t->arg, tpi_task_id(t)};
            drop(&job, ctx);
        }
        tpi_future_pool_release(f);
    }
    if (plain + jobs == 0)
        return;
    tpi_release_room(p, plain);
    pthread_mutex_lock(&p->mu);
    p->ext_started += plain + jobs;
    p->ext_dropped += plain + jobs;
    pthread_mutex_unlock(&p->mu);
}

static void cancel_queued(tp_pool *p, tp_drop_fn drop, void *ctx)
{
    tpi_task *queued, *aborted;
    sweep(p, &queued, &aborted);
    drop_all(p, queued, true, drop, ctx);
    drop_all(p, aborted, false, drop, ctx);
    tpi_notify_if_idle(p);
}

/* Closes the injectors, raises the stop level, wakes every sleeper (they
 * find the pool stopping and exit) and every blocked submitter (they
 * fail). */
static void begin_stop(tp_pool *p, int level)
{
    /* Close the injectors first: a submit from outside that got in did so
     * before this, hence before `stopping` is set below, so a worker that
     * sees `stopping` (under mu) also sees that task queued and does not
     * exit without it. */
    for (int l = 0; l < TPI_LEVELS; l++)
        tpi_inject_close(&p->inj[l]);

    tpi_worker *wake = NULL;
    pthread_mutex_lock(&p->mu);
    if (level > p->stopping) {
        p->stopping = level;
        atomic_store_explicit(&p->stop_flag, level, memory_order_release);
    }
    if (level == STOP_NOW)
        atomic_store_explicit(&p->abort, true, memory_order_relaxed);
    tpi_worker *w;
    while ((w = tpi_idle_claim(p)) != NULL) {
        w->idle_next = wake;
        wake = w;
    }
    pthread_cond_broadcast(&p->space_cv);
    pthread_mutex_unlock(&p->mu);
    tpi_unpark_list(wake);
}

static int shutdown_pool(tp_pool *p, int level, tp_drop_fn drop, void *ctx)
{
    int rc = check_waiter(p);
    if (rc != 0)
        return rc;

    /* Timers first: once their thread is joined, nothing but the pool's
     * own tasks can queue work (timer.c says what becomes of them). */
    tpi_timers_shutdown(p, level == STOP_NOW ? drop : NULL, ctx);
    begin_stop(p, level);

    /* Cancel what is queued before joining: a running task may be waiting
     * for one of them. */
    if (level == STOP_NOW)
        cancel_queued(p, drop, ctx);

    pthread_mutex_lock(&p->mu);
    if (p->joining) {
        while (!p->joined)
            pthread_cond_wait(&p->state_cv, &p->mu);
        pthread_mutex_unlock(&p->mu);
        if (level == STOP_NOW)
            cancel_queued(p, drop, ctx);
        return 0;
    }
    p->joining = true;
    pthread_mutex_unlock(&p->mu);

    tpi_threads_join_all(p);

    /* Tasks that raced with the first sweep (pushed by a task just before
     * it saw the abort) are cancelled now, with no worker left.  When the
     * abort came from another thread while this one (a graceful shutdown)
     * was joining, that thread does it, after waiting for `joined`: drop is
     * called on the thread that asked for it. */
    if (level == STOP_NOW)
        cancel_queued(p, drop, ctx);

    pthread_mutex_lock(&p->mu);
    p->joined = true;
    pthread_cond_broadcast(&p->state_cv);
    pthread_mutex_unlock(&p->mu);
    return 0;
}

int tp_pool_shutdown(tp_pool *pool)
{
    return shutdown_pool(pool, STOP_GRACEFUL, NULL, NULL);
}

int tp_pool_shutdown_now(tp_pool *pool, tp_drop_fn drop, void *ctx)
{
    return shutdown_pool(pool, STOP_NOW, drop, ctx);
}

int tp_pool_destroy(tp_pool *p)
{
    if (p != NULL && tpi_forked(p)) {
        /* The child's copy: no threads to join, and its locks may have been
         * held by threads that do not exist here, so they are not touched.
         * Queued tasks are left as they are (their memory is the child's
         * copy of the parent's). */
        free_pool_mem(p);
        return 0;
    }
    int rc = shutdown_pool(p, STOP_GRACEFUL, NULL, NULL);
    if (rc != 0)
        return rc;
    /* The workers are gone, but a thread that settled a queued task
     * without running it (a cancel) may still be accounting for it in
     * tpi_pool_settled_unrun(): wait until every task is accounted for. */
    tpi_deadline forever = tpi_deadline_after_ms(-1);
    (void)wait_until_idle(p, &forever);
    free_pool(p, p->nthreads);
    return 0;
}
