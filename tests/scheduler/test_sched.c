/* Tests of the scheduler through the public API, with one and with two workers: fairness
 * (an actor that always has mail, and a pair ping-ponging through the LIFO slot, cannot
 * keep others from running), parking (request/reply loops and a stream of one-way messages
 * from an outside thread, timed so that workers park between them and race the sender on
 * their way to sleep, never lose a wakeup), load (a storm of spawns from outside, and a
 * tree of spawns from inside actors that overflows the workers' deques into the injection
 * queue; every actor runs once), and stealing (two actors that can only finish together
 * must end up on two workers).
 *
 * A yielded actor still runs while a spawn loop keeps its worker busy.
 *
 * Every wait has a generous bound so a broken build fails instead of hanging (the ctest
 * TIMEOUT is the last resort); no bound is a timing assertion. Actors reach the test's
 * fixture through a pointer packed into their init payload. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>

#include "scheduler/deque.h" /* TR_DEQUE_CAP, to size the spawn tree */
#include "support/support.h"

/* Upper bound of one wait in milliseconds: sanitizer builds on a busy two-core machine are
 * slow, and a correct scheduler never comes near it. */
#define WAIT_MS 30000
/* Requests sent past a busy actor or a ping-pong pair: each one must get through. */
#define FAIR_ROUNDS 100u
/* Request/reply round trips in the parking stress; about one in PAUSE_EVERY is followed by
 * a pause of 0..PAUSE_MAX_US, long enough for the workers to park. */
#define PARK_ROUNDS 20000u
#define PAUSE_EVERY 4u
#define PAUSE_MAX_US 100u
/* Busy gaps before a polled round trip, and between the one-way messages of the stream: about
 * a worker's way from its last task to sleep, and its whole cycle of waking, running one
 * message and sleeping again, so that sends land at every point of them. */
#define POLL_GAP_MAX_NS 3000u
#define STREAM_GAP_MAX_NS 20000u
/* Actors spawned from outside in the storm. */
#define STORM 200000u
/* The spawn tree: the root spawns TREE_ROOT_FAN children in one turn, far more than a
 * worker's deque holds (TR_DEQUE_CAP: 256, or 4), and every level below spawns TREE_FAN, so
 * deques overflow at the top whatever order the workers run spawns in, and at every level
 * with small queues. */
#define TREE_ROOT_FAN 600u
#define TREE_FAN 8u
#define TREE_LEVELS 3u /* levels below the root; the last one are the leaves */
_Static_assert(TREE_ROOT_FAN > 2 * TR_DEQUE_CAP, "the root's spawns must overflow a deque");

typedef struct {
  unsigned workers;
} sched_cfg_t;

static const sched_cfg_t one_worker = {1}, two_workers = {2};

typedef struct {
  tr_system_t *sys;
  tr_client_t *client;
  unsigned workers;
  /* Read by actors; written in setup, before any actor exists. */
  tr_pid_t client_pid;
  tr_atom_t spin, ping, kick, spawn, report;
  /* Written by actors. */
  _Atomic uint32_t actor_errors; /* an actor could not spawn, send or read its payload */
  _Atomic uint32_t arrived;      /* barrier actors that have started */
  _Atomic uint32_t gave_up;      /* barrier actors that never saw their partner */
  uint8_t *seen;                 /* test thread only: reports per value */
} sched_fixture_t;

typedef struct {
  sched_fixture_t *f;
} actor_state_t;

/* Busy-wait (no sleep: the point is to hit a window shorter than a sleep's granularity). */
static void spin_ns(uint64_t ns) {
  for (uint64_t end = sup_now_ns() + ns; sup_now_ns() < end;) {
  }
}

static uint64_t ptr_arg(const void *p) { return (uint64_t)(uintptr_t)p; }

static void actor_error(sched_fixture_t *f) {
  atomic_fetch_add_explicit(&f->actor_errors, 1, memory_order_relaxed);
}

/* ---- behaviours ---- */

/* Init payload "u" (the fixture), kept in the state. */
static int keep_fixture(tr_ctx_t *ctx, void *state, const tr_msg_t *init) {
  (void)ctx;
  uint64_t f;
  if (tr_msg_unpack(init, "u", &f) != 0)
    return -1;
  ((actor_state_t *)state)->f = (sched_fixture_t *)(uintptr_t)f;
  return 0;
}

/* Never stops: every message it handles sends it another one, so it yields every turn and
 * waits behind the others. Answers a request with the number of steps so far ("u"). */
typedef struct {
  actor_state_t base; /* first: keep_fixture fills it */
  uint64_t steps;
} spinner_state_t;

static int spinner_init(tr_ctx_t *ctx, void *state, const tr_msg_t *init) {
  if (keep_fixture(ctx, state, init) != 0)
    return -1;
  return tr_send(ctx, tr_self(ctx), ((spinner_state_t *)state)->base.f->spin, NULL, 0);
}

static int spinner_receive(tr_ctx_t *ctx, void *state, const tr_msg_t *m) {
  spinner_state_t *st = state;
  if (tr_msg_ref(m))
    return tr_replyf(ctx, m, 0, "u", st->steps);
  st->steps++;
  if (tr_send(ctx, tr_self(ctx), st->base.f->spin, NULL, 0) != 0)
    actor_error(st->base.f);
  return 0;
}

static const tr_behaviour_t spinner = {.name = "spinner",
                                       .state_size = sizeof(spinner_state_t),
                                       .init = spinner_init,
                                       .receive = spinner_receive};

/* Replies to requests; sends any other message's tag back to its sender, if it has one. */
static int echo_receive(tr_ctx_t *ctx, void *state, const tr_msg_t *m) {
  (void)state;
  if (tr_msg_ref(m))
    return tr_reply(ctx, m, 0, NULL, 0);
  if (tr_pid_is_none(tr_msg_from(m)))
    return 0;
  return tr_send(ctx, tr_msg_from(m), tr_msg_tag(m), NULL, 0);
}

static const tr_behaviour_t echo = {.name = "echo", .receive = echo_receive};

/* Counts messages; answers a request with the count so far ("u"). */
typedef struct {
  uint64_t count;
} counter_state_t;

static int counter_receive(tr_ctx_t *ctx, void *state, const tr_msg_t *m) {
  counter_state_t *st = state;
  if (tr_msg_ref(m))
    return tr_replyf(ctx, m, 0, "u", st->count);
  st->count++;
  return 0;
}

static const tr_behaviour_t counter = {
    .name = "counter", .state_size = sizeof(counter_state_t), .receive = counter_receive};

/* Sends (report, value) to the test's client and stops. Init payload "[uu]": fixture, value. */
static int reporter_init(tr_ctx_t *ctx, void *state, const tr_msg_t *init) {
  (void)state;
  uint64_t fp, value;
  if (tr_msg_unpack(init, "[uu]", &fp, &value) != 0)
    return -1;
  sched_fixture_t *f = (sched_fixture_t *)(uintptr_t)fp;
  if (tr_sendf(ctx, f->client_pid, f->report, "u", value) != 0)
    actor_error(f);
  tr_stop(ctx);
  return 0;
}

static int ignore(tr_ctx_t *ctx, void *state, const tr_msg_t *m) {
  (void)ctx;
  (void)state;
  (void)m;
  return 0;
}

static const tr_behaviour_t reporter = {
    .name = "reporter", .init = reporter_init, .receive = ignore};

/* Ping-pongs forever: `kick` (payload "u": the partner's pid) starts it, every `ping` is
 * answered to its sender. `spawn` (payload "u": a value) spawns a reporter from inside. */
static int pinger_receive(tr_ctx_t *ctx, void *state, const tr_msg_t *m) {
  sched_fixture_t *f = ((actor_state_t *)state)->f;
  tr_atom_t tag = tr_msg_tag(m);
  uint64_t u;
  int rc = 0;
  if (tag == f->ping) {
    rc = tr_send(ctx, tr_msg_from(m), f->ping, NULL, 0);
  } else if (tag == f->kick && tr_msg_unpack(m, "u", &u) == 0) {
    rc = tr_send(ctx, (tr_pid_t){u}, f->ping, NULL, 0);
  } else if (tag == f->spawn && tr_msg_unpack(m, "u", &u) == 0) {
    rc = tr_spawnf(ctx, &reporter, NULL, "[uu]", ptr_arg(f), u);
  } else {
    rc = -1;
  }
  if (rc != 0)
    actor_error(f);
  return 0;
}

static const tr_behaviour_t pinger = {.name = "pinger",
                                      .state_size = sizeof(actor_state_t),
                                      .init = keep_fixture,
                                      .receive = pinger_receive};

/* Spawns a bouncer for every message; each bouncer sends `kick` back and stops. So its
 * worker always has a spawn on its deque or the spawner in its LIFO slot, forever. */
static int bouncer_init(tr_ctx_t *ctx, void *state, const tr_msg_t *init) {
  (void)state;
  uint64_t fp, parent;
  if (tr_msg_unpack(init, "[uu]", &fp, &parent) != 0)
    return -1;
  sched_fixture_t *f = (sched_fixture_t *)(uintptr_t)fp;
  if (tr_send(ctx, (tr_pid_t){parent}, f->kick, NULL, 0) != 0)
    actor_error(f);
  tr_stop(ctx);
  return 0;
}

static const tr_behaviour_t bouncer = {.name = "bouncer", .init = bouncer_init, .receive = ignore};

static int spawner_receive(tr_ctx_t *ctx, void *state, const tr_msg_t *m) {
  (void)m;
  sched_fixture_t *f = ((actor_state_t *)state)->f;
  if (tr_spawnf(ctx, &bouncer, NULL, "[uu]", ptr_arg(f), tr_self(ctx).id) != 0)
    actor_error(f);
  return 0;
}

static const tr_behaviour_t spawner = {.name = "spawner",
                                       .state_size = sizeof(actor_state_t),
                                       .init = keep_fixture,
                                       .receive = spawner_receive};

/* A node of the spawn tree. Init payload "[uuu]": fixture, path, level (0 for the root).
 * A node at level l < TREE_LEVELS spawns fan(l) children with paths path * fan(l) + i; the
 * leaves report their path, which numbers them 0 .. leaves - 1. */
static const tr_behaviour_t tree_node;

static uint64_t tree_fan(uint64_t level) { return level == 0 ? TREE_ROOT_FAN : TREE_FAN; }

static int tree_init(tr_ctx_t *ctx, void *state, const tr_msg_t *init) {
  (void)state;
  uint64_t fp, path, level;
  if (tr_msg_unpack(init, "[uuu]", &fp, &path, &level) != 0)
    return -1;
  sched_fixture_t *f = (sched_fixture_t *)(uintptr_t)fp;
  if (level == TREE_LEVELS && tr_sendf(ctx, f->client_pid, f->report, "u", path) != 0)
    actor_error(f);
  for (uint64_t i = 0; level < TREE_LEVELS && i < tree_fan(level); i++)
    if (tr_spawnf(ctx, &tree_node, NULL, "[uuu]", fp, path * tree_fan(level) + i, level + 1) != 0)
      actor_error(f);
  tr_stop(ctx);
  return 0;
}

static const tr_behaviour_t tree_node = {.name = "tree", .init = tree_init, .receive = ignore};

/* Two of these, spawned together from inside an actor, wait for each other: they can only
 * finish if they run at the same time, on two workers. Each reports 1, or 0 if it gave up
 * after BARRIER_MS. Init payload "u": the fixture. */
#define BARRIER_MS 10000u

static int barrier_init(tr_ctx_t *ctx, void *state, const tr_msg_t *init) {
  if (keep_fixture(ctx, state, init) != 0)
    return -1;
  sched_fixture_t *f = ((actor_state_t *)state)->f;
  atomic_fetch_add_explicit(&f->arrived, 1, memory_order_relaxed);
  uint64_t deadline = sup_now_ms() + BARRIER_MS;
  uint64_t met = 1;
  while (atomic_load_explicit(&f->arrived, memory_order_relaxed) < 2) {
    if (sup_now_ms() > deadline) {
      atomic_fetch_add_explicit(&f->gave_up, 1, memory_order_relaxed);
      met = 0;
      break;
    }
    sched_yield();
  }
  if (tr_sendf(ctx, f->client_pid, f->report, "u", met) != 0)
    actor_error(f);
  tr_stop(ctx);
  return 0;
}

static const tr_behaviour_t barrier = {.name = "barrier",
                                       .state_size = sizeof(actor_state_t),
                                       .init = barrier_init,
                                       .receive = ignore};

/* Spawns the two barrier actors from inside the pool, so both land in its worker's deque. */
static int pair_init(tr_ctx_t *ctx, void *state, const tr_msg_t *init) {
  if (keep_fixture(ctx, state, init) != 0)
    return -1;
  sched_fixture_t *f = ((actor_state_t *)state)->f;
  for (int k = 0; k < 2; k++)
    if (tr_spawnf(ctx, &barrier, NULL, "u", ptr_arg(f)) != 0)
      actor_error(f);
  tr_stop(ctx);
  return 0;
}

static const tr_behaviour_t pair = {
    .name = "pair", .state_size = sizeof(actor_state_t), .init = pair_init, .receive = ignore};

/* ---- fixture and helpers ---- */

static int setup(void **state) {
  const sched_cfg_t *cfg = *state;
  sched_fixture_t *f = calloc(1, sizeof *f);
  if (!f)
    return -1;
  f->workers = cfg->workers;
  tr_config_t c;
  tr_config_init(&c);
  c.workers = cfg->workers;
  if (tr_system_new(&c, &f->sys) != 0) {
    free(f);
    return -1;
  }
  if (tr_client_open(f->sys, &f->client) != 0) {
    tr_system_free(f->sys);
    free(f);
    return -1;
  }
  f->client_pid = tr_client_pid(f->client);
  f->spin = tr_atom(f->sys, "spin");
  f->ping = tr_atom(f->sys, "ping");
  f->kick = tr_atom(f->sys, "kick");
  f->spawn = tr_atom(f->sys, "spawn");
  f->report = tr_atom(f->sys, "report");
  *state = f;
  return 0;
}

static int teardown(void **state) {
  sched_fixture_t *f = *state;
  tr_client_close(f->client);
  tr_system_free(f->sys); /* stops the actors that never stop by themselves */
  free(f->seen);
  free(f);
  return 0;
}

static tr_pid_t spawn_with_fixture(sched_fixture_t *f, const tr_behaviour_t *b) {
  tr_pid_t pid;
  assert_int_equal(tr_spawnf(tr_system_ctx(f->sys), b, &pid, "u", ptr_arg(f)), 0);
  return pid;
}

/* The value of the next report to the client. */
static uint64_t next_report(sched_fixture_t *f) {
  tr_msg_t *m = NULL;
  int rc = tr_client_receive(f->client, WAIT_MS, &m);
  if (rc != 0)
    fail_msg("no report within %d ms: %s", WAIT_MS, tr_strerror(rc));
  assert_int_equal(tr_msg_tag(m), f->report);
  uint64_t v;
  assert_int_equal(tr_msg_unpack(m, "u", &v), 0);
  tr_msg_free(m);
  return v;
}

static void request_echo(sched_fixture_t *f, tr_pid_t to) {
  tr_msg_t *reply = NULL;
  int rc = tr_client_request(f->client, to, f->ping, NULL, 0, WAIT_MS, &reply);
  if (rc != 0)
    fail_msg("no reply within %d ms: %s", WAIT_MS, tr_strerror(rc));
  assert_int_equal(tr_msg_tag(reply), TR_ATOM_REPLY);
  tr_msg_free(reply);
}

/* Wait until pid has handled a message, so the scenario under test is really under way. */
static void wait_until_running(sched_fixture_t *f, tr_pid_t pid) {
  uint64_t deadline = sup_now_ms() + WAIT_MS;
  tr_actor_info_t info;
  for (;;) {
    assert_int_equal(tr_actor_info(f->sys, pid, &info), 0);
    if (info.msgs_in > 0)
      return;
    if (sup_now_ms() > deadline)
      fail_msg("actor %016llx never ran", (unsigned long long)pid.id);
    sched_yield();
  }
}

/* Wait until no actor is alive, then check every one ran and exited exactly once. */
static void expect_all_exited(sched_fixture_t *f, uint64_t spawned) {
  assert_int_equal(tr_system_await(f->sys, WAIT_MS), 0);
  tr_stats_t st;
  tr_system_stats(f->sys, &st);
  assert_int_equal(st.spawned, spawned);
  assert_int_equal(st.exited, spawned);
  assert_int_equal(st.actors, 0);
  assert_int_equal(atomic_load_explicit(&f->actor_errors, memory_order_relaxed), 0);
}

/* ---- fairness ---- */

/* Guards against a turn without a batch limit, or a worker that never looks at the
 * injection queue while its own queue has work: a spinner would keep the echo from ever
 * running and the request would time out. One spinner per worker. */
static void a_busy_actor_cannot_starve_another(void **state) {
  sched_fixture_t *f = *state;
  tr_pid_t spinners[2];
  for (unsigned k = 0; k < f->workers; k++) {
    spinners[k] = spawn_with_fixture(f, &spinner);
    wait_until_running(f, spinners[k]);
  }
  tr_pid_t e;
  assert_int_equal(tr_spawn(tr_system_ctx(f->sys), &echo, NULL, 0, &e), 0);
  for (uint32_t r = 0; r < FAIR_ROUNDS; r++)
    request_echo(f, e);
  tr_actor_info_t info;
  for (unsigned k = 0; k < f->workers; k++)
    assert_int_equal(tr_actor_info(f->sys, spinners[k], &info), 0); /* still spinning */
  assert_int_equal(atomic_load_explicit(&f->actor_errors, memory_order_relaxed), 0);
}

/* Guards against the LIFO slot running a ping-pong pair forever: an actor made runnable
 * from outside (the echo, on the injection queue) and one spawned by the pair (the
 * reporter, in the worker's deque) must both still run. One pair per worker. */
static void a_ping_pong_pair_cannot_starve_a_third_actor(void **state) {
  sched_fixture_t *f = *state;
  tr_pid_t first[2];
  for (unsigned k = 0; k < f->workers; k++) {
    tr_pid_t a = spawn_with_fixture(f, &pinger), b = spawn_with_fixture(f, &pinger);
    assert_int_equal(tr_sendf(tr_system_ctx(f->sys), a, f->kick, "u", b.id), 0);
    wait_until_running(f, a);
    wait_until_running(f, b);
    first[k] = a;
  }
  tr_pid_t e;
  assert_int_equal(tr_spawn(tr_system_ctx(f->sys), &echo, NULL, 0, &e), 0);
  for (uint32_t r = 0; r < FAIR_ROUNDS; r++) {
    request_echo(f, e);
    assert_int_equal(
        tr_sendf(tr_system_ctx(f->sys), first[r % f->workers], f->spawn, "u", (uint64_t)r), 0);
    assert_int_equal(next_report(f), r);
  }
  assert_int_equal(atomic_load_explicit(&f->actor_errors, memory_order_relaxed), 0);
}

/* Guards against a worker that runs its yielded actors only when it has nothing else to
 * do: a spawn loop keeps its deque or LIFO slot busy forever, so the spinner, which yields
 * every turn, must still be taken from the back queue now and then, or the requests to it
 * would time out. Its step count must grow between requests. */
static void a_yielded_actor_runs_beside_a_spawn_loop(void **state) {
  sched_fixture_t *f = *state;
  tr_pid_t loop = spawn_with_fixture(f, &spinner);
  wait_until_running(f, loop);
  for (unsigned k = 0; k < f->workers; k++) {
    tr_pid_t sp = spawn_with_fixture(f, &spawner);
    assert_int_equal(tr_send(tr_system_ctx(f->sys), sp, f->kick, NULL, 0), 0);
    wait_until_running(f, sp);
  }
  uint64_t last = 0;
  for (uint32_t r = 0; r < FAIR_ROUNDS; r++) {
    tr_msg_t *reply = NULL;
    int rc = tr_client_request(f->client, loop, f->ping, NULL, 0, WAIT_MS, &reply);
    if (rc != 0)
      fail_msg("the spinner did not answer within %d ms: %s", WAIT_MS, tr_strerror(rc));
    uint64_t steps;
    assert_int_equal(tr_msg_unpack(reply, "u", &steps), 0);
    tr_msg_free(reply);
    assert_true(r == 0 || steps > last);
    last = steps;
  }
  assert_int_equal(atomic_load_explicit(&f->actor_errors, memory_order_relaxed), 0);
}

/* ---- parking ---- */

/* One round trip in which the client polls for the answer instead of sleeping on it, so
 * that its next message arrives while the worker that ran the echo is on its way to park. */
static void ping_polling(sched_fixture_t *f, tr_pid_t to) {
  assert_int_equal(tr_send(tr_client_ctx(f->client), to, f->ping, NULL, 0), 0);
  uint64_t deadline = sup_now_ms() + WAIT_MS;
  tr_msg_t *m = NULL;
  int rc;
  while ((rc = tr_client_receive(f->client, 0, &m)) == TR_ETIMEDOUT)
    if (sup_now_ms() > deadline)
      fail_msg("no answer within %d ms", WAIT_MS);
  assert_int_equal(rc, 0);
  assert_int_equal(tr_msg_tag(m), f->ping);
  tr_msg_free(m);
}

/* Guards against a lost wakeup between a worker going to sleep and a thread outside the
 * pool making an actor runnable (the fence pairing and the last look at the queues in
 * idle.c): the echo would never run and the wait would time out. Most round trips follow
 * the previous one at once, racing the worker that is about to park; some wait for the
 * reply asleep (tr_client_request), and some pause first so that every worker parks. */
static void parked_workers_never_miss_a_request(void **state) {
  sched_fixture_t *f = *state;
  tr_pid_t e;
  assert_int_equal(tr_spawn(tr_system_ctx(f->sys), &echo, NULL, 0, &e), 0);
  uint64_t rng = UINT64_C(0x7061726b) + f->workers; /* fixed: the same pattern every run */
  for (uint32_t r = 0; r < PARK_ROUNDS; r++) {
    rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17; /* xorshift64 */
    if (rng % PAUSE_EVERY == 0) {
      struct timespec ts = {0, (long)((rng >> 8) % (PAUSE_MAX_US + 1)) * 1000L};
      nanosleep(&ts, NULL);
    }
    if ((rng >> 4) % 4 == 0) {
      request_echo(f, e);
      continue;
    }
    spin_ns((rng >> 16) % POLL_GAP_MAX_NS); /* slides our send across the worker's way to sleep */
    ping_polling(f, e);
  }
  tr_stats_t st;
  tr_system_stats(f->sys, &st);
  print_message("%u workers: %llu parks in %u round trips\n", f->workers,
                (unsigned long long)st.parks, (unsigned)PARK_ROUNDS);
}

/* Guards against the same lost wakeup with a stream of one-way messages from outside: the
 * worker runs each one and goes to park while the next is being sent, at a random moment of
 * its way there. A lost wakeup leaves the counter queued but never run, and every later
 * message (the final request too) finds it already scheduled and wakes nobody. */
static void parked_workers_never_miss_a_message_stream(void **state) {
  sched_fixture_t *f = *state;
  tr_pid_t c;
  assert_int_equal(tr_spawn(tr_system_ctx(f->sys), &counter, NULL, 0, &c), 0);
  uint64_t rng = UINT64_C(0x73747265616d) + f->workers;
  for (uint32_t r = 0; r < PARK_ROUNDS; r++) {
    assert_int_equal(tr_send(tr_system_ctx(f->sys), c, f->ping, NULL, 0), 0);
    rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
    spin_ns(rng % STREAM_GAP_MAX_NS);
  }
  tr_msg_t *reply = NULL;
  int rc = tr_client_request(f->client, c, f->ping, NULL, 0, WAIT_MS, &reply);
  if (rc != 0)
    fail_msg("no reply within %d ms: %s", WAIT_MS, tr_strerror(rc));
  uint64_t n;
  assert_int_equal(tr_msg_unpack(reply, "u", &n), 0);
  tr_msg_free(reply);
  assert_int_equal(n, PARK_ROUNDS);
  tr_stats_t st;
  tr_system_stats(f->sys, &st);
  print_message("%u workers: %llu parks, %llu turns, %llu injected for %u messages\n", f->workers,
                (unsigned long long)st.parks, (unsigned long long)st.turns,
                (unsigned long long)st.injected, (unsigned)PARK_ROUNDS);
}

/* ---- load ---- */

/* Guards against actors made runnable from outside getting lost or run twice on the
 * injection queue under a burst (its growth, the workers' fair-share takes). */
static void a_spawn_storm_from_outside_runs_every_actor_once(void **state) {
  sched_fixture_t *f = *state;
  f->seen = calloc(STORM, 1);
  assert_non_null(f->seen);
  for (uint32_t i = 0; i < STORM; i++)
    assert_int_equal(
        tr_spawnf(tr_system_ctx(f->sys), &reporter, NULL, "[uu]", ptr_arg(f), (uint64_t)i), 0);
  for (uint32_t i = 0; i < STORM; i++) {
    uint64_t v = next_report(f);
    assert_true(v < STORM);
    assert_int_equal(f->seen[v], 0);
    f->seen[v] = 1;
  }
  expect_all_exited(f, STORM);
}

/* Guards against losing actors when a worker's deque overflows (grab_half into the
 * injection queue) while thieves take from it: every leaf of the tree must report once. */
static void a_spawn_tree_overflowing_the_deques_runs_every_actor_once(void **state) {
  sched_fixture_t *f = *state;
  uint64_t leaves = 1, total = 1;
  for (uint64_t level = 0; level < TREE_LEVELS; level++) {
    leaves *= tree_fan(level);
    total += leaves;
  }
  f->seen = calloc(leaves, 1);
  assert_non_null(f->seen);
  assert_int_equal(tr_spawnf(tr_system_ctx(f->sys), &tree_node, NULL, "[uuu]", ptr_arg(f),
                             (uint64_t)0, (uint64_t)0),
                   0);
  for (uint64_t i = 0; i < leaves; i++) {
    uint64_t v = next_report(f);
    assert_true(v < leaves);
    assert_int_equal(f->seen[v], 0);
    f->seen[v] = 1;
  }
  expect_all_exited(f, total);
}

/* ---- stealing ---- */

/* Guards against an idle worker that never steals: the two barrier actors sit in one
 * worker's deque and can only both finish if the other worker takes one of them. Neither
 * can reach it any other way (no overflow, not on the injection queue), so a steal must be
 * counted. While waiting, the test nudges the pool from outside, so that the second worker
 * is awake even if it slept through the spawns (a push from inside a worker does not have
 * to wake a sleeper, see idle.c). */
static void an_idle_worker_steals_from_a_busy_one(void **state) {
  sched_fixture_t *f = *state;
  tr_pid_t sink;
  assert_int_equal(tr_spawn(tr_system_ctx(f->sys), &echo, NULL, 0, &sink), 0);
  spawn_with_fixture(f, &pair);
  uint64_t deadline = sup_now_ms() + WAIT_MS;
  for (int got = 0; got < 2;) {
    tr_msg_t *m = NULL;
    int rc = tr_client_receive(f->client, 1, &m);
    if (rc == TR_ETIMEDOUT) {
      assert_true(sup_now_ms() < deadline);
      assert_int_equal(tr_send(tr_system_ctx(f->sys), sink, f->ping, NULL, 0), 0);
      continue;
    }
    assert_int_equal(rc, 0);
    uint64_t met;
    assert_int_equal(tr_msg_unpack(m, "u", &met), 0);
    tr_msg_free(m);
    if (met != 1)
      fail_msg("a barrier actor gave up: its partner never ran beside it");
    got++;
  }
  assert_int_equal(atomic_load_explicit(&f->gave_up, memory_order_relaxed), 0);
  tr_stats_t st;
  tr_system_stats(f->sys, &st);
  assert_true(st.steals >= 1);
  assert_int_equal(atomic_load_explicit(&f->actor_errors, memory_order_relaxed), 0);
}

/* Each test once per worker count; the name says which. */
#define WITH(test, cfg)                                                                            \
  { #test "/" #cfg, test, setup, teardown, (void *)&cfg }

int main(void) {
  const struct CMUnitTest tests[] = {
      WITH(a_busy_actor_cannot_starve_another, one_worker),
      WITH(a_busy_actor_cannot_starve_another, two_workers),
      WITH(a_ping_pong_pair_cannot_starve_a_third_actor, one_worker),
      WITH(a_ping_pong_pair_cannot_starve_a_third_actor, two_workers),
      WITH(a_yielded_actor_runs_beside_a_spawn_loop, one_worker),
      WITH(a_yielded_actor_runs_beside_a_spawn_loop, two_workers),
      WITH(parked_workers_never_miss_a_request, one_worker),
      WITH(parked_workers_never_miss_a_request, two_workers),
      WITH(parked_workers_never_miss_a_message_stream, one_worker),
      WITH(parked_workers_never_miss_a_message_stream, two_workers),
      WITH(a_spawn_storm_from_outside_runs_every_actor_once, one_worker),
      WITH(a_spawn_storm_from_outside_runs_every_actor_once, two_workers),
      WITH(a_spawn_tree_overflowing_the_deques_runs_every_actor_once, one_worker),
      WITH(a_spawn_tree_overflowing_the_deques_runs_every_actor_once, two_workers),
      WITH(an_idle_worker_steals_from_a_busy_one, two_workers),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
