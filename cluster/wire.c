/* Frames on a link, and pids in them.
 *
 * A frame is a u32 big-endian length of what follows, a kind byte, then the kind's header
 * and the payload, if any. SEND (the common frame) has a fixed binary header (TR_SEND_HEAD
 * bytes: to, from, ref, tag id, message kind), so the hot path packs nothing; every other
 * kind has a u16 big-endian header length and a msgpack array read by tr_unpack with exact
 * formats and bounded limits, so a malformed header is an error, never a crash.
 *
 * Pids. In SEND's header the pids are 64-bit ids whose node field is relative to the link
 * (tr__pid_to_wire). Inside payloads a pid is the 'p' ext value: fixext 8 (the id) on a
 * node, fixext 16 on the wire (the incarnation of its node, then its id there with node 0),
 * so a pid of a third node keeps naming that node's actor. */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "cluster/cluster.h"
#include "mailbox/pids.h"

#define NODE_SHIFT (TR_PID_SLOT_BITS + TR_PID_GEN_BITS)
#define LOCAL_MASK ((UINT64_C(1) << NODE_SHIFT) - 1)

int tr__cbuf_reserve(tr_cbuf_t *b, size_t more) {
  if (b->off && b->off == b->len)
    b->off = b->len = 0;
  if (b->len + more <= b->cap)
    return 0;
  if (b->off) { /* slide what is pending to the front first */
    memmove(b->p, b->p + b->off, b->len - b->off);
    b->len -= b->off;
    b->off = 0;
    if (b->len + more <= b->cap)
      return 0;
  }
  size_t cap = b->cap ? b->cap : 4096;
  while (cap < b->len + more)
    cap *= 2;
  uint8_t *p = realloc(b->p, cap);
  if (!p)
    return TR_ENOMEM;
  b->p = p;
  b->cap = cap;
  return 0;
}

void tr__cbuf_reset(tr_cbuf_t *b) {
  b->off = b->len = 0;
  if (b->cap > ((size_t)1 << 20)) { /* one burst does not keep its memory */
    free(b->p);
    b->p = NULL;
    b->cap = 0;
  }
}

int tr__frame_put(tr_cbuf_t *b, uint8_t kind, const void *payload, size_t plen, const char *fmt,
                  ...) {
  va_list ap;
  va_start(ap, fmt);
  int rc = tr__frame_vput(b, kind, payload, plen, fmt, ap);
  va_end(ap);
  return rc;
}

int tr__frame_vput(tr_cbuf_t *b, uint8_t kind, const void *payload, size_t plen, const char *fmt,
                   va_list ap) {
  uint8_t head[1024];
  size_t hlen;
  int rc = tr_vpack_into(head, sizeof head, &hlen, fmt, ap);
  if (rc != 0)
    return rc;
  size_t body = 1 + 2 + hlen + plen;
  if (body > TR_FRAME_MAX)
    return TR_EMSGSIZE;
  if ((rc = tr__cbuf_reserve(b, 4 + body)) != 0)
    return rc;
  uint8_t *p = b->p + b->len;
  tr__put_be32(p, (uint32_t)body);
  p[4] = kind;
  p[5] = (uint8_t)(hlen >> 8);
  p[6] = (uint8_t)hlen;
  memcpy(p + 7, head, hlen);
  if (plen)
    memcpy(p + 7 + hlen, payload, plen);
  b->len += 4 + body;
  return 0;
}

int tr__frame_get(const uint8_t *body, size_t len, size_t *used, const char *fmt, ...) {
  if (len < 2)
    return TR_EPROTO;
  size_t hlen = ((size_t)body[0] << 8) | body[1];
  if (hlen > len - 2)
    return TR_EPROTO;
  /* Headers are small and shallow: names, pids, a reason. */
  tr_limits_t lim = {.max_size = hlen, .max_depth = 4, .max_count = 16};
  va_list ap;
  va_start(ap, fmt);
  int rc = tr_vunpack(body + 2, hlen, &lim, fmt, ap);
  va_end(ap);
  *used = 2 + hlen;
  return rc;
}

/* ---- pids in headers ---- */

uint64_t tr__pid_to_wire(tr_pid_t pid, uint32_t peer_index) {
  uint32_t n = tr__pid_node(pid);
  if (n == 0)
    return pid.id;
  if (n == peer_index)
    return (pid.id & LOCAL_MASK) | ((uint64_t)TR_WIRE_YOURS << NODE_SHIFT);
  return 0; /* a third node's: not nameable in a header */
}

tr_pid_t tr__pid_from_wire(uint64_t w, uint32_t peer_index) {
  uint64_t n = w >> NODE_SHIFT;
  if (w == 0)
    return TR_PID_NONE;
  if (n == 0)
    return (tr_pid_t){(w & LOCAL_MASK) | ((uint64_t)peer_index << NODE_SHIFT)};
  if (n == TR_WIRE_YOURS)
    return (tr_pid_t){w & LOCAL_MASK};
  return TR_PID_NONE;
}

/* ---- pids in payloads ---- */

static int sized(const uint8_t *d, size_t len, size_t from, size_t to, size_t *out_len) {
  *out_len = len;
  if (!memchr(d, from == 8 ? 0xd7 : 0xd8, len))
    return 0; /* no fixext header of that size: no pid (the common case: one scan) */
  int n = tr__pids_count(d, len, from);
  if (n < 0)
    return 0; /* not msgpack: opaque bytes, carried as they are */
  *out_len = len + (size_t)n * (to - from);
  return n;
}

int tr__payload_out_size(const uint8_t *d, size_t len, size_t *out_len) {
  return sized(d, len, 8, 16, out_len);
}
int tr__payload_in_size(const uint8_t *d, size_t len, size_t *out_len) {
  return sized(d, len, 16, 8, out_len);
}

static void map_out(void *arg, const uint8_t *old, uint8_t *out) {
  tr_pidmap_t *pm = arg;
  uint64_t id = tr__get_be64(old);
  uint32_t n = (uint32_t)(id >> NODE_SHIFT);
  uint64_t inc = 0;
  if (id == 0)
    inc = 0;
  else if (n == 0)
    inc = pm->cl->inc;
  else if (!tr__node_peer(pm->cl, n, &inc))
    pm->bad = true;
  tr__put_be64(out, inc);
  tr__put_be64(out + 8, inc ? id & LOCAL_MASK : 0);
}

static void map_in(void *arg, const uint8_t *old, uint8_t *out) {
  tr_pidmap_t *pm = arg;
  uint64_t inc = tr__get_be64(old), id = tr__get_be64(old + 8) & LOCAL_MASK;
  bool self = false;
  uint32_t n = inc ? tr__node_by_inc(pm->cl, inc, &self) : 0;
  if (inc && !n && !self) {
    pm->bad = true; /* a node this one has not met: the pid names nobody here */
    id = 0;
  }
  tr__put_be64(out, id ? id | ((uint64_t)n << NODE_SHIFT) : 0);
}

void tr__payload_out(tr_pidmap_t *pm, const uint8_t *d, size_t len, uint8_t *out) {
  tr__pids_copy(d, len, out, 8, 16, map_out, pm);
}
void tr__payload_in(tr_pidmap_t *pm, const uint8_t *d, size_t len, uint8_t *out) {
  tr__pids_copy(d, len, out, 16, 8, map_in, pm);
}
