/*
 * worker_main.c - tpool-redis-worker: a ready-made worker process.
 *
 *   tpool-redis-worker --lib FILE.so [--url URL] [--ns NS]
 *       [--stream NAME]... [--threads N] [--consumer NAME]
 *       [--reclaim-ms N] [--heartbeat-ms N] [--drain-ms N] [-- ARG...]
 *
 * Loads FILE.so (dlopen), calls its tp_redis_tasks_init(worker, argc, argv)
 * (TP_REDIS_TASKS_INIT_SYMBOL) with the arguments after "--", so that it
 * registers its task functions, and serves until SIGINT or SIGTERM, after
 * which it drains (tp_redis_worker_opts.drain_ms) and exits 0.  The
 * password may come from the environment (TPOOL_REDIS_PASSWORD) rather
 * than the URL, to keep it out of ps.
 *
 * Signals are blocked in every thread and taken by one thread with
 * sigwait(), which calls tp_redis_worker_stop() (not async-signal-safe, so
 * never from a handler).  SIGUSR2 from main tells that thread to end.
 *
 * Exit status: 0 after a signal, 1 when the library cannot be loaded or
 * refuses to start, 2 on a usage error, 3 when Redis refuses the login.
 */
#include <dlfcn.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tpool_redis.h"

static void usage(void)
{
    fprintf(stderr,
            "usage: tpool-redis-worker --lib FILE.so [--url URL] [--ns NS] "
            "[--stream NAME]...\n"
            "       [--threads N] [--consumer NAME] [--reclaim-ms N] "
            "[--heartbeat-ms N]\n"
            "       [--drain-ms N] [-- ARG...]\n");
}

static int parse_long(const char *s, long lo, long hi, long *out)
{
    char *end;
    long v = strtol(s, &end, 10);
    if (!*s || *end || v < lo || v > hi)
        return -1;
    *out = v;
    return 0;
}

typedef struct sigctx {
    tp_redis_worker *w;
    sigset_t set;
} sigctx;

static void *signal_main(void *arg)
{
    sigctx *sc = arg;
    for (;;) {
        int sig = 0;
        if (sigwait(&sc->set, &sig) != 0)
            continue;
        if (sig == SIGUSR2)
            return NULL;
        tp_redis_worker_stop(sc->w);
    }
}

int main(int argc, char **argv)
{
    tp_redis_worker_opts opts;
    tp_redis_worker_opts_init(&opts);
    const char *lib = NULL;
    const char *streams[16];
    size_t nstreams = 0;
    int lib_argc = 0;
    char **lib_argv = argv + argc;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        long n;
        if (strcmp(a, "--") == 0) {
            lib_argc = argc - i - 1;
            lib_argv = argv + i + 1;
            break;
        }
        if (!v) {
            usage();
            return 2;
        }
        i++;
        if (strcmp(a, "--lib") == 0) {
            lib = v;
        } else if (strcmp(a, "--url") == 0) {
            opts.conn.url = v;
        } else if (strcmp(a, "--ns") == 0) {
            opts.conn.ns = v;
        } else if (strcmp(a, "--stream") == 0 && nstreams < 16) {
            streams[nstreams++] = v;
        } else if (strcmp(a, "--consumer") == 0) {
            opts.consumer = v;
        } else if (strcmp(a, "--threads") == 0 &&
                   parse_long(v, 1, 4096, &n) == 0) {
            opts.threads = (unsigned)n;
        } else if (strcmp(a, "--reclaim-ms") == 0 &&
                   parse_long(v, 50, 86400000L, &n) == 0) {
            opts.reclaim_idle_ms = n;
        } else if (strcmp(a, "--heartbeat-ms") == 0 &&
                   parse_long(v, 1, 86400000L, &n) == 0) {
            opts.heartbeat_ms = n;
        } else if (strcmp(a, "--drain-ms") == 0 &&
                   parse_long(v, -1, 86400000L, &n) == 0) {
            opts.drain_ms = n;
        } else {
            usage();
            return 2;
        }
    }
    if (!lib) {
        usage();
        return 2;
    }
    opts.conn.password = getenv("TPOOL_REDIS_PASSWORD");
    if (nstreams) {
        opts.streams = streams;
        opts.nstreams = nstreams;
    }

    /* Block the signals before any thread exists, so that every thread
     * inherits the mask and only signal_main takes them. */
    sigctx sc;
    sigemptyset(&sc.set);
    sigaddset(&sc.set, SIGINT);
    sigaddset(&sc.set, SIGTERM);
    sigaddset(&sc.set, SIGUSR2);
    pthread_sigmask(SIG_BLOCK, &sc.set, NULL);
    /* The task library's own connections, too: a lost peer is an error
     * to handle, not a reason to die. */
    signal(SIGPIPE, SIG_IGN);

    tp_redis_worker *w;
    int rc = tp_redis_worker_create(&w, &opts);
    if (rc != 0) {
        fprintf(stderr, "tpool-redis-worker: %s\n", tp_redis_strerror(rc));
        return 2;
    }
    void *handle = dlopen(lib, RTLD_NOW | RTLD_LOCAL);
    if (!handle) {
        fprintf(stderr, "tpool-redis-worker: %s\n", dlerror());
        tp_redis_worker_destroy(w);
        return 1;
    }
    void *sym = dlsym(handle, TP_REDIS_TASKS_INIT_SYMBOL);
    if (!sym) {
        fprintf(stderr, "tpool-redis-worker: %s has no %s\n", lib,
                TP_REDIS_TASKS_INIT_SYMBOL);
        dlclose(handle);
        tp_redis_worker_destroy(w);
        return 1;
    }
    /* POSIX guarantees that an object pointer from dlsym() holds a function
     * address; ISO C has no cast between the two, so copy the bits. */
    tp_redis_tasks_init_fn init;
    _Static_assert(sizeof init == sizeof sym, "function pointer size");
    memcpy(&init, &sym, sizeof init);
    rc = init(w, lib_argc, lib_argv);
    if (rc != 0) {
        fprintf(stderr, "tpool-redis-worker: %s refused to start: %s\n", lib,
                tp_redis_strerror(rc));
        dlclose(handle);
        tp_redis_worker_destroy(w);
        return 1;
    }

    sc.w = w;
    pthread_t sig_thread;
    if (pthread_create(&sig_thread, NULL, signal_main, &sc) != 0) {
        fprintf(stderr, "tpool-redis-worker: cannot start a thread\n");
        dlclose(handle);
        tp_redis_worker_destroy(w);
        return 1;
    }
    fprintf(stderr, "tpool-redis-worker: serving (pid %ld)\n", (long)getpid());
    rc = tp_redis_worker_serve(w);
    pthread_kill(sig_thread, SIGUSR2);
    pthread_join(sig_thread, NULL);
    tp_redis_worker_stats st;
    tp_redis_worker_stats_get(w, &st);
    fprintf(stderr,
            "tpool-redis-worker: stopped: ran %llu, replied %llu, reclaimed "
            "%llu, dead %llu, cancelled %llu, reconnects %llu\n",
            (unsigned long long)st.ran, (unsigned long long)st.replied,
            (unsigned long long)st.reclaimed, (unsigned long long)st.dead,
            (unsigned long long)st.cancelled,
            (unsigned long long)st.reconnects);
    tp_redis_worker_destroy(w);
    /* The library is not unloaded: its code may be referenced by
     * thread-local destructors until exit. */
    if (rc != 0) {
        fprintf(stderr, "tpool-redis-worker: %s\n", tp_redis_strerror(rc));
        return rc == TP_REDIS_EAUTH ? 3 : 1;
    }
    return 0;
}
