/*
 * peer_openmp.c - OpenMP tasks (GCC's libgomp).
 *
 * bench-requires: openmp
 *
 * OpenMP has no pool object that outside threads submit to: tasks are
 * created inside a parallel region.  run() opens a region of `threads`
 * threads in which one thread (omp single) runs the workload's body; the
 * others take the tasks it creates.  So the submitting thread is one of the
 * `threads` and, when it waits (taskwait), it runs tasks too.
 *
 *   submit     #pragma omp task
 *   wait_all   #pragma omp taskwait (every child of the current task)
 *   spawn/join a task that stores its result in the handle, then taskwait:
 *              the caller has one child at a time, so that is the one
 *
 * taskwait inside a task runs other tasks, so a task can wait for its child
 * (BENCH_NESTED_JOIN).  libgomp runs a new task at once on the creating
 * thread when too many are queued (64 per thread), so a deep queue cannot
 * be measured (BENCH_NO_DEEP_QUEUE).  No futures: no submit_tracked.
 */
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>

#include "bench.h"

struct bench_pool {
    int threads;
    bench_fn fn;
};

typedef struct ompb_handle {
    void *result;
} ompb_handle;

static bench_pool *ompb_create(unsigned threads, bench_fn fn)
{
    bench_pool *p = bench_xcalloc(1, sizeof *p);
    p->threads = (int)threads;
    p->fn = fn;
    omp_set_dynamic(0);
    return p;
}

static void ompb_destroy(bench_pool *p) { free(p); }

static void ompb_run(bench_pool *p, bench_body body, void *ctx)
{
#pragma omp parallel num_threads(p->threads)
#pragma omp single
    body(p, ctx);
}

static int ompb_submit(bench_pool *p, void *arg)
{
    bench_fn fn = p->fn;
#pragma omp task firstprivate(fn, arg)
    (void)fn(arg);
    return 0;
}

static void ompb_wait_all(bench_pool *p)
{
    (void)p;
#pragma omp taskwait
}

static int ompb_spawn(bench_pool *p, void *arg, void *handle)
{
    bench_fn fn = p->fn;
    ompb_handle *h = handle;
#pragma omp task firstprivate(fn, arg, h)
    h->result = fn(arg);
    return 0;
}

static void *ompb_join(bench_pool *p, void *handle)
{
    (void)p;
#pragma omp taskwait
    return ((ompb_handle *)handle)->result;
}

static const char *ompb_version(void)
{
    static char v[48];
    snprintf(v, sizeof v, "OpenMP %d (libgomp, GCC %d.%d)", _OPENMP,
             __GNUC__, __GNUC_MINOR__);
    return v;
}

const bench_peer bench_peer_impl = {
    .name = "openmp",
    .title = "OpenMP tasks (libgomp)",
    .notes = "Tasks created by one thread of a parallel region (omp single), "
             "which is one of the T threads and runs tasks in taskwait; "
             "libgomp runs tasks inline past 64 queued per thread; no "
             "futures, no deep queue.",
    .flags = BENCH_NESTED_JOIN | BENCH_NO_DEEP_QUEUE | BENCH_WAITER_RUNS_TASKS,
    .handle_size = sizeof(ompb_handle),
    .version = ompb_version,
    .create = ompb_create,
    .destroy = ompb_destroy,
    .run = ompb_run,
    .submit = ompb_submit,
    .submit_batch = NULL,
    .wait_all = ompb_wait_all,
    .spawn = ompb_spawn,
    .join = ompb_join,
    .submit_tracked = NULL,
    .next_done = NULL,
};
