/* A room: one actor per channel. It holds the members (their sessions' pids and the names
 * shown for them), the topic, and fans every event out to the members with one send each;
 * it never waits for a session, so a slow client costs the room nothing (its own
 * connection's out_limit deals with it).
 *
 * Members are found by the sender of their messages (a session talks to its rooms
 * directly), except joins, which come through the rooms manager with the session's pid in
 * the payload. The room monitors each member, so a session that dies without a word still
 * leaves, with a QUIT for the others.
 *
 * Retiring: when the last member leaves, the room tells the manager how many joins it has
 * seen; the manager, which counts the joins it forwarded, closes the room only when the two
 * agree, so a join on its way is never lost to a room that is going away. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chat.h"
#include "irc.h"

/* An event's packed size: its strings are cut to the IRC line limit first. */
#define EVENT_BUF (4 * IRC_LINE_MAX)

typedef struct {
  tr_pid_t pid;
  uint64_t mon;
  char nick[IRC_NICK_MAX + 1];
  char user[IRC_USER_MAX + 1];
  char host[IRC_HOST_MAX + 1];
  char real[IRC_REAL_MAX + 1];
} member_t;

typedef struct {
  char name[IRC_CHAN_MAX + 1]; /* as its first member spelled it */
  char key[IRC_CHAN_MAX + 1];  /* lower-cased: the registry name and the manager's key */
  char topic[IRC_TOPIC_MAX + 1];
  member_t *members; /* in join order, so NAMES lists them that way */
  size_t n, cap;
  uint64_t joins; /* joins seen, for the retiring handshake */
} room_t;

static member_t *find(room_t *r, tr_pid_t pid) {
  for (size_t i = 0; i < r->n; i++)
    if (tr_pid_eq(r->members[i].pid, pid))
      return &r->members[i];
  return NULL;
}

static void prefix_of(const member_t *mb, char out[IRC_PREFIX_MAX + 1]) {
  snprintf(out, IRC_PREFIX_MAX + 1, "%s!%s@%s", mb->nick, mb->user, mb->host);
}

/* Send one event to every member but `except` (TR_PID_NONE: to all). */
static void broadcast(tr_ctx_t *ctx, room_t *r, chat_ev_t kind, const member_t *from,
                      const char *text, uint64_t seq, tr_pid_t except) {
  char prefix[IRC_PREFIX_MAX + 1], cut[IRC_LINE_MAX + 1], buf[EVENT_BUF];
  size_t len;
  prefix_of(from, prefix);
  chat_copy(cut, sizeof cut, text, strlen(text));
  if (tr_pack_into(buf, sizeof buf, &len, "[usssuu]", (uint64_t)kind, prefix, r->name, cut,
                   from->pid.id, seq) != 0)
    return;
  for (size_t i = 0; i < r->n; i++)
    if (!tr_pid_eq(r->members[i].pid, except))
      tr_send(ctx, r->members[i].pid, chat_atoms.event, buf, len);
}

/* Tell the manager what LIST shows for this room, and when it is empty, that it could go. */
static void report(tr_ctx_t *ctx, room_t *r) {
  tr_pid_t rooms = tr_whereis(tr_ctx_system(ctx), CHAT_ROOMS_NAME);
  tr_sendf(ctx, rooms, chat_atoms.status, "[sus]", r->key, (uint64_t)r->n, r->topic);
  if (r->n == 0)
    tr_sendf(ctx, rooms, chat_atoms.idle, "[su]", r->key, r->joins);
}

static void remove_member(tr_ctx_t *ctx, room_t *r, member_t *mb) {
  tr_demonitor(ctx, mb->mon);
  size_t i = (size_t)(mb - r->members);
  memmove(&r->members[i], &r->members[i + 1], (r->n - i - 1) * sizeof *mb);
  r->n--;
  report(ctx, r);
}

/* [purpose, #chan, topic, [[nick, user, host, real]...]] to `to`. */
static void send_info(tr_ctx_t *ctx, const room_t *r, tr_pid_t to, chat_info_t purpose) {
  msgpack_sbuffer sb;
  msgpack_packer pk;
  msgpack_sbuffer_init(&sb);
  msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
  int rc = msgpack_pack_array(&pk, 4) | msgpack_pack_uint32(&pk, (uint32_t)purpose);
  rc |= chat_pack_str(&pk, r->name) | chat_pack_str(&pk, r->topic);
  rc |= msgpack_pack_array(&pk, purpose == INFO_TOPIC ? 0 : r->n);
  for (size_t i = 0; purpose != INFO_TOPIC && i < r->n; i++) {
    const member_t *mb = &r->members[i];
    rc |= msgpack_pack_array(&pk, 4) | chat_pack_str(&pk, mb->nick) | chat_pack_str(&pk, mb->user) |
          chat_pack_str(&pk, mb->host) | chat_pack_str(&pk, mb->real);
  }
  if (rc == 0)
    tr_send(ctx, to, chat_atoms.roominfo, sb.data, sb.size);
  msgpack_sbuffer_destroy(&sb);
}

static int on_join(tr_ctx_t *ctx, room_t *r, const tr_msg_t *m) {
  uint64_t pid;
  const char *nick, *user, *host, *real, *chan;
  size_t nl, ul, hl, rl, cl;
  if (tr_msg_unpack(m, "[usssss]", &pid, &nick, &nl, &user, &ul, &host, &hl, &real, &rl, &chan,
                    &cl) != 0)
    return 0;
  r->joins++;
  member_t *mb = find(r, (tr_pid_t){pid});
  if (!mb) {
    if (r->n == r->cap) {
      size_t cap = r->cap ? 2 * r->cap : 8;
      member_t *grown = realloc(r->members, cap * sizeof *grown);
      if (!grown)
        return TR_ENOMEM;
      r->members = grown;
      r->cap = cap;
    }
    mb = &r->members[r->n++];
    memset(mb, 0, sizeof *mb);
    mb->pid = (tr_pid_t){pid};
    chat_copy(mb->nick, sizeof mb->nick, nick, nl);
    chat_copy(mb->user, sizeof mb->user, user, ul);
    chat_copy(mb->host, sizeof mb->host, host, hl);
    chat_copy(mb->real, sizeof mb->real, real, rl);
    /* A session that is gone already gets its DOWN (noproc) at once and leaves again. */
    if (tr_monitor(ctx, mb->pid, &mb->mon) != 0)
      mb->mon = 0;
    broadcast(ctx, r, EV_JOIN, mb, "", 0, mb->pid);
    report(ctx, r);
  }
  send_info(ctx, r, mb->pid, INFO_JOIN);
  return 0;
}

static void on_part(tr_ctx_t *ctx, room_t *r, const tr_msg_t *m) {
  const char *reason;
  size_t len;
  char text[IRC_LINE_MAX + 1];
  member_t *mb = find(r, tr_msg_from(m));
  if (!mb || tr_msg_unpack(m, "s", &reason, &len) != 0)
    return;
  chat_copy(text, sizeof text, reason, len);
  broadcast(ctx, r, EV_PART, mb, text, 0, TR_PID_NONE); /* the parting member sees it too */
  remove_member(ctx, r, mb);
}

static void on_say(tr_ctx_t *ctx, room_t *r, const tr_msg_t *m) {
  uint64_t kind;
  const char *text;
  size_t len;
  char cut[IRC_LINE_MAX + 1];
  member_t *mb = find(r, tr_msg_from(m));
  if (!mb || tr_msg_unpack(m, "[us]", &kind, &text, &len) != 0 || kind > EV_NOTICE)
    return;
  chat_copy(cut, sizeof cut, text, len);
  broadcast(ctx, r, (chat_ev_t)kind, mb, cut, 0, mb->pid); /* IRC does not echo to the sender */
}

static void on_quit(tr_ctx_t *ctx, room_t *r, const tr_msg_t *m) {
  const char *reason;
  size_t len;
  uint64_t seq;
  char text[IRC_LINE_MAX + 1];
  member_t *mb = find(r, tr_msg_from(m));
  if (!mb || tr_msg_unpack(m, "[su]", &reason, &len, &seq) != 0)
    return;
  chat_copy(text, sizeof text, reason, len);
  broadcast(ctx, r, EV_QUIT, mb, text, seq, mb->pid);
  remove_member(ctx, r, mb);
}

static void on_nick(tr_ctx_t *ctx, room_t *r, const tr_msg_t *m) {
  const char *nick;
  size_t len;
  uint64_t seq;
  char text[IRC_NICK_MAX + 1];
  member_t *mb = find(r, tr_msg_from(m));
  if (!mb || tr_msg_unpack(m, "[su]", &nick, &len, &seq) != 0)
    return;
  chat_copy(text, sizeof text, nick, len);
  broadcast(ctx, r, EV_NICK, mb, text, seq, mb->pid); /* the session told its own client */
  memcpy(mb->nick, text, sizeof text);
}

static void on_topic(tr_ctx_t *ctx, room_t *r, const tr_msg_t *m) {
  const char *topic;
  size_t len;
  member_t *mb = find(r, tr_msg_from(m));
  if (!mb || tr_msg_unpack(m, "s", &topic, &len) != 0)
    return;
  chat_copy(r->topic, sizeof r->topic, topic, len);
  broadcast(ctx, r, EV_TOPIC, mb, r->topic, 0, TR_PID_NONE);
  report(ctx, r);
}

static void on_down(tr_ctx_t *ctx, room_t *r, const tr_msg_t *m) {
  tr_down_t d;
  if (tr_msg_down(m, &d) != 0)
    return;
  member_t *mb = find(r, d.pid);
  if (!mb || mb->mon != d.ref)
    return;
  broadcast(ctx, r, EV_QUIT, mb, "Connection lost", 0, mb->pid);
  remove_member(ctx, r, mb);
}

static int room_init(tr_ctx_t *ctx, void *state, const tr_msg_t *init) {
  (void)ctx;
  room_t *r = state;
  const char *name, *key;
  size_t nl, kl;
  if (tr_msg_unpack(init, "[ss]", &name, &nl, &key, &kl) != 0)
    return TR_EINVAL;
  chat_copy(r->name, sizeof r->name, name, nl);
  chat_copy(r->key, sizeof r->key, key, kl);
  return 0;
}

static int room_receive(tr_ctx_t *ctx, void *state, const tr_msg_t *m) {
  room_t *r = state;
  tr_atom_t tag = tr_msg_tag(m);
  uint64_t purpose;
  if (tag == chat_atoms.say)
    on_say(ctx, r, m);
  else if (tag == chat_atoms.join)
    return on_join(ctx, r, m);
  else if (tag == chat_atoms.part)
    on_part(ctx, r, m);
  else if (tag == chat_atoms.quit)
    on_quit(ctx, r, m);
  else if (tag == chat_atoms.nick)
    on_nick(ctx, r, m);
  else if (tag == chat_atoms.topic)
    on_topic(ctx, r, m);
  else if (tag == chat_atoms.info && tr_msg_unpack(m, "u", &purpose) == 0 && purpose <= INFO_TOPIC)
    send_info(ctx, r, tr_msg_from(m), (chat_info_t)purpose);
  else if (tag == TR_ATOM_DOWN)
    on_down(ctx, r, m);
  else if (tag == chat_atoms.close && r->n == 0)
    tr_stop(ctx);
  return 0;
}

static void room_terminate(tr_ctx_t *ctx, void *state, const tr_reason_t *reason) {
  (void)ctx;
  (void)reason;
  room_t *r = state;
  free(r->members);
  r->members = NULL;
}

/* {name, topic, members: [nick...]} for the console. */
static int room_inspect(const void *state, msgpack_packer *pk) {
  const room_t *r = state;
  int rc = msgpack_pack_map(pk, 3);
  rc |= chat_pack_str(pk, "name") | chat_pack_str(pk, r->name);
  rc |= chat_pack_str(pk, "topic") | chat_pack_str(pk, r->topic);
  rc |= chat_pack_str(pk, "members") | msgpack_pack_array(pk, r->n);
  for (size_t i = 0; i < r->n; i++)
    rc |= chat_pack_str(pk, r->members[i].nick);
  return rc ? TR_ENOMEM : 0;
}

const tr_behaviour_t chat_room_behaviour = {
    .name = "chat.room",
    .state_size = sizeof(room_t),
    .init = room_init,
    .receive = room_receive,
    .terminate = room_terminate,
    .inspect = room_inspect,
};
