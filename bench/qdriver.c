/*
 * qdriver.c - MPMC queue throughput (tpqueue-<name>).
 *
 *   tpqueue-<name> --info
 *   tpqueue-<name> queue --producers P --consumers C --n N
 *
 * P producer threads push N items in all (N is rounded down to a multiple
 * of P x C), C consumer threads pop them, each exactly N / C.  The clock
 * runs from the first thread leaving the start line (a barrier) to the
 * last one finishing, as the threads themselves read it (the main thread
 * might not be scheduled when they start).  Item i is a pointer to byte i of an array; consumers
 * add up i and i * i (mod 2^64) on their own, and the sums are checked
 * against the expected ones once the clock has stopped.  Prints
 * one JSON line, as the pool driver does: items per second, ns per item,
 * and the threads' voluntary context switches per 1000 items (each one a
 * thread that went to sleep in the queue, on its mutex or its condition
 * variable: the cost that ns per item hides on a loaded machine).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "qbench.h"

#define Q (&bench_queue_impl)

/* The calling thread's voluntary context switches so far (0 where the
 * system cannot say per thread). */
static uint64_t thread_sleeps(void)
{
#ifdef RUSAGE_THREAD
    struct rusage ru;
    if (getrusage(RUSAGE_THREAD, &ru) == 0)
        return (uint64_t)ru.ru_nvcsw;
#endif
    return 0;
}

struct qrun {
    bench_queue *q;
    char *base;           /* item i is base + i                      */
    uint64_t n;
    unsigned producers, consumers;
    pthread_barrier_t start;
};

struct qthread {
    struct qrun *run;
    unsigned index;
    pthread_t thread;
    uint64_t start, end; /* when it left the start line, when it finished */
    uint64_t sleeps;     /* voluntary context switches in between */
    uint64_t sum, sumsq; /* consumer: of the items it popped */
};

static void *producer(void *vp)
{
    struct qthread *t = vp;
    struct qrun *r = t->run;
    uint64_t per = r->n / r->producers;
    uint64_t first = per * t->index;
    pthread_barrier_wait(&r->start);
    uint64_t sleeps = thread_sleeps();
    t->start = bench_now_ns();
    for (uint64_t i = first; i < first + per; i++)
        if (Q->push(r->q, r->base + i) != 0)
            bench_die("%s: push failed", Q->name);
    t->end = bench_now_ns();
    t->sleeps = thread_sleeps() - sleeps;
    return NULL;
}

static void *consumer(void *vp)
{
    struct qthread *t = vp;
    struct qrun *r = t->run;
    uint64_t per = r->n / r->consumers, sum = 0, sumsq = 0;
    pthread_barrier_wait(&r->start);
    uint64_t sleeps = thread_sleeps();
    t->start = bench_now_ns();
    for (uint64_t i = 0; i < per; i++) {
        char *item = Q->pop(r->q);
        if (item < r->base || item >= r->base + r->n)
            bench_die("%s: popped a wrong item", Q->name);
        uint64_t k = (uint64_t)(item - r->base);
        sum += k;
        sumsq += k * k;
    }
    t->end = bench_now_ns();
    t->sleeps = thread_sleeps() - sleeps;
    t->sum = sum;
    t->sumsq = sumsq;
    return NULL;
}

/* One pass of n items; returns its time in ns, and the threads'
 * voluntary context switches in *sleeps. */
static uint64_t one_pass(unsigned producers, unsigned consumers, uint64_t n,
                         uint64_t *sleeps)
{
    struct qrun r = {.n = n, .producers = producers, .consumers = consumers};
    r.q = Q->create();
    if (r.q == NULL)
        bench_die("%s: cannot create a queue", Q->name);
    r.base = bench_xcalloc(n, 1);
    unsigned nt = producers + consumers;
    struct qthread *ts = bench_xcalloc(nt, sizeof *ts);
    if (pthread_barrier_init(&r.start, NULL, nt) != 0)
        bench_die("cannot initialise a barrier");
    for (unsigned i = 0; i < nt; i++) {
        ts[i].run = &r;
        ts[i].index = i < producers ? i : i - producers;
        if (pthread_create(&ts[i].thread, NULL,
                           i < producers ? producer : consumer, &ts[i]) != 0)
            bench_die("cannot start thread %u", i);
    }
    uint64_t t0 = UINT64_MAX, t1 = 0;
    *sleeps = 0;
    for (unsigned i = 0; i < nt; i++) {
        pthread_join(ts[i].thread, NULL);
        *sleeps += ts[i].sleeps;
        t0 = ts[i].start < t0 ? ts[i].start : t0;
        t1 = ts[i].end > t1 ? ts[i].end : t1;
    }
    uint64_t ns = t1 - t0;
    uint64_t sum = 0, sumsq = 0, want_sum = 0, want_sumsq = 0;
    for (unsigned i = producers; i < nt; i++) {
        sum += ts[i].sum;
        sumsq += ts[i].sumsq;
    }
    for (uint64_t i = 0; i < n; i++) {
        want_sum += i;
        want_sumsq += i * i;
    }
    if (sum != want_sum || sumsq != want_sumsq)
        bench_die("%s: the items that came out are not those put in",
                  Q->name);
    pthread_barrier_destroy(&r.start);
    Q->destroy(r.q);
    free(ts);
    free(r.base);
    return ns;
}

static unsigned parse_count(const char *s)
{
    char *end = NULL;
    unsigned long v = strtoul(s, &end, 10);
    if (s[0] == '\0' || s[0] == '-' || *end != '\0' || v == 0 || v > 1024)
        bench_die("not a count: %s", s);
    return (unsigned)v;
}

int main(int argc, char **argv)
{
    if (argc == 2 && strcmp(argv[1], "--info") == 0) {
        printf("{\"peer\":\"%s\",\"title\":\"%s\",\"version\":\"%s\","
               "\"notes\":\"\",\"workloads\":[\"queue\"]}\n",
               Q->name, Q->title, Q->version());
        return 0;
    }
    if (argc < 2 || strcmp(argv[1], "queue") != 0 || argc % 2 != 0) {
        fprintf(stderr, "usage: tpqueue-%s --info | queue --producers P "
                        "--consumers C --n N\n", Q->name);
        return 2;
    }
    unsigned producers = 1, consumers = 1;
    uint64_t n = 1000000;
    for (int i = 2; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--producers") == 0)
            producers = parse_count(argv[i + 1]);
        else if (strcmp(argv[i], "--consumers") == 0)
            consumers = parse_count(argv[i + 1]);
        else if (strcmp(argv[i], "--n") == 0)
            n = strtoull(argv[i + 1], NULL, 10);
        else
            bench_die("unknown option %s", argv[i]);
    }
    uint64_t unit = (uint64_t)producers * consumers;
    n -= n % unit;
    if (n == 0)
        bench_die("--n too small");

    uint64_t sleeps;
    one_pass(producers, consumers, n / 10 < unit ? unit : n / 10 / unit * unit,
             &sleeps);
    uint64_t ns = one_pass(producers, consumers, n, &sleeps);

    printf("{\"peer\":\"%s\",\"workload\":\"queue\",\"variant\":\"%ux%u\","
           "\"threads\":%u,\"n\":%" PRIu64 ",\"metrics\":{"
           "\"items_per_s\":%.6g,\"ns_per_item\":%.6g,"
           "\"sleeps_per_kitem\":%.4g}}\n",
           Q->name, producers, consumers, producers, n,
           (double)n * 1e9 / (double)ns, (double)ns / (double)n,
           (double)sleeps * 1000.0 / (double)n);
    return fflush(stdout) == 0 ? 0 : 1;
}
