/* Requests between actors (tr_request): a reference the reply must carry, and a timeout
 * that turns into a TR_ATOM_TIMEOUT message when no reply came in time. The bookkeeping is
 * the requester's own, kept in its ext block and touched only on its worker: a reply is
 * admitted only while its request is pending, so a late reply is dropped, and a timeout
 * only while no reply came. */
#include "actors/clock.h"

int tr__request_begin(tr_ctx_t *ctx, uint64_t timeout_ms, uint64_t *ref) {
  tr_actor_ext_t *x = tr__actor_ext(ctx->self);
  if (!x)
    return TR_ENOMEM;
  uint64_t r = TR__NEXT_REF(ctx->sys);
  tr_timer_req_t t = {.id = TR__NEXT_REF(ctx->sys),
                      .ms = timeout_ms,
                      .to = ctx->self->pid,
                      .tag = TR_ATOM_TIMEOUT,
                      .purpose = TR_TP_REQUEST};
  int rc = tr__owned_start(ctx, &t, r);
  if (rc)
    return rc;
  if (tr__u64map_put(&x->requests, r, t.id) != 0) {
    tr__owned_drop(ctx, t.id);
    return TR_ENOMEM;
  }
  *ref = r;
  return 0;
}

void tr__request_abort(tr_ctx_t *ctx, uint64_t ref) {
  tr_actor_ext_t *x = atomic_load_explicit(&ctx->self->ext, memory_order_acquire);
  uint64_t tid;
  if (x && tr__u64map_del(&x->requests, ref, &tid))
    tr__owned_drop(ctx, tid);
}

int tr_request(tr_ctx_t *ctx, tr_pid_t to, tr_atom_t tag, const void *data, size_t len,
               uint64_t timeout_ms, uint64_t *ref) {
  if (!tr__in_handler(ctx) || !ref || timeout_ms > TR_TIMER_MAX_MS || (len && !data))
    return TR_EINVAL;
  uint64_t r;
  int rc = tr__request_begin(ctx, timeout_ms, &r);
  if (rc)
    return rc;
  if ((rc = tr__send(ctx, to, tag, data, len, r, TR_KIND_USER)) != 0) {
    tr__request_abort(ctx, r);
    return rc;
  }
  *ref = r;
  return 0;
}

bool tr__reply_admit(tr_ctx_t *ctx, tr_actor_t *a, const tr_msg_t *m) {
  tr_actor_ext_t *x = atomic_load_explicit(&a->ext, memory_order_acquire);
  uint64_t tid;
  if (!x || !tr__u64map_del(&x->requests, m->ref, &tid))
    return false; /* late: its request timed out already */
  tr__owned_drop(ctx, tid);
  return true;
}

bool tr__request_expired(tr_ctx_t *ctx, tr_actor_t *a, uint64_t ref, tr_msg_t *m) {
  (void)ctx;
  tr_actor_ext_t *x = atomic_load_explicit(&a->ext, memory_order_acquire);
  if (!x || !tr__u64map_del(&x->requests, ref, NULL))
    return false; /* answered meanwhile */
  m->ref = ref;
  return true;
}
