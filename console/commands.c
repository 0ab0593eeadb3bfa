/* The console's commands. Each builds one reply document (console_json.c renders it as text
 * or JSON); state and info ask the actor itself with an INSPECT signal (actors/debug.c) and
 * answer when its reply arrives, so nothing here reads another actor's owner-only data. */
#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "console/console.h"
#include "net/net.h"
#include "troupe/cluster.h"

/* Bytes of a tag named by `send`: atoms from the network are interned here only because the
 * console is a trusted local interface, and even so each is bounded. */
#define TAG_MAX 64u

static const char *const help_lines[] = {
    "commands (one per line; each reply ends with a line holding only \".\","
    " a reply line starting with \".\" gets another \".\" in front):",
    "  help                              this list",
    "  stats                             scheduler and system counters, messages/s",
    "  actors [--sort mailbox|msgs|time] [--limit N] [--cluster]   live actors (of every",
    "                                    node with --cluster, each row with its node)",
    "  info ACTOR                        one actor: counters, links, monitors, timers",
    "  state ACTOR                       the actor's own description (its inspect callback)",
    "  names                             registered names",
    "  groups                            process groups",
    "  conns                             open TCP connections",
    "  nodes                             this node and its links to the cluster's others",
    "  send ACTOR TAG JSON               send a message (JSON becomes msgpack; TAG known here)",
    "  kill ACTOR [normal|shutdown|killed|TEXT]   send an exit signal (default killed)",
    "  trace ACTOR on|off                live events, as lines \"trace ...\" between replies",
    "  stuck [MS]                        actors running or waiting longer than MS (1000),",
    "                                    on every node of the cluster (@node: that one only)",
    "  json on|off                       one single-line JSON document per reply",
    "ACTOR: a pid in hex (0x optional) or a registered name, optionally with @node;",
    "any command but json runs on another node of the cluster with @node",
    "  (\"actors @b\", \"info rooms@b\"); that node must run a console too",
};

static const char *status_name(tr_status_t st) {
  switch (st) {
  case TR_STATUS_RUNNING:
    return "running";
  case TR_STATUS_RUNNABLE:
    return "runnable";
  case TR_STATUS_EXITING:
    return "exiting";
  default:
    return "waiting";
  }
}

/* The next space-separated word of *p (NULL at the end); *p moves past it. */
static char *word(char **p) {
  char *s = *p;
  while (*s == ' ' || *s == '\t')
    s++;
  if (!*s)
    return NULL;
  char *w = s;
  while (*s && *s != ' ' && *s != '\t')
    s++;
  if (*s)
    *s++ = '\0';
  *p = s;
  return w;
}

/* Resolve ACTOR to a live actor's info. Returns false after sending the error reply. */
static bool resolve(tr_ctx_t *ctx, tr_csession_t *s, char *id, tr_actor_info_t *info) {
  if (!id) {
    tr__console_error(ctx, s, "missing actor");
    return false;
  }
  char *at = strchr(id, '@');
  if (at) {
    *at++ = '\0';
    if (strcmp(at, "local") != 0) {
      tr__console_error(ctx, s, "unknown node %.64s", at);
      return false;
    }
  }
  tr_pid_t pid = strlen(id) <= TR_NAME_MAX ? tr_whereis(s->sys, id) : TR_PID_NONE;
  if (tr_pid_is_none(pid)) {
    const char *h = strncasecmp(id, "0x", 2) == 0 ? id + 2 : id;
    char *end;
    size_t n = strlen(h);
    unsigned long long v =
        n && n <= 16 && strspn(h, "0123456789abcdefABCDEF") == n ? strtoull(h, &end, 16) : 0;
    pid.id = v;
  }
  if (tr_pid_is_none(pid) || tr_actor_info(s->sys, pid, info) != 0) {
    tr__console_error(ctx, s, "unknown actor %.80s", id);
    return false;
  }
  return true;
}

/* "muted": the pid of the full mailbox the actor waits on (overload policy), or "-". */
static json_t *actor_row(const tr_actor_info_t *a) {
  return json_pack("{s:o,s:s,s:s,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:s,s:o}", "pid", tr__json_pid(a->pid),
                   "name", a->name[0] ? a->name : "-", "behaviour", a->behaviour, "mailbox",
                   (json_int_t)a->mailbox, "hwm", (json_int_t)a->mailbox_hwm, "waiting_ms",
                   (json_int_t)a->waiting_ms, "running_ms", (json_int_t)a->running_ms, "in",
                   (json_int_t)a->msgs_in, "out", (json_int_t)a->msgs_out, "run_ms",
                   (json_int_t)(a->run_ns / 1000000u), "status", status_name(a->status), "muted",
                   a->muted ? tr__json_pid(a->muted_by) : json_string("-"));
}

/* ---- actors, stuck ---- */

typedef struct {
  tr_actor_info_t *v;
  size_t n, cap;
  bool oom;
} infos_t;

static int collect(const tr_actor_info_t *info, void *arg) {
  infos_t *l = arg;
  if (l->n == l->cap) {
    size_t cap = l->cap ? 2 * l->cap : 64;
    tr_actor_info_t *v = realloc(l->v, cap * sizeof *v);
    if (!v) {
      l->oom = true;
      return 1;
    }
    l->v = v;
    l->cap = cap;
  }
  l->v[l->n++] = *info;
  return 0;
}

/* qsort has no context argument: the key of the sort running on this thread. */
static _Thread_local int tl_sort_key;

static int by_key(const void *x, const void *y) {
  const tr_actor_info_t *a = x, *b = y;
  uint64_t ka = tl_sort_key == 0 ? a->mailbox : tl_sort_key == 1 ? a->msgs_in : a->run_ns;
  uint64_t kb = tl_sort_key == 0 ? b->mailbox : tl_sort_key == 1 ? b->msgs_in : b->run_ns;
  return ka < kb ? 1 : ka > kb ? -1 : (a->pid.id > b->pid.id) - (a->pid.id < b->pid.id);
}

static void cmd_actors(tr_ctx_t *ctx, tr_csession_t *s, char *args, bool stuck) {
  uint64_t limit = TR_CONSOLE_ROWS_DEFAULT, min_ms = 1000;
  int key = -1;
  bool cluster = stuck; /* stuck looks everywhere; actors with --cluster */
  for (char *w; (w = word(&args)) != NULL;) {
    if (!stuck && strcmp(w, "--cluster") == 0) {
      cluster = true;
      continue;
    }
    char *v = stuck ? w : word(&args), *end = NULL;
    if (stuck || strcmp(w, "--limit") == 0) {
      unsigned long long n = v ? strtoull(v, &end, 10) : 0;
      if (!v || *end || *v == '-') {
        tr__console_error(ctx, s, "expected a number, got %.40s", v ? v : "nothing");
        return;
      }
      *(stuck ? &min_ms : &limit) = n;
    } else if (strcmp(w, "--sort") == 0 && v &&
               (key = !strcmp(v, "mailbox") ? 0
                      : !strcmp(v, "msgs")  ? 1
                      : !strcmp(v, "time")  ? 2
                                            : -2) >= 0) {
    } else {
      tr__console_error(ctx, s, "usage: actors [--sort mailbox|msgs|time] [--limit N] [--cluster]");
      return;
    }
  }
  infos_t l = {0};
  tr_actor_foreach(s->sys, collect, &l);
  if (key >= 0) {
    tl_sort_key = key;
    qsort(l.v, l.n, sizeof *l.v, by_key);
  }
  json_t *rows = json_array();
  size_t shown = 0;
  for (size_t i = 0; rows && i < l.n && shown < limit; i++) {
    const tr_actor_info_t *a = &l.v[i];
    if (stuck && a->running_ms <= min_ms && a->waiting_ms <= min_ms)
      continue;
    json_array_append_new(rows, actor_row(a));
    shown++;
  }
  free(l.v);
  json_t *doc = stuck ? json_pack("{s:I,s:o}", "threshold_ms", (json_int_t)min_ms, "stuck", rows)
                      : json_pack("{s:I,s:o}", "total", (json_int_t)l.n, "actors", rows);
  if (stuck && json_array_size(rows) == 0)
    json_object_set_new(doc, "message", json_string("no actor is stuck"));
  if (cluster && !s->agent && !s->named_node && tr_node_name(s->sys)) {
    /* The whole cluster: every node's rows, each with its node, merged in the sort order
     * and cut at the limit again. */
    static const char *const keys[] = {"mailbox", "msgs", "time"}, *const fields[] = {
                                                                       "mailbox", "in", "run_ms"};
    char line[96];
    if (stuck)
      snprintf(line, sizeof line, "stuck %llu", (unsigned long long)min_ms);
    else
      snprintf(line, sizeof line, "actors --limit %llu%s%s", (unsigned long long)limit,
               key >= 0 ? " --sort " : "", key >= 0 ? keys[key] : "");
    s->gather_sort = key >= 0 ? fields[key] : NULL;
    s->gather_limit = stuck ? SIZE_MAX : (size_t)limit;
    tr__console_gather(ctx, s, line, stuck ? "stuck" : "actors", doc);
    return;
  }
  tr__console_reply(ctx, s, doc);
}

/* ---- stats, names, groups, conns ---- */

static void cmd_stats(tr_ctx_t *ctx, tr_csession_t *s) {
  tr_stats_t st;
  tr_system_stats(s->sys, &st);
  uint64_t now = tr__now_ns(), dt = now - s->last_ns;
  double rate = dt ? (double)(st.messages - s->last_msgs) * 1e9 / (double)dt : 0.0;
  s->last_ns = now;
  s->last_msgs = st.messages;
  json_t *doc = json_pack("{s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:f,s:I,s:I}", "workers",
                          (json_int_t)st.workers, "actors", (json_int_t)st.actors, "spawned",
                          (json_int_t)st.spawned, "exited", (json_int_t)st.exited, "messages",
                          (json_int_t)st.messages, "turns", (json_int_t)st.turns, "steals",
                          (json_int_t)st.steals, "parks", (json_int_t)st.parks, "injected",
                          (json_int_t)st.injected, "dead_letters", (json_int_t)st.dead_letters,
                          "messages_per_s", rate, "memory", (json_int_t)st.memory, "uptime_ms",
                          (json_int_t)((now - s->sys->start_ns) / 1000000u));
  tr__console_reply(ctx, s, doc);
}

static int collect_named(const tr_actor_info_t *info, void *arg) {
  return info->name[0] ? collect(info, arg) : 0;
}

static void cmd_names(tr_ctx_t *ctx, tr_csession_t *s) {
  infos_t l = {0};
  tr_actor_foreach(s->sys, collect_named, &l);
  json_t *rows = json_array();
  for (size_t i = 0; rows && i < l.n; i++)
    json_array_append_new(rows, json_pack("{s:s,s:o,s:s}", "name", l.v[i].name, "pid",
                                          tr__json_pid(l.v[i].pid), "behaviour", l.v[i].behaviour));
  free(l.v);
  json_t *doc = json_pack("{s:o}", "names", rows);
  if (json_array_size(rows) == 0)
    json_object_set_new(doc, "message", json_string("no registered names"));
  tr__console_reply(ctx, s, doc);
}

/* Rows of `groups`: scope, name (as text when it is printable, else hex) and members. */
typedef struct {
  json_t *rows;
  const char *scope;
  size_t shown;
} group_rows_t;

static int add_group_row(const tr_group_info_t *g, void *arg) {
  group_rows_t *r = arg;
  if (r->shown++ >= TR_CONSOLE_ROWS_DEFAULT)
    return 1;
  json_t *name = tr__json_bytes(g->name, g->len);
  json_array_append_new(r->rows, json_pack("{s:s,s:o,s:I}", "scope", r->scope, "name", name,
                                           "members", (json_int_t)g->members));
  return 0;
}

static void cmd_groups(tr_ctx_t *ctx, tr_csession_t *s) {
  tr_atom_t scopes[TR_GROUP_SCOPES_MAX];
  size_t n = tr_group_scopes(ctx, scopes, TR_GROUP_SCOPES_MAX), total = 0;
  group_rows_t r = {.rows = json_array()};
  for (size_t i = 0; r.rows && i < n && i < TR_GROUP_SCOPES_MAX; i++) {
    const char *name = scopes[i] ? tr_atom_name(s->sys, scopes[i]) : "default";
    r.scope = name ? name : "?";
    total += tr_group_foreach(ctx, scopes[i], add_group_row, &r);
  }
  json_t *doc = json_pack("{s:I,s:o}", "total", (json_int_t)total, "groups", r.rows);
  if (total == 0)
    json_object_set_new(doc, "message", json_string("no process groups"));
  tr__console_reply(ctx, s, doc);
}

static void cmd_conns(tr_ctx_t *ctx, tr_csession_t *s) {
  size_t cap = 256, total = 0;
  tr_conn_info_t *v = malloc(cap * sizeof *v);
  int rc = v ? tr__net_conns(ctx, v, cap, &total) : TR_ENOMEM;
  if (rc != 0) {
    free(v);
    tr__console_error(ctx, s, "cannot list connections: %s", tr_strerror(rc));
    return;
  }
  json_t *rows = json_array();
  for (size_t i = 0; rows && i < total && i < cap; i++)
    json_array_append_new(
        rows,
        json_pack("{s:I,s:o,s:s,s:s,s:I,s:I,s:I,s:s}", "id", (json_int_t)v[i].id, "owner",
                  tr__json_pid(v[i].owner), "peer", v[i].peer, "local", v[i].local, "bytes_in",
                  (json_int_t)v[i].bytes_in, "bytes_out", (json_int_t)v[i].bytes_out, "buffered",
                  (json_int_t)v[i].buffered, "state", v[i].dialing ? "dialing" : "open"));
  free(v);
  tr__console_reply(ctx, s, json_pack("{s:I,s:o}", "total", (json_int_t)total, "conns", rows));
}

static const char *link_state(tr_link_state_t st) {
  return st == TR_LINK_UP ? "up" : st == TR_LINK_CONNECTING ? "connecting" : "down";
}

static void cmd_nodes(tr_ctx_t *ctx, tr_csession_t *s) {
  const char *self = tr_node_name(s->sys);
  if (!self) {
    json_t *doc = json_pack("{s:I,s:[]}", "total", (json_int_t)0, "nodes");
    json_object_set_new(doc, "message", json_string("not a node (see tr_cluster_start)"));
    tr__console_reply(ctx, s, doc);
    return;
  }
  size_t cap = 64, total = 0;
  tr_link_info_t *v = malloc(cap * sizeof *v);
  int rc = v ? tr_cluster_links(s->sys, v, cap, &total) : TR_ENOMEM;
  if (rc != 0) {
    free(v);
    tr__console_error(ctx, s, "cannot list the links: %s", tr_strerror(rc));
    return;
  }
  json_t *rows = json_array();
  for (size_t i = 0; rows && i < total && i < cap; i++) {
    const tr_link_info_t *l = &v[i];
    char inc[20];
    snprintf(inc, sizeof inc, "%016llx", (unsigned long long)l->incarnation);
    json_t *row = json_pack(
        "{s:s,s:s,s:s,s:s,s:b,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:s}", "name", l->name,
        "addr", l->addr, "state", link_state(l->state), "incarnation", inc, "dialled", l->dialled,
        "rtt_us", (json_int_t)l->rtt_us, "bytes_in", (json_int_t)l->bytes_in, "bytes_out",
        (json_int_t)l->bytes_out, "frames_in", (json_int_t)l->frames_in, "frames_out",
        (json_int_t)l->frames_out, "queue", (json_int_t)l->queue_bytes, "muted",
        (json_int_t)l->muted, "dropped_down", (json_int_t)l->dropped_down, "dropped_full",
        (json_int_t)l->dropped_full, "dropped_unknown", (json_int_t)l->dropped_unknown,
        "reconnects", (json_int_t)l->reconnects, "last_down", tr_down_reason_name(l->last_down));
    json_array_append_new(rows, row);
  }
  free(v);
  tr_cluster_stats_t st = {0};
  tr_cluster_stats(s->sys, &st);
  tr__console_reply(ctx, s,
                    json_pack("{s:s,s:I,s:I,s:I,s:I,s:o}", "node", self, "port",
                              (json_int_t)tr_cluster_port(s->sys), "total", (json_int_t)total,
                              "refused_auth", (json_int_t)st.refused_auth, "dead_noconn",
                              (json_int_t)st.dead_noconn, "nodes", rows));
}

/* ---- send, kill, trace ---- */

static void cmd_send(tr_ctx_t *ctx, tr_csession_t *s, char *args) {
  tr_actor_info_t info;
  char *id = word(&args), *tag = word(&args);
  if (!resolve(ctx, s, id, &info))
    return;
  if (!tag || strlen(tag) > TAG_MAX) {
    tr__console_error(ctx, s, "usage: send ACTOR TAG JSON (a tag of 1..%u bytes)", TAG_MAX);
    return;
  }
  json_error_t err;
  json_t *j = json_loads(args, JSON_DECODE_ANY, &err);
  if (!j) {
    tr__console_error(ctx, s, "bad JSON: %s", err.text);
    return;
  }
  msgpack_sbuffer sb;
  msgpack_sbuffer_init(&sb);
  int rc = tr__json_to_msgpack(j, &sb);
  json_decref(j);
  /* Looked up, never interned: what a client types must not grow the atom table (which
   * never shrinks). A tag no code of this node has made is one no actor here handles. */
  tr_atom_t atom = rc == 0 ? tr_atom_find(s->sys, tag, strlen(tag)) : 0;
  if (rc == 0 && !atom) {
    msgpack_sbuffer_destroy(&sb);
    tr__console_error(ctx, s, "unknown tag %s (no actor of this node uses it)", tag);
    return;
  }
  if (rc == 0)
    rc = tr_send(ctx, info.pid, atom, sb.data, sb.size);
  msgpack_sbuffer_destroy(&sb);
  if (rc != 0) {
    tr__console_error(ctx, s, "cannot send: %s", tr_strerror(rc));
    return;
  }
  /* A handler's sends are gathered until it returns; the reply goes to the socket at once.
   * Push the message now, so that "sent" means it is in the mailbox (or on the link). */
  tr__outbox_done(ctx);
  char text[160];
  snprintf(text, sizeof text, "sent %s to 0x%" PRIx64, tag, info.pid.id);
  tr__console_reply(ctx, s, json_pack("{s:s}", "message", text));
}

static void cmd_kill(tr_ctx_t *ctx, tr_csession_t *s, char *args) {
  tr_actor_info_t info;
  if (!resolve(ctx, s, word(&args), &info))
    return;
  while (*args == ' ')
    args++;
  tr_reason_t r;
  if (!*args || strcmp(args, "killed") == 0)
    tr_reason_set(&r, TR_REASON_KILLED, 0, "killed from the console");
  else if (strcmp(args, "normal") == 0)
    tr_reason_set(&r, TR_REASON_NORMAL, 0, NULL);
  else if (strcmp(args, "shutdown") == 0)
    tr_reason_set(&r, TR_REASON_SHUTDOWN, 0, NULL);
  else
    tr_reason_set(&r, TR_REASON_ERROR, 0, args);
  int rc = tr_exit(ctx, info.pid, &r);
  if (rc != 0) {
    tr__console_error(ctx, s, "cannot kill: %s", tr_strerror(rc));
    return;
  }
  char text[160];
  snprintf(text, sizeof text, "exit signal (%s) sent to 0x%" PRIx64, tr_reason_kind_name(r.kind),
           info.pid.id);
  tr__console_reply(ctx, s, json_pack("{s:s}", "message", text));
}

static int traced_at(const tr_csession_t *s, tr_pid_t pid, tr_pid_t tracer) {
  for (uint32_t i = 0; i < s->ntraced; i++)
    if (tr_pid_eq(s->traced[i], pid) && tr_pid_eq(s->tracers[i], tracer))
      return (int)i;
  return -1;
}

static void untrace_at(tr_ctx_t *ctx, tr_csession_t *s, uint32_t at) {
  tr_trace(ctx, s->traced[at], s->tracers[at], false);
  if (s->trace_mon[at])
    tr_demonitor(ctx, s->trace_mon[at]);
  uint32_t last = --s->ntraced;
  s->traced[at] = s->traced[last];
  s->tracers[at] = s->tracers[last];
  s->trace_mon[at] = s->trace_mon[last];
}

/* The events go to the session itself or, run by the agent for another node's session,
 * straight to that session over the link (tr_trace maps the pids). */
static void cmd_trace(tr_ctx_t *ctx, tr_csession_t *s, char *args) {
  tr_actor_info_t info;
  if (!resolve(ctx, s, word(&args), &info))
    return;
  char *mode = word(&args);
  bool on = mode && strcmp(mode, "on") == 0;
  if (!mode || (!on && strcmp(mode, "off") != 0)) {
    tr__console_error(ctx, s, "usage: trace ACTOR on|off");
    return;
  }
  tr_pid_t tracer = s->agent ? s->asker : tr_self(ctx);
  int at = traced_at(s, info.pid, tracer);
  if (on && at < 0 && s->ntraced == TR_CONSOLE_TRACE_MAX) {
    tr__console_error(ctx, s, "tracing %u actors already%s", TR_CONSOLE_TRACE_MAX,
                      s->agent ? " for other nodes" : "");
    return;
  }
  uint64_t mon = 0;
  int rc = on && at < 0 && s->agent ? tr_monitor(ctx, tracer, &mon) : 0;
  if (rc == 0)
    rc = tr_trace(ctx, info.pid, tracer, on);
  if (rc != 0) {
    if (mon)
      tr_demonitor(ctx, mon);
    tr__console_error(ctx, s, "cannot trace: %s", tr_strerror(rc));
    return;
  }
  if (on && at < 0) {
    s->traced[s->ntraced] = info.pid;
    s->tracers[s->ntraced] = tracer;
    s->trace_mon[s->ntraced++] = mon;
  } else if (!on && at >= 0) {
    untrace_at(ctx, s, (uint32_t)at);
  }
  char text[160];
  snprintf(text, sizeof text, "tracing 0x%" PRIx64 " %s", info.pid.id, on ? "on" : "off");
  tr__console_reply(ctx, s, json_pack("{s:s}", "message", text));
}

void tr__console_tracer_down(tr_ctx_t *ctx, tr_csession_t *s, const tr_msg_t *m) {
  tr_down_t d;
  if (tr_msg_down(m, &d) != 0)
    return;
  for (uint32_t i = 0; i < s->ntraced; i++)
    if (s->trace_mon[i] == d.ref) {
      s->trace_mon[i] = 0; /* fired: nothing to remove */
      untrace_at(ctx, s, i);
      return;
    }
}

void tr__console_untrace_all(tr_ctx_t *ctx, tr_csession_t *s) {
  while (s->ntraced)
    untrace_at(ctx, s, s->ntraced - 1);
}

/* ---- state and info: asked of the actor ---- */

static void ask(tr_ctx_t *ctx, tr_csession_t *s, char *args, int what) {
  tr_actor_info_t info;
  if (!resolve(ctx, s, word(&args), &info))
    return;
  uint64_t ref;
  int rc = tr__inspect(ctx, info.pid, what == TR_CWAIT_INFO ? TR_INSPECT_META : TR_INSPECT_STATE,
                       TR_CONSOLE_ASK_MS, &ref);
  if (rc != 0) {
    tr__console_error(ctx, s,
                      rc == TR_ENOENT ? "unknown actor 0x%" PRIx64 : "cannot ask 0x%" PRIx64,
                      info.pid.id);
    return;
  }
  s->wait = what;
  s->wait_ref = ref;
  s->wait_info = info;
}

void tr__console_answer(tr_ctx_t *ctx, tr_csession_t *s, const tr_msg_t *m) {
  int what = s->wait;
  s->wait = TR_CWAIT_NONE;
  if (what == TR_CWAIT_ALL) {
    tr__console_gather_answer(ctx, s, m);
    return;
  }
  if (what == TR_CWAIT_REMOTE) {
    tr__console_remote_answer(ctx, s, m);
    return;
  }
  const tr_actor_info_t *a = &s->wait_info;
  if (tr_msg_tag(m) == TR_ATOM_TIMEOUT) {
    tr__console_error(ctx, s, "no answer from 0x%" PRIx64 " within %u ms (busy or exited)",
                      a->pid.id, TR_CONSOLE_ASK_MS);
    return;
  }
  size_t len;
  const void *data = tr_msg_data(m, &len);
  json_t *v = data ? tr__json_from_msgpack(data, len) : NULL;
  if (!v)
    v = json_null();
  if (what == TR_CWAIT_STATE) {
    tr__console_reply(ctx, s,
                      json_pack("{s:o,s:s,s:o}", "pid", tr__json_pid(a->pid), "name",
                                a->name[0] ? a->name : "-", "state", v));
    return;
  }
  json_t *doc = actor_row(a);
  json_object_set_new(doc, "hwm", json_integer((json_int_t)a->mailbox_hwm));
  /* The overload policy of its mailbox, and what it did (docs/overload.md). */
  json_object_set_new(doc, "policy", json_string(tr_overload_name(a->policy)));
  json_object_set_new(doc, "high_water", json_integer((json_int_t)a->high_water));
  json_object_set_new(doc, "low_water", json_integer((json_int_t)a->low_water));
  json_object_set_new(doc, "mutes", json_integer((json_int_t)a->mutes));
  json_object_set_new(doc, "dropped", json_integer((json_int_t)a->dropped));
  json_object_set_new(doc, "refused", json_integer((json_int_t)a->refused));
  const char *k;
  json_t *x;
  json_object_foreach(v, k, x) {
    if (strcmp(k, "supervisor") == 0 && json_is_integer(x)) {
      json_object_set_new(doc, k, tr__json_addr(s->sys, (uint64_t)json_integer_value(x)));
    } else if (json_is_array(x) &&
               (!strcmp(k, "linked") || !strcmp(k, "monitoring") || !strcmp(k, "watched_by"))) {
      json_t *pids = json_array(), *p;
      size_t i;
      json_array_foreach(x, i, p)
          json_array_append_new(pids, tr__json_addr(s->sys, (uint64_t)json_integer_value(p)));
      json_object_set_new(doc, k, pids);
    } else {
      json_object_set(doc, k, x);
    }
  }
  json_decref(v);
  tr__console_reply(ctx, s, doc);
}

/* ---- dispatch ---- */

static void cmd_json(tr_ctx_t *ctx, tr_csession_t *s, char *args) {
  char *mode = word(&args);
  if (!mode || (strcmp(mode, "on") != 0 && strcmp(mode, "off") != 0)) {
    tr__console_error(ctx, s, "usage: json on|off");
    return;
  }
  s->json = strcmp(mode, "on") == 0;
  tr__console_reply(ctx, s, json_pack("{s:b}", "json", s->json));
}

static void cmd_help(tr_ctx_t *ctx, tr_csession_t *s) {
  json_t *lines = json_array();
  for (size_t i = 0; lines && i < sizeof help_lines / sizeof help_lines[0]; i++)
    json_array_append_new(lines, json_string(help_lines[i]));
  tr__console_reply(ctx, s, json_pack("{s:o}", "help", lines));
}

void tr__console_command(tr_ctx_t *ctx, tr_csession_t *s, char *line) {
  if (tr__console_remote(ctx, s, line))
    return; /* it names another node: asked there */
  char *args = line;
  char *cmd = word(&args);
  if (!cmd)
    return; /* an empty line asks nothing */
  if (!strcmp(cmd, "help"))
    cmd_help(ctx, s);
  else if (!strcmp(cmd, "stats"))
    cmd_stats(ctx, s);
  else if (!strcmp(cmd, "actors"))
    cmd_actors(ctx, s, args, false);
  else if (!strcmp(cmd, "stuck"))
    cmd_actors(ctx, s, args, true);
  else if (!strcmp(cmd, "info"))
    ask(ctx, s, args, TR_CWAIT_INFO);
  else if (!strcmp(cmd, "state"))
    ask(ctx, s, args, TR_CWAIT_STATE);
  else if (!strcmp(cmd, "names"))
    cmd_names(ctx, s);
  else if (!strcmp(cmd, "groups"))
    cmd_groups(ctx, s);
  else if (!strcmp(cmd, "conns"))
    cmd_conns(ctx, s);
  else if (!strcmp(cmd, "nodes"))
    cmd_nodes(ctx, s);
  else if (!strcmp(cmd, "send"))
    cmd_send(ctx, s, args);
  else if (!strcmp(cmd, "kill"))
    cmd_kill(ctx, s, args);
  else if (!strcmp(cmd, "trace"))
    cmd_trace(ctx, s, args);
  else if (!strcmp(cmd, "json"))
    cmd_json(ctx, s, args);
  else
    tr__console_error(ctx, s, "unknown command %.40s (try help)", cmd);
}
