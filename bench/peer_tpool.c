/*
 * peer_tpool.c - this library.
 *
 * bench-requires: tpool
 *
 *   submit       tp_submit
 *   submit_batch tp_submit_batch (the driver hands over up to 1,024 tasks
 *                a call; they are copied into tp_job records)
 *   wait_all     tp_pool_wait_idle
 *   spawn/join   tp_submit_future, then tp_future_get + tp_future_release;
 *                from a worker, the wait runs other queued tasks, so a task
 *                can wait for its child (BENCH_NESTED_JOIN)
 */
#include <stdio.h>
#include <stdlib.h>

#include "bench.h"
#include "peer_tpool.h"

#define JOBS 1024

struct bench_pool {
    tp_pool *pool;
    bench_fn fn;
    tp_job jobs[JOBS]; /* submit_batch's records (one submitting thread) */
};

static bench_pool *tpl_create(unsigned threads, bench_fn fn)
{
    bench_pool *p = bench_xcalloc(1, sizeof *p);
    p->fn = fn;
    if ((p->pool = bench_tpool_new(threads)) == NULL) {
        free(p);
        return NULL;
    }
    return p;
}

static void tpl_destroy(bench_pool *p)
{
    tp_pool_destroy(p->pool);
    free(p);
}

static int tpl_submit(bench_pool *p, void *arg)
{
    return tp_submit(p->pool, p->fn, arg) == 0 ? 0 : -1;
}

static int tpl_submit_batch(bench_pool *p, void *const *args, size_t n)
{
    while (n > 0) {
        size_t k = n < JOBS ? n : JOBS;
        for (size_t i = 0; i < k; i++) {
            p->jobs[i].fn = p->fn;
            p->jobs[i].arg = args[i];
        }
        if (tp_submit_batch(p->pool, p->jobs, k, NULL, NULL) != 0)
            return -1;
        args += k;
        n -= k;
    }
    return 0;
}

static void tpl_wait_all(bench_pool *p) { tp_pool_wait_idle(p->pool, -1); }

static int tpl_spawn(bench_pool *p, void *arg, void *handle)
{
    return tp_submit_future(p->pool, p->fn, arg, (tp_future **)handle) == 0
               ? 0
               : -1;
}

static void *tpl_join(bench_pool *p, void *handle)
{
    (void)p;
    tp_future *f = *(tp_future **)handle;
    void *result = NULL;
    int rc = tp_future_get(f, -1, &result);
    if (rc != 0)
        bench_die("tpool: tp_future_get: %s", tp_strerror(rc));
    tp_future_release(f);
    return result;
}

const bench_peer bench_peer_impl = {
    .name = "tpool",
    .title = "tpool",
    .notes = "This library.",
    .future_form = "tp_future (tp_submit_future, tp_future_get, "
                   "tp_future_release)",
    .batch_form = "tp_submit_batch, 1,024 tp_job records a call",
    .flags = BENCH_NESTED_JOIN,
    .handle_size = sizeof(tp_future *),
    .handle_align = _Alignof(tp_future *),
    .version = tp_version_string,
    .create = tpl_create,
    .destroy = tpl_destroy,
    .run = NULL,
    .submit = tpl_submit,
    .submit_batch = tpl_submit_batch,
    .wait_all = tpl_wait_all,
    .spawn = tpl_spawn,
    .join = tpl_join,
};
