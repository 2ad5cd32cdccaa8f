/*
 * future.h - tasks, and a task with its future as one object (internal).
 *
 * A tpi_task is what queues, workers and shutdowns handle: a link, fn, arg
 * and id.  An ordinary task (tp_submit, batches without futures) is only
 * that, 32 bytes.  A tp_future is a task and the place its outcome lands:
 * it begins with its tpi_task, which is what the pool queues, so a submit
 * with a future still allocates once.  The low bits of the task's `idk`
 * word (TPI_K_*) say which of the two a queued task is, and for a future
 * the facts about it that never change once it is published (in caller
 * storage, the library's own, accounted by a queue, a promise, with a
 * deadline), so that they cost no field of their own.
 *
 * Size.  A future is 64 bytes, one cache line's worth (eight words: the
 * task, state and refs, the outcome, pool, listeners), carved without a
 * header from futmem.c's blocks.  To get there, what never changes after
 * publication is in idk's kind bits, the fork generation rides in the
 * state word, the result and the error share a word (0 from creation;
 * while the task runs, tp_task_fail() writes its code there), and
 * waiters and done-callbacks share one list.  A start
 * deadline, which few tasks have, lives in an extension after the future
 * (tpi_future_ext), in memory of its own or in caller storage.
 *
 * State word.  `state` holds a tp_state in its low bits plus flags:
 *   TPI_F_LISTENERS  someone is registered (waiter or done-callback); the
 *                    settling thread must take the future's lock.
 *   TPI_F_STOP       tp_future_cancel() asked the running task to stop.
 *   TPI_F_EXPIRED    (with CANCELLED) its start deadline passed.
 *   TPI_F_STARTED    its function was called (set with RUNNING, kept).
 * Transitions are CASes on the word: PENDING -> RUNNING (a worker starts
 * it), PENDING -> CANCELLED, RUNNING -> COMPLETED | FAILED | CANCELLED,
 * and for a periodic task between two runs RUNNING -> PENDING (timer.c;
 * STARTED stays set, and every settle keeps it).  Once final, the word
 * never changes again (flags included).
 *
 * Accounting.  A task in a pool's queue (`queued`) holds a place in a
 * bounded queue and is counted by the pool's statistics.  Whichever thread
 * moves it out of PENDING gives the place back and counts it: the worker
 * that starts it, or, for a task settled without running (cancelled,
 * expired, withdrawn, dropped by a shutdown), the settling thread itself,
 * at once (tpi_pool_settled_unrun), even if the task's memory is still in
 * a queue that no worker reaches for a while.
 *
 * Locking.  The waiter and callback lists of a future are guarded by one
 * mutex of a fixed, statically initialised table, chosen by hashing the
 * future's address (a "parking lot"): no per-future mutex to create or
 * destroy, and the lock does not live inside memory that may be freed.
 * LISTENERS is set only under that lock, so a settler that sees it clear
 * may settle with a single CAS and skip the lock (the common case: nobody
 * waits yet).  A settler that sees it set takes the lock, settles, detaches
 * both lists, unparks the waiters while still holding the lock, then runs
 * the callbacks after unlocking.  Waiter nodes live on the waiters' stacks,
 * so a waiter may return only once no settler can touch its node: either
 * it finds the node's `fired` flag set (the settler sets it, under the
 * waiter's parker mutex, as its very last access to the node), or it takes
 * the future's lock, which a settler holds for as long as it uses nodes.
 * The first is the common case and spares the woken waiter a lock its
 * settler is still holding.
 *
 * Caller storage (tp_submit_inplace) is never freed.  The pool's release of
 * it is one atomic RMW setting TPI_POOL_DONE in refs (its last access to
 * the memory; the count below those bits is never acted on there);
 * a waiter that finds it not done yet marks itself there (WAITER) under
 * the future's lock and waits on the table's condition variable, which
 * the releasing thread then broadcasts (under that lock).  Either the
 * exchange comes first and the waiter sees DONE, or it sees WAITER; so in
 * the usual case neither side takes a lock.
 *
 * Lock order: future-table lock -> parker mutex.  No other lock is taken
 * while a future-table lock is held (callbacks run after it is released).
 *
 * References.  `refs` counts owners: the caller's handle (if it asked for a
 * future) and the pool's, which it drops after the task has settled and its
 * callbacks have run.  The last release frees the object (to the releasing
 * thread's cache: see futmem.c).  A future in caller storage is never
 * freed: there the pool's release is TPI_POOL_DONE, and its share of the
 * count is never given back.
 */
#ifndef TPI_FUTURE_H
#define TPI_FUTURE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "clock.h"
#include "fork.h"
#include "parker.h"
#include "tpool.h"

#define TPI_STATE_MASK 0x7u
#define TPI_F_LISTENERS 0x8u
#define TPI_F_STOP 0x10u
#define TPI_F_EXPIRED 0x20u /* with CANCELLED: its start deadline passed */
#define TPI_F_STARTED 0x40u /* its function was called */
/* Above the flags, the process generation (fork.c) in which the future
 * can settle: its pool's, or for a future made from others, that of a
 * pending input.  Set before it is published; every transition keeps it.
 * Its low 24 bits: a chain of 2^24 nested forks is not a real process. */
#define TPI_GEN_SHIFT 8
#define TPI_GEN_BITS 0xFFFFFF00u

/* A registration on a future: a waiter or a done-callback.  Both kinds
 * share one list per future (newest first), so that a future spends one
 * pointer on them; pprev lets a waiter unlink itself. */
typedef struct tpi_listener {
    struct tpi_listener *next;
    struct tpi_listener **pprev; /* NULL once detached */
    bool waiter;                 /* a tpi_waiter, else a tpi_callback */
} tpi_listener;

/* A thread blocked on one or more futures: a node per future, all pointing
 * to the thread's parker.  Lives on the waiter's stack. */
typedef struct tpi_waiter {
    tpi_listener node; /* first */
    tpi_parker *parker;
    bool fired; /* the settler is done with this node (parker's mutex) */
} tpi_waiter;

/* A done-callback registration.  Heap-allocated by tp_future_on_done(), or
 * embedded in a larger object by internal users (waitset). */
typedef struct tpi_callback {
    tpi_listener node; /* first */
    tp_done_fn fn;
    void *ctx;
    bool heap; /* free after running */
} tpi_callback;

/* The kind bits, the low TPI_K_BITS of a task's `idk` (its id is above
 * them).  All are set before the task is published and never change. */
#define TPI_K_FUTURE 0x01u   /* the task is a tp_future */
#define TPI_K_HEAP 0x02u     /* its memory is a tpi_malloc() of its own */
#define TPI_K_INPLACE 0x04u  /* in caller storage: never freed here */
#define TPI_K_INTERNAL 0x08u /* the library's own task: never handed to a
                                user's drop function */
#define TPI_K_QUEUED 0x10u   /* sits in a queue of `pool`, which accounts
                                for it (see Accounting above) */
#define TPI_K_PROMISE 0x20u  /* made by tp_promise_create(): its holder
                                settles it */
#define TPI_K_DEADLINE 0x40u /* a tpi_future_ext follows the future */
#define TPI_K_BITS 8

/* The queued part of every task. */
typedef struct tpi_task {
    struct tpi_task *next; /* queue link: its queue says who guards it */
    tp_task_fn fn;
    void *arg;
    uint64_t idk;          /* id << TPI_K_BITS | TPI_K_* */
} tpi_task;

static inline uint64_t tpi_task_id(const tpi_task *t)
{
    return t->idk >> TPI_K_BITS;
}

static inline bool tpi_task_is_future(const tpi_task *t)
{
    return (t->idk & TPI_K_FUTURE) != 0;
}

/* In caller storage, `refs` also carries the pool's release (above the
 * count, which never reaches these bits). */
#define TPI_POOL_DONE 0x40000000u
#define TPI_POOL_WAITER 0x80000000u

struct tp_future {
    tpi_task task;        /* first: a queued future is &f->task */
    _Atomic uint32_t state; /* tp_state, TPI_F_*, and the generation */
    _Atomic uint32_t refs; /* the count; in caller storage also
                              TPI_POOL_DONE | TPI_POOL_WAITER */
    union {
        void *result;     /* COMPLETED: what the function returned */
        int error;        /* FAILED: its code; while RUNNING, what the
                             task gave tp_task_fail() (0: nothing) */
    } out;                /* written by the running or settling thread
                             before the final state is published; read
                             by others once final */
    struct tp_pool *pool; /* the pool that runs it; valid until it settles */
    tpi_listener *listeners; /* future-table lock; newest first */
};

/* What follows a future with TPI_K_DEADLINE, in the same memory: only
 * tasks with a start deadline pay for it. */
typedef struct tpi_future_ext {
    uint64_t deadline_ns; /* start deadline (monotonic ns) */
} tpi_future_ext;

/* The generation of the calling process, as futures record it. */
static inline unsigned tpi_gen_now(void)
{
    return tpi_fork_generation() & (TPI_GEN_BITS >> TPI_GEN_SHIFT);
}

static inline unsigned tpi_future_gen(const tp_future *f)
{
    return atomic_load_explicit(&f->state, memory_order_relaxed) >>
           TPI_GEN_SHIFT;
}

/* Gives an unpublished future the generation `gen` (tpi_future_gen()). */
static inline void tpi_future_set_gen(tp_future *f, unsigned gen)
{
    uint32_t s = atomic_load_explicit(&f->state, memory_order_relaxed);
    atomic_store_explicit(&f->state,
                          (s & ~TPI_GEN_BITS) | (uint32_t)gen << TPI_GEN_SHIFT,
                          memory_order_relaxed);
}

static inline bool tpi_future_has(const tp_future *f, unsigned kind)
{
    return (f->task.idk & kind) != 0;
}

/* Sets kind bits; only before the future is published. */
static inline void tpi_future_mark(tp_future *f, unsigned kind)
{
    f->task.idk |= kind;
}

static inline bool tpi_future_inplace(const tp_future *f)
{
    return tpi_future_has(f, TPI_K_INPLACE);
}

/* Its start deadline, 0 for none. */
static inline uint64_t tpi_future_deadline(const tp_future *f)
{
    if (!tpi_future_has(f, TPI_K_DEADLINE))
        return 0;
    return ((const tpi_future_ext *)(const void *)(f + 1))->deadline_ns;
}

/* Gives f a start deadline; only before it is published, and only where
 * its memory has room for the extension (caller storage; see
 * tpi_future_new_dl()). */
static inline void tpi_future_put_deadline(tp_future *f, uint64_t ns)
{
    ((tpi_future_ext *)(void *)(f + 1))->deadline_ns = ns;
    tpi_future_mark(f, TPI_K_DEADLINE);
}

/* The future a queued task is (tpi_task_is_future(t) must hold). */
static inline tp_future *tpi_future_of(tpi_task *t)
{
    return (tp_future *)(void *)t;
}

static inline uint64_t tpi_future_id_of(const tp_future *f)
{
    return tpi_task_id(&f->task);
}

/* Makes t an ordinary task with a fresh id. */
void tpi_task_init(tpi_task *t, tp_task_fn fn, void *arg);

/* Allocates a PENDING future with `refs` references and a fresh id.
 * Returns NULL when out of memory. */
tp_future *tpi_future_new(tp_task_fn fn, void *arg, struct tp_pool *pool,
                          uint32_t refs);

/* Allocates as tpi_future_new(), with a start deadline when deadline_ns
 * is not 0 (then in memory of its own, with room for the extension). */
tp_future *tpi_future_new_dl(tp_task_fn fn, void *arg, struct tp_pool *pool,
                             uint32_t refs, uint64_t deadline_ns);

/* Initialises a future in caller storage (TPI_K_INPLACE), which has room
 * for a deadline.  Returns it. */
tp_future *tpi_future_init(void *mem, tp_task_fn fn, void *arg,
                           struct tp_pool *pool, uint32_t refs);

/* Frees a future that was never published (submit failed). */
void tpi_future_discard(tp_future *f);

/* Drops the pool's reference to a task it has finished with.  For a
 * future in caller storage it also records, under the future-table lock,
 * that the pool is done with the memory and wakes tpi_future_wait_pool(). */
void tpi_future_pool_release(tp_future *f);

/* For a future in caller storage: waits (until the deadline) for the pool
 * to drop its reference.  Returns 0 or TP_ETIMEDOUT. */
int tpi_future_wait_pool(tp_future *f, const tpi_deadline *dl);

/* For a future in caller storage: whether the pool has let go of it (then
 * tpi_future_wait_pool() would return 0 at once). */
static inline bool tpi_future_pool_done(tp_future *f)
{
    return (atomic_load_explicit(&f->refs, memory_order_acquire) &
            TPI_POOL_DONE) != 0;
}

/* A future with no task behind it (a "promise"), PENDING, with `refs`
 * references: whoever creates it settles it with tpi_promise_settle().
 * Used to build futures out of other futures (continuations, when_all).
 * Returns NULL when out of memory. */
tp_future *tpi_promise_new(uint32_t refs);

/* Settles a promise: stores result (COMPLETED) or error (FAILED, or
 * CANCELLED with TP_ECANCELED), wakes waiters and runs callbacks.
 * Returns false if it had already settled (e.g. it was cancelled).  At
 * most one thread may call this for a given promise (tp_future_cancel()
 * may race with it: it writes neither result nor error). */
bool tpi_promise_settle(tp_future *f, tp_state to, void *result, int error);

static inline tp_state tpi_state_of(uint32_t word)
{
    return (tp_state)(word & TPI_STATE_MASK);
}

static inline bool tpi_is_final(uint32_t word)
{
    return tpi_state_of(word) >= TP_COMPLETED;
}

static inline bool tpi_future_done(const tp_future *f)
{
    return tpi_is_final(atomic_load_explicit(&f->state, memory_order_acquire));
}

/* Moves f from state `from` to the final state `to`, wakes its waiters and
 * runs its callbacks.  Returns false (and does nothing) if f was not in
 * state `from`.  The caller holds a reference. */
bool tpi_future_settle(tp_future *f, tp_state from, tp_state to);

/* Settles a PENDING task CANCELLED because its start deadline passed
 * (tp_future_error() then says TP_EEXPIRED).  Returns false if it was no
 * longer pending. */
bool tpi_future_expire(tp_future *f);

/* Starts a PENDING task: PENDING -> RUNNING.  Returns false if it was no
 * longer PENDING (someone settled it, and accounted for it).  The caller
 * holds a reference. */
bool tpi_future_start(tp_future *f);

/* A periodic task's run has ended and another is to come: RUNNING ->
 * PENDING, keeping the flags.  Returns false (and changes nothing) if a
 * stop was requested meanwhile (tp_future_cancel() while it ran). */
bool tpi_future_rearm(tp_future *f);

/* Runs a task that tpi_future_start() started, on the calling thread:
 * fn(arg), then settles it. */
void tpi_future_execute(tp_future *f);

/* Both: returns false (and runs nothing) if f was no longer PENDING. */
bool tpi_future_run(tp_future *f);

/* Links w to f's waiters unless f has settled.  Returns false (w not
 * linked) when f is final. */
bool tpi_future_add_waiter(tp_future *f, tpi_waiter *w);

/* Unlinks w if it is still linked.  Unless w has fired (its settler has
 * finished with it) it takes f's lock, so that after it returns no settler
 * can still be touching w. */
void tpi_future_remove_waiter(tp_future *f, tpi_waiter *w);

/* Registers cb (an embedded node) to run when f settles; if f has settled,
 * runs it now on this thread. */
void tpi_future_add_callback(tp_future *f, tpi_callback *cb);

/* Installs (once) the fork handlers of the future table: its locks are
 * taken around fork(), so that the child never inherits one held by a
 * thread it does not have.  tp_pool_create() calls it. */
void tpi_future_fork_install(void);

/* The future of the task currently running on this thread, or NULL (none,
 * or an ordinary task). */
tp_future *tpi_current_task(void);

/* The pool whose task this thread runs (ordinary or not), or NULL. */
struct tp_pool *tpi_current_pool(void);

/* Reserves n consecutive fresh ids and returns the first. */
uint64_t tpi_ids_reserve(size_t n);

/* What this thread is running: the future of the task (NULL for an
 * ordinary task), the id it reports (the task's, or for a job of a batch
 * run by a carrier the job's own), and its pool.  enter() returns the
 * previous context for leave() to restore (a waiting worker runs tasks
 * nested). */
typedef struct tpi_running_ctx {
    tp_future *task;
    uint64_t id;
    struct tp_pool *pool;
} tpi_running_ctx;
tpi_running_ctx tpi_running_enter(tp_future *f, uint64_t id,
                                  struct tp_pool *pool);
void tpi_running_leave(tpi_running_ctx saved);

/* Non-zero if f (running) was asked to stop, by tp_future_cancel() or by an
 * immediate shutdown of its pool. */
int tpi_stop_requested(const tp_future *f);

#endif
