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
 * state) holds back the next ones, which queue (at most TR_AGENT_QUEUE_MAX). */
#include <string.h>

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
  a->from = from;
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
    a->from = TR_PID_NONE;
    job_t *j = a->head;
    if (!j)
      return;
    a->head = j->next;
    if (!a->head)
      a->tail = NULL;
    a->queued--;
    a->from = j->from;
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
  } else if ((tag == TR_ATOM_REPLY || tag == TR_ATOM_TIMEOUT) && a->s.wait != TR_CWAIT_NONE &&
             tr_msg_ref(m) == a->s.wait_ref) {
    tr__console_answer(ctx, &a->s, m);
    if (a->s.wait == TR_CWAIT_NONE && !tr_pid_is_none(a->from))
      finish(ctx, a);
  }
  return 0;
}

static void agent_terminate(tr_ctx_t *ctx, void *state, const tr_reason_t *reason) {
  (void)ctx;
  (void)reason;
  agent_t *a = state;
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

int tr__console_agent_start(tr_system_t *sys) {
  if (!tr_node_name(sys))
    return 0; /* alone: nobody else to ask it */
  tr_atom(sys, TR_CONSOLE_RUN);
  tr_atom(sys, TR_CONSOLE_SCOPE);
  if (!tr_pid_is_none(tr_whereis(sys, "troupe.console.agent")))
    return 0; /* a second console of the same node shares it */
  tr_spawn_opts_t o = {.name = "troupe.console.agent"};
  tr_pid_t pid;
  int rc = tr_spawn_opts(tr_system_ctx(sys), &agent_behaviour, NULL, 0, &o, &pid);
  return rc == TR_EEXIST ? 0 : rc;
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
  if (!node || strcmp(node, "local") == 0 || (self && strcmp(node, self) == 0))
    return false;
  if (!self) {
    tr__console_error(ctx, s, "unknown node %.64s (this system is not a node)", node);
    return true;
  }
  if (strncmp(line, "trace", 5) == 0 || strncmp(line, "json", 4) == 0) {
    tr__console_error(ctx, s, "%s works on this node only",
                      strncmp(line, "trace", 5) ? "json" : "trace");
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
