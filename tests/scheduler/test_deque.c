/* Tests of a worker's run queue (scheduler/deque.h): the owner's push and its pops from
 * both ends (and pop_next, which picks the end by the task), the full deque, grab_half and
 * steal on their own, then a race of the owner against thieves over millions of tasks and
 * many wrap-arounds of the ring, where every task must be taken exactly once. Built with
 * TROUPE_SMALL_QUEUES (TR_DEQUE_CAP = 4) the ring wraps every few pushes and every steal
 * races the owner for the same slots. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "base/base.h"
#include "scheduler/deque.h"

/* Tasks in the race: the ring wraps about TASKS / TR_DEQUE_CAP times, and the owner's
 * indexes (21-bit counters packed into one word in deque.c) wrap around several times. The
 * harmful interleavings need a thief preempted between its claim and its copy, so the race
 * must run long enough for many preemptions. */
#define TASKS (1u << 23)
/* Thieves in the race; each owns one deque it steals into and pops from. */
#define THIEVES 3u
/* A thief that found nothing tries again at once, yielding only every this many misses:
 * claims collide with the owner only while both run. */
#define THIEF_YIELD_EVERY 64u
/* Seed for the owner's choice between pushing, popping and grabbing; fixed, so the owner's
 * side of a failure is the same on the next run. */
#define RACE_SEED UINT64_C(0x6465717565)

typedef struct deque_fixture deque_fixture_t;

typedef struct {
  deque_fixture_t *f;
  uint32_t id;
  pthread_t thread;
  tr_deque_t dq; /* this thief's own deque: it is the only one to push and pop it */
  uint64_t stolen, taken;
  uint32_t bad; /* tasks outside the valid range */
} thief_t;

struct deque_fixture {
  tr_deque_t owner;
  thief_t thieves[THIEVES];
  _Atomic uint8_t *runs; /* per task id, how many times it was taken */
  _Atomic bool done;     /* the owner pushed everything and emptied its deque */
  uint64_t owner_taken, grabbed;
};

static void *task_of(uint32_t id) { return (void *)(uintptr_t)(id + 1); } /* never NULL */
static uint32_t id_of(void *task) { return (uint32_t)((uintptr_t)task - 1); }

static int setup(void **state) {
  /* The deques are cache-line aligned, so the fixture's size is a multiple of the line. */
  deque_fixture_t *f = aligned_alloc(TR_CACHE_LINE, sizeof *f);
  if (!f)
    return -1;
  tr__deque_init(&f->owner);
  for (uint32_t k = 0; k < THIEVES; k++) {
    f->thieves[k] = (thief_t){.f = f, .id = k};
    tr__deque_init(&f->thieves[k].dq);
  }
  f->runs = NULL;
  atomic_store_explicit(&f->done, false, memory_order_relaxed);
  f->owner_taken = f->grabbed = 0;
  *state = f;
  return 0;
}

static int teardown(void **state) {
  deque_fixture_t *f = *state;
  free((void *)f->runs);
  free(f);
  return 0;
}

/* ---- single-threaded ---- */

/* Guards against the owner's pop returning tasks out of order (LIFO) or wrongly across the
 * wrap of the ring. */
static void owner_pops_tasks_in_push_order_across_wraps(void **state) {
  deque_fixture_t *f = *state;
  uint32_t next = 0, expect = 0;
  for (uint32_t round = 0; round < 4 * TR_DEQUE_CAP; round++) {
    uint32_t n = 1 + round % TR_DEQUE_CAP; /* 1..CAP tasks per round, so the start slides */
    for (uint32_t i = 0; i < n; i++)
      assert_true(tr__deque_push(&f->owner, task_of(next++)));
    assert_int_equal(tr__deque_len(&f->owner), n);
    for (uint32_t i = 0; i < n; i++)
      assert_int_equal(id_of(tr__deque_pop(&f->owner)), expect++);
    assert_null(tr__deque_pop(&f->owner));
  }
}

/* Guards against pop_newest returning anything but the newest task, or disturbing the
 * order the other end sees, across the wrap of the ring. */
static void pop_newest_takes_from_the_back_and_pop_from_the_front(void **state) {
  deque_fixture_t *f = *state;
  uint32_t base = 0;
  for (uint32_t round = 0; round < 4 * TR_DEQUE_CAP; round++) {
    for (uint32_t i = 0; i < TR_DEQUE_CAP; i++)
      assert_true(tr__deque_push(&f->owner, task_of(base + i)));
    /* Alternate ends: newest, oldest, newest... until empty. */
    uint32_t lo = base, hi = base + TR_DEQUE_CAP;
    for (uint32_t i = 0; i < TR_DEQUE_CAP; i++) {
      if (i % 2 == 0)
        assert_int_equal(id_of(tr__deque_pop_newest(&f->owner)), --hi);
      else
        assert_int_equal(id_of(tr__deque_pop(&f->owner)), lo++);
    }
    assert_null(tr__deque_pop_newest(&f->owner));
    assert_null(tr__deque_pop(&f->owner));
    base += TR_DEQUE_CAP;
    for (uint32_t i = 0; i < round % 3; i++) { /* start the next round at another slot */
      assert_true(tr__deque_push(&f->owner, task_of(0)));
      assert_non_null(tr__deque_pop(&f->owner));
    }
  }
}

/* A task for pop_next: id in the high bits, TR_DEQUE_FRESH when it is a spawn. */
static void *mixed_task(uint32_t id, bool fresh) {
  return (void *)((uintptr_t)(id + 1) << 1 | (fresh ? TR_DEQUE_FRESH : 0));
}
static uint32_t mixed_id(void *task) { return (uint32_t)(((uintptr_t)task >> 1) - 1); }

/* Guards against pop_next running woken tasks newest-first (a woken actor then runs before
 * more messages reach it: mesh 2.4x slower) or spawns oldest-first (a spawn tree then runs
 * breadth-first: skynet's live set grows to the whole tree), across wraps of the ring. */
static void pop_next_takes_spawns_newest_first_and_wakes_oldest_first(void **state) {
  deque_fixture_t *f = *state;
  uint32_t base = 0;
  for (uint32_t round = 0; round < 4 * TR_DEQUE_CAP; round++) {
    /* Wakes only: in the order they were pushed. */
    for (uint32_t i = 0; i < TR_DEQUE_CAP; i++)
      assert_true(tr__deque_push(&f->owner, mixed_task(base + i, false)));
    for (uint32_t i = 0; i < TR_DEQUE_CAP; i++)
      assert_int_equal(mixed_id(tr__deque_pop_next(&f->owner)), base + i);
    assert_null(tr__deque_pop_next(&f->owner));
    /* Spawns only: newest first, and the fresh bit comes back with the task. */
    for (uint32_t i = 0; i < TR_DEQUE_CAP; i++)
      assert_true(tr__deque_push(&f->owner, mixed_task(base + i, true)));
    for (uint32_t i = TR_DEQUE_CAP; i-- > 0;) {
      void *t = tr__deque_pop_next(&f->owner);
      assert_true((uintptr_t)t & TR_DEQUE_FRESH);
      assert_int_equal(mixed_id(t), base + i);
    }
    /* A spawn on top of wakes runs first; then the wakes, oldest first. */
    uint32_t wakes = TR_DEQUE_CAP > 1 ? TR_DEQUE_CAP - 1 : 0;
    for (uint32_t i = 0; i < wakes; i++)
      assert_true(tr__deque_push(&f->owner, mixed_task(base + i, false)));
    assert_true(tr__deque_push(&f->owner, mixed_task(base + wakes, true)));
    assert_int_equal(mixed_id(tr__deque_pop_next(&f->owner)), base + wakes);
    for (uint32_t i = 0; i < wakes; i++)
      assert_int_equal(mixed_id(tr__deque_pop_next(&f->owner)), base + i);
    /* A wake on top of a spawn: the spawn below keeps the newest-first order (taking the
     * spawn would open another subtree under the running one). */
    assert_true(tr__deque_push(&f->owner, mixed_task(base, true)));
    assert_true(tr__deque_push(&f->owner, mixed_task(base + 1, false)));
    assert_int_equal(mixed_id(tr__deque_pop_next(&f->owner)), base + 1);
    assert_int_equal(mixed_id(tr__deque_pop_next(&f->owner)), base);
    assert_null(tr__deque_pop_next(&f->owner));
    base += TR_DEQUE_CAP;
  }
}

/* Guards against overwriting the oldest task when the ring is full. */
static void push_fails_when_full_and_works_again_after_a_pop(void **state) {
  deque_fixture_t *f = *state;
  for (uint32_t i = 0; i < TR_DEQUE_CAP; i++)
    assert_true(tr__deque_push(&f->owner, task_of(i)));
  assert_false(tr__deque_push(&f->owner, task_of(TR_DEQUE_CAP)));
  assert_int_equal(tr__deque_len(&f->owner), TR_DEQUE_CAP);
  assert_int_equal(id_of(tr__deque_pop(&f->owner)), 0);
  assert_true(tr__deque_push(&f->owner, task_of(TR_DEQUE_CAP)));
  assert_false(tr__deque_push(&f->owner, task_of(TR_DEQUE_CAP + 1)));
  for (uint32_t i = 1; i <= TR_DEQUE_CAP; i++)
    assert_int_equal(id_of(tr__deque_pop(&f->owner)), i);
  assert_null(tr__deque_pop(&f->owner));
}

/* Guards against grab_half taking the newest tasks, taking more than max, or leaving the
 * claim open (which would block later steals and keep the ring looking full). */
static void grab_half_takes_the_oldest_half_and_frees_their_slots(void **state) {
  deque_fixture_t *f = *state;
  void *out[TR_DEQUE_CAP];
  assert_int_equal(tr__deque_grab_half(&f->owner, out, TR_DEQUE_CAP), 0); /* empty */
  for (uint32_t i = 0; i < TR_DEQUE_CAP; i++)
    assert_true(tr__deque_push(&f->owner, task_of(i)));
  uint32_t n = tr__deque_grab_half(&f->owner, out, TR_DEQUE_CAP / 2);
  assert_int_equal(n, TR_DEQUE_CAP / 2);
  for (uint32_t i = 0; i < n; i++)
    assert_int_equal(id_of(out[i]), i);
  assert_int_equal(tr__deque_len(&f->owner), TR_DEQUE_CAP - n);
  /* The grabbed slots are free again. */
  for (uint32_t i = 0; i < n; i++)
    assert_true(tr__deque_push(&f->owner, task_of(TR_DEQUE_CAP + i)));
  assert_false(tr__deque_push(&f->owner, task_of(0)));
  for (uint32_t i = n; i < TR_DEQUE_CAP + n; i++)
    assert_int_equal(id_of(tr__deque_pop(&f->owner)), i);
  /* Three tasks: half rounded up is two; max caps it at one. */
  for (uint32_t i = 0; i < 3; i++)
    assert_true(tr__deque_push(&f->owner, task_of(100 + i)));
  assert_int_equal(tr__deque_grab_half(&f->owner, out, 1), 1);
  assert_int_equal(id_of(out[0]), 100);
  assert_int_equal(tr__deque_grab_half(&f->owner, out, TR_DEQUE_CAP), 1); /* of two left */
  assert_int_equal(id_of(out[0]), 101);
  assert_int_equal(id_of(tr__deque_pop(&f->owner)), 102);
  assert_null(tr__deque_pop(&f->owner));
}

/* Guards against a steal that loses or duplicates tasks when it moves them: the thief gets
 * the oldest half (rounded up, at most CAP / 2); it runs one of them now and queues the
 * others in order in its own deque; the victim keeps the rest in order. */
static void steal_moves_the_oldest_half_into_the_thiefs_deque(void **state) {
  deque_fixture_t *f = *state;
  tr_deque_t *mine = &f->thieves[0].dq;
  assert_null(tr__deque_steal(&f->owner, mine)); /* nothing to steal */
  for (uint32_t len = 1; len <= TR_DEQUE_CAP; len++) {
    for (uint32_t i = 0; i < len; i++)
      assert_true(tr__deque_push(&f->owner, task_of(i)));
    uint32_t n = len - len / 2;
    if (n > TR_DEQUE_CAP / 2)
      n = TR_DEQUE_CAP / 2;
    uint8_t got[TR_DEQUE_CAP] = {0};
    void *run = tr__deque_steal(&f->owner, mine);
    assert_non_null(run);
    assert_in_range(id_of(run), 0, n - 1);
    got[id_of(run)]++;
    assert_int_equal(tr__deque_len(mine), n - 1);
    uint32_t prev = 0;
    for (uint32_t i = 0; i + 1 < n; i++) {
      uint32_t id = id_of(tr__deque_pop(mine));
      assert_in_range(id, 0, n - 1);
      if (i > 0)
        assert_true(id > prev); /* queued in their original order */
      prev = id;
      got[id]++;
    }
    assert_null(tr__deque_pop(mine));
    for (uint32_t i = 0; i < n; i++)
      assert_int_equal(got[i], 1);
    for (uint32_t i = n; i < len; i++)
      assert_int_equal(id_of(tr__deque_pop(&f->owner)), i);
    assert_null(tr__deque_pop(&f->owner));
  }
}

/* Guards against a thief overfilling its own deque: with no room it must take nothing and
 * leave the victim as it was. */
static void steal_into_a_full_deque_takes_nothing(void **state) {
  deque_fixture_t *f = *state;
  tr_deque_t *mine = &f->thieves[0].dq;
  for (uint32_t i = 0; i < TR_DEQUE_CAP; i++) {
    assert_true(tr__deque_push(mine, task_of(1000 + i)));
    assert_true(tr__deque_push(&f->owner, task_of(i)));
  }
  assert_null(tr__deque_steal(&f->owner, mine));
  assert_int_equal(tr__deque_len(&f->owner), TR_DEQUE_CAP);
  /* With one free slot it takes exactly one task. */
  assert_int_equal(id_of(tr__deque_pop(mine)), 1000);
  void *run = tr__deque_steal(&f->owner, mine);
  assert_non_null(run);
  assert_int_equal(id_of(run), 0);
  assert_int_equal(tr__deque_len(mine), TR_DEQUE_CAP - 1);
  for (uint32_t i = 1; i < TR_DEQUE_CAP; i++)
    assert_int_equal(id_of(tr__deque_pop(&f->owner)), i);
}

/* ---- the race ---- */

static void take(deque_fixture_t *f, void *task, uint32_t *bad) {
  uint32_t id = id_of(task);
  if (id >= TASKS) {
    (*bad)++;
    return;
  }
  atomic_fetch_add_explicit(&f->runs[id], 1, memory_order_relaxed);
}

/* A thief: steal from the owner or from another thief into its own deque, run what it got
 * and drain its own deque, until the owner is done and nothing is left to steal. */
static void *thief_main(void *arg) {
  thief_t *me = arg;
  deque_fixture_t *f = me->f;
  uint64_t rng = (me->id + 1) * UINT64_C(0x9E3779B97F4A7C15);
  uint32_t misses = 0;
  for (;;) {
    /* acquire: pairs with the owner's release store of done; after it, the owner's deque
     * holds nothing unclaimed, so a failed steal from it means there is no more. */
    bool finished = atomic_load_explicit(&f->done, memory_order_acquire);
    uint64_t r = tr__rand(&rng);
    /* Mostly rob the owner; sometimes another thief, so thieves' deques are victims too
     * while their owners pop them. */
    tr_deque_t *victim = &f->owner;
    if (r % 4 == 0 && THIEVES > 1) {
      uint32_t k = (uint32_t)((r >> 8) % (THIEVES - 1));
      victim = &f->thieves[k >= me->id ? k + 1 : k].dq;
    }
    void *task = tr__deque_steal(victim, &me->dq);
    if (task) {
      me->stolen++;
      take(f, task, &me->bad);
      me->taken++;
    }
    /* Pop part of our deque now (others may steal the rest), all of it when quiet; from
     * either end, as a worker does. */
    uint32_t pops = task && r % 2 ? 1 : TR_DEQUE_CAP;
    void *t;
    while (pops-- > 0 &&
           (t = (r >> 16) % 2 ? tr__deque_pop(&me->dq) : tr__deque_pop_newest(&me->dq)) != NULL) {
      take(f, t, &me->bad);
      me->taken++;
    }
    if (finished && !task && tr__deque_len(&me->dq) == 0)
      break;
    /* Keep trying while the owner runs (that is when claims and pops collide); give the CPU
     * away now and then, as there may be more threads than cores. */
    if (!task && ++misses % THIEF_YIELD_EVERY == 0)
      sched_yield();
  }
  /* Whatever other thieves stole from us is theirs; what is left is ours. */
  void *t;
  while ((t = tr__deque_pop(&me->dq)) != NULL) {
    take(f, t, &me->bad);
    me->taken++;
  }
  return NULL;
}

/* The owner pushes every task, popping from either end now and then and, when the ring is
 * full, either popping or grabbing half (as a worker does when it overflows to the injection
 * queue). */
static uint32_t owner_run(deque_fixture_t *f) {
  uint64_t rng = RACE_SEED;
  uint32_t bad = 0;
  void *out[TR_DEQUE_CAP];
  for (uint32_t id = 0; id < TASKS;) {
    uint64_t r = tr__rand(&rng);
    if (r % 3 != 0) {
      if (tr__deque_push(&f->owner, task_of(id))) {
        id++;
        continue;
      }
      if (r % 2 == 0) {
        uint32_t n = tr__deque_grab_half(&f->owner, out, TR_DEQUE_CAP / 2);
        for (uint32_t i = 0; i < n; i++)
          take(f, out[i], &bad);
        f->grabbed += n;
        f->owner_taken += n;
        continue;
      }
    }
    /* Both owner ends: the front races thieves for the same slot, the back only when one
     * task is left. */
    uint64_t end = (r >> 8) % 3;
    void *t = end == 0   ? tr__deque_pop(&f->owner)
              : end == 1 ? tr__deque_pop_newest(&f->owner)
                         : tr__deque_pop_next(&f->owner); /* ends by the tasks' low bits */
    if (t) {
      take(f, t, &bad);
      f->owner_taken++;
    }
  }
  void *t;
  while ((t = tr__deque_pop(&f->owner)) != NULL) {
    take(f, t, &bad);
    f->owner_taken++;
  }
  /* release: see thief_main. */
  atomic_store_explicit(&f->done, true, memory_order_release);
  return bad;
}

/* Guards against the races between the owner's pop/push/grab_half and thieves' claims on
 * the same slots: a task lost (a slot overwritten before it was copied), run twice (popped
 * by the owner and stolen), or garbage read from a slot; over TASKS / CAP wrap-arounds. */
static void owner_and_thieves_take_every_task_exactly_once(void **state) {
  deque_fixture_t *f = *state;
  f->runs = calloc(TASKS, sizeof *f->runs);
  assert_non_null(f->runs);
  for (uint32_t k = 0; k < THIEVES; k++)
    assert_int_equal(pthread_create(&f->thieves[k].thread, NULL, thief_main, &f->thieves[k]), 0);
  uint32_t bad = owner_run(f);
  uint64_t taken = f->owner_taken, stolen = 0;
  for (uint32_t k = 0; k < THIEVES; k++) {
    assert_int_equal(pthread_join(f->thieves[k].thread, NULL), 0);
    bad += f->thieves[k].bad;
    taken += f->thieves[k].taken;
    stolen += f->thieves[k].stolen;
  }
  print_message("cap %u: owner took %llu (%llu by grab_half), thieves %llu in %llu steals\n",
                (unsigned)TR_DEQUE_CAP, (unsigned long long)f->owner_taken,
                (unsigned long long)f->grabbed, (unsigned long long)(taken - f->owner_taken),
                (unsigned long long)stolen);
  assert_int_equal(bad, 0);
  uint32_t lost = 0, twice = 0, first_wrong = TASKS;
  for (uint32_t id = 0; id < TASKS; id++) {
    uint8_t n = atomic_load_explicit(&f->runs[id], memory_order_relaxed);
    if (n != 1 && first_wrong == TASKS)
      first_wrong = id;
    lost += n == 0;
    twice += n > 1;
  }
  if (lost || twice)
    fail_msg("%u tasks lost, %u taken more than once (first: task %u)", (unsigned)lost,
             (unsigned)twice, (unsigned)first_wrong);
  assert_int_equal(taken, TASKS);
  for (uint32_t k = 0; k < THIEVES; k++)
    assert_int_equal(tr__deque_len(&f->thieves[k].dq), 0);
  assert_int_equal(tr__deque_len(&f->owner), 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(owner_pops_tasks_in_push_order_across_wraps, setup, teardown),
      cmocka_unit_test_setup_teardown(pop_newest_takes_from_the_back_and_pop_from_the_front, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(pop_next_takes_spawns_newest_first_and_wakes_oldest_first,
                                      setup, teardown),
      cmocka_unit_test_setup_teardown(push_fails_when_full_and_works_again_after_a_pop, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(grab_half_takes_the_oldest_half_and_frees_their_slots, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(steal_moves_the_oldest_half_into_the_thiefs_deque, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(steal_into_a_full_deque_takes_nothing, setup, teardown),
      cmocka_unit_test_setup_teardown(owner_and_thieves_take_every_task_exactly_once, setup,
                                      teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
