/* The debug console's server: starting it (a listener and the coarse clock, clock.c), and the
 * session actor each client gets: it cuts its input into lines (bounded, so an over-long line is an
 * error reply, not a dropped connection), runs them in order, writes the replies, and
 * forwards trace events. Protocol: include/troupe/console.h. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "console/console.h"

/* ---- writing ---- */

void tr__console_write(tr_ctx_t *ctx, tr_csession_t *s, const char *text, size_t len) {
  if (s->agent || s->capturing) { /* an agent's answer goes back to the node that asked */
    if (s->capture_len + len > s->capture_cap && s->capture_len + len <= TR_CONSOLE_OUT_LIMIT) {
      size_t cap = s->capture_cap ? s->capture_cap : 4096;
      while (cap < s->capture_len + len)
        cap *= 2;
      char *grown = realloc(s->capture, cap);
      if (grown) {
        s->capture = grown;
        s->capture_cap = cap;
      }
    }
    if (s->capture_len + len <= s->capture_cap) {
      memcpy(s->capture + s->capture_len, text, len);
      s->capture_len += len;
    }
    return;
  }
  if (s->open && len)
    tr_conn_write(ctx, s->conn, text, len); /* a closed conn: TCP_CLOSED ends the session */
}

void tr__console_reply(tr_ctx_t *ctx, tr_csession_t *s, json_t *doc) {
  if (!doc) {
    tr__console_write(ctx, s,
                      s->json ? "{\"error\":\"out of memory\"}\n" : "error: out of memory\n.\n",
                      s->json ? 26 : 23);
    return;
  }
  char *out = s->json ? json_dumps(doc, JSON_COMPACT | JSON_ENCODE_ANY) : tr__json_render_text(doc);
  json_decref(doc);
  if (!out) {
    tr__console_reply(ctx, s, NULL);
    return;
  }
  tr__console_write(ctx, s, out, strlen(out));
  tr__console_write(ctx, s, s->json ? "\n" : ".\n", s->json ? 1 : 2);
  free(out);
}

void tr__console_error(tr_ctx_t *ctx, tr_csession_t *s, const char *fmt, ...) {
  char text[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(text, sizeof text, fmt, ap);
  va_end(ap);
  if (s->json) {
    tr__console_reply(ctx, s, json_pack("{s:s}", "error", text));
    return;
  }
  char line[600];
  int n = snprintf(line, sizeof line, "error: %s\n.\n", text);
  tr__console_write(ctx, s, line, (size_t)n < sizeof line ? (size_t)n : sizeof line - 1);
}

/* ---- lines ----
 *
 * Commands run strictly in order. Input is cut into lines here (so an over-long line is an
 * error reply and the connection lives on); a command that waits for an actor's answer
 * (state, info) holds back everything after it: the rest of the input waits in `pend`,
 * still uncut, and runs once the answer came. */

static void line_done(tr_ctx_t *ctx, tr_csession_t *s) {
  if (s->len && s->line[s->len - 1] == '\r')
    s->len--;
  s->line[s->len] = '\0';
  s->len = 0;
  tr__console_command(ctx, s, s->line);
}

/* Cut and run lines from p[0..n) until a command waits; returns the bytes used. */
static size_t feed(tr_ctx_t *ctx, tr_csession_t *s, const char *p, size_t n) {
  for (size_t i = 0; i < n; i++) {
    char ch = p[i];
    if (ch == '\n') {
      bool run = !s->skipping;
      s->skipping = false;
      if (run)
        line_done(ctx, s);
      s->len = 0;
      if (s->wait != TR_CWAIT_NONE)
        return i + 1;
    } else if (s->skipping) {
      continue;
    } else if (s->len == TR_CONSOLE_LINE_MAX) {
      tr__console_error(ctx, s, "line too long (at most %d bytes)", TR_CONSOLE_LINE_MAX);
      s->skipping = true;
      s->len = 0;
    } else {
      s->line[s->len++] = ch;
    }
  }
  return n;
}

/* Keep input for later; false when the client is over every bound (it is dropped). */
static bool hold(tr_ctx_t *ctx, tr_csession_t *s, const char *p, size_t n) {
  if (s->pend_len + n > TR_CONSOLE_PEND_MAX)
    return false;
  if (s->pend_len + n > s->pend_cap) {
    size_t cap = s->pend_cap ? s->pend_cap : 4096;
    while (cap < s->pend_len + n)
      cap *= 2;
    char *grown = realloc(s->pend, cap);
    if (!grown)
      return false;
    s->pend = grown;
    s->pend_cap = cap;
  }
  memcpy(s->pend + s->pend_len, p, n);
  s->pend_len += n;
  if (!s->paused && s->pend_len > TR_CONSOLE_PEND_PAUSE && tr_conn_pause(ctx, s->conn) == 0)
    s->paused = true;
  return true;
}

/* Run what waited, in order, until a command waits again; close once all is answered after
 * the client's EOF (a last line without its "\n" counts: the EOF ended it). */
static void drain(tr_ctx_t *ctx, tr_csession_t *s) {
  size_t used = 0;
  while (s->wait == TR_CWAIT_NONE && used < s->pend_len)
    used += feed(ctx, s, s->pend + used, s->pend_len - used);
  if (used > 0) {
    memmove(s->pend, s->pend + used, s->pend_len - used);
    s->pend_len -= used;
  }
  if (s->paused && s->pend_len < TR_CONSOLE_PEND_RESUME && tr_conn_resume(ctx, s->conn) == 0)
    s->paused = false;
  if (!s->eof || s->wait != TR_CWAIT_NONE || s->pend_len)
    return;
  if (s->len && !s->skipping) {
    line_done(ctx, s);
    if (s->wait != TR_CWAIT_NONE)
      return;
  }
  if (s->open)
    tr_conn_close(ctx, s->conn);
  s->open = false;
}

static void on_input(tr_ctx_t *ctx, tr_csession_t *s, const char *p, size_t n) {
  size_t used = s->wait == TR_CWAIT_NONE && s->pend_len == 0 ? feed(ctx, s, p, n) : 0;
  if (used < n && !hold(ctx, s, p + used, n - used)) {
    tr_log(TR_LOG_WARN, "console: dropping a client that sent over %zu bytes ahead",
           TR_CONSOLE_PEND_MAX);
    tr_conn_close(ctx, s->conn);
    s->open = false;
  }
}

/* ---- a console inside another actor ---- */

void tr__console_embed(tr_csession_t *s, tr_system_t *sys) {
  memset(s, 0, sizeof *s);
  s->sys = sys;
  s->json = true;
  s->capturing = true;
  s->last_ns = sys->start_ns;
}

void tr__console_embed_free(tr_ctx_t *ctx, tr_csession_t *s) {
  tr__console_untrace_all(ctx, s);
  tr__console_gather_free(s);
  free(s->capture);
  s->capture = NULL;
  s->capture_len = s->capture_cap = 0;
}

bool tr__console_readonly(const char *line) {
  static const char *const reads[] = {"actors", "info",   "state", "nodes", "stats",
                                      "names",  "groups", "stuck", "conns", "help"};
  line += strspn(line, " \t");
  size_t n = strcspn(line, " \t");
  for (size_t i = 0; i < sizeof reads / sizeof reads[0]; i++)
    if (strlen(reads[i]) == n && memcmp(reads[i], line, n) == 0)
      return true;
  return false;
}

/* ---- the session actor ---- */

static void forward_trace(tr_ctx_t *ctx, tr_csession_t *s, const tr_msg_t *m) {
  json_t *doc = tr__json_trace_event(s->sys, m);
  if (!doc)
    return;
  char *out = s->json ? json_dumps(doc, JSON_COMPACT) : NULL;
  if (!s->json) {
    json_t *t = json_object_get(doc, "trace");
    char *data = json_dumps(json_object_get(t, "data"), JSON_COMPACT | JSON_ENCODE_ANY);
    const char *dir = json_string_value(json_object_get(t, "dir"));
    bool in = dir && strcmp(dir, "in") == 0;
    if (asprintf(&out, "trace %s %s %s %s tag=%s len=%lld data=%s",
                 json_string_value(json_object_get(t, "actor")), in ? "<-" : "->",
                 json_string_value(json_object_get(t, "peer")), dir ? dir : "?",
                 json_string_value(json_object_get(t, "tag")),
                 (long long)json_integer_value(json_object_get(t, "len")), data ? data : "?") < 0)
      out = NULL;
    free(data);
  }
  json_decref(doc);
  if (out) {
    tr__console_write(ctx, s, out, strlen(out));
    tr__console_write(ctx, s, "\n", 1);
    free(out);
  }
}

static void session_end(tr_ctx_t *ctx, tr_csession_t *s) {
  tr__console_untrace_all(ctx, s);
  tr__console_gather_free(s);
  free(s->pend);
  s->pend = NULL;
  s->pend_len = s->pend_cap = 0;
  s->open = false;
}

static int session_init(tr_ctx_t *ctx, void *state, const tr_msg_t *init) {
  (void)init;
  tr_csession_t *s = state;
  s->sys = tr_ctx_system(ctx);
  s->last_ns = s->sys->start_ns;
  return 0;
}

static int session_receive(tr_ctx_t *ctx, void *state, const tr_msg_t *m) {
  tr_csession_t *s = state;
  tr_atom_t tag = tr_msg_tag(m);
  size_t len;
  const void *data;
  if (tag == TR_ATOM_TCP_OPEN) {
    char peer[TR_ADDR_MAX], local[TR_ADDR_MAX];
    s->open = tr_msg_tcp_open(m, &s->conn, peer, local) == 0;
  } else if (tag == TR_ATOM_TCP_DATA && (data = tr_msg_data(m, &len)) != NULL) {
    if (s->open)
      on_input(ctx, s, data, len);
  } else if (tag == TR_ATOM_TCP_EOF) {
    s->eof = true;
    drain(ctx, s);
  } else if (tag == TR_ATOM_TCP_CLOSED) {
    session_end(ctx, s);
    tr_stop(ctx);
  } else if (tag == TR_ATOM_TRACE) {
    forward_trace(ctx, s, m);
  } else if ((tag == TR_ATOM_REPLY || tag == TR_ATOM_TIMEOUT) &&
             tr__console_awaits(s, tr_msg_ref(m))) {
    tr__console_answer(ctx, s, m);
    drain(ctx, s);
  }
  /* Anything else (replies to messages the operator sent with `send`) is ignored. */
  return 0;
}

static void session_terminate(tr_ctx_t *ctx, void *state, const tr_reason_t *reason) {
  (void)reason;
  session_end(ctx, state);
}

static int session_inspect(const void *state, msgpack_packer *pk) {
  const tr_csession_t *s = state;
  msgpack_pack_map(pk, 3);
  msgpack_pack_str_with_body(pk, "json", 4);
  if (s->json)
    msgpack_pack_true(pk);
  else
    msgpack_pack_false(pk);
  msgpack_pack_str_with_body(pk, "traced", 6);
  msgpack_pack_uint32(pk, s->ntraced);
  msgpack_pack_str_with_body(pk, "pending_bytes", 13);
  msgpack_pack_uint64(pk, s->pend_len);
  return 0;
}

static const tr_behaviour_t session_behaviour = {
    .name = "console",
    .state_size = sizeof(tr_csession_t),
    .init = session_init,
    .receive = session_receive,
    .terminate = session_terminate,
    .inspect = session_inspect,
};

int tr__console_serve(tr_system_t *sys, const char *who, const tr_listen_opts_t *opts,
                      tr_listener_t *out) {
  if (!sys || !out)
    return TR_EINVAL;
  tr_ctx_t *ctx = tr__on_worker(sys) && tr__tls_worker
                      ? &((tr_wlocal_t *)tr__tls_worker->local)->ctx
                      : tr_system_ctx(sys);
  int rc = tr_listen(ctx, opts, out);
  if (rc == 0 && (rc = tr__console_clock_start(sys)) != 0)
    tr_listener_close(ctx, *out);
  /* A node's console also answers the consoles of the other nodes (from when the system is
   * a node, if it is not one yet). */
  int arc = rc == 0 ? tr__console_agent_start(sys) : 0;
  if (arc != 0)
    tr_log(TR_LOG_WARN, "%s: the other nodes cannot reach this one's actors: %s", who,
           tr_strerror(arc));
  return rc;
}

int tr_console_start(tr_system_t *sys, const char *addr, uint16_t port, tr_listener_t *out) {
  tr_listen_opts_t o = {.bind = addr, .port = port, .behaviour = &session_behaviour};
  o.conn.codec.kind = TR_CODEC_RAW;
  o.conn.out_limit = TR_CONSOLE_OUT_LIMIT;
  o.conn.high_water = TR_CONSOLE_HIGH_WATER;
  return tr__console_serve(sys, "console", &o, out);
}

int tr_console_start_at(tr_system_t *sys, const char *spec, tr_listener_t *out) {
  char addr[TR_ADDR_MAX];
  uint16_t port;
  int rc = tr__net_split_spec(spec, addr, &port);
  return rc == 0 ? tr_console_start(sys, addr, port, out) : rc;
}
