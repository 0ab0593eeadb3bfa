/* A node for the multi-process cluster tests: a system that joins a cluster and runs one
 * actor, registered as "echo" and a member of the group chat/room, which the test drives
 * from another process over the cluster only. It prints "node NAME listening on ADDR:PORT"
 * once it is a node, and exits 0 on SIGTERM.
 *
 *   cluster-node NAME COOKIE_FILE [SEEDS]
 *
 * The echo actor answers:
 *   ping [u n]     -> "pong" [p self, u n] to the sender
 *   seq [u n]      counts messages, checking n is the next number (order, loss, duplicates)
 *   count          -> reply [u seen, u out_of_order]
 *   gmsg [u n]     counts group messages, checking their order likewise
 *   gcount         -> reply [u seen, u out_of_order]
 *   links          -> reply [u links up]
 *   stats          -> reply [u tags_unknown, u dropped_unknown, u refused_auth]
 *   burst [p to, u n]  sends "bmsg" [u 0..n) to `to`, then an exit signal (error "burst")
 *   block          stays in its handler until the actor "gate" gets "unblock" (a stuck actor
 *                  for the console's `stuck`; the other worker runs the rest meanwhile)
 *   narrow         -> reply [p narrow]: the actor "narrow", whose mailbox drops what comes
 *                  once it holds NARROW_HIGH messages (policy drop); it too handles "block"
 * and an actor "victim" that does nothing, for the console to kill. */
#define _GNU_SOURCE
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "troupe.h"

static atomic_bool unblocked;
static tr_pid_t narrow; /* written before the system is a node, read-only afterwards */

/* The mailbox marks of "narrow": small, so that a test fills it with a few messages. */
#define NARROW_HIGH 2
#define NARROW_LOW 1

typedef struct {
  uint64_t seq_next, seq_bad, g_next, g_bad;
} echo_t;

static bool is(tr_ctx_t *ctx, const tr_msg_t *m, const char *name) {
  const char *n = tr_atom_name(tr_ctx_system(ctx), tr_msg_tag(m));
  return n && strcmp(n, name) == 0;
}

static int echo_init(tr_ctx_t *ctx, void *state, const tr_msg_t *init) {
  (void)state;
  (void)init;
  return tr_group_join(ctx, tr_atom(tr_ctx_system(ctx), "chat"), "room", 4);
}

static void hold_until_unblocked(void) {
  while (!atomic_exchange(&unblocked, false))
    usleep(1000);
}

static int echo_receive(tr_ctx_t *ctx, void *state, const tr_msg_t *m) {
  echo_t *s = state;
  tr_system_t *sys = tr_ctx_system(ctx);
  uint64_t n = 0;
  if (is(ctx, m, "ping")) {
    if (tr_msg_unpack(m, "[u]", &n) == 0)
      tr_sendf(ctx, tr_msg_from(m), tr_atom(sys, "pong"), "[pu]", tr_self(ctx), n);
  } else if (is(ctx, m, "seq")) {
    if (tr_msg_unpack(m, "[u]", &n) != 0 || n != s->seq_next)
      s->seq_bad++;
    s->seq_next = n + 1;
  } else if (is(ctx, m, "gmsg")) {
    if (tr_msg_unpack(m, "[u]", &n) != 0 || n != s->g_next)
      s->g_bad++;
    s->g_next = n + 1;
  } else if (is(ctx, m, "burst")) {
    tr_pid_t to;
    if (tr_msg_unpack(m, "[pu]", &to, &n) == 0) {
      for (uint64_t i = 0; i < n; i++)
        tr_sendf(ctx, to, tr_atom(sys, "bmsg"), "[u]", i);
      tr_reason_t r;
      tr_exit(ctx, to, tr_reason_set(&r, TR_REASON_ERROR, 7, "burst"));
    }
  } else if (is(ctx, m, "block")) {
    hold_until_unblocked();
  } else if (is(ctx, m, "narrow")) {
    tr_replyf(ctx, m, tr_atom(sys, "narrow"), "[p]", narrow);
  } else if (is(ctx, m, "count")) {
    tr_replyf(ctx, m, tr_atom(sys, "count"), "[uu]", s->seq_next, s->seq_bad);
  } else if (is(ctx, m, "gcount")) {
    tr_replyf(ctx, m, tr_atom(sys, "gcount"), "[uu]", s->g_next, s->g_bad);
  } else if (is(ctx, m, "links")) {
    tr_link_info_t info[16];
    size_t total = 0, up = 0;
    if (tr_cluster_links(sys, info, 16, &total) == 0)
      for (size_t i = 0; i < total && i < 16; i++)
        up += info[i].state == TR_LINK_UP;
    tr_replyf(ctx, m, tr_atom(sys, "links"), "[u]", (uint64_t)up);
  } else if (is(ctx, m, "stats")) {
    tr_cluster_stats_t st = {0};
    tr_cluster_stats(sys, &st);
    tr_replyf(ctx, m, tr_atom(sys, "stats"), "[uuu]", st.tags_unknown, st.dropped_unknown,
              st.refused_auth);
  }
  return 0;
}

static const tr_behaviour_t echo_b = {
    .name = "echo", .state_size = sizeof(echo_t), .init = echo_init, .receive = echo_receive};

static int gate_receive(tr_ctx_t *ctx, void *state, const tr_msg_t *m) {
  (void)state;
  if (is(ctx, m, "unblock"))
    atomic_store(&unblocked, true);
  return 0;
}

static int idle_receive(tr_ctx_t *ctx, void *state, const tr_msg_t *m) {
  (void)ctx;
  (void)state;
  (void)m;
  return 0;
}

static int narrow_receive(tr_ctx_t *ctx, void *state, const tr_msg_t *m) {
  (void)state;
  if (is(ctx, m, "block"))
    hold_until_unblocked();
  return 0;
}

static const tr_behaviour_t gate_b = {.name = "gate", .receive = gate_receive};
static const tr_behaviour_t narrow_b = {.name = "narrow", .receive = narrow_receive};
static const tr_behaviour_t victim_b = {.name = "victim", .receive = idle_receive};

int main(int argc, char **argv) {
  if (argc < 3 || argc > 4) {
    fprintf(stderr, "usage: %s NAME COOKIE_FILE [SEEDS]\n", argv[0]);
    return 2;
  }
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  pthread_sigmask(SIG_BLOCK, &set, NULL); /* the system's threads inherit it */
  tr_config_t cfg;
  tr_config_init(&cfg);
  cfg.workers = 2;
  tr_system_t *sys;
  if (tr_system_new(&cfg, &sys) != 0)
    return 1;
  /* Tags from the wire are looked up, never interned (cluster.h): the ones this node
   * understands exist before the first message comes. */
  const char *tags[] = {"ping",  "pong", "seq",   "gmsg", "count", "gcount",  "links",
                        "stats", "chat", "burst", "bmsg", "block", "unblock", "narrow"};
  for (size_t i = 0; i < sizeof tags / sizeof tags[0]; i++)
    tr_atom(sys, tags[i]);
  tr_pid_t echo, gate, victim;
  tr_spawn_opts_t narrow_opts = {
      .mailbox = {.policy = TR_OVERLOAD_DROP, .high_water = NARROW_HIGH, .low_water = NARROW_LOW}};
  if (tr_spawn_opts(tr_system_ctx(sys), &narrow_b, NULL, 0, &narrow_opts, &narrow) != 0 ||
      tr_spawn(tr_system_ctx(sys), &echo_b, NULL, 0, &echo) != 0 ||
      tr_register(sys, "echo", echo) != 0 ||
      tr_spawn(tr_system_ctx(sys), &gate_b, NULL, 0, &gate) != 0 ||
      tr_register(sys, "gate", gate) != 0 ||
      tr_spawn(tr_system_ctx(sys), &victim_b, NULL, 0, &victim) != 0 ||
      tr_register(sys, "victim", victim) != 0)
    return 1;
  tr_listener_t console; /* its actors are seen from the other nodes' consoles: started
                          * before the system is a node, its agent comes with the node */
  int rc = tr_console_start(sys, "127.0.0.1", 0, &console);
  if (rc != 0) {
    fprintf(stderr, "cluster-node: console: %s\n", tr_strerror(rc));
    return 1;
  }
  tr_cluster_config_t cc;
  tr_cluster_config_init(&cc);
  cc.name = argv[1];
  cc.cookie_file = argv[2];
  cc.seeds = argc > 3 ? argv[3] : NULL;
  rc = tr_cluster_start(sys, &cc);
  if (rc != 0) {
    fprintf(stderr, "cluster-node: %s\n", tr_strerror(rc));
    return 1;
  }
  printf("node %s listening on 127.0.0.1:%u\n", argv[1], (unsigned)tr_cluster_port(sys));
  fflush(stdout);
  int sig;
  sigwait(&set, &sig);
  tr_system_stop(sys);
  tr_system_free(sys);
  return 0;
}
