/* Tests of the envelope pools and their depot (mailbox/envelope.c): a full pool hands its
 * oldest batch to the depot and keeps its newest envelopes; an empty pool takes a whole
 * batch back, in the order it went in; a batch holder is reused rather than allocated
 * again; envelopes move between two pools this way many times without one being lost or
 * handed out twice; and destroying the pools and the depot frees every envelope (the
 * sanitizer builds check the frees). The slow paths are called directly, as the inline
 * alloc and recycle do once a pool is empty or full, so the test runs the same way in the
 * AddressSanitizer build, where those two go straight to malloc and free. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdlib.h>

#include "mailbox/envelope.h"

static tr_msg_t *fresh(void) {
  tr_msg_t *m = malloc(sizeof *m);
  assert_non_null(m);
  return m;
}

/* Fill p to its high mark with new envelopes, as recycling would; the depot counts them. */
static void fill(tr_pool_t *p, tr_msg_t **kept) {
  while (p->count < TR_POOL_HIGH) {
    tr_msg_t *m = fresh();
    atomic_fetch_add(&p->depot->envelopes, 1);
    if (kept)
      kept[p->count] = m;
    p->m[p->count++] = m;
  }
}

/* A depot and two pools on it, freed with everything they hold by the teardown. */
typedef struct {
  tr_depot_t d;
  tr_pool_t a, b;
} fix_t;

static int setup(void **state) {
  fix_t *f = malloc(sizeof *f);
  assert_non_null(f);
  tr__depot_init(&f->d);
  tr__pool_init(&f->a, &f->d);
  tr__pool_init(&f->b, &f->d);
  *state = f;
  return 0;
}

static int teardown(void **state) {
  fix_t *f = *state;
  tr__pool_destroy(&f->a);
  tr__pool_destroy(&f->b);
  tr__depot_destroy(&f->d);
  free(f);
  return 0;
}

static void a_full_pool_spills_its_oldest_batch_and_an_empty_one_takes_it_back(void **state) {
  fix_t *f = *state;
  tr_depot_t *dp = &f->d;
  tr_msg_t *in[TR_POOL_HIGH];
  fill(&f->a, in);
  tr__pool_spill(&f->a);
  assert_int_equal(f->a.count, TR_POOL_HIGH - TR_POOL_BATCH);
  assert_int_equal(dp->nbatches, 1);
  for (uint32_t i = 0; i < f->a.count; i++) /* the newest stay, in order, at the bottom now */
    assert_ptr_equal(f->a.m[i], in[TR_POOL_BATCH + i]);
  /* b is empty: it takes the batch, the oldest of a's envelopes, newest on top. */
  tr_msg_t *got = tr__pool_refill(&f->b);
  assert_ptr_equal(got, in[TR_POOL_BATCH - 1]);
  assert_int_equal(f->b.count, TR_POOL_BATCH - 1);
  for (uint32_t i = 0; i < f->b.count; i++)
    assert_ptr_equal(f->b.m[i], in[i]);
  assert_int_equal(dp->nbatches, 0);
  assert_non_null(dp->spare); /* the holder waits for the next spill */
  tr_batch_t *holder = dp->spare;
  f->b.m[f->b.count++] = got;
  fill(&f->b, NULL);
  tr__pool_spill(&f->b);
  assert_ptr_equal(dp->batches, holder);
  assert_null(dp->spare);
  /* A third pool takes that batch (a's oldest envelopes again); a fourth finds the depot
   * empty and allocates. */
  tr_pool_t c, e;
  tr__pool_init(&c, dp);
  tr__pool_init(&e, dp);
  assert_ptr_equal(tr__pool_refill(&c), in[TR_POOL_BATCH - 1]);
  c.m[c.count++] = in[TR_POOL_BATCH - 1];
  uint64_t before = atomic_load(&dp->envelopes);
  tr_msg_t *made = tr__pool_refill(&e);
  assert_non_null(made);
  assert_int_equal(e.count, 0);
  assert_int_equal(atomic_load(&dp->envelopes), before + 1);
  e.m[e.count++] = made;
  tr__pool_destroy(&c);
  tr__pool_destroy(&e);
}

/* Envelopes pass from a producer's pool to a consumer's and back through the depot many
 * times: every envelope is always in exactly one place. */
static void envelopes_cycle_between_pools_without_loss_or_duplicates(void **state) {
  fix_t *f = *state;
  enum { ROUNDS = 200, TOTAL = 2 * TR_POOL_HIGH };
  tr_depot_t *dp = &f->d;
  tr_pool_t *prod = &f->a, *cons = &f->b;
  tr_msg_t *all[TOTAL];
  for (int i = 0; i < TOTAL; i++)
    all[i] = fresh();
  atomic_store(&dp->envelopes, TOTAL);
  tr_msg_t *flight[TOTAL];
  int in_flight = TOTAL;
  for (int i = 0; i < TOTAL; i++)
    flight[i] = all[i];
  for (int r = 0; r < ROUNDS; r++) {
    /* The consumer frees what is in flight (spilling when full) ... */
    for (int i = 0; i < in_flight; i++) {
      if (cons->count == TR_POOL_HIGH)
        tr__pool_spill(cons);
      cons->m[cons->count++] = flight[i];
    }
    /* ... and the producer allocates as many again, from the depot when it runs dry. */
    int want = in_flight;
    in_flight = 0;
    for (int i = 0; i < want && (prod->count > 0 || dp->nbatches > 0); i++)
      flight[in_flight++] = prod->count ? prod->m[--prod->count] : tr__pool_refill(prod);
    /* The consumer's own allocations take what did not reach the depot. */
    while (in_flight < want && cons->count > 0)
      flight[in_flight++] = cons->m[--cons->count];
    assert_int_equal(in_flight, want);
  }
  /* Every envelope is somewhere, once: in flight or in the consumer's pool. */
  int seen = 0;
  for (int i = 0; i < TOTAL; i++) {
    int where = 0;
    for (int k = 0; k < in_flight; k++)
      where += flight[k] == all[i];
    for (uint32_t k = 0; k < cons->count; k++)
      where += cons->m[k] == all[i];
    for (uint32_t k = 0; k < prod->count; k++)
      where += prod->m[k] == all[i];
    assert_int_equal(where, 1);
    seen++;
  }
  assert_int_equal(seen, TOTAL);
  for (int k = 0; k < in_flight; k++)
    free(flight[k]);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(
          a_full_pool_spills_its_oldest_batch_and_an_empty_one_takes_it_back, setup, teardown),
      cmocka_unit_test_setup_teardown(envelopes_cycle_between_pools_without_loss_or_duplicates,
                                      setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
