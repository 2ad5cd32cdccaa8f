/*
 * status_main.c - tpool-redis-status: what the workers of a namespace are
 * doing, from Redis alone.
 *
 *   tpool-redis-status [--url URL] [--ns NS] [--dead N]
 *
 * For each task stream NS:q:* (found with SCAN): its length, the consumer
 * group's pending count and (Redis 7) how many entries it has not read
 * yet, and each consumer with its pending tasks and idle
 * time (XINFO GROUPS, XINFO CONSUMERS); then the dead-letter stream's
 * length and its N latest entries (default 10) with their reasons.  The
 * password may come from TPOOL_REDIS_PASSWORD.  Exit status 0, or 1 when
 * Redis cannot be reached.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "redis_internal.h"

static redisReply *cmd(tpr_conn *c, int argc, const char **argv)
{
    size_t lens[8];
    for (int i = 0; i < argc; i++)
        lens[i] = strlen(argv[i]);
    redisReply *r = NULL;
    if (tpr_command(c, argc, argv, lens, &r) != 0)
        return NULL;
    return r;
}

/* The value of field `name` in a flat [name, value, ...] array. */
static const redisReply *field(const redisReply *r, const char *name)
{
    if (!r || r->type != REDIS_REPLY_ARRAY)
        return NULL;
    for (size_t i = 0; i + 1 < r->elements; i += 2)
        if (r->element[i]->type == REDIS_REPLY_STRING &&
            strcmp(r->element[i]->str, name) == 0)
            return r->element[i + 1];
    return NULL;
}

static long long int_of(const redisReply *r)
{
    if (!r)
        return -1;
    if (r->type == REDIS_REPLY_INTEGER)
        return r->integer;
    if (r->type == REDIS_REPLY_STRING)
        return strtoll(r->str, NULL, 10);
    return -1;
}

static void show_stream(tpr_conn *c, const char *key)
{
    const char *a1[2] = {"XLEN", key};
    redisReply *len = cmd(c, 2, a1);
    printf("stream %s: %lld entries\n", key, len ? int_of(len) : -1LL);
    if (len)
        freeReplyObject(len);
    const char *a2[3] = {"XINFO", "GROUPS", key};
    redisReply *groups = cmd(c, 3, a2);
    for (size_t g = 0; groups && groups->type == REDIS_REPLY_ARRAY &&
                       g < groups->elements;
         g++) {
        const redisReply *name = field(groups->element[g], "name");
        if (!name || name->type != REDIS_REPLY_STRING)
            continue;
        printf("  group %s: %lld pending, %lld consumers", name->str,
               int_of(field(groups->element[g], "pending")),
               int_of(field(groups->element[g], "consumers")));
        /* Not read yet (Redis 7's lag; unknown after unread entries were
         * deleted).  The stream's length also counts entries done but not
         * yet trimmed. */
        long long lag = int_of(field(groups->element[g], "lag"));
        if (lag >= 0)
            printf(", %lld unread", lag);
        printf("\n");
        const char *a3[4] = {"XINFO", "CONSUMERS", key, name->str};
        redisReply *cons = cmd(c, 4, a3);
        for (size_t k = 0; cons && cons->type == REDIS_REPLY_ARRAY &&
                           k < cons->elements;
             k++) {
            const redisReply *cn = field(cons->element[k], "name");
            if (!cn || cn->type != REDIS_REPLY_STRING)
                continue;
            printf("    consumer %s: %lld pending, idle %lld ms\n", cn->str,
                   int_of(field(cons->element[k], "pending")),
                   int_of(field(cons->element[k], "idle")));
        }
        if (cons)
            freeReplyObject(cons);
    }
    if (groups)
        freeReplyObject(groups);
}

static void show_dead(tpr_conn *c, const char *key, const char *count)
{
    const char *a1[2] = {"XLEN", key};
    redisReply *len = cmd(c, 2, a1);
    printf("dead letters %s: %lld\n", key, len ? int_of(len) : -1LL);
    if (len)
        freeReplyObject(len);
    const char *a2[6] = {"XREVRANGE", key, "+", "-", "COUNT", count};
    redisReply *list = cmd(c, 6, a2);
    for (size_t i = 0; list && list->type == REDIS_REPLY_ARRAY &&
                       i < list->elements;
         i++) {
        tpr_bytes id;
        const redisReply *fields;
        if (tpr_entry_split(list->element[i], &id, &fields) != 0)
            continue;
        const redisReply *why = field(fields, "why");
        const redisReply *fn = field(fields, "fn");
        const redisReply *tid = field(fields, "id");
        printf("  %.*s task %s fn %s deliveries %lld: %s\n", (int)id.n, id.p,
               tid && tid->type == REDIS_REPLY_STRING ? tid->str : "?",
               fn && fn->type == REDIS_REPLY_STRING ? fn->str : "?",
               int_of(field(fields, "n")),
               why && why->type == REDIS_REPLY_STRING ? why->str : "?");
    }
    if (list)
        freeReplyObject(list);
}

int main(int argc, char **argv)
{
    signal(SIGPIPE, SIG_IGN);
    tp_redis_conn_opts opts = {0};
    const char *dead = "10";
    for (int i = 1; i < argc; i++) {
        if (i + 1 < argc && strcmp(argv[i], "--url") == 0) {
            opts.url = argv[++i];
        } else if (i + 1 < argc && strcmp(argv[i], "--ns") == 0) {
            opts.ns = argv[++i];
        } else if (i + 1 < argc && strcmp(argv[i], "--dead") == 0) {
            dead = argv[++i];
        } else {
            fprintf(stderr,
                    "usage: tpool-redis-status [--url URL] [--ns NS] [--dead N]\n");
            return 2;
        }
    }
    opts.password = getenv("TPOOL_REDIS_PASSWORD");
    tpr_endpoint ep;
    int rc = tpr_endpoint_init(&ep, &opts);
    if (rc != 0) {
        fprintf(stderr, "tpool-redis-status: %s\n", tp_redis_strerror(rc));
        return 2;
    }
    tpr_conn c;
    if (tpr_conn_init(&c) != 0 || (rc = tpr_conn_ensure(&c, &ep, 5000)) != 0) {
        fprintf(stderr, "tpool-redis-status: %s\n", tp_redis_strerror(rc));
        tpr_endpoint_free(&ep);
        return 1;
    }
    char *pattern = tpr_concat3(ep.ns, ":q:*", "");
    char cursor[32] = "0";
    do {
        const char *a[8] = {"SCAN", cursor, "MATCH", pattern, "COUNT", "100",
                            "TYPE", "stream"};
        redisReply *r = pattern ? cmd(&c, 8, a) : NULL;
        if (!r || r->type != REDIS_REPLY_ARRAY || r->elements != 2) {
            if (r)
                freeReplyObject(r);
            break;
        }
        snprintf(cursor, sizeof cursor, "%s", r->element[0]->str);
        for (size_t i = 0; i < r->element[1]->elements; i++)
            show_stream(&c, r->element[1]->element[i]->str);
        freeReplyObject(r);
    } while (strcmp(cursor, "0") != 0);
    char *dead_key = tpr_concat3(ep.ns, ":dead", "");
    if (dead_key)
        show_dead(&c, dead_key, dead);
    free(dead_key);
    free(pattern);
    tpr_conn_destroy(&c);
    tpr_endpoint_free(&ep);
    return 0;
}
