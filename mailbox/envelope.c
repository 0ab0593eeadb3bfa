/* Envelope pools: the slow paths (refill from the depot or malloc, spill a batch to the
 * depot), and the public accessors of a received message. */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "mailbox/envelope.h"
#include "mailbox/pack_internal.h"

void tr__depot_init(tr_depot_t *d) {
  pthread_mutex_init(&d->mu, NULL);
  d->batches = NULL;
  d->spare = NULL;
  d->nbatches = 0;
  atomic_store_explicit(&d->envelopes, 0, memory_order_relaxed);
}

/* Free a list of batch holders and, for full ones, their envelopes. */
static void free_holders(tr_batch_t *b, bool full) {
  while (b) {
    tr_batch_t *next = b->next;
    for (uint32_t i = 0; full && i < TR_POOL_BATCH; i++)
      free(b->m[i]);
    free(b);
    b = next;
  }
}

void tr__depot_destroy(tr_depot_t *d) {
  free_holders(d->batches, true);
  free_holders(d->spare, false);
  d->batches = d->spare = NULL;
  d->nbatches = 0;
  pthread_mutex_destroy(&d->mu);
}

void tr__pool_init(tr_pool_t *p, tr_depot_t *d) {
  p->count = 0;
  p->depot = d;
}

/* The pool is full: its oldest batch (the bottom of the stack, the coldest envelopes) goes to
 * the depot and the rest moves down. Without memory for a holder, the batch is freed. */
void tr__pool_spill(tr_pool_t *p) {
  tr_depot_t *d = p->depot;
  pthread_mutex_lock(&d->mu);
  tr_batch_t *b = d->spare;
  if (b)
    d->spare = b->next;
  pthread_mutex_unlock(&d->mu);
  if (!b)
    b = malloc(sizeof *b);
  if (b) {
    memcpy(b->m, p->m, sizeof b->m);
  } else {
    for (uint32_t i = 0; i < TR_POOL_BATCH; i++)
      free(p->m[i]);
    atomic_fetch_sub_explicit(&d->envelopes, TR_POOL_BATCH, memory_order_relaxed);
  }
  p->count -= TR_POOL_BATCH;
  memmove(p->m, p->m + TR_POOL_BATCH, p->count * sizeof p->m[0]);
  if (!b)
    return;
  pthread_mutex_lock(&d->mu);
  b->next = d->batches;
  d->batches = b;
  d->nbatches++;
  pthread_mutex_unlock(&d->mu);
}

tr_msg_t *tr__pool_refill(tr_pool_t *p) {
  tr_depot_t *d = p->depot;
  pthread_mutex_lock(&d->mu);
  tr_batch_t *b = d->batches;
  if (b) {
    d->batches = b->next;
    d->nbatches--;
    memcpy(p->m, b->m, sizeof b->m); /* the pool is empty: the batch becomes its bottom */
    b->next = d->spare;
    d->spare = b;
  }
  pthread_mutex_unlock(&d->mu);
  if (b) {
    p->count = TR_POOL_BATCH - 1;
    return p->m[TR_POOL_BATCH - 1];
  }
  tr_msg_t *m = malloc(sizeof(tr_msg_t));
  if (m)
    atomic_fetch_add_explicit(&d->envelopes, 1, memory_order_relaxed); /* statistics only */
  return m;
}

void tr__pool_destroy(tr_pool_t *p) {
  for (uint32_t i = 0; i < p->count; i++)
    free(p->m[i]);
  if (p->depot)
    atomic_fetch_sub_explicit(&p->depot->envelopes, p->count, memory_order_relaxed);
  p->count = 0;
}

/* ---- public accessors ---- */

tr_atom_t tr_msg_tag(const tr_msg_t *m) { return m->tag; }
tr_pid_t tr_msg_from(const tr_msg_t *m) { return m->from; }
uint64_t tr_msg_ref(const tr_msg_t *m) { return m->ref; }

const void *tr_msg_data(const tr_msg_t *m, size_t *len) {
  const void *b = tr__msg_bytes(m);
  if (len)
    *len = b ? m->len : 0;
  return b;
}

void *tr_msg_ptr(const tr_msg_t *m) { return m->store == TR_STORE_PTR ? m->u.p.ptr : NULL; }

void *tr_msg_take_ptr(const tr_msg_t *m) {
  if (m->store != TR_STORE_PTR)
    return NULL;
  /* The handler takes ownership: the envelope forgets the pointer so the runtime does not
   * free it. The envelope is the runtime's, handed out const only to keep handlers from
   * changing anything else. */
  tr_msg_t *mm = (tr_msg_t *)m;
  void *p = mm->u.p.ptr;
  mm->u.p.ptr = NULL;
  return p;
}

int tr_msg_unpack(const tr_msg_t *m, const char *fmt, ...) {
  const void *data = tr__msg_bytes(m); /* as tr_msg_data, without the call */
  size_t len = m->len;
  if (!data)
    return TR_ETYPE;
  va_list ap;
  va_start(ap, fmt);
  int rc;
  size_t pos = 0;
  uint64_t v;
  if (tr__fmt_is_u(fmt) && tr__mp_get_uint(data, len, &pos, &v) && pos == len) {
    /* One unsigned integer and nothing after it: read here, without the walk's call. */
    uint64_t *out = va_arg(ap, uint64_t *);
    rc = TR_EINVAL; /* a NULL pointer, as the walk answers it */
    if (out) {
      *out = v;
      rc = 0;
    }
  } else {
    rc = tr_vunpack(data, len, NULL, fmt, ap);
  }
  va_end(ap);
  return rc;
}

int tr_msg_uint(const tr_msg_t *m, uint64_t *out) {
  if (TR_LIKELY(m->store == TR_STORE_INLINE && out != NULL)) {
    const uint8_t *d = m->u.bytes; /* inline: at least TR_MSG_INLINE bytes to read */
    uint32_t len = m->len;
    uint8_t t = d[0];
    if (len == 1 && t <= 0x7f) {
      *out = t;
      return 0;
    }
    if (t >= 0xcc && t <= 0xcf && len == 1u + (1u << (t - 0xcc))) { /* uint 8, 16, 32, 64 */
      *out = tr__mp_load_be(d + 1, len - 1);
      return 0;
    }
  }
  return tr_msg_unpack(m, "u", out); /* anything else: the general answer, and its error */
}

void tr_msg_free(tr_msg_t *m) {
  if (!m)
    return;
  tr__msg_release_payload(m);
  free(m);
}
