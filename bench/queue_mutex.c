/*
 * queue_mutex.c - the plain queue: a ring buffer that doubles when full,
 * behind one mutex, with one condition variable for "not empty".
 *
 * bench-requires: threads
 *
 * What one writes by hand when no library is at hand; unbounded, as the
 * other queues here are.  A push signals only when consumers are waiting
 * (counted under the mutex, so no wake-up is lost), and a pop waits in a
 * loop (spurious wake-ups).
 */
#include <stdlib.h>

#include "qbench.h"

struct bench_queue {
    pthread_mutex_t mu;
    pthread_cond_t not_empty;
    void **items;
    size_t cap;     /* a power of two */
    size_t head;    /* index of the oldest item */
    size_t count;
    unsigned waiting; /* consumers in pthread_cond_wait */
};

static bench_queue *mq_create(void)
{
    bench_queue *q = bench_xcalloc(1, sizeof *q);
    q->cap = 1024;
    q->items = bench_xcalloc(q->cap, sizeof *q->items);
    if (pthread_mutex_init(&q->mu, NULL) != 0 ||
        pthread_cond_init(&q->not_empty, NULL) != 0)
        bench_die("cannot initialise a queue");
    return q;
}

static void mq_destroy(bench_queue *q)
{
    pthread_cond_destroy(&q->not_empty);
    pthread_mutex_destroy(&q->mu);
    free(q->items);
    free(q);
}

/* Doubles the ring, unwrapping it; mu held. */
static int grow(bench_queue *q)
{
    void **items = malloc(2 * q->cap * sizeof *items);
    if (items == NULL)
        return -1;
    for (size_t i = 0; i < q->count; i++)
        items[i] = q->items[(q->head + i) & (q->cap - 1)];
    free(q->items);
    q->items = items;
    q->head = 0;
    q->cap *= 2;
    return 0;
}

static int mq_push(bench_queue *q, void *item)
{
    pthread_mutex_lock(&q->mu);
    if (q->count == q->cap && grow(q) != 0) {
        pthread_mutex_unlock(&q->mu);
        return -1;
    }
    q->items[(q->head + q->count) & (q->cap - 1)] = item;
    q->count++;
    if (q->waiting > 0)
        pthread_cond_signal(&q->not_empty);
    pthread_mutex_unlock(&q->mu);
    return 0;
}

static void *mq_pop(bench_queue *q)
{
    pthread_mutex_lock(&q->mu);
    while (q->count == 0) {
        q->waiting++;
        pthread_cond_wait(&q->not_empty, &q->mu);
        q->waiting--;
    }
    void *item = q->items[q->head];
    q->head = (q->head + 1) & (q->cap - 1);
    q->count--;
    pthread_mutex_unlock(&q->mu);
    return item;
}

static const char *mq_version(void) { return "this repository"; }

const bench_queue_peer bench_queue_impl = {
    .name = "mutex",
    .title = "mutex + condvar ring",
    .version = mq_version,
    .create = mq_create,
    .destroy = mq_destroy,
    .push = mq_push,
    .pop = mq_pop,
};
