/* Listeners: binding (on the I/O thread while the caller waits, so that bind errors come
 * back from tr_listen), accepting (each connection gets a new actor that owns it), the port
 * registry that tr_listener_port reads from any thread, and closing. */
#include <string.h>

#include "net/net.h"

/* What tr_listen hands the I/O thread (on its stack while it waits). */
typedef struct {
  tr_tcp_listener_t *l; /* the I/O thread's once bind runs */
  struct sockaddr_storage addr;
  int backlog;
  bool taken; /* run_bind ran (then l is not the caller's to free) */
} bind_t;

static void free_listener(tr_tcp_listener_t *l) {
  if (l->st)
    tr__lstats_unref(l->st);
  free(l->init);
  free(l);
}

void tr__lstats_unref(tr_lstats_t *st) {
  if (--st->refs == 0)
    free(st);
}

static void on_listener_closed(uv_handle_t *h) { free_listener(h->data); }

void tr__net_listener_close(tr_tcp_listener_t *l) {
  tr_net_t *net = l->net;
  uint64_t v;
  if (!tr__u64map_del(&net->listeners, l->id, &v))
    return; /* closing already */
  pthread_mutex_lock(&net->mu);
  tr__u64map_del(&net->ports, l->id, NULL);
  pthread_mutex_unlock(&net->mu);
  uv_close((uv_handle_t *)&l->tcp, on_listener_closed);
}

/* ---- accepting ---- */

/* Spawn the actor for an accepted connection and make it the owner. */
static int adopt_accepted(tr_tcp_listener_t *l, tr_tcp_conn_t *c) {
  tr_io_t *io = l->net->io;
  tr_pid_t pid;
  int rc = tr_spawn(&io->ctx, l->beh, l->init, l->init_len, &pid);
  if (rc != 0) {
    tr_log(rc == TR_ESTOPPED ? TR_LOG_DEBUG : TR_LOG_WARN,
           "tcp: refusing %s: cannot start its actor: %s", c->peer, tr_strerror(rc));
    return rc;
  }
  c->owner = pid;
  c->id = TR__NEXT_REF(io->sys);
  rc = (c->shared = tr__net_shared_new(pid, &c->opts)) ? 0 : TR_ENOMEM;
  if (rc == 0)
    rc = tr__net_owner_add(l->net, c->id, c->shared);
  if (rc == 0 && (rc = tr__net_conn_adopt(c)) != 0)
    tr__net_owner_del(l->net, c->id);
  if (rc != 0) {
    /* The actor runs without its connection: it hears nothing and ends when it likes. */
    tr_log(TR_LOG_ERROR, "tcp: out of memory accepting %s", c->peer);
  }
  return rc;
}

static void on_connection(uv_stream_t *server, int status) {
  tr_tcp_listener_t *l = server->data;
  tr_net_t *net = l->net;
  if (!tr__net_enter(net))
    return;
  tr_tcp_conn_t *c = NULL;
  if (status < 0) {
    tr__io_err(status, "tcp: accept"); /* logged; the listener goes on */
    l->st->refused++;
  } else if (!(c = tr__net_conn_new(net, &l->opts)) || !(c->tcp = tr__net_tcp_new(c))) {
    tr_log(TR_LOG_ERROR, "tcp: out of memory accepting a connection");
    l->st->refused++;
  } else if ((status = uv_accept(server, (uv_stream_t *)c->tcp)) != 0) {
    tr__io_err(status, "tcp: accept");
    l->st->refused++;
  } else {
    tr__net_conn_names(c);
    if (adopt_accepted(l, c) == 0) {
      c->lst = l->st;
      l->st->refs++;
      l->st->open++;
      l->st->accepted++;
      tr__net_conn_opened(c);
      c = NULL;
    } else {
      l->st->refused++;
    }
  }
  if (c) { /* not accepted: let go of it without telling anyone */
    c->state = TR_CONN_CLOSING;
    if (c->tcp)
      tr__net_close_tcp(c->tcp);
    tr__net_unref(c);
  }
  tr__net_leave(net);
}

/* ---- binding ---- */

/* Bind and listen; returns the bound port, or a TR_E* code. */
static int bind_listen(tr_net_t *net, tr_tcp_listener_t *l, const struct sockaddr *addr,
                       int backlog) {
  int rc = uv_tcp_bind(&l->tcp, addr, 0);
  /* libuv may report EADDRINUSE from bind or, delayed, from listen. */
  if (rc == 0)
    rc = uv_listen((uv_stream_t *)&l->tcp, backlog, on_connection);
  if (rc != 0)
    return tr__io_err(rc, "tcp: listen");
  struct sockaddr_storage sa;
  int n = sizeof sa;
  if ((rc = uv_tcp_getsockname(&l->tcp, (struct sockaddr *)&sa, &n)) != 0)
    return tr__io_err(rc, "tcp: getsockname");
  uint16_t port = ntohs(sa.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&sa)->sin6_port
                                                 : ((struct sockaddr_in *)&sa)->sin_port);
  l->port = port;
  if (tr__u64map_put(&net->listeners, l->id, (uint64_t)(uintptr_t)l) != 0)
    return TR_ENOMEM;
  pthread_mutex_lock(&net->mu);
  rc = tr__u64map_put(&net->ports, l->id, port);
  pthread_mutex_unlock(&net->mu);
  if (rc != 0) {
    tr__u64map_del(&net->listeners, l->id, NULL);
    return TR_ENOMEM;
  }
  return port;
}

/* On the I/O thread: from here on the listener is its own (a failed one is freed). */
static int run_bind(tr_io_t *io, void *arg) {
  bind_t *b = arg;
  tr_tcp_listener_t *l = b->l;
  tr_net_t *net = tr__net_of(&io->ctx);
  b->taken = true;
  l->net = net;
  uv_tcp_init(&io->loop, &l->tcp);
  l->tcp.data = l;
  int rc = bind_listen(net, l, (const struct sockaddr *)&b->addr, b->backlog);
  if (rc < 0) {
    uv_close((uv_handle_t *)&l->tcp, on_listener_closed);
    return rc;
  }
  if (!tr_pid_is_none(l->owner))
    tr__net_watch(net);
  return 0;
}

/* Any thread: check the options and build the listener (not yet bound). */
static int make_listener(tr_ctx_t *ctx, const tr_listen_opts_t *o, struct sockaddr_storage *addr,
                         tr_tcp_listener_t **out) {
  if (!o->behaviour || !o->behaviour->receive || o->backlog < 0 || o->init_len > TR_MSG_MAX ||
      (o->init_len && !o->init))
    return TR_EINVAL;
  tr_net_opts_t opts;
  int rc = tr__net_opts(&o->conn, &opts);
  if (rc == 0)
    rc = tr__net_parse_addr(o->bind ? o->bind : "127.0.0.1", o->port, addr);
  if (rc != 0)
    return rc;
  tr_tcp_listener_t *l = calloc(1, sizeof *l);
  tr_lstats_t *st = calloc(1, sizeof *st);
  void *init = o->init_len ? malloc(o->init_len) : NULL;
  if (!l || !st || (o->init_len && !init)) {
    free(l);
    free(st);
    free(init);
    return TR_ENOMEM;
  }
  st->refs = 1;
  l->st = st;
  snprintf(l->addr, sizeof l->addr, "%s", o->bind ? o->bind : "127.0.0.1");
  if (o->init_len)
    memcpy(init, o->init, o->init_len);
  l->id = TR__NEXT_REF(ctx->sys);
  l->owner = tr__in_handler(ctx) ? tr_self(ctx) : TR_PID_NONE;
  l->beh = o->behaviour;
  l->init = init;
  l->init_len = o->init_len;
  l->opts = opts;
  *out = l;
  return 0;
}

int tr_listen(tr_ctx_t *ctx, const tr_listen_opts_t *opts, tr_listener_t *out) {
  if (!ctx || !opts || !out)
    return TR_EINVAL;
  if (atomic_load_explicit(&ctx->sys->state, memory_order_relaxed) == TR_SYS_STOPPED)
    return TR_ESTOPPED;
  bind_t b = {.backlog = opts->backlog ? opts->backlog : tr__net_default_backlog()};
  int rc = make_listener(ctx, opts, &b.addr, &b.l);
  if (rc != 0)
    return rc;
  uint64_t id = b.l->id;
  rc = tr__io_call(ctx->sys->io, ctx, run_bind, &b);
  if (!b.taken)
    free_listener(b.l); /* run_bind never ran: the listener is still ours */
  if (rc == 0)
    out->id = id;
  return rc;
}

uint16_t tr_listener_port(tr_system_t *sys, tr_listener_t l) {
  tr_net_t *net = sys && sys->io ? tr__net_of(&sys->ctx) : NULL;
  if (!net)
    return 0;
  uint64_t port = 0;
  pthread_mutex_lock(&net->mu);
  tr__u64map_get(&net->ports, l.id, &port);
  pthread_mutex_unlock(&net->mu);
  return (uint16_t)port;
}

static void run_unlisten(tr_io_t *io, uint64_t id) {
  uint64_t v;
  if (tr__u64map_get(&tr__net_of(&io->ctx)->listeners, id, &v))
    tr__net_listener_close((tr_tcp_listener_t *)(uintptr_t)v);
}

int tr_listener_close(tr_ctx_t *ctx, tr_listener_t l) {
  if (!ctx || l.id == 0)
    return TR_EINVAL;
  if (tr_listener_port(ctx->sys, l) == 0)
    return TR_ENOENT;
  return tr__io_post_id(ctx->sys->io, ctx, run_unlisten, l.id);
}
