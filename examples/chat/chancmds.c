/* The channel commands: JOIN, PART, TOPIC, NAMES, LIST, KICK, MODE #chan and WHO #chan.
 * Each one that needs the room (or the rooms manager) asks it with a request and waits for
 * the answer before the client's next command runs (input.c); the answer is turned into
 * IRC lines by show.c. A command with a list of channels (JOIN #a,#b) runs one channel at a
 * time (chat_each_target), and keeps the rest for after the answer. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "session.h"

/* The room of chan: the session's own when it is in it, else whoever is registered. */
static tr_pid_t room_of(tr_ctx_t *ctx, session_t *s, const char *chan) {
  session_chan_t *c = session_chan(s, chan);
  if (c)
    return c->room;
  char key[IRC_CHAN_MAX + 1];
  irc_lower(key, chan, sizeof key);
  return irc_chan_valid(chan) ? chat_find_room(ctx, key) : TR_PID_NONE;
}

/* Ask `room` (tag, payload packed from fmt) and wait as `kind` about chan. False when the
 * request could not be made (then nothing waits). */
static bool ask(tr_ctx_t *ctx, session_t *s, tr_pid_t room, tr_atom_t tag, wait_kind_t kind,
                const char *chan, const char *fmt, ...) {
  unsigned char req[2 * IRC_LINE_MAX + 64];
  size_t len;
  uint64_t ref;
  va_list ap;
  va_start(ap, fmt);
  int rc = tr_vpack_into(req, sizeof req, &len, fmt, ap);
  va_end(ap);
  if (rc != 0 || tr_pid_is_none(room) ||
      tr_request(ctx, room, tag, req, len, CHAT_ASK_MS, &ref) != 0)
    return false;
  session_wait(s, kind, ref, room, chan);
  return true;
}

bool chat_ask_room(tr_ctx_t *ctx, session_t *s, const char *chan, chat_info_t purpose,
                   wait_kind_t kind, bool plain) {
  if (!ask(ctx, s, room_of(ctx, s, chan), chat_atoms.info, kind, chan, "u", (uint64_t)purpose))
    return false;
  s->wait.plain = plain;
  return true;
}

/* ---- JOIN, PART ---- */

static bool join_one(tr_ctx_t *ctx, session_t *s, const char *chan, const irc_msg_t *m) {
  (void)m;
  if (!irc_chan_valid(chan))
    session_reply(ctx, s, "403", "%s :No such channel", chan);
  else if (session_chan(s, chan))
    return false; /* already there: nothing, as ngIRCd */
  else if (session_nchans(s) >= CHAT_CHANS_MAX)
    session_reply(ctx, s, "405", "%s :You have joined too many channels", chan);
  else if (session_join(ctx, s, chan, false))
    return true;
  else
    session_reply(ctx, s, "437", "%s :Channel is temporarily unavailable", chan);
  return false;
}

static bool part_one(tr_ctx_t *ctx, session_t *s, const char *chan, const irc_msg_t *m) {
  session_chan_t *c = session_chan(s, chan);
  if (c) {
    const char *reason = m->nparams > 1 ? m->params[1] : "";
    if (ask(ctx, s, c->room, chat_atoms.part, WAIT_ACT, c->name, "s", reason)) {
      s->wait.parting = true;
      return true;
    }
    session_drop_chan(ctx, s, c); /* cannot even ask: leave on our side */
    session_send(ctx, s, ":%s PART %s", s->prefix, chan);
  } else if (!tr_pid_is_none(room_of(ctx, s, chan))) {
    session_reply(ctx, s, "442", "%s :You're not on that channel", chan);
  } else {
    session_reply(ctx, s, "403", "%s :No such channel", chan);
  }
  return false;
}

void chat_cmd_part(tr_ctx_t *ctx, session_t *s, const irc_msg_t *m) {
  chat_each_target(ctx, s, m, 0, part_one);
}

void chat_cmd_join(tr_ctx_t *ctx, session_t *s, const irc_msg_t *m) {
  if (strcmp(m->params[0], "0") != 0) {
    chat_each_target(ctx, s, m, 0, join_one);
    return;
  }
  /* JOIN 0: leave every channel, as PART #a,#b,... would. */
  char line[IRC_IN_MAX + 1];
  size_t used = (size_t)snprintf(line, sizeof line, "PART ");
  for (int i = 0; i < CHAT_CHANS_MAX && used < sizeof line; i++)
    if (s->chans[i].used)
      used += (size_t)snprintf(line + used, sizeof line - used, "%s,", s->chans[i].name);
  irc_msg_t part;
  if (used > 5 && irc_parse(line, used - 1, &part))
    chat_cmd_part(ctx, s, &part);
}

/* ---- TOPIC, NAMES, LIST, WHO #chan ---- */

void chat_cmd_topic(tr_ctx_t *ctx, session_t *s, const irc_msg_t *m) {
  const char *chan = m->params[0];
  session_chan_t *c = session_chan(s, chan);
  if (m->nparams < 2) {
    if (!chat_ask_room(ctx, s, chan, INFO_TOPIC, WAIT_TOPIC, false))
      session_reply(ctx, s, "403", "%s :No such channel", chan);
  } else if (!c) {
    if (!tr_pid_is_none(room_of(ctx, s, chan)))
      session_reply(ctx, s, "442", "%s :You're not on that channel", chan);
    else
      session_reply(ctx, s, "403", "%s :No such channel", chan);
  } else if (!ask(ctx, s, c->room, chat_atoms.topic, WAIT_ACT, c->name, "s", m->params[1])) {
    session_reply(ctx, s, "437", "%s :Channel is temporarily unavailable", chan);
  }
}

static bool names_one(tr_ctx_t *ctx, session_t *s, const char *chan, const irc_msg_t *m) {
  (void)m;
  if (chat_ask_room(ctx, s, chan, INFO_NAMES, WAIT_NAMES, false))
    return true;
  session_reply(ctx, s, "366", "%s :End of /NAMES list.", chan);
  return false;
}

void chat_cmd_names(tr_ctx_t *ctx, session_t *s, const irc_msg_t *m) {
  if (m->nparams < 1)
    session_reply(ctx, s, "366", "* :End of /NAMES list.");
  else
    chat_each_target(ctx, s, m, 0, names_one);
}

/* LIST asks every node's rooms manager (each lists the rooms of its node) and shows each
 * answer's rows as it comes; the end line follows the last answer or timeout. */
void chat_cmd_list(tr_ctx_t *ctx, session_t *s, const irc_msg_t *m) {
  (void)m;
  tr_system_t *sys = tr_ctx_system(ctx);
  tr_pid_t managers[CHAT_CHANS_MAX];
  size_t n = 0;
  if (!tr_node_name(sys) ||
      tr_group_members(ctx, chat_atoms.scope_mgr, CHAT_MGR_GROUP, strlen(CHAT_MGR_GROUP), managers,
                       CHAT_CHANS_MAX, &n) != 0 ||
      n == 0) {
    managers[0] = tr_whereis(sys, CHAT_ROOMS_NAME); /* alone: this node's manager */
    n = tr_pid_is_none(managers[0]) ? 0 : 1;
  }
  if (n > CHAT_CHANS_MAX)
    n = CHAT_CHANS_MAX; /* more nodes than a wait has slots: the first ones' rooms */
  session_reply(ctx, s, "321", "Channel :Users  Name");
  session_wait_many(s, WAIT_LIST);
  for (size_t i = 0; i < n; i++)
    if (tr_request(ctx, managers[i], chat_atoms.list, NULL, 0, CHAT_ASK_MS,
                   &s->wait.ref[s->wait.n]) == 0)
      s->wait.n++;
  if (s->wait.n == 0) {
    s->wait.kind = WAIT_NONE;
    session_reply(ctx, s, "323", ":End of /LIST");
  }
}

/* WHO #chan; WHO for a nick is usercmds.c's. */
bool chat_who_channel(tr_ctx_t *ctx, session_t *s, const char *chan) {
  if (chat_ask_room(ctx, s, chan, INFO_WHO, WAIT_WHO, false))
    return true;
  session_reply(ctx, s, "315", "%s :End of /WHO list.", chan);
  return false;
}

/* ---- KICK, MODE #chan ---- */

static bool kick_one(tr_ctx_t *ctx, session_t *s, const char *nick, const irc_msg_t *m) {
  const char *chan = m->params[0];
  tr_pid_t room = room_of(ctx, s, chan);
  char reason[IRC_KICK_MAX + 1];
  snprintf(reason, sizeof reason, "%s", m->nparams > 2 && m->params[2][0] ? m->params[2] : s->nick);
  if (tr_pid_is_none(session_find_nick(ctx, nick)))
    session_reply(ctx, s, "401", "%s :No such nick or channel name", nick);
  else if (tr_pid_is_none(room))
    session_reply(ctx, s, "403", "%s :No such channel", chan);
  else if (ask(ctx, s, room, chat_atoms.kick, WAIT_ACT, chan, "[ss]", nick, reason))
    return true;
  return false;
}

void chat_cmd_kick(tr_ctx_t *ctx, session_t *s, const irc_msg_t *m) {
  chat_each_target(ctx, s, m, 1, kick_one);
}

void chat_cmd_mode(tr_ctx_t *ctx, session_t *s, const irc_msg_t *m) {
  const char *target = m->params[0];
  if (target[0] != '#') {
    chat_user_mode(ctx, s, m);
    return;
  }
  tr_pid_t room = room_of(ctx, s, target);
  char args[IRC_LINE_MAX + 1] = "";
  size_t used = 0;
  for (int i = 2; i < m->nparams && used < sizeof args; i++)
    used +=
        (size_t)snprintf(args + used, sizeof args - used, "%s%s", used ? " " : "", m->params[i]);
  if (tr_pid_is_none(room))
    session_reply(ctx, s, "401", "%s :No such nick or channel name", target);
  else if (m->nparams < 2
               ? !chat_ask_room(ctx, s, target, INFO_MODE, WAIT_MODE, false)
               : !ask(ctx, s, room, chat_atoms.mode, WAIT_ACT, target, "[ss]", m->params[1], args))
    session_reply(ctx, s, "437", "%s :Channel is temporarily unavailable", target);
}
