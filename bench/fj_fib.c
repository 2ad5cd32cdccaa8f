/*
 * fj_fib.c - fib(n) with a task per call, written directly against
 * tp_spawn/tp_sync (no adapter in between), for comparison with other
 * fork-join runtimes' own fib programs (bench/fj.sh) and for
 * counting instructions per spawn and sync (callgrind).
 *
 *   tpbench-fj-fib N THREADS [REPS]
 *
 * Prints one JSON line per repetition, as the other benchmark programs:
 * {"peer":"tpool-fj-native","workload":"fib","threads":T,"n":N,
 *  "metrics":{"total_ms":..,"ns_per_task":..}}
 * after one warm-up run of fib(N - 5).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "tpool.h"

static void *fib(void *arg)
{
    intptr_t n = (intptr_t)arg;
    if (n < 2)
        return arg;
    tp_fj_frame f;
    tp_spawn(&f, fib, (void *)(n - 1));
    intptr_t b = (intptr_t)fib((void *)(n - 2));
    intptr_t a = (intptr_t)tp_sync(&f);
    return (void *)(a + b);
}

static intptr_t fib_seq(intptr_t n)
{
    return n < 2 ? n : fib_seq(n - 1) + fib_seq(n - 2);
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: %s N THREADS [REPS]\n", argv[0]);
        return 2;
    }
    intptr_t n = atoi(argv[1]);
    unsigned threads = (unsigned)atoi(argv[2]);
    int reps = argc > 3 ? atoi(argv[3]) : 1;
    if (n < 2 || n > 40 || threads < 1 || reps < 1) {
        fprintf(stderr, "%s: N in 2..40, THREADS and REPS at least 1\n",
                argv[0]);
        return 2;
    }
    tp_options o;
    tp_options_init(&o);
    o.threads = threads;
    o.name = "fjfib";
    tp_pool *pool;
    int rc = tp_pool_create(&pool, &o);
    if (rc != 0) {
        fprintf(stderr, "tp_pool_create: %s\n", tp_strerror(rc));
        return 1;
    }
    void *r;
    tp_fj_run(pool, fib, (void *)(n - 5), &r); /* warm-up */
    intptr_t want = fib_seq(n);
    /* Calls with n >= 2 spawn one task each: fib(n+1) - 1 of them, plus
     * the root: fib(n+1) tasks, as the suite's forkjoin workload counts. */
    double tasks = (double)fib_seq(n + 1);
    for (int i = 0; i < reps; i++) {
        double t0 = now_ms();
        rc = tp_fj_run(pool, fib, (void *)n, &r);
        double ms = now_ms() - t0;
        if (rc != 0 || (intptr_t)r != want) {
            fprintf(stderr, "fib(%d) failed: %s, %ld\n", (int)n,
                    tp_strerror(rc), (long)(intptr_t)r);
            return 1;
        }
        printf("{\"peer\":\"tpool-fj-native\",\"workload\":\"fib\","
               "\"threads\":%u,\"n\":%d,\"metrics\":{\"total_ms\":%.4f,"
               "\"ns_per_task\":%.3f}}\n",
               threads, (int)n, ms, ms * 1e6 / tasks);
    }
    tp_pool_destroy(pool);
    return 0;
}
