/* The msgpack format layer (mailbox/unpack.c, tr_unpack) on arbitrary bytes, with the
 * formats the library and the examples read untrusted payloads with: the cluster's frame
 * headers and handshake, the chat's requests, and scalars, maps and nesting. No input is
 * trusted, so for every format:
 *   - the answer is 0 or a decoding error (TR_EPROTO, TR_ETYPE, TR_ELIMIT), never TR_EINVAL
 *     (the formats are valid);
 *   - every str and bin it returns lies inside the payload;
 *   - a format of exactly one value that reads the bytes means they are one valid value:
 *     tr_msgpack_check agrees under the same limits;
 *   - what it read packs again (tr_pack, same format) into bytes that read back the same.
 *
 * Input: one option byte (bit 0 set: tight limits from the other bits, so TR_ELIMIT is
 * reached; else the defaults), then the payload. */
#include <math.h>
#include <string.h>

#include "fuzz.h"
#include "troupe/error.h"
#include "troupe/msg.h"

typedef struct {
  const uint8_t *d;
  size_t len;
  const tr_limits_t *lim;
} payload_t;

static void check_rc(const char *fmt, int rc) {
  FUZZ_CHECK(rc == 0 || rc == TR_EPROTO || rc == TR_ETYPE || rc == TR_ELIMIT,
             "tr_unpack(\"%s\") returned %d", fmt, rc);
}

static void inside(const payload_t *p, const void *s, size_t n, const char *fmt) {
  const uint8_t *b = s;
  FUZZ_CHECK(b >= p->d && n <= p->len && b - p->d <= (ptrdiff_t)(p->len - n),
             "tr_unpack(\"%s\"): %zu bytes at offset %td of a %zu-byte payload", fmt, n, b - p->d,
             p->len);
}

/* A one-value format read the bytes: they are exactly one valid value. */
static void one_value(const payload_t *p, const char *fmt) {
  int rc = tr_msgpack_check(p->d, p->len, p->lim);
  FUZZ_CHECK(rc == 0, "tr_unpack(\"%s\") read what tr_msgpack_check refuses (%d)", fmt, rc);
}

/* A string 's' can pack again: no NUL inside (tr_pack takes C strings). */
static bool c_string(const char *s, size_t n, char *buf, size_t cap) {
  if (n >= cap || memchr(s, '\0', n))
    return false;
  memcpy(buf, s, n);
  buf[n] = '\0';
  return true;
}

static bool same_double(double a, double b) { return memcmp(&a, &b, sizeof a) == 0; }

/* HELLO's header (cluster/handshake.c), read, packed again and read back. */
static void hello(const payload_t *p) {
  static const char fmt[] = "[uusuxs]";
  uint64_t vmin, vmax, inc;
  const char *name, *listen;
  const void *nonce;
  size_t nlen, llen, xlen;
  int rc = tr_unpack(p->d, p->len, p->lim, fmt, &vmin, &vmax, &name, &nlen, &inc, &nonce, &xlen,
                     &listen, &llen);
  check_rc(fmt, rc);
  if (rc != 0)
    return;
  inside(p, name, nlen, fmt);
  inside(p, nonce, xlen, fmt);
  inside(p, listen, llen, fmt);
  one_value(p, fmt);
  char n1[256], l1[256];
  if (!c_string(name, nlen, n1, sizeof n1) || !c_string(listen, llen, l1, sizeof l1))
    return;
  void *out;
  size_t olen;
  FUZZ_CHECK(tr_pack(&out, &olen, fmt, vmin, vmax, n1, inc, nonce, xlen, l1) == 0, "repack");
  uint64_t a, b, c;
  const char *n2, *l2;
  const void *x2;
  size_t n2len, l2len, x2len;
  rc = tr_unpack(out, olen, NULL, fmt, &a, &b, &n2, &n2len, &c, &x2, &x2len, &l2, &l2len);
  FUZZ_CHECK(rc == 0 && a == vmin && b == vmax && c == inc && n2len == nlen &&
                 memcmp(n2, name, nlen) == 0 && x2len == xlen && memcmp(x2, nonce, xlen) == 0 &&
                 l2len == llen && memcmp(l2, listen, llen) == 0,
             "\"%s\" does not read back what it packed (%d)", fmt, rc);
  free(out);
}

/* EXIT's header (cluster/inbound.c): signed and unsigned integers and a reason. */
static void exit_header(const payload_t *p) {
  static const char fmt[] = "[uuuuiis]";
  uint64_t to, from, aux, ref;
  int64_t rk, code;
  const char *text;
  size_t n;
  int rc = tr_unpack(p->d, p->len, p->lim, fmt, &to, &from, &aux, &ref, &rk, &code, &text, &n);
  check_rc(fmt, rc);
  if (rc != 0)
    return;
  inside(p, text, n, fmt);
  one_value(p, fmt);
  char t1[512];
  if (!c_string(text, n, t1, sizeof t1))
    return;
  uint8_t buf[1024];
  size_t olen;
  FUZZ_CHECK(tr_pack_into(buf, sizeof buf, &olen, fmt, to, from, aux, ref, rk, code, t1) == 0,
             "repack");
  uint64_t a, b, c, e;
  int64_t f, g;
  const char *t2;
  size_t n2;
  rc = tr_unpack(buf, olen, NULL, fmt, &a, &b, &c, &e, &f, &g, &t2, &n2);
  FUZZ_CHECK(rc == 0 && a == to && b == from && c == aux && e == ref && f == rk && g == code &&
                 n2 == n && memcmp(t2, text, n) == 0,
             "\"%s\" does not read back what it packed (%d)", fmt, rc);
}

/* A map with every scalar kind, and nesting with a pid and nil. */
static void shapes(const payload_t *p) {
  static const char map_fmt[] = "{sdsbsn}";
  const char *k1, *k2, *k3;
  size_t n1, n2, n3;
  double dv;
  bool bv;
  int rc = tr_unpack(p->d, p->len, p->lim, map_fmt, &k1, &n1, &dv, &k2, &n2, &bv, &k3, &n3);
  check_rc(map_fmt, rc);
  if (rc == 0) {
    inside(p, k1, n1, map_fmt);
    inside(p, k2, n2, map_fmt);
    inside(p, k3, n3, map_fmt);
    one_value(p, map_fmt);
    char a[64], b[64], c[64];
    if (c_string(k1, n1, a, sizeof a) && c_string(k2, n2, b, sizeof b) &&
        c_string(k3, n3, c, sizeof c)) {
      uint8_t buf[256];
      size_t olen;
      FUZZ_CHECK(tr_pack_into(buf, sizeof buf, &olen, map_fmt, a, dv, b, (int)bv, c) == 0,
                 "repack");
      double d2;
      bool b2;
      const char *x, *y, *z;
      size_t xn, yn, zn;
      rc = tr_unpack(buf, olen, NULL, map_fmt, &x, &xn, &d2, &y, &yn, &b2, &z, &zn);
      FUZZ_CHECK(rc == 0 && same_double(d2, dv) && b2 == bv && xn == n1 && yn == n2 && zn == n3,
                 "\"%s\" does not read back what it packed (%d)", map_fmt, rc);
    }
  }
  static const char nest_fmt[] = "[[ip]{sx}n[[[u]]]]";
  int64_t i;
  tr_pid_t pid;
  const char *s;
  const void *x;
  size_t sn, xn;
  uint64_t u;
  rc = tr_unpack(p->d, p->len, p->lim, nest_fmt, &i, &pid, &s, &sn, &x, &xn, &u);
  check_rc(nest_fmt, rc);
  if (rc == 0) {
    inside(p, s, sn, nest_fmt);
    inside(p, x, xn, nest_fmt);
    one_value(p, nest_fmt);
  }
}

/* The other headers the cluster and the chat read, and bare scalars: only the general
 * properties. */
static void others(const payload_t *p) {
  uint64_t u1, u2, u3;
  int64_t i1;
  const char *s1, *s2;
  const void *x1;
  size_t n1, n2, n3;
  double d;
  bool b;
  tr_pid_t pid;
  int rc;
#define ONE(fmt, ...)                                                                              \
  do {                                                                                             \
    rc = tr_unpack(p->d, p->len, p->lim, fmt, __VA_ARGS__);                                        \
    check_rc(fmt, rc);                                                                             \
    if (rc == 0)                                                                                   \
      one_value(p, fmt);                                                                           \
  } while (0)
  ONE("[usuxs]", &u1, &s1, &n1, &u2, &x1, &n2, &s2, &n3);
  if (rc == 0) {
    inside(p, s1, n1, "[usuxs]");
    inside(p, x1, n2, "[usuxs]");
    inside(p, s2, n3, "[usuxs]");
  }
  ONE("[x]", &x1, &n1);
  if (rc == 0)
    inside(p, x1, n1, "[x]");
  ONE("[s]", &s1, &n1);
  ONE("[us]", &u1, &s1, &n1);
  ONE("[suu]", &s1, &n1, &u1, &u2);
  ONE("[sxu]", &s1, &n1, &x1, &n2, &u1);
  ONE("[sxuu]", &s1, &n1, &x1, &n2, &u1, &u2);
  ONE("[uu]", &u1, &u2);
  ONE("[ssu]", &s1, &n1, &s2, &n2, &u3);
  ONE("[su]", &s1, &n1, &u1);
  ONE("i", &i1);
  ONE("u", &u1);
  ONE("d", &d);
  ONE("b", &b);
  ONE("n", NULL);
  ONE("s", &s1, &n1);
  if (rc == 0)
    inside(p, s1, n1, "s");
  ONE("x", &x1, &n1);
  ONE("p", &pid);
  ONE("[]", NULL);
  ONE("{}", NULL);
#undef ONE
  /* Several values in a row: the payload is their sequence. */
  rc = tr_unpack(p->d, p->len, p->lim, "i s u", &i1, &s1, &n1, &u1);
  check_rc("i s u", rc);
  if (rc == 0)
    inside(p, s1, n1, "i s u");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size == 0)
    return 0;
  uint8_t opt = data[0];
  tr_limits_t lim = {.max_size = 0, .max_depth = 1u + (opt >> 1 & 7u), .max_count = opt >> 4};
  payload_t p = {data + 1, size - 1, opt & 1 ? &lim : NULL};
  hello(&p);
  exit_header(&p);
  shapes(&p);
  others(&p);
  return 0;
}
