/*
 * pool.c - the pool: workers, scheduling, submit, idle waits, shutdown.
 *
 * Architecture of the library
 * ---------------------------
 *   tpool.h      public API (the reference manual)
 *   pool.c       this file: pool life cycle, workers, the scheduler, submit
 *   deque.h      a worker's lock-free work-stealing deque (Chase-Lev)
 *   future.c     task/future object: state machine, settle, callbacks
 *   wait.c       waiting on futures (single, all, any); workers help
 *   waitset.c    futures in completion order (as_completed)
 *   parker.c     one-token sleep/wake used by every blocked thread
 *   queue.c      the public blocking queue (independent of the pool)
 *   alloc.c, clock.c, error.c   allocator, deadlines, error table
 *
 * Scheduling
 * ----------
 * Each worker owns a deque.  A task submitted by a worker of the pool (a
 * task spawning children) is pushed on that worker's deque: no lock, no
 * shared cache line.  A task submitted from any other thread goes to the
 * injector, a FIFO under the pool mutex `mu`.  A worker looks for work in
 * this order: its own deque (newest first), the injector (taking a batch
 * at once, which it pushes on its own deque where others can steal it),
 * then the other workers' deques, oldest first, starting at a random
 * victim.  A worker that finds nothing sleeps on its parker.
 *
 * Sleeping and waking (no lost wake-ups, no thundering herd)
 * ---------------------------------------------------------
 * The idle list (under `mu`) holds the workers that sleep, and `sleepers`
 * (an atomic copy of its length) lets a submitter decide without the lock
 * whether anyone needs waking.  A submitter wakes at most one sleeper per
 * task, and only if there is one.
 *
 *   worker about to sleep          submitter
 *   ---------------------          ---------
 *   lock mu                        push task (deque or injector)
 *   sleepers++          (W1)       fence(seq_cst)        (F2)
 *   fence(seq_cst)      (F1)       read sleepers         (R2)
 *   look at every queue (R1)       if > 0: lock mu, take one
 *   empty: join idle list,                 sleeper off the list, unlock,
 *          unlock, park                    unpark it
 *
 * Claim: a task pushed by a submitter is either seen by the worker's last
 * look (R1) or the worker is woken.  The fences F1 and F2 are ordered one
 * way or the other in the single total order of seq_cst operations.  If F1
 * comes first, R2 (after F2) sees W1: the submitter sees sleepers > 0,
 * takes the lock, and as the worker holds the lock from W1 until it is on
 * the idle list (or has given up sleeping), the submitter finds it there
 * and unparks it; the parker keeps the token even if the worker has not
 * parked yet.  If F2 comes first, R1 (after F1) sees the push, and the
 * worker does not sleep.  Injector pushes happen under `mu`, which gives
 * the same guarantee more simply.
 *
 * A waiting worker (wait.c) also sleeps on the idle list, so new work wakes
 * it as well as the future it waits for; it is not counted as idle for
 * tp_pool_wait_idle (it is running a task).
 *
 * Locks: `mu` guards the injector, the idle list, the counters of tasks
 * run on submitting threads, and the shutdown state.  Order: `mu` -> a
 * parker's mutex.  A future's table lock is never taken under `mu`, and no
 * user code runs under `mu`.
 *
 * Counting: each worker counts what it submitted, started and finished in
 * its own counters (written only by itself); tasks submitted or run by
 * other threads are counted under `mu`.  tp_pool_stats_get() sums them.
 * A bounded pool also keeps an atomic count of queued tasks to enforce
 * the capacity; an unbounded pool pays nothing for it.
 *
 * Task lifetime: a submitted future holds one reference for the pool (two
 * if the caller wants the future).  Whoever takes it from a queue runs it
 * (or finds it cancelled), settles it, and drops the pool's reference.
 *
 * Shutdown: `stopping` goes 0 -> GRACEFUL -> NOW.  In a graceful shutdown
 * workers keep running tasks (tasks of this pool may still submit: their
 * children are part of the work) and exit once they find no work.  An
 * immediate shutdown sets `abort`: workers cancel whatever they take
 * instead of running it, and the shutdown thread takes every queued task
 * out of the injector and the deques, cancels it and hands it to the drop
 * function; after joining the workers it sweeps once more for tasks that
 * raced with it.
 */
#include "pool.h"

#include <errno.h>
#include <limits.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "alloc.h"
#include "clock.h"
#include "deque.h"
#include "fence.h"
#include "fork.h"
#include "future.h"

/* How deeply a waiting worker may nest tasks taken from elsewhere than its
 * own deque (its own deque holds its own children: running them costs the
 * stack a direct call would). */
#define TPI_MAX_HELP_DEPTH 128
/* Most tasks a worker moves from the injector to its deque at once. */
#define TPI_INJECT_BATCH 32
/* Batches of at least this many ordinary tasks use one block of jobs and
 * a few carrier tasks (see tpi_batch). */
#define TPI_BATCH_MIN 8
/* Rounds of looking for work before a worker goes to sleep.  Measured
 * with one outside thread submitting to 2 workers on 2 cores (threads
 * outnumber cores): 4 rounds gave ~200 ns per task where 32 gave 250-1,600
 * (searchers yielding took the CPU the submitter needed), with the same
 * sporadic latency and fork-join times. */
#define TPI_SEARCH_ROUNDS 4

enum { STOP_NONE = 0, STOP_GRACEFUL, STOP_NOW };

#define TPI_LEVELS 3 /* TP_PRIORITY_HIGH, _NORMAL, _LOW */
/* A worker serves the low level before normal work once it has started
 * this many tasks since it last did: low tasks cannot starve. */
#define TPI_LOW_EVERY 32

/* A FIFO of tasks submitted from outside the pool, or at a priority other
 * than normal.  The list is guarded by the pool's mu; len is also read
 * without it, as a hint. */
typedef struct tpi_injector {
    tp_future *head, *tail;
    _Atomic size_t len;
} tpi_injector;

/* What a worker is doing, for tp_pool_snapshot_get() and wait-cycle
 * detection: one frame per task on its stack (a waiting task runs others
 * nested), each with the task's id and the id of the future it waits for.
 * Written only by the worker, with relaxed stores (no clock is read, no
 * lock taken); readers get a picture that is exact for tasks that stay
 * blocked, which is what a debugger of a stuck pool needs. */
#define TPI_FRAMES 64

typedef struct tpi_frame {
    _Atomic uint64_t task;
    _Atomic uint64_t waiting_on;
} tpi_frame;

typedef struct tpi_counters {
    _Atomic uint64_t stolen;    /* taken from another worker's deque */
    _Atomic uint64_t submitted; /* pushed by this thread */
    _Atomic uint64_t started;   /* taken to run (ran or found cancelled) */
    _Atomic uint64_t completed; /* ran */
    _Atomic uint64_t dropped;   /* found cancelled, or cancelled by abort */
} tpi_counters;

struct tpi_worker {
    tpi_deque dq; /* first: cache-line aligned */
    tp_pool *pool;
    pthread_t thread;
    unsigned index;
    unsigned depth; /* tasks from elsewhere run nested in waits */
    unsigned since_low; /* tasks started since the low level was served */
    uint64_t rng;
    tpi_counters count;
    unsigned nframes;          /* own thread only */
    _Atomic unsigned depth_seen; /* nframes, for readers */
    tpi_frame frames[TPI_FRAMES];
    uint64_t seen_task;        /* snapshot bookkeeping (pool mu) */
    uint64_t seen_since_ns;
    tpi_cache cache;
    tpi_parker parker;
    tpi_worker *idle_next; /* idle list (pool mu) */
    tpi_worker *idle_prev;
    bool idle;       /* on the idle list (mu) */
    bool claimed;    /* taken off the list to run new work (mu) */
};

struct tp_pool {
    pthread_mutex_t mu;
    pthread_cond_t space_cv;    /* submitters blocked on a full queue */
    pthread_cond_t state_cv;    /* start-up, idle waits, shutdown */
    tpi_injector inj[TPI_LEVELS]; /* one per priority level (mu) */
    _Atomic unsigned sleepers;  /* length of the idle list */
    _Atomic unsigned searching; /* awake workers looking for work */
    tpi_worker *idle;           /* most recently idled first */
    unsigned started_threads;   /* workers up (mu) */
    _Atomic unsigned state_waiters; /* changed under mu, read anywhere */
    _Atomic unsigned space_waiters;
    _Atomic size_t queued;      /* bounded pools only */
    uint64_t ext_submitted;     /* by non-workers (mu) */
    /* Tasks run inline by submitters, and tasks settled without running
     * by any thread (tpi_pool_settled_unrun) (mu). */
    uint64_t ext_started, ext_completed, ext_dropped;
    tp_future *aborted;         /* cancelled by workers during abort (mu) */
    int stopping;               /* (mu); workers read stop_flag */
    _Atomic int stop_flag;
    _Atomic bool abort;
    bool joining, joined;

    unsigned gen; /* process generation (fork.c) it was created in */
    unsigned nthreads;
    tpi_worker *workers;        /* aligned, inside workers_mem */
    void *workers_mem;
    size_t capacity;
    tp_full_policy on_full;
    int64_t submit_timeout_ms;
    tp_thread_hook on_start, on_stop;
    void *hook_ctx;
    size_t stack_size;          /* 0: the system's default */
    char name[16]; /* prefix: the kernel keeps 15 bytes of a name */
};

_Atomic int tpi_fail_thread_countdown;
#ifdef TPI_TSAN
_Atomic int tpi_fence_word;
#endif
static _Thread_local tpi_worker *tpi_self;

static inline uint64_t load64(_Atomic uint64_t *a)
{
    return atomic_load_explicit(a, memory_order_relaxed);
}

/* Single-writer counter: a load and a store, no read-modify-write.  The
 * release store lets a reader that sees a task finished also see it
 * submitted (see pool_idle()). */
static inline void bump(_Atomic uint64_t *a, uint64_t n)
{
    atomic_store_explicit(a, load64(a) + n, memory_order_release);
}

/* ---- idle list (mu held) ------------------------------------------------ */

static void idle_push(tp_pool *p, tpi_worker *w)
{
    w->idle = true;
    w->claimed = false;
    atomic_fetch_add_explicit(&p->sleepers, 1, memory_order_relaxed);
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
    atomic_fetch_sub_explicit(&p->sleepers, 1, memory_order_relaxed);
}

/* Takes one sleeper off the list for new work; the caller unparks it
 * after releasing mu. */
static tpi_worker *idle_claim(tp_pool *p)
{
    tpi_worker *w = p->idle;
    if (w != NULL) {
        idle_remove(p, w);
        w->claimed = true;
    }
    return w;
}

static void unpark_list(tpi_worker *wake)
{
    while (wake != NULL) {
        tpi_worker *next = wake->idle_next;
        tpi_parker_unpark(&wake->parker);
        wake = next;
    }
}

/* Wakes up to n sleepers, if there are any and no worker is already
 * searching (a searcher will find the tasks and wake the next one: see the
 * claim at the top). */
static void wake_some(tp_pool *p, size_t n)
{
    tpi_fence(); /* F2 */
    if (atomic_load_explicit(&p->sleepers, memory_order_relaxed) == 0 ||
        atomic_load_explicit(&p->searching, memory_order_relaxed) > 0)
        return;
    tpi_worker *wake = NULL, *w;
    pthread_mutex_lock(&p->mu);
    for (size_t i = 0; i < n && (w = idle_claim(p)) != NULL; i++) {
        w->idle_next = wake;
        wake = w;
    }
    pthread_mutex_unlock(&p->mu);
    unpark_list(wake);
}

static void wake_one(tp_pool *p)
{
    wake_some(p, 1);
}

/* ---- idleness -------------------------------------------------------------- */

/* Whether every task submitted so far has finished (nothing queued and
 * nothing running).  mu held (for the counters of other threads).
 *
 * Each count only grows, and a task is counted submitted before it is
 * counted finished (release/acquire through the queues and bump()).  The
 * finished counts are all read before the submitted ones; so if their sums
 * are equal, then at the moment the last finished count was read, all the
 * tasks submitted by then had finished: the pool was idle then. */
static bool pool_idle(tp_pool *p)
{
    uint64_t finished = p->ext_completed + p->ext_dropped;
    for (unsigned i = 0; i < p->nthreads; i++) {
        tpi_counters *c = &p->workers[i].count;
        finished += atomic_load_explicit(&c->completed, memory_order_acquire);
        finished += atomic_load_explicit(&c->dropped, memory_order_acquire);
    }
    uint64_t submitted = p->ext_submitted;
    for (unsigned i = 0; i < p->nthreads; i++)
        submitted += atomic_load_explicit(&p->workers[i].count.submitted,
                                          memory_order_acquire);
    return finished == submitted;
}

/* Wakes tp_pool_wait_idle() callers if the pool is idle.  Called by a
 * worker that ran out of local work and by threads that ran a task inline;
 * the fence pairs with the one in tp_pool_wait_idle() (either the waiter
 * sees the last task finished, or this sees the waiter). */
static void notify_if_idle(tp_pool *p)
{
    tpi_fence();
    if (atomic_load_explicit(&p->state_waiters, memory_order_relaxed) == 0)
        return;
    pthread_mutex_lock(&p->mu);
    if (pool_idle(p))
        pthread_cond_broadcast(&p->state_cv);
    pthread_mutex_unlock(&p->mu);
}

/* ---- capacity ----------------------------------------------------------------- */

/* A bounded pool: k tasks left the queue; wake a blocked submitter. */
static void release_room(tp_pool *p, size_t k)
{
    if (p->capacity == 0 || k == 0)
        return;
    atomic_fetch_sub_explicit(&p->queued, k, memory_order_seq_cst);
    if (atomic_load_explicit(&p->space_waiters, memory_order_seq_cst) > 0) {
        pthread_mutex_lock(&p->mu);
        pthread_cond_broadcast(&p->space_cv);
        pthread_mutex_unlock(&p->mu);
    }
}

/* ---- batches of ordinary tasks ---------------------------------------------------
 *
 * A batch of ordinary tasks (no futures wanted) in an unbounded pool does
 * not become n futures.  Its jobs are copied into one block, and a few
 * carrier tasks (at most one per worker) are queued instead; each carrier
 * claims chunks of jobs with one atomic add per chunk and runs them, so a
 * job costs a few nanoseconds instead of an allocation and a queue
 * operation.  Each job still runs exactly once, counts as one task in the
 * statistics and sees its own id in tp_task_id().  When an immediate
 * shutdown meets a carrier, the jobs nobody has claimed yet are claimed at
 * once and handed to the drop function one by one.  The last carrier to
 * finish frees the block.
 */

typedef struct tpi_batch {
    _Atomic size_t next;       /* first job not claimed yet */
    _Atomic unsigned carriers; /* carriers not finished: the last frees */
    size_t n;
    size_t chunk;
    tp_job jobs[];
} tpi_batch;

/* A carrier's fn: it marks carrier tasks and is never called (run_taken
 * recognises carriers and runs them itself). */
static void *batch_carrier(void *arg)
{
    return arg;
}

static void batch_unref(tpi_batch *b)
{
    if (atomic_fetch_sub_explicit(&b->carriers, 1, memory_order_acq_rel) == 1)
        tpi_free(b);
}

/* Claims every job not yet claimed: returns the first (n if none). */
static size_t batch_claim_rest(tpi_batch *b)
{
    return atomic_exchange_explicit(&b->next, b->n, memory_order_relaxed);
}

/* ---- running a task ----------------------------------------------------------- */

/* Runs (or, during an abort, cancels) a task this worker has taken, and
 * drops the pool's reference. */
static void run_carrier(tpi_worker *w, tp_future *f)
{
    tp_pool *p = w->pool;
    tpi_batch *b = f->arg;
    tpi_running_ctx outer = tpi_running_enter(f, 0);
    while (!atomic_load_explicit(&p->abort, memory_order_relaxed)) {
        size_t lo = atomic_fetch_add_explicit(&b->next, b->chunk,
                                              memory_order_relaxed);
        if (lo >= b->n)
            break;
        size_t hi = b->n - lo < b->chunk ? b->n : lo + b->chunk;
        bump(&w->count.started, hi - lo);
        for (size_t i = lo; i < hi; i++) {
            tpi_running_enter(f, b->jobs[i].id);
            b->jobs[i].fn(b->jobs[i].arg);
        }
        bump(&w->count.completed, hi - lo);
    }
    tpi_running_leave(outer);
    if (atomic_load_explicit(&p->abort, memory_order_relaxed) &&
        atomic_load_explicit(&b->next, memory_order_relaxed) < b->n) {
        /* Jobs left: the shutdown thread hands them to its drop function. */
        pthread_mutex_lock(&p->mu);
        f->next = p->aborted;
        p->aborted = f;
        pthread_mutex_unlock(&p->mu);
        return;
    }
    batch_unref(b);
    tp_future_release(f);
}

/* Frames: entered when a task starts on the worker, left when it ends. */
static void frame_enter(tpi_worker *w, uint64_t task)
{
    unsigned d = w->nframes++;
    if (d < TPI_FRAMES) {
        atomic_store_explicit(&w->frames[d].task, task, memory_order_relaxed);
        atomic_store_explicit(&w->frames[d].waiting_on, 0,
                              memory_order_relaxed);
    }
    atomic_store_explicit(&w->depth_seen, w->nframes, memory_order_release);
}

static void frame_leave(tpi_worker *w)
{
    w->nframes--;
    atomic_store_explicit(&w->depth_seen, w->nframes, memory_order_release);
}

uint64_t tpi_worker_set_waiting(tpi_worker *w, uint64_t id)
{
    unsigned d = w->nframes;
    if (d == 0 || d > TPI_FRAMES)
        return 0;
    return atomic_exchange_explicit(&w->frames[d - 1].waiting_on, id,
                                    memory_order_relaxed);
}

static void run_taken_framed(tpi_worker *w, tp_future *f);

static void run_taken(tpi_worker *w, tp_future *f)
{
    frame_enter(w, f->id);
    run_taken_framed(w, f);
    frame_leave(w);
}

static void run_taken_framed(tpi_worker *w, tp_future *f)
{
    tp_pool *p = w->pool;
    if (f->fn == batch_carrier) {
        run_carrier(w, f);
        return;
    }
    if (atomic_load_explicit(&p->abort, memory_order_relaxed)) {
        /* Cancelled here (the settle accounts for it) so that its waiters
         * wake now; handed to the drop function by the shutdown thread
         * later. */
        if (tpi_future_settle(f, TP_PENDING, TP_CANCELLED)) {
            pthread_mutex_lock(&p->mu);
            f->next = p->aborted;
            p->aborted = f;
            pthread_mutex_unlock(&p->mu);
        } else {
            tpi_future_pool_release(f);
        }
        return;
    }
    /* A task that missed its start deadline settles without running. */
    if (f->deadline_ns != 0 && tpi_now_ns() > f->deadline_ns)
        tpi_future_expire(f);
    /* Whoever settled it first (a cancel, the expiry above) counted it
     * and gave back its place; a task started here is counted here. */
    bool ran = tpi_future_start(f);
    if (ran) {
        bump(&w->count.started, 1);
        release_room(p, 1);
        tpi_future_execute(f);
    }
    tpi_future_pool_release(f);
    if (ran)
        bump(&w->count.completed, 1);
}

/* ---- finding work ---------------------------------------------------------------- */

static uint64_t next_rand(tpi_worker *w)
{
    /* xorshift64: cheap, and only needs to spread victims. */
    uint64_t x = w->rng;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return w->rng = x;
}

/* Takes tasks from the injector of a level: returns the first.  From the
 * normal level it takes a batch and pushes the rest on w's deque (empty
 * when this is called), where other workers can steal them; from the
 * other levels one task at a time, so that their order holds. */
static tp_future *take_injected(tpi_worker *w, int level)
{
    tp_pool *p = w->pool;
    tpi_injector *q = &p->inj[level];
    if (atomic_load_explicit(&q->len, memory_order_relaxed) == 0)
        return NULL;
    pthread_mutex_lock(&p->mu);
    size_t len = atomic_load_explicit(&q->len, memory_order_relaxed);
    size_t k = 1;
    if (level == TP_PRIORITY_NORMAL) {
        k = len / p->nthreads + 1;
        if (k > TPI_INJECT_BATCH)
            k = TPI_INJECT_BATCH;
    }
    if (k > len)
        k = len;
    tp_future *first = q->head, *last = first;
    for (size_t i = 1; i < k; i++)
        last = last->next;
    if (k > 0) {
        q->head = last->next;
        if (q->head == NULL)
            q->tail = NULL;
        atomic_store_explicit(&q->len, len - k, memory_order_relaxed);
    }
    pthread_mutex_unlock(&p->mu);
    if (k == 0)
        return NULL;
    last->next = NULL;
    tp_future *rest = first->next;
    first->next = NULL;
    if (rest == NULL)
        return first;
    /* The owner pops its deque newest first: push the rest last to first,
     * so that it runs them in submission order (thieves, taking the oldest
     * push, get the batch's last tasks). */
    tp_future *rev = NULL;
    while (rest != NULL) {
        tp_future *next = rest->next;
        rest->next = rev;
        rev = rest;
        rest = next;
    }
    while (rev != NULL) {
        tp_future *next = rev->next;
        rev->next = NULL;
        tpi_deque_push(&w->dq, rev); /* fits: the deque was empty */
        rev = next;
    }
    wake_one(p); /* others may steal the rest */
    return first;
}

static tp_future *steal_any(tpi_worker *w)
{
    tp_pool *p = w->pool;
    unsigned n = p->nthreads;
    if (n < 2)
        return NULL;
    unsigned start = (unsigned)(next_rand(w) % n);
    for (int round = 0; round < 2; round++) {
        bool retry = false;
        for (unsigned i = 0; i < n; i++) {
            tpi_worker *v = &p->workers[(start + i) % n];
            if (v == w)
                continue;
            tp_future *f;
            int rc = tpi_deque_steal(&v->dq, &f);
            if (rc == TPI_STEAL_OK) {
                bump(&w->count.stolen, 1);
                return f;
            }
            retry |= rc == TPI_STEAL_RETRY;
        }
        if (!retry)
            break;
    }
    return NULL;
}

static tp_future *counted(tpi_worker *w, tp_future *f)
{
    if (f != NULL)
        w->since_low = f->prio == TP_PRIORITY_LOW ? 0 : w->since_low + 1;
    return f;
}

/* Work a worker takes before its own: a low task if the low level is due
 * (TPI_LOW_EVERY starts since the last one, whatever they were: so the
 * bound holds under a stream of high tasks too), else a high one; then
 * its own deque. */
static tp_future *find_local(tpi_worker *w)
{
    tp_future *f = NULL;
    if (w->since_low >= TPI_LOW_EVERY)
        f = take_injected(w, TP_PRIORITY_LOW);
    if (f == NULL)
        f = take_injected(w, TP_PRIORITY_HIGH);
    if (f == NULL)
        f = tpi_deque_pop(&w->dq);
    return counted(w, f);
}

/* One look for work, in priority order: find_local(), then, if allowed,
 * the normal injector, the other workers' deques and the low level. */
static tp_future *find_work(tpi_worker *w, bool elsewhere)
{
    if (!elsewhere)
        return counted(w, tpi_deque_pop(&w->dq));
    tp_future *f = find_local(w);
    if (f != NULL)
        return f;
    if ((f = take_injected(w, TP_PRIORITY_NORMAL)) == NULL &&
        (f = steal_any(w)) == NULL)
        f = take_injected(w, TP_PRIORITY_LOW);
    return counted(w, f);
}

/* Whether any queue holds a task (R1 of the claim at the top). */
static bool work_visible(tp_pool *p)
{
    for (int l = 0; l < TPI_LEVELS; l++)
        if (atomic_load_explicit(&p->inj[l].len, memory_order_relaxed) > 0)
            return true;
    for (unsigned i = 0; i < p->nthreads; i++)
        if (tpi_deque_nonempty(&p->workers[i].dq))
            return true;
    return false;
}

/* ---- workers ------------------------------------------------------------------ */

/* Goes to sleep unless work has appeared or the pool is stopping.
 * Returns false when the worker should exit. */
static bool sleep_or_exit(tpi_worker *w)
{
    tp_pool *p = w->pool;
    pthread_mutex_lock(&p->mu);
    atomic_fetch_add_explicit(&p->sleepers, 1, memory_order_relaxed); /* W1 */
    tpi_fence();                         /* F1 */
    if (work_visible(p)) {                                             /* R1 */
        atomic_fetch_sub_explicit(&p->sleepers, 1, memory_order_relaxed);
        pthread_mutex_unlock(&p->mu);
        return true;
    }
    atomic_fetch_sub_explicit(&p->sleepers, 1, memory_order_relaxed);
    if (p->stopping != STOP_NONE) {
        pthread_mutex_unlock(&p->mu);
        return false;
    }
    idle_push(p, w);
    pthread_mutex_unlock(&p->mu);

    tpi_deadline forever = tpi_deadline_after_ms(-1);
    tpi_parker_park(&w->parker, &forever);

    pthread_mutex_lock(&p->mu);
    if (w->idle) /* woken by something other than a submit */
        idle_remove(p, w);
    pthread_mutex_unlock(&p->mu);
    return true;
}

static void *worker_main(void *arg)
{
    tpi_worker *w = arg;
    tp_pool *p = w->pool;
    tpi_self = w;
    tpi_cache_attach(&w->cache);

#if defined(__linux__) && defined(__GLIBC__)
    /* The kernel keeps 15 bytes of a thread's name. */
    char name[40];
    snprintf(name, sizeof name, "%s-%u", p->name, w->index);
    name[15] = '\0';
    pthread_setname_np(pthread_self(), name);
#endif
    if (p->on_start != NULL)
        p->on_start(w->index, p->hook_ctx);

    pthread_mutex_lock(&p->mu);
    p->started_threads++;
    pthread_cond_broadcast(&p->state_cv);
    pthread_mutex_unlock(&p->mu);

    for (;;) {
        tp_future *f = find_local(w);
        if (f == NULL) {
            /* Out of local work: perhaps the whole pool is. */
            notify_if_idle(p);
            /* Search before sleeping: a wake-up costs far more than a short
             * search when work arrives in bursts.  While a worker searches,
             * submitters need not wake anyone; yielding between rounds
             * leaves the CPU to them when threads outnumber cores. */
            atomic_fetch_add_explicit(&p->searching, 1, memory_order_seq_cst);
            for (int i = 0; i < TPI_SEARCH_ROUNDS && f == NULL; i++) {
                if (i > 0)
                    sched_yield();
                f = find_work(w, true);
                if (atomic_load_explicit(&p->stop_flag, memory_order_relaxed))
                    break;
            }
            atomic_fetch_sub_explicit(&p->searching, 1, memory_order_seq_cst);
            if (f == NULL) {
                if (!sleep_or_exit(w))
                    break;
                continue;
            }
            /* This searcher stops: if it was the last one and there is more
             * work, another worker should look. */
            if (work_visible(p))
                wake_one(p);
        }
        run_taken(w, f);
    }

    if (p->on_stop != NULL)
        p->on_stop(w->index, p->hook_ctx);
    tpi_cache_attach(NULL);
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

bool tpi_worker_help(tpi_worker *w)
{
    bool elsewhere = w->depth < TPI_MAX_HELP_DEPTH;
    tp_future *f = find_work(w, elsewhere);
    if (f == NULL)
        return false;
    w->depth++;
    run_taken(w, f);
    w->depth--;
    return true;
}

bool tpi_worker_park_begin(tpi_worker *w)
{
    tp_pool *p = w->pool;
    pthread_mutex_lock(&p->mu);
    atomic_fetch_add_explicit(&p->sleepers, 1, memory_order_relaxed);
    tpi_fence();
    bool park = !work_visible(p);
    atomic_fetch_sub_explicit(&p->sleepers, 1, memory_order_relaxed);
    if (park)
        idle_push(p, w);
    pthread_mutex_unlock(&p->mu);
    return park;
}

void tpi_worker_park_end(tpi_worker *w)
{
    tp_pool *p = w->pool;
    bool pass = false;
    pthread_mutex_lock(&p->mu);
    if (w->idle)
        idle_remove(p, w);
    else
        pass = w->claimed;
    w->claimed = false;
    pthread_mutex_unlock(&p->mu);
    /* Claimed for new work, but it may leave to finish its own task: hand
     * the wake-up on rather than leave the work waiting. */
    if (pass)
        wake_one(p);
}

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
        pool_idle(p))
        pthread_cond_broadcast(&p->state_cv);
    pthread_mutex_unlock(&p->mu);
}

bool tpi_pool_abort_requested(const tp_pool *p)
{
    return p != NULL && atomic_load_explicit(&p->abort, memory_order_relaxed);
}

/* A pool created before a fork() has no workers in the child. */
static bool forked(const tp_pool *p)
{
    return p->gen != tpi_fork_generation();
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

/* ---- creation ------------------------------------------------------------------ */

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
    tp_pool *p = w->pool;
    if (p->stack_size == 0)
        return pthread_create(&w->thread, NULL, worker_main, w);
    pthread_attr_t attr;
    int rc = pthread_attr_init(&attr);
    if (rc != 0)
        return rc;
    rc = pthread_attr_setstacksize(&attr, p->stack_size);
    if (rc == 0)
        rc = pthread_create(&w->thread, &attr, worker_main, w);
    pthread_attr_destroy(&attr);
    return rc;
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
    for (unsigned i = 0; i < parkers; i++)
        tpi_parker_destroy(&p->workers[i].parker);
    pthread_cond_destroy(&p->state_cv);
    pthread_cond_destroy(&p->space_cv);
    pthread_mutex_destroy(&p->mu);
    tpi_free(p->workers_mem);
    tpi_free(p);
}

static int errno_to_tp(int err)
{
    return err == ENOMEM ? TP_ENOMEM : TP_EAGAIN;
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

/* The workers' array, aligned as a worker must be (its deque is on cache
 * lines of its own): calloc guarantees less, so the block has room to
 * align its start.  NULL when out of memory. */
static tpi_worker *alloc_workers(tp_pool *p)
{
    size_t align = _Alignof(tpi_worker);
    p->workers_mem = tpi_calloc(1, p->nthreads * sizeof(tpi_worker) + align);
    if (p->workers_mem == NULL)
        return NULL;
    uintptr_t at = ((uintptr_t)p->workers_mem + align - 1) & ~(align - 1);
    return (tpi_worker *)at;
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
        (unsigned)opts->on_full > (unsigned)TP_FULL_CALLER_RUNS ||
        stack_size_of(opts) == SIZE_MAX)
        return TP_EINVAL;

    tp_pool *p = tpi_calloc(1, sizeof *p);
    if (p == NULL)
        return TP_ENOMEM;
    tpi_fork_install();
    p->gen = tpi_fork_generation();
    p->nthreads = opts->threads != 0 ? opts->threads : default_threads();
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
        atomic_init(&p->inj[l].len, 0);
    atomic_init(&p->sleepers, 0);
    atomic_init(&p->searching, 0);
    atomic_init(&p->state_waiters, 0);
    atomic_init(&p->space_waiters, 0);
    atomic_init(&p->queued, 0);
    atomic_init(&p->stop_flag, STOP_NONE);
    atomic_init(&p->abort, false);

    /* One cleanup ladder: each step undoes those before it. */
    int rc = TP_ENOMEM;
    unsigned parkers = 0, threads = 0;
    if ((p->workers = alloc_workers(p)) == NULL)
        goto fail_workers;
    if ((rc = pthread_mutex_init(&p->mu, NULL)) != 0)
        goto fail_mu;
    if ((rc = tpi_cond_init(&p->space_cv)) != 0)
        goto fail_space_cv;
    if ((rc = tpi_cond_init(&p->state_cv)) != 0)
        goto fail_state_cv;
    for (; parkers < p->nthreads; parkers++) {
        tpi_worker *w = &p->workers[parkers];
        tpi_deque_init(&w->dq);
        w->pool = p;
        w->index = parkers;
        w->rng = 0x9E3779B97F4A7C15ull * (parkers + 1);
        if ((rc = tpi_parker_init(&w->parker)) != 0)
            goto fail_threads;
    }
    for (; threads < p->nthreads; threads++)
        if ((rc = create_thread(&p->workers[threads])) != 0)
            goto fail_threads;
    /* Handshake: return only once every worker is up (no polling). */
    pthread_mutex_lock(&p->mu);
    while (p->started_threads < p->nthreads)
        pthread_cond_wait(&p->state_cv, &p->mu);
    pthread_mutex_unlock(&p->mu);
    *out = p;
    return 0;

fail_threads:
    if (threads > 0)
        stop_workers(p, threads);
    free_pool(p, parkers); /* the locks and the workers' array too */
    return errno_to_tp(rc);
fail_state_cv:
    pthread_cond_destroy(&p->space_cv);
fail_space_cv:
    pthread_mutex_destroy(&p->mu);
fail_mu:
    tpi_free(p->workers_mem);
fail_workers:
    tpi_free(p);
    return rc == TP_ENOMEM ? rc : errno_to_tp(rc);
}

unsigned tp_pool_size(const tp_pool *p)
{
    return p == NULL ? 0 : p->nthreads;
}

/* ---- submit -------------------------------------------------------------------- */

/* Appends the chain first..last (n tasks) to the injector of a level and
 * claims up to n sleepers into *wake.  mu held. */
static void inject_locked(tp_pool *p, int level, tp_future *first,
                          tp_future *last, size_t n, tpi_worker **wake)
{
    tpi_injector *q = &p->inj[level];
    last->next = NULL;
    if (q->tail != NULL)
        q->tail->next = first;
    else
        q->head = first;
    q->tail = last;
    atomic_store_explicit(
        &q->len, atomic_load_explicit(&q->len, memory_order_relaxed) + n,
        memory_order_relaxed);
    for (size_t i = 0; i < n; i++) {
        tpi_worker *w = idle_claim(p);
        if (w == NULL)
            break;
        w->idle_next = *wake;
        *wake = w;
    }
}

/* Runs f on the calling thread (a full queue's caller-runs), counted as
 * submitted and run.  Consumes the pool's reference. */
static void run_inline(tp_pool *p, tp_future *f)
{
    pthread_mutex_lock(&p->mu);
    p->ext_submitted++;
    p->ext_started++;
    pthread_mutex_unlock(&p->mu);
    bool ran = tpi_future_run(f);
    tpi_future_pool_release(f);
    pthread_mutex_lock(&p->mu);
    if (ran)
        p->ext_completed++;
    else
        p->ext_dropped++;
    pthread_mutex_unlock(&p->mu);
    notify_if_idle(p);
}

enum { ROOM_OK = 0, ROOM_INLINE = 1 };

/* Reserves room for up to *n tasks in a bounded pool (all of them in an
 * unbounded one): on ROOM_OK, *n is how many may be queued now (>= 1).
 * Returns ROOM_INLINE when the caller must run one task itself, or a TP_E*
 * code.  May wait on space_cv (mu is taken for that).  `worker`: the
 * caller is a worker of p.  *dl is computed on the first wait only, so
 * that a long batch waits at most submit_timeout_ms in all. */
static int reserve_room(tp_pool *p, bool worker, size_t *n, tpi_deadline *dl,
                        bool *have_dl)
{
    for (;;) {
        int stop = atomic_load_explicit(&p->stop_flag, memory_order_acquire);
        if (stop == STOP_NOW || (stop == STOP_GRACEFUL && !worker))
            return TP_ESHUTDOWN;
        if (p->capacity == 0)
            return ROOM_OK;
        size_t q = atomic_load_explicit(&p->queued, memory_order_relaxed);
        while (q < p->capacity) {
            size_t k = p->capacity - q < *n ? p->capacity - q : *n;
            if (atomic_compare_exchange_weak_explicit(
                    &p->queued, &q, q + k, memory_order_seq_cst,
                    memory_order_relaxed)) {
                *n = k;
                return ROOM_OK;
            }
        }
        /* A worker must not block on its own pool's queue: every worker
         * could end up waiting for room only they can make. */
        if (worker || p->on_full == TP_FULL_CALLER_RUNS)
            return ROOM_INLINE;
        if (p->on_full == TP_FULL_FAIL)
            return TP_EFULL;
        if (!*have_dl) {
            *dl = tpi_deadline_after_ms(p->submit_timeout_ms);
            *have_dl = true;
        }
        pthread_mutex_lock(&p->mu);
        atomic_fetch_add_explicit(&p->space_waiters, 1, memory_order_seq_cst);
        int rc = 0;
        if (atomic_load_explicit(&p->queued, memory_order_seq_cst) >=
                p->capacity &&
            p->stopping == STOP_NONE)
            rc = tpi_cond_wait(&p->space_cv, &p->mu, dl);
        atomic_fetch_sub_explicit(&p->space_waiters, 1, memory_order_relaxed);
        pthread_mutex_unlock(&p->mu);
        if (rc == ETIMEDOUT &&
            atomic_load_explicit(&p->queued, memory_order_relaxed) >=
                p->capacity)
            return TP_EFULL;
    }
}

/* Queues the chain first..last of n tasks: on the worker's own deque if
 * the caller is a worker of p, else in the injector.  Wakes sleepers.
 * `counted`: how many tasks they stand for (n, or a batch's job count).
 * Returns 0, or TP_ESHUTDOWN (nothing queued) when an outside thread lost
 * the race with a shutdown. */
static int enqueue(tp_pool *p, tp_future *first, tp_future *last, size_t n,
                   size_t counted, int level)
{
    tpi_worker *self = on_worker_of(p) ? tpi_self : NULL;
    if (self != NULL && level == TP_PRIORITY_NORMAL) {
        bump(&self->count.submitted, counted);
        tp_future *overflow = NULL, *overflow_last = NULL;
        size_t spilled = 0;
        for (tp_future *f = first; f != NULL;) {
            tp_future *next = f == last ? NULL : f->next;
            f->next = NULL;
            if (!tpi_deque_push(&self->dq, f)) {
                if (overflow_last != NULL)
                    overflow_last->next = f;
                else
                    overflow = f;
                overflow_last = f;
                spilled++;
            }
            f = next;
        }
        if (overflow != NULL) {
            tpi_worker *wake = NULL;
            pthread_mutex_lock(&p->mu);
            inject_locked(p, TP_PRIORITY_NORMAL, overflow, overflow_last,
                          spilled, &wake);
            pthread_mutex_unlock(&p->mu);
            unpark_list(wake);
        }
        /* A batch from a task (a parallel loop's helpers) wakes as many
         * sleepers as it has tasks, not one that wakes the next. */
        wake_some(p, n - spilled);
        return 0;
    }
    /* From outside, or at another level: the injector of the level. */
    tpi_worker *wake = NULL;
    pthread_mutex_lock(&p->mu);
    if (self == NULL && p->stopping != STOP_NONE) {
        /* The lock-free check in reserve_room() passed, but a shutdown has
         * begun since: it may already have swept the queues for the last
         * time, so the task must not go in. */
        pthread_mutex_unlock(&p->mu);
        return TP_ESHUTDOWN;
    }
    if (self != NULL)
        bump(&self->count.submitted, counted);
    else
        p->ext_submitted += counted;
    inject_locked(p, level, first, last, n, &wake);
    pthread_mutex_unlock(&p->mu);
    unpark_list(wake);
    return 0;
}

/* `storage`: caller-provided memory for the task (tp_submit_inplace()),
 * or NULL to allocate it.  `internal`: the library's own task (pool.h). */
static int submit_one(tp_pool *p, tp_task_fn fn, void *arg, tp_future **out,
                      const tp_task_opts *o, tp_task_storage *storage,
                      bool internal)
{
    if (p == NULL || fn == NULL)
        return TP_EINVAL;
    int level = TP_PRIORITY_NORMAL;
    uint64_t deadline = 0;
    if (o != NULL) {
        if ((unsigned)o->priority > (unsigned)TP_PRIORITY_LOW)
            return TP_EINVAL;
        level = (int)o->priority;
        if (o->start_deadline_ms >= 0) {
            int64_t ms = o->start_deadline_ms;
            if (ms > (int64_t)3155760000000) /* ~100 years */
                ms = (int64_t)3155760000000;
            deadline = tpi_now_ns() + (uint64_t)ms * 1000000u;
        }
    }
    if (forked(p))
        return TP_EFORKED;
    bool worker = on_worker_of(p);
    size_t n = 1;
    bool have_dl = false;
    tpi_deadline dl;
    int rc = reserve_room(p, worker, &n, &dl, &have_dl);
    if (rc < 0)
        return rc;
    tp_future *f;
    if (storage != NULL) {
        f = tpi_future_init(storage, fn, arg, p, 2);
        f->inplace = true;
    } else if ((f = tpi_future_new(fn, arg, p, out != NULL ? 2 : 1)) == NULL) {
        if (rc == ROOM_OK)
            release_room(p, 1);
        return TP_ENOMEM;
    }
    f->prio = (uint8_t)level;
    f->deadline_ns = deadline;
    f->internal = internal;
    f->queued = rc == ROOM_OK;
    if (rc == ROOM_OK && (rc = enqueue(p, f, f, 1, 1, level)) != 0) {
        release_room(p, 1);
        tpi_future_discard(f);
        return rc;
    }
    if (out != NULL)
        *out = f;
    if (rc == ROOM_INLINE)
        run_inline(p, f);
    return 0;
}

int tp_submit(tp_pool *pool, tp_task_fn fn, void *arg)
{
    return submit_one(pool, fn, arg, NULL, NULL, NULL, false);
}

int tp_submit_future(tp_pool *pool, tp_task_fn fn, void *arg, tp_future **out)
{
    if (out == NULL)
        return TP_EINVAL;
    return submit_one(pool, fn, arg, out, NULL, NULL, false);
}

_Static_assert(sizeof(tp_future) <= sizeof(tp_task_storage),
               "TP_TASK_STORAGE_SIZE is too small for a task");
_Static_assert(_Alignof(tp_future) <= _Alignof(tp_task_storage),
               "tp_task_storage is not aligned enough for a task");

int tp_submit_inplace(tp_pool *pool, tp_task_storage *storage, tp_task_fn fn,
                      void *arg, const tp_task_opts *opts, tp_future **out)
{
    if (storage == NULL || out == NULL)
        return TP_EINVAL;
    return submit_one(pool, fn, arg, out, opts, storage, false);
}

int tpi_submit_internal(tp_pool *p, tp_task_fn fn, void *arg,
                        tp_future **out)
{
    if (out == NULL)
        return TP_EINVAL;
    return submit_one(p, fn, arg, out, NULL, NULL, true);
}

static int submit_batch(tp_pool *p, tp_job *jobs, size_t n,
                        tp_future **futures, size_t *accepted, bool internal);

int tpi_submit_batch_internal(tp_pool *p, tp_job *jobs, size_t n,
                              tp_future **futures, size_t *accepted)
{
    return submit_batch(p, jobs, n, futures, accepted, true);
}

int tp_task_opts_init(tp_task_opts *opts)
{
    if (opts == NULL)
        return TP_EINVAL;
    memset(opts, 0, sizeof *opts);
    opts->priority = TP_PRIORITY_NORMAL;
    opts->start_deadline_ms = -1;
    return 0;
}

int tp_submit_ex(tp_pool *pool, tp_task_fn fn, void *arg,
                 const tp_task_opts *opts, tp_future **out)
{
    return submit_one(pool, fn, arg, out, opts, NULL, false);
}

/* The batch path described with tpi_batch: one block, a few carriers. */
static int submit_jobs(tp_pool *p, tp_job *jobs, size_t n, size_t *accepted)
{
    size_t one = 1;
    bool have_dl = false;
    tpi_deadline dl;
    int rc = reserve_room(p, on_worker_of(p), &one, &dl, &have_dl);
    if (rc < 0)
        return rc; /* unbounded: only a shutdown refuses */
    if (n > (SIZE_MAX - sizeof(tpi_batch)) / sizeof(tp_job))
        return TP_ENOMEM;
    tpi_batch *b = tpi_malloc(sizeof *b + n * sizeof(tp_job));
    if (b == NULL)
        return TP_ENOMEM;
    unsigned k = p->nthreads;
    if (k > (n + TPI_BATCH_MIN - 1) / TPI_BATCH_MIN)
        k = (unsigned)((n + TPI_BATCH_MIN - 1) / TPI_BATCH_MIN);
    size_t chunk = n / ((size_t)p->nthreads * 8);
    b->chunk = chunk < 1 ? 1 : chunk > 64 ? 64 : chunk;
    b->n = n;
    atomic_init(&b->next, 0);
    atomic_init(&b->carriers, k);
    tp_future *first = NULL, *last = NULL;
    for (unsigned i = 0; i < k; i++) {
        tp_future *f = tpi_future_new(batch_carrier, b, p, 1);
        if (f == NULL) {
            while (first != NULL) {
                tp_future *next = first->next;
                tpi_future_discard(first);
                first = next;
            }
            tpi_free(b);
            return TP_ENOMEM;
        }
        if (last != NULL)
            last->next = f;
        else
            first = f;
        last = f;
    }
    uint64_t id = tpi_ids_reserve(n);
    for (size_t i = 0; i < n; i++) {
        b->jobs[i] = jobs[i];
        b->jobs[i].id = id + i;
    }
    if ((rc = enqueue(p, first, last, k, n, TP_PRIORITY_NORMAL)) != 0) {
        while (first != NULL) {
            tp_future *next = first->next;
            tpi_future_discard(first);
            first = next;
        }
        tpi_free(b);
        return rc;
    }
    for (size_t i = 0; i < n; i++)
        jobs[i].id = id + i;
    if (accepted != NULL)
        *accepted = n;
    return 0;
}

int tp_submit_batch(tp_pool *p, tp_job *jobs, size_t n, tp_future **futures,
                    size_t *accepted)
{
    return submit_batch(p, jobs, n, futures, accepted, false);
}

/* `internal`: the library's own tasks (pool.h); a batch of them without
 * futures becomes carriers, which are never handed to drop anyway. */
static int submit_batch(tp_pool *p, tp_job *jobs, size_t n,
                        tp_future **futures, size_t *accepted, bool internal)
{
    if (accepted != NULL)
        *accepted = 0;
    if (p == NULL || (jobs == NULL && n > 0))
        return TP_EINVAL;
    for (size_t i = 0; i < n; i++)
        if (jobs[i].fn == NULL)
            return TP_EINVAL;
    if (forked(p))
        return TP_EFORKED;
    if (futures != NULL)
        for (size_t i = 0; i < n; i++)
            futures[i] = NULL;

    if (futures == NULL && p->capacity == 0 && n >= TPI_BATCH_MIN)
        return submit_jobs(p, jobs, n, accepted);

    bool worker = on_worker_of(p);
    bool have_dl = false;
    tpi_deadline dl;
    uint32_t refs = futures != NULL ? 2 : 1;
    size_t done = 0; /* accepted so far, in order */
    int rc = 0;
    while (done < n) {
        size_t k = n - done;
        int room = reserve_room(p, worker, &k, &dl, &have_dl);
        if (room < 0) {
            rc = room;
            break;
        }
        if (room == ROOM_INLINE)
            k = 1;
        /* Make the k futures as one chain, then queue it in one go. */
        tp_future *first = NULL, *last = NULL;
        size_t made = 0;
        for (; made < k; made++) {
            tp_job *j = &jobs[done + made];
            tp_future *f = tpi_future_new(j->fn, j->arg, p, refs);
            if (f == NULL)
                break;
            j->id = f->id;
            f->internal = internal;
            f->queued = room == ROOM_OK;
            if (futures != NULL)
                futures[done + made] = f;
            if (last != NULL)
                last->next = f;
            else
                first = f;
            last = f;
        }
        if (room == ROOM_OK && made < k)
            release_room(p, k - made);
        if (made > 0 && room == ROOM_INLINE) {
            run_inline(p, first);
        } else if (made > 0 &&
                   (rc = enqueue(p, first, last, made, made,
                                 TP_PRIORITY_NORMAL)) != 0) {
            release_room(p, made);
            for (size_t i = 0; i < made; i++) {
                tp_future *next = first->next;
                tpi_future_discard(first);
                first = next;
                if (futures != NULL)
                    futures[done + i] = NULL;
            }
            break;
        }
        done += made;
        if (made < k) {
            rc = TP_ENOMEM;
            break;
        }
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
    if (forked(p))
        return TP_EFORKED;
    uint64_t submitted = 0, started = 0, completed = 0, dropped = 0;
    /* Read "finished" before "started" before "submitted": each count only
     * grows, and a task is counted in that order's reverse, so the
     * differences below cannot go negative. */
    for (unsigned i = 0; i < p->nthreads; i++) {
        tpi_counters *c = &p->workers[i].count;
        completed += atomic_load_explicit(&c->completed, memory_order_acquire);
        dropped += atomic_load_explicit(&c->dropped, memory_order_acquire);
    }
    for (unsigned i = 0; i < p->nthreads; i++)
        started += atomic_load_explicit(&p->workers[i].count.started,
                                        memory_order_acquire);
    for (unsigned i = 0; i < p->nthreads; i++)
        submitted += atomic_load_explicit(&p->workers[i].count.submitted,
                                          memory_order_acquire);
    pthread_mutex_lock(&p->mu);
    submitted += p->ext_submitted;
    started += p->ext_started;
    completed += p->ext_completed;
    dropped += p->ext_dropped;
    pthread_mutex_unlock(&p->mu);
    s->threads = p->nthreads;
    s->submitted = submitted;
    s->completed = completed;
    s->cancelled = dropped;
    s->queued = submitted > started ? (size_t)(submitted - started) : 0;
    s->running = started > completed + dropped
                     ? (size_t)(started - completed - dropped)
                     : 0;
    return 0;
}

int tp_pool_wait_idle(tp_pool *p, int64_t timeout_ms)
{
    if (p == NULL)
        return TP_EINVAL;
    if (forked(p))
        return TP_EFORKED;
    if (inside_pool(p))
        return TP_EDEADLK;
    tpi_deadline dl = tpi_deadline_after_ms(timeout_ms);
    int rc = 0;
    pthread_mutex_lock(&p->mu);
    atomic_fetch_add_explicit(&p->state_waiters, 1, memory_order_relaxed);
    tpi_fence(); /* see notify_if_idle() */
    while (!pool_idle(p)) {
        int w = tpi_cond_wait(&p->state_cv, &p->mu, &dl);
        if (w == ETIMEDOUT && !pool_idle(p)) {
            rc = TP_ETIMEDOUT;
            break;
        }
    }
    atomic_fetch_sub_explicit(&p->state_waiters, 1, memory_order_relaxed);
    pthread_mutex_unlock(&p->mu);
    return rc;
}

/* ---- live view ------------------------------------------------------------------ */

int tp_pool_snapshot_get(tp_pool *p, tp_pool_snapshot *snap,
                         tp_worker_info *workers, unsigned capacity)
{
    if (p == NULL || snap == NULL || (workers == NULL && capacity > 0))
        return TP_EINVAL;
    if (forked(p))
        return TP_EFORKED;
    int rc = tp_pool_stats_get(p, &snap->stats);
    if (rc != 0)
        return rc;
    uint64_t now = tpi_now_ns();
    unsigned n = capacity < p->nthreads ? capacity : p->nthreads;
    pthread_mutex_lock(&p->mu);
    for (int l = 0; l < TPI_LEVELS; l++)
        snap->injected[l] =
            atomic_load_explicit(&p->inj[l].len, memory_order_relaxed);
    for (unsigned i = 0; i < n; i++) {
        tpi_worker *w = &p->workers[i];
        tp_worker_info *info = &workers[i];
        unsigned depth =
            atomic_load_explicit(&w->depth_seen, memory_order_acquire);
        unsigned top = depth < TPI_FRAMES ? depth : TPI_FRAMES;
        info->index = i;
        info->depth = depth;
        info->running_task =
            top == 0 ? 0
                     : atomic_load_explicit(&w->frames[top - 1].task,
                                            memory_order_relaxed);
        info->waiting_on = 0;
        for (unsigned d = top; d-- > 0 && info->waiting_on == 0;)
            info->waiting_on = atomic_load_explicit(&w->frames[d].waiting_on,
                                                    memory_order_relaxed);
        /* Running time without a clock read per task: measured from the
         * first snapshot that saw this task on this worker. */
        if (info->running_task != w->seen_task) {
            w->seen_task = info->running_task;
            w->seen_since_ns = now;
        }
        info->running_ms =
            info->running_task == 0 ? 0 : (now - w->seen_since_ns) / 1000000u;
        int64_t t = atomic_load_explicit(&w->dq.top, memory_order_relaxed);
        int64_t b = atomic_load_explicit(&w->dq.bottom, memory_order_relaxed);
        info->queued = b > t ? (size_t)(b - t) : 0;
        info->started = load64(&w->count.started);
        info->completed = load64(&w->count.completed);
        info->stolen = load64(&w->count.stolen);
    }
    pthread_mutex_unlock(&p->mu);
    snap->threads = p->nthreads;
    snap->workers = n;
    return 0;
}

/* One waiting task: the id of the task and of the future it waits for. */
typedef struct wait_edge {
    uint64_t task, on;
} wait_edge;

int tp_pool_find_wait_cycle(tp_pool *p, uint64_t *ids, size_t capacity,
                            size_t *len)
{
    if (p == NULL || len == NULL || (ids == NULL && capacity > 0))
        return TP_EINVAL;
    if (forked(p))
        return TP_EFORKED;
    *len = 0;
    /* Every frame of every worker that waits is an edge task -> future. */
    size_t max = (size_t)p->nthreads * TPI_FRAMES, n = 0;
    wait_edge *edges = tpi_calloc(max, sizeof *edges);
    if (edges == NULL)
        return TP_ENOMEM;
    for (unsigned i = 0; i < p->nthreads; i++) {
        tpi_worker *w = &p->workers[i];
        unsigned depth =
            atomic_load_explicit(&w->depth_seen, memory_order_acquire);
        if (depth > TPI_FRAMES)
            depth = TPI_FRAMES;
        for (unsigned d = 0; d < depth; d++) {
            uint64_t on = atomic_load_explicit(&w->frames[d].waiting_on,
                                               memory_order_relaxed);
            if (on != 0)
                edges[n++] = (wait_edge){
                    atomic_load_explicit(&w->frames[d].task,
                                         memory_order_relaxed),
                    on};
        }
    }
    /* Follow task -> future -> (the task that is that future) ... from each
     * edge; a walk longer than the number of edges has looped.  The walk
     * is quadratic in the number of waiting tasks, which a debugging aid
     * can afford. */
    int rc = 0;
    for (size_t start = 0; start < n && *len == 0; start++) {
        uint64_t cur = edges[start].task;
        for (size_t steps = 0; steps <= n; steps++) {
            size_t e = 0;
            while (e < n && edges[e].task != cur)
                e++;
            if (e == n)
                break; /* cur waits for nothing: no cycle from here */
            cur = edges[e].on;
            if (cur == edges[start].task) {
                /* A cycle through start: report it from start. */
                size_t k = 0;
                uint64_t t = edges[start].task;
                do {
                    if (k < capacity)
                        ids[k] = t;
                    k++;
                    size_t f = 0;
                    while (edges[f].task != t)
                        f++;
                    t = edges[f].on;
                } while (t != edges[start].task);
                *len = k;
                if (k > capacity)
                    rc = TP_ENOMEM; /* *len says how much room it needs */
                break;
            }
        }
    }
    tpi_free(edges);
    return rc;
}

/* ---- shutdown ---------------------------------------------------------------------- */

/* Takes every task out of the injector and the deques into *queued, and
 * the tasks workers cancelled during an abort into *aborted. */
static void sweep(tp_pool *p, tp_future **queued, tp_future **aborted)
{
    /* In queue order: the injector first to last, then each deque from
     * its oldest task. */
    pthread_mutex_lock(&p->mu);
    tp_future *head = NULL, *tail = NULL;
    for (int l = 0; l < TPI_LEVELS; l++) {
        tpi_injector *q = &p->inj[l];
        if (q->head == NULL)
            continue;
        if (tail != NULL)
            tail->next = q->head;
        else
            head = q->head;
        tail = q->tail;
        q->head = q->tail = NULL;
        atomic_store_explicit(&q->len, 0, memory_order_relaxed);
    }
    *aborted = p->aborted;
    p->aborted = NULL;
    pthread_mutex_unlock(&p->mu);
    for (unsigned i = 0; i < p->nthreads; i++) {
        tp_future *f;
        int rc;
        while ((rc = tpi_deque_steal(&p->workers[i].dq, &f)) !=
               TPI_STEAL_EMPTY) {
            if (rc != TPI_STEAL_OK)
                continue;
            f->next = NULL;
            if (tail != NULL)
                tail->next = f;
            else
                head = f;
            tail = f;
        }
    }
    /* Nothing is counted here: each task is, when drop_all() settles it
     * (a carrier's jobs when they are handed back). */
    *queued = head;
}

/* Hands each task to drop (if not NULL) and drops the pool's reference.
 * `settle`: the tasks are pending and are cancelled here; only those this
 * call cancels are handed back (ones cancelled earlier by
 * tp_future_cancel() were reported to that caller). */
static void drop_all(tp_pool *p, tp_future *list, bool settle,
                     tp_drop_fn drop, void *ctx)
{
    while (list != NULL) {
        tp_future *f = list;
        list = f->next;
        if (f->fn == batch_carrier) {
            /* The jobs nobody claimed are this shutdown's to hand back. */
            tpi_batch *b = f->arg;
            size_t lo = batch_claim_rest(b);
            for (size_t i = lo; i < b->n && drop != NULL; i++)
                drop(&b->jobs[i], ctx);
            if (lo < b->n) {
                pthread_mutex_lock(&p->mu);
                p->ext_started += b->n - lo;
                p->ext_dropped += b->n - lo;
                pthread_mutex_unlock(&p->mu);
            }
            batch_unref(b);
            tpi_future_pool_release(f);
            continue;
        }
        /* The settle accounts for the task (pool.h); one that fails was
         * settled, and accounted for, by someone else. */
        bool ours = !settle || tpi_future_settle(f, TP_PENDING, TP_CANCELLED);
        if (ours && drop != NULL && !f->internal) {
            tp_job job = {f->fn, f->arg, f->id};
            drop(&job, ctx);
        }
        tpi_future_pool_release(f);
    }
}

static void cancel_queued(tp_pool *p, tp_drop_fn drop, void *ctx)
{
    tp_future *queued, *aborted;
    sweep(p, &queued, &aborted);
    drop_all(p, queued, true, drop, ctx);
    drop_all(p, aborted, false, drop, ctx);
    notify_if_idle(p);
}

static int shutdown_pool(tp_pool *p, int level, tp_drop_fn drop, void *ctx)
{
    if (p == NULL)
        return TP_EINVAL;
    if (forked(p))
        return TP_EFORKED;
    if (inside_pool(p))
        return TP_EDEADLK;

    tpi_worker *wake = NULL;
    pthread_mutex_lock(&p->mu);
    if (level > p->stopping) {
        p->stopping = level;
        atomic_store_explicit(&p->stop_flag, level, memory_order_release);
    }
    if (level == STOP_NOW)
        atomic_store_explicit(&p->abort, true, memory_order_relaxed);
    /* Sleepers wake, find no work and the pool stopping, and exit; blocked
     * submitters wake and fail. */
    tpi_worker *w;
    while ((w = idle_claim(p)) != NULL) {
        w->idle_next = wake;
        wake = w;
    }
    pthread_cond_broadcast(&p->space_cv);
    pthread_mutex_unlock(&p->mu);
    unpark_list(wake);

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

    for (unsigned i = 0; i < p->nthreads; i++)
        pthread_join(p->workers[i].thread, NULL);

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
    if (p != NULL && forked(p)) {
        /* The child's copy: no threads to join, and its locks may have been
         * held by threads that do not exist here, so they are not touched.
         * Queued tasks are left as they are (their memory is the child's
         * copy of the parent's). */
        tpi_free(p->workers_mem);
        tpi_free(p);
        return 0;
    }
    int rc = shutdown_pool(p, STOP_GRACEFUL, NULL, NULL);
    if (rc != 0)
        return rc;
    /* The workers are gone, but a thread that settled a queued task
     * without running it (a cancel) may still be accounting for it in
     * tpi_pool_settled_unrun(): wait until every task is accounted for. */
    pthread_mutex_lock(&p->mu);
    atomic_fetch_add_explicit(&p->state_waiters, 1, memory_order_relaxed);
    while (!pool_idle(p))
        pthread_cond_wait(&p->state_cv, &p->mu);
    atomic_fetch_sub_explicit(&p->state_waiters, 1, memory_order_relaxed);
    pthread_mutex_unlock(&p->mu);
    free_pool(p, p->nthreads);
    return 0;
}
