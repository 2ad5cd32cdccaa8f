/*
 * seed004_race.c - the lost update on a shared balance, shown three ways
 * (seed 004, "线程同步 Lock": change_it() run by two threads).
 *
 * Two threads share one balance.  One adds 5 then subtracts 5, a million
 * times; the other does the same with 8.  Every deposit is undone at once,
 * so the balance must end at 0.
 *
 *   1. Unsynchronised.  `balance = balance + n` is three steps (read, add,
 *      write back).  When the threads interleave between one's read and its
 *      write, the other's update is overwritten and lost, and the balance
 *      drifts (the seed printed 12, then 10).  Printed, never checked: it is
 *      usually wrong, but a lucky schedule can give 0.
 *   2. With a mutex around each change: always 0.
 *   3. With atomic read-modify-write (atomic_fetch_add): always 0, no lock.
 *
 * Why case 1 uses atomics at all: in C, a plain variable written by one
 * thread while another reads it is a data race, which is undefined
 * behaviour (the compiler may keep the balance in a register and store it
 * once at the end, or worse).  So case 1 models Python's LOAD_GLOBAL /
 * BINARY_ADD / STORE_GLOBAL with a relaxed atomic load followed by a
 * separate relaxed atomic store.  Each access is well defined (and
 * ThreadSanitizer stays quiet), but the pair is not one indivisible step,
 * so updates are lost exactly as in the Python code.
 */
#include <pthread.h>
#include <stdatomic.h>

#include "example.h"

enum { ITERATIONS = 1000000 };

/* 1. Unsynchronised: separate load and store, as the bytecode does. */
static atomic_long racy_balance;

static void change_racy(long n)
{
    long v = atomic_load_explicit(&racy_balance, memory_order_relaxed);
    atomic_store_explicit(&racy_balance, v + n, memory_order_relaxed);
    v = atomic_load_explicit(&racy_balance, memory_order_relaxed);
    atomic_store_explicit(&racy_balance, v - n, memory_order_relaxed);
}

/* 2. A mutex makes the two updates one critical section: only one thread
 * at a time runs it, and it always unlocks (C has no exceptions to skip
 * the unlock, which is what the seed's try/finally guards against). */
static long locked_balance;
static pthread_mutex_t balance_lock = PTHREAD_MUTEX_INITIALIZER;

static void change_locked(long n)
{
    pthread_mutex_lock(&balance_lock);
    locked_balance = locked_balance + n;
    locked_balance = locked_balance - n;
    pthread_mutex_unlock(&balance_lock);
}

/* 3. Each fetch_add is a single indivisible read-modify-write. */
static atomic_long atomic_balance;

static void change_atomic(long n)
{
    atomic_fetch_add(&atomic_balance, n);
    atomic_fetch_add(&atomic_balance, -n);
}

typedef struct runner {
    void (*change)(long n);
    long n;
} runner;

static void *run_thread(void *arg)
{
    const runner *r = arg;
    for (int i = 0; i < ITERATIONS; i++)
        r->change(r->n);
    return NULL;
}

/* Runs change(5) and change(8) a million times each on two threads and
 * joins both: each thread is joined by its own handle (the seed's examples
 * sometimes join the wrong one). */
static void run_both(void (*change)(long n))
{
    runner r1 = {change, 5}, r2 = {change, 8};
    pthread_t t1, t2;
    EXPECT_PT(pthread_create(&t1, NULL, run_thread, &r1));
    EXPECT_PT(pthread_create(&t2, NULL, run_thread, &r2));
    EXPECT_PT(pthread_join(t1, NULL));
    EXPECT_PT(pthread_join(t2, NULL));
}

int main(void)
{
    run_both(change_racy);
    long racy = atomic_load(&racy_balance);
    printf("unsynchronised: balance = %ld (%s)\n", racy,
           racy == 0 ? "0 this time, by luck: the code is still wrong"
                     : "wrong, updates were lost");

    run_both(change_locked);
    printf("with a mutex:   balance = %ld\n", locked_balance);
    EXPECT(locked_balance == 0);

    run_both(change_atomic);
    printf("with atomics:   balance = %ld\n", atomic_load(&atomic_balance));
    EXPECT(atomic_load(&atomic_balance) == 0);
    return 0;
}
