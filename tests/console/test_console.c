/* The debug console (console/) over a real socket: every command's output, text and
 * JSON (parsed with jansson), checked against actors the test set up; trace, kill under a
 * supervisor, stuck, and bad input that must give error replies and leave the node up. */
#include <jansson.h>
#include <sys/types.h>

#include "support/counter.h"
#include "support/sock.h"

static const tr_child_spec_t kids[] = {
    {.id = "kid", .behaviour = &counter_b, .restart = TR_RESTART_PERMANENT, .name = "kid"}};
static const tr_supervisor_spec_t sup_spec = {.strategy = TR_ONE_FOR_ONE,
                                              .intensity = 5,
                                              .period_ms = 5000,
                                              .children = kids,
                                              .nchildren = 1};

/* Commands in the pipelined test's one write: about 150 KB, past the 64 KiB at which a
 * console session pauses reading. */
#define PIPELINED 10000u

typedef struct {
  tr_system_t *sys;
  tr_client_t *c;
  tr_pid_t counter, slow, blocker, sup;
  uint16_t port;
  int fd;
  char *out; /* the last reply */
} fix_t;

static tr_pid_t spawn_named(fix_t *f, const char *name) {
  tr_pid_t pid;
  tr_spawn_opts_t o = {.name = name};
  assert_int_equal(tr_spawn_opts(tr_client_ctx(f->c), &counter_b, NULL, 0, &o, &pid), 0);
  return pid;
}

static int setup(void **state) {
  fix_t *f = calloc(1, sizeof *f);
  f->sys = sup_system_new(2, 0);
  assert_int_equal(tr_client_open(f->sys, &f->c), 0);
  f->counter = spawn_named(f, "counter");
  f->slow = spawn_named(f, "slow");
  f->blocker = spawn_named(f, "blocker");
  assert_int_equal(tr_supervisor_start(tr_client_ctx(f->c), &sup_spec, &f->sup), 0);
  tr_listener_t l;
  assert_int_equal(tr_console_start(f->sys, NULL, 0, &l), 0);
  f->port = tr_listener_port(f->sys, l);
  assert_true(f->port != 0);
  f->fd = sock_connect(AF_INET, f->port);
  *state = f;
  return 0;
}

static int teardown(void **state) {
  fix_t *f = *state;
  if (f->fd >= 0)
    close(f->fd);
  free(f->out);
  tr_client_close(f->c);
  tr_system_free(f->sys);
  free(f);
  return 0;
}

/* Send a command; collect the text reply up to its "." line (trace lines are skipped). */
static const char *cmd(fix_t *f, const char *line) {
  sock_send_str(f->fd, line);
  sock_send_str(f->fd, "\n");
  size_t len = 0, cap = 1 << 16;
  free(f->out);
  f->out = calloc(1, cap);
  char buf[8192];
  for (;;) {
    int n = sock_read_line(f->fd, buf, sizeof buf);
    assert_true(n >= 0);
    if (strcmp(buf, ".") == 0)
      return f->out;
    if (strncmp(buf, "trace ", 6) == 0)
      continue;
    size_t k = strlen(buf);
    if (len + k + 2 < cap) {
      memcpy(f->out + len, buf, k);
      len += k;
      f->out[len++] = '\n';
    }
  }
}

/* In JSON mode: send a command, parse the one-line reply (skipping trace events). */
static json_t *jcmd(fix_t *f, const char *line) {
  sock_send_str(f->fd, line);
  sock_send_str(f->fd, "\n");
  static char buf[1 << 16];
  for (;;) {
    assert_true(sock_read_line(f->fd, buf, sizeof buf) >= 0);
    json_error_t err;
    json_t *j = json_loads(buf, 0, &err);
    assert_non_null(j);
    if (!json_object_get(j, "trace"))
      return j;
    json_decref(j);
  }
}

/* Joins the group "lobby" of scope "chat" in its init. */
static int joiner_init(tr_ctx_t *ctx, void *state, const tr_msg_t *init) {
  (void)state;
  (void)init;
  return tr_group_join(ctx, tr_atom(tr_ctx_system(ctx), "chat"), "lobby", 5);
}

static const tr_behaviour_t joiner_b = {
    .name = "joiner", .init = joiner_init, .receive = counter_receive};

static void contains(const char *hay, const char *needle) {
  if (!strstr(hay, needle))
    fail_msg("expected \"%s\" in:\n%s", needle, hay);
}

/* Guards: the text protocol's shape and each read-only command's content. */
static void text_commands_describe_the_node(void **state) {
  fix_t *f = *state;
  contains(cmd(f, "help"), "stuck [MS]");
  contains(cmd(f, "stats"), "workers: 2");
  contains(cmd(f, "actors"), "counter");
  contains(f->out, "blocker");
  contains(f->out, "supervisor");
  contains(cmd(f, "names"), "kid");
  contains(f->out, "slow");
  contains(cmd(f, "groups"), "no process groups");
  tr_pid_t j1, j2;
  assert_int_equal(tr_spawn(tr_client_ctx(f->c), &joiner_b, NULL, 0, &j1), 0);
  assert_int_equal(tr_spawn(tr_client_ctx(f->c), &joiner_b, NULL, 0, &j2), 0);
  (void)j1;
  (void)j2;
  tr_atom_t chat = tr_atom(f->sys, "chat");
  for (uint64_t end = sup_now_ms() + SUP_WAIT_MS;
       tr_group_size(tr_client_ctx(f->c), chat, "lobby", 5) < 2 && sup_now_ms() < end;)
    sup_sleep_ms(1); /* the joins run in the joiners' inits */
  contains(cmd(f, "groups"), "total: 1");
  contains(f->out, "chat");
  contains(f->out, "lobby");
  contains(f->out, "2"); /* members */
  contains(cmd(f, "conns"), "bytes_in");
  contains(cmd(f, "info counter"), "links: 0");
  contains(f->out, "timers: 0");
  for (int i = 0; i < 3; i++)
    assert_int_equal(tr_send(tr_client_ctx(f->c), f->counter, tr_atom(f->sys, "inc"), NULL, 0), 0);
  sup_wait_idle(f->sys, f->counter);
  contains(cmd(f, "state counter"), "state: {\"count\":3}");
  contains(cmd(f, "send counter inc {\"x\":[1,2]}"), "sent inc");
  sup_wait_idle(f->sys, f->counter);
  char pid[32];
  snprintf(pid, sizeof pid, "state 0x%llx", (unsigned long long)f->counter.id);
  contains(cmd(f, pid), "{\"count\":4}");
}

/* Guards: JSON mode documents, sorting, the supervisor field of info, conns' own peer. */
static void json_mode_gives_one_document_per_reply(void **state) {
  fix_t *f = *state;
  json_t *j = jcmd(f, "json on");
  assert_true(json_is_true(json_object_get(j, "json")));
  json_decref(j);
  tr_atom_t slow = tr_atom(f->sys, "slow");
  for (int i = 0; i < 40; i++)
    assert_int_equal(tr_send(tr_client_ctx(f->c), f->slow, slow, NULL, 0), 0);
  j = jcmd(f, "actors --sort mailbox --limit 3");
  json_t *rows = json_object_get(j, "actors");
  assert_true(json_array_size(rows) >= 1 && json_array_size(rows) <= 3);
  assert_string_equal(json_string_value(json_object_get(json_array_get(rows, 0), "name")), "slow");
  assert_true(json_integer_value(json_object_get(json_array_get(rows, 0), "mailbox")) > 0);
  json_decref(j);
  j = jcmd(f, "info kid");
  char sup[32];
  snprintf(sup, sizeof sup, "0x%llx", (unsigned long long)f->sup.id);
  assert_string_equal(json_string_value(json_object_get(j, "supervisor")), sup);
  assert_int_equal(json_integer_value(json_object_get(j, "links")), 1);
  json_decref(j);
  j = jcmd(f, "state counter");
  assert_int_equal(json_integer_value(json_object_get(json_object_get(j, "state"), "count")), 0);
  json_decref(j);
  j = jcmd(f, "conns");
  assert_true(json_array_size(json_object_get(j, "conns")) >= 1);
  json_decref(j);
  j = jcmd(f, "bogus");
  assert_non_null(json_string_value(json_object_get(j, "error")));
  json_decref(j);
  j = jcmd(f, "stats");
  assert_int_equal(json_integer_value(json_object_get(j, "workers")), 2);
  json_decref(j);
}

/* Guards: trace events not reaching the console, or tracing left on after it leaves. */
static void trace_streams_a_sent_message_and_stops_when_the_client_leaves(void **state) {
  fix_t *f = *state;
  contains(cmd(f, "trace counter on"), "tracing");
  assert_int_equal(
      tr_sendf(tr_client_ctx(f->c), f->counter, tr_atom(f->sys, "inc"), "[u]", (uint64_t)77), 0);
  char buf[4096];
  bool seen = false;
  while (!seen) {
    assert_true(sock_read_line(f->fd, buf, sizeof buf) >= 0);
    seen = strncmp(buf, "trace ", 6) == 0 && strstr(buf, "tag=inc") && strstr(buf, "[77]");
  }
  contains(cmd(f, "info counter"), "traced: true");
  close(f->fd); /* leaving turns the trace off */
  f->fd = sock_connect(AF_INET, f->port);
  uint64_t deadline = sup_now_ms() + SUP_WAIT_MS;
  while (strstr(cmd(f, "info counter"), "traced: true") && sup_now_ms() < deadline)
    sup_sleep_ms(5);
  contains(f->out, "traced: false");
}

/* Guards: kill not reaching the actor; stuck missing a blocked handler. */
static void kill_ends_an_actor_and_stuck_finds_a_blocked_one(void **state) {
  fix_t *f = *state;
  /* The supervisor starts its child asynchronously: wait until the child has its name. */
  uint64_t deadline = sup_now_ms() + SUP_WAIT_MS;
  tr_pid_t kid = tr_whereis(f->sys, "kid");
  while (tr_pid_is_none(kid) && sup_now_ms() < deadline) {
    sup_sleep_ms(2);
    kid = tr_whereis(f->sys, "kid");
  }
  assert_false(tr_pid_is_none(kid));
  contains(cmd(f, "kill kid"), "exit signal (killed)");
  deadline = sup_now_ms() + SUP_WAIT_MS;
  tr_pid_t now = kid;
  while ((tr_pid_is_none(now) || tr_pid_eq(now, kid)) && sup_now_ms() < deadline) {
    sup_sleep_ms(2);
    now = tr_whereis(f->sys, "kid");
  }
  assert_false(tr_pid_is_none(now)); /* the supervisor restarted it */
  assert_false(tr_pid_eq(now, kid));
  assert_int_equal(tr_actor_info(f->sys, kid, &(tr_actor_info_t){0}), TR_ENOENT);

  assert_int_equal(tr_send(tr_client_ctx(f->c), f->blocker, tr_atom(f->sys, "block"), NULL, 0), 0);
  sup_sleep_ms(200);
  contains(cmd(f, "stuck 100"), "blocker");
  sup_wait_idle(f->sys, f->blocker);
  contains(cmd(f, "stuck 100"), "no actor is stuck");
}

/* Guards: bad input crashing the node or leaving the session stuck. */
static void bad_input_gives_error_lines_and_the_node_stays_up(void **state) {
  fix_t *f = *state;
  contains(cmd(f, "\x01\x02garbage"), "error: unknown command");
  char *big = malloc(TR_CONSOLE_LINE_MAX + 100);
  memset(big, 'a', TR_CONSOLE_LINE_MAX + 99);
  big[TR_CONSOLE_LINE_MAX + 99] = '\0';
  contains(cmd(f, big), "error: line too long");
  free(big);
  contains(cmd(f, "send counter inc {bad"), "error: bad JSON");
  /* 1,000 made-up tags: each refused, none interned (the atom table never shrinks). */
  tr_atom_t before = tr_atom(f->sys, "console-test-probe-1");
  for (int i = 0; i < 1000; i++) {
    char line[64];
    snprintf(line, sizeof line, "send counter made-up-%d 1", i);
    contains(cmd(f, line), "error: unknown tag made-up-");
  }
  assert_int_equal(tr_atom(f->sys, "console-test-probe-2"), before + 1);
  contains(cmd(f, "info nosuch"), "error: unknown actor");
  contains(cmd(f, "state 0x7777777777"), "error: unknown actor");
  contains(cmd(f, "info counter@elsewhere"), "error: unknown node");
  contains(cmd(f, "actors --sort nothing"), "error: usage");
  contains(cmd(f, "trace counter sideways"), "error: usage");
  contains(cmd(f, "stats"), "workers: 2");
  assert_int_equal(tr_actor_info(f->sys, f->counter, &(tr_actor_info_t){0}), 0);
}

/* Guards ordering and half-close: thousands of commands in one write, most of them waiting
 * for an actor's answer (state), then the client's FIN: every command is answered, in
 * order, none dropped, and then the console closes. */
static void pipelined_commands_then_eof_are_all_answered_in_order(void **state) {
  fix_t *f = *state;
  size_t cap = (size_t)PIPELINED * 40, len = 0;
  char *burst = malloc(cap);
  assert_non_null(burst);
  for (unsigned i = 0; i < PIPELINED; i++)
    len += (size_t)snprintf(burst + len, cap - len, i % 2 ? "state counter\n" : "info %s\n",
                            i % 3 ? "slow" : "counter");
  len += (size_t)snprintf(burst + len, cap - len, "stats"); /* no "\n": the FIN ends it */
  sock_send(f->fd, burst, len);
  free(burst);
  assert_int_equal(shutdown(f->fd, SHUT_WR), 0);
  char line[8192];
  unsigned replies = 0;
  bool state_line = false, info_line = false, seen_stats = false;
  while (sock_read_line(f->fd, line, sizeof line) >= 0) {
    assert_null(strstr(line, "error"));
    if (strcmp(line, ".") == 0) {
      /* Replies in command order: state answers carry a state line, info ones a
       * behaviour line. */
      if (replies < PIPELINED) {
        assert_int_equal(state_line, replies % 2 == 1);
        assert_int_equal(info_line, replies % 2 == 0);
      }
      replies++;
      state_line = info_line = false;
    } else {
      state_line |= strncmp(line, "state: ", 7) == 0;
      info_line |= strncmp(line, "behaviour: ", 11) == 0;
      seen_stats |= replies == PIPELINED && strcmp(line, "workers: 2") == 0;
    }
  }
  assert_int_equal(replies, PIPELINED + 1);
  assert_true(seen_stats);
}

int main(void) {
  sup_filter_from_env();
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(text_commands_describe_the_node, setup, teardown),
      cmocka_unit_test_setup_teardown(json_mode_gives_one_document_per_reply, setup, teardown),
      cmocka_unit_test_setup_teardown(trace_streams_a_sent_message_and_stops_when_the_client_leaves,
                                      setup, teardown),
      cmocka_unit_test_setup_teardown(kill_ends_an_actor_and_stuck_finds_a_blocked_one, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(bad_input_gives_error_lines_and_the_node_stays_up, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(pipelined_commands_then_eof_are_all_answered_in_order, setup,
                                      teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
