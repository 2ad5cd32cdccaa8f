/*
 * fork.h - process generations across fork() (internal; see fork.c).
 */
#ifndef TPI_FORK_H
#define TPI_FORK_H

#include <stdatomic.h>

/* Installs the fork handlers (once; tp_pool_create calls it, as only
 * pools need them). */
void tpi_fork_install(void);

/* The current generation: 0 until the first fork after
 * tpi_fork_install(), one more in each child forked since.  One relaxed
 * load: it is read on every submit. */
unsigned tpi_fork_generation(void);

#endif
