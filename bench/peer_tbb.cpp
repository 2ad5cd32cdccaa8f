/*
 * peer_tbb.cpp - oneTBB: task_arena::enqueue from a thread outside the
 * arena, and parallel_for for batches (peer_tbb_group.cpp is oneTBB's
 * fork-join).
 *
 * bench-requires: tbb
 *
 * The arena has `threads` slots, none kept for an outside thread: the
 * submitting thread only submits and waits, as with the C pools, and the
 * arena's workers run the tasks.  A global_control lets TBB start
 * `threads` workers whatever the core count.
 *
 *   submit       task_arena::enqueue of a small lambda; a latch counts
 *                them for wait_all (an atomic count; the last task takes
 *                the latch's lock to wake the waiter)
 *   spawn/join   enqueue of a lambda that sets the bench_event in the
 *                caller's handle (an atomic word and a futex wait)
 *   submit_batch parallel_for over the batch (TBB's own chunking) in a
 *                second arena of `threads` slots, one of them the
 *                caller's, which runs tasks until the loop is done
 *                (BENCH_BATCH_WAITER_RUNS); made on first use
 *
 * A task cannot wait for a child here (that is task_group's job): no
 * BENCH_NESTED_JOIN.
 */
#include <oneapi/tbb/blocked_range.h>
#include <oneapi/tbb/global_control.h>
#include <oneapi/tbb/parallel_for.h>
#include <oneapi/tbb/task_arena.h>
#include <oneapi/tbb/version.h>

#include <cstddef>
#include <cstdio>
#include <new>

#include "bench.h"

struct bench_pool {
    bench_pool(unsigned threads, bench_fn f)
        : control(tbb::global_control::max_allowed_parallelism,
                  threads + 1),
          arena(static_cast<int>(threads), 0),
          bulk(static_cast<int>(threads), 1), fn(f), latch(bench_latch_new())
    {
    }
    ~bench_pool() { bench_latch_free(latch); }
    bench_pool(const bench_pool &) = delete;
    bench_pool &operator=(const bench_pool &) = delete;
    tbb::global_control control;
    tbb::task_arena arena; /* enqueue: workers only         */
    tbb::task_arena bulk;  /* parallel_for: the caller too  */
    bench_fn fn;
    bench_latch *latch;
};

namespace {

struct tbb_handle {
    void *arg;
    bench_event ev;
};

static_assert(sizeof(tbb_handle) <= BENCH_HANDLE_MAX, "handle too large");

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
    bench_latch_wait(p->latch);
    delete p;
}

int tbb_submit(bench_pool *p, void *arg)
{
    bench_latch_add(p->latch, 1);
    try {
        p->arena.enqueue([p, arg] {
            (void)p->fn(arg);
            bench_latch_done(p->latch);
        });
        return 0;
    } catch (const std::bad_alloc &) {
        bench_latch_done(p->latch);
        return -1;
    }
}

int tbb_submit_batch(bench_pool *p, void *const *args, size_t n)
{
    try {
        bench_fn fn = p->fn;
        p->bulk.execute([fn, args, n] {
            tbb::parallel_for(tbb::blocked_range<size_t>(0, n),
                              [fn, args](const tbb::blocked_range<size_t> &r) {
                                  for (size_t i = r.begin(); i != r.end(); ++i)
                                      (void)fn(args[i]);
                              });
        });
        return 0;
    } catch (const std::bad_alloc &) {
        return -1;
    }
}

void tbb_wait_all(bench_pool *p) { bench_latch_wait(p->latch); }

int tbb_spawn(bench_pool *p, void *arg, void *handle)
{
    tbb_handle *h = static_cast<tbb_handle *>(handle);
    h->arg = arg;
    bench_event_init(&h->ev);
    try {
        bench_fn fn = p->fn;
        p->arena.enqueue([fn, h] { bench_event_set(&h->ev, fn(h->arg)); });
        return 0;
    } catch (const std::bad_alloc &) {
        return -1;
    }
}

void *tbb_join(bench_pool *, void *handle)
{
    tbb_handle *h = static_cast<tbb_handle *>(handle);
    return bench_event_wait(&h->ev);
}

const char *tbb_version() { return TBB_runtime_version(); }

bench_peer make_peer()
{
    bench_peer p{};
    p.name = "tbb";
    p.title = "oneTBB task_arena::enqueue";
    p.notes = "task_arena of T worker slots fed from outside with "
              "enqueue(); a latch for wait_all; parallel_for for batches; "
              "a task cannot wait for a child.";
    p.future_form = "an enqueued lambda that sets a bench_event in the "
                    "caller's handle (atomic word + futex wait)";
    p.batch_form = "parallel_for over each batch (caller takes part)";
    p.flags = BENCH_BATCH_WAITER_RUNS;
    p.handle_size = sizeof(tbb_handle);
    p.handle_align = alignof(tbb_handle);
    p.version = tbb_version;
    p.create = tbb_create;
    p.destroy = tbb_destroy;
    p.run = nullptr;
    p.submit = tbb_submit;
    p.submit_batch = tbb_submit_batch;
    p.wait_all = tbb_wait_all;
    p.spawn = tbb_spawn;
    p.join = tbb_join;
    return p;
}

} // namespace

extern "C" const bench_peer bench_peer_impl = make_peer();
