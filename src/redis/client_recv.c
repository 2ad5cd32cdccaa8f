/*
 * client_recv.c - the receiver thread: the reply stream to settled
 * promises.
 *
 * The receiver reads the client's reply stream with a blocking XREAD from
 * the last id it has seen (so replies written while it was disconnected
 * are read after the reconnect), trims what it has read (XTRIM MINID,
 * pipelined before a read, every TRIM_EVERY entries and when the stream
 * has gone quiet), takes each reply's record out of the task map and
 * settles the promise.  A reply whose record is not there
 * (already settled: a repeat after a reclaim, or a task of an earlier life
 * of this client id) is dropped and counted.  Done-callbacks and
 * continuations of remote futures so run on this thread.
 *
 * Ownership: a reply object is created here and becomes the future's
 * result (on the client's list until freed); if the future was cancelled
 * meanwhile nobody can see it and it is freed at once.  recv_conn is the
 * receiver's alone.  Locks: c->mu to take the record and list the reply,
 * released before settling.
 */
#include "client_internal.h"

#include <stdlib.h>
#include <string.h>

/* Trimming what was read costs Redis a walk of the stream's head: once per
 * TRIM_EVERY entries, and when the stream has gone quiet. */
#define TRIM_EVERY 256

/* ---- the receiver ------------------------------------------------------- */

/* Settles the task of one reply entry. */
static void settle_one(tp_redis_client *c, const redisReply *fields)
{
    tpr_reply_msg m;
    uint64_t fid = 0;
    if (tpr_reply_decode(fields, &m) == 0)
        fid = tpr_task_seq(m.id, c->id);
    tp_redis_reply *rep = NULL;
    if (fid && m.status == 0 && m.payload.n <= c->max_reply) {
        rep = malloc(sizeof *rep + m.payload.n + 1);
        if (rep) {
            rep->c = c;
            rep->len = m.payload.n;
            if (m.payload.n)
                memcpy(rep->data, m.payload.p, m.payload.n);
            rep->data[m.payload.n] = 0;
        }
    }
    pthread_mutex_lock(&c->mu);
    rec *r = fid ? tpr_map_take(&c->table, fid) : NULL;
    if (!r) {
        c->stats.replies_dropped++;
        pthread_mutex_unlock(&c->mu);
        free(rep);
        return;
    }
    r->in_table = false;
    tp_future *f = r->f;
    if (!r->in_outbox)
        tpr_rec_free(r);
    if (rep) {
        rep->prev = NULL;
        rep->next = c->replies;
        if (c->replies)
            c->replies->prev = rep;
        c->replies = rep;
    }
    c->stats.settled++;
    pthread_mutex_unlock(&c->mu);

    int rc;
    if (m.status == 0 && m.payload.n > c->max_reply)
        rc = tp_promise_fail(f, TP_REDIS_ETOOBIG);
    else if (m.status == 0 && !rep)
        rc = tp_promise_fail(f, TP_ENOMEM);
    else if (m.status == 0)
        rc = tp_promise_complete(f, rep);
    else
        rc = tp_promise_fail(f, m.status);
    if (rc != 0 && rep) /* cancelled meanwhile: nobody will see rep */
        tp_redis_reply_free(rep);
    tp_future_release(f);
}

void *tpr_receiver_main(void *arg)
{
    tp_redis_client *c = arg;
    tpr_sigpipe sp;
    tpr_sigpipe_block(&sp); /* for the thread's whole life */
    char last[72] = "0-0";
    size_t untrimmed = 0; /* entries read since the last trim */
    bool idle = false;    /* the last read found nothing */
    for (;;) {
        pthread_mutex_lock(&c->mu);
        bool stop = c->stopping;
        pthread_mutex_unlock(&c->mu);
        if (stop)
            break;
        bool reconnected;
        if (!tpr_client_ensure_up(c, &c->recv_conn, &c->receiver_up,
                                  &c->recv_cv, RECV_TIMEOUT_MS, &reconnected))
            break;
        tpr_conn *conn = &c->recv_conn;
        int rc = 0;
        bool trim = untrimmed >= TRIM_EVERY || (untrimmed > 0 && idle);
        if (trim) {
            const char *argv[4] = {"XTRIM", c->reply_key, "MINID", last};
            size_t lens[4];
            for (int k = 0; k < 4; k++)
                lens[k] = strlen(argv[k]);
            rc = tpr_append(conn, 4, argv, lens);
        }
        const char *argv[8] = {"XREAD", "COUNT", READ_BATCH, "BLOCK",
                               READ_BLOCK_MS, "STREAMS", c->reply_key, last};
        size_t lens[8];
        for (int k = 0; k < 8; k++)
            lens[k] = strlen(argv[k]);
        if (rc == 0)
            rc = tpr_append(conn, 8, argv, lens);
        redisReply *rep = NULL;
        if (rc == 0 && trim) {
            rc = tpr_get_reply(conn, &rep);
            if (rc == 0)
                freeReplyObject(rep);
            untrimmed = 0;
        }
        if (rc == 0)
            rc = tpr_get_reply(conn, &rep);
        if (rc != 0) {
            atomic_store(&c->receiver_up, false);
            pthread_mutex_lock(&c->mu);
            c->stats.reconnects++;
            pthread_mutex_unlock(&c->mu);
            continue;
        }
        /* [[key, [[id, [fields]], ...]]], or NIL on timeout. */
        idle = true;
        if (rep->type == REDIS_REPLY_ARRAY && rep->elements == 1 &&
            rep->element[0]->type == REDIS_REPLY_ARRAY &&
            rep->element[0]->elements == 2 &&
            rep->element[0]->element[1]->type == REDIS_REPLY_ARRAY) {
            const redisReply *list = rep->element[0]->element[1];
            for (size_t i = 0; i < list->elements; i++) {
                tpr_bytes id;
                const redisReply *fields;
                int src = tpr_entry_split(list->element[i], &id, &fields);
                if (id.n > 0 && id.n < sizeof last) {
                    memcpy(last, id.p, id.n);
                    last[id.n] = 0;
                    untrimmed++;
                    idle = false;
                }
                if (src == 0)
                    settle_one(c, fields);
            }
        }
        freeReplyObject(rep);
    }
    tpr_conn_close(&c->recv_conn);
    return NULL;
}

