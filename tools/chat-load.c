/* troupe-chat-load: a load generator and checker for troupe-chat (examples/chat).
 *
 *   troupe-chat-load --port N [--host 127.0.0.1] --clients C --lines M [--room #load]
 *                    [--rate R] [--timeout-s S] [--ports P,P,...]
 *
 * --ports: client i connects to the i-th of these ports in turn (the nodes of a cluster of
 * troupe-chat servers) instead of --port.
 *
 * It connects C IRC clients (NICK, USER, JOIN), waits until every one of them has joined
 * the room, then has each send M lines into it. Every line carries its sender's number, a
 * sequence number and the time it was written, so each receiver can check that it got
 * every other client's lines, in order per sender (IRC does not echo a line to its sender:
 * C * (C - 1) * M deliveries in all), and measure the latency of each one. It prints one
 * summary line and exits 0 only when every line arrived in order before the deadline.
 *
 * Without --rate every client writes as fast as its socket takes the lines, which measures
 * throughput (and the latency then is mostly time spent queued); --rate R paces each client
 * to R lines per second, which measures latency below saturation.
 *
 * Plain POSIX sockets and poll(), one thread, no troupe: the tool measures the server, not
 * itself. It talks only to a loopback address. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_CLIENTS 1000   /* each is a socket here and an actor there */
#define MAX_LINES 100000   /* per client */
#define IN_BUF 65536       /* bytes read at once per client */
#define LINE_MAX_IN 2048   /* a longer line from the server is a protocol error */
#define SEND_BATCH 16      /* lines a client writes per turn: spreads senders evenly */
#define HIST_BUCKETS 17000 /* latency histogram: 3 significant digits, up to 10^16 us */

typedef struct {
  int fd;
  bool joined;
  bool failed;
  uint32_t sent;     /* lines written */
  uint64_t received; /* lines from the others */
  uint32_t *next;    /* per sender: the sequence number expected next */
  char in[IN_BUF + LINE_MAX_IN];
  size_t in_len;
  char out[SEND_BATCH * 128 + 512];
  size_t out_len, out_off;
} client_t;

typedef struct {
  const char *host, *room;
  unsigned port, clients, lines, timeout_s;
  unsigned ports[16], nports;
  unsigned rate; /* lines per second per client; 0: as fast as the sockets take them */
} options_t;

typedef struct {
  options_t o;
  client_t *c;
  unsigned tag; /* makes this run's nicks unlikely to collide with another run's */
  unsigned joined, done;
  uint64_t delivered, disorder;
  uint64_t first_send_ns, last_delivery_ns;
  uint64_t hist[HIST_BUCKETS];
  bool sending;
} load_t;

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static size_t bucket_of(uint64_t us) {
  size_t d = 0;
  while (us >= 1000) {
    us /= 10;
    d++;
  }
  return d * 1000 + (size_t)us;
}

static uint64_t value_of(size_t b) {
  uint64_t v = b % 1000;
  for (size_t d = b / 1000; d > 0; d--)
    v *= 10;
  return v;
}

static double percentile_ms(const load_t *l, double p) {
  uint64_t want = (uint64_t)(p * (double)l->delivered), seen = 0;
  for (size_t b = 0; b < HIST_BUCKETS; b++) {
    seen += l->hist[b];
    if (seen > want)
      return (double)value_of(b) / 1000.0;
  }
  return 0;
}

static void usage(FILE *to) {
  fprintf(to, "usage: troupe-chat-load --port N [--host 127.0.0.1] --clients C --lines M "
              "[--room #load] [--rate R] [--timeout-s S] [--ports P,P,...]\n");
}

static bool number(const char *text, unsigned long min, unsigned long max, unsigned *out) {
  char *end;
  if (!text || *text < '0' || *text > '9')
    return false;
  errno = 0;
  unsigned long v = strtoul(text, &end, 10);
  if (errno || *end || v < min || v > max)
    return false;
  *out = (unsigned)v;
  return true;
}

static int parse(int argc, char **argv, options_t *o) {
  static const struct option longs[] = {
      {"port", required_argument, NULL, 'p'},    {"host", required_argument, NULL, 'H'},
      {"clients", required_argument, NULL, 'c'}, {"lines", required_argument, NULL, 'l'},
      {"room", required_argument, NULL, 'r'},    {"timeout-s", required_argument, NULL, 't'},
      {"rate", required_argument, NULL, 'R'},    {"ports", required_argument, NULL, 'P'},
      {"help", no_argument, NULL, 'h'},          {NULL, 0, NULL, 0}};
  *o = (options_t){.host = "127.0.0.1", .room = "#load", .timeout_s = 120};
  bool ok = true;
  opterr = 0;
  for (int ch; ok && (ch = getopt_long(argc, argv, "", longs, NULL)) != -1;) {
    if (ch == 'h') {
      usage(stdout);
      exit(0);
    }
    if (ch == 'P') {
      for (char *t = strtok(optarg, ","); ok && t; t = strtok(NULL, ","))
        ok = o->nports < 16 && number(t, 1, 65535, &o->ports[o->nports++]);
      if (ok && !o->port)
        o->port = o->ports[0];
      continue;
    }
    ok = (ch == 'p' && number(optarg, 1, 65535, &o->port)) ||
         (ch == 'c' && number(optarg, 2, MAX_CLIENTS, &o->clients)) ||
         (ch == 'l' && number(optarg, 1, MAX_LINES, &o->lines)) ||
         (ch == 't' && number(optarg, 1, 3600, &o->timeout_s)) ||
         (ch == 'R' && number(optarg, 0, 1000000, &o->rate)) ||
         (ch == 'H' && (o->host = optarg) != NULL) || (ch == 'r' && (o->room = optarg) != NULL);
  }
  struct in_addr a;
  const char *bad = !ok || optind < argc ? "bad option or value"
                    : !o->port || !o->clients || !o->lines
                        ? "--port, --clients and --lines are required"
                    : inet_pton(AF_INET, o->host, &a) != 1 || (ntohl(a.s_addr) >> 24) != 127
                        ? "--host must be a loopback address (127.x.x.x)"
                    : o->room[0] != '#' || strlen(o->room) > 50 || strpbrk(o->room, " ,")
                        ? "--room must be a channel name like #load"
                        : NULL;
  if (bad) {
    fprintf(stderr, "troupe-chat-load: %s\n", bad);
    usage(stderr);
    return 2;
  }
  return 0;
}

/* Queue text for client i; the poll loop writes it. */
static bool queue(client_t *c, const char *text, size_t len) {
  if (c->out_len + len > sizeof c->out)
    return false;
  memcpy(c->out + c->out_len, text, len);
  c->out_len += len;
  return true;
}

static bool flush_out(client_t *c) {
  while (c->out_off < c->out_len) {
    ssize_t n = write(c->fd, c->out + c->out_off, c->out_len - c->out_off);
    if (n < 0)
      return errno == EAGAIN || errno == EINTR;
    c->out_off += (size_t)n;
  }
  c->out_len = c->out_off = 0;
  return true;
}

static int dial(const options_t *o, unsigned i) {
  unsigned port = o->nports ? o->ports[i % o->nports] : o->port;
  struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  inet_pton(AF_INET, o->host, &sa.sin_addr);
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0)
    return -1;
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0 ||
      fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

static int connect_all(load_t *l) {
  for (unsigned i = 0; i < l->o.clients; i++) {
    client_t *c = &l->c[i];
    char hello[256];
    if ((c->fd = dial(&l->o, i)) < 0) {
      fprintf(stderr, "troupe-chat-load: connect %s:%u: %s\n", l->o.host, l->o.port,
              strerror(errno));
      return -1;
    }
    int n = snprintf(hello, sizeof hello, "NICK ld%u_%u\r\nUSER ld 0 * :load client\r\nJOIN %s\r\n",
                     l->tag, i, l->o.room);
    queue(c, hello, (size_t)n);
  }
  return 0;
}

/* A line from another client: ":nick!u@h PRIVMSG #room :L <sender> <seq> <ns>". */
static void on_privmsg(load_t *l, client_t *c, unsigned self, const char *text) {
  unsigned long sender, seq;
  unsigned long long sent_ns;
  if (sscanf(text, "L %lu %lu %llu", &sender, &seq, &sent_ns) != 3 || sender >= l->o.clients ||
      sender == self) {
    c->failed = true;
    return;
  }
  if (c->next[sender] != seq)
    l->disorder++;
  c->next[sender] = (uint32_t)seq + 1;
  c->received++;
  l->delivered++;
  uint64_t now = now_ns();
  l->last_delivery_ns = now;
  l->hist[bucket_of(now > sent_ns ? (now - sent_ns) / 1000 : 0)]++;
  if (c->received == (uint64_t)(l->o.clients - 1) * l->o.lines)
    l->done++;
}

static void on_line(load_t *l, client_t *c, unsigned self, char *line) {
  char *p = line;
  if (*p == ':')
    p += strcspn(p, " ") + strspn(p + strcspn(p, " "), " ");
  char *cmd = p;
  size_t cl = strcspn(p, " ");
  char *rest = p + cl + strspn(p + cl, " ");
  if (cl == 4 && strncmp(cmd, "PING", 4) == 0) {
    char pong[300];
    int n = snprintf(pong, sizeof pong, "PONG %.256s\r\n", rest);
    queue(c, pong, (size_t)n);
  } else if (cl == 7 && strncmp(cmd, "PRIVMSG", 7) == 0) {
    char *text = strstr(rest, " :");
    if (text)
      on_privmsg(l, c, self, text + 2);
  } else if (cl == 3 && strncmp(cmd, "366", 3) == 0 && !c->joined) {
    c->joined = true;
    l->joined++;
  } else if ((cl == 3 && (strncmp(cmd, "433", 3) == 0 || strncmp(cmd, "403", 3) == 0 ||
                          strncmp(cmd, "437", 3) == 0)) ||
             (cl == 5 && strncmp(cmd, "ERROR", 5) == 0)) {
    fprintf(stderr, "troupe-chat-load: client %u: %s\n", self, line);
    c->failed = true;
  }
}

static void read_client(load_t *l, unsigned i) {
  client_t *c = &l->c[i];
  ssize_t n = read(c->fd, c->in + c->in_len, sizeof c->in - c->in_len - 1);
  if (n <= 0) {
    if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
      fprintf(stderr, "troupe-chat-load: client %u: disconnected\n", i);
      c->failed = true;
    }
    return;
  }
  c->in_len += (size_t)n;
  char *start = c->in, *end = c->in + c->in_len, *nl;
  while ((nl = memchr(start, '\n', (size_t)(end - start))) != NULL) {
    *nl = '\0';
    if (nl > start && nl[-1] == '\r')
      nl[-1] = '\0';
    on_line(l, c, i, start);
    start = nl + 1;
  }
  c->in_len = (size_t)(end - start);
  memmove(c->in, start, c->in_len);
  if (c->in_len > LINE_MAX_IN)
    c->failed = true;
}

/* Stamp and queue the client's next lines, when its output has drained (and, with --rate,
 * when they are due). */
static void send_batch(load_t *l, unsigned i) {
  client_t *c = &l->c[i];
  uint64_t now = now_ns();
  for (int k = 0; k < SEND_BATCH && c->sent < l->o.lines; k++) {
    if (l->o.rate && now - l->first_send_ns < (uint64_t)c->sent * 1000000000u / l->o.rate)
      break;
    char line[128];
    int n = snprintf(line, sizeof line, "PRIVMSG %s :L %u %u %llu\r\n", l->o.room, i, c->sent,
                     (unsigned long long)now_ns());
    if (!queue(c, line, (size_t)n))
      break;
    c->sent++;
  }
}

/* Run the poll loop until every line is in, a client fails, or the deadline passes. */
static bool run(load_t *l, uint64_t deadline) {
  unsigned n = l->o.clients;
  struct pollfd *pf = calloc(n, sizeof *pf);
  if (!pf)
    return false;
  bool ok = false;
  while (now_ns() < deadline) {
    if (!l->sending && l->joined == n) {
      l->sending = true;
      l->first_send_ns = now_ns();
    }
    for (unsigned i = 0; i < n; i++) {
      if (l->sending && l->c[i].out_len == 0)
        send_batch(l, i);
      pf[i] = (struct pollfd){.fd = l->c[i].fd,
                              .events = (short)(POLLIN | (l->c[i].out_len ? POLLOUT : 0))};
    }
    if (poll(pf, n, l->o.rate ? 1 : 100) < 0 && errno != EINTR)
      break;
    bool failed = false;
    for (unsigned i = 0; i < n; i++) {
      if (pf[i].revents & (POLLIN | POLLHUP | POLLERR))
        read_client(l, i);
      if (!flush_out(&l->c[i]))
        l->c[i].failed = true;
      failed |= l->c[i].failed;
    }
    if (failed)
      break;
    if (l->done == n) {
      ok = true;
      break;
    }
  }
  free(pf);
  return ok;
}

int main(int argc, char **argv) {
  load_t *l = calloc(1, sizeof *l);
  if (!l || parse(argc, argv, &l->o) != 0)
    return 2;
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < l->o.clients + 16) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
  l->tag = (unsigned)(getpid() % 100000);
  l->c = calloc(l->o.clients, sizeof *l->c);
  for (unsigned i = 0; l->c && i < l->o.clients; i++)
    if ((l->c[i].next = calloc(l->o.clients, sizeof(uint32_t))) == NULL)
      return 1;
  if (!l->c || connect_all(l) != 0)
    return 1;
  bool ok = run(l, now_ns() + (uint64_t)l->o.timeout_s * 1000000000u);
  uint64_t expected = (uint64_t)l->o.clients * (l->o.clients - 1) * l->o.lines;
  ok = ok && l->delivered == expected && l->disorder == 0;
  double secs = l->first_send_ns && l->last_delivery_ns > l->first_send_ns
                    ? (double)(l->last_delivery_ns - l->first_send_ns) / 1e9
                    : 0;
  if (!ok)
    fprintf(stderr,
            "troupe-chat-load: joined %u of %u, delivered %llu of %llu, %llu out of order\n",
            l->joined, l->o.clients, (unsigned long long)l->delivered, (unsigned long long)expected,
            (unsigned long long)l->disorder);
  printf("clients=%u lines=%u delivered=%llu seconds=%.3f lines_per_s=%.0f p50_ms=%.3f "
         "p99_ms=%.3f ok=%d\n",
         l->o.clients, l->o.lines, (unsigned long long)l->delivered, secs,
         secs > 0 ? (double)l->delivered / secs : 0, percentile_ms(l, 0.50), percentile_ms(l, 0.99),
         ok);
  for (unsigned i = 0; i < l->o.clients; i++) {
    if (write(l->c[i].fd, "QUIT :done\r\n", 12) < 0) {
      /* the server may have dropped it already; closing is all that is left */
    }
    close(l->c[i].fd);
    free(l->c[i].next);
  }
  free(l->c);
  free(l);
  return ok ? 0 : 1;
}
