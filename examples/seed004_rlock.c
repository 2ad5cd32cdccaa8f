/*
 * seed004_rlock.c - a recursive mutex, Python's RLock (seed 004, "可重入锁").
 *
 * A thread that locks a plain mutex it already holds waits for itself for
 * ever: the seed's first example (a `with lock:` nested in another) prints
 * nothing and hangs.  Part 1 shows that safely, with an error-checking
 * mutex, which returns EDEADLK instead of hanging.
 *
 * A recursive mutex (PTHREAD_MUTEX_RECURSIVE) counts how many times its
 * owner has locked it: the owner may lock it again, and other threads get
 * it only after as many unlocks as locks (part 2).  Its typical use is an
 * object whose functions each take the lock and also call one another
 * (part 3): tally_add_many() holds the lock and calls tally_add(), which
 * takes it again.
 *
 * Needs _GNU_SOURCE (or _XOPEN_SOURCE >= 500) for pthread_mutexattr_settype
 * in strict C11 mode; the build defines it for this example.
 */
#include <errno.h>
#include <pthread.h>

#include "example.h"

static void init_mutex(pthread_mutex_t *m, int type)
{
    pthread_mutexattr_t attr;
    EXPECT_PT(pthread_mutexattr_init(&attr));
    EXPECT_PT(pthread_mutexattr_settype(&attr, type));
    EXPECT_PT(pthread_mutex_init(m, &attr));
    pthread_mutexattr_destroy(&attr);
}

/* Part 2: what another thread sees when it tries to take the mutex. */
typedef struct attempt {
    pthread_mutex_t *mutex;
    int rc;
} attempt;

static void *try_from_other_thread(void *arg)
{
    attempt *t = arg;
    t->rc = pthread_mutex_trylock(t->mutex);
    if (t->rc == 0)
        pthread_mutex_unlock(t->mutex);
    return NULL;
}

static int other_thread_trylock(pthread_mutex_t *m)
{
    attempt t = {m, -1};
    pthread_t th;
    EXPECT_PT(pthread_create(&th, NULL, try_from_other_thread, &t));
    EXPECT_PT(pthread_join(th, NULL));
    return t.rc;
}

/* Part 3: a tally whose functions all take its lock. */
static pthread_mutex_t tally_lock;
static long tally; /* guarded by tally_lock */

static void tally_add(long n)
{
    pthread_mutex_lock(&tally_lock); /* may already be held by this thread */
    tally += n;
    pthread_mutex_unlock(&tally_lock);
}

/* Adds 1..k as one step: no other thread sees a partial sum. */
static void tally_add_many(long k)
{
    pthread_mutex_lock(&tally_lock);
    for (long i = 1; i <= k; i++)
        tally_add(i); /* relocks: fine for a recursive mutex */
    pthread_mutex_unlock(&tally_lock);
}

enum { CALLS = 10000, K = 10 };

static void *adder(void *arg)
{
    (void)arg;
    for (int i = 0; i < CALLS; i++)
        tally_add_many(K);
    return NULL;
}

int main(void)
{
    /* Part 1: relocking a non-recursive mutex is a self-deadlock. */
    pthread_mutex_t plain;
    init_mutex(&plain, PTHREAD_MUTEX_ERRORCHECK);
    EXPECT_PT(pthread_mutex_lock(&plain));
    int rc = pthread_mutex_lock(&plain);
    printf("plain mutex locked twice: %s\n", strerror(rc));
    EXPECT(rc == EDEADLK);
    EXPECT_PT(pthread_mutex_unlock(&plain));
    EXPECT_PT(pthread_mutex_destroy(&plain));

    /* Part 2: locked twice, it stays held until unlocked twice. */
    pthread_mutex_t rlock;
    init_mutex(&rlock, PTHREAD_MUTEX_RECURSIVE);
    EXPECT_PT(pthread_mutex_lock(&rlock));
    EXPECT_PT(pthread_mutex_lock(&rlock));
    EXPECT_PT(pthread_mutex_unlock(&rlock));
    EXPECT(other_thread_trylock(&rlock) == EBUSY); /* still held once */
    EXPECT_PT(pthread_mutex_unlock(&rlock));
    EXPECT(other_thread_trylock(&rlock) == 0); /* now free */
    EXPECT_PT(pthread_mutex_destroy(&rlock));
    printf("recursive mutex: held until unlocked as often as locked\n");

    /* Part 3: two threads use the tally's nested locking. */
    init_mutex(&tally_lock, PTHREAD_MUTEX_RECURSIVE);
    pthread_t t1, t2;
    EXPECT_PT(pthread_create(&t1, NULL, adder, NULL));
    EXPECT_PT(pthread_create(&t2, NULL, adder, NULL));
    EXPECT_PT(pthread_join(t1, NULL));
    EXPECT_PT(pthread_join(t2, NULL));
    printf("tally = %ld\n", tally);
    EXPECT(tally == 2L * CALLS * (K * (K + 1) / 2));
    EXPECT_PT(pthread_mutex_destroy(&tally_lock));
    return 0;
}
