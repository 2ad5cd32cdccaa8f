/*
 * redis_internal.h - what the files of the Redis module share (internal).
 *
 * Map of the module
 * -----------------
 *   include/tpool_redis.h  the API and its delivery semantics
 *   conn.c     endpoints (URL parsing), connecting with AUTH and SELECT,
 *              one command at a time, pipelines, backoff, names, clocks
 *   codec.c    the wire format: decoding stream entries and replies,
 *              defensively (everything from Redis is untrusted input)
 *   map.c      a hash map from 64-bit ids to pointers (the client's tasks)
 *   client*.c  the client: life cycle, submit, the sender and receiver
 *              threads (client_internal.h has their map)
 *   worker*.c  the worker: life cycle, jobs, the reader, the writer, the
 *              control thread (worker_internal.h has their map)
 *   error.c    messages and names of the module's codes
 *   worker_main.c, status_main.c   the two programs
 *
 * Wire format (every field value is a byte string)
 * ------------------------------------------------
 *   task entry, XADD NS:q:STREAM:  v "1", id TASKID, fn NAME, p PAYLOAD,
 *                                  r REPLYKEY, dl DEADLINE, ma MAXATTEMPTS
 *     TASKID is CLIENT/N (N the client's future id, decimal), REPLYKEY
 *     NS:r:CLIENT, DEADLINE unix milliseconds (0 or absent: none),
 *     MAXATTEMPTS absent: TPR_DEFAULT_ATTEMPTS.  The client leaves out dl
 *     and ma when they say the default.
 *   reply entry, XADD NS:r:CLIENT: id TASKID, st STATUS, p REPLY, w WORKER
 *     STATUS is 0 (completed) or the non-zero code the future fails with
 *     (TP_ECANCELED: cancelled).
 *   dead letter, XADD NS:dead:      why REASON, st CODE, src STREAM,
 *                                  eid ENTRYID, n DELIVERIES, then the
 *                                  entry's own fields
 *
 * Locks of the module (none of them is ever held while calling into
 * tpool, except where said, nor while doing network I/O):
 *   client mu    -> (nothing)   the task map, the outbox, the replies
 *   worker mu    -> (nothing)   held jobs, the done list, counters
 *   conn fd_mu   a leaf: guards the published socket that stop/destroy
 *                shut down to interrupt a blocking read
 * tpool's own locks are below all of these in tpool's table: futures are
 * settled and cancelled with none of the module's locks held.
 */
#ifndef TPR_REDIS_INTERNAL_H
#define TPR_REDIS_INTERNAL_H

#include <hiredis/hiredis.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tpool_redis.h"

/* ---- endpoints and connections (conn.c) -------------------------------- */

#define TPR_NAME_MAX 64    /* namespace, stream, client, consumer names */
#define TPR_FN_MAX 128     /* task function names */
#define TPR_TASKID_MAX 96  /* CLIENT/N */
#define TPR_KEY_MAX 160    /* NS:r:CLIENT and the like */
#define TPR_MAX_STREAMS 16
#define TPR_MAX_ATTEMPTS 1000
/* An entry without ma: the default of tp_redis_submit_opts. */
#define TPR_DEFAULT_ATTEMPTS 3

typedef struct tpr_endpoint {
    char *host; /* TCP host, or NULL for a unix socket */
    int port;
    char *path; /* unix socket path, or NULL */
    char *user; /* NULL: AUTH with the password alone */
    char *password;
    int db;
    char *ns;
    int connect_timeout_ms;
} tpr_endpoint;

/* Fills *ep from the options (URL, then the explicit overrides).  Returns
 * 0, TP_EINVAL (bad URL or namespace) or TP_ENOMEM; on error *ep holds
 * nothing to free. */
int tpr_endpoint_init(tpr_endpoint *ep, const tp_redis_conn_opts *opts);
void tpr_endpoint_free(tpr_endpoint *ep);

/* Connects, authenticates and selects the database.  cmd_timeout_ms bounds
 * each later command's reply (0: none).  Returns 0 and *out, or
 * TP_REDIS_EDOWN, TP_REDIS_EAUTH, TP_ENOMEM. */
int tpr_connect(const tpr_endpoint *ep, int cmd_timeout_ms, redisContext **out);

/* A connection that another thread may interrupt: the owner publishes the
 * socket under fd_mu, tpr_conn_interrupt() shuts it down (a blocking read
 * on it returns an error at once) and makes every later connect fail until
 * tpr_conn_close(). */
typedef struct tpr_conn {
    redisContext *ctx;
    pthread_mutex_t fd_mu;
    int fd;           /* under fd_mu: -1 when none */
    bool interrupted; /* under fd_mu */
} tpr_conn;

int tpr_conn_init(tpr_conn *c);
void tpr_conn_destroy(tpr_conn *c);
/* (Re)connects c if it has no context: 0 or as tpr_connect(), and
 * TP_ESHUTDOWN once interrupted. */
int tpr_conn_ensure(tpr_conn *c, const tpr_endpoint *ep, int cmd_timeout_ms);
/* Drops the context (after an I/O error, or at the end). */
void tpr_conn_close(tpr_conn *c);
void tpr_conn_interrupt(tpr_conn *c);

/* Runs one command.  Returns 0 with *reply set (which may be an error
 * reply: see tpr_is_error()), or TP_REDIS_EDOWN after an I/O error (the
 * connection is closed).  The caller frees *reply with freeReplyObject(). */
int tpr_command(tpr_conn *c, int argc, const char **argv, const size_t *lens,
                redisReply **reply);
/* Appends a command to the pipeline; tpr_get_reply() reads the replies in
 * order.  Both return 0 or TP_REDIS_EDOWN (the connection is closed). */
int tpr_append(tpr_conn *c, int argc, const char **argv, const size_t *lens);
int tpr_get_reply(tpr_conn *c, redisReply **reply);

bool tpr_is_error(const redisReply *r);
/* An error reply starting with `prefix` (e.g. "BUSYGROUP"). */
bool tpr_error_is(const redisReply *r, const char *prefix);

/* XGROUP CREATE key group 0 MKSTREAM; an existing group is fine.  Returns
 * 0, TP_REDIS_EDOWN or TP_REDIS_ESERVER. */
int tpr_ensure_group(tpr_conn *c, const char *key, const char *group);

/* Backoff between reconnects: 100 ms doubling to 5 s. */
int64_t tpr_backoff_next(int64_t prev_ms);

/* A name of 1..max bytes of [A-Za-z0-9_.-], and `extra` characters. */
bool tpr_name_ok(const char *s, size_t max, const char *extra);
/* HOST-PID-RANDOM into buf (TPR_NAME_MAX + 1 bytes). */
void tpr_default_name(char *buf, size_t size);

/* Writing to a socket whose peer has gone raises SIGPIPE, which would
 * kill the process; the module must not, and must not change the
 * process's signal dispositions either.  So every thread that does I/O
 * blocks SIGPIPE while it does (a write then fails with EPIPE instead):
 * the module's own threads for their whole life, a caller's thread for the
 * duration of the call.  tpr_sigpipe_restore() discards a SIGPIPE raised
 * meanwhile before restoring the caller's mask. */
typedef struct tpr_sigpipe {
    sigset_t old;
    bool was_pending;
} tpr_sigpipe;
void tpr_sigpipe_block(tpr_sigpipe *s);
void tpr_sigpipe_restore(const tpr_sigpipe *s);

int64_t tpr_wall_ms(void); /* CLOCK_REALTIME */
int64_t tpr_mono_ms(void); /* CLOCK_MONOTONIC */
/* Absolute CLOCK_MONOTONIC timespec ms from now, for timed waits on
 * condition variables made by tpr_cond_init(). */
void tpr_deadline_ts(int64_t ms_from_now, struct timespec *ts);
int tpr_cond_init(pthread_cond_t *cv);

char *tpr_strdup(const char *s);
/* Allocated "a" "b" "c" (any may be ""), or NULL. */
char *tpr_concat3(const char *a, const char *b, const char *c);

/* The client's script that takes a written task back (client_expire.c
 * says what it does; the tests run it directly). */
extern const char tpr_retract_lua[];

/* ---- the wire format (codec.c) ----------------------------------------- */

/* A byte string inside a redisReply (not NUL-terminated in general). */
typedef struct tpr_bytes {
    const char *p;
    size_t n;
} tpr_bytes;

/* A decoded task entry; every field points into the reply it came from. */
typedef struct tpr_task {
    tpr_bytes entry_id; /* the stream entry's id */
    tpr_bytes id;       /* TASKID, empty if missing or invalid */
    tpr_bytes fn;
    tpr_bytes payload;
    tpr_bytes reply_key; /* empty if missing or invalid */
    int64_t deadline_ms; /* 0: none */
    unsigned max_attempts;
    const redisReply *field_array; /* the entry's flat field list */
} tpr_task;

/* Splits one element of an XREADGROUP/XCLAIM/XAUTOCLAIM entry list into
 * its id and its field array.  Returns 0, or TP_REDIS_EPROTO when it is
 * not [id, [fields...]] (a deleted entry's fields are NIL: EPROTO with
 * *id set when the id is readable). */
int tpr_entry_split(const redisReply *entry, tpr_bytes *id,
                    const redisReply **fields);

/* Decodes a task entry's field array.  Returns 0, or TP_REDIS_EPROTO /
 * TP_REDIS_ETOOBIG with *why a static reason; the id and reply key are
 * filled in whenever they are valid, even on error, so that the caller can
 * reply.  The reply key must be NS:r:NAME. */
int tpr_task_decode(const redisReply *fields, const char *ns,
                    size_t max_payload, tpr_task *t, const char **why);

/* A decoded reply entry. */
typedef struct tpr_reply_msg {
    tpr_bytes id;
    int status;
    tpr_bytes payload;
} tpr_reply_msg;

/* Decodes a reply entry's field array: 0 or TP_REDIS_EPROTO. */
int tpr_reply_decode(const redisReply *fields, tpr_reply_msg *m);

/* Parses CLIENT/N of a task id: N if the client part equals `client`,
 * else 0. */
uint64_t tpr_task_seq(tpr_bytes id, const char *client);

/* A decimal int64 of exactly n bytes: 0 and *v, or -1. */
int tpr_parse_i64(const char *p, size_t n, int64_t *v);

/* ---- a map from ids to pointers (map.c) -------------------------------- */

typedef struct tpr_map {
    uint64_t *keys; /* 0: empty slot */
    void **vals;
    size_t cap; /* a power of two, or 0 */
    size_t n;
} tpr_map;

void tpr_map_init(tpr_map *m);
void tpr_map_free(tpr_map *m);
/* 0 or TP_ENOMEM; key must be non-zero and not present. */
int tpr_map_put(tpr_map *m, uint64_t key, void *val);
void *tpr_map_get(const tpr_map *m, uint64_t key);
/* Removes and returns the value, or NULL. */
void *tpr_map_take(tpr_map *m, uint64_t key);
/* Removes and returns any one value, or NULL when empty. */
void *tpr_map_pop_any(tpr_map *m);

/* A Lua function for the module's scripts: whether stream id a comes
 * before stream id b ("ms-seq", compared as numbers of any length). */
#define TPR_LUA_OLDER \
    "local function older(a, b)\n" \
    "  local am, as = string.match(a, '^(%d+)-(%d+)$')\n" \
    "  local bm, bs = string.match(b, '^(%d+)-(%d+)$')\n" \
    "  if not am or not bm then return false end\n" \
    "  if #am ~= #bm then return #am < #bm end\n" \
    "  if am ~= bm then return am < bm end\n" \
    "  if #as ~= #bs then return #as < #bs end\n" \
    "  return as < bs\n" \
    "end\n"

#endif /* TPR_REDIS_INTERNAL_H */
