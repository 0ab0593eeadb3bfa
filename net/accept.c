/* Accepting from a listening socket of our own (tr_acceptor_t, net.h), for the net layer's
 * listeners (listen.c) and the cluster's (cluster/api.c).
 *
 * The socket is watched with a uv_poll_t and accepted from here, not by libuv's uv_listen.
 * libuv's accept loop (1.44) meets a lack of file descriptors with a spare descriptor of its
 * loop: it closes it, accepts and closes every waiting connection, and opens it again. When
 * another thread takes the freed descriptor in between (an actor opening a file:
 * troupe-pubsub's INFO does), libuv has no spare left and calls back with EMFILE in a loop
 * that ends only when a descriptor frees, which only the spinning I/O thread could do: the
 * server hung at 100% CPU and logged every attempt (17 million lines in 8 s in one test, on
 * a client port and on the cluster's). And while the spare works, the waiting clients are
 * dropped without a word to anyone.
 *
 * Here, when accept() finds no descriptor (EMFILE, ENFILE) or no kernel memory (ENOBUFS,
 * ENOMEM), the acceptor stops watching its socket: clients wait in the kernel's backlog, as
 * with nginx. It tries again when one of the net layer's connections closes
 * (tr__net_accept_kick) and every TR_NET_ACCEPT_RETRY_MS (for descriptors freed elsewhere).
 * It logs once when the shortage begins and once when it is over (the backlog emptied), not
 * per attempt: at the limit, each close lets one waiting client in and the next accept fails
 * again. */
#include <errno.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "net/net.h"

static void on_acceptable(uv_poll_t *h, int status, int events);

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

int tr__acceptor_open(tr_acceptor_t *a, tr_net_t *net, const struct sockaddr *addr, int backlog) {
  a->net = net;
  a->starved = a->short_of = false;
  a->snext = a->sprev = NULL;
  int fd = open_socket(addr, backlog);
  if (fd < 0)
    return fd;
  struct sockaddr_storage sa;
  socklen_t n = sizeof sa;
  int rc = getsockname(fd, (struct sockaddr *)&sa, &n) == 0 ? 0 : uv_translate_sys_error(errno);
  if (rc == 0)
    rc = uv_poll_init_socket(&net->io->loop, &a->poll, fd);
  if (rc != 0) {
    close(fd);
    return rc;
  }
  a->fd = fd;
  a->poll.data = a;
  tr__net_addr_text((const struct sockaddr *)&sa, a->name);
  /* Cannot fail on a handle just initialised (libuv checked the descriptor in init). */
  (void)uv_poll_start(&a->poll, UV_READABLE, on_acceptable);
  return ntohs(sa.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&sa)->sin6_port
                                        : ((struct sockaddr_in *)&sa)->sin_port);
}

/* a stops waiting for descriptors (it accepted, or it closes). */
static void unstarve(tr_acceptor_t *a) {
  if (!a->starved)
    return;
  tr_net_t *net = a->net;
  a->starved = false;
  if (a->sprev)
    a->sprev->snext = a->snext;
  else
    net->starved = a->snext;
  if (a->snext)
    a->snext->sprev = a->sprev;
  a->snext = a->sprev = NULL;
  if (!net->starved)
    uv_timer_stop(&net->accept_retry);
}

static void on_closed(uv_handle_t *h) {
  tr_acceptor_t *a = h->data;
  close(a->fd); /* the poll handle no longer watches it */
  a->fd = -1;
  if (a->closed)
    a->closed(a);
}

void tr__acceptor_close(tr_acceptor_t *a) {
  unstarve(a);
  uv_close((uv_handle_t *)&a->poll, on_closed);
}

/* accept() failed for want of a resource: stop watching the socket until a retry accepts. */
static void starve(tr_acceptor_t *a, int err) {
  tr_net_t *net = a->net;
  if (a->starved)
    return; /* a retry that failed again */
  a->starved = true;
  uv_poll_stop(&a->poll);
  a->snext = net->starved;
  if (net->starved)
    net->starved->sprev = a;
  net->starved = a;
  if (!uv_is_active((uv_handle_t *)&net->accept_retry))
    uv_timer_start(&net->accept_retry, tr__net_on_accept_retry, TR_NET_ACCEPT_RETRY_MS,
                   TR_NET_ACCEPT_RETRY_MS);
  if (a->short_of)
    return; /* the same shortage (a close let one in, the next found none): said already */
  a->short_of = true;
  if (a->refused)
    (*a->refused)++;
  struct rlimit rl = {0};
  getrlimit(RLIMIT_NOFILE, &rl);
  tr_log(TR_LOG_WARN,
         "%s: cannot accept on %s: %s (open files limit %llu); new connections wait until "
         "some close",
         a->what, a->name, strerror(err), (unsigned long long)rl.rlim_cur);
}

/* Accept what waits, up to a batch (the poll calls again while more wait). */
static void accept_some(tr_acceptor_t *a) {
  for (unsigned i = 0; i < TR_NET_ACCEPT_BATCH; i++) {
    int fd = accept4(a->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    int err = fd < 0 ? errno : 0;
    if (err == EMFILE || err == ENFILE || err == ENOBUFS || err == ENOMEM) {
      starve(a, err);
      return;
    }
    if (a->starved) { /* a descriptor again (or nobody waits any more): watch the socket */
      unstarve(a);
      (void)uv_poll_start(&a->poll, UV_READABLE, on_acceptable);
    }
    if (fd >= 0) {
      a->take(a, fd);
      continue;
    }
    if (err == EAGAIN || err == EWOULDBLOCK) {
      if (a->short_of) { /* the shortage is over once nobody waits */
        a->short_of = false;
        tr_log(TR_LOG_WARN, "%s: accepting on %s again: no connection waits", a->what, a->name);
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
    starve(a, err);
    return;
  }
}

static void on_acceptable(uv_poll_t *h, int status, int events) {
  (void)status; /* an error on the socket comes back from accept() as well */
  (void)events;
  tr_acceptor_t *a = h->data;
  if (!tr__net_enter(a->net))
    return;
  accept_some(a);
  tr__net_leave(a->net);
}

void tr__net_on_accept_retry(uv_timer_t *t) {
  tr_net_t *net = t->data;
  if (!tr__net_enter(net))
    return;
  /* accept_some takes a out of the list when it accepts; what it accepts closes no acceptor. */
  for (tr_acceptor_t *a = net->starved, *next; a; a = next) {
    next = a->snext;
    accept_some(a);
  }
  tr__net_leave(net);
}

void tr__net_accept_kick(tr_net_t *net) {
  if (net->starved && !net->stopping)
    uv_timer_start(&net->accept_retry, tr__net_on_accept_retry, 0, TR_NET_ACCEPT_RETRY_MS);
}
