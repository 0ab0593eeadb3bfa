/* A session: the actor that owns one client connection (spawned by the listener, which
 * hands it the socket as TR_ATOM_TCP_OPEN). It reads the client's lines and runs them in
 * order (input.c), and turns what rooms and other sessions send it into lines for its
 * client, in the client's own dialect.
 *
 * Output: every line a turn produces is gathered in s->out and written in one piece by the
 * behaviour's flush callback at the end of the turn, so a burst of room traffic or the
 * replies to a pipelined write go out in a few writes instead of one per line.
 *
 * Idle clients: an interval timer checks the time of the last input; past idle_ms the
 * client is sent a PING, and if nothing comes back within another idle_ms it is dropped.
 * (A receive timeout would not do: room traffic keeps a lurker's mailbox busy.) */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "session.h"

/* Silence before a PING when the listener passed no interval: a minute, the order of what
 * IRC servers use; a client that answers is never dropped, however long it lurks. */
#define DEFAULT_IDLE_MS 60000u

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* ---- output ---- */

static int flush(tr_ctx_t *ctx, void *state) {
  session_t *s = state;
  if (s->open && s->out_len)
    tr_conn_write(ctx, s->conn, s->out, s->out_len); /* a closed one reports TCP_CLOSED */
  s->out_len = 0;
  return 0;
}

static void write_line(tr_ctx_t *ctx, session_t *s, const char *line, size_t len) {
  if (!s->open)
    return;
  if (s->out_len + len > sizeof s->out)
    flush(ctx, s);
  memcpy(s->out + s->out_len, line, len);
  s->out_len += len;
}

void session_send(tr_ctx_t *ctx, session_t *s, const char *fmt, ...) {
  char body[IRC_IN_MAX], line[IRC_LINE_MAX + 3];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(body, sizeof body, fmt, ap);
  va_end(ap);
  write_line(ctx, s, line, irc_format(line, sizeof line, "%s", body));
}

void session_reply(tr_ctx_t *ctx, session_t *s, const char *numeric, const char *fmt, ...) {
  char body[IRC_IN_MAX];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(body, sizeof body, fmt, ap);
  va_end(ap);
  session_send(ctx, s, ":" IRC_SERVER " %s %s %s", numeric, s->has_nick ? s->nick : "*", body);
}

/* ---- nick and leaving ---- */

void session_set_prefix(session_t *s) {
  snprintf(s->prefix, sizeof s->prefix, "%s!%s@%s", s->nick, s->user[0] ? s->user : "~", s->host);
}

tr_pid_t session_find_nick(tr_ctx_t *ctx, const char *nick) {
  char name[TR_NAME_MAX + 1];
  if (!irc_nick_valid(nick))
    return TR_PID_NONE;
  (void)name;
  char low[IRC_NICK_MAX + 1];
  irc_lower(low, nick, sizeof low);
  return chat_find_nick(ctx, low);
}

bool session_same_name(const char *a, const char *b) {
  char x[IRC_PREFIX_MAX + 1], y[IRC_PREFIX_MAX + 1];
  irc_lower(x, a, sizeof x);
  irc_lower(y, b, sizeof y);
  return strcmp(x, y) == 0;
}

bool session_set_nick(tr_ctx_t *ctx, session_t *s, const char *nick) {
  tr_system_t *sys = tr_ctx_system(ctx);
  char old[TR_NAME_MAX + 1], want[TR_NAME_MAX + 1];
  chat_nick_name(want, nick);
  if (strlen(nick) > IRC_NICK_MAX)
    return false;
  chat_nick_name(old, s->nick);
  /* Taken on another node of the cluster (its session is a member of the nick's group)? */
  char low_want[IRC_NICK_MAX + 1], low_old[IRC_NICK_MAX + 1];
  irc_lower(low_want, nick, sizeof low_want);
  irc_lower(low_old, s->nick, sizeof low_old);
  tr_pid_t holder = chat_find_nick(ctx, low_want);
  if (!tr_pid_is_none(holder) && !tr_pid_eq(holder, tr_self(ctx)))
    return false;
  /* An actor has one name: give up the old one first, and take it back if the new one is
   * taken (a case-only change keeps the same name). */
  if (s->has_nick && strcmp(old, want) != 0) {
    tr_unregister(sys, old);
    if (tr_register(sys, want, tr_self(ctx)) != 0) {
      s->has_nick = tr_register(sys, old, tr_self(ctx)) == 0;
      return false;
    }
  } else if (!s->has_nick && tr_register(sys, want, tr_self(ctx)) != 0) {
    return false;
  }
  /* The other nodes see the nick as this session's (it leaves the group when it exits). */
  if (s->has_nick && strcmp(low_old, low_want) != 0)
    tr_group_leave(ctx, chat_atoms.scope_nick, low_old, strlen(low_old));
  if (!s->has_nick || strcmp(low_old, low_want) != 0)
    tr_group_join(ctx, chat_atoms.scope_nick, low_want, strlen(low_want));
  if (s->welcomed && s->mode == MODE_IRC)
    session_send(ctx, s, ":%s NICK :%s", s->prefix, nick);
  s->has_nick = true;
  memmove(s->nick, nick, strlen(nick) + 1);
  session_set_prefix(s);
  s->seq++;
  /* Every room shows the change before anything the client does next: wait for them all. */
  unsigned char req[IRC_NICK_MAX + 16];
  size_t len;
  if (tr_pack_into(req, sizeof req, &len, "[su]", s->nick, s->seq) != 0)
    return true;
  session_wait_many(s, WAIT_ACKS);
  for (int i = 0; i < CHAT_CHANS_MAX; i++)
    if (s->chans[i].used && tr_request(ctx, s->chans[i].room, chat_atoms.nick, req, len,
                                       CHAT_ASK_MS, &s->wait.ref[s->wait.n]) == 0)
      s->wait.n++;
  if (s->wait.n == 0)
    s->wait.kind = WAIT_NONE;
  return true;
}

void session_quit(tr_ctx_t *ctx, session_t *s, const char *reason) {
  if (s->closing)
    return;
  session_leave_all(ctx, s, reason);
  if (s->mode == MODE_PLAIN)
    session_send(ctx, s, "* bye (%s)", reason);
  else
    session_send(ctx, s, "ERROR :Closing Link: %s (%s)", s->host, reason);
  s->closing = true;
  s->closing_ns = now_ns();
  flush(ctx, s);
  if (s->open)
    tr_conn_close(ctx, s->conn);
}

/* ---- messages ---- */

static void on_open(tr_ctx_t *ctx, session_t *s, const tr_msg_t *m) {
  char peer[TR_ADDR_MAX], local[TR_ADDR_MAX];
  if (tr_msg_tcp_open(m, &s->conn, peer, local) != 0)
    return;
  s->open = true;
  /* "1.2.3.4:port" or "[::1]:port"; a host must not start with ':' inside an IRC line. */
  const char *h = peer[0] == '[' ? peer + 1 : peer, *colon = strrchr(peer, ':');
  size_t n = peer[0] == '[' ? strcspn(h, "]") : colon ? (size_t)(colon - peer) : strlen(peer);
  snprintf(s->host, sizeof s->host, "%s%.*s", h[0] == ':' ? "0" : "", (int)n, h);
  session_send(ctx, s,
               ":" IRC_SERVER " NOTICE * :*** Hello. IRC clients: register as usual. "
               "Others: type a nickname and press enter.");
}

static void on_data(tr_ctx_t *ctx, session_t *s, const tr_msg_t *m) {
  size_t len;
  const char *data = tr_msg_data(m, &len);
  if (s->closing || !data)
    return;
  s->last_input_ns = now_ns();
  s->pinged = false;
  session_input(ctx, s, data, len);
}

static void on_closed(tr_ctx_t *ctx, session_t *s, const tr_msg_t *m) {
  tr_conn_t c;
  int reason = 0;
  tr_msg_tcp_closed(m, &c, &reason);
  s->open = false;
  if (!s->closing) {
    char why[64];
    snprintf(why, sizeof why, "%s%s", reason ? "Connection error: " : "Connection closed",
             reason ? tr_strerror(reason) : "");
    session_quit(ctx, s, why);
  }
  tr_stop(ctx);
}

static void on_tick(tr_ctx_t *ctx, session_t *s) {
  uint64_t now = now_ns(), idle = s->idle_ms * 1000000u;
  if (s->closing) {
    if (now - s->closing_ns >= idle) /* the peer does not even take the goodbye */
      tr_stop(ctx);
  } else if (!s->pinged && now - s->last_input_ns >= idle) {
    s->pinged = true;
    s->ping_ns = now;
    if (s->mode == MODE_PLAIN)
      session_send(ctx, s, "* still there? type anything within %llu s to stay",
                   (unsigned long long)(s->idle_ms / 1000));
    else
      session_send(ctx, s, "PING :" IRC_SERVER);
  } else if (s->pinged && now - s->ping_ns >= idle) {
    char why[64];
    snprintf(why, sizeof why, "Ping timeout: %llu seconds",
             (unsigned long long)((now - s->last_input_ns) / 1000000000u));
    session_quit(ctx, s, why);
  }
}

/* ---- the behaviour ---- */

/* Another node has a user of the same nick and keeps it (rooms.c): take the first free
 * "<nick>-<k>" as if the client had sent NICK, so its client and its channels see it. */
static void on_nickclash(tr_ctx_t *ctx, session_t *s) {
  if (!s->has_nick || s->mode != MODE_IRC)
    return; /* plain clients have no NICK to be told with */
  char want[IRC_NICK_MAX + 1], low[IRC_NICK_MAX + 1], line[IRC_NICK_MAX + 16];
  for (int k = 1; k < 100; k++) {
    char suffix[8];
    int sl = snprintf(suffix, sizeof suffix, "-%d", k);
    size_t keep = strlen(s->nick);
    if (keep + (size_t)sl > IRC_NICK_MAX)
      keep = IRC_NICK_MAX - (size_t)sl;
    snprintf(want, sizeof want, "%.*s%s", (int)keep, s->nick, suffix);
    irc_lower(low, want, sizeof low);
    if (tr_pid_is_none(chat_find_nick(ctx, low))) {
      int n = snprintf(line, sizeof line, "NICK %s", want);
      session_input(ctx, s, line, (size_t)n);
      return;
    }
  }
}

static int session_init(tr_ctx_t *ctx, void *state, const tr_msg_t *init) {
  session_t *s = state;
  uint64_t idle = DEFAULT_IDLE_MS;
  if (tr_msg_unpack(init, "u", &idle) != 0 || idle == 0)
    idle = DEFAULT_IDLE_MS;
  s->idle_ms = idle;
  s->last_input_ns = s->last_said_ns = now_ns();
  s->signon = chat_unix_now();
  /* Four checks per interval: a client is pinged at most a quarter interval late. */
  uint64_t period = idle / 4 ? idle / 4 : 1;
  return tr_send_interval(ctx, period, tr_self(ctx), chat_atoms.tick, NULL, 0, &s->tick);
}

static int session_receive(tr_ctx_t *ctx, void *state, const tr_msg_t *m) {
  session_t *s = state;
  tr_atom_t tag = tr_msg_tag(m);
  if (tag == chat_atoms.event && tr_msg_ref(m) == 0)
    session_on_event(ctx, s, m);
  else if (tag == TR_ATOM_TCP_DATA)
    on_data(ctx, s, m);
  else if (tag == chat_atoms.dm)
    chat_on_dm(ctx, s, m);
  else if (tag == chat_atoms.tick)
    on_tick(ctx, s);
  else if (tag == chat_atoms.nickclash)
    on_nickclash(ctx, s);
  else if (tag == TR_ATOM_TCP_OPEN)
    on_open(ctx, s, m);
  else if (tag == TR_ATOM_TCP_EOF)
    session_input_end(ctx, s);
  else if (tag == TR_ATOM_TCP_CLOSED)
    on_closed(ctx, s, m);
  else if (tag == chat_atoms.whois)
    chat_on_whois(ctx, s, m);
  else if (tag == TR_ATOM_DOWN)
    session_on_down(ctx, s, m);
  else if (tr_msg_ref(m) != 0)
    session_answer(ctx, s, m); /* a reply or a timeout: for the waiting command, or stale */
  return 0;
}

/* Ended some other way than by its connection (the system stopping): leave the rooms. */
static void session_terminate(tr_ctx_t *ctx, void *state, const tr_reason_t *reason) {
  session_t *s = state;
  if (!s->closing)
    session_leave_all(ctx, s, reason->kind == TR_REASON_SHUTDOWN ? "Server shutting down" : "Gone");
  session_input_free(s);
}

/* {nick, mode, channels: [#chan...], waiting, queued} for the console. */
static int session_inspect(const void *state, msgpack_packer *pk) {
  static const char *const modes[] = {"new", "irc", "plain"};
  const session_t *s = state;
  int rc = msgpack_pack_map(pk, 5);
  rc |= chat_pack_str(pk, "nick") | chat_pack_str(pk, s->nick);
  rc |= chat_pack_str(pk, "mode") | chat_pack_str(pk, modes[s->mode]);
  rc |= chat_pack_str(pk, "channels") | msgpack_pack_array(pk, (size_t)session_nchans(s));
  for (int i = 0; i < CHAT_CHANS_MAX; i++)
    if (s->chans[i].used)
      rc |= chat_pack_str(pk, s->chans[i].name);
  rc |= chat_pack_str(pk, "waiting");
  rc |= session_waiting(s) ? msgpack_pack_true(pk) : msgpack_pack_false(pk);
  rc |= chat_pack_str(pk, "queued_bytes") | msgpack_pack_uint64(pk, s->in_len - s->in_off);
  return rc ? TR_ENOMEM : 0;
}

const tr_behaviour_t chat_session_behaviour = {
    .name = "chat.session",
    .state_size = sizeof(session_t),
    .init = session_init,
    .receive = session_receive,
    .flush = flush,
    .terminate = session_terminate,
    .inspect = session_inspect,
};
