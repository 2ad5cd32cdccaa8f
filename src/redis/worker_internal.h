/*
 * worker_internal.h - what the files of the worker share (internal).
 *
 * A worker serves task streams with a local tp_pool.  Three kinds of
 * thread, each with one job, and one file for each:
 *
 *   worker.c          life cycle: options, registration, the call object
 *                     a task function sees, serve (starts the pool and the
 *                     control thread, runs the reader, drains), stop,
 *                     destroy, counters
 *   worker_job.c      a job: one stream entry decoded into what to run or
 *                     why not, and its run on a pool thread
 *   worker_read.c     the reader (the thread in tp_redis_worker_serve()):
 *                     XAUTOCLAIM, XREADGROUP, admission of what it read
 *   worker_write.c    the writer: the MULTI/EXEC that acknowledges done
 *                     jobs and writes their replies and dead letters
 *   worker_control.c  the control thread: runs the writer, heartbeats held
 *                     entries, looks up cancel markers of held tasks
 *
 * Ownership of a job: created by the reader, on the held list (under mu)
 * until the reader or the control thread has written its reply, then freed
 * by that writer; while the control thread's heartbeat uses its snapshot of
 * held pointers, the reader leaves the jobs it wrote in the graveyard for
 * the control thread to free (serve frees what is left after joining it).  The reader holds
 * mu across tp_submit_future() so that tpr_job_run() cannot finish (it
 * takes mu) before the job's local future is stored.  That makes the order
 * worker mu -> tpool's locks, which never call back into these files with
 * a lock held.
 *
 * Locks: mu (one per worker) guards the held list, the done list,
 * `running`, the stop flags and the counters; the job fields marked so
 * below.  Never held during network I/O.  The connections have one owner
 * each: read_conn the reader, ctl_conn the control thread.
 */
#ifndef TPR_WORKER_INTERNAL_H
#define TPR_WORKER_INTERNAL_H

#include <stdatomic.h>

#include "redis_internal.h"

#define READ_BLOCK_MS 2000
#define CMD_TIMEOUT_MS 10000
#define DEAD_MAXLEN "10000"
#define REPLY_MAXLEN "100000"
/* Acknowledged entries are trimmed from the head of their stream, once per
 * TRIM_EVERY acknowledgements and at each heartbeat (worker_write.c); a
 * stream whose head is held by a task still running, with more than
 * TRIM_KEEP_MAX done entries kept behind it, has each entry deleted as it
 * is acknowledged instead, until trimming catches up. */
#define TRIM_EVERY 256
#define TRIM_KEEP_MAX 10000

typedef struct reg {
    char *name;
    tp_redis_task_fn fn;
    void *ctx;
} reg;

struct tp_redis_call {
    const char *payload;
    size_t len;
    const char *tid;
    unsigned attempt;
    size_t max_reply;
    char *reply;
    size_t reply_len;
};

typedef struct job {
    struct job *hprev, *hnext; /* held list, under mu */
    struct job *dnext;         /* done list, under mu */
    tp_redis_worker *w;
    size_t stream;
    char eid[72];
    char *tid;       /* NULL: no usable task id */
    char *reply_key; /* NULL: no usable reply key */
    const reg *fn;   /* NULL: will not run */
    char *payload;
    size_t len;
    unsigned attempt;
    int64_t deadline_ms; /* unix ms the task must start by; 0: none */
    int status;      /* what the reply says: 0 or a code */
    char *reply;
    size_t reply_len;
    const char *why; /* non-NULL: dead-letter with this reason */
    char **dl_argv;  /* the entry's fields, for the dead letter */
    size_t *dl_lens;
    size_t dl_n;
    tp_future *lf;   /* the local task; NULL if not run */
    atomic_bool cancel;  /* a cancel marker was seen */
    atomic_bool running; /* the function has been called */
    bool stop_sent;      /* tp_future_cancel() done (control thread) */
    bool no_reply;       /* the pool refused it: leave the entry pending */
    bool lost;           /* taken over by another consumer */
} job;

struct tp_redis_worker {
    tpr_endpoint ep;
    char consumer[TPR_NAME_MAX + 1];
    char **stream_keys; /* NS:q:NAME */
    char *dead_key;
    size_t nstreams;
    unsigned threads;
    int64_t reclaim_idle_ms, heartbeat_ms, reply_ttl_ms, drain_ms;
    size_t max_payload, max_reply;
    reg *regs;
    size_t nregs;

    pthread_mutex_t mu;
    pthread_cond_t free_cv; /* reader: a slot freed, or stop */
    pthread_cond_t ctl_cv;  /* control: done jobs, or stop */
    pthread_cond_t idle_cv; /* serve: running reached 0 */
    bool serving, stop, ctl_stop;
    unsigned running;
    job *held;      /* every job not yet replied */
    job *done_head, *done_tail;
    /* The reader waits for a free thread: jobs finishing then wake it (it
     * writes them before its next read), else the control thread. */
    bool reader_waiting;
    bool hb_busy;   /* the heartbeat holds a snapshot of held jobs */
    job *graveyard; /* written while hb_busy; the control thread frees */
    tp_redis_worker_stats stats;
    int64_t ctl_deadline; /* monotonic ms; after ctl_stop */
    size_t untrimmed;     /* entries acknowledged since the last trim */
    size_t trim_keep_max; /* TRIM_KEEP_MAX (tests lower it) */
    /* Per stream: delete each entry as it is acknowledged (trimming is
     * held back by a long task); set by the trims' answers. */
    atomic_bool del_each[TPR_MAX_STREAMS];

    tpr_conn read_conn, ctl_conn;
    tp_pool *pool;
};

/* ---- worker.c ----------------------------------------------------------- */

/* The registered function of that name, or NULL. */
const reg *tpr_worker_lookup(const tp_redis_worker *w, tpr_bytes name);
/* Sleeps ms on cv unless stopped (the control thread's stop flag when ctl,
 * the reader's otherwise); true when stopping. */
bool tpr_worker_backoff(tp_redis_worker *w, pthread_cond_t *cv, int64_t ms,
                        bool ctl);

/* ---- worker_job.c ------------------------------------------------------- */

/* Decodes one entry into a new job (NULL without memory, or when the entry
 * has no id to acknowledge).  The job runs (fn set) or is already done
 * (status, why). */
job *tpr_job_from_entry(tp_redis_worker *w, size_t stream,
                        const redisReply *entry, unsigned attempt);
void tpr_job_free(job *j);
/* Under mu: a job onto the done list, waking whoever will write it. */
void tpr_job_push_done(tp_redis_worker *w, job *j);
/* The pool task: runs the job's function, then puts it on the done list. */
void *tpr_job_run(void *arg);

/* ---- worker_read.c ------------------------------------------------------ */

/* The reader's loop, until stop.  Returns 0, or TP_REDIS_EAUTH when the
 * very first login is refused. */
int tpr_reader_loop(tp_redis_worker *w);

/* ---- worker_write.c ----------------------------------------------------- */

/* Writing done jobs in two halves, so that the reader can put a read
 * behind them in the same pipeline: tpr_write_append() appends the
 * transactions of `list` (linked by dnext) to conn's pipeline;
 * tpr_write_finish() reads their answers: the jobs confirmed are unlinked
 * from the held list and freed, the rest go back to the front of the done
 * list.  finish returns false after an error (the connection is closed). */
typedef struct tpr_wbatch {
    job *list;
    job **all;
    size_t n, nw, ntx, ntrim;
    size_t *expect, *ends;
    int rc;
} tpr_wbatch;
int tpr_write_append(tp_redis_worker *w, tpr_conn *conn, job *list,
                     tpr_wbatch *b);
bool tpr_write_finish(tp_redis_worker *w, tpr_conn *conn, tpr_wbatch *b);
/* Both at once. */
bool tpr_write_done(tp_redis_worker *w, tpr_conn *conn, job *list);
/* Puts `list` (linked by dnext) back at the front of the done list, in
 * order.  Takes mu. */
void tpr_requeue_done(tp_redis_worker *w, job *list);
/* Trims every stream now if anything was acknowledged since the last trim
 * (heartbeats, the end of serve); false after an I/O error. */
bool tpr_trim_now(tp_redis_worker *w, tpr_conn *conn);

/* ---- worker_control.c --------------------------------------------------- */

/* The control thread (see worker_control.c). */
void *tpr_control_main(void *arg);

#endif /* TPR_WORKER_INTERNAL_H */
