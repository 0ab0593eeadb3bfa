/* The plain dialect, for people on nc or telnet: their first line is their nick, every
 * later line is said in #lobby, and what happens there comes back as short text lines
 * ("<nick> text", "* nick joined") instead of IRC messages. A few slash commands (/names,
 * /me, /msg, /quit) cover what such a user needs; "//" sends a line that starts with a
 * slash. */
#include <stdio.h>
#include <string.h>

#include "session.h"

static void plain_nick(tr_ctx_t *ctx, session_t *s, const char *nick) {
  if (!irc_nick_valid(nick)) {
    session_send(ctx, s,
                 "error: \"%s\" is not a valid nickname (letters, digits, -_[]{}|^`\\, "
                 "at most %d); type another",
                 nick, IRC_NICK_MAX);
    return;
  }
  /* The user name is the nick (cut); set first, so the prefix is built with it. */
  snprintf(s->user, sizeof s->user, "%.*s", IRC_USER_MAX, nick);
  snprintf(s->real, sizeof s->real, "%s", nick);
  if (!session_set_nick(ctx, s, nick)) {
    session_send(ctx, s, "error: nickname %s is already in use; type another", nick);
    return;
  }
  s->welcomed = true;
  if (!session_join(ctx, s, CHAT_LOBBY, true))
    session_send(ctx, s, "error: %s is not available right now", CHAT_LOBBY);
}

/* "/msg nick text": a private message to anyone, IRC or plain. */
static void plain_msg(tr_ctx_t *ctx, session_t *s, const char *args) {
  char nick[IRC_NICK_MAX + 1];
  size_t n = strcspn(args, " ");
  const char *text = args + n + strspn(args + n, " ");
  chat_copy(nick, sizeof nick, args, n);
  if (!*text)
    session_send(ctx, s, "error: usage: /msg <nick> <text>");
  else if (!session_dm(ctx, s, EV_PRIVMSG, nick, text, true))
    session_send(ctx, s, "error: no such nick: %s", nick);
}

void chat_plain_line(tr_ctx_t *ctx, session_t *s, const char *text) {
  if (!s->welcomed) {
    plain_nick(ctx, s, text);
    return;
  }
  session_chan_t *lobby = session_chan(s, CHAT_LOBBY);
  char action[IRC_LINE_MAX + 1];
  if (strcmp(text, "/quit") == 0 || strncmp(text, "/quit ", 6) == 0) {
    session_quit(ctx, s, text[5] ? text + 6 : "Client Quit");
  } else if (strncmp(text, "/msg ", 5) == 0) {
    plain_msg(ctx, s, text + 5);
  } else if (!lobby) {
    session_send(ctx, s, "error: not in %s; reconnect to join it", CHAT_LOBBY);
  } else if (strcmp(text, "/names") == 0) {
    chat_ask_room(ctx, s, CHAT_LOBBY, INFO_NAMES, WAIT_NAMES, true);
  } else if (strncmp(text, "/me ", 4) == 0) {
    snprintf(action, sizeof action, "\001ACTION %s\001", text + 4);
    session_say(ctx, s, lobby, EV_PRIVMSG, action);
  } else if (text[0] == '/' && text[1] != '/') {
    session_send(ctx, s,
                 "error: unknown command; try /names, /me <action>, /msg <nick> <text>, "
                 "/quit");
  } else {
    session_say(ctx, s, lobby, EV_PRIVMSG, text[0] == '/' ? text + 1 : text);
  }
}

void chat_plain_event(tr_ctx_t *ctx, session_t *s, chat_ev_t kind, const char *prefix,
                      const char *arg, const char *text) {
  char who[IRC_NICK_MAX + 1];
  irc_nick_of(prefix, who, sizeof who);
  size_t n = strlen(text);
  switch (kind) {
  case EV_PRIVMSG:
    if (n > 8 && strncmp(text, "\001ACTION ", 8) == 0)
      session_send(ctx, s, "* %s %.*s", who, (int)(n - 8 - (text[n - 1] == '\001')), text + 8);
    else
      session_send(ctx, s, "<%s> %s", who, text);
    break;
  case EV_NOTICE:
    session_send(ctx, s, "-%s- %s", who, text);
    break;
  case EV_JOIN:
    session_send(ctx, s, "* %s joined", who);
    break;
  case EV_PART:
    session_send(ctx, s, text[0] ? "* %s left (%s)" : "* %s left%s", who, text);
    break;
  case EV_QUIT:
    session_send(ctx, s, "* %s quit (%s)", who, text);
    break;
  case EV_NICK:
    session_send(ctx, s, "* %s is now known as %s", who, text);
    break;
  case EV_TOPIC:
    session_send(ctx, s, "* %s set the topic: %s", who, text);
    break;
  case EV_KICK:
    session_send(ctx, s, "* %s was kicked by %s (%s)", arg, who, text);
    break;
  case EV_MODE:
    session_send(ctx, s, "* %s sets mode %s", who, arg);
    break;
  }
}

void chat_plain_roominfo(tr_ctx_t *ctx, session_t *s, chat_info_t purpose,
                         const msgpack_object *info) {
  const msgpack_object *f = info->via.array.ptr, *members = &f[5];
  char list[IRC_LINE_MAX + 1] = "", nick[IRC_NICK_MAX + 1], chan[IRC_CHAN_MAX + 1],
                           topic[IRC_TOPIC_MAX + 1];
  size_t used = 0;
  chat_obj_str(&f[1], chan, sizeof chan);
  chat_obj_str(&f[2], topic, sizeof topic);
  for (uint32_t i = 0; i < members->via.array.size; i++) {
    const msgpack_object *mb = &members->via.array.ptr[i];
    if (mb->type != MSGPACK_OBJECT_ARRAY || mb->via.array.size < 6)
      continue;
    chat_obj_str(&mb->via.array.ptr[0], nick, sizeof nick);
    int n = snprintf(list + used, sizeof list - used, "%s%s", used ? ", " : "", nick);
    if (n < 0 || (size_t)n >= sizeof list - used)
      break;
    used += (size_t)n;
  }
  if (purpose == INFO_JOIN)
    session_send(ctx, s, "* welcome, %s. You are in %s: type to talk; /names, /me, /quit.", s->nick,
                 chan);
  if (purpose == INFO_JOIN && topic[0])
    session_send(ctx, s, "* topic: %s", topic);
  session_send(ctx, s, "* in %s: %s", chan, list);
}

void chat_plain_dm(tr_ctx_t *ctx, session_t *s, chat_ev_t kind, const char *prefix,
                   const char *text) {
  char who[IRC_NICK_MAX + 1];
  irc_nick_of(prefix, who, sizeof who);
  session_send(ctx, s, kind == EV_PRIVMSG ? "*%s* %s" : "-%s- %s", who, text);
}
