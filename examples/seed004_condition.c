/*
 * seed004_condition.c - producer/consumer with a mutex and two condition
 * variables (seed 004, "条件变量": the hot pot that holds at most 5 fish
 * balls, one cook adding and eaters eating).
 *
 * The pot is a ring buffer of POT_SIZE slots guarded by one mutex.  The
 * cook waits on `not_full` while the pot is full; an eater waits on
 * `not_empty` while it is empty.  Each side signals the other after
 * changing the pot.
 *
 * Where this fixes the seed:
 * - Every wait is in a `while (condition does not hold)` loop.  A wake-up
 *   is only a hint: it can be spurious, or another eater can empty the pot
 *   first.  The seed calls wait() once and carries on, which is the same
 *   defect as seed 000's pop() returning None.
 * - The seed's consumer never releases the lock (its release() is commented
 *   out) and the producer sleeps while holding it.  Here the lock is held
 *   only while the pot is read or changed.
 * - A clean stop: when the cook is done it sets `closed` and wakes every
 *   eater (broadcast); an eater leaves once the pot is empty and closed.
 */
#include <pthread.h>
#include <stdbool.h>

#include "example.h"

enum { POT_SIZE = 5, FISH_BALLS = 20000, EATERS = 2 };

static struct pot {
    pthread_mutex_t lock;
    pthread_cond_t not_full, not_empty;
    int ball[POT_SIZE]; /* ring buffer: count balls from head */
    int head, count;
    bool closed; /* the cook has finished */
} pot = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER,
         PTHREAD_COND_INITIALIZER, {0}, 0, 0, false};

static void pot_add(int ball)
{
    pthread_mutex_lock(&pot.lock);
    while (pot.count == POT_SIZE)
        pthread_cond_wait(&pot.not_full, &pot.lock);
    pot.ball[(pot.head + pot.count) % POT_SIZE] = ball;
    pot.count++;
    pthread_cond_signal(&pot.not_empty); /* one ball: wake one eater */
    pthread_mutex_unlock(&pot.lock);
}

static void pot_close(void)
{
    pthread_mutex_lock(&pot.lock);
    pot.closed = true;
    pthread_cond_broadcast(&pot.not_empty); /* every eater must see it */
    pthread_mutex_unlock(&pot.lock);
}

/* Takes the oldest ball into *ball; false once the pot is empty and
 * closed. */
static bool pot_take(int *ball)
{
    pthread_mutex_lock(&pot.lock);
    while (pot.count == 0 && !pot.closed)
        pthread_cond_wait(&pot.not_empty, &pot.lock);
    bool got = pot.count > 0;
    if (got) {
        *ball = pot.ball[pot.head];
        pot.head = (pot.head + 1) % POT_SIZE;
        pot.count--;
        pthread_cond_signal(&pot.not_full);
    }
    pthread_mutex_unlock(&pot.lock);
    return got;
}

static void *cook(void *arg)
{
    (void)arg;
    for (int i = 1; i <= FISH_BALLS; i++)
        pot_add(i);
    pot_close();
    return NULL;
}

typedef struct eater {
    long eaten, sum; /* read by main after join */
    int last; /* balls leave the pot in order, so each eater sees them rise */
} eater;

static void *eat(void *arg)
{
    eater *e = arg;
    int ball;
    while (pot_take(&ball)) {
        EXPECT(ball > e->last);
        e->last = ball;
        e->eaten++;
        e->sum += ball;
    }
    return NULL;
}

int main(void)
{
    eater eaters[EATERS] = {{0, 0, 0}};
    pthread_t eater_t[EATERS], cook_t;
    for (int i = 0; i < EATERS; i++)
        EXPECT_PT(pthread_create(&eater_t[i], NULL, eat, &eaters[i]));
    EXPECT_PT(pthread_create(&cook_t, NULL, cook, NULL));

    EXPECT_PT(pthread_join(cook_t, NULL));
    long eaten = 0, sum = 0;
    for (int i = 0; i < EATERS; i++) {
        EXPECT_PT(pthread_join(eater_t[i], NULL));
        printf("eater %d ate %ld fish balls\n", i, eaters[i].eaten);
        eaten += eaters[i].eaten;
        sum += eaters[i].sum;
    }
    /* Each ball eaten exactly once: right count and right sum of numbers. */
    EXPECT(eaten == FISH_BALLS);
    EXPECT(sum == (long)FISH_BALLS * (FISH_BALLS + 1) / 2);
    EXPECT(pot.count == 0);
    return 0;
}
