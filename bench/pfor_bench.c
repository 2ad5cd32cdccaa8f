/*
 * pfor_bench.c - tp_parallel_for() against OpenMP's `parallel for`.
 *
 * A standalone program (not built by bench/CMakeLists.txt):
 *
 *   cc -O2 -std=c11 -fopenmp -D_GNU_SOURCE -Iinclude bench/pfor_bench.c \
 *      BUILD/libtpool.a -lpthread -lm -o pfor_bench
 *   ./pfor_bench [-n ELEMENTS] [-r REPS] [-x] [THREADS...] (default 1 2)
 *
 * Loops, each over an array of doubles:
 *   sqrt   a[i] = sqrt(i) * 1.5, summed (tpool: per chunk, then added to
 *          a shared total; OpenMP: reduction(+:sum)); checked against the
 *          sequential sum
 *   light  a[i] += 1.0 (memory bound: the cost of a loop is mostly the
 *          machinery and memory bandwidth)
 *   small  the sqrt loop over 10,000 elements, run 200 times per
 *          repetition: start-up and join cost per loop dominate
 *
 * With T threads, each loop runs on exactly T threads: OpenMP with
 * num_threads(T) (the calling thread is one of them); tpool from inside a
 * task of a pool of T workers (so the caller is one of them and T - 1
 * helpers are submitted), grain 0 (automatic); with -x, from this
 * (outside) thread with a pool of T - 1 workers (of 1 when T is 1, so then
 * two threads take part).  Each repetition is timed alone; each library
 * runs its repetitions in a block after one untimed warm-up (not
 * interleaved: libgomp's threads spin for a while after a loop, which
 * would slow the other library down).  The median is printed, in ns per
 * element, with tpool's time divided by OpenMP's (below 1: tpool faster).
 */
#include <math.h>
#include <omp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tpool.h"

#define SMALL_N 10000
#define SMALL_LOOPS 200

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* ---- the loops, tpool ---------------------------------------------------- */

typedef struct job {
    double *a;
    size_t n;
    _Atomic double sum;
    int kind; /* 0 sqrt, 1 light, 2 small */
    tp_pool *pool;
} job;

static void add_sum(job *j, double part)
{
    double old = atomic_load_explicit(&j->sum, memory_order_relaxed);
    while (!atomic_compare_exchange_weak_explicit(
        &j->sum, &old, old + part, memory_order_relaxed, memory_order_relaxed))
        ;
}

static void sqrt_body(size_t lo, size_t hi, void *ctx)
{
    job *j = ctx;
    double *a = j->a, s = 0;
    for (size_t i = lo; i < hi; i++) {
        a[i] = sqrt((double)i) * 1.5;
        s += a[i];
    }
    add_sum(j, s);
}

static void light_body(size_t lo, size_t hi, void *ctx)
{
    job *j = ctx;
    double *a = j->a;
    for (size_t i = lo; i < hi; i++)
        a[i] += 1.0;
}

/* Runs inside a task of the pool: the caller is one of its workers. */
static void *tpool_loop(void *arg)
{
    job *j = arg;
    switch (j->kind) {
    case 0:
        tp_parallel_for(j->pool, 0, j->n, 0, sqrt_body, j);
        break;
    case 1:
        tp_parallel_for(j->pool, 0, j->n, 0, light_body, j);
        break;
    default:
        for (int k = 0; k < SMALL_LOOPS; k++)
            tp_parallel_for(j->pool, 0, SMALL_N, 0, sqrt_body, j);
        break;
    }
    return NULL;
}

static int outside; /* -x: call from this thread, not from a task */

static double time_tpool(tp_pool *pool, job *j)
{
    atomic_store(&j->sum, 0.0);
    j->pool = pool;
    double t0 = now_ns();
    if (outside) {
        tpool_loop(j);
        return now_ns() - t0;
    }
    tp_future *f;
    if (tp_submit_future(pool, tpool_loop, j, &f) != 0) {
        fprintf(stderr, "submit failed\n");
        exit(1);
    }
    tp_future_wait(f, -1);
    double t = now_ns() - t0;
    tp_future_release(f);
    return t;
}

/* ---- the loops, OpenMP --------------------------------------------------- */

static double time_omp(int threads, job *j)
{
    double *a = j->a;
    long n = (long)j->n;
    double sum = 0;
    double t0 = now_ns();
    switch (j->kind) {
    case 0:
#pragma omp parallel for num_threads(threads) reduction(+ : sum)
        for (long i = 0; i < n; i++) {
            a[i] = sqrt((double)i) * 1.5;
            sum += a[i];
        }
        break;
    case 1:
#pragma omp parallel for num_threads(threads)
        for (long i = 0; i < n; i++)
            a[i] += 1.0;
        break;
    default:
        for (int k = 0; k < SMALL_LOOPS; k++) {
#pragma omp parallel for num_threads(threads) reduction(+ : sum)
            for (long i = 0; i < SMALL_N; i++) {
                a[i] = sqrt((double)i) * 1.5;
                sum += a[i];
            }
        }
        break;
    }
    double t = now_ns() - t0;
    atomic_store(&j->sum, sum);
    return t;
}

/* ---- driver -------------------------------------------------------------- */

/* Chunks add up in different orders: equal up to rounding. */
static void check_sum(job *j, double expect, const char *who)
{
    double got = atomic_load(&j->sum);
    if (fabs(got - expect) > 1e-6 * fabs(expect)) {
        fprintf(stderr, "%s: wrong sum %.17g, expected %.17g\n", who, got,
                expect);
        exit(1);
    }
}

int main(int argc, char **argv)
{
    size_t n = 10000000;
    int reps = 11;
    unsigned threads[16];
    int nthreads = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-n") == 0 && i + 1 < argc)
            n = strtoull(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "-r") == 0 && i + 1 < argc)
            reps = atoi(argv[++i]);
        else if (strcmp(argv[i], "-x") == 0)
            outside = 1;
        else if (nthreads < 16 && atoi(argv[i]) > 0)
            threads[nthreads++] = (unsigned)atoi(argv[i]);
    }
    if (nthreads == 0) {
        threads[nthreads++] = 1;
        threads[nthreads++] = 2;
    }
    if (reps < 1 || reps > 1000 || n < SMALL_N)
        return 2;

    double *a = malloc(n * sizeof *a);
    if (a == NULL)
        return 1;
    double expect_big = 0, expect_small = 0;
    for (size_t i = 0; i < n; i++)
        expect_big += sqrt((double)i) * 1.5;
    for (size_t i = 0; i < SMALL_N; i++)
        expect_small += sqrt((double)i) * 1.5;
    expect_small *= SMALL_LOOPS;
    omp_set_dynamic(0);

    static const char *const names[] = {"sqrt", "light", "small"};
    printf("# tp_parallel_for vs OpenMP (%s), n = %zu, median of %d\n",
           "libgomp", n, reps);
    printf("%-6s %7s %14s %14s %12s\n", "loop", "threads", "tpool ns/elem",
           "omp ns/elem", "tpool/omp");
    for (int ti = 0; ti < nthreads; ti++) {
        unsigned t = threads[ti];
        tp_options o;
        tp_options_init(&o);
        /* From outside, the caller is the T-th thread. */
        o.threads = outside ? (t > 1 ? t - 1 : 1) : t;
        tp_pool *pool;
        if (tp_pool_create(&pool, &o) != 0)
            return 1;
        for (int kind = 0; kind < 3; kind++) {
            job j = {a, n, 0.0, kind, pool};
            double elems =
                kind == 2 ? (double)SMALL_N * SMALL_LOOPS : (double)n;
            double *tt = malloc(sizeof(double) * (size_t)reps);
            double *to = malloc(sizeof(double) * (size_t)reps);
            if (tt == NULL || to == NULL)
                return 1;
            /* One library at a time: OpenMP's threads spin for a while
             * after each loop, and would take cores from tpool's. */
            time_tpool(pool, &j); /* warm-up */
            for (int r = 0; r < reps; r++) {
                tt[r] = time_tpool(pool, &j);
                if (kind != 1)
                    check_sum(&j, kind == 0 ? expect_big : expect_small,
                              "tpool");
            }
            time_omp((int)t, &j);
            for (int r = 0; r < reps; r++) {
                to[r] = time_omp((int)t, &j);
                if (kind != 1)
                    check_sum(&j, kind == 0 ? expect_big : expect_small,
                              "omp");
            }
            double mt = median(tt, reps) / elems, mo = median(to, reps) / elems;
            printf("%-6s %7u %14.3f %14.3f %12.2f\n", names[kind], t, mt, mo,
                   mt / mo);
            fflush(stdout);
            free(tt);
            free(to);
        }
        tp_pool_destroy(pool);
    }
    free(a);
    return 0;
}
