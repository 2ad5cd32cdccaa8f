/*
 * fj_fib_lace.c - the same fib(n) as fj_fib.c, for Lace
 * (github.com/trolando/lace), built by bench/fj.sh against a Lace
 * source tree given in LACE_SRC; Lace itself is never part of this
 * repository.  Same command line and output as fj_fib.c.
 *
 *   tpbench-fj-fib-lace N THREADS [REPS]
 *
 * Lace's workers busy-wait for work: with as many workers as cores, the
 * machine is fully busy for the whole run, between repetitions too.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "lace.h"

TASK_1(long, fib, int, n)
{
    if (n < 2)
        return n;
    SPAWN(fib, n - 1);
    long b = CALL(fib, n - 2);
    long a = SYNC(fib);
    return a + b;
}

static long fib_seq(int n)
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
    int n = atoi(argv[1]);
    unsigned threads = (unsigned)atoi(argv[2]);
    int reps = argc > 3 ? atoi(argv[3]) : 1;
    if (n < 2 || n > 40 || threads < 1 || reps < 1) {
        fprintf(stderr, "%s: N in 2..40, THREADS and REPS at least 1\n",
                argv[0]);
        return 2;
    }
    lace_start(threads, 0);
    (void)RUN(fib, n - 5); /* warm-up */
    long want = fib_seq(n);
    double tasks = (double)fib_seq(n + 1);
    for (int i = 0; i < reps; i++) {
        double t0 = now_ms();
        long r = RUN(fib, n);
        double ms = now_ms() - t0;
        if (r != want) {
            fprintf(stderr, "fib(%d) gave %ld\n", n, r);
            return 1;
        }
        printf("{\"peer\":\"lace\",\"workload\":\"fib\",\"threads\":%u,"
               "\"n\":%d,\"metrics\":{\"total_ms\":%.4f,"
               "\"ns_per_task\":%.3f}}\n",
               threads, n, ms, ms * 1e6 / tasks);
    }
    lace_stop();
    return 0;
}
