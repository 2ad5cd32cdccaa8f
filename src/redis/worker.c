/*
 * worker.c - the worker side: serve task streams with a local tp_pool.
 *
 * Three kinds of thread, each with one job:
 *
 * - The reader (the thread in tp_redis_worker_serve()) owns the reading
 *   connection.  It waits until a pool thread is free, then takes over
 *   tasks idle too long on other consumers (XAUTOCLAIM, at most as many as
 *   it has free threads, their delivery counts from XPENDING), then reads
 *   new entries (XREADGROUP, COUNT = free threads: nothing waits
 *   unacknowledged behind a busy thread).  Each entry becomes a job; a job
 *   that cannot or must not run (malformed, unknown function, too large,
 *   delivered too often, expired, cancel marker present) goes straight to
 *   the done list with its status; the others are submitted to the pool.
 * - Pool threads run run_job(): the task function, then the job onto the
 *   done list.
 * - The control thread owns the second connection.  It writes each done
 *   job in one MULTI/EXEC (XACK and XDEL of the entry, the reply, and the
 *   dead letter if any), keeping a job until its EXEC has been answered, so
 *   that a lost connection delays replies but never loses one.  Every
 *   heartbeat_ms it refreshes the idle time of every held entry this
 *   consumer still owns (a Lua script: XPENDING to check the owner, then
 *   XCLAIM JUSTID; an entry another worker has taken over is not taken
 *   back) and looks up the cancel markers of held tasks: a task not yet
 *   started will not start, a running one gets tp_future_cancel(), which
 *   turns tp_task_stop_requested() true inside it.
 *
 * Slots: `running` counts jobs handed to the pool whose function has not
 * returned; the reader reads at most threads - running entries.  A
 * blocking read over several streams returns up to one entry per stream,
 * so with free < nstreams it may take a few more; they wait in the pool's
 * queue and are heartbeated like the rest.
 *
 * Ownership of a job: created by the reader, on the held list (under mu)
 * until the control thread has written its reply; only the control thread
 * frees jobs, so the pointers it snapshots for a heartbeat stay valid.  The
 * reader holds mu across tp_submit_future() so that run_job() cannot finish
 * (it takes mu) before the job's local future is stored.  That makes the
 * order worker mu -> tpool's locks, which never call back into this file
 * with a lock held.
 */
#include "redis_internal.h"

#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define READ_BLOCK_MS 2000
#define CMD_TIMEOUT_MS 10000
#define DEAD_MAXLEN "10000"
#define REPLY_MAXLEN "100000"

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

typedef struct reg {
    char *name;
    tp_redis_task_fn fn;
    void *ctx;
} reg;

struct tp_redis_call {
    const char *payload;
    size_t len;
    const char *tid;
    unsigned attempt;
    size_t max_reply;
    char *reply;
    size_t reply_len;
};

typedef struct job {
    struct job *hprev, *hnext; /* held list, under mu */
    struct job *dnext;         /* done list, under mu */
    tp_redis_worker *w;
    size_t stream;
    char eid[72];
    char *tid;       /* NULL: no usable task id */
    char *reply_key; /* NULL: no usable reply key */
    const reg *fn;   /* NULL: will not run */
    char *payload;
    size_t len;
    unsigned attempt;
    int status;      /* what the reply says: 0 or a code */
    char *reply;
    size_t reply_len;
    const char *why; /* non-NULL: dead-letter with this reason */
    char **dl_argv;  /* the entry's fields, for the dead letter */
    size_t *dl_lens;
    size_t dl_n;
    tp_future *lf;   /* the local task; NULL if not run */
    atomic_bool cancel;  /* a cancel marker was seen */
    atomic_bool running; /* the function has been called */
    bool stop_sent;      /* tp_future_cancel() done (control thread) */
    bool no_reply;       /* the pool refused it: leave the entry pending */
    bool lost;           /* taken over by another consumer */
} job;

struct tp_redis_worker {
    tpr_endpoint ep;
    char consumer[TPR_NAME_MAX + 1];
    char **stream_keys; /* NS:q:NAME */
    char *dead_key;
    size_t nstreams;
    unsigned threads;
    int64_t reclaim_idle_ms, heartbeat_ms, reply_ttl_ms, drain_ms;
    size_t max_payload, max_reply;
    reg *regs;
    size_t nregs;

    pthread_mutex_t mu;
    pthread_cond_t free_cv; /* reader: a slot freed, or stop */
    pthread_cond_t ctl_cv;  /* control: done jobs, or stop */
    pthread_cond_t idle_cv; /* serve: running reached 0 */
    bool serving, stop, ctl_stop;
    unsigned running;
    job *held;      /* every job not yet replied */
    job *done_head, *done_tail;
    tp_redis_worker_stats stats;
    int64_t ctl_deadline; /* monotonic ms; after ctl_stop */

    tpr_conn read_conn, ctl_conn;
    tp_pool *pool;
};

/* ---- options and registration --------------------------------------------- */

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

static const reg *lookup(const tp_redis_worker *w, tpr_bytes name)
{
    for (size_t i = 0; i < w->nregs; i++)
        if (strlen(w->regs[i].name) == name.n &&
            memcmp(w->regs[i].name, name.p, name.n) == 0)
            return &w->regs[i];
    return NULL;
}

/* ---- the call object ---------------------------------------------------------- */

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

/* ---- jobs ------------------------------------------------------------------------ */

static void job_free(job *j)
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
static job *job_from_entry(tp_redis_worker *w, size_t stream,
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
        j->fn = lookup(w, t.fn);
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
            j->payload = dup_bytes(t.payload);
            j->len = t.payload.n;
            if (!j->payload || !j->tid) {
                job_free(j);
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

/* ---- running ------------------------------------------------------------------------ */

/* Under mu: a job onto the done list. */
static void push_done(tp_redis_worker *w, job *j)
{
    j->dnext = NULL;
    if (w->done_tail)
        w->done_tail->dnext = j;
    else
        w->done_head = j;
    w->done_tail = j;
    pthread_cond_signal(&w->ctl_cv);
}

static void *run_job(void *arg)
{
    job *j = arg;
    tp_redis_worker *w = j->w;
    tp_redis_call call = {j->payload, j->len, j->tid, j->attempt,
                          w->max_reply, NULL, 0};
    bool ran = false;
    atomic_store(&j->running, true);
    if (atomic_load(&j->cancel)) {
        j->status = TP_ECANCELED;
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
    else
        w->stats.cancelled++;
    w->running--;
    if (w->running == 0)
        pthread_cond_broadcast(&w->idle_cv);
    pthread_cond_signal(&w->free_cv);
    push_done(w, j);
    pthread_mutex_unlock(&w->mu);
    return NULL;
}

/* Admits jobs read in one go: looks up their cancel markers (one
 * pipeline), then queues each on the done list or in the pool. */
static void admit(tp_redis_worker *w, job **jobs, size_t n)
{
    tpr_conn *conn = &w->read_conn;
    size_t asked = 0;
    bool ok = true;
    for (size_t i = 0; i < n && ok; i++) {
        if (!jobs[i]->fn)
            continue;
        char key[TPR_KEY_MAX + TPR_TASKID_MAX];
        snprintf(key, sizeof key, "%s:x:%s", w->ep.ns, jobs[i]->tid);
        const char *argv[2] = {"EXISTS", key};
        size_t lens[2] = {6, strlen(key)};
        ok = tpr_append(conn, 2, argv, lens) == 0;
        asked++;
    }
    /* Without an answer the task simply runs: the marker will be seen at
     * the next heartbeat. */
    for (size_t i = 0; i < n && ok && asked > 0; i++) {
        if (!jobs[i]->fn)
            continue;
        redisReply *r;
        if (tpr_get_reply(conn, &r) != 0) {
            ok = false;
            break;
        }
        if (r->type == REDIS_REPLY_INTEGER && r->integer > 0)
            atomic_store(&jobs[i]->cancel, true);
        freeReplyObject(r);
    }
    for (size_t i = 0; i < n; i++) {
        job *j = jobs[i];
        pthread_mutex_lock(&w->mu);
        j->hprev = NULL;
        j->hnext = w->held;
        if (w->held)
            w->held->hprev = j;
        w->held = j;
        w->stats.held++;
        if (j->fn && atomic_load(&j->cancel)) {
            j->fn = NULL;
            j->status = TP_ECANCELED;
            w->stats.cancelled++;
        }
        if (!j->fn) {
            if (j->why)
                w->stats.dead++;
            push_done(w, j);
        } else {
            w->running++;
            int rc = tp_submit_future(w->pool, run_job, j, &j->lf);
            if (rc != 0) {
                /* Not accepted: the entry stays pending for a retry
                 * elsewhere; nothing is replied. */
                w->running--;
                j->lf = NULL;
                j->fn = NULL;
                j->status = rc;
                j->no_reply = true;
                push_done(w, j);
            }
        }
        pthread_mutex_unlock(&w->mu);
    }
}

/* ---- the reader ---------------------------------------------------------------------- */

/* Sleeps ms on free_cv unless stopped; true when stopping. */
static bool backoff(tp_redis_worker *w, pthread_cond_t *cv, int64_t ms,
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

static int ensure_groups(tp_redis_worker *w)
{
    for (size_t i = 0; i < w->nstreams; i++) {
        int rc = tpr_ensure_group(&w->read_conn, w->stream_keys[i], w->ep.ns);
        if (rc != 0)
            return rc;
    }
    return 0;
}

/* Turns an entry list (an XREADGROUP stream's, XAUTOCLAIM's) into jobs and
 * admits them; counts[i] is each entry's delivery count (NULL: 1). */
static size_t take_entries(tp_redis_worker *w, size_t stream,
                           const redisReply *list, const unsigned *counts)
{
    if (!list || list->type != REDIS_REPLY_ARRAY || list->elements == 0)
        return 0;
    job **jobs = calloc(list->elements, sizeof *jobs);
    if (!jobs)
        return 0;
    size_t n = 0;
    for (size_t i = 0; i < list->elements; i++) {
        job *j = job_from_entry(w, stream, list->element[i],
                                counts ? counts[i] : 1);
        if (j)
            jobs[n++] = j;
    }
    admit(w, jobs, n);
    free(jobs);
    return n;
}

/* XAUTOCLAIM on each stream, up to `room` entries in all; their delivery
 * counts come from XPENDING (one pipeline).  Returns the number taken, or
 * -1 after an I/O error. */
static long reclaim(tp_redis_worker *w, char (*cursor)[72], size_t room)
{
    tpr_conn *conn = &w->read_conn;
    long taken = 0;
    char idle[24];
    snprintf(idle, sizeof idle, "%" PRId64, w->reclaim_idle_ms);
    for (size_t s = 0; s < w->nstreams && room > 0; s++) {
        char count[24];
        snprintf(count, sizeof count, "%zu", room);
        const char *argv[8] = {"XAUTOCLAIM", w->stream_keys[s], w->ep.ns,
                               w->consumer, idle, cursor[s], "COUNT", count};
        size_t lens[8];
        for (int k = 0; k < 8; k++)
            lens[k] = strlen(argv[k]);
        redisReply *r;
        if (tpr_command(conn, 8, argv, lens, &r) != 0)
            return -1;
        if (r->type != REDIS_REPLY_ARRAY || r->elements < 2 ||
            r->element[0]->type != REDIS_REPLY_STRING ||
            r->element[1]->type != REDIS_REPLY_ARRAY) {
            bool nogroup = tpr_error_is(r, "NOGROUP");
            freeReplyObject(r);
            if (nogroup && ensure_groups(w) != 0)
                return -1;
            continue;
        }
        snprintf(cursor[s], 72, "%.*s", (int)r->element[0]->len,
                 r->element[0]->str);
        const redisReply *list = r->element[1];
        unsigned *counts = calloc(list->elements + 1, sizeof *counts);
        if (!counts) {
            freeReplyObject(r);
            continue;
        }
        size_t asked = 0;
        int rc = 0;
        for (size_t i = 0; i < list->elements && rc == 0; i++) {
            tpr_bytes id;
            const redisReply *fields;
            counts[i] = 1;
            (void)tpr_entry_split(list->element[i], &id, &fields);
            if (id.n == 0)
                continue;
            const char *pargv[6] = {"XPENDING", w->stream_keys[s], w->ep.ns,
                                    id.p, id.p, "1"};
            size_t plens[6] = {8, strlen(w->stream_keys[s]), strlen(w->ep.ns),
                               id.n, id.n, 1};
            rc = tpr_append(conn, 6, pargv, plens);
            asked++;
        }
        for (size_t i = 0, k = 0; i < list->elements && rc == 0 && k < asked;
             i++) {
            tpr_bytes id;
            const redisReply *fields;
            (void)tpr_entry_split(list->element[i], &id, &fields);
            if (id.n == 0)
                continue;
            k++;
            redisReply *p;
            rc = tpr_get_reply(conn, &p);
            if (rc != 0)
                break;
            /* [[id, consumer, idle, count]] */
            if (p->type == REDIS_REPLY_ARRAY && p->elements == 1 &&
                p->element[0]->type == REDIS_REPLY_ARRAY &&
                p->element[0]->elements == 4 &&
                p->element[0]->element[3]->type == REDIS_REPLY_INTEGER) {
                long long c = p->element[0]->element[3]->integer;
                counts[i] = c < 1 ? 1 : c > 100000 ? 100000 : (unsigned)c;
            }
            freeReplyObject(p);
        }
        if (rc != 0) {
            free(counts);
            freeReplyObject(r);
            return -1;
        }
        size_t got = take_entries(w, s, list, counts);
        pthread_mutex_lock(&w->mu);
        w->stats.reclaimed += got;
        pthread_mutex_unlock(&w->mu);
        taken += (long)got;
        room = room > got ? room - got : 0;
        free(counts);
        freeReplyObject(r);
    }
    return taken;
}

/* One XREADGROUP: COUNT room, over streams [0, m), blocking block_ms
 * (negative: not at all).  Returns the number of entries taken, or -1
 * after an I/O error. */
static long read_new(tp_redis_worker *w, size_t first, size_t m, size_t room,
                     int64_t block_ms)
{
    const char *argv[8 + 2 * TPR_MAX_STREAMS];
    size_t lens[8 + 2 * TPR_MAX_STREAMS];
    char count[24], block[24];
    snprintf(count, sizeof count, "%zu", room);
    snprintf(block, sizeof block, "%" PRId64, block_ms);
    int argc = 0;
    argv[argc++] = "XREADGROUP";
    argv[argc++] = "GROUP";
    argv[argc++] = w->ep.ns;
    argv[argc++] = w->consumer;
    argv[argc++] = "COUNT";
    argv[argc++] = count;
    if (block_ms >= 0) {
        argv[argc++] = "BLOCK";
        argv[argc++] = block;
    }
    argv[argc++] = "STREAMS";
    for (size_t i = first; i < first + m; i++)
        argv[argc++] = w->stream_keys[i];
    for (size_t i = 0; i < m; i++)
        argv[argc++] = ">";
    for (int k = 0; k < argc; k++)
        lens[k] = strlen(argv[k]);
    redisReply *r;
    if (tpr_command(&w->read_conn, argc, argv, lens, &r) != 0)
        return -1;
    long taken = 0;
    if (tpr_error_is(r, "NOGROUP")) {
        freeReplyObject(r);
        return ensure_groups(w) == 0 ? 0 : -1;
    }
    /* [[key, [entries]], ...] or NIL */
    if (r->type == REDIS_REPLY_ARRAY) {
        for (size_t i = 0; i < r->elements; i++) {
            const redisReply *sr = r->element[i];
            if (!sr || sr->type != REDIS_REPLY_ARRAY || sr->elements != 2 ||
                sr->element[0]->type != REDIS_REPLY_STRING)
                continue;
            size_t s = SIZE_MAX;
            for (size_t k = first; k < first + m; k++)
                if (strlen(w->stream_keys[k]) == sr->element[0]->len &&
                    memcmp(w->stream_keys[k], sr->element[0]->str,
                           sr->element[0]->len) == 0)
                    s = k;
            if (s != SIZE_MAX)
                taken += (long)take_entries(w, s, sr->element[1], NULL);
        }
    }
    freeReplyObject(r);
    return taken;
}

/* The reader's loop, until stop.  Returns 0, or TP_REDIS_EAUTH when the
 * very first login is refused. */
static int reader_loop(tp_redis_worker *w)
{
    char cursor[TPR_MAX_STREAMS][72];
    for (size_t s = 0; s < w->nstreams; s++)
        strcpy(cursor[s], "0-0");
    int64_t delay = 0, next_reclaim = 0;
    bool ever = false;
    for (;;) {
        pthread_mutex_lock(&w->mu);
        while (!w->stop && w->running >= w->threads)
            pthread_cond_wait(&w->free_cv, &w->mu);
        bool stop = w->stop;
        size_t room = w->threads - w->running;
        pthread_mutex_unlock(&w->mu);
        if (stop)
            return 0;
        if (!w->read_conn.ctx) {
            int rc = tpr_conn_ensure(&w->read_conn, &w->ep,
                                     READ_BLOCK_MS + CMD_TIMEOUT_MS);
            if (rc == 0)
                rc = ensure_groups(w);
            if (rc == TP_REDIS_EAUTH && !ever)
                return rc;
            if (rc == TP_ESHUTDOWN)
                return 0;
            if (rc != 0) {
                tpr_conn_close(&w->read_conn);
                delay = tpr_backoff_next(delay);
                if (backoff(w, &w->free_cv, delay, false))
                    return 0;
                continue;
            }
            if (ever) {
                pthread_mutex_lock(&w->mu);
                w->stats.reconnects++;
                pthread_mutex_unlock(&w->mu);
            }
            ever = true;
            delay = 0;
        }
        int64_t now = tpr_mono_ms();
        if (now >= next_reclaim) {
            long got = reclaim(w, cursor, room);
            if (got < 0)
                continue;
            room = room > (size_t)got ? room - (size_t)got : 0;
            /* A full scan of every stream ends at cursor 0-0; until then,
             * go on at the next free slot. */
            bool scanned = true;
            for (size_t s = 0; s < w->nstreams; s++)
                if (strcmp(cursor[s], "0-0") != 0)
                    scanned = false;
            next_reclaim = scanned ? now + w->heartbeat_ms : now;
            if (room == 0)
                continue;
        }
        long got = 0;
        if (w->nstreams > 1) {
            /* Highest priority first, without blocking. */
            for (size_t s = 0; s < w->nstreams && room > 0 && got >= 0; s++) {
                long g = read_new(w, s, 1, room, -1);
                got = g < 0 ? -1 : got + g;
                if (g > 0)
                    room = room > (size_t)g ? room - (size_t)g : 0;
            }
            if (got != 0)
                continue;
        }
        int64_t block = next_reclaim - tpr_mono_ms();
        if (block > READ_BLOCK_MS)
            block = READ_BLOCK_MS;
        if (block < 1)
            block = 1;
        (void)read_new(w, 0, w->nstreams, room, block);
    }
}

/* ---- the control thread -------------------------------------------------------------- */

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

/* Writes the done jobs; those answered are unlinked and freed, the rest
 * go back to the front of the done list.  Returns false after an I/O
 * error. */
static bool write_done(tp_redis_worker *w, job *list)
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
        job_free(j);
        j = next;
    }
    free(expect);
    if (j) {
        /* Not confirmed: back to the front, in order. */
        job *tail = j;
        while (tail->dnext)
            tail = tail->dnext;
        pthread_mutex_lock(&w->mu);
        tail->dnext = w->done_head;
        if (!w->done_head)
            w->done_tail = tail;
        w->done_head = j;
        pthread_mutex_unlock(&w->mu);
        if (rc == TP_ENOMEM)
            tpr_conn_close(c);
        return false;
    }
    return true;
}

/* Heartbeat and cancel markers for every held job (see the top). */
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
    if (rc == TP_ENOMEM)
        return true;
    return rc == 0;
}

static void *control_main(void *arg)
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
        if (quit)
            break;
        if (!w->ctl_conn.ctx) {
            int rc = tpr_conn_ensure(&w->ctl_conn, &w->ep, CMD_TIMEOUT_MS);
            if (rc != 0) {
                if (list) {
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
                if (rc == TP_ESHUTDOWN)
                    break;
                delay = tpr_backoff_next(delay);
                pthread_mutex_lock(&w->mu);
                bool give_up = w->ctl_stop &&
                               tpr_mono_ms() >= w->ctl_deadline;
                pthread_mutex_unlock(&w->mu);
                if (give_up || backoff(w, &w->ctl_cv, delay, true)) {
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
        if (list && !write_done(w, list))
            continue;
        if (tpr_mono_ms() >= next_hb) {
            next_hb = tpr_mono_ms() + w->heartbeat_ms;
            (void)heartbeat(w);
        }
    }
    tpr_conn_close(&w->ctl_conn);
    return NULL;
}

/* ---- serve, stop, destroy --------------------------------------------------------------- */

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
    if (pthread_create(&ctl, NULL, control_main, w) != 0) {
        tp_pool_destroy(w->pool);
        w->pool = NULL;
        tpr_sigpipe_restore(&sp);
        return TP_EAGAIN;
    }
    rc = reader_loop(w);
    tpr_conn_close(&w->read_conn);

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
    w->done_head = w->done_tail = NULL;
    w->stats.held = 0;
    w->running = 0;
    pthread_mutex_unlock(&w->mu);
    while (held) {
        job *next = held->hnext;
        job_free(held);
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
