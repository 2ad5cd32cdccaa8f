/*
 * fork.c - what a pool means after fork() (internal).
 *
 * The child of a fork has only the thread that called fork(): the pool's
 * workers are gone, and a lock another thread held at that moment would
 * stay held for ever.  So a pool belongs to the process generation it was
 * created in: pthread_atfork() handlers count generations, and every call
 * on a pool of an older generation returns TP_EFORKED instead of waiting
 * for workers that do not exist (pool.c checks it).  Locks of the library
 * that must survive a fork have handlers of their own beside them (the
 * future table's in future.c); this file only counts.
 */
#include "fork.h"

#include <pthread.h>

static _Atomic unsigned tpi_generation;
static pthread_once_t tpi_fork_once = PTHREAD_ONCE_INIT;

static void after_fork_child(void)
{
    atomic_fetch_add_explicit(&tpi_generation, 1, memory_order_relaxed);
}

static void install(void)
{
    /* If this fails (out of memory), fork safety is lost but nothing else
     * is: there is no error path that could report it better. */
    (void)pthread_atfork(NULL, NULL, after_fork_child);
}

void tpi_fork_install(void)
{
    pthread_once(&tpi_fork_once, install);
}

unsigned tpi_fork_generation(void)
{
    return atomic_load_explicit(&tpi_generation, memory_order_relaxed);
}
