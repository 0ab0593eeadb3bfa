/* troupe-pubsub-load: load generator and checker for a Redis-protocol pub/sub server
 * (troupe-pubsub, or redis-server itself: it speaks only RESP over plain sockets).
 *
 *   troupe-pubsub-load --port N [--subs 50] [--channels 10] [--pubs 4] [--msgs 20000]
 *                      [--bytes 64] [--window 64] [--deadline-ms 60000]
 *
 * Subscriber i subscribes to channel i % channels; once every subscription is confirmed,
 * each publisher sends its msgs PUBLISHes (at most `window` unanswered at a time), message
 * j on channel j % channels, its payload "p<publisher>:<j>:" padded to `bytes`. Every
 * subscriber must get every message of its channel, from each publisher in order, and every
 * PUBLISH must report the channel's subscriber count. One summary line is printed; the exit
 * status is 0 only if all of that held before the deadline. Connects to 127.0.0.1 only. */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* Bytes read from a socket at once. */
#define READ_CHUNK 65536
/* Elements of a reply we look at (a pmessage push has 4). */
#define REPLY_MAX 4

typedef struct {
  int port, subs, channels, pubs, msgs, bytes, window;
  long deadline_ms;
} opts_t;

typedef struct {
  int fd;
  char *in;
  size_t in_len, in_cap;
  char *out;
  size_t out_off, out_len, out_cap;
  int channel;    /* subscribers */
  bool confirmed; /* subscribers: the subscription is in place */
  long *next;     /* subscribers: the next seq expected from each publisher */
  long got;       /* subscribers: messages; publishers: replies */
  long sent;      /* publishers: PUBLISHes queued */
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

/* One RESP line at p (up to "\r\n"): its end, or NULL when incomplete. */
static const char *line_end(const char *p, const char *e) {
  const char *nl = memchr(p, '\n', (size_t)(e - p));
  return nl && nl > p ? nl + 1 : NULL;
}

/* One element (not an array) at *p: false when incomplete. */
static bool element(const char **p, const char *e, reply_t *r, size_t i) {
  const char *le = line_end(*p, e);
  if (!le)
    return false;
  long long v = strtoll(*p + 1, NULL, 10);
  if (**p == '$' && v >= 0) {
    if (e - le < v + 2)
      return false;
    if (i < REPLY_MAX)
      r->p[i] = le, r->n[i] = (size_t)v;
    *p = le + v + 2;
    return true;
  }
  if (i < REPLY_MAX)
    r->p[i] = *p + 1, r->n[i] = (size_t)(le - *p - 3);
  r->num = v;
  *p = le;
  return true;
}

/* Parse one reply from the start of buf: its length, or 0 when incomplete. */
static size_t parse(const char *buf, size_t len, reply_t *r) {
  const char *p = buf, *e = buf + len;
  if (len == 0)
    return 0;
  r->type = *p;
  r->count = 1;
  if (*p != '*')
    return element(&p, e, r, 0) ? (size_t)(p - buf) : 0;
  const char *le = line_end(p, e);
  if (!le)
    return 0;
  r->count = (size_t)strtoll(p + 1, NULL, 10);
  p = le;
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

static void channel_name(char *out, size_t cap, int k) { snprintf(out, cap, "load:%d", k); }

static bool bad; /* a check failed (reported once) */

static bool fail(const char *fmt, long a, long b) {
  if (!bad)
    fprintf(stderr, fmt, a, b), fputc('\n', stderr);
  bad = true;
  return false;
}

static bool on_sub_reply(const opts_t *o, conn_t *c, const reply_t *r) {
  if (r->type != '*' || r->count < 3)
    return fail("subscriber: unexpected reply type %ld (count %ld)", r->type, (long)r->count);
  if (r->n[0] == 9 && memcmp(r->p[0], "subscribe", 9) == 0) {
    c->confirmed = true;
    return true;
  }
  char name[32];
  channel_name(name, sizeof name, c->channel);
  if (r->n[0] != 7 || memcmp(r->p[0], "message", 7) != 0 || r->n[1] != strlen(name) ||
      memcmp(r->p[1], name, r->n[1]) != 0)
    return fail("subscriber %ld: a push that is not a message on its channel", c->channel, 0);
  int pub = -1;
  long seq = -1;
  char head[48];
  size_t n = r->n[2] < sizeof head - 1 ? r->n[2] : sizeof head - 1;
  memcpy(head, r->p[2], n);
  head[n] = 0;
  if (sscanf(head, "p%d:%ld:", &pub, &seq) != 2 || pub < 0 || pub >= o->pubs ||
      (size_t)o->bytes != r->n[2])
    return fail("subscriber: bad payload (publisher %ld, seq %ld)", pub, seq);
  if (seq != c->next[pub])
    return fail("subscriber: out of order: got seq %ld, expected %ld", seq, c->next[pub]);
  c->next[pub] += o->channels;
  c->got++;
  return true;
}

static bool on_pub_reply(const opts_t *o, conn_t *c, const reply_t *r) {
  long ch = c->got % o->channels;
  long want = o->subs / o->channels + (ch < o->subs % o->channels);
  if (r->type != ':' || r->num != want)
    fail("publish: %ld receivers, expected %ld", r->type == ':' ? (long)r->num : -1, want);
  c->got++;
  return true;
}

static void fill(const opts_t *o, conn_t *c, int id, char *payload) {
  while (c->sent < o->msgs && c->sent - c->got < o->window) {
    char name[32];
    channel_name(name, sizeof name, (int)(c->sent % o->channels));
    int n = snprintf(payload, (size_t)o->bytes + 1, "p%d:%ld:", id, c->sent);
    memset(payload + n, 'x', (size_t)(o->bytes - n));
    const char *argv[] = {"PUBLISH", name, payload};
    size_t lens[] = {7, strlen(name), (size_t)o->bytes};
    command(c, 3, argv, lens);
    c->sent++;
  }
}

/* Read what is there and handle every complete reply. Returns false on EOF. */
static bool pump(const opts_t *o, conn_t *c, bool sub) {
  c->in = grow(c->in, &c->in_cap, c->in_len + READ_CHUNK);
  ssize_t n = recv(c->fd, c->in + c->in_len, READ_CHUNK, MSG_DONTWAIT);
  if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
    return false;
  c->in_len += n > 0 ? (size_t)n : 0;
  size_t off = 0, used;
  reply_t r;
  while ((used = parse(c->in + off, c->in_len - off, &r)) > 0) {
    (sub ? on_sub_reply : on_pub_reply)(o, c, &r);
    off += used;
  }
  memmove(c->in, c->in + off, c->in_len - off);
  c->in_len -= off;
  return true;
}

static void flush_out(conn_t *c) {
  while (c->out_off < c->out_len) {
    ssize_t n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off, MSG_DONTWAIT);
    if (n <= 0)
      break;
    c->out_off += (size_t)n;
  }
  if (c->out_off == c->out_len)
    c->out_off = c->out_len = 0;
}

static long expected(const opts_t *o, int channel) {
  long per = o->msgs > channel ? (o->msgs - 1 - channel) / o->channels + 1 : 0;
  return per * o->pubs;
}

/* Poll every connection once (up to 100 ms). Returns false when a peer hung up. */
static bool step(const opts_t *o, conn_t *cs, int n, struct pollfd *pf) {
  for (int i = 0; i < n; i++)
    pf[i] =
        (struct pollfd){.fd = cs[i].fd, .events = (short)(POLLIN | (cs[i].out_len ? POLLOUT : 0))};
  if (poll(pf, (nfds_t)n, 100) < 0 && errno != EINTR)
    die("poll");
  for (int i = 0; i < n; i++) {
    if ((pf[i].revents & (POLLIN | POLLHUP | POLLERR)) && !pump(o, &cs[i], i < o->subs))
      return false;
    flush_out(&cs[i]);
  }
  return true;
}

static int usage(void) {
  fprintf(stderr, "usage: troupe-pubsub-load --port N [--subs 50] [--channels 10] [--pubs 4] "
                  "[--msgs 20000] [--bytes 64] [--window 64] [--deadline-ms 60000]\n");
  return 2;
}

static int options(int argc, char **argv, opts_t *o) {
  static const struct option longs[] = {
      {"port", 1, NULL, 'p'},   {"subs", 1, NULL, 's'},        {"channels", 1, NULL, 'c'},
      {"pubs", 1, NULL, 'P'},   {"msgs", 1, NULL, 'm'},        {"bytes", 1, NULL, 'b'},
      {"window", 1, NULL, 'w'}, {"deadline-ms", 1, NULL, 'd'}, {NULL, 0, NULL, 0}};
  *o = (opts_t){0, 50, 10, 4, 20000, 64, 64, 60000};
  for (int c; (c = getopt_long(argc, argv, "", longs, NULL)) != -1;) {
    long v = optarg ? strtol(optarg, NULL, 10) : 0;
    int *f = c == 'p'   ? &o->port
             : c == 's' ? &o->subs
             : c == 'c' ? &o->channels
             : c == 'P' ? &o->pubs
             : c == 'm' ? &o->msgs
             : c == 'b' ? &o->bytes
             : c == 'w' ? &o->window
                        : NULL;
    if (c == 'd')
      o->deadline_ms = v;
    else if (!f || v <= 0 || v > 1000000000)
      return usage();
    else
      *f = (int)v;
  }
  if (optind < argc || o->port <= 0 || o->port > 65535 || o->bytes < 32 || o->deadline_ms <= 0)
    return usage();
  return 0;
}

int main(int argc, char **argv) {
  opts_t o;
  if (options(argc, argv, &o))
    return 2;
  int n = o.subs + o.pubs;
  conn_t *cs = calloc((size_t)n, sizeof *cs);
  struct pollfd *pf = calloc((size_t)n, sizeof *pf);
  char *payload = malloc((size_t)o.bytes + 1);
  if (!cs || !pf || !payload)
    die("calloc");
  double deadline = now_s() + (double)o.deadline_ms / 1000, t0 = 0, t_pub = 0, t_del = 0;
  for (int i = 0; i < n; i++) {
    cs[i].fd = dial(o.port);
    if (i >= o.subs)
      continue;
    cs[i].channel = i % o.channels;
    cs[i].next = calloc((size_t)o.pubs, sizeof *cs[i].next);
    for (int p = 0; cs[i].next && p < o.pubs; p++)
      cs[i].next[p] = cs[i].channel;
    char name[32];
    channel_name(name, sizeof name, cs[i].channel);
    const char *av[] = {"SUBSCRIBE", name};
    size_t lens[] = {9, strlen(name)};
    command(&cs[i], 2, av, lens);
  }
  bool alive = true, publishing = false, done = false;
  while (alive && !done && !bad && now_s() < deadline) {
    int ready = 0;
    long pubs_done = 0, subs_done = 0;
    for (int i = 0; i < o.subs; i++) {
      ready += cs[i].confirmed;
      subs_done += cs[i].got == expected(&o, cs[i].channel);
    }
    if (!publishing && ready == o.subs)
      publishing = true, t0 = now_s();
    for (int i = o.subs; publishing && i < n; i++) {
      fill(&o, &cs[i], i - o.subs, payload);
      pubs_done += cs[i].got == o.msgs;
    }
    if (publishing && pubs_done == o.pubs && !t_pub)
      t_pub = now_s();
    if (publishing && subs_done == o.subs && !t_del)
      t_del = now_s();
    done = t_pub && t_del;
    alive = done || step(&o, cs, n, pf);
  }
  if (!alive)
    fprintf(stderr, "troupe-pubsub-load: the server closed a connection\n");
  if (!done && !bad)
    fprintf(stderr, "troupe-pubsub-load: deadline passed before every message arrived\n");
  long delivered = 0;
  for (int i = 0; i < o.subs; i++)
    delivered += cs[i].got;
  bool ok = done && !bad;
  printf("server=%d subs=%d channels=%d pubs=%d msgs=%ld bytes=%d published_per_s=%.0f "
         "delivered_per_s=%.0f ok=%d\n",
         o.port, o.subs, o.channels, o.pubs, (long)o.pubs * o.msgs, o.bytes,
         t_pub > t0 ? (double)o.pubs * o.msgs / (t_pub - t0) : 0,
         t_del > t0 ? (double)delivered / (t_del - t0) : 0, ok);
  for (int i = 0; i < n; i++) {
    close(cs[i].fd);
    free(cs[i].in), free(cs[i].out), free(cs[i].next);
  }
  free(cs), free(pf), free(payload);
  return ok ? 0 : 1;
}
