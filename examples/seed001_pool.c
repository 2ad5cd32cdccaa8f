/*
 * seed001_pool.c - a pool of worker threads running ordinary tasks (seed
 * 001, ProcessThread and ThreadPool; seed 002, "普通任务": submitted, no
 * result wanted).
 *
 * The seed's calls and theirs here:
 *   ThreadPool(size=0), start()  tp_pool_create(): default size 2 x CPUs;
 *                                the workers are running when it returns
 *   put(task), batch_put(list)   tp_submit(), tp_submit_batch()
 *   size()                       tp_pool_size()
 *   join()                       tp_pool_wait_idle() to wait for the work;
 *                                tp_pool_shutdown() / tp_pool_destroy() to
 *                                stop the workers
 *
 * Where this fixes seed 001:
 * - An idle worker sleeps inside the pool until a task arrives; the seed's
 *   workers call a non-blocking pop() in a loop, so an idle pool spins at
 *   100% CPU.
 * - put() queues the task (the seed's put() calls itself for ever).
 * - Shutdown wakes idle workers, runs every task already queued, then joins
 *   the threads (the seed's join() loops on `self.pool.size`, a method and
 *   so always true, and never wakes a worker that is waiting).
 * - A task that fails does not kill its worker: see seed002_async.c.
 */
#include <stdatomic.h>

#include "tpool.h"
#include "example.h"

enum { SINGLE = 1000, BATCH = 100, AT_SHUTDOWN = 200 };

static atomic_long total; /* what the tasks have added up */
static int values[SINGLE + BATCH + AT_SHUTDOWN]; /* values[i] == i + 1 */

/* An ordinary task: adds its number to the total; its result is unused. */
static void *add_value(void *arg)
{
    const int *value = arg;
    atomic_fetch_add(&total, *value);
    return NULL;
}

/* 1 + 2 + ... + n */
static long sum_to(long n)
{
    return n * (n + 1) / 2;
}

int main(void)
{
    for (int i = 0; i < SINGLE + BATCH + AT_SHUTDOWN; i++)
        values[i] = i + 1;

    tp_pool *pool;
    EXPECT_TP(tp_pool_create(&pool, NULL)); /* NULL: default options */
    printf("pool of %u threads (2 x CPUs)\n", tp_pool_size(pool));
    EXPECT(tp_pool_size(pool) >= 1);

    /* put(), one task at a time. */
    for (int i = 0; i < SINGLE; i++)
        EXPECT_TP(tp_submit(pool, add_value, &values[i]));

    /* batch_put(): many tasks, one call. */
    tp_job jobs[BATCH];
    for (int i = 0; i < BATCH; i++)
        jobs[i] = (tp_job){add_value, &values[SINGLE + i], 0};
    size_t accepted = 0;
    EXPECT_TP(tp_submit_batch(pool, jobs, BATCH, NULL, &accepted));
    EXPECT(accepted == BATCH);

    /* Wait until every task submitted so far has run. */
    EXPECT_TP(tp_pool_wait_idle(pool, -1));
    printf("after %d tasks: total = %ld\n", SINGLE + BATCH,
           atomic_load(&total));
    EXPECT(atomic_load(&total) == sum_to(SINGLE + BATCH));
    tp_pool_stats stats;
    EXPECT_TP(tp_pool_stats_get(pool, &stats));
    EXPECT(stats.completed == SINGLE + BATCH && stats.queued == 0);

    /* Tasks still queued when shutdown starts are run, not dropped. */
    for (int i = SINGLE + BATCH; i < SINGLE + BATCH + AT_SHUTDOWN; i++)
        EXPECT_TP(tp_submit(pool, add_value, &values[i]));
    EXPECT_TP(tp_pool_shutdown(pool));
    printf("after shutdown: total = %ld\n", atomic_load(&total));
    EXPECT(atomic_load(&total) == sum_to(SINGLE + BATCH + AT_SHUTDOWN));

    /* A stopped pool refuses new work; the argument stays the caller's. */
    EXPECT(tp_submit(pool, add_value, &values[0]) == TP_ESHUTDOWN);

    EXPECT_TP(tp_pool_destroy(pool));
    return 0;
}
