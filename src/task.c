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

static _Thread_local tp_future *tpi_running; /* task run by this thread */
static _Thread_local uint64_t tpi_job_id;     /* a batch job's own id */

tp_future *tpi_current_task(void)
{
    return tpi_running;
}

tpi_running_ctx tpi_running_enter(tp_future *f, uint64_t job_id)
{
    tpi_running_ctx saved = {tpi_running, tpi_job_id};
    tpi_running = f;
    tpi_job_id = job_id;
    return saved;
}

void tpi_running_leave(tpi_running_ctx saved)
{
    tpi_running = saved.task;
    tpi_job_id = saved.job_id;
}

int tpi_stop_requested(const tp_future *f)
{
    uint32_t s = atomic_load_explicit(&f->state, memory_order_relaxed);
    return (s & TPI_F_STOP) != 0 || tpi_pool_abort_requested(f->pool);
}

int tp_task_stop_requested(void)
{
    tp_future *f = tpi_running;
    return f != NULL && tpi_stop_requested(f);
}

int tp_task_fail(int code)
{
    tp_future *f = tpi_running;
    if (f == NULL)
        return TP_EPERM;
    if (code == 0)
        return TP_EINVAL;
    f->error = code;
    return 0;
}

uint64_t tp_task_id(void)
{
    tp_future *f = tpi_running;
    if (f == NULL)
        return 0;
    return tpi_job_id != 0 ? tpi_job_id : f->id;
}
