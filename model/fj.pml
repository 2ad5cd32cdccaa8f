/*
 * fj.pml - a model of the fork-join split deque (src/fj.c, src/fj.h),
 * checked exhaustively with spin (model/fj.sh).
 *
 * One owner spawns and syncs frames on its deque in every strictly nested
 * order that fits in N slots and K spawns, including frames spawned while
 * it waits for a stolen one (what it runs meanwhile), and publishes
 * whenever the C code may.  THIEVES thieves steal from the deque at any
 * moment, or stop.  Every step that the C code does as one atomic
 * instruction is one atomic step here; everything else is a step of its
 * own, so that the other processes can interleave between them.
 *
 * Checked:
 *   - a frame runs at most once: never by two thieves, never by the owner
 *     and a thief (assert in run_frame);
 *   - a sync returns only once its frame has run, with that frame's result
 *     (assert in the owner: done[k] and the frame the owner meant);
 *   - no frame is lost: at the end every spawned frame ran exactly once
 *     (assert at the end of the owner);
 *   - no lost wake-up and no deadlock: a waiting owner parks (blocks on its
 *     token) and must be woken by the thief; spin reports any state where
 *     a process is blocked for ever (invalid end state).
 *
 * Correspondence with the C code:
 *   tail, split        ts (one 64-bit word: tail | split << 32); every
 *                      atomic {} that touches them is one RMW of ts, or the
 *                      reset's store
 *   want               tpi_fj.want
 *   slot[i]            tpi_fj.slot[i] (frame ids stand for frame pointers)
 *   head, osplit       tpi_fj.head, tpi_fj.split (owner only)
 *   fstate[k]          tpi_fj_frame.state of frame k: THIEF, DONE, WAITING
 *   token              the owner's parker (tpi_parker: one token)
 *   spawn()            tp_spawn() + spawn_slow() (reset, then publish)
 *   sync()             tp_sync() fast path, sync_slow(), reclaim()
 *   join()             join_stolen(): helping is modelled by allowing the
 *                      owner to spawn and sync more frames while it waits
 *                      (they go above the stolen frame's slot, which stays
 *                      taken until DONE); parking is the WAITING RMW, then
 *                      blocking on the token
 *   offer()            tpi_fj_offer(): publish every private frame (the C
 *                      code does it when the owner starts to help in a
 *                      wait; allowed at any time here, a superset)
 *   thief()            steal_from() + run_stolen(): load ts, CAS, then read
 *                      the slot (a separate step: the thief may be
 *                      descheduled between its claim and its read), run,
 *                      then the DONE RMW and, if it saw WAITING, the unpark
 *                      (tpi_worker_unpark_waiting; the idle-list side of that
 *                      is the pool's protocol, argued in fj.c)
 *
 * Build with -DPOP_BEFORE_JOIN to model the owner freeing a stolen frame's
 * slot before the thief is done with it: spin then finds a frame run twice
 * (the thief reads a slot the owner has reused).
 */

#ifndef N
#define N 3 /* slots */
#endif
#ifndef K
#define K 4 /* spawns in all */
#endif
#ifndef THIEVES
#define THIEVES 2
#endif

#define THIEF 1
#define DONE 2
#define WAITING 4

byte tail, split;   /* ts */
bit want;
byte slot[N];
byte runs[K + 1];    /* times each frame ran */
bit done[K + 1];     /* its result is there */
byte fstate[K + 1];
bit token;           /* the owner's parker */
bit finished;        /* the owner is done: thieves stop */

/* Frame k runs (body and result): exactly once. */
inline run_frame(k)
{
    d_step {
        assert(runs[k] == 0);
        runs[k]++
    }
}

proctype thief()
{
    byte t, s, k, old;
    bit got;
    do
    :: finished -> break
    :: true -> break                     /* a thief may stop at any time */
    :: true ->
        /* steal_from(): load ts */
        d_step { t = tail; s = split }
        if
        :: t >= s ->
            /* nothing public: ask the owner to publish */
            if
            :: want == 0 -> want = 1
            :: else -> skip
            fi
        :: else ->
            /* the CAS that claims index t (fails: lost a race) */
            d_step {
                if
                :: tail == t && split == s -> tail = t + 1; got = 1
                :: else -> got = 0
                fi
            }
            if
            :: got ->
                k = slot[t];             /* read the slot, after the claim */
                fstate[k] = fstate[k] | THIEF; /* fetch_or: who runs it */
                run_frame(k);
                /* the result, then the DONE RMW: last access to the frame */
                d_step {
                    done[k] = 1;
                    old = fstate[k];
                    fstate[k] = fstate[k] | DONE
                }
                if
                :: old & WAITING -> token = 1 /* unpark the owner */
                :: else -> skip
                fi
            :: else -> skip
            fi
        fi;
        /* locals cleared between attempts: fewer states, same behaviours */
        d_step { t = 0; s = 0; k = 0; old = 0; got = 0 }
    od
}

/* The owner's state: frames ids on the deque, and the stolen frames it
 * waits for (a stack: waiting ones nest). */
byte head, osplit;
byte spawned;
byte mine[N];        /* the frame the owner put in each slot */
byte jidx[N];        /* slots of frames being waited for, innermost last */
byte njoin;

/* publish(): fetch_add on split, then clear want (a step of its own). */
inline publish(cnt)
{
    d_step { split = split + cnt };
    osplit = osplit + cnt;
    want = 0
}

inline spawn()
{
    spawned++;
    slot[head] = spawned;
    mine[head] = spawned;
    fstate[spawned] = 0;
    head++;
    /* spawn_slow(): a frozen ts (every older frame stolen) is reset with a
     * plain store, then a publish request is served. */
    if
    :: osplit > head - 1 ->
        d_step {
            assert(tail == split); /* frozen: no thief can change it */
            tail = head - 1;
            split = head - 1
        };
        osplit = head - 1
    :: else -> skip
    fi;
    if
    :: want -> publish((head - osplit + 1) / 2)
    :: else -> skip
    fi
}

inline offer()
{
    publish(head - osplit)
}

#define CLEAR d_step { h = 0; t = 0; s = 0; ns = 0; k = 0; old = 0; ok = 0 }

proctype owner()
{
    byte h, t, s, ns, k, old;
    bit ok;
    do
    /* spawn a frame */
    :: spawned < K && head < N -> spawn()
    /* make private frames public (help in a wait) */
    :: head > osplit -> offer()
    /* sync the newest frame, if it is not the one being waited for */
    :: head > 0 && (njoin == 0 || head - 1 > jidx[njoin - 1]) ->
        h = head - 1;
        k = mine[h];
        if
        :: head > osplit ->
            /* fast path: private, run it here */
            head = h;
            run_frame(k);
            done[k] = 1
        :: else ->
            /* reclaim(): load ts, then CAS the split down */
            ok = 0;
            do
            :: d_step { t = tail; s = split };
               if
               :: t > h -> break     /* stolen */
               :: else ->
                   ns = t + (s - t) / 2;
                   atomic {
                       if
                       :: tail == t && split == s -> split = ns; ok = 1
                       :: else -> skip
                       fi
                   };
                   if
                   :: ok -> osplit = ns; break
                   :: else -> skip   /* a thief moved tail: again */
                   fi
               fi
            od;
            if
            :: ok ->
                head = h;
                run_frame(k);
                done[k] = 1
            :: else ->
                /* stolen: wait for it (join), its slot still taken */
                jidx[njoin] = h;
                njoin++;
#ifdef POP_BEFORE_JOIN
                head = h;
#endif
                skip
            fi
        fi;
        CLEAR
    /* the innermost waited-for frame is done and nothing is above it */
    :: njoin > 0 && done[mine[jidx[njoin - 1]]] &&
#ifdef POP_BEFORE_JOIN
       head == jidx[njoin - 1] ->
#else
       head == jidx[njoin - 1] + 1 ->
#endif
        h = jidx[njoin - 1];
        k = mine[h];
        assert(done[k] && runs[k] == 1);
        njoin--;
        jidx[njoin] = 0;
        head = h;
        CLEAR
    /* nothing to help with: park until the thief is done */
    :: njoin > 0 && !done[mine[jidx[njoin - 1]]] ->
        k = mine[jidx[njoin - 1]];
        d_step { old = fstate[k]; fstate[k] = fstate[k] | WAITING };
        if
        :: old & DONE -> skip
        :: else ->
            token == 1;              /* park: blocks until unparked */
            token = 0
        fi;
        CLEAR
    /* all spawned, all synced */
    :: spawned == K && head == 0 && njoin == 0 -> break
    od;
    /* every frame ran exactly once, and nothing was lost */
    k = 1;
    do
    :: k <= K -> assert(runs[k] == 1 && done[k]); k++
    :: else -> break
    od;
    finished = 1
}

init
{
    byte i;
    atomic {
        run owner();
        i = 0;
        do
        :: i < THIEVES -> run thief(); i++
        :: else -> break
        od
    }
}
