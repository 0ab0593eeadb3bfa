/* The req_reply workload: actor A asks actor B with tr_request (timeout 1 s), one request in
 * flight, N times; B replies with the request's integer + 1, and A checks every reply before
 * asking again. It measures what a request costs beyond the message hop of pingpong: the
 * reference, the timeout bookkeeping and the reply matching. A reports how many replies were
 * right (N when all is well) to the driver's client. */
#include "bench.h"

#define REQ_REPLY_N 1000000 /* requests, the spec's N */
#define REQ_TIMEOUT_MS 1000 /* the spec's timeout */

static struct {
  const bench_env_t *env;
  uint64_t n;
  tr_atom_t ask, done;
} g;

typedef struct {
  tr_pid_t server;
  uint64_t i, ref; /* the integer of the request in flight, and its reference */
} asker_t;

static int server_receive(tr_ctx_t *ctx, void *state, const tr_msg_t *msg) {
  (void)state;
  uint64_t i = 0;
  int err = tr_msg_unpack(msg, "u", &i);
  if (err == 0)
    err = tr_replyf(ctx, msg, 0, "u", i + 1);
  return err != 0 ? bench_fail(ctx, g.env, err) : 0;
}

static const tr_behaviour_t server = {.name = "req_reply.B", .receive = server_receive};

static int ask(tr_ctx_t *ctx, asker_t *st) {
  unsigned char buf[16];
  size_t len;
  int err = tr_pack_into(buf, sizeof buf, &len, "u", st->i);
  return err ? err : tr_request(ctx, st->server, g.ask, buf, len, REQ_TIMEOUT_MS, &st->ref);
}

static int asker_init(tr_ctx_t *ctx, void *state, const tr_msg_t *init) {
  asker_t *st = state;
  int err = tr_msg_unpack(init, "u", &st->server.id);
  if (err == 0)
    err = ask(ctx, st);
  return err != 0 ? bench_fail(ctx, g.env, err) : 0;
}

static int asker_receive(tr_ctx_t *ctx, void *state, const tr_msg_t *msg) {
  asker_t *st = state;
  uint64_t v = 0;
  bool right = tr_msg_tag(msg) == TR_ATOM_REPLY && tr_msg_ref(msg) == st->ref &&
               tr_msg_unpack(msg, "u", &v) == 0 && v == st->i + 1;
  int err = 0;
  if (!right || st->i + 1 == g.n) {
    /* Done, or a wrong reply (a timeout, say): report how many were right. */
    tr_stop(ctx);
    err = tr_sendf(ctx, g.env->client_pid, g.done, "u", right ? st->i + 1 : st->i);
  } else {
    st->i++;
    err = ask(ctx, st);
  }
  return err != 0 ? bench_fail(ctx, g.env, err) : 0;
}

static const tr_behaviour_t asker = {.name = "req_reply.A",
                                     .state_size = sizeof(asker_t),
                                     .init = asker_init,
                                     .receive = asker_receive};

static int run(const bench_env_t *env, uint64_t n, bench_result_t *out) {
  g.env = env;
  g.n = n;
  const tr_atom_def_t tags[] = {{"ask", &g.ask}, {"done", &g.done}};
  int err = tr_atoms(env->sys, tags, 2);
  tr_ctx_t *ctx = tr_system_ctx(env->sys);
  double start = bench_now();
  tr_pid_t b;
  if (err == 0)
    err = tr_spawn(ctx, &server, NULL, 0, &b);
  if (err == 0)
    err = tr_spawnf(ctx, &asker, NULL, "u", b.id);
  uint64_t right = 0;
  if (err == 0)
    err = bench_wait(env, g.done, "u", &right);
  if (err != 0)
    return err;
  out->ok = right == n;
  out->seconds = bench_now() - start;
  out->rate = (double)n / out->seconds;
  return 0;
}

const bench_workload_t bench_req_reply = {
    .name = "req_reply", .unit = "requests/s", .default_n = REQ_REPLY_N, .run = run};
