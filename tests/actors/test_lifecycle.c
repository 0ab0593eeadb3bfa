/* Tests of an actor's life (actors/actor.c, turn.c, send.c): init sees its payload and can
 * refuse to start or stop at once; messages from one sender are handled in order; every way
 * of ending (tr_stop, a failing receive, tr_exit of another or of oneself) runs terminate
 * exactly once with the right reason, and what terminate sends is delivered; pointer payloads
 * are freed exactly once whoever ends up with them; big payloads survive the trip; and the
 * counters of tr_actor_info and tr_system_stats add up to what the test did. */
#include "support/support.h"

/* Flags of a probe's init payload. */
enum {
  PROBE_ECHO_INIT = 1u,    /* init sends its payload back to the report pid */
  PROBE_FAIL_INIT = 2u,    /* init returns PROBE_INIT_ERROR */
  PROBE_STOP_IN_INIT = 4u, /* init calls tr_stop */
};
#define PROBE_INIT_ERROR 7
/* Messages each ordering test sends: enough for many batches and pool refills. */
#define ORDER_COUNT 100000u

typedef struct {
  tr_system_t *sys;
  tr_client_t *client;
  tr_atom_t ping, seq, ask, stop, fail, exit_self, emit, block, box, take, drop, blob, spawn;
  tr_atom_t inited, reason, tick;
  _Atomic uint64_t inits, terminates, handled, bad, frees, entered, release;
  sup_keep_t keep;
} fix_t;

/* A probe's state; the test reaches it only through messages. */
typedef struct {
  fix_t *f;
  tr_pid_t report; /* where init and terminate report */
  uint64_t burst;  /* numbered messages terminate sends after the reason */
  uint64_t received, next_seq, out_of_order;
  void *kept; /* a pointer payload taken with tr_msg_take_ptr */
} probe_t;

/* A counted pointer payload. */
static void *box(fix_t *f) { return sup_box_new(&f->frees); }

static int probe_init(tr_ctx_t *ctx, void *state, const tr_msg_t *init) {
  probe_t *s = state;
  s->f = sup_init_ptr(init);
  s->report = (tr_pid_t){sup_arg_u(init, 1, 0)};
  uint64_t flags = sup_arg_u(init, 2, 0);
  s->burst = sup_arg_u(init, 3, 0);
  sup_bump(&s->f->inits);
  if (flags & PROBE_ECHO_INIT) {
    size_t len;
    const void *data = tr_msg_data(init, &len);
    bool ok = tr_msg_tag(init) == TR_ATOM_INIT;
    tr_send(ctx, s->report, ok ? s->f->inited : s->f->tick, data, len);
  }
  if (flags & PROBE_STOP_IN_INIT)
    tr_stop(ctx);
  return flags & PROBE_FAIL_INIT ? PROBE_INIT_ERROR : 0;
}

/* Wait (bounded) for the test to set f->release. */
static void wait_for_release(fix_t *f) {
  sup_bump(&f->entered);
  sup_wait_count(&f->release, 1);
}

static void on_box(fix_t *f, const tr_msg_t *m) {
  size_t len = 99;
  if (!tr_msg_ptr(m) || tr_msg_data(m, &len) != NULL || len != 0)
    sup_bump(&f->bad);
  sup_bump(&f->handled);
}

/* Check a blob's pattern and send it back. */
static void on_blob(tr_ctx_t *ctx, fix_t *f, const tr_msg_t *m) {
  size_t len;
  const unsigned char *b = tr_msg_data(m, &len);
  for (size_t i = 0; i < len; i++)
    if (b[i] != (unsigned char)(i * 7 + len))
      sup_bump(&f->bad);
  tr_reply(ctx, m, 0, b, len);
}

static const tr_behaviour_t probe_behaviour;

/* Spawn a child probe and send it a block before it can run; reply with its pid. */
static void on_spawn(tr_ctx_t *ctx, probe_t *s, const tr_msg_t *m) {
  tr_pid_t child = TR_PID_NONE;
  if (tr_spawnf(ctx, &probe_behaviour, &child, "[uuuu]", sup_ptr(s->f), s->report.id, (uint64_t)0,
                (uint64_t)0) == 0)
    tr_send(ctx, child, s->f->block, NULL, 0);
  tr_replyf(ctx, m, 0, "[u]", child.id);
}

static int probe_receive(tr_ctx_t *ctx, void *state, const tr_msg_t *m) {
  probe_t *s = state;
  fix_t *f = s->f;
  tr_atom_t tag = tr_msg_tag(m);
  s->received++;
  if (tag == f->ping) {
    sup_bump(&f->handled);
  } else if (tag == f->seq) {
    uint64_t n = sup_arg_u(m, 0, UINT64_MAX);
    s->out_of_order += n != s->next_seq;
    s->next_seq = n + 1;
  } else if (tag == f->ask) {
    tr_replyf(ctx, m, 0, "[uuu]", s->received, s->next_seq, s->out_of_order);
  } else if (tag == f->stop) {
    tr_stop(ctx);
  } else if (tag == f->fail) {
    return (int)sup_arg_u(m, 0, 1);
  } else if (tag == f->exit_self) {
    tr_reason_t r;
    tr_exit(ctx, tr_self(ctx), tr_reason_set(&r, TR_REASON_ERROR, 77, "self-inflicted"));
  } else if (tag == f->emit) {
    tr_pid_t to = {sup_arg_u(m, 0, 0)};
    for (uint64_t i = 0, n = sup_arg_u(m, 1, 0); i < n; i++)
      tr_sendf(ctx, to, f->seq, "[u]", i);
  } else if (tag == f->block) {
    wait_for_release(f);
  } else if (tag == f->box) {
    on_box(f, m);
  } else if (tag == f->take) {
    s->kept = tr_msg_take_ptr(m);
  } else if (tag == f->drop) {
    if (s->kept)
      sup_box_free(s->kept);
    s->kept = NULL;
    tr_reply(ctx, m, 0, NULL, 0);
  } else if (tag == f->blob) {
    on_blob(ctx, f, m);
  } else if (tag == f->spawn) {
    on_spawn(ctx, s, m);
  }
  return 0;
}

static void probe_terminate(tr_ctx_t *ctx, void *state, const tr_reason_t *r) {
  probe_t *s = state;
  sup_bump(&s->f->terminates);
  if (s->kept)
    sup_box_free(s->kept);
  if (tr_pid_is_none(s->report))
    return;
  tr_sendf(ctx, s->report, s->f->reason, "[iis]", (int64_t)r->kind, (int64_t)r->code, r->text);
  for (uint64_t i = 0; i < s->burst; i++)
    tr_sendf(ctx, s->report, s->f->tick, "[u]", i);
}

static const tr_behaviour_t probe_behaviour = {.name = "probe",
                                               .state_size = sizeof(probe_t),
                                               .init = probe_init,
                                               .receive = probe_receive,
                                               .terminate = probe_terminate};

/* An actor that remembers what init saw and answers any request with it. */
typedef struct {
  uint64_t init_tag, init_len, received;
} bare_t;

static int bare_init(tr_ctx_t *ctx, void *state, const tr_msg_t *init) {
  (void)ctx;
  bare_t *s = state;
  size_t len = 99;
  s->init_tag = tr_msg_tag(init);
  tr_msg_data(init, &len);
  s->init_len = len;
  return 0;
}

static int bare_receive(tr_ctx_t *ctx, void *state, const tr_msg_t *m) {
  bare_t *s = state;
  s->received++;
  tr_replyf(ctx, m, 0, "[uuu]", s->init_tag, s->init_len, s->received);
  return 0;
}

static const tr_behaviour_t bare_behaviour = {
    .name = "bare", .state_size = sizeof(bare_t), .init = bare_init, .receive = bare_receive};
static const tr_behaviour_t no_init_behaviour = {
    .name = "no-init", .state_size = sizeof(bare_t), .receive = bare_receive};

/* ---- fixtures ---- */

static int make_fixture(void **state, unsigned workers) {
  fix_t *f = calloc(1, sizeof *f);
  assert_non_null(f);
  f->sys = sup_system_new(workers, 0);
  assert_int_equal(tr_client_open(f->sys, &f->client), 0);
  const char *names[] = {"ping", "seq",  "ask",  "stop", "fail",   "exit_self", "emit", "block",
                         "box",  "take", "drop", "blob", "inited", "reason",    "tick", "spawn"};
  tr_atom_t *atoms[] = {&f->ping,   &f->seq,    &f->ask,  &f->stop, &f->fail, &f->exit_self,
                        &f->emit,   &f->block,  &f->box,  &f->take, &f->drop, &f->blob,
                        &f->inited, &f->reason, &f->tick, &f->spawn};
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
    assert_int_not_equal(*atoms[i] = tr_atom(f->sys, names[i]), 0);
  *state = f;
  return 0;
}

static int setup(void **state) { return make_fixture(state, 2); }
static int setup_one_worker(void **state) { return make_fixture(state, 1); }

static int teardown(void **state) {
  fix_t *f = *state;
  if (f->client)
    tr_client_close(f->client);
  tr_system_free(f->sys);
  sup_keep_free(&f->keep);
  free(f);
  return 0;
}

/* ---- helpers ---- */

static tr_pid_t spawn_probe(fix_t *f, uint64_t flags, uint64_t burst) {
  tr_pid_t pid;
  assert_int_equal(tr_spawnf(tr_system_ctx(f->sys), &probe_behaviour, &pid, "[uuuu]", sup_ptr(f),
                             tr_client_pid(f->client).id, flags, burst),
                   0);
  assert_false(tr_pid_is_none(pid));
  return pid;
}

/* Receive the reason a probe's terminate reported and compare it. */
static void expect_reason(fix_t *f, tr_reason_kind_t kind, int code, const char *text) {
  tr_msg_t *m = sup_receive(f->client);
  assert_int_equal(tr_msg_tag(m), f->reason);
  int64_t k, c;
  const char *s;
  size_t n;
  assert_int_equal(tr_msg_unpack(m, "[iis]", &k, &c, &s, &n), 0);
  assert_int_equal(k, kind);
  assert_int_equal(c, code);
  assert_int_equal(n, strlen(text));
  assert_memory_equal(s, text, n);
  tr_msg_free(m);
}

/* After an actor's end: it is gone, terminate ran exactly once, and nothing else came. */
static void expect_gone_after_one_terminate(fix_t *f, tr_pid_t pid) {
  assert_int_equal(tr_system_await(f->sys, SUP_WAIT_MS), 0);
  tr_actor_info_t info;
  assert_int_equal(tr_actor_info(f->sys, pid, &info), TR_ENOENT);
  assert_int_equal(sup_read(&f->terminates), 1);
  tr_msg_t *m = NULL;
  assert_int_equal(tr_client_receive(f->client, 0, &m), TR_ETIMEDOUT);
}

/* Ask a probe for (received, next_seq, out_of_order). */
static void ask_probe(fix_t *f, tr_pid_t pid, uint64_t out[3]) {
  tr_msg_t *r = sup_request(f->client, pid, f->ask);
  assert_int_equal(tr_msg_unpack(r, "[uuu]", &out[0], &out[1], &out[2]), 0);
  tr_msg_free(r);
}

/* Poll a probe until it has seen `n` numbered messages (bounded), then check their order. */
static void expect_sequence(fix_t *f, tr_pid_t pid, uint64_t n) {
  uint64_t got[3] = {0, 0, 0}, deadline = sup_now_ms() + SUP_WAIT_MS;
  do
    ask_probe(f, pid, got);
  while (got[1] < n && sup_now_ms() < deadline && (sup_sleep_ms(1), true));
  assert_int_equal(got[1], n);
  assert_int_equal(got[2], 0);
}

/* ---- tests ---- */

/* Guards against the init payload being lost, cut (it is far past the inline capacity) or
 * delivered under another tag. */
static void init_payload_reaches_init_callback(void **state) {
  fix_t *f = *state;
  enum { BIG = 100 * 1024 };
  unsigned char *big = sup_keep(&f->keep, malloc(BIG));
  for (size_t i = 0; i < BIG; i++)
    big[i] = (unsigned char)(i * 13);
  uint64_t me = tr_client_pid(f->client).id, flags = PROBE_ECHO_INIT, burst = 3;
  tr_pid_t pid;
  assert_int_equal(tr_spawnf(tr_system_ctx(f->sys), &probe_behaviour, &pid, "[uuuux]", sup_ptr(f),
                             me, flags, burst, (const void *)big, (size_t)BIG),
                   0);
  tr_msg_t *m = sup_receive(f->client);
  assert_int_equal(tr_msg_tag(m), f->inited); /* init saw tag TR_ATOM_INIT */
  assert_true(tr_pid_eq(tr_msg_from(m), pid));
  void *want;
  size_t want_len, len;
  assert_int_equal(tr_pack(&want, &want_len, "[uuuux]", sup_ptr(f), me, flags, burst,
                           (const void *)big, (size_t)BIG),
                   0);
  sup_keep(&f->keep, want);
  const void *got = tr_msg_data(m, &len);
  assert_int_equal(len, want_len);
  assert_memory_equal(got, want, len);
  tr_msg_free(m);
  assert_int_equal(sup_read(&f->inits), 1);
}

/* Guards against a spawn without payload skipping init or handing it a stray payload. */
static void spawn_without_payload_gives_init_an_empty_init_message(void **state) {
  fix_t *f = *state;
  tr_pid_t pid;
  assert_int_equal(tr_spawn(tr_system_ctx(f->sys), &bare_behaviour, NULL, 0, &pid), 0);
  tr_msg_t *r = sup_request(f->client, pid, f->ask);
  uint64_t tag, len, received;
  assert_int_equal(tr_msg_unpack(r, "[uuu]", &tag, &len, &received), 0);
  assert_int_equal(tag, TR_ATOM_INIT);
  assert_int_equal(len, 0);
  assert_int_equal(received, 1);
  tr_msg_free(r);
}

/* Guards against the init payload reaching receive when the behaviour has no init. */
static void init_payload_never_reaches_receive_when_there_is_no_init(void **state) {
  fix_t *f = *state;
  tr_pid_t pid;
  assert_int_equal(tr_spawnf(tr_system_ctx(f->sys), &no_init_behaviour, &pid, "[u]", sup_ptr(f)),
                   0);
  tr_msg_t *r = sup_request(f->client, pid, f->ask);
  uint64_t tag, len, received;
  assert_int_equal(tr_msg_unpack(r, "[uuu]", &tag, &len, &received), 0);
  assert_int_equal(received, 1); /* the request was the first message receive saw */
  tr_msg_free(r);
}

/* Guards against a failed init leaving the actor alive or running its terminate. */
static void init_returning_nonzero_ends_the_actor_without_terminate(void **state) {
  fix_t *f = *state;
  tr_pid_t pid = spawn_probe(f, PROBE_FAIL_INIT, 0);
  assert_int_equal(tr_system_await(f->sys, SUP_WAIT_MS), 0);
  tr_actor_info_t info;
  assert_int_equal(tr_actor_info(f->sys, pid, &info), TR_ENOENT);
  assert_int_equal(sup_read(&f->inits), 1);
  assert_int_equal(sup_read(&f->terminates), 0);
  tr_msg_t *m = NULL;
  assert_int_equal(tr_client_receive(f->client, 0, &m), TR_ETIMEDOUT);
  assert_int_equal(sup_stats(f->sys).exited, 1);
}

/* Guards against tr_stop in init being ignored, or ending the actor without terminate. */
static void tr_stop_in_init_runs_terminate_once_with_reason_normal(void **state) {
  fix_t *f = *state;
  tr_pid_t pid = spawn_probe(f, PROBE_STOP_IN_INIT, 0);
  expect_reason(f, TR_REASON_NORMAL, 0, "");
  expect_gone_after_one_terminate(f, pid);
}

/* Guards against tr_stop in receive being ignored or terminating twice. */
static void tr_stop_in_receive_runs_terminate_once_with_reason_normal(void **state) {
  fix_t *f = *state;
  tr_pid_t pid = spawn_probe(f, 0, 0);
  assert_int_equal(tr_send(tr_system_ctx(f->sys), pid, f->stop, NULL, 0), 0);
  assert_int_equal(tr_send(tr_system_ctx(f->sys), pid, f->stop, NULL, 0), 0);
  expect_reason(f, TR_REASON_NORMAL, 0, "");
  expect_gone_after_one_terminate(f, pid);
}

/* Guards against a failing receive losing its error code on the way to terminate. */
static void receive_returning_nonzero_runs_terminate_with_its_error_code(void **state) {
  fix_t *f = *state;
  tr_pid_t pid = spawn_probe(f, 0, 0);
  assert_int_equal(tr_sendf(tr_system_ctx(f->sys), pid, f->fail, "[u]", (uint64_t)42), 0);
  expect_reason(f, TR_REASON_ERROR, 42, "receive failed");
  expect_gone_after_one_terminate(f, pid);
}

/* Guards against tr_exit replacing or truncating the caller's reason. */
static void tr_exit_runs_terminate_with_the_given_reason_and_text(void **state) {
  fix_t *f = *state;
  tr_pid_t pid = spawn_probe(f, 0, 0);
  /* An exit that overtakes init ends the actor before either callback runs. */
  assert_int_equal(sup_wait_count(&f->inits, 1), 1);
  tr_reason_t r;
  tr_reason_set(&r, TR_REASON_KILLED, -5, "killed by the test");
  assert_int_equal(tr_exit(tr_system_ctx(f->sys), pid, &r), 0);
  expect_reason(f, TR_REASON_KILLED, -5, "killed by the test");
  expect_gone_after_one_terminate(f, pid);
  /* An exit to the pid of a dead actor is ignored. */
  assert_int_equal(tr_exit(tr_system_ctx(f->sys), pid, &r), 0);
  assert_int_equal(sup_read(&f->terminates), 1);
}

/* Guards against an actor's exit signal to itself being lost or handled twice. */
static void tr_exit_of_self_runs_terminate_with_that_reason(void **state) {
  fix_t *f = *state;
  tr_pid_t pid = spawn_probe(f, 0, 0);
  assert_int_equal(tr_send(tr_system_ctx(f->sys), pid, f->exit_self, NULL, 0), 0);
  expect_reason(f, TR_REASON_ERROR, 77, "self-inflicted");
  expect_gone_after_one_terminate(f, pid);
}

/* Guards against sends from terminate being dropped because the actor is half gone. */
static void messages_sent_from_terminate_are_delivered_in_order(void **state) {
  fix_t *f = *state;
  enum { BURST = 500 };
  tr_pid_t pid = spawn_probe(f, 0, BURST);
  assert_int_equal(tr_send(tr_system_ctx(f->sys), pid, f->stop, NULL, 0), 0);
  expect_reason(f, TR_REASON_NORMAL, 0, "");
  for (uint64_t i = 0; i < BURST; i++) {
    tr_msg_t *m = sup_receive(f->client);
    uint64_t n;
    assert_int_equal(tr_msg_tag(m), f->tick);
    assert_int_equal(tr_msg_unpack(m, "[u]", &n), 0);
    assert_int_equal(n, i);
    tr_msg_free(m);
  }
  expect_gone_after_one_terminate(f, pid);
}

/* Guards against reordering in the mailbox or the scheduler (batches, yields, steals). */
static void messages_from_one_outside_sender_arrive_in_order(void **state) {
  fix_t *f = *state;
  tr_pid_t pid = spawn_probe(f, 0, 0);
  tr_ctx_t *ctx = tr_client_ctx(f->client);
  for (uint64_t i = 0; i < ORDER_COUNT; i++)
    assert_int_equal(tr_sendf(ctx, pid, f->seq, "[u]", i), 0);
  expect_sequence(f, pid, ORDER_COUNT);
}

/* Guards against reordering on the worker-to-worker path (envelope pools, LIFO slot). */
static void messages_from_one_actor_arrive_in_order(void **state) {
  fix_t *f = *state;
  tr_pid_t producer = spawn_probe(f, 0, 0), consumer = spawn_probe(f, 0, 0);
  assert_int_equal(tr_sendf(tr_system_ctx(f->sys), producer, f->emit, "[uu]", consumer.id,
                            (uint64_t)ORDER_COUNT),
                   0);
  expect_sequence(f, consumer, ORDER_COUNT);
}

/* Guards against pointer payloads leaking or being freed twice after handling. */
static void pointer_payload_is_freed_once_after_it_is_handled(void **state) {
  fix_t *f = *state;
  enum { N = 1000 };
  tr_pid_t pid = spawn_probe(f, 0, 0);
  for (int i = 0; i < N; i++)
    assert_int_equal(tr_send_ptr(tr_client_ctx(f->client), pid, f->box, box(f), sup_box_free), 0);
  uint64_t got[3];
  ask_probe(f, pid, got); /* handled after every box, so every box is freed by now */
  assert_int_equal(sup_read(&f->handled), N);
  assert_int_equal(sup_read(&f->bad), 0);
  assert_int_equal(sup_read(&f->frees), N);
}

/* Guards against pointer payloads of dead letters, or queued at an exit, leaking or
 * being freed twice. */
static void pointer_payload_dropped_as_dead_letter_is_freed_once(void **state) {
  fix_t *f = *state;
  enum { QUEUED = 100 };
  tr_pid_t dead = spawn_probe(f, PROBE_FAIL_INIT, 0);
  assert_int_equal(tr_system_await(f->sys, SUP_WAIT_MS), 0);
  uint64_t dl = sup_stats(f->sys).dead_letters;
  assert_int_equal(tr_send_ptr(tr_system_ctx(f->sys), dead, f->box, box(f), sup_box_free), 0);
  assert_int_equal(sup_read(&f->frees), 1); /* an outside send finds no actor at once */
  assert_int_equal(sup_stats(f->sys).dead_letters, dl + 1);
  /* Boxes queued behind a stop are dropped with the actor; some may be found late. */
  tr_pid_t pid = spawn_probe(f, 0, 0);
  tr_ctx_t *ctx = tr_system_ctx(f->sys);
  assert_int_equal(tr_send(ctx, pid, f->stop, NULL, 0), 0);
  for (int i = 0; i < QUEUED; i++)
    assert_int_equal(tr_send_ptr(ctx, pid, f->box, box(f), sup_box_free), 0);
  tr_client_close(f->client);
  f->client = NULL;
  tr_system_free(f->sys);
  f->sys = NULL;
  assert_int_equal(sup_read(&f->frees), 1 + QUEUED);
  assert_int_equal(sup_read(&f->handled), 0);
}

/* Guards against the runtime freeing a pointer the handler took with tr_msg_take_ptr. */
static void taken_pointer_payload_belongs_to_the_handler(void **state) {
  fix_t *f = *state;
  tr_pid_t pid = spawn_probe(f, 0, 0);
  assert_int_equal(tr_send_ptr(tr_system_ctx(f->sys), pid, f->take, box(f), sup_box_free), 0);
  uint64_t got[3];
  ask_probe(f, pid, got);
  assert_int_equal(sup_read(&f->frees), 0);
  tr_msg_free(sup_request(f->client, pid, f->drop)); /* the handler frees it now */
  assert_int_equal(sup_read(&f->frees), 1);
  tr_system_free(f->sys); /* nothing left for the runtime to free */
  f->sys = NULL;
  f->client = NULL; /* closed with the system */
  assert_int_equal(sup_read(&f->frees), 1);
}

/* Guards against spawn accepting a behaviour it would crash on later. */
static void spawn_rejects_a_null_behaviour_and_one_without_receive(void **state) {
  fix_t *f = *state;
  tr_ctx_t *ctx = tr_system_ctx(f->sys);
  static const tr_behaviour_t no_receive = {.name = "no-receive", .init = bare_init};
  tr_pid_t pid = {12345};
  assert_int_equal(tr_spawn(ctx, NULL, NULL, 0, &pid), TR_EINVAL);
  assert_int_equal(tr_spawn(ctx, &no_receive, NULL, 0, &pid), TR_EINVAL);
  assert_int_equal(tr_spawnf(ctx, NULL, &pid, "[u]", (uint64_t)1), TR_EINVAL);
  assert_int_equal(tr_spawnf(ctx, &no_receive, &pid, "[u]", (uint64_t)1), TR_EINVAL);
  assert_int_equal(tr_spawn(ctx, &bare_behaviour, NULL, 5, &pid), TR_EINVAL);
  assert_int_equal(pid.id, 12345);
  tr_stats_t st = sup_stats(f->sys);
  assert_int_equal(st.spawned, 0);
  assert_int_equal(st.actors, 0);
}

/* Guards against payloads past the inline capacity being cut, shared or corrupted, on the
 * way in (send) and on the way back (reply). */
static void payloads_past_the_inline_capacity_arrive_intact(void **state) {
  fix_t *f = *state;
  static const size_t sizes[] = {1, 24, 25, 64, 4096, 100 * 1024};
  tr_pid_t pid = spawn_probe(f, 0, 0);
  for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
    size_t len = sizes[k], got_len;
    unsigned char *b = sup_keep(&f->keep, malloc(len));
    for (size_t i = 0; i < len; i++)
      b[i] = (unsigned char)(i * 7 + len);
    tr_msg_t *r = NULL;
    assert_int_equal(tr_client_request(f->client, pid, f->blob, b, len, SUP_WAIT_MS, &r), 0);
    const void *got = tr_msg_data(r, &got_len);
    assert_int_equal(got_len, len);
    assert_memory_equal(got, b, len);
    tr_msg_free(r);
  }
  assert_int_equal(sup_read(&f->bad), 0);
}

/* Block a fresh probe in a handler and queue `n` pings behind it; returns its info then.
 * The caller releases it. */
static tr_actor_info_t block_with_queue(fix_t *f, tr_pid_t pid, int n) {
  tr_ctx_t *ctx = tr_client_ctx(f->client);
  assert_int_equal(sup_wait_count(&f->inits, 1), 1); /* block in a turn of its own */
  assert_int_equal(tr_send(ctx, pid, f->block, NULL, 0), 0);
  assert_int_equal(sup_wait_count(&f->entered, 1), 1);
  for (int i = 0; i < n; i++)
    assert_int_equal(tr_send(ctx, pid, f->ping, NULL, 0), 0);
  tr_actor_info_t info;
  assert_int_equal(tr_actor_info(f->sys, pid, &info), 0);
  return info;
}

static void release(fix_t *f) { atomic_store_explicit(&f->release, 1, memory_order_release); }

/* Guards against tr_actor_info misreporting what waits in a busy actor's mailbox. */
static void actor_info_shows_queued_messages_of_a_running_actor(void **state) {
  fix_t *f = *state;
  enum { QUEUED = 50 };
  tr_pid_t pid = spawn_probe(f, 0, 0);
  tr_actor_info_t info = block_with_queue(f, pid, QUEUED);
  release(f);
  assert_true(tr_pid_eq(info.pid, pid));
  assert_string_equal(info.behaviour, "probe");
  assert_string_equal(info.name, "");
  assert_int_equal(info.status, TR_STATUS_RUNNING);
  /* The message in hand may be counted until its batch ends. */
  assert_in_range(info.mailbox, QUEUED, QUEUED + 1);
  info = sup_wait_idle(f->sys, pid);
  assert_int_equal(info.mailbox, 0);
  assert_int_equal(sup_read(&f->handled), QUEUED);
}

/* Guards against msgs_in/msgs_out miscounting, or counting differently from the system's
 * `messages` (an init payload is not a message the test sent). */
static void actor_info_counts_messages_in_and_out_like_the_system(void **state) {
  fix_t *f = *state;
  enum { QUEUED = 50, EMITTED = 7 };
  tr_pid_t pid = spawn_probe(f, 0, 0);
  block_with_queue(f, pid, QUEUED);
  release(f);
  tr_actor_info_t info = sup_wait_idle(f->sys, pid);
  assert_int_equal(sup_stats(f->sys).messages, 1 + QUEUED);
  assert_int_equal(info.msgs_out, 0);
  assert_int_equal(tr_sendf(tr_client_ctx(f->client), pid, f->emit, "[uu]",
                            tr_client_pid(f->client).id, (uint64_t)EMITTED),
                   0);
  for (int i = 0; i < EMITTED; i++)
    tr_msg_free(sup_receive(f->client));
  info = sup_wait_idle(f->sys, pid);
  assert_int_equal(info.msgs_out, EMITTED);
  assert_int_equal(sup_stats(f->sys).messages, 2 + QUEUED);
  assert_int_equal(info.msgs_in, 2 + QUEUED);
}

/* Guards against the mailbox high-water mark forgetting a peak it has already reported. */
static void mailbox_high_water_mark_never_decreases(void **state) {
  fix_t *f = *state;
  enum { QUEUED = 50 };
  tr_pid_t pid = spawn_probe(f, 0, 0);
  tr_actor_info_t during = block_with_queue(f, pid, QUEUED);
  release(f);
  assert_true(during.mailbox_hwm >= QUEUED);
  tr_actor_info_t after = sup_wait_idle(f->sys, pid);
  assert_true(after.mailbox_hwm >= during.mailbox_hwm);
}

static bool stats_show_messages(void *arg) {
  fix_t *f = arg;
  return sup_stats(f->sys).messages >= 50;
}

static bool stats_show_one_exit(void *arg) {
  fix_t *f = arg;
  return sup_stats(f->sys).exited >= 1;
}

/* Guards against tr_system_stats missing spawns, exits, handled messages or dead letters. */
static void system_stats_count_spawns_exits_messages_and_dead_letters(void **state) {
  fix_t *f = *state;
  tr_ctx_t *ctx = tr_system_ctx(f->sys);
  tr_stats_t st = sup_stats(f->sys);
  assert_int_equal(st.spawned, 0); /* the client is not an actor */
  assert_int_equal(st.actors, 0);
  tr_pid_t pids[10];
  for (int i = 0; i < 10; i++)
    pids[i] = spawn_probe(f, 0, 0);
  for (int k = 0; k < 5; k++)
    for (int i = 0; i < 10; i++)
      assert_int_equal(tr_send(ctx, pids[i], f->ping, NULL, 0), 0);
  assert_true(sup_wait(stats_show_messages, f));
  tr_reason_t r;
  assert_int_equal(tr_exit(ctx, pids[0], tr_reason_set(&r, TR_REASON_SHUTDOWN, 0, NULL)), 0);
  assert_true(sup_wait(stats_show_one_exit, f));
  for (int i = 0; i < 7; i++)
    assert_int_equal(tr_send(ctx, pids[0], f->ping, NULL, 0), 0);
  st = sup_stats(f->sys);
  assert_int_equal(st.workers, 2);
  assert_int_equal(st.spawned, 10);
  assert_int_equal(st.exited, 1);
  assert_int_equal(st.actors, 9);
  assert_int_equal(st.messages, 50);
  assert_int_equal(st.dead_letters, 7);
  assert_int_equal(sup_read(&f->handled), 50);
}

/* Guards against the first turn (init, then messages) losing the RUNNING flag when init
 * clears its own flags. One worker, and a child spawned and sent a message from a handler,
 * make init and the blocking message share the child's first turn every time. */
static void status_is_running_while_the_first_turn_handles_a_message(void **state) {
  fix_t *f = *state;
  tr_pid_t parent = spawn_probe(f, 0, 0), child;
  tr_msg_t *r = sup_request(f->client, parent, f->spawn);
  assert_int_equal(tr_msg_unpack(r, "[u]", &child.id), 0);
  tr_msg_free(r);
  assert_false(tr_pid_is_none(child));
  assert_int_equal(sup_wait_count(&f->entered, 1), 1);
  tr_actor_info_t info;
  assert_int_equal(tr_actor_info(f->sys, child, &info), 0);
  tr_status_t status = info.status;
  atomic_store_explicit(&f->release, 1, memory_order_release);
  assert_int_equal(status, TR_STATUS_RUNNING);
}

/* Guards against a one-worker system deadlocking (no thief, no second worker to wake). */
static void a_one_worker_system_runs_actors_to_completion(void **state) {
  fix_t *f = *state;
  assert_int_equal(sup_stats(f->sys).workers, 1);
  tr_pid_t producer = spawn_probe(f, 0, 0), consumer = spawn_probe(f, 0, 0);
  assert_int_equal(
      tr_sendf(tr_system_ctx(f->sys), producer, f->emit, "[uu]", consumer.id, (uint64_t)10000), 0);
  expect_sequence(f, consumer, 10000);
  assert_int_equal(tr_send(tr_system_ctx(f->sys), producer, f->stop, NULL, 0), 0);
  expect_reason(f, TR_REASON_NORMAL, 0, "");
}

/* Every test gets a fresh system (two workers unless it says otherwise) and a client. */
#define TEST(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
#define TEST_ONE_WORKER(name) cmocka_unit_test_setup_teardown(name, setup_one_worker, teardown)

int main(void) {
  sup_filter_from_env();
  const struct CMUnitTest tests[] = {
      TEST(init_payload_reaches_init_callback),
      TEST(spawn_without_payload_gives_init_an_empty_init_message),
      TEST(init_payload_never_reaches_receive_when_there_is_no_init),
      TEST(init_returning_nonzero_ends_the_actor_without_terminate),
      TEST(tr_stop_in_init_runs_terminate_once_with_reason_normal),
      TEST(tr_stop_in_receive_runs_terminate_once_with_reason_normal),
      TEST(receive_returning_nonzero_runs_terminate_with_its_error_code),
      TEST(tr_exit_runs_terminate_with_the_given_reason_and_text),
      TEST(tr_exit_of_self_runs_terminate_with_that_reason),
      TEST(messages_sent_from_terminate_are_delivered_in_order),
      TEST(messages_from_one_outside_sender_arrive_in_order),
      TEST(messages_from_one_actor_arrive_in_order),
      TEST(pointer_payload_is_freed_once_after_it_is_handled),
      TEST(pointer_payload_dropped_as_dead_letter_is_freed_once),
      TEST(taken_pointer_payload_belongs_to_the_handler),
      TEST(spawn_rejects_a_null_behaviour_and_one_without_receive),
      TEST(payloads_past_the_inline_capacity_arrive_intact),
      TEST(actor_info_shows_queued_messages_of_a_running_actor),
      TEST(actor_info_counts_messages_in_and_out_like_the_system),
      TEST(mailbox_high_water_mark_never_decreases),
      TEST(system_stats_count_spawns_exits_messages_and_dead_letters),
      TEST_ONE_WORKER(status_is_running_while_the_first_turn_handles_a_message),
      TEST_ONE_WORKER(a_one_worker_system_runs_actors_to_completion),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
