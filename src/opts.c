/*
 * opts.c - the option structs' defaults, and reading a caller's struct
 * whatever layout it was compiled with (tpool.h, "Option structs that
 * grow").
 *
 * The caller says how many bytes its struct has (`size`, written by the
 * inline init functions from the caller's own sizeof).  Reading copies the
 * bytes both sides know over the library's defaults: fields a smaller,
 * older layout lacks keep their defaults.  Bytes of a larger, newer layout
 * beyond the library's must all be zero (the defaults of fields this
 * library does not know); a nonzero one is an option the caller asked for
 * and would not get, so the call fails rather than ignoring it.  Writing
 * (the init functions) never goes past the caller's size.
 */
#include <string.h>

#include "opts.h"

/* No option struct will grow past this; a larger size is garbage (a struct
 * never initialised), and reading that far could leave the caller's memory. */
#define TPI_OPTS_MAX_SIZE 1024u

/* The caller's size of a struct whose first field is its size_t size:
 * 0 (zeroed by hand) stands for the first layout; 0 when it is invalid. */
static size_t size_of(const void *caller, size_t v1)
{
    size_t size;
    memcpy(&size, caller, sizeof size);
    if (size == 0)
        return v1;
    return size < v1 || size > TPI_OPTS_MAX_SIZE ? 0 : size;
}

/* Copies the caller's struct of `size` bytes over `dst`, which holds the
 * library's defaults in `known` bytes.  Returns TP_EINVAL if a byte beyond
 * `known` is nonzero. */
static int read_struct(void *dst, size_t known, const void *caller,
                       size_t size)
{
    const unsigned char *c = caller;
    for (size_t i = known; i < size; i++)
        if (c[i] != 0)
            return TP_EINVAL;
    /* Keep the library's size in dst: later code reads it as its own. */
    size_t own;
    memcpy(&own, dst, sizeof own);
    memcpy(dst, caller, size < known ? size : known);
    memcpy(dst, &own, sizeof own);
    return 0;
}

/* Writes the defaults in `def` (the library's layout, `known` bytes) to a
 * caller's struct of `size` bytes, zeroing what the library does not know. */
static void write_struct(void *caller, size_t size, const void *def,
                         size_t known)
{
    size_t n = size < known ? size : known;
    memcpy(caller, def, n);
    memset((unsigned char *)caller + n, 0, size - n);
    memcpy(caller, &size, sizeof size);
}

static void options_defaults(tp_options *o)
{
    memset(o, 0, sizeof *o);
    o->size = sizeof *o;
    o->name = "tpool";
    o->on_full = TP_FULL_BLOCK;
    o->submit_timeout_ms = -1;
}

static void task_opts_defaults(tp_task_opts *o)
{
    memset(o, 0, sizeof *o);
    o->size = sizeof *o;
    o->priority = TP_PRIORITY_NORMAL;
    o->start_deadline_ms = -1;
}

int tp_options_init_size(tp_options *opts, size_t size)
{
    if (opts == NULL || size < TP_OPTIONS_SIZE_V1 || size > TPI_OPTS_MAX_SIZE)
        return TP_EINVAL;
    tp_options d;
    options_defaults(&d);
    write_struct(opts, size, &d, sizeof d);
    return 0;
}

int tp_task_opts_init_size(tp_task_opts *opts, size_t size)
{
    if (opts == NULL || size < TP_TASK_OPTS_SIZE_V1 ||
        size > TPI_OPTS_MAX_SIZE)
        return TP_EINVAL;
    tp_task_opts d;
    task_opts_defaults(&d);
    write_struct(opts, size, &d, sizeof d);
    return 0;
}

int tpi_options_read(const tp_options *in, tp_options *out)
{
    options_defaults(out);
    if (in == NULL)
        return 0;
    size_t size = size_of(in, TP_OPTIONS_SIZE_V1);
    if (size == 0)
        return TP_EINVAL;
    return read_struct(out, sizeof *out, in, size);
}

int tpi_task_opts_read(const tp_task_opts *in, tp_task_opts *out)
{
    task_opts_defaults(out);
    if (in == NULL)
        return 0;
    size_t size = size_of(in, TP_TASK_OPTS_SIZE_V1);
    if (size == 0)
        return TP_EINVAL;
    return read_struct(out, sizeof *out, in, size);
}
