/* Clocks: the monotonic clock in nanoseconds, and a cheap tick counter (the TSC where there
 * is one) calibrated against it once, used to time actor turns without a system call. */
#include <errno.h>
#include <stdatomic.h>
#include <time.h>

#include "base/base.h"

#if defined(__x86_64__)
#include <x86intrin.h>
#endif

/* Ticks per microsecond, scaled by 2^16; 0 until calibrated. Written once (possibly by two
 * systems starting at once; both store the same kind of value), read by any thread. */
static _Atomic uint64_t ticks_per_us_q16;

uint64_t tr__now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void tr__sleep_ns(uint64_t ns) {
  struct timespec ts = {.tv_sec = (time_t)(ns / 1000000000u), .tv_nsec = (long)(ns % 1000000000u)};
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
}

#if defined(__x86_64__)
uint64_t tr__ticks(void) { return __rdtsc(); }

void tr__ticks_calibrate(void) {
  if (atomic_load_explicit(&ticks_per_us_q16, memory_order_relaxed) != 0)
    return;
  /* 2 ms against the monotonic clock gives the rate to well under 0.1%. */
  uint64_t n0 = tr__now_ns(), t0 = __rdtsc();
  tr__sleep_ns(2000000);
  uint64_t n1 = tr__now_ns(), t1 = __rdtsc();
  uint64_t us = (n1 - n0) / 1000u;
  uint64_t q = us ? ((t1 - t0) << 16) / us : (UINT64_C(1000) << 16);
  atomic_store_explicit(&ticks_per_us_q16, q ? q : 1, memory_order_relaxed);
}

uint64_t tr__ticks_to_ns(uint64_t ticks) {
  uint64_t q = atomic_load_explicit(&ticks_per_us_q16, memory_order_relaxed);
  if (q == 0)
    return ticks;
  /* ticks * 1000 / (q / 2^16), split so that nothing overflows 64 bits for centuries of
   * ticks: whole microseconds first, then the remainder. */
  if (ticks >> 47) /* << 16 would overflow: fall back to the coarser division */
    return ticks / (q >> 16 ? q >> 16 : 1) * 1000u;
  uint64_t us = (ticks << 16) / q, rem = (ticks << 16) % q;
  return us * 1000u + rem * 1000u / q;
}
#else
uint64_t tr__ticks(void) { return tr__now_ns(); }
void tr__ticks_calibrate(void) {}
uint64_t tr__ticks_to_ns(uint64_t ticks) { return ticks; }
#endif
