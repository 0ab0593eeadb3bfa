/* troupe-console: a terminal client for a troupe node's debug console
 * (include/troupe/console.h).
 *
 *   troupe-console HOST:PORT              interactive: line editing, history, tab completion
 *                                         of commands, actor names and "@node" (the
 *                                         cluster's nodes, from `nodes`), `top [@node]`
 *   troupe-console HOST:PORT -c 'COMMAND' run one command, print the reply; exit 1 when the
 *                                         reply is an error
 *   troupe-console --help                 the usage (docs/man/troupe-console.1 is the manual)
 *
 * The console speaks text lines; each reply ends with a line holding only "." (a line that
 * starts with "." is dot-stuffed). Lines starting with "trace " outside replies are live
 * trace events: they are printed as they come, also while the prompt waits. */
#include <ctype.h>
#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <termios.h>
#include <unistd.h>

#include <editline/readline.h>

/* How often `top` refreshes, in milliseconds. */
#define TOP_PERIOD_MS 1000
/* Bytes buffered from the socket; replies are read line by line from it. */
#define RBUF_SIZE 65536

static const char *const commands[] = {"help",   "stats", "actors", "info", "state", "names",
                                       "groups", "conns", "send",   "kill", "trace", "stuck",
                                       "json",   "top",   "nodes",  "quit", NULL};

/* The client: one process, one connection, so its state is this one struct. */
static struct {
  int fd;
  char rbuf[RBUF_SIZE];
  size_t rlen;
  char **names; /* actor names for completion, from `names` */
  size_t nnames;
  char **nodes; /* "@node" words for completion, from `nodes` */
  size_t nnodes;
  volatile sig_atomic_t interrupted;
  bool quit;
} cl = {.fd = -1};

static int dial(const char *target) {
  char host[256];
  const char *colon = strrchr(target, ':');
  if (!colon || colon == target || (size_t)(colon - target) >= sizeof host)
    return -1;
  memcpy(host, target, (size_t)(colon - target));
  host[colon - target] = '\0';
  char *h = host;
  if (h[0] == '[' && h[strlen(h) - 1] == ']') { /* [v6]:port */
    h[strlen(h) - 1] = '\0';
    h++;
  }
  struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res, *ai;
  if (getaddrinfo(h, colon + 1, &hints, &res) != 0)
    return -1;
  int fd = -1;
  for (ai = res; ai && fd < 0; ai = ai->ai_next) {
    fd = socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol);
    if (fd >= 0 && connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
      close(fd);
      fd = -1;
    }
  }
  freeaddrinfo(res);
  return fd;
}

/* One line from the node (without "\n") into a new string; NULL when it closed. */
static char *read_line(void) {
  for (;;) {
    char *nl = memchr(cl.rbuf, '\n', cl.rlen);
    if (nl) {
      size_t n = (size_t)(nl - cl.rbuf);
      char *line = malloc(n + 1);
      if (!line)
        return NULL;
      memcpy(line, cl.rbuf, n);
      line[n] = '\0';
      if (n && line[n - 1] == '\r')
        line[n - 1] = '\0';
      memmove(cl.rbuf, nl + 1, cl.rlen - n - 1);
      cl.rlen -= n + 1;
      return line;
    }
    if (cl.rlen == sizeof cl.rbuf)
      cl.rlen = 0; /* a line longer than the buffer: drop it */
    ssize_t k = recv(cl.fd, cl.rbuf + cl.rlen, sizeof cl.rbuf - cl.rlen, 0);
    if (k < 0 && errno == EINTR)
      continue;
    if (k <= 0)
      return NULL;
    cl.rlen += (size_t)k;
  }
}

static bool send_line(const char *line) {
  size_t n = strlen(line);
  char *buf = malloc(n + 2);
  if (!buf)
    return false;
  memcpy(buf, line, n);
  buf[n] = '\n';
  const char *p = buf;
  size_t left = n + 1;
  while (left) {
    ssize_t k = send(cl.fd, p, left, MSG_NOSIGNAL);
    if (k < 0 && errno == EINTR)
      continue;
    if (k <= 0) {
      free(buf);
      return false;
    }
    p += k;
    left -= (size_t)k;
  }
  free(buf);
  return true;
}

/* Send a command and hand each reply line (un-stuffed) to fn. Returns 1 when the reply is an
 * error, 0 when not, -1 when the node went away. Trace events met on the way are printed. */
static int request(const char *line, void (*fn)(const char *line, void *arg), void *arg) {
  if (!send_line(line))
    return -1;
  int rc = 0;
  bool first = true;
  for (char *l; (l = read_line()) != NULL; free(l)) {
    if (strcmp(l, ".") == 0) {
      free(l);
      return rc;
    }
    if (strncmp(l, "trace ", 6) == 0) {
      printf("%s\n", l);
      continue;
    }
    if (first && strncmp(l, "error:", 6) == 0)
      rc = 1;
    first = false;
    fn(l[0] == '.' ? l + 1 : l, arg);
  }
  return -1;
}

static void print_line(const char *line, void *arg) {
  (void)arg;
  printf("%s\n", line);
}

/* ---- completion ---- */

static void add_name(const char *line, void *arg) {
  bool *header = arg;
  if (*header) { /* the first line is the table's header */
    *header = false;
    return;
  }
  size_t n = strcspn(line, " ");
  char **v = realloc(cl.names, (cl.nnames + 1) * sizeof *v);
  if (!v || strncmp(line, "no registered", 13) == 0)
    return;
  cl.names = v;
  cl.names[cl.nnames++] = strndup(line, n);
}

static void fetch_names(void) {
  for (size_t i = 0; i < cl.nnames; i++)
    free(cl.names[i]);
  cl.nnames = 0;
  bool header = true;
  request("names", add_name, &header);
}

/* The rows of `nodes` (text): "node: NAME" first, then the links' table, its header
 * starting with "name". */
static void add_node(const char *line, void *arg) {
  bool *in_table = arg;
  const char *name = NULL;
  size_t n = 0;
  if (strncmp(line, "node: ", 6) == 0) {
    name = line + 6;
    n = strcspn(name, " ");
  } else if (*in_table) {
    name = line;
    n = strcspn(line, " ");
  } else if (strncmp(line, "name ", 5) == 0) {
    *in_table = true;
  }
  char **v = name && n ? realloc(cl.nodes, (cl.nnodes + 1) * sizeof *v) : NULL;
  if (!v)
    return;
  cl.nodes = v;
  char *w = malloc(n + 2);
  if (!w)
    return;
  w[0] = '@';
  memcpy(w + 1, name, n);
  w[n + 1] = '\0';
  cl.nodes[cl.nnodes++] = w;
}

static void fetch_nodes(void) {
  for (size_t i = 0; i < cl.nnodes; i++)
    free(cl.nodes[i]);
  cl.nnodes = 0;
  bool in_table = false;
  request("nodes", add_node, &in_table);
}

static char *complete_from(const char *text, int state, const char *const *words, size_t n) {
  static size_t i;
  if (state == 0)
    i = 0;
  for (size_t len = strlen(text); i < n;) {
    const char *w = words[i++];
    if (w && strncmp(w, text, len) == 0)
      return strdup(w);
  }
  return NULL;
}

static char *complete_command(const char *text, int state) {
  return complete_from(text, state, commands, sizeof commands / sizeof commands[0] - 1);
}

static char *complete_name(const char *text, int state) {
  return complete_from(text, state, (const char *const *)cl.names, cl.nnames);
}

/* "@node", or "ACTOR@node": the node part from the cluster's nodes. */
static char *complete_node(const char *text, int state) {
  static char prefix[256];
  static size_t plen;
  const char *at = strchr(text, '@');
  if (state == 0) {
    plen = at ? (size_t)(at - text) : 0;
    if (plen >= sizeof prefix)
      plen = 0;
    memcpy(prefix, text, plen);
  }
  char *w = complete_from(at ? at : text, state, (const char *const *)cl.nodes, cl.nnodes);
  if (!w || plen == 0)
    return w;
  char *full = malloc(plen + strlen(w) + 1);
  if (full) {
    memcpy(full, prefix, plen);
    strcpy(full + plen, w);
  }
  free(w);
  return full;
}

static char **complete(const char *text, int start, int end) {
  (void)end;
  rl_attempted_completion_over = 1;
  if (start == 0)
    return rl_completion_matches(text, complete_command);
  if (strchr(text, '@')) {
    fetch_nodes();
    return rl_completion_matches(text, complete_node);
  }
  fetch_names();
  return rl_completion_matches(text, complete_name);
}

/* ---- top ---- */

static void on_sigint(int sig) {
  (void)sig;
  cl.interrupted = 1;
}

static int term_rows(void) {
  struct winsize ws;
  return ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_row > 6 ? ws.ws_row : 24;
}

/* Refresh the busiest actors (of node `at`; "" for the whole cluster, with a node column)
 * in place every second until q or Ctrl-C. */
static void top(const char *at) {
  struct termios old, raw;
  bool tty = tcgetattr(STDIN_FILENO, &old) == 0;
  if (tty) {
    raw = old;
    raw.c_lflag &= ~(tcflag_t)(ICANON | ECHO);
    tcsetattr(STDIN_FILENO, TCSANOW, &raw);
  }
  cl.interrupted = 0;
  char cmd[128]; /* "actors --sort mailbox --limit N " and 64 of the node: 106 at most */
  while (!cl.interrupted) {
    /* Without @node, every node's (on a node of a cluster; else this system's). */
    snprintf(cmd, sizeof cmd, "actors --sort mailbox --limit %d %.64s", term_rows() - 5,
             *at ? at : "--cluster");
    printf("\x1b[H\x1b[2J"); /* home, clear */
    if (request(cmd, print_line, NULL) < 0) {
      cl.quit = true;
      break;
    }
    printf("(q to leave)\n");
    fflush(stdout);
    struct pollfd p = {.fd = STDIN_FILENO, .events = POLLIN};
    char ch;
    if (poll(&p, 1, TOP_PERIOD_MS) > 0 && read(STDIN_FILENO, &ch, 1) == 1 &&
        (ch == 'q' || ch == 'Q'))
      break;
  }
  if (tty)
    tcsetattr(STDIN_FILENO, TCSANOW, &old);
}

/* ---- the interactive loop ---- */

static void on_line(char *line) {
  if (!line) {
    cl.quit = true;
    return;
  }
  char *p = line;
  while (isspace((unsigned char)*p))
    p++;
  if (*p)
    add_history(p);
  if (!strcmp(p, "quit") || !strcmp(p, "exit")) {
    cl.quit = true;
  } else if (!strcmp(p, "top") || (!strncmp(p, "top ", 4) && p[4 + strspn(p + 4, " ")] == '@')) {
    rl_callback_handler_remove();
    top(p[3] ? p + 4 + strspn(p + 4, " ") : "");
    if (!cl.quit)
      rl_callback_handler_install("troupe> ", on_line);
  } else if (*p && request(p, print_line, NULL) < 0) {
    cl.quit = true;
  }
  free(line);
}

static int interactive(void) {
  rl_attempted_completion_function = complete;
  rl_callback_handler_install("troupe> ", on_line);
  while (!cl.quit) {
    struct pollfd p[2] = {{.fd = STDIN_FILENO, .events = POLLIN}, {.fd = cl.fd, .events = POLLIN}};
    if (poll(p, 2, -1) < 0) {
      if (errno == EINTR)
        continue;
      break;
    }
    if (p[1].revents) { /* trace events between replies */
      char *l = read_line();
      if (!l)
        break;
      printf("\r%s\n", l);
      free(l);
      rl_forced_update_display();
    }
    if (p[0].revents)
      rl_callback_read_char();
  }
  rl_callback_handler_remove();
  printf("\n");
  return 0;
}

static void usage(FILE *to) {
  fprintf(to, "usage: troupe-console HOST:PORT [-c COMMAND]\n"
              "  HOST:PORT   a node's debug console (HOST a name or an address; [IPV6]:PORT)\n"
              "  -c COMMAND  run one console command, print its reply, exit 1 if it is an error\n"
              "  -h, --help  print this and exit\n"
              "Without -c: line editing, history, tab completion of commands, actor names and\n"
              "@node; `help` lists the commands, `top [@node]` shows the busiest mailboxes every\n"
              "second (q leaves it), `quit`, `exit` or ^D ends. Exit status: 0; 1 for an error\n"
              "reply or a node that closed the connection; 2 for bad usage or no connection.\n");
}

int main(int argc, char **argv) {
  const char *target = NULL, *command = NULL;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
      usage(stdout);
      return 0;
    } else if (!strcmp(argv[i], "-c") && i + 1 < argc) {
      command = argv[++i];
    } else if (argv[i][0] != '-' && !target) {
      target = argv[i];
    } else {
      usage(stderr);
      return 2;
    }
  }
  if (!target) {
    usage(stderr);
    return 2;
  }
  if ((cl.fd = dial(target)) < 0) {
    fprintf(stderr, "troupe-console: cannot connect to %s\n", target);
    return 2;
  }
  struct sigaction sa = {.sa_handler = on_sigint};
  sigaction(SIGINT, &sa, NULL);
  int rc = command ? request(command, print_line, NULL) : interactive();
  if (rc < 0)
    fprintf(stderr, "troupe-console: the node closed the connection\n");
  close(cl.fd);
  for (size_t i = 0; i < cl.nnames; i++)
    free(cl.names[i]);
  free(cl.names);
  return rc == 0 ? 0 : 1;
}
