/*
 * test_combine.c - continuations (tp_future_then) and combinators
 * (tp_when_all, tp_when_any): results, where a continuation runs, failure
 * and cancellation propagation and the flags that change it, chains of
 * 10,000 (no deep recursion, whichever way a chain settles), already
 * settled inputs, references released early (LSan checks the rest in the
 * ASan build), bad arguments, and every allocation failure; composition
 * (tp_future_then_compose) and timeouts (tp_future_or_timeout).
 *
 * Ordering is controlled with gates (tasks that block until the test opens
 * them) on small pools, never with sleeps.
 */
#include <stdatomic.h>
#include <stdlib.h>

#include "check.h"
#include "failalloc.h"
#include "tpool.h"
#include "util.h"

/* A task that signals `started`, blocks until `open`, then fails with
 * `fail` (if not 0) or returns `result`.  It records whether it was asked
 * to stop, and acknowledges a stop request when `ack_stop` is set. */
typedef struct ctl {
    event started;
    event open;
    int fail;
    void *result;
    bool ack_stop;
    atomic_int saw_stop;
} ctl;

static void ctl_init(ctl *c, int fail, void *result)
{
    event_init(&c->started);
    event_init(&c->open);
    c->fail = fail;
    c->result = result;
    c->ack_stop = false;
    atomic_init(&c->saw_stop, 0);
}

static void ctl_destroy(ctl *c)
{
    event_destroy(&c->started);
    event_destroy(&c->open);
}

static void *ctl_task(void *arg)
{
    ctl *c = arg;
    event_signal(&c->started);
    event_wait(&c->open, 1);
    int stop = tp_task_stop_requested();
    atomic_store(&c->saw_stop, stop);
    if (stop && c->ack_stop)
        tp_task_fail(TP_ECANCELED);
    else if (c->fail != 0)
        tp_task_fail(c->fail);
    return c->result;
}

static void *identity(void *arg)
{
    return arg;
}

static void *fail_task(void *arg)
{
    tp_task_fail((int)(intptr_t)arg);
    return NULL;
}

/* A 1-thread pool whose worker is held by a gate task, so that what is
 * submitted next stays PENDING until gate_open(). */
typedef struct held_pool {
    tp_pool *pool;
    ctl gate;
    tp_future *gate_f;
} held_pool;

static void held_init(held_pool *h)
{
    h->pool = make_pool(1);
    ctl_init(&h->gate, 0, NULL);
    CHECK_OK(tp_submit_future(h->pool, ctl_task, &h->gate, &h->gate_f));
    event_wait(&h->gate.started, 1);
}

static void held_open(held_pool *h)
{
    event_signal(&h->gate.open);
}

static void held_destroy(held_pool *h)
{
    held_open(h);
    CHECK_OK(tp_future_wait(h->gate_f, -1));
    tp_future_release(h->gate_f);
    CHECK_OK(tp_pool_destroy(h->pool));
    ctl_destroy(&h->gate);
}

static void *get_now(tp_future *f)
{
    void *r = NULL;
    CHECK_OK(tp_future_get(f, 0, &r));
    return r;
}

/* ---- continuations --------------------------------------------------- */

static void *add_one(tp_future *source, void *ctx)
{
    if (ctx != NULL)
        atomic_fetch_add((atomic_int *)ctx, 1);
    return (void *)((uintptr_t)get_now(source) + 1);
}

enum { CHAIN = 10000 };

/* A chain of CHAIN continuations, each adding 1, on `pool` (NULL: inline),
 * built on a source that settles after (or, with settled_first, before) the
 * chain is built.  Every intermediate future is released at once. */
static void run_chain(tp_pool *pool, bool settled_first)
{
    ctl c;
    ctl_init(&c, 0, (void *)5);
    tp_pool *src_pool = make_pool(1);
    tp_future *f;
    CHECK_OK(tp_submit_future(src_pool, ctl_task, &c, &f));
    if (settled_first) {
        event_signal(&c.open);
        CHECK_OK(tp_future_wait(f, -1));
    }
    for (int i = 0; i < CHAIN; i++) {
        tp_future *next;
        CHECK_OK(tp_future_then(f, pool, add_one, NULL, 0, &next));
        CHECK_OK(tp_future_release(f));
        f = next;
    }
    if (!settled_first)
        event_signal(&c.open);
    void *r = NULL;
    CHECK_OK(tp_future_get(f, -1, &r));
    CHECK_EQ((uintptr_t)r, 5 + CHAIN);
    CHECK_OK(tp_future_release(f));
    CHECK_OK(tp_pool_destroy(src_pool));
    ctl_destroy(&c);
}

TEST(chain_inline)
{
    run_chain(NULL, false);
    run_chain(NULL, true);
}

TEST(chain_pool_1)
{
    tp_pool *p = make_pool(1);
    run_chain(p, false);
    run_chain(p, true);
    CHECK_OK(tp_pool_destroy(p));
}

TEST(chain_pool_4)
{
    tp_pool *p = make_pool(4);
    run_chain(p, false);
    run_chain(p, true);
    CHECK_OK(tp_pool_destroy(p));
}

/* Chains built by the pool's own tasks, continuing on the same pool. */
static tp_pool *self_pool;

static void *build_chain_task(void *arg)
{
    tp_future *f;
    CHECK_OK(tp_submit_future(self_pool, identity, arg, &f));
    for (int i = 0; i < 1000; i++) {
        tp_future *next;
        CHECK_OK(tp_future_then(f, i % 2 ? self_pool : NULL, add_one, NULL, 0,
                                &next));
        tp_future_release(f);
        f = next;
    }
    void *r = NULL;
    CHECK_OK(tp_future_get(f, -1, &r)); /* waits helping the pool */
    tp_future_release(f);
    return r;
}

TEST(chain_from_tasks)
{
    for (unsigned threads = 1; threads <= 4; threads += 3) {
        self_pool = make_pool(threads);
        tp_future *fs[6];
        for (int i = 0; i < 6; i++)
            CHECK_OK(tp_submit_future(self_pool, build_chain_task,
                                      (void *)(uintptr_t)(i * 10000), &fs[i]));
        for (int i = 0; i < 6; i++) {
            void *r = NULL;
            CHECK_OK(tp_future_get(fs[i], -1, &r));
            CHECK_EQ((uintptr_t)r, i * 10000 + 1000);
            tp_future_release(fs[i]);
        }
        CHECK_OK(tp_pool_destroy(self_pool));
    }
}

TEST(failure_propagates_down_a_chain)
{
    /* 10,000 continuations that never run: each settles the next FAILED
     * from a callback, which must not recurse 10,000 deep. */
    tp_pool *p = make_pool(2);
    atomic_int ran;
    atomic_init(&ran, 0);
    ctl c;
    ctl_init(&c, 42, NULL);
    tp_future *f;
    CHECK_OK(tp_submit_future(p, ctl_task, &c, &f));
    for (int i = 0; i < CHAIN; i++) {
        tp_future *next;
        CHECK_OK(tp_future_then(f, i % 3 ? p : NULL, add_one, &ran, 0, &next));
        tp_future_release(f);
        f = next;
    }
    event_signal(&c.open);
    CHECK_EQ(tp_future_get(f, -1, NULL), TP_EFAILED);
    CHECK_EQ(tp_future_state(f), TP_FAILED);
    CHECK_EQ(tp_future_error(f), 42);
    CHECK_EQ(atomic_load(&ran), 0);
    tp_future_release(f);
    CHECK_OK(tp_pool_destroy(p));
    ctl_destroy(&c);
}

TEST(cancel_propagates_up_a_chain)
{
    /* With TP_COMBINE_CANCEL_INPUTS, cancelling the last of 10,000
     * continuations cancels every one before it, and the source, before
     * tp_future_cancel() returns. */
    for (int inline_chain = 0; inline_chain < 2; inline_chain++) {
        held_pool h;
        held_init(&h);
        tp_pool *p = make_pool(2);
        tp_future *head;
        CHECK_OK(tp_submit_future(h.pool, identity, NULL, &head));
        tp_future *f = head;
        CHECK_OK(tp_future_retain(head));
        for (int i = 0; i < CHAIN; i++) {
            tp_future *next;
            CHECK_OK(tp_future_then(f, inline_chain ? NULL : p, add_one, NULL,
                                    TP_COMBINE_CANCEL_INPUTS, &next));
            tp_future_release(f);
            f = next;
        }
        CHECK_EQ(tp_future_state(head), TP_PENDING);
        CHECK_OK(tp_future_cancel(f));
        CHECK_EQ(tp_future_state(f), TP_CANCELLED);
        CHECK_EQ(tp_future_state(head), TP_CANCELLED);
        tp_future_release(f);
        tp_future_release(head);
        held_destroy(&h);
        CHECK_OK(tp_pool_destroy(p));
    }
}

/* Cascades settle on the thread that starts them.  Run from a thread with
 * a small stack, a chain of 10,000 that recursed once per link would
 * overflow it; the module must settle such chains iteratively. */
typedef struct small_stack_job {
    tp_future *cancel; /* the future this thread cancels */
    int rc;
} small_stack_job;

static void *small_stack_main(void *arg)
{
    small_stack_job *j = arg;
    j->rc = tp_future_cancel(j->cancel);
    return NULL;
}

static void cancel_on_small_stack(tp_future *f)
{
    pthread_attr_t attr;
    CHECK_OK(pthread_attr_init(&attr));
    CHECK_OK(pthread_attr_setstacksize(&attr, 256 * 1024));
    small_stack_job j = {f, -1};
    pthread_t t;
    CHECK_OK(pthread_create(&t, &attr, small_stack_main, &j));
    CHECK_OK(pthread_join(t, NULL));
    CHECK_OK(pthread_attr_destroy(&attr));
    CHECK_OK(j.rc);
}

static void *count_always(tp_future *source, void *ctx)
{
    atomic_fetch_add((atomic_int *)ctx, 1);
    (void)source;
    return NULL;
}

TEST(chains_settle_without_deep_recursion)
{
    held_pool h;
    held_init(&h);
    tp_pool *p = make_pool(2);
    atomic_int ran;
    atomic_init(&ran, 0);
    tp_future *head;
    CHECK_OK(tp_submit_future(h.pool, identity, NULL, &head));
    /* Down from the head: inline continuations that all run, and pooled
     * ones that do not run (the cancellation propagates). */
    tp_future *ends[2];
    for (int k = 0; k < 2; k++) {
        tp_future *f = head;
        CHECK_OK(tp_future_retain(f));
        for (int i = 0; i < CHAIN; i++) {
            tp_future *next;
            CHECK_OK(tp_future_then(f, k ? p : NULL, count_always, &ran,
                                    k ? 0 : TP_THEN_ALWAYS, &next));
            tp_future_release(f);
            f = next;
        }
        ends[k] = f;
    }
    cancel_on_small_stack(head);
    CHECK_EQ(atomic_load(&ran), CHAIN);
    CHECK_EQ(tp_future_state(ends[0]), TP_COMPLETED);
    CHECK_EQ(tp_future_state(ends[1]), TP_CANCELLED);
    tp_future_release(ends[0]);
    tp_future_release(ends[1]);
    tp_future_release(head);

    /* Up to the head: cancelling the end of a chain built with
     * TP_COMBINE_CANCEL_INPUTS. */
    CHECK_OK(tp_submit_future(h.pool, identity, NULL, &head));
    tp_future *f = head;
    CHECK_OK(tp_future_retain(f));
    for (int i = 0; i < CHAIN; i++) {
        tp_future *next;
        CHECK_OK(tp_future_then(f, i % 2 ? p : NULL, count_always, &ran,
                                TP_COMBINE_CANCEL_INPUTS, &next));
        tp_future_release(f);
        f = next;
    }
    cancel_on_small_stack(f);
    CHECK_EQ(tp_future_state(head), TP_CANCELLED);
    tp_future_release(f);
    tp_future_release(head);
    CHECK_EQ(atomic_load(&ran), CHAIN);
    held_destroy(&h);
    CHECK_OK(tp_pool_destroy(p));
}

typedef struct seen {
    tp_state state;
    int error;
    uint64_t task_id;
    atomic_int calls;
} seen;

static void *record(tp_future *source, void *ctx)
{
    seen *s = ctx;
    s->state = tp_future_state(source);
    s->error = tp_future_error(source);
    s->task_id = tp_task_id();
    atomic_fetch_add(&s->calls, 1);
    return (void *)77;
}

TEST(then_result_and_task_identity)
{
    tp_pool *p = make_pool(2);
    for (int use_pool = 0; use_pool < 2; use_pool++) {
        ctl c;
        ctl_init(&c, 0, (void *)3);
        tp_future *src, *out;
        CHECK_OK(tp_submit_future(p, ctl_task, &c, &src));
        seen s = {TP_PENDING, -1, 0, 0};
        CHECK_OK(tp_future_then(src, use_pool ? p : NULL, record, &s, 0, &out));
        CHECK_EQ(tp_future_state(out), TP_PENDING);
        CHECK_EQ(atomic_load(&s.calls), 0);
        event_signal(&c.open);
        void *r = NULL;
        CHECK_OK(tp_future_get(out, -1, &r));
        CHECK(r == (void *)77);
        CHECK_EQ(atomic_load(&s.calls), 1);
        CHECK_EQ(s.state, TP_COMPLETED);
        CHECK_EQ(s.error, 0);
        /* The continuation runs as the new future's task. */
        CHECK_EQ(s.task_id, tp_future_id(out));
        CHECK(tp_future_id(out) != tp_future_id(src));
        tp_future_release(src);
        tp_future_release(out);
        ctl_destroy(&c);
    }
    CHECK_OK(tp_pool_destroy(p));
}

TEST(then_on_settled_source)
{
    tp_pool *p = make_pool(1);
    tp_future *src;
    CHECK_OK(tp_submit_future(p, identity, (void *)10, &src));
    CHECK_OK(tp_future_wait(src, -1));
    /* Inline: runs on this thread before tp_future_then() returns. */
    seen s = {TP_PENDING, -1, 0, 0};
    tp_future *out;
    CHECK_OK(tp_future_then(src, NULL, record, &s, 0, &out));
    CHECK_EQ(atomic_load(&s.calls), 1);
    CHECK_EQ(tp_future_state(out), TP_COMPLETED);
    tp_future_release(out);
    /* On a pool: submitted at once. */
    tp_future *out2;
    CHECK_OK(tp_future_then(src, p, add_one, NULL, 0, &out2));
    tp_future_release(src); /* early: the continuation holds its own */
    void *r = NULL;
    CHECK_OK(tp_future_get(out2, -1, &r));
    CHECK_EQ((uintptr_t)r, 11);
    tp_future_release(out2);
    CHECK_OK(tp_pool_destroy(p));
}

TEST(then_failure_and_always)
{
    tp_pool *p = make_pool(2);
    for (int use_pool = 0; use_pool < 2; use_pool++) {
        tp_pool *run_on = use_pool ? p : NULL;
        ctl c;
        ctl_init(&c, 42, NULL);
        tp_future *src, *skipped, *always;
        CHECK_OK(tp_submit_future(p, ctl_task, &c, &src));
        seen s1 = {TP_PENDING, -1, 0, 0}, s2 = {TP_PENDING, -1, 0, 0};
        CHECK_OK(tp_future_then(src, run_on, record, &s1, 0, &skipped));
        CHECK_OK(tp_future_then(src, run_on, record, &s2, TP_THEN_ALWAYS,
                                &always));
        tp_future_release(src);
        event_signal(&c.open);
        CHECK_EQ(tp_future_get(skipped, -1, NULL), TP_EFAILED);
        CHECK_EQ(tp_future_error(skipped), 42);
        CHECK_EQ(atomic_load(&s1.calls), 0);
        void *r = NULL;
        CHECK_OK(tp_future_get(always, -1, &r));
        CHECK(r == (void *)77);
        CHECK_EQ(atomic_load(&s2.calls), 1);
        CHECK_EQ(s2.state, TP_FAILED);
        CHECK_EQ(s2.error, 42);
        tp_future_release(skipped);
        tp_future_release(always);
        ctl_destroy(&c);
    }
    CHECK_OK(tp_pool_destroy(p));
}

TEST(then_cancellation_and_always)
{
    tp_pool *p = make_pool(2);
    for (int use_pool = 0; use_pool < 2; use_pool++) {
        held_pool h;
        held_init(&h);
        tp_future *src, *skipped, *always;
        CHECK_OK(tp_submit_future(h.pool, identity, NULL, &src));
        seen s1 = {TP_PENDING, -1, 0, 0}, s2 = {TP_PENDING, -1, 0, 0};
        tp_pool *run_on = use_pool ? p : NULL;
        CHECK_OK(tp_future_then(src, run_on, record, &s1, 0, &skipped));
        CHECK_OK(tp_future_then(src, run_on, record, &s2, TP_THEN_ALWAYS,
                                &always));
        CHECK_OK(tp_future_cancel(src));
        CHECK_EQ(tp_future_get(skipped, -1, NULL), TP_ECANCELED);
        CHECK_EQ(tp_future_state(skipped), TP_CANCELLED);
        CHECK_EQ(atomic_load(&s1.calls), 0);
        CHECK_OK(tp_future_wait(always, -1));
        CHECK_EQ(tp_future_state(always), TP_COMPLETED);
        CHECK_EQ(s2.state, TP_CANCELLED);
        CHECK_EQ(s2.error, TP_ECANCELED);
        tp_future_release(src);
        tp_future_release(skipped);
        tp_future_release(always);
        held_destroy(&h);
    }
    CHECK_OK(tp_pool_destroy(p));
}

TEST(expiry_propagates)
{
    /* A source whose start deadline passed while it was queued: the
     * continuation, when_all and when_any report TP_EEXPIRED as it does. */
    held_pool h;
    held_init(&h);
    tp_task_opts o;
    CHECK_OK(tp_task_opts_init(&o));
    o.start_deadline_ms = 0;
    tp_future *src, *then, *all, *any;
    CHECK_OK(tp_submit_ex(h.pool, identity, NULL, &o, &src));
    CHECK_OK(tp_future_then(src, NULL, add_one, NULL, 0, &then));
    CHECK_OK(tp_when_all(&src, 1, 0, &all));
    CHECK_OK(tp_when_any(&src, 1, 0, &any));
    held_open(&h);
    CHECK_EQ(tp_future_get(src, -1, NULL), TP_EEXPIRED);
    tp_future *outs[3] = {then, all, any};
    for (int i = 0; i < 3; i++) {
        CHECK_EQ(tp_future_get(outs[i], -1, NULL), TP_EEXPIRED);
        CHECK_EQ(tp_future_state(outs[i]), TP_CANCELLED);
        CHECK_EQ(tp_future_error(outs[i]), TP_EEXPIRED);
        tp_future_release(outs[i]);
    }
    tp_future_release(src);
    held_destroy(&h);
}

static void *fail_9(tp_future *source, void *ctx)
{
    (void)source;
    (void)ctx;
    CHECK_OK(tp_task_fail(9));
    return NULL;
}

TEST(then_fn_fails)
{
    tp_pool *p = make_pool(2);
    tp_future *src;
    CHECK_OK(tp_submit_future(p, identity, NULL, &src));
    for (int use_pool = 0; use_pool < 2; use_pool++) {
        tp_future *out, *after;
        CHECK_OK(tp_future_then(src, use_pool ? p : NULL, fail_9, NULL, 0,
                                &out));
        CHECK_OK(tp_future_then(out, p, add_one, NULL, 0, &after));
        CHECK_EQ(tp_future_get(out, -1, NULL), TP_EFAILED);
        CHECK_EQ(tp_future_error(out), 9);
        CHECK_EQ(tp_future_get(after, -1, NULL), TP_EFAILED);
        CHECK_EQ(tp_future_error(after), 9);
        tp_future_release(out);
        tp_future_release(after);
    }
    tp_future_release(src);
    CHECK_OK(tp_pool_destroy(p));
}

typedef struct stopper {
    event started;
    event go;
    atomic_int saw_stop;
} stopper;

static void *until_stopped(tp_future *source, void *ctx)
{
    stopper *s = ctx;
    (void)source;
    event_signal(&s->started);
    event_wait(&s->go, 1);
    int stop = tp_task_stop_requested();
    atomic_store(&s->saw_stop, stop);
    if (stop)
        tp_task_fail(TP_ECANCELED);
    return NULL;
}

TEST(then_cancel_while_running)
{
    tp_pool *p = make_pool(2);
    stopper s;
    event_init(&s.started);
    event_init(&s.go);
    atomic_init(&s.saw_stop, 0);
    tp_future *src, *out;
    CHECK_OK(tp_submit_future(p, identity, NULL, &src));
    CHECK_OK(tp_future_then(src, p, until_stopped, &s, 0, &out));
    event_wait(&s.started, 1);
    CHECK_EQ(tp_future_state(out), TP_RUNNING);
    CHECK_EQ(tp_future_cancel(out), TP_EBUSY);
    event_signal(&s.go);
    CHECK_EQ(tp_future_get(out, -1, NULL), TP_ECANCELED);
    CHECK_EQ(atomic_load(&s.saw_stop), 1);
    tp_future_release(src);
    tp_future_release(out);
    event_destroy(&s.started);
    event_destroy(&s.go);
    CHECK_OK(tp_pool_destroy(p));
}

TEST(then_cancel_before_run)
{
    tp_pool *p = make_pool(2);
    for (int flag = 0; flag < 2; flag++) {
        held_pool h;
        held_init(&h);
        tp_future *src, *out;
        CHECK_OK(tp_submit_future(h.pool, identity, (void *)1, &src));
        seen s = {TP_PENDING, -1, 0, 0};
        CHECK_OK(tp_future_then(src, p, record, &s,
                                flag ? TP_COMBINE_CANCEL_INPUTS : 0, &out));
        CHECK_OK(tp_future_cancel(out));
        CHECK_EQ(tp_future_state(out), TP_CANCELLED);
        CHECK_EQ(tp_future_cancel(out), TP_EALREADY);
        /* Only with the flag does the source go too. */
        CHECK_EQ(tp_future_state(src), flag ? TP_CANCELLED : TP_PENDING);
        held_open(&h);
        CHECK_OK(tp_future_wait(src, -1));
        CHECK_EQ(tp_future_state(src), flag ? TP_CANCELLED : TP_COMPLETED);
        CHECK_OK(tp_pool_wait_idle(h.pool, -1));
        CHECK_OK(tp_pool_wait_idle(p, -1));
        CHECK_EQ(atomic_load(&s.calls), 0);
        tp_future_release(src);
        tp_future_release(out);
        held_destroy(&h);
    }
    CHECK_OK(tp_pool_destroy(p));
}

TEST(then_pool_refuses)
{
    tp_pool *src_pool = make_pool(1);
    ctl c;
    ctl_init(&c, 0, NULL);
    tp_future *pending, *done;
    CHECK_OK(tp_submit_future(src_pool, ctl_task, &c, &pending));
    CHECK_OK(tp_submit_future(src_pool, identity, NULL, &done));
    tp_pool *p = make_pool(1);
    tp_future *a, *b;
    CHECK_OK(tp_future_then(pending, p, add_one, NULL, 0, &a));
    CHECK_OK(tp_pool_shutdown(p));
    /* The source settles after the pool has shut down. */
    event_signal(&c.open);
    CHECK_EQ(tp_future_get(a, -1, NULL), TP_EFAILED);
    CHECK_EQ(tp_future_error(a), TP_ESHUTDOWN);
    /* And on a source that has settled already. */
    CHECK_OK(tp_future_wait(done, -1));
    CHECK_OK(tp_future_then(done, p, add_one, NULL, 0, &b));
    CHECK_EQ(tp_future_state(b), TP_FAILED);
    CHECK_EQ(tp_future_error(b), TP_ESHUTDOWN);
    tp_future_release(a);
    tp_future_release(b);
    tp_future_release(pending);
    tp_future_release(done);
    CHECK_OK(tp_pool_destroy(p));
    CHECK_OK(tp_pool_destroy(src_pool));
    ctl_destroy(&c);
}

static atomic_int drops;

static void count_drop(const tp_job *job, void *ctx)
{
    (void)job;
    (void)ctx;
    atomic_fetch_add(&drops, 1);
}

static void *shutdown_now_thread(void *arg)
{
    CHECK_OK(tp_pool_shutdown_now(arg, count_drop, NULL));
    return NULL;
}

TEST(then_carrier_dropped_by_shutdown_now)
{
    held_pool h;
    held_init(&h);
    tp_future *src, *out;
    CHECK_OK(tp_submit_future(h.pool, identity, NULL, &src));
    CHECK_EQ(tp_future_state(src), TP_PENDING);
    tp_pool *other = make_pool(1);
    tp_future *settled;
    CHECK_OK(tp_submit_future(other, identity, NULL, &settled));
    CHECK_OK(tp_future_wait(settled, -1));
    /* Its carrier is queued behind the gate of h. */
    CHECK_OK(tp_future_then(settled, h.pool, add_one, NULL, 0, &out));
    atomic_store(&drops, 0);
    pthread_t t;
    CHECK_OK(pthread_create(&t, NULL, shutdown_now_thread, h.pool));
    /* The queued tasks are cancelled before the running one is waited for. */
    CHECK_OK(tp_future_wait(out, -1));
    CHECK_EQ(tp_future_state(out), TP_CANCELLED);
    CHECK_OK(tp_future_wait(src, -1));
    CHECK_EQ(tp_future_state(src), TP_CANCELLED);
    held_open(&h);
    CHECK_OK(pthread_join(t, NULL));
    /* src only: the carrier is the library's own task, not handed back. */
    CHECK_EQ(atomic_load(&drops), 1);
    tp_future_release(src);
    tp_future_release(out);
    tp_future_release(settled);
    CHECK_OK(tp_pool_destroy(other));
    held_destroy(&h);
}

static void *add_ctx(tp_future *source, void *ctx)
{
    return (void *)((uintptr_t)get_now(source) + (uintptr_t)ctx);
}

TEST(many_continuations_on_one_source)
{
    tp_pool *p = make_pool(4);
    ctl c;
    ctl_init(&c, 0, (void *)1000);
    tp_future *src;
    CHECK_OK(tp_submit_future(p, ctl_task, &c, &src));
    enum { K = 200 };
    tp_future *outs[K];
    for (uintptr_t i = 0; i < K; i++)
        CHECK_OK(tp_future_then(src, i % 2 ? p : NULL, add_ctx, (void *)i, 0,
                                &outs[i]));
    tp_future_release(src);
    event_signal(&c.open);
    for (uintptr_t i = 0; i < K; i++) {
        void *r = NULL;
        CHECK_OK(tp_future_get(outs[i], -1, &r));
        CHECK_EQ((uintptr_t)r, 1000 + i);
        tp_future_release(outs[i]);
    }
    CHECK_OK(tp_pool_destroy(p));
    ctl_destroy(&c);
}

/* ---- when_all ---------------------------------------------------------- */

TEST(when_all_completes)
{
    tp_pool *p = make_pool(4);
    enum { N = 64 };
    tp_future *fs[N], *all;
    for (uintptr_t i = 0; i < N; i++)
        CHECK_OK(tp_submit_future(p, identity, (void *)i, &fs[i]));
    CHECK_OK(tp_when_all(fs, N, 0, &all));
    /* The inputs' results are read from the inputs. */
    void *r = (void *)1;
    CHECK_OK(tp_future_get(all, -1, &r));
    CHECK(r == NULL);
    for (uintptr_t i = 0; i < N; i++) {
        CHECK_EQ(tp_future_state(fs[i]), TP_COMPLETED);
        CHECK_EQ((uintptr_t)get_now(fs[i]), i);
        tp_future_release(fs[i]);
    }
    tp_future_release(all);
    CHECK_OK(tp_pool_destroy(p));
}

TEST(when_all_inputs_released_early)
{
    tp_pool *p = make_pool(2);
    ctl c;
    ctl_init(&c, 0, NULL);
    tp_future *fs[3], *all;
    CHECK_OK(tp_submit_future(p, ctl_task, &c, &fs[0]));
    CHECK_OK(tp_submit_future(p, identity, NULL, &fs[1]));
    fs[2] = fs[1]; /* the same input twice */
    CHECK_OK(tp_when_all(fs, 3, 0, &all));
    tp_future_release(fs[0]);
    tp_future_release(fs[1]);
    CHECK_EQ(tp_future_state(all), TP_PENDING);
    event_signal(&c.open);
    CHECK_OK(tp_future_get(all, -1, NULL));
    tp_future_release(all);
    CHECK_OK(tp_pool_destroy(p));
    ctl_destroy(&c);
}

TEST(when_all_already_settled)
{
    tp_pool *p = make_pool(2);
    tp_future *fs[3], *all, *failed;
    for (int i = 0; i < 3; i++)
        CHECK_OK(tp_submit_future(p, identity, NULL, &fs[i]));
    CHECK_OK(tp_wait_all(fs, 3, -1));
    CHECK_OK(tp_when_all(fs, 3, 0, &all));
    CHECK_EQ(tp_future_state(all), TP_COMPLETED);
    /* A failed input among settled ones. */
    tp_future_release(fs[1]);
    CHECK_OK(tp_submit_future(p, fail_task, (void *)5, &fs[1]));
    CHECK_OK(tp_future_wait(fs[1], -1));
    CHECK_OK(tp_when_all(fs, 3, 0, &failed));
    CHECK_EQ(tp_future_state(failed), TP_FAILED);
    CHECK_EQ(tp_future_error(failed), 5);
    for (int i = 0; i < 3; i++)
        tp_future_release(fs[i]);
    tp_future_release(all);
    tp_future_release(failed);
    CHECK_OK(tp_pool_destroy(p));
}

TEST(when_all_precedence)
{
    /* A fails before B is cancelled: FAILED with A's code. */
    {
        tp_pool *p = make_pool(1);
        ctl a, b;
        ctl_init(&a, 11, NULL);
        ctl_init(&b, 0, NULL);
        b.ack_stop = true;
        tp_future *fs[2], *all;
        CHECK_OK(tp_submit_future(p, ctl_task, &a, &fs[0]));
        CHECK_OK(tp_submit_future(p, ctl_task, &b, &fs[1]));
        CHECK_OK(tp_when_all(fs, 2, 0, &all));
        event_signal(&a.open);
        CHECK_OK(tp_future_wait(fs[0], -1));
        event_wait(&b.started, 1);
        CHECK_EQ(tp_future_cancel(fs[1]), TP_EBUSY);
        event_signal(&b.open);
        CHECK_EQ(tp_future_get(all, -1, NULL), TP_EFAILED);
        CHECK_EQ(tp_future_error(all), 11);
        CHECK_EQ(tp_future_state(fs[1]), TP_CANCELLED);
        for (int i = 0; i < 2; i++)
            tp_future_release(fs[i]);
        tp_future_release(all);
        CHECK_OK(tp_pool_destroy(p));
        ctl_destroy(&a);
        ctl_destroy(&b);
    }
    /* B is cancelled before A fails: CANCELLED. */
    {
        held_pool h;
        held_init(&h);
        tp_future *fs[2], *all;
        CHECK_OK(tp_submit_future(h.pool, fail_task, (void *)11, &fs[0]));
        CHECK_OK(tp_submit_future(h.pool, identity, NULL, &fs[1]));
        CHECK_OK(tp_when_all(fs, 2, 0, &all));
        CHECK_OK(tp_future_cancel(fs[1]));
        CHECK_EQ(tp_future_state(all), TP_PENDING);
        held_open(&h);
        CHECK_EQ(tp_future_get(all, -1, NULL), TP_ECANCELED);
        CHECK_EQ(tp_future_error(all), TP_ECANCELED);
        CHECK_EQ(tp_future_state(fs[0]), TP_FAILED);
        for (int i = 0; i < 2; i++)
            tp_future_release(fs[i]);
        tp_future_release(all);
        held_destroy(&h);
    }
}

TEST(when_all_cancel_inputs)
{
    for (int flag = 0; flag < 2; flag++) {
        held_pool h;
        held_init(&h);
        enum { N = 5 };
        tp_future *fs[N], *all;
        for (int i = 0; i < N; i++)
            CHECK_OK(tp_submit_future(h.pool, identity, NULL, &fs[i]));
        CHECK_OK(tp_when_all(fs, N, flag ? TP_COMBINE_CANCEL_INPUTS : 0, &all));
        CHECK_OK(tp_future_cancel(all));
        CHECK_EQ(tp_future_state(all), TP_CANCELLED);
        for (int i = 0; i < N; i++)
            CHECK_EQ(tp_future_state(fs[i]), flag ? TP_CANCELLED : TP_PENDING);
        held_open(&h);
        CHECK_OK(tp_wait_all(fs, N, -1));
        for (int i = 0; i < N; i++) {
            CHECK_EQ(tp_future_state(fs[i]),
                     flag ? TP_CANCELLED : TP_COMPLETED);
            tp_future_release(fs[i]);
        }
        CHECK_EQ(tp_future_state(all), TP_CANCELLED);
        tp_future_release(all);
        held_destroy(&h);
    }
}

/* An allocator that, at the next allocation made by one thread, opens an
 * event and waits for another: a way to act in the middle of a library
 * call (tp_when_all() allocates once its arguments are checked, before it
 * registers anything). */
typedef struct trigger {
    event *open;    /* signalled by the allocation */
    event *reached; /* then waited for, before the allocation returns */
} trigger;

static _Atomic(trigger *) alloc_trigger;
static pthread_t alloc_trigger_thread; /* written before alloc_trigger */

static void *trigger_malloc(size_t size)
{
    trigger *t = atomic_load(&alloc_trigger);
    if (t != NULL && pthread_equal(pthread_self(), alloc_trigger_thread) &&
        atomic_compare_exchange_strong(&alloc_trigger, &t, NULL)) {
        event_signal(t->open);
        event_wait(t->reached, 1);
    }
    return malloc(size);
}

static void signal_settled(tp_future *f, void *ctx)
{
    (void)f;
    event_signal(ctx);
}

TEST(when_all_cancelled_first_despite_racing_failures)
{
    /* One input is cancelled before the call; a thousand others, with
     * lower indices, fail from the pool's tasks once their gate opens,
     * which happens inside the call: the first one has failed before the
     * call goes on (it waits for that), the others fail while it registers
     * its callbacks.  The cancelled input had settled when the call began,
     * so it counts first: CANCELLED every time, however the failures
     * interleave with the registration. */
    enum { RACERS = 1000, THREADS = 4 };
    alloc_trigger_thread = pthread_self();
    CHECK_OK(tp_replace_allocator(trigger_malloc, free));
    tp_pool *p = make_pool(THREADS);
    static tp_future *fs[RACERS + 1];
    int rounds = SCALE(300);
    for (int round = 0; round < rounds; round++) {
        ctl c;
        ctl_init(&c, 21, NULL);
        event first_failed;
        event_init(&first_failed);
        for (int i = 0; i < RACERS; i++)
            CHECK_OK(tp_submit_future(p, ctl_task, &c, &fs[i]));
        event_wait(&c.started, THREADS); /* the rest are queued */
        CHECK_OK(tp_future_on_done(fs[0], signal_settled, &first_failed));
        CHECK_OK(tp_submit_future(p, identity, NULL, &fs[RACERS]));
        CHECK_OK(tp_future_cancel(fs[RACERS]));
        tp_future *all;
        trigger t = {&c.open, &first_failed};
        atomic_store(&alloc_trigger, &t);
        CHECK_OK(tp_when_all(fs, RACERS + 1, 0, &all));
        CHECK(atomic_load(&alloc_trigger) == NULL); /* fired in the call */
        int rc = tp_future_get(all, -1, NULL);
        if (rc != TP_ECANCELED)
            fprintf(stderr, "round %d: %s\n", round, tp_err_name(rc));
        CHECK_EQ(rc, TP_ECANCELED);
        CHECK_EQ(tp_future_error(all), TP_ECANCELED);
        CHECK_OK(tp_wait_all(fs, RACERS + 1, -1));
        for (int i = 0; i < RACERS; i++) {
            CHECK_EQ(tp_future_error(fs[i]), 21);
            tp_future_release(fs[i]);
        }
        tp_future_release(fs[RACERS]);
        tp_future_release(all);
        ctl_destroy(&c);
        event_destroy(&first_failed);
    }
    CHECK_OK(tp_pool_destroy(p));
    CHECK_OK(tp_replace_allocator(NULL, NULL));
}

/* ---- when_any ------------------------------------------------------------ */

TEST(when_any_first_wins)
{
    tp_pool *p = make_pool(4);
    enum { N = 4 };
    ctl c[N];
    tp_future *fs[N], *any;
    for (int i = 0; i < N; i++) {
        ctl_init(&c[i], 0, (void *)(uintptr_t)(100 + i));
        CHECK_OK(tp_submit_future(p, ctl_task, &c[i], &fs[i]));
    }
    CHECK_OK(tp_when_any(fs, N, 0, &any));
    CHECK_EQ(tp_future_state(any), TP_PENDING);
    event_signal(&c[2].open);
    void *r = NULL;
    CHECK_OK(tp_future_get(any, -1, &r));
    CHECK_EQ((uintptr_t)r, 2);
    /* The losers run on. */
    for (int i = 0; i < N; i++)
        event_signal(&c[i].open);
    CHECK_OK(tp_wait_all(fs, N, -1));
    for (int i = 0; i < N; i++) {
        CHECK_EQ(tp_future_state(fs[i]), TP_COMPLETED);
        CHECK_EQ(atomic_load(&c[i].saw_stop), 0);
        tp_future_release(fs[i]);
        ctl_destroy(&c[i]);
    }
    tp_future_release(any);
    CHECK_OK(tp_pool_destroy(p));
}

TEST(when_any_already_settled)
{
    held_pool h;
    held_init(&h);
    tp_pool *p = make_pool(2);
    tp_future *fs[4], *any;
    CHECK_OK(tp_submit_future(h.pool, identity, NULL, &fs[0])); /* pending */
    for (int i = 1; i < 4; i++)
        CHECK_OK(tp_submit_future(p, identity, NULL, &fs[i]));
    CHECK_OK(tp_wait_all(fs + 1, 3, -1));
    CHECK_OK(tp_when_any(fs, 4, 0, &any));
    CHECK_EQ(tp_future_state(any), TP_COMPLETED);
    CHECK_EQ((uintptr_t)get_now(any), 1); /* the lowest settled index */
    tp_future_release(any);
    held_destroy(&h);
    for (int i = 0; i < 4; i++)
        tp_future_release(fs[i]);
    CHECK_OK(tp_pool_destroy(p));
}

TEST(when_any_mirrors_the_winner)
{
    tp_pool *p = make_pool(2);
    /* A failed winner. */
    tp_future *fs[2], *any;
    ctl c;
    ctl_init(&c, 0, NULL);
    CHECK_OK(tp_submit_future(p, ctl_task, &c, &fs[0]));
    CHECK_OK(tp_submit_future(p, fail_task, (void *)33, &fs[1]));
    CHECK_OK(tp_when_any(fs, 2, 0, &any));
    CHECK_EQ(tp_future_get(any, -1, NULL), TP_EFAILED);
    CHECK_EQ(tp_future_error(any), 33);
    event_signal(&c.open);
    CHECK_OK(tp_future_wait(fs[0], -1));
    tp_future_release(any);
    for (int i = 0; i < 2; i++)
        tp_future_release(fs[i]);
    ctl_destroy(&c);

    /* A cancelled winner, with TP_COMBINE_CANCEL_INPUTS: the others are
     * not cancelled (the new future was not cancelled by anyone). */
    held_pool h;
    held_init(&h);
    CHECK_OK(tp_submit_future(h.pool, identity, NULL, &fs[0]));
    CHECK_OK(tp_submit_future(h.pool, identity, NULL, &fs[1]));
    CHECK_OK(tp_when_any(fs, 2, TP_COMBINE_CANCEL_INPUTS, &any));
    CHECK_OK(tp_future_cancel(fs[1]));
    CHECK_EQ(tp_future_state(any), TP_CANCELLED);
    CHECK_EQ(tp_future_state(fs[0]), TP_PENDING);
    held_open(&h);
    CHECK_OK(tp_future_get(fs[0], -1, NULL));
    tp_future_release(any);
    for (int i = 0; i < 2; i++)
        tp_future_release(fs[i]);
    held_destroy(&h);
    CHECK_OK(tp_pool_destroy(p));
}

TEST(when_any_cancel_losers)
{
    /* Pending losers are cancelled; a running one is asked to stop. */
    held_pool h;
    held_init(&h);
    tp_pool *p = make_pool(2);
    ctl running, winner;
    ctl_init(&running, 0, NULL);
    ctl_init(&winner, 0, NULL);
    running.ack_stop = true;
    tp_future *fs[4], *any;
    CHECK_OK(tp_submit_future(h.pool, identity, NULL, &fs[0]));
    CHECK_OK(tp_submit_future(p, ctl_task, &running, &fs[1]));
    CHECK_OK(tp_submit_future(h.pool, identity, NULL, &fs[2]));
    CHECK_OK(tp_submit_future(p, ctl_task, &winner, &fs[3]));
    event_wait(&running.started, 1);
    CHECK_OK(tp_when_any(fs, 4, TP_COMBINE_CANCEL_LOSERS, &any));
    event_signal(&winner.open);
    void *r = NULL;
    CHECK_OK(tp_future_get(any, -1, &r));
    CHECK_EQ((uintptr_t)r, 3);
    CHECK_EQ(tp_future_state(fs[0]), TP_CANCELLED);
    CHECK_EQ(tp_future_state(fs[2]), TP_CANCELLED);
    event_signal(&running.open);
    CHECK_EQ(tp_future_get(fs[1], -1, NULL), TP_ECANCELED);
    CHECK_EQ(atomic_load(&running.saw_stop), 1);
    for (int i = 0; i < 4; i++)
        tp_future_release(fs[i]);
    tp_future_release(any);
    held_destroy(&h);
    CHECK_OK(tp_pool_destroy(p));
    ctl_destroy(&running);
    ctl_destroy(&winner);
}

TEST(when_any_cancel_inputs)
{
    for (int flag = 0; flag < 2; flag++) {
        held_pool h;
        held_init(&h);
        tp_future *fs[3], *any;
        for (int i = 0; i < 3; i++)
            CHECK_OK(tp_submit_future(h.pool, identity, NULL, &fs[i]));
        CHECK_OK(tp_when_any(fs, 3, flag ? TP_COMBINE_CANCEL_INPUTS : 0, &any));
        CHECK_OK(tp_future_cancel(any));
        for (int i = 0; i < 3; i++)
            CHECK_EQ(tp_future_state(fs[i]), flag ? TP_CANCELLED : TP_PENDING);
        held_open(&h);
        CHECK_OK(tp_wait_all(fs, 3, -1));
        CHECK_EQ(tp_future_state(any), TP_CANCELLED);
        for (int i = 0; i < 3; i++)
            tp_future_release(fs[i]);
        tp_future_release(any);
        held_destroy(&h);
    }
}

/* Combinators of combinators and continuations, settling concurrently. */
TEST(nested_combinators_stress)
{
    tp_pool *p = make_pool(4);
    int rounds = SCALE(300);
    for (int round = 0; round < rounds; round++) {
        enum { N = 8 };
        tp_future *fs[N], *all, *any, *both[2], *top, *last;
        for (uintptr_t i = 0; i < N; i++)
            CHECK_OK(tp_submit_future(p, identity, (void *)i, &fs[i]));
        CHECK_OK(tp_when_all(fs, N, 0, &all));
        CHECK_OK(tp_when_any(fs, N, 0, &any));
        for (int i = 0; i < N; i++)
            tp_future_release(fs[i]);
        both[0] = all;
        both[1] = any;
        CHECK_OK(tp_when_all(both, 2, 0, &top));
        CHECK_OK(tp_future_then(top, round % 2 ? p : NULL, add_one, NULL,
                                TP_THEN_ALWAYS, &last));
        tp_future_release(top);
        uintptr_t won = (uintptr_t)-1;
        void *r = NULL;
        CHECK_OK(tp_future_get(any, -1, &r));
        won = (uintptr_t)r;
        CHECK(won < N);
        CHECK_OK(tp_future_get(all, -1, NULL));
        CHECK_OK(tp_future_get(last, -1, &r));
        CHECK_EQ((uintptr_t)r, 1); /* top's result is NULL */
        tp_future_release(all);
        tp_future_release(any);
        tp_future_release(last);
    }
    CHECK_OK(tp_pool_destroy(p));
}

/* ---- arguments --------------------------------------------------------- */

TEST(bad_arguments)
{
    tp_pool *p = make_pool(1);
    static int dummy;
    tp_future *const keep = (tp_future *)(void *)&dummy;
    tp_future *f, *out = keep, *fs[2];
    CHECK_OK(tp_submit_future(p, identity, NULL, &f));
    fs[0] = f;
    fs[1] = NULL;

    CHECK_EQ(tp_future_then(NULL, p, add_one, NULL, 0, &out), TP_EINVAL);
    CHECK_EQ(tp_future_then(f, p, NULL, NULL, 0, &out), TP_EINVAL);
    CHECK_EQ(tp_future_then(f, p, add_one, NULL, 0, NULL), TP_EINVAL);
    CHECK_EQ(tp_future_then(f, p, add_one, NULL, TP_COMBINE_CANCEL_LOSERS,
                            &out),
             TP_EINVAL);
    CHECK_EQ(tp_future_then(f, p, add_one, NULL, 1u << 20, &out), TP_EINVAL);

    CHECK_EQ(tp_when_all(NULL, 1, 0, &out), TP_EINVAL);
    CHECK_EQ(tp_when_all(fs, 0, 0, &out), TP_EINVAL);
    CHECK_EQ(tp_when_all(fs, 2, 0, &out), TP_EINVAL); /* fs[1] NULL */
    CHECK_EQ(tp_when_all(fs, 1, 0, NULL), TP_EINVAL);
    CHECK_EQ(tp_when_all(fs, 1, TP_THEN_ALWAYS, &out), TP_EINVAL);
    CHECK_EQ(tp_when_all(fs, 1, TP_COMBINE_CANCEL_LOSERS, &out), TP_EINVAL);

    CHECK_EQ(tp_when_any(NULL, 1, 0, &out), TP_EINVAL);
    CHECK_EQ(tp_when_any(fs, 0, 0, &out), TP_EINVAL);
    CHECK_EQ(tp_when_any(fs, 2, 0, &out), TP_EINVAL);
    CHECK_EQ(tp_when_any(fs, 1, 0, NULL), TP_EINVAL);
    CHECK_EQ(tp_when_any(fs, 1, TP_THEN_ALWAYS, &out), TP_EINVAL);
    CHECK_EQ(tp_when_any(fs, 1, 1u << 20, &out), TP_EINVAL);
    /* A future in caller storage: its references could not be tracked. */
    tp_task_storage storage;
    tp_future *inplace;
    CHECK_OK(tp_submit_inplace(p, &storage, identity, NULL, NULL, &inplace));
    tp_future *with_inplace[2] = {f, inplace};
    CHECK_EQ(tp_future_then(inplace, p, add_one, NULL, 0, &out), TP_EINVAL);
    CHECK_EQ(tp_when_all(with_inplace, 2, 0, &out), TP_EINVAL);
    CHECK_EQ(tp_when_any(with_inplace, 2, 0, &out), TP_EINVAL);
    CHECK_OK(tp_future_wait(inplace, -1));
    CHECK_OK(tp_future_release(inplace));
    CHECK(out == keep); /* untouched on error */

    /* Every flag each one does take. */
    tp_future *a, *b, *c;
    CHECK_OK(tp_future_then(f, p, add_one, NULL,
                            TP_THEN_ALWAYS | TP_COMBINE_CANCEL_INPUTS, &a));
    CHECK_OK(tp_when_all(fs, 1, TP_COMBINE_CANCEL_INPUTS, &b));
    CHECK_OK(tp_when_any(fs, 1,
                         TP_COMBINE_CANCEL_INPUTS | TP_COMBINE_CANCEL_LOSERS,
                         &c));
    tp_future *abc[3] = {a, b, c};
    CHECK_OK(tp_wait_all(abc, 3, -1));
    CHECK_EQ((uintptr_t)get_now(a), 1);
    CHECK_EQ((uintptr_t)get_now(c), 0);
    for (int i = 0; i < 3; i++)
        tp_future_release(abc[i]);
    tp_future_release(f);
    CHECK_OK(tp_pool_destroy(p));
}

/* ---- allocation failures ------------------------------------------------- */

/* Each call succeeds or fails cleanly with TP_ENOMEM; what succeeded
 * settles as it should (a pooled continuation may fail with TP_ENOMEM when
 * its carrier cannot be submitted). */
static void fault_scenario(void)
{
    tp_options o;
    tp_options_init(&o);
    o.threads = 2;
    tp_pool *p;
    if (!ok_or_nomem(tp_pool_create(&p, &o)))
        return;
    ctl g;
    ctl_init(&g, 0, (void *)1);
    tp_future *held = NULL, *done = NULL;
    if (!ok_or_nomem(tp_submit_future(p, ctl_task, &g, &held)) ||
        !ok_or_nomem(tp_submit_future(p, identity, (void *)2, &done))) {
        event_signal(&g.open);
        if (held != NULL)
            tp_future_release(held);
        CHECK_OK(tp_pool_destroy(p));
        ctl_destroy(&g);
        return;
    }
    /* `held` must be running, not merely queued: case 5 cancels the
     * losers, and a queued `held` would be one. */
    event_wait(&g.started, 1);
    CHECK_OK(tp_future_wait(done, -1));
    tp_future *ins[2] = {held, done};

    enum { MAX_OUTS = 8 };
    tp_future *outs[MAX_OUTS];
    int kind[MAX_OUTS];
    size_t n = 0;
    for (int k = 0; k < 7; k++) {
        tp_future *out = NULL;
        int rc;
        switch (k) {
        case 0:
            rc = tp_future_then(held, NULL, add_one, NULL, 0, &out);
            break;
        case 1:
            rc = tp_future_then(held, p, add_one, NULL, 0, &out);
            break;
        case 2:
            rc = tp_future_then(done, p, add_one, NULL,
                                TP_COMBINE_CANCEL_INPUTS, &out);
            break;
        case 3:
            rc = tp_when_all(ins, 2, 0, &out);
            break;
        case 4:
            rc = tp_when_all(ins, 2, TP_COMBINE_CANCEL_INPUTS, &out);
            break;
        case 5:
            rc = tp_when_any(ins, 2, TP_COMBINE_CANCEL_LOSERS, &out);
            break;
        default:
            rc = tp_when_any(ins, 2, TP_COMBINE_CANCEL_INPUTS, &out);
            break;
        }
        if (ok_or_nomem(rc)) {
            CHECK(out != NULL);
            outs[n] = out;
            kind[n] = k;
            n++;
        } else {
            CHECK(out == NULL);
        }
    }
    event_signal(&g.open);
    for (size_t i = 0; i < n; i++) {
        void *r = NULL;
        int rc = tp_future_get(outs[i], -1, &r);
        switch (kind[i]) {
        case 0:
            CHECK_OK(rc);
            CHECK_EQ((uintptr_t)r, 2);
            break;
        case 1:
        case 2:
            if (rc == 0)
                CHECK_EQ((uintptr_t)r, kind[i] == 1 ? 2 : 3);
            else
                CHECK(rc == TP_EFAILED &&
                      tp_future_error(outs[i]) == TP_ENOMEM);
            break;
        case 3:
        case 4:
            CHECK_OK(rc);
            break;
        default:
            CHECK_OK(rc);
            CHECK_EQ((uintptr_t)r, 1); /* `done` had settled */
            break;
        }
        tp_future_release(outs[i]);
    }
    tp_future_release(held);
    tp_future_release(done);
    CHECK_OK(tp_pool_destroy(p));
    ctl_destroy(&g);
}

TEST(every_allocation_failure)
{
    CHECK(walk_allocation_failures(fault_scenario) >= 15);
}

/* TP_THEN_ON_FAILURE: the function recovers from a failure; a success
 * passes through untouched. */
static void *recover_fn(tp_future *src, void *ctx)
{
    CHECK(tp_future_state(src) == TP_FAILED ||
          tp_future_state(src) == TP_CANCELLED);
    atomic_fetch_add((atomic_int *)ctx, 1);
    return (void *)(intptr_t)(1000 + tp_future_error(src));
}

TEST(then_on_failure_recovers)
{
    atomic_int calls = 0;
    tp_pool *p = make_pool(2);
    for (int pooled = 0; pooled < 2; pooled++) {
        tp_pool *where = pooled ? p : NULL;
        tp_future *bad, *good, *r1, *r2;
        CHECK_OK(tp_promise_create(&bad));
        CHECK_OK(tp_promise_create(&good));
        CHECK_OK(tp_future_then(bad, where, recover_fn, &calls,
                                TP_THEN_ON_FAILURE, &r1));
        CHECK_OK(tp_future_then(good, where, recover_fn, &calls,
                                TP_THEN_ON_FAILURE, &r2));
        CHECK_OK(tp_promise_fail(bad, 7));
        CHECK_OK(tp_promise_complete(good, &calls));
        void *v;
        CHECK_OK(tp_future_get(r1, -1, &v));
        CHECK_EQ((intptr_t)v, 1007);
        CHECK_OK(tp_future_get(r2, -1, &v));
        CHECK(v == &calls);
        tp_future_release(r1);
        tp_future_release(r2);
        tp_future_release(bad);
        tp_future_release(good);
    }
    CHECK_EQ(atomic_load(&calls), 2);
    tp_future *f, *out;
    CHECK_OK(tp_promise_create(&f));
    CHECK_EQ(tp_future_then(f, NULL, recover_fn, NULL,
                            TP_THEN_ON_FAILURE | TP_THEN_ALWAYS, &out),
             TP_EINVAL);
    tp_future_release(f);
    CHECK_OK(tp_pool_destroy(p));
}

/* ---- then_compose ------------------------------------------------------- */

typedef struct compose_ctx {
    tp_pool *pool;   /* where fn submits the inner task (NULL: a promise) */
    atomic_int calls;
    int mode;        /* 0: inner = source + 1; 1: fail(9), NULL; 2: NULL;
                        3: inner fails (11); 4: inner is left pending;
                        5: fail(13) and return a future all the same */
    tp_future *held; /* mode 4: the inner future, for the test */
} compose_ctx;

static void *plus1_task(void *arg)
{
    return (void *)((uintptr_t)arg + 1);
}

static void *fail_eleven(void *arg)
{
    (void)arg;
    tp_task_fail(11);
    return NULL;
}

static tp_future *compose_fn(tp_future *src, void *vctx)
{
    compose_ctx *c = vctx;
    atomic_fetch_add(&c->calls, 1);
    void *v = NULL;
    (void)tp_future_get(src, 0, &v);
    tp_future *inner = NULL;
    switch (c->mode) {
    case 0:
        if (c->pool != NULL) {
            int rc = tp_submit_future(c->pool, plus1_task, v, &inner);
            if (!ok_or_nomem(rc)) {
                tp_task_fail(rc);
                return NULL;
            }
        } else {
            CHECK_OK(tp_promise_create(&inner));
            CHECK_OK(tp_promise_complete(inner, (void *)((uintptr_t)v + 1)));
        }
        return inner;
    case 1:
        tp_task_fail(9);
        return NULL;
    case 2:
        return NULL;
    case 3:
        CHECK_OK(tp_submit_future(c->pool, fail_eleven, NULL, &inner));
        return inner;
    case 5:
        CHECK_OK(tp_promise_create(&inner));
        tp_task_fail(13);
        return inner;
    default:
        CHECK_OK(tp_promise_create(&inner));
        CHECK_OK(tp_future_retain(inner));
        c->held = inner;
        return inner;
    }
}

TEST(compose_flattens)
{
    tp_pool *p = make_pool(2);
    for (int where = 0; where < 3; where++) {
        compose_ctx c = {where == 2 ? NULL : p, 0, 0, NULL};
        tp_future *src, *out;
        CHECK_OK(tp_promise_create(&src));
        CHECK_OK(tp_future_then_compose(src, where == 0 ? p : NULL, compose_fn,
                                        &c, 0, &out));
        CHECK_EQ(tp_future_state(out), TP_PENDING);
        CHECK_OK(tp_promise_complete(src, (void *)41));
        void *r;
        CHECK_OK(tp_future_get(out, -1, &r));
        CHECK_EQ((uintptr_t)r, 42);
        CHECK_EQ(atomic_load(&c.calls), 1);
        /* On a settled source: settles (inline) or is queued at once. */
        tp_future *again;
        CHECK_OK(tp_future_then_compose(out, where == 0 ? p : NULL, compose_fn,
                                        &c, 0, &again));
        CHECK_OK(tp_future_get(again, -1, &r));
        CHECK_EQ((uintptr_t)r, 43);
        tp_future_release(again);
        tp_future_release(out);
        tp_future_release(src);
    }
    /* A chain of 1,000 compositions. */
    compose_ctx c = {p, 0, 0, NULL};
    tp_future *head, *f;
    CHECK_OK(tp_promise_create(&head));
    CHECK_OK(tp_future_retain(head));
    f = head;
    for (int i = 0; i < 1000; i++) {
        tp_future *next;
        CHECK_OK(tp_future_then_compose(f, p, compose_fn, &c, 0, &next));
        tp_future_release(f);
        f = next;
    }
    CHECK_OK(tp_promise_complete(head, (void *)0));
    void *r;
    CHECK_OK(tp_future_get(f, -1, &r));
    CHECK_EQ((uintptr_t)r, 1000);
    tp_future_release(f);
    tp_future_release(head);
    CHECK_OK(tp_pool_destroy(p));
}

TEST(compose_failures)
{
    tp_pool *p = make_pool(2);
    /* The source fails: passes through, fn never runs. */
    compose_ctx c = {p, 0, 0, NULL};
    tp_future *src, *out;
    CHECK_OK(tp_promise_create(&src));
    CHECK_OK(tp_future_then_compose(src, p, compose_fn, &c, 0, &out));
    CHECK_OK(tp_promise_fail(src, 5));
    CHECK_EQ(tp_future_get(out, -1, NULL), TP_EFAILED);
    CHECK_EQ(tp_future_error(out), 5);
    CHECK_EQ(atomic_load(&c.calls), 0);
    tp_future_release(out);
    tp_future_release(src);
    /* fn fails; fn gives no future; the inner future fails. */
    int want[3] = {9, TP_EINVAL, 11};
    for (int m = 1; m <= 3; m++) {
        compose_ctx d = {p, 0, m, NULL};
        CHECK_OK(tp_promise_create(&src));
        CHECK_OK(tp_future_then_compose(src, p, compose_fn, &d, 0, &out));
        CHECK_OK(tp_promise_complete(src, NULL));
        CHECK_EQ(tp_future_get(out, -1, NULL), TP_EFAILED);
        CHECK_EQ(tp_future_error(out), want[m - 1]);
        CHECK_EQ(atomic_load(&d.calls), 1);
        tp_future_release(out);
        tp_future_release(src);
    }
    /* fn fails yet returns a future: out fails with fn's code, and the
     * future is released (a leak checker sees it otherwise). */
    for (int i = 0; i < 100; i++) {
        compose_ctx d = {p, 0, 5, NULL};
        CHECK_OK(tp_promise_create(&src));
        CHECK_OK(tp_future_then_compose(src, p, compose_fn, &d, 0, &out));
        CHECK_OK(tp_promise_complete(src, NULL));
        CHECK_EQ(tp_future_get(out, -1, NULL), TP_EFAILED);
        CHECK_EQ(tp_future_error(out), 13);
        tp_future_release(out);
        tp_future_release(src);
    }
    /* TP_THEN_ON_FAILURE: a success passes through with its value. */
    compose_ctx e = {p, 0, 0, NULL};
    CHECK_OK(tp_promise_create(&src));
    CHECK_OK(tp_future_then_compose(src, p, compose_fn, &e, TP_THEN_ON_FAILURE,
                                    &out));
    CHECK_OK(tp_promise_complete(src, (void *)7));
    void *r;
    CHECK_OK(tp_future_get(out, -1, &r));
    CHECK_EQ((uintptr_t)r, 7);
    CHECK_EQ(atomic_load(&e.calls), 0);
    tp_future_release(out);
    tp_future_release(src);
    CHECK_OK(tp_pool_destroy(p));
}

TEST(compose_cancel)
{
    tp_pool *p = make_pool(2);
    /* Before fn runs: it never does; with the flag the source goes too. */
    for (int flag = 0; flag < 2; flag++) {
        compose_ctx c = {p, 0, 0, NULL};
        tp_future *src, *out;
        CHECK_OK(tp_promise_create(&src));
        CHECK_OK(tp_future_then_compose(
            src, p, compose_fn, &c, flag ? TP_COMBINE_CANCEL_INPUTS : 0, &out));
        CHECK_OK(tp_future_cancel(out));
        CHECK_EQ(tp_future_get(out, -1, NULL), TP_ECANCELED);
        CHECK_EQ(tp_future_state(src), flag ? TP_CANCELLED : TP_PENDING);
        if (!flag)
            CHECK_OK(tp_promise_complete(src, NULL));
        CHECK_OK(tp_pool_wait_idle(p, -1));
        CHECK_EQ(atomic_load(&c.calls), 0);
        tp_future_release(out);
        tp_future_release(src);
    }
    /* Once the inner future exists: with the flag it is cancelled, else
     * it runs on; either way out is CANCELLED. */
    for (int flag = 0; flag < 2; flag++) {
        compose_ctx c = {p, 0, 4, NULL};
        tp_future *src, *out;
        CHECK_OK(tp_promise_create(&src));
        CHECK_OK(tp_future_then_compose(
            src, NULL, compose_fn, &c, flag ? TP_COMBINE_CANCEL_INPUTS : 0,
            &out));
        CHECK_OK(tp_promise_complete(src, NULL));
        CHECK(c.held != NULL);
        CHECK_EQ(tp_future_state(out), TP_PENDING);
        CHECK_OK(tp_future_cancel(out));
        CHECK_EQ(tp_future_get(out, -1, NULL), TP_ECANCELED);
        CHECK_EQ(tp_future_state(c.held), flag ? TP_CANCELLED : TP_PENDING);
        if (!flag)
            CHECK_OK(tp_promise_complete(c.held, NULL));
        tp_future_release(c.held);
        tp_future_release(out);
        tp_future_release(src);
    }
    CHECK_OK(tp_pool_destroy(p));
}

/* ---- or_timeout ---------------------------------------------------------- */

TEST(or_timeout_fires)
{
    tp_pool *p = make_pool(2);
    for (int flag = 0; flag < 2; flag++) {
        tp_future *src, *out;
        CHECK_OK(tp_promise_create(&src));
        double t0 = now_ms();
        CHECK_OK(tp_future_or_timeout(src, p, 20,
                                      flag ? TP_COMBINE_CANCEL_INPUTS : 0,
                                      &out));
        CHECK_EQ(tp_future_state(out), TP_PENDING);
        CHECK_EQ(tp_future_get(out, -1, NULL), TP_EFAILED);
        CHECK(now_ms() - t0 >= 19.0);
        CHECK_EQ(tp_future_error(out), TP_ETIMEDOUT);
        /* Cancelled before out settled, with the flag; else left alone. */
        CHECK_EQ(tp_future_state(src), flag ? TP_CANCELLED : TP_PENDING);
        if (!flag)
            CHECK_OK(tp_promise_complete(src, (void *)1));
        CHECK_EQ(tp_future_error(out), TP_ETIMEDOUT);
        tp_future_release(out);
        tp_future_release(src);
    }
    /* 0: at once (from a task of the pool). */
    tp_future *src, *out;
    CHECK_OK(tp_promise_create(&src));
    CHECK_OK(tp_future_or_timeout(src, p, 0, 0, &out));
    CHECK_EQ(tp_future_get(out, -1, NULL), TP_EFAILED);
    CHECK_EQ(tp_future_error(out), TP_ETIMEDOUT);
    CHECK_OK(tp_promise_complete(src, NULL)); /* the timeout holds it till then */
    tp_future_release(out);
    tp_future_release(src);
    CHECK_OK(tp_pool_destroy(p));
}

TEST(or_timeout_source_first)
{
    tp_pool *p = make_pool(2);
    tp_future *src, *out;
    /* Settles as the source: completed, failed, cancelled. */
    for (int how = 0; how < 3; how++) {
        CHECK_OK(tp_promise_create(&src));
        CHECK_OK(tp_future_or_timeout(src, p, 3600 * 1000, 0, &out));
        if (how == 0)
            CHECK_OK(tp_promise_complete(src, (void *)5));
        else if (how == 1)
            CHECK_OK(tp_promise_fail(src, 6));
        else
            CHECK_OK(tp_future_cancel(src));
        void *r = NULL;
        int rc = tp_future_get(out, -1, &r);
        if (how == 0) {
            CHECK_OK(rc);
            CHECK_EQ((uintptr_t)r, 5);
        } else if (how == 1) {
            CHECK_EQ(rc, TP_EFAILED);
            CHECK_EQ(tp_future_error(out), 6);
        } else {
            CHECK_EQ(rc, TP_ECANCELED);
        }
        tp_future_release(out);
        tp_future_release(src);
    }
    /* Already settled: settled on return.  Negative: a plain mirror. */
    CHECK_OK(tp_promise_create(&src));
    CHECK_OK(tp_promise_complete(src, (void *)8));
    CHECK_OK(tp_future_or_timeout(src, p, 0, 0, &out));
    void *r;
    CHECK_OK(tp_future_get(out, 0, &r));
    CHECK_EQ((uintptr_t)r, 8);
    tp_future_release(out);
    tp_future_release(src);
    CHECK_OK(tp_promise_create(&src));
    CHECK_OK(tp_future_or_timeout(src, p, -1, 0, &out));
    CHECK_EQ(tp_future_wait(out, 30), TP_ETIMEDOUT);
    CHECK_OK(tp_promise_complete(src, (void *)9));
    CHECK_OK(tp_future_get(out, -1, &r));
    CHECK_EQ((uintptr_t)r, 9);
    tp_future_release(out);
    tp_future_release(src);
    CHECK_OK(tp_pool_destroy(p));
}

/* A timeout whose source settles first gives its memory back at once,
 * not when the hour has passed. */
TEST(or_timeout_disarmed_when_source_settles)
{
    CHECK_OK(tp_replace_allocator(failing_malloc, counting_free));
    atomic_store(&allocs_left, -1);
    atomic_store(&live, 0);
    tp_pool *p = make_pool(2);
    tp_future *warm, *wo;
    CHECK_OK(tp_promise_create(&warm));
    CHECK_OK(tp_future_or_timeout(warm, p, 3600 * 1000, 0, &wo)); /* timers made */
    long before = atomic_load(&live);
    for (int i = 0; i < 1000; i++) {
        tp_future *src, *out;
        CHECK_OK(tp_promise_create(&src));
        CHECK_OK(tp_future_or_timeout(src, p, 3600 * 1000, 0, &out));
        CHECK_OK(tp_promise_complete(src, NULL));
        CHECK_OK(tp_future_get(out, -1, NULL));
        tp_future_release(out);
        tp_future_release(src);
    }
    CHECK_EQ(atomic_load(&live), before);
    CHECK_OK(tp_promise_complete(warm, NULL));
    tp_future_release(wo);
    tp_future_release(warm);
    CHECK_OK(tp_pool_destroy(p));
    CHECK_EQ(atomic_load(&live), 0);
    CHECK_OK(tp_replace_allocator(NULL, NULL));
}

TEST(or_timeout_cancel_and_shutdown)
{
    tp_pool *p = make_pool(2);
    for (int flag = 0; flag < 2; flag++) {
        tp_future *src, *out;
        CHECK_OK(tp_promise_create(&src));
        CHECK_OK(tp_future_or_timeout(src, p, 3600 * 1000,
                                      flag ? TP_COMBINE_CANCEL_INPUTS : 0,
                                      &out));
        CHECK_OK(tp_future_cancel(out));
        CHECK_EQ(tp_future_get(out, -1, NULL), TP_ECANCELED);
        CHECK_EQ(tp_future_state(src), flag ? TP_CANCELLED : TP_PENDING);
        tp_future_release(out);
        if (!flag)
            CHECK_OK(tp_promise_complete(src, NULL));
        tp_future_release(src);
    }
    /* A shutdown with the timer armed: FAILED with TP_ESHUTDOWN; the
     * source settling after the pool has gone is harmless. */
    tp_future *src, *out, *x;
    CHECK_OK(tp_promise_create(&src));
    CHECK_OK(tp_future_or_timeout(src, p, 3600 * 1000, 0, &out));
    CHECK_OK(tp_pool_destroy(p));
    CHECK_EQ(tp_future_get(out, 0, NULL), TP_EFAILED);
    CHECK_EQ(tp_future_error(out), TP_ESHUTDOWN);
    CHECK_OK(tp_promise_complete(src, NULL));
    tp_future_release(out);
    tp_future_release(src);
    /* After a shutdown, a new timer is refused; none needed, no error. */
    p = make_pool(1);
    CHECK_OK(tp_pool_shutdown(p));
    CHECK_OK(tp_promise_create(&src));
    CHECK_EQ(tp_future_or_timeout(src, p, 10, 0, &x), TP_ESHUTDOWN);
    CHECK_OK(tp_future_or_timeout(src, p, -1, 0, &x));
    CHECK_OK(tp_promise_complete(src, NULL));
    CHECK_OK(tp_future_get(x, 0, NULL));
    tp_future_release(x);
    tp_future_release(src);
    CHECK_OK(tp_pool_destroy(p));
}

/* Under valgrind (helgrind in make test) everything is tens of times
 * slower: the race below runs fewer rounds there. */
static bool under_valgrind(void)
{
    const char *pre = getenv("LD_PRELOAD");
    return pre != NULL && strstr(pre, "vgpreload") != NULL;
}

/* Sources settling just as their timers fire: each out settles once,
 * either way. */
static void *complete_it(void *arg)
{
    tp_promise_complete(arg, (void *)1);
    return NULL;
}

TEST(or_timeout_races)
{
    tp_pool *p = make_pool(2);
    int rounds = under_valgrind() ? 100 : SCALE(2000);
    for (int i = 0; i < rounds; i++) {
        tp_future *src, *out;
        CHECK_OK(tp_promise_create(&src));
        CHECK_OK(tp_future_or_timeout(src, p, i % 2,
                                      i % 4 < 2 ? 0 : TP_COMBINE_CANCEL_INPUTS,
                                      &out));
        CHECK_OK(tp_submit(p, complete_it, src));
        if (i % 8 == 3)
            (void)tp_future_cancel(out);
        void *r = NULL;
        int rc = tp_future_get(out, -1, &r);
        if (rc == 0)
            CHECK(r == (void *)1);
        else if (rc == TP_EFAILED)
            CHECK_EQ(tp_future_error(out), TP_ETIMEDOUT);
        else
            CHECK_EQ(rc, TP_ECANCELED);
        CHECK_OK(tp_pool_wait_idle(p, -1)); /* complete_it is done with src */
        tp_future_release(out);
        tp_future_release(src);
    }
    CHECK_OK(tp_pool_destroy(p));
}

TEST(compose_and_timeout_bad_arguments)
{
    tp_pool *p = make_pool(1);
    tp_future *src, *out = NULL;
    CHECK_OK(tp_promise_create(&src));
    CHECK_EQ(tp_future_then_compose(NULL, p, compose_fn, NULL, 0, &out),
             TP_EINVAL);
    CHECK_EQ(tp_future_then_compose(src, p, NULL, NULL, 0, &out), TP_EINVAL);
    CHECK_EQ(tp_future_then_compose(src, p, compose_fn, NULL, 0, NULL),
             TP_EINVAL);
    CHECK_EQ(tp_future_then_compose(src, p, compose_fn, NULL,
                                    TP_COMBINE_CANCEL_LOSERS, &out),
             TP_EINVAL);
    CHECK_EQ(tp_future_then_compose(src, p, compose_fn, NULL,
                                    TP_THEN_ALWAYS | TP_THEN_ON_FAILURE, &out),
             TP_EINVAL);
    CHECK_EQ(tp_future_or_timeout(NULL, p, 1, 0, &out), TP_EINVAL);
    CHECK_EQ(tp_future_or_timeout(src, NULL, 1, 0, &out), TP_EINVAL);
    CHECK_EQ(tp_future_or_timeout(src, p, 1, 0, NULL), TP_EINVAL);
    CHECK_EQ(tp_future_or_timeout(src, p, 1, TP_THEN_ALWAYS, &out), TP_EINVAL);
    tp_task_storage st;
    tp_future *in;
    CHECK_OK(tp_submit_inplace(p, &st, plus1_task, NULL, NULL, &in));
    CHECK_OK(tp_future_wait(in, -1));
    CHECK_EQ(tp_future_then_compose(in, p, compose_fn, NULL, 0, &out),
             TP_EINVAL);
    CHECK_EQ(tp_future_or_timeout(in, p, 1, 0, &out), TP_EINVAL);
    CHECK(out == NULL);
    tp_future_release(in);
    tp_future_release(src);
    CHECK_OK(tp_pool_destroy(p));
}

static void compose_timeout_scenario(void)
{
    tp_pool *p;
    if (!ok_or_nomem(tp_pool_create(&p, NULL)))
        return;
    tp_future *src;
    if (ok_or_nomem(tp_promise_create(&src))) {
        compose_ctx c = {p, 0, 0, NULL};
        tp_future *a = NULL, *b = NULL, *t = NULL;
        (void)ok_or_nomem(tp_future_then_compose(src, p, compose_fn, &c, 0, &a));
        (void)ok_or_nomem(tp_future_or_timeout(src, p, 3600 * 1000, 0, &b));
        tp_future *never;
        if (ok_or_nomem(tp_promise_create(&never))) {
            if (ok_or_nomem(tp_future_or_timeout(never, p, 1, 0, &t))) {
                int rc = tp_future_get(t, -1, NULL);
                CHECK_EQ(rc, TP_EFAILED);
                CHECK(tp_future_error(t) == TP_ETIMEDOUT ||
                      tp_future_error(t) == TP_ENOMEM);
                tp_future_release(t);
            }
            /* Settled at last: until then the timeout holds it. */
            tp_promise_complete(never, NULL);
            tp_future_release(never);
        }
        tp_promise_complete(src, (void *)1);
        if (a != NULL) {
            void *r;
            int rc = tp_future_get(a, -1, &r);
            /* fn's own submit may meet the failure (CHECK_OK in it would
             * end the test, so it only runs where memory is left). */
            if (rc == 0)
                CHECK_EQ((uintptr_t)r, 2);
            else
                CHECK(rc == TP_EFAILED && tp_future_error(a) == TP_ENOMEM);
            tp_future_release(a);
        }
        if (b != NULL) {
            CHECK_OK(tp_future_get(b, -1, NULL));
            tp_future_release(b);
        }
        tp_future_release(src);
    }
    CHECK_OK(tp_pool_destroy(p));
}

TEST(compose_and_timeout_allocation_failure)
{
    CHECK(walk_allocation_failures(compose_timeout_scenario) > 0);
}

TEST_MAIN(TEST_ENTRY(then_on_failure_recovers)
          TEST_ENTRY(chain_inline)
          TEST_ENTRY(chain_pool_1)
          TEST_ENTRY(chain_pool_4)
          TEST_ENTRY(chain_from_tasks)
          TEST_ENTRY(failure_propagates_down_a_chain)
          TEST_ENTRY(cancel_propagates_up_a_chain)
          TEST_ENTRY(chains_settle_without_deep_recursion)
          TEST_ENTRY(then_result_and_task_identity)
          TEST_ENTRY(then_on_settled_source)
          TEST_ENTRY(then_failure_and_always)
          TEST_ENTRY(then_cancellation_and_always)
          TEST_ENTRY(expiry_propagates)
          TEST_ENTRY(then_fn_fails)
          TEST_ENTRY(then_cancel_while_running)
          TEST_ENTRY(then_cancel_before_run)
          TEST_ENTRY(then_pool_refuses)
          TEST_ENTRY(then_carrier_dropped_by_shutdown_now)
          TEST_ENTRY(many_continuations_on_one_source)
          TEST_ENTRY(when_all_completes)
          TEST_ENTRY(when_all_inputs_released_early)
          TEST_ENTRY(when_all_already_settled)
          TEST_ENTRY(when_all_precedence)
          TEST_ENTRY(when_all_cancel_inputs)
          TEST_ENTRY(when_all_cancelled_first_despite_racing_failures)
          TEST_ENTRY(when_any_first_wins)
          TEST_ENTRY(when_any_already_settled)
          TEST_ENTRY(when_any_mirrors_the_winner)
          TEST_ENTRY(when_any_cancel_losers)
          TEST_ENTRY(when_any_cancel_inputs)
          TEST_ENTRY(nested_combinators_stress)
          TEST_ENTRY(bad_arguments)
          TEST_ENTRY(every_allocation_failure)
          TEST_ENTRY(compose_flattens)
          TEST_ENTRY(compose_failures)
          TEST_ENTRY(compose_cancel)
          TEST_ENTRY(or_timeout_fires)
          TEST_ENTRY(or_timeout_source_first)
          TEST_ENTRY(or_timeout_disarmed_when_source_settles)
          TEST_ENTRY(or_timeout_cancel_and_shutdown)
          TEST_ENTRY(or_timeout_races)
          TEST_ENTRY(compose_and_timeout_bad_arguments)
          TEST_ENTRY(compose_and_timeout_allocation_failure))
