/* The heap trim (io/trim.c): memory freed in a burst goes back to the system once the node
 * is idle, where glibc alone would keep it resident for good. Built only without a
 * sanitizer: under ASan and TSan malloc is the sanitizer's, which glibc's trim cannot give
 * back (tests/CMakeLists.txt). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "io/io.h"
#include "troupe.h"

enum {
  BLOCKS = 2000,
  BLOCK = 60 * 1024, /* below malloc's mmap threshold: from the heap, not its own mapping */
};
#define HELD_MIN ((size_t)80 << 20) /* what the freed blocks must keep resident before a trim */

static size_t rss_bytes(void) {
  FILE *f = fopen("/proc/self/statm", "r");
  assert_non_null(f);
  unsigned long size = 0, resident = 0;
  assert_int_equal(fscanf(f, "%lu %lu", &size, &resident), 2);
  fclose(f);
  return (size_t)resident * (size_t)sysconf(_SC_PAGESIZE);
}

static void sleep_ms(long ms) {
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

/* Blocks with a small live allocation after each, then the blocks freed: free chunks between
 * live ones, which malloc does not give back by itself (only the top of a heap). The idle
 * node's I/O thread trims within a few of its ticks, and the RSS falls by what was freed. */
static void memory_a_burst_freed_goes_back_once_the_node_is_idle(void **state) {
  (void)state;
  tr_config_t cfg;
  tr_config_init(&cfg);
  cfg.workers = 2;
  tr_system_t *sys;
  assert_int_equal(tr_system_new(&cfg, &sys), 0);
  void **big = calloc(BLOCKS, sizeof *big), **small = calloc(BLOCKS, sizeof *small);
  assert_non_null(big);
  assert_non_null(small);
  size_t base = rss_bytes();
  for (int i = 0; i < BLOCKS; i++) {
    big[i] = malloc(BLOCK);
    small[i] = malloc(32);
    assert_non_null(big[i]);
    assert_non_null(small[i]);
    memset(big[i], 0x5a, BLOCK); /* resident */
  }
  for (int i = 0; i < BLOCKS; i++)
    free(big[i]);
  size_t held = rss_bytes();
  /* The premise: without the trim, the freed blocks stay resident. */
  assert_true(held > base + HELD_MIN);
  size_t now = held;
  for (int waited = 0; waited < 15000 && now > held - HELD_MIN; waited += 100) {
    sleep_ms(100);
    now = rss_bytes();
  }
  printf("rss: %zu KiB before, %zu KiB with the blocks freed, %zu KiB after the trim\n", base >> 10,
         held >> 10, now >> 10);
  assert_true(now <= held - HELD_MIN);
  assert_true(atomic_load_explicit(&sys->io->trim.trims, memory_order_relaxed) >= 1);
  for (int i = 0; i < BLOCKS; i++)
    free(small[i]);
  free(big);
  free(small);
  tr_system_free(sys);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(memory_a_burst_freed_goes_back_once_the_node_is_idle),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
