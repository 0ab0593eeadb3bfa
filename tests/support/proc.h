/* Server processes for the integration tests: the real executable of an example server,
 * started on a free port (its one stdout line, "NAME listening on ADDR:PORT", names the
 * port), and stopped as an operator would, with SIGTERM, after which it must exit 0 (under
 * ASan that includes leaking nothing). Every wait is bounded by SUP_WAIT_MS, which only
 * keeps a broken build from hanging. Static inline only. */
#ifndef TR_TESTS_SUPPORT_PROC_H
#define TR_TESTS_SUPPORT_PROC_H

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>

#include "support/support.h"

typedef struct {
  pid_t pid;
  uint16_t port;
} proc_t;

/* Start bin with argv (argv[0] first, NULL last). Its stderr stays the test's. */
static inline void proc_start(proc_t *p, const char *bin, char *const argv[]) {
  int out[2];
  assert_int_equal(pipe(out), 0);
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    /* A test that fails midway returns without stopping its servers: they go with it, and
     * the test ends at once instead of at ctest's timeout (they hold its output open). */
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    dup2(out[1], 1);
    close(out[0]);
    close(out[1]);
    execv(bin, argv);
    _exit(127);
  }
  close(out[1]);
  char line[256];
  size_t len = 0;
  struct pollfd pf = {.fd = out[0], .events = POLLIN};
  while (len < sizeof line - 1 && !memchr(line, '\n', len) && poll(&pf, 1, SUP_WAIT_MS) == 1) {
    ssize_t n = read(out[0], line + len, sizeof line - 1 - len);
    if (n <= 0)
      break;
    len += (size_t)n;
  }
  line[len] = '\0';
  close(out[0]);
  const char *at = strstr(line, " listening on ");
  const char *colon = at ? strrchr(line, ':') : NULL;
  unsigned port = 0;
  if (!colon || sscanf(colon + 1, "%u", &port) != 1 || port == 0 || port > 65535) {
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    fail_msg("%s did not announce its port; it printed: %s", bin, line);
  }
  p->pid = pid;
  p->port = (uint16_t)port;
}

/* Wait up to SUP_WAIT_MS for the process to end; its wait status, or -1 (then it is killed). */
static inline int proc_wait(pid_t pid) {
  int status = 0;
  for (uint64_t end = sup_now_ms() + SUP_WAIT_MS; sup_now_ms() < end;) {
    if (waitpid(pid, &status, WNOHANG) == pid)
      return status;
    sup_sleep_ms(5);
  }
  kill(pid, SIGKILL);
  waitpid(pid, &status, 0);
  return -1;
}

/* SIGTERM, then the server must stop gracefully and exit 0. */
static inline void proc_stop(proc_t *p) {
  assert_int_equal(kill(p->pid, SIGTERM), 0);
  int status = proc_wait(p->pid);
  p->pid = 0;
  assert_true(status != -1 && WIFEXITED(status));
  assert_int_equal(WEXITSTATUS(status), 0);
}

/* Run bin with argv to its end (output discarded); its wait status, or -1 after SUP_WAIT_MS. */
static inline int proc_run(const char *bin, char *const argv[]) {
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    int devnull = open("/dev/null", O_WRONLY);
    dup2(devnull, 1);
    dup2(devnull, 2);
    execv(bin, argv);
    _exit(127);
  }
  return proc_wait(pid);
}

#endif
