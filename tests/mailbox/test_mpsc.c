/* Tests of the mailbox queue (mailbox/mpsc.h) on its own, with a node type of the test's
 * making: single-threaded checks of pop, node release and the idle/scheduled states, then
 * two stress runs. In the first, several producers push numbered nodes and one consumer
 * checks that each arrives once and in its producer's order. In the second, the consumer
 * behaves like an actor: it runs only while it holds a schedule token, which the producer
 * whose push woke the queue hands it, drains, and gives the queue back with
 * tr__mq_try_idle. It checks that no push wakes a queue that is already scheduled, that
 * every wakeup matches a successful try_idle, and that nothing is left behind. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "mailbox/mpsc.h"

/* Producers and nodes per producer in the stress runs: enough pushes that producers meet
 * the consumer mid-link and mid-idle many times, small enough for TSan on two cores. */
#define PRODUCERS 4u
#define NODES_PER_PRODUCER 200000u
/* A handoff producer yields the CPU every this many pushes, so the consumer empties the
 * queue and goes idle often instead of always finding more work. */
#define HANDOFF_YIELD_EVERY 8u

typedef struct {
  tr_mq_node_t node; /* first, so a tr_mq_node_t * is an item_t * */
  uint32_t producer;
  uint32_t seq;
} item_t;

typedef struct mpsc_fixture mpsc_fixture_t;

typedef struct {
  mpsc_fixture_t *f;
  uint32_t id;
  pthread_t thread;
} producer_t;

struct mpsc_fixture {
  tr_mq_t q;
  item_t *items; /* PRODUCERS * per_producer, producer p's at [p * per_producer] */
  uint32_t per_producer;
  producer_t producers[PRODUCERS];
  /* Handoff run. `wakes` counts pushes that returned true; each such producer then adds one
   * to `scheduled`, the tokens the consumer takes. `done` counts finished producers. */
  _Atomic uint64_t wakes;
  _Atomic uint64_t scheduled;
  _Atomic uint32_t done;
  /* Written by the consumer thread, read by the test thread after joining it. */
  uint64_t received, idles, taken;
  uint64_t order_errors, release_errors, extra_wakes;
};

static item_t *item_of(tr_mq_node_t *n) { return (item_t *)(void *)n; }

static int setup(void **state) {
  mpsc_fixture_t *f = calloc(1, sizeof *f);
  if (!f)
    return -1;
  *state = f;
  return 0;
}

static int teardown(void **state) {
  mpsc_fixture_t *f = *state;
  free(f->items);
  free(f);
  return 0;
}

static void make_items(mpsc_fixture_t *f, uint32_t per_producer) {
  f->per_producer = per_producer;
  f->items = calloc((size_t)PRODUCERS * per_producer, sizeof *f->items);
  assert_non_null(f->items);
  for (uint32_t p = 0; p < PRODUCERS; p++) {
    for (uint32_t s = 0; s < per_producer; s++) {
      f->items[(size_t)p * per_producer + s].producer = p;
      f->items[(size_t)p * per_producer + s].seq = s;
    }
  }
}

/* Check one popped node against the per-producer sequence and the node released with it
 * (which must be the node popped before it, or NULL for the first pop from the stub). */
static void check_pop(mpsc_fixture_t *f, uint32_t *next_seq, tr_mq_node_t *n,
                      tr_mq_node_t *released, tr_mq_node_t **last) {
  item_t *it = item_of(n);
  if (it->producer >= PRODUCERS || it->seq != next_seq[it->producer])
    f->order_errors++;
  else
    next_seq[it->producer]++;
  if (released != *last)
    f->release_errors++;
  *last = n;
  f->received++;
}

/* ---- single-threaded behaviour ---- */

/* Guards against pop reading the stub or a stale next pointer as a message. */
static void pop_on_an_empty_queue_returns_null(void **state) {
  mpsc_fixture_t *f = *state;
  item_t poison = {0};
  for (int idle = 0; idle <= 1; idle++) {
    tr__mq_init(&f->q, idle != 0);
    tr_mq_node_t *released = &poison.node; /* pop must overwrite it */
    assert_null(tr__mq_pop(&f->q, &released));
    assert_null(released);
    assert_true(tr__mq_empty(&f->q));
  }
}

/* Guards against handing the stub (part of the queue) or a node still in use to the
 * caller for recycling. */
static void released_node_is_the_previous_tail_and_never_the_stub(void **state) {
  mpsc_fixture_t *f = *state;
  item_t a = {0}, b = {0}, c = {0};
  tr__mq_init(&f->q, false);
  tr__mq_push(&f->q, &a.node);
  tr__mq_push(&f->q, &b.node);
  tr__mq_push(&f->q, &c.node);
  tr_mq_node_t *released;
  assert_ptr_equal(tr__mq_pop(&f->q, &released), &a.node);
  assert_null(released); /* the stub stays with the queue */
  assert_ptr_equal(tr__mq_pop(&f->q, &released), &b.node);
  assert_ptr_equal(released, &a.node);
  assert_ptr_equal(tr__mq_pop(&f->q, &released), &c.node);
  assert_ptr_equal(released, &b.node);
  assert_null(tr__mq_pop(&f->q, &released));
  assert_null(released); /* c is the tail now and must not be released yet */
  assert_true(tr__mq_empty(&f->q));
}

/* Guards against a released node still being linked into the queue: two nodes recycled
 * through the queue over and over must come out in push order every time. */
static void released_nodes_can_be_pushed_again(void **state) {
  mpsc_fixture_t *f = *state;
  item_t nodes[2] = {{.seq = 0}, {.seq = 1}};
  tr__mq_init(&f->q, false);
  tr_mq_node_t *spare = &nodes[0].node, *released;
  tr__mq_push(&f->q, &nodes[1].node);
  assert_ptr_equal(tr__mq_pop(&f->q, &released), &nodes[1].node);
  for (uint32_t round = 0; round < 1000; round++) {
    item_of(spare)->seq = round;
    tr__mq_push(&f->q, spare);
    tr_mq_node_t *n = tr__mq_pop(&f->q, &released);
    assert_ptr_equal(n, spare);
    assert_int_equal(item_of(n)->seq, round);
    assert_non_null(released);
    assert_ptr_not_equal(released, n);
    spare = released;
  }
}

/* Guards against try_idle parking a queue that still holds a message (it would never be
 * scheduled again), and against push reporting a wakeup for a queue already scheduled. */
static void try_idle_fails_while_a_message_is_queued(void **state) {
  mpsc_fixture_t *f = *state;
  item_t a = {0}, b = {0}, c = {0};
  tr__mq_init(&f->q, false);
  assert_false(tr__mq_push(&f->q, &a.node)); /* scheduled already: nobody schedules again */
  assert_false(tr__mq_try_idle(&f->q));
  tr_mq_node_t *released;
  assert_ptr_equal(tr__mq_pop(&f->q, &released), &a.node);
  assert_true(tr__mq_try_idle(&f->q));
  assert_true(tr__mq_push(&f->q, &b.node)); /* idle -> scheduled: this sender schedules */
  assert_false(tr__mq_push(&f->q, &c.node));
  assert_ptr_equal(tr__mq_pop(&f->q, &released), &b.node);
  assert_ptr_equal(tr__mq_pop(&f->q, &released), &c.node);
  assert_true(tr__mq_try_idle(&f->q));
}

/* Guards against a queue created idle not being woken by its first push, or being woken
 * twice. */
static void push_to_an_idle_queue_wakes_it_once(void **state) {
  mpsc_fixture_t *f = *state;
  item_t a = {0}, b = {0};
  tr__mq_init(&f->q, true);
  assert_true(tr__mq_push(&f->q, &a.node));
  assert_false(tr__mq_push(&f->q, &b.node));
  tr_mq_node_t *released;
  assert_ptr_equal(tr__mq_pop(&f->q, &released), &a.node);
  assert_ptr_equal(tr__mq_pop(&f->q, &released), &b.node);
}

/* Guards against a consumer woken spuriously (an I/O thread's async wakeup with nothing
 * posted) spinning forever: try_idle on a queue that is idle already succeeds and leaves it
 * idle, so the next push still wakes it exactly once. */
static void try_idle_on_an_idle_queue_succeeds_and_keeps_it_idle(void **state) {
  mpsc_fixture_t *f = *state;
  item_t a = {0}, b = {0};
  tr__mq_init(&f->q, true);
  assert_true(tr__mq_try_idle(&f->q));
  assert_true(tr__mq_try_idle(&f->q));
  assert_true(tr__mq_push(&f->q, &a.node));
  assert_false(tr__mq_push(&f->q, &b.node));
  tr_mq_node_t *released;
  assert_ptr_equal(tr__mq_pop(&f->q, &released), &a.node);
  assert_ptr_equal(tr__mq_pop(&f->q, &released), &b.node);
  assert_true(tr__mq_try_idle(&f->q));
  assert_true(tr__mq_try_idle(&f->q)); /* idle, nothing pushed since */
  assert_true(tr__mq_push(&f->q, &a.node));
}

/* Guards against try_idle looking only at tail->next: a producer that has swapped head but
 * not yet linked its node must make try_idle fail, or its message would sit in an idle
 * queue that nobody schedules. */
static void try_idle_fails_while_a_push_is_still_linking(void **state) {
  mpsc_fixture_t *f = *state;
  item_t a = {0};
  tr__mq_init(&f->q, false);
  /* The first half of tr__mq_push: the node is the new head but not reachable yet. */
  atomic_store_explicit(&a.node.next, NULL, memory_order_relaxed);
  uintptr_t prev = atomic_exchange_explicit(&f->q.head, (uintptr_t)&a.node, memory_order_acq_rel);
  assert_int_equal(prev & 1, 0);
  tr_mq_node_t *released;
  assert_null(tr__mq_pop(&f->q, &released));
  assert_false(tr__mq_try_idle(&f->q));
  /* The second half: now the consumer sees it. */
  atomic_store_explicit(&((tr_mq_node_t *)prev)->next, &a.node, memory_order_release);
  assert_ptr_equal(tr__mq_pop(&f->q, &released), &a.node);
  assert_true(tr__mq_try_idle(&f->q));
}

/* ---- many producers, one consumer ---- */

static void *push_all(void *arg) {
  producer_t *p = arg;
  mpsc_fixture_t *f = p->f;
  item_t *mine = &f->items[(size_t)p->id * f->per_producer];
  for (uint32_t s = 0; s < f->per_producer; s++)
    tr__mq_push(&f->q, &mine[s].node);
  return NULL;
}

static void start_producers(mpsc_fixture_t *f, void *(*fn)(void *)) {
  for (uint32_t p = 0; p < PRODUCERS; p++) {
    f->producers[p].f = f;
    f->producers[p].id = p;
    assert_int_equal(pthread_create(&f->producers[p].thread, NULL, fn, &f->producers[p]), 0);
  }
}

static void join_producers(mpsc_fixture_t *f) {
  for (uint32_t p = 0; p < PRODUCERS; p++)
    assert_int_equal(pthread_join(f->producers[p].thread, NULL), 0);
}

/* Guards against lost, duplicated or reordered nodes when producers race on head and the
 * consumer meets nodes whose link is not written yet. */
static void every_node_arrives_once_in_producer_order(void **state) {
  mpsc_fixture_t *f = *state;
  make_items(f, NODES_PER_PRODUCER);
  tr__mq_init(&f->q, false);
  start_producers(f, push_all);
  uint32_t next_seq[PRODUCERS] = {0};
  tr_mq_node_t *last = NULL;
  const uint64_t total = (uint64_t)PRODUCERS * NODES_PER_PRODUCER;
  while (f->received < total) {
    tr_mq_node_t *released, *n = tr__mq_pop(&f->q, &released);
    if (n)
      check_pop(f, next_seq, n, released, &last);
    else
      sched_yield(); /* empty, or a producer is between its exchange and its link */
  }
  join_producers(f);
  tr_mq_node_t *released;
  assert_null(tr__mq_pop(&f->q, &released));
  assert_int_equal(f->order_errors, 0);
  assert_int_equal(f->release_errors, 0);
  for (uint32_t p = 0; p < PRODUCERS; p++)
    assert_int_equal(next_seq[p], NODES_PER_PRODUCER);
}

/* ---- the idle/scheduled handoff ---- */

static void *push_and_schedule(void *arg) {
  producer_t *p = arg;
  mpsc_fixture_t *f = p->f;
  item_t *mine = &f->items[(size_t)p->id * f->per_producer];
  for (uint32_t s = 0; s < f->per_producer; s++) {
    if (tr__mq_push(&f->q, &mine[s].node)) {
      atomic_fetch_add_explicit(&f->wakes, 1, memory_order_relaxed);
      /* release: hands the queue to the consumer (its acquire load in take_token); this is
       * the model of putting the actor in a run queue. */
      atomic_fetch_add_explicit(&f->scheduled, 1, memory_order_release);
    }
    if (s % HANDOFF_YIELD_EVERY == 0)
      sched_yield();
  }
  /* release: our last token is published before the consumer sees us done. */
  atomic_fetch_add_explicit(&f->done, 1, memory_order_release);
  return NULL;
}

/* Wait for the next schedule token. False once every producer is done and no token is
 * left: the consumer is not scheduled and never will be again. */
static bool take_token(mpsc_fixture_t *f) {
  for (;;) {
    /* acquire: pairs with the release increments in push_and_schedule. */
    bool finished = atomic_load_explicit(&f->done, memory_order_acquire) == PRODUCERS;
    uint64_t s = atomic_load_explicit(&f->scheduled, memory_order_acquire);
    /* While idle, at most one push may have woken the queue since our last try_idle. */
    if (s > f->taken + 1)
      f->extra_wakes++;
    if (s > f->taken) {
      f->taken++;
      return true;
    }
    if (finished)
      return false;
    sched_yield();
  }
}

static void *consume_when_scheduled(void *arg) {
  mpsc_fixture_t *f = arg;
  uint32_t next_seq[PRODUCERS] = {0};
  tr_mq_node_t *last = NULL;
  while (take_token(f)) {
    /* One turn: drain, then try to go idle; a failed try_idle means the turn goes on. */
    do {
      tr_mq_node_t *released, *n;
      while ((n = tr__mq_pop(&f->q, &released)) != NULL)
        check_pop(f, next_seq, n, released, &last);
      /* Nothing may schedule a queue that is scheduled: no token beyond ours. */
      if (atomic_load_explicit(&f->scheduled, memory_order_acquire) != f->taken)
        f->extra_wakes++;
    } while (!tr__mq_try_idle(&f->q));
    f->idles++;
  }
  for (uint32_t p = 0; p < PRODUCERS; p++)
    if (next_seq[p] != f->per_producer)
      f->order_errors++;
  return NULL;
}

static void run_handoff(mpsc_fixture_t *f, bool start_idle) {
  make_items(f, NODES_PER_PRODUCER);
  tr__mq_init(&f->q, start_idle);
  /* A queue created scheduled comes with its token, as a spawned actor is queued once. */
  atomic_store_explicit(&f->scheduled, start_idle ? 0 : 1, memory_order_relaxed);
  pthread_t consumer;
  assert_int_equal(pthread_create(&consumer, NULL, consume_when_scheduled, f), 0);
  start_producers(f, push_and_schedule);
  join_producers(f);
  assert_int_equal(pthread_join(consumer, NULL), 0);

  uint64_t wakes = atomic_load_explicit(&f->wakes, memory_order_relaxed);
  print_message("handoff (start %s): %llu wakeups, %llu idles\n", start_idle ? "idle" : "scheduled",
                (unsigned long long)wakes, (unsigned long long)f->idles);
  assert_int_equal(f->received, (uint64_t)PRODUCERS * NODES_PER_PRODUCER);
  assert_int_equal(f->order_errors, 0);
  assert_int_equal(f->release_errors, 0);
  assert_int_equal(f->extra_wakes, 0);
  /* Every idle -> scheduled move was one true push, every scheduled -> idle move one
   * successful try_idle; the queue ends idle. */
  assert_int_equal(f->idles, wakes + (start_idle ? 0u : 1u));
  assert_int_equal(f->taken, wakes + (start_idle ? 0u : 1u));
  /* Nothing left behind, and the queue really is idle: the next push wakes it. */
  assert_true(tr__mq_empty(&f->q));
  item_t extra = {0};
  assert_true(tr__mq_push(&f->q, &extra.node));
}

/* Guards against a lost wakeup (a message left in an idle queue), a double schedule (two
 * true pushes without a try_idle between them), and try_idle succeeding on a non-empty
 * queue, for a queue created idle (woken by its first push). */
static void each_wakeup_matches_one_successful_try_idle_from_idle(void **state) {
  run_handoff(*state, true);
}

/* The same for a queue created scheduled, as a new actor's mailbox is. */
static void each_wakeup_matches_one_successful_try_idle_from_scheduled(void **state) {
  run_handoff(*state, false);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(pop_on_an_empty_queue_returns_null, setup, teardown),
      cmocka_unit_test_setup_teardown(released_node_is_the_previous_tail_and_never_the_stub, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(released_nodes_can_be_pushed_again, setup, teardown),
      cmocka_unit_test_setup_teardown(try_idle_fails_while_a_message_is_queued, setup, teardown),
      cmocka_unit_test_setup_teardown(push_to_an_idle_queue_wakes_it_once, setup, teardown),
      cmocka_unit_test_setup_teardown(try_idle_on_an_idle_queue_succeeds_and_keeps_it_idle, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(try_idle_fails_while_a_push_is_still_linking, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(every_node_arrives_once_in_producer_order, setup, teardown),
      cmocka_unit_test_setup_teardown(each_wakeup_matches_one_successful_try_idle_from_idle, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(each_wakeup_matches_one_successful_try_idle_from_scheduled,
                                      setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
