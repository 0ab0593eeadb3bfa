/* Answers as IRC lines: what a room says about itself (JOIN, NAMES, WHO, TOPIC, MODE), a
 * room's answer to an action, the manager's LIST, another session's WHOIS, the events rooms
 * fan out, and the reply a waiting command gives when its answer is lost. */
#include <stdio.h>
#include <string.h>

#include "session.h"

/* A roominfo member: [nick, user, host, real, op, away]. */
typedef struct {
  char nick[IRC_NICK_MAX + 1], user[IRC_USER_MAX + 1], host[IRC_HOST_MAX + 1];
  char real[IRC_REAL_MAX + 1];
  bool op, away;
} member_t;

static bool member_at(const msgpack_object *members, uint32_t i, member_t *mb) {
  const msgpack_object *o = &members->via.array.ptr[i];
  if (o->type != MSGPACK_OBJECT_ARRAY || o->via.array.size < 6)
    return false;
  chat_obj_str(&o->via.array.ptr[0], mb->nick, sizeof mb->nick);
  chat_obj_str(&o->via.array.ptr[1], mb->user, sizeof mb->user);
  chat_obj_str(&o->via.array.ptr[2], mb->host, sizeof mb->host);
  chat_obj_str(&o->via.array.ptr[3], mb->real, sizeof mb->real);
  mb->op = chat_obj_uint(&o->via.array.ptr[4]) != 0;
  mb->away = chat_obj_uint(&o->via.array.ptr[5]) != 0;
  return true;
}

/* 353 lines of names ("@" before operators), as many as fit in an IRC line each, then 366. */
static void show_names(tr_ctx_t *ctx, session_t *s, const char *chan,
                       const msgpack_object *members) {
  char line[IRC_LINE_MAX + 1] = "";
  size_t used = 0, room = IRC_LINE_MAX - 100; /* what the numeric's own words leave */
  member_t mb;
  for (uint32_t i = 0; i < members->via.array.size; i++) {
    if (!member_at(members, i, &mb))
      continue;
    if (used + strlen(mb.nick) + 2 > room) {
      session_reply(ctx, s, "353", "= %s :%s", chan, line);
      used = 0;
    }
    used += (size_t)snprintf(line + used, sizeof line - used, "%s%s%s", used ? " " : "",
                             mb.op ? "@" : "", mb.nick);
  }
  if (used)
    session_reply(ctx, s, "353", "= %s :%s", chan, line);
  session_reply(ctx, s, "366", "%s :End of /NAMES list.", chan);
}

static void show_who(tr_ctx_t *ctx, session_t *s, const char *chan, const msgpack_object *members) {
  member_t mb;
  for (uint32_t i = 0; i < members->via.array.size; i++)
    if (member_at(members, i, &mb))
      session_reply(ctx, s, "352", "%s %s %s %s %s %c%s :0 %s", chan, mb.user, mb.host, IRC_SERVER,
                    mb.nick, mb.away ? 'G' : 'H', mb.op ? "@" : "", mb.real);
  session_reply(ctx, s, "315", "%s :End of /WHO list.", chan);
}

/* 332 and 333: the topic, who set it and when. */
static void show_topic(tr_ctx_t *ctx, session_t *s, const char *chan, const char *topic,
                       const msgpack_object *info) {
  char by[IRC_NICK_MAX + 1] = "";
  session_reply(ctx, s, "332", "%s :%s", chan, topic);
  if (info->via.array.size < 8)
    return;
  chat_obj_str(&info->via.array.ptr[6], by, sizeof by);
  if (by[0])
    session_reply(ctx, s, "333", "%s %s %llu", chan, by,
                  (unsigned long long)chat_obj_uint(&info->via.array.ptr[7]));
}

void chat_show_roominfo(tr_ctx_t *ctx, session_t *s, wait_kind_t kind, const msgpack_object *info) {
  const msgpack_object *f = info->via.array.ptr;
  char chan[IRC_CHAN_MAX + 1], topic[IRC_TOPIC_MAX + 1], modes[16];
  chat_obj_str(&f[1], chan, sizeof chan);
  chat_obj_str(&f[2], topic, sizeof topic);
  chat_obj_str(&f[3], modes, sizeof modes);
  const msgpack_object *members = &f[5];
  if (members->type != MSGPACK_OBJECT_ARRAY)
    return;
  if (s->mode == MODE_PLAIN) {
    chat_plain_roominfo(ctx, s, kind == WAIT_JOIN ? INFO_JOIN : INFO_NAMES, info);
    return;
  }
  switch (kind) {
  case WAIT_JOIN:
    session_send(ctx, s, ":%s JOIN %s", s->prefix, chan);
    if (topic[0])
      show_topic(ctx, s, chan, topic, info);
    show_names(ctx, s, chan, members);
    break;
  case WAIT_NAMES:
    show_names(ctx, s, chan, members);
    break;
  case WAIT_WHO:
    show_who(ctx, s, chan, members);
    break;
  case WAIT_TOPIC:
    if (topic[0])
      show_topic(ctx, s, chan, topic, info);
    else
      session_reply(ctx, s, "331", "%s :No topic is set", chan);
    break;
  case WAIT_MODE:
    session_reply(ctx, s, "324", "%s %s", chan, modes);
    session_reply(ctx, s, "329", "%s %llu", chan, (unsigned long long)chat_obj_uint(&f[4]));
    break;
  default:
    break;
  }
}

void chat_show_answer(tr_ctx_t *ctx, session_t *s, const msgpack_object *answer) {
  const msgpack_object *numerics = &answer->via.array.ptr[0];
  char numeric[4], text[IRC_LINE_MAX + 1];
  for (uint32_t i = 0; numerics->type == MSGPACK_OBJECT_ARRAY && i < numerics->via.array.size;
       i++) {
    const msgpack_object *n = &numerics->via.array.ptr[i];
    if (n->type != MSGPACK_OBJECT_ARRAY || n->via.array.size != 2)
      continue;
    chat_obj_str(&n->via.array.ptr[0], numeric, sizeof numeric);
    chat_obj_str(&n->via.array.ptr[1], text, sizeof text);
    session_reply(ctx, s, numeric, "%s", text);
  }
  session_show_own_event(ctx, s, &answer->via.array.ptr[1]);
}

void chat_show_listing(tr_ctx_t *ctx, session_t *s, const tr_msg_t *m) {
  char name[IRC_CHAN_MAX + 1], topic[IRC_TOPIC_MAX + 1];
  msgpack_zone zone;
  msgpack_object rooms;
  msgpack_zone_init(&zone, 4096);
  if (chat_parse_array(m, &zone, 0, &rooms)) {
    for (uint32_t i = 0; i < rooms.via.array.size; i++) {
      const msgpack_object *r = &rooms.via.array.ptr[i];
      if (r->type != MSGPACK_OBJECT_ARRAY || r->via.array.size != 3)
        continue;
      chat_obj_str(&r->via.array.ptr[0], name, sizeof name);
      chat_obj_str(&r->via.array.ptr[2], topic, sizeof topic);
      session_reply(ctx, s, "322", "%s %llu :%s", name,
                    (unsigned long long)chat_obj_uint(&r->via.array.ptr[1]), topic);
    }
  }
  msgpack_zone_destroy(&zone);
}

/* ---- what other sessions say about themselves ---- */

typedef struct {
  char nick[IRC_NICK_MAX + 1], user[IRC_USER_MAX + 1], host[IRC_HOST_MAX + 1];
  char real[IRC_REAL_MAX + 1], chans[CHAT_CHANS_MAX * (IRC_CHAN_MAX + 2) + 1];
  char away[IRC_AWAY_MAX + 1];
  uint64_t idle, signon;
} whois_t;

static bool whois_of(const tr_msg_t *m, whois_t *w) {
  const char *v[6];
  size_t n[6];
  if (tr_msg_unpack(m, "[ssssssuu]", &v[0], &n[0], &v[1], &n[1], &v[2], &n[2], &v[3], &n[3], &v[4],
                    &n[4], &v[5], &n[5], &w->idle, &w->signon) != 0)
    return false;
  chat_copy(w->nick, sizeof w->nick, v[0], n[0]);
  chat_copy(w->user, sizeof w->user, v[1], n[1]);
  chat_copy(w->host, sizeof w->host, v[2], n[2]);
  chat_copy(w->real, sizeof w->real, v[3], n[3]);
  chat_copy(w->chans, sizeof w->chans, v[4], n[4]);
  chat_copy(w->away, sizeof w->away, v[5], n[5]);
  return true;
}

/* 311, 312, 319 (channels, when any), 317, 301 (when away), 318: ngIRCd's order. */
void chat_show_whois(tr_ctx_t *ctx, session_t *s, const tr_msg_t *m) {
  whois_t w;
  if (!whois_of(m, &w)) {
    chat_show_lost(ctx, s);
    return;
  }
  session_reply(ctx, s, "311", "%s %s %s * :%s", w.nick, w.user, w.host, w.real);
  session_reply(ctx, s, "312", "%s %s :troupe chat", w.nick, IRC_SERVER);
  if (w.chans[0])
    session_reply(ctx, s, "319", "%s :%s", w.nick, w.chans);
  session_reply(ctx, s, "317", "%s %llu %llu :seconds idle, signon time", w.nick,
                (unsigned long long)w.idle, (unsigned long long)w.signon);
  if (w.away[0])
    session_reply(ctx, s, "301", "%s :%s", w.nick, w.away);
  session_reply(ctx, s, "318", "%s :End of /WHOIS list.", w.nick);
}

void chat_show_who_nick(tr_ctx_t *ctx, session_t *s, const tr_msg_t *m) {
  whois_t w;
  if (whois_of(m, &w))
    session_reply(ctx, s, "352", "* %s %s %s %s %c :0 %s", w.user, w.host, IRC_SERVER, w.nick,
                  w.away[0] ? 'G' : 'H', w.real);
  session_reply(ctx, s, "315", "%s :End of /WHO list.", s->wait.arg);
}

void chat_note_userhost(session_t *s, int slot, const tr_msg_t *m) {
  whois_t w;
  if (whois_of(m, &w))
    snprintf(s->wait.uh[slot], sizeof s->wait.uh[slot], "%s=%c%s@%s", w.nick, w.away[0] ? '-' : '+',
             w.user, w.host);
}

void chat_show_userhost(tr_ctx_t *ctx, session_t *s) {
  char out[IRC_LINE_MAX + 1] = "";
  size_t used = 0;
  for (int i = 0; i < s->wait.n; i++)
    if (s->wait.uh[i][0])
      used +=
          (size_t)snprintf(out + used, sizeof out - used, "%s%s", used ? " " : "", s->wait.uh[i]);
  session_reply(ctx, s, "302", ":%s", out);
}

/* ---- events ---- */

void chat_show_event(tr_ctx_t *ctx, session_t *s, chat_ev_t kind, const char *prefix,
                     const char *chan, const char *arg, const char *text) {
  switch (kind) {
  case EV_JOIN:
    session_send(ctx, s, ":%s JOIN %s", prefix, chan);
    break;
  case EV_PART: /* with an empty reason rather than none, as ngIRCd: some client libraries
                   take the last parameter for the reason */
    session_send(ctx, s, ":%s PART %s :%s", prefix, chan, text);
    break;
  case EV_QUIT:
    session_send(ctx, s, ":%s QUIT :%s", prefix, text);
    break;
  case EV_NICK:
    session_send(ctx, s, ":%s NICK :%s", prefix, text);
    break;
  case EV_KICK:
    session_send(ctx, s, ":%s KICK %s %s :%s", prefix, chan, arg, text);
    break;
  case EV_MODE:
    session_send(ctx, s, ":%s MODE %s %s", prefix, chan, arg);
    break;
  case EV_TOPIC:
    session_send(ctx, s, ":%s TOPIC %s :%s", prefix, chan, text);
    break;
  case EV_PRIVMSG:
  case EV_NOTICE:
    session_send(ctx, s, ":%s %s %s :%s", prefix, kind == EV_PRIVMSG ? "PRIVMSG" : "NOTICE", chan,
                 text);
    break;
  }
}

/* ---- answers that will not come ---- */

void chat_show_lost(tr_ctx_t *ctx, session_t *s) {
  const char *arg = s->wait.arg;
  session_chan_t *c;
  if (s->mode == MODE_PLAIN) {
    if (s->wait.kind == WAIT_JOIN)
      session_send(ctx, s, "error: %s is not available right now; reconnect later", arg);
    return;
  }
  switch (s->wait.kind) {
  case WAIT_JOIN:
    session_reply(ctx, s, "437", "%s :Channel is temporarily unavailable", arg);
    break;
  case WAIT_NAMES:
    session_reply(ctx, s, "366", "%s :End of /NAMES list.", arg);
    break;
  case WAIT_WHO:
  case WAIT_WHO_NICK:
    session_reply(ctx, s, "315", "%s :End of /WHO list.", arg);
    break;
  case WAIT_TOPIC:
  case WAIT_MODE:
    session_reply(ctx, s, "403", "%s :No such channel", arg);
    break;
  case WAIT_ACT:
    /* A PART whose room is gone leaves all the same. */
    if (s->wait.parting && (c = session_chan(s, arg)) != NULL) {
      session_drop_chan(ctx, s, c);
      session_send(ctx, s, ":%s PART %s", s->prefix, arg);
    }
    break;
  case WAIT_WHOIS:
    session_reply(ctx, s, "401", "%s :No such nick or channel name", arg);
    session_reply(ctx, s, "318", "%s :End of /WHOIS list.", arg);
    break;
  default:
    break;
  }
}
