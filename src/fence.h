/*
 * fence.h - a sequentially consistent fence that ThreadSanitizer accepts
 * (internal).
 *
 * The scheduler needs store-load ordering in a few places (Dekker-style
 * hand-shakes between a sleeping worker and a submitter, and the
 * Chase-Lev deque).  ThreadSanitizer does not model atomic_thread_fence
 * and gcc refuses to compile one under -fsanitize=thread.  In that build
 * the fence becomes a sequentially consistent read-modify-write of a
 * dummy word: a full barrier on every machine TSan runs on, so the
 * sanitized program still executes the algorithm it checks.
 */
#ifndef TPI_FENCE_H
#define TPI_FENCE_H

#include <stdatomic.h>

#if defined(__SANITIZE_THREAD__)
#define TPI_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define TPI_TSAN 1
#endif
#endif

#ifdef TPI_TSAN
extern _Atomic int tpi_fence_word;
#define tpi_fence()                                                            \
    ((void)atomic_fetch_add_explicit(&tpi_fence_word, 0, memory_order_seq_cst))
#else
#define tpi_fence() atomic_thread_fence(memory_order_seq_cst)
#endif

#endif
