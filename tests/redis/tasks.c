/*
 * tasks.c - the task functions the Redis module's tests run, as a shared
 * library for tpool-redis-worker (tp_redis_tasks_init) and linked into the
 * in-process tests.
 *
 * Tasks that the tests must observe from outside the worker process record
 * what they do in Redis, on a connection of their own per thread (the
 * socket comes from TPR_TEST_SOCK): HINCRBY t:runs PAYLOAD 1 counts runs
 * of each task, SADD t:held:CONSUMER PAYLOAD says which worker ran it,
 * RPUSH t:order PAYLOAD in which order tasks started.
 */
#include <hiredis/hiredis.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "tpool_redis.h"

int tp_redis_tasks_init(tp_redis_worker *w, int argc, char **argv);

static pthread_key_t conn_key;
static pthread_once_t conn_once = PTHREAD_ONCE_INIT;
static const char *consumer_name = "in-process";

static void conn_free(void *p)
{
    redisFree(p);
}

static void conn_key_make(void)
{
    (void)pthread_key_create(&conn_key, conn_free);
}

/* This thread's connection to the test server, or NULL. */
static redisContext *conn(void)
{
    pthread_once(&conn_once, conn_key_make);
    redisContext *c = pthread_getspecific(conn_key);
    if (c)
        return c;
    const char *sock = getenv("TPR_TEST_SOCK");
    if (!sock)
        return NULL;
    c = redisConnectUnix(sock);
    if (!c || c->err) {
        if (c)
            redisFree(c);
        return NULL;
    }
    pthread_setspecific(conn_key, c);
    return c;
}

/* Runs a command of up to 4 string arguments; returns its reply. */
static redisReply *cmd(const char *a0, const char *a1, const char *a2,
                       const char *a3)
{
    redisContext *c = conn();
    if (!c)
        return NULL;
    const char *argv[4] = {a0, a1, a2, a3};
    size_t lens[4];
    int argc = a3 ? 4 : a2 ? 3 : a1 ? 2 : 1;
    for (int i = 0; i < argc; i++)
        lens[i] = strlen(argv[i]);
    redisReply *r = redisCommandArgv(c, argc, argv, lens);
    if (!r) { /* the server went away: reconnect next time */
        pthread_setspecific(conn_key, NULL);
        redisFree(c);
    }
    return r;
}

static void cmd_free(redisReply *r)
{
    if (r)
        freeReplyObject(r);
}

static void record(const char *what)
{
    char held[160];
    snprintf(held, sizeof held, "t:held:%s", consumer_name);
    cmd_free(cmd("HINCRBY", "t:runs", what, "1"));
    cmd_free(cmd("SADD", held, what, NULL));
    cmd_free(cmd("RPUSH", "t:order", what, NULL));
}

static int t_echo(tp_redis_call *call, void *ctx)
{
    (void)ctx;
    size_t n;
    const void *p = tp_redis_call_payload(call, &n);
    return tp_redis_call_reply(call, p, n);
}

static int t_fail(tp_redis_call *call, void *ctx)
{
    (void)call;
    (void)ctx;
    return 42;
}

static int t_noop(tp_redis_call *call, void *ctx)
{
    (void)call;
    (void)ctx;
    return 0;
}

/* Replies with as many bytes as the payload's decimal number says. */
static int t_big(tp_redis_call *call, void *ctx)
{
    (void)ctx;
    size_t n = (size_t)strtoul(tp_redis_call_payload(call, NULL), NULL, 10);
    char *buf = calloc(n ? n : 1, 1);
    if (!buf)
        return 12;
    int rc = tp_redis_call_reply(call, buf, n);
    free(buf);
    return rc;
}

/* Records its run; on a worker started with TPR_TEST_STALL=1 it then holds
 * its task until the process is killed. */
static int t_record(tp_redis_call *call, void *ctx)
{
    (void)ctx;
    const char *what = tp_redis_call_payload(call, NULL);
    record(what);
    if (getenv("TPR_TEST_STALL"))
        for (;;)
            pause(); /* signals are blocked in the worker: ends at SIGKILL */
    return tp_redis_call_reply(call, what, strlen(what));
}

/* Records its run, then waits (BLPOP, at most 30 s) for a token on the
 * list t:go:PAYLOAD. */
static int t_gate(tp_redis_call *call, void *ctx)
{
    (void)ctx;
    const char *what = tp_redis_call_payload(call, NULL);
    char list[160];
    snprintf(list, sizeof list, "t:go:%s", what);
    record(what);
    redisReply *r = cmd("BLPOP", list, "30", NULL);
    int ok = r && r->type == REDIS_REPLY_ARRAY;
    cmd_free(r);
    cmd_free(cmd("HINCRBY", "t:finished", what, "1"));
    if (!ok)
        return 110;
    char reply[64];
    snprintf(reply, sizeof reply, "%s by %s", what, consumer_name);
    return tp_redis_call_reply(call, reply, strlen(reply));
}

/* Records its run, then polls tp_task_stop_requested() (a stop request
 * is a flag the task must look at) for at most 20 s. */
static int t_wait_cancel(tp_redis_call *call, void *ctx)
{
    (void)ctx;
    const char *what = tp_redis_call_payload(call, NULL);
    record(what);
    for (int i = 0; i < 2000; i++) {
        if (tp_task_stop_requested()) {
            cmd_free(cmd("HINCRBY", "t:stopped", what, "1"));
            return TP_ECANCELED;
        }
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    return 1;
}

static int t_abort(tp_redis_call *call, void *ctx)
{
    (void)ctx;
    record(tp_redis_call_payload(call, NULL));
    abort();
}

int tp_redis_tasks_init(tp_redis_worker *w, int argc, char **argv)
{
    if (argc > 0)
        consumer_name = argv[0];
    static const struct {
        const char *name;
        tp_redis_task_fn fn;
    } tasks[] = {{"echo", t_echo},     {"fail", t_fail},
                 {"noop", t_noop},     {"big", t_big},
                 {"record", t_record}, {"gate", t_gate},
                 {"wait_cancel", t_wait_cancel}, {"abort", t_abort}};
    for (size_t i = 0; i < sizeof tasks / sizeof tasks[0]; i++) {
        int rc = tp_redis_worker_register(w, tasks[i].name, tasks[i].fn, NULL);
        if (rc != 0)
            return rc;
    }
    return 0;
}
