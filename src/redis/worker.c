/*
 * worker.c - a worker's life cycle: options, registration, the call object
 * a task function sees, serve, stop, destroy and the counters.
 *
 * tp_redis_worker_serve() is where the threads come from: it creates the
 * local tp_pool (whose threads run the jobs, worker_job.c), starts the
 * control thread (worker_control.c), then runs the reader on the calling
 * thread (worker_read.c) until tp_redis_worker_stop().  Then it drains:
 * the running tasks may finish (asked to stop after drain_ms), the control
 * thread writes their replies until the same deadline, and whatever is
 * left unreplied stays pending in Redis for another worker.
 *
 * Ownership: the worker owns its copies of every option string, the
 * registrations (read-only once serving: registering is refused then) and,
 * after serve has joined the control thread, every job left on the held
 * list.  Locks: w->mu, see worker_internal.h; registration reads the
 * serving flag under it.
 */
#include "worker_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- options and registration ------------------------------------------- */

int tp_redis_worker_opts_init(tp_redis_worker_opts *opts)
{
    if (!opts)
        return TP_EINVAL;
    memset(opts, 0, sizeof *opts);
    opts->conn.connect_timeout_ms = 2000;
    opts->reclaim_idle_ms = 30000;
    opts->max_payload = 1u << 20;
    opts->max_reply = 1u << 20;
    opts->reply_ttl_ms = 86400000;
    opts->drain_ms = 10000;
    return 0;
}

static void worker_free(tp_redis_worker *w)
{
    for (size_t i = 0; i < w->nstreams; i++)
        free(w->stream_keys[i]);
    free(w->stream_keys);
    free(w->dead_key);
    for (size_t i = 0; i < w->nregs; i++)
        free(w->regs[i].name);
    free(w->regs);
    tpr_endpoint_free(&w->ep);
    free(w);
}

int tp_redis_worker_create(tp_redis_worker **out,
                           const tp_redis_worker_opts *opts)
{
    if (!out)
        return TP_EINVAL;
    tp_redis_worker_opts def;
    if (!opts) {
        tp_redis_worker_opts_init(&def);
        opts = &def;
    }
    static const char *const default_stream[1] = {"default"};
    const char *const *streams = opts->streams;
    size_t nstreams = opts->nstreams;
    if (!streams || nstreams == 0) {
        streams = default_stream;
        nstreams = 1;
    }
    int64_t hb = opts->heartbeat_ms ? opts->heartbeat_ms
                                    : opts->reclaim_idle_ms / 3;
    if (nstreams > TPR_MAX_STREAMS || opts->reclaim_idle_ms < 50 || hb <= 0 ||
        hb >= opts->reclaim_idle_ms || opts->max_payload == 0 ||
        opts->max_reply == 0 || opts->reply_ttl_ms <= 0 ||
        opts->threads > TP_MAX_THREADS ||
        (opts->consumer && !tpr_name_ok(opts->consumer, TPR_NAME_MAX, NULL)))
        return TP_EINVAL;
    for (size_t i = 0; i < nstreams; i++)
        if (!tpr_name_ok(streams[i], TPR_NAME_MAX, NULL))
            return TP_EINVAL;
    tp_redis_worker *w = calloc(1, sizeof *w);
    if (!w)
        return TP_ENOMEM;
    int rc = tpr_endpoint_init(&w->ep, &opts->conn);
    if (rc != 0) {
        free(w);
        return rc;
    }
    w->stream_keys = calloc(nstreams, sizeof *w->stream_keys);
    w->dead_key = tpr_concat3(w->ep.ns, ":dead", "");
    if (!w->stream_keys || !w->dead_key) {
        worker_free(w);
        return TP_ENOMEM;
    }
    for (size_t i = 0; i < nstreams; i++) {
        w->stream_keys[i] = tpr_concat3(w->ep.ns, ":q:", streams[i]);
        if (!w->stream_keys[i]) {
            worker_free(w);
            return TP_ENOMEM;
        }
        w->nstreams = i + 1;
    }
    if (opts->consumer)
        snprintf(w->consumer, sizeof w->consumer, "%s", opts->consumer);
    else
        tpr_default_name(w->consumer, sizeof w->consumer);
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    w->threads = opts->threads ? opts->threads
                               : (unsigned)(cpus > 0 ? cpus : 1);
    w->reclaim_idle_ms = opts->reclaim_idle_ms;
    w->heartbeat_ms = hb;
    w->reply_ttl_ms = opts->reply_ttl_ms;
    w->drain_ms = opts->drain_ms;
    w->max_payload = opts->max_payload;
    w->max_reply = opts->max_reply;
    w->trim_keep_max = TRIM_KEEP_MAX;
    for (size_t i = 0; i < TPR_MAX_STREAMS; i++)
        atomic_init(&w->del_each[i], false);
    if (pthread_mutex_init(&w->mu, NULL) != 0) {
        worker_free(w);
        return TP_ENOMEM;
    }
    if (tpr_cond_init(&w->free_cv) != 0 || tpr_cond_init(&w->ctl_cv) != 0 ||
        tpr_cond_init(&w->idle_cv) != 0 || tpr_conn_init(&w->read_conn) != 0 ||
        tpr_conn_init(&w->ctl_conn) != 0) {
        /* Condition variables need no destruction on Linux when never
         * waited on; the mutex does. */
        pthread_mutex_destroy(&w->mu);
        worker_free(w);
        return TP_ENOMEM;
    }
    *out = w;
    return 0;
}

int tp_redis_worker_register(tp_redis_worker *w, const char *name,
                             tp_redis_task_fn fn, void *ctx)
{
    if (!w || !name || !fn)
        return TP_EINVAL;
    size_t n = strlen(name);
    if (n == 0 || n > TPR_FN_MAX)
        return TP_EINVAL;
    pthread_mutex_lock(&w->mu);
    bool serving = w->serving;
    pthread_mutex_unlock(&w->mu);
    if (serving)
        return TP_EBUSY;
    for (size_t i = 0; i < w->nregs; i++)
        if (strcmp(w->regs[i].name, name) == 0)
            return TP_EINVAL;
    reg *r = realloc(w->regs, (w->nregs + 1) * sizeof *r);
    if (!r)
        return TP_ENOMEM;
    w->regs = r;
    char *copy = tpr_strdup(name);
    if (!copy)
        return TP_ENOMEM;
    w->regs[w->nregs].name = copy;
    w->regs[w->nregs].fn = fn;
    w->regs[w->nregs].ctx = ctx;
    w->nregs++;
    return 0;
}

const reg *tpr_worker_lookup(const tp_redis_worker *w, tpr_bytes name)
{
    for (size_t i = 0; i < w->nregs; i++)
        if (strlen(w->regs[i].name) == name.n &&
            memcmp(w->regs[i].name, name.p, name.n) == 0)
            return &w->regs[i];
    return NULL;
}

/* ---- the call object ---------------------------------------------------- */

const void *tp_redis_call_payload(const tp_redis_call *call, size_t *len)
{
    if (!call) {
        if (len)
            *len = 0;
        return NULL;
    }
    if (len)
        *len = call->len;
    return call->payload;
}

int tp_redis_call_reply(tp_redis_call *call, const void *data, size_t len)
{
    if (!call || (!data && len > 0))
        return TP_EINVAL;
    if (len > call->max_reply)
        return TP_REDIS_ETOOBIG;
    char *copy = malloc(len + 1);
    if (!copy)
        return TP_ENOMEM;
    if (len)
        memcpy(copy, data, len);
    copy[len] = 0;
    free(call->reply);
    call->reply = copy;
    call->reply_len = len;
    return 0;
}

const char *tp_redis_call_task_id(const tp_redis_call *call)
{
    return call ? call->tid : NULL;
}

unsigned tp_redis_call_attempt(const tp_redis_call *call)
{
    return call ? call->attempt : 0;
}

bool tpr_worker_backoff(tp_redis_worker *w, pthread_cond_t *cv, int64_t ms,
                        bool ctl)
{
    struct timespec ts;
    tpr_deadline_ts(ms, &ts);
    pthread_mutex_lock(&w->mu);
    while (!(ctl ? w->ctl_stop : w->stop))
        if (pthread_cond_timedwait(cv, &w->mu, &ts) != 0)
            break;
    bool s = ctl ? w->ctl_stop : w->stop;
    pthread_mutex_unlock(&w->mu);
    return s;
}

/* ---- serve, stop, destroy ----------------------------------------------- */

int tp_redis_worker_serve(tp_redis_worker *w)
{
    if (!w)
        return TP_EINVAL;
    pthread_mutex_lock(&w->mu);
    if (w->serving) {
        pthread_mutex_unlock(&w->mu);
        return TP_EBUSY;
    }
    w->serving = true;
    pthread_mutex_unlock(&w->mu);

    /* SIGPIPE blocked from here on: in this thread, and in the pool's and
     * the control thread, which inherit the mask. */
    tpr_sigpipe sp;
    tpr_sigpipe_block(&sp);
    tp_options po;
    tp_options_init(&po);
    po.threads = w->threads;
    po.name = "tp-redis";
    int rc = tp_pool_create(&w->pool, &po);
    if (rc != 0) {
        tpr_sigpipe_restore(&sp);
        return rc;
    }
    pthread_t ctl;
    if (pthread_create(&ctl, NULL, tpr_control_main, w) != 0) {
        tp_pool_destroy(w->pool);
        w->pool = NULL;
        tpr_sigpipe_restore(&sp);
        return TP_EAGAIN;
    }
    rc = tpr_reader_loop(w);
    tpr_conn_close(&w->read_conn);
    /* What finished for the reader to write goes to the control thread. */
    pthread_mutex_lock(&w->mu);
    w->reader_waiting = false;
    pthread_cond_broadcast(&w->ctl_cv);
    pthread_mutex_unlock(&w->mu);

    /* Drain: let the running tasks finish (asking them to stop after
     * drain_ms), then let the control thread write their replies until
     * the same deadline. */
    int64_t deadline = w->drain_ms < 0 ? INT64_MAX
                                       : tpr_mono_ms() + w->drain_ms;
    pthread_mutex_lock(&w->mu);
    while (w->running > 0) {
        int64_t left = deadline - tpr_mono_ms();
        if (left <= 0)
            break;
        struct timespec ts;
        tpr_deadline_ts(left > 3600000 ? 3600000 : left, &ts);
        pthread_cond_timedwait(&w->idle_cv, &w->mu, &ts);
    }
    bool late = w->running > 0;
    pthread_mutex_unlock(&w->mu);
    if (late) {
        pthread_mutex_lock(&w->mu);
        for (job *j = w->held; j; j = j->hnext)
            atomic_store(&j->cancel, true);
        pthread_mutex_unlock(&w->mu);
        /* Cancels what is queued, asks what runs to stop, waits for it. */
        tp_pool_shutdown_now(w->pool, NULL, NULL);
    }
    tp_pool_destroy(w->pool);
    w->pool = NULL;
    pthread_mutex_lock(&w->mu);
    w->ctl_stop = true;
    w->ctl_deadline = deadline;
    pthread_cond_broadcast(&w->ctl_cv);
    pthread_mutex_unlock(&w->mu);
    pthread_join(ctl, NULL);

    /* What was not replied to stays pending in Redis. */
    pthread_mutex_lock(&w->mu);
    job *held = w->held;
    w->held = NULL;
    job *dead = w->graveyard;
    w->graveyard = NULL;
    while (dead) {
        job *next = dead->dnext;
        tpr_job_free(dead); /* (no lock taken by freeing) */
        dead = next;
    }
    w->done_head = w->done_tail = NULL;
    w->stats.held = 0;
    w->running = 0;
    pthread_mutex_unlock(&w->mu);
    while (held) {
        job *next = held->hnext;
        tpr_job_free(held);
        held = next;
    }
    tpr_sigpipe_restore(&sp);
    return rc;
}

int tp_redis_worker_stop(tp_redis_worker *w)
{
    if (!w)
        return TP_EINVAL;
    pthread_mutex_lock(&w->mu);
    w->stop = true;
    pthread_cond_broadcast(&w->free_cv);
    pthread_mutex_unlock(&w->mu);
    tpr_conn_interrupt(&w->read_conn);
    return 0;
}

int tp_redis_worker_stats_get(tp_redis_worker *w, tp_redis_worker_stats *stats)
{
    if (!w || !stats)
        return TP_EINVAL;
    pthread_mutex_lock(&w->mu);
    *stats = w->stats;
    pthread_mutex_unlock(&w->mu);
    return 0;
}

int tp_redis_worker_destroy(tp_redis_worker *w)
{
    if (!w)
        return TP_EINVAL;
    pthread_mutex_lock(&w->mu);
    bool busy = w->serving && w->pool != NULL;
    pthread_mutex_unlock(&w->mu);
    if (busy)
        return TP_EBUSY;
    tpr_conn_destroy(&w->read_conn);
    tpr_conn_destroy(&w->ctl_conn);
    pthread_cond_destroy(&w->idle_cv);
    pthread_cond_destroy(&w->ctl_cv);
    pthread_cond_destroy(&w->free_cv);
    pthread_mutex_destroy(&w->mu);
    worker_free(w);
    return 0;
}
