/*
 * util.c - clocks, a latch, a one-shot event and CPU work, shared by the
 * benchmark driver and the peer adapters (see bench.h).
 *
 * The latch and the event block on a condition variable; nothing here
 * spins.  The latch keeps its count in an atomic so that a finishing task
 * touches the mutex only when it is the last one.
 */
#include "bench.h"

#include <errno.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

uint64_t bench_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void bench_sleep_ns(uint64_t ns)
{
    struct timespec ts = {(time_t)(ns / 1000000000u),
                          (long)(ns % 1000000000u)};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

void bench_die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("tpbench: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(1);
}

void *bench_xcalloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (p == NULL)
        bench_die("out of memory (%zu x %zu bytes)", n, size);
    return p;
}

/* ------------------------------------------------------------------------ */
/* Latch                                                                    */
/* ------------------------------------------------------------------------ */

struct bench_latch {
    atomic_size_t pending;
    pthread_mutex_t mu;
    pthread_cond_t cv;
};

bench_latch *bench_latch_new(void)
{
    bench_latch *l = bench_xcalloc(1, sizeof *l);
    atomic_init(&l->pending, 0);
    if (pthread_mutex_init(&l->mu, NULL) != 0 ||
        pthread_cond_init(&l->cv, NULL) != 0)
        bench_die("cannot initialise a latch");
    return l;
}

void bench_latch_free(bench_latch *l)
{
    if (l == NULL)
        return;
    pthread_cond_destroy(&l->cv);
    pthread_mutex_destroy(&l->mu);
    free(l);
}

void bench_latch_add(bench_latch *l, size_t n)
{
    atomic_fetch_add_explicit(&l->pending, n, memory_order_relaxed);
}

void bench_latch_done(bench_latch *l)
{
    /* acq_rel: the waiter that sees 0 also sees every task's effects. */
    if (atomic_fetch_sub_explicit(&l->pending, 1, memory_order_acq_rel) == 1) {
        /* Signal under the mutex: the waiter checks the count under it, so
         * it either saw 0 or is already waiting when this signal comes. */
        pthread_mutex_lock(&l->mu);
        pthread_cond_broadcast(&l->cv);
        pthread_mutex_unlock(&l->mu);
    }
}

void bench_latch_wait(bench_latch *l)
{
    pthread_mutex_lock(&l->mu);
    while (atomic_load_explicit(&l->pending, memory_order_acquire) != 0)
        pthread_cond_wait(&l->cv, &l->mu);
    pthread_mutex_unlock(&l->mu);
}

/* ------------------------------------------------------------------------ */
/* Event                                                                    */
/* ------------------------------------------------------------------------ */

void bench_event_init(bench_event *e)
{
    if (pthread_mutex_init(&e->mu, NULL) != 0 ||
        pthread_cond_init(&e->cv, NULL) != 0)
        bench_die("cannot initialise an event");
    e->set = 0;
    e->value = NULL;
}

void bench_event_destroy(bench_event *e)
{
    pthread_cond_destroy(&e->cv);
    pthread_mutex_destroy(&e->mu);
}

void bench_event_set(bench_event *e, void *value)
{
    /* Signal before unlocking: the waiter may destroy the event as soon as
     * it sees `set`, which it can only do after this unlock. */
    pthread_mutex_lock(&e->mu);
    e->value = value;
    e->set = 1;
    pthread_cond_signal(&e->cv);
    pthread_mutex_unlock(&e->mu);
}

void *bench_event_wait(bench_event *e)
{
    pthread_mutex_lock(&e->mu);
    while (!e->set)
        pthread_cond_wait(&e->cv, &e->mu);
    void *value = e->value;
    pthread_mutex_unlock(&e->mu);
    return value;
}

/* ------------------------------------------------------------------------ */
/* CPU work                                                                 */
/* ------------------------------------------------------------------------ */

uint64_t bench_cpu_work(uint64_t seed, uint64_t iters)
{
    uint64_t x = seed | 1u;
    for (uint64_t i = 0; i < iters; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
    }
    return x;
}
