/* troupe-pubsub: a pub/sub server made of actors that speaks the Redis pub/sub protocol, so
 * redis-cli and Redis client libraries can use it.
 *
 *   troupe-pubsub --port N [--bind ADDR] [--out-limit BYTES] [--requirepass PASSWORD]
 *                 [--workers N] [--console ADDR:PORT]
 *
 * main() reads the options, starts the system and the listener, whose every connection gets
 * a session actor (pubsub.h: nothing else runs). It prints one line once it listens (with the real
 * port when asked for port 0), then waits for SIGINT or SIGTERM to stop the system: every actor
 * gets its terminate, every socket closes, and it exits 0. Bad usage exits 2. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/server.h"
#include "pubsub.h"

/* Output queued for one client before it is dropped: Redis's default
 * client-output-buffer-limit for pubsub clients is 32 MB (hard), and so is ours. */
#define OUT_LIMIT ((size_t)32 << 20)

typedef struct {
  const char *bind;
  uint16_t port;
  uint64_t out_limit;
  uint64_t out_budget; /* 0: the runtime's default */
  unsigned workers;
  const char *console; /* --console ADDR:PORT, or NULL */
  const char *metrics; /* --metrics ADDR:PORT, or NULL */
  ex_cluster_t cluster;
  const char *requirepass; /* --requirepass PASSWORD, or NULL */
} options_t;

/* The options as docs/man/troupe-pubsub.1 describes them (keep both the same). */
static void usage(FILE *to) {
  fprintf(to, "usage: troupe-pubsub --port N [--bind ADDR] [--out-limit BYTES]"
              " [--out-budget BYTES]\n"
              "       [--requirepass PASSWORD] [--workers N] [--console ADDR:PORT]"
              " [--metrics ADDR:PORT]\n"
              "       [--node NAME --cluster HOST:PORT --seeds H:P,... --cookie-file PATH]\n"
              "  --port N             TCP port to listen on (0: any free port, printed at start)\n"
              "  --bind ADDR          IPv4 or IPv6 address to listen on (default 127.0.0.1)\n"
              "  --out-limit BYTES    output queued for a client before it is dropped\n"
              "                       (at least 1024; default 33554432)\n"
              "  --out-budget BYTES   output queued for all clients together; past it, a client\n"
              "                       holding more than its share is dropped (at least 1048576;\n"
              "                       default: an eighth of the machine's memory)\n"
              "  --requirepass PASSWORD\n"
              "                       clients must AUTH with it first, as Redis's requirepass\n"
              "  --workers N          scheduler threads, 1 to 1024 (default: one per CPU)\n"
              "  --console ADDR:PORT  serve the debug console there (e.g. 127.0.0.1:7071;\n"
              "                       PORT alone: on 127.0.0.1)\n"
              "  --metrics ADDR:PORT  serve Prometheus metrics (/metrics) and the live web view\n"
              "                       (/) there (e.g. 127.0.0.1:7081; PORT alone: on "
              "127.0.0.1)\n" EX_CLUSTER_USAGE "  --help               print this and exit\n");
}

/* Returns 0 to run, 1 for --help, 2 for bad input (already reported). */
static int parse(int argc, char **argv, options_t *o) {
  static const struct option longs[] = {{"port", required_argument, NULL, 'p'},
                                        {"bind", required_argument, NULL, 'b'},
                                        {"out-limit", required_argument, NULL, 'o'},
                                        {"out-budget", required_argument, NULL, 'B'},
                                        {"workers", required_argument, NULL, 'w'},
                                        {"console", required_argument, NULL, 'c'},
                                        {"metrics", required_argument, NULL, 'm'},
                                        {"requirepass", required_argument, NULL, 'r'},
                                        {"help", no_argument, NULL, 'h'},
                                        EX_CLUSTER_OPTIONS,
                                        {NULL, 0, NULL, 0}};
  uint64_t v;
  bool have_port = false;
  *o = (options_t){.bind = "127.0.0.1", .out_limit = OUT_LIMIT};
  ex_cluster_defaults(&o->cluster);
  opterr = 0;
  for (int c; (c = getopt_long(argc, argv, "", longs, NULL)) != -1;) {
    const char *bad = NULL;
    if (c == 'h')
      return 1;
    if (ex_cluster_option(&o->cluster, c, optarg, &bad)) {
      /* a cluster flag: bad says whether its value is wrong */
    } else if (c == 'p' && !(have_port = ex_number(optarg, 0, 65535, &v)))
      bad = "--port wants a number from 0 to 65535";
    else if (c == 'p')
      o->port = (uint16_t)v;
    else if (c == 'b' && !ex_address(optarg))
      bad = "--bind wants an IPv4 or IPv6 address";
    else if (c == 'b')
      o->bind = optarg;
    else if (c == 'o' && !ex_number(optarg, 1024, (uint64_t)1 << 40, &o->out_limit))
      bad = "--out-limit wants a number of bytes, at least 1024";
    else if (c == 'B' && !ex_number(optarg, 1 << 20, (uint64_t)1 << 50, &o->out_budget))
      bad = "--out-budget wants a number of bytes, at least 1048576";
    else if (c == 'w' && !ex_number(optarg, 1, 1024, &v))
      bad = "--workers wants a number from 1 to 1024";
    else if (c == 'w')
      o->workers = (unsigned)v;
    else if (c == 'c')
      o->console = optarg;
    else if (c == 'm')
      o->metrics = optarg;
    else if (c == 'r' && !*optarg)
      bad = "--requirepass wants a password that is not empty";
    else if (c == 'r')
      o->requirepass = optarg;
    else if (c == '?')
      bad = "unknown option or missing value";
    if (bad) {
      fprintf(stderr, "troupe-pubsub: %s (%s)\n", bad, argv[optind - 1]);
      usage(stderr);
      return 2;
    }
  }
  if (optind < argc || !have_port) {
    fprintf(stderr, "troupe-pubsub: %s\n",
            optind < argc ? "unexpected argument" : "--port is required");
    usage(stderr);
    return 2;
  }
  return 0;
}

static int start_listener(tr_system_t *sys, const options_t *o, uint16_t *port) {
  tr_listen_opts_t lo = {
      .bind = o->bind,
      .port = o->port,
      .behaviour = &ps_session_behaviour,
      .conn = {.codec = {.kind = TR_CODEC_RESP}, .out_limit = (size_t)o->out_limit},
  };
  tr_listener_t l;
  int rc = tr_listen(tr_system_ctx(sys), &lo, &l);
  if (rc == 0)
    *port = tr_listener_port(sys, l);
  if (rc == 0) /* INFO shows the port bound (it may have been 0) */
    atomic_store_explicit(&ps_server.port, *port, memory_order_relaxed);
  return rc;
}

int main(int argc, char **argv) {
  options_t o;
  int rc = parse(argc, argv, &o);
  if (rc) {
    if (rc == 1)
      usage(stdout);
    return rc == 1 ? 0 : 2;
  }
  sigset_t stop;
  ex_block_stop_signals(&stop);

  tr_config_t cfg;
  tr_config_init(&cfg);
  cfg.workers = o.workers;
  cfg.out_budget = (size_t)o.out_budget;
  tr_system_t *sys;
  if ((rc = tr_system_new(&cfg, &sys)) != 0) {
    fprintf(stderr, "troupe-pubsub: cannot start: %s\n", tr_strerror(rc));
    return 1;
  }
  uint16_t port = 0;
  const char *what = "state";
  tr_listener_t console, metrics;
  if ((rc = ps_server_init(sys, o.port, o.requirepass)) == 0)
    what = "listen", rc = start_listener(sys, &o, &port);
  if (rc == 0)
    what = "cluster", rc = ex_cluster_start("troupe-pubsub", sys, &o.cluster);
  if (rc == 0 && o.console)
    what = "console", rc = tr_console_start_at(sys, o.console, &console);
  if (rc == 0 && o.metrics)
    what = "metrics", rc = tr_metrics_start_at(sys, o.metrics, &metrics);
  if (rc) {
    fprintf(stderr, "troupe-pubsub: %s: %s\n", what, tr_strerror(rc));
    tr_system_free(sys);
    return 1;
  }
  ex_serve("troupe-pubsub", sys, o.bind, port, o.console ? &console : NULL,
           o.metrics ? &metrics : NULL, TR_PID_NONE, &stop);
  return 0;
}
