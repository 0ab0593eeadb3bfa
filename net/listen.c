/* Listeners: binding (on the I/O thread while the caller waits, so that bind errors come
 * back from tr_listen), accepting (each connection gets a new actor that owns it; the
 * accepting itself, and what happens when descriptors run out, is accept.c), the port
 * registry that tr_listener_port reads from any thread, and closing. */
#include <string.h>
#include <unistd.h>

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

static void on_listener_closed(tr_acceptor_t *a) { free_listener(a->data); }

void tr__net_listener_close(tr_tcp_listener_t *l) {
  tr_net_t *net = l->net;
  uint64_t v;
  if (!tr__u64map_del(&net->listeners, l->id, &v))
    return; /* closing already */
  pthread_mutex_lock(&net->mu);
  tr__u64map_del(&net->ports, l->id, NULL);
  pthread_mutex_unlock(&net->mu);
  tr__acceptor_close(&l->acc);
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

/* Take an accepted socket: a connection and its actor, or, failing that, close it. */
static void take(tr_acceptor_t *a, int fd) {
  tr_tcp_listener_t *l = a->data;
  tr_net_t *net = l->net;
  tr_tcp_conn_t *c = tr__net_conn_new(net, &l->opts);
  int rc = 0;
  if (!c || !(c->tcp = tr__net_tcp_new(c))) {
    tr_log(TR_LOG_ERROR, "tcp: out of memory accepting a connection");
    close(fd);
  } else if ((rc = uv_tcp_open(c->tcp, fd)) != 0) {
    tr__io_err(rc, "tcp: accept");
    close(fd);
  } else {
    tr__net_conn_names(c);
    if (adopt_accepted(l, c) == 0) {
      c->lst = l->st;
      l->st->refs++;
      l->st->open++;
      l->st->accepted++;
      tr__net_conn_opened(c);
      return;
    }
  }
  l->st->refused++;
  if (c) { /* not accepted: let go of it without telling anyone (closing tcp closes fd) */
    c->state = TR_CONN_CLOSING;
    if (c->tcp)
      tr__net_close_tcp(c->tcp);
    tr__net_unref(c);
  }
}

/* ---- binding ---- */

/* List the listener and its port; 0 or TR_ENOMEM. */
static int list_listener(tr_net_t *net, tr_tcp_listener_t *l) {
  if (tr__u64map_put(&net->listeners, l->id, (uint64_t)(uintptr_t)l) != 0)
    return TR_ENOMEM;
  pthread_mutex_lock(&net->mu);
  int rc = tr__u64map_put(&net->ports, l->id, l->port);
  pthread_mutex_unlock(&net->mu);
  if (rc != 0) {
    tr__u64map_del(&net->listeners, l->id, NULL);
    return TR_ENOMEM;
  }
  return 0;
}

/* On the I/O thread: from here on the listener is its own (a failed one is freed). */
static int run_bind(tr_io_t *io, void *arg) {
  bind_t *b = arg;
  tr_tcp_listener_t *l = b->l;
  tr_net_t *net = tr__net_of(&io->ctx);
  b->taken = true;
  l->net = net;
  l->acc.take = take;
  l->acc.closed = on_listener_closed;
  l->acc.what = "tcp";
  l->acc.refused = &l->st->refused;
  l->acc.data = l;
  int rc = tr__acceptor_open(&l->acc, net, (const struct sockaddr *)&b->addr, b->backlog);
  if (rc < 0) {
    free_listener(l);
    return tr__io_err(rc, "tcp: listen");
  }
  l->port = (uint16_t)rc;
  if ((rc = list_listener(net, l)) != 0) {
    tr__acceptor_close(&l->acc); /* frees l once closed */
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
