/* The cluster across processes on loopback (CLUSTER.md C2): node a runs in this process,
 * nodes b and c are cluster-node processes (tests/cluster/node_main.c) that only the
 * cluster reaches. One fixture, in order: the mesh forms from one seed (c meets b through
 * a); named sends, replies and pids in payloads; 100,000 sequenced sends arrive in order,
 * none lost; group members of other nodes and a group send delivered once per node; tags a
 * node does not know are dropped, not interned; kill -9 of c: DOWN and EXIT noconnection,
 * its members leave, its old pids are dead; c restarted under the same name is a new
 * incarnation, reached by name again; a node with the wrong cookie is refused. */
#include <inttypes.h>
#include <jansson.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>

#include "actors/table.h"
#include "support/proc.h"
#include "support/sock.h"
#include "support/support.h"

#ifndef TROUPE_NODE_BIN
#error "TROUPE_NODE_BIN must name the cluster-node executable"
#endif

static const char COOKIE[] = "0123456789abcdef-test-cookie";
static char cookie_path[64], bad_cookie_path[64];

static void write_cookie(char *path, const char *text) {
  strcpy(path, "/tmp/troupe-cookie-XXXXXX");
  int fd = mkstemp(path);
  assert_true(fd >= 0);
  assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
  close(fd);
}

/* A recording proxy: accepts one connection on `port`, relays it to 127.0.0.1:to both ways
 * and keeps the first bytes of each direction, so a test can look at what crossed. */
typedef struct {
  int lfd;
  uint16_t port, to;
  _Atomic bool stop;
  uint8_t seen[1 << 16];
  size_t nseen;
  pthread_t thread;
} proxy_t;

static void *proxy_main(void *arg) {
  proxy_t *px = arg;
  int c = accept(px->lfd, NULL, NULL);
  int u = c >= 0 ? sock_connect(AF_INET, px->to) : -1;
  struct pollfd pf[2] = {{.fd = c, .events = POLLIN}, {.fd = u, .events = POLLIN}};
  uint8_t buf[4096];
  while (c >= 0 && u >= 0 && !atomic_load(&px->stop)) {
    if (poll(pf, 2, 50) <= 0)
      continue;
    for (int k = 0; k < 2; k++) {
      if (!(pf[k].revents & (POLLIN | POLLHUP | POLLERR)))
        continue;
      ssize_t n = recv(pf[k].fd, buf, sizeof buf, 0);
      if (n <= 0) {
        atomic_store(&px->stop, true);
        break;
      }
      size_t room = sizeof px->seen - px->nseen;
      memcpy(px->seen + px->nseen, buf, (size_t)n < room ? (size_t)n : room);
      px->nseen += (size_t)n < room ? (size_t)n : room;
      sock_send(pf[1 - k].fd, buf, (size_t)n);
    }
  }
  if (c >= 0)
    close(c);
  if (u >= 0)
    close(u);
  return NULL;
}

static void proxy_start(proxy_t *px, uint16_t to) {
  memset(px, 0, sizeof *px);
  px->to = to;
  px->lfd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  assert_int_equal(bind(px->lfd, (struct sockaddr *)&sa, sizeof sa), 0);
  assert_int_equal(listen(px->lfd, 4), 0);
  socklen_t len = sizeof sa;
  getsockname(px->lfd, (struct sockaddr *)&sa, &len);
  px->port = ntohs(sa.sin_port);
  assert_int_equal(pthread_create(&px->thread, NULL, proxy_main, px), 0);
}

static size_t links_up(tr_system_t *sys, const char *name) {
  tr_link_info_t info[16];
  size_t total = 0, up = 0;
  assert_int_equal(tr_cluster_links(sys, info, 16, &total), 0);
  for (size_t i = 0; i < total && i < 16; i++)
    if (info[i].state == TR_LINK_UP && (!name || strcmp(info[i].name, name) == 0))
      up++;
  return up;
}

static proc_t start_node(const char *name, const char *cookie, uint16_t seed_port) {
  char seeds[32];
  snprintf(seeds, sizeof seeds, "127.0.0.1:%u", (unsigned)seed_port);
  char *argv[] = {(char *)TROUPE_NODE_BIN, (char *)name, (char *)cookie, seeds, NULL};
  proc_t p;
  proc_start(&p, TROUPE_NODE_BIN, argv);
  return p;
}

/* Ask `to` (a pid of another node) and return the reply's two numbers, within ms. */
static void ask2_within(tr_client_t *c, tr_pid_t to, const char *tag, uint64_t *a, uint64_t *b,
                        int ms) {
  tr_system_t *sys = tr_ctx_system(tr_client_ctx(c));
  tr_msg_t *r = sup_request_within(c, to, tr_atom(sys, tag), ms);
  if (b)
    assert_int_equal(tr_msg_unpack(r, "[uu]", a, b), 0);
  else
    assert_int_equal(tr_msg_unpack(r, "[u]", a), 0);
  tr_msg_free(r);
}

static void ask2(tr_client_t *c, tr_pid_t to, const char *tag, uint64_t *a, uint64_t *b) {
  ask2_within(c, to, tag, a, b, SUP_WAIT_MS);
}

/* The echo actor of a node, found with a named send and the pid in its answer. */
static tr_pid_t echo_of(tr_client_t *c, const char *node) {
  tr_system_t *sys = tr_ctx_system(tr_client_ctx(c));
  tr_atom_t ping = tr_atom(sys, "ping"), pong = tr_atom(sys, "pong");
  for (uint64_t end = sup_now_ms() + SUP_WAIT_MS; sup_now_ms() < end;) {
    if (tr_send_name(tr_client_ctx(c), node, "echo", ping, "\x91\x2a", 2) == 0) {
      tr_msg_t *m = NULL;
      if (tr_client_receive(c, 1000, &m) == 0) {
        tr_pid_t pid;
        uint64_t n;
        assert_int_equal(tr_msg_tag(m), pong);
        assert_int_equal(tr_msg_unpack(m, "[pu]", &pid, &n), 0);
        assert_int_equal(n, 42);
        assert_true(tr_pid_eq(pid, tr_msg_from(m))); /* the pid in the payload is the sender */
        tr_msg_free(m);
        return pid;
      }
    }
    sup_sleep_ms(20);
  }
  fail_msg("no answer from %s's echo", node);
  return TR_PID_NONE;
}

/* An actor of node a that sends "seq" [from..to) to a pid, a chunk per turn (a turn's end
 * writes its chunk to the link in one system call), then tells `report` "sent". */
#define SEQ_N 1000000u

typedef struct {
  tr_pid_t report, to;
  uint64_t next, end;
} seq_sender_t;

static int seq_sender_init(tr_ctx_t *ctx, void *state, const tr_msg_t *init) {
  seq_sender_t *s = state;
  if (tr_msg_unpack(init, "[ppuu]", &s->report, &s->to, &s->next, &s->end) != 0)
    return TR_EINVAL;
  return tr_send(ctx, tr_self(ctx), tr_atom(tr_ctx_system(ctx), "more"), NULL, 0);
}

static int seq_sender_receive(tr_ctx_t *ctx, void *state, const tr_msg_t *m) {
  (void)m;
  seq_sender_t *s = state;
  tr_system_t *sys = tr_ctx_system(ctx);
  tr_atom_t seq = tr_atom(sys, "seq");
  for (int k = 0; k < 256 && s->next < s->end; k++, s->next++) {
    int rc = tr_sendf(ctx, s->to, seq, "[u]", s->next);
    if (rc != 0)
      return rc;
  }
  if (s->next < s->end)
    return tr_send(ctx, tr_self(ctx), tr_atom(sys, "more"), NULL, 0);
  tr_send(ctx, s->report, tr_atom(sys, "sent"), NULL, 0);
  tr_stop(ctx);
  return 0;
}

static const tr_behaviour_t seq_sender_b = {.name = "seq-sender",
                                            .state_size = sizeof(seq_sender_t),
                                            .init = seq_sender_init,
                                            .receive = seq_sender_receive};

/* An actor of node a that links to a remote pid and monitors it, traps exits, and reports
 * the EXIT and the DOWN. */
typedef struct {
  tr_pid_t report;
  uint64_t ref, req;
} linker_t;

static int linker_init(tr_ctx_t *ctx, void *state, const tr_msg_t *init) {
  linker_t *s = state;
  tr_pid_t target;
  if (tr_msg_unpack(init, "[pp]", &s->report, &target) != 0)
    return TR_EINVAL;
  tr_trap_exit(ctx, true);
  int rc = tr_link(ctx, target);
  if (rc == 0)
    rc = tr_monitor(ctx, target, &s->ref);
  /* A request that will never be answered (c does not know the tag): it must fail when c's
   * node goes down, long before its own minute is up. */
  if (rc == 0)
    rc = tr_request(ctx, target, tr_atom(tr_ctx_system(ctx), "hang"), NULL, 0, 60000, &s->req);
  if (rc == 0) /* init runs on a worker after tr_spawn returns: say when all three went */
    rc = tr_send(ctx, s->report, tr_atom(tr_ctx_system(ctx), "armed"), NULL, 0);
  return rc;
}

static int linker_receive(tr_ctx_t *ctx, void *state, const tr_msg_t *m) {
  linker_t *s = state;
  tr_pid_t from;
  tr_reason_t r;
  tr_down_t d;
  tr_system_t *sys = tr_ctx_system(ctx);
  if (tr_msg_exit(m, &from, &r) == 0)
    tr_sendf(ctx, s->report, tr_atom(sys, "linked-exit"), "[pi]", from, (int64_t)r.kind);
  else if (tr_msg_tag(m) == TR_ATOM_TIMEOUT && tr_msg_ref(m) == s->req)
    tr_send(ctx, s->report, tr_atom(sys, "req-failed"), NULL, 0);
  else if (tr_msg_down(m, &d) == 0)
    tr_sendf(ctx, s->report, tr_atom(sys, "down"), "[pbi]", d.pid, d.ref == s->ref,
             (int64_t)d.reason.kind);
  return 0;
}

static const tr_behaviour_t linker_b = {.name = "linker",
                                        .state_size = sizeof(linker_t),
                                        .init = linker_init,
                                        .receive = linker_receive};

/* An actor of node a that traps exits, counts "bmsg" [u i] in order, and reports
 * "caught" [u count, u out_of_order, i reason kind] when an exit signal comes. */
typedef struct {
  tr_pid_t report;
  uint64_t next, bad;
} catcher_t;

static int catcher_init(tr_ctx_t *ctx, void *state, const tr_msg_t *init) {
  catcher_t *s = state;
  tr_trap_exit(ctx, true);
  return tr_msg_unpack(init, "[p]", &s->report);
}

static int catcher_receive(tr_ctx_t *ctx, void *state, const tr_msg_t *m) {
  catcher_t *s = state;
  tr_system_t *sys = tr_ctx_system(ctx);
  uint64_t i;
  tr_pid_t from;
  tr_reason_t r;
  if (tr_msg_tag(m) == tr_atom(sys, "bmsg")) {
    if (tr_msg_unpack(m, "[u]", &i) != 0 || i != s->next)
      s->bad++;
    s->next++;
  } else if (tr_msg_exit(m, &from, &r) == 0) {
    tr_sendf(ctx, s->report, tr_atom(sys, "caught"), "[uui]", s->next, s->bad, (int64_t)r.kind);
  }
  return 0;
}

static const tr_behaviour_t catcher_b = {.name = "catcher",
                                         .state_size = sizeof(catcher_t),
                                         .init = catcher_init,
                                         .receive = catcher_receive};

static bool group_has(void *arg) {
  void **a = arg;
  tr_system_t *sys = a[0];
  size_t want = (size_t)(uintptr_t)a[1];
  return tr_group_size(tr_system_ctx(sys), tr_atom(sys, "chat"), "room", 4) == want;
}

static void wait_group(tr_system_t *sys, size_t n) {
  void *arg[2] = {sys, (void *)(uintptr_t)n};
  assert_true(sup_wait(group_has, arg));
}

static bool mesh_done(void *arg) {
  void **a = arg;
  tr_client_t *c = a[0];
  tr_pid_t *echo = a[1];
  uint64_t up = 0;
  ask2(c, *echo, "links", &up, NULL);
  return up == 2;
}

/* One JSON reply from a console connection: the next line that is not a trace event. */
static void console_reply(int fd, char *out, size_t cap) {
  do
    assert_true(sock_read_line(fd, out, cap) > 0);
  while (strncmp(out, "{\"trace\"", 8) == 0);
}

/* The reply of one command. */
static void console_ask(int fd, const char *line, char *out, size_t cap) {
  sock_send_str(fd, line);
  console_reply(fd, out, cap);
}

/* From a's console, an actor of c traced (its events stream here, c's pids mapped to a's
 * pids of c), found stuck by `stuck` (which asks every node), and killed. */
static void console_reaches_c(tr_system_t *a, tr_client_t *cl, tr_pid_t ec, uint16_t port) {
  tr_ctx_t *ctx = tr_client_ctx(cl);
  int fd = sock_connect(AF_INET, port);
  char r[8192], want[64];
  console_ask(fd, "json on\n", r, sizeof r);
  console_ask(fd, "trace echo@c on\n", r, sizeof r);
  assert_non_null(strstr(r, "tracing 0x"));
  assert_non_null(strstr(r, "\"node\":\"c\""));
  assert_int_equal(tr_sendf(ctx, ec, tr_atom(a, "ping"), "[u]", (uint64_t)77), 0);
  tr_msg_t *pong = sup_receive(cl);
  assert_int_equal(tr_msg_tag(pong), tr_atom(a, "pong"));
  tr_msg_free(pong);
  bool in = false, out = false;
  while (!in || !out) {
    assert_true(sock_read_line(fd, r, sizeof r) > 0);
    assert_non_null(strstr(r, "{\"trace\""));
    snprintf(want, sizeof want, "\"actor\":\"0x%" PRIx64 "\"", ec.id);
    assert_non_null(strstr(r, want)); /* c's echo, as a pid of this node's */
    snprintf(want, sizeof want, "\"peer\":\"0x%" PRIx64 "\"", tr_client_pid(cl).id);
    if (strstr(r, "\"dir\":\"in\"") && strstr(r, "\"tag\":\"ping\"") && strstr(r, want))
      in = true;
    if (strstr(r, "\"dir\":\"out\"") && strstr(r, "\"tag\":\"pong\"") && strstr(r, want))
      out = true;
  }
  console_ask(fd, "trace echo@c off\n", r, sizeof r);
  assert_non_null(strstr(r, "off"));

  /* `stuck` without @node: every node's, each row with its node. */
  assert_int_equal(tr_sendf(ctx, ec, tr_atom(a, "block"), "[]"), 0);
  bool seen = false;
  for (int i = 0; i < 600 && !seen; i++) {
    console_ask(fd, "stuck 50\n", r, sizeof r);
    seen = strstr(r, "\"behaviour\":\"echo\"") && strstr(r, "\"node\":\"c\"");
    if (!seen)
      usleep(20000);
  }
  assert_true(seen);
  assert_null(strstr(r, "unreachable")); /* b answered too */
  assert_int_equal(tr_send_name(ctx, "c", "gate", tr_atom(a, "unblock"), NULL, 0), 0);

  /* `actors --cluster`: every node's actors, each row with its node, in one order. */
  console_ask(fd, "actors --cluster --sort msgs\n", r, sizeof r);
  assert_non_null(strstr(r, "\"node\":\"a\""));
  assert_non_null(strstr(r, "\"node\":\"b\""));
  assert_non_null(strstr(r, "\"node\":\"c\""));
  json_error_t jerr;
  json_t *doc = json_loads(r, 0, &jerr), *row;
  assert_non_null(doc);
  json_int_t prev = INT64_MAX;
  size_t k, nrows = json_array_size(json_object_get(doc, "actors"));
  json_array_foreach(json_object_get(doc, "actors"), k, row) {
    json_int_t msgs = json_integer_value(json_object_get(row, "in"));
    assert_true(msgs <= prev); /* merged in the order asked for */
    prev = msgs;
  }
  assert_int_equal(json_integer_value(json_object_get(doc, "total")), (json_int_t)nrows);
  json_decref(doc);

  console_ask(fd, "info victim@c\n", r, sizeof r);
  const char *at = strstr(r, "\"pid\":\"0x");
  assert_non_null(at);
  /* info gives c's own pid; as a pid of this node's it carries c's node bits, as ec does. */
  uint64_t local = strtoull(at + strlen("\"pid\":\""), NULL, 16);
  uint64_t node_bits = ~((UINT64_C(1) << (TR_PID_SLOT_BITS + TR_PID_GEN_BITS)) - 1);
  assert_int_equal(local & node_bits, 0);
  tr_pid_t victim = {(ec.id & node_bits) | local};
  assert_true(tr_pid_is_remote(victim));
  console_ask(fd, "kill victim@c\n", r, sizeof r);
  assert_non_null(strstr(r, "exit signal (killed)"));
  seen = false;
  for (int i = 0; i < 500 && !seen; i++) {
    console_ask(fd, "info victim@c\n", r, sizeof r);
    seen = strstr(r, "\"error\"") != NULL;
    if (!seen)
      usleep(10000);
  }
  assert_true(seen);
  close(fd);
  /* A request to an actor of another node that is not alive fails at once there, and the
   * answer says so: TR_ENOENT, as for a pid of this node, not TR_ETIMEDOUT after the wait. */
  tr_msg_t *none = NULL;
  assert_int_equal(tr_client_request(cl, victim, tr_atom(a, "count"), NULL, 0, SUP_WAIT_MS, &none),
                   TR_ENOENT);
  assert_null(none);
}

/* A request from a to an actor of c whose full mailbox drops it fails at once, its answer
 * coming back over the link: TR_EBUSY, as for a full mailbox of this node, not TR_ETIMEDOUT
 * after the wait. c's "narrow" drops what comes once it holds 2 messages (node_main.c): a
 * "block" that holds it in its handler and one more fill it, in the link's order. */
static void a_full_mailbox_there_answers_a_request_at_once(tr_system_t *a, tr_client_t *cl,
                                                           tr_pid_t ec) {
  tr_msg_t *r = sup_request_within(cl, ec, tr_atom(a, "narrow"), SUP_WAIT_MS);
  tr_pid_t narrow;
  assert_int_equal(tr_msg_unpack(r, "[p]", &narrow), 0);
  tr_msg_free(r);
  assert_true(tr_pid_is_remote(narrow));
  tr_ctx_t *ctx = tr_client_ctx(cl);
  assert_int_equal(tr_send(ctx, narrow, tr_atom(a, "block"), NULL, 0), 0);
  assert_int_equal(tr_send(ctx, narrow, tr_atom(a, "ping"), NULL, 0), 0);
  tr_msg_t *none = NULL;
  assert_int_equal(tr_client_request(cl, narrow, tr_atom(a, "count"), NULL, 0, SUP_WAIT_MS, &none),
                   TR_EBUSY);
  assert_null(none);
  assert_int_equal(tr_send_name(ctx, "c", "gate", tr_atom(a, "unblock"), NULL, 0), 0);
}

static void test_cluster(void **st) {
  (void)st;
  write_cookie(cookie_path, COOKIE);
  write_cookie(bad_cookie_path, "another-cookie-of-this-length!");
  tr_system_t *a = sup_system_new(2, 0);
  tr_cluster_config_t cc;
  tr_cluster_config_init(&cc);
  cc.name = "a";
  cc.cookie_file = cookie_path;
  assert_int_equal(tr_cluster_start(a, &cc), 0);
  assert_int_equal(tr_cluster_start(a, &cc), TR_EINVAL); /* once */
  uint16_t port = tr_cluster_port(a);
  assert_true(port != 0);
  assert_string_equal(tr_node_name(a), "a");

  /* The mesh: b and c know only a; c must meet b through a. */
  proc_t b = start_node("b", cookie_path, port);
  proc_t c = start_node("c", cookie_path, port);
  tr_client_t *cl;
  assert_int_equal(tr_client_open(a, &cl), 0);
  tr_pid_t eb = echo_of(cl, "b"), ec = echo_of(cl, "c");
  assert_true(tr_pid_is_remote(eb) && tr_pid_is_remote(ec) && !tr_pid_eq(eb, ec));
  char name[TR_NODE_NAME_MAX + 1];
  assert_string_equal(tr_pid_node_name(a, eb, name), "b");
  assert_string_equal(tr_pid_node_name(a, ec, name), "c");
  assert_string_equal(tr_pid_node_name(a, tr_client_pid(cl), name), "a");
  void *mesh[2] = {cl, &ec};
  assert_true(sup_wait(mesh_done, mesh));
  assert_int_equal(links_up(a, NULL), 2);

  /* The console's `nodes`: both links up, with their traffic. */
  tr_listener_t con;
  assert_int_equal(tr_console_start(a, "127.0.0.1", 0, &con), 0);
  int cfd = sock_connect(AF_INET, tr_listener_port(a, con));
  /* One JSON line per command, in order: this node's links, then b's actors, c's echo and
   * c's links through those nodes' agents, then a node that does not exist. */
  sock_send_str(cfd, "json on\nnodes\nactors @b\ninfo echo@c\nnodes @c\nactors @nowhere\n");
  char replies[6][8192];
  for (int i = 0; i < 6; i++)
    assert_true(sock_read_line(cfd, replies[i], sizeof replies[i]) > 0);
  close(cfd);
  const char *reply = replies[1];
  assert_non_null(strstr(reply, "\"node\":\"a\""));
  assert_non_null(strstr(reply, "\"name\":\"b\""));
  assert_non_null(strstr(reply, "\"name\":\"c\""));
  assert_null(strstr(reply, "\"state\":\"down\""));
  assert_null(strstr(reply, "\"frames_out\":0,")); /* every frame counts, control ones too */
  assert_non_null(strstr(replies[2], "\"node\":\"b\""));
  assert_non_null(strstr(replies[2], "\"behaviour\":\"echo\""));
  assert_non_null(strstr(replies[3], "\"behaviour\":\"echo\""));
  assert_non_null(strstr(replies[3], "\"node\":\"c\""));
  assert_non_null(strstr(replies[4], "\"name\":\"a\"")); /* c's view: its link to a */
  assert_non_null(strstr(replies[5], "no console on node nowhere"));
  console_reaches_c(a, cl, ec, tr_listener_port(a, con));
  a_full_mailbox_there_answers_a_request_at_once(a, cl, ec);

  /* 1,000,000 sequenced sends from an actor of a to b, as fast as it can (so the link gets
   * busy and the sender is muted on it): all arrive, in order, once. Then 1,000 more from an
   * outside thread, which writes each at once. */
  tr_ctx_t *ctx = tr_client_ctx(cl);
  tr_atom_t seq = tr_atom(a, "seq");
  tr_pid_t sender;
  assert_int_equal(tr_spawnf(ctx, &seq_sender_b, &sender, "[ppuu]", tr_client_pid(cl), eb,
                             (uint64_t)0, (uint64_t)SEQ_N),
                   0);
  tr_msg_t *fin = sup_receive_within(cl, SUP_BULK_WAIT_MS);
  assert_int_equal(tr_msg_tag(fin), tr_atom(a, "sent"));
  tr_msg_free(fin);
  for (uint64_t i = SEQ_N; i < SEQ_N + 1000; i++)
    assert_int_equal(tr_sendf(ctx, eb, seq, "[u]", i), 0);
  uint64_t seen, bad;
  ask2_within(cl, eb, "count", &seen, &bad, SUP_BULK_WAIT_MS); /* behind all of them */
  assert_int_equal(seen, SEQ_N + 1000);
  assert_int_equal(bad, 0);

  /* Messages then an exit signal from one actor of b: the exit comes after all of them. The
   * catcher's pid travels to b inside the payload and comes back as a local pid. */
  tr_atom(a, "bmsg"); /* a tag from the wire must be known here before it comes */
  tr_pid_t catcher;
  assert_int_equal(tr_spawnf(ctx, &catcher_b, &catcher, "[p]", tr_client_pid(cl)), 0);
  assert_int_equal(tr_sendf(ctx, eb, tr_atom(a, "burst"), "[pu]", catcher, (uint64_t)20000), 0);
  tr_msg_t *caught = sup_receive(cl);
  uint64_t got, misordered;
  int64_t why;
  assert_int_equal(tr_msg_tag(caught), tr_atom(a, "caught"));
  assert_int_equal(tr_msg_unpack(caught, "[uui]", &got, &misordered, &why), 0);
  tr_msg_free(caught);
  assert_int_equal(got, 20000);
  assert_int_equal(misordered, 0);
  assert_int_equal(why, TR_REASON_ERROR);

  /* Groups: b's and c's echo are members here; a send reaches each once, in order. */
  wait_group(a, 2);
  tr_atom_t chat = tr_atom(a, "chat"), gmsg = tr_atom(a, "gmsg");
  for (uint64_t i = 0; i < 1000; i++) {
    uint8_t buf[16];
    size_t len;
    assert_int_equal(tr_pack_into(buf, sizeof buf, &len, "[u]", i), 0);
    assert_int_equal(tr_group_send(ctx, chat, "room", 4, gmsg, buf, len, NULL), 0);
  }
  ask2(cl, eb, "gcount", &seen, &bad);
  assert_int_equal(seen, 1000);
  assert_int_equal(bad, 0);
  ask2(cl, ec, "gcount", &seen, &bad);
  assert_int_equal(seen, 1000);
  assert_int_equal(bad, 0);

  /* A tag b has never interned: dropped there and counted, not added to its atoms. */
  uint64_t tu0, du0, ra;
  tr_msg_t *r = sup_request(cl, eb, tr_atom(a, "stats"));
  assert_int_equal(tr_msg_unpack(r, "[uuu]", &tu0, &du0, &ra), 0);
  tr_msg_free(r);
  for (int i = 0; i < 100; i++) {
    char tag[32];
    snprintf(tag, sizeof tag, "unheard-of-%d", i);
    assert_int_equal(tr_send(ctx, eb, tr_atom(a, tag), NULL, 0), 0);
  }
  uint64_t tu, du;
  r = sup_request(cl, eb, tr_atom(a, "stats"));
  assert_int_equal(tr_msg_unpack(r, "[uuu]", &tu, &du, &ra), 0);
  tr_msg_free(r);
  assert_int_equal(tu - tu0, 100);
  assert_int_equal(du - du0, 100);

  /* kill -9 c: the monitor and the link report noconnection, c's member leaves. */
  tr_pid_t lk;
  assert_int_equal(tr_spawnf(ctx, &linker_b, &lk, "[pp]", tr_client_pid(cl), ec), 0);
  tr_msg_t *armed = sup_receive(cl);
  assert_int_equal(tr_msg_tag(armed), tr_atom(a, "armed"));
  tr_msg_free(armed);
  ask2(cl, ec, "count", &seen, &bad); /* the LINK, MONITOR and request went before this */
  kill(c.pid, SIGKILL);
  waitpid(c.pid, NULL, 0);
  bool got_down = false, got_exit = false, got_req = false;
  while (!got_down || !got_exit || !got_req) {
    tr_msg_t *m = sup_receive(cl);
    tr_pid_t from;
    int64_t kind;
    bool same_ref;
    if (tr_msg_tag(m) == tr_atom(a, "down")) {
      assert_int_equal(tr_msg_unpack(m, "[pbi]", &from, &same_ref, &kind), 0);
      assert_true(tr_pid_eq(from, ec));
      assert_true(same_ref);
      assert_int_equal(kind, TR_REASON_NOCONNECTION);
      got_down = true;
    } else if (tr_msg_tag(m) == tr_atom(a, "linked-exit")) {
      assert_int_equal(tr_msg_unpack(m, "[pi]", &from, &kind), 0);
      assert_true(tr_pid_eq(from, ec));
      assert_int_equal(kind, TR_REASON_NOCONNECTION);
      got_exit = true;
    } else if (tr_msg_tag(m) == tr_atom(a, "req-failed")) {
      got_req = true;
    }
    tr_msg_free(m);
  }
  wait_group(a, 1);
  assert_int_equal(links_up(a, "c"), 0);
  /* A request to a node that is not connected fails at once, not at its timeout. */
  tr_msg_t *none = NULL;
  assert_int_equal(tr_client_request(cl, ec, tr_atom(a, "count"), NULL, 0, SUP_WAIT_MS, &none),
                   TR_ENOCONN);
  assert_null(none);

  /* c again, under the same name: a new incarnation; the old pid stays dead. */
  c = start_node("c", cookie_path, port);
  tr_pid_t ec2 = echo_of(cl, "c");
  assert_false(tr_pid_eq(ec2, ec));
  tr_cluster_stats_t s0, s1;
  assert_int_equal(tr_cluster_stats(a, &s0), 0);
  assert_int_equal(tr_sendf(ctx, ec, seq, "[u]", (uint64_t)0), 0);
  assert_int_equal(tr_cluster_stats(a, &s1), 0);
  assert_int_equal(s1.dead_noconn - s0.dead_noconn, 1);
  ask2(cl, ec2, "count", &seen, &bad);
  assert_int_equal(seen, 0); /* the send to the old pid reached nobody */
  wait_group(a, 2);

  /* SIGSTOP b (no RST: the heartbeat's path): a declares it down; after SIGCONT it is back,
   * the same incarnation, so its old pid works again. */
  kill(b.pid, SIGSTOP);
  /* While b reads nothing: an outside thread that floods the link gets TR_EBUSY once the
   * kernel's buffers and the link's busy mark are full, and the queue stays near the mark. */
  tr_client_send_wait(cl, 50);
  static uint8_t big[4096];
  int flood = 0;
  for (int i = 0; i < 100000 && flood == 0; i++)
    flood = tr_send(ctx, eb, tr_atom(a, "flood"), big, sizeof big);
  assert_int_equal(flood, TR_EBUSY);
  tr_link_info_t li[4];
  size_t nli = 0;
  assert_int_equal(tr_cluster_links(a, li, 4, &nli), 0);
  for (size_t i = 0; i < nli && i < 4; i++)
    if (strcmp(li[i].name, "b") == 0) {
      assert_true(li[i].queue_bytes <= ((size_t)1 << 20) + 2 * sizeof big);
      assert_true(li[i].dropped_full >= 1);
    }
  for (uint64_t end = sup_now_ms() + SUP_WAIT_MS; links_up(a, "b") && sup_now_ms() < end;)
    sup_sleep_ms(20);
  assert_int_equal(links_up(a, "b"), 0);
  kill(b.pid, SIGCONT);
  for (uint64_t end = sup_now_ms() + SUP_WAIT_MS; !links_up(a, "b") && sup_now_ms() < end;)
    sup_sleep_ms(20);
  assert_int_equal(links_up(a, "b"), 1);
  ask2(cl, eb, "count", &seen, &bad);
  assert_int_equal(seen, SEQ_N + 1000);

  /* A node that joins through a recording proxy: the handshake that crossed it holds no
   * 8-byte window of the cookie (the secret never crosses the wire). */
  proxy_t *px = calloc(1, sizeof *px);
  proxy_start(px, port);
  proc_t e = start_node("e", cookie_path, px->port);
  for (uint64_t end = sup_now_ms() + SUP_WAIT_MS; !links_up(a, "e") && sup_now_ms() < end;)
    sup_sleep_ms(20);
  assert_int_equal(links_up(a, "e"), 1);
  kill(e.pid, SIGTERM);
  assert_int_equal(proc_wait(e.pid), 0);
  pthread_join(px->thread, NULL);
  close(px->lfd);
  assert_true(px->nseen > 100); /* HELLO, CHALLENGE, AUTH, AUTH_OK at least */
  for (size_t i = 0; i + 8 <= sizeof COOKIE - 1; i++)
    assert_null(memmem(px->seen, px->nseen, COOKIE + i, 8));
  free(px);
  for (uint64_t end = sup_now_ms() + SUP_WAIT_MS; links_up(a, "e") && sup_now_ms() < end;)
    sup_sleep_ms(20);

  /* A node with the wrong cookie is refused; the mesh does not notice. */
  proc_t d = start_node("d", bad_cookie_path, port);
  for (uint64_t end = sup_now_ms() + SUP_WAIT_MS; sup_now_ms() < end;) {
    assert_int_equal(tr_cluster_stats(a, &s1), 0);
    if (s1.refused_auth > s0.refused_auth)
      break;
    sup_sleep_ms(20);
  }
  assert_true(s1.refused_auth > s0.refused_auth);
  assert_int_equal(links_up(a, "d"), 0);
  assert_int_equal(links_up(a, NULL), 2);

  /* Hostile bytes before authentication: each connection is closed, the node stays up, and
   * a frame that is not a HELLO counts as a refused handshake. */
  const struct {
    const char *bytes;
    size_t len;
  } hostile[] = {
      {"\xff\xff\xff\xff\x01", 5},                 /* a 4 GiB frame */
      {"\x00\x00\x00\x00", 4},                     /* an empty frame */
      {"\x00\x00\x00\x05\x10\x00\x00\x00\x00", 9}, /* a SEND before authenticating */
      {"\x00\x00\x00\x04\x01\x00\x01\xc1", 8},     /* a HELLO whose header is not msgpack */
      {"GET / HTTP/1.1\r\n\r\n", 18},              /* something else entirely */
  };
  for (size_t i = 0; i < sizeof hostile / sizeof hostile[0]; i++) {
    int fd = sock_connect(AF_INET, port);
    sock_send(fd, hostile[i].bytes, hostile[i].len);
    assert_true(sock_wait_closed(fd));
    close(fd);
  }
  ask2(cl, eb, "count", &seen, &bad); /* the cluster goes on */
  assert_int_equal(links_up(a, NULL), 2);

  kill(d.pid, SIGTERM);
  kill(b.pid, SIGTERM);
  kill(c.pid, SIGTERM);
  assert_int_equal(proc_wait(d.pid), 0);
  assert_int_equal(proc_wait(b.pid), 0);
  assert_int_equal(proc_wait(c.pid), 0);
  tr_client_close(cl);
  tr_system_stop(a);
  tr_system_free(a);
  unlink(cookie_path);
  unlink(bad_cookie_path);
}

/* Configurations that must be refused, each with its log line, before anything starts. */
static void test_config_errors(void **st) {
  (void)st;
  write_cookie(cookie_path, "short");
  tr_system_t *sys = sup_system_new(1, 0);
  tr_cluster_config_t cc;
  tr_cluster_config_init(&cc);
  cc.name = "bad name!";
  cc.cookie = COOKIE;
  cc.cookie_len = sizeof COOKIE - 1;
  assert_int_equal(tr_cluster_start(sys, &cc), TR_EINVAL);
  tr_system_stop(sys);
  tr_system_free(sys);
  const struct {
    const char *listen, *seeds, *file;
  } bad[] = {{"nohost", NULL, NULL},
             {"127.0.0.1:99999", NULL, NULL},
             {NULL, "127.0.0.1", NULL},
             {NULL, NULL, cookie_path},
             {NULL, NULL, "/nonexistent/cookie"}};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    sys = sup_system_new(1, 0);
    tr_cluster_config_init(&cc);
    cc.name = "x";
    cc.listen = bad[i].listen;
    cc.seeds = bad[i].seeds;
    cc.cookie_file = bad[i].file;
    if (!bad[i].file) {
      cc.cookie = COOKIE;
      cc.cookie_len = sizeof COOKIE - 1;
    }
    assert_true(tr_cluster_start(sys, &cc) < 0);
    assert_null(tr_node_name(sys));
    tr_system_stop(sys);
    tr_system_free(sys);
  }
  unlink(cookie_path);
}

int main(void) {
  sup_filter_from_env();
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_config_errors),
      cmocka_unit_test(test_cluster),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
