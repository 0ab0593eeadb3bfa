/* A room: one actor per channel. It holds the members (their sessions' pids, the names shown
 * for them, who is an operator, who is away), the topic and the channel's modes, and fans
 * every event out to the members with one send each; it never waits for a session, so a
 * slow client costs the room nothing (its own connection's out_limit deals with it).
 *
 * Members are found by the sender of their messages. Every request (say, nick, part, topic,
 * kick, mode, info, and the join the manager forwards) is answered to the member who asked,
 * with tr_reply, after the event it caused went to the others as chat.event: the asker's
 * own client sees the event in the order of its commands, and the asker runs its next
 * command only once everyone has been sent this one. That also paces a member who floods:
 * one line of its in the room's mailbox at a time. The room
 * monitors each member, so a session that dies without a word still leaves, with a QUIT
 * for the others.
 *
 * Operators: whoever joins the room while it is empty is its operator (shown "@nick"), as
 * on ngIRCd; operators may KICK, set +o/-o, +t/-t and +n/-n. When the last operator leaves,
 * the member who has been in longest becomes one (remove_member). +t (topic settable by
 * operators only) and +n (no messages from outside; a session only says things in rooms it
 * is in, so this one always holds) are set on a new room, as most IRC servers do.
 *
 * Retiring: when the last member leaves, the room drops its registered name (so the channel
 * is gone for the next command of whoever left, as on one IRC server) and tells the manager
 * how many joins it has seen; the manager, which counts the joins it forwarded, closes the
 * room only when the two agree, so a join on its way is never lost to a room that is going
 * away (a room it revives takes its name again). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chat.h"
#include "irc.h"

/* Numerics one answer carries at most (a MODE with several bad letters). */
#define ANSWER_MAX 4

typedef struct {
  tr_pid_t pid;
  uint64_t mon;
  bool op, away;
  char nick[IRC_NICK_MAX + 1];
  char user[IRC_USER_MAX + 1];
  char host[IRC_HOST_MAX + 1];
  char real[IRC_REAL_MAX + 1];
} member_t;

typedef struct {
  char name[IRC_CHAN_MAX + 1]; /* as its first member spelled it */
  char key[IRC_CHAN_MAX + 1];  /* lower-cased: the registry name and the manager's key */
  char topic[IRC_TOPIC_MAX + 1];
  char topic_by[IRC_NICK_MAX + 1]; /* who set it, and when (333) */
  uint64_t topic_at;
  bool topic_lock, no_external; /* +t, +n */
  uint64_t created;             /* unix time, for 329 */
  member_t *members;            /* in join order, so NAMES lists them that way */
  size_t n, cap;
  uint64_t joins; /* joins seen, for the retiring handshake */
} room_t;

/* What a request's answer says: numerics for the asker, and the event it caused. */
typedef struct {
  int n;
  char numeric[ANSWER_MAX][4];
  char text[ANSWER_MAX][IRC_LINE_MAX + 1];
} numerics_t;

static member_t *find(room_t *r, tr_pid_t pid) {
  for (size_t i = 0; i < r->n; i++)
    if (tr_pid_eq(r->members[i].pid, pid))
      return &r->members[i];
  return NULL;
}

static member_t *find_nick(room_t *r, const char *nick) {
  char want[IRC_NICK_MAX + 1], have[IRC_NICK_MAX + 1];
  irc_lower(want, nick, sizeof want);
  for (size_t i = 0; i < r->n; i++) {
    irc_lower(have, r->members[i].nick, sizeof have);
    if (strcmp(want, have) == 0)
      return &r->members[i];
  }
  return NULL;
}

static void modes_of(const room_t *r, char out[8]) {
  snprintf(out, 8, "+%s%s", r->no_external ? "n" : "", r->topic_lock ? "t" : "");
}

static void add_numeric(numerics_t *a, const char *numeric, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void add_numeric(numerics_t *a, const char *numeric, const char *fmt, ...) {
  if (a->n == ANSWER_MAX)
    return;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(a->text[a->n], sizeof a->text[a->n], fmt, ap);
  va_end(ap);
  snprintf(a->numeric[a->n], sizeof a->numeric[a->n], "%s", numeric);
  a->n++;
}

/* Pack one event: [kind, prefix, #chan, arg, text, origin, seq]; from NULL: the server's. */
static int pack_event(msgpack_packer *pk, const room_t *r, chat_ev_t kind, const member_t *from,
                      const char *arg, const char *text, uint64_t seq) {
  char prefix[IRC_PREFIX_MAX + 1] = IRC_SERVER, cut[IRC_LINE_MAX + 1];
  if (from)
    snprintf(prefix, sizeof prefix, "%s!%s@%s", from->nick, from->user, from->host);
  chat_copy(cut, sizeof cut, text, strlen(text));
  return msgpack_pack_array(pk, 7) | msgpack_pack_uint32(pk, (uint32_t)kind) |
         chat_pack_str(pk, prefix) | chat_pack_str(pk, r->name) | chat_pack_str(pk, arg) |
         chat_pack_str(pk, cut) | msgpack_pack_uint64(pk, from ? from->pid.id : 0) |
         msgpack_pack_uint64(pk, seq);
}

/* Send one event to every member but `except` (TR_PID_NONE: to all). */
static void broadcast(tr_ctx_t *ctx, room_t *r, chat_ev_t kind, const member_t *from,
                      const char *arg, const char *text, uint64_t seq, tr_pid_t except) {
  msgpack_sbuffer sb;
  msgpack_packer pk;
  msgpack_sbuffer_init(&sb);
  msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
  if (pack_event(&pk, r, kind, from, arg, text, seq) == 0)
    for (size_t i = 0; i < r->n; i++)
      if (!tr_pid_eq(r->members[i].pid, except))
        tr_send(ctx, r->members[i].pid, chat_atoms.event, sb.data, sb.size);
  msgpack_sbuffer_destroy(&sb);
}

/* Answer a request: the numerics, then the event the asker sees (kind < 0: none). */
static void answer(tr_ctx_t *ctx, room_t *r, const tr_msg_t *req, const numerics_t *a, int kind,
                   const member_t *from, const char *arg, const char *text) {
  if (tr_msg_ref(req) == 0)
    return; /* sent, not asked: nobody waits */
  msgpack_sbuffer sb;
  msgpack_packer pk;
  msgpack_sbuffer_init(&sb);
  msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
  int rc = msgpack_pack_array(&pk, 2) | msgpack_pack_array(&pk, (size_t)a->n);
  for (int i = 0; i < a->n; i++)
    rc |= msgpack_pack_array(&pk, 2) | chat_pack_str(&pk, a->numeric[i]) |
          chat_pack_str(&pk, a->text[i]);
  rc |= kind < 0 ? msgpack_pack_nil(&pk) : pack_event(&pk, r, (chat_ev_t)kind, from, arg, text, 0);
  if (rc == 0)
    tr_reply(ctx, req, chat_atoms.answer, sb.data, sb.size);
  msgpack_sbuffer_destroy(&sb);
}

/* An answer that is one numeric. */
static void answer_numeric(tr_ctx_t *ctx, room_t *r, const tr_msg_t *req, const char *numeric,
                           const char *what) {
  numerics_t a = {0};
  add_numeric(&a, numeric, "%s %s", r->name, what);
  answer(ctx, r, req, &a, -1, NULL, "", "");
}

/* Tell the manager what LIST shows for this room, and when it is empty, that it could go. */
static void report(tr_ctx_t *ctx, room_t *r) {
  tr_pid_t rooms = tr_whereis(tr_ctx_system(ctx), CHAT_ROOMS_NAME);
  tr_sendf(ctx, rooms, chat_atoms.status, "[sus]", r->key, (uint64_t)r->n, r->topic);
  if (r->n == 0)
    tr_sendf(ctx, rooms, chat_atoms.idle, "[su]", r->key, r->joins);
}

/* A room is registered under its name while it has members: a command about its channel
 * from a session that is not in it finds no channel once the room is empty (chat.c). */
static void show(tr_ctx_t *ctx, room_t *r, bool on) {
  char name[TR_NAME_MAX + 1];
  tr_system_t *sys = tr_ctx_system(ctx);
  chat_room_name(name, r->key);
  bool mine = tr_pid_eq(tr_whereis(sys, name), tr_self(ctx));
  if (on && !mine)
    tr_register(sys, name, tr_self(ctx)); /* fails only when the name went to another room */
  else if (!on && mine)
    tr_unregister(sys, name);
}

/* Take a member out. When the last operator goes and others stay, the one who has been in
 * longest becomes operator (announced by the server as MODE +o): with no services to hand
 * out operator status, a +t channel would otherwise keep its topic for ever. */
static void remove_member(tr_ctx_t *ctx, room_t *r, member_t *mb) {
  tr_demonitor(ctx, mb->mon);
  size_t i = (size_t)(mb - r->members);
  memmove(&r->members[i], &r->members[i + 1], (r->n - i - 1) * sizeof *mb);
  r->n--;
  if (r->n == 0)
    show(ctx, r, false);
  bool ops = false;
  for (size_t k = 0; k < r->n && !ops; k++)
    ops = r->members[k].op;
  if (r->n > 0 && !ops) {
    char change[IRC_NICK_MAX + 4];
    r->members[0].op = true;
    snprintf(change, sizeof change, "+o %s", r->members[0].nick);
    broadcast(ctx, r, EV_MODE, NULL, change, "", 0, TR_PID_NONE);
  }
  report(ctx, r);
}

/* [purpose, #chan, topic, modes, created, [[nick, user, host, real, op, away]...],
 *  topic set by, topic set at] */
static void send_info(tr_ctx_t *ctx, const room_t *r, const tr_msg_t *req, chat_info_t purpose) {
  msgpack_sbuffer sb;
  msgpack_packer pk;
  char modes[8];
  modes_of(r, modes);
  msgpack_sbuffer_init(&sb);
  msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
  bool list = purpose == INFO_JOIN || purpose == INFO_NAMES || purpose == INFO_WHO;
  int rc = msgpack_pack_array(&pk, 8) | msgpack_pack_uint32(&pk, (uint32_t)purpose);
  rc |= chat_pack_str(&pk, r->name) | chat_pack_str(&pk, r->topic) | chat_pack_str(&pk, modes);
  rc |= msgpack_pack_uint64(&pk, r->created) | msgpack_pack_array(&pk, list ? r->n : 0);
  for (size_t i = 0; list && i < r->n; i++) {
    const member_t *mb = &r->members[i];
    rc |= msgpack_pack_array(&pk, 6) | chat_pack_str(&pk, mb->nick) | chat_pack_str(&pk, mb->user) |
          chat_pack_str(&pk, mb->host) | chat_pack_str(&pk, mb->real);
    rc |= (mb->op ? msgpack_pack_true(&pk) : msgpack_pack_false(&pk)) |
          (mb->away ? msgpack_pack_true(&pk) : msgpack_pack_false(&pk));
  }
  rc |= chat_pack_str(&pk, r->topic_by) | msgpack_pack_uint64(&pk, r->topic_at);
  if (rc == 0)
    tr_reply(ctx, req, chat_atoms.roominfo, sb.data, sb.size);
  msgpack_sbuffer_destroy(&sb);
}

/* ---- requests ---- */

/* A join the manager forwarded: [nick, user, host, real, #chan], from the session. */
static int on_join(tr_ctx_t *ctx, room_t *r, const tr_msg_t *m) {
  const char *nick, *user, *host, *real, *chan;
  size_t nl, ul, hl, rl, cl;
  if (tr_msg_unpack(m, "[sssss]", &nick, &nl, &user, &ul, &host, &hl, &real, &rl, &chan, &cl) != 0)
    return 0;
  r->joins++;
  member_t *mb = find(r, tr_msg_from(m));
  if (!mb) {
    if (r->n == r->cap) {
      size_t cap = r->cap ? 2 * r->cap : 8;
      member_t *grown = realloc(r->members, cap * sizeof *grown);
      if (!grown)
        return TR_ENOMEM;
      r->members = grown;
      r->cap = cap;
    }
    if (r->n == 0)
      show(ctx, r, true); /* an emptied room that a join on its way revives */
    mb = &r->members[r->n++];
    memset(mb, 0, sizeof *mb);
    mb->pid = tr_msg_from(m);
    mb->op = r->n == 1;
    chat_copy(mb->nick, sizeof mb->nick, nick, nl);
    chat_copy(mb->user, sizeof mb->user, user, ul);
    chat_copy(mb->host, sizeof mb->host, host, hl);
    chat_copy(mb->real, sizeof mb->real, real, rl);
    /* A session that is gone already gets its DOWN (noproc) at once and leaves again. */
    if (tr_monitor(ctx, mb->pid, &mb->mon) != 0)
      mb->mon = 0;
    broadcast(ctx, r, EV_JOIN, mb, "", "", 0, mb->pid);
    report(ctx, r);
  }
  send_info(ctx, r, m, INFO_JOIN);
  return 0;
}

static void on_part(tr_ctx_t *ctx, room_t *r, const tr_msg_t *m) {
  const char *reason;
  size_t len;
  char text[IRC_LINE_MAX + 1];
  member_t *mb = find(r, tr_msg_from(m));
  if (!mb || tr_msg_unpack(m, "s", &reason, &len) != 0) {
    answer_numeric(ctx, r, m, "442", ":You're not on that channel");
    return;
  }
  chat_copy(text, sizeof text, reason, len);
  broadcast(ctx, r, EV_PART, mb, "", text, 0, mb->pid);
  member_t me = *mb;
  remove_member(ctx, r, mb);
  answer(ctx, r, m, &(numerics_t){0}, EV_PART, &me, "", text);
}

static void on_topic(tr_ctx_t *ctx, room_t *r, const tr_msg_t *m) {
  const char *topic;
  size_t len;
  member_t *mb = find(r, tr_msg_from(m));
  if (!mb || tr_msg_unpack(m, "s", &topic, &len) != 0) {
    answer_numeric(ctx, r, m, "442", ":You're not on that channel");
  } else if (r->topic_lock && !mb->op) {
    answer_numeric(ctx, r, m, "482", ":You're not channel operator");
  } else {
    chat_copy(r->topic, sizeof r->topic, topic, len);
    snprintf(r->topic_by, sizeof r->topic_by, "%s", mb->nick);
    r->topic_at = chat_unix_now();
    broadcast(ctx, r, EV_TOPIC, mb, "", r->topic, 0, mb->pid);
    answer(ctx, r, m, &(numerics_t){0}, EV_TOPIC, mb, "", r->topic);
    report(ctx, r);
  }
}

/* [nick, reason]: an operator removes a member. */
static void on_kick(tr_ctx_t *ctx, room_t *r, const tr_msg_t *m) {
  const char *n, *t;
  size_t nl, tl;
  char nick[IRC_NICK_MAX + 1], reason[IRC_LINE_MAX + 1];
  member_t *mb = find(r, tr_msg_from(m)), *target;
  if (tr_msg_unpack(m, "[ss]", &n, &nl, &t, &tl) != 0)
    return;
  chat_copy(nick, sizeof nick, n, nl);
  chat_copy(reason, sizeof reason, t, tl);
  if (!mb) {
    answer_numeric(ctx, r, m, "442", ":You're not on that channel");
  } else if (!mb->op) {
    answer_numeric(ctx, r, m, "482", ":You're not channel operator");
  } else if (!(target = find_nick(r, nick))) {
    numerics_t a = {0};
    add_numeric(&a, "441", "%s %s :They aren't on that channel", nick, r->name);
    answer(ctx, r, m, &a, -1, NULL, "", "");
  } else {
    snprintf(nick, sizeof nick, "%s", target->nick);
    broadcast(ctx, r, EV_KICK, mb, nick, reason, 0, mb->pid); /* the kicked one sees it too */
    answer(ctx, r, m, &(numerics_t){0}, EV_KICK, mb, nick, reason);
    remove_member(ctx, r, target);
  }
}

/* Apply one letter of a mode change; true when it changed something (then an +o/-o has
 * added its nick to `args`). A letter that cannot be applied adds a numeric instead. */
static bool apply_mode(room_t *r, bool on, char letter, const char *arg, char *args,
                       numerics_t *a) {
  if (letter == 't' || letter == 'n') {
    bool *flag = letter == 't' ? &r->topic_lock : &r->no_external;
    bool changed = *flag != on;
    *flag = on;
    return changed;
  }
  if (letter != 'o') {
    add_numeric(a, "472", "%c :is unknown mode char to me for %s", letter, r->name);
    return false;
  }
  if (!arg)
    return false; /* +o without a nick: nothing, as ngIRCd */
  member_t *target = find_nick(r, arg);
  if (!target) {
    add_numeric(a, "441", "%s %s :They aren't on that channel", arg, r->name);
    return false;
  }
  if (target->op == on)
    return false;
  target->op = on;
  size_t used = strlen(args);
  snprintf(args + used, IRC_LINE_MAX + 1 - used, " %s", target->nick);
  return true;
}

/* [modes, args]: a query of the list modes (b, e, I), or a change by an operator. */
static void on_mode(tr_ctx_t *ctx, room_t *r, const tr_msg_t *m) {
  const char *ms, *as;
  size_t ml, al;
  char modes[64], argv[IRC_LINE_MAX + 1];
  if (tr_msg_unpack(m, "[ss]", &ms, &ml, &as, &al) != 0)
    return;
  chat_copy(modes, sizeof modes, ms, ml);
  chat_copy(argv, sizeof argv, as, al);
  const char *list = modes[0] == '+' ? modes + 1 : modes;
  if (strcmp(list, "b") == 0 || strcmp(list, "e") == 0 || strcmp(list, "I") == 0) {
    static const char *const ends[][2] = {{"368", ":End of channel ban list"},
                                          {"349", ":End of channel exception list"},
                                          {"347", ":End of channel invite list"}};
    int k = list[0] == 'b' ? 0 : list[0] == 'e' ? 1 : 2;
    answer_numeric(ctx, r, m, ends[k][0], ends[k][1]);
    return;
  }
  member_t *mb = find(r, tr_msg_from(m));
  if (!mb || !mb->op) {
    answer_numeric(ctx, r, m, "482", ":You're not channel operator");
    return;
  }
  numerics_t a = {0};
  char done[64] = "", args[IRC_LINE_MAX + 1] = "", change[sizeof done + sizeof args];
  size_t dlen = 0;
  char sign = '+', written = 0, *save = NULL, *arg = strtok_r(argv, " ", &save);
  for (const char *p = modes; *p && dlen + 3 < sizeof done; p++) {
    if (*p == '+' || *p == '-') {
      sign = *p;
      continue;
    }
    bool changed = apply_mode(r, sign == '+', *p, *p == 'o' ? arg : NULL, args, &a);
    if (*p == 'o')
      arg = strtok_r(NULL, " ", &save);
    if (!changed)
      continue;
    if (written != sign) /* a sign only where it changes: "+ot-n" */
      done[dlen++] = written = sign;
    done[dlen++] = *p;
    done[dlen] = '\0';
  }
  if (dlen == 0) {
    answer(ctx, r, m, &a, -1, NULL, "", "");
    return;
  }
  snprintf(change, sizeof change, "%s%s", done, args);
  broadcast(ctx, r, EV_MODE, mb, change, "", 0, mb->pid);
  answer(ctx, r, m, &a, EV_MODE, mb, change, "");
}

/* ---- what members tell the room ---- */

static void on_say(tr_ctx_t *ctx, room_t *r, const tr_msg_t *m) {
  uint64_t kind;
  const char *text;
  size_t len;
  char cut[IRC_LINE_MAX + 1];
  member_t *mb = find(r, tr_msg_from(m));
  if (!mb || tr_msg_unpack(m, "[us]", &kind, &text, &len) != 0 || kind > EV_NOTICE) {
    answer_numeric(ctx, r, m, "404", ":Cannot send to channel");
    return;
  }
  chat_copy(cut, sizeof cut, text, len);
  broadcast(ctx, r, (chat_ev_t)kind, mb, "", cut, 0, mb->pid); /* IRC does not echo to the sender */
  answer(ctx, r, m, &(numerics_t){0}, -1, NULL, "", "");
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
  broadcast(ctx, r, EV_QUIT, mb, "", text, seq, mb->pid);
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
  broadcast(ctx, r, EV_NICK, mb, "", text, seq, mb->pid); /* the session told its own client */
  memcpy(mb->nick, text, sizeof text);
  answer(ctx, r, m, &(numerics_t){0}, -1, NULL, "", "");
}

static void on_away(room_t *r, const tr_msg_t *m) {
  bool away;
  member_t *mb = find(r, tr_msg_from(m));
  if (mb && tr_msg_unpack(m, "b", &away) == 0)
    mb->away = away;
}

static void on_down(tr_ctx_t *ctx, room_t *r, const tr_msg_t *m) {
  tr_down_t d;
  if (tr_msg_down(m, &d) != 0)
    return;
  member_t *mb = find(r, d.pid);
  if (!mb || mb->mon != d.ref)
    return;
  /* A member whose node went away: the IRC convention for a netsplit. */
  bool split = d.reason.kind == TR_REASON_NOCONNECTION;
  broadcast(ctx, r, EV_QUIT, mb, "", split ? "*.net *.split" : "Connection lost", 0, mb->pid);
  remove_member(ctx, r, mb);
}

/* ---- the behaviour ---- */

static int room_init(tr_ctx_t *ctx, void *state, const tr_msg_t *init) {
  room_t *r = state;
  const char *name, *key;
  size_t nl, kl;
  if (tr_msg_unpack(init, "[ss]", &name, &nl, &key, &kl) != 0)
    return TR_EINVAL;
  chat_copy(r->name, sizeof r->name, name, nl);
  chat_copy(r->key, sizeof r->key, key, kl);
  r->topic_lock = r->no_external = true;
  r->created = chat_unix_now();
  /* The other nodes' managers and sessions find it here. */
  return tr_group_join(ctx, chat_atoms.scope_room, r->key, strlen(r->key));
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
  else if (tag == chat_atoms.kick)
    on_kick(ctx, r, m);
  else if (tag == chat_atoms.mode)
    on_mode(ctx, r, m);
  else if (tag == chat_atoms.away)
    on_away(r, m);
  else if (tag == chat_atoms.info && tr_msg_unpack(m, "u", &purpose) == 0 && purpose <= INFO_MODE)
    send_info(ctx, r, m, (chat_info_t)purpose);
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

/* {name, topic, modes, members: [nick...]} for the console ("@nick" for operators). */
static int room_inspect(const void *state, msgpack_packer *pk) {
  const room_t *r = state;
  char modes[8], nick[IRC_NICK_MAX + 2];
  modes_of(r, modes);
  int rc = msgpack_pack_map(pk, 4);
  rc |= chat_pack_str(pk, "name") | chat_pack_str(pk, r->name);
  rc |= chat_pack_str(pk, "topic") | chat_pack_str(pk, r->topic);
  rc |= chat_pack_str(pk, "modes") | chat_pack_str(pk, modes);
  rc |= chat_pack_str(pk, "members") | msgpack_pack_array(pk, r->n);
  for (size_t i = 0; i < r->n; i++) {
    snprintf(nick, sizeof nick, "%s%s", r->members[i].op ? "@" : "", r->members[i].nick);
    rc |= chat_pack_str(pk, nick);
  }
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
