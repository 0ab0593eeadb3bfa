/* Integration tests of troupe-pubsub (examples/pubsub): the real binary on a free port,
 * driven by the real redis-cli (Debian's redis-tools) and by raw sockets for exact bytes.
 * redis-cli is required: without it the tests fail and say so (scripts/deps.sh installs it). */
#include "support/proc.h"
#include "support/sock.h"

/* Output queued per client before the server drops it: small, so the slow-subscriber test
 * reaches it quickly. */
#define OUT_LIMIT "262144"
/* How long a test waits for bytes it expects. */
#define WAIT_MS 5000
#define BUF_MAX 65536

typedef proc_t fix_t;

static int setup(void **state) {
  if (system("command -v redis-cli >/dev/null 2>&1") != 0)
    fail_msg("redis-cli not found: install redis-tools (scripts/deps.sh does)");
  fix_t *f = calloc(1, sizeof *f);
  assert_non_null(f);
  char *argv[] = {"troupe-pubsub", "--port", "0", "--out-limit", OUT_LIMIT, NULL};
  proc_start(f, TROUPE_PUBSUB_BIN, argv);
  *state = f;
  return 0;
}

/* Stops the server as an operator would; it must exit 0. */
static int teardown(void **state) {
  fix_t *f = *state;
  proc_stop(f);
  free(f);
  return 0;
}

/* Run redis-cli with args against the server; its output (raw: stdout is a pipe) in out. */
static void cli(const fix_t *f, const char *args, char *out, size_t cap) {
  char cmd[512];
  snprintf(cmd, sizeof cmd, "timeout 10 redis-cli -p %d %s", f->port, args);
  FILE *p = popen(cmd, "r");
  assert_non_null(p);
  size_t n = fread(out, 1, cap - 1, p);
  out[n] = 0;
  assert_int_equal(pclose(p), 0);
}

static void expect_cli(const fix_t *f, const char *args, const char *want) {
  char out[BUF_MAX];
  cli(f, args, out, sizeof out);
  assert_string_equal(out, want);
}

static int dial(const fix_t *f) { return sock_connect(AF_INET, f->port); }

static void say(int fd, const char *s) { sock_send_str(fd, s); }

/* Read exactly the bytes of want (failing on anything else or on a timeout). */
static void expect(int fd, const char *want) {
  size_t n = strlen(want), got = 0;
  char buf[BUF_MAX];
  while (got < n) {
    struct pollfd p = {.fd = fd, .events = POLLIN};
    assert_int_equal(poll(&p, 1, WAIT_MS), 1);
    ssize_t r = recv(fd, buf + got, n - got, 0);
    assert_true(r > 0);
    got += (size_t)r;
  }
  buf[got] = 0;
  assert_string_equal(buf, want);
}

/* True once the peer has closed (EOF or reset) within ms. */
static bool closed_within(int fd, int ms) {
  char buf[BUF_MAX];
  size_t total = 0;
  for (uint64_t end = sup_now_ms() + (uint64_t)ms; sup_now_ms() < end;) {
    struct pollfd p = {.fd = fd, .events = POLLIN};
    if (poll(&p, 1, 10) == 1) {
      ssize_t r = recv(fd, buf, sizeof buf, 0);
      if (r <= 0)
        return true;
      total += (size_t)r;
    }
  }
  fprintf(stderr, "closed_within: read %zu bytes, no end\n", total);
  return false;
}

#define SUB(ch, n) "*3\r\n$9\r\nsubscribe\r\n$" #n "\r\n" ch "\r\n"

/* Guards against a subscription redis-cli cannot use: confirmations, counts, pushes. */
static void redis_cli_publish_reaches_a_redis_cli_subscriber(void **state) {
  fix_t *f = *state;
  char cmd[256], line[256];
  snprintf(cmd, sizeof cmd, "timeout 10 redis-cli -p %d subscribe chan", f->port);
  FILE *sub = popen(cmd, "r");
  assert_non_null(sub);
  const char *confirm[] = {"subscribe\n", "chan\n", "1\n"};
  for (int i = 0; i < 3; i++) {
    assert_non_null(fgets(line, sizeof line, sub));
    assert_string_equal(line, confirm[i]);
  }
  expect_cli(f, "publish chan hi", "1\n");
  expect_cli(f, "publish other hi", "0\n");
  const char *push[] = {"message\n", "chan\n", "hi\n"};
  for (int i = 0; i < 3; i++) {
    assert_non_null(fgets(line, sizeof line, sub));
    assert_string_equal(line, push[i]);
  }
  expect_cli(f, "pubsub numsub chan nope", "chan\n1\nnope\n0\n");
  pclose(sub);
}

/* Guards against glob matching that differs from Redis's stringmatchlen. */
static void psubscribe_patterns_match_like_redis(void **state) {
  fix_t *f = *state;
  int fd = dial(f);
  say(fd, "PSUBSCRIBE h?llo h[^e]llo h[a-b]llo a\\*b *\r\n");
  expect(fd, "*3\r\n$10\r\npsubscribe\r\n$5\r\nh?llo\r\n:1\r\n"
             "*3\r\n$10\r\npsubscribe\r\n$8\r\nh[^e]llo\r\n:2\r\n"
             "*3\r\n$10\r\npsubscribe\r\n$9\r\nh[a-b]llo\r\n:3\r\n"
             "*3\r\n$10\r\npsubscribe\r\n$4\r\na\\*b\r\n:4\r\n"
             "*3\r\n$10\r\npsubscribe\r\n$1\r\n*\r\n:5\r\n");
  expect_cli(f, "publish hallo x", "4\n");
  expect(fd, "*4\r\n$8\r\npmessage\r\n");
  expect_cli(f, "publish hello x", "2\n");
  expect_cli(f, "publish 'a*b' x", "2\n");
  expect_cli(f, "publish axb x", "1\n");
  expect_cli(f, "publish ''  x", "0\n"); /* as Redis, "*" needs a byte */
  expect_cli(f, "pubsub numpat", "5\n");
  close(fd);
}

/* Guards against reply shapes that differ from Redis 7 by a byte. */
static void replies_match_redis_byte_for_byte(void **state) {
  fix_t *f = *state;
  int fd = dial(f);
  say(fd, "UNSUBSCRIBE\r\nPING\r\nPING hi\r\nECHO x\r\nHELLO 3\r\nGET k\r\nSUBSCRIBE a b\r\n"
          "PUBLISH a x\r\nPING\r\nPING m\r\nUNSUBSCRIBE b\r\nUNSUBSCRIBE\r\nUNSUBSCRIBE\r\n");
  expect(
      fd,
      "*3\r\n$11\r\nunsubscribe\r\n$-1\r\n:0\r\n+PONG\r\n$2\r\nhi\r\n$1\r\nx\r\n"
      "-NOPROTO unsupported protocol version\r\n"
      "-ERR unknown command 'GET', with args beginning with: 'k' \r\n" SUB("a", 1) ":1\r\n" SUB(
          "b", 1) ":2\r\n"
                  "-ERR Can't execute 'publish': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / "
                  "QUIT / RESET are allowed in this context\r\n"
                  "*2\r\n$4\r\npong\r\n$0\r\n\r\n*2\r\n$4\r\npong\r\n$1\r\nm\r\n"
                  "*3\r\n$11\r\nunsubscribe\r\n$1\r\nb\r\n:1\r\n"
                  "*3\r\n$11\r\nunsubscribe\r\n$1\r\na\r\n:0\r\n"
                  "*3\r\n$11\r\nunsubscribe\r\n$-1\r\n:0\r\n");
  say(fd, "COMMAND DOCS\r\nQUIT\r\nPING\r\n");
  expect(fd, "-ERR unknown command 'COMMAND', with args beginning with: 'DOCS' \r\n+OK\r\n");
  assert_true(closed_within(fd, WAIT_MS));
  close(fd);
  fd = dial(f);
  say(fd, "*1\r\n$-5\r\n");
  expect(fd, "-ERR Protocol error: invalid bulk length\r\n");
  assert_true(closed_within(fd, WAIT_MS));
  close(fd);
}

/* Guards against PUBSUB figures that miss a subscriber or keep a departed one. */
static void pubsub_introspection_counts_subscribers(void **state) {
  fix_t *f = *state;
  int a = dial(f), b = dial(f);
  say(a, "SUBSCRIBE news sport\r\n");
  expect(a, SUB("news", 4) ":1\r\n" SUB("sport", 5) ":2\r\n");
  say(b, "SUBSCRIBE news\r\nPSUBSCRIBE n*\r\n");
  expect(b, SUB("news", 4) ":1\r\n*3\r\n$10\r\npsubscribe\r\n$2\r\nn*\r\n:2\r\n");
  expect_cli(f, "pubsub numsub news sport x", "news\n2\nsport\n1\nx\n0\n");
  expect_cli(f, "pubsub channels 'n*'", "news\n");
  expect_cli(f, "publish news hi", "3\n");
  close(a);
  for (int i = 0; i < 200; i++) { /* a's departure reaches the directory soon */
    char out[256];
    cli(f, "pubsub numsub news", out, sizeof out);
    if (strcmp(out, "news\n1\n") == 0)
      break;
    nanosleep(&(struct timespec){0, 10000000}, NULL);
  }
  expect_cli(f, "pubsub numsub news sport", "news\n1\nsport\n0\n");
  expect_cli(f, "pubsub channels", "news\n");
  close(b);
}

/* Guards against a subscriber that stops reading holding back publishers or the server. */
static void a_slow_subscriber_is_dropped_and_publishers_go_on(void **state) {
  fix_t *f = *state;
  int slow = dial(f), pub = dial(f);
  say(slow, "SUBSCRIBE slow\r\n");
  expect(slow, SUB("slow", 4) ":1\r\n");
  static char cmd[16384 + 64];
  int n = snprintf(cmd, sizeof cmd, "*3\r\n$7\r\nPUBLISH\r\n$4\r\nslow\r\n$16384\r\n");
  memset(cmd + n, 'x', 16384);
  memcpy(cmd + n + 16384, "\r\n", 3);
  char reply[8];
  bool dropped = false;
  for (int i = 0; i < 2000 && !dropped; i++) { /* 32 MiB at most, far past the limit */
    say(pub, cmd);
    struct pollfd p = {.fd = pub, .events = POLLIN};
    assert_int_equal(poll(&p, 1, WAIT_MS), 1); /* the publisher is answered every time */
    ssize_t r = recv(pub, reply, 4, 0);
    assert_int_equal(r, 4);
    dropped = memcmp(reply, ":0\r\n", 4) == 0;
  }
  assert_true(dropped);
  assert_true(closed_within(slow, WAIT_MS));
  expect_cli(f, "pubsub numsub slow", "slow\n0\n");
  close(slow);
  close(pub);
}

/* Guards against a server that starts on bad usage instead of saying so. */
static void bad_usage_exits_2(void **state) {
  (void)state;
  char cmd[512];
  snprintf(cmd, sizeof cmd, "%s --port x 2>/dev/null", TROUPE_PUBSUB_BIN);
  int status = system(cmd);
  assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 2);
}

int main(void) {
  signal(SIGPIPE, SIG_IGN);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(redis_cli_publish_reaches_a_redis_cli_subscriber, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(psubscribe_patterns_match_like_redis, setup, teardown),
      cmocka_unit_test_setup_teardown(replies_match_redis_byte_for_byte, setup, teardown),
      cmocka_unit_test_setup_teardown(pubsub_introspection_counts_subscribers, setup, teardown),
      cmocka_unit_test_setup_teardown(a_slow_subscriber_is_dropped_and_publishers_go_on, setup,
                                      teardown),
      cmocka_unit_test(bad_usage_exits_2),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
