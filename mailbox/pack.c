/* Building a msgpack payload from a format string in one call (tr_pack and friends), and
 * the format scanner that the unpacker shares. msgpack-c's msgpack_packer does the encoding;
 * this file gives it a write callback that appends either to the caller's fixed buffer,
 * failing rather than writing past its end, or to a malloc buffer that doubles as it fills.
 * The whole format is validated before anything is written, so a bad format is TR_EINVAL
 * whatever the buffer, and array and map headers take their counts from the format itself. */
#include <stdlib.h>
#include <string.h>

#include "mailbox/pack_internal.h"
#include "troupe/error.h"
#include "troupe/msg.h"

/* First size of a tr_pack buffer: a typical message (a tag's arguments: a few integers and
 * a short string) fits without a realloc, and the waste on a tiny one is small. */
#define TR__PACK_FIRST_CAP 64

/* Where the packer's bytes go. */
typedef struct {
  unsigned char *buf;
  size_t cap;
  size_t used;
  bool grows; /* a malloc buffer of ours that may be enlarged, or the caller's fixed one */
  int err;    /* why the last append failed: TR_EMSGSIZE or TR_ENOMEM */
} sink_t;

int tr__fmt_check(const char *fmt) {
  char close[TR__FMT_MAX_DEPTH];      /* the bracket each open level expects */
  uint64_t values[TR__FMT_MAX_DEPTH]; /* values seen so far at each open level */
  size_t depth = 0;
  for (const char *p = fmt; *p != '\0'; p++) {
    switch (*p) {
    case ' ':
      continue;
    case 'i':
    case 'u':
    case 'd':
    case 'b':
    case 'n':
    case 's':
    case 'x':
    case '[':
    case '{':
      break;
    case ']':
    case '}':
      if (depth == 0 || close[depth - 1] != *p)
        return TR_EINVAL;
      depth--;
      if (*p == '}' && values[depth] % 2 != 0)
        return TR_EINVAL;
      continue;
    default:
      return TR_EINVAL;
    }
    /* A value: one more in the innermost open bracket, whose header holds 32 bits. */
    if (depth > 0 && ++values[depth - 1] > UINT32_MAX)
      return TR_EINVAL;
    if (*p == '[' || *p == '{') {
      if (depth == TR__FMT_MAX_DEPTH)
        return TR_EINVAL;
      close[depth] = *p == '[' ? ']' : '}';
      values[depth] = 0;
      depth++;
    }
  }
  return depth == 0 ? 0 : TR_EINVAL;
}

uint32_t tr__fmt_count(const char *p) {
  uint32_t n = 0;
  unsigned depth = 0; /* brackets opened since p and not yet closed */
  for (;; p++) {
    switch (*p) {
    case ' ':
      break;
    case '[':
    case '{':
      if (depth++ == 0)
        n++;
      break;
    case ']':
    case '}':
      if (depth-- == 0)
        return n;
      break;
    default:
      if (depth == 0)
        n++;
      break;
    }
  }
}

/* Make room for n more bytes: doubling keeps the copies linear in the final size. */
static int grow(sink_t *s, size_t n) {
  if (!s->grows)
    return TR_EMSGSIZE;
  if (n > SIZE_MAX - s->used)
    return TR_ENOMEM;
  size_t need = s->used + n;
  size_t cap = s->cap;
  while (cap < need)
    cap = cap > SIZE_MAX / 2 ? need : cap * 2;
  unsigned char *buf = realloc(s->buf, cap);
  if (buf == NULL)
    return TR_ENOMEM;
  s->buf = buf;
  s->cap = cap;
  return 0;
}

/* The msgpack_packer write callback. A non-zero return makes the msgpack_pack_* call that
 * wrote return it, which stops put(); the reason is kept in the sink. */
static int append(void *data, const char *bytes, size_t n) {
  sink_t *s = data;
  if (n > s->cap - s->used) {
    s->err = grow(s, n);
    if (s->err != 0)
      return -1;
  }
  if (n > 0)
    memcpy(s->buf + s->used, bytes, n);
  s->used += n;
  return 0;
}

/* Pack one value per letter of a validated format. Closing brackets write nothing: the
 * array or map header at the opening bracket already said how many values follow. */
static int put(msgpack_packer *pk, const char *fmt, va_list ap) {
  for (const char *p = fmt; *p != '\0'; p++) {
    int rc = 0;
    switch (*p) {
    case 'i':
      rc = msgpack_pack_int64(pk, va_arg(ap, int64_t));
      break;
    case 'u':
      rc = msgpack_pack_uint64(pk, va_arg(ap, uint64_t));
      break;
    case 'd':
      rc = msgpack_pack_double(pk, va_arg(ap, double));
      break;
    case 'b':
      rc = va_arg(ap, int) != 0 ? msgpack_pack_true(pk) : msgpack_pack_false(pk);
      break;
    case 'n':
      rc = msgpack_pack_nil(pk);
      break;
    case 's': {
      const char *str = va_arg(ap, const char *);
      if (str == NULL)
        return TR_EINVAL;
      size_t n = strlen(str);
      /* msgpack lengths are 32 bits; msgpack-c would silently truncate a longer one. */
      if ((uint64_t)n > UINT32_MAX)
        return TR_EINVAL;
      rc = msgpack_pack_str_with_body(pk, str, n);
      break;
    }
    case 'x': {
      const void *bin = va_arg(ap, const void *);
      size_t n = va_arg(ap, size_t);
      if ((bin == NULL && n > 0) || (uint64_t)n > UINT32_MAX)
        return TR_EINVAL;
      rc = msgpack_pack_bin_with_body(pk, bin, n);
      break;
    }
    case '[':
      rc = msgpack_pack_array(pk, tr__fmt_count(p + 1));
      break;
    case '{':
      rc = msgpack_pack_map(pk, tr__fmt_count(p + 1) / 2);
      break;
    default: /* a space or a closing bracket */
      break;
    }
    if (rc != 0)
      return ((sink_t *)pk->data)->err;
  }
  return 0;
}

/* Validate fmt, then pack into the sink. */
static int pack(sink_t *s, const char *fmt, va_list ap) {
  int rc = tr__fmt_check(fmt);
  if (rc != 0)
    return rc;
  msgpack_packer pk;
  msgpack_packer_init(&pk, s, append);
  return put(&pk, fmt, ap);
}

int tr_vpack_into(void *buf, size_t cap, size_t *len, const char *fmt, va_list ap) {
  if ((buf == NULL && cap > 0) || len == NULL || fmt == NULL)
    return TR_EINVAL;
  sink_t s = {.buf = buf, .cap = cap};
  int rc = pack(&s, fmt, ap);
  if (rc != 0)
    return rc;
  *len = s.used;
  return 0;
}

int tr_pack_into(void *buf, size_t cap, size_t *len, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int rc = tr_vpack_into(buf, cap, len, fmt, ap);
  va_end(ap);
  return rc;
}

int tr_vpack(void **out, size_t *len, const char *fmt, va_list ap) {
  if (out == NULL || len == NULL || fmt == NULL)
    return TR_EINVAL;
  /* Allocated before packing, so that even an empty format hands back a pointer to free. */
  sink_t s = {.buf = malloc(TR__PACK_FIRST_CAP), .cap = TR__PACK_FIRST_CAP, .grows = true};
  if (s.buf == NULL)
    return TR_ENOMEM;
  int rc = pack(&s, fmt, ap);
  if (rc != 0) {
    free(s.buf);
    return rc;
  }
  *out = s.buf;
  *len = s.used;
  return 0;
}

int tr_pack(void **out, size_t *len, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int rc = tr_vpack(out, len, fmt, ap);
  va_end(ap);
  return rc;
}
