/*
 * parker.h - a one-token park/unpark primitive (internal).
 *
 * Every thread that blocks inside the library (a worker with nothing to do,
 * a caller waiting on futures) sleeps on a parker.  unpark() leaves a token;
 * park() consumes it, sleeping until there is one or the deadline passes.
 * An unpark that comes before the park is therefore never lost, and a
 * thread may be unparked by several sources (new work, a settled future):
 * it simply re-checks its own condition after each wake-up.  Spurious
 * wake-ups are allowed; callers always loop on their predicate.
 */
#ifndef TPI_PARKER_H
#define TPI_PARKER_H

#include <pthread.h>
#include <stdbool.h>

#include "clock.h"

typedef struct tpi_parker {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool token; /* guarded by mu */
} tpi_parker;

/* Returns 0 or a positive pthread error. */
int tpi_parker_init(tpi_parker *p);
void tpi_parker_destroy(tpi_parker *p);

/* Sleeps until a token is available (and consumes it) or the deadline
 * passes.  Returns 0 when a token was consumed, ETIMEDOUT otherwise. */
int tpi_parker_park(tpi_parker *p, const tpi_deadline *dl);

/* Leaves a token and wakes the parked thread, if any.  The caller must
 * guarantee that p stays alive for the duration of the call. */
void tpi_parker_unpark(tpi_parker *p);

/* As tpi_parker_unpark(), and also sets *flag while holding the parker's
 * mutex: a parked thread that reads the flag with tpi_parker_flag() and
 * finds it set knows that the unparker is done with the parker and with
 * whatever holds the flag. */
void tpi_parker_unpark_flag(tpi_parker *p, bool *flag);

/* Reads a flag set by tpi_parker_unpark_flag(). */
bool tpi_parker_flag(tpi_parker *p, const bool *flag);

#endif
