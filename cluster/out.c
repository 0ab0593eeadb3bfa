/* A peer's output: frames appended under the peer's mutex by whatever thread sends, and
 * written to the socket by the first one able to.
 *
 * Writing. When no write of the I/O thread is in flight, the thread that flushes (a worker
 * at its handler's end, or an outside sender at once) writes the queue itself with one
 * non-blocking send(2), under the mutex, so a handler's frames leave in one system call and
 * no thread hop. Whatever the kernel does not take is handed to the I/O thread (a kick),
 * which owns the socket's writes from then on (uv_write of the whole queue, then of what
 * queued meanwhile) until the queue is empty again. Both under the mutex, so the bytes of
 * the two writers never interleave and every frame goes out whole and in order.
 *
 * Busy. Above busy_bytes queued, an actor that sends is muted (the overload policy of
 * actors/overload.c: it finishes its handler and parks) until the queue drains below half;
 * above max_queue_bytes user messages are refused (TR_EBUSY) and counted; the signal and
 * group frames still queue (they are bounded by the links and groups that exist). */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>

#include "cluster/cluster.h"

void tr__out_lock(tr_peer_t *p) { pthread_mutex_lock(&p->mu); }
void tr__out_unlock(tr_peer_t *p) { pthread_mutex_unlock(&p->mu); }

int tr__out_frame(tr_peer_t *p, uint8_t kind, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int rc = tr__frame_vput(&p->out, kind, NULL, 0, fmt, ap);
  va_end(ap);
  if (rc == 0)
    p->frames_out++;
  return rc;
}

size_t tr__out_queue_bytes(const tr_peer_t *p) { return tr__cbuf_pending(&p->out) + p->inflight; }

uint32_t tr__out_tag(tr_peer_t *p, tr_atom_t atom) {
  uint64_t id;
  if (tr__u64map_get(&p->tags, atom, &id))
    return (uint32_t)id;
  if (p->next_tag >= TR_LINK_TAGS_MAX)
    return 0;
  const char *name = tr_atom_name(p->cl->sys, atom);
  if (!name || strlen(name) > TR_TAG_NAME_MAX)
    return 0;
  id = p->next_tag;
  if (tr__out_frame(p, TR_F_TAG_DEF, "[us]", id, name) != 0 ||
      tr__u64map_put(&p->tags, atom, id) != 0)
    return 0;
  p->next_tag++;
  return (uint32_t)id;
}

/* The muted of p when its queue is below half the busy mark (mu held): taken out, to be
 * released once the mutex is let go. */
static tr_u64map_t take_muted(tr_peer_t *p, bool all) {
  tr_u64map_t m = {0};
  if (p->muted.count && (all || tr__out_queue_bytes(p) <= p->cl->busy_bytes / 2)) {
    m = p->muted;
    memset(&p->muted, 0, sizeof p->muted);
  }
  return m;
}

static void release(tr_cluster_t *cl, tr_ctx_t *ctx, tr_u64map_t *m) {
  uint32_t i = 0;
  uint64_t k, v;
  while (tr__u64map_next(m, &i, &k, &v))
    tr__unmute_pid(ctx, (tr_pid_t){k});
  tr__u64map_free(m);
  (void)cl;
}

void tr__out_release_muted(tr_peer_t *p) {
  tr__out_lock(p);
  tr_u64map_t m = take_muted(p, true);
  tr__out_unlock(p);
  release(p->cl, &p->cl->io->ctx, &m);
}

uint64_t tr__out_drop(tr_peer_t *p) {
  uint64_t frames = 0;
  tr_cbuf_t *b = &p->out;
  for (size_t off = b->off; off + 4 <= b->len; off += 4 + tr__get_be32(b->p + off))
    frames++;
  tr__cbuf_reset(b);
  return frames;
}

/* The I/O thread's write of what p->out holds (mu held, io_writing set). */
typedef struct {
  uv_write_t req;
  tr_peer_t *p;
  tr_cconn_t *conn;
  tr_cbuf_t buf;
} out_write_t;

static void on_written(uv_write_t *req, int status);

static void start_write(tr_peer_t *p) {
  tr_cconn_t *c = p->conn;
  size_t n = tr__cbuf_pending(&p->out);
  out_write_t *w = n && c ? malloc(sizeof *w) : NULL;
  if (!w) {
    p->io_writing = false;
    return;
  }
  w->p = p;
  w->conn = c;
  w->buf = p->out;
  p->out = p->spare;
  memset(&p->spare, 0, sizeof p->spare);
  p->inflight += n;
  uv_buf_t ub = uv_buf_init((char *)w->buf.p + w->buf.off, (unsigned)n);
  int rc = uv_write(&w->req, (uv_stream_t *)&c->tcp, &ub, 1, on_written);
  if (rc != 0) { /* the connection is failing: its read side reports it */
    p->inflight -= n;
    free(w->buf.p);
    free(w);
    p->io_writing = false;
  }
}

static void on_written(uv_write_t *req, int status) {
  out_write_t *w = (out_write_t *)req;
  tr_peer_t *p = w->p;
  tr_cluster_t *cl = p->cl;
  size_t n = tr__cbuf_pending(&w->buf);
  tr__io_enter(cl->io);
  tr__out_lock(p);
  p->inflight -= n;
  bool current = w->conn == p->conn && p->up;
  if (current) {
    if (status == 0) {
      p->bytes_out += n;
      p->progress_ns = tr__now_ns();
    }
    if (status == 0 && tr__cbuf_pending(&p->out))
      start_write(p);
    else
      p->io_writing = false;
  }
  if (!p->spare.p && w->buf.cap <= ((size_t)1 << 20)) {
    w->buf.off = w->buf.len = 0;
    p->spare = w->buf;
  } else {
    free(w->buf.p);
  }
  tr_u64map_t m = take_muted(p, false);
  tr__out_unlock(p);
  release(cl, &cl->io->ctx, &m);
  if (current && status < 0 && status != UV_ECANCELED) {
    tr__io_err(status, "cluster: write");
    tr__conn_close(w->conn, TR_DOWN_ERROR);
  }
  free(w);
  tr__io_leave(cl->io);
}

void tr__out_kick(tr_io_t *io, uint64_t peer_ptr) {
  tr_peer_t *p = (tr_peer_t *)(uintptr_t)peer_ptr;
  (void)io;
  tr__out_lock(p);
  if (p->up && p->io_writing && p->inflight == 0)
    start_write(p);
  else if (!p->up)
    p->io_writing = false;
  tr__out_unlock(p);
}

/* Write p->out to the socket without blocking (mu held). False when bytes are left. */
static bool write_direct(tr_peer_t *p) {
  tr_cbuf_t *b = &p->out;
  while (tr__cbuf_pending(b)) {
    ssize_t n = send(p->fd, b->p + b->off, tr__cbuf_pending(b), MSG_DONTWAIT | MSG_NOSIGNAL);
    if (n > 0) {
      b->off += (size_t)n;
      p->bytes_out += (uint64_t)n;
      continue;
    }
    if (n < 0 && errno == EINTR)
      continue;
    return false; /* EAGAIN; or an error, which the I/O thread's write (or read) reports */
  }
  b->off = b->len = 0;
  if (b->cap > ((size_t)1 << 20))
    tr__cbuf_reset(b);
  p->progress_ns = tr__now_ns();
  return true;
}

void tr__out_flush(tr_ctx_t *ctx, tr_peer_t *p) {
  tr_cluster_t *cl = p->cl;
  bool on_io = ctx == &cl->io->ctx;
  tr__out_lock(p);
  if (!p->up || p->io_writing || p->fd < 0 || tr__cbuf_pending(&p->out) == 0) {
    tr__out_unlock(p);
    return;
  }
  if (!write_direct(p)) {
    p->io_writing = true;
    if (on_io) {
      start_write(p);
    } else if (tr__io_post_id(cl->io, ctx, tr__out_kick, (uint64_t)(uintptr_t)p) != 0) {
      p->io_writing = false; /* the loop is stopping: nothing will be written */
    }
  }
  tr_u64map_t m = take_muted(p, false);
  tr__out_unlock(p);
  release(cl, ctx, &m);
}

void tr__out_queued(tr_ctx_t *ctx, tr_peer_t *p, bool data) {
  tr_cluster_t *cl = p->cl;
  if (data && tr__in_handler(ctx)) {
    for (uint32_t i = 0; i < ctx->rdirty_n; i++)
      if (ctx->rdirty[i] == p)
        return;
    if (ctx->rdirty_n == TR_RDIRTY_MAX) { /* the oldest goes now */
      tr__out_flush(ctx, ctx->rdirty[0]);
      memmove(ctx->rdirty, ctx->rdirty + 1, (TR_RDIRTY_MAX - 1) * sizeof ctx->rdirty[0]);
      ctx->rdirty_n--;
    }
    ctx->rdirty[ctx->rdirty_n++] = p;
    return;
  }
  if (ctx == &cl->io->ctx && cl->batching) {
    for (uint32_t i = 0; i < ctx->rdirty_n; i++)
      if (ctx->rdirty[i] == p)
        return;
    if (ctx->rdirty_n < TR_RDIRTY_MAX) {
      ctx->rdirty[ctx->rdirty_n++] = p;
      return;
    }
  }
  tr__out_flush(ctx, p);
}
