/*
 * conn.c - reaching Redis: endpoints parsed from URLs, connections that log
 * in (AUTH, SELECT) and check themselves (PING), commands and pipelines,
 * and the small helpers every thread of the module needs (names, clocks,
 * backoff).
 *
 * A connection (tpr_conn) belongs to one thread, which alone issues
 * commands on it.  The one thing another thread may do is interrupt it:
 * the owner publishes its socket under fd_mu, and tpr_conn_interrupt()
 * shuts that socket down, so that a read blocked in XREAD or XREADGROUP
 * returns an error at once; the flag it sets makes every later reconnect
 * refuse, so the owner cannot slip back into a blocking read.  The socket
 * is only closed (redisFree) under fd_mu, so the interrupt never touches a
 * descriptor number that has been reused.
 *
 * Every I/O error closes the connection: hiredis leaves a context in an
 * unusable state after one, and the caller's answer is always the same
 * (reconnect with backoff, then resend what was not confirmed).
 */
#include "redis_internal.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

/* ---- small helpers ----------------------------------------------------- */

char *tpr_strdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d)
        memcpy(d, s, n);
    return d;
}

char *tpr_concat3(const char *a, const char *b, const char *c)
{
    size_t na = strlen(a), nb = strlen(b), nc = strlen(c);
    char *d = malloc(na + nb + nc + 1);
    if (!d)
        return NULL;
    memcpy(d, a, na);
    memcpy(d + na, b, nb);
    memcpy(d + na + nb, c, nc + 1);
    return d;
}

bool tpr_name_ok(const char *s, size_t max, const char *extra)
{
    if (!s)
        return false;
    size_t n = strlen(s);
    if (n == 0 || n > max)
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                  (ch >= '0' && ch <= '9') || ch == '_' || ch == '-' ||
                  ch == '.' || (extra && ch != 0 && strchr(extra, ch));
        if (!ok)
            return false;
    }
    return true;
}

void tpr_default_name(char *buf, size_t size)
{
    char host[TPR_NAME_MAX + 1] = "host";
    if (gethostname(host, sizeof host) != 0)
        strcpy(host, "host");
    host[sizeof host - 1] = 0;
    /* Keep only the characters a name may have, and room for the rest. */
    size_t j = 0;
    for (size_t i = 0; host[i] && j < 32; i++) {
        char ch = host[i];
        if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
            (ch >= '0' && ch <= '9') || ch == '-' || ch == '_')
            host[j++] = ch;
    }
    host[j] = 0;
    if (j == 0)
        strcpy(host, "host");
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    unsigned long r = (unsigned long)ts.tv_nsec ^
                      ((unsigned long)ts.tv_sec << 20) ^
                      ((unsigned long)getpid() << 7);
    r = (r * 2654435761UL) & 0xffffffUL;
    snprintf(buf, size, "%s-%ld-%06lx", host, (long)getpid(), r);
}

void tpr_sigpipe_block(tpr_sigpipe *s)
{
    sigset_t pipe, pending;
    sigemptyset(&pipe);
    sigaddset(&pipe, SIGPIPE);
    sigemptyset(&pending);
    s->was_pending = sigpending(&pending) == 0 &&
                     sigismember(&pending, SIGPIPE) == 1;
    pthread_sigmask(SIG_BLOCK, &pipe, &s->old);
}

void tpr_sigpipe_restore(const tpr_sigpipe *s)
{
    if (sigismember(&s->old, SIGPIPE) == 1)
        return; /* the caller blocks it anyway: leave it as it was */
    sigset_t pipe, pending;
    sigemptyset(&pipe);
    sigaddset(&pipe, SIGPIPE);
    sigemptyset(&pending);
    if (!s->was_pending && sigpending(&pending) == 0 &&
        sigismember(&pending, SIGPIPE) == 1) {
        /* Ours: take it before it can be delivered. */
        struct timespec zero = {0, 0};
        while (sigtimedwait(&pipe, NULL, &zero) < 0 && errno == EINTR) {
        }
    }
    pthread_sigmask(SIG_SETMASK, &s->old, NULL);
}

int64_t tpr_wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t tpr_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void tpr_deadline_ts(int64_t ms_from_now, struct timespec *ts)
{
    clock_gettime(CLOCK_MONOTONIC, ts);
    if (ms_from_now < 0)
        ms_from_now = 0;
    ts->tv_sec += (time_t)(ms_from_now / 1000);
    ts->tv_nsec += (long)(ms_from_now % 1000) * 1000000L;
    if (ts->tv_nsec >= 1000000000L) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000L;
    }
}

int tpr_cond_init(pthread_cond_t *cv)
{
    pthread_condattr_t attr;
    if (pthread_condattr_init(&attr) != 0)
        return TP_ENOMEM;
    int rc = pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    if (rc == 0)
        rc = pthread_cond_init(cv, &attr);
    pthread_condattr_destroy(&attr);
    return rc == 0 ? 0 : TP_ENOMEM;
}

int64_t tpr_backoff_next(int64_t prev_ms)
{
    if (prev_ms <= 0)
        return 100;
    return prev_ms >= 2500 ? 5000 : prev_ms * 2;
}

int tpr_parse_i64(const char *p, size_t n, int64_t *v)
{
    if (!p || n == 0 || n > 20)
        return -1;
    size_t i = 0;
    bool neg = false;
    if (p[0] == '-') {
        neg = true;
        i = 1;
        if (n == 1)
            return -1;
    }
    int64_t x = 0;
    for (; i < n; i++) {
        if (p[i] < '0' || p[i] > '9')
            return -1;
        int d = p[i] - '0';
        if (x > (INT64_MAX - d) / 10)
            return -1;
        x = x * 10 + d;
    }
    *v = neg ? -x : x;
    return 0;
}

/* ---- endpoints --------------------------------------------------------- */

static int hexval(char ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    if (ch >= 'a' && ch <= 'f')
        return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F')
        return ch - 'A' + 10;
    return -1;
}

/* A copy of p[0..n) with %XX decoded; NULL (and *err) on a bad escape or
 * no memory. */
static char *decode_part(const char *p, size_t n, int *err)
{
    char *d = malloc(n + 1);
    if (!d) {
        *err = TP_ENOMEM;
        return NULL;
    }
    size_t j = 0;
    for (size_t i = 0; i < n; i++) {
        if (p[i] == '%') {
            if (i + 2 >= n) {
                free(d);
                *err = TP_EINVAL;
                return NULL;
            }
            int a = hexval(p[i + 1]), b = hexval(p[i + 2]);
            if (a < 0 || b < 0 || (a == 0 && b == 0)) {
                free(d);
                *err = TP_EINVAL;
                return NULL;
            }
            d[j++] = (char)(a * 16 + b);
            i += 2;
        } else {
            d[j++] = p[i];
        }
    }
    d[j] = 0;
    return d;
}

static int parse_int(const char *p, size_t n, int lo, int hi, int *out)
{
    int64_t v;
    if (tpr_parse_i64(p, n, &v) != 0 || v < lo || v > hi)
        return TP_EINVAL;
    *out = (int)v;
    return 0;
}

/* Parses url into ep (host/port/path/user/password/db). */
static int parse_url(tpr_endpoint *ep, const char *url)
{
    bool is_unix;
    const char *rest;
    if (strncmp(url, "redis://", 8) == 0) {
        is_unix = false;
        rest = url + 8;
    } else if (strncmp(url, "unix://", 7) == 0) {
        is_unix = true;
        rest = url + 7;
    } else {
        return TP_EINVAL;
    }
    int err = 0;
    /* The user information ends at the last '@' (a literal '@' in a
     * password must be written %40). */
    const char *at = strrchr(rest, '@');
    if (at) {
        const char *colon = memchr(rest, ':', (size_t)(at - rest));
        if (!colon)
            return TP_EINVAL; /* "user@" alone: a password is needed */
        if (colon > rest) {
            ep->user = decode_part(rest, (size_t)(colon - rest), &err);
            if (!ep->user)
                return err;
        }
        ep->password = decode_part(colon + 1, (size_t)(at - colon - 1), &err);
        if (!ep->password)
            return err;
        if (ep->password[0] == 0)
            return TP_EINVAL;
        rest = at + 1;
    }
    if (is_unix) {
        const char *q = strchr(rest, '?');
        size_t n = q ? (size_t)(q - rest) : strlen(rest);
        if (n == 0 || rest[0] != '/')
            return TP_EINVAL;
        ep->path = decode_part(rest, n, &err);
        if (!ep->path)
            return err;
        if (q) {
            if (strncmp(q, "?db=", 4) != 0)
                return TP_EINVAL;
            return parse_int(q + 4, strlen(q + 4), 0, 1 << 20, &ep->db);
        }
        return 0;
    }
    const char *slash = strchr(rest, '/');
    size_t hostport = slash ? (size_t)(slash - rest) : strlen(rest);
    const char *colon = memchr(rest, ':', hostport);
    size_t hostlen = colon ? (size_t)(colon - rest) : hostport;
    if (hostlen == 0 || hostlen > 255)
        return TP_EINVAL;
    ep->host = malloc(hostlen + 1);
    if (!ep->host)
        return TP_ENOMEM;
    memcpy(ep->host, rest, hostlen);
    ep->host[hostlen] = 0;
    ep->port = 6379;
    if (colon) {
        int rc = parse_int(colon + 1, hostport - hostlen - 1, 1, 65535,
                           &ep->port);
        if (rc != 0)
            return rc;
    }
    if (slash && slash[1] != 0)
        return parse_int(slash + 1, strlen(slash + 1), 0, 1 << 20, &ep->db);
    return 0;
}

void tpr_endpoint_free(tpr_endpoint *ep)
{
    free(ep->host);
    free(ep->path);
    free(ep->user);
    if (ep->password) {
        /* Do not leave the secret in freed memory. */
        volatile char *p = ep->password;
        while (*p)
            *p++ = 0;
    }
    free(ep->password);
    free(ep->ns);
    memset(ep, 0, sizeof *ep);
}

int tpr_endpoint_init(tpr_endpoint *ep, const tp_redis_conn_opts *opts)
{
    memset(ep, 0, sizeof *ep);
    const char *url = opts->url ? opts->url : "redis://127.0.0.1:6379";
    const char *ns = opts->ns ? opts->ns : "tp";
    if (!tpr_name_ok(ns, TPR_NAME_MAX, ":") || opts->connect_timeout_ms < 0)
        return TP_EINVAL;
    int rc = parse_url(ep, url);
    if (rc == 0 && opts->user) {
        free(ep->user);
        ep->user = tpr_strdup(opts->user);
        if (!ep->user)
            rc = TP_ENOMEM;
    }
    if (rc == 0 && opts->password) {
        free(ep->password);
        ep->password = tpr_strdup(opts->password);
        if (!ep->password)
            rc = TP_ENOMEM;
    }
    if (rc == 0 && ep->user && !ep->password)
        rc = TP_EINVAL;
    if (rc == 0) {
        ep->ns = tpr_strdup(ns);
        if (!ep->ns)
            rc = TP_ENOMEM;
    }
    ep->connect_timeout_ms =
        opts->connect_timeout_ms > 0 ? opts->connect_timeout_ms : 2000;
    if (rc != 0)
        tpr_endpoint_free(ep);
    return rc;
}

/* ---- connecting -------------------------------------------------------- */

bool tpr_is_error(const redisReply *r)
{
    return r && r->type == REDIS_REPLY_ERROR;
}

bool tpr_error_is(const redisReply *r, const char *prefix)
{
    size_t n = strlen(prefix);
    return tpr_is_error(r) && r->str && r->len >= n &&
           memcmp(r->str, prefix, n) == 0;
}

static struct timeval tv_of_ms(int ms)
{
    struct timeval tv;
    tv.tv_sec = ms / 1000;
    tv.tv_usec = (ms % 1000) * 1000;
    return tv;
}

/* One command on a bare context during the login: 0, TP_REDIS_EDOWN, or
 * `refused` for an error reply. */
static int login_cmd(redisContext *ctx, int argc, const char **argv,
                     int refused)
{
    size_t lens[3];
    for (int i = 0; i < argc; i++)
        lens[i] = strlen(argv[i]);
    redisReply *r = redisCommandArgv(ctx, argc, argv, lens);
    if (!r)
        return TP_REDIS_EDOWN;
    int rc = 0;
    if (tpr_is_error(r))
        rc = (tpr_error_is(r, "NOAUTH") || tpr_error_is(r, "WRONGPASS") ||
              tpr_error_is(r, "NOPERM") || tpr_error_is(r, "ERR AUTH") ||
              tpr_error_is(r, "ERR invalid password") ||
              tpr_error_is(r, "ERR Client sent AUTH"))
                 ? TP_REDIS_EAUTH
                 : refused;
    freeReplyObject(r);
    return rc;
}

int tpr_connect(const tpr_endpoint *ep, int cmd_timeout_ms, redisContext **out)
{
    struct timeval tv = tv_of_ms(ep->connect_timeout_ms);
    redisContext *ctx = ep->path ? redisConnectUnixWithTimeout(ep->path, tv)
                                 : redisConnectWithTimeout(ep->host, ep->port,
                                                           tv);
    if (!ctx)
        return TP_ENOMEM;
    int rc = 0;
    if (ctx->err)
        rc = TP_REDIS_EDOWN;
    /* The login itself must not hang on a server that accepts and says
     * nothing. */
    if (rc == 0 && redisSetTimeout(ctx, tv) != REDIS_OK)
        rc = TP_REDIS_EDOWN;
    if (rc == 0 && !ep->path)
        (void)redisEnableKeepAlive(ctx);
    if (rc == 0 && ep->password) {
        const char *argv[3] = {"AUTH", ep->user ? ep->user : ep->password,
                               ep->password};
        rc = login_cmd(ctx, ep->user ? 3 : 2, argv, TP_REDIS_EAUTH);
    }
    if (rc == 0 && ep->db != 0) {
        char db[16];
        snprintf(db, sizeof db, "%d", ep->db);
        const char *argv[2] = {"SELECT", db};
        rc = login_cmd(ctx, 2, argv, TP_REDIS_EAUTH);
    }
    if (rc == 0) {
        const char *argv[1] = {"PING"};
        rc = login_cmd(ctx, 1, argv, TP_REDIS_ESERVER);
    }
    if (rc == 0) {
        struct timeval none = {0, 0};
        if (redisSetTimeout(ctx, cmd_timeout_ms > 0 ? tv_of_ms(cmd_timeout_ms)
                                                    : none) != REDIS_OK)
            rc = TP_REDIS_EDOWN;
    }
    if (rc != 0) {
        redisFree(ctx);
        return rc;
    }
    *out = ctx;
    return 0;
}

/* ---- interruptible connections ----------------------------------------- */

int tpr_conn_init(tpr_conn *c)
{
    c->ctx = NULL;
    c->fd = -1;
    c->interrupted = false;
    return pthread_mutex_init(&c->fd_mu, NULL) == 0 ? 0 : TP_ENOMEM;
}

void tpr_conn_destroy(tpr_conn *c)
{
    tpr_conn_close(c);
    pthread_mutex_destroy(&c->fd_mu);
}

int tpr_conn_ensure(tpr_conn *c, const tpr_endpoint *ep, int cmd_timeout_ms)
{
    if (c->ctx)
        return 0;
    pthread_mutex_lock(&c->fd_mu);
    bool stop = c->interrupted;
    pthread_mutex_unlock(&c->fd_mu);
    if (stop)
        return TP_ESHUTDOWN;
    redisContext *ctx;
    int rc = tpr_connect(ep, cmd_timeout_ms, &ctx);
    if (rc != 0)
        return rc;
    pthread_mutex_lock(&c->fd_mu);
    stop = c->interrupted;
    if (!stop) {
        c->ctx = ctx;
        c->fd = ctx->fd;
    }
    pthread_mutex_unlock(&c->fd_mu);
    if (stop) {
        redisFree(ctx);
        return TP_ESHUTDOWN;
    }
    return 0;
}

void tpr_conn_close(tpr_conn *c)
{
    if (!c->ctx)
        return;
    pthread_mutex_lock(&c->fd_mu);
    redisFree(c->ctx);
    c->ctx = NULL;
    c->fd = -1;
    pthread_mutex_unlock(&c->fd_mu);
}

void tpr_conn_interrupt(tpr_conn *c)
{
    pthread_mutex_lock(&c->fd_mu);
    c->interrupted = true;
    if (c->fd >= 0)
        (void)shutdown(c->fd, SHUT_RDWR);
    pthread_mutex_unlock(&c->fd_mu);
}

int tpr_command(tpr_conn *c, int argc, const char **argv, const size_t *lens,
                redisReply **reply)
{
    int rc = tpr_append(c, argc, argv, lens);
    return rc == 0 ? tpr_get_reply(c, reply) : rc;
}

int tpr_append(tpr_conn *c, int argc, const char **argv, const size_t *lens)
{
    if (!c->ctx)
        return TP_REDIS_EDOWN;
    if (redisAppendCommandArgv(c->ctx, argc, argv, lens) != REDIS_OK) {
        tpr_conn_close(c);
        return TP_REDIS_EDOWN;
    }
    return 0;
}

int tpr_get_reply(tpr_conn *c, redisReply **reply)
{
    void *r = NULL;
    if (!c->ctx || redisGetReply(c->ctx, &r) != REDIS_OK || !r) {
        if (r)
            freeReplyObject(r);
        tpr_conn_close(c);
        return TP_REDIS_EDOWN;
    }
    *reply = r;
    return 0;
}

int tpr_ensure_group(tpr_conn *c, const char *key, const char *group)
{
    const char *argv[6] = {"XGROUP", "CREATE", key, group, "0", "MKSTREAM"};
    size_t lens[6];
    for (int i = 0; i < 6; i++)
        lens[i] = strlen(argv[i]);
    redisReply *r;
    int rc = tpr_command(c, 6, argv, lens, &r);
    if (rc != 0)
        return rc;
    if (tpr_is_error(r) && !tpr_error_is(r, "BUSYGROUP"))
        rc = TP_REDIS_ESERVER;
    freeReplyObject(r);
    return rc;
}
