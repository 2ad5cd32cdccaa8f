/*
 * seed004_event.c - an event that releases several waiting threads at once
 * (seed 004, "Event事件": five threads wait until the main thread says the
 * server has started).
 *
 * POSIX has no event object, so this file builds one from a mutex, a
 * condition variable and a flag, the way Python's threading.Event is built:
 *   set()    raises the flag and wakes every waiter (broadcast);
 *   clear()  lowers it again;
 *   wait()   returns at once if the flag is up, else sleeps until it is
 *            (in a loop: a wake-up alone proves nothing);
 *   wait_ms() the same with a time limit; false if the limit passed first.
 * Unlike a bare condition variable the flag remembers: a thread that
 * starts waiting after set() does not wait at all.
 *
 * Where this fixes the seed: the seed sleeps 3 to 5 s "so the threads are
 * waiting" before it calls set().  Nothing here depends on timing: whether
 * a waiter arrives before or after set(), it is released, and the program
 * checks that no waiter passed before set() and that all of them passed
 * after it.
 *
 * Timed waits use CLOCK_MONOTONIC, so changing the wall clock cannot
 * stretch or cut them; pthread_condattr_setclock needs _GNU_SOURCE (or
 * _POSIX_C_SOURCE) in strict C11 mode, which the build defines here.
 */
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "example.h"

typedef struct event {
    pthread_mutex_t lock;
    pthread_cond_t cond; /* measures timed waits on CLOCK_MONOTONIC */
    bool is_set;         /* guarded by lock */
} event;

static void event_init(event *ev)
{
    pthread_condattr_t attr;
    EXPECT_PT(pthread_mutex_init(&ev->lock, NULL));
    EXPECT_PT(pthread_condattr_init(&attr));
    EXPECT_PT(pthread_condattr_setclock(&attr, CLOCK_MONOTONIC));
    EXPECT_PT(pthread_cond_init(&ev->cond, &attr));
    pthread_condattr_destroy(&attr);
    ev->is_set = false;
}

static void event_destroy(event *ev)
{
    pthread_cond_destroy(&ev->cond);
    pthread_mutex_destroy(&ev->lock);
}

static void event_set(event *ev)
{
    pthread_mutex_lock(&ev->lock);
    ev->is_set = true;
    pthread_cond_broadcast(&ev->cond); /* all waiters, not just one */
    pthread_mutex_unlock(&ev->lock);
}

static void event_clear(event *ev)
{
    pthread_mutex_lock(&ev->lock);
    ev->is_set = false;
    pthread_mutex_unlock(&ev->lock);
}

static void event_wait(event *ev)
{
    pthread_mutex_lock(&ev->lock);
    while (!ev->is_set)
        pthread_cond_wait(&ev->cond, &ev->lock);
    pthread_mutex_unlock(&ev->lock);
}

/* Waits at most ms (>= 0) milliseconds; returns whether the event is set.
 * The deadline is absolute, so spurious wake-ups and retries do not extend
 * the wait. */
static bool event_wait_ms(event *ev, int64_t ms)
{
    struct timespec deadline;
    clock_gettime(CLOCK_MONOTONIC, &deadline);
    deadline.tv_sec += (time_t)(ms / 1000);
    deadline.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (deadline.tv_nsec >= 1000000000L) {
        deadline.tv_sec++;
        deadline.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&ev->lock);
    int rc = 0;
    while (!ev->is_set && rc == 0)
        rc = pthread_cond_timedwait(&ev->cond, &ev->lock, &deadline);
    bool set = ev->is_set;
    pthread_mutex_unlock(&ev->lock);
    return set;
}

enum { WAITERS = 5 };

static event server_started;
static pthread_mutex_t count_lock = PTHREAD_MUTEX_INITIALIZER;
static int connected; /* waiters past the event; guarded by count_lock */

static void *client(void *arg)
{
    (void)arg;
    event_wait(&server_started);
    pthread_mutex_lock(&count_lock);
    connected++;
    pthread_mutex_unlock(&count_lock);
    return NULL;
}

int main(void)
{
    event_init(&server_started);
    pthread_t clients[WAITERS];
    for (int i = 0; i < WAITERS; i++)
        EXPECT_PT(pthread_create(&clients[i], NULL, client, NULL));

    /* A timed wait on an unset event times out (the seed's event.wait(2)). */
    EXPECT(!event_wait_ms(&server_started, 20));

    /* However far the clients have got, none may be past the event yet. */
    pthread_mutex_lock(&count_lock);
    int early = connected;
    pthread_mutex_unlock(&count_lock);
    EXPECT(early == 0);

    printf("server started: releasing %d clients\n", WAITERS);
    event_set(&server_started);
    for (int i = 0; i < WAITERS; i++)
        EXPECT_PT(pthread_join(clients[i], NULL));
    printf("%d clients connected\n", connected);
    EXPECT(connected == WAITERS);

    /* The flag stays up until cleared: later waiters pass at once. */
    EXPECT(event_wait_ms(&server_started, 0));
    event_clear(&server_started);
    EXPECT(!event_wait_ms(&server_started, 0));

    event_destroy(&server_started);
    return 0;
}
