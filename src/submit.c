/*
 * submit.c - the submit family: single tasks (allocated or in caller
 * storage, with options), batches (as futures or as carriers of jobs),
 * the library's own tasks, and the capacity of a bounded pool
 * (backpressure: block, fail or run in the caller).
 *
 * Where a task goes: from a worker of the pool at normal priority, on the
 * worker's own deque (no lock); from anywhere else, or at another level, on
 * the injector of its level (inject.h: no lock either).  Whether a task is
 * the library's own (`internal`, never handed to a user's drop function)
 * is a parameter of the submit that creates it, and a property of that
 * task only.
 */
#include <errno.h>
#include <string.h>

#include "alloc.h"
#include "clock.h"
#include "opts.h"
#include "pool_internal.h"

/* ---- capacity ----------------------------------------------------------------- */

/* A bounded pool: k tasks left the queue; wake a blocked submitter.
 *
 * No lost wake-up, without taking mu on every release: a blocked
 * submitter increments space_waiters (A) and then reads queued (B), both
 * seq_cst and under mu; this decrements queued (C) and then reads
 * space_waiters (D), both seq_cst.  In the total order either A precedes
 * D, and D sees the waiter (which then gets the broadcast, as it waits
 * under mu and the broadcast takes mu), or C precedes B, and B sees the
 * room and the submitter does not wait. */
void tpi_release_room(tp_pool *p, size_t k)
{
    if (p->capacity == 0 || k == 0)
        return;
    atomic_fetch_sub_explicit(&p->queued, k, memory_order_seq_cst); /* C */
    if (atomic_load_explicit(&p->space_waiters, memory_order_seq_cst) >
        0) { /* D */
        pthread_mutex_lock(&p->mu);
        pthread_cond_broadcast(&p->space_cv);
        pthread_mutex_unlock(&p->mu);
    }
}

void *tpi_batch_carrier(void *arg)
{
    return arg;
}

void tpi_batch_unref(tpi_batch *b)
{
    if (atomic_fetch_sub_explicit(&b->carriers, 1, memory_order_acq_rel) == 1)
        tpi_free(b);
}


/* ---- submit -------------------------------------------------------------------- */

/* A worker's push on the injector of a level, which is never closed to
 * it.  The caller wakes sleepers (tpi_wake_some(): the push is what R1 of
 * a worker about to sleep reads). */
static void inject_from_worker(tp_pool *p, int level, tpi_list *chain)
{
    (void)tpi_inject_push(&p->inj[level], chain, false);
}

/* Runs f on the calling thread (a full queue's caller-runs), counted as
 * submitted and run.  Consumes the pool's reference. */
static void run_inline(tp_pool *p, tpi_worker *self, tpi_task *t)
{
    atomic_fetch_add_explicit(&p->ext_submitted, 1, memory_order_release);
    pthread_mutex_lock(&p->mu);
    p->ext_started++;
    pthread_mutex_unlock(&p->mu);
    bool ran = true;
    if (tpi_task_is_future(t)) {
        tp_future *f = tpi_future_of(t);
        ran = tpi_future_run(f);
        tpi_future_pool_release(f);
    } else {
        tpi_running_ctx outer = tpi_running_enter(NULL, tpi_task_id(t), p);
        t->fn(t->arg);
        tpi_running_leave(outer);
        tpi_task_free(p, self, t);
    }
    pthread_mutex_lock(&p->mu);
    if (ran)
        p->ext_completed++;
    else
        p->ext_dropped++;
    pthread_mutex_unlock(&p->mu);
    tpi_notify_if_idle(p);
}

enum { ROOM_OK = 0, ROOM_INLINE = 1 };

/* Reserves room for up to *n tasks in a bounded pool (all of them in an
 * unbounded one): on ROOM_OK, *n is how many may be queued now (>= 1).
 * Returns ROOM_INLINE when the caller must run one task itself, or a TP_E*
 * code.  May wait on space_cv (mu is taken for that).  `worker`: the
 * caller is a worker of p.  *dl is computed on the first wait only, so
 * that a long batch waits at most submit_timeout_ms in all. */
static int reserve_room(tp_pool *p, bool worker, size_t *n, tpi_deadline *dl,
                        bool *have_dl)
{
    for (;;) {
        int stop = atomic_load_explicit(&p->stop_flag, memory_order_acquire);
        if (stop == STOP_NOW || (stop == STOP_GRACEFUL && !worker))
            return TP_ESHUTDOWN;
        if (p->capacity == 0)
            return ROOM_OK;
        size_t q = atomic_load_explicit(&p->queued, memory_order_relaxed);
        while (q < p->capacity) {
            size_t k = p->capacity - q < *n ? p->capacity - q : *n;
            /* seq_cst with C of tpi_release_room() in one order. */
            if (atomic_compare_exchange_weak_explicit(
                    &p->queued, &q, q + k, memory_order_seq_cst,
                    memory_order_relaxed)) {
                *n = k;
                return ROOM_OK;
            }
        }
        /* A worker must not block on its own pool's queue: every worker
         * could end up waiting for room only they can make. */
        if (worker || p->on_full == TP_FULL_CALLER_RUNS)
            return ROOM_INLINE;
        if (p->on_full == TP_FULL_FAIL)
            return TP_EFULL;
        if (!*have_dl) {
            *dl = tpi_deadline_after_ms(p->submit_timeout_ms);
            *have_dl = true;
        }
        pthread_mutex_lock(&p->mu);
        /* A and B: pair with C and D in tpi_release_room(). */
        atomic_fetch_add_explicit(&p->space_waiters, 1, memory_order_seq_cst);
        int rc = 0;
        if (atomic_load_explicit(&p->queued, memory_order_seq_cst) >=
                p->capacity &&
            p->stopping == STOP_NONE)
            rc = tpi_cond_wait(&p->space_cv, &p->mu, dl);
        atomic_fetch_sub_explicit(&p->space_waiters, 1, memory_order_relaxed);
        pthread_mutex_unlock(&p->mu);
        if (rc == ETIMEDOUT &&
            atomic_load_explicit(&p->queued, memory_order_relaxed) >=
                p->capacity)
            return TP_EFULL;
    }
}

/* Queues the chain of n tasks: on the worker's own deque if the caller
 * is a worker of p (`self`, else NULL), else in the injector.  Wakes
 * sleepers.  `counted`: how many tasks they stand for (n, or a batch's
 * job count).  Returns 0 (the chain is then empty), or TP_ESHUTDOWN
 * (nothing queued, the chain as it was) when an outside thread lost the
 * race with a shutdown. */
static int enqueue(tp_pool *p, tpi_worker *self, tpi_list *chain, size_t n,
                   size_t counted, int level)
{
    if (self != NULL) {
        tpi_bump(&self->count.submitted, counted);
        /* At normal priority, the own deque; what it has no room for, and
         * other levels, the injector of the level. */
        tpi_list overflow = TPI_LIST_INIT, *rest = chain;
        if (level == TP_PRIORITY_NORMAL) {
            tpi_task *t;
            while ((t = tpi_list_pop(chain)) != NULL)
                if (!tpi_deque_push(&self->dq, t))
                    tpi_list_push(&overflow, t);
            rest = &overflow;
        }
        if (!tpi_list_empty(rest))
            inject_from_worker(p, level, rest);
        /* A batch from a task (a parallel loop's helpers) wakes as many
         * sleepers as it has tasks, not one that wakes the next. */
        tpi_wake_some(p, n);
        return 0;
    }
    /* From outside: the injector of the level. */
    /* Counted before the task can be seen (a reader who sees it finished
     * sees it submitted: tpi_pool_idle()). */
    atomic_fetch_add_explicit(&p->ext_submitted, counted,
                              memory_order_release);
    if (!tpi_inject_push(&p->inj[level], chain, true)) {
        /* The lock-free check in reserve_room() passed, but a shutdown has
         * closed the injector since: it may already have swept the queues
         * for the last time, so the task must not go in.  Uncounted, the
         * pool may be idle now. */
        atomic_fetch_sub_explicit(&p->ext_submitted, counted,
                                  memory_order_release);
        tpi_notify_if_idle(p);
        return TP_ESHUTDOWN;
    }
    tpi_wake_some_sc(p, n); /* the push was seq_cst: no F2 needed */
    return 0;
}

/* Frees the tasks of a chain that was never published. */
static void discard_chain(tp_pool *p, tpi_worker *self, tpi_list *chain)
{
    tpi_task *t;
    while ((t = tpi_list_pop(chain)) != NULL)
        if (tpi_task_is_future(t))
            tpi_future_discard(tpi_future_of(t));
        else
            tpi_task_free(p, self, t);
}

/* A task's options as a level and a start deadline (monotonic ns, 0:
 * none); false if they are invalid.  o NULL: the defaults. */
static bool read_opts(const tp_task_opts *caller, int *level,
                      uint64_t *deadline)
{
    *level = TP_PRIORITY_NORMAL;
    *deadline = 0;
    if (caller == NULL)
        return true;
    tp_task_opts o; /* in the library's layout */
    if (tpi_task_opts_read(caller, &o) != 0 ||
        (unsigned)o.priority > (unsigned)TP_PRIORITY_LOW)
        return false;
    *level = (int)o.priority;
    if (o.start_deadline_ms >= 0) {
        int64_t ms = o.start_deadline_ms;
        if (ms > (int64_t)3155760000000) /* ~100 years */
            ms = (int64_t)3155760000000;
        *deadline = tpi_now_ns() + (uint64_t)ms * 1000000u;
    }
    return true;
}

/* `storage`: caller-provided memory for the task (tp_submit_inplace()),
 * or NULL to allocate it.  `internal`: the library's own task (pool.h). */
static int submit_one(tp_pool *p, tp_task_fn fn, void *arg, tp_future **out,
                      const tp_task_opts *o, tp_task_storage *storage,
                      bool internal)
{
    int level;
    uint64_t deadline;
    if (p == NULL || fn == NULL || !read_opts(o, &level, &deadline))
        return TP_EINVAL;
    if (tpi_forked(p))
        return TP_EFORKED;
    tpi_worker *self = tpi_worker_of(p);
    size_t n = 1;
    bool have_dl = false;
    tpi_deadline dl;
    int rc = reserve_room(p, self != NULL, &n, &dl, &have_dl);
    if (rc < 0)
        return rc;
    tpi_task *t;
    tp_future *f = NULL;
    if (out == NULL && storage == NULL && deadline == 0) {
        /* No future wanted: the small ordinary task. */
        if ((t = tpi_task_alloc(p, self)) == NULL)
            goto no_memory;
        tpi_task_init(t, fn, arg);
    } else {
        if (storage != NULL) {
            f = tpi_future_init(storage, fn, arg, p, 2);
            if (deadline != 0)
                tpi_future_put_deadline(f, deadline);
        } else if ((f = tpi_future_new_dl(fn, arg, p, out != NULL ? 2 : 1,
                                          deadline)) == NULL) {
            goto no_memory;
        }
        tpi_future_mark(f, (internal ? TPI_K_INTERNAL : 0u) |
                               (rc == ROOM_OK ? TPI_K_QUEUED : 0u));
        t = &f->task;
    }
    if (rc == ROOM_OK) {
        tpi_list one = TPI_LIST_INIT;
        tpi_list_push(&one, t);
        if ((rc = enqueue(p, self, &one, 1, 1, level)) != 0) {
            tpi_release_room(p, 1);
            discard_chain(p, self, &one);
            return rc;
        }
    }
    if (out != NULL)
        *out = f;
    if (rc == ROOM_INLINE)
        run_inline(p, self, t);
    return 0;

no_memory:
    if (rc == ROOM_OK)
        tpi_release_room(p, 1);
    return TP_ENOMEM;
}

int tp_submit(tp_pool *pool, tp_task_fn fn, void *arg)
{
    return submit_one(pool, fn, arg, NULL, NULL, NULL, false);
}

int tp_submit_future(tp_pool *pool, tp_task_fn fn, void *arg, tp_future **out)
{
    if (out == NULL)
        return TP_EINVAL;
    return submit_one(pool, fn, arg, out, NULL, NULL, false);
}

_Static_assert(sizeof(tp_future) <= sizeof(tp_task_storage),
               "TP_TASK_STORAGE_SIZE is too small for a task");
_Static_assert(_Alignof(tp_future) <= _Alignof(tp_task_storage),
               "tp_task_storage is not aligned enough for a task");

int tp_submit_inplace(tp_pool *pool, tp_task_storage *storage, tp_task_fn fn,
                      void *arg, const tp_task_opts *opts, tp_future **out)
{
    if (storage == NULL || out == NULL)
        return TP_EINVAL;
    return submit_one(pool, fn, arg, out, opts, storage, false);
}

int tpi_submit_internal(tp_pool *p, tp_task_fn fn, void *arg,
                        tp_future **out)
{
    if (out == NULL)
        return TP_EINVAL;
    return submit_one(p, fn, arg, out, NULL, NULL, true);
}

/* Accepted earlier (a due timer, a strand's next turn), so the queue's
 * bound does not apply: the place is taken even if that goes over, which
 * producers still see as backpressure.  From a worker it is accepted
 * whatever the shutdown state (a shutdown's sweep finds it), as a task's
 * children are. */
int tpi_submit_runner(tp_pool *p, tp_task_fn fn, void *arg, bool to_back)
{
    if (tpi_forked(p))
        return TP_EFORKED;
    tpi_worker *self = tpi_worker_of(p);
    if (self == NULL &&
        atomic_load_explicit(&p->stop_flag, memory_order_acquire) != STOP_NONE)
        return TP_ESHUTDOWN;
    tpi_task *t = tpi_task_alloc(p, self);
    if (t == NULL)
        return TP_ENOMEM;
    tpi_task_init(t, fn, arg);
    if (p->capacity != 0)
        atomic_fetch_add_explicit(&p->queued, 1, memory_order_seq_cst);
    tpi_list one = TPI_LIST_INIT;
    tpi_list_push(&one, t);
    if (to_back && self != NULL) {
        /* Behind everything queued, not on top of the worker's own deque
         * (which it would pop next, ahead of the injector). */
        tpi_bump(&self->count.submitted, 1);
        inject_from_worker(p, TP_PRIORITY_NORMAL, &one);
        tpi_wake_some(p, 1);
        return 0;
    }
    int rc = enqueue(p, self, &one, 1, 1, TP_PRIORITY_NORMAL);
    if (rc != 0) {
        tpi_release_room(p, 1);
        discard_chain(p, self, &one);
    }
    return rc;
}

static int submit_batch(tp_pool *p, tp_job *jobs, size_t n,
                        tp_future **futures, size_t *accepted, bool internal);

int tpi_submit_batch_internal(tp_pool *p, tp_job *jobs, size_t n,
                              tp_future **futures, size_t *accepted)
{
    return submit_batch(p, jobs, n, futures, accepted, true);
}

int tp_submit_ex(tp_pool *pool, tp_task_fn fn, void *arg,
                 const tp_task_opts *opts, tp_future **out)
{
    return submit_one(pool, fn, arg, out, opts, NULL, false);
}

/* The batch path described with tpi_batch: one block, a few carriers. */
static int submit_jobs(tp_pool *p, tpi_worker *self, tp_job *jobs, size_t n,
                       size_t *accepted)
{
    size_t one = 1;
    bool have_dl = false;
    tpi_deadline dl;
    int rc = reserve_room(p, self != NULL, &one, &dl, &have_dl);
    if (rc < 0)
        return rc; /* unbounded: only a shutdown refuses */
    if (n > (SIZE_MAX - sizeof(tpi_batch)) / sizeof(tp_job))
        return TP_ENOMEM;
    tpi_batch *b = tpi_malloc(sizeof *b + n * sizeof(tp_job));
    if (b == NULL)
        return TP_ENOMEM;
    unsigned k = p->nthreads;
    if (k > (n + TPI_BATCH_MIN - 1) / TPI_BATCH_MIN)
        k = (unsigned)((n + TPI_BATCH_MIN - 1) / TPI_BATCH_MIN);
    size_t chunk = n / ((size_t)p->nthreads * 8);
    b->chunk = chunk < 1 ? 1 : chunk > 64 ? 64 : chunk;
    b->n = n;
    atomic_init(&b->next, 0);
    atomic_init(&b->carriers, k);
    tpi_list carriers = TPI_LIST_INIT;
    for (unsigned i = 0; i < k; i++) {
        tpi_task *t = tpi_task_alloc(p, self);
        if (t == NULL) {
            discard_chain(p, self, &carriers);
            tpi_free(b);
            return TP_ENOMEM;
        }
        tpi_task_init(t, tpi_batch_carrier, b);
        tpi_list_push(&carriers, t);
    }
    uint64_t id = tpi_ids_reserve(n);
    for (size_t i = 0; i < n; i++) {
        b->jobs[i] = jobs[i];
        b->jobs[i].id = id + i;
    }
    if ((rc = enqueue(p, self, &carriers, k, n, TP_PRIORITY_NORMAL)) != 0) {
        discard_chain(p, self, &carriers);
        tpi_free(b);
        return rc;
    }
    for (size_t i = 0; i < n; i++)
        jobs[i].id = id + i;
    if (accepted != NULL)
        *accepted = n;
    return 0;
}

int tp_submit_batch(tp_pool *p, tp_job *jobs, size_t n, tp_future **futures,
                    size_t *accepted)
{
    return submit_batch(p, jobs, n, futures, accepted, false);
}

/* One step of a batch: makes futures for the k jobs (room: as
 * reserve_room() said; ROOM_INLINE means k == 1) as one chain, and queues
 * it in one go or runs it here.  *made: how many were accepted, the first
 * ones.  Returns 0, or why the rest were not (TP_ENOMEM, TP_ESHUTDOWN). */
static int submit_part(tp_pool *p, tpi_worker *self, tp_job *jobs, size_t k,
                       int room, tp_future **futures, bool internal,
                       size_t *made)
{
    tpi_list chain = TPI_LIST_INIT;
    size_t m = 0;
    for (; m < k; m++) {
        tpi_task *t;
        if (futures == NULL) {
            if ((t = tpi_task_alloc(p, self)) == NULL)
                break;
            tpi_task_init(t, jobs[m].fn, jobs[m].arg);
        } else {
            tp_future *f = tpi_future_new(jobs[m].fn, jobs[m].arg, p, 2);
            if (f == NULL)
                break;
            tpi_future_mark(f, (internal ? TPI_K_INTERNAL : 0u) |
                                   (room == ROOM_OK ? TPI_K_QUEUED : 0u));
            futures[m] = f;
            t = &f->task;
        }
        jobs[m].id = tpi_task_id(t);
        tpi_list_push(&chain, t);
    }
    *made = 0;
    if (room == ROOM_OK && m < k)
        tpi_release_room(p, k - m);
    if (m > 0 && room == ROOM_INLINE) {
        run_inline(p, self, tpi_list_pop(&chain));
    } else if (m > 0) {
        int rc = enqueue(p, self, &chain, m, m, TP_PRIORITY_NORMAL);
        if (rc != 0) {
            tpi_release_room(p, m);
            discard_chain(p, self, &chain);
            if (futures != NULL)
                for (size_t i = 0; i < m; i++)
                    futures[i] = NULL;
            return rc;
        }
    }
    *made = m;
    return m < k ? TP_ENOMEM : 0;
}

/* `internal`: the library's own tasks (pool.h); a batch of them without
 * futures becomes carriers, which are never handed to drop anyway. */
static int submit_batch(tp_pool *p, tp_job *jobs, size_t n,
                        tp_future **futures, size_t *accepted, bool internal)
{
    if (accepted != NULL)
        *accepted = 0;
    if (p == NULL || (jobs == NULL && n > 0))
        return TP_EINVAL;
    for (size_t i = 0; i < n; i++)
        if (jobs[i].fn == NULL)
            return TP_EINVAL;
    if (tpi_forked(p))
        return TP_EFORKED;
    if (futures != NULL)
        for (size_t i = 0; i < n; i++)
            futures[i] = NULL;

    tpi_worker *self = tpi_worker_of(p);
    if (futures == NULL && p->capacity == 0 && n >= TPI_BATCH_MIN)
        return submit_jobs(p, self, jobs, n, accepted);

    bool have_dl = false;
    tpi_deadline dl;
    size_t done = 0; /* accepted so far, in order */
    int rc = 0;
    while (done < n && rc == 0) {
        size_t k = n - done;
        int room = reserve_room(p, self != NULL, &k, &dl, &have_dl);
        if (room < 0) {
            rc = room;
            break;
        }
        if (room == ROOM_INLINE)
            k = 1;
        size_t made = 0;
        rc = submit_part(p, self, jobs + done, k, room,
                         futures != NULL ? futures + done : NULL, internal,
                         &made);
        done += made;
    }
    if (accepted != NULL)
        *accepted = done;
    return rc;
}

