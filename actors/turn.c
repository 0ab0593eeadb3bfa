/* One turn of an actor on a worker: its signals first, then its init (first turn only), then
 * up to TR_SCHED_BATCH messages; then it yields, goes idle, or exits.
 *
 * After a successful tr__mq_try_idle another worker may already be running the actor, so
 * every write to the actor happens before that call. */
#include "actors/actor.h"

static const struct tr_msg empty_init = {.tag = TR_ATOM_INIT, .kind = TR_KIND_INIT};

static void set_error(tr_reason_t *r, int rc, const char *what) {
  tr_reason_set(r, TR_REASON_ERROR, rc, what);
}

/* Handle the signal lane. Returns true when the actor exited. */
static bool handle_signals(tr_worker_t *w, tr_actor_t *a) {
  /* acquire: pairs with the release CAS in push_signal (send.c): the envelopes' contents. */
  tr_msg_t *s = atomic_exchange_explicit(&a->sigs, NULL, memory_order_acquire);
  /* The lane is a stack: reverse it so signals are handled in the order they were sent. */
  tr_msg_t *fifo = NULL;
  while (s) {
    tr_msg_t *next = (tr_msg_t *)atomic_load_explicit(&s->node.next, memory_order_relaxed);
    atomic_store_explicit(&s->node.next, (tr_mq_node_t *)fifo, memory_order_relaxed);
    fifo = s;
    s = next;
  }
  bool exited = false;
  tr_reason_t reason;
  while (fifo) {
    tr_msg_t *next = (tr_msg_t *)atomic_load_explicit(&fifo->node.next, memory_order_relaxed);
    if (!exited && fifo->sig == TR_SIG_EXIT) {
      reason = *(const tr_reason_t *)fifo->u.heap;
      exited = true;
    }
    tr__msg_free(&w->pool, fifo);
    fifo = next;
  }
  if (exited) {
    uint32_t f = atomic_load_explicit(&a->flags, memory_order_relaxed);
    /* An actor whose init never ran has nothing for terminate to clean up. */
    tr__actor_die(w, a, &reason, !(f & TR_AF_INIT_PENDING));
  }
  return exited;
}

/* Run init. Returns true when the actor exited (init failed or stopped it). */
static bool run_init(tr_worker_t *w, tr_actor_t *a, uint32_t f) {
  tr_ctx_t *ctx = &((tr_wlocal_t *)w->local)->ctx;
  const tr_msg_t *m = &empty_init;
  tr_mq_node_t *released = NULL, *n = NULL;
  if (f & TR_AF_INIT_MSG) {
    n = tr__mq_pop(&a->mq, &released);
    TR_ASSERT(n != NULL); /* pushed by tr__spawn before the actor was published */
    m = (const tr_msg_t *)n;
  }
  atomic_store_explicit(&a->flags, f & ~(uint32_t)(TR_AF_INIT_PENDING | TR_AF_INIT_MSG),
                        memory_order_relaxed);
  int rc = a->beh->init ? a->beh->init(ctx, a->state, m) : 0;
  if (n) {
    tr__msg_release_payload((tr_msg_t *)n);
    atomic_store_explicit(&a->deq, 1, memory_order_relaxed);
  }
  if (rc != 0 || ctx->stop) {
    tr_reason_t r;
    if (rc)
      set_error(&r, rc, "init failed");
    else
      tr_reason_set(&r, TR_REASON_NORMAL, 0, NULL);
    tr__actor_die(w, a, &r, rc == 0);
    return true;
  }
  return false;
}

static inline bool sample_now(tr_wlocal_t *L, tr_worker_t *w) {
  if (TR_LIKELY(--L->sample_countdown != 0))
    return false;
  /* Random gaps (mean TR_TIME_SAMPLE) so that sampling cannot beat in step with a workload
   * that alternates actors; every sample stands for TR_TIME_SAMPLE turns. */
  L->sample_countdown = 1 + (uint32_t)(tr__rand(&w->rng) % (2 * TR_TIME_SAMPLE - 1));
  return true;
}

void tr__actor_run(void *task, tr_worker_t *w) {
  tr_actor_t *a = task;
  tr_wlocal_t *L = w->local;
  tr_ctx_t *ctx = &L->ctx;
  ctx->self = a;
  ctx->stop = false;
  bool timed = sample_now(L, w);
  uint64_t t0 = timed ? tr__ticks() : 0;
  uint32_t f = atomic_load_explicit(&a->flags, memory_order_relaxed);
  atomic_store_explicit(&a->flags, f | TR_AF_RUNNING, memory_order_relaxed);

  uint64_t deq = atomic_load_explicit(&a->deq, memory_order_relaxed);
  uint64_t depth = atomic_load_explicit(&a->enq, memory_order_relaxed) - deq;
  if (depth > atomic_load_explicit(&a->hwm, memory_order_relaxed))
    atomic_store_explicit(&a->hwm, (uint32_t)(depth > UINT32_MAX ? UINT32_MAX : depth),
                          memory_order_relaxed);

  if (TR_UNLIKELY(atomic_load_explicit(&a->sigs, memory_order_relaxed) != NULL) &&
      handle_signals(w, a))
    return;
  if (TR_UNLIKELY(f & TR_AF_INIT_PENDING)) {
    if (run_init(w, a, f))
      return;
    deq = atomic_load_explicit(&a->deq, memory_order_relaxed);
  }

  uint32_t handled = 0;
  bool empty = false;
  while (handled < TR_SCHED_BATCH) {
    tr_mq_node_t *released;
    tr_mq_node_t *n = tr__mq_pop(&a->mq, &released);
    if (released)
      tr__msg_recycle(&w->pool, (tr_msg_t *)released);
    if (!n) {
      empty = true;
      break;
    }
    tr_msg_t *m = (tr_msg_t *)n;
    int rc = 0;
    if (TR_LIKELY(m->kind == TR_KIND_USER || m->kind == TR_KIND_REPLY)) {
      rc = a->beh->receive(ctx, a->state, m);
      handled++;
    }
    tr__msg_release_payload(m);
    if (TR_UNLIKELY(rc != 0 || ctx->stop)) {
      atomic_store_explicit(&a->deq, deq + handled, memory_order_relaxed);
      tr__bump(&L->messages, handled);
      tr_reason_t r;
      if (rc)
        set_error(&r, rc, "receive failed");
      else
        tr_reason_set(&r, TR_REASON_NORMAL, 0, NULL);
      tr__actor_die(w, a, &r, true);
      return;
    }
    if (TR_UNLIKELY(atomic_load_explicit(&a->sigs, memory_order_relaxed) != NULL)) {
      atomic_store_explicit(&a->deq, deq + handled, memory_order_relaxed);
      if (handle_signals(w, a)) {
        tr__bump(&L->messages, handled);
        return;
      }
    }
  }

  atomic_store_explicit(&a->deq, deq + handled, memory_order_relaxed);
  tr__bump(&L->messages, handled);
  if (timed)
    tr__bump(&a->run_ticks, (tr__ticks() - t0) * TR_TIME_SAMPLE);
  f = atomic_load_explicit(&a->flags, memory_order_relaxed); /* init may have changed it */
  atomic_store_explicit(&a->flags, f & ~(uint32_t)TR_AF_RUNNING, memory_order_relaxed);
  /* Yield when the batch ran out, or when a push is still linking its message: either way
   * the actor stays scheduled and goes to the back of this worker's queue. */
  if (!empty || !tr__mq_try_idle(&a->mq))
    tr__sched_yield(w, a);
}
