/**
 * @file
 * tpool.h - a pool of threads that runs asynchronous tasks, with futures.
 *
 * This header is the reference manual.  Every function says what it does,
 * whether it may be called from several threads at once, who owns each
 * pointer before and after the call, and every error it returns.
 *
 * Conventions
 * -----------
 * - Every public name starts with tp_ (functions, types) or TP_ (macros,
 *   constants).  Handles are opaque.
 * - Functions that can fail return 0 on success or a negative TP_E* code;
 *   tp_strerror() and tp_err_name() describe a code.  The library never
 *   prints, exits or aborts because of a caller's mistake.
 * - Timeouts are in milliseconds on the monotonic clock: 0 means "poll, do
 *   not block", a negative value means "wait for ever".
 * - A task is a function `void *fn(void *arg)`: the pointer it returns is
 *   the task's result.  A task reports failure with tp_task_fail().
 *
 * Lifetime of a task and its future
 * ---------------------------------
 * A future is reference counted.  tp_submit_future() hands the caller one
 * reference; the pool holds another until the task has settled and its
 * done-callbacks have run.  The caller drops its reference with
 * tp_future_release(), at any time: before the task has run, while it runs,
 * or after.  The memory goes when the last reference goes.  A future may
 * outlive the pool that ran it.
 *
 * ~~~
 *   PENDING --worker takes it--> RUNNING --returns--> COMPLETED or FAILED
 *      |                            |
 *      +--tp_future_cancel()--+     +--task acknowledges a stop request
 *      +--immediate shutdown--+-------------------------> CANCELLED
 * ~~~
 *
 * The argument `arg` is never touched by the library; it belongs to the
 * caller, who may free it once the task has settled (or from a
 * done-callback, or when an immediate shutdown hands the task back).
 *
 * Signals and fork
 * ----------------
 * Blocking calls are not cut short by signal handlers: a wait resumes
 * after the handler returns and still ends at its original deadline.
 * After fork(), the child has none of the parent's worker threads: every
 * call on a pool created before the fork returns TP_EFORKED without doing
 * anything (except tp_pool_destroy(), which frees the child's copy of it
 * and returns 0), and a wait that only such a pool could end returns
 * TP_EFORKED instead of blocking for ever: on a future of that pool that
 * has not settled (or, in caller storage, that the pool has not yet let go
 * of), on a future made from such futures that cannot settle before they
 * do (tp_future_then(), tp_when_all(), tp_when_any(), before the fork or
 * after), and in tp_waitset_next() when nothing left in the set can
 * settle.  New pools work normally in the child.  A tp_queue, like any
 * mutex-based object, may be used after fork by one of the two processes
 * only if no other thread was inside one of its calls at the moment of the
 * fork; for a tp_waitset, a worker settling one of its futures counts as
 * being inside one.
 */
#ifndef TPOOL_H
#define TPOOL_H

#include <errno.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(_WIN32)
#define TP_EXTERN /* nothing */
#elif defined(__GNUC__)
#define TP_EXTERN __attribute__((visibility("default")))
#else
#define TP_EXTERN /* nothing */
#endif

/* ------------------------------------------------------------------------ */
/* Version                                                                  */
/* ------------------------------------------------------------------------ */

/** The major version number of this header. */
#define TP_VERSION_MAJOR 0
/** The minor version number of this header. */
#define TP_VERSION_MINOR 1
/** The patch version number of this header. */
#define TP_VERSION_PATCH 0
/** 0xMMmmpp: compare with (TP_VERSION_HEX >= 0x000100). */
#define TP_VERSION_HEX                                                         \
    ((TP_VERSION_MAJOR << 16) | (TP_VERSION_MINOR << 8) | TP_VERSION_PATCH)

/**@{*/
/** The version of the library linked at run time, as TP_VERSION_HEX and as a
 * "MAJOR.MINOR.PATCH" string (static storage).  Thread-safe. */
TP_EXTERN unsigned tp_version(void);
TP_EXTERN const char *tp_version_string(void);
/**@}*/

/* ------------------------------------------------------------------------ */
/* Errors                                                                   */
/* ------------------------------------------------------------------------ */

/** The whole error set, in one table: name, value, message.  Codes that have
 * a POSIX errno equivalent are its negation; the others are tpool's own. */
#define TP_ERRNO_MAP(XX)                                                       \
    XX(EINVAL, -EINVAL, "invalid argument")                                    \
    XX(ENOMEM, -ENOMEM, "out of memory")                                       \
    XX(EAGAIN, -EAGAIN, "could not start a thread (resource limit)")           \
    XX(ETIMEDOUT, -ETIMEDOUT, "timed out")                                     \
    XX(ECANCELED, -ECANCELED, "task was cancelled")                            \
    XX(EDEADLK, -EDEADLK, "waiting here would deadlock")                       \
    XX(EBUSY, -EBUSY, "task is running; it was asked to stop")                 \
    XX(EALREADY, -EALREADY, "task has already settled")                        \
    XX(EPERM, -EPERM, "not allowed from this thread")                          \
    XX(ESHUTDOWN, -4001, "pool or queue is shut down")                         \
    XX(EFULL, -4002, "queue is full")                                          \
    XX(EEMPTY, -4003, "queue is empty")                                        \
    XX(EFAILED, -4004, "task reported failure (see tp_future_error)")         \
    XX(EFORKED, -4005, "pool was created before fork(); unusable here")     \
    XX(EEXPIRED, -4006, "task did not start before its deadline")

/** The error codes, one per row of TP_ERRNO_MAP: TP_EINVAL, TP_ENOMEM,
 * ... (the row's name with the TP_ prefix). */
enum tp_errno {
#define TP_ERR_ENUM_(name, value, msg) TP_##name = (value),
    TP_ERRNO_MAP(TP_ERR_ENUM_)
#undef TP_ERR_ENUM_
};

/**@{*/
/** A message for an error code, e.g. "timed out" for TP_ETIMEDOUT, and its
 * symbolic name, e.g. "TP_ETIMEDOUT".  An unknown code gives "unknown error"
 * and "TP_EUNKNOWN"; 0 gives "success" and "TP_OK".  The strings have static
 * storage.  Thread-safe. */
TP_EXTERN const char *tp_strerror(int err);
TP_EXTERN const char *tp_err_name(int err);
/**@}*/

/* ------------------------------------------------------------------------ */
/* Allocator                                                                */
/* ------------------------------------------------------------------------ */

/** An allocation function for tp_replace_allocator(), with the contract of
 * malloc(). */
typedef void *(*tp_malloc_fn)(size_t size);
/** A deallocation function for tp_replace_allocator(), with the contract
 * of free(). */
typedef void (*tp_free_fn)(void *ptr);

/** Replaces the functions the library allocates with (default: malloc and
 * free).  Call it before any other tpool function, or when no pool, queue or
 * future exists: memory allocated with one allocator is freed with the one
 * in force when it is freed.  Passing NULL for both restores the defaults.
 * Memory: with the defaults, futures are 64-byte blocks that the library
 * recycles, in slabs of 64 KiB, while any pool exists; the slabs go back
 * once no pool exists and every future has been released, and each thread
 * that cached some has since exited, destroyed the last pool or released a
 * future.  With functions of
 * your own, each future is an allocation of its own, so they see every
 * one.
 * Not thread-safe with respect to any other tpool call.
 * Errors: TP_EINVAL if exactly one of the two is NULL. */
TP_EXTERN int tp_replace_allocator(tp_malloc_fn malloc_fn, tp_free_fn free_fn);

/* ------------------------------------------------------------------------ */
/* Tasks                                                                    */
/* ------------------------------------------------------------------------ */

/** A task: runs on a worker thread with the argument given at submit; what it
 * returns is its result (read with tp_future_get()). */
typedef void *(*tp_task_fn)(void *arg);

/** One task of a batch (tp_submit_batch()), and the form in which an
 * immediate shutdown hands back a task it did not run.  `id` is ignored on
 * input and set on output. */
typedef struct tp_job {
    tp_task_fn fn; /**< the task */
    void *arg;     /**< its argument */
    uint64_t id;   /**< its id (tp_future_id()) */
} tp_job;

/** Called by a task, on the thread that runs it: marks the running task as
 * failed with `code` (any non-zero value of the caller's choosing, e.g. a
 * positive errno).  Its future then settles FAILED when the task returns,
 * tp_future_get() returns TP_EFAILED, and tp_future_error() returns `code`.
 * A task that was asked to stop (tp_task_stop_requested()) and reports
 * TP_ECANCELED settles CANCELLED instead.  The last call wins.
 * Errors: TP_EPERM if the calling thread is not running a task; TP_EINVAL if
 * code is 0. */
TP_EXTERN int tp_task_fail(int code);

/** Called by a task: non-zero if someone called tp_future_cancel() on the
 * running task (or on a task that was pending and raced with the start).
 * A cheap check (one thread-local read and one atomic load) that a long task
 * can poll.  Returns 0 when the caller is not running a task. */
TP_EXTERN int tp_task_stop_requested(void);

/** Called by a task: its id (the same as tp_future_id() of its future).
 * Returns 0 when the caller is not running a task (ids start at 1). */
TP_EXTERN uint64_t tp_task_id(void);

/** The index (0 .. max_threads-1, as passed to the thread hooks) of the
 * pool worker this is called on, or -1 if the calling thread is not a
 * worker of any pool (a task run on its submitting thread by
 * TP_FULL_CALLER_RUNS gets -1).  At any moment each index belongs to one
 * thread at most.  For per-worker data without locks: an array of
 * tp_pool_max_size() slots indexed by it.  Thread-safe; one thread-local
 * read. */
TP_EXTERN int tp_worker_index(void);

/** Called by a task about to block outside the library (I/O, a lock held
 * elsewhere, a sleep): while it blocks, its pool keeps as many workers
 * free for other work as before, by starting (or keeping) one extra
 * thread, within tp_options.max_threads; tp_task_blocking_end(), after
 * the blocking call, gives the extra thread back (it exits after the task
 * it is running).  Calls nest: only the outermost pair counts.  Waiting
 * on futures, waitsets and fork-join needs no such call (a waiting worker
 * runs other tasks).  Called anywhere else than in a task on a pool's
 * worker, it does nothing and returns 0.  Call tp_task_blocking_end()
 * once for each call, whatever it returned.
 * Errors: TP_EAGAIN or TP_ENOMEM: the system refused the extra thread (the
 * task may block all the same; the pool has one worker fewer meanwhile). */
TP_EXTERN int tp_task_blocking_begin(void);

/** Ends what tp_task_blocking_begin() began, on the same thread.  Does
 * nothing without a matching tp_task_blocking_begin() (a call beyond the
 * count is ignored). */
TP_EXTERN void tp_task_blocking_end(void);

/* ------------------------------------------------------------------------ */
/* Pool                                                                     */
/* ------------------------------------------------------------------------ */

/** An opaque pool handle (tp_pool_create()). */
typedef struct tp_pool tp_pool;

/** What a submit does when the pool's queue is at capacity. */
typedef enum tp_full_policy {
    TP_FULL_BLOCK = 0,  /**< wait for room, up to options.submit_timeout_ms */
    TP_FULL_FAIL,       /**< return TP_EFULL at once                        */
    TP_FULL_CALLER_RUNS /**< run the task on the submitting thread, now     */
} tp_full_policy;

/** Per-thread hooks: run on each worker thread, `on_start` before it takes its
 * first task and `on_stop` after its last.  `index` is 0..threads-1. */
typedef void (*tp_thread_hook)(unsigned index, void *ctx);

/*
 * Option structs that grow
 * ------------------------
 * tp_options and tp_task_opts gain fields in later versions, at their end,
 * without breaking programs built against an older header.  Each begins
 * with `size`, the size of the layout the program was compiled with, which
 * tp_options_init() and tp_task_opts_init() (inline functions) pass to the
 * library.  So:
 * - A program built against an older header runs with a newer library: the
 *   fields it does not know keep their defaults.
 * - A program built against a newer header runs with an older library as
 *   long as it leaves the fields that library does not know at their
 *   defaults (every new field's default is all zero bytes); otherwise the
 *   call that reads the struct returns TP_EINVAL, rather than silently
 *   ignoring an option the caller asked for.
 * - `size` 0 (a struct zeroed by hand, never passed to the init function)
 *   reads as the first layout, TP_OPTIONS_SIZE_V1 or TP_TASK_OPTS_SIZE_V1
 *   bytes, so such code keeps its meaning.  Any other size below those is
 *   TP_EINVAL.  Initialising with the init function is the supported way.
 */

/** Options of tp_pool_create(); tp_options_init() fills in the defaults. */
typedef struct tp_options {
    /** The size of this struct as the caller was compiled: set by
     * tp_options_init() (see "Option structs that grow"). */
    size_t size;
    /** Worker threads.  0: twice the number of online CPUs (the classic
     * advice for a mix of CPU- and I/O-bound work); at most TP_MAX_THREADS. */
    unsigned threads;
    /** Prefix of the threads' names, as shown by top -H, ps -L and gdb: the
     * worker with index i is called "<prefix>-<i>", cut to the 15 bytes the
     * kernel keeps.  NULL: "tpool".  Copied; need not outlive the call. */
    const char *name;
    /** Maximum number of queued (accepted, not yet started) tasks.  0: no
     * bound.  At most TP_MAX_CAPACITY. */
    size_t queue_capacity;
    /** What a submit does when the queue is full (ignored when unbounded). */
    tp_full_policy on_full;
    /** With TP_FULL_BLOCK: how long a submit waits for room before it
     * returns TP_EFULL; negative (the default): for ever. */
    int64_t submit_timeout_ms;
    tp_thread_hook on_thread_start; /**< may be NULL */
    tp_thread_hook on_thread_stop;  /**< may be NULL */
    void *hook_ctx;                 /**< passed to both hooks */
    /** Stack size of each worker thread, in bytes (rounded up to whole
     * pages).  0 (the default): the system's default, usually 8 MiB on
     * Linux.  Deep recursion in tasks, including fork-join nested deeply
     * (a worker that waits runs the awaited task on its own stack, about
     * a kilobyte a level), may need more.  Below the system's minimum
     * (PTHREAD_STACK_MIN): tp_pool_create() fails with TP_EINVAL. */
    size_t stack_size;
    /* ---- end of the first layout (TP_OPTIONS_SIZE_V1) ---- */
    /** Nonzero: each worker is bound to one CPU, worker i to the (i mod n)-th
     * of the n CPUs that the thread calling tp_pool_create() may run on (its
     * affinity mask then), so that workers do not migrate.  0 (the default):
     * the system places the threads.  Where the system cannot bind threads,
     * tp_pool_create() fails with TP_EINVAL. */
    int pin_threads;
    /** The most worker threads the pool may ever have at once: the bound
     * of tp_pool_resize() and of the extra threads that
     * tp_task_blocking_begin() starts.  0 (the default): `threads`, so the
     * pool never grows past its first size and blocked tasks get no extra
     * threads.  At least `threads` (a default `threads` is cut to it), at
     * most TP_MAX_THREADS.  Each slot costs about 2 KiB, thread or not. */
    unsigned max_threads;
} tp_options;

/** The size of tp_options as first published, with every field up to
 * stack_size (see "Option structs that grow"). */
#define TP_OPTIONS_SIZE_V1 (offsetof(tp_options, stack_size) + sizeof(size_t))

/** The largest tp_options.threads. */
#define TP_MAX_THREADS 4096u
/** The largest capacity of a pool's queue or of a tp_queue. */
#define TP_MAX_CAPACITY ((size_t)1 << 40)

/** Fills the first `size` bytes at *opts with the defaults of the fields
 * they hold and sets opts->size to `size`; fields of the library's layout
 * beyond `size` are not written, nor is anything past `size`.  Called with
 * sizeof(tp_options) by tp_options_init(), which is what programs use.
 * Thread-safe.
 * Errors: TP_EINVAL if opts is NULL or size is below TP_OPTIONS_SIZE_V1
 * (then nothing is written). */
TP_EXTERN int tp_options_init_size(tp_options *opts, size_t size);

/** Fills *opts with the defaults: threads 0 (2 x CPUs), name "tpool",
 * unbounded queue, TP_FULL_BLOCK, wait for ever, no hooks, the system's
 * stack size, threads not pinned; opts->size is the size of this header's
 * layout.  Thread-safe.
 * Errors: TP_EINVAL if opts is NULL. */
static inline int tp_options_init(tp_options *opts)
{
    return tp_options_init_size(opts, sizeof(tp_options));
}

/** Creates a pool and starts its workers; when it returns 0, every worker is
 * running (its on_start hook has returned) and waiting for work.  `opts`
 * may be NULL for the defaults; it is only read during the call.  On
 * success *out owns the new pool: destroy it with tp_pool_destroy().
 * Thread-safe (pools are independent of each other).
 * Errors: TP_EINVAL (out NULL, threads, max_threads or capacity over the
 * maximum, threads over max_threads, unknown
 * on_full, stack_size below the minimum, pin_threads where threads cannot
 * be bound, a bad opts->size or an option this library does not know: see
 * "Option structs that grow"), TP_ENOMEM, TP_EAGAIN (the system
 * refused a thread, or a stack of that size).  On error
 * nothing is left behind and *out is unchanged. */
TP_EXTERN int tp_pool_create(tp_pool **out, const tp_options *opts);

/** Submits an ordinary task: fn(arg) will run once on a worker; no result is
 * kept.  Thread-safe; may be called from inside a task of any pool.  A
 * task submitted from a worker of the same pool whose queue is full runs on
 * the calling worker at once (a blocking submit there could deadlock).
 * Errors: TP_EINVAL (pool or fn NULL), TP_ESHUTDOWN (shutdown has begun),
 * TP_EFULL (queue full with TP_FULL_FAIL, or TP_FULL_BLOCK timed out),
 * TP_ENOMEM.  On error the task was not accepted: fn will not run and arg
 * still belongs to the caller. */
TP_EXTERN int tp_submit(tp_pool *pool, tp_task_fn fn, void *arg);

/** An opaque, reference-counted future: the handle of an asynchronous task
 * (see "Lifetime of a task and its future" above). */
typedef struct tp_future tp_future;

/** Submits an asynchronous task and gives its future: on success *out holds
 * one reference, which the caller must give back with tp_future_release().
 * Otherwise as tp_submit().  With TP_FULL_CALLER_RUNS the future may already
 * have settled when this returns.  On error *out is unchanged. */
TP_EXTERN int tp_submit_future(tp_pool *pool, tp_task_fn fn, void *arg,
                               tp_future **out);

/** Priority levels.  A worker takes a queued task of a higher level
 * before any of a lower one: a high task starts as soon as a worker
 * finishes the task it is running (at once if one is idle).  Low tasks run
 * when there is nothing else to do, and also, so that a stream of other
 * work (of any level) cannot starve them, each worker takes a waiting low
 * task after every 32 others it starts.
 *
 * Order of starts within one level:
 * - Tasks submitted from outside the pool's workers (and high and low
 *   tasks from anywhere) are queued first in, first out.  With one worker
 *   they start exactly in submission order, batches included.  With
 *   several workers the order is approximate: a worker takes up to 32
 *   queued tasks at a time and runs them in order, while other workers
 *   may take some of those, so a task may start before a few dozen tasks
 *   submitted ahead of it.  Nothing is guaranteed about when tasks
 *   started in order *finish*.
 * - Normal tasks submitted by a task of the pool go on its worker's own
 *   queue and start newest first there (the order a nested call would
 *   run them in: fork-join), oldest first when other workers steal them.
 */
typedef enum tp_priority {
    TP_PRIORITY_HIGH = 0,
    TP_PRIORITY_NORMAL = 1, /**< tp_submit() and tp_submit_future() */
    TP_PRIORITY_LOW = 2
} tp_priority;

/** Options of one task, for tp_submit_ex() and tp_submit_inplace(). */
typedef struct tp_task_opts {
    /** The size of this struct as the caller was compiled: set by
     * tp_task_opts_init() (see "Option structs that grow"). */
    size_t size;
    tp_priority priority; /**< default TP_PRIORITY_NORMAL */
    /** The task must start within this many milliseconds of the submit;
     * if no worker has started it by then, it never runs: its future
     * settles CANCELLED, tp_future_get() and tp_future_error() give
     * TP_EEXPIRED.  The check costs nothing while the task waits (no timer):
     * the future settles when a worker reaches the task, or when a waiter
     * on it notices the deadline has passed.  Negative (the default): no
     * deadline. */
    int64_t start_deadline_ms;
} tp_task_opts;

/** The size of tp_task_opts as first published (see "Option structs that
 * grow"). */
#define TP_TASK_OPTS_SIZE_V1                                                   \
    (offsetof(tp_task_opts, start_deadline_ms) + sizeof(int64_t))

/** As tp_options_init_size(), for tp_task_opts.  Thread-safe.
 * Errors: TP_EINVAL if opts is NULL or size is below TP_TASK_OPTS_SIZE_V1
 * (then nothing is written). */
TP_EXTERN int tp_task_opts_init_size(tp_task_opts *opts, size_t size);

/** Fills *opts with the defaults (normal priority, no deadline); opts->size
 * is the size of this header's layout.  Thread-safe.
 * Errors: TP_EINVAL if opts is NULL. */
static inline int tp_task_opts_init(tp_task_opts *opts)
{
    return tp_task_opts_init_size(opts, sizeof(tp_task_opts));
}

/** Submits a task with options: as tp_submit_future() when `out` is not
 * NULL, else as tp_submit().  `opts` may be NULL (the defaults); it is only
 * read during the call.  Thread-safe.
 * Errors: as tp_submit(); also TP_EINVAL for an unknown priority, a bad
 * opts->size or an option this library does not know (see "Option structs
 * that grow"). */
TP_EXTERN int tp_submit_ex(tp_pool *pool, tp_task_fn fn, void *arg,
                           const tp_task_opts *opts, tp_future **out);

/** Bytes of a tp_task_storage: enough for any task of this version. */
#define TP_TASK_STORAGE_SIZE 128

/** Memory for one task and its future, provided by the caller (for
 * example as a member of their own struct), so that tp_submit_inplace()
 * allocates nothing.  Its contents are private. */
typedef struct tp_task_storage {
    union {
        long double align_ld_;
        void *align_ptr_;
        uint64_t align_u64_;
        unsigned char bytes_[TP_TASK_STORAGE_SIZE];
    } opaque_; /**< not to be touched */
} tp_task_storage;

/** Submits a task whose future lives in caller storage: as tp_submit_ex()
 * with a future, but without allocating (nor do waits on it with up to 8
 * futures at once).  *out receives the future, which points into
 * `storage`.
 * Lifetime: the library uses `storage` from this call until the task has
 * settled and the pool has let go of it; tp_future_wait() returning 0 on
 * the future means both have happened (so does tp_future_get() returning
 * 0, TP_EFAILED, TP_ECANCELED or TP_EEXPIRED).  After that, once the caller has released its reference
 * (tp_future_release(); and any it added with tp_future_retain() or
 * handed to a waitset), the storage is the caller's again: it may be freed
 * or reused for another submit.  The library never frees it.  If the
 * submit fails, the storage was not used.
 * Errors: as tp_submit_ex(); also TP_EINVAL if storage or out is NULL. */
TP_EXTERN int tp_submit_inplace(tp_pool *pool, tp_task_storage *storage,
                                tp_task_fn fn, void *arg,
                                const tp_task_opts *opts, tp_future **out);

/** Submits n tasks in one call, in order, much more cheaply than n calls.
 * `futures` is NULL (ordinary tasks) or an array of n slots that receive a
 * future for each accepted task (one reference each, as tp_submit_future()).
 * *accepted (may be NULL) receives the number of tasks accepted: always the
 * first ones, jobs[0 .. *accepted-1]; jobs[i].id is set for those.  Returns
 * 0 when all n were accepted, else the error that stopped the batch; the
 * tasks after it were not accepted, their futures slots are set to NULL and
 * their arguments still belong to the caller.  A batch of ordinary tasks
 * into an unbounded pool is accepted whole or not at all.  The jobs array
 * is copied where needed: the caller may reuse it as soon as this returns.
 * Thread-safe.
 * Errors: as tp_submit(); also TP_EINVAL if jobs is NULL with n > 0 or any
 * fn is NULL (checked before anything is accepted). */
TP_EXTERN int tp_submit_batch(tp_pool *pool, tp_job *jobs, size_t n,
                              tp_future **futures, size_t *accepted);

/** Number of worker threads the pool has now: its size at creation, as
 * changed since by tp_pool_resize(), plus the extra threads started for
 * tasks inside tp_task_blocking_begin/end.  Workers asked to leave by a
 * shrink are not counted, even while they finish their task.  Thread-safe.
 * Returns 0 for NULL. */
TP_EXTERN unsigned tp_pool_size(const tp_pool *pool);

/** The most worker threads the pool may have (tp_options.max_threads).
 * Thread-safe.  Returns 0 for NULL. */
TP_EXTERN unsigned tp_pool_max_size(const tp_pool *pool);

/** Changes the number of worker threads of a running pool to `threads`
 * (1..tp_pool_max_size()).  Growing starts the new workers before it
 * returns (they run their on_thread_start hook and take work as soon as
 * they are up).  Shrinking returns at once: each worker above the new
 * size finishes the task it is running, runs what is left in its own
 * queue, runs its on_thread_stop hook and exits; nothing queued is lost or
 * delayed by it, and a later grow may keep it or start a new thread in its
 * place.  Worker indices (tp_worker_index()) stay 0..size-1.  The extra
 * threads for blocked tasks come on top of `threads`.  Thread-safe; may be
 * called from a task, of this pool too.
 * Errors: TP_EINVAL (pool NULL, threads 0 or over tp_pool_max_size()),
 * TP_ESHUTDOWN (a shutdown has begun), TP_EFORKED, TP_EAGAIN or
 * TP_ENOMEM (the system refused a thread: the workers started before it
 * stay, and tp_pool_size() says how many there are). */
TP_EXTERN int tp_pool_resize(tp_pool *pool, unsigned threads);

/** The pool's counters (tp_pool_stats_get()). */
typedef struct tp_pool_stats {
    unsigned threads;    /**< worker threads now (tp_pool_size())         */
    size_t queued;       /**< accepted, neither started nor settled       */
    size_t running;      /**< being run by a worker right now             */
    uint64_t submitted;  /**< accepted since creation                     */
    uint64_t completed;  /**< ran and returned (COMPLETED or FAILED, or
                              CANCELLED by acknowledging a stop request) */
    uint64_t cancelled;  /**< settled without running: cancelled, expired
                              or dropped by a shutdown; counted, and its
                              place in a bounded queue given back, when it
                              settles, not when a worker reaches it      */
} tp_pool_stats;

/** The pool's counters.  Each worker keeps its own (so that counting
 * costs the scheduler nothing shared) and this sums them without stopping
 * the pool: while tasks run, queued and running may be a task or two off
 * (never negative); once the pool is idle every figure is exact.  A batch
 * of ordinary tasks counts as its number of tasks.  Thread-safe.
 * Errors: TP_EINVAL if pool or stats is NULL, TP_EFORKED. */
TP_EXTERN int tp_pool_stats_get(tp_pool *pool, tp_pool_stats *stats);

/** What one worker is doing, as seen by tp_pool_snapshot_get(). */
typedef struct tp_worker_info {
    unsigned index;        /**< 0 .. threads-1, as in its thread name */
    uint64_t running_task; /**< id of the task it runs (innermost), 0: none */
    unsigned depth;        /**< tasks on its stack: a task waiting on a
                                future runs others nested in the wait */
    uint64_t waiting_on;   /**< id of the future its innermost waiting task
                                waits for, 0: none */
    uint64_t running_ms;   /**< how long running_task has been running, as
                                far as snapshots know: measured from the
                                first snapshot that saw it (so 0 the first
                                time), which keeps the workers free of any
                                clock reading */
    size_t queued;         /**< tasks in its own deque */
    uint64_t started;      /**< tasks it has started */
    uint64_t completed;    /**< tasks it has run to the end */
    uint64_t stolen;       /**< tasks it took from other workers' deques */
} tp_worker_info;

/** The pool as a whole, as seen by tp_pool_snapshot_get(). */
typedef struct tp_pool_snapshot {
    tp_pool_stats stats; /**< as tp_pool_stats_get() */
    size_t injected[3];  /**< tasks in the shared queue of each priority
                              (index: tp_priority) */
    unsigned threads;    /**< worker threads now (tp_pool_size()) */
    unsigned workers;    /**< entries filled in the workers array */
} tp_pool_snapshot;

/** A live view of the pool, for debugging and monitoring: fills *snap and
 * the first `capacity` entries of `workers` (one per worker, by index:
 * the tp_pool_size() workers, not those leaving after a shrink).
 * It is read while the pool runs, without stopping it: figures about
 * tasks that come and go may be a moment apart, while a blocked worker is
 * seen exactly.  Thread-safe.
 * Errors: TP_EINVAL (pool or snap NULL, workers NULL with capacity > 0),
 * TP_EFORKED. */
TP_EXTERN int tp_pool_snapshot_get(tp_pool *pool, tp_pool_snapshot *snap,
                                   tp_worker_info *workers,
                                   unsigned capacity);

/** Looks for a wait cycle among the pool's tasks (task A waits for B's
 * future while B waits for A's, directly or through others): a deadlock
 * that would otherwise hang silently.  On return, *len is 0 if there is
 * none, else the number of tasks in the cycle, whose ids are stored in
 * `ids` (up to `capacity` of them).  Only waits by tasks running on the
 * pool's workers are seen; like tp_pool_snapshot_get() it reads the pool
 * as it runs, so a cycle it reports is worth confirming with a second
 * call (a real one does not go away).  Thread-safe.
 * Errors: TP_EINVAL (pool or len NULL, ids NULL with capacity > 0),
 * TP_ENOMEM (no memory for the search; or the cycle is longer than
 * capacity: *len then says how many entries are needed), TP_EFORKED. */
TP_EXTERN int tp_pool_find_wait_cycle(tp_pool *pool, uint64_t *ids,
                                      size_t capacity, size_t *len);

/** Waits until the pool is idle: nothing queued and nothing running (the
 * seeds' join, Python's queue.join()).  The pool keeps accepting tasks; it
 * may be busy again as soon as this returns.  Thread-safe.
 * Errors: TP_EINVAL, TP_ETIMEDOUT, TP_EDEADLK (called from a task of this
 * pool: it would wait for itself). */
TP_EXTERN int tp_pool_wait_idle(tp_pool *pool, int64_t timeout_ms);

/** Called for each task that an immediate shutdown did not run, on the
 * thread that called tp_pool_shutdown_now(), so that arg can be freed. */
typedef void (*tp_drop_fn)(const tp_job *job, void *ctx);

/** Graceful shutdown: stops accepting tasks, runs every task already queued
 * (including tasks those tasks submit while it drains), then stops and joins
 * the workers.  Returns when all of that is done.  Calling it again, or
 * after tp_pool_shutdown_now(), returns 0 at once.  Thread-safe, but not
 * from a task of this pool.
 * Errors: TP_EINVAL (NULL), TP_EDEADLK (called from a task of this pool). */
TP_EXTERN int tp_pool_shutdown(tp_pool *pool);

/** Immediate shutdown: stops accepting tasks, cancels every queued task (each
 * of their futures settles CANCELLED and their done-callbacks run; `drop`,
 * if not NULL, is called once for each with its fn, arg and id), asks the
 * running tasks to stop (tp_task_stop_requested()), waits for them to return,
 * and joins the workers.  Thread-safe, but not from a task of this pool.
 *
 * Whose argument is whose afterwards: every task accepted before the call
 * either ran (tp_future_started() is 1: its fn saw arg, which stays the
 * caller's, whatever state its future ends in, CANCELLED included when it
 * acknowledged the stop request) or did not (tp_future_started() is 0:
 * its arg was handed to `drop`, exactly once, unless the task had been
 * cancelled before, by tp_future_cancel() or a start deadline, in which
 * case its arg went back to the caller then).  Nothing accepted is lost:
 * tasks submitted by any task, continuation or loop body, on any thread,
 * count as the caller's.
 * Errors: TP_EINVAL (NULL), TP_EDEADLK (called from a task of this pool). */
TP_EXTERN int tp_pool_shutdown_now(tp_pool *pool, tp_drop_fn drop,
                                   void *ctx);

/** Destroys the pool: a graceful tp_pool_shutdown() if none has happened,
 * then frees it.  Futures of its tasks stay valid until released.  After
 * this call the pool pointer is invalid.  Must be called exactly once, by
 * one thread, with no other call on this pool in progress or to come.
 * Errors: TP_EINVAL (NULL), TP_EDEADLK (called from a task of this pool;
 * nothing is done). */
TP_EXTERN int tp_pool_destroy(tp_pool *pool);

/* ------------------------------------------------------------------------ */
/* Futures                                                                  */
/* ------------------------------------------------------------------------ */

/** The state of a task and its future (see the diagram above). */
typedef enum tp_state {
    TP_PENDING = 0, /**< queued, not started                               */
    TP_RUNNING,     /**< a worker is running it                            */
    TP_COMPLETED,   /**< returned; tp_future_get() gives its result        */
    TP_FAILED,      /**< returned after tp_task_fail()                     */
    TP_CANCELLED    /**< will never run, or acknowledged a stop request    */
} tp_state;

/** The name of a state ("pending", "running", ...), static storage. */
TP_EXTERN const char *tp_state_name(tp_state state);

/** The task's unique id (process-wide, never reused, starts at 1); 0 for
 * NULL.  Thread-safe. */
TP_EXTERN uint64_t tp_future_id(const tp_future *f);

/** The task's current state; TP_PENDING for NULL.  Thread-safe.  A result
 * of COMPLETED, FAILED or CANCELLED is final. */
TP_EXTERN tp_state tp_future_state(const tp_future *f);

/** Waits until the future has settled (COMPLETED, FAILED or CANCELLED).
 * Called from a worker of the pool that runs the task, it runs other queued
 * tasks of that pool while it waits, so nested waits do not deadlock.
 * Thread-safe: any number of threads may wait on one future.
 * Errors: TP_EINVAL (NULL), TP_ETIMEDOUT (not settled in time),
 * TP_EDEADLK (a task waiting on its own future). */
TP_EXTERN int tp_future_wait(tp_future *f, int64_t timeout_ms);

/** Waits as tp_future_wait(), then reports how the task ended: 0 and
 * *result (may be NULL) set to what the task returned if it COMPLETED;
 * TP_EFAILED if it FAILED (its code: tp_future_error()); TP_ECANCELED if it
 * was CANCELLED (TP_EEXPIRED if because its start deadline passed).
 * *result is set only when 0 is returned.  Thread-safe.
 * Errors: those of tp_future_wait(), TP_EFAILED, TP_ECANCELED,
 * TP_EEXPIRED. */
TP_EXTERN int tp_future_get(tp_future *f, int64_t timeout_ms, void **result);

/** The code the task gave tp_task_fail() if it FAILED, TP_ECANCELED if it
 * was CANCELLED (TP_EEXPIRED if its start deadline passed), else 0.
 * Thread-safe. */
TP_EXTERN int tp_future_error(const tp_future *f);

/** Cancels the task.  A pending task will never run: its future settles
 * CANCELLED now (waking its waiters and running its done-callbacks on this
 * thread), it stops counting as queued and gives back its place in a
 * bounded queue at once, and 0 is returned.
 *
 * Note: TP_EBUSY is not a failure of the request.  A running task cannot be
 * stopped from outside; it is asked to stop (tp_task_stop_requested()
 * turns true), and TP_EBUSY says so: the task settles when it returns,
 * CANCELLED if it acknowledges with tp_task_fail(TP_ECANCELED), otherwise
 * as it would have.  Thread-safe.
 * Returns: 0 (cancelled), TP_EBUSY (running: asked to stop).
 * Errors: TP_EINVAL (NULL), TP_EALREADY (settled). */
TP_EXTERN int tp_future_cancel(tp_future *f);

/** 1 if the task's function has been called (the future is RUNNING, or
 * settled after running), 0 if it has not (PENDING, or settled without
 * running: cancelled, expired, dropped by tp_pool_shutdown_now(); also for
 * futures with no task, such as those of tp_when_all(), and for NULL).
 * Once the future has settled the answer never changes: after an immediate
 * shutdown it tells whether the task's argument went to the drop function
 * (0) or is still the caller's (1).  Thread-safe. */
TP_EXTERN int tp_future_started(const tp_future *f);

/** Creates a promise: a future with no task behind it, PENDING until its
 * holder settles it, once, with tp_promise_complete() or tp_promise_fail()
 * (Python's Future.set_result, Java's CompletableFuture.complete).  It is
 * an ordinary tp_future for everything else: every wait, a waitset,
 * tp_future_then(), tp_when_all(), tp_when_any(), tp_future_on_done(), and
 * tp_future_cancel() (which settles it CANCELLED if it is still pending).
 * On success *out holds one reference; give it back with
 * tp_future_release() (settled or not: an unsettled promise released by
 * every holder is simply freed).  A thread that settles it while another
 * may release it should hold a reference of its own (tp_future_retain()).
 * Thread-safe.  Errors: TP_EINVAL (out NULL), TP_ENOMEM. */
TP_EXTERN int tp_promise_create(tp_future **out);

/** Settles a promise COMPLETED with `result` (which stays the caller's:
 * the library never touches it), waking its waiters and running its
 * done-callbacks on this thread.  Thread-safe: of several racing settles
 * exactly one succeeds.
 * Errors: TP_EINVAL (NULL, or a future that tp_promise_create() did not
 * make: a task's, or a combinator's), TP_EALREADY (already settled,
 * cancelled included; nothing changes). */
TP_EXTERN int tp_promise_complete(tp_future *f, void *result);

/** Settles a promise FAILED with `code` (tp_future_error() then returns
 * it), or CANCELLED if code is TP_ECANCELED or TP_EEXPIRED (a start
 * deadline that passed, as for a task: tp_future_error() then says
 * TP_EEXPIRED).  Otherwise as tp_promise_complete().
 * Errors: TP_EINVAL (as tp_promise_complete(), or code 0), TP_EALREADY. */
TP_EXTERN int tp_promise_fail(tp_future *f, int code);

/** A done-callback: called once, when the future settles.  The future is
 * valid for the duration of the call (it holds a reference of its own). */
typedef void (*tp_done_fn)(tp_future *f, void *ctx);

/** Registers cb(f, ctx) to run once when f settles: on the thread that
 * settles it (a worker, or a thread that cancels it), after its waiters are
 * woken.  If f has already settled, cb runs now, on this thread, before
 * this function returns.  Callbacks of one future run in the order they were
 * registered.  A callback must not wait for f's pool to become idle or shut
 * down.  Thread-safe.
 * Errors: TP_EINVAL (f or cb NULL), TP_ENOMEM (cb not registered). */
TP_EXTERN int tp_future_on_done(tp_future *f, tp_done_fn cb, void *ctx);

/** Adds a reference, for a second owner (e.g. another thread).  Thread-safe.
 * Errors: TP_EINVAL (NULL). */
TP_EXTERN int tp_future_retain(tp_future *f);

/** Gives back one reference; after the last, the future's memory is freed
 * (never while the task is queued or running: the pool holds its own
 * reference).  The caller must not use f afterwards.  Releasing more
 * references than were taken is undefined behaviour (it cannot be detected
 * once the memory is freed).  Thread-safe.  Errors: TP_EINVAL (NULL). */
TP_EXTERN int tp_future_release(tp_future *f);

/** Waits until every one of the n futures has settled.  Thread-safe.
 * Errors: TP_EINVAL (fs NULL with n > 0, or an element NULL), TP_ETIMEDOUT,
 * TP_EDEADLK (as tp_future_wait()). */
TP_EXTERN int tp_wait_all(tp_future *const *fs, size_t n, int64_t timeout_ms);

/** Waits until all n futures have COMPLETED, or until one of them settles
 * otherwise (FAILED or CANCELLED), whichever comes first (Python's
 * wait(return_when=FIRST_EXCEPTION)).  Returns 0 when all completed;
 * otherwise the tp_future_error() code of the first that did not complete
 * (TP_ECANCELED, TP_EEXPIRED or the task's own code) and its index in
 * *index.  Futures already settled when it is called count first, in
 * index order.  The others keep running either way.  Called from a worker,
 * it helps run queued tasks while it waits.  Thread-safe.
 * Errors: TP_EINVAL (fs NULL with n > 0, index NULL, an element NULL),
 * TP_ETIMEDOUT, TP_EDEADLK (as tp_future_wait()), TP_ENOMEM, TP_EFORKED;
 * *index is written only when a future's own code is returned. */
TP_EXTERN int tp_wait_all_or_first_failure(tp_future *const *fs, size_t n,
                                           int64_t timeout_ms,
                                           size_t *index);

/** Waits until at least one of the n futures has settled and stores in
 * *index the index of one that has (the lowest such index at the moment it
 * looks).  To handle results as they complete, remove that future from
 * the array and call again, or use a tp_waitset for large numbers.
 * Called from a worker, it helps run queued tasks while it waits.
 * Thread-safe.
 * Errors: TP_EINVAL (fs or index NULL, n 0, an element NULL), TP_ETIMEDOUT,
 * TP_ENOMEM. */
TP_EXTERN int tp_wait_any(tp_future *const *fs, size_t n, int64_t timeout_ms,
                          size_t *index);

/** A waitset hands back futures in the order they settle (Python's
 * as_completed): add futures, then take them one by one with
 * tp_waitset_next(), each in O(1). */
typedef struct tp_waitset tp_waitset;

/** Creates an empty waitset; *out owns it (tp_waitset_destroy()).
 * Errors: TP_EINVAL (out NULL), TP_ENOMEM. */
TP_EXTERN int tp_waitset_create(tp_waitset **out);

/** Adds f: the waitset takes a reference of its own (the caller keeps
 * theirs).  Thread-safe with respect to other calls on the same waitset.
 * Errors: TP_EINVAL (NULL), TP_ENOMEM. */
TP_EXTERN int tp_waitset_add(tp_waitset *ws, tp_future *f);

/** Waits for the next future of the set to settle (in settling order) and
 * stores it in *out, handing the caller the waitset's reference (release it
 * with tp_future_release()).  Thread-safe.
 * Errors: TP_EINVAL (NULL), TP_EEMPTY (no future left in the set),
 * TP_ETIMEDOUT, TP_EFORKED (in the child of a fork(): none is ready and
 * every one left is of a pool created before the fork, so none will ever
 * settle; with timeout 0, TP_ETIMEDOUT). */
TP_EXTERN int tp_waitset_next(tp_waitset *ws, int64_t timeout_ms,
                              tp_future **out);

/** Number of futures added and not yet taken by tp_waitset_next(). */
TP_EXTERN size_t tp_waitset_size(tp_waitset *ws);

/** Destroys the waitset, releasing its references to the futures not yet
 * taken.  Must not race with other calls on ws.  Errors: TP_EINVAL (NULL). */
TP_EXTERN int tp_waitset_destroy(tp_waitset *ws);

/* ------------------------------------------------------------------------ */
/* Continuations and combinators                                            */
/* ------------------------------------------------------------------------ */

/* These make a new future out of others: tp_future_then() runs a function
 * once a future has settled; tp_when_all() and tp_when_any() settle once
 * all, or one, of several futures have.  The new future is an ordinary
 * tp_future: wait on it, get its result, cancel it, chain it again, release
 * it.  Each call takes references of its own to the futures it is given, so
 * the caller may release theirs at any time.  As the caller cannot tell
 * when those references are given back, a future whose storage the caller
 * provided (tp_submit_inplace()) is refused with TP_EINVAL.
 *
 * A continuation given a pool runs as a task of that pool (a small carrier
 * task that the library submits when the source settles).  If an immediate
 * shutdown cancels such a carrier before it starts, the continuation's
 * future settles CANCELLED.  Such library tasks (carriers, and the helper
 * tasks of tp_parallel_for()) are never handed to the drop function of
 * tp_pool_shutdown_now(): it only ever sees tasks the caller submitted. */

/** Flags of tp_future_then(), tp_when_all() and tp_when_any(); combine them
 * with |.  A function given a flag it does not take returns TP_EINVAL. */
typedef enum tp_combine_flags {
    /** tp_future_then() only: run the function whatever the source's
     * outcome.  Without it, a source that FAILED or was CANCELLED settles
     * the new future the same way and the function does not run. */
    TP_THEN_ALWAYS = 1 << 0,
    /** Cancelling the new future (tp_future_cancel()) while it is pending
     * also cancels, with tp_future_cancel(), each input that has not
     * settled (for tp_future_then(), the source): pending inputs never run,
     * running ones are asked to stop. */
    TP_COMBINE_CANCEL_INPUTS = 1 << 1,
    /** tp_when_any() only: once an input has settled (won), cancel the
     * others that have not settled, before the new future settles. */
    TP_COMBINE_CANCEL_LOSERS = 1 << 2,
    /** tp_future_then() only, not with TP_THEN_ALWAYS: run the function
     * only if the source FAILED or was CANCELLED, to recover (Java's
     * exceptionally(), the "catch" of a chain); if the source COMPLETED,
     * the new future completes with the source's result and the function
     * does not run. */
    TP_THEN_ON_FAILURE = 1 << 3
} tp_combine_flags;

/** A continuation (tp_future_then()): called once with the source future,
 * which has settled, and the ctx given to tp_future_then().  What it
 * returns is the new future's result.  It runs as the new future's task:
 * tp_task_fail() fails the new future, tp_task_stop_requested() tells that
 * the new future was cancelled while it runs (acknowledge with
 * tp_task_fail(TP_ECANCELED) to settle CANCELLED), tp_task_id() is the new
 * future's id.  source is valid during the call (do not release it). */
typedef void *(*tp_then_fn)(tp_future *source, void *ctx);

/** Makes a future that runs fn(source, ctx) once source has settled, and
 * settles as fn does: COMPLETED with what fn returned, or FAILED with the
 * code fn gave tp_task_fail().
 *
 * Failure and cancellation: if source FAILED, the new future settles FAILED
 * with the same tp_future_error() code, and if it was CANCELLED, CANCELLED
 * (with TP_EEXPIRED rather than TP_ECANCELED if source's start deadline
 * passed); in both cases fn does not run.  With TP_THEN_ALWAYS, fn runs
 * whatever the outcome and can inspect source (tp_future_state(),
 * tp_future_error(), tp_future_get() with timeout 0).
 *
 * Where fn runs: with a pool, as a task of that pool, submitted when source
 * settles, from the thread that settles it (so with TP_FULL_BLOCK that
 * thread may wait for room; with TP_FULL_CALLER_RUNS it may run fn).  If the
 * pool refuses the task, the new future settles FAILED with the pool's
 * error: TP_ESHUTDOWN (shutdown has begun), TP_EFULL, TP_ENOMEM or
 * TP_EFORKED; if an immediate shutdown cancels it before it starts,
 * CANCELLED.  With pool NULL, fn runs inline on the thread that settles
 * source: a worker that has just finished source's task, a thread calling
 * tp_future_cancel(), or the caller of this function, before it returns, if
 * source has already settled.  An inline fn must be short and must not
 * block: it delays that thread's other work, and it may run inside a chain
 * of other continuations that this thread is settling.
 *
 * Cancelling the new future before fn starts means fn never runs; while fn
 * runs, it asks fn to stop (see tp_then_fn).  With TP_COMBINE_CANCEL_INPUTS,
 * cancelling it while source is pending also cancels source.
 *
 * flags: 0, or TP_THEN_ALWAYS or TP_THEN_ON_FAILURE (not both), and/or
 * TP_COMBINE_CANCEL_INPUTS.
 *
 * Ownership: on success *out holds one reference to the new future (give it
 * back with tp_future_release()).  The new future holds a reference to
 * source until fn has run or will not run.  ctx belongs to the caller and
 * must stay valid until the new future has settled.  pool must not be
 * destroyed before source has settled (shutting it down is fine: see
 * above).  Thread-safe; source may have any number of continuations.
 * Errors: TP_EINVAL (source, fn or out NULL, a flag other than those
 * above, or source in caller storage), TP_ENOMEM.  On error nothing is
 * registered and *out is unchanged. */
TP_EXTERN int tp_future_then(tp_future *source, tp_pool *pool, tp_then_fn fn,
                             void *ctx, unsigned flags, tp_future **out);

/** Makes a future that settles once every one of the n futures fs[0..n-1]
 * has settled.  It COMPLETES (with result NULL: read each input's own
 * result) if every input completed.  Otherwise it takes the outcome of the
 * first input, in the order they settled, that did not complete: FAILED
 * with that input's tp_future_error() code, or CANCELLED (TP_EEXPIRED if
 * that input's start deadline passed).  Inputs that had already settled
 * when this is called count as settling first, in index order, however
 * the others settle while the call runs.  (So a failure followed by a
 * cancellation gives FAILED, and a cancellation followed by a failure gives
 * CANCELLED.)
 *
 * flags: 0 or TP_COMBINE_CANCEL_INPUTS.  An input may appear several times.
 *
 * Ownership: fs is only read during the call.  The new future holds a
 * reference to each input until every input has settled.  On success *out
 * holds one reference to the new future.  If every input has already
 * settled, it has settled when this returns.  Thread-safe.
 * Errors: TP_EINVAL (fs or out NULL, n 0, an element NULL or in caller
 * storage, a flag other than TP_COMBINE_CANCEL_INPUTS), TP_ENOMEM.  On
 * error nothing is registered and *out is unchanged. */
TP_EXTERN int tp_when_all(tp_future *const *fs, size_t n, unsigned flags,
                          tp_future **out);

/** Makes a future that settles as soon as one of the n futures fs[0..n-1]
 * (the winner) has settled, the way the winner did: COMPLETED with the
 * winner's index as its result (tp_future_get(any, -1, &r) gives
 * r == (void *)(uintptr_t)index), FAILED with the winner's
 * tp_future_error() code, or CANCELLED (TP_EEXPIRED if the winner's start
 * deadline passed).  When it did not complete, learn which input won by
 * looking at the inputs' states.  If some inputs have already settled when
 * this is called, the one with the lowest index wins, and the new future has
 * settled when this returns.
 *
 * flags: TP_COMBINE_CANCEL_INPUTS (cancelling the new future before any
 * input has won cancels every input), TP_COMBINE_CANCEL_LOSERS (once an
 * input has won, the others that have not settled are cancelled, before the
 * new future settles: pending losers are CANCELLED by the time a wait on
 * the new future returns), or both.  Without TP_COMBINE_CANCEL_LOSERS the
 * other inputs run on as usual.
 *
 * Ownership: fs is only read during the call.  The new future holds a
 * reference to each input until every input has settled (not just the
 * winner).  On success *out holds one reference to the new future.
 * Thread-safe.
 * Errors: TP_EINVAL (fs or out NULL, n 0, an element NULL or in caller
 * storage, an unknown flag or TP_THEN_ALWAYS), TP_ENOMEM.  On error
 * nothing is registered and *out is unchanged. */
TP_EXTERN int tp_when_any(tp_future *const *fs, size_t n, unsigned flags,
                          tp_future **out);

/** A composing continuation (tp_future_then_compose()): called once with
 * the settled source and the ctx given to tp_future_then_compose(); it
 * returns a future (typically one it has just submitted or made), whose
 * outcome becomes the new future's.  The reference it returns passes to
 * the library.  It runs as a continuation does (see tp_then_fn): it may
 * fail with tp_task_fail(code) and return NULL, and tp_task_stop_requested()
 * tells that the new future was cancelled while it runs. */
typedef tp_future *(*tp_compose_fn)(tp_future *source, void *ctx);

/** Makes a future that, once source has settled, runs fn(source, ctx) as
 * tp_future_then() would (with a pool or inline, same flags), and then
 * settles as the future fn returned does: COMPLETED with its result,
 * FAILED with its code, or CANCELLED (Java's thenCompose, a flatMap: a
 * continuation that itself starts asynchronous work, without a future of a
 * future).
 *
 * If fn does not run (source FAILED or was CANCELLED without
 * TP_THEN_ALWAYS; or COMPLETED with TP_THEN_ON_FAILURE), the new future
 * settles as tp_future_then() says for that case.  If fn fails
 * (tp_task_fail()), the new future fails with that code, and a future fn
 * returned all the same is released.  If fn returns NULL without failing,
 * or a future in caller storage (tp_submit_inplace(), which the library
 * cannot hold), the new future FAILS with TP_EINVAL (the latter released).
 *
 * Cancelling the new future while fn has not run means fn never runs;
 * while it runs, asks it to stop.  Once fn has returned a future, that
 * future runs on: with TP_COMBINE_CANCEL_INPUTS, cancelling the new future
 * also cancels it (and, before fn has run, source).
 *
 * Ownership: on success *out holds one reference to the new future.  The
 * library holds a reference to source until fn has run or will not run,
 * and the one fn returned until that future has settled.  ctx belongs to
 * the caller and must stay valid until the new future has settled.  pool
 * as for tp_future_then().  Thread-safe.
 * Errors: TP_EINVAL (source, fn or out NULL, a flag that tp_future_then()
 * refuses, or source in caller storage), TP_ENOMEM.  On error nothing is
 * registered and *out is unchanged. */
TP_EXTERN int tp_future_then_compose(tp_future *source, tp_pool *pool,
                                     tp_compose_fn fn, void *ctx,
                                     unsigned flags, tp_future **out);

/** Makes a future that settles as source does, unless source has not
 * settled within timeout_ms, in which case it FAILS with the code
 * TP_ETIMEDOUT (Java's orTimeout): tp_future_get() on it then returns
 * TP_EFAILED and tp_future_error() TP_ETIMEDOUT.  (A failure, rather than
 * a wait's TP_ETIMEDOUT, tells "the source ran out of time" apart from "my
 * own wait on the new future ran out"; with the code, it is easy to test.)
 * source itself is left alone by the timeout: it runs on and settles as
 * it will, unless TP_COMBINE_CANCEL_INPUTS is given, which cancels it when
 * the time runs out (before the new future settles) and when the new
 * future is cancelled.
 *
 * The timer is one of pool's timers (see tp_submit_after()): no thread per
 * call, nothing woken before it is due, and it is disarmed and freed as
 * soon as source settles.  When it fires, the new future is settled by a
 * task of pool, so that its callbacks and continuations run on one of
 * pool's workers.  If source has already settled, the new future has
 * settled when this returns, the same way.  timeout_ms 0 with source
 * pending: it fails at once (from a task of pool); negative: no timeout
 * (a plain mirror of source).  A shutdown of pool while the timer is
 * armed settles the new future FAILED with TP_ESHUTDOWN: it will not wait
 * for ever for a timer that can no longer fire.
 *
 * Ownership: on success *out holds one reference to the new future; the
 * library holds one to source until source has settled, after a timeout
 * too (a source that never settles keeps it, and a small record, for
 * ever).  pool may be shut down and destroyed at any time after this
 * call.  Thread-safe.
 * Errors: TP_EINVAL (source, pool or out NULL, source in caller storage, a
 * flag other than TP_COMBINE_CANCEL_INPUTS), TP_EFORKED, and, when a timer
 * is needed, TP_ESHUTDOWN (pool's shutdown has begun), TP_ENOMEM,
 * TP_EAGAIN (pool's timer thread could not be started).  On error nothing
 * is registered and *out is unchanged. */
TP_EXTERN int tp_future_or_timeout(tp_future *source, tp_pool *pool,
                                   int64_t timeout_ms, unsigned flags,
                                   tp_future **out);

/* ------------------------------------------------------------------------ */
/* Parallel loops                                                           */
/* ------------------------------------------------------------------------ */

/** The body of a parallel loop (tp_parallel_for()): handles the indices
 * lo <= i < hi (lo < hi), with the ctx given to the loop. */
typedef void (*tp_range_fn)(size_t lo, size_t hi, void *ctx);

/** Runs body over the index range [begin, end) in parallel, on the workers
 * of pool and on the calling thread, and returns when it is all done.  The
 * range is cut into chunks of `grain` indices (the last one may be
 * shorter); body(lo, hi, ctx) is called once per chunk, so every index is
 * covered exactly once.  Chunks run concurrently and in no particular
 * order; everything the bodies wrote is visible to the caller when this
 * returns.
 *
 * grain 0 chooses one: the range divided into about 8 chunks for each
 * thread that can take part (the pool's workers, and the caller), so that
 * chunks of uneven cost still balance; at least 1.  A grain as large as the
 * range makes one chunk, which the caller runs without involving the pool.
 *
 * How: up to tp_pool_size(pool) helper tasks (one fewer when called from a
 * task of pool) are submitted; they and the caller claim chunks from a
 * shared counter until none is left.  Then helpers that have not started
 * are withdrawn (they settle CANCELLED and count as cancelled in
 * tp_pool_stats_get()), and the call waits for the helpers still running their
 * last chunk.  As the caller always takes part, this works from any thread,
 * and from inside a task of pool (nested loops) without deadlock, even on
 * a pool of one thread.  If the pool takes fewer helpers (it is shut down,
 * its queue is full, memory is short) the caller runs more chunks itself:
 * that is not an error.  On a bounded pool with TP_FULL_BLOCK, submitting
 * the helpers may wait for room in the queue.
 *
 * body runs on the calling thread or as part of a helper task: the
 * tp_task_* functions called from it refer to whichever task runs that
 * chunk, so a body should not use them; it reports problems through ctx.
 * Thread-safe: any number of loops may run at once on one pool.
 * Errors: TP_EINVAL (pool or body NULL, begin > end), TP_EFORKED (pool was
 * created before a fork(): body is not called, whatever the range).  An
 * empty range (begin == end) otherwise returns 0 without calling body. */
TP_EXTERN int tp_parallel_for(tp_pool *pool, size_t begin, size_t end,
                              size_t grain, tp_range_fn body, void *ctx);

/** The function of a parallel map (tp_parallel_map()): called with a
 * pointer to one element, its index, and the map's ctx. */
typedef void (*tp_map_fn)(void *item, size_t index, void *ctx);

/** Calls fn((char *)array + i * size, i, ctx) for each i in [0, n), in
 * parallel: tp_parallel_for() over [0, n) with the given grain (in
 * elements; 0 chooses), with the same guarantees.  The array belongs to the
 * caller; fn may modify the element it is given.  Thread-safe.
 * Errors: TP_EINVAL (pool or fn NULL; array NULL or size 0 while n > 0;
 * n * size overflows size_t), TP_EFORKED (as tp_parallel_for(), n == 0
 * included).  n == 0 otherwise returns 0 at once. */
TP_EXTERN int tp_parallel_map(tp_pool *pool, void *array, size_t n,
                              size_t size, size_t grain, tp_map_fn fn,
                              void *ctx);

/* ------------------------------------------------------------------------ */
/* Fork-join                                                                */
/* ------------------------------------------------------------------------ */

/* Fine-grained recursive parallelism (divide and conquer) at the cost of a
 * function call: a function spawns calls that may run in parallel, does
 * some work itself, then syncs them to get their results.
 *
 * ~~~
 *   static void *fib(void *arg) {
 *       intptr_t n = (intptr_t)arg;
 *       if (n < 2) return arg;
 *       tp_fj_frame f;
 *       tp_spawn(&f, fib, (void *)(n - 1));    // may run elsewhere
 *       intptr_t b = (intptr_t)fib((void *)(n - 2));
 *       intptr_t a = (intptr_t)tp_sync(&f);    // its result
 *       return (void *)(a + b);
 *   }
 *   void *r;
 *   tp_fj_run(pool, fib, (void *)30, &r);    // from any thread
 * ~~~
 *
 * How it works, and what it costs: each worker keeps the frames it spawned
 * in a deque of its own.  A spawn records the call in the caller's frame
 * and pushes it; a sync that finds the frame still there takes it back and
 * makes the call directly.  Neither allocates, locks, or does an atomic
 * read-modify-write (a few nanoseconds in all).  Idle workers steal frames,
 * oldest first (the biggest pieces of work); the worker then runs the
 * stolen call and hands the result back.  A sync of a frame that was
 * stolen runs other work meanwhile (preferably pieces of the stolen call)
 * and sleeps only when there is none: no thread ever spins.
 *
 * Compared with futures (tp_submit_future() and a wait): a future is an
 * object that any thread may wait on, cancel or chain, at any time; a
 * frame is a call whose result only its spawner takes, at a point of its
 * choosing, in strict order.  Use fork-join for recursion where each call
 * forks a few calls and joins them before it returns; use futures when
 * results outlive the function that started them, travel between
 * threads, or need cancellation, deadlines or callbacks.
 *
 * Rules:
 * - Strict nesting: a function syncs every frame it spawned, newest first,
 *   before it returns (so a frame never outlives its spawner's stack
 *   frame).  Spawn and sync of one frame happen on the same thread, which
 *   is the case for calls made by the same function invocation.  Breaking
 *   these rules is undefined behaviour.
 * - Where spawns go: on a worker of a pool (inside tp_fj_run(), a task, or
 *   a spawned call) the frame goes on that worker's deque, where the other
 *   workers of the pool can steal it.  On any other thread, and when a
 *   worker already holds TP_FJ_DEPTH unsynced frames, tp_spawn() makes
 *   the call at once, and tp_sync() returns its result: the program stays
 *   correct, only that call is not parallel.
 * - A spawned call is part of the task that spawned it, not a task of its
 *   own: it is not counted in tp_pool_stats_get(), has no future and
 *   always runs (it cannot be cancelled; an immediate shutdown does not
 *   drop it).  Run on the spawning worker, it is a plain call, and the
 *   tp_task_* functions answer for the spawning task; run by another
 *   worker, it has no task of its own: tp_task_id() gives 0 and
 *   tp_task_fail() has no effect.  tp_task_stop_requested() is non-zero
 *   in either case once an immediate shutdown of the pool has begun, so a
 *   long computation can give up early.  Report errors through results.
 * - Spawned calls may use the rest of the library: submit tasks, wait on
 *   futures (the waiting worker runs other work, and makes its own
 *   unsynced frames available to others meanwhile), run parallel loops,
 *   start nested fork-join computations.
 * - Shutdown: frames spawned by a running task or computation run to the
 *   end, whatever the kind of shutdown (tp_pool_shutdown_now() waits for
 *   running tasks, and these are part of them); workers that have nothing
 *   left to steal may exit meanwhile, leaving the rest to the spawners.
 *   Submits made by spawned calls follow the usual rules (TP_ESHUTDOWN
 *   once an immediate shutdown has begun).
 * - After fork(), a frame spawned before the fork must not be synced in
 *   the child. */

/** Frames a worker can hold unsynced; tp_spawn() beyond that makes the
 * call at once. */
#define TP_FJ_DEPTH 4096

/** Bytes of a tp_fj_frame. */
#define TP_FJ_FRAME_SIZE 32

/** One spawned call, in storage the caller owns (normally a local variable
 * of the spawning function).  Its contents are private. */
typedef struct tp_fj_frame {
    union {
        void *align_ptr_;
        uint64_t align_u64_;
        unsigned char bytes_[TP_FJ_FRAME_SIZE];
    } opaque_; /**< not to be touched */
} tp_fj_frame;

/** Spawns fn(arg): records the call in *frame, which may then run on
 * another worker of the calling worker's pool (see the rules above), and
 * returns.  The caller must later call tp_sync(frame), in strict nesting
 * order, before frame's storage goes out of scope; until then the library
 * uses it.  arg is the caller's: the library never touches it.
 * Called by the thread that will sync it.  No allocation, lock or atomic
 * read-modify-write unless a thief asks for work.
 * Errors: TP_EINVAL (frame or fn NULL: nothing spawned, do not sync). */
TP_EXTERN int tp_spawn(tp_fj_frame *frame, tp_task_fn fn, void *arg);

/** Waits for the call spawned in *frame and returns what fn returned: if
 * nobody has taken it, makes the call now, on this thread; if another
 * worker runs it, runs other work of the pool meanwhile (parts of that
 * call first) and sleeps when there is none.  Afterwards the frame's
 * storage is the caller's again.  Must be called by the spawning thread,
 * on its newest unsynced frame.  Cannot fail. */
TP_EXTERN void *tp_sync(tp_fj_frame *frame);

/** Runs fn(arg) as a fork-join computation on pool and waits for it: the
 * call and everything it spawns run on pool's workers.  From a worker of
 * pool it is a plain call (nested in the calling task); from any other
 * thread, fn runs as a task of pool while the caller waits, sleeping (a
 * worker of another pool runs that pool's tasks meanwhile).  *result (may
 * be NULL) receives fn's result when 0 is returned.  Thread-safe: any
 * number of computations may run at once on one pool.
 * Errors: TP_EINVAL (pool or fn NULL), TP_EFORKED, and, when called from
 * outside the pool, those of a submit (TP_ESHUTDOWN, TP_EFULL, TP_ENOMEM;
 * fn did not run) and TP_ECANCELED (an immediate shutdown began before
 * fn started: fn did not run).  Once fn has started, the computation runs
 * to the end and 0 is returned. */
TP_EXTERN int tp_fj_run(tp_pool *pool, tp_task_fn fn, void *arg,
                        void **result);

/* ------------------------------------------------------------------------ */
/* Delayed and periodic tasks                                               */
/* ------------------------------------------------------------------------ */

/* A task can be submitted to start after a delay (Java's schedule, GCD's
 * dispatch_after), or to run periodically (scheduleAtFixedRate,
 * scheduleWithFixedDelay).  Each gives a future, which is an ordinary
 * tp_future: wait on it, add it to a waitset, chain it, combine it,
 * cancel it.
 *
 * How: a pool that uses timers gets one extra thread, started by its
 * first timer, that sleeps until the earliest timer is due (it uses no CPU
 * in between, however far away that is) and then queues the task on the
 * pool; the task runs on a worker like any other.  That thread runs no
 * task and no callback, so a long task cannot delay other timers; the
 * pool's thread hooks are not called on it.  Times are milliseconds on the
 * monotonic clock.  A task starts no earlier than it is due, and as soon
 * after as a worker is free: timers due at the same moment are queued in
 * the order they were submitted.  A delayed task counts in
 * tp_pool_stats_get() from the moment it is due (not while it waits), so
 * a pool with only timers pending is idle for tp_pool_wait_idle().
 *
 * Shutdown: once either kind of shutdown has begun, new delayed and
 * periodic tasks are refused (TP_ESHUTDOWN), and those not yet due never
 * will be: their futures settle CANCELLED (with tp_future_started() 0 for
 * a task that never ran: its argument is the caller's again); an
 * immediate shutdown also hands each of those whose function never ran
 * to its drop function, once.  A task already due is a queued task: the
 * graceful shutdown runs it, the immediate one cancels it and hands it to
 * drop.  A periodic task's run that is in progress finishes (an immediate
 * shutdown asks it to stop), and the series ends CANCELLED.
 *
 * After fork(), calls on a pool of the parent return TP_EFORKED, and its
 * timers never fire in the child (waits on their futures there return
 * TP_EFORKED). */

/** Submits a task that starts once delay_ms milliseconds have passed (0:
 * at once).  On success *out holds one reference to its future (give it
 * back with tp_future_release()): PENDING until a worker starts it, then
 * as a task submitted by tp_submit_future() (tp_task_id() in it is the
 * future's id, tp_task_fail() fails it, and so on).  Cancel it with
 * tp_future_cancel(): before it is due, it never runs, 0 is returned, and
 * the timer is disarmed and freed at once; once due and queued, as any
 * pending task; while it runs, a stop request (TP_EBUSY).  A bounded
 * pool's capacity does not apply to a delayed task (it was accepted here):
 * when it is due it is queued even if the queue is full, and it counts
 * towards the queue's length from then on.  A task of the pool may
 * submit delayed tasks.  Thread-safe.
 *
 * Ownership: arg belongs to the caller, who may free it once the future
 * has settled (or when a shutdown hands it to drop: see above).
 * Errors: TP_EINVAL (pool, fn or out NULL, delay_ms negative),
 * TP_ESHUTDOWN (a shutdown has begun), TP_ENOMEM, TP_EAGAIN (the pool's
 * timer thread could not be started), TP_EFORKED.  On error fn will not
 * run, arg is the caller's, and *out is unchanged.
 * If there is no memory for the task that is to run it when it is due (a
 * rare failure, met on the timer thread), its future settles FAILED with
 * TP_ENOMEM, and its done-callbacks run on that thread. */
TP_EXTERN int tp_submit_after(tp_pool *pool, tp_task_fn fn, void *arg,
                              int64_t delay_ms, tp_future **out);

/** How the runs of a periodic task are spaced (tp_submit_every()). */
typedef enum tp_period_mode {
    /** Run k (from 0) is due at first + k x period, whatever the runs
     * take: there is no drift.  A run that ends after the next one was
     * due makes that one start at once (never while it runs), and runs
     * follow one another until the schedule is caught up (Java's
     * scheduleAtFixedRate). */
    TP_FIXED_RATE = 0,
    /** Each run is due one period after the previous one returned (Java's
     * scheduleWithFixedDelay): the schedule drifts by the runs' length. */
    TP_FIXED_DELAY = 1
} tp_period_mode;

/** Submits a periodic task: fn(arg) runs first once first_delay_ms
 * milliseconds have passed, then every period_ms as `mode` says, until
 * the series ends.  Runs never overlap, and each happens-after the one
 * before it; each may run on a different worker.  What fn returns is
 * ignored.
 *
 * The future (on success *out holds one reference) stands for the whole
 * series: PENDING between runs, RUNNING during one, and it settles only
 * when the series ends, which is one of:
 * - tp_future_cancel(): between runs, the series ends at once, CANCELLED,
 *   and 0 is returned; during a run, that run is asked to stop
 *   (tp_task_stop_requested(); TP_EBUSY is returned) and the series ends
 *   CANCELLED when it returns, however it returns (a failure included);
 * - a run that calls tp_task_fail(code): FAILED with that code (or
 *   CANCELLED if it acknowledged a stop request with TP_ECANCELED);
 * - a shutdown of the pool: CANCELLED (see above).
 * So a wait on the future returns only then, and tp_future_get() never
 * gives a result (0 is never returned by it).  tp_future_started() is 1
 * from the first run on.  Inside a run, tp_task_id() is the future's id.
 * Thread-safe.
 *
 * Ownership: arg belongs to the caller, and is used by every run: free it
 * once the future has settled (the last run has returned by then).
 * Errors: TP_EINVAL (pool, fn or out NULL, first_delay_ms negative,
 * period_ms 0 or negative, an unknown mode), and those of
 * tp_submit_after().  The rare failure to queue a run for lack of memory
 * ends the series FAILED with TP_ENOMEM. */
TP_EXTERN int tp_submit_every(tp_pool *pool, tp_task_fn fn, void *arg,
                              int64_t first_delay_ms, int64_t period_ms,
                              tp_period_mode mode, tp_future **out);

/* ------------------------------------------------------------------------ */
/* Serial queues (strands)                                                  */
/* ------------------------------------------------------------------------ */

/** A strand: a serial queue bound to a pool (GCD's serial queue, Asio's
 * strand, folly's SerialExecutor).  Tasks submitted to it run one at a
 * time, in submission order, on the pool's workers: each starts after
 * the one before it has returned, and sees everything it did, so the
 * state a strand's tasks share needs no lock of its own.  A strand has no
 * thread: while it has tasks it takes one worker at a time (never two),
 * and gives it back between every 64 tasks so that other work and other
 * strands get their turn; while it has none it costs nothing but its
 * memory (under 100 bytes), so thousands may exist at once.  The order
 * is that of the submits as the strand received them: from one thread,
 * the order of its calls.
 *
 * In tp_pool_stats_get(), a strand's tasks are not counted one by one:
 * the pool counts the strand's turns (each a task of the pool, that runs
 * up to 64 of them).  The pool's capacity does not bound a strand's
 * queue.
 *
 * A task of a strand must not wait for a task submitted after it to the
 * same strand (that one cannot start before it returns: a deadlock, as
 * with dispatch_sync on the current serial queue); waiting for any other
 * future is fine.
 *
 * Shutdown of the pool: the graceful one runs every task the strands hold;
 * the immediate one lets the task running finish and cancels the rest,
 * each handed to its drop function once (futures settle CANCELLED), as
 * for the pool's own queued tasks.  Afterwards submits return
 * TP_ESHUTDOWN. */
typedef struct tp_strand tp_strand;

/** Creates a strand that runs its tasks on pool's workers; *out owns it
 * (tp_strand_destroy()).  The pool must outlive every submit to the
 * strand; the strand may be destroyed before or after the pool.
 * Thread-safe.  Errors: TP_EINVAL (pool or out NULL), TP_ENOMEM,
 * TP_EFORKED. */
TP_EXTERN int tp_strand_create(tp_pool *pool, tp_strand **out);

/** Submits an ordinary task to the strand: fn(arg) will run once, after
 * every task submitted to the strand before it has returned.  Thread-safe:
 * any number of threads may submit to one strand at once, tasks of any
 * pool included (a task of the strand itself too: its task then runs
 * after it).  Never blocks.
 * Errors: TP_EINVAL (s or fn NULL), TP_ESHUTDOWN (from outside the pool,
 * once its shutdown has begun, unless the strand is in the middle of a
 * turn that then takes the task; or, from a task of the strand,
 * tp_strand_destroy() was called), TP_ENOMEM, TP_EFORKED.  A task
 * accepted while a shutdown is under way is run, or handed to the
 * immediate shutdown's drop function, as the strand's other tasks are.  On error fn will not run and arg is the
 * caller's.  Should the pool refuse the strand's turn while other threads
 * submit at the same moment (a shutdown that begins, memory that runs
 * out), this call fails and runs the tasks those threads queued meanwhile
 * on the calling thread, in order, before it returns: they were accepted,
 * and are never lost. */
TP_EXTERN int tp_strand_submit(tp_strand *s, tp_task_fn fn, void *arg);

/** As tp_strand_submit(), with a future: on success *out holds one
 * reference (tp_future_release()).  The future is an ordinary one: it is
 * PENDING while the task waits in the strand, cancelling it then means the
 * task never runs (the strand goes on with the next), and so on.
 * Thread-safe, as tp_strand_submit().
 * Errors: as tp_strand_submit(); also TP_EINVAL if out is NULL.  On error
 * *out is unchanged. */
TP_EXTERN int tp_strand_submit_future(tp_strand *s, tp_task_fn fn, void *arg,
                                      tp_future **out);

/** Destroys the strand without waiting and without losing anything: the
 * tasks it holds still run, in order, and its memory is freed once the
 * last has returned (at once if it holds none).  Callable from anywhere,
 * a task of the strand included.  Afterwards the handle must not be used
 * again, except by the strand's own tasks still to run, whose submits to
 * it return TP_ESHUTDOWN.  Not thread-safe with respect to submits to the
 * same strand: it must be called once, with no other submit to the strand
 * in progress or to come.  In the child of a fork(), frees the
 * child's copy (its tasks are left as they are).
 * Errors: TP_EINVAL (NULL). */
TP_EXTERN int tp_strand_destroy(tp_strand *s);


#ifdef __cplusplus
}
#endif

/* The blocking queue (tp_queue_*) has a header of its own, included here so
 * that one #include gives the whole API. */
#include "tpool_queue.h"

#endif /* TPOOL_H */
