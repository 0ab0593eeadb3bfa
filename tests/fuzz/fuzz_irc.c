/* The chat server's IRC line parser and name rules (examples/chat/irc.c), on the bytes of
 * one line as the lines codec hands it to a session (any bytes, NULs and "\r" included).
 *
 * Checked: a parsed line has an upper-case command without blanks and at most 15
 * parameters, none holding "\r", "\n" or a NUL; each but the trailing one is a word (not
 * empty, no space, not starting with ':'); written out again as "CMD a b :trailing" it
 * parses to the same message. And the helpers a session runs on what a client sent keep
 * within their buffers: lower-casing, a nick out of a prefix, cleaning a user name, and
 * irc_format, whose line is at most 512 bytes with its "\r\n", holds no other line end and
 * is not cut inside a UTF-8 character. */
#include <string.h>

#include "examples/chat/irc.h"
#include "fuzz.h"

static bool clean(const char *s) { return strpbrk(s, "\r\n") == NULL; }

static void same(const irc_msg_t *a, const irc_msg_t *b) {
  FUZZ_CHECK(strcmp(a->cmd, b->cmd) == 0, "command %s, again %s", a->cmd, b->cmd);
  FUZZ_CHECK(a->nparams == b->nparams, "%d parameters, again %d", a->nparams, b->nparams);
  for (int i = 0; i < a->nparams; i++)
    FUZZ_CHECK(strcmp(a->params[i], b->params[i]) == 0, "parameter %d \"%s\", again \"%s\"", i,
               a->params[i], b->params[i]);
  FUZZ_CHECK((a->prefix == NULL) == (b->prefix == NULL) &&
                 (!a->prefix || strcmp(a->prefix, b->prefix) == 0),
             "the prefix changed");
}

static void helpers(const irc_msg_t *m) {
  char low[IRC_PREFIX_MAX + 1], nick[IRC_NICK_MAX + 1], user[IRC_USER_MAX + 1];
  for (int i = 0; i < m->nparams; i++) {
    const char *p = m->params[i];
    irc_lower(low, p, sizeof low);
    FUZZ_CHECK(strlen(low) <= IRC_PREFIX_MAX, "irc_lower overran");
    if (irc_nick_valid(p))
      FUZZ_CHECK(strlen(p) <= IRC_NICK_MAX && !strpbrk(p, " ,:!@#*?"), "a nick \"%s\"", p);
    if (irc_chan_valid(p))
      FUZZ_CHECK(p[0] == '#' && strlen(p) <= IRC_CHAN_MAX && !strpbrk(p, " ,\a"),
                 "a channel \"%s\"", p);
    irc_clean_user(user, p, sizeof user);
    FUZZ_CHECK(strlen(user) < sizeof user && !strpbrk(user, " @!:"), "a user \"%s\"", user);
  }
  if (m->prefix) {
    irc_nick_of(m->prefix, nick, sizeof nick);
    FUZZ_CHECK(strlen(nick) <= IRC_NICK_MAX && !strchr(nick, '!'), "a nick of a prefix");
  }
  /* What a room fans out: the sender's prefix, the channel and the text as they came. */
  char line[IRC_LINE_MAX + 3];
  const char *text = m->nparams ? m->params[m->nparams - 1] : "";
  size_t n = irc_format(line, sizeof line, ":%s!~u@host PRIVMSG %s :%s", m->cmd,
                        m->nparams > 1 ? m->params[0] : "#c", text);
  FUZZ_CHECK(n >= 2 && n <= IRC_LINE_MAX + 2 && n == strlen(line), "a line of %zu bytes", n);
  FUZZ_CHECK(line[n - 2] == '\r' && line[n - 1] == '\n', "a line without its end");
  FUZZ_CHECK(memchr(line, '\r', n - 2) == NULL && memchr(line, '\n', n - 2) == NULL,
             "a line end inside a formatted line");
  char full[IRC_IN_MAX * 2 + 64];
  int want = snprintf(full, sizeof full, ":%s!~u@host PRIVMSG %s :%s", m->cmd,
                      m->nparams > 1 ? m->params[0] : "#c", text);
  if (want > 0 && (size_t)want > n - 2) /* cut: not inside a UTF-8 character */
    FUZZ_CHECK(((unsigned char)full[n - 2] & 0xC0) != 0x80, "cut inside a UTF-8 character");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  irc_msg_t m;
  if (!irc_parse((const char *)data, size, &m))
    return 0;
  FUZZ_CHECK(m.cmd[0] && !strchr(m.cmd, ' ') && clean(m.cmd), "command \"%s\"", m.cmd);
  for (const char *c = m.cmd; *c; c++)
    FUZZ_CHECK(!(*c >= 'a' && *c <= 'z'), "a lower-case command \"%s\"", m.cmd);
  FUZZ_CHECK(m.nparams >= 0 && m.nparams <= IRC_PARAMS_MAX, "%d parameters", m.nparams);
  FUZZ_CHECK(!m.prefix || (clean(m.prefix) && !strchr(m.prefix, ' ')), "prefix \"%s\"", m.prefix);
  for (int i = 0; i < m.nparams; i++) {
    const char *p = m.params[i];
    FUZZ_CHECK(p >= m.buf && p <= m.buf + IRC_IN_MAX, "parameter %d outside the line", i);
    FUZZ_CHECK(clean(p), "parameter %d holds a line end", i);
    if (i < m.nparams - 1)
      FUZZ_CHECK(p[0] && p[0] != ':' && !strchr(p, ' '), "middle parameter %d \"%s\"", i, p);
  }
  /* Written out again, it is the same message. */
  char again[IRC_IN_MAX * 2 + 64];
  size_t n = 0;
  if (m.prefix)
    n += (size_t)snprintf(again + n, sizeof again - n, ":%s ", m.prefix);
  n += (size_t)snprintf(again + n, sizeof again - n, "%s", m.cmd);
  for (int i = 0; i < m.nparams && n < sizeof again; i++)
    n += (size_t)snprintf(again + n, sizeof again - n, i == m.nparams - 1 ? " :%s" : " %s",
                          m.params[i]);
  if (n <= IRC_IN_MAX) {
    irc_msg_t m2;
    FUZZ_CHECK(irc_parse(again, n, &m2), "\"%s\" does not parse", again);
    same(&m, &m2);
  }
  helpers(&m);
  return 0;
}
