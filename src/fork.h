/*
 * fork.h - process generations across fork() (internal; see fork.c).
 */
#ifndef TPI_FORK_H
#define TPI_FORK_H

#include <stdatomic.h>

/* The current generation: 0 in the process that first called it, one more
 * in each child forked since.  The first call installs the fork handlers. */
unsigned tpi_fork_generation(void);

#endif
