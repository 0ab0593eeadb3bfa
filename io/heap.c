/* The I/O thread's timer heap (see heap.h). */
#include <stdlib.h>

#include "base/base.h"
#include "io/heap.h"

/* Slots the heap starts with: one page of pointers, so that a handful of timers never
 * reallocates. */
#define HEAP_INITIAL 512u

int tr__io_heap_init(tr_io_heap_t *h) {
  h->n = 0;
  h->cap = HEAP_INITIAL;
  h->a = malloc(h->cap * sizeof *h->a);
  h->by_id = (tr_u64map_t){0};
  return h->a ? 0 : TR_ENOMEM;
}

void tr__io_heap_discard(tr_io_heap_t *h) {
  while (h->n > 0) {
    tr_io_timer_t *t = h->a[0];
    tr__io_heap_remove(h, t);
    t->drop(t);
  }
  free(h->a);
  h->a = NULL;
  h->cap = 0;
  tr__u64map_free(&h->by_id);
}

static inline bool before(const tr_io_timer_t *x, const tr_io_timer_t *y) {
  /* Equal due times go by id, so timers set for the same moment fire in creation order. */
  return x->due < y->due || (x->due == y->due && x->id < y->id);
}

static inline void place(tr_io_heap_t *h, uint32_t i, tr_io_timer_t *t) {
  h->a[i] = t;
  t->idx = i;
}

static void up(tr_io_heap_t *h, uint32_t i) {
  tr_io_timer_t *t = h->a[i];
  while (i > 0) {
    uint32_t p = (i - 1) / 2;
    if (!before(t, h->a[p]))
      break;
    place(h, i, h->a[p]);
    i = p;
  }
  place(h, i, t);
}

static void down(tr_io_heap_t *h, uint32_t i) {
  tr_io_timer_t *t = h->a[i];
  for (;;) {
    uint32_t c = 2 * i + 1;
    if (c >= h->n)
      break;
    if (c + 1 < h->n && before(h->a[c + 1], h->a[c]))
      c++;
    if (!before(h->a[c], t))
      break;
    place(h, i, h->a[c]);
    i = c;
  }
  place(h, i, t);
}

int tr__io_heap_push(tr_io_heap_t *h, tr_io_timer_t *t) {
  if (h->n == h->cap) {
    tr_io_timer_t **a = realloc(h->a, (size_t)h->cap * 2 * sizeof *a);
    if (!a)
      return TR_ENOMEM;
    h->a = a;
    h->cap *= 2;
  }
  if (tr__u64map_put(&h->by_id, t->id, (uint64_t)(uintptr_t)t) != 0)
    return TR_ENOMEM;
  place(h, h->n++, t);
  up(h, t->idx);
  return 0;
}

void tr__io_heap_remove(tr_io_heap_t *h, tr_io_timer_t *t) {
  tr__u64map_del(&h->by_id, t->id, NULL);
  uint32_t i = t->idx;
  tr_io_timer_t *last = h->a[--h->n];
  if (i == h->n)
    return;
  place(h, i, last);
  if (i > 0 && before(last, h->a[(i - 1) / 2]))
    up(h, i);
  else
    down(h, i);
}

tr_io_timer_t *tr__io_heap_find(const tr_io_heap_t *h, uint64_t id) {
  uint64_t v;
  return tr__u64map_get(&h->by_id, id, &v) ? (tr_io_timer_t *)(uintptr_t)v : NULL;
}
