/* Tests of TCP for actors (net/; include/troupe/net.h) over real loopback sockets, with
 * plain POSIX sockets on the test's side: echo servers, limits that close one connection
 * and leave the others, output and input backpressure, dialling out, IPv6, garbage, owners
 * that exit, and a stop with sockets open. Actors report what they see to the test's
 * client; handlers cannot fail a cmocka test, so they count what they find wrong in `bad`.
 * There are no timing assertions: every wait is bounded only to keep a broken build from
 * hanging. */
#include "net/net.h"
#include "net/tcp_fixture.h"

/* An echo server's line limit, for the over-the-limit test. */
#define SHORT_LINE 64
/* Output limit test: the reading client asks ROUNDS times for RESP bytes; the other one
 * asks for a flood of PUMP_CHUNK writes, capped at PUMP_CAP in case nothing stops it. */
#define OUT_LIMIT (256u << 10)
#define RESP BLOB_SIZE
#define ROUNDS 100u
#define PUMP_CHUNK (16u << 10)
#define PUMP_CAP ((size_t)64 << 20)
#define SMALL_RCVBUF 4096
/* Read backpressure test: lines sent in one burst to an actor that takes 1 ms per line. */
#define HIGH_WATER 8u
#define BP_LINES 400u
#define SLOW_NS 1000000L
/* Garbage test: clients, and bytes each sends at most. */
#define FLOODERS 4
#define FLOOD_BYTES (256u << 10)
#define FRAME_MAX 1024u
#define DIAL_TIMEOUT_MS 10000u
#define SHORT_TIMEOUT_MS 200u
/* Reset test: lines each client sends twice before it resets, and clients. */
#define RESET_LINES 2000u
#define RESET_ROUNDS 5
/* Connections that fill a backlog-0 listener's accept queue, so later SYNs go unanswered. */
#define FILLERS 3
/* Half-close test: lines sent before the FIN, and rounds. */
#define HALF_LINES 3000u
#define HALF_ROUNDS 5
/* Linger tests: a short linger, so they finish soon. */
#define SHORT_LINGER_MS 300u
/* What "last" writes before its close: more than the kernel's buffers on both ends take. */
#define LAST_BYTES ((size_t)16 << 20)
/* Pause test: lines sent while paused, and how long the test lets them sit. */
#define HOLD_LINES 2000u
#define HOLD_WAIT_MS 300

/* ---- the tests ---- */

/* Guards the basic path: accept, TCP_OPEN with the right addresses, lines cut across
 * sends, ordered echoes, and TCP_CLOSED with reason 0 when the peer closes. */
static void echo_server_echoes_lines_and_reports_the_peer_close(void **state) {
  fix_t *f = *state;
  uint16_t port;
  listen_on(f, &echo_behaviour, NULL, NULL, MODE_LINES, &port);
  int fd = sock_connect(AF_INET, port);
  char peer[TR_ADDR_MAX], local[TR_ADDR_MAX], want[TR_ADDR_MAX];
  uint64_t id = expect_opened(f, peer, local);
  snprintf(want, sizeof want, "127.0.0.1:%u", (unsigned)sock_local_port(fd));
  assert_string_equal(peer, want);
  snprintf(want, sizeof want, "127.0.0.1:%u", (unsigned)port);
  assert_string_equal(local, want);

  sock_send_str(fd, "hello\nwor");
  sock_send_str(fd, "ld\r\n\n");
  char line[256];
  assert_int_equal(sock_read_line(fd, line, sizeof line), 5);
  assert_string_equal(line, "hello");
  assert_int_equal(sock_read_line(fd, line, sizeof line), 5);
  assert_string_equal(line, "world");
  assert_int_equal(sock_read_line(fd, line, sizeof line), 0);
  for (unsigned i = 0; i < 200; i++) {
    char msg[32];
    snprintf(msg, sizeof msg, "line %u\n", i);
    sock_send_str(fd, msg);
  }
  for (unsigned i = 0; i < 200; i++) {
    char msg[32];
    snprintf(msg, sizeof msg, "line %u", i);
    assert_true(sock_read_line(fd, line, sizeof line) > 0);
    assert_string_equal(line, msg);
  }
  close(fd);
  uint64_t cid;
  assert_int_equal(expect_closed(f, &cid), 0);
  assert_int_equal(cid, id);
}

/* Guards the translation of bind errors: libuv's codes never leak out. */
static void listen_errors_are_translated(void **state) {
  fix_t *f = *state;
  uint16_t port;
  listen_on(f, &echo_behaviour, "127.0.0.1", NULL, MODE_LINES, &port);
  tr_listen_opts_t o = {.bind = "127.0.0.1", .port = port, .behaviour = &echo_behaviour};
  tr_listener_t l;
  assert_int_equal(tr_listen(tr_system_ctx(f->sys), &o, &l), TR_EADDRINUSE);
  o.port = 0;
  o.bind = "not-an-address";
  assert_int_equal(tr_listen(tr_system_ctx(f->sys), &o, &l), TR_EINVAL);
  o.bind = NULL;
  o.behaviour = NULL;
  assert_int_equal(tr_listen(tr_system_ctx(f->sys), &o, &l), TR_EINVAL);
  o.behaviour = &echo_behaviour;
  o.conn.low_water = 10;
  o.conn.high_water = 5;
  assert_int_equal(tr_listen(tr_system_ctx(f->sys), &o, &l), TR_EINVAL);
  assert_int_equal(tr_listener_port(f->sys, (tr_listener_t){12345678}), 0);
}

/* Guards the line limit: an over-long line closes that connection with TR_ELIMIT, and the
 * listener keeps accepting. */
static void a_line_over_the_limit_closes_only_that_connection(void **state) {
  fix_t *f = *state;
  tr_conn_opts_t co = {.codec = {.kind = TR_CODEC_LINES, .max = SHORT_LINE}};
  uint16_t port;
  listen_on(f, &echo_behaviour, NULL, &co, MODE_LINES, &port);
  int good = sock_connect(AF_INET, port);
  expect_opened(f, NULL, NULL);
  int bad = sock_connect(AF_INET, port);
  uint64_t bad_id = expect_opened(f, NULL, NULL);
  char big[SHORT_LINE + 2];
  memset(big, 'x', sizeof big);
  sock_send(bad, big, sizeof big);
  uint64_t id;
  assert_int_equal(expect_closed(f, &id), TR_ELIMIT);
  assert_int_equal(id, bad_id);
  assert_true(sock_wait_closed(bad));
  close(bad);

  char line[SHORT_LINE + 8];
  memset(line, 'x', SHORT_LINE);
  line[SHORT_LINE] = '\n';
  sock_send(good, line, SHORT_LINE + 1); /* exactly the limit passes */
  assert_int_equal(sock_read_line(good, line, sizeof line), SHORT_LINE);
  int again = sock_connect(AF_INET, port);
  expect_opened(f, NULL, NULL);
  sock_send_str(again, "still here\n");
  assert_int_equal(sock_read_line(again, line, sizeof line), 10);
  close(again);
  close(good);
}

/* ---- output limit: "more" writes RESP bytes; "flood" writes until refused ---- */

static int pump_receive(tr_ctx_t *ctx, void *state, const tr_msg_t *m) {
  peer_t *s = state;
  fix_t *f = s->f;
  size_t len;
  const char *d = tr_msg_data(m, &len);
  if (tr_msg_tag(m) == TR_ATOM_TCP_OPEN) {
    report_opened(ctx, s, m);
  } else if (tr_msg_tag(m) == TR_ATOM_TCP_CLOSED) {
    report_closed(ctx, s, m);
  } else if (tr_msg_tag(m) == TR_ATOM_TCP_EOF) {
    on_eof(ctx, s, m);
  } else if (tr_msg_tag(m) == TR_ATOM_TCP_DATA && len == 4 && memcmp(d, "more", 4) == 0) {
    check(f, tr_conn_write(ctx, s->conn, f->blob, RESP) == 0);
  } else if (tr_msg_tag(m) == TR_ATOM_TCP_DATA && len == 4 && memcmp(d, "last", 4) == 0) {
    /* a big answer, then the close: the peer will not read it */
    for (size_t done = 0; done < LAST_BYTES; done += PUMP_CHUNK)
      check(f, tr_conn_write(ctx, s->conn, f->blob, PUMP_CHUNK) == 0);
    check(f, tr_conn_close(ctx, s->conn) == 0);
  } else if (tr_msg_tag(m) == TR_ATOM_TCP_DATA && len == 5 && memcmp(d, "flood", 5) == 0) {
    s->flooding = true;
    tr_send(ctx, tr_self(ctx), f->pump, NULL, 0);
  } else if (tr_msg_tag(m) == f->pump && s->flooding) {
    /* Writes succeed until the I/O thread drops the connection; then TR_ENOENT. */
    int rc = tr_conn_write(ctx, s->conn, f->blob, PUMP_CHUNK);
    s->written += PUMP_CHUNK;
    check(f, rc == 0 || rc == TR_ENOENT);
    if (rc == 0 && s->written < PUMP_CAP)
      tr_send(ctx, tr_self(ctx), f->pump, NULL, 0);
  }
  return 0;
}

static const tr_behaviour_t pump_behaviour = {
    .name = "pump", .state_size = sizeof(peer_t), .init = peer_init, .receive = pump_receive};

/* Guards the outbound limit: a client that never reads is disconnected with TR_ELIMIT once
 * its backlog passes out_limit, and a client that reads keeps getting all of its data. */
static void a_client_that_does_not_read_is_dropped_while_a_reader_keeps_receiving(void **state) {
  fix_t *f = *state;
  tr_conn_opts_t co = {.codec = {.kind = TR_CODEC_LINES}, .out_limit = OUT_LIMIT};
  uint16_t port;
  listen_on(f, &pump_behaviour, NULL, &co, MODE_LINES, &port);
  int sink = sock_try_connect(AF_INET, port, SMALL_RCVBUF);
  assert_true(sink >= 0);
  uint64_t sink_id = expect_opened(f, NULL, NULL);
  int reader = sock_connect(AF_INET, port);
  uint64_t reader_id = expect_opened(f, NULL, NULL);
  sock_send_str(sink, "flood\n");
  char *buf = malloc(RESP);
  assert_non_null(buf);
  for (unsigned i = 0; i < ROUNDS; i++) {
    sock_send_str(reader, "more\n");
    assert_true(sock_read_exact(reader, buf, RESP));
    assert_true(buf[0] == 'y' && buf[RESP - 1] == 'y');
  }
  free(buf);
  uint64_t id;
  assert_int_equal(expect_closed(f, &id), TR_ELIMIT);
  assert_int_equal(id, sink_id);
  close(reader);
  assert_int_equal(expect_closed(f, &id), 0);
  assert_int_equal(id, reader_id);
  close(sink);
}

/* ---- read backpressure: 1 ms per line, reporting the deepest mailbox it saw ---- */

static int slow_receive(tr_ctx_t *ctx, void *state, const tr_msg_t *m) {
  peer_t *s = state;
  fix_t *f = s->f;
  tr_actor_info_t info;
  check(f, tr_actor_info(tr_ctx_system(ctx), tr_self(ctx), &info) == 0);
  if (info.mailbox > s->max_depth)
    s->max_depth = info.mailbox;
  if (tr_msg_tag(m) == TR_ATOM_TCP_OPEN) {
    report_opened(ctx, s, m);
  } else if (tr_msg_tag(m) == TR_ATOM_TCP_CLOSED) {
    report_closed(ctx, s, m);
  } else if (tr_msg_tag(m) == TR_ATOM_TCP_EOF) {
    on_eof(ctx, s, m);
  } else if (tr_msg_tag(m) == TR_ATOM_TCP_DATA) {
    struct timespec ts = {0, SLOW_NS};
    nanosleep(&ts, NULL);
    size_t len;
    const char *d = tr_msg_data(m, &len);
    char want[32];
    int n = snprintf(want, sizeof want, "line %05u", (unsigned)s->count);
    check(f, len == (size_t)n && memcmp(d, want, len) == 0);
    if (++s->count == BP_LINES)
      tr_sendf(ctx, s->report, f->done, "[uuu]", s->count, s->max_depth, info.mailbox_hwm);
  }
  return 0;
}

static const tr_behaviour_t slow_behaviour = {
    .name = "slow", .state_size = sizeof(peer_t), .init = peer_init, .receive = slow_receive};

/* Guards read backpressure: a burst of lines that arrives in one read must not flood a slow
 * actor's mailbox. The contract allows high_water plus one read's worth of lines (here all
 * BP_LINES); this implementation stops in the middle of a read, so the mailbox never holds
 * more than high_water + 1 messages, and the test holds it to that (+1 for slack). Every
 * line must still arrive, in order. */
static void slow_actor_holds_back_reading_so_its_mailbox_stays_near_high_water(void **state) {
  fix_t *f = *state;
  tr_conn_opts_t co = {.codec = {.kind = TR_CODEC_LINES}, .high_water = HIGH_WATER};
  uint16_t port;
  listen_on(f, &slow_behaviour, NULL, &co, MODE_LINES, &port);
  int fd = sock_connect(AF_INET, port);
  expect_opened(f, NULL, NULL);
  char *burst = malloc(BP_LINES * 16);
  assert_non_null(burst);
  size_t len = 0;
  for (unsigned i = 0; i < BP_LINES; i++)
    len += (size_t)sprintf(burst + len, "line %05u\n", i);
  sock_send(fd, burst, len);
  free(burst);
  tr_msg_t *m = expect(f, f->done);
  uint64_t count, max_depth, hwm;
  assert_int_equal(tr_msg_unpack(m, "[uuu]", &count, &max_depth, &hwm), 0);
  tr_msg_free(m);
  printf("backpressure: %llu lines, deepest mailbox seen %llu, sampled high-water %llu\n",
         (unsigned long long)count, (unsigned long long)max_depth, (unsigned long long)hwm);
  assert_int_equal(count, BP_LINES);
  assert_true(max_depth <= HIGH_WATER + 2);
  assert_true(hwm <= HIGH_WATER + 2);
  close(fd);
  assert_int_equal(expect_closed(f, NULL), 0);
}

/* ---- dialling: [fix, report, port, how]: how 0 = "127.0.0.1", 1 = "localhost",
 * 2 = "127.0.0.1" with a short timeout ---- */

static int dialer_init(tr_ctx_t *ctx, void *state, const tr_msg_t *init) {
  peer_t *s = state;
  peer_init(ctx, state, init);
  tr_conn_opts_t co = {.codec = {.kind = TR_CODEC_LINES}};
  const char *host = s->b == 1 ? "localhost" : "127.0.0.1";
  uint32_t timeout = s->b == 2 ? SHORT_TIMEOUT_MS : DIAL_TIMEOUT_MS;
  int rc = tr_dial(ctx, host, (uint16_t)s->a, timeout, &co, &s->conn);
  check(s->f, rc == 0 && s->conn.id != 0);
  /* Writes may be queued before the connection is up: they go out once it is. */
  check(s->f, tr_conn_write(ctx, s->conn, "ping\n", 5) == 0);
  return 0;
}

static int dialer_receive(tr_ctx_t *ctx, void *state, const tr_msg_t *m) {
  peer_t *s = state;
  if (tr_msg_tag(m) == TR_ATOM_TCP_OPEN) {
    report_opened(ctx, s, m);
  } else if (tr_msg_tag(m) == TR_ATOM_TCP_CLOSED) {
    report_closed(ctx, s, m);
  } else if (tr_msg_tag(m) == TR_ATOM_TCP_DATA) {
    size_t len;
    const void *d = tr_msg_data(m, &len);
    tr_sendf(ctx, s->report, s->f->line, "[x]", d, len);
    check(s->f, tr_conn_close(ctx, s->conn) == 0);
  }
  return 0;
}

static const tr_behaviour_t dialer_behaviour = {
    .name = "dialer", .state_size = sizeof(peer_t), .init = dialer_init, .receive = dialer_receive};

static void spawn_dialer(fix_t *f, uint16_t port, uint64_t host) {
  assert_int_equal(tr_spawnf(tr_system_ctx(f->sys), &dialer_behaviour, NULL, "[uuuu]", sup_ptr(f),
                             f->me.id, (uint64_t)port, host),
                   0);
}

/* Guards tr_dial: by literal and by name, the owner gets TCP_OPEN, its early write goes
 * out, the echo comes back as data, and its own close ends with TCP_CLOSED reason 0. */
static void dial_from_an_actor_reaches_a_listener(void **state) {
  fix_t *f = *state;
  uint16_t port;
  listen_on(f, &echo_behaviour, NULL, NULL, MODE_LINES, &port);
  char want[TR_ADDR_MAX];
  snprintf(want, sizeof want, "127.0.0.1:%u", (unsigned)port);
  for (uint64_t host = 0; host < 2; host++) {
    spawn_dialer(f, port, host);
    /* Two opens, in either order: the dialler's (its peer is the listener) and the echo
     * actor's (the listener is its local end). */
    char p1[TR_ADDR_MAX], l1[TR_ADDR_MAX], p2[TR_ADDR_MAX], l2[TR_ADDR_MAX];
    expect_opened(f, p1, l1);
    expect_opened(f, p2, l2);
    assert_true((strcmp(p1, want) == 0 && strcmp(l2, want) == 0) ||
                (strcmp(p2, want) == 0 && strcmp(l1, want) == 0));
    tr_msg_t *m = expect(f, f->line);
    const void *d;
    size_t len;
    assert_int_equal(tr_msg_unpack(m, "[x]", &d, &len), 0);
    assert_int_equal(len, 4);
    assert_memory_equal(d, "ping", 4);
    tr_msg_free(m);
    assert_int_equal(expect_closed(f, NULL), 0); /* the dialler's own close */
    assert_int_equal(expect_closed(f, NULL), 0); /* the echo actor sees the peer close */
  }
}

/* Guards dial failures: the owner hears TCP_CLOSED with TR_ECONNREFUSED, not TCP_OPEN. */
static void dial_to_a_closed_port_reports_connection_refused(void **state) {
  fix_t *f = *state;
  spawn_dialer(f, sock_closed_port(), 0);
  assert_int_equal(expect_closed(f, NULL), TR_ECONNREFUSED);
  assert_int_equal(f->nheld, 0); /* no TCP_OPEN came first */
}

/* Guards the dial timeout: a listener whose accept queue is full drops SYNs (Linux), so
 * the connect never completes and the owner hears TR_ETIMEDOUT. */
static void dial_that_gets_no_answer_times_out(void **state) {
  fix_t *f = *state;
  int lfd = socket(AF_INET, SOCK_STREAM, 0);
  assert_true(lfd >= 0);
  struct sockaddr_storage sa;
  socklen_t n = sock_loopback(AF_INET, 0, &sa);
  assert_int_equal(bind(lfd, (struct sockaddr *)&sa, n), 0);
  assert_int_equal(listen(lfd, 0), 0);
  uint16_t port = sock_local_port(lfd);
  int fill[FILLERS];
  n = sock_loopback(AF_INET, port, &sa);
  for (int k = 0; k < FILLERS; k++) {
    fill[k] = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    assert_true(fill[k] >= 0);
    connect(fill[k], (struct sockaddr *)&sa, n); /* in progress or done: either fills */
  }
  sup_sleep_ms(50);
  spawn_dialer(f, port, 2);
  assert_int_equal(expect_closed(f, NULL), TR_ETIMEDOUT);
  assert_int_equal(f->nheld, 0); /* no TCP_OPEN came first */
  for (int k = 0; k < FILLERS; k++)
    close(fill[k]);
  close(lfd);
}

/* Guards IPv6 listeners and the "[v6]:port" address text. Skipped (which is not a pass)
 * only when this machine has no ::1. */
static void ipv6_loopback_listener_echoes(void **state) {
  fix_t *f = *state;
  int probe = socket(AF_INET6, SOCK_STREAM, 0);
  struct sockaddr_storage sa;
  socklen_t n = sock_loopback(AF_INET6, 0, &sa);
  if (probe < 0 || bind(probe, (struct sockaddr *)&sa, n) != 0) {
    int e = errno;
    if (probe >= 0)
      close(probe);
    assert_true(e == EADDRNOTAVAIL || e == EAFNOSUPPORT);
    printf("ipv6_loopback_listener_echoes: SKIPPED, ::1 unavailable (%s)\n", strerror(e));
    skip();
  }
  close(probe);
  uint16_t port;
  listen_on(f, &echo_behaviour, "::1", NULL, MODE_LINES, &port);
  int fd = sock_connect(AF_INET6, port);
  char peer[TR_ADDR_MAX], local[TR_ADDR_MAX], want[TR_ADDR_MAX];
  expect_opened(f, peer, local);
  snprintf(want, sizeof want, "[::1]:%u", (unsigned)sock_local_port(fd));
  assert_string_equal(peer, want);
  snprintf(want, sizeof want, "[::1]:%u", (unsigned)port);
  assert_string_equal(local, want);
  sock_send_str(fd, "over six\n");
  char line[64];
  assert_int_equal(sock_read_line(fd, line, sizeof line), 8);
  assert_string_equal(line, "over six");
  close(fd);
  assert_int_equal(expect_closed(f, NULL), 0);
}

/* Guards against bad input taking the node down: floods of garbage close each bad
 * connection with TR_ELIMIT or TR_EPROTO, and a well-behaved client is served afterwards. */
static void garbage_floods_close_the_bad_connections_and_the_node_stays_up(void **state) {
  fix_t *f = *state;
  tr_conn_opts_t frames = {.codec = {.kind = TR_CODEC_FRAMES, .max = FRAME_MAX}};
  tr_conn_opts_t lines = {.codec = {.kind = TR_CODEC_LINES, .max = SHORT_LINE}};
  uint16_t fport, lport;
  listen_on(f, &echo_behaviour, NULL, &frames, MODE_FRAMES, &fport);
  listen_on(f, &echo_behaviour, NULL, &lines, MODE_LINES, &lport);
  unsigned seed = (unsigned)time(NULL);
  printf("garbage flood: seed %u\n", seed);
  srand(seed);
  unsigned char *junk = malloc(FLOOD_BYTES);
  assert_non_null(junk);
  int fds[FLOODERS + 1];
  for (int k = 0; k <= FLOODERS; k++) {
    fds[k] = sock_connect(AF_INET, k < FLOODERS ? fport : lport);
    expect_opened(f, NULL, NULL);
  }
  for (int k = 0; k <= FLOODERS; k++) {
    for (size_t i = 0; i < FLOOD_BYTES; i++)
      junk[i] = k < FLOODERS ? (unsigned char)rand() : 'A';
    sock_send_some(fds[k], junk, FLOOD_BYTES); /* until the server hangs up */
  }
  free(junk);
  for (int k = 0; k <= FLOODERS; k++) {
    int reason = expect_closed(f, NULL);
    assert_true(reason == TR_ELIMIT || reason == TR_EPROTO);
  }
  for (int k = 0; k <= FLOODERS; k++) {
    assert_true(sock_wait_closed(fds[k]));
    close(fds[k]);
  }
  int fd = sock_connect(AF_INET, fport);
  expect_opened(f, NULL, NULL);
  unsigned char wire[64], back[64];
  size_t blen;
  assert_int_equal(tr_pack_into(wire + 4, sizeof wire - 4, &blen, "[us]", (uint64_t)1, "ok"), 0);
  wire[0] = wire[1] = wire[2] = 0;
  wire[3] = (unsigned char)blen;
  sock_send(fd, wire, 4 + blen);
  assert_true(sock_read_exact(fd, back, 4 + blen));
  assert_memory_equal(back, wire, 4 + blen);
  close(fd);
  assert_int_equal(expect_closed(f, NULL), 0);
}

/* Guards the I/O thread's writes against SIGPIPE: a peer that resets while its echoes are
 * being written must close that connection (the test does not ignore SIGPIPE, so a signal
 * would end the process), and the server goes on. */
static void a_peer_that_resets_mid_write_does_not_kill_the_process(void **state) {
  fix_t *f = *state;
  uint16_t port;
  listen_on(f, &echo_behaviour, NULL, NULL, MODE_LINES, &port);
  char *burst = malloc(RESET_LINES * 16);
  assert_non_null(burst);
  size_t len = 0;
  for (unsigned i = 0; i < RESET_LINES; i++)
    len += (size_t)sprintf(burst + len, "line %05u\n", i);
  for (int round = 0; round < RESET_ROUNDS; round++) {
    int fd = sock_connect(AF_INET, port);
    expect_opened(f, NULL, NULL);
    sock_send(fd, burst, len);
    sock_send(fd, burst, len);
    struct linger lg = {.l_onoff = 1, .l_linger = 0}; /* close() sends a reset */
    assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg), 0);
    close(fd);
    int reason = expect_closed(f, NULL);
    assert_true(reason == TR_ECONNRESET || reason == 0);
  }
  free(burst);
  int fd = sock_connect(AF_INET, port);
  expect_opened(f, NULL, NULL);
  char line[16];
  sock_send_str(fd, "alive\n");
  assert_int_equal(sock_read_line(fd, line, sizeof line), 5);
  close(fd);
  assert_int_equal(expect_closed(f, NULL), 0);
}

/* ---- an actor that owns a listener: [fix, report]; reports [listener id, port] ---- */

static int host_init(tr_ctx_t *ctx, void *state, const tr_msg_t *init) {
  peer_t *s = state;
  peer_init(ctx, state, init);
  unsigned char arg[64];
  size_t len;
  tr_pack_into(arg, sizeof arg, &len, "[uuuu]", sup_ptr(s->f), s->report.id, (uint64_t)MODE_LINES,
               (uint64_t)0);
  tr_listen_opts_t o = {.behaviour = &echo_behaviour,
                        .init = arg,
                        .init_len = len,
                        .conn = {.codec = {.kind = TR_CODEC_LINES}}};
  int rc = tr_listen(ctx, &o, &s->listener);
  check(s->f, rc == 0);
  tr_sendf(ctx, s->report, s->f->listening, "[uu]", s->listener.id,
           (uint64_t)tr_listener_port(tr_ctx_system(ctx), s->listener));
  return 0;
}

static int host_receive(tr_ctx_t *ctx, void *state, const tr_msg_t *m) {
  peer_t *s = state;
  if (tr_msg_tag(m) == s->f->quit)
    tr_stop(ctx);
  return 0;
}

static const tr_behaviour_t host_behaviour = {
    .name = "host", .state_size = sizeof(peer_t), .init = host_init, .receive = host_receive};

/* Guards ownership at exit: a connection closes when its actor stops; a listener closes
 * when the actor that opened it exits, while connections it accepted stay; and
 * tr_listener_close closes one from outside. */
static void owners_that_exit_take_their_sockets_with_them(void **state) {
  fix_t *f = *state;
  tr_pid_t host;
  assert_int_equal(
      tr_spawnf(tr_system_ctx(f->sys), &host_behaviour, &host, "[uu]", sup_ptr(f), f->me.id), 0);
  tr_msg_t *m = expect(f, f->listening);
  uint64_t lid, port;
  assert_int_equal(tr_msg_unpack(m, "[uu]", &lid, &port), 0);
  tr_msg_free(m);
  assert_true(port != 0);

  int quitter = sock_connect(AF_INET, (uint16_t)port);
  expect_opened(f, NULL, NULL);
  sock_send_str(quitter, "quit\n");
  assert_true(sock_wait_closed(quitter));
  close(quitter);

  int stays = sock_connect(AF_INET, (uint16_t)port);
  expect_opened(f, NULL, NULL);
  assert_int_equal(tr_send(tr_system_ctx(f->sys), host, f->quit, NULL, 0), 0);
  assert_true(sock_wait_refused((uint16_t)port));
  assert_int_equal(tr_listener_port(f->sys, (tr_listener_t){lid}), 0);
  char line[16];
  sock_send_str(stays, "x\n");
  assert_int_equal(sock_read_line(stays, line, sizeof line), 1);
  close(stays);
  assert_int_equal(expect_closed(f, NULL), 0);

  uint16_t p2;
  tr_listener_t l = listen_on(f, &echo_behaviour, NULL, NULL, MODE_LINES, &p2);
  assert_int_equal(tr_listener_close(tr_system_ctx(f->sys), l), 0);
  assert_true(sock_wait_refused(p2));
  assert_int_equal(tr_listener_port(f->sys, l), 0);
  assert_int_equal(tr_listener_close(tr_system_ctx(f->sys), l), TR_ENOENT);
}

/* Guards the ownership check: only the owner may write to or close a connection, and
 * nobody may once it is closed. */
static void writes_from_anyone_but_the_owner_get_enoent(void **state) {
  fix_t *f = *state;
  uint16_t port;
  listen_on(f, &echo_behaviour, NULL, NULL, MODE_LINES, &port);
  int fd = sock_connect(AF_INET, port);
  tr_conn_t c = {expect_opened(f, NULL, NULL)};
  assert_int_equal(tr_conn_write(tr_system_ctx(f->sys), c, "x\n", 2), TR_ENOENT);
  assert_int_equal(tr_conn_write(tr_client_ctx(f->client), c, "x\n", 2), TR_ENOENT);
  assert_int_equal(tr_conn_close(tr_system_ctx(f->sys), c), TR_ENOENT);
  char line[16];
  sock_send_str(fd, "y\n");
  assert_int_equal(sock_read_line(fd, line, sizeof line), 1);
  assert_string_equal(line, "y");
  sock_send_str(fd, "close\n"); /* the owner closes it */
  assert_true(sock_wait_closed(fd));
  assert_int_equal(expect_closed(f, NULL), 0);
  close(fd);
}

/* Guards the stop path: a system stopped with connections open (one of them paused with
 * input parked) closes every socket and frees everything (the sanitizer builds check the
 * freeing). */
static void stopping_the_system_closes_open_connections(void **state) {
  fix_t *f = *state;
  uint16_t port, slow_port;
  tr_conn_opts_t co = {.codec = {.kind = TR_CODEC_LINES}, .high_water = HIGH_WATER};
  listen_on(f, &echo_behaviour, NULL, NULL, MODE_LINES, &port);
  listen_on(f, &slow_behaviour, NULL, &co, MODE_LINES, &slow_port);
  int fds[4];
  for (int k = 0; k < 3; k++) {
    fds[k] = sock_connect(AF_INET, port);
    expect_opened(f, NULL, NULL);
  }
  sock_send_str(fds[0], "a partial line");
  fds[3] = sock_connect(AF_INET, slow_port);
  expect_opened(f, NULL, NULL);
  char burst[BP_LINES * 11 + 1];
  size_t len = 0;
  for (unsigned i = 0; i < BP_LINES; i++)
    len += (size_t)sprintf(burst + len, "line %05u\n", i);
  sock_send(fds[3], burst, len);
  spawn_dialer(f, sock_closed_port(), 1); /* a dial by name, perhaps still in flight */
  tr_system_stop(f->sys);
  for (int k = 0; k < 4; k++) {
    assert_true(sock_wait_closed(fds[k]));
    close(fds[k]);
  }
}

/* ---- half-close ---- */

/* Guards half-close: a peer that sends and then shuts down its sending side gets every
 * answer, the last unterminated line's too, and then our FIN; the owner got TCP_EOF after
 * all the data (echo_receive checks it comes once) and its close ends with reason 0. */
static void a_peer_that_half_closes_gets_every_answer_then_eof(void **state) {
  fix_t *f = *state;
  uint16_t port;
  listen_on(f, &echo_behaviour, NULL, NULL, MODE_LINES, &port);
  for (int round = 0; round < HALF_ROUNDS; round++) {
    int fd = sock_connect(AF_INET, port);
    expect_opened(f, NULL, NULL);
    char *burst = malloc(HALF_LINES * 16);
    assert_non_null(burst);
    size_t len = 0;
    for (unsigned i = 0; i < HALF_LINES; i++)
      len += (size_t)sprintf(burst + len, "line %05u\n", i);
    len += (size_t)sprintf(burst + len, "no newline");
    sock_send(fd, burst, len);
    free(burst);
    assert_int_equal(shutdown(fd, SHUT_WR), 0);
    char line[64], want[32];
    for (unsigned i = 0; i < HALF_LINES; i++) {
      snprintf(want, sizeof want, "line %05u", i);
      assert_int_equal(sock_read_line(fd, line, sizeof line), 10);
      assert_string_equal(line, want);
    }
    assert_int_equal(sock_read_line(fd, line, sizeof line), 10);
    assert_string_equal(line, "no newline");
    assert_true(sock_wait_closed(fd));
    close(fd);
    assert_int_equal(expect_closed(f, NULL), 0);
  }
}

/* Guards the linger after EOF: an owner that ignores TCP_EOF still has its connection
 * closed for it, after its answers are written. */
static void an_owner_that_ignores_eof_is_closed_after_the_linger(void **state) {
  fix_t *f = *state;
  tr_conn_opts_t co = {.codec = {.kind = TR_CODEC_LINES}, .linger_ms = SHORT_LINGER_MS};
  uint16_t port;
  listen_on(f, &echo_behaviour, NULL, &co, MODE_LINGER, &port);
  int fd = sock_connect(AF_INET, port);
  expect_opened(f, NULL, NULL);
  sock_send_str(fd, "before the fin\n");
  assert_int_equal(shutdown(fd, SHUT_WR), 0);
  char line[64];
  assert_int_equal(sock_read_line(fd, line, sizeof line), 14);
  assert_string_equal(line, "before the fin");
  assert_true(sock_wait_closed(fd));
  close(fd);
  assert_int_equal(expect_closed(f, NULL), 0);
}

/* Guards the bound on a graceful close: output for a peer that never reads is dropped after
 * linger_ms and the close reports TR_ETIMEDOUT, instead of waiting forever. */
static void a_close_whose_output_is_never_read_ends_after_the_linger(void **state) {
  fix_t *f = *state;
  tr_conn_opts_t co = {
      .codec = {.kind = TR_CODEC_LINES}, .out_limit = 2 * LAST_BYTES, .linger_ms = SHORT_LINGER_MS};
  uint16_t port;
  listen_on(f, &pump_behaviour, NULL, &co, MODE_LINES, &port);
  int fd = sock_try_connect(AF_INET, port, SMALL_RCVBUF);
  assert_true(fd >= 0);
  expect_opened(f, NULL, NULL);
  sock_send_str(fd, "last\n");
  assert_int_equal(expect_closed(f, NULL), TR_ETIMEDOUT);
  close(fd);
}

/* ---- pausing: "hold" pauses reading and reports; a "count" message asks for the lines
 * seen since; a "quit" message (from the test) resumes ---- */

static int holder_receive(tr_ctx_t *ctx, void *state, const tr_msg_t *m) {
  peer_t *s = state;
  fix_t *f = s->f;
  size_t len;
  const char *d = tr_msg_data(m, &len);
  if (tr_msg_tag(m) == TR_ATOM_TCP_OPEN) {
    report_opened(ctx, s, m);
  } else if (tr_msg_tag(m) == TR_ATOM_TCP_CLOSED) {
    report_closed(ctx, s, m);
  } else if (tr_msg_tag(m) == TR_ATOM_TCP_EOF) {
    on_eof(ctx, s, m);
  } else if (tr_msg_tag(m) == TR_ATOM_TCP_DATA && len == 4 && memcmp(d, "hold", 4) == 0) {
    check(f, tr_conn_pause(ctx, s->conn) == 0);
    check(f, tr_conn_pause(ctx, s->conn) == 0); /* twice is once */
    s->holding = true;
    tr_send(ctx, s->report, f->paused, NULL, 0);
  } else if (tr_msg_tag(m) == TR_ATOM_TCP_DATA) {
    char want[32];
    int n = snprintf(want, sizeof want, "line %05u", (unsigned)s->count);
    check(f, len == (size_t)n && memcmp(d, want, len) == 0);
    if (++s->count == HOLD_LINES)
      tr_sendf(ctx, s->report, f->done, "u", s->count);
  } else if (tr_msg_tag(m) == f->count) {
    tr_sendf(ctx, s->report, f->count, "u", s->count);
  } else if (tr_msg_tag(m) == f->quit) {
    check(f, tr_conn_resume(ctx, s->conn) == 0);
  }
  return 0;
}

static const tr_behaviour_t holder_behaviour = {
    .name = "holder", .state_size = sizeof(peer_t), .init = peer_init, .receive = holder_receive};

/* Guards tr_conn_pause: nothing the peer sends after the pause reaches the owner, however
 * long it waits, and after tr_conn_resume all of it does, in order. */
static void a_paused_connection_delivers_nothing_until_resumed(void **state) {
  fix_t *f = *state;
  uint16_t port;
  listen_on(f, &holder_behaviour, NULL, NULL, MODE_LINES, &port);
  int fd = sock_connect(AF_INET, port);
  tr_pid_t owner = {0};
  expect_opened(f, NULL, NULL);
  sock_send_str(fd, "hold\n");
  tr_msg_t *m = expect(f, f->paused);
  owner = tr_msg_from(m);
  tr_msg_free(m);
  /* The pause was posted before the report; a query of the I/O thread's made after it
   * runs after the pause, so from here on nothing new is read. */
  size_t total;
  tr_conn_info_t info;
  assert_int_equal(tr__net_conns(tr_client_ctx(f->client), &info, 1, &total), 0);
  char *burst = malloc(HOLD_LINES * 16);
  assert_non_null(burst);
  size_t len = 0;
  for (unsigned i = 0; i < HOLD_LINES; i++)
    len += (size_t)sprintf(burst + len, "line %05u\n", i);
  sock_send(fd, burst, len);
  free(burst);
  sup_sleep_ms(HOLD_WAIT_MS);
  assert_int_equal(tr_send(tr_client_ctx(f->client), owner, f->count, NULL, 0), 0);
  m = expect(f, f->count);
  uint64_t seen = 99;
  assert_int_equal(tr_msg_unpack(m, "u", &seen), 0);
  tr_msg_free(m);
  assert_int_equal(seen, 0);
  assert_int_equal(tr_send(tr_client_ctx(f->client), owner, f->quit, NULL, 0), 0);
  m = expect(f, f->done);
  assert_int_equal(tr_msg_unpack(m, "u", &seen), 0);
  tr_msg_free(m);
  assert_int_equal(seen, HOLD_LINES);
  close(fd);
  assert_int_equal(expect_closed(f, NULL), 0);
}

int main(void) {
  sup_filter_from_env();
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(echo_server_echoes_lines_and_reports_the_peer_close, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(listen_errors_are_translated, setup, teardown),
      cmocka_unit_test_setup_teardown(a_line_over_the_limit_closes_only_that_connection, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(
          a_client_that_does_not_read_is_dropped_while_a_reader_keeps_receiving, setup, teardown),
      cmocka_unit_test_setup_teardown(
          slow_actor_holds_back_reading_so_its_mailbox_stays_near_high_water, setup, teardown),
      cmocka_unit_test_setup_teardown(dial_from_an_actor_reaches_a_listener, setup, teardown),
      cmocka_unit_test_setup_teardown(dial_to_a_closed_port_reports_connection_refused, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(dial_that_gets_no_answer_times_out, setup, teardown),
      cmocka_unit_test_setup_teardown(ipv6_loopback_listener_echoes, setup, teardown),
      cmocka_unit_test_setup_teardown(
          garbage_floods_close_the_bad_connections_and_the_node_stays_up, setup, teardown),
      cmocka_unit_test_setup_teardown(a_peer_that_resets_mid_write_does_not_kill_the_process, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(owners_that_exit_take_their_sockets_with_them, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(writes_from_anyone_but_the_owner_get_enoent, setup, teardown),
      cmocka_unit_test_setup_teardown(stopping_the_system_closes_open_connections, setup, teardown),
      cmocka_unit_test_setup_teardown(a_peer_that_half_closes_gets_every_answer_then_eof, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(an_owner_that_ignores_eof_is_closed_after_the_linger, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(a_close_whose_output_is_never_read_ends_after_the_linger,
                                      setup, teardown),
      cmocka_unit_test_setup_teardown(a_paused_connection_delivers_nothing_until_resumed, setup,
                                      teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
