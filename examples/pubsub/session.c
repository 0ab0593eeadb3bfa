/* The session: one actor per client connection. It reads the commands of each read (the
 * RESP codec hands over every whole command of one read at once), runs them in order,
 * gathers replies and the pushes other sessions send it into one buffer, and writes that
 * buffer once at the end of the turn (flush). */
#include <string.h>

#include "session.h"

/* Output and push-formatting buffer kept between turns: a turn that needed more gives it back,
 * so one big PUBLISH (a push as big as its message) costs its memory for one turn only. */
#define OUT_KEEP ((size_t)64 << 10)
/* Pushes up to this much are gathered with the turn's output (one write for many small
 * messages); a bigger message is written on its own, straight from the message. */
#define PUSH_GATHER ((size_t)16 << 10)

static void on_open(tr_ctx_t *ctx, session_t *s, const tr_msg_t *m) {
  char peer[TR_ADDR_MAX], local[TR_ADDR_MAX];
  s->open = tr_msg_tcp_open(m, &s->conn, peer, local) == 0;
  atomic_fetch_add_explicit(&ps_server.connections, 1, memory_order_relaxed);
  s->client = ps_client_add(tr_self(ctx), peer, local);
  s->authed = ps_server.requirepass == NULL;
}

/* Run every command of one read. Returns 0, or an error that ends the session. */
static int on_commands(tr_ctx_t *ctx, session_t *s, const tr_msg_t *m) {
  size_t len;
  const void *data = tr_msg_data(m, &len);
  tr_resp_reader_t r;
  tr_resp_cmd_t cmd;
  tr_resp_reader_init(&r, data, len);
  if (s->client) /* the idle time CLIENT LIST shows: once per read is enough */
    atomic_store_explicit(&s->client->last_ms, ps_now_ms(), memory_order_relaxed);
  int rc;
  while (!s->closing && (rc = tr_resp_read(&r, &cmd)) != 0) {
    tr_resp_arg_t few[16], *argv = few;
    if (rc == TR_EPROTO || rc == TR_ETYPE) { /* Redis's reply to bad input, then close */
      size_t n = tr_resp_args(&cmd, few, 1);
      if (rc == TR_EPROTO && n == 1)
        tr_resp_raw(&s->out, few[0].data, few[0].len);
      s->closing = true;
      break;
    }
    if (cmd.argc > 16 && !(argv = malloc(cmd.argc * sizeof *argv)))
      return TR_ENOMEM;
    size_t argc = tr_resp_args(&cmd, argv, cmd.argc);
    /* Gathered publishes go out before any other command, so effects keep their order. */
    if (ps_fanout_pending(s) && (!ps_is_publish(&argv[0]) || ps_fanout_full(&s->fanout)))
      ps_fanout_flush(ctx, s);
    rc = ps_dispatch(ctx, s, argv, argc);
    if (argv != few)
      free(argv);
    if (rc != 0)
      return rc;
  }
  if (ps_fanout_pending(s))
    ps_fanout_flush(ctx, s);
  /* One shared increment per read, not per command: INFO's count is a statistic. */
  atomic_fetch_add_explicit(&ps_server.commands, s->commands, memory_order_relaxed);
  s->commands = 0;
  if (s->closing) { /* QUIT or bad input: write what is due, then close */
    ps_session_flush(ctx, s);
    tr_conn_close(ctx, s->conn);
  }
  return s->out.err;
}

int ps_session_flush(tr_ctx_t *ctx, void *state) {
  session_t *s = state;
  if (s->out.len && s->open && !s->out.err)
    tr_conn_write(ctx, s->conn, s->out.data, s->out.len);
  s->out.len = 0;
  if (s->out.cap > OUT_KEEP)
    tr_resp_buf_free(&s->out); /* keeps proto */
  if (s->scratch.cap > OUT_KEEP)
    tr_resp_buf_free(&s->scratch);
  return 0;
}

/* Pushes another session published to us: RESP2 pushes, one after another. A RESP2 client
 * gets them as they are, written straight from the message (after what the session has
 * gathered, to keep the order); a RESP3 client gets each push's type byte ('*') turned into
 * RESP3's push type ('>'). */
static void on_push(tr_ctx_t *ctx, session_t *s, const tr_msg_t *m) {
  size_t len;
  const unsigned char *p = tr_msg_data(m, &len);
  if (!p || len == 0 || s->closing || !s->open)
    return;
  if (ps_proto(s) == 2 && s->out.len + len > PUSH_GATHER) {
    ps_session_flush(ctx, s);
    tr_conn_write(ctx, s->conn, p, len);
    return;
  }
  if (ps_proto(s) == 2) {
    tr_resp_raw(&s->out, p, len);
    return;
  }
  size_t at = s->out.len;
  if (tr_resp_raw(&s->out, p, len) != 0)
    return;
  tr_resp_reader_t r;
  tr_resp_cmd_t push;
  tr_resp_reader_init(&r, p, len);
  /* Each push is an array of bulk strings, which the command reader walks as it walks
   * commands: where one starts, its '*' becomes '>'. */
  for (const unsigned char *start = p; tr_resp_read(&r, &push) == 1; start = r.p)
    s->out.data[at + (size_t)(start - p)] = '>';
}

static int session_receive(tr_ctx_t *ctx, void *state, const tr_msg_t *m) {
  session_t *s = state;
  tr_atom_t tag = tr_msg_tag(m);
  if (tag == ps_atoms.push) {
    on_push(ctx, s, m);
    return 0;
  }
  if (tag == TR_ATOM_TCP_DATA)
    return s->closing ? 0 : on_commands(ctx, s, m);
  if (tag == TR_ATOM_TCP_OPEN) {
    on_open(ctx, s, m);
    return 0;
  }
  if (tag == TR_ATOM_TCP_EOF) { /* the client is done sending: what it sent is answered */
    s->closing = true;
    ps_session_flush(ctx, s);
    tr_conn_close(ctx, s->conn);
    return 0;
  }
  if (tag == TR_ATOM_TCP_CLOSED) {
    s->open = false;
    tr_stop(ctx);
  }
  return 0;
}

static void session_terminate(tr_ctx_t *ctx, void *state, const tr_reason_t *reason) {
  (void)reason;
  session_t *s = state;
  ps_reset(ctx, s); /* the groups are left by the exit too; this also counts them down */
  for (int k = 0; k < 3; k++)
    ps_dict_free(&s->subs[k]);
  if (s->client)
    ps_client_remove(s->client);
  tr_resp_buf_free(&s->out);
  tr_resp_buf_free(&s->scratch);
  ps_fanout_free(&s->fanout);
}

static int session_inspect(const void *state, msgpack_packer *pk) {
  const session_t *s = state;
  msgpack_pack_map(pk, 5);
  msgpack_pack_str_with_body(pk, "resp", 4);
  msgpack_pack_int(pk, ps_proto(s));
  msgpack_pack_str_with_body(pk, "channels", 8);
  msgpack_pack_uint64(pk, s->subs[PS_CHANNEL].count);
  msgpack_pack_str_with_body(pk, "patterns", 8);
  msgpack_pack_uint64(pk, s->subs[PS_PATTERN].count);
  msgpack_pack_str_with_body(pk, "shard_channels", 14);
  msgpack_pack_uint64(pk, s->subs[PS_SHARD].count);
  msgpack_pack_str_with_body(pk, "name", 4);
  const char *name = s->client ? s->client->name : "";
  msgpack_pack_str_with_body(pk, name, strlen(name));
  return 0;
}

const tr_behaviour_t ps_session_behaviour = {
    .name = "pubsub.session",
    .state_size = sizeof(session_t),
    .receive = session_receive,
    .terminate = session_terminate,
    .inspect = session_inspect,
    .flush = ps_session_flush,
};
