/*
 * alloc.c - pluggable allocator.
 *
 * The two function pointers are read on every allocation and written only
 * by tp_replace_allocator(), which the header says must not race with any
 * other call; relaxed atomics keep that contract free of formal data races
 * even when a test swaps allocators between runs.
 */
#include "alloc.h"

#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tpool.h"

static _Atomic(tp_malloc_fn) tpi_malloc_fn = malloc;
static _Atomic(tp_free_fn) tpi_free_fn = free;

int tp_replace_allocator(tp_malloc_fn malloc_fn, tp_free_fn free_fn)
{
    if ((malloc_fn == NULL) != (free_fn == NULL))
        return TP_EINVAL;
    if (malloc_fn == NULL) {
        malloc_fn = malloc;
        free_fn = free;
    }
    atomic_store_explicit(&tpi_malloc_fn, malloc_fn, memory_order_relaxed);
    atomic_store_explicit(&tpi_free_fn, free_fn, memory_order_relaxed);
    return 0;
}

void *tpi_malloc(size_t size)
{
    return atomic_load_explicit(&tpi_malloc_fn, memory_order_relaxed)(size);
}

void *tpi_calloc(size_t n, size_t size)
{
    if (size != 0 && n > SIZE_MAX / size)
        return NULL;
    void *p = tpi_malloc(n * size);
    if (p != NULL)
        memset(p, 0, n * size);
    return p;
}

void *tpi_calloc_aligned(size_t size, size_t align, void **block)
{
    *block = size > SIZE_MAX - align ? NULL : tpi_calloc(1, size + align);
    if (*block == NULL)
        return NULL;
    return (void *)(((uintptr_t)*block + align - 1) & ~(uintptr_t)(align - 1));
}

bool tpi_alloc_is_default(void)
{
    return atomic_load_explicit(&tpi_malloc_fn, memory_order_relaxed) ==
           malloc;
}

void tpi_free(void *ptr)
{
    if (ptr != NULL)
        atomic_load_explicit(&tpi_free_fn, memory_order_relaxed)(ptr);
}
