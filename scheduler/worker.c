/* The worker threads of the scheduler.
 *
 * The worker loop. A worker repeats: pick a task, run one turn of it (the layer above's
 * `run`), announce a quiescent point (qsbr.h). It picks, in order:
 *   1. every TR_SCHED_INJECT_INTERVAL turns, a task from the injection queue first; every
 *      TR_SCHED_BACK_INTERVAL turns, the tasks waiting in its own back queue; and half a
 *      period later, the oldest task of its deque if it has waited TR_SCHED_STARVE_NS;
 *   2. the LIFO slot (the task the last turn woke), unless it has run TR_SCHED_LIFO_MAX times
 *      in a row while the deque had others waiting; then it goes behind everyone (below);
 *   3. the next task of its own deque (tr__deque_pop_next): the newest spawn, so spawns run
 *      depth-first, which keeps the set of live actors small and in cache, while thieves
 *      take the oldest (biggest) pieces of work; else the oldest of the tasks that wakeups
 *      pushed out of the LIFO slot, so each has collected the messages sent to it meanwhile
 *      (newest-first, mesh ran 2.4x slower once a deque could hold all its 1,000 actors);
 *   4. its back queue, oldest first;
 *   5. searching: half the deque of each other worker in turn (starting at a random one),
 *      then a share of another's back queue, then a share of the injection queue;
 *   6. parking (idle.c), until a producer wakes it.
 * An actor that used up its batch (or sent itself a message), or a LIFO task that hit its
 * limit, goes to the back of the line: the worker's back queue when other work waits here
 * (the injection queue, with a wake-up, when another worker is idle and can take it at
 * once), else its own deque (then no one waits on it). Together with the periodic looks at the
 * injection and back queues, this is what keeps a busy actor, or two actors bouncing
 * messages, from starving the rest. The back queue is the worker's own, not the shared
 * injection queue it once was: mesh's actors yield after every chunk of sends, and a yield
 * through one mutex and one ring that both workers wrote moved the actor to a random
 * worker and cost a fifth of the workload's time (BENCHMARKS.md). The price of
 * newest-first is that under saturation an old entry of a deque waits until the newer ones
 * drain, an idle worker steals it (thieves take the oldest), or it has waited
 * TR_SCHED_STARVE_NS (1. above): never forever, even when a new task keeps coming on top
 * (a spawn loop). CAF makes the same choice for work an actor creates; message wakeups
 * mostly take the LIFO slot instead.
 *
 * Victim choice is random so that thieves spread over victims; the seed comes from the
 * config, so a run with one worker and a fixed seed is reproducible.
 *
 * Why nothing is lost. A task is runnable in exactly one place at a time (the mailbox
 * handoff in mailbox/mpsc.h guarantees one schedule per wakeup): a LIFO slot, a deque slot,
 * the injection queue, or a running worker. Moves between them (overflow, steal, LIFO
 * eviction) hand the pointer over without copying it twice (deque.h). A worker parks only
 * after seeing every queue empty under the protocol in idle.c.
 *
 * Shutdown, step by step: (1) the layer above stops making tasks runnable (every actor has
 * exited); (2) tr__sched_stop sets `shutdown`; (3) wakes every worker; (4) each worker, on
 * finding no work, sees `shutdown`, flushes its reclamation lists, runs the stop hook and
 * exits; (5) tr__sched_stop joins them. Whatever a worker retired and could not free yet is
 * freed by tr__sched_destroy once all threads are gone. */
#include <sched.h>
#include <string.h>
#include <time.h>

#include "scheduler/sched.h"

_Thread_local tr_worker_t *tr__tls_worker;

int tr__sched_init(tr_sched_t *s, unsigned workers, unsigned extra, uint64_t seed,
                   const tr_sched_hooks_t *h) {
  memset(s, 0, sizeof *s);
  s->n = workers;
  s->hooks = *h;
  s->workers = aligned_alloc(TR_CACHE_LINE, sizeof(tr_worker_t) * workers);
  if (!s->workers)
    return TR_ENOMEM;
  memset(s->workers, 0, sizeof(tr_worker_t) * workers);
  int rc = tr__inject_init(&s->inject);
  if (rc == 0)
    rc = tr__qsbr_init(&s->qsbr, workers + extra, h->reclaim);
  if (rc == 0)
    rc = tr__idle_init(&s->idle, workers);
  if (rc != 0)
    return rc; /* tr__sched_destroy cleans up what was made */
  tr__depot_init(&s->depot);
  for (unsigned k = 0; k < workers; k++) {
    tr_worker_t *w = &s->workers[k];
    tr__deque_init(&w->dq);
    w->id = k;
    w->s = s;
    w->qs = &s->qsbr.recs[k];
    w->rng = (seed + k) * UINT64_C(0x9E3779B97F4A7C15) | 1;
    tr__pool_init(&w->pool, &s->depot);
    if ((rc = tr__inject_init(&w->back)) != 0)
      return rc;
    pthread_mutex_init(&w->park_mu, NULL);
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&w->park_cv, &attr);
    pthread_condattr_destroy(&attr);
  }
  atomic_store_explicit(&s->shutdown, false, memory_order_relaxed);
  return 0;
}

static void push_or_overflow(tr_worker_t *w, void *task) {
  if (TR_LIKELY(tr__deque_push(&w->dq, task)))
    return;
  /* Full: move the older half and this task to the injection queue, where any worker can
   * take them, instead of growing without bound. */
  void *batch[TR_DEQUE_CAP / 2 + 1];
  uint32_t n = tr__deque_grab_half(&w->dq, batch, TR_DEQUE_CAP / 2);
  batch[n++] = task;
  tr__inject_push(&w->s->inject, batch, n);
  tr__idle_notify(w->s, true);
}

void tr__sched_push_local(tr_worker_t *w, void *task) {
  push_or_overflow(w, (void *)((uintptr_t)task | TR_DEQUE_FRESH));
  tr__idle_notify(w->s, false);
}

/* Behind the others: where an idle worker takes it at once (the injection queue, with a
 * wake-up) when one is searching or asleep, else this worker's back queue. */
void tr__sched_yield(tr_worker_t *w, void *task) {
  if (!w->lifo && tr__deque_len(&w->dq) == 0) {
    push_or_overflow(w, task); /* alone here: it runs next (fanin's consumer stays put) */
  } else if (atomic_load_explicit(&w->s->idle.searching, memory_order_relaxed) +
                 atomic_load_explicit(&w->s->idle.sleeping, memory_order_relaxed) !=
             0) {
    tr__sched_inject(w->s, task);
  } else {
    tr__inject_push(&w->back, &task, 1); /* no one to wake: every worker is busy */
  }
}

void tr__sched_wake_local(tr_worker_t *w, void *task) {
  void *prev = w->lifo;
  w->lifo = task;
  if (prev) {
    push_or_overflow(w, prev);
    tr__idle_notify(w->s, false);
  }
}

void tr__sched_inject(tr_sched_t *s, void *task) {
  tr__inject_push(&s->inject, &task, 1);
  atomic_fetch_add_explicit(&s->injected, 1, memory_order_relaxed); /* statistics */
  tr__idle_notify(s, true);
}

/* Move up to `share` of q's tasks (at least one, at most half a deque) to w: the first to
 * run now, the rest onto w's deque. */
static void *take_from(tr_worker_t *w, tr_inject_t *q, size_t share) {
  size_t len = tr__inject_len(q);
  if (len == 0)
    return NULL;
  size_t want = len / share + 1;
  if (want > TR_DEQUE_CAP / 2)
    want = TR_DEQUE_CAP / 2;
  void *batch[TR_DEQUE_CAP / 2];
  size_t n = tr__inject_pop(q, batch, want);
  for (size_t k = 1; k < n; k++)
    push_or_overflow(w, batch[k]);
  return n ? batch[0] : NULL;
}

/* A fair share of the injection queue, so one worker does not drain a burst that others
 * could run. */
static void *take_injected(tr_worker_t *w) { return take_from(w, &w->s->inject, w->s->n); }

/* Its own back queue, whole (up to half a deque): they have waited behind everyone. */
static void *take_back(tr_worker_t *w) { return take_from(w, &w->back, 1); }

/* The deque's oldest task when it has waited TR_SCHED_STARVE_NS behind newer ones, else
 * NULL. Without it, a worker whose deque always gets a new task on top (a spawn loop) would
 * never reach the tasks below: test_sched's a_yielded_actor_runs_beside_a_spawn_loop. */
static void *rescue(tr_worker_t *w) {
  if (tr__deque_len(&w->dq) == 0) {
    w->oldest_since = 0; /* emptied: whatever comes next is timed afresh */
    return NULL;
  }
  uint32_t oldest = tr__deque_oldest(&w->dq);
  uint64_t now = tr__now_ns();
  if (oldest != w->oldest || w->oldest_since == 0) {
    w->oldest = oldest;
    w->oldest_since = now;
    return NULL;
  }
  if (now - w->oldest_since < TR_SCHED_STARVE_NS)
    return NULL;
  /* The next oldest is timed from the next look. Had the deque emptied and refilled between
   * two looks that saw it non-empty, this runs a task early: out of order, never lost. */
  w->oldest_since = 0;
  return tr__deque_pop(&w->dq);
}

static void *next_local(tr_worker_t *w) {
  void *t;
  uint64_t tick = ++w->tick, back = tick % TR_SCHED_BACK_INTERVAL;
  if (tick % TR_SCHED_INJECT_INTERVAL == 0 && (t = take_injected(w)) != NULL)
    return t;
  if (back == 0 && (t = take_back(w)) != NULL)
    return t;
  if (back == TR_SCHED_BACK_INTERVAL / 2 && (t = rescue(w)) != NULL)
    return t;
  if (w->lifo) {
    t = w->lifo;
    w->lifo = NULL;
    if (w->lifo_runs < TR_SCHED_LIFO_MAX || tr__deque_len(&w->dq) == 0) {
      w->lifo_runs++;
      return t;
    }
    tr__sched_yield(w, t);
  }
  w->lifo_runs = 0;
  if ((t = tr__deque_pop_next(&w->dq)) != NULL)
    return t;
  return take_back(w);
}

static void end_search(tr_worker_t *w) {
  w->searching = false;
  /* The last searcher to find work wakes another when more work is waiting, so parallelism
   * ramps up when a burst arrives instead of staying with one worker. When the task it
   * took was the only one (a message off a socket, one at a time), waking another would
   * only have it search, spin and park again, taking a core from the threads doing the
   * work. The fence pairs with a producer's (tr__idle_notify): either it saw us searching
   * and left the waking to us, and we see its work here, or it saw none and woke one. */
  if (atomic_fetch_sub_explicit(&w->s->idle.searching, 1, memory_order_relaxed) == 1) {
    atomic_thread_fence(memory_order_seq_cst);
    if (tr__idle_work_anywhere(w->s))
      tr__idle_notify(w->s, false);
  }
}

/* Before it parks, a worker that found nothing looks again this many times, a short pause
 * between looks (some 20 us in all on current x86): work that arrives from the I/O thread
 * meanwhile (a message off a socket) is taken without the futex wake and reschedule that a
 * parked worker costs, which is most of a cross-node round trip's latency. Then it looks
 * TR_IDLE_YIELDS more times with a sched_yield between looks instead of a pause: a thread
 * that is ready to run on this CPU (the I/O thread, the other node's workers on a small
 * machine) gets it, and when there is none the worker is back after a microsecond or so.
 * Longer pausing spins took the CPU from the I/O threads on a 2-core machine and were
 * slower; the yields cover the gap a muted producer leaves until its receiver has drained
 * (fanin 1.09x, dist_oneway 1.15x, dist_pingpong 1.08x, alternating A/B; BENCHMARKS.md),
 * where parking cost a futex wake each time. An idle system still parks within some
 * 100 us. */
#ifndef TR_IDLE_SPINS
#define TR_IDLE_SPINS 32u
#endif
#ifndef TR_IDLE_YIELDS
#define TR_IDLE_YIELDS 64u
#endif

static inline void tr__cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  __asm__ __volatile__("yield");
#endif
}

static void *search(tr_worker_t *w) {
  tr_sched_t *s = w->s;
  if (!w->searching) {
    w->searching = true;
    atomic_fetch_add_explicit(&s->idle.searching, 1, memory_order_relaxed);
  }
  void *t = NULL;
  if (s->n > 1) {
    unsigned start = (unsigned)(tr__rand(&w->rng) % s->n);
    for (unsigned k = 0; k < s->n && !t; k++) {
      unsigned v = (start + k) % s->n;
      if (v != w->id)
        t = tr__deque_steal(&s->workers[v].dq, &w->dq);
    }
    /* Then what waits behind a busy worker's turns: half of its back queue. */
    for (unsigned k = 0; k < s->n && !t; k++) {
      unsigned v = (start + k) % s->n;
      if (v != w->id)
        t = take_from(w, &s->workers[v].back, 2);
    }
    if (t)
      tr__bump(&w->steals, 1);
  }
  if (!t)
    t = take_injected(w);
  if (t)
    end_search(w);
  return t;
}

static void *worker_main(void *arg) {
  tr_worker_t *w = arg;
  tr_sched_t *s = w->s;
  tr__tls_worker = w;
  tr__qsbr_online(&s->qsbr, w->qs);
  if (s->hooks.start)
    s->hooks.start(w);
  for (;;) {
    void *t = next_local(w);
    /* A woken worker counts as searching until it finds work; it may find it here (the
     * periodic look at the injection queue) rather than in search(). Leaving the count up
     * would make every producer think someone is already looking, and sleepers would stay
     * asleep while work waits. */
    if (t && w->searching)
      end_search(w);
    if (!t)
      t = search(w);
#if TR_IDLE_SPINS > 0
    for (unsigned k = 0; !t && k < TR_IDLE_SPINS + TR_IDLE_YIELDS; k++) {
      if (k < TR_IDLE_SPINS) {
        for (unsigned j = 0; j < 64; j++)
          tr__cpu_relax();
      } else {
        sched_yield();
      }
      t = search(w);
    }
#endif
    if (!t) {
      if (atomic_load_explicit(&s->shutdown, memory_order_acquire))
        break;
      tr__idle_park(w);
      continue;
    }
    s->hooks.run((void *)((uintptr_t)t & ~TR_DEQUE_FRESH), w);
    tr__bump(&w->turns, 1);
    tr__qsbr_quiescent(&s->qsbr, w->qs);
  }
  if (s->hooks.stop)
    s->hooks.stop(w);
  tr__qsbr_flush(&s->qsbr, w->qs, w);
  tr__qsbr_offline(&s->qsbr, w->qs);
  tr__tls_worker = NULL;
  return NULL;
}

int tr__sched_start(tr_sched_t *s) {
  for (unsigned k = 0; k < s->n; k++) {
    if (pthread_create(&s->workers[k].thread, NULL, worker_main, &s->workers[k]) != 0) {
      tr_log(TR_LOG_ERROR, "cannot start worker thread %u", k);
      s->n = k; /* only these run; stop joins them */
      tr__sched_stop(s);
      return TR_ESYS;
    }
  }
  return 0;
}

void tr__sched_stop(tr_sched_t *s) {
  atomic_store_explicit(&s->shutdown, true, memory_order_release);
  tr__idle_wake_all(s);
  for (unsigned k = 0; k < s->n; k++)
    pthread_join(s->workers[k].thread, NULL);
}

void tr__sched_destroy(tr_sched_t *s) {
  if (!s->workers)
    return;
  if (s->qsbr.recs)
    tr__qsbr_destroy(&s->qsbr, NULL);
  for (unsigned k = 0; k < s->n; k++) {
    tr_worker_t *w = &s->workers[k];
    tr__pool_destroy(&w->pool);
    if (w->back.ring)
      tr__inject_destroy(&w->back);
    pthread_mutex_destroy(&w->park_mu);
    pthread_cond_destroy(&w->park_cv);
  }
  tr__depot_destroy(&s->depot);
  if (s->inject.ring)
    tr__inject_destroy(&s->inject);
  if (s->idle.stack)
    tr__idle_destroy(&s->idle);
  free(s->workers);
  s->workers = NULL;
}
