/* One turn of an actor on a worker: its signals first, then its init (first turn only), then
 * up to TR_SCHED_BATCH messages; then it yields, goes idle, or exits.
 *
 * After a successful tr__mq_try_idle another worker may already be running the actor, so
 * every write to the actor happens before that call. */
#include "actors/clock.h"

static const struct tr_msg empty_init = {.tag = TR_ATOM_INIT, .kind = TR_KIND_INIT};

/* The reason a callback's outcome gives: its error, or what tr_stop* asked for. */
static void outcome(const tr_ctx_t *ctx, int rc, const char *what, tr_reason_t *r) {
  if (rc)
    tr_reason_set(r, TR_REASON_ERROR, rc, what);
  else
    *r = ctx->stop_reason;
}

/* Run init. Returns true when the actor exited (init failed or stopped it). */
static bool run_init(tr_ctx_t *ctx, tr_actor_t *a, uint32_t f) {
  const tr_msg_t *m = &empty_init;
  tr_mq_node_t *released = NULL, *n = NULL;
  if (f & TR_AF_INIT_MSG) {
    n = tr__mq_pop(&a->mq, &released);
    TR_ASSERT(n != NULL); /* pushed by tr__spawn before the actor was published */
    m = (const tr_msg_t *)n;
  }
  (void)f;
  uint32_t cur = atomic_load_explicit(&a->flags, memory_order_relaxed); /* RUNNING is set */
  atomic_store_explicit(&a->flags, cur & ~(uint32_t)(TR_AF_INIT_PENDING | TR_AF_INIT_MSG),
                        memory_order_relaxed);
  int rc = a->beh->init ? a->beh->init(ctx, a->state, m) : 0;
  tr__outbox_done(ctx);
  if (n)
    tr__msg_release_payload((tr_msg_t *)n); /* the init message is not counted as handled */
  if (rc != 0 || ctx->stop) {
    tr_reason_t r;
    outcome(ctx, rc, "init failed", &r);
    tr__actor_die(ctx, a, &r, rc == 0, NULL);
    return true;
  }
  return false;
}

/* Should this message reach receive? Timers, replies and DOWNs are checked against what the
 * actor still waits for; a nudge only made the actor look at its signals. */
static inline bool admit(tr_ctx_t *ctx, tr_actor_t *a, tr_msg_t *m) {
  switch (m->kind) {
  case TR_KIND_USER:
    return true;
  case TR_KIND_REPLY:
    return m->ref == 0 || tr__reply_admit(ctx, a, m);
  case TR_KIND_TIMER:
    return tr__timer_admit(ctx, a, m);
  case TR_KIND_DOWN:
    atomic_load_explicit(&a->ext, memory_order_relaxed)->downs_taken++; /* has a monitor */
    return tr__monitor_admit(a, m);
  default:
    return false;
  }
}

/* The behaviour's flush at the end of a turn. Returns true when the actor exited. */
static bool run_flush(tr_ctx_t *ctx, tr_actor_t *a) {
  int rc = a->beh->flush(ctx, a->state);
  tr__outbox_done(ctx);
  if (TR_LIKELY(rc == 0 && !ctx->stop))
    return false;
  tr_reason_t r;
  outcome(ctx, rc, "flush failed", &r);
  tr__actor_die(ctx, a, &r, true, NULL);
  return true;
}

static inline bool sample_now(tr_wlocal_t *L, tr_worker_t *w) {
  if (TR_LIKELY(--L->sample_countdown != 0))
    return false;
  /* Random gaps (mean TR_TIME_SAMPLE) so that sampling cannot beat in step with a workload
   * that alternates actors; every sample stands for TR_TIME_SAMPLE turns. */
  L->sample_countdown = 1 + (uint32_t)(tr__rand(&w->rng) % (2 * TR_TIME_SAMPLE - 1));
  return true;
}

static void note_depth(tr_actor_t *a, uint64_t deq) {
  tr__raise_hwm(a, atomic_load_explicit(&a->enq, memory_order_relaxed) - deq);
}

/* Handle up to a batch of messages. Returns -1 when the actor exited, 1 when its mailbox
 * ran empty, 0 when the batch ran out. *popped counts every envelope taken off the mailbox
 * (the depth shown is enq - deq, and nudges, cancelled timers and late replies are popped
 * without being handled); *handled counts those that reached receive. */
static int run_batch(tr_ctx_t *ctx, tr_wlocal_t *L, tr_actor_t *a, uint32_t *handled,
                     uint32_t *popped) {
  tr_worker_t *w = ctx->w;
  /* A send into a full mailbox (overload.c) ends the batch after its handler. */
  while (*handled < TR_SCHED_BATCH && TR_LIKELY(ctx->mute_on.id == 0)) {
    tr_mq_node_t *released, *n = tr__mq_peek(&a->mq);
    if (!n)
      return 1;
    /* What the actor sent itself while it ran waits for its next turn, so that an actor
     * that goes on by mailing itself (a loop in steps, a producer in chunks) lets the others
     * run in between, as it meant to. */
    tr_msg_t *peeked = (tr_msg_t *)n;
    if (TR_UNLIKELY(peeked->sig & TR_MSGF_SELF) && peeked->aux == ctx->turn_stamp && *popped > 0)
      return 0;
    tr__mq_take(&a->mq, n, &released);
    if (released)
      tr__msg_recycle(&w->pool, (tr_msg_t *)released);
    ctx->turn_popped = ++(*popped);
    tr_msg_t *m = (tr_msg_t *)n;
    /* The next envelope was written on another core: start fetching it while this one is
     * handled, instead of stalling on it at the next pop. */
    tr_mq_node_t *after = atomic_load_explicit(&n->next, memory_order_relaxed);
    if (after)
      __builtin_prefetch(after);
    int rc = 0;
    if (TR_LIKELY(admit(ctx, a, m))) {
      /* Untraced: one predictable branch on a byte of the worker's context (see send.c). */
      if (TR_UNLIKELY(ctx->traced))
        tr__trace_event(ctx, a, TR_TRACE_IN, m->from, m);
      rc = a->beh->receive(ctx, a->state, m);
      tr__outbox_done(ctx); /* what the handler sent goes out now: it may mute us */
      (*handled)++;
    }
    tr__msg_release_payload(m);
    if (TR_UNLIKELY(rc != 0 || ctx->stop)) {
      tr_reason_t r;
      outcome(ctx, rc, "receive failed", &r);
      tr__bump(&L->messages, *handled);
      tr__actor_die(ctx, a, &r, true, NULL);
      return -1;
    }
    if (TR_UNLIKELY(atomic_load_explicit(&a->sigs, memory_order_relaxed) != NULL) &&
        tr__signals_handle(ctx, a)) {
      tr__bump(&L->messages, *handled);
      return -1;
    }
  }
  return 0;
}

void tr__actor_run(void *task, tr_worker_t *w) {
  tr_actor_t *a = task;
  tr_wlocal_t *L = w->local;
  tr_ctx_t *ctx = &L->ctx;
  ctx->self = a;
  ctx->stop = false;
  ctx->mute_on = TR_PID_NONE;
  ctx->nmute_more = 0;
  ctx->turn_popped = 0;
  bool timed = sample_now(L, w);
  uint64_t t0 = timed ? tr__ticks() : 0;
  uint32_t f = atomic_load_explicit(&a->flags, memory_order_relaxed);
  atomic_store_explicit(&a->flags, f | TR_AF_RUNNING, memory_order_relaxed);
  ctx->traced = (f & TR_AF_TRACED) != 0;
  /* Statistics only (relaxed): the console's running_ms counts from here (stats.c). The
   * clock only ticks while a console runs; otherwise this copies an unchanging 0. */
  atomic_store_explicit(&a->last_run_ms,
                        atomic_load_explicit(&ctx->sys->coarse_ms, memory_order_relaxed),
                        memory_order_relaxed);
  uint64_t deq = atomic_load_explicit(&a->deq, memory_order_relaxed);
  ctx->turn_stamp = (uint32_t)deq; /* differs from the last turn's when that one popped */
  note_depth(a, deq);

  if (TR_UNLIKELY(atomic_load_explicit(&a->sigs, memory_order_relaxed) != NULL) &&
      tr__signals_handle(ctx, a))
    return;
  if (TR_UNLIKELY(f & TR_AF_INIT_PENDING) && run_init(ctx, a, f))
    return;
  /* Released from a park while other mailboxes it filled may still be full: it waits on
   * those first (its signals were handled above, and what that sent goes out first). */
  if (TR_UNLIKELY(f & TR_AF_REMUTE)) {
    tr__outbox_done(ctx);
    if (tr__mute_repark(ctx, a))
      return;
  }

  uint32_t handled = 0, popped = 0;
  int end = run_batch(ctx, L, a, &handled, &popped);
  if (end < 0)
    return;
  atomic_store_explicit(&a->deq, deq + popped, memory_order_relaxed);
  ctx->turn_popped = 0; /* counted in deq now */
  tr__bump(&L->messages, handled);
  if (TR_UNLIKELY(a->beh->flush != NULL) && handled && run_flush(ctx, a))
    return;
  f = atomic_load_explicit(&a->flags, memory_order_relaxed); /* init may have changed it */
  if (TR_UNLIKELY(f & TR_AF_RTIMEOUT) && handled)
    tr__recv_timeout_touch(a);
  if (timed) {
    uint64_t spent = (tr__ticks() - t0) * TR_TIME_SAMPLE;
    tr__bump(&a->run_ticks, spent);
    tr__bump(&L->busy_ticks, spent);
  }
  /* Those muted on this mailbox go again once it is below its low-water mark. */
  if (TR_UNLIKELY(f & TR_AF_MUTERS) && tr__depth(a) < a->low) {
    tr__mute_release_all(ctx, a);
    f = atomic_load_explicit(&a->flags, memory_order_relaxed);
  }
  /* What the signal lane's handling sent (a DOWN, an exit, an answer to an inspection) goes
   * out with the turn, as a handler's sends do. */
  tr__outbox_done(ctx);
  /* It sent into a full mailbox: park until that one drains (its last write is there). */
  if (TR_UNLIKELY(ctx->mute_on.id != 0) && tr__mute_park(ctx, a))
    return;
  atomic_store_explicit(&a->flags, f & ~(uint32_t)TR_AF_RUNNING, memory_order_relaxed);
  /* Yield when the batch ran out, or when a push is still linking its message: either way
   * the actor stays scheduled and goes to the back of the line. */
  if (end == 0 || !tr__mq_try_idle(&a->mq))
    tr__sched_yield(w, a);
}
