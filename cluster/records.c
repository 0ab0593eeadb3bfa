/* What crosses a link and must end when it does (CLUSTER.md B11): the links between a
 * local and a remote actor, our monitors of its actors and its monitors of ours. Kept per
 * peer under its mutex by whoever queues or receives the signal; taken whole when the link
 * goes down, so every monitor of its actors delivers DOWN noconnection, every link an exit
 * signal noconnection, and its monitors of ours are dropped by their targets.
 *
 * A record may outlive what it records (an UNLINK and an EXIT crossing on the wire): the
 * actor layer ignores an exit from a pid it is not linked to and a DOWN for a monitor it
 * no longer holds, so a stale record costs one signal and changes nothing. */
#include <string.h>

#include "cluster/cluster.h"

/* ---- a set of pid pairs: open addressing, linear probing ---- */

#define PAIR_TOMB UINT64_MAX

static uint64_t pair_hash(uint64_t a, uint64_t b) {
  uint64_t h = a * 0x9E3779B97F4A7C15ull ^ (b + 0x632BE59BD9B4E019ull + (a << 6) + (a >> 2));
  h ^= h >> 31;
  h *= 0xBF58476D1CE4E5B9ull;
  return h ^ (h >> 29);
}

static int pairs_grow(tr_pairs_t *s) {
  uint32_t cap = s->cap ? s->cap * 2 : 16;
  if (s->count * 4 < s->cap) /* mostly tombstones: rebuild at the same size */
    cap = s->cap;
  struct tr_pair *slot = calloc(cap, sizeof *slot);
  if (!slot)
    return TR_ENOMEM;
  for (uint32_t i = 0; i < s->cap; i++) {
    struct tr_pair e = s->slot[i];
    if (e.a == 0 || e.a == PAIR_TOMB)
      continue;
    uint32_t j = (uint32_t)pair_hash(e.a, e.b) & (cap - 1);
    while (slot[j].a)
      j = (j + 1) & (cap - 1);
    slot[j] = e;
  }
  free(s->slot);
  s->slot = slot;
  s->cap = cap;
  s->used = s->count;
  return 0;
}

static struct tr_pair *pairs_find(const tr_pairs_t *s, uint64_t a, uint64_t b) {
  if (!s->cap)
    return NULL;
  for (uint32_t j = (uint32_t)pair_hash(a, b) & (s->cap - 1);; j = (j + 1) & (s->cap - 1)) {
    struct tr_pair *e = &s->slot[j];
    if (e->a == 0)
      return NULL;
    if (e->a == a && e->b == b)
      return e;
  }
}

int tr__pairs_add(tr_pairs_t *s, uint64_t a, uint64_t b) {
  if (a == 0 || a == PAIR_TOMB)
    return TR_EINVAL;
  if (pairs_find(s, a, b))
    return 0;
  if ((s->used + 1) * 4 > s->cap * 3) {
    int rc = pairs_grow(s);
    if (rc)
      return rc;
  }
  uint32_t j = (uint32_t)pair_hash(a, b) & (s->cap - 1);
  while (s->slot[j].a && s->slot[j].a != PAIR_TOMB)
    j = (j + 1) & (s->cap - 1);
  if (s->slot[j].a == 0)
    s->used++;
  s->slot[j] = (struct tr_pair){a, b};
  s->count++;
  return 0;
}

bool tr__pairs_del(tr_pairs_t *s, uint64_t a, uint64_t b) {
  struct tr_pair *e = pairs_find(s, a, b);
  if (!e)
    return false;
  e->a = PAIR_TOMB;
  e->b = 0;
  s->count--;
  return true;
}

void tr__pairs_free(tr_pairs_t *s) {
  free(s->slot);
  memset(s, 0, sizeof *s);
}

/* ---- the end of a link ---- */

void tr__request_noconn(tr_ctx_t *ctx, tr_pid_t requester, uint64_t ref) {
  tr__request_fail(ctx, requester, ref, TR_REPLY_NOCONN, "noconnection");
}

void tr__records_down(tr_peer_t *p, tr_ctx_t *ctx) {
  tr__out_lock(p);
  tr_pairs_t links = p->links;
  tr_u64map_t ow = p->mon_out_w, ot = p->mon_out_t, iw = p->mon_in_w, it = p->mon_in_t;
  memset(&p->links, 0, sizeof p->links);
  memset(&p->mon_out_w, 0, sizeof p->mon_out_w);
  memset(&p->mon_out_t, 0, sizeof p->mon_out_t);
  memset(&p->mon_in_w, 0, sizeof p->mon_in_w);
  memset(&p->mon_in_t, 0, sizeof p->mon_in_t);
  tr_u64map_t rq = p->reqs, rq_old = p->reqs_old;
  memset(&p->reqs, 0, sizeof p->reqs);
  memset(&p->reqs_old, 0, sizeof p->reqs_old);
  tr__out_unlock(p);

  tr_reason_t noconn = {.kind = TR_REASON_NOCONNECTION};
  snprintf(noconn.text, sizeof noconn.text, "%.40s", p->name);
  for (uint32_t i = 0; i < links.cap; i++) {
    struct tr_pair e = links.slot[i];
    if (e.a && e.a != PAIR_TOMB)
      tr__signal_push_from(ctx, (tr_pid_t){e.a}, (tr_pid_t){e.b}, TR_SIG_EXIT, TR_EXITF_LINK, 0,
                           &noconn);
  }
  uint32_t i = 0;
  uint64_t ref, w, t;
  while (tr__u64map_next(&ow, &i, &ref, &w))
    if (tr__u64map_get(&ot, ref, &t))
      tr__down_deliver(ctx, (tr_pid_t){w}, ref, (tr_pid_t){t}, &noconn);
  i = 0;
  while (tr__u64map_next(&it, &i, &ref, &t))
    if (tr__u64map_get(&iw, ref, &w))
      tr__signal_push_from(ctx, (tr_pid_t){t}, (tr_pid_t){w}, TR_SIG_DEMONITOR, 0, ref, NULL);
  /* Requests fail now rather than at their timeout: a TIMEOUT reply with their reference,
   * marked so that a client's tr_client_request returns TR_ENOCONN. */
  for (tr_u64map_t *q = &rq; q; q = q == &rq ? &rq_old : NULL) {
    i = 0;
    while (tr__u64map_next(q, &i, &ref, &w))
      tr__request_noconn(ctx, (tr_pid_t){w}, ref);
    tr__u64map_free(q);
  }
  tr__pairs_free(&links);
  tr__u64map_free(&ow);
  tr__u64map_free(&ot);
  tr__u64map_free(&iw);
  tr__u64map_free(&it);
}
