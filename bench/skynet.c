/* The skynet workload: the root (ordinal 0, size N = 1,000,000) spawns 10 children with
 * ordinals num + i*size/10 and size size/10, recursively down to size 1, which makes
 * 1,111,111 actors. A leaf sends its ordinal to its parent; a parent sums its 10 replies,
 * sends the sum up and stops. The root's parent is the driver's client, so the answer
 * (N*(N-1)/2) arrives there. It measures spawning and short-lived actors under load;
 * `seconds` is the figure and the rate (actors per second) is informative. */
#include <stdio.h>

#include "bench.h"

#define SKYNET_N 1000000 /* the root's size, the spec's N */
#define SKYNET_FANOUT 10 /* children per actor, from the spec; sizes must be its powers */

static struct {
  const bench_env_t *env; /* written before the first spawn, read-only afterwards */
  tr_atom_t sum;
} g;

typedef struct {
  tr_pid_t parent;
  uint64_t sum;     /* of the replies so far */
  uint64_t replies; /* how many of the SKYNET_FANOUT children have answered */
} node_t;

static const tr_behaviour_t node;

static int node_init(tr_ctx_t *ctx, void *state, const tr_msg_t *init) {
  node_t *st = state;
  uint64_t num = 0, size = 0;
  int err = tr_msg_unpack(init, "uuu", &num, &size, &st->parent.id);
  if (err == 0 && size == 1) {
    tr_stop(ctx);
    err = tr_sendf(ctx, st->parent, g.sum, "u", num);
  }
  uint64_t self = tr_self(ctx).id;
  uint64_t child = size / SKYNET_FANOUT;
  for (uint64_t i = 0; err == 0 && size > 1 && i < SKYNET_FANOUT; i++) {
    err = tr_spawnf(ctx, &node, NULL, "uuu", num + i * child, child, self);
  }
  return err != 0 ? bench_fail(ctx, g.env, err) : 0;
}

static int node_receive(tr_ctx_t *ctx, void *state, const tr_msg_t *msg) {
  node_t *st = state;
  uint64_t v = 0;
  int err = tr_msg_unpack(msg, "u", &v);
  if (err != 0) {
    return bench_fail(ctx, g.env, err);
  }
  st->sum += v;
  if (++st->replies == SKYNET_FANOUT) {
    tr_stop(ctx);
    err = tr_sendf(ctx, st->parent, g.sum, "u", st->sum);
  }
  return err != 0 ? bench_fail(ctx, g.env, err) : 0;
}

static const tr_behaviour_t node = {
    .name = "skynet", .state_size = sizeof(node_t), .init = node_init, .receive = node_receive};

/* The number of actors a root of size n makes (n a power of SKYNET_FANOUT), or 0 when n is
 * not such a power. */
static uint64_t tree_size(uint64_t n) {
  uint64_t actors = 0, level = 1;
  for (; level < n && level <= UINT64_MAX / SKYNET_FANOUT; level *= SKYNET_FANOUT) {
    actors += level;
  }
  return level == n ? actors + level : 0;
}

static int run(const bench_env_t *env, uint64_t n, bench_result_t *out) {
  uint64_t actors = tree_size(n);
  if (actors == 0) {
    return TR_EINVAL;
  }
  g.env = env;
  g.sum = tr_atom(env->sys, "sum");
  tr_ctx_t *ctx = tr_system_ctx(env->sys);

  double start = bench_now();
  int err = tr_spawnf(ctx, &node, NULL, "uuu", (uint64_t)0, n, env->client_pid.id);
  uint64_t sum = 0;
  if (err == 0) {
    err = bench_wait(env, g.sum, "u", &sum);
  }
  if (err != 0) {
    return err;
  }
  out->ok = sum == n * (n - 1) / 2;
  out->seconds = bench_now() - start;
  out->rate = (double)actors / out->seconds;
  snprintf(out->extra, sizeof out->extra, "sum=%llu", (unsigned long long)sum);
  return 0;
}

const bench_workload_t bench_skynet = {
    .name = "skynet", .unit = "actors/s", .default_n = SKYNET_N, .run = run};
