/* The pingpong workload: actor A sends ping(i) to actor B, B answers pong(i) to the sender,
 * and A checks that every i comes back in order before sending the next one, for N round
 * trips. It measures the latency of one message hop with nothing else to run, the case the
 * scheduler's LIFO slot exists for. A reports how many pongs it saw in order (N when all is
 * well) to the driver's client. */
#include "bench.h"

#define PINGPONG_N 1000000 /* round trips, the spec's N */

/* Filled by the driver before the first spawn (which publishes it to the workers) and only
 * read by handlers afterwards. One run per process, so one copy is enough. */
static struct {
  const bench_env_t *env;
  uint64_t n; /* round trips */
  tr_atom_t ping, pong, done;
} g;

typedef struct {
  tr_pid_t ponger;
  uint64_t next; /* the i of the pong expected next, and the i of the ping in flight */
} pinger_t;

static int ponger_receive(tr_ctx_t *ctx, void *state, const tr_msg_t *msg) {
  (void)state;
  uint64_t i = 0;
  int err = tr_msg_uint(msg, &i);
  if (err == 0) {
    err = tr_send_uint(ctx, tr_msg_from(msg), g.pong, i);
  }
  return err != 0 ? bench_fail(ctx, g.env, err) : 0;
}

static const tr_behaviour_t ponger = {
    .name = "pingpong.B", .state_size = 0, .receive = ponger_receive};

static int pinger_init(tr_ctx_t *ctx, void *state, const tr_msg_t *init) {
  pinger_t *st = state;
  int err = tr_msg_unpack(init, "u", &st->ponger.id);
  if (err == 0) {
    err = tr_sendf(ctx, st->ponger, g.ping, "u", st->next);
  }
  return err != 0 ? bench_fail(ctx, g.env, err) : 0;
}

static int pinger_receive(tr_ctx_t *ctx, void *state, const tr_msg_t *msg) {
  pinger_t *st = state;
  uint64_t i = 0;
  int err = tr_msg_uint(msg, &i);
  if (err != 0) {
    return bench_fail(ctx, g.env, err);
  }
  if (i != st->next || i + 1 == g.n) {
    /* Done, or out of order: either way report how many arrived in order. */
    uint64_t seen = i == st->next ? i + 1 : st->next;
    tr_stop(ctx);
    err = tr_sendf(ctx, g.env->client_pid, g.done, "u", seen);
  } else {
    st->next++;
    err = tr_send_uint(ctx, st->ponger, g.ping, st->next);
  }
  return err != 0 ? bench_fail(ctx, g.env, err) : 0;
}

static const tr_behaviour_t pinger = {.name = "pingpong.A",
                                      .state_size = sizeof(pinger_t),
                                      .init = pinger_init,
                                      .receive = pinger_receive};

static int run(const bench_env_t *env, uint64_t n, bench_result_t *out) {
  g.env = env;
  g.n = n;
  g.ping = tr_atom(env->sys, "ping");
  g.pong = tr_atom(env->sys, "pong");
  g.done = tr_atom(env->sys, "done");
  tr_ctx_t *ctx = tr_system_ctx(env->sys);

  double start = bench_now();
  tr_pid_t b;
  int err = tr_spawn(ctx, &ponger, NULL, 0, &b);
  if (err == 0) {
    err = tr_spawnf(ctx, &pinger, NULL, "u", b.id);
  }
  uint64_t seen = 0;
  if (err == 0) {
    err = bench_wait(env, g.done, "u", &seen);
  }
  if (err != 0) {
    return err;
  }
  out->ok = seen == n;
  out->seconds = bench_now() - start;
  out->rate = (double)n / out->seconds;
  return 0;
}

const bench_workload_t bench_pingpong = {
    .name = "pingpong", .unit = "roundtrips/s", .default_n = PINGPONG_N, .run = run};
