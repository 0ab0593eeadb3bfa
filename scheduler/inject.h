/* The global injection queue: actors made runnable from outside the pool (threads that are
 * not workers, the I/O thread) and the overflow of full worker deques. A mutex-protected
 * ring that grows; `len` lets idle workers check it without taking the lock. Each worker
 * also has one of its own, its back queue of yielded tasks (sched.h). */
#ifndef TR_SCHEDULER_INJECT_H
#define TR_SCHEDULER_INJECT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>

#include "base/base.h"

typedef struct tr_inject {
  alignas(TR_CACHE_LINE) _Atomic size_t len; /* written under mu, read lock-free */
  pthread_mutex_t mu;
  void **ring;
  size_t cap, head; /* guarded by mu */
} tr_inject_t;

int tr__inject_init(tr_inject_t *q);
void tr__inject_destroy(tr_inject_t *q);
/* Any thread. Aborts only when memory for the ring itself cannot be had: a runnable actor
 * that could not be queued would hang the program silently, which is worse. */
void tr__inject_push(tr_inject_t *q, void *const *tasks, size_t n);
/* Any thread. Remove up to max tasks into out; returns the count. */
size_t tr__inject_pop(tr_inject_t *q, void **out, size_t max);

static inline size_t tr__inject_len(tr_inject_t *q) {
  /* acquire: pairs with the release store in push, so a worker that sees len > 0 and then
   * takes the lock finds the tasks (the lock orders it anyway; this keeps the check honest). */
  return atomic_load_explicit(&q->len, memory_order_acquire);
}

#endif
