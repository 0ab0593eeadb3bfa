/* Tests of pids and the actor table (actors/table.c, send.c): a pid names one actor for its
 * whole life and never the next actor in its slot, even after the small table below has
 * reused every slot; a send to a dead pid is a dead letter, counted; sends racing with exits,
 * from outside threads and from actors, neither crash (run under ASan and TSan) nor lose
 * track of a message (each is handled or counted as a dead letter); a full table refuses
 * spawns with TR_ELIMIT and the system carries on. */
#include <pthread.h>

#include "actors/actor.h" /* the outbox, for the test of its slot-reused path */
#include "support/support.h"

/* The smallest table: one chunk of slots, so a few rounds of spawns reuse every slot. */
#define SMALL_TABLE 16384u
#define SLOT_MASK ((UINT64_C(1) << 26) - 1) /* the slot bits of a pid */

enum { ROLE_OLD = 0, ROLE_NEW = 1 };

typedef struct {
  tr_system_t *sys;
  tr_client_t *client;
  tr_atom_t ping, sync, stop, ask, spray, done, retarget;
  _Atomic uint64_t gathered;   /* chains the retarget handler found in its outbox */
  _Atomic uint64_t handled;    /* pings handled by ROLE_OLD actors */
  _Atomic uint64_t stale_hits; /* pings handled by ROLE_NEW actors: must stay 0 */
  _Atomic uint64_t synced, started;
  sup_keep_t keep;
} fix_t;

typedef struct {
  fix_t *f;
  uint64_t role;
} target_t;

static int target_init(tr_ctx_t *ctx, void *state, const tr_msg_t *init) {
  (void)ctx;
  target_t *s = state;
  s->f = sup_init_ptr(init);
  s->role = sup_arg_u(init, 1, ROLE_OLD);
  return 0;
}

/* Send a ping to each of n pids, `rounds` times; report the count to `report`. */
static void spray(tr_ctx_t *ctx, fix_t *f, const tr_msg_t *m) {
  const tr_pid_t *pids = sup_unptr(sup_arg_u(m, 0, 0));
  uint64_t n = sup_arg_u(m, 1, 0), rounds = sup_arg_u(m, 2, 1), sent = 0;
  tr_pid_t report = {sup_arg_u(m, 3, 0)};
  for (uint64_t r = 0; r < rounds; r++)
    for (uint64_t i = 0; i < n; i++)
      sent += tr_send(ctx, pids[i], f->ping, NULL, 0) == 0;
  tr_sendf(ctx, report, f->done, "[u]", sent);
}

/* Send a ping to the first pid, then make the outbox's chain for it look as if the slot had
 * changed hands between the table read and the push: the chain names the second pid while
 * its actor is the first's (the race the outbox's push checks for, actors/send.c). */
static void retarget(tr_ctx_t *ctx, fix_t *f, const tr_msg_t *m) {
  tr_pid_t first = {sup_arg_u(m, 0, 0)}, second = {sup_arg_u(m, 1, 0)};
  if (tr_send(ctx, first, f->ping, NULL, 0) != 0)
    return;
  if (ctx->out.n == 1 && ctx->out.c[0].pid.id == first.id) {
    ctx->out.c[0].pid = second;
    sup_bump(&f->gathered);
  }
}

static int target_receive(tr_ctx_t *ctx, void *state, const tr_msg_t *m) {
  target_t *s = state;
  fix_t *f = s->f;
  tr_atom_t tag = tr_msg_tag(m);
  if (tag == f->ping)
    sup_bump(s->role == ROLE_NEW ? &f->stale_hits : &f->handled);
  else if (tag == f->sync)
    sup_bump(&f->synced);
  else if (tag == f->stop)
    tr_stop(ctx);
  else if (tag == f->ask)
    tr_reply(ctx, m, 0, NULL, 0);
  else if (tag == f->spray)
    spray(ctx, f, m);
  else if (tag == f->retarget)
    retarget(ctx, f, m);
  return 0;
}

static const tr_behaviour_t target_behaviour = {.name = "target",
                                                .state_size = sizeof(target_t),
                                                .init = target_init,
                                                .receive = target_receive};

/* ---- fixtures ---- */

static int make_fixture(void **state, uint32_t max_actors) {
  fix_t *f = calloc(1, sizeof *f);
  assert_non_null(f);
  f->sys = sup_system_new(2, max_actors);
  assert_int_equal(tr_client_open(f->sys, &f->client), 0);
  f->ping = tr_atom(f->sys, "ping");
  f->sync = tr_atom(f->sys, "sync");
  f->stop = tr_atom(f->sys, "stop");
  f->ask = tr_atom(f->sys, "ask");
  f->spray = tr_atom(f->sys, "spray");
  f->done = tr_atom(f->sys, "done");
  f->retarget = tr_atom(f->sys, "retarget");
  *state = f;
  return 0;
}

static int setup(void **state) { return make_fixture(state, 0); }
static int setup_small(void **state) { return make_fixture(state, SMALL_TABLE); }

static int teardown(void **state) {
  fix_t *f = *state;
  tr_client_close(f->client);
  tr_system_free(f->sys);
  sup_keep_free(&f->keep);
  free(f);
  return 0;
}

/* ---- helpers ---- */

static int spawn_target(fix_t *f, uint64_t role, tr_pid_t *out) {
  return tr_spawnf(tr_system_ctx(f->sys), &target_behaviour, out, "[uu]", sup_ptr(f), role);
}

static tr_pid_t must_spawn(fix_t *f, uint64_t role) {
  tr_pid_t pid;
  assert_int_equal(spawn_target(f, role, &pid), 0);
  return pid;
}

/* End n actors, half by a stop message and half by an exit signal, and wait until all
 * actors of the system are gone. */
static void end_all(fix_t *f, const tr_pid_t *pids, size_t n) {
  tr_ctx_t *ctx = tr_system_ctx(f->sys);
  tr_reason_t r;
  tr_reason_set(&r, TR_REASON_SHUTDOWN, 0, NULL); /* normal would be ignored */
  for (size_t i = 0; i < n; i++)
    assert_int_equal(i % 2 ? tr_exit(ctx, pids[i], &r) : tr_send(ctx, pids[i], f->stop, NULL, 0),
                     0);
  assert_int_equal(tr_system_await(f->sys, SUP_WAIT_MS), 0);
}

/* Send a sync to each pid and wait until `want` syncs in all have been handled. */
static void sync_all(fix_t *f, const tr_pid_t *pids, size_t n, uint64_t want) {
  for (size_t i = 0; i < n; i++)
    assert_int_equal(tr_send(tr_system_ctx(f->sys), pids[i], f->sync, NULL, 0), 0);
  assert_int_equal(sup_wait_count(&f->synced, want), want);
}

/* Spawn and end `rounds` x `per_round` actors; returns their (now stale) pids. */
static tr_pid_t *churn(fix_t *f, size_t rounds, size_t per_round) {
  tr_pid_t *old = sup_keep(&f->keep, malloc(rounds * per_round * sizeof *old));
  for (size_t r = 0; r < rounds; r++) {
    for (size_t i = 0; i < per_round; i++)
      old[r * per_round + i] = must_spawn(f, ROLE_OLD);
    end_all(f, old + r * per_round, per_round);
  }
  return old;
}

/* How many of the new pids sit in a slot an old pid had; fails if a pid repeats. */
static size_t count_reused_slots(fix_t *f, const tr_pid_t *old, size_t n_old, const tr_pid_t *young,
                                 size_t n_young) {
  uint64_t *last = sup_keep(&f->keep, calloc(SMALL_TABLE, sizeof *last)); /* per slot */
  for (size_t i = 0; i < n_old; i++) {
    assert_true((old[i].id & SLOT_MASK) < SMALL_TABLE);
    last[old[i].id & SLOT_MASK] = old[i].id;
  }
  size_t reused = 0;
  for (size_t i = 0; i < n_young; i++) {
    uint64_t prev = last[young[i].id & SLOT_MASK];
    assert_int_not_equal(prev, young[i].id);
    reused += prev != 0;
  }
  return reused;
}

/* ---- tests ---- */

/* Guards against tr_actor_info finding an exited actor (or garbage) through its old pid. */
static void actor_info_on_the_pid_of_an_exited_actor_returns_enoent(void **state) {
  fix_t *f = *state;
  tr_pid_t pid = must_spawn(f, ROLE_OLD);
  tr_actor_info_t info;
  assert_int_equal(tr_actor_info(f->sys, pid, &info), 0);
  end_all(f, &pid, 1);
  assert_int_equal(tr_actor_info(f->sys, pid, &info), TR_ENOENT);
}

/* Guards against the generation check: a stale pid must never reach the newer actor that
 * took its slot, whether the sender is an outside thread or an actor, and whether it sends
 * a message or an exit signal. */
static void stale_pid_is_a_dead_letter_and_never_reaches_the_slots_next_actor(void **state) {
  fix_t *f = *state;
  enum { ROUNDS = 12, PER_ROUND = 2000, YOUNG = 2000 };
  const size_t n_old = (size_t)ROUNDS * PER_ROUND;
  tr_pid_t *old = churn(f, ROUNDS, PER_ROUND);
  tr_pid_t young[YOUNG + 1];
  for (size_t i = 0; i < YOUNG; i++)
    young[i] = must_spawn(f, ROLE_NEW);
  assert_true(count_reused_slots(f, old, n_old, young, YOUNG) > 0);

  tr_ctx_t *ctx = tr_system_ctx(f->sys);
  uint64_t dl = sup_stats(f->sys).dead_letters;
  tr_actor_info_t info;
  for (size_t i = 0; i < n_old; i++) {
    assert_int_equal(tr_send(ctx, old[i], f->ping, NULL, 0), 0);
    assert_int_equal(tr_actor_info(f->sys, old[i], &info), TR_ENOENT);
  }
  assert_int_equal(sup_stats(f->sys).dead_letters, dl + n_old);
  /* The same from an actor, on the workers' lock-free path. */
  young[YOUNG] = must_spawn(f, ROLE_NEW);
  assert_int_equal(tr_sendf(ctx, young[YOUNG], f->spray, "[uuuu]", sup_ptr(old), (uint64_t)n_old,
                            (uint64_t)1, tr_client_pid(f->client).id),
                   0);
  tr_msg_free(sup_receive(f->client));
  assert_int_equal(sup_stats(f->sys).dead_letters, dl + 2 * n_old);
  sync_all(f, young, YOUNG + 1, YOUNG + 1);
  assert_int_equal(sup_read(&f->stale_hits), 0);
  assert_int_equal(sup_read(&f->handled), 0);

  /* Exit signals to stale pids are ignored too: every young actor is still there. */
  tr_reason_t r;
  tr_reason_set(&r, TR_REASON_KILLED, 0, "stale");
  for (size_t i = 0; i < n_old; i++)
    assert_int_equal(tr_exit(ctx, old[i], &r), 0);
  sync_all(f, young, YOUNG + 1, 2 * (YOUNG + 1));
  assert_int_equal(sup_stats(f->sys).actors, YOUNG + 1);
  for (size_t i = 0; i <= YOUNG; i++)
    assert_int_equal(tr_actor_info(f->sys, young[i], &info), 0);
}

/* One outside thread hammering pings at a batch of actors. */
typedef struct {
  fix_t *f;
  const tr_pid_t *pids;
  size_t n, rounds;
  bool use_client;
  uint64_t sent;
} hammer_t;

static void *hammer(void *arg) {
  hammer_t *h = arg;
  tr_client_t *c = NULL;
  if (h->use_client && tr_client_open(h->f->sys, &c) != 0)
    return NULL;
  tr_ctx_t *ctx = c ? tr_client_ctx(c) : tr_system_ctx(h->f->sys);
  sup_bump(&h->f->started);
  for (size_t r = 0; r < h->rounds; r++)
    for (size_t i = 0; i < h->n; i++)
      h->sent += tr_send(ctx, h->pids[i], h->f->ping, NULL, 0) == 0;
  if (c)
    tr_client_close(c);
  return NULL;
}

typedef struct {
  fix_t *f;
  uint64_t sent;
} settle_t;

static bool accounts_settled(void *arg) {
  settle_t *s = arg;
  tr_stats_t st = sup_stats(s->f->sys);
  return st.messages + st.dead_letters >= s->sent;
}

/* Every message sent is handled or counted as a dead letter: once things settle while the
 * system runs, and (checked first, the weaker claim) once it has stopped. */
static void expect_every_message_accounted(fix_t *f, uint64_t sent) {
  assert_int_equal(tr_system_await(f->sys, SUP_WAIT_MS), 0);
  settle_t s = {f, sent};
  sup_wait(accounts_settled, &s);
  tr_stats_t running = sup_stats(f->sys);
  tr_system_stop(f->sys);
  tr_stats_t stopped = sup_stats(f->sys);
  assert_int_equal(stopped.messages + stopped.dead_letters, sent);
  assert_int_equal(running.messages + running.dead_letters, sent);
  assert_true(sup_read(&f->handled) <= sent);
}

/* Guards against use-after-free and lost accounting when outside threads send to actors
 * that exit (by signal and by message) at the same moment. */
static void sends_from_threads_racing_with_exits_are_handled_or_dead_letters(void **state) {
  fix_t *f = *state;
  enum { BATCHES = 8, BATCH = 250, THREADS = 4, ROUNDS = 20 };
  uint64_t sent = 0;
  for (int b = 0; b < BATCHES; b++) {
    tr_pid_t pids[BATCH];
    for (int i = 0; i < BATCH; i++)
      pids[i] = must_spawn(f, ROLE_OLD);
    atomic_store_explicit(&f->started, 0, memory_order_relaxed);
    pthread_t th[THREADS];
    hammer_t h[THREADS];
    for (int t = 0; t < THREADS; t++) {
      h[t] = (hammer_t){f, pids, BATCH, ROUNDS, t % 2 == 0, 0};
      assert_int_equal(pthread_create(&th[t], NULL, hammer, &h[t]), 0);
    }
    assert_int_equal(sup_wait_count(&f->started, THREADS), THREADS);
    end_all(f, pids, BATCH);
    sent += BATCH / 2; /* the stop messages */
    for (int t = 0; t < THREADS; t++) {
      pthread_join(th[t], NULL);
      assert_int_equal(h[t].sent, BATCH * ROUNDS);
      sent += h[t].sent;
    }
  }
  expect_every_message_accounted(f, sent);
}

/* Guards against use-after-free and lost accounting on the workers' lock-free send path
 * when actors send to actors that exit at the same moment. */
static void sends_from_actors_racing_with_exits_are_handled_or_dead_letters(void **state) {
  fix_t *f = *state;
  enum { BATCHES = 8, BATCH = 250, SPAMMERS = 4, ROUNDS = 20 };
  tr_ctx_t *ctx = tr_system_ctx(f->sys);
  uint64_t sent = 0;
  tr_pid_t spammers[SPAMMERS];
  for (int s = 0; s < SPAMMERS; s++)
    spammers[s] = must_spawn(f, ROLE_OLD);
  for (int b = 0; b < BATCHES; b++) {
    tr_pid_t pids[BATCH];
    for (int i = 0; i < BATCH; i++)
      pids[i] = must_spawn(f, ROLE_OLD);
    for (int s = 0; s < SPAMMERS; s++)
      assert_int_equal(tr_sendf(ctx, spammers[s], f->spray, "[uuuu]", sup_ptr(pids),
                                (uint64_t)BATCH, (uint64_t)ROUNDS, tr_client_pid(f->client).id),
                       0);
    sent += SPAMMERS;
    tr_reason_t r;
    tr_reason_set(&r, TR_REASON_KILLED, 0, NULL);
    for (int i = 0; i < BATCH; i++)
      assert_int_equal(i % 2 ? tr_exit(ctx, pids[i], &r) : tr_send(ctx, pids[i], f->stop, NULL, 0),
                       0);
    sent += BATCH / 2;
    for (int s = 0; s < SPAMMERS; s++) { /* pids stays valid until every spammer is done */
      tr_msg_t *m = sup_receive(f->client);
      uint64_t n;
      assert_int_equal(tr_msg_unpack(m, "[u]", &n), 0);
      assert_int_equal(n, BATCH * ROUNDS);
      sent += n;
      tr_msg_free(m);
    }
  }
  end_all(f, spammers, SPAMMERS);
  sent += SPAMMERS / 2;
  expect_every_message_accounted(f, sent);
}

/* Spawn from outside until the table refuses; returns how many were spawned. */
static size_t fill_table(fix_t *f, tr_pid_t *pids) {
  size_t n = 0;
  int rc;
  while ((rc = spawn_target(f, ROLE_OLD, &pids[n])) == 0)
    assert_true(++n <= SMALL_TABLE);
  assert_int_equal(rc, TR_ELIMIT);
  /* Slot 0, the client's slot and the fresh-slot batches workers hold may be missing. */
  assert_true(n >= SMALL_TABLE - 256);
  return n;
}

/* Guards against a full table crashing, overrunning its chunk, or staying full for good. */
static void spawning_past_max_actors_fails_with_elimit_and_the_system_keeps_working(void **state) {
  fix_t *f = *state;
  tr_pid_t *pids = sup_keep(&f->keep, malloc((SMALL_TABLE + 1) * sizeof *pids));
  size_t n = fill_table(f, pids);
  tr_pid_t extra;
  assert_int_equal(spawn_target(f, ROLE_OLD, &extra), TR_ELIMIT);
  assert_int_equal(sup_stats(f->sys).actors, n);
  /* The actors there still work. */
  tr_msg_free(sup_request(f->client, pids[0], f->ask));
  tr_msg_free(sup_request(f->client, pids[n - 1], f->ask));
  end_all(f, pids, n);
  for (size_t i = 0; i < 1000; i++)
    pids[i] = must_spawn(f, ROLE_NEW);
  sync_all(f, pids, 1000, 1000);
  assert_int_equal(sup_stats(f->sys).actors, 1000);
}

/* Guards against slots freed while the table is full being unusable by outside spawners:
 * max_actors bounds the actors alive at once, whoever spawns them. */
static void slots_freed_in_a_full_table_can_be_spawned_into_from_outside(void **state) {
  fix_t *f = *state;
  enum { FREED = 100 };
  tr_pid_t *pids = sup_keep(&f->keep, malloc((SMALL_TABLE + 1) * sizeof *pids));
  size_t n = fill_table(f, pids);
  tr_reason_t r;
  tr_reason_set(&r, TR_REASON_SHUTDOWN, 0, NULL); /* normal would be ignored */
  for (size_t i = 0; i < FREED; i++)
    assert_int_equal(tr_exit(tr_system_ctx(f->sys), pids[i], &r), 0);
  uint64_t deadline = sup_now_ms() + SUP_WAIT_MS;
  while (sup_stats(f->sys).actors > n - FREED && sup_now_ms() < deadline)
    sup_sleep_ms(1);
  assert_int_equal(sup_stats(f->sys).actors, n - FREED);
  for (size_t i = 0; i < FREED; i++)
    assert_int_equal(spawn_target(f, ROLE_NEW, &pids[i]), 0);
}

/* A sender reads its receiver from the table without touching the receiver, and checks the
 * receiver's pid only when it pushes; when the slot changed hands in between, the messages
 * go to whoever has the pid now, never into the actor the sender read: here a live actor
 * (which must get the ping) and then a dead pid (a dead letter). */
static void a_gathered_send_whose_slot_changed_hands_goes_to_the_pids_owner(void **state) {
  fix_t *f = *state;
  tr_ctx_t *ctx = tr_system_ctx(f->sys);
  tr_pid_t dead = must_spawn(f, ROLE_OLD);
  end_all(f, &dead, 1); /* waits for every actor to be gone: before the others */
  tr_pid_t read = must_spawn(f, ROLE_NEW), owner = must_spawn(f, ROLE_OLD);
  tr_pid_t sender = must_spawn(f, ROLE_NEW);
  for (uint64_t round = 0; round < 2; round++) {
    uint64_t dl = sup_stats(f->sys).dead_letters;
    tr_pid_t to = round == 0 ? owner : dead;
    assert_int_equal(tr_sendf(ctx, sender, f->retarget, "[uu]", read.id, to.id), 0);
    sync_all(f, &sender, 1, 3 * round + 1); /* its handler, and so its push, is done */
    assert_int_equal(sup_read(&f->gathered), round + 1);
    tr_pid_t two[] = {read, owner};
    sync_all(f, two, 2, 3 * round + 3); /* behind the ping, wherever it went */
    assert_int_equal(sup_read(&f->handled), 1);
    assert_int_equal(sup_stats(f->sys).dead_letters, dl + round);
  }
  assert_int_equal(sup_read(&f->stale_hits), 0);
}

int main(void) {
  sup_filter_from_env();
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(actor_info_on_the_pid_of_an_exited_actor_returns_enoent,
                                      setup, teardown),
      cmocka_unit_test_setup_teardown(
          stale_pid_is_a_dead_letter_and_never_reaches_the_slots_next_actor, setup_small, teardown),
      cmocka_unit_test_setup_teardown(
          sends_from_threads_racing_with_exits_are_handled_or_dead_letters, setup, teardown),
      cmocka_unit_test_setup_teardown(
          sends_from_actors_racing_with_exits_are_handled_or_dead_letters, setup, teardown),
      cmocka_unit_test_setup_teardown(
          spawning_past_max_actors_fails_with_elimit_and_the_system_keeps_working, setup_small,
          teardown),
      cmocka_unit_test_setup_teardown(slots_freed_in_a_full_table_can_be_spawned_into_from_outside,
                                      setup_small, teardown),
      cmocka_unit_test_setup_teardown(
          a_gathered_send_whose_slot_changed_hands_goes_to_the_pids_owner, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
