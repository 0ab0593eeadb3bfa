/* A session's side of its rooms: joining through the rooms manager, the lines held while a
 * join is on its way, parting and quitting, and the rooms' answers (a join that landed or
 * failed, a room that died). The channel table lives in the session's state (session.h). */
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

int session_nchans(const session_t *s) {
  int n = 0;
  for (int i = 0; i < CHAT_CHANS_MAX; i++)
    n += s->chans[i].used;
  return n;
}

bool session_join(tr_ctx_t *ctx, session_t *s, const char *chan) {
  tr_pid_t rooms = tr_whereis(tr_ctx_system(ctx), CHAT_ROOMS_NAME);
  session_chan_t *c = NULL;
  for (int i = 0; i < CHAT_CHANS_MAX && !c; i++)
    if (!s->chans[i].used)
      c = &s->chans[i];
  if (!c || tr_pid_is_none(rooms))
    return false;
  memset(c, 0, sizeof *c);
  c->used = true;
  snprintf(c->name, sizeof c->name, "%s", chan);
  irc_lower(c->key, chan, sizeof c->key);
  c->nick_gen = s->nick_gen;
  tr_sendf(ctx, rooms, chat_atoms.join, "[usssss]", tr_self(ctx).id, s->nick, s->user, s->host,
           s->real, chan);
  return true;
}

bool session_say(tr_ctx_t *ctx, session_t *s, session_chan_t *c, chat_ev_t kind, const char *text) {
  if (!tr_pid_is_none(c->room)) {
    tr_sendf(ctx, c->room, chat_atoms.say, "[us]", (uint64_t)kind, text);
    return true;
  }
  size_t n = strnlen(text, IRC_LINE_MAX);
  held_t *h = s->nheld < SESSION_HELD ? malloc(sizeof *h + n + 1) : NULL;
  if (!h)
    return false;
  h->next = NULL;
  h->kind = kind;
  memcpy(h->text, text, n);
  h->text[n] = '\0';
  if (c->held_tail)
    c->held_tail->next = h;
  else
    c->held = h;
  c->held_tail = h;
  s->nheld++;
  return true;
}

/* Free the lines held for c, first saying them in its room when `say`. */
static void release_held(tr_ctx_t *ctx, session_t *s, session_chan_t *c, bool say) {
  for (held_t *h = c->held, *next; h; h = next) {
    next = h->next;
    if (say)
      tr_sendf(ctx, c->room, chat_atoms.say, "[us]", (uint64_t)h->kind, h->text);
    free(h);
    s->nheld--;
  }
  c->held = c->held_tail = NULL;
}

static void drop_chan(tr_ctx_t *ctx, session_t *s, session_chan_t *c) {
  if (!tr_pid_is_none(c->room))
    tr_demonitor(ctx, c->mon);
  release_held(ctx, s, c, false);
  c->used = false;
}

void session_part(tr_ctx_t *ctx, session_t *s, session_chan_t *c, const char *reason) {
  if (tr_pid_is_none(c->room)) {
    c->leaving = true;
    return;
  }
  tr_sendf(ctx, c->room, chat_atoms.part, "s", reason);
  drop_chan(ctx, s, c);
}

/* Tell every room the session is in that it quits; rooms it is still joining learn it from
 * their monitor. */
void session_leave_all(tr_ctx_t *ctx, session_t *s, const char *reason) {
  s->seq++;
  for (int i = 0; i < CHAT_CHANS_MAX; i++) {
    session_chan_t *c = &s->chans[i];
    if (c->used && !tr_pid_is_none(c->room))
      tr_sendf(ctx, c->room, chat_atoms.quit, "[su]", reason, s->seq);
    if (c->used)
      drop_chan(ctx, s, c);
  }
  if (s->has_nick) {
    char name[TR_NAME_MAX + 1];
    chat_nick_name(name, s->nick);
    tr_unregister(tr_ctx_system(ctx), name);
    s->has_nick = false;
  }
}

/* A join landed: the channel entry gets its room; a part or nick change that happened while
 * the join was on its way is sent now. Returns false when the session is no longer there. */
static bool joined(tr_ctx_t *ctx, session_t *s, const char *chan, tr_pid_t room) {
  session_chan_t *c = session_chan(s, chan);
  if (!c) /* cannot happen while joins and entries pair up; leave rather than linger */
    tr_sendf(ctx, room, chat_atoms.part, "s", "");
  if (!c || !tr_pid_is_none(c->room))
    return false;
  c->room = room;
  snprintf(c->name, sizeof c->name, "%s", chan);
  if (tr_monitor(ctx, room, &c->mon) != 0)
    c->mon = 0;
  if (c->nick_gen != s->nick_gen)
    tr_sendf(ctx, room, chat_atoms.nick, "[su]", s->nick, (uint64_t)0);
  release_held(ctx, s, c, true);
  if (c->leaving) {
    session_part(ctx, s, c, "");
    return false;
  }
  return true;
}

void session_on_roominfo(tr_ctx_t *ctx, session_t *s, const tr_msg_t *m) {
  size_t len;
  const void *data = tr_msg_data(m, &len);
  msgpack_zone zone;
  msgpack_object o;
  char chan[IRC_CHAN_MAX + 1], topic[IRC_TOPIC_MAX + 1];
  msgpack_zone_init(&zone, 2048);
  if (data && tr_msgpack_parse(data, len, NULL, &zone, &o) == 0 && o.type == MSGPACK_OBJECT_ARRAY &&
      o.via.array.size == 4 && o.via.array.ptr[0].type == MSGPACK_OBJECT_POSITIVE_INTEGER &&
      o.via.array.ptr[0].via.u64 <= INFO_TOPIC && o.via.array.ptr[3].type == MSGPACK_OBJECT_ARRAY) {
    chat_info_t purpose = (chat_info_t)o.via.array.ptr[0].via.u64;
    chat_obj_str(&o.via.array.ptr[1], chan, sizeof chan);
    chat_obj_str(&o.via.array.ptr[2], topic, sizeof topic);
    if (purpose != INFO_JOIN || joined(ctx, s, chan, tr_msg_from(m))) {
      if (s->mode == MODE_PLAIN)
        chat_plain_roominfo(ctx, s, purpose, chan, topic, &o.via.array.ptr[3]);
      else
        chat_show_roominfo(ctx, s, purpose, chan, topic, &o.via.array.ptr[3]);
    }
  }
  msgpack_zone_destroy(&zone);
}

void session_on_joinfail(tr_ctx_t *ctx, session_t *s, const tr_msg_t *m) {
  const char *c;
  size_t cl;
  int64_t err;
  char chan[IRC_CHAN_MAX + 1];
  if (tr_msg_unpack(m, "[si]", &c, &cl, &err) != 0)
    return;
  chat_copy(chan, sizeof chan, c, cl);
  session_chan_t *entry = session_chan(s, chan);
  if (entry && tr_pid_is_none(entry->room))
    drop_chan(ctx, s, entry);
  if (s->mode == MODE_PLAIN)
    session_send(ctx, s, "error: cannot join %s: %s", chan, tr_strerror((int)err));
  else
    session_reply(ctx, s, "403", "%s :No such channel", chan);
}

/* A room the session is in died (a bug, or its manager restarting): the client leaves it;
 * a plain client, which has nowhere else to be, goes back to the lobby. */
void session_on_down(tr_ctx_t *ctx, session_t *s, const tr_msg_t *m) {
  tr_down_t d;
  if (tr_msg_down(m, &d) != 0)
    return;
  for (int i = 0; i < CHAT_CHANS_MAX; i++) {
    session_chan_t *c = &s->chans[i];
    if (!c->used || !tr_pid_eq(c->room, d.pid) || c->mon != d.ref)
      continue;
    char name[IRC_CHAN_MAX + 1];
    memcpy(name, c->name, sizeof name);
    drop_chan(ctx, s, c);
    if (s->mode == MODE_PLAIN) {
      session_send(ctx, s, "* %s was restarted; joining again", name);
      if (!session_join(ctx, s, name))
        session_send(ctx, s, "error: %s is not available right now; reconnect later", name);
    } else {
      session_send(ctx, s, ":%s PART %s :Channel closed", s->prefix, name);
    }
  }
}
