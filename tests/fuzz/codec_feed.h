/* Driving an input codec (net/codec.h) as a connection does: each read is handed to
 * tr__codec_next until it is used up, every unit goes to a callback, the first error ends
 * the stream, and the end of the input is tr__codec_end. The same body is fed in three
 * ways (at the fuzzer's cut, whole, a byte at a time), which must agree: a codec whose
 * output depends on where the reads happened to end is a bug even when it does not crash.
 *
 * Checked on every call, whatever the bytes: a 0 return used the whole read, a call makes
 * progress (no livelock), a unit is at most the codec's max, and what the codec holds
 * between reads stays within the bound codec.h promises (max + 1 bytes, and a frame's
 * length prefix). */
#ifndef TR_TESTS_FUZZ_CODEC_FEED_H
#define TR_TESTS_FUZZ_CODEC_FEED_H

#include "fuzz.h"
#include "net/codec.h"
#include "net/resp.h"
#include "troupe/error.h"

typedef enum { FEED_CUT, FEED_WHOLE, FEED_BYTES } feed_how_t;

/* Called with each unit; `arg` is the caller's. */
typedef void (*feed_unit_fn)(void *arg, const tr_codec_state_t *c, const void *unit, size_t len);

/* The bytes a codec of this kind may hold between calls. */
static inline size_t feed_bound(const tr_codec_state_t *c) {
  switch (c->kind) {
  case TR_CODEC_LINES:
    return c->max + 1;
  case TR_CODEC_FRAMES:
    return c->max + TR_FRAME_HEADER;
  case TR_CODEC_RESP:
    /* A command being gathered: its lines and bulks, within the command's bound. */
    return TR_RESP_COMMAND_MAX + TR_RESP_INLINE_MAX;
  default:
    return 0; /* raw chunks are never gathered */
  }
}

/* Feed p[0..n) as one read, calling the codec until it returns 0, as net/stream.c does.
 * Returns 0, or the codec's error (the stream is over). */
static inline int feed_read(tr_codec_state_t *c, const uint8_t *p, size_t n, feed_unit_fn fn,
                            void *arg) {
  size_t pos = 0, calls = 0;
  for (;;) {
    size_t used = SIZE_MAX, olen = 0;
    const void *out = NULL;
    int rc = tr__codec_next(c, p + pos, n - pos, &used, &out, &olen);
    FUZZ_CHECK(++calls <= 2 * n + 8, "no progress after %zu calls on a read of %zu", calls, n);
    if (rc < 0)
      return rc;
    FUZZ_CHECK(used <= n - pos, "used %zu of %zu", used, n - pos);
    FUZZ_CHECK(tr__codec_buffered(c) <= feed_bound(c), "holds %zu, bound %zu",
               tr__codec_buffered(c), feed_bound(c));
    pos += used;
    if (rc == 0) {
      FUZZ_CHECK(pos == n, "returned 0 with %zu of %zu bytes left", n - pos, n);
      return 0;
    }
    FUZZ_CHECK(rc == 1, "returned %d", rc);
    FUZZ_CHECK(out != NULL || olen == 0, "a unit of %zu bytes at NULL", olen);
    fn(arg, c, out, olen);
  }
}

/* The whole stream, fed as `how` says; the error that ended it or 0. */
static inline int feed_stream(tr_codec_state_t *c, const fuzz_input_t *in, feed_how_t how,
                              feed_unit_fn fn, void *arg) {
  int rc = 0;
  if (how == FEED_CUT) {
    rc = feed_read(c, in->body, in->cut, fn, arg);
    if (rc == 0)
      rc = feed_read(c, in->body + in->cut, in->len - in->cut, fn, arg);
  } else if (how == FEED_WHOLE) {
    rc = feed_read(c, in->body, in->len, fn, arg);
  } else {
    for (size_t i = 0; i < in->len && rc == 0; i++)
      rc = feed_read(c, in->body + i, 1, fn, arg);
  }
  if (rc == 0) {
    const void *out = NULL;
    size_t olen = 0;
    int end = tr__codec_end(c, &out, &olen);
    FUZZ_CHECK(end == 0 || end == 1, "tr__codec_end returned %d", end);
    if (end == 1)
      fn(arg, c, out, olen);
  }
  return rc;
}

#endif
