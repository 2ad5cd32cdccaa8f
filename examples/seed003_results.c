/*
 * seed003_results.c - a pool of 5 threads, 50 jobs, and a queue of
 * results (seed 003: ThreadPool(5) with a work queue and a result queue,
 * add_job(callable, args), start(), wait_for_complete()).
 *
 * Each job puts its result on a results queue as a (job id, result) pair,
 * so whoever reads the queue knows which job produced each result, in
 * whatever order they finish.  The pair is allocated by the job; putting
 * it hands it to the queue, and the thread that gets it frees it.
 *
 * Where this fixes the seed:
 * - The seed's workers quit as soon as the work queue has been empty for
 *   one second, so jobs added after that are never run, and its
 *   wait_for_complete() joins the threads, so the pool is gone afterwards.
 *   Here tp_pool_wait_idle() waits until all jobs so far have run and the
 *   workers stay: jobs added afterwards still run (checked below).
 * - The seed's results are bare strings: they lose which job they belong
 *   to.  Here each result carries its job id.
 *
 * Each job sleeps 1 ms to stand for I/O (the seed sleeps 0.1 s); nothing
 * relies on that sleep for ordering.  nanosleep needs _GNU_SOURCE (or
 * _POSIX_C_SOURCE) in strict C11 mode: the build defines it here.
 */
#include <time.h>

#include "tpool.h"
#include "example.h" /* after tpool.h, for EXPECT_TP */

enum { THREADS = 5, JOBS = 50, LATE_JOBS = 10 };

static tp_queue *results; /* of result_pair *, unbounded FIFO */

typedef struct result_pair {
    int job;    /* which job */
    long value; /* what it computed */
} result_pair;

static void *test_job(void *arg)
{
    int job = *(const int *)arg;
    struct timespec io = {0, 1000 * 1000}; /* 1 ms of "I/O" */
    nanosleep(&io, NULL);
    result_pair *r = malloc(sizeof *r);
    EXPECT(r != NULL);
    *r = (result_pair){job, (long)job * job};
    EXPECT_TP(tp_queue_put(results, r, -1)); /* the queue owns r now */
    return NULL;
}

/* add_job(): submits job ids[i] for each i in [from, to). */
static void add_jobs(tp_pool *pool, int *ids, int from, int to)
{
    for (int i = from; i < to; i++)
        EXPECT_TP(tp_submit(pool, test_job, &ids[i]));
}

/* Takes every result now in the queue; checks each and counts it in
 * seen[job]. Returns how many there were. */
static int collect(int *seen)
{
    int n = 0;
    void *item;
    while (tp_queue_get(results, &item, 0) == 0) { /* 0: do not wait */
        result_pair *r = item; /* ours now */
        EXPECT(r->job >= 0 && r->job < JOBS + LATE_JOBS);
        EXPECT(r->value == (long)r->job * r->job);
        seen[r->job]++;
        n++;
        free(r);
    }
    return n;
}

int main(void)
{
    int ids[JOBS + LATE_JOBS], seen[JOBS + LATE_JOBS] = {0};
    for (int i = 0; i < JOBS + LATE_JOBS; i++)
        ids[i] = i; /* each job's argument: its id */

    EXPECT_TP(tp_queue_create(&results, TP_QUEUE_FIFO, 0));
    tp_options opts;
    EXPECT_TP(tp_options_init(&opts));
    opts.threads = THREADS;
    tp_pool *pool;
    EXPECT_TP(tp_pool_create(&pool, &opts));

    add_jobs(pool, ids, 0, JOBS);
    EXPECT_TP(tp_pool_wait_idle(pool, -1)); /* wait_for_complete() */
    int first = collect(seen);
    printf("%d jobs on %d threads: %d results\n", JOBS, THREADS, first);
    EXPECT(first == JOBS);

    /* The pool is idle, and still there: late jobs run too. */
    add_jobs(pool, ids, JOBS, JOBS + LATE_JOBS);
    EXPECT_TP(tp_pool_wait_idle(pool, -1));
    int late = collect(seen);
    printf("%d jobs added later: %d results\n", LATE_JOBS, late);
    EXPECT(late == LATE_JOBS);

    for (int i = 0; i < JOBS + LATE_JOBS; i++)
        EXPECT(seen[i] == 1); /* each job's result exactly once */

    EXPECT_TP(tp_pool_destroy(pool));
    EXPECT(tp_queue_empty(results) == 1);
    EXPECT_TP(tp_queue_destroy(results, NULL, NULL));
    return 0;
}
