/* Giving the heap back: what a burst freed goes back to the system once the node is idle.
 *
 * glibc's malloc keeps the memory that free() returns for the next malloc; it gives pages
 * back by itself only from the top of an arena. A server that had a burst (pub/sub's
 * fan-out to a thousand readers slower than the writers, output queued in blocks allocated
 * by every worker and freed by the I/O thread) frees hundreds of megabytes in chunks that
 * sit between live ones, and without a trim its RSS stayed at each burst's peak and crept
 * up from burst to burst (260 MB, then 610 MB after eight; BENCHMARKS.md). Go's runtime
 * scavenges freed memory in the background for the same reason.
 *
 * Every TR_TRIM_TICK_MS the I/O thread looks at the scheduler: when every worker was asleep
 * at this look and the one before and the I/O thread ran no command in between, the
 * node is idle, and only then it asks malloc how much it holds free (mallinfo2, which walks
 * the arenas under their locks: cheap when idle, not something to do under load). It trims
 * (malloc_trim, which gives back every whole free page) when that is at least
 * TR_TRIM_SLACK bytes and either has grown by TR_TRIM_SLACK since the least seen since the
 * last trim, or the RSS has grown by TR_TRIM_SLACK since that trim (a burst reused the free
 * chunks and freed them again). An idle node whose heap does not change is never trimmed
 * twice. Only with glibc; elsewhere this does nothing. */
#include <stdio.h>

#include "io/io.h"

#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 33))
#include <malloc.h>
#include <unistd.h>
#define TR_TRIM 1
#else
#define TR_TRIM 0
#endif

#if TR_TRIM
/* The resident set, from /proc/self/statm (no lock, one small read). 0 when unreadable. */
static size_t rss_bytes(void) {
  FILE *f = fopen("/proc/self/statm", "r");
  if (!f)
    return 0;
  unsigned long size = 0, resident = 0;
  int got = fscanf(f, "%lu %lu", &size, &resident);
  fclose(f);
  return got == 2 ? (size_t)resident * (size_t)sysconf(_SC_PAGESIZE) : 0;
}

static void on_tick(uv_timer_t *h) {
  tr_io_t *io = h->data;
  struct tr_io_trim *t = &io->trim;
  tr_sched_t *s = &io->sys->sched;
  uint64_t ran = io->ran;
  bool idle = atomic_load_explicit(&s->idle.sleeping, memory_order_relaxed) == s->n;
  bool quiet = idle && t->was_idle && ran == t->ran;
  t->was_idle = idle;
  t->ran = ran;
  if (!quiet)
    return;
  size_t free_bytes = mallinfo2().fordblks;
  if (free_bytes < t->free_low)
    t->free_low = free_bytes;
  if (free_bytes < TR_TRIM_SLACK)
    return;
  size_t rss = rss_bytes();
  if (free_bytes < t->free_low + TR_TRIM_SLACK && rss < t->rss_after + TR_TRIM_SLACK)
    return;
  malloc_trim(0);
  atomic_fetch_add_explicit(&t->trims, 1, memory_order_relaxed);
  t->free_low = mallinfo2().fordblks;
  t->rss_after = rss_bytes();
}
#endif

void tr__io_trim_init(tr_io_t *io) {
  struct tr_io_trim *t = &io->trim;
  uv_timer_init(&io->loop, &t->timer); /* closed with the loop's other handles */
  t->timer.data = io;
  uv_unref((uv_handle_t *)&t->timer); /* it never keeps the loop alive by itself */
#if TR_TRIM
  uv_timer_start(&t->timer, on_tick, TR_TRIM_TICK_MS, TR_TRIM_TICK_MS);
#endif
}
