/*
 * worker_control.c - the control thread: owner of the second connection.
 *
 * It sleeps until there are done jobs the reader will not write (it is
 * blocked in a read, or busy) or a heartbeat is due.  Done jobs go to the
 * writer (worker_write.c), and so does the trim of what was acknowledged
 * since the last one, at each heartbeat and at the end.  Every
 * heartbeat_ms it refreshes the idle time of every held entry this
 * consumer still owns (a Lua script:
 * XPENDING to check the owner, then XCLAIM JUSTID; an entry another worker
 * has taken over is not taken back, and the job is marked lost) and looks
 * up the cancel markers of held tasks: a task not yet started will not
 * start, a running one gets tp_future_cancel(), which turns
 * tp_task_stop_requested() true inside it.  After a lost connection it
 * reconnects with backoff; at the end of serve it writes what is left
 * until the drain deadline.
 *
 * Ownership: the heartbeat snapshots the held list's pointers under w->mu
 * and uses them without it, which is safe because meanwhile (hb_busy) the
 * reader only unlinks the jobs it writes, into the graveyard this thread
 * then frees.  `stop_sent` and `lost` are this thread's alone.
 */
#include "worker_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* KEYS[1] stream, ARGV[1] group, ARGV[2] consumer, ARGV[3..] entry ids:
 * refresh the entries this consumer owns; 1 for each refreshed, 0 for each
 * owned by someone else or gone. */
static const char heartbeat_lua[] =
    "local out = {}\n"
    "for i = 3, #ARGV do\n"
    "  local p = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[i], ARGV[i], 1)\n"
    "  if p[1] and p[1][2] == ARGV[2] then\n"
    "    redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], 0, ARGV[i], 'JUSTID')\n"
    "    out[#out + 1] = 1\n"
    "  else\n"
    "    out[#out + 1] = 0\n"
    "  end\n"
    "end\n"
    "return out\n";

static bool heartbeat(tp_redis_worker *w)
{
    tpr_conn *c = &w->ctl_conn;
    pthread_mutex_lock(&w->mu);
    size_t n = 0;
    for (job *j = w->held; j; j = j->hnext)
        n++;
    job **snap = calloc(n ? n : 1, sizeof *snap);
    if (snap) {
        n = 0;
        for (job *j = w->held; j; j = j->hnext)
            snap[n++] = j;
        w->hb_busy = true; /* the reader may not free them now */
    }
    pthread_mutex_unlock(&w->mu);
    if (!snap)
        return true;
    int rc = 0;
    size_t scripts = 0, markers = 0;
    /* One script per stream, over that stream's entries not known lost. */
    const char **argv = malloc((n + 6) * sizeof *argv);
    size_t *lens = malloc((n + 6) * sizeof *lens);
    size_t *per = calloc(w->nstreams, sizeof *per);
    if (!argv || !lens || !per)
        rc = TP_ENOMEM;
    for (size_t s = 0; s < w->nstreams && rc == 0; s++) {
        int argc = 0;
        argv[argc++] = "EVAL";
        argv[argc++] = heartbeat_lua;
        argv[argc++] = "1";
        argv[argc++] = w->stream_keys[s];
        argv[argc++] = w->ep.ns;
        argv[argc++] = w->consumer;
        for (size_t i = 0; i < n; i++)
            if (snap[i]->stream == s && !snap[i]->lost)
                argv[argc++] = snap[i]->eid;
        per[s] = (size_t)argc - 6;
        if (per[s] == 0)
            continue;
        for (int k = 0; k < argc; k++)
            lens[k] = strlen(argv[k]);
        rc = tpr_append(c, argc, argv, lens);
        scripts++;
    }
    for (size_t i = 0; i < n && rc == 0; i++) {
        if (!snap[i]->tid || !snap[i]->lf || snap[i]->stop_sent)
            continue;
        char key[TPR_KEY_MAX + TPR_TASKID_MAX];
        snprintf(key, sizeof key, "%s:x:%s", w->ep.ns, snap[i]->tid);
        const char *a[2] = {"EXISTS", key};
        size_t l[2] = {6, strlen(key)};
        rc = tpr_append(c, 2, a, l);
        markers++;
    }
    for (size_t s = 0; s < w->nstreams && rc == 0; s++) {
        if (per[s] == 0)
            continue;
        redisReply *r;
        rc = tpr_get_reply(c, &r);
        if (rc != 0)
            break;
        if (r->type == REDIS_REPLY_ARRAY) {
            size_t k = 0;
            for (size_t i = 0; i < n && k < r->elements; i++) {
                if (snap[i]->stream != s || snap[i]->lost)
                    continue;
                const redisReply *e = r->element[k++];
                if (e->type == REDIS_REPLY_INTEGER && e->integer == 0)
                    snap[i]->lost = true;
            }
        }
        freeReplyObject(r);
    }
    for (size_t i = 0; i < n && rc == 0; i++) {
        if (!snap[i]->tid || !snap[i]->lf || snap[i]->stop_sent)
            continue;
        redisReply *r;
        rc = tpr_get_reply(c, &r);
        if (rc != 0)
            break;
        if (r->type == REDIS_REPLY_INTEGER && r->integer > 0) {
            atomic_store(&snap[i]->cancel, true);
            if (atomic_load(&snap[i]->running)) {
                /* Running (or just finished: then EALREADY). */
                (void)tp_future_cancel(snap[i]->lf);
                snap[i]->stop_sent = true;
            }
        }
        freeReplyObject(r);
    }
    (void)markers;
    (void)scripts;
    free(argv);
    free(lens);
    free(per);
    free(snap);
    pthread_mutex_lock(&w->mu);
    w->hb_busy = false;
    job *dead = w->graveyard;
    w->graveyard = NULL;
    pthread_mutex_unlock(&w->mu);
    while (dead) {
        job *next = dead->dnext;
        tpr_job_free(dead);
        dead = next;
    }
    if (rc == TP_ENOMEM)
        return true;
    return rc == 0;
}

void *tpr_control_main(void *arg)
{
    tp_redis_worker *w = arg;
    tpr_sigpipe sp;
    tpr_sigpipe_block(&sp); /* for the thread's whole life */
    int64_t delay = 0;
    int64_t next_hb = tpr_mono_ms() + w->heartbeat_ms;
    for (;;) {
        struct timespec ts;
        pthread_mutex_lock(&w->mu);
        for (;;) {
            if (w->done_head)
                break;
            if (w->ctl_stop && (!w->held || tpr_mono_ms() >= w->ctl_deadline))
                break;
            int64_t now = tpr_mono_ms();
            if (now >= next_hb)
                break;
            int64_t until = next_hb;
            if (w->ctl_stop && w->ctl_deadline < until)
                until = w->ctl_deadline;
            tpr_deadline_ts(until - now, &ts);
            pthread_cond_timedwait(&w->ctl_cv, &w->mu, &ts);
        }
        job *list = w->done_head;
        w->done_head = w->done_tail = NULL;
        bool quit = w->ctl_stop && !list &&
                    (!w->held || tpr_mono_ms() >= w->ctl_deadline);
        pthread_mutex_unlock(&w->mu);
        if (quit) {
            /* What was acknowledged since the last trim, on a connection
             * this thread may not have needed so far (one attempt). */
            if (w->ctl_conn.ctx ||
                tpr_conn_ensure(&w->ctl_conn, &w->ep, CMD_TIMEOUT_MS) == 0)
                (void)tpr_trim_now(w, &w->ctl_conn);
            break;
        }
        if (!w->ctl_conn.ctx) {
            int rc = tpr_conn_ensure(&w->ctl_conn, &w->ep, CMD_TIMEOUT_MS);
            if (rc != 0) {
                tpr_requeue_done(w, list);
                if (rc == TP_ESHUTDOWN)
                    break;
                delay = tpr_backoff_next(delay);
                pthread_mutex_lock(&w->mu);
                bool give_up = w->ctl_stop &&
                               tpr_mono_ms() >= w->ctl_deadline;
                pthread_mutex_unlock(&w->mu);
                if (give_up ||
                    tpr_worker_backoff(w, &w->ctl_cv, delay, true)) {
                    pthread_mutex_lock(&w->mu);
                    give_up = tpr_mono_ms() >= w->ctl_deadline;
                    pthread_mutex_unlock(&w->mu);
                    if (give_up)
                        break;
                }
                continue;
            }
            if (delay) {
                pthread_mutex_lock(&w->mu);
                w->stats.reconnects++;
                pthread_mutex_unlock(&w->mu);
            }
            delay = 0;
        }
        if (list && !tpr_write_done(w, &w->ctl_conn, list))
            continue;
        if (tpr_mono_ms() >= next_hb) {
            next_hb = tpr_mono_ms() + w->heartbeat_ms;
            if (heartbeat(w) && w->ctl_conn.ctx)
                (void)tpr_trim_now(w, &w->ctl_conn);
        }
    }
    tpr_conn_close(&w->ctl_conn);
    return NULL;
}

