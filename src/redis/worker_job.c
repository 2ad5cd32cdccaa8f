/*
 * worker_job.c - one job: a stream entry decoded into what to run (or why
 * not), and its run on a thread of the worker's pool.
 *
 * Decoding treats the entry as hostile input (codec.c does the parsing):
 * an entry that cannot or must not run (malformed, unknown function, too
 * large, delivered too often, past its start deadline) becomes a job that
 * is already done, with its status and, for a dead letter, the reason and
 * a bounded copy of the entry's fields.  The start deadline is checked
 * again when a pool thread picks the job up: a task that starts late is
 * not run either, and its future is CANCELLED with TP_EEXPIRED, as a local
 * pool's would be.
 *
 * Ownership: a job owns its copies (task id, reply key, payload, reply,
 * dead-letter fields) and one reference to its local future.  The reader
 * creates it, the pool thread that runs it writes status and reply and
 * hands it to the control thread through the done list (under w->mu);
 * only the control thread frees it (tpr_job_free()).  `cancel` and
 * `running` are atomics because the control thread's heartbeat reads them
 * while a pool thread runs the job.
 */
#include "worker_internal.h"

#include <stdlib.h>
#include <string.h>

/* ---- jobs --------------------------------------------------------------- */

void tpr_job_free(job *j)
{
    if (j->lf)
        tp_future_release(j->lf);
    free(j->tid);
    free(j->reply_key);
    free(j->payload);
    free(j->reply);
    for (size_t i = 0; i < j->dl_n; i++)
        free(j->dl_argv[i]);
    free(j->dl_argv);
    free(j->dl_lens);
    free(j);
}

static char *dup_bytes(tpr_bytes b)
{
    char *d = malloc(b.n + 1);
    if (d) {
        if (b.n)
            memcpy(d, b.p, b.n);
        d[b.n] = 0;
    }
    return d;
}

/* Copies the entry's fields for its dead letter; on no memory the dead
 * letter goes without them. */
static void keep_fields(job *j, const redisReply *fields)
{
    if (!fields || fields->type != REDIS_REPLY_ARRAY || fields->elements == 0)
        return;
    size_t n = fields->elements;
    if (n > 64)
        n = 64; /* a hostile entry may be huge; the reason says enough */
    j->dl_argv = calloc(n, sizeof *j->dl_argv);
    j->dl_lens = calloc(n, sizeof *j->dl_lens);
    if (!j->dl_argv || !j->dl_lens)
        return;
    for (size_t i = 0; i < n; i++) {
        const redisReply *e = fields->element[i];
        tpr_bytes b = {"", 0};
        if (e && (e->type == REDIS_REPLY_STRING ||
                  e->type == REDIS_REPLY_STATUS) && e->str) {
            b.p = e->str;
            b.n = e->len > j->w->max_payload ? j->w->max_payload : e->len;
        }
        j->dl_argv[i] = dup_bytes(b);
        if (!j->dl_argv[i])
            return;
        j->dl_lens[i] = b.n;
        j->dl_n = i + 1;
    }
    j->dl_n &= ~(size_t)1; /* whole pairs only */
}

/* Decodes one entry into a new job (NULL only without memory).  The job
 * runs (fn set) or is already done (status, why). */
job *tpr_job_from_entry(tp_redis_worker *w, size_t stream,
                        const redisReply *entry, unsigned attempt)
{
    job *j = calloc(1, sizeof *j);
    if (!j)
        return NULL;
    j->w = w;
    j->stream = stream;
    j->attempt = attempt;
    atomic_init(&j->cancel, false);
    atomic_init(&j->running, false);
    tpr_task t;
    memset(&t, 0, sizeof t);
    const redisReply *fields = NULL;
    const char *why = NULL;
    int rc = tpr_entry_split(entry, &t.entry_id, &fields);
    if (t.entry_id.n == 0 || t.entry_id.n >= sizeof j->eid) {
        free(j); /* no id: nothing can be acknowledged; skip it */
        return NULL;
    }
    memcpy(j->eid, t.entry_id.p, t.entry_id.n);
    j->eid[t.entry_id.n] = 0;
    if (rc != 0)
        why = "entry deleted or malformed";
    else
        rc = tpr_task_decode(fields, w->ep.ns, w->max_payload, &t, &why);
    if (rc == 0 || t.id.n)
        j->tid = t.id.n ? dup_bytes(t.id) : NULL;
    if (t.reply_key.n)
        j->reply_key = dup_bytes(t.reply_key);
    if (rc == 0) {
        j->fn = tpr_worker_lookup(w, t.fn);
        if (!j->fn) {
            rc = TP_REDIS_ENOFUNC;
            why = "unknown function: not registered on this worker";
        } else if (attempt > t.max_attempts) {
            rc = TP_REDIS_EDEAD;
            why = "delivered more than max attempts (crash or stall each "
                  "time)";
        } else if (t.deadline_ms && tpr_wall_ms() > t.deadline_ms) {
            rc = TP_EEXPIRED; /* not a dead letter: the client asked */
        } else {
            j->deadline_ms = t.deadline_ms;
            j->payload = dup_bytes(t.payload);
            j->len = t.payload.n;
            if (!j->payload || !j->tid) {
                tpr_job_free(j);
                return NULL;
            }
        }
    }
    if (rc != 0) {
        j->fn = NULL;
        j->status = rc;
        if (rc != TP_EEXPIRED) {
            j->why = why ? why : "refused";
            keep_fields(j, fields);
        }
    }
    return j;
}

/* ---- running ------------------------------------------------------------ */

/* Under mu: a job onto the done list. */
void tpr_job_push_done(tp_redis_worker *w, job *j)
{
    j->dnext = NULL;
    if (w->done_tail)
        w->done_tail->dnext = j;
    else
        w->done_head = j;
    w->done_tail = j;
    /* The reader, waiting for a free thread, writes it before its next
     * read; otherwise the control thread does, now. */
    if (!w->reader_waiting)
        pthread_cond_signal(&w->ctl_cv);
}

void *tpr_job_run(void *arg)
{
    job *j = arg;
    tp_redis_worker *w = j->w;
    tp_redis_call call = {j->payload, j->len, j->tid, j->attempt,
                          w->max_reply, NULL, 0};
    bool ran = false, expired = false;
    atomic_store(&j->running, true);
    if (atomic_load(&j->cancel)) {
        j->status = TP_ECANCELED;
    } else if (j->deadline_ms && tpr_wall_ms() > j->deadline_ms) {
        /* It waited in the pool's queue past its start deadline. */
        j->status = TP_EEXPIRED;
        expired = true;
    } else {
        ran = true;
        int rc = j->fn->fn(&call, j->fn->ctx);
        j->status = rc;
        if (rc == 0) {
            j->reply = call.reply;
            j->reply_len = call.reply_len;
            call.reply = NULL;
        }
        free(call.reply);
    }
    pthread_mutex_lock(&w->mu);
    if (ran)
        w->stats.ran++;
    else if (expired)
        w->stats.expired++;
    else
        w->stats.cancelled++;
    w->running--;
    if (w->running == 0)
        pthread_cond_broadcast(&w->idle_cv);
    pthread_cond_signal(&w->free_cv);
    tpr_job_push_done(w, j);
    pthread_mutex_unlock(&w->mu);
    return NULL;
}

/* Admits jobs read in one go: looks up their cancel markers (one
 * pipeline), then queues each on the done list or in the pool. */
