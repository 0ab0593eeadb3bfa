/* The msgpack frame codec (net/codec.c, TR_CODEC_FRAMES) on arbitrary bytes: every frame it
 * hands out is at most max bytes and exactly one valid msgpack value (msgpack-c's own
 * unpacker agrees), the same stream gives the same frames and the same verdict however it
 * is cut into reads, and what it buffers stays within max and a length prefix.
 *
 * Input: the split point (fuzz.h), one option byte (the codec's max: 0 for the default
 * 1 MiB, else 4 times it, 4..1020, so ELIMIT is reached by small inputs), then the stream. */
#include <msgpack.h>

#include "codec_feed.h"
#include "troupe/msg.h"

typedef struct {
  fuzz_digest_t d;
  size_t max;
} frames_t;

static void on_frame(void *arg, const tr_codec_state_t *c, const void *unit, size_t len) {
  (void)c;
  frames_t *f = arg;
  FUZZ_CHECK(len > 0 && len <= f->max, "a frame of %zu bytes, max %zu", len, f->max);
  tr_limits_t lim = {.max_size = f->max};
  FUZZ_CHECK(tr_msgpack_check(unit, len, &lim) == 0, "a frame that fails the check");
  /* msgpack-c, the reference, reads exactly one value out of it. */
  msgpack_zone zone;
  msgpack_zone_init(&zone, 1024);
  msgpack_object o;
  size_t off = 0;
  msgpack_unpack_return r = msgpack_unpack(unit, len, &off, &zone, &o);
  FUZZ_CHECK(r == MSGPACK_UNPACK_SUCCESS && off == len, "msgpack-c: %d, %zu of %zu bytes", (int)r,
             off, len);
  msgpack_zone_destroy(&zone);
  fuzz_digest_unit(&f->d, unit, len);
}

static frames_t run(const fuzz_input_t *in, const tr_codec_t *spec, feed_how_t how) {
  tr_codec_state_t c;
  tr__codec_init(&c, spec);
  frames_t f = {fuzz_digest(), c.max};
  int rc = feed_stream(&c, in, how, on_frame, &f);
  FUZZ_CHECK(rc == 0 || rc == TR_ELIMIT || rc == TR_EPROTO || rc == TR_ENOMEM,
             "frames codec error %d", rc);
  fuzz_digest_int(&f.d, rc);
  tr__codec_free(&c);
  return f;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  fuzz_input_t in = fuzz_input(data, size, 1);
  tr_codec_t spec = {.kind = TR_CODEC_FRAMES, .max = (size_t)in.opt[0] * 4};
  frames_t cut = run(&in, &spec, FEED_CUT);
  frames_t whole = run(&in, &spec, FEED_WHOLE);
  frames_t bytes = run(&in, &spec, FEED_BYTES);
  FUZZ_CHECK(cut.d.h == whole.d.h && cut.d.units == whole.d.units,
             "cut at %zu: %llu frames, whole: %llu", in.cut, (unsigned long long)cut.d.units,
             (unsigned long long)whole.d.units);
  FUZZ_CHECK(bytes.d.h == whole.d.h && bytes.d.units == whole.d.units,
             "a byte at a time: %llu frames, whole: %llu", (unsigned long long)bytes.d.units,
             (unsigned long long)whole.d.units);
  return 0;
}
