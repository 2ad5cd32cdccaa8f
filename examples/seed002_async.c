/*
 * seed002_async.c - asynchronous tasks and their futures (seed 002,
 * "异步任务" and AsyncTask: set_result / get_result; also a task that
 * fails and a task that is cancelled).
 *
 * The seed's AsyncTask keeps a result and a condition variable:
 * set_result() stores the result and notifies, get_result() blocks until
 * there is one.  Here tp_submit_future() gives a future for each task:
 *   the task's return value        is set_result()
 *   tp_future_get(f, timeout, &r)  is get_result(): blocks until the task
 *                                  has settled (timeout in ms; 0 = poll,
 *                                  -1 = for ever)
 *   tp_future_id(f), tp_task_id()  the task's unique id (the seed's uuid)
 * A future also says how the task ended: COMPLETED with a result, FAILED
 * (the task called tp_task_fail(code)) or CANCELLED (tp_future_cancel()
 * before it ran).  A failure only settles that task's future: the worker
 * goes on with the next task (a Python exception in a seed 001 task kills
 * its worker thread).
 *
 * Part 2 uses a pool of one worker whose first task waits at a gate, so
 * the order of events is certain without any sleep: while the gate is
 * shut, every later task is still queued.  Part 3 cancels a task that
 * may be running, which the task acknowledges (tp_task_stop_requested()).
 */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "tpool.h"
#include "example.h" /* after tpool.h, for EXPECT_TP */

/* Results are small integers carried in the void * a task returns. */
#define AS_RESULT(x) ((void *)(intptr_t)(x))
#define AS_INT(p) ((int)(intptr_t)(p))

/* An async task: the square of its argument; also records its id. */
typedef struct square_job {
    int n;
    uint64_t id_seen; /* tp_task_id() as seen inside the task */
} square_job;

static void *square(void *arg)
{
    square_job *job = arg;
    job->id_seen = tp_task_id();
    return AS_RESULT(job->n * job->n);
}

/* Integer square root of a perfect square; a negative number is an error
 * the task reports with tp_task_fail(), as it cannot raise an exception. */
static void *int_sqrt(void *arg)
{
    int n = *(const int *)arg;
    if (n < 0) {
        tp_task_fail(EDOM);
        return NULL;
    }
    int r = 0;
    while ((r + 1) * (r + 1) <= n)
        r++;
    return AS_RESULT(r);
}

/* A gate: tasks wait at it until the main thread opens it. */
typedef struct gate {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    bool open; /* guarded by lock */
} gate;

/* For gates of static storage (what the POSIX static initialisers are for). */
#define GATE_SHUT {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, false}

static void gate_wait(gate *g)
{
    pthread_mutex_lock(&g->lock);
    while (!g->open)
        pthread_cond_wait(&g->cond, &g->lock);
    pthread_mutex_unlock(&g->lock);
}

static void gate_open(gate *g)
{
    pthread_mutex_lock(&g->lock);
    g->open = true;
    pthread_cond_broadcast(&g->cond);
    pthread_mutex_unlock(&g->lock);
}

static void *wait_at_gate(void *arg)
{
    gate_wait(arg);
    return NULL;
}

static void *must_not_run(void *arg)
{
    *(bool *)arg = true;
    return NULL;
}

enum { JOBS = 10 };

/* Part 1: results of asynchronous tasks. */
static void results(void)
{
    tp_pool *pool;
    EXPECT_TP(tp_pool_create(&pool, NULL));
    square_job jobs[JOBS];
    tp_future *futures[JOBS];
    for (int i = 0; i < JOBS; i++) {
        jobs[i] = (square_job){i, 0};
        EXPECT_TP(tp_submit_future(pool, square, &jobs[i], &futures[i]));
    }
    for (int i = 0; i < JOBS; i++) {
        void *result;
        EXPECT_TP(tp_future_get(futures[i], -1, &result)); /* blocks */
        printf("task %llu: %d squared is %d\n",
               (unsigned long long)tp_future_id(futures[i]), i,
               AS_INT(result));
        EXPECT(AS_INT(result) == i * i);
        EXPECT(tp_future_state(futures[i]) == TP_COMPLETED);
        EXPECT(jobs[i].id_seen == tp_future_id(futures[i]));
        for (int j = 0; j < i; j++) /* ids are unique */
            EXPECT(tp_future_id(futures[j]) != tp_future_id(futures[i]));
    }
    for (int i = 0; i < JOBS; i++)
        EXPECT_TP(tp_future_release(futures[i]));
    EXPECT_TP(tp_pool_destroy(pool));
}

/* Part 2: waiting with a timeout, failure and cancellation. */
static void failure_and_cancel(void)
{
    tp_options opts;
    EXPECT_TP(tp_options_init(&opts));
    opts.threads = 1; /* one worker: tasks run one by one, in order */
    tp_pool *pool;
    EXPECT_TP(tp_pool_create(&pool, &opts));

    int minus_four = -4, sixteen = 16;
    bool ran = false;
    static gate g = GATE_SHUT;
    tp_future *blocker, *failing, *cancelled, *good;
    EXPECT_TP(tp_submit_future(pool, wait_at_gate, &g, &blocker));
    EXPECT_TP(tp_submit_future(pool, int_sqrt, &minus_four, &failing));
    EXPECT_TP(tp_submit_future(pool, must_not_run, &ran, &cancelled));
    EXPECT_TP(tp_submit_future(pool, int_sqrt, &sixteen, &good));

    /* The gate is shut, so `good` has not run: a poll says so at once. */
    void *result;
    EXPECT(tp_future_get(good, 0, &result) == TP_ETIMEDOUT);
    EXPECT(tp_future_state(good) == TP_PENDING);

    /* A queued task can be cancelled: it will never run. */
    EXPECT_TP(tp_future_cancel(cancelled));
    EXPECT(tp_future_state(cancelled) == TP_CANCELLED);

    gate_open(&g);

    int rc = tp_future_get(failing, -1, &result);
    printf("sqrt(-4): %s, code %s\n", tp_err_name(rc),
           strerror(tp_future_error(failing)));
    EXPECT(rc == TP_EFAILED);
    EXPECT(tp_future_state(failing) == TP_FAILED);
    EXPECT(tp_future_error(failing) == EDOM);

    rc = tp_future_get(cancelled, -1, &result);
    printf("cancelled task: %s\n", tp_err_name(rc));
    EXPECT(rc == TP_ECANCELED);
    EXPECT(tp_future_error(cancelled) == TP_ECANCELED);

    /* The same single worker survived the failure and ran the next task. */
    EXPECT_TP(tp_future_get(good, -1, &result));
    printf("sqrt(16) = %d, after the failure, on the same worker\n",
           AS_INT(result));
    EXPECT(AS_INT(result) == 4);
    EXPECT_TP(tp_future_get(blocker, -1, NULL));

    EXPECT_TP(tp_pool_destroy(pool));
    EXPECT(!ran); /* read after destroy: every task has finished */
    tp_future *all[] = {blocker, failing, cancelled, good};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        EXPECT_TP(tp_future_release(all[i]));
}

/* Part 3: cancelling a task that may already be running.  A thread is
 * never killed: the task is asked to stop, and checks for that at a point
 * where stopping is safe. */
static void *long_job(void *arg)
{
    gate_wait(arg); /* stands for the first half of a long computation */
    if (tp_task_stop_requested()) {
        tp_task_fail(TP_ECANCELED); /* acknowledged: settles CANCELLED */
        return NULL;
    }
    return AS_RESULT(42); /* the second half */
}

static void stop_running(void)
{
    tp_pool *pool;
    EXPECT_TP(tp_pool_create(&pool, NULL));
    static gate g = GATE_SHUT;
    tp_future *f;
    EXPECT_TP(tp_submit_future(pool, long_job, &g, &f));
    /* TP_EBUSY if a worker has started it (it is asked to stop); 0 if it
     * was still queued (it will never run).  Either way it is cancelled. */
    int rc = tp_future_cancel(f);
    printf("cancel: %s\n", rc == 0 ? "it was queued, it will never run"
                                    : "it is running, asked to stop");
    EXPECT(rc == TP_EBUSY || rc == 0);
    gate_open(&g);
    EXPECT(tp_future_get(f, -1, NULL) == TP_ECANCELED);
    EXPECT(tp_future_state(f) == TP_CANCELLED);
    EXPECT_TP(tp_future_release(f));
    EXPECT_TP(tp_pool_destroy(pool));
}

int main(void)
{
    results();
    failure_and_cancel();
    stop_running();
    return 0;
}
