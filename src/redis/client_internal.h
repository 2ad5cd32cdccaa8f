/*
 * client_internal.h - what the files of the client share (internal).
 *
 * A client turns submits into stream entries and replies into settled
 * promises:
 *
 *   client.c          life cycle: options, create (connects both
 *                     connections, starts the two threads), destroy,
 *                     flush, counters, the reply objects, and reconnecting
 *                     with backoff (both threads use it)
 *   client_submit.c   submit: the record of a task, the task map and the
 *                     outbox; the done-callback that turns a cancel into a
 *                     cancel marker
 *   client_send.c     the sender thread: the outbox to Redis, in pipelines
 *   client_recv.c     the receiver thread: the reply stream to settled
 *                     promises
 *
 * Settling a record exactly once follows from the map: whoever takes the
 * record out of it (the receiver for a reply, the done-callback for a
 * cancel, destroy for what is left) settles or has settled the promise, and
 * nobody else finds it.
 *
 * Memory of a record: it is in the map (in_table) from submit until
 * settled, and on the outbox or in the sender's hands (in_outbox) until its
 * XADD is answered; whoever clears the last of the two flags frees it,
 * under mu.  The payload copy goes as soon as Redis has it.  The client's
 * reference to the future (r->f) goes to whoever takes the record out of
 * the map.  A tp_redis_reply is on the client's list from the settle until
 * tp_redis_reply_free() or destroy.
 *
 * Locks: mu guards the map, the outbox, the cancel list, the replies, the
 * stream keys and the counters.  It is never held while settling a promise
 * (the promise's done-callbacks, ours among them, take it) or during
 * network I/O.  send_conn belongs to the sender, recv_conn to the
 * receiver.
 */
#ifndef TPR_CLIENT_INTERNAL_H
#define TPR_CLIENT_INTERNAL_H

#include <stdatomic.h>

#include "redis_internal.h"

#define SEND_BATCH 256
#define READ_BATCH "512"
#define READ_BLOCK_MS "2000"
#define RECV_TIMEOUT_MS 12000 /* the blocking read's 2 s, and then some */
#define SEND_TIMEOUT_MS 10000
#define CANCEL_TTL_MS "86400000"

#define TPR_EID_MAX 48 /* a stream entry id: MS-SEQ, two 64-bit numbers */

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
    bool sent;                /* its XADD went out at least once */
    char eid[TPR_EID_MAX];    /* its entry's id once written, else "" */
    struct rec *next;         /* outbox link */
} rec;

/* Taking a written task back (client_expire.c): a cancel (marker, and the
 * entry deleted if no worker has read it) or an expiry (the entry deleted
 * if no worker has read it, and then the future settled). */
typedef struct retract_op {
    uint64_t fid;
    size_t stream;
    char eid[TPR_EID_MAX]; /* "" : not known (marker only) */
    bool expire;
    struct retract_op *next;
} retract_op;

/* A start deadline to watch: unix ms, and whose. */
typedef struct tpr_dl {
    int64_t at;
    uint64_t fid;
} tpr_dl;

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
    retract_op *ops; /* cancels and expiries to write */
    tpr_dl *dls;     /* a min-heap of the start deadlines of records */
    size_t ndls, dls_cap;
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


/* ---- client_submit.c ---------------------------------------------------- */

/* Frees the record's copies of the function name and payload. */
void tpr_rec_free_args(rec *r);
void tpr_rec_free(rec *r);
/* CLIENT/FID into buf. */
void tpr_task_id(const tp_redis_client *c, uint64_t fid, char *buf,
                 size_t size);

/* ---- client_expire.c --------------------------------------------------- */

/* Watches r's start deadline.  Under mu.  0 or TP_ENOMEM. */
int tpr_deadline_watch(tp_redis_client *c, const rec *r);
/* The earliest deadline watched (unix ms), or INT64_MAX.  Under mu. */
int64_t tpr_deadline_next(const tp_redis_client *c);
/* Handles the deadlines passed by `now` (unix ms), under mu: a record
 * never written leaves the map at once and its future goes into out[] (at
 * most max; the caller settles them with tpr_settle_expired() and calls
 * again while max came back); a written one gets an expiry op.  Returns
 * the number of futures in out[]. */
size_t tpr_deadline_due(tp_redis_client *c, int64_t now, tp_future **out,
                        size_t max);
/* Settles futures taken out of the map CANCELLED with TP_EEXPIRED and
 * gives up the client's references.  Without mu. */
void tpr_settle_expired(tp_future **fs, size_t n);
/* Queues an op (cancel or expiry) for r, whose eid may be "".  Under mu;
 * false without memory. */
bool tpr_retract_queue(tp_redis_client *c, const rec *r, bool expire);
/* Appends the op's EVAL to the pipeline: 0 or TP_REDIS_EDOWN. */
int tpr_retract_append(tp_redis_client *c, tpr_conn *conn,
                       const retract_op *op);

/* ---- client.c ----------------------------------------------------------- */

/* Connects `conn` if needed, retrying with backoff (waiting on cv) until
 * it works or the client stops (false); *reconnected tells whether it
 * connected.  *up follows the connection's state. */
bool tpr_client_ensure_up(tp_redis_client *c, tpr_conn *conn,
                          atomic_bool *up, pthread_cond_t *cv, int timeout_ms,
                          bool *reconnected);

/* ---- the threads -------------------------------------------------------- */

void *tpr_sender_main(void *arg);   /* client_send.c */
void *tpr_receiver_main(void *arg); /* client_recv.c */

#endif /* TPR_CLIENT_INTERNAL_H */
