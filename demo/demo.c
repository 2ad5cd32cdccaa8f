/*
 * demo.c - what tpool is for, in one screen (`make run`).
 *
 * The seeds' scenario: many I/O-bound tasks (each waits 10 ms, like a
 * network call) and some CPU-bound tasks (counting primes), run through a
 * pool with futures, results taken in the order they complete, timed
 * against running the same work one task after another.  Unlike Python
 * threads under the GIL, the CPU-bound tasks run in parallel: the speed-up
 * follows the number of cores.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "tpool.h"

#define IO_TASKS 200
#define IO_MS 10
#define CPU_TASKS 8
#define CPU_LIMIT 600000

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* I/O-bound: the thread sleeps, as it would waiting for a reply.  The
 * result is the task's input, so each result can be matched to its task. */
static void *fake_io(void *arg)
{
    struct timespec ts = {0, IO_MS * 1000000L};
    nanosleep(&ts, NULL);
    return arg;
}

/* CPU-bound: count the primes below CPU_LIMIT by trial division. */
static void *count_primes(void *arg)
{
    uintptr_t count = 0;
    for (uintptr_t n = 2; n < CPU_LIMIT; n++) {
        int prime = 1;
        for (uintptr_t d = 2; d * d <= n; d++)
            if (n % d == 0) {
                prime = 0;
                break;
            }
        count += (uintptr_t)prime;
    }
    (void)arg;
    return (void *)count;
}

static int fail(const char *what, int rc)
{
    fprintf(stderr, "demo: %s: %s\n", what, tp_strerror(rc));
    return 1;
}

/* Submits n copies of fn, collects the results in completion order with a
 * waitset, and returns the wall time in ms (or < 0 on error).  *checksum
 * receives the sum of the results. */
static double run_batch(tp_pool *pool, tp_task_fn fn, int n, int show,
                        uintptr_t *checksum)
{
    tp_waitset *ws;
    int rc = tp_waitset_create(&ws);
    if (rc != 0)
        return fail("waitset", rc), -1;
    double t0 = now_ms();
    for (int i = 0; i < n; i++) {
        tp_future *f;
        rc = tp_submit_future(pool, fn, (void *)(uintptr_t)i, &f);
        if (rc == 0)
            rc = tp_waitset_add(ws, f);
        tp_future_release(f);
        if (rc != 0)
            return fail("submit", rc), -1;
    }
    *checksum = 0;
    for (int done = 0; done < n; done++) {
        tp_future *f;
        void *result;
        rc = tp_waitset_next(ws, -1, &f);
        if (rc == 0)
            rc = tp_future_get(f, 0, &result);
        if (rc != 0)
            return fail("result", rc), -1;
        if (done < show)
            printf("    #%-3d done: task id %-4llu -> %llu\n", done + 1,
                   (unsigned long long)tp_future_id(f),
                   (unsigned long long)(uintptr_t)result);
        *checksum += (uintptr_t)result;
        tp_future_release(f);
    }
    double ms = now_ms() - t0;
    tp_waitset_destroy(ws);
    return ms;
}

int main(void)
{
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    printf("tpool %s demo on %ld CPU(s)\n\n", tp_version_string(), cpus);

    /* I/O-bound: many threads pay off, the CPU is idle while they wait. */
    tp_options o;
    tp_options_init(&o);
    o.threads = 50;
    o.name = "io";
    tp_pool *io;
    int rc = tp_pool_create(&io, &o);
    if (rc != 0)
        return fail("create", rc);
    printf("%d I/O-bound tasks of %d ms on %u threads, first results in "
           "completion order:\n",
           IO_TASKS, IO_MS, tp_pool_size(io));
    uintptr_t sum;
    double pooled = run_batch(io, fake_io, IO_TASKS, 3, &sum);
    if (pooled < 0 || sum != (uintptr_t)IO_TASKS * (IO_TASKS - 1) / 2)
        return fail("I/O results", TP_EINVAL);
    tp_pool_destroy(io);
    double t0 = now_ms();
    for (int i = 0; i < IO_TASKS; i++)
        fake_io(NULL);
    double one_by_one = now_ms() - t0;
    printf("  pool: %.0f ms   one by one: %.0f ms   speed-up: %.1fx\n\n",
           pooled, one_by_one, one_by_one / pooled);

    /* CPU-bound: one worker per online CPU (more would only add switching;
     * see the guide's "Choosing the thread count"), against this thread
     * alone. */
    tp_pool *cpu;
    tp_options_init(&o);
    o.threads = cpus > 0 ? (unsigned)cpus : 1u;
    o.name = "cpu";
    if ((rc = tp_pool_create(&cpu, &o)) != 0)
        return fail("create", rc);
    printf("%d CPU-bound tasks (primes below %d) on %u threads:\n", CPU_TASKS,
           CPU_LIMIT, tp_pool_size(cpu));
    t0 = now_ms();
    uintptr_t expect = 0;
    for (int i = 0; i < CPU_TASKS; i++)
        expect += (uintptr_t)count_primes(NULL);
    double serial = now_ms() - t0;
    double parallel = run_batch(cpu, count_primes, CPU_TASKS, 1, &sum);
    tp_pool_destroy(cpu);
    if (parallel < 0 || sum != expect)
        return fail("CPU results", TP_EINVAL);
    printf("  pool: %.0f ms   one by one: %.0f ms   speed-up: %.1fx "
           "(Python threads under the GIL: ~1.0x)\n",
           parallel, serial, serial / parallel);
    printf("\nall results correct\n");
    return 0;
}
