/* The frames of an authenticated link, on the I/O thread: messages become envelopes in
 * local mailboxes (the payload copied once, its pids turned into this node's form),
 * signals go to the signal lanes, group deltas into the groups. Nothing here parses a
 * user's payload: actors do.
 *
 * Overload. A user message for a mailbox over its high-water mark follows that mailbox's
 * policy: drop and fail count it and let it go; mute pushes it and pauses the reading of
 * the whole link (the link is the sender: a pseudo pid that the mailbox releases when it
 * drains, actors/remote.h), so TCP's window pushes back to the sending node, whose queue
 * grows until its own senders are muted. */
#include <string.h>

#include "cluster/cluster.h"

#define LOCAL_MASK ((UINT64_C(1) << (TR_PID_SLOT_BITS + TR_PID_GEN_BITS)) - 1)

/* This node's atom for a tag id of c's, or 0 (unknown: counted). */
static tr_atom_t tag_of(tr_cconn_t *c, uint32_t id) {
  if (id == 0 || id >= c->nrtags)
    return 0;
  tr_atom_t a = c->rtags[id];
  if (!a && c->rtag_names[id]) { /* local code may have interned it since */
    a = tr_atom_find(c->cl->sys, c->rtag_names[id], strlen(c->rtag_names[id]));
    if (a) {
      c->rtags[id] = a;
      free(c->rtag_names[id]);
      c->rtag_names[id] = NULL;
    }
  }
  return a;
}

static bool on_tag_def(tr_cconn_t *c, const uint8_t *body, size_t len) {
  uint64_t id;
  const char *name;
  size_t n, used;
  if (tr__frame_get(body, len, &used, "[us]", &id, &name, &n) != 0 || n == 0 ||
      n > TR_TAG_NAME_MAX || id != (c->nrtags ? c->nrtags : 1) || id >= TR_LINK_TAGS_MAX ||
      c->rtag_bytes + n > 256 * 1024)
    return false;           /* ids are defined once, in order; names are bounded */
  if (id >= c->rtags_cap) { /* ids come in order: the arrays double */
    uint32_t cap = c->rtags_cap ? c->rtags_cap * 2 : 64;
    tr_atom_t *t = realloc(c->rtags, cap * sizeof *t);
    if (t)
      c->rtags = t;
    char **nm = t ? realloc(c->rtag_names, cap * sizeof *nm) : NULL;
    if (!nm)
      return false;
    c->rtag_names = nm;
    c->rtags_cap = cap;
  }
  if (c->nrtags == 0) { /* id 0 names nothing */
    c->rtags[0] = 0;
    c->rtag_names[0] = NULL;
  }
  c->nrtags = (uint32_t)id + 1;
  c->rtag_bytes += n;
  tr_atom_t a = tr_atom_find(c->cl->sys, name, n); /* a lookup: the wire never interns */
  c->rtags[id] = a;
  c->rtag_names[id] = a ? NULL : strndup(name, n); /* kept to look up again later */
  if (!a)
    atomic_fetch_add_explicit(&c->cl->tags_unknown, 1, memory_order_relaxed);
  return true;
}

/* A user message for local actor `to`, through its mailbox's policy. */
static void deliver_user(tr_cconn_t *c, tr_pid_t to, tr_msg_t *m) {
  tr_ctx_t *ctx = &c->cl->io->ctx;
  tr_actor_t *a = tr__table_get(&ctx->sys->table, to);
  if (!a) {
    /* A request to an actor of ours that is not alive fails now, as it does for a local
     * requester: the TIMEOUT that says "noproc" goes back over the link. */
    if (m->ref && !tr_pid_is_none(m->from))
      tr__request_fail(ctx, m->from, m->ref, TR_REPLY_NOPROC, "noproc");
    tr__dead_letter(ctx, m);
    return;
  }
  uint32_t high = a->high;
  if (high == 0 || tr__depth(a) < high || (a->ov & TR_OV_CLIENT)) {
    tr__enqueue(ctx, a, m);
    return;
  }
  /* The mailbox's policy decides (overload.c): drop or fail count it; for mute, the I/O
   * thread is an outside sender that must not wait (TR_EAGAIN): push, and pause the link. */
  int rc = tr__overload_full(ctx, a);
  if (rc == 1 || rc == TR_EBUSY) {
    tr__overload_count(a, rc == 1);
    /* A request refused so gets its answer now, over the link: the TIMEOUT that says
     * "overloaded" (the requester's node makes it TR_EBUSY), not its whole timeout. */
    if (m->ref && !tr_pid_is_none(m->from))
      tr__request_fail(ctx, m->from, m->ref, TR_REPLY_BUSY, "overloaded");
    if (rc == 1)
      tr__dead_letter(ctx, m); /* dropped: a dead letter, as a local sender's would be */
    else
      tr__msg_free(tr__ctx_pool(ctx), m);
    return;
  }
  tr__enqueue(ctx, a, m);
  /* The link waits on this mailbox: it is told (as a muted actor's sends tell it), and
   * releases the link when it drains. */
  if (tr__signal_push_from(ctx, to, tr__link_pid(c->peer->index), TR_SIG_MUTED, 0, 0, NULL))
    c->paused = true;
}

/* An envelope holding data[0..len) with its pids in this node's form. */
static tr_msg_t *envelope(tr_cconn_t *c, tr_atom_t tag, tr_pid_t from, const uint8_t *data,
                          size_t len, bool pids) {
  tr_ctx_t *ctx = &c->cl->io->ctx;
  size_t llen = len;
  int npids = pids && len ? tr__payload_in_size(data, len, &llen) : 0;
  tr_msg_t *m = tr__msg_alloc(tr__ctx_pool(ctx));
  if (!m)
    return NULL;
  if (npids <= 0) {
    if (tr__msg_fill(m, tag, from, data, len) != 0) {
      tr__msg_recycle(tr__ctx_pool(ctx), m);
      return NULL;
    }
    return m;
  }
  uint8_t *buf = malloc(llen);
  if (!buf || tr__msg_fill(m, tag, from, NULL, 0) != 0) {
    free(buf);
    tr__msg_recycle(tr__ctx_pool(ctx), m);
    return NULL;
  }
  tr_pidmap_t pm = {.cl = c->cl, .from_node = c->peer->index};
  tr__payload_in(&pm, data, len, buf);
  m->len = (uint32_t)llen;
  if (llen <= TR_MSG_INLINE) {
    memcpy(m->u.bytes, buf, llen);
    free(buf);
  } else {
    m->store = TR_STORE_HEAP;
    m->u.heap = buf;
  }
  return m;
}

/* Why a peer's TIMEOUT reply came before any answer (tr__request_fail's, its payload the
 * string "noproc": no such actor, or "overloaded": its full mailbox dropped or refused the
 * request), as the reply's aux; 0 for any other. The wire carries no reply reason of its
 * own, so a node without this check sees an early timeout instead. */
static uint32_t early_reason(const tr_msg_t *m) {
  const char *s;
  size_t n;
  if (tr_msg_unpack(m, "s", &s, &n) != 0)
    return 0;
  if (n == strlen("noproc") && memcmp(s, "noproc", n) == 0)
    return TR_REPLY_NOPROC;
  if (n == strlen("overloaded") && memcmp(s, "overloaded", n) == 0)
    return TR_REPLY_BUSY;
  return 0;
}

static void unknown_tag(tr_cconn_t *c) {
  c->peer->dropped_unknown++;
  atomic_fetch_add_explicit(&c->cl->dropped_unknown, 1, memory_order_relaxed);
}

static bool on_send(tr_cconn_t *c, const uint8_t *body, size_t len) {
  if (len < TR_SEND_HEAD)
    return false;
  tr_ctx_t *ctx = &c->cl->io->ctx;
  uint32_t index = c->peer->index;
  uint64_t to_w = tr__get_be64(body);
  if (to_w & ~LOCAL_MASK)
    return false;
  tr_pid_t to = {to_w};
  tr_pid_t from = tr__pid_from_wire(tr__get_be64(body + 8), index);
  uint64_t ref = tr__get_be64(body + 16);
  bool pids = (body[28] & TR_SEND_PIDS) != 0;
  uint8_t kind = body[28] & (uint8_t)~TR_SEND_PIDS;
  if (kind != TR_KIND_USER && kind != TR_KIND_REPLY && kind != TR_KIND_DOWN)
    return false;
  tr_atom_t tag = tag_of(c, tr__get_be32(body + 24));
  if (!tag) {
    unknown_tag(c);
    return true;
  }
  tr_msg_t *m = envelope(c, tag, from, body + TR_SEND_HEAD, len - TR_SEND_HEAD, pids);
  if (!m) {
    tr_log(TR_LOG_ERROR, "cluster: out of memory taking a message from %s", c->peer->name);
    return true;
  }
  m->ref = ref;
  m->kind = kind;
  m->sig = pids ? TR_MSGF_PIDS : 0; /* forwarded on, they are translated again */
  if (kind == TR_KIND_USER) {
    deliver_user(c, to, m);
    return true;
  }
  tr_peer_t *p = c->peer;
  uint64_t v;
  if (kind == TR_KIND_DOWN) { /* one of our monitors of its actors has ended */
    tr__out_lock(p);
    tr__u64map_del(&p->mon_out_w, ref, &v);
    tr__u64map_del(&p->mon_out_t, ref, &v);
    tr__out_unlock(p);
  } else if (ref && kind == TR_KIND_REPLY) { /* a request of ours answered */
    tr__out_lock(p);
    if (!tr__u64map_del(&p->reqs, ref, &v))
      tr__u64map_del(&p->reqs_old, ref, &v);
    tr__out_unlock(p);
    if (tag == TR_ATOM_TIMEOUT) /* TR_ENOENT or TR_EBUSY for a client (client.c) */
      m->aux = early_reason(m);
  }
  tr__deliver(ctx, to, m); /* the runtime's own messages pass no gate */
  return true;
}

static bool on_name_send(tr_cconn_t *c, const uint8_t *body, size_t len) {
  const char *name;
  size_t n, used;
  uint64_t from_w, id;
  if (tr__frame_get(body, len, &used, "[suu]", &name, &n, &from_w, &id) != 0 || n == 0 ||
      n > TR_NAME_MAX)
    return false;
  char buf[TR_NAME_MAX + 1];
  memcpy(buf, name, n);
  buf[n] = '\0';
  tr_atom_t tag = tag_of(c, (uint32_t)id);
  if (!tag) {
    unknown_tag(c);
    return true;
  }
  tr_msg_t *m =
      envelope(c, tag, tr__pid_from_wire(from_w, c->peer->index), body + used, len - used, false);
  if (!m)
    return true;
  tr_pid_t to = tr_whereis(c->cl->sys, buf);
  if (tr_pid_is_none(to))
    tr__dead_letter(&c->cl->io->ctx, m); /* no such name here: B12 */
  else
    deliver_user(c, to, m);
  return true;
}

/* A reason from a signal frame. */
static void reason_of(int64_t kind, int64_t code, const char *text, size_t n, tr_reason_t *r) {
  r->kind = kind >= 0 && kind <= TR_REASON_NOCONNECTION ? (tr_reason_kind_t)kind : TR_REASON_ERROR;
  r->code = code >= INT32_MIN && code <= INT32_MAX ? (int)code : 0;
  if (n >= sizeof r->text)
    n = sizeof r->text - 1;
  memcpy(r->text, text, n);
  r->text[n] = '\0';
}

static bool on_signal(tr_cconn_t *c, uint8_t kind, const uint8_t *body, size_t len) {
  tr_ctx_t *ctx = &c->cl->io->ctx;
  tr_peer_t *p = c->peer;
  uint64_t to_w, from_w, aux, ref;
  int64_t rk, rc;
  const char *text;
  size_t n, used;
  if (tr__frame_get(body, len, &used, "[uuuuiis]", &to_w, &from_w, &aux, &ref, &rk, &rc, &text,
                    &n) != 0 ||
      (to_w & ~LOCAL_MASK) || aux > UINT32_MAX)
    return false;
  tr_pid_t to = {to_w}, from = tr__pid_from_wire(from_w, p->index);
  if (tr_pid_is_none(from))
    return true;
  tr_reason_t r;
  reason_of(rk, rc, text, n, &r);
  uint16_t sig = kind == TR_F_LINK      ? TR_SIG_LINK
                 : kind == TR_F_UNLINK  ? TR_SIG_UNLINK
                 : kind == TR_F_EXIT    ? TR_SIG_EXIT
                 : kind == TR_F_MONITOR ? TR_SIG_MONITOR
                                        : TR_SIG_DEMONITOR;
  uint64_t v;
  tr__out_lock(p);
  switch (sig) {
  case TR_SIG_LINK:
    tr__pairs_add(&p->links, to.id, from.id);
    break;
  case TR_SIG_UNLINK:
    tr__pairs_del(&p->links, to.id, from.id);
    break;
  case TR_SIG_EXIT:
    if (aux & TR_EXITF_LINK)
      tr__pairs_del(&p->links, to.id, from.id);
    break;
  case TR_SIG_MONITOR:
    tr__u64map_put(&p->mon_in_w, ref, from.id);
    tr__u64map_put(&p->mon_in_t, ref, to.id);
    break;
  default:
    tr__u64map_del(&p->mon_in_w, ref, &v);
    tr__u64map_del(&p->mon_in_t, ref, &v);
    break;
  }
  tr__out_unlock(p);
  /* A remote actor cannot force what only the local system may (a stop's forced exit). */
  aux &= ~(uint64_t)TR_EXITF_FORCED;
  if (tr__signal_push_from(ctx, to, from, sig, (uint32_t)aux, ref, sig == TR_SIG_EXIT ? &r : NULL))
    return true;
  /* The target is gone: answer as a local one would. */
  tr_reason_t noproc = {.kind = TR_REASON_NOPROC};
  if (sig == TR_SIG_LINK)
    tr__cluster_ops.signal(ctx, from, to, TR_SIG_EXIT, TR_EXITF_LINK, 0, &noproc);
  else if (sig == TR_SIG_MONITOR)
    tr__down_deliver(ctx, from, ref, to, &noproc);
  return true;
}

/* Group frames: the scope travels by name and is looked up, never interned. */
static bool on_group(tr_cconn_t *c, uint8_t kind, const uint8_t *body, size_t len) {
  tr_ctx_t *ctx = &c->cl->io->ctx;
  const char *sname;
  const void *gname;
  size_t sn, gn, used;
  uint64_t member;
  if (tr__frame_get(body, len, &used, "[sxu]", &sname, &sn, &gname, &gn, &member) != 0 || gn == 0 ||
      gn > 255)
    return false;
  tr_pid_t pid = tr__pid_from_wire(member, c->peer->index);
  if (!tr__pid_remote(pid) || sn == 0 || sn > TR_TAG_NAME_MAX)
    return true;
  tr_atom_t scope = tr_atom_find(ctx->sys, sname, sn);
  if (!scope && kind == TR_F_G_JOIN) {
    /* Local code may ask for this scope later, so its members are kept. Scopes are few (at
     * most TR_GROUP_SCOPES_MAX per system): interning their names is bounded, unlike tags. */
    char buf[TR_TAG_NAME_MAX + 1];
    memcpy(buf, sname, sn);
    buf[sn] = '\0';
    if (tr_group_scopes(ctx, NULL, 0) >= TR_GROUP_SCOPES_MAX) {
      tr_log(TR_LOG_WARN, "cluster: %s has members in scope %s, over this node's %u scopes",
             c->peer->name, buf, TR_GROUP_SCOPES_MAX);
      return true;
    }
    scope = tr_atom(ctx->sys, buf);
  }
  if (!scope)
    return true;
  if (kind == TR_F_G_LEAVE)
    tr__group_remote_leave(ctx, scope, gname, gn, pid);
  else if (tr__group_remote_join(ctx, scope, gname, gn, pid) == TR_ENOMEM)
    tr_log(TR_LOG_ERROR, "cluster: out of memory adding a member of %s", c->peer->name);
  return true;
}

typedef struct {
  tr_cconn_t *c;
  tr_atom_t tag;
  tr_pid_t from;
  const uint8_t *data;
  size_t len;
} gsend_t;

static void gsend_one(void *arg, tr_pid_t member) {
  gsend_t *g = arg;
  tr_msg_t *m = envelope(g->c, g->tag, g->from, g->data, g->len, false);
  if (m)
    deliver_user(g->c, member, m);
}

static bool on_group_send(tr_cconn_t *c, const uint8_t *body, size_t len) {
  tr_ctx_t *ctx = &c->cl->io->ctx;
  const char *sname;
  const void *gname;
  size_t sn, gn, used;
  uint64_t from_w, id;
  if (tr__frame_get(body, len, &used, "[sxuu]", &sname, &sn, &gname, &gn, &from_w, &id) != 0 ||
      gn == 0 || gn > 255)
    return false;
  tr_atom_t scope = tr_atom_find(ctx->sys, sname, sn);
  tr_atom_t tag = tag_of(c, (uint32_t)id);
  if (!tag) {
    unknown_tag(c);
    return true;
  }
  if (!scope)
    return true;
  gsend_t g = {c, tag, tr__pid_from_wire(from_w, c->peer->index), body + used, len - used};
  tr__group_members_local(ctx, scope, gname, gn, gsend_one, &g);
  return true;
}

static bool on_ping(tr_cconn_t *c, uint8_t kind, const uint8_t *body, size_t len) {
  uint64_t seq, t_us;
  size_t used;
  if (tr__frame_get(body, len, &used, "[uu]", &seq, &t_us) != 0)
    return false;
  tr_peer_t *p = c->peer;
  if (kind == TR_F_PONG) {
    if (seq == p->ping_seq)
      p->rtt_us = tr__now_ns() / 1000 - t_us;
    return true;
  }
  tr__out_lock(p);
  tr__out_frame(p, TR_F_PONG, "[uu]", seq, t_us);
  tr__out_unlock(p);
  tr__out_queued(&c->cl->io->ctx, p, true);
  return true;
}

static bool on_peers(tr_cconn_t *c, const uint8_t *body, size_t len) {
  const char *name, *addr;
  size_t nn, an, used;
  uint64_t inc;
  if (tr__frame_get(body, len, &used, "[ssu]", &name, &nn, &addr, &an, &inc) != 0)
    return false;
  if (tr__node_name_ok(name, nn) && an < 64)
    tr__dial_learn(c->cl, name, nn, addr, an);
  return true;
}

bool tr__inbound(tr_cconn_t *c, uint8_t kind, const uint8_t *body, size_t len) {
  c->peer->frames_in++;
  switch (kind) {
  case TR_F_SEND:
    return on_send(c, body, len);
  case TR_F_NAME_SEND:
    return on_name_send(c, body, len);
  case TR_F_TAG_DEF:
    return on_tag_def(c, body, len);
  case TR_F_LINK:
  case TR_F_UNLINK:
  case TR_F_EXIT:
  case TR_F_MONITOR:
  case TR_F_DEMONITOR:
    return on_signal(c, kind, body, len);
  case TR_F_G_JOIN:
  case TR_F_G_LEAVE:
    return on_group(c, kind, body, len);
  case TR_F_G_SEND:
    return on_group_send(c, body, len);
  case TR_F_PING:
  case TR_F_PONG:
    return on_ping(c, kind, body, len);
  case TR_F_PEERS:
    return on_peers(c, body, len);
  case TR_F_BYE:
    tr__conn_close(c, TR_DOWN_BYE);
    return true;
  default:
    return false;
  }
}

/* ---- the snapshot for a peer that came up ---- */

static void sync_group(void *arg, tr_atom_t scope, const void *name, size_t len,
                       const tr_pid_t *members, size_t n) {
  tr_peer_t *p = arg;
  const char *sname = tr_atom_name(p->cl->sys, scope);
  tr__out_lock(p);
  for (size_t i = 0; i < n; i++)
    tr__out_frame(p, TR_F_G_JOIN, "[sxu]", sname, name, len, members[i].id);
  tr__out_unlock(p);
}

void tr__groups_sync_to(tr_peer_t *p) { tr__groups_snapshot(&p->cl->io->ctx, sync_group, p); }
