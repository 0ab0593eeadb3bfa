/* Parking and waking workers.
 *
 * The protocol that keeps a wakeup from being lost: a producer first makes its work visible
 * (a deque slot, the injection queue), then, after a seq_cst fence, reads `sleeping`. A
 * worker going to sleep first raises `sleeping` (seq_cst), then looks at every queue once
 * more before it waits. Of two such threads at least one sees the other: either the producer
 * sees a sleeper and wakes it, or the worker sees the work and does not sleep.
 *
 * A worker's own deque needs none of this: a worker never parks while its deque or LIFO slot
 * holds a task, so work it queued for itself always runs. For those pushes the check is
 * relaxed (no fence on the hot path); missing a sleeper there costs parallelism for a
 * moment, never progress. */
#include <string.h>
#include <time.h>

#include "scheduler/sched.h"

/* A parked worker that still holds exited actors it could not free wakes this often to try
 * again: short enough that memory and counters settle promptly, long enough to cost nothing
 * measurable. */
#define TR_PARK_RECLAIM_NS 5000000L

int tr__idle_init(tr_idle_t *i, unsigned workers) {
  i->stack = calloc(workers, sizeof *i->stack);
  if (!i->stack)
    return TR_ENOMEM;
  i->nstack = 0;
  atomic_store_explicit(&i->searching, 0, memory_order_relaxed);
  atomic_store_explicit(&i->sleeping, 0, memory_order_relaxed);
  pthread_mutex_init(&i->mu, NULL);
  return 0;
}

void tr__idle_destroy(tr_idle_t *i) {
  free(i->stack);
  i->stack = NULL;
  pthread_mutex_destroy(&i->mu);
}

static void signal_worker(tr_worker_t *w) {
  pthread_mutex_lock(&w->park_mu);
  w->notified = true;
  pthread_cond_signal(&w->park_cv);
  pthread_mutex_unlock(&w->park_mu);
}

void tr__idle_notify(tr_sched_t *s, bool fenced) {
  tr_idle_t *i = &s->idle;
  if (fenced)
    atomic_thread_fence(memory_order_seq_cst); /* pairs with the fence in tr__idle_park */
  if (atomic_load_explicit(&i->sleeping, memory_order_relaxed) == 0)
    return;
  /* A searching worker will find the work; waking another would only make two look. */
  if (atomic_load_explicit(&i->searching, memory_order_relaxed) != 0)
    return;
  pthread_mutex_lock(&i->mu);
  if (i->nstack == 0) {
    pthread_mutex_unlock(&i->mu);
    return;
  }
  tr_worker_t *w = &s->workers[i->stack[--i->nstack]];
  atomic_fetch_sub_explicit(&i->sleeping, 1, memory_order_relaxed);
  /* The woken worker starts out searching; counting it now keeps the next producer from
   * waking a second one for the same work. */
  atomic_fetch_add_explicit(&i->searching, 1, memory_order_relaxed);
  pthread_mutex_unlock(&i->mu);
  signal_worker(w);
}

bool tr__idle_work_anywhere(tr_sched_t *s) {
  if (tr__inject_len(&s->inject) > 0)
    return true;
  for (unsigned k = 0; k < s->n; k++)
    if (tr__deque_len(&s->workers[k].dq) > 0 || tr__inject_len(&s->workers[k].back) > 0)
      return true;
  return false;
}

/* Under i->mu: take w off the sleeper stack if it is still there. */
static bool unlist(tr_idle_t *i, unsigned id) {
  for (unsigned k = 0; k < i->nstack; k++) {
    if (i->stack[k] == id) {
      memmove(&i->stack[k], &i->stack[k + 1], (i->nstack - k - 1) * sizeof *i->stack);
      i->nstack--;
      return true;
    }
  }
  return false;
}

void tr__idle_park(tr_worker_t *w) {
  tr_sched_t *s = w->s;
  tr_idle_t *i = &s->idle;
  /* Offline first: then our own announcement does not hold back what we can free now. */
  tr__qsbr_offline(&s->qsbr, w->qs);
  tr__qsbr_flush(&s->qsbr, w->qs, w);

  pthread_mutex_lock(&i->mu);
  i->stack[i->nstack++] = w->id;
  atomic_fetch_add_explicit(&i->sleeping, 1, memory_order_seq_cst);
  if (w->searching) {
    atomic_fetch_sub_explicit(&i->searching, 1, memory_order_relaxed);
    w->searching = false;
  }
  pthread_mutex_unlock(&i->mu);

  atomic_thread_fence(memory_order_seq_cst); /* pairs with the fence in tr__idle_notify */
  bool wait = true;
  if (tr__idle_work_anywhere(s) || atomic_load_explicit(&s->shutdown, memory_order_acquire)) {
    pthread_mutex_lock(&i->mu);
    if (unlist(i, w->id)) {
      atomic_fetch_sub_explicit(&i->sleeping, 1, memory_order_relaxed);
      atomic_fetch_add_explicit(&i->searching, 1, memory_order_relaxed);
      wait = false;
    }
    /* Otherwise a producer already took us off the stack and is signalling us. */
    pthread_mutex_unlock(&i->mu);
  }
  if (wait) {
    tr__bump(&w->parks, 1);
    pthread_mutex_lock(&w->park_mu);
    while (!w->notified && !atomic_load_explicit(&s->shutdown, memory_order_acquire)) {
      if (!tr__qsbr_holding(w->qs)) {
        pthread_cond_wait(&w->park_cv, &w->park_mu);
        continue;
      }
      /* Exited actors wait for others' quiescent points before they are freed (and what was
       * sent to them late is counted). Sleep in short naps until that is done, so an idle
       * system settles its memory and its dead-letter count. */
      struct timespec ts;
      clock_gettime(CLOCK_MONOTONIC, &ts);
      ts.tv_nsec += TR_PARK_RECLAIM_NS;
      if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
      }
      if (pthread_cond_timedwait(&w->park_cv, &w->park_mu, &ts) != 0) {
        pthread_mutex_unlock(&w->park_mu);
        tr__qsbr_flush(&s->qsbr, w->qs, w);
        pthread_mutex_lock(&w->park_mu);
      }
    }
    w->notified = false;
    pthread_mutex_unlock(&w->park_mu);
  }
  /* Whoever woke us counted us as searching. At shutdown a worker may leave the stack
   * uncounted; nothing reads the counters after that. */
  w->searching = true;
  tr__qsbr_online(&s->qsbr, w->qs);
}

void tr__idle_wake_all(tr_sched_t *s) {
  for (unsigned k = 0; k < s->n; k++)
    signal_worker(&s->workers[k]);
}
