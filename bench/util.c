/*
 * util.c - clocks, a latch and a one-shot event, shared by the
 * benchmark driver and the peer adapters (see bench.h).
 *
 * Nothing here spins.  The latch keeps its count in an atomic so that a
 * finishing task touches its mutex only when it is the last one; the
 * event (a minimal future) is one atomic word that its waiter sleeps on
 * with a futex, so that a peer without futures of its own gets the
 * cheapest correct one rather than a mutex and a condition variable per
 * task.
 */
#include "bench.h"

#include <errno.h>
#include <linux/futex.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

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

/* The state word goes 0 -> 1 (set, nobody asleep) or 0 -> 2 -> 1 (the
 * waiter announced that it sleeps, then the setter woke it).  The setter
 * publishes the value with the release of its exchange; the waiter reads
 * it after an acquire load that saw 1.  The setter's futex wake may reach
 * the word after the waiter has returned and reused the memory: a futex
 * wake on such an address wakes at most a waiter that rechecks its own
 * state (every wait below loops), so it is harmless. */

static void futex_wait(uint32_t *word, uint32_t expected)
{
    syscall(SYS_futex, word, FUTEX_WAIT_PRIVATE, expected, NULL, NULL, 0);
}

static void futex_wake(uint32_t *word)
{
    syscall(SYS_futex, word, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
}

void bench_event_init(bench_event *e)
{
    e->value = NULL;
    __atomic_store_n(&e->state, 0, __ATOMIC_RELAXED);
}

void bench_event_destroy(bench_event *e) { (void)e; }

void bench_event_set(bench_event *e, void *value)
{
    e->value = value;
    if (__atomic_exchange_n(&e->state, 1, __ATOMIC_ACQ_REL) == 2)
        futex_wake(&e->state);
}

void *bench_event_wait(bench_event *e)
{
    uint32_t s = __atomic_load_n(&e->state, __ATOMIC_ACQUIRE);
    while (s != 1) {
        /* Announce the sleep; a failed exchange reloads s and retries. */
        if (s == 0 && !__atomic_compare_exchange_n(&e->state, &s, 2, 0,
                                                   __ATOMIC_ACQUIRE,
                                                   __ATOMIC_ACQUIRE))
            continue;
        futex_wait(&e->state, 2); /* returns at once if no longer 2 */
        s = __atomic_load_n(&e->state, __ATOMIC_ACQUIRE);
    }
    return e->value;
}
