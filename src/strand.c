/*
 * strand.c - serial queues (strands): tasks that run one at a time, in
 * submission order, on the workers of a pool, with no thread of their own.
 *
 * A strand is a lock, a FIFO of tasks and a flag, `scheduled`, that says
 * whether it has a turn: a runner task queued on the pool, or running, or
 * (rarely, see below) a submitting thread standing in for one.  A submit
 * appends its task under the lock and, if the strand had no turn, takes
 * one and queues a runner (tpi_submit_runner) after releasing the lock.
 * The runner pops one task at a time under the lock and runs it with the
 * lock released; when it finds the FIFO empty it gives the turn up, under
 * the same lock.  So:
 *   - at most one runner exists per strand, and a strand never occupies
 *     more than one worker: tasks of one strand never overlap, and each
 *     starts after the one before it has returned (the lock's release and
 *     acquire order their memory as well);
 *   - no lock is held while a task runs, and the lock is a leaf;
 *   - "scheduled is false" implies "the FIFO is empty", so a submit that
 *     takes the turn knows its task is first.
 * A runner runs at most STRAND_TURN tasks, then queues itself again behind
 * the pool's other work and returns, so that a busy strand shares its
 * worker with other strands and tasks instead of keeping it.  A strand
 * costs its struct (under a hundred bytes) and nothing while idle:
 * thousands may exist at once.
 *
 * Tasks: without a future, an ordinary 32-byte task from the pool's memory
 * (taskmem.c); with one, a future that is not in the pool's queue (so not
 * counted by it: the runner is) and that the runner runs with
 * tpi_future_run(), as a worker would, so cancellation, waits and
 * callbacks are those of any task.
 *
 * When the pool will not take the runner (a shutdown racing with the
 * submit, or no memory for the runner), the submit fails and takes its
 * own task back; tasks other threads appended meanwhile (they saw the
 * turn taken) were accepted, so the submitting thread runs them itself,
 * in order, before it returns.  A graceful shutdown runs every strand's
 * queued tasks, as they sit behind runners in the pool's queue; an
 * immediate one drops the runners, and each dropped runner hands its
 * strand's tasks to the drop function (tpi_strand_dropped), cancelling
 * their futures.  A runner that meets an immediate shutdown between two
 * tasks requeues itself instead of going on, so that the shutdown drops
 * the rest.
 *
 * Destroying a strand never blocks and never discards: the strand is
 * marked closed and freed by whoever holds its turn when the FIFO runs
 * empty (at once if it has none), so the tasks already submitted all run.
 */
#include <stddef.h>

#include "alloc.h"
#include "fork.h"
#include "pool_internal.h"

/* Tasks a runner runs before it gives its worker to other work. */
#define STRAND_TURN 64

struct tp_strand {
    pthread_mutex_t mu;
    tpi_list q;     /* tasks in submission order (mu) */
    bool scheduled; /* the strand has a turn (mu) */
    bool closed;    /* tp_strand_destroy() was called (mu) */
    tp_pool *pool;
    unsigned gen;   /* process generation it was made in */
};

static void strand_free(tp_strand *s)
{
    pthread_mutex_destroy(&s->mu);
    tpi_free(s);
}

int tp_strand_create(tp_pool *pool, tp_strand **out)
{
    if (pool == NULL || out == NULL)
        return TP_EINVAL;
    if (tpi_forked(pool))
        return TP_EFORKED;
    tp_strand *s = tpi_malloc(sizeof *s);
    if (s == NULL)
        return TP_ENOMEM;
    if (pthread_mutex_init(&s->mu, NULL) != 0) {
        tpi_free(s);
        return TP_ENOMEM;
    }
    s->q = (tpi_list)TPI_LIST_INIT;
    s->scheduled = false;
    s->closed = false;
    s->pool = pool;
    s->gen = tpi_fork_generation();
    *out = s;
    return 0;
}

/* Runs one task of the strand on this thread and lets go of it. */
static void run_one(tp_pool *p, tpi_worker *self, tpi_task *t)
{
    if (tpi_task_is_future(t)) {
        tp_future *f = tpi_future_of(t);
        (void)tpi_future_run(f); /* false: cancelled while it waited */
        tp_future_release(f);    /* the strand's reference */
        return;
    }
    tpi_running_ctx outer = tpi_running_enter(NULL, tpi_task_id(t), p);
    t->fn(t->arg);
    tpi_running_leave(outer);
    tpi_task_free(p, self, t);
}

/* Runs the strand's tasks while it holds the turn.  `pooled`: as the
 * pool's runner task, which gives the turn back to the pool after
 * STRAND_TURN tasks, or at once during an immediate shutdown; otherwise
 * (a submitter standing in) until the FIFO is empty. */
static void drain(tp_strand *s, bool pooled)
{
    tp_pool *p = s->pool;
    tpi_worker *self = tpi_worker_of(p); /* NULL for a submitter */
    for (unsigned n = 0;; n++) {
        if (pooled && (n == STRAND_TURN || tpi_pool_abort_requested(p))) {
            /* The runner's last access to s: from here another worker may
             * take the turn, and even free s.  On failure (no memory) the
             * turn simply goes on here. */
            if (tpi_submit_runner(p, tpi_strand_runner, s, true) == 0)
                return;
        }
        pthread_mutex_lock(&s->mu);
        tpi_task *t = tpi_list_pop(&s->q);
        if (t == NULL) {
            s->scheduled = false;
            bool gone = s->closed;
            pthread_mutex_unlock(&s->mu);
            if (gone)
                strand_free(s);
            return;
        }
        pthread_mutex_unlock(&s->mu);
        run_one(p, self, t);
    }
}

void *tpi_strand_runner(void *arg)
{
    drain(arg, true);
    return NULL;
}

void tpi_strand_dropped(void *arg, tp_drop_fn drop, void *ctx)
{
    tp_strand *s = arg;
    tp_pool *p = s->pool;
    pthread_mutex_lock(&s->mu);
    tpi_task *t = s->q.head;
    s->q = (tpi_list)TPI_LIST_INIT;
    s->scheduled = false;
    bool gone = s->closed;
    pthread_mutex_unlock(&s->mu);
    while (t != NULL) {
        tpi_task *next = t->next;
        tp_job job = {t->fn, t->arg, tpi_task_id(t)};
        if (tpi_task_is_future(t)) {
            tp_future *f = tpi_future_of(t);
            /* Only those this cancels: an earlier cancel gave the argument
             * back to its caller then. */
            if (tpi_future_settle(f, TP_PENDING, TP_CANCELLED) && drop != NULL)
                drop(&job, ctx);
            tp_future_release(f);
        } else {
            if (drop != NULL)
                drop(&job, ctx);
            tpi_task_free(p, tpi_worker_of(p), t);
        }
        t = next;
    }
    if (gone)
        strand_free(s);
}

/* Frees a task that was never accepted. */
static void discard(tp_pool *p, tpi_task *t)
{
    if (tpi_task_is_future(t))
        tpi_future_discard(tpi_future_of(t));
    else
        tpi_task_free(p, tpi_worker_of(p), t);
}

/* The pool refused the runner (rc): t, first in the FIFO, was not
 * accepted; what others appended since was, and runs here. */
static int refused(tp_strand *s, tpi_task *t, int rc)
{
    pthread_mutex_lock(&s->mu);
    tpi_task *first = tpi_list_pop(&s->q);
    pthread_mutex_unlock(&s->mu);
    (void)first; /* == t: the FIFO was empty when t took the turn */
    discard(s->pool, t);
    drain(s, false);
    return rc;
}

static int strand_submit(tp_strand *s, tp_task_fn fn, void *arg,
                         tp_future **out)
{
    if (s == NULL || fn == NULL)
        return TP_EINVAL;
    tp_pool *p = s->pool;
    if (tpi_forked(p))
        return TP_EFORKED;
    tpi_task *t;
    tp_future *f = NULL;
    if (out != NULL) {
        /* Two references: the caller's and the strand's. */
        if ((f = tpi_future_new(fn, arg, p, 2)) == NULL)
            return TP_ENOMEM;
        t = &f->task;
    } else {
        if ((t = tpi_task_alloc(p, tpi_worker_of(p))) == NULL)
            return TP_ENOMEM;
        tpi_task_init(t, fn, arg);
    }
    pthread_mutex_lock(&s->mu);
    if (s->closed) {
        pthread_mutex_unlock(&s->mu);
        discard(p, t);
        return TP_ESHUTDOWN;
    }
    tpi_list_push(&s->q, t);
    bool start = !s->scheduled;
    s->scheduled = true;
    pthread_mutex_unlock(&s->mu);
    if (start) {
        int rc = tpi_submit_runner(p, tpi_strand_runner, s, false);
        if (rc != 0)
            return refused(s, t, rc);
    }
    if (out != NULL)
        *out = f;
    return 0;
}

int tp_strand_submit(tp_strand *s, tp_task_fn fn, void *arg)
{
    return strand_submit(s, fn, arg, NULL);
}

int tp_strand_submit_future(tp_strand *s, tp_task_fn fn, void *arg,
                            tp_future **out)
{
    if (out == NULL)
        return TP_EINVAL;
    return strand_submit(s, fn, arg, out);
}

int tp_strand_destroy(tp_strand *s)
{
    if (s == NULL)
        return TP_EINVAL;
    if (s->gen != tpi_fork_generation()) {
        /* A forked child's copy: its lock may have been held by a thread
         * that is not here; its tasks are left as they are. */
        tpi_free(s);
        return 0;
    }
    pthread_mutex_lock(&s->mu);
    s->closed = true;
    bool idle = !s->scheduled;
    pthread_mutex_unlock(&s->mu);
    if (idle)
        strand_free(s);
    return 0;
}
