/* The cluster's frame decoding (cluster/wire.c and the pid walk of mailbox/pids.c) on a byte
 * stream as a link reads it: length-prefixed frames gathered in a tr_cbuf_t across reads
 * (as cluster/conn.c does), each one's header read with the exact format its kind has in
 * cluster/inbound.c and cluster/handshake.c, and a SEND's header pids and payload pids
 * turned into this node's form.
 *
 * Checked: a header that reads is inside its frame and packs again into a frame that reads
 * back the same; header pids come back as none, this node's or the sender's; a payload's
 * wire pids all become node pids (and no byte count goes wrong: ASan sees the buffers at
 * their exact size), and those go out to the wire and back unchanged when each names an
 * actor of a known node. The node table is a few entries made here, as tests/cluster/test_wire.c
 * makes it.
 *
 * Input: the split point (fuzz.h), then the stream. */
#include <string.h>

#include "cluster/cluster.h"
#include "fuzz.h"
#include "mailbox/pids.h"

#define SHIFT (TR_PID_SLOT_BITS + TR_PID_GEN_BITS)
#define LOCAL ((UINT64_C(1) << SHIFT) - 1)
/* The index of the node the frames come from. */
#define FROM_NODE 2u

static tr_cluster_t *cl;

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc;
  (void)argv;
  static tr_peer_t peers[3];
  cl = calloc(1, sizeof *cl);
  FUZZ_CHECK(cl != NULL, "out of memory");
  cl->inc = 1001;
  cl->nodes_used = 3;
  for (uint32_t i = 1; i <= 3; i++) {
    atomic_store(&cl->nodes[i].peer, &peers[i - 1]);
    atomic_store(&cl->nodes[i].inc, 1000 + 1001 * (uint64_t)i);
  }
  return 0;
}

static bool no_nul(const char *s, size_t n) { return memchr(s, '\0', n) == NULL; }

static char *copy_str(const char *s, size_t n) {
  char *d = malloc(n + 1);
  FUZZ_CHECK(d != NULL, "out of memory");
  memcpy(d, s, n);
  d[n] = '\0';
  return d;
}

static void header_pid(uint64_t w) {
  tr_pid_t p = tr__pid_from_wire(w, FROM_NODE);
  uint32_t n = tr__pid_node(p);
  FUZZ_CHECK(tr_pid_is_none(p) || n == 0 || n == FROM_NODE, "a header pid on node %u", n);
}

/* Copies a pid, noting one that names no actor though it names a node: a local part of 0
 * on another node (a link's pseudo pid, tr__link_pid), which goes out as none. */
static void note_pseudo(void *arg, const uint8_t *old, uint8_t *out) {
  uint64_t id = tr__get_be64(old);
  if (id != 0 && (id & LOCAL) == 0)
    *(bool *)arg = true;
  memcpy(out, old, 8);
}

/* A payload's pids: wire -> node -> wire -> node gives the node form again, for pids that
 * name actors. */
static void payload(const uint8_t *d, size_t len) {
  size_t llen;
  int n = tr__payload_in_size(d, len, &llen);
  FUZZ_CHECK(n >= 0, "payload_in_size %d", n);
  if (n == 0) {
    FUZZ_CHECK(llen == len, "no pids, but %zu bytes become %zu", len, llen);
    return;
  }
  FUZZ_CHECK(llen == len - (size_t)n * 8, "%d pids: %zu bytes become %zu", n, len, llen);
  int narrow0 = tr__pids_count(d, len, 8);
  uint8_t *node = malloc(llen);
  FUZZ_CHECK(node != NULL, "out of memory");
  tr_pidmap_t pm = {.cl = cl, .from_node = FROM_NODE};
  tr__payload_in(&pm, d, len, node);
  FUZZ_CHECK(tr__pids_count(node, llen, 16) == 0, "wire pids left after payload_in");
  FUZZ_CHECK(tr__pids_count(node, llen, 8) == narrow0 + n, "pids lost in payload_in");
  size_t wlen;
  int m = tr__payload_out_size(node, llen, &wlen);
  FUZZ_CHECK(m == narrow0 + n && wlen == llen + (size_t)m * 8, "payload_out_size %d", m);
  uint8_t *wire = malloc(wlen), *again = malloc(llen);
  FUZZ_CHECK(wire && again, "out of memory");
  tr_pidmap_t out = {.cl = cl};
  tr__payload_out(&out, node, llen, wire);
  size_t alen;
  FUZZ_CHECK(tr__payload_in_size(wire, wlen, &alen) == m && alen == llen, "the sizes differ");
  tr_pidmap_t back = {.cl = cl, .from_node = FROM_NODE};
  bool pseudo = false;
  tr__pids_copy(node, llen, again, 8, 8, note_pseudo, &pseudo);
  tr__payload_in(&back, wire, wlen, again);
  if (!out.bad && !pseudo)
    FUZZ_CHECK(!back.bad && memcmp(again, node, llen) == 0, "node -> wire -> node changed pids");
  free(node);
  free(wire);
  free(again);
}

static void frame(uint8_t kind, const uint8_t *body, size_t len) {
  size_t used = SIZE_MAX;
  uint64_t u[4];
  int64_t i[2];
  const char *s[2];
  const void *x;
  size_t n[3];
  int rc;
  switch (kind) {
  case TR_F_SEND:
    if (len < TR_SEND_HEAD)
      return;
    header_pid(tr__get_be64(body));
    header_pid(tr__get_be64(body + 8));
    if (body[28] & TR_SEND_PIDS)
      payload(body + TR_SEND_HEAD, len - TR_SEND_HEAD);
    return;
  case TR_F_HELLO:
    rc = tr__frame_get(body, len, &used, "[uusuxs]", &u[0], &u[1], &s[0], &n[0], &u[2], &x, &n[1],
                       &s[1], &n[2]);
    break;
  case TR_F_CHALLENGE:
    rc = tr__frame_get(body, len, &used, "[usuxs]", &u[0], &s[0], &n[0], &u[1], &x, &n[1], &s[1],
                       &n[2]);
    break;
  case TR_F_AUTH:
  case TR_F_AUTH_OK:
    rc = tr__frame_get(body, len, &used, "[x]", &x, &n[0]);
    if (rc == 0) { /* packed again, it reads back the same */
      tr_cbuf_t b = {0};
      FUZZ_CHECK(tr__frame_put(&b, kind, NULL, 0, "[x]", x, n[0]) == 0, "put [x]");
      const void *x2;
      size_t n2, used2;
      rc = tr__frame_get(b.p + 5, b.len - 5, &used2, "[x]", &x2, &n2);
      FUZZ_CHECK(rc == 0 && n2 == n[0] && memcmp(x2, x, n2) == 0, "[x] does not read back");
      free(b.p);
    }
    break;
  case TR_F_REFUSE:
    rc = tr__frame_get(body, len, &used, "[s]", &s[0], &n[0]);
    break;
  case TR_F_NAME_SEND:
    rc = tr__frame_get(body, len, &used, "[suu]", &s[0], &n[0], &u[0], &u[1]);
    if (rc == 0)
      header_pid(u[0]);
    break;
  case TR_F_TAG_DEF:
    rc = tr__frame_get(body, len, &used, "[us]", &u[0], &s[0], &n[0]);
    if (rc == 0 && no_nul(s[0], n[0])) {
      char *t = copy_str(s[0], n[0]);
      tr_cbuf_t b = {0};
      FUZZ_CHECK(tr__frame_put(&b, kind, NULL, 0, "[us]", u[0], t) == 0, "put [us]");
      uint64_t id;
      const char *t2;
      size_t n2, used2;
      rc = tr__frame_get(b.p + 5, b.len - 5, &used2, "[us]", &id, &t2, &n2);
      FUZZ_CHECK(rc == 0 && id == u[0] && n2 == n[0] && memcmp(t2, t, n2) == 0,
                 "[us] does not read back");
      free(b.p);
      free(t);
    }
    break;
  case TR_F_LINK:
  case TR_F_UNLINK:
  case TR_F_EXIT:
  case TR_F_MONITOR:
  case TR_F_DEMONITOR:
    rc = tr__frame_get(body, len, &used, "[uuuuiis]", &u[0], &u[1], &u[2], &u[3], &i[0], &i[1],
                       &s[0], &n[0]);
    if (rc == 0) {
      header_pid(u[1]);
      if (no_nul(s[0], n[0])) {
        char *t = copy_str(s[0], n[0]);
        tr_cbuf_t b = {0};
        FUZZ_CHECK(tr__frame_put(&b, kind, NULL, 0, "[uuuuiis]", u[0], u[1], u[2], u[3], i[0], i[1],
                                 t) == 0 ||
                       n[0] > 900,
                   "put [uuuuiis]");
        uint64_t v[4];
        int64_t j[2];
        const char *t2;
        size_t n2, used2;
        if (b.p) {
          rc = tr__frame_get(b.p + 5, b.len - 5, &used2, "[uuuuiis]", &v[0], &v[1], &v[2], &v[3],
                             &j[0], &j[1], &t2, &n2);
          FUZZ_CHECK(rc == 0 && memcmp(v, u, sizeof v) == 0 && j[0] == i[0] && j[1] == i[1] &&
                         n2 == n[0] && memcmp(t2, t, n2) == 0,
                     "[uuuuiis] does not read back");
        }
        free(b.p);
        free(t);
      }
    }
    break;
  case TR_F_G_JOIN:
  case TR_F_G_LEAVE:
    rc = tr__frame_get(body, len, &used, "[sxu]", &s[0], &n[0], &x, &n[1], &u[0]);
    if (rc == 0)
      header_pid(u[0]);
    break;
  case TR_F_G_SEND:
    rc = tr__frame_get(body, len, &used, "[sxuu]", &s[0], &n[0], &x, &n[1], &u[0], &u[1]);
    if (rc == 0)
      header_pid(u[0]);
    break;
  case TR_F_PING:
  case TR_F_PONG:
    rc = tr__frame_get(body, len, &used, "[uu]", &u[0], &u[1]);
    break;
  case TR_F_PEERS:
    rc = tr__frame_get(body, len, &used, "[ssu]", &s[0], &n[0], &s[1], &n[1], &u[0]);
    if (rc == 0) {
      tr__node_name_ok(s[0], n[0]);
      char host[64];
      uint16_t port;
      tr__split_host_port(s[1], n[1], host, sizeof host, &port);
    }
    break;
  default:
    return;
  }
  FUZZ_CHECK(rc == 0 || rc == TR_EPROTO || rc == TR_ETYPE || rc == TR_ELIMIT, "frame kind %u: %d",
             kind, rc);
  if (rc == 0)
    FUZZ_CHECK(used >= 2 && used <= len, "kind %u: the header took %zu of %zu bytes", kind, used,
               len);
}

/* Read n bytes as conn.c's on_alloc and on_read do, then take the whole frames. False: a
 * frame length the link refuses (it closes). */
static bool take(tr_cbuf_t *in, const uint8_t *p, size_t n) {
  if (n == 0)
    return true; /* libuv reports no empty read */
  FUZZ_CHECK(tr__cbuf_reserve(in, n) == 0, "out of memory");
  memcpy(in->p + in->len, p, n);
  in->len += n;
  while (tr__cbuf_pending(in) >= 4) {
    const uint8_t *f = in->p + in->off;
    size_t flen = tr__get_be32(f);
    if (flen == 0 || flen > TR_FRAME_MAX)
      return false;
    if (tr__cbuf_pending(in) < 4 + flen)
      break;
    in->off += 4 + flen;
    frame(f[4], f + 5, flen - 1);
  }
  if (tr__cbuf_pending(in) == 0)
    tr__cbuf_reset(in);
  return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  fuzz_input_t in = fuzz_input(data, size, 0);
  tr_cbuf_t b = {0};
  if (take(&b, in.body, in.cut))
    take(&b, in.body + in.cut, in.len - in.cut);
  free(b.p);
  return 0;
}
