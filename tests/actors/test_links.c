/* Tests of links, monitors and trapped exits (actors/links.c, troupe/actor.h): an abnormal
 * exit travels a chain of links with its reason intact while a normal one does not; a
 * trapping actor gets EXIT messages instead and lives, except for reason killed; links and
 * monitors of dead pids answer noproc; unlink and demonitor cut the tie, even racing the exit;
 * tr_spawn_opts ties the child before it runs; tr_stop_reason's reason is the one seen. The
 * actors report what they see (terminate, EXIT, DOWN) to the test's client, which compares. */
#include "support/support.h"

/* Flags of a node's init payload. */
enum {
  NODE_TRAP = 1u,      /* trap exits from init on */
  NODE_FAIL_INIT = 2u, /* init returns NODE_INIT_ERROR */
  NODE_STOP_INIT = 4u, /* init calls tr_stop */
  NODE_FIND_SELF = 8u, /* init reports (found) what tr_whereis(FIND_NAME) gives */
};
#define FIND_NAME "finder-1"
#define NODE_INIT_ERROR 5
enum { SPAWN_LINK = 1u, SPAWN_MONITOR = 2u, SPAWN_CHILD_FAILS = 4u }; /* how "spawn" spawns */
/* Iterations of the demonitor-versus-exit race: enough for both orders to happen often. */
#define RACE_ROUNDS 400u
/* How long the test listens for a message that must not come (a duplicate DOWN, an EXIT
 * that was cut): long enough for a wrong delivery to land; never a timing assertion. */
#define QUIET_MS 150

typedef struct {
  tr_system_t *sys;
  tr_client_t *client;
  tr_atom_t link, unlink, monitor, demonitor, fail, stop, stop_reason, ping, spawn, race;
  tr_atom_t reason, exited, down, raced, found;
  _Atomic uint64_t bad; /* what handlers found wrong (cmocka cannot fail a test from them) */
} fix_t;

/* One report an actor sent to the client: what it saw, and where. */
typedef struct {
  tr_atom_t tag;       /* reason (terminate ran), exited (EXIT message), down (DOWN) */
  uint64_t self, a, b; /* reporter; exited: from, 0; down: ref, pid */
  int64_t kind, code;
  char text[TR_REASON_TEXT_MAX];
} report_t;

typedef struct {
  fix_t *f;
  tr_pid_t report;
} node_t;

static void send_report(tr_ctx_t *ctx, node_t *s, tr_atom_t tag, uint64_t a, uint64_t b,
                        const tr_reason_t *r) {
  if (!tr_pid_is_none(s->report))
    tr_sendf(ctx, s->report, tag, "[uuuiis]", tr_self(ctx).id, a, b, (int64_t)r->kind,
             (int64_t)r->code, r->text);
}

static int node_init(tr_ctx_t *ctx, void *state, const tr_msg_t *init) {
  node_t *s = state;
  s->f = sup_init_ptr(init);
  s->report = (tr_pid_t){sup_arg_u(init, 1, 0)};
  uint64_t flags = sup_arg_u(init, 2, 0);
  if (flags & NODE_TRAP)
    tr_trap_exit(ctx, true);
  if (flags & NODE_STOP_INIT)
    tr_stop(ctx);
  if (flags & NODE_FIND_SELF) {
    tr_reason_t none;
    tr_pid_t found = tr_whereis(tr_ctx_system(ctx), FIND_NAME);
    tr_reason_set(&none, TR_REASON_NORMAL, 0, NULL);
    send_report(ctx, s, s->f->found, found.id, 0, &none);
  }
  return flags & NODE_FAIL_INIT ? NODE_INIT_ERROR : 0;
}

static const tr_behaviour_t node_behaviour;

/* Spawn a node child with the options `how` names; its pid to *child, the monitor's ref to
 * *ref. */
static int spawn_child(tr_ctx_t *ctx, node_t *s, uint64_t how, uint64_t *child, uint64_t *ref) {
  tr_spawn_opts_t opts = {.link = (how & SPAWN_LINK) != 0,
                          .monitor = (how & SPAWN_MONITOR) ? ref : NULL};
  unsigned char init[64];
  size_t len;
  uint64_t flags = (how & SPAWN_CHILD_FAILS) ? NODE_FAIL_INIT : 0;
  if (tr_pack_into(init, sizeof init, &len, "[uuu]", sup_ptr(s->f), s->report.id, flags) != 0)
    sup_bump(&s->f->bad);
  tr_pid_t pid = TR_PID_NONE;
  int rc = tr_spawn_opts(ctx, &node_behaviour, init, len, &opts, &pid);
  *child = pid.id;
  return rc;
}

/* Report EXIT and DOWN messages; do what a request asks and reply [rc, out0, out1]. */
static int node_receive(tr_ctx_t *ctx, void *state, const tr_msg_t *m) {
  node_t *s = state;
  fix_t *f = s->f;
  tr_atom_t tag = tr_msg_tag(m);
  tr_pid_t arg = {sup_arg_u(m, 0, 0)};
  tr_reason_t r;
  tr_down_t d = {0};
  int rc = 0;
  uint64_t out[2] = {0, 0};
  if (tag == TR_ATOM_EXIT) {
    if (tr_msg_exit(m, &arg, &r) != 0 || tr_msg_down(m, &d) != TR_ETYPE)
      sup_bump(&f->bad);
    send_report(ctx, s, f->exited, arg.id, 0, &r);
    return 0;
  } else if (tag == TR_ATOM_DOWN) {
    if (tr_msg_down(m, &d) != 0 || tr_msg_exit(m, &arg, &r) != TR_ETYPE)
      sup_bump(&f->bad);
    send_report(ctx, s, f->down, d.ref, d.pid.id, &d.reason);
    return 0;
  } else if (tag == f->stop_reason) {
    tr_stop_reason(ctx, tr_reason_set(&r, (tr_reason_kind_t)arg.id, 3, "bye"));
    return 0;
  } else if (tag == f->stop) {
    tr_stop(ctx);
    return 0;
  } else if (tag == f->fail) {
    return (int)arg.id;
  } else if (tag == f->link) {
    rc = tr_link(ctx, arg);
  } else if (tag == f->unlink) {
    rc = tr_unlink(ctx, arg);
  } else if (tag == f->monitor) {
    rc = tr_monitor(ctx, arg, &out[0]);
  } else if (tag == f->demonitor) {
    rc = tr_demonitor(ctx, arg.id);
  } else if (tag == f->spawn) {
    rc = spawn_child(ctx, s, arg.id, &out[0], &out[1]);
  }
  tr_replyf(ctx, m, 0, "[iuu]", (int64_t)rc, out[0], out[1]); /* ping: just the reply */
  return 0;
}

static void node_terminate(tr_ctx_t *ctx, void *state, const tr_reason_t *r) {
  send_report(ctx, state, ((node_t *)state)->f->reason, 0, 0, r);
}

static const tr_behaviour_t node_behaviour = {.name = "node",
                                              .state_size = sizeof(node_t),
                                              .init = node_init,
                                              .receive = node_receive,
                                              .terminate = node_terminate};

/* The racer of demonitor against exit: each round spawns a victim with a control monitor,
 * adds a second monitor, lets the victim exit, and removes the second one at once. */
typedef struct {
  fix_t *f;
  tr_pid_t report;
  uint64_t rounds, round, ctl_ref, cut_ref, ctl_downs, cut_downs, bad_rc;
} racer_t;

static void race_round(tr_ctx_t *ctx, racer_t *s) {
  tr_spawn_opts_t opts = {.monitor = &s->ctl_ref};
  unsigned char init[32];
  size_t len;
  tr_pid_t child;
  /* A child that stops in its init (odd rounds) or when told to (even rounds). */
  uint64_t flags = (s->round & 1u) ? NODE_STOP_INIT : 0;
  if (tr_pack_into(init, sizeof init, &len, "[uuu]", sup_ptr(s->f), TR_PID_NONE.id, flags) != 0 ||
      tr_spawn_opts(ctx, &node_behaviour, init, len, &opts, &child) != 0 ||
      tr_monitor(ctx, child, &s->cut_ref) != 0 ||
      (!(s->round & 1u) && tr_send(ctx, child, s->f->stop, NULL, 0) != 0))
    sup_bump(&s->f->bad);
  /* Spin 0..375 us: long enough, in some rounds, for the other worker to take the child
   * and run its exit (so its DOWN is on the way, or queued here) before the demonitor. */
  uint64_t until = sup_now_ns() + s->round % 16u * 25000u;
  while (sup_now_ns() < until) {
  }
  /* The DOWN cannot have been handled yet (this handler still runs): the monitor exists. */
  s->bad_rc += tr_demonitor(ctx, s->cut_ref) != 0;
}

static int racer_receive(tr_ctx_t *ctx, void *state, const tr_msg_t *m) {
  racer_t *s = state;
  tr_down_t d;
  if (!s->f) { /* the first message is the order to race: [fix, rounds] */
    s->f = sup_init_ptr(m);
    s->report = tr_msg_from(m);
    s->rounds = sup_arg_u(m, 1, 0);
    race_round(ctx, s);
    return 0;
  }
  if (tr_msg_tag(m) == TR_ATOM_DOWN) {
    if (tr_msg_down(m, &d) != 0 || d.ref != s->ctl_ref) {
      s->cut_downs++; /* a DOWN of a removed monitor (or a stray one) */
      return 0;
    }
    if (++s->ctl_downs < s->rounds) {
      s->round++;
      race_round(ctx, s);
      return 0;
    }
  }
  /* After the last round, and again on a ping (counting DOWNs that came late). */
  tr_sendf(ctx, s->report, s->f->raced, "[uuu]", s->ctl_downs, s->cut_downs, s->bad_rc);
  return 0;
}

static const tr_behaviour_t racer_behaviour = {
    .name = "racer", .state_size = sizeof(racer_t), .receive = racer_receive};

/* ---- fixtures and helpers ---- */

static int setup(void **state) {
  fix_t *f = calloc(1, sizeof *f);
  assert_non_null(f);
  f->sys = sup_system_new(2, 0);
  assert_int_equal(tr_client_open(f->sys, &f->client), 0);
  const char *names[] = {"link",   "unlink",      "monitor", "demonitor", "fail",
                         "stop",   "stop_reason", "ping",    "spawn",     "race",
                         "reason", "exited",      "down",    "raced",     "found"};
  tr_atom_t *atoms[] = {&f->link,   &f->unlink,      &f->monitor, &f->demonitor, &f->fail,
                        &f->stop,   &f->stop_reason, &f->ping,    &f->spawn,     &f->race,
                        &f->reason, &f->exited,      &f->down,    &f->raced,     &f->found};
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
    assert_int_not_equal(*atoms[i] = tr_atom(f->sys, names[i]), 0);
  *state = f;
  return 0;
}

static int teardown(void **state) {
  fix_t *f = *state;
  tr_client_close(f->client);
  tr_system_free(f->sys);
  uint64_t bad = sup_read(&f->bad);
  free(f);
  assert_int_equal(bad, 0);
  return 0;
}

static int64_t call(fix_t *f, tr_pid_t pid, tr_atom_t tag, uint64_t arg, uint64_t *out);

/* Spawn a node and, unless it is meant to end in init, wait until its init has run: an exit
 * signal that reaches an actor before its first turn ends it without init or terminate
 * (docs/lifecycle.md), and these tests read the reasons that terminate reports. */
static tr_pid_t spawn_node(fix_t *f, uint64_t flags) {
  tr_pid_t pid;
  assert_int_equal(tr_spawnf(tr_system_ctx(f->sys), &node_behaviour, &pid, "[uuu]", sup_ptr(f),
                             tr_client_pid(f->client).id, flags),
                   0);
  if (!(flags & (NODE_STOP_INIT | NODE_FAIL_INIT | NODE_FIND_SELF)))
    assert_int_equal(call(f, pid, f->ping, 0, NULL), 0);
  return pid;
}

/* Ask a node to do `tag` with argument `arg`; returns its rc, its other values in out[0..2)
 * (out may be NULL). */
static int64_t call(fix_t *f, tr_pid_t pid, tr_atom_t tag, uint64_t arg, uint64_t *out) {
  unsigned char buf[16];
  size_t len;
  assert_int_equal(tr_pack_into(buf, sizeof buf, &len, "[u]", arg), 0);
  tr_msg_t *r = NULL;
  assert_int_equal(tr_client_request(f->client, pid, tag, buf, len, SUP_WAIT_MS, &r), 0);
  int64_t rc;
  uint64_t o[2];
  assert_int_equal(tr_msg_unpack(r, "[iuu]", &rc, &o[0], &o[1]), 0);
  tr_msg_free(r);
  if (out)
    memcpy(out, o, sizeof o);
  return rc;
}

/* Make `who` monitor `target`; returns the ref. */
static uint64_t monitor(fix_t *f, tr_pid_t who, tr_pid_t target) {
  uint64_t out[2];
  assert_int_equal(call(f, who, f->monitor, target.id, out), 0);
  return out[0];
}

static report_t next_report(fix_t *f) {
  tr_msg_t *m = sup_receive(f->client);
  report_t r = {.tag = tr_msg_tag(m)};
  const char *text;
  size_t n;
  assert_int_equal(tr_msg_unpack(m, "[uuuiis]", &r.self, &r.a, &r.b, &r.kind, &r.code, &text, &n),
                   0);
  assert_true(n < sizeof r.text);
  memcpy(r.text, text, n);
  tr_msg_free(m);
  return r;
}

/* Receive n reports (in whatever order the actors sent them). */
static void collect(fix_t *f, report_t *out, size_t n) {
  for (size_t i = 0; i < n; i++)
    out[i] = next_report(f);
}

/* The one report of `tag` from `self` among rs[0..n); fails the test when there is none. */
static const report_t *find(const report_t *rs, size_t n, tr_atom_t tag, tr_pid_t self) {
  for (size_t i = 0; i < n; i++)
    if (rs[i].tag == tag && rs[i].self == self.id)
      return &rs[i];
  fail_msg("no report of tag %u from %016llx", (unsigned)tag, (unsigned long long)self.id);
  return NULL;
}

static void expect_reason(const report_t *r, tr_reason_kind_t kind, int code, const char *text) {
  assert_int_equal(r->kind, kind);
  assert_int_equal(r->code, code);
  assert_string_equal(r->text, text);
}

/* Nothing more reaches the client for a while. */
static void expect_quiet(fix_t *f) {
  tr_msg_t *m = NULL;
  assert_int_equal(tr_client_receive(f->client, QUIET_MS, &m), TR_ETIMEDOUT);
}

/* A single report of `tag` from `self` about `a` with a reason of `kind`. */
static void expect_seen(const report_t *r, tr_atom_t tag, tr_pid_t self, uint64_t a,
                        tr_reason_kind_t kind) {
  assert_int_equal(r->tag, tag);
  assert_int_equal(r->self, self.id);
  assert_int_equal(r->a, a);
  assert_int_equal(r->kind, kind);
}

static void expect_alive(fix_t *f, tr_pid_t pid) {
  assert_int_equal(call(f, pid, f->ping, 0, NULL), 0); /* answered: alive */
}

/* A pid whose actor has come and gone. */
static tr_pid_t dead_pid(fix_t *f) {
  tr_pid_t pid = spawn_node(f, NODE_STOP_INIT);
  assert_int_equal(next_report(f).tag, f->reason);
  assert_int_equal(tr_system_await(f->sys, SUP_WAIT_MS), 0);
  return pid;
}

/* ---- tests ---- */

/* Guards against exit signals stopping after one hop or losing the reason's code or text. */
static void abnormal_exit_travels_a_link_chain_with_its_reason(void **state) {
  fix_t *f = *state;
  tr_pid_t a = spawn_node(f, 0), b = spawn_node(f, 0), c = spawn_node(f, 0);
  assert_int_equal(call(f, b, f->link, a.id, NULL), 0);
  assert_int_equal(call(f, c, f->link, b.id, NULL), 0);
  assert_int_equal(tr_sendf(tr_system_ctx(f->sys), c, f->fail, "[u]", (uint64_t)42), 0);
  report_t rs[3];
  collect(f, rs, 3);
  expect_reason(find(rs, 3, f->reason, c), TR_REASON_ERROR, 42, "receive failed");
  expect_reason(find(rs, 3, f->reason, b), TR_REASON_ERROR, 42, "receive failed");
  expect_reason(find(rs, 3, f->reason, a), TR_REASON_ERROR, 42, "receive failed");
  assert_int_equal(tr_system_await(f->sys, SUP_WAIT_MS), 0);
}

/* Guards against a normal exit killing linked actors that do not trap exits. */
static void normal_exit_does_not_propagate_over_a_link(void **state) {
  fix_t *f = *state;
  tr_pid_t a = spawn_node(f, 0), witness = spawn_node(f, NODE_TRAP), b = spawn_node(f, 0);
  assert_int_equal(call(f, b, f->link, a.id, NULL), 0);
  assert_int_equal(call(f, b, f->link, witness.id, NULL), 0);
  assert_int_equal(tr_send(tr_system_ctx(f->sys), b, f->stop, NULL, 0), 0);
  report_t rs[2];
  collect(f, rs, 2);
  expect_reason(find(rs, 2, f->reason, b), TR_REASON_NORMAL, 0, "");
  const report_t *e = find(rs, 2, f->exited, witness);
  assert_int_equal(e->a, b.id);
  expect_reason(e, TR_REASON_NORMAL, 0, "");
  expect_quiet(f); /* a's terminate would report here */
  expect_alive(f, a);
}

/* Guards against a trapping actor dying of a signal, or its EXIT naming the wrong sender. */
static void trapping_actor_gets_an_exit_message_and_stays_alive(void **state) {
  fix_t *f = *state;
  tr_pid_t t = spawn_node(f, NODE_TRAP), x = spawn_node(f, 0);
  assert_int_equal(call(f, t, f->link, x.id, NULL), 0);
  assert_int_equal(tr_sendf(tr_system_ctx(f->sys), x, f->fail, "[u]", (uint64_t)7), 0);
  report_t rs[2];
  collect(f, rs, 2);
  expect_reason(find(rs, 2, f->reason, x), TR_REASON_ERROR, 7, "receive failed");
  const report_t *e = find(rs, 2, f->exited, t);
  assert_int_equal(e->a, x.id);
  expect_reason(e, TR_REASON_ERROR, 7, "receive failed");
  expect_alive(f, t);
  expect_quiet(f);
}

/* Guards against reason killed being trapped, or links seeing another reason than killed. */
static void killed_ends_a_trapping_actor_and_its_links_see_killed(void **state) {
  fix_t *f = *state;
  tr_pid_t t = spawn_node(f, NODE_TRAP), plain = spawn_node(f, 0);
  tr_pid_t watch = spawn_node(f, NODE_TRAP);
  assert_int_equal(call(f, t, f->link, plain.id, NULL), 0);
  assert_int_equal(call(f, t, f->link, watch.id, NULL), 0);
  tr_reason_t r;
  assert_int_equal(tr_exit(tr_system_ctx(f->sys), t, tr_reason_set(&r, TR_REASON_KILLED, 0, "")),
                   0);
  report_t rs[3];
  collect(f, rs, 3);
  assert_int_equal(find(rs, 3, f->reason, t)->kind, TR_REASON_KILLED);
  assert_int_equal(find(rs, 3, f->reason, plain)->kind, TR_REASON_KILLED);
  expect_seen(find(rs, 3, f->exited, watch), f->exited, watch, t.id, TR_REASON_KILLED);
  expect_alive(f, watch);
}

/* Guards against a link to a dead pid silently succeeding (the caller would wait forever). */
static void linking_to_a_dead_pid_gives_the_caller_noproc(void **state) {
  fix_t *f = *state;
  tr_pid_t dead = dead_pid(f), t = spawn_node(f, NODE_TRAP), plain = spawn_node(f, 0);
  assert_int_equal(call(f, t, f->link, t.id, NULL), TR_EINVAL); /* not to oneself */
  assert_int_equal(call(f, t, f->link, dead.id, NULL), 0);
  report_t e = next_report(f);
  expect_seen(&e, f->exited, t, dead.id, TR_REASON_NOPROC);
  expect_alive(f, t);
  assert_int_equal(call(f, plain, f->link, dead.id, NULL), 0);
  report_t r = next_report(f);
  expect_seen(&r, f->reason, plain, 0, TR_REASON_NOPROC);
}

/* Guards against unlink leaving either half of the link in place. */
static void unlink_stops_propagation_both_ways(void **state) {
  fix_t *f = *state;
  tr_pid_t t = spawn_node(f, NODE_TRAP), x = spawn_node(f, 0), y = spawn_node(f, 0);
  assert_int_equal(call(f, t, f->link, x.id, NULL), 0);
  assert_int_equal(call(f, t, f->unlink, x.id, NULL), 0);
  assert_int_equal(call(f, t, f->link, y.id, NULL), 0);
  assert_int_equal(call(f, y, f->unlink, t.id, NULL), 0); /* from the other end */
  monitor(f, t, x);
  monitor(f, t, y);
  assert_int_equal(tr_sendf(tr_system_ctx(f->sys), x, f->fail, "[u]", (uint64_t)9), 0);
  assert_int_equal(tr_sendf(tr_system_ctx(f->sys), y, f->fail, "[u]", (uint64_t)9), 0);
  report_t rs[4]; /* two terminates, two DOWNs */
  collect(f, rs, 4);
  for (size_t i = 0; i < 4; i++)
    assert_int_not_equal(rs[i].tag, f->exited);
  expect_quiet(f);
  expect_alive(f, t);
}

/* Guards against lost or duplicated DOWNs, or ones carrying another monitor's ref. */
static void monitor_delivers_exactly_one_down_per_ref_with_pid_and_reason(void **state) {
  fix_t *f = *state;
  tr_pid_t m = spawn_node(f, 0), x = spawn_node(f, 0);
  uint64_t r1 = monitor(f, m, x), r2 = monitor(f, m, x);
  assert_int_not_equal(r1, r2);
  assert_int_equal(tr_sendf(tr_system_ctx(f->sys), x, f->fail, "[u]", (uint64_t)11), 0);
  report_t rs[3];
  collect(f, rs, 3);
  int seen1 = 0, seen2 = 0;
  for (size_t i = 0; i < 3; i++) {
    if (rs[i].tag != f->down)
      continue;
    assert_int_equal(rs[i].self, m.id);
    assert_int_equal(rs[i].b, x.id);
    expect_reason(&rs[i], TR_REASON_ERROR, 11, "receive failed");
    seen1 += rs[i].a == r1;
    seen2 += rs[i].a == r2;
  }
  assert_int_equal(seen1, 1);
  assert_int_equal(seen2, 1);
  expect_quiet(f);
  expect_alive(f, m);
}

/* Guards against a monitor of a dead pid waiting forever for an exit that already happened. */
static void monitoring_a_dead_pid_delivers_down_noproc(void **state) {
  fix_t *f = *state;
  tr_pid_t dead = dead_pid(f), m = spawn_node(f, 0);
  uint64_t ref = monitor(f, m, dead);
  report_t r = next_report(f);
  expect_seen(&r, f->down, m, ref, TR_REASON_NOPROC);
  assert_int_equal(r.b, dead.id);
  expect_quiet(f);
}

/* Guards against demonitor leaving the monitor armed, or succeeding twice. */
static void demonitor_before_the_exit_means_no_down(void **state) {
  fix_t *f = *state;
  tr_pid_t m = spawn_node(f, 0), x = spawn_node(f, 0);
  uint64_t cut = monitor(f, m, x), kept = monitor(f, m, x);
  assert_int_equal(call(f, m, f->demonitor, cut, NULL), 0);
  assert_int_equal(call(f, m, f->demonitor, cut, NULL), TR_ENOENT);
  assert_int_equal(tr_send(tr_system_ctx(f->sys), x, f->stop, NULL, 0), 0);
  report_t rs[2];
  collect(f, rs, 2);
  assert_int_equal(find(rs, 2, f->down, m)->a, kept);
  expect_quiet(f);
}

/* Guards against a DOWN already on its way when demonitor runs being delivered anyway. */
static void demonitor_racing_the_exit_never_delivers_down(void **state) {
  fix_t *f = *state;
  tr_pid_t racer;
  assert_int_equal(tr_spawn(tr_system_ctx(f->sys), &racer_behaviour, NULL, 0, &racer), 0);
  assert_int_equal(
      tr_sendf(tr_client_ctx(f->client), racer, f->race, "[uu]", sup_ptr(f), (uint64_t)RACE_ROUNDS),
      0);
  tr_msg_t *m = sup_receive(f->client);
  assert_int_equal(tr_msg_tag(m), f->raced);
  tr_msg_free(m);
  sup_sleep_ms(QUIET_MS); /* let any wrongly delivered DOWN arrive, then ask again */
  assert_int_equal(tr_send(tr_client_ctx(f->client), racer, f->ping, NULL, 0), 0);
  m = sup_receive(f->client);
  uint64_t ctl, cut, bad_rc;
  assert_int_equal(tr_msg_tag(m), f->raced);
  assert_int_equal(tr_msg_unpack(m, "[uuu]", &ctl, &cut, &bad_rc), 0);
  tr_msg_free(m);
  assert_int_equal(ctl, RACE_ROUNDS);
  assert_int_equal(cut, 0);
  assert_int_equal(bad_rc, 0);
}

/* Guards against a window between spawn and link or monitor: a child failing in init would
 * go unnoticed. */
static void spawn_opts_link_and_monitor_catch_a_child_failing_in_init(void **state) {
  fix_t *f = *state;
  enum { ROUNDS = 20 };
  tr_pid_t p = spawn_node(f, NODE_TRAP);
  for (int i = 0; i < ROUNDS; i++) {
    uint64_t out[2]; /* child, ref */
    assert_int_equal(call(f, p, f->spawn, SPAWN_LINK | SPAWN_MONITOR | SPAWN_CHILD_FAILS, out), 0);
    report_t rs[2]; /* init failed: no terminate, only the EXIT and the DOWN */
    collect(f, rs, 2);
    const report_t *e = find(rs, 2, f->exited, p), *d = find(rs, 2, f->down, p);
    assert_int_equal(e->a, out[0]);
    expect_reason(e, TR_REASON_ERROR, NODE_INIT_ERROR, "init failed");
    assert_int_equal(d->a, out[1]);
    assert_int_equal(d->b, out[0]);
    expect_reason(d, TR_REASON_ERROR, NODE_INIT_ERROR, "init failed");
  }
  /* A parent that does not trap dies with its child. */
  tr_pid_t q = spawn_node(f, 0);
  assert_int_equal(call(f, q, f->spawn, SPAWN_LINK | SPAWN_CHILD_FAILS, NULL), 0);
  report_t r = next_report(f);
  assert_int_equal(r.self, q.id);
  expect_reason(&r, TR_REASON_ERROR, NODE_INIT_ERROR, "init failed");
}

/* Guards against link or monitor options being accepted where they cannot work. */
static void spawn_opts_link_or_monitor_from_outside_is_rejected(void **state) {
  fix_t *f = *state;
  uint64_t ref;
  tr_spawn_opts_t link = {.link = true}, mon = {.monitor = &ref};
  tr_pid_t pid = TR_PID_NONE;
  tr_ctx_t *ctx = tr_system_ctx(f->sys);
  assert_int_equal(tr_spawn_opts(ctx, &node_behaviour, NULL, 0, &link, &pid), TR_EINVAL);
  assert_int_equal(tr_spawn_opts(ctx, &node_behaviour, NULL, 0, &mon, &pid), TR_EINVAL);
  assert_int_equal(sup_stats(f->sys).spawned, 0);
}

/* Guards against the name being registered after the child starts, or a taken name still
 * spawning a child. */
static void spawn_opts_name_is_registered_before_the_child_runs(void **state) {
  fix_t *f = *state;
  tr_spawn_opts_t opts = {.name = FIND_NAME};
  unsigned char buf[32];
  size_t len;
  assert_int_equal(tr_pack_into(buf, sizeof buf, &len, "[uuu]", sup_ptr(f),
                                tr_client_pid(f->client).id, (uint64_t)NODE_FIND_SELF),
                   0);
  tr_pid_t pid, other = TR_PID_NONE;
  tr_ctx_t *ctx = tr_system_ctx(f->sys);
  assert_int_equal(tr_spawn_opts(ctx, &node_behaviour, buf, len, &opts, &pid), 0);
  report_t r = next_report(f);
  expect_seen(&r, f->found, pid, pid.id, TR_REASON_NORMAL);
  assert_int_equal(tr_spawn_opts(ctx, &node_behaviour, buf, len, &opts, &other), TR_EEXIST);
  assert_true(tr_pid_is_none(other));
  assert_int_equal(sup_stats(f->sys).spawned, 1);
  assert_true(tr_pid_eq(tr_whereis(f->sys, FIND_NAME), pid));
}

/* Guards against tr_stop_reason's reason being replaced (by normal) on its way out. */
static void stop_reason_is_the_reason_links_and_monitors_see(void **state) {
  fix_t *f = *state;
  tr_pid_t t = spawn_node(f, NODE_TRAP), x = spawn_node(f, 0);
  assert_int_equal(call(f, t, f->link, x.id, NULL), 0);
  uint64_t ref = monitor(f, t, x);
  uint64_t kind = TR_REASON_SHUTDOWN;
  assert_int_equal(tr_sendf(tr_system_ctx(f->sys), x, f->stop_reason, "[u]", kind), 0);
  report_t rs[3];
  collect(f, rs, 3);
  expect_reason(find(rs, 3, f->reason, x), TR_REASON_SHUTDOWN, 3, "bye");
  const report_t *e = find(rs, 3, f->exited, t), *d = find(rs, 3, f->down, t);
  assert_int_equal(e->a, x.id);
  expect_reason(e, TR_REASON_SHUTDOWN, 3, "bye");
  assert_int_equal(d->a, ref);
  expect_reason(d, TR_REASON_SHUTDOWN, 3, "bye");
}

#define TEST(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int main(void) {
  const struct CMUnitTest tests[] = {
      TEST(abnormal_exit_travels_a_link_chain_with_its_reason),
      TEST(normal_exit_does_not_propagate_over_a_link),
      TEST(trapping_actor_gets_an_exit_message_and_stays_alive),
      TEST(killed_ends_a_trapping_actor_and_its_links_see_killed),
      TEST(linking_to_a_dead_pid_gives_the_caller_noproc),
      TEST(unlink_stops_propagation_both_ways),
      TEST(monitor_delivers_exactly_one_down_per_ref_with_pid_and_reason),
      TEST(monitoring_a_dead_pid_delivers_down_noproc),
      TEST(demonitor_before_the_exit_means_no_down),
      TEST(demonitor_racing_the_exit_never_delivers_down),
      TEST(spawn_opts_link_and_monitor_catch_a_child_failing_in_init),
      TEST(spawn_opts_link_or_monitor_from_outside_is_rejected),
      TEST(spawn_opts_name_is_registered_before_the_child_runs),
      TEST(stop_reason_is_the_reason_links_and_monitors_see),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
