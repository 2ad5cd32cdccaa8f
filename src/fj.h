/*
 * fj.h - fork-join frames: a worker's split deque of spawned frames
 * (internal; the API is tp_spawn/tp_sync/tp_fj_run in tpool.h).
 *
 * A spawned frame lives on the spawning function's stack (tp_fj_frame).
 * Each worker keeps pointers to the frames it spawned and has not synced,
 * oldest first, in slot[0 .. head).  The array is split in two at `split`:
 *
 *      0          tail            split                 head
 *      | claimed   | public        | private              |
 *
 *   private  [split, head): only the owner knows of them.  Spawning one is
 *            plain stores (fn, arg, state, slot, head); syncing one that is
 *            still private is head-- and a direct call.
 *   public   [tail, split): thieves take the oldest with one CAS on `ts`,
 *            the word that holds both tail and split, so that a thief's
 *            claim fails whenever the owner moved the split meanwhile.
 *   claimed  [0, tail): taken by thieves (or synced already).
 *
 * Moving the split is the owner's business and happens on slow paths only:
 *   publish  a thief that finds nothing public sets `want`; the owner reads
 *            it (relaxed load) on its next spawn, moves the split up over
 *            the older half of its private frames (one fetch_add), clears
 *            `want` and wakes a sleeping worker (tpi_wake_some: the pool's
 *            sleep protocol covers published frames, see work_visible()).
 *            A worker that starts to help in a wait publishes all its
 *            private frames the same way.
 *   reclaim  the owner syncs a frame that is public: it CASes the split
 *            down to halfway between tail and split (the newer half
 *            becomes private again), unless tail has passed the frame, in
 *            which case a thief has it: the owner then waits for the
 *            frame's DONE bit, running other work meanwhile (from the
 *            thief's deque first: "leapfrogging"), and parks only when
 *            there is none.  Until DONE the frame keeps its slot (head
 *            stays above it): the thief may not have read the slot yet,
 *            and frames spawned meanwhile must not overwrite it.
 *   reset    after the owner met a stolen frame, ts is frozen at
 *            tail == split (no thief can change it) above head; its next
 *            spawn stores tail = split = head, making room for new private
 *            frames.
 * Every change of ts is an atomic read-modify-write (thieves and owner)
 * or, for the reset, a store that no RMW can race with; so each frame of
 * the public part is claimed exactly once, by a thief's CAS of tail or by
 * the owner's CAS of split.  model/fj.pml checks this protocol.
 *
 * A frame's `state` word: 0 (not stolen), else the thief's worker pointer
 * (aligned, so the low bits are free) with DONE once the thief has stored
 * the result, and WAITING once the owner is about to park for it.  The
 * thief's last access to the frame is the RMW that sets DONE; if it saw
 * WAITING, it then wakes the owner through the owner's worker (which
 * outlives the frame).
 */
#ifndef TPI_FJ_H
#define TPI_FJ_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "deque.h" /* TPI_CACHE_LINE */
#include "future.h"
#include "tpool.h"

/* Frames one worker can hold unsynced; a spawn beyond it runs at once. */
#define TPI_FJ_CAP TP_FJ_DEPTH

typedef struct tpi_worker tpi_worker;

typedef struct tpi_fj_frame {
    tp_task_fn fn;           /* NULL: ran at spawn, result is set */
    void *arg;
    void *result;            /* a thief's result (before DONE) */
    _Atomic uintptr_t state; /* thief | TPI_FJ_DONE | TPI_FJ_WAITING */
} tpi_fj_frame;

#define TPI_FJ_DONE ((uintptr_t)1)
#define TPI_FJ_WAITING ((uintptr_t)2)
#define TPI_FJ_FLAGS ((uintptr_t)3)

typedef struct tpi_fj {
    /* Thieves and owner. */
    _Alignas(TPI_CACHE_LINE) _Atomic uint64_t ts; /* tail | split << 32 */
    _Atomic unsigned want; /* a thief found nothing public */

    /* Owner only (as spawner, and as thief for `carrier`). */
    _Alignas(TPI_CACHE_LINE) uint32_t head; /* next free slot */
    uint32_t split;    /* ts's split, as the owner last set it */
    tpi_worker *self;
    tpi_worker *victim; /* owner of the frame `carrier` hands over */
    tpi_task carrier;  /* a stolen frame, as the scheduler's task */

    /* Written by the owner while private, read by the thief that claims
     * them (after its CAS); never atomic: see fj.c. */
    tpi_fj_frame *slot[TPI_FJ_CAP];
} tpi_fj;

/* ---- the scheduler's hooks (sched.c, pool.c) ---------------------------- */

/* Sets up w's deque (w->fj): empty. */
void tpi_fj_init(tpi_worker *w);

/* Whether w's deque has public frames (R1 of the sleep protocol). */
static inline bool tpi_fj_visible(tpi_fj *q)
{
    uint64_t ts = atomic_load_explicit(&q->ts, memory_order_acquire);
    return (uint32_t)ts < (uint32_t)(ts >> 32);
}

/* Called by a worker that looks for work.  Private frames on its deque
 * mean that its task waits (the scheduler loop has none): they become
 * public, so that other workers, or this one while it helps, can run them
 * meanwhile; otherwise a frame whose spawner waits for something that
 * depends on it would never run. */
void tpi_fj_offer_slow(tpi_fj *q);
static inline void tpi_fj_offer(tpi_fj *q)
{
    if (q->head > q->split)
        tpi_fj_offer_slow(q);
}

/* Called by worker w looking for work: tries to claim the oldest public
 * frame of another worker, then of its own deque.  Returns w's carrier
 * task for run_taken() to hand to tpi_fj_run_carrier(), or NULL. */
tpi_task *tpi_fj_steal(tpi_worker *w);

/* The carrier's fn: marks it; never called. */
void *tpi_fj_carrier(void *arg);

/* Runs the frame that w's carrier holds, as its thief. */
void tpi_fj_run_carrier(tpi_worker *w, tpi_task *carrier);

#endif
