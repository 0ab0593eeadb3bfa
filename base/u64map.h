/* A small open-addressing hash map from non-zero uint64 keys to uint64 values, for one
 * thread's private bookkeeping (an actor's links, monitors and timers; the I/O thread's
 * timers). Not thread-safe. Grows by doubling; deletions leave tombstones that the next
 * growth clears. */
#ifndef TR_BASE_U64MAP_H
#define TR_BASE_U64MAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct {
  uint64_t key; /* 0: empty; TR_U64MAP_TOMB: deleted */
  uint64_t val;
} tr_u64map_slot_t;

typedef struct {
  tr_u64map_slot_t *slots;
  uint32_t cap;  /* power of two, or 0 before the first put */
  uint32_t used; /* live + tombstones */
  uint32_t count;
} tr_u64map_t;

#define TR_U64MAP_TOMB UINT64_MAX

/* Keys 0 and TR_U64MAP_TOMB are reserved. put replaces an existing value. Returns 0 or
 * TR_ENOMEM. */
int tr__u64map_put(tr_u64map_t *m, uint64_t key, uint64_t val);
/* True when found (and *val filled if val is not NULL). */
bool tr__u64map_get(const tr_u64map_t *m, uint64_t key, uint64_t *val);
/* True when it was there (and *val filled if val is not NULL). */
bool tr__u64map_del(tr_u64map_t *m, uint64_t key, uint64_t *val);
void tr__u64map_free(tr_u64map_t *m);

/* Iterate: for (uint32_t i = 0; tr__u64map_next(m, &i, &k, &v);) ... */
bool tr__u64map_next(const tr_u64map_t *m, uint32_t *i, uint64_t *key, uint64_t *val);

#endif
