/*
 * pfor_tbb.cpp - tp_parallel_for() against oneTBB's tbb::parallel_for.
 *
 * A standalone program (not built by bench/CMakeLists.txt):
 *
 *   c++ -O2 -std=c++17 -Iinclude bench/pfor_tbb.cpp BUILD/libtpool.a \
 *       -ltbb -lpthread -o pfor_tbb
 *   ./pfor_tbb [-n ELEMENTS] [-r REPS] [THREADS...]       (default 1 2)
 *
 * The same loops as pfor_bench.c (sqrt, light, small; see there), with the
 * same method: T threads in all, the calling thread one of them.  TBB runs
 * in a task_arena of T slots (one kept for the caller), with its default
 * auto_partitioner over a blocked_range; the sqrt loop sums per chunk into
 * a shared total, as the tpool body does.  tpool runs from inside a task
 * of a pool of T workers, grain 0.  Each library runs its repetitions in
 * a block after one warm-up; medians in ns per element, and tpool's time
 * divided by TBB's (below 1: tpool faster).
 */
#include <oneapi/tbb/blocked_range.h>
#include <oneapi/tbb/global_control.h>
#include <oneapi/tbb/parallel_for.h>
#include <oneapi/tbb/task_arena.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <vector>

#include "tpool.h"

namespace {

constexpr size_t small_n = 10000;
constexpr int small_loops = 200;

double now_ns()
{
    timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return double(ts.tv_sec) * 1e9 + double(ts.tv_nsec);
}

double median(std::vector<double> v)
{
    std::sort(v.begin(), v.end());
    size_t n = v.size();
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

struct job {
    double *a;
    size_t n;
    std::atomic<double> sum{0.0};
    int kind; // 0 sqrt, 1 light, 2 small
    tp_pool *pool;
};

void add_sum(job *j, double part)
{
    double old = j->sum.load(std::memory_order_relaxed);
    while (!j->sum.compare_exchange_weak(old, old + part,
                                         std::memory_order_relaxed))
        ;
}

// The loop bodies, shared by both libraries.
double sqrt_chunk(double *a, size_t lo, size_t hi)
{
    double s = 0;
    for (size_t i = lo; i < hi; i++) {
        a[i] = std::sqrt(double(i)) * 1.5;
        s += a[i];
    }
    return s;
}

void light_chunk(double *a, size_t lo, size_t hi)
{
    for (size_t i = lo; i < hi; i++)
        a[i] += 1.0;
}

// ---- tpool ---------------------------------------------------------------

extern "C" void sqrt_body(size_t lo, size_t hi, void *ctx)
{
    job *j = static_cast<job *>(ctx);
    add_sum(j, sqrt_chunk(j->a, lo, hi));
}

extern "C" void light_body(size_t lo, size_t hi, void *ctx)
{
    job *j = static_cast<job *>(ctx);
    light_chunk(j->a, lo, hi);
}

extern "C" void *tpool_loop(void *arg)
{
    job *j = static_cast<job *>(arg);
    switch (j->kind) {
    case 0:
        tp_parallel_for(j->pool, 0, j->n, 0, sqrt_body, j);
        break;
    case 1:
        tp_parallel_for(j->pool, 0, j->n, 0, light_body, j);
        break;
    default:
        for (int k = 0; k < small_loops; k++)
            tp_parallel_for(j->pool, 0, small_n, 0, sqrt_body, j);
        break;
    }
    return nullptr;
}

double time_tpool(job &j)
{
    j.sum = 0.0;
    double t0 = now_ns();
    tp_future *f;
    if (tp_submit_future(j.pool, tpool_loop, &j, &f) != 0) {
        std::fprintf(stderr, "submit failed\n");
        std::exit(1);
    }
    tp_future_wait(f, -1);
    double t = now_ns() - t0;
    tp_future_release(f);
    return t;
}

// ---- TBB -----------------------------------------------------------------

double time_tbb(tbb::task_arena &arena, job &j)
{
    j.sum = 0.0;
    double t0 = now_ns();
    arena.execute([&j] {
        using range = tbb::blocked_range<size_t>;
        switch (j.kind) {
        case 0:
            tbb::parallel_for(range(0, j.n), [&j](const range &r) {
                add_sum(&j, sqrt_chunk(j.a, r.begin(), r.end()));
            });
            break;
        case 1:
            tbb::parallel_for(range(0, j.n), [&j](const range &r) {
                light_chunk(j.a, r.begin(), r.end());
            });
            break;
        default:
            for (int k = 0; k < small_loops; k++)
                tbb::parallel_for(range(0, small_n), [&j](const range &r) {
                    add_sum(&j, sqrt_chunk(j.a, r.begin(), r.end()));
                });
            break;
        }
    });
    return now_ns() - t0;
}

// Chunks add up in different orders: equal up to rounding.
void check_sum(job &j, double expect, const char *who)
{
    double got = j.sum.load();
    if (std::fabs(got - expect) > 1e-6 * std::fabs(expect)) {
        std::fprintf(stderr, "%s: wrong sum %.17g, expected %.17g\n", who,
                     got, expect);
        std::exit(1);
    }
}

} // namespace

int main(int argc, char **argv)
{
    size_t n = 10000000;
    int reps = 11;
    std::vector<unsigned> threads;
    for (int i = 1; i < argc; i++) {
        if (std::strcmp(argv[i], "-n") == 0 && i + 1 < argc)
            n = std::strtoull(argv[++i], nullptr, 10);
        else if (std::strcmp(argv[i], "-r") == 0 && i + 1 < argc)
            reps = std::atoi(argv[++i]);
        else if (std::atoi(argv[i]) > 0)
            threads.push_back(unsigned(std::atoi(argv[i])));
    }
    if (threads.empty())
        threads = {1, 2};
    if (reps < 1 || reps > 1000 || n < small_n)
        return 2;

    std::vector<double> a(n);
    double expect_big = 0, expect_small = 0;
    for (size_t i = 0; i < n; i++)
        expect_big += std::sqrt(double(i)) * 1.5;
    for (size_t i = 0; i < small_n; i++)
        expect_small += std::sqrt(double(i)) * 1.5;
    expect_small *= small_loops;

    static const char *const names[] = {"sqrt", "light", "small"};
    std::printf("# tp_parallel_for vs oneTBB %d.%d parallel_for, n = %zu, "
                "median of %d\n",
                TBB_VERSION_MAJOR, TBB_VERSION_MINOR, n, reps);
    std::printf("%-6s %7s %14s %14s %12s\n", "loop", "threads",
                "tpool ns/elem", "tbb ns/elem", "tpool/tbb");
    for (unsigned t : threads) {
        // Let TBB have as many threads as asked, even beyond the cores.
        tbb::global_control control(
            tbb::global_control::max_allowed_parallelism, t < 2 ? 2 : t);
        tbb::task_arena arena(int(t), 1);
        arena.initialize();
        tp_options o;
        tp_options_init(&o);
        o.threads = t;
        tp_pool *pool;
        if (tp_pool_create(&pool, &o) != 0)
            return 1;
        for (int kind = 0; kind < 3; kind++) {
            job j;
            j.a = a.data();
            j.n = n;
            j.kind = kind;
            j.pool = pool;
            double elems =
                kind == 2 ? double(small_n) * small_loops : double(n);
            std::vector<double> tt, tb;
            // One library at a time (each one's idle threads may spin).
            double expect = kind == 0 ? expect_big : expect_small;
            time_tpool(j); // warm-up
            for (int r = 0; r < reps; r++) {
                tt.push_back(time_tpool(j));
                if (kind != 1)
                    check_sum(j, expect, "tpool");
            }
            time_tbb(arena, j);
            for (int r = 0; r < reps; r++) {
                tb.push_back(time_tbb(arena, j));
                if (kind != 1)
                    check_sum(j, expect, "tbb");
            }
            double mt = median(tt) / elems, mb = median(tb) / elems;
            std::printf("%-6s %7u %14.3f %14.3f %12.2f\n", names[kind], t, mt,
                        mb, mt / mb);
            std::fflush(stdout);
        }
        tp_pool_destroy(pool);
    }
    return 0;
}
