/* IRC text: cutting a client's line into prefix, command and parameters, the rules for
 * nicks and channel names, and formatting a reply that fits the protocol's line length
 * (RFC 1459 section 2.3, RFC 2812). Pure functions on strings; no actor is involved. */
#ifndef CHAT_IRC_H
#define CHAT_IRC_H

#include <stdbool.h>
#include <stddef.h>

#define IRC_SERVER "troupe-chat"
#define IRC_VERSION "troupe-chat-0.1"

/* Bytes of one IRC line without its "\r\n" (RFC 2812 2.3: 512 with them). */
#define IRC_LINE_MAX 510
/* Longest line the server parses or formats: an IRC line is at most IRC_LINE_MAX (a longer
 * one gets 417), a plain client's text is cut here. */
#define IRC_IN_MAX 2048
/* Longest input line the connection reads (the lines codec's max): past IRC's limit, so a
 * client that does not count gets a 417 for the line and keeps its connection (IRCv3 allows
 * 8191 bytes of message tags before it); a longer one closes the connection as a flood. */
#define IRC_READ_MAX 8192
#define IRC_PARAMS_MAX 15 /* RFC 2812 2.3.1 */
#define IRC_NICK_MAX 30   /* advertised as NICKLEN */
#define IRC_USER_MAX 10   /* user names are cut to this */
#define IRC_REAL_MAX 50   /* real names are cut to this */
#define IRC_HOST_MAX 63   /* a textual IPv6 address fits */
#define IRC_CHAN_MAX 50   /* advertised as CHANNELLEN, counting the '#' */
#define IRC_TOPIC_MAX 390 /* advertised as TOPICLEN */
#define IRC_AWAY_MAX 127  /* advertised as AWAYLEN */
#define IRC_KICK_MAX 300  /* advertised as KICKLEN */
/* nick!user@host */
#define IRC_PREFIX_MAX (IRC_NICK_MAX + IRC_USER_MAX + IRC_HOST_MAX + 2)

typedef struct {
  char buf[IRC_IN_MAX + 1]; /* the line, cut in place */
  const char *prefix;       /* without its ':', or NULL */
  const char *cmd;          /* upper-cased */
  const char *params[IRC_PARAMS_MAX];
  int nparams;
} irc_msg_t;

/* Parse line[0..len) into m. A NUL ends the line early and a stray "\r" becomes a space, so
 * nothing a client sends can end a line the server writes. Returns false for a line with no
 * command (empty or blank). */
bool irc_parse(const char *line, size_t len, irc_msg_t *m);

/* A nick: a letter or one of []\`_^{|} first, then those, digits or '-', at most
 * IRC_NICK_MAX bytes. */
bool irc_nick_valid(const char *nick);
/* A channel: '#', then 1 to IRC_CHAN_MAX - 1 bytes that are not controls, space or ','. */
bool irc_chan_valid(const char *chan);
/* ASCII lower-casing into dst (cap bytes with the NUL); names compare by this (CASEMAPPING
 * ascii). */
void irc_lower(char *dst, const char *src, size_t cap);

/* Format one line into buf (cap >= IRC_LINE_MAX + 3) and end it with "\r\n". A line past
 * IRC_LINE_MAX is cut there (at a UTF-8 character boundary). Returns the length. */
size_t irc_format(char *buf, size_t cap, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* The nick of a "nick!user@host" prefix into out (cap bytes with the NUL). */
void irc_nick_of(const char *prefix, char *out, size_t cap);

/* Copy src into dst (cap bytes with the NUL) keeping only bytes allowed in a user name. */
void irc_clean_user(char *dst, const char *src, size_t cap);

#endif
