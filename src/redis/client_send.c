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
 * once).  A record cancelled before it was sent is not sent at all, nor
 * one whose start deadline passed (client_expire.c).  The cancels and
 * expiries of written tasks (ops) go in the same pipeline.
 *
 * The sender sleeps until there is something to send, the earliest start
 * deadline passes, or (while disconnected) the next reconnect attempt is
 * due: deadlines pass even while Redis is unreachable.
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

#define EXPIRE_BATCH 64

typedef struct send_batch {
    rec *recs[SEND_BATCH];
    size_t n;
    retract_op *ops;
} send_batch;

/* Puts back, at the front of the outbox, the records from index `from`,
 * and every op.  Under mu. */
static void requeue(tp_redis_client *c, send_batch *b, size_t from)
{
    for (size_t i = b->n; i-- > from;) {
        rec *r = b->recs[i];
        r->next = c->out_head;
        c->out_head = r;
        if (!c->out_tail)
            c->out_tail = r;
    }
    b->n = 0;
    while (b->ops) {
        retract_op *op = b->ops;
        b->ops = op->next;
        op->next = c->ops;
        c->ops = op;
    }
}

/* A record done with the outbox: written (ok, with its entry id) or
 * refused by Redis.  Under mu.  Returns the future to fail (refused while
 * still in the map). */
static tp_future *outbox_done(tp_redis_client *c, rec *r,
                              const redisReply *rep)
{
    tp_future *fail = NULL;
    bool ok = rep->type == REDIS_REPLY_STRING;
    r->in_outbox = false;
    tpr_rec_free_args(r);
    c->queued--;
    if (ok) {
        c->stats.written++;
        snprintf(r->eid, sizeof r->eid, "%.*s", (int)rep->len, rep->str);
        /* Cancelled while being written: take it back now. */
        if (r->cancelled)
            (void)tpr_retract_queue(c, r, false);
    } else if (r->in_table) {
        tpr_map_take(&c->table, r->fid);
        r->in_table = false;
        fail = r->f;
    }
    if (!r->in_table)
        tpr_rec_free(r);
    return fail;
}

/* Appends the batch: a group creation for each stream new on this
 * connection (before its first XADD), the XADDs, the ops.  Returns 0 or
 * TP_REDIS_EDOWN; sets group_of[k] to the index of the XADD the k-th
 * group creation precedes. */
static int append_batch(tp_redis_client *c, send_batch *b, bool *known,
                        size_t nknown, size_t *group_of, size_t *groups)
{
    tpr_conn *conn = &c->send_conn;
    int rc = 0;
    *groups = 0;
    for (size_t i = 0; i < b->n && rc == 0; i++) {
        rec *r = b->recs[i];
        /* The array of keys may be reallocated under mu by a submit; the
         * strings never move. */
        pthread_mutex_lock(&c->mu);
        const char *key = c->streams[r->stream];
        pthread_mutex_unlock(&c->mu);
        if (r->stream < nknown && !known[r->stream]) {
            known[r->stream] = true;
            const char *argv[6] = {"XGROUP", "CREATE", key, c->ep.ns, "0",
                                   "MKSTREAM"};
            size_t lens[6];
            for (int k = 0; k < 6; k++)
                lens[k] = strlen(argv[k]);
            rc = tpr_append(conn, 6, argv, lens);
            group_of[(*groups)++] = i;
        }
        char tid[TPR_TASKID_MAX + 1], dl[24], ma[12];
        tpr_task_id(c, r->fid, tid, sizeof tid);
        snprintf(dl, sizeof dl, "%" PRId64, r->deadline);
        snprintf(ma, sizeof ma, "%u", r->max_attempts);
        /* dl and ma only when not the default (none, 3): every field is
         * parsed by Redis, stored, sent to the worker and parsed again. */
        const char *argv[17] = {"XADD", key, "*", "v", "1", "id", tid, "fn",
                                r->fn, "p", r->payload, "r", c->reply_key};
        int argc = 13;
        if (r->deadline != 0) {
            argv[argc++] = "dl";
            argv[argc++] = dl;
        }
        if (r->max_attempts != TPR_DEFAULT_ATTEMPTS) {
            argv[argc++] = "ma";
            argv[argc++] = ma;
        }
        size_t lens[17];
        for (int k = 0; k < argc; k++)
            lens[k] = strlen(argv[k]);
        lens[10] = r->len;
        if (rc == 0)
            rc = tpr_append(conn, argc, argv, lens);
        r->sent = true;
    }
    for (retract_op *op = b->ops; op && rc == 0; op = op->next)
        rc = tpr_retract_append(c, conn, op);
    return rc;
}

/* Writes one batch; returns 0, or TP_REDIS_EDOWN after requeueing what was
 * not answered. */
static int send_batch_write(tp_redis_client *c, send_batch *b, bool *known,
                            size_t nknown)
{
    tpr_conn *conn = &c->send_conn;
    size_t groups, group_of[SEND_BATCH];
    if (append_batch(c, b, known, nknown, group_of, &groups) != 0)
        goto down;

    /* The answers, in order: a group creation precedes the XADD it was
     * made for.  Each is accounted for as soon as it is read. */
    size_t g = 0;
    for (size_t i = 0; i < b->n; i++) {
        redisReply *rep;
        int rc = 0;
        if (g < groups && group_of[g] == i) {
            rc = tpr_get_reply(conn, &rep);
            if (rc == 0)
                freeReplyObject(rep);
            g++;
        }
        if (rc == 0)
            rc = tpr_get_reply(conn, &rep);
        if (rc != 0) {
            pthread_mutex_lock(&c->mu);
            requeue(c, b, i);
            pthread_mutex_unlock(&c->mu);
            return TP_REDIS_EDOWN;
        }
        pthread_mutex_lock(&c->mu);
        tp_future *fail = outbox_done(c, b->recs[i], rep);
        if (c->queued == 0)
            pthread_cond_broadcast(&c->flush_cv);
        pthread_mutex_unlock(&c->mu);
        freeReplyObject(rep);
        if (fail) {
            tp_promise_fail(fail, TP_REDIS_ESERVER);
            tp_future_release(fail);
        }
    }
    b->n = 0;

    /* The ops: an expiry answered 1 took the entry back unread. */
    while (b->ops) {
        retract_op *op = b->ops;
        redisReply *rep;
        if (tpr_get_reply(conn, &rep) != 0)
            goto down;
        bool unread = rep->type == REDIS_REPLY_INTEGER && rep->integer == 1;
        freeReplyObject(rep);
        b->ops = op->next;
        tp_future *f = NULL;
        if (op->expire && unread) {
            pthread_mutex_lock(&c->mu);
            rec *r = tpr_map_take(&c->table, op->fid);
            if (r) {
                r->in_table = false;
                f = r->f;
                c->stats.expired++;
                if (!r->in_outbox)
                    tpr_rec_free(r);
            }
            pthread_mutex_unlock(&c->mu);
        }
        free(op);
        if (f)
            tpr_settle_expired(&f, 1);
    }
    return 0;
down:
    pthread_mutex_lock(&c->mu);
    requeue(c, b, 0);
    pthread_mutex_unlock(&c->mu);
    return TP_REDIS_EDOWN;
}

/* Under mu: up to SEND_BATCH records off the outbox into b, and the ops.
 * A record cancelled or expired before it was written is dropped there: its
 * future is settled already (and a copy an earlier attempt may have
 * written gets a marker). */
static void take_batch(tp_redis_client *c, send_batch *b)
{
    b->n = 0;
    while (c->out_head && b->n < SEND_BATCH) {
        rec *r = c->out_head;
        c->out_head = r->next;
        if (!c->out_head)
            c->out_tail = NULL;
        r->next = NULL;
        if (r->cancelled) {
            if (r->sent)
                (void)tpr_retract_queue(c, r, false);
            r->in_outbox = false;
            c->queued--;
            if (!r->in_table)
                tpr_rec_free(r);
            continue;
        }
        b->recs[b->n++] = r;
    }
    b->ops = c->ops;
    c->ops = NULL;
    if (c->queued == 0)
        pthread_cond_broadcast(&c->flush_cv);
}

/* Under mu: waits until stopping, work to send while connected, a start
 * deadline passed, or (disconnected) the reconnect time retry_at
 * (monotonic ms). */
static void wait_work(tp_redis_client *c, bool up, int64_t retry_at)
{
    for (;;) {
        if (c->stopping)
            return;
        if (up && (c->out_head || c->ops))
            return;
        int64_t dl = tpr_deadline_next(c);
        int64_t wall = tpr_wall_ms(), mono = tpr_mono_ms();
        if (dl <= wall || (!up && mono >= retry_at))
            return;
        int64_t wait = dl == INT64_MAX ? INT64_MAX : dl - wall;
        if (!up && retry_at - mono < wait)
            wait = retry_at - mono;
        if (wait == INT64_MAX) {
            pthread_cond_wait(&c->send_cv, &c->mu);
        } else {
            struct timespec ts;
            tpr_deadline_ts(wait, &ts);
            pthread_cond_timedwait(&c->send_cv, &c->mu, &ts);
        }
    }
}

void *tpr_sender_main(void *arg)
{
    tp_redis_client *c = arg;
    tpr_sigpipe sp;
    tpr_sigpipe_block(&sp); /* for the thread's whole life */
    bool *known = NULL; /* streams whose group exists, this connection */
    size_t nknown = 0;
    int64_t delay = 0, retry_at = 0;
    send_batch b;
    b.n = 0;
    b.ops = NULL;
    for (;;) {
        bool up = c->send_conn.ctx != NULL; /* this thread's connection */
        tp_future *expired[EXPIRE_BATCH];
        size_t nexp;
        pthread_mutex_lock(&c->mu);
        wait_work(c, up, retry_at);
        bool stop = c->stopping;
        nexp = stop ? 0
                    : tpr_deadline_due(c, tpr_wall_ms(), expired,
                                       EXPIRE_BATCH);
        pthread_mutex_unlock(&c->mu);
        if (stop)
            break;
        tpr_settle_expired(expired, nexp);
        if (!up) {
            if (tpr_mono_ms() < retry_at)
                continue;
            int rc = tpr_conn_ensure(&c->send_conn, &c->ep, SEND_TIMEOUT_MS);
            if (rc == TP_ESHUTDOWN)
                break;
            if (rc != 0) {
                atomic_store(&c->sender_up, false);
                delay = tpr_backoff_next(delay);
                retry_at = tpr_mono_ms() + delay;
                continue;
            }
            atomic_store(&c->sender_up, true);
            delay = 0;
            for (size_t i = 0; i < nknown; i++)
                known[i] = false;
        }
        pthread_mutex_lock(&c->mu);
        take_batch(c, &b);
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
        if (b.n == 0 && !b.ops)
            continue;
        if (send_batch_write(c, &b, known, nknown) != 0) {
            atomic_store(&c->sender_up, false);
            retry_at = 0; /* the first attempt at once */
            pthread_mutex_lock(&c->mu);
            c->stats.reconnects++;
            pthread_mutex_unlock(&c->mu);
        }
    }
    free(known);
    tpr_conn_close(&c->send_conn);
    return NULL;
}
