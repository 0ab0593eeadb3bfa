/* The fixture and the common actors of tests/net/test_tcp.c: a system with a client that
 * actors report to, reports held while the test waits for another kind, and an echo actor
 * (lines back with "\n", or frames back as they came). Handlers cannot fail a cmocka test,
 * so they count what they find wrong in `bad`, which the teardown checks. Static only:
 * one test file includes it. */
#ifndef TR_TESTS_NET_TCP_FIXTURE_H
#define TR_TESTS_NET_TCP_FIXTURE_H

#include "support/sock.h"

/* Reports a test may hold while it waits for another kind. */
#define HELD_MAX 64
/* Bytes of the fixture's blob, which actors write (all 'y'). */
#define BLOB_SIZE (64u << 10)

typedef struct {
  tr_system_t *sys;
  tr_client_t *client;
  tr_pid_t me;
  tr_atom_t opened, closed, line, done, pump, quit, listening, paused, count;
  char *blob; /* BLOB_SIZE bytes of 'y' for the actors to write */
  _Atomic uint64_t bad;
  tr_msg_t *held[HELD_MAX]; /* reports received while waiting for another kind */
  size_t nheld;
} fix_t;

/* MODE_LINGER: lines, and the peer's EOF ignored (the others close on it). */
enum { MODE_LINES = 0, MODE_FRAMES = 1, MODE_LINGER = 2 };

/* What every actor here starts from: [fix, report pid, a, b]. */
typedef struct {
  fix_t *f;
  tr_pid_t report;
  uint64_t a, b;
  tr_conn_t conn;
  uint64_t count, max_depth;
  size_t written;
  bool flooding;
  bool eof;     /* TCP_EOF came (at most once) */
  bool holding; /* reading paused with tr_conn_pause */
  tr_listener_t listener;
} peer_t;

static inline void check(fix_t *f, bool ok) {
  if (!ok)
    sup_bump(&f->bad);
}

static inline int peer_init(tr_ctx_t *ctx, void *state, const tr_msg_t *init) {
  (void)ctx;
  peer_t *s = state;
  s->f = sup_init_ptr(init);
  s->report = (tr_pid_t){sup_arg_u(init, 1, 0)};
  s->a = sup_arg_u(init, 2, 0);
  s->b = sup_arg_u(init, 3, 0);
  return 0;
}

static inline void report_opened(tr_ctx_t *ctx, peer_t *s, const tr_msg_t *m) {
  char peer[TR_ADDR_MAX], local[TR_ADDR_MAX];
  tr_conn_t c;
  check(s->f, tr_msg_tcp_open(m, &c, peer, local) == 0);
  check(s->f, tr_msg_ref(m) == c.id && (s->conn.id == 0 || s->conn.id == c.id));
  s->conn = c;
  tr_sendf(ctx, s->report, s->f->opened, "[uss]", c.id, peer, local);
}

static inline void report_closed(tr_ctx_t *ctx, peer_t *s, const tr_msg_t *m) {
  tr_conn_t c;
  int reason = 1;
  check(s->f, tr_msg_tcp_closed(m, &c, &reason) == 0);
  check(s->f, c.id == s->conn.id && tr_msg_ref(m) == c.id);
  tr_sendf(ctx, s->report, s->f->closed, "[ui]", c.id, (int64_t)reason);
}

/* ---- echo: lines back with "\n" (a = MODE_LINES), or frames back as they came ----
 * "quit" stops the actor, "close" closes the connection. */

/* A write may find the connection closed by the peer meanwhile: TR_ENOENT, not an error. */
static inline void check_write(peer_t *s, int rc) { check(s->f, rc == 0 || rc == TR_ENOENT); }

static inline void echo(tr_ctx_t *ctx, peer_t *s, const tr_msg_t *m) {
  size_t len;
  const char *d = tr_msg_data(m, &len);
  check(s->f, tr_msg_ref(m) == s->conn.id);
  if (s->a == MODE_FRAMES) {
    check_write(s, tr_conn_write(ctx, s->conn, d, len));
  } else if (len == 4 && memcmp(d, "quit", 4) == 0) {
    tr_stop(ctx);
  } else if (len == 5 && memcmp(d, "close", 5) == 0) {
    check(s->f, tr_conn_close(ctx, s->conn) == 0);
  } else {
    char *out = malloc(len + 1);
    memcpy(out, d, len);
    out[len] = '\n';
    check_write(s, tr_conn_write(ctx, s->conn, out, len + 1));
    free(out);
  }
}

/* The peer is done sending: what came before is answered (in order, it was delivered
 * first), so close; MODE_LINGER leaves it to the connection's linger. */
static inline void on_eof(tr_ctx_t *ctx, peer_t *s, const tr_msg_t *m) {
  tr_conn_t c;
  check(s->f, tr_msg_tcp_eof(m, &c) == 0 && c.id == s->conn.id && tr_msg_ref(m) == c.id);
  check(s->f, !s->eof);
  s->eof = true;
  if (s->a != MODE_LINGER)
    check_write(s, tr_conn_close(ctx, s->conn));
}

static inline int echo_receive(tr_ctx_t *ctx, void *state, const tr_msg_t *m) {
  peer_t *s = state;
  if (tr_msg_tag(m) == TR_ATOM_TCP_OPEN)
    report_opened(ctx, s, m);
  else if (tr_msg_tag(m) == TR_ATOM_TCP_CLOSED)
    report_closed(ctx, s, m);
  else if (tr_msg_tag(m) == TR_ATOM_TCP_DATA)
    echo(ctx, s, m);
  else if (tr_msg_tag(m) == TR_ATOM_TCP_EOF)
    on_eof(ctx, s, m);
  return 0;
}

static const tr_behaviour_t echo_behaviour = {
    .name = "echo", .state_size = sizeof(peer_t), .init = peer_init, .receive = echo_receive};

/* ---- fixture ---- */

static inline int setup(void **state) {
  fix_t *f = calloc(1, sizeof *f);
  assert_non_null(f);
  f->sys = sup_system_new(2, 0);
  assert_int_equal(tr_client_open(f->sys, &f->client), 0);
  f->me = tr_client_pid(f->client);
  f->opened = tr_atom(f->sys, "opened");
  f->closed = tr_atom(f->sys, "closed");
  f->line = tr_atom(f->sys, "line");
  f->done = tr_atom(f->sys, "done");
  f->pump = tr_atom(f->sys, "pump");
  f->quit = tr_atom(f->sys, "quit");
  f->listening = tr_atom(f->sys, "listening");
  f->paused = tr_atom(f->sys, "paused");
  f->count = tr_atom(f->sys, "count");
  f->blob = malloc(BLOB_SIZE);
  assert_non_null(f->blob);
  memset(f->blob, 'y', BLOB_SIZE);
  *state = f;
  return 0;
}

static inline int teardown(void **state) {
  fix_t *f = *state;
  for (size_t i = 0; i < f->nheld; i++)
    tr_msg_free(f->held[i]);
  tr_client_close(f->client);
  tr_system_free(f->sys);
  assert_int_equal(sup_read(&f->bad), 0);
  free(f->blob);
  free(f);
  return 0;
}

/* The next report with this tag; others that come first are held for later. */
static inline tr_msg_t *expect(fix_t *f, tr_atom_t tag) {
  for (size_t i = 0; i < f->nheld; i++) {
    if (tr_msg_tag(f->held[i]) == tag) {
      tr_msg_t *m = f->held[i];
      memmove(&f->held[i], &f->held[i + 1], (f->nheld - i - 1) * sizeof f->held[0]);
      f->nheld--;
      return m;
    }
  }
  for (;;) {
    tr_msg_t *m = sup_receive(f->client);
    if (tr_msg_tag(m) == tag)
      return m;
    assert_true(f->nheld < HELD_MAX);
    f->held[f->nheld++] = m;
  }
}

/* An "opened" report: the connection id; peer and local may be NULL. */
static inline uint64_t expect_opened(fix_t *f, char *peer, char *local) {
  tr_msg_t *m = expect(f, f->opened);
  uint64_t id;
  const char *p, *l;
  size_t pn, ln;
  assert_int_equal(tr_msg_unpack(m, "[uss]", &id, &p, &pn, &l, &ln), 0);
  if (peer)
    snprintf(peer, TR_ADDR_MAX, "%.*s", (int)pn, p);
  if (local)
    snprintf(local, TR_ADDR_MAX, "%.*s", (int)ln, l);
  tr_msg_free(m);
  return id;
}

/* A "closed" report: its reason; the connection id goes to *id. */
static inline int expect_closed(fix_t *f, uint64_t *id) {
  tr_msg_t *m = expect(f, f->closed);
  uint64_t c;
  int64_t reason;
  assert_int_equal(tr_msg_unpack(m, "[ui]", &c, &reason), 0);
  tr_msg_free(m);
  if (id)
    *id = c;
  return (int)reason;
}

/* Listen from outside on bind:0 with behaviour b, whose actors start from [fix, me, a, 0].
 * conn NULL: the default options with the lines codec. */
static inline tr_listener_t listen_on(fix_t *f, const tr_behaviour_t *b, const char *bind,
                                      const tr_conn_opts_t *conn, uint64_t a, uint16_t *port) {
  unsigned char init[64];
  size_t len;
  assert_int_equal(
      tr_pack_into(init, sizeof init, &len, "[uuuu]", sup_ptr(f), f->me.id, a, (uint64_t)0), 0);
  tr_listen_opts_t o = {.bind = bind, .behaviour = b, .init = init, .init_len = len};
  o.conn.codec.kind = TR_CODEC_LINES;
  if (conn)
    o.conn = *conn;
  tr_listener_t l = {0};
  assert_int_equal(tr_listen(tr_system_ctx(f->sys), &o, &l), 0);
  *port = tr_listener_port(f->sys, l);
  assert_true(*port != 0);
  return l;
}

#endif
