/* Tests of the local registry (actors/registry.c): a name resolves to its actor until it is
 * unregistered or the actor exits, however it exits; a name names one actor and an actor has
 * one name; bad names and dead pids are refused; and registering while the actor exits, from
 * several threads at once, never leaves a name pointing at a dead actor. */
#include <pthread.h>
#include <stdio.h>

#include "support/support.h"

/* Flags of a named actor's init payload "[uus]" (fixture, flags, name). */
enum {
  SELF_REGISTER = 1u, /* init registers the name for itself */
  STOP_IN_INIT = 2u,  /* ... then calls tr_stop */
  FAIL_IN_INIT = 4u,  /* ... or returns an error */
};

typedef struct {
  tr_system_t *sys;
  tr_client_t *client;
  tr_atom_t stop, fail, ask;
  _Atomic uint64_t self_registered;
  sup_keep_t keep;
} fix_t;

typedef struct {
  fix_t *f;
} named_t;

static int named_init(tr_ctx_t *ctx, void *state, const tr_msg_t *init) {
  named_t *s = state;
  uint64_t f, flags;
  const char *name;
  size_t len;
  if (tr_msg_unpack(init, "[uus]", &f, &flags, &name, &len) != 0)
    return 1;
  s->f = sup_unptr(f);
  if (flags & SELF_REGISTER) {
    char buf[TR_NAME_MAX + 2];
    snprintf(buf, sizeof buf, "%.*s", (int)len, name);
    if (tr_register(tr_ctx_system(ctx), buf, tr_self(ctx)) == 0)
      sup_bump(&s->f->self_registered);
  }
  if (flags & STOP_IN_INIT)
    tr_stop(ctx);
  return flags & FAIL_IN_INIT ? 5 : 0;
}

static int named_receive(tr_ctx_t *ctx, void *state, const tr_msg_t *m) {
  named_t *s = state;
  tr_atom_t tag = tr_msg_tag(m);
  if (tag == s->f->stop)
    tr_stop(ctx);
  else if (tag == s->f->fail)
    return 3;
  else if (tag == s->f->ask)
    tr_reply(ctx, m, 0, NULL, 0);
  return 0;
}

static const tr_behaviour_t named_behaviour = {
    .name = "named", .state_size = sizeof(named_t), .init = named_init, .receive = named_receive};

static int setup(void **state) {
  fix_t *f = calloc(1, sizeof *f);
  assert_non_null(f);
  f->sys = sup_system_new(2, 0);
  assert_int_equal(tr_client_open(f->sys, &f->client), 0);
  f->stop = tr_atom(f->sys, "stop");
  f->fail = tr_atom(f->sys, "fail");
  f->ask = tr_atom(f->sys, "ask");
  *state = f;
  return 0;
}

static int teardown(void **state) {
  fix_t *f = *state;
  tr_client_close(f->client);
  tr_system_free(f->sys);
  sup_keep_free(&f->keep);
  free(f);
  return 0;
}

/* ---- helpers ---- */

static tr_pid_t spawn_named(fix_t *f, uint64_t flags, const char *name) {
  tr_pid_t pid;
  assert_int_equal(tr_spawnf(tr_system_ctx(f->sys), &named_behaviour, &pid, "[uus]", sup_ptr(f),
                             flags, name ? name : ""),
                   0);
  return pid;
}

static tr_pid_t spawn_plain(fix_t *f) { return spawn_named(f, 0, NULL); }

typedef struct {
  tr_system_t *sys;
  const char *name;
} lookup_t;

static bool name_is_gone(void *arg) {
  lookup_t *l = arg;
  return tr_pid_is_none(tr_whereis(l->sys, l->name));
}

/* Poll (bounded) until the name resolves to nobody; the exit drops it asynchronously. */
static void expect_name_dropped(fix_t *f, const char *name) {
  lookup_t l = {f->sys, name};
  assert_true(sup_wait(name_is_gone, &l));
}

static void expect_name_of(fix_t *f, tr_pid_t pid, const char *name) {
  tr_actor_info_t info;
  assert_int_equal(tr_actor_info(f->sys, pid, &info), 0);
  assert_string_equal(info.name, name);
}

/* ---- tests ---- */

/* Guards against a name resolving to the wrong pid, or surviving tr_unregister. */
static void registered_name_resolves_to_its_pid_until_unregistered(void **state) {
  fix_t *f = *state;
  tr_pid_t a = spawn_plain(f), b = spawn_plain(f);
  assert_true(tr_pid_is_none(tr_whereis(f->sys, "alpha")));
  assert_int_equal(tr_register(f->sys, "alpha", a), 0);
  assert_int_equal(tr_register(f->sys, "beta", b), 0);
  assert_true(tr_pid_eq(tr_whereis(f->sys, "alpha"), a));
  assert_true(tr_pid_eq(tr_whereis(f->sys, "beta"), b));
  expect_name_of(f, a, "alpha");
  /* Messages reach the actor through the name it was looked up by. */
  tr_msg_free(sup_request(f->client, tr_whereis(f->sys, "alpha"), f->ask));
  assert_int_equal(tr_unregister(f->sys, "alpha"), 0);
  assert_true(tr_pid_is_none(tr_whereis(f->sys, "alpha")));
  assert_true(tr_pid_eq(tr_whereis(f->sys, "beta"), b));
  expect_name_of(f, a, "");
  assert_int_equal(tr_unregister(f->sys, "alpha"), TR_ENOENT);
  assert_int_equal(tr_unregister(f->sys, "gamma"), TR_ENOENT);
  /* Unregistered, the actor may take a name again. */
  assert_int_equal(tr_register(f->sys, "alpha2", a), 0);
  assert_true(tr_pid_eq(tr_whereis(f->sys, "alpha2"), a));
}

/* Guards against a name being stolen by a second actor or an actor collecting names. */
static void taken_name_and_already_named_actor_are_refused_with_eexist(void **state) {
  fix_t *f = *state;
  tr_pid_t a = spawn_plain(f), b = spawn_plain(f);
  assert_int_equal(tr_register(f->sys, "alpha", a), 0);
  assert_int_equal(tr_register(f->sys, "alpha", b), TR_EEXIST);
  assert_int_equal(tr_register(f->sys, "alpha", a), TR_EEXIST);
  assert_int_equal(tr_register(f->sys, "beta", a), TR_EEXIST);
  assert_true(tr_pid_eq(tr_whereis(f->sys, "alpha"), a));
  assert_true(tr_pid_is_none(tr_whereis(f->sys, "beta")));
  expect_name_of(f, a, "alpha");
  expect_name_of(f, b, "");
}

/* Guards against names being given to pids that name no live actor. */
static void registering_a_pid_that_is_not_alive_fails_with_enoent(void **state) {
  fix_t *f = *state;
  tr_pid_t a = spawn_plain(f);
  assert_int_equal(tr_send(tr_system_ctx(f->sys), a, f->stop, NULL, 0), 0);
  assert_int_equal(tr_system_await(f->sys, SUP_WAIT_MS), 0);
  assert_int_equal(tr_register(f->sys, "ghost", a), TR_ENOENT);
  assert_int_equal(tr_register(f->sys, "none", TR_PID_NONE), TR_ENOENT);
  assert_true(tr_pid_is_none(tr_whereis(f->sys, "ghost")));
  assert_true(tr_pid_is_none(tr_whereis(f->sys, "none")));
}

/* Guards against names outliving their actor (for each way to exit), and against a dropped
 * name staying blocked for the next actor. */
static void name_is_dropped_when_its_actor_exits_and_can_be_registered_again(void **state) {
  fix_t *f = *state;
  tr_ctx_t *ctx = tr_system_ctx(f->sys);
  tr_pid_t a = spawn_plain(f);
  assert_int_equal(tr_register(f->sys, "svc", a), 0);
  for (int way = 0; way < 3; way++) {
    tr_reason_t r;
    if (way == 0)
      assert_int_equal(tr_send(ctx, a, f->stop, NULL, 0), 0);
    else if (way == 1)
      assert_int_equal(tr_send(ctx, a, f->fail, NULL, 0), 0);
    else
      assert_int_equal(tr_exit(ctx, a, tr_reason_set(&r, TR_REASON_SHUTDOWN, 0, NULL)), 0);
    expect_name_dropped(f, "svc");
    tr_pid_t b = spawn_plain(f);
    assert_int_equal(tr_register(f->sys, "svc", b), 0);
    assert_true(tr_pid_eq(tr_whereis(f->sys, "svc"), b));
    expect_name_of(f, b, "svc");
    a = b;
  }
}

/* Guards against an actor that names itself in init keeping the name after init ends it
 * (with tr_stop, or by failing without terminate). */
static void name_taken_in_init_is_dropped_when_init_ends_the_actor(void **state) {
  fix_t *f = *state;
  spawn_named(f, SELF_REGISTER | STOP_IN_INIT, "brief");
  spawn_named(f, SELF_REGISTER | FAIL_IN_INIT, "failed");
  tr_pid_t stays = spawn_named(f, SELF_REGISTER, "stays");
  assert_int_equal(sup_wait_count(&f->self_registered, 3), 3);
  expect_name_dropped(f, "brief");
  expect_name_dropped(f, "failed");
  assert_true(tr_pid_eq(tr_whereis(f->sys, "stays"), stays));
}

/* Guards against length checks off by one, and against NULL or empty names. */
static void invalid_names_are_refused_with_einval(void **state) {
  fix_t *f = *state;
  tr_pid_t a = spawn_plain(f);
  char longest[TR_NAME_MAX + 1], too_long[TR_NAME_MAX + 2];
  memset(longest, 'n', TR_NAME_MAX);
  longest[TR_NAME_MAX] = '\0';
  memset(too_long, 'n', TR_NAME_MAX + 1);
  too_long[TR_NAME_MAX + 1] = '\0';
  assert_int_equal(tr_register(f->sys, "", a), TR_EINVAL);
  assert_int_equal(tr_register(f->sys, NULL, a), TR_EINVAL);
  assert_int_equal(tr_register(f->sys, too_long, a), TR_EINVAL);
  assert_int_equal(tr_unregister(f->sys, ""), TR_EINVAL);
  assert_int_equal(tr_unregister(f->sys, too_long), TR_EINVAL);
  assert_true(tr_pid_is_none(tr_whereis(f->sys, "")));
  assert_true(tr_pid_is_none(tr_whereis(f->sys, too_long)));
  expect_name_of(f, a, "");
  assert_int_equal(tr_register(f->sys, longest, a), 0);
  assert_true(tr_pid_eq(tr_whereis(f->sys, longest), a));
  expect_name_of(f, a, longest);
}

/* Guards against the registry losing names when it grows, and against many exits racing
 * their own name drops. */
static void many_names_resolve_and_all_are_dropped_with_their_actors(void **state) {
  fix_t *f = *state;
  enum { N = 2000 };
  tr_pid_t *pids = sup_keep(&f->keep, malloc(N * sizeof *pids));
  char name[32];
  for (int i = 0; i < N; i++) {
    pids[i] = spawn_plain(f);
    snprintf(name, sizeof name, "actor-%d", i);
    assert_int_equal(tr_register(f->sys, name, pids[i]), 0);
  }
  for (int i = 0; i < N; i++) {
    snprintf(name, sizeof name, "actor-%d", i);
    assert_true(tr_pid_eq(tr_whereis(f->sys, name), pids[i]));
    assert_int_equal(tr_send(tr_system_ctx(f->sys), pids[i], f->stop, NULL, 0), 0);
  }
  assert_int_equal(tr_system_await(f->sys, SUP_WAIT_MS), 0);
  for (int i = 0; i < N; i++) {
    snprintf(name, sizeof name, "actor-%d", i);
    expect_name_dropped(f, name);
  }
}

/* One thread of the race: spawn, end every other actor, and register each at once. */
typedef struct {
  fix_t *f;
  int first, n;
  tr_pid_t *pids;
  int *rc;
} racer_t;

static void *racer(void *arg) {
  racer_t *r = arg;
  tr_ctx_t *ctx = tr_system_ctx(r->f->sys);
  tr_reason_t why;
  tr_reason_set(&why, TR_REASON_SHUTDOWN, 0, NULL);
  char name[32];
  for (int i = r->first; i < r->first + r->n; i++) {
    if (tr_spawnf(ctx, &named_behaviour, &r->pids[i], "[uus]", sup_ptr(r->f), (uint64_t)0, "") !=
        0) {
      r->rc[i] = 1;
      continue;
    }
    if (i % 4 == 1)
      tr_send(ctx, r->pids[i], r->f->stop, NULL, 0);
    else if (i % 4 == 3)
      tr_exit(ctx, r->pids[i], &why);
    snprintf(name, sizeof name, "race-%d", i);
    r->rc[i] = tr_register(r->f->sys, name, r->pids[i]);
  }
  return NULL;
}

static bool only_live_ones_left(void *arg) {
  fix_t *f = arg;
  return sup_stats(f->sys).actors == sup_stats(f->sys).spawned / 2;
}

/* Guards against the register/exit race: a name given to an actor that is exiting must be
 * dropped with it, so once things settle no name resolves to a dead actor. */
static void register_racing_with_exit_never_leaves_a_name_on_a_dead_actor(void **state) {
  fix_t *f = *state;
  enum { THREADS = 2, PER_THREAD = 1000, N = THREADS * PER_THREAD };
  tr_pid_t *pids = sup_keep(&f->keep, calloc(N, sizeof *pids));
  int *rc = sup_keep(&f->keep, calloc(N, sizeof *rc));
  pthread_t th[THREADS];
  racer_t r[THREADS];
  for (int t = 0; t < THREADS; t++) {
    r[t] = (racer_t){f, t * PER_THREAD, PER_THREAD, pids, rc};
    assert_int_equal(pthread_create(&th[t], NULL, racer, &r[t]), 0);
  }
  for (int t = 0; t < THREADS; t++)
    pthread_join(th[t], NULL);
  assert_true(sup_wait(only_live_ones_left, f));
  char name[32];
  tr_actor_info_t info;
  for (int i = 0; i < N; i++) {
    snprintf(name, sizeof name, "race-%d", i);
    tr_pid_t p = tr_whereis(f->sys, name);
    if (i % 2 == 1) { /* ended: the name was refused, or given and dropped */
      assert_true(rc[i] == 0 || rc[i] == TR_ENOENT);
      expect_name_dropped(f, name);
      assert_int_equal(tr_actor_info(f->sys, pids[i], &info), TR_ENOENT);
    } else { /* alive: the name was given and stays */
      assert_int_equal(rc[i], 0);
      assert_true(tr_pid_eq(p, pids[i]));
      assert_int_equal(tr_actor_info(f->sys, p, &info), 0);
      assert_string_equal(info.name, name);
    }
  }
}

int main(void) {
  sup_filter_from_env();
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(registered_name_resolves_to_its_pid_until_unregistered, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(taken_name_and_already_named_actor_are_refused_with_eexist,
                                      setup, teardown),
      cmocka_unit_test_setup_teardown(registering_a_pid_that_is_not_alive_fails_with_enoent, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(
          name_is_dropped_when_its_actor_exits_and_can_be_registered_again, setup, teardown),
      cmocka_unit_test_setup_teardown(name_taken_in_init_is_dropped_when_init_ends_the_actor, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(invalid_names_are_refused_with_einval, setup, teardown),
      cmocka_unit_test_setup_teardown(many_names_resolve_and_all_are_dropped_with_their_actors,
                                      setup, teardown),
      cmocka_unit_test_setup_teardown(register_racing_with_exit_never_leaves_a_name_on_a_dead_actor,
                                      setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
