/*
 * combine.c - futures made out of other futures: continuations
 * (tp_future_then) and combinators (tp_when_all, tp_when_any); the pieces
 * that compose.c (then_compose, or_timeout) builds on are shared through
 * combine.h.
 *
 * Everything here is driven by done-callbacks whose nodes are embedded in
 * the module's own objects (no allocation when a future settles), and by
 * atomics: no lock of this module is ever held, so none can be held while a
 * callback or a user function runs.
 *
 * Continuations
 * -------------
 * tp_future_then() allocates a node and the new future `out`.  `out` is a
 * task future (fn = then_body, arg = the node) that is never queued itself:
 * when the source settles, the node's callback either settles `out` directly
 * (the source failed or was cancelled and TP_THEN_ALWAYS is not set), or runs
 * it with tpi_future_run() - on this thread when there is no pool, or from a
 * small carrier task submitted to the pool.  Running `out` itself (rather
 * than a separate task whose outcome is copied to a promise) is what makes
 * tp_task_fail(), tp_task_stop_requested() and tp_task_id() inside the
 * continuation refer to `out`, and what lets tp_future_cancel(out) stop it.
 * The carrier is the one extra object per pooled continuation: the pool can
 * only queue futures it created.  A callback on the carrier notices when an
 * immediate shutdown cancels it before it ran, and then cancels `out`.
 *
 * Combinators
 * -----------
 * tp_when_all() and tp_when_any() allocate one block (the combiner, with a
 * callback node per input) and a promise.  when_all counts inputs down; the
 * one that brings the count to zero settles the promise, from the first
 * input that did not complete, if any: first among those that had settled
 * when the call began, in index order, else in the order their callbacks
 * ran.  when_any: the first input callback to claim `pick` settles the
 * promise.  So exactly one thread settles a given promise, as future.h
 * requires (tp_future_cancel() may race with it, which future.c allows).
 *
 * Which inputs had settled when the call began is decided once, before any
 * callback is registered (settled_snapshot()), and not by the order of
 * registration: an input still pending when its callback is registered may
 * settle, and run that callback, before the callbacks of inputs further on
 * that had settled long before are even registered (a cancelled input
 * counting after a failure that came later).  when_all seeds `pick` with
 * the snapshot's first input that did not complete, which no callback can
 * then replace; when_any registers the snapshot's lowest settled input
 * first, so that its callback, run at once, wins.
 *
 * Cancellation (TP_COMBINE_CANCEL_INPUTS) is a callback on the new future
 * itself: if it settles CANCELLED and the combinator did not settle it, the
 * inputs that have not settled are cancelled.  It is registered only when
 * the flag is given, so that without it settling the new future stays on
 * future.c's lock-free path when nobody else listens.
 *
 * After fork()
 * ------------
 * A future of a pool created before a fork never settles in the child (no
 * worker of that pool exists there), and a wait on one says TP_EFORKED
 * instead of blocking (wait.c, waitset.c: a future's `gen` is the process
 * generation it can settle in).  A future made here inherits that from its
 * inputs: it gets the generation of an input that has not settled if it
 * cannot settle before that input does (then's source, any input of
 * when_all, every input of when_any), so that a wait on it, or on one made
 * from it in turn, does not block for ever either.
 *
 * Lifetime
 * --------
 * A node or combiner is freed by the last of: its creator (which holds a
 * reference through the set-up, so callbacks that fire during registration
 * cannot free it under its feet), each registered callback, and for a pooled
 * continuation the carrier's callback.  The count is atomic (acq_rel: each
 * owner's last access happens before the free).  Until then it holds a
 * reference to each input (so tp_future_cancel() on an input is always
 * safe, and the continuation may read its source) and to the new future
 * (so it can settle it after the caller has released theirs).  An input's
 * callback node lives in the combiner, so the combiner cannot go before
 * every input has settled anyway; the input references are dropped then.
 * That moment is not one the caller can observe (it comes after the
 * inputs' waiters have been woken), which is why futures in caller storage
 * (tp_submit_inplace), whose storage is reusable once every reference is
 * given back, are refused.
 *
 * No recursion through chains
 * ---------------------------
 * Settling a future runs its callbacks on the settling thread, and a
 * callback of this module may settle another future whose callbacks are
 * ours again: a chain of 10,000 inline continuations, or a failure
 * propagating down 10,000 pooled ones, or a cancellation going up them,
 * would recurse 10,000 deep.  So each of our callbacks goes through
 * dispatch(): a thread runs at most MAX_NEST of them nested in one another;
 * past that, a callback is put on a thread-local list, which the outermost
 * one drains before it returns.  Nothing is lost or reordered in a way that
 * matters: the deferred callback still runs on the settling thread, before
 * the outermost settle (the one that started the cascade) returns.
 * Consequence: a function that runs inside such a cascade (an inline
 * continuation, or a pooled one that a caller-runs pool runs on the
 * settling thread) must not block waiting for a future that the cascade has
 * yet to settle; inline continuations must not block at all.
 */
#include <stddef.h>
#include <stdint.h>

#include "alloc.h"
#include "combine.h"
#include "fork.h"
#include "future.h"
#include "pool.h"

/* ---- callbacks that do not recurse ------------------------------------ */

/* How many of this module's callbacks a thread runs nested in each other
 * before it defers the next ones (see the top comment). */
#define MAX_NEST 16

static _Thread_local unsigned nest;
static _Thread_local tpi_item *deferred_head, *deferred_tail;

static void dispatch(tp_future *f, void *ctx)
{
    tpi_item *it = ctx;
    (void)f; /* every item keeps its own reference to the future */
    if (nest >= MAX_NEST) {
        it->next = NULL;
        if (deferred_tail != NULL)
            deferred_tail->next = it;
        else
            deferred_head = it;
        deferred_tail = it;
        return;
    }
    nest++;
    it->run(it);
    if (nest == 1) {
        while ((it = deferred_head) != NULL) {
            deferred_head = it->next;
            if (deferred_head == NULL)
                deferred_tail = NULL;
            it->run(it);
        }
    }
    nest--;
}

void tpi_item_init(tpi_item *it, void (*run)(tpi_item *))
{
    it->cb.node.next = NULL;
    it->cb.fn = dispatch;
    it->cb.ctx = it;
    it->cb.heap = false;
    it->next = NULL;
    it->run = run;
}

/* Settles `out` (pending, ours to settle) as `from` ended: COMPLETED with
 * `result`, FAILED with from's code, or CANCELLED for the same reason (a
 * start deadline that passed stays TP_EEXPIRED). */
void tpi_settle_like(tp_future *out, tp_future *from, void *result)
{
    switch (tp_future_state(from)) {
    case TP_COMPLETED:
        tpi_promise_settle(out, TP_COMPLETED, result, 0);
        break;
    case TP_FAILED:
        tpi_promise_settle(out, TP_FAILED, NULL, tp_future_error(from));
        break;
    default:
        if (tp_future_error(from) == TP_EEXPIRED)
            tpi_future_expire(out);
        else
            tpi_future_settle(out, TP_PENDING, TP_CANCELLED);
        break;
    }
}

/* ---- continuations ------------------------------------------------------ */

typedef struct then_node {
    tpi_item on_source; /* the source settled */
    tpi_item on_task;   /* the carrier task settled (pooled continuations) */
    tpi_item on_out;    /* `out` settled (TP_COMBINE_CANCEL_INPUTS only) */
    tp_future *source;
    tp_future *out;
    tp_future *task; /* the carrier, once submitted */
    tp_pool *pool;
    tp_then_fn fn;
    void *ctx;
    unsigned flags;
    _Atomic unsigned refs;
} then_node;

static void then_unref(then_node *n)
{
    if (atomic_fetch_sub_explicit(&n->refs, 1, memory_order_acq_rel) != 1)
        return;
    tp_future_release(n->source);
    tp_future_release(n->out);
    tpi_free(n);
}

/* `out`'s task function: tpi_future_run() calls it with `out` as the
 * running task. */
static void *then_body(void *arg)
{
    then_node *n = arg;
    return n->fn(n->source, n->ctx);
}

/* The carrier: runs `out` on a worker of the pool. */
static void *then_carrier(void *arg)
{
    then_node *n = arg;
    tpi_future_run(n->out);
    return NULL;
}

static void then_task_settled(tpi_item *it)
{
    then_node *n = TPI_CONTAINER_OF(it, then_node, on_task);
    /* A carrier only ends CANCELLED if it never ran (it never calls
     * tp_task_fail): an immediate shutdown dropped it.  Then `out` is
     * still pending and will never run. */
    if (tp_future_state(n->task) == TP_CANCELLED)
        tpi_future_settle(n->out, TP_PENDING, TP_CANCELLED);
    tp_future_release(n->task);
    then_unref(n);
}

static void then_source_settled(tpi_item *it)
{
    then_node *n = TPI_CONTAINER_OF(it, then_node, on_source);
    tp_future *out = n->out;
    tp_state s = tp_future_state(n->source);
    bool runs = (n->flags & TP_THEN_ALWAYS) ||
                ((n->flags & TP_THEN_ON_FAILURE) ? s != TP_COMPLETED
                                                 : s == TP_COMPLETED);
    if (tp_future_state(out) != TP_PENDING) {
        /* cancelled while it waited: fn never runs */
    } else if (!runs) {
        /* Passed through: a failure as it is, or (TP_THEN_ON_FAILURE) a
         * success with the source's result. */
        void *result = NULL;
        (void)tp_future_get(n->source, 0, &result);
        tpi_settle_like(out, n->source, result);
    } else if (n->pool == NULL) {
        tpi_future_run(out);
    } else {
        tp_future *task;
        int rc = tpi_submit_internal(n->pool, then_carrier, n, &task);
        if (rc == 0) {
            /* The chain's reference passes to the carrier's callback. */
            n->task = task;
            tpi_future_add_callback(task, &n->on_task.cb);
            return;
        }
        tpi_promise_settle(out, TP_FAILED, NULL, rc);
    }
    then_unref(n);
}

static void then_out_settled(tpi_item *it)
{
    then_node *n = TPI_CONTAINER_OF(it, then_node, on_out);
    /* If we settled `out` CANCELLED ourselves, the source had settled
     * already and the cancel below does nothing. */
    if (tp_future_state(n->out) == TP_CANCELLED && !tpi_future_done(n->source))
        tp_future_cancel(n->source);
    then_unref(n);
}

int tp_future_then(tp_future *source, tp_pool *pool, tp_then_fn fn, void *ctx,
                   unsigned flags, tp_future **out)
{
    if (source == NULL || fn == NULL || out == NULL || (flags & ~TPI_THEN_FLAGS) ||
        (flags & TP_THEN_ALWAYS && flags & TP_THEN_ON_FAILURE) ||
        tpi_future_inplace(source))
        return TP_EINVAL;
    then_node *n = tpi_malloc(sizeof *n);
    if (n == NULL)
        return TP_ENOMEM;
    /* Two references: the caller's and the node's. */
    tp_future *f = tpi_future_new(then_body, n, pool, 2);
    if (f == NULL) {
        tpi_free(n);
        return TP_ENOMEM;
    }
    bool cancel_source = (flags & TP_COMBINE_CANCEL_INPUTS) != 0;
    tp_future_retain(source);
    n->source = source;
    n->out = f;
    n->task = NULL;
    n->pool = pool;
    n->fn = fn;
    n->ctx = ctx;
    n->flags = flags;
    /* `out` cannot settle before the source does (see "After fork()"). */
    if (tpi_stuck_after_fork(source, tpi_gen_now()))
        tpi_future_set_gen(f, tpi_future_gen(source));
    /* This call's, the source callback's chain, and on_out's. */
    atomic_init(&n->refs, cancel_source ? 3u : 2u);
    tpi_item_init(&n->on_source, then_source_settled);
    tpi_item_init(&n->on_task, then_task_settled);
    tpi_item_init(&n->on_out, then_out_settled);
    *out = f;
    if (cancel_source)
        tpi_future_add_callback(f, &n->on_out.cb);
    /* Runs the callback now if the source has settled. */
    tpi_future_add_callback(source, &n->on_source.cb);
    then_unref(n);
    return 0;
}

/* ---- when_all, when_any ----------------------------------------------- */

typedef struct combiner combiner;

typedef struct comb_input {
    tpi_item it;
    combiner *c;
    tp_future *f;
    size_t index;
} comb_input;

struct combiner {
    tpi_item on_out; /* TP_COMBINE_CANCEL_INPUTS only */
    tp_future *out;
    unsigned flags;
    bool any;               /* when_any, else when_all */
    size_t n;
    _Atomic size_t refs;    /* see "Lifetime" */
    _Atomic size_t pending; /* when_all: inputs whose callback has not run */
    /* 0, or 1 + the index of: when_all, the first input that did not
     * complete (among those settled when the call began, in index order,
     * else in callback order); when_any, the winner. */
    _Atomic size_t pick;
    comb_input in[];
};

static void comb_unref(combiner *c)
{
    if (atomic_fetch_sub_explicit(&c->refs, 1, memory_order_acq_rel) != 1)
        return;
    for (size_t i = 0; i < c->n; i++)
        tp_future_release(c->in[i].f);
    tp_future_release(c->out);
    tpi_free(c);
}

/* Cancels every input but `skip` that has not settled. */
static void cancel_inputs(combiner *c, size_t skip)
{
    for (size_t i = 0; i < c->n; i++)
        if (i != skip && !tpi_future_done(c->in[i].f))
            tp_future_cancel(c->in[i].f);
}

static void all_input_settled(tpi_item *it)
{
    comb_input *in = TPI_CONTAINER_OF(it, comb_input, it);
    combiner *c = in->c;
    if (tp_future_state(in->f) != TP_COMPLETED) {
        size_t none = 0;
        atomic_compare_exchange_strong_explicit(&c->pick, &none, in->index + 1,
                                                memory_order_relaxed,
                                                memory_order_relaxed);
    }
    /* acq_rel: the last one sees every earlier pick. */
    if (atomic_fetch_sub_explicit(&c->pending, 1, memory_order_acq_rel) == 1) {
        size_t pick = atomic_load_explicit(&c->pick, memory_order_relaxed);
        if (pick == 0)
            tpi_promise_settle(c->out, TP_COMPLETED, NULL, 0);
        else
            tpi_settle_like(c->out, c->in[pick - 1].f, NULL);
    }
    comb_unref(c);
}

static void any_input_settled(tpi_item *it)
{
    comb_input *in = TPI_CONTAINER_OF(it, comb_input, it);
    combiner *c = in->c;
    size_t none = 0;
    if (atomic_compare_exchange_strong_explicit(&c->pick, &none, in->index + 1,
                                                memory_order_acq_rel,
                                                memory_order_relaxed)) {
        /* Losers first: whoever sees the new future settled then also
         * sees the pending losers cancelled. */
        if (c->flags & TP_COMBINE_CANCEL_LOSERS)
            cancel_inputs(c, in->index);
        tpi_settle_like(c->out, in->f, (void *)(uintptr_t)in->index);
    }
    comb_unref(c);
}

static void comb_out_settled(tpi_item *it)
{
    combiner *c = TPI_CONTAINER_OF(it, combiner, on_out);
    /* when_all settles `out` itself only once every input has settled, so
     * then there is nothing left to cancel.  when_any settles it CANCELLED
     * itself when the winner was cancelled: that must not cancel the
     * others (TP_COMBINE_CANCEL_LOSERS says whether to). */
    if (tp_future_state(c->out) == TP_CANCELLED &&
        (!c->any || atomic_load_explicit(&c->pick, memory_order_acquire) == 0))
        cancel_inputs(c, SIZE_MAX);
    comb_unref(c);
}

/* Which inputs had settled when the call began, as one consistent view
 * (see the top comment): passes over the inputs until two passes in a row
 * count as many settled.  An input never goes back to pending, so a pass
 * sees at least every input the pass before saw settled; equal counts mean
 * equal sets, and then every input of the set had settled, and every other
 * was still pending, at the moment between those two passes.  One pass
 * would not do: it may find an input pending and then find settled a later
 * one that settled only after it (a failure whose done-callback cancels
 * another input), and count the second as settled before the first.  A
 * pass that finds none settled, or all, is consistent by itself (at its
 * start, or at its end).  Each further pass means that another input
 * settled meanwhile, so there are at most n + 1.  (Acquire: an input seen
 * settled makes visible whatever happened before it settled, such as an
 * earlier input settling.)
 * *settled receives the lowest index of an input settled then, *unfinished
 * the lowest of those that did not complete; n where there is none. */
static void settled_snapshot(tp_future *const *fs, size_t n, size_t *settled,
                             size_t *unfinished)
{
    size_t before = SIZE_MAX;
    for (;;) {
        size_t count = 0;
        *settled = *unfinished = n;
        for (size_t i = 0; i < n; i++) {
            uint32_t s =
                atomic_load_explicit(&fs[i]->state, memory_order_acquire);
            if (!tpi_is_final(s))
                continue;
            count++;
            if (*settled == n)
                *settled = i;
            if (*unfinished == n && tpi_state_of(s) != TP_COMPLETED)
                *unfinished = i;
        }
        if (count == 0 || count == n || count == before)
            return;
        before = count;
    }
}

/* The process generation a combined future can settle in (see "After
 * fork()"): when_all settles only after every input, when_any as soon as
 * one input that can settle here (or has settled) does. */
static unsigned combined_gen(tp_future *const *fs, size_t n, bool any)
{
    unsigned gen = tpi_gen_now();
    for (size_t i = 0; i < n; i++) {
        bool stuck = tpi_stuck_after_fork(fs[i], gen);
        if (stuck && !any)
            return tpi_future_gen(fs[i]);
        if (!stuck && any)
            return gen;
    }
    return any ? tpi_future_gen(fs[0]) : gen;
}

/* A combinator's state of `size` bytes and the future it settles, with
 * two references (the caller's and the state's); NULL, with nothing
 * allocated, when memory is short. */
void *tpi_alloc_with_out(size_t size, tp_future **out)
{
    void *node = tpi_malloc(size);
    if (node == NULL)
        return NULL;
    if ((*out = tpi_promise_new(2)) == NULL) {
        tpi_free(node);
        return NULL;
    }
    return node;
}

static int combine(tp_future *const *fs, size_t n, unsigned flags, bool any,
                   tp_future **out)
{
    unsigned allowed = TP_COMBINE_CANCEL_INPUTS;
    if (any)
        allowed |= TP_COMBINE_CANCEL_LOSERS;
    if (fs == NULL || n == 0 || out == NULL || (flags & ~allowed))
        return TP_EINVAL;
    for (size_t i = 0; i < n; i++)
        if (fs[i] == NULL || tpi_future_inplace(fs[i]))
            return TP_EINVAL;
    if (n > (SIZE_MAX - sizeof(combiner)) / sizeof(comb_input))
        return TP_ENOMEM;
    /* First of all, as close to the call's start as it can be. */
    size_t settled, unfinished;
    settled_snapshot(fs, n, &settled, &unfinished);
    tp_future *f;
    combiner *c =
        tpi_alloc_with_out(sizeof(combiner) + n * sizeof(comb_input), &f);
    if (c == NULL)
        return TP_ENOMEM;
    bool cancel = (flags & TP_COMBINE_CANCEL_INPUTS) != 0;
    c->out = f;
    c->flags = flags;
    c->any = any;
    c->n = n;
    tpi_future_set_gen(f, combined_gen(fs, n, any));
    /* One per input callback, this call's, and on_out's. */
    atomic_init(&c->refs, n + 1 + (cancel ? 1 : 0));
    atomic_init(&c->pending, n);
    /* when_all: the inputs settled before the call come first, whatever
     * the order the callbacks run in; no callback can replace this pick. */
    atomic_init(&c->pick, !any && unfinished < n ? unfinished + 1 : 0);
    tpi_item_init(&c->on_out, comb_out_settled);
    /* Registered first.  when_any: the lowest index among the inputs
     * already settled wins; registering it first makes sure of that (its
     * callback runs at once, before any other input's can). */
    size_t first = any && settled < n ? settled : 0;
    for (size_t i = 0; i < n; i++) {
        comb_input *in = &c->in[i];
        tpi_item_init(&in->it, any ? any_input_settled : all_input_settled);
        in->c = c;
        in->f = fs[i];
        in->index = i;
        tp_future_retain(fs[i]);
    }
    *out = f;
    if (cancel)
        tpi_future_add_callback(f, &c->on_out.cb);
    tpi_future_add_callback(fs[first], &c->in[first].it.cb);
    for (size_t i = 0; i < n; i++)
        if (i != first)
            tpi_future_add_callback(fs[i], &c->in[i].it.cb);
    comb_unref(c);
    return 0;
}

int tp_when_all(tp_future *const *fs, size_t n, unsigned flags,
                tp_future **out)
{
    return combine(fs, n, flags, false, out);
}

int tp_when_any(tp_future *const *fs, size_t n, unsigned flags,
                tp_future **out)
{
    return combine(fs, n, flags, true, out);
}
