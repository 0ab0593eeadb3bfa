/* Tests of requests between actors (tr_request, tr_reply; include/troupe/timer.h): a reply
 * reaches the requester carrying its request's reference; a request nobody answers ends in
 * one TR_ATOM_TIMEOUT with that reference; a reply that comes after its timeout is dropped;
 * and many requests in flight at once are each matched to their own reference. A requester
 * actor does the asking and checks every message it gets; servers answer (or do not); the
 * test reads the requester's tallies through its client. */
#include "support/support.h"

/* Requests one requester may have in flight in these tests. */
#define REQ_MAX 1024u
/* How long a request that is never answered waits: short, so the tests stay quick. */
#define SHORT_TIMEOUT_MS 100u
/* How long the slow server takes to answer: far past SHORT_TIMEOUT_MS, so the timeout
 * comes first even when the I/O thread is held up on a loaded machine. */
#define SLOW_REPLY_MS 600u

/* Where a requester sends request i (see plan()). */
enum { MODE_ANSWERED = 1, MODE_MIXED, MODE_IGNORED, MODE_SLOW, MODE_STAGGERED };
/* The state of request i at the requester. */
enum { PENDING = 0, REPLIED, TIMED_OUT };

typedef struct {
  tr_system_t *sys;
  tr_client_t *client;
  tr_atom_t go, ask, ignore, slow, replied, done, late;
} fix_t;

/* ---- the servers ---- */

typedef struct {
  fix_t *f;
} server_t;

static int server_init(tr_ctx_t *ctx, void *state, const tr_msg_t *init) {
  (void)ctx;
  ((server_t *)state)->f = sup_init_ptr(init);
  return 0;
}

/* ask [i]: reply [i] at once; slow [i]: reply after SLOW_REPLY_MS, then tell the requester
 * that the reply has gone (from the same sender, so after it); ignore: nothing. */
static int server_receive(tr_ctx_t *ctx, void *state, const tr_msg_t *m) {
  fix_t *f = ((server_t *)state)->f;
  tr_atom_t tag = tr_msg_tag(m);
  uint64_t i = sup_arg_u(m, 0, UINT64_MAX);
  if (tag == f->ask) {
    tr_replyf(ctx, m, 0, "[u]", i);
  } else if (tag == f->slow) {
    sup_sleep_ms(SLOW_REPLY_MS); /* blocks one worker; the other runs the requester */
    tr_replyf(ctx, m, 0, "[u]", i);
    tr_send(ctx, tr_msg_from(m), f->replied, NULL, 0);
  }
  return 0;
}

static const tr_behaviour_t server_behaviour = {.name = "server",
                                                .state_size = sizeof(server_t),
                                                .init = server_init,
                                                .receive = server_receive};

/* ---- the requester ---- */

typedef struct {
  fix_t *f;
  tr_pid_t report, answer[2], ignore;
  uint64_t n, mode, resolved, replied, timed_out, failed, bad, late;
  uint64_t ref[REQ_MAX];
  uint64_t due_ns[REQ_MAX]; /* no timeout may come before this */
  tr_pid_t to[REQ_MAX];
  uint8_t status[REQ_MAX];
} requester_t;

/* Request i of a run: its server, tag and timeout. Answered requests get a timeout far past
 * any reply time, so only the ignored (or slow) ones time out. */
static void plan(const requester_t *s, uint64_t i, tr_pid_t *to, tr_atom_t *tag,
                 uint64_t *timeout) {
  bool ignored =
      s->mode == MODE_IGNORED || s->mode == MODE_STAGGERED || (s->mode == MODE_MIXED && i % 4 == 3);
  *to = ignored ? s->ignore : s->answer[i % 2];
  *tag = ignored ? s->f->ignore : s->mode == MODE_SLOW ? s->f->slow : s->f->ask;
  *timeout = ignored || s->mode == MODE_SLOW ? SHORT_TIMEOUT_MS : SUP_WAIT_MS;
  if (s->mode == MODE_STAGGERED) /* later requests often time out first */
    *timeout = 5 + (i * 37 % 16) * 7;
}

/* go [answer0, answer1, ignore, n, mode]: send the n requests and check their refs. */
static void start(tr_ctx_t *ctx, requester_t *s, const tr_msg_t *m) {
  s->report = tr_msg_from(m);
  s->answer[0] = (tr_pid_t){sup_arg_u(m, 0, 0)};
  s->answer[1] = (tr_pid_t){sup_arg_u(m, 1, 0)};
  s->ignore = (tr_pid_t){sup_arg_u(m, 2, 0)};
  s->n = sup_arg_u(m, 3, 0);
  s->mode = sup_arg_u(m, 4, 0);
  if (s->n > REQ_MAX) {
    s->n = 0;
    s->bad++;
  }
  uint64_t unused;
  s->bad += tr_request(ctx, s->answer[0], 0, NULL, 0, 1, &unused) != TR_EINVAL; /* bad tag */
  for (uint64_t i = 0; i < s->n; i++) {
    tr_atom_t tag;
    uint64_t timeout;
    unsigned char buf[16];
    size_t len;
    plan(s, i, &s->to[i], &tag, &timeout);
    s->bad += tr_pack_into(buf, sizeof buf, &len, "[u]", i) != 0;
    s->due_ns[i] = sup_now_ns() + timeout * 1000000u;
    s->bad += tr_request(ctx, s->to[i], tag, buf, len, timeout, &s->ref[i]) != 0;
    for (uint64_t k = 0; k < i; k++) /* every reference is new */
      s->bad += s->ref[k] == s->ref[i] || s->ref[i] == 0;
  }
}

/* The request a message answers (its ref and, for replies, its payload agree), or n. */
static uint64_t match(const requester_t *s, const tr_msg_t *m, bool reply) {
  uint64_t ref = tr_msg_ref(m);
  if (reply) {
    uint64_t i = sup_arg_u(m, 0, UINT64_MAX);
    bool ok = i < s->n && s->ref[i] == ref && tr_pid_eq(tr_msg_from(m), s->to[i]);
    return ok ? i : s->n;
  }
  for (uint64_t i = 0; i < s->n; i++)
    if (s->ref[i] == ref)
      return i;
  return s->n;
}

static void resolve(tr_ctx_t *ctx, requester_t *s, const tr_msg_t *m, bool reply) {
  uint64_t i = match(s, m, reply);
  if (s->resolved == s->n) { /* everything was settled: this one should never have come */
    s->late++;
    return;
  }
  if (i == s->n || s->status[i] != PENDING) {
    s->bad++;
    return;
  }
  /* A request whose target was not alive fails at once, its TIMEOUT saying "noproc". */
  const char *why;
  size_t why_len;
  bool failed = !reply && tr_msg_unpack(m, "s", &why, &why_len) == 0 && why_len == 6 &&
                memcmp(why, "noproc", 6) == 0;
  if (!reply && !failed && sup_now_ns() < s->due_ns[i])
    s->bad++; /* a timeout before its time */
  s->status[i] = reply ? REPLIED : TIMED_OUT;
  s->replied += reply;
  s->timed_out += !reply && !failed;
  s->failed += failed;
  if (++s->resolved == s->n)
    tr_sendf(ctx, s->report, s->f->done, "[uuuu]", s->replied, s->timed_out, s->bad, s->failed);
}

static int requester_init(tr_ctx_t *ctx, void *state, const tr_msg_t *init) {
  (void)ctx;
  ((requester_t *)state)->f = sup_init_ptr(init);
  return 0;
}

static int requester_receive(tr_ctx_t *ctx, void *state, const tr_msg_t *m) {
  requester_t *s = state;
  tr_atom_t tag = tr_msg_tag(m);
  if (tag == s->f->go)
    start(ctx, s, m);
  else if (tag == TR_ATOM_REPLY)
    resolve(ctx, s, m, true);
  else if (tag == TR_ATOM_TIMEOUT)
    resolve(ctx, s, m, false);
  else if (tag == s->f->replied) /* the slow server's reply went before this */
    tr_sendf(ctx, s->report, s->f->late, "[uu]", s->late, s->bad);
  else
    s->bad++;
  return 0;
}

static const tr_behaviour_t requester_behaviour = {.name = "requester",
                                                   .state_size = sizeof(requester_t),
                                                   .init = requester_init,
                                                   .receive = requester_receive};

/* ---- fixtures and helpers ---- */

typedef struct {
  fix_t f;
  tr_pid_t requester, answer[2], ignore;
} world_t;

static tr_pid_t spawn_with_fix(fix_t *f, const tr_behaviour_t *b) {
  tr_pid_t pid;
  assert_int_equal(tr_spawnf(tr_system_ctx(f->sys), b, &pid, "[u]", sup_ptr(f)), 0);
  return pid;
}

static int setup(void **state) {
  world_t *w = calloc(1, sizeof *w);
  assert_non_null(w);
  fix_t *f = &w->f;
  f->sys = sup_system_new(2, 0);
  assert_int_equal(tr_client_open(f->sys, &f->client), 0);
  const char *names[] = {"go", "ask", "ignore", "slow", "replied", "done", "late"};
  tr_atom_t *atoms[] = {&f->go, &f->ask, &f->ignore, &f->slow, &f->replied, &f->done, &f->late};
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
    assert_int_not_equal(*atoms[i] = tr_atom(f->sys, names[i]), 0);
  w->requester = spawn_with_fix(f, &requester_behaviour);
  w->answer[0] = spawn_with_fix(f, &server_behaviour);
  w->answer[1] = spawn_with_fix(f, &server_behaviour);
  w->ignore = spawn_with_fix(f, &server_behaviour);
  *state = w;
  return 0;
}

static int teardown(void **state) {
  world_t *w = *state;
  tr_client_close(w->f.client);
  tr_system_free(w->f.sys);
  free(w);
  return 0;
}

/* Start a run of n requests in `mode` and wait for its tallies. */
/* Requests that failed at once (their target not alive) must be none unless `failed` is
 * given. */
static void run_failing(world_t *w, uint64_t n, uint64_t mode, uint64_t *replied,
                        uint64_t *timed_out, uint64_t *failed) {
  fix_t *f = &w->f;
  assert_int_equal(tr_sendf(tr_client_ctx(f->client), w->requester, f->go, "[uuuuu]",
                            w->answer[0].id, w->answer[1].id, w->ignore.id, n, mode),
                   0);
  tr_msg_t *m = sup_receive(f->client);
  uint64_t bad, nfailed;
  assert_int_equal(tr_msg_tag(m), f->done);
  assert_int_equal(tr_msg_unpack(m, "[uuuu]", replied, timed_out, &bad, &nfailed), 0);
  tr_msg_free(m);
  assert_int_equal(bad, 0);
  if (failed)
    *failed = nfailed;
  else
    assert_int_equal(nfailed, 0);
}

static void run(world_t *w, uint64_t n, uint64_t mode, uint64_t *replied, uint64_t *timed_out) {
  run_failing(w, n, mode, replied, timed_out, NULL);
}

/* ---- tests ---- */

/* Guards against a reply losing its request's reference (or coming from someone else). */
static void reply_reaches_the_requester_with_its_ref(void **state) {
  world_t *w = *state;
  uint64_t replied, timed_out;
  run(w, 1, MODE_ANSWERED, &replied, &timed_out);
  assert_int_equal(replied, 1);
  assert_int_equal(timed_out, 0);
}

/* Guards against an unanswered request waiting forever, or timing out under another ref. */
static void unanswered_request_times_out_with_its_ref(void **state) {
  world_t *w = *state;
  uint64_t replied, timed_out;
  run(w, 3, MODE_IGNORED, &replied, &timed_out);
  assert_int_equal(replied, 0);
  assert_int_equal(timed_out, 3);
}

/* Guards against a request to a dead actor waiting out its timeout (or never ending): it
 * fails at once, a TIMEOUT with its reference saying "noproc" (before its deadline, which
 * resolve() accepts only for these). */
static void request_to_a_dead_pid_fails_at_once(void **state) {
  world_t *w = *state;
  tr_reason_t r;
  tr_reason_set(&r, TR_REASON_SHUTDOWN, 0, NULL);
  assert_int_equal(tr_exit(tr_system_ctx(w->f.sys), w->ignore, &r), 0);
  tr_actor_info_t info;
  uint64_t deadline = sup_now_ms() + SUP_WAIT_MS;
  while (tr_actor_info(w->f.sys, w->ignore, &info) == 0 && sup_now_ms() < deadline)
    sup_sleep_ms(1);
  uint64_t replied, timed_out, failed;
  run_failing(w, 2, MODE_IGNORED, &replied, &timed_out, &failed);
  assert_int_equal(failed, 2);
  assert_int_equal(timed_out, 0);
  assert_int_equal(replied, 0);
}

/* Guards against a reply that comes after its timeout reaching the requester anyway. */
static void late_reply_after_the_timeout_is_dropped(void **state) {
  world_t *w = *state;
  uint64_t replied, timed_out, late, bad;
  run(w, 1, MODE_SLOW, &replied, &timed_out);
  assert_int_equal(replied, 0);
  assert_int_equal(timed_out, 1);
  /* The server has replied by the time its "replied" notice reaches the requester. */
  tr_msg_t *m = sup_receive(w->f.client);
  assert_int_equal(tr_msg_tag(m), w->f.late);
  assert_int_equal(tr_msg_unpack(m, "[uu]", &late, &bad), 0);
  tr_msg_free(m);
  assert_int_equal(late, 0);
  assert_int_equal(bad, 0);
}

/* Guards against concurrent requests sharing refs or getting each other's replies or
 * timeouts, with replies from two servers interleaving and a quarter timing out. */
static void many_concurrent_requests_are_each_matched_to_their_own_ref(void **state) {
  world_t *w = *state;
  uint64_t replied, timed_out;
  run(w, REQ_MAX, MODE_MIXED, &replied, &timed_out);
  assert_int_equal(replied, REQ_MAX - REQ_MAX / 4);
  assert_int_equal(timed_out, REQ_MAX / 4);
}

/* Guards against timeouts that are not in the order of the requests: each times out once,
 * with its own reference, never before its deadline, however the deadlines interleave. */
static void requests_with_interleaved_deadlines_each_time_out_on_time(void **state) {
  world_t *w = *state;
  uint64_t replied, timed_out;
  run(w, 200, MODE_STAGGERED, &replied, &timed_out);
  assert_int_equal(replied, 0);
  assert_int_equal(timed_out, 200);
}

/* Guards against tr_request from outside a handler, where no timeout could be delivered. */
static void request_from_outside_a_handler_is_rejected(void **state) {
  world_t *w = *state;
  uint64_t ref = 0;
  tr_pid_t to = w->answer[0];
  assert_int_equal(tr_request(tr_system_ctx(w->f.sys), to, w->f.ask, NULL, 0, 10, &ref), TR_EINVAL);
  assert_int_equal(tr_request(tr_client_ctx(w->f.client), to, w->f.ask, NULL, 0, 10, &ref),
                   TR_EINVAL);
  tr_msg_t *m = NULL;
  assert_int_equal(tr_client_receive(w->f.client, 50, &m), TR_ETIMEDOUT);
}

/* ---- forwarding: a router that passes every message on to the pid in its state ---- */

static int router_init(tr_ctx_t *ctx, void *state, const tr_msg_t *init) {
  (void)ctx;
  *(tr_pid_t *)state = (tr_pid_t){sup_arg_u(init, 0, 0)};
  return 0;
}

static int router_receive(tr_ctx_t *ctx, void *state, const tr_msg_t *m) {
  return tr_forward(ctx, *(tr_pid_t *)state, m);
}

static const tr_behaviour_t router_behaviour = {.name = "router",
                                                .state_size = sizeof(tr_pid_t),
                                                .init = router_init,
                                                .receive = router_receive};

/* Guards tr_forward: a request passed on by a router keeps its sender and reference, so
 * the server's tr_reply reaches the one who asked (the router never sees it), matched. */
static void a_forwarded_request_is_answered_to_the_one_who_asked(void **state) {
  world_t *w = *state;
  tr_pid_t router;
  assert_int_equal(
      tr_spawnf(tr_client_ctx(w->f.client), &router_behaviour, &router, "[u]", w->answer[0].id), 0);
  for (uint64_t i = 0; i < 100; i++) {
    unsigned char req[16];
    size_t len;
    assert_int_equal(tr_pack_into(req, sizeof req, &len, "[u]", i), 0);
    tr_msg_t *reply = NULL;
    assert_int_equal(
        tr_client_request(w->f.client, router, w->f.ask, req, len, SUP_WAIT_MS, &reply), 0);
    assert_true(tr_pid_eq(tr_msg_from(reply), w->answer[0]));
    assert_int_equal(sup_arg_u(reply, 0, UINT64_MAX), i);
    tr_msg_free(reply);
  }
  assert_int_equal(tr_forward(tr_client_ctx(w->f.client), router, NULL), TR_EINVAL);
}

#define TEST(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int main(void) {
  const struct CMUnitTest tests[] = {
      TEST(reply_reaches_the_requester_with_its_ref),
      TEST(unanswered_request_times_out_with_its_ref),
      TEST(request_to_a_dead_pid_fails_at_once),
      TEST(late_reply_after_the_timeout_is_dropped),
      TEST(many_concurrent_requests_are_each_matched_to_their_own_ref),
      TEST(requests_with_interleaved_deadlines_each_time_out_on_time),
      TEST(request_from_outside_a_handler_is_rejected),
      TEST(a_forwarded_request_is_answered_to_the_one_who_asked),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
