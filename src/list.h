/*
 * list.h - an intrusive FIFO of tasks, linked through tpi_task.next
 * (internal).
 *
 * The pool's injectors, the chains a submit builds before queueing them
 * in one go, and the lists a shutdown sweeps together are all this one
 * list: a head, a tail, and the tasks' own `next` links, so that queueing
 * allocates nothing.  Not synchronised: its owner says what guards it.
 */
#ifndef TPI_LIST_H
#define TPI_LIST_H

#include <stdbool.h>
#include <stddef.h>

#include "future.h"

typedef struct tpi_list {
    tpi_task *head, *tail;
} tpi_list;

#define TPI_LIST_INIT {NULL, NULL}

static inline bool tpi_list_empty(const tpi_list *l)
{
    return l->head == NULL;
}

/* Appends one task. */
static inline void tpi_list_push(tpi_list *l, tpi_task *f)
{
    f->next = NULL;
    if (l->tail != NULL)
        l->tail->next = f;
    else
        l->head = f;
    l->tail = f;
}

/* Moves every task of `from` to the end of l, in order; `from` is left
 * empty. */
static inline void tpi_list_splice(tpi_list *l, tpi_list *from)
{
    if (from->head == NULL)
        return;
    if (l->tail != NULL)
        l->tail->next = from->head;
    else
        l->head = from->head;
    l->tail = from->tail;
    from->head = from->tail = NULL;
}

/* Takes the first task off (NULL if empty). */
static inline tpi_task *tpi_list_pop(tpi_list *l)
{
    tpi_task *f = l->head;
    if (f != NULL) {
        l->head = f->next;
        if (l->head == NULL)
            l->tail = NULL;
        f->next = NULL;
    }
    return f;
}

/* Reverses a chain of tasks linked through `next` and ending in NULL;
 * returns its new first task (the old last).  *n, if not NULL, receives
 * its length. */
static inline tpi_task *tpi_chain_reverse(tpi_task *t, size_t *n)
{
    tpi_task *rev = NULL;
    size_t k = 0;
    while (t != NULL) {
        tpi_task *next = t->next;
        t->next = rev;
        rev = t;
        t = next;
        k++;
    }
    if (n != NULL)
        *n = k;
    return rev;
}

/* Takes the first k tasks off as a list of their own (k <= length). */
static inline tpi_list tpi_list_take(tpi_list *l, size_t k)
{
    tpi_list out = TPI_LIST_INIT;
    if (k == 0 || l->head == NULL)
        return out;
    tpi_task *last = l->head;
    for (size_t i = 1; i < k && last->next != NULL; i++)
        last = last->next;
    out.head = l->head;
    out.tail = last;
    l->head = last->next;
    if (l->head == NULL)
        l->tail = NULL;
    last->next = NULL;
    return out;
}

#endif
