/*
 * sched.c - the scheduler: the idle list, waking, finding and stealing
 * work, the workers' main loop, running a task, and a worker's help while
 * it waits (the functions of pool.h).  The design, the wake-up proof and
 * the lock order are at the top of pool_internal.h.
 */
#include <sched.h>
#include <stdio.h>

#include "alloc.h"
#include "clock.h"
#include "fence.h"
#include "futmem.h"
#include "pool_internal.h"
#include "threads.h"

_Thread_local tpi_worker *tpi_self TPI_TLS_IE;

/* ---- idle list (mu held) ------------------------------------------------ */

/* Puts w on the idle list.  `sleepers` already counts it: the caller's W1
 * increment becomes the list entry's, so that the count never drops to
 * zero between R1 and here, where a submitter's R2 could read it and wake
 * nobody while w goes to sleep. */
static void idle_push(tp_pool *p, tpi_worker *w)
{
    w->idle = true;
    w->claimed = false;
    w->idle_prev = NULL;
    w->idle_next = p->idle;
    if (p->idle != NULL)
        p->idle->idle_prev = w;
    p->idle = w;
}

static void idle_remove(tp_pool *p, tpi_worker *w)
{
    if (w->idle_prev != NULL)
        w->idle_prev->idle_next = w->idle_next;
    else
        p->idle = w->idle_next;
    if (w->idle_next != NULL)
        w->idle_next->idle_prev = w->idle_prev;
    w->idle = false;
    atomic_fetch_sub_explicit(&p->sleepers, 1, memory_order_relaxed);
}

/* Takes one sleeper off the list for new work; the caller unparks it
 * after releasing mu. */
tpi_worker *tpi_idle_claim(tp_pool *p)
{
    tpi_worker *w = p->idle;
    if (w != NULL) {
        idle_remove(p, w);
        w->claimed = true;
    }
    return w;
}

void tpi_unpark_list(tpi_worker *wake)
{
    while (wake != NULL) {
        tpi_worker *next = wake->idle_next;
        /* Sets `delivered` too: this was the last access to the worker's
         * idle_next (claim_settle()). */
        tpi_parker_unpark_flag(&wake->parker, &wake->delivered);
        wake = next;
    }
}

/* Called by a worker that finds itself claimed after a wake-up, mu
 * released.  Another token (a settling future, a finished frame) may have
 * woken it before its claimer got to it, and the claimer may still be
 * about to read its idle_next to walk the rest of its chain: the worker
 * must not go back on the idle list (which rewrites idle_next) before
 * the claimer's unpark, which comes at once, has been delivered. */
static void claim_settle(tpi_worker *w)
{
    tpi_deadline forever = tpi_deadline_after_ms(-1);
    while (!tpi_parker_flag(&w->parker, &w->delivered))
        tpi_parker_park(&w->parker, &forever);
    /* The next claim's unpark is ordered after this (mu, idle_push). */
    w->delivered = false;
}

/* R2 found sleepers and nobody searching: claims up to n of them under mu
 * and unparks them. */
static void wake_claim(tp_pool *p, size_t n)
{
    tpi_worker *wake = NULL, *w;
    pthread_mutex_lock(&p->mu);
    for (size_t i = 0; i < n && (w = tpi_idle_claim(p)) != NULL; i++) {
        w->idle_next = wake;
        wake = w;
    }
    pthread_mutex_unlock(&p->mu);
    tpi_unpark_list(wake);
}

/* Wakes up to n sleepers, if there are any and no worker is already
 * searching (a searcher will find the tasks, or sleep only after seeing
 * them: the claim in pool_internal.h covers both readings, R2). */
void tpi_wake_some(tp_pool *p, size_t n)
{
    tpi_fence(); /* F2: pairs with F1 in sleep_or_exit() and with S- */
    if (atomic_load_explicit(&p->sleepers, memory_order_relaxed) == 0 ||
        atomic_load_explicit(&p->searching, memory_order_relaxed) > 0)
        return;
    wake_claim(p, n);
}

/* After a push that was itself a seq_cst read-modify-write (an injector
 * push): with R2's loads seq_cst too, no fence is needed.  If F1 precedes
 * the push in S, R2 (after the push in S) follows F1 and sees W1 and S-
 * (C11 7.17.4p3 with the loads in S); if the push precedes F1, R1 after
 * F1 sees the push (7.17.4p2).  The same two cases as F2's. */
void tpi_wake_some_sc(tp_pool *p, size_t n)
{
    if (atomic_load_explicit(&p->sleepers, memory_order_seq_cst) == 0 ||
        atomic_load_explicit(&p->searching, memory_order_seq_cst) > 0)
        return;
    wake_claim(p, n);
}

static void wake_one(tp_pool *p)
{
    tpi_wake_some(p, 1);
}

/* ---- running a task ----------------------------------------------------------- */

/* Puts a task an abort met on the list the shutdown thread hands to the
 * drop function. */
static void push_aborted(tp_pool *p, tpi_task *t)
{
    pthread_mutex_lock(&p->mu);
    t->next = p->aborted;
    p->aborted = t;
    pthread_mutex_unlock(&p->mu);
}

/* Runs the jobs of a batch this carrier can claim, then lets go of it. */
static void run_carrier(tpi_worker *w, tpi_task *t)
{
    tp_pool *p = w->pool;
    tpi_batch *b = t->arg;
    tpi_running_ctx outer = tpi_running_enter(NULL, 0, p);
    while (!atomic_load_explicit(&p->abort, memory_order_relaxed)) {
        size_t lo = atomic_fetch_add_explicit(&b->next, b->chunk,
                                              memory_order_relaxed);
        if (lo >= b->n)
            break;
        size_t hi = b->n - lo < b->chunk ? b->n : lo + b->chunk;
        tpi_bump(&w->count.started, hi - lo);
        for (size_t i = lo; i < hi; i++) {
            tpi_running_enter(NULL, b->jobs[i].id, p);
            b->jobs[i].fn(b->jobs[i].arg);
        }
        tpi_bump(&w->count.completed, hi - lo);
    }
    tpi_running_leave(outer);
    if (atomic_load_explicit(&p->abort, memory_order_relaxed) &&
        atomic_load_explicit(&b->next, memory_order_relaxed) < b->n) {
        /* Jobs left: the shutdown thread hands them to its drop function. */
        push_aborted(p, t);
        return;
    }
    tpi_batch_unref(b);
    tpi_task_free(p, w, t);
}

/* Runs an ordinary task (or, during an abort, gives it to the shutdown
 * thread, which counts it and hands it to drop). */
static void run_plain(tpi_worker *w, tpi_task *t)
{
    tp_pool *p = w->pool;
    if (atomic_load_explicit(&p->abort, memory_order_relaxed)) {
        push_aborted(p, t);
        return;
    }
    tpi_bump(&w->count.started, 1);
    tpi_release_room(p, 1);
    tpi_running_ctx outer = tpi_running_enter(NULL, tpi_task_id(t), p);
    t->fn(t->arg);
    tpi_running_leave(outer);
    tpi_task_free(p, w, t);
    tpi_bump(&w->count.completed, 1);
}

/* Frames: entered when a task starts on the worker, left when it ends. */
static void frame_enter(tpi_worker *w, uint64_t task)
{
    unsigned d = w->own.nframes++;
    if (d < TPI_FRAMES) {
        atomic_store_explicit(&w->frames[d].task, task, memory_order_relaxed);
        atomic_store_explicit(&w->frames[d].waiting_on, 0,
                              memory_order_relaxed);
    }
    atomic_store_explicit(&w->depth_seen, w->own.nframes, memory_order_release);
}

static void frame_leave(tpi_worker *w)
{
    w->own.nframes--;
    atomic_store_explicit(&w->depth_seen, w->own.nframes, memory_order_release);
}

uint64_t tpi_worker_set_waiting(tpi_worker *w, uint64_t id)
{
    unsigned d = w->own.nframes;
    if (d == 0 || d > TPI_FRAMES)
        return 0;
    return atomic_exchange_explicit(&w->frames[d - 1].waiting_on, id,
                                    memory_order_relaxed);
}

static void run_future(tpi_worker *w, tp_future *f);

/* Runs a task this worker has taken, whatever its kind, in a frame that
 * tp_pool_snapshot_get() can see. */
static void run_taken(tpi_worker *w, tpi_task *t)
{
    frame_enter(w, tpi_task_id(t));
    if (tpi_task_is_future(t))
        run_future(w, tpi_future_of(t));
    else if (t->fn == tpi_batch_carrier)
        run_carrier(w, t);
    else if (t->fn == tpi_fj_carrier) /* fork-join: a stolen frame (fj.c) */
        tpi_fj_run_carrier(w, t);
    else
        run_plain(w, t);
    frame_leave(w);
}

/* Runs (or, during an abort, cancels) a task with a future, and drops the
 * pool's reference. */
static void run_future(tpi_worker *w, tp_future *f)
{
    tp_pool *p = w->pool;
    if (atomic_load_explicit(&p->abort, memory_order_relaxed)) {
        /* Cancelled here (the settle accounts for it) so that its waiters
         * wake now; handed to the drop function by the shutdown thread
         * later. */
        if (tpi_future_settle(f, TP_PENDING, TP_CANCELLED))
            push_aborted(p, &f->task);
        else
            tpi_future_pool_release(f);
        return;
    }
    /* A task that missed its start deadline settles without running. */
    uint64_t deadline = tpi_future_deadline(f);
    if (deadline != 0 && tpi_now_ns() > deadline)
        tpi_future_expire(f);
    /* Whoever settled it first (a cancel, the expiry above) counted it
     * and gave back its place; a task started here is counted here. */
    bool ran = tpi_future_start(f);
    if (ran) {
        tpi_bump(&w->count.started, 1);
        tpi_release_room(p, 1);
        tpi_future_execute(f);
    }
    tpi_future_pool_release(f);
    if (ran)
        tpi_bump(&w->count.completed, 1);
}

/* ---- finding work ---------------------------------------------------------------- */

/* Takes tasks from the injector of a level: returns the first.  From the
 * normal level it takes a batch and pushes the rest on w's deque (empty
 * when this is called), where other workers can steal them; from the
 * other levels one task at a time, so that their order holds. */
static tpi_task *take_injected(tpi_worker *w, int level)
{
    tp_pool *p = w->pool;
    tpi_injector *q = &p->inj[level];
    /* Only tried: a worker that holds it is taking work that it will
     * share through its deque, so this one may as well look elsewhere. */
    if (!tpi_inject_nonempty(q) || pthread_mutex_trylock(&p->inj_mu) != 0)
        return NULL;
    size_t len = tpi_inject_ready(q);
    size_t k = 1;
    if (level == TP_PRIORITY_NORMAL) {
        k = len / p->nthreads + 1;
        if (k > TPI_INJECT_BATCH)
            k = TPI_INJECT_BATCH;
    }
    if (k > len)
        k = len;
    tpi_list got = tpi_inject_take(q, k);
    pthread_mutex_unlock(&p->inj_mu);
    tpi_task *first = tpi_list_pop(&got);
    if (first == NULL || tpi_list_empty(&got)) {
        if (len > k)
            wake_one(p); /* tasks it drained are left for others */
        return first;
    }
    tpi_task *rest = got.head;
    /* The owner pops its deque newest first: push the rest last to first,
     * so that it runs them in submission order (thieves, taking the oldest
     * push, get the batch's last tasks). */
    tpi_task *rev = tpi_chain_reverse(rest, NULL);
    while (rev != NULL) {
        tpi_task *next = rev->next;
        rev->next = NULL;
        tpi_deque_push(&w->dq, rev); /* fits: the deque was empty */
        rev = next;
    }
    wake_one(p); /* others may steal the rest */
    return first;
}

static tpi_task *steal_any(tpi_worker *w)
{
    tp_pool *p = w->pool;
    unsigned n = p->nthreads;
    if (n < 2)
        return NULL;
    unsigned start = (unsigned)(tpi_worker_rand(w) % n);
    for (int round = 0; round < 2; round++) {
        bool retry = false;
        for (unsigned i = 0; i < n; i++) {
            tpi_worker *v = &p->workers[(start + i) % n];
            if (v == w)
                continue;
            tpi_task *f;
            int rc = tpi_deque_steal(&v->dq, &f);
            if (rc == TPI_STEAL_OK) {
                tpi_bump(&w->count.stolen, 1);
                return f;
            }
            retry |= rc == TPI_STEAL_RETRY;
        }
        if (!retry)
            break;
    }
    return NULL;
}

/* Counts a start for the low level's turn; `low`: t came from there. */
static tpi_task *counted(tpi_worker *w, tpi_task *t, bool low)
{
    if (t != NULL)
        w->own.since_low = low ? 0 : w->own.since_low + 1;
    return t;
}

/* Work a worker takes before its own: a low task if the low level is due
 * (TPI_LOW_EVERY starts since the last one, whatever they were: so the
 * bound holds under a stream of high tasks too), else a high one; then
 * its own deque. */
static tpi_task *find_local(tpi_worker *w)
{
    tpi_task *t = NULL;
    if (w->own.since_low >= TPI_LOW_EVERY &&
        (t = take_injected(w, TP_PRIORITY_LOW)) != NULL)
        return counted(w, t, true);
    if ((t = take_injected(w, TP_PRIORITY_HIGH)) == NULL)
        t = tpi_deque_pop(&w->dq);
    return counted(w, t, false);
}

/* One look for work, in priority order: find_local(), then, if allowed,
 * the normal injector, the other workers' deques and the low level. */
static tpi_task *find_work(tpi_worker *w, bool elsewhere)
{
    tpi_fj_offer(&w->fj); /* fork-join: a waiting task's frames (fj.c) */
    if (!elsewhere)
        return counted(w, tpi_deque_pop(&w->dq), false);
    tpi_task *t = find_local(w);
    if (t != NULL)
        return t;
    if ((t = take_injected(w, TP_PRIORITY_NORMAL)) != NULL ||
        (t = steal_any(w)) != NULL ||
        (t = tpi_fj_steal(w)) != NULL) /* fork-join frames (fj.c) */
        return counted(w, t, false);
    return counted(w, take_injected(w, TP_PRIORITY_LOW), true);
}

/* Whether any queue holds a task (R1 of the claim in pool_internal.h). */
static bool work_visible(tp_pool *p)
{
    for (int l = 0; l < TPI_LEVELS; l++)
        if (tpi_inject_nonempty(&p->inj[l]))
            return true;
    for (unsigned i = 0; i < p->nthreads; i++)
        if (tpi_deque_nonempty(&p->workers[i].dq) ||
            tpi_fj_visible(&p->workers[i].fj)) /* published frames (fj.c) */
            return true;
    return false;
}

/* ---- workers ------------------------------------------------------------------ */

/* Goes to sleep unless work has appeared or the pool is stopping.
 * Returns false when the worker should exit. */
static bool sleep_or_exit(tpi_worker *w)
{
    tp_pool *p = w->pool;
    pthread_mutex_lock(&p->mu);
    atomic_fetch_add_explicit(&p->sleepers, 1, memory_order_relaxed); /* W1 */
    tpi_fence(); /* F1: pairs with F2 in tpi_wake_some() */
    bool visible = work_visible(p);                                    /* R1 */
    bool leaving = atomic_load_explicit(&w->retire, memory_order_relaxed);
    if (visible || leaving || p->stopping != STOP_NONE) {
        atomic_fetch_sub_explicit(&p->sleepers, 1, memory_order_relaxed);
        pthread_mutex_unlock(&p->mu);
        return visible || leaving; /* one leaving does so from the loop */
    }
    idle_push(p, w); /* keeps W1's count */
    pthread_mutex_unlock(&p->mu);

    tpi_deadline forever = tpi_deadline_after_ms(-1);
    tpi_parker_park(&w->parker, &forever);

    pthread_mutex_lock(&p->mu);
    bool claimed = !w->idle; /* else woken by something other than a claim */
    if (w->idle)
        idle_remove(p, w);
    pthread_mutex_unlock(&p->mu);
    if (claimed)
        claim_settle(w);
    return true;
}

/* Names the thread "<prefix>-<index>", cut to the kernel's 15 bytes. */
static void name_thread(const tpi_worker *w)
{
#if defined(__linux__) && defined(__GLIBC__)
    char name[40];
    snprintf(name, sizeof name, "%s-%u", w->pool->name, w->index);
    name[15] = '\0';
    pthread_setname_np(pthread_self(), name);
#else
    (void)w;
#endif
}

/* Out of local work: looks elsewhere a few rounds before going to sleep,
 * as a wake-up costs far more than a short search when work arrives in
 * bursts.  While a worker searches, submitters need not wake anyone
 * (pool_internal.h); yielding between rounds leaves the CPU to them when
 * threads outnumber cores.  Returns a task, or NULL. */
static tpi_task *search(tpi_worker *w)
{
    tp_pool *p = w->pool;
    tpi_task *f = NULL;
    /* seq_cst: a submitter's R2 that reads this skips its wake. */
    atomic_fetch_add_explicit(&p->searching, 1, memory_order_seq_cst);
    for (int i = 0; i < TPI_SEARCH_ROUNDS && f == NULL; i++) {
        if (i > 0)
            sched_yield();
        f = find_work(w, true);
        if (atomic_load_explicit(&p->stop_flag, memory_order_relaxed))
            break;
    }
    /* S-: seq_cst, so that a submitter whose F2 follows this worker's F1
     * in S also reads the decrement (the claim in pool_internal.h). */
    atomic_fetch_sub_explicit(&p->searching, 1, memory_order_seq_cst);
    /* This searcher stops: if it was the last one and there is more work,
     * another worker should look. */
    if (f != NULL && work_visible(p))
        wake_one(p);
    return f;
}

/* Asked to leave (threads.c): runs what is left on its own deque, which
 * nobody else would pop, then leaves unless a resize kept it meanwhile. */
static bool leave(tpi_worker *w)
{
    tpi_task *t;
    while ((t = tpi_deque_pop(&w->dq)) != NULL)
        run_taken(w, counted(w, t, false));
    return tpi_threads_leave(w);
}

void *tpi_worker_main(void *arg)
{
    tpi_worker *w = arg;
    tp_pool *p = w->pool;
    tpi_self = w;
    name_thread(w);
    if (p->on_start != NULL)
        p->on_start(w->index, p->hook_ctx);

    pthread_mutex_lock(&p->mu);
    p->started_threads++;
    pthread_cond_broadcast(&p->state_cv);
    pthread_mutex_unlock(&p->mu);

    bool left = false;
    for (;;) {
        if (atomic_load_explicit(&w->retire, memory_order_relaxed) &&
            (left = leave(w)))
            break;
        tpi_task *f = find_local(w);
        if (f == NULL) {
            /* Out of local work: perhaps the whole pool is. */
            tpi_notify_if_idle(p);
            if ((f = search(w)) == NULL) {
                if (!sleep_or_exit(w))
                    break;
                continue;
            }
        }
        run_taken(w, f);
    }

    if (p->on_stop != NULL)
        p->on_stop(w->index, p->hook_ctx);
    tpi_futmem_thread_flush(); /* its cached futures go back */
    tpi_self = NULL;
    if (left) {
        /* Leaving in place of sleeping: F1 and R1 as sleep_or_exit() has
         * them, and a wake passed on for work seen (threads.c). */
        tpi_fence();
        tpi_threads_left(w, true, work_visible(p));
    }
    return NULL;
}

int tp_worker_index(void)
{
    return tpi_self != NULL ? (int)tpi_self->index : -1;
}

tpi_worker *tpi_worker_self(void)
{
    return tpi_self;
}

tpi_parker *tpi_worker_parker(tpi_worker *w)
{
    return &w->parker;
}

bool tpi_worker_help(tpi_worker *w)
{
    bool elsewhere = w->own.depth < TPI_MAX_HELP_DEPTH;
    tpi_task *f = find_work(w, elsewhere);
    if (f == NULL)
        return false;
    w->own.depth++;
    run_taken(w, f);
    w->own.depth--;
    return true;
}

bool tpi_worker_park_begin(tpi_worker *w)
{
    tp_pool *p = w->pool;
    pthread_mutex_lock(&p->mu);
    atomic_fetch_add_explicit(&p->sleepers, 1, memory_order_relaxed);
    tpi_fence();
    bool park = !work_visible(p);
    if (park)
        idle_push(p, w); /* keeps the count above (see idle_push()) */
    else
        atomic_fetch_sub_explicit(&p->sleepers, 1, memory_order_relaxed);
    pthread_mutex_unlock(&p->mu);
    return park;
}

void tpi_worker_park_end(tpi_worker *w)
{
    tp_pool *p = w->pool;
    bool pass = false;
    pthread_mutex_lock(&p->mu);
    if (w->idle)
        idle_remove(p, w);
    else
        pass = w->claimed;
    w->claimed = false;
    pthread_mutex_unlock(&p->mu);
    /* Claimed for new work, but it may leave to finish its own task: hand
     * the wake-up on rather than leave the work waiting. */
    if (pass) {
        claim_settle(w);
        wake_one(p);
    }
}

/* Fork-join (fj.c): wakes w, parked (tpi_worker_park_begin) for a frame
 * that the caller has just finished.  Only a worker still on the idle list
 * is unparked, taken off it first, both under mu: one that is not there is
 * awake, or claimed and about to be unparked by its claimer, and looks at
 * the frame again before it parks.  So this never wakes a claimed worker
 * early, while its claimer may still be reading its idle_next. */
void tpi_worker_unpark_waiting(tpi_worker *w)
{
    tp_pool *p = w->pool;
    pthread_mutex_lock(&p->mu);
    if (w->idle) {
        idle_remove(p, w);
        tpi_parker_unpark(&w->parker); /* mu -> parker mutex */
    }
    pthread_mutex_unlock(&p->mu);
}

