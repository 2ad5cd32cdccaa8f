/*
 * fuzz_api.c - libFuzzer harness: the input is a program of API calls.
 *
 * Each input is read as a sequence of operations, one opcode byte and its
 * argument bytes each (a missing byte reads as 0, so every input is a valid
 * program).  The operations drive one blocking queue and one small pool
 * (one or two threads), with good and bad arguments: NULL handles, zero
 * and huge sizes and capacities, negative and huge timeouts, invalid enum
 * values, NULL items, failures of the N-th allocation.
 *
 * The queue is checked against a model after every call: it is used by
 * this thread only, so everything is exact -- return codes, which item comes
 * out (FIFO, LIFO, stable priority), size, empty, full, the stats snapshot,
 * task_done/join accounting, what close_now and destroy hand to the drop
 * callback and in which order.  The pool runs tasks on its own threads, so
 * its checks are those that hold whatever the timing: return codes in the
 * documented set, a settled future's outcome, stats that never count more
 * than was submitted, and at the end of the input, once the pool has shut
 * down, exact books: every accepted task ran once, was cancelled by a
 * cancel that returned 0, or was handed to the drop callback; the stats
 * agree with that.
 *
 * Never blocking: every timeout is 0, except where the model proves the
 * call returns at once (a negative or huge timeout on a get from a
 * non-empty queue, a put with room, a join with nothing unfinished, a wait
 * on a future after its pool shut down), which exercises the deadline code
 * without waiting.  Pool tasks are short and never wait.
 *
 * Never leaking: at the end of each input everything is destroyed and the
 * counting allocator (tp_replace_allocator) must hold no allocation; ASan's
 * leak checker also looks.
 *
 * A failed check prints what failed and aborts, so that libFuzzer saves the
 * input.  Build and run: fuzz/run.sh (make fuzz, SECONDS=...).  To see
 * what a saved input does, run it with FUZZ_API_TRACE=1 in the
 * environment: the pool's calls and their results are printed.
 */
#include <limits.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tpool.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FZ_CHECK(cond, ...)                                                    \
    do {                                                                       \
        if (!(cond)) {                                                         \
            fprintf(stderr, "fuzz_api.c:%d: check failed: %s: ", __LINE__,    \
                    #cond);                                                    \
            fprintf(stderr, __VA_ARGS__);                                      \
            fputc('\n', stderr);                                               \
            abort();                                                           \
        }                                                                      \
    } while (0)

static bool tracing; /* FUZZ_API_TRACE set: print the pool's calls */

#define TRACE(...)                                                             \
    do {                                                                       \
        if (tracing)                                                           \
            fprintf(stderr, "trace: " __VA_ARGS__);                            \
    } while (0)

#define FZ_RC(got, want)                                                       \
    FZ_CHECK((got) == (want), "returned %s, want %s", tp_err_name(got),        \
             tp_err_name(want))

/* ---- input --------------------------------------------------------------- */

typedef struct input {
    const uint8_t *p;
    size_t left;
} input;

static uint8_t byte(input *in)
{
    if (in->left == 0)
        return 0;
    in->left--;
    return *in->p++;
}

static uint32_t u32(input *in)
{
    uint32_t v = 0;
    for (int i = 0; i < 4; i++)
        v = v << 8 | byte(in);
    return v;
}

/* ---- allocator: counts live blocks, fails the N-th allocation ------------ */

static atomic_long live_blocks;
static atomic_long fail_countdown; /* > 0: the allocation that takes it to
                                      0 fails; <= 0: none fails */
static atomic_long failed;         /* failures no TP_ENOMEM has answered */

static void *fz_malloc(size_t size)
{
    long c = atomic_load(&fail_countdown);
    while (c > 0 && !atomic_compare_exchange_weak(&fail_countdown, &c, c - 1))
        ;
    if (c == 1) {
        atomic_fetch_add(&failed, 1);
        return NULL;
    }
    void *p = malloc(size);
    if (p != NULL)
        atomic_fetch_add(&live_blocks, 1);
    return p;
}

static void fz_free(void *p)
{
    if (p != NULL)
        atomic_fetch_sub(&live_blocks, 1);
    free(p);
}

/* Called when a call returned TP_ENOMEM: true if an allocation failed
 * since the last such call (which excuses it).  Called only then, so a
 * spurious TP_ENOMEM with no failure behind it is caught. */
static bool faults_armed(void)
{
    return atomic_exchange(&failed, 0) > 0;
}

/* The signature is libFuzzer's, hence the non-const pointers. */
/* NOLINTNEXTLINE(readability-non-const-parameter) */
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    /* Read once, before the harness starts any thread. */
    /* NOLINTNEXTLINE(concurrency-mt-unsafe) */
    tracing = getenv("FUZZ_API_TRACE") != NULL;
    FZ_RC(tp_replace_allocator(fz_malloc, fz_free), 0);
    return 0;
}

/* ---- the queue and its model --------------------------------------------- */

enum { MAX_ITEMS = 4096, MAX_MODEL = 4096 };

/* Items are addresses in this array (never dereferenced), or NULL. */
static char item_base[MAX_ITEMS];

typedef struct mitem {
    void *item;
    int prio;
    uint64_t seq;
} mitem;

static struct qstate {
    tp_queue *q;
    tp_queue_order order;
    size_t cap;
    mitem m[MAX_MODEL];
    size_t count;
    uint64_t seq;
    size_t unfinished;
    bool closed, closed_now;
    size_t next_item; /* items made this input */
    /* What a drop callback must see next, and how many it saw. */
    size_t dropped;
} qs;

static void *make_item(input *in)
{
    if (byte(in) % 16 == 0 || qs.next_item >= MAX_ITEMS)
        return NULL; /* NULL is an item like any other */
    return &item_base[qs.next_item++];
}

/* Index in the model of the item the next get returns; count > 0. */
static size_t model_next(size_t nth)
{
    if (qs.order == TP_QUEUE_FIFO)
        return nth;
    if (qs.order == TP_QUEUE_LIFO)
        return qs.count - 1 - nth;
    size_t best = 0; /* PRIORITY: smallest (prio, seq); nth is 0 */
    for (size_t i = 1; i < qs.count; i++)
        if (qs.m[i].prio < qs.m[best].prio ||
            (qs.m[i].prio == qs.m[best].prio && qs.m[i].seq < qs.m[best].seq))
            best = i;
    return best;
}

static mitem model_pop(void)
{
    size_t i = model_next(0);
    mitem e = qs.m[i];
    memmove(&qs.m[i], &qs.m[i + 1], (qs.count - i - 1) * sizeof qs.m[0]);
    qs.count--;
    return e;
}

static void model_push(void *item, int prio)
{
    FZ_CHECK(qs.count < MAX_MODEL, "model full");
    qs.m[qs.count++] = (mitem){item, prio, qs.seq++};
    qs.unfinished++;
}

static size_t model_room(void)
{
    if (qs.cap == 0)
        return SIZE_MAX;
    return qs.count >= qs.cap ? 0 : qs.cap - qs.count;
}

/* The model's own limit: a put that would overflow it is not made. */
static size_t model_space(void)
{
    return MAX_MODEL - qs.count;
}

static void check_queue(void)
{
    tp_queue *q = qs.q;
    FZ_CHECK(tp_queue_size(q) == qs.count, "size %zu, model %zu",
             tp_queue_size(q), qs.count);
    FZ_RC(tp_queue_empty(q), qs.count == 0 ? 1 : 0);
    FZ_RC(tp_queue_full(q), qs.cap != 0 && qs.count >= qs.cap ? 1 : 0);
    FZ_CHECK(tp_queue_capacity(q) == qs.cap, "capacity");
    tp_queue_stats st;
    FZ_RC(tp_queue_stats_get(q, &st), 0);
    FZ_CHECK(st.size == qs.count && st.capacity == qs.cap &&
                 st.unfinished == qs.unfinished && st.getters == 0 &&
                 st.putters == 0 && st.joiners == 0 &&
                 st.closed == (int)qs.closed &&
                 st.closed_now == (int)qs.closed_now,
             "stats: size %zu/%zu unfinished %zu/%zu closed %d/%d now %d/%d",
             st.size, qs.count, st.unfinished, qs.unfinished, st.closed,
             (int)qs.closed, st.closed_now, (int)qs.closed_now);
}

/* The drop callback of close_now and destroy: items come in get order.
 * close_now allows the callback to call into the queue (not destroy). */
static void drop_item(void *item, void *ctx)
{
    bool may_call = ctx != NULL;
    FZ_CHECK(qs.count > 0, "drop of an item the model does not have");
    mitem e = model_pop();
    FZ_CHECK(e.item == item, "dropped %p, model says %p", item, e.item);
    qs.dropped++;
    if (may_call) {
        FZ_CHECK(tp_queue_size(qs.q) == 0, "size inside close_now's drop");
        FZ_RC(tp_queue_put(qs.q, item, 0), TP_ESHUTDOWN);
    }
}

static void queue_destroy(void)
{
    if (qs.q == NULL)
        return;
    FZ_RC(tp_queue_destroy(qs.q, drop_item, NULL), 0);
    FZ_CHECK(qs.count == 0, "destroy left %zu items undropped", qs.count);
    qs.q = NULL;
}

static int64_t any_timeout(input *in)
{
    switch (byte(in) % 4) {
    case 0:
        return -1;
    case 1:
        return INT64_MIN;
    case 2:
        return INT64_MAX;
    default:
        return (int64_t)u32(in) + 1;
    }
}

/* 0, or a timeout that the model says cannot make the call wait. */
static int64_t timeout_if(input *in, bool returns_at_once)
{
    return returns_at_once && byte(in) % 2 ? any_timeout(in) : 0;
}

static void op_queue_create(input *in)
{
    queue_destroy();
    uint8_t o = byte(in), c = byte(in);
    tp_queue_order order = (tp_queue_order)(o % 5 < 3 ? o % 5 : o);
    size_t cap;
    switch (c % 8) {
    case 0:
    case 1:
        cap = 0;
        break;
    case 2:
        cap = TP_MAX_CAPACITY;
        break;
    case 3:
        cap = TP_MAX_CAPACITY + 1;
        break;
    case 4:
        cap = SIZE_MAX;
        break;
    default:
        cap = 1 + byte(in) % 20;
        break;
    }
    tp_queue *q = NULL;
    int rc = tp_queue_create(byte(in) % 32 == 0 ? NULL : &q, order, cap);
    bool valid = order <= TP_QUEUE_PRIORITY && cap <= TP_MAX_CAPACITY;
    if (rc == TP_ENOMEM && faults_armed())
        return;
    if (!valid || q == NULL) {
        FZ_RC(rc, TP_EINVAL);
        FZ_CHECK(q == NULL, "failed create wrote *out");
        return;
    }
    FZ_RC(rc, 0);
    memset(&qs, 0, offsetof(struct qstate, next_item));
    qs.q = q;
    qs.order = order;
    qs.cap = cap;
    check_queue();
}

static void op_queue_put(input *in, bool with_prio)
{
    if (qs.q == NULL || model_space() == 0)
        return;
    void *item = make_item(in);
    int prio = 0;
    if (with_prio) {
        uint8_t k = byte(in);
        prio = k == 0 ? INT_MIN : k == 1 ? INT_MAX : (int)(k % 16) - 8;
    }
    int64_t t = timeout_if(in, qs.closed || model_room() > 0);
    int rc = with_prio ? tp_queue_put_prio(qs.q, item, prio, t)
                       : tp_queue_put(qs.q, item, t);
    int want = 0;
    if (with_prio && qs.order != TP_QUEUE_PRIORITY)
        want = TP_EINVAL;
    else if (qs.closed)
        want = TP_ESHUTDOWN;
    else if (model_room() == 0)
        want = TP_EFULL;
    if (want == 0 && rc == TP_ENOMEM && faults_armed())
        return;
    FZ_RC(rc, want);
    if (rc == 0)
        model_push(item, prio);
}

static void op_queue_put_batch(input *in)
{
    void *items[64];
    if (qs.q == NULL)
        return;
    size_t n = byte(in) % 65;
    if (n > model_space())
        n = model_space();
    for (size_t i = 0; i < n; i++)
        items[i] = make_item(in);
    bool null_items = byte(in) % 16 == 0 && n > 0;
    size_t room = model_room();
    int64_t t = timeout_if(in, qs.closed || room >= n);
    size_t put = 12345;
    int rc = tp_queue_put_batch(qs.q, null_items ? NULL : items, n, t, &put);
    int want = 0;
    size_t want_put = n;
    if (null_items) {
        want = TP_EINVAL, want_put = 0;
    } else if (n == 0) {
        want = 0, want_put = 0;
    } else if (qs.closed) {
        want = TP_ESHUTDOWN, want_put = 0;
    } else if (room < n) {
        want = TP_EFULL, want_put = room;
    }
    if (rc == TP_ENOMEM && faults_armed() && !null_items && n > 0 &&
        !qs.closed) {
        FZ_CHECK(put < want_put, "ENOMEM with %zu of %zu put", put, n);
    } else {
        FZ_RC(rc, want);
        FZ_CHECK(put == want_put, "put %zu, want %zu", put, want_put);
    }
    for (size_t i = 0; i < put; i++)
        model_push(items[i], 0);
}

static void op_queue_get(input *in, int how)
{
    if (qs.q == NULL)
        return;
    void *items[64];
    int prio = 77;
    size_t max = how == 2 ? byte(in) % 65 : 1, got = 999;
    bool bad = byte(in) % 16 == 0; /* a NULL out-pointer */
    int64_t t = timeout_if(in, qs.count > 0 || qs.closed);
    int rc;
    if (how == 0)
        rc = tp_queue_get(qs.q, bad ? NULL : items, t);
    else if (how == 1)
        rc = tp_queue_get_prio(qs.q, bad ? NULL : items, &prio, t);
    else
        rc = tp_queue_get_batch(qs.q, items, max, t, bad ? NULL : &got);
    if (how != 2)
        got = rc == 0;
    int want = 0;
    if (bad || max == 0 || (how == 1 && qs.order != TP_QUEUE_PRIORITY))
        want = TP_EINVAL;
    else if (qs.count == 0)
        want = qs.closed ? TP_ESHUTDOWN : TP_EEMPTY;
    FZ_RC(rc, want);
    if (rc != 0) {
        FZ_CHECK(how != 2 || bad || got == 0, "failed batch got %zu", got);
        return;
    }
    size_t want_got = max < qs.count ? max : qs.count;
    FZ_CHECK(got == want_got, "got %zu, want %zu", got, want_got);
    for (size_t i = 0; i < got; i++) {
        mitem e = model_pop();
        FZ_CHECK(items[i] == e.item, "get %zu: %p, model %p", i, items[i],
                 e.item);
        if (how == 1)
            FZ_CHECK(prio == e.prio, "prio %d, model %d", prio, e.prio);
    }
}

static void op_queue_peek(input *in)
{
    if (qs.q == NULL)
        return;
    size_t index = byte(in) % 8;
    bool bad = byte(in) % 16 == 0;
    void *item = &item_base[0];
    int rc = tp_queue_peek(qs.q, index, bad ? NULL : &item);
    if (bad || (qs.order == TP_QUEUE_PRIORITY && index > 0)) {
        FZ_RC(rc, TP_EINVAL);
    } else if (index >= qs.count) {
        FZ_RC(rc, TP_EEMPTY);
    } else {
        FZ_RC(rc, 0);
        FZ_CHECK(item == qs.m[model_next(index)].item, "peek %zu", index);
    }
}

static void op_queue_misc(input *in)
{
    if (qs.q == NULL)
        return;
    switch (byte(in) % 5) {
    case 0: {
        int rc = tp_queue_task_done(qs.q);
        FZ_RC(rc, qs.unfinished == 0 ? TP_EINVAL : 0);
        if (rc == 0)
            qs.unfinished--;
        break;
    }
    case 1: {
        int64_t t = timeout_if(in, qs.unfinished == 0 || qs.closed_now);
        int want = qs.unfinished == 0 ? 0
                   : qs.closed_now    ? TP_ESHUTDOWN
                                      : TP_ETIMEDOUT;
        FZ_RC(tp_queue_join(qs.q, t), want);
        break;
    }
    case 2:
        FZ_RC(tp_queue_close(qs.q), 0);
        qs.closed = true;
        break;
    case 3: {
        bool with_drop = byte(in) % 4 != 0;
        size_t before = qs.count;
        qs.dropped = 0;
        FZ_RC(tp_queue_close_now(qs.q, with_drop ? drop_item : NULL, &qs), 0);
        if (with_drop)
            FZ_CHECK(qs.dropped == before, "close_now dropped %zu of %zu",
                     qs.dropped, before);
        qs.count = 0; /* without a callback the items are just forgotten */
        qs.unfinished -= before < qs.unfinished ? before : qs.unfinished;
        qs.closed = qs.closed_now = true;
        break;
    }
    default:
        queue_destroy();
        return;
    }
}

/* ---- NULL handles and odd values everywhere ------------------------------ */

static void op_bad_args(input *in)
{
    void *item = NULL;
    size_t got = 5;
    tp_queue_stats qst;
    tp_pool_stats pst;
    tp_future *f = NULL;
    size_t idx;
    switch (byte(in) % 8) {
    case 0:
        FZ_RC(tp_queue_put(NULL, NULL, any_timeout(in)), TP_EINVAL);
        FZ_RC(tp_queue_put_prio(NULL, NULL, 1, any_timeout(in)), TP_EINVAL);
        FZ_RC(tp_queue_put_batch(NULL, &item, 1, 0, &got), TP_EINVAL);
        FZ_CHECK(got == 0, "put_batch(NULL) put %zu", got);
        break;
    case 1:
        FZ_RC(tp_queue_get(NULL, &item, any_timeout(in)), TP_EINVAL);
        FZ_RC(tp_queue_get_prio(NULL, &item, NULL, 0), TP_EINVAL);
        FZ_RC(tp_queue_get_batch(NULL, &item, 1, 0, &got), TP_EINVAL);
        FZ_RC(tp_queue_peek(NULL, 0, &item), TP_EINVAL);
        break;
    case 2:
        FZ_CHECK(tp_queue_size(NULL) == 0 && tp_queue_capacity(NULL) == 0,
                 "NULL queue size");
        FZ_RC(tp_queue_empty(NULL), TP_EINVAL);
        FZ_RC(tp_queue_full(NULL), TP_EINVAL);
        FZ_RC(tp_queue_stats_get(NULL, &qst), TP_EINVAL);
        FZ_RC(tp_queue_task_done(NULL), TP_EINVAL);
        FZ_RC(tp_queue_join(NULL, any_timeout(in)), TP_EINVAL);
        FZ_RC(tp_queue_close(NULL), TP_EINVAL);
        FZ_RC(tp_queue_close_now(NULL, NULL, NULL), TP_EINVAL);
        FZ_RC(tp_queue_destroy(NULL, NULL, NULL), TP_EINVAL);
        if (qs.q != NULL)
            FZ_RC(tp_queue_stats_get(qs.q, NULL), TP_EINVAL);
        break;
    case 3:
        FZ_RC(tp_submit(NULL, NULL, NULL), TP_EINVAL);
        FZ_RC(tp_submit_future(NULL, NULL, NULL, &f), TP_EINVAL);
        FZ_RC(tp_submit_batch(NULL, NULL, 0, NULL, &got), TP_EINVAL);
        FZ_CHECK(got == 0 && f == NULL, "failed submit wrote outputs");
        FZ_RC(tp_pool_stats_get(NULL, &pst), TP_EINVAL);
        FZ_RC(tp_pool_wait_idle(NULL, any_timeout(in)), TP_EINVAL);
        FZ_RC(tp_pool_shutdown(NULL), TP_EINVAL);
        FZ_RC(tp_pool_shutdown_now(NULL, NULL, NULL), TP_EINVAL);
        FZ_RC(tp_pool_destroy(NULL), TP_EINVAL);
        FZ_CHECK(tp_pool_size(NULL) == 0, "NULL pool size");
        FZ_RC(tp_options_init(NULL), TP_EINVAL);
        FZ_RC(tp_pool_create(NULL, NULL), TP_EINVAL);
        break;
    case 4:
        FZ_RC(tp_future_wait(NULL, any_timeout(in)), TP_EINVAL);
        FZ_RC(tp_future_get(NULL, 0, NULL), TP_EINVAL);
        FZ_RC(tp_future_cancel(NULL), TP_EINVAL);
        FZ_RC(tp_future_on_done(NULL, NULL, NULL), TP_EINVAL);
        FZ_RC(tp_future_retain(NULL), TP_EINVAL);
        FZ_RC(tp_future_release(NULL), TP_EINVAL);
        FZ_CHECK(tp_future_id(NULL) == 0 && tp_future_error(NULL) == 0 &&
                     tp_future_state(NULL) == TP_PENDING,
                 "NULL future queries");
        FZ_RC(tp_wait_all(NULL, 1, 0), TP_EINVAL);
        FZ_RC(tp_wait_all(NULL, 0, any_timeout(in)), 0);
        FZ_RC(tp_wait_any(NULL, 1, 0, &idx), TP_EINVAL);
        FZ_RC(tp_wait_any(&f, 0, 0, &idx), TP_EINVAL);
        FZ_RC(tp_wait_any(&f, 1, 0, &idx), TP_EINVAL); /* f is NULL */
        break;
    case 5:
        FZ_RC(tp_waitset_create(NULL), TP_EINVAL);
        FZ_RC(tp_waitset_add(NULL, NULL), TP_EINVAL);
        FZ_RC(tp_waitset_next(NULL, any_timeout(in), &f), TP_EINVAL);
        FZ_CHECK(tp_waitset_size(NULL) == 0, "NULL waitset size");
        FZ_RC(tp_waitset_destroy(NULL), TP_EINVAL);
        break;
    case 6: {
        int code = (int)u32(in);
        FZ_CHECK(tp_strerror(code) != NULL && tp_err_name(code) != NULL,
                 "no message for %d", code);
        FZ_CHECK(tp_state_name((tp_state)(byte(in) % 8)) != NULL,
                 "no state name");
        break;
    }
    default:
        FZ_RC(tp_task_fail(1), TP_EPERM);
        FZ_CHECK(tp_task_stop_requested() == 0 && tp_task_id() == 0,
                 "task queries outside a task");
        FZ_RC(tp_replace_allocator(fz_malloc, NULL), TP_EINVAL);
        break;
    }
}

/* ---- the pool ------------------------------------------------------------ */

enum { MAX_TASKS = 512, MAX_FUTURES = 16 };

enum {
    T_ACCEPTED = 1u << 0,
    T_CANCELLED = 1u << 1, /* a cancel returned 0 */
    T_STOP_ACK = 1u << 2,
    T_EXPIRED = 1u << 3 /* its future settled TP_EEXPIRED */
};

typedef struct task_rec {
    atomic_uint runs, drops, flags;
    unsigned mode; /* what the task does; set before the submit */
    tp_pool *pool;
} task_rec;

static task_rec tasks[MAX_TASKS];
static atomic_size_t ntasks;
static atomic_uint hook_starts, hook_stops;
static atomic_uint callbacks_ran;

static struct pstate {
    tp_pool *p;
    unsigned threads;
    bool shut;
    size_t cap;
    tp_future *fs[MAX_FUTURES];
    task_rec *frec[MAX_FUTURES];
    size_t nfs;
    unsigned callbacks_registered;
} ps;

static void *fz_task(void *arg);

static task_rec *new_task(unsigned mode, tp_pool *p)
{
    size_t i = atomic_fetch_add(&ntasks, 1);
    if (i >= MAX_TASKS)
        return NULL;
    tasks[i].mode = mode;
    tasks[i].pool = p;
    return &tasks[i];
}

static void *fz_task(void *arg)
{
    task_rec *r = arg;
    unsigned n = atomic_fetch_add(&r->runs, 1) + 1;
    TRACE("task %td runs (mode %u)\n", r - tasks, r->mode % 4);
    FZ_CHECK(n == 1, "task ran %u times", n);
    switch (r->mode % 4) {
    case 1:
        FZ_RC(tp_task_fail(7), 0);
        break;
    case 2:
        if (tp_task_stop_requested()) {
            FZ_RC(tp_task_fail(TP_ECANCELED), 0);
            atomic_fetch_or(&r->flags, T_STOP_ACK);
        }
        break;
    case 3: { /* a child, fire and forget */
        task_rec *c = new_task(r->mode / 4, r->pool);
        if (c != NULL) {
            int rc = tp_submit(r->pool, fz_task, c);
            TRACE("task %td submits child %td: %s\n", r - tasks, c - tasks,
                  tp_err_name(rc));
            FZ_CHECK(rc == 0 || rc == TP_ESHUTDOWN || rc == TP_ENOMEM ||
                         rc == TP_EFULL,
                     "child submit: %s", tp_err_name(rc));
            if (rc == 0)
                atomic_fetch_or(&c->flags, T_ACCEPTED);
        }
        break;
    }
    default:
        break;
    }
    return r;
}

static void drop_task(const tp_job *job, void *ctx)
{
    FZ_CHECK(ctx == &ps && job->fn == fz_task && job->id != 0,
             "drop: not our job");
    task_rec *r = job->arg;
    TRACE("task %td handed back\n", r - tasks);
    unsigned n = atomic_fetch_add(&r->drops, 1) + 1;
    FZ_CHECK(n == 1, "task handed back %u times", n);
}

static void on_done(tp_future *f, void *ctx)
{
    FZ_CHECK(ctx == &ps, "callback context");
    tp_state st = tp_future_state(f);
    FZ_CHECK(st == TP_COMPLETED || st == TP_FAILED || st == TP_CANCELLED,
             "callback on a future in state %s", tp_state_name(st));
    atomic_fetch_add(&callbacks_ran, 1);
}

static void hook_start(unsigned index, void *ctx)
{
    FZ_CHECK(ctx == &ps && index < ps.threads, "start hook %u", index);
    atomic_fetch_add(&hook_starts, 1);
}

static void hook_stop(unsigned index, void *ctx)
{
    FZ_CHECK(ctx == &ps && index < ps.threads, "stop hook %u", index);
    atomic_fetch_add(&hook_stops, 1);
}

static bool settled(tp_future *f)
{
    tp_state st = tp_future_state(f);
    return st == TP_COMPLETED || st == TP_FAILED || st == TP_CANCELLED;
}

/* A settled future's outcome matches what its task did. */
static void check_outcome(tp_future *f, task_rec *r)
{
    /* The state first: once final it stays, so the get below must agree
     * with it (read the other way round, the task could settle between). */
    tp_state st = tp_future_state(f);
    void *res = NULL;
    int rc = tp_future_get(f, 0, &res);
    unsigned runs = atomic_load(&r->runs), fl = atomic_load(&r->flags);
    switch (st) {
    case TP_COMPLETED:
        FZ_CHECK(rc == 0 && res == r && runs == 1 && r->mode % 4 != 1,
                 "completed: get %s", tp_err_name(rc));
        break;
    case TP_FAILED:
        FZ_CHECK(rc == TP_EFAILED && tp_future_error(f) == 7 && runs == 1 &&
                     r->mode % 4 == 1,
                 "failed: get %s", tp_err_name(rc));
        break;
    case TP_CANCELLED:
        if (tp_future_error(f) == TP_EEXPIRED) { /* start deadline passed */
            FZ_CHECK(rc == TP_EEXPIRED && runs == 0, "expired: get %s, runs %u",
                     tp_err_name(rc), runs);
            atomic_fetch_or(&r->flags, T_EXPIRED);
            break;
        }
        FZ_CHECK(rc == TP_ECANCELED && tp_future_error(f) == TP_ECANCELED &&
                     (runs == 0 || (fl & T_STOP_ACK)),
                 "cancelled: get %s, runs %u", tp_err_name(rc), runs);
        break;
    default: /* it may have settled since, so any outcome will do */
        FZ_CHECK(rc == TP_ETIMEDOUT || rc == 0 || rc == TP_EFAILED ||
                     rc == TP_ECANCELED || rc == TP_EEXPIRED,
                 "pending: get %s", tp_err_name(rc));
        break;
    }
}

static void keep_future(tp_future *f, task_rec *r, input *in)
{
    if (byte(in) % 4 == 0) {
        int rc = tp_future_on_done(f, on_done, &ps);
        if (rc == 0)
            ps.callbacks_registered++;
        else
            FZ_CHECK(rc == TP_ENOMEM && faults_armed(), "on_done: %s",
                     tp_err_name(rc));
    }
    if (ps.nfs == MAX_FUTURES) {
        FZ_RC(tp_future_release(f), 0);
        return;
    }
    ps.fs[ps.nfs] = f;
    ps.frec[ps.nfs++] = r;
}

static void release_future(size_t i)
{
    check_outcome(ps.fs[i], ps.frec[i]);
    FZ_RC(tp_future_release(ps.fs[i]), 0);
    ps.fs[i] = ps.fs[--ps.nfs];
    ps.frec[i] = ps.frec[ps.nfs];
}

/* Accepted results of a submit to the pool. */
static bool submit_ok(int rc)
{
    bool ok = rc == 0 || (rc == TP_ESHUTDOWN && ps.shut) ||
              (rc == TP_EFULL && ps.cap != 0) ||
              (rc == TP_ENOMEM && faults_armed());
    FZ_CHECK(ok, "submit: %s", tp_err_name(rc));
    return rc == 0;
}

static void check_pool_stats(void)
{
    tp_pool_stats st;
    FZ_RC(tp_pool_stats_get(ps.p, &st), 0);
    FZ_CHECK(st.threads == ps.threads && tp_pool_size(ps.p) == ps.threads,
             "threads");
    FZ_CHECK(st.completed + st.cancelled + st.queued + st.running <=
                 st.submitted,
             "stats count more than was submitted");
}

/* Ends the pool and checks the books of every task of this input. */
static void pool_destroy(void)
{
    if (ps.p == NULL)
        return;
    FZ_RC(tp_pool_shutdown(ps.p), 0);
    tp_pool_stats st;
    FZ_RC(tp_pool_stats_get(ps.p, &st), 0);
    /* Shut down: every future has settled, so waiting for ever returns. */
    while (ps.nfs > 0) {
        FZ_RC(tp_future_wait(ps.fs[ps.nfs - 1], -1), 0);
        release_future(ps.nfs - 1);
    }
    FZ_RC(tp_pool_destroy(ps.p), 0);
    FZ_CHECK(atomic_load(&hook_starts) == ps.threads &&
                 atomic_load(&hook_stops) == ps.threads,
             "hooks: %u starts, %u stops, %u threads",
             atomic_load(&hook_starts), atomic_load(&hook_stops), ps.threads);
    FZ_CHECK(atomic_load(&callbacks_ran) == ps.callbacks_registered,
             "callbacks: %u registered, %u ran", ps.callbacks_registered,
             atomic_load(&callbacks_ran));
    size_t n = atomic_load(&ntasks);
    if (n > MAX_TASKS) /* tasks that found no record were not submitted */
        n = MAX_TASKS;
    uint64_t accepted = 0, ran = 0, unrun = 0;
    for (size_t i = 0; i < n; i++) {
        task_rec *r = &tasks[i];
        unsigned runs = atomic_load(&r->runs), drops = atomic_load(&r->drops);
        unsigned fl = atomic_load(&r->flags);
        unsigned cancelled = (fl & T_CANCELLED) != 0;
        unsigned expired = (fl & T_EXPIRED) != 0;
        if (!(fl & T_ACCEPTED)) {
            FZ_CHECK(runs + drops + cancelled + expired == 0,
                     "refused task %zu ran %u dropped %u", i, runs, drops);
            continue;
        }
        FZ_CHECK(runs + drops + cancelled + expired == 1,
                 "task %zu: ran %u, handed back %u, cancelled %u, expired %u",
                 i, runs, drops, cancelled, expired);
        accepted++;
        ran += runs;
        unrun += drops + cancelled + expired;
    }
    FZ_CHECK(st.submitted == accepted && st.completed == ran &&
                 st.cancelled == unrun && st.queued == 0 && st.running == 0,
             "stats after shutdown disagree with the books");
    ps.p = NULL;
}

static void op_pool_create(input *in)
{
    pool_destroy();
    tp_options o;
    FZ_RC(tp_options_init(&o), 0);
    uint8_t a = byte(in), b = byte(in), c = byte(in);
    o.threads = a % 16 == 0 ? TP_MAX_THREADS + 1 : 1 + a % 2;
    o.queue_capacity = b % 4 == 0 ? 0 : b % 16 == 1 ? TP_MAX_CAPACITY + 1
                                                    : (size_t)(b % 4);
    uint8_t pol = c % 5;
    o.on_full = (tp_full_policy)(pol < 3 ? pol : pol == 3 ? 3 : 200);
    o.submit_timeout_ms = 0; /* TP_FULL_BLOCK must not block here */
    char name[24];
    size_t len = byte(in) % sizeof name;
    for (size_t i = 0; i < len; i++)
        name[i] = (char)(1 + byte(in) % 255);
    name[len] = '\0';
    o.name = byte(in) % 4 == 0 ? NULL : name;
    o.on_thread_start = hook_start;
    o.on_thread_stop = hook_stop;
    o.hook_ctx = &ps;
    bool valid = o.threads <= TP_MAX_THREADS &&
                 o.queue_capacity <= TP_MAX_CAPACITY && pol < 3;
    atomic_store(&hook_starts, 0);
    atomic_store(&hook_stops, 0);
    ps.threads = o.threads;
    tp_pool *p = NULL;
    int rc = tp_pool_create(&p, &o);
    TRACE("pool create: %u threads, capacity %zu, policy %u: %s\n",
          o.threads, o.queue_capacity, pol, tp_err_name(rc));
    if (!valid) {
        FZ_RC(rc, TP_EINVAL);
        FZ_CHECK(p == NULL, "failed create wrote *out");
        return;
    }
    /* Out of memory (injected), or the system refused a thread. */
    if ((rc == TP_ENOMEM && faults_armed()) || rc == TP_EAGAIN) {
        FZ_CHECK(p == NULL, "failed create wrote *out");
        return;
    }
    FZ_RC(rc, 0);
    FZ_CHECK(atomic_load(&hook_starts) == o.threads,
             "create returned before every worker started");
    ps.p = p;
    ps.cap = o.queue_capacity;
    ps.shut = false;
    ps.nfs = 0;
    ps.callbacks_registered = 0;
    atomic_store(&callbacks_ran, 0);
    atomic_store(&ntasks, 0);
    for (size_t i = 0; i < MAX_TASKS; i++) {
        atomic_store(&tasks[i].runs, 0);
        atomic_store(&tasks[i].drops, 0);
        atomic_store(&tasks[i].flags, 0);
    }
    check_pool_stats();
}

/* Sees every task with a start deadline settle, so that an expiry is
 * counted even if nothing else looks at the future. */
static void on_settle_rec(tp_future *f, void *ctx)
{
    task_rec *r = ctx;
    FZ_CHECK(settled(f), "callback on a pending future");
    if (tp_future_error(f) == TP_EEXPIRED)
        atomic_fetch_or(&r->flags, T_EXPIRED);
    atomic_fetch_add(&callbacks_ran, 1);
}

/* tp_submit_ex: a priority (or an invalid one), a start deadline (or a
 * negative one, which means none), NULL options. */
static void op_submit_ex(input *in)
{
    uint8_t a = byte(in), b = byte(in);
    bool want = a & 1;
    /* A deadline task's future is kept to the end (no free slot: no
     * submit), so its outcome is always seen. */
    if (want && ps.nfs == MAX_FUTURES)
        return;
    task_rec *r = new_task(byte(in), ps.p);
    if (r == NULL)
        return;
    tp_task_opts o;
    FZ_RC(tp_task_opts_init(&o), 0);
    unsigned pr = (a >> 1) % 5;
    o.priority = (tp_priority)(pr < 3 ? pr : pr == 3 ? 3 : 250);
    bool deadline = want && b % 2;
    o.start_deadline_ms = deadline      ? (int64_t)((b >> 1) % 3)
                          : b % 4 == 0 ? INT64_MIN
                                       : -1;
    bool null_opts = (a >> 4) == 15;
    tp_future *f = NULL;
    int rc = tp_submit_ex(ps.p, fz_task, r, null_opts ? NULL : &o,
                          want ? &f : NULL);
    TRACE("submit_ex task %td, priority %u, deadline %lld, %s: %s\n",
          r - tasks, pr, null_opts ? -1LL : (long long)o.start_deadline_ms,
          want ? "future" : "no future", tp_err_name(rc));
    if (!null_opts && pr >= 3) {
        FZ_RC(rc, TP_EINVAL);
        FZ_CHECK(f == NULL, "failed submit wrote *out");
        return;
    }
    if (!submit_ok(rc)) {
        FZ_CHECK(f == NULL, "failed submit wrote *out");
        return;
    }
    atomic_fetch_or(&r->flags, T_ACCEPTED);
    if (!want)
        return;
    if (deadline && !null_opts) {
        rc = tp_future_on_done(f, on_settle_rec, r);
        TRACE("on_done for task %td: %s\n", r - tasks, tp_err_name(rc));
        if (rc == 0) {
            ps.callbacks_registered++;
        } else {
            FZ_CHECK(rc == TP_ENOMEM && faults_armed(), "on_done: %s",
                     tp_err_name(rc));
            /* Without the callback an expiry after the future's release
             * would go unseen: settle the question now.  Cancelled (0),
             * running (it will run), or settled (seen here). */
            rc = tp_future_cancel(f);
            FZ_CHECK(rc == 0 || rc == TP_EBUSY || rc == TP_EALREADY,
                     "cancel: %s", tp_err_name(rc));
            if (rc == 0)
                atomic_fetch_or(&r->flags, T_CANCELLED);
            else if (rc == TP_EALREADY)
                check_outcome(f, r);
        }
    }
    keep_future(f, r, in);
}

static void op_pool_submit(input *in)
{
    if (ps.p == NULL)
        return;
    unsigned how = byte(in) % 4;
    if (how == 3) {
        op_submit_ex(in);
        return;
    }
    if (how < 2) {
        task_rec *r = new_task(byte(in), ps.p);
        if (r == NULL)
            return;
        tp_future *f = NULL;
        int rc = how == 0 ? tp_submit(ps.p, fz_task, r)
                          : tp_submit_future(ps.p, fz_task, r, &f);
        TRACE("submit%s task %td: %s\n", how ? "_future" : "", r - tasks,
              tp_err_name(rc));
        if (submit_ok(rc)) {
            atomic_fetch_or(&r->flags, T_ACCEPTED);
            if (how == 1)
                keep_future(f, r, in);
        } else {
            FZ_CHECK(f == NULL, "failed submit wrote *out");
        }
        return;
    }
    tp_job jobs[8];
    tp_future *fs[8];
    task_rec *recs[8];
    size_t n = byte(in) % 9, made = 0;
    bool want = byte(in) % 2, null_fn = byte(in) % 16 == 0 && n > 0;
    for (; made < n; made++) {
        if ((recs[made] = new_task(byte(in), ps.p)) == NULL)
            break;
        jobs[made] = (tp_job){fz_task, recs[made], 0};
    }
    if (null_fn && made > 0)
        jobs[made - 1].fn = NULL;
    size_t ok = 777;
    int rc = tp_submit_batch(ps.p, jobs, made, want ? fs : NULL, &ok);
    TRACE("batch of %zu from task %td, %s futures: %s, %zu accepted\n", made,
          made ? recs[0] - tasks : -1, want ? "with" : "no", tp_err_name(rc),
          ok);
    if (null_fn && made > 0) {
        FZ_RC(rc, TP_EINVAL);
        FZ_CHECK(ok == 0, "invalid batch accepted %zu", ok);
        return;
    }
    if (made == 0)
        FZ_CHECK(rc == 0 && ok == 0, "empty batch: %s", tp_err_name(rc));
    else
        submit_ok(rc);
    FZ_CHECK(ok <= made && (rc != 0 || ok == made), "batch accepted %zu/%zu",
             ok, made);
    for (size_t i = 0; i < made; i++) {
        if (i >= ok) {
            FZ_CHECK(!want || fs[i] == NULL, "refused slot not NULL");
            continue;
        }
        FZ_CHECK(jobs[i].id != 0, "accepted job without an id");
        atomic_fetch_or(&recs[i]->flags, T_ACCEPTED);
        if (want) {
            FZ_CHECK(tp_future_id(fs[i]) == jobs[i].id, "id mismatch");
            keep_future(fs[i], recs[i], in);
        }
    }
}

static void op_pool_future(input *in)
{
    if (ps.p == NULL || ps.nfs == 0)
        return;
    size_t i = byte(in) % ps.nfs;
    tp_future *f = ps.fs[i];
    task_rec *r = ps.frec[i];
    unsigned what = byte(in) % 6;
    TRACE("future op %u on task %td (state %s)\n", what, r - tasks,
          tp_state_name(tp_future_state(f)));
    switch (what) {
    case 0: {
        int rc = tp_future_cancel(f);
        TRACE("cancel task %td: %s\n", r - tasks, tp_err_name(rc));
        FZ_CHECK(rc == 0 || rc == TP_EBUSY || rc == TP_EALREADY,
                 "cancel: %s", tp_err_name(rc));
        if (rc == 0) {
            atomic_fetch_or(&r->flags, T_CANCELLED);
            FZ_CHECK(tp_future_state(f) == TP_CANCELLED, "cancel: state");
        }
        if (rc == TP_EALREADY)
            FZ_CHECK(settled(f), "EALREADY, not settled");
        break;
    }
    case 1: {
        int rc = tp_future_wait(f, 0);
        FZ_CHECK(rc == 0 || rc == TP_ETIMEDOUT, "wait: %s", tp_err_name(rc));
        FZ_CHECK(rc != 0 || settled(f), "wait returned 0, future pending");
        check_outcome(f, r);
        break;
    }
    case 2: {
        size_t n = 1 + byte(in) % ps.nfs, at = 999;
        int rc = tp_wait_any(ps.fs, n, 0, &at);
        FZ_CHECK(rc == 0 || rc == TP_ETIMEDOUT ||
                     (rc == TP_ENOMEM && faults_armed()),
                 "wait_any: %s", tp_err_name(rc));
        if (rc == 0)
            FZ_CHECK(at < n && settled(ps.fs[at]), "wait_any index");
        rc = tp_wait_all(ps.fs, n, 0);
        FZ_CHECK(rc == 0 || rc == TP_ETIMEDOUT, "wait_all: %s",
                 tp_err_name(rc));
        for (size_t k = 0; k < n && rc == 0; k++)
            FZ_CHECK(settled(ps.fs[k]), "wait_all 0, one pending");
        break;
    }
    case 3: {
        tp_waitset *ws = NULL;
        int rc = tp_waitset_create(&ws);
        if (rc == TP_ENOMEM && faults_armed())
            break;
        FZ_RC(rc, 0);
        size_t n = 1 + byte(in) % ps.nfs, added = 0, taken = 0;
        for (size_t k = 0; k < n; k++) {
            rc = tp_waitset_add(ws, ps.fs[k]);
            if (rc == TP_ENOMEM && faults_armed())
                continue;
            FZ_RC(rc, 0);
            added++;
        }
        unsigned tries = byte(in) % 4;
        for (unsigned k = 0; k < tries; k++) {
            FZ_CHECK(tp_waitset_size(ws) == added - taken, "waitset size");
            tp_future *got = NULL;
            rc = tp_waitset_next(ws, 0, &got);
            if (rc == TP_EEMPTY) {
                FZ_CHECK(taken == added, "waitset empty early");
                break;
            }
            FZ_CHECK(rc == 0 || rc == TP_ETIMEDOUT, "next: %s",
                     tp_err_name(rc));
            if (rc == 0) {
                FZ_CHECK(settled(got), "waitset gave a pending future");
                taken++;
                FZ_RC(tp_future_release(got), 0);
            }
        }
        FZ_RC(tp_waitset_destroy(ws), 0);
        break;
    }
    case 4:
        release_future(i);
        break;
    default:
        FZ_RC(tp_future_retain(f), 0);
        FZ_RC(tp_future_release(f), 0);
        FZ_CHECK(tp_future_id(f) != 0, "future id 0");
        break;
    }
}

static void op_pool_misc(input *in)
{
    if (ps.p == NULL)
        return;
    switch (byte(in) % 4) {
    case 0:
        check_pool_stats();
        break;
    case 1: {
        int rc = tp_pool_wait_idle(ps.p, 0);
        FZ_CHECK(rc == 0 || rc == TP_ETIMEDOUT, "wait_idle: %s",
                 tp_err_name(rc));
        break;
    }
    case 2: {
        bool graceful = byte(in) % 2;
        TRACE("shutdown%s\n", graceful ? "" : "_now");
        FZ_RC(graceful ? tp_pool_shutdown(ps.p)
                       : tp_pool_shutdown_now(ps.p, drop_task, &ps),
              0);
        ps.shut = true;
        break;
    }
    default:
        TRACE("destroy\n");
        pool_destroy();
        break;
    }
}

/* ---- the program --------------------------------------------------------- */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    input in = {data, size};
    qs.q = NULL;
    qs.next_item = 0;
    ps.p = NULL;
    atomic_store(&fail_countdown, 0);
    atomic_store(&failed, 0);
    while (in.left > 0) {
        switch (byte(&in) % 16) {
        case 0:
            op_queue_create(&in);
            break;
        case 1:
            op_queue_put(&in, false);
            break;
        case 2:
            op_queue_put(&in, true);
            break;
        case 3:
            op_queue_put_batch(&in);
            break;
        case 4:
            op_queue_get(&in, byte(&in) % 3);
            break;
        case 5:
            op_queue_peek(&in);
            break;
        case 6:
            op_queue_misc(&in);
            break;
        case 7:
            op_bad_args(&in);
            break;
        case 8:
            op_pool_create(&in);
            break;
        case 9:
        case 10:
            op_pool_submit(&in);
            break;
        case 11:
            op_pool_future(&in);
            break;
        case 12:
            op_pool_misc(&in);
            break;
        case 13:
            /* Fail an allocation a few from now (0: stop failing). */
            atomic_store(&fail_countdown, byte(&in) % 8);
            TRACE("allocation %ld from now fails\n",
                  atomic_load(&fail_countdown));
            break;
        default:
            op_queue_get(&in, 0);
            break;
        }
        if (qs.q != NULL)
            check_queue();
    }
    atomic_store(&fail_countdown, 0);
    queue_destroy();
    pool_destroy();
    FZ_CHECK(atomic_load(&live_blocks) == 0,
             "%ld allocations of the library still live after everything "
             "was destroyed",
             atomic_load(&live_blocks));
    return 0;
}
