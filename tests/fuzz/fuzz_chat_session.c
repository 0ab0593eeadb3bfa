/* A whole chat session (examples/chat) fed arbitrary bytes by a client: the real server's
 * actors (the listener's session per connection, the rooms manager under its supervisor,
 * the rooms) in one system in this process, and a TCP client on loopback that sends the
 * input in two writes (at the fuzzer's cut), shuts its sending side, and reads everything
 * until the server closes. So the bytes go through the lines codec, the session's queue
 * and every command an IRC or a plain client can reach, as they would from the network.
 *
 * A second user, "bob", stays connected in #lobby and #test for the whole run (this file's
 * other client), so PRIVMSG, WHOIS, KICK, MODE, NAMES and the rest meet a real other
 * session; it is reconnected if it is ever dropped, and answers the server's PINGs.
 *
 * Checked, beyond what the sanitizers see: the session always ends after the client's EOF
 * (a wait that never ends is libFuzzer's timeout), and everything it wrote is whole IRC
 * lines of at most 512 bytes with their "\r\n", no NUL and no line end inside one, however
 * the input tried to smuggle them.
 *
 * Input: the split point (fuzz.h), then the client's bytes. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "examples/chat/chat.h"
#include "examples/chat/irc.h"
#include "examples/chat/session.h"
#include "fuzz.h"
#include "troupe/supervisor.h"

/* Output a client may have queued before it is dropped, as troupe-chat's main.c sets it. */
#define OUT_LIMIT ((size_t)256 << 10)
/* The longest the client waits for the server to close: past libFuzzer's -timeout, which
 * reports a session that never ends; this only keeps a run without -timeout from hanging. */
#define CLOSE_WAIT_MS 20000

static tr_system_t *sys;
static uint16_t port;
static int bob = -1;

static const tr_child_spec_t children[] = {
    {.id = "rooms",
     .behaviour = &chat_rooms_behaviour,
     .restart = TR_RESTART_PERMANENT,
     .shutdown_ms = 1000,
     .name = CHAT_ROOMS_NAME},
};

static const tr_supervisor_spec_t tree = {.strategy = TR_ONE_FOR_ONE,
                                          .intensity = 5,
                                          .period_ms = 10000,
                                          .children = children,
                                          .nchildren = 1};

static void stop(void) {
  if (bob >= 0)
    close(bob);
  tr_system_free(sys);
}

static int dial(void) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  FUZZ_CHECK(fd >= 0, "socket: %s", strerror(errno));
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  FUZZ_CHECK(fuzz_connect(fd, (struct sockaddr *)&a, sizeof a) == 0, "connect: %s",
             strerror(errno));
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return fd;
}

static void send_all(int fd, const void *p, size_t n) {
  const char *b = p;
  while (n > 0) {
    ssize_t w = send(fd, b, n, MSG_NOSIGNAL);
    if (w < 0 && errno == EINTR)
      continue;
    if (w <= 0)
      return; /* the server closed first (a QUIT, a flood): what is left is not read */
    b += w;
    n -= (size_t)w;
  }
}

static void bob_connect(void) {
  static const char hello[] = "NICK bob\r\nUSER bob 0 * :Bob the bystander\r\n"
                              "JOIN #lobby,#test\r\nMODE #test +t\r\n";
  bob = dial();
  send_all(bob, hello, sizeof hello - 1);
}

/* Take what bob was sent (so its output never backs up), answer PINGs, join the channels
 * again now and then (a fuzzed client may have kicked it), and connect again if the server
 * dropped it. */
static void bob_tend(void) {
  static unsigned turns;
  static const char rejoin[] = "JOIN #lobby,#test\r\n", pong[] = "PONG :" IRC_SERVER "\r\n";
  if (++turns % 256 == 0)
    send_all(bob, rejoin, sizeof rejoin - 1);
  char buf[65536];
  for (;;) {
    ssize_t n = recv(bob, buf, sizeof buf - 1, MSG_DONTWAIT);
    if (n > 0) {
      buf[n] = '\0';
      if (strstr(buf, "PING "))
        send_all(bob, pong, sizeof pong - 1);
      continue;
    }
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
      return;
    close(bob); /* closed by the server */
    bob_connect();
    return;
  }
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc;
  (void)argv;
  signal(SIGPIPE, SIG_IGN);
  tr_log_set_level(TR_LOG_ERROR);
  tr_config_t cfg;
  tr_config_init(&cfg);
  cfg.workers = 1;
  FUZZ_CHECK(tr_system_new(&cfg, &sys) == 0, "tr_system_new");
  FUZZ_CHECK(chat_atoms_init(sys) == 0, "chat_atoms_init");
  tr_pid_t sup;
  FUZZ_CHECK(tr_supervisor_start(tr_system_ctx(sys), &tree, &sup) == 0, "the rooms' supervisor");
  unsigned char init[16];
  size_t len;
  FUZZ_CHECK(tr_pack_into(init, sizeof init, &len, "u", (uint64_t)60000) == 0, "init");
  tr_listen_opts_t lo = {
      .bind = "127.0.0.1",
      .behaviour = &chat_session_behaviour,
      .init = init,
      .init_len = len,
      .conn = {.codec = {.kind = TR_CODEC_LINES, .max = IRC_READ_MAX},
               .out_limit = OUT_LIMIT,
               .high_water = SESSION_HIGH_WATER},
  };
  tr_listener_t l;
  FUZZ_CHECK(tr_listen(tr_system_ctx(sys), &lo, &l) == 0, "tr_listen");
  port = tr_listener_port(sys, l);
  bob_connect();
  atexit(stop);
  return 0;
}

/* The server's output: whole lines, each at most 512 bytes with its "\r\n". */
typedef struct {
  size_t line; /* bytes of the line being read */
  bool cr;     /* its last byte was "\r" */
  size_t total;
} out_check_t;

static void check_output(out_check_t *o, const char *p, size_t n) {
  for (size_t i = 0; i < n; i++) {
    char c = p[i];
    FUZZ_CHECK(c != '\0', "a NUL at byte %zu of the output", o->total + i);
    o->line++;
    FUZZ_CHECK(o->line <= IRC_LINE_MAX + 2, "an output line over %d bytes", IRC_LINE_MAX + 2);
    if (c == '\n') {
      FUZZ_CHECK(o->cr, "a \"\\n\" without its \"\\r\" at byte %zu", o->total + i);
      o->line = 0;
    } else {
      FUZZ_CHECK(!o->cr, "a \"\\r\" inside a line at byte %zu", o->total + i);
    }
    o->cr = c == '\r';
  }
  o->total += n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  fuzz_input_t in = fuzz_input(data, size, 0);
  bob_tend();
  int fd = dial();
  send_all(fd, in.body, in.cut);
  send_all(fd, in.body + in.cut, in.len - in.cut);
  shutdown(fd, SHUT_WR);
  out_check_t o = {0, false, 0};
  char buf[65536];
  bool reset = false;
  for (;;) {
    struct pollfd pf = {.fd = fd, .events = POLLIN};
    int r = poll(&pf, 1, CLOSE_WAIT_MS);
    if (r < 0 && errno == EINTR)
      continue;
    FUZZ_CHECK(r == 1, "the session did not close within %d ms of the client's EOF", CLOSE_WAIT_MS);
    ssize_t n = recv(fd, buf, sizeof buf, 0);
    if (n < 0 && errno == EINTR)
      continue;
    reset = n < 0; /* a reset: the server closed with our bytes unread, and what it wrote last
                    * may be lost on the way */
    if (n <= 0)
      break;
    check_output(&o, buf, (size_t)n);
  }
  close(fd);
  FUZZ_CHECK(o.total > 0, "no greeting");
  FUZZ_CHECK(reset || o.line == 0, "the output ends inside a line");
  return 0;
}
