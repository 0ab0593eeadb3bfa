/* Private to the msgpack convenience layer (mailbox/pack.c, unpack.c, check.c): the
 * format-string scanning that the packer and the unpacker share, the decoder of one msgpack
 * header that the unpacker and the checker share, the resolution of tr_limits_t, and the
 * reading and writing of one unsigned integer, which tr_sendf and tr_msg_unpack also use.
 *
 * tr_pack and tr_unpack run once per message, so the common cases are static inline here:
 * the packer and the unpacker validate a format in the same pass that encodes or decodes
 * it (looking ahead only at a bracket, for its count), and one-byte msgpack headers are
 * decoded without a call. The whole-format check is kept for error paths, where it decides
 * whether a format error takes precedence over the error that stopped the pass. */
#ifndef TR_MAILBOX_PACK_INTERNAL_H
#define TR_MAILBOX_PACK_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/base.h"
#include "troupe/error.h"
#include "troupe/msg.h"

/* Brackets one format may nest: the same as TR_LIMIT_DEFAULT_DEPTH, so whatever tr_pack
 * builds can be read back under the default limits, and the scanner's bracket stack is a
 * small fixed array. */
#define TR__FMT_MAX_DEPTH 32

/* Validate a whole format: known letters and spaces only, balanced and matching brackets,
 * nesting at most TR__FMT_MAX_DEPTH, an even number of values inside every {}, and at most
 * UINT32_MAX values inside any bracket. Returns 0 or TR_EINVAL. Defined in pack.c.
 *
 * The packer and the unpacker call it only once their single pass has failed for another
 * reason: the contract makes a bad format TR_EINVAL whatever the buffer or the bytes, so a
 * format error later in the string must still win over, say, TR_EMSGSIZE. */
int tr__fmt_check(const char *fmt);

/* What each byte of a format is to the scanner below: a table lookup per character is
 * cheaper than a switch over the eleven that mean something. Defined in pack.c. */
enum { TR__FMT_BAD, TR__FMT_VALUE, TR__FMT_OPEN, TR__FMT_CLOSE, TR__FMT_SPACE };
extern const uint8_t tr__fmt_class[256];

/* The bracket that closes the one at `open`, counting nesting but not checking what lies
 * between, or NULL when the format ends first. */
static inline const char *tr__fmt_skip(const char *open) {
  size_t nest = 0; /* brackets opened after `open` and not yet closed */
  for (const char *p = open + 1; *p != '\0'; p++) {
    uint8_t k = tr__fmt_class[(unsigned char)*p];
    if (k == TR__FMT_OPEN) {
      nest++;
    } else if (k == TR__FMT_CLOSE) {
      if (nest == 0)
        return p;
      nest--;
    }
  }
  return NULL;
}

/* Scan the level that the bracket at `open` opens, up to its matching close, and store in
 * *count the values at that level (a nested container counts as one; for a map this is keys
 * plus values, twice the pairs). Returns TR_EINVAL, and stores nothing, unless the level is
 * well formed: it is closed by the matching bracket, holds only known letters, spaces and
 * brackets, at most UINT32_MAX values, and an even number of them in a map.
 *
 * Together with a depth counter in the caller this is the whole format check of a single
 * pass: every bracket is scanned when the pass opens it, so by the time the pass succeeds,
 * every level has been. Nested levels are only skipped over here (the pass scans each when it
 * gets there), which keeps the work linear in the format's length times its depth. */
static inline int tr__fmt_level(const char *open, uint32_t *count) {
  uint64_t n = 0;
  const char *p = open + 1;
  for (;; p++) {
    uint8_t k = tr__fmt_class[(unsigned char)*p];
    if (k == TR__FMT_VALUE) {
      n++;
    } else if (k == TR__FMT_CLOSE) {
      break;
    } else if (k == TR__FMT_OPEN) {
      n++;
      p = tr__fmt_skip(p);
      if (p == NULL)
        return TR_EINVAL;
    } else if (TR_UNLIKELY(k != TR__FMT_SPACE)) {
      return TR_EINVAL; /* an unknown letter, or the end of the format before the close */
    }
  }
  if (TR_UNLIKELY(*p != (*open == '[' ? ']' : '}') || n > UINT32_MAX ||
                  (*open == '{' && n % 2 != 0)))
    return TR_EINVAL;
  *count = (uint32_t)n;
  return 0;
}

/* The deepest nesting tr_msgpack_check tracks, whatever the caller's max_depth says (a larger
 * one is treated as this). Its walk keeps one counter per open container in a fixed array on
 * the stack (8 bytes each, 2 KiB in all) rather than recursing or allocating; and no reader
 * of these bytes goes deeper anyway: msgpack-c's unpacker stops at 32 levels. */
#define TR__CHECK_MAX_DEPTH 256

/* The kinds of msgpack value, as far as the readers care (widths are folded together). */
typedef enum {
  TR__MP_NIL,
  TR__MP_BOOL,
  TR__MP_UINT, /* encoded as a positive fixint or uint8..uint64 */
  TR__MP_INT,  /* encoded as a negative fixint or int8..int64 (the value may still be >= 0) */
  TR__MP_FLOAT,
  TR__MP_STR,
  TR__MP_BIN,
  TR__MP_EXT,
  TR__MP_ARRAY,
  TR__MP_MAP
} tr__mp_kind_t;

/* One decoded header: what the value is and how many bytes it spans. kind, head, body and
 * count are always set, v only for the kinds it names. (The decoder sets no more than that
 * because it runs per value on the hot path, and zeroing the whole struct each time showed
 * in profiles.) */
typedef struct {
  tr__mp_kind_t kind;
  uint32_t count; /* TR__MP_ARRAY: elements; TR__MP_MAP: pairs; 0 otherwise */
  size_t head;    /* the type byte and the fixed fields after it (an ext's type included) */
  size_t body;    /* the bytes after the head: a str's, bin's or ext's data; 0 otherwise */
  union {
    uint64_t u; /* TR__MP_UINT */
    int64_t i;  /* TR__MP_INT */
    double d;   /* TR__MP_FLOAT, float32 widened */
    bool b;     /* TR__MP_BOOL */
  } v;
} tr__mp_head_t;

/* The part of tr__mp_head for the type bytes 0xc0..0xdf (the ones with a field after them,
 * nil, bool and the reserved 0xc1), out of line because they are rarer and need more code.
 * Same contract as tr__mp_head, for a pos below len whose byte is in that range. Defined in
 * unpack.c. */
int tr__mp_head_long(const uint8_t *data, size_t len, size_t pos, tr__mp_head_t *h);

/* Decode the header of the value at data[pos] without reading at or past data[len].
 * Returns 0, or TR_EPROTO when the header is cut short, when a str/bin/ext body runs past
 * len, or on the reserved type byte 0xc1. Container elements are not looked at.
 *
 * The fix types carry their value or length in the type byte itself; they are most of what
 * small messages hold (small integers, short strings, short arrays), so they are decoded
 * here, inline in the caller's loop. */
static inline int tr__mp_head(const uint8_t *data, size_t len, size_t pos, tr__mp_head_t *h) {
  if (pos >= len)
    return TR_EPROTO;
  uint8_t t = data[pos];
  if (t >= 0xc0 && t <= 0xdf)
    return tr__mp_head_long(data, len, pos, h);
  h->head = 1;
  h->body = 0;
  h->count = 0;
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
  h->kind = TR__MP_STR; /* fixstr, 0xa0..0xbf */
  h->body = t & 0x1fu;
  return h->body < len - pos ? 0 : TR_EPROTO; /* the body follows the one type byte */
}

/* tr_vpack_into and tr_vpack that also say whether the format packed a pid ('p'): the
 * message flag TR_MSGF_PIDS of tr_sendf, found in the packing pass instead of a scan of its
 * own. */
int tr__vpack_into_pids(void *buf, size_t cap, size_t *len, const char *fmt, va_list ap,
                        bool *pids);
int tr__vpack_pids(void **out, size_t *len, const char *fmt, va_list ap, bool *pids);

/* The limits in force: the caller's, with a zero field (or a NULL lim) meaning the default.
 * NULL is the common case (tr_msg_unpack passes it), so it is the straight path. */
static inline tr_limits_t tr__limits(const tr_limits_t *lim) {
  tr_limits_t l = {TR_LIMIT_DEFAULT_SIZE, TR_LIMIT_DEFAULT_DEPTH, TR_LIMIT_DEFAULT_COUNT};
  if (TR_UNLIKELY(lim != NULL)) {
    if (lim->max_size != 0)
      l.max_size = lim->max_size;
    if (lim->max_depth != 0)
      l.max_depth = lim->max_depth;
    if (lim->max_count != 0)
      l.max_count = lim->max_count;
  }
  return l;
}

/* ---- one unsigned integer, the commonest payload (a count, an id, a sequence number) ----
 * tr_send_uint and tr_msg_uint, and a format of exactly "u" in tr_sendf and tr_msg_unpack,
 * take it without the format walk and its calls (actors/send.c, mailbox/envelope.c); the
 * walk uses the same reader. */

/* A big-endian unsigned integer of n bytes (1, 2, 4 or 8). Spelled out per width rather
 * than as a loop, so that the compiler makes each a single load (and a byte swap). */
static inline uint64_t tr__mp_load_be(const uint8_t *p, size_t n) {
  switch (n) {
  case 1:
    return p[0];
  case 2:
    return (uint64_t)p[0] << 8 | p[1];
  case 4:
    return (uint64_t)p[0] << 24 | (uint64_t)p[1] << 16 | (uint64_t)p[2] << 8 | p[3];
  default:
    return (uint64_t)p[0] << 56 | (uint64_t)p[1] << 48 | (uint64_t)p[2] << 40 |
           (uint64_t)p[3] << 32 | (uint64_t)p[4] << 24 | (uint64_t)p[5] << 16 |
           (uint64_t)p[6] << 8 | p[7];
  }
}

/* An unsigned integer at d[*pos] in any of its encodings (fixint, uint 8, 16, 32, 64). True
 * with *pos past it and *out set; false (another type, or cut short) leaves both for the
 * general decoder, which reports what is wrong. */
static inline bool tr__mp_get_uint(const uint8_t *d, size_t len, size_t *pos, uint64_t *out) {
  size_t at = *pos;
  if (at >= len)
    return false;
  uint8_t t = d[at];
  if (t <= 0x7f) {
    *out = t;
    *pos = at + 1;
    return true;
  }
  if (t < 0xcc || t > 0xcf)
    return false;
  size_t w = (size_t)1 << (t - 0xcc);
  if (len - at - 1 < w)
    return false;
  *out = tr__mp_load_be(d + at + 1, w);
  *pos = at + 1 + w;
  return true;
}

/* The smallest encoding of v, as msgpack-c writes it, into out (9 bytes at least); returns
 * its length. Spelled out per width, as tr__mp_load_be, so that each width is one store (and
 * a byte swap) rather than a loop of byte stores. */
static inline size_t tr__mp_put_uint(uint8_t *out, uint64_t v) {
  if (v <= 0x7f) {
    out[0] = (uint8_t)v;
    return 1;
  }
  if (v <= 0xff) {
    out[0] = 0xcc;
    out[1] = (uint8_t)v;
    return 2;
  }
  if (v <= 0xffff) {
    out[0] = 0xcd;
    out[1] = (uint8_t)(v >> 8);
    out[2] = (uint8_t)v;
    return 3;
  }
  if (v <= 0xffffffffu) {
    out[0] = 0xce;
    out[1] = (uint8_t)(v >> 24);
    out[2] = (uint8_t)(v >> 16);
    out[3] = (uint8_t)(v >> 8);
    out[4] = (uint8_t)v;
    return 5;
  }
  out[0] = 0xcf;
  out[1] = (uint8_t)(v >> 56);
  out[2] = (uint8_t)(v >> 48);
  out[3] = (uint8_t)(v >> 40);
  out[4] = (uint8_t)(v >> 32);
  out[5] = (uint8_t)(v >> 24);
  out[6] = (uint8_t)(v >> 16);
  out[7] = (uint8_t)(v >> 8);
  out[8] = (uint8_t)v;
  return 9;
}

/* Whether fmt is exactly "u". */
static inline bool tr__fmt_is_u(const char *fmt) {
  return fmt != NULL && fmt[0] == 'u' && fmt[1] == '\0';
}

#endif
