/*
 * alloc.h - the library's allocator (internal).
 *
 * Every allocation of the library goes through tpi_malloc/tpi_free so that a
 * user can plug in their own allocator (tp_replace_allocator) and the tests
 * can make the N-th allocation fail.  Never call malloc/free directly in
 * src/.
 */
#ifndef TPI_ALLOC_H
#define TPI_ALLOC_H

#include <stdbool.h>
#include <stddef.h>

void *tpi_malloc(size_t size);
/* Zero-filled; fails (NULL) on overflow of n * size. */
void *tpi_calloc(size_t n, size_t size);
void tpi_free(void *ptr);
/* size zeroed bytes aligned to align (a power of two), for types that keep
 * fields on cache lines of their own: malloc guarantees less, so the block
 * has room to align its start.  *block receives what to pass to tpi_free.
 * NULL when out of memory (or on overflow). */
void *tpi_calloc_aligned(size_t size, size_t align, void **block);
/* Whether the allocator is malloc/free (no tp_replace_allocator() in
 * force). */
bool tpi_alloc_is_default(void);

#endif
