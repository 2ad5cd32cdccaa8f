/*
 * peer_libuv.c - libuv's thread pool, through uv_queue_work().
 *
 * bench-requires: pkg-config libuv
 *
 * libuv has one thread pool per process, sized by the UV_THREADPOOL_SIZE
 * environment variable when it first starts (this adapter sets it: one
 * pool per process is all the driver creates).  Work is queued from the
 * loop's thread and its completion callback runs on that thread when the
 * loop runs, so the thread that submits is also the one that waits:
 *
 *   wait_all   uv_run(UV_RUN_DEFAULT): returns when no request is active
 *   join       uv_run(UV_RUN_ONCE) until that request's callback has run
 *              (it sets a flag that only the loop's thread touches)
 *
 * Each task needs a uv_work_t of the caller's: plain tasks allocate one
 * (freed in the completion callback); spawn() uses the caller's handle.  A work callback cannot wait for other work (it would
 * hold a pool thread and the completion needs the loop): no
 * BENCH_NESTED_JOIN.
 */
#include <stdio.h>
#include <stdlib.h>
#include <uv.h>

#include "bench.h"

struct bench_pool {
    uv_loop_t loop;
    bench_fn fn;
};

typedef struct uvjob {
    uv_work_t req;
    bench_pool *pool;
    void *arg;    /* argument, then result */
    int finished; /* spawn(): completion callback has run */
} uvjob;

static void work_cb(uv_work_t *req)
{
    uvjob *j = req->data;
    j->arg = j->pool->fn(j->arg);
}

static void after_plain(uv_work_t *req, int status)
{
    (void)status;
    free(req->data);
}

static void after_spawn(uv_work_t *req, int status)
{
    (void)status;
    uvjob *j = req->data;
    j->finished = 1;
}

static bench_pool *luv_create(unsigned threads, bench_fn fn)
{
    char size[16];
    snprintf(size, sizeof size, "%u", threads);
    if (setenv("UV_THREADPOOL_SIZE", size, 1) != 0)
        return NULL;
    bench_pool *p = bench_xcalloc(1, sizeof *p);
    p->fn = fn;
    int rc = uv_loop_init(&p->loop);
    if (rc != 0) {
        fprintf(stderr, "libuv: uv_loop_init: %s\n", uv_strerror(rc));
        free(p);
        return NULL;
    }
    return p;
}

static void luv_destroy(bench_pool *p)
{
    uv_run(&p->loop, UV_RUN_DEFAULT);
    uv_loop_close(&p->loop);
    free(p);
}

static int queue(bench_pool *p, uvjob *j, void *arg, uv_after_work_cb after)
{
    j->req.data = j;
    j->pool = p;
    j->arg = arg;
    j->finished = 0;
    int rc = uv_queue_work(&p->loop, &j->req, work_cb, after);
    if (rc != 0)
        fprintf(stderr, "libuv: uv_queue_work: %s\n", uv_strerror(rc));
    return rc == 0 ? 0 : -1;
}

static int luv_submit(bench_pool *p, void *arg)
{
    uvjob *j = malloc(sizeof *j);
    if (j == NULL)
        return -1;
    if (queue(p, j, arg, after_plain) != 0) {
        free(j);
        return -1;
    }
    return 0;
}

static void luv_wait_all(bench_pool *p) { uv_run(&p->loop, UV_RUN_DEFAULT); }

static int luv_spawn(bench_pool *p, void *arg, void *handle)
{
    return queue(p, handle, arg, after_spawn);
}

static void *luv_join(bench_pool *p, void *handle)
{
    uvjob *j = handle;
    while (!j->finished)
        uv_run(&p->loop, UV_RUN_ONCE);
    return j->arg;
}

static const char *luv_version(void) { return uv_version_string(); }

const bench_peer bench_peer_impl = {
    .name = "libuv",
    .title = "libuv uv_queue_work",
    .notes = "libuv's process-wide pool (UV_THREADPOOL_SIZE); completions "
             "run on the loop thread, which is also the submitting and "
             "waiting thread; a uv_work_t per task; no batch submit; a "
             "task cannot wait for a child.",
    .future_form = "a uv_work_t in the caller's handle; its completion "
                   "callback sets a plain flag on the loop thread, join "
                   "runs the loop until then",
    .batch_form = NULL,
    .flags = 0,
    .handle_size = sizeof(uvjob),
    .handle_align = _Alignof(uvjob),
    .version = luv_version,
    .create = luv_create,
    .destroy = luv_destroy,
    .run = NULL,
    .submit = luv_submit,
    .submit_batch = NULL,
    .wait_all = luv_wait_all,
    .spawn = luv_spawn,
    .join = luv_join,
};
