/* A program outside troupe's tree, built against an installed troupe (headers, troupe.pc or
 * find_package(troupe), libtroupe.so.0 or libtroupe.a) by scripts/check-install.sh. It uses
 * the library as a user would: a system, an actor, a message to it and a request answered
 * through a client, a debug console; and it checks that the library it runs with is the version of
 * the headers it was compiled with. Prints one line and exits 0 only when all of that worked. */
#include <stdio.h>
#include <string.h>

#include <troupe.h>

static tr_atom_t ADD, GET;

typedef struct {
  uint64_t total;
} counter_t;

/* ADD n adds n to the total; GET n replies total + n. */
static int counter_receive(tr_ctx_t *ctx, void *state, const tr_msg_t *m) {
  counter_t *c = state;
  uint64_t n;
  if (tr_msg_tag(m) == ADD && tr_msg_unpack(m, "u", &n) == 0)
    c->total += n;
  else if (tr_msg_tag(m) == GET && tr_msg_unpack(m, "u", &n) == 0)
    return tr_replyf(ctx, m, 0, "u", c->total + n);
  return 0;
}

static const tr_behaviour_t counter = {
    .name = "counter", .state_size = sizeof(counter_t), .receive = counter_receive};

static int fail(const char *what, int rc) {
  fprintf(stderr, "consumer: %s: %s\n", what, rc ? tr_strerror(rc) : "wrong");
  return 1;
}

static int run(tr_system_t *sys, tr_client_t *me) {
  tr_pid_t pid;
  int rc = tr_spawn(tr_system_ctx(sys), &counter, NULL, 0, &pid);
  if (rc != 0)
    return fail("spawn", rc);
  if ((rc = tr_register(sys, "counter", pid)) != 0)
    return fail("register", rc);
  /* A message, then a request: one sender's messages arrive in order, so the reply counts
   * the first one. */
  if ((rc = tr_sendf(tr_client_ctx(me), pid, ADD, "u", (uint64_t)40)) != 0)
    return fail("send", rc);
  unsigned char req[16];
  size_t len;
  if ((rc = tr_pack_into(req, sizeof req, &len, "u", (uint64_t)2)) != 0)
    return fail("pack", rc);
  tr_msg_t *reply;
  rc = tr_client_request(me, tr_whereis(sys, "counter"), GET, req, len, 5000, &reply);
  if (rc != 0)
    return fail("request", rc);
  uint64_t n = 0;
  rc = tr_msg_unpack(reply, "u", &n);
  tr_msg_free(reply);
  if (rc != 0)
    return fail("unpack the reply", rc);
  if (n != 42)
    return fail("the reply is not 42", 0);
  /* Parts that need the library's other dependencies, so that a static build shows its link
   * line complete: the debug console (jansson) and the cluster's configuration (libsodium). */
  tr_listener_t console;
  if ((rc = tr_console_start(sys, "127.0.0.1", 0, &console)) != 0)
    return fail("console", rc);
  if (tr_listener_port(sys, console) == 0)
    return fail("console port", 0);
  tr_cluster_config_t cfg;
  tr_cluster_config_init(&cfg);
  printf("consumer: ok, troupe %s, the actor answered %llu, console on port %u\n", tr_version(),
         (unsigned long long)n, (unsigned)tr_listener_port(sys, console));
  return 0;
}

int main(void) {
  /* The library's own version, not the headers' macro, must match the headers. */
  if (strcmp(tr_version(), TR_VERSION_STRING) != 0 || tr_version_number() != TR_VERSION_NUMBER) {
    fprintf(stderr, "consumer: linked troupe %s (0x%06x), headers %s (0x%06x)\n", tr_version(),
            tr_version_number(), TR_VERSION_STRING, (unsigned)TR_VERSION_NUMBER);
    return 1;
  }
  tr_system_t *sys;
  int rc = tr_system_new(NULL, &sys);
  if (rc != 0)
    return fail("system", rc);
  ADD = tr_atom(sys, "add");
  GET = tr_atom(sys, "get");
  tr_client_t *me = NULL;
  rc = tr_client_open(sys, &me);
  if (rc == 0)
    rc = run(sys, me);
  else
    rc = fail("client", rc);
  if (me)
    tr_client_close(me);
  tr_system_free(sys);
  return rc;
}
