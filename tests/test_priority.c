/*
 * test_priority.c - priority levels (order, no starvation) and start
 * deadlines.  With one worker the order of starts is exact.
 */
#include <stdatomic.h>

#include "check.h"
#include "tpool.h"
#include "util.h"

enum { MAX_LOG = 4096 };
static int order[MAX_LOG];
static atomic_int logged;

static void *log_start(void *arg)
{
    int slot = atomic_fetch_add(&logged, 1);
    CHECK(slot < MAX_LOG);
    order[slot] = (int)(intptr_t)arg;
    return NULL;
}

static tp_pool *one_worker_blocked(gate *g)
{
    gate_init(g);
    tp_options o;
    tp_options_init(&o);
    o.threads = 1;
    tp_pool *p;
    CHECK_OK(tp_pool_create(&p, &o));
    CHECK_OK(tp_submit(p, gate_task, g));
    event_wait(&g->started, 1);
    atomic_store(&logged, 0);
    return p;
}

static void submit_at(tp_pool *p, tp_priority prio, intptr_t tag)
{
    tp_task_opts o;
    CHECK_OK(tp_task_opts_init(&o));
    o.priority = prio;
    CHECK_OK(tp_submit_ex(p, log_start, (void *)tag, &o, NULL));
}

static void finish(tp_pool *p, gate *g)
{
    CHECK_OK(tp_pool_wait_idle(p, -1));
    CHECK_OK(tp_pool_destroy(p));
    gate_destroy(g);
}

/* Tags: 100s high, 200s normal, 300s low. */
TEST(levels_in_order)
{
    gate g;
    tp_pool *p = one_worker_blocked(&g);
    submit_at(p, TP_PRIORITY_LOW, 301);
    submit_at(p, TP_PRIORITY_NORMAL, 201);
    submit_at(p, TP_PRIORITY_HIGH, 101);
    submit_at(p, TP_PRIORITY_LOW, 302);
    submit_at(p, TP_PRIORITY_NORMAL, 202);
    submit_at(p, TP_PRIORITY_HIGH, 102);
    event_signal(&g.open);
    CHECK_OK(tp_pool_wait_idle(p, -1));
    static const int want[] = {101, 102, 201, 202, 301, 302};
    CHECK_EQ(atomic_load(&logged), 6);
    for (int i = 0; i < 6; i++)
        CHECK_EQ(order[i], want[i]);
    finish(p, &g);
}

/* A stream of normal tasks cannot starve a low one: it starts within
 * 32 other starts. */
TEST(low_is_not_starved)
{
    gate g;
    tp_pool *p = one_worker_blocked(&g);
    submit_at(p, TP_PRIORITY_LOW, 300);
    for (intptr_t i = 0; i < 300; i++)
        submit_at(p, TP_PRIORITY_NORMAL, 200);
    event_signal(&g.open);
    CHECK_OK(tp_pool_wait_idle(p, -1));
    CHECK_EQ(atomic_load(&logged), 301);
    int pos = -1;
    for (int i = 0; i < 301; i++)
        if (order[i] == 300)
            pos = i;
    CHECK(pos >= 0);
    CHECK(pos <= 32);
    finish(p, &g);
}

static tp_pool *stream_pool;
static event first_started, high_submitted;

/* The first of the normal tasks holds the worker until the high task has
 * been submitted. */
static void *first_of_stream(void *arg)
{
    log_start(arg);
    event_signal(&first_started);
    event_wait(&high_submitted, 1);
    return NULL;
}

/* A high task submitted while normal work is queued starts next. */
TEST(high_goes_first)
{
    gate g;
    stream_pool = one_worker_blocked(&g);
    event_init(&first_started);
    event_init(&high_submitted);
    CHECK_OK(tp_submit(stream_pool, first_of_stream, (void *)200));
    for (int i = 0; i < 100; i++)
        submit_at(stream_pool, TP_PRIORITY_NORMAL, 200);
    event_signal(&g.open);
    event_wait(&first_started, 1);
    submit_at(stream_pool, TP_PRIORITY_HIGH, 100);
    event_signal(&high_submitted);
    CHECK_OK(tp_pool_wait_idle(stream_pool, -1));
    CHECK_EQ(atomic_load(&logged), 102);
    /* Only the task that was running when it was submitted starts ahead
     * of it, although the worker had 100 normal tasks queued. */
    CHECK_EQ(order[0], 200);
    CHECK_EQ(order[1], 100);
    finish(stream_pool, &g);
    event_destroy(&first_started);
    event_destroy(&high_submitted);
}

static atomic_int ran_count;

static void *must_not_run(void *arg)
{
    (void)arg;
    atomic_fetch_add(&ran_count, 1);
    return NULL;
}

/* A waiter sees the deadline pass: the task expires without running. */
TEST(deadline_expires_while_waited_on)
{
    gate g;
    tp_pool *p = one_worker_blocked(&g);
    atomic_store(&ran_count, 0);
    tp_task_opts o;
    tp_task_opts_init(&o);
    o.start_deadline_ms = 30;
    tp_future *f;
    double t0 = now_ms();
    CHECK_OK(tp_submit_ex(p, must_not_run, NULL, &o, &f));
    CHECK_EQ(tp_future_get(f, -1, NULL), TP_EEXPIRED);
    double waited = now_ms() - t0;
    CHECK(waited >= 29 && waited < 5000);
    CHECK_EQ(tp_future_state(f), TP_CANCELLED);
    CHECK_EQ(tp_future_error(f), TP_EEXPIRED);
    event_signal(&g.open);
    CHECK_OK(tp_pool_wait_idle(p, -1));
    CHECK_EQ(atomic_load(&ran_count), 0);
    tp_pool_stats s;
    tp_pool_stats_get(p, &s);
    CHECK_EQ(s.cancelled, 1);
    tp_future_release(f);
    finish(p, &g);
}

/* Nobody waits: the worker finds the deadline passed when it reaches the
 * task, and a task whose deadline is far away runs normally. */
TEST(deadline_expires_in_queue)
{
    gate g;
    tp_pool *p = one_worker_blocked(&g);
    atomic_store(&ran_count, 0);
    tp_task_opts o;
    tp_task_opts_init(&o);
    o.start_deadline_ms = 10;
    tp_future *late, *fine, *blocker;
    CHECK_OK(tp_submit_ex(p, must_not_run, NULL, &o, &late));
    o.start_deadline_ms = 60000;
    CHECK_OK(tp_submit_ex(p, must_not_run, NULL, &o, &fine));
    /* Let the first deadline pass: a timed wait on something that will
     * not settle measures the time. */
    gate never;
    gate_init(&never);
    tp_pool *other;
    CHECK_OK(tp_pool_create(&other, NULL));
    CHECK_OK(tp_submit_future(other, gate_task, &never, &blocker));
    CHECK_EQ(tp_future_wait(blocker, 30), TP_ETIMEDOUT);
    event_signal(&never.open);
    tp_future_release(blocker);
    CHECK_OK(tp_pool_destroy(other));
    gate_destroy(&never);

    CHECK_EQ(tp_future_state(late), TP_PENDING);
    event_signal(&g.open);
    CHECK_OK(tp_pool_wait_idle(p, -1));
    CHECK_EQ(tp_future_error(late), TP_EEXPIRED);
    CHECK_EQ(tp_future_state(fine), TP_COMPLETED);
    CHECK_EQ(atomic_load(&ran_count), 1);
    tp_future_release(late);
    tp_future_release(fine);
    finish(p, &g);
}

TEST(options_errors)
{
    CHECK_EQ(tp_task_opts_init(NULL), TP_EINVAL);
    tp_pool *p;
    CHECK_OK(tp_pool_create(&p, NULL));
    tp_task_opts o;
    tp_task_opts_init(&o);
    CHECK_EQ(o.priority, TP_PRIORITY_NORMAL);
    CHECK(o.start_deadline_ms < 0);
    o.priority = (tp_priority)9;
    CHECK_EQ(tp_submit_ex(p, must_not_run, NULL, &o, NULL), TP_EINVAL);
    CHECK_EQ(tp_submit_ex(p, NULL, NULL, NULL, NULL), TP_EINVAL);
    tp_future *f;
    CHECK_OK(tp_submit_ex(p, must_not_run, NULL, NULL, &f)); /* defaults */
    CHECK_OK(tp_future_wait(f, -1));
    tp_future_release(f);
    CHECK_OK(tp_pool_destroy(p));
}

/* A low task queued behind many high ones starts within 33 starts, as the
 * header promises whatever the mix of levels. */
TEST(low_not_starved_by_high)
{
    gate g;
    tp_pool *p = one_worker_blocked(&g);
    submit_at(p, TP_PRIORITY_LOW, -1);
    for (int i = 0; i < 2000; i++)
        submit_at(p, TP_PRIORITY_HIGH, i);
    event_signal(&g.open);
    CHECK_OK(tp_pool_wait_idle(p, -1));
    CHECK_EQ(atomic_load(&logged), 2001);
    int at = -1;
    for (int i = 0; i < 2001; i++)
        if (order[i] == -1)
            at = i;
    CHECK(at >= 0 && at <= 32);
    finish(p, &g);
}

/* Normal tasks from outside start in submission order on one worker:
 * one by one, in a batch with futures and in a batch without. */
TEST(outside_submits_fifo_one_worker)
{
    gate g;
    tp_pool *p = one_worker_blocked(&g);
    for (int i = 0; i < 100; i++)
        CHECK_OK(tp_submit(p, log_start, (void *)(intptr_t)i));
    tp_job jobs[50];
    tp_future *fs[50];
    for (int i = 0; i < 50; i++)
        jobs[i] = (tp_job){log_start, (void *)(intptr_t)(100 + i), 0};
    CHECK_OK(tp_submit_batch(p, jobs, 50, fs, NULL));
    for (int i = 0; i < 50; i++)
        jobs[i] = (tp_job){log_start, (void *)(intptr_t)(150 + i), 0};
    CHECK_OK(tp_submit_batch(p, jobs, 50, NULL, NULL));
    event_signal(&g.open);
    CHECK_OK(tp_pool_wait_idle(p, -1));
    CHECK_EQ(atomic_load(&logged), 200);
    for (int i = 0; i < 200; i++)
        CHECK_EQ(order[i], i);
    for (int i = 0; i < 50; i++)
        tp_future_release(fs[i]);
    finish(p, &g);
}

TEST_MAIN(TEST_ENTRY(levels_in_order)
          TEST_ENTRY(low_is_not_starved)
          TEST_ENTRY(high_goes_first)
          TEST_ENTRY(deadline_expires_while_waited_on)
          TEST_ENTRY(deadline_expires_in_queue)
          TEST_ENTRY(options_errors)
          TEST_ENTRY(low_not_starved_by_high)
          TEST_ENTRY(outside_submits_fifo_one_worker))
