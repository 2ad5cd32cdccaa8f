/*
 * test_redis_basic.c - the Redis module against a real server, with the
 * worker in this process (a thread runs tp_redis_worker_serve()): replies,
 * failures, dead letters, hostile entries, limits, cancellation, deadlines,
 * priority streams, AUTH, a client restart, and remote futures mixed with
 * local ones in every wait and combinator.
 *
 * One private server for the whole program (harness.h); each test uses a
 * namespace of its own, so tests see none of each other's keys.
 */
#include <pthread.h>
#include <stdatomic.h>

#include "check.h"
#include "harness.h"
#include "worker_internal.h"

int tp_redis_tasks_init(tp_redis_worker *w, int argc, char **argv);

static rh_server server;

static void server_down(void)
{
    if (server.pid > 0)
        rh_server_stop(&server);
}

static void server_up(void)
{
    if (server.pid > 0)
        return;
    rh_skip_without_redis();
    rh_server_start(&server);
    atexit(server_down); /* runs before harness.h's clean-up */
    setenv("TPR_TEST_SOCK", server.sock, 1);
}

static redisContext *admin(void)
{
    redisContext *c = rh_connect(&server);
    CHECK(c != NULL);
    return c;
}

/* Acknowledged entries leave their stream at the worker's next trim (at
 * most a heartbeat later): a stream that empties. */
static bool stream_empty_cb(void *arg)
{
    redisContext *a = rh_connect(&server);
    long long v = rh_int(a, "XLEN %s", (const char *)arg);
    redisFree(a);
    return v == 0;
}

/* A stream and the length it must reach. */
typedef struct stream_len {
    const char *key;
    long long want;
} stream_len;

static bool stream_len_cb(void *arg)
{
    stream_len *s = arg;
    redisContext *a = rh_connect(&server);
    long long v = rh_int(a, "XLEN %s", s->key);
    redisFree(a);
    return v == s->want;
}

/* ---- an in-process worker ------------------------------------------------ */

typedef struct bg_worker {
    tp_redis_worker *w;
    pthread_t thread;
    int rc;
} bg_worker;

static void *serve_main(void *arg)
{
    bg_worker *b = arg;
    b->rc = tp_redis_worker_serve(b->w);
    return NULL;
}

static void worker_opts(tp_redis_worker_opts *o, const char *ns)
{
    tp_redis_worker_opts_init(o);
    o->conn.url = server.url;
    o->conn.ns = ns;
    o->threads = 2;
    o->reclaim_idle_ms = 600;
    o->heartbeat_ms = 100;
}

static void worker_start_with(bg_worker *b, const tp_redis_worker_opts *o)
{
    CHECK_OK(tp_redis_worker_create(&b->w, o));
    CHECK_OK(tp_redis_tasks_init(b->w, 0, NULL));
    CHECK_OK(pthread_create(&b->thread, NULL, serve_main, b));
}

static void worker_start(bg_worker *b, const char *ns)
{
    tp_redis_worker_opts o;
    worker_opts(&o, ns);
    worker_start_with(b, &o);
}

static void worker_end(bg_worker *b)
{
    CHECK_OK(tp_redis_worker_stop(b->w));
    CHECK_OK(pthread_join(b->thread, NULL));
    CHECK_OK(b->rc);
    CHECK_OK(tp_redis_worker_destroy(b->w));
}

static tp_redis_client *client_for(const char *ns)
{
    tp_redis_client_opts o;
    tp_redis_client_opts_init(&o);
    o.conn.url = server.url;
    o.conn.ns = ns;
    tp_redis_client *c;
    CHECK_OK(tp_redis_client_create(&c, &o));
    return c;
}

static tp_future *submit(tp_redis_client *c, const char *fn, const char *text)
{
    tp_future *f;
    CHECK_OK(tp_redis_submit(c, fn, text, strlen(text), NULL, &f));
    return f;
}

/* The reply of a COMPLETED future must be `want`; frees it. */
static void check_reply(tp_future *f, const char *want)
{
    void *res;
    CHECK_OK(tp_future_get(f, 20000, &res));
    size_t n;
    const char *data = tp_redis_reply_data(res, &n);
    CHECK_EQ(n, strlen(want));
    CHECK(memcmp(data, want, n) == 0);
    CHECK_EQ(data[n], 0);
    tp_redis_reply_free(res);
}

/* Submits fn(text) and checks that the reply is `text`. */
static void check_reply_of(tp_redis_client *c, const char *fn,
                           const char *text)
{
    tp_future *f = submit(c, fn, text);
    check_reply(f, text);
    tp_future_release(f);
}

static int fail_code(tp_future *f)
{
    void *res;
    int rc = tp_future_get(f, 20000, &res);
    CHECK(rc == TP_EFAILED || rc == TP_ECANCELED);
    return tp_future_error(f);
}

/* ---- tests ------------------------------------------------------------------ */

TEST(echo_and_failure)
{
    server_up();
    bg_worker b;
    worker_start(&b, "echo");
    tp_redis_client *c = client_for("echo");
    enum { N = 200 };
    tp_future *fs[N];
    char text[N][32];
    for (int i = 0; i < N; i++) {
        snprintf(text[i], sizeof text[i], "payload-%d", i);
        fs[i] = submit(c, "echo", text[i]);
    }
    /* Binary payloads survive, NULs included. */
    static const char bin[5] = {'a', 0, 'b', 0, (char)0xff};
    tp_future *fb;
    CHECK_OK(tp_redis_submit(c, "echo", bin, sizeof bin, NULL, &fb));
    void *res;
    CHECK_OK(tp_future_get(fb, 20000, &res));
    size_t n;
    const char *d = tp_redis_reply_data(res, &n);
    CHECK_EQ(n, sizeof bin);
    CHECK(memcmp(d, bin, n) == 0);
    tp_redis_reply_free(res);
    tp_future_release(fb);
    for (int i = 0; i < N; i++) {
        check_reply(fs[i], text[i]);
        tp_future_release(fs[i]);
    }
    tp_future *ff = submit(c, "fail", "x");
    CHECK_EQ(fail_code(ff), 42);
    CHECK_EQ(tp_future_state(ff), TP_FAILED);
    tp_future_release(ff);
    /* A reply may settle a future before the sender has read Redis's
     * confirmation of its XADD: flush waits for those. */
    CHECK_OK(tp_redis_client_flush(c, 10000));
    tp_redis_client_stats st;
    CHECK_OK(tp_redis_client_stats_get(c, &st));
    CHECK_EQ(st.submitted, N + 2);
    CHECK_EQ(st.written, N + 2);
    CHECK_EQ(st.settled, N + 2);
    CHECK_EQ(st.replies_dropped, 0);
    CHECK_EQ(st.pending, 0);
    tp_redis_client_destroy(c);
    worker_end(&b);
    /* Acknowledged entries are trimmed (the last time at the end of
     * serve): the stream is empty. */
    redisContext *a = admin();
    CHECK_EQ(rh_int(a, "XLEN echo:q:default"), 0);
    redisFree(a);
}

TEST(bad_arguments)
{
    server_up();
    tp_redis_client *c = client_for("args");
    tp_future *f;
    CHECK_EQ(tp_redis_submit(NULL, "echo", "", 0, NULL, &f), TP_EINVAL);
    CHECK_EQ(tp_redis_submit(c, NULL, "", 0, NULL, &f), TP_EINVAL);
    CHECK_EQ(tp_redis_submit(c, "echo", NULL, 3, NULL, &f), TP_EINVAL);
    CHECK_EQ(tp_redis_submit(c, "", "", 0, NULL, &f), TP_EINVAL);
    tp_redis_submit_opts so;
    tp_redis_submit_opts_init(&so);
    so.stream = "bad stream";
    CHECK_EQ(tp_redis_submit(c, "echo", "", 0, &so, &f), TP_EINVAL);
    so.stream = NULL;
    so.max_attempts = 0;
    CHECK_EQ(tp_redis_submit(c, "echo", "", 0, &so, &f), TP_EINVAL);
    tp_redis_client_destroy(c);

    tp_redis_client_opts o;
    tp_redis_client_opts_init(&o);
    o.conn.url = "http://localhost";
    CHECK_EQ(tp_redis_client_create(&c, &o), TP_EINVAL);
    o.conn.url = "redis://host:99999";
    CHECK_EQ(tp_redis_client_create(&c, &o), TP_EINVAL);
    o.conn.url = server.url;
    o.conn.ns = "bad ns";
    CHECK_EQ(tp_redis_client_create(&c, &o), TP_EINVAL);
    o.conn.ns = NULL;
    o.client_id = "a/b";
    CHECK_EQ(tp_redis_client_create(&c, &o), TP_EINVAL);
    /* Nothing listens there. */
    char url[256];
    snprintf(url, sizeof url, "unix://%s/none.sock", server.dir);
    o.client_id = NULL;
    o.conn.url = url;
    CHECK_EQ(tp_redis_client_create(&c, &o), TP_REDIS_EDOWN);
    CHECK(strcmp(tp_redis_err_name(TP_REDIS_EDOWN), "TP_REDIS_EDOWN") == 0);
    CHECK(strcmp(tp_redis_err_name(TP_EINVAL), "TP_EINVAL") == 0);
    CHECK(strstr(tp_redis_strerror(TP_REDIS_EDEAD), "dead") != NULL);
}

TEST(unknown_function_is_dead_lettered)
{
    server_up();
    bg_worker b;
    worker_start(&b, "unk");
    tp_redis_client *c = client_for("unk");
    tp_future *f = submit(c, "no_such_task", "p");
    CHECK_EQ(fail_code(f), TP_REDIS_ENOFUNC);
    tp_future_release(f);
    redisContext *a = admin();
    CHECK_EQ(rh_int(a, "XLEN unk:dead"), 1);
    redisReply *r = redisCommand(a, "XRANGE unk:dead - +");
    CHECK(r && r->type == REDIS_REPLY_ARRAY && r->elements == 1);
    const redisReply *fields = r->element[0]->element[1];
    bool why = false, fn = false;
    for (size_t i = 0; i + 1 < fields->elements; i += 2) {
        if (strcmp(fields->element[i]->str, "why") == 0)
            why = strstr(fields->element[i + 1]->str, "unknown function");
        if (strcmp(fields->element[i]->str, "fn") == 0)
            fn = strcmp(fields->element[i + 1]->str, "no_such_task") == 0;
    }
    CHECK(why && fn);
    freeReplyObject(r);
    redisFree(a);
    tp_redis_client_destroy(c);
    worker_end(&b);
}

TEST(hostile_entries_never_run_and_never_stop_the_worker)
{
    server_up();
    bg_worker b;
    worker_start(&b, "hostile");
    redisContext *a = admin();
    /* Created by the worker or here, whichever comes first. */
    freeReplyObject(redisCommand(a, "XGROUP CREATE hostile:q:default hostile 0 MKSTREAM"));
    const char *entries[] = {
        "XADD hostile:q:default * x y",
        "XADD hostile:q:default * v 2 id c/1 fn echo r hostile:r:c",
        "XADD hostile:q:default * v 1 id c/2 fn echo r other:key p x",
        "XADD hostile:q:default * v 1 id c/3 fn echo r hostile:r:c dl -5",
        "XADD hostile:q:default * v 1 id c/4 fn echo r hostile:r:c ma 0",
        "XADD hostile:q:default * v 1 id c/5 fn echo r hostile:r:c ma 99999999999999999999",
        "XADD hostile:q:default * v 1 id c/6 fn echo r hostile:r:c:x",
        "XADD hostile:q:default * v 1 id c/7 id c/8 fn echo r hostile:r:c",
        "XADD hostile:q:default * v 1 id bad\x01id fn echo r hostile:r:c",
        "XADD hostile:q:default * v 1 id c/9 r hostile:r:c",
    };
    size_t n = sizeof entries / sizeof entries[0];
    for (size_t i = 0; i < n; i++) {
        redisReply *r = redisCommand(a, entries[i]);
        CHECK(r && r->type == REDIS_REPLY_STRING);
        freeReplyObject(r);
    }
    /* A binary function name with a NUL in it. */
    freeReplyObject(redisCommand(a, "XADD hostile:q:default * v 1 id c/10 fn %b r hostile:r:c",
                                 "ec\0ho", (size_t)5));
    n++;
    /* The worker still serves, and everything before this was handled. */
    tp_redis_worker_stats st;
    tp_redis_client *c = client_for("hostile");
    tp_future *f = submit(c, "echo", "still alive");
    check_reply(f, "still alive");
    tp_future_release(f);
    CHECK_OK(tp_redis_worker_stats_get(b.w, &st));
    CHECK_EQ(st.dead, n);
    CHECK_EQ(st.ran, 1);
    /* Dead letters go out with the worker's next write, which its other
     * connection may make after the reply above (the header's `dead`). */
    stream_len dead = {"hostile:dead", (long long)n};
    CHECK(rh_poll(stream_len_cb, &dead, 10000));
    CHECK_EQ(rh_int(a, "EXISTS other:key"), 0);
    CHECK_EQ(rh_int(a, "EXISTS hostile:r:c:x"), 0);
    CHECK(rh_poll(stream_empty_cb, "hostile:q:default", 10000));
    redisFree(a);
    tp_redis_client_destroy(c);
    worker_end(&b);
}

TEST(size_limits)
{
    server_up();
    tp_redis_worker_opts o;
    worker_opts(&o, "lim");
    o.max_payload = 100;
    o.max_reply = 1000;
    bg_worker b;
    worker_start_with(&b, &o);
    tp_redis_client_opts co;
    tp_redis_client_opts_init(&co);
    co.conn.url = server.url;
    co.conn.ns = "lim";
    co.max_payload = 200;
    co.max_reply = 500;
    tp_redis_client *c;
    CHECK_OK(tp_redis_client_create(&c, &co));
    char big[300];
    memset(big, 'x', sizeof big);
    tp_future *f;
    /* Over the client's limit: refused at once. */
    CHECK_EQ(tp_redis_submit(c, "echo", big, 201, NULL, &f), TP_REDIS_ETOOBIG);
    /* Over the worker's: dead-lettered. */
    CHECK_OK(tp_redis_submit(c, "echo", big, 150, NULL, &f));
    CHECK_EQ(fail_code(f), TP_REDIS_ETOOBIG);
    tp_future_release(f);
    /* A reply over the worker's limit: the task's tp_redis_call_reply()
     * fails, and so does the task. */
    f = submit(c, "big", "2000");
    CHECK_EQ(fail_code(f), TP_REDIS_ETOOBIG);
    tp_future_release(f);
    /* Within the worker's, over the client's. */
    f = submit(c, "big", "800");
    CHECK_EQ(fail_code(f), TP_REDIS_ETOOBIG);
    tp_future_release(f);
    f = submit(c, "big", "400");
    void *res;
    CHECK_OK(tp_future_get(f, 20000, &res));
    size_t n;
    tp_redis_reply_data(res, &n);
    CHECK_EQ(n, 400);
    tp_future_release(f); /* the reply is left to destroy to free */
    tp_redis_client_destroy(c);
    worker_end(&b);
}

static void *square(void *arg)
{
    uintptr_t n = (uintptr_t)arg;
    return (void *)(n * n);
}

static void *reply_length(tp_future *src, void *ctx)
{
    (void)ctx;
    void *res;
    if (tp_future_get(src, 0, &res) != 0)
        return NULL;
    size_t n;
    tp_redis_reply_data(res, &n);
    tp_redis_reply_free(res);
    return (void *)(uintptr_t)n;
}

TEST(remote_and_local_futures_combine)
{
    server_up();
    bg_worker b;
    worker_start(&b, "comb");
    tp_redis_client *c = client_for("comb");
    tp_pool *pool;
    CHECK_OK(tp_pool_create(&pool, NULL));
    tp_future *local, *remote;
    CHECK_OK(tp_submit_future(pool, square, (void *)(uintptr_t)7, &local));
    remote = submit(c, "echo", "twelve bytes");

    tp_future *all;
    tp_future *both[2] = {local, remote};
    CHECK_OK(tp_when_all(both, 2, 0, &all));
    CHECK_OK(tp_future_wait(all, 20000));
    CHECK_EQ(tp_future_state(all), TP_COMPLETED);
    tp_future_release(all);

    tp_future *any;
    size_t idx;
    CHECK_OK(tp_wait_any(both, 2, 20000, &idx));
    CHECK_OK(tp_when_any(both, 2, 0, &any));
    CHECK_OK(tp_future_wait(any, 20000));
    tp_future_release(any);

    tp_future *len;
    CHECK_OK(tp_future_then(remote, pool, reply_length, NULL, 0, &len));
    void *res;
    CHECK_OK(tp_future_get(len, 20000, &res));
    CHECK_EQ((uintptr_t)res, 12);
    tp_future_release(len);

    /* A waitset yields the remote ones as they come. */
    tp_waitset *ws;
    CHECK_OK(tp_waitset_create(&ws));
    for (int i = 0; i < 10; i++) {
        char t[8];
        snprintf(t, sizeof t, "w%d", i);
        tp_future *f = submit(c, "echo", t);
        CHECK_OK(tp_waitset_add(ws, f));
        tp_future_release(f);
    }
    int seen = 0;
    tp_future *f;
    while (tp_waitset_next(ws, 20000, &f) == 0) {
        CHECK_OK(tp_future_get(f, 0, &res));
        tp_redis_reply_free(res);
        tp_future_release(f);
        seen++;
    }
    CHECK_EQ(seen, 10);
    tp_waitset_destroy(ws);
    tp_future_release(local);
    tp_future_release(remote);
    tp_pool_destroy(pool);
    tp_redis_client_destroy(c);
    worker_end(&b);
}

TEST(cancel_before_start_prevents_the_run)
{
    server_up();
    tp_redis_client *c = client_for("cpend");
    tp_future *unsent = submit(c, "record", "cancelled-before-start");
    CHECK_OK(tp_future_cancel(unsent));
    CHECK_EQ(tp_future_state(unsent), TP_CANCELLED);
    /* Written, then cancelled before any worker read it: the entry is
     * taken out of the stream. */
    tp_future *victim = submit(c, "record", "cancelled-before-start");
    CHECK_OK(tp_redis_client_flush(c, 10000));
    CHECK_OK(tp_future_cancel(victim));
    CHECK(rh_poll(stream_empty_cb, "cpend:q:default", 10000));
    tp_future *after = submit(c, "echo", "after");
    CHECK_OK(tp_redis_client_flush(c, 10000));
    /* One thread reads the stream in order: once `after` is answered,
     * the cancelled task has been seen and refused. */
    tp_redis_worker_opts o;
    worker_opts(&o, "cpend");
    o.threads = 1;
    bg_worker b;
    worker_start_with(&b, &o);
    check_reply(after, "after");
    tp_redis_worker_stats st;
    CHECK_OK(tp_redis_worker_stats_get(b.w, &st));
    redisContext *a = admin();
    CHECK_EQ(rh_int(a, "HGET t:runs cancelled-before-start"), 0);
    redisFree(a);
    (void)st;
    tp_future_release(unsent);
    tp_future_release(victim);
    tp_future_release(after);
    tp_redis_client_destroy(c);
    worker_end(&b);
}

static bool started_cb(void *arg)
{
    redisContext *a = rh_connect(&server);
    long long v = rh_int(a, "HGET t:runs %s", (const char *)arg);
    redisFree(a);
    return v >= 1;
}

static bool stopped_cb(void *arg)
{
    redisContext *a = rh_connect(&server);
    long long v = rh_int(a, "HGET t:stopped %s", (const char *)arg);
    redisFree(a);
    return v >= 1;
}

/* The client's retract script deletes an entry only if no worker has read
 * it: an entry a worker is done with stays until its trim, and is neither
 * pending nor unread. */
TEST(retract_takes_back_only_unread_entries)
{
    server_up();
    redisContext *a = admin();
    freeReplyObject(redisCommand(a, "XGROUP CREATE rt:q:default rt 0 MKSTREAM"));
    char ids[3][64];
    for (int i = 0; i < 3; i++) {
        redisReply *r = redisCommand(a, "XADD rt:q:default * v 1");
        CHECK(r && r->type == REDIS_REPLY_STRING && r->len < sizeof ids[i]);
        snprintf(ids[i], sizeof ids[i], "%s", r->str);
        freeReplyObject(r);
    }
    /* A worker read the first two and is done with the first. */
    freeReplyObject(redisCommand(
        a, "XREADGROUP GROUP rt c COUNT 2 STREAMS rt:q:default >"));
    CHECK_EQ(rh_int(a, "XACK rt:q:default rt %s", ids[0]), 1);
    const char *marker[3] = {"rt:x:done", "rt:x:held", "rt:x:unread"};
    long long want[3] = {0, 0, 1};
    for (int i = 0; i < 3; i++)
        CHECK_EQ(rh_int(a, "EVAL %s 2 rt:q:default %s rt %s e 60000",
                        tpr_retract_lua, marker[i], ids[i]),
                 want[i]);
    CHECK_EQ(rh_int(a, "XLEN rt:q:default"), 2);
    CHECK_EQ(rh_int(a, "EXISTS rt:x:done"), 0);
    CHECK_EQ(rh_int(a, "EXISTS rt:x:held"), 0);
    CHECK_EQ(rh_int(a, "EXISTS rt:x:unread"), 1);
    redisFree(a);
}

static bool stream_short_cb(void *arg)
{
    redisContext *a = rh_connect(&server);
    long long v = rh_int(a, "XLEN %s", (const char *)arg);
    redisFree(a);
    return v >= 0 && v < 1 + TRIM_EVERY + 64;
}

static bool trims_again_cb(void *arg)
{
    tp_redis_worker *w = arg;
    return !atomic_load(&w->del_each[0]);
}

/* Trimming stops at a held entry; with more than trim_keep_max done
 * entries kept behind it, entries are deleted one by one until it is
 * done. */
TEST(trimming_never_passes_a_held_entry)
{
    server_up();
    tp_redis_client *c = client_for("trim");
    tp_redis_worker_opts o;
    worker_opts(&o, "trim");
    bg_worker b;
    CHECK_OK(tp_redis_worker_create(&b.w, &o));
    b.w->trim_keep_max = 100;
    CHECK_OK(tp_redis_tasks_init(b.w, 0, NULL));
    CHECK_OK(pthread_create(&b.thread, NULL, serve_main, &b));
    tp_future *held = submit(c, "gate", "trim-held");
    CHECK(rh_poll(started_cb, "trim-held", 20000));
    enum { N = 600 };
    static tp_future *fs[N];
    for (int i = 0; i < N; i++)
        CHECK_OK(tp_redis_submit(c, "noop", "", 0, NULL, &fs[i]));
    CHECK_OK(tp_wait_all(fs, N, 60000));
    for (int i = 0; i < N; i++) {
        CHECK_EQ(tp_future_state(fs[i]), TP_COMPLETED);
        tp_future_release(fs[i]);
    }
    redisContext *a = admin();
    /* The held entry is still there, at the head of the stream. */
    redisReply *p = redisCommand(a, "XPENDING trim:q:default trim");
    CHECK(p && p->type == REDIS_REPLY_ARRAY && p->elements >= 1);
    CHECK_EQ(p->element[0]->integer, 1);
    freeReplyObject(p);
    redisReply *r = redisCommand(a, "XRANGE trim:q:default - + COUNT 1");
    CHECK(r && r->type == REDIS_REPLY_ARRAY && r->elements == 1);
    const redisReply *f = r->element[0]->element[1];
    bool gate = false, defaults = false;
    for (size_t i = 0; i + 1 < f->elements; i += 2) {
        gate |= strcmp(f->element[i]->str, "fn") == 0 &&
                strcmp(f->element[i + 1]->str, "gate") == 0;
        defaults |= strcmp(f->element[i]->str, "dl") == 0 ||
                    strcmp(f->element[i]->str, "ma") == 0;
    }
    CHECK(gate);
    /* Submitted with the default options: no dl, no ma (v id fn p r). */
    CHECK(!defaults);
    CHECK_EQ(f->elements, 10);
    freeReplyObject(r);
    /* Not all N done entries are kept behind it. */
    CHECK(rh_poll(stream_short_cb, "trim:q:default", 10000));
    freeReplyObject(redisCommand(a, "RPUSH t:go:trim-held 1"));
    check_reply(held, "trim-held by in-process");
    tp_future_release(held);
    CHECK(rh_poll(stream_empty_cb, "trim:q:default", 10000));
    /* Deleting each stops at the next trim (a heartbeat), which may come
     * after the last XDEL emptied the stream. */
    CHECK(rh_poll(trims_again_cb, b.w, 10000));
    redisFree(a);
    tp_redis_client_destroy(c);
    worker_end(&b);
}

TEST(cancel_while_running_requests_a_stop)
{
    server_up();
    bg_worker b;
    worker_start(&b, "crun");
    tp_redis_client *c = client_for("crun");
    tp_future *f = submit(c, "wait_cancel", "cancel-running");
    CHECK(rh_poll(started_cb, "cancel-running", 10000));
    CHECK_OK(tp_future_cancel(f));
    CHECK_EQ(tp_future_state(f), TP_CANCELLED);
    /* The worker sees the marker at its next heartbeat (100 ms), and the
     * task its stop request. */
    CHECK(rh_poll(stopped_cb, "cancel-running", 10000));
    tp_future_release(f);
    tp_redis_client_destroy(c);
    worker_end(&b);
}

/* As a local pool's: a task whose start deadline passes before any worker
 * has read it is CANCELLED with TP_EEXPIRED, by the client itself (no
 * worker is running), and a worker that comes later does not run it. */
TEST(start_deadline_expires_without_a_worker)
{
    server_up();
    tp_redis_client *c = client_for("dl");
    tp_redis_submit_opts so;
    tp_redis_submit_opts_init(&so);
    so.start_deadline_ms = 50;
    tp_future *f;
    CHECK_OK(tp_redis_submit(c, "record", "expired", 7, &so, &f));
    CHECK_OK(tp_redis_client_flush(c, 10000));
    CHECK_OK(tp_future_wait(f, 10000));
    CHECK_EQ(tp_future_state(f), TP_CANCELLED);
    CHECK_EQ(tp_future_error(f), TP_EEXPIRED);
    CHECK_EQ(tp_future_get(f, 0, NULL), TP_EEXPIRED);
    tp_redis_client_stats cs;
    CHECK_OK(tp_redis_client_stats_get(c, &cs));
    CHECK_EQ(cs.expired, 1);
    CHECK_EQ(cs.pending, 0);
    tp_future_release(f);
    /* One thread reads the stream in order: once `after` is answered, the
     * expired task would have been seen. */
    tp_redis_worker_opts o;
    worker_opts(&o, "dl");
    o.threads = 1;
    bg_worker b;
    worker_start_with(&b, &o);
    check_reply_of(c, "echo", "after");
    redisContext *a = admin();
    CHECK_EQ(rh_int(a, "HGET t:runs expired"), 0);
    CHECK(rh_poll(stream_empty_cb, "dl:q:default", 10000));
    redisFree(a);
    /* A deadline that is met: the task runs. */
    so.start_deadline_ms = 60000;
    CHECK_OK(tp_redis_submit(c, "echo", "in time", 7, &so, &f));
    check_reply(f, "in time");
    tp_future_release(f);
    tp_redis_client_destroy(c);
    worker_end(&b);
}

/* A worker that reaches an entry after its start deadline does not run it;
 * the future is CANCELLED with TP_EEXPIRED.  The entry is written by hand
 * (with the id of a real future of the client), so that the client cannot
 * take it back first. */
TEST(worker_reaching_an_expired_entry_cancels_it)
{
    server_up();
    tp_redis_client_opts co;
    tp_redis_client_opts_init(&co);
    co.conn.url = server.url;
    co.conn.ns = "dlw";
    co.client_id = "dlw-client";
    tp_redis_client *c;
    CHECK_OK(tp_redis_client_create(&c, &co));
    tp_redis_submit_opts so;
    tp_redis_submit_opts_init(&so);
    so.stream = "nobody"; /* no worker reads it */
    tp_future *f;
    CHECK_OK(tp_redis_submit(c, "record", "late", 4, &so, &f));
    CHECK_OK(tp_redis_client_flush(c, 10000));
    redisContext *a = admin();
    char tid[64], past[32];
    snprintf(tid, sizeof tid, "dlw-client/%llu",
             (unsigned long long)tp_future_id(f));
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    snprintf(past, sizeof past, "%lld", (long long)now.tv_sec * 1000 - 5000);
    redisReply *r = redisCommand(a,
                                 "XADD dlw:q:default * v 1 id %s fn record "
                                 "p late r dlw:r:dlw-client dl %s ma 3",
                                 tid, past);
    CHECK(r && r->type == REDIS_REPLY_STRING);
    freeReplyObject(r);
    bg_worker b;
    worker_start(&b, "dlw");
    CHECK_OK(tp_future_wait(f, 20000));
    CHECK_EQ(tp_future_state(f), TP_CANCELLED);
    CHECK_EQ(tp_future_error(f), TP_EEXPIRED);
    CHECK_EQ(rh_int(a, "HGET t:runs late"), 0);
    CHECK(rh_poll(stream_empty_cb, "dlw:q:default", 10000));
    CHECK_EQ(rh_int(a, "XLEN dlw:dead"), 0); /* not a dead letter */
    redisFree(a);
    tp_redis_worker_stats ws;
    CHECK_OK(tp_redis_worker_stats_get(b.w, &ws));
    CHECK_EQ(ws.expired, 1);
    CHECK_EQ(ws.ran, 0);
    tp_future_release(f);
    tp_redis_client_destroy(c);
    worker_end(&b);
}

TEST(priority_streams_are_read_first)
{
    server_up();
    tp_redis_client *c = client_for("prio");
    tp_redis_submit_opts lo, hi;
    tp_redis_submit_opts_init(&lo);
    tp_redis_submit_opts_init(&hi);
    hi.stream = "high";
    tp_future *fs[10];
    for (int i = 0; i < 10; i++) {
        char t[16];
        snprintf(t, sizeof t, "%s%d", i % 2 ? "hi" : "lo", i);
        CHECK_OK(tp_redis_submit(c, "record", t, strlen(t), i % 2 ? &hi : &lo,
                                 &fs[i]));
    }
    CHECK_OK(tp_redis_client_flush(c, 10000));
    redisContext *a = admin();
    freeReplyObject(redisCommand(a, "DEL t:order"));
    tp_redis_worker_opts o;
    worker_opts(&o, "prio");
    static const char *const streams[2] = {"high", "default"};
    o.streams = streams;
    o.nstreams = 2;
    o.threads = 1;
    bg_worker b;
    worker_start_with(&b, &o);
    for (int i = 0; i < 10; i++) {
        CHECK_OK(tp_future_wait(fs[i], 20000));
        CHECK_EQ(tp_future_state(fs[i]), TP_COMPLETED);
        tp_future_release(fs[i]);
    }
    redisReply *r = redisCommand(a, "LRANGE t:order 0 -1");
    CHECK(r && r->type == REDIS_REPLY_ARRAY && r->elements == 10);
    for (size_t i = 0; i < 10; i++)
        CHECK(strncmp(r->element[i]->str, i < 5 ? "hi" : "lo", 2) == 0);
    freeReplyObject(r);
    redisFree(a);
    tp_redis_client_destroy(c);
    worker_end(&b);
}

TEST(client_restart_drops_replies_of_the_old_life)
{
    server_up();
    tp_redis_client_opts o;
    tp_redis_client_opts_init(&o);
    o.conn.url = server.url;
    o.conn.ns = "restart";
    o.client_id = "fixed-id";
    tp_redis_client *c1;
    CHECK_OK(tp_redis_client_create(&c1, &o));
    tp_future *old = submit(c1, "echo", "old life");
    CHECK_OK(tp_redis_client_flush(c1, 10000));
    tp_redis_client_destroy(c1);
    CHECK_EQ(fail_code(old), TP_ESHUTDOWN);
    tp_future_release(old);

    tp_redis_client *c2;
    CHECK_OK(tp_redis_client_create(&c2, &o));
    tp_future *f = submit(c2, "echo", "new life");
    CHECK_OK(tp_redis_client_flush(c2, 10000));
    tp_redis_worker_opts wo;
    worker_opts(&wo, "restart");
    wo.threads = 1;
    bg_worker b;
    worker_start_with(&b, &wo);
    /* The old task still ran (at-least-once); its reply, ahead of the new
     * one in the reply stream, found no future. */
    check_reply(f, "new life");
    tp_redis_client_stats st;
    CHECK_OK(tp_redis_client_stats_get(c2, &st));
    CHECK_EQ(st.replies_dropped, 1);
    CHECK_EQ(st.settled, 1);
    tp_future_release(f);
    tp_redis_client_destroy(c2);
    worker_end(&b);
}

TEST(auth_password_and_acl_user)
{
    rh_skip_without_redis();
    rh_server s = {0};
    s.password = "s3cr%t";
    rh_server_start(&s);
    redisContext *a = rh_connect(&s);
    CHECK(a);
    freeReplyObject(redisCommand(a, "ACL SETUSER bob on >bobpw ~* &* +@all"));
    redisFree(a);

    tp_redis_client_opts o;
    tp_redis_client_opts_init(&o);
    tp_redis_client *c;
    char url[300];
    /* No password, a wrong one: refused. */
    o.conn.url = s.url;
    CHECK_EQ(tp_redis_client_create(&c, &o), TP_REDIS_EAUTH);
    o.conn.password = "wrong";
    CHECK_EQ(tp_redis_client_create(&c, &o), TP_REDIS_EAUTH);
    /* The password in the URL, escaped. */
    o.conn.password = NULL;
    snprintf(url, sizeof url, "unix://:s3cr%%25t@%s", s.sock);
    o.conn.url = url;
    CHECK_OK(tp_redis_client_create(&c, &o));
    tp_redis_client_destroy(c);
    /* An ACL user. */
    snprintf(url, sizeof url, "unix://bob:bobpw@%s", s.sock);
    CHECK_OK(tp_redis_client_create(&c, &o));

    tp_redis_worker_opts wo;
    tp_redis_worker_opts_init(&wo);
    wo.conn.url = s.url;
    wo.conn.password = "wrong";
    tp_redis_worker *w;
    CHECK_OK(tp_redis_worker_create(&w, &wo));
    CHECK_EQ(tp_redis_worker_serve(w), TP_REDIS_EAUTH);
    CHECK_OK(tp_redis_worker_destroy(w));

    wo.conn.url = url;
    wo.conn.password = NULL;
    wo.threads = 1;
    bg_worker b;
    worker_start_with(&b, &wo);
    tp_future *f = submit(c, "echo", "authenticated");
    check_reply(f, "authenticated");
    tp_future_release(f);
    tp_redis_client_destroy(c);
    worker_end(&b);
    rh_server_stop(&s);
}

TEST(worker_options_and_registration)
{
    server_up();
    tp_redis_worker_opts o;
    tp_redis_worker *w;
    worker_opts(&o, "opt");
    o.reclaim_idle_ms = 10;
    CHECK_EQ(tp_redis_worker_create(&w, &o), TP_EINVAL);
    worker_opts(&o, "opt");
    o.heartbeat_ms = o.reclaim_idle_ms;
    CHECK_EQ(tp_redis_worker_create(&w, &o), TP_EINVAL);
    worker_opts(&o, "opt");
    static const char *const bad[1] = {"no spaces"};
    o.streams = bad;
    o.nstreams = 1;
    CHECK_EQ(tp_redis_worker_create(&w, &o), TP_EINVAL);
    worker_opts(&o, "opt");
    CHECK_OK(tp_redis_worker_create(&w, &o));
    CHECK_OK(tp_redis_tasks_init(w, 0, NULL));
    /* A name registered twice. */
    CHECK_EQ(tp_redis_tasks_init(w, 0, NULL), TP_EINVAL);
    /* Stopped before serving: serve returns at once. */
    CHECK_OK(tp_redis_worker_stop(w));
    CHECK_OK(tp_redis_worker_serve(w));
    CHECK_EQ(tp_redis_worker_serve(w), TP_EBUSY);
    CHECK_OK(tp_redis_worker_destroy(w));
}

TEST_MAIN(TEST_ENTRY(echo_and_failure) TEST_ENTRY(bad_arguments)
              TEST_ENTRY(unknown_function_is_dead_lettered)
                  TEST_ENTRY(hostile_entries_never_run_and_never_stop_the_worker)
                      TEST_ENTRY(size_limits)
                          TEST_ENTRY(remote_and_local_futures_combine)
                              TEST_ENTRY(cancel_before_start_prevents_the_run)
                                  TEST_ENTRY(retract_takes_back_only_unread_entries)
                                  TEST_ENTRY(trimming_never_passes_a_held_entry)
                                  TEST_ENTRY(cancel_while_running_requests_a_stop)
                                      TEST_ENTRY(start_deadline_expires_without_a_worker)
                                          TEST_ENTRY(worker_reaching_an_expired_entry_cancels_it)
                                          TEST_ENTRY(priority_streams_are_read_first)
                                              TEST_ENTRY(client_restart_drops_replies_of_the_old_life)
                                                  TEST_ENTRY(auth_password_and_acl_user)
                                                      TEST_ENTRY(worker_options_and_registration))
