/*
 * threads.c - a pool's worker threads: starting them (stack size, CPU
 * pinning), changing their number while the pool runs (tp_pool_resize),
 * extra threads while tasks block (tp_task_blocking_begin/end), and
 * workers leaving.
 *
 * Slots.  A pool has nthreads = max_threads worker slots, all set up by
 * tp_pool_create() (deque, parker, counters): a slot is never freed before
 * the pool, so thieves, sleepers and readers may look at every slot at any
 * time without a lock, and an empty slot is just a worker with empty
 * queues.  Each slot's thread is in one of these states (mu):
 *
 *   EMPTY ---start---> LIVE ---asked to leave---> RETIRING
 *     ^                 ^  <---asked to stay------'  |
 *     |                 |                            | the worker, between
 *     |                 '---start again---.          | tasks, sees it
 *     '---joined (shutdown)--- EXITED <--- EXITING <-'
 *                              (its thread has left; joined when the
 *                               slot is started again, or at shutdown)
 *
 * `live` slots [0, live) are LIVE, the others are not: a resize changes
 * the highest ones, so worker indices stay 0..live-1.  live is the target
 * count (tp_options.threads, then tp_pool_resize()) plus the workers now
 * inside tp_task_blocking_begin/end, at most nthreads.
 *
 * Leaving.  A worker asked to leave (`retire`) finishes its task, runs
 * what is left on its own deque (nobody else would pop it), and leaves
 * only if still asked to (under mu: a resize may have kept it meanwhile).
 * Its fork-join deque is empty then: frames live inside the tasks that
 * spawned them.  Before it goes, it looks at every queue once more, after
 * a seq_cst fence, and wakes a sleeper if it sees work: a submitter that
 * read it as searching skipped its own wake (pool_internal.h, the claim),
 * and a claim that woke it for new work must not end with it.  This is
 * the sleeping path's F1/R1 with "leave" in place of "park"; as long as
 * one worker stays (live >= 1), some worker sees each push or is woken.
 *
 * Joining is lazy: a thread that left is joined when its slot starts
 * again, or by the shutdown, never by itself.  Threads are created and
 * joined under mu; the worker's own steps that take mu (started_threads,
 * leave) wait meanwhile, which is why a thread being joined has already
 * marked itself EXITED, after its on_stop hook.
 *
 * Lock order: mu -> parker mutex, as in pool_internal.h; no new lock.
 */
#include <errno.h>
#include <stdbool.h>

#include "error.h"
#include "fence.h"
#include "pool_internal.h"
#include "threads.h"

enum { SLOT_EMPTY = 0, SLOT_LIVE, SLOT_RETIRING, SLOT_EXITING, SLOT_EXITED };

/* ---- starting a thread -------------------------------------------------- */

static int create_thread(tpi_worker *w)
{
    int countdown = atomic_load(&tpi_fail_thread_countdown);
    while (countdown > 0) {
        if (atomic_compare_exchange_weak(&tpi_fail_thread_countdown,
                                         &countdown, countdown - 1)) {
            if (countdown == 1)
                return EAGAIN;
            break;
        }
    }
    tp_pool *p = w->pool;
    if (p->stack_size == 0 && p->ncpus == 0)
        return pthread_create(&w->thread, NULL, tpi_worker_main, w);
    pthread_attr_t attr;
    int rc = pthread_attr_init(&attr);
    if (rc != 0)
        return rc;
    if (p->stack_size != 0)
        rc = pthread_attr_setstacksize(&attr, p->stack_size);
#ifdef TPI_HAVE_AFFINITY
    if (rc == 0 && p->ncpus != 0) {
        cpu_set_t one;
        CPU_ZERO(&one);
        CPU_SET(p->cpus[w->index % p->ncpus], &one);
        rc = pthread_attr_setaffinity_np(&attr, sizeof one, &one);
    }
#endif
    if (rc == 0)
        rc = pthread_create(&w->thread, &attr, tpi_worker_main, w);
    pthread_attr_destroy(&attr);
    return rc;
}

bool tpi_threads_pick_cpus(tp_pool *p)
{
#ifdef TPI_HAVE_AFFINITY
    cpu_set_t set;
    if (pthread_getaffinity_np(pthread_self(), sizeof set, &set) != 0)
        return false;
    for (int c = 0; c < CPU_SETSIZE && p->ncpus < TPI_MAX_PINNED; c++)
        if (CPU_ISSET(c, &set))
            p->cpus[p->ncpus++] = (unsigned short)c;
    return p->ncpus > 0;
#else
    (void)p;
    return false;
#endif
}

/* Makes slot i, which is not EXITING, LIVE (mu held): keeps a worker that
 * was leaving, or starts a thread, joining the one that left first.  0, or
 * an errno value. */
static int start_slot(tp_pool *p, unsigned i)
{
    tpi_worker *w = &p->workers[i];
    atomic_store_explicit(&w->retire, false, memory_order_relaxed);
    if (w->slot == SLOT_RETIRING) {
        w->slot = SLOT_LIVE;
        return 0;
    }
    if (w->slot == SLOT_EXITED) {
        pthread_join(w->thread, NULL);
        w->slot = SLOT_EMPTY;
    }
    int rc = create_thread(w);
    if (rc == 0)
        w->slot = SLOT_LIVE;
    return rc;
}

int tpi_threads_start(tp_pool *p, unsigned n)
{
    pthread_mutex_lock(&p->mu);
    p->target = n;
    int rc = 0;
    while (p->live < n && (rc = start_slot(p, p->live)) == 0)
        p->live++; /* new slots: EMPTY, nothing to wait for */
    atomic_store_explicit(&p->live_seen, p->live, memory_order_relaxed);
    pthread_mutex_unlock(&p->mu);
    return rc;
}

/* ---- resizing ----------------------------------------------------------- */

/* Brings `live` to target + blocked, within 1..nthreads (mu held).
 * Waiting for a slot whose thread is still leaving releases mu, and others
 * may adjust meanwhile: so each step starts from what is there now.
 * Returns 0, TP_ESHUTDOWN if a shutdown began meanwhile, or the error of a
 * thread that could not start (the threads started before it stay). */
static int adjust(tp_pool *p)
{
    int rc = 0;
    for (;;) {
        if (p->stopping != STOP_NONE) {
            rc = TP_ESHUTDOWN;
            break;
        }
        unsigned want = p->target + p->blocked;
        if (want > p->nthreads)
            want = p->nthreads;
        if (p->live < want) {
            if (p->workers[p->live].slot == SLOT_EXITING) {
                /* in its on_stop hook; tpi_threads_left() broadcasts */
                pthread_cond_wait(&p->state_cv, &p->mu);
                continue;
            }
            int err = start_slot(p, p->live);
            if (err != 0) {
                rc = tpi_errno_to_tp(err);
                break;
            }
            p->live++;
        } else if (p->live > want) {
            tpi_worker *w = &p->workers[--p->live];
            w->slot = SLOT_RETIRING;
            atomic_store_explicit(&w->retire, true, memory_order_relaxed);
            /* A sleeper wakes, finds itself leaving (sched.c); one running
             * a task sees it afterwards; one waiting in a task looks again
             * and goes back to its wait.  mu -> parker mutex. */
            tpi_parker_unpark(&w->parker);
        } else {
            break;
        }
    }
    atomic_store_explicit(&p->live_seen, p->live, memory_order_relaxed);
    return rc;
}

int tp_pool_resize(tp_pool *p, unsigned threads)
{
    if (p == NULL || threads == 0 || threads > p->nthreads)
        return TP_EINVAL;
    if (tpi_forked(p))
        return TP_EFORKED;
    pthread_mutex_lock(&p->mu);
    int rc = TP_ESHUTDOWN;
    if (p->stopping == STOP_NONE) {
        p->target = threads;
        rc = adjust(p);
    }
    pthread_mutex_unlock(&p->mu);
    return rc;
}

unsigned tp_pool_size(const tp_pool *p)
{
    if (p == NULL)
        return 0;
    return atomic_load_explicit(&p->live_seen, memory_order_relaxed);
}

unsigned tp_pool_max_size(const tp_pool *p)
{
    return p == NULL ? 0 : p->nthreads;
}

/* ---- blocking tasks ------------------------------------------------------- */

int tp_task_blocking_begin(void)
{
    tpi_worker *w = tpi_self;
    if (w == NULL || w->own.blocking++ > 0)
        return 0; /* not on a worker, or nested */
    tp_pool *p = w->pool;
    pthread_mutex_lock(&p->mu);
    p->blocked++;
    int rc = adjust(p);
    pthread_mutex_unlock(&p->mu);
    return rc == TP_ESHUTDOWN ? 0 : rc; /* no extra thread while stopping */
}

void tp_task_blocking_end(void)
{
    tpi_worker *w = tpi_self;
    if (w == NULL || w->own.blocking == 0 || --w->own.blocking > 0)
        return;
    tp_pool *p = w->pool;
    pthread_mutex_lock(&p->mu);
    p->blocked--;
    (void)adjust(p); /* shrinks: cannot fail; nothing to do if stopping */
    pthread_mutex_unlock(&p->mu);
}

/* ---- leaving -------------------------------------------------------------- */

bool tpi_threads_leave(tpi_worker *w)
{
    tp_pool *p = w->pool;
    pthread_mutex_lock(&p->mu);
    bool leave = w->slot == SLOT_RETIRING;
    if (leave)
        w->slot = SLOT_EXITING;
    pthread_mutex_unlock(&p->mu);
    return leave;
}

void tpi_threads_left(tpi_worker *w, bool retired, bool work_visible)
{
    tp_pool *p = w->pool;
    pthread_mutex_lock(&p->mu);
    if (retired) {
        w->slot = SLOT_EXITED;
        pthread_cond_broadcast(&p->state_cv);
    }
    pthread_mutex_unlock(&p->mu);
    if (work_visible)
        tpi_wake_some(p, 1);
}

void tpi_threads_join_all(tp_pool *p)
{
    /* No resize after stopping: the slots' threads are ours to join.  The
     * states stay as they are until every thread is gone: a worker that is
     * leaving still goes through RETIRING -> EXITING -> EXITED. */
    for (unsigned i = 0; i < p->nthreads; i++) {
        pthread_mutex_lock(&p->mu);
        bool has = p->workers[i].slot != SLOT_EMPTY;
        pthread_mutex_unlock(&p->mu);
        if (has)
            pthread_join(p->workers[i].thread, NULL);
    }
    pthread_mutex_lock(&p->mu);
    for (unsigned i = 0; i < p->nthreads; i++)
        p->workers[i].slot = SLOT_EMPTY;
    pthread_mutex_unlock(&p->mu);
}
