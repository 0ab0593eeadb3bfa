/* The receive timeout (tr_set_receive_timeout): a TR_ATOM_TIMEOUT message when an actor has
 * handled nothing for a while, as Erlang's `receive ... after`. One owned timer checks it;
 * the turn notes when the last message was handled (a store, no clock command), and the
 * check, when its timer expires, either delivers the timeout or waits for the rest of it.
 * So a busy actor costs nothing per message but that one store. */
#include "actors/clock.h"

#define NS_PER_MS UINT64_C(1000000)

static int arm(tr_ctx_t *ctx, tr_actor_ext_t *x, uint64_t ms) {
  tr_timer_req_t t = {.id = TR__NEXT_REF(ctx->sys),
                      .ms = ms,
                      .to = ctx->self->pid,
                      .tag = TR_ATOM_TIMEOUT,
                      .purpose = TR_TP_RECV};
  int rc = tr__owned_start(ctx, &t, 0);
  x->rt_timer = rc == 0 ? t.id : 0;
  return rc;
}

int tr_set_receive_timeout(tr_ctx_t *ctx, uint64_t ms) {
  if (!tr__in_handler(ctx) || ms > TR_TIMER_MAX_MS)
    return TR_EINVAL;
  tr_actor_t *a = ctx->self;
  tr_actor_ext_t *x = tr__actor_ext(a);
  if (!x)
    return TR_ENOMEM;
  if (x->rt_timer) {
    tr__owned_drop(ctx, x->rt_timer);
    x->rt_timer = 0;
  }
  x->rt_ms = ms;
  x->rt_last_ns = tr__now_ns();
  uint32_t f = atomic_load_explicit(&a->flags, memory_order_relaxed);
  atomic_store_explicit(&a->flags, ms ? f | TR_AF_RTIMEOUT : f & ~(uint32_t)TR_AF_RTIMEOUT,
                        memory_order_relaxed);
  return ms ? arm(ctx, x, ms) : 0;
}

void tr__recv_timeout_touch(tr_actor_t *a) {
  tr_actor_ext_t *x = atomic_load_explicit(&a->ext, memory_order_acquire);
  if (x)
    x->rt_last_ns = tr__now_ns();
}

bool tr__recv_timeout_due(tr_ctx_t *ctx, tr_actor_t *a, tr_msg_t *m) {
  tr_actor_ext_t *x = atomic_load_explicit(&a->ext, memory_order_acquire);
  if (m->ref != x->rt_timer || x->rt_ms == 0)
    return false; /* replaced or turned off since */
  x->rt_timer = 0;
  uint64_t quiet = tr__now_ns() - x->rt_last_ns, limit = x->rt_ms * NS_PER_MS;
  if (quiet < limit) {
    if (arm(ctx, x, (limit - quiet + NS_PER_MS - 1) / NS_PER_MS) != 0)
      tr_log(TR_LOG_WARN, "cannot re-arm a receive timeout");
    return false;
  }
  if (arm(ctx, x, x->rt_ms) != 0)
    tr_log(TR_LOG_WARN, "cannot re-arm a receive timeout");
  m->ref = 0;
  return true;
}
