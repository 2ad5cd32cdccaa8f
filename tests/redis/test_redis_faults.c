/*
 * test_redis_faults.c - the module's delivery guarantees under faults,
 * with real worker processes (tpool-redis-worker loading tasks.c):
 *
 *   kill_a_worker_holding_tasks  1,000 tasks over 3 workers, one SIGKILLed
 *       while it holds unacknowledged tasks: every future settles once,
 *       nothing stays pending, and exactly the killed worker's tasks ran
 *       twice.
 *   poison_task_is_dead_lettered  a task that abort()s every time: after
 *       max_attempts deliveries it is dead-lettered and its future fails.
 *   redis_restart_loses_nothing  Redis SIGKILLed and restarted with
 *       appendonly: no accepted task is lost, submits made while it is
 *       down are sent after the reconnect (or refused, by choice).
 *   stalled_worker_replies_late  a worker SIGSTOPped past the reclaim
 *       threshold, then resumed: its late reply is dropped, the future
 *       settles once.
 *
 * Each test has its own server (harness.h) and ends within its CTest
 * timeout; cross-process conditions are waited for with rh_poll().
 */
#include <stdatomic.h>

#include "check.h"
#include "harness.h"

static tp_redis_client *client_on(const rh_server *s, tp_redis_down_policy p)
{
    tp_redis_client_opts o;
    tp_redis_client_opts_init(&o);
    o.conn.url = s->url;
    o.on_down = p;
    tp_redis_client *c;
    CHECK_OK(tp_redis_client_create(&c, &o));
    return c;
}

/* A clean stop: SIGTERM, drain, exit 0 (under a sanitizer, also no
 * report: a report makes the worker fail). */
static void stop_worker(pid_t pid)
{
    int st = rh_worker_end(pid, SIGTERM);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

static void count_settle(tp_future *f, void *ctx)
{
    (void)f;
    atomic_fetch_add((atomic_int *)ctx, 1);
}

typedef struct held_ctx {
    const rh_server *s;
    const char *key;
    long long want;
} held_ctx;

static bool scard_reaches(void *arg)
{
    held_ctx *h = arg;
    redisContext *a = rh_connect(h->s);
    long long v = a ? rh_int(a, "SCARD %s", h->key) : -1;
    if (a)
        redisFree(a);
    return v >= h->want;
}

static bool hget_reaches(void *arg)
{
    held_ctx *h = arg;
    redisContext *a = rh_connect(h->s);
    long long v = a ? rh_int(a, "HGET t:runs %s", h->key) : -1;
    if (a)
        redisFree(a);
    return v >= h->want;
}

/* The task stream is empty: every entry acknowledged and trimmed (at the
 * workers' next heartbeat). */
static bool stream_empty(void *arg)
{
    redisContext *a = rh_connect(arg);
    long long v = a ? rh_int(a, "XLEN tp:q:default") : -1;
    if (a)
        redisFree(a);
    return v == 0;
}

static long long pending_total(redisContext *a)
{
    redisReply *r = redisCommand(a, "XPENDING tp:q:default tp");
    long long v = -1;
    if (r && r->type == REDIS_REPLY_ARRAY && r->elements >= 1 &&
        r->element[0]->type == REDIS_REPLY_INTEGER)
        v = r->element[0]->integer;
    if (r)
        freeReplyObject(r);
    return v;
}

TEST(kill_a_worker_holding_tasks)
{
    rh_skip_without_redis();
    rh_server s = {0};
    rh_server_start(&s);
    tp_redis_client *c = client_on(&s, TP_REDIS_DOWN_QUEUE);
    int64_t t0 = rh_now_ms();
    enum { N = 1000, VICTIM_THREADS = 4 };
    static tp_future *fs[N];
    static atomic_int settles[N];
    static char text[N][16];
    /* The victim starts alone and holds its first VICTIM_THREADS tasks
     * for ever (TPR_TEST_STALL). */
    pid_t victim = rh_worker_spawn(&s, "victim", VICTIM_THREADS, 500, true);
    for (int i = 0; i < N; i++) {
        snprintf(text[i], sizeof text[i], "k%d", i);
        atomic_init(&settles[i], 0);
        CHECK_OK(tp_redis_submit(c, "record", text[i], strlen(text[i]), NULL,
                                 &fs[i]));
        CHECK_OK(tp_future_on_done(fs[i], count_settle, &settles[i]));
    }
    held_ctx h = {&s, "t:held:victim", VICTIM_THREADS};
    CHECK(rh_poll(scard_reaches, &h, 20000));
    pid_t w1 = rh_worker_spawn(&s, "w1", 2, 500, false);
    pid_t w2 = rh_worker_spawn(&s, "w2", 2, 500, false);
    int64_t t_kill = rh_now_ms();
    int st = rh_worker_end(victim, SIGKILL);
    CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);

    for (int i = 0; i < N; i++) {
        void *res;
        CHECK_OK(tp_future_get(fs[i], 60000, &res));
        size_t n;
        const char *d = tp_redis_reply_data(res, &n);
        CHECK_EQ(n, strlen(text[i]));
        CHECK(memcmp(d, text[i], n) == 0);
        tp_redis_reply_free(res);
    }
    int64_t t_settled = rh_now_ms();
    redisContext *a = rh_connect(&s);
    CHECK(a);
    CHECK_EQ(pending_total(a), 0);
    CHECK(rh_poll(stream_empty, &s, 10000));
    /* Ran twice: exactly the victim's tasks; every other task once. */
    CHECK_EQ(rh_int(a, "SCARD t:held:victim"), VICTIM_THREADS);
    int twice = 0;
    for (int i = 0; i < N; i++) {
        long long runs = rh_int(a, "HGET t:runs %s", text[i]);
        long long held = rh_int(a, "SISMEMBER t:held:victim %s", text[i]);
        CHECK_EQ(runs, held ? 2 : 1);
        twice += runs == 2;
        CHECK_EQ(atomic_load(&settles[i]), 1);
        tp_future_release(fs[i]);
    }
    CHECK_EQ(twice, VICTIM_THREADS);
    tp_redis_client_stats cs;
    CHECK_OK(tp_redis_client_stats_get(c, &cs));
    CHECK_EQ(cs.settled, N);
    CHECK_EQ(cs.replies_dropped, 0);
    fprintf(stderr,
            "kill_a_worker: %d tasks, 3 workers, one SIGKILLed holding %d: "
            "%d ran twice (all the killed worker's), %llu settled once "
            "each, 0 dropped, 0 pending; all settled %lld ms after the "
            "kill (reclaim idle 500 ms), %lld ms in all\n",
            N, VICTIM_THREADS, twice, (unsigned long long)cs.settled,
            (long long)(t_settled - t_kill), (long long)(t_settled - t0));

    /* The status command sees the survivors and no pending task. */
    char cmdline[512];
    snprintf(cmdline, sizeof cmdline,
             "%s/tpool-redis-status --url %s > %s/status.txt",
             TPR_STATUS_DIR, s.url, s.dir);
    CHECK_EQ(system(cmdline), 0);
    snprintf(cmdline, sizeof cmdline,
             "grep -q 'group tp: 0 pending' %s/status.txt && "
             "grep -q 'consumer w1: 0 pending' %s/status.txt",
             s.dir, s.dir);
    CHECK_EQ(system(cmdline), 0);

    stop_worker(w1);
    stop_worker(w2);
    redisFree(a);
    tp_redis_client_destroy(c);
    rh_server_stop(&s);
}

TEST(poison_task_is_dead_lettered)
{
    rh_skip_without_redis();
    rh_server s = {0};
    rh_server_start(&s);
    tp_redis_client *c = client_on(&s, TP_REDIS_DOWN_QUEUE);
    tp_redis_submit_opts so;
    tp_redis_submit_opts_init(&so);
    so.max_attempts = 2;
    tp_future *f;
    CHECK_OK(tp_redis_submit(c, "abort", "poison", 6, &so, &f));
    int crashes = 0, spawned = 0;
    pid_t w = 0;
    int64_t t0 = rh_now_ms(), end = t0 + 60000;
    /* A supervisor: restart the worker whenever it dies, until the future
     * settles. */
    while (tp_future_state(f) == TP_PENDING && rh_now_ms() < end) {
        if (w == 0) {
            char name[16];
            snprintf(name, sizeof name, "p%d", ++spawned);
            w = rh_worker_spawn(&s, name, 1, 300, false);
        }
        int st;
        pid_t got = waitpid(w, &st, WNOHANG);
        if (got == w) {
            rh_untrack(w);
            CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT);
            crashes++;
            w = 0;
            continue;
        }
        (void)tp_future_wait(f, 50);
    }
    int64_t t_failed = rh_now_ms();
    void *res;
    CHECK_EQ(tp_future_get(f, 0, &res), TP_EFAILED);
    CHECK_EQ(tp_future_error(f), TP_REDIS_EDEAD);
    CHECK_EQ(crashes, 2);
    redisContext *a = rh_connect(&s);
    CHECK_EQ(rh_int(a, "HGET t:runs poison"), 2);
    CHECK_EQ(rh_int(a, "XLEN tp:dead"), 1);
    redisReply *r = redisCommand(a, "XRANGE tp:dead - +");
    CHECK(r && r->type == REDIS_REPLY_ARRAY && r->elements == 1);
    const redisReply *fields = r->element[0]->element[1];
    bool why = false;
    for (size_t i = 0; i + 1 < fields->elements; i += 2)
        if (strcmp(fields->element[i]->str, "why") == 0)
            why = strstr(fields->element[i + 1]->str, "max attempts") != NULL;
    CHECK(why);
    freeReplyObject(r);
    CHECK_EQ(pending_total(a), 0);
    fprintf(stderr,
            "poison_task: max_attempts 2: %d runs, %d worker crashes "
            "(SIGABRT), %d workers started, 1 dead letter (why: max "
            "attempts), future failed EDEAD %lld ms after the submit "
            "(reclaim idle 300 ms), 0 pending\n",
            (int)rh_int(a, "HGET t:runs poison"), crashes, spawned,
            (long long)(t_failed - t0));
    if (w)
        stop_worker(w);
    redisFree(a);
    tp_future_release(f);
    tp_redis_client_destroy(c);
    rh_server_stop(&s);
}

static bool client_down(void *arg)
{
    return !tp_redis_client_connected(arg);
}

static bool client_up(void *arg)
{
    return tp_redis_client_connected(arg);
}

TEST(redis_restart_loses_nothing)
{
    rh_skip_without_redis();
    rh_server s = {0};
    s.aof = true;
    rh_server_start(&s);
    tp_redis_client *c = client_on(&s, TP_REDIS_DOWN_QUEUE);
    tp_redis_client *cf = client_on(&s, TP_REDIS_DOWN_FAIL);
    enum { BEFORE = 300, DURING = 200, N = BEFORE + DURING };
    static tp_future *fs[N];
    static char text[N][16];
    pid_t w1 = rh_worker_spawn(&s, "r1", 2, 1000, false);
    for (int i = 0; i < BEFORE; i++) {
        snprintf(text[i], sizeof text[i], "b%d", i);
        CHECK_OK(tp_redis_submit(c, "echo", text[i], strlen(text[i]), NULL,
                                 &fs[i]));
    }
    CHECK_OK(tp_redis_client_flush(c, 20000)); /* all accepted by Redis */
    int64_t t_kill = rh_now_ms();
    rh_server_kill(&s, SIGKILL);
    CHECK(rh_poll(client_down, cf, 10000));
    tp_future *refused;
    CHECK_EQ(tp_redis_submit(cf, "echo", "x", 1, NULL, &refused),
             TP_REDIS_EDOWN);
    for (int i = BEFORE; i < N; i++) {
        snprintf(text[i], sizeof text[i], "d%d", i);
        CHECK_OK(tp_redis_submit(c, "echo", text[i], strlen(text[i]), NULL,
                                 &fs[i]));
    }
    rh_server_start(&s); /* same directory: the append-only file */
    int64_t t_up = rh_now_ms();
    pid_t w2 = rh_worker_spawn(&s, "r2", 2, 1000, false);
    for (int i = 0; i < N; i++) {
        void *res;
        int rc = tp_future_get(fs[i], 60000, &res);
        if (rc != 0)
            fprintf(stderr, "task %s: %s\n", text[i], tp_redis_err_name(rc));
        CHECK_OK(rc);
        size_t n;
        const char *d = tp_redis_reply_data(res, &n);
        CHECK_EQ(n, strlen(text[i]));
        CHECK(memcmp(d, text[i], n) == 0);
        tp_redis_reply_free(res);
        tp_future_release(fs[i]);
    }
    int64_t t_settled = rh_now_ms();
    CHECK(rh_poll(client_up, cf, 20000));
    tp_future *f;
    CHECK_OK(tp_redis_submit(cf, "echo", "back", 4, NULL, &f));
    void *res;
    CHECK_OK(tp_future_get(f, 20000, &res));
    tp_future_release(f);
    tp_redis_client_stats cs;
    CHECK_OK(tp_redis_client_stats_get(c, &cs));
    stop_worker(w1);
    stop_worker(w2);
    redisContext *a = rh_connect(&s);
    CHECK_EQ(pending_total(a), 0);
    fprintf(stderr,
            "redis_restart: Redis SIGKILLed (appendonly) with %d tasks "
            "accepted, %d submitted while down: 0 lost, all %d settled "
            "%lld ms after the restart (down %lld ms), %llu client "
            "reconnects, 1 submit refused while down (DOWN_FAIL), "
            "0 pending\n",
            BEFORE, DURING, N, (long long)(t_settled - t_up),
            (long long)(t_up - t_kill), (unsigned long long)cs.reconnects);
    redisFree(a);
    tp_redis_client_destroy(cf);
    tp_redis_client_destroy(c);
    rh_server_stop(&s);
}

static bool dropped_one(void *arg)
{
    tp_redis_client_stats st;
    tp_redis_client_stats_get(arg, &st);
    return st.replies_dropped >= 1;
}

TEST(stalled_worker_replies_late)
{
    rh_skip_without_redis();
    rh_server s = {0};
    rh_server_start(&s);
    tp_redis_client *c = client_on(&s, TP_REDIS_DOWN_QUEUE);
    pid_t pa = rh_worker_spawn(&s, "pA", 1, 400, false);
    tp_future *f;
    CHECK_OK(tp_redis_submit(c, "gate", "g1", 2, NULL, &f));
    atomic_int settles;
    atomic_init(&settles, 0);
    CHECK_OK(tp_future_on_done(f, count_settle, &settles));
    held_ctx h = {&s, "g1", 1};
    CHECK(rh_poll(hget_reaches, &h, 20000)); /* pA runs it */
    kill(pa, SIGSTOP);
    int64_t t_stop = rh_now_ms();
    pid_t pb = rh_worker_spawn(&s, "pB", 1, 400, false);
    h.want = 2;
    CHECK(rh_poll(hget_reaches, &h, 20000)); /* pB took it over */
    int64_t t_taken = rh_now_ms();
    /* Two tokens: the stopped pA is still blocked in BLPOP on the same
     * list, and Redis hands the first token to the first one blocked. */
    redisContext *a = rh_connect(&s);
    freeReplyObject(redisCommand(a, "LPUSH t:go:g1 go go"));
    void *res;
    CHECK_OK(tp_future_get(f, 20000, &res));
    CHECK(strcmp(tp_redis_reply_data(res, NULL), "g1 by pB") == 0);
    tp_redis_reply_free(res);
    /* Resume pA and let it finish: its reply comes, and is dropped. */
    kill(pa, SIGCONT);
    int64_t t_cont = rh_now_ms();
    CHECK(rh_poll(dropped_one, c, 20000));
    int64_t t_dropped = rh_now_ms();
    tp_redis_client_stats cs;
    CHECK_OK(tp_redis_client_stats_get(c, &cs));
    CHECK_EQ(cs.settled, 1);
    CHECK_EQ(cs.replies_dropped, 1);
    CHECK_EQ(atomic_load(&settles), 1);
    CHECK_EQ(rh_int(a, "HGET t:finished g1"), 2);
    CHECK_EQ(pending_total(a), 0);
    fprintf(stderr,
            "stalled_worker: SIGSTOPped while running its task: taken over "
            "%lld ms after the stop (reclaim idle 400 ms), ran twice, "
            "settled once (by the new worker), the late reply dropped "
            "%lld ms after SIGCONT (%llu dropped), 0 pending\n",
            (long long)(t_taken - t_stop), (long long)(t_dropped - t_cont),
            (unsigned long long)cs.replies_dropped);
    stop_worker(pa);
    stop_worker(pb);
    redisFree(a);
    tp_future_release(f);
    tp_redis_client_destroy(c);
    rh_server_stop(&s);
}

TEST_MAIN(TEST_ENTRY(kill_a_worker_holding_tasks)
              TEST_ENTRY(poison_task_is_dead_lettered)
                  TEST_ENTRY(redis_restart_loses_nothing)
                      TEST_ENTRY(stalled_worker_replies_late))
