/*
 * qbench.h - the MPMC queue benchmark (qdriver.c) and the queues it
 * measures.
 *
 * One program per queue (tpqueue-<name>): qdriver.c linked with one
 * adapter file queue_<name>.c that defines `bench_queue_impl` (its first
 * comment names what it needs, as for the pool peers).  Every queue is
 * unbounded and FIFO; items are non-NULL pointers.
 */
#ifndef TPBENCH_QBENCH_H
#define TPBENCH_QBENCH_H

#include "bench.h"

typedef struct bench_queue bench_queue;

typedef struct bench_queue_peer {
    const char *name;  /* short name, as in results                  */
    const char *title; /* for the report                             */
    const char *(*version)(void);
    /* An empty unbounded FIFO queue; NULL on failure. */
    bench_queue *(*create)(void);
    /* Frees an empty queue. */
    void (*destroy)(bench_queue *q);
    /* Appends item (never NULL).  0 or -1.  Thread-safe. */
    int (*push)(bench_queue *q, void *item);
    /* Takes the oldest item, waiting while the queue is empty.
     * Thread-safe. */
    void *(*pop)(bench_queue *q);
} bench_queue_peer;

extern const bench_queue_peer bench_queue_impl;

#endif /* TPBENCH_QBENCH_H */
