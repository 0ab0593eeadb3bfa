/* RESP replies (troupe/resp.h): every reply kind of RESP2 and RESP3, appended to a growable
 * buffer, numbers formatted by hand (a reply is built per message on a server's hot path,
 * where printf's parsing would be most of the cost). */
#include <stdio.h>
#include <string.h>

#include "base/base.h"
#include "troupe/resp.h"

/* First allocation of a reply buffer; it doubles from here. */
#define REPLY_MIN 256u

void tr_resp_buf_free(tr_resp_buf_t *b) {
  int proto = b->proto;
  free(b->data);
  *b = (tr_resp_buf_t){.proto = proto};
}

/* Room for n more bytes; the sticky error on failure. */
static unsigned char *room(tr_resp_buf_t *b, size_t n) {
  if (b->err)
    return NULL;
  if (b->len + n > b->cap) {
    size_t cap = b->cap ? b->cap : REPLY_MIN;
    while (cap < b->len + n)
      cap *= 2;
    unsigned char *d = realloc(b->data, cap);
    if (!d) {
      b->err = TR_ENOMEM;
      return NULL;
    }
    b->data = d;
    b->cap = cap;
  }
  return b->data + b->len;
}

int tr_resp_raw(tr_resp_buf_t *b, const void *data, size_t len) {
  unsigned char *o = room(b, len);
  if (!o)
    return b->err;
  if (len)
    memcpy(o, data, len);
  b->len += len;
  return 0;
}

/* "<c><v>\r\n" */
static int number(tr_resp_buf_t *b, char c, int64_t v) {
  unsigned char *o = room(b, 24);
  if (!o)
    return b->err;
  char t[21];
  size_t n = 0;
  uint64_t u = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;
  do
    t[n++] = (char)('0' + u % 10);
  while (u /= 10);
  size_t w = 0;
  o[w++] = (unsigned char)c;
  if (v < 0)
    o[w++] = '-';
  while (n)
    o[w++] = (unsigned char)t[--n];
  o[w++] = '\r';
  o[w++] = '\n';
  b->len += w;
  return 0;
}

/* "<c>text\r\n" for a line that may not hold a line end. */
static int line(tr_resp_buf_t *b, char c, const char *text) {
  size_t n = strlen(text);
  if (!b->err && (memchr(text, '\r', n) || memchr(text, '\n', n)))
    b->err = TR_EINVAL;
  unsigned char *o = room(b, n + 3);
  if (!o)
    return b->err;
  o[0] = (unsigned char)c;
  memcpy(o + 1, text, n);
  o[n + 1] = '\r';
  o[n + 2] = '\n';
  b->len += n + 3;
  return 0;
}

static bool resp3(const tr_resp_buf_t *b) { return b->proto == 3; }

int tr_resp_simple(tr_resp_buf_t *b, const char *text) { return line(b, '+', text); }
int tr_resp_error(tr_resp_buf_t *b, const char *text) { return line(b, '-', text); }
int tr_resp_integer(tr_resp_buf_t *b, int64_t v) { return number(b, ':', v); }
int tr_resp_array(tr_resp_buf_t *b, size_t n) { return number(b, '*', (int64_t)n); }

int tr_resp_null(tr_resp_buf_t *b) {
  return resp3(b) ? tr_resp_raw(b, "_\r\n", 3) : tr_resp_raw(b, "$-1\r\n", 5);
}

int tr_resp_null_array(tr_resp_buf_t *b) {
  return resp3(b) ? tr_resp_raw(b, "_\r\n", 3) : tr_resp_raw(b, "*-1\r\n", 5);
}

int tr_resp_map(tr_resp_buf_t *b, size_t n) {
  return resp3(b) ? number(b, '%', (int64_t)n) : number(b, '*', (int64_t)(2 * n));
}

int tr_resp_set(tr_resp_buf_t *b, size_t n) { return number(b, resp3(b) ? '~' : '*', (int64_t)n); }
int tr_resp_push(tr_resp_buf_t *b, size_t n) { return number(b, resp3(b) ? '>' : '*', (int64_t)n); }

int tr_resp_bool(tr_resp_buf_t *b, bool v) {
  if (resp3(b))
    return tr_resp_raw(b, v ? "#t\r\n" : "#f\r\n", 4);
  return number(b, ':', v ? 1 : 0);
}

int tr_resp_bulk(tr_resp_buf_t *b, const void *data, size_t len) {
  number(b, '$', (int64_t)len);
  tr_resp_raw(b, data, len);
  return tr_resp_raw(b, "\r\n", 2);
}

int tr_resp_bulk_str(tr_resp_buf_t *b, const char *text) {
  return tr_resp_bulk(b, text, strlen(text));
}

int tr_resp_verbatim(tr_resp_buf_t *b, const char *fmt, const void *data, size_t len) {
  if (!resp3(b))
    return tr_resp_bulk(b, data, len);
  if (!b->err && (!fmt || strlen(fmt) != 3))
    b->err = TR_EINVAL;
  number(b, '=', (int64_t)len + 4);
  tr_resp_raw(b, fmt, 3);
  tr_resp_raw(b, ":", 1);
  tr_resp_raw(b, data, len);
  return tr_resp_raw(b, "\r\n", 2);
}
