/*
 * future.c - task/future objects: state machine, settling, callbacks,
 * references.  What a running task may ask is task.c.
 * The design, the lock table and the lock order are described in future.h.
 */
#include "future.h"

#include <errno.h>
#include <pthread.h>

#include "alloc.h"
#include "fork.h"
#include "futmem.h"
#include "pool.h"

/* ---- the lock table ---------------------------------------------------- */

#define TPI_LOCKS 64 /* a power of two */
#define TPI_M1 PTHREAD_MUTEX_INITIALIZER
#define TPI_M4 TPI_M1, TPI_M1, TPI_M1, TPI_M1
#define TPI_M16 TPI_M4, TPI_M4, TPI_M4, TPI_M4
static pthread_mutex_t tpi_locks[TPI_LOCKS] = {TPI_M16, TPI_M16, TPI_M16,
                                               TPI_M16};

/* Condition variables beside the locks, for the rare waits on a future's
 * memory rather than its state (caller storage); CLOCK_MONOTONIC needs a
 * run-time initialisation. */
static pthread_cond_t tpi_conds[TPI_LOCKS];
static pthread_once_t tpi_conds_once = PTHREAD_ONCE_INIT;

static void init_conds(void)
{
    /* glibc's initialisation of a condition variable cannot fail; should
     * another libc's monotonic one fail, the default clock still works
     * (timed waits would then follow wall-clock changes). */
    for (int i = 0; i < TPI_LOCKS; i++)
        if (tpi_cond_init(&tpi_conds[i]) != 0)
            (void)pthread_cond_init(&tpi_conds[i], NULL);
}

/* fork(): the table's locks are taken around it, so that the child
 * inherits them free and can still use futures of pools it creates. */
static void locks_acquire(void)
{
    for (int i = 0; i < TPI_LOCKS; i++)
        pthread_mutex_lock(&tpi_locks[i]);
}

static void locks_release(void)
{
    for (int i = TPI_LOCKS; i-- > 0;)
        pthread_mutex_unlock(&tpi_locks[i]);
}

static pthread_once_t tpi_locks_fork_once = PTHREAD_ONCE_INIT;

static void install_fork_handlers(void)
{
    /* Out of memory: fork safety is lost, nothing else; see fork.c. */
    (void)pthread_atfork(locks_acquire, locks_release, locks_release);
}

void tpi_future_fork_install(void)
{
    pthread_once(&tpi_locks_fork_once, install_fork_handlers);
}

static unsigned slot_of(const tp_future *f)
{
    /* Fibonacci hashing of the address; the low bits are alignment. */
    uint64_t h = (uint64_t)(uintptr_t)f * 0x9E3779B97F4A7C15ull;
    return (unsigned)(h >> (64 - 6));
}

static pthread_mutex_t *lock_of(const tp_future *f)
{
    return &tpi_locks[slot_of(f)];
}

/* ---- creation and references ------------------------------------------- */


/* Ids: each thread takes a block of them from the global counter, so that
 * threads submitting at once do not fight over one cache line. */
#define TPI_ID_BLOCK 256
static _Atomic uint64_t tpi_next_id = 1;
static _Thread_local uint64_t tpi_id_next, tpi_id_end;

uint64_t tpi_ids_reserve(size_t n)
{
    return atomic_fetch_add_explicit(&tpi_next_id, n, memory_order_relaxed);
}

static uint64_t new_id(void)
{
    if (tpi_id_next == tpi_id_end) {
        tpi_id_next = atomic_fetch_add_explicit(&tpi_next_id, TPI_ID_BLOCK,
                                                memory_order_relaxed);
        tpi_id_end = tpi_id_next + TPI_ID_BLOCK;
    }
    return tpi_id_next++;
}

static void future_free(tp_future *f)
{
    if (tpi_future_has(f, TPI_K_HEAP))
        tpi_free(f);
    else
        tpi_futmem_free(f);
}

_Static_assert(sizeof(tp_future) <= TPI_FUTMEM_BLOCK,
               "a future fits a futmem block");
_Static_assert(sizeof(tp_future) + sizeof(tpi_future_ext) <=
                   TP_TASK_STORAGE_SIZE,
               "a future and its extension fit caller storage");

static tp_future *init_at(void *mem, unsigned kind, tp_task_fn fn,
                          void *arg, struct tp_pool *pool, uint32_t refs)
{
    tp_future *f = mem;
    atomic_init(&f->state,
                TP_PENDING | (uint32_t)tpi_gen_now() << TPI_GEN_SHIFT);
    atomic_init(&f->refs, refs);
    f->task.next = NULL;
    f->task.fn = fn;
    f->task.arg = arg;
    f->task.idk = new_id() << TPI_K_BITS | TPI_K_FUTURE | kind;
    f->out.error = 0; /* tp_task_fail() writes here while it runs */
    f->pool = pool;
    f->listeners = NULL;
    return f;
}

tp_future *tpi_future_init(void *mem, tp_task_fn fn, void *arg,
                           struct tp_pool *pool, uint32_t refs)
{
    return init_at(mem, TPI_K_INPLACE, fn, arg, pool, refs);
}

void tpi_task_init(tpi_task *t, tp_task_fn fn, void *arg)
{
    t->next = NULL;
    t->fn = fn;
    t->arg = arg;
    t->idk = new_id() << TPI_K_BITS;
}

tp_future *tpi_future_new(tp_task_fn fn, void *arg, struct tp_pool *pool,
                          uint32_t refs)
{
    bool heap;
    void *mem = tpi_futmem_alloc(&heap);
    if (mem == NULL)
        return NULL;
    return init_at(mem, heap ? TPI_K_HEAP : 0u, fn, arg, pool, refs);
}

tp_future *tpi_future_new_dl(tp_task_fn fn, void *arg, struct tp_pool *pool,
                             uint32_t refs, uint64_t deadline_ns)
{
    if (deadline_ns == 0)
        return tpi_future_new(fn, arg, pool, refs);
    void *mem = tpi_malloc(sizeof(tp_future) + sizeof(tpi_future_ext));
    if (mem == NULL)
        return NULL;
    tp_future *f = init_at(mem, TPI_K_HEAP, fn, arg, pool, refs);
    tpi_future_put_deadline(f, deadline_ns);
    return f;
}

void tpi_future_discard(tp_future *f)
{
    if (!tpi_future_inplace(f))
        future_free(f);
}

void tpi_future_pool_release(tp_future *f)
{
    if (!tpi_future_inplace(f)) {
        tp_future_release(f);
        return;
    }
    /* After the exchange this thread must not touch f: the caller may
     * reuse the memory as soon as it sees DONE.  The slot is the address's,
     * not the memory's.  Release: everything the pool did with f.  The
     * pool's reference in refs is left as it is: caller storage is never
     * freed, so nothing acts on that count, and TPI_POOL_DONE says the
     * pool has let go (one RMW per task, as for a future the pool frees). */
    unsigned slot = slot_of(f);
    uint32_t old = atomic_fetch_or_explicit(&f->refs, TPI_POOL_DONE,
                                            memory_order_acq_rel);
    if (old & TPI_POOL_WAITER) {
        /* The waiter set WAITER under this lock and waits under it. */
        pthread_once(&tpi_conds_once, init_conds);
        pthread_mutex_lock(&tpi_locks[slot]);
        pthread_cond_broadcast(&tpi_conds[slot]);
        pthread_mutex_unlock(&tpi_locks[slot]);
    }
}

int tpi_future_wait_pool(tp_future *f, const tpi_deadline *dl)
{
    if (tpi_future_pool_done(f))
        return 0;
    pthread_once(&tpi_conds_once, init_conds);
    unsigned slot = slot_of(f);
    int rc = 0;
    pthread_mutex_lock(&tpi_locks[slot]);
    /* Either this RMW sees DONE, or the releasing thread's exchange sees
     * WAITER and broadcasts under the lock held here until the wait. */
    uint32_t s = atomic_fetch_or_explicit(&f->refs, TPI_POOL_WAITER,
                                          memory_order_acq_rel);
    while (!(s & TPI_POOL_DONE)) {
        int w = tpi_cond_wait(&tpi_conds[slot], &tpi_locks[slot], dl);
        s = atomic_load_explicit(&f->refs, memory_order_acquire);
        if (w == ETIMEDOUT && !(s & TPI_POOL_DONE)) {
            rc = TP_ETIMEDOUT;
            break;
        }
    }
    pthread_mutex_unlock(&tpi_locks[slot]);
    return rc;
}

/* Stores the outcome of a settle to `to` in f->out. */
static void put_outcome(tp_future *f, tp_state to, void *result, int error)
{
    if (to == TP_COMPLETED)
        f->out.result = result;
    else
        f->out.error = error;
}

tp_future *tpi_promise_new(uint32_t refs)
{
    return tpi_future_new(NULL, NULL, NULL, refs);
}

bool tpi_promise_settle(tp_future *f, tp_state to, void *result, int error)
{
    /* The fields are written before the CAS that publishes the state; a
     * racing settle (a cancel) loses nothing it can observe, as readers
     * look at result and error only once they see COMPLETED/FAILED, and
     * only this path can produce those for a promise. */
    if (tp_future_state(f) != TP_PENDING)
        return false;
    put_outcome(f, to, result, error);
    return tpi_future_settle(f, TP_PENDING, to);
}

/* ---- promises: futures their holder settles ------------------------------- */

int tp_promise_create(tp_future **out)
{
    if (out == NULL)
        return TP_EINVAL;
    tp_future *f = tpi_promise_new(1);
    if (f == NULL)
        return TP_ENOMEM;
    tpi_future_mark(f, TPI_K_PROMISE);
    *out = f;
    return 0;
}

static bool settle_word(tp_future *f, tp_state from, uint32_t to);

/* What a settle keeps of the word. */
#define TPI_KEEP (TPI_F_STARTED | TPI_GEN_BITS)

/* Settles a promise made by tp_promise_create(), once, whoever races.
 * The settler first claims it (PENDING -> RUNNING, without STARTED: no
 * function runs), so that only one of several racing settlers writes
 * result and error; a cancel that comes while it is claimed is a stop
 * request, which the settle below ignores, as a promise has nothing to
 * stop. */
static int promise_settle(tp_future *f, uint32_t to, void *result, int error)
{
    if (f == NULL || !tpi_future_has(f, TPI_K_PROMISE))
        return TP_EINVAL;
    uint32_t s = atomic_load_explicit(&f->state, memory_order_relaxed);
    do {
        if (tpi_state_of(s) != TP_PENDING)
            return TP_EALREADY;
    } while (!atomic_compare_exchange_weak_explicit(
        &f->state, &s, (s & ~TPI_STATE_MASK) | TP_RUNNING,
        memory_order_acquire, memory_order_relaxed));
    put_outcome(f, tpi_state_of(to), result, error);
    settle_word(f, TP_RUNNING, to);
    return 0;
}

int tp_promise_complete(tp_future *f, void *result)
{
    return promise_settle(f, TP_COMPLETED, result, 0);
}

int tp_promise_fail(tp_future *f, int code)
{
    if (code == 0)
        return TP_EINVAL;
    /* TP_EEXPIRED is a start deadline that passed: CANCELLED, as for a
     * task (tp_future_error() reads the flag). */
    uint32_t to = code == TP_ECANCELED   ? TP_CANCELLED
                  : code == TP_EEXPIRED ? TP_CANCELLED | TPI_F_EXPIRED
                                        : TP_FAILED;
    return promise_settle(f, to, NULL, code);
}

int tp_future_retain(tp_future *f)
{
    if (f == NULL)
        return TP_EINVAL;
    atomic_fetch_add_explicit(&f->refs, 1, memory_order_relaxed);
    return 0;
}

int tp_future_release(tp_future *f)
{
    if (f == NULL)
        return TP_EINVAL;
    /* acq_rel: every owner's last use happens before the free. */
    if (atomic_fetch_sub_explicit(&f->refs, 1, memory_order_acq_rel) == 1 &&
        !tpi_future_inplace(f))
        future_free(f);
    return 0;
}

/* ---- settling ------------------------------------------------------------ */

/* Runs the callbacks of `list`, linked through node.next, in its order. */
static void run_callbacks(tp_future *f, tpi_callback *list)
{
    while (list != NULL) {
        tpi_callback *next = (tpi_callback *)(void *)list->node.next;
        bool heap = list->heap;
        list->fn(f, list->ctx);
        if (heap)
            tpi_free(list);
        list = next;
    }
}

bool tpi_future_settle(tp_future *f, tp_state from, tp_state to)
{
    return settle_word(f, from, (uint32_t)to);
}

bool tpi_future_expire(tp_future *f)
{
    return settle_word(f, TP_PENDING, TP_CANCELLED | TPI_F_EXPIRED);
}

/* Moves f from `from` to the final word `to` (a state, maybe with
 * TPI_F_EXPIRED); see tpi_future_settle(). */
static bool settle_word(tp_future *f, tp_state from, uint32_t to)
{
    /* A queued task settled without running is accounted for here (see
     * Accounting in future.h).  Read before the CAS: once the task is
     * final, a worker may drop the pool's reference at any moment.  Not in
     * a forked child, whose copy of the pool is never touched. */
    struct tp_pool *acct = from == TP_PENDING &&
                                   tpi_future_has(f, TPI_K_QUEUED) &&
                                   tpi_future_gen(f) == tpi_gen_now()
                               ? f->pool
                               : NULL;
    uint32_t s = atomic_load_explicit(&f->state, memory_order_relaxed);
    /* Fast path: nobody listens, one CAS.  Release publishes result and
     * error to whoever later sees the final state with acquire. */
    while (!(s & TPI_F_LISTENERS)) {
        if (tpi_state_of(s) != from)
            return false;
        /* STARTED is kept (a periodic task between runs is PENDING with
         * it set: tpi_future_rearm), and so is the generation. */
        if (atomic_compare_exchange_weak_explicit(
                &f->state, &s, to | (s & TPI_KEEP), memory_order_acq_rel,
                memory_order_relaxed)) {
            if (acct != NULL)
                tpi_pool_settled_unrun(acct);
            return true;
        }
    }

    pthread_mutex_t *mu = lock_of(f);
    pthread_mutex_lock(mu);
    s = atomic_load_explicit(&f->state, memory_order_relaxed);
    do {
        /* Flags may still change under us (STOP is set without the lock). */
        if (tpi_state_of(s) != from) {
            pthread_mutex_unlock(mu);
            return false;
        }
    } while (!atomic_compare_exchange_weak_explicit(
        &f->state, &s, to | (s & TPI_KEEP), memory_order_acq_rel,
        memory_order_relaxed));
    /* The list is newest first; the callbacks are gathered in reverse, so
     * that they run in the order they were registered. */
    tpi_callback *cbs = NULL;
    for (tpi_listener *l = f->listeners, *next; l != NULL; l = next) {
        next = l->next;
        l->pprev = NULL;
        if (l->waiter) {
            /* Last touches of the node: once `fired` is set its owner may
             * return and reuse its stack. */
            tpi_waiter *w = (tpi_waiter *)(void *)l;
            tpi_parker_unpark_flag(w->parker, &w->fired);
        } else {
            l->next = cbs != NULL ? &cbs->node : NULL;
            cbs = (tpi_callback *)(void *)l;
        }
    }
    f->listeners = NULL;
    pthread_mutex_unlock(mu);

    if (acct != NULL)
        tpi_pool_settled_unrun(acct);
    run_callbacks(f, cbs);
    return true;
}

bool tpi_future_start(tp_future *f)
{
    uint32_t s = atomic_load_explicit(&f->state, memory_order_relaxed);
    do {
        if (tpi_state_of(s) != TP_PENDING)
            return false;
    } while (!atomic_compare_exchange_weak_explicit(
        &f->state, &s, (s & ~TPI_STATE_MASK) | TP_RUNNING | TPI_F_STARTED,
        memory_order_acquire, memory_order_relaxed));
    return true;
}

void tpi_future_execute(tp_future *f)
{
    /* A waiting worker runs tasks nested: restore what it was running. */
    tpi_running_ctx outer =
        tpi_running_enter(f, tpi_future_id_of(f), f->pool);
    void *result = f->task.fn(f->task.arg);
    tpi_running_leave(outer);
    int error = f->out.error; /* tp_task_fail()'s, 0 if none */

    tp_state to = TP_COMPLETED;
    if (error == TP_ECANCELED && tpi_stop_requested(f))
        to = TP_CANCELLED;
    else if (error != 0)
        to = TP_FAILED;
    put_outcome(f, to, result, error);
    /* The final word keeps STARTED (tp_future_started()). */
    settle_word(f, TP_RUNNING, (uint32_t)to | TPI_F_STARTED);
}

bool tpi_future_rearm(tp_future *f)
{
    uint32_t s = atomic_load_explicit(&f->state, memory_order_relaxed);
    do {
        if (tpi_state_of(s) != TP_RUNNING || (s & TPI_F_STOP))
            return false;
    } while (!atomic_compare_exchange_weak_explicit(
        &f->state, &s, (s & ~TPI_STATE_MASK) | TP_PENDING,
        memory_order_acq_rel, memory_order_relaxed));
    return true;
}

bool tpi_future_run(tp_future *f)
{
    if (!tpi_future_start(f))
        return false;
    tpi_future_execute(f);
    return true;
}

/* ---- listeners ------------------------------------------------------------ */

/* Sets LISTENERS unless f is final; the caller holds f's lock. */
static bool mark_listened(tp_future *f)
{
    uint32_t old = atomic_fetch_or_explicit(&f->state, TPI_F_LISTENERS,
                                            memory_order_acq_rel);
    /* A final word never changes, so a flag set on one is never seen:
     * settlers look at the flag only before they settle. */
    return !tpi_is_final(old);
}

/* Links l first in f's list; the caller holds f's lock. */
static void link_listener(tp_future *f, tpi_listener *l)
{
    l->next = f->listeners;
    if (l->next != NULL)
        l->next->pprev = &l->next;
    l->pprev = &f->listeners;
    f->listeners = l;
}

bool tpi_future_add_waiter(tp_future *f, tpi_waiter *w)
{
    pthread_mutex_t *mu = lock_of(f);
    pthread_mutex_lock(mu);
    bool linked = mark_listened(f);
    w->node.waiter = true;
    w->fired = false; /* not yet visible to any settler */
    if (linked)
        link_listener(f, &w->node);
    else
        w->node.pprev = NULL;
    pthread_mutex_unlock(mu);
    return linked;
}

void tpi_future_remove_waiter(tp_future *f, tpi_waiter *w)
{
    /* A woken waiter usually finds its node fired and so need not take the
     * lock, which its settler may still hold (it wakes waiters under it):
     * that contention cost a whole extra sleep and wake-up. */
    if (tpi_parker_flag(w->parker, &w->fired))
        return;
    pthread_mutex_t *mu = lock_of(f);
    pthread_mutex_lock(mu);
    tpi_listener *l = &w->node;
    if (l->pprev != NULL) {
        *l->pprev = l->next;
        if (l->next != NULL)
            l->next->pprev = l->pprev;
        l->pprev = NULL;
    }
    pthread_mutex_unlock(mu);
}

void tpi_future_add_callback(tp_future *f, tpi_callback *cb)
{
    pthread_mutex_t *mu = lock_of(f);
    pthread_mutex_lock(mu);
    bool linked = mark_listened(f);
    cb->node.waiter = false;
    if (linked)
        link_listener(f, &cb->node);
    pthread_mutex_unlock(mu);
    if (!linked) {
        cb->node.next = NULL;
        run_callbacks(f, cb);
    }
}

int tp_future_on_done(tp_future *f, tp_done_fn fn, void *ctx)
{
    if (f == NULL || fn == NULL)
        return TP_EINVAL;
    tpi_callback *cb = tpi_malloc(sizeof *cb);
    if (cb == NULL)
        return TP_ENOMEM;
    cb->fn = fn;
    cb->ctx = ctx;
    cb->heap = true;
    tpi_future_add_callback(f, cb);
    return 0;
}

/* ---- queries and cancel ---------------------------------------------------- */

uint64_t tp_future_id(const tp_future *f)
{
    return f == NULL ? 0 : tpi_future_id_of(f);
}

tp_state tp_future_state(const tp_future *f)
{
    if (f == NULL)
        return TP_PENDING;
    return tpi_state_of(atomic_load_explicit(&f->state, memory_order_acquire));
}

int tp_future_error(const tp_future *f)
{
    if (f == NULL)
        return 0;
    uint32_t s = atomic_load_explicit(&f->state, memory_order_acquire);
    switch (tpi_state_of(s)) {
    case TP_FAILED:
        return f->out.error;
    case TP_CANCELLED:
        return (s & TPI_F_EXPIRED) ? TP_EEXPIRED : TP_ECANCELED;
    default:
        return 0;
    }
}

int tp_future_started(const tp_future *f)
{
    if (f == NULL)
        return 0;
    uint32_t s = atomic_load_explicit(&f->state, memory_order_acquire);
    return (s & TPI_F_STARTED) != 0;
}

const char *tp_state_name(tp_state state)
{
    switch (state) {
    case TP_PENDING:
        return "pending";
    case TP_RUNNING:
        return "running";
    case TP_COMPLETED:
        return "completed";
    case TP_FAILED:
        return "failed";
    case TP_CANCELLED:
        return "cancelled";
    }
    return "unknown";
}

int tp_future_cancel(tp_future *f)
{
    if (f == NULL)
        return TP_EINVAL;
    uint32_t s = atomic_load_explicit(&f->state, memory_order_acquire);
    for (;;) {
        switch (tpi_state_of(s)) {
        case TP_PENDING:
            if (tpi_future_settle(f, TP_PENDING, TP_CANCELLED))
                return 0;
            /* A worker started it meanwhile: ask it to stop instead. */
            s = atomic_load_explicit(&f->state, memory_order_acquire);
            continue;
        case TP_RUNNING:
            if (atomic_compare_exchange_weak_explicit(
                    &f->state, &s, s | TPI_F_STOP, memory_order_acq_rel,
                    memory_order_acquire))
                return TP_EBUSY;
            continue;
        default:
            return TP_EALREADY;
        }
    }
}
