/* The spawnmem workload: read VmRSS, spawn N = 1,000,000 idle actors (state: one 64-bit
 * counter), each of which bumps a shared counter when it first runs (its init callback);
 * the driver keeps the pids in an array (so their memory is counted too), polls with 1 ms
 * sleeps until all N have run, then reads VmHWM. The figure is the memory one idle actor
 * costs: (VmHWM - VmRSS before) * 1024 / N bytes. It runs in its own process so the peak
 * is this workload's alone. */
#include <stdatomic.h>
#include <stdalign.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench.h"

#define SPAWNMEM_N 1000000 /* actors, the spec's N */
#define POLL_NS 1000000L   /* the driver's sleep between looks at the counter: 1 ms (spec) */
#define BYTES_PER_KB 1024u /* /proc/self/status reports kB */
#define MS_PER_SEC 1000.0

#define CACHE_LINE 64 /* bytes, on the x86-64 and arm64 machines this runs on */

typedef struct {
  /* Bumped by every actor's init on the workers, read by the driver's poll loop; on its own
   * cache line so the bumps do not bounce a line that holds anything else. */
  alignas(CACHE_LINE) _Atomic uint64_t started;
} shared_t;

_Static_assert(alignof(shared_t) == CACHE_LINE && sizeof(shared_t) == CACHE_LINE,
               "the started counter sits alone on its own cache line");

static shared_t g;

static int idle_init(tr_ctx_t *ctx, void *state, const tr_msg_t *init) {
  (void)ctx;
  (void)init;
  uint64_t *counter = state;
  *counter = 1;
  /* Relaxed: the counter publishes nothing but its own value; the driver's relaxed load in
   * run() only compares it with N. */
  atomic_fetch_add_explicit(&g.started, 1, memory_order_relaxed);
  return 0;
}

static int idle_receive(tr_ctx_t *ctx, void *state, const tr_msg_t *msg) {
  (void)ctx;
  (void)msg;
  uint64_t *counter = state;
  (*counter)++;
  return 0;
}

static const tr_behaviour_t idle = {
    .name = "spawnmem", .state_size = sizeof(uint64_t), .init = idle_init, .receive = idle_receive};

/* Spawn n idle actors into pids and wait until every one has run its init. */
static int spawn_and_wait(tr_ctx_t *ctx, uint64_t n, tr_pid_t *pids) {
  for (uint64_t i = 0; i < n; i++) {
    int err = tr_spawn(ctx, &idle, NULL, 0, &pids[i]);
    if (err != 0) {
      return err;
    }
  }
  const struct timespec poll = {.tv_sec = 0, .tv_nsec = POLL_NS};
  double deadline = bench_now() + BENCH_WAIT_MS / MS_PER_SEC;
  while (atomic_load_explicit(&g.started, memory_order_relaxed) < n) {
    if (bench_now() > deadline) {
      return TR_ETIMEDOUT;
    }
    nanosleep(&poll, NULL);
  }
  return 0;
}

static int run(const bench_env_t *env, uint64_t n, bench_result_t *out) {
  atomic_store_explicit(&g.started, 0, memory_order_relaxed);
  uint64_t rss_kb = 0, hwm_kb = 0;
  int err = bench_status_kb("VmRSS", &rss_kb);
  if (err != 0) {
    return err;
  }

  double start = bench_now();
  tr_pid_t *pids = malloc(n * sizeof *pids);
  if (pids == NULL) {
    return TR_ENOMEM;
  }
  err = spawn_and_wait(tr_system_ctx(env->sys), n, pids);
  uint64_t started = atomic_load_explicit(&g.started, memory_order_relaxed);
  if (err == 0) {
    out->ok = started == n;
    out->seconds = bench_now() - start;
    err = bench_status_kb("VmHWM", &hwm_kb);
  }
  free(pids);
  if (err != 0) {
    return err;
  }
  uint64_t grown_kb = hwm_kb > rss_kb ? hwm_kb - rss_kb : 0;
  out->rate = (double)grown_kb * BYTES_PER_KB / (double)n;
  snprintf(out->extra, sizeof out->extra, "started=%llu rss_before_kb=%llu hwm_kb=%llu",
           (unsigned long long)started, (unsigned long long)rss_kb, (unsigned long long)hwm_kb);
  return 0;
}

const bench_workload_t bench_spawnmem = {
    .name = "spawnmem", .unit = "bytes/actor", .default_n = SPAWNMEM_N, .run = run};
