/* troupe-chat: a chat server made of actors, which a stock IRC client (irssi) can use and a
 * person on nc can too.
 *
 *   troupe-chat --port N [--bind ADDR] [--idle-ms MS] [--workers N]
 *
 * main() reads the options, starts the system, the supervision tree (a top supervisor whose
 * one child is the rooms manager, which in turn owns the rooms) and the listener, whose
 * every connection gets a session actor. It prints one line once it listens (with the real
 * port when asked for port 0) and then waits for SIGINT or SIGTERM to stop the system:
 * every session and room gets its terminate, every socket closes, and it exits 0. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/server.h"
#include "chat.h"
#include "irc.h"
#include "session.h"

/* Output queued for one client before it is dropped: a client that stops reading costs
 * the server at most this much (about 500 full IRC lines), and nobody else waits for it. */
#define OUT_LIMIT ((size_t)256 << 10)

typedef struct {
  const char *bind;
  uint16_t port;
  uint64_t idle_ms;
  unsigned workers;
  const char *console; /* --console ADDR:PORT, or NULL */
  const char *metrics; /* --metrics ADDR:PORT, or NULL */
  ex_cluster_t cluster;
} options_t;

static const tr_child_spec_t children[] = {
    {.id = "rooms",
     .behaviour = &chat_rooms_behaviour,
     .restart = TR_RESTART_PERMANENT,
     .shutdown_ms = 1000,
     .name = CHAT_ROOMS_NAME},
};

static const tr_supervisor_spec_t tree = {.strategy = TR_ONE_FOR_ONE,
                                          .intensity = 5,
                                          .period_ms = 10000,
                                          .children = children,
                                          .nchildren = sizeof children / sizeof children[0]};

/* The options as docs/man/troupe-chat.1 describes them (keep both the same). */
static void usage(FILE *to) {
  fprintf(to, "usage: troupe-chat --port N [--bind ADDR] [--idle-ms MS] [--workers N]"
              " [--console ADDR:PORT]\n"
              "       [--metrics ADDR:PORT] [--node NAME --cluster HOST:PORT --seeds H:P,... "
              "--cookie-file PATH]\n"
              "  --port N             TCP port to listen on (0: any free port, printed at start)\n"
              "  --bind ADDR          IPv4 or IPv6 address to listen on (default 127.0.0.1)\n"
              "  --idle-ms MS         silence before a client is pinged, and then dropped\n"
              "                       (at least 10; default 60000)\n"
              "  --workers N          scheduler threads, 1 to 1024 (default: one per CPU)\n"
              "  --console ADDR:PORT  serve the debug console there (e.g. 127.0.0.1:7070;\n"
              "                       PORT alone: on 127.0.0.1)\n"
              "  --metrics ADDR:PORT  serve Prometheus metrics (/metrics) and the live web view\n"
              "                       (/) there (e.g. 127.0.0.1:7080; PORT alone: on "
              "127.0.0.1)\n" EX_CLUSTER_USAGE "  --help               print this and exit\n");
}

/* Returns 0 to run, 1 for --help, 2 for bad input (already reported). */
static int parse(int argc, char **argv, options_t *o) {
  static const struct option longs[] = {{"port", required_argument, NULL, 'p'},
                                        {"bind", required_argument, NULL, 'b'},
                                        {"idle-ms", required_argument, NULL, 'i'},
                                        {"workers", required_argument, NULL, 'w'},
                                        {"console", required_argument, NULL, 'c'},
                                        {"metrics", required_argument, NULL, 'm'},
                                        {"help", no_argument, NULL, 'h'},
                                        EX_CLUSTER_OPTIONS,
                                        {NULL, 0, NULL, 0}};
  uint64_t v;
  bool have_port = false;
  *o = (options_t){.bind = "127.0.0.1", .idle_ms = 60000};
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
    else if (c == 'i' && !ex_number(optarg, 10, TR_TIMER_MAX_MS, &o->idle_ms))
      bad = "--idle-ms wants a number of milliseconds, at least 10";
    else if (c == 'w' && !ex_number(optarg, 1, 1024, &v))
      bad = "--workers wants a number from 1 to 1024";
    else if (c == 'w')
      o->workers = (unsigned)v;
    else if (c == 'c')
      o->console = optarg;
    else if (c == 'm')
      o->metrics = optarg;
    else if (c == '?')
      bad = "unknown option or missing value";
    if (bad) {
      fprintf(stderr, "troupe-chat: %s (%s)\n", bad, argv[optind - 1]);
      usage(stderr);
      return 2;
    }
  }
  if (optind < argc || !have_port) {
    fprintf(stderr, "troupe-chat: %s\n",
            optind < argc ? "unexpected argument" : "--port is required");
    usage(stderr);
    return 2;
  }
  return 0;
}

/* Start the rooms' supervision tree; it returns once the manager is registered, so the
 * first client's JOIN finds it. */
static int start_rooms(tr_system_t *sys, tr_pid_t *sup) {
  return tr_supervisor_start(tr_system_ctx(sys), &tree, sup);
}

static int start_listener(tr_system_t *sys, const options_t *o, uint16_t *port) {
  unsigned char init[16];
  size_t len;
  int rc = tr_pack_into(init, sizeof init, &len, "u", o->idle_ms);
  if (rc)
    return rc;
  tr_listen_opts_t lo = {
      .bind = o->bind,
      .port = o->port,
      .behaviour = &chat_session_behaviour,
      .init = init,
      .init_len = len,
      .conn = {.codec = {.kind = TR_CODEC_LINES, .max = IRC_READ_MAX},
               .out_limit = OUT_LIMIT,
               .high_water = SESSION_HIGH_WATER},
  };
  tr_listener_t l;
  if ((rc = tr_listen(tr_system_ctx(sys), &lo, &l)) != 0)
    return rc;
  *port = tr_listener_port(sys, l);
  return 0;
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
  tr_system_t *sys;
  if ((rc = tr_system_new(&cfg, &sys)) != 0) {
    fprintf(stderr, "troupe-chat: cannot start: %s\n", tr_strerror(rc));
    return 1;
  }
  uint16_t port = 0;
  const char *what = "atoms";
  tr_listener_t console, metrics;
  tr_pid_t sup = TR_PID_NONE;
  /* The cluster before the rooms manager, which joins the cluster's managers as it starts;
   * the listener last, so no client comes before both. */
  if ((rc = chat_atoms_init(sys)) == 0)
    what = "cluster", rc = ex_cluster_start("troupe-chat", sys, &o.cluster);
  if (rc == 0 && (what = "rooms", rc = start_rooms(sys, &sup)) == 0)
    what = "listen", rc = start_listener(sys, &o, &port);
  if (rc == 0 && o.console)
    what = "console", rc = tr_console_start_at(sys, o.console, &console);
  if (rc == 0 && o.metrics)
    what = "metrics", rc = tr_metrics_start_at(sys, o.metrics, &metrics);
  if (rc) {
    fprintf(stderr, "troupe-chat: %s: %s\n", what, tr_strerror(rc));
    tr_system_free(sys);
    return 1;
  }
  ex_serve("troupe-chat", sys, o.bind, port, o.console ? &console : NULL,
           o.metrics ? &metrics : NULL, sup, &stop);
  return 0;
}
