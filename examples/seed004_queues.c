/*
 * seed004_queues.c - FIFO, LIFO and priority queues, and the queue calls
 * of Python's queue module (seed 004, "Queue队列" and "队列示列").
 *
 *   Queue, LifoQueue, PriorityQueue  TP_QUEUE_FIFO, _LIFO, _PRIORITY
 *   q.put(x)                         tp_queue_put(q, x, -1)
 *   q.get()                          tp_queue_get(q, &x, -1)
 *   put_nowait(), get_nowait()       timeout 0: TP_EFULL, TP_EEMPTY at once
 *   q.get(timeout=5.0)               tp_queue_get(q, &x, 5000); TP_EEMPTY
 *                                    if nothing came in time
 *   qsize(), empty(), full()         tp_queue_size(), _empty(), _full()
 *
 * The seed empties a queue with `while not q.empty(): q.get()`.  With
 * other consumers around, the queue can empty between the check and the
 * get, which then blocks for ever.  Taking with timeout 0 until TP_EEMPTY
 * checks and takes in one step, so that is what drain() does.
 *
 * A priority queue hands out the smallest priority first: the boss's print
 * job (priority 1) goes before the others however late it was queued.
 * Items of equal priority come out in the order they were put.
 */
#include "tpool.h"
#include "example.h" /* after tpool.h, for EXPECT_TP */

/* Takes every item now in q into out[] (at most max); returns how many. */
static int drain(tp_queue *q, void **out, int max)
{
    int n = 0;
    while (n < max && tp_queue_get(q, &out[n], 0) == 0)
        n++;
    return n;
}

static void fifo_and_lifo(void)
{
    static int numbers[5] = {0, 1, 2, 3, 4};
    tp_queue *fifo, *lifo;
    EXPECT_TP(tp_queue_create(&fifo, TP_QUEUE_FIFO, 0));
    EXPECT_TP(tp_queue_create(&lifo, TP_QUEUE_LIFO, 0));
    for (int i = 0; i < 5; i++) {
        EXPECT_TP(tp_queue_put(fifo, &numbers[i], -1));
        EXPECT_TP(tp_queue_put(lifo, &numbers[i], -1));
    }
    void *out[5];
    EXPECT(drain(fifo, out, 5) == 5);
    printf("FIFO:");
    for (int i = 0; i < 5; i++) {
        printf(" %d", *(int *)out[i]);
        EXPECT(out[i] == &numbers[i]); /* 0 1 2 3 4 */
    }
    EXPECT(drain(lifo, out, 5) == 5);
    printf("\nLIFO:");
    for (int i = 0; i < 5; i++) {
        printf(" %d", *(int *)out[i]);
        EXPECT(out[i] == &numbers[4 - i]); /* 4 3 2 1 0 */
    }
    printf("\n");
    EXPECT_TP(tp_queue_destroy(fifo, NULL, NULL));
    EXPECT_TP(tp_queue_destroy(lifo, NULL, NULL));
}

static void priority(void)
{
    static const char *jobs[] = {"Mid-level job", "Low-level job",
                                 "Important job (the boss's)",
                                 "Another mid-level job"};
    static const int prios[] = {3, 10, 1, 3};
    static const int expected[] = {2, 0, 3, 1}; /* by priority, then age */

    tp_queue *q;
    EXPECT_TP(tp_queue_create(&q, TP_QUEUE_PRIORITY, 0));
    for (int i = 0; i < 4; i++) {
        printf("New job: %s\n", jobs[i]);
        EXPECT_TP(tp_queue_put_prio(q, &jobs[i], prios[i], -1));
    }
    for (int i = 0; i < 4; i++) {
        void *item;
        int prio;
        EXPECT_TP(tp_queue_get_prio(q, &item, &prio, 0));
        const char *const *job = item;
        printf("Processing job: %s (priority %d)\n", *job, prio);
        EXPECT(job == &jobs[expected[i]]);
        EXPECT(prio == prios[expected[i]]);
    }
    EXPECT_TP(tp_queue_destroy(q, NULL, NULL));
}

static void state_and_timeouts(void)
{
    static int a = 1, b = 2, c = 3;
    tp_queue *q;
    EXPECT_TP(tp_queue_create(&q, TP_QUEUE_FIFO, 2)); /* maxsize=2 */
    EXPECT(tp_queue_size(q) == 0 && tp_queue_empty(q) == 1);
    EXPECT_TP(tp_queue_put(q, &a, 0));
    EXPECT_TP(tp_queue_put(q, &b, 0));
    EXPECT(tp_queue_size(q) == 2 && tp_queue_full(q) == 1);

    /* put_nowait on a full queue, and put with a timeout: no room. */
    EXPECT(tp_queue_put(q, &c, 0) == TP_EFULL);
    EXPECT(tp_queue_put(q, &c, 20) == TP_EFULL); /* waited 20 ms */

    void *item;
    EXPECT_TP(tp_queue_get(q, &item, 0));
    EXPECT_TP(tp_queue_get(q, &item, 0));
    EXPECT(tp_queue_empty(q) == 1);

    /* get_nowait on an empty queue, and get with a timeout: nothing. */
    EXPECT(tp_queue_get(q, &item, 0) == TP_EEMPTY);
    EXPECT(tp_queue_get(q, &item, 20) == TP_EEMPTY); /* waited 20 ms */
    printf("full: %s, empty: %s\n", tp_err_name(TP_EFULL),
           tp_err_name(TP_EEMPTY));
    EXPECT_TP(tp_queue_destroy(q, NULL, NULL));
}

int main(void)
{
    fifo_and_lifo();
    priority();
    state_and_timeouts();
    return 0;
}
