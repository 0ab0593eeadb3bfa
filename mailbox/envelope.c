/* Envelope pools: the slow paths (refill from the depot or malloc, spill a batch to the
 * depot), and the public accessors of a received message. */
#include "mailbox/envelope.h"

void tr__depot_init(tr_depot_t *d) {
  pthread_mutex_init(&d->mu, NULL);
  d->batches = NULL;
  d->nbatches = 0;
  atomic_store_explicit(&d->envelopes, 0, memory_order_relaxed);
}

static void free_chain(tr_msg_t *m) {
  while (m) {
    tr_msg_t *next = (tr_msg_t *)atomic_load_explicit(&m->node.next, memory_order_relaxed);
    free(m);
    m = next;
  }
}

void tr__depot_destroy(tr_depot_t *d) {
  tr_msg_t *b = d->batches;
  while (b) {
    tr_msg_t *nb = b->u.heap;
    free_chain(b);
    b = nb;
  }
  d->batches = NULL;
  d->nbatches = 0;
  pthread_mutex_destroy(&d->mu);
}

void tr__pool_init(tr_pool_t *p, tr_depot_t *d) {
  p->free = NULL;
  p->count = 0;
  p->depot = d;
}

/* Detach the first TR_POOL_BATCH envelopes of the pool's list as one batch. */
static tr_msg_t *cut_batch(tr_pool_t *p) {
  tr_msg_t *first = p->free, *last = first;
  for (uint32_t i = 1; i < TR_POOL_BATCH; i++)
    last = (tr_msg_t *)atomic_load_explicit(&last->node.next, memory_order_relaxed);
  p->free = (tr_msg_t *)atomic_load_explicit(&last->node.next, memory_order_relaxed);
  atomic_store_explicit(&last->node.next, NULL, memory_order_relaxed);
  p->count -= TR_POOL_BATCH;
  return first;
}

void tr__pool_spill(tr_pool_t *p) {
  tr_depot_t *d = p->depot;
  tr_msg_t *b = cut_batch(p);
  pthread_mutex_lock(&d->mu);
  b->u.heap = d->batches;
  d->batches = b;
  d->nbatches++;
  pthread_mutex_unlock(&d->mu);
}

tr_msg_t *tr__pool_refill(tr_pool_t *p) {
  tr_depot_t *d = p->depot;
  tr_msg_t *b = NULL;
  pthread_mutex_lock(&d->mu);
  if (d->batches) {
    b = d->batches;
    d->batches = b->u.heap;
    d->nbatches--;
  }
  pthread_mutex_unlock(&d->mu);
  if (b) {
    p->free = (tr_msg_t *)atomic_load_explicit(&b->node.next, memory_order_relaxed);
    p->count = TR_POOL_BATCH - 1;
    return b;
  }
  tr_msg_t *m = malloc(sizeof(tr_msg_t));
  if (m)
    atomic_fetch_add_explicit(&d->envelopes, 1, memory_order_relaxed); /* statistics only */
  return m;
}

void tr__pool_destroy(tr_pool_t *p) {
  free_chain(p->free);
  if (p->depot)
    atomic_fetch_sub_explicit(&p->depot->envelopes, p->count, memory_order_relaxed);
  p->free = NULL;
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
  int rc = tr_vunpack(data, len, NULL, fmt, ap);
  va_end(ap);
  return rc;
}

void tr_msg_free(tr_msg_t *m) {
  if (!m)
    return;
  tr__msg_release_payload(m);
  free(m);
}
