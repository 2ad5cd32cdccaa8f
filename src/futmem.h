/*
 * futmem.h - memory for futures: fixed-size blocks, recycled through
 * per-thread caches while a pool exists (internal).  futmem.c says why and
 * how.
 */
#ifndef TPI_FUTMEM_H
#define TPI_FUTMEM_H

#include <stdbool.h>
#include <stddef.h>

/* Bytes of a block: a tp_future (future.h checks that it fits). */
#define TPI_FUTMEM_BLOCK 64

/* A block of TPI_FUTMEM_BLOCK bytes, or NULL when out of memory.  *heap
 * says where it came from: true when it is a tpi_malloc() of its own (no
 * pool exists, an allocator of the user's is in force, or a build under
 * AddressSanitizer), to be given back with
 * tpi_free(); false when it is a recycled block, to be given back with
 * tpi_futmem_free().  Any thread. */
void *tpi_futmem_alloc(bool *heap);

/* Gives back a block that tpi_futmem_alloc() returned with *heap false.
 * Any thread, not necessarily the one that allocated it. */
void tpi_futmem_free(void *block);

/* A pool was created / destroyed.  The last destroy gives the calling
 * thread's cache back and the memory to the system if no block is out. */
void tpi_futmem_pool_up(void);
void tpi_futmem_pool_down(void);

/* Gives this thread's cached blocks back to the shared store (a worker
 * that leaves; also run at any thread's exit). */
void tpi_futmem_thread_flush(void);

#endif
