/* RESP2 for actors: the input codec TR_CODEC_RESP (net/resp.h), which turns Redis commands
 * into msgpack arrays of bin, and the public reply and argument helpers (troupe/resp.h).
 *
 * Parsing follows Redis 7's processMultibulkBuffer and processInlineBuffer, including their
 * error texts, so a client sees the same "-ERR Protocol error: ..." it would from Redis.
 * It is stricter in one place: the two bytes after bulk data must be "\r\n" (Redis skips
 * them unchecked). Every length is checked against its limit before a byte is buffered. */
#include <stdio.h>
#include <string.h>

#include "base/base.h"
#include "net/resp.h"
#include "troupe/resp.h"

/* `hlen` once a protocol error was reported (net/resp.h). */
#define RESP_FAILED 1u
/* First allocation of a buffer; it doubles from here, so small commands cost little. */
#define GATHER_MIN 256u
/* Longest protocol error text we produce, with its NUL. */
#define ERR_TEXT_MAX 96

enum { SCAN_MORE = 0, SCAN_DONE, SCAN_SKIP, SCAN_ERROR };

/* What a scan of a command found. */
typedef struct {
  size_t used; /* raw bytes of the command, or of an empty command to skip */
  size_t argc; /* its arguments */
  size_t enc;  /* bytes of its msgpack form */
  char err[ERR_TEXT_MAX];
} scan_t;

static int reserve(unsigned char **buf, size_t *cap, size_t want) {
  if (want <= *cap)
    return 0;
  size_t n = *cap ? *cap : GATHER_MIN;
  while (n < want)
    n *= 2;
  unsigned char *b = realloc(*buf, n);
  if (!b)
    return TR_ENOMEM;
  *buf = b;
  *cap = n;
  return 0;
}

/* ---- msgpack output ---- */

static size_t array_hdr_len(size_t n) { return n < 16 ? 1 : n <= 0xffff ? 3 : 5; }
static size_t bin_hdr_len(size_t n) { return n <= 0xff ? 2 : n <= 0xffff ? 3 : 5; }

static size_t put_be(unsigned char *o, uint64_t v, size_t bytes) {
  for (size_t i = 0; i < bytes; i++)
    o[i] = (unsigned char)(v >> (8 * (bytes - 1 - i)));
  return bytes;
}

static size_t put_array(unsigned char *o, size_t n) {
  if (n < 16) {
    o[0] = (unsigned char)(0x90 | n);
    return 1;
  }
  o[0] = n <= 0xffff ? 0xdc : 0xdd;
  return 1 + put_be(o + 1, n, n <= 0xffff ? 2 : 4);
}

static size_t put_bin(unsigned char *o, const unsigned char *p, size_t n) {
  size_t h = bin_hdr_len(n);
  o[0] = h == 2 ? 0xc4 : h == 3 ? 0xc5 : 0xc6;
  put_be(o + 1, n, h - 1);
  if (p)
    memcpy(o + h, p, n);
  return h + n;
}

/* ---- scanning ---- */

/* A header line "<c>N\r\n" at p[pos]: 1 with its number and the position after it, 0 when
 * incomplete, -1 when no line end comes within TR_RESP_INLINE_MAX, -2 when not a number. */
static int header(const unsigned char *p, size_t n, size_t pos, size_t *next, long long *v) {
  size_t room = n - pos < TR_RESP_INLINE_MAX + 2 ? n - pos : TR_RESP_INLINE_MAX + 2;
  const unsigned char *nl = memchr(p + pos, '\n', room);
  if (!nl)
    return n - pos > TR_RESP_INLINE_MAX ? -1 : 0;
  size_t end = (size_t)(nl - p);
  *next = end + 1;
  if (end < pos + 2 || p[end - 1] != '\r')
    return -2;
  const unsigned char *d = p + pos + 1, *e = p + end - 1;
  bool neg = *d == '-';
  d += neg;
  /* As Redis's string2ll: digits only, no leading zero, no overflow. */
  if (d == e || e - d > 18 || (*d == '0' && e - d > 1) || (neg && *d == '0'))
    return -2;
  long long x = 0;
  for (; d < e; d++) {
    if (*d < '0' || *d > '9')
      return -2;
    x = x * 10 + (*d - '0');
  }
  *v = neg ? -x : x;
  return 1;
}

static int scan_error(scan_t *s, const char *what, int c) {
  if (c >= 0)
    snprintf(s->err, sizeof s->err, "Protocol error: %s'%c'", what,
             c >= 0x20 && c < 0x7f ? c : '?');
  else
    snprintf(s->err, sizeof s->err, "Protocol error: %s", what);
  return SCAN_ERROR;
}

static int scan_multibulk(const unsigned char *p, size_t n, size_t max, scan_t *s) {
  size_t pos;
  long long v;
  int rc = header(p, n, 0, &pos, &v);
  if (rc == 0)
    return SCAN_MORE;
  if (rc == -1)
    return scan_error(s, "too big mbulk count string", -1);
  if (rc < 0 || v > (long long)TR_RESP_ARGS_MAX)
    return scan_error(s, "invalid multibulk length", -1);
  s->used = pos;
  if (v <= 0)
    return SCAN_SKIP; /* "*0" and "*-1" are empty commands, ignored as Redis does */
  s->argc = (size_t)v;
  s->enc = array_hdr_len(s->argc);
  for (size_t i = 0; i < s->argc; i++) {
    if (pos == n)
      return SCAN_MORE;
    if (p[pos] != '$')
      return scan_error(s, "expected '$', got ", p[pos]);
    size_t next;
    rc = header(p, n, pos, &next, &v);
    if (rc == 0)
      return SCAN_MORE;
    if (rc == -1)
      return scan_error(s, "too big bulk count string", -1);
    if (rc < 0 || v < 0 || (size_t)v > max)
      return scan_error(s, "invalid bulk length", -1);
    size_t blen = (size_t)v;
    if (next + blen + 2 > TR_RESP_COMMAND_MAX)
      return scan_error(s, "command too big", -1);
    if (n - next < blen + 2)
      return SCAN_MORE;
    if (p[next + blen] != '\r' || p[next + blen + 1] != '\n')
      return scan_error(s, "expected CRLF after bulk data", -1);
    s->enc += bin_hdr_len(blen) + blen;
    pos = next + blen + 2;
  }
  s->used = pos;
  return SCAN_DONE;
}

static bool is_space(unsigned char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

static int hex(unsigned char c) {
  return c >= '0' && c <= '9'   ? c - '0'
         : c >= 'a' && c <= 'f' ? c - 'a' + 10
         : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                : -1;
}

/* One byte of a double-quoted string at s[*i] (a "\" escape as Redis's sdssplitargs). */
static unsigned char dq_byte(const unsigned char *s, size_t n, size_t *i) {
  size_t k = *i;
  if (s[k] != '\\' || k + 1 >= n)
    return s[(*i)++];
  if (s[k + 1] == 'x' && k + 3 < n && hex(s[k + 2]) >= 0 && hex(s[k + 3]) >= 0) {
    *i = k + 4;
    return (unsigned char)(hex(s[k + 2]) * 16 + hex(s[k + 3]));
  }
  *i = k + 2;
  switch (s[k + 1]) {
  case 'n':
    return '\n';
  case 'r':
    return '\r';
  case 't':
    return '\t';
  case 'b':
    return '\b';
  case 'a':
    return '\a';
  default:
    return s[k + 1];
  }
}

/* The next argument of an inline line from s[*i]: 1 (its decoded bytes written to dst when
 * not NULL, their count in *dn), 0 at the end, -1 for unbalanced quotes. */
static int inline_arg(const unsigned char *s, size_t n, size_t *i, unsigned char *dst, size_t *dn) {
  size_t k = *i, out = 0;
  while (k < n && is_space(s[k]))
    k++;
  if (k == n)
    return 0;
  int quote = 0; /* 0, '"' or '\'' */
  for (;;) {
    if (k == n) {
      if (quote)
        return -1;
      break;
    }
    unsigned char c = s[k];
    if (!quote && is_space(c))
      break;
    if (!quote && (c == '"' || c == '\'')) {
      quote = c;
      k++;
      continue;
    }
    if (quote && c == quote) { /* a closing quote must end the argument */
      if (++k < n && !is_space(s[k]))
        return -1;
      break;
    }
    if (quote == '"')
      c = dq_byte(s, n, &k);
    else if (quote == '\'' && c == '\\' && k + 1 < n && s[k + 1] == '\'')
      c = '\'', k += 2;
    else
      k++;
    if (dst)
      dst[out] = c;
    out++;
  }
  *i = k;
  *dn = out;
  return 1;
}

/* The line of an inline command, without its line end: its length, or SIZE_MAX if none. */
static size_t inline_line(const unsigned char *p, size_t n, size_t *used) {
  const unsigned char *nl = memchr(p, '\n', n);
  if (!nl)
    return SIZE_MAX;
  size_t e = (size_t)(nl - p);
  *used = e + 1;
  return e && p[e - 1] == '\r' ? e - 1 : e;
}

static int scan_inline(const unsigned char *p, size_t n, scan_t *s) {
  size_t line = inline_line(p, n, &s->used);
  if (line == SIZE_MAX)
    return n > TR_RESP_INLINE_MAX ? scan_error(s, "too big inline request", -1) : SCAN_MORE;
  if (line > TR_RESP_INLINE_MAX)
    return scan_error(s, "too big inline request", -1);
  size_t i = 0, dn, enc = 0;
  int rc;
  while ((rc = inline_arg(p, line, &i, NULL, &dn)) == 1) {
    s->argc++;
    enc += bin_hdr_len(dn) + dn;
  }
  if (rc < 0)
    return scan_error(s, "unbalanced quotes in request", -1);
  if (s->argc == 0)
    return SCAN_SKIP;
  s->enc = array_hdr_len(s->argc) + enc;
  return SCAN_DONE;
}

static int scan(const unsigned char *p, size_t n, size_t max, scan_t *s) {
  return p[0] == '*' ? scan_multibulk(p, n, max, s) : scan_inline(p, n, s);
}

/* Write the msgpack form of a command that scan() accepted. */
static void encode(const unsigned char *p, const scan_t *s, unsigned char *o) {
  size_t w = put_array(o, s->argc), pos, next, dn;
  long long v;
  if (p[0] == '*') {
    header(p, s->used, 0, &pos, &v);
    for (size_t i = 0; i < s->argc; i++) {
      header(p, s->used, pos, &next, &v);
      w += put_bin(o + w, p + next, (size_t)v);
      pos = next + (size_t)v + 2;
    }
    return;
  }
  size_t line = inline_line(p, s->used, &pos), i = 0, j = 0;
  while (inline_arg(p, line, &i, NULL, &dn) == 1) {
    w += put_bin(o + w, NULL, dn) - dn;
    inline_arg(p, line, &j, o + w, &dn);
    w += dn;
  }
}

/* Report a protocol error: one msgpack str unit, then discard everything. */
static int fail(tr_codec_state_t *c, const char *text, size_t len, size_t *used, const void **out,
                size_t *out_len) {
  size_t n = strlen(text);
  if (reserve(&c->buf, &c->cap, n + 2))
    return TR_ENOMEM;
  c->buf[0] = 0xd9; /* str 8: the text is shorter than ERR_TEXT_MAX */
  c->buf[1] = (unsigned char)n;
  memcpy(c->buf + 2, text, n);
  c->hlen = RESP_FAILED;
  c->reset = true;
  *used = len;
  *out = c->buf;
  *out_len = n + 2;
  return 1;
}

int tr__resp_next(tr_codec_state_t *c, const void *in, size_t len, size_t *used, const void **out,
                  size_t *out_len) {
  const unsigned char *p = in;
  size_t pos = 0; /* bytes of `in` taken by empty commands skipped so far */
  *used = 0;
  if (c->hlen == RESP_FAILED) {
    *used = len;
    return 0;
  }
  for (;;) {
    size_t old = c->len;
    if (old && reserve(&c->buf, &c->cap, old + len - pos))
      return TR_ENOMEM;
    if (old) { /* a split command: scan it whole, with everything read since */
      memcpy(c->buf + old, p + pos, len - pos);
      c->len = old + len - pos;
    }
    const unsigned char *src = old ? c->buf : p + pos;
    size_t n = old ? c->len : len - pos;
    scan_t s = {0};
    int rc = n ? scan(src, n, c->max, &s) : SCAN_MORE;
    if (rc == SCAN_ERROR)
      return fail(c, s.err, len, used, out, out_len);
    if (rc == SCAN_MORE) {
      if (!old && n && reserve(&c->buf, &c->cap, n))
        return TR_ENOMEM;
      if (!old && n)
        memcpy(c->buf, src, n);
      c->len = n;
      *used = len;
      return 0;
    }
    pos += s.used - old;
    if (rc == SCAN_SKIP) {
      c->len = 0;
      continue;
    }
    size_t at = old ? s.used : 0; /* the msgpack form goes after gathered raw bytes */
    if (reserve(&c->buf, &c->cap, at + s.enc))
      return TR_ENOMEM;
    encode(old ? c->buf : src, &s, c->buf + at);
    c->len = at + s.enc;
    c->reset = true;
    *used = pos;
    *out = c->buf + at;
    *out_len = s.enc;
    return 1;
  }
}

/* ---- replies (troupe/resp.h) ---- */

void tr_resp_buf_free(tr_resp_buf_t *b) {
  free(b->data);
  *b = (tr_resp_buf_t){0};
}

int tr_resp_raw(tr_resp_buf_t *b, const void *data, size_t len) {
  if (b->err)
    return b->err;
  if (reserve(&b->data, &b->cap, b->len + len))
    return b->err = TR_ENOMEM;
  if (len)
    memcpy(b->data + b->len, data, len);
  b->len += len;
  return 0;
}

/* "<c>text\r\n" for a line that may not hold a line end. */
static int line(tr_resp_buf_t *b, char c, const char *text) {
  size_t n = strlen(text);
  if (!b->err && (memchr(text, '\r', n) || memchr(text, '\n', n)))
    b->err = TR_EINVAL;
  tr_resp_raw(b, &c, 1);
  tr_resp_raw(b, text, n);
  return tr_resp_raw(b, "\r\n", 2);
}

static int number(tr_resp_buf_t *b, char c, long long v) {
  char t[24];
  int n = snprintf(t, sizeof t, "%c%lld\r\n", c, v);
  return tr_resp_raw(b, t, (size_t)n);
}

int tr_resp_simple(tr_resp_buf_t *b, const char *text) { return line(b, '+', text); }
int tr_resp_error(tr_resp_buf_t *b, const char *text) { return line(b, '-', text); }
int tr_resp_integer(tr_resp_buf_t *b, int64_t v) { return number(b, ':', (long long)v); }
int tr_resp_null(tr_resp_buf_t *b) { return tr_resp_raw(b, "$-1\r\n", 5); }
int tr_resp_null_array(tr_resp_buf_t *b) { return tr_resp_raw(b, "*-1\r\n", 5); }
int tr_resp_array(tr_resp_buf_t *b, size_t n) { return number(b, '*', (long long)n); }

int tr_resp_bulk(tr_resp_buf_t *b, const void *data, size_t len) {
  number(b, '$', (long long)len);
  tr_resp_raw(b, data, len);
  return tr_resp_raw(b, "\r\n", 2);
}

/* ---- reading a command's payload ---- */

/* A big-endian length of `bytes` bytes at p[*i], within n. */
static bool get_be(const unsigned char *p, size_t n, size_t *i, size_t bytes, size_t *v) {
  if (n - *i < bytes)
    return false;
  size_t x = 0;
  for (size_t k = 0; k < bytes; k++)
    x = x << 8 | p[*i + k];
  *i += bytes;
  *v = x;
  return true;
}

/* A bin or str header at p[*i]: its length; false for any other type. */
static bool blob(const unsigned char *p, size_t n, size_t *i, size_t *len, bool *str) {
  if (*i >= n)
    return false;
  unsigned char t = p[(*i)++];
  *str = t >= 0xa0 && t <= 0xbf;
  if (*str) {
    *len = t & 0x1f;
    return true;
  }
  *str = t >= 0xd9 && t <= 0xdb;
  size_t bytes = t == 0xc4 || t == 0xd9   ? 1
                 : t == 0xc5 || t == 0xda ? 2
                 : t == 0xc6 || t == 0xdb ? 4
                                          : 0;
  return bytes && get_be(p, n, i, bytes, len);
}

int tr_resp_argv(const void *data, size_t len, tr_resp_arg_t *argv, size_t cap, size_t *argc) {
  const unsigned char *p = data;
  size_t i = 0, count, n;
  bool str;
  if (!p || len == 0)
    return TR_ETYPE;
  if (blob(p, len, &i, &n, &str) && str) { /* the codec's protocol-error notice */
    if (n > len - i)
      return TR_ETYPE;
    if (cap)
      argv[0] = (tr_resp_arg_t){p + i, n};
    *argc = 1;
    return TR_EPROTO;
  }
  i = 1;
  if (p[0] >= 0x90 && p[0] <= 0x9f)
    count = p[0] & 0x0f;
  else if (!((p[0] == 0xdc && get_be(p, len, &i, 2, &count)) ||
             (p[0] == 0xdd && get_be(p, len, &i, 4, &count))))
    return TR_ETYPE;
  for (size_t k = 0; k < count; k++) {
    if (!blob(p, len, &i, &n, &str) || n > len - i)
      return TR_ETYPE;
    if (k < cap)
      argv[k] = (tr_resp_arg_t){p + i, n};
    i += n;
  }
  *argc = count;
  return i == len ? 0 : TR_ETYPE;
}
