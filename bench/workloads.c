/*
 * workloads.c - what the benchmark measures, written once against the
 * adapter interface of bench.h and run the same way for every peer.
 *
 *   empty     n no-op tasks submitted from one thread, then wait for all:
 *             ns per task.  Variant "single": one submit per task, then
 *             wait_all; "future": one spawn per task (a future each),
 *             then a join of each, in submission order; "batch": the
 *             peer's batch or bulk call, BATCH tasks a call, then wait_all
 *   forkjoin  fib(n) where each call spawns fib(n-1) as a child task,
 *             computes fib(n-2) itself and waits for the child
 *   seqfib    the same fib(n) as plain recursion (the sequential time)
 *   memory    bytes per queued task (variant "task") or per queued task
 *             with a future ("future"), from malloc's statistics and from
 *             the growth of the resident set
 *   latency   one task at a time to an idle pool, a pause between two:
 *             time from submit until the waiter has the result
 *   idle      CPU time the pool uses over `ms` milliseconds of idleness
 *             right after some work
 *
 * Each workload warms up (a smaller run, or discarded samples) before it
 * measures, checks what it can (every task ran once, fib is right) and
 * exits with status 1 if a check fails.
 */
#include <malloc.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "driver.h"

#define PEER (&bench_peer_impl)

/* Tasks per call in the "batch" variant of `empty`. */
#define BATCH 1024

static void run_body(bench_pool *pool, bench_body body, void *ctx)
{
    if (PEER->run != NULL)
        PEER->run(pool, body, ctx);
    else
        body(pool, ctx);
}

static bench_pool *make_pool(unsigned threads, bench_fn fn)
{
    bench_pool *pool = PEER->create(threads, fn);
    if (pool == NULL)
        bench_die("%s: cannot create a pool of %u threads", PEER->name,
                  threads);
    return pool;
}

static void submit_or_die(bench_pool *pool, void *arg)
{
    if (PEER->submit(pool, arg) != 0)
        bench_die("%s: submit failed", PEER->name);
}

static double ms_of(uint64_t ns) { return (double)ns / 1e6; }

static bool has_pool(const bench_peer *p)
{
    return p->create != NULL && p->submit != NULL && p->wait_all != NULL &&
           (p->flags & BENCH_FORKJOIN_ONLY) == 0;
}

static void *noop_task(void *arg) { return arg; }

/* ------------------------------------------------------------------------ */
/* empty: submit + run + completion of no-op tasks                          */
/* ------------------------------------------------------------------------ */

enum empty_kind { EMPTY_SINGLE, EMPTY_FUTURE, EMPTY_BATCH };

struct empty_ctx {
    uint64_t n;
    enum empty_kind kind;
    unsigned char *handles; /* EMPTY_FUTURE: n handles of handle_stride() */
    char *base;             /* EMPTY_FUTURE: task i's argument is base + i */
    uint64_t ns;
};

static void *const batch_args[BATCH]; /* every task's argument: NULL */

/* n handles' worth of memory, aligned for any handle (aligned_alloc wants
 * a multiple of the alignment). */
static void *alloc_handles(size_t bytes)
{
    size_t al = _Alignof(max_align_t);
    void *mem = aligned_alloc(al, (bytes + al - 1) / al * al);
    if (mem == NULL)
        bench_die("out of memory");
    return mem;
}

/* The distance between two handles in an array of them: the handle's size
 * rounded up to its alignment, as a C array of the peer's handle type has
 * it. */
static size_t handle_stride(void)
{
    size_t al = PEER->handle_align ? PEER->handle_align
                                   : _Alignof(max_align_t);
    size_t hs = PEER->handle_size ? PEER->handle_size : 1;
    return (hs + al - 1) / al * al;
}

static void empty_body(bench_pool *pool, void *vctx)
{
    struct empty_ctx *c = vctx;
    size_t stride = handle_stride();
    uint64_t t0 = bench_now_ns();
    switch (c->kind) {
    case EMPTY_BATCH:
        for (uint64_t i = 0; i < c->n; i += BATCH) {
            size_t k = c->n - i < BATCH ? (size_t)(c->n - i) : BATCH;
            if (PEER->submit_batch(pool, batch_args, k) != 0)
                bench_die("%s: batch submit failed", PEER->name);
        }
        PEER->wait_all(pool);
        break;
    case EMPTY_FUTURE:
        for (uint64_t i = 0; i < c->n; i++)
            if (PEER->spawn(pool, c->base + i, c->handles + i * stride) != 0)
                bench_die("%s: spawn failed", PEER->name);
        for (uint64_t i = 0; i < c->n; i++)
            if (PEER->join(pool, c->handles + i * stride) != c->base + i)
                bench_die("%s: a future gave a wrong result", PEER->name);
        break;
    case EMPTY_SINGLE:
        for (uint64_t i = 0; i < c->n; i++)
            submit_or_die(pool, NULL);
        PEER->wait_all(pool);
        break;
    }
    c->ns = bench_now_ns() - t0;
}

static bool empty_applies(const bench_peer *p) { return has_pool(p); }

/* The handles and arguments of a run with futures, allocated and touched
 * before the clock starts (the caller's storage, the same for every
 * peer). */
static void empty_alloc(struct empty_ctx *c)
{
    if (c->kind != EMPTY_FUTURE)
        return;
    size_t bytes = handle_stride() * (size_t)c->n;
    c->handles = alloc_handles(bytes);
    memset(c->handles, 0, bytes);
    c->base = bench_xcalloc(c->n, 1);
}

static void empty_free(struct empty_ctx *c)
{
    free(c->handles);
    free(c->base);
}

static void empty_run(const bench_args *a, bench_report *r)
{
    enum empty_kind kind = EMPTY_SINGLE;
    if (strcmp(a->variant, "batch") == 0)
        kind = EMPTY_BATCH;
    else if (strcmp(a->variant, "future") == 0)
        kind = EMPTY_FUTURE;
    else if (a->variant[0] != '\0' && strcmp(a->variant, "single") != 0)
        bench_die("empty: variant is single, future or batch");
    if (kind == EMPTY_BATCH && PEER->submit_batch == NULL)
        bench_die("%s has no batch submit", PEER->name);
    if (kind == EMPTY_FUTURE &&
        (PEER->spawn == NULL || (PEER->flags & BENCH_FORKJOIN_ONLY)))
        bench_die("%s has no futures", PEER->name);
    static const char *const names[] = {"single", "future", "batch"};
    r->variant = names[kind];
    r->threads = a->threads ? a->threads : 2;
    r->n = a->n ? a->n : 1000000;

    bench_pool *pool = make_pool(r->threads, noop_task);
    struct empty_ctx warm = {r->n / 10 < 1000 ? 1000 : r->n / 10, kind,
                             NULL, NULL, 0};
    struct empty_ctx c = {r->n, kind, NULL, NULL, 0};
    empty_alloc(&warm);
    empty_alloc(&c);
    run_body(pool, empty_body, &warm);
    run_body(pool, empty_body, &c);
    PEER->destroy(pool);
    empty_free(&warm);
    empty_free(&c);

    bench_metric(r, "ns_per_task", (double)c.ns / (double)r->n);
    bench_metric(r, "total_ms", ms_of(c.ns));
}

/* ------------------------------------------------------------------------ */
/* forkjoin / seqfib                                                        */
/* ------------------------------------------------------------------------ */

struct fib_arg {
    bench_pool *pool;
    int n;
    long result;
};

/* One call of fib: spawns fib(n-1) as a child, computes fib(n-2) here and
 * waits for the child (which the waiting thread may run itself). */
static void *fib_task(void *arg)
{
    struct fib_arg *f = arg;
    if (f->n < 2) {
        f->result = f->n;
        return f;
    }
    struct fib_arg child = {f->pool, f->n - 1, 0};
    struct fib_arg self = {f->pool, f->n - 2, 0};
    _Alignas(max_align_t) unsigned char handle[BENCH_HANDLE_MAX];
    if (PEER->spawn(f->pool, &child, handle) != 0)
        bench_die("%s: spawn failed", PEER->name);
    fib_task(&self);
    PEER->join(f->pool, handle);
    f->result = child.result + self.result;
    return f;
}

/* Plain recursion, for the sequential time and to check the result. */
static long fib_seq(int n) { return n < 2 ? n : fib_seq(n - 1) + fib_seq(n - 2); }

/* Tasks spawned by fib_task(n) plus the root task: fib(n+1). */
static uint64_t fib_tasks(int n)
{
    uint64_t a = 0, b = 1; /* fib(0), fib(1) */
    for (int i = 0; i < n + 1; i++) {
        uint64_t t = a + b;
        a = b;
        b = t;
    }
    return a;
}

struct fork_ctx {
    int n;
    long result;
    uint64_t ns;
};

static void fork_body(bench_pool *pool, void *vctx)
{
    struct fork_ctx *c = vctx;
    struct fib_arg root = {pool, c->n, 0};
    _Alignas(max_align_t) unsigned char handle[BENCH_HANDLE_MAX];
    uint64_t t0 = bench_now_ns();
    if (PEER->spawn(pool, &root, handle) != 0)
        bench_die("%s: spawn failed", PEER->name);
    PEER->join(pool, handle);
    c->ns = bench_now_ns() - t0;
    c->result = root.result;
}

static bool fork_applies(const bench_peer *p)
{
    return p->create != NULL && p->spawn != NULL && p->join != NULL &&
           (p->flags & BENCH_NESTED_JOIN) != 0;
}

static int fib_arg_of(const bench_args *a)
{
    uint64_t n = a->n ? a->n : 25;
    if (n > 40)
        bench_die("fib: n at most 40");
    return (int)n;
}

static const char *fib_variant(int n)
{
    static char name[16];
    snprintf(name, sizeof name, "fib%d", n);
    return name;
}

static void fork_run(const bench_args *a, bench_report *r)
{
    int n = fib_arg_of(a);
    r->variant = fib_variant(n);
    r->threads = a->threads ? a->threads : 2;
    r->n = (uint64_t)n;

    bench_pool *pool = make_pool(r->threads, fib_task);
    struct fork_ctx warm = {n < 18 ? n : 18, 0, 0};
    run_body(pool, fork_body, &warm);
    struct fork_ctx c = {n, 0, 0};
    run_body(pool, fork_body, &c);
    PEER->destroy(pool);

    if (c.result != fib_seq(n) || warm.result != fib_seq(warm.n))
        bench_die("%s: fib(%d) gave %ld", PEER->name, n, c.result);
    uint64_t tasks = fib_tasks(n);
    bench_metric(r, "total_ms", ms_of(c.ns));
    bench_metric(r, "tasks", (double)tasks);
    bench_metric(r, "ns_per_task", (double)c.ns / (double)tasks);
}

static void seqfib_run(const bench_args *a, bench_report *r)
{
    int n = fib_arg_of(a);
    r->variant = fib_variant(n);
    r->threads = 1;
    r->n = (uint64_t)n;
    volatile int vn = n; /* keep the call from being folded */
    long warm = fib_seq(vn < 18 ? vn : 18);
    uint64_t t0 = bench_now_ns();
    long result = fib_seq(vn);
    uint64_t ns = bench_now_ns() - t0;
    if (result <= 0 && n > 0)
        bench_die("fib(%d) gave %ld (%ld)", n, result, warm);
    bench_metric(r, "total_ms", ms_of(ns));
    bench_metric(r, "ns_per_task", (double)ns / (double)fib_tasks(n));
}

/* ------------------------------------------------------------------------ */
/* latency                                                                  */
/* ------------------------------------------------------------------------ */

#define LATENCY_WARMUP 20

struct lat_ctx {
    uint64_t samples;
    uint64_t gap_ns;
    uint64_t *ns;
};

static void lat_body(bench_pool *pool, void *vctx)
{
    struct lat_ctx *c = vctx;
    static int token;
    _Alignas(max_align_t) unsigned char handle[BENCH_HANDLE_MAX];
    for (uint64_t i = 0; i < LATENCY_WARMUP + c->samples; i++) {
        bench_sleep_ns(c->gap_ns);
        uint64_t t0 = bench_now_ns();
        if (PEER->spawn(pool, &token, handle) != 0)
            bench_die("%s: spawn failed", PEER->name);
        void *res = PEER->join(pool, handle);
        uint64_t t1 = bench_now_ns();
        if (res != &token)
            bench_die("%s: wrong result", PEER->name);
        if (i >= LATENCY_WARMUP)
            c->ns[i - LATENCY_WARMUP] = t1 - t0;
    }
}

static bool lat_applies(const bench_peer *p)
{
    return p->create != NULL && p->spawn != NULL && p->join != NULL &&
           (p->flags & BENCH_FORKJOIN_ONLY) == 0;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

/* Nearest-rank percentile of sorted v[0..n-1], in microseconds. */
static double pct_us(const uint64_t *v, uint64_t n, double q)
{
    uint64_t rank = (uint64_t)(q * (double)n + 0.999999);
    if (rank < 1)
        rank = 1;
    if (rank > n)
        rank = n;
    return (double)v[rank - 1] / 1e3;
}

static void lat_run(const bench_args *a, bench_report *r)
{
    r->threads = a->threads ? a->threads : 2;
    r->n = a->n ? a->n : 5000;
    struct lat_ctx c = {r->n, (a->gap_us ? a->gap_us : 200) * 1000u,
                        bench_xcalloc(r->n, sizeof(uint64_t))};
    bench_pool *pool = make_pool(r->threads, noop_task);
    run_body(pool, lat_body, &c);
    PEER->destroy(pool);

    qsort(c.ns, r->n, sizeof c.ns[0], cmp_u64);
    double sum = 0;
    for (uint64_t i = 0; i < r->n; i++)
        sum += (double)c.ns[i];
    bench_metric(r, "p50_us", pct_us(c.ns, r->n, 0.50));
    bench_metric(r, "p90_us", pct_us(c.ns, r->n, 0.90));
    bench_metric(r, "p99_us", pct_us(c.ns, r->n, 0.99));
    bench_metric(r, "mean_us", sum / (double)r->n / 1e3);
    bench_metric(r, "max_us", (double)c.ns[r->n - 1] / 1e3);
    free(c.ns);
}

/* ------------------------------------------------------------------------ */
/* memory                                                                   */
/* ------------------------------------------------------------------------ */

/* The first task of a measurement blocks the pool's only thread on this
 * gate, so that the tasks submitted after it stay queued. */
static bench_event mem_gate;

static void *mem_task(void *arg)
{
    if (arg == &mem_gate)
        bench_event_wait(&mem_gate);
    return arg;
}

static double heap_bytes(void)
{
    struct mallinfo2 mi = mallinfo2();
    return (double)mi.uordblks + (double)mi.hblkhd;
}

static double rss_bytes(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    unsigned long size = 0, resident = 0;
    if (f == NULL)
        return 0;
    if (fscanf(f, "%lu %lu", &size, &resident) != 2)
        resident = 0;
    fclose(f);
    return (double)resident * (double)sysconf(_SC_PAGESIZE);
}

struct mem_ctx {
    uint64_t n;
    bool future;        /* tasks with a future (spawn), else plain tasks */
    double heap, rss;   /* growth per queued task                        */
};

static void mem_body(bench_pool *pool, void *vctx)
{
    struct mem_ctx *c = vctx;

    /* Warm-up: the pool has run some tasks before. */
    for (uint64_t i = 0; i < c->n / 100 + 100; i++)
        submit_or_die(pool, NULL);
    PEER->wait_all(pool);

    bench_event_init(&mem_gate);
    double h0 = heap_bytes(), r0 = rss_bytes(), h1, r1;
    if (!c->future) {
        submit_or_die(pool, &mem_gate);
        for (uint64_t i = 0; i < c->n; i++)
            submit_or_die(pool, NULL);
        h1 = heap_bytes();
        r1 = rss_bytes();
        bench_event_set(&mem_gate, NULL);
        PEER->wait_all(pool);
    } else {
        /* The caller's handle storage counts too.  The gate is a task of
         * the same kind (handle 0). */
        size_t stride = handle_stride();
        unsigned char *handles = alloc_handles(stride * (size_t)(c->n + 1));
        for (uint64_t i = 0; i <= c->n; i++)
            if (PEER->spawn(pool, i == 0 ? &mem_gate : NULL,
                            handles + i * stride) != 0)
                bench_die("%s: spawn failed", PEER->name);
        h1 = heap_bytes();
        r1 = rss_bytes();
        bench_event_set(&mem_gate, NULL);
        for (uint64_t i = 0; i <= c->n; i++)
            PEER->join(pool, handles + i * stride);
        free(handles);
    }
    bench_event_destroy(&mem_gate);
    c->heap = (h1 - h0) / (double)c->n;
    c->rss = (r1 - r0) / (double)c->n;
}

static bool mem_applies(const bench_peer *p)
{
    return has_pool(p) && (p->flags & BENCH_NO_DEEP_QUEUE) == 0;
}

static void mem_run(const bench_args *a, bench_report *r)
{
    bool future = strcmp(a->variant, "future") == 0;
    if (!future && a->variant[0] != '\0' && strcmp(a->variant, "task") != 0)
        bench_die("memory: variant is task or future");
    if (future && PEER->spawn == NULL)
        bench_die("%s has no futures", PEER->name);
    r->variant = future ? "future" : "task";
    r->threads = 1;
    r->n = a->n ? a->n : 1000000;
    struct mem_ctx c = {r->n, future, 0, 0};
    bench_pool *pool = make_pool(1, mem_task);
    run_body(pool, mem_body, &c);
    PEER->destroy(pool);
    bench_metric(r, "heap_bytes", c.heap);
    bench_metric(r, "rss_bytes", c.rss);
}

/* ------------------------------------------------------------------------ */
/* idle                                                                     */
/* ------------------------------------------------------------------------ */

struct idle_ctx {
    uint64_t n;
};

static void idle_body(bench_pool *pool, void *vctx)
{
    struct idle_ctx *c = vctx;
    for (uint64_t i = 0; i < c->n; i++)
        submit_or_die(pool, NULL);
    PEER->wait_all(pool);
}

static double cpu_ms_used(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec * 1e3 +
           (double)ru.ru_utime.tv_usec / 1e3 +
           (double)ru.ru_stime.tv_sec * 1e3 +
           (double)ru.ru_stime.tv_usec / 1e3;
}

static void idle_run(const bench_args *a, bench_report *r)
{
    r->threads = a->threads ? a->threads : 4;
    r->n = a->ms ? a->ms : 1000;
    bench_pool *pool = make_pool(r->threads, noop_task);
    struct idle_ctx c = {10000};
    run_body(pool, idle_body, &c);
    double before = cpu_ms_used();
    uint64_t t0 = bench_now_ns();
    bench_sleep_ns(r->n * 1000000u);
    double wall = ms_of(bench_now_ns() - t0);
    double used = cpu_ms_used() - before;
    PEER->destroy(pool);
    bench_metric(r, "cpu_ms", used);
    bench_metric(r, "cpu_pct", 100.0 * used / wall);
}

/* ------------------------------------------------------------------------ */

const bench_workload bench_workloads[] = {
    {"empty", empty_applies, empty_run},
    {"forkjoin", fork_applies, fork_run},
    {"seqfib", NULL, seqfib_run},
    {"latency", lat_applies, lat_run},
    {"memory", mem_applies, mem_run},
    {"idle", empty_applies, idle_run},
    {NULL, NULL, NULL},
};
