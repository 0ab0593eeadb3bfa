/* troupe-dist-bench: the cross-node workloads of ../shared/bench-spec.md (dist_pingpong,
 * dist_oneway), one process per node, as bench/run starts them:
 *
 *   troupe-dist-bench serve               node b: an echo and a sink; prints its port
 *   troupe-dist-bench WORKLOAD SIZE PORT  node a: runs the workload against b at PORT
 *
 * Both nodes have 2 workers and share a fixed cookie (the benchmark runs on loopback only).
 * On b, "echo" answers each ping with a pong carrying the same bytes; "sink" checks that the
 * sequence numbers rise by exactly one and answers "done" with the count. On a, one actor
 * drives the workload and takes its own clock readings around exactly the timed part. */
#define _GNU_SOURCE
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "troupe.h"

static const char COOKIE[] = "troupe-bench-cookie-loopback-only";
#define WARMUP 1000u
#define PINGPONG_N 100000u
#define CHUNK 256u /* sends per handler turn: the turn's end writes them in one syscall */

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

typedef struct {
  tr_atom_t ping, pong, m, done, count, hello, go, more, result;
} tags_t;

static void tags_init(tr_system_t *sys, tags_t *t) {
  t->ping = tr_atom(sys, "ping");
  t->pong = tr_atom(sys, "pong");
  t->m = tr_atom(sys, "m");
  t->done = tr_atom(sys, "done");
  t->count = tr_atom(sys, "count");
  t->hello = tr_atom(sys, "hello");
  t->go = tr_atom(sys, "go");
  t->more = tr_atom(sys, "more");
  t->result = tr_atom(sys, "result");
}

static tags_t T;

static tr_system_t *node(const char *name, const char *seeds) {
  tr_config_t cfg;
  tr_config_init(&cfg);
  cfg.workers = 2;
  tr_system_t *sys;
  if (tr_system_new(&cfg, &sys) != 0)
    exit(1);
  tags_init(sys, &T);
  tr_cluster_config_t cc;
  tr_cluster_config_init(&cc);
  cc.name = name;
  cc.cookie = COOKIE;
  cc.cookie_len = sizeof COOKIE - 1;
  cc.seeds = seeds;
  cc.listen = "127.0.0.1:0";
  int rc = tr_cluster_start(sys, &cc);
  if (rc != 0) {
    fprintf(stderr, "troupe-dist-bench: cluster: %s\n", tr_strerror(rc));
    exit(1);
  }
  return sys;
}

/* ---- node b ---- */

static int echo_receive(tr_ctx_t *ctx, void *state, const tr_msg_t *m) {
  (void)state;
  size_t len;
  const void *data = tr_msg_data(m, &len);
  return tr_send(ctx, tr_msg_from(m), T.pong, data, len);
}

typedef struct {
  uint64_t next, bad;
} sink_t;

static int sink_receive(tr_ctx_t *ctx, void *state, const tr_msg_t *m) {
  sink_t *s = state;
  tr_atom_t tag = tr_msg_tag(m);
  if (tag == T.m) {
    uint64_t seq;
    const void *p;
    size_t n;
    if (tr_msg_unpack(m, "[ux]", &seq, &p, &n) != 0 || seq != s->next)
      s->bad++;
    s->next = seq + 1;
  } else if (tag == T.done) {
    tr_sendf(ctx, tr_msg_from(m), T.count, "[uu]", s->next, s->bad);
    s->next = s->bad = 0;
  } else if (tag == T.hello) {
    tr_send(ctx, tr_msg_from(m), T.hello, NULL, 0);
  }
  return 0;
}

static const tr_behaviour_t echo_b = {.name = "echo", .receive = echo_receive};
static const tr_behaviour_t sink_b = {
    .name = "sink", .state_size = sizeof(sink_t), .receive = sink_receive};

static int serve(void) {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  pthread_sigmask(SIG_BLOCK, &set, NULL);
  tr_system_t *sys = node("b", NULL);
  tr_pid_t e, s;
  if (tr_spawn(tr_system_ctx(sys), &echo_b, NULL, 0, &e) != 0 ||
      tr_spawn(tr_system_ctx(sys), &sink_b, NULL, 0, &s) != 0 || tr_register(sys, "echo", e) ||
      tr_register(sys, "sink", s))
    return 1;
  printf("bench node b listening on 127.0.0.1:%u\n", (unsigned)tr_cluster_port(sys));
  fflush(stdout);
  int sig;
  sigwait(&set, &sig);
  tr_system_stop(sys);
  tr_system_free(sys);
  return 0;
}

/* ---- node a ---- */

typedef struct {
  tr_pid_t report, peer;
  bool oneway;
  size_t size;
  uint64_t n, i;
  uint8_t *buf;     /* [i, bin(size)] packed, rewritten per message */
  uint8_t *payload; /* the size bytes the bin carries */
  size_t blen;
  double t0;
} driver_t;

/* The payload [i, payload]: the bin's bytes stay, the number is repacked in place. */
static size_t pack_msg(driver_t *d, uint64_t i) {
  size_t len = 0;
  tr_pack_into(d->buf, d->size + 32, &len, "[ux]", i, d->payload, d->size);
  return len;
}

static int driver_init(tr_ctx_t *ctx, void *state, const tr_msg_t *init) {
  (void)ctx;
  driver_t *d = state;
  uint64_t size;
  if (tr_msg_unpack(init, "[pbuu]", &d->report, &d->oneway, &size, &d->n) != 0 || size > 8192)
    return TR_EINVAL;
  d->size = (size_t)size;
  d->buf = malloc(d->size + 32);
  d->payload = calloc(1, d->size);
  return d->buf && d->payload ? 0 : TR_ENOMEM;
}

static int fail(tr_ctx_t *ctx, driver_t *d) {
  return tr_sendf(ctx, d->report, T.result, "[db]", 0.0, false);
}

static int driver_receive(tr_ctx_t *ctx, void *state, const tr_msg_t *m) {
  driver_t *d = state;
  tr_atom_t tag = tr_msg_tag(m);
  if (tag == T.go) { /* the link is up: find the remote actor by name */
    if (d->oneway)
      return tr_send_name(ctx, "b", "sink", T.hello, NULL, 0);
    return tr_send_name(ctx, "b", "echo", T.ping, d->buf, pack_msg(d, 0));
  }
  if (tag == T.hello) { /* the sink's pid is the answer's sender */
    d->peer = tr_msg_from(m);
    d->t0 = now_s();
    return tr_send(ctx, tr_self(ctx), T.more, NULL, 0);
  }
  if (tag == T.pong) {
    if (tr_pid_is_none(d->peer))
      d->peer = tr_msg_from(m);
    uint64_t i;
    const void *p;
    size_t n;
    if (tr_msg_unpack(m, "[ux]", &i, &p, &n) != 0 || i != d->i || n != d->size)
      return fail(ctx, d);
    if (++d->i == WARMUP)
      d->t0 = now_s();
    if (d->i == WARMUP + d->n)
      return tr_sendf(ctx, d->report, T.result, "[db]", now_s() - d->t0, true);
    return tr_send(ctx, d->peer, T.ping, d->buf, pack_msg(d, d->i));
  }
  if (tag == T.more) { /* a chunk per turn, so muting and the turn-end write both work */
    for (unsigned k = 0; k < CHUNK && d->i < d->n; k++, d->i++)
      if (tr_send(ctx, d->peer, T.m, d->buf, pack_msg(d, d->i)) != 0)
        return fail(ctx, d);
    if (d->i < d->n)
      return tr_send(ctx, tr_self(ctx), T.more, NULL, 0);
    return tr_send(ctx, d->peer, T.done, NULL, 0);
  }
  if (tag == T.count) {
    uint64_t count, bad;
    bool ok = tr_msg_unpack(m, "[uu]", &count, &bad) == 0 && count == d->n && bad == 0;
    return tr_sendf(ctx, d->report, T.result, "[db]", now_s() - d->t0, ok);
  }
  return 0;
}

static void driver_exit(tr_ctx_t *ctx, void *state, const tr_reason_t *r) {
  (void)ctx;
  (void)r;
  driver_t *d = state;
  free(d->buf);
  free(d->payload);
}

static const tr_behaviour_t driver_b = {.name = "driver",
                                        .state_size = sizeof(driver_t),
                                        .init = driver_init,
                                        .receive = driver_receive,
                                        .terminate = driver_exit};

static bool b_up(tr_system_t *sys) {
  tr_link_info_t info[4];
  size_t total = 0;
  if (tr_cluster_links(sys, info, 4, &total) != 0)
    return false;
  for (size_t i = 0; i < total && i < 4; i++)
    if (info[i].state == TR_LINK_UP && strcmp(info[i].name, "b") == 0)
      return true;
  return false;
}

static int run(const char *workload, size_t size, const char *port) {
  bool oneway = strcmp(workload, "dist_oneway") == 0;
  if ((!oneway && strcmp(workload, "dist_pingpong") != 0) || size == 0 || size > 8192)
    return 2;
  uint64_t n = oneway ? (size >= 4096 ? 200000u : 2000000u) : PINGPONG_N;
  char seeds[64];
  snprintf(seeds, sizeof seeds, "127.0.0.1:%s", port);
  tr_system_t *sys = node("a", seeds);
  tr_client_t *c;
  tr_pid_t d;
  if (tr_client_open(sys, &c) != 0 || tr_spawnf(tr_system_ctx(sys), &driver_b, &d, "[pbuu]",
                                                tr_client_pid(c), oneway, (uint64_t)size, n) != 0)
    return 1;
  for (int tries = 0; !b_up(sys); tries++) {
    if (tries == 1000) {
      fprintf(stderr, "troupe-dist-bench: node b did not come up\n");
      return 1;
    }
    struct timespec ts = {0, 10 * 1000 * 1000};
    nanosleep(&ts, NULL);
  }
  double seconds = 0;
  bool ok = false;
  tr_msg_t *m = NULL;
  if (tr_send(tr_system_ctx(sys), d, T.go, NULL, 0) != 0 || tr_client_receive(c, 300000, &m) != 0 ||
      tr_msg_unpack(m, "[db]", &seconds, &ok) != 0)
    ok = false;
  tr_msg_free(m);
  double rate = seconds > 0 ? (double)n / seconds : 0;
  if (oneway)
    printf("workload=dist_oneway impl=troupe size=%zu n=%llu seconds=%.6f rate=%.1f unit=msgs/s "
           "mb_per_s=%.1f ok=%d\n",
           size, (unsigned long long)n, seconds, rate, rate * (double)size / 1e6, ok);
  else
    printf("workload=dist_pingpong impl=troupe size=%zu n=%llu seconds=%.6f rate=%.1f "
           "unit=roundtrips/s ok=%d\n",
           size, (unsigned long long)n, seconds, rate, ok);
  fflush(stdout);
  tr_client_close(c);
  tr_system_stop(sys);
  tr_system_free(sys);
  return ok ? 0 : 1;
}

int main(int argc, char **argv) {
  if (argc == 2 && strcmp(argv[1], "serve") == 0)
    return serve();
  if (argc == 4)
    return run(argv[1], (size_t)strtoul(argv[2], NULL, 10), argv[3]);
  fprintf(stderr, "usage: troupe-dist-bench serve | troupe-dist-bench WORKLOAD SIZE PORT\n");
  return 2;
}
