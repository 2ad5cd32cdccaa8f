/*
 * clock.c - monotonic deadlines (see clock.h).
 */
#include "clock.h"

#include <errno.h>

uint64_t tpi_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

tpi_deadline tpi_deadline_after_ms(int64_t timeout_ms)
{
    tpi_deadline dl = {{0, 0}, timeout_ms < 0, timeout_ms == 0};
    if (timeout_ms <= 0)
        return dl;
    /* Cap at ~100 years so the addition cannot overflow time_t. */
    if (timeout_ms > (int64_t)3155760000000)
        timeout_ms = (int64_t)3155760000000;
    clock_gettime(CLOCK_MONOTONIC, &dl.at);
    dl.at.tv_sec += (time_t)(timeout_ms / 1000);
    dl.at.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (dl.at.tv_nsec >= 1000000000L) {
        dl.at.tv_sec++;
        dl.at.tv_nsec -= 1000000000L;
    }
    return dl;
}

int tpi_cond_init(pthread_cond_t *cond)
{
    pthread_condattr_t attr;
    int rc = pthread_condattr_init(&attr);
    if (rc != 0)
        return rc;
    rc = pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    if (rc == 0)
        rc = pthread_cond_init(cond, &attr);
    pthread_condattr_destroy(&attr);
    return rc;
}

int tpi_cond_wait(pthread_cond_t *cond, pthread_mutex_t *mutex,
                  const tpi_deadline *dl)
{
    if (dl->poll)
        return ETIMEDOUT;
    if (dl->forever)
        return pthread_cond_wait(cond, mutex);
    /* pthread_cond_timedwait restarts itself after a signal handler (it
     * never returns EINTR), and the deadline is absolute, so the time left
     * is always right. */
    int rc = pthread_cond_timedwait(cond, mutex, &dl->at);
    return rc == ETIMEDOUT ? ETIMEDOUT : 0;
}

int64_t tpi_deadline_left_ms(const tpi_deadline *dl)
{
    if (dl->forever)
        return -1;
    if (dl->poll)
        return 0;
    uint64_t at = (uint64_t)dl->at.tv_sec * 1000000000u +
                  (uint64_t)dl->at.tv_nsec;
    uint64_t now = tpi_now_ns();
    return now >= at ? 0 : (int64_t)((at - now + 999999) / 1000000);
}
