/* A session's input, in order. Each line is run as it comes, unless a command before it is
 * still waiting for an answer (a room's, the manager's, another session's): then it waits
 * in the queue, and runs once the answer came. So a client that writes
 *   JOIN #c / TOPIC #c :hi / NAMES #c / PING x
 * in one go gets the JOIN, its NAMES, the TOPIC change, the second NAMES and the PONG in
 * that order, exactly as if it had sent one line at a time and waited for each answer.
 *
 * A wait ends with its answer, with the request's timeout (CHAT_ASK_MS), or with the DOWN
 * of the room it asked; whatever ends it, the command gives its reply, and the next line
 * runs. The queue is bounded: past SESSION_IN_PAUSE the session stops reading the socket
 * (TCP then slows the client down), so a client that pipelines thousands of commands is
 * served at the pace of the answers, not dropped and not buffered without bound. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "session.h"

/* ---- running one line ---- */

/* Plain text is the whole line, cleaned as the parser cleans it, without outer blanks. */
static void run_plain(tr_ctx_t *ctx, session_t *s, const char *data, size_t len) {
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

static void run_line(tr_ctx_t *ctx, session_t *s, const char *data, size_t len) {
  irc_msg_t msg;
  if (s->mode != MODE_PLAIN && !irc_parse(data, len, &msg))
    return; /* a blank line */
  if (s->mode == MODE_NEW)
    s->mode =
        msg.prefix || (chat_command_known(msg.cmd) && msg.nparams > 0) ? MODE_IRC : MODE_PLAIN;
  if (s->mode == MODE_PLAIN) {
    run_plain(ctx, s, data, len);
  } else if (len > IRC_LINE_MAX) {
    /* IRCv3's ERR_INPUTTOOLONG: the line is dropped and the client stays, as InspIRCd,
     * Ergo and Solanum do (ngIRCd closes the connection instead). */
    session_reply(ctx, s, "417", ":Input line was too long");
  } else {
    chat_command(ctx, s, &msg);
  }
}

/* ---- the queue ---- */

static size_t queued(const session_t *s) { return s->in_len - s->in_off; }

static bool enqueue(tr_ctx_t *ctx, session_t *s, const char *line, size_t len) {
  if (queued(s) + 4 + len > SESSION_IN_MAX)
    return false;
  if (s->in_off > 0 && s->in_len + 4 + len > s->in_cap) {
    memmove(s->in, s->in + s->in_off, queued(s)); /* reuse what was run */
    s->in_len -= s->in_off;
    s->in_off = 0;
  }
  if (s->in_len + 4 + len > s->in_cap) {
    size_t cap = s->in_cap ? s->in_cap : 4096;
    while (cap < s->in_len + 4 + len)
      cap *= 2;
    unsigned char *grown = realloc(s->in, cap);
    if (!grown)
      return false;
    s->in = grown;
    s->in_cap = cap;
  }
  uint32_t n = (uint32_t)len;
  memcpy(s->in + s->in_len, &n, 4);
  memcpy(s->in + s->in_len + 4, line, len);
  s->in_len += 4 + len;
  if (!s->paused && queued(s) > SESSION_IN_PAUSE && tr_conn_pause(ctx, s->conn) == 0)
    s->paused = true;
  return true;
}

/* Run what waited, in order, until a command waits again. */
static void drain(tr_ctx_t *ctx, session_t *s) {
  while (!s->closing && !session_waiting(s)) {
    if (s->has_rest) {
      char line[IRC_IN_MAX + 1];
      memcpy(line, s->rest, sizeof line);
      s->has_rest = false;
      run_line(ctx, s, line, strlen(line));
      continue;
    }
    if (queued(s) == 0)
      break;
    uint32_t n;
    memcpy(&n, s->in + s->in_off, 4);
    const char *line = (const char *)s->in + s->in_off + 4;
    s->in_off += 4 + n;
    run_line(ctx, s, line, n); /* nothing queues while a line runs: `line` stays valid */
  }
  if (queued(s) == 0)
    s->in_off = s->in_len = 0;
  if (s->paused && queued(s) < SESSION_IN_RESUME && tr_conn_resume(ctx, s->conn) == 0)
    s->paused = false;
  if (s->eof && !s->closing && !session_waiting(s) && queued(s) == 0)
    session_quit(ctx, s, "Connection closed");
}

void session_input(tr_ctx_t *ctx, session_t *s, const char *line, size_t len) {
  if (!session_waiting(s) && queued(s) == 0) {
    run_line(ctx, s, line, len);
    return;
  }
  if (!enqueue(ctx, s, line, len)) {
    tr_log(TR_LOG_WARN, "chat: dropping %s, %zu bytes of commands ahead of the server", s->host,
           queued(s));
    session_quit(ctx, s, "Excess Flood");
  }
}

void session_input_end(tr_ctx_t *ctx, session_t *s) {
  s->eof = true;
  drain(ctx, s);
}

void session_input_free(session_t *s) {
  free(s->in);
  s->in = NULL;
  s->in_off = s->in_len = s->in_cap = 0;
}

/* ---- waiting ---- */

void session_wait(session_t *s, wait_kind_t kind, uint64_t ref, tr_pid_t pid, const char *arg) {
  memset(&s->wait, 0, sizeof s->wait);
  s->wait.kind = kind;
  s->wait.n = 1;
  s->wait.ref[0] = ref;
  s->wait.pid = pid;
  s->wait.plain = s->mode == MODE_PLAIN;
  snprintf(s->wait.arg, sizeof s->wait.arg, "%s", arg);
}

void session_wait_many(session_t *s, wait_kind_t kind) {
  session_wait(s, kind, 0, TR_PID_NONE, "");
  s->wait.n = 0;
}

void session_wait_done(tr_ctx_t *ctx, session_t *s) {
  s->wait.kind = WAIT_NONE;
  drain(ctx, s);
}

void session_keep_rest(session_t *s, const irc_msg_t *m, int li, const char *rest) {
  size_t used = (size_t)snprintf(s->rest, sizeof s->rest, "%s", m->cmd);
  for (int i = 0; i < m->nparams && used < sizeof s->rest; i++) {
    const char *p = i == li ? rest : m->params[i];
    bool last = i == m->nparams - 1 && i != li;
    used += (size_t)snprintf(s->rest + used, sizeof s->rest - used, " %s%s", last ? ":" : "", p);
  }
  s->has_rest = true;
}

/* One of several answers (or its timeout): USERHOST's fills its slot, a manager's listing
 * is shown, a room's to a NICK change counts; the wait ends once all are in. */
static bool gathered(tr_ctx_t *ctx, session_t *s, int slot, const tr_msg_t *m) {
  if (s->wait.kind == WAIT_USERHOST && tr_msg_tag(m) == chat_atoms.whoisinfo)
    chat_note_userhost(s, slot, m);
  if (s->wait.kind == WAIT_LIST && tr_msg_tag(m) == chat_atoms.listing)
    chat_show_listing(ctx, s, m);
  s->wait.ref[slot] = 0;
  if (++s->wait.got < s->wait.n)
    return false;
  if (s->wait.kind == WAIT_USERHOST)
    chat_show_userhost(ctx, s);
  if (s->wait.kind == WAIT_LIST)
    session_reply(ctx, s, "323", ":End of /LIST");
  return true;
}

/* The answer the wait's kind expects; false for a message of another shape (ignored). */
static bool take(tr_ctx_t *ctx, session_t *s, const tr_msg_t *m) {
  tr_atom_t tag = tr_msg_tag(m);
  msgpack_zone zone;
  msgpack_object o;
  bool ok = true;
  switch (s->wait.kind) {
  case WAIT_JOIN:
    if (tag != chat_atoms.roominfo && tag != chat_atoms.joinfail)
      return false;
    if (session_joined(ctx, s, m)) {
      msgpack_zone_init(&zone, 2048);
      if (chat_parse_array(m, &zone, 6, &o))
        chat_show_roominfo(ctx, s, WAIT_JOIN, &o);
      msgpack_zone_destroy(&zone);
    }
    return true;
  case WAIT_NAMES:
  case WAIT_WHO:
  case WAIT_TOPIC:
  case WAIT_MODE:
  case WAIT_ACT:
    if (tag != (s->wait.kind == WAIT_ACT ? chat_atoms.answer : chat_atoms.roominfo))
      return false;
    msgpack_zone_init(&zone, 2048);
    if ((ok = chat_parse_array(m, &zone, s->wait.kind == WAIT_ACT ? 2 : 6, &o))) {
      if (s->wait.kind == WAIT_ACT)
        chat_show_answer(ctx, s, &o);
      else
        chat_show_roominfo(ctx, s, s->wait.kind, &o);
    }
    msgpack_zone_destroy(&zone);
    if (!ok)
      chat_show_lost(ctx, s);
    return true;
  case WAIT_WHOIS:
  case WAIT_WHO_NICK:
    if (tag != chat_atoms.whoisinfo)
      return false;
    if (s->wait.kind == WAIT_WHOIS)
      chat_show_whois(ctx, s, m);
    else
      chat_show_who_nick(ctx, s, m);
    return true;
  case WAIT_DM: {
    const char *away;
    size_t len;
    if (tag != chat_atoms.dmack)
      return false;
    if (tr_msg_unpack(m, "s", &away, &len) == 0 && len > 0) {
      if (s->mode == MODE_PLAIN)
        session_send(ctx, s, "* %s is away: %.*s", s->wait.arg, (int)len, away);
      else
        session_reply(ctx, s, "301", "%s :%.*s", s->wait.arg, (int)len, away);
    }
    return true;
  }
  default:
    return false;
  }
}

bool session_answer(tr_ctx_t *ctx, session_t *s, const tr_msg_t *m) {
  uint64_t ref = tr_msg_ref(m);
  int slot = -1;
  for (int i = 0; session_waiting(s) && i < s->wait.n && slot < 0; i++)
    if (s->wait.ref[i] == ref)
      slot = i;
  if (slot < 0)
    return false; /* an answer to a wait that ended, or not a reply at all */
  bool done;
  if (s->wait.kind == WAIT_USERHOST || s->wait.kind == WAIT_ACKS || s->wait.kind == WAIT_LIST) {
    done = gathered(ctx, s, slot, m);
  } else if (tr_msg_tag(m) == TR_ATOM_TIMEOUT) {
    chat_show_lost(ctx, s);
    done = true;
  } else {
    done = take(ctx, s, m);
  }
  if (done)
    session_wait_done(ctx, s);
  return true;
}

void session_wait_down(tr_ctx_t *ctx, session_t *s, tr_pid_t pid) {
  if (!session_waiting(s) || !tr_pid_eq(s->wait.pid, pid))
    return; /* gathered waits name no pid: their lost answers time out */
  chat_show_lost(ctx, s);
  session_wait_done(ctx, s);
}
