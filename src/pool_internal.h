/*
 * pool_internal.h - the pool's structures, shared by the files that
 * implement it (internal).  The architecture of the whole library and its
 * one lock-order table are here.
 *
 * Architecture of the library
 * ---------------------------
 *   tpool.h, tpool_queue.h   public API (the reference manual)
 *   pool_internal.h  this file: tp_pool, the worker, injector, counters,
 *                    frames, tunables; the map; the lock order
 *   pool.h       the pool as the rest of the library sees it (waits, futures)
 *   pool.c       pool life cycle: create, wait_idle, shutdown, destroy
 *   threads.c    worker threads: starting, resizing, extra threads for
 *                blocked tasks, workers leaving
 *   sched.c      the scheduler: idle list, waking, finding and stealing
 *                work, worker_main, running a task, helping in a wait
 *   submit.c     the submit family, batches and capacity (backpressure)
 *   introspect.c stats, the live view, wait-cycle detection
 *   deque.h      a worker's lock-free work-stealing deque (Chase-Lev)
 *   inject.h     the injector: a lock-free stack for submitters, a FIFO
 *                for the workers that take from it
 *   fj.c, fj.h   fork-join frames (tp_spawn/tp_sync): a split deque per
 *                worker, stolen from by find_work(), seen by work_visible()
 *   list.h       the intrusive FIFO of tasks used by queues and sweeps
 *   future.c     task/future object: state machine, settle, callbacks
 *   futmem.c     memory of futures: 64-byte blocks, per-thread caches
 *   taskmem.c    memory of ordinary tasks: slabs owned by their pool
 *   task.c       what a running task may ask (tp_task_*), its context
 *   wait.c       waiting on futures (single, all, any); workers help
 *   waitset.c    futures in completion order (as_completed)
 *   combine.c    continuations and combinators (then, when_all, when_any)
 *   compose.c    then_compose and or_timeout, on combine.h's pieces
 *   parallel.c   parallel loops (tp_parallel_for, tp_parallel_map)
 *   timer.c      delayed and periodic tasks, and the timers of
 *                tp_future_or_timeout: one lazily started thread per pool
 *   strand.c     serial queues (tp_strand_*) run by the pool's workers
 *   fork.c       process generations across fork()
 *   parker.c     one-token sleep/wake used by every blocked thread
 *   queue.c      the public blocking queue (independent of the pool);
 *                its ring and priority heap in queue_store.h
 *   opts.c       option structs: defaults, reading any caller's layout
 *   alloc.c, clock.c, error.c, fence.h   allocator, deadlines, errors,
 *                    the seq_cst fence (visible to ThreadSanitizer)
 *
 * Lock order (the only table in the library: a lock may be taken while
 * holding one to its left, never the other way round)
 * ---------------------------------------------------------------------
 *   pool mu            -> parker mutex
 *   pool inj_mu: a leaf (the injectors' consumer side; taken with no
 *                         other lock held; submitters never take it)
 *   future-table lock  -> parker mutex   (a settler wakes waiters under it)
 *   tp_queue put_lock  -> take_lock -> wait_lock   (queue.c: a put grows
 *                         the store with both ends held, and a put or get
 *                         signals waiters under wait_lock; wait_lock is a
 *                         leaf)
 *   waitset mu, loop mu (parallel.c): leaves, nothing is taken under them
 *   timers mu (timer.c), strand mu (strand.c): leaves too; no future is
 *                         settled and no task submitted under them
 *   taskmem mu, futmem store mu: leaves (they call only the allocator)
 * A pool's mu and a future-table lock are never held together, in either
 * order: a future settles, and its callbacks run, with no pool lock held,
 * and accounting for a task settled without running (pool.c) happens
 * after the future-table lock is released.  No user code runs under any
 * of these locks.  future.c takes every future-table lock around fork(),
 * so that a child never inherits one held by a thread it does not have.
 *
 * Scheduling
 * ----------
 * Each worker owns a deque.  A task submitted by a worker of the pool (a
 * task spawning children) is pushed on that worker's deque: no lock, no
 * shared cache line.  A task submitted from any other thread goes to the
 * injector of its level (inject.h), a FIFO that submitters push on with
 * one compare-and-swap and workers take from under `inj_mu`.  A worker
 * looks for work in
 * this order: a low task if the low level is due, a high task, its own
 * deque (newest first), the normal injector (taking a batch at once, which
 * it pushes on its own deque, oldest on top, where others can steal it),
 * the other workers' deques, oldest first, starting at a random victim,
 * then the low level.  A worker that finds nothing searches a few rounds,
 * then sleeps on its parker.
 *
 * Sleeping and waking (no lost wake-ups, no thundering herd)
 * ---------------------------------------------------------
 * The idle list (under `mu`) holds the workers that sleep, and `sleepers`
 * (an atomic copy of its length) lets a submitter decide without the lock
 * whether anyone needs waking.  `searching` counts awake workers that are
 * looking for work; while one is, a submitter wakes nobody.
 *
 *   worker about to sleep          submitter (wake_some)
 *   ---------------------          ---------
 *   searching-- (seq_cst)  (S-)    push task (deque or injector)
 *   lock mu                        fence(seq_cst)        (F2)
 *   sleepers++          (W1)       read sleepers, searching (R2)
 *   fence(seq_cst)      (F1)       if sleepers > 0 and searching == 0:
 *   look at every queue (R1)           lock mu, take one sleeper off the
 *   empty: join idle list,             list, unlock, unpark it
 *          unlock, park
 *
 * Claim: a pushed task is never left queued while every worker sleeps.
 * F1 and F2 are ordered one way or the other in the single total order S
 * of seq_cst operations.  If F2 comes first, R1 (after F1) sees the push
 * and the worker does not sleep.  If F1 comes first, R2 sees W1 (which
 * stays counted until the worker leaves the idle list: idle_push() does
 * not count it again, and nothing takes it away between R1 and the park,
 * so R2 cannot read a count that dropped to zero meanwhile), and S-
 * as well (S- precedes F1, and a load after a seq_cst fence sees every
 * seq_cst store to its object that precedes the fence in S, or a later
 * one).  So a submitter that reads searching > 0 has seen the value of a
 * different worker, W', still between its searching++ and its S-; the
 * same argument applies to W' when it ends its search: it either sleeps
 * (and then F1' against F2 as above), or it found a task, in which case
 * it runs it and looks for work again afterwards, before it can sleep.
 * As workers are finitely many, some worker either sees the push or is
 * woken for it.  A submitter that reads searching == 0 and sleepers > 0
 * takes the lock; as the worker holds it from W1 until it is on the idle
 * list (or has given up sleeping), the submitter finds it there and
 * unparks it; the parker keeps the token even if the worker has not
 * parked yet.  An injector push is the same: its compare-and-swap on the
 * stack is what R1 reads (inject.h says why a consumer's drain, which R1
 * may miss, is a push too).  As that compare-and-swap is seq_cst, it
 * stands for F2, with R2's loads seq_cst (tpi_wake_some_sc(): the same
 * two cases, by C11 7.17.4p2 and p3).
 * The submitter walks its chain of claimed workers (linked by idle_next)
 * after releasing mu; a claimed worker that wakes for another reason first
 * (a settled future, a finished fork-join frame) waits for its claimer's
 * unpark before it can be listed again, which rewrites idle_next
 * (claim_settle() in sched.c).
 *
 * A worker that leaves the pool (a shrink, threads.c) does so in place of
 * sleeping, with the same fence and look at every queue before it goes,
 * waking a sleeper if it sees work: for the claim it is a worker that went
 * to sleep and was woken at once.  At least one worker always stays.
 *
 * A waiting worker (wait.c) also sleeps on the idle list, so new work wakes
 * it as well as the future it waits for; it is not counted as idle for
 * tp_pool_wait_idle (it is running a task).
 *
 * What `mu` guards: the idle list, the counters of tasks run on
 * submitting threads or settled without running, the shutdown state, the
 * snapshot bookkeeping.  `inj_mu` guards the consumer side of the
 * injectors: workers try it once per batch of up to TPI_INJECT_BATCH
 * tasks.  A submit from outside takes no lock at all (unless it has a
 * sleeper to wake: then mu).
 *
 * Counting: each worker counts what it submitted, started and finished in
 * its own counters (written only by itself); tasks submitted, run or
 * settled by other threads are counted under `mu`.  tp_pool_stats_get()
 * sums them.  A bounded pool also keeps an atomic count of queued tasks to
 * enforce the capacity; an unbounded pool pays nothing for it.  A task
 * settled without running is counted, and gives back its place, by the
 * thread that settles it (future.h, Accounting).
 *
 * Task lifetime: a submitted future holds one reference for the pool (two
 * if the caller wants the future).  Whoever takes it from a queue runs it
 * (or finds it settled), and drops the pool's reference.
 *
 * Shutdown: first the pool's timers are closed and their thread joined
 * (timer.c), so that only the pool's own threads can queue work from then
 * on.  `stopping` goes 0 -> GRACEFUL -> NOW.  In a graceful shutdown
 * workers keep running tasks (tasks of this pool may still submit: their
 * children are part of the work) and exit once they find no work.  An
 * immediate shutdown sets `abort`: workers cancel whatever they take
 * instead of running it, and the shutdown thread takes every queued task
 * out of the injector and the deques, cancels it and hands it to the drop
 * function (a carrier of the library's own, a timer's or a strand's,
 * hands over what it carries instead); after joining the workers it sweeps once more for tasks that
 * raced with it.  Destroy waits until every accepted task is accounted
 * for before it frees the pool.
 */
#ifndef TPI_POOL_INTERNAL_H
#define TPI_POOL_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "deque.h"
#include "fj.h"
#include "fork.h"
#include "future.h"
#include "inject.h"
#include "list.h"
#include "parker.h"
#include "pool.h"
#include "tpool.h"

/* ---- tunables ----------------------------------------------------------- */

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
#define TPI_LEVELS 3 /* TP_PRIORITY_HIGH, _NORMAL, _LOW */
/* A worker serves the low level before anything else once it has started
 * this many tasks since it last did: low tasks cannot starve. */
#define TPI_LOW_EVERY 32
/* Free ordinary tasks move between threads this many at a time. */
#define TPI_MEM_BATCH 128
/* pin_threads binds workers to at most this many distinct CPUs (the
 * first of the creating thread's mask; CPU_SETSIZE is 1024 in glibc). */
#define TPI_MAX_PINNED 1024
#if defined(__linux__) && defined(_GNU_SOURCE)
#define TPI_HAVE_AFFINITY 1 /* pthread_attr_setaffinity_np() */
#endif
/* Frames of a worker's stack of running tasks that readers can see. */
#define TPI_FRAMES 64

enum { STOP_NONE = 0, STOP_GRACEFUL, STOP_NOW };

/* ---- structures ----------------------------------------------------------- */

typedef struct tpi_taskmem tpi_taskmem; /* taskmem.c */

/* What a worker is doing, for tp_pool_snapshot_get() and wait-cycle
 * detection: one frame per task on its stack (a waiting task runs others
 * nested), each with the task's id and the id of the future it waits for.
 * Written only by the worker, with relaxed stores (no clock is read, no
 * lock taken); readers get a picture that is exact for tasks that stay
 * blocked, which is what a debugger of a stuck pool needs. */
typedef struct tpi_frame {
    _Atomic uint64_t task;
    _Atomic uint64_t waiting_on;
} tpi_frame;

/* Written only by the worker (load and store, see bump()), read by all. */
typedef struct tpi_counters {
    _Atomic uint64_t stolen;    /* taken from another worker's deque */
    _Atomic uint64_t submitted; /* pushed by this thread */
    _Atomic uint64_t started;   /* started to run */
    _Atomic uint64_t completed; /* ran (tasks settled without running are
                                   counted by the pool: see ext_dropped) */
} tpi_counters;

/* What only the worker's own thread reads and writes: on cache lines of
 * its own, so that other threads reading the shared part never contend
 * with it. */
typedef struct tpi_worker_own {
    uint64_t rng;       /* victim choice */
    unsigned depth;     /* tasks from elsewhere run nested in waits */
    unsigned since_low; /* tasks started since the low level was served */
    unsigned nframes;   /* tasks on its stack (frames[] holds the first) */
    tpi_task *free_tasks; /* ordinary tasks' memory (taskmem.c) */
    unsigned nfree;
    unsigned blocking;  /* tp_task_blocking_begin() nesting (threads.c) */
} tpi_worker_own;

/* Padded on purpose: the deque's ends and the owner's part each have cache
 * lines of their own (hence the lint exception). */
struct tpi_worker { /* NOLINT(clang-analyzer-optin.performance.Padding) */
    tpi_deque dq; /* first: cache-line aligned; owner and thieves */

    /* Set by tp_pool_create(), then only read. */
    tp_pool *pool;
    unsigned index;
    /* Its slot's thread (threads.c): set under mu when one starts. */
    pthread_t thread;
    uint8_t slot;          /* SLOT_* of threads.c (mu) */
    _Atomic bool retire;   /* asked to leave: written under mu, read by
                              the worker between tasks */

    /* Written by the worker, read by any thread. */
    tpi_counters count;
    _Atomic unsigned depth_seen; /* own.nframes, for readers */
    tpi_frame frames[TPI_FRAMES];

    /* Any thread unparks it. */
    tpi_parker parker;

    /* Guarded by the pool's mu. */
    tpi_worker *idle_next; /* idle list */
    tpi_worker *idle_prev;
    bool idle;             /* on the idle list */
    bool claimed;          /* taken off the list to run new work */
    bool delivered;        /* its claimer's unpark has come, with the
                              claimer's last access to idle_next (parker
                              mutex; reset by the worker) */
    uint64_t seen_task;    /* snapshot bookkeeping */
    uint64_t seen_since_ns;

    /* Fork-join frames it spawned (fj.h): owner and thieves. */
    tpi_fj fj;

    _Alignas(TPI_CACHE_LINE) tpi_worker_own own;
};

struct tp_pool {
    pthread_mutex_t mu;
    pthread_cond_t space_cv;    /* submitters blocked on a full queue */
    pthread_cond_t state_cv;    /* start-up, idle waits, shutdown */
    /* The injectors, one per priority level (inject.h): submitters push
     * without a lock; consumers take from them under inj_mu, which
     * workers only try (one that fails looks elsewhere). */
    pthread_mutex_t inj_mu;
    tpi_injector inj[TPI_LEVELS];
    /* Workers on the idle list, and those between W1 and getting on it or
     * giving up (W1, R2). */
    _Atomic unsigned sleepers;
    _Atomic unsigned searching; /* awake workers looking for work (S-) */
    tpi_worker *idle;           /* most recently idled first (mu) */
    unsigned started_threads;   /* workers up (mu) */
    _Atomic unsigned state_waiters; /* changed under mu, read anywhere */
    _Atomic unsigned space_waiters; /* changed under mu, read anywhere */
    _Atomic size_t queued;      /* bounded pools only: places taken */
    /* By non-workers: a release increment before the task is visible, so
     * that a reader who sees it finished also sees it submitted. */
    _Atomic uint64_t ext_submitted;
    /* Tasks run inline by submitters, and tasks settled without running
     * by any thread (tpi_pool_settled_unrun) (mu). */
    uint64_t ext_started, ext_completed, ext_dropped;
    tpi_task *aborted;          /* met by workers during an abort (mu) */
    int stopping;               /* (mu); workers read stop_flag */
    _Atomic int stop_flag;
    _Atomic bool abort;
    bool joining, joined;       /* (mu) */
    /* The thread count (threads.c; mu): `target` asked for, `blocked`
     * workers inside tp_task_blocking_begin/end, `live` slots [0, live)
     * with a thread that stays: target + blocked, at most nthreads. */
    unsigned target, blocked, live;
    _Atomic unsigned live_seen; /* live, for readers without mu */

    /* Set by tp_pool_create(), then only read. */
    unsigned gen; /* process generation (fork.c) it was created in */
    unsigned nthreads;          /* worker slots: tp_options.max_threads */
    tpi_worker *workers;        /* aligned, inside workers_mem */
    void *workers_mem;
    void *block;                /* the allocation p lies in (p is aligned) */
    size_t capacity;
    tp_full_policy on_full;
    int64_t submit_timeout_ms;
    tp_thread_hook on_start, on_stop;
    void *hook_ctx;
    size_t stack_size;          /* 0: the system's default */
    /* pin_threads: worker i runs on cpus[i % ncpus]; ncpus 0: not pinned. */
    unsigned ncpus;
    unsigned short cpus[TPI_MAX_PINNED];
    char name[16]; /* prefix: the kernel keeps 15 bytes of a name */

    tpi_taskmem *mem;           /* memory of ordinary tasks (taskmem.c) */
    /* Delayed and periodic tasks, timeouts (timer.c): made by the first
     * timer, closed by the shutdown. */
    _Atomic(struct tpi_timers *) timers;
};

/* ---- batches of ordinary tasks ---------------------------------------------
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
 * finish frees the block.  Carriers are ordinary tasks (no future),
 * recognised by their fn (tpi_batch_carrier) wherever a task is taken.
 */
typedef struct tpi_batch {
    _Atomic size_t next;       /* first job not claimed yet */
    _Atomic unsigned carriers; /* carriers not finished: the last frees */
    size_t n;
    size_t chunk;
    tp_job jobs[];
} tpi_batch;

/* A carrier's fn: it marks carrier tasks and is never called. */
void *tpi_batch_carrier(void *arg);

/* A carrier is done with its batch; the last one frees it. */
void tpi_batch_unref(tpi_batch *b);

/* Claims every job not yet claimed: returns the first (b->n if none). */
static inline size_t tpi_batch_claim_rest(tpi_batch *b)
{
    return atomic_exchange_explicit(&b->next, b->n, memory_order_relaxed);
}

/* ---- small helpers ---------------------------------------------------------- */

/* The worker running on this thread (sched.c), or NULL.  It names the
 * thread; it carries no argument.  Read on every submit, spawn and sync:
 * initial-exec makes that a load beside the thread pointer, with no call
 * to __tls_get_addr, in the shared library too. */
#if defined(__GNUC__)
#define TPI_TLS_IE __attribute__((tls_model("initial-exec")))
#else
#define TPI_TLS_IE
#endif
extern _Thread_local tpi_worker *tpi_self TPI_TLS_IE;

/* The owner's xorshift64: cheap, and only needs to spread victims. */
static inline uint64_t tpi_worker_rand(tpi_worker *w)
{
    uint64_t x = w->own.rng;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return w->own.rng = x;
}

static inline uint64_t tpi_load64(_Atomic uint64_t *a)
{
    return atomic_load_explicit(a, memory_order_relaxed);
}

/* Single-writer counter: a load and a store, no read-modify-write.  The
 * release store lets a reader that sees a task finished also see it
 * submitted (see tpi_pool_idle()). */
static inline void tpi_bump(_Atomic uint64_t *a, uint64_t n)
{
    atomic_store_explicit(a, tpi_load64(a) + n, memory_order_release);
}

/* A pool created before a fork() has no workers in the child. */
static inline bool tpi_forked(const tp_pool *p)
{
    return p->gen != tpi_fork_generation();
}

/* True if the calling thread is one of p's workers. */
static inline bool tpi_on_worker_of(const tp_pool *p)
{
    return tpi_self != NULL && tpi_self->pool == p;
}

/* The calling thread as a worker of p, or NULL: looked up once by an
 * entry point and passed to what it calls. */
static inline tpi_worker *tpi_worker_of(const tp_pool *p)
{
    return tpi_on_worker_of(p) ? tpi_self : NULL;
}

/* ---- between the pool's files ------------------------------------------------ */

/* sched.c */
void *tpi_worker_main(void *arg);
tpi_worker *tpi_idle_claim(tp_pool *p);       /* mu held */
void tpi_unpark_list(tpi_worker *wake);       /* linked by idle_next */
void tpi_wake_some(tp_pool *p, size_t n);     /* F2, R2 */
void tpi_wake_some_sc(tp_pool *p, size_t n);  /* R2 after a seq_cst push */
void tpi_worker_unpark_waiting(tpi_worker *w); /* fork-join, fj.c */

/* pool.c */
bool tpi_pool_idle(tp_pool *p);               /* mu held */
void tpi_notify_if_idle(tp_pool *p);

/* submit.c: k tasks of a bounded pool left the queue. */
void tpi_release_room(tp_pool *p, size_t k);

/* taskmem.c: memory for an ordinary task of p (NULL when out of memory),
 * and its return once the task has run or been dropped; the pool's
 * memory for them (create returns 0 or an errno value), which the pool
 * releases when it is destroyed. */
tpi_task *tpi_task_alloc(tp_pool *p, tpi_worker *self);
void tpi_task_free(tp_pool *p, tpi_worker *self, tpi_task *t);
int tpi_taskmem_create(tpi_taskmem **out);
void tpi_taskmem_release(tpi_taskmem *m);

#endif
