/* Pids inside payloads (pids.h). */
#include <string.h>

#include "mailbox/pack_internal.h"
#include "mailbox/pids.h"

/* The fixext header byte for `body` data bytes: 0xd7 for 8, 0xd8 for 16. */
static uint8_t fixext_byte(size_t body) { return body == 8 ? 0xd7 : 0xd8; }

static bool is_pid(const uint8_t *d, size_t pos, const tr__mp_head_t *h, size_t body) {
  return h->kind == TR__MP_EXT && h->head == 2 && h->body == body && d[pos] == fixext_byte(body) &&
         d[pos + 1] == TR_EXT_PID;
}

int tr__pids_count(const uint8_t *d, size_t len, size_t body) {
  int n = 0;
  tr__mp_head_t h;
  for (size_t pos = 0; pos < len; pos += h.head + h.body) {
    if (tr__mp_head(d, len, pos, &h) != 0)
      return TR_EPROTO;
    if (is_pid(d, pos, &h, body)) {
      if (n == INT32_MAX)
        return TR_EPROTO;
      n++;
    }
  }
  return n;
}

void tr__pids_copy(const uint8_t *d, size_t len, uint8_t *out, size_t from, size_t to,
                   void (*map)(void *arg, const uint8_t *old, uint8_t *out), void *arg) {
  size_t done = 0; /* d[0..done) is copied */
  tr__mp_head_t h;
  for (size_t pos = 0; pos < len; pos += h.head + h.body) {
    int rc = tr__mp_head(d, len, pos, &h);
    TR_ASSERT(rc == 0); /* tr__pids_count walked these bytes already */
    if (!is_pid(d, pos, &h, from))
      continue;
    memcpy(out, d + done, pos - done);
    out += pos - done;
    out[0] = fixext_byte(to);
    out[1] = TR_EXT_PID;
    map(arg, d + pos + 2, out + 2);
    out += 2 + to;
    done = pos + 2 + from;
  }
  memcpy(out, d + done, len - done);
}
