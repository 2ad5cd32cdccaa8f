/*
 * seed004_bank.c - bank accounts guarded by locks, and transfers between two
 * accounts that cannot deadlock (seed 004, "线程同步 Lock" and "死锁").
 *
 * Each account has its own mutex; deposit and withdraw hold it while they
 * read and change the balance, so concurrent deposits are never lost.
 *
 * A transfer needs two accounts' locks at once.  The seed's deadlock:
 * task_a takes lock_a then lock_b, task_b takes lock_b then lock_a; when two
 * threads each hold their first lock, each waits for the other's for ever
 * (the seed even sleeps between the two acquisitions to make that likely).
 * The fix here is a lock order: whoever needs two account locks takes the
 * one of the lower account number first.  Then no thread can hold the
 * higher lock while waiting for the lower one, so no cycle of waiting, and
 * no deadlock, can form.  Below, half of the threads move money from A to B
 * and half from B to A, the very pattern that deadlocks without the order.
 */
#include <pthread.h>
#include <stdbool.h>

#include "example.h"

typedef struct account {
    int number; /* also the lock order: lower number locked first */
    pthread_mutex_t lock;
    long balance; /* guarded by lock; never negative */
} account;

static void deposit(account *a, long amount)
{
    pthread_mutex_lock(&a->lock);
    a->balance += amount;
    pthread_mutex_unlock(&a->lock);
}

/* Refuses (returns false) rather than overdraw. */
static bool withdraw(account *a, long amount)
{
    pthread_mutex_lock(&a->lock);
    bool ok = a->balance >= amount;
    if (ok)
        a->balance -= amount;
    pthread_mutex_unlock(&a->lock);
    return ok;
}

/* Moves amount from one account to another, atomically with respect to
 * every other deposit, withdrawal and transfer.  Refuses to overdraw. */
static bool transfer(account *from, account *to, long amount)
{
    account *first = from->number < to->number ? from : to;
    account *second = first == from ? to : from;
    pthread_mutex_lock(&first->lock);
    pthread_mutex_lock(&second->lock);
    bool ok = from->balance >= amount;
    if (ok) {
        from->balance -= amount;
        to->balance += amount;
    }
    pthread_mutex_unlock(&second->lock);
    pthread_mutex_unlock(&first->lock);
    return ok;
}

enum { ROUNDS = 100000, PAIRS = 2 };

static account a = {1, PTHREAD_MUTEX_INITIALIZER, 1000};
static account b = {2, PTHREAD_MUTEX_INITIALIZER, 1000};

typedef struct mover {
    account *from, *to;
    long moved; /* sum of accepted transfers; read after join */
} mover;

static void *move_money(void *arg)
{
    mover *m = arg;
    for (long i = 0; i < ROUNDS; i++)
        if (transfer(m->from, m->to, 1 + i % 7))
            m->moved += 1 + i % 7;
    return NULL;
}

typedef struct saver {
    account *acc;
    long net; /* deposited minus withdrawn; read after join */
} saver;

/* Deposits 3 and withdraws 2, ROUNDS times.  A withdrawal can be refused:
 * the movers may have emptied the account in between. */
static void *save_money(void *arg)
{
    saver *s = arg;
    for (long i = 0; i < ROUNDS; i++) {
        deposit(s->acc, 3);
        s->net += 3;
        if (withdraw(s->acc, 2))
            s->net -= 2;
    }
    return NULL;
}

int main(void)
{
    mover movers[2 * PAIRS];
    saver savers[2] = {{&a, 0}, {&b, 0}};
    pthread_t movers_t[2 * PAIRS], savers_t[2];
    for (int i = 0; i < 2 * PAIRS; i++) {
        /* even: A -> B, odd: B -> A */
        movers[i] = (mover){i % 2 ? &b : &a, i % 2 ? &a : &b, 0};
        EXPECT_PT(pthread_create(&movers_t[i], NULL, move_money, &movers[i]));
    }
    for (int i = 0; i < 2; i++)
        EXPECT_PT(pthread_create(&savers_t[i], NULL, save_money, &savers[i]));

    long a_to_b = 0, b_to_a = 0;
    for (int i = 0; i < 2 * PAIRS; i++) {
        EXPECT_PT(pthread_join(movers_t[i], NULL));
        if (i % 2)
            b_to_a += movers[i].moved;
        else
            a_to_b += movers[i].moved;
    }
    for (int i = 0; i < 2; i++)
        EXPECT_PT(pthread_join(savers_t[i], NULL));

    /* Every unit is accounted for: nothing lost, nothing created. */
    printf("A = %ld, B = %ld (moved A->B %ld, B->A %ld)\n", a.balance,
           b.balance, a_to_b, b_to_a);
    EXPECT(a.balance == 1000 + savers[0].net - a_to_b + b_to_a);
    EXPECT(b.balance == 1000 + savers[1].net + a_to_b - b_to_a);
    EXPECT(a.balance >= 0 && b.balance >= 0);

    pthread_mutex_destroy(&a.lock);
    pthread_mutex_destroy(&b.lock);
    return 0;
}
