/* The incremental input codecs (codec.h): raw chunks, lines and length-prefixed msgpack
 * frames, cut from a byte stream that arrives in pieces of any size.
 *
 * Every unit is checked against the codec's max before a byte of it is buffered, so input
 * that breaks the limits costs at most max bytes of memory, never more; a frame is checked
 * to be exactly one msgpack value (tr_msgpack_check) before anyone sees it. */
#include <string.h>

#include "base/base.h"
#include "net/codec.h"
#include "net/resp.h"

/* The first allocation of a gathering buffer; it doubles from here up to the codec's max,
 * so a peer that announces a big frame and then sends little costs little. */
#define GATHER_MIN 256u

size_t tr__codec_max(const tr_codec_t *spec) {
  if (spec->max != 0)
    return spec->max;
  switch (spec->kind) {
  case TR_CODEC_LINES:
    return TR_CODEC_LINES_MAX;
  case TR_CODEC_FRAMES:
    return TR_CODEC_FRAMES_MAX;
  case TR_CODEC_RESP:
    return TR_CODEC_RESP_MAX;
  default:
    return TR_CODEC_RAW_MAX;
  }
}

bool tr__codec_valid(const tr_codec_t *spec) {
  bool kind = spec->kind == TR_CODEC_RAW || spec->kind == TR_CODEC_LINES ||
              spec->kind == TR_CODEC_FRAMES || spec->kind == TR_CODEC_RESP;
  return kind && spec->max <= TR_MSG_MAX;
}

void tr__codec_init(tr_codec_state_t *c, const tr_codec_t *spec) {
  memset(c, 0, sizeof *c);
  c->kind = spec->kind;
  c->max = tr__codec_max(spec);
}

void tr__codec_free(tr_codec_state_t *c) {
  free(c->buf);
  c->buf = NULL;
  c->len = c->cap = 0;
}

size_t tr__codec_buffered(const tr_codec_state_t *c) {
  return (c->reset ? 0 : c->len) + (c->hlen < TR_FRAME_HEADER ? c->hlen : 0);
}

void tr__codec_frame_header(uint32_t len, unsigned char hdr[TR_FRAME_HEADER]) {
  hdr[0] = (unsigned char)(len >> 24);
  hdr[1] = (unsigned char)(len >> 16);
  hdr[2] = (unsigned char)(len >> 8);
  hdr[3] = (unsigned char)len;
}

/* Append to the gathering buffer, which may grow up to `limit` bytes (the caller has checked
 * that c->len + n fits in it). */
static int gather(tr_codec_state_t *c, const unsigned char *p, size_t n, size_t limit) {
  if (n == 0)
    return 0;
  size_t want = c->len + n;
  TR_ASSERT(want <= limit);
  if (want > c->cap) {
    size_t cap = c->cap ? c->cap : GATHER_MIN;
    while (cap < want)
      cap *= 2;
    if (cap > limit)
      cap = limit;
    unsigned char *b = realloc(c->buf, cap);
    if (!b)
      return TR_ENOMEM;
    c->buf = b;
    c->cap = cap;
  }
  memcpy(c->buf + c->len, p, n);
  c->len = want;
  return 0;
}

static int next_raw(tr_codec_state_t *c, const unsigned char *in, size_t len, size_t *used,
                    const void **out, size_t *out_len) {
  size_t n = len < c->max ? len : c->max;
  *used = n;
  *out = in;
  *out_len = n;
  return n ? 1 : 0;
}

/* A line's length without the "\r" that may end it. */
static size_t strip_cr(const unsigned char *line, size_t n) {
  return n && line[n - 1] == '\r' ? n - 1 : n;
}

static int next_line(tr_codec_state_t *c, const unsigned char *in, size_t len, size_t *used,
                     const void **out, size_t *out_len) {
  const unsigned char *nl = len ? memchr(in, '\n', len) : NULL;
  if (!nl) {
    /* A line in progress may hold max bytes and one "\r" that its "\n" will drop. */
    size_t total = c->len + len;
    if (total > c->max + 1 || (len && total == c->max + 1 && in[len - 1] != '\r'))
      return TR_ELIMIT;
    *used = len;
    return gather(c, in, len, c->max + 1);
  }
  size_t i = (size_t)(nl - in);
  *used = i + 1;
  if (c->len == 0) { /* the whole line is in this read: hand it out in place */
    size_t n = strip_cr(in, i);
    if (n > c->max)
      return TR_ELIMIT;
    *out = in;
    *out_len = n;
    return 1;
  }
  if (c->len + i > c->max + 1)
    return TR_ELIMIT;
  int rc = gather(c, in, i, c->max + 1);
  if (rc)
    return rc;
  size_t n = strip_cr(c->buf, c->len);
  if (n > c->max)
    return TR_ELIMIT;
  *out = c->buf;
  *out_len = n;
  c->reset = true;
  return 1;
}

int tr__codec_end(tr_codec_state_t *c, const void **out, size_t *out_len) {
  if (c->reset) {
    c->len = 0;
    c->reset = false;
  }
  if (c->kind != TR_CODEC_LINES || c->len == 0)
    return 0;
  size_t n = strip_cr(c->buf, c->len);
  if (n > c->max)
    return 0; /* max bytes and a "\r" that no "\n" followed: one byte too many */
  *out = c->buf;
  *out_len = n;
  c->reset = true;
  return 1;
}

/* Read the length prefix; 1 once it is complete and acceptable. */
static int frame_header(tr_codec_state_t *c, const unsigned char *in, size_t len, size_t *pos) {
  size_t take = TR_FRAME_HEADER - c->hlen;
  if (take > len)
    take = len;
  memcpy(c->hdr + c->hlen, in, take);
  c->hlen = (uint8_t)(c->hlen + take);
  *pos = take;
  if (c->hlen < TR_FRAME_HEADER)
    return 0;
  uint32_t n = (uint32_t)c->hdr[0] << 24 | (uint32_t)c->hdr[1] << 16 | (uint32_t)c->hdr[2] << 8 |
               (uint32_t)c->hdr[3];
  if (n > c->max)
    return TR_ELIMIT;
  if (n == 0)
    return TR_EPROTO; /* an empty frame holds no msgpack value */
  c->need = n;
  return 1;
}

static int next_frame(tr_codec_state_t *c, const unsigned char *in, size_t len, size_t *used,
                      const void **out, size_t *out_len) {
  size_t pos = 0;
  if (c->hlen < TR_FRAME_HEADER) {
    int rc = frame_header(c, in, len, &pos);
    if (rc <= 0) {
      *used = pos;
      return rc;
    }
  }
  const unsigned char *body;
  size_t rest = len - pos;
  if (c->len == 0 && rest >= c->need) { /* the whole body is in this read */
    body = in + pos;
    *used = pos + c->need;
  } else {
    size_t take = c->need - c->len < rest ? c->need - c->len : rest;
    int rc = gather(c, in + pos, take, c->need);
    *used = pos + take;
    if (rc || c->len < c->need)
      return rc;
    body = c->buf;
    c->reset = true;
  }
  c->hlen = 0;
  tr_limits_t lim = {.max_size = c->max};
  int rc = tr_msgpack_check(body, c->need, &lim);
  if (rc)
    return rc;
  *out = body;
  *out_len = c->need;
  return 1;
}

int tr__codec_next(tr_codec_state_t *c, const void *in, size_t len, size_t *used, const void **out,
                   size_t *out_len) {
  if (c->reset) { /* the caller is done with the unit that lived in buf */
    c->len = 0;
    c->reset = false;
  }
  *used = 0;
  switch (c->kind) {
  case TR_CODEC_LINES:
    return next_line(c, in, len, used, out, out_len);
  case TR_CODEC_FRAMES:
    return next_frame(c, in, len, used, out, out_len);
  case TR_CODEC_RESP:
    return tr__resp_next(c, in, len, used, out, out_len);
  default:
    return next_raw(c, in, len, used, out, out_len);
  }
}
