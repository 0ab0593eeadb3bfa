/* Writing to a connection: by its owner directly, when it can, or through the I/O thread.
 *
 * Direct writes. The owner's tr_conn_write first tries the socket itself, on its own worker:
 * a non-blocking send of the whole write. When the kernel takes it all (the usual case for a
 * client that reads), that is the whole cost: no copy into a command, no wake-up of the I/O
 * thread, and the writes of many connections run on every worker at once instead of one I/O
 * thread. What the kernel does not take goes to the I/O thread as before (libuv's write
 * queue), and every write after it too, until that queue is empty again, so bytes keep
 * their order: the owner writes directly only while no write it handed over is outstanding
 * (`queued` == 0, counted under the record's mutex: incremented before a write is posted,
 * decremented by the I/O thread when it completes or is dropped).
 *
 * Safety. The socket is the I/O thread's: it opens it, reads it, closes it. The owner uses
 * its descriptor only under the record's mutex and only while `open`, which the I/O thread
 * clears under that mutex before it closes the socket, so a descriptor is never written
 * after it was closed (and perhaps reused for another socket). Only the owner writes (the
 * ownership check), so there is one direct writer per connection.
 *
 * Write limit. A write that would take the bytes libuv holds for the socket (what the kernel
 * has not accepted yet: uv_stream_get_write_queue_size) past out_limit drops the connection
 * instead: the peer is not reading, and its backlog must not grow without bound.
 *
 * Commands from one actor run in the order it posted them, so handed-over writes go out in
 * order and a close follows them; a direct write happens before the actor's next command. */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>

#include "net/net.h"

/* One write handed to the I/O thread: a command on its way, then the libuv request. */
struct tr_net_write {
  tr_io_cmd_t cmd;
  uv_write_t req;
  tr_net_write_t *next;     /* in a dialling connection's pending list */
  tr_conn_shared_t *shared; /* a reference, released with the write's end */
  tr_tcp_conn_t *counted;   /* set once the write counts in that connection's out_held */
  uint64_t conn;
  size_t len; /* bytes, as they go on the wire (a frame's header included) */
  unsigned char bytes[];
};

/* ---- the shared record ---- */

tr_conn_shared_t *tr__net_shared_new(tr_pid_t owner, const tr_net_opts_t *opts) {
  tr_conn_shared_t *sh = calloc(1, sizeof *sh);
  if (!sh)
    return NULL;
  pthread_mutex_init(&sh->mu, NULL);
  atomic_store_explicit(&sh->refs, 1, memory_order_relaxed);
  sh->owner = owner;
  sh->framed = opts->codec.kind == TR_CODEC_FRAMES;
  sh->fd = -1;
  return sh;
}

void tr__net_shared_ref(tr_conn_shared_t *sh) {
  /* relaxed: a new reference is always made from one the caller already holds. */
  atomic_fetch_add_explicit(&sh->refs, 1, memory_order_relaxed);
}

void tr__net_shared_unref(tr_conn_shared_t *sh) {
  /* acq_rel: release orders this holder's uses before the free; the acquire of the last one
   * sees every other holder's uses done. */
  if (atomic_fetch_sub_explicit(&sh->refs, 1, memory_order_acq_rel) != 1)
    return;
  pthread_mutex_destroy(&sh->mu);
  free(sh);
}

int tr__net_owner_add(tr_net_t *net, uint64_t id, tr_conn_shared_t *sh) {
  tr__net_shared_ref(sh);
  pthread_mutex_lock(&net->mu);
  int rc = tr__u64map_put(&net->owners, id, (uint64_t)(uintptr_t)sh);
  pthread_mutex_unlock(&net->mu);
  if (rc != 0)
    tr__net_shared_unref(sh);
  return rc;
}

void tr__net_owner_del(tr_net_t *net, uint64_t id) {
  uint64_t v;
  pthread_mutex_lock(&net->mu);
  bool found = tr__u64map_del(&net->owners, id, &v);
  pthread_mutex_unlock(&net->mu);
  if (!found)
    return;
  tr_conn_shared_t *sh = (tr_conn_shared_t *)(uintptr_t)v;
  pthread_mutex_lock(&sh->mu);
  sh->open = false; /* no direct write from here on: the socket may close */
  sh->fd = -1;
  pthread_mutex_unlock(&sh->mu);
  tr__net_shared_unref(sh);
}

void tr__net_direct_open(tr_tcp_conn_t *c) {
  uv_os_fd_t fd;
  if (uv_fileno((uv_handle_t *)c->tcp, &fd) != 0)
    return; /* then every write goes through the I/O thread */
  pthread_mutex_lock(&c->shared->mu);
  c->shared->fd = fd;
  c->shared->open = true;
  pthread_mutex_unlock(&c->shared->mu);
}

/* The owner's record of connection id, with a reference; NULL when it is not ctx's. */
static tr_conn_shared_t *acquire(tr_net_t *net, const tr_ctx_t *ctx, uint64_t id) {
  uint64_t v = 0;
  pthread_mutex_lock(&net->mu);
  tr_conn_shared_t *sh = tr__u64map_get(&net->owners, id, &v) ? (tr_conn_shared_t *)v : NULL;
  if (sh && sh->owner.id == tr_self(ctx).id)
    tr__net_shared_ref(sh);
  else
    sh = NULL;
  pthread_mutex_unlock(&net->mu);
  return sh;
}

/* ---- the I/O thread's side ---- */

/* A handed-over write is done (written, failed or dropped): let go of it. */
static void release(tr_net_write_t *w) {
  tr_tcp_conn_t *c = w->counted; /* alive: its writes end before it is freed */
  if (c) {
    c->out_held -= w->len;
    if (c->state != TR_CONN_CLOSING) /* a closing one's left the total (tr__net_out_forget) */
      c->net->out_total -= w->len;
  }
  tr_conn_shared_t *sh = w->shared;
  pthread_mutex_lock(&sh->mu);
  sh->queued--;
  pthread_mutex_unlock(&sh->mu);
  tr__net_shared_unref(sh);
  free(w);
}

static void on_written(uv_write_t *req, int status) {
  tr_net_write_t *w = req->data;
  tr_tcp_conn_t *c = req->handle->data; /* alive: a handle's writes call back before its close */
  release(w);
  if (status == 0 || status == UV_ECANCELED || c->state == TR_CONN_CLOSING)
    return;
  if (tr__net_enter(c->net)) {
    tr__net_conn_close(c, tr__io_err(status, "tcp: write"), false);
    tr__net_leave(c->net);
  }
}

/* Hand w to libuv; false when c closed instead (w is released either way). */
static bool send_now(tr_tcp_conn_t *c, tr_net_write_t *w) {
  uv_buf_t b = uv_buf_init((char *)w->bytes, (unsigned)w->len);
  w->req.data = w;
  int rc = uv_write(&w->req, (uv_stream_t *)c->tcp, &b, 1, on_written);
  if (rc == 0)
    return true;
  release(w);
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
      release(w);
    else
      send_now(c, w);
    w = next;
  }
}

/* Whether w may join c's queued output: under the connection's own limit, and, when the
 * node's connections hold their budget already, not more than c's share of it. */
static bool within_limits(tr_tcp_conn_t *c, const tr_net_write_t *w, size_t queued) {
  tr_net_t *net = c->net;
  if (queued + w->len > c->opts.out_limit) {
    tr_log(TR_LOG_WARN, "tcp: dropping slow consumer %s: %zu bytes queued over limit (%zu)",
           c->peer, queued + w->len, c->opts.out_limit);
    return false;
  }
  if (net->out_total + w->len <= net->out_budget)
    return true;
  size_t share = net->out_budget / (net->conns.count ? net->conns.count : 1);
  if (queued + w->len <= share)
    return true;
  tr_log(TR_LOG_WARN,
         "tcp: dropping slow consumer %s: %zu bytes queued, over its share (%zu) of the node's "
         "output budget (%zu), which the connections hold",
         c->peer, queued + w->len, share, net->out_budget);
  return false;
}

static void write_conn(tr_tcp_conn_t *c, tr_net_write_t *w) {
  size_t queued = c->state == TR_CONN_DIALING
                      ? c->pending_bytes
                      : uv_stream_get_write_queue_size((uv_stream_t *)c->tcp);
  if (!within_limits(c, w, queued)) {
    release(w);
    if (c->lst)
      c->lst->dropped_slow++;
    tr__net_conn_close(c, TR_ELIMIT, false);
    return;
  }
  w->counted = c;
  c->out_held += w->len;
  c->net->out_total += w->len;
  c->bytes_out += w->len;
  if (c->lst)
    c->lst->bytes_out += w->len;
  if (c->state == TR_CONN_OPEN) {
    send_now(c, w);
    return;
  }
  w->next = NULL; /* dialling: goes out once connected */
  *c->pending_tail = w;
  c->pending_tail = &w->next;
  c->pending_bytes += w->len;
}

void tr__net_out_forget(tr_tcp_conn_t *c) { c->net->out_total -= c->out_held; }

static void run_write(tr_io_t *io, tr_io_cmd_t *cmd, bool discard) {
  tr_net_write_t *w = (tr_net_write_t *)cmd;
  tr_tcp_conn_t *c = discard ? NULL : tr__net_find(tr__net_of(&io->ctx), w->conn);
  if (!c) { /* closed meanwhile: the owner learns it from TR_ATOM_TCP_CLOSED */
    release(w);
    return;
  }
  write_conn(c, w);
}

/* ---- the owner's side ---- */

/* Send what the kernel takes of the wire bytes now, without waiting. Under sh->mu. */
static size_t send_direct(tr_conn_shared_t *sh, const unsigned char *hdr, size_t hlen,
                          const void *data, size_t len) {
  struct iovec iov[2] = {{(void *)hdr, hlen}, {(void *)data, len}};
  struct msghdr mh = {.msg_iov = hlen ? iov : iov + 1, .msg_iovlen = hlen ? 2 : 1};
  for (;;) {
    ssize_t n = sendmsg(sh->fd, &mh, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (n >= 0)
      return (size_t)n;
    if (errno != EINTR) /* EAGAIN: the kernel's buffer is full; an error: libuv will see it */
      return 0;
  }
}

/* Hand the wire bytes from `skip` on to the I/O thread (the caller counted it in queued). */
static int hand_over(tr_net_t *net, tr_ctx_t *ctx, tr_conn_shared_t *sh, uint64_t id,
                     const unsigned char *hdr, size_t hlen, const void *data, size_t len,
                     size_t skip) {
  size_t total = hlen + len - skip;
  tr_net_write_t *w = malloc(sizeof *w + total);
  if (!w)
    return TR_ENOMEM;
  w->cmd.run = run_write;
  w->shared = sh;
  w->counted = NULL;
  w->conn = id;
  w->len = total;
  size_t o = 0;
  if (skip < hlen) {
    memcpy(w->bytes, hdr + skip, hlen - skip);
    o = hlen - skip;
  }
  if (total > o)
    memcpy(w->bytes + o, (const unsigned char *)data + (skip > hlen ? skip - hlen : 0), total - o);
  int rc = tr__io_post(net->io, ctx, &w->cmd);
  if (rc != 0)
    free(w);
  return rc;
}

int tr_conn_write(tr_ctx_t *ctx, tr_conn_t c, const void *data, size_t len) {
  if (!ctx || c.id == 0 || (len && !data))
    return TR_EINVAL;
  if (len > TR_MSG_MAX)
    return TR_EMSGSIZE;
  tr_net_t *net = tr__net_of(ctx);
  tr_conn_shared_t *sh = acquire(net, ctx, c.id);
  if (!sh)
    return TR_ENOENT;
  unsigned char hdr[TR_FRAME_HEADER];
  size_t hlen = 0;
  if (sh->framed) { /* a frame's length prefix goes with it */
    tr__codec_frame_header((uint32_t)len, hdr);
    hlen = TR_FRAME_HEADER;
  }
  if (hlen + len == 0) {
    tr__net_shared_unref(sh);
    return 0; /* nothing to send (an empty raw or line write) */
  }
  size_t done = 0;
  pthread_mutex_lock(&sh->mu);
  if (sh->open && sh->queued == 0)
    done = send_direct(sh, hdr, hlen, data, len);
  bool rest = done < hlen + len;
  if (rest)
    sh->queued++;
  pthread_mutex_unlock(&sh->mu);
  if (done)
    atomic_fetch_add_explicit(&sh->bytes_direct, done, memory_order_relaxed);
  if (!rest) {
    tr__net_shared_unref(sh);
    return 0;
  }
  int rc = hand_over(net, ctx, sh, c.id, hdr, hlen, data, len, done); /* takes our reference */
  if (rc != 0) {
    pthread_mutex_lock(&sh->mu);
    sh->queued--;
    pthread_mutex_unlock(&sh->mu);
    tr__net_shared_unref(sh);
  }
  return rc;
}

static void run_close(tr_io_t *io, uint64_t id) {
  tr_tcp_conn_t *c = tr__net_find(tr__net_of(&io->ctx), id);
  if (c)
    tr__net_conn_close(c, 0, true);
}

static void run_hold(tr_io_t *io, uint64_t id, bool hold) {
  tr_tcp_conn_t *c = tr__net_find(tr__net_of(&io->ctx), id);
  if (c)
    tr__net_hold(c, hold);
}

static void run_pause(tr_io_t *io, uint64_t id) { run_hold(io, id, true); }
static void run_resume(tr_io_t *io, uint64_t id) { run_hold(io, id, false); }

/* Post `run` for one of the caller's connections. */
static int post_own(tr_ctx_t *ctx, tr_conn_t c, void (*run)(tr_io_t *, uint64_t)) {
  if (!ctx || c.id == 0)
    return TR_EINVAL;
  tr_net_t *net = tr__net_of(ctx);
  tr_conn_shared_t *sh = acquire(net, ctx, c.id);
  if (!sh)
    return TR_ENOENT;
  tr__net_shared_unref(sh);
  return tr__io_post_id(net->io, ctx, run, c.id);
}

int tr_conn_close(tr_ctx_t *ctx, tr_conn_t c) { return post_own(ctx, c, run_close); }
int tr_conn_pause(tr_ctx_t *ctx, tr_conn_t c) { return post_own(ctx, c, run_pause); }
int tr_conn_resume(tr_ctx_t *ctx, tr_conn_t c) { return post_own(ctx, c, run_resume); }
