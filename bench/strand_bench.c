/*
 * strand_bench.c - throughput of serial queues: tpool's strands against a
 * mutex-per-queue baseline on the same pool.
 *
 * A standalone program (not built by bench/CMakeLists.txt; strand.sh
 * builds and runs it):
 *
 *   cc -O2 -std=c11 -D_GNU_SOURCE -Iinclude bench/strand_bench.c \
 *      BUILD/libtpool.a -lpthread -o strand_bench
 *   ./strand_bench [-n TASKS] [-r REPS] [-t THREADS] [QUEUES...]
 *                  (default: 1,000,000 tasks, 7 repetitions, 2 threads,
 *                   queues 1 16 1000)
 *
 * Each run submits TASKS tiny tasks (a counter increment) spread over
 * QUEUES serial queues, round robin from one thread, and waits until all
 * have run (tp_pool_wait_idle).  The two ways of making the tasks of one
 * queue run one at a time:
 *   strand  tp_strand_submit(): each queue is a strand, whose tasks run in
 *           submission order, up to 64 per turn of a worker, and no lock
 *           is held while a task runs
 *   mutex   the usual hand-made way: every task is a pool task
 *           (tp_submit) that takes its queue's mutex around its body.
 *           Serial too, but not in order, and a worker whose task finds
 *           the mutex held waits for it
 * Both check that every task ran (and the strands that they ran in order).
 * Printed: the median time per task in ns for each, and mutex / strand
 * (above 1: strands are faster).  Repetitions alternate between the two.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tpool.h"

typedef struct queue {
    pthread_mutex_t mu; /* the baseline's */
    tp_strand *s;
    long count;
    long order_errors;
    char pad[64];
} queue;

static queue *qs;

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

/* arg: the queue's index in the high bits, the task's sequence number in
 * the queue in the low 32. */
static void *strand_task(void *arg)
{
    uintptr_t v = (uintptr_t)arg;
    queue *q = &qs[v >> 32];
    if ((long)(v & 0xffffffffu) != q->count)
        q->order_errors++;
    q->count++;
    return NULL;
}

static void *mutex_task(void *arg)
{
    uintptr_t v = (uintptr_t)arg;
    queue *q = &qs[v >> 32];
    pthread_mutex_lock(&q->mu);
    q->count++;
    pthread_mutex_unlock(&q->mu);
    return NULL;
}

static void die(const char *what, int rc)
{
    fprintf(stderr, "strand_bench: %s: %s\n", what, tp_strerror(rc));
    exit(1);
}

/* One run; returns ns per task. */
static double run(tp_pool *p, long tasks, long nq, int strands)
{
    for (long i = 0; i < nq; i++) {
        qs[i].count = 0;
        qs[i].order_errors = 0;
    }
    long per = tasks / nq;
    double t0 = now_ns();
    for (long k = 0; k < per; k++)
        for (long i = 0; i < nq; i++) {
            void *arg = (void *)(((uintptr_t)i << 32) | (uintptr_t)k);
            int rc = strands ? tp_strand_submit(qs[i].s, strand_task, arg)
                             : tp_submit(p, mutex_task, arg);
            if (rc != 0)
                die("submit", rc);
        }
    int rc = tp_pool_wait_idle(p, -1);
    if (rc != 0)
        die("wait_idle", rc);
    double t = now_ns() - t0;
    for (long i = 0; i < nq; i++)
        if (qs[i].count != per || qs[i].order_errors != 0) {
            fprintf(stderr, "strand_bench: queue %ld: %ld of %ld, %ld out "
                            "of order\n",
                    i, qs[i].count, per, qs[i].order_errors);
            exit(1);
        }
    return t / (double)(per * nq);
}

int main(int argc, char **argv)
{
    long tasks = 1000000;
    int reps = 7;
    unsigned threads = 2;
    long queues[16];
    int nqueues = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-n") == 0 && i + 1 < argc)
            tasks = atol(argv[++i]);
        else if (strcmp(argv[i], "-r") == 0 && i + 1 < argc)
            reps = atoi(argv[++i]);
        else if (strcmp(argv[i], "-t") == 0 && i + 1 < argc)
            threads = (unsigned)atoi(argv[++i]);
        else if (nqueues < 16)
            queues[nqueues++] = atol(argv[i]);
    }
    if (nqueues == 0) {
        queues[0] = 1;
        queues[1] = 16;
        queues[2] = 1000;
        nqueues = 3;
    }
    if (reps < 1 || reps > 99 || tasks < 1 || threads < 1) {
        fprintf(stderr, "strand_bench: bad arguments\n");
        return 2;
    }
    tp_options o;
    tp_options_init(&o);
    o.threads = threads;
    tp_pool *p;
    int rc = tp_pool_create(&p, &o);
    if (rc != 0)
        die("pool", rc);
    printf("# %ld tasks, %u workers, median of %d; ns per task\n", tasks,
           threads, reps);
    printf("%8s %10s %10s %14s\n", "queues", "strand", "mutex",
           "mutex/strand");
    for (int qi = 0; qi < nqueues; qi++) {
        long nq = queues[qi];
        qs = calloc((size_t)nq, sizeof *qs);
        if (qs == NULL)
            die("memory", TP_ENOMEM);
        for (long i = 0; i < nq; i++) {
            pthread_mutex_init(&qs[i].mu, NULL);
            if ((rc = tp_strand_create(p, &qs[i].s)) != 0)
                die("strand", rc);
        }
        double s[99], m[99];
        (void)run(p, tasks / 10, nq, 1); /* warm-up */
        (void)run(p, tasks / 10, nq, 0);
        for (int r = 0; r < reps; r++) {
            s[r] = run(p, tasks, nq, 1);
            m[r] = run(p, tasks, nq, 0);
        }
        qsort(s, (size_t)reps, sizeof *s, cmp_double);
        qsort(m, (size_t)reps, sizeof *m, cmp_double);
        printf("%8ld %10.1f %10.1f %14.2f   (strand %.1f-%.1f, mutex "
               "%.1f-%.1f)\n",
               nq, s[reps / 2], m[reps / 2], m[reps / 2] / s[reps / 2], s[0],
               s[reps - 1], m[0], m[reps - 1]);
        for (long i = 0; i < nq; i++) {
            tp_strand_destroy(qs[i].s);
            pthread_mutex_destroy(&qs[i].mu);
        }
        free(qs);
    }
    tp_pool_destroy(p);
    return 0;
}
