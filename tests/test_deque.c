/*
 * test_deque.c - the work-stealing deque on its own: order for the owner
 * and for thieves, capacity, and a stress run where one owner pushes and
 * pops while several thieves steal, checking that every item is taken
 * exactly once.
 */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "check.h"
#include "deque.h"
#include "util.h"

/* The deque stores tpi_task pointers and never dereferences them, so the
 * tests store addresses of elements of a plain array. */
static tpi_task *item(char *base, size_t i)
{
    return (tpi_task *)(void *)(base + i);
}

static tpi_deque dq;

TEST(owner_lifo_thief_fifo)
{
    static char items[8];
    tpi_deque_init(&dq);
    CHECK(tpi_deque_pop(&dq) == NULL);
    tpi_task *f = NULL;
    CHECK_EQ(tpi_deque_steal(&dq, &f), TPI_STEAL_EMPTY);
    for (size_t i = 0; i < 4; i++)
        CHECK(tpi_deque_push(&dq, item(items, i)));
    CHECK(tpi_deque_nonempty(&dq));
    CHECK(tpi_deque_pop(&dq) == item(items, 3)); /* newest */
    CHECK_EQ(tpi_deque_steal(&dq, &f), TPI_STEAL_OK);
    CHECK(f == item(items, 0)); /* oldest */
    CHECK(tpi_deque_pop(&dq) == item(items, 2));
    CHECK(tpi_deque_pop(&dq) == item(items, 1));
    CHECK(tpi_deque_pop(&dq) == NULL);
    CHECK(!tpi_deque_nonempty(&dq));
}

TEST(capacity)
{
    static char items[TPI_DEQUE_CAP + 1];
    tpi_deque_init(&dq);
    for (size_t i = 0; i < TPI_DEQUE_CAP; i++)
        CHECK(tpi_deque_push(&dq, item(items, i)));
    CHECK(!tpi_deque_push(&dq, item(items, TPI_DEQUE_CAP)));
    tpi_task *f;
    CHECK_EQ(tpi_deque_steal(&dq, &f), TPI_STEAL_OK);
    CHECK(tpi_deque_push(&dq, item(items, TPI_DEQUE_CAP))); /* room again */
    size_t n = 0;
    while (tpi_deque_pop(&dq) != NULL)
        n++;
    CHECK_EQ(n, TPI_DEQUE_CAP);
}

enum { THIEVES = 3 };

static char *stress_items;
static atomic_uchar *taken; /* times each item was taken */
static atomic_bool owner_done;
static atomic_size_t stolen_total;

static void take(tpi_task *f)
{
    size_t i = (size_t)((char *)(void *)f - stress_items);
    atomic_fetch_add_explicit(&taken[i], 1, memory_order_relaxed);
}

static void *thief(void *arg)
{
    (void)arg;
    size_t mine = 0;
    for (;;) {
        tpi_task *f;
        int rc = tpi_deque_steal(&dq, &f);
        if (rc == TPI_STEAL_OK) {
            take(f);
            mine++;
        } else if (rc == TPI_STEAL_EMPTY) {
            if (atomic_load_explicit(&owner_done, memory_order_acquire))
                break;
            sched_yield(); /* let the owner refill the deque */
        }
    }
    atomic_fetch_add(&stolen_total, mine);
    return NULL;
}

/* The owner pushes in bursts and pops part of each burst, as a task that
 * spawns children and waits for some of them would. */
TEST(stress_every_item_once)
{
    const size_t n = UNDER_SANITIZER ? 400000 : 4000000;
    stress_items = malloc(n);
    taken = calloc(n, sizeof *taken);
    CHECK(stress_items != NULL && taken != NULL);
    tpi_deque_init(&dq);
    atomic_init(&owner_done, false);
    atomic_init(&stolen_total, 0);
    pthread_t th[THIEVES];
    for (int i = 0; i < THIEVES; i++)
        CHECK(pthread_create(&th[i], NULL, thief, NULL) == 0);

    size_t next = 0, popped = 0;
    unsigned rng = 12345;
    while (next < n) {
        rng = rng * 1103515245u + 12345u;
        size_t burst = 1 + (rng >> 16) % 64;
        for (size_t i = 0; i < burst && next < n; i++) {
            if (!tpi_deque_push(&dq, item(stress_items, next)))
                break; /* full: let the pops below make room */
            next++;
        }
        size_t pops = (rng >> 8) % (burst + 1);
        for (size_t i = 0; i < pops; i++) {
            tpi_task *f = tpi_deque_pop(&dq);
            if (f == NULL)
                break;
            take(f);
            popped++;
        }
    }
    tpi_task *f;
    while ((f = tpi_deque_pop(&dq)) != NULL) {
        take(f);
        popped++;
    }
    atomic_store_explicit(&owner_done, true, memory_order_release);
    for (int i = 0; i < THIEVES; i++)
        pthread_join(th[i], NULL);

    for (size_t i = 0; i < n; i++)
        if (atomic_load(&taken[i]) != 1) {
            fprintf(stderr, "item %zu taken %d times\n", i,
                    (int)atomic_load(&taken[i]));
            CHECK(0);
        }
    CHECK_EQ(popped + atomic_load(&stolen_total), n);
    printf("# %zu items: %zu popped by the owner, %zu stolen\n", n, popped,
           atomic_load(&stolen_total));
    free(stress_items);
    free(taken);
}

TEST_MAIN(TEST_ENTRY(owner_lifo_thief_fifo)
          TEST_ENTRY(capacity)
          TEST_ENTRY(stress_every_item_once))
