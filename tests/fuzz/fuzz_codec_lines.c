/* The lines codec (net/codec.c, TR_CODEC_LINES) on arbitrary bytes: every line it hands out
 * is at most max bytes and holds no "\n", the same stream gives the same lines and the same
 * verdict however it is cut into reads, and nothing it buffers outgrows max + 1.
 *
 * Input: the split point (fuzz.h), one option byte (the codec's max: 0 for the default
 * 8 KiB, else 1..255, so the limits are reached by small inputs), then the stream. */
#include <string.h>

#include "codec_feed.h"

typedef struct {
  fuzz_digest_t d;
  size_t max;
} lines_t;

static void on_line(void *arg, const tr_codec_state_t *c, const void *unit, size_t len) {
  (void)c;
  lines_t *l = arg;
  FUZZ_CHECK(len <= l->max, "a line of %zu bytes, max %zu", len, l->max);
  FUZZ_CHECK(len == 0 || memchr(unit, '\n', len) == NULL, "a line holds a newline");
  fuzz_digest_unit(&l->d, unit, len);
}

static lines_t run(const fuzz_input_t *in, const tr_codec_t *spec, feed_how_t how) {
  tr_codec_state_t c;
  tr__codec_init(&c, spec);
  lines_t l = {fuzz_digest(), c.max};
  int rc = feed_stream(&c, in, how, on_line, &l);
  FUZZ_CHECK(rc == 0 || rc == TR_ELIMIT || rc == TR_ENOMEM, "lines codec error %d", rc);
  fuzz_digest_int(&l.d, rc);
  tr__codec_free(&c);
  return l;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  fuzz_input_t in = fuzz_input(data, size, 1);
  tr_codec_t spec = {.kind = TR_CODEC_LINES, .max = in.opt[0]};
  lines_t cut = run(&in, &spec, FEED_CUT);
  lines_t whole = run(&in, &spec, FEED_WHOLE);
  lines_t bytes = run(&in, &spec, FEED_BYTES);
  FUZZ_CHECK(cut.d.h == whole.d.h && cut.d.units == whole.d.units,
             "cut at %zu: %llu lines, whole: %llu", in.cut, (unsigned long long)cut.d.units,
             (unsigned long long)whole.d.units);
  FUZZ_CHECK(bytes.d.h == whole.d.h && bytes.d.units == whole.d.units,
             "a byte at a time: %llu lines, whole: %llu", (unsigned long long)bytes.d.units,
             (unsigned long long)whole.d.units);
  return 0;
}
