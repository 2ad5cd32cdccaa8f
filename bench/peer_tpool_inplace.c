/*
 * peer_tpool_inplace.c - this library's tasks in caller storage
 * (tp_submit_inplace), for the workloads with futures.
 *
 * bench-requires: tpool
 *
 *   spawn/join tp_submit_inplace into a tp_task_storage in the caller's
 *              handle (no allocation: the storage model of the naive
 *              pool's futures, which live in its handles), then
 *              tp_future_get + tp_future_release; from a worker the wait
 *              runs other queued tasks, so a task can wait for its child
 *              (BENCH_NESTED_JOIN)
 *   submit, wait_all  as tpbench-tpool, only for the workloads' set-up
 *
 * Only the workloads with futures apply (BENCH_FUTURES_ONLY): the others
 * measure what tpbench-tpool measures already.
 */
#include <stdio.h>
#include <stdlib.h>

#include "bench.h"
#include "peer_tpool.h"

struct bench_pool {
    tp_pool *pool;
    bench_fn fn;
};

typedef struct inplace_handle {
    tp_task_storage storage;
    tp_future *f;
} inplace_handle;

static bench_pool *ip_create(unsigned threads, bench_fn fn)
{
    bench_pool *p = bench_xcalloc(1, sizeof *p);
    p->fn = fn;
    if ((p->pool = bench_tpool_new(threads)) == NULL) {
        free(p);
        return NULL;
    }
    return p;
}

static void ip_destroy(bench_pool *p)
{
    tp_pool_destroy(p->pool);
    free(p);
}

static int ip_spawn(bench_pool *p, void *arg, void *handle)
{
    inplace_handle *h = handle;
    return tp_submit_inplace(p->pool, &h->storage, p->fn, arg, NULL, &h->f) ==
                   0
               ? 0
               : -1;
}

static int ip_submit(bench_pool *p, void *arg)
{
    return tp_submit(p->pool, p->fn, arg) == 0 ? 0 : -1;
}

static void ip_wait_all(bench_pool *p)
{
    (void)tp_pool_wait_idle(p->pool, -1);
}

static void *ip_join(bench_pool *p, void *handle)
{
    (void)p;
    inplace_handle *h = handle;
    void *result = NULL;
    int rc = tp_future_get(h->f, -1, &result);
    if (rc != 0)
        bench_die("tpool: tp_future_get: %s", tp_strerror(rc));
    tp_future_release(h->f);
    return result;
}

const bench_peer bench_peer_impl = {
    .name = "tpool-inplace",
    .title = "tpool tp_submit_inplace",
    .notes = "Each spawn is tp_submit_inplace into storage in the caller's "
             "handle, each join tp_future_get + tp_future_release; "
             "futures only.",
    .flags = BENCH_NESTED_JOIN | BENCH_FUTURES_ONLY,
    .handle_size = sizeof(inplace_handle),
    .handle_align = _Alignof(inplace_handle),
    .version = tp_version_string,
    .create = ip_create,
    .destroy = ip_destroy,
    .run = NULL,
    .submit = ip_submit,
    .submit_batch = NULL,
    .wait_all = ip_wait_all,
    .spawn = ip_spawn,
    .join = ip_join,
};
