/* The door to other nodes (actors/remote.h): installing the cluster's table, and the two
 * calls of the send path that go through it. */
#include "actors/remote.h"

void tr__remote_install(tr_system_t *sys, const tr_remote_ops_t *ops, void *arg) {
  sys->remote_arg = arg;
  /* release: whoever sees the table sees its state set (tr__remote's acquire). */
  atomic_store_explicit(&sys->remote, ops, memory_order_release);
}

int tr__remote_send(tr_ctx_t *ctx, tr_pid_t to, tr_msg_t *m, bool *delivered) {
  *delivered = false;
  if (ctx->out.n) /* what is gathered for a local receiver goes first */
    tr__outbox_flush(ctx);
  const tr_remote_ops_t *ops = tr__remote(ctx->sys);
  if (!ops) {
    tr__dead_letter(ctx, m);
    return 0;
  }
  return ops->send(ctx, to, m, delivered);
}

void tr__remote_flush(tr_ctx_t *ctx) {
  const tr_remote_ops_t *ops = tr__remote(ctx->sys);
  if (ops)
    ops->flush(ctx);
  ctx->rdirty_n = 0;
}
