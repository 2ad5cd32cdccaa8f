/*
 * map.c - a hash map from non-zero 64-bit ids to pointers: the client's
 * tasks waiting for a reply, by future id.
 *
 * Open addressing with linear probing; deletion shifts the following
 * entries back (no tombstones, so a long-lived map with many removals does
 * not slow down).  The table doubles at 1/2 load.  Not thread-safe: the
 * client's mutex guards it.
 */
#include "redis_internal.h"

#include <stdlib.h>

void tpr_map_init(tpr_map *m)
{
    m->keys = NULL;
    m->vals = NULL;
    m->cap = 0;
    m->n = 0;
}

void tpr_map_free(tpr_map *m)
{
    free(m->keys);
    free(m->vals);
    tpr_map_init(m);
}

static size_t slot_of(uint64_t key, size_t cap)
{
    key ^= key >> 33;
    key *= 0xff51afd7ed558ccdULL;
    key ^= key >> 33;
    return (size_t)key & (cap - 1);
}

static void insert(uint64_t *keys, void **vals, size_t cap, uint64_t key,
                   void *val)
{
    size_t i = slot_of(key, cap);
    while (keys[i] != 0)
        i = (i + 1) & (cap - 1);
    keys[i] = key;
    vals[i] = val;
}

static int grow(tpr_map *m)
{
    size_t cap = m->cap ? m->cap * 2 : 64;
    uint64_t *keys = calloc(cap, sizeof *keys);
    void **vals = calloc(cap, sizeof *vals);
    if (!keys || !vals) {
        free(keys);
        free(vals);
        return TP_ENOMEM;
    }
    for (size_t i = 0; i < m->cap; i++)
        if (m->keys[i] != 0)
            insert(keys, vals, cap, m->keys[i], m->vals[i]);
    free(m->keys);
    free(m->vals);
    m->keys = keys;
    m->vals = vals;
    m->cap = cap;
    return 0;
}

int tpr_map_put(tpr_map *m, uint64_t key, void *val)
{
    if ((m->n + 1) * 2 > m->cap) {
        int rc = grow(m);
        if (rc != 0)
            return rc;
    }
    insert(m->keys, m->vals, m->cap, key, val);
    m->n++;
    return 0;
}

static size_t find(const tpr_map *m, uint64_t key)
{
    if (m->cap == 0 || key == 0)
        return SIZE_MAX;
    size_t i = slot_of(key, m->cap);
    while (m->keys[i] != 0) {
        if (m->keys[i] == key)
            return i;
        i = (i + 1) & (m->cap - 1);
    }
    return SIZE_MAX;
}

void *tpr_map_get(const tpr_map *m, uint64_t key)
{
    size_t i = find(m, key);
    return i == SIZE_MAX ? NULL : m->vals[i];
}

/* Empties slot i, then moves back every entry of the probe run after it
 * that would otherwise no longer be found. */
static void *remove_at(tpr_map *m, size_t i)
{
    void *val = m->vals[i];
    size_t mask = m->cap - 1;
    m->keys[i] = 0;
    m->vals[i] = NULL;
    m->n--;
    size_t j = i;
    for (;;) {
        j = (j + 1) & mask;
        if (m->keys[j] == 0)
            break;
        size_t home = slot_of(m->keys[j], m->cap);
        /* Entry j may move to the hole i if its home is not in (i, j]. */
        bool in_between = i <= j ? (home > i && home <= j)
                                 : (home > i || home <= j);
        if (!in_between) {
            m->keys[i] = m->keys[j];
            m->vals[i] = m->vals[j];
            m->keys[j] = 0;
            m->vals[j] = NULL;
            i = j;
        }
    }
    return val;
}

void *tpr_map_take(tpr_map *m, uint64_t key)
{
    size_t i = find(m, key);
    return i == SIZE_MAX ? NULL : remove_at(m, i);
}

void *tpr_map_pop_any(tpr_map *m)
{
    for (size_t i = 0; i < m->cap && m->n > 0; i++)
        if (m->keys[i] != 0)
            return remove_at(m, i);
    return NULL;
}
