/* The fanin workload: 4 senders s = 0..3 each send s*(N/4) + j for j in 0..N/4-1 to one
 * receiver (N = 10,000,000), which counts and sums what arrives and reports (count, sum) to
 * the driver's client. It measures contended many-to-one sends into one mailbox. A sender
 * sends in chunks and then mails itself a "more" message, so that one handler call never
 * floods the receiver for long and the scheduler can run the receiver and the other
 * senders in between. */
#include <stdio.h>

#include "bench.h"

#define FANIN_N 10000000 /* messages in all, the spec's N */
#define FANIN_SENDERS 4  /* from the spec */
/* Values per sender turn: enough to make the self-addressed "more" message negligible,
 * few enough that a sender gives its worker back within tens of microseconds. */
#define FANIN_CHUNK 1000

static struct {
  const bench_env_t *env; /* written before the first spawn, read-only afterwards */
  uint64_t total;         /* messages the receiver waits for */
  tr_atom_t value, more, done;
} g;

typedef struct {
  uint64_t count, sum;
} receiver_t;

typedef struct {
  tr_pid_t receiver;
  uint64_t next, end; /* the values still to send are next..end-1 */
} sender_t;

static int receiver_receive(tr_ctx_t *ctx, void *state, const tr_msg_t *msg) {
  receiver_t *st = state;
  uint64_t v = 0;
  int err = tr_msg_uint(msg, &v);
  if (err != 0) {
    return bench_fail(ctx, g.env, err);
  }
  st->sum += v;
  if (++st->count == g.total) {
    tr_stop(ctx);
    err = tr_sendf(ctx, g.env->client_pid, g.done, "uu", st->count, st->sum);
  }
  return err != 0 ? bench_fail(ctx, g.env, err) : 0;
}

static const tr_behaviour_t receiver = {
    .name = "fanin.receiver", .state_size = sizeof(receiver_t), .receive = receiver_receive};

static int sender_init(tr_ctx_t *ctx, void *state, const tr_msg_t *init) {
  sender_t *st = state;
  uint64_t count = 0;
  int err = tr_msg_unpack(init, "uuu", &st->receiver.id, &st->next, &count);
  st->end = st->next + count;
  if (err == 0) {
    err = tr_send(ctx, tr_self(ctx), g.more, NULL, 0);
  }
  return err != 0 ? bench_fail(ctx, g.env, err) : 0;
}

static int sender_receive(tr_ctx_t *ctx, void *state, const tr_msg_t *msg) {
  (void)msg;
  sender_t *st = state;
  uint64_t stop = st->end - st->next > FANIN_CHUNK ? st->next + FANIN_CHUNK : st->end;
  int err = 0;
  for (; err == 0 && st->next < stop; st->next++) {
    err = tr_send_uint(ctx, st->receiver, g.value, st->next);
  }
  if (err == 0 && st->next < st->end) {
    err = tr_send(ctx, tr_self(ctx), g.more, NULL, 0);
  } else {
    tr_stop(ctx);
  }
  return err != 0 ? bench_fail(ctx, g.env, err) : 0;
}

static const tr_behaviour_t sender = {.name = "fanin.sender",
                                      .state_size = sizeof(sender_t),
                                      .init = sender_init,
                                      .receive = sender_receive};

static int run(const bench_env_t *env, uint64_t n, bench_result_t *out) {
  if (n % FANIN_SENDERS != 0) {
    return TR_EINVAL;
  }
  g.env = env;
  g.total = n;
  g.value = tr_atom(env->sys, "value");
  g.more = tr_atom(env->sys, "more");
  g.done = tr_atom(env->sys, "done");
  tr_ctx_t *ctx = tr_system_ctx(env->sys);
  uint64_t each = n / FANIN_SENDERS;

  double start = bench_now();
  tr_pid_t r;
  int err = tr_spawn(ctx, &receiver, NULL, 0, &r);
  for (uint64_t s = 0; err == 0 && s < FANIN_SENDERS; s++) {
    err = tr_spawnf(ctx, &sender, NULL, "uuu", r.id, s * each, each);
  }
  uint64_t count = 0, sum = 0;
  if (err == 0) {
    err = bench_wait(env, g.done, "uu", &count, &sum);
  }
  if (err != 0) {
    return err;
  }
  /* The senders' values are exactly 0..n-1. */
  out->ok = count == n && sum == n * (n - 1) / 2;
  out->seconds = bench_now() - start;
  out->rate = (double)n / out->seconds;
  snprintf(out->extra, sizeof out->extra, "sum=%llu", (unsigned long long)sum);
  return 0;
}

const bench_workload_t bench_fanin = {
    .name = "fanin", .unit = "msgs/s", .default_n = FANIN_N, .run = run};
