/*
 * driver.c - command line of a benchmark program (tpbench-<peer>).
 *
 *   tpbench-<peer> --info
 *       one JSON object: the peer's name, title, version, notes, what its
 *       futures and its batch call are, and the workloads it can run
 *   tpbench-<peer> WORKLOAD [--variant V] [--threads T] [--n N]
 *                           [--gap-us G] [--ms M]
 *       runs the workload once (after its own warm-up) and prints one JSON
 *       line: {"peer":..,"workload":..,"variant":..,"threads":..,"n":..,
 *       "metrics":{..}}
 *
 * bench/bench.py runs these programs, one process per measurement, so that
 * repetitions of different peers can be interleaved and every measurement
 * starts from a fresh process.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "driver.h"

void bench_metric(bench_report *r, const char *name, double value)
{
    if (r->count == BENCH_MAX_METRICS)
        bench_die("too many metrics");
    r->names[r->count] = name;
    r->values[r->count] = value;
    r->count++;
}

static void print_json_string(const char *s)
{
    putchar('"');
    for (; *s != '\0'; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            printf("\\%c", c);
        else if (c < 0x20)
            printf("\\u%04x", c);
        else
            putchar(c);
    }
    putchar('"');
}

static void print_info(void)
{
    const bench_peer *p = &bench_peer_impl;
    fputs("{\"peer\":", stdout);
    print_json_string(p->name);
    fputs(",\"title\":", stdout);
    print_json_string(p->title);
    fputs(",\"version\":", stdout);
    print_json_string(p->version());
    fputs(",\"notes\":", stdout);
    print_json_string(p->notes);
    fputs(",\"future_form\":", stdout);
    print_json_string(p->future_form != NULL ? p->future_form : "");
    fputs(",\"batch_form\":", stdout);
    print_json_string(p->batch_form != NULL ? p->batch_form : "");
    int futures = p->spawn != NULL && p->join != NULL &&
                  (p->flags & BENCH_FORKJOIN_ONLY) == 0;
    printf(",\"batch\":%s,\"futures\":%s,\"futures_only\":%s,"
           "\"nested_join\":%s,"
           "\"waiter_runs_tasks\":%s,\"batch_waiter_runs\":%s",
           p->submit_batch != NULL ? "true" : "false",
           futures ? "true" : "false",
           (p->flags & BENCH_FUTURES_ONLY) ? "true" : "false",
           (p->flags & BENCH_NESTED_JOIN) ? "true" : "false",
           (p->flags & BENCH_WAITER_RUNS_TASKS) ? "true" : "false",
           (p->flags & (BENCH_WAITER_RUNS_TASKS | BENCH_BATCH_WAITER_RUNS))
               ? "true"
               : "false");
    fputs(",\"workloads\":[", stdout);
    int first = 1;
    for (const bench_workload *w = bench_workloads; w->name != NULL; w++) {
        if (w->applies != NULL && !w->applies(p))
            continue;
        printf("%s", first ? "" : ",");
        print_json_string(w->name);
        first = 0;
    }
    fputs("]}\n", stdout);
}

static uint64_t parse_u64(const char *opt, const char *s)
{
    char *end = NULL;
    unsigned long long v = strtoull(s, &end, 10);
    if (s[0] == '\0' || s[0] == '-' || *end != '\0')
        bench_die("%s: not a number: %s", opt, s);
    return (uint64_t)v;
}

static void usage(void)
{
    fprintf(stderr,
            "usage: tpbench-%s --info\n"
            "       tpbench-%s WORKLOAD [--variant V] [--threads T] [--n N]"
            " [--gap-us G] [--ms M]\n",
            bench_peer_impl.name, bench_peer_impl.name);
    exit(2);
}

int main(int argc, char **argv)
{
    if (argc == 2 && strcmp(argv[1], "--info") == 0) {
        print_info();
        return 0;
    }
    if (argc < 2 || argv[1][0] == '-')
        usage();

    bench_args args = {.workload = argv[1], .variant = ""};
    for (int i = 2; i < argc; i += 2) {
        const char *opt = argv[i];
        if (i + 1 >= argc)
            usage();
        const char *val = argv[i + 1];
        if (strcmp(opt, "--variant") == 0)
            args.variant = val;
        else if (strcmp(opt, "--threads") == 0)
            args.threads = (unsigned)parse_u64(opt, val);
        else if (strcmp(opt, "--n") == 0)
            args.n = parse_u64(opt, val);
        else if (strcmp(opt, "--gap-us") == 0)
            args.gap_us = parse_u64(opt, val);
        else if (strcmp(opt, "--ms") == 0)
            args.ms = parse_u64(opt, val);
        else
            usage();
    }

    const bench_workload *w = bench_workloads;
    while (w->name != NULL && strcmp(w->name, args.workload) != 0)
        w++;
    if (w->name == NULL)
        bench_die("unknown workload: %s", args.workload);
    if (w->applies != NULL && !w->applies(&bench_peer_impl))
        bench_die("workload %s does not apply to %s", w->name,
                  bench_peer_impl.name);
    if (bench_peer_impl.handle_size > BENCH_HANDLE_MAX)
        bench_die("%s: handle of %zu bytes, over BENCH_HANDLE_MAX",
                  bench_peer_impl.name, bench_peer_impl.handle_size);

    bench_report rep = {.variant = args.variant, .threads = args.threads,
                        .n = args.n};
    w->run(&args, &rep);

    fputs("{\"peer\":", stdout);
    print_json_string(bench_peer_impl.name);
    fputs(",\"workload\":", stdout);
    print_json_string(w->name);
    fputs(",\"variant\":", stdout);
    print_json_string(rep.variant);
    printf(",\"threads\":%u,\"n\":%" PRIu64 ",\"metrics\":{", rep.threads,
           rep.n);
    for (unsigned i = 0; i < rep.count; i++) {
        printf("%s", i ? "," : "");
        print_json_string(rep.names[i]);
        printf(":%.6g", rep.values[i]);
    }
    fputs("}}\n", stdout);
    return fflush(stdout) == 0 ? 0 : 1;
}
