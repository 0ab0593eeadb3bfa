/* Memory for actors: per-worker free lists by size class, carved from large slabs, with a
 * shared depot that hands whole batches between workers.
 *
 * Why not malloc: an actor is usually freed by another worker than the one that made it (it
 * was stolen, or reclaimed where it died). With malloc that is a cross-arena free, which
 * takes the other arena's lock and strands memory there; a spawn-heavy workload spends a
 * quarter of its time in the allocator. Here a worker frees into its own list; lists past a
 * high mark give a batch to the depot, empty lists take one back. Blocks carry no header,
 * so a million small actors cost exactly their size. Slabs are returned to the system only
 * when the system is freed. Blocks larger than the biggest class come from malloc.
 *
 * Size classes: 16..1024 bytes in steps of 16, then 2 KiB..32 KiB in steps of 1 KiB (an
 * actor with a buffer in its state, as a chat session with its output line is): with
 * malloc, such blocks, line-aligned, left holes between the envelopes and other small
 * allocations of a wave of connections that the next wave's blocks did not fit, and each
 * wave of a few thousand connections took megabytes more. Batches and the per-worker mark
 * are counted in bytes for the large classes, so that one idle worker keeps little. */
#ifndef TR_ACTORS_ALLOC_H
#define TR_ACTORS_ALLOC_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#define TR_ALLOC_ALIGN 16u
#define TR_ALLOC_SMALL_CLASSES 64u /* sizes 16..1024 in steps of 16 */
#define TR_ALLOC_SMALL_MAX (TR_ALLOC_SMALL_CLASSES * TR_ALLOC_ALIGN)
#define TR_ALLOC_BIG_STEP 1024u /* then 2048..TR_ALLOC_MAX in steps of this */
#define TR_ALLOC_MAX ((size_t)32 << 10)
#define TR_ALLOC_CLASSES (TR_ALLOC_SMALL_CLASSES + TR_ALLOC_MAX / TR_ALLOC_BIG_STEP - 1u)
#define TR_ALLOC_SLAB ((size_t)256 << 10) /* bytes carved at a time: 2^18 */
#define TR_ALLOC_BATCH 64u /* blocks moved between a worker and the depot at once (small) */
#define TR_ALLOC_HIGH 256u /* a worker keeps at most this many free blocks per class (small) */
/* The large classes' batch and mark, in bytes. */
#define TR_ALLOC_BIG_BATCH_BYTES ((size_t)64 << 10)
#define TR_ALLOC_BIG_HIGH_BYTES ((size_t)256 << 10)

/* Under AddressSanitizer every block comes from malloc and goes back to free, so that the
 * sanitizer's quarantine catches a use of an actor after it was freed. */
#if defined(__SANITIZE_ADDRESS__)
#define TR_ALLOC_POOLED 0
#else
#define TR_ALLOC_POOLED 1
#endif

typedef struct tr_alloc_block {
  struct tr_alloc_block *next;
  struct tr_alloc_block *next_batch; /* in the depot: the next batch */
  uint32_t n;                        /* in the depot: blocks in this batch */
} tr_alloc_block_t;

/* One worker's lists: touched only by that worker. */
typedef struct tr_alloc_local {
  tr_alloc_block_t *free[TR_ALLOC_CLASSES];
  uint32_t count[TR_ALLOC_CLASSES];
} tr_alloc_local_t;

typedef struct tr_alloc {
  pthread_mutex_t mu; /* guards everything below */
  tr_alloc_block_t *batches[TR_ALLOC_CLASSES];
  tr_alloc_local_t foreign; /* the lists of threads that are not workers */
  char *carve, *carve_end;  /* the slab being carved */
  void **slabs;
  size_t nslabs, slabs_cap;
  size_t bytes; /* slab bytes held */
} tr_alloc_t;

int tr__alloc_init(tr_alloc_t *a);
void tr__alloc_destroy(tr_alloc_t *a);

/* local: the calling worker's lists, or NULL on other threads (which then take the lock).
 * NULL when out of memory. */
void *tr__alloc(tr_alloc_t *a, tr_alloc_local_t *local, size_t size);
void tr__alloc_free(tr_alloc_t *a, tr_alloc_local_t *local, void *p, size_t size);

#endif
