/*
 * peer_tpool.h - what the adapters of this library (peer_tpool*.c) share:
 * the pool they benchmark, made the same way for each.
 */
#ifndef BENCH_PEER_TPOOL_H
#define BENCH_PEER_TPOOL_H

#include <stdio.h>

#include "tpool.h"

/* A pool of `threads` workers named "tpbench", or NULL (said on stderr). */
static inline tp_pool *bench_tpool_new(unsigned threads)
{
    tp_options opts;
    tp_options_init(&opts);
    opts.threads = threads;
    opts.name = "tpbench";
    tp_pool *pool;
    int rc = tp_pool_create(&pool, &opts);
    if (rc != 0) {
        fprintf(stderr, "tpool: %s\n", tp_strerror(rc));
        return NULL;
    }
    return pool;
}

#endif
