/*
 * util.h - small helpers for tests: an event, a gate (a task that holds a
 * worker until the test opens it), pools made in one call, and a
 * sanitizer check to scale loop counts.  Include check.h first.
 */
#ifndef TP_TEST_UTIL_H
#define TP_TEST_UTIL_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "check.h"
#include "tpool.h"

#if defined(__SANITIZE_THREAD__) || defined(__SANITIZE_ADDRESS__)
#define UNDER_SANITIZER 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer) || __has_feature(address_sanitizer)
#define UNDER_SANITIZER 1
#endif
#endif
#ifndef UNDER_SANITIZER
#define UNDER_SANITIZER 0
#endif

/* SCALE(n): n in plain builds, n/10 under a sanitizer (at least 1). */
#define SCALE(n) (UNDER_SANITIZER ? ((n) / 10 > 0 ? (n) / 10 : 1) : (n))

typedef struct event {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int count; /* times signalled */
} event;

static inline void event_init(event *e)
{
    pthread_mutex_init(&e->mu, NULL);
    pthread_cond_init(&e->cv, NULL);
    e->count = 0;
}

static inline void event_destroy(event *e)
{
    pthread_cond_destroy(&e->cv);
    pthread_mutex_destroy(&e->mu);
}

/* Adds one to the count and wakes every waiter. */
static inline void event_signal(event *e)
{
    pthread_mutex_lock(&e->mu);
    e->count++;
    pthread_cond_broadcast(&e->cv);
    pthread_mutex_unlock(&e->mu);
}

/* Waits until the event has been signalled at least n times. */
static inline void event_wait(event *e, int n)
{
    pthread_mutex_lock(&e->mu);
    while (e->count < n)
        pthread_cond_wait(&e->cv, &e->mu);
    pthread_mutex_unlock(&e->mu);
}

static inline int event_count(event *e)
{
    pthread_mutex_lock(&e->mu);
    int n = e->count;
    pthread_mutex_unlock(&e->mu);
    return n;
}

/* A gate: a task that runs gate_task(g) signals `started` (so the test
 * knows a worker is held) and blocks until the test signals `open`. */
typedef struct gate {
    event started;
    event open;
} gate;

static inline void gate_init(gate *g)
{
    event_init(&g->started);
    event_init(&g->open);
}

static inline void gate_destroy(gate *g)
{
    event_destroy(&g->started);
    event_destroy(&g->open);
}

/* A task: returns its argument (the gate). */
static inline void *gate_task(void *arg)
{
    gate *g = arg;
    event_signal(&g->started);
    event_wait(&g->open, 1);
    return arg;
}

/* A pool of `threads` workers (0: the default), bounded to `capacity`
 * queued tasks (0: unbounded) with the given full-queue policy. */
static inline tp_pool *make_pool_with(unsigned threads, size_t capacity,
                                      tp_full_policy on_full)
{
    tp_options o;
    CHECK_OK(tp_options_init(&o));
    o.threads = threads;
    o.queue_capacity = capacity;
    o.on_full = on_full;
    tp_pool *p = NULL;
    CHECK_OK(tp_pool_create(&p, &o));
    CHECK(p != NULL);
    return p;
}

/* An unbounded pool of `threads` workers. */
static inline tp_pool *make_pool(unsigned threads)
{
    return make_pool_with(threads, 0, TP_FULL_BLOCK);
}

static inline double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

#endif
