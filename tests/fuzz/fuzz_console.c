/* The debug console's command runner (console/commands.c, and console/remote.c's parts that
 * a line reaches) fed arbitrary lines, as console/remote.c's agent feeds it: a session
 * without a socket whose replies go into its capture buffer. The system is a node with a
 * console (so the agent, @node and the cluster-wide commands are live) and a few actors to
 * name: "victim.a" (with an inspect callback), "victim.b" (without), respawned when a
 * command killed them.
 *
 * Each input is run by a fresh driver actor holding a tr_csession_t: it cuts the input into
 * lines as console.c does ("\n", a "\r" before it dropped, lines over TR_CONSOLE_LINE_MAX
 * skipped), runs them in order, waits for a command's answer (state, info) before the next,
 * and sends the capture back when done. Checked: every command that has a word answers
 * (its reply is written before the next command runs); in JSON mode that reply is exactly
 * one line of valid JSON; in text mode it ends with the "." line and every other line that
 * starts with "." is dot-stuffed.
 *
 * Input: one option byte (bit 0: start in text mode rather than JSON; bit 1: a session
 * that is not the agent, so "@node" lines take the remote path; its replies then go
 * nowhere and are not checked), then the lines. */
#include <jansson.h>
#include <string.h>
#include <strings.h>

#include "console/console.h"
#include "fuzz.h"
#include "troupe/cluster.h"
#include "troupe/timer.h"

/* The longest a driver may take: an answer that never comes times out in the console's own
 * TR_CONSOLE_ASK_MS; past that, libFuzzer's -timeout fires first. */
#define DRIVER_WAIT_MS 20000

static tr_system_t *sys;
static tr_client_t *client;
static tr_atom_t atom_run, atom_done;

/* ---- the actors the commands name ---- */

typedef struct {
  uint64_t seen;
} victim_t;

static int victim_receive(tr_ctx_t *ctx, void *state, const tr_msg_t *m) {
  (void)ctx;
  (void)m;
  ((victim_t *)state)->seen++;
  return 0;
}

static int victim_inspect(const void *state, msgpack_packer *pk) {
  const victim_t *v = state;
  return msgpack_pack_map(pk, 2) | msgpack_pack_str_with_body(pk, "seen", 4) |
         msgpack_pack_uint64(pk, v->seen) | msgpack_pack_str_with_body(pk, "bin", 3) |
         msgpack_pack_bin_with_body(pk, "\x00\xff", 2);
}

static const tr_behaviour_t victim_a = {.name = "victim.a",
                                        .state_size = sizeof(victim_t),
                                        .receive = victim_receive,
                                        .inspect = victim_inspect};
static const tr_behaviour_t victim_b = {
    .name = "victim.b", .state_size = sizeof(victim_t), .receive = victim_receive};

static void victims(void) {
  const tr_behaviour_t *b[] = {&victim_a, &victim_b};
  for (size_t i = 0; i < 2; i++) {
    if (!tr_pid_is_none(tr_whereis(sys, b[i]->name)))
      continue;
    tr_spawn_opts_t o = {.name = b[i]->name};
    tr_pid_t pid;
    int rc = tr_spawn_opts(tr_system_ctx(sys), b[i], NULL, 0, &o, &pid);
    FUZZ_CHECK(rc == 0 || rc == TR_EEXIST, "spawn %s: %d", b[i]->name, rc);
  }
}

/* ---- the driver ---- */

typedef struct {
  tr_csession_t s;
  tr_pid_t client;
  uint8_t *in;
  size_t len, off;
  bool checked;  /* agent mode: the replies are looked at */
  size_t before; /* capture bytes before the command that waits */
  /* After a kill: the monitor of the actor it ends, and the timer that ends the wait. */
  uint64_t pause_mon;
  tr_timer_t pause_timer;
} driver_t;

/* One command's reply, capture[from..): what its mode says a reply is. */
static void check_reply(const driver_t *d, size_t from, const char *line) {
  const char *r = d->s.capture + from;
  size_t n = d->s.capture_len - from;
  FUZZ_CHECK(n > 0, "no reply to \"%.80s\"", line);
  FUZZ_CHECK(r[n - 1] == '\n', "a reply without its line end to \"%.80s\"", line);
  if (d->s.json) {
    FUZZ_CHECK(memchr(r, '\n', n - 1) == NULL, "a JSON reply of several lines to \"%.80s\"", line);
    json_error_t err;
    json_t *j = json_loadb(r, n - 1, JSON_DECODE_ANY, &err);
    FUZZ_CHECK(j != NULL, "a reply that is not JSON to \"%.80s\": %s", line, err.text);
    json_decref(j);
    return;
  }
  FUZZ_CHECK(n >= 2 && r[n - 2] == '.' && (n == 2 || r[n - 3] == '\n'),
             "a text reply without its \".\" line to \"%.80s\"", line);
  for (size_t i = 0; i + 2 < n; i++) /* every line but the last */
    if ((i == 0 || r[i - 1] == '\n') && r[i] == '.')
      FUZZ_CHECK(r[i + 1] == '.', "a text line starting with \".\" not stuffed");
}

static bool has_word(const char *line) { return line[strspn(line, " \t")] != '\0'; }

/* The actor a kill line ends, found as the console finds it (a registered name, else a pid
 * in hex, "0x" optional; an "@node" suffix dropped), or TR_PID_NONE: for no actor, and for
 * the reason "normal", which an actor that does not trap exits ignores. The next line waits
 * for that actor's exit, as an operator's would after a kill: pipelined right behind it,
 * "info" of the same actor asks one that exits before answering, which the console waits
 * TR_CONSOLE_ASK_MS for (correct, but it would make the run a timeout hunt). */
static tr_pid_t kill_target(tr_system_t *system, const char *line) {
  char buf[TR_CONSOLE_LINE_MAX + 1], *save;
  snprintf(buf, sizeof buf, "%s", line);
  char *cmd = strtok_r(buf, " \t", &save), *id = strtok_r(NULL, " \t", &save);
  char *why = strtok_r(NULL, "", &save);
  if (!cmd || strcmp(cmd, "kill") != 0 || !id)
    return TR_PID_NONE;
  if (why && strcmp(why + strspn(why, " "), "normal") == 0)
    return TR_PID_NONE;
  id[strcspn(id, "@")] = '\0';
  tr_pid_t pid = strlen(id) <= TR_NAME_MAX ? tr_whereis(system, id) : TR_PID_NONE;
  const char *h = strncasecmp(id, "0x", 2) == 0 ? id + 2 : id;
  size_t n = strlen(h);
  if (tr_pid_is_none(pid) && n && n <= 16 && strspn(h, "0123456789abcdefABCDEF") == n)
    pid.id = strtoull(h, NULL, 16);
  return pid;
}

/* Wait for the exit a kill line sent (its DOWN), or at most PAUSE_MS: true when waiting. */
#define PAUSE_MS 50u
static bool pause_after_kill(tr_ctx_t *ctx, driver_t *d, const char *line) {
  tr_pid_t pid = kill_target(d->s.sys, line);
  if (tr_pid_is_none(pid) || tr_pid_eq(pid, tr_self(ctx)) ||
      tr_monitor(ctx, pid, &d->pause_mon) != 0)
    return false;
  if (tr_send_after(ctx, PAUSE_MS, tr_self(ctx), atom_run, NULL, 0, &d->pause_timer) != 0)
    d->pause_timer.id = 0;
  return true;
}

/* The pause is over (the DOWN came, or the time ran out): drop what is left of it. */
static void pause_end(tr_ctx_t *ctx, driver_t *d) {
  if (d->pause_mon)
    tr_demonitor(ctx, d->pause_mon);
  if (d->pause_timer.id)
    tr_timer_cancel(ctx, d->pause_timer);
  d->pause_mon = 0;
  d->pause_timer.id = 0;
}

/* Run lines until one waits for an answer, or the input is done (then report and stop). */
static void feed(tr_ctx_t *ctx, driver_t *d) {
  char line[TR_CONSOLE_LINE_MAX + 1], orig[TR_CONSOLE_LINE_MAX + 1];
  while (d->s.wait == TR_CWAIT_NONE && d->off < d->len) {
    const uint8_t *p = d->in + d->off, *nl = memchr(p, '\n', d->len - d->off);
    size_t n = nl ? (size_t)(nl - p) : d->len - d->off;
    d->off += n + (nl != NULL);
    if (n && p[n - 1] == '\r')
      n--;
    if (n > TR_CONSOLE_LINE_MAX)
      continue; /* console.c answers it with an error and drops it */
    memcpy(line, p, n);
    line[n] = '\0';
    memcpy(orig, line, n + 1); /* the command cuts its line into words in place */
    d->before = d->s.capture_len;
    tr__console_command(ctx, &d->s, line);
    if (d->checked && d->s.wait == TR_CWAIT_NONE && has_word(orig))
      check_reply(d, d->before, orig);
    if (d->s.wait == TR_CWAIT_NONE && d->off < d->len && pause_after_kill(ctx, d, orig))
      return;
  }
  if (d->s.wait != TR_CWAIT_NONE)
    return;
  tr_send(ctx, d->client, atom_done, d->s.capture, d->s.capture_len);
  tr_stop(ctx);
}

static int driver_init(tr_ctx_t *ctx, void *state, const tr_msg_t *init) {
  driver_t *d = state;
  const void *bytes;
  size_t n;
  if (tr_msg_unpack(init, "[px]", &d->client, &bytes, &n) != 0 || n == 0)
    return TR_EINVAL;
  uint8_t opt = *(const uint8_t *)bytes;
  d->len = n - 1;
  d->in = malloc(d->len ? d->len : 1);
  if (!d->in)
    return TR_ENOMEM;
  memcpy(d->in, (const uint8_t *)bytes + 1, d->len);
  d->s.sys = tr_ctx_system(ctx);
  d->s.json = !(opt & 1);
  d->s.agent = !(opt & 2);
  /* The session the agent runs a command for: the harness's client, which takes the trace
   * events (and drops them) as another node's session would. */
  d->s.asker = d->s.agent ? d->client : TR_PID_NONE;
  d->s.last_ns = d->s.sys->start_ns;
  d->checked = d->s.agent;
  return tr_send(ctx, tr_self(ctx), atom_run, NULL, 0);
}

static int driver_receive(tr_ctx_t *ctx, void *state, const tr_msg_t *m) {
  driver_t *d = state;
  tr_atom_t tag = tr_msg_tag(m);
  tr_down_t down;
  if (tag == atom_run) {
    pause_end(ctx, d); /* the time ran out (or a late timer: nothing to end) */
    feed(ctx, d);
  } else if ((tag == TR_ATOM_REPLY || tag == TR_ATOM_TIMEOUT) &&
             tr__console_awaits(&d->s, tr_msg_ref(m))) {
    tr__console_answer(ctx, &d->s, m);
    if (d->s.wait == TR_CWAIT_NONE) {
      if (d->checked)
        check_reply(d, d->before, "(the command that waited)");
      feed(ctx, d);
    }
  } else if (tag == TR_ATOM_DOWN && d->pause_mon && tr_msg_down(m, &down) == 0 &&
             down.ref == d->pause_mon) {
    d->pause_mon = 0; /* fired: nothing to remove */
    pause_end(ctx, d);
    feed(ctx, d);
  } else if (tag == TR_ATOM_DOWN) {
    tr__console_tracer_down(ctx, &d->s, m);
  }
  return 0; /* trace events and what `send` sent here are dropped */
}

static void driver_terminate(tr_ctx_t *ctx, void *state, const tr_reason_t *reason) {
  (void)reason;
  driver_t *d = state;
  tr__console_untrace_all(ctx, &d->s);
  tr__console_gather_free(&d->s);
  free(d->s.capture);
  free(d->in);
}

static const tr_behaviour_t driver = {.name = "fuzz.console",
                                      .state_size = sizeof(driver_t),
                                      .init = driver_init,
                                      .receive = driver_receive,
                                      .terminate = driver_terminate};

/* ---- the harness ---- */

static void stop(void) {
  tr_client_close(client);
  tr_system_free(sys);
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc;
  (void)argv;
  tr_log_set_level(TR_LOG_ERROR);
  tr_config_t cfg;
  tr_config_init(&cfg);
  cfg.workers = 1;
  FUZZ_CHECK(tr_system_new(&cfg, &sys) == 0, "tr_system_new");
  tr_cluster_config_t cc;
  tr_cluster_config_init(&cc);
  cc.name = "fuzz";
  cc.listen = "127.0.0.1:0";
  cc.cookie = "a cookie for the fuzz node only";
  cc.cookie_len = strlen(cc.cookie);
  cc.seeds = NULL;
  FUZZ_CHECK(tr_cluster_start(sys, &cc) == 0, "tr_cluster_start");
  tr_listener_t l;
  FUZZ_CHECK(tr_console_start(sys, "127.0.0.1", 0, &l) == 0, "tr_console_start");
  atom_run = tr_atom(sys, "fuzz.run");
  atom_done = tr_atom(sys, "fuzz.done");
  FUZZ_CHECK(tr_client_open(sys, &client) == 0, "tr_client_open");
  atexit(stop);
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size == 0)
    return 0;
  victims();
  tr_pid_t d;
  int rc = tr_spawnf(tr_client_ctx(client), &driver, &d, "[px]", tr_client_pid(client), data, size);
  FUZZ_CHECK(rc == 0, "spawn the driver: %d", rc);
  for (int waited = 0;;) {
    tr_msg_t *m;
    rc = tr_client_receive(client, 100, &m);
    if (rc == 0) {
      bool done = tr_msg_tag(m) == atom_done && tr_pid_eq(tr_msg_from(m), d);
      tr_msg_free(m);
      if (done)
        break;
      continue; /* what `send` sent to the client */
    }
    FUZZ_CHECK(rc == TR_ETIMEDOUT, "tr_client_receive: %d", rc);
    tr_actor_info_t info;
    if (tr_actor_info(sys, d, &info) != 0)
      break; /* a command killed the driver itself */
    waited += 100;
    FUZZ_CHECK(waited < DRIVER_WAIT_MS, "the console did not answer within %d ms", DRIVER_WAIT_MS);
  }
  return 0;
}
