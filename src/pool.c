/*
 * pool.c - the pool: workers, the task queue, submit, idle waits, shutdown.
 *
 * Architecture of the library
 * ---------------------------
 *   tpool.h      public API (the reference manual)
 *   pool.c       this file: pool life cycle, workers, queue, submit
 *   future.c     task/future object: state machine, settle, callbacks
 *   wait.c       waiting on futures (single, all, any); workers help
 *   waitset.c    futures in completion order (as_completed)
 *   parker.c     one-token sleep/wake used by every blocked thread
 *   queue.c      the public blocking queue (independent of the pool)
 *   alloc.c, clock.c, error.c   allocator, deadlines, error table
 *
 * The pool
 * --------
 * One mutex `mu` guards the FIFO of queued tasks (intrusive through
 * tp_future.next, so queueing allocates nothing), the counters, the list
 * of idle workers and the shutdown state.  Each worker sleeps on its own
 * parker; a submit that finds idle workers takes the most recently idled
 * one off the list (its cache is warmest) and unparks it after releasing
 * the lock.  A worker wakes only for work or shutdown: no polling, and an
 * idle pool uses no CPU.
 *
 * No lost wake-ups: a worker puts itself on the idle list and checks the
 * queue under `mu`; a submitter enqueues and takes a worker off the list
 * under `mu`; the parker keeps the token if the unpark comes before the
 * park.  So either the worker saw the task, or the submitter saw the
 * worker, and an unpark is never missed.
 *
 * Condition variables (all on `mu`, CLOCK_MONOTONIC):
 *   space_cv  submitters blocked on a full queue (signal: one per pop)
 *   state_cv  wait_idle callers, create's start-up handshake, and
 *             shutdown callers waiting for another shutdown to finish
 *             (broadcast: these waiters are few and rare)
 *
 * Lock order: pool `mu` -> parker mutex.  A future's table lock is never
 * taken while `mu` is held, and no user code runs under `mu` (tasks,
 * callbacks, hooks and drop functions all run after it is released).
 *
 * Task lifetime: a submitted future holds one reference for the pool (two
 * if the caller wants the future).  The worker that pops it runs it (or
 * finds it cancelled), settles it, then drops the pool's reference.  An
 * immediate shutdown detaches the queue, cancels each task and drops the
 * pool's references.
 *
 * Shutdown: `stopping` goes 0 -> GRACEFUL -> NOW (never back).  Workers
 * exit when the queue is empty and stopping != 0.  During a graceful
 * shutdown, tasks running on this pool may still submit (their children
 * are part of the work being drained); other threads get TP_ESHUTDOWN.
 * The first shutdown caller joins the threads; later callers wait on
 * state_cv for `joined`.
 */
#include "pool.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "alloc.h"
#include "clock.h"
#include "future.h"

/* How deeply a waiting worker may nest tasks it runs while it waits. */
#define TPI_MAX_HELP_DEPTH 128

enum { STOP_NONE = 0, STOP_GRACEFUL, STOP_NOW };

struct tpi_worker {
    tp_pool *pool;
    pthread_t thread;
    unsigned index;
    unsigned depth;        /* nested tasks run while waiting (own thread) */
    tpi_parker parker;
    tpi_worker *idle_next; /* idle list (pool mu) */
    tpi_worker *idle_prev;
    bool idle;             /* on the idle list (pool mu) */
    bool claimed;          /* taken off the list by a submitter (pool mu) */
};

struct tp_pool {
    pthread_mutex_t mu;
    pthread_cond_t space_cv;
    pthread_cond_t state_cv;
    tp_future *head, *tail; /* queued tasks, FIFO */
    size_t queued;
    size_t running;
    uint64_t submitted, completed, cancelled;
    unsigned space_waiters;
    unsigned state_waiters;
    unsigned started;      /* workers that finished their start hook */
    tpi_worker *idle;      /* most recently idled first */
    int stopping;
    bool joining, joined;
    _Atomic bool abort;    /* immediate shutdown: running tasks should stop */

    unsigned nthreads;
    tpi_worker *workers;
    size_t capacity;
    tp_full_policy on_full;
    int64_t submit_timeout_ms;
    tp_thread_hook on_start, on_stop;
    void *hook_ctx;
    char name[11]; /* prefix, leaving room for "-NNNN" in 15 bytes */
};

_Atomic int tpi_fail_thread_countdown;
static _Thread_local tpi_worker *tpi_self;

/* ---- idle list (pool mu held) -------------------------------------------- */

static void idle_push(tp_pool *p, tpi_worker *w)
{
    w->idle = true;
    w->claimed = false;
    w->idle_prev = NULL;
    w->idle_next = p->idle;
    if (p->idle != NULL)
        p->idle->idle_prev = w;
    p->idle = w;
}

static void idle_remove(tp_pool *p, tpi_worker *w)
{
    if (w->idle_prev != NULL)
        w->idle_prev->idle_next = w->idle_next;
    else
        p->idle = w->idle_next;
    if (w->idle_next != NULL)
        w->idle_next->idle_prev = w->idle_prev;
    w->idle = false;
}

/* Takes one idle worker for new work; the caller unparks it after
 * releasing mu. */
static tpi_worker *idle_claim(tp_pool *p)
{
    tpi_worker *w = p->idle;
    if (w != NULL) {
        idle_remove(p, w);
        w->claimed = true;
    }
    return w;
}

/* ---- queue (pool mu held) -------------------------------------------------- */

static void notify_if_idle(tp_pool *p)
{
    if (p->queued == 0 && p->running == 0 && p->state_waiters > 0)
        pthread_cond_broadcast(&p->state_cv);
}

static bool in_queue_locked(const tp_pool *p, const tp_future *f)
{
    return f->prev != NULL || p->head == f;
}

/* Unlinks a queued task and counts it as running. */
static void take_locked(tp_pool *p, tp_future *f)
{
    if (f->prev != NULL)
        f->prev->next = f->next;
    else
        p->head = f->next;
    if (f->next != NULL)
        f->next->prev = f->prev;
    else
        p->tail = f->prev;
    f->next = f->prev = NULL;
    p->queued--;
    p->running++;
    if (p->space_waiters > 0)
        pthread_cond_signal(&p->space_cv);
}

/* Pops the oldest task and counts it as running. */
static tp_future *pop_locked(tp_pool *p)
{
    tp_future *f = p->head;
    if (f != NULL)
        take_locked(p, f);
    return f;
}

static void finish_locked(tp_pool *p, bool ran)
{
    p->running--;
    if (ran)
        p->completed++;
    else
        p->cancelled++;
    notify_if_idle(p);
}

/* Runs a popped task on this thread and drops the pool's reference.
 * Called without mu; returns whether the task ran (false: cancelled). */
static bool run_popped(tp_future *f)
{
    bool ran = tpi_future_run(f);
    tp_future_release(f);
    return ran;
}

/* ---- workers ------------------------------------------------------------------- */

static void *worker_main(void *arg)
{
    tpi_worker *w = arg;
    tp_pool *p = w->pool;
    tpi_self = w;

#if defined(__linux__) && defined(__GLIBC__)
    /* The kernel keeps 15 bytes of a thread's name. */
    char name[32];
    snprintf(name, sizeof name, "%s-%u", p->name, w->index);
    name[15] = '\0';
    pthread_setname_np(pthread_self(), name);
#endif
    if (p->on_start != NULL)
        p->on_start(w->index, p->hook_ctx);

    pthread_mutex_lock(&p->mu);
    p->started++;
    pthread_cond_broadcast(&p->state_cv);
    for (;;) {
        tp_future *f = pop_locked(p);
        if (f != NULL) {
            pthread_mutex_unlock(&p->mu);
            bool ran = run_popped(f);
            pthread_mutex_lock(&p->mu);
            finish_locked(p, ran);
            continue;
        }
        if (p->stopping != STOP_NONE)
            break;
        idle_push(p, w);
        pthread_mutex_unlock(&p->mu);
        tpi_deadline forever = tpi_deadline_after_ms(-1);
        tpi_parker_park(&w->parker, &forever);
        pthread_mutex_lock(&p->mu);
        if (w->idle) /* woken by something other than a submit */
            idle_remove(p, w);
    }
    pthread_mutex_unlock(&p->mu);

    if (p->on_stop != NULL)
        p->on_stop(w->index, p->hook_ctx);
    tpi_self = NULL;
    return NULL;
}

tpi_worker *tpi_worker_self(void)
{
    return tpi_self;
}

tpi_parker *tpi_worker_parker(tpi_worker *w)
{
    return &w->parker;
}

bool tpi_worker_can_help(const tpi_worker *w)
{
    return w->depth < TPI_MAX_HELP_DEPTH;
}

bool tpi_worker_help(tpi_worker *w)
{
    tp_pool *p = w->pool;
    pthread_mutex_lock(&p->mu);
    tp_future *f = pop_locked(p);
    pthread_mutex_unlock(&p->mu);
    if (f == NULL)
        return false;
    w->depth++;
    bool ran = run_popped(f);
    w->depth--;
    pthread_mutex_lock(&p->mu);
    finish_locked(p, ran);
    pthread_mutex_unlock(&p->mu);
    return true;
}

bool tpi_worker_run_queued(tpi_worker *w, tp_future *f)
{
    tp_pool *p = w->pool;
    /* A pending task's pool is alive (pending tasks are in its queue), and
     * f->pool never changes; a task of another pool is left alone. */
    if (f->pool != p ||
        tpi_state_of(atomic_load_explicit(&f->state, memory_order_relaxed)) !=
            TP_PENDING)
        return false;
    pthread_mutex_lock(&p->mu);
    bool take = in_queue_locked(p, f);
    if (take)
        take_locked(p, f);
    pthread_mutex_unlock(&p->mu);
    if (!take)
        return false;
    /* The queue's reference now belongs to this thread. */
    bool ran = run_popped(f);
    pthread_mutex_lock(&p->mu);
    finish_locked(p, ran);
    pthread_mutex_unlock(&p->mu);
    return true;
}

bool tpi_worker_park_begin(tpi_worker *w)
{
    tp_pool *p = w->pool;
    pthread_mutex_lock(&p->mu);
    bool park = p->head == NULL;
    if (park)
        idle_push(p, w);
    pthread_mutex_unlock(&p->mu);
    return park;
}

void tpi_worker_park_end(tpi_worker *w)
{
    tp_pool *p = w->pool;
    tpi_worker *pass = NULL;
    pthread_mutex_lock(&p->mu);
    if (w->idle)
        idle_remove(p, w);
    else if (w->claimed && p->head != NULL)
        pass = idle_claim(p);
    w->claimed = false;
    pthread_mutex_unlock(&p->mu);
    if (pass != NULL)
        tpi_parker_unpark(&pass->parker);
}

bool tpi_pool_abort_requested(const tp_pool *p)
{
    return p != NULL && atomic_load_explicit(&p->abort, memory_order_relaxed);
}

/* True if the calling thread is one of p's workers. */
static bool on_worker_of(const tp_pool *p)
{
    return tpi_self != NULL && tpi_self->pool == p;
}

/* True if the calling thread is running a task of p (as one of its
 * workers, or inline on a submitting thread): waiting for p to go idle or
 * shut down would then wait for itself. */
static bool inside_pool(const tp_pool *p)
{
    tp_future *cur = tpi_current_task();
    return on_worker_of(p) || (cur != NULL && cur->pool == p);
}

/* ---- creation -------------------------------------------------------------- */

int tp_options_init(tp_options *opts)
{
    if (opts == NULL)
        return TP_EINVAL;
    memset(opts, 0, sizeof *opts);
    opts->name = "tpool";
    opts->on_full = TP_FULL_BLOCK;
    opts->submit_timeout_ms = -1;
    return 0;
}

static unsigned default_threads(void)
{
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    if (cpus < 1)
        cpus = 1;
    if (cpus > (long)(TP_MAX_THREADS / 2))
        cpus = TP_MAX_THREADS / 2;
    return (unsigned)cpus * 2;
}

static int create_thread(tpi_worker *w)
{
    int countdown = atomic_load(&tpi_fail_thread_countdown);
    while (countdown > 0) {
        if (atomic_compare_exchange_weak(&tpi_fail_thread_countdown,
                                         &countdown, countdown - 1)) {
            if (countdown == 1)
                return EAGAIN;
            break;
        }
    }
    return pthread_create(&w->thread, NULL, worker_main, w);
}

/* Stops and joins the first n workers, which have been started. */
static void stop_workers(tp_pool *p, unsigned n)
{
    pthread_mutex_lock(&p->mu);
    p->stopping = STOP_NOW;
    pthread_mutex_unlock(&p->mu);
    for (unsigned i = 0; i < n; i++)
        tpi_parker_unpark(&p->workers[i].parker);
    for (unsigned i = 0; i < n; i++)
        pthread_join(p->workers[i].thread, NULL);
}

static void free_pool(tp_pool *p, unsigned parkers)
{
    for (unsigned i = 0; i < parkers; i++)
        tpi_parker_destroy(&p->workers[i].parker);
    pthread_cond_destroy(&p->state_cv);
    pthread_cond_destroy(&p->space_cv);
    pthread_mutex_destroy(&p->mu);
    tpi_free(p->workers);
    tpi_free(p);
}

static int errno_to_tp(int err)
{
    return err == ENOMEM ? TP_ENOMEM : TP_EAGAIN;
}

int tp_pool_create(tp_pool **out, const tp_options *opts)
{
    tp_options defaults;
    if (opts == NULL) {
        tp_options_init(&defaults);
        opts = &defaults;
    }
    if (out == NULL || opts->threads > TP_MAX_THREADS ||
        opts->queue_capacity > TP_MAX_CAPACITY ||
        (unsigned)opts->on_full > (unsigned)TP_FULL_CALLER_RUNS)
        return TP_EINVAL;

    tp_pool *p = tpi_calloc(1, sizeof *p);
    if (p == NULL)
        return TP_ENOMEM;
    p->nthreads = opts->threads != 0 ? opts->threads : default_threads();
    p->capacity = opts->queue_capacity;
    p->on_full = opts->on_full;
    p->submit_timeout_ms = opts->submit_timeout_ms;
    p->on_start = opts->on_thread_start;
    p->on_stop = opts->on_thread_stop;
    p->hook_ctx = opts->hook_ctx;
    snprintf(p->name, sizeof p->name, "%s",
             opts->name != NULL ? opts->name : "tpool");
    atomic_init(&p->abort, false);

    p->workers = tpi_calloc(p->nthreads, sizeof *p->workers);
    if (p->workers == NULL) {
        tpi_free(p);
        return TP_ENOMEM;
    }
    int rc = pthread_mutex_init(&p->mu, NULL);
    if (rc != 0) {
        tpi_free(p->workers);
        tpi_free(p);
        return errno_to_tp(rc);
    }
    if ((rc = tpi_cond_init(&p->space_cv)) != 0) {
        pthread_mutex_destroy(&p->mu);
        tpi_free(p->workers);
        tpi_free(p);
        return errno_to_tp(rc);
    }
    if ((rc = tpi_cond_init(&p->state_cv)) != 0) {
        pthread_cond_destroy(&p->space_cv);
        pthread_mutex_destroy(&p->mu);
        tpi_free(p->workers);
        tpi_free(p);
        return errno_to_tp(rc);
    }
    for (unsigned i = 0; i < p->nthreads; i++) {
        tpi_worker *w = &p->workers[i];
        w->pool = p;
        w->index = i;
        if ((rc = tpi_parker_init(&w->parker)) != 0) {
            free_pool(p, i);
            return errno_to_tp(rc);
        }
    }
    for (unsigned i = 0; i < p->nthreads; i++) {
        if ((rc = create_thread(&p->workers[i])) != 0) {
            stop_workers(p, i);
            free_pool(p, p->nthreads);
            return errno_to_tp(rc);
        }
    }
    /* Handshake: return only once every worker is up (no polling). */
    pthread_mutex_lock(&p->mu);
    while (p->started < p->nthreads)
        pthread_cond_wait(&p->state_cv, &p->mu);
    pthread_mutex_unlock(&p->mu);
    *out = p;
    return 0;
}

unsigned tp_pool_size(const tp_pool *p)
{
    return p == NULL ? 0 : p->nthreads;
}

/* ---- submit -------------------------------------------------------------------- */

/* Appends the chain first..last (n tasks) and claims up to n idle workers
 * into *wake (a list through idle_next).  mu held. */
static void enqueue_locked(tp_pool *p, tp_future *first, tp_future *last,
                           size_t n, tpi_worker **wake)
{
    last->next = NULL;
    first->prev = p->tail;
    if (p->tail != NULL)
        p->tail->next = first;
    else
        p->head = first;
    p->tail = last;
    p->queued += n;
    p->submitted += n;
    for (size_t i = 0; i < n; i++) {
        tpi_worker *w = idle_claim(p);
        if (w == NULL)
            break;
        w->idle_next = *wake;
        *wake = w;
    }
}

static void unpark_all(tpi_worker *wake)
{
    while (wake != NULL) {
        tpi_worker *next = wake->idle_next;
        tpi_parker_unpark(&wake->parker);
        wake = next;
    }
}

/* Runs f on the calling thread, counted as submitted and run.  Called
 * without mu.  Consumes the pool's reference. */
static void run_inline(tp_pool *p, tp_future *f)
{
    pthread_mutex_lock(&p->mu);
    p->submitted++;
    p->running++;
    pthread_mutex_unlock(&p->mu);
    bool ran = run_popped(f);
    pthread_mutex_lock(&p->mu);
    finish_locked(p, ran);
    pthread_mutex_unlock(&p->mu);
}

enum { ROOM_OK = 0, ROOM_INLINE = 1 };

/* Makes sure the queue may take one more task.  mu held (released while it
 * waits on space_cv).  Returns ROOM_OK, ROOM_INLINE (the caller must run
 * the task itself), or a TP_E* code.  `worker`: the caller is a worker of
 * p.  *dl is computed on the first wait only, so that a long batch waits
 * at most submit_timeout_ms in all. */
static int wait_for_room(tp_pool *p, bool worker, tpi_deadline *dl,
                         bool *have_dl)
{
    for (;;) {
        if (p->stopping == STOP_NOW ||
            (p->stopping == STOP_GRACEFUL && !worker))
            return TP_ESHUTDOWN;
        if (p->capacity == 0 || p->queued < p->capacity)
            return ROOM_OK;
        /* A task of this pool must not block on its own pool's queue: all
         * workers could end up waiting for room only they can make. */
        if (worker || p->on_full == TP_FULL_CALLER_RUNS)
            return ROOM_INLINE;
        if (p->on_full == TP_FULL_FAIL)
            return TP_EFULL;
        if (!*have_dl) {
            *dl = tpi_deadline_after_ms(p->submit_timeout_ms);
            *have_dl = true;
        }
        p->space_waiters++;
        int rc = tpi_cond_wait(&p->space_cv, &p->mu, dl);
        p->space_waiters--;
        if (rc == ETIMEDOUT && p->queued >= p->capacity &&
            p->stopping == STOP_NONE)
            return TP_EFULL;
    }
}

static int submit_one(tp_pool *p, tp_task_fn fn, void *arg, tp_future **out)
{
    if (p == NULL || fn == NULL)
        return TP_EINVAL;
    tp_future *f = tpi_future_new(fn, arg, p, out != NULL ? 2 : 1);
    if (f == NULL)
        return TP_ENOMEM;

    bool worker = on_worker_of(p);
    bool have_dl = false;
    tpi_deadline dl;
    tpi_worker *wake = NULL;
    pthread_mutex_lock(&p->mu);
    int rc = wait_for_room(p, worker, &dl, &have_dl);
    if (rc == ROOM_OK)
        enqueue_locked(p, f, f, 1, &wake);
    pthread_mutex_unlock(&p->mu);

    if (rc < 0) {
        tpi_future_discard(f);
        return rc;
    }
    if (out != NULL)
        *out = f;
    if (rc == ROOM_INLINE)
        run_inline(p, f);
    else
        unpark_all(wake);
    return 0;
}

int tp_submit(tp_pool *pool, tp_task_fn fn, void *arg)
{
    return submit_one(pool, fn, arg, NULL);
}

int tp_submit_future(tp_pool *pool, tp_task_fn fn, void *arg, tp_future **out)
{
    if (out == NULL)
        return TP_EINVAL;
    return submit_one(pool, fn, arg, out);
}

/* Allocates futures for jobs[0..n) as a chain; stops at the first
 * allocation failure.  Returns how many were made. */
static size_t make_chain(tp_pool *p, tp_job *jobs, size_t n, bool want,
                         tp_future **first, tp_future **last)
{
    size_t made = 0;
    *first = *last = NULL;
    for (; made < n; made++) {
        tp_future *f = tpi_future_new(jobs[made].fn, jobs[made].arg, p,
                                      want ? 2 : 1);
        if (f == NULL)
            break;
        f->prev = *last;
        if (*last != NULL)
            (*last)->next = f;
        else
            *first = f;
        *last = f;
    }
    return made;
}

int tp_submit_batch(tp_pool *p, tp_job *jobs, size_t n, tp_future **futures,
                    size_t *accepted)
{
    if (accepted != NULL)
        *accepted = 0;
    if (p == NULL || (jobs == NULL && n > 0))
        return TP_EINVAL;
    for (size_t i = 0; i < n; i++)
        if (jobs[i].fn == NULL)
            return TP_EINVAL;
    if (futures != NULL)
        for (size_t i = 0; i < n; i++)
            futures[i] = NULL;

    tp_future *first, *last;
    size_t made = make_chain(p, jobs, n, futures != NULL, &first, &last);
    int rc = made < n ? TP_ENOMEM : 0;

    bool worker = on_worker_of(p);
    bool have_dl = false;
    tpi_deadline dl;
    size_t done = 0; /* accepted so far, in order */
    pthread_mutex_lock(&p->mu);
    while (done < made) {
        int room = wait_for_room(p, worker, &dl, &have_dl);
        if (room < 0) {
            rc = room;
            break;
        }
        tp_future *f = first;
        if (room == ROOM_INLINE) {
            first = f->next;
            f->next = NULL;
            if (first != NULL)
                first->prev = NULL;
            jobs[done].id = f->id;
            if (futures != NULL)
                futures[done] = f;
            done++;
            pthread_mutex_unlock(&p->mu);
            run_inline(p, f);
            pthread_mutex_lock(&p->mu);
            continue;
        }
        /* Take as many as fit, in one splice. */
        size_t fit = made - done;
        if (p->capacity != 0 && p->capacity - p->queued < fit)
            fit = p->capacity - p->queued;
        tp_future *end = f;
        for (size_t i = 0;; i++) {
            jobs[done + i].id = end->id;
            if (futures != NULL)
                futures[done + i] = end;
            if (i + 1 == fit)
                break;
            end = end->next;
        }
        first = end->next;
        if (first != NULL)
            first->prev = NULL;
        tpi_worker *wake = NULL;
        enqueue_locked(p, f, end, fit, &wake);
        done += fit;
        if (wake != NULL) {
            pthread_mutex_unlock(&p->mu);
            unpark_all(wake);
            pthread_mutex_lock(&p->mu);
        }
    }
    pthread_mutex_unlock(&p->mu);

    /* Whatever was made but not accepted is discarded. */
    while (first != NULL && done < made) {
        tp_future *next = first->next;
        tpi_future_discard(first);
        first = next;
        made--;
    }
    if (accepted != NULL)
        *accepted = done;
    return rc;
}

/* ---- queries and idle wait ------------------------------------------------------- */

int tp_pool_stats_get(tp_pool *p, tp_pool_stats *s)
{
    if (p == NULL || s == NULL)
        return TP_EINVAL;
    pthread_mutex_lock(&p->mu);
    s->threads = p->nthreads;
    s->queued = p->queued;
    s->running = p->running;
    s->submitted = p->submitted;
    s->completed = p->completed;
    s->cancelled = p->cancelled;
    pthread_mutex_unlock(&p->mu);
    return 0;
}

int tp_pool_wait_idle(tp_pool *p, int64_t timeout_ms)
{
    if (p == NULL)
        return TP_EINVAL;
    if (inside_pool(p))
        return TP_EDEADLK;
    tpi_deadline dl = tpi_deadline_after_ms(timeout_ms);
    int rc = 0;
    pthread_mutex_lock(&p->mu);
    while (p->queued != 0 || p->running != 0) {
        p->state_waiters++;
        int w = tpi_cond_wait(&p->state_cv, &p->mu, &dl);
        p->state_waiters--;
        if (w == ETIMEDOUT && (p->queued != 0 || p->running != 0)) {
            rc = TP_ETIMEDOUT;
            break;
        }
    }
    pthread_mutex_unlock(&p->mu);
    return rc;
}

/* ---- shutdown ---------------------------------------------------------------------- */

static int shutdown_pool(tp_pool *p, int level, tp_drop_fn drop, void *ctx)
{
    if (p == NULL)
        return TP_EINVAL;
    if (inside_pool(p))
        return TP_EDEADLK;

    tp_future *detached = NULL;
    tpi_worker *wake = NULL;
    pthread_mutex_lock(&p->mu);
    if (level > p->stopping)
        p->stopping = level;
    if (level == STOP_NOW) {
        atomic_store_explicit(&p->abort, true, memory_order_relaxed);
        detached = p->head;
        p->head = p->tail = NULL;
        p->queued = 0;
        for (tp_future *f = detached; f != NULL; f = f->next)
            f->prev = NULL; /* no longer "in the queue" */
        notify_if_idle(p);
    }
    /* Idle workers wake, find the queue empty and the pool stopping, and
     * exit; blocked submitters wake and fail. */
    tpi_worker *w;
    while ((w = idle_claim(p)) != NULL) {
        w->idle_next = wake;
        wake = w;
    }
    pthread_cond_broadcast(&p->space_cv);
    pthread_mutex_unlock(&p->mu);
    unpark_all(wake);

    uint64_t cancelled = 0;
    while (detached != NULL) {
        tp_future *f = detached;
        detached = f->next;
        if (tpi_future_settle(f, TP_PENDING, TP_CANCELLED)) {
            if (drop != NULL) {
                tp_job job = {f->fn, f->arg, f->id};
                drop(&job, ctx);
            }
        }
        cancelled++;
        tp_future_release(f);
    }

    pthread_mutex_lock(&p->mu);
    p->cancelled += cancelled;
    if (p->joining) {
        while (!p->joined) {
            p->state_waiters++;
            pthread_cond_wait(&p->state_cv, &p->mu);
            p->state_waiters--;
        }
        pthread_mutex_unlock(&p->mu);
        return 0;
    }
    p->joining = true;
    pthread_mutex_unlock(&p->mu);

    for (unsigned i = 0; i < p->nthreads; i++)
        pthread_join(p->workers[i].thread, NULL);

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
    int rc = shutdown_pool(p, STOP_GRACEFUL, NULL, NULL);
    if (rc != 0)
        return rc;
    free_pool(p, p->nthreads);
    return 0;
}
