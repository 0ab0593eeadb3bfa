/* troupe-bench: runs one workload of ../shared/bench-spec.md and prints the spec's one
 * result line. `troupe-bench WORKLOAD [--workers N] [--n N]`. This file parses the command
 * line, builds the run's system and client, times nothing itself (each workload takes its
 * own clock readings around exactly the work the spec names), prints the line, and exits
 * non-zero with ok=0 when the answer was wrong or the run could not finish. With
 * TROUPE_BENCH_STATS set in the environment it also writes the run's scheduler statistics
 * (messages per turn, steals, parks) to stderr, and mesh its mailboxes' high-water marks:
 * what tells a run whose backlog ran away from one that kept it in cache. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench.h"

/* The spec runs every implementation with 2 worker threads. */
#define BENCH_DEFAULT_WORKERS 2u

/* Exit codes: a wrong answer or failed run, and a bad command line. */
#define BENCH_EXIT_FAILED 1
#define BENCH_EXIT_USAGE 2

/* A sanity bound on --workers, not a limit of troupe: more threads than this on a benchmark
 * machine is a typo. */
#define BENCH_MAX_WORKERS 1024u

#define NSEC_PER_SEC 1e9

/* In the spec's order, which is also the order bench/run uses. */
static const bench_workload_t *const workloads[] = {
    &bench_pingpong, &bench_skynet,       &bench_fanin,  &bench_ring,
    &bench_mesh,     &bench_spawnmem,     &bench_timers, &bench_req_reply,
    &bench_overload, &bench_overload_off, &bench_xcore,
};

#define WORKLOAD_COUNT (sizeof workloads / sizeof workloads[0])

typedef struct {
  const bench_workload_t *workload;
  unsigned workers;
  uint64_t n;
} options_t;

double bench_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / NSEC_PER_SEC;
}

int bench_wait(const bench_env_t *env, tr_atom_t tag, const char *fmt, ...) {
  tr_msg_t *m = NULL;
  int err = tr_client_receive(env->client, BENCH_WAIT_MS, &m);
  if (err != 0) {
    return err;
  }
  tr_atom_t got = tr_msg_tag(m);
  if (got == env->fail) {
    int64_t code = TR_EPROTO;
    (void)tr_msg_unpack(m, "i", &code);
    err = (int)code;
  } else if (got != tag) {
    err = TR_EPROTO;
  } else {
    size_t len = 0;
    const void *data = tr_msg_data(m, &len);
    va_list ap;
    va_start(ap, fmt);
    err = tr_vunpack(data, len, NULL, fmt, ap);
    va_end(ap);
  }
  tr_msg_free(m);
  return err;
}

int bench_fail(tr_ctx_t *ctx, const bench_env_t *env, int err) {
  /* Best effort: if even this send fails, the driver's wait times out instead. */
  (void)tr_sendf(ctx, env->client_pid, env->fail, "i", (int64_t)err);
  return err;
}

int bench_status_kb(const char *key, uint64_t *kb) {
  FILE *f = fopen("/proc/self/status", "r");
  if (f == NULL) {
    return TR_ESYS;
  }
  char line[256];
  size_t klen = strlen(key);
  int err = TR_ESYS;
  while (err != 0 && fgets(line, sizeof line, f) != NULL) {
    unsigned long long v = 0;
    if (strncmp(line, key, klen) == 0 && line[klen] == ':' &&
        sscanf(line + klen + 1, "%llu", &v) == 1) {
      *kb = (uint64_t)v;
      err = 0;
    }
  }
  fclose(f);
  return err;
}

static void usage(FILE *to) {
  fprintf(to, "usage: troupe-bench WORKLOAD [--workers N] [--n N]\nworkloads:");
  for (size_t i = 0; i < WORKLOAD_COUNT; i++) {
    fprintf(to, " %s", workloads[i]->name);
  }
  fprintf(to, "\n");
}

/* A positive decimal integer that fits in max, or 0 when s is not one. */
static uint64_t parse_count(const char *s, uint64_t max) {
  if (s == NULL || *s < '0' || *s > '9') {
    return 0;
  }
  char *end = NULL;
  errno = 0;
  unsigned long long v = strtoull(s, &end, 10);
  if (errno != 0 || *end != '\0' || v > max) {
    return 0;
  }
  return (uint64_t)v;
}

/* Fill *o from argv; returns 0, or -1 after printing what is wrong. */
static int parse_args(int argc, char **argv, options_t *o) {
  if (argc < 2) {
    usage(stderr);
    return -1;
  }
  o->workload = NULL;
  for (size_t i = 0; i < WORKLOAD_COUNT; i++) {
    if (strcmp(argv[1], workloads[i]->name) == 0) {
      o->workload = workloads[i];
    }
  }
  if (o->workload == NULL) {
    fprintf(stderr, "troupe-bench: unknown workload '%s'\n", argv[1]);
    usage(stderr);
    return -1;
  }
  o->workers = BENCH_DEFAULT_WORKERS;
  o->n = o->workload->default_n;
  for (int i = 2; i < argc; i += 2) {
    const char *value = i + 1 < argc ? argv[i + 1] : NULL;
    uint64_t v = 0;
    if (strcmp(argv[i], "--workers") == 0) {
      v = parse_count(value, BENCH_MAX_WORKERS);
      o->workers = (unsigned)v;
    } else if (strcmp(argv[i], "--n") == 0) {
      v = parse_count(value, UINT64_MAX);
      o->n = v;
    }
    if (v == 0) {
      fprintf(stderr, "troupe-bench: bad option '%s %s'\n", argv[i], value ? value : "");
      usage(stderr);
      return -1;
    }
  }
  return 0;
}

static int env_open(const options_t *o, bench_env_t *env) {
  tr_config_t cfg;
  tr_config_init(&cfg);
  cfg.workers = o->workers;
  memset(env, 0, sizeof *env);
  int err = tr_system_new(&cfg, &env->sys);
  if (err != 0) {
    return err;
  }
  err = tr_client_open(env->sys, &env->client);
  if (err != 0) {
    tr_system_free(env->sys);
    env->sys = NULL;
    return err;
  }
  env->client_pid = tr_client_pid(env->client);
  env->fail = tr_atom(env->sys, "bench_fail");
  return env->fail == 0 ? TR_ENOMEM : 0;
}

static void env_close(bench_env_t *env) {
  tr_client_close(env->client);
  tr_system_free(env->sys);
}

static void print_line(const options_t *o, const bench_result_t *r) {
  printf("workload=%s impl=troupe n=%llu seconds=%.6f rate=%.1f unit=%s%s%s ok=%d\n",
         o->workload->name, (unsigned long long)o->n, r->seconds, r->rate, o->workload->unit,
         r->extra[0] != '\0' ? " " : "", r->extra, r->ok ? 1 : 0);
  /* Flushed before the system is torn down, so a crash there cannot swallow the line. */
  fflush(stdout);
}

int main(int argc, char **argv) {
  options_t o;
  if (parse_args(argc, argv, &o) != 0) {
    return BENCH_EXIT_USAGE;
  }
  bench_result_t r;
  memset(&r, 0, sizeof r);
  bench_env_t env;
  int err = env_open(&o, &env);
  if (err == 0) {
    err = o.workload->run(&env, o.n, &r);
  }
  if (err != 0) {
    r.ok = false;
    fprintf(stderr, "troupe-bench: %s: %s (%s)\n", o.workload->name, tr_strerror(err),
            tr_err_name(err));
  } else if (!r.ok) {
    fprintf(stderr, "troupe-bench: %s: wrong answer\n", o.workload->name);
  }
  print_line(&o, &r);
  if (env.sys != NULL && getenv("TROUPE_BENCH_STATS")) {
    tr_stats_t st;
    tr_system_stats(env.sys, &st);
    fprintf(stderr, "stats: messages=%llu turns=%llu per_turn=%.2f steals=%llu parks=%llu\n",
            (unsigned long long)st.messages, (unsigned long long)st.turns,
            st.turns ? (double)st.messages / (double)st.turns : 0.0, (unsigned long long)st.steals,
            (unsigned long long)st.parks);
  }
  if (env.sys != NULL) {
    env_close(&env);
  }
  return r.ok ? 0 : BENCH_EXIT_FAILED;
}
