/*
 * futmem.c - memory for futures: fixed-size blocks, recycled through
 * per-thread caches while a pool exists.
 *
 * Why not malloc: a future is 64 bytes; malloc would add its header and
 * round it to an 80-byte chunk, and costs a call on every submit and
 * every release.  Why not the pool's slabs (taskmem.c): a future outlives
 * its pool (its holder releases it when it likes), so its memory cannot
 * be the pool's.
 *
 * So futures come from one store shared by the process:
 *   - Blocks of TPI_FUTMEM_BLOCK bytes are carved out of slabs, each one
 *     cache line, aligned.  A block costs its 64 bytes and no header.
 *     The slabs are mappings of their own (mmap), populated when made:
 *     a burst of futures then costs one system call per slab rather than
 *     a page fault per page, which in a virtual machine is most of the
 *     cost of a future that lands on fresh memory.  They grow from
 *     TPI_SLAB_MIN to TPI_SLAB_MAX, so a program with a few futures maps
 *     64 KiB.  (Not tpi_malloc: with the allocator of the user's there are
 *     no slabs at all, see below.)
 *   - Each thread keeps a cache of free blocks (thread-local, no lock).
 *     It takes and returns blocks there; it refills TPI_BATCH at a time
 *     from the store and gives a batch back when it holds two, so the
 *     store's lock is taken once per batch.  Whoever frees a block (the
 *     holder that releases a future last, or the worker) keeps it, so a
 *     thread that submits and releases its own futures never touches the
 *     store in the steady state.
 *   - The store counts `out`: blocks in caches or in use.  The memory goes
 *     back to the system once no pool exists and `out` is 0, which is
 *     when every block can be accounted for.  That keeps the rule of
 *     tp_replace_allocator() (memory is freed with the allocator in force
 *     when no pool or future exists) and leaves leak checkers nothing.  A
 *     thread's cache goes back to the store when the thread exits (a
 *     thread-specific-data destructor), when it destroys the last pool,
 *     and whenever it frees a block while no pool exists.
 *   - While no pool exists, while an allocator of the user's is in force
 *     (tp_replace_allocator(): it sees each future, as it did before),
 *     and in builds under AddressSanitizer (which must see each future's
 *     memory come and go to find a use after free), a block is a
 *     tpi_malloc() of its own; the future remembers which (TPI_K_HEAP)
 *     and its release calls tpi_free.
 *
 * So the memory of futures stays allocated, for reuse, while any pool
 * exists: at most what the program had in use at its peak, plus two
 * batches per thread.
 *
 * fork(): a thread of the parent may hold the store's lock, or be half-way
 * through changing the store, when another forks.  So a child never
 * touches the store from before the fork: it marks it left behind, keeps
 * using what its own thread has cached, drops blocks it would give back,
 * and takes a tpi_malloc() of its own for each future after that.  (The
 * lock is not taken around fork() instead: the future table's 64 already
 * are, and a sanitizer that tracks locks held at once stops at 64.)
 *
 * Locks: the store's mu is a leaf (under it: mmap/munmap only).
 */
#include "futmem.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/mman.h>

#include "alloc.h"

#if defined(__SANITIZE_ADDRESS__)
#define TPI_FUTMEM_HEAP_ONLY 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TPI_FUTMEM_HEAP_ONLY 1
#endif
#endif
#ifndef TPI_FUTMEM_HEAP_ONLY
#define TPI_FUTMEM_HEAP_ONLY 0
#endif

#define TPI_SLAB_MIN ((size_t)64 * 1024)
#define TPI_SLAB_MAX ((size_t)2 * 1024 * 1024)
#define TPI_BATCH 64u

typedef struct tpi_blk {
    struct tpi_blk *next;
} tpi_blk;

typedef struct tpi_fslab {
    struct tpi_fslab *next;
    size_t bytes; /* of the mapping */
} tpi_fslab; /* the blocks follow, from the next block boundary */

static struct {
    pthread_mutex_t mu;
    tpi_blk *free;          /* free blocks (mu) */
    char *carve, *carve_end; /* the newest slab's blocks never handed out */
    tpi_fslab *slabs;       /* every slab (mu) */
    size_t slab_bytes;      /* the size of the next slab (mu) */
    size_t out;             /* blocks in caches or in use (mu) */
    _Atomic unsigned pools; /* pools that exist */
    bool left;              /* this is a forked child: never touch it */
} tpi_store = {.mu = PTHREAD_MUTEX_INITIALIZER};

typedef struct tpi_fcache {
    tpi_blk *head;
    unsigned n;
    bool keyed; /* the exit destructor is set for this thread */
} tpi_fcache;

static _Thread_local tpi_fcache tpi_fc;

static pthread_key_t tpi_fc_key;
static bool tpi_fc_key_ok;
static pthread_once_t tpi_fc_once = PTHREAD_ONCE_INIT;

/* ---- the store (mu held) --------------------------------------------------- */

static void release_if_idle(void)
{
    if (tpi_store.out != 0 || tpi_store.slabs == NULL ||
        atomic_load_explicit(&tpi_store.pools, memory_order_relaxed) != 0)
        return;
    for (tpi_fslab *s = tpi_store.slabs, *next; s != NULL; s = next) {
        next = s->next;
        (void)munmap(s, s->bytes);
    }
    tpi_store.slabs = NULL;
    tpi_store.slab_bytes = 0;
    tpi_store.free = NULL;
    tpi_store.carve = tpi_store.carve_end = NULL;
}

/* A new slab, its pages present; NULL when out of memory. */
static tpi_fslab *slab_new(void)
{
    size_t bytes = tpi_store.slab_bytes ? tpi_store.slab_bytes : TPI_SLAB_MIN;
    int flags = MAP_PRIVATE | MAP_ANONYMOUS;
#ifdef MAP_POPULATE
    flags |= MAP_POPULATE;
#endif
    void *m = mmap(NULL, bytes, PROT_READ | PROT_WRITE, flags, -1, 0);
    if (m == MAP_FAILED)
        return NULL;
    tpi_fslab *s = m;
    s->bytes = bytes;
    s->next = tpi_store.slabs;
    tpi_store.slabs = s;
    tpi_store.slab_bytes = bytes < TPI_SLAB_MAX ? 2 * bytes : TPI_SLAB_MAX;
    /* A mapping is page-aligned: the blocks start one block in. */
    tpi_store.carve = (char *)m + TPI_FUTMEM_BLOCK;
    tpi_store.carve_end = (char *)m + bytes / TPI_FUTMEM_BLOCK * TPI_FUTMEM_BLOCK;
    return s;
}

/* Moves up to TPI_BATCH blocks into c: free ones first, then new ones. */
static void refill(tpi_fcache *c)
{
    unsigned got = 0;
    for (; got < TPI_BATCH && tpi_store.free != NULL; got++) {
        tpi_blk *b = tpi_store.free;
        tpi_store.free = b->next;
        b->next = c->head;
        c->head = b;
    }
    for (; got < TPI_BATCH; got++) {
        if (tpi_store.carve == tpi_store.carve_end && slab_new() == NULL)
            break;
        tpi_blk *b = (tpi_blk *)(void *)tpi_store.carve;
        tpi_store.carve += TPI_FUTMEM_BLOCK;
        b->next = c->head;
        c->head = b;
    }
    c->n += got;
    tpi_store.out += got;
}

/* Moves k of c's blocks (k <= c->n) to the store. */
static void give_back(tpi_fcache *c, unsigned k)
{
    for (unsigned i = 0; i < k; i++) {
        tpi_blk *b = c->head;
        c->head = b->next;
        b->next = tpi_store.free;
        tpi_store.free = b;
    }
    c->n -= k;
    tpi_store.out -= k;
}

/* ---- thread caches --------------------------------------------------------- */

static void flush(tpi_fcache *c)
{
    if (tpi_store.left) {
        c->head = NULL; /* the child's copy of the parent's memory */
        c->n = 0;
        return;
    }
    pthread_mutex_lock(&tpi_store.mu);
    give_back(c, c->n);
    release_if_idle();
    pthread_mutex_unlock(&tpi_store.mu);
}

static void cache_destructor(void *arg)
{
    flush(arg);
}

static void make_key(void)
{
    tpi_fc_key_ok = pthread_key_create(&tpi_fc_key, cache_destructor) == 0;
}

/* Makes sure this thread's cache goes back when the thread exits.  Should
 * the key be missing (no key left in the process), a thread that exits
 * with blocks in its cache keeps the store's memory until the process
 * ends: nothing worse. */
static void hold(tpi_fcache *c)
{
    pthread_once(&tpi_fc_once, make_key);
    if (tpi_fc_key_ok && pthread_setspecific(tpi_fc_key, c) == 0)
        c->keyed = true;
}

void tpi_futmem_thread_flush(void)
{
    if (tpi_fc.n > 0)
        flush(&tpi_fc);
}

/* The slow path of tpi_futmem_alloc(): an empty cache. */
static __attribute__((noinline, cold)) void *alloc_refill(tpi_fcache *c,
                                                        bool *heap)
{
    if (!TPI_FUTMEM_HEAP_ONLY && !tpi_store.left && tpi_alloc_is_default() &&
        atomic_load_explicit(&tpi_store.pools, memory_order_relaxed) != 0) {
        if (!c->keyed)
            hold(c);
        pthread_mutex_lock(&tpi_store.mu);
        refill(c);
        pthread_mutex_unlock(&tpi_store.mu);
        if (c->head == NULL)
            return NULL;
        tpi_blk *b = c->head;
        c->head = b->next;
        c->n--;
        *heap = false;
        return b;
    }
    *heap = true;
    return tpi_malloc(TPI_FUTMEM_BLOCK);
}

void *tpi_futmem_alloc(bool *heap)
{
    tpi_fcache *c = &tpi_fc;
    tpi_blk *b = c->head;
    if (TPI_FUTMEM_HEAP_ONLY || b == NULL)
        return alloc_refill(c, heap);
    c->head = b->next;
    c->n--;
    *heap = false;
    return b;
}

/* The slow path of tpi_futmem_free(): c holds too many, or the blocks are
 * to go back at once. */
static __attribute__((noinline, cold)) void free_spill(tpi_fcache *c)
{
    if (!c->keyed)
        hold(c);
    if (atomic_load_explicit(&tpi_store.pools, memory_order_relaxed) == 0 ||
        tpi_store.left) {
        flush(c);
    } else if (c->n >= 2 * TPI_BATCH) {
        pthread_mutex_lock(&tpi_store.mu);
        give_back(c, TPI_BATCH);
        pthread_mutex_unlock(&tpi_store.mu);
    }
}

void tpi_futmem_free(void *block)
{
    tpi_fcache *c = &tpi_fc;
    tpi_blk *b = block;
    b->next = c->head;
    c->head = b;
    if (++c->n >= 2 * TPI_BATCH || !c->keyed ||
        atomic_load_explicit(&tpi_store.pools, memory_order_relaxed) == 0 ||
        tpi_store.left)
        free_spill(c);
}

/* ---- pools and fork -------------------------------------------------------- */

/* In the child, which has one thread: later threads see it set. */
static void left_behind(void)
{
    tpi_store.left = true;
}

static pthread_once_t tpi_fork_once = PTHREAD_ONCE_INIT;

static void install_fork_handlers(void)
{
    /* Out of memory: fork safety is lost, nothing else; see fork.c. */
    (void)pthread_atfork(NULL, NULL, left_behind);
}

void tpi_futmem_pool_up(void)
{
    pthread_once(&tpi_fork_once, install_fork_handlers);
    atomic_fetch_add_explicit(&tpi_store.pools, 1, memory_order_relaxed);
}

void tpi_futmem_pool_down(void)
{
    if (atomic_fetch_sub_explicit(&tpi_store.pools, 1,
                                  memory_order_relaxed) == 1)
        flush(&tpi_fc);
}
