/*
 * bench.h - the benchmark driver and the peers it measures.
 *
 * One benchmark program is built per peer (tpool, the baseline pool, GLib,
 * libuv, OpenMP with libgomp and with LLVM's libomp, oneTBB): the same
 * driver (driver.c, workloads.c, util.c)
 * linked with one adapter file, peer_<name>.c or peer_<name>.cpp, which
 * defines `bench_peer_impl`.  Adding a peer is adding one such file (its
 * first comment names what it needs: see CMakeLists.txt).
 *
 * A peer's pool runs one task function, given when the pool is created (as
 * GLib's GThreadPool does): every workload submits tasks of a single kind,
 * and a fixed function lets each adapter use its library's cheapest path.
 * The function has tpool's signature; its return value is the task's
 * result.
 *
 * Where an operation does not exist in a peer (no batch submit, no way to
 * wait for a child from inside a task, no futures), the adapter leaves the
 * pointer NULL and the driver reports the workload as not applicable.
 *
 * Fairness: each adapter uses its library's cheapest correct path.  Where a
 * library has no future of its own, spawn()/join() use bench_event (a
 * per-task atomic state and a futex wait, no mutex or condition variable
 * per task); where it has a bulk construct (oneTBB parallel_for, OpenMP
 * taskloop), submit_batch() is that construct.  `future_form` and
 * `batch_form` say in words what the adapter does, for the report.
 */
#ifndef TPBENCH_H
#define TPBENCH_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The task function of a pool: runs arg; the return value is the result. */
typedef void *(*bench_fn)(void *arg);

/* A peer's pool (each adapter defines the struct). */
typedef struct bench_pool bench_pool;

/* Work run by bench_peer.run() on a thread allowed to submit and wait. */
typedef void (*bench_body)(bench_pool *pool, void *ctx);

/* Bytes the driver reserves for one handle of spawn()/join(); aligned as
 * max_align_t. */
#define BENCH_HANDLE_MAX 256

/* bench_peer.flags */
enum {
    /* join() may be called from inside a task: the waiting thread runs other
     * tasks meanwhile, so a task can spawn a child and wait for it. */
    BENCH_NESTED_JOIN = 1u << 0,
    /* The pool cannot hold a large number of queued tasks (it runs them on
     * the submitting thread beyond a limit): no memory measurement. */
    BENCH_NO_DEEP_QUEUE = 1u << 1,
    /* The thread that waits is one of the pool's threads and runs tasks
     * while it waits (OpenMP, TBB); with the others, the submitting thread
     * only submits and sleeps. */
    BENCH_WAITER_RUNS_TASKS = 1u << 2,
    /* A variant of another peer's fork-join path: only the forkjoin
     * workload applies (its spawn/join would make latency meaningless). */
    BENCH_FORKJOIN_ONLY = 1u << 3,
    /* submit_batch() is a bulk construct in which the calling thread runs
     * tasks until they are done (oneTBB parallel_for). */
    BENCH_BATCH_WAITER_RUNS = 1u << 4,
    /* A variant of another peer's futures (tpool's in caller storage):
     * only the workloads with futures apply, its plain submits being the
     * other peer's. */
    BENCH_FUTURES_ONLY = 1u << 5
};

typedef struct bench_peer {
    const char *name;  /* short name, as in results: "glib"              */
    const char *title; /* for the report: "GLib GThreadPool"             */
    const char *notes; /* one sentence for the report, or ""             */
    const char *future_form; /* what spawn()/join() are, or NULL          */
    const char *batch_form;  /* what submit_batch() is, or NULL           */
    unsigned flags;    /* BENCH_*                                        */
    size_t handle_size; /* bytes of a spawn() handle (<= BENCH_HANDLE_MAX) */
    size_t handle_align; /* its alignment; 0: that of max_align_t        */

    /* The library's version, as a string (static storage). */
    const char *(*version)(void);

    /* A pool of `threads` threads running fn; NULL on failure (after a
     * message on stderr).  Called once per process. */
    bench_pool *(*create)(unsigned threads, bench_fn fn);
    /* Waits for every task and frees the pool. */
    void (*destroy)(bench_pool *pool);

    /* Calls body(pool, ctx) on a thread from which tasks may be submitted
     * and waited for, and returns when it has returned.  NULL: the calling
     * thread (the driver calls body itself). */
    void (*run)(bench_pool *pool, bench_body body, void *ctx);

    /* Fire and forget: queues fn(arg).  0 or -1. */
    int (*submit)(bench_pool *pool, void *arg);
    /* Queues fn(args[i]) for i < n in one operation.  NULL: no batch API. */
    int (*submit_batch)(bench_pool *pool, void *const *args, size_t n);
    /* Waits until every task queued by submit() and submit_batch() has
     * run. */
    void (*wait_all)(bench_pool *pool);

    /* One task whose completion can be awaited: queues fn(arg) and keeps
     * what join() needs in `handle` (handle_size bytes, the caller's).
     * NULL: not supported.  0 or -1. */
    int (*spawn)(bench_pool *pool, void *arg, void *handle);
    /* Waits for the task of `handle` and returns its result; the handle is
     * free afterwards.  Handles may be joined in any order.  From inside a
     * task only with BENCH_NESTED_JOIN. */
    void *(*join)(bench_pool *pool, void *handle);
} bench_peer;

/* Defined by the adapter file linked into the program. */
extern const bench_peer bench_peer_impl;

/* ------------------------------------------------------------------------ */
/* Helpers shared by the driver and the adapters (util.c)                   */
/* ------------------------------------------------------------------------ */

/* Monotonic time in nanoseconds. */
uint64_t bench_now_ns(void);

/* Sleeps for ns nanoseconds (restarting after signals). */
void bench_sleep_ns(uint64_t ns);

/* Prints "tpbench: <message>" on stderr and exits with status 1. */
void bench_die(const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 1, 2), noreturn))
#endif
    ;

/* Zero-filled memory, or exit with a message. */
void *bench_xcalloc(size_t n, size_t size);

/* A count of outstanding tasks that a thread can wait to reach zero.  The
 * tasks' side costs one atomic decrement, plus a lock and a signal for the
 * last one only.  The last done() may still be signalling when wait()
 * returns: free the latch only once no task can be running (after joining
 * the threads). */
typedef struct bench_latch bench_latch;
bench_latch *bench_latch_new(void);
void bench_latch_free(bench_latch *l);
void bench_latch_add(bench_latch *l, size_t n);
void bench_latch_done(bench_latch *l);
void bench_latch_wait(bench_latch *l);

/* A one-shot event carrying a value: set once by one thread, waited for by
 * one other (the cheapest correct future: 16 bytes, no lock; the setter
 * makes a system call only when the waiter is asleep, the waiter sleeps on
 * a futex).  The fields are util.c's.  The event may be reused or freed
 * once bench_event_wait() has returned. */
typedef struct bench_event {
    void *value;
    uint32_t state; /* 0 pending, 1 set, 2 pending and a waiter asleep */
} bench_event;
void bench_event_init(bench_event *e);
void bench_event_destroy(bench_event *e);
void bench_event_set(bench_event *e, void *value);
void *bench_event_wait(bench_event *e);

#ifdef __cplusplus
}
#endif

#endif /* TPBENCH_H */
