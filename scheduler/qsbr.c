/* Quiescent-state-based reclamation (see qsbr.h). */
#include <string.h>

#include "scheduler/qsbr.h"

int tr__qsbr_init(tr_qsbr_t *q, unsigned participants, void (*free_fn)(void *, void *)) {
  q->recs = aligned_alloc(TR_CACHE_LINE, sizeof(tr_qsbr_rec_t) * participants);
  if (!q->recs)
    return TR_ENOMEM;
  memset(q->recs, 0, sizeof(tr_qsbr_rec_t) * participants);
  for (unsigned i = 0; i < participants; i++)
    atomic_store_explicit(&q->recs[i].seen, TR_QSBR_OFFLINE, memory_order_relaxed);
  q->n = participants;
  q->free_fn = free_fn;
  atomic_store_explicit(&q->epoch, 1, memory_order_relaxed);
  pthread_mutex_init(&q->foreign_mu, NULL);
  return 0;
}

static void free_batch(tr_qsbr_t *q, tr_qsbr_batch_t *b, void *arg) {
  for (uint32_t i = 0; i < b->n; i++)
    q->free_fn(b->items[i], arg);
  free(b);
}

void tr__qsbr_destroy(tr_qsbr_t *q, void *arg) {
  for (unsigned i = 0; i < q->n; i++) {
    tr_qsbr_rec_t *r = &q->recs[i];
    while (r->limbo) {
      tr_qsbr_batch_t *b = r->limbo;
      r->limbo = b->next;
      free_batch(q, b, arg);
    }
    if (r->pending)
      free_batch(q, r->pending, arg);
  }
  free(q->recs);
  q->recs = NULL;
  pthread_mutex_destroy(&q->foreign_mu);
}

void tr__qsbr_offline(tr_qsbr_t *q, tr_qsbr_rec_t *r) {
  (void)q;
  /* release: our earlier reads happen before a reclaimer that sees us offline frees. */
  atomic_store_explicit(&r->seen, TR_QSBR_OFFLINE, memory_order_release);
}

void tr__qsbr_online(tr_qsbr_t *q, tr_qsbr_rec_t *r) {
  atomic_store_explicit(&r->seen, atomic_load_explicit(&q->epoch, memory_order_acquire),
                        memory_order_relaxed);
  /* seq_cst fence: pairs with the fence in safe_epoch(). Either the reclaimer sees our
   * announcement (and waits for us), or our later loads see every unlink it made before it
   * looked (so we cannot find what it frees). */
  atomic_thread_fence(memory_order_seq_cst);
}

/* The oldest epoch any online participant may still be in. */
static uint64_t safe_epoch(tr_qsbr_t *q) {
  atomic_thread_fence(memory_order_seq_cst); /* see tr__qsbr_online */
  uint64_t min = TR_QSBR_OFFLINE;
  for (unsigned i = 0; i < q->n; i++) {
    /* acquire: pairs with the release store in tr__qsbr_quiescent / tr__qsbr_offline. */
    uint64_t s = atomic_load_explicit(&q->recs[i].seen, memory_order_acquire);
    if (s < min)
      min = s;
  }
  return min;
}

static void reclaim(tr_qsbr_t *q, tr_qsbr_rec_t *r, void *arg) {
  if (!r->limbo)
    return;
  uint64_t safe = safe_epoch(q);
  if (r->limbo->epoch > safe)
    return;
  /* Wait out outside readers that may have found an object before it was unlinked; never
   * block a worker on them: try again at the next flush. */
  if (pthread_mutex_trylock(&q->foreign_mu) != 0)
    return;
  pthread_mutex_unlock(&q->foreign_mu);
  while (r->limbo && r->limbo->epoch <= safe) {
    tr_qsbr_batch_t *b = r->limbo;
    r->limbo = b->next;
    if (!r->limbo)
      r->limbo_end = NULL;
    free_batch(q, b, arg);
  }
}

static void stamp(tr_qsbr_t *q, tr_qsbr_rec_t *r) {
  tr_qsbr_batch_t *b = r->pending;
  r->pending = NULL;
  /* acq_rel: release orders the unlinks of everything in b before the new epoch; a
   * participant that reads the new epoch (acquire) can no longer find them. */
  b->epoch = atomic_fetch_add_explicit(&q->epoch, 1, memory_order_acq_rel) + 1;
  b->next = NULL;
  if (r->limbo_end)
    r->limbo_end->next = b;
  else
    r->limbo = b;
  r->limbo_end = b;
}

void tr__qsbr_retire(tr_qsbr_t *q, tr_qsbr_rec_t *r, void *obj, void *arg) {
  if (!r->pending) {
    r->pending = malloc(sizeof *r->pending);
    if (!r->pending) {
      tr_log(TR_LOG_ERROR, "out of memory retiring an object");
      abort();
    }
    r->pending->n = 0;
  }
  r->pending->items[r->pending->n++] = obj;
  if (r->pending->n == TR_QSBR_BATCH) {
    stamp(q, r);
    reclaim(q, r, arg);
  }
}

void tr__qsbr_flush(tr_qsbr_t *q, tr_qsbr_rec_t *r, void *arg) {
  if (r->pending && r->pending->n)
    stamp(q, r);
  reclaim(q, r, arg);
}

void tr__qsbr_synchronize(tr_qsbr_t *q) {
  uint64_t e = atomic_fetch_add_explicit(&q->epoch, 1, memory_order_acq_rel) + 1;
  uint64_t nap = 10000; /* 10 us, doubling to 1 ms: a worker passes a quiescent point per turn */
  while (safe_epoch(q) < e) {
    tr__sleep_ns(nap);
    if (nap < 1000000)
      nap *= 2;
  }
  pthread_mutex_lock(&q->foreign_mu);
  pthread_mutex_unlock(&q->foreign_mu);
}
