/* The byte-string hash map (dict.h). The table doubles past 3/4 full, so probes stay short;
 * deletion shifts the following entries of the probe run back instead of leaving tombstones. */
#include <stdlib.h>
#include <string.h>

#include "dict.h"

/* First table size: a session usually holds a few channels. */
#define DICT_MIN 8u

static uint64_t hash(const unsigned char *p, size_t n) {
  uint64_t h = 14695981039346656037ull; /* FNV-1a */
  for (size_t i = 0; i < n; i++)
    h = (h ^ p[i]) * 1099511628211ull;
  return h;
}

ps_entry_t *ps_dict_find(const ps_dict_t *d, const void *key, size_t klen) {
  if (!d->count)
    return NULL;
  uint64_t h = hash(key, klen);
  for (size_t i = h & (d->cap - 1);; i = (i + 1) & (d->cap - 1)) {
    ps_entry_t *e = &d->slot[i];
    if (!e->key)
      return NULL;
    if (e->hash == h && e->klen == klen && memcmp(e->key, key, klen) == 0)
      return e;
  }
}

static ps_entry_t *place(ps_dict_t *d, ps_entry_t src) {
  size_t i = src.hash & (d->cap - 1);
  while (d->slot[i].key)
    i = (i + 1) & (d->cap - 1);
  d->slot[i] = src;
  return &d->slot[i];
}

static bool grow(ps_dict_t *d) {
  size_t cap = d->cap ? d->cap * 2 : DICT_MIN;
  ps_entry_t *old = d->slot;
  size_t old_cap = d->cap;
  d->slot = calloc(cap, sizeof *d->slot);
  if (!d->slot) {
    d->slot = old;
    return false;
  }
  d->cap = cap;
  for (size_t i = 0; i < old_cap; i++)
    if (old[i].key)
      place(d, old[i]);
  free(old);
  return true;
}

ps_entry_t *ps_dict_add(ps_dict_t *d, const void *key, size_t klen, void *val) {
  if ((d->count + 1) * 4 > d->cap * 3 && !grow(d))
    return NULL;
  unsigned char *k = malloc(klen ? klen : 1);
  if (!k)
    return NULL;
  if (klen)
    memcpy(k, key, klen);
  d->count++;
  return place(d, (ps_entry_t){.key = k, .klen = klen, .hash = hash(k, klen), .val = val});
}

void ps_dict_del(ps_dict_t *d, ps_entry_t *e) {
  size_t mask = d->cap - 1, hole = (size_t)(e - d->slot);
  free(e->key);
  d->slot[hole] = (ps_entry_t){0};
  d->count--;
  /* Move back every later entry of the run whose home is not between the hole and it. */
  for (size_t i = (hole + 1) & mask; d->slot[i].key; i = (i + 1) & mask) {
    size_t home = d->slot[i].hash & mask;
    bool stays = hole <= i ? (home > hole && home <= i) : (home > hole || home <= i);
    if (stays)
      continue;
    d->slot[hole] = d->slot[i];
    d->slot[i] = (ps_entry_t){0};
    hole = i;
  }
}

ps_entry_t *ps_dict_any(const ps_dict_t *d) {
  for (size_t i = 0; d->count && i < d->cap; i++)
    if (d->slot[i].key)
      return &d->slot[i];
  return NULL;
}

void ps_dict_free(ps_dict_t *d) {
  for (size_t i = 0; i < d->cap; i++)
    free(d->slot[i].key);
  free(d->slot);
  *d = (ps_dict_t){0};
}
