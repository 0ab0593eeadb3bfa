/* The door to other nodes (actors/remote.h): installing the cluster's table, the hooks
 * that wait for the system to become a node, and the two calls of the send path that go
 * through the table. */
#include <string.h>

#include "actors/remote.h"

void tr__remote_install(tr_system_t *sys, const tr_remote_ops_t *ops, void *arg) {
  sys->remote_arg = arg;
  /* release: whoever sees the table sees its state set (tr__remote's acquire). */
  atomic_store_explicit(&sys->remote, ops, memory_order_release);
}

int tr__on_node(tr_system_t *sys, void (*fn)(tr_system_t *sys)) {
  pthread_mutex_lock(&sys->node_mu);
  bool up = sys->node_up, full = !up && sys->node_nhooks == TR_NODE_HOOKS_MAX;
  if (!up && !full)
    sys->node_hooks[sys->node_nhooks++] = fn;
  pthread_mutex_unlock(&sys->node_mu);
  if (up)
    fn(sys);
  return full ? TR_ENOMEM : 0;
}

void tr__node_started(tr_system_t *sys) {
  void (*hooks[TR_NODE_HOOKS_MAX])(tr_system_t * sys);
  pthread_mutex_lock(&sys->node_mu);
  sys->node_up = true;
  unsigned n = sys->node_nhooks;
  memcpy(hooks, sys->node_hooks, n * sizeof hooks[0]);
  sys->node_nhooks = 0;
  pthread_mutex_unlock(&sys->node_mu);
  for (unsigned i = 0; i < n; i++)
    hooks[i](sys); /* outside the lock: a hook may spawn, join groups, log */
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
