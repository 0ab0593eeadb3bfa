/* The actor table and slot allocation (see table.h). */
#include <string.h>

#include "actors/actor.h"

int tr__table_init(tr_table_t *t, uint32_t cap, uint32_t node) {
  memset(t, 0, sizeof *t);
  /* Slot 0 is never used, so that no pid of node 0 is all zero bits (TR_PID_NONE). */
  cap = (cap + TR_TABLE_CHUNK - 1) & ~(TR_TABLE_CHUNK - 1);
  t->cap = cap;
  t->node = node;
  size_t ndir = cap >> TR_TABLE_CHUNK_BITS;
  t->dir = calloc(ndir, sizeof *t->dir);
  if (!t->dir)
    return TR_ENOMEM;
  atomic_store_explicit(&t->fresh, TR_SLOT_FRESH_BATCH, memory_order_relaxed);
  t->foreign.fresh_next = 1;
  t->foreign.fresh_end = TR_SLOT_FRESH_BATCH;
  pthread_mutex_init(&t->mu, NULL);
  tr_table_chunk_t *c0 = calloc(1, sizeof *c0);
  if (!c0)
    return TR_ENOMEM;
  atomic_store_explicit(&t->dir[0], c0, memory_order_relaxed);
  atomic_store_explicit(&t->chunks_bytes, sizeof *c0, memory_order_relaxed);
  return 0;
}

void tr__table_destroy(tr_table_t *t) {
  if (!t->dir)
    return;
  for (size_t i = 0; i < (t->cap >> TR_TABLE_CHUNK_BITS); i++)
    free(atomic_load_explicit(&t->dir[i], memory_order_relaxed));
  free(t->dir);
  free(t->gfree);
  t->dir = NULL;
  pthread_mutex_destroy(&t->mu);
}

/* Under t->mu: make sure the chunk holding `slot` exists. */
static bool ensure_chunk(tr_table_t *t, uint32_t slot) {
  uint32_t c = slot >> TR_TABLE_CHUNK_BITS;
  if (atomic_load_explicit(&t->dir[c], memory_order_relaxed))
    return true;
  tr_table_chunk_t *chunk = calloc(1, sizeof *chunk);
  if (!chunk)
    return false;
  /* release: pairs with the acquire load in tr__table_chunk (the zeroed slots). */
  atomic_store_explicit(&t->dir[c], chunk, memory_order_release);
  atomic_fetch_add_explicit(&t->chunks_bytes, sizeof *chunk, memory_order_relaxed);
  return true;
}

/* A new range of never-used slots for a cache. `locked`: the caller holds t->mu. */
static bool take_fresh(tr_table_t *t, tr_slot_cache_t *c, bool locked) {
  uint32_t start = atomic_fetch_add_explicit(&t->fresh, TR_SLOT_FRESH_BATCH, memory_order_relaxed);
  if (start >= t->cap) {
    atomic_store_explicit(&t->fresh, t->cap, memory_order_relaxed); /* keep it from wrapping */
    return false;
  }
  if (!locked)
    pthread_mutex_lock(&t->mu);
  bool ok = ensure_chunk(t, start);
  if (!locked)
    pthread_mutex_unlock(&t->mu);
  if (!ok)
    return false;
  c->fresh_next = start;
  c->fresh_end = start + TR_SLOT_FRESH_BATCH;
  return true;
}

static tr_slot_entry_t cache_take(tr_slot_cache_t *c) {
  tr_slot_entry_t e = c->ring[c->head];
  c->head = (c->head + 1) % TR_SLOT_CACHE;
  c->count--;
  return e;
}

/* Under t->mu: move up to n entries from the global FIFO into cache c. */
static void take_global(tr_table_t *t, tr_slot_cache_t *c, size_t n) {
  while (n-- && t->gcount && c->count < TR_SLOT_CACHE) {
    c->ring[(c->head + c->count) % TR_SLOT_CACHE] = t->gfree[t->ghead];
    c->count++;
    t->ghead = (t->ghead + 1) % t->gcap;
    t->gcount--;
  }
}

static tr_pid_t entry_pid(tr_table_t *t, tr_slot_entry_t e) {
  return tr__pid_make(t->node, (uint32_t)(e >> 32), (uint32_t)e);
}

static tr_pid_t reserve(tr_table_t *t, tr_slot_cache_t *c, bool locked) {
  if (c->count > TR_SLOT_REUSE_DELAY)
    return entry_pid(t, cache_take(c));
  if (c->fresh_next < c->fresh_end || take_fresh(t, c, locked))
    return tr__pid_make(t->node, 1, c->fresh_next++);
  /* The table has handed out every slot once: reuse, oldest first. */
  if (!locked)
    pthread_mutex_lock(&t->mu);
  take_global(t, c, TR_SLOT_FRESH_BATCH);
  if (!locked)
    pthread_mutex_unlock(&t->mu);
  if (c->count)
    return entry_pid(t, cache_take(c));
  return TR_PID_NONE;
}

tr_pid_t tr__table_reserve(tr_table_t *t, tr_slot_cache_t *cache) {
  if (cache)
    return reserve(t, cache, false);
  pthread_mutex_lock(&t->mu);
  tr_pid_t p = reserve(t, &t->foreign, true);
  pthread_mutex_unlock(&t->mu);
  return p;
}

void tr__table_publish(tr_table_t *t, struct tr_actor *a, tr_pid_t pid, bool direct) {
  uint32_t slot = tr__pid_slot(pid);
  tr_table_chunk_t *c =
      atomic_load_explicit(&t->dir[slot >> TR_TABLE_CHUNK_BITS], memory_order_relaxed);
  /* relaxed: published by the release store of the pointer below. */
  atomic_store_explicit(&c->tag[slot & (TR_TABLE_CHUNK - 1)],
                        tr__pid_tag(pid) | (direct ? TR_TAG_DIRECT : 0u), memory_order_relaxed);
  /* release: pairs with the acquire loads in tr__table_at, tr__table_get, tr__table_peek. */
  atomic_store_explicit(&c->slot[slot & (TR_TABLE_CHUNK - 1)], a, memory_order_release);
}

/* Under t->mu: append to the global FIFO, growing it. */
static void global_put(tr_table_t *t, tr_slot_entry_t e) {
  if (t->gcount == t->gcap) {
    size_t cap = t->gcap ? t->gcap * 2 : 1024;
    tr_slot_entry_t *g = malloc(cap * sizeof *g);
    if (!g) {
      /* Dropping the slot only shrinks the table a little; never fatal. */
      tr_log(TR_LOG_WARN, "out of memory recycling an actor slot; the slot is retired");
      return;
    }
    for (size_t i = 0; i < t->gcount; i++)
      g[i] = t->gfree[(t->ghead + i) % t->gcap];
    free(t->gfree);
    t->gfree = g;
    t->gcap = cap;
    t->ghead = 0;
  }
  t->gfree[(t->ghead + t->gcount) % t->gcap] = e;
  t->gcount++;
}

void tr__table_release(tr_table_t *t, tr_slot_cache_t *cache, tr_pid_t pid) {
  uint32_t slot = tr__pid_slot(pid);
  tr_table_chunk_t *c =
      atomic_load_explicit(&t->dir[slot >> TR_TABLE_CHUNK_BITS], memory_order_relaxed);
  /* release: the unlink is ordered before the reclamation epoch that follows (qsbr.c). */
  atomic_store_explicit(&c->slot[slot & (TR_TABLE_CHUNK - 1)], NULL, memory_order_release);
  uint32_t gen = (uint32_t)((pid.id >> TR_PID_SLOT_BITS) & TR_PID_GEN_MASK) + 1;
  if (gen > TR_PID_GEN_MASK)
    gen = 1;
  tr_slot_entry_t e = (uint64_t)gen << 32 | slot;
  bool locked = cache == NULL;
  if (locked) {
    pthread_mutex_lock(&t->mu);
    cache = &t->foreign;
  }
  /* Once every slot has been handed out, a slot kept in one worker's cache could not serve a
   * spawn elsewhere (the table would report full while slots are free): share them all. */
  if (!locked && atomic_load_explicit(&t->fresh, memory_order_relaxed) >= t->cap) {
    pthread_mutex_lock(&t->mu);
    global_put(t, e);
    pthread_mutex_unlock(&t->mu);
    return;
  }
  if (cache->count == TR_SLOT_CACHE) {
    /* Full: the oldest half goes to the global FIFO, in order. */
    if (!locked)
      pthread_mutex_lock(&t->mu);
    for (uint32_t i = 0; i < TR_SLOT_CACHE / 2; i++)
      global_put(t, cache_take(cache));
    if (!locked)
      pthread_mutex_unlock(&t->mu);
  }
  cache->ring[(cache->head + cache->count) % TR_SLOT_CACHE] = e;
  cache->count++;
  if (locked)
    pthread_mutex_unlock(&t->mu);
}
