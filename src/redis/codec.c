/*
 * codec.c - the wire format (see redis_internal.h), decoded defensively.
 *
 * Everything read from Redis is untrusted: anyone who can write to the
 * server can append any entry to a task stream.  So every function here
 * checks every type, count and length before it looks at a byte, never
 * copies (the results point into the hiredis reply, which the caller keeps
 * alive), and says why it refused an entry, so that the worker can put the
 * reason in the dead-letter stream.  fuzz/fuzz_redis_entry.c feeds these
 * functions arbitrary replies.
 */
#include "redis_internal.h"

#include <string.h>

static bool is_str(const redisReply *r)
{
    return r && (r->type == REDIS_REPLY_STRING ||
                 r->type == REDIS_REPLY_STATUS) &&
           (r->str || r->len == 0);
}

static bool bytes_eq(tpr_bytes b, const char *s)
{
    size_t n = strlen(s);
    return b.n == n && (n == 0 || memcmp(b.p, s, n) == 0);
}

static bool has_nul(tpr_bytes b)
{
    return b.n > 0 && memchr(b.p, 0, b.n) != NULL;
}

static bool bytes_name_ok(tpr_bytes b, size_t max, const char *extra)
{
    if (b.n == 0 || b.n > max)
        return false;
    for (size_t i = 0; i < b.n; i++) {
        unsigned char ch = (unsigned char)b.p[i];
        bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                  (ch >= '0' && ch <= '9') || ch == '_' || ch == '-' ||
                  ch == '.' || (extra && ch != 0 && strchr(extra, ch));
        if (!ok)
            return false;
    }
    return true;
}

int tpr_entry_split(const redisReply *entry, tpr_bytes *id,
                    const redisReply **fields)
{
    id->p = NULL;
    id->n = 0;
    *fields = NULL;
    if (!entry || entry->type != REDIS_REPLY_ARRAY || entry->elements != 2 ||
        !entry->element)
        return TP_REDIS_EPROTO;
    const redisReply *e0 = entry->element[0], *e1 = entry->element[1];
    if (!is_str(e0) || e0->len == 0 || e0->len > 64)
        return TP_REDIS_EPROTO;
    id->p = e0->str;
    id->n = e0->len;
    if (!e1 || e1->type != REDIS_REPLY_ARRAY ||
        (e1->elements > 0 && !e1->element))
        return TP_REDIS_EPROTO;
    *fields = e1;
    return 0;
}

/* Calls fn(name, value) for each pair; EPROTO unless a flat list of
 * strings of even length. */
static int check_pairs(const redisReply *fields)
{
    if (!fields || fields->type != REDIS_REPLY_ARRAY ||
        fields->elements % 2 != 0 || (fields->elements && !fields->element))
        return TP_REDIS_EPROTO;
    for (size_t i = 0; i < fields->elements; i++)
        if (!is_str(fields->element[i]))
            return TP_REDIS_EPROTO;
    return 0;
}

static tpr_bytes bytes_of(const redisReply *r)
{
    tpr_bytes b = {r->str, r->len};
    return b;
}

/* The reply key must be NS:r:NAME: a hostile entry must not make a worker
 * write to any other key. */
static bool reply_key_ok(tpr_bytes k, const char *ns)
{
    size_t nsl = strlen(ns);
    if (k.n <= nsl + 3 || k.n > TPR_KEY_MAX)
        return false;
    if (memcmp(k.p, ns, nsl) != 0 || memcmp(k.p + nsl, ":r:", 3) != 0)
        return false;
    tpr_bytes name = {k.p + nsl + 3, k.n - nsl - 3};
    return bytes_name_ok(name, TPR_NAME_MAX, NULL);
}

int tpr_task_decode(const redisReply *fields, const char *ns,
                    size_t max_payload, tpr_task *t, const char **why)
{
    const redisReply *entry_fields = fields;
    tpr_bytes entry_id = t->entry_id;
    memset(t, 0, sizeof *t);
    t->entry_id = entry_id;
    t->field_array = entry_fields;
    *why = NULL;
    if (check_pairs(fields) != 0) {
        *why = "malformed entry: not a list of name and value pairs";
        return TP_REDIS_EPROTO;
    }
    enum { F_V, F_ID, F_FN, F_P, F_R, F_DL, F_MA, F_N };
    static const char *const names[F_N] = {"v", "id", "fn", "p",
                                           "r", "dl", "ma"};
    const redisReply *seen[F_N] = {0};
    bool dup = false;
    for (size_t i = 0; i + 1 < fields->elements; i += 2) {
        tpr_bytes name = bytes_of(fields->element[i]);
        for (int f = 0; f < F_N; f++) {
            if (bytes_eq(name, names[f])) {
                if (seen[f])
                    dup = true;
                seen[f] = fields->element[i + 1];
            }
        }
    }
    /* The id and the reply key first, so that even a refused entry can be
     * answered. */
    if (seen[F_ID]) {
        tpr_bytes id = bytes_of(seen[F_ID]);
        if (bytes_name_ok(id, TPR_TASKID_MAX, "/") && memchr(id.p, '/', id.n))
            t->id = id;
    }
    if (seen[F_R] && reply_key_ok(bytes_of(seen[F_R]), ns))
        t->reply_key = bytes_of(seen[F_R]);
    if (dup) {
        *why = "malformed entry: a field appears twice";
        return TP_REDIS_EPROTO;
    }
    if (!seen[F_V] || !bytes_eq(bytes_of(seen[F_V]), "1")) {
        *why = "unsupported entry version (v is not 1)";
        return TP_REDIS_EPROTO;
    }
    if (t->id.n == 0) {
        *why = "malformed entry: missing or invalid task id";
        return TP_REDIS_EPROTO;
    }
    if (t->reply_key.n == 0) {
        *why = "malformed entry: missing reply key, or not under NS:r:";
        return TP_REDIS_EPROTO;
    }
    if (!seen[F_FN] || seen[F_FN]->len == 0 || seen[F_FN]->len > TPR_FN_MAX ||
        has_nul(bytes_of(seen[F_FN]))) {
        *why = "malformed entry: missing or invalid function name";
        return TP_REDIS_EPROTO;
    }
    t->fn = bytes_of(seen[F_FN]);
    if (seen[F_P])
        t->payload = bytes_of(seen[F_P]);
    int64_t v = 0;
    if (seen[F_DL] && (tpr_parse_i64(seen[F_DL]->str, seen[F_DL]->len, &v) !=
                           0 ||
                       v < 0)) {
        *why = "malformed entry: invalid deadline";
        return TP_REDIS_EPROTO;
    }
    t->deadline_ms = v;
    v = TPR_DEFAULT_ATTEMPTS;
    if (seen[F_MA] &&
        (tpr_parse_i64(seen[F_MA]->str, seen[F_MA]->len, &v) != 0 || v < 1 ||
         v > TPR_MAX_ATTEMPTS)) {
        *why = "malformed entry: invalid max attempts";
        return TP_REDIS_EPROTO;
    }
    t->max_attempts = (unsigned)v;
    if (t->payload.n > max_payload) {
        *why = "payload over the worker's max_payload";
        return TP_REDIS_ETOOBIG;
    }
    return 0;
}

int tpr_reply_decode(const redisReply *fields, tpr_reply_msg *m)
{
    memset(m, 0, sizeof *m);
    if (check_pairs(fields) != 0)
        return TP_REDIS_EPROTO;
    bool have_st = false;
    for (size_t i = 0; i + 1 < fields->elements; i += 2) {
        tpr_bytes name = bytes_of(fields->element[i]);
        tpr_bytes val = bytes_of(fields->element[i + 1]);
        if (bytes_eq(name, "id")) {
            m->id = val;
        } else if (bytes_eq(name, "p")) {
            m->payload = val;
        } else if (bytes_eq(name, "st")) {
            int64_t st;
            if (tpr_parse_i64(val.p, val.n, &st) != 0 || st < INT32_MIN ||
                st > INT32_MAX)
                return TP_REDIS_EPROTO;
            m->status = (int)st;
            have_st = true;
        }
    }
    if (!have_st || m->id.n == 0)
        return TP_REDIS_EPROTO;
    return 0;
}

uint64_t tpr_task_seq(tpr_bytes id, const char *client)
{
    size_t cn = strlen(client);
    if (id.n <= cn + 1 || memcmp(id.p, client, cn) != 0 || id.p[cn] != '/')
        return 0;
    int64_t v;
    if (tpr_parse_i64(id.p + cn + 1, id.n - cn - 1, &v) != 0 || v <= 0)
        return 0;
    return (uint64_t)v;
}
