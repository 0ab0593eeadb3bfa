/* The owner's side of timers (clock.h): the ids of the timers an actor owns, what happens
 * when one of their expiries reaches it, and cancelling them all when it exits. */
#include <string.h>

#include "actors/clock.h"

void tr__clock_install(tr_system_t *sys, const tr_clock_t *clock) { sys->clock = clock; }

int tr__owned_start(tr_ctx_t *ctx, tr_timer_req_t *req, uint64_t value) {
  tr_actor_ext_t *x = tr__actor_ext(ctx->self);
  if (!x)
    return TR_ENOMEM;
  req->owner = ctx->self->pid;
  /* The owner learns of the timer before the clock can fire it. */
  if (tr__u64map_put(&x->timers, req->id, value) != 0)
    return TR_ENOMEM;
  int rc = ctx->sys->clock->start(ctx, req);
  if (rc != 0)
    tr__u64map_del(&x->timers, req->id, NULL);
  return rc;
}

bool tr__owned_drop(tr_ctx_t *ctx, uint64_t id) {
  tr_actor_ext_t *x = atomic_load_explicit(&ctx->self->ext, memory_order_acquire);
  if (!x || !tr__u64map_del(&x->timers, id, NULL))
    return false;
  ctx->sys->clock->cancel(ctx, &id, 1);
  return true;
}

bool tr__timer_admit(tr_ctx_t *ctx, tr_actor_t *a, tr_msg_t *m) {
  tr_actor_ext_t *x = atomic_load_explicit(&a->ext, memory_order_acquire);
  uint64_t value;
  bool interval = m->aux != 0;
  bool live = x && (interval ? tr__u64map_get(&x->timers, m->ref, &value)
                             : tr__u64map_del(&x->timers, m->ref, &value));
  if (!live)
    return false; /* cancelled */
  m->kind = TR_KIND_USER;
  switch (m->sig) {
  case TR_TP_USER:
    m->ref = 0;
    if (value == a->pid.id)
      return true;
    /* For another actor: it expires now, on the owner's timeline, and goes on from here. */
    size_t len;
    const void *data = tr_msg_data(m, &len);
    tr_send(ctx, (tr_pid_t){value}, m->tag, data, len);
    return false;
  case TR_TP_REQUEST:
    return tr__request_expired(ctx, a, m);
  case TR_TP_RECV:
    return tr__recv_timeout_due(ctx, a, m);
  default:
    return false;
  }
}

void tr__owned_exit(tr_ctx_t *ctx, tr_actor_t *a) {
  tr_actor_ext_t *x = atomic_load_explicit(&a->ext, memory_order_acquire);
  if (!x || x->timers.count == 0)
    return;
  uint64_t *ids = malloc(x->timers.count * sizeof *ids);
  uint32_t n = 0;
  uint64_t k, v;
  for (uint32_t i = 0; ids && tr__u64map_next(&x->timers, &i, &k, &v);)
    ids[n++] = k;
  if (ids)
    ctx->sys->clock->cancel(ctx, ids, n);
  else /* the timers still fire, at an owner that is gone: dead letters, nothing worse */
    tr_log(TR_LOG_WARN, "out of memory cancelling an exiting actor's timers");
  free(ids);
  tr__u64map_free(&x->timers);
  free(x->requests.ring);
  x->requests = (tr_requests_t){0};
}
