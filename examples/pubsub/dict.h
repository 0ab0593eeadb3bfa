/* A hash map from byte strings to pointers, for the server's sets and indexes (a session's
 * channels, the directory's topics, the index's patterns). Open addressing with linear
 * probing and backward-shift deletion, so there are no tombstones and a map that shrinks
 * stays fast. Owned by one actor; not thread-safe. */
#ifndef PUBSUB_DICT_H
#define PUBSUB_DICT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct {
  unsigned char *key; /* NULL: the slot is free */
  size_t klen;
  uint64_t hash;
  void *val;
} ps_entry_t;

typedef struct {
  ps_entry_t *slot;
  size_t cap; /* a power of two, or 0 */
  size_t count;
} ps_dict_t;

/* The entry for a key, or NULL. */
ps_entry_t *ps_dict_find(const ps_dict_t *d, const void *key, size_t klen);
/* Add a key (copied) with val; the key must not be present. Returns the entry (valid until
 * the next add or delete) or NULL when out of memory. */
ps_entry_t *ps_dict_add(ps_dict_t *d, const void *key, size_t klen, void *val);
/* Remove an entry (frees its key copy, not val). Other entries may move. */
void ps_dict_del(ps_dict_t *d, ps_entry_t *e);
/* Free the table and every key (not the values). */
void ps_dict_free(ps_dict_t *d);
/* Any entry, or NULL when empty (to empty a map one entry at a time). */
ps_entry_t *ps_dict_any(const ps_dict_t *d);

#endif
