/* A connection's life on the I/O thread (net.h): creating it, recording its addresses,
 * delivering messages about it to its owner, and closing and freeing it once every libuv
 * handle and request that points at it has called back. */
#include <string.h>

#include "net/net.h"

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
  if (c->lst) {
    c->lst->open--;
    if (c->shared) /* what the owner wrote itself, now that it can write no more */
      c->lst->bytes_out += atomic_load_explicit(&c->shared->bytes_direct, memory_order_relaxed);
    tr__lstats_unref(c->lst);
  }
  if (c->shared)
    tr__net_shared_unref(c->shared);
  tr__codec_free(&c->codec);
  free(c->stash);
  free(c->host);
  if (c->ai)
    uv_freeaddrinfo(c->ai);
  free(c);
}

tr_tcp_conn_t *tr__net_find(tr_net_t *net, uint64_t id) {
  uint64_t v;
  return tr__u64map_get(&net->conns, id, &v) ? (tr_tcp_conn_t *)(uintptr_t)v : NULL;
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
  tr__net_accept_kick(c->net); /* its descriptor is free: a starved listener may accept */
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
  if (c->state == TR_CONN_OPEN) {
    tr__net_direct_open(c);
    tr__net_read_start(c);
  }
}

/* Take c out of the id maps: from here on it is closed to writers. */
static void forget(tr_tcp_conn_t *c) {
  tr__u64map_del(&c->net->conns, c->id, NULL);
  tr__net_owner_del(c->net, c->id);
}

static void on_timer_closed(uv_handle_t *h) { tr__net_unref(h->data); }

void tr__net_arm_timer(tr_tcp_conn_t *c, uint64_t ms, uv_timer_cb cb) {
  if (!c->timer_on) {
    uv_timer_init(&c->net->io->loop, &c->timer);
    c->timer.data = c;
    c->timer_on = true;
    c->refs++;
  }
  uv_timer_start(&c->timer, cb, ms, 0);
}

void tr__net_stop_timer(tr_tcp_conn_t *c) {
  if (!c->timer_on)
    return;
  c->timer_on = false;
  uv_close((uv_handle_t *)&c->timer, on_timer_closed);
}

/* The last step of a close: tell the owner, close the socket, drop the "open" reference. */
static void finish(tr_tcp_conn_t *c, int reason) {
  tr__net_stop_timer(c);
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
    reason = tr__io_err(status, "tcp: shutdown");
  finish(c, reason);
  if (live)
    tr__net_leave(c->net);
}

/* A graceful close whose output the peer has not taken within linger_ms: drop it. Closing
 * the socket cancels the shutdown, whose callback finishes the close with this reason. */
static void on_drain_timeout(uv_timer_t *t) {
  tr_tcp_conn_t *c = t->data;
  if (c->state != TR_CONN_CLOSING || uv_is_closing((uv_handle_t *)c->tcp))
    return;
  tr_log(TR_LOG_WARN, "tcp: %s did not take its last %zu bytes within %u ms; dropping them",
         c->peer, uv_stream_get_write_queue_size((uv_stream_t *)c->tcp), c->opts.linger_ms);
  if (c->close_reason == 0)
    c->close_reason = TR_ETIMEDOUT;
  tr__net_close_tcp(c->tcp);
}

void tr__net_conn_close(tr_tcp_conn_t *c, int reason, bool graceful) {
  if (c->state == TR_CONN_CLOSING)
    return;
  bool open = c->state == TR_CONN_OPEN;
  c->state = TR_CONN_CLOSING;
  tr__net_out_forget(c); /* once: the state says it is out of the total from here on */
  forget(c);
  tr__net_unpause(c);
  tr__net_flush_pending(c, true);
  if (c->resolving)
    uv_cancel((uv_req_t *)&c->gai); /* its callback still comes, and lets go of c */
  if (graceful && open) {
    /* libuv runs the shutdown after every write queued before it; the timer bounds how
     * long a peer that does not read can keep it waiting. */
    uv_read_stop((uv_stream_t *)c->tcp);
    c->close_reason = reason;
    c->shutdown.data = c;
    if (uv_shutdown(&c->shutdown, (uv_stream_t *)c->tcp, on_shutdown) == 0) {
      tr__net_arm_timer(c, c->opts.linger_ms, on_drain_timeout);
      return;
    }
  }
  finish(c, reason);
}
