/* The injection queue (see inject.h). */
#include <string.h>

#include "scheduler/inject.h"

#define INJECT_INITIAL_CAP 1024u

int tr__inject_init(tr_inject_t *q) {
  q->ring = malloc(INJECT_INITIAL_CAP * sizeof *q->ring);
  if (!q->ring)
    return TR_ENOMEM;
  q->cap = INJECT_INITIAL_CAP;
  q->head = 0;
  atomic_store_explicit(&q->len, 0, memory_order_relaxed);
  pthread_mutex_init(&q->mu, NULL);
  return 0;
}

void tr__inject_destroy(tr_inject_t *q) {
  free(q->ring);
  q->ring = NULL;
  pthread_mutex_destroy(&q->mu);
}

/* Under mu: double the ring, unrolling the wrapped part. */
static void grow(tr_inject_t *q, size_t len) {
  size_t cap = q->cap * 2;
  void **ring = malloc(cap * sizeof *ring);
  if (!ring) {
    tr_log(TR_LOG_ERROR, "out of memory growing the injection queue to %zu entries", cap);
    abort();
  }
  for (size_t i = 0; i < len; i++)
    ring[i] = q->ring[(q->head + i) % q->cap];
  free(q->ring);
  q->ring = ring;
  q->cap = cap;
  q->head = 0;
}

void tr__inject_push(tr_inject_t *q, void *const *tasks, size_t n) {
  pthread_mutex_lock(&q->mu);
  size_t len = atomic_load_explicit(&q->len, memory_order_relaxed);
  while (len + n > q->cap)
    grow(q, len);
  for (size_t i = 0; i < n; i++)
    q->ring[(q->head + len + i) % q->cap] = tasks[i];
  /* release: see tr__inject_len. */
  atomic_store_explicit(&q->len, len + n, memory_order_release);
  pthread_mutex_unlock(&q->mu);
}

size_t tr__inject_pop(tr_inject_t *q, void **out, size_t max) {
  if (tr__inject_len(q) == 0)
    return 0;
  pthread_mutex_lock(&q->mu);
  size_t len = atomic_load_explicit(&q->len, memory_order_relaxed);
  size_t n = len < max ? len : max;
  for (size_t i = 0; i < n; i++)
    out[i] = q->ring[(q->head + i) % q->cap];
  q->head = (q->head + n) % q->cap;
  atomic_store_explicit(&q->len, len - n, memory_order_relaxed);
  pthread_mutex_unlock(&q->mu);
  return n;
}
