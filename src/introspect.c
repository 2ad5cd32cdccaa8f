/*
 * introspect.c - what a pool can tell about itself while it runs: its
 * counters (tp_pool_stats_get), a live view of each worker
 * (tp_pool_snapshot_get) and wait-cycle detection
 * (tp_pool_find_wait_cycle).  All read the pool without stopping it: the
 * workers publish their counters and frames with single-writer stores
 * (pool_internal.h), so readers never slow the scheduler down.
 */
#include "alloc.h"
#include "clock.h"
#include "pool_internal.h"

/* ---- counters ---------------------------------------------------------------- */

/* How many of a worker's frames readers can see, for its depth. */
static unsigned visible_frames(unsigned depth)
{
    return depth < TPI_FRAMES ? depth : TPI_FRAMES;
}

int tp_pool_stats_get(tp_pool *p, tp_pool_stats *s)
{
    if (p == NULL || s == NULL)
        return TP_EINVAL;
    if (tpi_forked(p))
        return TP_EFORKED;
    uint64_t submitted = 0, started = 0, completed = 0, dropped = 0;
    /* Read "finished" before "started" before "submitted": each count only
     * grows, and a task is counted in that order's reverse, so the
     * differences below cannot go negative. */
    for (unsigned i = 0; i < p->nthreads; i++) {
        tpi_counters *c = &p->workers[i].count;
        completed += atomic_load_explicit(&c->completed, memory_order_acquire);
    }
    for (unsigned i = 0; i < p->nthreads; i++)
        started += atomic_load_explicit(&p->workers[i].count.started,
                                        memory_order_acquire);
    for (unsigned i = 0; i < p->nthreads; i++)
        submitted += atomic_load_explicit(&p->workers[i].count.submitted,
                                          memory_order_acquire);
    pthread_mutex_lock(&p->mu);
    submitted += atomic_load_explicit(&p->ext_submitted, memory_order_acquire);
    started += p->ext_started;
    completed += p->ext_completed;
    dropped += p->ext_dropped;
    pthread_mutex_unlock(&p->mu);
    s->threads = tp_pool_size(p);
    s->submitted = submitted;
    s->completed = completed;
    s->cancelled = dropped;
    s->queued = submitted > started ? (size_t)(submitted - started) : 0;
    s->running = started > completed + dropped
                     ? (size_t)(started - completed - dropped)
                     : 0;
    return 0;
}

/* ---- live view ------------------------------------------------------------------ */

int tp_pool_snapshot_get(tp_pool *p, tp_pool_snapshot *snap,
                         tp_worker_info *workers, unsigned capacity)
{
    if (p == NULL || snap == NULL || (workers == NULL && capacity > 0))
        return TP_EINVAL;
    if (tpi_forked(p))
        return TP_EFORKED;
    int rc = tp_pool_stats_get(p, &snap->stats);
    if (rc != 0)
        return rc;
    uint64_t now = tpi_now_ns();
    /* The live workers (threads.c): 0..size-1. */
    unsigned live = tp_pool_size(p);
    unsigned n = capacity < live ? capacity : live;
    /* The injectors' lengths: their stacks drained into the counted part.
     * Tasks this moves wait for a worker, as if pushed now: wake one
     * (inject.h). */
    size_t moved = 0;
    pthread_mutex_lock(&p->inj_mu);
    for (int l = 0; l < TPI_LEVELS; l++) {
        moved += tpi_inject_drain(&p->inj[l]);
        snap->injected[l] =
            atomic_load_explicit(&p->inj[l].ready_len, memory_order_relaxed);
    }
    pthread_mutex_unlock(&p->inj_mu);
    if (moved > 0)
        tpi_wake_some(p, 1);
    pthread_mutex_lock(&p->mu);
    for (unsigned i = 0; i < n; i++) {
        tpi_worker *w = &p->workers[i];
        tp_worker_info *info = &workers[i];
        unsigned depth =
            atomic_load_explicit(&w->depth_seen, memory_order_acquire);
        unsigned top = visible_frames(depth);
        info->index = i;
        info->depth = depth;
        info->running_task = 0;
        if (top > 0)
            info->running_task = atomic_load_explicit(&w->frames[top - 1].task,
                                                      memory_order_relaxed);
        info->waiting_on = 0;
        for (unsigned d = top; d-- > 0 && info->waiting_on == 0;)
            info->waiting_on = atomic_load_explicit(&w->frames[d].waiting_on,
                                                    memory_order_relaxed);
        /* Running time without a clock read per task: measured from the
         * first snapshot that saw this task on this worker. */
        if (info->running_task != w->seen_task) {
            w->seen_task = info->running_task;
            w->seen_since_ns = now;
        }
        info->running_ms =
            info->running_task == 0 ? 0 : (now - w->seen_since_ns) / 1000000u;
        info->queued = tpi_deque_size(&w->dq);
        info->started = tpi_load64(&w->count.started);
        info->completed = tpi_load64(&w->count.completed);
        info->stolen = tpi_load64(&w->count.stolen);
    }
    pthread_mutex_unlock(&p->mu);
    snap->threads = live;
    snap->workers = n;
    return 0;
}

/* One waiting task: the id of the task and of the future it waits for. */
typedef struct wait_edge {
    uint64_t task, on;
} wait_edge;

/* Every frame of every worker that waits is an edge task -> future:
 * stores them in edges (room for nthreads * TPI_FRAMES), returns how many. */
static size_t collect_edges(tp_pool *p, wait_edge *edges)
{
    size_t n = 0;
    for (unsigned i = 0; i < p->nthreads; i++) {
        tpi_worker *w = &p->workers[i];
        unsigned depth = visible_frames(
            atomic_load_explicit(&w->depth_seen, memory_order_acquire));
        for (unsigned d = 0; d < depth; d++) {
            uint64_t on = atomic_load_explicit(&w->frames[d].waiting_on,
                                               memory_order_relaxed);
            if (on != 0)
                edges[n++] = (wait_edge){
                    atomic_load_explicit(&w->frames[d].task,
                                         memory_order_relaxed),
                    on};
        }
    }
    return n;
}

/* The edge leaving task `t` (n if it waits for nothing). */
static size_t edge_of(const wait_edge *edges, size_t n, uint64_t t)
{
    size_t e = 0;
    while (e < n && edges[e].task != t)
        e++;
    return e;
}

/* Whether the walk task -> future -> (the task that is that future) ...
 * from edges[start] comes back to it; a walk longer than the number of
 * edges has looped elsewhere. */
static bool cycles_back(const wait_edge *edges, size_t n, size_t start)
{
    uint64_t cur = edges[start].task;
    for (size_t steps = 0; steps <= n; steps++) {
        size_t e = edge_of(edges, n, cur);
        if (e == n)
            return false; /* cur waits for nothing */
        cur = edges[e].on;
        if (cur == edges[start].task)
            return true;
    }
    return false;
}

int tp_pool_find_wait_cycle(tp_pool *p, uint64_t *ids, size_t capacity,
                            size_t *len)
{
    if (p == NULL || len == NULL || (ids == NULL && capacity > 0))
        return TP_EINVAL;
    if (tpi_forked(p))
        return TP_EFORKED;
    *len = 0;
    wait_edge *edges = tpi_calloc((size_t)p->nthreads * TPI_FRAMES,
                                  sizeof *edges);
    if (edges == NULL)
        return TP_ENOMEM;
    size_t n = collect_edges(p, edges);
    /* Quadratic in the number of waiting tasks, which a debugging aid can
     * afford. */
    int rc = 0;
    for (size_t start = 0; start < n; start++) {
        if (!cycles_back(edges, n, start))
            continue;
        /* Report the cycle from start. */
        size_t k = 0;
        uint64_t t = edges[start].task;
        do {
            if (k < capacity)
                ids[k] = t;
            k++;
            t = edges[edge_of(edges, n, t)].on;
        } while (t != edges[start].task);
        *len = k;
        if (k > capacity)
            rc = TP_ENOMEM; /* *len says how much room it needs */
        break;
    }
    tpi_free(edges);
    return rc;
}
