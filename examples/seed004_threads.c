/*
 * seed004_threads.c - creating, naming and joining threads, and stopping a
 * background thread cleanly (seed 004, "多线程编程": Thread(target=...,
 * args=...), t.name, join(), setDaemon()).
 *
 * - pthread_create(&t, NULL, fn, arg) is Thread(target=fn, args=(arg,))
 *   followed by start().
 * - pthread_setname_np() gives the thread a name that top -H, ps -L and
 *   gdb show (at most 15 bytes); a Python name lives only in Python.
 * - pthread_join(t) waits for that very thread to end; only then are its
 *   results safe to read.  The seed's examples sometimes join the wrong
 *   thread, or none, and sleep to "make sure" a thread has run.
 * - C has no daemon threads as such: when main returns, the process ends
 *   and any other thread stops wherever it is, like a Python daemon thread
 *   cut off mid-task, which is how the seed stops its workers.  Here the
 *   background thread is asked to stop, finishes its work (its "flush"),
 *   and is joined.
 *
 * Needs _GNU_SOURCE for pthread_setname_np/pthread_getname_np, which the
 * build defines for this example.
 */
#include <pthread.h>
#include <stdbool.h>

#include "example.h"

enum { CRAWLERS = 2, PAGES = 20 };

typedef struct crawler {
    int index;
    char name[16]; /* as the thread read it back: "crawler-<index>" */
    int pages;     /* pages "fetched" */
} crawler;

static void *crawl(void *arg)
{
    crawler *c = arg;
    char name[16];
    snprintf(name, sizeof name, "crawler-%d", c->index);
    EXPECT_PT(pthread_setname_np(pthread_self(), name));
    EXPECT_PT(pthread_getname_np(pthread_self(), c->name, sizeof c->name));
    for (int i = 0; i < PAGES; i++)
        c->pages++; /* stands for fetching page i */
    return NULL;
}

/* A background thread that waits until it is told to stop, then flushes. */
static struct {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    bool stop;    /* guarded by lock */
    bool flushed; /* written by the thread, read after join */
} background = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, false,
                false};

static void *background_main(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&background.lock);
    while (!background.stop)
        pthread_cond_wait(&background.cond, &background.lock);
    pthread_mutex_unlock(&background.lock);
    background.flushed = true; /* the work a daemon thread would lose */
    return NULL;
}

int main(void)
{
    pthread_t bg;
    EXPECT_PT(pthread_create(&bg, NULL, background_main, NULL));

    crawler crawlers[CRAWLERS];
    pthread_t threads[CRAWLERS];
    for (int i = 0; i < CRAWLERS; i++) {
        crawlers[i] = (crawler){i, "", 0};
        EXPECT_PT(pthread_create(&threads[i], NULL, crawl, &crawlers[i]));
    }
    for (int i = 0; i < CRAWLERS; i++) {
        EXPECT_PT(pthread_join(threads[i], NULL)); /* its own handle */
        printf("thread %s fetched %d pages\n", crawlers[i].name,
               crawlers[i].pages);
        char want[16];
        snprintf(want, sizeof want, "crawler-%d", i);
        EXPECT(strcmp(crawlers[i].name, want) == 0);
        EXPECT(crawlers[i].pages == PAGES);
    }

    /* Stop the background thread: set the flag under its lock, wake it,
     * and wait for it to finish. */
    pthread_mutex_lock(&background.lock);
    background.stop = true;
    pthread_cond_signal(&background.cond);
    pthread_mutex_unlock(&background.lock);
    EXPECT_PT(pthread_join(bg, NULL));
    EXPECT(background.flushed);
    printf("background thread stopped after flushing\n");
    return 0;
}
