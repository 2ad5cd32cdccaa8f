/*
 * test_fork.c - blocking calls in the child of fork() on what the parent's
 * pools left unsettled: waitsets, continuations and combinators (made
 * before the fork, and made in the child from the parent's futures),
 * futures in caller storage, parallel loops.  None of them may block for
 * ever there: the pool's workers do not exist in the child.
 *
 * Each case forks one child, which runs numbered checks and reports
 * through its exit status: 0, or the number of the first check that
 * failed.  alarm() is the child's watchdog: a check that blocks ends the
 * child with 100 + its number instead of hanging the suite.  Futures stay
 * pending across the fork because their tasks block on gates, which the
 * parent opens once the child has exited.
 *
 * Under ThreadSanitizer the children create no threads (it does not
 * support that after a multi-threaded fork); the case that needs a new
 * pool in the child runs in the other builds only.
 */
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "tpool.h"
#include "util.h"

#if defined(__SANITIZE_THREAD__)
#define UNDER_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define UNDER_TSAN 1
#endif
#endif
#ifndef UNDER_TSAN
#define UNDER_TSAN 0
#endif

/* Seconds a child may take before its watchdog ends it. */
#define WATCHDOG_S 20

static volatile sig_atomic_t step;

static void on_alarm(int sig)
{
    (void)sig;
    _exit(100 + step);
}

/* In the child: check number k. */
#define STEP(k, cond)                                                          \
    do {                                                                       \
        step = (k);                                                            \
        if (!(cond))                                                           \
            return (k);                                                        \
    } while (0)

/* Runs checks(arg) in a child process and requires it to pass. */
static void in_child(int (*checks)(void *), void *arg)
{
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        struct sigaction sa;
        sa.sa_handler = on_alarm;
        sa.sa_flags = 0;
        sigemptyset(&sa.sa_mask);
        sigaction(SIGALRM, &sa, NULL);
        alarm(WATCHDOG_S);
        _exit(checks(arg));
    }
    int status = 0;
    CHECK(waitpid(pid, &status, 0) == pid);
    if (WIFSIGNALED(status))
        fprintf(stderr, "child killed by signal %d\n", WTERMSIG(status));
    CHECK(WIFEXITED(status));
    int code = WEXITSTATUS(status);
    if (code >= 100)
        fprintf(stderr, "child blocked at check %d (watchdog)\n", code - 100);
    else if (code != 0)
        fprintf(stderr, "child failed check %d\n", code);
    CHECK_EQ(code, 0);
}

static void *identity(void *arg)
{
    return arg;
}

static void *then_identity(tp_future *source, void *ctx)
{
    (void)source;
    return ctx;
}

/* A pool of `threads` workers, each held by a task blocked on one gate,
 * and one more task queued behind them: futures that stay unsettled until
 * the gate opens.  `done` settled before any of it. */
typedef struct held {
    tp_pool *pool;
    gate g;
    unsigned threads;
    tp_future *done;        /* COMPLETED with (void *)7 */
    tp_future *running[4];  /* RUNNING, blocked on the gate */
    tp_future *queued;      /* PENDING behind them */
} held;

static void held_init(held *h, unsigned threads)
{
    CHECK(threads <= 4);
    h->pool = make_pool(threads);
    h->threads = threads;
    gate_init(&h->g);
    CHECK_OK(tp_submit_future(h->pool, identity, (void *)7, &h->done));
    CHECK_OK(tp_future_wait(h->done, -1));
    for (unsigned i = 0; i < threads; i++)
        CHECK_OK(tp_submit_future(h->pool, gate_task, &h->g, &h->running[i]));
    event_wait(&h->g.started, (int)threads);
    CHECK_OK(tp_submit_future(h->pool, identity, NULL, &h->queued));
}

static void held_destroy(held *h)
{
    event_signal(&h->g.open);
    for (unsigned i = 0; i < h->threads; i++) {
        CHECK_OK(tp_future_wait(h->running[i], -1));
        tp_future_release(h->running[i]);
    }
    CHECK_OK(tp_future_wait(h->queued, -1));
    tp_future_release(h->queued);
    tp_future_release(h->done);
    CHECK_OK(tp_pool_destroy(h->pool));
    gate_destroy(&h->g);
}

/* ---- waitsets --------------------------------------------------------- */

typedef struct ws_case {
    held *h;
    tp_waitset *ws; /* done, running[0], queued */
} ws_case;

static int waitset_checks(void *arg)
{
    ws_case *c = arg;
    held *h = c->h;
    tp_future *f = NULL;
    /* What settled before the fork is still handed out... */
    STEP(1, tp_waitset_next(c->ws, -1, &f) == 0 && f == h->done);
    tp_future_release(f);
    /* ...but nothing else can settle here. */
    STEP(2, tp_waitset_next(c->ws, -1, &f) == TP_EFORKED);
    STEP(3, tp_waitset_next(c->ws, 50, &f) == TP_EFORKED);
    STEP(4, tp_waitset_next(c->ws, 0, &f) == TP_ETIMEDOUT);
    STEP(5, tp_waitset_size(c->ws) == 2);
    /* A set made in the child, of the parent's futures. */
    tp_waitset *mine;
    STEP(6, tp_waitset_create(&mine) == 0);
    STEP(7, tp_waitset_add(mine, h->queued) == 0 &&
                tp_waitset_add(mine, h->running[0]) == 0);
    STEP(8, tp_waitset_next(mine, -1, &f) == TP_EFORKED);
    STEP(9, tp_waitset_add(mine, h->done) == 0);
    STEP(10, tp_waitset_next(mine, -1, &f) == 0 && f == h->done);
    tp_future_release(f);
    STEP(11, tp_waitset_next(mine, -1, &f) == TP_EFORKED);
    STEP(12, tp_waitset_destroy(mine) == 0);
    return 0;
}

TEST(waitset_next_in_child)
{
    held h;
    held_init(&h, 2);
    ws_case c = {&h, NULL};
    CHECK_OK(tp_waitset_create(&c.ws));
    CHECK_OK(tp_waitset_add(c.ws, h.done));
    CHECK_OK(tp_waitset_add(c.ws, h.running[0]));
    CHECK_OK(tp_waitset_add(c.ws, h.queued));

    in_child(waitset_checks, &c);

    /* The parent's set carries on. */
    event_signal(&h.g.open);
    for (int i = 0; i < 3; i++) {
        tp_future *f = NULL;
        CHECK_OK(tp_waitset_next(c.ws, -1, &f));
        tp_future_release(f);
    }
    tp_future *f = NULL;
    CHECK_EQ(tp_waitset_next(c.ws, -1, &f), TP_EEMPTY);
    CHECK_OK(tp_waitset_destroy(c.ws));
    held_destroy(&h);
}

/* ---- continuations and combinators ------------------------------------ */

typedef struct comb_case {
    held *h;
    tp_future *then_before;   /* then(queued), made before the fork */
    tp_future *all_before;    /* when_all(done, queued) */
    tp_future *any_before;    /* when_any(queued, running[0]) */
    tp_future *chain_before;  /* then(all_before) */
} comb_case;

static int combine_checks(void *arg)
{
    comb_case *c = arg;
    held *h = c->h;
    void *r = NULL;
    /* Made before the fork. */
    STEP(1, tp_future_wait(c->then_before, -1) == TP_EFORKED);
    STEP(2, tp_future_wait(c->all_before, -1) == TP_EFORKED);
    STEP(3, tp_future_wait(c->any_before, -1) == TP_EFORKED);
    STEP(4, tp_future_wait(c->chain_before, -1) == TP_EFORKED);

    /* Made in the child from the parent's unsettled futures: they can
     * settle only when those do, which is never here. */
    tp_future *all, *any, *then_inline, *then_pooled, *chain;
    tp_future *two[2] = {h->done, h->queued};
    STEP(5, tp_when_all(two, 2, 0, &all) == 0);
    STEP(6, tp_future_wait(all, -1) == TP_EFORKED);
    tp_future *pending2[2] = {h->queued, h->running[0]};
    STEP(7, tp_when_any(pending2, 2, 0, &any) == 0);
    STEP(8, tp_future_wait(any, -1) == TP_EFORKED);
    STEP(9, tp_future_then(h->queued, NULL, then_identity, NULL, 0,
                           &then_inline) == 0);
    STEP(10, tp_future_wait(then_inline, -1) == TP_EFORKED);
    STEP(11, tp_future_then(h->queued, h->pool, then_identity, NULL, 0,
                            &then_pooled) == 0);
    STEP(12, tp_future_get(then_pooled, -1, &r) == TP_EFORKED);
    STEP(13, tp_future_then(all, NULL, then_identity, NULL, TP_THEN_ALWAYS,
                            &chain) == 0);
    STEP(14, tp_future_wait(chain, -1) == TP_EFORKED);
    tp_future *mixed[3] = {then_inline, all, chain};
    size_t index = 0;
    STEP(15, tp_wait_any(mixed, 3, -1, &index) == TP_EFORKED);
    STEP(16, tp_wait_all(mixed, 3, -1) == TP_EFORKED);
    tp_waitset *ws;
    tp_future *got = NULL;
    STEP(17, tp_waitset_create(&ws) == 0);
    STEP(18, tp_waitset_add(ws, any) == 0 && tp_waitset_add(ws, chain) == 0);
    STEP(19, tp_waitset_next(ws, -1, &got) == TP_EFORKED);

    /* What can settle here still does. */
    tp_future *all_done, *any_done, *then_done, *then_refused;
    STEP(20, tp_when_all(&h->done, 1, 0, &all_done) == 0);
    STEP(21, tp_future_get(all_done, -1, &r) == 0);
    tp_future *late_winner[2] = {h->queued, h->done};
    STEP(22, tp_when_any(late_winner, 2, 0, &any_done) == 0);
    STEP(23, tp_future_get(any_done, -1, &r) == 0 && r == (void *)1);
    STEP(24, tp_future_then(h->done, NULL, then_identity, (void *)5, 0,
                            &then_done) == 0);
    STEP(25, tp_future_get(then_done, -1, &r) == 0 && r == (void *)5);
    /* A continuation for the parent's pool is refused by it. */
    STEP(26, tp_future_then(h->done, h->pool, then_identity, NULL, 0,
                            &then_refused) == 0);
    STEP(27, tp_future_get(then_refused, -1, &r) == TP_EFAILED &&
                 tp_future_error(then_refused) == TP_EFORKED);
    return 0;
}

TEST(combinators_in_child)
{
    held h;
    held_init(&h, 1);
    comb_case c = {&h, NULL, NULL, NULL, NULL};
    CHECK_OK(tp_future_then(h.queued, NULL, then_identity, NULL, 0,
                            &c.then_before));
    tp_future *two[2] = {h.done, h.queued};
    CHECK_OK(tp_when_all(two, 2, 0, &c.all_before));
    tp_future *pending2[2] = {h.queued, h.running[0]};
    CHECK_OK(tp_when_any(pending2, 2, 0, &c.any_before));
    CHECK_OK(tp_future_then(c.all_before, h.pool, then_identity, NULL, 0,
                            &c.chain_before));

    in_child(combine_checks, &c);

    event_signal(&h.g.open);
    CHECK_OK(tp_future_wait(c.then_before, -1));
    CHECK_OK(tp_future_wait(c.all_before, -1));
    CHECK_OK(tp_future_wait(c.any_before, -1));
    CHECK_OK(tp_future_wait(c.chain_before, -1));
    tp_future_release(c.then_before);
    tp_future_release(c.all_before);
    tp_future_release(c.any_before);
    tp_future_release(c.chain_before);
    held_destroy(&h);
}

/* ---- futures in caller storage ---------------------------------------- */

/* A done-callback that holds the worker (and so the pool's reference to
 * the task) until `open`. */
static void hold_in_callback(tp_future *f, void *ctx)
{
    (void)f;
    gate_task(ctx);
}

typedef struct inplace_case {
    tp_future *f; /* COMPLETED, the pool not yet done with its storage */
} inplace_case;

static int inplace_checks(void *arg)
{
    inplace_case *c = arg;
    void *r = NULL;
    size_t index = 0;
    STEP(1, tp_future_state(c->f) == TP_COMPLETED);
    /* Its storage is released by a worker the child does not have. */
    STEP(2, tp_future_wait(c->f, -1) == TP_EFORKED);
    STEP(3, tp_future_wait(c->f, 50) == TP_EFORKED);
    STEP(4, tp_future_wait(c->f, 0) == TP_ETIMEDOUT);
    STEP(5, tp_future_get(c->f, -1, &r) == TP_EFORKED);
    STEP(6, tp_wait_any(&c->f, 1, -1, &index) == TP_EFORKED);
    STEP(7, tp_wait_all(&c->f, 1, -1) == TP_EFORKED);
    return 0;
}

TEST(inplace_storage_in_child)
{
    tp_pool *p = make_pool(1);
    gate run, cb;
    gate_init(&run);
    gate_init(&cb);
    tp_task_storage storage;
    inplace_case c = {NULL};
    CHECK_OK(tp_submit_inplace(p, &storage, gate_task, &run, NULL, &c.f));
    CHECK_OK(tp_future_on_done(c.f, hold_in_callback, &cb));
    event_signal(&run.open);
    event_wait(&cb.started, 1); /* settled; the worker is in the callback */

    in_child(inplace_checks, &c);

    event_signal(&cb.open);
    void *r = NULL;
    CHECK_OK(tp_future_get(c.f, -1, &r));
    CHECK(r == &run);
    tp_future_release(c.f);
    CHECK_OK(tp_pool_destroy(p));
    gate_destroy(&run);
    gate_destroy(&cb);
}

/* ---- parallel loops --------------------------------------------------- */

typedef struct loop_case {
    tp_pool *pool;
    atomic_size_t ran; /* indices the bodies were called for */
} loop_case;

static void count_body(size_t lo, size_t hi, void *ctx)
{
    loop_case *c = ctx;
    atomic_fetch_add(&c->ran, hi - lo);
}

static void count_item(void *item, size_t index, void *ctx)
{
    (void)item;
    (void)index;
    loop_case *c = ctx;
    atomic_fetch_add(&c->ran, 1);
}

static int loop_checks(void *arg)
{
    loop_case *c = arg;
    int items[64] = {0};
    /* Refused, and nothing runs: with helpers, with one chunk (which would
     * not involve the pool), and for an empty range. */
    STEP(1, tp_parallel_for(c->pool, 0, 1000, 0, count_body, c) ==
                TP_EFORKED);
    STEP(2, tp_parallel_for(c->pool, 0, 1000, 1000, count_body, c) ==
                TP_EFORKED);
    STEP(3, tp_parallel_for(c->pool, 5, 5, 0, count_body, c) == TP_EFORKED);
    STEP(4, tp_parallel_map(c->pool, items, 64, sizeof items[0], 0,
                            count_item, c) == TP_EFORKED);
    STEP(5, tp_parallel_map(c->pool, NULL, 0, 0, 0, count_item, c) ==
                TP_EFORKED);
    STEP(6, atomic_load(&c->ran) == 0);
    /* Bad arguments are still reported as such. */
    STEP(7, tp_parallel_for(c->pool, 0, 10, 0, NULL, c) == TP_EINVAL);
    STEP(8, tp_parallel_for(c->pool, 10, 0, 0, count_body, c) == TP_EINVAL);
    STEP(9, tp_parallel_map(c->pool, NULL, 4, 4, 0, count_item, c) ==
                TP_EINVAL);
    return 0;
}

TEST(parallel_loops_in_child)
{
    loop_case c;
    c.pool = make_pool(2);
    atomic_init(&c.ran, 0);
    in_child(loop_checks, &c);
    /* The parent's pool works as before. */
    CHECK_OK(tp_parallel_for(c.pool, 0, 1000, 0, count_body, &c));
    CHECK_EQ(atomic_load(&c.ran), 1000);
    CHECK_OK(tp_pool_destroy(c.pool));
}

/* ---- the child's own pools -------------------------------------------- */

#if !UNDER_TSAN
/* In the child, a waitset and when_any that hold both the parent's
 * unsettled futures and ones of a new pool: the new ones settle and are
 * handed out; only then does the set report TP_EFORKED. */
static int mixed_checks(void *arg)
{
    held *h = arg;
    tp_pool *fresh;
    STEP(1, tp_pool_create(&fresh, NULL) == 0);
    gate g;
    gate_init(&g);
    tp_future *mine, *any, *got = NULL;
    STEP(2, tp_submit_future(fresh, gate_task, &g, &mine) == 0);
    tp_waitset *ws;
    STEP(3, tp_waitset_create(&ws) == 0);
    STEP(4, tp_waitset_add(ws, h->queued) == 0 &&
                tp_waitset_add(ws, mine) == 0);
    tp_future *both[2] = {h->queued, mine};
    STEP(5, tp_when_any(both, 2, 0, &any) == 0);
    event_wait(&g.started, 1);
    event_signal(&g.open); /* the waits below must see it settle */
    void *r = NULL;
    STEP(6, tp_future_get(any, -1, &r) == 0 && r == (void *)1);
    STEP(7, tp_waitset_next(ws, -1, &got) == 0 && got == mine);
    tp_future_release(got);
    STEP(8, tp_waitset_next(ws, -1, &got) == TP_EFORKED);
    STEP(9, tp_waitset_destroy(ws) == 0);
    tp_future_release(any);
    tp_future_release(mine);
    STEP(10, tp_pool_destroy(fresh) == 0);
    gate_destroy(&g);
    return 0;
}
#endif

TEST(new_pool_futures_settle_in_child)
{
#if UNDER_TSAN
    printf("# skipped under ThreadSanitizer (threads in a forked child)\n");
#else
    held h;
    held_init(&h, 1);
    in_child(mixed_checks, &h);
    held_destroy(&h);
#endif
}

TEST_MAIN(TEST_ENTRY(waitset_next_in_child)
          TEST_ENTRY(combinators_in_child)
          TEST_ENTRY(inplace_storage_in_child)
          TEST_ENTRY(parallel_loops_in_child)
          TEST_ENTRY(new_pool_futures_settle_in_child))
