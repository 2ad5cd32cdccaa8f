/*
 * peer_tbb_group.cpp - oneTBB's task_group, in a task_arena of `threads`
 * slots: the fork-join workload (peer_tbb.cpp is oneTBB for the others).
 *
 * bench-requires: tbb
 *
 * The arena has `threads` slots, one of them kept for the thread that
 * enters it: run() executes the workload's body inside the arena, so the
 * submitting thread is one of the `threads` and runs tasks while it waits
 * (task_group::wait), as in TBB's own fork-join examples.  A
 * global_control raises TBB's worker limit so that more threads than cores
 * can be asked for.
 *
 *   submit     task_group::run on the pool's group; wait_all: its wait()
 *   spawn/join a task_group of its own in the caller's handle (the usual
 *              recursive pattern); join waits on it and destroys it
 *
 * Only the fork-join workload applies (BENCH_FORKJOIN_ONLY): tasks from a
 * thread outside the pool go through task_arena::enqueue (peer_tbb.cpp).
 */
#include <oneapi/tbb/global_control.h>
#include <oneapi/tbb/task_arena.h>
#include <oneapi/tbb/task_group.h>
#include <oneapi/tbb/version.h>

#include <cstddef>
#include <cstdio>
#include <memory>
#include <new>

#include "bench.h"

struct bench_pool {
    bench_pool(unsigned threads, bench_fn f)
        : control(tbb::global_control::max_allowed_parallelism,
                  threads < 2 ? 2 : threads),
          arena(static_cast<int>(threads), 1), fn(f)
    {
    }
    tbb::global_control control;
    tbb::task_arena arena;
    tbb::task_group group;
    bench_fn fn;
};

namespace {

struct tbb_handle {
    tbb::task_group group;
    void *result = nullptr;
};

static_assert(sizeof(tbb_handle) <= BENCH_HANDLE_MAX, "handle too large");
static_assert(alignof(tbb_handle) <= alignof(std::max_align_t),
              "handle over-aligned");

bench_pool *tbb_create(unsigned threads, bench_fn fn)
{
    try {
        bench_pool *p = new bench_pool(threads, fn);
        p->arena.initialize();
        return p;
    } catch (const std::exception &e) {
        std::fprintf(stderr, "tbb: %s\n", e.what());
        return nullptr;
    }
}

void tbb_destroy(bench_pool *p)
{
    p->arena.execute([p] { p->group.wait(); });
    delete p;
}

void tbb_run(bench_pool *p, bench_body body, void *ctx)
{
    p->arena.execute([=] { body(p, ctx); });
}

int tbb_submit(bench_pool *p, void *arg)
{
    try {
        bench_fn fn = p->fn;
        p->group.run([fn, arg] { (void)fn(arg); });
        return 0;
    } catch (const std::bad_alloc &) {
        return -1;
    }
}

void tbb_wait_all(bench_pool *p) { p->group.wait(); }

int tbb_spawn(bench_pool *p, void *arg, void *handle)
{
    try {
        tbb_handle *h = new (handle) tbb_handle;
        bench_fn fn = p->fn;
        h->group.run([fn, arg, h] { h->result = fn(arg); });
        return 0;
    } catch (const std::bad_alloc &) {
        return -1;
    }
}

void *tbb_join(bench_pool *, void *handle)
{
    tbb_handle *h = static_cast<tbb_handle *>(handle);
    h->group.wait();
    void *result = h->result;
    h->~tbb_handle();
    return result;
}

const char *tbb_version() { return TBB_runtime_version(); }

bench_peer make_peer()
{
    bench_peer p{};
    p.name = "tbb-group";
    p.title = "oneTBB task_group";
    p.notes = "task_group in a task_arena of T slots; the submitting thread "
              "takes one slot and runs tasks in wait(); fork-join only.";
    p.future_form = "a task_group in the caller's handle; join: its wait()";
    p.batch_form = nullptr;
    p.flags = BENCH_NESTED_JOIN | BENCH_WAITER_RUNS_TASKS |
              BENCH_FORKJOIN_ONLY;
    p.handle_size = sizeof(tbb_handle);
    p.handle_align = alignof(tbb_handle);
    p.version = tbb_version;
    p.create = tbb_create;
    p.destroy = tbb_destroy;
    p.run = tbb_run;
    p.submit = tbb_submit;
    p.submit_batch = nullptr;
    p.wait_all = tbb_wait_all;
    p.spawn = tbb_spawn;
    p.join = tbb_join;
    return p;
}

} // namespace

extern "C" const bench_peer bench_peer_impl = make_peer();
