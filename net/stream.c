/* A connection's data path on the I/O thread: reading through the codec into the owner's
 * mailbox with backpressure, and writing what the owner queued, with the outbound limit.
 *
 * Read backpressure. After every unit it delivers, the I/O thread looks at the owner's
 * mailbox depth (enq - deq of the actor, both relaxed: they are statistics, and a stale
 * value only delays a pause or a resume by a moment). Over high_water it stops reading at
 * once, even in the middle of a read: the bytes not yet cut are parked (at most one read
 * chunk), so the owner's mailbox holds at most high_water + 1 messages from its connection.
 * A timer looks at paused connections every TR_NET_RESUME_MS; one whose owner has come
 * below low_water first delivers what it parked, then reads again.
 *
 * Write limit. A write that would take the bytes libuv holds for the socket (what the kernel
 * has not accepted yet: uv_stream_get_write_queue_size) past out_limit drops the connection
 * instead: the peer is not reading, and its backlog must not grow without bound.
 *
 * The public side, tr_conn_write and tr_conn_close, runs on the owner's worker: it checks
 * ownership in the shared owners map (tcp.h) and posts a command; commands from one actor
 * run in the order it posted them, so writes go out in order and a close follows them. */
#include <string.h>

#include "net/net.h"

/* One write: a command on its way to the I/O thread, then the libuv request (one block). */
struct tr_net_write {
  tr_io_cmd_t cmd;
  uv_write_t req;
  tr_net_write_t *next; /* in a dialling connection's pending list */
  uint64_t conn;
  size_t len;            /* payload bytes */
  unsigned char bytes[]; /* TR_FRAME_HEADER bytes of room, then the payload */
};

/* ---- reading ---- */

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf) {
  (void)hint;
  tr_tcp_conn_t *c = h->data;
  /* libuv reads into this buffer and calls on_read before it asks for another, and the
   * loop has one thread, so every connection can share it. */
  *buf = uv_buf_init((char *)c->net->rbuf, (unsigned)TR_NET_READ_CHUNK);
}

static void pause_reading(tr_tcp_conn_t *c) {
  tr_net_t *net = c->net;
  c->paused = true;
  uv_read_stop((uv_stream_t *)c->tcp);
  c->pause_prev = NULL;
  c->pause_next = net->paused;
  if (net->paused)
    net->paused->pause_prev = c;
  net->paused = c;
  if (!uv_is_active((uv_handle_t *)&net->resume))
    uv_timer_start(&net->resume, tr__net_on_resume, TR_NET_RESUME_MS, TR_NET_RESUME_MS);
}

static void unlink_paused(tr_tcp_conn_t *c) {
  if (!c->paused)
    return;
  if (c->pause_prev)
    c->pause_prev->pause_next = c->pause_next;
  else
    c->net->paused = c->pause_next;
  if (c->pause_next)
    c->pause_next->pause_prev = c->pause_prev;
  c->pause_prev = c->pause_next = NULL;
  c->paused = false;
}

void tr__net_unpause(tr_tcp_conn_t *c) {
  unlink_paused(c);
  free(c->stash);
  c->stash = NULL;
  c->stash_off = c->stash_len = 0;
}

/* Deliver the units the codec cuts from data. Returns the bytes consumed: all of them,
 * unless c paused (the caller parks the rest) or closed. */
static size_t feed(tr_tcp_conn_t *c, const unsigned char *data, size_t len) {
  size_t off = 0;
  while (c->state == TR_CONN_OPEN) {
    const void *unit;
    size_t n, used;
    int rc = tr__codec_next(&c->codec, data + off, len - off, &used, &unit, &n);
    off += used;
    if (rc < 0) {
      tr_log(TR_LOG_WARN, "tcp: closing %s: bad input: %s", c->peer, tr_strerror(rc));
      tr__net_conn_close(c, rc, false);
      break;
    }
    if (rc == 0)
      break;
    tr_actor_t *a = tr__net_deliver(c, TR_ATOM_TCP_DATA, unit, n);
    if (!a) {
      tr__net_conn_close(c, 0, false);
      break;
    }
    if (tr__net_depth(a) > c->opts.high_water) {
      pause_reading(c);
      break;
    }
  }
  return off;
}

/* Keep what a paused connection read but did not deliver. */
static void park(tr_tcp_conn_t *c, const unsigned char *p, size_t n) {
  c->stash = malloc(n);
  if (!c->stash) {
    tr_log(TR_LOG_ERROR, "tcp: out of memory pausing %s; closing it", c->peer);
    tr__net_conn_close(c, TR_ENOMEM, false);
    return;
  }
  memcpy(c->stash, p, n);
  c->stash_off = 0;
  c->stash_len = n;
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf) {
  tr_tcp_conn_t *c = s->data;
  if (nread == 0 || !tr__net_enter(c->net))
    return;
  if (c->state != TR_CONN_OPEN) {
    /* reading stopped with the close; nothing more to deliver */
  } else if (nread > 0) {
    c->bytes_in += (uint64_t)nread;
    const unsigned char *p = (const unsigned char *)buf->base;
    size_t used = feed(c, p, (size_t)nread);
    if (c->state == TR_CONN_OPEN && c->paused && used < (size_t)nread)
      park(c, p + used, (size_t)nread - used);
  } else if (nread == UV_EOF) {
    /* The peer is done sending: finish our writes, then close. A line without its "\n"
     * at the end is dropped: it never ended. */
    tr__net_conn_close(c, 0, true);
  } else {
    tr__net_conn_close(c, tr__io_err((int)nread, "tcp: read"), false);
  }
  tr__net_leave(c->net);
}

void tr__net_read_start(tr_tcp_conn_t *c) {
  int rc = uv_read_start((uv_stream_t *)c->tcp, on_alloc, on_read);
  if (rc != 0)
    tr__net_conn_close(c, tr__io_err(rc, "tcp: read start"), false);
}

/* Resume c: deliver what it parked, then read again (unless that paused it again). */
static void resume(tr_tcp_conn_t *c) {
  if (c->stash) {
    size_t used = feed(c, c->stash + c->stash_off, c->stash_len - c->stash_off);
    if (c->state != TR_CONN_OPEN || c->paused) {
      c->stash_off += c->stash ? used : 0; /* a close freed the stash */
      return;
    }
    free(c->stash);
    c->stash = NULL;
    c->stash_off = c->stash_len = 0;
  }
  tr__net_read_start(c);
}

void tr__net_on_resume(uv_timer_t *t) {
  tr_net_t *net = t->data;
  if (!tr__net_enter(net))
    return;
  tr_table_t *table = &net->io->sys->table;
  /* A connection that pauses again here goes to the head of the list, behind this walk. */
  for (tr_tcp_conn_t *c = net->paused, *next; c; c = next) {
    next = c->pause_next;
    tr_actor_t *a = tr__table_get(table, c->owner);
    if (!a) {
      tr__net_conn_close(c, 0, false);
    } else if (tr__net_depth(a) < c->opts.low_water) {
      unlink_paused(c);
      resume(c);
    }
  }
  if (!net->paused)
    uv_timer_stop(t);
  tr__net_leave(net);
}

/* ---- writing ---- */

/* The bytes of w as they go on the wire: with a frame's length prefix when c cuts frames. */
static uv_buf_t wire(const tr_tcp_conn_t *c, tr_net_write_t *w) {
  unsigned char *p = w->bytes + TR_FRAME_HEADER;
  size_t n = w->len;
  if (c->opts.codec.kind == TR_CODEC_FRAMES) {
    p -= TR_FRAME_HEADER;
    n += TR_FRAME_HEADER;
    tr__codec_frame_header((uint32_t)w->len, p);
  }
  return uv_buf_init((char *)p, (unsigned)n);
}

static void on_written(uv_write_t *req, int status) {
  tr_net_write_t *w = req->data;
  tr_tcp_conn_t *c = req->handle->data; /* alive: a handle's writes call back before its close */
  free(w);
  if (status == 0 || status == UV_ECANCELED || c->state == TR_CONN_CLOSING)
    return;
  if (tr__net_enter(c->net)) {
    tr__net_conn_close(c, tr__io_err(status, "tcp: write"), false);
    tr__net_leave(c->net);
  }
}

/* Hand w to libuv; false when c closed instead (w is freed either way). */
static bool send_now(tr_tcp_conn_t *c, tr_net_write_t *w) {
  uv_buf_t b = wire(c, w);
  w->req.data = w;
  int rc = uv_write(&w->req, (uv_stream_t *)c->tcp, &b, 1, on_written);
  if (rc == 0)
    return true;
  free(w);
  tr__net_conn_close(c, tr__io_err(rc, "tcp: write"), false);
  return false;
}

void tr__net_flush_pending(tr_tcp_conn_t *c, bool discard) {
  tr_net_write_t *w = c->pending;
  c->pending = NULL;
  c->pending_tail = &c->pending;
  c->pending_bytes = 0;
  while (w) {
    tr_net_write_t *next = w->next;
    if (discard || c->state != TR_CONN_OPEN)
      free(w);
    else
      send_now(c, w);
    w = next;
  }
}

static void write_conn(tr_tcp_conn_t *c, tr_net_write_t *w) {
  uv_buf_t b = wire(c, w);
  if (b.len == 0) { /* nothing to send (an empty raw or line write) */
    free(w);
    return;
  }
  size_t queued = c->state == TR_CONN_DIALING
                      ? c->pending_bytes
                      : uv_stream_get_write_queue_size((uv_stream_t *)c->tcp);
  if (queued + b.len > c->opts.out_limit) {
    tr_log(TR_LOG_WARN, "tcp: dropping slow consumer %s: %zu bytes queued over limit (%zu)",
           c->peer, queued + b.len, c->opts.out_limit);
    free(w);
    tr__net_conn_close(c, TR_ELIMIT, false);
    return;
  }
  c->bytes_out += b.len;
  if (c->state == TR_CONN_OPEN) {
    send_now(c, w);
    return;
  }
  w->next = NULL; /* dialling: goes out once connected */
  *c->pending_tail = w;
  c->pending_tail = &w->next;
  c->pending_bytes += b.len;
}

static void run_write(tr_io_t *io, tr_io_cmd_t *cmd, bool discard) {
  tr_net_write_t *w = (tr_net_write_t *)cmd;
  tr_tcp_conn_t *c = discard ? NULL : tr__net_find(tr__net_of(&io->ctx), w->conn);
  if (!c) { /* closed meanwhile: the owner learns it from TR_ATOM_TCP_CLOSED */
    free(w);
    return;
  }
  write_conn(c, w);
}

static void run_close(tr_io_t *io, uint64_t id) {
  tr_tcp_conn_t *c = tr__net_find(tr__net_of(&io->ctx), id);
  if (c)
    tr__net_conn_close(c, 0, true);
}

/* Is connection `id` open and owned by ctx's actor? Any thread. */
static bool owns(tr_net_t *net, const tr_ctx_t *ctx, uint64_t id) {
  uint64_t owner = 0;
  pthread_mutex_lock(&net->mu);
  bool found = tr__u64map_get(&net->owners, id, &owner);
  pthread_mutex_unlock(&net->mu);
  return found && owner == tr_self(ctx).id;
}

int tr_conn_write(tr_ctx_t *ctx, tr_conn_t c, const void *data, size_t len) {
  if (!ctx || c.id == 0 || (len && !data))
    return TR_EINVAL;
  if (len > TR_MSG_MAX)
    return TR_EMSGSIZE;
  tr_net_t *net = tr__net_of(ctx);
  if (!owns(net, ctx, c.id))
    return TR_ENOENT;
  tr_net_write_t *w = malloc(sizeof *w + TR_FRAME_HEADER + len);
  if (!w)
    return TR_ENOMEM;
  w->cmd.run = run_write;
  w->conn = c.id;
  w->len = len;
  if (len)
    memcpy(w->bytes + TR_FRAME_HEADER, data, len);
  int rc = tr__io_post(net->io, ctx, &w->cmd);
  if (rc != 0)
    free(w);
  return rc;
}

int tr_conn_close(tr_ctx_t *ctx, tr_conn_t c) {
  if (!ctx || c.id == 0)
    return TR_EINVAL;
  tr_net_t *net = tr__net_of(ctx);
  if (!owns(net, ctx, c.id))
    return TR_ENOENT;
  return tr__io_post_id(net->io, ctx, run_close, c.id);
}
