/* Private to the msgpack convenience layer (mailbox/pack.c, unpack.c, check.c): the
 * format-string scanner that the packer and the unpacker share, the decoder of one msgpack
 * header that the unpacker and the checker share, and the resolution of tr_limits_t. */
#ifndef TR_MAILBOX_PACK_INTERNAL_H
#define TR_MAILBOX_PACK_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "troupe/msg.h"

/* Brackets one format may nest: the same as TR_LIMIT_DEFAULT_DEPTH, so whatever tr_pack
 * builds can be read back under the default limits, and the scanner's bracket stack is a
 * small fixed array. */
#define TR__FMT_MAX_DEPTH 32

/* Validate a whole format: known letters and spaces only, balanced and matching brackets,
 * nesting at most TR__FMT_MAX_DEPTH, an even number of values inside every {}, and at most
 * UINT32_MAX values inside any bracket. Returns 0 or TR_EINVAL. Defined in pack.c. */
int tr__fmt_check(const char *fmt);

/* The number of values at the level opened by the bracket just before `p` (a nested
 * container counts as one value), up to its matching close. The format must have passed
 * tr__fmt_check. For a map this is keys plus values, twice the pairs. Defined in pack.c. */
uint32_t tr__fmt_count(const char *p);

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

/* One decoded header: what the value is and how many bytes it spans. */
typedef struct {
  tr__mp_kind_t kind;
  uint32_t count; /* TR__MP_ARRAY: elements; TR__MP_MAP: pairs */
  size_t head;    /* the type byte and the fixed fields after it (an ext's type included) */
  size_t body;    /* the bytes after the head: a str's, bin's or ext's data; 0 otherwise */
  union {
    uint64_t u; /* TR__MP_UINT */
    int64_t i;  /* TR__MP_INT */
    double d;   /* TR__MP_FLOAT, float32 widened */
    bool b;     /* TR__MP_BOOL */
  } v;
} tr__mp_head_t;

/* Decode the header of the value at data[pos] without reading at or past data[len].
 * Returns 0, or TR_EPROTO when the header is cut short, when a str/bin/ext body runs past
 * len, or on the reserved type byte 0xc1. Container elements are not looked at. Defined in
 * unpack.c. */
int tr__mp_head(const uint8_t *data, size_t len, size_t pos, tr__mp_head_t *h);

/* The limits in force: the caller's, with a zero field (or a NULL lim) meaning the default. */
static inline tr_limits_t tr__limits(const tr_limits_t *lim) {
  tr_limits_t l = {TR_LIMIT_DEFAULT_SIZE, TR_LIMIT_DEFAULT_DEPTH, TR_LIMIT_DEFAULT_COUNT};
  if (lim != NULL) {
    if (lim->max_size != 0)
      l.max_size = lim->max_size;
    if (lim->max_depth != 0)
      l.max_depth = lim->max_depth;
    if (lim->max_count != 0)
      l.max_count = lim->max_count;
  }
  return l;
}

#endif
