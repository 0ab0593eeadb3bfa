/* The cluster's handshake before authentication (cluster/handshake.c, through the reading
 * and framing of cluster/conn.c) fed a peer's first bytes: a real node (tr_cluster_start)
 * gets a connection as its listener would (tr__conn_new, tr__conn_open on an accepted
 * loopback socket), and the input arrives through the connection's own libuv read
 * callbacks, in two reads at the fuzzer's cut, then the peer's EOF. Everything runs on the
 * node's I/O thread (tr__io_call), as a real read would.
 *
 * The fuzzer plays the connecting peer (the node waits for HELLO, sends CHALLENGE, waits
 * for AUTH), or, with the option bit, the peer this node dialled (the node sent HELLO and
 * waits for CHALLENGE, then AUTH_OK or REFUSE). It does not know the cookie, so the link
 * never comes up: what is fuzzed is all a stranger can reach. Checked, beyond the
 * sanitizers: the connection is never up at the end, and a refused or failed connection
 * is closed (nothing is left half-open on the node).
 *
 * Input: the split point (fuzz.h), one option byte (bit 0: this node dialled), then the
 * peer's bytes. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cluster/cluster.h"
#include "fuzz.h"
#include "io/io.h"

static tr_system_t *sys;
static tr_cluster_t *cl;
static int lsock = -1;
static struct sockaddr_in laddr;

typedef struct {
  const fuzz_input_t *in;
  bool dialled;
  int fd; /* the node's end */
} run_t;

/* One read of p[0..n) as libuv makes it: the connection's alloc callback, then its read
 * callback. False when the connection stopped reading (closed, refused or paused). */
static bool deliver(tr_cconn_t *c, const uint8_t *p, size_t n, bool eof) {
  uv_stream_t *s = (uv_stream_t *)&c->tcp;
  if (c->state == TR_HS_CLOSING || c->refused || !s->read_cb)
    return false;
  uv_buf_t buf = uv_buf_init(NULL, 0);
  if (!eof) {
    while (n > 0) {
      s->alloc_cb((uv_handle_t *)s, 64 * 1024, &buf);
      FUZZ_CHECK(buf.base != NULL && buf.len > 0, "no read buffer");
      size_t k = n < buf.len ? n : buf.len;
      memcpy(buf.base, p, k);
      s->read_cb(s, (ssize_t)k, &buf);
      tr__io_enter(c->cl->io); /* the callback left the read side of reclamation */
      p += k;
      n -= k;
      if (c->state == TR_HS_CLOSING || c->refused || !s->read_cb)
        return false;
    }
    return true;
  }
  s->read_cb(s, UV_EOF, &buf);
  tr__io_enter(c->cl->io);
  return false;
}

static int run(tr_io_t *io, void *arg) {
  run_t *r = arg;
  (void)io;
  tr_cconn_t *c = tr__conn_new(cl, r->dialled);
  FUZZ_CHECK(c != NULL, "tr__conn_new");
  FUZZ_CHECK(uv_tcp_open(&c->tcp, r->fd) == 0, "uv_tcp_open");
  FUZZ_CHECK(tr__conn_open(c) == 0, "tr__conn_open");
  if (r->dialled)
    tr__hs_start_dial(c);
  const fuzz_input_t *in = r->in;
  if (deliver(c, in->body, in->cut, false) &&
      deliver(c, in->body + in->cut, in->len - in->cut, false))
    deliver(c, NULL, 0, true);
  FUZZ_CHECK(c->state != TR_HS_UP, "a stranger's connection came up");
  FUZZ_CHECK(c->state == TR_HS_CLOSING || c->refused,
             "the peer is gone and its connection is still open (state %d)", c->state);
  if (c->state != TR_HS_CLOSING)
    tr__conn_close(c, TR_DOWN_NONE); /* a refusal waits to close; the peer is gone */
  return 0;
}

/* Nothing: a command after run()'s has the loop go round once more, which finishes the
 * closes run() began (libuv runs close callbacks at the end of a loop turn), so each input's
 * connection is freed before the next begins and libFuzzer's per-input leak check holds. */
static int settle(tr_io_t *io, void *arg) {
  (void)io;
  (void)arg;
  return 0;
}

static void stop(void) {
  close(lsock);
  tr_system_free(sys);
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
  tr_cluster_config_t cc;
  tr_cluster_config_init(&cc);
  cc.name = "fuzz";
  cc.listen = "127.0.0.1:0";
  cc.cookie = "a cookie the fuzzer does not know";
  cc.cookie_len = strlen(cc.cookie);
  cc.seeds = NULL;
  FUZZ_CHECK(tr_cluster_start(sys, &cc) == 0, "tr_cluster_start");
  cl = tr__cluster_of(sys);
  FUZZ_CHECK(cl != NULL, "no cluster");
  /* The sockets of the connections: accepted here, one per input. */
  lsock = socket(AF_INET, SOCK_STREAM, 0);
  laddr = (struct sockaddr_in){.sin_family = AF_INET};
  laddr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t alen = sizeof laddr;
  FUZZ_CHECK(lsock >= 0 && bind(lsock, (struct sockaddr *)&laddr, sizeof laddr) == 0 &&
                 listen(lsock, 16) == 0 &&
                 getsockname(lsock, (struct sockaddr *)&laddr, &alen) == 0,
             "listen: %s", strerror(errno));
  atexit(stop);
  return 0;
}

/* A closed socket leaves no TIME_WAIT behind (an abortive close), so a long run does not
 * run out of loopback ports. */
static void abortive(int fd) {
  struct linger lg = {1, 0};
  setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  fuzz_input_t in = fuzz_input(data, size, 1);
  int peer = socket(AF_INET, SOCK_STREAM, 0);
  FUZZ_CHECK(peer >= 0 && fuzz_connect(peer, (struct sockaddr *)&laddr, sizeof laddr) == 0,
             "connect: %s", strerror(errno));
  int fd;
  while ((fd = accept(lsock, NULL, NULL)) < 0 && errno == EINTR)
    continue; /* libFuzzer's SIGALRM */
  FUZZ_CHECK(fd >= 0, "accept: %s", strerror(errno));
  abortive(peer);
  abortive(fd);
  run_t r = {&in, (in.opt[0] & 1) != 0, fd};
  FUZZ_CHECK(tr__io_call(sys->io, tr_system_ctx(sys), run, &r) == 0, "tr__io_call");
  FUZZ_CHECK(tr__io_call(sys->io, tr_system_ctx(sys), settle, NULL) == 0, "tr__io_call");
  close(peer);
  return 0;
}
