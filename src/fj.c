/*
 * fj.c - fork-join frames: tp_spawn, tp_sync, tp_fj_run, and the split
 * deque they use (fj.h has the layout and the protocol; model/fj.pml
 * checks it).
 *
 * Costs.  A spawn that nobody steals is a handful of plain stores and two
 * loads (the worker's `want` flag with a relaxed load); its sync is a
 * compare and a direct call.  Neither allocates, takes a lock, or does an
 * atomic read-modify-write or a fence.  Those happen only when the frame
 * meets a thief: publishing (a fetch_add, then tpi_wake_some's fence),
 * reclaiming a public frame (a CAS), stealing (a CAS), and completing or
 * waiting for a stolen frame (an RMW on the frame's state, parking).
 *
 * Memory orders.
 *   - slot[i], fn, arg: written by the owner while frame i is private,
 *     then made public by a release RMW of ts (publish).  A thief reads
 *     them only after its acquire CAS of ts claimed index i; that CAS reads
 *     the publish or a later RMW in its release sequence (every write to
 *     ts is an RMW except the reset, which publishes nothing), so it
 *     happens after the writes.  The owner writes slot[i] again only once
 *     head is back at i, i.e. after it synced the frame there: either it
 *     reclaimed it (no thief read it) or it waited for DONE (acquire),
 *     which the thief sets after its last read.  A sync of a stolen frame
 *     therefore keeps head above the frame's slot while it waits (the
 *     frames it spawns while helping go above): the thief may still be
 *     between its claim and its read of the slot.  So slots and frames
 *     need no atomics.
 *   - result: written by the thief, then DONE with release; the owner
 *     reads it after seeing DONE with acquire.
 *   - ts is one word so that a thief's CAS fails if the owner moved the
 *     split meanwhile (and the owner's CAS fails if a thief moved the
 *     tail): each public index is claimed by exactly one of them.  With
 *     separate words, a thief could read an old split just before the owner
 *     took the frame back, and both would run it.
 *
 * No lost wake-up, for a worker that waits for a stolen frame.  The owner
 * parks as an idle worker (tpi_worker_park_begin, so that new work wakes
 * it too), then sets WAITING in the frame's state with an RMW, and parks
 * only if that RMW saw DONE still clear.  The thief sets DONE with an RMW;
 * if it saw WAITING it wakes the owner (tpi_worker_unpark_waiting).  The
 * two RMWs are ordered on that word.  If DONE comes first, the owner sees
 * it and does not park.  Otherwise the owner's idle-list entry happens
 * before the thief's RMW (acq_rel), hence before the thief takes mu; there
 * the thief finds the owner either still listed, and unparks it (the
 * parker keeps the token if it has not parked yet), or taken off the list
 * by a submitter that claimed it (who unparks it) or by itself (awake).
 * An awake owner loops, and sees DONE at the latest with the RMW it makes
 * before parking again.
 *
 * No lost wake-up, for idle workers.  They find published frames through
 * the pool's protocol (pool_internal.h): a publish is a "push" followed by
 * tpi_wake_some (F2, R2), and work_visible() (R1) looks at every worker's
 * public frames.  Private frames are not work for that claim: only their
 * owner can run them, and it will, before its function returns (it syncs
 * them); a worker whose task waits makes them public (tpi_fj_offer).
 */
#include <stddef.h>

#include "pool_internal.h"

#if defined(__GNUC__)
#define TPI_LIKELY(x) __builtin_expect(!!(x), 1)
#define TPI_UNLIKELY(x) __builtin_expect(!!(x), 0)
/* Kept out of line, so that the fast paths stay leaf functions that save
 * no registers. */
#define TPI_COLD __attribute__((noinline, cold))
#else
#define TPI_LIKELY(x) (x)
#define TPI_UNLIKELY(x) (x)
#define TPI_COLD
#endif

_Static_assert(sizeof(tpi_fj_frame) <= sizeof(tp_fj_frame),
               "tp_fj_frame too small");
_Static_assert(_Alignof(tpi_fj_frame) <= _Alignof(tp_fj_frame),
               "tp_fj_frame under-aligned");
_Static_assert(_Alignof(tpi_worker) > TPI_FJ_FLAGS,
               "worker pointers must leave the state flags free");
_Static_assert(TPI_FJ_CAP < UINT32_MAX, "indices are 32 bits");

/* The calling worker's deque, NULL when the thread is no worker. */
static inline tpi_fj *fj_self(void)
{
    tpi_worker *w = tpi_self;
    return w != NULL ? &w->fj : NULL;
}

static inline tpi_fj_frame *frame_of(tp_fj_frame *f)
{
    return (tpi_fj_frame *)(void *)f;
}

static inline uint64_t pack(uint32_t tail, uint32_t split)
{
    return (uint64_t)split << 32 | tail;
}

static inline uint32_t tail_of(uint64_t ts)
{
    return (uint32_t)ts;
}

static inline uint32_t split_of(uint64_t ts)
{
    return (uint32_t)(ts >> 32);
}

static tpi_worker *worker_of(tpi_fj *q)
{
    return q->self;
}

void tpi_fj_init(tpi_worker *w)
{
    tpi_fj *q = &w->fj;
    atomic_init(&q->ts, 0);
    atomic_init(&q->want, 0);
    q->head = 0;
    q->split = 0;
    q->self = w;
    q->victim = NULL;
    q->carrier.next = NULL;
    q->carrier.fn = tpi_fj_carrier;
    q->carrier.arg = NULL;
    q->carrier.idk = 0; /* id 0, no future: a frame is no task of its own */
}

void *tpi_fj_carrier(void *arg)
{
    return arg;
}

/* ---- owner: publish, reset, reclaim ------------------------------------- */

/* Makes the k oldest private frames public and wakes a sleeper to take
 * them.  Owner only, k <= head - split. */
static void publish(tpi_fj *q, uint32_t k)
{
    /* Release: the frames and their slots, to the thief whose CAS reads
     * this (or a later RMW of its release sequence).  The split is the
     * high half: the addition leaves tail alone. */
    atomic_fetch_add_explicit(&q->ts, (uint64_t)k << 32, memory_order_release);
    q->split += k;
    atomic_store_explicit(&q->want, 0, memory_order_relaxed);
    tp_pool *p = worker_of(q)->pool;
    if (!tpi_forked(p)) /* a child has no thieves, and mu may be stale */
        tpi_wake_some(p, 1);
}

/* Spawn's slow path, after the new frame is on the deque: reset a frozen
 * ts (every older frame stolen) and serve a publish request.  Returns 0
 * (tp_spawn's result). */
TPI_COLD static int spawn_slow(tpi_fj *q)
{
    uint32_t h = q->head - 1; /* the new frame */
    if (q->split > h) {
        /* ts is tail == split > h, which no thief can change (a claim
         * needs tail < split): a plain store is safe.  It publishes
         * nothing, so it need not release anything either. */
        q->split = h;
        atomic_store_explicit(&q->ts, pack(h, h), memory_order_relaxed);
    }
    if (atomic_load_explicit(&q->want, memory_order_relaxed))
        publish(q, (q->head - q->split + 1) / 2);
    return 0;
}

/* The owner syncs frame h == split - 1, which is public: takes it back
 * (true) unless a thief has claimed it (false).  On success the newer half
 * of the public frames is private again, so that the syncs that follow
 * (older frames) are fast again. */
static bool reclaim(tpi_fj *q, uint32_t h)
{
    uint64_t ts = atomic_load_explicit(&q->ts, memory_order_relaxed);
    for (;;) {
        uint32_t t = tail_of(ts), s = split_of(ts);
        if (t > h)
            return false; /* stolen: ts stays frozen at t == s (reset) */
        uint32_t ns = t + (s - t) / 2; /* t <= ns <= h */
        if (atomic_compare_exchange_weak_explicit(
                &q->ts, &ts, pack(t, ns), memory_order_relaxed,
                memory_order_relaxed)) {
            q->split = ns;
            return true;
        }
        /* A thief moved tail: look again. */
    }
}

/* ---- thieves --------------------------------------------------------------- */

enum { STEAL_EMPTY, STEAL_OK, STEAL_RETRY };

/* Claims the oldest public frame of v.  With nothing public, asks v to
 * publish (written only when not yet asked: the line stays shared). */
static int steal_from(tpi_fj *v, tpi_fj_frame **out)
{
    uint64_t ts = atomic_load_explicit(&v->ts, memory_order_relaxed);
    uint32_t t = tail_of(ts), s = split_of(ts);
    if (t >= s) {
        if (!atomic_load_explicit(&v->want, memory_order_relaxed))
            atomic_store_explicit(&v->want, 1, memory_order_relaxed);
        return STEAL_EMPTY;
    }
    /* Acquire: the frame and its slot (see the top). */
    if (!atomic_compare_exchange_strong_explicit(&v->ts, &ts, pack(t + 1, s),
                                                 memory_order_acquire,
                                                 memory_order_relaxed))
        return STEAL_RETRY;
    *out = v->slot[t];
    return STEAL_OK;
}

/* Runs a frame claimed from owner's deque, as its thief w.  A frame is part
 * of the task that spawned it, not a task of its own: it runs with no
 * future, so tp_task_fail() is ignored here and tp_task_stop_requested()
 * reports an immediate shutdown of the pool. */
static void run_stolen(tpi_worker *w, tpi_worker *owner, tpi_fj_frame *fr)
{
    /* Who runs it, for the owner to steal back from (a hint: relaxed). */
    atomic_fetch_or_explicit(&fr->state, (uintptr_t)w, memory_order_relaxed);
    tpi_running_ctx outer = tpi_running_enter(NULL, 0, w->pool);
    void *r = fr->fn(fr->arg);
    tpi_running_leave(outer);
    fr->result = r;
    /* The last access to the frame: the owner may return as soon as it
     * sees DONE.  The owner's parker is in its worker, which outlives it. */
    uintptr_t old = atomic_fetch_or_explicit(&fr->state, TPI_FJ_DONE,
                                             memory_order_acq_rel);
    if (old & TPI_FJ_WAITING)
        tpi_worker_unpark_waiting(owner);
}

void tpi_fj_run_carrier(tpi_worker *w, tpi_task *carrier)
{
    run_stolen(w, w->fj.victim, carrier->arg);
}

void tpi_fj_offer_slow(tpi_fj *q)
{
    publish(q, q->head - q->split);
}

tpi_task *tpi_fj_steal(tpi_worker *w)
{
    tpi_fj *q = &w->fj;
    tp_pool *p = w->pool;
    unsigned n = p->nthreads;
    unsigned start = (unsigned)(tpi_worker_rand(w) % n);
    for (int round = 0; round < 2; round++) {
        bool retry = false;
        /* Others first (their frames are what idle workers are for), w's
         * own public frames last. */
        for (unsigned i = 0; i < n; i++) {
            tpi_worker *v = &p->workers[(start + i) % n];
            if (v == w)
                continue;
            tpi_fj_frame *fr;
            int rc = steal_from(&v->fj, &fr);
            if (rc == STEAL_OK) {
                q->victim = v;
                q->carrier.arg = fr;
                return &q->carrier;
            }
            retry |= rc == STEAL_RETRY;
        }
        if (q->head > 0 && tpi_fj_visible(q)) {
            tpi_fj_frame *fr;
            int rc = steal_from(q, &fr);
            if (rc == STEAL_OK) {
                q->victim = w;
                q->carrier.arg = fr;
                return &q->carrier;
            }
            retry |= rc == STEAL_RETRY;
        }
        if (!retry)
            break;
    }
    return NULL;
}

/* ---- sync of a stolen frame ------------------------------------------------ */

/* Waits for the thief of fr to finish it.  Meanwhile w runs other work:
 * first frames from the thief's deque, which belong to fr's own subtree
 * while the thief is busy with it ("leapfrogging": it shortens the wait
 * and keeps w's stack bounded), then anything the scheduler finds; with
 * nothing to do it parks (see "No lost wake-up" at the top). */
static void *join_stolen(tpi_worker *w, tpi_fj_frame *fr)
{
    for (;;) {
        uintptr_t s = atomic_load_explicit(&fr->state, memory_order_acquire);
        if (s & TPI_FJ_DONE)
            break;
        tpi_worker *thief = (tpi_worker *)(s & ~TPI_FJ_FLAGS);
        if (thief != NULL && thief != w) {
            tpi_fj_frame *sub;
            if (steal_from(&thief->fj, &sub) == STEAL_OK) {
                run_stolen(w, thief, sub);
                continue;
            }
        }
        if (tpi_worker_help(w))
            continue;
        if (!tpi_worker_park_begin(w))
            continue; /* work appeared: go and run it */
        s = atomic_fetch_or_explicit(&fr->state, TPI_FJ_WAITING,
                                     memory_order_acq_rel);
        if (!(s & TPI_FJ_DONE)) {
            tpi_deadline forever = tpi_deadline_after_ms(-1);
            tpi_parker_park(tpi_worker_parker(w), &forever);
        }
        tpi_worker_park_end(w);
    }
    return fr->result;
}

/* ---- the API ------------------------------------------------------------------ */

/* Runs fr at once: the caller is no worker, or its deque is full. */
TPI_COLD static int run_now(tpi_fj_frame *fr, tp_task_fn fn, void *arg)
{
    fr->result = fn(arg);
    fr->fn = NULL; /* tp_sync(): nothing to do but return the result */
    return 0;
}

/* Pushes fr at index h (< TPI_FJ_CAP) of the calling worker's deque. */
static inline int push(tpi_fj *q, uint32_t h, tpi_fj_frame *fr,
                       tp_task_fn fn, void *arg)
{
    fr->fn = fn;
    fr->arg = arg;
    atomic_store_explicit(&fr->state, 0, memory_order_relaxed);
    q->slot[h] = fr;
    q->head = h + 1;
    /* h < split: ts is frozen after a steal (reset); want: a thief asked. */
    if (TPI_UNLIKELY(h < q->split ||
                     atomic_load_explicit(&q->want, memory_order_relaxed)))
        return spawn_slow(q);
    return 0;
}

/* tp_spawn() outside a pool's workers (the call is made at once), and
 * with bad arguments there. */
TPI_COLD static int spawn_outside(tpi_fj_frame *fr, tp_task_fn fn,
                                  void *arg)
{
    if (fr == NULL || fn == NULL)
        return TP_EINVAL;
    return run_now(fr, fn, arg);
}

int tp_spawn(tp_fj_frame *frame, tp_task_fn fn, void *arg)
{
    tpi_fj_frame *fr = frame_of(frame);
    tpi_fj *q = fj_self();
    if (TPI_UNLIKELY(q == NULL))
        return spawn_outside(fr, fn, arg);
    /* Apart: the compiler then tests and branches, no setcc chain. */
    if (TPI_UNLIKELY(frame == NULL))
        return TP_EINVAL;
    if (TPI_UNLIKELY(fn == NULL))
        return TP_EINVAL;
    uint32_t h = q->head;
    if (TPI_UNLIKELY(h >= TPI_FJ_CAP))
        return run_now(fr, fn, arg);
    return push(q, h, fr, fn, arg);
}

TPI_COLD static void *sync_slow(tpi_fj *q, tpi_fj_frame *fr);

void *tp_sync(tp_fj_frame *frame)
{
    tpi_fj_frame *fr = frame_of(frame);
    tp_task_fn fn = fr->fn;
    if (TPI_UNLIKELY(fn == NULL))
        return fr->result; /* ran at spawn */
    /* fn set: tp_spawn() pushed fr on this thread's deque (the spawning
     * thread syncs), so the thread is a worker. */
    tpi_fj *q = fj_self();
    uint32_t h = q->head;
    if (TPI_LIKELY(h > q->split)) { /* the newest frame is private */
        q->head = h - 1;
        return fn(fr->arg);
    }
    return sync_slow(q, fr);
}

TPI_COLD static void *sync_slow(tpi_fj *q, tpi_fj_frame *fr)
{
    if (q->head == 0)
        return NULL; /* not spawned by this thread: a misuse */
    /* fr is this worker's newest frame (strict nesting), and public or
     * stolen: the private part is empty. */
    uint32_t h = q->head - 1;
    if (reclaim(q, h)) {
        q->head = h;
        return fr->fn(fr->arg);
    }
    /* Stolen.  Its slot stays taken until the thief is done: the thief
     * may read it after its claim (it may not have yet), so the frames
     * this worker spawns while it waits go above it.  There ts == head
     * (tail == split == h + 1) or ts is frozen above: no reset needed. */
    void *r = join_stolen(worker_of(q), fr);
    q->head = h;
    return r;
}

/* tp_fj_run's task on the pool: the computation's root. */
typedef struct fj_root {
    tp_task_fn fn;
    void *arg;
    void *result;
    tp_pool *pool;
} fj_root;

static void *run_root(void *arg)
{
    fj_root *r = arg;
    /* As for a stolen frame: the computation is no task of the caller's. */
    tpi_running_ctx outer = tpi_running_enter(NULL, 0, r->pool);
    r->result = r->fn(r->arg);
    tpi_running_leave(outer);
    return NULL;
}

int tp_fj_run(tp_pool *pool, tp_task_fn fn, void *arg, void **result)
{
    if (pool == NULL || fn == NULL)
        return TP_EINVAL;
    if (tpi_forked(pool))
        return TP_EFORKED;
    fj_root root = {fn, arg, NULL, pool};
    if (tpi_on_worker_of(pool)) {
        /* Already on the pool: the computation runs here, nested in the
         * calling task (its frames go on this worker's deque). */
        run_root(&root);
    } else {
        tp_future *f;
        int rc = tpi_submit_internal(pool, run_root, &root, &f);
        if (rc != 0)
            return rc;
        /* Blocks on the thread's parker; a worker of another pool helps
         * there meanwhile. */
        rc = tp_future_wait(f, -1);
        if (rc == 0 && tp_future_state(f) != TP_COMPLETED)
            rc = tp_future_error(f); /* cancelled before it started */
        tp_future_release(f);
        if (rc != 0)
            return rc;
    }
    if (result != NULL)
        *result = root.result;
    return 0;
}
