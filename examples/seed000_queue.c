/*
 * seed000_queue.c - producers and consumers over a bounded, thread-safe
 * queue (seed 000, ThreadSafeQueue: max_size, size, put, batch_put,
 * pop(block, timeout), get(index); a producer/consumer demo).
 *
 * The seed's calls and theirs here:
 *   TreadSafeQueue(max_size)  tp_queue_create(&q, TP_QUEUE_FIFO, capacity)
 *   size()                    tp_queue_size()
 *   put(item), batch_put()    tp_queue_put(), tp_queue_put_batch()
 *   pop(block, timeout)       tp_queue_get(q, &item, timeout_ms)
 *   get(index)                tp_queue_peek(q, index, &item)
 *
 * Where this fixes the seed:
 * - The bound is enforced: the seed stores max_size as 0, so its queue
 *   never fills.  Here a put on a full queue waits for room, or fails with
 *   TP_EFULL when it was told not to wait (checked below).
 * - Errors are return codes: the seed's put() *returns* an exception
 *   object, which callers ignore.  A failed put leaves the item with the
 *   caller.
 * - A get never invents an item: the seed's pop() waits once, without a
 *   loop, and then returns None as if it were an item when the wait timed
 *   out or another consumer won the race.  tp_queue_get() returns 0 with an
 *   item, or an error (TP_EEMPTY, TP_ESHUTDOWN) and no item.
 * - It is a FIFO queue (the seed's pop() takes from the tail: a stack).
 * - A clean stop: when the producers are done, the queue is closed; the
 *   consumers take what is left, then get TP_ESHUTDOWN and return.
 */
#include <pthread.h>

#include "tpool.h"
#include "example.h" /* after tpool.h, for EXPECT_TP */

enum { CAPACITY = 8, PER_PRODUCER = 10000, PRODUCERS = 2, CONSUMERS = 2 };
enum { ITEMS = PRODUCERS * PER_PRODUCER, CHUNK = 16 };

static tp_queue *q;
static int numbers[ITEMS]; /* the items are pointers to these */

/* Producer 0 puts its items one by one, producer 1 in batches of CHUNK
 * (more than fit at once: the batch waits for room as the queue drains). */
static void *producer(void *arg)
{
    int p = *(const int *)arg;
    int *mine = &numbers[p * PER_PRODUCER];
    if (p == 0) {
        for (int i = 0; i < PER_PRODUCER; i++)
            EXPECT_TP(tp_queue_put(q, &mine[i], -1)); /* waits for room */
    } else {
        for (int i = 0; i < PER_PRODUCER; i += CHUNK) {
            void *batch[CHUNK];
            size_t n = PER_PRODUCER - i < CHUNK ? PER_PRODUCER - i : CHUNK;
            for (size_t k = 0; k < n; k++)
                batch[k] = &mine[i + (int)k];
            EXPECT_TP(tp_queue_put_batch(q, batch, n, -1, NULL));
        }
    }
    return NULL;
}

typedef struct consumer {
    long taken, sum; /* read by main after join */
} consumer;

static void *consume(void *arg)
{
    consumer *c = arg;
    void *item;
    int rc;
    while ((rc = tp_queue_get(q, &item, -1)) == 0) { /* blocks, no spin */
        EXPECT(item != NULL); /* only what producers put comes out */
        EXPECT(tp_queue_size(q) <= CAPACITY);
        c->taken++;
        c->sum += *(const int *)item;
    }
    EXPECT(rc == TP_ESHUTDOWN); /* closed and empty: time to stop */
    return NULL;
}

int main(void)
{
    for (int i = 0; i < ITEMS; i++)
        numbers[i] = i + 1;
    EXPECT_TP(tp_queue_create(&q, TP_QUEUE_FIFO, CAPACITY));

    /* pop(block=True, timeout) on an empty queue: no item, an error. */
    void *item = NULL;
    EXPECT(tp_queue_get(q, &item, 10) == TP_EEMPTY);
    EXPECT(item == NULL);

    /* Fill it up: the bound holds. */
    static int extra[CAPACITY + 1];
    for (int i = 0; i < CAPACITY; i++)
        EXPECT_TP(tp_queue_put(q, &extra[i], 0));
    EXPECT(tp_queue_full(q) == 1 && tp_queue_size(q) == CAPACITY);
    EXPECT(tp_queue_put(q, &extra[CAPACITY], 0) == TP_EFULL);
    printf("capacity %d: the %dth put is refused (%s)\n", CAPACITY,
           CAPACITY + 1, tp_err_name(TP_EFULL));

    /* get(index): look without taking. */
    EXPECT_TP(tp_queue_peek(q, 3, &item));
    EXPECT(item == &extra[3]);

    /* Empty it again, in the order the items went in. */
    for (int i = 0; i < CAPACITY; i++) {
        EXPECT_TP(tp_queue_get(q, &item, 0));
        EXPECT(item == &extra[i]);
    }

    /* Producers and consumers, all at once. */
    consumer consumers[CONSUMERS] = {{0, 0}};
    int ids[PRODUCERS];
    pthread_t prod_t[PRODUCERS], cons_t[CONSUMERS];
    for (int i = 0; i < CONSUMERS; i++)
        EXPECT_PT(pthread_create(&cons_t[i], NULL, consume, &consumers[i]));
    for (int i = 0; i < PRODUCERS; i++) {
        ids[i] = i;
        EXPECT_PT(pthread_create(&prod_t[i], NULL, producer, &ids[i]));
    }
    for (int i = 0; i < PRODUCERS; i++)
        EXPECT_PT(pthread_join(prod_t[i], NULL));
    EXPECT_TP(tp_queue_close(q)); /* no more items: consumers drain, stop */

    long taken = 0, sum = 0;
    for (int i = 0; i < CONSUMERS; i++) {
        EXPECT_PT(pthread_join(cons_t[i], NULL));
        printf("consumer %d took %ld items\n", i, consumers[i].taken);
        taken += consumers[i].taken;
        sum += consumers[i].sum;
    }
    /* Every item exactly once: the right count and the right total. */
    EXPECT(taken == ITEMS);
    EXPECT(sum == (long)ITEMS * (ITEMS + 1) / 2);
    EXPECT(tp_queue_put(q, &numbers[0], 0) == TP_ESHUTDOWN);

    EXPECT_TP(tp_queue_destroy(q, NULL, NULL));
    return 0;
}
