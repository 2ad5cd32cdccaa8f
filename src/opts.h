/*
 * opts.h - reading the caller's option structs (opts.c).
 */
#ifndef TPI_OPTS_H
#define TPI_OPTS_H

#include "tpool.h"

/* Fill *out, in the library's layout, from the caller's struct `in` (NULL:
 * the defaults).  TP_EINVAL for a bad in->size or a nonzero field this
 * library does not know; *out then holds the defaults or part of `in`, and
 * must not be used. */
int tpi_options_read(const tp_options *in, tp_options *out);
int tpi_task_opts_read(const tp_task_opts *in, tp_task_opts *out);

#endif
