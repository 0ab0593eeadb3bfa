/* Tests of supervisors (actors/supervisor.c). Children ("kids") report to the test's client
 * when they start and terminate, with their id, a generation unique to each incarnation and
 * their pid. Terminations are causally ordered (a supervisor stops the next child only after
 * the previous one's exit), so their order is asserted exactly. Starts run concurrently, so
 * their events come in any order; start order is checked through the registry instead: each
 * child registers its id as its name at spawn, so a child started in order sees its older
 * siblings of the same round registered. Ballast in the init payloads makes each spawn slow,
 * so that a child spawned out of order nearly always runs its init before its older sibling
 * is spawned. A "boss" actor starts supervisors from a handler (so they are linked to it),
 * traps exits and reports how each supervisor ended. */
#include "support/support.h"

#define KID_CRASH 42     /* the error a kid's receive returns on "crash" */
#define PAD (4u << 20)   /* bytes of ballast in each kid's init payload (see above) */
#define LONG_MS 3600000u /* a period or shutdown time no test ever reaches */
#define NAMES "abcxy"    /* the ids (= registered names) a kid looks up at start */
#define NNAMES (sizeof NAMES - 1)

static const tr_reason_t SHUTDOWN = {.kind = TR_REASON_SHUTDOWN};

typedef struct {
  tr_child_spec_t kids[4];
  unsigned char init[4][PAD + 64];
  tr_supervisor_spec_t spec;
} tree_t;

/* What a kid (or the boss) reported; see EVENT_FMT. */
typedef struct {
  tr_atom_t tag;
  char id;
  uint64_t gen, pid, seen[NNAMES];
  int64_t kind, code;
} event_t;

typedef struct {
  tr_system_t *sys;
  tr_client_t *client;
  tr_pid_t me, boss; /* the client's pid, where kids and the boss report */
  tr_atom_t started, terminated, trapped, down, crash, quit, bye, start;
  _Atomic uint64_t gens; /* last generation handed out */
  const char *trappers;  /* ids of kids that trap exits and ignore shutdown ... */
  _Atomic int traps;     /* ... while this is positive (first incarnations only) */
  tree_t trees[2];
  const tr_supervisor_spec_t *spec; /* what the boss is to start next */
  event_t cur[26];                  /* the latest start seen per id letter; test thread only */
} fix_t;

/* ---- kids: report their starts, trapped exits and ends ---- */

typedef struct {
  fix_t *f;
  uint64_t gen;
  char id[8];
} kid_t;

/* Every event, whoever sends it: [id, generation, pid, reason kind, reason code, the pids
 * registered under each of NAMES when it was sent]. */
#define EVENT_FMT "[suuiiuuuuu]"

static void report(tr_ctx_t *ctx, const kid_t *s, tr_atom_t tag, const tr_reason_t *r) {
  uint64_t seen[NNAMES];
  for (size_t k = 0; k < NNAMES; k++)
    seen[k] = tr_whereis(tr_ctx_system(ctx), (char[2]){NAMES[k], 0}).id;
  tr_sendf(ctx, s->f->me, tag, EVENT_FMT, s->id, s->gen, tr_self(ctx).id, (int64_t)r->kind,
           (int64_t)r->code, seen[0], seen[1], seen[2], seen[3], seen[4]);
}

static int kid_init(tr_ctx_t *ctx, void *state, const tr_msg_t *init) {
  kid_t *s = state;
  uint64_t fp;
  const char *id;
  size_t len, padlen;
  const void *pad;
  if (tr_msg_unpack(init, "[usx]", &fp, &id, &len, &pad, &padlen) != 0 || len >= sizeof s->id)
    return TR_EINVAL;
  s->f = sup_unptr(fp);
  memcpy(s->id, id, len);
  /* relaxed: generations need to be unique, not ordered with anything else; the same for
   * the trap tickets. */
  s->gen = atomic_fetch_add_explicit(&s->f->gens, 1, memory_order_relaxed) + 1;
  if (s->f->trappers && strchr(s->f->trappers, s->id[0]) &&
      atomic_fetch_sub_explicit(&s->f->traps, 1, memory_order_relaxed) > 0)
    tr_trap_exit(ctx, true);
  report(ctx, s, s->f->started, &(tr_reason_t){.kind = TR_REASON_NORMAL});
  return 0;
}

static int kid_receive(tr_ctx_t *ctx, void *state, const tr_msg_t *m) {
  kid_t *s = state;
  tr_atom_t tag = tr_msg_tag(m);
  tr_reason_t r;
  tr_pid_t from;
  if (tag == s->f->crash)
    return KID_CRASH;
  if (tag == s->f->quit)
    tr_stop(ctx);
  if (tag == s->f->bye)
    tr_stop_reason(ctx, tr_reason_set(&r, TR_REASON_SHUTDOWN, 0, "bye"));
  if (tag == TR_ATOM_EXIT && tr_msg_exit(m, &from, &r) == 0) {
    if (tr_pid_is_none(from)) /* the system stopping: do not hold it up */
      tr_stop(ctx);
    else
      report(ctx, s, s->f->trapped, &r);
  }
  return 0;
}

static void kid_terminate(tr_ctx_t *ctx, void *state, const tr_reason_t *reason) {
  report(ctx, state, ((kid_t *)state)->f->terminated, reason);
}

static const tr_behaviour_t kid_behaviour = {.name = "kid",
                                             .state_size = sizeof(kid_t),
                                             .init = kid_init,
                                             .receive = kid_receive,
                                             .terminate = kid_terminate};

/* ---- the boss: starts a supervisor from a handler and reports how it ends ---- */

static int boss_init(tr_ctx_t *ctx, void *state, const tr_msg_t *init) {
  *(fix_t **)state = sup_init_ptr(init);
  return tr_trap_exit(ctx, true);
}

static int boss_receive(tr_ctx_t *ctx, void *state, const tr_msg_t *m) {
  fix_t *f = *(fix_t **)state;
  tr_atom_t tag = tr_msg_tag(m);
  tr_pid_t pid = TR_PID_NONE;
  tr_reason_t r;
  if (tag == f->start) {
    int rc = tr_supervisor_start(ctx, f->spec, &pid);
    tr_replyf(ctx, m, 0, "[iu]", (int64_t)rc, pid.id);
  } else { /* quit, or an exit: one supervisor per boss; never hold up the system stopping */
    if (tag == TR_ATOM_EXIT && tr_msg_exit(m, &pid, &r) == 0)
      tr_sendf(ctx, f->me, f->down, EVENT_FMT, "^", (uint64_t)0, pid.id, (int64_t)r.kind,
               (int64_t)r.code, (uint64_t)0, (uint64_t)0, (uint64_t)0, (uint64_t)0, (uint64_t)0);
    tr_stop(ctx);
  }
  return 0;
}

static const tr_behaviour_t boss_behaviour = {
    .name = "boss", .state_size = sizeof(fix_t *), .init = boss_init, .receive = boss_receive};

/* ---- fixture ---- */

static int setup(void **state) {
  fix_t *f = calloc(1, sizeof *f);
  assert_non_null(f);
  f->sys = sup_system_new(2, 0);
  assert_int_equal(tr_client_open(f->sys, &f->client), 0);
  f->me = tr_client_pid(f->client);
  const char *names[] = {"started", "terminated", "trapped", "down",
                         "crash",   "quit",       "bye",     "start"};
  tr_atom_t *atoms[] = {&f->started, &f->terminated, &f->trapped, &f->down,
                        &f->crash,   &f->quit,       &f->bye,     &f->start};
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
    assert_int_not_equal(*atoms[i] = tr_atom(f->sys, names[i]), 0);
  assert_int_equal(tr_spawnf(tr_system_ctx(f->sys), &boss_behaviour, &f->boss, "[u]", sup_ptr(f)),
                   0);
  *state = f;
  return 0;
}

static int teardown(void **state) {
  fix_t *f = *state;
  tr_client_close(f->client);
  tr_system_free(f->sys);
  free(f);
  return 0;
}

/* ---- building trees ---- */

/* Empty tree k of the fixture, to fill with kids(). */
static tree_t *tree(fix_t *f, int k, tr_strategy_t strategy, uint32_t intensity) {
  tree_t *t = &f->trees[k];
  t->spec = (tr_supervisor_spec_t){
      .strategy = strategy, .intensity = intensity, .period_ms = LONG_MS, .children = t->kids};
  return t;
}

/* Add one kid per letter of ids, registered under its id, with the restart policy at the
 * same position of policies: 'p'ermanent, 't'ransient or 'x' (temporary). */
static void kids(fix_t *f, tree_t *t, const char *ids, const char *policies) {
  static const char letters[] = "a\0b\0c\0d\0e\0f\0g\0h\0i\0j\0k\0l\0m\0n\0o\0p\0q\0r\0s\0t\0u\0v"
                                "\0w\0x\0y\0z";
  for (size_t k; *ids; ids++, policies++) {
    const char *id = &letters[2 * (*ids - 'a')];
    size_t len;
    assert_true((k = t->spec.nchildren++) < 4);
    static const unsigned char ballast[PAD];
    assert_int_equal(tr_pack_into(t->init[k], sizeof t->init[k], &len, "[usx]", sup_ptr(f), id,
                                  ballast, (size_t)PAD),
                     0);
    tr_child_spec_t *c = &t->kids[k];
    *c = (tr_child_spec_t){.id = id, .name = id, .behaviour = &kid_behaviour, .init = t->init[k]};
    c->init_len = len;
    c->restart = (tr_restart_t)(strchr("ptx", *policies) - "ptx");
    c->shutdown_ms = LONG_MS;
  }
}

/* Start a supervisor for spec from the boss (so linked to it); returns its pid. */
static tr_pid_t start_tree(fix_t *f, const tr_supervisor_spec_t *spec) {
  f->spec = spec; /* the request publishes it to the boss */
  tr_msg_t *r = sup_request(f->client, f->boss, f->start);
  tr_pid_t sup = {sup_arg_u(r, 1, 0)};
  assert_int_equal(sup_arg_u(r, 0, 1), 0); /* (a negative error code reads as 1) */
  tr_msg_free(r);
  assert_false(tr_pid_is_none(sup));
  return sup;
}

/* ---- reading events ---- */

static event_t next_event(fix_t *f) {
  tr_msg_t *m = sup_receive(f->client);
  event_t e = {.tag = tr_msg_tag(m)};
  const char *id;
  size_t len;
  assert_int_equal(tr_msg_unpack(m, EVENT_FMT, &id, &len, &e.gen, &e.pid, &e.kind, &e.code,
                                 &e.seen[0], &e.seen[1], &e.seen[2], &e.seen[3], &e.seen[4]),
                   0);
  e.id = len == 1 ? id[0] : '?';
  tr_msg_free(m);
  return e;
}

static event_t *cur(fix_t *f, char id) { return &f->cur[id - 'a']; }

/* The next event is `tag` (terminated or trapped) from the incarnation of `id` the test last
 * saw start, with a reason of `kind`. */
static void expect_event(fix_t *f, tr_atom_t tag, char id, tr_reason_kind_t kind) {
  event_t e = next_event(f);
  assert_int_equal(e.tag, tag);
  assert_int_equal(e.id, id);
  assert_int_equal(e.gen, cur(f, id)->gen);
  assert_int_equal(e.kind, kind);
}

/* The children in ids terminate in that order, each with a reason of `kind`. */
static void expect_stops(fix_t *f, const char *ids, tr_reason_kind_t kind) {
  for (; *ids; ids++)
    expect_event(f, f->terminated, *ids, kind);
}

/* The next event is the boss's report that sup ended with that reason. */
static void expect_down(fix_t *f, tr_pid_t sup, tr_reason_kind_t kind, int code) {
  event_t e = next_event(f);
  assert_true(e.tag == f->down && e.pid == sup.id && e.kind == kind && e.code == code);
}

/* Exactly the children in `ids` start, each once, as new incarnations; with `ordered`, in
 * the order of `ids` (checked through the registry: see the top of the file). */
static void expect_started(fix_t *f, const char *ids, bool ordered) {
  event_t ev[8];
  size_t n = strlen(ids);
  for (size_t k = 0; k < n; k++) {
    ev[k] = next_event(f);
    assert_int_equal(ev[k].tag, f->started);
    assert_non_null(strchr(ids, ev[k].id));
    for (size_t j = 0; j < k; j++)
      assert_int_not_equal(ev[j].id, ev[k].id);
    assert_true(ev[k].gen > cur(f, ev[k].id)->gen);
    *cur(f, ev[k].id) = ev[k];
  }
  for (size_t k = 0; ordered && k < n; k++) {
    size_t pos = (size_t)(strchr(ids, ev[k].id) - ids);
    for (size_t q = 0; q < pos; q++)
      assert_int_equal(ev[k].seen[strchr(NAMES, ids[q]) - NAMES], cur(f, ids[q])->pid);
  }
}

static void tell(fix_t *f, char id, tr_atom_t tag) {
  assert_int_equal(tr_send(tr_client_ctx(f->client), (tr_pid_t){cur(f, id)->pid}, tag, NULL, 0), 0);
}

/* Make a child crash, and see it terminate with the error. */
static void crash(fix_t *f, char id) {
  tell(f, id, f->crash);
  expect_event(f, f->terminated, id, TR_REASON_ERROR);
}

static tr_pid_t child_pid(fix_t *f, tr_pid_t sup, char id) {
  char s[2] = {id, 0};
  tr_pid_t pid = {UINT64_MAX};
  assert_int_equal(tr_supervisor_child(f->client, sup, s, SUP_WAIT_MS, &pid), 0);
  return pid;
}

/* Whether the supervisor's view of each child in ids is the start the test saw last. */
static bool children_are(fix_t *f, tr_pid_t sup, const char *ids) {
  for (; *ids; ids++)
    if (child_pid(f, sup, *ids).id != cur(f, *ids)->pid)
      return false;
  return true;
}

/* As children_are, and no event is left over (a stray start or stop would be). */
static void expect_settled(fix_t *f, tr_pid_t sup, const char *ids) {
  tr_msg_t *m = NULL;
  assert_true(children_are(f, sup, ids));
  assert_int_equal(tr_client_receive(f->client, 0, &m), TR_ETIMEDOUT);
}

/* Poll until the supervisor no longer reports `old` for the child (it has seen its exit). */
static tr_pid_t wait_child_changed(fix_t *f, tr_pid_t sup, char id) {
  uint64_t deadline = sup_now_ms() + SUP_WAIT_MS;
  tr_pid_t p;
  while ((p = child_pid(f, sup, id)).id == cur(f, id)->pid && sup_now_ms() < deadline)
    sup_sleep_ms(1);
  assert_int_not_equal(p.id, cur(f, id)->pid);
  return p;
}

static void wait_gone(fix_t *f, tr_pid_t pid) {
  tr_actor_info_t info;
  uint64_t deadline = sup_now_ms() + SUP_WAIT_MS;
  while (tr_actor_info(f->sys, pid, &info) == 0 && sup_now_ms() < deadline)
    sup_sleep_ms(1);
  assert_int_equal(tr_actor_info(f->sys, pid, &info), TR_ENOENT);
}

/* Start a flat tree of kids (see kids()) from the boss and see them start in order. */
static tr_pid_t start_flat(fix_t *f, tr_strategy_t strategy, uint32_t intensity, const char *ids,
                           const char *policies) {
  tree_t *t = tree(f, 0, strategy, intensity);
  kids(f, t, ids, policies);
  tr_pid_t sup = start_tree(f, &t->spec);
  expect_started(f, ids, true);
  return sup;
}

/* ---- tests ---- */

/* Guards against a bad spec being accepted and blowing up later inside the supervisor. */
static void start_rejects_invalid_specs(void **state) {
  fix_t *f = *state;
  tr_ctx_t *ctx = tr_system_ctx(f->sys);
  uint64_t spawned = sup_stats(f->sys).spawned;
  tree_t *t = tree(f, 0, TR_ONE_FOR_ONE, 1);
  kids(f, t, "a", "p");
  tr_supervisor_spec_t *spec = &t->spec;
  tr_child_spec_t *c = &t->kids[0];
  assert_int_equal(tr_supervisor_start(ctx, NULL, NULL), TR_EINVAL);
  assert_int_equal(tr_supervisor_start(NULL, spec, NULL), TR_EINVAL);
  spec->strategy = (tr_strategy_t)7;
  assert_int_equal(tr_supervisor_start(ctx, spec, NULL), TR_EINVAL);
  spec->strategy = TR_ONE_FOR_ONE;
  spec->period_ms = 0;
  assert_int_equal(tr_supervisor_start(ctx, spec, NULL), TR_EINVAL);
  spec->period_ms = 1;
  spec->children = NULL;
  assert_int_equal(tr_supervisor_start(ctx, spec, NULL), TR_EINVAL);
  spec->children = t->kids;
  c->restart = (tr_restart_t)9;
  assert_int_equal(tr_supervisor_start(ctx, spec, NULL), TR_EINVAL);
  c->restart = TR_RESTART_PERMANENT;
  c->supervisor = spec; /* both a behaviour and a supervisor */
  assert_int_equal(tr_supervisor_start(ctx, spec, NULL), TR_EINVAL);
  c->behaviour = NULL; /* a supervisor only, but the tree contains itself */
  assert_int_equal(tr_supervisor_start(ctx, spec, NULL), TR_EINVAL);
  c->supervisor = NULL; /* neither */
  assert_int_equal(tr_supervisor_start(ctx, spec, NULL), TR_EINVAL);
  c->behaviour = &kid_behaviour;
  kids(f, t, "a", "p"); /* a duplicate id */
  assert_int_equal(tr_supervisor_start(ctx, spec, NULL), TR_EINVAL);
  assert_int_equal(sup_stats(f->sys).spawned, spawned);
}

/* Guards against one_for_one touching siblings, or a restarted child losing its name. */
static void one_for_one_restarts_only_the_crashed_child_under_its_name(void **state) {
  fix_t *f = *state;
  tr_pid_t sup = start_flat(f, TR_ONE_FOR_ONE, 100, "abc", "ppp");
  uint64_t old = cur(f, 'b')->pid;
  assert_int_equal(tr_whereis(f->sys, "b").id, old);
  crash(f, 'b');
  expect_started(f, "b", false);
  assert_int_not_equal(cur(f, 'b')->pid, old);
  assert_int_equal(tr_whereis(f->sys, "b").id, cur(f, 'b')->pid);
  crash(f, 'a');
  expect_started(f, "a", false);
  expect_settled(f, sup, "abc");
}

/* Guards against one_for_all stopping or restarting children out of order, or missing one. */
static void one_for_all_stops_the_others_in_reverse_order_and_restarts_all_in_order(void **state) {
  fix_t *f = *state;
  tr_pid_t sup = start_flat(f, TR_ONE_FOR_ALL, 100, "abc", "ppp");
  crash(f, 'b');
  expect_stops(f, "ca", TR_REASON_SHUTDOWN);
  expect_started(f, "abc", true);
  expect_settled(f, sup, "abc");
}

/* Guards against rest_for_one touching older siblings or missing younger ones. */
static void rest_for_one_restarts_the_crashed_child_and_those_after_it(void **state) {
  fix_t *f = *state;
  tr_pid_t sup = start_flat(f, TR_REST_FOR_ONE, 100, "abc", "ppp");
  crash(f, 'b');
  expect_stops(f, "c", TR_REASON_SHUTDOWN);
  expect_started(f, "bc", true);
  crash(f, 'a');
  expect_stops(f, "cb", TR_REASON_SHUTDOWN);
  expect_started(f, "abc", true);
  expect_settled(f, sup, "abc");
}

/* Guards against restarting a transient child that finished, or not one that failed. */
static void transient_child_is_restarted_only_after_an_abnormal_exit(void **state) {
  fix_t *f = *state;
  tr_pid_t sup = start_flat(f, TR_ONE_FOR_ONE, 100, "abc", "ttt");
  tell(f, 'a', f->quit);
  expect_stops(f, "a", TR_REASON_NORMAL);
  assert_true(tr_pid_is_none(wait_child_changed(f, sup, 'a')));
  tell(f, 'b', f->bye);
  expect_stops(f, "b", TR_REASON_SHUTDOWN);
  assert_true(tr_pid_is_none(wait_child_changed(f, sup, 'b')));
  crash(f, 'c');
  expect_started(f, "c", false);
  expect_settled(f, sup, "c");
}

/* Guards against restarting a temporary child, alone or with its siblings. */
static void temporary_child_is_never_restarted(void **state) {
  fix_t *f = *state;
  tr_pid_t sup = start_flat(f, TR_ONE_FOR_ALL, 100, "abc", "pxx");
  crash(f, 'c');
  assert_true(tr_pid_is_none(wait_child_changed(f, sup, 'c')));
  crash(f, 'a');
  expect_stops(f, "b", TR_REASON_SHUTDOWN);
  expect_started(f, "a", false);
  assert_true(tr_pid_is_none(child_pid(f, sup, 'b')));
  assert_true(tr_pid_is_none(child_pid(f, sup, 'c')));
  expect_settled(f, sup, "a");
}

/* Guards against endless restart loops: past the intensity the whole tree must stop. */
static void exceeding_the_restart_intensity_ends_the_supervisor_and_its_children(void **state) {
  fix_t *f = *state;
  tr_pid_t sup = start_flat(f, TR_ONE_FOR_ONE, 2, "ab", "pp");
  for (int k = 0; k < 2; k++) {
    crash(f, 'a');
    expect_started(f, "a", false);
  }
  crash(f, 'a');
  expect_stops(f, "b", TR_REASON_SHUTDOWN);
  expect_down(f, sup, TR_REASON_SHUTDOWN, 0);
  expect_settled(f, sup, ""); /* nothing left over */
}

/* Guards against a tree shutting down out of order (reverse start order, depth first). */
static void shutting_down_a_nested_tree_stops_children_depth_first_in_reverse(void **state) {
  fix_t *f = *state;
  tree_t *sub = tree(f, 1, TR_ONE_FOR_ONE, 100), *top = tree(f, 0, TR_ONE_FOR_ONE, 100);
  kids(f, sub, "xy", "pp");
  kids(f, top, "asb", "ppp");
  top->kids[1] = (tr_child_spec_t){.id = "s", .supervisor = &sub->spec, .shutdown_ms = LONG_MS};
  tr_pid_t sup = start_tree(f, &top->spec);
  expect_started(f, "axyb", false);
  tr_pid_t s = child_pid(f, sup, 's');
  assert_false(tr_pid_is_none(s));
  expect_settled(f, s, "xy");
  assert_int_equal(tr_exit(tr_system_ctx(f->sys), sup, &SHUTDOWN), 0);
  expect_stops(f, "byxa", TR_REASON_SHUTDOWN);
  expect_down(f, sup, TR_REASON_SHUTDOWN, 0); /* top waited for s: s is gone too */
}

/* Guards against waiting forever for a child that ignores shutdown (and shutdown_ms 0). */
static void child_that_ignores_shutdown_is_killed_after_its_shutdown_time(void **state) {
  fix_t *f = *state;
  f->trappers = "ab";
  atomic_store_explicit(&f->traps, 2, memory_order_relaxed); /* the spawns publish it */
  tree_t *t = tree(f, 0, TR_ONE_FOR_ONE, 100);
  kids(f, t, "ab", "pp");
  t->kids[0].shutdown_ms = 20;
  t->kids[1].shutdown_ms = 0;
  tr_pid_t sup = start_tree(f, &t->spec);
  expect_started(f, "ab", true);
  assert_int_equal(tr_exit(tr_system_ctx(f->sys), sup, &SHUTDOWN), 0);
  expect_stops(f, "b", TR_REASON_KILLED);
  expect_event(f, f->trapped, 'a', TR_REASON_SHUTDOWN);
  expect_stops(f, "a", TR_REASON_KILLED);
  expect_down(f, sup, TR_REASON_SHUTDOWN, 0);
}

/* Guards against tr_supervisor_child giving stale pids, inventing ids or hanging. */
static void supervisor_child_reports_current_pids_and_unknown_ids(void **state) {
  fix_t *f = *state;
  tree_t *t = tree(f, 0, TR_ONE_FOR_ONE, 100);
  kids(f, t, "ab", "pp");
  tr_pid_t sup = TR_PID_NONE, pid = {UINT64_MAX};
  assert_int_equal(tr_supervisor_start(tr_client_ctx(f->client), &t->spec, &sup), 0);
  expect_started(f, "ab", true);
  expect_settled(f, sup, "ab");
  assert_int_equal(tr_supervisor_child(f->client, sup, "nobody", SUP_WAIT_MS, &pid), TR_ENOENT);
  assert_true(tr_pid_is_none(pid));
  assert_int_equal(tr_supervisor_child(f->client, sup, NULL, SUP_WAIT_MS, &pid), TR_EINVAL);
  assert_int_equal(tr_supervisor_child(NULL, sup, "a", SUP_WAIT_MS, &pid), TR_EINVAL);
  assert_int_equal(tr_exit(tr_client_ctx(f->client), sup, &SHUTDOWN), 0);
  expect_stops(f, "ba", TR_REASON_SHUTDOWN);
  wait_gone(f, sup);
  assert_int_equal(tr_supervisor_child(f->client, sup, "a", SUP_WAIT_MS, &pid), TR_ENOENT);
}

/* Guards against a half-started tree running on, or exiting without the start error. */
static void failed_child_start_stops_started_children_and_exits_with_the_error(void **state) {
  fix_t *f = *state;
  assert_int_equal(tr_register(f->sys, "taken", f->boss), 0);
  tree_t *t = tree(f, 0, TR_ONE_FOR_ONE, 100);
  kids(f, t, "abc", "ppp");
  t->kids[1].name = "taken";
  tr_pid_t sup = start_tree(f, &t->spec);
  /* a may be stopped before its init runs; then it reports nothing at all. */
  event_t e = next_event(f);
  if (e.tag == f->started) {
    assert_int_equal(e.id, 'a');
    *cur(f, 'a') = e;
    expect_stops(f, "a", TR_REASON_SHUTDOWN);
    e = next_event(f);
  }
  assert_true(e.tag == f->down && e.pid == sup.id);
  assert_true(e.kind == TR_REASON_ERROR && e.code == TR_EEXIST);
  assert_true(tr_pid_is_none(tr_whereis(f->sys, "a")));
  expect_settled(f, sup, ""); /* nothing left over */
}

/* Guards against a start from outside returning before the children exist, which made every
 * server poll tr_whereis until its supervised actors were registered. */
static void start_from_outside_returns_once_every_child_is_registered(void **state) {
  fix_t *f = *state;
  tree_t *t = tree(f, 0, TR_ONE_FOR_ONE, 100);
  kids(f, t, "abc", "ppp");
  tr_pid_t sup = TR_PID_NONE;
  assert_int_equal(tr_supervisor_start(tr_system_ctx(f->sys), &t->spec, &sup), 0);
  assert_false(tr_pid_is_none(sup));
  /* No wait: the names are there when the call returns (each child's 4 MiB init payload makes
   * the spawns slow enough that an early return would be seen here). */
  for (const char *id = "abc"; *id; id++)
    assert_false(tr_pid_is_none(tr_whereis(f->sys, (char[2]){*id, 0})));
  expect_started(f, "abc", true);
  assert_int_equal(tr_exit(tr_client_ctx(f->client), sup, &SHUTDOWN), 0);
  expect_stops(f, "cba", TR_REASON_SHUTDOWN);
  wait_gone(f, sup);
}

/* Guards against a stop from outside that returns before the children have stopped (or
 * stops them out of order, or waits for a supervisor that is gone). */
static void stop_from_outside_returns_once_every_child_has_stopped(void **state) {
  fix_t *f = *state;
  f->trappers = "a"; /* a ignores shutdown: the supervisor kills it after 200 ms */
  atomic_store_explicit(&f->traps, 1, memory_order_relaxed); /* the spawns publish it */
  tree_t *t = tree(f, 0, TR_ONE_FOR_ONE, 100);
  kids(f, t, "abc", "ppp");
  t->kids[0].shutdown_ms = 200;
  tr_pid_t sup = TR_PID_NONE;
  assert_int_equal(tr_supervisor_start(tr_system_ctx(f->sys), &t->spec, &sup), 0);
  expect_started(f, "abc", true);
  assert_int_equal(tr_supervisor_stop(tr_system_ctx(f->sys), sup), 0);
  /* No wait: a child's name goes at its exit, and the call returns after the last exit. */
  for (const char *id = "abc"; *id; id++)
    assert_true(tr_pid_is_none(tr_whereis(f->sys, (char[2]){*id, 0})));
  expect_stops(f, "cb", TR_REASON_SHUTDOWN);
  expect_event(f, f->trapped, 'a', TR_REASON_SHUTDOWN);
  expect_stops(f, "a", TR_REASON_KILLED);
  wait_gone(f, sup);
  assert_int_equal(tr_supervisor_stop(tr_client_ctx(f->client), sup), 0); /* gone: at once */
}

/* Guards against a start from outside that hides a child's start failure behind success. */
static void start_from_outside_returns_the_error_of_a_failed_child_start(void **state) {
  fix_t *f = *state;
  assert_int_equal(tr_register(f->sys, "taken", f->boss), 0);
  tree_t *t = tree(f, 0, TR_ONE_FOR_ONE, 100);
  kids(f, t, "ab", "pp");
  t->kids[1].name = "taken";
  tr_pid_t sup = TR_PID_NONE;
  assert_int_equal(tr_supervisor_start(tr_system_ctx(f->sys), &t->spec, &sup), TR_EEXIST);
  assert_true(tr_pid_is_none(sup));
  /* The supervisor stops what it started and exits; only the boss is left. */
  assert_int_equal(sup_wait_actors(f->sys, 1), 1);
  assert_true(tr_pid_is_none(tr_whereis(f->sys, "a")));
  /* a may be stopped before its init runs; then it reports nothing at all. Its reports are
   * queued before it is gone. */
  tr_msg_t *m = NULL;
  if (tr_client_receive(f->client, 0, &m) == 0) {
    assert_int_equal(tr_msg_tag(m), f->started);
    tr_msg_free(m);
    m = sup_receive(f->client);
    assert_int_equal(tr_msg_tag(m), f->terminated);
    tr_msg_free(m);
  }
  assert_int_equal(tr_client_receive(f->client, 0, &m), TR_ETIMEDOUT);
}

/* Guards against a supervisor outliving the actor that started it (its parent). */
static void supervisor_stops_its_children_when_its_parent_exits(void **state) {
  fix_t *f = *state;
  tr_pid_t sup = start_flat(f, TR_ONE_FOR_ONE, 100, "ab", "pp");
  assert_int_equal(tr_send(tr_client_ctx(f->client), f->boss, f->quit, NULL, 0), 0);
  expect_stops(f, "ba", TR_REASON_SHUTDOWN);
  wait_gone(f, sup);
  expect_settled(f, sup, ""); /* nothing left over */
}

/* Guards against double restarts when a child dies while one_for_all stops the others. */
static void child_dying_during_one_for_all_is_restarted_once_with_the_others(void **state) {
  fix_t *f = *state;
  f->trappers = "c";
  atomic_store_explicit(&f->traps, 1, memory_order_relaxed); /* the spawns publish it */
  tr_pid_t sup = start_flat(f, TR_ONE_FOR_ALL, 100, "abc", "ppp");
  crash(f, 'b');
  expect_event(f, f->trapped, 'c', TR_REASON_SHUTDOWN); /* the supervisor waits for c */
  crash(f, 'a');
  assert_true(tr_pid_is_none(wait_child_changed(f, sup, 'a'))); /* seen while c is awaited */
  tell(f, 'c', f->quit);
  expect_stops(f, "c", TR_REASON_NORMAL);
  expect_started(f, "abc", true);
  expect_settled(f, sup, "abc");
}

/* Guards against losing the restart of a child that died during another restart round. */
static void child_dying_outside_a_rest_for_one_round_is_restarted_after_it(void **state) {
  fix_t *f = *state;
  f->trappers = "c";
  atomic_store_explicit(&f->traps, 1, memory_order_relaxed); /* the spawns publish it */
  tr_pid_t sup = start_flat(f, TR_REST_FOR_ONE, 100, "abc", "ppp");
  uint64_t old_a = cur(f, 'a')->pid;
  crash(f, 'b');
  expect_event(f, f->trapped, 'c', TR_REASON_SHUTDOWN);
  crash(f, 'a');
  assert_true(tr_pid_is_none(wait_child_changed(f, sup, 'a'))); /* seen while c is awaited */
  tell(f, 'c', f->quit);
  expect_stops(f, "c", TR_REASON_NORMAL);
  /* b and c restart; a's restart stops them again (maybe before their init, so some events
   * never come) and starts a, b, c. Read events until the supervisor's children are new
   * incarnations the test saw start; until then one more start is always to come. */
  while (cur(f, 'a')->pid == old_a || !children_are(f, sup, "abc")) {
    event_t e = next_event(f);
    assert_true(e.tag == f->started || e.tag == f->terminated);
    if (e.tag == f->started)
      *cur(f, e.id) = e;
  }
}

#define TEST(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int main(void) {
  const struct CMUnitTest tests[] = {
      TEST(start_rejects_invalid_specs),
      TEST(one_for_one_restarts_only_the_crashed_child_under_its_name),
      TEST(one_for_all_stops_the_others_in_reverse_order_and_restarts_all_in_order),
      TEST(rest_for_one_restarts_the_crashed_child_and_those_after_it),
      TEST(transient_child_is_restarted_only_after_an_abnormal_exit),
      TEST(temporary_child_is_never_restarted),
      TEST(exceeding_the_restart_intensity_ends_the_supervisor_and_its_children),
      TEST(shutting_down_a_nested_tree_stops_children_depth_first_in_reverse),
      TEST(child_that_ignores_shutdown_is_killed_after_its_shutdown_time),
      TEST(supervisor_child_reports_current_pids_and_unknown_ids),
      TEST(failed_child_start_stops_started_children_and_exits_with_the_error),
      TEST(start_from_outside_returns_once_every_child_is_registered),
      TEST(stop_from_outside_returns_once_every_child_has_stopped),
      TEST(start_from_outside_returns_the_error_of_a_failed_child_start),
      TEST(supervisor_stops_its_children_when_its_parent_exits),
      TEST(child_dying_during_one_for_all_is_restarted_once_with_the_others),
      TEST(child_dying_outside_a_rest_for_one_round_is_restarted_after_it),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
