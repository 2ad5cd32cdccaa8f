/*
 * headers.c - compiled and linked by the headers_* tests as C11 and as C++,
 * with warnings as errors and only include/ on the include path: each public
 * header must stand alone (include nothing of the project outside include/)
 * in both languages, and from C++ its functions must have C linkage (the
 * link against the C library fails otherwise).
 *
 * TPOOL_QUEUE_FIRST includes tpool_queue.h instead of tpool.h, to check that
 * either header can come first.
 */
#ifdef TPOOL_QUEUE_FIRST
#include "tpool_queue.h"
#else
#include "tpool.h"
#endif

#ifdef __cplusplus
#define HEADERS_STATIC_ASSERT static_assert
#else
#define HEADERS_STATIC_ASSERT _Static_assert
#endif

HEADERS_STATIC_ASSERT(TP_VERSION_HEX == ((TP_VERSION_MAJOR << 16) |
                                         (TP_VERSION_MINOR << 8) |
                                         TP_VERSION_PATCH),
                      "TP_VERSION_HEX disagrees with its parts");
HEADERS_STATIC_ASSERT(TP_EINVAL < 0 && TP_EFAILED < 0,
                      "error codes are negative");

int main(void)
{
    tp_options opts;
    tp_queue_stats qs;
    int bad = 0;

    /* One call from each part of the API, so that each name must resolve. */
    bad |= tp_version() != TP_VERSION_HEX;
    bad |= tp_options_init(&opts) != 0;
    bad |= tp_pool_size(NULL) != 0;
    bad |= tp_future_state(NULL) != TP_PENDING;
    bad |= tp_queue_stats_get(NULL, &qs) != TP_EINVAL;
    bad |= tp_strerror(TP_EFULL) == NULL;
    return bad;
}
