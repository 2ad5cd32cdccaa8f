/*
 * wait.c - waiting on futures: one, all of several, any of several.
 *
 * One loop serves every wait.  The waiting thread links a waiter node into
 * each future it waits on (all nodes point at the thread's parker), parks,
 * and on waking unlinks them and looks again.  A settling thread unparks
 * every linked waiter under the future's lock, and a waiter always unlinks
 * under that lock before it returns, so a node (on the waiter's stack) is
 * never touched after its owner has gone.
 *
 * A worker that waits does not just sleep.  While the future is not done
 * it runs tasks (tpi_worker_help): first from its own deque, newest first,
 * which is usually the very child it waits for (no hand-off, and no more
 * stack than a direct call), then other work of its pool; when there is
 * none it parks as an idle worker, so that either a new task or the future
 * settling wakes it.  That is what lets a task wait on a child it
 * submitted to the same pool, even on a pool of one thread.  Nesting of
 * work taken from elsewhere is bounded (see sched.c).
 *
 * In the child of a fork(), a future whose process generation (fork.c) is
 * older than the child's will not settle, nor be let go of by its pool:
 * instead of blocking for ever, a wait that would have to wait for that
 * returns TP_EFORKED.
 */
#include <errno.h>

#include "alloc.h"
#include "error.h"
#include "fork.h"
#include "future.h"
#include "pool.h"

/* Lowest index of a settled future, or n. */
static size_t first_done(tp_future *const *fs, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (tpi_future_done(fs[i]))
            return i;
    return n;
}

/* Links a node into every future; false (nothing linked) if one of them
 * has settled meanwhile. */
static bool link_all(tp_future *const *fs, size_t n, tpi_waiter *nodes,
                     tpi_parker *parker)
{
    for (size_t i = 0; i < n; i++) {
        nodes[i].parker = parker;
        if (!tpi_future_add_waiter(fs[i], &nodes[i])) {
            while (i-- > 0)
                tpi_future_remove_waiter(fs[i], &nodes[i]);
            return false;
        }
    }
    return true;
}

static void unlink_all(tp_future *const *fs, size_t n, tpi_waiter *nodes)
{
    for (size_t i = 0; i < n; i++)
        tpi_future_remove_waiter(fs[i], &nodes[i]);
}

/* If a pending future's start deadline comes before *until, moves *until
 * to it and returns true. */
static bool earlier_start_deadline(tp_future *const *fs, size_t n,
                                   tpi_deadline *until)
{
    uint64_t earliest = 0;
    for (size_t i = 0; i < n; i++) {
        uint64_t d = tpi_future_deadline(fs[i]);
        if (d != 0 && tp_future_state(fs[i]) == TP_PENDING &&
            (earliest == 0 || d < earliest))
            earliest = d;
    }
    if (earliest == 0)
        return false;
    uint64_t at = (uint64_t)until->at.tv_sec * 1000000000u +
                  (uint64_t)until->at.tv_nsec;
    if (!until->forever && !until->poll && at <= earliest)
        return false;
    until->at.tv_sec = (time_t)(earliest / 1000000000u);
    until->at.tv_nsec = (long)(earliest % 1000000000u);
    until->forever = false;
    until->poll = false;
    return true;
}

/* Expires the pending futures whose start deadline has passed. */
static void expire_due(tp_future *const *fs, size_t n)
{
    uint64_t now = tpi_now_ns();
    for (size_t i = 0; i < n; i++) {
        uint64_t d = tpi_future_deadline(fs[i]);
        if (d != 0 && d <= now)
            tpi_future_expire(fs[i]);
    }
}

/* The loop described at the top.  fs are valid, n > 0, *dl not a poll. */
static int park_until_any(tp_future *const *fs, size_t n,
                          const tpi_deadline *dl, tpi_waiter *nodes,
                          size_t *index)
{
    tpi_worker *w = tpi_worker_self();
    tpi_parker own, *parker;
    if (w != NULL) {
        parker = tpi_worker_parker(w);
    } else {
        int rc = tpi_parker_init(&own);
        if (rc != 0)
            return tpi_errno_to_tp(rc);
        parker = &own;
    }
    /* For snapshots and wait-cycle detection: what this task waits for. */
    uint64_t outer_wait = 0;
    if (w != NULL)
        outer_wait = tpi_worker_set_waiting(w, tpi_future_id_of(fs[0]));

    int rc;
    for (;;) {
        if ((*index = first_done(fs, n)) < n) {
            rc = 0;
            break;
        }
        if (w != NULL && tpi_worker_help(w))
            continue;
        if (!link_all(fs, n, nodes, parker))
            continue;
        if (w != NULL && !tpi_worker_park_begin(w)) {
            unlink_all(fs, n, nodes); /* work arrived: go and run it */
            continue;
        }
        /* Wake up at a task's start deadline, if that comes first, to
         * settle it as expired rather than wait for a worker to notice. */
        tpi_deadline until = *dl;
        bool expiry = earlier_start_deadline(fs, n, &until);
        int prc = tpi_parker_park(parker, &until);
        if (w != NULL)
            tpi_worker_park_end(w);
        unlink_all(fs, n, nodes);
        if (prc == ETIMEDOUT && expiry) {
            expire_due(fs, n);
            continue;
        }
        if (prc == ETIMEDOUT) {
            *index = first_done(fs, n);
            rc = *index < n ? 0 : TP_ETIMEDOUT;
            break;
        }
    }
    if (w == NULL)
        tpi_parker_destroy(&own);
    else
        tpi_worker_set_waiting(w, outer_wait);
    return rc;
}

/* For a settled future in caller storage: waits (until dl) for the pool to
 * let go of it.  In the child of a fork(), a pool created before it never
 * does: the worker that had yet to is not there.  So for such a future
 * only what has already happened counts, and the rest is TP_EFORKED. */
static int wait_released(tp_future *f, const tpi_deadline *dl)
{
    if (tpi_future_gen(f) == tpi_gen_now() || dl->poll)
        return tpi_future_wait_pool(f, dl);
    tpi_deadline now = tpi_deadline_after_ms(0);
    int rc = tpi_future_wait_pool(f, &now);
    return rc == TP_ETIMEDOUT ? TP_EFORKED : rc;
}

/* Validation and the cheap cases shared by every wait. */
static int wait_any(tp_future *const *fs, size_t n, int64_t timeout_ms,
                    size_t *index)
{
    if ((*index = first_done(fs, n)) < n) {
        /* Caller storage is the caller's again only once the pool has let
         * go of it, just after the task settles. */
        if (!tpi_future_inplace(fs[*index]) || tpi_future_pool_done(fs[*index]))
            return 0;
        tpi_deadline dl = tpi_deadline_after_ms(timeout_ms);
        return wait_released(fs[*index], &dl);
    }
    if (timeout_ms == 0)
        return TP_ETIMEDOUT;
    tp_future *self = tpi_current_task();
    if (n == 1 && fs[0] == self)
        return TP_EDEADLK;
    /* After fork() nobody in this process will settle a future of a pool
     * created before it, nor one made from such a future that cannot
     * settle before it does (combine.c gives those its generation). */
    unsigned gen = tpi_gen_now();
    for (size_t i = 0; i < n; i++)
        if (tpi_future_gen(fs[i]) != gen)
            return TP_EFORKED;

    tpi_deadline dl = tpi_deadline_after_ms(timeout_ms);
    enum { ON_STACK = 8 };
    tpi_waiter stack_nodes[ON_STACK];
    tpi_waiter *nodes = stack_nodes;
    if (n > ON_STACK) {
        nodes = tpi_calloc(n, sizeof *nodes);
        if (nodes == NULL)
            return TP_ENOMEM;
    }
    int rc = park_until_any(fs, n, &dl, nodes, index);
    if (nodes != stack_nodes)
        tpi_free(nodes);
    if (rc == 0 && tpi_future_inplace(fs[*index]) && !tpi_future_pool_done(fs[*index]))
        rc = wait_released(fs[*index], &dl);
    return rc;
}

int tp_future_wait(tp_future *f, int64_t timeout_ms)
{
    if (f == NULL)
        return TP_EINVAL;
    size_t index;
    return wait_any(&f, 1, timeout_ms, &index);
}

int tp_future_get(tp_future *f, int64_t timeout_ms, void **result)
{
    int rc = tp_future_wait(f, timeout_ms);
    if (rc != 0)
        return rc;
    switch (tp_future_state(f)) {
    case TP_COMPLETED:
        if (result != NULL)
            *result = f->out.result;
        return 0;
    case TP_FAILED:
        return TP_EFAILED;
    default:
        return tp_future_error(f); /* TP_ECANCELED or TP_EEXPIRED */
    }
}

/* The futures of a wait for all: TP_EINVAL if one is NULL, TP_EDEADLK if
 * one is the calling task's own. */
static int check_all(tp_future *const *fs, size_t n)
{
    tp_future *self = tpi_current_task();
    for (size_t i = 0; i < n; i++)
        if (fs[i] == NULL)
            return TP_EINVAL;
        else if (fs[i] == self)
            return TP_EDEADLK;
    return 0;
}

int tp_wait_all_or_first_failure(tp_future *const *fs, size_t n,
                                 int64_t timeout_ms, size_t *index)
{
    if ((fs == NULL && n > 0) || index == NULL)
        return TP_EINVAL;
    int rc = check_all(fs, n);
    if (rc != 0)
        return rc;
    /* Those already settled count first, in index order; then the others
     * in the order they settle, through a waitset (one node each, rather
     * than n scans per settle). */
    for (size_t i = 0; i < n; i++)
        if (tpi_future_done(fs[i]) &&
            tp_future_state(fs[i]) != TP_COMPLETED) {
            *index = i;
            return tp_future_error(fs[i]);
        }
    tp_waitset *ws;
    if ((rc = tp_waitset_create(&ws)) != 0)
        return rc;
    /* Every input that had not completed: one that settled since the look
     * above (a failure too) comes out of the set at once. */
    size_t left = 0;
    for (size_t i = 0; i < n && rc == 0; i++)
        if (tp_future_state(fs[i]) != TP_COMPLETED &&
            (rc = tp_waitset_add(ws, fs[i])) == 0)
            left++;
    tpi_deadline dl = tpi_deadline_after_ms(timeout_ms);
    for (; rc == 0 && left > 0; left--) {
        tp_future *f;
        if ((rc = tp_waitset_next(ws, tpi_deadline_left_ms(&dl), &f)) != 0)
            break;
        if (tp_future_state(f) != TP_COMPLETED) {
            for (size_t i = 0; i < n; i++)
                if (fs[i] == f) {
                    *index = i;
                    break;
                }
            rc = tp_future_error(f);
        }
        tp_future_release(f);
    }
    tp_waitset_destroy(ws);
    return rc;
}

int tp_wait_all(tp_future *const *fs, size_t n, int64_t timeout_ms)
{
    if (fs == NULL && n > 0)
        return TP_EINVAL;
    int rc = check_all(fs, n);
    if (rc != 0)
        return rc;
    /* One deadline for the whole call: each wait gets what is left. */
    tpi_deadline dl = tpi_deadline_after_ms(timeout_ms);
    for (size_t i = 0; i < n; i++) {
        size_t index;
        if ((rc = wait_any(&fs[i], 1, tpi_deadline_left_ms(&dl), &index)) != 0)
            return rc;
    }
    return 0;
}

int tp_wait_any(tp_future *const *fs, size_t n, int64_t timeout_ms,
                size_t *index)
{
    if (fs == NULL || n == 0 || index == NULL)
        return TP_EINVAL;
    for (size_t i = 0; i < n; i++)
        if (fs[i] == NULL)
            return TP_EINVAL;
    return wait_any(fs, n, timeout_ms, index);
}
