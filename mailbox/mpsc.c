/* The out-of-line half of the mailbox queue (see mpsc.h for the protocol). */
#include "mailbox/mpsc.h"

void tr__mq_init(tr_mq_t *q, bool idle) {
  atomic_store_explicit(&q->stub.next, NULL, memory_order_relaxed);
  q->tail = &q->stub;
  atomic_store_explicit(&q->head, (uintptr_t)&q->stub | (idle ? 1u : 0u), memory_order_relaxed);
}

bool tr__mq_try_idle(tr_mq_t *q) {
  tr_mq_node_t *tail = q->tail;
  if (atomic_load_explicit(&tail->next, memory_order_acquire) != NULL)
    return false;
  uintptr_t expect = (uintptr_t)tail;
  /* release: publishes this turn's writes (the actor's state) to the producer that next
   * sees the idle bit and schedules the actor on another worker; pairs with the acq_rel
   * exchange in tr__mq_push. Fails when head moved past tail: a push is in flight. */
  if (atomic_compare_exchange_strong_explicit(&q->head, &expect, expect | 1u, memory_order_release,
                                              memory_order_relaxed))
    return true;
  return expect == ((uintptr_t)tail | 1u); /* idle already: nothing was pushed since */
}

tr_mq_node_t *tr__mq_retire_tail(tr_mq_t *q) {
  tr_mq_node_t *tail = q->tail;
  if (tail == &q->stub || atomic_load_explicit(&tail->next, memory_order_acquire) != NULL)
    return NULL;
  atomic_store_explicit(&q->stub.next, NULL, memory_order_relaxed);
  uintptr_t expect = (uintptr_t)tail;
  /* acq_rel: a producer whose exchange follows ours gets the stub as its predecessor and
   * links after it (release: the stub's cleared link is visible to it). If a producer got in
   * first, head moved and the CAS fails: that producer holds `tail` as its predecessor. */
  if (!atomic_compare_exchange_strong_explicit(&q->head, &expect, (uintptr_t)&q->stub,
                                               memory_order_acq_rel, memory_order_relaxed))
    return NULL;
  q->tail = &q->stub;
  return tail;
}
