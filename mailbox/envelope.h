/* Message envelopes and their per-thread pools.
 *
 * An envelope is one 64-byte block: the mailbox link, tag, sender, request reference, and
 * either the payload itself (up to TR_MSG_INLINE bytes: small messages need no allocation
 * but the envelope) or a pointer to it. Envelopes come from the pool of the thread that
 * sends and go back to the pool of the thread that handled them; pools exchange whole
 * batches through one shared depot, so a producer/consumer pair on two workers recycles
 * envelopes without a malloc or a lock per message. Threads that are not workers use
 * malloc/free directly; every envelope is an individual malloc block, so either may free it. */
#ifndef TR_MAILBOX_ENVELOPE_H
#define TR_MAILBOX_ENVELOPE_H

#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

#include "base/base.h"
#include "mailbox/mpsc.h"
#include "troupe/msg.h"

/* How the payload is stored. */
enum { TR_STORE_INLINE = 0, TR_STORE_HEAP = 1, TR_STORE_PTR = 2, TR_STORE_SHARED = 3 };

/* A payload that many envelopes carry at once (a group send's fan-out): one copy of the
 * bytes, freed when the last envelope lets go of it. The bytes never change once shared. */
typedef struct tr_shared {
  _Atomic uint32_t refs;
  unsigned char bytes[];
} tr_shared_t;

/* A shared copy of data[0..len) with `refs` references, or NULL when out of memory. */
static inline tr_shared_t *tr__shared_new(const void *data, size_t len, uint32_t refs) {
  tr_shared_t *s = (tr_shared_t *)malloc(sizeof *s + len);
  if (!s)
    return NULL;
  /* relaxed: the envelopes that carry it publish it (the mailbox push's release). */
  atomic_store_explicit(&s->refs, refs, memory_order_relaxed);
  if (len)
    memcpy(s->bytes, data, len);
  return s;
}

/* Drop `n` references taken but never handed to an envelope. */
static inline void tr__shared_unref(tr_shared_t *s, uint32_t n) {
  /* acq_rel: the release orders our reads of the bytes before the free; the acquire of the
   * last one (which frees) sees every other holder's reads done. */
  if (atomic_fetch_sub_explicit(&s->refs, n, memory_order_acq_rel) == n)
    free(s);
}

/* What the envelope is for; user messages are TR_KIND_USER. */
enum {
  TR_KIND_USER = 0,
  TR_KIND_INIT,   /* a spawn's init payload */
  TR_KIND_REPLY,  /* a reply (tr_reply): dropped by a client that no longer waits for it */
  TR_KIND_NUDGE,  /* no content: makes the actor run to look at its signals */
  TR_KIND_SIGNAL, /* on the signal lane: see actors/ */
  TR_KIND_TIMER,  /* an owned timer's expiry: checked by the owner (timers/) */
  TR_KIND_DOWN,   /* a monitor's DOWN: delivered only while the monitor is held */
};

/* A message's flags (tr_msg.sig of the kinds that are not signals). PIDS: the payload was
 * built from a format with the 'p' letter, so it is msgpack and its pid values are to be
 * translated when it crosses to another node; any other payload crosses untouched (it may
 * be RESP, text, anything, whose bytes must not be taken for pids). */
#define TR_MSGF_PIDS 1u
/* Sent by an actor to itself while it ran: its turn ends before it (actors/turn.c). */
#define TR_MSGF_SELF 2u

#define TR_MSG_SIZE 64
#define TR_MSG_HEADER 40
#define TR_MSG_INLINE (TR_MSG_SIZE - TR_MSG_HEADER)

struct tr_msg {
  tr_mq_node_t node; /* mailbox link; first, so a node pointer is an envelope pointer */
  tr_pid_t from;
  uint64_t ref;
  tr_atom_t tag;
  uint32_t len;  /* payload bytes (inline or heap) */
  uint8_t store; /* TR_STORE_* */
  uint8_t kind;  /* TR_KIND_* */
  uint16_t sig;  /* for TR_KIND_SIGNAL: which signal; for the others, TR_MSGF_* */
  uint32_t aux;  /* kind-specific */
  union {
    unsigned char bytes[TR_MSG_INLINE];
    void *heap;
    struct {
      void *ptr;
      void (*free_fn)(void *);
    } p;
  } u;
};
_Static_assert(sizeof(struct tr_msg) == TR_MSG_SIZE, "an envelope is one cache line");
_Static_assert(offsetof(struct tr_msg, u) == TR_MSG_HEADER, "header size");

/* Envelopes move between pools and the depot in batches of this many: big enough that the
 * depot lock is taken once per this many messages, small enough to bound idle memory. */
#define TR_POOL_BATCH 256u
/* A pool holding this many hands its oldest batch back to the depot. */
#define TR_POOL_HIGH (4u * TR_POOL_BATCH)

/* A batch in the depot: the envelopes' addresses, not a list through the envelopes, so that
 * neither handing a batch over nor taking it back reads or writes the envelopes themselves. */
typedef struct tr_batch {
  struct tr_batch *next;
  tr_msg_t *m[TR_POOL_BATCH];
} tr_batch_t;

typedef struct tr_depot {
  pthread_mutex_t mu;
  tr_batch_t *batches; /* full batches */
  tr_batch_t *spare;   /* emptied batch holders, for the next spill */
  size_t nbatches;
  _Atomic uint64_t envelopes; /* ever allocated and not yet freed to the system */
} tr_depot_t;

/* One worker's pool: touched only by its owner thread. A stack of envelope addresses, newest
 * on top. It holds addresses rather than linking the free envelopes through their first
 * word: a free envelope's line was last written by the thread that sent it, often on the
 * other core, and a list made the consumer write it (to link it) and the next sender read
 * it (to unlink it) before its own stores: a miss on the send path. With a stack, the
 * sender's stores are the first touch. */
typedef struct tr_pool {
  uint32_t count;
  tr_depot_t *depot;
  tr_msg_t *m[TR_POOL_HIGH];
} tr_pool_t;

void tr__depot_init(tr_depot_t *d);
void tr__depot_destroy(tr_depot_t *d); /* frees every envelope it holds */
void tr__pool_init(tr_pool_t *p, tr_depot_t *d);
void tr__pool_destroy(tr_pool_t *p); /* frees what it holds */

tr_msg_t *tr__pool_refill(tr_pool_t *p); /* slow path of alloc */
void tr__pool_spill(tr_pool_t *p);       /* slow path of free: makes room for one */

/* Under AddressSanitizer envelopes are not pooled: each goes back to free(), so the
 * sanitizer catches a use of a message after it was recycled. */
#if defined(__SANITIZE_ADDRESS__)
#define TR_MSG_POOLED 0
#else
#define TR_MSG_POOLED 1
#endif

/* An empty envelope from the pool (pool NULL: malloc). NULL when out of memory. Only the
 * link is initialised. */
static inline tr_msg_t *tr__msg_alloc(tr_pool_t *p) {
  if (!TR_MSG_POOLED)
    return (tr_msg_t *)malloc(sizeof(tr_msg_t));
  if (p && TR_LIKELY(p->count != 0))
    return p->m[--p->count];
  return p ? tr__pool_refill(p) : (tr_msg_t *)malloc(sizeof(tr_msg_t));
}

/* Free what the payload owns (heap bytes, or a pointer payload's free function), leaving the
 * envelope itself. */
static inline void tr__msg_release_payload(tr_msg_t *m) {
  if (TR_LIKELY(m->store == TR_STORE_INLINE))
    return;
  if (m->store == TR_STORE_HEAP)
    free(m->u.heap);
  else if (m->store == TR_STORE_SHARED)
    tr__shared_unref((tr_shared_t *)m->u.heap, 1);
  else if (m->u.p.free_fn && m->u.p.ptr)
    m->u.p.free_fn(m->u.p.ptr);
  m->store = TR_STORE_INLINE;
  m->len = 0;
}

/* Return an envelope whose payload was already released. */
static inline void tr__msg_recycle(tr_pool_t *p, tr_msg_t *m) {
  if (!TR_MSG_POOLED || !p) {
    free(m);
    return;
  }
  if (TR_UNLIKELY(p->count == TR_POOL_HIGH))
    tr__pool_spill(p);
  p->m[p->count++] = m;
}

static inline void tr__msg_free(tr_pool_t *p, tr_msg_t *m) {
  tr__msg_release_payload(m);
  tr__msg_recycle(p, m);
}

/* Fill the header and copy the payload in (inline when it fits, else into a malloc'd block).
 * Returns 0 or TR_ENOMEM (then m is untouched but for the header). */
static inline int tr__msg_fill(tr_msg_t *m, tr_atom_t tag, tr_pid_t from, const void *data,
                               size_t len) {
  m->from = from;
  m->ref = 0;
  m->tag = tag;
  m->len = (uint32_t)len;
  m->kind = TR_KIND_USER;
  m->sig = 0;
  m->aux = 0;
  if (TR_LIKELY(len <= TR_MSG_INLINE)) {
    m->store = TR_STORE_INLINE;
    if (len)
      memcpy(m->u.bytes, data, len);
    return 0;
  }
  void *h = malloc(len);
  if (!h)
    return TR_ENOMEM;
  memcpy(h, data, len);
  m->store = TR_STORE_HEAP;
  m->u.heap = h;
  return 0;
}

static inline const void *tr__msg_bytes(const tr_msg_t *m) {
  return m->store == TR_STORE_INLINE   ? (const void *)m->u.bytes
         : m->store == TR_STORE_HEAP   ? m->u.heap
         : m->store == TR_STORE_SHARED ? (const void *)((const tr_shared_t *)m->u.heap)->bytes
                                       : NULL;
}

#endif
