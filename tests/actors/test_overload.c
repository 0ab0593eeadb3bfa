/* Tests of the overload policy (actors/overload.c, docs/overload.md): a producer into a slow
 * consumer is muted and the consumer's mailbox stays under its high-water mark plus what one
 * handler sends; nothing is lost; chains and cycles of mutes finish; a muted actor still
 * handles exit signals and DOWNs; mutes are lifted when the receiver exits; the drop and fail
 * policies count exactly what they refuse, and a request dropped is answered at once;
 * outside senders get TR_EBUSY or wait for the drain; unmutable actors are never muted.
 * Actors report to the test's client; handlers cannot fail a cmocka test, so they count what
 * they find wrong in `bad`. Waits are bounded only to keep a broken build from hanging;
 * nothing asserts on time. */
#include <pthread.h>

#include "actors/actor.h" /* TR_OUTBOX_MAX */
#include "support/support.h"

/* Marks of the mailboxes under test: small, so a test fills them fast. */
#define HIGH 64u
#define LOW 16u
/* What a producer sends per handler call (it mails itself "more" in between): the mute takes
 * effect when the handler returns, so a mailbox may pass HIGH by this much. */
#define CHUNK 100u
/* A consumer's work per message, so that producers outrun it. */
#define WORK_NS 20000L

/* Reports a test may hold while it waits for another kind. */
#define HELD_MAX 16

typedef struct {
  tr_system_t *sys;
  tr_client_t *client;
  tr_pid_t me;
  tr_atom_t v, more, done, block, block2, report;
  _Atomic uint64_t gate_open;  /* a "block" message holds its handler until this is set */
  _Atomic uint64_t gate2_open; /* ... and a "block2" until this one is */
  _Atomic uint64_t entered;    /* ... and counts here that it is holding */
  _Atomic uint64_t bad;
  tr_msg_t *held[HELD_MAX]; /* reports that came while the test waited for another kind */
  size_t nheld;
} fix_t;

static void check(fix_t *f, bool ok) {
  if (!ok)
    sup_bump(&f->bad);
}

static void spin_ns(long ns) {
  uint64_t end = sup_now_ns() + (uint64_t)ns;
  while (sup_now_ns() < end) {
  }
}

/* ---- the consumer: init [fix, expected]; counts "v" [producer, seq], checks each
 * producer's sequence, and notes the deepest mailbox it saw; reports [count, deepest] once
 * it has `expected`. "block" holds its handler until the gate opens. ---- */

#define PRODUCERS_MAX 8

typedef struct {
  fix_t *f;
  uint64_t expected, count, deepest;
  uint64_t next[PRODUCERS_MAX];
  long work_ns;
} consumer_t;

static int consumer_init(tr_ctx_t *ctx, void *state, const tr_msg_t *init) {
  (void)ctx;
  consumer_t *s = state;
  s->f = sup_init_ptr(init);
  s->expected = sup_arg_u(init, 1, 0);
  s->work_ns = (long)sup_arg_u(init, 2, WORK_NS);
  return 0;
}

static int consumer_receive(tr_ctx_t *ctx, void *state, const tr_msg_t *m) {
  consumer_t *s = state;
  fix_t *f = s->f;
  tr_actor_info_t info;
  check(f, tr_actor_info(f->sys, tr_self(ctx), &info) == 0);
  if (info.mailbox > s->deepest)
    s->deepest = info.mailbox;
  if (tr_msg_tag(m) == f->block || tr_msg_tag(m) == f->block2) {
    _Atomic uint64_t *gate = tr_msg_tag(m) == f->block ? &f->gate_open : &f->gate2_open;
    sup_bump(&f->entered);
    uint64_t deadline = sup_now_ms() + SUP_WAIT_MS;
    while (!sup_read(gate) && sup_now_ms() < deadline)
      sup_sleep_ms(1);
    return 0;
  }
  if (tr_msg_tag(m) != f->v)
    return 0;
  uint64_t who = sup_arg_u(m, 0, PRODUCERS_MAX), seq = sup_arg_u(m, 1, 0);
  check(f, who < PRODUCERS_MAX && seq == s->next[who]);
  if (who < PRODUCERS_MAX)
    s->next[who] = seq + 1;
  if (s->work_ns)
    spin_ns(s->work_ns);
  if (++s->count == s->expected)
    tr_sendf(ctx, f->me, f->report, "[uu]", s->count, s->deepest);
  return 0;
}

static const tr_behaviour_t consumer_b = {.name = "consumer",
                                          .state_size = sizeof(consumer_t),
                                          .init = consumer_init,
                                          .receive = consumer_receive};

/* ---- the producer: init [fix, to, n, id, to2]; sends "v" [id, seq] for seq 0..n-1 in
 * chunks, counting sends refused with TR_EBUSY; reports "done" [id, refused]. With to2, its
 * messages alternate between the two (the k-th to k % 2, as seq k / 2 of that one). ---- */

typedef struct {
  fix_t *f;
  tr_pid_t to, to2;
  uint64_t n, id, sent, refused;
} producer_t;

static int producer_init(tr_ctx_t *ctx, void *state, const tr_msg_t *init) {
  producer_t *s = state;
  s->f = sup_init_ptr(init);
  s->to = (tr_pid_t){sup_arg_u(init, 1, 0)};
  s->n = sup_arg_u(init, 2, 0);
  s->id = sup_arg_u(init, 3, 0);
  s->to2 = (tr_pid_t){sup_arg_u(init, 4, 0)};
  return tr_send(ctx, tr_self(ctx), s->f->more, NULL, 0);
}

static int producer_receive(tr_ctx_t *ctx, void *state, const tr_msg_t *m) {
  producer_t *s = state;
  fix_t *f = s->f;
  if (tr_msg_tag(m) != f->more)
    return 0;
  for (uint64_t k = 0; k < CHUNK && s->sent < s->n; k++, s->sent++) {
    bool two = !tr_pid_is_none(s->to2);
    tr_pid_t to = two && s->sent % 2 ? s->to2 : s->to;
    int rc = tr_sendf(ctx, to, f->v, "[uu]", s->id, two ? s->sent / 2 : s->sent);
    check(f, rc == 0 || rc == TR_EBUSY);
    s->refused += rc == TR_EBUSY;
  }
  if (s->sent < s->n)
    return tr_send(ctx, tr_self(ctx), f->more, NULL, 0);
  return tr_sendf(ctx, f->me, f->done, "[uu]", s->id, s->refused);
}

static const tr_behaviour_t producer_b = {.name = "producer",
                                          .state_size = sizeof(producer_t),
                                          .init = producer_init,
                                          .receive = producer_receive};

/* ---- fixture ---- */

static int setup_workers(void **state, unsigned workers) {
  fix_t *f = calloc(1, sizeof *f);
  assert_non_null(f);
  f->sys = sup_system_new(workers, 0);
  assert_int_equal(tr_client_open(f->sys, &f->client), 0);
  f->me = tr_client_pid(f->client);
  f->v = tr_atom(f->sys, "v");
  f->more = tr_atom(f->sys, "more");
  f->done = tr_atom(f->sys, "done");
  f->block = tr_atom(f->sys, "block");
  f->block2 = tr_atom(f->sys, "block2");
  f->report = tr_atom(f->sys, "report");
  *state = f;
  return 0;
}

static int setup(void **state) { return setup_workers(state, 2); }

/* Three workers: two consumers held in their handlers and the producer all run at once. */
static int setup3(void **state) { return setup_workers(state, 3); }

static int teardown(void **state) {
  fix_t *f = *state;
  atomic_store(&f->gate_open, 1);
  atomic_store(&f->gate2_open, 1);
  for (size_t i = 0; i < f->nheld; i++)
    tr_msg_free(f->held[i]);
  tr_client_close(f->client);
  tr_system_free(f->sys);
  assert_int_equal(sup_read(&f->bad), 0);
  free(f);
  return 0;
}

static const tr_mailbox_opts_t small = {
    .policy = TR_OVERLOAD_MUTE, .high_water = HIGH, .low_water = LOW};

static tr_pid_t spawn_consumer(fix_t *f, const tr_mailbox_opts_t *mb, uint64_t expected,
                               long work_ns) {
  unsigned char init[64];
  size_t len;
  assert_int_equal(
      tr_pack_into(init, sizeof init, &len, "[uuu]", sup_ptr(f), expected, (uint64_t)work_ns), 0);
  tr_spawn_opts_t o = {.mailbox = *mb};
  tr_pid_t pid;
  assert_int_equal(tr_spawn_opts(tr_system_ctx(f->sys), &consumer_b, init, len, &o, &pid), 0);
  return pid;
}

static tr_pid_t spawn_producer_to(fix_t *f, tr_pid_t to, tr_pid_t to2, uint64_t n, uint64_t id,
                                  bool unmutable) {
  unsigned char init[64];
  size_t len;
  assert_int_equal(
      tr_pack_into(init, sizeof init, &len, "[uuuuu]", sup_ptr(f), to.id, n, id, to2.id), 0);
  tr_spawn_opts_t o = {.unmutable = unmutable};
  tr_pid_t pid;
  assert_int_equal(tr_spawn_opts(tr_system_ctx(f->sys), &producer_b, init, len, &o, &pid), 0);
  return pid;
}

static tr_pid_t spawn_producer(fix_t *f, tr_pid_t to, uint64_t n, uint64_t id, bool unmutable) {
  return spawn_producer_to(f, to, TR_PID_NONE, n, id, unmutable);
}

/* The next message with this tag; others that come first are kept for a later expect. */
static tr_msg_t *expect(fix_t *f, tr_atom_t tag) {
  for (size_t i = 0; i < f->nheld; i++) {
    if (tr_msg_tag(f->held[i]) == tag) {
      tr_msg_t *m = f->held[i];
      memmove(&f->held[i], &f->held[i + 1], (f->nheld - i - 1) * sizeof f->held[0]);
      f->nheld--;
      return m;
    }
  }
  for (;;) {
    tr_msg_t *m = sup_receive(f->client);
    if (tr_msg_tag(m) == tag)
      return m;
    assert_true(f->nheld < HELD_MAX);
    f->held[f->nheld++] = m;
  }
}

static void expect_report(fix_t *f, uint64_t *count, uint64_t *deepest) {
  tr_msg_t *m = expect(f, f->report);
  assert_int_equal(tr_msg_unpack(m, "[uu]", count, deepest), 0);
  tr_msg_free(m);
}

static uint64_t expect_done(fix_t *f) {
  tr_msg_t *m = expect(f, f->done);
  uint64_t id, refused;
  assert_int_equal(tr_msg_unpack(m, "[uu]", &id, &refused), 0);
  tr_msg_free(m);
  return refused;
}

static tr_actor_info_t info_of(fix_t *f, tr_pid_t pid) {
  tr_actor_info_t info;
  assert_int_equal(tr_actor_info(f->sys, pid, &info), 0);
  return info;
}

/* Poll until pid is muted (bounded). */
static void wait_muted(fix_t *f, tr_pid_t pid) {
  uint64_t deadline = sup_now_ms() + SUP_WAIT_MS;
  while (!info_of(f, pid).muted && sup_now_ms() < deadline)
    sup_sleep_ms(1);
  assert_true(info_of(f, pid).muted);
}

/* Hold a consumer in its handler: "block" from the test, then wait until it is holding. */
static void hold_on(fix_t *f, tr_pid_t consumer, tr_atom_t block, uint64_t times) {
  assert_int_equal(tr_send(tr_system_ctx(f->sys), consumer, block, NULL, 0), 0);
  assert_int_equal(sup_wait_count(&f->entered, times), times);
}

static void hold(fix_t *f, tr_pid_t consumer, uint64_t times) {
  hold_on(f, consumer, f->block, times);
}

/* ---- tests ---- */

/* Guards muting: a producer far faster than its consumer is muted, so the consumer's mailbox
 * never holds more than its high-water mark plus one handler's sends; every message arrives
 * in order; and the producer goes on after each drain until it has sent everything. */
static void a_fast_producer_is_muted_and_nothing_is_lost(void **state) {
  fix_t *f = *state;
  enum { N = 20000 };
  tr_pid_t c = spawn_consumer(f, &small, N, WORK_NS);
  tr_pid_t p = spawn_producer(f, c, N, 0, false);
  uint64_t count, deepest;
  expect_report(f, &count, &deepest);
  assert_int_equal(count, N);
  printf("muting: deepest mailbox %llu (high %u, a handler sends %u)\n",
         (unsigned long long)deepest, HIGH, CHUNK);
  assert_true(deepest <= HIGH + CHUNK);
  assert_int_equal(expect_done(f), 0);
  tr_actor_info_t pi;
  if (tr_actor_info(f->sys, p, &pi) == 0) /* it may have exited already */
    assert_true(pi.mutes > 0);
  tr_actor_info_t ci = info_of(f, c);
  assert_true(ci.mailbox_hwm <= HIGH + CHUNK);
  assert_int_equal(ci.dropped, 0);
}

/* The reports of two consumers that each expected `each` messages, every one within its
 * mark plus one handler's sends, then the producer's "done" with nothing refused. */
static void expect_two_reports(fix_t *f, uint64_t each) {
  for (int i = 0; i < 2; i++) {
    uint64_t count, deepest;
    expect_report(f, &count, &deepest);
    assert_int_equal(count, each);
    assert_true(deepest <= HIGH + CHUNK);
  }
  assert_int_equal(expect_done(f), 0);
}

/* Guards muting when a handler's sends go to several mailboxes at once (the outbox pushes
 * them together at the handler's end): a producer alternating between two slow consumers
 * is muted by them, both mailboxes stay under their mark plus one handler's sends, and
 * every message reaches the consumer it was for, in order. */
static void a_producer_into_two_slow_consumers_is_muted_by_both(void **state) {
  fix_t *f = *state;
  enum { N = 20000 };
  tr_pid_t c[2] = {spawn_consumer(f, &small, N / 2, WORK_NS),
                   spawn_consumer(f, &small, N / 2, WORK_NS)};
  tr_pid_t p = spawn_producer_to(f, c[0], c[1], N, 0, false);
  expect_two_reports(f, N / 2);
  tr_actor_info_t pi;
  if (tr_actor_info(f->sys, p, &pi) == 0) /* it may have exited already */
    assert_true(pi.mutes > 0);
  for (int i = 0; i < 2; i++) {
    tr_actor_info_t ci = info_of(f, c[i]);
    assert_true(ci.mailbox_hwm <= HIGH + CHUNK);
    assert_int_equal(ci.dropped, 0);
  }
}

/* Guards waiting on every full mailbox: a producer alternating between two consumers, both
 * held in their handlers, fills both in its third handler and parks on the first; when only
 * that one is let go, drains and releases it, it parks on the other, still held, before it
 * sends again: no mailbox gets more than one handler's sends past its mark (before, it went
 * on after the first drain, and the held mailbox took half a chunk more per release). */
static void a_producer_waits_for_every_mailbox_it_filled(void **state) {
  fix_t *f = *state;
  enum { N = 2000 };
  tr_pid_t c[2] = {spawn_consumer(f, &small, N / 2, 0), spawn_consumer(f, &small, N / 2, 0)};
  hold_on(f, c[0], f->block2, 1);
  hold_on(f, c[1], f->block, 2);
  tr_pid_t p = spawn_producer_to(f, c[0], c[1], N, 0, false);
  uint64_t deadline = sup_now_ms() + SUP_WAIT_MS;
  while (info_of(f, p).muted_by.id != c[0].id && sup_now_ms() < deadline)
    sup_sleep_ms(1);
  assert_int_equal(info_of(f, p).muted_by.id, c[0].id); /* the first it found full */
  uint64_t before = info_of(f, c[1]).mailbox;
  atomic_store(&f->gate2_open, 1); /* c[0] drains and releases the producer */
  while (info_of(f, p).muted_by.id != c[1].id && sup_now_ms() < deadline)
    sup_sleep_ms(1);
  tr_actor_info_t pi = info_of(f, p);
  assert_true(pi.muted);
  assert_int_equal(pi.muted_by.id, c[1].id);
  uint64_t after = info_of(f, c[1]).mailbox;
  print_message("held consumer: %llu queued when the producer parked, %llu after its release "
                "(high %u, a handler sends %u)\n",
                (unsigned long long)before, (unsigned long long)after, HIGH, CHUNK);
  /* Nothing sent in between: only the nudge of the producer's MUTED signal (links.c). */
  assert_true(after <= before + 1);
  assert_true(after <= HIGH + CHUNK);
  atomic_store(&f->gate_open, 1);
  expect_two_reports(f, N / 2);
}

/* ---- a relay: init [fix, to]; forwards every "v" to `to` (a chain: producers -> relay ->
 * consumer). ---- */

typedef struct {
  fix_t *f;
  tr_pid_t to;
} relay_t;

static int relay_init(tr_ctx_t *ctx, void *state, const tr_msg_t *init) {
  (void)ctx;
  relay_t *s = state;
  s->f = sup_init_ptr(init);
  s->to = (tr_pid_t){sup_arg_u(init, 1, 0)};
  return 0;
}

static int relay_receive(tr_ctx_t *ctx, void *state, const tr_msg_t *m) {
  return tr_forward(ctx, ((relay_t *)state)->to, m);
}

static const tr_behaviour_t relay_b = {
    .name = "relay", .state_size = sizeof(relay_t), .init = relay_init, .receive = relay_receive};

/* Guards chains: four producers feed a relay that feeds a slow consumer. The relay is muted
 * by the consumer and the producers by the relay; everything arrives, and every mailbox stays
 * bounded: the relay's by its mark and what the producers' handlers send, the consumer's by
 * its mark and the relay's excess (a sender over its own mark is not muted, so it can
 * drain). */
static void a_chain_of_mutes_keeps_every_mailbox_bounded(void **state) {
  fix_t *f = *state;
  enum { P = 4, N = 5000 };
  tr_pid_t c = spawn_consumer(f, &small, P * N, WORK_NS / 4);
  unsigned char init[64];
  size_t len;
  assert_int_equal(tr_pack_into(init, sizeof init, &len, "[uu]", sup_ptr(f), c.id), 0);
  tr_spawn_opts_t o = {.mailbox = small};
  tr_pid_t r;
  assert_int_equal(tr_spawn_opts(tr_system_ctx(f->sys), &relay_b, init, len, &o, &r), 0);
  for (uint64_t id = 0; id < P; id++)
    spawn_producer(f, r, N, id, false);
  uint64_t count, deepest;
  expect_report(f, &count, &deepest);
  assert_int_equal(count, P * N);
  for (int k = 0; k < P; k++)
    assert_int_equal(expect_done(f), 0);
  tr_actor_info_t ri = info_of(f, r), ci = info_of(f, c);
  printf("chain: relay deepest %llu, muted %llu times; consumer deepest %llu\n",
         (unsigned long long)ri.mailbox_hwm, (unsigned long long)ri.mutes,
         (unsigned long long)ci.mailbox_hwm);
  assert_true(ri.mutes > 0);
  assert_true(ri.mailbox_hwm <= HIGH + P * CHUNK);
  assert_true(ci.mailbox_hwm <= HIGH + P * CHUNK + TR_OUTBOX_MAX);
}

/* ---- two actors that flood each other: init [fix, budget]; "peer" [pid] starts them;
 * every "v" received is answered with two while the budget lasts; each reports its count
 * once it has received `expected`. ---- */

typedef struct {
  fix_t *f;
  tr_pid_t peer;
  uint64_t budget, sent, received, expected;
  uint64_t owed; /* answers due before the start told it its peer */
} flooder_t;

static int flooder_init(tr_ctx_t *ctx, void *state, const tr_msg_t *init) {
  (void)ctx;
  flooder_t *s = state;
  s->f = sup_init_ptr(init);
  s->budget = s->expected = sup_arg_u(init, 1, 0);
  return 0;
}

static void flood(tr_ctx_t *ctx, flooder_t *s, uint64_t n) {
  if (tr_pid_is_none(s->peer)) { /* the other one started first: answer once we know it */
    s->owed += n;
    return;
  }
  for (uint64_t k = 0; k < n && s->sent < s->budget; k++, s->sent++)
    check(s->f, tr_sendf(ctx, s->peer, s->f->v, "[uu]", (uint64_t)0, s->sent) == 0);
}

static int flooder_receive(tr_ctx_t *ctx, void *state, const tr_msg_t *m) {
  flooder_t *s = state;
  fix_t *f = s->f;
  if (tr_msg_tag(m) == f->more) { /* the start: [peer] */
    s->peer = (tr_pid_t){sup_arg_u(m, 0, 0)};
    flood(ctx, s, 3 * HIGH + s->owed);
  } else if (tr_msg_tag(m) == f->v) {
    flood(ctx, s, 2);
    if (++s->received == s->expected)
      tr_sendf(ctx, f->me, f->report, "[uu]", s->received, (uint64_t)0);
  }
  return 0;
}

static const tr_behaviour_t flooder_b = {.name = "flooder",
                                         .state_size = sizeof(flooder_t),
                                         .init = flooder_init,
                                         .receive = flooder_receive};

/* Guards cycles: A and B each answer every message of the other with two, so both mailboxes
 * are full and each is muted by the other in turn. A muted actor whose own mailbox fills is
 * released, so the cycle never holds: both receive everything the other sends. */
static void two_actors_that_flood_each_other_never_deadlock(void **state) {
  fix_t *f = *state;
  enum { N = 20000 };
  tr_pid_t a, b;
  tr_spawn_opts_t o = {.mailbox = small};
  unsigned char init[64];
  size_t len;
  assert_int_equal(tr_pack_into(init, sizeof init, &len, "[uu]", sup_ptr(f), (uint64_t)N), 0);
  assert_int_equal(tr_spawn_opts(tr_system_ctx(f->sys), &flooder_b, init, len, &o, &a), 0);
  assert_int_equal(tr_spawn_opts(tr_system_ctx(f->sys), &flooder_b, init, len, &o, &b), 0);
  assert_int_equal(tr_sendf(tr_system_ctx(f->sys), a, f->more, "[u]", b.id), 0);
  assert_int_equal(tr_sendf(tr_system_ctx(f->sys), b, f->more, "[u]", a.id), 0);
  uint64_t count, unused;
  expect_report(f, &count, &unused);
  assert_int_equal(count, N);
  expect_report(f, &count, &unused);
  assert_int_equal(count, N);
  printf("cycle: A muted %llu times, B %llu times\n", (unsigned long long)info_of(f, a).mutes,
         (unsigned long long)info_of(f, b).mutes);
}

/* Guards the signal lane: a producer muted on a consumer that is stuck still handles an exit
 * signal at once, and the consumer, once unstuck, forgets it. */
static void a_muted_actor_still_handles_exit_signals(void **state) {
  fix_t *f = *state;
  enum { N = 1000000 };
  tr_pid_t c = spawn_consumer(f, &small, N, 0);
  hold(f, c, 1);
  tr_pid_t p = spawn_producer(f, c, N, 0, false);
  wait_muted(f, p);
  assert_true(info_of(f, p).muted_by.id == c.id);
  tr_reason_t r;
  tr_reason_set(&r, TR_REASON_KILLED, 0, NULL);
  assert_int_equal(tr_exit(tr_system_ctx(f->sys), p, &r), 0);
  uint64_t deadline = sup_now_ms() + SUP_WAIT_MS;
  tr_actor_info_t info;
  while (tr_actor_info(f->sys, p, &info) == 0 && sup_now_ms() < deadline)
    sup_sleep_ms(1);
  assert_int_equal(tr_actor_info(f->sys, p, &info), TR_ENOENT); /* exited while c is stuck */
  assert_int_equal(info_of(f, c).status, TR_STATUS_RUNNING);
  atomic_store(&f->gate_open, 1);
  sup_wait_idle(f->sys, c);
}

/* ---- a watcher: init [fix, to, target]; monitors target, then floods `to` (a stuck
 * consumer) until it is muted; reports "done" [1, 0] when the DOWN comes. ---- */

static int watcher_init(tr_ctx_t *ctx, void *state, const tr_msg_t *init) {
  producer_t *s = state;
  s->f = sup_init_ptr(init);
  s->to = (tr_pid_t){sup_arg_u(init, 1, 0)};
  s->n = UINT64_MAX;
  uint64_t ref;
  check(s->f, tr_monitor(ctx, (tr_pid_t){sup_arg_u(init, 2, 0)}, &ref) == 0);
  return tr_send(ctx, tr_self(ctx), s->f->more, NULL, 0);
}

static int watcher_receive(tr_ctx_t *ctx, void *state, const tr_msg_t *m) {
  producer_t *s = state;
  if (tr_msg_tag(m) == TR_ATOM_DOWN)
    return tr_sendf(ctx, s->f->me, s->f->done, "[uu]", (uint64_t)1, (uint64_t)0);
  return producer_receive(ctx, state, m);
}

static const tr_behaviour_t watcher_b = {.name = "watcher",
                                         .state_size = sizeof(producer_t),
                                         .init = watcher_init,
                                         .receive = watcher_receive};

/* Guards DOWN: it belongs to the signal lane's promises, so a watcher muted on a stuck
 * consumer still gets its DOWN at once. */
static void a_muted_watcher_still_gets_its_down(void **state) {
  fix_t *f = *state;
  tr_pid_t c = spawn_consumer(f, &small, UINT64_MAX, 0);
  hold(f, c, 1);
  tr_pid_t target;
  assert_int_equal(tr_spawn(tr_system_ctx(f->sys), &consumer_b, NULL, 0, &target), 0);
  unsigned char init[64];
  size_t len;
  assert_int_equal(tr_pack_into(init, sizeof init, &len, "[uuu]", sup_ptr(f), c.id, target.id), 0);
  tr_pid_t w;
  assert_int_equal(tr_spawn(tr_system_ctx(f->sys), &watcher_b, init, len, &w), 0);
  wait_muted(f, w);
  tr_reason_t r;
  tr_reason_set(&r, TR_REASON_KILLED, 0, NULL);
  assert_int_equal(tr_exit(tr_system_ctx(f->sys), target, &r), 0);
  expect_done(f); /* the DOWN, handled while c is still stuck */
  assert_int_equal(info_of(f, c).status, TR_STATUS_RUNNING);
  atomic_store(&f->gate_open, 1);
}

/* Guards receivers that exit: producers muted on a consumer that exits are released, and
 * finish (what they send after it is gone is dead letters). */
static void muted_senders_are_released_when_their_receiver_exits(void **state) {
  fix_t *f = *state;
  enum { N = 3000 };
  tr_pid_t c = spawn_consumer(f, &small, UINT64_MAX, 0);
  hold(f, c, 1);
  tr_pid_t p0 = spawn_producer(f, c, N, 0, false), p1 = spawn_producer(f, c, N, 1, false);
  wait_muted(f, p0);
  wait_muted(f, p1);
  tr_reason_t r;
  tr_reason_set(&r, TR_REASON_KILLED, 0, NULL);
  assert_int_equal(tr_exit(tr_system_ctx(f->sys), c, &r), 0);
  atomic_store(&f->gate_open, 1); /* its handler returns, then the exit ends it */
  assert_int_equal(expect_done(f), 0);
  assert_int_equal(expect_done(f), 0);
}

/* Guards drop-newest: with the consumer stuck, exactly high_water messages are queued (the
 * one being handled counts) and every other one is dropped, counted on the consumer and as a
 * dead letter; the sender sees success. */
static void the_drop_policy_counts_exactly_what_it_drops(void **state) {
  fix_t *f = *state;
  enum { N = 1000 };
  tr_mailbox_opts_t drop = {.policy = TR_OVERLOAD_DROP, .high_water = HIGH, .low_water = LOW};
  tr_pid_t c = spawn_consumer(f, &drop, HIGH - 1, 0);
  hold(f, c, 1);
  uint64_t dead_before = sup_stats(f->sys).dead_letters;
  spawn_producer(f, c, N, 0, false);
  assert_int_equal(expect_done(f), 0);
  tr_actor_info_t ci = info_of(f, c);
  assert_int_equal(ci.policy, TR_OVERLOAD_DROP);
  assert_int_equal(ci.dropped, N - (HIGH - 1));
  assert_int_equal(sup_stats(f->sys).dead_letters - dead_before, N - (HIGH - 1));
  atomic_store(&f->gate_open, 1);
  uint64_t count, deepest;
  expect_report(f, &count, &deepest);
  assert_int_equal(count, HIGH - 1); /* the first HIGH - 1 of the producer's, in order */
  assert_int_equal(info_of(f, c).dropped, N - (HIGH - 1));
}

/* ---- the asker: init [fix, to]; makes one request to `to` (tag "more", which the consumer
 * ignores) and reports "done" [u answer's tag, x answer's payload string] when it is
 * answered ---- */

typedef struct {
  fix_t *f;
  uint64_t ref;
} asker_t;

static int asker_init(tr_ctx_t *ctx, void *state, const tr_msg_t *init) {
  asker_t *s = state;
  s->f = sup_init_ptr(init);
  tr_pid_t to = {sup_arg_u(init, 1, 0)};
  return tr_request(ctx, to, s->f->more, NULL, 0, SUP_WAIT_MS, &s->ref);
}

static int asker_receive(tr_ctx_t *ctx, void *state, const tr_msg_t *m) {
  asker_t *s = state;
  const char *why = "";
  size_t n = 0;
  if (tr_msg_ref(m) != s->ref)
    return 0;
  check(s->f, tr_msg_unpack(m, "s", &why, &n) == 0);
  return tr_sendf(ctx, s->f->me, s->f->done, "[ux]", (uint64_t)tr_msg_tag(m), why, n);
}

static const tr_behaviour_t asker_b = {
    .name = "asker", .state_size = sizeof(asker_t), .init = asker_init, .receive = asker_receive};

/* Guards requests into a full drop mailbox: dropped, they fail at once instead of waiting
 * out their timeout (SUP_WAIT_MS, far longer than the test would take): a client's gets
 * TR_EBUSY, an actor's gets its TIMEOUT saying "overloaded". Both are counted as drops. */
static void a_request_a_full_mailbox_drops_is_answered_at_once(void **state) {
  fix_t *f = *state;
  tr_mailbox_opts_t drop = {.policy = TR_OVERLOAD_DROP, .high_water = HIGH, .low_water = LOW};
  tr_pid_t c = spawn_consumer(f, &drop, UINT64_MAX, 0);
  hold(f, c, 1);
  tr_ctx_t *ctx = tr_client_ctx(f->client);
  for (uint64_t k = 0; k < HIGH - 1; k++) /* with the "block" being handled: full */
    assert_int_equal(tr_sendf(ctx, c, f->v, "[uu]", (uint64_t)0, k), 0);
  assert_int_equal(info_of(f, c).dropped, 0);
  tr_msg_t *reply = NULL;
  assert_int_equal(tr_client_request(f->client, c, f->more, NULL, 0, SUP_WAIT_MS, &reply),
                   TR_EBUSY);
  assert_null(reply);
  assert_int_equal(info_of(f, c).dropped, 1);

  unsigned char init[32];
  size_t len;
  assert_int_equal(tr_pack_into(init, sizeof init, &len, "[uu]", sup_ptr(f), c.id), 0);
  tr_pid_t asker;
  assert_int_equal(tr_spawn(tr_system_ctx(f->sys), &asker_b, init, len, &asker), 0);
  tr_msg_t *m = expect(f, f->done);
  uint64_t tag;
  const void *why;
  size_t n;
  assert_int_equal(tr_msg_unpack(m, "[ux]", &tag, &why, &n), 0);
  assert_int_equal(tag, TR_ATOM_TIMEOUT);
  assert_int_equal(n, strlen("overloaded"));
  assert_memory_equal(why, "overloaded", n);
  tr_msg_free(m);
  assert_int_equal(info_of(f, c).dropped, 2);
}

/* Guards fail: the same, but the sender gets TR_EBUSY for each refused message, and the
 * consumer counts them as refused. */
static void the_fail_policy_returns_ebusy_for_exactly_what_it_refuses(void **state) {
  fix_t *f = *state;
  enum { N = 1000 };
  tr_mailbox_opts_t fail = {.policy = TR_OVERLOAD_FAIL, .high_water = HIGH, .low_water = LOW};
  tr_pid_t c = spawn_consumer(f, &fail, HIGH - 1, 0);
  hold(f, c, 1);
  spawn_producer(f, c, N, 0, false);
  assert_int_equal(expect_done(f), N - (HIGH - 1));
  assert_int_equal(info_of(f, c).refused, N - (HIGH - 1));
  assert_int_equal(info_of(f, c).dropped, 0);
  atomic_store(&f->gate_open, 1);
  uint64_t count, deepest;
  expect_report(f, &count, &deepest);
  assert_int_equal(count, HIGH - 1);
}

static void *open_gate_later(void *arg) {
  fix_t *f = arg;
  sup_sleep_ms(50);
  atomic_store(&f->gate_open, 1);
  return NULL;
}

/* Guards outside senders: a client that does not wait gets TR_EBUSY from a full mute
 * mailbox, exactly once it is full; one that waits gets through once the consumer drains. */
static void an_outside_sender_gets_ebusy_or_waits_for_the_drain(void **state) {
  fix_t *f = *state;
  tr_pid_t c = spawn_consumer(f, &small, UINT64_MAX, 0);
  hold(f, c, 1);
  tr_ctx_t *ctx = tr_client_ctx(f->client);
  tr_client_send_wait(f->client, TR_SEND_NOWAIT);
  uint64_t accepted = 0;
  int rc;
  while ((rc = tr_sendf(ctx, c, f->v, "[uu]", (uint64_t)0, accepted)) == 0)
    accepted++;
  assert_int_equal(rc, TR_EBUSY);
  assert_int_equal(accepted, HIGH - 1); /* with the "block" being handled: HIGH queued */
  assert_int_equal(info_of(f, c).refused, 1);
  tr_client_send_wait(f->client, SUP_WAIT_MS);
  pthread_t t;
  assert_int_equal(pthread_create(&t, NULL, open_gate_later, f), 0);
  assert_int_equal(tr_sendf(ctx, c, f->v, "[uu]", (uint64_t)0, accepted), 0); /* waits */
  pthread_join(t, NULL);
  assert_true(info_of(f, c).mailbox < HIGH);
}

/* Guards unmutable senders (supervisors are spawned so): they are never muted, so all they
 * send is queued, past the high-water mark. */
static void an_unmutable_sender_is_never_muted(void **state) {
  fix_t *f = *state;
  enum { N = 5 * HIGH };
  tr_pid_t c = spawn_consumer(f, &small, N, 0);
  hold(f, c, 1);
  tr_pid_t p = spawn_producer(f, c, N, 0, true);
  assert_int_equal(expect_done(f), 0);
  tr_actor_info_t pi;
  if (tr_actor_info(f->sys, p, &pi) == 0)
    assert_int_equal(pi.mutes, 0);
  assert_true(info_of(f, c).mailbox >= N); /* everything queued, over the mark */
  atomic_store(&f->gate_open, 1);
  uint64_t count, deepest;
  expect_report(f, &count, &deepest);
  assert_int_equal(count, N);
}

/* Guards the options: marks that cannot work are refused at spawn and at system start. */
static void bad_marks_are_refused(void **state) {
  fix_t *f = *state;
  tr_spawn_opts_t o = {.mailbox = {.high_water = 10, .low_water = 10}};
  tr_pid_t pid;
  assert_int_equal(tr_spawn_opts(tr_system_ctx(f->sys), &consumer_b, NULL, 0, &o, &pid), TR_EINVAL);
  o.mailbox = (tr_mailbox_opts_t){.high_water = 1};
  assert_int_equal(tr_spawn_opts(tr_system_ctx(f->sys), &consumer_b, NULL, 0, &o, &pid), TR_EINVAL);
  o.mailbox = (tr_mailbox_opts_t){.policy = (tr_overload_t)9};
  assert_int_equal(tr_spawn_opts(tr_system_ctx(f->sys), &consumer_b, NULL, 0, &o, &pid), TR_EINVAL);
  tr_config_t cfg;
  tr_config_init(&cfg);
  cfg.mailbox.low_water = TR_MAILBOX_HIGH;
  tr_system_t *sys;
  assert_int_equal(tr_system_new(&cfg, &sys), TR_EINVAL);
  assert_string_equal(tr_overload_name(TR_OVERLOAD_MUTE), "mute");
  assert_string_equal(tr_overload_name(TR_OVERLOAD_OFF), "off");
}

#define TEST(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int main(void) {
  sup_filter_from_env();
  const struct CMUnitTest tests[] = {
      TEST(a_fast_producer_is_muted_and_nothing_is_lost),
      TEST(a_producer_into_two_slow_consumers_is_muted_by_both),
      cmocka_unit_test_setup_teardown(a_producer_waits_for_every_mailbox_it_filled, setup3,
                                      teardown),
      TEST(a_chain_of_mutes_keeps_every_mailbox_bounded),
      TEST(two_actors_that_flood_each_other_never_deadlock),
      TEST(a_muted_actor_still_handles_exit_signals),
      TEST(a_muted_watcher_still_gets_its_down),
      TEST(muted_senders_are_released_when_their_receiver_exits),
      TEST(the_drop_policy_counts_exactly_what_it_drops),
      TEST(a_request_a_full_mailbox_drops_is_answered_at_once),
      TEST(the_fail_policy_returns_ebusy_for_exactly_what_it_refuses),
      TEST(an_outside_sender_gets_ebusy_or_waits_for_the_drain),
      TEST(an_unmutable_sender_is_never_muted),
      TEST(bad_marks_are_refused),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
