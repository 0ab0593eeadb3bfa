/* The timers workload: N = 100,000 actors; actor i computes due = now + (i*7919 % 1000) ms,
 * asks for a one-shot timer to itself (tr_send_after), and when it fires sends its
 * lateness, now - due in signed nanoseconds, to a collector. The collector checks that all
 * N reports came and none was more than 1 ms early, and reports the count, the lateness
 * extremes and their sum to the driver's client. It measures the timer wheel under load:
 * 100,000 timers spread over one second, so about 100 expire in every millisecond, each
 * waking a different actor. The figure is the worst lateness, in milliseconds; `seconds`
 * is ideally the spawn time plus one second (the longest delay is 999 ms).
 *
 * Every actor reads the clock itself, in its init, just before asking for its timer, and
 * again when the timer's message arrives, so lateness includes the trip through the
 * mailbox and the scheduler, as a peer system's would. */
#include <stdio.h>
#include <time.h>

#include "bench.h"

#define TIMERS_N 100000
#define TIMERS_PRIME 7919u      /* from the spec: spreads the delays over [0, 1000) ms */
#define TIMERS_SPREAD_MS 1000u  /* from the spec */
#define TIMERS_EARLY_NS 1000000 /* the spec's check: no report more than 1 ms early */
#define NS_PER_MS 1e6
#define NS_PER_SEC 1000000000

static struct {
  const bench_env_t *env; /* written before the first spawn, read-only afterwards */
  uint64_t n;
  tr_pid_t collector;
  tr_atom_t fire, late, done;
} g;

typedef struct {
  int64_t due_ns; /* on the monotonic clock */
} sleeper_t;

typedef struct {
  uint64_t reports, early;
  int64_t sum, min, max;
} collector_t;

static int64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * NS_PER_SEC + (int64_t)ts.tv_nsec;
}

static int sleeper_init(tr_ctx_t *ctx, void *state, const tr_msg_t *init) {
  sleeper_t *st = state;
  uint64_t i = 0;
  int err = tr_msg_unpack(init, "u", &i);
  uint64_t delay_ms = i * TIMERS_PRIME % TIMERS_SPREAD_MS;
  st->due_ns = now_ns() + (int64_t)delay_ms * 1000000;
  if (err == 0) {
    err = tr_send_after(ctx, delay_ms, tr_self(ctx), g.fire, NULL, 0, NULL);
  }
  return err != 0 ? bench_fail(ctx, g.env, err) : 0;
}

static int sleeper_receive(tr_ctx_t *ctx, void *state, const tr_msg_t *msg) {
  (void)msg; /* the timer's message, the only one a sleeper gets */
  sleeper_t *st = state;
  int err = tr_sendf(ctx, g.collector, g.late, "i", now_ns() - st->due_ns);
  tr_stop(ctx);
  return err != 0 ? bench_fail(ctx, g.env, err) : 0;
}

static const tr_behaviour_t sleeper = {.name = "timers.sleeper",
                                       .state_size = sizeof(sleeper_t),
                                       .init = sleeper_init,
                                       .receive = sleeper_receive};

static int collector_receive(tr_ctx_t *ctx, void *state, const tr_msg_t *msg) {
  collector_t *st = state;
  int64_t late = 0;
  int err = tr_msg_unpack(msg, "i", &late);
  if (err == 0) {
    st->min = st->reports == 0 || late < st->min ? late : st->min;
    st->max = st->reports == 0 || late > st->max ? late : st->max;
    st->sum += late;
    st->early += late < -TIMERS_EARLY_NS;
    if (++st->reports == g.n) {
      tr_stop(ctx);
      err = tr_sendf(ctx, g.env->client_pid, g.done, "uuiii", st->reports, st->early, st->sum,
                     st->min, st->max);
    }
  }
  return err != 0 ? bench_fail(ctx, g.env, err) : 0;
}

static const tr_behaviour_t collector = {
    .name = "timers.collector", .state_size = sizeof(collector_t), .receive = collector_receive};

static int start(tr_ctx_t *ctx, uint64_t n) {
  int err = tr_spawn(ctx, &collector, NULL, 0, &g.collector);
  for (uint64_t i = 0; err == 0 && i < n; i++) {
    err = tr_spawnf(ctx, &sleeper, NULL, "u", i);
  }
  return err;
}

static int run(const bench_env_t *env, uint64_t n, bench_result_t *out) {
  g.env = env;
  g.n = n;
  g.fire = tr_atom(env->sys, "fire");
  g.late = tr_atom(env->sys, "late");
  g.done = tr_atom(env->sys, "done");

  double start_time = bench_now();
  int err = start(tr_system_ctx(env->sys), n);
  uint64_t reports = 0, early = 0;
  int64_t sum = 0, min = 0, max = 0;
  if (err == 0) {
    err = bench_wait(env, g.done, "uuiii", &reports, &early, &sum, &min, &max);
  }
  if (err != 0) {
    return err;
  }
  out->ok = reports == n && early == 0 && min >= -TIMERS_EARLY_NS;
  out->seconds = bench_now() - start_time;
  out->rate = (double)max / NS_PER_MS;
  snprintf(out->extra, sizeof out->extra, "mean_late_ms=%.3f min_late_ms=%.3f",
           (double)sum / (double)reports / NS_PER_MS, (double)min / NS_PER_MS);
  return 0;
}

const bench_workload_t bench_timers = {
    .name = "timers", .unit = "max_late_ms", .default_n = TIMERS_N, .run = run};
