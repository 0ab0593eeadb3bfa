/* The publisher's fan-out: the pushes of the PUBLISH commands of one read, gathered per
 * subscriber and sent as one message each.
 *
 * A pipelining publisher's read holds hundreds of PUBLISH commands. Sending every push on its
 * own would cost a message (an envelope, a mailbox exchange, a turn's handling) per push
 * and subscriber; instead the session appends each push to a buffer per subscriber, in the
 * order published, and sends each buffer once: when the read's commands are done, or before
 * any command that is not a publish (so that its effects and replies keep their order).
 * Order per publisher and subscriber is kept (a buffer holds one subscriber's pushes in
 * publish order, across channels and patterns), which is the order Redis gives.
 *
 * Replies. A PUBLISH replies with the number of receivers its push was delivered to. The
 * count is known only when the buffers are sent (a subscriber may have gone meanwhile), so
 * the replies of the gathered publishes are written then, in order, right after the sends;
 * no other reply can come between them, because any other command sends the buffers first.
 * A buffer that reaches nobody takes back one receiver from each publish it carried. */
#include <string.h>

#include "session.h"

/* Subscribers one read's publishes may reach before the buffers are sent early: bounds the
 * session's memory for a publisher that fans out to very many sessions in one read. */
#define FAN_MAX 4096u
/* First allocation of a subscriber's buffer: the biggest of the last flush, between these
 * bounds, so a steady load allocates once per buffer and does not grow it. */
#define FAN_HINT_MIN ((size_t)16 << 10)
#define FAN_HINT_MAX ((size_t)256 << 10)
/* Bytes of pushes gathered before the buffers are sent early. */
#define FAN_BYTES ((size_t)32 << 20)

static uint32_t hash_pid(tr_pid_t p, uint32_t mask) {
  uint64_t h = p.id * 0x9E3779B97F4A7C15ull;
  return (uint32_t)(h >> 40) & mask;
}

/* The buffer of subscriber `to`, created on first use. NULL when out of memory. */
static ps_fan_t *fan_of(ps_fanout_t *f, tr_pid_t to) {
  if (f->nidx == 0 || (f->n + 1) * 2 > f->nidx) { /* grow the index (and rehash) */
    uint32_t cap = f->nidx ? f->nidx * 2 : 64;
    uint32_t *idx = calloc(cap, sizeof *idx);
    if (!idx)
      return NULL;
    for (uint32_t k = 0; k < f->n; k++) {
      uint32_t i = hash_pid(f->fan[k].to, cap - 1);
      while (idx[i])
        i = (i + 1) & (cap - 1);
      idx[i] = k + 1;
    }
    free(f->idx);
    f->idx = idx;
    f->nidx = cap;
  }
  uint32_t i = hash_pid(to, f->nidx - 1);
  for (; f->idx[i]; i = (i + 1) & (f->nidx - 1))
    if (f->fan[f->idx[i] - 1].to.id == to.id)
      return &f->fan[f->idx[i] - 1];
  if (f->n == f->cap) {
    uint32_t cap = f->cap ? f->cap * 2 : 16;
    ps_fan_t *fan = realloc(f->fan, cap * sizeof *fan);
    if (!fan)
      return NULL;
    memset(fan + f->cap, 0, (cap - f->cap) * sizeof *fan);
    f->fan = fan;
    f->cap = cap;
  }
  ps_fan_t *b = &f->fan[f->n];
  b->to = to;
  b->buf.len = 0;
  b->npubs = 0;
  f->idx[i] = ++f->n;
  return b;
}

uint32_t ps_fanout_publish(ps_fanout_t *f) {
  if (f->npub == f->cappub) {
    uint32_t cap = f->cappub ? f->cappub * 2 : 64;
    uint32_t *c = realloc(f->counts, cap * sizeof *c);
    if (!c)
      return UINT32_MAX;
    f->counts = c;
    f->cappub = cap;
  }
  f->counts[f->npub] = 0;
  return f->npub++;
}

bool ps_fanout_add(ps_fanout_t *f, uint32_t pub, tr_pid_t to, const void *push, size_t len) {
  ps_fan_t *b = fan_of(f, to);
  if (!b)
    return false;
  if (!b->buf.data) { /* a new buffer (the last went with its message): as big as the last */
    size_t cap = f->hint > FAN_HINT_MIN ? f->hint : FAN_HINT_MIN;
    if (cap < len)
      cap = len;
    if ((b->buf.data = malloc(cap)) != NULL)
      b->buf.cap = cap;
  }
  if (b->npubs == b->cappubs) {
    uint32_t cap = b->cappubs ? b->cappubs * 2 : 16;
    uint32_t *p = realloc(b->pubs, cap * sizeof *p);
    if (!p)
      return false;
    b->pubs = p;
    b->cappubs = cap;
  }
  if (tr_resp_raw(&b->buf, push, len) != 0) {
    b->buf.err = 0; /* this push is lost to this subscriber; the buffer stays usable */
    return false;
  }
  b->pubs[b->npubs++] = pub;
  f->counts[pub]++;
  f->bytes += len;
  return true;
}

bool ps_fanout_full(const ps_fanout_t *f) { return f->n >= FAN_MAX || f->bytes >= FAN_BYTES; }

void ps_fanout_flush(tr_ctx_t *ctx, session_t *s) {
  ps_fanout_t *f = &s->fanout;
  size_t biggest = 0;
  for (uint32_t k = 0; k < f->n; k++) {
    ps_fan_t *b = &f->fan[k];
    biggest = b->buf.len > biggest ? b->buf.len : biggest;
    bool delivered = false;
    /* The buffer goes with the message (no copy); the next read's pushes get a new one. */
    tr_send_opts_t opts = {.delivered = &delivered, .give = true};
    if (b->buf.len && tr_send_opts(ctx, b->to, ps_atoms.push, b->buf.data, b->buf.len, &opts) == 0)
      b->buf = (tr_resp_buf_t){0};
    for (uint32_t j = 0; !delivered && j < b->npubs; j++)
      f->counts[b->pubs[j]]--;
  }
  f->hint = biggest < FAN_HINT_MAX ? biggest : FAN_HINT_MAX;
  uint64_t total = 0;
  for (uint32_t p = 0; p < f->npub; p++) {
    tr_resp_integer(&s->out, f->counts[p]);
    total += f->counts[p];
  }
  atomic_fetch_add_explicit(&ps_server.messages, total, memory_order_relaxed);
  if (f->nidx)
    memset(f->idx, 0, f->nidx * sizeof *f->idx);
  f->n = f->npub = 0;
  f->bytes = 0;
}

void ps_fanout_free(ps_fanout_t *f) {
  for (uint32_t k = 0; k < f->cap; k++) {
    tr_resp_buf_free(&f->fan[k].buf);
    free(f->fan[k].pubs);
  }
  free(f->fan);
  free(f->idx);
  free(f->counts);
  *f = (ps_fanout_t){0};
}
