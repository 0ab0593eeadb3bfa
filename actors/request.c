/* Requests between actors (tr_request): a reference the reply must carry, and a timeout
 * that turns into a TR_ATOM_TIMEOUT message when no reply came in time. The bookkeeping is
 * the requester's own, in its ext block, touched only on its worker: a reply is admitted
 * only while its request is pending, so a late reply is dropped, and a timeout only while
 * no reply came.
 *
 * Cost. A request must cost little more than the message it is, so nothing per request
 * touches the clock's heap, a hash map or the allocator. Pending requests are a ring in the
 * order they were made (tr_requests_t, actor.h), which is also the order of their
 * references (they come from one increasing counter), so a reply finds its entry by binary
 * search. One owned timer, armed for the earliest deadline, checks the ring; replies do not
 * cancel it (lazy cancellation): when it fires it times out what is past its deadline and
 * re-arms for the earliest deadline left, if any. With one request in flight and a fixed
 * timeout that is one timer expiry per timeout period, whatever the request rate. */
#include <string.h>

#include "actors/clock.h"

#define NS_PER_MS UINT64_C(1000000)

static tr_pending_t *at(tr_requests_t *q, uint32_t i) {
  return &q->ring[(q->head + i) & (q->cap - 1)];
}

static int grow(tr_requests_t *q) {
  uint32_t cap = q->cap ? q->cap * 2 : 8;
  tr_pending_t *r = malloc(cap * sizeof *r);
  if (!r)
    return TR_ENOMEM;
  for (uint32_t i = 0; i < q->len; i++)
    r[i] = *at(q, i);
  free(q->ring);
  q->ring = r;
  q->head = 0;
  q->cap = cap;
  return 0;
}

/* Drop answered and expired entries from the front. */
static void trim(tr_requests_t *q) {
  while (q->len && at(q, 0)->deadline == 0) {
    q->head = (q->head + 1) & (q->cap - 1);
    q->len--;
  }
}

/* The pending entry of ref, or NULL (answered, expired, or never ours). */
static tr_pending_t *find(tr_requests_t *q, uint64_t ref) {
  uint32_t lo = 0, hi = q->len;
  while (lo < hi) {
    uint32_t mid = lo + (hi - lo) / 2;
    tr_pending_t *p = at(q, mid);
    if (p->ref == ref)
      return p->deadline ? p : NULL;
    if (p->ref < ref)
      lo = mid + 1;
    else
      hi = mid;
  }
  return NULL;
}

static void settle(tr_requests_t *q, tr_pending_t *p) {
  p->deadline = 0;
  q->live--;
  trim(q);
}

/* Arm the timer for `due` (ns), replacing one armed for later. */
static int arm(tr_ctx_t *ctx, tr_requests_t *q, uint64_t due, uint64_t now) {
  if (q->timer && q->timer_due <= due)
    return 0;
  if (q->timer)
    tr__owned_drop(ctx, q->timer);
  tr_timer_req_t t = {.id = TR__NEXT_REF(ctx->sys),
                      .ms = due > now ? (due - now + NS_PER_MS - 1) / NS_PER_MS : 0,
                      .to = ctx->self->pid,
                      .tag = TR_ATOM_TIMEOUT,
                      .purpose = TR_TP_REQUEST};
  q->timer = 0;
  int rc = tr__owned_start(ctx, &t, 0);
  if (rc == 0) {
    q->timer = t.id;
    q->timer_due = now + t.ms * NS_PER_MS;
  }
  return rc;
}

int tr__request_begin(tr_ctx_t *ctx, uint64_t timeout_ms, uint64_t *ref) {
  tr_actor_ext_t *x = tr__actor_ext(ctx->self);
  if (!x)
    return TR_ENOMEM;
  tr_requests_t *q = &x->requests;
  if (q->len == q->cap && grow(q) != 0)
    return TR_ENOMEM;
  uint64_t now = tr__now_ns(), r = TR__NEXT_REF(ctx->sys);
  uint64_t deadline = now + timeout_ms * NS_PER_MS;
  int rc = arm(ctx, q, deadline, now);
  if (rc)
    return rc;
  *at(q, q->len++) = (tr_pending_t){r, deadline};
  q->live++;
  *ref = r;
  return 0;
}

void tr__request_abort(tr_ctx_t *ctx, uint64_t ref) {
  tr_actor_ext_t *x = atomic_load_explicit(&ctx->self->ext, memory_order_acquire);
  tr_pending_t *p = x ? find(&x->requests, ref) : NULL;
  if (p)
    settle(&x->requests, p);
}

int tr_request(tr_ctx_t *ctx, tr_pid_t to, tr_atom_t tag, const void *data, size_t len,
               uint64_t timeout_ms, uint64_t *ref) {
  if (!tr__in_handler(ctx) || !ref || timeout_ms > TR_TIMER_MAX_MS || (len && !data))
    return TR_EINVAL;
  uint64_t r;
  int rc = tr__request_begin(ctx, timeout_ms, &r);
  if (rc)
    return rc;
  if ((rc = tr__send(ctx, to, tag, data, len, r, TR_KIND_USER)) != 0) {
    tr__request_abort(ctx, r);
    return rc;
  }
  *ref = r;
  return 0;
}

void tr__request_fail(tr_ctx_t *ctx, tr_pid_t requester, uint64_t ref, uint32_t why,
                      const char *text) {
  uint8_t payload[32];
  size_t n = strlen(text);
  if (n > sizeof payload - 1)
    n = sizeof payload - 1;
  payload[0] = (uint8_t)(0xa0 | n); /* a msgpack fixstr */
  memcpy(payload + 1, text, n);
  tr_msg_t *m = tr__msg_alloc(tr__ctx_pool(ctx));
  if (!m || tr__msg_fill(m, TR_ATOM_TIMEOUT, TR_PID_NONE, payload, n + 1) != 0) {
    if (m)
      tr__msg_recycle(tr__ctx_pool(ctx), m);
    return; /* no envelope: the request still times out at its deadline */
  }
  m->kind = TR_KIND_REPLY;
  m->ref = ref;
  m->aux = why;
  tr__deliver(ctx, requester, m);
}

bool tr__reply_admit(tr_ctx_t *ctx, tr_actor_t *a, const tr_msg_t *m) {
  (void)ctx;
  tr_actor_ext_t *x = atomic_load_explicit(&a->ext, memory_order_acquire);
  tr_pending_t *p = x ? find(&x->requests, m->ref) : NULL;
  if (!p)
    return false; /* late: its request timed out already */
  settle(&x->requests, p);
  return true;
}

bool tr__request_expired(tr_ctx_t *ctx, tr_actor_t *a, tr_msg_t *m) {
  tr_actor_ext_t *x = atomic_load_explicit(&a->ext, memory_order_acquire);
  tr_requests_t *q = &x->requests;
  if (m->ref != q->timer)
    return false; /* a timer replaced by an earlier one */
  q->timer = 0;
  uint64_t now = tr__now_ns(), next = UINT64_MAX, first = 0;
  for (uint32_t i = 0; i < q->len; i++) {
    tr_pending_t *p = at(q, i);
    if (p->deadline == 0)
      continue;
    if (p->deadline > now) {
      next = p->deadline < next ? p->deadline : next;
      continue;
    }
    p->deadline = 0;
    q->live--;
    if (!first) /* the expiry itself becomes the first TIMEOUT */
      first = p->ref;
    else if (tr__send(ctx, a->pid, TR_ATOM_TIMEOUT, NULL, 0, p->ref, TR_KIND_USER) != 0)
      tr_log(TR_LOG_WARN, "cannot deliver a request's timeout");
  }
  trim(q);
  if (next != UINT64_MAX && arm(ctx, q, next, now) != 0)
    tr_log(TR_LOG_WARN, "cannot re-arm the requests' timer");
  if (!first)
    return false;
  m->ref = first;
  return true;
}
