/* Dialling: the seeds (resolved again at every attempt, on libuv's resolver threads, every
 * address dialled), the peers learned from PEERS, reconnects with exponential backoff and
 * full jitter (CLUSTER.md B6); and the heartbeat tick that sends PINGs, declares silent
 * peers down, closes stalled links and guards against this node's own pauses. */
#include <string.h>

#include "cluster/cluster.h"
#include "net/net.h"

uint64_t tr__backoff_ms(tr_cluster_t *cl, uint32_t attempts) {
  uint64_t cap = cl->backoff_base_ms;
  for (uint32_t i = 0; i < attempts && cap < cl->backoff_cap_ms; i++)
    cap *= 2;
  if (cap > cl->backoff_cap_ms)
    cap = cl->backoff_cap_ms;
  return tr__rand(&cl->rng) % (cap ? cap : 1);
}

typedef struct {
  uv_connect_t req;
  tr_cconn_t *c;
} dial_t;

static void on_connect(uv_connect_t *req, int status) {
  dial_t *d = (dial_t *)req;
  tr_cconn_t *c = d->c;
  free(d);
  if (c->state == TR_HS_CLOSING)
    return;
  c->connecting = false;
  tr__io_enter(c->cl->io);
  if (status < 0 || tr__conn_open(c) != 0)
    tr__conn_close(c, TR_DOWN_ERROR);
  else
    tr__hs_start_dial(c);
  tr__io_leave(c->cl->io);
}

static void dial_addr(tr_cluster_t *cl, const struct sockaddr *sa, tr_peer_t *p, tr_seed_t *s) {
  tr_cconn_t *c = tr__conn_new(cl, true);
  dial_t *d = c ? malloc(sizeof *d) : NULL;
  if (!d) {
    if (c)
      tr__conn_close(c, TR_DOWN_NONE);
    return;
  }
  c->peer = p;
  c->seed = s;
  char text[TR_ADDR_MAX];
  tr__net_addr_text(sa, text);
  snprintf(c->ip, sizeof c->ip, "%s", text);
  if (p)
    p->dialling = true;
  if (s)
    s->dialling = true;
  d->c = c;
  int rc = uv_tcp_connect(&d->req, &c->tcp, sa, on_connect);
  if (rc != 0) {
    free(d);
    tr__conn_close(c, TR_DOWN_ERROR);
  }
}

static void on_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res) {
  tr_seed_t *s = req->data;
  tr_cluster_t *cl = *(tr_cluster_t **)(s + 1);
  s->resolving = false;
  if (cl->stopping) {
    uv_freeaddrinfo(res);
    return;
  }
  tr__io_enter(cl->io);
  if (status < 0) {
    tr_log(TR_LOG_WARN, "cluster: cannot resolve seed %s: %s", s->host, uv_strerror(status));
    s->next_dial_ms = tr__cl_now_ms(cl) + tr__backoff_ms(cl, s->attempts++);
  } else {
    for (struct addrinfo *a = res; a; a = a->ai_next)
      if (a->ai_family == AF_INET || a->ai_family == AF_INET6)
        dial_addr(cl, a->ai_addr, NULL, s);
    if (!s->dialling)
      s->next_dial_ms = tr__cl_now_ms(cl) + tr__backoff_ms(cl, s->attempts++);
  }
  uv_freeaddrinfo(res);
  tr__io_leave(cl->io);
}

static void dial_seed(tr_cluster_t *cl, tr_seed_t *s) {
  struct sockaddr_storage ss;
  if (tr__net_parse_addr(s->host, s->port, &ss) == 0) { /* a literal: no resolver */
    dial_addr(cl, (const struct sockaddr *)&ss, NULL, s);
    return;
  }
  char port[8];
  snprintf(port, sizeof port, "%u", (unsigned)s->port);
  struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
  s->gai.data = s;
  if (uv_getaddrinfo(&cl->io->loop, &s->gai, on_resolved, s->host, port, &hints) == 0)
    s->resolving = true;
  else
    s->next_dial_ms = tr__cl_now_ms(cl) + tr__backoff_ms(cl, s->attempts++);
}

/* Seeds carry a pointer to the cluster after them, for the resolver's callback. */
int tr__dial_start(tr_cluster_t *cl, const char *seeds) {
  if (!seeds)
    return 0;
  const char *p = seeds;
  while (*p) {
    const char *e = strchr(p, ',');
    size_t n = e ? (size_t)(e - p) : strlen(p);
    while (n && (*p == ' ')) {
      p++;
      n--;
    }
    while (n && p[n - 1] == ' ')
      n--;
    if (n) {
      tr_seed_t *s = calloc(1, sizeof *s + sizeof(tr_cluster_t *));
      if (!s)
        return TR_ENOMEM;
      if (tr__split_host_port(p, n, s->host, sizeof s->host, &s->port) != 0 || s->port == 0) {
        tr_log(TR_LOG_ERROR, "cluster: bad seed \"%.*s\" (want host:port)", (int)n, p);
        free(s);
        return TR_EINVAL;
      }
      *(tr_cluster_t **)(s + 1) = cl;
      s->next = cl->seeds;
      cl->seeds = s;
    }
    p += n;
    while (*p == ' ' || *p == ',')
      p++;
  }
  return 0;
}

void tr__dial_learn(tr_cluster_t *cl, const char *name, size_t nlen, const char *addr,
                    size_t alen) {
  if (nlen == cl->name_len && memcmp(name, cl->name, nlen) == 0)
    return;
  tr_peer_t *p = tr__peer_get(cl, name, nlen, true);
  if (!p || p->conn)
    return;
  memcpy(p->addr, addr, alen);
  p->addr[alen] = '\0';
  p->known_addr = true;
  p->last_up_ms = tr__cl_now_ms(cl); /* "last mentioned" */
  if (!p->dialling)
    p->next_dial_ms = 0; /* soon: the next tick */
}

static void dial_peer(tr_cluster_t *cl, tr_peer_t *p) {
  char host[64];
  uint16_t port;
  struct sockaddr_storage ss;
  if (tr__split_host_port(p->addr, strlen(p->addr), host, sizeof host, &port) != 0 ||
      tr__net_parse_addr(host, port, &ss) != 0) {
    p->known_addr = false;
    tr_log(TR_LOG_WARN, "cluster: %s advertises %s, which is not an address", p->name, p->addr);
    return;
  }
  dial_addr(cl, (const struct sockaddr *)&ss, p, NULL);
}

void tr__dial_tick(tr_cluster_t *cl, uint64_t now) {
  for (tr_seed_t *s = cl->seeds; s; s = s->next)
    if (!s->resolving && !s->dialling && !(s->peer && s->peer->conn) && now >= s->next_dial_ms)
      dial_seed(cl, s);
  for (tr_peer_t *p = cl->peers; p; p = p->next) {
    if (p->conn || p->dialling || !p->known_addr || now < p->next_dial_ms)
      continue;
    if (p->via_seed) {
      /* Its seed dials it, unless the seed now reaches another node. */
      bool seeded = false;
      for (tr_seed_t *s = cl->seeds; s; s = s->next)
        seeded |= s->peer == p;
      if (seeded)
        continue;
      p->via_seed = false;
    }
    if (now - p->last_up_ms > TR_FORGET_MS) {
      p->known_addr = false; /* not heard of for ten minutes: forgotten */
      continue;
    }
    dial_peer(cl, p);
  }
}

/* Requests never answered (they timed out at their requester) are forgotten. */
static void turn_requests(tr_cluster_t *cl, uint64_t now) {
  if (now - cl->reqs_turned_ms < TR_REQ_GEN_MS)
    return;
  cl->reqs_turned_ms = now;
  for (tr_peer_t *p = cl->peers; p; p = p->next) {
    tr__out_lock(p);
    tr__u64map_free(&p->reqs_old);
    p->reqs_old = p->reqs;
    memset(&p->reqs, 0, sizeof p->reqs);
    tr__out_unlock(p);
  }
}

void tr__heartbeat_tick(tr_cluster_t *cl, uint64_t now) {
  turn_requests(cl, now);
  if (cl->last_tick_ms && now - cl->last_tick_ms > 1000 + TR_TICK_MS) {
    /* This node was paused (SIGSTOP, a VM freeze): the silence was ours, not theirs. */
    tr_log(TR_LOG_WARN, "cluster: this node did not run for %llu ms; not counting it against peers",
           (unsigned long long)(now - cl->last_tick_ms));
    for (tr_peer_t *p = cl->peers; p; p = p->next)
      p->last_rx_ms = now;
  }
  cl->last_tick_ms = now;
  uint64_t now_ns = tr__now_ns();
  for (tr_peer_t *p = cl->peers; p; p = p->next) {
    tr_cconn_t *c = p->conn;
    if (!c)
      continue;
    if (c->paused) /* we do not read it: its silence means nothing */
      p->last_rx_ms = now;
    if (now - p->last_rx_ms > cl->down_after_ms) {
      tr__conn_close(c, TR_DOWN_TIMEOUT);
      continue;
    }
    tr__out_lock(p);
    /* progress_ns moves under the lock, by any writer: read the clock after taking it. */
    now_ns = tr__now_ns();
    bool stalled = tr__out_queue_bytes(p) && now_ns > p->progress_ns &&
                   now_ns - p->progress_ns > cl->stall_ms * 1000000ull;
    /* A PING only on a quiet link: while frames are queued, the peer hears bytes anyway
     * (any byte is life to it), and a PING would only wait behind them. */
    if (!stalled && tr__out_queue_bytes(p) == 0 && now - p->last_ping_ms >= cl->heartbeat_ms) {
      p->last_ping_ms = now;
      p->ping_seq++;
      tr__out_frame(p, TR_F_PING, "[uu]", p->ping_seq, now_ns / 1000);
    }
    tr__out_unlock(p);
    if (stalled) {
      tr__conn_close(c, TR_DOWN_STALLED);
      continue;
    }
    tr__out_flush(&cl->io->ctx, p);
  }
  tr__dial_tick(cl, now);
}
