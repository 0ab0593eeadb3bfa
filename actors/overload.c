/* The overload policy (include/troupe/actor.h, docs/overload.md): what a send does when it
 * finds a mailbox at or over its high-water mark, and muting.
 *
 * Muting. A send from an actor S into a full mailbox R (policy MUTE) queues the message and
 * notes R in S's context. When S's handler returns, its turn ends early and S parks: it sets
 * TR_AF_MUTED as the last write of its turn and sends R a MUTED signal; its mailbox stays
 * "scheduled", so nothing schedules it while it is parked. R records S among its muters
 * when it handles the signal (the lane is handled before any message, and a signal makes
 * an idle actor run, so R cannot miss it) and, at the end of every turn that leaves it
 * below its low-water mark, releases them all. Releasing is a CAS that clears MUTED; the
 * winner schedules the actor, so a parked actor is scheduled exactly once, whoever else
 * tries. A handler that found several mailboxes full parks on the first still full and
 * keeps the others (TR_AF_REMUTE): released, it parks on the next still full before it runs
 * again (tr__mute_repark), unless it is full itself or a DOWN waits. Besides its receiver, a
 * parked actor is released by any signal or DOWN sent to it (it must still handle exits),
 * and by a push that finds its own mailbox full (it must drain). Each of these senders looks
 * at the flag after its push behind a seq_cst fence, and the parking actor looks at its
 * depth, its signal lane and its count of DOWNs after setting the flag, behind one too:
 * whichever comes second sees the other.
 *
 * Why no cycle of muted actors lasts. A mute edge S -> R is made only when R is full. A
 * parked actor is released as soon as it is seen full, by the pusher (after its push, with
 * a seq_cst fence, it reads the flag) or by itself (after setting the flag, with a seq_cst
 * fence, it reads its depth): one of the two sees the other. Take the last edge of a
 * supposed cycle, Sk -> S1: S1 was full when Sk pushed, and S1 had parked before (its own
 * edge is older), so one of them released S1, and the cycle is broken. Chains end at an
 * actor that runs, which drains, and releases its muters; they release theirs in turn.
 * An actor that is full itself is never muted, nor one sending to itself, nor an unmutable
 * one (supervisors).
 *
 * The fast path of a send reads the receiver's `high` and its two counters, which sit on
 * the cache line the push touches anyway; everything else happens only when it is full. */
#include <time.h>

#include "actors/remote.h"

/* How often an outside sender waiting for a drain looks again. */
#define WAIT_POLL_NS 100000L

const char *tr_overload_name(tr_overload_t policy) {
  switch (policy) {
  case TR_OVERLOAD_MUTE:
    return "mute";
  case TR_OVERLOAD_DROP:
    return "drop";
  case TR_OVERLOAD_FAIL:
    return "fail";
  case TR_OVERLOAD_OFF:
    return "off";
  }
  return "?";
}

int tr__overload_check(const tr_mailbox_opts_t *o) {
  if ((unsigned)o->policy > TR_OVERLOAD_OFF || o->high_water == 1 ||
      o->high_water > TR_MAILBOX_HIGH_MAX)
    return TR_EINVAL;
  uint32_t high = o->high_water ? o->high_water : TR_MAILBOX_HIGH;
  return o->low_water >= high ? TR_EINVAL : 0;
}

int tr__overload_setup(tr_system_t *sys, tr_actor_t *a, const tr_spawn_opts_t *opts,
                       uint32_t *flags) {
  const tr_mailbox_opts_t *o = &sys->cfg.mailbox;
  if (opts && (opts->mailbox.policy || opts->mailbox.high_water || opts->mailbox.low_water))
    o = &opts->mailbox;
  int rc = tr__overload_check(o);
  if (rc)
    return rc;
  if (opts && opts->unmutable)
    *flags |= TR_AF_UNMUTABLE;
  a->ov = (*flags & TR_AF_CLIENT) ? TR_OV_CLIENT : 0u;
  if (o->policy == TR_OVERLOAD_OFF || (*flags & TR_AF_CLIENT)) {
    a->high = 0;
    a->low = 0;
    return 0;
  }
  uint32_t high = o->high_water ? o->high_water : TR_MAILBOX_HIGH;
  a->high = high & TR_MAILBOX_HIGH_MAX; /* checked above: fits */
  a->low = o->low_water ? o->low_water : high / 4;
  if (a->low == 0)
    a->low = 1; /* "below 0" would never release anyone */
  if (o->policy == TR_OVERLOAD_DROP)
    a->ov = TR_OV_DROP;
  else if (o->policy == TR_OVERLOAD_FAIL)
    a->ov = TR_OV_FAIL;
  return 0;
}

/* ---- counting ---- */

void tr__overload_count(tr_actor_t *a, bool dropped) {
  tr_actor_ext_t *e = tr__actor_ext(a);
  if (e)
    atomic_fetch_add_explicit(dropped ? &e->dropped : &e->refused, 1, memory_order_relaxed);
}

/* ---- releasing ---- */

void tr__unmute(tr_ctx_t *ctx, tr_actor_t *a) {
  uint32_t f = atomic_load_explicit(&a->flags, memory_order_relaxed);
  while (f & TR_AF_MUTED) {
    /* acq_rel: the acquire sees everything the parked turn wrote (its release store of the
     * flag); the winner alone schedules it. */
    if (atomic_compare_exchange_weak_explicit(&a->flags, &f, f & ~(uint32_t)TR_AF_MUTED,
                                              memory_order_acq_rel, memory_order_relaxed)) {
      if (ctx->w)
        tr__sched_wake_local(ctx->w, a);
      else
        tr__sched_inject(&ctx->sys->sched, a);
      return;
    }
  }
}

/* Release the actor named pid, if it lives and is muted. A muter of another node's is the
 * reading of a link that a full mailbox paused (actors/remote.h). */
static void unmute_pid(tr_ctx_t *ctx, uint64_t pid) {
  tr_system_t *sys = ctx->sys;
  if (TR_UNLIKELY(tr__pid_remote((tr_pid_t){pid}))) {
    const tr_remote_ops_t *ops = tr__remote(sys);
    if (ops)
      ops->release(ctx, (tr_pid_t){pid});
    return;
  }
  if (!ctx->lockfree)
    tr__qsbr_foreign_enter(&sys->sched.qsbr);
  tr_actor_t *a = tr__table_get(&sys->table, (tr_pid_t){pid});
  if (a)
    tr__unmute(ctx, a);
  if (!ctx->lockfree)
    tr__qsbr_foreign_exit(&sys->sched.qsbr);
}

void tr__unmute_pid(tr_ctx_t *ctx, tr_pid_t pid) { unmute_pid(ctx, pid.id); }

void tr__mute_noted(tr_ctx_t *ctx, tr_actor_t *a, tr_pid_t sender) {
  tr_actor_ext_t *e = tr__actor_ext(a);
  /* Drained already (or no memory to remember it): release it now. */
  if (!e || tr__depth(a) < a->low || tr__u64map_put(&e->muters, sender.id, 1) != 0) {
    unmute_pid(ctx, sender.id);
    return;
  }
  uint32_t f = atomic_load_explicit(&a->flags, memory_order_relaxed);
  atomic_store_explicit(&a->flags, f | TR_AF_MUTERS, memory_order_relaxed); /* owner write */
}

void tr__mute_release_all(tr_ctx_t *ctx, tr_actor_t *a) {
  tr_actor_ext_t *e = atomic_load_explicit(&a->ext, memory_order_acquire);
  uint32_t f = atomic_load_explicit(&a->flags, memory_order_relaxed);
  atomic_store_explicit(&a->flags, f & ~(uint32_t)TR_AF_MUTERS, memory_order_relaxed);
  if (!e || e->muters.count == 0)
    return;
  uint64_t k, v;
  for (uint32_t i = 0; tr__u64map_next(&e->muters, &i, &k, &v);)
    unmute_pid(ctx, k);
  tr__u64map_free(&e->muters);
}

/* ---- the send path ---- */

bool tr__overload_wait(tr_ctx_t *ctx, uint64_t *deadline_ns) {
  if (ctx->send_wait_ms <= 0)
    return false;
  uint64_t now = tr__now_ns();
  if (*deadline_ns == 0)
    *deadline_ns = now + (uint64_t)ctx->send_wait_ms * 1000000u;
  if (now >= *deadline_ns)
    return false;
  struct timespec ts = {0, WAIT_POLL_NS};
  nanosleep(&ts, NULL);
  return true;
}

int tr__overload_full(tr_ctx_t *ctx, tr_actor_t *a) {
  bool actor = tr__in_handler(ctx);
  if (actor && ctx->self == a)
    return 0; /* an actor's messages to itself are never refused */
  if (a->ov & TR_OV_DROP)
    return 1;
  if (a->ov & TR_OV_FAIL)
    return TR_EBUSY;
  if (!actor)
    return TR_EAGAIN; /* the caller waits (tr__overload_wait) or gives up with TR_EBUSY */
  if (tr__may_mute(ctx))
    tr__mute_note(ctx, a->pid);
  return 0;
}

void tr__mute_note(tr_ctx_t *ctx, tr_pid_t to) {
  if (ctx->mute_on.id == 0) {
    ctx->mute_on = to;
    return;
  }
  if (ctx->mute_on.id == to.id)
    return;
  for (uint32_t i = 0; i < ctx->nmute_more; i++)
    if (ctx->mute_more[i].id == to.id)
      return;
  if (ctx->nmute_more < TR_MUTE_MORE)
    ctx->mute_more[ctx->nmute_more++] = to;
}

bool tr__may_mute(tr_ctx_t *ctx) {
  if (!tr__in_handler(ctx))
    return false;
  tr_actor_t *self = ctx->self;
  uint32_t sf = atomic_load_explicit(&self->flags, memory_order_relaxed);
  uint64_t own = tr__depth(self) - ctx->turn_popped; /* what it has really left to do */
  /* Never muted, or full itself: it must go on draining. */
  return !(sf & TR_AF_UNMUTABLE) && !(self->high && own >= self->high);
}

void tr__overload_pushed(tr_ctx_t *ctx, tr_actor_t *a) {
  /* seq_cst: the other half of the fence in tr__mute_park. Our push (the enq increment
   * before this) or its flag: one of us sees the other's. */
  atomic_thread_fence(memory_order_seq_cst);
  if (atomic_load_explicit(&a->flags, memory_order_relaxed) & TR_AF_MUTED)
    tr__unmute(ctx, a); /* full and muted: it must drain first */
}

/* ---- parking ---- */

/* Is `to` (a mailbox here, or the busy link to another node, actors/remote.h) a reason to
 * wait: alive and not yet drained below its low-water mark? */
static bool worth_waiting(tr_system_t *sys, tr_pid_t to) {
  const tr_remote_ops_t *ops = tr__pid_remote(to) ? tr__remote(sys) : NULL;
  if (ops)
    return ops->busy(sys, to);
  tr_actor_t *r = tr__table_get(&sys->table, to);
  return r && tr__depth(r) >= r->low;
}

bool tr__mute_park(tr_ctx_t *ctx, tr_actor_t *a) {
  tr_system_t *sys = ctx->sys;
  /* Every mailbox the handler found full, in order: it waits on the first that still is,
   * and after that on each of the others that still is then (tr__mute_repark), so that no
   * receiver gets more than one handler's sends past its mark while another releases it. */
  tr_pid_t all[1 + TR_MUTE_MORE];
  uint32_t n = 0, first = 0;
  all[n++] = ctx->mute_on;
  for (uint32_t i = 0; i < ctx->nmute_more; i++)
    all[n++] = ctx->mute_more[i];
  ctx->mute_on = TR_PID_NONE;
  ctx->nmute_more = 0;
  while (first < n && !worth_waiting(sys, all[first]))
    first++;
  if (first == n)
    return false; /* gone, or drained already: no reason to wait */
  tr_pid_t to = all[first];
  const tr_remote_ops_t *ops = tr__pid_remote(to) ? tr__remote(sys) : NULL;
  tr_actor_ext_t *e = tr__actor_ext(a);
  if (!e)
    return false;
  if (first + 1 < n && !e->remute)
    e->remute = calloc(1, sizeof *e->remute); /* without it: it waits on the first only */
  if (e->remute) {
    e->remute->n = 0;
    for (uint32_t i = first + 1; i < n; i++)
      e->remute->pid[e->remute->n++] = all[i].id;
  }
  atomic_store_explicit(&e->muted_by, to.id, memory_order_relaxed);
  atomic_fetch_add_explicit(&e->mutes, 1, memory_order_relaxed);
  tr_pid_t self = a->pid;
  uint64_t high = a->high, taken = e->downs_taken; /* owner-only: read before the flag */
  uint32_t f = atomic_load_explicit(&a->flags, memory_order_relaxed);
  uint32_t remute = e->remute && e->remute->n ? TR_AF_REMUTE : 0u;
  /* The last write of the turn (seq_cst: the other half of tr__overload_pushed's fence).
   * From here on another worker may run the actor: this one only reads its counters. */
  atomic_store_explicit(&a->flags, (f & ~(uint32_t)TR_AF_RUNNING) | TR_AF_MUTED | remute,
                        memory_order_seq_cst);
  if ((high && tr__depth(a) >= high) ||
      atomic_load_explicit(&e->downs, memory_order_relaxed) != taken ||
      atomic_load_explicit(&a->sigs, memory_order_relaxed) != NULL) {
    /* Full itself meanwhile, or a DOWN or a signal waits (their senders looked at the flag
     * before we set it): handle them instead of parking. */
    tr__unmute(ctx, a);
    return true;
  }
  bool noted = ops ? ops->park(ctx, self, to) : tr__signal_from(ctx, to, self, TR_SIG_MUTED);
  if (!noted)
    tr__unmute(ctx, a); /* it exited (or drained) meanwhile: nobody would release us */
  return true;
}

bool tr__mute_repark(tr_ctx_t *ctx, tr_actor_t *a) {
  uint32_t f = atomic_load_explicit(&a->flags, memory_order_relaxed);
  atomic_store_explicit(&a->flags, f & ~(uint32_t)TR_AF_REMUTE, memory_order_relaxed);
  tr_actor_ext_t *e = atomic_load_explicit(&a->ext, memory_order_acquire); /* set by the park */
  struct tr_remute *r = e ? e->remute : NULL;
  uint32_t n = r ? r->n : 0;
  if (r)
    r->n = 0;
  /* Full itself, or a DOWN waits (released to handle it): it runs, and forgets the rest, as
   * tr__may_mute and the park would have it. */
  if (n == 0 || (a->high && tr__depth(a) >= a->high) ||
      atomic_load_explicit(&e->downs, memory_order_relaxed) != e->downs_taken)
    return false;
  ctx->mute_on = (tr_pid_t){r->pid[0]};
  ctx->nmute_more = n - 1;
  for (uint32_t i = 1; i < n; i++)
    ctx->mute_more[i - 1] = (tr_pid_t){r->pid[i]};
  return tr__mute_park(ctx, a);
}
