/*
 * client.c - the client side: submits become stream entries, replies
 * settle promises.
 *
 * A submit creates a promise (tp_promise_create()), keeps a record of the
 * task in the task map (by future id) and on the outbox, and returns.  Two
 * threads do the rest, each on its own connection:
 *
 * - The sender takes up to SEND_BATCH records off the outbox, writes them
 *   with one pipeline (XGROUP CREATE for a stream it has not seen on this
 *   connection, then one XADD per task, then the cancel markers), and reads
 *   the answers.  A record leaves the outbox for good only when Redis has
 *   answered its XADD; after an I/O error every unanswered record goes back
 *   to the front of the outbox and is sent again after the reconnect.  So
 *   nothing accepted is lost, and a task whose answer was lost on the way
 *   may be written twice (it is at-least-once anyway; its future settles
 *   once).
 * - The receiver reads the client's reply stream with a blocking XREAD
 *   from the last id it has seen (so replies written while it was
 *   disconnected are read after the reconnect), trims what it has read
 *   (XTRIM MINID, pipelined before the next read), takes each reply's
 *   record out of the task map and settles the promise.  A reply whose
 *   record is not there (already settled: a repeat after a reclaim, or a
 *   task of an earlier life of this client id) is dropped and counted.
 *
 * Settling a record exactly once follows from the map: whoever takes the
 * record out of it (the receiver for a reply, the done-callback for a
 * cancel, destroy for what is left) settles or has settled the promise, and
 * nobody else finds it.
 *
 * Cancellation: tp_future_cancel() settles the promise CANCELLED at once;
 * the done-callback registered at submit sees that, takes the record out of
 * the map and queues a cancel marker (SET NS:x:TASKID PX ...), which
 * workers look up before starting a task and, while it runs, at each
 * heartbeat.
 *
 * Memory of a record: it is in the map (in_table) from submit until
 * settled, and on the outbox or in the sender's hands (in_outbox) until its
 * XADD is answered; whoever clears the last of the two flags frees it,
 * under mu.  The payload copy goes as soon as Redis has it.
 *
 * Locks: mu guards the map, the outbox, the cancel list, the replies and
 * the counters.  It is never held while settling a promise (the promise's
 * done-callbacks, ours among them, take it) or during network I/O.
 */
#include "redis_internal.h"

#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SEND_BATCH 256
#define READ_BATCH "512"
#define READ_BLOCK_MS "2000"
#define RECV_TIMEOUT_MS 12000 /* the blocking read's 2 s, and then some */
#define SEND_TIMEOUT_MS 10000
#define CANCEL_TTL_MS "86400000"

typedef struct rec {
    uint64_t fid;
    tp_future *f;     /* the client's reference */
    size_t stream;    /* index in the client's stream keys */
    char *fn;         /* until written */
    char *payload;    /* until written */
    size_t len;
    int64_t deadline; /* unix ms, 0 none */
    unsigned max_attempts;
    bool in_table, in_outbox, cancelled;
    struct rec *next; /* outbox link */
} rec;

typedef struct cancel_op {
    uint64_t fid;
    struct cancel_op *next;
} cancel_op;

struct tp_redis_reply {
    tp_redis_client *c;
    struct tp_redis_reply *prev, *next; /* the client's list, under mu */
    size_t len;
    char data[];
};

struct tp_redis_client {
    tpr_endpoint ep;
    char id[TPR_NAME_MAX + 1];
    char *reply_key;
    tp_redis_down_policy on_down;
    size_t max_queued, max_payload, max_reply;

    pthread_mutex_t mu;
    pthread_cond_t send_cv;  /* sender: work or stop */
    pthread_cond_t recv_cv;  /* receiver: backoff, stop */
    pthread_cond_t flush_cv; /* queued reached 0 */
    tpr_map table;           /* fid -> rec, not yet settled */
    rec *out_head, *out_tail;
    cancel_op *cancels;
    size_t queued; /* records on the outbox or being written */
    bool stopping;
    char **streams; /* stream keys NS:q:NAME, by index; never shrinks */
    size_t nstreams, streams_cap;
    tp_redis_reply *replies;
    tp_redis_client_stats stats;

    atomic_bool sender_up, receiver_up;
    tpr_conn send_conn, recv_conn;
    pthread_t sender, receiver;
};

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

int tp_redis_submit_opts_init(tp_redis_submit_opts *opts)
{
    if (!opts)
        return TP_EINVAL;
    memset(opts, 0, sizeof *opts);
    opts->start_deadline_ms = -1;
    opts->max_attempts = 3;
    return 0;
}

/* ---- records -------------------------------------------------------------- */

static void rec_free_args(rec *r)
{
    free(r->fn);
    free(r->payload);
    r->fn = NULL;
    r->payload = NULL;
}

static void rec_free(rec *r)
{
    rec_free_args(r);
    free(r);
}

static void task_id(const tp_redis_client *c, uint64_t fid, char *buf,
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
    cancel_op *op = malloc(sizeof *op);
    pthread_mutex_lock(&c->mu);
    rec *r = tpr_map_take(&c->table, tp_future_id(f));
    if (r) {
        r->in_table = false;
        r->cancelled = true;
        if (op) {
            op->fid = r->fid;
            op->next = c->cancels;
            c->cancels = op;
            op = NULL;
            pthread_cond_signal(&c->send_cv);
        }
        if (!r->in_outbox)
            rec_free(r);
    }
    pthread_mutex_unlock(&c->mu);
    free(op);
    if (r)
        tp_future_release(f); /* the client's reference */
}

/* ---- submit --------------------------------------------------------------- */

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
        rec_free(r);
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
        rec_free(r);
        return rc;
    }
    r->fid = tp_future_id(f);
    r->f = f;
    tp_future_retain(f); /* the client's reference, given up at settle */
    rc = tp_future_on_done(f, on_settled, c);
    if (rc != 0) {
        tp_future_release(f);
        tp_future_release(f);
        rec_free(r);
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
        rc = tpr_map_put(&c->table, r->fid, r);
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
        rec_free(r);
        return rc;
    }
    *out = f;
    return 0;
}

/* ---- the sender ------------------------------------------------------------ */

/* Waits up to ms on cv (under mu, held); returns true when stopping. */
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

/* Connects `conn` if needed, retrying with backoff until it works or the
 * client stops (false). */
static bool ensure_up(tp_redis_client *c, tpr_conn *conn, atomic_bool *up,
                      pthread_cond_t *cv, int timeout_ms, bool *reconnected)
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
    rec_free_args(r);
    c->queued--;
    if (ok) {
        c->stats.written++;
    } else if (r->in_table) {
        tpr_map_take(&c->table, r->fid);
        r->in_table = false;
        fail = r->f;
    }
    if (!r->in_table)
        rec_free(r);
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
        task_id(c, r->fid, tid, sizeof tid);
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
        task_id(c, op->fid, tid, sizeof tid);
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

static void *sender_main(void *arg)
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
                rec_free(r);
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
        if (!ensure_up(c, &c->send_conn, &c->sender_up, &c->send_cv,
                       SEND_TIMEOUT_MS, &reconnected)) {
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

/* ---- the receiver ----------------------------------------------------------- */

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
        rec_free(r);
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

static void *receiver_main(void *arg)
{
    tp_redis_client *c = arg;
    tpr_sigpipe sp;
    tpr_sigpipe_block(&sp); /* for the thread's whole life */
    char last[72] = "0-0";
    bool trim = false;
    for (;;) {
        pthread_mutex_lock(&c->mu);
        bool stop = c->stopping;
        pthread_mutex_unlock(&c->mu);
        if (stop)
            break;
        bool reconnected;
        if (!ensure_up(c, &c->recv_conn, &c->receiver_up, &c->recv_cv,
                       RECV_TIMEOUT_MS, &reconnected))
            break;
        tpr_conn *conn = &c->recv_conn;
        int rc = 0;
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
            trim = false;
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
                    trim = true;
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

/* ---- life cycle --------------------------------------------------------------- */

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
    if (pthread_create(&c->sender, NULL, sender_main, c) != 0) {
        rc = TP_EAGAIN;
        goto fail_connect;
    }
    if (pthread_create(&c->receiver, NULL, receiver_main, c) != 0) {
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
            rec_free(r);
    }
    while (c->out_head) {
        rec *r = c->out_head;
        c->out_head = r->next;
        rec_free(r);
    }
    while (c->cancels) {
        cancel_op *op = c->cancels;
        c->cancels = op->next;
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

/* ---- replies ------------------------------------------------------------------ */

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
