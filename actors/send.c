/* Sending: build an envelope, find the receiver, push, and schedule it if the push woke it.
 * Also the exit signal and the public spawn functions, which share these steps.
 *
 * A worker finds the receiver without a lock (its quiescent points keep the actor's memory
 * valid, scheduler/qsbr.h); other threads hold the foreign lock across find + push. */
#include <string.h>

#include "actors/remote.h"
#include "mailbox/pack_internal.h"

void tr__dead_letter(tr_ctx_t *ctx, tr_msg_t *m) {
  if (ctx->w)
    tr__bump(&((tr_wlocal_t *)ctx->w->local)->dead_letters, 1);
  else
    atomic_fetch_add_explicit(&ctx->sys->f_dead_letters, 1, memory_order_relaxed);
  if (tr_log_enabled(TR_LOG_DEBUG))
    tr_log(TR_LOG_DEBUG, "dead letter: tag %u from %016llx", (unsigned)m->tag,
           (unsigned long long)m->from.id);
  tr__msg_free(tr__ctx_pool(ctx), m);
}

void tr__enqueue(tr_ctx_t *ctx, tr_actor_t *a, tr_msg_t *m) {
  bool woke = tr__mq_push(&a->mq, &m->node);
  /* Statistics only (relaxed): the mailbox depth is enq - deq. */
  atomic_fetch_add_explicit(&a->enq, 1, memory_order_relaxed);
  if (woke)
    tr__wake(ctx, a);
}

void tr__wake(tr_ctx_t *ctx, tr_actor_t *a) {
  /* Statistics only (relaxed both ways): the console's estimate of how long the oldest
   * message has waited starts here; tr_actor_info reads it racily (stats.c). */
  atomic_store_explicit(&a->woke_ms,
                        atomic_load_explicit(&ctx->sys->coarse_ms, memory_order_relaxed),
                        memory_order_relaxed);
  if (TR_UNLIKELY(a->ov & TR_OV_CLIENT))
    tr__client_wake(a);
  else if (ctx->w)
    tr__sched_wake_local(ctx->w, a);
  else
    tr__sched_inject(&ctx->sys->sched, a);
}

/* The runtime's own messages pass no overload gate; a DOWN is part of the signal lane's
 * promises, so it also releases a muted watcher (overload.c). */
static inline void push_runtime(tr_ctx_t *ctx, tr_actor_t *a, tr_msg_t *m) {
  bool down = m->kind == TR_KIND_DOWN;
  tr_actor_ext_t *e = down ? tr__actor_ext(a) : NULL; /* a watcher has one already */
  if (e)
    atomic_fetch_add_explicit(&e->downs, 1, memory_order_relaxed);
  tr__enqueue(ctx, a, m);
  if (TR_UNLIKELY(down)) {
    /* seq_cst: pairs with the one in tr__mute_park; either it sees our count, or we its
     * flag. */
    atomic_thread_fence(memory_order_seq_cst);
    if (atomic_load_explicit(&a->flags, memory_order_relaxed) & TR_AF_MUTED)
      tr__unmute(ctx, a);
  }
}

bool tr__deliver(tr_ctx_t *ctx, tr_pid_t to, tr_msg_t *m) {
  tr_system_t *sys = ctx->sys;
  if (TR_UNLIKELY(tr__pid_remote(to))) { /* a DOWN for a watcher on another node, say */
    bool ok;
    if (tr__remote_send(ctx, to, m, &ok) != 0)
      tr__dead_letter(ctx, m);
    return ok;
  }
  if (TR_LIKELY(ctx->lockfree)) {
    tr_actor_t *a = tr__table_get(&sys->table, to);
    if (TR_LIKELY(a != NULL))
      push_runtime(ctx, a, m);
    else
      tr__dead_letter(ctx, m);
    return a != NULL;
  }
  tr__qsbr_foreign_enter(&sys->sched.qsbr);
  tr_actor_t *a = tr__table_get(&sys->table, to);
  if (a)
    push_runtime(ctx, a, m);
  tr__qsbr_foreign_exit(&sys->sched.qsbr);
  if (!a)
    tr__dead_letter(ctx, m);
  return a != NULL;
}

/* Push into a, through the overload gate (overload.c): 0 pushed, 1 dropped (counted),
 * TR_EBUSY refused (counted), TR_EAGAIN (an outside sender into a full mute mailbox). */
static inline int push_gated(tr_ctx_t *ctx, tr_actor_t *a, tr_msg_t *m) {
  uint32_t high = a->high;
  if (TR_LIKELY(high == 0 || tr__depth(a) < high)) {
    tr__enqueue(ctx, a, m);
    return 0;
  }
  int rc = tr__overload_full(ctx, a);
  if (rc == 0) {
    tr__enqueue(ctx, a, m);
    tr__overload_pushed(ctx, a);
  } else if (rc == 1 || rc == TR_EBUSY) {
    tr__overload_count(a, rc == 1);
  }
  return rc;
}

/* Deliver m to `to` now, through the overload gate: the send path of every message that
 * is not gathered. Returns as tr__send_to. */
static int send_now(tr_ctx_t *ctx, tr_pid_t to, tr_msg_t *m, bool *delivered) {
  tr_system_t *sys = ctx->sys;
  uint64_t deadline = 0;
  for (;;) {
    int rc = -1;
    if (TR_LIKELY(ctx->lockfree)) {
      tr_actor_t *a = tr__table_get(&sys->table, to);
      if (TR_LIKELY(a != NULL))
        rc = push_gated(ctx, a, m);
    } else {
      tr__qsbr_foreign_enter(&sys->sched.qsbr);
      tr_actor_t *a = tr__table_get(&sys->table, to);
      if (a)
        rc = push_gated(ctx, a, m);
      tr__qsbr_foreign_exit(&sys->sched.qsbr);
    }
    if (TR_LIKELY(rc == 0)) {
      *delivered = true;
      return 0;
    }
    if (rc == -1 || rc == 1) { /* not alive, or dropped by a full mailbox */
      if (rc == 1 && TR_UNLIKELY(ctx->traced) && tr__in_handler(ctx))
        tr__trace_event(ctx, ctx->self, TR_TRACE_DROP, to, m);
      /* A request to a pid that is not alive fails now, not at its timeout (as a call to a
       * dead process in Erlang fails with noproc). */
      if (rc == -1 && tr__local_request(m))
        tr__request_fail(ctx, m->from, m->ref, TR_REPLY_NOPROC, "noproc");
      /* Nor does one the receiver's full mailbox dropped wait for an answer that cannot come
       * (the fail policy's refusal reaches the requester as the send's TR_EBUSY). */
      else if (rc == 1 && tr__local_request(m))
        tr__request_fail(ctx, m->from, m->ref, TR_REPLY_BUSY, "overloaded");
      tr__dead_letter(ctx, m);
      return 0;
    }
    if (rc == TR_EAGAIN && tr__overload_wait(ctx, &deadline))
      continue;            /* an outside sender: look again once it may have drained */
    if (rc == TR_EAGAIN) { /* gave up: count it as refused */
      bool lf = ctx->lockfree;
      if (!lf)
        tr__qsbr_foreign_enter(&sys->sched.qsbr);
      tr_actor_t *a = tr__table_get(&sys->table, to);
      if (a)
        tr__overload_count(a, false);
      if (!lf)
        tr__qsbr_foreign_exit(&sys->sched.qsbr);
    }
    return TR_EBUSY; /* m is still the caller's */
  }
}

/* ---- the outbox ----
 *
 * A send costs, besides the envelope, an exchange on the receiver's mailbox head and an
 * increment of its counter, on the receiver's first cache line, which its other senders and
 * its owner also write: when they run on another core the line must come over, and a
 * handler that sends to ten receivers stalls ten times, one after the other. The outbox
 * gathers a handler's messages per receiver (up to TR_OUTBOX_WAYS receivers), linked into
 * chains, and pushes each chain with one exchange (tr__mq_push_chain) and one increment. A
 * sender finds the receiver and checks its pid in the table (the slot's tag,
 * actors/table.h) without touching the receiver's line, asks for that line to be fetched
 * for writing (a prefetch), and pushes only when the handler returns, a chain is full, a
 * further receiver comes, or a send that cannot be gathered must keep its place after
 * them: by then the lines have come over, together instead of one after the other.
 *
 * Order: each receiver gets a handler's messages in send order, and the chains are pushed
 * before the handler's turn goes on to anything another actor could see. The overload gate
 * runs at the push, for the whole chain. Receivers with the drop or fail policy, and
 * clients, are not gathered for: their answer is needed at the send. */

/* A chain whose receiver's slot was reused between the table read and the push: its
 * messages take the ordinary path, to whoever has the pid now (nobody: dead letters). */
static __attribute__((noinline, cold)) void resend_chain(tr_ctx_t *ctx,
                                                         const struct tr_out_chain *c) {
  tr_msg_t *m = c->first;
  for (uint32_t i = 0; i < c->n; i++) {
    tr_msg_t *next = (tr_msg_t *)atomic_load_explicit(&m->node.next, memory_order_relaxed);
    bool ok;
    if (send_now(ctx, c->pid, m, &ok) != 0)
      tr__dead_letter(ctx, m); /* refused by the slot's new actor */
    m = next;
  }
}

/* The overload gate of a chain's push, before it: whether a's mailbox is full (then, with
 * the mute policy or none, the sender may be muted; a chain is never refused). */
static inline bool chain_full(tr_ctx_t *ctx, tr_actor_t *a) {
  if (TR_LIKELY(a->high == 0 || tr__depth(a) < a->high))
    return false;
  tr__overload_full(ctx, a);
  return true;
}

/* ... and after it: schedule a if the push woke it; a full and muted receiver must drain. */
static inline void chain_pushed(tr_ctx_t *ctx, tr_actor_t *a, bool woke, bool full) {
  if (woke)
    tr__wake(ctx, a);
  if (TR_UNLIKELY(full))
    tr__overload_pushed(ctx, a);
}

/* Push several chains, in three passes: the exchanges (each on a line gather() asked for in
 * advance), then the links (each a store into the envelope the receiver's last sender left,
 * often a line of the other core: done together, their misses overlap, where an exchange
 * after each link would wait for it), then the wake-ups. A chain's receiver was read from
 * the table as a hint, so its pid is checked first. */
static void flush_many(tr_ctx_t *ctx, uint32_t n) {
  uintptr_t claimed[TR_OUTBOX_WAYS];
  uint32_t stale = 0, full = 0; /* bit i: chain i */
  for (uint32_t i = 0; i < n; i++) {
    const struct tr_out_chain *c = &ctx->out.c[i];
    tr_actor_t *a = c->to;
    if (TR_UNLIKELY(a->pid.id != c->pid.id)) {
      stale |= 1u << i;
      continue;
    }
    if (TR_UNLIKELY(chain_full(ctx, a)))
      full |= 1u << i;
    claimed[i] = tr__mq_claim(&a->mq, &c->last->node);
    atomic_fetch_add_explicit(&a->enq, c->n, memory_order_relaxed); /* statistics: tr__enqueue */
  }
  for (uint32_t i = 0; i < n; i++)
    if (TR_LIKELY(!(stale & (1u << i))))
      tr__mq_link(claimed[i], &ctx->out.c[i].first->node);
  for (uint32_t i = 0; i < n; i++) {
    const struct tr_out_chain *c = &ctx->out.c[i];
    if (TR_UNLIKELY(stale & (1u << i))) {
      resend_chain(ctx, c);
      continue;
    }
    chain_pushed(ctx, c->to, claimed[i] & 1, full & (1u << i));
  }
}

/* One chain (a handler that sent to one receiver: the most common case, kept short). */
static inline void flush_one(tr_ctx_t *ctx, const struct tr_out_chain *c) {
  tr_actor_t *a = c->to;
  if (TR_UNLIKELY(a->pid.id != c->pid.id)) {
    resend_chain(ctx, c);
    return;
  }
  bool full = chain_full(ctx, a);
  bool woke = tr__mq_push_chain(&a->mq, &c->first->node, &c->last->node);
  atomic_fetch_add_explicit(&a->enq, c->n, memory_order_relaxed); /* statistics: tr__enqueue */
  chain_pushed(ctx, a, woke, full);
}

/* Push the chains, one or several. */
void tr__outbox_flush(tr_ctx_t *ctx) {
  uint32_t n = ctx->out.n;
  ctx->out.n = 0; /* nothing below gathers: its paths are send_now and the runtime's */
  ctx->out.seen = 0;
  if (TR_LIKELY(n == 1))
    flush_one(ctx, &ctx->out.c[0]);
  else
    flush_many(ctx, n);
}

/* Gather m for `to` (a worker's context in a handler); false when to cannot be gathered for
 * (not alive as far as the table says, or a receiver whose answer is needed now). */
static inline bool gather(tr_ctx_t *ctx, tr_pid_t to, tr_msg_t *m) {
  uint32_t n = ctx->out.n;
  uint64_t bit = tr__outbox_bit(to);
  for (uint32_t i = 0; (ctx->out.seen & bit) && i < n; i++) {
    struct tr_out_chain *c = &ctx->out.c[i];
    if (c->pid.id == to.id) {
      atomic_store_explicit(&c->last->node.next, &m->node, memory_order_relaxed);
      c->last = m;
      if (++c->n == TR_OUTBOX_MAX)
        tr__outbox_flush(ctx);
      return true;
    }
  }
  tr_table_t *t = &ctx->sys->table;
  uint32_t tag = 0;
  tr_actor_t *a = tr__table_peek(t, to, &tag);
  if (!a || tag != tr__pid_tag(to))
    return false; /* not alive (or its slot is changing hands: send_now sorts it out), or direct */
  __builtin_prefetch(a, 1, 3); /* the line the flush writes: pid, marks, counters, head */
  if (n == TR_OUTBOX_WAYS) {
    tr__outbox_flush(ctx);
    n = 0;
  }
  ctx->out.c[n] = (struct tr_out_chain){.to = a, .pid = to, .first = m, .last = m, .n = 1};
  ctx->out.n = n + 1;
  ctx->out.seen |= bit;
  return true;
}

/* tr__send_to, inline for the send paths of this file (the commonest sends skip a call). */
static inline __attribute__((always_inline)) int send_to(tr_ctx_t *ctx, tr_pid_t to, tr_msg_t *m,
                                                         bool *delivered) {
  *delivered = false;
  if (TR_UNLIKELY(tr__pid_remote(to)))
    return tr__remote_send(ctx, to, m, delivered);
  if (ctx->self && to.id == ctx->self->pid.id && ctx->w && m->kind == TR_KIND_USER) {
    m->sig |= TR_MSGF_SELF;
    m->aux = ctx->turn_stamp;
  }
  if (TR_LIKELY(ctx->lockfree && ctx->self) && gather(ctx, to, m)) {
    *delivered = true;
    return 0;
  }
  if (ctx->out.n) /* what is gathered goes first: the handler's sends keep their order */
    tr__outbox_flush(ctx);
  return send_now(ctx, to, m, delivered);
}

int tr__send_to(tr_ctx_t *ctx, tr_pid_t to, tr_msg_t *m, bool *delivered) {
  return send_to(ctx, to, m, delivered);
}

/* Count a send of the running actor and, while it is traced, report it to its tracer. The
 * untraced cost is one predictable branch on ctx->traced, a byte of the worker's own context
 * that the turn already loaded (turn.c). */
static inline void count_out(tr_ctx_t *ctx, tr_pid_t to, const tr_msg_t *m) {
  if (tr__in_handler(ctx)) {
    tr__bump(&ctx->self->out, 1);
    /* A handler's ctx is its worker's own (turn.c), inside that worker's tr_wlocal_t. */
    tr__bump(&((tr_wlocal_t *)((char *)ctx - offsetof(tr_wlocal_t, ctx)))->sent, 1);
    if (TR_UNLIKELY(ctx->traced))
      tr__trace_event(ctx, ctx->self, TR_TRACE_OUT, to, m);
  }
}

static inline int check_send(tr_ctx_t *ctx, tr_atom_t tag, size_t len) {
  if (TR_UNLIKELY(!ctx || tag == 0))
    return TR_EINVAL;
  if (TR_UNLIKELY(len > TR_MSG_MAX))
    return TR_EMSGSIZE;
  if (TR_UNLIKELY(atomic_load_explicit(&ctx->sys->state, memory_order_relaxed) == TR_SYS_STOPPED))
    return TR_ESTOPPED;
  return 0;
}

/* The start of a send: the checks, then an empty envelope; NULL with *rc set when the send
 * cannot be made. */
static inline tr_msg_t *send_begin(tr_ctx_t *ctx, tr_atom_t tag, size_t len, int *rc) {
  if ((*rc = check_send(ctx, tag, len)) != 0)
    return NULL;
  tr_msg_t *m = tr__msg_alloc(tr__ctx_pool(ctx));
  if (TR_UNLIKELY(!m))
    *rc = TR_ENOMEM;
  return m;
}

/* The end of a send whose payload the envelope owns: count it, deliver it, and free it when
 * it was refused; *delivered (when not NULL) says whether it reached a mailbox. */
static inline int send_end(tr_ctx_t *ctx, tr_pid_t to, tr_msg_t *m, bool *delivered) {
  count_out(ctx, to, m);
  bool ok;
  int rc = send_to(ctx, to, m, &ok);
  if (TR_UNLIKELY(rc != 0))
    tr__msg_free(tr__ctx_pool(ctx), m);
  if (delivered)
    *delivered = ok;
  return rc;
}

/* The common path of every send of a copied payload. */
static int send_one(tr_ctx_t *ctx, tr_pid_t to, tr_atom_t tag, const void *data, size_t len,
                    uint64_t ref, uint8_t kind, bool *delivered) {
  int rc;
  tr_msg_t *m = send_begin(ctx, tag, len, &rc);
  if (!m)
    return rc;
  if (TR_UNLIKELY((rc = tr__msg_fill(m, tag, tr__self(ctx), data, len)) != 0)) {
    tr__msg_recycle(tr__ctx_pool(ctx), m);
    return rc;
  }
  m->ref = ref;
  m->kind = kind;
  return send_end(ctx, to, m, delivered);
}

int tr__send(tr_ctx_t *ctx, tr_pid_t to, tr_atom_t tag, const void *data, size_t len, uint64_t ref,
             uint8_t kind) {
  return send_one(ctx, to, tag, data, len, ref, kind, NULL);
}

/* Send a malloc'd payload without copying it (tr_send_opts' give). */
static int send_given(tr_ctx_t *ctx, tr_pid_t to, tr_atom_t tag, void *data, size_t len,
                      bool *delivered) {
  int rc = check_send(ctx, tag, len);
  if (rc)
    return rc;
  tr_msg_t *m = tr__msg_alloc(tr__ctx_pool(ctx));
  if (TR_UNLIKELY(!m))
    return TR_ENOMEM;
  tr__msg_fill(m, tag, tr__self(ctx), NULL, 0);
  m->store = TR_STORE_HEAP;
  m->u.heap = data;
  m->len = (uint32_t)len;
  count_out(ctx, to, m);
  bool ok;
  if (TR_UNLIKELY((rc = tr__send_to(ctx, to, m, &ok)) != 0)) {
    m->store = TR_STORE_INLINE; /* refused: the payload stays the caller's */
    tr__msg_recycle(tr__ctx_pool(ctx), m);
  }
  if (delivered)
    *delivered = ok;
  return rc;
}

int tr_send_opts(tr_ctx_t *ctx, tr_pid_t to, tr_atom_t tag, const void *data, size_t len,
                 const tr_send_opts_t *opts) {
  if (opts && opts->delivered)
    *opts->delivered = false;
  if (TR_UNLIKELY(len && !data))
    return TR_EINVAL;
  if (opts && opts->give && len)
    return send_given(ctx, to, tag, (void *)data, len, opts->delivered);
  return send_one(ctx, to, tag, data, len, 0, TR_KIND_USER, opts ? opts->delivered : NULL);
}

/* Is to[i] left out of a send_many? */
static inline bool skipped(tr_pid_t to, tr_pid_t except, bool local_only) {
  return to.id == except.id || (local_only && tr__pid_remote(to));
}

int tr__send_many(tr_ctx_t *ctx, const tr_pid_t *to, size_t n, tr_pid_t except, bool local_only,
                  tr_atom_t tag, const void *data, size_t len, size_t *delivered) {
  if (delivered)
    *delivered = 0;
  int rc = check_send(ctx, tag, len);
  if (rc || n == 0)
    return rc;
  size_t skip = 0;
  for (size_t i = 0; (!tr_pid_is_none(except) || local_only) && i < n; i++)
    skip += skipped(to[i], except, local_only);
  if (skip == n)
    return 0;
  tr_pool_t *pool = tr__ctx_pool(ctx);
  tr_shared_t *sh = NULL;
  if (len > TR_MSG_INLINE && !(sh = tr__shared_new(data, len, (uint32_t)(n - skip))))
    return TR_ENOMEM;
  size_t ok = 0, i = 0, sent = 0;
  for (; i < n; i++) {
    if (skipped(to[i], except, local_only))
      continue;
    tr_msg_t *m = tr__msg_alloc(pool);
    if (TR_UNLIKELY(!m)) {
      rc = TR_ENOMEM;
      break;
    }
    tr__msg_fill(m, tag, tr__self(ctx), data, sh ? 0 : len); /* inline: cannot fail */
    if (sh) {
      m->store = TR_STORE_SHARED;
      m->u.heap = sh;
      m->len = (uint32_t)len;
    }
    count_out(ctx, to[i], m);
    bool got;
    if (tr__send_to(ctx, to[i], m, &got) != 0)
      tr__msg_free(pool, m); /* refused by a full mailbox: that member misses it */
    ok += got;
    sent++;
  }
  if (sh && sent < n - skip)
    tr__shared_unref(sh, (uint32_t)(n - skip - sent));
  if (delivered)
    *delivered = ok;
  return rc;
}

int tr_send(tr_ctx_t *ctx, tr_pid_t to, tr_atom_t tag, const void *data, size_t len) {
  if (TR_UNLIKELY(len && !data))
    return TR_EINVAL;
  return tr__send(ctx, to, tag, data, len, 0, TR_KIND_USER);
}

_Static_assert(TR_MSG_INLINE >= 9, "an envelope holds any one unsigned integer inline");

/* Pack a format into the envelope: inline (TR_EMSGSIZE when it does not fit), or, with
 * `heap`, into a malloc'd block; a format of exactly "u", the commonest, without the walk.
 * A va_list can be walked once, and a va_copy on every send costs more than the packing; so
 * the callers try inline first and, only for a payload too big for the envelope, start
 * their varargs again for the heap. */
static inline int pack_into_msg(tr_msg_t *m, const char *fmt, va_list ap, bool heap_ok) {
  size_t len;
  bool pids;
  if (tr__fmt_is_u(fmt)) { /* one unsigned integer: without the format walk and its call */
    m->store = TR_STORE_INLINE;
    m->len = (uint32_t)tr__mp_put_uint(m->u.bytes, va_arg(ap, uint64_t));
    m->sig = 0;
    return 0;
  }
  if (!heap_ok) {
    int rc = tr__vpack_into_pids(m->u.bytes, TR_MSG_INLINE, &len, fmt, ap, &pids);
    if (TR_LIKELY(rc == 0)) {
      m->store = TR_STORE_INLINE;
      m->len = (uint32_t)len;
      m->sig = pids ? TR_MSGF_PIDS : 0;
    }
    return rc;
  }
  int rc;
  void *heap;
  if ((rc = tr__vpack_pids(&heap, &len, fmt, ap, &pids)) != 0)
    return rc;
  if (len > TR_MSG_MAX) {
    free(heap);
    return TR_EMSGSIZE;
  }
  m->store = TR_STORE_HEAP;
  m->u.heap = heap;
  m->len = (uint32_t)len;
  m->sig = pids ? TR_MSGF_PIDS : 0;
  return 0;
}

static int vsendf(tr_ctx_t *ctx, tr_pid_t to, tr_atom_t tag, uint64_t ref, uint8_t kind,
                  const char *fmt, va_list ap, bool heap) {
  int rc = check_send(ctx, tag, 0);
  if (rc)
    return rc;
  if (!fmt)
    return TR_EINVAL;
  tr_pool_t *pool = tr__ctx_pool(ctx);
  tr_msg_t *m = tr__msg_alloc(pool);
  if (TR_UNLIKELY(!m))
    return TR_ENOMEM;
  if ((rc = pack_into_msg(m, fmt, ap, heap)) != 0) {
    m->store = TR_STORE_INLINE;
    tr__msg_recycle(pool, m);
    return rc;
  }
  m->from = tr__self(ctx);
  m->ref = ref;
  m->tag = tag;
  m->kind = kind;
  m->aux = 0; /* m->sig: set by pack_into_msg */
  return send_end(ctx, to, m, NULL);
}

int tr_send_uint(tr_ctx_t *ctx, tr_pid_t to, tr_atom_t tag, uint64_t v) {
  int rc;
  tr_msg_t *m = send_begin(ctx, tag, 0, &rc);
  if (!m)
    return rc;
  m->from = tr__self(ctx);
  m->ref = 0;
  m->tag = tag;
  m->len = (uint32_t)tr__mp_put_uint(m->u.bytes, v);
  m->store = TR_STORE_INLINE;
  m->kind = TR_KIND_USER;
  m->sig = 0;
  m->aux = 0;
  return send_end(ctx, to, m, NULL);
}

int tr_sendf(tr_ctx_t *ctx, tr_pid_t to, tr_atom_t tag, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  if (tr__fmt_is_u(fmt)) { /* the commonest format: as tr_send_uint, without vsendf */
    int rc = tr_send_uint(ctx, to, tag, va_arg(ap, uint64_t));
    va_end(ap);
    return rc;
  }
  int rc = vsendf(ctx, to, tag, 0, TR_KIND_USER, fmt, ap, false);
  va_end(ap);
  if (TR_UNLIKELY(rc == TR_EMSGSIZE)) { /* too big for the envelope: again, onto the heap */
    va_start(ap, fmt);
    rc = vsendf(ctx, to, tag, 0, TR_KIND_USER, fmt, ap, true);
    va_end(ap);
  }
  return rc;
}

int tr_send_ptr(tr_ctx_t *ctx, tr_pid_t to, tr_atom_t tag, void *ptr, void (*free_fn)(void *)) {
  int rc = check_send(ctx, tag, 0);
  if (rc)
    return rc;
  if (tr__pid_node(to) != ctx->sys->table.node)
    return TR_ENOTLOCAL;
  tr_pool_t *pool = tr__ctx_pool(ctx);
  tr_msg_t *m = tr__msg_alloc(pool);
  if (!m)
    return TR_ENOMEM;
  tr__msg_fill(m, tag, tr__self(ctx), NULL, 0);
  m->store = TR_STORE_PTR;
  m->u.p.ptr = ptr;
  m->u.p.free_fn = free_fn;
  count_out(ctx, to, m);
  bool ok;
  if (TR_UNLIKELY((rc = tr__send_to(ctx, to, m, &ok)) != 0)) {
    m->store = TR_STORE_INLINE; /* refused: the pointer stays the caller's */
    tr__msg_recycle(pool, m);
  }
  return rc;
}

int tr_reply(tr_ctx_t *ctx, const tr_msg_t *req, tr_atom_t tag, const void *data, size_t len) {
  if (!req || (len && !data))
    return TR_EINVAL;
  return tr__send(ctx, req->from, tag ? tag : TR_ATOM_REPLY, data, len, req->ref, TR_KIND_REPLY);
}

int tr_forward(tr_ctx_t *ctx, tr_pid_t to, const tr_msg_t *m) {
  if (!m || m->store == TR_STORE_PTR || (m->kind != TR_KIND_USER && m->kind != TR_KIND_REPLY))
    return TR_EINVAL;
  int rc = check_send(ctx, m->tag, m->len);
  if (rc)
    return rc;
  tr_pool_t *pool = tr__ctx_pool(ctx);
  tr_msg_t *out = tr__msg_alloc(pool);
  if (TR_UNLIKELY(!out))
    return TR_ENOMEM;
  if (TR_UNLIKELY((rc = tr__msg_fill(out, m->tag, m->from, tr__msg_bytes(m), m->len)) != 0)) {
    tr__msg_recycle(pool, out);
    return rc;
  }
  out->ref = m->ref;
  out->kind = m->kind;
  out->sig = m->sig & TR_MSGF_PIDS;
  count_out(ctx, to, out);
  bool ok;
  if (TR_UNLIKELY((rc = tr__send_to(ctx, to, out, &ok)) != 0))
    tr__msg_free(pool, out);
  return rc;
}

int tr_replyf(tr_ctx_t *ctx, const tr_msg_t *req, tr_atom_t tag, const char *fmt, ...) {
  if (!req)
    return TR_EINVAL;
  va_list ap;
  tr_atom_t t = tag ? tag : TR_ATOM_REPLY;
  va_start(ap, fmt);
  int rc = vsendf(ctx, req->from, t, req->ref, TR_KIND_REPLY, fmt, ap, false);
  va_end(ap);
  if (TR_UNLIKELY(rc == TR_EMSGSIZE)) { /* too big for the envelope: again, onto the heap */
    va_start(ap, fmt);
    rc = vsendf(ctx, req->from, t, req->ref, TR_KIND_REPLY, fmt, ap, true);
    va_end(ap);
  }
  return rc;
}

int tr_spawn_opts(tr_ctx_t *ctx, const tr_behaviour_t *b, const void *init, size_t len,
                  const tr_spawn_opts_t *opts, tr_pid_t *out) {
  if (!ctx || !b || !b->receive || (len && !init) || len > TR_MSG_MAX)
    return TR_EINVAL;
  if (opts && (opts->link || opts->monitor) && !tr__in_handler(ctx))
    return TR_EINVAL; /* links and monitors belong to an actor */
  tr_msg_t *m = NULL;
  tr_pool_t *pool = tr__ctx_pool(ctx);
  if (len) {
    if (!(m = tr__msg_alloc(pool)))
      return TR_ENOMEM;
    if (tr__msg_fill(m, TR_ATOM_INIT, tr__self(ctx), init, len) != 0) {
      tr__msg_recycle(pool, m);
      return TR_ENOMEM;
    }
    m->kind = TR_KIND_INIT;
  }
  tr_pid_t pid;
  int rc = tr__spawn(ctx, b, TR_AF_INIT_PENDING, b->state_size, m, opts, &pid);
  if (rc) {
    if (m)
      tr__msg_free(pool, m);
    return rc;
  }
  if (out)
    *out = pid;
  return 0;
}

int tr_spawn(tr_ctx_t *ctx, const tr_behaviour_t *b, const void *init, size_t len, tr_pid_t *out) {
  return tr_spawn_opts(ctx, b, init, len, NULL, out);
}

int tr_spawnf(tr_ctx_t *ctx, const tr_behaviour_t *b, tr_pid_t *out, const char *fmt, ...) {
  if (!ctx || !b || !b->receive || !fmt)
    return TR_EINVAL;
  tr_pool_t *pool = tr__ctx_pool(ctx);
  tr_msg_t *m = tr__msg_alloc(pool);
  if (!m)
    return TR_ENOMEM;
  va_list ap;
  va_start(ap, fmt);
  int rc = pack_into_msg(m, fmt, ap, false);
  va_end(ap);
  if (rc == TR_EMSGSIZE) { /* too big for the envelope: again, onto the heap */
    va_start(ap, fmt);
    rc = pack_into_msg(m, fmt, ap, true);
    va_end(ap);
  }
  if (rc) {
    m->store = TR_STORE_INLINE;
    tr__msg_recycle(pool, m);
    return rc;
  }
  m->from = tr__self(ctx);
  m->ref = 0;
  m->tag = TR_ATOM_INIT;
  m->kind = TR_KIND_INIT;
  m->sig = 0;
  m->aux = 0;
  tr_pid_t pid;
  if ((rc = tr__spawn(ctx, b, TR_AF_INIT_PENDING, b->state_size, m, NULL, &pid)) != 0) {
    tr__msg_free(pool, m);
    return rc;
  }
  if (out)
    *out = pid;
  return 0;
}
