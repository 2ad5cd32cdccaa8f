/*
 * seed004_executor.c - "ThreadPoolExecutor(5) and 100 tasks" (seed 004,
 * "如何创建线程池": pool = ThreadPoolExecutor(5); pool.submit(target)).
 *
 * A pool of 5 threads runs 100 tasks: the threads are created once and
 * reused, so at most 5 distinct workers ever run a task.  Each submit gives
 * a future (Python's submit() returns one too; the seed ignores it).  The
 * results are collected as the tasks finish, with a waitset (Python's
 * as_completed()); each result says which task it belongs to.
 *
 * The pool's on_thread_start hook gives each worker its index (0..4) in a
 * thread-local variable, so a task can tell which worker runs it.
 *
 * Each step of a task sleeps 100 microseconds to stand for I/O (the seed
 * sleeps 1 s); no sleep is used to order anything.  nanosleep needs
 * _GNU_SOURCE (or _POSIX_C_SOURCE) in strict C11 mode: the build defines
 * it for this example.
 */
#include <stdint.h>
#include <time.h>

#include "tpool.h"
#include "example.h" /* after tpool.h, for EXPECT_TP */

enum { WORKERS = 5, TASKS = 100, STEPS = 5 };

static _Thread_local int worker_index = -1; /* set on each pool thread */

static void on_start(unsigned index, void *ctx)
{
    (void)ctx;
    worker_index = (int)index;
}

typedef struct job {
    int number;
    int worker;   /* which worker ran it */
    uint64_t id;  /* tp_task_id() seen inside the task */
    int steps_done;
} job;

static void *target(void *arg)
{
    job *j = arg;
    j->worker = worker_index;
    j->id = tp_task_id();
    for (int i = 0; i < STEPS; i++) {
        struct timespec io = {0, 100 * 1000}; /* 100 us of "I/O" */
        nanosleep(&io, NULL);
        j->steps_done++;
    }
    return j; /* the result: the job, so the caller knows whose it is */
}

int main(void)
{
    tp_options opts;
    EXPECT_TP(tp_options_init(&opts));
    opts.threads = WORKERS;
    opts.name = "executor"; /* threads "executor-0" .. "executor-4" */
    opts.on_thread_start = on_start;
    tp_pool *pool;
    EXPECT_TP(tp_pool_create(&pool, &opts));
    EXPECT(tp_pool_size(pool) == WORKERS);

    static job jobs[TASKS];
    tp_waitset *ws;
    EXPECT_TP(tp_waitset_create(&ws));
    for (int i = 0; i < TASKS; i++) {
        jobs[i] = (job){i, -1, 0, 0};
        tp_future *f;
        EXPECT_TP(tp_submit_future(pool, target, &jobs[i], &f));
        EXPECT_TP(tp_waitset_add(ws, f)); /* the waitset takes its own ref */
        EXPECT_TP(tp_future_release(f));
    }

    /* as_completed(): futures come back in the order the tasks finish. */
    int seen[TASKS] = {0}, per_worker[WORKERS] = {0}, collected = 0;
    tp_future *f;
    int rc;
    while ((rc = tp_waitset_next(ws, -1, &f)) == 0) {
        void *result;
        EXPECT_TP(tp_future_get(f, 0, &result)); /* settled: no wait */
        const job *j = result;
        EXPECT(j->id == tp_future_id(f)); /* result and future match */
        EXPECT(j->steps_done == STEPS);
        EXPECT(j->worker >= 0 && j->worker < WORKERS);
        seen[j->number]++;
        per_worker[j->worker]++;
        collected++;
        EXPECT_TP(tp_future_release(f));
    }
    EXPECT(rc == TP_EEMPTY); /* every future has been taken */
    EXPECT_TP(tp_waitset_destroy(ws));
    EXPECT_TP(tp_pool_destroy(pool));

    EXPECT(collected == TASKS);
    for (int i = 0; i < TASKS; i++)
        EXPECT(seen[i] == 1); /* every task exactly once */
    printf("%d tasks, all results collected, run by %d threads:\n", TASKS,
           WORKERS);
    for (int w = 0; w < WORKERS; w++)
        printf("  executor-%d ran %d tasks\n", w, per_worker[w]);
    return 0;
}
