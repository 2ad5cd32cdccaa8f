/*
 * peer_baseline.c - the baseline: the seeds' pool translated to C.
 *
 * bench-requires: threads
 *
 * The naive pool: a list of jobs behind one mutex, worker threads that
 * sleep on a condition variable until a job or the stop flag comes (no
 * polling), a job object allocated per submit.  The pool's one mutex
 * guards:
 *
 *   work_cv   workers wait for a job (signalled once per job)
 *   idle_cv   wait_all waits until no submitted job is left
 *
 * A job waited for with join() (spawn) carries a pointer to a bench_event
 * in the caller's handle (an atomic word and a futex wait, the cheapest
 * correct future, not a mutex and condition variable per task) and is not
 * counted for wait_all.  A worker never waits for another job, so a task
 * that waits for its child could deadlock the pool: no BENCH_NESTED_JOIN.
 */
#include <stdio.h>
#include <stdlib.h>

#include "bench.h"

typedef struct job {
    struct job *next;
    void *arg;           /* the task's argument                     */
    bench_event *done;   /* spawn(): the caller's event, else NULL  */
} job;

struct bench_pool {
    pthread_mutex_t mu;
    pthread_cond_t work_cv;
    pthread_cond_t idle_cv;
    job *head, *tail;           /* queued jobs (FIFO)                     */
    size_t outstanding; /* submitted and not finished, spawn() excepted  */
    int stop;
    bench_fn fn;
    unsigned nthreads;
    pthread_t *threads;
};

static void *worker(void *vp)
{
    bench_pool *p = vp;
    pthread_mutex_lock(&p->mu);
    for (;;) {
        while (p->head == NULL && !p->stop)
            pthread_cond_wait(&p->work_cv, &p->mu);
        job *j = p->head;
        if (j == NULL)
            break; /* stopping, and nothing left */
        p->head = j->next;
        if (p->head == NULL)
            p->tail = NULL;
        pthread_mutex_unlock(&p->mu);

        void *result = p->fn(j->arg);

        if (j->done != NULL) {
            bench_event_set(j->done, result);
            free(j);
            pthread_mutex_lock(&p->mu);
            continue;
        }
        free(j);
        pthread_mutex_lock(&p->mu);
        if (--p->outstanding == 0)
            pthread_cond_broadcast(&p->idle_cv);
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

static void stop_and_join(bench_pool *p, unsigned started)
{
    pthread_mutex_lock(&p->mu);
    p->stop = 1;
    pthread_cond_broadcast(&p->work_cv);
    pthread_mutex_unlock(&p->mu);
    for (unsigned i = 0; i < started; i++)
        pthread_join(p->threads[i], NULL);
}

static bench_pool *bl_create(unsigned threads, bench_fn fn)
{
    bench_pool *p = bench_xcalloc(1, sizeof *p);
    p->fn = fn;
    p->nthreads = threads;
    p->threads = bench_xcalloc(threads, sizeof *p->threads);
    if (pthread_mutex_init(&p->mu, NULL) != 0 ||
        pthread_cond_init(&p->work_cv, NULL) != 0 ||
        pthread_cond_init(&p->idle_cv, NULL) != 0)
        bench_die("baseline: cannot initialise the pool's lock");
    for (unsigned i = 0; i < threads; i++) {
        if (pthread_create(&p->threads[i], NULL, worker, p) != 0) {
            fprintf(stderr, "baseline: cannot start thread %u\n", i);
            stop_and_join(p, i);
            free(p->threads);
            free(p);
            return NULL;
        }
    }
    return p;
}

static void bl_destroy(bench_pool *p)
{
    stop_and_join(p, p->nthreads);
    pthread_cond_destroy(&p->idle_cv);
    pthread_cond_destroy(&p->work_cv);
    pthread_mutex_destroy(&p->mu);
    free(p->threads);
    free(p);
}

static job *new_job(void *arg)
{
    job *j = malloc(sizeof *j);
    if (j != NULL) {
        j->next = NULL;
        j->arg = arg;
        j->done = NULL;
    }
    return j;
}

/* Appends the chain first..last (n jobs) and wakes workers; pool mu held. */
static void enqueue_locked(bench_pool *p, job *first, job *last, size_t n,
                           int counted)
{
    if (p->tail != NULL)
        p->tail->next = first;
    else
        p->head = first;
    p->tail = last;
    if (counted)
        p->outstanding += n;
    if (n == 1)
        pthread_cond_signal(&p->work_cv);
    else
        pthread_cond_broadcast(&p->work_cv);
}

static int bl_submit(bench_pool *p, void *arg)
{
    job *j = new_job(arg);
    if (j == NULL)
        return -1;
    pthread_mutex_lock(&p->mu);
    enqueue_locked(p, j, j, 1, 1);
    pthread_mutex_unlock(&p->mu);
    return 0;
}

static int bl_submit_batch(bench_pool *p, void *const *args, size_t n)
{
    if (n == 0)
        return 0;
    job *first = NULL, *last = NULL;
    for (size_t i = 0; i < n; i++) {
        job *j = new_job(args[i]);
        if (j == NULL) {
            while (first != NULL) {
                job *next = first->next;
                free(first);
                first = next;
            }
            return -1;
        }
        if (last != NULL)
            last->next = j;
        else
            first = j;
        last = j;
    }
    pthread_mutex_lock(&p->mu);
    enqueue_locked(p, first, last, n, 1);
    pthread_mutex_unlock(&p->mu);
    return 0;
}

static void bl_wait_all(bench_pool *p)
{
    pthread_mutex_lock(&p->mu);
    while (p->outstanding != 0)
        pthread_cond_wait(&p->idle_cv, &p->mu);
    pthread_mutex_unlock(&p->mu);
}

static int bl_spawn(bench_pool *p, void *arg, void *handle)
{
    job *j = new_job(arg);
    if (j == NULL)
        return -1;
    bench_event *ev = handle;
    bench_event_init(ev);
    j->done = ev;
    pthread_mutex_lock(&p->mu);
    enqueue_locked(p, j, j, 1, 0);
    pthread_mutex_unlock(&p->mu);
    return 0;
}

static void *bl_join(bench_pool *p, void *handle)
{
    (void)p;
    bench_event *ev = handle;
    void *result = bench_event_wait(ev);
    bench_event_destroy(ev);
    return result;
}

static const char *bl_version(void) { return "this repository"; }

const bench_peer bench_peer_impl = {
    .name = "baseline",
    .title = "baseline (mutex + condvar + list)",
    .notes = "The naive pool: one mutex and condition variables around "
             "a linked list, a job allocated per task; a task cannot wait "
             "for a child.",
    .future_form = "a bench_event in the caller's handle (atomic word + "
                   "futex wait); the job points to it",
    .batch_form = "a chain of jobs appended under one lock, one broadcast",
    .flags = 0,
    .handle_size = sizeof(bench_event),
    .handle_align = _Alignof(bench_event),
    .version = bl_version,
    .create = bl_create,
    .destroy = bl_destroy,
    .run = NULL,
    .submit = bl_submit,
    .submit_batch = bl_submit_batch,
    .wait_all = bl_wait_all,
    .spawn = bl_spawn,
    .join = bl_join,
};
