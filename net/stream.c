/* A connection's input on the I/O thread: reading through the codec into the owner's mailbox,
 * with backpressure (writing is write.c).
 *
 * Read backpressure. After every unit it delivers, the I/O thread looks at the owner's
 * mailbox depth (enq - deq of the actor, both relaxed: they are statistics, and a stale
 * value only delays a pause or a resume by a moment). Over high_water it stops reading at
 * once, even in the middle of a read: the bytes not yet cut are parked (at most one read
 * chunk), so the owner's mailbox holds at most high_water + 1 messages from its connection.
 * A timer looks at paused connections every TR_NET_RESUME_MS; one whose owner has come
 * below low_water first delivers what it parked, then reads again.
 */
#include <string.h>

#include "net/net.h"

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

/* The owner did not close within linger_ms of the EOF: close for it, as tr_conn_close. */
static void on_linger(uv_timer_t *t) {
  tr_tcp_conn_t *c = t->data;
  if (c->state == TR_CONN_OPEN && tr__net_enter(c->net)) {
    tr__net_conn_close(c, 0, true);
    tr__net_leave(c->net);
  }
}

/* The peer's FIN (net.h, half-close): the last unterminated line, then TR_ATOM_TCP_EOF; the
 * connection stays writable, for the owner to answer and close, or for the linger. */
static void end_of_input(tr_tcp_conn_t *c) {
  const void *unit;
  size_t n;
  c->eof = true;
  uv_read_stop((uv_stream_t *)c->tcp);
  if (tr__codec_end(&c->codec, &unit, &n) == 1 && !tr__net_deliver(c, TR_ATOM_TCP_DATA, unit, n)) {
    tr__net_conn_close(c, 0, false);
    return;
  }
  unsigned char buf[16];
  size_t len;
  int rc = tr_pack_into(buf, sizeof buf, &len, "[u]", c->id);
  TR_ASSERT(rc == 0);
  if (!tr__net_deliver(c, TR_ATOM_TCP_EOF, buf, len)) {
    tr__net_conn_close(c, 0, false);
    return;
  }
  tr__net_arm_timer(c, c->opts.linger_ms, on_linger);
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf) {
  tr_tcp_conn_t *c = s->data;
  if (nread == 0 || !tr__net_enter(c->net))
    return;
  if (c->state != TR_CONN_OPEN) {
    /* reading stopped with the close; nothing more to deliver */
  } else if (nread > 0) {
    c->bytes_in += (uint64_t)nread;
    if (c->lst)
      c->lst->bytes_in += (uint64_t)nread;
    const unsigned char *p = (const unsigned char *)buf->base;
    size_t used = feed(c, p, (size_t)nread);
    if (c->state == TR_CONN_OPEN && c->paused && used < (size_t)nread)
      park(c, p + used, (size_t)nread - used);
  } else if (nread == UV_EOF) {
    end_of_input(c);
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
  if (!c->eof)
    tr__net_read_start(c);
}

/* Held by its owner: out of the paused list (the timer must not resume it), reading
 * stopped, parked input kept. Released: as if it had just paused for backpressure, so the
 * timer resumes it once the owner's mailbox allows (at once if it does now). */
void tr__net_hold(tr_tcp_conn_t *c, bool hold) {
  if (c->state != TR_CONN_OPEN || c->eof || hold == c->held)
    return;
  c->held = hold;
  if (hold) {
    unlink_paused(c);
    uv_read_stop((uv_stream_t *)c->tcp);
    return;
  }
  tr_actor_t *a = tr__table_get(&c->net->io->sys->table, c->owner);
  if (!a)
    tr__net_conn_close(c, 0, false);
  else if (tr__net_depth(a) < c->opts.low_water)
    resume(c);
  else
    pause_reading(c);
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
