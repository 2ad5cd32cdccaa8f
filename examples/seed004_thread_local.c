/*
 * seed004_thread_local.c - data private to each thread (seed 004,
 * "ThreadLocal" and "线程中的信息隔离": threading.local()).
 *
 * A _Thread_local variable is declared once, like a global, but every
 * thread has its own copy, which starts at the initialiser.  Functions deep
 * in a call chain can read "the current student" without it being passed
 * down as an argument, and without a lock, because no other thread can
 * touch this thread's copy.
 *
 * Checked below, as the seed prints them:
 * - each thread sees its own value (Alice in thread A, Bob in thread B);
 * - a new thread starts with the initialiser, not with the main thread's
 *   value, and its writes never reach the main thread's copy;
 * - eight threads increment their own counters 100000 times each, with no
 *   lock, and none loses a single increment (compare seed004_race.c).
 */
#include <pthread.h>

#include "example.h"

/* The "current student" of each thread (Python: local_school.student). */
static _Thread_local const char *student = NULL;

/* Called deep inside a thread's work: reads the thread's own student. */
static void process_student(char *out, size_t size)
{
    snprintf(out, size, "Hello, %s", student ? student : "(nobody)");
}

typedef struct visit {
    const char *name;
    const char *seen_at_start; /* this thread's copy before it sets it */
    char greeting[64];
} visit;

static void *process_thread(void *arg)
{
    visit *v = arg;
    v->seen_at_start = student;
    student = v->name; /* bind this thread's student only */
    process_student(v->greeting, sizeof v->greeting);
    return NULL;
}

enum { COUNTERS = 8, ROUNDS = 100000 };

static _Thread_local long counter; /* one per thread, starts at 0 */

static void *count(void *arg)
{
    long *result = arg;
    for (int i = 0; i < ROUNDS; i++)
        counter++; /* no lock: nobody else sees this thread's counter */
    *result = counter;
    return NULL;
}

int main(void)
{
    student = "the main thread";

    visit alice = {"Alice", NULL, ""}, bob = {"Bob", NULL, ""};
    pthread_t ta, tb;
    EXPECT_PT(pthread_create(&ta, NULL, process_thread, &alice));
    EXPECT_PT(pthread_create(&tb, NULL, process_thread, &bob));
    EXPECT_PT(pthread_join(ta, NULL));
    EXPECT_PT(pthread_join(tb, NULL));
    printf("%s (in thread A)\n%s (in thread B)\n", alice.greeting,
           bob.greeting);
    EXPECT(strcmp(alice.greeting, "Hello, Alice") == 0);
    EXPECT(strcmp(bob.greeting, "Hello, Bob") == 0);
    /* New threads did not inherit the main thread's value ... */
    EXPECT(alice.seen_at_start == NULL && bob.seen_at_start == NULL);
    /* ... and did not change it. */
    printf("main thread still has: %s\n", student);
    EXPECT(strcmp(student, "the main thread") == 0);

    pthread_t counters[COUNTERS];
    long results[COUNTERS];
    for (int i = 0; i < COUNTERS; i++)
        EXPECT_PT(pthread_create(&counters[i], NULL, count, &results[i]));
    for (int i = 0; i < COUNTERS; i++) {
        EXPECT_PT(pthread_join(counters[i], NULL));
        EXPECT(results[i] == ROUNDS);
    }
    EXPECT(counter == 0); /* the main thread's copy was never touched */
    printf("%d threads each counted to %d without a lock\n", COUNTERS, ROUNDS);
    return 0;
}
