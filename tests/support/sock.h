/* The test side of every socket test: plain blocking POSIX sockets on the loopback, so what
 * the library and the servers do is checked against an independent TCP peer. Every read and write
 * has a timeout of SUP_WAIT_MS, which only keeps a broken build from hanging. Sends use
 * MSG_NOSIGNAL: the tests do not ignore SIGPIPE, so a library that let one reach the
 * process would be caught. Static inline only. */
#ifndef TR_TESTS_SUPPORT_SOCK_H
#define TR_TESTS_SUPPORT_SOCK_H

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include "support/support.h"

static inline void sock_timeouts(int fd) {
  struct timeval tv = {.tv_sec = SUP_WAIT_MS / 1000, .tv_usec = 0};
  assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv), 0);
  assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv), 0);
}

/* Fill a loopback address of the family. */
static inline socklen_t sock_loopback(int family, uint16_t port, struct sockaddr_storage *sa) {
  memset(sa, 0, sizeof *sa);
  if (family == AF_INET6) {
    struct sockaddr_in6 *a = (struct sockaddr_in6 *)sa;
    a->sin6_family = AF_INET6;
    a->sin6_port = htons(port);
    a->sin6_addr = in6addr_loopback;
    return sizeof *a;
  }
  struct sockaddr_in *a = (struct sockaddr_in *)sa;
  a->sin_family = AF_INET;
  a->sin_port = htons(port);
  a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return sizeof *a;
}

/* Try to connect; returns the socket, or -1 with errno set. rcvbuf > 0 shrinks the
 * receive buffer first (a client that will not read then stalls the sender sooner). */
static inline int sock_try_connect(int family, uint16_t port, int rcvbuf) {
  int fd = socket(family, SOCK_STREAM, 0);
  assert_true(fd >= 0);
  if (rcvbuf > 0)
    assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf), 0);
  sock_timeouts(fd);
  struct sockaddr_storage sa;
  socklen_t n = sock_loopback(family, port, &sa);
  if (connect(fd, (struct sockaddr *)&sa, n) != 0) {
    int e = errno;
    close(fd);
    errno = e;
    return -1;
  }
  return fd;
}

static inline int sock_connect(int family, uint16_t port) {
  int fd = sock_try_connect(family, port, 0);
  assert_true(fd >= 0);
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return fd;
}

/* Send everything, or fail the test. */
static inline void sock_send(int fd, const void *p, size_t n) {
  const char *c = p;
  while (n > 0) {
    ssize_t k = send(fd, c, n, MSG_NOSIGNAL);
    assert_true(k > 0);
    c += k;
    n -= (size_t)k;
  }
}

static inline void sock_send_str(int fd, const char *s) { sock_send(fd, s, strlen(s)); }

/* Send what the peer takes; false once it refuses (it closed the connection). */
static inline bool sock_send_some(int fd, const void *p, size_t n) {
  const char *c = p;
  while (n > 0) {
    ssize_t k = send(fd, c, n, MSG_NOSIGNAL);
    if (k <= 0)
      return false;
    c += k;
    n -= (size_t)k;
  }
  return true;
}

/* Read exactly n bytes; false on EOF, error or timeout. */
static inline bool sock_read_exact(int fd, void *p, size_t n) {
  char *c = p;
  while (n > 0) {
    ssize_t k = recv(fd, c, n, 0);
    if (k <= 0)
      return false;
    c += k;
    n -= (size_t)k;
  }
  return true;
}

/* Read one line (without its "\n") into out; returns its length, or -1 on EOF, error or
 * timeout. Reads a byte at a time: the tests' lines are short. */
static inline int sock_read_line(int fd, char *out, size_t cap) {
  size_t n = 0;
  for (;;) {
    char ch;
    if (recv(fd, &ch, 1, 0) != 1)
      return -1;
    if (ch == '\n')
      break;
    if (n + 1 < cap)
      out[n++] = ch;
  }
  out[n] = '\0';
  return (int)n;
}

/* Wait until the peer has closed (EOF or reset), reading and dropping what comes first.
 * False when it is still open after the timeout. */
static inline bool sock_wait_closed(int fd) {
  char buf[4096];
  for (;;) {
    ssize_t k = recv(fd, buf, sizeof buf, 0);
    if (k == 0 || (k < 0 && errno == ECONNRESET))
      return true;
    if (k < 0)
      return false;
  }
}

static inline uint16_t sock_local_port(int fd) {
  struct sockaddr_storage sa;
  socklen_t n = sizeof sa;
  assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &n), 0);
  return ntohs(sa.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&sa)->sin6_port
                                        : ((struct sockaddr_in *)&sa)->sin_port);
}

/* A loopback port that nobody listens on (bound once, then released). */
static inline uint16_t sock_closed_port(void) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  assert_true(fd >= 0);
  struct sockaddr_storage sa;
  socklen_t n = sock_loopback(AF_INET, 0, &sa);
  assert_int_equal(bind(fd, (struct sockaddr *)&sa, n), 0);
  uint16_t port = sock_local_port(fd);
  close(fd);
  return port;
}

/* Poll (bounded) until connecting to the port is refused: the listener has gone. */
static inline bool sock_wait_refused(uint16_t port) {
  uint64_t deadline = sup_now_ms() + SUP_WAIT_MS;
  while (sup_now_ms() <= deadline) {
    int fd = sock_try_connect(AF_INET, port, 0);
    if (fd < 0 && errno == ECONNREFUSED)
      return true;
    if (fd >= 0)
      close(fd);
    sup_sleep_ms(5);
  }
  return false;
}

#endif
