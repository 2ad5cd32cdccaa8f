/*
 * waitset.c - futures handed back in the order they settle (as_completed).
 *
 * Each added future gets a node with an embedded done-callback.  When the
 * future settles, the callback appends the node to the set's ready list and
 * signals one waiter; tp_waitset_next() pops the oldest ready node.  So
 * each future costs O(1) however many are in the set (wait-any over an
 * array is O(n) per call).
 *
 * Lifetime: the set is freed when its owner has destroyed it and no
 * callback can reach it any more.  `refs` (under mu) counts the owner plus
 * one per node whose future has not settled yet; the last to drop it frees
 * the set.  A callback that fires after destroy releases its future and
 * frees its node.
 *
 * Nodes of taken futures are kept on a spare list for later adds: a set
 * that is filled and drained over and over allocates nothing once warm.
 *
 * After fork().  In the child, a future of a pool created before the fork
 * never settles (no worker of that pool is there), so a set holding only
 * such futures, and nothing ready, would wait for ever: tp_waitset_next()
 * says TP_EFORKED instead.  To tell that in O(1) the set counts, under mu,
 * the futures not yet settled of the newest process generation (fork.c)
 * among those added, `live_gen`.  Every future of a process has a
 * generation no newer than the process's own, and only the process's own
 * can still settle, so something can settle here exactly when `live_gen` is
 * the current generation and `live` is not 0.  A future of a newer
 * generation than live_gen (the first one added in a child) restarts the
 * count: the older ones will not settle any more.
 */
#include <errno.h>
#include <stdbool.h>

#include "alloc.h"
#include "error.h"
#include "clock.h"
#include "fork.h"
#include "future.h"

typedef struct ws_node {
    tpi_callback cb; /* first: the callback's ctx is the node itself */
    struct ws_node *next;
    tp_future *f;
    tp_waitset *ws;
} ws_node;

struct tp_waitset {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    ws_node *head, *tail; /* settled, not yet taken */
    ws_node *spare;       /* nodes taken, kept for the next adds */
    size_t size;          /* added and not yet taken */
    size_t refs;          /* owner + nodes not yet settled */
    unsigned live_gen;    /* newest generation among the futures added */
    size_t live;          /* of those, futures not yet settled */
    unsigned waiters;
    bool destroyed;
};

static void ws_free(tp_waitset *ws)
{
    while (ws->spare != NULL) {
        ws_node *next = ws->spare->next;
        tpi_free(ws->spare);
        ws->spare = next;
    }
    pthread_cond_destroy(&ws->cv);
    pthread_mutex_destroy(&ws->mu);
    tpi_free(ws);
}

/* Drops one reference; mu held on entry, released on return. */
static void ws_unref_unlock(tp_waitset *ws)
{
    bool last = --ws->refs == 0;
    pthread_mutex_unlock(&ws->mu);
    if (last)
        ws_free(ws);
}

static void on_settled(tp_future *f, void *ctx)
{
    ws_node *node = ctx;
    tp_waitset *ws = node->ws;
    pthread_mutex_lock(&ws->mu);
    if (tpi_future_gen(f) == ws->live_gen)
        ws->live--;
    if (ws->destroyed) {
        tp_future_release(node->f);
        tpi_free(node);
    } else {
        node->next = NULL;
        if (ws->tail != NULL)
            ws->tail->next = node;
        else
            ws->head = node;
        ws->tail = node;
        if (ws->waiters > 0)
            pthread_cond_signal(&ws->cv);
    }
    ws_unref_unlock(ws);
}

int tp_waitset_create(tp_waitset **out)
{
    if (out == NULL)
        return TP_EINVAL;
    tp_waitset *ws = tpi_calloc(1, sizeof *ws);
    if (ws == NULL)
        return TP_ENOMEM;
    int rc = pthread_mutex_init(&ws->mu, NULL);
    if (rc == 0 && (rc = tpi_cond_init(&ws->cv)) != 0)
        pthread_mutex_destroy(&ws->mu);
    if (rc != 0) {
        tpi_free(ws);
        return tpi_errno_to_tp(rc);
    }
    ws->refs = 1;
    *out = ws;
    return 0;
}

int tp_waitset_add(tp_waitset *ws, tp_future *f)
{
    if (ws == NULL || f == NULL)
        return TP_EINVAL;
    pthread_mutex_lock(&ws->mu);
    ws_node *node = ws->spare;
    if (node != NULL) {
        ws->spare = node->next;
    } else {
        pthread_mutex_unlock(&ws->mu);
        if ((node = tpi_malloc(sizeof *node)) == NULL)
            return TP_ENOMEM;
        pthread_mutex_lock(&ws->mu);
    }
    ws->size++;
    ws->refs++;
    /* Counted before the callback is registered, which may uncount it. */
    if (tpi_future_gen(f) == ws->live_gen) {
        ws->live++;
    } else if (tpi_future_gen(f) > ws->live_gen) {
        ws->live_gen = tpi_future_gen(f);
        ws->live = 1;
    }
    pthread_mutex_unlock(&ws->mu);
    tp_future_retain(f);
    node->cb.fn = on_settled;
    node->cb.ctx = node;
    node->cb.heap = false;
    node->f = f;
    node->ws = ws;
    /* May run on_settled right here if f has already settled. */
    tpi_future_add_callback(f, &node->cb);
    return 0;
}

int tp_waitset_next(tp_waitset *ws, int64_t timeout_ms, tp_future **out)
{
    if (ws == NULL || out == NULL)
        return TP_EINVAL;
    tpi_deadline dl = tpi_deadline_after_ms(timeout_ms);
    int rc = 0;
    pthread_mutex_lock(&ws->mu);
    while (ws->head == NULL) {
        if (ws->size == 0) {
            rc = TP_EEMPTY;
            break;
        }
        /* Nothing is ready: if none of the futures left can settle in
         * this process (see the top comment), waiting would never end. */
        if (!dl.poll &&
            (ws->live == 0 || ws->live_gen != tpi_gen_now())) {
            rc = TP_EFORKED;
            break;
        }
        ws->waiters++;
        int w = tpi_cond_wait(&ws->cv, &ws->mu, &dl);
        ws->waiters--;
        if (w == ETIMEDOUT && ws->head == NULL) {
            rc = TP_ETIMEDOUT;
            break;
        }
    }
    if (rc == 0) {
        ws_node *node = ws->head;
        ws->head = node->next;
        if (ws->head == NULL)
            ws->tail = NULL;
        ws->size--;
        *out = node->f; /* the set's reference passes to the caller */
        node->next = ws->spare;
        ws->spare = node;
    }
    pthread_mutex_unlock(&ws->mu);
    return rc;
}

size_t tp_waitset_size(tp_waitset *ws)
{
    if (ws == NULL)
        return 0;
    pthread_mutex_lock(&ws->mu);
    size_t n = ws->size;
    pthread_mutex_unlock(&ws->mu);
    return n;
}

int tp_waitset_destroy(tp_waitset *ws)
{
    if (ws == NULL)
        return TP_EINVAL;
    pthread_mutex_lock(&ws->mu);
    ws->destroyed = true;
    ws_node *ready = ws->head;
    ws->head = ws->tail = NULL;
    ws_unref_unlock(ws);
    while (ready != NULL) {
        ws_node *next = ready->next;
        tp_future_release(ready->f);
        tpi_free(ready);
        ready = next;
    }
    return 0;
}
