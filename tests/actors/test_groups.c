/* Process groups (actors/groups.c): joining, leaving, leaving by exiting, sending to every
 * member in order with a payload shared by all, the scope walks, and a stress of joins,
 * leaves and exits racing with senders (run under TSan and ASan like everything else). */
#include "support/support.h"

#define SCOPE_NAME "test.scope"

typedef struct {
  tr_system_t *sys;
  tr_client_t *c;
  tr_pid_t me;
  tr_atom_t scope, other, join, leave, msg, got, quit, blast;
  _Atomic uint64_t bad;      /* what handlers found wrong */
  _Atomic uint64_t received; /* group messages handled, by every member */
} fix_t;

/* A member: joins the groups its init names, counts what it receives from each sender and
 * checks it comes in order, and reports on request. */
typedef struct {
  fix_t *f;
  uint64_t count, next_seq, bytes_sum;
} member_t;

static int member_init(tr_ctx_t *ctx, void *state, const tr_msg_t *init) {
  member_t *s = state;
  uint64_t fp;
  const char *name;
  size_t len;
  if (tr_msg_unpack(init, "[us]", &fp, &name, &len) != 0)
    return TR_EINVAL;
  s->f = sup_unptr(fp);
  return len ? tr_group_join(ctx, s->f->scope, name, len) : 0;
}

static int member_receive(tr_ctx_t *ctx, void *state, const tr_msg_t *m) {
  member_t *s = state;
  fix_t *f = s->f;
  tr_atom_t tag = tr_msg_tag(m);
  size_t len;
  const unsigned char *data = tr_msg_data(m, &len);
  if (tag == f->msg) {
    uint64_t seq = 0;
    if (len >= 8)
      memcpy(&seq, data, 8);
    if (seq != s->next_seq)
      sup_bump(&f->bad); /* out of order, lost or duplicated */
    s->next_seq = seq + 1;
    for (size_t i = 8; i < len; i++)
      if (data[i] != (unsigned char)(seq + i))
        sup_bump(&f->bad); /* the shared payload was overwritten or freed */
    s->count++;
    sup_bump(&f->received);
  } else if (tag == f->join || tag == f->leave) {
    const char *name;
    size_t n;
    if (tr_msg_unpack(m, "s", &name, &n) != 0 ||
        (tag == f->join ? tr_group_join(ctx, f->scope, name, n)
                        : tr_group_leave(ctx, f->scope, name, n)) != 0)
      sup_bump(&f->bad);
    tr_reply(ctx, m, 0, NULL, 0);
  } else if (tag == f->got) {
    tr_replyf(ctx, m, 0, "[u]", s->count);
  } else if (tag == f->quit) {
    tr_stop(ctx);
  }
  return 0;
}

static const tr_behaviour_t member_b = {.name = "member",
                                        .state_size = sizeof(member_t),
                                        .init = member_init,
                                        .receive = member_receive};

/* A sender: on "blast" [group, n, size], sends n numbered messages of `size` bytes to the
 * group and replies with the total delivered. */
static int sender_init(tr_ctx_t *ctx, void *state, const tr_msg_t *init) {
  (void)ctx;
  *(fix_t **)state = sup_init_ptr(init);
  return 0;
}

static int sender_receive(tr_ctx_t *ctx, void *state, const tr_msg_t *m) {
  fix_t *f = *(fix_t **)state;
  const char *name;
  size_t n;
  uint64_t count, size, total = 0;
  if (tr_msg_unpack(m, "[suu]", &name, &n, &count, &size) != 0 || size < 8 || size > 8192)
    return TR_EINVAL;
  unsigned char buf[8192];
  for (uint64_t seq = 0; seq < count; seq++) {
    memcpy(buf, &seq, 8);
    for (size_t i = 8; i < size; i++)
      buf[i] = (unsigned char)(seq + i);
    size_t d = 0;
    if (tr_group_send(ctx, f->scope, name, n, f->msg, buf, size, &d) != 0)
      sup_bump(&f->bad);
    total += d;
  }
  tr_replyf(ctx, m, 0, "[u]", total);
  return 0;
}

static const tr_behaviour_t sender_b = {.name = "sender",
                                        .state_size = sizeof(fix_t *),
                                        .init = sender_init,
                                        .receive = sender_receive};

static int setup(void **state) {
  fix_t *f = calloc(1, sizeof *f);
  assert_non_null(f);
  f->sys = sup_system_new(2, 0);
  assert_int_equal(tr_client_open(f->sys, &f->c), 0);
  f->me = tr_client_pid(f->c);
  const tr_atom_def_t atoms[] = {{SCOPE_NAME, &f->scope}, {"other.scope", &f->other},
                                 {"join", &f->join},      {"leave", &f->leave},
                                 {"msg", &f->msg},        {"got", &f->got},
                                 {"quit", &f->quit},      {"blast", &f->blast}};
  assert_int_equal(tr_atoms(f->sys, atoms, sizeof atoms / sizeof atoms[0]), 0);
  *state = f;
  return 0;
}

static int teardown(void **state) {
  fix_t *f = *state;
  tr_client_close(f->c);
  tr_system_free(f->sys);
  assert_int_equal(sup_read(&f->bad), 0);
  free(f);
  return 0;
}

static tr_pid_t member(fix_t *f, const char *group) {
  tr_pid_t pid;
  assert_int_equal(
      tr_spawnf(tr_client_ctx(f->c), &member_b, &pid, "[us]", sup_ptr(f), group ? group : ""), 0);
  return pid;
}

/* Ask a member to join or leave, and wait until it has. */
static void tell(fix_t *f, tr_pid_t who, tr_atom_t what, const char *group) {
  unsigned char buf[64];
  size_t len;
  assert_int_equal(tr_pack_into(buf, sizeof buf, &len, "s", group), 0);
  tr_msg_t *r = NULL;
  assert_int_equal(tr_client_request(f->c, who, what, buf, len, SUP_WAIT_MS, &r), 0);
  tr_msg_free(r);
}

static uint64_t got(fix_t *f, tr_pid_t who) {
  tr_msg_t *r = sup_request(f->c, who, f->got);
  uint64_t n = sup_arg_u(r, 0, UINT64_MAX);
  tr_msg_free(r);
  return n;
}

static size_t size_of(fix_t *f, const char *group) {
  return tr_group_size(tr_client_ctx(f->c), f->scope, group, strlen(group));
}

/* Wait (bounded) until the group has `n` members: joins in an init run after the spawn. */
static void wait_size(fix_t *f, const char *group, size_t n) {
  uint64_t deadline = sup_now_ms() + SUP_WAIT_MS;
  while (size_of(f, group) != n && sup_now_ms() < deadline)
    sup_sleep_ms(1);
  assert_int_equal(size_of(f, group), n);
}

/* Guards against a send missing a member, reaching one twice, or counting wrong. */
static void a_send_reaches_each_member_once_and_counts_them(void **state) {
  fix_t *f = *state;
  tr_pid_t a = member(f, "room"), b = member(f, "room"), c = member(f, "room");
  member(f, "elsewhere");
  wait_size(f, "room", 3);
  size_t d = 99;
  uint64_t seq = 0;
  assert_int_equal(tr_group_send(tr_client_ctx(f->c), f->scope, "room", 4, f->msg, &seq, 8, &d), 0);
  assert_int_equal(d, 3);
  assert_int_equal(sup_wait_count(&f->received, 3), 3);
  assert_int_equal(got(f, a) + got(f, b) + got(f, c), 3);
  tr_pid_t pids[8];
  size_t total = 0;
  assert_int_equal(tr_group_members(tr_client_ctx(f->c), f->scope, "room", 4, pids, 8, &total), 0);
  assert_int_equal(total, 3);
  /* Joining twice is joining once; a group of no one is not an error. */
  tell(f, a, f->join, "room");
  assert_int_equal(size_of(f, "room"), 3);
  assert_int_equal(tr_group_send(tr_client_ctx(f->c), f->scope, "nobody", 6, f->msg, &seq, 8, &d),
                   0);
  assert_int_equal(d, 0);
}

/* Guards against a member that left, or exited, still being sent to or counted. */
static void leaving_and_exiting_take_a_member_out(void **state) {
  fix_t *f = *state;
  tr_pid_t a = member(f, "room"), b = member(f, "room");
  wait_size(f, "room", 2);
  tell(f, a, f->leave, "room");
  assert_int_equal(size_of(f, "room"), 1);
  tell(f, a, f->leave, "room"); /* leaving again: nothing happens */
  assert_int_equal(tr_send(tr_client_ctx(f->c), b, f->quit, NULL, 0), 0);
  wait_size(f, "room", 0);
  /* The last member gone, the group is gone from its scope. */
  assert_int_equal(tr_group_count(tr_client_ctx(f->c), f->scope), 0);
  size_t d = 99;
  uint64_t seq = 0;
  assert_int_equal(tr_group_send(tr_client_ctx(f->c), f->scope, "room", 4, f->msg, &seq, 8, &d), 0);
  assert_int_equal(d, 0);
}

/* Guards against reordering within one sender's stream, and against the shared copy of a
 * large payload being freed while members still read it. */
static void each_member_gets_one_senders_messages_in_order(void **state) {
  fix_t *f = *state;
  enum { MEMBERS = 20, COUNT = 2000 };
  tr_pid_t m[MEMBERS];
  for (int i = 0; i < MEMBERS; i++)
    m[i] = member(f, "feed");
  wait_size(f, "feed", MEMBERS);
  tr_pid_t s;
  assert_int_equal(tr_spawnf(tr_client_ctx(f->c), &sender_b, &s, "[u]", sup_ptr(f)), 0);
  unsigned char req[64];
  size_t len;
  assert_int_equal(
      tr_pack_into(req, sizeof req, &len, "[suu]", "feed", (uint64_t)COUNT, (uint64_t)1000), 0);
  tr_msg_t *r = NULL;
  assert_int_equal(tr_client_request(f->c, s, f->blast, req, len, SUP_WAIT_MS, &r), 0);
  assert_int_equal(sup_arg_u(r, 0, 0), (uint64_t)MEMBERS * COUNT);
  tr_msg_free(r);
  assert_int_equal(sup_wait_count(&f->received, (uint64_t)MEMBERS * COUNT),
                   (uint64_t)MEMBERS * COUNT);
  for (int i = 0; i < MEMBERS; i++)
    assert_int_equal(got(f, m[i]), COUNT);
}

static int count_groups(const tr_group_info_t *g, void *arg) {
  size_t *n = arg;
  *n += g->members;
  return 0;
}

/* Guards against scopes leaking into each other, and the walk missing or inventing groups. */
static void scopes_keep_their_groups_apart(void **state) {
  fix_t *f = *state;
  member(f, "a");
  member(f, "b");
  member(f, "b");
  wait_size(f, "a", 1);
  wait_size(f, "b", 2);
  tr_ctx_t *ctx = tr_client_ctx(f->c);
  size_t members = 0;
  assert_int_equal(tr_group_foreach(ctx, f->scope, count_groups, &members), 2);
  assert_int_equal(members, 3);
  assert_int_equal(tr_group_count(ctx, f->scope), 2);
  assert_int_equal(tr_group_foreach(ctx, f->other, count_groups, &members), 0);
  assert_int_equal(tr_group_size(ctx, f->other, "b", 1), 0);
  tr_atom_t scopes[4];
  assert_int_equal(tr_group_scopes(ctx, scopes, 4), 1);
  assert_int_equal(scopes[0], f->scope);
}

/* Guards against bad arguments reaching the index. */
static void bad_arguments_are_refused(void **state) {
  fix_t *f = *state;
  tr_ctx_t *ctx = tr_client_ctx(f->c);
  assert_int_equal(tr_group_join(ctx, f->scope, "x", 1), TR_EINVAL); /* not a handler */
  assert_int_equal(tr_group_send(ctx, f->scope, "", 0, f->msg, NULL, 0, NULL), TR_EINVAL);
  assert_int_equal(tr_group_send(ctx, f->scope, NULL, 3, f->msg, NULL, 0, NULL), TR_EINVAL);
  assert_int_equal(tr_group_send(ctx, f->scope, "x", 1, 0, NULL, 0, NULL), TR_EINVAL); /* tag */
  size_t total;
  assert_int_equal(tr_group_members(ctx, f->scope, "x", 1, NULL, 4, &total), TR_EINVAL);
}

/* A churner joins and leaves groups in a loop and exits at the end, while senders send to
 * those groups: a lost snapshot, a use after free or a deadlock shows here (TSan, ASan). */
typedef struct {
  fix_t *f;
  uint64_t left;
} churner_t;

static int churn_step(tr_ctx_t *ctx, churner_t *s);

static int churn_init(tr_ctx_t *ctx, void *state, const tr_msg_t *init) {
  churner_t *s = state;
  s->f = sup_init_ptr(init);
  s->left = sup_arg_u(init, 1, 1);
  return churn_step(ctx, s);
}

static int churn_receive(tr_ctx_t *ctx, void *state, const tr_msg_t *m) {
  churner_t *s = state;
  if (tr_msg_tag(m) == s->f->msg)
    return 0; /* a group message reached us: fine, we are a member sometimes */
  return churn_step(ctx, s);
}

static int churn_step(tr_ctx_t *ctx, churner_t *s) {
  char name[8];
  snprintf(name, sizeof name, "g%u", (unsigned)(s->left % 4));
  if (tr_group_join(ctx, s->f->scope, name, strlen(name)) != 0)
    sup_bump(&s->f->bad);
  if (s->left % 3 == 0 && tr_group_leave(ctx, s->f->scope, name, strlen(name)) != 0)
    sup_bump(&s->f->bad);
  if (--s->left == 0) {
    sup_bump(&s->f->received); /* one churner done */
    tr_stop(ctx);              /* leaves whatever it is still in */
    return 0;
  }
  return tr_send(ctx, tr_self(ctx), tr_atom(tr_ctx_system(ctx), "again"), NULL, 0);
}

static const tr_behaviour_t churn_b = {.name = "churner",
                                       .state_size = sizeof(churner_t),
                                       .init = churn_init,
                                       .receive = churn_receive};

static void joins_leaves_and_exits_race_safely_with_sends(void **state) {
  fix_t *f = *state;
  enum { CHURNERS = 16, ROUNDS = 400 };
  tr_ctx_t *ctx = tr_client_ctx(f->c);
  for (int i = 0; i < CHURNERS; i++) {
    tr_pid_t p;
    assert_int_equal(tr_spawnf(ctx, &churn_b, &p, "[uu]", sup_ptr(f), (uint64_t)ROUNDS), 0);
  }
  /* Send from outside meanwhile (the foreign-lock path) until every churner is done. */
  uint64_t seq = 0;
  for (uint64_t deadline = sup_now_ms() + SUP_WAIT_MS;
       sup_read(&f->received) < CHURNERS && sup_now_ms() < deadline;) {
    char name[8];
    snprintf(name, sizeof name, "g%u", (unsigned)(seq % 4));
    size_t d;
    assert_int_equal(tr_group_send(ctx, f->scope, name, 2, f->msg, &seq, 8, &d), 0);
    assert_true(d <= CHURNERS);
    seq++;
  }
  assert_int_equal(sup_read(&f->received), CHURNERS);
  assert_int_equal(sup_wait_actors(f->sys, 0), 0);
  assert_int_equal(tr_group_count(ctx, f->scope), 0); /* everyone left: nothing remains */
}

#define TEST(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int main(void) {
  sup_filter_from_env();
  const struct CMUnitTest tests[] = {
      TEST(a_send_reaches_each_member_once_and_counts_them),
      TEST(leaving_and_exiting_take_a_member_out),
      TEST(each_member_gets_one_senders_messages_in_order),
      TEST(scopes_keep_their_groups_apart),
      TEST(bad_arguments_are_refused),
      TEST(joins_leaves_and_exits_race_safely_with_sends),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
