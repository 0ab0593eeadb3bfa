/* Links, monitors, exit signals and the signal lane.
 *
 * Signals (exit, link, unlink, monitor, demonitor) travel on each actor's signal lane, a
 * push-only stack its owner takes whole before each message, so they overtake ordinary
 * messages and are never dropped while the target lives. The owner keeps the state they
 * build (links, watchers, monitors) in its ext block, touched only by the thread running
 * it. When an actor exits it closes its lane with one exchange: a signal pushed before that
 * is answered by the exiting actor (a link gets the exit, a monitor its DOWN); a push after
 * it fails, and the sender answers itself (noproc). So each link and monitor gets exactly
 * one answer. */
#include <string.h>

#include "actors/remote.h"

bool tr__signal_push(tr_actor_t *a, tr_msg_t *s) {
  tr_msg_t *top = atomic_load_explicit(&a->sigs, memory_order_relaxed);
  do {
    if (top == TR_SIGS_CLOSED)
      return false;
    atomic_store_explicit(&s->node.next, (tr_mq_node_t *)top, memory_order_relaxed);
    /* release: publishes the signal's contents to the owner's acquire exchange. */
  } while (!atomic_compare_exchange_weak_explicit(&a->sigs, &top, s, memory_order_release,
                                                  memory_order_relaxed));
  return true;
}

static tr_msg_t *envelope(tr_ctx_t *ctx) {
  tr_msg_t *m = tr__msg_alloc(tr__ctx_pool(ctx));
  if (!m) {
    /* A signal that cannot be built would break the exactly-once promises of links and
     * monitors; there is no sane way on without memory for 64 bytes. */
    tr_log(TR_LOG_ERROR, "out of memory building a signal");
    abort();
  }
  return m;
}

static tr_msg_t *make_signal(tr_ctx_t *ctx, tr_pid_t from, uint16_t sig, uint32_t aux, uint64_t ref,
                             const tr_reason_t *reason) {
  tr_msg_t *s = envelope(ctx);
  tr__msg_fill(s, TR_ATOM_EXIT, from, NULL, 0);
  s->kind = TR_KIND_SIGNAL;
  s->sig = sig;
  s->aux = aux;
  s->ref = ref;
  if (reason) {
    tr_reason_t *copy = malloc(sizeof *copy);
    if (!copy) {
      tr_log(TR_LOG_ERROR, "out of memory building a signal");
      abort();
    }
    *copy = *reason;
    s->store = TR_STORE_HEAP;
    s->u.heap = copy;
    s->len = sizeof *copy;
  }
  return s;
}

/* Send a signal that appears to come from `from`. */
static bool send_from(tr_ctx_t *ctx, tr_pid_t to, tr_pid_t from, uint16_t sig, uint32_t aux,
                      uint64_t ref, const tr_reason_t *reason) {
  tr_system_t *sys = ctx->sys;
  if (TR_UNLIKELY(tr__pid_remote(to))) {
    const tr_remote_ops_t *ops = tr__remote(sys);
    return ops && ops->signal(ctx, to, from, sig, aux, ref, reason);
  }
  tr_msg_t *s = make_signal(ctx, from, sig, aux, ref, reason);
  tr_msg_t *nudge = envelope(ctx);
  tr__msg_fill(nudge, TR_ATOM_EXIT, from, NULL, 0);
  nudge->kind = TR_KIND_NUDGE;
  if (!ctx->lockfree)
    tr__qsbr_foreign_enter(&sys->sched.qsbr);
  tr_actor_t *a = tr__table_get(&sys->table, to);
  bool ok = a && tr__signal_push(a, s);
  /* The nudge makes an idle target run and look at its lane; a muted one is released, for
   * signals are never held back (overload.c). */
  if (ok) {
    tr__enqueue(ctx, a, nudge);
    /* seq_cst: pairs with the fence of tr__mute_park (it reads the lane after its flag). */
    atomic_thread_fence(memory_order_seq_cst);
    if (TR_UNLIKELY(atomic_load_explicit(&a->flags, memory_order_relaxed) & TR_AF_MUTED))
      tr__unmute(ctx, a);
  }
  if (!ctx->lockfree)
    tr__qsbr_foreign_exit(&sys->sched.qsbr);
  if (!ok) {
    tr__msg_free(tr__ctx_pool(ctx), s);
    tr__msg_recycle(tr__ctx_pool(ctx), nudge);
  }
  return ok;
}

bool tr__signal_send(tr_ctx_t *ctx, tr_pid_t pid, uint16_t sig, uint32_t aux, uint64_t ref,
                     const tr_reason_t *reason) {
  return send_from(ctx, pid, tr_self(ctx), sig, aux, ref, reason);
}

bool tr__signal_from(tr_ctx_t *ctx, tr_pid_t to, tr_pid_t from, uint16_t sig) {
  return send_from(ctx, to, from, sig, 0, 0, NULL);
}

bool tr__signal_push_from(tr_ctx_t *ctx, tr_pid_t to, tr_pid_t from, uint16_t sig, uint32_t aux,
                          uint64_t ref, const tr_reason_t *reason) {
  return send_from(ctx, to, from, sig, aux, ref, reason);
}

int tr_exit(tr_ctx_t *ctx, tr_pid_t pid, const tr_reason_t *reason) {
  if (!ctx || !reason)
    return TR_EINVAL;
  if (atomic_load_explicit(&ctx->sys->state, memory_order_relaxed) == TR_SYS_STOPPED)
    return TR_ESTOPPED;
  send_from(ctx, pid, tr_self(ctx), TR_SIG_EXIT, 0, 0, reason);
  return 0;
}

/* ---- messages that report exits ---- */

static void send_down(tr_ctx_t *ctx, tr_pid_t watcher, uint64_t ref, tr_pid_t who,
                      const tr_reason_t *r) {
  tr_msg_t *m = envelope(ctx);
  size_t len;
  unsigned char buf[TR_MSG_INLINE + TR_REASON_TEXT_MAX + 16];
  /* 'p': the pid must name the same actor when the DOWN crosses to another node. */
  int rc = tr_pack_into(buf, sizeof buf, &len, "[upiis]", ref, who, (int64_t)r->kind,
                        (int64_t)r->code, r->text);
  TR_ASSERT(rc == 0);
  if (tr__msg_fill(m, TR_ATOM_DOWN, who, buf, len) != 0) {
    tr_log(TR_LOG_ERROR, "out of memory building a DOWN message");
    abort();
  }
  m->kind = TR_KIND_DOWN;
  m->ref = ref;
  m->sig = TR_MSGF_PIDS;
  tr__deliver(ctx, watcher, m);
}

void tr__down_deliver(tr_ctx_t *ctx, tr_pid_t watcher, uint64_t ref, tr_pid_t who,
                      const tr_reason_t *r) {
  send_down(ctx, watcher, ref, who, r);
}

/* Why a link or monitor to pid could not be made: the actor is gone, or (for an actor of
 * another node) that node is not connected. */
static tr_reason_t *unreachable(tr_reason_t *r, tr_pid_t pid) {
  return tr_reason_set(r, tr__pid_remote(pid) ? TR_REASON_NOCONNECTION : TR_REASON_NOPROC, 0, NULL);
}

/* A trapped exit signal becomes a message at the end of the owner's own mailbox. */
static void post_exit_message(tr_ctx_t *ctx, tr_actor_t *a, tr_pid_t from, const tr_reason_t *r) {
  tr_msg_t *m = envelope(ctx);
  size_t len;
  unsigned char buf[TR_MSG_INLINE + TR_REASON_TEXT_MAX + 16];
  int rc = tr_pack_into(buf, sizeof buf, &len, "[uiis]", from.id, (int64_t)r->kind,
                        (int64_t)r->code, r->text);
  TR_ASSERT(rc == 0);
  if (tr__msg_fill(m, TR_ATOM_EXIT, from, buf, len) != 0) {
    tr_log(TR_LOG_ERROR, "out of memory building an EXIT message");
    abort();
  }
  tr__enqueue(ctx, a, m);
}

static int read_reason(const tr_msg_t *m, const char *fmt, uint64_t *a, tr_pid_t *b,
                       tr_reason_t *r) {
  int64_t kind, code;
  const char *text;
  size_t tlen;
  size_t len;
  const void *data = tr_msg_data(m, &len);
  int rc = b ? tr_unpack(data, len, NULL, fmt, a, b, &kind, &code, &text, &tlen)
             : tr_unpack(data, len, NULL, fmt, a, &kind, &code, &text, &tlen);
  if (rc != 0 || kind < 0 || kind > TR_REASON_NOCONNECTION || code < INT32_MIN || code > INT32_MAX)
    return TR_ETYPE;
  r->kind = (tr_reason_kind_t)kind;
  r->code = (int)code;
  size_t n = tlen < TR_REASON_TEXT_MAX - 1 ? tlen : TR_REASON_TEXT_MAX - 1;
  memcpy(r->text, text, n);
  r->text[n] = '\0';
  return 0;
}

int tr_msg_down(const tr_msg_t *m, tr_down_t *out) {
  if (!m || !out || tr_msg_tag(m) != TR_ATOM_DOWN)
    return TR_ETYPE;
  return read_reason(m, "[upiis]", &out->ref, &out->pid, &out->reason);
}

int tr_msg_exit(const tr_msg_t *m, tr_pid_t *from, tr_reason_t *reason) {
  if (!m || !from || !reason || tr_msg_tag(m) != TR_ATOM_EXIT)
    return TR_ETYPE;
  return read_reason(m, "[uiis]", &from->id, NULL, reason);
}

/* ---- the signal lane, from the owner's side ---- */

static tr_msg_t *reverse(tr_msg_t *s) {
  tr_msg_t *fifo = NULL;
  while (s) {
    tr_msg_t *next = (tr_msg_t *)atomic_load_explicit(&s->node.next, memory_order_relaxed);
    atomic_store_explicit(&s->node.next, (tr_mq_node_t *)fifo, memory_order_relaxed);
    fifo = s;
    s = next;
  }
  return fifo;
}

static tr_msg_t *next_of(tr_msg_t *s) {
  return (tr_msg_t *)atomic_load_explicit(&s->node.next, memory_order_relaxed);
}

static tr_actor_ext_t *ext_of(tr_actor_t *a) {
  tr_actor_ext_t *e = tr__actor_ext(a);
  if (!e) {
    tr_log(TR_LOG_ERROR, "out of memory for an actor's link table");
    abort();
  }
  return e;
}

/* Link, unlink, monitor, demonitor: bookkeeping only. */
static void apply(tr_actor_t *a, const tr_msg_t *s) {
  switch (s->sig) {
  case TR_SIG_LINK:
    tr__u64map_put(&ext_of(a)->links, s->from.id, 1);
    break;
  case TR_SIG_UNLINK:
    tr__u64map_del(&ext_of(a)->links, s->from.id, NULL);
    break;
  case TR_SIG_MONITOR:
    tr__u64map_put(&ext_of(a)->watchers, s->ref, s->from.id);
    break;
  case TR_SIG_DEMONITOR:
    tr__u64map_del(&ext_of(a)->watchers, s->ref, NULL);
    break;
  default:
    break;
  }
}

/* An exit signal: does it end the actor? If it is trapped, it becomes a message. */
static bool exit_ends(tr_ctx_t *ctx, tr_actor_t *a, const tr_msg_t *s, const tr_reason_t *r) {
  if (s->aux & TR_EXITF_LINK) {
    tr_actor_ext_t *e = atomic_load_explicit(&a->ext, memory_order_acquire);
    /* From a link we dropped meanwhile (tr_unlink crossed the exit): not ours any more. */
    if (!e || !tr__u64map_del(&e->links, s->from.id, NULL))
      return false;
  }
  bool from_self = tr_pid_eq(s->from, a->pid);
  bool untrappable = (s->aux & TR_EXITF_FORCED) || from_self ||
                     (!(s->aux & TR_EXITF_LINK) && r->kind == TR_REASON_KILLED);
  if (untrappable)
    return true;
  if (atomic_load_explicit(&a->flags, memory_order_relaxed) & TR_AF_TRAP) {
    post_exit_message(ctx, a, s->from, r);
    return false;
  }
  return r->kind != TR_REASON_NORMAL;
}

bool tr__signals_handle(tr_ctx_t *ctx, tr_actor_t *a) {
  /* acquire: pairs with the release CAS in tr__signal_push (the envelopes' contents). */
  tr_msg_t *s = reverse(atomic_exchange_explicit(&a->sigs, NULL, memory_order_acquire));
  while (s) {
    tr_msg_t *next = next_of(s);
    if (s->sig == TR_SIG_EXIT) {
      tr_reason_t r = *(const tr_reason_t *)s->u.heap;
      if (exit_ends(ctx, a, s, &r)) {
        tr__msg_free(tr__ctx_pool(ctx), s);
        uint32_t f = atomic_load_explicit(&a->flags, memory_order_relaxed);
        /* An actor whose init never ran has nothing for terminate to clean up. */
        tr__actor_die(ctx, a, &r, !(f & TR_AF_INIT_PENDING), next);
        return true;
      }
    } else if (s->sig == TR_SIG_MUTED) {
      tr__mute_noted(ctx, a, s->from);
    } else if (TR_UNLIKELY(s->sig >= TR_SIG_INSPECT)) {
      tr__debug_signal(ctx, a, s); /* inspect, trace: answered only while alive */
    } else {
      apply(a, s);
    }
    tr__msg_free(tr__ctx_pool(ctx), s);
    s = next;
  }
  return false;
}

void tr__signals_exit(tr_ctx_t *ctx, tr_actor_t *a, tr_msg_t *pending, const tr_reason_t *r) {
  /* acq_rel: takes what was pushed (acquire) and closes the lane (release), so a later push
   * fails and its sender answers itself. */
  tr_msg_t *rest =
      reverse(atomic_exchange_explicit(&a->sigs, TR_SIGS_CLOSED, memory_order_acq_rel));
  /* Signals that arrived before the close still get their answer: record the links and
   * monitors they ask for (in order: those taken earlier first), so the loops below answer
   * them. */
  tr_msg_t *lists[2] = {pending, rest};
  for (int k = 0; k < 2; k++) {
    for (tr_msg_t *s = lists[k], *next; s; s = next) {
      next = next_of(s);
      if (s->sig == TR_SIG_MUTED)
        tr__mute_noted(ctx, a, s->from); /* released below with the others */
      else
        apply(a, s);
      tr__msg_free(tr__ctx_pool(ctx), s);
    }
  }
  /* Those muted on us: nobody will drain this mailbox now (the lane is closed, so no new
   * one can park on us: its signal fails and it releases itself). */
  tr__mute_release_all(ctx, a);
  tr_actor_ext_t *e = atomic_load_explicit(&a->ext, memory_order_acquire);
  if (!e)
    return;
  uint64_t k, v;
  for (uint32_t i = 0; tr__u64map_next(&e->links, &i, &k, &v);)
    tr__signal_send(ctx, (tr_pid_t){k}, TR_SIG_EXIT, TR_EXITF_LINK, 0, r);
  for (uint32_t i = 0; tr__u64map_next(&e->watchers, &i, &k, &v);)
    send_down(ctx, (tr_pid_t){v}, k, a->pid, r);
  /* Our own monitors: tell their targets, so they do not keep a watcher that is gone. */
  for (uint32_t i = 0; tr__u64map_next(&e->monitors, &i, &k, &v);)
    tr__signal_send(ctx, (tr_pid_t){v}, TR_SIG_DEMONITOR, 0, k, NULL);
  tr__u64map_free(&e->links);
  tr__u64map_free(&e->watchers);
  tr__u64map_free(&e->monitors);
}

bool tr__monitor_admit(tr_actor_t *a, const tr_msg_t *m) {
  tr_actor_ext_t *e = atomic_load_explicit(&a->ext, memory_order_acquire);
  return e && tr__u64map_del(&e->monitors, m->ref, NULL);
}

/* ---- the public calls, from inside handlers ---- */

int tr_link(tr_ctx_t *ctx, tr_pid_t pid) {
  if (!tr__in_handler(ctx) || tr_pid_eq(pid, ctx->self->pid) || tr_pid_is_none(pid))
    return TR_EINVAL;
  tr_actor_ext_t *e = ext_of(ctx->self);
  if (tr__u64map_get(&e->links, pid.id, NULL))
    return 0;
  if (tr__u64map_put(&e->links, pid.id, 1) != 0)
    return TR_ENOMEM;
  if (!tr__signal_send(ctx, pid, TR_SIG_LINK, 0, 0, NULL)) {
    /* Linking to the dead: the caller gets an exit signal with reason noproc from it
     * (noconnection when its node is not connected). */
    tr__u64map_del(&e->links, pid.id, NULL);
    tr_reason_t r;
    send_from(ctx, ctx->self->pid, pid, TR_SIG_EXIT, 0, 0, unreachable(&r, pid));
  }
  return 0;
}

int tr_unlink(tr_ctx_t *ctx, tr_pid_t pid) {
  if (!tr__in_handler(ctx))
    return TR_EINVAL;
  tr_actor_ext_t *e = atomic_load_explicit(&ctx->self->ext, memory_order_acquire);
  if (e && tr__u64map_del(&e->links, pid.id, NULL))
    tr__signal_send(ctx, pid, TR_SIG_UNLINK, 0, 0, NULL);
  return 0;
}

int tr_trap_exit(tr_ctx_t *ctx, bool on) {
  if (!tr__in_handler(ctx))
    return TR_EINVAL;
  tr_actor_t *a = ctx->self;
  uint32_t f = atomic_load_explicit(&a->flags, memory_order_relaxed);
  atomic_store_explicit(&a->flags, on ? f | TR_AF_TRAP : f & ~(uint32_t)TR_AF_TRAP,
                        memory_order_relaxed);
  return 0;
}

int tr_monitor(tr_ctx_t *ctx, tr_pid_t pid, uint64_t *ref) {
  if (!tr__in_handler(ctx) || !ref)
    return TR_EINVAL;
  tr_actor_ext_t *e = ext_of(ctx->self);
  uint64_t r = TR__NEXT_REF(ctx->sys);
  if (tr__u64map_put(&e->monitors, r, pid.id) != 0)
    return TR_ENOMEM;
  *ref = r;
  if (!tr__signal_send(ctx, pid, TR_SIG_MONITOR, 0, r, NULL)) {
    tr_reason_t why;
    send_down(ctx, ctx->self->pid, r, pid, unreachable(&why, pid));
  }
  return 0;
}

int tr_demonitor(tr_ctx_t *ctx, uint64_t ref) {
  if (!tr__in_handler(ctx))
    return TR_EINVAL;
  tr_actor_ext_t *e = atomic_load_explicit(&ctx->self->ext, memory_order_acquire);
  uint64_t target;
  if (!e || !tr__u64map_del(&e->monitors, ref, &target))
    return TR_ENOENT;
  tr__signal_send(ctx, (tr_pid_t){target}, TR_SIG_DEMONITOR, 0, ref, NULL);
  return 0;
}

/* ---- spawn-time links and monitors (the child is not published yet) ---- */

int tr__link_new(tr_ctx_t *ctx, tr_actor_t *child) {
  tr_actor_ext_t *pe = ext_of(ctx->self), *ce = ext_of(child);
  if (tr__u64map_put(&pe->links, child->pid.id, 1) != 0 ||
      tr__u64map_put(&ce->links, ctx->self->pid.id, 1) != 0)
    return TR_ENOMEM;
  return 0;
}

int tr__monitor_new(tr_ctx_t *ctx, tr_actor_t *child, uint64_t *ref) {
  tr_actor_ext_t *pe = ext_of(ctx->self), *ce = ext_of(child);
  uint64_t r = TR__NEXT_REF(ctx->sys);
  if (tr__u64map_put(&pe->monitors, r, child->pid.id) != 0 ||
      tr__u64map_put(&ce->watchers, r, ctx->self->pid.id) != 0)
    return TR_ENOMEM;
  *ref = r;
  return 0;
}
