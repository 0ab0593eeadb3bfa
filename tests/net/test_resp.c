/* Tests of the RESP codec and helpers (net/resp.c): commands must come out the same however
 * reads split them, inline commands must split as Redis splits them, limits must hold, and
 * malformed input must yield Redis's protocol error once and then nothing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "net/codec.h"
#include "net/resp.h"
#include "troupe.h"
#include "troupe/resp.h"

/* Room for the rendering of the units of one test. */
#define OUT_MAX 4096

typedef struct {
  tr_codec_state_t codec;
  char out[OUT_MAX]; /* units rendered as "a|b|c;" or "E:<text>;" */
  size_t len;
} fix_t;

static int setup(void **state) {
  fix_t *f = calloc(1, sizeof *f);
  assert_non_null(f);
  tr_codec_t spec = {.kind = TR_CODEC_RESP};
  tr__codec_init(&f->codec, &spec);
  *state = f;
  return 0;
}

static int teardown(void **state) {
  fix_t *f = *state;
  tr__codec_free(&f->codec);
  free(f);
  return 0;
}

static void restart(fix_t *f, size_t max) {
  tr__codec_free(&f->codec);
  tr_codec_t spec = {.kind = TR_CODEC_RESP, .max = max};
  tr__codec_init(&f->codec, &spec);
  f->len = 0;
  f->out[0] = 0;
}

static void render(fix_t *f, const void *unit, size_t n) {
  tr_resp_arg_t argv[16];
  size_t argc;
  int rc = tr_resp_argv(unit, n, argv, 16, &argc);
  assert_true(rc == 0 || rc == TR_EPROTO);
  if (rc == TR_EPROTO)
    f->len += (size_t)snprintf(f->out + f->len, OUT_MAX - f->len, "E:");
  for (size_t i = 0; i < argc && i < 16; i++)
    f->len += (size_t)snprintf(f->out + f->len, OUT_MAX - f->len, "%s%.*s", i ? "|" : "",
                               (int)argv[i].len, (const char *)argv[i].data);
  f->len += (size_t)snprintf(f->out + f->len, OUT_MAX - f->len, ";");
}

/* Feed bytes as one read; render every unit. */
static void feed(fix_t *f, const char *in, size_t len) {
  size_t off = 0;
  for (;;) {
    const void *unit;
    size_t n, used;
    int rc = tr__codec_next(&f->codec, in + off, len - off, &used, &unit, &n);
    assert_true(rc >= 0);
    off += used;
    if (rc == 0)
      break;
    render(f, unit, n);
  }
  assert_int_equal(off, len);
}

static void feed_str(fix_t *f, const char *s) { feed(f, s, strlen(s)); }

static const char pipeline[] = "*3\r\n$7\r\nPUBLISH\r\n$4\r\nchan\r\n$5\r\nh\r\ni!\r\n"
                               "PING\r\n*0\r\n*1\r\n$0\r\n\r\n"
                               "SUBSCRIBE a  \"b c\"\t'd'\n";
static const char pipeline_out[] = "PUBLISH|chan|h\r\ni!;PING;;SUBSCRIBE|a|b c|d;";

/* Guards against a command lost or garbled when a read ends inside it, at any byte. */
static void a_command_split_at_every_byte_comes_out_whole(void **state) {
  fix_t *f = *state;
  size_t n = sizeof pipeline - 1;
  for (size_t cut = 0; cut <= n; cut++) {
    restart(f, 0);
    feed(f, pipeline, cut);
    feed(f, pipeline + cut, n - cut);
    assert_string_equal(f->out, pipeline_out);
  }
  restart(f, 0);
  for (size_t i = 0; i < n; i++)
    feed(f, pipeline + i, 1);
  assert_string_equal(f->out, pipeline_out);
  assert_int_equal(tr__codec_buffered(&f->codec), 0);
}

/* Guards against inline parsing that differs from Redis's sdssplitargs. */
static void inline_commands_split_like_redis(void **state) {
  fix_t *f = *state;
  feed_str(f, "echo \"a\\x41\\n\" 'it\\'s' x\"y z\"\r\n   \r\n");
  assert_string_equal(f->out, "echo|aA\n|it's|xy z;");
  restart(f, 0);
  feed_str(f, "echo \"open\r\n");
  assert_string_equal(f->out, "E:Protocol error: unbalanced quotes in request;");
}

/* Guards against lengths that are believed instead of checked. */
static void bad_lengths_are_protocol_errors(void **state) {
  fix_t *f = *state;
  static const struct {
    const char *in, *out;
  } cases[] = {
      {"*x\r\n", "E:Protocol error: invalid multibulk length;"},
      {"*99999999\r\n", "E:Protocol error: invalid multibulk length;"},
      {"*1\r\n$-1\r\n", "E:Protocol error: invalid bulk length;"},
      {"*1\r\n$01\r\n", "E:Protocol error: invalid bulk length;"},
      {"*1\r\n$9\r\n", "E:Protocol error: invalid bulk length;"},
      {"*1\r\n+OK\r\n", "E:Protocol error: expected '$', got '+';"},
      {"*1\r\n$2\r\nabXY", "E:Protocol error: expected CRLF after bulk data;"},
      {"*1\n", "E:Protocol error: invalid multibulk length;"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    restart(f, 8);
    feed_str(f, cases[i].in);
    assert_string_equal(f->out, cases[i].out);
    feed_str(f, "PING\r\n"); /* discarded: the connection is closing */
    assert_string_equal(f->out, cases[i].out);
  }
}

/* Guards against unbounded buffering of a peer that never ends a line. */
static void lines_without_end_are_bounded(void **state) {
  fix_t *f = *state;
  size_t n = TR_RESP_INLINE_MAX + 2;
  char *junk = malloc(n);
  assert_non_null(junk);
  memset(junk, 'a', n);
  feed(f, junk, n);
  assert_string_equal(f->out, "E:Protocol error: too big inline request;");
  restart(f, 0);
  junk[0] = '*';
  feed(f, junk, n);
  assert_string_equal(f->out, "E:Protocol error: too big mbulk count string;");
  free(junk);
}

/* Guards against a bulk at exactly max being refused, or one past it accepted. */
static void max_bounds_one_bulk(void **state) {
  fix_t *f = *state;
  restart(f, 4);
  feed_str(f, "*1\r\n$4\r\nabcd\r\n*1\r\n$5\r\nabcde\r\n");
  assert_string_equal(f->out, "abcd;E:Protocol error: invalid bulk length;");
}

/* Guards against reply helpers that differ from RESP2 by a byte. */
static void replies_are_exact_resp2(void **state) {
  (void)state;
  tr_resp_buf_t b = {0};
  tr_resp_simple(&b, "OK");
  tr_resp_error(&b, "ERR x");
  tr_resp_integer(&b, -42);
  tr_resp_bulk(&b, "a\r\nb", 4);
  tr_resp_null(&b);
  tr_resp_array(&b, 2);
  tr_resp_null_array(&b);
  assert_int_equal(b.err, 0);
  static const char want[] = "+OK\r\n-ERR x\r\n:-42\r\n$4\r\na\r\nb\r\n$-1\r\n*2\r\n*-1\r\n";
  assert_int_equal(b.len, sizeof want - 1);
  assert_memory_equal(b.data, want, b.len);
  assert_int_equal(tr_resp_simple(&b, "bad\r\n"), TR_EINVAL);
  assert_int_equal(tr_resp_integer(&b, 1), TR_EINVAL); /* sticky */
  tr_resp_buf_free(&b);
}

/* Guards against a codec that is not reachable through the public options. */
static void the_codec_is_a_valid_spec(void **state) {
  (void)state;
  tr_codec_t spec = {.kind = TR_CODEC_RESP};
  assert_true(tr__codec_valid(&spec));
  assert_int_equal(tr__codec_max(&spec), TR_CODEC_RESP_MAX);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(a_command_split_at_every_byte_comes_out_whole, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(inline_commands_split_like_redis, setup, teardown),
      cmocka_unit_test_setup_teardown(bad_lengths_are_protocol_errors, setup, teardown),
      cmocka_unit_test_setup_teardown(lines_without_end_are_bounded, setup, teardown),
      cmocka_unit_test_setup_teardown(max_bounds_one_bulk, setup, teardown),
      cmocka_unit_test(replies_are_exact_resp2),
      cmocka_unit_test(the_codec_is_a_valid_spec),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
