/* A worker's bounded run queue: a ring the owner pushes to and pops from (FIFO, so actors
 * run in the order they became runnable), from which idle workers steal half at a time.
 *
 * head packs two indexes: `real`, the next slot the owner pops, and `steal`, the first slot a
 * thief may still be copying. They are equal when no steal is in progress. A thief claims a
 * range by advancing `real` (one CAS), copies the tasks out, then sets steal = real (another
 * CAS). The owner never writes a slot at or past `steal + CAP`, so a claimed range stays
 * intact while it is copied. Only one steal runs at a time per deque; a second thief fails
 * and looks elsewhere. Indexes are free-running 32-bit counters; slots are index & MASK. */
#ifndef TR_SCHEDULER_DEQUE_H
#define TR_SCHEDULER_DEQUE_H

#include <stdalign.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "base/base.h"

#ifdef TROUPE_SMALL_QUEUES
#define TR_DEQUE_CAP 4u /* tests: wrap-around and overflow on every few pushes */
#else
#define TR_DEQUE_CAP 256u /* runnable actors per worker before overflow to the injection queue;
                             a power of two, enough that overflow is rare */
#endif
#define TR_DEQUE_MASK (TR_DEQUE_CAP - 1)

typedef struct tr_deque {
  /* steal << 32 | real. Written by the owner (pop) and by thieves (steal). */
  alignas(TR_CACHE_LINE) _Atomic uint64_t head;
  /* Written by the owner only; read by thieves. */
  alignas(TR_CACHE_LINE) _Atomic uint32_t tail;
  _Atomic(void *) buf[TR_DEQUE_CAP];
} tr_deque_t;

void tr__deque_init(tr_deque_t *d);

/* Owner only. Append a task; false when the deque is full. */
bool tr__deque_push(tr_deque_t *d, void *task);

/* Owner only. The oldest task, or NULL. */
void *tr__deque_pop(tr_deque_t *d);

/* Owner only: remove up to `max` of the oldest tasks into out (used to move half of a full
 * deque to the injection queue). Returns how many; 0 when a thief holds a claim. */
uint32_t tr__deque_grab_half(tr_deque_t *d, void **out, uint32_t max);

/* Any thread but the owner of `from`; `to` must be the calling worker's own deque. Move half
 * of `from`'s tasks (rounded up) into `to` and return one of them to run now, or NULL. */
void *tr__deque_steal(tr_deque_t *from, tr_deque_t *to);

/* Any thread; approximate unless called by the owner. */
uint32_t tr__deque_len(const tr_deque_t *d);

#endif
