/*
 * client_submit.c - submit: a task becomes a record on the outbox, and a
 * cancelled future a cancel marker to write.
 *
 * A submit creates a promise (tp_promise_create()), keeps a record of the
 * task in the task map (by future id) and on the outbox, and returns; the
 * sender (client_send.c) writes it.  The client holds a reference of its
 * own to the future until the record leaves the map.
 *
 * Cancellation: tp_future_cancel() settles the promise CANCELLED at once;
 * the done-callback registered at submit sees that and takes the record
 * out of the map.  A record not yet written is then simply not sent; a
 * written one gets a cancel op (client_expire.c): a cancel marker, which a
 * worker running the task sees at its next heartbeat, and the entry
 * deleted if no worker has read it yet.
 *
 * Ownership: the caller's payload is copied; on any error nothing was
 * queued and the promise is settled and released here.  Locks: c->mu
 * around the map and the outbox, released before settling.
 */
#include "client_internal.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int tp_redis_submit_opts_init(tp_redis_submit_opts *opts)
{
    if (!opts)
        return TP_EINVAL;
    memset(opts, 0, sizeof *opts);
    opts->start_deadline_ms = -1;
    opts->max_attempts = TPR_DEFAULT_ATTEMPTS;
    return 0;
}

/* ---- records ------------------------------------------------------------ */

void tpr_rec_free_args(rec *r)
{
    free(r->fn);
    free(r->payload);
    r->fn = NULL;
    r->payload = NULL;
}

void tpr_rec_free(rec *r)
{
    tpr_rec_free_args(r);
    free(r);
}

void tpr_task_id(const tp_redis_client *c, uint64_t fid, char *buf,
                 size_t size)
{
    snprintf(buf, size, "%s/%" PRIu64, c->id, fid);
}

/* Index of the stream key NS:q:name, added if new; SIZE_MAX without memory.
 * Under mu. */
static size_t stream_index(tp_redis_client *c, const char *name)
{
    char key[TPR_KEY_MAX];
    snprintf(key, sizeof key, "%s:q:%s", c->ep.ns, name);
    for (size_t i = 0; i < c->nstreams; i++)
        if (strcmp(c->streams[i], key) == 0)
            return i;
    if (c->nstreams == c->streams_cap) {
        size_t cap = c->streams_cap ? c->streams_cap * 2 : 4;
        char **s = realloc(c->streams, cap * sizeof *s);
        if (!s)
            return SIZE_MAX;
        c->streams = s;
        c->streams_cap = cap;
    }
    char *k = tpr_strdup(key);
    if (!k)
        return SIZE_MAX;
    c->streams[c->nstreams] = k;
    return c->nstreams++;
}

/* ---- the done-callback: cancellation ------------------------------------ */

static void on_settled(tp_future *f, void *ctx)
{
    tp_redis_client *c = ctx;
    if (tp_future_state(f) != TP_CANCELLED)
        return;
    pthread_mutex_lock(&c->mu);
    rec *r = tpr_map_take(&c->table, tp_future_id(f));
    if (r) {
        r->in_table = false;
        r->cancelled = true;
        /* On the outbox or being written: the sender takes care of it
         * (client_send.c).  Written: take it back. */
        if (!r->in_outbox) {
            if (tpr_retract_queue(c, r, false))
                pthread_cond_signal(&c->send_cv);
            tpr_rec_free(r);
        }
    }
    pthread_mutex_unlock(&c->mu);
    if (r)
        tp_future_release(f); /* the client's reference */
}

/* ---- submit ------------------------------------------------------------- */

int tp_redis_submit(tp_redis_client *c, const char *fn_name,
                    const void *payload, size_t len,
                    const tp_redis_submit_opts *opts, tp_future **out)
{
    if (!c || !fn_name || !out || (!payload && len > 0))
        return TP_EINVAL;
    tp_redis_submit_opts def;
    if (!opts) {
        tp_redis_submit_opts_init(&def);
        opts = &def;
    }
    size_t fnlen = strlen(fn_name);
    const char *stream = opts->stream ? opts->stream : "default";
    if (fnlen == 0 || fnlen > TPR_FN_MAX || !tpr_name_ok(stream, TPR_NAME_MAX,
                                                         NULL) ||
        opts->max_attempts < 1 || opts->max_attempts > TPR_MAX_ATTEMPTS)
        return TP_EINVAL;
    if (len > c->max_payload)
        return TP_REDIS_ETOOBIG;

    rec *r = calloc(1, sizeof *r);
    if (!r)
        return TP_ENOMEM;
    r->fn = tpr_strdup(fn_name);
    r->payload = malloc(len + 1);
    if (!r->fn || !r->payload) {
        tpr_rec_free(r);
        return TP_ENOMEM;
    }
    if (len)
        memcpy(r->payload, payload, len);
    r->payload[len] = 0;
    r->len = len;
    r->max_attempts = opts->max_attempts;
    r->deadline = opts->start_deadline_ms >= 0
                      ? tpr_wall_ms() + opts->start_deadline_ms
                      : 0;
    if (opts->start_deadline_ms >= 0 && r->deadline == 0)
        r->deadline = 1;

    tp_future *f;
    int rc = tp_promise_create(&f);
    if (rc != 0) {
        tpr_rec_free(r);
        return rc;
    }
    r->fid = tp_future_id(f);
    r->f = f;
    tp_future_retain(f); /* the client's reference, given up at settle */
    rc = tp_future_on_done(f, on_settled, c);
    if (rc != 0) {
        tp_future_release(f);
        tp_future_release(f);
        tpr_rec_free(r);
        return rc;
    }

    pthread_mutex_lock(&c->mu);
    if (c->stopping)
        rc = TP_ESHUTDOWN;
    else if (c->on_down == TP_REDIS_DOWN_FAIL &&
             !(atomic_load(&c->sender_up) && atomic_load(&c->receiver_up)))
        rc = TP_REDIS_EDOWN;
    else if (c->queued >= c->max_queued)
        rc = TP_EFULL;
    if (rc == 0) {
        r->stream = stream_index(c, stream);
        if (r->stream == SIZE_MAX)
            rc = TP_ENOMEM;
    }
    if (rc == 0)
        rc = tpr_deadline_watch(c, r);
    if (rc == 0)
        rc = tpr_map_put(&c->table, r->fid, r); /* (a watched id not in
                                                   the map is skipped) */
    if (rc == 0) {
        r->in_table = r->in_outbox = true;
        if (c->out_tail)
            c->out_tail->next = r;
        else
            c->out_head = r;
        c->out_tail = r;
        c->queued++;
        c->stats.submitted++;
        pthread_cond_signal(&c->send_cv);
    }
    pthread_mutex_unlock(&c->mu);
    if (rc != 0) {
        /* Nobody else has seen r; the promise is settled so that the
         * callback runs now (finding nothing) and then freed. */
        tp_promise_fail(f, TP_ESHUTDOWN);
        tp_future_release(f);
        tp_future_release(f);
        tpr_rec_free(r);
        return rc;
    }
    *out = f;
    return 0;
}

