/*
 * example.h - the three checks every example uses.
 *
 * Each example is also a smoke test: it checks its own results and ends the
 * process with status 1 at the first wrong one, so `make test` notices.
 * The checks are plain code, never compiled out (unlike assert()).
 *
 *   EXPECT(cond)      cond must hold
 *   EXPECT_PT(call)   a pthread call must return 0 (pthreads return an errno
 *                     value instead of setting errno)
 *   EXPECT_TP(call)   a tpool call must return 0 (tpool returns a negative
 *                     TP_E* code); only where tpool.h is included first
 */
#ifndef TP_EXAMPLE_H
#define TP_EXAMPLE_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EXPECT(cond)                                                           \
    do {                                                                       \
        if (!(cond)) {                                                         \
            fprintf(stderr, "%s:%d: expected: %s\n", __FILE__, __LINE__,       \
                    #cond);                                                    \
            exit(1);                                                           \
        }                                                                      \
    } while (0)

#define EXPECT_PT(call)                                                        \
    do {                                                                       \
        int expect_rc_ = (call);                                               \
        if (expect_rc_ != 0) {                                                 \
            fprintf(stderr, "%s:%d: %s failed: %s\n", __FILE__, __LINE__,      \
                    #call, strerror(expect_rc_));                              \
            exit(1);                                                           \
        }                                                                      \
    } while (0)

#ifdef TPOOL_H
#define EXPECT_TP(call)                                                        \
    do {                                                                       \
        int expect_rc_ = (call);                                               \
        if (expect_rc_ != 0) {                                                 \
            fprintf(stderr, "%s:%d: %s failed: %s (%s)\n", __FILE__,           \
                    __LINE__, #call, tp_err_name(expect_rc_),                  \
                    tp_strerror(expect_rc_));                                  \
            exit(1);                                                           \
        }                                                                      \
    } while (0)
#endif

#endif /* TP_EXAMPLE_H */
