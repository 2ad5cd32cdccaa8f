/*
 * parallel.c - parallel loops: tp_parallel_for() and tp_parallel_map().
 *
 * The loop's state lives on the caller's stack: the range, the grain, and
 * `next`, an atomic counter of chunks handed out.  Whoever takes part claims
 * chunk c with one fetch_add and runs body over it, until c passes the
 * last chunk.  The participants are the caller and up to one helper task
 * per worker (one fewer when the caller is itself a task of the pool),
 * submitted as one batch.  No chunk is ever assigned in advance, so a
 * helper that starts late, or never, costs nothing but its own start: the
 * others have taken its share.
 *
 * Finishing.  The state is on the caller's stack, so the caller may return
 * only when no helper can touch it any more.  Once the caller finds no
 * chunk left, it withdraws each helper that has not started (PENDING ->
 * CANCELLED, as tp_future_cancel() does for a pending task, but never
 * setting the stop flag of a running one, which a body could observe with
 * tp_task_stop_requested()), and for each other helper registers a
 * done-callback (a node in the caller's frame) that counts it under the
 * state's mutex.  The caller then sleeps on the state's condition variable
 * until every helper it did not withdraw is counted.  A helper's future
 * settles only after its function has returned, so once counted it will not
 * touch the state again; the callback signals while holding the mutex, and
 * the caller destroys the mutex only after it has taken it and seen the
 * count, so the callback is done with the frame by then.  A helper
 * cancelled by an immediate shutdown before it started settles CANCELLED
 * too and is counted the same way; its chunks are claimed by the others.
 *
 * Why not wait with tp_wait_all(): outside the pool the helpers still queued
 * (behind other work) would hold the caller up although there is nothing
 * left for them to do; withdrawing them ends the call as soon as the chunks
 * are done.  Inside the pool, the same withdrawal means a loop never depends
 * on another worker, so nested loops cannot deadlock.
 *
 * After fork().  A pool created before the fork has no workers in the
 * child, and the call is refused there with TP_EFORKED before anything
 * runs, as every call on such a pool is: running it all on the caller
 * instead would hide that the pool is unusable, and only for loops.
 *
 * Locks: `mu` of the state only guards `settled`; no other lock is taken
 * while it is held, and no user code runs under it.
 */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>

#include "alloc.h"
#include "future.h"
#include "pool.h"

/* Chunks per participating thread when the caller lets us choose. */
#define AUTO_CHUNKS_PER_THREAD 8
/* Helpers whose bookkeeping lives in the caller's frame; more (very large
 * pools) take one allocation, or are capped here if that fails. */
#define HELPERS_ON_STACK 32

typedef struct loop {
    _Atomic size_t next; /* next chunk to hand out */
    size_t chunks;
    size_t begin, end, grain;
    tp_range_fn body;
    void *ctx;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    size_t settled; /* helpers counted by helper_settled() (mu) */
} loop;

/* Claims and runs chunks until none is left. */
static void run_chunks(loop *l)
{
    for (;;) {
        /* Relaxed: the counter only hands out distinct chunks; what the
         * bodies write reaches the caller through the helpers' settling
         * and the mutex. */
        size_t c = atomic_fetch_add_explicit(&l->next, 1, memory_order_relaxed);
        if (c >= l->chunks)
            return;
        size_t lo = l->begin + c * l->grain; /* c * grain < end - begin */
        size_t hi = l->end - lo > l->grain ? lo + l->grain : l->end;
        l->body(lo, hi, l->ctx);
    }
}

static void *helper_main(void *arg)
{
    run_chunks(arg);
    return NULL;
}

static void helper_settled(tp_future *f, void *ctx)
{
    loop *l = ctx;
    (void)f;
    pthread_mutex_lock(&l->mu);
    l->settled++;
    pthread_cond_signal(&l->cv); /* under mu: see the top comment */
    pthread_mutex_unlock(&l->mu);
}

/* The grain chosen for grain 0: n split into about
 * AUTO_CHUNKS_PER_THREAD chunks per participant. */
static size_t auto_grain(size_t n, size_t participants)
{
    size_t target = participants * AUTO_CHUNKS_PER_THREAD;
    size_t g = n / target + (n % target != 0);
    return g > 0 ? g : 1;
}

/* Submits up to `want` helpers as one batch; returns how many the pool
 * took (0 on any failure: the caller then runs everything). */
static size_t start_helpers(tp_pool *pool, loop *l, size_t want, tp_job *jobs,
                            tp_future **fs)
{
    for (size_t i = 0; i < want; i++)
        jobs[i] = (tp_job){helper_main, l, 0};
    size_t accepted = 0;
    /* An error only means fewer helpers: those accepted are the first. */
    (void)tpi_submit_batch_internal(pool, jobs, want, fs, &accepted);
    return accepted;
}

/* Withdraws the helpers that have not started and waits for the others. */
static void finish_helpers(loop *l, tp_future **fs, tpi_callback *cbs,
                           size_t helpers)
{
    size_t withdrawn = 0;
    for (size_t i = 0; i < helpers; i++) {
        if (tpi_future_settle(fs[i], TP_PENDING, TP_CANCELLED)) {
            withdrawn++;
            continue;
        }
        cbs[i].node.next = NULL;
        cbs[i].fn = helper_settled;
        cbs[i].ctx = l;
        cbs[i].heap = false;
        tpi_future_add_callback(fs[i], &cbs[i]); /* runs now if settled */
    }
    pthread_mutex_lock(&l->mu);
    while (l->settled < helpers - withdrawn)
        pthread_cond_wait(&l->cv, &l->mu);
    pthread_mutex_unlock(&l->mu);
    for (size_t i = 0; i < helpers; i++)
        tp_future_release(fs[i]);
}

/* The loop of the top comment in one piece: helpers' arrays on the stack
 * or the heap, start, take part, finish; split further, the state the
 * steps share would have to travel between them. */
int tp_parallel_for(tp_pool *pool, size_t begin, size_t end, size_t grain,
                    tp_range_fn body, void *ctx)
{
    if (pool == NULL || body == NULL || begin > end)
        return TP_EINVAL;
    if (tpi_pool_forked(pool)) /* see the top comment */
        return TP_EFORKED;
    size_t n = end - begin;
    if (n == 0)
        return 0;

    /* Other threads that could help: the pool's workers, less the one
     * running this call if it is a task of this pool. */
    size_t others = tp_pool_size(pool);
    if (tpi_current_pool() == pool && others > 0)
        others--;
    if (grain == 0)
        grain = auto_grain(n, others + 1);
    size_t chunks = n / grain + (n % grain != 0);
    size_t want = chunks - 1 < others ? chunks - 1 : others;

    loop l = {.chunks = chunks,
              .begin = begin,
              .end = end,
              .grain = grain,
              .body = body,
              .ctx = ctx,
              .settled = 0};
    atomic_init(&l.next, 0);

    tp_job jobs_on_stack[HELPERS_ON_STACK];
    tp_future *fs_on_stack[HELPERS_ON_STACK];
    tpi_callback cbs_on_stack[HELPERS_ON_STACK];
    tp_job *jobs = jobs_on_stack;
    tp_future **fs = fs_on_stack;
    tpi_callback *cbs = cbs_on_stack;
    void *block = NULL;
    if (want > HELPERS_ON_STACK) {
        size_t each =
            sizeof(tp_job) + sizeof(tp_future *) + sizeof(tpi_callback);
        block = tpi_calloc(want, each);
        if (block != NULL) {
            /* tp_job and tpi_callback hold pointers first: the pieces stay
             * aligned one after the other. */
            jobs = block;
            cbs = (tpi_callback *)(void *)(jobs + want);
            fs = (tp_future **)(void *)(cbs + want);
        } else {
            want = HELPERS_ON_STACK;
        }
    }

    size_t helpers = 0;
    if (want > 0 && pthread_mutex_init(&l.mu, NULL) == 0) {
        if (pthread_cond_init(&l.cv, NULL) == 0) {
            helpers = start_helpers(pool, &l, want, jobs, fs);
            if (helpers == 0)
                pthread_cond_destroy(&l.cv);
        }
        if (helpers == 0)
            pthread_mutex_destroy(&l.mu);
    }

    run_chunks(&l);

    if (helpers > 0) {
        finish_helpers(&l, fs, cbs, helpers);
        pthread_cond_destroy(&l.cv);
        pthread_mutex_destroy(&l.mu);
    }
    tpi_free(block);
    return 0;
}

/* ---- parallel map ------------------------------------------------------ */

typedef struct map_ctx {
    char *base;
    size_t size;
    tp_map_fn fn;
    void *ctx;
} map_ctx;

static void map_range(size_t lo, size_t hi, void *arg)
{
    const map_ctx *m = arg;
    for (size_t i = lo; i < hi; i++)
        m->fn(m->base + i * m->size, i, m->ctx);
}

int tp_parallel_map(tp_pool *pool, void *array, size_t n, size_t size,
                    size_t grain, tp_map_fn fn, void *ctx)
{
    if (pool == NULL || fn == NULL)
        return TP_EINVAL;
    if (n > 0 && (array == NULL || size == 0 || n > SIZE_MAX / size))
        return TP_EINVAL;
    /* n == 0 too: the loop refuses a pool created before a fork(). */
    map_ctx m = {array, size, fn, ctx};
    return tp_parallel_for(pool, 0, n, grain, map_range, &m);
}
