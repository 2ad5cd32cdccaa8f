/*
 * client_expire.c - start deadlines and taking written tasks back.
 *
 * A local pool settles a task whose start deadline passes CANCELLED with
 * TP_EEXPIRED; a remote one does the same, whether or not any worker is
 * running.  The client watches every deadline in a min-heap (by unix ms)
 * and the sender thread, which sleeps until the earliest, handles each as
 * it passes:
 *
 * - A record not yet written (still on the outbox) leaves the map and its
 *   future settles at once; the sender then drops it instead of sending
 *   it.  If an earlier attempt may have written it (a lost connection),
 *   a cancel marker goes out too, and the deadline carried in the entry
 *   stops any worker that reads that copy later.
 * - A written record gets an expiry op: one script, atomic in Redis, that
 *   deletes the entry if no worker has read it yet (it is not in the
 *   group's pending list).  Deleted: no worker can ever read it, and the
 *   sender settles the future.  Not deleted: a worker holds it, and
 *   decides by the same deadline (worker_job.c); its reply settles the
 *   future, CANCELLED with TP_EEXPIRED if it came too late.
 *
 * A cancel uses the same script: it sets the cancel marker (which a
 * running task sees at its worker's next heartbeat) and deletes the entry
 * if no worker has read it, so that a task cancelled before any worker
 * took it is never delivered at all.
 *
 * Ownership: the heap holds future ids only; a record is looked up in the
 * map when its time comes (gone: settled already, nothing to do).  Ops
 * carry copies of what they need.  Locks: everything here runs under c->mu
 * except tpr_settle_expired() and the append (the sender's connection).
 */
#include "client_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* KEYS[1] the task stream, KEYS[2] the task's cancel marker; ARGV[1] the
 * group, ARGV[2] the entry id ("" when not known), ARGV[3] "c" (cancel) or
 * "e" (expiry), ARGV[4] the marker's time to live.  Deletes the entry if
 * no worker has read it: if it comes after the group's last delivered
 * entry (an entry a worker is done with may still be in the stream until
 * its trim, so not being pending does not say unread).  A cancel always
 * sets the marker, an expiry only with the entry deleted (against a copy
 * written twice).  Returns 1 when the entry was deleted unread, else 0. */
const char tpr_retract_lua[] =
    TPR_LUA_OLDER
    "local unread = 0\n"
    "if ARGV[2] ~= '' then\n"
    "  local gs = redis.pcall('XINFO', 'GROUPS', KEYS[1])\n"
    "  local last\n"
    "  if type(gs) == 'table' and gs.err == nil then\n"
    "    for _, g in ipairs(gs) do\n"
    "      local name, l\n"
    "      for i = 1, #g - 1, 2 do\n"
    "        if g[i] == 'name' then name = g[i + 1]\n"
    "        elseif g[i] == 'last-delivered-id' then l = g[i + 1] end\n"
    "      end\n"
    "      if name == ARGV[1] then last = l end\n"
    "    end\n"
    "  end\n"
    "  if type(last) == 'string' and older(last, ARGV[2]) then\n"
    "    unread = redis.call('XDEL', KEYS[1], ARGV[2])\n"
    "  end\n"
    "end\n"
    "if ARGV[3] == 'c' or unread == 1 then\n"
    "  redis.call('SET', KEYS[2], '1', 'PX', ARGV[4])\n"
    "end\n"
    "return unread\n";

/* ---- the heap ------------------------------------------------------------ */

static void heap_swap(tpr_dl *h, size_t a, size_t b)
{
    tpr_dl t = h[a];
    h[a] = h[b];
    h[b] = t;
}

static void heap_up(tpr_dl *h, size_t i)
{
    while (i > 0 && h[(i - 1) / 2].at > h[i].at) {
        heap_swap(h, i, (i - 1) / 2);
        i = (i - 1) / 2;
    }
}

static void heap_down(tpr_dl *h, size_t n, size_t i)
{
    for (;;) {
        size_t l = 2 * i + 1, m = i;
        if (l < n && h[l].at < h[m].at)
            m = l;
        if (l + 1 < n && h[l + 1].at < h[m].at)
            m = l + 1;
        if (m == i)
            return;
        heap_swap(h, i, m);
        i = m;
    }
}

/* Drops the entries of records already settled, when they are most of the
 * heap (long deadlines of tasks long done would otherwise pile up). */
static void heap_compact(tp_redis_client *c)
{
    size_t k = 0;
    for (size_t i = 0; i < c->ndls; i++)
        if (tpr_map_get(&c->table, c->dls[i].fid))
            c->dls[k++] = c->dls[i];
    c->ndls = k;
    for (size_t i = k / 2; i-- > 0;)
        heap_down(c->dls, k, i);
}

static int heap_push(tp_redis_client *c, int64_t at, uint64_t fid)
{
    if (c->ndls == c->dls_cap && c->ndls > 64 && c->ndls > 2 * c->table.n)
        heap_compact(c);
    if (c->ndls == c->dls_cap) {
        size_t cap = c->dls_cap ? c->dls_cap * 2 : 16;
        tpr_dl *h = realloc(c->dls, cap * sizeof *h);
        if (!h)
            return TP_ENOMEM;
        c->dls = h;
        c->dls_cap = cap;
    }
    c->dls[c->ndls].at = at;
    c->dls[c->ndls].fid = fid;
    heap_up(c->dls, c->ndls++);
    return 0;
}

int tpr_deadline_watch(tp_redis_client *c, const rec *r)
{
    return r->deadline ? heap_push(c, r->deadline, r->fid) : 0;
}

int64_t tpr_deadline_next(const tp_redis_client *c)
{
    return c->ndls ? c->dls[0].at : INT64_MAX;
}

/* ---- what a passed deadline does ----------------------------------------- */

bool tpr_retract_queue(tp_redis_client *c, const rec *r, bool expire)
{
    retract_op *op = malloc(sizeof *op);
    if (!op)
        return false;
    op->fid = r->fid;
    op->stream = r->stream;
    memcpy(op->eid, r->eid, sizeof op->eid);
    op->expire = expire;
    op->next = c->ops;
    c->ops = op;
    return true;
}

size_t tpr_deadline_due(tp_redis_client *c, int64_t now, tp_future **out,
                        size_t max)
{
    size_t n = 0;
    while (n < max && c->ndls && c->dls[0].at <= now) {
        uint64_t fid = c->dls[0].fid;
        c->dls[0] = c->dls[--c->ndls];
        heap_down(c->dls, c->ndls, 0);
        rec *r = tpr_map_get(&c->table, fid);
        if (!r)
            continue; /* settled already */
        if (r->in_outbox) {
            /* Not written: settle now; the sender drops it.  A copy that
             * an earlier attempt may have written is marked. */
            if (r->sent)
                (void)tpr_retract_queue(c, r, false);
            tpr_map_take(&c->table, fid);
            r->in_table = false;
            r->cancelled = true;
            c->stats.expired++;
            out[n++] = r->f;
        } else if (!tpr_retract_queue(c, r, true)) {
            (void)heap_push(c, now + 1000, fid); /* no memory: later */
            break;
        }
    }
    return n;
}

void tpr_settle_expired(tp_future **fs, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        (void)tp_promise_fail(fs[i], TP_EEXPIRED);
        tp_future_release(fs[i]); /* the client's reference */
    }
}

int tpr_retract_append(tp_redis_client *c, tpr_conn *conn,
                       const retract_op *op)
{
    char tid[TPR_TASKID_MAX + 1], marker[TPR_KEY_MAX + TPR_TASKID_MAX];
    tpr_task_id(c, op->fid, tid, sizeof tid);
    snprintf(marker, sizeof marker, "%s:x:%s", c->ep.ns, tid);
    pthread_mutex_lock(&c->mu);
    const char *key = c->streams[op->stream]; /* the string never moves */
    pthread_mutex_unlock(&c->mu);
    const char *argv[9] = {"EVAL",  tpr_retract_lua, "2",
                           key,     marker,      c->ep.ns,
                           op->eid, op->expire ? "e" : "c", CANCEL_TTL_MS};
    size_t lens[9];
    for (int k = 0; k < 9; k++)
        lens[k] = strlen(argv[k]);
    return tpr_append(conn, 9, argv, lens);
}
