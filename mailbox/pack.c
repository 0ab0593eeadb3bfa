/* Building a msgpack payload from a format string in one call (tr_pack and friends), and
 * the whole-format check that the unpacker shares. msgpack-c's msgpack_packer does the
 * encoding; this file gives it write callbacks that append either to the caller's fixed
 * buffer, failing rather than writing past its end, or to a malloc buffer that doubles as it
 * fills. Array and map headers take their counts from the format itself.
 *
 * tr_sendf packs every message through here, so the cost per value matters. The format is
 * checked in the same pass that packs it, not in a pass of its own first, and the packer,
 * its callback and the loop are compiled into one function: msgpack-c's msgpack_pack_* are
 * static inline and call the callback through a pointer, and only where the compiler sees
 * which function that pointer holds can it inline the callback and turn each write into a
 * bounds check and a few stores of a known size. */
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "mailbox/pack_internal.h"
#include "troupe/error.h"
#include "troupe/msg.h"

/* First size of a tr_pack buffer: a typical message (a tag's arguments: a few integers and
 * a short string) fits without a realloc, and the waste on a tiny one is small. */
#define TR__PACK_FIRST_CAP 64

/* On the two entry points: inline every call in the function, as far as possible, and
 * again in what was inlined. msgpack_packer_init stores the write callback in the packer,
 * so once the msgpack_pack_* are inlined their callback becomes a direct call; but GCC
 * inlines early, before it knows that, and neither `inline` nor always_inline on the
 * callback makes it look again. flatten does, at the whole-program inlining stage. grow() is
 * marked noinline to stay out. */
#define TR__FLATTEN __attribute__((flatten))

/* Where the packer's bytes go: the caller's fixed buffer, or a malloc buffer of ours that
 * grows (which of the two is the write callback's business). */
typedef struct {
  unsigned char *buf;
  size_t cap;
  size_t used;
} sink_t;

const uint8_t tr__fmt_class[256] = {
    ['i'] = TR__FMT_VALUE, ['u'] = TR__FMT_VALUE, ['d'] = TR__FMT_VALUE, ['b'] = TR__FMT_VALUE,
    ['n'] = TR__FMT_VALUE, ['s'] = TR__FMT_VALUE, ['x'] = TR__FMT_VALUE, ['p'] = TR__FMT_VALUE,
    ['['] = TR__FMT_OPEN,  ['{'] = TR__FMT_OPEN,  [']'] = TR__FMT_CLOSE, ['}'] = TR__FMT_CLOSE,
    [' '] = TR__FMT_SPACE,
};

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
    case 'p':
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

/* Make room for n more bytes: doubling keeps the copies linear in the final size. Out of
 * line and cold, so that the packing loop stays small. */
static __attribute__((noinline, cold)) int grow(sink_t *s, size_t n) {
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

/* Copy n bytes. msgpack-c hands the write callback either a header that it has just built on
 * its stack (a type byte, then a big-endian field of 1, 2, 4 or 8 bytes) or a str's or bin's
 * body from the caller. A header must be read back in the pieces it was stored in: a load
 * that spans two recent stores cannot be forwarded from the store buffer and stalls the
 * CPU for tens of cycles. So the first byte is copied alone and the rest in moves of 8, 4,
 * 2 or 1 bytes, overlapping at the end rather than looping. Inlined, n is a constant for each
 * header and this folds into one move per piece; for a short body it beats a call into libc. */
static inline void copy(unsigned char *to, const unsigned char *from, size_t n) {
  if (n == 0)
    return;
  *to++ = *from++;
  n--;
  if (n > 16) {
    memcpy(to, from, n);
  } else if (n >= 8) {
    memcpy(to, from, 8);
    memcpy(to + n - 8, from + n - 8, 8);
  } else if (n >= 4) {
    memcpy(to, from, 4);
    memcpy(to + n - 4, from + n - 4, 4);
  } else if (n >= 2) {
    memcpy(to, from, 2);
    memcpy(to + n - 2, from + n - 2, 2);
  } else if (n == 1) {
    *to = *from;
  }
}

/* The msgpack_packer write callbacks, one per kind of sink. A non-zero return makes the
 * msgpack_pack_* call that wrote return it unchanged, so it is the error itself. The caller's
 * fixed buffer gets a callback of its own rather than a flag in the sink, so that its
 * packing loop has no path that passes the sink to grow(): a sink whose address never
 * escapes is kept in registers, rather than loaded and stored around every write. */
static inline int append_fixed(void *data, const char *bytes, size_t n) {
  sink_t *s = data;
  if (TR_UNLIKELY(n > s->cap - s->used))
    return TR_EMSGSIZE;
  copy(s->buf + s->used, (const unsigned char *)bytes, n);
  s->used += n;
  return 0;
}

static inline int append_grown(void *data, const char *bytes, size_t n) {
  sink_t *s = data;
  if (TR_UNLIKELY(n > s->cap - s->used)) {
    int rc = grow(s, n);
    if (rc != 0)
      return rc; /* TR_ENOMEM */
  }
  copy(s->buf + s->used, (const unsigned char *)bytes, n);
  s->used += n;
  return 0;
}

/* Pack one value per letter of fmt into the sink through the write callback, checking the
 * format on the way: a bracket's level is scanned when it opens (tr__fmt_level gives the
 * count its header needs, and whether the level is well formed), so only the depth is
 * tracked here, and closing brackets write nothing. Inlined into both public callers, each
 * with its own constant callback. */
static inline int pack(sink_t *s, msgpack_packer_write write, const char *fmt, va_list ap,
                       bool *pids) {
  msgpack_packer pk;
  msgpack_packer_init(&pk, s, write);
  uint32_t depth = 0;
  for (const char *p = fmt; *p != '\0'; p++) {
    int rc;
    switch (*p) {
    case ' ':
      continue;
    case 'i':
      rc = msgpack_pack_int64(&pk, va_arg(ap, int64_t));
      break;
    case 'u':
      rc = msgpack_pack_uint64(&pk, va_arg(ap, uint64_t));
      break;
    case 'd':
      rc = msgpack_pack_double(&pk, va_arg(ap, double));
      break;
    case 'b':
      rc = va_arg(ap, int) != 0 ? msgpack_pack_true(&pk) : msgpack_pack_false(&pk);
      break;
    case 'n':
      rc = msgpack_pack_nil(&pk);
      break;
    case 's': {
      const char *str = va_arg(ap, const char *);
      if (str == NULL)
        return TR_EINVAL;
      size_t n = strlen(str);
      /* msgpack lengths are 32 bits; msgpack-c would silently truncate a longer one. */
      if ((uint64_t)n > UINT32_MAX)
        return TR_EINVAL;
      rc = msgpack_pack_str_with_body(&pk, str, n);
      break;
    }
    case 'x': {
      const void *bin = va_arg(ap, const void *);
      size_t n = va_arg(ap, size_t);
      if ((bin == NULL && n > 0) || (uint64_t)n > UINT32_MAX)
        return TR_EINVAL;
      rc = msgpack_pack_bin_with_body(&pk, bin, n);
      break;
    }
    case 'p': { /* a pid: fixext 8 of type TR_EXT_PID, the id big-endian */
      unsigned char be[8];
      *pids = true;
      tr__put_be64(be, va_arg(ap, tr_pid_t).id);
      rc = msgpack_pack_ext(&pk, 8, TR_EXT_PID);
      if (rc == 0)
        rc = msgpack_pack_ext_body(&pk, be, 8);
      break;
    }
    case '[':
    case '{': {
      uint32_t n;
      if (depth == TR__FMT_MAX_DEPTH || tr__fmt_level(p, &n) != 0)
        return TR_EINVAL;
      depth++;
      rc = *p == '[' ? msgpack_pack_array(&pk, n) : msgpack_pack_map(&pk, n / 2);
      break;
    }
    case ']':
    case '}':
      if (depth == 0)
        return TR_EINVAL; /* a close that nothing opened */
      depth--;
      continue;
    default:
      return TR_EINVAL;
    }
    /* The pass stops at a full buffer, which may lie before a format error further on; the
     * contract makes a bad format TR_EINVAL whatever the buffer, so look at the rest. */
    if (TR_UNLIKELY(rc != 0))
      return tr__fmt_check(fmt) != 0 ? TR_EINVAL : rc;
  }
  return 0;
}

TR__FLATTEN int tr__vpack_into_pids(void *buf, size_t cap, size_t *len, const char *fmt, va_list ap,
                                    bool *pids) {
  if (TR_UNLIKELY((buf == NULL && cap > 0) || len == NULL || fmt == NULL))
    return TR_EINVAL;
  sink_t s = {.buf = buf, .cap = cap, .used = 0};
  *pids = false;
  int rc = pack(&s, append_fixed, fmt, ap, pids);
  if (rc != 0)
    return rc;
  *len = s.used;
  return 0;
}

int tr_vpack_into(void *buf, size_t cap, size_t *len, const char *fmt, va_list ap) {
  bool pids;
  return tr__vpack_into_pids(buf, cap, len, fmt, ap, &pids);
}

int tr_pack_into(void *buf, size_t cap, size_t *len, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int rc = tr_vpack_into(buf, cap, len, fmt, ap);
  va_end(ap);
  return rc;
}

TR__FLATTEN int tr__vpack_pids(void **out, size_t *len, const char *fmt, va_list ap, bool *pids) {
  if (TR_UNLIKELY(out == NULL || len == NULL || fmt == NULL))
    return TR_EINVAL;
  /* Allocated before packing, so that even an empty format hands back a pointer to free. */
  sink_t s = {.buf = malloc(TR__PACK_FIRST_CAP), .cap = TR__PACK_FIRST_CAP, .used = 0};
  if (s.buf == NULL)
    return TR_ENOMEM;
  *pids = false;
  int rc = pack(&s, append_grown, fmt, ap, pids);
  if (rc != 0) {
    free(s.buf);
    return rc;
  }
  *out = s.buf;
  *len = s.used;
  return 0;
}

int tr_vpack(void **out, size_t *len, const char *fmt, va_list ap) {
  bool pids;
  return tr__vpack_pids(out, len, fmt, ap, &pids);
}

int tr_pack(void **out, size_t *len, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int rc = tr_vpack(out, len, fmt, ap);
  va_end(ap);
  return rc;
}
