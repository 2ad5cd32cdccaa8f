/*
 * error.h - the library's one mapping from a system error number to a
 * TP_E* code (internal; the codes themselves are in tpool.h).
 */
#ifndef TPI_ERROR_H
#define TPI_ERROR_H

/* ENOMEM gives TP_ENOMEM; any other failure of a pthread or system call
 * that creates something (a thread, a mutex, a condition variable) gives
 * TP_EAGAIN: the resource is short, trying later may work. */
int tpi_errno_to_tp(int err);

#endif
