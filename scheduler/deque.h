/* A worker's bounded run queue: a ring the owner pushes to and pops from, and from which
 * idle workers steal half at a time.
 *
 * All three indexes live in one 64-bit word, `ctl`, changed only by CAS, so every operation
 * is linearised by its CAS and no thread acts on a stale view of another index:
 *   tail   next slot the owner pushes to (the owner pops its newest task at tail - 1)
 *   real   oldest task still in the queue (thieves claim from here)
 *   steal  start of a range a thief has claimed and is still copying; equal to real when
 *          no steal is in progress. The owner never writes a slot at or past steal + CAP,
 *          so a claimed range stays intact while it is copied.
 * A thief claims a range by advancing real (one CAS, only when steal == real, so one steal
 * runs at a time per deque), copies the tasks out, then sets steal = real (another CAS).
 * Indexes are 21-bit counters that wrap; differences are taken modulo 2^21, which is safe
 * because no two indexes are ever more than TR_DEQUE_CAP apart. Slots are index & MASK. */
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
#define TR_DEQUE_CAP                                                                               \
  256u /* runnable actors per worker before overflow to the injection queue;                       \
          a power of two, enough that overflow is rare */
#endif
#define TR_DEQUE_MASK (TR_DEQUE_CAP - 1)

typedef struct tr_deque {
  /* steal << 42 | real << 21 | tail. Written by the owner and by thieves, always by CAS. */
  alignas(TR_CACHE_LINE) _Atomic uint64_t ctl;
  _Atomic(void *) buf[TR_DEQUE_CAP];
} tr_deque_t;

void tr__deque_init(tr_deque_t *d);

/* Owner only. Append a task; false when the deque is full. */
bool tr__deque_push(tr_deque_t *d, void *task);

/* Owner only. The oldest task, or NULL. */
void *tr__deque_pop(tr_deque_t *d);

/* A task pointer with this bit set is a fresh one (a spawn): tr__deque_pop_next takes those
 * newest-first. Tasks are at least 2-byte aligned; the bit travels with the pointer through
 * steals, overflow and the injection queue, and the one who runs a task clears it. */
#define TR_DEQUE_FRESH ((uintptr_t)1)

/* Owner only. The next task to run, or NULL: the newest when it is fresh, or when the oldest
 * is; else the oldest. Spawns run depth-first (see tr__deque_pop_newest), while actors woken
 * by messages run in the order they woke, so each has collected what was sent to it
 * meanwhile when its turn comes (newest-first, mesh's 1,000 actors sending at random ran
 * 2.4x slower once the deque was big enough to hold them all; it had overflowed to the
 * injection queue, oldest first, at 256). */
void *tr__deque_pop_next(tr_deque_t *d);

/* Owner only. The newest task, or NULL. Running the newest first makes a tree of spawns run
 * depth-first on one worker (a small live set in hot caches) while thieves take the oldest
 * tasks, the biggest subtrees, from the other end. */
void *tr__deque_pop_newest(tr_deque_t *d);

/* Owner only: remove up to `max` of the oldest tasks into out (used to move half of a full
 * deque to the injection queue). Returns how many; 0 when a thief holds a claim. */
uint32_t tr__deque_grab_half(tr_deque_t *d, void **out, uint32_t max);

/* Any thread but the owner of `from`; `to` must be the calling worker's own deque. Move half
 * of `from`'s tasks (rounded up) into `to` and return one of them to run now, or NULL. */
void *tr__deque_steal(tr_deque_t *from, tr_deque_t *to);

/* Any thread; a snapshot. */
uint32_t tr__deque_len(const tr_deque_t *d);

/* Owner only: the index of the oldest task. It moves when the oldest task leaves from that
 * end (tr__deque_pop, a steal), not when the owner's newest-first pops empty the deque and
 * new pushes refill it: the same index seen twice means the same task only if the deque was
 * not emptied in between. */
uint32_t tr__deque_oldest(const tr_deque_t *d);

#endif
