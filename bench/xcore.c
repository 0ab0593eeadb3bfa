/* The xcore probe: not a workload of the spec, but the machine's figure that explains the
 * spread of the ones where actors on two workers message each other (mesh, fanin). Two
 * threads, pinned to CPUs 0 and 1, hand one cache line back and forth N times (one writes
 * an odd number and waits for the next even one, the other answers); rate is the mean time
 * of one round trip, in ns. On a bare machine it is a property of the two cores (same
 * core's hyperthreads, same L3, another socket); on a VM it is where the hypervisor put the
 * two vCPUs at that moment, which can change from one run to the next: on this project's
 * 2-vCPU KVM guest it reads either about 70 ns or about 340 ns, and mesh runs at about half
 * its speed in the second case (BENCHMARKS.md). Run it beside the others to tell the two
 * apart. The troupe system of the environment is not used. */
#include <pthread.h>
#include <sched.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdio.h>

#include "bench.h"

#define XCORE_N 1000000 /* round trips */

static struct {
  alignas(64) _Atomic uint64_t line; /* the cache line both threads write */
  uint64_t n;
  int pinned; /* the answerer's pthread_setaffinity_np result */
} g;

static int pin(int cpu) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  return pthread_setaffinity_np(pthread_self(), sizeof set, &set);
}

static void *answer(void *arg) {
  (void)arg;
  g.pinned = pin(1);
  for (uint64_t i = 0; i < g.n; i++) {
    while (atomic_load_explicit(&g.line, memory_order_acquire) != 2 * i + 1) {
    }
    atomic_store_explicit(&g.line, 2 * i + 2, memory_order_release);
  }
  return NULL;
}

static int run(const bench_env_t *env, uint64_t n, bench_result_t *out) {
  (void)env;
  if (n == 0)
    return TR_EINVAL;
  g.n = n;
  atomic_store(&g.line, 0);
  pthread_t t;
  cpu_set_t old;
  pthread_getaffinity_np(pthread_self(), sizeof old, &old);
  if (pin(0) != 0 || pthread_create(&t, NULL, answer, NULL) != 0) {
    pthread_setaffinity_np(pthread_self(), sizeof old, &old);
    return TR_ESYS; /* fewer than two CPUs, or no thread */
  }
  double start = bench_now();
  for (uint64_t i = 0; i < n; i++) {
    atomic_store_explicit(&g.line, 2 * i + 1, memory_order_release);
    while (atomic_load_explicit(&g.line, memory_order_acquire) != 2 * i + 2) {
    }
  }
  out->seconds = bench_now() - start;
  pthread_join(t, NULL);
  pthread_setaffinity_np(pthread_self(), sizeof old, &old);
  out->rate = out->seconds * 1e9 / (double)n;
  out->ok = g.pinned == 0;
  snprintf(out->extra, sizeof out->extra, "cpus=0,1");
  return 0;
}

const bench_workload_t bench_xcore = {
    .name = "xcore", .unit = "ns/roundtrip", .default_n = XCORE_N, .run = run};
