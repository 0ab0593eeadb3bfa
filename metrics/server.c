/* The metrics server (include/troupe/metrics.h): a listener whose connections each get a
 * session actor. A session cuts requests from its input (http.c) and answers them in order:
 * /metrics and / at once, /api/console through a console inside the session (console.h:
 * tr__console_embed), whose answer may come later (another node's, an actor's state); while
 * one is pending the next requests wait, unparsed, in the session's input buffer. /events
 * turns the connection into a stream: every second a snapshot made of three console answers.
 *
 * A once-a-second tick (an interval timer per session) enforces the deadlines: a request
 * must be whole 10 s after its first byte (else 408), a connection may idle 30 s between
 * requests. */
#include <stdio.h>
#include <string.h>

#include "console/console.h"
#include "metrics/http.h"
#include "metrics/metrics.h"
#include "troupe/timer.h"

#define REQUEST_MS 10000u
#define IDLE_MS 30000u
#define TICK_MS 1000u
/* Input held while a request is answered; above it reading pauses. */
#define HOLD_MAX ((size_t)64 << 10)
/* Output a session may queue before its client counts as not reading (net.h). */
#define OUT_LIMIT ((size_t)8 << 20)
/* Rows of the page's actor list per snapshot, over the whole cluster. */
#define SNAPSHOT_ACTORS 500u

enum { JOB_NONE = 0, JOB_API, JOB_SNAPSHOT };

typedef struct {
  tr_system_t *sys;
  tr_conn_t conn;
  tr_atom_t tick_tag;
  bool open, closing, eof, sse;
  tr_http_t http;
  char *in; /* input not parsed yet */
  size_t in_len, in_cap;
  bool paused;
  uint64_t req_start_ns, last_ns; /* the request's first byte; the last request's answer */
  /* The request answered through the embedded console. */
  int job;
  bool head, keep;
  int step; /* JOB_SNAPSHOT: which of its commands runs */
  tr_text_t snap;
  tr_csession_t con;
} hs_t;

/* ---- answers ---- */

static const char *reason_of(int status) {
  switch (status) {
  case 200:
    return "OK";
  case 400:
    return "Bad Request";
  case 403:
    return "Forbidden";
  case 404:
    return "Not Found";
  case 405:
    return "Method Not Allowed";
  case 408:
    return "Request Timeout";
  case 413:
    return "Content Too Large";
  case 414:
    return "URI Too Long";
  case 431:
    return "Request Header Fields Too Large";
  case 505:
    return "HTTP Version Not Supported";
  case 503:
    return "Service Unavailable";
  default:
    return "Internal Server Error";
  }
}

static void finish_conn(tr_ctx_t *ctx, hs_t *s) {
  if (s->open && !s->closing)
    tr_conn_close(ctx, s->conn); /* what is queued goes out first (net.h: linger) */
  s->closing = true;
}

static void respond(tr_ctx_t *ctx, hs_t *s, int status, const char *type, const void *body,
                    size_t len, const char *extra) {
  if (!s->open || s->closing)
    return;
  char head[512];
  int n = snprintf(head, sizeof head,
                   "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
                   "Cache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\n%s"
                   "Connection: %s\r\n\r\n",
                   status, reason_of(status), type, len, extra ? extra : "",
                   s->keep ? "keep-alive" : "close");
  tr_conn_write(ctx, s->conn, head, (size_t)n);
  if (!s->head && len)
    tr_conn_write(ctx, s->conn, body, len);
  s->last_ns = tr__now_ns();
  if (!s->keep)
    finish_conn(ctx, s);
}

static void respond_error(tr_ctx_t *ctx, hs_t *s, int status, const char *extra) {
  char body[96];
  int n = snprintf(body, sizeof body, "%d %s\n", status, reason_of(status));
  respond(ctx, s, status, "text/plain; charset=utf-8", body, (size_t)n, extra);
}

/* The embedded console's answer: one JSON line, without its newline. */
static const char *console_text(hs_t *s, size_t *len) {
  *len = s->con.capture_len;
  while (*len && s->con.capture[*len - 1] == '\n')
    (*len)--;
  return *len ? s->con.capture : "{\"error\":\"no answer\"}";
}

/* ---- the snapshot of /events ---- */

static const char *const snapshot_cmds[] = {"nodes", "stats", NULL};

static void snapshot_step(tr_ctx_t *ctx, hs_t *s);

static void run_console(tr_ctx_t *ctx, hs_t *s, const char *line) {
  char copy[TR_CONSOLE_LINE_MAX + 1];
  snprintf(copy, sizeof copy, "%s", line);
  s->con.capture_len = 0;
  tr__console_command(ctx, &s->con, copy);
}

/* One command of the snapshot has answered: keep it, run the next or send the event. */
static void snapshot_took(tr_ctx_t *ctx, hs_t *s) {
  static const char *const keys[] = {"nodes", "stats", "actors"};
  size_t len;
  const char *text = console_text(s, &len);
  tr__text_add(&s->snap, "%s\"%s\":", s->step ? "," : "{", keys[s->step]);
  tr__text_bytes(&s->snap, text, len);
  s->step++;
  snapshot_step(ctx, s);
}

static void snapshot_step(tr_ctx_t *ctx, hs_t *s) {
  while (s->job == JOB_SNAPSHOT && s->con.wait == TR_CWAIT_NONE) {
    if (s->step < 2) {
      run_console(ctx, s, snapshot_cmds[s->step]);
    } else if (s->step == 2) {
      char line[96];
      snprintf(line, sizeof line, "actors --cluster --sort mailbox --limit %u", SNAPSHOT_ACTORS);
      run_console(ctx, s, line);
    } else {
      tr__text_bytes(&s->snap, "}\n\n", 3);
      if (!s->snap.oom && s->open && !s->closing)
        tr_conn_write(ctx, s->conn, s->snap.p, s->snap.len);
      tr__text_free(&s->snap);
      s->job = JOB_NONE;
      return;
    }
    if (s->con.wait != TR_CWAIT_NONE)
      return; /* its answer comes as a message */
    snapshot_took(ctx, s);
    return;
  }
}

static void snapshot_start(tr_ctx_t *ctx, hs_t *s) {
  if (s->job != JOB_NONE)
    return; /* the last one is still being made: this tick is skipped */
  s->job = JOB_SNAPSHOT;
  s->step = 0;
  tr__text_free(&s->snap);
  tr__text_add(&s->snap, "event: snapshot\ndata: ");
  snapshot_step(ctx, s);
}

/* ---- requests ---- */

static void api(tr_ctx_t *ctx, hs_t *s) {
  char cmd[TR_CONSOLE_LINE_MAX + 1];
  if (!tr__http_query(&s->http, "cmd", cmd, sizeof cmd)) {
    respond_error(ctx, s, 400, NULL);
    return;
  }
  if (!tr__console_readonly(cmd)) {
    static const char body[] = "{\"error\":\"only commands that read are served here\"}";
    respond(ctx, s, 403, "application/json", body, sizeof body - 1, NULL);
    return;
  }
  s->job = JOB_API;
  run_console(ctx, s, cmd);
  if (s->con.wait == TR_CWAIT_NONE) {
    size_t len;
    const char *text = console_text(s, &len);
    s->job = JOB_NONE;
    respond(ctx, s, 200, "application/json", text, len, NULL);
  }
}

static void events(tr_ctx_t *ctx, hs_t *s) {
  static const char head[] = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
                             "Cache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\n"
                             "Connection: keep-alive\r\n\r\n";
  tr_conn_write(ctx, s->conn, head, sizeof head - 1);
  if (s->head) {
    finish_conn(ctx, s);
    return;
  }
  s->sse = true; /* from here on the connection only streams; its input is ignored */
  tr_conn_write(ctx, s->conn, "retry: 2000\n\n", 13);
  snapshot_start(ctx, s);
}

/* A whole request: answer it (or start answering it). */
static void handle(tr_ctx_t *ctx, hs_t *s) {
  char path[TR_HTTP_URL_MAX + 1];
  s->head = s->http.method == TR_HTTP_HEAD;
  s->keep = s->http.keep_alive && !s->eof;
  if (s->http.method == TR_HTTP_OTHER) {
    respond_error(ctx, s, 405, "Allow: GET, HEAD\r\n");
  } else if (!tr__http_path(&s->http, path, sizeof path)) {
    respond_error(ctx, s, 400, NULL);
  } else if (strcmp(path, "/metrics") == 0) {
    tr_text_t t = {0};
    tr__metrics_render(ctx, &t);
    if (t.oom)
      respond_error(ctx, s, 503, NULL);
    else
      respond(ctx, s, 200, "text/plain; version=0.0.4; charset=utf-8", t.p, t.len, NULL);
    tr__text_free(&t);
  } else if (strcmp(path, "/") == 0 || strcmp(path, "/index.html") == 0) {
    respond(ctx, s, 200, "text/html; charset=utf-8", tr__metrics_page, tr__metrics_page_len, NULL);
  } else if (strcmp(path, "/api/console") == 0) {
    api(ctx, s);
  } else if (strcmp(path, "/events") == 0) {
    events(ctx, s);
  } else {
    respond_error(ctx, s, 404, NULL);
  }
}

/* Parse and answer what is buffered, in order, until a request waits for an answer. */
static void process(tr_ctx_t *ctx, hs_t *s) {
  size_t off = 0;
  while (!s->closing && !s->sse && s->job == JOB_NONE && off < s->in_len) {
    if (s->req_start_ns == 0)
      s->req_start_ns = tr__now_ns();
    off += tr__http_feed(&s->http, s->in + off, s->in_len - off);
    if (s->http.error) {
      s->keep = false;
      respond_error(ctx, s, s->http.error, NULL);
      finish_conn(ctx, s);
      break;
    }
    if (!s->http.complete)
      break; /* the rest of it comes later */
    s->req_start_ns = 0;
    handle(ctx, s);
    tr__http_next(&s->http);
  }
  if (s->closing || s->sse)
    off = s->in_len; /* nothing more is read from it */
  /* Only when something was taken: before any data came, s->in is still NULL. */
  if (off > 0)
    memmove(s->in, s->in + off, s->in_len - off);
  s->in_len -= off;
  if (s->paused && s->in_len < HOLD_MAX / 2 && tr_conn_resume(ctx, s->conn) == 0)
    s->paused = false;
  if (s->eof && !s->closing && s->job == JOB_NONE && !s->sse)
    finish_conn(ctx, s); /* the client sends no more, and everything it sent is answered */
}

static void on_data(tr_ctx_t *ctx, hs_t *s, const char *p, size_t n) {
  if (s->closing || s->sse)
    return;
  if (s->in_len + n > s->in_cap) {
    size_t cap = s->in_cap ? s->in_cap : 4096;
    while (cap < s->in_len + n)
      cap *= 2;
    char *grown = realloc(s->in, cap);
    if (!grown) {
      s->keep = false;
      respond_error(ctx, s, 503, NULL);
      finish_conn(ctx, s);
      return;
    }
    s->in = grown;
    s->in_cap = cap;
  }
  memcpy(s->in + s->in_len, p, n);
  s->in_len += n;
  if (s->in_len > HOLD_MAX && !s->paused && tr_conn_pause(ctx, s->conn) == 0)
    s->paused = true; /* pipelining far ahead of the answers: wait */
  process(ctx, s);
}

/* The embedded console has its answer. */
static void console_done(tr_ctx_t *ctx, hs_t *s) {
  if (s->job == JOB_SNAPSHOT) {
    snapshot_took(ctx, s);
    return;
  }
  size_t len;
  const char *text = console_text(s, &len);
  s->job = JOB_NONE;
  respond(ctx, s, 200, "application/json", text, len, NULL);
  process(ctx, s);
}

static void on_tick(tr_ctx_t *ctx, hs_t *s) {
  uint64_t now = tr__now_ns();
  if (s->sse) {
    snapshot_start(ctx, s);
  } else if (s->req_start_ns && now - s->req_start_ns > (uint64_t)REQUEST_MS * 1000000u) {
    s->keep = false;
    respond_error(ctx, s, 408, NULL);
    finish_conn(ctx, s);
  } else if (!s->req_start_ns && s->job == JOB_NONE &&
             now - s->last_ns > (uint64_t)IDLE_MS * 1000000u) {
    finish_conn(ctx, s);
  }
}

/* ---- the session actor ---- */

static int hs_init(tr_ctx_t *ctx, void *state, const tr_msg_t *init) {
  (void)init;
  hs_t *s = state;
  s->sys = tr_ctx_system(ctx);
  s->tick_tag = tr_atom(s->sys, "troupe.metrics.tick");
  s->last_ns = tr__now_ns();
  tr__http_init(&s->http);
  tr__console_embed(&s->con, s->sys);
  return tr_send_interval(ctx, TICK_MS, tr_self(ctx), s->tick_tag, NULL, 0, NULL);
}

static int hs_receive(tr_ctx_t *ctx, void *state, const tr_msg_t *m) {
  hs_t *s = state;
  tr_atom_t tag = tr_msg_tag(m);
  size_t len;
  const void *data;
  if (tag == TR_ATOM_TCP_OPEN) {
    char peer[TR_ADDR_MAX], local[TR_ADDR_MAX];
    s->open = tr_msg_tcp_open(m, &s->conn, peer, local) == 0;
  } else if (tag == TR_ATOM_TCP_DATA && (data = tr_msg_data(m, &len)) != NULL) {
    if (s->open)
      on_data(ctx, s, data, len);
  } else if (tag == TR_ATOM_TCP_EOF) {
    s->eof = true;
    process(ctx, s);
  } else if (tag == TR_ATOM_TCP_CLOSED) {
    s->open = false;
    tr_stop(ctx);
  } else if (tag == s->tick_tag) {
    on_tick(ctx, s);
  } else if ((tag == TR_ATOM_REPLY || tag == TR_ATOM_TIMEOUT) &&
             tr__console_awaits(&s->con, tr_msg_ref(m))) {
    tr__console_answer(ctx, &s->con, m);
    if (s->con.wait == TR_CWAIT_NONE)
      console_done(ctx, s);
  }
  return 0;
}

static void hs_terminate(tr_ctx_t *ctx, void *state, const tr_reason_t *reason) {
  (void)reason;
  hs_t *s = state;
  tr__console_embed_free(ctx, &s->con);
  tr__text_free(&s->snap);
  free(s->in);
  s->in = NULL;
}

static int hs_inspect(const void *state, msgpack_packer *pk) {
  const hs_t *s = state;
  msgpack_pack_map(pk, 3);
  msgpack_pack_str_with_body(pk, "streaming", 9);
  if (s->sse)
    msgpack_pack_true(pk);
  else
    msgpack_pack_false(pk);
  msgpack_pack_str_with_body(pk, "held_bytes", 10);
  msgpack_pack_uint64(pk, s->in_len);
  msgpack_pack_str_with_body(pk, "waiting", 7);
  if (s->job != JOB_NONE)
    msgpack_pack_true(pk);
  else
    msgpack_pack_false(pk);
  return 0;
}

static const tr_behaviour_t session_behaviour = {.name = "metrics.http",
                                                 .state_size = sizeof(hs_t),
                                                 .init = hs_init,
                                                 .receive = hs_receive,
                                                 .terminate = hs_terminate,
                                                 .inspect = hs_inspect};

int tr_metrics_start(tr_system_t *sys, const char *addr, uint16_t port, tr_listener_t *out) {
  if (!sys)
    return TR_EINVAL;
  tr_atom(sys, "troupe.metrics.tick");
  tr_listen_opts_t o = {.bind = addr, .port = port, .behaviour = &session_behaviour};
  o.conn.codec.kind = TR_CODEC_RAW;
  o.conn.out_limit = OUT_LIMIT;
  return tr__console_serve(sys, "metrics", &o, out);
}

int tr_metrics_start_at(tr_system_t *sys, const char *spec, tr_listener_t *out) {
  char addr[TR_ADDR_MAX];
  uint16_t port;
  int rc = tr__net_split_spec(spec, addr, &port);
  return rc == 0 ? tr_metrics_start(sys, addr, port, out) : rc;
}
