/*
 * worker_write.c - the writer: each done job's acknowledgement, reply and
 * dead letter in one MULTI/EXEC transaction, on the control connection.
 *
 * A job is a transaction of its own: XACK and XDEL of its entry, the dead
 * letter if any, the reply (XADD to the client's reply stream, PEXPIRE of
 * that stream).  A task is so never acknowledged without its reply, nor
 * replied to and left pending.  The transactions of every job on the done
 * list go in one pipeline; a job stays on the held list until its EXEC
 * has been answered, so that a lost connection delays replies but never
 * loses one: what was not confirmed goes back to the front of the done
 * list, in order, and is written again after the reconnect.
 *
 * Ownership: called by the control thread only, which owns ctl_conn and
 * is the only one to free jobs.  Locks: w->mu to unlink a confirmed job
 * and to requeue, never during I/O.
 */
#include "worker_internal.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- transactions ------------------------------------------------------- */

static void append_cmd(tpr_conn *c, int *rc, int argc, const char **argv,
                       const size_t *lens)
{
    if (*rc == 0)
        *rc = tpr_append(c, argc, argv, lens);
}

/* Appends the transaction of one done job; returns the number of replies
 * it will produce, or 0 after an error. */
static int write_job(tp_redis_worker *w, const job *j, int *rc)
{
    tpr_conn *c = &w->ctl_conn;
    const char *key = w->stream_keys[j->stream];
    const char *argv1[1] = {"MULTI"};
    size_t l1[1] = {5};
    append_cmd(c, rc, 1, argv1, l1);
    int replies = 1;
    const char *ack[4] = {"XACK", key, w->ep.ns, j->eid};
    size_t lack[4] = {4, strlen(key), strlen(w->ep.ns), strlen(j->eid)};
    append_cmd(c, rc, 4, ack, lack);
    const char *del[3] = {"XDEL", key, j->eid};
    size_t ldel[3] = {4, strlen(key), strlen(j->eid)};
    append_cmd(c, rc, 3, del, ldel);
    replies += 2;
    char st[16], n[16];
    snprintf(st, sizeof st, "%d", j->status);
    snprintf(n, sizeof n, "%u", j->attempt);
    if (j->why) {
        size_t argc = 16 + j->dl_n;
        const char **argv = malloc(argc * sizeof *argv);
        size_t *lens = malloc(argc * sizeof *lens);
        if (argv && lens) {
            const char *head[16] = {"XADD", w->dead_key, "MAXLEN", "~",
                                    DEAD_MAXLEN, "*", "why", j->why, "st",
                                    st, "src", key, "eid", j->eid, "n", n};
            for (size_t k = 0; k < 16; k++) {
                argv[k] = head[k];
                lens[k] = strlen(head[k]);
            }
            for (size_t k = 0; k < j->dl_n; k++) {
                argv[16 + k] = j->dl_argv[k];
                lens[16 + k] = j->dl_lens[k];
            }
            append_cmd(c, rc, (int)argc, argv, lens);
            replies++;
        } else if (*rc == 0) {
            *rc = TP_ENOMEM;
        }
        free(argv);
        free(lens);
    }
    if (j->reply_key && j->tid) {
        const char *rep[13] = {"XADD", j->reply_key, "MAXLEN", "~",
                               REPLY_MAXLEN, "*", "id", j->tid, "st", st,
                               "w", w->consumer, "p"};
        const char *full[14];
        size_t lens[14];
        for (int k = 0; k < 13; k++) {
            full[k] = rep[k];
            lens[k] = strlen(rep[k]);
        }
        full[13] = j->reply ? j->reply : "";
        lens[13] = j->reply ? j->reply_len : 0;
        append_cmd(c, rc, 14, full, lens);
        char ttl[24];
        snprintf(ttl, sizeof ttl, "%" PRId64, w->reply_ttl_ms);
        const char *px[3] = {"PEXPIRE", j->reply_key, ttl};
        size_t lpx[3] = {7, strlen(j->reply_key), strlen(ttl)};
        append_cmd(c, rc, 3, px, lpx);
        replies += 2;
    }
    const char *exec[1] = {"EXEC"};
    size_t lexec[1] = {4};
    append_cmd(c, rc, 1, exec, lexec);
    replies++;
    return *rc == 0 ? replies : 0;
}

bool tpr_write_done(tp_redis_worker *w, job *list)
{
    tpr_conn *c = &w->ctl_conn;
    int rc = 0;
    size_t n = 0;
    for (job *j = list; j; j = j->dnext)
        n++;
    int *expect = calloc(n ? n : 1, sizeof *expect);
    if (!expect)
        rc = TP_ENOMEM;
    size_t i = 0;
    for (job *j = list; j && rc == 0; j = j->dnext, i++) {
        /* A job that was never accepted by the pool has no reply: leave
         * the entry pending; another delivery will run it. */
        if (j->no_reply)
            continue;
        expect[i] = write_job(w, j, &rc);
    }
    i = 0;
    job *j = list;
    for (; j && rc == 0; i++) {
        for (int k = 0; k < expect[i] && rc == 0; k++) {
            redisReply *r;
            rc = tpr_get_reply(c, &r);
            if (rc == 0)
                freeReplyObject(r);
        }
        if (rc != 0)
            break;
        job *next = j->dnext;
        pthread_mutex_lock(&w->mu);
        if (j->hprev)
            j->hprev->hnext = j->hnext;
        else
            w->held = j->hnext;
        if (j->hnext)
            j->hnext->hprev = j->hprev;
        w->stats.held--;
        if (expect[i] > 0)
            w->stats.replied++;
        pthread_mutex_unlock(&w->mu);
        tpr_job_free(j);
        j = next;
    }
    free(expect);
    if (j) {
        tpr_requeue_done(w, j); /* not confirmed */
        if (rc == TP_ENOMEM)
            tpr_conn_close(c);
        return false;
    }
    return true;
}

/* Heartbeat and cancel markers for every held job (see the top). */
void tpr_requeue_done(tp_redis_worker *w, job *list)
{
    if (!list)
        return;
    job *tail = list;
    while (tail->dnext)
        tail = tail->dnext;
    pthread_mutex_lock(&w->mu);
    tail->dnext = w->done_head;
    if (!w->done_head)
        w->done_tail = tail;
    w->done_head = list;
    pthread_mutex_unlock(&w->mu);
}
