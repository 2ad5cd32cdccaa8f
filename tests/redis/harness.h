/*
 * harness.h - a private Redis server and worker processes for the Redis
 * module's tests.  Include check.h first.
 *
 * Each test program starts its own redis-server on a unix socket in a
 * fresh mktemp directory (--port 0: no TCP at all, --save '': no
 * snapshots), so that tests never share a server or touch a real one.
 * Without redis-server on PATH a test exits 77 (CTest: skipped).
 *
 * Waiting across processes: a test waits on futures (with timeouts) and on
 * blocking calls (waitpid) wherever it can.  Where the condition lives only
 * in another process's state in Redis (a worker has started a task, holds
 * N tasks), rh_poll() looks at it every 10 ms until it holds or a deadline
 * passes: a bounded poll of observable state, never a sleep standing in
 * for an event.
 */
#ifndef TPR_TEST_HARNESS_H
#define TPR_TEST_HARNESS_H

#include <errno.h>
#include <fcntl.h>
#include <hiredis/hiredis.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tpool_redis.h"

typedef struct rh_server {
    char dir[128];
    char sock[192];
    char url[224];
    pid_t pid;
    bool aof;
    const char *password; /* requirepass, or NULL */
} rh_server;

/* Every process a test starts, killed at exit (a failed CHECK exits):
 * no server or worker outlives its test. */
static pid_t rh_pids[64];
static size_t rh_npids;

static inline void rh_cleanup(void)
{
    for (size_t i = 0; i < rh_npids; i++)
        if (rh_pids[i] > 0) {
            kill(rh_pids[i], SIGKILL);
            (void)waitpid(rh_pids[i], NULL, 0);
        }
    rh_npids = 0;
}

static inline void rh_track(pid_t pid)
{
    if (rh_npids == 0)
        atexit(rh_cleanup);
    if (rh_npids < sizeof rh_pids / sizeof rh_pids[0])
        rh_pids[rh_npids++] = pid;
}

static inline void rh_untrack(pid_t pid)
{
    for (size_t i = 0; i < rh_npids; i++)
        if (rh_pids[i] == pid)
            rh_pids[i] = 0;
}

static inline int64_t rh_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static inline void rh_nap_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

/* Bounded poll (see the top): true once cond(ctx) holds, false after ms. */
static inline bool rh_poll(bool (*cond)(void *), void *ctx, int64_t ms)
{
    int64_t end = rh_now_ms() + ms;
    for (;;) {
        if (cond(ctx))
            return true;
        if (rh_now_ms() >= end)
            return false;
        rh_nap_ms(10);
    }
}

static inline void rh_skip_without_redis(void)
{
    if (system("command -v redis-server >/dev/null 2>&1") != 0) {
        printf("SKIP: redis-server is not installed (Debian: redis-server)\n");
        exit(77);
    }
}

static inline redisContext *rh_connect(const rh_server *s)
{
    redisContext *c = redisConnectUnix(s->sock);
    if (!c || c->err) {
        if (c)
            redisFree(c);
        return NULL;
    }
    if (s->password) {
        redisReply *r = redisCommand(c, "AUTH %s", s->password);
        if (r)
            freeReplyObject(r);
    }
    return c;
}

static inline bool rh_ready(void *arg)
{
    redisContext *c = rh_connect(arg);
    if (!c)
        return false;
    redisReply *r = redisCommand(c, "PING");
    bool ok = r && r->type == REDIS_REPLY_STATUS;
    if (r)
        freeReplyObject(r);
    redisFree(c);
    return ok;
}

/* Starts (or restarts, in the same directory) the server. */
static inline void rh_server_start(rh_server *s)
{
    if (!s->dir[0]) {
        snprintf(s->dir, sizeof s->dir, "/tmp/tpr-test-XXXXXX");
        CHECK(mkdtemp(s->dir) != NULL);
        snprintf(s->sock, sizeof s->sock, "%s/redis.sock", s->dir);
        snprintf(s->url, sizeof s->url, "unix://%s", s->sock);
    }
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        /* Dies with the test, even one killed by a sanitizer's abort. */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        char log[224];
        snprintf(log, sizeof log, "%s/redis.log", s->dir);
        char *argv[32];
        int n = 0;
        argv[n++] = "redis-server";
        argv[n++] = "--port";
        argv[n++] = "0";
        argv[n++] = "--unixsocket";
        argv[n++] = s->sock;
        argv[n++] = "--unixsocketperm";
        argv[n++] = "700";
        argv[n++] = "--save";
        argv[n++] = "";
        argv[n++] = "--dir";
        argv[n++] = s->dir;
        argv[n++] = "--logfile";
        argv[n++] = log;
        argv[n++] = "--appendonly";
        argv[n++] = s->aof ? "yes" : "no"; /* literals are char[] in C */
        argv[n++] = "--appendfsync";
        argv[n++] = "always";
        if (s->password) {
            argv[n++] = "--requirepass";
            argv[n++] = strdup(s->password); /* the child execs at once */
        }
        argv[n] = NULL;
        execvp("redis-server", argv);
        _exit(127);
    }
    s->pid = pid;
    rh_track(pid);
    if (!rh_poll(rh_ready, s, 10000)) {
        fprintf(stderr, "redis-server did not start; its log:\n");
        char cmdline[256];
        snprintf(cmdline, sizeof cmdline, "cat %s/redis.log >&2", s->dir);
        (void)system(cmdline);
        CHECK(!"redis-server started");
    }
}

/* Kills the server with sig and reaps it (the directory stays). */
static inline void rh_server_kill(rh_server *s, int sig)
{
    if (s->pid <= 0)
        return;
    kill(s->pid, sig);
    int st;
    while (waitpid(s->pid, &st, 0) < 0 && errno == EINTR) {
    }
    rh_untrack(s->pid);
    s->pid = 0;
}

static inline void rh_server_stop(rh_server *s)
{
    rh_server_kill(s, SIGKILL);
    char cmdline[192];
    snprintf(cmdline, sizeof cmdline, "rm -rf '%s'", s->dir);
    (void)system(cmdline);
}

/* An integer reply of a command (a NIL or missing value gives 0). */
static inline long long rh_int(redisContext *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    redisReply *r = redisvCommand(c, fmt, ap);
    va_end(ap);
    long long v = 0;
    if (r && r->type == REDIS_REPLY_INTEGER)
        v = r->integer;
    else if (r && r->type == REDIS_REPLY_STRING)
        v = strtoll(r->str, NULL, 10);
    if (r)
        freeReplyObject(r);
    return v;
}

/* Starts tpool-redis-worker on the test server, serving the default
 * stream, with the test tasks; `stall` sets TPR_TEST_STALL. */
static inline pid_t rh_worker_spawn(const rh_server *s, const char *consumer,
                                    int threads, int64_t reclaim_ms,
                                    bool stall)
{
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        char th[16], rc[24];
        snprintf(th, sizeof th, "%d", threads);
        snprintf(rc, sizeof rc, "%lld", (long long)reclaim_ms);
        setenv("TPR_TEST_SOCK", s->sock, 1);
        if (stall)
            setenv("TPR_TEST_STALL", "1", 1);
        if (s->password)
            setenv("TPOOL_REDIS_PASSWORD", s->password, 1);
        /* Quiet unless the test fails: the worker's lines go to a log. */
        char log[224];
        snprintf(log, sizeof log, "%s/worker-%s.log", s->dir, consumer);
        int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0600);
        if (fd >= 0) {
            dup2(fd, 2);
            close(fd);
        }
        execl(TPR_WORKER_BIN, TPR_WORKER_BIN, "--lib", TPR_TASKS_LIB, "--url",
              s->url, "--consumer", consumer, "--threads", th, "--reclaim-ms",
              rc, "--drain-ms", "5000", "--", consumer, (char *)NULL);
        _exit(127);
    }
    rh_track(pid);
    return pid;
}

/* Sends sig to a worker and, for a signal that ends it, reaps it;
 * returns its wait status. */
static inline int rh_worker_end(pid_t pid, int sig)
{
    kill(pid, sig);
    int st = 0;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {
    }
    rh_untrack(pid);
    return st;
}

#endif /* TPR_TEST_HARNESS_H */
