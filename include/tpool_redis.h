/**
 * @file
 * tpool_redis.h - the same futures across machines, on Redis Streams.
 *
 * An optional module (libtpool_redis, built when hiredis is found) that
 * sends tasks to worker processes on other machines through a Redis server
 * (or Valkey) and gives back an ordinary tp_future for each: waits,
 * waitsets, tp_future_then(), tp_when_all() and tp_when_any() treat local
 * and remote tasks alike.  The core library does not depend on it.
 *
 * A task crosses machines as a *name* and a *payload* of bytes: a worker
 * registers functions by name (tp_redis_worker_register()) and runs only
 * those; a client submits a name and bytes (tp_redis_submit()) and gets
 * the reply bytes back as the future's result (a tp_redis_reply).
 *
 * Keys (NS is the namespace, tp_redis_conn_opts.ns, default "tp")
 * ----------------------------------------------------------------
 *   NS:q:STREAM     a task stream (STREAM "default" unless a submit names
 *                   another); consumer group "NS" reads it.  It holds the
 *                   tasks not read yet, those held by workers, and done
 *                   ones until the next trim (at most 256
 *                   acknowledgements or a heartbeat later; a task held
 *                   long keeps the done ones after it until it is done,
 *                   and past 10,000 of those each is deleted as it is
 *                   acknowledged)
 *   NS:r:CLIENT     the reply stream of one client (expires when unused)
 *   NS:dead         the dead-letter stream: tasks that will not run, with
 *                   the reason ("why"), the number of deliveries, the
 *                   original fields
 *   NS:x:TASKID     a cancel marker (expires by itself)
 *
 * Delivery semantics
 * ------------------
 * - *At-least-once execution.*  A task that Redis has accepted runs at
 *   least once, unless it is cancelled, expires or is dead-lettered first.
 *   It may run more than once: when a worker dies or stops answering
 *   (SIGSTOP, a network partition) while it holds the task, another worker
 *   takes the task over once it has been idle for reclaim_idle_ms, and the
 *   first worker may still finish it.  Task functions must therefore be
 *   idempotent, or tolerate a repeat.
 * - *Exactly-once settlement.*  Each future settles once.  The first reply
 *   that reaches the client settles it; later replies for the same task id
 *   (a repeat after a reclaim) are dropped and counted
 *   (tp_redis_client_stats.replies_dropped).
 * - *Poison tasks.*  A task delivered more than max_attempts times (each
 *   delivery ended by a crash or a reclaim) goes to the dead-letter stream
 *   instead of running again, and its future fails with TP_REDIS_EDEAD.
 *   A task naming a function the worker does not have, or that cannot be
 *   decoded, or whose payload is over the worker's limit, is dead-lettered
 *   at once (TP_REDIS_ENOFUNC, TP_REDIS_EPROTO, TP_REDIS_ETOOBIG).
 * - *Acknowledge and reply together.*  A worker acknowledges a task and
 *   appends its reply in one MULTI/EXEC transaction (shared by every task
 *   that finished since its last write): a task is never acknowledged
 *   without its reply, nor replied to and left pending.  Workers trim
 *   from each task stream the entries every worker is done with (those
 *   before the group's oldest pending one), never one that is unread or
 *   held.
 * - *Redis down.*  Every connection reconnects by itself, with exponential
 *   backoff (100 ms doubling to 5 s).  A client keeps every accepted submit
 *   in memory until Redis has confirmed writing it, and sends it again after
 *   a reconnect (a submit whose confirmation was lost may so be written
 *   twice: it then runs twice and settles once).  While the client is
 *   disconnected, a submit either queues (TP_REDIS_DOWN_QUEUE, the default,
 *   up to max_queued submits, then TP_EFULL) or fails at once with
 *   TP_REDIS_EDOWN (TP_REDIS_DOWN_FAIL), as the caller chose.  A worker
 *   keeps its finished results until their transaction succeeds.  Nothing
 *   accepted is dropped silently: it is written, or its future fails.
 *   What Redis itself keeps across its own restart depends on its
 *   persistence settings (appendonly yes keeps every accepted task).
 * - *Client restart.*  Futures live in the client process and die with it.
 *   Tasks it submitted still run; their replies go to its reply stream,
 *   which expires reply_ttl_ms after the last reply.  A client created
 *   again with the same client_id reads what is in that stream and drops
 *   replies for tasks it does not know (replies_dropped).
 * - *Cancellation.*  tp_future_cancel() on a remote future settles it
 *   CANCELLED at once (it is a promise: tp_promise_create()).  A task not
 *   yet written to Redis is then not written; a written one that no worker
 *   has read yet is deleted from its stream (atomically: a worker either
 *   read it first or never will); one a worker has read (it starts at
 *   once: a worker reads only what it has free threads for) sees
 *   tp_task_stop_requested() turn true within heartbeat_ms, through a
 *   cancel marker the client leaves in Redis.  Whatever it replies is
 *   dropped.
 * - *Start deadlines*, as in a local pool: a task that has not started
 *   when its start deadline passes is not run, and its future settles
 *   CANCELLED with tp_future_error() == TP_EEXPIRED.  The client settles
 *   it itself when no worker has read the task by then (with no worker
 *   running, or Redis unreachable, too), deleting the entry so that no
 *   worker reads it later; a worker that reads it, or picks it up from its
 *   pool's queue, after the deadline does not run it and replies so.  The
 *   worker's check compares wall clocks (CLOCK_REALTIME) of the client and
 *   the worker machines: keep them synchronised (NTP), and give deadlines
 *   of seconds rather than milliseconds.  One case settles by the client's
 *   clock alone: a task whose write was not confirmed (the connection was
 *   lost meanwhile) and whose deadline passes before it is written again;
 *   if the lost write had in fact reached Redis and a worker started that
 *   copy in time, its reply is dropped.
 *
 * Security
 * --------
 * - AUTH: a password, or an ACL user and password (Redis 6 and later),
 *   from the URL or from the options.
 * - A worker runs only functions registered by name; an entry naming any
 *   other is dead-lettered with the reason "unknown function".
 * - A worker writes replies only to keys under NS:r: (an entry asking for
 *   any other reply key is dead-lettered), and limits payloads and replies
 *   (max_payload, max_reply); entries are decoded defensively: a malformed
 *   or hostile entry is dead-lettered, never run, never a crash.
 * - What it does not protect against: a hostile Redis *server* (hiredis
 *   0.14 allocates whatever a reply's header announces, so a server can
 *   exhaust a client's or a worker's memory); anyone who can write to
 *   the Redis server can submit tasks, read payloads and replies, forge
 *   replies and delete streams.  Protect the server with ACLs (a user limited to the
 *   NS:* keys and the stream, list and string commands used here) and a
 *   private network.  hiredis 0.14 has no TLS: across untrusted networks run
 *   Redis behind a TLS tunnel (stunnel, spiped, an SSH tunnel or a service
 *   mesh sidecar) and point the URL at the tunnel's local end.
 *
 * Threads: a client has two threads of its own (one sends, one receives
 * replies and settles futures: done-callbacks and continuations of remote
 * futures run there); a worker has a reader (the thread that calls
 * tp_redis_worker_serve(): it reads tasks, and writes the replies of those
 * that finished while it waited for a free thread in front of its next
 * read), a control thread (the other replies, heartbeats) and a local
 * tp_pool that runs the tasks.
 */
#ifndef TPOOL_REDIS_H
#define TPOOL_REDIS_H

#include <stddef.h>
#include <stdint.h>

#include "tpool.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------------ */
/* Errors                                                                   */
/* ------------------------------------------------------------------------ */

/** The module's own error codes (name, value, message), in addition to
 * tpool's TP_E* codes.  Functions of this header return 0 or one of either
 * set; tp_redis_strerror() and tp_redis_err_name() describe both. */
#define TP_REDIS_ERRNO_MAP(XX)                                                 \
    XX(EDOWN, -4101, "Redis is unreachable (connection refused or lost)")      \
    XX(EAUTH, -4102, "Redis refused the credentials (AUTH, SELECT)")           \
    XX(EPROTO, -4103, "malformed stream entry or unexpected Redis reply")      \
    XX(ENOFUNC, -4104, "the worker has no task function of that name")        \
    XX(EDEAD, -4105, "delivered too many times: moved to the dead letters")    \
    XX(ETOOBIG, -4106, "payload or reply over the size limit")                 \
    XX(ESERVER, -4107, "Redis answered with an error")

/** The codes, one per row of TP_REDIS_ERRNO_MAP: TP_REDIS_EDOWN, ... */
enum tp_redis_errno {
#define TP_REDIS_ERR_ENUM_(name, value, msg) TP_REDIS_##name = (value),
    TP_REDIS_ERRNO_MAP(TP_REDIS_ERR_ENUM_)
#undef TP_REDIS_ERR_ENUM_
};

/**@{*/
/** A message and a symbolic name for a code of this module or of tpool
 * (others as tp_strerror() and tp_err_name()).  Static storage.
 * Thread-safe. */
TP_EXTERN const char *tp_redis_strerror(int err);
TP_EXTERN const char *tp_redis_err_name(int err);
/**@}*/

/* ------------------------------------------------------------------------ */
/* Connection                                                               */
/* ------------------------------------------------------------------------ */

/** Where the Redis server is and how to log in; part of both option
 * structs.  Strings are copied by the create call. */
typedef struct tp_redis_conn_opts {
    /** "redis://[[USER]:PASSWORD@]HOST[:PORT][/DB]" or
     * "unix://[[USER]:PASSWORD@]/PATH[?db=DB]"; USER and PASSWORD may use
     * %XX escapes.  NULL: "redis://127.0.0.1:6379". */
    const char *url;
    const char *user;     /**< overrides the URL's user; NULL: none */
    const char *password; /**< overrides the URL's password; NULL: none */
    /** Prefix of every key (letters, digits, "_-.:", 1 to 64 bytes).
     * NULL: "tp". */
    const char *ns;
    int connect_timeout_ms; /**< per connection attempt; default 2000 */
} tp_redis_conn_opts;

/* ------------------------------------------------------------------------ */
/* Client                                                                   */
/* ------------------------------------------------------------------------ */

/** A client: submits tasks and settles their futures.  Opaque. */
typedef struct tp_redis_client tp_redis_client;

/** What a submit does while the client is disconnected from Redis. */
typedef enum tp_redis_down_policy {
    TP_REDIS_DOWN_QUEUE = 0, /**< accept; send after the reconnect        */
    TP_REDIS_DOWN_FAIL       /**< refuse at once with TP_REDIS_EDOWN       */
} tp_redis_down_policy;

/** Options of tp_redis_client_create(). */
typedef struct tp_redis_client_opts {
    tp_redis_conn_opts conn; /**< where Redis is, how to log in */
    /** This client's name, which names its reply stream (1 to 64 bytes
     * of letters, digits, "_-.").  NULL: HOST-PID-RANDOM, new each time. */
    const char *client_id;
    tp_redis_down_policy on_down; /**< default TP_REDIS_DOWN_QUEUE */
    /** Submits held in memory, not yet confirmed written by Redis, beyond
     * which a submit fails with TP_EFULL.  Default 65536. */
    size_t max_queued;
    size_t max_payload; /**< bytes; larger submits: TP_REDIS_ETOOBIG (1 MiB) */
    /** Replies larger than this settle their future FAILED with
     * TP_REDIS_ETOOBIG.  Default 16 MiB. */
    size_t max_reply;
} tp_redis_client_opts;

/** Fills *opts with the defaults.  Thread-safe.  Errors: TP_EINVAL
 * (NULL). */
TP_EXTERN int tp_redis_client_opts_init(tp_redis_client_opts *opts);

/** Connects to Redis (once, synchronously, so that a wrong address or
 * password shows at once) and starts the client's two threads.  `opts` may
 * be NULL (the defaults); it is only read during the call.  On success *out
 * is the client; destroy it with tp_redis_client_destroy().  Thread-safe.
 * Errors: TP_EINVAL (out NULL, a bad URL, namespace or client_id, a zero
 * limit), TP_REDIS_EDOWN (unreachable), TP_REDIS_EAUTH (credentials or the
 * database number refused), TP_REDIS_ESERVER, TP_ENOMEM, TP_EAGAIN (no
 * thread). */
TP_EXTERN int tp_redis_client_create(tp_redis_client **out,
                                     const tp_redis_client_opts *opts);

/** Stops the client: every future of it still pending fails with
 * TP_ESHUTDOWN (the tasks may still run remotely), submits not yet written
 * to Redis are not written, the threads are joined, and every
 * tp_redis_reply of this client not yet freed is freed.  Must not race with
 * any other call on the client or on its futures' cancellation.  Errors:
 * TP_EINVAL (NULL). */
TP_EXTERN int tp_redis_client_destroy(tp_redis_client *c);

/** Options of one submit. */
typedef struct tp_redis_submit_opts {
    /** The task stream (letters, digits, "_-.", 1 to 64 bytes); workers
     * serving several streams read them in the order they list them, which
     * makes a stream a priority level.  NULL: "default". */
    const char *stream;
    /** The task must start within this many milliseconds (see the
     * semantics above); negative (the default): no deadline. */
    int64_t start_deadline_ms;
    /** Deliveries before the task is dead-lettered (1 to 1000).  Default
     * 3. */
    unsigned max_attempts;
} tp_redis_submit_opts;

/** Fills *opts with the defaults.  Thread-safe.  Errors: TP_EINVAL
 * (NULL). */
TP_EXTERN int tp_redis_submit_opts_init(tp_redis_submit_opts *opts);

/** Submits the task `fn_name` with `len` bytes of `payload` (copied: the
 * caller keeps its buffer) to a worker through Redis; `opts` may be NULL.
 * On success *out holds one reference to a future (release it with
 * tp_future_release()) that settles:
 * - COMPLETED, with a `tp_redis_reply *` as its result (tp_future_get()),
 *   when the task returned 0;
 * - FAILED when it returned another code (tp_future_error() gives it; as
 *   well as TP_REDIS_EDEAD, TP_REDIS_ENOFUNC, TP_REDIS_EPROTO,
 *   TP_REDIS_ETOOBIG from the worker, and TP_ESHUTDOWN from
 *   tp_redis_client_destroy());
 * - CANCELLED when it acknowledged a stop request with TP_ECANCELED, or
 *   was cancelled (tp_future_cancel()), or did not start by its start
 *   deadline (tp_future_error() then says TP_EEXPIRED; so does a task
 *   function's own return of TP_EEXPIRED).
 * The submit returns once the task is queued in the client; it is then
 * written to Redis by the client's sender thread (tp_redis_client_flush()
 * waits for that).  Thread-safe.
 * Errors: TP_EINVAL (c, fn_name, out NULL; payload NULL with len > 0; a
 * name of 0 or more than 128 bytes; bad options), TP_REDIS_ETOOBIG (len
 * over max_payload), TP_EFULL (max_queued submits not yet written),
 * TP_REDIS_EDOWN (disconnected, with TP_REDIS_DOWN_FAIL), TP_ESHUTDOWN
 * (destroy has begun), TP_ENOMEM.  On error nothing was submitted. */
TP_EXTERN int tp_redis_submit(tp_redis_client *c, const char *fn_name,
                              const void *payload, size_t len,
                              const tp_redis_submit_opts *opts,
                              tp_future **out);

/** Waits until every submit accepted so far has been written to Redis
 * (or failed), at most timeout_ms (negative: for ever).  Thread-safe.
 * Errors: TP_EINVAL (NULL), TP_ETIMEDOUT. */
TP_EXTERN int tp_redis_client_flush(tp_redis_client *c, int64_t timeout_ms);

/** 1 if both of the client's connections are up now, else 0 (also for
 * NULL).  Thread-safe. */
TP_EXTERN int tp_redis_client_connected(tp_redis_client *c);

/** Counters of a client (tp_redis_client_stats_get()). */
typedef struct tp_redis_client_stats {
    uint64_t submitted;       /**< accepted by tp_redis_submit()          */
    uint64_t written;         /**< confirmed written by Redis             */
    uint64_t settled;         /**< futures settled by a reply             */
    uint64_t replies_dropped; /**< repeats, and replies to unknown tasks  */
    /** Futures this client settled CANCELLED with TP_EEXPIRED itself: their
     * start deadline passed before any worker had read the task. */
    uint64_t expired;
    uint64_t reconnects;      /**< connections re-established            */
    size_t queued;            /**< accepted, not yet written              */
    size_t pending;           /**< written, future not yet settled        */
} tp_redis_client_stats;

/** Fills *stats.  Thread-safe.  Errors: TP_EINVAL (NULL). */
TP_EXTERN int tp_redis_client_stats_get(tp_redis_client *c,
                                        tp_redis_client_stats *stats);

/** The result of a COMPLETED remote future: the reply bytes.  Opaque. */
typedef struct tp_redis_reply tp_redis_reply;

/** The reply's bytes and their number (*len, if len is not NULL).  The
 * bytes are followed by a NUL that len does not count (handy for text),
 * and stay valid until tp_redis_reply_free().  NULL for a NULL reply.
 * Thread-safe. */
TP_EXTERN const void *tp_redis_reply_data(const tp_redis_reply *r,
                                          size_t *len);

/** Frees a reply.  A reply is the future's result, shared by everyone who
 * reads it: free it once, when no holder of the future uses it any more.
 * A reply never freed is freed by tp_redis_client_destroy(); after that
 * the pointer must not be used at all.  NULL is ignored.  Thread-safe. */
TP_EXTERN void tp_redis_reply_free(tp_redis_reply *r);

/* ------------------------------------------------------------------------ */
/* Worker                                                                   */
/* ------------------------------------------------------------------------ */

/** One run of a task on a worker: its payload in, its reply out.  Valid
 * only during the task function's call.  Opaque. */
typedef struct tp_redis_call tp_redis_call;

/** A task function, run on a thread of the worker's local pool (so
 * tp_task_stop_requested() tells it that the task was cancelled).  Returns
 * 0 (the future COMPLETES with the reply set by tp_redis_call_reply(), or
 * an empty one), TP_ECANCELED to acknowledge a stop request (CANCELLED),
 * or any other non-zero code (FAILED with that code). */
typedef int (*tp_redis_task_fn)(tp_redis_call *call, void *ctx);

/** The payload's bytes (followed by a NUL not counted in *len) and their
 * number, owned by the call: valid during the task function's run only.
 * To be called by that task function, on its thread.  No errors: NULL
 * (and *len 0) for a NULL call. */
TP_EXTERN const void *tp_redis_call_payload(const tp_redis_call *call,
                                            size_t *len);

/** Sets the reply (copied: data stays the caller's; a second call replaces
 * the first).  To be called by the task function, on its thread.
 * Errors: TP_EINVAL (call NULL, data NULL with len > 0), TP_REDIS_ETOOBIG
 * (over the worker's max_reply: the reply is unchanged), TP_ENOMEM. */
TP_EXTERN int tp_redis_call_reply(tp_redis_call *call, const void *data,
                                  size_t len);

/** The task's id ("CLIENT/N", unique per client), owned by the call and
 * valid during the task function's run.  To be called by that function,
 * on its thread.  No errors: NULL for a NULL call. */
TP_EXTERN const char *tp_redis_call_task_id(const tp_redis_call *call);

/** Which delivery of the task this is: 1 the first time, more after a
 * reclaim (a previous worker died or stalled holding it).  To be called
 * by the task function, on its thread.  No errors: 0 for NULL. */
TP_EXTERN unsigned tp_redis_call_attempt(const tp_redis_call *call);

/** A worker: serves task streams with a local pool.  Opaque. */
typedef struct tp_redis_worker tp_redis_worker;

/** Options of tp_redis_worker_create(). */
typedef struct tp_redis_worker_opts {
    tp_redis_conn_opts conn; /**< where Redis is, how to log in */
    /** The streams served, highest priority first (names as
     * tp_redis_submit_opts.stream).  NULL or nstreams 0: {"default"}. */
    const char *const *streams;
    size_t nstreams; /**< at most 16 */
    /** This worker's consumer name in the group (1 to 64 bytes of letters,
     * digits, "_-.").  NULL: HOST-PID-RANDOM. */
    const char *consumer;
    unsigned threads; /**< tasks run at once; 0 (default): online CPUs */
    /** A task held this long by a consumer that does not heartbeat it is
     * taken over by another worker.  Default 30000 (at least 50). */
    int64_t reclaim_idle_ms;
    /** How often held tasks are heartbeated, cancel markers looked up and
     * (after acknowledgements) the task streams trimmed; 0 (default):
     * reclaim_idle_ms / 3.  Must be below reclaim_idle_ms. */
    int64_t heartbeat_ms;
    size_t max_payload;  /**< larger tasks are dead-lettered; 1 MiB     */
    size_t max_reply;    /**< tp_redis_call_reply() limit; 1 MiB        */
    int64_t reply_ttl_ms; /**< a reply stream expires after; 86400000   */
    /** At tp_redis_worker_stop(), how long the running tasks and their
     * replies may take; what is left stays pending in Redis, for another
     * worker.  Default 10000; negative: for ever. */
    int64_t drain_ms;
} tp_redis_worker_opts;

/** Fills *opts with the defaults.  Thread-safe.  Errors: TP_EINVAL
 * (NULL). */
TP_EXTERN int tp_redis_worker_opts_init(tp_redis_worker_opts *opts);

/** Creates a worker (no connection yet: tp_redis_worker_serve() makes
 * them).  `opts` may be NULL; it is only read during the call.  On
 * success *out owns the worker (tp_redis_worker_destroy()).  Thread-safe
 * (workers are independent).
 * Errors: TP_EINVAL (out NULL, bad option), TP_ENOMEM. */
TP_EXTERN int tp_redis_worker_create(tp_redis_worker **out,
                                     const tp_redis_worker_opts *opts);

/** Registers fn(call, ctx) under `name` (1 to 128 bytes, copied).  Only
 * before tp_redis_worker_serve().  Not thread-safe (registration is set-up).
 * Errors: TP_EINVAL (NULL, bad name, a name already registered), TP_EBUSY
 * (serve has begun), TP_ENOMEM. */
TP_EXTERN int tp_redis_worker_register(tp_redis_worker *w, const char *name,
                                       tp_redis_task_fn fn, void *ctx);

/** Serves the streams on the calling thread until tp_redis_worker_stop():
 * creates the consumer group if missing, reads only as many tasks as it has
 * free threads, reclaims tasks idle past reclaim_idle_ms on other
 * consumers, runs tasks, replies and acknowledges them.  Reconnects after
 * losing Redis, for as long as it takes.  Returns after stop, once the
 * running tasks are done and replied to (or drain_ms has passed).  At most
 * one serve per worker.
 * Returns: 0 after a stop.
 * Errors: TP_EINVAL (NULL), TP_EBUSY (served already), TP_REDIS_EAUTH
 * (credentials refused: a configuration error, not retried), TP_ENOMEM,
 * TP_EAGAIN (no thread). */
TP_EXTERN int tp_redis_worker_serve(tp_redis_worker *w);

/** Asks serve to return (see there); returns at once.  Thread-safe; may be
 * called before serve (serve then returns at once) and more than once.
 * Not async-signal-safe: from a signal, use a thread that sigwait()s.
 * Errors: TP_EINVAL (NULL). */
TP_EXTERN int tp_redis_worker_stop(tp_redis_worker *w);

/** Counters of a worker (tp_redis_worker_stats_get()). */
typedef struct tp_redis_worker_stats {
    uint64_t ran;          /**< task functions called                     */
    uint64_t replied;      /**< replies and acknowledgements written      */
    uint64_t reclaimed;    /**< tasks taken over from other consumers     */
    /** tasks moved to the dead-letter stream: counted when the worker
     * decides, written with its next write (which may reach Redis after a
     * reply to a later task, written on its other connection) */
    uint64_t dead;
    uint64_t cancelled;    /**< tasks not run because of a cancel marker  */
    uint64_t expired;      /**< tasks not run: start deadline passed      */
    uint64_t reconnects;   /**< connections re-established               */
    unsigned held;         /**< tasks read and not yet replied to         */
} tp_redis_worker_stats;

/** Fills *stats.  Thread-safe.  Errors: TP_EINVAL (NULL). */
TP_EXTERN int tp_redis_worker_stats_get(tp_redis_worker *w,
                                        tp_redis_worker_stats *stats);

/** Frees a worker that is not serving (never served, or serve returned);
 * the handle is invalid afterwards.  Not thread-safe with respect to other
 * calls on the same worker.
 * Errors: TP_EINVAL (NULL), TP_EBUSY (serve is running). */
TP_EXTERN int tp_redis_worker_destroy(tp_redis_worker *w);

/** The symbol the worker program (tpool-redis-worker --lib FILE.so) looks
 * up in the shared library it loads, of type tp_redis_tasks_init_fn: it
 * registers the library's task functions and returns 0, or an error code to
 * refuse to start. */
#define TP_REDIS_TASKS_INIT_SYMBOL "tp_redis_tasks_init"

/** The type of TP_REDIS_TASKS_INIT_SYMBOL; `argc`/`argv` are the worker
 * program's arguments after "--" (argv[argc] is NULL). */
typedef int (*tp_redis_tasks_init_fn)(tp_redis_worker *w, int argc,
                                      char **argv);

#ifdef __cplusplus
}
#endif

#endif /* TPOOL_REDIS_H */
