/* The ring workload: 503 actors in a ring; a token starts at actor 0 with h = N =
 * 10,000,000; an actor that receives h > 0 sends h-1 to the next one, and the one that
 * receives 0 reports its index (N mod 503, so 360) to the driver's client. It measures one
 * message at a time hopping between actors, each hop a wake-up of a different actor.
 *
 * Wiring: the driver spawns actor 0 first (not yet knowing its successor), then actors 502
 * down to 1, each told its successor's pid at spawn (502's is actor 0). Last it sends actor
 * 0 a "link" with actor 1's pid and then the token: both come from the same sender, so
 * actor 0 knows its successor before the token arrives. */
#include <stdio.h>

#include "bench.h"

#define RING_N 10000000 /* the token's starting h, the spec's N */
#define RING_ACTORS 503 /* from the spec */

static struct {
  const bench_env_t *env; /* written before the first spawn, read-only afterwards */
  tr_atom_t link, token, done;
} g;

typedef struct {
  uint64_t index;
  tr_pid_t next;
} member_t;

static int member_init(tr_ctx_t *ctx, void *state, const tr_msg_t *init) {
  member_t *st = state;
  int err = tr_msg_unpack(init, "uu", &st->index, &st->next.id);
  return err != 0 ? bench_fail(ctx, g.env, err) : 0;
}

static int member_receive(tr_ctx_t *ctx, void *state, const tr_msg_t *msg) {
  member_t *st = state;
  tr_atom_t tag = tr_msg_tag(msg);
  uint64_t v = 0;
  int err = tr_msg_uint(msg, &v);
  if (err == 0 && tag == g.link) {
    st->next.id = v;
  } else if (err == 0 && v == 0) {
    err = tr_sendf(ctx, g.env->client_pid, g.done, "u", st->index);
  } else if (err == 0 && tr_pid_is_none(st->next)) {
    err = TR_EPROTO; /* the token overtook the link: a broken ordering guarantee */
  } else if (err == 0) {
    err = tr_send_uint(ctx, st->next, g.token, v - 1);
  }
  return err != 0 ? bench_fail(ctx, g.env, err) : 0;
}

static const tr_behaviour_t member = {
    .name = "ring", .state_size = sizeof(member_t), .init = member_init, .receive = member_receive};

/* Spawn the ring into pids[0..RING_ACTORS) and start the token with h = n. */
static int start(tr_ctx_t *ctx, uint64_t n, tr_pid_t *pids) {
  int err = tr_spawnf(ctx, &member, &pids[0], "uu", (uint64_t)0, TR_PID_NONE.id);
  for (uint64_t i = RING_ACTORS - 1; err == 0 && i > 0; i--) {
    err = tr_spawnf(ctx, &member, &pids[i], "uu", i, pids[(i + 1) % RING_ACTORS].id);
  }
  if (err == 0) {
    err = tr_sendf(ctx, pids[0], g.link, "u", pids[1].id);
  }
  if (err == 0) {
    err = tr_sendf(ctx, pids[0], g.token, "u", n);
  }
  return err;
}

static int run(const bench_env_t *env, uint64_t n, bench_result_t *out) {
  g.env = env;
  g.link = tr_atom(env->sys, "link");
  g.token = tr_atom(env->sys, "token");
  g.done = tr_atom(env->sys, "done");
  /* The client's context, not the anonymous one: a sender with a pid, so the link and the
   * token are plainly two messages from one sender to one receiver. */
  tr_ctx_t *ctx = tr_client_ctx(env->client);
  tr_pid_t pids[RING_ACTORS];

  double start_time = bench_now();
  int err = start(ctx, n, pids);
  uint64_t index = 0;
  if (err == 0) {
    err = bench_wait(env, g.done, "u", &index);
  }
  if (err != 0) {
    return err;
  }
  out->ok = index == n % RING_ACTORS;
  out->seconds = bench_now() - start_time;
  out->rate = (double)n / out->seconds;
  snprintf(out->extra, sizeof out->extra, "index=%llu", (unsigned long long)index);
  return 0;
}

const bench_workload_t bench_ring = {
    .name = "ring", .unit = "hops/s", .default_n = RING_N, .run = run};
