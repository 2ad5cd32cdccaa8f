/*
 * timer.h - timers of a pool (internal; the design is at the top of
 * timer.c).
 *
 * A tpi_timer is embedded in the object that owns it (a delayed task, a
 * periodic one, a timeout) and armed for a moment on the monotonic clock.
 * When that moment comes, `fire` runs on a worker of the pool, as the
 * library's own task; if it never can, `abandon` runs instead.  Per arm,
 * exactly one of the two runs, unless tpi_timer_disarm() takes the timer
 * back first (then neither does).  Neither runs under a lock.
 */
#ifndef TPI_TIMER_H
#define TPI_TIMER_H

#include <stdbool.h>
#include <stdint.h>

#include "tpool.h"

typedef struct tpi_timer tpi_timer;
typedef struct tpi_timers tpi_timers;

typedef struct tpi_timer_ops {
    /* Due: called on a worker of the pool. */
    void (*fire)(tpi_timer *t);
    /* Will never fire, with why: TP_ESHUTDOWN (the pool's shutdown found
     * it armed, or an immediate shutdown dropped the task that was to fire
     * it: drop and ctx are that shutdown's, drop NULL for a graceful one)
     * or TP_ENOMEM (no memory for that task; called on the timer thread,
     * drop NULL). */
    void (*abandon)(tpi_timer *t, int code, tp_drop_fn drop, void *ctx);
} tpi_timer_ops;

struct tpi_timer {
    const tpi_timer_ops *ops;
    tpi_timers *tm;     /* set by the first arm: holds a reference */
    unsigned gen;       /* process generation of that arm (fork.c) */
    /* Under the timers' mu while armed; the firing side's otherwise. */
    uint64_t due_ns;    /* monotonic */
    uint64_t seq;       /* arm order: equal due times fire in it */
    tpi_timer *child, *sibling, *prev; /* pairing heap */
    bool armed;
};

/* Prepares t (not armed, no pool yet). */
void tpi_timer_init(tpi_timer *t, const tpi_timer_ops *ops);

/* Arms t to fire at due_ns on pool p (the same pool at every arm of one
 * timer); the first timer of a pool starts its timer thread.  t must not
 * be armed.  Returns 0, TP_ESHUTDOWN (the pool's shutdown has begun),
 * TP_ENOMEM or TP_EAGAIN (no timer thread); on error t is not armed and
 * neither callback will run for this arm. */
int tpi_timer_arm(tp_pool *p, tpi_timer *t, uint64_t due_ns);

/* Takes t back if it is still armed: returns true if it was (neither
 * callback will run for that arm), false if it was not armed, or has
 * been taken to fire (one of the callbacks runs, or is running). */
bool tpi_timer_disarm(tpi_timer *t);

/* The owner is done with t (about to free it): gives back its reference
 * to the pool's timers, which outlive the pool while a timer holds one.
 * t must not be armed. */
void tpi_timer_finish(tpi_timer *t);

#endif
