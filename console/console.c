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

/* ---- lines ---- */

static void queue_line(tr_ctx_t *ctx, tr_csession_t *s, const char *text) {
  size_t n = strlen(text);
  tr_cline_t *l = s->q_len < TR_CONSOLE_QUEUE_MAX ? malloc(sizeof *l + n + 1) : NULL;
  if (!l) {
    tr__console_error(ctx, s, "too many commands waiting; dropped: %.40s", text);
    return;
  }
  memcpy(l->text, text, n + 1);
  l->next = NULL;
  if (s->q_tail)
    s->q_tail->next = l;
  else
    s->q_head = l;
  s->q_tail = l;
  s->q_len++;
}

/* Run queued lines until one waits for an actor again. */
static void drain(tr_ctx_t *ctx, tr_csession_t *s) {
  while (s->wait == TR_CWAIT_NONE && s->q_head) {
    tr_cline_t *l = s->q_head;
    s->q_head = l->next;
    if (!s->q_head)
      s->q_tail = NULL;
    s->q_len--;
    tr__console_command(ctx, s, l->text);
    free(l);
  }
}

static void line_done(tr_ctx_t *ctx, tr_csession_t *s) {
  if (s->len && s->line[s->len - 1] == '\r')
    s->len--;
  s->line[s->len] = '\0';
  s->len = 0;
  if (s->wait != TR_CWAIT_NONE)
    queue_line(ctx, s, s->line);
  else
    tr__console_command(ctx, s, s->line);
}

static void feed(tr_ctx_t *ctx, tr_csession_t *s, const char *p, size_t n) {
  for (size_t i = 0; i < n; i++) {
    char ch = p[i];
    if (ch == '\n') {
      if (!s->skipping)
        line_done(ctx, s);
      s->skipping = false;
      s->len = 0;
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
  while (s->q_head) {
    tr_cline_t *l = s->q_head;
    s->q_head = l->next;
    free(l);
  }
  s->q_tail = NULL;
  s->q_len = 0;
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
    feed(ctx, s, data, len);
    drain(ctx, s);
  } else if (tag == TR_ATOM_TCP_CLOSED) {
    session_end(ctx, s);
    tr_stop(ctx);
  } else if (tag == TR_ATOM_TRACE) {
    forward_trace(ctx, s, m);
  } else if ((tag == TR_ATOM_REPLY || tag == TR_ATOM_TIMEOUT) && s->wait != TR_CWAIT_NONE &&
             tr_msg_ref(m) == s->wait_ref) {
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
  msgpack_pack_str_with_body(pk, "queued", 6);
  msgpack_pack_uint32(pk, s->q_len);
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

int tr_console_start(tr_system_t *sys, const char *addr, uint16_t port, tr_listener_t *out) {
  if (!sys || !out)
    return TR_EINVAL;
  tr_ctx_t *ctx = tr__on_worker(sys) && tr__tls_worker
                      ? &((tr_wlocal_t *)tr__tls_worker->local)->ctx
                      : tr_system_ctx(sys);
  tr_listen_opts_t o = {.bind = addr, .port = port, .behaviour = &session_behaviour};
  o.conn.codec.kind = TR_CODEC_RAW;
  o.conn.out_limit = TR_CONSOLE_OUT_LIMIT;
  int rc = tr_listen(ctx, &o, out);
  if (rc == 0 && (rc = tr__console_clock_start(sys)) != 0)
    tr_listener_close(ctx, *out);
  return rc;
}

int tr_console_start_at(tr_system_t *sys, const char *spec, tr_listener_t *out) {
  if (!spec)
    return TR_EINVAL;
  char addr[TR_ADDR_MAX] = "127.0.0.1";
  const char *colon = strrchr(spec, ':'), *port_text = spec;
  if (colon) {
    const char *a = spec, *end = colon;
    if (*a == '[' && end > a && end[-1] == ']') { /* [v6]:port */
      a++;
      end--;
    }
    size_t n = (size_t)(end - a);
    if (n == 0 || n >= sizeof addr)
      return TR_EINVAL;
    memcpy(addr, a, n);
    addr[n] = '\0';
    port_text = colon + 1;
  }
  char *stop;
  unsigned long port = strtoul(port_text, &stop, 10);
  if (!*port_text || *stop || port > 65535)
    return TR_EINVAL;
  return tr_console_start(sys, addr, (uint16_t)port, out);
}
