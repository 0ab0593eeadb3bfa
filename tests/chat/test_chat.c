/* Integration tests of the chat server (examples/chat): the real troupe-chat executable,
 * started on a free port (--port 0; its one line names the port), driven through real
 * sockets on 127.0.0.1 the way irssi and nc would drive it, and stopped with SIGTERM, after
 * which it must exit 0 (under ASan that includes leaking nothing).
 *
 * Every wait is bounded by WAIT_MS, which only keeps a broken build from hanging; no test
 * asserts anything about timing. Clients answer the server's PINGs while they wait, unless
 * a test says otherwise. */
#include "support/proc.h"
#include "support/sock.h"

#include "examples/chat/irc.h" /* the line limits */

#ifndef TROUPE_CHAT_BIN
#error "TROUPE_CHAT_BIN must name the troupe-chat executable"
#endif

/* Upper bound of every wait: the support's, which only keeps a broken build from hanging. */
#define WAIT_MS SUP_WAIT_MS

typedef proc_t server_t;

typedef struct {
  int fd;
  bool pong; /* answer PING while waiting */
  bool eof;  /* the server closed the connection */
  size_t len;
  char buf[65536];
  char line[4096]; /* the last line read */
} client_t;

static int64_t now_ms(void) { return (int64_t)sup_now_ms(); }

/* ---- the server process ---- */

static void server_start(server_t *sv, const char *idle_ms) {
  char *argv[] = {"troupe-chat", "--port", "0", "--idle-ms", (char *)idle_ms, NULL};
  proc_start(sv, TROUPE_CHAT_BIN, argv);
}

static int group_setup(void **state) {
  server_t *sv = calloc(1, sizeof *sv);
  if (!sv)
    return -1;
  signal(SIGPIPE, SIG_IGN); /* a server that drops a client must not kill the test */
  server_start(sv, "60000");
  *state = sv;
  return 0;
}

static int group_teardown(void **state) {
  server_t *sv = *state;
  proc_stop(sv);
  free(sv);
  return 0;
}

/* ---- clients ---- */

static client_t *client_new(const server_t *sv, int rcvbuf) {
  client_t *c = calloc(1, sizeof *c);
  assert_non_null(c);
  c->pong = true;
  c->fd = sock_try_connect(AF_INET, sv->port, rcvbuf);
  assert_true(c->fd >= 0);
  return c;
}

static void client_free(client_t *c) {
  close(c->fd);
  free(c);
}

static void send_raw(client_t *c, const void *data, size_t len) { sock_send(c->fd, data, len); }

static void say(client_t *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void say(client_t *c, const char *fmt, ...) {
  char text[4096];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(text, sizeof text - 2, fmt, ap);
  va_end(ap);
  assert_true(n > 0 && (size_t)n < sizeof text - 2);
  memcpy(text + n, "\r\n", 2);
  send_raw(c, text, (size_t)n + 2);
}

/* Read the next line into c->line before `end` (ms); false at EOF (c->eof), on error or at
 * end. */
static bool next_line(client_t *c, int64_t end) {
  for (;;) {
    char *nl = memchr(c->buf, '\n', c->len);
    if (nl) {
      size_t n = (size_t)(nl - c->buf);
      size_t keep = n < sizeof c->line ? n : sizeof c->line - 1;
      memcpy(c->line, c->buf, keep);
      c->line[keep > 0 && c->line[keep - 1] == '\r' ? keep - 1 : keep] = '\0';
      c->len -= n + 1;
      memmove(c->buf, nl + 1, c->len);
      if (c->pong && strncmp(c->line, "PING ", 5) == 0)
        say(c, "PONG %s", c->line + 5);
      return true;
    }
    if (c->len == sizeof c->buf)
      c->len = 0; /* a line longer than the buffer: the test fails on what follows */
    struct pollfd pf = {.fd = c->fd, .events = POLLIN};
    int64_t left = end - now_ms();
    if (left <= 0 || poll(&pf, 1, (int)left) != 1)
      return false;
    ssize_t n = recv(c->fd, c->buf + c->len, sizeof c->buf - c->len, 0);
    if (n <= 0) {
      c->eof = n == 0 || errno == ECONNRESET;
      return false;
    }
    c->len += (size_t)n;
  }
}

/* Read lines until one contains `want`; false if none does within WAIT_MS. */
static bool expect(client_t *c, const char *want) {
  for (int64_t end = now_ms() + WAIT_MS; next_line(c, end);)
    if (strstr(c->line, want))
      return true;
  return false;
}

/* Read until the server closes the connection (EOF or reset). */
static bool expect_eof(client_t *c) {
  for (int64_t end = now_ms() + WAIT_MS; !c->eof && now_ms() < end;)
    next_line(c, end);
  return c->eof;
}

/* An IRC client, registered (NICK, USER, welcome and MOTD read) and in the channels. */
static client_t *irc_client(const server_t *sv, const char *nick, const char *chans) {
  client_t *c = client_new(sv, 0);
  char want[64];
  say(c, "NICK %s", nick);
  say(c, "USER u%s 0 * :Test %s", nick, nick);
  snprintf(want, sizeof want, " 376 %s ", nick);
  assert_true(expect(c, want));
  if (chans) {
    /* Each channel's room answers on its own, so the 366 lines come in any order. */
    say(c, "JOIN %s", chans);
    size_t want_n = 1, got = 0;
    for (const char *p = chans; *p; p++)
      want_n += *p == ',';
    snprintf(want, sizeof want, " 366 %s #", nick);
    for (int64_t end = now_ms() + WAIT_MS; got < want_n && next_line(c, end);)
      got += strstr(c->line, want) != NULL;
    assert_int_equal(got, want_n);
  }
  return c;
}

/* ---- tests ---- */

/* Guards the basic path: JOIN through the rooms manager, PRIVMSG fanned out by the room,
 * with the sender's full prefix, and no echo to the sender. */
static void irc_clients_in_a_channel_see_each_others_messages(void **state) {
  client_t *a = irc_client(*state, "alice", "#chat");
  client_t *b = irc_client(*state, "bob", "#chat");
  assert_true(expect(a, ":bob!ubob@127.0.0.1 JOIN #chat"));
  say(b, "PRIVMSG #chat :hello, alice");
  assert_true(expect(a, ":bob!ubob@127.0.0.1 PRIVMSG #chat :hello, alice"));
  say(a, "PRIVMSG #chat :hi bob");
  assert_true(expect(b, ":alice!ualice@127.0.0.1 PRIVMSG #chat :hi bob"));
  say(b, "NAMES #chat"); /* bob's own line was not echoed: the next #chat line is alice's */
  assert_true(expect(b, " 353 bob = #chat :"));
  assert_non_null(strstr(b->line, "alice"));
  client_free(a);
  client_free(b);
}

/* Guards plain mode: a first line that is not IRC is a nick, the lines after it go to
 * #lobby, and both dialects see each other there. */
static void plain_and_irc_clients_share_the_lobby(void **state) {
  client_t *irc = irc_client(*state, "ira", "#lobby");
  client_t *p = client_new(*state, 0);
  send_raw(p, "pat\n", 4);
  assert_true(expect(p, "* in #lobby:"));
  assert_true(expect(irc, ":pat!pat@127.0.0.1 JOIN #lobby"));
  send_raw(p, "hello from nc\n", 14);
  assert_true(expect(irc, ":pat!pat@127.0.0.1 PRIVMSG #lobby :hello from nc"));
  say(irc, "PRIVMSG #lobby :hello, pat");
  assert_true(expect(p, "<ira> hello, pat"));
  say(irc, "PART #lobby :bye");
  assert_true(expect(p, "* ira left (bye)"));
  client_free(irc);
  client_free(p);
}

/* Guards nick uniqueness through the registry, in both dialects, case-insensitively. */
static void a_taken_nick_is_refused(void **state) {
  client_t *a = irc_client(*state, "Carol", NULL);
  client_t *b = client_new(*state, 0);
  say(b, "NICK carol");
  assert_true(expect(b, " 433 * carol :Nickname is already in use"));
  client_t *p = client_new(*state, 0);
  send_raw(p, "CAROL\n", 6);
  assert_true(expect(p, "already in use"));
  send_raw(p, "carol2\n", 7); /* and may try another */
  assert_true(expect(p, "* in #lobby:"));
  client_free(a);
  client_free(b);
  client_free(p);
}

/* Guards PRIVMSG to a nick: it reaches that user, from the right prefix, and not the channel
 * (a third member sees the sender's next channel line without the private one before it). */
static void privmsg_to_a_nick_reaches_that_user_only(void **state) {
  client_t *a = irc_client(*state, "dana", "#dm");
  client_t *b = irc_client(*state, "erin", "#dm");
  client_t *c = irc_client(*state, "finn", "#dm");
  say(a, "PRIVMSG ERIN :just for you");
  assert_true(expect(b, ":dana!udana@127.0.0.1 PRIVMSG erin :just for you"));
  say(a, "PRIVMSG #dm :for everyone");
  for (int64_t end = now_ms() + WAIT_MS; next_line(c, end);) {
    assert_null(strstr(c->line, "just for you"));
    if (strstr(c->line, "PRIVMSG #dm :for everyone"))
      break;
  }
  assert_non_null(strstr(c->line, "for everyone"));
  say(a, "PRIVMSG nobody_here :hello?");
  assert_true(expect(a, " 401 dana nobody_here :No such nick"));
  client_free(a);
  client_free(b);
  client_free(c);
}

/* Guards lines said while a join is on its way (bots pipeline JOIN and PRIVMSG, people
 * pipe a file into nc): they are held and said once the join lands, not lost. */
static void lines_sent_right_after_a_join_are_not_lost(void **state) {
  client_t *a = irc_client(*state, "quinn", "#pipe,#lobby");
  client_t *b = irc_client(*state, "rosa", NULL);
  say(b, "JOIN #pipe\r\nPRIVMSG #pipe :first words");
  assert_true(expect(a, ":rosa!urosa@127.0.0.1 PRIVMSG #pipe :first words"));
  client_t *p = client_new(*state, 0);
  send_raw(p, "sam\nstraight in\n", 16);
  assert_true(expect(a, ":sam!sam@127.0.0.1 PRIVMSG #lobby :straight in"));
  client_free(a);
  client_free(b);
  client_free(p);
}

/* Guards QUIT: its message reaches every room the user was in, and the quitter's
 * connection is closed after an ERROR line. */
static void quit_is_broadcast_to_the_rooms_of_the_user(void **state) {
  client_t *a = irc_client(*state, "gus", "#q1,#q2");
  client_t *b = irc_client(*state, "hal", "#q1");
  client_t *c = irc_client(*state, "ivy", "#q2");
  say(a, "QUIT :gone fishing");
  assert_true(expect(a, "ERROR :Closing Link"));
  assert_true(expect_eof(a));
  assert_true(expect(b, ":gus!ugus@127.0.0.1 QUIT :Quit: gone fishing"));
  assert_true(expect(c, ":gus!ugus@127.0.0.1 QUIT :Quit: gone fishing"));
  say(b, "NAMES #q1"); /* and gus left the room */
  assert_true(expect(b, " 353 hal = #q1 :"));
  assert_null(strstr(b->line, "gus"));
  client_free(a);
  client_free(b);
  client_free(c);
}

/* Guards NICK: the nick moves in the registry (the old one is free again), and a member
 * who shares two channels with the user sees the change once, not once per room. */
static void a_nick_change_is_seen_once_and_frees_the_old_nick(void **state) {
  client_t *a = irc_client(*state, "uma", "#n1,#n2");
  client_t *b = irc_client(*state, "vic", "#n1,#n2");
  say(a, "NICK uma2");
  assert_true(expect(a, ":uma!uuma@127.0.0.1 NICK :uma2"));
  say(a, "PRIVMSG #n1 :one");
  say(a, "PRIVMSG #n2 :two");
  int nicks = 0, markers = 0;
  for (int64_t end = now_ms() + WAIT_MS; markers < 2 && next_line(b, end);) {
    nicks += strstr(b->line, ":uma!uuma@127.0.0.1 NICK :uma2") != NULL;
    markers += strstr(b->line, ":uma2!uuma@127.0.0.1 PRIVMSG #n") != NULL;
  }
  assert_int_equal(markers, 2);
  assert_int_equal(nicks, 1);
  client_t *c = irc_client(*state, "uma", NULL); /* the old nick can be taken again */
  client_free(a);
  client_free(b);
  client_free(c);
}

/* Guards WHOIS: answered by the asked user's own session (311, 319, 318), 401 for nobody. */
static void whois_describes_a_user(void **state) {
  client_t *a = irc_client(*state, "wes", "#whois");
  client_t *b = irc_client(*state, "xia", NULL);
  say(b, "WHOIS WES");
  assert_true(expect(b, " 311 xia wes uwes 127.0.0.1 * :Test wes"));
  assert_true(expect(b, " 319 xia wes :@#whois")); /* @: its first member */
  assert_true(expect(b, " 318 xia wes :End of /WHOIS list."));
  say(b, "WHOIS nobody_at_all");
  assert_true(expect(b, " 401 xia nobody_at_all :No such nick"));
  client_free(a);
  client_free(b);
}

/* Guards NAMES (353/366) and the names sent on JOIN. */
static void names_lists_every_member(void **state) {
  client_t *a = irc_client(*state, "jo", "#names");
  client_t *b = irc_client(*state, "kim", "#names");
  client_t *c = irc_client(*state, "lee", NULL);
  say(c, "NAMES #names"); /* asked by someone who is not in it */
  assert_true(expect(c, " 353 lee = #names :@jo kim"));
  assert_true(expect(c, " 366 lee #names :End of /NAMES list."));
  client_free(a);
  client_free(b);
  client_free(c);
}

/* Guards PING/PONG, the keepalive IRC clients use. */
static void ping_gets_pong(void **state) {
  client_t *a = irc_client(*state, "max", NULL);
  say(a, "PING :token-42");
  assert_true(expect(a, ":troupe-chat PONG troupe-chat :token-42"));
  client_free(a);
}

/* Guards the numerics clients rely on for errors. */
static void errors_get_their_numerics(void **state) {
  client_t *a = client_new(*state, 0);
  say(a, "NICK ned");
  say(a, "JOIN #early");
  assert_true(expect(a, " 451 ned :You have not registered"));
  say(a, "NICK 9lives");
  assert_true(expect(a, " 432 ned 9lives :Erroneous nickname"));
  say(a, "NICK");
  assert_true(expect(a, " 431 ned :No nickname given"));
  say(a, "USER ned 0 *");
  assert_true(expect(a, " 461 ned USER :Not enough parameters"));
  say(a, "USER uned 0 * :Ned");
  assert_true(expect(a, " 001 ned "));
  say(a, "FROBNICATE now");
  assert_true(expect(a, " 421 ned FROBNICATE :Unknown command"));
  say(a, "PRIVMSG #nowhere :anyone?");
  assert_true(expect(a, " 401 ned #nowhere :No such nick or channel name"));
  say(a, "JOIN nochan");
  assert_true(expect(a, " 403 ned nochan :No such channel"));
  client_free(a);
}

/* Guards TOPIC (set, broadcast, 332 on query and on join), LIST and WHO. */
static void topic_list_and_who_answer(void **state) {
  client_t *a = irc_client(*state, "olga", "#topics");
  say(a, "TOPIC #topics");
  assert_true(expect(a, " 331 olga #topics :No topic is set"));
  say(a, "TOPIC #topics :actors all the way down");
  assert_true(expect(a, ":olga!uolga@127.0.0.1 TOPIC #topics :actors all the way down"));
  client_t *b = irc_client(*state, "pete", NULL);
  say(b, "JOIN #topics");
  assert_true(expect(b, " 332 pete #topics :actors all the way down"));
  say(b, "LIST");
  assert_true(expect(b, " 322 pete #topics 2 :actors all the way down"));
  assert_true(expect(b, " 323 pete :End of /LIST"));
  say(b, "WHO #topics");
  assert_true(expect(b, " 352 pete #topics uolga 127.0.0.1 troupe-chat olga H@ :0 Test olga"));
  assert_true(expect(b, " 315 pete #topics :End of /WHO list."));
  client_free(a);
  client_free(b);
}

/* Guards the out_limit: a member that never reads is dropped once its output passes the
 * limit, and the others go on receiving everything meanwhile and afterwards. */
static void a_client_that_never_reads_is_dropped_while_others_keep_receiving(void **state) {
  client_t *slow = client_new(*state, 4096);
  say(slow, "NICK slowpoke");
  say(slow, "USER us 0 * :Slow");
  say(slow, "JOIN #flood");
  assert_true(expect(slow, " 366 slowpoke #flood "));
  client_t *reader = irc_client(*state, "reader", "#flood");
  client_t *flooder = irc_client(*state, "flooder", "#flood");
  char big[480];
  memset(big, 'x', sizeof big - 1);
  big[sizeof big - 1] = '\0';
  bool dropped = false;
  /* Batches of 32 big lines; the reader reads each batch through before the next, so only
   * the client that does not read falls behind. 40 MB is far past any buffering. */
  for (unsigned batch = 0; !dropped && batch < 2500; batch++) {
    for (unsigned k = 0; k < 32; k++)
      say(flooder, "PRIVMSG #flood :%u.%u %s", batch, k, big);
    char last[32];
    snprintf(last, sizeof last, ":%u.31 ", batch);
    bool got = false;
    for (int64_t end = now_ms() + WAIT_MS; !got && next_line(reader, end);) {
      got = strstr(reader->line, last) != NULL;
      dropped |= strstr(reader->line, ":slowpoke!") && strstr(reader->line, " QUIT ");
    }
    assert_true(got);
  }
  assert_true(dropped);
  say(flooder, "PRIVMSG #flood :after the drop");
  assert_true(expect(reader, "PRIVMSG #flood :after the drop"));
  assert_true(expect_eof(slow));
  client_free(slow);
  client_free(reader);
  client_free(flooder);
}

/* Guards robustness: garbage bytes, an over-long line and a stream of unknown commands
 * cost the senders at most their own connections, and the server answers others. */
static void bad_input_leaves_the_server_answering_others(void **state) {
  client_t *watch = irc_client(*state, "watcher", "#bad");
  client_t *garbage = client_new(*state, 0);
  unsigned char junk[8192];
  srand(1);
  for (size_t i = 0; i < sizeof junk; i++)
    junk[i] = (unsigned char)rand();
  send_raw(garbage, junk, sizeof junk);
  client_t *longline = irc_client(*state, "longline", NULL);
  char lots[IRC_READ_MAX + 100];
  memset(lots, 'A', sizeof lots);
  send_raw(longline, lots, 5000);
  send_raw(longline, "\nPING :after\n", 13);
  assert_true(expect(longline, " 417 longline :Input line was too long"));
  assert_true(expect(longline, "PONG troupe-chat :after")); /* it stays */
  send_raw(longline, lots, sizeof lots);
  send_raw(longline, "\n", 1);
  assert_true(expect_eof(longline)); /* over the 8 KiB a line may have: closed as a flood */
  client_t *noisy = irc_client(*state, "noisy", "#bad");
  for (int i = 0; i < 300; i++)
    say(noisy, "NOSUCHCMD%d a b c", i);
  assert_true(expect(noisy, " 421 noisy NOSUCHCMD299 :Unknown command"));
  say(noisy, "PRIVMSG #bad :carriage\rreturn \001 and \002 controls");
  assert_true(expect(watch, ":noisy!unoisy@127.0.0.1 PRIVMSG #bad :carriage return \001 and "
                            "\002 controls"));
  client_t *fresh = irc_client(*state, "fresh", "#bad");
  say(fresh, "PING :still-alive");
  assert_true(expect(fresh, "PONG troupe-chat :still-alive"));
  say(fresh, "PRIVMSG #bad :all good");
  assert_true(expect(watch, ":fresh!ufresh@127.0.0.1 PRIVMSG #bad :all good"));
  client_free(watch);
  client_free(garbage);
  client_free(longline);
  client_free(noisy);
  client_free(fresh);
}

/* Guards the operator hand-over: when the last operator leaves, the member who has been
 * in longest becomes operator, announced by the server, and can set the +t topic. */
static void the_longest_member_becomes_operator_when_the_last_one_leaves(void **state) {
  client_t *a = irc_client(*state, "opfirst", "#reop");
  client_t *b = irc_client(*state, "opsecond", "#reop");
  client_t *c = irc_client(*state, "opthird", "#reop");
  say(b, "TOPIC #reop :not yet");
  assert_true(expect(b, " 482 opsecond #reop :You're not channel operator"));
  say(a, "PART #reop :over to you");
  assert_true(expect(c, ":troupe-chat MODE #reop +o opsecond"));
  assert_true(expect(b, ":troupe-chat MODE #reop +o opsecond"));
  say(b, "TOPIC #reop :now I can");
  assert_true(expect(c, ":opsecond!uopsecond@127.0.0.1 TOPIC #reop :now I can"));
  say(c, "NAMES #reop");
  assert_true(expect(c, " 353 opthird = #reop :@opsecond opthird"));
  client_free(a);
  client_free(b);
  client_free(c);
}

/* Guards JOIN 0 (leave every channel, each one answered) and the pacing of a client that
 * pipelines far more commands than the session queues: all of them are answered, in
 * order, none dropped, while the session pauses reading (reading resumes as the answers
 * come). */
static void a_client_that_pipelines_thousands_of_commands_gets_every_answer(void **state) {
  client_t *a = irc_client(*state, "piper", "#p1,#p2");
  say(a, "JOIN 0");
  assert_true(expect(a, ":piper!upiper@127.0.0.1 PART #p1"));
  assert_true(expect(a, ":piper!upiper@127.0.0.1 PART #p2"));
  say(a, "JOIN #p3");
  assert_true(expect(a, " 366 piper #p3 "));
  enum { N = 20000 };
  size_t cap = (size_t)N * 32, len = 0;
  char *burst = malloc(cap);
  assert_non_null(burst);
  for (int i = 0; i < N; i++)
    len += (size_t)snprintf(burst + len, cap - len, "%s\r\n", i % 2 ? "NAMES #p3" : "TOPIC #p3");
  len += (size_t)snprintf(burst + len, cap - len, "PING :end\r\n");
  /* Read while writing: the server's answers must be taken for it to go on reading. */
  size_t sent = 0;
  int names = 0, topics = 0;
  bool order = true, pong = false;
  int64_t end = now_ms() + 4 * WAIT_MS;
  while (!pong && now_ms() < end) {
    if (sent < len) {
      ssize_t n = send(a->fd, burst + sent, len - sent, MSG_DONTWAIT);
      sent += n > 0 ? (size_t)n : 0;
    }
    while (next_line(a, now_ms() + 10)) {
      if (strstr(a->line, " 331 piper #p3 ")) {
        order &= topics == names;
        topics++;
      } else if (strstr(a->line, " 366 piper #p3 ")) {
        order &= names + 1 == topics;
        names++;
      } else if (strstr(a->line, "PONG troupe-chat :end")) {
        pong = true;
        break;
      }
    }
  }
  free(burst);
  assert_true(pong);
  assert_true(order);
  assert_int_equal(topics, N / 2);
  assert_int_equal(names, N / 2);
  client_free(a);
}

/* Guards the idle check, on a server of its own with a short interval: a silent client
 * gets PING and, not answering, is dropped, while one that answers every PING stays. */
static void an_idle_client_is_pinged_then_dropped(void **state) {
  (void)state;
  server_t sv;
  server_start(&sv, "500");
  client_t *silent = irc_client(&sv, "silent", "#idle");
  client_t *awake = irc_client(&sv, "awake", "#idle");
  silent->pong = false;
  bool pinged = false, told = false, quit_seen = false;
  int awake_pings = 0;
  /* Read both in turn (awake answers its PINGs as it reads) until silent is gone and awake
   * has been through two rounds of PING and PONG. */
  for (int64_t end = now_ms() + WAIT_MS;
       !(silent->eof && quit_seen && awake_pings >= 2) && now_ms() < end;) {
    while (next_line(awake, now_ms() + 10)) {
      awake_pings += strncmp(awake->line, "PING ", 5) == 0;
      quit_seen |= strstr(awake->line, ":silent!usilent@127.0.0.1 QUIT :Ping timeout") != NULL;
    }
    while (!silent->eof && next_line(silent, now_ms() + 10)) {
      pinged |= strcmp(silent->line, "PING :troupe-chat") == 0;
      told |= strstr(silent->line, "ERROR :Closing Link: 127.0.0.1 (Ping timeout") != NULL;
    }
  }
  assert_true(pinged);
  assert_true(told);
  assert_true(silent->eof);
  assert_true(quit_seen);
  assert_true(awake_pings >= 2);
  say(awake, "PING :here");
  assert_true(expect(awake, "PONG troupe-chat :here"));
  client_free(silent);
  client_free(awake);
  proc_stop(&sv);
}

/* Guards the command line: bad input is a usage error with exit status 2. */
static void a_bad_command_line_exits_with_status_2(void **state) {
  (void)state;
  char *no_port[] = {"troupe-chat", NULL};
  char *bad_port[] = {"troupe-chat", "--port", "70000", NULL};
  char *junk_port[] = {"troupe-chat", "--port", "12ab", NULL};
  char *unknown[] = {"troupe-chat", "--port", "0", "--colour", NULL};
  char *stray[] = {"troupe-chat", "--port", "0", "extra", NULL};
  char *const *cases[] = {no_port, bad_port, junk_port, unknown, stray};
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    int status = proc_run(TROUPE_CHAT_BIN, cases[i]);
    assert_true(status != -1 && WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 2);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(irc_clients_in_a_channel_see_each_others_messages),
      cmocka_unit_test(plain_and_irc_clients_share_the_lobby),
      cmocka_unit_test(a_taken_nick_is_refused),
      cmocka_unit_test(privmsg_to_a_nick_reaches_that_user_only),
      cmocka_unit_test(lines_sent_right_after_a_join_are_not_lost),
      cmocka_unit_test(quit_is_broadcast_to_the_rooms_of_the_user),
      cmocka_unit_test(a_nick_change_is_seen_once_and_frees_the_old_nick),
      cmocka_unit_test(whois_describes_a_user),
      cmocka_unit_test(names_lists_every_member),
      cmocka_unit_test(ping_gets_pong),
      cmocka_unit_test(errors_get_their_numerics),
      cmocka_unit_test(topic_list_and_who_answer),
      cmocka_unit_test(a_client_that_never_reads_is_dropped_while_others_keep_receiving),
      cmocka_unit_test(bad_input_leaves_the_server_answering_others),
      cmocka_unit_test(the_longest_member_becomes_operator_when_the_last_one_leaves),
      cmocka_unit_test(a_client_that_pipelines_thousands_of_commands_gets_every_answer),
      cmocka_unit_test(an_idle_client_is_pinged_then_dropped),
      cmocka_unit_test(a_bad_command_line_exits_with_status_2),
  };
  return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
