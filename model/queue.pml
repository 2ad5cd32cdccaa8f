/*
 * queue.pml - a Promela model of the sleep/wake handshake of the blocking
 * queue tp_queue (src/queue.c, "Sleeping and waking: no lost wake-up" and
 * "Waking only whom nobody is waking yet" in its top comment), checked
 * exhaustively with spin by model/queue.sh.
 *
 * What is modelled
 *   - NPUT putters, each putting NPI items: one put_one per item, or with
 *     -DBATCH_PUT one put_items call for all of them (which, on a bounded
 *     queue, puts what fits, publishes it and waits for room for the rest).
 *   - NGET getters that get until they have their share of the NPUT * NPI
 *     items (get_one, or with -DMAXGET=m > 1 get_items with max = m); with
 *     -DCLOSE, until a get returns SHUTDOWN.
 *   - -DCAPACITY=c: a bounded queue (0, the default: unbounded).  Putters
 *     then wait for room, the mirror image of getters waiting for items.
 *   - -DCLOSE: one thread calls tp_queue_close at any moment.
 *   - -DTMO=t: every waiter's cond wait may time out, t times in all per
 *     thread (a timed call: wait_once returns expired, the call returns
 *     EMPTY or FULL unless the predicate now holds, and the caller calls
 *     again); -DSPUR=s: it may wake spuriously, s times in all per thread.
 *     The budgets are finite so that a thread that a lost wake-up leaves
 *     asleep still shows as blocked for ever.  A timeout may also be
 *     reported by a waiter that a signal has just unblocked (a signal that
 *     races with the deadline: POSIX lets that signal be spent on it).
 *   - -DGROW: a put may find the store too small (reserve): it re-reads len
 *     into len_hi and may then take take_lock as well and recompute len_hi
 *     as tail - head with both ends held (the growth itself moves no item
 *     in the model: its ring never fills up).
 *   - -DONE_LOCK: the LIFO and PRIORITY queues, whose gets take put_lock
 *     (take_lock_of), so one lock guards both ends.  The store stays the
 *     model's FIFO ring: with one lock, the order in which the store hands
 *     out items is not part of the handshake.  Without ONE_LOCK: a FIFO
 *     queue, one lock per end.
 *
 * Memory model: every access to len, getters and putters is one step of
 * Promela's interleaving, i.e. sequentially consistent.  That is exact for
 * the accesses the handshake rests on, which are all seq_cst in the C code
 * (the fetch_add/fetch_sub of len, getters and putters, the loads of
 * getters/putters in published/taken and of len in can_go): the argument
 * of the top comment is precisely that they lie in one total order, so
 * modelling each as one atomic step of an interleaving is exact.  It is
 * stronger than C11 for the acquire loads of len in ready/room/reserve
 * (len_of) and the relaxed accesses to getters/putters in wait_once and
 * wake.  Those do not decide whether anyone sleeps: an acquire load that
 * returns an old value only sends its thread on to wait_once, whose
 * seq_cst second look decides; the relaxed accesses are made under
 * wait_lock, which orders them, and getters-- is a read-modify-write of
 * the same counter, so the seq_cst load in published() cannot read a
 * value older than a getters++ that precedes it in the total order.  A mutex is a bit taken by a
 * blocking test-and-set.  Plain fields (closed, len_lo, len_hi, the woken
 * counts, head, tail, the slots) are only accessed under the lock that
 * guards them, so their steps may be merged into the neighbouring step of
 * the same critical section without losing an interleaving that matters.
 *
 * Condition variables: wblk[pid] is the condition variable that thread
 * pid is blocked on (0: none).  cond_wait releases wait_lock and blocks in
 * one step, then waits until a signal or broadcast clears wblk[pid] (or a
 * spurious wake-up or timeout, within the budgets), then takes wait_lock
 * again.  A signal unblocks one of the threads blocked on that variable,
 * any one (all choices explored), or is lost if none is; a broadcast
 * unblocks them all.
 *
 * Correspondence: model step <-> src/queue.c (function, statement, line
 * when this model was written; the function names are the reference)
 *   put_lock, take_lock,    q->put_lock, q->take_lock, q->wait_lock;
 *     wait_lock             lock()/unlock(): pthread_mutex_lock/unlock
 *   TAKE_END                take_lock_of() (163): take_lock, or put_lock
 *                           with ONE_LOCK
 *   qlen                    q->len (`len` is a Promela keyword)
 *   getters, putters        q->getters, q->putters
 *   getters_woken,          q->getters_woken, q->putters_woken
 *     putters_woken
 *   len_lo, len_hi          q->len_lo, q->len_hi
 *   closed                  q->closed
 *   slot[], head, tail,     the store (queue_store.h) as a ring of RING
 *     cnt                   slots holding item ids; cnt = tail - head
 *   wblk[], NOT_EMPTY,      q->not_empty, q->not_full
 *     NOT_FULL
 *   ready(w)                ready() (208): `if (q->len_lo < want)
 *                           q->len_lo = len_of(q)`, one step
 *   room()                  room() (196): `if (q->len_hi >= q->capacity)
 *                           q->len_hi = len_of(q)`, one step
 *   reserve(k)              reserve() (317): the fast test on len_hi
 *                           (319), `q->len_hi = len_of(q)` (321), the
 *                           growth path: lock take_lock (331), `q->len_hi
 *                           = q->tail - q->head` (332), unlock (-DGROW;
 *                           otherwise only the assert that the k slots at
 *                           the tail are free, the fast test)
 *   push in put_items       tpi_qstore_push (382, 429), k pushes in one
 *                           step (nobody reads them before len grows)
 *   published(k)            published() (348): `atomic_fetch_add(&q->len,
 *                           k)` with len_hi (355), one step; then
 *                           `atomic_load(&q->getters) > 0` (356), one step;
 *                           then wake() (357)
 *   pop in get_items        tpi_qstore_pop (401, 458), k pops in one step
 *   taken_(k)               taken() (362): `atomic_fetch_sub(&q->len, k)`
 *                           with len_lo (364); then, if capacity != 0,
 *                           `atomic_load(&q->putters) > 0` (365); then
 *                           wake() (366)
 *   wake(cv, w, wk, n)      wake() (229): lock wait_lock (232); k = min(n,
 *                           now - *woken); *woken += k (233-235), one step;
 *                           k times pthread_cond_signal (237), one step
 *                           each; unlock (238)
 *   wait_once(...)          wait_once() (254): lock wait_lock (265);
 *                           `atomic_fetch_add(waiting, 1)` (266); `sleep =
 *                           !can_go()` (267, can_go 242-246: the seq_cst
 *                           load of len, and closed), one step; if sleep:
 *                           unlock end (269), tpi_cond_wait (270);
 *                           `atomic_fetch_sub(waiting, 1)` (272); `if
 *                           (*woken > 0) (*woken)--` (273); unlock
 *                           wait_lock (275); if sleep: lock end (277)
 *   cond_wait(cv)           tpi_cond_wait (clock.c) ->
 *                           pthread_cond_wait / pthread_cond_timedwait
 *   wait_for_item()         wait_for_item() (284): while (ready(q, 1) ==
 *                           0) { closed -> SHUTDOWN; expired -> EMPTY;
 *                           expired = wait_once(end, true) }
 *   wait_for_room()         wait_for_room() (299): for (;;) { closed ->
 *                           SHUTDOWN; room() > 0 -> 0; expired -> FULL;
 *                           expired = wait_once(&q->put_lock, false) }
 *   put_items(n)            put_items() (410); put_one() (371) is the same
 *                           steps with n = 1 (its room() after
 *                           wait_for_room reads nothing: len_hi < cap)
 *   get_items(m)            get_items() (443); get_one() (391) is the same
 *                           steps with max = 1 (ready(q, 1) after the wait
 *                           reads nothing: len_lo >= 1)
 *   closer                  close_queue(q, false, ...) (723): lock_all
 *                           (726); closed = true (727); woken = waiting and
 *                           a broadcast, for getters (744-745) and for
 *                           putters (748-749), one step; unlock_all (753)
 *
 * Not modelled: close_now (which also empties the store), task_done/join
 * (all_done, joiners, done, puts: their own condition variable, woken only
 * by broadcasts), peek, the stats, polls (timeout 0: they never wait),
 * deadlines other than "this wait may time out", the store's growth itself
 * and priorities (no shared state of the handshake).
 *
 * Properties (every run checks all of them)
 *   - No lost wake-up: no invalid end state.  Every thread returns; init
 *     waits for all of them, so a getter (or putter) asleep for ever, with
 *     or without items left, or anyone stuck on a mutex, is an invalid end
 *     state.  Without CLOSE the getters' shares add up to the items put,
 *     so a getter that still sleeps at the end has been left behind.
 *   - Every item put is got exactly once, in FIFO order per putter (got[],
 *     taken[]), never read from an empty slot, never written over an item
 *     not yet got (slot[], cnt <= RING); at the end ngot == nput, len == 0,
 *     and without CLOSE nput == NPUT * NPI.  With CLOSE: getters get until
 *     SHUTDOWN, which a get returns only when closed and empty, so nothing
 *     may be left: items got + items left (0) = items published; a putter
 *     stops at SHUTDOWN.  (A close wakes every waiter, so it would also
 *     rescue a getter that a lost wake-up had left asleep: the runs without
 *     CLOSE are the ones that check the handshake itself.)
 *   - getters_woken <= getters and putters_woken <= putters whenever
 *     wait_lock is free (monitor), and the counts are 0 at the end.
 *   - len <= CAPACITY always (bounded), len_lo <= len when a get uses it,
 *     len_hi >= len when a put uses it, tail - head == len with both ends
 *     held (GROW).
 *
 * Variants that must FAIL (the model must catch each):
 *   -DBROKEN_GETTERS_EARLY  published() reads getters before len += k (the
 *                           seq_cst order of the put's write and read
 *                           undone): a getter that registers in between
 *                           sleeps with the item in the queue
 *   -DBROKEN_PUTTERS_EARLY  the mirror: taken() reads putters before
 *                           len -= k (bounded)
 *   -DBROKEN_NO_RECHECK     a getter sleeps right after getters++, without
 *                           can_go's second look at len
 *   -DBROKEN_SPLIT_WAIT     the wait is not atomic: wait_lock released, then
 *                           blocked, in two steps (a signal can come first)
 *   -DBROKEN_NO_ABSORB      a waiter that leaves its wait does not absorb a
 *                           pending signal (woken-- omitted)
 *   -DBROKEN_ABSORB_SIGNALLED  a waiter absorbs only when its wait did not
 *                           time out (with TMO)
 *   -DBROKEN_CLOSE_NO_BROADCAST  close sets closed but wakes nobody (CLOSE)
 */

#ifndef NPUT
#define NPUT 2          /* putters */
#endif
#ifndef NPI
#define NPI 1           /* items per putter */
#endif
#ifndef NGET
#define NGET 2          /* getters */
#endif
#ifndef MAXGET
#define MAXGET 1        /* a get's max: 1 is get_one */
#endif
#ifndef CAPACITY
#define CAPACITY 0      /* 0: unbounded */
#endif
#ifndef TMO
#define TMO 0           /* timeouts per thread */
#endif
#ifndef SPUR
#define SPUR 0          /* spurious wake-ups per thread */
#endif

#define NITEMS (NPUT * NPI)
#if CAPACITY > 0
#define RING CAPACITY   /* the store of a bounded queue never outgrows it */
#else
#define RING NITEMS     /* never full: no growth needed */
#endif

/* pids: init 0, monitor 1, putters, getters, closer */
#define NPROC (NPUT + NGET + 3)

/* return codes */
#define OK 0
#define SHUTDOWN 1
#define EMPTY 2
#define FULL 3

/* condition variables */
#define NOT_EMPTY 1
#define NOT_FULL 2

#ifdef ONE_LOCK
#define TAKE_END put_lock
#else
#define TAKE_END take_lock
#endif

#define MIN(a, b) ((a) < (b) -> (a) : (b))

/* ---- shared state --------------------------------------------------------- */

bit put_lock, take_lock, wait_lock;
byte qlen;                      /* q->len */
byte getters, putters;          /* waiting, seq_cst counters */
byte getters_woken, putters_woken;
bit closed;
byte len_hi;                    /* put end's upper bound on len */
byte len_lo;                    /* take end's lower bound on len */
byte slot[RING];                /* item ids; 0: free */
byte head, tail, cnt;           /* ring positions; cnt = tail - head */
byte wblk[NPROC];               /* cond var each thread is blocked on */

/* ghost state: the properties */
byte nput, ngot;                /* items published, items got */
bit got[NITEMS + 1];
byte taken[NPUT];               /* items of each putter got so far */

/* ---- locks and condition variables ---------------------------------------- */

inline lock(lk_)
{
    atomic { lk_ == 0 -> lk_ = 1 }
}

inline unlock(ulk_)
{
    ulk_ = 0
}

/* pthread_cond_(timed)wait(cw_, &wait_lock), wait_lock held.  Uses the
 * caller's tmo, spur, expired. */
inline cond_wait(cw_)
{
#ifdef BROKEN_SPLIT_WAIT
    wait_lock = 0;
    wblk[_pid] = cw_;
#else
    d_step { wblk[_pid] = cw_; wait_lock = 0 }
#endif
    if
    :: wblk[_pid] == 0 -> skip                           /* signalled */
    :: wblk[_pid] == 0 && tmo > 0 -> tmo--; expired = 1  /* signal spent on
                                                            a timeout */
    :: spur > 0 -> d_step { spur--; wblk[_pid] = 0 }     /* spurious */
    :: tmo > 0 -> d_step { tmo--; wblk[_pid] = 0; expired = 1 } /* timeout */
    fi;
    lock(wait_lock)
}

/* pthread_cond_signal: unblocks one thread blocked on cs_, any one; lost
 * if none is.  Uses the caller's i, n. */
inline cond_signal(cs_)
{
    atomic {
        i = 0;
        n = 0;
        do
        :: i < NPROC -> if :: wblk[i] == cs_ -> n++ :: else fi; i++
        :: else -> break
        od;
        i = 0;
        do
        :: n == 0 -> break
        :: n > 0 && wblk[i] == cs_ -> wblk[i] = 0; break  /* this one */
        :: n > 1 && wblk[i] == cs_ -> n--; i++           /* a later one */
        :: n > 0 && wblk[i] != cs_ -> i++
        od;
        i = 0;
        n = 0
    }
}

inline cond_broadcast(cb_)
{
    i = 0;
    do
    :: i < NPROC -> if :: wblk[i] == cb_ -> wblk[i] = 0 :: else fi; i++
    :: else -> break
    od;
    i = 0
}

/* ---- waiting and waking ------------------------------------------------------ */

/* wake(): signals up to wk_n of the waiters no signal is on its way to. */
inline wake(wk_cv, wk_waiting, wk_woken, wk_n)
{
    lock(wait_lock);
    d_step {
        assert(wk_woken <= wk_waiting);
        s = MIN(wk_n, wk_waiting - wk_woken);
        wk_woken = wk_woken + s
    }
    do
    :: s > 0 -> cond_signal(wk_cv); s--
    :: else -> break
    od;
    unlock(wait_lock)
}

/* wait_once(): wo_end held, nothing found.  wo_go: the predicate of
 * can_go() for this side (CAN_GET, CAN_PUT).  Sets expired. */
inline wait_once(wo_end, wo_cv, wo_waiting, wo_woken, wo_go)
{
    expired = 0;
    lock(wait_lock);
    wo_waiting++;                       /* seq_cst: the handshake's write */
    sleep = !(wo_go);                   /* seq_cst: the handshake's read */
    if
    :: sleep ->
        unlock(wo_end);
        cond_wait(wo_cv)
    :: else
    fi;
    wo_waiting--;
#ifndef BROKEN_NO_ABSORB
#ifdef BROKEN_ABSORB_SIGNALLED
    if :: wo_woken > 0 && !expired -> wo_woken-- :: else fi;
#else
    if :: wo_woken > 0 -> wo_woken-- :: else fi;
#endif
#endif
    unlock(wait_lock);
    if
    :: sleep -> sleep = 0; lock(wo_end)
    :: else
    fi
}

#ifdef BROKEN_NO_RECHECK
#define CAN_GET 0
#else
#define CAN_GET (closed || qlen > 0)
#endif
#define CAN_PUT (closed || qlen < CAPACITY)

/* ready(q, w) */
inline ready(rd_w)
{
    d_step {
        if
        :: len_lo < rd_w -> len_lo = qlen
        :: else
        fi
    }
}

/* room(q) into r */
inline room()
{
#if CAPACITY > 0
    d_step {
        if
        :: len_hi >= CAPACITY -> len_hi = qlen
        :: else
        fi;
        r = CAPACITY - len_hi
    }
#else
    r = 255
#endif
}

/* wait_for_item(q, TAKE_END, w): sets rc */
inline wait_for_item()
{
    expired = 0;                        /* timeout_ms != 0 */
    do
    :: true ->
        ready(1);
        if
        :: len_lo > 0 -> rc = OK; break
        :: else
        fi;
        if
        :: closed -> rc = SHUTDOWN; break
        :: else
        fi;
        if
        :: expired -> rc = EMPTY; expired = 0; break
        :: else
        fi;
        wait_once(TAKE_END, NOT_EMPTY, getters, getters_woken, CAN_GET)
    od
}

/* wait_for_room(q, w): sets rc */
inline wait_for_room()
{
    expired = 0;
    do
    :: true ->
        if
        :: closed -> rc = SHUTDOWN; break
        :: else
        fi;
        room();
        if
        :: r > 0 -> rc = OK; break
        :: else
        fi;
        if
        :: expired -> rc = FULL; expired = 0; break
        :: else
        fi;
        wait_once(put_lock, NOT_FULL, putters, putters_woken, CAN_PUT)
    od
}

/* reserve(q, k), put_lock held */
inline reserve(rs_k)
{
#ifdef GROW
    if
    :: true -> skip                     /* the fast test on len_hi passes */
    :: true ->
        len_hi = qlen;                  /* q->len_hi = len_of(q) */
        if
        :: true -> skip                 /* that fits */
        :: true ->                      /* grow, both ends held */
#ifndef ONE_LOCK
            lock(take_lock);
#endif
            d_step {
                assert(cnt == qlen);    /* exact now */
                len_hi = cnt
            }
#ifndef ONE_LOCK
            unlock(take_lock)
#endif
        fi
    fi;
#endif
    assert(len_hi <= RING - rs_k && len_hi >= qlen)
}

/* published(q, k) */
inline published(pb_k)
{
#ifdef BROKEN_GETTERS_EARLY
    g = getters;
    d_step { qlen = qlen + pb_k; len_hi = qlen; nput = nput + pb_k }
#else
    d_step { qlen = qlen + pb_k; len_hi = qlen; nput = nput + pb_k }
    g = getters;
#endif
    if
    :: g > 0 -> g = 0; wake(NOT_EMPTY, getters, getters_woken, pb_k)
    :: else
    fi
}

/* taken(q, k) */
inline taken_(tk_k)
{
#if CAPACITY > 0
#ifdef BROKEN_PUTTERS_EARLY
    g = putters;
    d_step { qlen = qlen - tk_k; len_lo = qlen }
#else
    d_step { qlen = qlen - tk_k; len_lo = qlen }
    g = putters;
#endif
    if
    :: g > 0 -> g = 0; wake(NOT_FULL, putters, putters_woken, tk_k)
    :: else
    fi
#else
    d_step { qlen = qlen - tk_k; len_lo = qlen }
#endif
}

/* ---- put and get -------------------------------------------------------------- */

/* put_items(q, the putter's items put .. pi_want - 1): sets rc, advances
 * put */
inline put_items(pi_want)
{
    lock(put_lock);
    rc = OK;
    do
    :: put < pi_want ->
        if
        :: closed -> wait_for_room()
        :: else ->
            room();
            if
            :: r == 0 -> wait_for_room()
            :: else
            fi
        fi;
        if
        :: rc != OK -> break
        :: else
        fi;
        room();
        k = MIN(pi_want - put, r);
        reserve(k);
        d_step {                        /* tpi_qstore_push, k times */
            assert(cnt + k <= RING);
            i = 0;
            do
            :: i < k ->
                assert(slot[tail] == 0);
                slot[tail] = me * NPI + put + i + 1;
                tail = (tail + 1) % RING;
                i++
            :: else -> break
            od;
            cnt = cnt + k;
            put = put + k;
            i = 0;
            r = 0
        }
        published(k);
        k = 0
    :: else -> break
    od;
    unlock(put_lock)
}

/* get_items(q, max = gi_m): sets rc, adds to have */
inline get_items(gi_m)
{
    lock(TAKE_END);
    rc = OK;
    ready(1);
    if
    :: len_lo == 0 -> wait_for_item()
    :: else
    fi;
    if
    :: rc == OK ->
        ready(gi_m);
        d_step {                        /* tpi_qstore_pop, k times */
            k = MIN(gi_m, len_lo);
            assert(k > 0 && len_lo <= qlen && k <= cnt);
            i = 0;
            do
            :: i < k ->
                item = slot[head];
                assert(item != 0);
                slot[head] = 0;
                head = (head + 1) % RING;
                assert(!got[item]);
                got[item] = 1;
                /* FIFO per putter */
                assert((item - 1) % NPI == taken[(item - 1) / NPI]);
                taken[(item - 1) / NPI]++;
                i++
            :: else -> break
            od;
            cnt = cnt - k;
            ngot = ngot + k;
            have = have + k;
            i = 0;
            item = 0
        }
        taken_(k);
        k = 0
    :: else
    fi;
    unlock(TAKE_END)
}

/* ---- threads ------------------------------------------------------------------ */

proctype putter(byte me)
{
    byte put, want, k, r, rc, g, s, i, n;
    byte tmo = TMO, spur = SPUR;
    bit expired, sleep;

    do
    :: put < NPI ->
#ifdef BATCH_PUT
        want = NPI;                     /* put_items: the rest at once */
#else
        want = put + 1;                 /* put_one */
#endif
        put_items(want);
        if
        :: rc == SHUTDOWN -> break
        :: else                         /* OK, or FULL: call again */
        fi
    :: else -> break
    od
}

proctype getter(byte share)
{
    byte have, mx, k, item, rc, g, s, i, n;
    byte tmo = TMO, spur = SPUR;
    bit expired, sleep;

    do
#ifdef CLOSE
    :: true ->
        mx = MAXGET;
        get_items(mx);
        if
        :: rc == SHUTDOWN -> break
        :: else                         /* OK, or EMPTY: call again */
        fi
#else
    :: have < share ->
        mx = MIN(MAXGET, share - have);
        get_items(mx)
    :: else -> break
#endif
    od
}

proctype closer()
{
    byte i;

    lock(put_lock);
    lock(take_lock);
    lock(wait_lock);
    d_step {
        closed = 1;
        if
        :: getters > 0 ->
            getters_woken = getters;
#ifndef BROKEN_CLOSE_NO_BROADCAST
            cond_broadcast(NOT_EMPTY)
#endif
        :: else
        fi;
        if
        :: putters > 0 ->
            putters_woken = putters;
#ifndef BROKEN_CLOSE_NO_BROADCAST
            cond_broadcast(NOT_FULL)
#endif
        :: else
        fi
    }
    unlock(wait_lock);
    unlock(take_lock);
    unlock(put_lock)
}

/* woken <= waiting whenever wait_lock is free (wait_once decrements the
 * two in turn under it); len <= capacity always. */
proctype monitor()
{
end:
    atomic {
        (!wait_lock && (getters_woken > getters || putters_woken > putters)) ||
            (CAPACITY > 0 && qlen > CAPACITY) ->
        assert(wait_lock ||
               (getters_woken <= getters && putters_woken <= putters));
        assert(CAPACITY == 0 || qlen <= CAPACITY)
    }
}

init {
    byte j;

    atomic {
        run monitor();
        j = 0;
        do
        :: j < NPUT -> run putter(j); j++
        :: else -> break
        od;
        j = 0;
        do
        :: j < NGET ->
            run getter(NITEMS / NGET + (j < NITEMS % NGET -> 1 : 0));
            j++
        :: else -> break
        od;
#ifdef CLOSE
        run closer();
#endif
        j = 0
    }
    /* every thread has returned: only the monitor and init are left */
    _nr_pr == 2;
    d_step {
        assert(getters == 0 && putters == 0);
        assert(getters_woken == 0 && putters_woken == 0);
        assert(ngot == nput && qlen == 0 && cnt == 0);
        assert(!put_lock && !take_lock && !wait_lock);
#ifdef CLOSE
        assert(closed);
#else
        assert(nput == NITEMS);
#endif
    }
}
