/* Tests of clients (actors/client.c), the way a thread that is not an actor talks to actors:
 * a request gets the reply carrying its reference; an unanswered request times out; a reply
 * that comes after its request gave up is dropped, neither returned by a later receive nor
 * taken for the reply of a later request; messages that arrive during a request are kept, in
 * order; a zero timeout polls; a message of one unsigned integer, which tr_sendf and
 * tr_msg_unpack take without the format walk, reads as the walk reads it; many clients at
 * once; and a blocked receive wakes up with TR_ESTOPPED when the system stops. */
#include <pthread.h>

#include "support/support.h"
#include "mailbox/envelope.h" /* the server keeps a copy of a request's header to reply later */

/* A request that is meant to time out waits this long: short, since it must expire. */
#define SHORT_TIMEOUT_MS 50

typedef struct {
  tr_system_t *sys;
  tr_client_t *client;
  tr_atom_t echo, echo_tag, pong, ignore, late, go, after, chatter, note;
  _Atomic int waiter_rc; /* what a receive blocked in another thread returned */
  bool abandoned;        /* a thread that never returned still uses this fixture */
} fix_t;

/* The server's state: the request it answers late, if any. */
typedef struct {
  fix_t *f;
  bool has_late;
  struct tr_msg late; /* the header of a 'late' request (what tr_reply reads: from, ref) */
} server_t;

static int server_init(tr_ctx_t *ctx, void *state, const tr_msg_t *init) {
  (void)ctx;
  server_t *s = state;
  s->f = sup_init_ptr(init);
  return 0;
}

/* Send `n` notes numbered from `first` to `to`. */
static void notes(tr_ctx_t *ctx, fix_t *f, tr_pid_t to, uint64_t first, uint64_t n) {
  for (uint64_t i = first; i < first + n; i++)
    tr_sendf(ctx, to, f->note, "[u]", i);
}

static int server_receive(tr_ctx_t *ctx, void *state, const tr_msg_t *m) {
  server_t *s = state;
  fix_t *f = s->f;
  tr_atom_t tag = tr_msg_tag(m);
  size_t len;
  const void *data = tr_msg_data(m, &len);
  if (tag == f->echo) {
    tr_reply(ctx, m, 0, data, len);
  } else if (tag == f->echo_tag) {
    tr_reply(ctx, m, f->pong, data, len);
  } else if (tag == f->late) {
    memcpy(&s->late, m, sizeof s->late);
    s->late.store = TR_STORE_INLINE; /* the copy owns no payload */
    s->late.len = 0;
    s->has_late = true;
  } else if (tag == f->go && s->has_late) {
    tr_replyf(ctx, &s->late, 0, "[s]", "too late");
    s->has_late = false;
    tr_send(ctx, tr_msg_from(m), f->after, NULL, 0);
  } else if (tag == f->chatter) {
    uint64_t before = sup_arg_u(m, 0, 0), after = sup_arg_u(m, 1, 0);
    notes(ctx, f, tr_msg_from(m), 0, before);
    tr_replyf(ctx, m, 0, "[u]", (uint64_t)4242);
    notes(ctx, f, tr_msg_from(m), before, after);
  }
  return 0; /* `ignore` and anything else: no answer */
}

static const tr_behaviour_t server_behaviour = {.name = "server",
                                                .state_size = sizeof(server_t),
                                                .init = server_init,
                                                .receive = server_receive};

static int setup(void **state) {
  fix_t *f = calloc(1, sizeof *f);
  assert_non_null(f);
  f->sys = sup_system_new(2, 0);
  assert_int_equal(tr_client_open(f->sys, &f->client), 0);
  const char *names[] = {"echo", "echo_tag", "pong",    "ignore", "late",
                         "go",   "after",    "chatter", "note"};
  tr_atom_t *atoms[] = {&f->echo, &f->echo_tag, &f->pong,    &f->ignore, &f->late,
                        &f->go,   &f->after,    &f->chatter, &f->note};
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
    assert_int_not_equal(*atoms[i] = tr_atom(f->sys, names[i]), 0);
  *state = f;
  return 0;
}

static int teardown(void **state) {
  fix_t *f = *state;
  if (f->abandoned)
    return 0;
  if (f->client)
    tr_client_close(f->client);
  tr_system_free(f->sys);
  free(f);
  return 0;
}

static tr_pid_t spawn_server(fix_t *f) {
  tr_pid_t pid;
  assert_int_equal(tr_spawnf(tr_system_ctx(f->sys), &server_behaviour, &pid, "[u]", sup_ptr(f)), 0);
  return pid;
}

/* Request an echo of "[uu]" (a, b); true when the reply carries exactly that, from the
 * server, with the default reply tag. No cmocka asserts: threads call it too. */
static bool echo_ok(tr_client_t *c, tr_pid_t server, tr_atom_t echo, uint64_t a, uint64_t b) {
  unsigned char buf[32];
  size_t len, got_len;
  tr_msg_t *r = NULL;
  if (tr_pack_into(buf, sizeof buf, &len, "[uu]", a, b) != 0 ||
      tr_client_request(c, server, echo, buf, len, SUP_WAIT_MS, &r) != 0)
    return false;
  const void *got = tr_msg_data(r, &got_len);
  bool ok = tr_msg_tag(r) == TR_ATOM_REPLY && tr_pid_eq(tr_msg_from(r), server) && got_len == len &&
            memcmp(got, buf, len) == 0;
  tr_msg_free(r);
  return ok;
}

static void expect_echo(tr_client_t *c, tr_pid_t server, tr_atom_t echo, uint64_t a, uint64_t b) {
  assert_true(echo_ok(c, server, echo, a, b));
}

/* Receive a note and check its number. */
static void expect_note(fix_t *f, uint64_t want) {
  tr_msg_t *m = sup_receive(f->client);
  uint64_t n = UINT64_MAX;
  assert_int_equal(tr_msg_tag(m), f->note);
  assert_int_equal(tr_msg_unpack(m, "[u]", &n), 0);
  assert_int_equal(n, want);
  tr_msg_free(m);
}

static void expect_nothing_queued(fix_t *f) {
  tr_msg_t *m = NULL;
  assert_int_equal(tr_client_receive(f->client, 0, &m), TR_ETIMEDOUT);
  assert_null(m);
}

/* ---- tests ---- */

/* Guards against replies losing their payload, sender, tag or reference. */
static void request_gets_the_reply_carrying_its_payload(void **state) {
  fix_t *f = *state;
  tr_pid_t server = spawn_server(f);
  for (uint64_t i = 0; i < 100; i++)
    expect_echo(f->client, server, f->echo, i, i * i);
  /* A reply with its own tag keeps it, and each request has its own reference. */
  tr_msg_t *r1 = NULL, *r2 = NULL;
  assert_int_equal(tr_client_request(f->client, server, f->echo_tag, NULL, 0, SUP_WAIT_MS, &r1), 0);
  assert_int_equal(tr_client_request(f->client, server, f->echo_tag, NULL, 0, SUP_WAIT_MS, &r2), 0);
  assert_int_equal(tr_msg_tag(r1), f->pong);
  assert_int_not_equal(tr_msg_ref(r1), 0);
  assert_int_not_equal(tr_msg_ref(r1), tr_msg_ref(r2));
  tr_msg_free(r1);
  tr_msg_free(r2);
  expect_nothing_queued(f);
}

/* Guards against a request waiting forever (or returning something) without a reply. */
static void request_times_out_when_the_actor_never_replies(void **state) {
  fix_t *f = *state;
  tr_pid_t server = spawn_server(f);
  tr_msg_t *r = NULL;
  assert_int_equal(tr_client_request(f->client, server, f->ignore, NULL, 0, SHORT_TIMEOUT_MS, &r),
                   TR_ETIMEDOUT);
  assert_null(r);
  /* A request to a dead pid fails at once (TR_ENOENT), long before its timeout. */
  tr_pid_t dead = spawn_server(f);
  tr_reason_t why;
  assert_int_equal(
      tr_exit(tr_system_ctx(f->sys), dead, tr_reason_set(&why, TR_REASON_SHUTDOWN, 0, NULL)), 0);
  assert_int_equal(sup_wait_actors(f->sys, 1), 1);
  assert_int_equal(tr_client_request(f->client, dead, f->echo, NULL, 0, SUP_WAIT_MS, &r),
                   TR_ENOENT);
  assert_null(r);
  /* The client still works. */
  expect_echo(f->client, server, f->echo, 1, 2);
}

/* Guards against a reply that arrives after its request timed out being handed to the next
 * tr_client_receive as if it were an ordinary message. */
static void late_reply_is_dropped_and_not_returned_by_the_next_receive(void **state) {
  fix_t *f = *state;
  tr_pid_t server = spawn_server(f);
  tr_msg_t *r = NULL;
  assert_int_equal(tr_client_request(f->client, server, f->late, NULL, 0, SHORT_TIMEOUT_MS, &r),
                   TR_ETIMEDOUT);
  /* Only now does the server reply, then send 'after'. */
  assert_int_equal(tr_send(tr_client_ctx(f->client), server, f->go, NULL, 0), 0);
  tr_msg_t *m = sup_receive(f->client);
  assert_int_equal(tr_msg_tag(m), f->after);
  tr_msg_free(m);
  expect_nothing_queued(f);
}

/* Guards against a late reply being taken for the reply of the request that follows. */
static void late_reply_is_not_taken_for_the_reply_of_the_next_request(void **state) {
  fix_t *f = *state;
  tr_pid_t server = spawn_server(f);
  tr_msg_t *r = NULL;
  assert_int_equal(tr_client_request(f->client, server, f->late, NULL, 0, SHORT_TIMEOUT_MS, &r),
                   TR_ETIMEDOUT);
  /* The late reply and 'after' reach the client before the echo's reply does. */
  assert_int_equal(tr_send(tr_client_ctx(f->client), server, f->go, NULL, 0), 0);
  expect_echo(f->client, server, f->echo, 7, 49);
  tr_msg_t *m = sup_receive(f->client); /* kept during the request */
  assert_int_equal(tr_msg_tag(m), f->after);
  tr_msg_free(m);
  expect_nothing_queued(f);
}

/* Guards against a request discarding, or reordering, the other messages it pops while it
 * waits for its reply. */
static void messages_arriving_during_a_request_are_kept_in_order(void **state) {
  fix_t *f = *state;
  enum { BEFORE = 50, AFTER = 50 };
  tr_pid_t server = spawn_server(f);
  /* One message already waiting when the request starts. */
  assert_int_equal(
      tr_sendf(tr_client_ctx(f->client), tr_client_pid(f->client), f->note, "[u]", (uint64_t)0), 0);
  unsigned char buf[16];
  size_t len;
  assert_int_equal(tr_pack_into(buf, sizeof buf, &len, "[uu]", (uint64_t)BEFORE, (uint64_t)AFTER),
                   0);
  tr_msg_t *r = NULL;
  assert_int_equal(tr_client_request(f->client, server, f->chatter, buf, len, SUP_WAIT_MS, &r), 0);
  uint64_t v;
  assert_int_equal(tr_msg_unpack(r, "[u]", &v), 0);
  assert_int_equal(v, 4242);
  tr_msg_free(r);
  expect_note(f, 0); /* the one that was waiting */
  for (uint64_t i = 0; i < BEFORE + AFTER; i++)
    expect_note(f, i);
  expect_nothing_queued(f);
}

/* Guards against a zero timeout blocking, or missing a message that is already there. */
static void receive_with_zero_timeout_polls(void **state) {
  fix_t *f = *state;
  expect_nothing_queued(f);
  tr_ctx_t *ctx = tr_client_ctx(f->client);
  for (uint64_t i = 0; i < 3; i++)
    assert_int_equal(tr_sendf(ctx, tr_client_pid(f->client), f->note, "[u]", i), 0);
  for (uint64_t i = 0; i < 3; i++) {
    tr_msg_t *m = NULL;
    assert_int_equal(tr_client_receive(f->client, 0, &m), 0);
    uint64_t n;
    assert_int_equal(tr_msg_unpack(m, "[u]", &n), 0);
    assert_int_equal(n, i);
    assert_true(tr_pid_eq(tr_msg_from(m), tr_client_pid(f->client)));
    tr_msg_free(m);
  }
  expect_nothing_queued(f);
}

typedef struct {
  fix_t *f;
  const tr_pid_t *servers;
  size_t nservers;
  uint64_t id;
  int rc;
} asker_t;

/* The next message the client sent itself. */
static tr_msg_t *self_sent(fix_t *f) {
  tr_msg_t *m = NULL;
  assert_int_equal(tr_client_receive(f->client, SUP_WAIT_MS, &m), 0);
  assert_non_null(m);
  return m;
}

/* m does not hold one unsigned integer: "u" fails as the walked " u" does; frees m. */
static void refused_as_by_the_walk(tr_msg_t *m) {
  uint64_t v = 7;
  int fast = tr_msg_unpack(m, "u", &v);
  assert_int_not_equal(fast, 0);
  assert_int_equal(fast, tr_msg_unpack(m, " u", &v));
  assert_int_equal(tr_msg_uint(m, &v), fast);
  tr_msg_free(m);
}

/* Guards the fast path of a format of exactly "u" (tr_sendf and tr_msg_unpack skip the
 * format walk for it) and its typed twins tr_send_uint and tr_msg_uint: every width of the
 * encoding, byte for byte what tr_pack writes, read back the same as through the walk; and
 * the walk's answers where the fast path must not take the message (a NULL pointer, more
 * values, another type, a negative integer). */
static void one_unsigned_integer_is_packed_and_read_as_the_walk_would(void **state) {
  fix_t *f = *state;
  tr_ctx_t *ctx = tr_client_ctx(f->client);
  tr_pid_t me = tr_client_pid(f->client);
  const uint64_t values[] = {
      0, 1, 127, 128, 255, 256, 65535, 65536, 0xffffffffu, UINT64_C(1) << 32, UINT64_MAX};
  for (size_t i = 0; i < 2 * sizeof values / sizeof values[0]; i++) {
    size_t k = i / 2; /* each value twice: by the format, then by tr_send_uint */
    if (i % 2 == 0)
      assert_int_equal(tr_sendf(ctx, me, f->note, "u", values[k]), 0);
    else
      assert_int_equal(tr_send_uint(ctx, me, f->note, values[k]), 0);
    tr_msg_t *m = self_sent(f);
    uint8_t want[16];
    size_t want_len, len;
    assert_int_equal(tr_pack_into(want, sizeof want, &want_len, " u", values[k]), 0);
    const void *got = tr_msg_data(m, &len);
    assert_int_equal(len, want_len);
    assert_memory_equal(got, want, len);
    uint64_t fast = 1, walked = 2;
    assert_int_equal(tr_msg_unpack(m, "u", &fast), 0);
    assert_int_equal(tr_msg_unpack(m, " u", &walked), 0); /* the same format, walked */
    assert_int_equal(fast, values[k]);
    assert_int_equal(walked, values[k]);
    assert_int_equal(tr_msg_unpack(m, "u", NULL), TR_EINVAL);
    uint64_t typed = 3;
    assert_int_equal(tr_msg_uint(m, &typed), 0);
    assert_int_equal(typed, values[k]);
    assert_int_equal(tr_msg_uint(m, NULL), TR_EINVAL);
    tr_msg_free(m);
  }
  /* Not one unsigned integer: the answer is the walk's, an error. */
  assert_int_equal(tr_sendf(ctx, me, f->note, "uu", (uint64_t)1, (uint64_t)2), 0);
  refused_as_by_the_walk(self_sent(f)); /* a value left over */
  assert_int_equal(tr_sendf(ctx, me, f->note, "s", "12"), 0);
  refused_as_by_the_walk(self_sent(f));
  assert_int_equal(tr_sendf(ctx, me, f->note, "i", (int64_t)-5), 0);
  refused_as_by_the_walk(self_sent(f));
  assert_int_equal(tr_send(ctx, me, f->note, NULL, 0), 0);
  refused_as_by_the_walk(self_sent(f)); /* no payload at all */
  /* A positive 'i' is encoded as msgpack's unsigned integers are: "u" reads it. */
  assert_int_equal(tr_sendf(ctx, me, f->note, "i", (int64_t)300), 0);
  tr_msg_t *m = self_sent(f);
  uint64_t v = 0;
  assert_int_equal(tr_msg_unpack(m, "u", &v), 0);
  assert_int_equal(v, 300);
  v = 0;
  assert_int_equal(tr_msg_uint(m, &v), 0);
  assert_int_equal(v, 300);
  tr_msg_free(m);
}

static void *asker(void *arg) {
  asker_t *a = arg;
  tr_client_t *c;
  if ((a->rc = tr_client_open(a->f->sys, &c)) != 0)
    return NULL;
  for (uint64_t i = 0; i < 300 && a->rc == 0; i++)
    if (!echo_ok(c, a->servers[i % a->nservers], a->f->echo, a->id, i))
      a->rc = 1;
  tr_client_close(c);
  return NULL;
}

/* Guards against replies crossing between clients, and lost wake-ups under contention. */
static void many_clients_request_at_once(void **state) {
  fix_t *f = *state;
  enum { THREADS = 8, SERVERS = 3 };
  tr_pid_t servers[SERVERS];
  for (int s = 0; s < SERVERS; s++)
    servers[s] = spawn_server(f);
  pthread_t th[THREADS];
  asker_t a[THREADS];
  for (int t = 0; t < THREADS; t++) {
    a[t] = (asker_t){f, servers, SERVERS, (uint64_t)t, -1};
    assert_int_equal(pthread_create(&th[t], NULL, asker, &a[t]), 0);
  }
  for (int t = 0; t < THREADS; t++) {
    pthread_join(th[t], NULL);
    assert_int_equal(a[t].rc, 0);
  }
}

static void *wait_forever(void *arg) {
  fix_t *f = arg;
  tr_msg_t *m = NULL;
  int rc = tr_client_receive(f->client, -1, &m);
  tr_msg_free(m);
  atomic_store_explicit(&f->waiter_rc, rc, memory_order_release);
  return NULL;
}

/* Guards against a client blocked without timeout sleeping through the system's stop. */
static void blocked_receive_returns_estopped_when_the_system_stops(void **state) {
  fix_t *f = *state;
  tr_pid_t server = spawn_server(f);
  atomic_store_explicit(&f->waiter_rc, 1, memory_order_relaxed);
  pthread_t th;
  assert_int_equal(pthread_create(&th, NULL, wait_forever, f), 0);
  tr_system_stop(f->sys);
  struct timespec until;
  clock_gettime(CLOCK_REALTIME, &until);
  until.tv_sec += SUP_WAIT_MS / 1000;
  if (pthread_timedjoin_np(th, NULL, &until) != 0) {
    f->abandoned = true; /* the thread still uses the fixture: leave it all allocated */
    fail_msg("tr_client_receive(-1) still blocked after tr_system_stop");
  }
  assert_int_equal(atomic_load_explicit(&f->waiter_rc, memory_order_acquire), TR_ESTOPPED);
  tr_msg_t *m = NULL;
  assert_int_equal(tr_client_receive(f->client, SHORT_TIMEOUT_MS, &m), TR_ESTOPPED);
  assert_int_equal(tr_client_request(f->client, server, f->echo, NULL, 0, SHORT_TIMEOUT_MS, &m),
                   TR_ESTOPPED);
  assert_null(m);
}

int main(void) {
  sup_filter_from_env();
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(request_gets_the_reply_carrying_its_payload, setup, teardown),
      cmocka_unit_test_setup_teardown(request_times_out_when_the_actor_never_replies, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(late_reply_is_dropped_and_not_returned_by_the_next_receive,
                                      setup, teardown),
      cmocka_unit_test_setup_teardown(late_reply_is_not_taken_for_the_reply_of_the_next_request,
                                      setup, teardown),
      cmocka_unit_test_setup_teardown(messages_arriving_during_a_request_are_kept_in_order, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(receive_with_zero_timeout_polls, setup, teardown),
      cmocka_unit_test_setup_teardown(one_unsigned_integer_is_packed_and_read_as_the_walk_would,
                                      setup, teardown),
      cmocka_unit_test_setup_teardown(many_clients_request_at_once, setup, teardown),
      cmocka_unit_test_setup_teardown(blocked_receive_returns_estopped_when_the_system_stops, setup,
                                      teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
