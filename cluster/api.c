/* The cluster as a part of the I/O loop (io/io.h): starting a node (the listener, the tick,
 * the seeds), accepting connections, the node table and the peers, and the queries of
 * cluster.h. */
#include <sodium.h>
#include <string.h>
#include <unistd.h>

#include "cluster/cluster.h"
#include "net/net.h"

static void *create(tr_io_t *io) {
  tr_cluster_t *cl = calloc(1, sizeof *cl);
  if (!cl)
    return NULL;
  cl->io = io;
  cl->sys = io->sys;
  pthread_mutex_init(&cl->peers_mu, NULL);
  pthread_mutex_init(&cl->watchers_mu, NULL);
  return cl;
}

static int start(tr_io_t *io, void *state) {
  (void)io;
  (void)state;
  return 0; /* tr_cluster_start sets everything up, with its configuration */
}

static void noop_close(uv_handle_t *h) { (void)h; }

static void discard(tr_io_t *io, void *state) {
  (void)io;
  tr_cluster_t *cl = state;
  cl->stopping = true;
  if (cl->listener_open)
    tr__acceptor_close(&cl->listener);
  if (cl->tick_open)
    uv_close((uv_handle_t *)&cl->tick, noop_close);
  while (cl->conns) {
    tr_cconn_t *c = cl->conns;
    if (c->peer && c->peer->conn == c)
      c->peer->conn = NULL; /* every actor has exited: nobody to tell */
    tr__conn_close(c, TR_DOWN_NONE);
  }
  for (tr_seed_t *s = cl->seeds; s; s = s->next)
    if (s->resolving)
      uv_cancel((uv_req_t *)&s->gai);
}

static void destroy(tr_io_t *io, void *state) {
  (void)io;
  tr_cluster_t *cl = state;
  while (cl->peers) {
    tr_peer_t *p = cl->peers;
    cl->peers = p->next;
    free(p->out.p);
    free(p->spare.p);
    tr__u64map_free(&p->tags);
    tr__u64map_free(&p->muted);
    tr__pairs_free(&p->links);
    tr__u64map_free(&p->mon_out_w);
    tr__u64map_free(&p->mon_out_t);
    tr__u64map_free(&p->mon_in_w);
    tr__u64map_free(&p->mon_in_t);
    tr__u64map_free(&p->reqs);
    tr__u64map_free(&p->reqs_old);
    pthread_mutex_destroy(&p->mu);
    free(p);
  }
  while (cl->seeds) {
    tr_seed_t *s = cl->seeds;
    cl->seeds = s->next;
    free(s);
  }
  tr__u64map_free(&cl->penalty);
  tr__u64map_free(&cl->node_watchers);
  pthread_mutex_destroy(&cl->peers_mu);
  pthread_mutex_destroy(&cl->watchers_mu);
  sodium_memzero(cl->key, sizeof cl->key);
  free(cl);
}

static const tr_io_part_t cluster_part = {
    .name = "cluster", .create = create, .start = start, .discard = discard, .free = destroy};

tr_cluster_t *tr__cluster_of(tr_system_t *sys) {
  tr_cluster_t *cl = tr__io_part(sys->io, &cluster_part);
  return cl && atomic_load_explicit(&cl->started, memory_order_acquire) ? cl : NULL;
}

uint64_t tr__cl_now_ms(tr_cluster_t *cl) { return uv_now(&cl->io->loop); }

/* ---- the node table and the peers ---- */

uint32_t tr__node_index(tr_cluster_t *cl, tr_peer_t *p, uint64_t inc) {
  if (p->index && p->inc == inc)
    return p->index; /* the same incarnation again: its pids work again */
  uint32_t live = 0;
  for (tr_peer_t *q = cl->peers; q; q = q->next)
    live += q->conn != NULL;
  if (live >= cl->max_nodes)
    return 0;
  uint32_t i;
  if (cl->nodes_used < TR_NODES_MAX) {
    i = ++cl->nodes_used;
  } else { /* recycle an index whose incarnation is gone (the lowest: the oldest) */
    for (i = 1; i <= TR_NODES_MAX; i++) {
      tr_peer_t *q = atomic_load_explicit(&cl->nodes[i].peer, memory_order_relaxed);
      if (!q || q->index != i || !q->conn)
        break;
    }
    if (i > TR_NODES_MAX)
      return 0;
    tr_log(TR_LOG_WARN,
           "cluster: node table full; index %u reused for %s (old pids of its "
           "previous node now name this one's)",
           i, p->name);
  }
  atomic_store_explicit(&cl->nodes[i].inc, inc, memory_order_release);
  atomic_store_explicit(&cl->nodes[i].peer, p, memory_order_release);
  return i;
}

uint32_t tr__node_by_inc(tr_cluster_t *cl, uint64_t inc, bool *self) {
  *self = inc == cl->inc;
  if (*self)
    return 0;
  /* The I/O thread's (it assigns the entries). Newest first. */
  for (uint32_t i = cl->nodes_used; i >= 1; i--)
    if (atomic_load_explicit(&cl->nodes[i].inc, memory_order_relaxed) == inc &&
        atomic_load_explicit(&cl->nodes[i].peer, memory_order_relaxed))
      return i;
  return 0;
}

tr_peer_t *tr__peer_get(tr_cluster_t *cl, const char *name, size_t len, bool create) {
  pthread_mutex_lock(&cl->peers_mu);
  tr_peer_t *p = cl->peers;
  for (; p; p = p->next)
    if (strlen(p->name) == len && memcmp(p->name, name, len) == 0)
      break;
  if (!p && create && len <= TR_NODE_NAME_MAX && cl->npeers < TR_NODES_MAX &&
      (p = calloc(1, sizeof *p))) {
    p->cl = cl;
    memcpy(p->name, name, len);
    pthread_mutex_init(&p->mu, NULL);
    p->fd = -1;
    p->next = cl->peers;
    cl->peers = p;
    cl->npeers++;
  }
  pthread_mutex_unlock(&cl->peers_mu);
  return p;
}

/* ---- accepting ---- */

/* A new socket from the acceptor (net/accept.c), which brackets this as the I/O thread's
 * callbacks are (tr__io_enter). */
static void on_accept(tr_acceptor_t *a, int fd) {
  tr_cluster_t *cl = a->data;
  tr_cconn_t *c = tr__conn_new(cl, false);
  int rc = 0;
  if (!c) {
    tr_log(TR_LOG_ERROR, "cluster: out of memory accepting a connection");
    close(fd);
  } else if ((rc = uv_tcp_open(&c->tcp, fd)) != 0) {
    tr__io_err(rc, "cluster: accept");
    close(fd);
    tr__conn_close(c, TR_DOWN_NONE);
  } else if (tr__conn_open(c) != 0) {
    tr__conn_close(c, TR_DOWN_NONE);
  } else if (cl->preauth > TR_PREAUTH_CONNS) {
    tr_log(TR_LOG_WARN, "cluster: %u connections are authenticating; refusing %s", TR_PREAUTH_CONNS,
           c->ip);
    tr__conn_close(c, TR_DOWN_NONE);
  } else if (tr__hs_penalised(cl, (const struct sockaddr *)&c->addr)) {
    tr_log(TR_LOG_DEBUG, "cluster: %s failed recently; refusing it for now", c->ip);
    tr__conn_close(c, TR_DOWN_NONE);
  }
}

static void on_tick(uv_timer_t *t) {
  tr_cluster_t *cl = t->data;
  tr__io_enter(cl->io);
  tr__heartbeat_tick(cl, tr__cl_now_ms(cl));
  tr__io_leave(cl->io);
}

typedef struct {
  tr_cluster_t *cl;
  const char *seeds;
} start_t;

static int run_start(tr_io_t *io, void *arg) {
  start_t *st = arg;
  tr_cluster_t *cl = st->cl;
  struct sockaddr_storage ss;
  tr__net_parse_addr(cl->listen_host, cl->listen_port, &ss);
  cl->listener.take = on_accept;
  cl->listener.closed = NULL; /* the acceptor lives in cl, which outlives the loop */
  cl->listener.what = "cluster";
  cl->listener.refused = NULL;
  cl->listener.data = cl;
  int rc = tr__acceptor_open(&cl->listener, tr__net_of(&io->ctx), (const struct sockaddr *)&ss,
                             TR_NET_BACKLOG);
  if (rc < 0) {
    int err = rc == UV_EADDRINUSE ? TR_EADDRINUSE : tr__io_err(rc, "cluster: listen");
    tr_log(TR_LOG_ERROR, "cluster: cannot listen on %s:%u: %s", cl->listen_host,
           (unsigned)cl->listen_port, uv_strerror(rc));
    return err;
  }
  cl->listener_open = true;
  snprintf(cl->listen_text, sizeof cl->listen_text, "%s", cl->listener.name);
  atomic_store_explicit(&cl->port, (uint16_t)rc, memory_order_relaxed);
  uv_timer_init(&io->loop, &cl->tick);
  cl->tick.data = cl;
  cl->tick_open = true;
  uv_timer_start(&cl->tick, on_tick, 0, TR_TICK_MS);
  tr_log(TR_LOG_INFO, "cluster: node %s listening on %s", cl->name, cl->listen_text);
  return 0;
}

int tr_cluster_start(tr_system_t *sys, const tr_cluster_config_t *cfg) {
  if (!sys || !cfg || tr__on_worker(sys))
    return TR_EINVAL;
  if (sodium_init() < 0) {
    tr_log(TR_LOG_ERROR, "cluster: libsodium cannot start");
    return TR_ESYS;
  }
  tr_cluster_t *cl;
  int rc = tr__io_attach(sys->io, &cluster_part, (void **)&cl);
  if (rc != 0)
    return rc;
  pthread_mutex_lock(&cl->peers_mu);
  bool again = cl->inc != 0;
  if (!again)
    randombytes_buf(&cl->inc, sizeof cl->inc);
  pthread_mutex_unlock(&cl->peers_mu);
  if (again)
    return TR_EINVAL;
  cl->inc |= 1; /* never 0: 0 means "no node" in a payload's pid */
  randombytes_buf(&cl->rng, sizeof cl->rng);
  /* The seeds are the I/O thread's once it starts; parsed here, their errors come back. */
  if ((rc = tr__cluster_configure(cl, cfg)) != 0 || (rc = tr__dial_start(cl, cfg->seeds)) != 0)
    return rc;
  tr__remote_install(sys, &tr__cluster_ops, cl);
  start_t st = {cl, cfg->seeds};
  if ((rc = tr__io_call(sys->io, &sys->ctx, run_start, &st)) != 0)
    return rc;
  atomic_store_explicit(&cl->started, true, memory_order_release);
  tr__node_started(sys);
  return 0;
}

/* ---- queries ---- */

uint16_t tr_cluster_port(tr_system_t *sys) {
  tr_cluster_t *cl = sys ? tr__cluster_of(sys) : NULL;
  return cl ? atomic_load_explicit(&cl->port, memory_order_relaxed) : 0;
}

const char *tr_node_name(tr_system_t *sys) {
  tr_cluster_t *cl = sys ? tr__cluster_of(sys) : NULL;
  return cl ? cl->name : NULL;
}

bool tr_pid_is_remote(tr_pid_t pid) { return tr__pid_remote(pid); }

char *tr_pid_node_name(tr_system_t *sys, tr_pid_t pid, char out[TR_NODE_NAME_MAX + 1]) {
  out[0] = '\0';
  tr_cluster_t *cl = sys ? tr__cluster_of(sys) : NULL;
  if (!cl)
    return out;
  uint32_t n = tr__pid_node(pid);
  tr_peer_t *p = n ? tr__node_peer(cl, n, NULL) : NULL;
  snprintf(out, TR_NODE_NAME_MAX + 1, "%s", n == 0 ? cl->name : p ? p->name : "");
  return out;
}

const char *tr_down_reason_name(tr_down_reason_t r) {
  static const char *const names[] = {"none",     "eof",      "timeout", "stalled",
                                      "protocol", "replaced", "bye",     "error"};
  return (unsigned)r < sizeof names / sizeof names[0] ? names[r] : "?";
}

typedef struct {
  tr_link_info_t *out;
  size_t cap, total;
} links_t;

static int run_links(tr_io_t *io, void *arg) {
  links_t *l = arg;
  tr_cluster_t *cl = tr__cluster_of(io->sys);
  for (tr_peer_t *p = cl->peers; p; p = p->next) {
    if (!p->ever_up && !p->conn && !p->dialling)
      continue;
    if (l->total < l->cap) {
      tr_link_info_t *i = &l->out[l->total];
      memset(i, 0, sizeof *i);
      snprintf(i->name, sizeof i->name, "%s", p->name);
      snprintf(i->addr, sizeof i->addr, "%s", p->addr);
      i->state = p->conn ? TR_LINK_UP : p->dialling ? TR_LINK_CONNECTING : TR_LINK_DOWN;
      i->dialled = p->conn && p->conn->dialled;
      i->rtt_us = p->rtt_us;
      i->bytes_in = p->bytes_in;
      i->frames_in = p->frames_in;
      tr__out_lock(p);
      i->bytes_out = p->bytes_out;
      i->frames_out = p->frames_out;
      i->dropped_full = p->dropped_full;
      i->incarnation = p->inc;
      i->queue_bytes = tr__out_queue_bytes(p);
      i->muted = p->muted.count;
      tr__out_unlock(p);
      i->dropped_down = p->dropped_down;
      i->dropped_unknown = p->dropped_unknown;
      i->reconnects = p->reconnects;
      i->last_down = p->last_down;
      i->last_down_ms = p->last_down_ms;
    }
    l->total++;
  }
  return 0;
}

int tr_cluster_links(tr_system_t *sys, tr_link_info_t *out, size_t cap, size_t *total) {
  if (!sys || (cap && !out) || !total || !tr__cluster_of(sys))
    return TR_EINVAL;
  links_t l = {out, cap, 0};
  int rc = tr__io_call(sys->io, &sys->ctx, run_links, &l);
  *total = l.total;
  return rc;
}

int tr_cluster_stats(tr_system_t *sys, tr_cluster_stats_t *out) {
  tr_cluster_t *cl = sys && out ? tr__cluster_of(sys) : NULL;
  if (!cl)
    return TR_EINVAL;
  out->refused_auth = atomic_load_explicit(&cl->refused_auth, memory_order_relaxed);
  out->dead_noconn = atomic_load_explicit(&cl->dead_noconn, memory_order_relaxed);
  out->dropped_unknown = atomic_load_explicit(&cl->dropped_unknown, memory_order_relaxed);
  out->tags_unknown = atomic_load_explicit(&cl->tags_unknown, memory_order_relaxed);
  return 0;
}
