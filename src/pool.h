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

/* Runs one task nested in a wait, if it finds one: from its own deque
 * first (the newest: usually the very child being waited for, run as a
 * direct call would), else, unless nesting is already deep, from the
 * injector or another worker's deque.  Returns true if it ran one. */
bool tpi_worker_help(tpi_worker *w);

/* Before parking in a wait: returns false if the pool has queued work (the
 * caller should help instead); otherwise lists the worker as idle, so that a
 * submit wakes it, and returns true. */
bool tpi_worker_park_begin(tpi_worker *w);

/* After parking: takes the worker off the idle list; if a submitter had
 * picked it to run new work, passes that wake-up on to another idle worker
 * so that no work is left waiting while a worker sleeps. */
void tpi_worker_park_end(tpi_worker *w);

/* Records that the task the worker runs innermost waits for the future
 * with this id (0: no longer waits); returns the previous value, for a
 * nested wait to restore. */
uint64_t tpi_worker_set_waiting(tpi_worker *w, uint64_t id);

/* Submit the library's own tasks (continuation carriers, loop helpers):
 * as tp_submit_future() and tp_submit_batch(), except that an immediate
 * shutdown cancels them without handing them to the user's drop function,
 * to which their fn and arg would mean nothing.  Only the tasks these
 * calls create are marked so: tasks that their functions submit in turn,
 * even when one runs on the submitting thread (a full caller-runs queue),
 * are the user's. */
int tpi_submit_internal(tp_pool *p, tp_task_fn fn, void *arg,
                        tp_future **out);
int tpi_submit_batch_internal(tp_pool *p, tp_job *jobs, size_t n,
                              tp_future **futures, size_t *accepted);

/* Queues an ordinary task of the library's own that carries tasks
 * already accepted (timer.c, strand.c): never waits for room and never
 * runs it on the caller; a bounded queue counts it even over its
 * capacity.  `to_back`: from a worker, behind the injector's tasks rather
 * than on its own deque (a strand giving up its turn).  An immediate
 * shutdown that drops it hands what it carries to the drop function
 * (tpi_timer_dropped, tpi_strand_dropped), never fn and arg themselves.
 * Returns 0, TP_ESHUTDOWN (from outside the pool once a shutdown has
 * begun), TP_ENOMEM or TP_EFORKED. */
int tpi_submit_runner(tp_pool *p, tp_task_fn fn, void *arg, bool to_back);

/* The library's carriers of accepted tasks (tpi_submit_runner): the task
 * function, and what an immediate shutdown that cancelled one before it
 * ran calls instead of the drop function, with that function (drop may be
 * NULL), on the shutting-down thread. */
void *tpi_timer_carrier(void *arg);
void tpi_timer_dropped(void *arg, tp_drop_fn drop, void *ctx);
void *tpi_strand_runner(void *arg);
void tpi_strand_dropped(void *arg, tp_drop_fn drop, void *ctx);

/* timer.c, for pool.c: a shutdown closes the pool's timers first (no new
 * ones; the timer thread joined; those armed cancelled, handed to drop if
 * it is not NULL); destroy lets go of them. */
void tpi_timers_shutdown(tp_pool *p, tp_drop_fn drop, void *ctx);
void tpi_timers_release(tp_pool *p);

/* A queued task of p was settled without running (see Accounting in
 * future.h): gives back its place in a bounded queue and counts it as
 * cancelled, now.  Called by the settling thread; p is alive, as it waits
 * in tp_pool_destroy() until every accepted task is accounted for. */
void tpi_pool_settled_unrun(tp_pool *p);

/* Whether p was created before a fork() (this is the child): every call
 * on it is then refused with TP_EFORKED. */
bool tpi_pool_forked(const tp_pool *p);

/* Non-zero once an immediate shutdown of the pool has begun. */
bool tpi_pool_abort_requested(const tp_pool *p);

/* Test hook: when set to N > 0, the N-th thread creation from now fails
 * with EAGAIN (counting down); 0 disables it. */
extern _Atomic int tpi_fail_thread_countdown;

#endif
