/*
 * redis_bench.c - throughput and round-trip latency of the Redis module
 * (make bench-redis; not part of make test).
 *
 *   tpr_bench WORKERS TASKS ROUNDTRIPS
 *
 * Starts a private redis-server (unix socket, no persistence), WORKERS
 * worker processes (tpool-redis-worker, TPR_BENCH_THREADS threads each,
 * default 2, the test tasks library), then: throughput: TASKS no-op tasks
 * submitted at once, timed from the first submit until every future has
 * settled; latency: ROUNDTRIPS one-at-a-time submit-and-get round trips,
 * p50 and p99.  Prints one line: workers, tasks/s, p50 us, p99 us.
 * TPR_BENCH_STATS: Redis's INFO commandstats on stderr; TPR_BENCH_XADD:
 * then redis-benchmark's XADD rate on the same server.
 */
#include <stdlib.h>

#include "check.h"
#include "harness.h"

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static int64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: tpr_bench WORKERS TASKS ROUNDTRIPS\n");
        return 2;
    }
    int workers = atoi(argv[1]), tasks = atoi(argv[2]), rts = atoi(argv[3]);
    rh_skip_without_redis();
    rh_server s = {0};
    rh_server_start(&s);
    const char *th = getenv("TPR_BENCH_THREADS");
    int threads = th != NULL && atoi(th) > 0 ? atoi(th) : 2;
    pid_t pids[16];
    for (int i = 0; i < workers && i < 16; i++) {
        char name[16];
        snprintf(name, sizeof name, "b%d", i);
        pids[i] = rh_worker_spawn(&s, name, threads, 30000, false);
    }
    tp_redis_client_opts o;
    tp_redis_client_opts_init(&o);
    o.conn.url = s.url;
    o.max_queued = (size_t)tasks + 1;
    tp_redis_client *c;
    CHECK_OK(tp_redis_client_create(&c, &o));
    /* Warm-up: every worker connected and serving. */
    for (int i = 0; i < 200; i++) {
        tp_future *f;
        CHECK_OK(tp_redis_submit(c, "noop", "", 0, NULL, &f));
        CHECK_OK(tp_future_wait(f, 30000));
        tp_future_release(f);
    }
    tp_future **fs = calloc((size_t)tasks, sizeof *fs);
    CHECK(fs);
    int64_t t0 = now_us();
    for (int i = 0; i < tasks; i++)
        CHECK_OK(tp_redis_submit(c, "noop", "", 0, NULL, &fs[i]));
    CHECK_OK(tp_wait_all(fs, (size_t)tasks, 120000));
    int64_t t1 = now_us();
    for (int i = 0; i < tasks; i++) {
        CHECK_EQ(tp_future_state(fs[i]), TP_COMPLETED);
        tp_future_release(fs[i]);
    }
    int64_t *lat = calloc((size_t)rts, sizeof *lat);
    CHECK(lat);
    for (int i = 0; i < rts; i++) {
        tp_future *f;
        int64_t a = now_us();
        CHECK_OK(tp_redis_submit(c, "noop", "", 0, NULL, &f));
        CHECK_OK(tp_future_wait(f, 30000));
        lat[i] = now_us() - a;
        tp_future_release(f);
    }
    qsort(lat, (size_t)rts, sizeof *lat, cmp_i64);
    if (getenv("TPR_BENCH_STATS")) {
        /* Where the server's time went: calls and usec per command. */
        char cmd[512];
        snprintf(cmd, sizeof cmd,
                 "redis-cli -s %s INFO commandstats | grep cmdstat >&2",
                 s.sock);
        (void)system(cmd);
    }
    printf("%d\t%.0f\t%lld\t%lld\n", workers,
           tasks * 1e6 / (double)(t1 - t0), (long long)lat[rts / 2],
           (long long)lat[(rts * 99) / 100]);
    tp_redis_client_destroy(c);
    for (int i = 0; i < workers && i < 16; i++)
        rh_worker_end(pids[i], SIGTERM);
    /* The engine's ceiling: XADD of the same (empty) payload, on the same
     * server, redis-benchmark's 50 connections, unpipelined and pipelined
     * by 64. */
    fflush(stdout);
    if (getenv("TPR_BENCH_XADD")) {
        char cmd[1024];
        snprintf(cmd, sizeof cmd,
                 "redis-benchmark -s %s -n 200000 -q XADD tp:q:x '*' v 1 p '' "
                 "| tr '\\r' '\\n' | tail -n 1; redis-benchmark -s %s -n 200000 "
                 "-P 64 -q XADD tp:q:x '*' v 1 p '' | tr '\\r' '\\n' | tail -n 1",
                 s.sock, s.sock);
        (void)system(cmd);
    }
    rh_server_stop(&s);
    free(lat);
    free(fs);
    return 0;
}
