/* The IRC commands a session understands: registration (CAP with no capabilities, PASS
 * ignored, NICK, USER), PING, PONG, QUIT, MOTD, and the table that dispatches every command
 * to its function here or in chancmds.c and usercmds.c. Numerics follow RFC 2812 section
 * 5, and where servers differ, ngIRCd's, the reference the tests compare with. */
#include <stdio.h>
#include <string.h>

#include "session.h"

/* ---- registration ---- */

static void motd(tr_ctx_t *ctx, session_t *s) {
  static const char *const lines[] = {
      "This is troupe-chat, a chat server made of actors:",
      "one per connection, one per channel, all on the troupe runtime.",
      "Plain nc/telnet users talk in #lobby; IRC users can join it too.",
  };
  session_reply(ctx, s, "375", ":- %s Message of the day -", IRC_SERVER);
  for (size_t i = 0; i < sizeof lines / sizeof lines[0]; i++)
    session_reply(ctx, s, "372", ":- %s", lines[i]);
  session_reply(ctx, s, "376", ":End of /MOTD command.");
}

/* Registration ends once NICK and USER have both come (and CAP negotiation, if begun, has
 * ended); then 001-005 and the MOTD, which clients wait for. */
static void maybe_welcome(tr_ctx_t *ctx, session_t *s) {
  if (s->welcomed || !s->has_nick || !s->has_user || s->cap_wait)
    return;
  s->welcomed = true;
  session_reply(ctx, s, "001", ":Welcome to the troupe chat, %s", s->prefix);
  session_reply(ctx, s, "002", ":Your host is %s, running version %s", IRC_SERVER, IRC_VERSION);
  session_reply(ctx, s, "003", ":This server was built on the troupe actor runtime");
  session_reply(ctx, s, "004", "%s %s iw nt", IRC_SERVER, IRC_VERSION);
  session_reply(ctx, s, "005",
                "CHANTYPES=# PREFIX=(o)@ CHANMODES=b,,,nt CHANLIMIT=#:%d NICKLEN=%d "
                "CHANNELLEN=%d TOPICLEN=%d AWAYLEN=%d KICKLEN=%d MODES=3 CASEMAPPING=ascii "
                "NETWORK=troupe :are supported by this server",
                CHAT_CHANS_MAX, IRC_NICK_MAX, IRC_CHAN_MAX, IRC_TOPIC_MAX, IRC_AWAY_MAX,
                IRC_KICK_MAX);
  motd(ctx, s);
}

static void cmd_cap(tr_ctx_t *ctx, session_t *s, const irc_msg_t *m) {
  const char *who = s->has_nick ? s->nick : "*", *sub = m->params[0];
  if (strcmp(sub, "LS") == 0 || strcmp(sub, "LIST") == 0) {
    s->cap_wait = !s->welcomed;
    session_send(ctx, s, ":" IRC_SERVER " CAP %s %s :", who, sub);
  } else if (strcmp(sub, "REQ") == 0) {
    s->cap_wait = !s->welcomed;
    session_send(ctx, s, ":" IRC_SERVER " CAP %s NAK :%s", who, m->nparams > 1 ? m->params[1] : "");
  } else if (strcmp(sub, "END") == 0) {
    s->cap_wait = false;
    maybe_welcome(ctx, s);
  } else {
    session_reply(ctx, s, "410", "%s :Invalid CAP command", sub);
  }
}

static void cmd_nick(tr_ctx_t *ctx, session_t *s, const irc_msg_t *m) {
  const char *nick = m->nparams > 0 ? m->params[0] : "";
  if (!*nick)
    session_reply(ctx, s, "431", ":No nickname given");
  else if (!irc_nick_valid(nick))
    session_reply(ctx, s, "432", "%s :Erroneous nickname", nick);
  else if (s->has_nick && strcmp(nick, s->nick) == 0)
    return;
  else if (!session_set_nick(ctx, s, nick))
    session_reply(ctx, s, "433", "%s :Nickname is already in use", nick);
  else
    maybe_welcome(ctx, s);
}

static void cmd_user(tr_ctx_t *ctx, session_t *s, const irc_msg_t *m) {
  if (s->has_user) {
    session_reply(ctx, s, "462", ":You may not reregister");
    return;
  }
  irc_clean_user(s->user, m->params[0], sizeof s->user);
  if (!s->user[0])
    snprintf(s->user, sizeof s->user, "user");
  snprintf(s->real, sizeof s->real, "%s", m->params[3]);
  s->has_user = true;
  session_set_prefix(s);
  maybe_welcome(ctx, s);
}

static void cmd_ping(tr_ctx_t *ctx, session_t *s, const irc_msg_t *m) {
  session_send(ctx, s, ":" IRC_SERVER " PONG " IRC_SERVER " :%s", m->params[0]);
}

static void cmd_quit(tr_ctx_t *ctx, session_t *s, const irc_msg_t *m) {
  char reason[IRC_LINE_MAX + 1];
  snprintf(reason, sizeof reason, "Quit: %s", m->nparams > 0 ? m->params[0] : "");
  session_quit(ctx, s, reason);
}

static void cmd_ignore(tr_ctx_t *ctx, session_t *s, const irc_msg_t *m) {
  (void)ctx;
  (void)s;
  (void)m;
}

static void cmd_motd(tr_ctx_t *ctx, session_t *s, const irc_msg_t *m) {
  (void)m;
  motd(ctx, s);
}

/* ---- one target at a time ---- */

void chat_each_target(tr_ctx_t *ctx, session_t *s, const irc_msg_t *m, int li, chat_target_fn fn) {
  const char *list = m->params[li];
  while (*list) {
    size_t n = strcspn(list, ",");
    char target[IRC_LINE_MAX + 1];
    chat_copy(target, sizeof target, list, n);
    list += n + (list[n] == ',');
    if (*target && fn(ctx, s, target, m)) {
      if (*list)
        session_keep_rest(s, m, li, list);
      return;
    }
  }
}

/* ---- dispatch ---- */

typedef struct {
  const char *name;
  chat_cmd_fn fn;
  int min_params;  /* fewer: 461 */
  bool registered; /* needs a completed registration: else 451 */
} command_t;

static const command_t commands[] = {
    {"PRIVMSG", chat_cmd_privmsg, 0, true},
    {"NOTICE", chat_cmd_privmsg, 0, true},
    {"PING", cmd_ping, 1, false},
    {"PONG", cmd_ignore, 0, false},
    {"JOIN", chat_cmd_join, 1, true},
    {"PART", chat_cmd_part, 1, true},
    {"NICK", cmd_nick, 0, false},
    {"USER", cmd_user, 4, false},
    {"CAP", cmd_cap, 1, false},
    {"PASS", cmd_ignore, 0, false},
    {"QUIT", cmd_quit, 0, false},
    {"NAMES", chat_cmd_names, 0, true},
    {"LIST", chat_cmd_list, 0, true},
    {"TOPIC", chat_cmd_topic, 1, true},
    {"WHO", chat_cmd_who, 0, true},
    {"MOTD", cmd_motd, 0, true},
    {"MODE", chat_cmd_mode, 1, true},
    {"WHOIS", chat_cmd_whois, 0, true},
    {"KICK", chat_cmd_kick, 2, true},
    {"AWAY", chat_cmd_away, 0, true},
    {"ISON", chat_cmd_ison, 1, true},
    {"USERHOST", chat_cmd_userhost, 1, true},
};

static const command_t *lookup(const char *cmd) {
  for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
    if (strcmp(commands[i].name, cmd) == 0)
      return &commands[i];
  return NULL;
}

bool chat_command_known(const char *cmd) { return lookup(cmd) != NULL; }

void chat_command(tr_ctx_t *ctx, session_t *s, const irc_msg_t *m) {
  const command_t *c = lookup(m->cmd);
  if (!c)
    session_reply(ctx, s, "421", "%.32s :Unknown command", m->cmd);
  else if (c->registered && !s->welcomed)
    session_reply(ctx, s, "451", ":You have not registered");
  else if (m->nparams < c->min_params)
    session_reply(ctx, s, "461", "%s :Not enough parameters", c->name);
  else
    c->fn(ctx, s, m);
}
