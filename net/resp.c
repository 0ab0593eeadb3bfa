/* The RESP input codec (net/resp.h): Redis commands cut from a byte stream and handed out in
 * batches of whole multibulk commands.
 *
 * Parsing follows Redis 7's processMultibulkBuffer and processInlineBuffer, including their
 * error texts, so a client sees the same "-ERR Protocol error: ..." it would from Redis. It
 * is stricter in two places: a header line must end with "\r\n" (Redis takes any byte after
 * the "\r"), and the two bytes after bulk data must be "\r\n" (Redis skips them unchecked).
 * Every length is checked against its limit before a byte is buffered.
 *
 * The scanner is a state machine fed any number of bytes at a time (scan()); it keeps, in
 * tr_resp_scan_t, the number it is reading and the arguments and bulk bytes still to come,
 * so a command split across reads is never scanned twice. Headers are read a byte at a time;
 * bulk data is skipped by its length; an inline line is searched for its end with memchr and
 * split once it is whole. */
#include <stdio.h>
#include <string.h>

#include "base/base.h"
#include "net/resp.h"
#include "troupe/resp.h"

/* First allocation of a gathering buffer; it doubles from here, so small commands cost little. */
#define GATHER_MIN 256u
/* Longest protocol error reply we produce, with its NUL. */
#define ERR_TEXT_MAX 112

/* What the scanner expects next. */
enum {
  P_START = 0, /* the first byte of a command: '*' or the start of an inline line */
  P_COUNT,     /* the digits of "*N", up to its "\r" */
  P_COUNT_LF,  /* the "\n" after it */
  P_ARG,       /* the "$" of the next argument */
  P_LEN,       /* the digits of "$N", up to its "\r" */
  P_LEN_LF,    /* the "\n" after it */
  P_DATA,      /* bulk bytes */
  P_DATA_CR,   /* the "\r" after them */
  P_DATA_LF,   /* the "\n" */
  P_INLINE,    /* an inline line, up to its "\n" */
};

enum { SCAN_MORE = 0, SCAN_DONE, SCAN_SKIP, SCAN_ERROR };

typedef struct {
  char err[ERR_TEXT_MAX]; /* the reply, when SCAN_ERROR */
} failure_t;

static int error(failure_t *f, const char *what, int c) {
  if (c >= 0)
    snprintf(f->err, sizeof f->err, "-ERR Protocol error: %s'%c'\r\n", what,
             c >= 0x20 && c < 0x7f ? c : '?');
  else
    snprintf(f->err, sizeof f->err, "-ERR Protocol error: %s\r\n", what);
  return SCAN_ERROR;
}

/* One byte of a "*N" or "$N" number, as Redis's string2ll reads it: an optional '-', digits,
 * no leading zero, at most 18 digits. A byte that breaks these rules only marks the number
 * bad: as Redis does, the verdict waits for the line's "\r" (or its length limit). */
static void digit(tr_resp_scan_t *s, unsigned char c) {
  if (s->line == 1 && c == '-' && !s->neg) {
    s->neg = true;
    return;
  }
  if (c < '0' || c > '9' || s->digits == 18 || (s->digits == 1 && s->num == 0))
    s->bad = true;
  else if (s->neg && s->digits == 0 && c == '0')
    s->bad = true;
  s->num = s->num * 10 + (uint64_t)(c - '0');
  s->digits++;
}

static void number_start(tr_resp_scan_t *s) {
  s->bad = s->neg = false;
  s->digits = 0;
  s->num = 0;
  s->line = 0;
}

static bool number_ok(const tr_resp_scan_t *s) { return !s->bad && s->digits > 0; }

/* Scan p[0..n) of the current command. *k receives the bytes consumed: all of them for
 * SCAN_MORE; up to and including the command's last byte for SCAN_DONE and SCAN_SKIP. */
static int scan(tr_resp_scan_t *s, const unsigned char *p, size_t n, size_t max, size_t *k,
                failure_t *f) {
  size_t i = 0;
  int rc = SCAN_MORE;
  while (i < n && rc == SCAN_MORE) {
    unsigned char c = p[i];
    switch (s->phase) {
    case P_START:
      s->total = 0;
      number_start(s);
      if (c == '*') {
        s->phase = P_COUNT;
        i++;
      } else {
        s->phase = P_INLINE;
      }
      break;
    case P_COUNT:
    case P_LEN:
      i++;
      if (c == '\r') {
        s->phase = s->phase == P_COUNT ? P_COUNT_LF : P_LEN_LF;
        break;
      }
      s->line++;
      if (s->line > TR_RESP_INLINE_MAX)
        return error(
            f, s->phase == P_COUNT ? "too big mbulk count string" : "too big bulk count string",
            -1);
      digit(s, c);
      break;
    case P_COUNT_LF:
      i++;
      if (c != '\n' || !number_ok(s) || (!s->neg && s->num > TR_RESP_ARGS_MAX))
        return error(f, "invalid multibulk length", -1);
      if (s->neg || s->num == 0) { /* "*0" and "*-1" are empty commands, skipped */
        s->phase = P_START;
        rc = SCAN_SKIP;
        break;
      }
      s->left = (uint32_t)s->num;
      s->phase = P_ARG;
      break;
    case P_ARG:
      if (c != '$')
        return error(f, "expected '$', got ", c);
      i++;
      number_start(s);
      s->phase = P_LEN;
      break;
    case P_LEN_LF:
      i++;
      if (c != '\n' || !number_ok(s) || s->neg || s->num > max)
        return error(f, "invalid bulk length", -1);
      s->data = s->num;
      s->phase = P_DATA;
      break;
    case P_DATA: {
      size_t take = n - i < s->data ? n - i : (size_t)s->data;
      i += take;
      s->data -= take;
      if (s->data == 0)
        s->phase = P_DATA_CR;
      break;
    }
    case P_DATA_CR:
    case P_DATA_LF:
      i++;
      if (c != (s->phase == P_DATA_CR ? '\r' : '\n'))
        return error(f, "expected CRLF after bulk data", -1);
      if (s->phase == P_DATA_CR) {
        s->phase = P_DATA_LF;
      } else if (--s->left > 0) {
        s->phase = P_ARG;
      } else {
        s->phase = P_START;
        rc = SCAN_DONE;
      }
      break;
    case P_INLINE: {
      const unsigned char *nl = memchr(p + i, '\n', n - i);
      size_t take = nl ? (size_t)(nl - (p + i)) + 1 : n - i;
      s->line += take;
      i += take;
      if (s->line > TR_RESP_INLINE_MAX + 2 || (!nl && s->line > TR_RESP_INLINE_MAX))
        return error(f, "too big inline request", -1);
      if (nl) {
        s->phase = P_START;
        rc = SCAN_DONE;
      }
      break;
    }
    }
  }
  s->total += i;
  *k = i;
  if (s->total > TR_RESP_COMMAND_MAX)
    return error(f, "command too big", -1);
  return rc;
}

/* ---- inline commands ---- */

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

static size_t decimal_len(size_t v) {
  size_t n = 1;
  while (v >= 10) {
    v /= 10;
    n++;
  }
  return n;
}

static size_t put_header(unsigned char *o, char type, size_t v) {
  size_t n = decimal_len(v);
  o[0] = (unsigned char)type;
  for (size_t i = n; i > 0; i--, v /= 10)
    o[i] = (unsigned char)('0' + v % 10);
  o[n + 1] = '\r';
  o[n + 2] = '\n';
  return n + 3;
}

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

/* The multibulk form of the inline line in c->buf[0..c->len), written after it. Returns
 * SCAN_DONE (the form at c->buf + *at, *n bytes), SCAN_SKIP (no arguments) or SCAN_ERROR. */
static int convert_inline(tr_codec_state_t *c, size_t *at, size_t *n, failure_t *f) {
  const unsigned char *p = c->buf;
  size_t line = c->len;
  while (line && (p[line - 1] == '\n' || p[line - 1] == '\r'))
    line--;
  size_t i = 0, dn, argc = 0, enc = 0;
  int rc;
  while ((rc = inline_arg(p, line, &i, NULL, &dn)) == 1) {
    argc++;
    enc += 1 + decimal_len(dn) + 2 + dn + 2;
  }
  if (rc < 0)
    return error(f, "unbalanced quotes in request", -1);
  if (argc == 0)
    return SCAN_SKIP;
  enc += 1 + decimal_len(argc) + 2;
  *at = c->len;
  if (reserve(&c->buf, &c->cap, c->len + enc))
    return TR_ENOMEM;
  p = c->buf;
  unsigned char *o = c->buf + *at;
  size_t w = put_header(o, '*', argc);
  for (size_t j = 0, k = 0; inline_arg(p, line, &j, NULL, &dn) == 1;) {
    w += put_header(o + w, '$', dn);
    inline_arg(p, line, &k, o + w, &dn);
    w += dn;
    o[w++] = '\r';
    o[w++] = '\n';
  }
  *n = w;
  return SCAN_DONE;
}

/* ---- the codec ---- */

/* Report a protocol error: one unit holding Redis's reply, then discard everything. */
static int fail(tr_codec_state_t *c, const failure_t *f, size_t len, size_t *used, const void **out,
                size_t *out_len) {
  size_t n = strlen(f->err);
  if (reserve(&c->buf, &c->cap, n))
    return TR_ENOMEM;
  memcpy(c->buf, f->err, n);
  c->len = n;
  c->failed = true;
  c->reset = true;
  *used = len;
  *out = c->buf;
  *out_len = n;
  return 1;
}

static int gather(tr_codec_state_t *c, const unsigned char *p, size_t n) {
  if (reserve(&c->buf, &c->cap, c->len + n))
    return TR_ENOMEM;
  memcpy(c->buf + c->len, p, n);
  c->len += n;
  return 0;
}

/* The command gathered in buf is complete: hand it out (as multibulk). */
static int finish_gathered(tr_codec_state_t *c, bool is_inline, const void **out, size_t *out_len,
                           failure_t *f) {
  size_t at = 0, n = c->len;
  int rc = is_inline ? convert_inline(c, &at, &n, f) : SCAN_DONE;
  if (rc != SCAN_DONE)
    return rc;
  c->reset = true;
  *out = c->buf + at;
  *out_len = n;
  return SCAN_DONE;
}

int tr__resp_next(tr_codec_state_t *c, const void *in, size_t len, size_t *used, const void **out,
                  size_t *out_len) {
  const unsigned char *p = in;
  tr_resp_scan_t *s = &c->resp;
  failure_t f;
  size_t pos = 0, k;
  *used = 0;
  if (c->failed) {
    *used = len;
    return 0;
  }
  if (c->len == 0 && c->cap > TR_RESP_KEEP) { /* give back what one big command took */
    free(c->buf);
    c->buf = NULL;
    c->cap = 0;
  }
  /* A command split across reads: go on scanning it from where the last read stopped. */
  while (c->len > 0) {
    bool is_inline = c->buf[0] != '*';
    int rc = scan(s, p + pos, len - pos, c->max, &k, &f);
    if (rc == SCAN_ERROR)
      return fail(c, &f, len, used, out, out_len);
    if (gather(c, p + pos, k))
      return TR_ENOMEM;
    pos += k;
    if (rc == SCAN_MORE) {
      *used = len;
      return 0;
    }
    if (rc == SCAN_SKIP || (rc = finish_gathered(c, is_inline, out, out_len, &f)) == SCAN_SKIP) {
      c->len = 0;
      continue;
    }
    if (rc == SCAN_ERROR)
      return fail(c, &f, len, used, out, out_len);
    if (rc < 0)
      return rc; /* TR_ENOMEM */
    *used = pos;
    return 1;
  }
  /* Whole multibulk commands in place, as one batch; an inline one ends the batch. */
  size_t start = pos, end = pos;
  while (end < len) {
    if (p[end] != '*' && end > start)
      break; /* hand out the batch first; the inline command comes next call */
    bool is_inline = p[end] != '*';
    int rc = scan(s, p + end, len - end, c->max, &k, &f);
    if (rc == SCAN_ERROR) {
      if (end > start) { /* the batch first; the error is found again next call */
        s->phase = P_START;
        break;
      }
      return fail(c, &f, len, used, out, out_len);
    }
    if (rc == SCAN_MORE) { /* a command split across reads: gather what came of it */
      if (gather(c, p + end, k))
        return TR_ENOMEM;
      *used = len;
      if (end == start)
        return 0;
      *out = p + start;
      *out_len = end - start;
      return 1;
    }
    if (is_inline) { /* whole: convert it on its own */
      if (gather(c, p + end, k))
        return TR_ENOMEM;
      rc = finish_gathered(c, true, out, out_len, &f);
      if (rc == SCAN_ERROR)
        return fail(c, &f, len, used, out, out_len);
      if (rc < 0)
        return rc;
      end += k;
      if (rc == SCAN_SKIP) {
        c->len = 0;
        start = end;
        continue;
      }
      *used = end;
      return 1;
    }
    end += k; /* a whole multibulk command (or an empty one, which the reader skips) */
  }
  *used = end;
  if (end == start)
    return 0;
  *out = p + start;
  *out_len = end - start;
  return 1;
}
