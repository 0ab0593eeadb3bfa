/* The session: one actor per client connection. It turns the connection's messages into
 * commands (commands.c), passes pushes from topics and the index on to the client if it
 * still holds that subscription, and writes every reply in order (session.h). */
#include <stdlib.h>

#include "session.h"

/* Arguments read without allocating; longer commands get a heap array. */
#define ARGV_INLINE 8

/* Output is gathered and written in one piece when a flush message the session sent itself
 * comes round: everything already in its mailbox (a burst of pushes from topics) goes out
 * in one write instead of one write, and one I/O command, per message. A buffer past this
 * many bytes is written at once, so gathering never holds much. */
#define WBUF_FLUSH (64u * 1024u)

static void flush(tr_ctx_t *ctx, session_t *s) {
  if (s->open && s->wbuf.len)
    tr_conn_write(ctx, s->conn, s->wbuf.data, s->wbuf.len); /* failure: TCP_CLOSED follows */
  s->wbuf.len = 0;
}

static void write_now(tr_ctx_t *ctx, session_t *s, const void *data, size_t len) {
  if (!s->open || !len)
    return;
  tr_resp_raw(&s->wbuf, data, len);
  if (s->wbuf.err) { /* out of memory gathering: write what there is, directly */
    s->wbuf.err = 0;
    flush(ctx, s);
    tr_conn_write(ctx, s->conn, data, len);
    return;
  }
  if (s->wbuf.len >= WBUF_FLUSH)
    flush(ctx, s);
  else if (!s->flush_due && tr_send(ctx, tr_self(ctx), ps_atoms.flush, NULL, 0) == 0)
    s->flush_due = true;
  else if (!s->flush_due)
    flush(ctx, s);
}

void ps_emit(tr_ctx_t *ctx, session_t *s, const void *data, size_t len) {
  if (s->last)
    tr_resp_raw(&s->last->tail, data, len);
  else
    write_now(ctx, s, data, len);
}

void ps_emit_out(tr_ctx_t *ctx, session_t *s) {
  ps_emit(ctx, s, s->out.data, s->out.len);
  s->out.len = 0;
}

pending_t *ps_pending(session_t *s, wait_t kind) {
  pending_t *p = calloc(1, sizeof *p);
  if (!p)
    return NULL;
  p->kind = kind;
  if (s->last)
    s->last->next = p;
  else
    s->first = p;
  s->last = p;
  return p;
}

static void drop(pending_t *p) {
  tr_resp_buf_free(&p->head);
  tr_resp_buf_free(&p->tail);
  free(p);
}

void ps_settle(tr_ctx_t *ctx, session_t *s) {
  while (s->first && s->first->waiting == 0) {
    pending_t *p = s->first;
    if (!(s->first = p->next))
      s->last = NULL;
    if (p->kind == WAIT_COUNT)
      tr_resp_integer(&p->head, (int64_t)p->count);
    /* Straight out: what is still pending came after this, whatever s->last is now. */
    write_now(ctx, s, p->head.data, p->head.len);
    write_now(ctx, s, p->tail.data, p->tail.len);
    drop(p);
  }
  if (!s->first && s->quitting && s->open) {
    flush(ctx, s); /* the replies before QUIT go out before the close */
    tr_conn_close(ctx, s->conn);
    s->open = false;
  }
}

/* An answer for key: a token (ack) or a request reference (reply, timeout). */
static void answer(tr_ctx_t *ctx, session_t *s, const tr_msg_t *m, uint64_t key, bool ack) {
  for (pending_t *p = s->first; p; p = p->next) {
    unsigned i = 0;
    while (i < p->waiting && p->key[i] != key)
      i++;
    if (i == p->waiting || (p->kind == WAIT_ACK) != ack)
      continue;
    p->key[i] = p->key[--p->waiting];
    uint64_t n = 0;
    const void *bytes;
    size_t len;
    bool timeout = tr_msg_tag(m) == TR_ATOM_TIMEOUT;
    if (p->kind == WAIT_COUNT && !timeout && tr_msg_unpack(m, "u", &n) == 0)
      p->count += n;
    else if (p->kind == WAIT_ANSWER && !timeout && tr_msg_unpack(m, "x", &bytes, &len) == 0)
      tr_resp_raw(&p->head, bytes, len);
    else if (p->kind == WAIT_ANSWER)
      tr_resp_error(&p->head, "ERR the server did not answer in time");
    if (timeout)
      tr_log(TR_LOG_WARN, "pubsub: a request timed out");
    ps_settle(ctx, s);
    return;
  }
}

/* A push from a topic (message) or the index (pmessage): pass it on while subscribed. */
static void push(tr_ctx_t *ctx, session_t *s, const tr_msg_t *m, const ps_dict_t *set) {
  const void *name, *bytes;
  size_t nlen, len;
  if (tr_msg_unpack(m, "[x x]", &name, &nlen, &bytes, &len) == 0 && ps_dict_find(set, name, nlen))
    ps_emit(ctx, s, bytes, len);
}

static int data(tr_ctx_t *ctx, session_t *s, const tr_msg_t *m) {
  size_t len, argc;
  const void *p = tr_msg_data(m, &len);
  tr_resp_arg_t small[ARGV_INLINE], *argv = small;
  int rc = tr_resp_argv(p, len, small, ARGV_INLINE, &argc);
  if (rc == TR_EPROTO) { /* malformed input: reply as Redis does and hang up */
    ps_error(ctx, s, "ERR %.*s", (int)small[0].len, (const char *)small[0].data);
    s->quitting = true;
    ps_settle(ctx, s);
    return 0;
  }
  if (rc || argc == 0)
    return 0;
  if (argc > ARGV_INLINE) {
    if (!(argv = malloc(argc * sizeof *argv)))
      return TR_ENOMEM;
    tr_resp_argv(p, len, argv, argc, &argc);
  }
  rc = ps_command(ctx, s, m, argv, argc);
  if (argv != small)
    free(argv);
  return rc;
}

static int session_receive(tr_ctx_t *ctx, void *state, const tr_msg_t *m) {
  session_t *s = state;
  tr_atom_t tag = tr_msg_tag(m);
  uint64_t token;
  if (tag == TR_ATOM_TCP_DATA)
    return s->quitting ? 0 : data(ctx, s, m);
  if (tag == ps_atoms.flush) {
    s->flush_due = false;
    flush(ctx, s);
  } else if (tag == ps_atoms.msg)
    push(ctx, s, m, &s->channels);
  else if (tag == ps_atoms.pmsg)
    push(ctx, s, m, &s->patterns);
  else if (tag == ps_atoms.ack && tr_msg_unpack(m, "u", &token) == 0)
    answer(ctx, s, m, token, true);
  else if ((tag == TR_ATOM_REPLY || tag == TR_ATOM_TIMEOUT) && tr_msg_ref(m))
    answer(ctx, s, m, tr_msg_ref(m), false);
  else if (tag == TR_ATOM_TCP_OPEN)
    s->open = tr_msg_tcp_open(m, &s->conn, (char[TR_ADDR_MAX]){0}, (char[TR_ADDR_MAX]){0}) == 0;
  else if (tag == TR_ATOM_TCP_CLOSED) {
    s->open = false;
    tr_stop(ctx);
  }
  return 0;
}

static void session_terminate(tr_ctx_t *ctx, void *state, const tr_reason_t *reason) {
  (void)reason;
  session_t *s = state;
  ps_leave_all(ctx, s, false, false);
  ps_leave_all(ctx, s, true, false);
  while (s->first) {
    pending_t *p = s->first;
    s->first = p->next;
    drop(p);
  }
  ps_dict_free(&s->channels);
  ps_dict_free(&s->patterns);
  tr_resp_buf_free(&s->out);
  tr_resp_buf_free(&s->wbuf);
}

/* Emit each key of a set as a bulk string into pk's array. */
static void pack_keys(msgpack_packer *pk, const ps_dict_t *d) {
  msgpack_pack_array(pk, d->count);
  for (size_t i = 0; i < d->cap; i++)
    if (d->slot[i].key)
      msgpack_pack_bin_with_body(pk, d->slot[i].key, d->slot[i].klen);
}

static int session_inspect(const void *state, msgpack_packer *pk) {
  const session_t *s = state;
  size_t waiting = 0;
  for (const pending_t *p = s->first; p; p = p->next)
    waiting++;
  msgpack_pack_map(pk, 4);
  msgpack_pack_str_with_body(pk, "conn", 4);
  msgpack_pack_uint64(pk, s->conn.id);
  msgpack_pack_str_with_body(pk, "channels", 8);
  pack_keys(pk, &s->channels);
  msgpack_pack_str_with_body(pk, "patterns", 8);
  pack_keys(pk, &s->patterns);
  msgpack_pack_str_with_body(pk, "pending_replies", 15);
  return msgpack_pack_uint64(pk, waiting);
}

const tr_behaviour_t ps_session_behaviour = {.name = "pubsub.session",
                                             .state_size = sizeof(session_t),
                                             .receive = session_receive,
                                             .terminate = session_terminate,
                                             .inspect = session_inspect};
