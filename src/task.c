/*
 * task.c - the running-task context: which task (and, for a job of a
 * batch, which job) the calling thread runs, and what that task may ask
 * (tp_task_fail, tp_task_stop_requested, tp_task_id).
 *
 * The context is per thread: a worker, or a submitting thread running a
 * task inline.  A waiting worker runs other tasks nested inside the one
 * that waits, so entering a task returns the previous context and leaving
 * restores it.  These thread-locals name what the thread is doing; no
 * function reads them in place of an argument its caller could pass.
 */
#include "future.h"
#include "pool.h"

/* What this thread runs (see tpi_running_ctx); all zero when nothing. */
static _Thread_local tpi_running_ctx tpi_running;

tp_future *tpi_current_task(void)
{
    return tpi_running.task;
}

struct tp_pool *tpi_current_pool(void)
{
    return tpi_running.pool;
}

tpi_running_ctx tpi_running_enter(tp_future *f, uint64_t id,
                                  struct tp_pool *pool)
{
    tpi_running_ctx saved = tpi_running;
    tpi_running = (tpi_running_ctx){f, id, pool};
    return saved;
}

void tpi_running_leave(tpi_running_ctx saved)
{
    tpi_running = saved;
}


int tpi_stop_requested(const tp_future *f)
{
    uint32_t s = atomic_load_explicit(&f->state, memory_order_relaxed);
    return (s & TPI_F_STOP) != 0 || tpi_pool_abort_requested(f->pool);
}

int tp_task_stop_requested(void)
{
    if (tpi_running.task != NULL)
        return tpi_stop_requested(tpi_running.task);
    /* An ordinary task can only be asked by an immediate shutdown. */
    return tpi_pool_abort_requested(tpi_running.pool);
}

int tp_task_fail(int code)
{
    if (tpi_running.pool == NULL && tpi_running.task == NULL)
        return TP_EPERM;
    if (code == 0)
        return TP_EINVAL;
    /* Kept in the future's error word, which nobody else reads while it
     * runs (future.h), for its runner to settle with; an ordinary task
     * has no future to record it in: nobody could read it, so accepting
     * it is all there is to do. */
    if (tpi_running.task != NULL)
        tpi_running.task->out.error = code;
    return 0;
}

uint64_t tp_task_id(void)
{
    return tpi_running.id;
}
