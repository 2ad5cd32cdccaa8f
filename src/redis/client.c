/*
 * client.c - a client's life cycle: options, create, destroy, flush, the
 * counters, the reply objects, and reconnecting with backoff.
 *
 * Create connects both connections at once, so that a wrong address or
 * password shows in its return code, then starts the sender
 * (client_send.c) and the receiver (client_recv.c).  Destroy stops and
 * joins them, then fails every future still pending with TP_ESHUTDOWN and
 * frees what is left: with the threads gone, everything is this thread's.
 *
 * Ownership: the client owns its records, its replies (each freed by
 * tp_redis_reply_free() or here) and its copies of the option strings.
 * Locks: c->mu, see client_internal.h.
 */
#include "client_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- options ------------------------------------------------------------ */

int tp_redis_client_opts_init(tp_redis_client_opts *opts)
{
    if (!opts)
        return TP_EINVAL;
    memset(opts, 0, sizeof *opts);
    opts->conn.connect_timeout_ms = 2000;
    opts->on_down = TP_REDIS_DOWN_QUEUE;
    opts->max_queued = 65536;
    opts->max_payload = 1u << 20;
    opts->max_reply = 16u << 20;
    return 0;
}

/* ---- connections -------------------------------------------------------- */

/* Waits up to ms on cv; returns true when stopping. */
static bool backoff_wait(tp_redis_client *c, pthread_cond_t *cv, int64_t ms)
{
    struct timespec ts;
    tpr_deadline_ts(ms, &ts);
    pthread_mutex_lock(&c->mu);
    while (!c->stopping)
        if (pthread_cond_timedwait(cv, &c->mu, &ts) != 0)
            break;
    bool stop = c->stopping;
    pthread_mutex_unlock(&c->mu);
    return stop;
}

bool tpr_client_ensure_up(tp_redis_client *c, tpr_conn *conn,
                          atomic_bool *up, pthread_cond_t *cv, int timeout_ms,
                          bool *reconnected)
{
    int64_t delay = 0;
    *reconnected = false;
    while (!conn->ctx) {
        int rc = tpr_conn_ensure(conn, &c->ep, timeout_ms);
        if (rc == 0) {
            atomic_store(up, true);
            *reconnected = true;
            break;
        }
        atomic_store(up, false);
        if (rc == TP_ESHUTDOWN)
            return false;
        delay = tpr_backoff_next(delay);
        if (backoff_wait(c, cv, delay))
            return false;
    }
    return true;
}

/* ---- life cycle --------------------------------------------------------- */

int tp_redis_client_create(tp_redis_client **out,
                           const tp_redis_client_opts *opts)
{
    if (!out)
        return TP_EINVAL;
    tp_redis_client_opts def;
    if (!opts) {
        tp_redis_client_opts_init(&def);
        opts = &def;
    }
    if ((opts->client_id && !tpr_name_ok(opts->client_id, TPR_NAME_MAX, NULL)) ||
        opts->max_queued == 0 || opts->max_payload == 0 ||
        opts->max_reply == 0 || (opts->on_down != TP_REDIS_DOWN_QUEUE &&
                                 opts->on_down != TP_REDIS_DOWN_FAIL))
        return TP_EINVAL;
    tp_redis_client *c = calloc(1, sizeof *c);
    if (!c)
        return TP_ENOMEM;
    int rc = tpr_endpoint_init(&c->ep, &opts->conn);
    if (rc != 0)
        goto fail_ep;
    if (opts->client_id)
        snprintf(c->id, sizeof c->id, "%s", opts->client_id);
    else
        tpr_default_name(c->id, sizeof c->id);
    c->reply_key = tpr_concat3(c->ep.ns, ":r:", c->id);
    rc = TP_ENOMEM;
    if (!c->reply_key)
        goto fail_key;
    c->on_down = opts->on_down;
    c->max_queued = opts->max_queued;
    c->max_payload = opts->max_payload;
    c->max_reply = opts->max_reply;
    tpr_map_init(&c->table);
    if (pthread_mutex_init(&c->mu, NULL) != 0)
        goto fail_mu;
    if (tpr_cond_init(&c->send_cv) != 0)
        goto fail_cv1;
    if (tpr_cond_init(&c->recv_cv) != 0)
        goto fail_cv2;
    if (tpr_cond_init(&c->flush_cv) != 0)
        goto fail_cv3;
    if (tpr_conn_init(&c->send_conn) != 0)
        goto fail_conn1;
    if (tpr_conn_init(&c->recv_conn) != 0)
        goto fail_conn2;
    /* Connect both now, so that a wrong address or password shows here. */
    tpr_sigpipe sp;
    tpr_sigpipe_block(&sp);
    rc = tpr_conn_ensure(&c->send_conn, &c->ep, SEND_TIMEOUT_MS);
    if (rc == 0)
        rc = tpr_conn_ensure(&c->recv_conn, &c->ep, RECV_TIMEOUT_MS);
    tpr_sigpipe_restore(&sp);
    if (rc != 0)
        goto fail_connect;
    atomic_init(&c->sender_up, true);
    atomic_init(&c->receiver_up, true);
    if (pthread_create(&c->sender, NULL, tpr_sender_main, c) != 0) {
        rc = TP_EAGAIN;
        goto fail_connect;
    }
    if (pthread_create(&c->receiver, NULL, tpr_receiver_main, c) != 0) {
        rc = TP_EAGAIN;
        goto fail_receiver;
    }
    *out = c;
    return 0;

fail_receiver:
    pthread_mutex_lock(&c->mu);
    c->stopping = true;
    pthread_cond_broadcast(&c->send_cv);
    pthread_mutex_unlock(&c->mu);
    tpr_conn_interrupt(&c->send_conn);
    pthread_join(c->sender, NULL);
fail_connect:
    tpr_conn_destroy(&c->recv_conn);
fail_conn2:
    tpr_conn_destroy(&c->send_conn);
fail_conn1:
    pthread_cond_destroy(&c->flush_cv);
fail_cv3:
    pthread_cond_destroy(&c->recv_cv);
fail_cv2:
    pthread_cond_destroy(&c->send_cv);
fail_cv1:
    pthread_mutex_destroy(&c->mu);
fail_mu:
    free(c->reply_key);
fail_key:
    tpr_endpoint_free(&c->ep);
fail_ep:
    free(c);
    return rc;
}

int tp_redis_client_destroy(tp_redis_client *c)
{
    if (!c)
        return TP_EINVAL;
    pthread_mutex_lock(&c->mu);
    c->stopping = true;
    pthread_cond_broadcast(&c->send_cv);
    pthread_cond_broadcast(&c->recv_cv);
    pthread_cond_broadcast(&c->flush_cv);
    pthread_mutex_unlock(&c->mu);
    tpr_conn_interrupt(&c->send_conn);
    tpr_conn_interrupt(&c->recv_conn);
    pthread_join(c->sender, NULL);
    pthread_join(c->receiver, NULL);

    /* The threads are gone: what is left is only ours.  Settle outside mu
     * (the done-callback takes it). */
    for (;;) {
        pthread_mutex_lock(&c->mu);
        rec *r = tpr_map_pop_any(&c->table);
        if (r)
            r->in_table = false;
        pthread_mutex_unlock(&c->mu);
        if (!r)
            break;
        tp_promise_fail(r->f, TP_ESHUTDOWN);
        tp_future_release(r->f);
        if (!r->in_outbox)
            tpr_rec_free(r);
    }
    while (c->out_head) {
        rec *r = c->out_head;
        c->out_head = r->next;
        tpr_rec_free(r);
    }
    free(c->dls);
    while (c->ops) {
        retract_op *op = c->ops;
        c->ops = op->next;
        free(op);
    }
    while (c->replies) {
        tp_redis_reply *rep = c->replies;
        c->replies = rep->next;
        free(rep);
    }
    for (size_t i = 0; i < c->nstreams; i++)
        free(c->streams[i]);
    free(c->streams);
    tpr_map_free(&c->table);
    tpr_conn_destroy(&c->recv_conn);
    tpr_conn_destroy(&c->send_conn);
    pthread_cond_destroy(&c->flush_cv);
    pthread_cond_destroy(&c->recv_cv);
    pthread_cond_destroy(&c->send_cv);
    pthread_mutex_destroy(&c->mu);
    free(c->reply_key);
    tpr_endpoint_free(&c->ep);
    free(c);
    return 0;
}

int tp_redis_client_flush(tp_redis_client *c, int64_t timeout_ms)
{
    if (!c)
        return TP_EINVAL;
    struct timespec ts;
    if (timeout_ms >= 0)
        tpr_deadline_ts(timeout_ms, &ts);
    int rc = 0;
    pthread_mutex_lock(&c->mu);
    while (c->queued > 0 && !c->stopping) {
        if (timeout_ms < 0) {
            pthread_cond_wait(&c->flush_cv, &c->mu);
        } else if (pthread_cond_timedwait(&c->flush_cv, &c->mu, &ts) != 0) {
            rc = c->queued > 0 ? TP_ETIMEDOUT : 0;
            break;
        }
    }
    pthread_mutex_unlock(&c->mu);
    return rc;
}

int tp_redis_client_connected(tp_redis_client *c)
{
    return c && atomic_load(&c->sender_up) && atomic_load(&c->receiver_up);
}

int tp_redis_client_stats_get(tp_redis_client *c, tp_redis_client_stats *stats)
{
    if (!c || !stats)
        return TP_EINVAL;
    pthread_mutex_lock(&c->mu);
    *stats = c->stats;
    stats->queued = c->queued;
    stats->pending = c->table.n;
    pthread_mutex_unlock(&c->mu);
    return 0;
}

/* ---- replies ------------------------------------------------------------ */

const void *tp_redis_reply_data(const tp_redis_reply *r, size_t *len)
{
    if (!r) {
        if (len)
            *len = 0;
        return NULL;
    }
    if (len)
        *len = r->len;
    return r->data;
}

void tp_redis_reply_free(tp_redis_reply *r)
{
    if (!r)
        return;
    tp_redis_client *c = r->c;
    pthread_mutex_lock(&c->mu);
    if (r->prev)
        r->prev->next = r->next;
    else
        c->replies = r->next;
    if (r->next)
        r->next->prev = r->prev;
    pthread_mutex_unlock(&c->mu);
    free(r);
}
