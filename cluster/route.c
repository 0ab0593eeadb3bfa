/* The actor layer's door to other nodes (actors/remote.h): a send, a signal or a group's
 * traffic for a pid of another node becomes a frame on that node's link; and the calls of
 * cluster.h that address nodes by name (tr_send_name, node monitors). */
#include <string.h>

#include "cluster/cluster.h"

#define LOCAL_MASK ((UINT64_C(1) << (TR_PID_SLOT_BITS + TR_PID_GEN_BITS)) - 1)

static tr_cluster_t *cl_of(tr_system_t *sys) { return sys->remote_arg; }

/* The peer of a pid's node, locked, when its link is up and is the incarnation the pid
 * names; NULL (unlocked) otherwise. */
static tr_peer_t *lock_live(tr_cluster_t *cl, uint32_t index) {
  uint64_t inc;
  tr_peer_t *p = tr__node_peer(cl, index, &inc);
  if (!p)
    return NULL;
  tr__out_lock(p);
  if (p->up && p->index == index && p->inc == inc)
    return p;
  tr__out_unlock(p);
  return NULL;
}

/* After a frame was queued on p (unlocked now): write it or remember to, and mute a sender
 * that made the link busy. */
static void queued(tr_ctx_t *ctx, tr_peer_t *p, uint32_t index, bool busy) {
  tr__out_queued(ctx, p, true);
  if (busy && tr__may_mute(ctx))
    tr__mute_note(ctx, tr__link_pid(index));
}

/* Append [len][kind][fixed header][payload with its pids in the wire form] (mu held). */
static int put_send(tr_peer_t *p, uint8_t fkind, const uint8_t *head, size_t hlen,
                    const uint8_t *data, size_t len, bool pids) {
  size_t wlen = len;
  int npids = pids && len ? tr__payload_out_size(data, len, &wlen) : 0;
  size_t body = 1 + hlen + wlen;
  if (body > TR_FRAME_MAX)
    return TR_EMSGSIZE;
  int rc = tr__cbuf_reserve(&p->out, 4 + body);
  if (rc != 0)
    return rc;
  uint8_t *o = p->out.p + p->out.len;
  tr__put_be32(o, (uint32_t)body);
  o[4] = fkind;
  memcpy(o + 5, head, hlen);
  if (npids > 0) {
    tr_pidmap_t pm = {.cl = p->cl};
    tr__payload_out(&pm, data, len, o + 5 + hlen);
  } else if (len) {
    memcpy(o + 5 + hlen, data, len);
  }
  p->out.len += 4 + body;
  p->frames_out++;
  return 0;
}

/* A sender that is neither an actor (muted instead) nor the I/O thread (which never
 * waits): a client or an outside thread. */
static bool outside(const tr_ctx_t *ctx, const tr_cluster_t *cl) {
  return !ctx->w && ctx != &cl->io->ctx;
}

/* m's node is not connected: it is a dead letter, and a request fails at once (as one
 * whose link goes down while it waits, records.c) instead of waiting out its timeout. */
static void dead(tr_ctx_t *ctx, tr_cluster_t *cl, tr_msg_t *m) {
  atomic_fetch_add_explicit(&cl->dead_noconn, 1, memory_order_relaxed);
  if (tr__local_request(m))
    tr__request_noconn(ctx, m->from, m->ref);
  tr__dead_letter(ctx, m);
}

static int op_send(tr_ctx_t *ctx, tr_pid_t to, tr_msg_t *m, bool *delivered) {
  tr_cluster_t *cl = cl_of(ctx->sys);
  uint32_t index = tr__pid_node(to);
  *delivered = false;
  if (m->store == TR_STORE_PTR) {
    tr_log(TR_LOG_WARN, "cluster: a pointer payload cannot go to another node (tag %s)",
           tr_atom_name(ctx->sys, m->tag));
    tr__dead_letter(ctx, m);
    return 0;
  }
  tr_peer_t *p = lock_live(cl, index);
  if (!p) {
    dead(ctx, cl, m);
    return 0;
  }
  /* A thread that is not an actor cannot be muted: over the busy mark it waits for the
   * link to drain (up to its wait time, as for a full mailbox), then gets TR_EBUSY. */
  uint64_t deadline = 0;
  while (m->kind == TR_KIND_USER && outside(ctx, cl) && tr__out_queue_bytes(p) > cl->busy_bytes) {
    tr__out_unlock(p);
    if (!tr__overload_wait(ctx, &deadline)) {
      if ((p = lock_live(cl, index)) != NULL) {
        p->dropped_full++;
        tr__out_unlock(p);
      }
      return TR_EBUSY;
    }
    if (!(p = lock_live(cl, index))) {
      dead(ctx, cl, m);
      return 0;
    }
  }
  size_t q = tr__out_queue_bytes(p);
  if (m->kind == TR_KIND_USER && q >= cl->max_queue_bytes) {
    p->dropped_full++;
    tr__out_unlock(p);
    return TR_EBUSY;
  }
  if (m->kind == TR_KIND_DOWN) { /* the monitor it ends crossed this link */
    uint64_t v;
    tr__u64map_del(&p->mon_in_w, m->ref, &v);
    tr__u64map_del(&p->mon_in_t, m->ref, &v);
  }
  if (tr__local_request(m))
    tr__u64map_put(&p->reqs, m->ref, m->from.id); /* a request: it fails if the link does */
  uint32_t tag = tr__out_tag(p, m->tag);
  uint8_t head[TR_SEND_HEAD];
  tr__put_be64(head, to.id & LOCAL_MASK);
  tr__put_be64(head + 8, tr__pid_to_wire(m->from, index));
  tr__put_be64(head + 16, m->ref);
  tr__put_be32(head + 24, tag);
  bool pids = (m->sig & TR_MSGF_PIDS) != 0;
  head[28] = (uint8_t)(m->kind | (pids ? TR_SEND_PIDS : 0));
  int rc =
      tag ? put_send(p, TR_F_SEND, head, sizeof head, tr__msg_bytes(m), m->len, pids) : TR_ENOMEM;
  bool busy = tr__out_queue_bytes(p) > cl->busy_bytes;
  tr__out_unlock(p);
  if (rc != 0) {
    tr_log(TR_LOG_WARN, "cluster: cannot queue a message for %s: %s", p->name, tr_strerror(rc));
    tr__dead_letter(ctx, m);
    return 0;
  }
  tr__msg_free(tr__ctx_pool(ctx), m);
  *delivered = true;
  queued(ctx, p, index, busy);
  return 0;
}

static uint8_t signal_frame(uint16_t sig) {
  switch (sig) {
  case TR_SIG_LINK:
    return TR_F_LINK;
  case TR_SIG_UNLINK:
    return TR_F_UNLINK;
  case TR_SIG_EXIT:
    return TR_F_EXIT;
  case TR_SIG_MONITOR:
    return TR_F_MONITOR;
  case TR_SIG_DEMONITOR:
    return TR_F_DEMONITOR;
  default:
    return 0;
  }
}

/* Keep the records a link's end needs (records.c), mu held. */
static void record(tr_peer_t *p, uint16_t sig, uint32_t aux, uint64_t ref, tr_pid_t local,
                   tr_pid_t remote) {
  uint64_t v;
  switch (sig) {
  case TR_SIG_LINK:
    tr__pairs_add(&p->links, local.id, remote.id);
    break;
  case TR_SIG_UNLINK:
    tr__pairs_del(&p->links, local.id, remote.id);
    break;
  case TR_SIG_EXIT:
    if (aux & TR_EXITF_LINK)
      tr__pairs_del(&p->links, local.id, remote.id);
    break;
  case TR_SIG_MONITOR:
    tr__u64map_put(&p->mon_out_w, ref, local.id);
    tr__u64map_put(&p->mon_out_t, ref, remote.id);
    break;
  case TR_SIG_DEMONITOR:
    tr__u64map_del(&p->mon_out_w, ref, &v);
    tr__u64map_del(&p->mon_out_t, ref, &v);
    break;
  default:
    break;
  }
}

static bool op_signal(tr_ctx_t *ctx, tr_pid_t to, tr_pid_t from, uint16_t sig, uint32_t aux,
                      uint64_t ref, const tr_reason_t *reason) {
  tr_cluster_t *cl = cl_of(ctx->sys);
  uint8_t kind = signal_frame(sig);
  uint32_t index = tr__pid_node(to);
  if (!kind)
    return false;
  tr_peer_t *p = lock_live(cl, index);
  if (!p)
    return false;
  record(p, sig, aux, ref, from, to);
  tr_reason_t none = {0};
  const tr_reason_t *r = reason ? reason : &none;
  int rc = tr__out_frame(p, kind, "[uuuuiis]", to.id & LOCAL_MASK, tr__pid_to_wire(from, index),
                         (uint64_t)aux, ref, (int64_t)r->kind, (int64_t)r->code, r->text);
  tr__out_unlock(p);
  if (rc != 0)
    return false;
  queued(ctx, p, index, false);
  return true;
}

static void op_flush(tr_ctx_t *ctx) {
  for (uint32_t i = 0; i < ctx->rdirty_n; i++)
    tr__out_flush(ctx, ctx->rdirty[i]);
}

static bool op_busy(tr_system_t *sys, tr_pid_t on) {
  tr_cluster_t *cl = cl_of(sys);
  tr_peer_t *p = lock_live(cl, tr__pid_node(on));
  if (!p)
    return false;
  bool busy = tr__out_queue_bytes(p) > cl->busy_bytes / 2;
  tr__out_unlock(p);
  return busy;
}

static bool op_park(tr_ctx_t *ctx, tr_pid_t self, tr_pid_t on) {
  tr_cluster_t *cl = cl_of(ctx->sys);
  tr_peer_t *p = lock_live(cl, tr__pid_node(on));
  if (!p)
    return false;
  bool parked =
      tr__out_queue_bytes(p) > cl->busy_bytes / 2 && tr__u64map_put(&p->muted, self.id, 1) == 0;
  tr__out_unlock(p);
  return parked;
}

static void resume_cmd(tr_io_t *io, uint64_t index) {
  tr_cluster_t *cl = tr__cluster_of(io->sys);
  if (cl)
    tr__conn_resume(cl, (uint32_t)index);
}

static void op_release(tr_ctx_t *ctx, tr_pid_t muter) {
  tr_cluster_t *cl = cl_of(ctx->sys);
  uint32_t index = tr__pid_node(muter);
  if (ctx == &cl->io->ctx && !cl->batching)
    tr__conn_resume(cl, index);
  else
    tr__io_post_id(cl->io, ctx, resume_cmd, index); /* fails only when stopping */
}

static void op_group_delta(tr_ctx_t *ctx, tr_atom_t scope, const void *name, size_t len,
                           tr_pid_t member, bool join) {
  tr_cluster_t *cl = cl_of(ctx->sys);
  const char *sname = tr_atom_name(ctx->sys, scope);
  pthread_mutex_lock(&cl->peers_mu);
  for (tr_peer_t *p = cl->peers; p; p = p->next) {
    tr__out_lock(p);
    bool up = p->up;
    if (up)
      tr__out_frame(p, join ? TR_F_G_JOIN : TR_F_G_LEAVE, "[sxu]", sname, name, len, member.id);
    tr__out_unlock(p);
    if (up)
      tr__out_queued(ctx, p, true);
  }
  pthread_mutex_unlock(&cl->peers_mu);
}

static void op_group_send(tr_ctx_t *ctx, uint32_t node, tr_atom_t scope, const void *name,
                          size_t len, tr_atom_t tag, const void *data, size_t dlen) {
  tr_cluster_t *cl = cl_of(ctx->sys);
  tr_peer_t *p = lock_live(cl, node);
  if (!p)
    return;
  uint32_t id = tr__out_tag(p, tag);
  uint8_t head[1024];
  size_t hlen = 0;
  int rc =
      id ? tr_pack_into(head + 2, sizeof head - 2, &hlen, "[sxuu]", tr_atom_name(ctx->sys, scope),
                        name, len, tr__pid_to_wire(tr_self(ctx), node), (uint64_t)id)
         : TR_ENOMEM;
  if (rc == 0) {
    head[0] = (uint8_t)(hlen >> 8);
    head[1] = (uint8_t)hlen;
    rc = put_send(p, TR_F_G_SEND, head, hlen + 2, data, dlen, false);
  }
  bool busy = tr__out_queue_bytes(p) > cl->busy_bytes;
  tr__out_unlock(p);
  if (rc != 0) {
    tr_log(TR_LOG_WARN, "cluster: cannot queue a group send for %s: %s", p->name, tr_strerror(rc));
    return;
  }
  queued(ctx, p, node, busy);
}

const tr_remote_ops_t tr__cluster_ops = {
    .send = op_send,
    .signal = op_signal,
    .flush = op_flush,
    .busy = op_busy,
    .park = op_park,
    .release = op_release,
    .group_delta = op_group_delta,
    .group_send = op_group_send,
};

/* ---- by node name ---- */

int tr_send_name(tr_ctx_t *ctx, const char *node, const char *name, tr_atom_t tag, const void *data,
                 size_t len) {
  if (!ctx || !name || !*name || strlen(name) > TR_NAME_MAX || (len && !data))
    return TR_EINVAL;
  tr_cluster_t *cl = tr__cluster_of(ctx->sys);
  if (!node || (cl && strcmp(node, cl->name) == 0)) {
    tr_pid_t to = tr_whereis(ctx->sys, name);
    if (tr_pid_is_none(to))
      return TR_ENOENT;
    return tr_send(ctx, to, tag, data, len);
  }
  tr_peer_t *p = cl ? tr__peer_get(cl, node, strlen(node), false) : NULL;
  if (p)
    tr__out_lock(p);
  if (!p || !p->up) { /* a name this node never met, or its link is down */
    if (p)
      tr__out_unlock(p);
    if (cl)
      atomic_fetch_add_explicit(&cl->dead_noconn, 1, memory_order_relaxed);
    return TR_ENOENT;
  }
  uint32_t index = p->index;
  if (tr__out_queue_bytes(p) >= cl->max_queue_bytes) {
    p->dropped_full++;
    tr__out_unlock(p);
    return TR_EBUSY;
  }
  uint32_t id = tr__out_tag(p, tag);
  uint8_t head[TR_NAME_MAX + 64];
  size_t hlen = 0;
  int rc = id ? tr_pack_into(head + 2, sizeof head - 2, &hlen, "[suu]", name,
                             tr__pid_to_wire(tr_self(ctx), index), (uint64_t)id)
              : TR_ENOMEM;
  if (rc == 0) {
    head[0] = (uint8_t)(hlen >> 8);
    head[1] = (uint8_t)hlen;
    rc = put_send(p, TR_F_NAME_SEND, head, hlen + 2, data, len, false);
  }
  bool busy = tr__out_queue_bytes(p) > cl->busy_bytes;
  tr__out_unlock(p);
  if (rc == 0)
    queued(ctx, p, index, busy);
  return rc;
}

int tr_node_monitor(tr_ctx_t *ctx, bool on) {
  if (!tr__in_handler(ctx))
    return TR_EINVAL;
  tr_cluster_t *cl = tr__cluster_of(ctx->sys);
  if (!cl)
    return TR_EINVAL;
  pthread_mutex_lock(&cl->watchers_mu);
  int rc = 0;
  if (on)
    rc = tr__u64map_put(&cl->node_watchers, tr_self(ctx).id, 1);
  else
    tr__u64map_del(&cl->node_watchers, tr_self(ctx).id, NULL);
  pthread_mutex_unlock(&cl->watchers_mu);
  return rc;
}

void tr__node_event(tr_cluster_t *cl, tr_peer_t *p, bool up, tr_down_reason_t why) {
  tr_ctx_t *ctx = &cl->io->ctx;
  pthread_mutex_lock(&cl->watchers_mu);
  tr_u64map_t w = {0};
  uint32_t i = 0;
  uint64_t k, v;
  while (tr__u64map_next(&cl->node_watchers, &i, &k, &v))
    tr__u64map_put(&w, k, 1);
  pthread_mutex_unlock(&cl->watchers_mu);
  i = 0;
  while (tr__u64map_next(&w, &i, &k, &v)) {
    int rc = tr_sendf(ctx, (tr_pid_t){k}, up ? TR_ATOM_NODEUP : TR_ATOM_NODEDOWN, "[si]", p->name,
                      (int64_t)why);
    if (rc == TR_ENOENT) { /* it exited: forget it */
      pthread_mutex_lock(&cl->watchers_mu);
      tr__u64map_del(&cl->node_watchers, k, NULL);
      pthread_mutex_unlock(&cl->watchers_mu);
    }
  }
  tr__u64map_free(&w);
}

int tr_msg_node(const tr_msg_t *m, char name[TR_NODE_NAME_MAX + 1], tr_down_reason_t *reason) {
  if (!m || !name || (tr_msg_tag(m) != TR_ATOM_NODEUP && tr_msg_tag(m) != TR_ATOM_NODEDOWN))
    return TR_ETYPE;
  const char *s;
  size_t n;
  int64_t why;
  int rc = tr_msg_unpack(m, "[si]", &s, &n, &why);
  if (rc != 0 || n > TR_NODE_NAME_MAX || why < 0 || why > TR_DOWN_ERROR)
    return TR_ETYPE;
  memcpy(name, s, n);
  name[n] = '\0';
  if (reason)
    *reason = (tr_down_reason_t)why;
  return 0;
}
