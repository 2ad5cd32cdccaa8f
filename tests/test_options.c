/*
 * test_options.c - option structs that grow (tpool.h, "Option structs that
 * grow"): programs built against the first layout, against a newer one,
 * and structs zeroed by hand; and pin_threads, the first option added
 * after the first layout.
 *
 * The older and newer programs are simulated by structs declared here with
 * those layouts, each in a heap block of exactly its size, so that ASan
 * sees any byte the library reads or writes beyond it.
 */
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

/* tp_options as first published (TP_OPTIONS_SIZE_V1). */
typedef struct options_v1 {
    size_t size;
    unsigned threads;
    const char *name;
    size_t queue_capacity;
    tp_full_policy on_full;
    int64_t submit_timeout_ms;
    tp_thread_hook on_thread_start;
    tp_thread_hook on_thread_stop;
    void *hook_ctx;
    size_t stack_size;
} options_v1;

_Static_assert(sizeof(options_v1) == TP_OPTIONS_SIZE_V1,
               "options_v1 is the first layout");
_Static_assert(offsetof(options_v1, stack_size) ==
                   offsetof(tp_options, stack_size),
               "the first layout is a prefix of the current one");

/* tp_options as a later header may have it: one more field at the end. */
typedef struct options_next {
    tp_options now;
    uint64_t later;
} options_next;

typedef struct task_opts_next {
    tp_task_opts now;
    uint64_t later;
} task_opts_next;

static void *one(void *arg)
{
    (void)arg;
    return (void *)1;
}

static void *count_run(void *arg)
{
    atomic_fetch_add((atomic_int *)arg, 1);
    return NULL;
}

TEST(init_fills_defaults_and_size)
{
    tp_options o;
    memset(&o, 0xab, sizeof o);
    CHECK_OK(tp_options_init(&o));
    CHECK_EQ(o.size, sizeof o);
    CHECK_EQ(o.threads, 0);
    CHECK(strcmp(o.name, "tpool") == 0);
    CHECK_EQ(o.queue_capacity, 0);
    CHECK_EQ(o.on_full, TP_FULL_BLOCK);
    CHECK_EQ(o.submit_timeout_ms, -1);
    CHECK(o.on_thread_start == NULL && o.on_thread_stop == NULL);
    CHECK(o.hook_ctx == NULL);
    CHECK_EQ(o.stack_size, 0);
    CHECK_EQ(o.pin_threads, 0);
    CHECK_EQ(tp_options_init(NULL), TP_EINVAL);

    tp_task_opts t;
    memset(&t, 0xab, sizeof t);
    CHECK_OK(tp_task_opts_init(&t));
    CHECK_EQ(t.size, sizeof t);
    CHECK_EQ(t.priority, TP_PRIORITY_NORMAL);
    CHECK_EQ(t.start_deadline_ms, -1);
    CHECK_EQ(tp_task_opts_init(NULL), TP_EINVAL);
}

/* The init functions write `size` bytes exactly, and nothing when the size
 * is too small. */
TEST(init_writes_only_the_callers_bytes)
{
    enum { PAD = 64 };
    unsigned char buf[sizeof(tp_options) + PAD];
    memset(buf, 0xcd, sizeof buf);
    CHECK_EQ(tp_options_init_size((tp_options *)(void *)buf,
                                  TP_OPTIONS_SIZE_V1 - 1),
             TP_EINVAL);
    for (size_t i = 0; i < sizeof buf; i++)
        CHECK_EQ(buf[i], 0xcd);
    CHECK_EQ(tp_options_init_size(NULL, sizeof(tp_options)), TP_EINVAL);

    /* A newer, larger layout: the tail it adds is zeroed (the defaults of
     * fields this library does not know), nothing past it is touched. */
    size_t big = sizeof(tp_options) + PAD / 2;
    CHECK_OK(tp_options_init_size((tp_options *)(void *)buf, big));
    size_t size;
    memcpy(&size, buf, sizeof size);
    CHECK_EQ(size, big);
    for (size_t i = sizeof(tp_options); i < big; i++)
        CHECK_EQ(buf[i], 0);
    for (size_t i = big; i < sizeof buf; i++)
        CHECK_EQ(buf[i], 0xcd);

    unsigned char tbuf[sizeof(tp_task_opts) + PAD];
    memset(tbuf, 0xcd, sizeof tbuf);
    CHECK_EQ(tp_task_opts_init_size((tp_task_opts *)(void *)tbuf,
                                    TP_TASK_OPTS_SIZE_V1 - 1),
             TP_EINVAL);
    for (size_t i = 0; i < sizeof tbuf; i++)
        CHECK_EQ(tbuf[i], 0xcd);
    CHECK_EQ(tp_task_opts_init_size(NULL, sizeof(tp_task_opts)), TP_EINVAL);
}

static void record_start(unsigned index, void *ctx)
{
    (void)index;
    atomic_fetch_add((atomic_int *)ctx, 1);
}

/* A program built against the first layout: the library reads no byte past
 * it, and the options that layout lacks keep their defaults. */
TEST(first_layout_program)
{
    options_v1 *v1 = malloc(sizeof *v1);
    CHECK(v1 != NULL);
    CHECK_OK(tp_options_init_size((tp_options *)(void *)v1, sizeof *v1));
    CHECK_EQ(v1->size, sizeof *v1);
    CHECK_EQ(v1->on_full, TP_FULL_BLOCK);
    CHECK_EQ(v1->submit_timeout_ms, -1);
    atomic_int started;
    atomic_init(&started, 0);
    v1->threads = 3;
    v1->queue_capacity = 10;
    v1->on_thread_start = record_start;
    v1->hook_ctx = &started;
    tp_pool *p;
    CHECK_OK(tp_pool_create(&p, (const tp_options *)(const void *)v1));
    CHECK_EQ(tp_pool_size(p), 3);
    CHECK_EQ(atomic_load(&started), 3);
    tp_future *f;
    CHECK_OK(tp_submit_future(p, one, NULL, &f));
    void *r;
    CHECK_OK(tp_future_get(f, -1, &r));
    CHECK(r == (void *)1);
    tp_future_release(f);
    CHECK_OK(tp_pool_destroy(p));
    free(v1);
}

/* A program built against a newer layout: fine while it leaves the fields
 * this library does not know at their defaults; TP_EINVAL, and nothing
 * created, once it sets one. */
TEST(newer_layout_program)
{
    options_next *n = malloc(sizeof *n);
    CHECK(n != NULL);
    CHECK_OK(tp_options_init_size(&n->now, sizeof *n));
    CHECK_EQ(n->now.size, sizeof *n);
    CHECK_EQ(n->later, 0);
    n->now.threads = 2;
    tp_pool *p = NULL;
    CHECK_OK(tp_pool_create(&p, &n->now));
    CHECK_EQ(tp_pool_size(p), 2);

    task_opts_next *t = malloc(sizeof *t);
    CHECK(t != NULL);
    CHECK_OK(tp_task_opts_init_size(&t->now, sizeof *t));
    CHECK_EQ(t->later, 0);
    t->now.priority = TP_PRIORITY_HIGH;
    tp_future *f;
    CHECK_OK(tp_submit_ex(p, one, NULL, &t->now, &f));
    CHECK_OK(tp_future_wait(f, -1));
    tp_future_release(f);

    /* An option the library does not know: refused, the task not run. */
    t->later = 1;
    atomic_int runs;
    atomic_init(&runs, 0);
    f = NULL;
    CHECK_EQ(tp_submit_ex(p, count_run, &runs, &t->now, &f), TP_EINVAL);
    CHECK(f == NULL);
    CHECK_EQ(tp_submit_ex(p, count_run, &runs, &t->now, NULL), TP_EINVAL);
    tp_task_storage st;
    CHECK_EQ(tp_submit_inplace(p, &st, count_run, &runs, &t->now, &f),
             TP_EINVAL);
    CHECK_OK(tp_pool_wait_idle(p, -1));
    CHECK_EQ(atomic_load(&runs), 0);
    CHECK_OK(tp_pool_destroy(p));

    n->later = 1;
    p = NULL;
    CHECK_EQ(tp_pool_create(&p, &n->now), TP_EINVAL);
    CHECK(p == NULL);
    free(n);
    free(t);
}

/* Zeroed by hand, never initialised: the first layout.  A size that no
 * layout has: TP_EINVAL. */
TEST(zeroed_and_bad_sizes)
{
    tp_options o;
    memset(&o, 0, sizeof o);
    o.threads = 2;
    tp_pool *p = NULL;
    CHECK_OK(tp_pool_create(&p, &o));
    CHECK_EQ(tp_pool_size(p), 2);

    tp_task_opts t;
    memset(&t, 0, sizeof t);
    t.priority = TP_PRIORITY_LOW;
    t.start_deadline_ms = -1;
    tp_future *f;
    CHECK_OK(tp_submit_ex(p, one, NULL, &t, &f));
    CHECK_OK(tp_future_wait(f, -1));
    tp_future_release(f);

    atomic_int runs;
    atomic_init(&runs, 0);
    size_t bad_task[] = {1, TP_TASK_OPTS_SIZE_V1 - 1, (size_t)1 << 20,
                         SIZE_MAX};
    for (size_t i = 0; i < sizeof bad_task / sizeof bad_task[0]; i++) {
        t.size = bad_task[i];
        CHECK_EQ(tp_submit_ex(p, count_run, &runs, &t, NULL), TP_EINVAL);
    }
    CHECK_OK(tp_pool_wait_idle(p, -1));
    CHECK_EQ(atomic_load(&runs), 0);
    CHECK_OK(tp_pool_destroy(p));

    size_t bad[] = {1, TP_OPTIONS_SIZE_V1 - 1, (size_t)1 << 20, SIZE_MAX};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        o.size = bad[i];
        p = NULL;
        CHECK_EQ(tp_pool_create(&p, &o), TP_EINVAL);
        CHECK(p == NULL);
    }
    CHECK_EQ(tp_options_init_size(&o, (size_t)1 << 20), TP_EINVAL);
}

/* ---- pin_threads ---------------------------------------------------------- */

typedef struct pins {
    pthread_mutex_t mu;
    int cpu_of[8];  /* the one CPU worker i may run on; -1: several */
} pins;

static void record_mask(unsigned index, void *ctx)
{
    pins *s = ctx;
    cpu_set_t set;
    CHECK_OK(pthread_getaffinity_np(pthread_self(), sizeof set, &set));
    int cpu = -1;
    if (CPU_COUNT(&set) == 1)
        for (int c = 0; c < CPU_SETSIZE; c++)
            if (CPU_ISSET(c, &set))
                cpu = c;
    pthread_mutex_lock(&s->mu);
    s->cpu_of[index] = cpu;
    pthread_mutex_unlock(&s->mu);
}

TEST(pin_threads_binds_each_worker)
{
    cpu_set_t mine;
    CHECK_OK(pthread_getaffinity_np(pthread_self(), sizeof mine, &mine));
    int allowed[CPU_SETSIZE], n = 0;
    for (int c = 0; c < CPU_SETSIZE; c++)
        if (CPU_ISSET(c, &mine))
            allowed[n++] = c;
    CHECK(n > 0);

    pins s;
    pthread_mutex_init(&s.mu, NULL);
    for (int i = 0; i < 8; i++)
        s.cpu_of[i] = -2;
    tp_options o;
    CHECK_OK(tp_options_init(&o));
    o.threads = 5; /* more workers than this machine's CPUs, usually */
    o.pin_threads = 1;
    o.on_thread_start = record_mask;
    o.hook_ctx = &s;
    tp_pool *p;
    CHECK_OK(tp_pool_create(&p, &o));
    pthread_mutex_lock(&s.mu);
    for (int i = 0; i < 5; i++)
        CHECK_EQ(s.cpu_of[i], allowed[i % n]);
    pthread_mutex_unlock(&s.mu);
    CHECK_OK(tp_pool_destroy(p));

    /* Unpinned (the default): the workers inherit the creator's mask. */
    for (int i = 0; i < 8; i++)
        s.cpu_of[i] = -2;
    o.pin_threads = 0;
    o.threads = 2;
    CHECK_OK(tp_pool_create(&p, &o));
    pthread_mutex_lock(&s.mu);
    for (int i = 0; i < 2; i++)
        CHECK_EQ(s.cpu_of[i], n == 1 ? allowed[0] : -1);
    pthread_mutex_unlock(&s.mu);
    CHECK_OK(tp_pool_destroy(p));
    pthread_mutex_destroy(&s.mu);
}

TEST_MAIN(TEST_ENTRY(init_fills_defaults_and_size)
          TEST_ENTRY(init_writes_only_the_callers_bytes)
          TEST_ENTRY(first_layout_program)
          TEST_ENTRY(newer_layout_program)
          TEST_ENTRY(zeroed_and_bad_sizes)
          TEST_ENTRY(pin_threads_binds_each_worker))
