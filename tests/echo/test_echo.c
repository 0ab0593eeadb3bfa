/* The echo example (examples/echo) as a user runs it: the real troupe-echo on a free port,
 * talked to over a real socket the way nc does, and stopped with SIGTERM (exit 0). */
#include "support/proc.h"
#include "support/sock.h"

#ifndef TROUPE_ECHO_BIN
#error "TROUPE_ECHO_BIN must name the troupe-echo executable"
#endif

static int setup(void **state) {
  proc_t *p = calloc(1, sizeof *p);
  assert_non_null(p);
  char *argv[] = {"troupe-echo", "0", NULL};
  proc_start(p, TROUPE_ECHO_BIN, argv);
  *state = p;
  return 0;
}

static int teardown(void **state) {
  proc_stop(*state);
  free(*state);
  return 0;
}

static void expect_line(int fd, const char *want) {
  char line[8192];
  assert_true(sock_read_line(fd, line, sizeof line) >= 0);
  assert_string_equal(line, want);
}

/* Guards against a line lost, merged with the next, or echoed with its "\r". */
static void every_line_comes_back_in_order(void **state) {
  proc_t *p = *state;
  int fd = sock_connect(AF_INET, p->port);
  sock_send_str(fd, "hello\n");
  expect_line(fd, "hello");
  sock_send_str(fd, "one\ntwo\r\nthree\n"); /* three lines in one write */
  expect_line(fd, "one");
  expect_line(fd, "two");
  expect_line(fd, "three");
  sock_send_str(fd, "sp"); /* a line in pieces */
  sup_sleep_ms(20);
  sock_send_str(fd, "lit\n");
  expect_line(fd, "split");
  close(fd);
}

/* Guards against one client's connection mixing with another's. */
static void two_clients_each_get_their_own_lines(void **state) {
  proc_t *p = *state;
  int a = sock_connect(AF_INET, p->port), b = sock_connect(AF_INET, p->port);
  sock_send_str(a, "from a\n");
  sock_send_str(b, "from b\n");
  expect_line(b, "from b");
  expect_line(a, "from a");
  close(a);
  close(b);
}

/* Guards against an over-long line growing the server's memory instead of closing. */
static void a_line_over_the_limit_closes_only_that_connection(void **state) {
  proc_t *p = *state;
  int bad = sock_connect(AF_INET, p->port), good = sock_connect(AF_INET, p->port);
  char big[8192];
  memset(big, 'x', sizeof big);
  sock_send_some(bad, big, sizeof big);
  assert_true(sock_wait_closed(bad));
  sock_send_str(good, "still here\n");
  expect_line(good, "still here");
  close(bad);
  close(good);
}

/* Guards half-close (printf ... | nc -N): every line sent before the FIN comes back, the
 * last one without its "\n" too, and then the server's FIN. */
static void a_client_that_half_closes_gets_every_line_then_eof(void **state) {
  proc_t *p = *state;
  int fd = sock_connect(AF_INET, p->port);
  sock_send_str(fd, "one\ntwo\nthree");
  assert_int_equal(shutdown(fd, SHUT_WR), 0);
  expect_line(fd, "one");
  expect_line(fd, "two");
  expect_line(fd, "three");
  assert_true(sock_wait_closed(fd));
  close(fd);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(every_line_comes_back_in_order),
      cmocka_unit_test(two_clients_each_get_their_own_lines),
      cmocka_unit_test(a_line_over_the_limit_closes_only_that_connection),
      cmocka_unit_test(a_client_that_half_closes_gets_every_line_then_eof),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
