/*
 * worker_write.c - the writer: acknowledgements, replies and dead letters
 * of every job done since the last write, in one MULTI/EXEC transaction,
 * and the trimming of what every worker is done with.
 *
 * One transaction covers up to TX_JOBS done jobs: per stream one XACK of
 * all their entries, each dead letter, each reply (XADD to the client's
 * reply stream), one PEXPIRE per reply stream.  A task is so never
 * acknowledged without its reply, nor replied to and left pending, and a
 * busy worker spends one round trip on as many jobs as finished meanwhile
 * rather than one per job.  Nothing waits to fill a transaction: the
 * control thread writes as soon as a job is done and the previous write
 * has been answered (worker_control.c).
 *
 * Trimming: an acknowledged entry is not deleted one by one (Redis walks
 * the stream's head node for each XDEL, which cost more than all the rest
 * of a task's commands); once per TRIM_EVERY acknowledgements, in the same
 * pipeline, and at each heartbeat, a script trims each stream up to the
 * group's oldest pending entry (every worker is done with what precedes
 * it), or, with nothing pending, up to and including the last entry
 * delivered.  What no worker has read and what a worker holds are never
 * touched.  A task that runs long holds the head back; the script says
 * how many done entries it kept, and past trim_keep_max the stream's
 * entries are deleted each with its XACK (XDEL, in the same transaction)
 * until a trim finds few kept again.
 *
 * Two threads write: the reader, which puts the jobs done since its last
 * read in front of its next XREADGROUP (one round trip for both, and no
 * other thread to wake), and the control thread, for jobs that finish
 * while the reader is busy or blocked in a read (worker_read.c decides).
 *
 * A job stays on the held list until its EXEC has been answered, so that a
 * lost connection delays replies but never loses one: what was not
 * confirmed goes back to the front of the done list, in order, and is
 * written again after the reconnect (an acknowledgement or a reply written
 * twice is harmless: XACK of an entry no longer pending does nothing, and
 * the client drops a second reply).  A job the pool refused (no_reply) is
 * not written at all: its entry stays pending, for another delivery.
 *
 * Ownership: each writer on its own connection, with the jobs it took off
 * the done list.  A confirmed job is freed by its writer, except that the
 * reader's go to the graveyard while the control thread's heartbeat holds
 * a snapshot of held jobs (the control thread frees them afterwards).
 * Locks: w->mu to unlink confirmed jobs, to requeue and to count what is
 * untrimmed, never during I/O; del_each is atomic.
 */
#include "worker_internal.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TX_JOBS 256

/* ---- transactions ------------------------------------------------------- */

static void append_cmd(tpr_conn *c, int *rc, int argc, const char **argv,
                       const size_t *lens)
{
    if (*rc == 0)
        *rc = tpr_append(c, argc, argv, lens);
}

/* XACK key group ids... or XDEL key ids... of the jobs on stream s. */
static size_t append_entries(tp_redis_worker *w, tpr_conn *c, job **jobs,
                             size_t n, size_t s, bool ack, const char **argv,
                             size_t *lens, int *rc)
{
    int argc = 0;
    argv[argc++] = ack ? "XACK" : "XDEL";
    argv[argc++] = w->stream_keys[s];
    if (ack)
        argv[argc++] = w->ep.ns;
    int head = argc;
    for (size_t i = 0; i < n; i++)
        if (jobs[i]->stream == s)
            argv[argc++] = jobs[i]->eid;
    if (argc == head)
        return 0;
    for (int k = 0; k < argc; k++)
        lens[k] = strlen(argv[k]);
    append_cmd(c, rc, argc, argv, lens);
    return 1;
}

static size_t append_dead_letter(tp_redis_worker *w, tpr_conn *c,
                                 const job *j, const char *st, int *rc)
{
    char n[16];
    snprintf(n, sizeof n, "%u", j->attempt);
    const char *key = w->stream_keys[j->stream];
    size_t argc = 16 + j->dl_n;
    const char **argv = malloc(argc * sizeof *argv);
    size_t *lens = malloc(argc * sizeof *lens);
    size_t queued = 0;
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
        queued = 1;
    } else if (*rc == 0) {
        *rc = TP_ENOMEM;
    }
    free(argv);
    free(lens);
    return queued;
}

static size_t append_reply(tp_redis_worker *w, tpr_conn *c, const job *j,
                           const char *st, int *rc)
{
    const char *argv[14] = {"XADD", j->reply_key, "MAXLEN", "~",
                            REPLY_MAXLEN, "*", "id", j->tid, "st", st,
                            "w", w->consumer, "p", NULL};
    size_t lens[14];
    for (int k = 0; k < 13; k++)
        lens[k] = strlen(argv[k]);
    argv[13] = j->reply ? j->reply : "";
    lens[13] = j->reply ? j->reply_len : 0;
    append_cmd(c, rc, 14, argv, lens);
    return 1;
}

/* Appends the transaction of jobs[0, n) (none of them no_reply); returns
 * the number of replies it will produce (MULTI's, one per command, EXEC's),
 * or 0 after an error (*rc). */
static size_t append_tx(tp_redis_worker *w, tpr_conn *c, job **jobs,
                        size_t n, int *rc)
{
    const char **argv = malloc((n + 3) * sizeof *argv);
    size_t *lens = malloc((n + 3) * sizeof *lens);
    if (!argv || !lens) {
        free(argv);
        free(lens);
        if (*rc == 0)
            *rc = TP_ENOMEM;
        return 0;
    }
    size_t replies = 2; /* MULTI and EXEC */
    const char *multi[1] = {"MULTI"};
    size_t lmulti[1] = {5};
    append_cmd(c, rc, 1, multi, lmulti);
    for (size_t s = 0; s < w->nstreams; s++) {
        replies += append_entries(w, c, jobs, n, s, true, argv, lens, rc);
        if (atomic_load(&w->del_each[s]))
            replies += append_entries(w, c, jobs, n, s, false, argv, lens,
                                      rc);
    }
    for (size_t i = 0; i < n; i++) {
        char st[16];
        snprintf(st, sizeof st, "%d", jobs[i]->status);
        if (jobs[i]->why)
            replies += append_dead_letter(w, c, jobs[i], st, rc);
        if (jobs[i]->reply_key && jobs[i]->tid)
            replies += append_reply(w, c, jobs[i], st, rc);
    }
    /* Each reply stream's expiry, once. */
    char ttl[24];
    snprintf(ttl, sizeof ttl, "%" PRId64, w->reply_ttl_ms);
    for (size_t i = 0; i < n; i++) {
        const char *key = jobs[i]->tid ? jobs[i]->reply_key : NULL;
        bool seen = !key;
        for (size_t k = 0; k < i && !seen; k++)
            seen = jobs[k]->tid && jobs[k]->reply_key &&
                   strcmp(jobs[k]->reply_key, key) == 0;
        if (seen)
            continue;
        const char *px[3] = {"PEXPIRE", key, ttl};
        size_t lpx[3] = {7, strlen(key), strlen(ttl)};
        append_cmd(c, rc, 3, px, lpx);
        replies++;
    }
    const char *exec[1] = {"EXEC"};
    size_t lexec[1] = {4};
    append_cmd(c, rc, 1, exec, lexec);
    free(argv);
    free(lens);
    return *rc == 0 ? replies : 0;
}

/* ---- trimming ------------------------------------------------------------ */

/* KEYS[1] a task stream, ARGV[1] the group.  Trims the entries that every
 * worker is done with: those before the group's oldest pending entry, or,
 * with none pending, up to and including the last entry delivered (what
 * follows it nobody has read).  Returns the number of done entries kept
 * behind pending ones (0 with none pending), or -1 when that is not known
 * (the group's lag is unknown: Redis before 7.0, or entries deleted
 * unread). */
static const char trim_lua[] =
    TPR_LUA_OLDER
    "local gs = redis.pcall('XINFO', 'GROUPS', KEYS[1])\n"
    "if type(gs) ~= 'table' or gs.err then return -1 end\n"
    "local last, lag\n"
    "for _, g in ipairs(gs) do\n"
    "  local name, l, n\n"
    "  for i = 1, #g - 1, 2 do\n"
    "    if g[i] == 'name' then name = g[i + 1]\n"
    "    elseif g[i] == 'last-delivered-id' then l = g[i + 1]\n"
    "    elseif g[i] == 'lag' then n = g[i + 1] end\n"
    "  end\n"
    "  if name == ARGV[1] then last, lag = l, n end\n"
    "end\n"
    "if type(last) ~= 'string' then return -1 end\n"
    "local p = redis.call('XPENDING', KEYS[1], ARGV[1])\n"
    "if p[1] == 0 then\n"
    "  redis.call('XTRIM', KEYS[1], 'MINID', last)\n"
    "  redis.call('XDEL', KEYS[1], last)\n"
    "  return 0\n"
    "end\n"
    "if older(p[2], last) then\n"
    "  redis.call('XTRIM', KEYS[1], 'MINID', p[2])\n"
    "end\n"
    "if type(lag) ~= 'number' then return -1 end\n"
    "return redis.call('XLEN', KEYS[1]) - p[1] - lag\n";

/* Appends one trim per stream; returns how many, or 0 after an error
 * (*rc). */
static size_t trim_append(tp_redis_worker *w, tpr_conn *c, int *rc)
{
    size_t n = 0;
    for (size_t s = 0; s < w->nstreams && *rc == 0; s++) {
        const char *argv[5] = {"EVAL", trim_lua, "1", w->stream_keys[s],
                               w->ep.ns};
        size_t lens[5];
        for (int k = 0; k < 5; k++)
            lens[k] = strlen(argv[k]);
        append_cmd(c, rc, 5, argv, lens);
        n++;
    }
    return *rc == 0 ? n : 0;
}

/* Reads the answers of trim_append(): 0 or TP_REDIS_EDOWN. */
static int trim_finish(tp_redis_worker *w, tpr_conn *c, size_t n)
{
    for (size_t s = 0; s < n; s++) {
        redisReply *r;
        if (tpr_get_reply(c, &r) != 0)
            return TP_REDIS_EDOWN;
        /* Unknown (or an error): delete each, as is always safe. */
        long long kept = r->type == REDIS_REPLY_INTEGER ? r->integer : -1;
        atomic_store(&w->del_each[s],
                     kept < 0 || (unsigned long long)kept > w->trim_keep_max);
        freeReplyObject(r);
    }
    return 0;
}

/* Takes the trim due, if any: true when TRIM_EVERY acknowledgements (or,
 * with `any`, at least one) were made since the last. */
static bool trim_due(tp_redis_worker *w, bool any)
{
    pthread_mutex_lock(&w->mu);
    bool due = w->untrimmed >= (any ? 1 : TRIM_EVERY);
    if (due)
        w->untrimmed = 0;
    pthread_mutex_unlock(&w->mu);
    return due;
}

bool tpr_trim_now(tp_redis_worker *w, tpr_conn *conn)
{
    if (!trim_due(w, true))
        return true;
    int rc = 0;
    size_t n = trim_append(w, conn, &rc);
    if (rc == 0)
        rc = trim_finish(w, conn, n);
    if (rc != 0) {
        /* Tried again next time. */
        pthread_mutex_lock(&w->mu);
        w->untrimmed++;
        pthread_mutex_unlock(&w->mu);
        if (rc == TP_ENOMEM)
            tpr_conn_close(conn);
    }
    return rc == 0;
}

/* ---- confirmed jobs ------------------------------------------------------ */

/* Under mu: takes a written job off the held list. */
static void unhold(tp_redis_worker *w, job *j)
{
    if (j->hprev)
        j->hprev->hnext = j->hnext;
    else
        w->held = j->hnext;
    if (j->hnext)
        j->hnext->hprev = j->hprev;
    w->stats.held--;
    if (!j->no_reply) {
        w->stats.replied++;
        w->untrimmed++;
    }
}

/* Unholds and frees jobs[from, to).  While the control thread's heartbeat
 * uses its snapshot of held jobs, the reader's are only unlinked and left
 * for the control thread to free (the graveyard). */
static void release(tp_redis_worker *w, job **jobs, size_t from, size_t to)
{
    job *free_list = NULL;
    pthread_mutex_lock(&w->mu);
    for (size_t i = from; i < to; i++) {
        unhold(w, jobs[i]);
        if (w->hb_busy) {
            jobs[i]->dnext = w->graveyard;
            w->graveyard = jobs[i];
        } else {
            jobs[i]->dnext = free_list;
            free_list = jobs[i];
        }
    }
    pthread_mutex_unlock(&w->mu);
    while (free_list) {
        job *next = free_list->dnext;
        tpr_job_free(free_list);
        free_list = next;
    }
}

int tpr_write_append(tp_redis_worker *w, tpr_conn *conn, job *list,
                     tpr_wbatch *b)
{
    memset(b, 0, sizeof *b);
    b->list = list;
    for (job *j = list; j; j = j->dnext)
        b->n++;
    size_t ntx = (b->n + TX_JOBS - 1) / TX_JOBS;
    b->all = malloc((b->n ? b->n : 1) * sizeof *b->all);
    b->expect = calloc(ntx ? ntx : 1, sizeof *b->expect);
    b->ends = calloc(ntx ? ntx : 1, sizeof *b->ends);
    b->rc = b->all && b->expect && b->ends ? 0 : TP_ENOMEM;
    /* The jobs to write first, in order, then those the pool refused
     * (no reply: only freed). */
    if (b->rc == 0) {
        for (job *j = list; j; j = j->dnext)
            if (!j->no_reply)
                b->all[b->nw++] = j;
        size_t k = b->nw;
        for (job *j = list; j; j = j->dnext)
            if (j->no_reply)
                b->all[k++] = j;
    }
    for (size_t i = 0; i < b->nw && b->rc == 0; i += TX_JOBS, b->ntx++) {
        size_t m = b->nw - i < TX_JOBS ? b->nw - i : TX_JOBS;
        b->expect[b->ntx] = append_tx(w, conn, b->all + i, m, &b->rc);
        b->ends[b->ntx] = i + m;
    }
    /* A trim, when due, behind them. */
    if (b->rc == 0 && trim_due(w, false))
        b->ntrim = trim_append(w, conn, &b->rc);
    return b->rc;
}

bool tpr_write_finish(tp_redis_worker *w, tpr_conn *conn, tpr_wbatch *b)
{
    /* Each transaction confirmed frees its jobs. */
    size_t done = 0;
    for (size_t t = 0; t < b->ntx && b->rc == 0; t++) {
        for (size_t k = 0; k < b->expect[t] && b->rc == 0; k++) {
            redisReply *r;
            b->rc = tpr_get_reply(conn, &r);
            if (b->rc == 0)
                freeReplyObject(r);
        }
        if (b->rc != 0)
            break;
        release(w, b->all, done, b->ends[t]);
        done = b->ends[t];
    }
    if (b->rc == 0 && done == b->nw) {
        release(w, b->all, b->nw, b->n);
        done = b->n;
    }
    if (b->rc == 0 && b->ntrim > 0)
        b->rc = trim_finish(w, conn, b->ntrim);
    if (b->rc != 0 && b->ntrim > 0) {
        /* Tried again next time. */
        pthread_mutex_lock(&w->mu);
        w->untrimmed += TRIM_EVERY;
        pthread_mutex_unlock(&w->mu);
    }
    bool ok = b->rc == 0;
    if (b->rc == TP_ENOMEM)
        tpr_conn_close(conn);
    if (done < b->n) {
        /* Not confirmed: back to the front, in order. */
        if (b->all) {
            for (size_t i = done; i + 1 < b->n; i++)
                b->all[i]->dnext = b->all[i + 1];
            b->all[b->n - 1]->dnext = NULL;
            tpr_requeue_done(w, b->all[done]);
        } else {
            tpr_requeue_done(w, b->list);
        }
        ok = false;
    }
    free(b->all);
    free(b->expect);
    free(b->ends);
    memset(b, 0, sizeof *b);
    return ok;
}

bool tpr_write_done(tp_redis_worker *w, tpr_conn *conn, job *list)
{
    tpr_wbatch b;
    (void)tpr_write_append(w, conn, list, &b);
    return tpr_write_finish(w, conn, &b);
}

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
