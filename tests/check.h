/*
 * check.h - the test suite's assertions and runner.
 *
 * A test file defines its cases with TEST(name) and lists them once in
 * TEST_LIST; main() runs them all, or only those named on the command line.
 * Assertions are never compiled out and report file, line and the failed
 * expression; the first failure ends the process with status 1, so CTest
 * sees it.  Time limits are CTest's (each test executable has a TIMEOUT).
 */
#ifndef TP_TEST_CHECK_H
#define TP_TEST_CHECK_H

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHECK(cond)                                                            \
    do {                                                                       \
        if (!(cond)) {                                                         \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__,   \
                    #cond);                                                    \
            exit(1);                                                           \
        }                                                                      \
    } while (0)

#define CHECK_EQ(a, b)                                                         \
    do {                                                                       \
        long long check_a_ = (long long)(a), check_b_ = (long long)(b);        \
        if (check_a_ != check_b_) {                                            \
            fprintf(stderr, "%s:%d: CHECK_EQ failed: %s == %s (%lld != %lld)\n", \
                    __FILE__, __LINE__, #a, #b, check_a_, check_b_);           \
            exit(1);                                                           \
        }                                                                      \
    } while (0)

/* CHECK_OK(call): the call must return 0; otherwise print its error name. */
#define CHECK_OK(call)                                                         \
    do {                                                                       \
        int check_rc_ = (call);                                                \
        if (check_rc_ != 0) {                                                  \
            fprintf(stderr, "%s:%d: %s returned %d (%s)\n", __FILE__,          \
                    __LINE__, #call, check_rc_, tp_err_name(check_rc_));       \
            exit(1);                                                           \
        }                                                                      \
    } while (0)

typedef struct test_case {
    const char *name;
    void (*fn)(void);
} test_case;

#define TEST(name) static void test_##name(void)
#define TEST_ENTRY(name) {#name, test_##name},

/* Each test file ends with:  TEST_MAIN(TEST_ENTRY(a) TEST_ENTRY(b) ...) */
#define TEST_MAIN(entries)                                                     \
    int main(int argc, char **argv)                                            \
    {                                                                          \
        static const test_case cases[] = {entries};                            \
        size_t n = sizeof cases / sizeof cases[0], ran = 0;                    \
        for (size_t i = 0; i < n; i++) {                                       \
            int want = argc < 2;                                               \
            for (int a = 1; a < argc; a++)                                     \
                want |= strcmp(argv[a], cases[i].name) == 0;                   \
            if (!want)                                                         \
                continue;                                                      \
            cases[i].fn();                                                     \
            ran++;                                                             \
            printf("ok %zu - %s\n", ran, cases[i].name);                       \
            fflush(stdout);                                                    \
        }                                                                      \
        if (ran == 0) {                                                        \
            fprintf(stderr, "no test matched\n");                              \
            return 1;                                                          \
        }                                                                      \
        printf("%zu passed, 0 failed\n", ran);                                 \
        return 0;                                                              \
    }

#endif
