/* Tests of stopping (actors/system.c, docs/lifecycle.md L-4, L-5): stop and free run every
 * live actor's terminate exactly once with reason shutdown, even with thousands of messages
 * queued behind a handler that is still busy, with 100k idle actors, or with actors that
 * never stop sending to each other; they leak nothing (the ASan build checks leaks at exit);
 * after a stop, spawns and sends fail with TR_ESTOPPED; tr_system_await tells whether any
 * actor is left; and systems are independent: many in a row, and two at once. */
#include <pthread.h>

#include "support/support.h"

typedef struct {
  tr_system_t *sys;
  _Atomic uint64_t *per_actor; /* terminate calls per actor index, when the test counts them */
  uint64_t n_per_actor;
  _Atomic uint64_t inits, terminates, not_shutdown, handled, entered, release;
  _Atomic uint64_t spawn_in_terminate; /* 1: terminate tries to spawn */
  _Atomic int terminate_spawn_rc;
  sup_keep_t keep;
} fix_t;

typedef struct {
  fix_t *f;
  uint64_t idx;
  tr_pid_t next; /* the next member of a ring */
} member_t;

static bool tag_is(tr_ctx_t *ctx, const tr_msg_t *m, const char *name) {
  const char *n = tr_atom_name(tr_ctx_system(ctx), tr_msg_tag(m));
  return n && strcmp(n, name) == 0;
}

static int member_init(tr_ctx_t *ctx, void *state, const tr_msg_t *init) {
  (void)ctx;
  member_t *s = state;
  s->f = sup_init_ptr(init);
  s->idx = sup_arg_u(init, 1, UINT64_MAX);
  sup_bump(&s->f->inits);
  return 0;
}

static int member_receive(tr_ctx_t *ctx, void *state, const tr_msg_t *m) {
  member_t *s = state;
  fix_t *f = s->f;
  size_t len;
  const void *data = tr_msg_data(m, &len);
  if (tag_is(ctx, m, "token")) { /* pass it on, forever */
    sup_bump(&f->handled);
    tr_send(ctx, s->next, tr_msg_tag(m), data, len);
  } else if (tag_is(ctx, m, "ping")) {
    sup_bump(&f->handled);
  } else if (tag_is(ctx, m, "next")) {
    s->next = (tr_pid_t){sup_arg_u(m, 0, 0)};
  } else if (tag_is(ctx, m, "block")) {
    sup_bump(&f->entered);
    sup_wait_count(&f->release, 1);
  } else if (tag_is(ctx, m, "ask")) {
    tr_reply(ctx, m, 0, NULL, 0);
  }
  return 0;
}

static const tr_behaviour_t member_behaviour;

static void member_terminate(tr_ctx_t *ctx, void *state, const tr_reason_t *reason) {
  member_t *s = state;
  fix_t *f = s->f;
  if (reason->kind != TR_REASON_SHUTDOWN)
    sup_bump(&f->not_shutdown);
  if (f->per_actor && s->idx < f->n_per_actor)
    sup_bump(&f->per_actor[s->idx]);
  if (sup_read(&f->spawn_in_terminate)) {
    int rc = tr_spawnf(ctx, &member_behaviour, NULL, "[uu]", sup_ptr(f), (uint64_t)UINT64_MAX);
    atomic_store_explicit(&f->terminate_spawn_rc, rc, memory_order_relaxed);
  }
  sup_bump(&f->terminates); /* last: the test reads the rest after seeing this */
}

static const tr_behaviour_t member_behaviour = {.name = "member",
                                                .state_size = sizeof(member_t),
                                                .init = member_init,
                                                .receive = member_receive,
                                                .terminate = member_terminate};

static int setup(void **state) {
  fix_t *f = calloc(1, sizeof *f);
  assert_non_null(f);
  /* Unbounded mailboxes: these tests pile thousands of messages behind a member that is
   * stuck on purpose, to see what a stop does with them (the overload policy would make
   * the sender wait instead; tests/actors/test_overload.c is about that). */
  tr_config_t cfg;
  tr_config_init(&cfg);
  cfg.workers = 2;
  cfg.mailbox.policy = TR_OVERLOAD_OFF;
  f->sys = sup_system_with(&cfg);
  *state = f;
  return 0;
}

static int teardown(void **state) {
  fix_t *f = *state;
  tr_system_free(f->sys);
  free(f->per_actor);
  sup_keep_free(&f->keep);
  free(f);
  return 0;
}

/* ---- helpers ---- */

static tr_pid_t spawn_member(fix_t *f, tr_system_t *sys, uint64_t idx) {
  tr_pid_t pid;
  assert_int_equal(tr_spawnf(tr_system_ctx(sys), &member_behaviour, &pid, "[uu]", sup_ptr(f), idx),
                   0);
  return pid;
}

/* Spawn n members indexed 0..n-1, counting terminates per index, and wait until every init
 * has run (an actor whose exit overtakes its init runs neither callback). */
static tr_pid_t *spawn_counted(fix_t *f, uint64_t n) {
  f->per_actor = calloc(n, sizeof *f->per_actor);
  assert_non_null(f->per_actor);
  tr_pid_t *pids = sup_keep(&f->keep, malloc(n * sizeof *pids));
  f->n_per_actor = n;
  for (uint64_t i = 0; i < n; i++)
    pids[i] = spawn_member(f, f->sys, i);
  assert_int_equal(sup_wait_count(&f->inits, n), n);
  return pids;
}

/* After the stop: every counted member's terminate ran once, with reason shutdown. */
static void expect_each_terminated_once_by_shutdown(fix_t *f) {
  assert_int_equal(sup_read(&f->terminates), f->n_per_actor);
  assert_int_equal(sup_read(&f->not_shutdown), 0);
  for (uint64_t i = 0; i < f->n_per_actor; i++)
    assert_int_equal(sup_read(&f->per_actor[i]), 1);
}

static uint64_t send_all(tr_system_t *sys, const tr_pid_t *pids, size_t n, const char *tag,
                         uint64_t times) {
  tr_atom_t a = tr_atom(sys, tag);
  for (uint64_t k = 0; k < times; k++)
    for (size_t i = 0; i < n; i++)
      assert_int_equal(tr_send(tr_system_ctx(sys), pids[i], a, NULL, 0), 0);
  return times * n;
}

/* Releases the blocked member once the stop is under way (another member's terminate ran),
 * so the stop finds thousands of messages still queued behind it. */
static void *release_when_stopping(void *arg) {
  fix_t *f = arg;
  sup_wait_count(&f->terminates, 1);
  atomic_store_explicit(&f->release, 1, memory_order_release);
  return NULL;
}

/* The newest member blocks in a handler with `queued` pings behind it; the others get a few
 * each. Stop signals the newest first (L-4), so by the time another member's terminate has
 * run, the busy one's exit signal is waiting: released then, it exits at once and its pings
 * are still queued. Starts the releasing thread; returns the messages sent. */
static uint64_t queue_behind_a_busy_member(fix_t *f, const tr_pid_t *pids, size_t n,
                                           uint64_t queued, pthread_t *releaser) {
  uint64_t sent = send_all(f->sys, pids + n - 1, 1, "block", 1);
  assert_int_equal(sup_wait_count(&f->entered, 1), 1);
  sent += send_all(f->sys, pids + n - 1, 1, "ping", queued);
  sent += send_all(f->sys, pids, n - 1, "ping", 10);
  assert_int_equal(pthread_create(releaser, NULL, release_when_stopping, f), 0);
  return sent;
}

/* ---- tests ---- */

/* Guards against free skipping or doubling terminates, or leaking queued envelopes (also of
 * a client left open), when a busy actor still has thousands of messages queued. */
static void free_with_queued_messages_runs_every_terminate_once_with_shutdown(void **state) {
  fix_t *f = *state;
  enum { N = 200, QUEUED = 5000 };
  tr_pid_t *pids = spawn_counted(f, N);
  tr_client_t *c;
  assert_int_equal(tr_client_open(f->sys, &c), 0); /* left open: free closes it */
  for (int i = 0; i < 10; i++)
    assert_int_equal(tr_send(tr_client_ctx(c), tr_client_pid(c), tr_atom(f->sys, "ping"), "x", 1),
                     0);
  pthread_t releaser;
  queue_behind_a_busy_member(f, pids, N, QUEUED, &releaser);
  tr_system_free(f->sys);
  f->sys = NULL;
  pthread_join(releaser, NULL);
  expect_each_terminated_once_by_shutdown(f);
  assert_true(sup_read(&f->handled) <= 10 * (N - 1)); /* the busy one's pings were dropped */
}

/* Guards against stop losing track of the messages it drops: each is handled or counted as
 * a dead letter. */
static void stop_counts_every_dropped_message_as_a_dead_letter(void **state) {
  fix_t *f = *state;
  enum { N = 50, QUEUED = 5000 };
  tr_pid_t *pids = spawn_counted(f, N);
  pthread_t releaser;
  uint64_t sent = queue_behind_a_busy_member(f, pids, N, QUEUED, &releaser);
  tr_system_stop(f->sys);
  pthread_join(releaser, NULL);
  expect_each_terminated_once_by_shutdown(f);
  tr_stats_t st = sup_stats(f->sys);
  assert_int_equal(st.actors, 0);
  assert_int_equal(st.exited, N);
  assert_true(st.dead_letters >= QUEUED);
  assert_int_equal(st.messages + st.dead_letters, sent);
}

/* Guards against stop missing actors (table walk, chunk boundaries) or taking one signal
 * per actor too many, with a hundred thousand idle actors. */
static void stop_with_100k_idle_actors_runs_every_terminate(void **state) {
  fix_t *f = *state;
  enum { N = 100000 };
  spawn_counted(f, N);
  tr_system_stop(f->sys);
  expect_each_terminated_once_by_shutdown(f);
  tr_stats_t st = sup_stats(f->sys);
  assert_int_equal(st.spawned, N);
  assert_int_equal(st.exited, N);
  assert_int_equal(st.actors, 0);
}

/* Guards against stop hanging, or missing a member, while actors keep sending to each other
 * (a ring whose tokens never stop). */
static void stop_while_a_ring_keeps_sending_ends_every_member(void **state) {
  fix_t *f = *state;
  enum { N = 64, TOKENS = 16 };
  tr_pid_t *pids = spawn_counted(f, N);
  tr_atom_t next = tr_atom(f->sys, "next"), token = tr_atom(f->sys, "token");
  for (size_t i = 0; i < N; i++)
    assert_int_equal(tr_sendf(tr_system_ctx(f->sys), pids[i], next, "[u]", pids[(i + 1) % N].id),
                     0);
  for (size_t t = 0; t < TOKENS; t++)
    assert_int_equal(tr_send(tr_system_ctx(f->sys), pids[t * (N / TOKENS)], token, "t", 1), 0);
  assert_true(sup_wait_count(&f->handled, 20000) >= 20000); /* the ring is running */
  tr_system_stop(f->sys);
  expect_each_terminated_once_by_shutdown(f);
  assert_int_equal(sup_stats(f->sys).actors, 0);
}

/* Guards against a stopped system accepting work it can never run (and against a refused
 * pointer payload being freed by the runtime although the caller keeps it). */
static void send_spawn_and_exit_after_stop_return_estopped(void **state) {
  fix_t *f = *state;
  tr_pid_t pid = spawn_member(f, f->sys, 0);
  tr_atom_t ping = tr_atom(f->sys, "ping");
  tr_system_stop(f->sys);
  tr_system_stop(f->sys); /* idempotent */
  tr_ctx_t *ctx = tr_system_ctx(f->sys);
  _Atomic uint64_t frees = 0;
  sup_box_t *box = sup_box_new(&frees);
  tr_reason_t why;
  assert_int_equal(tr_send(ctx, pid, ping, NULL, 0), TR_ESTOPPED);
  assert_int_equal(tr_sendf(ctx, pid, ping, "[u]", (uint64_t)1), TR_ESTOPPED);
  assert_int_equal(tr_send_ptr(ctx, pid, ping, box, sup_box_free), TR_ESTOPPED);
  assert_int_equal(sup_read(&frees), 0);
  sup_box_free(box);
  assert_int_equal(tr_spawn(ctx, &member_behaviour, NULL, 0, NULL), TR_ESTOPPED);
  assert_int_equal(tr_spawnf(ctx, &member_behaviour, NULL, "[uu]", sup_ptr(f), (uint64_t)1),
                   TR_ESTOPPED);
  assert_int_equal(tr_exit(ctx, pid, tr_reason_set(&why, TR_REASON_KILLED, 0, NULL)), TR_ESTOPPED);
  tr_client_t *c = NULL;
  assert_int_equal(tr_client_open(f->sys, &c), TR_ESTOPPED);
  assert_int_equal(tr_system_await(f->sys, 0), 0);
  assert_int_equal(sup_stats(f->sys).spawned, 1);
}

/* Guards against a terminate spawning new actors while the system stops (the set of
 * actors must only shrink, or stop could run forever). */
static void spawn_from_terminate_during_stop_fails_with_estopped(void **state) {
  fix_t *f = *state;
  spawn_counted(f, 3);
  atomic_store_explicit(&f->terminate_spawn_rc, 1, memory_order_relaxed);
  atomic_store_explicit(&f->spawn_in_terminate, 1, memory_order_release);
  tr_system_stop(f->sys);
  expect_each_terminated_once_by_shutdown(f);
  assert_int_equal(atomic_load_explicit(&f->terminate_spawn_rc, memory_order_relaxed), TR_ESTOPPED);
  assert_int_equal(sup_stats(f->sys).spawned, 3);
}

/* Guards against tr_system_await returning before the last actor is gone, or never
 * returning while one lives (clients do not count). */
static void await_returns_zero_when_no_actor_is_left_and_etimedout_otherwise(void **state) {
  fix_t *f = *state;
  assert_int_equal(tr_system_await(f->sys, 0), 0);
  tr_client_t *c;
  assert_int_equal(tr_client_open(f->sys, &c), 0);
  assert_int_equal(tr_system_await(f->sys, 0), 0);
  tr_pid_t pid = spawn_member(f, f->sys, 0);
  assert_int_equal(tr_system_await(f->sys, 0), TR_ETIMEDOUT);
  assert_int_equal(tr_system_await(f->sys, 20), TR_ETIMEDOUT);
  tr_msg_t *r = sup_request(c, pid, tr_atom(f->sys, "ask")); /* alive, and still working */
  tr_msg_free(r);
  tr_reason_t why;
  assert_int_equal(
      tr_exit(tr_system_ctx(f->sys), pid, tr_reason_set(&why, TR_REASON_SHUTDOWN, 0, NULL)), 0);
  assert_int_equal(tr_system_await(f->sys, SUP_WAIT_MS), 0);
  assert_int_equal(tr_system_await(f->sys, -1), 0);
  tr_client_close(c);
}

/* One short life of a system: n members, a request to each, stats of its own, then free. */
static void live_once(fix_t *f, tr_system_t *sys, uint64_t n) {
  tr_client_t *c;
  assert_int_equal(tr_client_open(sys, &c), 0);
  for (uint64_t i = 0; i < n; i++)
    tr_msg_free(sup_request(c, spawn_member(f, sys, UINT64_MAX), tr_atom(sys, "ask")));
  tr_stats_t st = sup_stats(sys);
  assert_int_equal(st.spawned, n);
  assert_int_equal(st.actors, n);
  tr_client_close(c);
}

/* Guards against process-global state surviving a system (threads, tables, pools). */
static void twenty_systems_start_and_stop_one_after_another(void **state) {
  fix_t *f = *state;
  tr_system_free(f->sys);
  f->sys = NULL;
  for (uint64_t k = 1; k <= 20; k++) {
    tr_system_t *sys = sup_system_new((unsigned)(k % 3 + 1), k % 2 ? 16384u : 0u);
    live_once(f, sys, 10);
    tr_system_free(sys);
    assert_int_equal(sup_read(&f->terminates), 10 * k);
  }
}

/* Guards against two live systems sharing a registry, counters or workers. */
static void two_systems_run_at_once_independently(void **state) {
  fix_t *f = *state;
  tr_system_t *a = f->sys, *b = sup_system_new(2, 0);
  tr_pid_t in_a = spawn_member(f, a, UINT64_MAX), in_b = spawn_member(f, b, UINT64_MAX);
  for (int i = 0; i < 4; i++)
    spawn_member(f, b, UINT64_MAX);
  assert_int_equal(tr_register(a, "same", in_a), 0);
  assert_int_equal(tr_register(b, "same", in_b), 0);
  assert_true(tr_pid_eq(tr_whereis(a, "same"), in_a));
  assert_true(tr_pid_eq(tr_whereis(b, "same"), in_b));
  assert_int_equal(sup_stats(a).spawned, 1);
  assert_int_equal(sup_stats(b).spawned, 5);
  assert_int_equal(sup_wait_count(&f->inits, 6), 6); /* so that every terminate will run */
  tr_system_free(a);                                 /* b keeps working */
  f->sys = b;
  assert_int_equal(sup_read(&f->terminates), 1);
  tr_client_t *c;
  assert_int_equal(tr_client_open(b, &c), 0);
  tr_msg_free(sup_request(c, tr_whereis(b, "same"), tr_atom(b, "ask")));
  tr_client_close(c);
  assert_int_equal(sup_stats(b).actors, 5);
}

int main(void) {
  sup_filter_from_env();
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(
          free_with_queued_messages_runs_every_terminate_once_with_shutdown, setup, teardown),
      cmocka_unit_test_setup_teardown(stop_counts_every_dropped_message_as_a_dead_letter, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(stop_with_100k_idle_actors_runs_every_terminate, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(stop_while_a_ring_keeps_sending_ends_every_member, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(send_spawn_and_exit_after_stop_return_estopped, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(spawn_from_terminate_during_stop_fails_with_estopped, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(
          await_returns_zero_when_no_actor_is_left_and_etimedout_otherwise, setup, teardown),
      cmocka_unit_test_setup_teardown(twenty_systems_start_and_stop_one_after_another, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(two_systems_run_at_once_independently, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
