/* The actor allocator (see alloc.h). */
#include <stdlib.h>
#include <string.h>

#include "actors/alloc.h"
#include "base/base.h"

/* Size (1..TR_ALLOC_MAX) -> class, and each class's block size, batch and mark. */
static inline unsigned class_of(size_t size) {
  if (size <= TR_ALLOC_SMALL_MAX)
    return (unsigned)((size + TR_ALLOC_ALIGN - 1) / TR_ALLOC_ALIGN) - 1;
  return TR_ALLOC_SMALL_CLASSES + (unsigned)((size + TR_ALLOC_BIG_STEP - 1) / TR_ALLOC_BIG_STEP) -
         2;
}

static inline size_t class_size(unsigned c) {
  if (c < TR_ALLOC_SMALL_CLASSES)
    return (size_t)(c + 1) * TR_ALLOC_ALIGN;
  return (size_t)(c - TR_ALLOC_SMALL_CLASSES + 2) * TR_ALLOC_BIG_STEP;
}

/* Even the largest class moves at least one block per batch, and keeps more than a batch. */
_Static_assert(TR_ALLOC_BIG_BATCH_BYTES >= TR_ALLOC_MAX, "a batch holds a largest block");
_Static_assert(TR_ALLOC_BIG_HIGH_BYTES > TR_ALLOC_BIG_BATCH_BYTES, "the mark is above a batch");

static inline uint32_t class_batch(unsigned c) {
  if (c < TR_ALLOC_SMALL_CLASSES)
    return TR_ALLOC_BATCH;
  return (uint32_t)(TR_ALLOC_BIG_BATCH_BYTES / class_size(c));
}

static inline uint32_t class_high(unsigned c) {
  if (c < TR_ALLOC_SMALL_CLASSES)
    return TR_ALLOC_HIGH;
  return (uint32_t)(TR_ALLOC_BIG_HIGH_BYTES / class_size(c));
}

int tr__alloc_init(tr_alloc_t *a) {
  memset(a, 0, sizeof *a);
  pthread_mutex_init(&a->mu, NULL);
  return 0;
}

void tr__alloc_destroy(tr_alloc_t *a) {
  for (size_t i = 0; i < a->nslabs; i++)
    free(a->slabs[i]);
  free(a->slabs);
  pthread_mutex_destroy(&a->mu);
  memset(a, 0, sizeof *a);
}

/* Under mu: a new slab to carve. */
static bool new_slab(tr_alloc_t *a) {
  if (a->nslabs == a->slabs_cap) {
    size_t cap = a->slabs_cap ? a->slabs_cap * 2 : 64;
    void **s = realloc(a->slabs, cap * sizeof *s);
    if (!s)
      return false;
    a->slabs = s;
    a->slabs_cap = cap;
  }
  /* On a cache line: actors' sizes are whole lines (tr__actor_size), so every block starts a
   * line and no two actors share one. */
  char *slab = aligned_alloc(TR_CACHE_LINE, TR_ALLOC_SLAB);
  if (!slab)
    return false;
  a->slabs[a->nslabs++] = slab;
  a->carve = slab;
  a->carve_end = slab + TR_ALLOC_SLAB;
  a->bytes += TR_ALLOC_SLAB;
  return true;
}

/* Under mu: fill `local`'s empty list of class c with a batch from the depot, or with up to
 * a batch carved from the slab. */
static void refill(tr_alloc_t *a, tr_alloc_local_t *local, unsigned c) {
  tr_alloc_block_t *b = a->batches[c];
  if (b) {
    a->batches[c] = b->next_batch;
    local->free[c] = b;
    local->count[c] = b->n;
    return;
  }
  size_t size = class_size(c);
  for (uint32_t i = 0, n = class_batch(c); i < n; i++) {
    if ((size_t)(a->carve_end - a->carve) < size && !new_slab(a))
      return;
    tr_alloc_block_t *blk = (tr_alloc_block_t *)a->carve;
    a->carve += size;
    blk->next = local->free[c];
    local->free[c] = blk;
    local->count[c]++;
  }
}

/* Under mu: give a batch of `local`'s class c to the depot. */
static void spill(tr_alloc_t *a, tr_alloc_local_t *local, unsigned c) {
  uint32_t n = class_batch(c);
  tr_alloc_block_t *first = local->free[c], *last = first;
  for (uint32_t i = 1; i < n; i++)
    last = last->next;
  local->free[c] = last->next;
  local->count[c] -= n;
  last->next = NULL;
  first->n = n;
  first->next_batch = a->batches[c];
  a->batches[c] = first;
}

void *tr__alloc(tr_alloc_t *a, tr_alloc_local_t *local, size_t size) {
  if (!TR_ALLOC_POOLED || size > TR_ALLOC_MAX) /* on a line too (see new_slab) */
    return aligned_alloc(TR_CACHE_LINE, (size + TR_CACHE_LINE - 1) & ~(size_t)(TR_CACHE_LINE - 1));
  unsigned c = class_of(size);
  bool locked = local == NULL;
  if (locked) {
    pthread_mutex_lock(&a->mu);
    local = &a->foreign;
  }
  if (TR_UNLIKELY(!local->free[c])) {
    if (!locked)
      pthread_mutex_lock(&a->mu);
    refill(a, local, c);
    if (!locked)
      pthread_mutex_unlock(&a->mu);
  }
  tr_alloc_block_t *b = local->free[c];
  if (b) {
    local->free[c] = b->next;
    local->count[c]--;
  }
  if (locked)
    pthread_mutex_unlock(&a->mu);
  return b;
}

void tr__alloc_free(tr_alloc_t *a, tr_alloc_local_t *local, void *p, size_t size) {
  if (!TR_ALLOC_POOLED || size > TR_ALLOC_MAX) {
    free(p);
    return;
  }
  unsigned c = class_of(size);
  bool locked = local == NULL;
  if (locked) {
    pthread_mutex_lock(&a->mu);
    local = &a->foreign;
  }
  tr_alloc_block_t *b = p;
  b->next = local->free[c];
  local->free[c] = b;
  if (TR_UNLIKELY(++local->count[c] > class_high(c))) {
    if (!locked)
      pthread_mutex_lock(&a->mu);
    spill(a, local, c);
    if (!locked)
      pthread_mutex_unlock(&a->mu);
  }
  if (locked)
    pthread_mutex_unlock(&a->mu);
}
