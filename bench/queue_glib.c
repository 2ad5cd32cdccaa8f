/*
 * queue_glib.c - GLib's GAsyncQueue (unbounded FIFO).
 *
 * bench-requires: pkg-config glib-2.0
 */
#include <glib.h>
#include <stdio.h>

#include "qbench.h"

static bench_queue *gq_create(void)
{
    return (bench_queue *)g_async_queue_new();
}

static void gq_destroy(bench_queue *q) { g_async_queue_unref((GAsyncQueue *)q); }

static int gq_push(bench_queue *q, void *item)
{
    g_async_queue_push((GAsyncQueue *)q, item);
    return 0;
}

static void *gq_pop(bench_queue *q) { return g_async_queue_pop((GAsyncQueue *)q); }

static const char *gq_version(void)
{
    static char v[32];
    snprintf(v, sizeof v, "%u.%u.%u", glib_major_version, glib_minor_version,
             glib_micro_version);
    return v;
}

const bench_queue_peer bench_queue_impl = {
    .name = "glib",
    .title = "GLib GAsyncQueue",
    .version = gq_version,
    .create = gq_create,
    .destroy = gq_destroy,
    .push = gq_push,
    .pop = gq_pop,
};
