/* The list of open connections, for the console: a command to the I/O thread, which owns
 * the connections (tcp.h), answered with a snapshot while the caller waits. */
#include <string.h>

#include "net/tcp.h"

/* Lives on the caller's stack while it waits for the answer. */
typedef struct {
  tr_io_cmd_t cmd;
  tr_conn_info_t *out;
  size_t cap, total;
  pthread_mutex_t mu;
  pthread_cond_t cv;
  bool done;  /* guarded by mu */
  int result; /* guarded by mu */
} conns_cmd_t;

static void fill(const tr_tcp_conn_t *c, tr_conn_info_t *o) {
  memset(o, 0, sizeof *o);
  o->id = c->id;
  o->owner = c->owner;
  memcpy(o->peer, c->peer, sizeof o->peer);
  memcpy(o->local, c->local, sizeof o->local);
  o->bytes_in = c->bytes_in;
  o->bytes_out = c->bytes_out;
  o->dialing = c->state == TR_CONN_DIALING;
  o->buffered = o->dialing ? c->pending_bytes
                : c->tcp   ? uv_stream_get_write_queue_size((const uv_stream_t *)c->tcp)
                           : 0;
}

static void run_conns(tr_io_t *io, tr_io_cmd_t *cmd, bool discard) {
  conns_cmd_t *q = (conns_cmd_t *)cmd;
  size_t n = 0;
  for (const tr_tcp_conn_t *c = discard ? NULL : io->net->all; c; c = c->next) {
    if (c->state == TR_CONN_CLOSING)
      continue;
    if (n < q->cap)
      fill(c, &q->out[n]);
    n++;
  }
  pthread_mutex_lock(&q->mu);
  q->total = n;
  q->result = discard ? TR_ESTOPPED : 0;
  q->done = true;
  pthread_cond_signal(&q->cv);
  /* After the unlock the caller may return and q is gone: touch nothing after it. */
  pthread_mutex_unlock(&q->mu);
}

int tr__net_conns(tr_ctx_t *ctx, tr_conn_info_t *out, size_t cap, size_t *total) {
  conns_cmd_t q = {.cmd.run = run_conns, .out = out, .cap = cap};
  pthread_mutex_init(&q.mu, NULL);
  pthread_cond_init(&q.cv, NULL);
  int rc = tr__io_post(ctx->sys->io, ctx, &q.cmd);
  if (rc == 0) {
    pthread_mutex_lock(&q.mu);
    while (!q.done)
      pthread_cond_wait(&q.cv, &q.mu);
    rc = q.result;
    *total = q.total;
    pthread_mutex_unlock(&q.mu);
  }
  pthread_mutex_destroy(&q.mu);
  pthread_cond_destroy(&q.cv);
  return rc;
}
