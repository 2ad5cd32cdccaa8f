/*
 * failalloc.h - an allocator for tests that fails the N-th allocation and
 * counts what is still allocated (install it with tp_replace_allocator).
 *
 * A test sets allocs_left to N (a negative value: never fail), runs a
 * scenario, and checks that `live` is back to 0 and whether `failures`
 * shows the failure point was reached.  Each test file has its own copy of
 * the counters.
 */
#ifndef TP_TEST_FAILALLOC_H
#define TP_TEST_FAILALLOC_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

#include "check.h"
#include "tpool.h"

static atomic_long allocs_left; /* fail when it reaches 0; < 0: never */
static atomic_long live;        /* allocations not yet freed */
static atomic_long failures;    /* allocations refused */

static inline void *failing_malloc(size_t size)
{
    if (atomic_fetch_sub(&allocs_left, 1) == 1) {
        atomic_fetch_add(&failures, 1);
        return NULL;
    }
    void *ptr = malloc(size);
    if (ptr != NULL)
        atomic_fetch_add(&live, 1);
    return ptr;
}

static inline void counting_free(void *ptr)
{
    atomic_fetch_sub(&live, 1);
    free(ptr);
}

/* A call under failure injection may only succeed or report TP_ENOMEM;
 * anything else ends the test.  Returns whether it succeeded. */
static inline bool ok_or_nomem(int rc)
{
    if (rc != 0 && rc != TP_ENOMEM) {
        fprintf(stderr, "unexpected %s\n", tp_err_name(rc));
        exit(1);
    }
    return rc == 0;
}

/* Runs scenario() with the N-th allocation failing, for N = 1, 2, ...
 * until a run completes without reaching its failure point; after each
 * run nothing may be left allocated.  Returns how many failure points
 * were tried. */
static inline long walk_allocation_failures(void (*scenario)(void))
{
    CHECK_OK(tp_replace_allocator(failing_malloc, counting_free));
    long points = 0;
    for (long n = 1;; n++) {
        atomic_store(&allocs_left, n);
        atomic_store(&failures, 0);
        scenario();
        CHECK_EQ(atomic_load(&live), 0);
        if (atomic_load(&failures) == 0)
            break; /* the whole scenario ran without reaching point n */
        points++;
    }
    CHECK_OK(tp_replace_allocator(NULL, NULL));
    printf("# allocation failure points tried: %ld\n", points);
    return points;
}

#endif
