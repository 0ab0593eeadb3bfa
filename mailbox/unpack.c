/* Reading a msgpack payload by format string in one call (tr_unpack), on the per-message
 * hot path: every handler that reads its arguments comes through here. msgpack-c's unpacker
 * is too slow for that: each call allocates a zone (a malloc and a free per message) and
 * builds a msgpack_object tree only to be read once. So this file walks the bytes itself
 * with a cursor and stores each value straight into the caller's variables, allocating
 * nothing (strings and binaries point into the payload). Every read is bounds-checked
 * against the payload's length, the only defence against a hostile peer: no byte at or past
 * `len` is ever read. The format is checked in the same pass that reads the bytes, rather
 * than in a pass of its own first. The decoder of the msgpack headers longer than a byte
 * lives here (the one-byte ones are inline in pack_internal.h) and is shared with check.c. */
#include <string.h>

#include "base/base.h"
#include "mailbox/pack_internal.h"
#include "troupe/error.h"
#include "troupe/msg.h"

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

/* Read the field of `width` bytes after the type byte at p into *x, and set the head's
 * length to the two; TR_EPROTO when the field is cut short. */
static int field(const uint8_t *p, size_t avail, size_t width, tr__mp_head_t *h, uint64_t *x) {
  if (avail - 1 < width)
    return TR_EPROTO;
  h->head = 1 + width;
  *x = tr__mp_load_be(p + 1, width);
  return 0;
}

/* A str's, bin's or ext's header, whose field of `width` bytes is the body's length. */
static int span(const uint8_t *p, size_t avail, size_t width, tr__mp_head_t *h) {
  uint64_t x;
  if (field(p, avail, width, h, &x) != 0)
    return TR_EPROTO;
  h->body = (size_t)x;
  return fit(h, avail);
}

/* Each case decodes its type completely, rather than one switch working out a width and a
 * second one storing by kind: this runs for every integer above 127 and every string over
 * 31 bytes, so one indirect jump and straight-line code per type is worth the length. */
int tr__mp_head_long(const uint8_t *data, size_t len, size_t pos, tr__mp_head_t *h) {
  const uint8_t *p = data + pos;
  size_t avail = len - pos;
  uint8_t t = p[0];
  uint64_t x;
  h->head = 1;
  h->body = 0;
  h->count = 0;
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
    return span(p, avail, (size_t)1 << (t - 0xc4), h);
  case 0xc7: /* ext 8, 16, 32: a length, then the ext type byte */
  case 0xc8:
  case 0xc9:
    h->kind = TR__MP_EXT;
    if (field(p, avail, (size_t)1 << (t - 0xc7), h, &x) != 0)
      return TR_EPROTO;
    h->head++;
    h->body = (size_t)x;
    return fit(h, avail);
  case 0xca: { /* float 32, widened */
    if (field(p, avail, 4, h, &x) != 0)
      return TR_EPROTO;
    uint32_t bits = (uint32_t)x;
    float f;
    memcpy(&f, &bits, sizeof f);
    h->kind = TR__MP_FLOAT;
    h->v.d = f;
    return 0;
  }
  case 0xcb: /* float 64 */
    if (field(p, avail, 8, h, &x) != 0)
      return TR_EPROTO;
    h->kind = TR__MP_FLOAT;
    memcpy(&h->v.d, &x, sizeof h->v.d);
    return 0;
  case 0xcc: /* uint 8, 16, 32, 64 */
  case 0xcd:
  case 0xce:
  case 0xcf:
    h->kind = TR__MP_UINT;
    return field(p, avail, (size_t)1 << (t - 0xcc), h, &h->v.u);
  case 0xd0: /* int 8, 16, 32, 64 */
  case 0xd1:
  case 0xd2:
  case 0xd3: {
    size_t width = (size_t)1 << (t - 0xd0);
    if (field(p, avail, width, h, &x) != 0)
      return TR_EPROTO;
    h->kind = TR__MP_INT;
    h->v.i = extend(x, width);
    return 0;
  }
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
    return span(p, avail, (size_t)1 << (t - 0xd9), h);
  case 0xdc: /* array 16, 32; map 16, 32 */
  case 0xdd:
  case 0xde:
  case 0xdf:
    if (field(p, avail, t % 2 == 0 ? 2 : 4, h, &x) != 0)
      return TR_EPROTO;
    h->kind = t <= 0xdd ? TR__MP_ARRAY : TR__MP_MAP;
    h->count = (uint32_t)x;
    return 0;
  default: /* 0xc1, reserved: never valid */
    return TR_EPROTO;
  }
}

/* Open the array or map for the bracket at `p` of the format, whose header is at data[*pos]
 * and which is nested in `depth` others, and step *pos past the header. Its level of the
 * format must be well formed (see tr__fmt_level), and the header's count exactly what that
 * level holds; the limits are tested before the count, so that a count too large to be
 * honest reads as the limit it breaks. They are resolved only here, as only containers need
 * them. A fixarray or fixmap, the header of most containers in a message, is read directly. */
static int enter(const uint8_t *data, size_t len, size_t *pos, const char *p, uint32_t depth,
                 const tr_limits_t *lim) {
  uint32_t want;
  if (TR_UNLIKELY(depth == TR__FMT_MAX_DEPTH || tr__fmt_level(p, &want) != 0))
    return TR_EINVAL;
  bool map = *p == '{';
  uint32_t count;
  size_t head;
  if (TR_LIKELY(*pos < len && (data[*pos] & 0xf0u) == (map ? 0x80u : 0x90u))) {
    count = data[*pos] & 0x0fu;
    head = 1;
  } else {
    tr__mp_head_t h;
    int rc = tr__mp_head(data, len, *pos, &h);
    if (rc != 0)
      return rc;
    if (h.kind != (map ? TR__MP_MAP : TR__MP_ARRAY))
      return TR_ETYPE;
    count = h.count;
    head = h.head;
  }
  tr_limits_t l = tr__limits(lim);
  if (TR_UNLIKELY(depth >= l.max_depth || count > l.max_count))
    return TR_ELIMIT;
  if (TR_UNLIKELY(count != (map ? want / 2 : want)))
    return TR_ETYPE;
  *pos += head;
  return 0;
}

/* The readers of one scalar: each stores the value of h into the caller's variable when
 * h's kind is one its letter accepts. A NULL output is misuse and is reported before the
 * type. The outputs are taken from the va_list by the caller, walk(), since only the
 * function that holds a va_list can use it without a va_copy (see tr_vunpack). */
static int get_i(const tr__mp_head_t *h, int64_t *out) {
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

static int get_u(const tr__mp_head_t *h, uint64_t *out) {
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

static int get_d(const tr__mp_head_t *h, double *out) {
  if (out == NULL)
    return TR_EINVAL;
  if (h->kind != TR__MP_FLOAT)
    return TR_ETYPE;
  *out = h->v.d;
  return 0;
}

static int get_b(const tr__mp_head_t *h, bool *out) {
  if (out == NULL)
    return TR_EINVAL;
  if (h->kind != TR__MP_BOOL)
    return TR_ETYPE;
  *out = h->v.b;
  return 0;
}

/* A str or bin: its bytes are left in the payload, and *out points at them. */
static int get_s(const tr__mp_head_t *h, const uint8_t *body, const char **out, size_t *n) {
  if (out == NULL || n == NULL)
    return TR_EINVAL;
  if (h->kind != TR__MP_STR)
    return TR_ETYPE;
  *out = (const char *)body;
  *n = h->body;
  return 0;
}

static int get_x(const tr__mp_head_t *h, const uint8_t *body, const void **out, size_t *n) {
  if (out == NULL || n == NULL)
    return TR_EINVAL;
  if (h->kind != TR__MP_BIN)
    return TR_ETYPE;
  *out = body;
  *n = h->body;
  return 0;
}

/* Whether data[pos] is a positive fixint: the encoding of most integer arguments, which 'i'
 * and 'u' read in a few instructions ahead of the general decoder. */
static inline bool fixint(const uint8_t *data, size_t len, size_t pos) {
  return pos < len && data[pos] <= 0x7f;
}

/* One pass over the format that checks it, reads the bytes and stores the values, stopping
 * at the first error. The format and the bytes are both in pre-order, so the letters read
 * the values in turn. A bracket's level is scanned when it opens (in enter()), so only the
 * depth is tracked here; a closing bracket needs no check of the bytes, because the
 * container's count was matched when it was opened and the enclosed letters read exactly
 * that many values. One switch per character does all the dispatch, with the header decoded
 * in each value's case, because on small formats the fixed cost per character dominates. */
static int walk(const uint8_t *d, size_t len, const tr_limits_t *lim, const char *fmt, va_list ap) {
  size_t pos = 0;
  uint32_t depth = 0;
  for (const char *p = fmt;; p++) {
    tr__mp_head_t h;
    int rc;
    switch (*p) {
    case '\0':
      return pos == len ? 0 : TR_ETYPE; /* more values than the format asks for */
    case ' ':
      continue;
    case ']':
    case '}':
      if (depth == 0)
        return TR_EINVAL; /* a close that nothing opened */
      depth--;
      continue;
    case '[':
    case '{':
      if ((rc = enter(d, len, &pos, p, depth++, lim)) != 0)
        return rc;
      continue;
    case 'i': {
      int64_t *out = va_arg(ap, int64_t *);
      if (TR_LIKELY(out != NULL && fixint(d, len, pos))) {
        *out = d[pos++];
        continue;
      }
      if ((rc = tr__mp_head(d, len, pos, &h)) == 0)
        rc = get_i(&h, out);
      break;
    }
    case 'u': {
      uint64_t *out = va_arg(ap, uint64_t *);
      if (TR_LIKELY(out != NULL) && tr__mp_get_uint(d, len, &pos, out))
        continue;
      if ((rc = tr__mp_head(d, len, pos, &h)) == 0)
        rc = get_u(&h, out);
      break;
    }
    case 'd':
      if ((rc = tr__mp_head(d, len, pos, &h)) == 0)
        rc = get_d(&h, va_arg(ap, double *));
      break;
    case 'b':
      if ((rc = tr__mp_head(d, len, pos, &h)) == 0)
        rc = get_b(&h, va_arg(ap, bool *));
      break;
    case 'n':
      if ((rc = tr__mp_head(d, len, pos, &h)) == 0)
        rc = h.kind == TR__MP_NIL ? 0 : TR_ETYPE;
      break;
    case 's':
      if ((rc = tr__mp_head(d, len, pos, &h)) == 0) {
        const char **s = va_arg(ap, const char **);
        rc = get_s(&h, d + pos + h.head, s, va_arg(ap, size_t *));
      }
      break;
    case 'x':
      if ((rc = tr__mp_head(d, len, pos, &h)) == 0) {
        const void **x = va_arg(ap, const void **);
        rc = get_x(&h, d + pos + h.head, x, va_arg(ap, size_t *));
      }
      break;
    case 'p':
      if ((rc = tr__mp_head(d, len, pos, &h)) == 0) {
        tr_pid_t *out = va_arg(ap, tr_pid_t *);
        if (!out)
          rc = TR_EINVAL;
        else if (h.kind != TR__MP_EXT || h.body != 8 || d[pos + h.head - 1] != TR_EXT_PID)
          rc = TR_ETYPE; /* an ext of 8 bytes (the ext type ends its head), the id */
        else
          out->id = tr__get_be64(d + pos + h.head);
      }
      break;
    default: /* not a letter of the format language */
      return TR_EINVAL;
    }
    if (rc != 0)
      return rc;
    pos += h.head + h.body;
  }
}

int tr_vunpack(const void *data, size_t len, const tr_limits_t *lim, const char *fmt, va_list ap) {
  if (TR_UNLIKELY(fmt == NULL || (data == NULL && len != 0)))
    return TR_EINVAL;
  /* ap goes to walk() as it is: a va_copy would cost more than all the rest for a small
   * format, because it reads the caller's va_list in one wide load just after va_start wrote
   * it in narrower stores, which the CPU cannot forward. */
  int rc = TR_LIKELY(len <= tr__limits(lim).max_size) ? walk(data, len, lim, fmt, ap) : TR_ELIMIT;
  /* The pass stopped at its first error, which may lie before a format error further on;
   * the contract makes a bad format TR_EINVAL whatever the bytes, so look at the rest. */
  if (rc != 0 && rc != TR_EINVAL && tr__fmt_check(fmt) != 0)
    rc = TR_EINVAL;
  return rc;
}

int tr_unpack(const void *data, size_t len, const tr_limits_t *lim, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int rc = tr_vunpack(data, len, lim, fmt, ap);
  va_end(ap);
  return rc;
}
