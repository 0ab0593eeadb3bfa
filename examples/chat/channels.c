/* A session's side of its rooms: the channel table, joining through the rooms manager, the
 * events rooms fan out (and what they change on our side: a KICK of us, an operator flag),
 * parting and quitting, and a room that dies. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "session.h"

session_chan_t *session_chan(session_t *s, const char *name) {
  char key[IRC_CHAN_MAX + 1];
  irc_lower(key, name, sizeof key);
  for (int i = 0; i < CHAT_CHANS_MAX; i++)
    if (s->chans[i].used && strcmp(s->chans[i].key, key) == 0)
      return &s->chans[i];
  return NULL;
}

session_chan_t *session_chan_of(session_t *s, tr_pid_t room) {
  for (int i = 0; i < CHAT_CHANS_MAX; i++)
    if (s->chans[i].used && tr_pid_eq(s->chans[i].room, room))
      return &s->chans[i];
  return NULL;
}

int session_nchans(const session_t *s) {
  int n = 0;
  for (int i = 0; i < CHAT_CHANS_MAX; i++)
    n += s->chans[i].used;
  return n;
}

bool session_join(tr_ctx_t *ctx, session_t *s, const char *chan, bool plain) {
  tr_pid_t rooms = tr_whereis(tr_ctx_system(ctx), CHAT_ROOMS_NAME);
  unsigned char req[IRC_PREFIX_MAX + IRC_REAL_MAX + IRC_CHAN_MAX + 32];
  size_t len;
  uint64_t ref;
  if (tr_pid_is_none(rooms) ||
      tr_pack_into(req, sizeof req, &len, "[sssss]", s->nick, s->user, s->host, s->real, chan) !=
          0 ||
      tr_request(ctx, rooms, chat_atoms.join, req, len, CHAT_ASK_MS, &ref) != 0)
    return false;
  session_wait(s, WAIT_JOIN, ref, rooms, chan);
  s->wait.plain = plain;
  return true;
}

/* The op flag of our own entry in a roominfo's member list. */
static bool own_op(const session_t *s, const msgpack_object *members) {
  char nick[IRC_NICK_MAX + 1];
  for (uint32_t i = 0; members->type == MSGPACK_OBJECT_ARRAY && i < members->via.array.size; i++) {
    const msgpack_object *mb = &members->via.array.ptr[i];
    if (mb->type != MSGPACK_OBJECT_ARRAY || mb->via.array.size < 6)
      continue;
    chat_obj_str(&mb->via.array.ptr[0], nick, sizeof nick);
    if (session_same_name(nick, s->nick))
      return chat_obj_uint(&mb->via.array.ptr[4]) != 0;
  }
  return false;
}

bool session_joined(tr_ctx_t *ctx, session_t *s, const tr_msg_t *m) {
  const char *chan = s->wait.arg;
  if (tr_msg_tag(m) == chat_atoms.joinfail) {
    if (s->mode == MODE_PLAIN)
      session_send(ctx, s, "error: cannot join %s", chan);
    else
      session_reply(ctx, s, "403", "%s :No such channel", chan);
    return false;
  }
  msgpack_zone zone;
  msgpack_object o;
  session_chan_t *c = NULL;
  for (int i = 0; i < CHAT_CHANS_MAX && !c; i++)
    if (!s->chans[i].used)
      c = &s->chans[i];
  msgpack_zone_init(&zone, 2048);
  bool ok = c && chat_parse_array(m, &zone, 6, &o);
  if (ok) {
    memset(c, 0, sizeof *c);
    c->used = true;
    c->room = tr_msg_from(m);
    chat_obj_str(&o.via.array.ptr[1], c->name, sizeof c->name);
    irc_lower(c->key, c->name, sizeof c->key);
    c->op = own_op(s, &o.via.array.ptr[5]);
    if (tr_monitor(ctx, c->room, &c->mon) != 0)
      c->mon = 0;
  } else {
    tr_sendf(ctx, tr_msg_from(m), chat_atoms.part, "s", ""); /* cannot keep it: leave */
    session_reply(ctx, s, "437", "%s :Channel is temporarily unavailable", chan);
  }
  msgpack_zone_destroy(&zone);
  return ok;
}

void session_drop_chan(tr_ctx_t *ctx, session_t *s, session_chan_t *c) {
  (void)s;
  tr_demonitor(ctx, c->mon);
  c->used = false;
}

void session_leave_all(tr_ctx_t *ctx, session_t *s, const char *reason) {
  s->seq++;
  for (int i = 0; i < CHAT_CHANS_MAX; i++) {
    session_chan_t *c = &s->chans[i];
    if (!c->used)
      continue;
    tr_sendf(ctx, c->room, chat_atoms.quit, "[su]", reason, s->seq);
    session_drop_chan(ctx, s, c);
  }
  if (s->has_nick) {
    char name[TR_NAME_MAX + 1];
    chat_nick_name(name, s->nick);
    tr_unregister(tr_ctx_system(ctx), name);
    char low[IRC_NICK_MAX + 1];
    irc_lower(low, s->nick, sizeof low);
    tr_group_leave(ctx, chat_atoms.scope_nick, low, strlen(low));
    s->has_nick = false;
  }
}

/* A room the session is in died. When its node went down (noconnection) or stopped in order
 * (a shutdown of another node's room), the channel lives on elsewhere. So it does when another
 * node's room was gone before the session's monitor reached it (noproc): the room had taken the
 * session in, so it did not close for being empty; the monitor travels after the join's answer,
 * and a node stopping in that moment takes the room with it before the monitor lands. An IRC
 * client is shown leaving it with the netsplit reason and joins again as if it had sent JOIN, in
 * order with its own commands, so the channel gets a new home on a live node (rooms.c) and the
 * client a fresh member list. Any other death (a bug, its manager restarting) closes the channel
 * for the client; a plain client, which has nowhere else to be, goes back to it in both cases. */
void session_on_down(tr_ctx_t *ctx, session_t *s, const tr_msg_t *m) {
  tr_down_t d;
  if (tr_msg_down(m, &d) != 0)
    return;
  session_chan_t *c = session_chan_of(s, d.pid);
  char name[IRC_CHAN_MAX + 1] = "";
  /* Its node is gone (noconnection), stopping in order (shutdown, from another node), or the
   * room went before the monitor arrived (noproc, from another node): */
  bool split = d.reason.kind == TR_REASON_NOCONNECTION ||
               ((d.reason.kind == TR_REASON_SHUTDOWN || d.reason.kind == TR_REASON_NOPROC) &&
                tr_pid_is_remote(d.pid));
  if (c && c->mon == d.ref) {
    memcpy(name, c->name, sizeof name);
    session_drop_chan(ctx, s, c);
    if (s->mode != MODE_PLAIN)
      session_send(ctx, s, ":%s PART %s :%s", s->prefix, name,
                   split ? "*.net *.split" : "Channel closed");
  }
  session_wait_down(ctx, s, d.pid);
  if (name[0] && s->mode != MODE_PLAIN && split) {
    char line[IRC_CHAN_MAX + 8];
    int n = snprintf(line, sizeof line, "JOIN %s", name);
    session_input(ctx, s, line, (size_t)n);
    return;
  }
  if (!name[0] || s->mode != MODE_PLAIN)
    return;
  session_send(ctx, s, "* %s was restarted; joining again", name);
  if (session_waiting(s) || !session_join(ctx, s, name, true))
    session_send(ctx, s, "error: %s is not available right now; reconnect later", name);
}

/* Whether this NICK or QUIT (origin, seq) was shown already, through another room. */
static bool seen_before(session_t *s, uint64_t origin, uint64_t seq) {
  if (seq == 0)
    return false;
  for (int i = 0; i < SESSION_SEEN; i++)
    if (s->seen[i].origin == origin && s->seen[i].seq == seq)
      return true;
  s->seen[s->seen_next].origin = origin;
  s->seen[s->seen_next].seq = seq;
  s->seen_next = (s->seen_next + 1) % SESSION_SEEN;
  return false;
}

/* A MODE change ("+o-o bob carl") that names our nick sets our operator flag. */
static void apply_mode(session_t *s, session_chan_t *c, const char *change) {
  char copy[IRC_LINE_MAX + 1], *save = NULL;
  snprintf(copy, sizeof copy, "%s", change);
  char *letters = strtok_r(copy, " ", &save), sign = '+';
  for (const char *p = letters ? letters : ""; *p; p++) {
    if (*p == '+' || *p == '-') {
      sign = *p;
    } else if (*p == 'o') {
      const char *nick = strtok_r(NULL, " ", &save);
      if (nick && session_same_name(nick, s->nick))
        c->op = sign == '+';
    }
  }
}

void session_on_event(tr_ctx_t *ctx, session_t *s, const tr_msg_t *m) {
  uint64_t kind, origin, seq;
  const char *p, *c, *a, *t;
  size_t pl, cl, al, tl;
  char prefix[IRC_PREFIX_MAX + 1], chan[IRC_CHAN_MAX + 1], arg[IRC_LINE_MAX + 1],
      text[IRC_LINE_MAX + 1];
  if (tr_msg_unpack(m, "[ussssuu]", &kind, &p, &pl, &c, &cl, &a, &al, &t, &tl, &origin, &seq) !=
          0 ||
      kind > EV_MODE)
    return;
  session_chan_t *entry = session_chan_of(s, tr_msg_from(m));
  if (!entry) {
    /* A room that counts us in while we do not (its join answer came after our wait gave up
     * on it): leave it, quietly. */
    tr_sendf(ctx, tr_msg_from(m), chat_atoms.part, "s", "");
    return;
  }
  if (seen_before(s, origin, seq))
    return;
  chat_copy(prefix, sizeof prefix, p, pl);
  chat_copy(chan, sizeof chan, c, cl);
  chat_copy(arg, sizeof arg, a, al);
  chat_copy(text, sizeof text, t, tl);
  if (s->mode == MODE_PLAIN)
    chat_plain_event(ctx, s, (chat_ev_t)kind, prefix, arg, text);
  else
    chat_show_event(ctx, s, (chat_ev_t)kind, prefix, chan, arg, text);
  if (kind == EV_MODE)
    apply_mode(s, entry, arg);
  else if (kind == EV_KICK && session_same_name(arg, s->nick))
    session_drop_chan(ctx, s, entry);
}

void session_show_own_event(tr_ctx_t *ctx, session_t *s, const msgpack_object *ev) {
  char prefix[IRC_PREFIX_MAX + 1], chan[IRC_CHAN_MAX + 1], arg[IRC_LINE_MAX + 1],
      text[IRC_LINE_MAX + 1];
  if (ev->type != MSGPACK_OBJECT_ARRAY || ev->via.array.size < 5)
    return;
  const msgpack_object *f = ev->via.array.ptr;
  uint64_t kind = chat_obj_uint(&f[0]);
  chat_obj_str(&f[1], prefix, sizeof prefix);
  chat_obj_str(&f[2], chan, sizeof chan);
  chat_obj_str(&f[3], arg, sizeof arg);
  chat_obj_str(&f[4], text, sizeof text);
  if (kind > EV_MODE)
    return;
  if (s->mode == MODE_PLAIN)
    chat_plain_event(ctx, s, (chat_ev_t)kind, prefix, arg, text);
  else
    chat_show_event(ctx, s, (chat_ev_t)kind, prefix, chan, arg, text);
  session_chan_t *c = session_chan(s, chan);
  if (!c)
    return;
  if (kind == EV_MODE)
    apply_mode(s, c, arg);
  else if (kind == EV_PART || (kind == EV_KICK && session_same_name(arg, s->nick)))
    session_drop_chan(ctx, s, c);
}
