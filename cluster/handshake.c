/* The handshake: each side proves it knows the cookie without sending it, over a transcript
 * that holds both names, incarnations, nonces and version ranges (CLUSTER.md B3):
 *
 *   dialler A -> B  HELLO     [ver_min, ver_max, name, incarnation, nonce_A, listen]
 *   B -> A          CHALLENGE [status, name, incarnation, nonce_B, listen]
 *   A -> B          AUTH      [mac_A = HMAC(K, "troupe1 A>B" | T)]
 *   B -> A          AUTH_OK   [mac_B = HMAC(K, "troupe1 B>A" | T | mac_A)]   or REFUSE [reason]
 *
 * K = SHA-256(cookie), T = the bytes of HELLO and CHALLENGE as they crossed. The dialler
 * proves first, so a listener never hands an unauthenticated stranger a MAC to attack
 * offline; a replayed or edited transcript fails its MAC; MACs are compared in constant
 * time. Which connection of a pair survives is decided only once the dialler has proved
 * itself (the tie-break below), so no unauthenticated HELLO can take down a live link. */
#include <sodium.h>
#include <string.h>

#include "cluster/cluster.h"
#include "net/net.h"

static const char LABEL_A[] = "troupe1 A>B", LABEL_B[] = "troupe1 B>A";

static void mac(const tr_cluster_t *cl, const char *label, const tr_cbuf_t *t, const uint8_t *extra,
                uint8_t out[TR_MAC_BYTES]) {
  crypto_auth_hmacsha256_state st;
  crypto_auth_hmacsha256_init(&st, cl->key, sizeof cl->key);
  crypto_auth_hmacsha256_update(&st, (const uint8_t *)label, strlen(label));
  crypto_auth_hmacsha256_update(&st, t->p, t->len);
  if (extra)
    crypto_auth_hmacsha256_update(&st, extra, TR_MAC_BYTES);
  crypto_auth_hmacsha256_final(&st, out);
  sodium_memzero(&st, sizeof st);
}

/* Send a handshake frame built into b, adding it to the transcript when `record`. */
static void send_frame(tr_cconn_t *c, tr_cbuf_t *b, bool record) {
  if (record && tr__cbuf_reserve(&c->transcript, b->len) == 0) {
    memcpy(c->transcript.p + c->transcript.len, b->p, b->len);
    c->transcript.len += b->len;
  }
  tr__conn_write_raw(c, b);
  free(b->p);
}

static void record_in(tr_cconn_t *c, uint8_t kind, const uint8_t *body, size_t len) {
  if (tr__cbuf_reserve(&c->transcript, 5 + len) != 0)
    return;
  uint8_t *p = c->transcript.p + c->transcript.len;
  tr__put_be32(p, (uint32_t)(len + 1));
  p[4] = kind;
  memcpy(p + 5, body, len);
  c->transcript.len += 5 + len;
}

static void refuse(tr_cconn_t *c, const char *why, bool penalise) {
  tr_cluster_t *cl = c->cl;
  tr_cbuf_t b = {0};
  if (tr__frame_put(&b, TR_F_REFUSE, NULL, 0, "[s]", why) == 0)
    send_frame(c, &b, false);
  if (penalise) {
    atomic_fetch_add_explicit(&cl->refused_auth, 1, memory_order_relaxed);
    tr__hs_penalise(cl, (const struct sockaddr *)&c->addr);
  }
  tr__conn_close_later(c, 1000); /* time to read the reason; nothing more is read */
}

/* What the peer advertises as its listen address; an unspecified host (0.0.0.0, ::) is
 * replaced by the address it connected from. */
static void advertised(tr_cconn_t *c, const char *s, size_t n) {
  char host[64];
  uint16_t port;
  c->peer_listen[0] = '\0';
  if (n >= sizeof c->peer_listen || tr__split_host_port(s, n, host, sizeof host, &port) != 0)
    return;
  if (strcmp(host, "0.0.0.0") == 0 || strcmp(host, "[::]") == 0) {
    char ip[TR_ADDR_MAX];
    tr__net_addr_text((const struct sockaddr *)&c->addr, ip);
    char *colon = strrchr(ip, ':');
    if (colon)
      *colon = '\0';
    if (strlen(ip) + 7 <= sizeof c->peer_listen)
      snprintf(c->peer_listen, sizeof c->peer_listen, "%.56s:%u", ip, (unsigned)port);
  } else {
    memcpy(c->peer_listen, s, n);
    c->peer_listen[n] = '\0';
  }
}

void tr__hs_start_dial(tr_cconn_t *c) {
  tr_cluster_t *cl = c->cl;
  randombytes_buf(c->nonce, sizeof c->nonce);
  tr_cbuf_t b = {0};
  if (tr__frame_put(&b, TR_F_HELLO, NULL, 0, "[uusuxs]", (uint64_t)TR_PROTO_MIN,
                    (uint64_t)TR_PROTO_MAX, cl->name, cl->inc, c->nonce, sizeof c->nonce,
                    cl->listen_text) != 0) {
    tr__conn_close(c, TR_DOWN_ERROR);
    return;
  }
  send_frame(c, &b, true);
  c->state = TR_HS_HELLO_SENT;
}

static bool name_field(tr_cconn_t *c, const char *name, size_t nlen) {
  if (!tr__node_name_ok(name, nlen))
    return false;
  memcpy(c->peer_name, name, nlen);
  c->peer_name[nlen] = '\0';
  return true;
}

static bool on_hello(tr_cconn_t *c, const uint8_t *body, size_t len) {
  tr_cluster_t *cl = c->cl;
  uint64_t vmin, vmax, inc;
  const char *name, *listen;
  const void *nonce;
  size_t nlen, llen, xlen, used;
  if (tr__frame_get(body, len, &used, "[uusuxs]", &vmin, &vmax, &name, &nlen, &inc, &nonce, &xlen,
                    &listen, &llen) != 0 ||
      used != len || xlen != TR_NONCE_BYTES || !name_field(c, name, nlen) || inc == 0) {
    tr_log(TR_LOG_WARN, "cluster: malformed HELLO from %s", c->ip);
    refuse(c, "malformed hello", true);
    return true;
  }
  if (vmin > TR_PROTO_MAX || vmax < TR_PROTO_MIN) {
    tr_log(TR_LOG_WARN, "cluster: %s (%s) speaks versions %llu-%llu, this node %u-%u", c->peer_name,
           c->ip, (unsigned long long)vmin, (unsigned long long)vmax, TR_PROTO_MIN, TR_PROTO_MAX);
    refuse(c, "no common version", false);
    return true;
  }
  if (nlen == cl->name_len && memcmp(name, cl->name, nlen) == 0) {
    tr_log(TR_LOG_WARN, "cluster: %s presents this node's own name %s", c->ip, cl->name);
    refuse(c, "same name", false);
    return true;
  }
  c->peer_inc = inc;
  advertised(c, listen, llen);
  record_in(c, TR_F_HELLO, body, len);
  randombytes_buf(c->nonce, sizeof c->nonce);
  tr_cbuf_t b = {0};
  if (tr__frame_put(&b, TR_F_CHALLENGE, NULL, 0, "[usuxs]", (uint64_t)0, cl->name, cl->inc,
                    c->nonce, sizeof c->nonce, cl->listen_text) != 0)
    return false;
  send_frame(c, &b, true);
  c->state = TR_HS_WAIT_AUTH;
  return true;
}

static bool on_challenge(tr_cconn_t *c, const uint8_t *body, size_t len) {
  tr_cluster_t *cl = c->cl;
  uint64_t status, inc;
  const char *name, *listen;
  const void *nonce;
  size_t nlen, llen, xlen, used;
  if (tr__frame_get(body, len, &used, "[usuxs]", &status, &name, &nlen, &inc, &nonce, &xlen,
                    &listen, &llen) != 0 ||
      used != len || xlen != TR_NONCE_BYTES || !name_field(c, name, nlen) || inc == 0 ||
      status != 0) {
    tr_log(TR_LOG_WARN, "cluster: malformed CHALLENGE from %s", c->ip);
    return false;
  }
  if (nlen == cl->name_len && memcmp(name, cl->name, nlen) == 0) {
    if (c->seed) /* a seed that is this node itself (a list shared by every node) */
      c->seed->peer = NULL;
    tr_log(TR_LOG_DEBUG, "cluster: %s is this node itself", c->ip);
    tr__conn_close(c, TR_DOWN_NONE);
    return true;
  }
  c->peer_inc = inc;
  advertised(c, listen, llen);
  record_in(c, TR_F_CHALLENGE, body, len);
  tr_peer_t *p = tr__peer_get(cl, c->peer_name, nlen, true);
  if (!p)
    return false;
  if (!c->peer) {
    c->peer = p;
    p->dialling = true;
  }
  mac(cl, LABEL_A, &c->transcript, NULL, c->mac_a);
  tr_cbuf_t b = {0};
  if (tr__frame_put(&b, TR_F_AUTH, NULL, 0, "[x]", c->mac_a, sizeof c->mac_a) != 0)
    return false;
  send_frame(c, &b, false);
  c->state = TR_HS_AUTH_SENT;
  return true;
}

tr_tie_t tr__tie_break(bool we_greater, bool new_ours, tr_tie_link_t link, bool same_inc,
                       bool crossing) {
  if (link != TR_TIE_NO_LINK) {
    if (!same_inc)
      return TR_TIE_KEEP; /* the peer restarted */
    if ((link == TR_TIE_LINK_OURS) == new_ours)
      return TR_TIE_KEEP; /* the same side dialled again: it saw the old one end */
    return new_ours == we_greater ? TR_TIE_KEEP : TR_TIE_REFUSE;
  }
  if (!crossing)
    return TR_TIE_KEEP;
  return new_ours == we_greater ? TR_TIE_KEEP_CLOSE_CROSSING : TR_TIE_REFUSE;
}

/* Is o a handshake the other way between the same two nodes as c, not up yet? A dial of ours
 * still connecting is not one: the peer cannot have seen it, and it may never connect (its
 * SYNs lost in a partition that just healed), so it must not win over a connection that has
 * authenticated (tr__link_up drops it). */
static bool crossing_of(const tr_cconn_t *o, const tr_cconn_t *c, const tr_peer_t *p) {
  return o != c && o->peer == p && o->state < TR_HS_UP && o->dialled != c->dialled &&
         !o->connecting;
}

/* Apply the tie-break to `c`, which has just authenticated: true to make it the link. */
static bool keep_new(tr_cconn_t *c, tr_peer_t *p) {
  tr_cluster_t *cl = c->cl;
  tr_tie_link_t link = !p->conn           ? TR_TIE_NO_LINK
                       : p->conn->dialled ? TR_TIE_LINK_OURS
                                          : TR_TIE_LINK_THEIRS;
  /* A handshake the other way between the same two nodes, not up yet. */
  tr_cconn_t *crossing = NULL;
  for (tr_cconn_t *o = cl->conns; o && !p->conn; o = o->next)
    if (crossing_of(o, c, p))
      crossing = o;
  tr_tie_t t = tr__tie_break(strcmp(cl->name, p->name) > 0, c->dialled, link, p->inc == c->peer_inc,
                             crossing != NULL);
  for (tr_cconn_t *o = cl->conns, *next; t == TR_TIE_KEEP_CLOSE_CROSSING && o; o = next) {
    next = o->next; /* closing unlists it */
    if (crossing_of(o, c, p))
      tr__conn_close(o, TR_DOWN_NONE); /* it loses: the peer drops its end too */
  }
  return t != TR_TIE_REFUSE;
}

static bool on_auth(tr_cconn_t *c, const uint8_t *body, size_t len) {
  tr_cluster_t *cl = c->cl;
  const void *got;
  size_t glen, used;
  uint8_t want[TR_MAC_BYTES];
  if (tr__frame_get(body, len, &used, "[x]", &got, &glen) != 0 || used != len ||
      glen != TR_MAC_BYTES) {
    tr_log(TR_LOG_WARN, "cluster: malformed AUTH from %s", c->ip);
    refuse(c, "malformed auth", true);
    return true;
  }
  mac(cl, LABEL_A, &c->transcript, NULL, want);
  if (sodium_memcmp(want, got, TR_MAC_BYTES) != 0) {
    tr_log(TR_LOG_WARN, "cluster: refused %s from %s: wrong cookie", c->peer_name, c->ip);
    refuse(c, "authentication failed", true);
    return true;
  }
  memcpy(c->mac_a, got, TR_MAC_BYTES);
  tr_peer_t *p = tr__peer_get(cl, c->peer_name, strlen(c->peer_name), true);
  if (!p)
    return false;
  if (!keep_new(c, p)) {
    tr_log(TR_LOG_DEBUG, "cluster: %s dialled this node as this node dialled it; keeping ours",
           p->name);
    refuse(c, "simultaneous", false);
    return true;
  }
  uint8_t mb[TR_MAC_BYTES];
  mac(cl, LABEL_B, &c->transcript, c->mac_a, mb);
  tr_cbuf_t b = {0};
  if (tr__frame_put(&b, TR_F_AUTH_OK, NULL, 0, "[x]", mb, sizeof mb) != 0)
    return false;
  send_frame(c, &b, false);
  tr__hs_forgive(cl, (const struct sockaddr *)&c->addr);
  tr__link_up(c, p, c->peer_inc);
  return true;
}

static bool on_auth_ok(tr_cconn_t *c, const uint8_t *body, size_t len) {
  tr_cluster_t *cl = c->cl;
  const void *got;
  size_t glen, used;
  uint8_t want[TR_MAC_BYTES];
  if (tr__frame_get(body, len, &used, "[x]", &got, &glen) != 0 || used != len ||
      glen != TR_MAC_BYTES)
    return false;
  mac(cl, LABEL_B, &c->transcript, c->mac_a, want);
  if (sodium_memcmp(want, got, TR_MAC_BYTES) != 0) {
    atomic_fetch_add_explicit(&cl->refused_auth, 1, memory_order_relaxed);
    tr_log(TR_LOG_WARN, "cluster: %s (%s) could not prove the cookie: closing", c->peer_name,
           c->ip);
    tr__conn_close(c, TR_DOWN_PROTOCOL);
    return true;
  }
  tr_peer_t *p = c->peer;
  if (p->conn && !keep_new(c, p)) {
    tr__conn_close(c, TR_DOWN_NONE);
    return true;
  }
  tr__link_up(c, p, c->peer_inc);
  return true;
}

static bool on_refuse(tr_cconn_t *c, const uint8_t *body, size_t len) {
  const char *why;
  size_t n, used;
  if (tr__frame_get(body, len, &used, "[s]", &why, &n) != 0)
    return false;
  bool simultaneous = n == 12 && memcmp(why, "simultaneous", 12) == 0;
  tr_log(simultaneous ? TR_LOG_DEBUG : TR_LOG_WARN, "cluster: %s refused this node: %.*s",
         c->peer_name[0] ? c->peer_name : c->ip, (int)(n > 200 ? 200 : n), why);
  tr__conn_close(c, TR_DOWN_NONE);
  return true;
}

bool tr__hs_frame(tr_cconn_t *c, uint8_t kind, const uint8_t *body, size_t len) {
  switch (c->state) {
  case TR_HS_WAIT_HELLO:
    return kind == TR_F_HELLO && on_hello(c, body, len);
  case TR_HS_HELLO_SENT:
    if (kind == TR_F_REFUSE)
      return on_refuse(c, body, len);
    return kind == TR_F_CHALLENGE && on_challenge(c, body, len);
  case TR_HS_WAIT_AUTH:
    return kind == TR_F_AUTH && on_auth(c, body, len);
  case TR_HS_AUTH_SENT:
    if (kind == TR_F_REFUSE)
      return on_refuse(c, body, len);
    return kind == TR_F_AUTH_OK && on_auth_ok(c, body, len);
  default:
    return false;
  }
}

/* ---- per-address penalties ---- */

#define PENALTY_ENTRIES 4096u

static uint64_t ip_key(const struct sockaddr *sa) {
  uint64_t h = 1469598103934665603ull;
  const uint8_t *p;
  size_t n;
  if (sa->sa_family == AF_INET6) {
    p = (const uint8_t *)&((const struct sockaddr_in6 *)sa)->sin6_addr;
    n = 16;
  } else {
    p = (const uint8_t *)&((const struct sockaddr_in *)sa)->sin_addr;
    n = 4;
  }
  for (size_t i = 0; i < n; i++)
    h = (h ^ p[i]) * 1099511628211ull;
  return h == 0 || h == TR_U64MAP_TOMB ? 1 : h;
}

/* Failures an address may have before it is refused for a while: a node restarting with a
 * stale cookie, or a probe, must not lock out the other nodes behind the same address (a
 * host's other nodes, a NAT) at once. */
#define PENALTY_FREE 3u

bool tr__hs_penalised(tr_cluster_t *cl, const struct sockaddr *sa) {
  uint64_t v;
  if (!tr__u64map_get(&cl->penalty, ip_key(sa), &v) || (v >> 40) < PENALTY_FREE)
    return false;
  return (v & ((UINT64_C(1) << 40) - 1)) > tr__cl_now_ms(cl);
}

void tr__hs_forgive(tr_cluster_t *cl, const struct sockaddr *sa) {
  tr__u64map_del(&cl->penalty, ip_key(sa), NULL);
}

void tr__hs_penalise(tr_cluster_t *cl, const struct sockaddr *sa) {
  uint64_t k = ip_key(sa), v = 0;
  tr__u64map_get(&cl->penalty, k, &v);
  uint64_t failures = (v >> 40) + 1;
  uint64_t over = failures > PENALTY_FREE ? failures - PENALTY_FREE : 0;
  uint64_t delay = over >= 6 ? 60000 : 1000u << over;
  if (delay > 60000)
    delay = 60000;
  if (cl->penalty.count >= PENALTY_ENTRIES && !tr__u64map_get(&cl->penalty, k, NULL)) {
    tr_log(TR_LOG_WARN, "cluster: %u addresses failed handshakes; forgetting their penalties",
           PENALTY_ENTRIES);
    tr__u64map_free(&cl->penalty);
  }
  tr__u64map_put(&cl->penalty, k, (failures << 40) | (tr__cl_now_ms(cl) + delay));
}
