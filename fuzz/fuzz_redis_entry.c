/*
 * fuzz_redis_entry.c - libFuzzer harness for the Redis module's decoders
 * (src/redis/codec.c): whatever bytes a server, or anyone who can write to
 * it, sends must never crash a worker or a client.
 *
 * The input is RESP, parsed by hiredis's own reader as a worker's reply
 * would be; every reply it yields is decoded as an entry list, as one
 * entry, as a task's fields and as a reply's fields.  Anything the decoders
 * accept must satisfy their contracts (lengths within limits, the reply key
 * under NS:r:).  Built and run by tests/redis/fuzz.sh.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "redis_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void decode_task(const redisReply *fields)
{
    tpr_task t;
    memset(&t, 0, sizeof t);
    const char *why = NULL;
    int rc = tpr_task_decode(fields, "tp", 64, &t, &why);
    if (rc == 0) {
        if (t.payload.n > 64 || t.id.n == 0 || t.fn.n == 0 ||
            t.max_attempts < 1 || t.max_attempts > TPR_MAX_ATTEMPTS)
            abort();
    } else if (!why) {
        abort();
    }
    if (t.reply_key.n && (t.reply_key.n < 6 ||
                          memcmp(t.reply_key.p, "tp:r:", 5) != 0))
        abort();
    tpr_reply_msg m;
    if (tpr_reply_decode(fields, &m) == 0 && m.id.n == 0)
        abort();
    (void)tpr_task_seq(t.id, "c");
}

static void decode(const redisReply *r)
{
    decode_task(r);
    tpr_bytes id;
    const redisReply *fields;
    if (tpr_entry_split(r, &id, &fields) == 0)
        decode_task(fields);
    if (r->type == REDIS_REPLY_ARRAY)
        for (size_t i = 0; i < r->elements; i++)
            if (tpr_entry_split(r->element[i], &id, &fields) == 0)
                decode_task(fields);
}

/* hiredis 0.14's reader allocates whatever an aggregate's header announces
 * ("*255555555"): a hostile *server* can exhaust a client's memory, which
 * tpool_redis.h documents (trust the server).  Inputs announcing more than
 * a million elements or bytes test hiredis, not the decoders: skipped. */
static int announces_huge(const uint8_t *data, size_t size)
{
    for (size_t i = 0; i < size; i++) {
        if (data[i] != '*' && data[i] != '$')
            continue;
        size_t digits = 0;
        while (i + 1 + digits < size && data[i + 1 + digits] >= '0' &&
               data[i + 1 + digits] <= '9')
            digits++;
        if (digits > 6)
            return 1;
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (announces_huge(data, size))
        return 0;
    redisReader *rd = redisReaderCreate();
    if (!rd)
        return 0;
    if (redisReaderFeed(rd, (const char *)data, size) == REDIS_OK) {
        for (int n = 0; n < 16; n++) {
            void *reply = NULL;
            if (redisReaderGetReply(rd, &reply) != REDIS_OK || !reply)
                break;
            decode(reply);
            freeReplyObject(reply);
        }
    }
    redisReaderFree(rd);
    return 0;
}
