/*
 * threads.h - a pool's worker threads (threads.c): starting them, their
 * number while the pool runs, workers leaving.
 */
#ifndef TPI_THREADS_H
#define TPI_THREADS_H

#include <stdbool.h>

#include "pool_internal.h"

/* pin_threads: the creating thread's CPUs into p->cpus; false where
 * threads cannot be bound. */
bool tpi_threads_pick_cpus(tp_pool *p);
/* Starts the first n workers (tp_pool_create); 0, or the errno value of
 * the thread that failed (p->live says how many run). */
int tpi_threads_start(tp_pool *p, unsigned n);
/* A worker that saw its `retire` flag, its own deque run dry: true if it
 * is to leave now (it is EXITING), false if a resize kept it. */
bool tpi_threads_leave(tpi_worker *w);
/* Its last step: a worker that left (`retired`) is EXITED; wakes another
 * if it saw work on its way out (`work_visible`, after a fence). */
void tpi_threads_left(tpi_worker *w, bool retired, bool work_visible);
/* Shutdown: joins every thread the slots have had (stopping is set). */
void tpi_threads_join_all(tp_pool *p);

#endif
