/*
 * peer_tpool_fj.c - this library's fork-join frames (tp_spawn/tp_sync).
 *
 * bench-requires: tpool
 *
 *   run        tp_fj_run: the workload's body runs as a fork-join
 *              computation on a worker of the pool (the caller waits)
 *   spawn/join tp_spawn into the caller's handle (a tp_fj_frame on its
 *              stack), then tp_sync, which makes the call itself unless
 *              another worker took it (BENCH_NESTED_JOIN)
 *
 * Only the fork-join workload applies: frames are calls, not queued tasks
 * (no submit, no futures), and spawn + join on one idle worker is a plain
 * call, which says nothing about latency.
 */
#include <stdio.h>
#include <stdlib.h>

#include "bench.h"
#include "peer_tpool.h"

struct bench_pool {
    tp_pool *pool;
    bench_fn fn;
};

static bench_pool *fj_create(unsigned threads, bench_fn fn)
{
    bench_pool *p = bench_xcalloc(1, sizeof *p);
    p->fn = fn;
    if ((p->pool = bench_tpool_new(threads)) == NULL) {
        free(p);
        return NULL;
    }
    return p;
}

static void fj_destroy(bench_pool *p)
{
    tp_pool_destroy(p->pool);
    free(p);
}

struct fj_body {
    bench_pool *pool;
    bench_body body;
    void *ctx;
};

static void *fj_body_fn(void *arg)
{
    struct fj_body *b = arg;
    b->body(b->pool, b->ctx);
    return NULL;
}

static void fj_run(bench_pool *p, bench_body body, void *ctx)
{
    struct fj_body b = {p, body, ctx};
    int rc = tp_fj_run(p->pool, fj_body_fn, &b, NULL);
    if (rc != 0)
        bench_die("tpool: tp_fj_run: %s", tp_strerror(rc));
}

static int fj_spawn(bench_pool *p, void *arg, void *handle)
{
    return tp_spawn(handle, p->fn, arg) == 0 ? 0 : -1;
}

static void *fj_join(bench_pool *p, void *handle)
{
    (void)p;
    return tp_sync(handle);
}

const bench_peer bench_peer_impl = {
    .name = "tpool-fj",
    .title = "tpool tp_spawn/tp_sync",
    .notes = "Fork-join frames: the body runs in tp_fj_run on a worker; "
             "spawn is tp_spawn into a frame on the caller's stack, join "
             "is tp_sync; fork-join only.",
    .flags = BENCH_NESTED_JOIN | BENCH_WAITER_RUNS_TASKS |
             BENCH_FORKJOIN_ONLY,
    .handle_size = sizeof(tp_fj_frame),
    .handle_align = _Alignof(tp_fj_frame),
    .version = tp_version_string,
    .create = fj_create,
    .destroy = fj_destroy,
    .run = fj_run,
    .submit = NULL,
    .submit_batch = NULL,
    .wait_all = NULL,
    .spawn = fj_spawn,
    .join = fj_join,
};
