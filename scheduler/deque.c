/* The work-stealing run queue (see deque.h for the protocol). */
#include "scheduler/deque.h"

#define IDX_BITS 21
#define IDX_MASK ((UINT64_C(1) << IDX_BITS) - 1)

typedef struct {
  uint32_t steal, real, tail;
} ctl_t;

static inline ctl_t unpack(uint64_t c) {
  return (ctl_t){(uint32_t)(c >> (2 * IDX_BITS) & IDX_MASK), (uint32_t)(c >> IDX_BITS & IDX_MASK),
                 (uint32_t)(c & IDX_MASK)};
}
static inline uint64_t pack(uint32_t steal, uint32_t real, uint32_t tail) {
  return ((uint64_t)(steal & IDX_MASK) << (2 * IDX_BITS)) |
         ((uint64_t)(real & IDX_MASK) << IDX_BITS) | (tail & IDX_MASK);
}
/* b - a, modulo the index width. */
static inline uint32_t dist(uint32_t a, uint32_t b) { return (b - a) & (uint32_t)IDX_MASK; }

static inline bool cas(tr_deque_t *d, uint64_t *expect, uint64_t want) {
  /* acq_rel: release publishes slots written before the CAS (a push) and the end of our
   * reads of claimed slots (finish_claim); acquire makes the slots the previous writer
   * published visible to the reads that follow. */
  return atomic_compare_exchange_weak_explicit(&d->ctl, expect, want, memory_order_acq_rel,
                                               memory_order_acquire);
}

static inline void *slot(tr_deque_t *d, uint32_t i) {
  return atomic_load_explicit(&d->buf[i & TR_DEQUE_MASK], memory_order_relaxed);
}

void tr__deque_init(tr_deque_t *d) {
  atomic_store_explicit(&d->ctl, 0, memory_order_relaxed);
  for (uint32_t i = 0; i < TR_DEQUE_CAP; i++)
    atomic_store_explicit(&d->buf[i], NULL, memory_order_relaxed);
}

bool tr__deque_push(tr_deque_t *d, void *task) {
  uint64_t c = atomic_load_explicit(&d->ctl, memory_order_acquire);
  for (;;) {
    ctl_t x = unpack(c);
    if (dist(x.steal, x.tail) >= TR_DEQUE_CAP)
      return false;
    /* The slot at tail is free (tail - steal < CAP) and no thief reads past tail; writing it
     * again after a failed CAS is harmless. */
    atomic_store_explicit(&d->buf[x.tail & TR_DEQUE_MASK], task, memory_order_relaxed);
    if (cas(d, &c, pack(x.steal, x.real, x.tail + 1)))
      return true;
  }
}

void *tr__deque_pop(tr_deque_t *d) {
  uint64_t c = atomic_load_explicit(&d->ctl, memory_order_acquire);
  for (;;) {
    ctl_t x = unpack(c);
    if (x.real == x.tail)
      return NULL;
    void *task = slot(d, x.real);
    /* With no steal in progress, steal moves along with real. */
    uint32_t steal = x.steal == x.real ? x.real + 1 : x.steal;
    if (cas(d, &c, pack(steal, x.real + 1, x.tail)))
      return task;
  }
}

void *tr__deque_pop_newest(tr_deque_t *d) {
  uint64_t c = atomic_load_explicit(&d->ctl, memory_order_acquire);
  for (;;) {
    ctl_t x = unpack(c);
    if (x.real == x.tail)
      return NULL;
    void *task = slot(d, x.tail - 1);
    /* real is untouched, so a claim in progress (steal < real) stays protected. */
    if (cas(d, &c, pack(x.steal, x.real, x.tail - 1)))
      return task;
  }
}

void *tr__deque_pop_next(tr_deque_t *d) {
  ctl_t x = unpack(atomic_load_explicit(&d->ctl, memory_order_acquire));
  if (x.real == x.tail)
    return NULL;
  /* Which end is a preference, not a claim: the pop that follows takes what is there by
   * then (a thief may have taken the oldest meanwhile), and only the owner writes slots. */
  uintptr_t ends = (uintptr_t)slot(d, x.tail - 1) | (uintptr_t)slot(d, x.real);
  return ends & TR_DEQUE_FRESH ? tr__deque_pop_newest(d) : tr__deque_pop(d);
}

/* Claim up to half (rounded up, at most max) of d's tasks by advancing real; returns the
 * first claimed index in *first and the count (0 when empty or another claim is open). */
static uint32_t claim(tr_deque_t *d, uint32_t max, uint32_t *first) {
  uint64_t c = atomic_load_explicit(&d->ctl, memory_order_acquire);
  for (;;) {
    ctl_t x = unpack(c);
    if (x.steal != x.real)
      return 0;
    uint32_t n = dist(x.real, x.tail);
    n -= n / 2;
    if (n > max)
      n = max;
    if (n == 0)
      return 0;
    /* steal stays at the old real: the claimed range is protected until finish_claim. */
    if (cas(d, &c, pack(x.steal, x.real + n, x.tail))) {
      *first = x.real;
      return n;
    }
  }
}

/* Close a claim: steal catches up with real (the owner may have popped meanwhile). */
static void finish_claim(tr_deque_t *d) {
  uint64_t c = atomic_load_explicit(&d->ctl, memory_order_relaxed);
  for (;;) {
    ctl_t x = unpack(c);
    if (cas(d, &c, pack(x.real, x.real, x.tail)))
      return;
  }
}

uint32_t tr__deque_grab_half(tr_deque_t *d, void **out, uint32_t max) {
  uint32_t first, n = claim(d, max, &first);
  for (uint32_t i = 0; i < n; i++)
    out[i] = slot(d, first + i);
  if (n)
    finish_claim(d);
  return n;
}

void *tr__deque_steal(tr_deque_t *from, tr_deque_t *to) {
  ctl_t mine = unpack(atomic_load_explicit(&to->ctl, memory_order_acquire));
  uint32_t room = TR_DEQUE_CAP - dist(mine.steal, mine.tail);
  if (room == 0)
    return NULL;
  void *got[TR_DEQUE_CAP / 2];
  uint32_t n = tr__deque_grab_half(from, got, room < TR_DEQUE_CAP / 2 ? room : TR_DEQUE_CAP / 2);
  if (n == 0)
    return NULL;
  /* The oldest stolen task runs now; the rest go to our deque (room was checked, and only we
   * push to it, so these pushes succeed). */
  for (uint32_t i = 1; i < n; i++) {
    bool ok = tr__deque_push(to, got[i]);
    TR_ASSERT(ok);
  }
  return got[0];
}

uint32_t tr__deque_oldest(const tr_deque_t *d) {
  return unpack(atomic_load_explicit(&d->ctl, memory_order_relaxed)).real;
}

uint32_t tr__deque_len(const tr_deque_t *d) {
  ctl_t x = unpack(atomic_load_explicit(&d->ctl, memory_order_relaxed));
  return dist(x.real, x.tail);
}
