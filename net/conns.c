/* The list of open connections, for the console: a snapshot taken on the I/O thread, which
 * owns the connections (net.h), while the caller waits. */
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
