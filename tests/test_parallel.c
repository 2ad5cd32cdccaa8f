/*
 * test_parallel.c - parallel loops (tp_parallel_for, tp_parallel_map):
 * every index visited exactly once for many ranges and grains (empty, one
 * chunk, huge grains, ranges at the top of size_t), on pools of 1 and 4
 * threads, from outside and from inside tasks (nested loops, loops in loop
 * bodies), from several threads at once, on a shut-down pool, with
 * allocation failures; sums against the sequential result; arguments.
 */
#include <stdatomic.h>
#include <stdlib.h>

#include "check.h"
#include "failalloc.h"
#include "tpool.h"
#include "util.h"

/* Visits of [begin, end): hits[i - begin] counts index i. */
typedef struct visits {
    size_t begin, end, grain;
    atomic_uchar *hits;
    atomic_size_t calls;
    atomic_int bad; /* a chunk out of range, empty, or larger than grain */
} visits;

static void count_range(size_t lo, size_t hi, void *ctx)
{
    visits *v = ctx;
    atomic_fetch_add(&v->calls, 1);
    if (lo >= hi || lo < v->begin || hi > v->end ||
        (v->grain != 0 && hi - lo > v->grain)) {
        atomic_store(&v->bad, 1);
        return;
    }
    for (size_t i = lo; i < hi; i++)
        atomic_fetch_add(&v->hits[i - v->begin], 1);
}

/* Runs one loop and checks that each index was visited once. */
static void check_once(tp_pool *p, size_t begin, size_t end, size_t grain)
{
    size_t n = end - begin;
    visits v = {begin, end, grain, NULL, 0, 0};
    v.hits = calloc(n > 0 ? n : 1, sizeof *v.hits);
    CHECK(v.hits != NULL);
    CHECK_OK(tp_parallel_for(p, begin, end, grain, count_range, &v));
    CHECK_EQ(atomic_load(&v.bad), 0);
    for (size_t i = 0; i < n; i++)
        if (atomic_load(&v.hits[i]) != 1) {
            fprintf(stderr, "index %zu of [%zu, %zu) grain %zu: %d visits\n",
                    begin + i, begin, end, grain, (int)atomic_load(&v.hits[i]));
            CHECK(0);
        }
    size_t calls = atomic_load(&v.calls);
    if (n == 0)
        CHECK_EQ(calls, 0);
    else if (grain != 0)
        CHECK_EQ(calls, n / grain + (n % grain != 0));
    else
        CHECK(calls >= 1 && calls <= n);
    free(v.hits);
}

static void check_many(tp_pool *p)
{
    static const size_t begins[] = {0, 1, 7, 1000};
    static const size_t lengths[] = {0, 1, 2, 3, 5, 16, 17, 100, 1023, 4096,
                                     10007};
    static const size_t grains[] = {0, 1, 2, 3, 7, 64, 1000, 4096, 100000,
                                    SIZE_MAX};
    for (size_t b = 0; b < sizeof begins / sizeof *begins; b++)
        for (size_t l = 0; l < sizeof lengths / sizeof *lengths; l++)
            for (size_t g = 0; g < sizeof grains / sizeof *grains; g++)
                check_once(p, begins[b], begins[b] + lengths[l], grains[g]);
    /* At the very top of size_t: no overflow in the chunk arithmetic. */
    check_once(p, SIZE_MAX - 1000, SIZE_MAX, 0);
    check_once(p, SIZE_MAX - 1000, SIZE_MAX, 7);
    check_once(p, SIZE_MAX - 1000, SIZE_MAX, 999);
    check_once(p, SIZE_MAX - 1000, SIZE_MAX, SIZE_MAX);
    check_once(p, SIZE_MAX, SIZE_MAX, 3);
}

TEST(exactly_once_1_thread)
{
    tp_pool *p = make_pool(1);
    check_many(p);
    CHECK_OK(tp_pool_destroy(p));
}

TEST(exactly_once_4_threads)
{
    tp_pool *p = make_pool(4);
    check_many(p);
    CHECK_OK(tp_pool_destroy(p));
}

/* Chunks of a huge grain and a single chunk run on the caller alone. */
static atomic_int caller_only;
static pthread_t caller;

static void on_caller(size_t lo, size_t hi, void *ctx)
{
    (void)lo;
    (void)hi;
    (void)ctx;
    if (!pthread_equal(pthread_self(), caller))
        atomic_store(&caller_only, 0);
}

TEST(single_chunk_runs_on_caller)
{
    tp_pool *p = make_pool(4);
    caller = pthread_self();
    atomic_store(&caller_only, 1);
    CHECK_OK(tp_parallel_for(p, 0, 1000, SIZE_MAX, on_caller, NULL));
    CHECK_OK(tp_parallel_for(p, 5, 6, 0, on_caller, NULL));
    CHECK_EQ(atomic_load(&caller_only), 1);
    tp_pool_stats s;
    CHECK_OK(tp_pool_stats_get(p, &s));
    CHECK_EQ(s.submitted, 0);
    CHECK_OK(tp_pool_destroy(p));
}

/* The sum of a large array equals the sequential sum. */
typedef struct summing {
    const uint32_t *a;
    atomic_uint_fast64_t sum;
} summing;

static void sum_range(size_t lo, size_t hi, void *ctx)
{
    summing *s = ctx;
    uint64_t part = 0;
    for (size_t i = lo; i < hi; i++)
        part += s->a[i];
    atomic_fetch_add(&s->sum, part);
}

TEST(sum_matches_sequential)
{
    size_t n = SCALE(4000000);
    uint32_t *a = malloc(n * sizeof *a);
    CHECK(a != NULL);
    uint64_t x = 88172645463325252ull, expect = 0;
    for (size_t i = 0; i < n; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        a[i] = (uint32_t)x;
        expect += a[i];
    }
    for (unsigned threads = 1; threads <= 4; threads *= 4) {
        tp_pool *p = make_pool(threads);
        static const size_t grains[] = {0, 1000, 65536, 333333};
        for (size_t g = 0; g < sizeof grains / sizeof *grains; g++) {
            summing s = {a, 0};
            CHECK_OK(tp_parallel_for(p, 0, n, grains[g], sum_range, &s));
            CHECK_EQ(atomic_load(&s.sum), expect);
        }
        CHECK_OK(tp_pool_destroy(p));
    }
    free(a);
}

/* ---- nesting ------------------------------------------------------------- */

typedef struct nested {
    tp_pool *pool;
    size_t outer, inner;
    atomic_uchar *hits; /* outer * inner */
} nested;

static void inner_body(size_t lo, size_t hi, void *ctx)
{
    /* ctx: the row's first hit */
    atomic_uchar *row = ctx;
    for (size_t i = lo; i < hi; i++)
        atomic_fetch_add(&row[i], 1);
}

static void outer_body(size_t lo, size_t hi, void *ctx)
{
    nested *nt = ctx;
    for (size_t i = lo; i < hi; i++)
        CHECK_OK(tp_parallel_for(nt->pool, 0, nt->inner, 3, inner_body,
                                 &nt->hits[i * nt->inner]));
}

static void run_nested(nested *nt)
{
    CHECK_OK(tp_parallel_for(nt->pool, 0, nt->outer, 1, outer_body, nt));
}

static void *nested_task(void *arg)
{
    run_nested(arg);
    return NULL;
}

static void check_nested(nested *nt)
{
    for (size_t i = 0; i < nt->outer * nt->inner; i++)
        CHECK_EQ(atomic_load(&nt->hits[i]), 1);
}

TEST(nested_inside_a_task)
{
    /* A loop run by a task of the same pool, with loops in its body: on one
     * thread nobody else can help, and it must still finish. */
    for (unsigned threads = 1; threads <= 4; threads *= 4) {
        tp_pool *p = make_pool(threads);
        for (int from_task = 0; from_task < 2; from_task++) {
            nested nt = {p, 40, 50, NULL};
            nt.hits = calloc(nt.outer * nt.inner, sizeof *nt.hits);
            CHECK(nt.hits != NULL);
            if (from_task) {
                tp_future *f;
                CHECK_OK(tp_submit_future(p, nested_task, &nt, &f));
                CHECK_OK(tp_future_wait(f, -1));
                tp_future_release(f);
            } else {
                run_nested(&nt);
            }
            check_nested(&nt);
            free(nt.hits);
        }
        CHECK_OK(tp_pool_destroy(p));
    }
}

typedef struct many_ctx {
    tp_pool *pool;
    atomic_int failures;
} many_ctx;

static void *loop_task(void *arg)
{
    many_ctx *m = arg;
    size_t begin = (size_t)tp_task_id() % 100;
    visits v = {begin, begin + 3000, 17, NULL, 0, 0};
    v.hits = calloc(3000, sizeof *v.hits);
    CHECK(v.hits != NULL);
    CHECK_OK(
        tp_parallel_for(m->pool, v.begin, v.end, v.grain, count_range, &v));
    for (size_t i = 0; i < 3000; i++)
        if (atomic_load(&v.hits[i]) != 1)
            atomic_fetch_add(&m->failures, 1);
    free(v.hits);
    return NULL;
}

static void *loop_thread(void *arg)
{
    many_ctx *m = arg;
    for (int i = 0; i < SCALE(200); i++)
        loop_task(m);
    return NULL;
}

TEST(concurrent_loops)
{
    /* Loops from several outside threads and from many tasks at once. */
    tp_pool *p = make_pool(4);
    many_ctx m = {p, 0};
    pthread_t t[3];
    for (int i = 0; i < 3; i++)
        CHECK_OK(pthread_create(&t[i], NULL, loop_thread, &m));
    enum { TASKS = 64 };
    tp_future *fs[TASKS];
    for (int i = 0; i < TASKS; i++)
        CHECK_OK(tp_submit_future(p, loop_task, &m, &fs[i]));
    CHECK_OK(tp_wait_all(fs, TASKS, -1));
    for (int i = 0; i < TASKS; i++)
        tp_future_release(fs[i]);
    for (int i = 0; i < 3; i++)
        CHECK_OK(pthread_join(t[i], NULL));
    CHECK_EQ(atomic_load(&m.failures), 0);
    /* Helpers that were not needed were withdrawn; nothing is left. */
    CHECK_OK(tp_pool_wait_idle(p, -1));
    tp_pool_stats s;
    CHECK_OK(tp_pool_stats_get(p, &s));
    CHECK_EQ(s.queued, 0);
    CHECK_EQ(s.running, 0);
    CHECK_EQ(s.submitted, s.completed + s.cancelled);
    CHECK_OK(tp_pool_destroy(p));
}

TEST(caller_helps_while_workers_are_busy)
{
    /* Every worker blocked: the caller runs every chunk itself and returns
     * without waiting for the helpers queued behind the blockers, which
     * are withdrawn. */
    tp_pool *p = make_pool(2);
    gate b;
    gate_init(&b);
    tp_future *busy[2];
    for (int i = 0; i < 2; i++)
        CHECK_OK(tp_submit_future(p, gate_task, &b, &busy[i]));
    event_wait(&b.started, 2);
    check_once(p, 0, 1000, 10);
    tp_pool_stats s;
    CHECK_OK(tp_pool_stats_get(p, &s));
    CHECK_EQ(s.submitted, 4); /* two blockers, two helpers */
    CHECK_EQ(s.running, 2);
    CHECK_EQ(s.completed, 0);
    event_signal(&b.open);
    CHECK_OK(tp_wait_all(busy, 2, -1));
    for (int i = 0; i < 2; i++)
        tp_future_release(busy[i]);
    CHECK_OK(tp_pool_wait_idle(p, -1));
    CHECK_OK(tp_pool_stats_get(p, &s));
    CHECK_EQ(s.completed, 2);  /* the blockers */
    CHECK_EQ(s.cancelled, 2);  /* the helpers never ran */
    gate_destroy(&b);
    CHECK_OK(tp_pool_destroy(p));
}

TEST(shut_down_pool)
{
    /* No helper can be submitted: the caller does everything, no error. */
    tp_pool *p = make_pool(2);
    CHECK_OK(tp_pool_shutdown(p));
    check_once(p, 0, 10000, 10);
    check_once(p, 3, 300, 0);
    CHECK_OK(tp_pool_destroy(p));
}

/* ---- map ----------------------------------------------------------------- */

typedef struct elem {
    uint64_t in;
    uint64_t out;
    size_t index;
} elem;

static void square(void *item, size_t index, void *ctx)
{
    elem *e = item;
    e->out = e->in * e->in + (uint64_t)(uintptr_t)ctx;
    e->index = index;
}

TEST(map)
{
    for (unsigned threads = 1; threads <= 4; threads *= 4) {
        tp_pool *p = make_pool(threads);
        size_t n = SCALE(100000);
        elem *a = calloc(n, sizeof *a);
        CHECK(a != NULL);
        for (size_t i = 0; i < n; i++)
            a[i].in = i;
        CHECK_OK(tp_parallel_map(p, a, n, sizeof *a, 0, square, (void *)7));
        for (size_t i = 0; i < n; i++) {
            CHECK_EQ(a[i].out, (uint64_t)i * i + 7);
            CHECK_EQ(a[i].index, i);
        }
        CHECK_OK(tp_parallel_map(p, a, n, sizeof *a, 13, square, NULL));
        for (size_t i = 0; i < n; i++)
            CHECK_EQ(a[i].out, (uint64_t)i * i);
        free(a);
        CHECK_OK(tp_pool_destroy(p));
    }
}

/* ---- arguments ---------------------------------------------------------- */

static void never(size_t lo, size_t hi, void *ctx)
{
    (void)lo;
    (void)hi;
    (void)ctx;
    CHECK(0);
}

static void never_item(void *item, size_t index, void *ctx)
{
    (void)item;
    (void)index;
    (void)ctx;
    CHECK(0);
}

TEST(bad_arguments)
{
    tp_pool *p = make_pool(1);
    CHECK_EQ(tp_parallel_for(NULL, 0, 10, 0, never, NULL), TP_EINVAL);
    CHECK_EQ(tp_parallel_for(p, 0, 10, 0, NULL, NULL), TP_EINVAL);
    CHECK_EQ(tp_parallel_for(p, 11, 10, 0, never, NULL), TP_EINVAL);
    CHECK_OK(tp_parallel_for(p, 10, 10, 0, never, NULL)); /* empty */
    CHECK_OK(tp_parallel_for(p, 0, 0, 5, never, NULL));

    int a[4];
    CHECK_EQ(tp_parallel_map(NULL, a, 4, sizeof *a, 0, never_item, NULL),
             TP_EINVAL);
    CHECK_EQ(tp_parallel_map(p, a, 4, sizeof *a, 0, NULL, NULL), TP_EINVAL);
    CHECK_EQ(tp_parallel_map(p, NULL, 4, sizeof *a, 0, never_item, NULL),
             TP_EINVAL);
    CHECK_EQ(tp_parallel_map(p, a, 4, 0, 0, never_item, NULL), TP_EINVAL);
    CHECK_EQ(tp_parallel_map(p, a, SIZE_MAX / 2, 4, 0, never_item, NULL),
             TP_EINVAL);
    CHECK_OK(tp_parallel_map(p, NULL, 0, 0, 0, never_item, NULL));
    CHECK_OK(tp_pool_destroy(p));
}

/* ---- allocation failures ------------------------------------------------- */

TEST(every_allocation_failure)
{
    /* A pool larger than the helpers kept on the stack, so that the loop
     * allocates too (its bookkeeping, then a future per helper); whatever
     * fails, every index is visited once and the call succeeds.  The pool
     * is made once: its own failures are test_faults' business. */
    CHECK_OK(tp_replace_allocator(failing_malloc, counting_free));
    atomic_store(&allocs_left, -1);
    tp_options o;
    tp_options_init(&o);
    o.threads = 40;
    tp_pool *p;
    CHECK_OK(tp_pool_create(&p, &o));
    long points = 0;
    for (long n = 1;; n++) {
        atomic_store(&allocs_left, n);
        atomic_store(&failures, 0);
        check_once(p, 0, 5000, 0);
        check_once(p, 0, 5000, 1);
        atomic_store(&allocs_left, -1);
        if (atomic_load(&failures) == 0)
            break;
        points++;
    }
    CHECK_OK(tp_pool_destroy(p));
    CHECK_EQ(atomic_load(&live), 0);
    CHECK_OK(tp_replace_allocator(NULL, NULL));
    printf("# allocation failure points tried: %ld\n", points);
    CHECK(points >= 40);
}

TEST_MAIN(TEST_ENTRY(exactly_once_1_thread)
          TEST_ENTRY(exactly_once_4_threads)
          TEST_ENTRY(single_chunk_runs_on_caller)
          TEST_ENTRY(sum_matches_sequential)
          TEST_ENTRY(nested_inside_a_task)
          TEST_ENTRY(concurrent_loops)
          TEST_ENTRY(caller_helps_while_workers_are_busy)
          TEST_ENTRY(shut_down_pool)
          TEST_ENTRY(map)
          TEST_ENTRY(bad_arguments)
          TEST_ENTRY(every_allocation_failure))
