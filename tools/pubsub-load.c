/* troupe-pubsub-load: load generator and checker for a Redis-protocol pub/sub server
 * (troupe-pubsub, or redis-server itself: it speaks only RESP over plain sockets).
 *
 *   troupe-pubsub-load --port N [--subs 50] [--channels 10] [--pubs 4] [--msgs 20000]
 *                      [--bytes 64] [--window 64] [--deadline-ms 60000]
 *   troupe-pubsub-load --port N --latency [--msgs 20000] [--bytes 64]
 *   troupe-pubsub-load --port N --idle N [--hold-ms 2000]
 *
 * --sub-ports P,P,...: the subscribers connect to these ports in turn (the nodes of a
 * cluster), the publishers to --port. A PUBLISH then reports either every subscriber of the
 * channel (troupe-pubsub counts the whole cluster) or those on the publisher's node (Redis
 * Cluster counts the local node); either is accepted.
 *
 * Throughput (the default). Subscriber i subscribes to channel i % channels; once every
 * subscription is confirmed, each publisher sends its msgs PUBLISHes (at most `window`
 * unanswered at a time), message j on channel j % channels, its payload "p<publisher>:<j>:"
 * padded to `bytes`. Every subscriber must get every message of its channel, from each
 * publisher in order, and every PUBLISH must report the channel's subscriber count.
 *
 * Latency. One publisher and one subscriber; one PUBLISH at a time, each sent when the
 * previous message has arrived; prints the median and 99th percentile of the time from a
 * PUBLISH's send to its message's arrival.
 *
 * Idle. Opens N connections, each subscribed to a channel of its own, prints "ready" once
 * all are confirmed, keeps them for hold-ms and exits: the memory a server spends per idle
 * subscribed client is its RSS while they are held, less its RSS before, over N.
 *
 * One summary line is printed; the exit status is 0 only if every check held before the
 * deadline. The tool is one thread on epoll and parses replies by hand, so that it costs the
 * machine as little as it can: on a small machine it shares the cores with the server it
 * measures, and a costly load tool would cap both servers alike. Connects to 127.0.0.1. */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* Bytes read from a socket at once. */
#define READ_CHUNK 65536
/* Elements of a reply we look at (a pmessage push has 4). */
#define REPLY_MAX 4
/* Events taken from epoll at once. */
#define EVENTS 256

typedef struct {
  int port, subs, channels, pubs, msgs, bytes, window, idle;
  int sub_ports[16], nsub_ports;
  long deadline_ms, hold_ms;
  bool latency;
} opts_t;

typedef struct {
  int fd;
  bool sub;
  char *in;
  size_t in_len, in_cap;
  char *out;
  size_t out_off, out_len, out_cap;
  int channel;    /* subscribers */
  bool confirmed; /* subscribers: the subscription is in place */
  long *next;     /* subscribers: the next seq expected from each publisher */
  long got;       /* subscribers: messages; publishers: replies */
  long sent;      /* publishers: PUBLISHes queued */
  bool want_out;  /* registered for EPOLLOUT */
} conn_t;

typedef struct {
  const char *p[REPLY_MAX];
  size_t n[REPLY_MAX];
  size_t count; /* elements (1 for a non-array) */
  long long num;
  char type;
} reply_t;

static double now_s(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static void die(const char *what) {
  fprintf(stderr, "troupe-pubsub-load: %s: %s\n", what, strerror(errno));
  exit(1);
}

static void *grow(void *p, size_t *cap, size_t want) {
  if (want <= *cap)
    return p;
  size_t n = *cap ? *cap : 4096;
  while (n < want)
    n *= 2;
  p = realloc(p, n);
  if (!p)
    die("realloc");
  *cap = n;
  return p;
}

static int dial(int port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  int one = 1;
  if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof a) != 0)
    die("connect");
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return fd;
}

static void queue(conn_t *c, const char *data, size_t len) {
  c->out = grow(c->out, &c->out_cap, c->out_len + len);
  memcpy(c->out + c->out_len, data, len);
  c->out_len += len;
}

/* ---- replies, parsed by hand ---- */

/* A decimal at p (optional '-'), up to a non-digit; *end past it. */
static long long decimal(const char *p, const char *e, const char **end) {
  bool neg = p < e && *p == '-';
  p += neg;
  long long v = 0;
  while (p < e && *p >= '0' && *p <= '9')
    v = v * 10 + (*p++ - '0');
  *end = p;
  return neg ? -v : v;
}

/* One element (not an array) at *p: false when incomplete. */
static bool element(const char **p, const char *e, reply_t *r, size_t i) {
  const char *q;
  long long v = decimal(*p + 1, e, &q);
  if (e - q < 2)
    return false;
  const char *le = q + 2; /* past "\r\n" */
  if (**p == '$' && v >= 0) {
    if (e - le < v + 2)
      return false;
    if (i < REPLY_MAX)
      r->p[i] = le, r->n[i] = (size_t)v;
    *p = le + v + 2;
    return true;
  }
  if (**p == '$' || **p == ':') {
    r->num = v;
    *p = le;
    return true;
  }
  const char *nl = memchr(*p, '\n', (size_t)(e - *p)); /* a simple string or an error */
  if (!nl)
    return false;
  if (i < REPLY_MAX)
    r->p[i] = *p + 1, r->n[i] = (size_t)(nl - *p - 2);
  *p = nl + 1;
  return true;
}

/* Parse one reply from the start of buf: its length, or 0 when incomplete. */
static size_t parse(const char *buf, size_t len, reply_t *r) {
  const char *p = buf, *e = buf + len, *q;
  if (len == 0)
    return 0;
  r->type = *p;
  r->count = 1;
  if (*p != '*' && *p != '>')
    return element(&p, e, r, 0) ? (size_t)(p - buf) : 0;
  r->count = (size_t)decimal(p + 1, e, &q);
  if (e - q < 2)
    return 0;
  p = q + 2;
  for (size_t i = 0; i < r->count; i++)
    if (p == e || !element(&p, e, r, i))
      return 0;
  return (size_t)(p - buf);
}

static void command(conn_t *c, int argc, const char **argv, const size_t *lens) {
  char h[32];
  queue(c, h, (size_t)snprintf(h, sizeof h, "*%d\r\n", argc));
  for (int i = 0; i < argc; i++) {
    queue(c, h, (size_t)snprintf(h, sizeof h, "$%zu\r\n", lens[i]));
    queue(c, argv[i], lens[i]);
    queue(c, "\r\n", 2);
  }
}

static int channel_name(char *out, size_t cap, const char *prefix, int k) {
  return snprintf(out, cap, "%s:%d", prefix, k);
}

static bool bad; /* a check failed (reported once) */

static bool fail(const char *fmt, long a, long b) {
  if (!bad)
    fprintf(stderr, fmt, a, b), fputc('\n', stderr);
  bad = true;
  return false;
}

/* ---- throughput ---- */

static const opts_t *o;
static double latency_sent; /* latency mode: when the PUBLISH in flight was sent */
static double *latencies;
static long nlat;

static bool on_sub_reply(conn_t *c, const reply_t *r) {
  if ((r->type != '*' && r->type != '>') || r->count < 3)
    return fail("subscriber: unexpected reply type %ld (count %ld)", r->type, (long)r->count);
  if (r->n[0] == 9 && memcmp(r->p[0], "subscribe", 9) == 0) {
    c->confirmed = true;
    return true;
  }
  char name[32];
  size_t nl = (size_t)channel_name(name, sizeof name, "load", c->channel);
  if (r->n[0] != 7 || memcmp(r->p[0], "message", 7) != 0 || r->n[1] != nl ||
      memcmp(r->p[1], name, nl) != 0)
    return fail("subscriber %ld: a push that is not a message on its channel", c->channel, 0);
  const char *q, *p = r->p[2], *e = p + r->n[2];
  if (r->n[2] != (size_t)o->bytes || *p != 'p')
    return fail("subscriber: bad payload (%ld bytes, want %ld)", (long)r->n[2], o->bytes);
  long pub = (long)decimal(p + 1, e, &q);
  long seq = q < e && *q == ':' ? (long)decimal(q + 1, e, &q) : -1;
  if (pub < 0 || pub >= o->pubs || seq < 0)
    return fail("subscriber: bad payload (publisher %ld, seq %ld)", pub, seq);
  if (seq != c->next[pub])
    return fail("subscriber: out of order: got seq %ld, expected %ld", seq, c->next[pub]);
  c->next[pub] += o->channels;
  c->got++;
  if (o->latency)
    latencies[nlat++] = now_s() - latency_sent;
  return true;
}

/* Subscriber i's port. */
static int sub_port(int i) { return o->nsub_ports ? o->sub_ports[i % o->nsub_ports] : o->port; }

static bool on_pub_reply(conn_t *c, const reply_t *r) {
  long ch = c->got % o->channels;
  long want = o->subs / o->channels + (ch < o->subs % o->channels), local = 0;
  for (int i = (int)ch; o->nsub_ports && i < o->subs; i += o->channels)
    local += sub_port(i) == o->port;
  if (r->type != ':' || (r->num != want && !(o->nsub_ports && r->num == local)))
    fail("publish: %ld receivers, expected %ld", r->type == ':' ? (long)r->num : -1, want);
  c->got++;
  return true;
}

static void fill(conn_t *c, int id, char *payload, long window) {
  while (c->sent < o->msgs && c->sent - c->got < window) {
    char name[32];
    size_t nl = (size_t)channel_name(name, sizeof name, "load", (int)(c->sent % o->channels));
    int n = snprintf(payload, (size_t)o->bytes + 1, "p%d:%ld:", id, c->sent);
    memset(payload + n, 'x', (size_t)(o->bytes - n));
    const char *argv[] = {"PUBLISH", name, payload};
    size_t lens[] = {7, nl, (size_t)o->bytes};
    command(c, 3, argv, lens);
    c->sent++;
  }
}

/* Read what is there and handle every complete reply. Returns false on EOF. */
static bool pump(conn_t *c) {
  for (;;) {
    c->in = grow(c->in, &c->in_cap, c->in_len + READ_CHUNK);
    ssize_t n = recv(c->fd, c->in + c->in_len, READ_CHUNK, MSG_DONTWAIT);
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
      return false;
    if (n < 0)
      break;
    c->in_len += (size_t)n;
    size_t off = 0, used;
    reply_t r = {0};
    while ((used = parse(c->in + off, c->in_len - off, &r)) > 0) {
      if (c->sub)
        on_sub_reply(c, &r);
      else
        on_pub_reply(c, &r);
      off += used;
    }
    memmove(c->in, c->in + off, c->in_len - off);
    c->in_len -= off;
    if ((size_t)n < READ_CHUNK)
      break;
  }
  return true;
}

static void want_out(int ep, conn_t *c, bool on) {
  if (c->want_out == on)
    return;
  struct epoll_event ev = {.events = EPOLLIN | (on ? EPOLLOUT : 0), .data.ptr = c};
  if (epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev) != 0)
    die("epoll_ctl");
  c->want_out = on;
}

static void flush_out(int ep, conn_t *c) {
  while (c->out_off < c->out_len) {
    ssize_t n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off, MSG_DONTWAIT);
    if (n <= 0)
      break;
    c->out_off += (size_t)n;
  }
  if (c->out_off == c->out_len)
    c->out_off = c->out_len = 0;
  want_out(ep, c, c->out_len > 0);
}

static long expected(int channel) {
  long per = o->msgs > channel ? (o->msgs - 1 - channel) / o->channels + 1 : 0;
  return per * o->pubs;
}

/* Wait for events (up to 100 ms) and serve them. Returns false when a peer hung up. */
static bool step(int ep) {
  struct epoll_event ev[EVENTS];
  int n = epoll_wait(ep, ev, EVENTS, 100);
  if (n < 0 && errno != EINTR)
    die("epoll_wait");
  for (int i = 0; i < n; i++) {
    conn_t *c = ev[i].data.ptr;
    if ((ev[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) && !pump(c))
      return false;
    flush_out(ep, c);
  }
  return true;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

/* ---- the command line ---- */

static int usage(void) {
  fprintf(stderr, "usage: troupe-pubsub-load --port N [--subs 50] [--channels 10] [--pubs 4] "
                  "[--msgs 20000] [--bytes 64] [--window 64] [--deadline-ms 60000]\n"
                  "       troupe-pubsub-load --port N --latency [--msgs 20000] [--bytes 64]\n"
                  "       troupe-pubsub-load --port N --idle N [--hold-ms 2000]\n");
  return 2;
}

static int options(int argc, char **argv, opts_t *op) {
  static const struct option longs[] = {{"port", 1, NULL, 'p'},     {"subs", 1, NULL, 's'},
                                        {"channels", 1, NULL, 'c'}, {"pubs", 1, NULL, 'P'},
                                        {"msgs", 1, NULL, 'm'},     {"bytes", 1, NULL, 'b'},
                                        {"window", 1, NULL, 'w'},   {"idle", 1, NULL, 'i'},
                                        {"hold-ms", 1, NULL, 'h'},  {"deadline-ms", 1, NULL, 'd'},
                                        {"latency", 0, NULL, 'l'},  {"sub-ports", 1, NULL, 'S'},
                                        {NULL, 0, NULL, 0}};
  *op = (opts_t){.subs = 50,
                 .channels = 10,
                 .pubs = 4,
                 .msgs = 20000,
                 .bytes = 64,
                 .window = 64,
                 .deadline_ms = 60000,
                 .hold_ms = 2000};
  for (int c; (c = getopt_long(argc, argv, "", longs, NULL)) != -1;) {
    long v = optarg ? strtol(optarg, NULL, 10) : 0;
    int *f = c == 'p'   ? &op->port
             : c == 's' ? &op->subs
             : c == 'c' ? &op->channels
             : c == 'P' ? &op->pubs
             : c == 'm' ? &op->msgs
             : c == 'b' ? &op->bytes
             : c == 'w' ? &op->window
             : c == 'i' ? &op->idle
                        : NULL;
    if (c == 'S') {
      for (char *t = strtok(optarg, ","); t; t = strtok(NULL, ",")) {
        long pv = strtol(t, NULL, 10);
        if (op->nsub_ports == 16 || pv <= 0 || pv > 65535)
          return usage();
        op->sub_ports[op->nsub_ports++] = (int)pv;
      }
    } else if (c == 'l')
      op->latency = true;
    else if (c == 'd' || c == 'h')
      *(c == 'd' ? &op->deadline_ms : &op->hold_ms) = v;
    else if (!f || v <= 0 || v > 1000000000)
      return usage();
    else
      *f = (int)v;
  }
  if (op->latency)
    op->subs = op->pubs = op->channels = op->window = 1;
  if (optind < argc || op->port <= 0 || op->port > 65535 || op->bytes < 32 ||
      op->deadline_ms <= 0 || op->hold_ms < 0)
    return usage();
  return 0;
}

/* Room for as many sockets as the hard limit allows: 1,000 subscribers need more than the
 * usual soft limit of 1,024 descriptors. */
static void raise_fd_limit(void) {
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
}

static conn_t *open_conns(int ep, int n, int subs, const char *prefix) {
  conn_t *cs = calloc((size_t)n, sizeof *cs);
  if (!cs)
    die("calloc");
  for (int i = 0; i < n; i++) {
    conn_t *c = &cs[i];
    c->sub = i < subs;
    c->fd = dial(c->sub ? sub_port(i) : o->port);
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
    if (epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev) != 0)
      die("epoll_ctl");
    if (!c->sub)
      continue;
    c->channel = o->idle ? i : i % o->channels;
    c->next = calloc((size_t)o->pubs, sizeof *c->next);
    for (int p = 0; c->next && p < o->pubs; p++)
      c->next[p] = c->channel;
    char name[32];
    size_t nl = (size_t)channel_name(name, sizeof name, prefix, c->channel);
    const char *av[] = {"SUBSCRIBE", name};
    size_t lens[] = {9, nl};
    command(c, 2, av, lens);
    flush_out(ep, c);
  }
  return cs;
}

/* Idle mode: every subscription confirmed, then held. */
static int run_idle(int ep, double deadline) {
  conn_t *cs = open_conns(ep, o->idle, o->idle, "idle");
  int ready = 0;
  while (ready < o->idle && now_s() < deadline && step(ep))
    for (int i = ready = 0; i < o->idle; i++)
      ready += cs[i].confirmed;
  bool ok = ready == o->idle && !bad;
  printf("ready idle=%d ok=%d\n", ready, ok);
  fflush(stdout);
  if (ok)
    usleep((useconds_t)o->hold_ms * 1000u);
  for (int i = 0; i < o->idle; i++)
    close(cs[i].fd), free(cs[i].in), free(cs[i].out), free(cs[i].next);
  free(cs);
  return ok ? 0 : 1;
}

int main(int argc, char **argv) {
  opts_t op;
  if (options(argc, argv, &op))
    return 2;
  o = &op;
  raise_fd_limit();
  int ep = epoll_create1(EPOLL_CLOEXEC);
  if (ep < 0)
    die("epoll_create1");
  double deadline = now_s() + (double)op.deadline_ms / 1000, t0 = 0, t_pub = 0, t_del = 0;
  if (op.idle)
    return run_idle(ep, deadline);
  int n = op.subs + op.pubs;
  conn_t *cs = open_conns(ep, n, op.subs, "load");
  char *payload = malloc((size_t)op.bytes + 1);
  latencies = op.latency ? calloc((size_t)op.msgs, sizeof *latencies) : NULL;
  if (!payload || (op.latency && !latencies))
    die("malloc");
  bool alive = true, publishing = false, done = false;
  while (alive && !done && !bad && now_s() < deadline) {
    int ready = 0;
    long pubs_done = 0, subs_done = 0;
    for (int i = 0; i < op.subs; i++) {
      ready += cs[i].confirmed;
      subs_done += cs[i].got == expected(cs[i].channel);
    }
    if (!publishing && ready == op.subs)
      publishing = true, t0 = now_s();
    for (int i = op.subs; publishing && i < n; i++) {
      conn_t *c = &cs[i];
      /* Latency: the next PUBLISH only once the previous message arrived. */
      long window = op.latency ? (c->sent == cs[0].got ? 1 : 0) : op.window;
      long before = c->sent;
      fill(c, i - op.subs, payload, window);
      if (op.latency && c->sent > before)
        latency_sent = now_s();
      flush_out(ep, c);
      pubs_done += c->got == op.msgs;
    }
    if (publishing && pubs_done == op.pubs && !t_pub)
      t_pub = now_s();
    if (publishing && subs_done == op.subs && !t_del)
      t_del = now_s();
    done = t_pub && t_del;
    alive = done || step(ep);
  }
  if (!alive)
    fprintf(stderr, "troupe-pubsub-load: the server closed a connection\n");
  if (!done && !bad)
    fprintf(stderr, "troupe-pubsub-load: deadline passed before every message arrived\n");
  long delivered = 0;
  for (int i = 0; i < op.subs; i++)
    delivered += cs[i].got;
  bool ok = done && !bad;
  if (op.latency) {
    qsort(latencies, (size_t)nlat, sizeof *latencies, cmp_double);
    double p50 = nlat ? latencies[nlat / 2] : 0, p99 = nlat ? latencies[nlat * 99 / 100] : 0;
    printf("server=%d latency msgs=%ld bytes=%d p50_us=%.1f p99_us=%.1f round_trips_per_s=%.0f "
           "ok=%d\n",
           op.port, nlat, op.bytes, p50 * 1e6, p99 * 1e6,
           t_del > t0 ? (double)delivered / (t_del - t0) : 0, ok);
  } else {
    printf("server=%d subs=%d channels=%d pubs=%d msgs=%ld bytes=%d published_per_s=%.0f "
           "delivered_per_s=%.0f ok=%d\n",
           op.port, op.subs, op.channels, op.pubs, (long)op.pubs * op.msgs, op.bytes,
           t_pub > t0 ? (double)op.pubs * op.msgs / (t_pub - t0) : 0,
           t_del > t0 ? (double)delivered / (t_del - t0) : 0, ok);
  }
  for (int i = 0; i < n; i++) {
    close(cs[i].fd);
    free(cs[i].in), free(cs[i].out), free(cs[i].next);
  }
  free(cs), free(payload), free(latencies);
  close(ep);
  return ok ? 0 : 1;
}
