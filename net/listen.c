/* Listeners: binding (on the I/O thread while the caller waits, so that bind errors come
 * back from tr_listen), accepting (each connection gets a new actor that owns it), the port
 * registry that tr_listener_port reads from any thread, and closing.
 *
 * The listening socket is ours, watched with a uv_poll_t, and we accept from it ourselves.
 * libuv's own accept loop (uv_listen, 1.44) meets a lack of file descriptors with a spare
 * descriptor of its loop: it closes it, accepts and closes every waiting connection, and
 * opens it again. When another thread takes the freed descriptor in between (an actor
 * opening a file: troupe-pubsub's INFO does), libuv has no spare left and calls back with
 * EMFILE in a loop that ends only when a descriptor frees, which only the spinning I/O
 * thread could do: the server hung at 100% CPU and logged every attempt (17 million lines
 * in 8 s in one test). Here, when accept finds no descriptor (EMFILE, ENFILE) or no kernel
 * memory (ENOBUFS, ENOMEM), the listener stops watching its socket: clients wait in the
 * kernel's backlog, as with nginx. It tries again when one of the layer's connections
 * closes and every TR_NET_ACCEPT_RETRY_MS (for descriptors freed elsewhere). It logs once
 * when the shortage begins and once when it is over (the backlog emptied), not per attempt:
 * at the limit, each close lets one waiting client in and the next accept fails again. */
#include <errno.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
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

static void on_listener_closed(uv_handle_t *h) {
  tr_tcp_listener_t *l = h->data;
  close(l->fd); /* the poll handle no longer watches it */
  free_listener(l);
}

/* The listener stops waiting for descriptors (it accepted, or it closes). */
static void unstarve(tr_tcp_listener_t *l) {
  if (!l->starved)
    return;
  l->starved = false;
  if (--l->net->starved == 0)
    uv_timer_stop(&l->net->accept_retry);
}

void tr__net_listener_close(tr_tcp_listener_t *l) {
  tr_net_t *net = l->net;
  uint64_t v;
  if (!tr__u64map_del(&net->listeners, l->id, &v))
    return; /* closing already */
  pthread_mutex_lock(&net->mu);
  tr__u64map_del(&net->ports, l->id, NULL);
  pthread_mutex_unlock(&net->mu);
  unstarve(l);
  uv_close((uv_handle_t *)&l->poll, on_listener_closed);
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
static void take(tr_tcp_listener_t *l, int fd) {
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

static void on_acceptable(uv_poll_t *h, int status, int events);

/* accept() failed for want of a resource: stop watching the socket until a retry accepts. */
static void starve(tr_tcp_listener_t *l, int err) {
  tr_net_t *net = l->net;
  if (l->starved)
    return; /* a retry that failed again */
  l->starved = true;
  uv_poll_stop(&l->poll);
  if (net->starved++ == 0)
    uv_timer_start(&net->accept_retry, tr__net_on_accept_retry, TR_NET_ACCEPT_RETRY_MS,
                   TR_NET_ACCEPT_RETRY_MS);
  if (l->short_of)
    return; /* the same shortage (a close let one in, the next found none): said already */
  l->short_of = true;
  l->st->refused++;
  struct rlimit rl = {0};
  getrlimit(RLIMIT_NOFILE, &rl);
  tr_log(TR_LOG_WARN,
         "tcp: cannot accept on %s:%u: %s (open files limit %llu); new connections wait "
         "until some close",
         l->addr, (unsigned)l->port, strerror(err), (unsigned long long)rl.rlim_cur);
}

/* Accept what waits, up to a batch (the poll calls again while more wait). */
static void accept_some(tr_tcp_listener_t *l) {
  for (unsigned i = 0; i < TR_NET_ACCEPT_BATCH; i++) {
    int fd = accept4(l->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    int err = fd < 0 ? errno : 0;
    if (err == EMFILE || err == ENFILE || err == ENOBUFS || err == ENOMEM) {
      starve(l, err);
      return;
    }
    if (l->starved) { /* a descriptor again (or nobody waits any more): watch the socket */
      unstarve(l);
      uv_poll_start(&l->poll, UV_READABLE, on_acceptable);
    }
    if (fd >= 0) {
      take(l, fd);
      continue;
    }
    if (err == EAGAIN || err == EWOULDBLOCK) {
      if (l->short_of) { /* the shortage is over once nobody waits */
        l->short_of = false;
        tr_log(TR_LOG_WARN, "tcp: accepting on %s:%u again: no connection waits", l->addr,
               (unsigned)l->port);
      }
      return;
    }
    /* A connection that failed while it waited (accept(2): Linux reports the pending network
     * errors of the new socket), or a signal: the next one may be fine. */
    if (err == EINTR || err == ECONNABORTED || err == EPROTO || err == ENETDOWN ||
        err == ENOPROTOOPT || err == EHOSTDOWN || err == ENONET || err == EHOSTUNREACH ||
        err == EOPNOTSUPP || err == ENETUNREACH || err == ETIMEDOUT || err == EPERM)
      continue;
    /* Anything else would come back at once: wait as for a descriptor, said once. */
    starve(l, err);
    return;
  }
}

static void on_acceptable(uv_poll_t *h, int status, int events) {
  (void)status; /* an error on the socket comes back from accept() as well */
  (void)events;
  tr_tcp_listener_t *l = h->data;
  tr_net_t *net = l->net;
  if (!tr__net_enter(net))
    return;
  accept_some(l);
  tr__net_leave(net);
}

void tr__net_on_accept_retry(uv_timer_t *t) {
  tr_net_t *net = t->data;
  if (!tr__net_enter(net))
    return;
  uint64_t k, v;
  /* A listener closed meanwhile is out of the map (deletion leaves the walk valid). */
  for (uint32_t i = 0; tr__u64map_next(&net->listeners, &i, &k, &v);) {
    tr_tcp_listener_t *l = (tr_tcp_listener_t *)(uintptr_t)v;
    if (l->starved)
      accept_some(l);
  }
  tr__net_leave(net);
}

void tr__net_accept_kick(tr_net_t *net) {
  if (net->starved && !net->stopping)
    uv_timer_start(&net->accept_retry, tr__net_on_accept_retry, 0, TR_NET_ACCEPT_RETRY_MS);
}

/* ---- binding ---- */

/* A listening socket on addr (as uv_tcp_bind makes one: SO_REUSEADDR, IPv6 also taking
 * IPv4), or a libuv error code. */
static int open_socket(const struct sockaddr *addr, int backlog) {
  bool v6 = addr->sa_family == AF_INET6;
  int fd = socket(addr->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return uv_translate_sys_error(errno);
  int on = 1, off = 0;
  socklen_t len = v6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
  if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on) != 0 ||
      (v6 && setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof off) != 0) ||
      bind(fd, addr, len) != 0 || listen(fd, backlog) != 0) {
    int rc = uv_translate_sys_error(errno);
    close(fd);
    return rc;
  }
  return fd;
}

/* Watch l's socket, learn its port and list it; returns the port, or a TR_E* code. */
static int start_listener(tr_net_t *net, tr_tcp_listener_t *l) {
  struct sockaddr_storage sa;
  socklen_t n = sizeof sa;
  if (getsockname(l->fd, (struct sockaddr *)&sa, &n) != 0)
    return tr__io_err(uv_translate_sys_error(errno), "tcp: getsockname");
  uint16_t port = ntohs(sa.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&sa)->sin6_port
                                                 : ((struct sockaddr_in *)&sa)->sin_port);
  l->port = port;
  int rc = uv_poll_start(&l->poll, UV_READABLE, on_acceptable);
  if (rc != 0)
    return tr__io_err(rc, "tcp: listen");
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
  int rc = open_socket((const struct sockaddr *)&b->addr, b->backlog);
  if (rc < 0) {
    free_listener(l);
    return tr__io_err(rc, "tcp: listen");
  }
  l->fd = rc;
  if ((rc = uv_poll_init_socket(&io->loop, &l->poll, l->fd)) != 0) {
    close(l->fd);
    free_listener(l);
    return tr__io_err(rc, "tcp: listen");
  }
  l->poll.data = l;
  if ((rc = start_listener(net, l)) < 0) {
    uv_close((uv_handle_t *)&l->poll, on_listener_closed); /* closes fd, frees l */
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
