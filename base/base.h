/* Internal helpers every part uses: assertions, cache-line alignment, branch hints, the
 * monotonic clock and the tick counter used for sampled run-time accounting. */
#ifndef TR_BASE_H
#define TR_BASE_H

#include <stdalign.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "troupe/error.h"
#include "troupe/log.h"

/* Size of a cache line on the machines troupe targets (x86-64, arm64). Fields written by
 * different threads are kept this far apart so they do not share a line. */
#define TR_CACHE_LINE 64

#define TR_LIKELY(x) __builtin_expect(!!(x), 1)
#define TR_UNLIKELY(x) __builtin_expect(!!(x), 0)

/* Internal invariants: a failure is a bug in troupe, so print where and abort. */
#define TR_ASSERT(expr)                                                                            \
  do {                                                                                             \
    if (TR_UNLIKELY(!(expr)))                                                                      \
      tr__assert_fail(#expr, __FILE__, __LINE__, __func__);                                        \
  } while (0)

_Noreturn void tr__assert_fail(const char *expr, const char *file, int line, const char *func);

/* Nanoseconds on the monotonic clock. */
uint64_t tr__now_ns(void);

/* A cheap, monotonic, per-core counter for measuring short intervals: the TSC on x86-64,
 * the monotonic clock elsewhere. Convert with tr__ticks_to_ns. */
uint64_t tr__ticks(void);
uint64_t tr__ticks_to_ns(uint64_t ticks);
/* Calibrate the tick rate; called once by tr_system_new (takes ~1 ms the first time). */
void tr__ticks_calibrate(void);

/* Add to a counter that one thread writes and any thread reads: a plain add published with
 * a relaxed store, so readers may see a slightly old value, never a torn one, and the writer
 * pays no locked instruction. Statistics only: it orders nothing. */
static inline void tr__bump(_Atomic uint64_t *c, uint64_t n) {
  atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + n, memory_order_relaxed);
}

/* Big-endian integers in byte buffers (msgpack's and the cluster's wire order). */
static inline void tr__put_be32(unsigned char *p, uint32_t v) {
  p[0] = (unsigned char)(v >> 24);
  p[1] = (unsigned char)(v >> 16);
  p[2] = (unsigned char)(v >> 8);
  p[3] = (unsigned char)v;
}
static inline uint32_t tr__get_be32(const unsigned char *p) {
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}
static inline void tr__put_be64(unsigned char *p, uint64_t v) {
  tr__put_be32(p, (uint32_t)(v >> 32));
  tr__put_be32(p + 4, (uint32_t)v);
}
static inline uint64_t tr__get_be64(const unsigned char *p) {
  return (uint64_t)tr__get_be32(p) << 32 | tr__get_be32(p + 4);
}

/* Sleep the calling thread. */
void tr__sleep_ns(uint64_t ns);

/* A small fast PRNG (xorshift64*) for scheduling choices; never for security. */
static inline uint64_t tr__rand(uint64_t *s) {
  uint64_t x = *s;
  x ^= x >> 12;
  x ^= x << 25;
  x ^= x >> 27;
  *s = x;
  return x * UINT64_C(2685821657736338717);
}

#endif
