/*
 * worker_read.c - the reader: the thread in tp_redis_worker_serve(), owner
 * of the reading connection.
 *
 * It waits until a pool thread is free, then takes over tasks idle too
 * long on other consumers (XAUTOCLAIM, at most as many as it has free
 * threads, their delivery counts from XPENDING), then reads new entries
 * (XREADGROUP, COUNT = free threads: nothing waits unacknowledged behind a
 * busy thread).  Each entry becomes a job (worker_job.c); admission queues
 * a job that must not run straight on the done list, the others in the
 * pool.  Only reclaimed entries have their cancel markers looked up first
 * (one pipeline): a new entry cannot have been cancelled before this read,
 * as its client deletes the entry of a task it cancels while no worker has
 * read it.
 *
 * Slots: `running` counts jobs handed to the pool whose function has not
 * returned; the reader reads at most threads - running entries.  A
 * blocking read over several streams returns up to one entry per stream,
 * so with free < nstreams it may take a few more; they wait in the pool's
 * queue and are heartbeated like the rest.
 *
 * Writing: the jobs done while the reader waited for a free thread are
 * written by the reader itself, their transactions in the same pipeline as
 * its next XREADGROUP (worker_write.c); jobs that finish while it is
 * blocked in a read or busy are written by the control thread at once, so
 * a long blocking read never delays a reply.
 *
 * Ownership: the reply objects of one read belong to this file until
 * freed here; jobs copy what they keep.  Locks: w->mu while a job joins
 * the held list and is submitted (see worker_internal.h), never during
 * I/O.
 */
#include "worker_internal.h"

#include <inttypes.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- admission ---------------------------------------------------------- */

/* Admits the jobs of one read: with `markers` (reclaimed entries), first
 * looks up their cancel markers in one pipeline; then queues each on the
 * done list or in the pool.  New entries need no look-up: a task cancelled
 * before any worker read it was deleted from the stream by its client
 * (client_expire.c), and one cancelled later is seen by the heartbeat. */
static void admit(tp_redis_worker *w, job **jobs, size_t n, bool markers)
{
    tpr_conn *conn = &w->read_conn;
    size_t asked = 0;
    bool ok = markers;
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
            else if (j->status == TP_EEXPIRED)
                w->stats.expired++;
            tpr_job_push_done(w, j);
        } else {
            w->running++;
            int rc = tp_submit_future(w->pool, tpr_job_run, j, &j->lf);
            if (rc != 0) {
                /* Not accepted: the entry stays pending for a retry
                 * elsewhere; nothing is replied. */
                w->running--;
                j->lf = NULL;
                j->fn = NULL;
                j->status = rc;
                j->no_reply = true;
                tpr_job_push_done(w, j);
            }
        }
        pthread_mutex_unlock(&w->mu);
    }
}

/* ---- the reader --------------------------------------------------------- */

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
        job *j = tpr_job_from_entry(w, stream, list->element[i],
                                    counts ? counts[i] : 1);
        if (j)
            jobs[n++] = j;
    }
    admit(w, jobs, n, counts != NULL);
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

/* One XREADGROUP: COUNT room, over streams [first, first + m), blocking
 * block_ms (negative: not at all), behind the transactions of the done
 * jobs `list` (may be NULL) in the same pipeline.  Returns the number of
 * entries taken, or -1 after an I/O error. */
static long read_new(tp_redis_worker *w, size_t first, size_t m, size_t room,
                     int64_t block_ms, job *list)
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
    tpr_conn *conn = &w->read_conn;
    tpr_wbatch b;
    int rc = list ? tpr_write_append(w, conn, list, &b) : 0;
    if (rc == 0)
        rc = tpr_append(conn, argc, argv, lens);
    /* The transactions' answers come first (they do not block). */
    if (list && !tpr_write_finish(w, conn, &b))
        rc = TP_REDIS_EDOWN;
    redisReply *r;
    if (rc == 0)
        rc = tpr_get_reply(conn, &r);
    if (rc != 0) {
        tpr_conn_close(conn); /* whatever is left unread in it */
        return -1;
    }
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

/* Waits for a free thread, or done jobs to write; returns false at stop.
 * *room is the number of free threads; *list the done jobs, taken only
 * while connected (else the control thread is told to write them). */
static bool wait_turn(tp_redis_worker *w, size_t *room, job **list)
{
    pthread_mutex_lock(&w->mu);
    w->reader_waiting = true;
    while (!w->stop && w->running >= w->threads && !w->done_head)
        pthread_cond_wait(&w->free_cv, &w->mu);
    /* Jobs still running may be about to finish (short tasks, or cores
     * all busy): one yield lets their threads return first, so that this
     * read asks for those threads too and writes their jobs in front of
     * it.  Nothing is read for a thread still busy afterwards. */
    if (!w->stop && w->running > 0) {
        pthread_mutex_unlock(&w->mu);
        sched_yield();
        pthread_mutex_lock(&w->mu);
    }
    w->reader_waiting = false;
    bool stop = w->stop;
    *room = w->threads - w->running;
    *list = NULL;
    if (!stop && w->read_conn.ctx) {
        *list = w->done_head;
        w->done_head = w->done_tail = NULL;
    } else if (w->done_head) {
        pthread_cond_signal(&w->ctl_cv);
    }
    pthread_mutex_unlock(&w->mu);
    return !stop;
}

/* The reader's loop, until stop.  Returns 0, or TP_REDIS_EAUTH when the
 * very first login is refused. */
int tpr_reader_loop(tp_redis_worker *w)
{
    char cursor[TPR_MAX_STREAMS][72];
    for (size_t s = 0; s < w->nstreams; s++)
        strcpy(cursor[s], "0-0");
    int64_t delay = 0, next_reclaim = 0;
    bool ever = false;
    for (;;) {
        size_t room;
        job *list;
        if (!wait_turn(w, &room, &list))
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
                if (tpr_worker_backoff(w, &w->free_cv, delay, false))
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
        /* Done jobs and no thread free, or a reclaim first: they go on
         * their own; otherwise in front of the next read. */
        if (list && (room == 0 || now >= next_reclaim)) {
            bool ok = tpr_write_done(w, &w->read_conn, list);
            list = NULL;
            if (!ok || room == 0)
                continue;
        }
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
                long g = read_new(w, s, 1, room, -1, list);
                list = NULL;
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
        (void)read_new(w, 0, w->nstreams, room, block, list);
    }
}

