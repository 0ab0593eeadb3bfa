/* The uint64 hash map (see u64map.h). */
#include <stdlib.h>

#include "base/base.h"
#include "base/u64map.h"

static inline uint32_t hash(uint64_t k, uint32_t mask) {
  k ^= k >> 33;
  k *= UINT64_C(0xff51afd7ed558ccd); /* murmur3's finaliser: pids and counters spread well */
  k ^= k >> 33;
  return (uint32_t)k & mask;
}

static int rehash(tr_u64map_t *m, uint32_t cap) {
  tr_u64map_slot_t *old = m->slots;
  uint32_t old_cap = m->cap;
  m->slots = calloc(cap, sizeof *m->slots);
  if (!m->slots) {
    m->slots = old;
    return TR_ENOMEM;
  }
  m->cap = cap;
  m->used = m->count = 0;
  for (uint32_t i = 0; i < old_cap; i++)
    if (old[i].key && old[i].key != TR_U64MAP_TOMB)
      tr__u64map_put(m, old[i].key, old[i].val);
  free(old);
  return 0;
}

int tr__u64map_put(tr_u64map_t *m, uint64_t key, uint64_t val) {
  TR_ASSERT(key != 0 && key != TR_U64MAP_TOMB);
  if ((m->used + 1) * 4 > m->cap * 3) {
    /* Mostly tombstones: rehash at the same size; else double. */
    uint32_t cap = m->cap == 0 ? 8 : (m->count + 1) * 2 > m->cap ? m->cap * 2 : m->cap;
    if (rehash(m, cap) != 0)
      return TR_ENOMEM;
  }
  uint32_t mask = m->cap - 1, i = hash(key, mask), tomb = UINT32_MAX;
  for (;; i = (i + 1) & mask) {
    uint64_t k = m->slots[i].key;
    if (k == key) {
      m->slots[i].val = val;
      return 0;
    }
    if (k == TR_U64MAP_TOMB && tomb == UINT32_MAX)
      tomb = i;
    if (k == 0)
      break;
  }
  if (tomb != UINT32_MAX) {
    i = tomb; /* reuse a tombstone: `used` stays */
  } else {
    m->used++;
  }
  m->slots[i].key = key;
  m->slots[i].val = val;
  m->count++;
  return 0;
}

static int64_t find(const tr_u64map_t *m, uint64_t key) {
  if (m->cap == 0 || key == 0 || key == TR_U64MAP_TOMB)
    return -1;
  uint32_t mask = m->cap - 1;
  for (uint32_t i = hash(key, mask);; i = (i + 1) & mask) {
    if (m->slots[i].key == key)
      return i;
    if (m->slots[i].key == 0)
      return -1;
  }
}

bool tr__u64map_get(const tr_u64map_t *m, uint64_t key, uint64_t *val) {
  int64_t i = find(m, key);
  if (i < 0)
    return false;
  if (val)
    *val = m->slots[i].val;
  return true;
}

bool tr__u64map_del(tr_u64map_t *m, uint64_t key, uint64_t *val) {
  int64_t i = find(m, key);
  if (i < 0)
    return false;
  if (val)
    *val = m->slots[i].val;
  m->slots[i].key = TR_U64MAP_TOMB;
  m->count--;
  return true;
}

void tr__u64map_free(tr_u64map_t *m) {
  free(m->slots);
  m->slots = NULL;
  m->cap = m->used = m->count = 0;
}

bool tr__u64map_next(const tr_u64map_t *m, uint32_t *i, uint64_t *key, uint64_t *val) {
  for (; *i < m->cap; (*i)++) {
    uint64_t k = m->slots[*i].key;
    if (k && k != TR_U64MAP_TOMB) {
      *key = k;
      *val = m->slots[*i].val;
      (*i)++;
      return true;
    }
  }
  return false;
}
