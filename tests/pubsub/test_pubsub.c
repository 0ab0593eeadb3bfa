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

/* ---- the publish order ---- */

/* A reader of pushes: RESP arrays of bulk strings (or integers), from a blocking socket. */
typedef struct {
  int fd;
  char buf[1 << 16];
  size_t len, off;
} pushes_t;

static bool fill_more(pushes_t *r) {
  if (r->off > 0) {
    memmove(r->buf, r->buf + r->off, r->len - r->off);
    r->len -= r->off;
    r->off = 0;
  }
  struct pollfd p = {.fd = r->fd, .events = POLLIN};
  if (r->len == sizeof r->buf || poll(&p, 1, WAIT_MS) != 1)
    return false;
  ssize_t n = recv(r->fd, r->buf + r->len, sizeof r->buf - r->len, 0);
  if (n <= 0)
    return false;
  r->len += (size_t)n;
  return true;
}

/* A "<type>N\r\n" header at r->off + *at: N, and *at past it; -2 when incomplete. */
static long long header_at(pushes_t *r, size_t *at) {
  char *p = r->buf + r->off + *at, *end = r->buf + r->len;
  char *nl = memchr(p, '\n', (size_t)(end - p));
  if (!nl)
    return -2;
  *at = (size_t)(nl + 1 - (r->buf + r->off));
  return strtoll(p + 1, NULL, 10);
}

/* The next push: its elements as strings into el[0..4) (cut at 63 bytes). */
static int next_push(pushes_t *r, char el[4][64]) {
  for (;;) {
    size_t at = 0;
    long long n = r->len > r->off ? header_at(r, &at) : -2;
    bool whole = n >= 0;
    for (long long i = 0; whole && i < n; i++) {
      char *p = r->buf + r->off + at;
      long long v = header_at(r, &at);
      if (v == -2) {
        whole = false;
        break;
      }
      if (*p == '$') {
        if (r->len - r->off - at < (size_t)v + 2) {
          whole = false;
          break;
        }
        if (i < 4)
          snprintf(el[i], 64, "%.*s", (int)(v < 63 ? v : 63), r->buf + r->off + at);
        at += (size_t)v + 2;
      } else if (i < 4) {
        snprintf(el[i], 64, "%lld", v);
      }
    }
    if (whole) {
      r->off += at;
      return (int)n;
    }
    assert_true(fill_more(r));
  }
}

/* Guards against the order Redis gives being lost when one connection publishes to several
 * channels and patterns (the old design sent each channel's messages through its own topic
 * actor, so they overtook each other): a subscriber of all of them gets each publisher's
 * messages in publish order, none lost, while three publishers pipeline at once. */
static void pipelined_publishers_keep_their_order_across_channels(void **state) {
  fix_t *f = *state;
  enum { PUBS = 3, MSGS = 6000 };
  pushes_t *r = calloc(1, sizeof *r);
  assert_non_null(r);
  r->fd = dial(f);
  say(r->fd, "SUBSCRIBE o:a o:b\r\nPSUBSCRIBE o:p*\r\n");
  char el[4][64];
  for (int i = 0; i < 3; i++)
    assert_int_equal(next_push(r, el), 3);
  int pub[PUBS];
  static char batch[MSGS * 64];
  for (int k = 0; k < PUBS; k++) {
    pub[k] = dial(f);
    size_t n = 0;
    static const char *chans[] = {"o:a", "o:b", "o:p1"};
    for (int i = 0; i < MSGS; i++) {
      char payload[32];
      int pl = snprintf(payload, sizeof payload, "%d:%d", k, i);
      const char *ch = chans[i % 3];
      n += (size_t)snprintf(batch + n, sizeof batch - n,
                            "*3\r\n$7\r\nPUBLISH\r\n$%zu\r\n%s\r\n$%d\r\n%s\r\n", strlen(ch), ch,
                            pl, payload);
    }
    sock_send(pub[k], batch, n); /* all at once: pipelined */
  }
  int next[PUBS] = {0};
  for (int got = 0; got < PUBS * MSGS; got++) {
    int n = next_push(r, el);
    assert_true(n == 3 || n == 4);
    int k = -1, i = -1;
    assert_int_equal(sscanf(el[n - 1], "%d:%d", &k, &i), 2);
    assert_true(k >= 0 && k < PUBS);
    if (i != next[k])
      fail_msg("publisher %d: got message %d, expected %d", k, i, next[k]);
    next[k]++;
  }
  for (int k = 0; k < PUBS; k++)
    close(pub[k]);
  close(r->fd);
  free(r);
}

/* Guards against a pmessage overtaking its message, for a subscriber of a channel and of a
 * pattern that matches it: Redis sends the message, then the pmessage, for each publish. */
static void a_channel_and_pattern_subscriber_gets_message_then_pmessage(void **state) {
  fix_t *f = *state;
  enum { MSGS = 3000 };
  pushes_t *r = calloc(1, sizeof *r);
  assert_non_null(r);
  r->fd = dial(f);
  say(r->fd, "SUBSCRIBE mp:x\r\nPSUBSCRIBE mp:*\r\n");
  char el[4][64];
  assert_int_equal(next_push(r, el), 3);
  assert_int_equal(next_push(r, el), 3);
  int pa = dial(f), pb = dial(f);
  static char batch[2][MSGS * 48];
  size_t n[2] = {0, 0};
  for (int i = 0; i < MSGS; i++)
    for (int k = 0; k < 2; k++) {
      char payload[16];
      int pl = snprintf(payload, sizeof payload, "%d:%d", k, i);
      n[k] += (size_t)snprintf(batch[k] + n[k], sizeof batch[k] - n[k],
                               "*3\r\n$7\r\nPUBLISH\r\n$4\r\nmp:x\r\n$%d\r\n%s\r\n", pl, payload);
    }
  sock_send(pa, batch[0], n[0]);
  sock_send(pb, batch[1], n[1]);
  char last[64] = "";
  for (int got = 0; got < 2 * 2 * MSGS; got++) {
    int k = next_push(r, el);
    if (k == 3) { /* a message: its pmessage comes next */
      assert_string_equal(el[0], "message");
      snprintf(last, sizeof last, "%s", el[2]);
    } else {
      assert_int_equal(k, 4);
      assert_string_equal(el[0], "pmessage");
      assert_string_equal(el[3], last);
      last[0] = '\0';
    }
  }
  close(pa);
  close(pb);
  close(r->fd);
  free(r);
}

/* Guards against a PUBLISH reply that counts receivers it did not reach, or misses some
 * (a subscriber of the channel and of two matching patterns counts three times, as in
 * Redis), pipelined or not. */
static void publish_counts_exactly_the_receivers(void **state) {
  fix_t *f = *state;
  int a = dial(f), b = dial(f), p = dial(f);
  say(a, "SUBSCRIBE cnt\r\nPSUBSCRIBE c?t c*\r\n");
  expect(a, SUB("cnt", 3) ":1\r\n*3\r\n$10\r\npsubscribe\r\n$3\r\nc?t\r\n:2\r\n"
                          "*3\r\n$10\r\npsubscribe\r\n$2\r\nc*\r\n:3\r\n");
  say(b, "SUBSCRIBE cnt\r\n");
  expect(b, SUB("cnt", 3) ":1\r\n");
  say(p, "PUBLISH cnt 1\r\nPUBLISH cat 2\r\nPUBLISH dog 3\r\nPUBLISH cnt 4\r\n");
  expect(p, ":4\r\n:2\r\n:0\r\n:4\r\n");
  close(b);
  /* b's departure: its session exits and leaves the group soon after the close. */
  char reply[16] = "";
  for (int i = 0; i < 500 && strcmp(reply, ":3\r\n") != 0; i++) {
    say(p, "PUBLISH cnt x\r\n");
    size_t got = 0;
    while (got < 4 || reply[got - 1] != '\n') {
      ssize_t k = recv(p, reply + got, sizeof reply - 1 - got, 0);
      assert_true(k > 0);
      got += (size_t)k;
    }
    reply[got] = '\0';
    if (strcmp(reply, ":3\r\n") != 0)
      nanosleep(&(struct timespec){0, 10000000}, NULL);
  }
  assert_string_equal(reply, ":3\r\n");
  close(a);
  close(p);
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
      cmocka_unit_test_setup_teardown(pipelined_publishers_keep_their_order_across_channels, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(a_channel_and_pattern_subscriber_gets_message_then_pmessage,
                                      setup, teardown),
      cmocka_unit_test_setup_teardown(publish_counts_exactly_the_receivers, setup, teardown),
      cmocka_unit_test_setup_teardown(pubsub_introspection_counts_subscribers, setup, teardown),
      cmocka_unit_test_setup_teardown(a_slow_subscriber_is_dropped_and_publishers_go_on, setup,
                                      teardown),
      cmocka_unit_test(bad_usage_exits_2),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
