/* The I/O thread's timers: a binary min-heap by due time, with an index by id so that a
 * cancel finds its entry in O(1) and removes it in O(log n). 100,000 pending timers cost
 * 100,000 small entries and one libuv timer, not 100,000 libuv handles, as in libuv's own
 * loop, which keeps its timers in one heap too.
 *
 * An entry is embedded in its user's struct (timers/ keeps the message to send beside it)
 * and says what to do when it is due (`fire`) and how to let go of it if the system stops
 * first (`drop`). io.c runs the due entries and keeps the one uv_timer_t armed for the
 * earliest. Everything here is the I/O thread's, except tr__io_heap_discard, which runs on
 * the stopping thread once the loop's thread is gone. */
#ifndef TR_IO_HEAP_H
#define TR_IO_HEAP_H

#include <stdint.h>

#include "base/u64map.h"

struct tr_io;

typedef struct tr_io_timer {
  uint64_t id;  /* unique among pending entries: the key of tr__io_timer_find */
  uint64_t due; /* ns, on tr__now_ns's clock */
  uint32_t idx; /* position in the heap (the heap's own) */
  /* Due: the entry has left the heap. It may set a new `due` and add itself again (an
   * interval), or free itself. I/O thread. */
  void (*fire)(struct tr_io *io, struct tr_io_timer *t);
  /* The system stopped first: free the entry without firing. Stopping thread. */
  void (*drop)(struct tr_io_timer *t);
} tr_io_timer_t;

typedef struct tr_io_heap {
  tr_io_timer_t **a;
  uint32_t n, cap;
  tr_u64map_t by_id; /* id -> entry */
} tr_io_heap_t;

int tr__io_heap_init(tr_io_heap_t *h);
/* Drop every entry still pending (their `drop`), then free the heap. */
void tr__io_heap_discard(tr_io_heap_t *h);

int tr__io_heap_push(tr_io_heap_t *h, tr_io_timer_t *t);
void tr__io_heap_remove(tr_io_heap_t *h, tr_io_timer_t *t);
tr_io_timer_t *tr__io_heap_find(const tr_io_heap_t *h, uint64_t id);
/* The entry with the earliest due time, or NULL; it stays in the heap. */
static inline tr_io_timer_t *tr__io_heap_min(const tr_io_heap_t *h) {
  return h->n ? h->a[0] : NULL;
}

#endif
