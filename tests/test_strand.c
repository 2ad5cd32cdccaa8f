/*
 * test_strand.c - serial queues (tp_strand_*): per-strand order and
 * mutual exclusion under load (1,000 strands x 1,000 tasks), futures,
 * destroy with tasks queued and from a task, shutdowns, bad arguments,
 * allocation failure.
 */
#include <stdatomic.h>

#include "check.h"
#include "failalloc.h"
#include "util.h"

/* Under valgrind (helgrind in make test) everything is tens of times
 * slower: loads shrink, and bounds on time are reported, not asserted. */
static bool under_valgrind(void)
{
    const char *pre = getenv("LD_PRELOAD");
    return pre != NULL && strstr(pre, "vgpreload") != NULL;
}

/* ---- order and exclusion under load ------------------------------------- */

typedef struct lane {
    tp_strand *s;
    long next;          /* the sequence number the next task must have */
    atomic_int in_flight; /* tasks of this strand running: never above 1 */
    int overlaps;
    int out_of_order;
} lane;

static lane *lanes;
static long per_lane;
static atomic_long done;

static void *lane_task(void *arg)
{
    long id = (long)(intptr_t)arg;
    lane *l = &lanes[id / per_lane];
    long seq = id % per_lane;
    if (atomic_fetch_add(&l->in_flight, 1) != 0)
        l->overlaps++;
    /* Plain fields: only one task of the strand may touch them at a time
     * (TSan sees any overlap as a race, too). */
    if (l->next != seq)
        l->out_of_order++;
    l->next = seq + 1;
    atomic_fetch_sub(&l->in_flight, 1);
    atomic_fetch_add(&done, 1);
    return NULL;
}

typedef struct feeder {
    long first, count; /* lanes [first, first + count) */
} feeder;

/* Submits every lane's tasks in sequence order, interleaving the lanes so
 * that each strand keeps going idle and busy again. */
static void *feed(void *arg)
{
    feeder *fd = arg;
    for (long k = 0; k < per_lane; k++)
        for (long i = fd->first; i < fd->first + fd->count; i++)
            CHECK_OK(tp_strand_submit(lanes[i].s, lane_task,
                                      (void *)(intptr_t)(i * per_lane + k)));
    return NULL;
}

static void run_lanes(unsigned threads, long nlanes, long tasks)
{
    tp_pool *p = make_pool(threads);
    per_lane = tasks;
    atomic_store(&done, 0);
    lanes = calloc((size_t)nlanes, sizeof *lanes);
    CHECK(lanes != NULL);
    for (long i = 0; i < nlanes; i++)
        CHECK_OK(tp_strand_create(p, &lanes[i].s));
    pthread_t th[2];
    feeder fd[2] = {{0, nlanes / 2}, {nlanes / 2, nlanes - nlanes / 2}};
    for (int t = 0; t < 2; t++)
        CHECK(pthread_create(&th[t], NULL, feed, &fd[t]) == 0);
    for (int t = 0; t < 2; t++)
        CHECK(pthread_join(th[t], NULL) == 0);
    CHECK_OK(tp_pool_wait_idle(p, -1));
    CHECK_EQ(atomic_load(&done), nlanes * tasks);
    for (long i = 0; i < nlanes; i++) {
        CHECK_EQ(lanes[i].overlaps, 0);
        CHECK_EQ(lanes[i].out_of_order, 0);
        CHECK_EQ(lanes[i].next, tasks);
        CHECK_OK(tp_strand_destroy(lanes[i].s));
    }
    free(lanes);
    CHECK_OK(tp_pool_destroy(p));
}

TEST(thousand_strands_thousand_tasks)
{
    long n = under_valgrind() ? 30 : UNDER_SANITIZER ? 100 : 1000;
    run_lanes(4, n, n);
}

TEST(one_worker_and_many_workers)
{
    long k = under_valgrind() ? 10 : 1;
    run_lanes(1, 50, SCALE(2000) / k);
    run_lanes(8, 3, SCALE(20000) / k);
}

/* Tasks of a strand submitting to their own strand and to others: the
 * order holds for what each submits. */
typedef struct chain {
    tp_strand *s;
    atomic_int n;
    int limit;
} chain;

static void *chain_step(void *arg)
{
    chain *c = arg;
    int k = atomic_fetch_add(&c->n, 1) + 1;
    if (k < c->limit)
        CHECK_OK(tp_strand_submit(c->s, chain_step, c));
    return NULL;
}

TEST(tasks_submit_to_their_strand)
{
    tp_pool *p = make_pool(2);
    chain c[8];
    for (int i = 0; i < 8; i++) {
        CHECK_OK(tp_strand_create(p, &c[i].s));
        atomic_init(&c[i].n, 0);
        c[i].limit = SCALE(500);
        CHECK_OK(tp_strand_submit(c[i].s, chain_step, &c[i]));
    }
    CHECK_OK(tp_pool_wait_idle(p, -1));
    for (int i = 0; i < 8; i++) {
        CHECK_EQ(atomic_load(&c[i].n), c[i].limit);
        CHECK_OK(tp_strand_destroy(c[i].s));
    }
    CHECK_OK(tp_pool_destroy(p));
}

/* ---- futures ------------------------------------------------------------ */

static void *echo(void *arg)
{
    return arg;
}

static void *failing(void *arg)
{
    tp_task_fail((int)(intptr_t)arg);
    return NULL;
}

TEST(futures)
{
    tp_pool *p = make_pool(2);
    tp_strand *s;
    CHECK_OK(tp_strand_create(p, &s));
    gate g;
    gate_init(&g);
    tp_future *gf, *fs[10], *bad;
    CHECK_OK(tp_strand_submit_future(s, gate_task, &g, &gf));
    event_wait(&g.started, 1);
    for (int i = 0; i < 10; i++)
        CHECK_OK(tp_strand_submit_future(s, echo, (void *)(intptr_t)i, &fs[i]));
    CHECK_OK(tp_strand_submit_future(s, failing, (void *)(intptr_t)77, &bad));
    /* Queued behind the gate: pending; cancelling one skips it. */
    CHECK_EQ(tp_future_state(fs[3]), TP_PENDING);
    CHECK_OK(tp_future_cancel(fs[3]));
    event_signal(&g.open);
    for (int i = 0; i < 10; i++) {
        void *r;
        int rc = tp_future_get(fs[i], -1, &r);
        if (i == 3) {
            CHECK_EQ(rc, TP_ECANCELED);
            CHECK_EQ(tp_future_started(fs[i]), 0);
        } else {
            CHECK_OK(rc);
            CHECK_EQ((intptr_t)r, i);
        }
        CHECK_OK(tp_future_release(fs[i]));
    }
    CHECK_EQ(tp_future_get(bad, -1, NULL), TP_EFAILED);
    CHECK_EQ(tp_future_error(bad), 77);
    CHECK_OK(tp_future_get(gf, -1, NULL));
    CHECK_OK(tp_future_release(bad));
    CHECK_OK(tp_future_release(gf));
    CHECK_OK(tp_strand_destroy(s));
    CHECK_OK(tp_pool_destroy(p));
    gate_destroy(&g);
}

/* ---- destroy ------------------------------------------------------------ */

typedef struct tally {
    pthread_mutex_t mu;
    int seen[256];
    int n;
} tally;

typedef struct tally_arg {
    tally *t;
    int key;
} tally_arg;

static void *note(void *arg)
{
    tally_arg *a = arg;
    pthread_mutex_lock(&a->t->mu);
    a->t->seen[a->t->n++] = a->key;
    pthread_mutex_unlock(&a->t->mu);
    return NULL;
}

TEST(destroy_with_tasks_queued_runs_them)
{
    tp_pool *p = make_pool(2);
    tp_strand *s;
    CHECK_OK(tp_strand_create(p, &s));
    gate g;
    gate_init(&g);
    tally t = {PTHREAD_MUTEX_INITIALIZER, {0}, 0};
    tally_arg args[100];
    CHECK_OK(tp_strand_submit(s, gate_task, &g));
    event_wait(&g.started, 1);
    for (int i = 0; i < 100; i++) {
        args[i] = (tally_arg){&t, i};
        CHECK_OK(tp_strand_submit(s, note, &args[i]));
    }
    CHECK_OK(tp_strand_destroy(s)); /* does not wait */
    CHECK_EQ(t.n, 0);
    event_signal(&g.open);
    CHECK_OK(tp_pool_wait_idle(p, -1));
    CHECK_EQ(t.n, 100);
    for (int i = 0; i < 100; i++)
        CHECK_EQ(t.seen[i], i);
    CHECK_OK(tp_pool_destroy(p));
    gate_destroy(&g);
}

typedef struct self_destroy {
    tp_strand *s;
    atomic_int after;
    atomic_int refused;
} self_destroy;

static void *destroy_me(void *arg)
{
    self_destroy *d = arg;
    CHECK_OK(tp_strand_destroy(d->s));
    return NULL;
}

static void *after_destroy(void *arg)
{
    self_destroy *d = arg;
    atomic_fetch_add(&d->after, 1);
    if (tp_strand_submit(d->s, after_destroy, d) == TP_ESHUTDOWN)
        atomic_fetch_add(&d->refused, 1);
    return NULL;
}

TEST(destroy_from_a_task)
{
    tp_pool *p = make_pool(2);
    self_destroy d;
    CHECK_OK(tp_strand_create(p, &d.s));
    atomic_init(&d.after, 0);
    atomic_init(&d.refused, 0);
    gate g;
    gate_init(&g);
    CHECK_OK(tp_strand_submit(d.s, gate_task, &g));
    event_wait(&g.started, 1);
    CHECK_OK(tp_strand_submit(d.s, destroy_me, &d));
    for (int i = 0; i < 5; i++)
        CHECK_OK(tp_strand_submit(d.s, after_destroy, &d));
    event_signal(&g.open);
    CHECK_OK(tp_pool_wait_idle(p, -1));
    CHECK_EQ(atomic_load(&d.after), 5);
    CHECK_EQ(atomic_load(&d.refused), 5);
    CHECK_OK(tp_pool_destroy(p));
    gate_destroy(&g);
}

TEST(destroy_idle_and_after_pool)
{
    tp_pool *p = make_pool(1);
    tp_strand *a, *b;
    CHECK_OK(tp_strand_create(p, &a));
    CHECK_OK(tp_strand_create(p, &b));
    CHECK_OK(tp_strand_destroy(a)); /* never used */
    tp_future *f;
    CHECK_OK(tp_strand_submit_future(b, echo, NULL, &f));
    CHECK_OK(tp_pool_destroy(p)); /* runs it */
    CHECK_OK(tp_future_get(f, 0, NULL));
    CHECK_OK(tp_future_release(f));
    CHECK_OK(tp_strand_destroy(b)); /* after its pool: fine */
}

/* ---- shutdown ----------------------------------------------------------- */

typedef struct drops {
    pthread_mutex_t mu;
    int n;
    uint64_t ids[512];
    gate *g; /* opened by the first drop */
} drops;

static void on_drop(const tp_job *job, void *ctx)
{
    drops *d = ctx;
    pthread_mutex_lock(&d->mu);
    CHECK(d->n < 512);
    d->ids[d->n++] = job->id;
    pthread_mutex_unlock(&d->mu);
    event_signal(&d->g->open);
}

static atomic_int ran_count;

static void *count_run(void *arg)
{
    (void)arg;
    atomic_fetch_add(&ran_count, 1);
    return NULL;
}

/* The strand's running task finishes; the rest are handed to drop once
 * each (futures CANCELLED), none runs. */
TEST(shutdown_now_drops_queued)
{
    tp_pool *p = make_pool(1);
    tp_strand *s;
    CHECK_OK(tp_strand_create(p, &s));
    gate g;
    gate_init(&g);
    drops d = {PTHREAD_MUTEX_INITIALIZER, 0, {0}, &g};
    atomic_store(&ran_count, 0);
    CHECK_OK(tp_strand_submit(s, gate_task, &g));
    event_wait(&g.started, 1);
    tp_future *fs[20];
    for (int i = 0; i < 40; i++)
        CHECK_OK(tp_strand_submit(s, count_run, NULL));
    for (int i = 0; i < 20; i++)
        CHECK_OK(tp_strand_submit_future(s, count_run, NULL, &fs[i]));
    /* A pool task queued behind the gate: its drop opens the gate. */
    CHECK_OK(tp_submit(p, count_run, NULL));
    CHECK_OK(tp_pool_shutdown_now(p, on_drop, &d));
    CHECK_EQ(atomic_load(&ran_count), 0);
    CHECK_EQ(d.n, 1 + 40 + 20);
    for (int i = 0; i < 20; i++) {
        CHECK_EQ(tp_future_get(fs[i], 0, NULL), TP_ECANCELED);
        int times = 0;
        for (int j = 0; j < d.n; j++)
            times += d.ids[j] == tp_future_id(fs[i]);
        CHECK_EQ(times, 1);
        CHECK_OK(tp_future_release(fs[i]));
    }
    CHECK_EQ(tp_strand_submit(s, count_run, NULL), TP_ESHUTDOWN);
    CHECK_OK(tp_strand_destroy(s));
    CHECK_OK(tp_pool_destroy(p));
    gate_destroy(&g);
}

/* Submits racing with an immediate shutdown: every accepted task ran or
 * was dropped, exactly once. */
typedef struct racer {
    tp_strand *s;
    atomic_int accepted;
} racer;

static void *race_submits(void *arg)
{
    racer *r = arg;
    for (int i = 0; i < 200; i++) {
        int rc = tp_strand_submit(r->s, count_run, NULL);
        if (rc == 0)
            atomic_fetch_add(&r->accepted, 1);
        else
            CHECK_EQ(rc, TP_ESHUTDOWN);
    }
    return NULL;
}

static atomic_int drop_count;

static void count_drop(const tp_job *job, void *ctx)
{
    (void)job;
    (void)ctx;
    atomic_fetch_add(&drop_count, 1);
}

TEST(submits_race_shutdown)
{
    int rounds = under_valgrind() ? 5 : SCALE(50);
    for (int round = 0; round < rounds; round++) {
        tp_pool *p = make_pool(2);
        racer r;
        CHECK_OK(tp_strand_create(p, &r.s));
        atomic_init(&r.accepted, 0);
        atomic_store(&ran_count, 0);
        atomic_store(&drop_count, 0);
        pthread_t th[2];
        for (int t = 0; t < 2; t++)
            CHECK(pthread_create(&th[t], NULL, race_submits, &r) == 0);
        if (round % 2)
            CHECK_OK(tp_pool_shutdown_now(p, count_drop, NULL));
        else
            CHECK_OK(tp_pool_shutdown(p));
        for (int t = 0; t < 2; t++)
            CHECK(pthread_join(th[t], NULL) == 0);
        CHECK_EQ(atomic_load(&ran_count) + atomic_load(&drop_count),
                 atomic_load(&r.accepted));
        CHECK_OK(tp_strand_destroy(r.s));
        CHECK_OK(tp_pool_destroy(p));
    }
}

/* ---- errors ------------------------------------------------------------- */

TEST(bad_arguments)
{
    tp_pool *p = make_pool(1);
    tp_strand *s = NULL;
    tp_future *f = NULL;
    CHECK_EQ(tp_strand_create(NULL, &s), TP_EINVAL);
    CHECK_EQ(tp_strand_create(p, NULL), TP_EINVAL);
    CHECK(s == NULL);
    CHECK_OK(tp_strand_create(p, &s));
    CHECK_EQ(tp_strand_submit(NULL, echo, NULL), TP_EINVAL);
    CHECK_EQ(tp_strand_submit(s, NULL, NULL), TP_EINVAL);
    CHECK_EQ(tp_strand_submit_future(NULL, echo, NULL, &f), TP_EINVAL);
    CHECK_EQ(tp_strand_submit_future(s, NULL, NULL, &f), TP_EINVAL);
    CHECK_EQ(tp_strand_submit_future(s, echo, NULL, NULL), TP_EINVAL);
    CHECK(f == NULL);
    CHECK_EQ(tp_strand_destroy(NULL), TP_EINVAL);
    CHECK_OK(tp_pool_shutdown(p));
    CHECK_EQ(tp_strand_submit(s, echo, NULL), TP_ESHUTDOWN);
    CHECK_EQ(tp_strand_submit_future(s, echo, NULL, &f), TP_ESHUTDOWN);
    CHECK(f == NULL);
    CHECK_OK(tp_strand_destroy(s));
    CHECK_OK(tp_pool_destroy(p));
}

static void strand_scenario(void)
{
    tp_pool *p;
    if (!ok_or_nomem(tp_pool_create(&p, NULL)))
        return;
    tp_strand *s;
    if (ok_or_nomem(tp_strand_create(p, &s))) {
        for (int i = 0; i < 3; i++)
            (void)ok_or_nomem(tp_strand_submit(s, echo, NULL));
        tp_future *f;
        if (ok_or_nomem(tp_strand_submit_future(s, echo, (void *)1, &f))) {
            void *r;
            CHECK_OK(tp_future_get(f, -1, &r));
            CHECK(r == (void *)1);
            CHECK_OK(tp_future_release(f));
        }
        CHECK_OK(tp_strand_destroy(s));
    }
    CHECK_OK(tp_pool_destroy(p));
}

TEST(allocation_failure)
{
    CHECK(walk_allocation_failures(strand_scenario) > 0);
}

TEST_MAIN(
    TEST_ENTRY(thousand_strands_thousand_tasks)
    TEST_ENTRY(one_worker_and_many_workers)
    TEST_ENTRY(tasks_submit_to_their_strand)
    TEST_ENTRY(futures)
    TEST_ENTRY(destroy_with_tasks_queued_runs_them)
    TEST_ENTRY(destroy_from_a_task)
    TEST_ENTRY(destroy_idle_and_after_pool)
    TEST_ENTRY(shutdown_now_drops_queued)
    TEST_ENTRY(submits_race_shutdown)
    TEST_ENTRY(bad_arguments)
    TEST_ENTRY(allocation_failure)
)
