/* Validating untrusted msgpack before anything trusts it: tr_msgpack_check walks the bytes of
 * one value without allocating and bounds its size, nesting and container counts, and
 * tr_msgpack_parse runs msgpack-c's unpacker only on bytes that passed. The check matters
 * because msgpack-c allocates an array's or map's elements as soon as it reads the header:
 * a 5-byte "array32 of 4 billion elements" would ask its zone for about 100 GB. Here every
 * container's count must fit in the bytes that remain (each element takes at least one), so
 * what msgpack-c allocates afterwards is bounded by a small multiple of the input's length. */
#include <string.h>

#include <msgpack/unpack_define.h> /* MSGPACK_EMBED_STACK_SIZE, the unpacker's depth */

#include "mailbox/pack_internal.h"
#include "troupe/error.h"
#include "troupe/msg.h"

/* Walk exactly one value from data[0] to data[len], iteratively. left[k] counts the values
 * still to read in the k-th open container (twice the pairs for a map), so the walk knows
 * when each container ends and how deep it is. */
static int walk(const uint8_t *data, size_t len, uint32_t max_depth, uint32_t max_count) {
  uint64_t left[TR__CHECK_MAX_DEPTH];
  uint32_t depth = 0;
  size_t pos = 0;
  for (;;) {
    tr__mp_head_t h;
    int rc = tr__mp_head(data, len, pos, &h);
    if (rc != 0)
      return rc;
    pos += h.head + h.body; /* tr__mp_head checked that the body lies inside len */
    if (h.kind == TR__MP_ARRAY || h.kind == TR__MP_MAP) {
      uint64_t values = h.kind == TR__MP_MAP ? 2 * (uint64_t)h.count : h.count;
      if (depth >= max_depth || h.count > max_count)
        return TR_ELIMIT;
      if (values > len - pos)
        return TR_EPROTO; /* more elements than bytes: truncated, or a lie about its size */
      if (values > 0) {
        left[depth++] = values;
        continue;
      }
    }
    /* A value ended; it may be the last of its container, which ends that one too. */
    while (depth > 0 && --left[depth - 1] == 0)
      depth--;
    if (depth == 0)
      break;
  }
  return pos == len ? 0 : TR_EPROTO;
}

/* Check with the limits resolved; depth_cap bounds max_depth further. */
static int check(const void *data, size_t len, const tr_limits_t *lim, uint32_t depth_cap) {
  if (data == NULL && len > 0)
    return TR_EINVAL;
  tr_limits_t l = tr__limits(lim);
  if (len > l.max_size)
    return TR_ELIMIT;
  if (len == 0)
    return TR_EPROTO; /* not even a type byte */
  uint32_t depth = l.max_depth < depth_cap ? l.max_depth : depth_cap;
  return walk(data, len, depth, l.max_count);
}

int tr_msgpack_check(const void *data, size_t len, const tr_limits_t *lim) {
  return check(data, len, lim, TR__CHECK_MAX_DEPTH);
}

int tr_msgpack_parse(const void *data, size_t len, const tr_limits_t *lim, msgpack_zone *zone,
                     msgpack_object *out) {
  if (zone == NULL || out == NULL)
    return TR_EINVAL;
  /* msgpack-c's unpacker keeps open containers in a fixed stack of MSGPACK_EMBED_STACK_SIZE
   * and reports a deeper value as out of memory; refusing it here names it a limit. */
  int rc = check(data, len, lim, MSGPACK_EMBED_STACK_SIZE);
  if (rc != 0)
    return rc;

  /* msgpack-c points strings, binaries and exts into the buffer it parses. Parsing a copy
   * held in the zone makes the whole object live exactly as long as the zone, as the
   * contract says, with one allocation rather than one per string. */
  char *copy = msgpack_zone_malloc_no_align(zone, len);
  if (copy == NULL)
    return TR_ENOMEM;
  memcpy(copy, data, len);
  size_t off = 0;
  switch (msgpack_unpack(copy, len, &off, zone, out)) {
  case MSGPACK_UNPACK_SUCCESS:
    return 0;
  case MSGPACK_UNPACK_NOMEM_ERROR:
    return TR_ENOMEM;
  default: /* not expected after the check, but never a success */
    return TR_EPROTO;
  }
}
