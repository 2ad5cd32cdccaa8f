/*
 * error.c - messages and names of the module's error codes, generated from
 * the one table in tpool_redis.h; tpool's own codes fall through to
 * tp_strerror() and tp_err_name().
 */
#include "tpool_redis.h"

const char *tp_redis_strerror(int err)
{
    switch (err) {
#define TP_REDIS_MSG_(name, value, msg)                                        \
    case TP_REDIS_##name:                                                      \
        return msg;
        TP_REDIS_ERRNO_MAP(TP_REDIS_MSG_)
#undef TP_REDIS_MSG_
    default:
        return tp_strerror(err);
    }
}

const char *tp_redis_err_name(int err)
{
    switch (err) {
#define TP_REDIS_NAME_(name, value, msg)                                       \
    case TP_REDIS_##name:                                                      \
        return "TP_REDIS_" #name;
        TP_REDIS_ERRNO_MAP(TP_REDIS_NAME_)
#undef TP_REDIS_NAME_
    default:
        return tp_err_name(err);
    }
}
