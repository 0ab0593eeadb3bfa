/* One console for the whole cluster: a command that names another node ("actors @b",
 * "info rooms@b") runs there and its answer comes back here.
 *
 * Every node that runs a console also runs its agent: a session actor without a
 * connection, a member of the cluster-wide group TR_CONSOLE_SCOPE named after its node, so
 * another node's console finds it by the node's name. A session that gets such a command
 * asks that agent with tr_request (the line, minus its "@node"); the agent runs it as a
 * JSON session would, into a buffer, and replies with the JSON text, which the asking
 * session shows in its own mode (text or JSON). A node that goes down fails the request at
 * once (the cluster answers pending requests to it). Commands run one at a time in the
 * agent, in the order they came; a command that waits there for an actor's answer (info,
 * state) holds back the next ones, which queue (at most TR_AGENT_QUEUE_MAX).
 *
 * `trace ACTOR@node on` makes the asking session (not the agent) the tracer there: the
 * events go straight over the link, their pids mapped; the agent monitors the session and
 * ends the trace when it goes (its node too). A command for the whole cluster (`stuck`)
 * asks every agent at once and merges their rows with this node's (tr__console_gather). */
#include <string.h>

#include "actors/remote.h"
#include "console/console.h"
#include "troupe/cluster.h"
#include "troupe/group.h"

#define TR_CONSOLE_SCOPE "troupe.console"
#define TR_CONSOLE_RUN "troupe.console.run"
/* How long a session waits for another node's answer: its own inspect timeout, and room
 * for the round trips. */
#define TR_REMOTE_ASK_MS (TR_CONSOLE_ASK_MS + 3000u)
#define TR_AGENT_QUEUE_MAX 256u

typedef struct job {
  tr_pid_t from;
  uint64_t ref;
  char *line;
  struct job *next;
} job_t;

typedef struct {
  tr_csession_t s;
  tr_atom_t run;
  tr_pid_t from; /* the session whose command runs now (none: idle) */
  uint64_t ref;
  job_t *head, *tail;
  uint32_t queued;
} agent_t;

/* The command has answered (into s.capture): send it back and take the next. */
static void finish(tr_ctx_t *ctx, agent_t *a);

static void start(tr_ctx_t *ctx, agent_t *a, tr_pid_t from, uint64_t ref, char *line) {
  a->from = a->s.asker = from;
  a->ref = ref;
  a->s.capture_len = 0;
  tr__console_command(ctx, &a->s, line);
  if (a->s.wait == TR_CWAIT_NONE)
    finish(ctx, a);
}

static void finish(tr_ctx_t *ctx, agent_t *a) {
  for (;;) {
    const char *out = a->s.capture ? a->s.capture : "{\"error\":\"no output\"}";
    size_t n = a->s.capture ? a->s.capture_len : strlen(out);
    while (n && out[n - 1] == '\n')
      n--;
    tr__send(ctx, a->from, TR_ATOM_REPLY, out, n, a->ref, TR_KIND_REPLY);
    a->from = a->s.asker = TR_PID_NONE;
    job_t *j = a->head;
    if (!j)
      return;
    a->head = j->next;
    if (!a->head)
      a->tail = NULL;
    a->queued--;
    a->from = a->s.asker = j->from;
    a->ref = j->ref;
    a->s.capture_len = 0;
    tr__console_command(ctx, &a->s, j->line);
    free(j->line);
    free(j);
    if (a->s.wait != TR_CWAIT_NONE)
      return;
  }
}

static int agent_init(tr_ctx_t *ctx, void *state, const tr_msg_t *init) {
  (void)init;
  agent_t *a = state;
  tr_system_t *sys = tr_ctx_system(ctx);
  a->s.sys = sys;
  a->s.json = true;
  a->s.agent = true;
  a->s.last_ns = sys->start_ns;
  a->run = tr_atom(sys, TR_CONSOLE_RUN);
  const char *node = tr_node_name(sys);
  return node ? tr_group_join(ctx, tr_atom(sys, TR_CONSOLE_SCOPE), node, strlen(node)) : 0;
}

static int agent_receive(tr_ctx_t *ctx, void *state, const tr_msg_t *m) {
  agent_t *a = state;
  tr_atom_t tag = tr_msg_tag(m);
  if (tag == a->run) {
    const char *text;
    size_t n;
    char *line =
        tr_msg_unpack(m, "s", &text, &n) == 0 && n <= TR_CONSOLE_LINE_MAX ? strndup(text, n) : NULL;
    if (!line) {
      const char *bad = "{\"error\":\"bad console request\"}";
      tr__send(ctx, tr_msg_from(m), TR_ATOM_REPLY, bad, strlen(bad), tr_msg_ref(m), TR_KIND_REPLY);
      return 0;
    }
    if (tr_pid_is_none(a->from)) {
      start(ctx, a, tr_msg_from(m), tr_msg_ref(m), line);
      free(line);
      return 0;
    }
    job_t *j = a->queued < TR_AGENT_QUEUE_MAX ? malloc(sizeof *j) : NULL;
    if (!j) {
      free(line);
      const char *busy = "{\"error\":\"the node's console is busy\"}";
      tr__send(ctx, tr_msg_from(m), TR_ATOM_REPLY, busy, strlen(busy), tr_msg_ref(m),
               TR_KIND_REPLY);
      return 0;
    }
    *j = (job_t){tr_msg_from(m), tr_msg_ref(m), line, NULL};
    if (a->tail)
      a->tail->next = j;
    else
      a->head = j;
    a->tail = j;
    a->queued++;
  } else if (tag == TR_ATOM_DOWN) {
    tr__console_tracer_down(ctx, &a->s, m);
  } else if ((tag == TR_ATOM_REPLY || tag == TR_ATOM_TIMEOUT) &&
             tr__console_awaits(&a->s, tr_msg_ref(m))) {
    tr__console_answer(ctx, &a->s, m);
    if (a->s.wait == TR_CWAIT_NONE && !tr_pid_is_none(a->from))
      finish(ctx, a);
  }
  return 0;
}

static void agent_terminate(tr_ctx_t *ctx, void *state, const tr_reason_t *reason) {
  (void)reason;
  agent_t *a = state;
  tr__console_untrace_all(ctx, &a->s);
  while (a->head) {
    job_t *j = a->head;
    a->head = j->next;
    free(j->line);
    free(j);
  }
  free(a->s.capture);
}

static const tr_behaviour_t agent_behaviour = {.name = "console.agent",
                                               .state_size = sizeof(agent_t),
                                               .init = agent_init,
                                               .receive = agent_receive,
                                               .terminate = agent_terminate};

static void agent_spawn(tr_system_t *sys) {
  tr_atom(sys, TR_CONSOLE_RUN);
  tr_atom(sys, TR_CONSOLE_SCOPE);
  if (!tr_pid_is_none(tr_whereis(sys, "troupe.console.agent")))
    return; /* a second console of the same node shares it */
  tr_spawn_opts_t o = {.name = "troupe.console.agent"};
  tr_pid_t pid;
  int rc = tr_spawn_opts(tr_system_ctx(sys), &agent_behaviour, NULL, 0, &o, &pid);
  if (rc != 0 && rc != TR_EEXIST)
    tr_log(TR_LOG_WARN, "console: the other nodes cannot reach this one's actors: %s",
           tr_strerror(rc));
}

int tr__console_agent_start(tr_system_t *sys) {
  /* Now on a node; on a system that becomes one later, then (tr_cluster_start). */
  return tr__on_node(sys, agent_spawn);
}

/* ---- the asking side ---- */

/* Take "@node" out of the line: a word of its own ("actors @b") or the end of the first
 * argument ("info rooms@b"). Returns the node name (in the line), or NULL. */
static char *take_node(char *line) {
  char *p = line;
  while (*p == ' ' || *p == '\t')
    p++;
  while (*p && *p != ' ' && *p != '\t') /* the command itself */
    p++;
  for (bool first = true; *p; first = false) {
    while (*p == ' ' || *p == '\t')
      p++;
    char *w = p;
    while (*p && *p != ' ' && *p != '\t')
      p++;
    char *at = memchr(w, '@', (size_t)(p - w));
    if (!at || (at != w && !first))
      continue;
    size_t n = (size_t)(p - at - 1);
    static _Thread_local char node[TR_NODE_NAME_MAX + 1];
    if (n == 0 || n > TR_NODE_NAME_MAX)
      return NULL;
    memcpy(node, at + 1, n);
    node[n] = '\0';
    memmove(at, p, strlen(p) + 1); /* the line without "@node" */
    return node;
  }
  return NULL;
}

bool tr__console_remote(tr_ctx_t *ctx, tr_csession_t *s, char *line) {
  if (s->agent)
    return false; /* an agent runs what it is given here */
  char *node = take_node(line);
  const char *self = tr_node_name(s->sys);
  s->named_node = node != NULL;
  if (!node || strcmp(node, "local") == 0 || (self && strcmp(node, self) == 0))
    return false;
  if (!self) {
    tr__console_error(ctx, s, "unknown node %.64s (this system is not a node)", node);
    return true;
  }
  if (strncmp(line, "json", 4) == 0) {
    tr__console_error(ctx, s, "json works on this node only");
    return true;
  }
  tr_pid_t agent;
  size_t n = 0;
  tr_atom_t scope = tr_atom_find(s->sys, TR_CONSOLE_SCOPE, strlen(TR_CONSOLE_SCOPE));
  if (!scope || tr_group_members(ctx, scope, node, strlen(node), &agent, 1, &n) != 0 || n == 0) {
    tr__console_error(ctx, s, "no console on node %.64s (not connected, or it runs none)", node);
    return true;
  }
  uint8_t buf[TR_CONSOLE_LINE_MAX + 16];
  size_t len;
  uint64_t ref;
  int rc = tr_pack_into(buf, sizeof buf, &len, "s", line);
  if (rc == 0)
    rc = tr_request(ctx, agent, tr_atom(s->sys, TR_CONSOLE_RUN), buf, len, TR_REMOTE_ASK_MS, &ref);
  if (rc != 0) {
    tr__console_error(ctx, s, "cannot ask node %.64s: %s", node, tr_strerror(rc));
    return true;
  }
  s->wait = TR_CWAIT_REMOTE;
  s->wait_ref = ref;
  snprintf(s->wait_node, sizeof s->wait_node, "%s", node);
  return true;
}

void tr__console_remote_answer(tr_ctx_t *ctx, tr_csession_t *s, const tr_msg_t *m) {
  if (tr_msg_tag(m) == TR_ATOM_TIMEOUT) {
    tr__console_error(ctx, s, "no answer from node %s (it went down, or is busy)", s->wait_node);
    return;
  }
  size_t len;
  const char *data = tr_msg_data(m, &len);
  json_error_t err;
  json_t *doc = data ? json_loadb(data, len, 0, &err) : NULL;
  if (!doc) {
    tr__console_error(ctx, s, "node %s sent an answer that is not JSON", s->wait_node);
    return;
  }
  if (json_is_object(doc))
    json_object_set_new(doc, "node", json_string(s->wait_node));
  tr__console_reply(ctx, s, doc);
}

/* ---- every node at once ---- */

typedef struct tr_cgather {
  uint64_t ref; /* 0: answered */
  char node[TR_NODE_NAME_MAX + 1];
} tr_cgather_t;

typedef struct {
  tr_ctx_t *ctx;
  tr_csession_t *s;
  tr_atom_t scope, run;
  const uint8_t *req;
  size_t req_len, cap;
} ask_all_t;

static void unreachable(tr_csession_t *s, const char *node, const char *why) {
  json_t *v = json_object_get(s->gather, "unreachable");
  if (!v) {
    v = json_array();
    json_object_set_new(s->gather, "unreachable", v);
  }
  json_array_append_new(v, json_pack("{s:s,s:s}", "node", node, "error", why));
}

static int ask_one(const tr_group_info_t *g, void *arg) {
  ask_all_t *q = arg;
  tr_csession_t *s = q->s;
  const char *self = tr_node_name(s->sys);
  if (g->len == 0 || g->len > TR_NODE_NAME_MAX ||
      (strlen(self) == g->len && memcmp(g->name, self, g->len) == 0))
    return 0;
  tr_pid_t agent;
  size_t n = 0;
  if (tr_group_members(q->ctx, q->scope, g->name, g->len, &agent, 1, &n) != 0 || n == 0)
    return 0;
  if (s->gather_n == q->cap) {
    size_t cap = q->cap ? 2 * q->cap : 8;
    tr_cgather_t *v = realloc(s->gather_refs, cap * sizeof *v);
    if (!v)
      return 1; /* the nodes asked so far answer; the rest are not asked */
    s->gather_refs = v;
    q->cap = cap;
  }
  tr_cgather_t *e = &s->gather_refs[s->gather_n];
  memcpy(e->node, g->name, g->len);
  e->node[g->len] = '\0';
  int rc = tr_request(q->ctx, agent, q->run, q->req, q->req_len, TR_REMOTE_ASK_MS, &e->ref);
  if (rc != 0) {
    unreachable(s, e->node, tr_strerror(rc));
    return 0;
  }
  s->gather_n++;
  s->gather_left++;
  return 0;
}

static _Thread_local const char *tl_field;

static int by_field(const void *x, const void *y) {
  json_int_t a = json_integer_value(json_object_get(*(json_t *const *)x, tl_field));
  json_int_t b = json_integer_value(json_object_get(*(json_t *const *)y, tl_field));
  return a < b ? 1 : a > b ? -1 : 0;
}

/* The merged rows in the sort order, at most gather_limit of them. */
static void order_rows(tr_csession_t *s, json_t *rows) {
  size_t n = json_array_size(rows);
  json_t **v = n ? malloc(n * sizeof *v) : NULL;
  if (!v)
    return;
  for (size_t i = 0; i < n; i++)
    v[i] = json_incref(json_array_get(rows, i));
  if (s->gather_sort) {
    tl_field = s->gather_sort;
    qsort(v, n, sizeof *v, by_field);
  }
  json_array_clear(rows);
  for (size_t i = 0; i < n; i++)
    if (i < s->gather_limit)
      json_array_append_new(rows, v[i]);
    else
      json_decref(v[i]);
  free(v);
}

static void gather_done(tr_ctx_t *ctx, tr_csession_t *s) {
  json_t *doc = s->gather;
  s->gather = NULL;
  order_rows(s, json_object_get(doc, s->gather_key));
  if (json_array_size(json_object_get(doc, s->gather_key)) > 0)
    json_object_del(doc, "message"); /* "none here" said before the others answered */
  tr__console_gather_free(s);
  tr__console_reply(ctx, s, doc);
}

void tr__console_gather(tr_ctx_t *ctx, tr_csession_t *s, const char *line, const char *key,
                        json_t *doc) {
  const char *self = tr_node_name(s->sys);
  json_t *rows = json_object_get(doc, key), *row;
  size_t i;
  json_array_foreach(rows, i, row) json_object_set_new(row, "node", json_string(self));
  uint8_t buf[TR_CONSOLE_LINE_MAX + 16];
  size_t len;
  tr_atom_t scope = tr_atom_find(s->sys, TR_CONSOLE_SCOPE, strlen(TR_CONSOLE_SCOPE));
  tr__console_gather_free(s);
  s->gather = doc;
  s->gather_key = key;
  if (scope && tr_pack_into(buf, sizeof buf, &len, "s", line) == 0) {
    ask_all_t q = {ctx, s, scope, tr_atom(s->sys, TR_CONSOLE_RUN), buf, len, 0};
    tr_group_foreach(ctx, scope, ask_one, &q);
  }
  if (s->gather_left == 0) {
    gather_done(ctx, s);
    return;
  }
  s->wait = TR_CWAIT_ALL;
}

bool tr__console_awaits(const tr_csession_t *s, uint64_t ref) {
  if (s->wait == TR_CWAIT_NONE || ref == 0)
    return false; /* 0: a receive timeout, or a gathered node that answered */
  if (s->wait != TR_CWAIT_ALL)
    return ref == s->wait_ref;
  for (uint32_t i = 0; i < s->gather_n; i++)
    if (s->gather_refs[i].ref == ref)
      return true;
  return false;
}

void tr__console_gather_answer(tr_ctx_t *ctx, tr_csession_t *s, const tr_msg_t *m) {
  tr_cgather_t *e = NULL;
  for (uint32_t i = 0; i < s->gather_n && !e; i++)
    if (s->gather_refs[i].ref == tr_msg_ref(m))
      e = &s->gather_refs[i];
  if (!e) {
    s->wait = TR_CWAIT_ALL;
    return;
  }
  e->ref = 0;
  size_t len;
  const char *data = tr_msg_tag(m) == TR_ATOM_TIMEOUT ? NULL : tr_msg_data(m, &len);
  json_error_t err;
  json_t *doc = data ? json_loadb(data, len, 0, &err) : NULL;
  json_t *rows = doc ? json_object_get(doc, s->gather_key) : NULL;
  if (json_is_array(rows)) {
    json_t *total = json_object_get(s->gather, "total");
    if (total) /* `actors`: every node's count */
      json_integer_set(total, json_integer_value(total) +
                                  json_integer_value(json_object_get(doc, "total")));
    json_t *all = json_object_get(s->gather, s->gather_key), *row;
    size_t i;
    json_array_foreach(rows, i, row) {
      json_object_set_new(row, "node", json_string(e->node));
      json_array_append(all, row);
    }
  } else {
    const char *why = json_string_value(json_object_get(doc, "error"));
    unreachable(s, e->node, why ? why : data ? "a bad answer" : "no answer (down, or busy)");
  }
  json_decref(doc);
  if (--s->gather_left == 0)
    gather_done(ctx, s);
  else
    s->wait = TR_CWAIT_ALL;
}

void tr__console_gather_free(tr_csession_t *s) {
  json_decref(s->gather);
  s->gather = NULL;
  free(s->gather_refs);
  s->gather_refs = NULL;
  s->gather_n = s->gather_left = 0;
}
