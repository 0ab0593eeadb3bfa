/* What the example servers (chat, pubsub) share around main(): checking command-line
 * values, taking SIGINT/SIGTERM only where main() waits for them, announcing the listening
 * address on one stdout line, and stopping the system when a signal comes. */
#ifndef TROUPE_EXAMPLES_SERVER_H
#define TROUPE_EXAMPLES_SERVER_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>

#include <troupe.h>

/* A whole decimal number in [min, max] into *out, or false. */
bool ex_number(const char *text, uint64_t min, uint64_t max, uint64_t *out);
/* An IPv4 or IPv6 literal, as tr_listen takes. */
bool ex_address(const char *text);

/* The cluster flags of every example server, with the environment as their defaults:
 *   --node NAME          this node's name (TROUPE_NODE); without it the server runs alone
 *   --cluster HOST:PORT  where other nodes connect (TROUPE_LISTEN; default 127.0.0.1:0)
 *   --seeds H:P,...      nodes to dial at start (TROUPE_SEEDS)
 *   --cookie-file PATH   the cluster's secret (TROUPE_COOKIE_FILE; default ~/.troupe/cookie)
 * Give EX_CLUSTER_OPTIONS to getopt_long's table and every code getopt returns to
 * ex_cluster_option. */
typedef struct {
  const char *node, *cluster, *seeds, *cookie_file;
} ex_cluster_t;

enum { EX_OPT_NODE = 0x100, EX_OPT_CLUSTER, EX_OPT_SEEDS, EX_OPT_COOKIE };
#define EX_CLUSTER_OPTIONS                                                                         \
  {"node", required_argument, NULL, EX_OPT_NODE},                                                  \
      {"cluster", required_argument, NULL, EX_OPT_CLUSTER},                                        \
      {"seeds", required_argument, NULL, EX_OPT_SEEDS}, {                                          \
    "cookie-file", required_argument, NULL, EX_OPT_COOKIE                                          \
  }
#define EX_CLUSTER_USAGE                                                                           \
  "  --node NAME          join a cluster as this node (env TROUPE_NODE; without: alone)\n"         \
  "  --cluster HOST:PORT  cluster listen address (env TROUPE_LISTEN; default 127.0.0.1:0)\n"       \
  "  --seeds H:P,...      cluster nodes to dial at start (env TROUPE_SEEDS)\n"                     \
  "  --cookie-file PATH   the cluster's secret (env TROUPE_COOKIE_FILE; default "                  \
  "~/.troupe/cookie)\n"

/* The environment's values. */
void ex_cluster_defaults(ex_cluster_t *c);
/* Take getopt's code and argument: true when it was a cluster flag (*bad then says what is
 * wrong with its value, or stays NULL). */
bool ex_cluster_option(ex_cluster_t *c, int code, const char *arg, const char **bad);
/* Join the cluster when a node name was given (else do nothing); the cluster's address goes
 * to stderr. Returns 0 or the error of tr_cluster_start (its cause is logged). */
int ex_cluster_start(const char *server, tr_system_t *sys, const ex_cluster_t *c);

/* Call before any thread starts: every thread inherits the mask, so only ex_serve's
 * sigwait takes SIGINT/SIGTERM; SIGPIPE is ignored (a peer that hangs up must not kill
 * the server). */
void ex_block_stop_signals(sigset_t *stop);

/* Print "<name> listening on ADDR:PORT" as the one stdout line (and the console's and the
 * metrics server's ports, if they run, on stderr), wait for SIGINT/SIGTERM, then stop and
 * free the system. `tree` (TR_PID_NONE: none) is the server's supervision tree: it is
 * stopped first, from its root (tr_supervisor_stop), as OTP stops an application, before
 * tr_system_stop takes the rest (newest first). So a tree's manager
 * leaves its process groups before the actors it owns go: on a cluster node the other nodes
 * learn that first (one ordered link per pair), and what they do about the owned actors'
 * DOWNs no longer reaches the stopping node. */
void ex_serve(const char *name, tr_system_t *sys, const char *bind, uint16_t port,
              const tr_listener_t *console, const tr_listener_t *metrics, tr_pid_t tree,
              sigset_t *stop);

#endif
