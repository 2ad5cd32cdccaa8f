/*
 * fork_join.c - recursive fork-join with nested futures: a parallel
 * quicksort (beyond the seeds).
 *
 * A sort task partitions its range, submits the left part as a child task
 * to the same pool (fork), sorts the right part itself, then waits for the
 * child's future (join).  In many pools a task that waits for a task it
 * submitted to its own pool can deadlock: once every worker is waiting,
 * nobody is left to run the children.  Here tp_future_wait(), called on a
 * worker, runs other queued tasks of the pool while it waits, so the sort
 * completes even on a pool of ONE thread, which is checked below.
 *
 * Granularity: only the top SPAWN_LEVELS levels of the recursion fork
 * (at most 2^SPAWN_LEVELS - 1 child tasks, plenty to keep a few cores
 * busy); below that, and for ranges under CUTOFF elements, the sort runs
 * sequentially.  Tasks that are too small cost more to schedule than they
 * save, and bounding the number of nested waits also bounds how deeply a
 * waiting worker nests the tasks it runs meanwhile.
 *
 * The child's arguments live on the parent's stack: safe, because the
 * parent does not return before the child has finished.
 *
 * The result is checked against qsort() of the same data.
 */
#include <stdint.h>

#include "tpool.h"
#include "example.h" /* after tpool.h, for EXPECT_TP */

enum { COUNT = 300000, CUTOFF = 4096, SPAWN_LEVELS = 6 };

static int compare_ints(const void *pa, const void *pb)
{
    int a = *(const int *)pa, b = *(const int *)pb;
    return (a > b) - (a < b);
}

/* Hoare partition around the middle element (n >= 2).  Returns k with
 * 0 < k < n: every a[0..k) <= every a[k..n). */
static size_t partition(int *a, size_t n)
{
    int pivot = a[(n - 1) / 2];
    size_t i = 0, j = n - 1;
    for (;;) {
        while (a[i] < pivot)
            i++;
        while (a[j] > pivot)
            j--;
        if (i >= j)
            return j + 1;
        int t = a[i];
        a[i] = a[j];
        a[j] = t;
        i++;
        j--;
    }
}

typedef struct sort_args {
    tp_pool *pool;
    int *a;
    size_t n;
    int level;
} sort_args;

static void sort(tp_pool *pool, int *a, size_t n, int level);

static void *sort_task(void *arg)
{
    const sort_args *s = arg;
    sort(s->pool, s->a, s->n, s->level);
    return NULL;
}

static void sort(tp_pool *pool, int *a, size_t n, int level)
{
    if (n <= CUTOFF || level >= SPAWN_LEVELS) {
        qsort(a, n, sizeof *a, compare_ints); /* small: sequential */
        return;
    }
    size_t k = partition(a, n);
    sort_args left = {pool, a, k, level + 1};
    tp_future *child;
    if (tp_submit_future(pool, sort_task, &left, &child) != 0) {
        sort(pool, a, k, level + 1); /* could not fork: do it here */
        child = NULL;
    }
    sort(pool, a + k, n - k, level + 1);
    if (child) {
        EXPECT_TP(tp_future_wait(child, -1)); /* helps while it waits */
        EXPECT_TP(tp_future_release(child));
    }
}

/* Sorts data (a copy of it) on a pool of `threads` workers and compares
 * the result with the sequential reference. */
static void run(unsigned threads, const int *data, const int *reference)
{
    static int work[COUNT];
    memcpy(work, data, sizeof work);

    tp_options opts;
    EXPECT_TP(tp_options_init(&opts));
    opts.threads = threads;
    tp_pool *pool;
    EXPECT_TP(tp_pool_create(&pool, &opts));

    /* The root task runs on a worker too, so every wait is a helping one. */
    sort_args root = {pool, work, COUNT, 0};
    tp_future *f;
    EXPECT_TP(tp_submit_future(pool, sort_task, &root, &f));
    EXPECT_TP(tp_future_wait(f, -1));
    EXPECT_TP(tp_future_release(f));

    tp_pool_stats stats;
    EXPECT_TP(tp_pool_stats_get(pool, &stats));
    EXPECT_TP(tp_pool_destroy(pool));

    printf("%u thread(s): %d numbers sorted by %llu tasks: %s\n", threads,
           COUNT, (unsigned long long)stats.submitted,
           memcmp(work, reference, sizeof work) == 0 ? "same as qsort"
                                                     : "WRONG");
    EXPECT(memcmp(work, reference, sizeof work) == 0);
}

int main(void)
{
    static int data[COUNT], reference[COUNT];
    uint32_t x = 2463534242u; /* xorshift32: the same numbers every run */
    for (int i = 0; i < COUNT; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        data[i] = (int)(x % 100000u) - 50000; /* with many duplicates */
    }
    memcpy(reference, data, sizeof data);
    qsort(reference, COUNT, sizeof *reference, compare_ints);

    run(1, data, reference); /* nested waits on one thread: no deadlock */
    run(4, data, reference);
    return 0;
}
