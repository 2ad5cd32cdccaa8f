/*
 * peer_glib.c - GLib's GThreadPool.
 *
 * bench-requires: pkg-config glib-2.0
 *
 * A GThreadPool runs one function on the pointers pushed to it, so each
 * kind of task gets a pool of its own, created on first use, each with
 * `threads` exclusive threads (only one kind is in use at a time in a
 * workload):
 *
 *   plain    the argument is pushed as is (GLib refuses NULL, so NULL
 *            travels as the address of a marker); a latch counts them for
 *            wait_all (GLib has no "wait until idle" short of freeing the
 *            pool)
 *   spawn    the caller's handle is pushed (no allocation); the task sets
 *            its bench_event (an atomic word and a futex wait)
 *
 * A task waiting for a child would block one of the pool's threads (GLib's
 * pool does not run other tasks meanwhile): no BENCH_NESTED_JOIN.
 */
#include <glib.h>
#include <stdio.h>
#include <stdlib.h>

#include "bench.h"

enum { KIND_PLAIN, KIND_SPAWN, KINDS };

struct bench_pool {
    GThreadPool *tp[KINDS];
    unsigned threads;
    bench_fn fn;
    bench_latch *latch;  /* plain tasks not yet finished */
};

typedef struct glib_handle {
    void *arg;
    bench_event ev;
} glib_handle;

static char null_arg; /* stands for a NULL argument */

static void run_plain(gpointer data, gpointer user)
{
    bench_pool *p = user;
    p->fn(data == &null_arg ? NULL : data);
    bench_latch_done(p->latch);
}

static void run_spawn(gpointer data, gpointer user)
{
    bench_pool *p = user;
    glib_handle *h = data;
    bench_event_set(&h->ev, p->fn(h->arg));
}

static GThreadPool *pool_of(bench_pool *p, int kind)
{
    static const GFunc fns[KINDS] = {run_plain, run_spawn};
    if (p->tp[kind] == NULL) {
        GError *err = NULL;
        p->tp[kind] = g_thread_pool_new(fns[kind], p, (gint)p->threads,
                                        TRUE, &err);
        if (p->tp[kind] == NULL) {
            fprintf(stderr, "glib: g_thread_pool_new: %s\n",
                    err != NULL ? err->message : "failed");
            g_clear_error(&err);
        }
    }
    return p->tp[kind];
}

static bench_pool *gl_create(unsigned threads, bench_fn fn)
{
    bench_pool *p = bench_xcalloc(1, sizeof *p);
    p->threads = threads;
    p->fn = fn;
    p->latch = bench_latch_new();
    /* Start the plain pool now, as the other peers start their threads at
     * creation; the other starts on first use. */
    if (pool_of(p, KIND_PLAIN) == NULL) {
        bench_latch_free(p->latch);
        free(p);
        return NULL;
    }
    return p;
}

static void gl_destroy(bench_pool *p)
{
    for (int k = 0; k < KINDS; k++)
        if (p->tp[k] != NULL)
            g_thread_pool_free(p->tp[k], FALSE, TRUE); /* runs what is left */
    bench_latch_free(p->latch);
    free(p);
}

static int push(bench_pool *p, int kind, void *data)
{
    GThreadPool *tp = pool_of(p, kind);
    if (tp == NULL)
        return -1;
    GError *err = NULL;
    if (!g_thread_pool_push(tp, data, &err)) {
        fprintf(stderr, "glib: g_thread_pool_push: %s\n",
                err != NULL ? err->message : "failed");
        g_clear_error(&err);
        return -1;
    }
    return 0;
}

static int gl_submit(bench_pool *p, void *arg)
{
    bench_latch_add(p->latch, 1);
    if (push(p, KIND_PLAIN, arg != NULL ? arg : &null_arg) != 0) {
        bench_latch_done(p->latch);
        return -1;
    }
    return 0;
}

static void gl_wait_all(bench_pool *p) { bench_latch_wait(p->latch); }

static int gl_spawn(bench_pool *p, void *arg, void *handle)
{
    glib_handle *h = handle;
    h->arg = arg;
    bench_event_init(&h->ev);
    if (push(p, KIND_SPAWN, h) != 0) {
        bench_event_destroy(&h->ev);
        return -1;
    }
    return 0;
}

static void *gl_join(bench_pool *p, void *handle)
{
    (void)p;
    glib_handle *h = handle;
    void *result = bench_event_wait(&h->ev);
    bench_event_destroy(&h->ev);
    return result;
}

static const char *gl_version(void)
{
    static char v[32];
    snprintf(v, sizeof v, "%u.%u.%u", glib_major_version, glib_minor_version,
             glib_micro_version);
    return v;
}

const bench_peer bench_peer_impl = {
    .name = "glib",
    .title = "GLib GThreadPool",
    .notes = "Exclusive GThreadPool; completion through a latch (plain "
             "tasks) or a per-task event; no batch push; a task cannot "
             "wait for a child.",
    .future_form = "the caller's handle is the pushed item: argument + "
                   "bench_event (atomic word + futex wait)",
    .batch_form = NULL,
    .flags = 0,
    .handle_size = sizeof(glib_handle),
    .handle_align = _Alignof(glib_handle),
    .version = gl_version,
    .create = gl_create,
    .destroy = gl_destroy,
    .run = NULL,
    .submit = gl_submit,
    .submit_batch = NULL,
    .wait_all = gl_wait_all,
    .spawn = gl_spawn,
    .join = gl_join,
};
