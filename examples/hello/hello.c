/* hello: the smallest troupe program worth running. It spawns a "greeter" actor and a pool of
 * "worker" actors, sends each worker a job, collects the answers in main() through a client,
 * asks the greeter a blocking question, watches a supervisor restart a child that crashed,
 * prints what the system counted, and stops. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <troupe.h>

enum { WORKERS = 8, JOBS_PER_WORKER = 1000 };

static struct { tr_atom_t job, result, hello, crash; } atoms;

/* A worker squares the numbers it is sent and reports the running total to whoever asked. */
typedef struct {
  uint64_t total;
  uint64_t jobs;
} worker_state;

static int worker_receive(tr_ctx_t *ctx, void *state, const tr_msg_t *m) {
  worker_state *s = state;
  uint64_t n, reply_to;
  if (tr_msg_tag(m) != atoms.job || tr_msg_unpack(m, "[uu]", &n, &reply_to) != 0)
    return 0; /* ignore what we do not understand */
  s->total += n * n;
  if (++s->jobs == JOBS_PER_WORKER) {
    tr_sendf(ctx, (tr_pid_t){reply_to}, atoms.result, "[uu]", tr_self(ctx).id, s->total);
    tr_stop(ctx);
  }
  return 0;
}

static const tr_behaviour_t worker_behaviour = {
    .name = "worker", .state_size = sizeof(worker_state), .receive = worker_receive};

/* The greeter answers requests with a greeting built from the name it was sent. */
static int greeter_receive(tr_ctx_t *ctx, void *state, const tr_msg_t *m) {
  (void)state;
  const char *name;
  size_t len;
  if (tr_msg_tag(m) == atoms.hello && tr_msg_unpack(m, "s", &name, &len) == 0) {
    char text[128];
    snprintf(text, sizeof text, "hello, %.*s, from actor %016" PRIx64, (int)len, name,
             tr_self(ctx).id);
    tr_replyf(ctx, m, 0, "s", text);
  }
  return 0;
}

static const tr_behaviour_t greeter_behaviour = {.name = "greeter", .receive = greeter_receive};

/* A crasher fails (its receive returns an error) when told "crash"; its supervisor, started
 * from the constant specs below, then starts a new one in its place. */
static int crasher_receive(tr_ctx_t *ctx, void *state, const tr_msg_t *m) {
  (void)ctx;
  (void)state;
  return tr_msg_tag(m) == atoms.crash ? 1 : 0;
}

static const tr_behaviour_t crasher_behaviour = {.name = "crasher", .receive = crasher_receive};

static const tr_child_spec_t crasher_child = {.id = "crasher",
                                              .behaviour = &crasher_behaviour,
                                              .restart = TR_RESTART_PERMANENT,
                                              .shutdown_ms = 1000};

static const tr_supervisor_spec_t crasher_tree = {.strategy = TR_ONE_FOR_ONE,
                                                  .intensity = 3,
                                                  .period_ms = 5000,
                                                  .children = &crasher_child,
                                                  .nchildren = 1};

/* Start the supervisor, crash its child, and poll (1 ms apart, about 5 s at most) until the
 * supervisor names a new child. */
static int show_restart(tr_client_t *me) {
  tr_pid_t sup, before, after = TR_PID_NONE;
  int rc = tr_supervisor_start(tr_client_ctx(me), &crasher_tree, &sup);
  if (rc == 0)
    rc = tr_supervisor_child(me, sup, "crasher", 1000, &before);
  if (rc == 0)
    rc = tr_send(tr_client_ctx(me), before, atoms.crash, NULL, 0);
  for (int i = 0; rc == 0 && i < 5000; i++) {
    if ((rc = tr_supervisor_child(me, sup, "crasher", 1000, &after)) != 0 ||
        (!tr_pid_is_none(after) && !tr_pid_eq(after, before)))
      break;
    tr_msg_t *m; /* nothing else is sent to main() now: this only waits 1 ms */
    if (tr_client_receive(me, 1, &m) == 0)
      tr_msg_free(m);
  }
  if (rc == 0 && (tr_pid_is_none(after) || tr_pid_eq(after, before)))
    rc = TR_ETIMEDOUT;
  if (rc == 0)
    printf("supervisor restarted crashed child: old pid %016" PRIx64 " -> new pid %016" PRIx64 "\n",
           before.id, after.id);
  return rc;
}

static int fail(const char *what, int rc) {
  fprintf(stderr, "hello: %s: %s\n", what, tr_strerror(rc));
  return 1;
}

int main(void) {
  tr_system_t *sys;
  int rc = tr_system_new(NULL, &sys);
  if (rc)
    return fail("system", rc);
  const tr_atom_def_t tags[] = {{"job", &atoms.job},
                                {"result", &atoms.result},
                                {"hello", &atoms.hello},
                                {"crash", &atoms.crash}};
  if ((rc = tr_atoms(sys, tags, sizeof tags / sizeof tags[0])) != 0)
    return fail("atoms", rc);

  tr_client_t *me;
  if ((rc = tr_client_open(sys, &me)) != 0)
    return fail("client", rc);
  tr_ctx_t *ctx = tr_client_ctx(me);

  tr_pid_t greeter, workers[WORKERS];
  if ((rc = tr_spawn(ctx, &greeter_behaviour, NULL, 0, &greeter)) != 0)
    return fail("spawn greeter", rc);
  tr_register(sys, "greeter", greeter);
  for (int i = 0; i < WORKERS; i++)
    if ((rc = tr_spawn(ctx, &worker_behaviour, NULL, 0, &workers[i])) != 0)
      return fail("spawn worker", rc);
  for (uint64_t j = 1; j <= JOBS_PER_WORKER; j++)
    for (int i = 0; i < WORKERS; i++)
      tr_sendf(ctx, workers[i], atoms.job, "[uu]", j, tr_client_pid(me).id);

  uint64_t expect = 0;
  for (uint64_t j = 1; j <= JOBS_PER_WORKER; j++)
    expect += j * j;
  int good = 0;
  for (int i = 0; i < WORKERS; i++) {
    tr_msg_t *m;
    uint64_t who, total;
    if ((rc = tr_client_receive(me, 5000, &m)) != 0)
      return fail("waiting for results", rc);
    if (tr_msg_unpack(m, "[uu]", &who, &total) == 0 && total == expect)
      good++;
    printf("worker %016" PRIx64 " summed %" PRIu64 " squares: %" PRIu64 "\n", who,
           (uint64_t)JOBS_PER_WORKER, total);
    tr_msg_free(m);
  }

  tr_msg_t *reply;
  const char *name = "main";
  char req[32];
  size_t len;
  if ((rc = tr_pack_into(req, sizeof req, &len, "s", name)) != 0)
    return fail("pack", rc);
  if ((rc = tr_client_request(me, tr_whereis(sys, "greeter"), atoms.hello, req, len, 1000,
                              &reply)) != 0)
    return fail("request", rc);
  const char *text;
  size_t tlen;
  if (tr_msg_unpack(reply, "s", &text, &tlen) == 0)
    printf("greeter says: %.*s\n", (int)tlen, text);
  tr_msg_free(reply);

  if ((rc = show_restart(me)) != 0)
    return fail("supervisor", rc);

  tr_stats_t st;
  tr_system_stats(sys, &st);
  printf("workers=%u actors=%" PRIu64 " spawned=%" PRIu64 " messages=%" PRIu64
         " dead_letters=%" PRIu64 " steals=%" PRIu64 "\n",
         st.workers, st.actors, st.spawned, st.messages, st.dead_letters, st.steals);
  tr_client_close(me);
  tr_system_free(sys);
  printf("%s: %d of %d workers answered correctly\n", good == WORKERS ? "ok" : "FAILED", good,
         WORKERS);
  return good == WORKERS ? 0 : 1;
}
