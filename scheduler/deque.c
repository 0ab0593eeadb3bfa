/* The work-stealing run queue (see deque.h for the protocol). */
#include "scheduler/deque.h"

static inline uint32_t real_of(uint64_t h) { return (uint32_t)h; }
static inline uint32_t steal_of(uint64_t h) { return (uint32_t)(h >> 32); }
static inline uint64_t pack(uint32_t steal, uint32_t real) {
  return ((uint64_t)steal << 32) | real;
}

void tr__deque_init(tr_deque_t *d) {
  atomic_store_explicit(&d->head, 0, memory_order_relaxed);
  atomic_store_explicit(&d->tail, 0, memory_order_relaxed);
  for (uint32_t i = 0; i < TR_DEQUE_CAP; i++)
    atomic_store_explicit(&d->buf[i], NULL, memory_order_relaxed);
}

bool tr__deque_push(tr_deque_t *d, void *task) {
  uint32_t t = atomic_load_explicit(&d->tail, memory_order_relaxed); /* we are the writer */
  /* acquire: pairs with the release CAS that ends a steal (finish_claim), so the thief's
   * reads of the slots it copied happen before we overwrite them. */
  uint64_t h = atomic_load_explicit(&d->head, memory_order_acquire);
  if (t - steal_of(h) >= TR_DEQUE_CAP)
    return false;
  atomic_store_explicit(&d->buf[t & TR_DEQUE_MASK], task, memory_order_relaxed);
  /* release: publishes the slot to thieves, who load tail with acquire in claim(). */
  atomic_store_explicit(&d->tail, t + 1, memory_order_release);
  return true;
}

void *tr__deque_pop(tr_deque_t *d) {
  uint64_t h = atomic_load_explicit(&d->head, memory_order_acquire);
  for (;;) {
    uint32_t steal = steal_of(h), real = real_of(h);
    if (real == atomic_load_explicit(&d->tail, memory_order_relaxed))
      return NULL;
    /* With no steal in progress both indexes move together; otherwise `steal` stays where
     * the thief's claimed range begins. */
    uint64_t next = steal == real ? pack(real + 1, real + 1) : pack(steal, real + 1);
    /* acq_rel on success: orders against thieves' claims of the same slots; the slot itself
     * was written by us, so reading it afterwards needs nothing more. */
    if (atomic_compare_exchange_weak_explicit(&d->head, &h, next, memory_order_acq_rel,
                                              memory_order_acquire))
      return atomic_load_explicit(&d->buf[real & TR_DEQUE_MASK], memory_order_relaxed);
  }
}

/* Claim up to half (rounded up, at most max) of d's tasks by advancing `real`; returns the
 * first claimed index in *first and the count (0 when empty or another claim is open). */
static uint32_t claim(tr_deque_t *d, uint32_t max, uint32_t *first) {
  uint64_t h = atomic_load_explicit(&d->head, memory_order_acquire);
  for (;;) {
    uint32_t steal = steal_of(h), real = real_of(h);
    if (steal != real)
      return 0;
    /* acquire: pairs with the release store of tail in tr__deque_push (the slots' contents). */
    uint32_t t = atomic_load_explicit(&d->tail, memory_order_acquire);
    uint32_t n = t - real;
    n -= n / 2;
    if (n > max)
      n = max;
    if (n == 0 || n > TR_DEQUE_CAP) /* > CAP: a stale head/tail pair; retry below */
      return 0;
    if (atomic_compare_exchange_weak_explicit(&d->head, &h, pack(steal, real + n),
                                              memory_order_acq_rel, memory_order_acquire)) {
      *first = real;
      return n;
    }
  }
}

/* Close a claim: steal catches up with real (the owner may have popped meanwhile). */
static void finish_claim(tr_deque_t *d) {
  uint64_t h = atomic_load_explicit(&d->head, memory_order_acquire);
  for (;;) {
    uint32_t real = real_of(h);
    /* release: our reads of the claimed slots happen before the owner reuses them (it loads
     * head with acquire in tr__deque_push). */
    if (atomic_compare_exchange_weak_explicit(&d->head, &h, pack(real, real),
                                              memory_order_acq_rel, memory_order_acquire))
      return;
  }
}

uint32_t tr__deque_grab_half(tr_deque_t *d, void **out, uint32_t max) {
  uint32_t first, n = claim(d, max, &first);
  for (uint32_t i = 0; i < n; i++)
    out[i] = atomic_load_explicit(&d->buf[(first + i) & TR_DEQUE_MASK], memory_order_relaxed);
  if (n)
    finish_claim(d);
  return n;
}

void *tr__deque_steal(tr_deque_t *from, tr_deque_t *to) {
  uint32_t t = atomic_load_explicit(&to->tail, memory_order_relaxed); /* our own deque */
  uint64_t h = atomic_load_explicit(&to->head, memory_order_acquire);
  uint32_t room = TR_DEQUE_CAP - (t - steal_of(h));
  if (room == 0)
    return NULL;
  uint32_t first, n = claim(from, room < TR_DEQUE_CAP / 2 ? room : TR_DEQUE_CAP / 2, &first);
  if (n == 0)
    return NULL;
  for (uint32_t i = 0; i < n; i++) {
    void *task = atomic_load_explicit(&from->buf[(first + i) & TR_DEQUE_MASK],
                                      memory_order_relaxed);
    atomic_store_explicit(&to->buf[(t + i) & TR_DEQUE_MASK], task, memory_order_relaxed);
  }
  finish_claim(from);
  /* The last task copied runs now; the others become visible in our deque. */
  void *run = atomic_load_explicit(&to->buf[(t + n - 1) & TR_DEQUE_MASK], memory_order_relaxed);
  if (n > 1)
    atomic_store_explicit(&to->tail, t + n - 1, memory_order_release);
  return run;
}

uint32_t tr__deque_len(const tr_deque_t *d) {
  uint64_t h = atomic_load_explicit(&d->head, memory_order_relaxed);
  uint32_t t = atomic_load_explicit(&d->tail, memory_order_relaxed);
  uint32_t n = t - real_of(h);
  return n > TR_DEQUE_CAP ? 0 : n;
}
