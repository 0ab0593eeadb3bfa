/* The mailbox queue: an intrusive lock-free multi-producer single-consumer queue (after
 * Dmitry Vyukov's), extended with the handoff protocol that decides who schedules an actor.
 *
 * States of a mailbox, kept in bit 0 of `head`:
 *   idle       (bit set)   empty and not scheduled: the actor is in no run queue.
 *   scheduled  (bit clear) the actor is in a run queue or running, or a push is in flight.
 *   closed                  the actor has exited; the mailbox stays "scheduled" forever so
 *                           that late pushes never schedule a dead actor. Whatever they leave
 *                           is drained when the actor's memory is reclaimed.
 *
 * The handoff: tr__mq_push returns true exactly when it moved the mailbox from idle to
 * scheduled, and only that producer schedules the actor. The consumer moves scheduled ->
 * idle with tr__mq_try_idle, which fails when a message arrived meanwhile; then the consumer
 * keeps the actor scheduled. So an actor is never in two run queues and never forgotten.
 *
 * Nodes: the consumer pops the node after `tail` and that node becomes the new tail (the
 * "stub"), so a popped node stays in the queue until the next pop. tr__mq_pop hands back the
 * previous tail for the caller to recycle. `stub` is the initial tail and is never recycled. */
#ifndef TR_MAILBOX_MPSC_H
#define TR_MAILBOX_MPSC_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct tr_mq_node {
  _Atomic(struct tr_mq_node *) next;
} tr_mq_node_t;

typedef struct tr_mq {
  _Atomic(uintptr_t) head; /* producers: the last node pushed, | 1 when idle */
  tr_mq_node_t *tail;      /* consumer only: the node before the next one to pop */
  tr_mq_node_t stub;
} tr_mq_t;

/* Start empty; idle or already scheduled (a new actor is created scheduled). */
void tr__mq_init(tr_mq_t *q, bool idle);

/* Any thread. Append n; returns true when this push moved the queue from idle to scheduled
 * (the caller must then schedule the owner). */
static inline bool tr__mq_push(tr_mq_t *q, tr_mq_node_t *n) {
  atomic_store_explicit(&n->next, NULL, memory_order_relaxed);
  /* acq_rel: release publishes n's contents to the consumer that reaches n through prev->next
   * below; acquire pairs with the consumer's release CAS in tr__mq_try_idle, so a producer
   * that sees the idle bit also sees everything the last turn wrote. */
  uintptr_t prev = atomic_exchange_explicit(&q->head, (uintptr_t)n, memory_order_acq_rel);
  tr_mq_node_t *p = (tr_mq_node_t *)(prev & ~(uintptr_t)1);
  /* release: pairs with the acquire load of next in tr__mq_pop; makes n visible. */
  atomic_store_explicit(&p->next, n, memory_order_release);
  return (prev & 1) != 0;
}

/* The two halves of tr__mq_push_chain (below), for a producer that appends to several
 * queues and wants the misses of its links to overlap: claim the tail position with the
 * exchange (the returned value goes to tr__mq_link; bit 0 says the push woke the queue),
 * then link. Until the link, the consumer sees a push in flight (tr__mq_peek gives NULL,
 * tr__mq_try_idle fails), so the claimer must link soon and without waiting on anything. */
static inline uintptr_t tr__mq_claim(tr_mq_t *q, tr_mq_node_t *last) {
  atomic_store_explicit(&last->next, NULL, memory_order_relaxed);
  /* acq_rel as in tr__mq_push: the release publishes every node of the chain, written
   * before it. */
  return atomic_exchange_explicit(&q->head, (uintptr_t)last, memory_order_acq_rel);
}

static inline void tr__mq_link(uintptr_t claimed, tr_mq_node_t *first) {
  tr_mq_node_t *p = (tr_mq_node_t *)(claimed & ~(uintptr_t)1);
  /* release: pairs with the acquire load of next in tr__mq_pop; makes the chain visible. */
  atomic_store_explicit(&p->next, first, memory_order_release);
}

/* Any thread. Append the chain first..last (linked through next by the caller; last's next
 * is set here) with one exchange; returns as tr__mq_push. The consumer sees the nodes in
 * chain order, after everything pushed before. */
static inline bool tr__mq_push_chain(tr_mq_t *q, tr_mq_node_t *first, tr_mq_node_t *last) {
  uintptr_t prev = tr__mq_claim(q, last);
  tr__mq_link(prev, first);
  return (prev & 1) != 0;
}

/* Consumer only. The next node, left in the queue, or NULL when the queue is empty or a
 * push is still linking its node. */
static inline tr_mq_node_t *tr__mq_peek(const tr_mq_t *q) {
  /* acquire: pairs with the release store in tr__mq_push. */
  return atomic_load_explicit(&q->tail->next, memory_order_acquire);
}

/* Consumer only. Pop n, which tr__mq_peek gave. *released receives the previous tail when it
 * may be recycled (not the stub), else NULL. */
static inline void tr__mq_take(tr_mq_t *q, tr_mq_node_t *n, tr_mq_node_t **released) {
  tr_mq_node_t *tail = q->tail;
  q->tail = n;
  *released = tail == &q->stub ? NULL : tail;
}

/* Consumer only. The next node, or NULL when the queue is empty or a push is still linking
 * its node; *released as in tr__mq_take (NULL when nothing was popped). */
static inline tr_mq_node_t *tr__mq_pop(tr_mq_t *q, tr_mq_node_t **released) {
  tr_mq_node_t *next = tr__mq_peek(q);
  *released = NULL;
  if (next)
    tr__mq_take(q, next, released);
  return next;
}

/* Consumer only. Move scheduled -> idle if the queue is empty. Returns false when it is not
 * empty (or a push is linking), in which case the caller keeps the owner scheduled. A queue
 * that is idle already (nothing pushed since) gives true. */
bool tr__mq_try_idle(tr_mq_t *q);

/* Consumer only, on an empty queue that will never be consumed again (its owner exited):
 * swap the last node for the stub, so the last node can be recycled now, while it is hot,
 * instead of when the owner's memory is reclaimed. Returns the node to recycle, or NULL when
 * a push is under way (then the node stays until reclamation). */
tr_mq_node_t *tr__mq_retire_tail(tr_mq_t *q);

/* Consumer only (or the reclaimer, once no producer can reach q). True when no node follows
 * the tail. */
static inline bool tr__mq_empty(const tr_mq_t *q) {
  return atomic_load_explicit(&q->tail->next, memory_order_acquire) == NULL;
}

#endif
