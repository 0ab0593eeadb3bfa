/* The overload workload: one producer sends 8-byte messages as fast as it can to one
 * consumer that spends 1 us on each, for 5 s; then it stops, the consumer drains, and the
 * figure is the rate consumed, with the peak RSS and the deepest mailbox. Nothing may be
 * lost: consumed == produced. It shows what the overload policy is for: with the default
 * (mute), the producer is held back and memory stays flat.
 *
 * overload_off runs the same with the consumer's mailbox unbounded (policy off), for the
 * comparison; it produces for 0.5 s only (each second of it queues gigabytes) and does not
 * wait for the drain, so its check is taken + still queued == produced (and the stop).
 *
 * The producer sends in handler calls of PRODUCE_CHUNK messages and mails itself "more" in
 * between: a muted actor parks between handler calls. --n sets the production time in ms. */
#include <stdio.h>

#include "bench.h"

#define OVERLOAD_MS 5000u    /* the spec's 5 s */
#define OVERLOAD_OFF_MS 500u /* the comparison's: a tenth of it */
#define PRODUCE_CHUNK 1000u  /* messages per producer handler call */
#define WORK_NS 1000u        /* the consumer's work per message, from the spec */
#define DEPTH_SAMPLE 1024u   /* the consumer reads its depth once per this many */

static struct {
  const bench_env_t *env;
  tr_atom_t value, more, stop, done;
  double until; /* bench_now() at which the producer stops */
} g;

typedef struct {
  uint64_t consumed, expected, deepest;
  bool stopping;
} consumer_t;

typedef struct {
  tr_pid_t to;
  uint64_t produced;
} producer_t;

static void work(void) {
  double end = bench_now() + WORK_NS / 1e9;
  while (bench_now() < end) {
  }
}

static int consumer_receive(tr_ctx_t *ctx, void *state, const tr_msg_t *m) {
  consumer_t *s = state;
  if (tr_msg_tag(m) == g.stop) { /* [produced]: everything before it is in the mailbox */
    s->stopping = true;
    int err = tr_msg_unpack(m, "u", &s->expected);
    if (err == 0 && s->consumed == s->expected)
      err = tr_sendf(ctx, g.env->client_pid, g.done, "uu", s->consumed, s->deepest);
    return err ? bench_fail(ctx, g.env, err) : 0;
  }
  work();
  if (++s->consumed % DEPTH_SAMPLE == 0) {
    tr_actor_info_t info;
    if (tr_actor_info(tr_ctx_system(ctx), tr_self(ctx), &info) == 0 && info.mailbox > s->deepest)
      s->deepest = info.mailbox;
  }
  if (s->stopping && s->consumed == s->expected)
    return tr_sendf(ctx, g.env->client_pid, g.done, "uu", s->consumed, s->deepest);
  return 0;
}

static const tr_behaviour_t consumer = {
    .name = "overload.consumer", .state_size = sizeof(consumer_t), .receive = consumer_receive};

static int producer_receive(tr_ctx_t *ctx, void *state, const tr_msg_t *m) {
  producer_t *s = state;
  if (tr_msg_tag(m) == g.more) {
    if (s->to.id == 0)
      (void)tr_msg_unpack(m, "u", &s->to.id);
    if (bench_now() >= g.until) { /* time is up: the count, after the last value */
      int err = tr_sendf(ctx, s->to, g.stop, "u", s->produced);
      if (err == 0)
        err = tr_sendf(ctx, g.env->client_pid, g.stop, "u", s->produced);
      return err ? bench_fail(ctx, g.env, err) : 0;
    }
    int err = 0;
    for (uint64_t k = 0; err == 0 && k < PRODUCE_CHUNK; k++)
      err = tr_sendf(ctx, s->to, g.value, "u", s->produced++);
    if (err == 0)
      err = tr_send(ctx, tr_self(ctx), g.more, NULL, 0);
    return err ? bench_fail(ctx, g.env, err) : 0;
  }
  return 0;
}

static const tr_behaviour_t producer = {
    .name = "overload.producer", .state_size = sizeof(producer_t), .receive = producer_receive};

static int run_with(const bench_env_t *env, uint64_t ms, tr_overload_t policy, bool drain,
                    bench_result_t *out) {
  g.env = env;
  g.value = tr_atom(env->sys, "value");
  g.more = tr_atom(env->sys, "more");
  g.stop = tr_atom(env->sys, "stop");
  g.done = tr_atom(env->sys, "done");
  tr_ctx_t *ctx = tr_system_ctx(env->sys);
  tr_spawn_opts_t o = {.mailbox = {.policy = policy}};
  tr_pid_t c, p;
  double start = bench_now();
  g.until = start + (double)ms / 1e3;
  int err = tr_spawn_opts(ctx, &consumer, NULL, 0, &o, &c);
  if (err == 0)
    err = tr_spawn(ctx, &producer, NULL, 0, &p);
  if (err == 0)
    err = tr_sendf(ctx, p, g.more, "u", c.id);
  uint64_t produced = 0, consumed = 0, deepest = 0, hwm = 0;
  if (err == 0)
    err = bench_wait(env, g.stop, "u", &produced);
  if (err == 0 && drain)
    err = bench_wait(env, g.done, "uu", &consumed, &deepest);
  if (err != 0)
    return err;
  out->seconds = bench_now() - start;
  tr_actor_info_t info;
  if (tr_actor_info(env->sys, c, &info) == 0) {
    deepest = info.mailbox_hwm > deepest ? info.mailbox_hwm : deepest;
    if (!drain)
      consumed = info.msgs_in;
  }
  bench_status_kb("VmHWM", &hwm);
  /* Without the drain: what was taken plus what is still queued is everything sent, the
   * values and the stop after them. */
  out->ok = drain ? consumed == produced : consumed + info.mailbox == produced + 1;
  out->rate = (double)consumed / out->seconds;
  snprintf(out->extra, sizeof out->extra,
           "policy=%s produced=%llu consumed=%llu peak_rss_kb=%llu max_mailbox=%llu%s",
           tr_overload_name(policy), (unsigned long long)produced, (unsigned long long)consumed,
           (unsigned long long)hwm, (unsigned long long)deepest, drain ? "" : " drained=no");
  return 0;
}

static int run(const bench_env_t *env, uint64_t n, bench_result_t *out) {
  return run_with(env, n, TR_OVERLOAD_MUTE, true, out);
}

static int run_off(const bench_env_t *env, uint64_t n, bench_result_t *out) {
  return run_with(env, n, TR_OVERLOAD_OFF, false, out);
}

const bench_workload_t bench_overload = {
    .name = "overload", .unit = "msgs/s", .default_n = OVERLOAD_MS, .run = run};
const bench_workload_t bench_overload_off = {
    .name = "overload_off", .unit = "msgs/s", .default_n = OVERLOAD_OFF_MS, .run = run_off};
