/*
 * combine.h - what combine.c's combinators and compose.c share (internal):
 * callback items that never recurse deeply (combine.c's top comment), and
 * settling a future as another ended.
 */
#ifndef TPI_COMBINE_H
#define TPI_COMBINE_H

#include <stdbool.h>
#include <stddef.h>

#include "future.h"

#define TPI_CONTAINER_OF(ptr, type, member)                                    \
    ((type *)(void *)((char *)(ptr) - offsetof(type, member)))

/* The flags a continuation accepts. */
#define TPI_THEN_FLAGS                                                         \
    ((unsigned)(TP_THEN_ALWAYS | TP_THEN_ON_FAILURE | TP_COMBINE_CANCEL_INPUTS))

/* A done-callback that runs `run` once its future has settled, nested at
 * most a few levels deep on one thread (deeper ones are deferred). */
typedef struct tpi_item tpi_item;
struct tpi_item {
    tpi_callback cb;           /* registered on a future; cb.ctx is the item */
    tpi_item *next;            /* in this thread's deferred list */
    void (*run)(tpi_item *it); /* what to do when the future has settled */
};

void tpi_item_init(tpi_item *it, void (*run)(tpi_item *));

/* Settles `out` (pending, ours to settle) as `from` ended: COMPLETED with
 * `result`, FAILED with from's code, or CANCELLED for the same reason (a
 * start deadline that passed stays TP_EEXPIRED). */
void tpi_settle_like(tp_future *out, tp_future *from, void *result);

/* A combinator's state of `size` bytes and the future it settles, with
 * two references (the caller's and the state's); NULL, with nothing
 * allocated, when memory is short. */
void *tpi_alloc_with_out(size_t size, tp_future **out);

/* True if f is of an older process generation and has not settled:
 * nothing in this process will settle it (combine.c, "After fork()"). */
static inline bool tpi_stuck_after_fork(const tp_future *f, unsigned gen)
{
    return tpi_future_gen(f) != gen && !tpi_future_done(f);
}

#endif
