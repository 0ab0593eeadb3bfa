/* A connection between two nodes: reading and framing, the handshake's deadline, closing;
 * and a peer's link going up (a connection that authenticated) and down (everything that
 * depended on it ends: monitors, links, group members, the queue). I/O thread only. */
#include <string.h>

#include "cluster/cluster.h"
#include "net/net.h"

static void on_handle_closed(uv_handle_t *h) {
  tr_cconn_t *c = h->data;
  if (--c->handles_open > 0)
    return;
  free(c->transcript.p);
  free(c->in.p);
  for (uint32_t i = 0; i < c->nrtags; i++)
    free(c->rtag_names ? c->rtag_names[i] : NULL);
  free(c->rtag_names);
  free(c->rtags);
  free(c);
}

static void on_hs_timeout(uv_timer_t *t);

tr_cconn_t *tr__conn_new(tr_cluster_t *cl, bool dialled) {
  tr_cconn_t *c = calloc(1, sizeof *c);
  if (!c)
    return NULL;
  c->cl = cl;
  c->dialled = c->connecting = dialled;
  c->started_ms = tr__cl_now_ms(cl);
  c->state = dialled ? TR_HS_HELLO_SENT : TR_HS_WAIT_HELLO;
  uv_tcp_init(&cl->io->loop, &c->tcp);
  uv_timer_init(&cl->io->loop, &c->hs_timer);
  c->tcp.data = c->hs_timer.data = c;
  if (dialled)
    uv_timer_start(&c->hs_timer, on_hs_timeout, TR_PREAUTH_MS, 0);
  c->handles_open = 2;
  c->next = cl->conns;
  cl->conns = c;
  cl->preauth++;
  c->in_preauth = true;
  return c;
}

static void unlist(tr_cconn_t *c) {
  for (tr_cconn_t **pp = &c->cl->conns; *pp; pp = &(*pp)->next)
    if (*pp == c) {
      *pp = c->next;
      return;
    }
}

static void on_hs_timeout(uv_timer_t *t) {
  tr_cconn_t *c = t->data;
  if (c->connecting) /* a silent address (a partition, a host that is off): dialled again */
    tr_log(TR_LOG_DEBUG, "cluster: no answer from %s in %u ms", c->ip, TR_PREAUTH_MS);
  else if (!c->refused)
    tr_log(TR_LOG_WARN, "cluster: handshake with %s timed out", c->ip);
  tr__conn_close(c, TR_DOWN_TIMEOUT);
}

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf) {
  (void)hint;
  tr_cconn_t *c = h->data;
  size_t want = 64 * 1024;
  size_t pending = tr__cbuf_pending(&c->in);
  if (pending >= 4) { /* room for the whole frame that has begun */
    size_t need = 4 + (size_t)tr__get_be32(c->in.p + c->in.off);
    if (need > pending && need - pending > want && need <= TR_FRAME_MAX + 4)
      want = need - pending;
  }
  if (tr__cbuf_reserve(&c->in, want) != 0) {
    *buf = uv_buf_init(NULL, 0); /* libuv reports UV_ENOBUFS */
    return;
  }
  *buf = uv_buf_init((char *)c->in.p + c->in.len, (unsigned)(c->in.cap - c->in.len));
}

/* Take the complete frames out of c->in. False when c was closed meanwhile. */
static bool parse(tr_cconn_t *c) {
  tr_cbuf_t *b = &c->in;
  while (tr__cbuf_pending(b) >= 4 && !c->paused) {
    const uint8_t *p = b->p + b->off;
    size_t flen = tr__get_be32(p);
    size_t max = c->state == TR_HS_UP ? TR_FRAME_MAX : TR_PREAUTH_FRAME;
    if (flen == 0 || flen > max) {
      tr_log(TR_LOG_WARN, "cluster: %s sent a frame of %zu bytes (at most %zu here): closing",
             c->peer_name[0] ? c->peer_name : c->ip, flen, max);
      if (c->state != TR_HS_UP)
        tr__hs_penalise(c->cl, (const struct sockaddr *)&c->addr);
      tr__conn_close(c, TR_DOWN_PROTOCOL);
      return false;
    }
    if (tr__cbuf_pending(b) < 4 + flen)
      break;
    b->off += 4 + flen;
    uint8_t kind = p[4];
    bool up = c->state == TR_HS_UP;
    bool ok = up ? tr__inbound(c, kind, p + 5, flen - 1) : tr__hs_frame(c, kind, p + 5, flen - 1);
    if (!ok) {
      tr_log(TR_LOG_WARN, "cluster: %s sent a bad frame (kind %u%s): closing",
             c->peer_name[0] ? c->peer_name : c->ip, kind, up ? "" : ", before authenticating");
      if (!up) {
        atomic_fetch_add_explicit(&c->cl->refused_auth, 1, memory_order_relaxed);
        tr__hs_penalise(c->cl, (const struct sockaddr *)&c->addr);
      }
      tr__conn_close(c, TR_DOWN_PROTOCOL);
      return false;
    }
    if (c->state == TR_HS_CLOSING || c->refused)
      return false;
  }
  if (tr__cbuf_pending(b) == 0)
    tr__cbuf_reset(b);
  return true;
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf) {
  (void)buf;
  tr_cconn_t *c = s->data;
  tr_cluster_t *cl = c->cl;
  if (n == 0 || c->state == TR_HS_CLOSING || c->refused)
    return;
  tr__io_enter(cl->io);
  if (n < 0) {
    if (n != UV_EOF && n != UV_ECONNRESET)
      tr__io_err((int)n, "cluster: read");
    tr__conn_close(c, n == UV_EOF || n == UV_ECONNRESET ? TR_DOWN_EOF : TR_DOWN_ERROR);
  } else {
    c->in.len += (size_t)n;
    if (c->peer && c->state == TR_HS_UP) {
      c->peer->bytes_in += (uint64_t)n;
      c->peer->last_rx_ms = tr__cl_now_ms(cl);
    }
    cl->batching = true;
    if (parse(c) && c->paused)
      uv_read_stop((uv_stream_t *)&c->tcp);
    cl->batching = false;
    if (cl->io->ctx.rdirty_n)
      tr__remote_flush(&cl->io->ctx);
  }
  tr__io_leave(cl->io);
}

void tr__conn_resume(tr_cluster_t *cl, uint32_t index) {
  tr_peer_t *p = tr__node_peer(cl, index, NULL);
  tr_cconn_t *c = p ? p->conn : NULL;
  if (!c || !c->paused || p->index != index)
    return;
  c->paused = false;
  cl->batching = true;
  bool alive = parse(c);
  cl->batching = false;
  if (cl->io->ctx.rdirty_n)
    tr__remote_flush(&cl->io->ctx);
  if (alive && !c->paused)
    uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
}

int tr__conn_open(tr_cconn_t *c) {
  int len = sizeof c->addr;
  uv_tcp_nodelay(&c->tcp, 1);
  if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&c->addr, &len) == 0) {
    char text[TR_ADDR_MAX];
    tr__net_addr_text((const struct sockaddr *)&c->addr, text);
    snprintf(c->ip, sizeof c->ip, "%s", text);
  } else {
    snprintf(c->ip, sizeof c->ip, "?");
  }
  uv_timer_start(&c->hs_timer, on_hs_timeout, TR_PREAUTH_MS, 0);
  int rc = uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
  return rc ? tr__io_err(rc, "cluster: read start") : 0;
}

typedef struct {
  uv_write_t req;
  uint8_t bytes[];
} raw_write_t;

static void on_raw_written(uv_write_t *req, int status) {
  (void)status; /* a failed handshake write shows as a read error or the deadline */
  free(req);
}

void tr__conn_write_raw(tr_cconn_t *c, const tr_cbuf_t *b) {
  size_t n = tr__cbuf_pending(b);
  uv_buf_t ub = uv_buf_init((char *)b->p + b->off, (unsigned)n);
  int w = uv_try_write((uv_stream_t *)&c->tcp, &ub, 1);
  if (w == (int)n)
    return;
  size_t done = w > 0 ? (size_t)w : 0;
  raw_write_t *r = malloc(sizeof *r + n - done);
  if (!r)
    return;
  memcpy(r->bytes, b->p + b->off + done, n - done);
  ub = uv_buf_init((char *)r->bytes, (unsigned)(n - done));
  if (uv_write(&r->req, (uv_stream_t *)&c->tcp, &ub, 1, on_raw_written) != 0)
    free(r);
}

static void preauth_done(tr_cconn_t *c) {
  if (c->in_preauth) {
    c->in_preauth = false;
    c->cl->preauth--;
  }
}

/* When to dial again after a dial that failed. The backoff counts from the dial's start, so
 * a dial that waited out its deadline against a silent address (a partition) is followed
 * at once by the next: SYNs keep going out about every second or two, and a healed link is
 * back within about that, not after the kernel's SYN retries have backed off to tens of
 * seconds or another backoff on top of the deadline. A refused dial (the peer's port is
 * closed: it restarts) fails at once, so it waits the whole backoff as before. */
static uint64_t redial_at(tr_cconn_t *c, uint32_t attempts) {
  uint64_t now = tr__cl_now_ms(c->cl), at = c->started_ms + tr__backoff_ms(c->cl, attempts);
  return at > now ? at : now;
}

void tr__conn_close(tr_cconn_t *c, tr_down_reason_t why) {
  if (c->state == TR_HS_CLOSING)
    return;
  tr_peer_t *p = c->peer;
  bool was_link = p && p->conn == c;
  c->state = TR_HS_CLOSING;
  preauth_done(c);
  unlist(c);
  if (was_link) {
    tr__link_down(p, why);
  } else if (c->dialled && p && p->dialling) {
    p->dialling = false; /* a dial that did not make it: try again later */
    p->next_dial_ms = redial_at(c, p->attempts++);
  }
  if (c->seed && c->dialled) {
    c->seed->dialling = false;
    if (!c->seed->peer || !c->seed->peer->conn)
      c->seed->next_dial_ms = redial_at(c, c->seed->attempts++);
  }
  uv_read_stop((uv_stream_t *)&c->tcp);
  uv_close((uv_handle_t *)&c->hs_timer, on_handle_closed);
  /* A connection given up on (the peer silent, or not reading) is reset, not closed: a FIN
   * waits behind the bytes the peer has not acknowledged, so a peer that still hears us (a
   * cut in one direction only) would learn of it only from its own timer, seconds later.
   * The RST goes out at once. */
  bool reset = (why == TR_DOWN_TIMEOUT || why == TR_DOWN_STALLED) && !c->connecting;
  if (!reset || uv_tcp_close_reset(&c->tcp, on_handle_closed) != 0)
    uv_close((uv_handle_t *)&c->tcp, on_handle_closed);
}

void tr__conn_close_later(tr_cconn_t *c, uint32_t delay_ms) {
  c->refused = true;
  uv_read_stop((uv_stream_t *)&c->tcp);
  uv_timer_start(&c->hs_timer, on_hs_timeout, delay_ms, 0);
}

/* ---- a link up and down ---- */

static void send_peers(tr_peer_t *to) {
  tr_cluster_t *cl = to->cl;
  /* Lock order: peers_mu, then a peer's mutex (as the group deltas take them). */
  pthread_mutex_lock(&cl->peers_mu);
  tr__out_lock(to);
  for (tr_peer_t *q = cl->peers; q; q = q->next)
    if (q != to && q->conn && q->known_addr)
      tr__out_frame(to, TR_F_PEERS, "[ssu]", q->name, q->addr, q->inc);
  tr__out_unlock(to);
  pthread_mutex_unlock(&cl->peers_mu);
}

void tr__link_up(tr_cconn_t *c, tr_peer_t *p, uint64_t inc) {
  tr_cluster_t *cl = c->cl;
  if (p->conn && p->conn != c)
    tr__conn_close(p->conn, TR_DOWN_REPLACED);
  uint32_t index = tr__node_index(cl, p, inc);
  if (index == 0) {
    tr_log(TR_LOG_ERROR, "cluster: refusing %s: %u nodes are up, the most this node takes", p->name,
           cl->max_nodes);
    tr__conn_close(c, TR_DOWN_NONE);
    return;
  }
  preauth_done(c);
  uv_timer_stop(&c->hs_timer);
  c->state = TR_HS_UP;
  c->peer = p;
  uv_os_fd_t fd = -1;
  uv_fileno((const uv_handle_t *)&c->tcp, &fd);
  tr__out_lock(p);
  p->up = true;
  p->index = index;
  p->inc = inc;
  p->fd = fd;
  p->io_writing = false;
  tr__u64map_free(&p->tags);
  p->next_tag = 1;
  tr__cbuf_reset(&p->out);
  p->progress_ns = tr__now_ns();
  tr__out_unlock(p);
  uint64_t now = tr__cl_now_ms(cl);
  p->conn = c;
  p->dialling = false;
  p->attempts = 0;
  if (c->peer_listen[0]) {
    snprintf(p->addr, sizeof p->addr, "%s", c->peer_listen);
    p->known_addr = true;
  }
  if (p->ever_up)
    p->reconnects++;
  p->ever_up = true;
  p->last_rx_ms = p->last_ping_ms = p->last_up_ms = now;
  if (c->seed) {
    c->seed->peer = p;
    c->seed->attempts = 0;
    c->seed->dialling = false;
    p->via_seed = true;
  }
  /* Our other dials to p still under way go (a seed's is p's when the seed reached p last):
   * one that connected later would replace this link, a needless disconnect that loses what
   * is in flight. (A dial whose handshake the peer has seen lost the tie-break already.) */
  for (tr_cconn_t *o = cl->conns, *next; o; o = next) {
    next = o->next; /* closing unlists it */
    if (o != c && o->dialled && o->state < TR_HS_UP &&
        (o->peer == p || (!o->peer && o->seed && o->seed->peer == p)))
      tr__conn_close(o, TR_DOWN_NONE);
  }
  tr_log(TR_LOG_INFO, "cluster: %s is up (%s, %s)", p->name, c->ip,
         c->dialled ? "dialled" : "accepted");
  send_peers(p);
  tr__groups_sync_to(p);
  tr__node_event(cl, p, true, TR_DOWN_NONE);
  tr__out_flush(&cl->io->ctx, p);
  /* The others learn of the newcomer too, so a node that dialled one seed meets them all. */
  pthread_mutex_lock(&cl->peers_mu);
  for (tr_peer_t *q = cl->peers; q; q = q->next) {
    if (q == p || !q->conn || !p->known_addr)
      continue;
    tr__out_lock(q);
    tr__out_frame(q, TR_F_PEERS, "[ssu]", p->name, p->addr, p->inc);
    tr__out_unlock(q);
  }
  pthread_mutex_unlock(&cl->peers_mu);
  for (tr_peer_t *q = cl->peers; q; q = q->next)
    if (q != p && q->conn)
      tr__out_flush(&cl->io->ctx, q);
}

void tr__link_down(tr_peer_t *p, tr_down_reason_t why) {
  tr_cluster_t *cl = p->cl;
  tr_ctx_t *ctx = &cl->io->ctx;
  p->conn = NULL;
  tr__out_lock(p);
  uint32_t index = p->index;
  p->up = false;
  p->fd = -1;
  p->io_writing = false;
  uint64_t dropped = tr__out_drop(p);
  tr__out_unlock(p);
  p->dropped_down += dropped;
  p->last_down = why;
  p->last_down_ms = tr__cl_now_ms(cl);
  tr_log(why == TR_DOWN_REPLACED ? TR_LOG_INFO : TR_LOG_WARN,
         "cluster: %s is down: %s (%llu frames dropped)", p->name, tr_down_reason_name(why),
         (unsigned long long)dropped);
  /* Its group members go first: an actor told of the loss (a DOWN noconnection) that looks
   * for a replacement in a group (a room's new home) finds only live nodes' members. */
  tr__groups_drop_node(ctx, index);
  tr__records_down(p, ctx);
  tr__out_release_muted(p);
  tr__node_event(cl, p, false, why);
  if (!p->via_seed)
    p->next_dial_ms = tr__cl_now_ms(cl) + tr__backoff_ms(cl, p->attempts++);
}
