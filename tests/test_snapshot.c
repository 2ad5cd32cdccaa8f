/*
 * test_snapshot.c - the live view of a pool and wait-cycle detection.
 */
#include <stdatomic.h>

#include "check.h"
#include "tpool.h"
#include "util.h"

static void *noop(void *arg)
{
    return arg;
}

/* A blocked worker is seen exactly: its task, and queue depths. */
TEST(snapshot_of_blocked_pool)
{
    gate g;
    gate_init(&g);
    tp_options o;
    tp_options_init(&o);
    o.threads = 2;
    tp_pool *p;
    CHECK_OK(tp_pool_create(&p, &o));
    tp_future *blocker;
    CHECK_OK(tp_submit_future(p, gate_task, &g, &blocker));
    event_wait(&g.started, 1);

    tp_worker_info w[4];
    tp_pool_snapshot snap;
    CHECK_OK(tp_pool_snapshot_get(p, &snap, w, 4));
    CHECK_EQ(snap.threads, 2);
    CHECK_EQ(snap.workers, 2);
    int found = 0;
    for (unsigned i = 0; i < snap.workers; i++) {
        CHECK_EQ(w[i].index, i);
        CHECK(w[i].completed <= w[i].started);
        if (w[i].running_task == tp_future_id(blocker)) {
            found++;
            CHECK_EQ(w[i].depth, 1);
            CHECK_EQ(w[i].waiting_on, 0);
            CHECK_EQ(w[i].running_ms, 0); /* first sighting */
        }
    }
    CHECK_EQ(found, 1);
    CHECK_EQ(snap.stats.running, 1);

    /* A second look measures from the first. */
    tp_future *t;
    CHECK_OK(tp_submit_future(p, noop, NULL, &t));
    CHECK_OK(tp_future_wait(t, -1));
    tp_future_release(t);
    CHECK_EQ(tp_future_wait(blocker, 20), TP_ETIMEDOUT);
    CHECK_OK(tp_pool_snapshot_get(p, &snap, w, 4));
    for (unsigned i = 0; i < snap.workers; i++)
        if (w[i].running_task == tp_future_id(blocker))
            CHECK(w[i].running_ms >= 15);

    CHECK_OK(tp_pool_snapshot_get(p, &snap, NULL, 0));
    CHECK_EQ(snap.workers, 0);
    CHECK_EQ(tp_pool_snapshot_get(p, NULL, w, 4), TP_EINVAL);
    CHECK_EQ(tp_pool_snapshot_get(p, &snap, NULL, 4), TP_EINVAL);
    CHECK_EQ(tp_pool_snapshot_get(NULL, &snap, w, 4), TP_EINVAL);
    event_signal(&g.open);
    tp_future_release(blocker);
    CHECK_OK(tp_pool_destroy(p));
    gate_destroy(&g);
}

/* Queue depths per level while the only worker is held. */
TEST(snapshot_queue_depths)
{
    gate g;
    gate_init(&g);
    tp_options o;
    tp_options_init(&o);
    o.threads = 1;
    tp_pool *p;
    CHECK_OK(tp_pool_create(&p, &o));
    CHECK_OK(tp_submit(p, gate_task, &g));
    event_wait(&g.started, 1);
    tp_task_opts to;
    tp_task_opts_init(&to);
    for (int i = 0; i < 5; i++) {
        to.priority = TP_PRIORITY_HIGH;
        CHECK_OK(tp_submit_ex(p, noop, NULL, &to, NULL));
    }
    for (int i = 0; i < 3; i++)
        CHECK_OK(tp_submit(p, noop, NULL));
    to.priority = TP_PRIORITY_LOW;
    CHECK_OK(tp_submit_ex(p, noop, NULL, &to, NULL));
    tp_pool_snapshot snap;
    tp_worker_info w;
    CHECK_OK(tp_pool_snapshot_get(p, &snap, &w, 1));
    CHECK_EQ(snap.injected[TP_PRIORITY_HIGH], 5);
    CHECK_EQ(snap.injected[TP_PRIORITY_NORMAL], 3);
    CHECK_EQ(snap.injected[TP_PRIORITY_LOW], 1);
    CHECK_EQ(snap.stats.queued, 9);
    event_signal(&g.open);
    CHECK_OK(tp_pool_wait_idle(p, -1));
    CHECK_OK(tp_pool_snapshot_get(p, &snap, &w, 1));
    CHECK_EQ(snap.injected[0] + snap.injected[1] + snap.injected[2], 0);
    CHECK_EQ(w.started, 10);
    CHECK_EQ(w.running_task, 0);
    CHECK_OK(tp_pool_destroy(p));
    gate_destroy(&g);
}

/* Snapshots taken while tasks come and go stay self-consistent. */
static tp_pool *busy_pool;

static void *spawner(void *arg)
{
    uintptr_t n = (uintptr_t)arg;
    if (n == 0)
        return NULL;
    tp_future *c;
    CHECK_OK(tp_submit_future(busy_pool, spawner, (void *)(n - 1), &c));
    CHECK_OK(tp_future_wait(c, -1));
    tp_future_release(c);
    return NULL;
}

TEST(snapshot_while_running)
{
    tp_options o;
    tp_options_init(&o);
    o.threads = 3;
    CHECK_OK(tp_pool_create(&busy_pool, &o));
    for (int i = 0; i < 50; i++)
        CHECK_OK(tp_submit(busy_pool, spawner, (void *)(uintptr_t)40));
    for (int i = 0; i < SCALE(2000); i++) {
        tp_pool_snapshot snap;
        tp_worker_info w[3];
        CHECK_OK(tp_pool_snapshot_get(busy_pool, &snap, w, 3));
        CHECK(snap.stats.completed + snap.stats.cancelled <=
              snap.stats.submitted);
        for (int k = 0; k < 3; k++) {
            CHECK(w[k].completed <= w[k].started);
            CHECK(w[k].depth <= 1000);
        }
    }
    CHECK_OK(tp_pool_wait_idle(busy_pool, -1));
    tp_pool_stats st;
    CHECK_OK(tp_pool_stats_get(busy_pool, &st));
    CHECK_EQ(st.completed, 50 * 41);
    CHECK_OK(tp_pool_destroy(busy_pool));
}

/* A waits for B while B waits for A: found, reported, and gone once the
 * cycle is broken (B also waits for an escape future). */
static tp_future *fut_a, *fut_b, *escape;
static event ready;

static void *task_a(void *arg)
{
    (void)arg;
    event_wait(&ready, 1);
    CHECK_OK(tp_future_wait(fut_b, -1));
    return NULL;
}

static void *task_b(void *arg)
{
    (void)arg;
    event_wait(&ready, 1);
    tp_future *either[2] = {fut_a, escape};
    size_t idx;
    CHECK_OK(tp_wait_any(either, 2, -1, &idx));
    CHECK_EQ(idx, 1);
    return NULL;
}

TEST(wait_cycle_detected)
{
    gate g;
    gate_init(&g);
    event_init(&ready);
    tp_pool *other;
    CHECK_OK(tp_pool_create(&other, NULL));
    CHECK_OK(tp_submit_future(other, gate_task, &g, &escape));
    tp_options o;
    tp_options_init(&o);
    o.threads = 2;
    tp_pool *p;
    CHECK_OK(tp_pool_create(&p, &o));
    size_t len = 99;
    uint64_t ids[4];
    CHECK_OK(tp_pool_find_wait_cycle(p, ids, 4, &len));
    CHECK_EQ(len, 0);
    CHECK_OK(tp_submit_future(p, task_a, NULL, &fut_a));
    CHECK_OK(tp_submit_future(p, task_b, NULL, &fut_b));
    event_signal(&ready);
    /* Both block within moments; look until the cycle shows (bounded). */
    for (int tries = 0; tries < 10000 && len == 0; tries++) {
        CHECK_OK(tp_pool_find_wait_cycle(p, ids, 4, &len));
        if (len == 0)
            CHECK_EQ(tp_future_wait(escape, 1), TP_ETIMEDOUT);
    }
    CHECK_EQ(len, 2);
    CHECK((ids[0] == tp_future_id(fut_a) && ids[1] == tp_future_id(fut_b)) ||
          (ids[0] == tp_future_id(fut_b) && ids[1] == tp_future_id(fut_a)));
    /* Too little room: the length needed is reported. */
    len = 0;
    CHECK_EQ(tp_pool_find_wait_cycle(p, ids, 1, &len), TP_ENOMEM);
    CHECK_EQ(len, 2);
    CHECK_EQ(tp_pool_find_wait_cycle(p, NULL, 1, &len), TP_EINVAL);
    CHECK_EQ(tp_pool_find_wait_cycle(p, ids, 4, NULL), TP_EINVAL);

    event_signal(&g.open); /* break it */
    tp_future *both[2] = {fut_a, fut_b};
    CHECK_OK(tp_wait_all(both, 2, -1));
    CHECK_OK(tp_pool_find_wait_cycle(p, ids, 4, &len));
    CHECK_EQ(len, 0);
    tp_future_release(fut_a);
    tp_future_release(fut_b);
    tp_future_release(escape);
    CHECK_OK(tp_pool_destroy(p));
    CHECK_OK(tp_pool_destroy(other));
    event_destroy(&ready);
    gate_destroy(&g);
}

TEST_MAIN(TEST_ENTRY(snapshot_of_blocked_pool)
          TEST_ENTRY(snapshot_queue_depths)
          TEST_ENTRY(snapshot_while_running)
          TEST_ENTRY(wait_cycle_detected))
