/* The pieces the benchmark workloads share with the driver in main.c: the table entry that
 * names a workload, the result it hands back for the one output line, the per-run
 * environment (a system plus a client that collects answers), and the helpers for timing,
 * waiting for an answer and reporting a failure from inside a handler. Every workload
 * follows ../shared/bench-spec.md exactly; this header only carries the plumbing. */
#ifndef TROUPE_BENCH_H
#define TROUPE_BENCH_H

#include <stdbool.h>
#include <stdint.h>

#include "troupe.h"

/* Room for the optional "key=value ..." part of a result line. */
#define BENCH_EXTRA_MAX 128

/* How long the driver waits for an answer before it declares the run hung: far above any
 * workload's expected few seconds, so only a lost message or a stuck scheduler hits it. */
#define BENCH_WAIT_MS 300000

/* One run's environment, built by main.c before the workload starts and torn down after
 * the result line is printed. Handlers read it (never write it) through a pointer that the
 * workload keeps; it is filled before the first spawn, which publishes it to the workers. */
typedef struct {
  tr_system_t *sys;
  tr_client_t *client; /* main()'s mailbox: every workload's answer arrives here */
  tr_pid_t client_pid;
  tr_atom_t fail; /* tag of a handler's failure report; payload: the error code ("i") */
} bench_env_t;

/* What a workload measured; main.c prints it as the spec's one line. */
typedef struct {
  double seconds; /* monotonic wall time from just before the first spawn to the answer */
  double rate;    /* the workload's figure, in the unit of its table entry */
  char extra[BENCH_EXTRA_MAX]; /* "key=value ..." or empty */
  bool ok;                     /* the answer was checked and right */
} bench_result_t;

typedef struct {
  const char *name;   /* the spec's workload name */
  const char *unit;   /* the unit of `rate` */
  uint64_t default_n; /* the spec's N */
  /* Run once with problem size n on env's system and fill *out. Returns 0 when the run
   * finished (out->ok says whether the answer was right), or a negative TR_E* code when it
   * could not run (bad n, a failed spawn or send, a timeout). */
  int (*run)(const bench_env_t *env, uint64_t n, bench_result_t *out);
} bench_workload_t;

extern const bench_workload_t bench_pingpong;
extern const bench_workload_t bench_skynet;
extern const bench_workload_t bench_fanin;
extern const bench_workload_t bench_ring;
extern const bench_workload_t bench_mesh;
extern const bench_workload_t bench_spawnmem;
extern const bench_workload_t bench_timers;
extern const bench_workload_t bench_req_reply;
extern const bench_workload_t bench_overload;
extern const bench_workload_t bench_overload_off;
extern const bench_workload_t bench_xcore;

/* Seconds on the monotonic clock (an arbitrary origin; only differences mean anything). */
double bench_now(void);

/* Wait (up to BENCH_WAIT_MS) for the next message to env's client. A message tagged `tag`
 * is unpacked by fmt into the variadic outputs (as tr_unpack) and 0 is returned; a failure
 * report returns the handler's error code; another tag returns TR_EPROTO. Main thread only. */
int bench_wait(const bench_env_t *env, tr_atom_t tag, const char *fmt, ...);

/* Read one "Key:   123 kB" line of /proc/self/status (VmRSS, VmHWM) into *kb. Returns 0 or
 * TR_ESYS. */
int bench_status_kb(const char *key, uint64_t *kb);

/* From inside a handler: tell the driver that the workload cannot go on (so it stops
 * waiting at once instead of timing out) and return err, for `return bench_fail(...)`. */
int bench_fail(tr_ctx_t *ctx, const bench_env_t *env, int err);

#endif
