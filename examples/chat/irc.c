/* IRC lines in and out: the parser a session runs on every line a client sends, the name
 * rules, and the one formatter every reply goes through, which keeps each line within the
 * protocol's 512 bytes. */
#include "irc.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static char upper(char c) { return c >= 'a' && c <= 'z' ? (char)(c - 'a' + 'A') : c; }
static char lower(char c) { return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c; }

/* Skip spaces; returns the first other byte. */
static char *skip(char *p) {
  while (*p == ' ')
    p++;
  return p;
}

/* Cut the word at p (end it with a NUL) and return what follows it. */
static char *cut(char *p) {
  while (*p && *p != ' ')
    p++;
  if (*p)
    *p++ = '\0';
  return p;
}

bool irc_parse(const char *line, size_t len, irc_msg_t *m) {
  if (len > IRC_IN_MAX)
    len = IRC_IN_MAX;
  memcpy(m->buf, line, len);
  m->buf[len] = '\0';
  for (char *q = m->buf; *q; q++)
    if (*q == '\r' || *q == '\n')
      *q = ' ';
  m->prefix = NULL;
  m->nparams = 0;
  char *p = skip(m->buf);
  if (*p == ':') {
    m->prefix = p + 1;
    p = skip(cut(p));
  }
  if (!*p)
    return false;
  char *cmd = p;
  p = cut(p);
  for (char *q = cmd; *q; q++)
    *q = upper(*q);
  m->cmd = cmd;
  while (*(p = skip(p)) && m->nparams < IRC_PARAMS_MAX) {
    if (*p == ':' || m->nparams == IRC_PARAMS_MAX - 1) {
      m->params[m->nparams++] = *p == ':' ? p + 1 : p; /* the trailing parameter */
      break;
    }
    m->params[m->nparams++] = p;
    p = cut(p);
  }
  return true;
}

static bool nick_special(char c) { return c && strchr("[]\\`_^{|}", c) != NULL; }
static bool letter(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
static bool digit(char c) { return c >= '0' && c <= '9'; }

bool irc_nick_valid(const char *nick) {
  size_t n = strlen(nick);
  if (n == 0 || n > IRC_NICK_MAX || !(letter(nick[0]) || nick_special(nick[0])))
    return false;
  for (size_t i = 1; i < n; i++)
    if (!(letter(nick[i]) || digit(nick[i]) || nick_special(nick[i]) || nick[i] == '-'))
      return false;
  return true;
}

bool irc_chan_valid(const char *chan) {
  size_t n = strlen(chan);
  if (n < 2 || n > IRC_CHAN_MAX || chan[0] != '#')
    return false;
  for (size_t i = 1; i < n; i++) {
    unsigned char c = (unsigned char)chan[i];
    if (c <= ' ' || c == ',' || c == 0x7f)
      return false;
  }
  return true;
}

void irc_lower(char *dst, const char *src, size_t cap) {
  size_t i = 0;
  for (; src[i] && i + 1 < cap; i++)
    dst[i] = lower(src[i]);
  dst[i] = '\0';
}

void irc_nick_of(const char *prefix, char *out, size_t cap) {
  size_t n = strcspn(prefix, "!");
  if (n >= cap)
    n = cap - 1;
  memcpy(out, prefix, n);
  out[n] = '\0';
}

void irc_clean_user(char *dst, const char *src, size_t cap) {
  size_t j = 0;
  for (size_t i = 0; src[i] && j + 1 < cap; i++) {
    unsigned char c = (unsigned char)src[i];
    if (c > ' ' && c != '@' && c != '!' && c != ':' && c != 0x7f)
      dst[j++] = (char)c;
  }
  dst[j] = '\0';
}

size_t irc_format(char *buf, size_t cap, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  /* The whole of cap, so that the byte after a cut is still there for the check below (a
   * cut at cap - 3 would otherwise look at vsnprintf's NUL); "\r\n" overwrites it. */
  int n = vsnprintf(buf, cap, fmt, ap);
  va_end(ap);
  size_t len = n < 0 ? 0 : (size_t)n;
  if (len > IRC_LINE_MAX)
    len = IRC_LINE_MAX;
  if (len > cap - 3)
    len = cap - 3;
  /* Do not leave half a UTF-8 character at a cut: back up over continuation bytes. */
  if (n > 0 && len < (size_t)n)
    while (len > 0 && ((unsigned char)buf[len] & 0xC0) == 0x80)
      len--;
  buf[len++] = '\r';
  buf[len++] = '\n';
  buf[len] = '\0';
  return len;
}
