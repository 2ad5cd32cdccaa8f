/*
 * error.c - error messages and names, generated from the one table in
 * tpool.h (TP_ERRNO_MAP) so that they cannot drift apart; and the version.
 */
#include "error.h"

#include <errno.h>

#include "tpool.h"

int tpi_errno_to_tp(int err)
{
    return err == ENOMEM ? TP_ENOMEM : TP_EAGAIN;
}

const char *tp_strerror(int err)
{
    if (err == 0)
        return "success";
    switch (err) {
#define TP_ERR_MSG_(name, value, msg)                                          \
    case TP_##name:                                                            \
        return msg;
        TP_ERRNO_MAP(TP_ERR_MSG_)
#undef TP_ERR_MSG_
    default:
        return "unknown error";
    }
}

const char *tp_err_name(int err)
{
    if (err == 0)
        return "TP_OK";
    switch (err) {
#define TP_ERR_NAME_(name, value, msg)                                         \
    case TP_##name:                                                            \
        return "TP_" #name;
        TP_ERRNO_MAP(TP_ERR_NAME_)
#undef TP_ERR_NAME_
    default:
        return "TP_EUNKNOWN";
    }
}

#define TPI_STR_(x) #x
#define TPI_STR(x) TPI_STR_(x)

unsigned tp_version(void)
{
    return TP_VERSION_HEX;
}

const char *tp_version_string(void)
{
    return TPI_STR(TP_VERSION_MAJOR) "." TPI_STR(TP_VERSION_MINOR) "." TPI_STR(
        TP_VERSION_PATCH);
}
