/*
 * wake.pml - a Promela model of the pool's sleep/wake protocol: the claim
 * "a pushed task is never left queued while every worker sleeps" of
 * src/pool_internal.h ("Sleeping and waking"), with the searching
 * shortcut, lock-free injector pushes (src/inject.h), the idle list, the one-token
 * parker and (-DWAITER) a waiting worker's park_begin/park_end with its
 * "claimed" hand-off.  model/wake.sh runs it.  It follows the C code,
 * which has both fixes described under "Proposed fixes" below
 * (-DFIX_SLEEPERS, -DCLAIM_SETTLE: wake.sh's `code` group sets them);
 * without them, spin finds the two lost wake-ups described there.
 *
 * What is modelled
 *   - One outside submitter: NT submits, each an injector push (submit.c
 *     enqueue, tpi_inject_push: one compare-and-swap on the stack's top,
 *     one step) followed by tpi_wake_some(p, 1); with -DBATCH, one push of
 *     NT tasks and tpi_wake_some(p, NT) (a batch submitted from outside).
 *   - NW workers running tpi_worker_main: find_local -> search (searching++,
 *     ROUNDS rounds of find_work, S-, the wake at the end of search()) ->
 *     sleep_or_exit (W1, F1, R1, idle_push, park, the idle check after).
 *   - find_work: own deque, the normal injector (take_injected: inj_mu
 *     only tried, taking nothing if another consumer holds it; an empty
 *     `ready` first drained from the stack in two steps, the fetch-and
 *     that takes the stack and the store of ready_len, between which R1
 *     sees neither; a batch of len/nthreads + 1, all but the first pushed
 *     on the own deque, then wake_one; or only the first, with wake_one if
 *     some are left), steal_any (any victim first).  A deque is
 *     a counter whose push, pop and steal are single steps (the Chase-Lev
 *     deque is linearisable; it is not what is checked here).
 *     -DSTEAL_RETRY: a steal from a non-empty deque may also fail
 *     (TPI_STEAL_RETRY, another thief or the owner won the race).
 *   - -DSNAPSHOT: an outside thread calls tp_pool_snapshot_get once, at
 *     any moment: it locks inj_mu, drains the stack into `ready` (the same
 *     two steps), unlocks and, having moved tasks, tpi_wake_some(p, 1).
 *   - -DSPAWN: the first task run spawns one child: enqueue() from a worker
 *     (push on its own deque, then tpi_wake_some(p, 1)).
 *   - -DWAITER: the first task run waits (wait.c park_until_any) until
 *     every other task has run: help (find_work), link to the future,
 *     tpi_worker_park_begin, park, tpi_worker_park_end (the claimed
 *     hand-off), unlink.  The settle of the last other task unparks the
 *     waiter if it is linked (tpi_parker_unpark_flag under the future-table
 *     lock: one step with the link and unlink).
 *   - -DBLOCKER: the first task run blocks in user code (not through the
 *     pool, so its worker is neither idle nor searching) until every other
 *     task has run: the pool must run them on the other workers.
 *   - The idle list exactly as sched.c keeps it (head, next, prev, most
 *     recently idled first), the wake list that tpi_wake_some() threads
 *     through idle_next, and tpi_unpark_list()'s walk of it without mu.
 *   - -DLEAVER: a resizer (tp_pool_resize to NW - 1, threads.c adjust()
 *     under mu) asks the highest worker, LV = NW - 1, to leave, at any
 *     moment: slot RETIRING, retire = true, tpi_parker_unpark under mu.
 *     The worker sees retire at the top of its loop (before find_local)
 *     or in sleep_or_exit after R1 (sleepers--, unlock, back to the top,
 *     as when work is visible); leave() pops and runs its own deque, then
 *     tpi_threads_leave (under mu: RETIRING -> EXITING); after the loop,
 *     tpi_fence, work_visible and tpi_threads_left (EXITED under mu, then
 *     tpi_wake_some(p, 1) for work seen); then its thread ends.  The
 *     worker may be asleep on the idle list, claimed by a submitter, in
 *     claim_settle, searching, running a task (-DWAITER: waiting in it)
 *     when asked: every interleaving is explored.  -DKEEP: afterwards, a
 *     grow may keep it (start_slot: RETIRING -> LIVE, retire = false)
 *     while it has not left yet; a slot that left is not started again
 *     here (a new thread there is a new worker: its parker may hold a
 *     stale token, see the properties).  NW >= 2: the other workers stay.
 *
 * Memory model: each atomic access, fence, and critical-section step is one
 * step of Promela's interleaving, i.e. sequential consistency.  That is
 * exact for the seq_cst operations (F1, F2, searching++ and S-, and an
 * outside submit's injector push, a seq_cst compare-and-swap followed by
 * R2's seq_cst loads with no F2 between: tpi_wake_some_sc) and
 * stronger than C11 for the relaxed ones, so a failure found here is a
 * failure of the C code, while a pass relies on the fences giving
 * store->load order as argued in pool_internal.h.  A mutex is a bit taken
 * by a blocking test-and-set.  The parker is one token: unpark sets it,
 * park blocks until it is set and consumes it (tpi_parker_park with a
 * forever deadline; the timed parks of wait.c are not modelled).
 *
 * Not modelled: the high and low levels (other injectors on the same code
 * path), shutdown (stopping, inj_closed, stop_flag), bounded pools,
 * deadlines, tpi_notify_if_idle (it does not decide who sleeps), the
 * on_start/on_stop hooks and started_threads (no shared state of this
 * protocol), extra threads for blocked tasks (tp_task_blocking_begin/end
 * resize through the same adjust()).
 *
 * Rounds: a search round that finds nothing changes no shared state, so a
 * run of the C code (TPI_SEARCH_ROUNDS == 4) is matched, as far as this
 * protocol goes, by a run of the model with fewer rounds: ROUNDS (default
 * 2) only has to be at least 1.
 *
 * Properties (all checked in every run)
 *   (a) no lost task and (b) no lost wake-up, in every state where no
 *   process can move (`timeout`: the submitter is done and every worker is
 *   blocked): every task has been taken; every worker is parked in
 *   sleep_or_exit AND on the idle list (a parked worker off the list can
 *   never again be woken by a submit, nor by a shutdown); no token is left;
 *   sleepers equals the list's length; nobody is searching.
 *   No invalid end state (nobody stuck on a mutex).  Each walk of
 *   tpi_unpark_list() unparks exactly the workers its caller claimed (it
 *   must not follow an idle_next that the worker rewrote meanwhile).  No
 *   counter underflows.  With -DLTL also (a) as an LTL property: always,
 *   once all tasks are pushed, eventually all are taken, under weak
 *   fairness (wake.sh runs pan -f): workers only try inj_mu, so a worker
 *   that fails loops (searching, yielding, R1 seeing the task) until the
 *   holder, which can always move, has moved; a schedule that never runs
 *   the holder is the only cycle without progress, and no OS scheduler
 *   keeps a runnable thread off the CPU for ever.
 *   -DLEAVER: the resizer has run, and the leaver, unless kept (-DKEEP),
 *   is left out of "parked and on the idle list": its thread must have
 *   ended (EXITED), off the idle list, with no claim pending on it
 *   (delivered clear).  Its parker may still hold a token: the resizer's
 *   unpark when it was not parked (running, searching, on its way to
 *   sleep), or a claimer's whose `delivered` claim_settle found already
 *   set after another wake-up had woken it.  Either wake-up is accounted
 *   for by the exit path's look at every queue, which (a) and (b) check;
 *   the token itself only makes the first park of a thread started again
 *   in that slot return at once, and every park of the C code re-checks
 *   why it woke (the idle check, claim_settle's flag, wait.c's future).
 *
 * Proposed fixes (the C code as written fails without them; wake.sh says
 * where):
 *   -DFIX_SLEEPERS  sleep_or_exit and tpi_worker_park_begin keep the count
 *                   of W1 as the idle list's entry (idle_push then does
 *                   not add it again): sleepers never drops between W1 and
 *                   the worker being on the list.
 *   -DFIX_WALK      tpi_wake_some reads the wake list while it still holds
 *                   mu (collects the claimed workers, e.g. in a local
 *                   array, or unparks under mu: the lock order allows
 *                   mu -> parker mutex), and unparks after.
 *   -DFIXED         both.
 *   -DCLAIM_SETTLE  instead of FIX_WALK, another remedy for the same race:
 *                   the unpark of tpi_unpark_list also sets w->delivered
 *                   (tpi_parker_unpark_flag), and a worker that finds
 *                   itself claimed after a wake-up (sleep_or_exit, or
 *                   tpi_worker_park_end with `pass`) first waits for it
 *                   (claim_settle: park until the flag is set, then clear
 *                   it), so that it cannot go back on the list, rewriting
 *                   idle_next, before its claimer is done with it.
 *   (-DNO_WALK_CHECK drops the check on the walk, to see what the race
 *   leads to: a claimed worker that is never unparked.)
 *
 * Variants that must FAIL (regression checks of the model itself):
 *   -DBROKEN_R2_EARLY  the submitter reads sleepers and searching (R2)
 *                      before its push, not after it and F2
 *   -DBROKEN_NO_R1     sleep_or_exit and park_begin do not look at the
 *                      queues after W1/F1 (no R1)
 *   -DBROKEN_S_LATE    a worker that found nothing decrements searching
 *                      only after its R1, not before W1 (S- moved)
 *   -DBROKEN_SNAPSHOT_NO_WAKE  (with -DSNAPSHOT) the snapshot drains the
 *                      stack into `ready` without waking anyone: a worker
 *                      whose R1 fell between its two steps sleeps for ever
 *   -DBROKEN_LEAVE_NO_WAKE  (with -DLEAVER) the leaver ends without the
 *                      exit path's fence, work_visible and wake: a wake-up
 *                      it was claimed for ends with it
 */

#ifndef NW
#define NW 2            /* workers (p->nthreads): 1 to 3 */
#endif
#ifndef NT
#define NT 3            /* tasks the submitter submits */
#endif
#ifndef ROUNDS
#define ROUNDS 2        /* search rounds (TPI_SEARCH_ROUNDS) */
#endif

#ifdef FIXED
#define FIX_SLEEPERS
#define FIX_WALK
#endif

#ifdef SPAWN
#define NTOT (NT + 1)   /* tasks in all */
#else
#define NTOT NT
#endif

#if defined(WAITER) || defined(BLOCKER)
#define SPECIAL         /* the first task run waits for all the others */
#endif

#ifdef LEAVER
#if NW < 2
#error "LEAVER needs NW >= 2: at least one worker stays"
#endif
#ifdef BLOCKER
/* A task blocked in user code on the one worker that stays waits forever
 * for tasks nobody else runs: a pool too small, not a protocol failure. */
#error "LEAVER and BLOCKER do not go together"
#endif
#define LV (NW - 1)     /* adjust() retires p->workers[--p->live] */
#define SLOT_LIVE     1 /* threads.c, the slot states */
#define SLOT_RETIRING 2
#define SLOT_EXITING  3
#define SLOT_EXITED   4
#endif

#define NIL 255         /* a NULL tpi_worker pointer */

/* ---- shared state --------------------------------------------------------- */

bit  mu;                /* p->mu */
bit  inj_mu;            /* p->inj_mu */
byte inj_top;           /* tasks on p->inj[TP_PRIORITY_NORMAL].top's stack */
byte inj_ready;         /* its ready_len (and its `ready` list) */
byte dq[NW];            /* tasks in each worker's deque (w->dq) */
byte sleepers;          /* p->sleepers */
byte searching;         /* p->searching */
byte ihead = NIL;       /* p->idle */
byte inext[NW];         /* w->idle_next (also the wake list's link) */
byte iprev[NW];         /* w->idle_prev */
bool idle[NW];          /* w->idle */
bool claimed[NW];       /* w->claimed */
bool token[NW];         /* w->parker.token */
#ifdef CLAIM_SETTLE
bool delivered[NW];     /* w->delivered (parker mutex) */
#endif
#ifdef LEAVER
bool retire;            /* LV's w->retire: written under mu, read by LV
                           at the top of its loop without it */
byte slot = SLOT_LIVE;  /* LV's w->slot (mu) */
#endif

/* ghost state, for the properties */
byte pushed;            /* tasks pushed by the submitter */
byte taken;             /* tasks taken from a queue to run */
bool at_park[NW];       /* blocked in sleep_or_exit's park */
#ifdef SPAWN
bool spawned;
#endif
#ifdef SPECIAL
byte special = NIL;     /* the worker running the first task */
byte ran;               /* tasks other than that one that have run */
#endif
#ifdef WAITER
bool linked;            /* the waiter's node is on the future (link_all) */
#endif
#ifdef LEAVER
bool resized;           /* the resizer has asked LV to leave */
bool gone;              /* LV's thread has ended */
#endif

/* ---- steps -----------------------------------------------------------------
 *
 * Each `atomic` below is one step of the C code: it makes at most one
 * access to state that other threads read or write without a lock this
 * thread holds; the rest of what it touches is the thread's own (its
 * locals, fields guarded by a mutex it holds, ghost variables).  Merged on
 * purpose, as no other thread can tell: taking a mutex with the first
 * access after it, releasing one with the last access before it (only
 * other lockers see the mutex, and they block either way), and a critical
 * section whose body is one access.  One approximation: idle_remove() is
 * one step although, for a worker not at the head, it writes both
 * sleepers and its predecessor's idle_next.  (-DLEAVER: the read of
 * retire at the top of the loop and find_local's pop of the own deque
 * are one step: no other step touches both retire and that deque, so
 * every step that could come between them commutes with one of them.) */

#define LOCK(m)   (m == 0) -> m = 1     /* pthread_mutex_lock: blocks */
#define UNLOCK(m) m = 0                 /* pthread_mutex_unlock */

/* ---- idle list (mu held), sched.c idle_push / idle_remove / tpi_idle_claim - */

#ifdef FIX_SLEEPERS
#define IDLE_PUSH_COUNT skip            /* FIX: the count of W1 stays */
#else
#define IDLE_PUSH_COUNT sleepers++      /* atomic_fetch_add(&p->sleepers) */
#endif

/* idle_push(p, w), in two steps: what it writes that is read without mu
 * is sleepers (by R2) and then idle_next (by tpi_unpark_list's walk). */
inline idle_push_count(w)
{
    idle[w] = 1;
    claimed[w] = 0;
    IDLE_PUSH_COUNT
}

inline idle_push_link(w)
{
    iprev[w] = NIL;
    inext[w] = ihead;                   /* w->idle_next = p->idle */
    if
    :: ihead != NIL -> iprev[ihead] = w
    :: else
    fi;
    ihead = w
}

/* idle_remove(p, w).  idle_prev of a worker off the list is never read
 * before idle_push writes it again: it is reset here to keep states few.
 * idle_next is left as it is, as in the C code (the wake list uses it). */
inline idle_remove(w)
{
    if
    :: iprev[w] != NIL -> inext[iprev[w]] = inext[w]
    :: else -> ihead = inext[w]
    fi;
    if
    :: inext[w] != NIL -> iprev[inext[w]] = iprev[w]
    :: else
    fi;
    iprev[w] = NIL;
    idle[w] = 0;
    assert(sleepers > 0);
    sleepers--                          /* atomic_fetch_sub(&p->sleepers) */
}

/* ---- tpi_wake_some(p, n), sched.c --------------------------------------------
 * Locals of the caller: wk, wake, nx, c, mine (ghost: the workers this
 * call claimed, one bit each). */

#ifdef FIX_WALK
/* FIX: the wake list is read while mu is still held (the claimed workers
 * change their idle_next only under mu). */
#define READ_WAKE_LIST \
    do \
    :: wake != NIL -> assert(mine & (1 << wake)); wake = inext[wake] \
    :: else -> break \
    od
#else
#define READ_WAKE_LIST skip
#endif

/* Under mu, then unlock:
 *   for (i < n && (w = tpi_idle_claim(p)) != NULL) {
 *       w->idle_next = wake; wake = w; }
 *   pthread_mutex_unlock(&p->mu);
 * mu is already held (taken in the caller's previous step). */
inline claim_some(n)
{
    do
    :: atomic {
           c < n && ihead != NIL ->
           wk = ihead;                          /* tpi_idle_claim */
           idle_remove(wk);
           claimed[wk] = 1;
           mine = mine | (1 << wk)
       }
       atomic {
           inext[wk] = wake;                    /* w->idle_next = wake */
           wake = wk;
           c++
       }
    :: atomic {
           else ->
           READ_WAKE_LIST;
           UNLOCK(mu);
           c = 0;
           wk = NIL;
           break
       }
    od
}

/* tpi_unpark_list(wake), after the unlock. */
inline unpark_claimed()
{
#ifdef FIX_WALK
    wk = 0;
    do
    :: atomic {
           wk < NW && (mine & (1 << wk)) ->
           token[wk] = 1;                       /* tpi_parker_unpark */
           mine = mine & ~(1 << wk);
           wk++
       }
    :: atomic { wk < NW && !(mine & (1 << wk)) -> wk++ }
    :: atomic { else -> wk = NIL; break }
    od
#else
    /* next = wake->idle_next (read without mu); tpi_parker_unpark(wake);
     * wake = next */
    do
    :: atomic {
           wake != NIL ->
#ifndef NO_WALK_CHECK
           assert(mine & (1 << wake));          /* only workers it claimed */
#endif
           mine = mine & ~(1 << wake);
           nx = inext[wake]
       }
#ifdef CLAIM_SETTLE
       /* tpi_parker_unpark_flag(&wake->parker, &wake->delivered) */
       atomic { delivered[wake] = 1; token[wake] = 1; wake = nx; nx = NIL }
#else
       atomic { token[wake] = 1; wake = nx; nx = NIL }  /* tpi_parker_unpark */
#endif
    :: atomic {
           else ->
#ifndef NO_WALK_CHECK
           assert(mine == 0);                   /* ... and all of them */
#endif
           mine = 0;
           break
       }
    od
#endif
}

inline wake_some(n)
{
    /* F2: tpi_fence() -- sequential consistency */
    if
    :: sleepers == 0                    /* R2: sleepers == 0: return */
    :: else ->
        if
        :: searching > 0                /* R2: searching > 0: return */
        :: else ->
            atomic { LOCK(mu) }         /* pthread_mutex_lock(&p->mu) */
            claim_some(n);
            unpark_claimed()
        fi
    fi
}

/* ---- the submitter (submit.c, enqueue() from outside the pool) ------------- */

#ifdef BATCH
#define NSUB 1          /* one tp_submit_batch of NT tasks */
#define PER  NT
#else
#define NSUB NT         /* NT single submits */
#define PER  1
#endif

active proctype submitter()
{
    byte i;
    byte wk = NIL, wake = NIL, nx = NIL, c, mine;
#ifdef BROKEN_R2_EARLY
    bool early;
#endif
    do
    :: atomic { i < NSUB -> i++ }
#ifdef BROKEN_R2_EARLY
        /* BROKEN: R2 before the push, so not ordered after it by F2. */
        atomic { early = (sleepers > 0) }
        if
        :: early -> atomic { early = (searching == 0) }
        :: else
        fi;
#endif
        /* tpi_inject_push(): the compare-and-swap that puts the chain on
         * the stack (the closed bit: no shutdown here) */
        atomic {
            inj_top = inj_top + PER;
            pushed = pushed + PER
        }
#ifdef BROKEN_R2_EARLY
        if
        :: early -> early = 0; atomic { LOCK(mu) } claim_some(PER); unpark_claimed()
        :: else
        fi
#else
        wake_some(PER)                  /* tpi_wake_some(p, n): F2, R2 */
#endif
    :: else -> break
    od
}

#ifdef SNAPSHOT
/* tp_pool_snapshot_get() (introspect.c), once, at any moment: the
 * injector's stack drained into `ready` under inj_mu, then, if it moved
 * tasks, tpi_wake_some(p, 1). */
active proctype snapshot()
{
    byte dr, moved;
    byte wk = NIL, wake = NIL, nx = NIL, c, mine;
    atomic { LOCK(inj_mu) }
    atomic { moved = inj_top; dr = inj_top; inj_top = 0 };  /* fetch-and */
    atomic { inj_ready = inj_ready + dr; dr = 0 };          /* ready_len */
    atomic { UNLOCK(inj_mu) }
#ifdef BROKEN_SNAPSHOT_NO_WAKE
    moved = 0                           /* BROKEN: no wake for what it moved */
#else
    if
    :: moved > 0 -> wake_some(1)
    :: else
    fi
#endif
}
#endif

/* ---- workers (sched.c) ------------------------------------------------------ */

/* tpi_deque_pop(&w->dq), as one step. */
#define POP_OWN \
    if \
    :: dq[me] > 0 -> dq[me]--; taken++; got = 1 \
    :: else \
    fi

/* tpi_inject_drain() under inj_mu, in its two steps: the fetch-and that
 * takes the whole stack (held by the caller in `dr` meanwhile), then the
 * store of ready_len.  Only if `ready` is empty (tpi_inject_ready()). */
inline drain()
{
    atomic {
        if
        :: inj_ready == 0 -> dr = inj_top; inj_top = 0
        :: else -> dr = 0
        fi
    };
    atomic { inj_ready = inj_ready + dr; dr = 0 }
}

/* take_injected(w, TP_PRIORITY_NORMAL), if nothing was found yet.  The
 * lock-free look at the stack and ready_len first is not modelled: reading
 * 0 there is the same as taking nothing under the lock at that moment.
 * `k` is the batch taken, `v` (free here) what `ready` held before. */
inline take_injected()
{
    atomic {
        if
        :: got == 0 && inj_mu == 0 -> inj_mu = 1; tk = 1  /* trylock */
        :: else                         /* found, or held: look elsewhere */
        fi
    }
    if
    :: tk ->
        drain();
        atomic {
            v = inj_ready;
            k = inj_ready / NW + 1;     /* k = len / nthreads + 1 (<= 32) */
            if
            :: k > inj_ready -> k = inj_ready
            :: else
            fi;
            inj_ready = inj_ready - k;  /* tpi_inject_take */
            v = v - k;                  /* left in `ready` */
            if
            :: k > 0 -> taken++; got = 1; k--   /* `first` is returned */
            :: else
            fi;
            UNLOCK(inj_mu);
            tk = 0
        }
    :: else
    fi;
    if
    :: k == 0 && v > 0 -> v = 0; wake_some(1)  /* only `first`, some left */
    :: else -> v = 0
    fi;
    if
    :: k > 0 ->                         /* the rest, on the own deque */
        do
        :: atomic { k > 0 -> dq[me]++; k-- }       /* tpi_deque_push */
        :: else -> break
        od;
        /* wake_one(p): others may steal.  Called from search(), this one
         * never wakes anybody: the caller itself counts in `searching`, so
         * R2 returns (spin lists it as unreached); the wake at the end of
         * search(), after S-, is the one that does. */
        wake_some(1)
    :: else
    fi
}

/* steal_any(w), if nothing was found yet: a steal from each other worker,
 * from a random start (s). */
inline steal_any()
{
#if NW > 2
    if
    :: got == 0 ->
        do
        :: s < NW - 1 -> s++
        :: break
        od
    :: else
    fi;
#endif
    do
    :: atomic {
           got == 0 && j < NW ->
           v = (s + j) % NW;
           j++;
           if
           :: v != me && dq[v] > 0 -> dq[v]--; taken++; got = 1  /* OK */
#ifdef STEAL_RETRY
           :: v != me && dq[v] > 0                   /* RETRY: a lost race */
#endif
           :: else                                   /* EMPTY, or itself */
           fi
       }
    :: atomic { else -> s = 0; j = 0; v = 0; break }
    od
}

/* One round of find_work(w, true): find_local() (the high level and a
 * due low level are not modelled: the own deque), the normal injector,
 * steal_any().  The own deque's pop is folded into the caller's step
 * (with its loop condition). */
#define FIND_WORK_FIRST POP_OWN
inline find_work_rest()
{
    take_injected();
    steal_any()
}

/* work_visible(p): the injector's stack and ready_len, then each deque, a
 * read each (R1).  The first read is folded into the caller's step (vis =
 * inj_top > 0). */
inline work_visible_rest()
{
    atomic {
        if
        :: vis == 0 -> vis = (inj_ready > 0)
        :: else
        fi
    };
    do
    :: atomic { vis == 0 && j < NW -> vis = (dq[j] > 0); j++ }
    :: atomic { else -> j = 0; break }
    od
}

#define WV_FIRST vis = (inj_top > 0)    /* work_visible(p): the injector */
#define WV_REST  work_visible_rest()    /* ... and the deques */
#ifdef BROKEN_NO_R1
#define R1_FIRST vis = 0                /* BROKEN: no look at the queues */
#define R1_REST  skip
#else
#define R1_FIRST WV_FIRST
#define R1_REST  WV_REST
#endif

#ifdef LEAVER
/* sleep_or_exit: leaving = retire (mu held: the resizer writes it under
 * mu, so this read is part of the critical section). */
#define LEAVING (me == LV && retire)
/* After a task: back to leave()'s loop if it ran there, else the top. */
#define NEXT_TASK \
    if \
    :: lv -> goto leave_pop \
    :: else -> goto top \
    fi
#else
#define LEAVING 0
#define NEXT_TASK goto top
#endif

#ifdef SPECIAL
/* A task other than the first has run: the last one settles what the
 * first waits for, and a linked waiter is unparked under the future's
 * lock (tpi_parker_unpark_flag): one step. */
#ifdef WAITER
#define TASK_DONE \
    ran++; \
    if \
    :: ran == NTOT - 1 && linked -> token[special] = 1 \
    :: else \
    fi
#else
#define TASK_DONE ran++
#endif
#endif

#ifdef CLAIM_SETTLE
/* claim_settle(w): a claimed worker waits until its claimer's unpark has
 * been delivered (the claimer's last access to its idle_next):
 *   while (!tpi_parker_flag(&w->parker, &w->delivered))
 *       tpi_parker_park(&w->parker, forever);
 *   w->delivered = false; */
inline claim_settle()
{
    do
    :: atomic { delivered[me] -> delivered[me] = 0; break }
    :: atomic { !delivered[me] }
        atomic { token[me] -> token[me] = 0 }
    od
}
#endif

proctype worker(byte me)
{
    bit got, vis;
    byte k, j, v, s, r, dr;
    bit tk;
    byte wk = NIL, wake = NIL, nx = NIL, c, mine;
#ifdef WAITER
    bit pass;
#endif
#ifdef CLAIM_SETTLE
    bit clm;
#endif
#ifdef LEAVER
    bit lv;             /* in leave(w) (LV only) */
#endif

top:
#ifdef LEAVER
    /* tpi_worker_main: if (retire && (left = leave(w))) break;
     * f = find_local(w).  One step (see "steps" above). */
    atomic {
        if
        :: me == LV && retire -> lv = 1
        :: else -> POP_OWN
        fi
    }
    if
    :: lv -> goto leave_pop
    :: else
    fi;
local_got:
#else
    /* tpi_worker_main: f = find_local(w) */
    atomic { POP_OWN }
#endif
    if
    :: got -> goto run_task
    :: else
    fi;

    /* f = search(w) */
    searching++;                        /* search(): searching++ (seq_cst) */
    do                                  /* the rounds: find_work(w, true) */
    :: atomic { got == 0 && r < ROUNDS -> r++; FIND_WORK_FIRST }
        find_work_rest()
    :: atomic { else -> r = 0; break }
    od;
#ifdef BROKEN_S_LATE
    if
    :: got -> atomic { assert(searching > 0); searching-- }
    :: else
    fi;
#else
    atomic {                            /* S- (seq_cst) */
        assert(searching > 0);
        searching--
    }
#endif
    if
    :: got ->
        /* search(): if (f != NULL && work_visible(p)) wake_one(p) */
        atomic { WV_FIRST }
        WV_REST;
        if
        :: vis -> vis = 0; wake_some(1)
        :: else
        fi;
        goto run_task
    :: else
    fi;

    /* sleep_or_exit(w) */
    atomic { LOCK(mu); sleepers++ }     /* lock mu; W1: sleepers++ */
    /* F1: tpi_fence() -- sequential consistency */
    atomic { R1_FIRST }                 /* R1: work_visible(p) */
    R1_REST;
#ifdef BROKEN_S_LATE
    /* BROKEN: S- only after R1 */
    atomic { assert(searching > 0); searching-- }
#endif
    if
    :: atomic {
           (vis || LEAVING) ->          /* work (or leaving): sleepers--, */
           vis = 0;                     /* unlock, back to the loop */
           assert(sleepers > 0);
           sleepers--;
           UNLOCK(mu);
           goto top
       }
    :: else
    fi;
#ifndef FIX_SLEEPERS
    /* sleepers-- after R1, and idle_push() adds 1 again: in between, a
     * submitter's R2 (no lock) reads a count without this worker. */
    atomic { assert(sleepers > 0); sleepers-- }
#endif
    /* (p->stopping != STOP_NONE: shutdown not modelled) */
    atomic { idle_push_count(me) }      /* idle_push(p, w) */
    atomic { idle_push_link(me); UNLOCK(mu); at_park[me] = 1 }
end_park:
    /* tpi_parker_park(&w->parker, forever) */
    atomic { token[me] -> token[me] = 0; at_park[me] = 0 }
    atomic {                            /* lock mu; if (w->idle) ...; unlock */
        LOCK(mu);
#ifdef CLAIM_SETTLE
        clm = !idle[me];                /* claimed = !w->idle */
#endif
        if
        :: idle[me] -> idle_remove(me)  /* woken by something else */
        :: else
        fi;
        UNLOCK(mu)
    }
#ifdef CLAIM_SETTLE
    if
    :: clm -> clm = 0; claim_settle()   /* if (claimed) claim_settle(w) */
    :: else
    fi;
#endif
    goto top;

run_task:
    /* run_taken(w, f) */
    got = 0;
#ifdef SPAWN
    /* The first task run submits a child: enqueue() from a worker. */
    if
    :: atomic { !spawned -> spawned = 1; dq[me]++ }    /* tpi_deque_push */
        wake_some(1)                                    /* tpi_wake_some */
    :: else
    fi;
#endif
#ifdef SPECIAL
    if
    :: atomic { special == NIL -> special = me }
#ifdef WAITER
        goto wait_task
#else
        /* BLOCKER: blocked in user code until the others have run */
        (ran == NTOT - 1)
#endif
    :: else -> atomic { TASK_DONE }
    fi;
#endif
    NEXT_TASK;

#ifdef WAITER
    /* wait.c park_until_any() of the waiting task, on worker me. */
wait_task:
    do
    :: ran == NTOT - 1 -> break         /* first_done(): settled */
    :: else ->
        /* tpi_worker_help(w): find_work(w, true); a task runs nested */
        atomic { FIND_WORK_FIRST }
        find_work_rest();
        if
        :: got -> atomic { got = 0; TASK_DONE }
        :: else ->
            /* link_all(): fails if the future settled meanwhile */
            if
            :: atomic { ran != NTOT - 1 -> linked = 1 }
                /* tpi_worker_park_begin(w) */
                atomic { LOCK(mu); sleepers++ }     /* lock mu; W1 */
                /* F1: tpi_fence() */
                atomic { R1_FIRST }                 /* R1 */
                R1_REST;
#ifndef FIX_SLEEPERS
                atomic { assert(sleepers > 0); sleepers-- }
#endif
                if
                :: atomic {
                       vis ->
#ifdef FIX_SLEEPERS
                       assert(sleepers > 0);
                       sleepers--;
#endif
                       vis = 0;
                       UNLOCK(mu)
                   }
                    linked = 0          /* unlink_all(): go and run it */
                :: else ->
                    atomic { idle_push_count(me) }  /* idle_push */
                    atomic { idle_push_link(me); UNLOCK(mu) }
end_wpark:
                    atomic { token[me] -> token[me] = 0 }   /* park */
                    /* tpi_worker_park_end(w) */
                    atomic {
                        LOCK(mu);
                        if
                        :: idle[me] -> idle_remove(me)
                        :: else -> pass = claimed[me]
                        fi;
                        claimed[me] = 0;
                        UNLOCK(mu)
                    }
                    if
                    :: pass ->
                        pass = 0;
#ifdef CLAIM_SETTLE
                        claim_settle();
#endif
                        wake_some(1)    /* wake_one(p): hand it on */
                    :: else
                    fi;
                    linked = 0          /* unlink_all() */
                fi
            :: else
            fi
        fi
    od;
    NEXT_TASK;                          /* the waiting task has run */
#endif

#ifdef LEAVER
    /* leave(w), on LV only: runs what is left on its own deque,
     *   while ((t = tpi_deque_pop(&w->dq)) != NULL) run_taken(w, t);
     * (run_task comes back here: lv), then return tpi_threads_leave(w). */
leave_pop:
    atomic { POP_OWN }
    if
    :: got -> goto run_task
    :: else
    fi;
    /* tpi_threads_leave(w): lock mu; leave = slot == RETIRING; if so
     * slot = EXITING; unlock */
    atomic {
        LOCK(mu);
        if
        :: slot == SLOT_RETIRING -> slot = SLOT_EXITING
        :: else -> lv = 0               /* kept by a grow (-DKEEP): LIVE */
        fi;
        UNLOCK(mu)
    }
    if
    :: !lv ->
        /* not left: f = find_local(w), which finds nothing (its deque
         * ran dry just now, and only its owner pushes there) */
        goto local_got
    :: else
    fi;
    /* left: out of the loop; on_stop hook; then, as sleep_or_exit's F1
     * and R1 with "leave" in place of "park": */
#ifndef BROKEN_LEAVE_NO_WAKE
    /* tpi_fence() -- sequential consistency */
    atomic { WV_FIRST }                 /* work_visible(p) */
    WV_REST;
#endif
    /* BROKEN_LEAVE_NO_WAKE: no fence, no look, no wake (vis stays 0). */
    /* tpi_threads_left(w, true, visible): lock mu; slot = EXITED;
     * broadcast state_cv; unlock; if (visible) tpi_wake_some(p, 1) */
    atomic { LOCK(mu); slot = SLOT_EXITED; UNLOCK(mu) }
    if
    :: vis -> vis = 0; wake_some(1)
    :: else
    fi;
    gone = 1                            /* return NULL: the thread ends */
#endif
}

#ifdef LEAVER
/* ---- the resizer: tp_pool_resize(p, NW - 1), threads.c adjust() ------------ */

active proctype resizer()
{
    /* lock mu; p->live > want: w = &p->workers[--p->live] */
    atomic {
        LOCK(mu);
        slot = SLOT_RETIRING;           /* w->slot = SLOT_RETIRING */
        retire = 1;                     /* atomic_store(&w->retire, true) */
        resized = 1
    }
    /* tpi_parker_unpark(&w->parker) (mu -> parker mutex); unlock mu */
    atomic { token[LV] = 1; UNLOCK(mu) }
#ifdef KEEP
    /* Maybe tp_pool_resize(p, NW) after it: adjust() -> start_slot()
     * keeps LV if it has not left yet (RETIRING -> LIVE, retire = false,
     * no unpark).  A slot EXITING or EXITED would get a new thread (after
     * waiting for EXITED): not modelled. */
    if
    :: atomic {
           LOCK(mu);
           if
           :: slot == SLOT_RETIRING -> retire = 0; slot = SLOT_LIVE
           :: else
           fi;
           UNLOCK(mu)
       }
    :: skip
    fi
#endif
}
#endif

/* ---- the properties ----------------------------------------------------------- */

#ifndef LTL
/* Runs only once no other process can move. */
active proctype quiescent()
{
    byte w, n;
    timeout ->
    atomic {
        assert(pushed == NT);               /* the submitter is done */
        assert(taken == NTOT);              /* (a) every task was taken */
        assert(inj_top == 0 && inj_ready == 0);
#ifdef LEAVER
        assert(resized);                    /* the resizer is done */
#endif
        w = 0;
        do
        :: w < NW ->
            assert(dq[w] == 0);
#ifdef LEAVER
            if
            :: w == LV && slot != SLOT_LIVE ->
                /* it left: its thread has ended, off the idle list; its
                 * token may remain (see the properties above) */
                assert(slot == SLOT_EXITED && gone);
                assert(!idle[w] && !at_park[w])
            :: else ->
                assert(at_park[w]);         /* parked in sleep_or_exit */
                assert(idle[w]);            /* (b) where a submit finds it */
                assert(!token[w])
            fi;
#else
            assert(at_park[w]);             /* parked in sleep_or_exit */
            assert(idle[w]);                /* (b) where a submit finds it */
            assert(!token[w]);
#endif
#ifdef CLAIM_SETTLE
            assert(!delivered[w]);          /* no stale delivery */
#endif
            n = n + idle[w];
            w++
        :: else -> break
        od;
        assert(sleepers == n);
        assert(searching == 0)
    }
}
#endif

init
{
    byte i;
    atomic {
        do
        :: i < NW -> iprev[i] = NIL; inext[i] = NIL; i++
        :: else -> break
        od;
        i = 0;
        do
        :: i < NW -> run worker(i); i++
        :: else -> break
        od
    }
}

#ifdef LTL
/* (a) alone, instead of the check at quiescence: a run that ends (every
 * process blocked) with a task not taken violates it, as spin extends a
 * finished run by stuttering. */
ltl all_taken { [] ((pushed == NT) -> <> (taken == NTOT)) }
#endif
