/*
 * seed004_queue_join.c - a hand-made pool of threads fed by a queue, with
 * task_done() and join() (seed 004, "Python 线程池原理及实现": three
 * daemon threads loop on queue.get(); the main thread puts 10 items and
 * waits in queue.join()).
 *
 * Every item put counts as unfinished until a worker calls
 * tp_queue_task_done() for it, after it has finished with it;
 * tp_queue_join() waits until nothing is unfinished.  So when join returns,
 * every item has been *processed*, not just taken out of the queue.
 *
 * Where this fixes the seed:
 * - The seed's workers are daemon threads in an endless loop: they are
 *   killed wherever they are when the main thread exits, and a thread
 *   join() on them would wait for ever.  Here the queue is closed when the
 *   work is over: each worker's get returns TP_ESHUTDOWN once the queue is
 *   empty, the worker returns, and the main thread joins it.
 * - The seed sleeps 3 s before putting the items, to "let the pool start";
 *   nothing here waits for anything but the work itself.  Workers block in
 *   tp_queue_get() (no polling) until there is an item.
 * - Another seed 004 worker checks `if q.empty(): exit` and then calls
 *   get(): between the two another worker may take the last item, and the
 *   get blocks for ever.  Here the get itself says whether there was one.
 */
#include <pthread.h>
#include <stdatomic.h>

#include "tpool.h"
#include "example.h" /* after tpool.h, for EXPECT_TP */

enum { WORKERS = 3, ITEMS = 10, ROUNDS = 2 };

static tp_queue *q;
static atomic_int processed;

static void *do_job(void *arg)
{
    long *handled = arg; /* how many this worker processed */
    void *item;
    int rc;
    while ((rc = tp_queue_get(q, &item, -1)) == 0) {
        int *number = item;
        *number *= 2; /* the work */
        atomic_fetch_add(&processed, 1);
        (*handled)++;
        EXPECT_TP(tp_queue_task_done(q)); /* after the work, not before */
    }
    EXPECT(rc == TP_ESHUTDOWN);
    return NULL;
}

int main(void)
{
    EXPECT_TP(tp_queue_create(&q, TP_QUEUE_FIFO, 0));
    long handled[WORKERS] = {0};
    pthread_t workers[WORKERS];
    for (int i = 0; i < WORKERS; i++)
        EXPECT_PT(pthread_create(&workers[i], NULL, do_job, &handled[i]));

    /* The same workers serve several rounds: put, then join. */
    static int numbers[ROUNDS][ITEMS];
    for (int r = 0; r < ROUNDS; r++) {
        for (int i = 0; i < ITEMS; i++) {
            numbers[r][i] = i;
            EXPECT_TP(tp_queue_put(q, &numbers[r][i], -1));
        }
        EXPECT_TP(tp_queue_join(q, -1)); /* all processed */
        printf("round %d: %d items processed\n", r + 1,
               atomic_load(&processed));
        EXPECT(atomic_load(&processed) == (r + 1) * ITEMS);
        for (int i = 0; i < ITEMS; i++)
            EXPECT(numbers[r][i] == 2 * i); /* join made the work visible */
    }

    EXPECT_TP(tp_queue_close(q)); /* no more work: workers return */
    long total = 0;
    for (int i = 0; i < WORKERS; i++) {
        EXPECT_PT(pthread_join(workers[i], NULL));
        printf("worker %d processed %ld items\n", i, handled[i]);
        total += handled[i];
    }
    EXPECT(total == ROUNDS * ITEMS);
    EXPECT_TP(tp_queue_destroy(q, NULL, NULL));
    return 0;
}
