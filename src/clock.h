/*
 * clock.h - monotonic deadlines and condition variables that use them
 * (internal).
 *
 * Public timeouts are milliseconds relative to "now" (0 = poll, < 0 = for
 * ever).  Internally a wait is turned into an absolute deadline on
 * CLOCK_MONOTONIC once, so that spurious wake-ups and EINTR never stretch
 * it: each retry waits only for what is left.
 */
#ifndef TPI_CLOCK_H
#define TPI_CLOCK_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

typedef struct tpi_deadline {
    struct timespec at; /* absolute, CLOCK_MONOTONIC */
    bool forever;       /* timeout < 0 */
    bool poll;          /* timeout == 0 */
} tpi_deadline;

/* Monotonic time in nanoseconds. */
uint64_t tpi_now_ns(void);

/* Turns a relative timeout (ms; 0 poll; < 0 for ever) into a deadline. */
tpi_deadline tpi_deadline_after_ms(int64_t timeout_ms);

/* Initialises a condition variable that measures timed waits on
 * CLOCK_MONOTONIC.  Returns 0 or a positive pthread error. */
/* What is left of a deadline, in milliseconds rounded up, as a timeout to
 * pass on: -1 for ever, 0 once it has passed (or for a poll). */
int64_t tpi_deadline_left_ms(const tpi_deadline *dl);

int tpi_cond_init(pthread_cond_t *cond);

/* Waits on cond until signalled or the deadline passes.  Returns 0 when
 * woken (possibly spuriously: the caller re-checks its predicate) and
 * ETIMEDOUT (positive) once the deadline has passed.  A poll deadline
 * returns ETIMEDOUT at once without waiting. */
int tpi_cond_wait(pthread_cond_t *cond, pthread_mutex_t *mutex,
                  const tpi_deadline *dl);

#endif
