/*
 * pool.h - what the rest of the library needs from the pool (internal).
 *
 * The waiting code (wait.c) lets a worker that blocks on a future keep
 * running its pool's queued tasks; these functions are its view of the
 * worker.  All of them are called by the worker's own thread.
 */
#ifndef TPI_POOL_H
#define TPI_POOL_H

#include <stdatomic.h>
#include <stdbool.h>

#include "parker.h"
#include "tpool.h"

typedef struct tpi_worker tpi_worker;

/* The worker running on this thread, or NULL for other threads. */
tpi_worker *tpi_worker_self(void);

/* The parker the worker sleeps on (for waits and for work). */
tpi_parker *tpi_worker_parker(tpi_worker *w);

/* Whether the worker may run another task nested in its current wait
 * (bounded, so that nested waits cannot overflow the thread's stack). */
bool tpi_worker_can_help(const tpi_worker *w);

/* Takes one queued task of the worker's pool, if any, and runs it on this
 * thread.  Returns true if it took one. */
bool tpi_worker_help(tpi_worker *w);

/* If f is a task of the worker's pool still in its queue, takes it out
 * and runs it on this thread (as if the waiter had called it), and returns
 * true.  Nesting this way costs no more stack than the caller's own
 * recursion, so it is not bounded by tpi_worker_can_help(). */
bool tpi_worker_run_queued(tpi_worker *w, tp_future *f);

/* Before parking in a wait: returns false if the pool has queued work (the
 * caller should help instead); otherwise lists the worker as idle, so that a
 * submit wakes it, and returns true. */
bool tpi_worker_park_begin(tpi_worker *w);

/* After parking: takes the worker off the idle list; if a submitter had
 * picked it to run new work, passes that wake-up on to another idle worker
 * so that no work is left waiting while a worker sleeps. */
void tpi_worker_park_end(tpi_worker *w);

/* Non-zero once an immediate shutdown of the pool has begun. */
bool tpi_pool_abort_requested(const tp_pool *p);

/* Test hook: when set to N > 0, the N-th thread creation from now fails
 * with EAGAIN (counting down); 0 disables it. */
extern _Atomic int tpi_fail_thread_countdown;

#endif
