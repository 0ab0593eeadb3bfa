/* The bounds check of untrusted msgpack (mailbox/check.c: tr_msgpack_check and
 * tr_msgpack_parse) and the walk over the pids in a payload (mailbox/pids.c, which the
 * cluster runs on every message that crosses a link), on arbitrary bytes.
 *
 * tr_msgpack_check is compared with a reference written here from the msgpack spec (a
 * recursive walk that trusts no count: each element takes at least a byte, so a lie runs
 * out of input): they must agree on whether the bytes are exactly one value within the
 * limits. When they are, msgpack-c's own unpacker (through tr_msgpack_parse) must read
 * them too; msgpack-c is only run then, since on a lying count it would allocate first.
 *
 * The pid walk: tr__pids_count is -1 exactly when the bytes are not a sequence of whole
 * headers, and rewriting the 8-byte pids to 16 bytes and back gives the payload again.
 *
 * Input: one option byte (bit 0 set: tight limits from the other bits), then the bytes. */
#include <string.h>

#include <msgpack.h>
#include <msgpack/unpack_define.h> /* MSGPACK_EMBED_STACK_SIZE, msgpack-c's depth */

#include "fuzz.h"
#include "mailbox/pids.h"
#include "troupe/error.h"
#include "troupe/msg.h"

/* ---- the reference ---- */

static uint64_t be(const uint8_t *p, size_t n) {
  uint64_t v = 0;
  for (size_t i = 0; i < n; i++)
    v = v << 8 | p[i];
  return v;
}

typedef struct {
  const uint8_t *d;
  size_t len;
  uint32_t max_depth, max_count;
  bool limit; /* a limit was broken */
} ref_t;

/* The end of the value at pos, or SIZE_MAX when it is not one; `depth` containers are open
 * around it. */
static size_t ref_value(ref_t *r, size_t pos, uint32_t depth) {
  if (pos >= r->len)
    return SIZE_MAX;
  uint8_t t = r->d[pos];
  size_t avail = r->len - pos - 1, width = 0, body = 0;
  uint64_t count = 0;
  bool container = false, map = false;
  if (t <= 0x7f || t >= 0xe0 || t == 0xc0 || t == 0xc2 || t == 0xc3)
    return pos + 1;
  if (t >= 0x80 && t <= 0x8f)
    container = map = true, count = t & 0x0f;
  else if (t >= 0x90 && t <= 0x9f)
    container = true, count = t & 0x0f;
  else if (t >= 0xa0 && t <= 0xbf)
    body = t & 0x1f;
  else if (t == 0xc4 || t == 0xc5 || t == 0xc6 || t == 0xd9 || t == 0xda || t == 0xdb) {
    width = t == 0xc4 || t == 0xd9 ? 1 : t == 0xc5 || t == 0xda ? 2 : 4;
    if (avail < width)
      return SIZE_MAX;
    body = (size_t)be(r->d + pos + 1, width);
  } else if (t == 0xc7 || t == 0xc8 || t == 0xc9) { /* ext 8/16/32: length, type, data */
    width = t == 0xc7 ? 1 : t == 0xc8 ? 2 : 4;
    if (avail < width + 1)
      return SIZE_MAX;
    body = (size_t)be(r->d + pos + 1, width) + 1;
  } else if (t == 0xca || t == 0xcb || (t >= 0xcc && t <= 0xd3)) {
    body = t == 0xca ? 4 : t == 0xcb ? 8 : (size_t)1 << ((t - 0xcc) & 3);
  } else if (t >= 0xd4 && t <= 0xd8) { /* fixext: type and 1..16 bytes */
    body = 1 + ((size_t)1 << (t - 0xd4));
  } else if (t >= 0xdc && t <= 0xdf) {
    width = t == 0xdc || t == 0xde ? 2 : 4;
    if (avail < width)
      return SIZE_MAX;
    container = true;
    map = t >= 0xde;
    count = be(r->d + pos + 1, width);
  } else {
    return SIZE_MAX; /* 0xc1 */
  }
  if (!container)
    return body <= avail - width ? pos + 1 + width + body : SIZE_MAX;
  if (depth >= r->max_depth || count > r->max_count)
    r->limit = true;
  if (depth >= 64) /* deeper than any limit here: refused, and the recursion stays short */
    return SIZE_MAX;
  size_t at = pos + 1 + width;
  for (uint64_t i = 0; i < (map ? 2 * count : count); i++)
    if ((at = ref_value(r, at, depth + 1)) == SIZE_MAX)
      return SIZE_MAX;
  return at;
}

/* ---- the pid walk ---- */

/* 8 -> 16: the id after 8 zero bytes; 16 -> 8: the last 8 bytes. */
static void widen(void *arg, const uint8_t *old, uint8_t *out) {
  (void)arg;
  memset(out, 0, 8);
  memcpy(out + 8, old, 8);
}

static void narrow(void *arg, const uint8_t *old, uint8_t *out) {
  (void)arg;
  memcpy(out, old + 8, 8);
}

static void pids(const uint8_t *d, size_t len) {
  int n8 = tr__pids_count(d, len, 8), n16 = tr__pids_count(d, len, 16);
  FUZZ_CHECK((n8 < 0) == (n16 < 0), "the walk depends on the pid size: %d, %d", n8, n16);
  if (n8 <= 0 || n16 != 0)
    return;
  size_t wlen = len + (size_t)n8 * 8;
  uint8_t *wide = malloc(wlen), *back = malloc(len);
  FUZZ_CHECK(wide && back, "out of memory");
  tr__pids_copy(d, len, wide, 8, 16, widen, NULL);
  FUZZ_CHECK(tr__pids_count(wide, wlen, 16) == n8 && tr__pids_count(wide, wlen, 8) == 0,
             "the widened payload does not hold %d wide pids", n8);
  tr__pids_copy(wide, wlen, back, 16, 8, narrow, NULL);
  FUZZ_CHECK(memcmp(back, d, len) == 0, "8 -> 16 -> 8 changed the payload");
  free(wide);
  free(back);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size == 0)
    return 0;
  uint8_t opt = data[0];
  const uint8_t *d = data + 1;
  size_t len = size - 1;
  tr_limits_t lim = {0};
  if (opt & 1) {
    lim.max_depth = 1u + (opt >> 1 & 7u);
    lim.max_count = 1u + (opt >> 4);
  }
  int rc = tr_msgpack_check(d, len, &lim);
  FUZZ_CHECK(rc == 0 || rc == TR_EPROTO || rc == TR_ELIMIT, "tr_msgpack_check returned %d", rc);

  ref_t r = {d, len, lim.max_depth ? lim.max_depth : TR_LIMIT_DEFAULT_DEPTH,
             lim.max_count ? lim.max_count : TR_LIMIT_DEFAULT_COUNT, false};
  size_t end = ref_value(&r, 0, 0);
  bool valid = end == len; /* exactly one value */
  FUZZ_CHECK((rc == 0) == (valid && !r.limit), "check %d, reference: %s%s", rc,
             valid ? "one value" : "not one value", r.limit ? " over a limit" : "");
  if (rc == TR_ELIMIT)
    FUZZ_CHECK(r.limit, "check says ELIMIT, the reference sees no limit broken");

  msgpack_zone zone;
  msgpack_zone_init(&zone, 2048);
  msgpack_object o;
  int prc = tr_msgpack_parse(d, len, &lim, &zone, &o);
  FUZZ_CHECK(lim.max_depth > MSGPACK_EMBED_STACK_SIZE || prc == rc,
             "tr_msgpack_parse %d, tr_msgpack_check %d", prc, rc);
  if (rc == 0) {
    /* msgpack-c reads the bytes as one value too. */
    msgpack_object o2;
    size_t off = 0;
    msgpack_unpack_return u = msgpack_unpack((const char *)d, len, &off, &zone, &o2);
    FUZZ_CHECK(u == MSGPACK_UNPACK_SUCCESS && off == len, "msgpack-c: %d at %zu of %zu", (int)u,
               off, len);
  }
  msgpack_zone_destroy(&zone);
  pids(d, len);
  return 0;
}
