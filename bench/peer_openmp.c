/*
 * peer_openmp.c - OpenMP tasks: built twice, with GCC's libgomp
 * (tpbench-openmp) and with clang and LLVM's libomp (tpbench-openmp_llvm,
 * TPBENCH_OMP_LLVM defined; CMakeLists.txt builds it with
 * clang -fopenmp=libomp when both are there).
 *
 * bench-requires: openmp
 *
 * OpenMP has no pool object that outside threads submit to: tasks are
 * created inside a parallel region.  run() opens a region of `threads`
 * threads in which one thread (omp single) runs the workload's body; the
 * others take the tasks it creates.  So the submitting thread is one of the
 * `threads` and, when it waits (taskwait), it runs tasks too.
 *
 *   submit       #pragma omp task
 *   submit_batch #pragma omp taskloop nogroup over the batch (the runtime
 *                picks the chunks; the tasks are children of the caller,
 *                so wait_all's taskwait waits for them)
 *   wait_all     #pragma omp taskwait (every child of the current task)
 *   spawn/join   a task that stores its result in the handle and then sets
 *                an atomic flag; join returns at once if the flag is set,
 *                else runs taskwait, which waits for every child of the
 *                caller (so for this one) and runs tasks meanwhile: the
 *                cheapest correct future OpenMP allows, and handles may be
 *                joined in any order
 *
 * taskwait inside a task runs other tasks, so a task can wait for its child
 * (BENCH_NESTED_JOIN).  Both runtimes run a new task at once on the
 * creating thread when too many are queued (libgomp past 64 per thread,
 * libomp when its deque of 256 is full), so a deep queue cannot be
 * measured (BENCH_NO_DEEP_QUEUE).
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
    int done; /* set (release) once result is written */
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

static int ompb_submit_batch(bench_pool *p, void *const *args, size_t n)
{
    bench_fn fn = p->fn;
#pragma omp taskloop nogroup firstprivate(fn, args)
    for (size_t i = 0; i < n; i++)
        (void)fn(args[i]);
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
    h->done = 0;
#pragma omp task firstprivate(fn, arg, h)
    {
        h->result = fn(arg);
        __atomic_store_n(&h->done, 1, __ATOMIC_RELEASE);
    }
    return 0;
}

static void *ompb_join(bench_pool *p, void *handle)
{
    (void)p;
    ompb_handle *h = handle;
    if (!__atomic_load_n(&h->done, __ATOMIC_ACQUIRE)) {
#pragma omp taskwait
    }
    return h->result;
}

static const char *ompb_version(void)
{
    static char v[64];
#ifdef TPBENCH_OMP_LLVM
    snprintf(v, sizeof v, "OpenMP %d (LLVM libomp, clang %d.%d)", _OPENMP,
             __clang_major__, __clang_minor__);
#else
    snprintf(v, sizeof v, "OpenMP %d (libgomp, GCC %d.%d)", _OPENMP,
             __GNUC__, __GNUC_MINOR__);
#endif
    return v;
}

const bench_peer bench_peer_impl = {
#ifdef TPBENCH_OMP_LLVM
    .name = "openmp-llvm",
    .title = "OpenMP tasks (LLVM libomp)",
#else
    .name = "openmp",
    .title = "OpenMP tasks (libgomp)",
#endif
    .notes = "Tasks created by one thread of a parallel region (omp single), "
             "which is one of the T threads and runs tasks in taskwait; "
             "the runtime runs tasks inline once its queue is full; no "
             "deep queue.",
    .future_form = "a task that sets an atomic flag in the caller's handle; "
                   "join: taskwait unless the flag is set",
    .batch_form = "taskloop nogroup over each batch (runtime's chunking)",
    .flags = BENCH_NESTED_JOIN | BENCH_NO_DEEP_QUEUE | BENCH_WAITER_RUNS_TASKS,
    .handle_size = sizeof(ompb_handle),
    .handle_align = _Alignof(ompb_handle),
    .version = ompb_version,
    .create = ompb_create,
    .destroy = ompb_destroy,
    .run = ompb_run,
    .submit = ompb_submit,
    .submit_batch = ompb_submit_batch,
    .wait_all = ompb_wait_all,
    .spawn = ompb_spawn,
    .join = ompb_join,
};
