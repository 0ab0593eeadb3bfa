/* The IRC commands a session understands, one function each, and the second half of the
 * commands that ask a room or the rooms manager (JOIN, NAMES, WHO, TOPIC, LIST): the
 * numeric replies built from their answers.
 *
 * The subset is what a stock client (irssi) needs to register, join, talk and look around:
 * CAP (no capabilities), PASS (ignored), NICK, USER, PING, PONG, QUIT, JOIN, PART, PRIVMSG,
 * NOTICE, NAMES, LIST, TOPIC, WHO, WHOIS, MOTD and MODE (no modes: queries answered,
 * changes refused). Numerics follow RFC 2812 section 5. */
#include <stdio.h>
#include <string.h>

#include "session.h"

typedef void (*command_fn)(tr_ctx_t *ctx, session_t *s, const irc_msg_t *m);

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
  session_reply(ctx, s, "004", "%s %s i n", IRC_SERVER, IRC_VERSION);
  session_reply(ctx, s, "005",
                "CHANTYPES=# PREFIX= CHANLIMIT=#:%d NICKLEN=%d CHANNELLEN=%d TOPICLEN=%d "
                "CASEMAPPING=ascii NETWORK=troupe :are supported by this server",
                CHAT_CHANS_MAX, IRC_NICK_MAX, IRC_CHAN_MAX, IRC_TOPIC_MAX);
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

/* ---- channels ---- */

typedef void (*target_fn)(tr_ctx_t *ctx, session_t *s, const char *target, const irc_msg_t *m);

/* Call fn for each name of a comma-separated list (a copy: the list stays intact). */
static void each_target(tr_ctx_t *ctx, session_t *s, const char *list, const irc_msg_t *m,
                        target_fn fn) {
  char copy[IRC_IN_MAX + 1], *save = NULL;
  snprintf(copy, sizeof copy, "%s", list);
  for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save))
    fn(ctx, s, t, m);
}

static void join_one(tr_ctx_t *ctx, session_t *s, const char *chan, const irc_msg_t *m) {
  (void)m;
  session_chan_t *c = session_chan(s, chan);
  if (!irc_chan_valid(chan))
    session_reply(ctx, s, "403", "%s :No such channel", chan);
  else if (c)
    c->leaving = false; /* a PART and a JOIN while the first join is on its way cancel out */
  else if (session_nchans(s) >= CHAT_CHANS_MAX)
    session_reply(ctx, s, "405", "%s :You have joined too many channels", chan);
  else if (!session_join(ctx, s, chan))
    session_reply(ctx, s, "437", "%s :Channel is temporarily unavailable", chan);
}

static void cmd_join(tr_ctx_t *ctx, session_t *s, const irc_msg_t *m) {
  if (strcmp(m->params[0], "0") == 0) { /* JOIN 0: leave every channel */
    for (int i = 0; i < CHAT_CHANS_MAX; i++)
      if (s->chans[i].used)
        session_part(ctx, s, &s->chans[i], "Left all channels");
    return;
  }
  each_target(ctx, s, m->params[0], m, join_one);
}

static void part_one(tr_ctx_t *ctx, session_t *s, const char *chan, const irc_msg_t *m) {
  session_chan_t *c = session_chan(s, chan);
  if (c)
    session_part(ctx, s, c, m->nparams > 1 ? m->params[1] : "");
  else if (irc_chan_valid(chan))
    session_reply(ctx, s, "442", "%s :You're not on that channel", chan);
  else
    session_reply(ctx, s, "403", "%s :No such channel", chan);
}

static void cmd_part(tr_ctx_t *ctx, session_t *s, const irc_msg_t *m) {
  each_target(ctx, s, m->params[0], m, part_one);
}

/* The room of chan: the session's own when it is in it, else whoever is registered. */
static tr_pid_t room_of(tr_ctx_t *ctx, session_t *s, const char *chan) {
  session_chan_t *c = session_chan(s, chan);
  if (c && !tr_pid_is_none(c->room))
    return c->room;
  char key[IRC_CHAN_MAX + 1], name[TR_NAME_MAX + 1];
  irc_lower(key, chan, sizeof key);
  chat_room_name(name, key);
  return irc_chan_valid(chan) ? tr_whereis(tr_ctx_system(ctx), name) : TR_PID_NONE;
}

static void say_one(tr_ctx_t *ctx, session_t *s, const char *target, const irc_msg_t *m) {
  bool notice = strcmp(m->cmd, "NOTICE") == 0; /* NOTICE never gets an error back */
  chat_ev_t kind = notice ? EV_NOTICE : EV_PRIVMSG;
  if (target[0] != '#') {
    if (!session_dm(ctx, s, kind, target, m->params[1]) && !notice)
      session_reply(ctx, s, "401", "%s :No such nick/channel", target);
    return;
  }
  session_chan_t *c = session_chan(s, target);
  if (c) {
    if (!session_say(ctx, s, c, kind, m->params[1]) && !notice)
      session_reply(ctx, s, "404", "%s :Cannot send to channel (join pending)", target);
  } else if (notice) {
    return;
  } else if (!tr_pid_is_none(room_of(ctx, s, target))) {
    session_reply(ctx, s, "404", "%s :Cannot send to channel", target);
  } else {
    session_reply(ctx, s, "403", "%s :No such channel", target);
  }
}

static void cmd_privmsg(tr_ctx_t *ctx, session_t *s, const irc_msg_t *m) {
  bool notice = strcmp(m->cmd, "NOTICE") == 0;
  if (m->nparams < 1 || !m->params[0][0]) {
    if (!notice)
      session_reply(ctx, s, "411", ":No recipient given (%s)", m->cmd);
  } else if (m->nparams < 2 || !m->params[1][0]) {
    if (!notice)
      session_reply(ctx, s, "412", ":No text to send");
  } else {
    each_target(ctx, s, m->params[0], m, say_one);
  }
}

/* Ask chan's room for its members or topic; the answer comes as chat.roominfo. False when
 * the channel has no room. */
static bool ask_room(tr_ctx_t *ctx, session_t *s, const char *chan, chat_info_t purpose) {
  tr_pid_t room = room_of(ctx, s, chan);
  if (tr_pid_is_none(room))
    return false;
  tr_sendf(ctx, room, chat_atoms.info, "u", (uint64_t)purpose);
  return true;
}

static void names_one(tr_ctx_t *ctx, session_t *s, const char *chan, const irc_msg_t *m) {
  (void)m;
  if (!ask_room(ctx, s, chan, INFO_NAMES))
    session_reply(ctx, s, "366", "%s :End of /NAMES list.", chan);
}

static void cmd_names(tr_ctx_t *ctx, session_t *s, const irc_msg_t *m) {
  if (m->nparams < 1)
    session_reply(ctx, s, "366", "* :End of /NAMES list.");
  else
    each_target(ctx, s, m->params[0], m, names_one);
}

static void cmd_who(tr_ctx_t *ctx, session_t *s, const irc_msg_t *m) {
  const char *mask = m->nparams > 0 ? m->params[0] : "*";
  if (mask[0] == '#' && ask_room(ctx, s, mask, INFO_WHO))
    return;
  char a[IRC_NICK_MAX + 1], b[IRC_NICK_MAX + 1];
  irc_lower(a, mask, sizeof a);
  irc_lower(b, s->nick, sizeof b);
  if (strcmp(a, b) == 0)
    session_reply(ctx, s, "352", "* %s %s %s %s H :0 %s", s->user, s->host, IRC_SERVER, s->nick,
                  s->real);
  session_reply(ctx, s, "315", "%s :End of /WHO list.", mask);
}

static void cmd_topic(tr_ctx_t *ctx, session_t *s, const irc_msg_t *m) {
  const char *chan = m->params[0];
  session_chan_t *c = session_chan(s, chan);
  if (m->nparams < 2) {
    if (!ask_room(ctx, s, chan, INFO_TOPIC))
      session_reply(ctx, s, "403", "%s :No such channel", chan);
  } else if (!c || tr_pid_is_none(c->room)) {
    session_reply(ctx, s, "442", "%s :You're not on that channel", chan);
  } else {
    tr_sendf(ctx, c->room, chat_atoms.topic, "s", m->params[1]);
  }
}

static void cmd_list(tr_ctx_t *ctx, session_t *s, const irc_msg_t *m) {
  (void)m;
  tr_pid_t rooms = tr_whereis(tr_ctx_system(ctx), CHAT_ROOMS_NAME);
  if (tr_pid_is_none(rooms)) {
    session_reply(ctx, s, "321", "Channel :Users  Name");
    session_reply(ctx, s, "323", ":End of /LIST");
  } else {
    tr_send(ctx, rooms, chat_atoms.list, NULL, 0);
  }
}

/* No modes: a query gets "+", a change is refused. */
static void cmd_mode(tr_ctx_t *ctx, session_t *s, const irc_msg_t *m) {
  const char *target = m->params[0];
  if (target[0] == '#') {
    if (tr_pid_is_none(room_of(ctx, s, target)))
      session_reply(ctx, s, "403", "%s :No such channel", target);
    else if (m->nparams < 2)
      session_reply(ctx, s, "324", "%s +", target);
    else if (strcmp(m->params[1], "b") == 0 || strcmp(m->params[1], "+b") == 0)
      session_reply(ctx, s, "368", "%s :End of channel ban list", target);
    else
      session_reply(ctx, s, "482", "%s :You're not channel operator", target);
    return;
  }
  char a[IRC_NICK_MAX + 1], b[IRC_NICK_MAX + 1];
  irc_lower(a, target, sizeof a);
  irc_lower(b, s->nick, sizeof b);
  if (strcmp(a, b) != 0)
    session_reply(ctx, s, "502", ":Cant change mode for other users");
  else
    session_reply(ctx, s, "221", "+");
}

/* WHOIS [server] nick: asked of the nick's session, which answers for itself. */
static void cmd_whois(tr_ctx_t *ctx, session_t *s, const irc_msg_t *m) {
  const char *nick = m->params[m->nparams - 1];
  char name[TR_NAME_MAX + 1];
  chat_nick_name(name, nick);
  tr_pid_t to = irc_nick_valid(nick) ? tr_whereis(tr_ctx_system(ctx), name) : TR_PID_NONE;
  if (!tr_pid_is_none(to)) {
    tr_send(ctx, to, chat_atoms.whois, NULL, 0);
    return;
  }
  session_reply(ctx, s, "401", "%s :No such nick/channel", nick);
  session_reply(ctx, s, "318", "%s :End of /WHOIS list.", nick);
}

/* ---- dispatch ---- */

typedef struct {
  const char *name;
  command_fn fn;
  int min_params;  /* fewer: 461 */
  bool registered; /* needs a completed registration: else 451 */
} command_t;

static const command_t commands[] = {
    {"PRIVMSG", cmd_privmsg, 0, true}, {"NOTICE", cmd_privmsg, 0, true},
    {"PING", cmd_ping, 1, false},      {"PONG", cmd_ignore, 0, false},
    {"JOIN", cmd_join, 1, true},       {"PART", cmd_part, 1, true},
    {"NICK", cmd_nick, 0, false},      {"USER", cmd_user, 4, false},
    {"CAP", cmd_cap, 1, false},        {"PASS", cmd_ignore, 0, false},
    {"QUIT", cmd_quit, 0, false},      {"NAMES", cmd_names, 0, true},
    {"LIST", cmd_list, 0, true},       {"TOPIC", cmd_topic, 1, true},
    {"WHO", cmd_who, 0, true},         {"MOTD", cmd_motd, 0, true},
    {"MODE", cmd_mode, 1, true},       {"WHOIS", cmd_whois, 1, true},
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

/* ---- answers from rooms and the rooms manager ---- */

/* 353 lines of names, as many as fit in an IRC line each, then 366. */
static void show_names(tr_ctx_t *ctx, session_t *s, const char *chan,
                       const msgpack_object *members) {
  char line[IRC_LINE_MAX + 1] = "", nick[IRC_NICK_MAX + 1];
  size_t used = 0, room = IRC_LINE_MAX - 100; /* what the numeric's own words leave */
  for (uint32_t i = 0; i < members->via.array.size; i++) {
    const msgpack_object *mb = &members->via.array.ptr[i];
    if (mb->type != MSGPACK_OBJECT_ARRAY || mb->via.array.size != 4)
      continue;
    chat_obj_str(&mb->via.array.ptr[0], nick, sizeof nick);
    if (used + strlen(nick) + 1 > room) {
      session_reply(ctx, s, "353", "= %s :%s", chan, line);
      used = 0;
    }
    used += (size_t)snprintf(line + used, sizeof line - used, "%s%s", used ? " " : "", nick);
  }
  if (used)
    session_reply(ctx, s, "353", "= %s :%s", chan, line);
  session_reply(ctx, s, "366", "%s :End of /NAMES list.", chan);
}

static void show_who(tr_ctx_t *ctx, session_t *s, const char *chan, const msgpack_object *members) {
  char f[4][IRC_HOST_MAX + 1];
  for (uint32_t i = 0; i < members->via.array.size; i++) {
    const msgpack_object *mb = &members->via.array.ptr[i];
    if (mb->type != MSGPACK_OBJECT_ARRAY || mb->via.array.size != 4)
      continue;
    for (int k = 0; k < 4; k++)
      chat_obj_str(&mb->via.array.ptr[k], f[k], sizeof f[k]);
    session_reply(ctx, s, "352", "%s %s %s %s %s H :0 %s", chan, f[1], f[2], IRC_SERVER, f[0],
                  f[3]);
  }
  session_reply(ctx, s, "315", "%s :End of /WHO list.", chan);
}

void chat_show_roominfo(tr_ctx_t *ctx, session_t *s, chat_info_t purpose, const char *chan,
                        const char *topic, const msgpack_object *members) {
  switch (purpose) {
  case INFO_JOIN:
    session_send(ctx, s, ":%s JOIN %s", s->prefix, chan);
    if (topic[0])
      session_reply(ctx, s, "332", "%s :%s", chan, topic);
    show_names(ctx, s, chan, members);
    break;
  case INFO_NAMES:
    show_names(ctx, s, chan, members);
    break;
  case INFO_WHO:
    show_who(ctx, s, chan, members);
    break;
  case INFO_TOPIC:
    if (topic[0])
      session_reply(ctx, s, "332", "%s :%s", chan, topic);
    else
      session_reply(ctx, s, "331", "%s :No topic is set", chan);
    break;
  }
}

void chat_show_listing(tr_ctx_t *ctx, session_t *s, const msgpack_object *rooms) {
  char name[IRC_CHAN_MAX + 1], topic[IRC_TOPIC_MAX + 1];
  session_reply(ctx, s, "321", "Channel :Users  Name");
  for (uint32_t i = 0; i < rooms->via.array.size; i++) {
    const msgpack_object *r = &rooms->via.array.ptr[i];
    if (r->type != MSGPACK_OBJECT_ARRAY || r->via.array.size != 3 ||
        r->via.array.ptr[1].type != MSGPACK_OBJECT_POSITIVE_INTEGER)
      continue;
    chat_obj_str(&r->via.array.ptr[0], name, sizeof name);
    chat_obj_str(&r->via.array.ptr[2], topic, sizeof topic);
    session_reply(ctx, s, "322", "%s %llu :%s", name,
                  (unsigned long long)r->via.array.ptr[1].via.u64, topic);
  }
  session_reply(ctx, s, "323", ":End of /LIST");
}

void chat_on_whois(tr_ctx_t *ctx, session_t *s, const tr_msg_t *m) {
  char chans[CHAT_CHANS_MAX * (IRC_CHAN_MAX + 1) + 1] = "";
  size_t used = 0;
  for (int i = 0; i < CHAT_CHANS_MAX; i++)
    if (s->chans[i].used && !tr_pid_is_none(s->chans[i].room))
      used += (size_t)snprintf(chans + used, sizeof chans - used, "%s%s", used ? " " : "",
                               s->chans[i].name);
  if (s->has_nick)
    tr_sendf(ctx, tr_msg_from(m), chat_atoms.whoisinfo, "[sssss]", s->nick, s->user, s->host,
             s->real, chans);
}

/* 311, 319 (channels, when any), 312, 318. */
void chat_show_whois(tr_ctx_t *ctx, session_t *s, const tr_msg_t *m) {
  const char *v[5];
  size_t n[5];
  char f[5][IRC_LINE_MAX + 1];
  if (tr_msg_unpack(m, "[sssss]", &v[0], &n[0], &v[1], &n[1], &v[2], &n[2], &v[3], &n[3], &v[4],
                    &n[4]) != 0)
    return;
  for (int k = 0; k < 5; k++)
    chat_copy(f[k], sizeof f[k], v[k], n[k]);
  session_reply(ctx, s, "311", "%s %s %s * :%s", f[0], f[1], f[2], f[3]);
  if (f[4][0])
    session_reply(ctx, s, "319", "%s :%s", f[0], f[4]);
  session_reply(ctx, s, "312", "%s %s :troupe chat", f[0], IRC_SERVER);
  session_reply(ctx, s, "318", "%s :End of /WHOIS list.", f[0]);
}
