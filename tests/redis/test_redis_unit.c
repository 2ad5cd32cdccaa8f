/*
 * test_redis_unit.c - the Redis module's pieces that need no server: URL
 * parsing, the entry and reply decoders (fed replies parsed by hiredis's
 * own reader from RESP text, as they arrive from a server), task ids and
 * the id map.
 */
#include <hiredis/hiredis.h>

#include "check.h"
#include "redis_internal.h"

/* Parses RESP text into a reply (freed by the caller). */
static redisReply *resp(const char *text, size_t n)
{
    redisReader *r = redisReaderCreate();
    CHECK(r != NULL);
    CHECK_EQ(redisReaderFeed(r, text, n), REDIS_OK);
    void *out = NULL;
    CHECK_EQ(redisReaderGetReply(r, &out), REDIS_OK);
    CHECK(out != NULL);
    redisReaderFree(r);
    return out;
}

#define RESP(lit) resp(lit, sizeof(lit) - 1)

TEST(urls)
{
    tp_redis_conn_opts o = {0};
    tpr_endpoint ep;
    CHECK_OK(tpr_endpoint_init(&ep, &o));
    CHECK(strcmp(ep.host, "127.0.0.1") == 0 && ep.port == 6379 && ep.db == 0);
    CHECK(strcmp(ep.ns, "tp") == 0 && !ep.password && !ep.user);
    tpr_endpoint_free(&ep);

    o.url = "redis://alice:p%40ss@db.example:6380/3";
    CHECK_OK(tpr_endpoint_init(&ep, &o));
    CHECK(strcmp(ep.host, "db.example") == 0 && ep.port == 6380 && ep.db == 3);
    CHECK(strcmp(ep.user, "alice") == 0 && strcmp(ep.password, "p@ss") == 0);
    tpr_endpoint_free(&ep);

    o.url = "unix://:pw@/run/redis.sock?db=2";
    CHECK_OK(tpr_endpoint_init(&ep, &o));
    CHECK(!ep.host && strcmp(ep.path, "/run/redis.sock") == 0 && ep.db == 2);
    CHECK(!ep.user && strcmp(ep.password, "pw") == 0);
    tpr_endpoint_free(&ep);

    /* The options override the URL. */
    o.url = "redis://:a@h";
    o.password = "b";
    o.user = "u";
    CHECK_OK(tpr_endpoint_init(&ep, &o));
    CHECK(strcmp(ep.password, "b") == 0 && strcmp(ep.user, "u") == 0);
    tpr_endpoint_free(&ep);
    o.password = o.user = NULL;

    static const char *const bad[] = {
        "http://h",       "redis://",         "redis://h:0",
        "redis://h:70000", "redis://h:12x",   "redis://h/x",
        "redis://user@h", "redis://:@h",      "redis://:%4@h",
        "redis://:%zz@h", "redis://:%00@h",   "unix://",
        "unix://rel/path", "unix:///p?dx=1",  "unix:///p?db=-1"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        o.url = bad[i];
        if (tpr_endpoint_init(&ep, &o) != TP_EINVAL) {
            fprintf(stderr, "accepted %s\n", bad[i]);
            CHECK(0);
        }
    }
    o.url = NULL;
    o.ns = "bad ns";
    CHECK_EQ(tpr_endpoint_init(&ep, &o), TP_EINVAL);
}

TEST(task_entries)
{
    redisReply *r = RESP("*14\r\n$1\r\nv\r\n$1\r\n1\r\n$2\r\nid\r\n$3\r\nc/7\r\n"
                         "$2\r\nfn\r\n$4\r\necho\r\n$1\r\np\r\n$3\r\na\0b\r\n"
                         "$1\r\nr\r\n$6\r\ntp:r:c\r\n$2\r\ndl\r\n$2\r\n12\r\n"
                         "$2\r\nma\r\n$1\r\n5\r\n");
    tpr_task t;
    memset(&t, 0, sizeof t);
    const char *why;
    CHECK_OK(tpr_task_decode(r, "tp", 100, &t, &why));
    CHECK(t.id.n == 3 && memcmp(t.id.p, "c/7", 3) == 0);
    CHECK(t.fn.n == 4 && t.payload.n == 3 && t.payload.p[1] == 0);
    CHECK_EQ(t.deadline_ms, 12);
    CHECK_EQ(t.max_attempts, 5);
    CHECK_EQ(tpr_task_seq(t.id, "c"), 7);
    CHECK_EQ(tpr_task_seq(t.id, "d"), 0);
    /* Over the payload limit: refused, yet answerable. */
    memset(&t, 0, sizeof t);
    CHECK_EQ(tpr_task_decode(r, "tp", 2, &t, &why), TP_REDIS_ETOOBIG);
    CHECK(t.id.n == 3 && t.reply_key.n == 6 && why);
    /* In another namespace the reply key is refused. */
    memset(&t, 0, sizeof t);
    CHECK_EQ(tpr_task_decode(r, "other", 100, &t, &why), TP_REDIS_EPROTO);
    CHECK(t.reply_key.n == 0);
    freeReplyObject(r);

    static const struct {
        const char *text;
        size_t n;
    } bad[] = {
#define B(lit) {lit, sizeof(lit) - 1}
        B(":1\r\n"),
        B("*1\r\n$1\r\nv\r\n"),
        B("*2\r\n$1\r\nv\r\n:1\r\n"),
        B("*2\r\n$1\r\nv\r\n*0\r\n"),
        B("*2\r\n$1\r\nv\r\n$-1\r\n"),
        B("*4\r\n$1\r\nv\r\n$1\r\n1\r\n$1\r\nv\r\n$1\r\n1\r\n"),
        B("*8\r\n$1\r\nv\r\n$1\r\n1\r\n$2\r\nid\r\n$1\r\nc\r\n$2\r\nfn\r\n$1\r\n"
          "f\r\n$1\r\nr\r\n$6\r\ntp:r:c\r\n"),
        B("*8\r\n$1\r\nv\r\n$1\r\n1\r\n$2\r\nid\r\n$3\r\nc/1\r\n$2\r\nfn\r\n$0\r\n"
          "\r\n$1\r\nr\r\n$6\r\ntp:r:c\r\n"),
        B("*10\r\n$1\r\nv\r\n$1\r\n1\r\n$2\r\nid\r\n$3\r\nc/1\r\n$2\r\nfn\r\n$1\r\n"
          "f\r\n$1\r\nr\r\n$6\r\ntp:r:c\r\n$2\r\nma\r\n$4\r\n1001\r\n"),
        B("*10\r\n$1\r\nv\r\n$1\r\n1\r\n$2\r\nid\r\n$3\r\nc/1\r\n$2\r\nfn\r\n$1\r\n"
          "f\r\n$1\r\nr\r\n$6\r\ntp:r:c\r\n$2\r\ndl\r\n$2\r\n1x\r\n"),
        B("*8\r\n$1\r\nv\r\n$1\r\n1\r\n$2\r\nid\r\n$3\r\nc/1\r\n$2\r\nfn\r\n$1\r\n"
          "f\r\n$1\r\nr\r\n$7\r\ntp:r:c/\r\n"),
#undef B
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        r = resp(bad[i].text, bad[i].n);
        memset(&t, 0, sizeof t);
        why = NULL;
        int rc = tpr_task_decode(r, "tp", 100, &t, &why);
        if (rc != TP_REDIS_EPROTO || !why) {
            fprintf(stderr, "bad entry %zu: %d\n", i, rc);
            CHECK(0);
        }
        freeReplyObject(r);
    }
}

TEST(entry_split_and_replies)
{
    redisReply *r = RESP("*2\r\n$3\r\n1-1\r\n*4\r\n$2\r\nid\r\n$3\r\nc/2\r\n"
                         "$2\r\nst\r\n$2\r\n-5\r\n");
    tpr_bytes id;
    const redisReply *fields;
    CHECK_OK(tpr_entry_split(r, &id, &fields));
    CHECK(id.n == 3);
    tpr_reply_msg m;
    CHECK_OK(tpr_reply_decode(fields, &m));
    CHECK_EQ(m.status, -5);
    CHECK_EQ(tpr_task_seq(m.id, "c"), 2);
    freeReplyObject(r);
    /* A deleted entry: its fields are NIL. */
    r = RESP("*2\r\n$3\r\n1-1\r\n$-1\r\n");
    CHECK_EQ(tpr_entry_split(r, &id, &fields), TP_REDIS_EPROTO);
    CHECK(id.n == 3);
    freeReplyObject(r);
    r = RESP("*4\r\n$2\r\nid\r\n$3\r\nc/2\r\n$2\r\nst\r\n$11\r\n99999999999\r\n");
    CHECK_EQ(tpr_reply_decode(r, &m), TP_REDIS_EPROTO);
    freeReplyObject(r);
    r = RESP("*2\r\n$2\r\nid\r\n$3\r\nc/2\r\n");
    CHECK_EQ(tpr_reply_decode(r, &m), TP_REDIS_EPROTO);
    freeReplyObject(r);
    tpr_bytes b = {"c/0", 3};
    CHECK_EQ(tpr_task_seq(b, "c"), 0);
    b.p = "c/-1";
    b.n = 4;
    CHECK_EQ(tpr_task_seq(b, "c"), 0);
}

TEST(id_map)
{
    tpr_map m;
    tpr_map_init(&m);
    enum { N = 5000 };
    static int vals[N];
    for (int i = 0; i < N; i++)
        CHECK_OK(tpr_map_put(&m, (uint64_t)i * 7 + 1, &vals[i]));
    CHECK_EQ(m.n, N);
    for (int i = 0; i < N; i += 2)
        CHECK(tpr_map_take(&m, (uint64_t)i * 7 + 1) == &vals[i]);
    for (int i = 0; i < N; i++)
        CHECK(tpr_map_get(&m, (uint64_t)i * 7 + 1) ==
              (i % 2 ? &vals[i] : NULL));
    CHECK(tpr_map_get(&m, 0) == NULL);
    size_t left = 0;
    while (tpr_map_pop_any(&m))
        left++;
    CHECK_EQ(left, N / 2);
    CHECK_EQ(m.n, 0);
    tpr_map_free(&m);
}

TEST(names_and_numbers)
{
    CHECK(tpr_name_ok("a-b_c.9", 64, NULL));
    CHECK(!tpr_name_ok("", 64, NULL));
    CHECK(!tpr_name_ok("a b", 64, NULL));
    CHECK(!tpr_name_ok("a:b", 64, NULL));
    CHECK(tpr_name_ok("a:b", 64, ":"));
    CHECK(!tpr_name_ok("abc", 2, NULL));
    int64_t v;
    CHECK(tpr_parse_i64("-42", 3, &v) == 0 && v == -42);
    CHECK(tpr_parse_i64("9223372036854775807", 19, &v) == 0);
    CHECK(tpr_parse_i64("9223372036854775808", 19, &v) != 0);
    CHECK(tpr_parse_i64("-", 1, &v) != 0);
    CHECK(tpr_parse_i64("", 0, &v) != 0);
    char name[TPR_NAME_MAX + 1];
    tpr_default_name(name, sizeof name);
    CHECK(tpr_name_ok(name, TPR_NAME_MAX, NULL));
    CHECK_EQ(tpr_backoff_next(0), 100);
    CHECK_EQ(tpr_backoff_next(4000), 5000);
}

TEST_MAIN(TEST_ENTRY(urls) TEST_ENTRY(task_entries)
              TEST_ENTRY(entry_split_and_replies) TEST_ENTRY(id_map)
                  TEST_ENTRY(names_and_numbers))
