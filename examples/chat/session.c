/* A session: the actor that owns one client connection (spawned by the listener, which
 * hands it the socket as TR_ATOM_TCP_OPEN). It reads the client's lines, tells IRC clients
 * from plain ones by the first line, runs commands (commands.c), and turns what rooms and
 * other sessions send it into lines for its client, in the client's own dialect.
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

/* Output is gathered in s->out and written in one piece when the flush message the first
 * line sent to the session itself comes round: everything already in the mailbox (say,
 * a burst of room traffic) goes out in a few writes instead of one write per line. */
static void flush(tr_ctx_t *ctx, session_t *s) {
  if (s->open && s->out_len)
    tr_conn_write(ctx, s->conn, s->out, s->out_len); /* a closed one reports TCP_CLOSED */
  s->out_len = 0;
}

static void on_flush(tr_ctx_t *ctx, session_t *s) {
  s->flush_due = false;
  flush(ctx, s);
}

static void write_line(tr_ctx_t *ctx, session_t *s, const char *line, size_t len) {
  if (!s->open)
    return;
  if (s->out_len + len > sizeof s->out)
    flush(ctx, s);
  if (!s->flush_due && tr_send(ctx, tr_self(ctx), chat_atoms.flush, NULL, 0) == 0)
    s->flush_due = true;
  memcpy(s->out + s->out_len, line, len);
  s->out_len += len;
  if (!s->flush_due)
    flush(ctx, s);
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

bool session_set_nick(tr_ctx_t *ctx, session_t *s, const char *nick) {
  tr_system_t *sys = tr_ctx_system(ctx);
  char old[TR_NAME_MAX + 1], want[TR_NAME_MAX + 1];
  chat_nick_name(want, nick);
  if (strlen(nick) > IRC_NICK_MAX)
    return false;
  chat_nick_name(old, s->nick);
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
  if (s->welcomed && s->mode == MODE_IRC)
    session_send(ctx, s, ":%s NICK :%s", s->prefix, nick);
  s->has_nick = true;
  memmove(s->nick, nick, strlen(nick) + 1);
  session_set_prefix(s);
  s->nick_gen++;
  s->seq++;
  for (int i = 0; i < CHAT_CHANS_MAX; i++)
    if (s->chans[i].used && !tr_pid_is_none(s->chans[i].room))
      tr_sendf(ctx, s->chans[i].room, chat_atoms.nick, "[su]", s->nick, s->seq);
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

bool session_dm(tr_ctx_t *ctx, session_t *s, chat_ev_t kind, const char *nick, const char *text) {
  char name[TR_NAME_MAX + 1];
  chat_nick_name(name, nick);
  tr_pid_t to = tr_whereis(tr_ctx_system(ctx), name);
  if (tr_pid_is_none(to))
    return false;
  tr_sendf(ctx, to, chat_atoms.dm, "[uss]", (uint64_t)kind, s->prefix, text);
  return true;
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
  irc_msg_t msg;
  if (s->closing || !data || !irc_parse(data, len, &msg))
    return;
  s->last_input_ns = now_ns();
  s->pinged = false;
  if (s->mode == MODE_NEW)
    s->mode =
        msg.prefix || (chat_command_known(msg.cmd) && msg.nparams > 0) ? MODE_IRC : MODE_PLAIN;
  if (s->mode == MODE_IRC) {
    chat_command(ctx, s, &msg);
    return;
  }
  /* Plain text is the whole line, cleaned as the parser cleans it, without outer blanks. */
  char text[IRC_IN_MAX + 1];
  chat_copy(text, sizeof text, data, len);
  for (char *p = text; *p; p++)
    if (*p == '\r' || *p == '\n')
      *p = ' ';
  char *t = text + strspn(text, " \t");
  size_t tl = strlen(t);
  while (tl > 0 && (t[tl - 1] == ' ' || t[tl - 1] == '\t'))
    t[--tl] = '\0';
  if (tl > 0)
    chat_plain_line(ctx, s, t);
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

static void on_event(tr_ctx_t *ctx, session_t *s, const tr_msg_t *m) {
  static const char *const verbs[] = {"PRIVMSG", "NOTICE", "JOIN", "PART", "QUIT", "NICK", "TOPIC"};
  uint64_t kind, origin, seq;
  const char *p, *c, *t;
  size_t pl, cl, tl;
  char prefix[IRC_PREFIX_MAX + 1], chan[IRC_CHAN_MAX + 1], text[IRC_LINE_MAX + 1];
  if (tr_msg_unpack(m, "[usssuu]", &kind, &p, &pl, &c, &cl, &t, &tl, &origin, &seq) != 0 ||
      kind > EV_TOPIC || seen_before(s, origin, seq))
    return;
  chat_copy(prefix, sizeof prefix, p, pl);
  chat_copy(chan, sizeof chan, c, cl);
  chat_copy(text, sizeof text, t, tl);
  if (s->mode == MODE_PLAIN)
    chat_plain_event(ctx, s, (chat_ev_t)kind, prefix, text);
  else if (kind == EV_JOIN || (kind == EV_PART && !text[0]))
    session_send(ctx, s, ":%s %s %s", prefix, verbs[kind], chan);
  else if (kind == EV_QUIT || kind == EV_NICK)
    session_send(ctx, s, ":%s %s :%s", prefix, verbs[kind], text);
  else
    session_send(ctx, s, ":%s %s %s :%s", prefix, verbs[kind], chan, text);
}

static void on_dm(tr_ctx_t *ctx, session_t *s, const tr_msg_t *m) {
  uint64_t kind;
  const char *p, *t;
  size_t pl, tl;
  char prefix[IRC_PREFIX_MAX + 1], text[IRC_LINE_MAX + 1];
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

static void on_listing(tr_ctx_t *ctx, session_t *s, const tr_msg_t *m) {
  size_t len;
  const void *data = tr_msg_data(m, &len);
  msgpack_zone zone;
  msgpack_object o;
  msgpack_zone_init(&zone, 2048);
  if (data && tr_msgpack_parse(data, len, NULL, &zone, &o) == 0 && o.type == MSGPACK_OBJECT_ARRAY)
    chat_show_listing(ctx, s, &o);
  msgpack_zone_destroy(&zone);
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

static int session_init(tr_ctx_t *ctx, void *state, const tr_msg_t *init) {
  session_t *s = state;
  uint64_t idle = DEFAULT_IDLE_MS;
  if (tr_msg_unpack(init, "u", &idle) != 0 || idle == 0)
    idle = DEFAULT_IDLE_MS;
  s->idle_ms = idle;
  s->last_input_ns = now_ns();
  /* Four checks per interval: a client is pinged at most a quarter interval late. */
  uint64_t period = idle / 4 ? idle / 4 : 1;
  return tr_send_interval(ctx, period, tr_self(ctx), chat_atoms.tick, NULL, 0, &s->tick);
}

static int session_receive(tr_ctx_t *ctx, void *state, const tr_msg_t *m) {
  session_t *s = state;
  tr_atom_t tag = tr_msg_tag(m);
  if (tag == chat_atoms.event)
    on_event(ctx, s, m);
  else if (tag == chat_atoms.flush)
    on_flush(ctx, s);
  else if (tag == TR_ATOM_TCP_DATA)
    on_data(ctx, s, m);
  else if (tag == chat_atoms.dm)
    on_dm(ctx, s, m);
  else if (tag == chat_atoms.roominfo)
    session_on_roominfo(ctx, s, m);
  else if (tag == chat_atoms.tick)
    on_tick(ctx, s);
  else if (tag == TR_ATOM_TCP_OPEN)
    on_open(ctx, s, m);
  else if (tag == TR_ATOM_TCP_CLOSED)
    on_closed(ctx, s, m);
  else if (tag == chat_atoms.listing)
    on_listing(ctx, s, m);
  else if (tag == chat_atoms.whois)
    chat_on_whois(ctx, s, m);
  else if (tag == chat_atoms.whoisinfo)
    chat_show_whois(ctx, s, m);
  else if (tag == chat_atoms.joinfail)
    session_on_joinfail(ctx, s, m);
  else if (tag == TR_ATOM_DOWN)
    session_on_down(ctx, s, m);
  return 0;
}

/* Ended some other way than by its connection (the system stopping): leave the rooms. */
static void session_terminate(tr_ctx_t *ctx, void *state, const tr_reason_t *reason) {
  session_t *s = state;
  if (!s->closing)
    session_leave_all(ctx, s, reason->kind == TR_REASON_SHUTDOWN ? "Server shutting down" : "Gone");
}

/* {nick, mode, channels: [#chan...]} for the console. */
static int session_inspect(const void *state, msgpack_packer *pk) {
  static const char *const modes[] = {"new", "irc", "plain"};
  const session_t *s = state;
  int rc = msgpack_pack_map(pk, 3);
  rc |= chat_pack_str(pk, "nick") | chat_pack_str(pk, s->nick);
  rc |= chat_pack_str(pk, "mode") | chat_pack_str(pk, modes[s->mode]);
  rc |= chat_pack_str(pk, "channels") | msgpack_pack_array(pk, (size_t)session_nchans(s));
  for (int i = 0; i < CHAT_CHANS_MAX; i++)
    if (s->chans[i].used)
      rc |= chat_pack_str(pk, s->chans[i].name);
  return rc ? TR_ENOMEM : 0;
}

const tr_behaviour_t chat_session_behaviour = {
    .name = "chat.session",
    .state_size = sizeof(session_t),
    .init = session_init,
    .receive = session_receive,
    .terminate = session_terminate,
    .inspect = session_inspect,
};
