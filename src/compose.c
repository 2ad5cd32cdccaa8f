/*
 * compose.c - continuations that flatten a returned future
 * (tp_future_then_compose) and futures with a time limit
 * (tp_future_or_timeout), built from combine.c's pieces (combine.h): the
 * callbacks that do not recurse, settling one future as another ended.
 * As there, no lock of this module is held while a callback or a user
 * function runs.
 */
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "alloc.h"
#include "combine.h"
#include "fork.h"
#include "future.h"
#include "pool.h"
#include "timer.h"

/* ---- composition (then_compose) ----------------------------------------- */

/* A continuation whose function returns a future: `mid` is an ordinary
 * continuation (tp_future_then) whose result is that future, `inner`;
 * `out`, a promise, settles as inner does (or as mid does, if fn did not
 * run or did not give a future).  Exactly one path settles out: on_mid
 * when there is no inner, else on_inner.  Cancelling out cancels mid (so
 * fn never runs, or is asked to stop) and, with TP_COMBINE_CANCEL_INPUTS,
 * the source (through mid) and inner.  References: this call's, on_mid's,
 * on_out's, and on_inner's once registered; the node holds mid, out and
 * the reference to inner that fn handed over. */
typedef struct compose_node {
    tpi_item on_mid;
    tpi_item on_inner;
    tpi_item on_out;
    tp_future *mid;
    tp_future *out;
    _Atomic(tp_future *) inner;
    tp_compose_fn fn;
    void *ctx;
    tp_future *returned; /* what fn returned: written by mid's task before
                            mid settles, read by on_mid after */
    unsigned flags;
    _Atomic unsigned refs;
} compose_node;

static void compose_unref(compose_node *n)
{
    if (atomic_fetch_sub_explicit(&n->refs, 1, memory_order_acq_rel) != 1)
        return;
    tp_future *inner = atomic_load_explicit(&n->inner, memory_order_relaxed);
    if (inner != NULL)
        tp_future_release(inner);
    tp_future_release(n->mid);
    tp_future_release(n->out);
    tpi_free(n);
}

/* mid's function: the user's, whose future is mid's result. */
static void *compose_step(tp_future *source, void *ctx)
{
    compose_node *n = ctx;
    /* Kept in the node as well: should fn fail, mid keeps its error, not
     * this result, and compose_mid_settled() still has to drop it. */
    n->returned = n->fn(source, n->ctx);
    return n->returned;
}

static void compose_inner_settled(tpi_item *it)
{
    compose_node *n = TPI_CONTAINER_OF(it, compose_node, on_inner);
    tp_future *inner = atomic_load_explicit(&n->inner, memory_order_relaxed);
    void *result = NULL;
    (void)tp_future_get(inner, 0, &result);
    tpi_settle_like(n->out, inner, result);
    compose_unref(n);
}

static void compose_mid_settled(tpi_item *it)
{
    compose_node *n = TPI_CONTAINER_OF(it, compose_node, on_mid);
    tp_future *mid = n->mid;
    bool ran = tp_future_started(mid) != 0;
    /* What fn returned, whatever mid's outcome (read once mid is final). */
    tp_future *g = ran ? n->returned : NULL;
    if (tp_future_state(mid) != TP_COMPLETED || !ran) {
        /* fn did not run (a pass-through, a cancel) or failed: out
         * settles as mid did; a future fn returned all the same is
         * dropped. */
        void *result = NULL;
        (void)tp_future_get(mid, 0, &result);
        if (g != NULL)
            tp_future_release(g);
        tpi_settle_like(n->out, mid, result);
    } else if (g == NULL || tpi_future_inplace(g)) {
        if (g != NULL)
            tp_future_release(g);
        tpi_promise_settle(n->out, TP_FAILED, NULL, TP_EINVAL);
    } else {
        atomic_store_explicit(&n->inner, g, memory_order_release);
        /* A cancel of out that came before inner was known could not
         * reach it (compose_out_settled). */
        if ((n->flags & TP_COMBINE_CANCEL_INPUTS) &&
            tp_future_state(n->out) == TP_CANCELLED)
            tp_future_cancel(g);
        atomic_fetch_add_explicit(&n->refs, 1, memory_order_relaxed);
        tpi_future_add_callback(g, &n->on_inner.cb);
    }
    compose_unref(n);
}

static void compose_out_settled(tpi_item *it)
{
    compose_node *n = TPI_CONTAINER_OF(it, compose_node, on_out);
    if (tp_future_state(n->out) == TP_CANCELLED) {
        if (!tpi_future_done(n->mid))
            tp_future_cancel(n->mid);
        tp_future *g = atomic_load_explicit(&n->inner, memory_order_acquire);
        if (g != NULL && (n->flags & TP_COMBINE_CANCEL_INPUTS) &&
            !tpi_future_done(g))
            tp_future_cancel(g);
    }
    compose_unref(n);
}

int tp_future_then_compose(tp_future *source, tp_pool *pool, tp_compose_fn fn,
                           void *ctx, unsigned flags, tp_future **out)
{
    if (source == NULL || fn == NULL || out == NULL ||
        (flags & ~TPI_THEN_FLAGS) ||
        (flags & TP_THEN_ALWAYS && flags & TP_THEN_ON_FAILURE) ||
        tpi_future_inplace(source))
        return TP_EINVAL;
    tp_future *f;
    compose_node *n = tpi_alloc_with_out(sizeof *n, &f);
    if (n == NULL)
        return TP_ENOMEM;
    n->fn = fn;
    n->returned = NULL;
    n->ctx = ctx;
    n->flags = flags;
    n->out = f;
    atomic_init(&n->inner, NULL);
    int rc = tp_future_then(source, pool, compose_step, n, flags, &n->mid);
    if (rc != 0) {
        tpi_future_discard(f);
        tpi_free(n);
        return rc;
    }
    tpi_future_set_gen(f, tpi_future_gen(n->mid));
    /* This call's, on_mid's and on_out's. */
    atomic_init(&n->refs, 3);
    tpi_item_init(&n->on_mid, compose_mid_settled);
    tpi_item_init(&n->on_inner, compose_inner_settled);
    tpi_item_init(&n->on_out, compose_out_settled);
    *out = f;
    tpi_future_add_callback(f, &n->on_out.cb);
    tpi_future_add_callback(n->mid, &n->on_mid.cb);
    compose_unref(n);
    return 0;
}

/* ---- timeouts (or_timeout) ---------------------------------------------- */

/* `out` mirrors the source unless a timer of the pool (timer.c: no thread
 * per call) fires first.  Three parties may try to decide how out ends:
 * the source's callback, the timer (fire, or abandon at a shutdown), and a
 * cancel of out; `decided` lets exactly one of them act, so exactly one
 * thread settles out.  The one that decides also disarms the timer when
 * it is not the timer itself.  References: this call's, on_source's,
 * on_out's, and the timer's while armed (given up by fire or abandon, or
 * by whoever disarms it). */
typedef struct timeout_node {
    tpi_item on_source;
    tpi_item on_out;
    tpi_timer timer;
    tp_future *source;
    tp_future *out;
    unsigned flags;
    _Atomic bool decided;
    _Atomic unsigned refs;
} timeout_node;

static void timeout_unref(timeout_node *n)
{
    if (atomic_fetch_sub_explicit(&n->refs, 1, memory_order_acq_rel) != 1)
        return;
    tpi_timer_finish(&n->timer);
    tp_future_release(n->source);
    tp_future_release(n->out);
    tpi_free(n);
}

static bool timeout_decide(timeout_node *n)
{
    return !atomic_exchange_explicit(&n->decided, true, memory_order_acq_rel);
}

static timeout_node *timeout_of(tpi_timer *t)
{
    return TPI_CONTAINER_OF(t, timeout_node, timer);
}

static void timeout_fire(tpi_timer *t)
{
    timeout_node *n = timeout_of(t);
    if (timeout_decide(n)) {
        /* The source first: whoever sees out settled sees it cancelled. */
        if ((n->flags & TP_COMBINE_CANCEL_INPUTS) && !tpi_future_done(n->source))
            tp_future_cancel(n->source);
        tpi_promise_settle(n->out, TP_FAILED, NULL, TP_ETIMEDOUT);
    }
    timeout_unref(n);
}

static void timeout_abandon(tpi_timer *t, int code, tp_drop_fn drop, void *ctx)
{
    timeout_node *n = timeout_of(t);
    (void)drop; /* the library's own: nothing of the caller's to hand back */
    (void)ctx;
    if (timeout_decide(n))
        tpi_promise_settle(n->out, TP_FAILED, NULL, code);
    timeout_unref(n);
}

static const tpi_timer_ops timeout_ops = {timeout_fire, timeout_abandon};

static void timeout_source_settled(tpi_item *it)
{
    timeout_node *n = TPI_CONTAINER_OF(it, timeout_node, on_source);
    if (timeout_decide(n)) {
        if (tpi_timer_disarm(&n->timer))
            timeout_unref(n);
        void *result = NULL;
        (void)tp_future_get(n->source, 0, &result);
        tpi_settle_like(n->out, n->source, result);
    }
    timeout_unref(n);
}

static void timeout_out_settled(tpi_item *it)
{
    timeout_node *n = TPI_CONTAINER_OF(it, timeout_node, on_out);
    /* Settled CANCELLED with nobody having decided: a cancel of out. */
    if (tp_future_state(n->out) == TP_CANCELLED && timeout_decide(n)) {
        if (tpi_timer_disarm(&n->timer))
            timeout_unref(n);
        if ((n->flags & TP_COMBINE_CANCEL_INPUTS) && !tpi_future_done(n->source))
            tp_future_cancel(n->source);
    }
    timeout_unref(n);
}

int tp_future_or_timeout(tp_future *source, tp_pool *pool, int64_t timeout_ms,
                         unsigned flags, tp_future **out)
{
    if (source == NULL || pool == NULL || out == NULL || tpi_future_inplace(source) ||
        (flags & ~(unsigned)TP_COMBINE_CANCEL_INPUTS))
        return TP_EINVAL;
    if (tpi_pool_forked(pool))
        return TP_EFORKED;
    tp_future *f;
    timeout_node *n = tpi_alloc_with_out(sizeof *n, &f);
    if (n == NULL)
        return TP_ENOMEM;
    n->source = source;
    n->out = f;
    n->flags = flags;
    atomic_init(&n->decided, false);
    tpi_timer_init(&n->timer, &timeout_ops);
    tpi_item_init(&n->on_source, timeout_source_settled);
    tpi_item_init(&n->on_out, timeout_out_settled);
    /* A source already settled is mirrored at once, whatever the time.
     * With a timer (of this process's pool) out settles here even if the
     * source never does, so it keeps this generation. */
    bool arm = timeout_ms >= 0 && !tpi_future_done(source);
    atomic_init(&n->refs, arm ? 4u : 3u);
    tp_future_retain(source);
    if (arm) {
        if (timeout_ms > (int64_t)3155760000000) /* ~100 years */
            timeout_ms = (int64_t)3155760000000;
        uint64_t due = tpi_now_ns() + (uint64_t)timeout_ms * 1000000u;
        int rc = tpi_timer_arm(pool, &n->timer, due);
        if (rc != 0) {
            tp_future_release(source);
            tpi_future_discard(f);
            tpi_free(n);
            return rc;
        }
    } else if (tpi_stuck_after_fork(source, tpi_gen_now())) {
        /* no timer: settles only as the source */
        tpi_future_set_gen(f, tpi_future_gen(source));
    }
    *out = f;
    tpi_future_add_callback(f, &n->on_out.cb);
    tpi_future_add_callback(source, &n->on_source.cb);
    timeout_unref(n);
    return 0;
}
