/* The scheduler: N worker threads running tasks (actors) that the layer above hands it.
 *
 * Design, in short (the long form is at the top of worker.c):
 *  - Each worker owns a deque (run queue) and a one-task LIFO slot. A task made runnable by
 *    a message from the running task goes to the LIFO slot and runs next on the same core:
 *    a request/response pair stays hot in one cache. Spawned tasks go to the deque, whose
 *    owner runs spawns newest first and the tasks a newer wakeup pushed out of the LIFO slot
 *    oldest first (tr__deque_pop_next); yielding tasks go behind all others, in the
 *    worker's own back queue.
 *  - Tasks made runnable from outside the pool go to the injection queue.
 *  - A worker out of work steals half of a random victim's deque, then from the back
 *    queues of the others, then takes from the injection queue, then parks. A push wakes a parked
 * worker only when no one is searching already.
 *  - The scheduler never looks inside a task: `run` is the layer above's function that runs
 *    one turn of it. */
#ifndef TR_SCHEDULER_SCHED_H
#define TR_SCHEDULER_SCHED_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

#include "base/base.h"
#include "mailbox/envelope.h"
#include "scheduler/deque.h"
#include "scheduler/inject.h"
#include "scheduler/qsbr.h"

/* Every this many turns a worker looks at the injection queue before its own deque, so
 * actors woken from outside cannot be starved by a worker that always has local work
 * (a prime, as in Go and tokio, so it does not beat in step with a workload's period). */
#define TR_SCHED_INJECT_INTERVAL 61u
/* Every this many turns a worker runs the tasks of its back queue (yielded ones) before
 * its deque. Rarely: a yielded actor that waits collects messages and handles them in one
 * turn (mesh: 1 worker at 127 as fast as the old shared queue at 61, 12% faster at 251,
 * 3x slower at 3); yet often enough that a deque that always refills (actors waking each
 * other) holds a yielded actor back by no more than this many turns. A prime, as above. */
#define TR_SCHED_BACK_INTERVAL 127u
/* A deque's oldest task that has waited this long while newer ones kept coming on top
 * (newest-first) is run next: at most one such rescue per this period per worker. Long
 * beside the run of a spawn tree (skynet's whole tree takes some 90 ms, and popping the
 * oldest task every few thousand turns instead, whatever its wait, halved its speed: each
 * one opens another big subtree), short beside a person's patience. */
#define TR_SCHED_STARVE_NS (UINT64_C(50) * 1000000u)
/* The LIFO slot may run this many tasks in a row while the deque has others waiting; then
 * the LIFO task goes to the back. Two actors ping-ponging cannot starve the queue. */
#define TR_SCHED_LIFO_MAX 3u

typedef struct tr_sched tr_sched_t;

typedef struct tr_worker {
  tr_deque_t dq; /* cache-line aligned inside */
  /* Owner only. */
  void *lifo;
  uint32_t lifo_runs;
  bool searching;
  uint64_t tick;
  uint64_t rng;
  unsigned id;
  tr_sched_t *s;
  tr_qsbr_rec_t *qs;
  tr_pool_t pool; /* envelopes */
  /* Tasks that used up their turn here and wait behind the others (tr__sched_yield): this
   * worker's own FIFO, so a yield touches no line another worker writes; its lock is only
   * contended when a thief with nothing else to do takes from it. */
  tr_inject_t back;
  void *local; /* the layer above's per-worker data */
  /* The deque's oldest task as last seen (tr__deque_oldest) and since when (ns; 0: not
   * timed yet). */
  uint32_t oldest;
  uint64_t oldest_since;
  pthread_t thread;
  /* Written by the owner (relaxed stores), read by statistics. */
  alignas(TR_CACHE_LINE) _Atomic uint64_t turns;
  _Atomic uint64_t steals;
  _Atomic uint64_t parks;
  /* Parking: guarded by park_mu. */
  alignas(TR_CACHE_LINE) pthread_mutex_t park_mu;
  pthread_cond_t park_cv;
  bool notified;
} tr_worker_t;

typedef struct tr_idle {
  /* Workers looking for work right now, and workers asleep. Both are read lock-free by
   * producers deciding whether to wake someone; the stack of sleepers is guarded by mu. */
  alignas(TR_CACHE_LINE) _Atomic uint32_t searching;
  _Atomic uint32_t sleeping;
  pthread_mutex_t mu;
  unsigned *stack;
  unsigned nstack;
} tr_idle_t;

typedef struct tr_sched_hooks {
  void (*run)(void *task, tr_worker_t *w); /* run one turn of task */
  void (*start)(tr_worker_t *w);           /* on the worker thread, before any task */
  void (*stop)(tr_worker_t *w);            /* on the worker thread, after the last task */
  void (*reclaim)(void *obj, void *arg);   /* free a retired object (arg: a worker or NULL) */
  void *user;
} tr_sched_hooks_t;

struct tr_sched {
  tr_worker_t *workers;
  unsigned n;
  tr_inject_t inject;
  tr_qsbr_t qsbr;
  tr_idle_t idle;
  tr_depot_t depot;
  tr_sched_hooks_t hooks;
  _Atomic bool shutdown;
  _Atomic uint64_t injected;
};

/* The worker running on this thread, or NULL on threads that are not workers. */
extern _Thread_local tr_worker_t *tr__tls_worker;

/* `extra`: reclamation participants besides the workers (their records follow the workers'
 * in qsbr.recs), e.g. the I/O thread. */
int tr__sched_init(tr_sched_t *s, unsigned workers, unsigned extra, uint64_t seed,
                   const tr_sched_hooks_t *h);
int tr__sched_start(tr_sched_t *s);
/* Stop every worker and join it. Call once no task can become runnable any more. */
void tr__sched_stop(tr_sched_t *s);
void tr__sched_destroy(tr_sched_t *s);

/* Worker only, from inside a turn: run `task` next on this worker (the LIFO slot). */
void tr__sched_wake_local(tr_worker_t *w, void *task);
/* Worker only: queue a new task (a spawn) on this worker's deque; it runs before the tasks
 * queued there by wakeups, newest spawn first. */
void tr__sched_push_local(tr_worker_t *w, void *task);
/* Worker only: `task` used up its turn and stays runnable; queue it behind the others. */
void tr__sched_yield(tr_worker_t *w, void *task);
/* Any thread: queue `task` on the injection queue and wake a worker if needed. */
void tr__sched_inject(tr_sched_t *s, void *task);

/* idle.c */
int tr__idle_init(tr_idle_t *i, unsigned workers);
void tr__idle_destroy(tr_idle_t *i);
/* Wake one sleeper if there is one and no one is searching. `fenced` must be true when the
 * caller is not a worker that will itself run the work it just queued. */
void tr__idle_notify(tr_sched_t *s, bool fenced);
/* Is a task waiting in the injection queue or any worker's deque or back queue? (racy: a
 * hint) */
bool tr__idle_work_anywhere(tr_sched_t *s);
/* Park the calling worker until notified or shutdown. */
void tr__idle_park(tr_worker_t *w);
void tr__idle_wake_all(tr_sched_t *s);

#endif
