/*
 * test_promise.c - promises (futures their holder settles), the worker
 * index, and the wait that ends at the first failure.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "check.h"
#include "tpool.h"
#include "util.h"

static int token;

TEST(complete_then_get)
{
    tp_future *f;
    CHECK_OK(tp_promise_create(&f));
    CHECK_EQ(tp_future_state(f), TP_PENDING);
    CHECK_EQ(tp_future_wait(f, 0), TP_ETIMEDOUT);
    CHECK_OK(tp_promise_complete(f, &token));
    void *r = NULL;
    CHECK_OK(tp_future_get(f, -1, &r));
    CHECK(r == &token);
    CHECK_EQ(tp_future_started(f), 0);
    /* Settled once: the second settle changes nothing. */
    CHECK_EQ(tp_promise_complete(f, NULL), TP_EALREADY);
    CHECK_EQ(tp_promise_fail(f, 5), TP_EALREADY);
    CHECK_OK(tp_future_get(f, 0, &r));
    CHECK(r == &token);
    CHECK_OK(tp_future_release(f));
}

TEST(fail_and_cancel)
{
    tp_future *f, *g, *h;
    CHECK_OK(tp_promise_create(&f));
    CHECK_OK(tp_promise_fail(f, 42));
    CHECK_EQ(tp_future_state(f), TP_FAILED);
    CHECK_EQ(tp_future_get(f, 0, NULL), TP_EFAILED);
    CHECK_EQ(tp_future_error(f), 42);

    CHECK_OK(tp_promise_create(&g));
    CHECK_OK(tp_promise_fail(g, TP_ECANCELED));
    CHECK_EQ(tp_future_state(g), TP_CANCELLED);
    CHECK_EQ(tp_future_error(g), TP_ECANCELED);
    CHECK_EQ(tp_future_get(g, 0, NULL), TP_ECANCELED);

    /* An expired start deadline settles CANCELLED, as a task's does. */
    tp_future *e;
    CHECK_OK(tp_promise_create(&e));
    CHECK_OK(tp_promise_fail(e, TP_EEXPIRED));
    CHECK_EQ(tp_future_state(e), TP_CANCELLED);
    CHECK_EQ(tp_future_error(e), TP_EEXPIRED);
    CHECK_EQ(tp_future_get(e, 0, NULL), TP_EEXPIRED);
    CHECK_EQ(tp_promise_fail(e, 5), TP_EALREADY);
    tp_future_release(e);

    CHECK_OK(tp_promise_create(&h));
    CHECK_OK(tp_future_cancel(h));
    CHECK_EQ(tp_future_state(h), TP_CANCELLED);
    CHECK_EQ(tp_promise_complete(h, NULL), TP_EALREADY);
    tp_future_release(f);
    tp_future_release(g);
    tp_future_release(h);
}

static void *noop(void *arg)
{
    return arg;
}

TEST(errors)
{
    CHECK_EQ(tp_promise_create(NULL), TP_EINVAL);
    CHECK_EQ(tp_promise_complete(NULL, NULL), TP_EINVAL);
    CHECK_EQ(tp_promise_fail(NULL, 1), TP_EINVAL);
    tp_future *p;
    CHECK_OK(tp_promise_create(&p));
    CHECK_EQ(tp_promise_fail(p, 0), TP_EINVAL);
    CHECK_EQ(tp_future_state(p), TP_PENDING);
    /* Futures the library settles cannot be settled by hand. */
    tp_pool *pool = make_pool(1);
    tp_future *task, *all;
    CHECK_OK(tp_submit_future(pool, noop, NULL, &task));
    CHECK_EQ(tp_promise_complete(task, NULL), TP_EINVAL);
    CHECK_OK(tp_when_all(&p, 1, 0, &all));
    CHECK_EQ(tp_promise_complete(all, NULL), TP_EINVAL);
    CHECK_OK(tp_promise_complete(p, NULL));
    CHECK_OK(tp_future_wait(all, -1));
    CHECK_OK(tp_future_wait(task, -1));
    tp_future_release(all);
    tp_future_release(task);
    tp_future_release(p);
    CHECK_OK(tp_pool_destroy(pool));
}

/* A promise settled from another thread, seen through a continuation on
 * a pool, when_all and a waitset. */
static void *settle_later(void *arg)
{
    tp_future *f = arg;
    CHECK_OK(tp_promise_complete(f, &token));
    tp_future_release(f);
    return NULL;
}

static void *then_fn(tp_future *src, void *ctx)
{
    (void)ctx;
    void *r = NULL;
    CHECK_OK(tp_future_get(src, 0, &r));
    return (char *)r + 1;
}

TEST(composes_with_the_rest)
{
    tp_pool *pool = make_pool(2);
    tp_future *p, *then, *all;
    CHECK_OK(tp_promise_create(&p));
    CHECK_OK(tp_future_then(p, pool, then_fn, NULL, 0, &then));
    CHECK_OK(tp_when_all(&p, 1, 0, &all));
    tp_waitset *ws;
    CHECK_OK(tp_waitset_create(&ws));
    CHECK_OK(tp_waitset_add(ws, p));
    CHECK_OK(tp_future_retain(p)); /* the settling thread's reference */
    pthread_t t;
    CHECK_EQ(pthread_create(&t, NULL, settle_later, p), 0);
    tp_future *next;
    CHECK_OK(tp_waitset_next(ws, -1, &next));
    CHECK(next == p);
    tp_future_release(next);
    void *r;
    CHECK_OK(tp_future_get(then, -1, &r));
    CHECK(r == (char *)&token + 1);
    CHECK_OK(tp_future_wait(all, -1));
    CHECK_EQ(tp_future_state(all), TP_COMPLETED);
    pthread_join(t, NULL);
    CHECK_OK(tp_waitset_destroy(ws));
    tp_future_release(then);
    tp_future_release(all);
    tp_future_release(p);
    CHECK_OK(tp_pool_destroy(pool));
}

/* Of racing settlers exactly one wins, and its result is the one seen. */
enum { RACERS = 4 };

typedef struct race {
    tp_future *f;
    atomic_int wins;
    event go;
    int mine[RACERS];
} race;

typedef struct racer {
    race *r;
    int i;
} racer;

static void *race_settle(void *arg)
{
    racer *me = arg;
    event_wait(&me->r->go, 1);
    int rc = me->i % 2 == 0 ? tp_promise_complete(me->r->f, &me->r->mine[me->i])
                            : tp_promise_fail(me->r->f, 100 + me->i);
    if (rc == 0)
        atomic_fetch_add(&me->r->wins, 1);
    else
        CHECK_EQ(rc, TP_EALREADY);
    return NULL;
}

TEST(racing_settlers)
{
    int rounds = SCALE(500);
    for (int n = 0; n < rounds; n++) {
        race r;
        CHECK_OK(tp_promise_create(&r.f));
        atomic_init(&r.wins, 0);
        event_init(&r.go);
        pthread_t t[RACERS];
        racer who[RACERS];
        for (int i = 0; i < RACERS; i++) {
            who[i] = (racer){&r, i};
            CHECK_EQ(pthread_create(&t[i], NULL, race_settle, &who[i]), 0);
        }
        event_signal(&r.go);
        for (int i = 0; i < RACERS; i++)
            pthread_join(t[i], NULL);
        CHECK_EQ(atomic_load(&r.wins), 1);
        void *res = NULL;
        int rc = tp_future_get(r.f, 0, &res);
        if (rc == 0) {
            int i = (int)((int *)res - r.mine);
            CHECK(i >= 0 && i < RACERS && i % 2 == 0);
        } else {
            CHECK_EQ(rc, TP_EFAILED);
            int code = tp_future_error(r.f);
            CHECK(code >= 100 && code < 100 + RACERS && code % 2 == 1);
        }
        event_destroy(&r.go);
        tp_future_release(r.f);
    }
}

/* ---- the worker index ------------------------------------------------ */

static void *report_index(void *arg)
{
    (void)arg;
    return (void *)(intptr_t)tp_worker_index();
}

typedef struct hooks {
    atomic_int seen[4];
} hooks;

static void hook_index(unsigned index, void *ctx)
{
    hooks *h = ctx;
    CHECK_EQ(tp_worker_index(), (int)index);
    atomic_fetch_add(&h->seen[index], 1);
}

TEST(worker_index)
{
    CHECK_EQ(tp_worker_index(), -1);
    hooks h;
    for (int i = 0; i < 4; i++)
        atomic_init(&h.seen[i], 0);
    tp_options o;
    CHECK_OK(tp_options_init(&o));
    o.threads = 3;
    o.on_thread_start = hook_index;
    o.hook_ctx = &h;
    tp_pool *p;
    CHECK_OK(tp_pool_create(&p, &o));
    enum { N = 64 };
    tp_future *fs[N];
    for (int i = 0; i < N; i++)
        CHECK_OK(tp_submit_future(p, report_index, NULL, &fs[i]));
    for (int i = 0; i < N; i++) {
        void *r;
        CHECK_OK(tp_future_get(fs[i], -1, &r));
        CHECK((intptr_t)r >= 0 && (intptr_t)r < 3);
        tp_future_release(fs[i]);
    }
    CHECK_OK(tp_pool_destroy(p));
    for (int i = 0; i < 3; i++)
        CHECK_EQ(atomic_load(&h.seen[i]), 1);
    /* A task run on the submitting thread is not on a worker. */
    tp_pool *full = make_pool_with(1, 1, TP_FULL_CALLER_RUNS);
    gate g;
    gate_init(&g);
    CHECK_OK(tp_submit(full, gate_task, &g));
    event_wait(&g.started, 1);
    CHECK_OK(tp_submit(full, noop, NULL));
    tp_future *inl;
    CHECK_OK(tp_submit_future(full, report_index, NULL, &inl));
    void *r;
    CHECK_OK(tp_future_get(inl, 0, &r));
    CHECK_EQ((intptr_t)r, -1);
    event_signal(&g.open);
    tp_future_release(inl);
    CHECK_OK(tp_pool_destroy(full));
    gate_destroy(&g);
}

/* ---- wait for all, or the first failure ---------------------------------- */

static void *fail_task(void *arg)
{
    tp_task_fail((int)(intptr_t)arg);
    return NULL;
}

TEST(wait_all_or_first_failure)
{
    tp_pool *p = make_pool(2);
    tp_future *ok[3];
    for (int i = 0; i < 3; i++)
        CHECK_OK(tp_submit_future(p, noop, NULL, &ok[i]));
    size_t index = 99;
    CHECK_OK(tp_wait_all_or_first_failure(ok, 3, -1, &index));
    CHECK_EQ(index, 99);

    /* A failure ends the wait while another input is still held. */
    gate g;
    gate_init(&g);
    tp_future *fs[3];
    CHECK_OK(tp_submit_future(p, gate_task, &g, &fs[0]));
    event_wait(&g.started, 1);
    fs[1] = ok[0];
    CHECK_OK(tp_submit_future(p, fail_task, (void *)(intptr_t)77, &fs[2]));
    CHECK_EQ(tp_wait_all_or_first_failure(fs, 3, -1, &index), 77);
    CHECK_EQ(index, 2);
    CHECK_EQ(tp_future_state(fs[0]), TP_RUNNING);
    /* Already settled ones count first, in index order. */
    tp_future *c;
    CHECK_OK(tp_promise_create(&c));
    CHECK_OK(tp_future_cancel(c));
    tp_future *two[2] = {fs[2], c};
    CHECK_EQ(tp_wait_all_or_first_failure(two, 2, 0, &index), 77);
    CHECK_EQ(index, 0);
    /* Timeout while the held one runs. */
    tp_future *held[2] = {ok[1], fs[0]};
    CHECK_EQ(tp_wait_all_or_first_failure(held, 2, 10, &index),
             TP_ETIMEDOUT);
    CHECK_EQ(tp_wait_all_or_first_failure(NULL, 1, 0, &index), TP_EINVAL);
    CHECK_EQ(tp_wait_all_or_first_failure(fs, 3, 0, NULL), TP_EINVAL);
    event_signal(&g.open);
    CHECK_OK(tp_wait_all_or_first_failure(held, 2, -1, &index));
    for (int i = 0; i < 3; i++)
        tp_future_release(ok[i]);
    tp_future_release(fs[0]);
    tp_future_release(fs[2]);
    tp_future_release(c);
    CHECK_OK(tp_pool_destroy(p));
    gate_destroy(&g);
}

/* An input that fails after the call has looked at the inputs once but
 * before it waits must end the wait too.  The allocator settles it at
 * exactly that moment: the waitset's allocation. */
static _Atomic(tp_future *) fail_on_alloc;

static void *failing_on_alloc(size_t size)
{
    tp_future *f = atomic_exchange(&fail_on_alloc, NULL);
    if (f != NULL)
        CHECK_OK(tp_promise_fail(f, 55));
    return malloc(size);
}

TEST(failure_between_look_and_wait)
{
    CHECK_OK(tp_replace_allocator(failing_on_alloc, free));
    tp_future *fs[2];
    CHECK_OK(tp_promise_create(&fs[0])); /* never settled by anyone */
    CHECK_OK(tp_promise_create(&fs[1]));
    atomic_store(&fail_on_alloc, fs[1]);
    size_t index = 99;
    CHECK_EQ(tp_wait_all_or_first_failure(fs, 2, 5000, &index), 55);
    CHECK_EQ(index, 1);
    CHECK(atomic_load(&fail_on_alloc) == NULL); /* the hook did run */
    /* Settled, so that the call's waitset, which still holds fs[0], goes. */
    CHECK_OK(tp_future_cancel(fs[0]));
    tp_future_release(fs[0]);
    tp_future_release(fs[1]);
    CHECK_OK(tp_replace_allocator(NULL, NULL));
}

TEST_MAIN(TEST_ENTRY(complete_then_get) TEST_ENTRY(fail_and_cancel)
              TEST_ENTRY(errors) TEST_ENTRY(composes_with_the_rest)
                  TEST_ENTRY(racing_settlers) TEST_ENTRY(worker_index)
                      TEST_ENTRY(wait_all_or_first_failure)
                          TEST_ENTRY(failure_between_look_and_wait))
