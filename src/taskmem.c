/*
 * taskmem.c - memory for ordinary tasks: slabs owned by their pool.
 *
 * An ordinary task (32 bytes, future.h) lives from its submit until a
 * worker has run it, or a shutdown has dropped it: never longer than its
 * pool.  So the pool owns the memory: a tpi_taskmem, which carves tasks
 * out of slabs of TPI_SLAB and frees the slabs when it goes.  A queued
 * task costs its 32 bytes and no allocator header, and in the steady state
 * a submit does not call the allocator at all.
 *
 * Free tasks move between threads in batches of TPI_MEM_BATCH, never one
 * by one, so that the memory's lock `mu` is taken once per batch:
 *   - each worker keeps the tasks it has run on a free list of its own
 *     (owner only), takes its own submits from it, and gives a batch back
 *     when it holds two;
 *   - any other thread (the usual submitter) keeps a cache for one pool's
 *     memory at a time (thread-local), refilled a batch at a time from
 *     that memory or from a new slab.
 * The memory is reference-counted: the pool holds a reference, and so
 * does each thread cache that draws on it.  A thread that moves to
 * another pool gives its tasks back and its reference up; one that exits
 * does so in a thread-specific-data destructor; the thread that destroys
 * the pool gives up its own at once.  So the memory (at most a slab or so
 * per such thread) outlives a destroyed pool only while another thread
 * that submitted to it has neither exited nor used another pool since,
 * and no task is ever left stranded in a forgotten cache.
 *
 * fork(): a child never takes the lock of memory from before the fork
 * (a thread of the parent may have held it); it only drops references.
 *
 * Locks: a tpi_taskmem's mu is a leaf.
 */
#include <errno.h>

#include "alloc.h"
#include "pool_internal.h"

/* Tasks in a slab; a slab is 8 KiB. */
#define TPI_SLAB 255

typedef struct tpi_slab {
    struct tpi_slab *next;
    tpi_task tasks[TPI_SLAB];
} tpi_slab;

struct tpi_taskmem {
    pthread_mutex_t mu;
    tpi_slab *slabs;         /* every slab (mu) */
    tpi_task *free_batches;  /* batches of free tasks (mu) */
    _Atomic unsigned refs;   /* the pool, and the thread caches using it */
    unsigned gen;            /* process generation it was made in */
};

/* A non-worker thread's free tasks, from `mem`. */
typedef struct tpi_tls_tasks {
    tpi_taskmem *mem;
    tpi_task *head;
    unsigned n;
} tpi_tls_tasks;

static _Thread_local tpi_tls_tasks tpi_tls_free;

/* Runs release_cache() when a thread that used a cache exits. */
static pthread_key_t tpi_cache_key;
static bool tpi_cache_key_ok;
static pthread_once_t tpi_cache_once = PTHREAD_ONCE_INIT;

static void unref(tpi_taskmem *m)
{
    if (atomic_fetch_sub_explicit(&m->refs, 1, memory_order_acq_rel) != 1)
        return;
    tpi_slab *s = m->slabs;
    while (s != NULL) {
        tpi_slab *next = s->next;
        tpi_free(s);
        s = next;
    }
    /* A child's copy of a parent's lock may be held: leave it alone. */
    if (m->gen == tpi_fork_generation())
        pthread_mutex_destroy(&m->mu);
    tpi_free(m);
}

/* Gives m a list of n free tasks. */
static void give_batch(tpi_taskmem *m, tpi_task *batch, unsigned n)
{
    if (m->gen != tpi_fork_generation())
        return; /* see fork() at the top: the slabs keep them */
    pthread_mutex_lock(&m->mu);
    /* A batch's first task holds, in arg, the next batch and, in idk, its
     * length (the tasks are free: neither field means anything else). */
    batch->arg = m->free_batches;
    batch->idk = n;
    m->free_batches = batch;
    pthread_mutex_unlock(&m->mu);
}

/* Gives the calling thread's cache back, and its reference. */
static void release_cache(tpi_tls_tasks *c)
{
    if (c->mem == NULL)
        return;
    if (c->head != NULL)
        give_batch(c->mem, c->head, c->n);
    unref(c->mem);
    c->mem = NULL;
    c->head = NULL;
    c->n = 0;
}

static void cache_key_destructor(void *unused)
{
    (void)unused;
    release_cache(&tpi_tls_free);
}

static void make_cache_key(void)
{
    tpi_cache_key_ok =
        pthread_key_create(&tpi_cache_key, cache_key_destructor) == 0;
}

int tpi_taskmem_create(tpi_taskmem **out)
{
    pthread_once(&tpi_cache_once, make_cache_key);
    tpi_taskmem *m = tpi_calloc(1, sizeof *m);
    if (m == NULL)
        return ENOMEM;
    int rc = pthread_mutex_init(&m->mu, NULL);
    if (rc != 0) {
        tpi_free(m);
        return rc;
    }
    atomic_init(&m->refs, 1);
    m->gen = tpi_fork_generation();
    *out = m;
    return 0;
}

void tpi_taskmem_release(tpi_taskmem *m)
{
    /* Usually the thread that destroys a pool is the one that submitted
     * to it: its cache goes now, and the memory with it. */
    if (tpi_tls_free.mem == m)
        release_cache(&tpi_tls_free);
    unref(m);
}

/* A batch of free tasks (a new slab if there is none); sets *n to its
 * length.  NULL when out of memory. */
static tpi_task *take_batch(tpi_taskmem *m, unsigned *n)
{
    pthread_mutex_lock(&m->mu);
    tpi_task *batch = m->free_batches;
    if (batch != NULL) {
        m->free_batches = batch->arg;
        *n = (unsigned)batch->idk;
        pthread_mutex_unlock(&m->mu);
        return batch;
    }
    tpi_slab *s = tpi_malloc(sizeof *s);
    if (s == NULL) {
        pthread_mutex_unlock(&m->mu);
        return NULL;
    }
    s->next = m->slabs;
    m->slabs = s;
    pthread_mutex_unlock(&m->mu);
    for (unsigned i = 0; i + 1 < TPI_SLAB; i++)
        s->tasks[i].next = &s->tasks[i + 1];
    s->tasks[TPI_SLAB - 1].next = NULL;
    *n = TPI_SLAB;
    return &s->tasks[0];
}

/* Pops a task off a free list of *n, refilling it from m. */
static tpi_task *pop_free(tpi_taskmem *m, tpi_task **head, unsigned *n)
{
    if (*head == NULL && (*head = take_batch(m, n)) == NULL)
        return NULL;
    tpi_task *t = *head;
    *head = t->next;
    (*n)--;
    return t;
}

/* Pushes a free task on a list of *n; past two batches, gives one to m. */
static void push_free(tpi_taskmem *m, tpi_task **head, unsigned *n,
                      tpi_task *t)
{
    t->next = *head;
    *head = t;
    if (++*n < 2 * TPI_MEM_BATCH)
        return;
    tpi_task *last = *head;
    for (unsigned i = 1; i < TPI_MEM_BATCH; i++)
        last = last->next;
    tpi_task *rest = last->next;
    last->next = NULL;
    give_batch(m, rest, *n - TPI_MEM_BATCH);
    *n = TPI_MEM_BATCH;
}

/* The calling (non-worker) thread's cache, made to draw on m. */
static tpi_tls_tasks *cache_for(tpi_taskmem *m)
{
    tpi_tls_tasks *c = &tpi_tls_free;
    if (c->mem != m) {
        bool first = c->mem == NULL;
        release_cache(c);
        atomic_fetch_add_explicit(&m->refs, 1, memory_order_relaxed);
        c->mem = m;
        /* Once per thread: have the cache given back when it exits.  If
         * that fails, the reference is only dropped on the next switch. */
        if (first && tpi_cache_key_ok)
            (void)pthread_setspecific(tpi_cache_key, c);
    }
    return c;
}

tpi_task *tpi_task_alloc(tp_pool *p, tpi_worker *self)
{
    if (self != NULL)
        return pop_free(p->mem, &self->own.free_tasks, &self->own.nfree);
    tpi_tls_tasks *c = cache_for(p->mem);
    return pop_free(p->mem, &c->head, &c->n);
}

void tpi_task_free(tp_pool *p, tpi_worker *self, tpi_task *t)
{
    if (self != NULL) {
        push_free(p->mem, &self->own.free_tasks, &self->own.nfree, t);
        return;
    }
    tpi_tls_tasks *c = cache_for(p->mem);
    push_free(p->mem, &c->head, &c->n, t);
}
