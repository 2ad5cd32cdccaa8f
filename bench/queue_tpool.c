/*
 * queue_tpool.c - tpool's blocking queue (tp_queue), unbounded FIFO.
 *
 * bench-requires: tpool
 */
#include "qbench.h"
#include "tpool.h"

static bench_queue *tq_create(void)
{
    tp_queue *q = NULL;
    if (tp_queue_create(&q, TP_QUEUE_FIFO, 0) != 0)
        return NULL;
    return (bench_queue *)q;
}

static void tq_destroy(bench_queue *q)
{
    tp_queue_destroy((tp_queue *)q, NULL, NULL);
}

static int tq_push(bench_queue *q, void *item)
{
    return tp_queue_put((tp_queue *)q, item, -1) == 0 ? 0 : -1;
}

static void *tq_pop(bench_queue *q)
{
    void *item = NULL;
    int rc = tp_queue_get((tp_queue *)q, &item, -1);
    if (rc != 0)
        bench_die("tp_queue_get: %s", tp_strerror(rc));
    return item;
}

const bench_queue_peer bench_queue_impl = {
    .name = "tpool",
    .title = "tp_queue",
    .version = tp_version_string,
    .create = tq_create,
    .destroy = tq_destroy,
    .push = tq_push,
    .pop = tq_pop,
};
