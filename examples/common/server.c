/* The example servers' shared main() plumbing (see server.h). */
#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server.h"

bool ex_number(const char *text, uint64_t min, uint64_t max, uint64_t *out) {
  char *end;
  if (!text || !*text || *text == '-' || *text == '+')
    return false;
  errno = 0;
  unsigned long long v = strtoull(text, &end, 10);
  if (errno || *end || v < min || v > max)
    return false;
  *out = v;
  return true;
}

bool ex_address(const char *text) {
  unsigned char buf[sizeof(struct in6_addr)];
  return inet_pton(AF_INET, text, buf) == 1 || inet_pton(AF_INET6, text, buf) == 1;
}

void ex_cluster_defaults(ex_cluster_t *c) {
  tr_cluster_config_t cfg;
  tr_cluster_config_init(&cfg);
  *c = (ex_cluster_t){cfg.name, cfg.listen, cfg.seeds, cfg.cookie_file};
}

bool ex_cluster_option(ex_cluster_t *c, int code, const char *arg, const char **bad) {
  switch (code) {
  case EX_OPT_NODE:
    c->node = arg;
    if (!*arg || strlen(arg) > TR_NODE_NAME_MAX ||
        strspn(arg, "abcdefghijklmnopqrstuvwxyz"
                    "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
                    "0123456789_.-") != strlen(arg))
      *bad = "--node wants a name of 1-64 letters, digits, '_', '.' or '-'";
    return true;
  case EX_OPT_CLUSTER:
    c->cluster = arg;
    if (!strrchr(arg, ':'))
      *bad = "--cluster wants HOST:PORT";
    return true;
  case EX_OPT_SEEDS:
    c->seeds = arg;
    return true;
  case EX_OPT_COOKIE:
    c->cookie_file = arg;
    return true;
  default:
    return false;
  }
}

int ex_cluster_start(const char *server, tr_system_t *sys, const ex_cluster_t *c) {
  if (!c->node || !*c->node)
    return 0;
  tr_cluster_config_t cfg;
  tr_cluster_config_init(&cfg);
  cfg.name = c->node;
  cfg.listen = c->cluster;
  cfg.seeds = c->seeds;
  cfg.cookie_file = c->cookie_file;
  int rc = tr_cluster_start(sys, &cfg);
  if (rc == 0)
    fprintf(stderr, "%s: cluster node %s on port %u\n", server, c->node,
            (unsigned)tr_cluster_port(sys));
  return rc;
}

void ex_block_stop_signals(sigset_t *stop) {
  sigemptyset(stop);
  sigaddset(stop, SIGINT);
  sigaddset(stop, SIGTERM);
  pthread_sigmask(SIG_BLOCK, stop, NULL);
  signal(SIGPIPE, SIG_IGN);
}

void ex_serve(const char *name, tr_system_t *sys, const char *bind, uint16_t port,
              const tr_listener_t *console, const tr_listener_t *metrics, tr_pid_t tree,
              sigset_t *stop) {
  bool v6 = strchr(bind, ':') != NULL;
  /* stdout keeps its one line; the other ports go to stderr, first, so whoever waits for
   * the stdout line finds them there already. */
  if (console)
    fprintf(stderr, "%s: console on port %u\n", name, (unsigned)tr_listener_port(sys, *console));
  if (metrics)
    fprintf(stderr, "%s: metrics on port %u\n", name, (unsigned)tr_listener_port(sys, *metrics));
  printf("%s listening on %s%s%s:%u\n", name, v6 ? "[" : "", bind, v6 ? "]" : "", (unsigned)port);
  fflush(stdout);
  int sig = 0;
  while (sigwait(stop, &sig) != 0)
    ;
  tr_log(TR_LOG_INFO, "%s: signal %d, stopping", name, sig);
  if (!tr_pid_is_none(tree))
    (void)tr_supervisor_stop(tr_system_ctx(sys), tree); /* failing, tr_system_stop does it */
  tr_system_stop(sys);
  tr_system_free(sys);
}
