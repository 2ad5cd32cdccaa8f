/*
 * driver.h - what the benchmark driver (driver.c) and its workloads
 * (workloads.c) share.
 *
 * A workload measures one thing on the peer linked into the program and
 * fills a bench_report with named figures; driver.c prints it as one JSON
 * line on stdout.  Workloads check their own results (every task ran, the
 * answer is right) and exit with status 1 on a mismatch, so that a quick
 * run is a working smoke test.
 */
#ifndef TPBENCH_DRIVER_H
#define TPBENCH_DRIVER_H

#include <stdbool.h>

#include "bench.h"

/* Parameters of one run, from the command line (0: the workload's
 * default). */
typedef struct bench_args {
    const char *workload;
    const char *variant; /* empty: "single" or "batch"                */
    unsigned threads;    /* pool threads                               */
    uint64_t n;          /* tasks, items, fib argument, samples, ...   */
    uint64_t gap_us;     /* latency: pause between two tasks           */
    uint64_t ms;         /* idle: measured time                        */
} bench_args;

#define BENCH_MAX_METRICS 12

typedef struct bench_report {
    const char *variant; /* as run (the workload may fill in a default) */
    unsigned threads;    /* as run                                       */
    uint64_t n;          /* as run                                       */
    unsigned count;
    const char *names[BENCH_MAX_METRICS];
    double values[BENCH_MAX_METRICS];
} bench_report;

/* Adds a figure to the report. */
void bench_metric(bench_report *r, const char *name, double value);

typedef struct bench_workload {
    const char *name;
    /* Whether the linked peer can run it (NULL: always). */
    bool (*applies)(const bench_peer *peer);
    void (*run)(const bench_args *args, bench_report *out);
} bench_workload;

/* The table of workloads (workloads.c), ended by a NULL name. */
extern const bench_workload bench_workloads[];

#endif /* TPBENCH_DRIVER_H */
