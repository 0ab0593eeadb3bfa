/* troupe-echo: a line echo server, the smallest complete troupe server.
 *
 *   troupe-echo [PORT]        (default 7007; 0 picks a free port)
 *   nc 127.0.0.1 7007
 *
 * The listener spawns one actor per connection. The connection's lines arrive in that
 * actor's mailbox as TR_ATOM_TCP_DATA messages, and the actor writes each one back. The
 * socket itself lives on the I/O thread: the actor only sends commands and receives
 * messages, and when it stops, its connection closes. */
#define _POSIX_C_SOURCE 200809L /* sigwait, pthread_sigmask */

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <troupe.h>

#define LINE_MAX_BYTES 4096 /* a longer line closes the connection (reason TR_ELIMIT) */

typedef struct {
  tr_conn_t conn;
} echo_t;

static int echo_receive(tr_ctx_t *ctx, void *state, const tr_msg_t *m) {
  echo_t *s = state;
  size_t len;
  const char *line;
  switch (tr_msg_tag(m)) {
  case TR_ATOM_TCP_OPEN: /* first message: which connection is ours */
    return tr_msg_tcp_open(m, &s->conn, NULL, NULL);
  case TR_ATOM_TCP_DATA: { /* one line, without its "\n" */
    char out[LINE_MAX_BYTES + 1];
    line = tr_msg_data(m, &len);
    memcpy(out, line, len);
    out[len] = '\n';
    return tr_conn_write(ctx, s->conn, out, len + 1);
  }
  case TR_ATOM_TCP_EOF: /* the client sends no more: close once its echoes are written */
    return tr_conn_close(ctx, s->conn);
  case TR_ATOM_TCP_CLOSED: /* last message: the connection is gone */
    tr_stop(ctx);
    return 0;
  default:
    return 0;
  }
}

static const tr_behaviour_t echo = {
    .name = "echo", .state_size = sizeof(echo_t), .receive = echo_receive};

int main(int argc, char **argv) {
  int port = argc > 1 ? atoi(argv[1]) : 7007;
  if (argc > 2 || port < 0 || port > 65535) {
    fprintf(stderr, "usage: troupe-echo [PORT]\n");
    return 2;
  }
  /* Only the sigwait below takes SIGINT/SIGTERM: every thread inherits this mask. */
  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGINT);
  sigaddset(&stop, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop, NULL);

  tr_system_t *sys;
  int rc = tr_system_new(NULL, &sys); /* one worker thread per CPU, plus the I/O thread */
  tr_listener_t l;
  tr_listen_opts_t opts = {
      .port = (uint16_t)port, /* bind: 127.0.0.1 */
      .behaviour = &echo,
      .conn.codec = {.kind = TR_CODEC_LINES, .max = LINE_MAX_BYTES},
  };
  if (rc == 0 && (rc = tr_listen(tr_system_ctx(sys), &opts, &l)) != 0)
    tr_system_free(sys);
  if (rc != 0) {
    fprintf(stderr, "troupe-echo: %s\n", tr_strerror(rc));
    return 1;
  }
  printf("troupe-echo listening on 127.0.0.1:%u\n", (unsigned)tr_listener_port(sys, l));
  fflush(stdout);

  int sig;
  sigwait(&stop, &sig);
  tr_system_free(sys); /* stops every actor, closes every socket, joins every thread */
  return 0;
}
