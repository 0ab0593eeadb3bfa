/* Helpers shared by the tests (tests/support/): making a system with a given shape, handing a
 * test's data to an actor through its init payload (a pointer packed as a uint64), and bounded
 * waits. Waits poll with short sleeps and give up after SUP_WAIT_MS; the bound only keeps a
 * broken build from hanging, it is never a timing assertion. Static inline only, so each test
 * file stays one self-contained executable. */
#ifndef TR_TESTS_SUPPORT_SUPPORT_H
#define TR_TESTS_SUPPORT_SUPPORT_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "troupe.h"

/* Upper bound of every wait, in milliseconds: generous, because sanitizer builds on a busy
 * two-core machine are slow; a correct library never comes near it. */
#define SUP_WAIT_MS 10000

/* A system with `workers` threads (0: one per CPU) and room for `max_actors` (0: default). */
static inline tr_system_t *sup_system_with(const tr_config_t *cfg) {
  tr_system_t *sys = NULL;
  assert_int_equal(tr_system_new(cfg, &sys), 0);
  assert_non_null(sys);
  return sys;
}

static inline tr_system_t *sup_system_new(unsigned workers, uint32_t max_actors) {
  tr_config_t cfg;
  tr_config_init(&cfg);
  cfg.workers = workers;
  cfg.max_actors = max_actors;
  return sup_system_with(&cfg);
}

/* A pointer as the uint64 that an init payload or a message carries. */
static inline uint64_t sup_ptr(const void *p) { return (uint64_t)(uintptr_t)p; }
static inline void *sup_unptr(uint64_t u) { return (void *)(uintptr_t)u; }

/* Element k (0-based) of a payload packed as an array of unsigned integers, or `dflt`. */
static inline uint64_t sup_arg_u(const tr_msg_t *m, uint32_t k, uint64_t dflt) {
  size_t len = 0;
  const void *b = tr_msg_data(m, &len);
  if (!b || len == 0)
    return dflt;
  uint64_t u = dflt;
  msgpack_zone zone;
  msgpack_zone_init(&zone, 256);
  msgpack_object obj;
  if (tr_msgpack_parse(b, len, NULL, &zone, &obj) == 0 && obj.type == MSGPACK_OBJECT_ARRAY &&
      obj.via.array.size > k && obj.via.array.ptr[k].type == MSGPACK_OBJECT_POSITIVE_INTEGER)
    u = obj.via.array.ptr[k].via.u64;
  msgpack_zone_destroy(&zone);
  return u;
}

/* The pointer an init payload packed as "[u...]" carries first (the test's data), or NULL. */
static inline void *sup_init_ptr(const tr_msg_t *init) { return sup_unptr(sup_arg_u(init, 0, 0)); }

/* The tests' one clock: CLOCK_MONOTONIC, the clock the library runs its timers on. */
static inline uint64_t sup_now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static inline uint64_t sup_now_ms(void) { return sup_now_ns() / 1000000u; }

static inline void sup_sleep_ms(unsigned ms) {
  struct timespec ts = {.tv_sec = (time_t)(ms / 1000u), .tv_nsec = (long)(ms % 1000u) * 1000000L};
  nanosleep(&ts, NULL);
}

/* Poll cond(arg) until it holds or SUP_WAIT_MS passes. Returns its last value. */
static inline bool sup_wait(bool (*cond)(void *arg), void *arg) {
  uint64_t deadline = sup_now_ms() + SUP_WAIT_MS;
  while (!cond(arg)) {
    if (sup_now_ms() > deadline)
      return cond(arg);
    sup_sleep_ms(1);
  }
  return true;
}

/* Poll an atomic counter of the test until it reaches `want` (or SUP_WAIT_MS passes).
 * Returns the last value read, so the caller asserts on it. */
static inline uint64_t sup_wait_count(_Atomic uint64_t *c, uint64_t want) {
  uint64_t deadline = sup_now_ms() + SUP_WAIT_MS;
  uint64_t v;
  /* acquire: pairs with the release increments the actors make after their work. */
  while ((v = atomic_load_explicit(c, memory_order_acquire)) < want && sup_now_ms() <= deadline)
    sup_sleep_ms(1);
  return v;
}

/* Bump a test counter; release publishes what the actor did before it to sup_wait_count. */
static inline void sup_bump(_Atomic uint64_t *c) {
  atomic_fetch_add_explicit(c, 1, memory_order_release);
}

static inline uint64_t sup_read(_Atomic uint64_t *c) {
  return atomic_load_explicit(c, memory_order_acquire);
}

static inline tr_stats_t sup_stats(tr_system_t *sys) {
  tr_stats_t st;
  tr_system_stats(sys, &st);
  return st;
}

/* Buffers a test allocates are kept here and freed by the fixture's teardown, so that a
 * failing assertion (which leaves the test function at once) leaks nothing under ASan. */
#define SUP_KEEP_MAX 16
typedef struct {
  void *p[SUP_KEEP_MAX];
} sup_keep_t;

static inline void *sup_keep(sup_keep_t *k, void *p) {
  assert_non_null(p);
  for (size_t i = 0; i < SUP_KEEP_MAX; i++)
    if (!k->p[i])
      return k->p[i] = p;
  fail_msg("more than %d kept buffers", SUP_KEEP_MAX);
  return NULL;
}

static inline void sup_keep_free(sup_keep_t *k) {
  for (size_t i = 0; i < SUP_KEEP_MAX; i++) {
    free(k->p[i]);
    k->p[i] = NULL;
  }
}

/* Poll (bounded) until at most `n` actors are alive; returns the last count read. */
static inline uint64_t sup_wait_actors(tr_system_t *sys, uint64_t n) {
  uint64_t deadline = sup_now_ms() + SUP_WAIT_MS, live;
  while ((live = sup_stats(sys).actors) > n && sup_now_ms() <= deadline)
    sup_sleep_ms(1);
  return live;
}

/* Poll until an actor is idle with nothing queued (bounded); returns its info. */
static inline tr_actor_info_t sup_wait_idle(tr_system_t *sys, tr_pid_t pid) {
  tr_actor_info_t info;
  uint64_t deadline = sup_now_ms() + SUP_WAIT_MS;
  do {
    assert_int_equal(tr_actor_info(sys, pid, &info), 0);
    if (info.status == TR_STATUS_WAITING && info.mailbox == 0)
      break;
    sup_sleep_ms(1);
  } while (sup_now_ms() < deadline);
  assert_int_equal(info.status, TR_STATUS_WAITING);
  return info;
}

/* A pointer payload (tr_send_ptr) that counts its frees in a counter of the test. */
typedef struct {
  _Atomic uint64_t *frees;
} sup_box_t;

static inline void sup_box_free(void *p) {
  sup_box_t *b = p;
  sup_bump(b->frees);
  free(b);
}

static inline sup_box_t *sup_box_new(_Atomic uint64_t *frees) {
  sup_box_t *b = malloc(sizeof *b);
  assert_non_null(b);
  b->frees = frees;
  return b;
}

/* Receive one message on a client, failing the test when none comes within ms. */
static inline tr_msg_t *sup_receive_within(tr_client_t *c, int ms) {
  tr_msg_t *m = NULL;
  assert_int_equal(tr_client_receive(c, ms, &m), 0);
  assert_non_null(m);
  return m;
}

/* Ask an actor a question with a client and return the reply (the caller frees it),
 * failing the test when none comes within ms. */
static inline tr_msg_t *sup_request_within(tr_client_t *c, tr_pid_t to, tr_atom_t tag, int ms) {
  tr_msg_t *r = NULL;
  assert_int_equal(tr_client_request(c, to, tag, NULL, 0, ms, &r), 0);
  assert_non_null(r);
  return r;
}

/* The same, within SUP_WAIT_MS. A step that moves a million messages takes longer under
 * ThreadSanitizer on a loaded machine: it says so with SUP_BULK_WAIT_MS. */
#define SUP_BULK_WAIT_MS 120000
static inline tr_msg_t *sup_receive(tr_client_t *c) { return sup_receive_within(c, SUP_WAIT_MS); }
static inline tr_msg_t *sup_request(tr_client_t *c, tr_pid_t to, tr_atom_t tag) {
  return sup_request_within(c, to, tag, SUP_WAIT_MS);
}

/* Run only the tests whose names match $TR_TEST_FILTER (a cmocka pattern), when it is set:
 * for replaying one test under a debugger or a sanitizer. */
static inline void sup_filter_from_env(void) {
  const char *pattern = getenv("TR_TEST_FILTER");
  if (pattern && *pattern)
    cmocka_set_test_filter(pattern);
}

#endif
