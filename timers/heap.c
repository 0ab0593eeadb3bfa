/* The timer heap (see heap.h). */
#include <stdlib.h>

#include "base/base.h"
#include "timers/heap.h"

int tr__heap_init(tr_timer_heap_t *h) {
  h->n = 0;
  h->cap = 1024;
  h->a = malloc(h->cap * sizeof *h->a);
  h->by_id = (tr_u64map_t){0};
  return h->a ? 0 : TR_ENOMEM;
}

void tr__heap_destroy(tr_timer_heap_t *h) {
  free(h->a);
  h->a = NULL;
  h->n = h->cap = 0;
  tr__u64map_free(&h->by_id);
}

static inline bool before(const tr_tentry_t *x, const tr_tentry_t *y) {
  /* Equal due times go by id, so timers set for the same moment fire in creation order. */
  return x->due < y->due || (x->due == y->due && x->id < y->id);
}

static inline void place(tr_timer_heap_t *h, uint32_t i, tr_tentry_t *e) {
  h->a[i] = e;
  e->idx = i;
}

static void up(tr_timer_heap_t *h, uint32_t i) {
  tr_tentry_t *e = h->a[i];
  while (i > 0) {
    uint32_t p = (i - 1) / 2;
    if (!before(e, h->a[p]))
      break;
    place(h, i, h->a[p]);
    i = p;
  }
  place(h, i, e);
}

static void down(tr_timer_heap_t *h, uint32_t i) {
  tr_tentry_t *e = h->a[i];
  for (;;) {
    uint32_t c = 2 * i + 1;
    if (c >= h->n)
      break;
    if (c + 1 < h->n && before(h->a[c + 1], h->a[c]))
      c++;
    if (!before(h->a[c], e))
      break;
    place(h, i, h->a[c]);
    i = c;
  }
  place(h, i, e);
}

int tr__heap_push(tr_timer_heap_t *h, tr_tentry_t *e) {
  if (h->n == h->cap) {
    tr_tentry_t **a = realloc(h->a, (size_t)h->cap * 2 * sizeof *a);
    if (!a)
      return TR_ENOMEM;
    h->a = a;
    h->cap *= 2;
  }
  if (tr__u64map_put(&h->by_id, e->id, (uint64_t)(uintptr_t)e) != 0)
    return TR_ENOMEM;
  place(h, h->n++, e);
  up(h, e->idx);
  return 0;
}

void tr__heap_remove(tr_timer_heap_t *h, tr_tentry_t *e) {
  tr__u64map_del(&h->by_id, e->id, NULL);
  uint32_t i = e->idx;
  tr_tentry_t *last = h->a[--h->n];
  if (i == h->n)
    return;
  place(h, i, last);
  tr__heap_update(h, last);
}

void tr__heap_update(tr_timer_heap_t *h, tr_tentry_t *e) {
  uint32_t i = e->idx;
  if (i > 0 && before(e, h->a[(i - 1) / 2]))
    up(h, i);
  else
    down(h, i);
}

tr_tentry_t *tr__heap_find(tr_timer_heap_t *h, uint64_t id) {
  uint64_t v;
  return tr__u64map_get(&h->by_id, id, &v) ? (tr_tentry_t *)(uintptr_t)v : NULL;
}
