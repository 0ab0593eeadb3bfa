/* The actor table: pid -> actor, lock-free to read.
 *
 * A pid packs [node:12][generation:26][slot:26]. The table maps a slot to the actor living in
 * it; a lookup succeeds only when that actor's pid equals the pid asked for, so a stale pid
 * (an earlier generation of the slot) never reaches the newer actor. Slots live in chunks
 * allocated as the table grows; the chunk directory is sized for the configured maximum.
 *
 * Freed slots are reused late: each worker keeps its freed slots in a FIFO and reuses one only
 * after TR_SLOT_REUSE_DELAY others have been freed after it; with 26 generation bits a slot
 * then needs billions of spawns on one worker before a generation repeats. */
#ifndef TR_ACTORS_TABLE_H
#define TR_ACTORS_TABLE_H

#include <pthread.h>
#include <stdbool.h>
#include <stdatomic.h>
#include <stdint.h>

#include "troupe/actor.h"

#define TR_PID_SLOT_BITS 26
#define TR_PID_GEN_BITS 26
#define TR_PID_NODE_BITS 12
#define TR_PID_SLOT_MASK ((UINT64_C(1) << TR_PID_SLOT_BITS) - 1)
#define TR_PID_GEN_MASK ((UINT64_C(1) << TR_PID_GEN_BITS) - 1)

#define TR_TABLE_CHUNK_BITS 14
#define TR_TABLE_CHUNK (1u << TR_TABLE_CHUNK_BITS)
/* Fresh slots are handed to a worker this many at a time (one shared increment per batch). */
#define TR_SLOT_FRESH_BATCH 64u
#define TR_SLOT_CACHE 512u       /* freed slots a worker keeps */
#define TR_SLOT_REUSE_DELAY 256u /* ... and how many must queue behind one before reuse */

struct tr_actor;

/* A slot's tag, beside its pointer: the generation of the actor published there, shifted up
 * one, | TR_TAG_DIRECT when sends to it must not be gathered (its mailbox drops or fails
 * when full, or it is a client's). It lets a sender check a pid and choose its send path
 * from the table alone, which every core keeps in its cache, without reading the
 * receiver's first line, which the receiver's other senders keep writing (send.c). */
#define TR_TAG_DIRECT 1u

typedef struct tr_table_chunk {
  _Atomic(struct tr_actor *) slot[TR_TABLE_CHUNK];
  _Atomic uint32_t tag[TR_TABLE_CHUNK];
} tr_table_chunk_t;

/* A freed slot: slot number | next generation << 32. */
typedef uint64_t tr_slot_entry_t;

typedef struct tr_slot_cache {
  tr_slot_entry_t ring[TR_SLOT_CACHE]; /* FIFO of freed slots */
  uint32_t head, count;
  uint32_t fresh_next, fresh_end; /* a range of never-used slots */
} tr_slot_cache_t;

typedef struct tr_table {
  _Atomic(tr_table_chunk_t *) *dir;
  uint32_t cap; /* slots */
  uint32_t node;
  _Atomic uint32_t fresh; /* next never-used slot */
  pthread_mutex_t mu;     /* guards the global free FIFO, chunk creation, `foreign` */
  tr_slot_entry_t *gfree;
  size_t gcap, ghead, gcount;
  tr_slot_cache_t foreign; /* the cache of threads that are not workers */
  _Atomic uint64_t chunks_bytes;
} tr_table_t;

int tr__table_init(tr_table_t *t, uint32_t cap, uint32_t node);
void tr__table_destroy(tr_table_t *t);

static inline uint32_t tr__pid_slot(tr_pid_t p) { return (uint32_t)(p.id & TR_PID_SLOT_MASK); }
static inline uint32_t tr__pid_node(tr_pid_t p) {
  return (uint32_t)(p.id >> (TR_PID_SLOT_BITS + TR_PID_GEN_BITS));
}
static inline tr_pid_t tr__pid_make(uint32_t node, uint32_t gen, uint32_t slot) {
  return (tr_pid_t){((uint64_t)node << (TR_PID_SLOT_BITS + TR_PID_GEN_BITS)) |
                    ((uint64_t)gen << TR_PID_SLOT_BITS) | slot};
}

/* Reserve a slot. cache is the worker's, or NULL from other threads. Returns the pid the
 * new actor will have, or TR_PID_NONE when the table is full. */
tr_pid_t tr__table_reserve(tr_table_t *t, tr_slot_cache_t *cache);
/* Publish the actor in its reserved slot (release: its initialised fields are visible to
 * whoever finds it); direct: its tag's TR_TAG_DIRECT. */
void tr__table_publish(tr_table_t *t, struct tr_actor *a, tr_pid_t pid, bool direct);
/* Unlink a pid's slot and queue it for reuse with the next generation. */
void tr__table_release(tr_table_t *t, tr_slot_cache_t *cache, tr_pid_t pid);

/* tr__table_get (pid -> live actor) is in actor.h, where the actor's layout is known. */

/* The chunk that holds slot, or NULL (past the table's size, or not made yet). */
static inline tr_table_chunk_t *tr__table_chunk(tr_table_t *t, uint32_t slot) {
  if (slot >= t->cap)
    return NULL;
  /* acquire: pairs with the release store of a new chunk (table.c). */
  return atomic_load_explicit(&t->dir[slot >> TR_TABLE_CHUNK_BITS], memory_order_acquire);
}

/* The actor currently in a slot (for walks), or NULL. Same rule as tr__table_get. */
static inline struct tr_actor *tr__table_at(tr_table_t *t, uint32_t slot) {
  tr_table_chunk_t *c = tr__table_chunk(t, slot);
  /* acquire: pairs with the release store in tr__table_publish. */
  return c ? atomic_load_explicit(&c->slot[slot & (TR_TABLE_CHUNK - 1)], memory_order_acquire)
           : NULL;
}

/* The actor in pid's slot and its tag (*tag), or NULL. A hint, not a proof: the actor may be
 * another generation's, read in the instant its slot was reused, so whoever acts on it
 * checks the actor's pid before pushing (send.c). NULL for another node's pid. The caller is
 * a worker. */
static inline struct tr_actor *tr__table_peek(tr_table_t *t, tr_pid_t pid, uint32_t *tag) {
  uint32_t slot = tr__pid_slot(pid);
  tr_table_chunk_t *c = tr__pid_node(pid) == t->node ? tr__table_chunk(t, slot) : NULL;
  if (!c)
    return NULL;
  /* acquire: pairs with the release store in tr__table_publish, which stored the tag first. */
  struct tr_actor *a =
      atomic_load_explicit(&c->slot[slot & (TR_TABLE_CHUNK - 1)], memory_order_acquire);
  *tag = atomic_load_explicit(&c->tag[slot & (TR_TABLE_CHUNK - 1)], memory_order_relaxed);
  return a;
}

/* The tag a live pid's slot holds, but for TR_TAG_DIRECT. */
static inline uint32_t tr__pid_tag(tr_pid_t pid) {
  return (uint32_t)((pid.id >> TR_PID_SLOT_BITS) & TR_PID_GEN_MASK) << 1;
}

/* Slots ever handed out: walks need not look further. */
static inline uint32_t tr__table_high(tr_table_t *t) {
  uint32_t f = atomic_load_explicit(&t->fresh, memory_order_relaxed);
  return f < t->cap ? f : t->cap;
}

#endif
