/* The list of open connections, for the console, and the listeners' counters, for metrics:
 * snapshots taken on the I/O thread, which owns connections and listeners (net.h), while the
 * caller waits. */
#include <string.h>

#include "net/net.h"

typedef struct {
  tr_conn_info_t *out;
  size_t cap, total;
} snapshot_t;

static void fill(const tr_tcp_conn_t *c, tr_conn_info_t *o) {
  memset(o, 0, sizeof *o);
  o->id = c->id;
  o->owner = c->owner;
  memcpy(o->peer, c->peer, sizeof o->peer);
  memcpy(o->local, c->local, sizeof o->local);
  o->bytes_in = c->bytes_in;
  o->bytes_out =
      c->bytes_out +
      (c->shared ? atomic_load_explicit(&c->shared->bytes_direct, memory_order_relaxed) : 0);
  o->dialing = c->state == TR_CONN_DIALING;
  o->buffered = o->dialing ? c->pending_bytes
                : c->tcp   ? uv_stream_get_write_queue_size((const uv_stream_t *)c->tcp)
                           : 0;
}

static int snapshot(tr_io_t *io, void *arg) {
  snapshot_t *q = arg;
  size_t n = 0;
  for (const tr_tcp_conn_t *c = tr__net_of(&io->ctx)->all; c; c = c->next) {
    if (c->state == TR_CONN_CLOSING)
      continue;
    if (n < q->cap)
      fill(c, &q->out[n]);
    n++;
  }
  q->total = n;
  return 0;
}

int tr__net_conns(tr_ctx_t *ctx, tr_conn_info_t *out, size_t cap, size_t *total) {
  snapshot_t q = {.out = out, .cap = cap};
  int rc = tr__io_call(ctx->sys->io, ctx, snapshot, &q);
  *total = rc == 0 ? q.total : 0;
  return rc;
}

typedef struct {
  tr_listener_stats_t *out;
  size_t cap, total;
} lsnapshot_t;

static int lsnapshot(tr_io_t *io, void *arg) {
  lsnapshot_t *q = arg;
  tr_net_t *net = tr__net_of(&io->ctx);
  uint64_t id, v;
  size_t n = 0;
  for (uint32_t it = 0; tr__u64map_next(&net->listeners, &it, &id, &v);) {
    const tr_tcp_listener_t *l = (const tr_tcp_listener_t *)(uintptr_t)v;
    if (n < q->cap) {
      tr_listener_stats_t *o = &q->out[n];
      memset(o, 0, sizeof *o);
      o->listener.id = l->id;
      memcpy(o->addr, l->addr, sizeof o->addr);
      o->port = l->port;
      o->behaviour = l->beh->name ? l->beh->name : "";
      o->open = l->st->open;
      o->accepted = l->st->accepted;
      o->refused = l->st->refused;
      o->bytes_in = l->st->bytes_in;
      o->bytes_out = l->st->bytes_out;
      o->dropped_slow = l->st->dropped_slow;
      for (const tr_tcp_conn_t *c = net->all; c; c = c->next) /* what owners wrote themselves */
        if (c->lst == l->st && c->shared)
          o->bytes_out += atomic_load_explicit(&c->shared->bytes_direct, memory_order_relaxed);
    }
    n++;
  }
  q->total = n;
  return 0;
}

int tr_listener_stats(tr_system_t *sys, tr_listener_stats_t *out, size_t cap, size_t *total) {
  if (!sys || !total || (cap && !out))
    return TR_EINVAL;
  *total = 0;
  if (!sys->io)
    return TR_ESTOPPED;
  tr_ctx_t *ctx = tr__on_worker(sys) && tr__tls_worker
                      ? &((tr_wlocal_t *)tr__tls_worker->local)->ctx
                      : tr_system_ctx(sys);
  lsnapshot_t q = {.out = out, .cap = cap};
  int rc = tr__io_call(sys->io, ctx, lsnapshot, &q);
  *total = rc == 0 ? q.total : 0;
  return rc;
}
