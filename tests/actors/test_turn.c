/* A turn's end (actors/turn.c): the behaviour's flush runs once after the messages of each
 * turn that handled any, never for a turn that handled none, and a failing flush ends the
 * actor as a failing receive does; a message an actor sends itself waits for its next turn. */
#include "support/support.h"

#define MESSAGES 20000u

typedef struct {
  tr_system_t *sys;
  tr_client_t *c;
  tr_atom_t work, report, fail, ended;
  _Atomic uint64_t bad;
} fix_t;

typedef struct {
  fix_t *f;
  tr_pid_t to;
  uint64_t pending, flushed, flushes;
  bool fail_next;
} batcher_t;

static int batcher_init(tr_ctx_t *ctx, void *state, const tr_msg_t *init) {
  (void)ctx;
  batcher_t *s = state;
  s->f = sup_init_ptr(init);
  s->to = (tr_pid_t){sup_arg_u(init, 1, 0)};
  return 0;
}

static int batcher_receive(tr_ctx_t *ctx, void *state, const tr_msg_t *m) {
  batcher_t *s = state;
  s->pending++;
  if (tr_msg_tag(m) == s->f->report) /* what was flushed before this turn, and this turn */
    tr_replyf(ctx, m, 0, "[uuu]", s->flushed, s->flushes, s->pending);
  else if (tr_msg_tag(m) == s->f->fail)
    s->fail_next = true;
  return 0;
}

static int batcher_flush(tr_ctx_t *ctx, void *state) {
  (void)ctx;
  batcher_t *s = state;
  if (s->pending == 0)
    sup_bump(&s->f->bad); /* a flush after a turn that handled nothing */
  s->flushed += s->pending;
  s->pending = 0;
  s->flushes++;
  return s->fail_next ? 5 : 0;
}

static void batcher_terminate(tr_ctx_t *ctx, void *state, const tr_reason_t *r) {
  batcher_t *s = state;
  tr_sendf(ctx, s->to, s->f->ended, "[ii]", (int64_t)r->kind, (int64_t)r->code);
}

static const tr_behaviour_t batcher_b = {.name = "batcher",
                                         .state_size = sizeof(batcher_t),
                                         .init = batcher_init,
                                         .receive = batcher_receive,
                                         .terminate = batcher_terminate,
                                         .flush = batcher_flush};

static int setup(void **state) {
  fix_t *f = calloc(1, sizeof *f);
  assert_non_null(f);
  f->sys = sup_system_new(2, 0);
  assert_int_equal(tr_client_open(f->sys, &f->c), 0);
  const tr_atom_def_t atoms[] = {
      {"work", &f->work}, {"report", &f->report}, {"fail", &f->fail}, {"ended", &f->ended}};
  assert_int_equal(tr_atoms(f->sys, atoms, 4), 0);
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

static tr_pid_t batcher(fix_t *f) {
  tr_pid_t pid;
  assert_int_equal(
      tr_spawnf(tr_client_ctx(f->c), &batcher_b, &pid, "[uu]", sup_ptr(f), tr_client_pid(f->c).id),
      0);
  return pid;
}

/* Guards against a flush that misses the messages of its turn, runs between two of them, runs
 * once per message (no batching at all) or runs for a turn that handled nothing. */
static void flush_runs_once_after_each_turn_that_handled_messages(void **state) {
  fix_t *f = *state;
  tr_pid_t b = batcher(f);
  for (uint32_t i = 0; i < MESSAGES; i++)
    assert_int_equal(tr_send(tr_client_ctx(f->c), b, f->work, NULL, 0), 0);
  tr_msg_t *r = sup_request(f->c, b, f->report);
  uint64_t flushed = sup_arg_u(r, 0, 0), flushes = sup_arg_u(r, 1, 0), now = sup_arg_u(r, 2, 0);
  tr_msg_free(r);
  /* Every message before the report was flushed, or is in the report's own turn. */
  assert_int_equal(flushed + now, MESSAGES + 1u);
  assert_true(flushes >= 1 && flushes <= flushed);
  /* A turn handles at most a batch, so a backlog flushes at least once per batch. */
  assert_true(flushes >= flushed / 64u);
}

/* Guards against a flush's failure being ignored. */
static void a_failing_flush_ends_the_actor_with_its_error(void **state) {
  fix_t *f = *state;
  tr_pid_t b = batcher(f);
  assert_int_equal(tr_send(tr_client_ctx(f->c), b, f->fail, NULL, 0), 0);
  tr_msg_t *m = sup_receive(f->c);
  assert_int_equal(tr_msg_tag(m), f->ended);
  int64_t kind, code;
  assert_int_equal(tr_msg_unpack(m, "[ii]", &kind, &code), 0);
  assert_int_equal(kind, TR_REASON_ERROR);
  assert_int_equal(code, 5);
  tr_msg_free(m);
}

/* An actor that goes on by mailing itself the next step, and counts its turns (flushes). */
#define STEPS 40u

typedef struct {
  fix_t *f;
  tr_pid_t to;
  uint64_t steps, flushes;
} stepper_t;

static int stepper_init(tr_ctx_t *ctx, void *state, const tr_msg_t *init) {
  (void)ctx;
  stepper_t *s = state;
  s->f = sup_init_ptr(init);
  s->to = (tr_pid_t){sup_arg_u(init, 1, 0)};
  return 0;
}

static int stepper_receive(tr_ctx_t *ctx, void *state, const tr_msg_t *m) {
  stepper_t *s = state;
  /* The report is mailed to itself too, after the last step: so it is read in a turn after
   * the last step's, when every step's turn has flushed. */
  if (tr_msg_tag(m) == s->f->report)
    return tr_sendf(ctx, s->to, s->f->ended, "[uu]", s->steps, s->flushes);
  return tr_send(ctx, tr_self(ctx), ++s->steps < STEPS ? s->f->work : s->f->report, NULL, 0);
}

static int stepper_flush(tr_ctx_t *ctx, void *state) {
  (void)ctx;
  ((stepper_t *)state)->flushes++;
  return 0;
}

static const tr_behaviour_t stepper_b = {.name = "stepper",
                                         .state_size = sizeof(stepper_t),
                                         .init = stepper_init,
                                         .receive = stepper_receive,
                                         .flush = stepper_flush};

/* Guards against a turn that handles what its actor sent itself in it: then a batch holds
 * all the steps of an actor that loops by mailing itself, and one turn runs them all while
 * every other actor of that worker waits. Each step must be a turn of its own. */
static void a_message_an_actor_sends_itself_waits_for_its_next_turn(void **state) {
  fix_t *f = *state;
  tr_ctx_t *ctx = tr_client_ctx(f->c);
  tr_pid_t p;
  assert_int_equal(tr_spawnf(ctx, &stepper_b, &p, "[uu]", sup_ptr(f), tr_client_pid(f->c).id), 0);
  assert_int_equal(tr_send(ctx, p, f->work, NULL, 0), 0);
  tr_msg_t *m = sup_receive(f->c);
  assert_int_equal(tr_msg_tag(m), f->ended);
  uint64_t steps = sup_arg_u(m, 0, 0), flushes = sup_arg_u(m, 1, 0);
  tr_msg_free(m);
  assert_int_equal(steps, STEPS);
  assert_int_equal(flushes, STEPS); /* one turn per step */
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(flush_runs_once_after_each_turn_that_handled_messages, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(a_failing_flush_ends_the_actor_with_its_error, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(a_message_an_actor_sends_itself_waits_for_its_next_turn,
                                      setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
