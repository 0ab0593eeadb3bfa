/* Reading a msgpack payload by format string in one call (tr_unpack), on the per-message
 * hot path: every handler that reads its arguments comes through here. msgpack-c's unpacker
 * is too slow for that: each call allocates a zone (a malloc and a free per message) and
 * builds a msgpack_object tree only to be read once. So this file walks the bytes itself
 * with a cursor and stores each value straight into the caller's variables, allocating
 * nothing (strings and binaries point into the payload). Every read is bounds-checked
 * against the payload's length, the only defence against a hostile peer: no byte at or past
 * `len` is ever read. The decoder of one msgpack header lives here and is shared with
 * check.c. */
#include <string.h>

#include "mailbox/pack_internal.h"
#include "troupe/error.h"
#include "troupe/msg.h"

/* An unsigned big-endian integer of n (at most 8) bytes. */
static uint64_t load(const uint8_t *p, size_t n) {
  uint64_t v = 0;
  for (size_t k = 0; k < n; k++)
    v = v << 8 | p[k];
  return v;
}

/* The two's-complement value of the n-byte integer x, without relying on the
 * implementation-defined conversion of an out-of-range unsigned value to int64_t. */
static int64_t extend(uint64_t x, size_t n) {
  uint64_t top = (uint64_t)1 << (8 * n - 1);
  if ((x & top) == 0)
    return (int64_t)x;
  /* x - 2^(8n) == -((2^(8n) - 1 - x) + 1), and the inner term is below 2^63. */
  return -(int64_t)(~x & (top - 1)) - 1;
}

/* The header and body must both lie inside the avail bytes left. */
static int fit(const tr__mp_head_t *h, size_t avail) {
  return h->head <= avail && h->body <= avail - h->head ? 0 : TR_EPROTO;
}

int tr__mp_head(const uint8_t *data, size_t len, size_t pos, tr__mp_head_t *h) {
  if (pos >= len)
    return TR_EPROTO;
  const uint8_t *p = data + pos;
  size_t avail = len - pos;
  uint8_t t = p[0];
  *h = (tr__mp_head_t){.head = 1};

  /* The fix types carry their value or length in the type byte. */
  if (t <= 0x7f) {
    h->kind = TR__MP_UINT;
    h->v.u = t;
    return 0;
  }
  if (t >= 0xe0) {
    h->kind = TR__MP_INT;
    h->v.i = (int64_t)t - 0x100;
    return 0;
  }
  if (t <= 0x9f) {
    h->kind = t <= 0x8f ? TR__MP_MAP : TR__MP_ARRAY;
    h->count = t & 0x0fu;
    return 0;
  }
  if (t <= 0xbf) {
    h->kind = TR__MP_STR;
    h->body = t & 0x1fu;
    return fit(h, avail);
  }

  /* The others have a field of 1, 2, 4 or 8 bytes after the type byte. */
  size_t width;
  switch (t) {
  case 0xc0:
    h->kind = TR__MP_NIL;
    return 0;
  case 0xc2:
  case 0xc3:
    h->kind = TR__MP_BOOL;
    h->v.b = t == 0xc3;
    return 0;
  case 0xc4: /* bin 8, 16, 32 */
  case 0xc5:
  case 0xc6:
    h->kind = TR__MP_BIN;
    width = (size_t)1 << (t - 0xc4);
    break;
  case 0xc7: /* ext 8, 16, 32: a length, then the ext type byte */
  case 0xc8:
  case 0xc9:
    h->kind = TR__MP_EXT;
    width = (size_t)1 << (t - 0xc7);
    break;
  case 0xca:
  case 0xcb:
    h->kind = TR__MP_FLOAT;
    width = t == 0xca ? 4 : 8;
    break;
  case 0xcc: /* uint 8, 16, 32, 64 */
  case 0xcd:
  case 0xce:
  case 0xcf:
    h->kind = TR__MP_UINT;
    width = (size_t)1 << (t - 0xcc);
    break;
  case 0xd0: /* int 8, 16, 32, 64 */
  case 0xd1:
  case 0xd2:
  case 0xd3:
    h->kind = TR__MP_INT;
    width = (size_t)1 << (t - 0xd0);
    break;
  case 0xd4: /* fixext 1, 2, 4, 8, 16: the ext type byte, then the data */
  case 0xd5:
  case 0xd6:
  case 0xd7:
  case 0xd8:
    h->kind = TR__MP_EXT;
    h->head = 2;
    h->body = (size_t)1 << (t - 0xd4);
    return fit(h, avail);
  case 0xd9: /* str 8, 16, 32 */
  case 0xda:
  case 0xdb:
    h->kind = TR__MP_STR;
    width = (size_t)1 << (t - 0xd9);
    break;
  case 0xdc: /* array 16, 32 */
  case 0xdd:
    h->kind = TR__MP_ARRAY;
    width = t == 0xdc ? 2 : 4;
    break;
  case 0xde: /* map 16, 32 */
  case 0xdf:
    h->kind = TR__MP_MAP;
    width = t == 0xde ? 2 : 4;
    break;
  default: /* 0xc1, reserved: never valid */
    return TR_EPROTO;
  }

  if (avail - 1 < width)
    return TR_EPROTO;
  uint64_t x = load(p + 1, width);
  h->head = 1 + width;
  switch (h->kind) {
  case TR__MP_UINT:
    h->v.u = x;
    break;
  case TR__MP_INT:
    h->v.i = extend(x, width);
    break;
  case TR__MP_FLOAT:
    if (width == 4) {
      uint32_t bits = (uint32_t)x;
      float f;
      memcpy(&f, &bits, sizeof f);
      h->v.d = f;
    } else {
      memcpy(&h->v.d, &x, sizeof h->v.d);
    }
    break;
  case TR__MP_EXT:
    h->head++; /* the ext type byte */
    h->body = (size_t)x;
    break;
  case TR__MP_STR:
  case TR__MP_BIN:
    h->body = (size_t)x;
    break;
  default: /* TR__MP_ARRAY, TR__MP_MAP: widths 2 and 4 */
    h->count = (uint32_t)x;
    break;
  }
  return fit(h, avail);
}

/* Read one array or map header for the bracket at `p` of the format. The count must be
 * exactly what the format encloses; the limits are tested first, so that a count too large
 * to be honest reads as the limit it breaks. */
static int enter(const tr__mp_head_t *h, const char *p, uint32_t depth, const tr_limits_t *l) {
  bool map = *p == '{';
  if (h->kind != (map ? TR__MP_MAP : TR__MP_ARRAY))
    return TR_ETYPE;
  if (depth >= l->max_depth || h->count > l->max_count)
    return TR_ELIMIT;
  uint32_t want = tr__fmt_count(p + 1);
  return h->count == (map ? want / 2 : want) ? 0 : TR_ETYPE;
}

/* Read one scalar for the letter `c` into the caller's variable(s) from ap. */
static int take(const tr__mp_head_t *h, const uint8_t *body, char c, va_list *ap) {
  switch (c) {
  case 'i': {
    int64_t *out = va_arg(*ap, int64_t *);
    if (out == NULL)
      return TR_EINVAL;
    if (h->kind == TR__MP_INT)
      *out = h->v.i;
    else if (h->kind == TR__MP_UINT && h->v.u <= INT64_MAX)
      *out = (int64_t)h->v.u;
    else
      return TR_ETYPE;
    return 0;
  }
  case 'u': {
    uint64_t *out = va_arg(*ap, uint64_t *);
    if (out == NULL)
      return TR_EINVAL;
    if (h->kind == TR__MP_UINT)
      *out = h->v.u;
    else if (h->kind == TR__MP_INT && h->v.i >= 0)
      *out = (uint64_t)h->v.i;
    else
      return TR_ETYPE;
    return 0;
  }
  case 'd': {
    double *out = va_arg(*ap, double *);
    if (out == NULL)
      return TR_EINVAL;
    if (h->kind != TR__MP_FLOAT)
      return TR_ETYPE;
    *out = h->v.d;
    return 0;
  }
  case 'b': {
    bool *out = va_arg(*ap, bool *);
    if (out == NULL)
      return TR_EINVAL;
    if (h->kind != TR__MP_BOOL)
      return TR_ETYPE;
    *out = h->v.b;
    return 0;
  }
  case 'n':
    return h->kind == TR__MP_NIL ? 0 : TR_ETYPE;
  case 's': {
    const char **out = va_arg(*ap, const char **);
    size_t *n = va_arg(*ap, size_t *);
    if (out == NULL || n == NULL)
      return TR_EINVAL;
    if (h->kind != TR__MP_STR)
      return TR_ETYPE;
    *out = (const char *)body;
    *n = h->body;
    return 0;
  }
  default: { /* 'x', the only letter left after tr__fmt_check */
    const void **out = va_arg(*ap, const void **);
    size_t *n = va_arg(*ap, size_t *);
    if (out == NULL || n == NULL)
      return TR_EINVAL;
    if (h->kind != TR__MP_BIN)
      return TR_ETYPE;
    *out = body;
    *n = h->body;
    return 0;
  }
  }
}

int tr_vunpack(const void *data, size_t len, const tr_limits_t *lim, const char *fmt, va_list ap) {
  if ((data == NULL && len > 0) || fmt == NULL)
    return TR_EINVAL;
  int rc = tr__fmt_check(fmt);
  if (rc != 0)
    return rc;
  tr_limits_t l = tr__limits(lim);
  if (len > l.max_size)
    return TR_ELIMIT;

  /* The format and the bytes are both in pre-order, so one pass over the format reads the
   * values in turn; a closing bracket needs no check, because the count was matched when
   * the container was opened and the enclosed letters read exactly that many values. */
  const uint8_t *d = data;
  size_t pos = 0;
  uint32_t depth = 0;
  va_list args; /* take() needs a va_list *, and &ap is not one where va_list is an array */
  va_copy(args, ap);
  for (const char *p = fmt; *p != '\0' && rc == 0; p++) {
    if (*p == ' ')
      continue;
    if (*p == ']' || *p == '}') {
      depth--;
      continue;
    }
    tr__mp_head_t h;
    rc = tr__mp_head(d, len, pos, &h);
    if (rc != 0)
      break;
    if (*p == '[' || *p == '{') {
      rc = enter(&h, p, depth, &l);
      depth++;
    } else {
      rc = take(&h, d + pos + h.head, *p, &args);
    }
    pos += h.head + h.body;
  }
  va_end(args);
  if (rc == 0 && pos != len)
    rc = TR_ETYPE; /* more values than the format asks for */
  return rc;
}

int tr_unpack(const void *data, size_t len, const tr_limits_t *lim, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int rc = tr_vunpack(data, len, lim, fmt, ap);
  va_end(ap);
  return rc;
}
