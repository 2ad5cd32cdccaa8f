/*
 * test_signals.c - blocking calls under signals, and pools across fork().
 */
#include <signal.h>
#include <stdatomic.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "tpool.h"
#include "util.h"

static atomic_int handled;

static void on_signal(int sig)
{
    (void)sig;
    atomic_fetch_add(&handled, 1);
}

typedef struct waiter {
    tp_future *f;
    int64_t timeout_ms;
    int rc;
    double waited_ms;
    pthread_t thread;
    event started;
} waiter;

static void *wait_thread(void *arg)
{
    waiter *w = arg;
    event_signal(&w->started);
    double t0 = now_ms();
    w->rc = tp_future_wait(w->f, w->timeout_ms);
    w->waited_ms = now_ms() - t0;
    return NULL;
}

/* Signals delivered to a thread blocked in a timed wait neither end the
 * wait early nor stretch it; an untimed wait still sees the result. */
TEST(waits_survive_signals)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0; /* no SA_RESTART: interrupted calls see EINTR */
    CHECK(sigaction(SIGUSR1, &sa, NULL) == 0);

    gate g;
    event_init(&g.started);
    event_init(&g.open);
    tp_options o;
    tp_options_init(&o);
    o.threads = 1;
    tp_pool *p;
    CHECK_OK(tp_pool_create(&p, &o));
    tp_future *f;
    CHECK_OK(tp_submit_future(p, gate_task, &g, &f));
    event_wait(&g.started, 1);

    waiter timed = {.f = f, .timeout_ms = 300};
    waiter forever = {.f = f, .timeout_ms = -1};
    event_init(&timed.started);
    event_init(&forever.started);
    CHECK(pthread_create(&timed.thread, NULL, wait_thread, &timed) == 0);
    CHECK(pthread_create(&forever.thread, NULL, wait_thread, &forever) == 0);
    event_wait(&timed.started, 1);
    event_wait(&forever.started, 1);
    /* Pace the signals over the timed wait (the sleep spaces deliveries;
     * it orders nothing the assertions depend on). */
    for (int i = 0; i < 20; i++) {
        pthread_kill(timed.thread, SIGUSR1);
        pthread_kill(forever.thread, SIGUSR1);
        struct timespec ts = {0, 10 * 1000000L};
        nanosleep(&ts, NULL);
    }
    pthread_join(timed.thread, NULL);
    CHECK_EQ(timed.rc, TP_ETIMEDOUT);
    CHECK(timed.waited_ms >= 299 && timed.waited_ms < 5000);
    CHECK(atomic_load(&handled) > 0);
    event_signal(&g.open);
    pthread_join(forever.thread, NULL);
    CHECK_OK(forever.rc);
    tp_future_release(f);
    CHECK_OK(tp_pool_destroy(p));
    event_destroy(&g.started);
    event_destroy(&g.open);
    event_destroy(&timed.started);
    event_destroy(&forever.started);
    signal(SIGUSR1, SIG_DFL);
}

#if !defined(__SANITIZE_THREAD__)
static void *identity(void *arg)
{
    return arg;
}

/* In the child: the parent's pool refuses every call, an unsettled future
 * of it cannot be waited on, destroy frees the copy, and a new pool works.
 * Returns the exit status for the parent to check. */
static int child_checks(tp_pool *old, tp_future *pending, tp_future *done)
{
    tp_future *f = NULL;
    if (tp_submit(old, identity, NULL) != TP_EFORKED)
        return 10;
    if (tp_submit_future(old, identity, NULL, &f) != TP_EFORKED)
        return 11;
    tp_job job = {identity, NULL, 0};
    if (tp_submit_batch(old, &job, 1, NULL, NULL) != TP_EFORKED)
        return 12;
    if (tp_pool_wait_idle(old, -1) != TP_EFORKED)
        return 13;
    tp_pool_stats s;
    if (tp_pool_stats_get(old, &s) != TP_EFORKED)
        return 14;
    if (tp_future_wait(pending, -1) != TP_EFORKED)
        return 15;
    void *r = NULL;
    if (tp_future_get(done, -1, &r) != 0 || r != (void *)7)
        return 16;
    if (tp_pool_shutdown(old) != TP_EFORKED)
        return 17;
    if (tp_pool_destroy(old) != 0)
        return 18;
    tp_pool *fresh;
    if (tp_pool_create(&fresh, NULL) != 0)
        return 19;
    if (tp_submit_future(fresh, identity, (void *)9, &f) != 0 ||
        tp_future_get(f, -1, &r) != 0 || r != (void *)9)
        return 20;
    tp_future_release(f);
    if (tp_pool_destroy(fresh) != 0)
        return 21;
    return 0;
}
#endif

TEST(fork_child_gets_clear_errors)
{
#if defined(__SANITIZE_THREAD__)
    /* ThreadSanitizer does not support threads in the child of a
     * multi-threaded fork; the plain and ASan builds run this test. */
    printf("# skipped under ThreadSanitizer\n");
#else
    gate g;
    event_init(&g.started);
    event_init(&g.open);
    tp_options o;
    tp_options_init(&o);
    o.threads = 1;
    tp_pool *p;
    CHECK_OK(tp_pool_create(&p, &o));
    tp_future *done, *blocker, *pending;
    CHECK_OK(tp_submit_future(p, identity, (void *)7, &done));
    CHECK_OK(tp_future_wait(done, -1));
    CHECK_OK(tp_submit_future(p, gate_task, &g, &blocker));
    event_wait(&g.started, 1);
    CHECK_OK(tp_submit_future(p, identity, NULL, &pending));

    fflush(stdout);
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0)
        _exit(child_checks(p, pending, done));
    int status = 0;
    CHECK(waitpid(pid, &status, 0) == pid);
    CHECK(WIFEXITED(status));
    CHECK_EQ(WEXITSTATUS(status), 0);

    /* The parent's pool carries on. */
    event_signal(&g.open);
    CHECK_OK(tp_future_wait(pending, -1));
    tp_future_release(done);
    tp_future_release(blocker);
    tp_future_release(pending);
    CHECK_OK(tp_pool_destroy(p));
    event_destroy(&g.started);
    event_destroy(&g.open);
#endif
}

TEST_MAIN(TEST_ENTRY(waits_survive_signals)
          TEST_ENTRY(fork_child_gets_clear_errors))
