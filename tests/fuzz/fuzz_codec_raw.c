/* The raw codec (net/codec.c, TR_CODEC_RAW) on arbitrary bytes: it hands out the stream as
 * it came, in chunks of at most max bytes, whatever the reads were; it never buffers.
 *
 * Input: the split point (fuzz.h), one option byte (the codec's max: 0 for the default
 * 64 KiB, else 1..255), then the stream. */
#include "codec_feed.h"

typedef struct {
  fuzz_digest_t d;
  size_t max, bytes;
} raw_t;

static void on_chunk(void *arg, const tr_codec_state_t *c, const void *unit, size_t len) {
  raw_t *r = arg;
  FUZZ_CHECK(len > 0 && len <= r->max, "a chunk of %zu bytes, max %zu", len, r->max);
  FUZZ_CHECK(tr__codec_buffered(c) == 0, "raw holds %zu bytes", tr__codec_buffered(c));
  fuzz_digest_bytes(&r->d, unit, len); /* the bytes, not where the reads ended */
  r->bytes += len;
}

static raw_t run(const fuzz_input_t *in, const tr_codec_t *spec, feed_how_t how) {
  tr_codec_state_t c;
  tr__codec_init(&c, spec);
  raw_t r = {fuzz_digest(), c.max, 0};
  int rc = feed_stream(&c, in, how, on_chunk, &r);
  FUZZ_CHECK(rc == 0, "raw codec error %d", rc);
  tr__codec_free(&c);
  return r;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  fuzz_input_t in = fuzz_input(data, size, 1);
  tr_codec_t spec = {.kind = TR_CODEC_RAW, .max = in.opt[0]};
  raw_t cut = run(&in, &spec, FEED_CUT);
  raw_t whole = run(&in, &spec, FEED_WHOLE);
  raw_t bytes = run(&in, &spec, FEED_BYTES);
  FUZZ_CHECK(cut.bytes == in.len && whole.bytes == in.len && bytes.bytes == in.len,
             "%zu bytes in; out %zu (cut), %zu (whole), %zu (bytes)", in.len, cut.bytes,
             whole.bytes, bytes.bytes);
  FUZZ_CHECK(cut.d.h == whole.d.h && bytes.d.h == whole.d.h, "the bytes changed on the way");
  return 0;
}
