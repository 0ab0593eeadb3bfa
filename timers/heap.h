/* The I/O thread's timers: a binary min-heap by due time, with an index by timer id so a
 * cancel finds its entry in O(1) and removes it in O(log n). 100,000 pending timers cost
 * 100,000 small entries and one libuv timer, not 100,000 libuv handles. I/O thread only. */
#ifndef TR_TIMERS_HEAP_H
#define TR_TIMERS_HEAP_H

#include <stdint.h>

#include "base/u64map.h"
#include "troupe/common.h"

/* What an expiry is for (the envelope's `sig` field carries it to the owner). */
enum { TR_TP_USER = 0, TR_TP_REQUEST = 1, TR_TP_RECV = 2 };

typedef struct tr_tentry {
  uint64_t id;
  uint64_t due;    /* ns, uv_hrtime's clock */
  uint64_t period; /* ns; 0 for a one-shot */
  tr_pid_t owner;  /* the actor that started it, or none */
  tr_pid_t to;
  tr_atom_t tag;
  uint8_t purpose;
  uint32_t len;
  void *data;   /* the payload, malloc'd (NULL when len is 0) */
  uint32_t idx; /* position in the heap */
} tr_tentry_t;

typedef struct tr_timer_heap {
  tr_tentry_t **a;
  uint32_t n, cap;
  tr_u64map_t by_id; /* id -> entry */
} tr_timer_heap_t;

int tr__heap_init(tr_timer_heap_t *h);
/* Frees the index and the array, not the entries. */
void tr__heap_destroy(tr_timer_heap_t *h);
int tr__heap_push(tr_timer_heap_t *h, tr_tentry_t *e);
/* The entry with the earliest due time, or NULL; it stays in the heap. */
static inline tr_tentry_t *tr__heap_min(tr_timer_heap_t *h) { return h->n ? h->a[0] : NULL; }
static inline uint64_t tr__heap_min_due(tr_timer_heap_t *h) {
  return h->n ? h->a[0]->due : UINT64_MAX;
}
/* Take e out of the heap (and the index). */
void tr__heap_remove(tr_timer_heap_t *h, tr_tentry_t *e);
/* e's due time changed: restore the heap order. */
void tr__heap_update(tr_timer_heap_t *h, tr_tentry_t *e);
tr_tentry_t *tr__heap_find(tr_timer_heap_t *h, uint64_t id);

#endif
