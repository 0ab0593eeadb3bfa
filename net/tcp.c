/* TCP on the I/O thread: the net layer's state, what listeners and connections share
 * (options, errors, addresses, delivering to the owner, closing, freeing), the sweep that
 * closes sockets whose owner has exited, and the decoders of the messages actors receive.
 * Lifecycles and threads: see tcp.h. */
#include <arpa/inet.h>
#include <string.h>

#include "net/tcp.h"

/* ---- the state, and io.c's hooks ---- */

int tr__net_init(tr_io_t *io) {
  tr_net_t *net = calloc(1, sizeof *net);
  if (!net)
    return TR_ENOMEM;
  net->io = io;
  pthread_mutex_init(&net->mu, NULL);
  uv_timer_init(&io->loop, &net->sweep);
  uv_timer_init(&io->loop, &net->resume);
  net->sweep.data = net;
  net->resume.data = net;
  io->net = net;
  return 0;
}

void tr__net_discard_all(tr_io_t *io) {
  tr_net_t *net = io->net;
  if (!net)
    return;
  net->stopping = true;
  uint64_t k, v;
  for (uint32_t i = 0; tr__u64map_next(&net->listeners, &i, &k, &v);)
    tr__net_listener_close((tr_tcp_listener_t *)(uintptr_t)v);
  /* Closing may free c at once (when it holds no handle), so step before. */
  for (tr_tcp_conn_t *c = net->all, *next; c; c = next) {
    next = c->next;
    if (c->state != TR_CONN_CLOSING)
      tr__net_conn_close(c, 0, false);
    else if (c->tcp && !uv_is_closing((uv_handle_t *)c->tcp))
      tr__net_close_tcp(c->tcp); /* its shutdown is cancelled */
  }
}

void tr__net_free(tr_io_t *io) {
  tr_net_t *net = io->net;
  if (!net)
    return;
  /* The loop has run every close callback: nothing is left. */
  TR_ASSERT(net->all == NULL);
  tr__u64map_free(&net->owners);
  tr__u64map_free(&net->ports);
  tr__u64map_free(&net->conns);
  tr__u64map_free(&net->listeners);
  pthread_mutex_destroy(&net->mu);
  free(net);
  io->net = NULL;
}

/* ---- options, errors, addresses ---- */

int tr__net_opts(const tr_conn_opts_t *in, tr_net_opts_t *out) {
  tr_conn_opts_t z = {0};
  if (!in)
    in = &z;
  if (!tr__codec_valid(&in->codec))
    return TR_EINVAL;
  out->codec.kind = in->codec.kind;
  out->codec.max = tr__codec_max(&in->codec);
  out->out_limit = in->out_limit ? in->out_limit : TR_NET_OUT_LIMIT;
  out->high_water = in->high_water ? in->high_water : TR_NET_HIGH_WATER;
  out->low_water = in->low_water ? in->low_water : out->high_water / 4;
  if (out->low_water == 0)
    out->low_water = 1; /* "below 0" would never resume */
  return out->low_water > out->high_water ? TR_EINVAL : 0;
}

int tr__net_err(int uv_err, const char *what) {
  switch (uv_err) {
  case 0:
  case UV_EOF:
    return 0;
  case UV_EADDRINUSE:
    return TR_EADDRINUSE;
  case UV_EINVAL:
    return TR_EINVAL;
  case UV_ENOMEM:
  case UV_ENOBUFS:
    return TR_ENOMEM;
  case UV_ECONNREFUSED:
    return TR_ECONNREFUSED;
  case UV_ECONNRESET:
  case UV_EPIPE:
    return TR_ECONNRESET;
  case UV_ETIMEDOUT:
    return TR_ETIMEDOUT;
  case UV_ENOTCONN: /* the peer went first (e.g. a QUIT then a disconnect): nothing to report */
    return TR_ECONNRESET;
  default:
    tr_log(TR_LOG_WARN, "tcp: %s: %s", what, uv_strerror(uv_err));
    return TR_ESYS;
  }
}

void tr__net_addr_text(const struct sockaddr *sa, char out[TR_ADDR_MAX]) {
  char ip[INET6_ADDRSTRLEN] = "?";
  if (sa->sa_family == AF_INET) {
    const struct sockaddr_in *a = (const struct sockaddr_in *)sa;
    uv_ip4_name(a, ip, sizeof ip);
    snprintf(out, TR_ADDR_MAX, "%s:%u", ip, (unsigned)ntohs(a->sin_port));
  } else if (sa->sa_family == AF_INET6) {
    const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)sa;
    uv_ip6_name(a, ip, sizeof ip);
    snprintf(out, TR_ADDR_MAX, "[%s]:%u", ip, (unsigned)ntohs(a->sin6_port));
  } else {
    snprintf(out, TR_ADDR_MAX, "?");
  }
}

int tr__net_parse_addr(const char *host, uint16_t port, struct sockaddr_storage *out) {
  char buf[INET6_ADDRSTRLEN + 2];
  size_t n = strlen(host);
  if (n >= sizeof buf)
    return TR_EINVAL;
  if (n >= 2 && host[0] == '[' && host[n - 1] == ']') { /* "[::1]" */
    memcpy(buf, host + 1, n - 2);
    buf[n - 2] = '\0';
    host = buf;
  }
  memset(out, 0, sizeof *out);
  if (uv_ip4_addr(host, port, (struct sockaddr_in *)out) == 0)
    return 0;
  if (uv_ip6_addr(host, port, (struct sockaddr_in6 *)out) == 0)
    return 0;
  return TR_EINVAL;
}

/* ---- connections ---- */

tr_tcp_conn_t *tr__net_conn_new(tr_net_t *net, const tr_net_opts_t *opts) {
  tr_tcp_conn_t *c = calloc(1, sizeof *c);
  if (!c)
    return NULL;
  c->net = net;
  c->opts = *opts;
  c->refs = 1; /* open */
  c->pending_tail = &c->pending;
  tr__codec_init(&c->codec, &opts->codec);
  snprintf(c->peer, sizeof c->peer, "?");
  snprintf(c->local, sizeof c->local, "?");
  return c;
}

void tr__net_conn_free(tr_tcp_conn_t *c) {
  tr__net_flush_pending(c, true);
  tr__codec_free(&c->codec);
  free(c->stash);
  free(c->host);
  if (c->ai)
    uv_freeaddrinfo(c->ai);
  free(c);
}

int tr__net_conn_adopt(tr_tcp_conn_t *c) {
  tr_net_t *net = c->net;
  if (tr__u64map_put(&net->conns, c->id, (uint64_t)(uintptr_t)c) != 0)
    return TR_ENOMEM;
  c->next = net->all;
  if (net->all)
    net->all->prev = c;
  net->all = c;
  tr__net_watch(net);
  return 0;
}

void tr__net_unref(tr_tcp_conn_t *c) {
  TR_ASSERT(c->refs > 0);
  if (--c->refs > 0)
    return;
  tr_net_t *net = c->net;
  if (c->prev)
    c->prev->next = c->next;
  else if (net->all == c)
    net->all = c->next;
  if (c->next)
    c->next->prev = c->prev;
  tr__net_conn_free(c);
}

static void on_tcp_closed(uv_handle_t *h) {
  tr_tcp_conn_t *c = h->data;
  free(h);
  tr__net_unref(c);
}

uv_tcp_t *tr__net_tcp_new(tr_tcp_conn_t *c) {
  uv_tcp_t *tcp = malloc(sizeof *tcp);
  if (!tcp)
    return NULL;
  uv_tcp_init(&c->net->io->loop, tcp);
  tcp->data = c;
  c->refs++;
  return tcp;
}

void tr__net_close_tcp(uv_tcp_t *tcp) { uv_close((uv_handle_t *)tcp, on_tcp_closed); }

void tr__net_conn_names(tr_tcp_conn_t *c) {
  struct sockaddr_storage sa;
  int n = sizeof sa;
  if (uv_tcp_getpeername(c->tcp, (struct sockaddr *)&sa, &n) == 0)
    tr__net_addr_text((struct sockaddr *)&sa, c->peer);
  n = sizeof sa;
  if (uv_tcp_getsockname(c->tcp, (struct sockaddr *)&sa, &n) == 0)
    tr__net_addr_text((struct sockaddr *)&sa, c->local);
}

tr_actor_t *tr__net_deliver(tr_tcp_conn_t *c, tr_atom_t tag, const void *data, size_t len) {
  tr_io_t *io = c->net->io;
  tr_actor_t *a = tr__table_get(&io->sys->table, c->owner);
  if (!a)
    return NULL;
  tr_msg_t *m = tr__msg_alloc(&io->pool);
  if (!m || tr__msg_fill(m, tag, TR_PID_NONE, data, len) != 0) {
    /* Losing one message would break the stream the owner sees: close instead. */
    tr_log(TR_LOG_ERROR, "tcp: out of memory delivering to %016llx; closing %s",
           (unsigned long long)c->owner.id, c->peer);
    if (m)
      tr__msg_recycle(&io->pool, m);
    return NULL;
  }
  m->ref = c->id;
  tr__enqueue(&io->ctx, a, m);
  return a;
}

void tr__net_conn_opened(tr_tcp_conn_t *c) {
  c->state = TR_CONN_OPEN;
  /* Messages are small and often answer one another: do not let Nagle hold them back. */
  uv_tcp_nodelay(c->tcp, 1);
  unsigned char buf[16 + 2 * TR_ADDR_MAX];
  size_t len;
  int rc = tr_pack_into(buf, sizeof buf, &len, "[uss]", c->id, c->peer, c->local);
  TR_ASSERT(rc == 0);
  if (!tr__net_deliver(c, TR_ATOM_TCP_OPEN, buf, len)) {
    tr__net_conn_close(c, 0, false); /* the owner is gone (its init failed, say) */
    return;
  }
  tr__net_flush_pending(c, false);
  if (c->state == TR_CONN_OPEN)
    tr__net_read_start(c);
}

/* Take c out of the id maps: from here on it is closed to writers. */
static void forget(tr_tcp_conn_t *c) {
  tr_net_t *net = c->net;
  tr__u64map_del(&net->conns, c->id, NULL);
  pthread_mutex_lock(&net->mu);
  tr__u64map_del(&net->owners, c->id, NULL);
  pthread_mutex_unlock(&net->mu);
}

static void on_timer_closed(uv_handle_t *h) { tr__net_unref(h->data); }

void tr__net_stop_timer(tr_tcp_conn_t *c) {
  if (!c->timer_on)
    return;
  c->timer_on = false;
  uv_close((uv_handle_t *)&c->timer, on_timer_closed);
}

/* The last step of a close: tell the owner, close the socket, drop the "open" reference. */
static void finish(tr_tcp_conn_t *c, int reason) {
  if (!c->net->stopping) {
    unsigned char buf[32];
    size_t len;
    int rc = tr_pack_into(buf, sizeof buf, &len, "[ui]", c->id, (int64_t)reason);
    TR_ASSERT(rc == 0);
    tr__net_deliver(c, TR_ATOM_TCP_CLOSED, buf, len);
  }
  if (c->tcp && !uv_is_closing((uv_handle_t *)c->tcp))
    tr__net_close_tcp(c->tcp);
  tr__net_unref(c);
}

static void on_shutdown(uv_shutdown_t *req, int status) {
  tr_tcp_conn_t *c = req->data;
  bool live = tr__net_enter(c->net);
  int reason = c->close_reason;
  if (status < 0 && status != UV_ECANCELED && reason == 0)
    reason = tr__net_err(status, "shutdown");
  finish(c, reason);
  if (live)
    tr__net_leave(c->net);
}

void tr__net_conn_close(tr_tcp_conn_t *c, int reason, bool graceful) {
  if (c->state == TR_CONN_CLOSING)
    return;
  bool open = c->state == TR_CONN_OPEN;
  c->state = TR_CONN_CLOSING;
  forget(c);
  tr__net_unpause(c);
  tr__net_flush_pending(c, true);
  tr__net_stop_timer(c);
  if (c->resolving)
    uv_cancel((uv_req_t *)&c->gai); /* its callback still comes, and lets go of c */
  if (graceful && open) {
    /* libuv runs the shutdown after every write queued before it. */
    uv_read_stop((uv_stream_t *)c->tcp);
    c->close_reason = reason;
    c->shutdown.data = c;
    if (uv_shutdown(&c->shutdown, (uv_stream_t *)c->tcp, on_shutdown) == 0)
      return;
  }
  finish(c, reason);
}

/* ---- the owner sweep ---- */

static void on_sweep(uv_timer_t *t) {
  tr_net_t *net = t->data;
  if (!tr__net_enter(net))
    return;
  tr_table_t *table = &net->io->sys->table;
  uint64_t k, v;
  /* Closing deletes from the map being walked; deletion only leaves a tombstone, so the
   * walk stays valid. */
  for (uint32_t i = 0; tr__u64map_next(&net->conns, &i, &k, &v);) {
    tr_tcp_conn_t *c = (tr_tcp_conn_t *)(uintptr_t)v;
    if (!tr__table_get(table, c->owner))
      tr__net_conn_close(c, 0, false);
  }
  for (uint32_t i = 0; tr__u64map_next(&net->listeners, &i, &k, &v);) {
    tr_tcp_listener_t *l = (tr_tcp_listener_t *)(uintptr_t)v;
    if (!tr_pid_is_none(l->owner) && !tr__table_get(table, l->owner))
      tr__net_listener_close(l);
  }
  if (net->conns.count == 0 && net->listeners.count == 0)
    uv_timer_stop(&net->sweep);
  tr__net_leave(net);
}

void tr__net_watch(tr_net_t *net) {
  if (!uv_is_active((uv_handle_t *)&net->sweep))
    uv_timer_start(&net->sweep, on_sweep, TR_NET_SWEEP_MS, TR_NET_SWEEP_MS);
}

/* ---- reading the messages ---- */

static void copy_addr(char out[TR_ADDR_MAX], const char *s, size_t n) {
  if (!out)
    return;
  if (n >= TR_ADDR_MAX)
    n = TR_ADDR_MAX - 1;
  memcpy(out, s, n);
  out[n] = '\0';
}

int tr_msg_tcp_open(const tr_msg_t *m, tr_conn_t *c, char peer[TR_ADDR_MAX],
                    char local[TR_ADDR_MAX]) {
  if (!m)
    return TR_EINVAL;
  if (tr_msg_tag(m) != TR_ATOM_TCP_OPEN)
    return TR_ETYPE;
  uint64_t id;
  const char *p, *l;
  size_t pn, ln;
  int rc = tr_msg_unpack(m, "[uss]", &id, &p, &pn, &l, &ln);
  if (rc)
    return rc;
  if (c)
    c->id = id;
  copy_addr(peer, p, pn);
  copy_addr(local, l, ln);
  return 0;
}

int tr_msg_tcp_closed(const tr_msg_t *m, tr_conn_t *c, int *reason) {
  if (!m)
    return TR_EINVAL;
  if (tr_msg_tag(m) != TR_ATOM_TCP_CLOSED)
    return TR_ETYPE;
  uint64_t id;
  int64_t r;
  int rc = tr_msg_unpack(m, "[ui]", &id, &r);
  if (rc)
    return rc;
  if (c)
    c->id = id;
  if (reason)
    *reason = (int)r;
  return 0;
}
