/*
 * client_send.c - the sender thread: the outbox to Redis, in pipelines.
 *
 * The sender takes up to SEND_BATCH records off the outbox, writes them
 * with one pipeline (XGROUP CREATE for a stream it has not seen on this
 * connection, then one XADD per task, then the cancel markers), and reads
 * the answers.  A record leaves the outbox for good only when Redis has
 * answered its XADD; after an I/O error every unanswered record goes back
 * to the front of the outbox and is sent again after the reconnect.  So
 * nothing accepted is lost, and a task whose answer was lost on the way
 * may be written twice (it is at-least-once anyway; its future settles
 * once).  A record cancelled before it was sent is not sent at all.
 *
 * Ownership: the records of a batch are the sender's (in_outbox) until
 * their XADD is answered; send_conn is the sender's alone.  Locks: c->mu
 * to take a batch, to requeue and to mark each record written, never
 * during I/O nor while failing a future.
 */
#include "client_internal.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct send_batch {
    rec *recs[SEND_BATCH];
    size_t n;
    cancel_op *cancels;
} send_batch;

/* Puts back, at the front of the outbox, the records from index `from`,
 * and every cancel marker.  Under mu. */
static void requeue(tp_redis_client *c, send_batch *b, size_t from)
{
    for (size_t i = b->n; i-- > from;) {
        rec *r = b->recs[i];
        r->next = c->out_head;
        c->out_head = r;
        if (!c->out_tail)
            c->out_tail = r;
    }
    while (b->cancels) {
        cancel_op *op = b->cancels;
        b->cancels = op->next;
        op->next = c->cancels;
        c->cancels = op;
    }
}

/* A record done with the outbox: written (ok) or refused by Redis.  Under
 * mu.  Returns the future to fail (refused while still in the map). */
static tp_future *outbox_done(tp_redis_client *c, rec *r, bool ok)
{
    tp_future *fail = NULL;
    r->in_outbox = false;
    tpr_rec_free_args(r);
    c->queued--;
    if (ok) {
        c->stats.written++;
    } else if (r->in_table) {
        tpr_map_take(&c->table, r->fid);
        r->in_table = false;
        fail = r->f;
    }
    if (!r->in_table)
        tpr_rec_free(r);
    return fail;
}

/* Writes one batch; returns 0, or TP_REDIS_EDOWN after requeueing what was
 * not answered. */
static int send_batch_write(tp_redis_client *c, send_batch *b, bool *known,
                            size_t nknown)
{
    tpr_conn *conn = &c->send_conn;
    int rc = 0;
    size_t groups = 0;
    size_t group_of[SEND_BATCH];
    /* Stream keys may grow under mu while we write; a copy of the pointers
     * we use is taken under mu by the caller (they never move: the array
     * of pointers may be reallocated, the strings are not). */
    for (size_t i = 0; i < b->n && rc == 0; i++) {
        rec *r = b->recs[i];
        const char *key;
        pthread_mutex_lock(&c->mu);
        key = c->streams[r->stream];
        pthread_mutex_unlock(&c->mu);
        if (r->stream < nknown && !known[r->stream]) {
            known[r->stream] = true;
            const char *argv[6] = {"XGROUP", "CREATE", key, c->ep.ns, "0",
                                   "MKSTREAM"};
            size_t lens[6];
            for (int k = 0; k < 6; k++)
                lens[k] = strlen(argv[k]);
            rc = tpr_append(conn, 6, argv, lens);
            group_of[groups++] = i;
        }
        char tid[TPR_TASKID_MAX + 1], dl[24], ma[12];
        tpr_task_id(c, r->fid, tid, sizeof tid);
        snprintf(dl, sizeof dl, "%" PRId64, r->deadline);
        snprintf(ma, sizeof ma, "%u", r->max_attempts);
        const char *argv[17] = {"XADD", key, "*", "v", "1", "id", tid, "fn",
                                r->fn, "p", r->payload, "r", c->reply_key,
                                "dl", dl, "ma", ma};
        size_t lens[17];
        for (int k = 0; k < 17; k++)
            lens[k] = strlen(argv[k]);
        lens[10] = r->len;
        if (rc == 0)
            rc = tpr_append(conn, 17, argv, lens);
    }
    size_t ncancel = 0;
    for (cancel_op *op = b->cancels; op && rc == 0; op = op->next) {
        char tid[TPR_TASKID_MAX + 1], key[TPR_KEY_MAX + TPR_TASKID_MAX];
        tpr_task_id(c, op->fid, tid, sizeof tid);
        snprintf(key, sizeof key, "%s:x:%s", c->ep.ns, tid);
        const char *argv[5] = {"SET", key, "1", "PX", CANCEL_TTL_MS};
        size_t lens[5];
        for (int k = 0; k < 5; k++)
            lens[k] = strlen(argv[k]);
        rc = tpr_append(conn, 5, argv, lens);
        ncancel++;
    }
    if (rc != 0)
        goto down;

    /* The answers, in order: a group creation precedes the XADD it was
     * made for. */
    size_t g = 0;
    for (size_t i = 0; i < b->n; i++) {
        redisReply *rep;
        if (g < groups && group_of[g] == i) {
            if (tpr_get_reply(conn, &rep) != 0) {
                rc = TP_REDIS_EDOWN;
                pthread_mutex_lock(&c->mu);
                requeue(c, b, i);
                pthread_mutex_unlock(&c->mu);
                return rc;
            }
            freeReplyObject(rep);
            g++;
        }
        if (tpr_get_reply(conn, &rep) != 0) {
            pthread_mutex_lock(&c->mu);
            requeue(c, b, i);
            pthread_mutex_unlock(&c->mu);
            return TP_REDIS_EDOWN;
        }
        bool ok = rep->type == REDIS_REPLY_STRING;
        freeReplyObject(rep);
        pthread_mutex_lock(&c->mu);
        tp_future *fail = outbox_done(c, b->recs[i], ok);
        if (c->queued == 0)
            pthread_cond_broadcast(&c->flush_cv);
        pthread_mutex_unlock(&c->mu);
        if (fail) {
            tp_promise_fail(fail, TP_REDIS_ESERVER);
            tp_future_release(fail);
        }
    }
    b->n = 0;
    for (size_t i = 0; i < ncancel; i++) {
        redisReply *rep;
        if (tpr_get_reply(conn, &rep) != 0)
            goto down;
        freeReplyObject(rep);
    }
    while (b->cancels) {
        cancel_op *op = b->cancels;
        b->cancels = op->next;
        free(op);
    }
    return 0;
down:
    pthread_mutex_lock(&c->mu);
    requeue(c, b, 0);
    pthread_mutex_unlock(&c->mu);
    b->n = 0;
    return TP_REDIS_EDOWN;
}

void *tpr_sender_main(void *arg)
{
    tp_redis_client *c = arg;
    tpr_sigpipe sp;
    tpr_sigpipe_block(&sp); /* for the thread's whole life */
    bool *known = NULL; /* streams whose group exists, this connection */
    size_t nknown = 0;
    send_batch b;
    b.n = 0;
    b.cancels = NULL;
    for (;;) {
        pthread_mutex_lock(&c->mu);
        while (!c->stopping && !c->out_head && !c->cancels)
            pthread_cond_wait(&c->send_cv, &c->mu);
        if (c->stopping) {
            pthread_mutex_unlock(&c->mu);
            break;
        }
        b.n = 0;
        /* Cancelled records that were never sent need no XADD: the
         * promise is settled already. */
        while (c->out_head && b.n < SEND_BATCH) {
            rec *r = c->out_head;
            c->out_head = r->next;
            if (!c->out_head)
                c->out_tail = NULL;
            r->next = NULL;
            if (r->cancelled) {
                r->in_outbox = false;
                c->queued--;
                tpr_rec_free(r);
                continue;
            }
            b.recs[b.n++] = r;
        }
        b.cancels = c->cancels;
        c->cancels = NULL;
        if (c->queued == 0)
            pthread_cond_broadcast(&c->flush_cv);
        if (nknown < c->nstreams) {
            bool *k = realloc(known, c->nstreams * sizeof *k);
            if (k) {
                for (size_t i = nknown; i < c->nstreams; i++)
                    k[i] = false;
                known = k;
                nknown = c->nstreams;
            }
        }
        pthread_mutex_unlock(&c->mu);

        bool reconnected;
        if (!tpr_client_ensure_up(c, &c->send_conn, &c->sender_up,
                                  &c->send_cv, SEND_TIMEOUT_MS,
                                  &reconnected)) {
            pthread_mutex_lock(&c->mu);
            requeue(c, &b, 0);
            pthread_mutex_unlock(&c->mu);
            break;
        }
        if (reconnected) {
            for (size_t i = 0; i < nknown; i++)
                known[i] = false;
        }
        if (b.n == 0 && !b.cancels)
            continue;
        if (send_batch_write(c, &b, known, nknown) != 0) {
            atomic_store(&c->sender_up, false);
            pthread_mutex_lock(&c->mu);
            c->stats.reconnects++;
            pthread_mutex_unlock(&c->mu);
        }
    }
    free(known);
    tpr_conn_close(&c->send_conn);
    return NULL;
}

