/* HTTP/1.1 request heads (http.h): gathered until the empty line that ends them, then parsed
 * in one pass over the bounded buffer. */
#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "metrics/http.h"

void tr__http_init(tr_http_t *h) { memset(h, 0, sizeof *h); }

void tr__http_next(tr_http_t *h) {
  h->len = 0;
  h->complete = false;
  h->line_seen = false;
  h->keep_alive = false;
  h->method = TR_HTTP_OTHER;
  h->url[0] = '\0';
}

/* tchar of RFC 9110 5.6.2. */
static bool is_tchar(unsigned char c) { return isalnum(c) || (c && strchr("!#$%&'*+-.^_`|~", c)); }

/* One line of the head from *p (its end excluded, CR dropped); false at the end. */
static bool next_line(const char **p, const char *end, const char **line, size_t *n) {
  if (*p >= end)
    return false;
  const char *nl = memchr(*p, '\n', (size_t)(end - *p));
  if (!nl)
    return false;
  *line = *p;
  *n = (size_t)(nl - *p);
  if (*n && nl[-1] == '\r')
    (*n)--;
  *p = nl + 1;
  return true;
}

static bool token_is(const char *v, size_t n, const char *word) {
  return strlen(word) == n && strncasecmp(v, word, n) == 0;
}

/* The request line: method SP target SP version. */
static int request_line(tr_http_t *h, const char *l, size_t n, int *minor) {
  size_t i = 0;
  while (i < n && is_tchar((unsigned char)l[i]))
    i++;
  if (i == 0 || i == n || l[i] != ' ')
    return 400;
  h->method = token_is(l, i, "GET")    ? TR_HTTP_GET
              : token_is(l, i, "HEAD") ? TR_HTTP_HEAD
                                       : TR_HTTP_OTHER;
  if (h->method != TR_HTTP_OTHER && memcmp(l, h->method == TR_HTTP_GET ? "GET" : "HEAD", i) != 0)
    h->method = TR_HTTP_OTHER; /* methods are case-sensitive: "get" is another method */
  size_t t = ++i;
  while (i < n && l[i] > ' ' && l[i] < 0x7f)
    i++;
  if (i == t || i == n || l[i] != ' ')
    return 400;
  if (i - t > TR_HTTP_URL_MAX)
    return 414;
  if (l[t] != '/')
    return 400; /* only origin-form: this server is nobody's proxy */
  memcpy(h->url, l + t, i - t);
  h->url[i - t] = '\0';
  const char *v = l + i + 1;
  size_t vn = n - i - 1;
  if (vn != 8 || memcmp(v, "HTTP/", 5) != 0 || !isdigit((unsigned char)v[5]) || v[6] != '.' ||
      !isdigit((unsigned char)v[7]))
    return 400;
  if (v[5] != '1')
    return 505;
  *minor = v[7] - '0';
  return 0;
}

/* The value of a field line, without the optional whitespace around it; false when it holds
 * a control character. */
static bool field_value(const char *v, size_t n, const char **out, size_t *on) {
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)v[i];
    if ((c < ' ' && c != '\t') || c == 0x7f)
      return false;
  }
  while (n && (*v == ' ' || *v == '\t'))
    v++, n--;
  while (n && (v[n - 1] == ' ' || v[n - 1] == '\t'))
    n--;
  *out = v;
  *on = n;
  return true;
}

/* Connection's options: "close" and "keep-alive" among comma-separated tokens. */
static void connection(const char *v, size_t n, bool *close, bool *keep) {
  while (n) {
    size_t k = 0;
    while (k < n && v[k] != ',')
      k++;
    const char *t = v;
    size_t tn = k;
    while (tn && (*t == ' ' || *t == '\t'))
      t++, tn--;
    while (tn && (t[tn - 1] == ' ' || t[tn - 1] == '\t'))
      tn--;
    if (token_is(t, tn, "close"))
      *close = true;
    else if (token_is(t, tn, "keep-alive"))
      *keep = true;
    v += k < n ? k + 1 : k;
    n -= k < n ? k + 1 : k;
  }
}

static int parse(tr_http_t *h) {
  const char *p = h->head, *end = h->head + h->len, *l = NULL;
  size_t n = 0;
  while (next_line(&p, end, &l, &n) && n == 0) {
    /* empty lines before the request line are ignored (RFC 9112 2.2) */
  }
  int minor = 0;
  int rc = n ? request_line(h, l, n, &minor) : 400;
  if (rc)
    return rc;
  bool host = false, close = false, keep = false;
  while (next_line(&p, end, &l, &n) && n > 0) {
    size_t c = 0;
    while (c < n && is_tchar((unsigned char)l[c]))
      c++;
    const char *v;
    size_t vn;
    if (c == 0 || c == n || l[c] != ':' || !field_value(l + c + 1, n - c - 1, &v, &vn))
      return 400; /* also a folded line (leading whitespace) or space before the colon */
    if (token_is(l, c, "host")) {
      if (host)
        return 400;
      host = true;
    } else if (token_is(l, c, "content-length")) {
      char *stop;
      if (vn == 0 || !isdigit((unsigned char)v[0]))
        return 400;
      unsigned long long len = strtoull(v, &stop, 10);
      if (stop != v + vn)
        return 400;
      if (len > 0)
        return 413;
    } else if (token_is(l, c, "transfer-encoding")) {
      return 413;
    } else if (token_is(l, c, "connection")) {
      connection(v, vn, &close, &keep);
    }
  }
  if (minor >= 1 && !host)
    return 400; /* RFC 9112 3.2: an HTTP/1.1 request without Host */
  h->keep_alive = !close && (minor >= 1 || keep);
  return 0;
}

size_t tr__http_feed(tr_http_t *h, const char *data, size_t len) {
  if (h->complete || h->error)
    return 0;
  for (size_t i = 0; i < len; i++) {
    if (h->len == TR_HTTP_HEAD_MAX) {
      h->error = 431;
      return i;
    }
    char c = data[i];
    h->head[h->len++] = c;
    if (c != '\n')
      continue;
    /* The head ends with an empty line: "\n\n" or "\n\r\n" (once a request line came). */
    size_t k = h->len - 1;
    bool blank = (k >= 1 && h->head[k - 1] == '\n') ||
                 (k >= 2 && h->head[k - 1] == '\r' && h->head[k - 2] == '\n');
    bool empty = true; /* only empty lines so far (usually decided by the first byte) */
    for (size_t j = 0; j < h->len && empty; j++)
      empty = h->head[j] == '\r' || h->head[j] == '\n';
    if (empty) { /* skipped */
      h->len = 0;
      continue;
    }
    if (!h->line_seen) { /* a malformed request line is refused now, not after a head */
      int minor;
      size_t n = h->len - 1 - (h->len >= 2 && h->head[h->len - 2] == '\r');
      h->line_seen = true;
      if ((h->error = request_line(h, h->head, n, &minor)) != 0)
        return i + 1;
    }
    if (blank) {
      h->error = parse(h);
      h->complete = h->error == 0;
      return i + 1;
    }
  }
  return len;
}

bool tr__http_path(const tr_http_t *h, char *out, size_t cap) {
  size_t n = strcspn(h->url, "?#");
  if (n >= cap)
    return false;
  memcpy(out, h->url, n);
  out[n] = '\0';
  return true;
}

static int hexval(char c) {
  return c >= '0' && c <= '9'   ? c - '0'
         : c >= 'a' && c <= 'f' ? c - 'a' + 10
         : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                : -1;
}

bool tr__http_query(const tr_http_t *h, const char *name, char *out, size_t cap) {
  const char *q = strchr(h->url, '?');
  size_t nl = strlen(name);
  for (const char *p = q ? q + 1 : NULL; p && *p && *p != '#';) {
    size_t kl = strcspn(p, "=&#");
    const char *end = p + strcspn(p, "&#");
    if (kl == nl && memcmp(p, name, nl) == 0 && p[kl] == '=') {
      size_t n = 0;
      for (const char *v = p + kl + 1; v < end; v++) {
        int c = (unsigned char)*v;
        if (c == '+') {
          c = ' ';
        } else if (c == '%') {
          int hi = end - v >= 3 ? hexval(v[1]) : -1;
          int lo = hi >= 0 ? hexval(v[2]) : -1;
          if (lo < 0)
            return false;
          c = hi * 16 + lo;
          v += 2;
        }
        if (c == 0 || n + 1 >= cap)
          return false; /* a NUL would cut the value short: refused */
        out[n++] = (char)c;
      }
      out[n] = '\0';
      return true;
    }
    p = *end == '&' ? end + 1 : end;
  }
  return false;
}
