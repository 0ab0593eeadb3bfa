/* Outgoing connections: tr_dial records the caller as the owner and posts the connection to
 * the I/O thread, which resolves the name (uv_getaddrinfo, off the loop in libuv's thread
 * pool) unless it is a literal, then connects to each address in turn until one answers,
 * under an optional timeout. The owner hears TR_ATOM_TCP_OPEN, or TR_ATOM_TCP_CLOSED with
 * the last error (TR_ETIMEDOUT when the timeout struck first). */
#include <string.h>

#include "net/net.h"

/* Longest host name accepted (DNS names are at most 253 bytes). */
#define HOST_MAX 255u

static void on_connect(uv_connect_t *req, int status);

/* Start connecting c to one address. Returns 0 or the error of this attempt. */
static int attempt(tr_tcp_conn_t *c, const struct sockaddr *sa) {
  uv_tcp_t *tcp = tr__net_tcp_new(c);
  if (!tcp)
    return TR_ENOMEM;
  c->tcp = tcp;
  c->connect.data = c;
  int rc = uv_tcp_connect(&c->connect, tcp, sa, on_connect);
  if (rc == 0)
    return 0;
  c->tcp = NULL;
  tr__net_close_tcp(tcp);
  return tr__io_err(rc, "tcp: connect");
}

/* Try the resolved addresses not yet tried; when none is left, close with `err`, the
 * error of the last attempt. */
static void connect_next(tr_tcp_conn_t *c, int err) {
  while (c->ai_next) {
    struct addrinfo *ai = c->ai_next;
    c->ai_next = ai->ai_next;
    if ((err = attempt(c, ai->ai_addr)) == 0)
      return;
  }
  tr__net_conn_close(c, err, false);
}

static void on_connect(uv_connect_t *req, int status) {
  tr_tcp_conn_t *c = req->data;
  if (status == UV_ECANCELED) /* the socket is closing: its close lets go of c */
    return;
  tr_net_t *net = c->net;
  if (!tr__net_enter(net))
    return;
  if (c->state == TR_CONN_DIALING && status == 0) {
    if (c->timer_on)
      uv_timer_stop(&c->timer); /* the handle stays, for the linger */
    tr__net_conn_names(c);
    tr__net_conn_opened(c);
  } else if (c->state == TR_CONN_DIALING) {
    uv_tcp_t *failed = c->tcp;
    c->tcp = NULL;
    tr__net_close_tcp(failed);
    connect_next(c, tr__io_err(status, "tcp: connect"));
  }
  tr__net_leave(net);
}

static void on_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res) {
  tr_tcp_conn_t *c = req->data;
  tr_net_t *net = c->net;
  c->resolving = false;
  bool live = tr__net_enter(net);
  if (live && c->state == TR_CONN_DIALING) {
    if (status < 0) {
      tr_log(TR_LOG_WARN, "tcp: cannot resolve %s: %s", c->host, uv_strerror(status));
      tr__net_conn_close(c, TR_ESYS, false);
    } else {
      c->ai = c->ai_next = res;
      res = NULL;
      connect_next(c, TR_ESYS);
    }
  }
  if (res)
    uv_freeaddrinfo(res);
  if (live)
    tr__net_leave(net);
  tr__net_unref(c); /* the lookup's reference */
}

static void resolve(tr_io_t *io, tr_tcp_conn_t *c) {
  struct addrinfo hints;
  memset(&hints, 0, sizeof hints);
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  char port[8];
  snprintf(port, sizeof port, "%u", (unsigned)c->port);
  c->gai.data = c;
  int rc = uv_getaddrinfo(&io->loop, &c->gai, on_resolved, c->host, port, &hints);
  if (rc != 0) {
    tr__net_conn_close(c, tr__io_err(rc, "tcp: resolve"), false);
    return;
  }
  c->resolving = true;
  c->refs++;
}

static void on_timeout(uv_timer_t *t) {
  tr_tcp_conn_t *c = t->data;
  tr_net_t *net = c->net;
  if (!tr__net_enter(net))
    return;
  if (c->state == TR_CONN_DIALING)
    tr__net_conn_close(c, TR_ETIMEDOUT, false);
  tr__net_leave(net);
}

static void run_dial(tr_io_t *io, tr_io_cmd_t *cmd, bool discard) {
  tr_tcp_conn_t *c = (tr_tcp_conn_t *)cmd;
  if (discard) {
    tr__net_owner_del(c->net, c->id);
    tr__net_conn_free(c);
    return;
  }
  if (tr__net_conn_adopt(c) != 0) {
    tr_log(TR_LOG_ERROR, "tcp: out of memory dialling %s", c->host);
    tr__net_conn_close(c, TR_ENOMEM, false);
    return;
  }
  if (c->timeout_ms)
    tr__net_arm_timer(c, c->timeout_ms, on_timeout);
  struct sockaddr_storage sa;
  if (tr__net_parse_addr(c->host, c->port, &sa) != 0) {
    resolve(io, c);
    return;
  }
  int rc = attempt(c, (const struct sockaddr *)&sa);
  if (rc != 0)
    tr__net_conn_close(c, rc, false);
}

int tr_dial(tr_ctx_t *ctx, const char *host, uint16_t port, uint32_t timeout_ms,
            const tr_conn_opts_t *opts, tr_conn_t *out) {
  if (!ctx || !tr__in_handler(ctx) || !host || !*host || strlen(host) > HOST_MAX || port == 0 ||
      !out)
    return TR_EINVAL;
  tr_net_opts_t o;
  int rc = tr__net_opts(opts, &o);
  if (rc != 0)
    return rc;
  tr_net_t *net = tr__net_of(ctx);
  tr_tcp_conn_t *c = tr__net_conn_new(net, &o);
  char *h = strdup(host);
  if (!c || !h) {
    free(h);
    if (c)
      tr__net_conn_free(c);
    return TR_ENOMEM;
  }
  c->host = h;
  c->port = port;
  c->timeout_ms = timeout_ms;
  c->owner = tr_self(ctx);
  c->id = TR__NEXT_REF(ctx->sys);
  c->cmd.run = run_dial;
  snprintf(c->peer, sizeof c->peer, "%.*s", (int)(sizeof c->peer - 1), host);
  uint64_t id = c->id;
  /* The owner is on record before anyone can know the id, so writes queued right after
   * this call pass the ownership check; the I/O thread holds them until connected. */
  rc = (c->shared = tr__net_shared_new(c->owner, &c->opts)) ? 0 : TR_ENOMEM;
  if (rc == 0)
    rc = tr__net_owner_add(net, id, c->shared);
  if (rc == 0 && (rc = tr__io_post(net->io, ctx, &c->cmd)) != 0)
    tr__net_owner_del(c->net, c->id);
  if (rc != 0) {
    tr__net_conn_free(c);
    return rc;
  }
  out->id = id; /* not c->id: c is the I/O thread's now */
  return 0;
}
