/*
 * main.c - the consumer test's program: uses tpool as a project outside it
 * would, through the installed header alone, and checks that the header and
 * the library it was linked with agree.  Exits 0 if all went well.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <tpool.h>

#define CHECK(rc, what)                                                        \
    do {                                                                       \
        int check_rc_ = (rc);                                                  \
        if (check_rc_ != 0) {                                                  \
            fprintf(stderr, "consumer: %s: %s\n", (what),                      \
                    tp_strerror(check_rc_));                                   \
            return 1;                                                          \
        }                                                                      \
    } while (0)

static void *twice(void *arg)
{
    return (void *)((uintptr_t)arg * 2);
}

int main(void)
{
    char header_version[32];
    snprintf(header_version, sizeof header_version, "%d.%d.%d",
             TP_VERSION_MAJOR, TP_VERSION_MINOR, TP_VERSION_PATCH);
    if (tp_version() != TP_VERSION_HEX ||
        strcmp(tp_version_string(), header_version) != 0) {
        fprintf(stderr, "consumer: header %s, library %s\n", header_version,
                tp_version_string());
        return 1;
    }

    tp_options opts;
    CHECK(tp_options_init(&opts), "tp_options_init");
    opts.threads = 2;
    tp_pool *pool;
    CHECK(tp_pool_create(&pool, &opts), "tp_pool_create");

    tp_future *f;
    void *result = NULL;
    CHECK(tp_submit_future(pool, twice, (void *)(uintptr_t)21, &f),
          "tp_submit_future");
    CHECK(tp_future_get(f, -1, &result), "tp_future_get");
    CHECK(tp_future_release(f), "tp_future_release");
    if ((uintptr_t)result != 42) {
        fprintf(stderr, "consumer: twice(21) gave %lu\n",
                (unsigned long)(uintptr_t)result);
        return 1;
    }
    CHECK(tp_pool_destroy(pool), "tp_pool_destroy");

    tp_queue *q;
    void *item = NULL;
    CHECK(tp_queue_create(&q, TP_QUEUE_FIFO, 4), "tp_queue_create");
    CHECK(tp_queue_put(q, &opts, 0), "tp_queue_put");
    CHECK(tp_queue_get(q, &item, 0), "tp_queue_get");
    CHECK(tp_queue_destroy(q, NULL, NULL), "tp_queue_destroy");
    if (item != &opts) {
        fprintf(stderr, "consumer: the queue lost its item\n");
        return 1;
    }

    printf("consumer: tpool %s works\n", tp_version_string());
    return 0;
}
