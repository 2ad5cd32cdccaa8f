/*
 * parker.c - one-token park/unpark (see parker.h).
 *
 * The token is a bool under the parker's own mutex; the condition variable
 * uses CLOCK_MONOTONIC.  unpark signals while holding the mutex: the parked
 * thread may destroy the parker as soon as it sees the token, so the
 * unparker must be done with the parker's memory when the mutex is
 * released.
 */
#include "parker.h"

#include <errno.h>

int tpi_parker_init(tpi_parker *p)
{
    int rc = pthread_mutex_init(&p->mu, NULL);
    if (rc != 0)
        return rc;
    rc = tpi_cond_init(&p->cv);
    if (rc != 0) {
        pthread_mutex_destroy(&p->mu);
        return rc;
    }
    p->token = false;
    return 0;
}

void tpi_parker_destroy(tpi_parker *p)
{
    pthread_cond_destroy(&p->cv);
    pthread_mutex_destroy(&p->mu);
}

int tpi_parker_park(tpi_parker *p, const tpi_deadline *dl)
{
    int rc = 0;
    pthread_mutex_lock(&p->mu);
    while (!p->token) {
        if (tpi_cond_wait(&p->cv, &p->mu, dl) == ETIMEDOUT) {
            rc = ETIMEDOUT;
            break;
        }
    }
    if (p->token) {
        p->token = false;
        rc = 0;
    }
    pthread_mutex_unlock(&p->mu);
    return rc;
}

void tpi_parker_unpark(tpi_parker *p)
{
    pthread_mutex_lock(&p->mu);
    p->token = true;
    pthread_cond_signal(&p->cv);
    pthread_mutex_unlock(&p->mu);
}

void tpi_parker_unpark_flag(tpi_parker *p, bool *flag)
{
    pthread_mutex_lock(&p->mu);
    *flag = true;
    p->token = true;
    pthread_cond_signal(&p->cv);
    pthread_mutex_unlock(&p->mu);
}

bool tpi_parker_flag(tpi_parker *p, const bool *flag)
{
    pthread_mutex_lock(&p->mu);
    bool set = *flag;
    pthread_mutex_unlock(&p->mu);
    return set;
}
