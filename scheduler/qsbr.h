/* Quiescent-state-based reclamation: when memory that other threads may still be reading
 * (an exited actor) can be freed. This is what makes sending to an actor that is exiting
 * safe without a reference count per message.
 *
 * Participants (the workers, later the I/O thread) read shared objects only between
 * quiescent points; a worker passes one after every actor turn. An object is retired after
 * it has been unlinked (its table slot cleared); retirements are stamped in batches with a
 * new global epoch, and a batch is freed once every participant has announced an epoch at
 * least as new (it has passed a quiescent point since, so it holds no pointer into the batch).
 * A parked participant is offline and holds nothing. Threads that are not participants read
 * shared objects only while holding `foreign_mu`; the reclaimer takes that lock once (with
 * trylock, so a worker never blocks on it) before freeing a batch, which waits out any such
 * reader that might have found an object before it was unlinked. */
#ifndef TR_SCHEDULER_QSBR_H
#define TR_SCHEDULER_QSBR_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "base/base.h"

/* Retirements per stamped batch: one shared atomic increment per this many exits. */
#define TR_QSBR_BATCH 64u
#define TR_QSBR_OFFLINE UINT64_MAX

typedef struct tr_qsbr_batch {
  struct tr_qsbr_batch *next;
  uint64_t epoch;
  uint32_t n;
  void *items[TR_QSBR_BATCH];
} tr_qsbr_batch_t;

typedef struct tr_qsbr_rec {
  /* The epoch this participant last announced, or TR_QSBR_OFFLINE. Written by the owner,
   * read by reclaimers on other threads. */
  alignas(TR_CACHE_LINE) _Atomic uint64_t seen;
  /* Owner only. */
  tr_qsbr_batch_t *pending;           /* not yet stamped */
  tr_qsbr_batch_t *limbo, *limbo_end; /* stamped, oldest first */
} tr_qsbr_rec_t;

typedef struct tr_qsbr {
  alignas(TR_CACHE_LINE) _Atomic uint64_t epoch;
  unsigned n;
  tr_qsbr_rec_t *recs;
  pthread_mutex_t foreign_mu;
  void (*free_fn)(void *obj, void *arg);
} tr_qsbr_t;

int tr__qsbr_init(tr_qsbr_t *q, unsigned participants, void (*free_fn)(void *obj, void *arg));
/* After every participant has stopped: free everything still retired. */
void tr__qsbr_destroy(tr_qsbr_t *q, void *arg);

/* Participant only: announce a quiescent point (no shared object is held). Cheap: one load
 * and, when the epoch moved, one store to the participant's own cache line. */
static inline void tr__qsbr_quiescent(tr_qsbr_t *q, tr_qsbr_rec_t *r) {
  /* acquire: pairs with the acq_rel increment in stamp(); after it we cannot find objects
   * unlinked before that increment. */
  uint64_t e = atomic_load_explicit(&q->epoch, memory_order_acquire);
  if (atomic_load_explicit(&r->seen, memory_order_relaxed) != e)
    /* release: everything we read before happens before the reclaimer's acquire load. */
    atomic_store_explicit(&r->seen, e, memory_order_release);
}

void tr__qsbr_offline(tr_qsbr_t *q, tr_qsbr_rec_t *r);
void tr__qsbr_online(tr_qsbr_t *q, tr_qsbr_rec_t *r);

/* Participant only: retire an unlinked object; it is freed (free_fn(obj, arg)) by this
 * participant once no one can hold it. */
void tr__qsbr_retire(tr_qsbr_t *q, tr_qsbr_rec_t *r, void *obj, void *arg);
/* Participant only: stamp what is pending and free what is safe (e.g. before parking; it may
 * be called while offline, as freeing touches only objects no one else can reach). */
void tr__qsbr_flush(tr_qsbr_t *q, tr_qsbr_rec_t *r, void *arg);

/* Participant only: does it still hold retired objects it could not free yet? */
static inline bool tr__qsbr_holding(const tr_qsbr_rec_t *r) {
  return r->limbo || (r->pending && r->pending->n);
}

/* Threads that are not participants bracket their reads of shared objects with these. */
static inline void tr__qsbr_foreign_enter(tr_qsbr_t *q) { pthread_mutex_lock(&q->foreign_mu); }
static inline void tr__qsbr_foreign_exit(tr_qsbr_t *q) { pthread_mutex_unlock(&q->foreign_mu); }

/* Outside threads only: block until every participant has passed a quiescent point (or is
 * offline) and no outside reader holds the foreign lock, so that an object this thread
 * unlinked before the call can be freed. Sleeps in short naps; call it rarely. */
void tr__qsbr_synchronize(tr_qsbr_t *q);

#endif
