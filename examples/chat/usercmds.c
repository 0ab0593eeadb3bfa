/* The commands about users: PRIVMSG and NOTICE, WHOIS, WHO for a nick, ISON, USERHOST,
 * AWAY and MODE for one's own nick, and this session's side when another session asks
 * (a private message, WHOIS). What another session knows (its user and host, channels,
 * away message) is asked of it with a request, so the asking client's next command waits
 * for the answer like any other. */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "session.h"

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* ---- PRIVMSG, NOTICE ---- */

bool session_say(tr_ctx_t *ctx, session_t *s, session_chan_t *c, chat_ev_t kind, const char *text) {
  unsigned char req[IRC_LINE_MAX + 16];
  size_t len;
  uint64_t ref;
  if (tr_pack_into(req, sizeof req, &len, "[us]", (uint64_t)kind, text) != 0 ||
      tr_request(ctx, c->room, chat_atoms.say, req, len, CHAT_ASK_MS, &ref) != 0)
    return false;
  session_wait(s, WAIT_ACT, ref, c->room, c->name);
  return true;
}

bool session_dm(tr_ctx_t *ctx, session_t *s, chat_ev_t kind, const char *nick, const char *text,
                bool plain) {
  tr_pid_t to = session_find_nick(ctx, nick);
  unsigned char req[IRC_PREFIX_MAX + IRC_LINE_MAX + 32];
  size_t len;
  uint64_t ref;
  if (tr_pid_is_none(to) ||
      tr_pack_into(req, sizeof req, &len, "[uss]", (uint64_t)kind, s->prefix, text) != 0)
    return false;
  s->last_said_ns = now_ns();
  /* A PRIVMSG asks for the target's away message (RPL_AWAY); a NOTICE never gets an
   * automatic reply, so it does not wait. */
  if (kind == EV_NOTICE)
    tr_send(ctx, to, chat_atoms.dm, req, len);
  else if (tr_request(ctx, to, chat_atoms.dm, req, len, CHAT_ASK_MS, &ref) == 0) {
    session_wait(s, WAIT_DM, ref, to, nick);
    s->wait.plain = plain;
  }
  return true;
}

static bool say_one(tr_ctx_t *ctx, session_t *s, const char *target, const irc_msg_t *m) {
  bool notice = strcmp(m->cmd, "NOTICE") == 0; /* NOTICE never gets an error back */
  chat_ev_t kind = notice ? EV_NOTICE : EV_PRIVMSG;
  if (target[0] != '#') {
    if (session_dm(ctx, s, kind, target, m->params[1], false))
      return session_waiting(s);
  } else {
    session_chan_t *c = session_chan(s, target);
    char key[IRC_CHAN_MAX + 1];
    irc_lower(key, target, sizeof key);
    if (c) {
      s->last_said_ns = now_ns();
      return session_say(ctx, s, c, kind, m->params[1]);
    }
    if (!notice && !tr_pid_is_none(chat_find_room(ctx, key))) {
      session_reply(ctx, s, "404", "%s :Cannot send to channel", target);
      return false;
    }
  }
  if (!notice)
    session_reply(ctx, s, "401", "%s :No such nick or channel name", target);
  return false;
}

void chat_cmd_privmsg(tr_ctx_t *ctx, session_t *s, const irc_msg_t *m) {
  bool notice = strcmp(m->cmd, "NOTICE") == 0;
  if (m->nparams < 1 || !m->params[0][0]) {
    if (!notice)
      session_reply(ctx, s, "411", ":No recipient given (%s)", m->cmd);
  } else if (m->nparams < 2 || !m->params[1][0]) {
    if (!notice)
      session_reply(ctx, s, "412", ":No text to send");
  } else {
    chat_each_target(ctx, s, m, 0, say_one);
  }
}

void chat_on_dm(tr_ctx_t *ctx, session_t *s, const tr_msg_t *m) {
  uint64_t kind;
  const char *p, *t;
  size_t pl, tl;
  char prefix[IRC_PREFIX_MAX + 1], text[IRC_LINE_MAX + 1];
  if (tr_msg_ref(m) != 0)
    tr_replyf(ctx, m, chat_atoms.dmack, "s", s->away);
  if (tr_msg_unpack(m, "[uss]", &kind, &p, &pl, &t, &tl) != 0 || kind > EV_NOTICE)
    return;
  chat_copy(prefix, sizeof prefix, p, pl);
  chat_copy(text, sizeof text, t, tl);
  if (s->mode == MODE_PLAIN)
    chat_plain_dm(ctx, s, (chat_ev_t)kind, prefix, text);
  else
    session_send(ctx, s, ":%s %s %s :%s", prefix, kind == EV_PRIVMSG ? "PRIVMSG" : "NOTICE",
                 s->has_nick ? s->nick : "*", text);
}

/* ---- WHOIS, WHO nick, USERHOST, ISON ---- */

/* Ask nick's session for its whoisinfo; false when nobody has the nick. */
static bool ask_whois(tr_ctx_t *ctx, const char *nick, uint64_t *ref) {
  tr_pid_t to = session_find_nick(ctx, nick);
  return !tr_pid_is_none(to) &&
         tr_request(ctx, to, chat_atoms.whois, NULL, 0, CHAT_ASK_MS, ref) == 0;
}

static bool whois_one(tr_ctx_t *ctx, session_t *s, const char *nick, const irc_msg_t *m) {
  (void)m;
  uint64_t ref;
  if (ask_whois(ctx, nick, &ref)) {
    session_wait(s, WAIT_WHOIS, ref, TR_PID_NONE, nick);
    return true;
  }
  session_reply(ctx, s, "401", "%s :No such nick or channel name", nick);
  session_reply(ctx, s, "318", "%s :End of /WHOIS list.", nick);
  return false;
}

/* WHOIS [server] nick[,nick...] */
void chat_cmd_whois(tr_ctx_t *ctx, session_t *s, const irc_msg_t *m) {
  if (m->nparams < 1 || !m->params[m->nparams - 1][0])
    session_reply(ctx, s, "431", ":No nickname given");
  else
    chat_each_target(ctx, s, m, m->nparams - 1, whois_one);
}

void chat_cmd_who(tr_ctx_t *ctx, session_t *s, const irc_msg_t *m) {
  const char *mask = m->nparams > 0 && m->params[0][0] ? m->params[0] : "*";
  uint64_t ref;
  if (mask[0] == '#') {
    chat_who_channel(ctx, s, mask);
  } else if (ask_whois(ctx, mask, &ref)) {
    session_wait(s, WAIT_WHO_NICK, ref, TR_PID_NONE, mask);
  } else {
    /* "*", "0" or a mask: listing every user is not offered (it would ask every session). */
    session_reply(ctx, s, "315", "%s :End of /WHO list.", mask);
  }
}

/* The words of every parameter from `from` on (ISON and USERHOST take them either way:
 * "ISON a b" or "ISON :a b"), at most max. */
static int words(const irc_msg_t *m, int from, char out[][IRC_NICK_MAX + 1], int max) {
  int n = 0;
  for (int i = from; i < m->nparams && n < max; i++) {
    char copy[IRC_LINE_MAX + 1], *save = NULL;
    snprintf(copy, sizeof copy, "%s", m->params[i]);
    for (char *w = strtok_r(copy, " ", &save); w && n < max; w = strtok_r(NULL, " ", &save))
      chat_copy(out[n++], IRC_NICK_MAX + 1, w, strlen(w));
  }
  return n;
}

void chat_cmd_userhost(tr_ctx_t *ctx, session_t *s, const irc_msg_t *m) {
  char nicks[SESSION_USERHOST_MAX][IRC_NICK_MAX + 1];
  int n = words(m, 0, nicks, SESSION_USERHOST_MAX);
  session_wait_many(s, WAIT_USERHOST);
  s->wait.n = n;
  for (int i = 0; i < n; i++)
    if (!ask_whois(ctx, nicks[i], &s->wait.ref[i]))
      s->wait.got++; /* nobody: no answer to wait for, and no entry in the reply */
  if (s->wait.got == n) {
    chat_show_userhost(ctx, s);
    s->wait.kind = WAIT_NONE;
  }
}

void chat_cmd_ison(tr_ctx_t *ctx, session_t *s, const irc_msg_t *m) {
  char nicks[64][IRC_NICK_MAX + 1], out[IRC_LINE_MAX + 1] = "";
  int n = words(m, 0, nicks, 64);
  size_t used = 0;
  for (int i = 0; i < n && used + IRC_NICK_MAX + 1 < sizeof out - 64; i++)
    if (!tr_pid_is_none(session_find_nick(ctx, nicks[i])))
      used += (size_t)snprintf(out + used, sizeof out - used, "%s%s", used ? " " : "", nicks[i]);
  session_reply(ctx, s, "303", ":%s", out);
}

/* Another session asks about us: [nick, user, host, real, channels, away, idle, signon]. */
void chat_on_whois(tr_ctx_t *ctx, session_t *s, const tr_msg_t *m) {
  char chans[CHAT_CHANS_MAX * (IRC_CHAN_MAX + 2) + 1] = "";
  size_t used = 0;
  for (int i = 0; i < CHAT_CHANS_MAX; i++)
    if (s->chans[i].used)
      used += (size_t)snprintf(chans + used, sizeof chans - used, "%s%s%s", used ? " " : "",
                               s->chans[i].op ? "@" : "", s->chans[i].name);
  uint64_t idle = (now_ns() - s->last_said_ns) / 1000000000u;
  tr_replyf(ctx, m, chat_atoms.whoisinfo, "[ssssssuu]", s->nick, s->user, s->host, s->real, chans,
            s->away, idle, s->signon);
}

/* ---- AWAY, MODE nick ---- */

void chat_cmd_away(tr_ctx_t *ctx, session_t *s, const irc_msg_t *m) {
  const char *text = m->nparams > 0 ? m->params[0] : "";
  chat_copy(s->away, sizeof s->away, text, strlen(text));
  for (int i = 0; i < CHAT_CHANS_MAX; i++) /* for WHO's H and G */
    if (s->chans[i].used)
      tr_sendf(ctx, s->chans[i].room, chat_atoms.away, "b", s->away[0] != '\0');
  if (s->away[0])
    session_reply(ctx, s, "306", ":You have been marked as being away");
  else
    session_reply(ctx, s, "305", ":You are no longer marked as being away");
}

static void user_modes(const session_t *s, char out[4]) {
  snprintf(out, 4, "+%s%s", s->invisible ? "i" : "", s->wallops ? "w" : "");
}

/* MODE nick [changes]: i and w can be set and unset, o cannot be given to oneself (481),
 * anything else is unknown (501); what changed is echoed as a MODE line, as servers do. */
void chat_user_mode(tr_ctx_t *ctx, session_t *s, const irc_msg_t *m) {
  char modes[4];
  if (!session_same_name(m->params[0], s->nick)) {
    session_reply(ctx, s, "502", ":Can't change mode for other users");
    return;
  }
  if (m->nparams < 2) {
    user_modes(s, modes);
    session_reply(ctx, s, "221", "%s", modes);
    return;
  }
  char done[32] = "", sign = '+', written = 0;
  size_t n = 0;
  bool unknown = false, oper = false;
  for (const char *p = m->params[1]; *p && n + 3 < sizeof done; p++) {
    bool *flag = *p == 'i' ? &s->invisible : *p == 'w' ? &s->wallops : NULL;
    if (*p == '+' || *p == '-') {
      sign = *p;
    } else if (flag && *flag != (sign == '+')) {
      *flag = sign == '+';
      if (written != sign)
        done[n++] = written = sign;
      done[n++] = *p;
      done[n] = '\0';
    } else if (*p == 'o' || *p == 'O') {
      oper |= sign == '+';
    } else if (!flag) {
      unknown = true;
    }
  }
  if (n)
    session_send(ctx, s, ":%s MODE %s :%s", s->prefix, s->nick, done);
  if (oper)
    session_reply(ctx, s, "481", ":Permission denied");
  if (unknown)
    session_reply(ctx, s, "501", ":Unknown MODE flag");
}
