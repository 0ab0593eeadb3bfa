/* The RESP codec (net/resp.c, TR_CODEC_RESP: RESP2 multibulk and inline commands) and
 * troupe/resp.h's reader over what it hands out, on arbitrary bytes.
 *
 * Checked: every unit reads back with tr_resp_read as whole commands (never TR_ETYPE, which
 * the reader keeps for bytes the codec does not make), each argument within the bulk max (an
 * inline one within the inline line) and each command within the argument bound; a protocol
 * error comes once, as Redis's "-ERR Protocol error: ..." line, and is the last unit; and
 * the commands, their arguments and the error are the same however the stream is cut into
 * reads (at the fuzzer's cut, whole, a byte at a time), since a client's packet boundaries
 * must not change what it asked.
 *
 * Input: the split point (fuzz.h), one option byte (the longest bulk: 0 for the default
 * 8 MiB, else 1..255, so "invalid bulk length" is reached by small inputs), then the
 * stream. */
#include <string.h>

#include "codec_feed.h"
#include "troupe/resp.h"

typedef struct {
  fuzz_digest_t d;
  size_t max;
  bool failed; /* the protocol error came */
} resp_t;

static void on_unit(void *arg, const tr_codec_state_t *c, const void *unit, size_t len) {
  (void)c;
  resp_t *r = arg;
  FUZZ_CHECK(!r->failed, "a unit after the protocol error");
  FUZZ_CHECK(len > 0, "an empty unit");
  tr_resp_reader_t rd;
  tr_resp_reader_init(&rd, unit, len);
  tr_resp_cmd_t cmd;
  int rc;
  while ((rc = tr_resp_read(&rd, &cmd)) == 1) {
    FUZZ_CHECK(cmd.argc >= 1 && cmd.argc <= TR_RESP_ARGS_MAX, "a command of %zu arguments",
               cmd.argc);
    fuzz_digest_int(&r->d, (long long)cmd.argc);
    tr_resp_arg_t argv[16];
    size_t got = 0;
    for (size_t n; (n = tr_resp_args(&cmd, argv, 16)) > 0; got += n)
      for (size_t i = 0; i < n; i++) {
        /* max bounds a bulk; an inline argument is bounded by the inline line, as in
         * Redis (proto-max-bulk-len against PROTO_INLINE_MAX_SIZE). */
        FUZZ_CHECK(argv[i].len <= r->max || argv[i].len <= TR_RESP_INLINE_MAX,
                   "an argument of %zu bytes, max %zu", argv[i].len, r->max);
        fuzz_digest_unit(&r->d, argv[i].data, argv[i].len);
      }
    FUZZ_CHECK(got == cmd.argc && cmd.left == 0, "took %zu of %zu arguments", got, cmd.argc);
  }
  FUZZ_CHECK(rc == 0 || rc == TR_EPROTO, "the reader says %d of the codec's unit", rc);
  if (rc == TR_EPROTO) {
    tr_resp_arg_t err;
    FUZZ_CHECK(tr_resp_args(&cmd, &err, 1) == 1, "no error text");
    static const char prefix[] = "-ERR Protocol error: ";
    FUZZ_CHECK(err.len > sizeof prefix + 1 && memcmp(err.data, prefix, sizeof prefix - 1) == 0,
               "an error unit of %zu bytes that is not Redis's", err.len);
    const char *e = err.data;
    FUZZ_CHECK(e[err.len - 2] == '\r' && e[err.len - 1] == '\n' &&
                   memchr(e, '\n', err.len - 1) == NULL,
               "the error is not one line");
    fuzz_digest_unit(&r->d, err.data, err.len);
    r->failed = true;
  }
}

static resp_t run(const fuzz_input_t *in, const tr_codec_t *spec, feed_how_t how) {
  tr_codec_state_t c;
  tr__codec_init(&c, spec);
  resp_t r = {fuzz_digest(), c.max, false};
  int rc = feed_stream(&c, in, how, on_unit, &r);
  FUZZ_CHECK(rc == 0 || rc == TR_ENOMEM, "RESP codec error %d", rc);
  tr__codec_free(&c);
  return r;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  fuzz_input_t in = fuzz_input(data, size, 1);
  tr_codec_t spec = {.kind = TR_CODEC_RESP, .max = in.opt[0]};
  resp_t cut = run(&in, &spec, FEED_CUT);
  resp_t whole = run(&in, &spec, FEED_WHOLE);
  resp_t bytes = run(&in, &spec, FEED_BYTES);
  FUZZ_CHECK(cut.d.h == whole.d.h && cut.failed == whole.failed,
             "cut at %zu: %llu arguments%s; whole: %llu%s", in.cut, (unsigned long long)cut.d.units,
             cut.failed ? " and an error" : "", (unsigned long long)whole.d.units,
             whole.failed ? " and an error" : "");
  FUZZ_CHECK(bytes.d.h == whole.d.h && bytes.failed == whole.failed,
             "a byte at a time: %llu arguments%s; whole: %llu%s", (unsigned long long)bytes.d.units,
             bytes.failed ? " and an error" : "", (unsigned long long)whole.d.units,
             whole.failed ? " and an error" : "");
  return 0;
}
