/* Tests of the RESP codec, reader and reply helpers (net/resp*.c): commands must come out the
 * same however reads split them, whole ones in one batch, inline commands must split as
 * Redis splits them, limits must hold, work must not grow with the number of reads a command
 * comes in, and malformed input must yield Redis's protocol error once and then nothing. */
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
  char out[OUT_MAX]; /* commands rendered as "a|b|c;" or "E:<text>;" */
  size_t len;
  size_t units;     /* units the codec handed out */
  size_t last_argc; /* arguments of the last command rendered */
} fix_t;

/* Append to the rendering, cut at OUT_MAX. */
static void put(fix_t *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(fix_t *f, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(f->out + f->len, OUT_MAX - f->len, fmt, ap);
  va_end(ap);
  f->len = n < 0 ? f->len : f->len + (size_t)n >= OUT_MAX ? OUT_MAX - 1 : f->len + (size_t)n;
}

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
  f->len = f->units = f->last_argc = 0;
  f->out[0] = 0;
}

static void render(fix_t *f, const void *unit, size_t n) {
  tr_resp_reader_t r;
  tr_resp_cmd_t cmd;
  int rc;
  f->units++;
  tr_resp_reader_init(&r, unit, n);
  while ((rc = tr_resp_read(&r, &cmd)) != 0) {
    assert_true(rc == 1 || rc == TR_EPROTO);
    tr_resp_arg_t argv[16];
    size_t argc = tr_resp_args(&cmd, argv, 16);
    if (rc == TR_EPROTO) { /* "-ERR <text>\r\n": rendered as E:<text> */
      assert_int_equal(argc, 1);
      assert_true(argv[0].len > 7);
      assert_memory_equal(argv[0].data, "-ERR ", 5);
      put(f, "E:%.*s;", (int)argv[0].len - 7, (const char *)argv[0].data + 5);
      continue;
    }
    assert_int_equal(argc, cmd.argc < 16 ? cmd.argc : 16);
    f->last_argc = cmd.argc;
    for (size_t i = 0; i < argc; i++)
      put(f, "%s%.*s", i ? "|" : "", (int)(argv[i].len < 64 ? argv[i].len : 64),
          (const char *)argv[i].data);
    put(f, ";");
  }
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
      {"*1\nX\r\n", "E:Protocol error: invalid multibulk length;"},
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

/* Guards against one message per command for a pipelining client (the cost that made a
 * pipelined PUBLISH expensive): the whole commands of one read are one unit. */
static void whole_commands_of_one_read_come_out_as_one_unit(void **state) {
  fix_t *f = *state;
  char in[100 * 40];
  size_t n = 0;
  for (int i = 0; i < 100; i++)
    n += (size_t)snprintf(in + n, sizeof in - n, "*2\r\n$4\r\nPING\r\n$%d\r\n%d\r\n",
                          i < 10 ? 1 : 2, i);
  feed(f, in, n);
  assert_int_equal(f->units, 1);
  assert_memory_equal(f->out, "PING|0;PING|1;", 14);
  /* An inline command splits a batch: before it, it, after it. */
  restart(f, 0);
  feed_str(f, "*1\r\n$1\r\na\r\n*1\r\n$1\r\nb\r\nPING x\r\n*1\r\n$1\r\nc\r\n");
  assert_string_equal(f->out, "a;b;PING|x;c;");
  assert_int_equal(f->units, 3);
}

/* Guards against rescanning a split command from its start on every read: 65,536 arguments
 * arriving one per read would then cost billions of steps and time out here. */
static void a_command_arriving_one_argument_per_read_costs_one_scan(void **state) {
  fix_t *f = *state;
  restart(f, 0);
  feed_str(f, "*65536\r\n");
  for (unsigned i = 0; i < 65535; i++)
    feed_str(f, "$1\r\nx\r\n");
  assert_int_equal(f->len, 0);
  feed_str(f, "$3\r\nend\r\n");
  assert_int_equal(f->units, 1);
  assert_int_equal(f->last_argc, 65536);
  assert_int_equal(tr__codec_buffered(&f->codec), 0);
}

/* Guards against one big command keeping its buffer for the life of the connection. */
static void the_buffer_of_a_big_command_is_given_back(void **state) {
  fix_t *f = *state;
  size_t big = (size_t)1 << 20;
  char *cmd = malloc(big + 64);
  assert_non_null(cmd);
  int h = snprintf(cmd, 64, "*2\r\n$3\r\nSET\r\n$%zu\r\n", big);
  memset(cmd + h, 'v', big);
  memcpy(cmd + h + big, "\r\n", 2);
  size_t n = (size_t)h + big + 2;
  feed(f, cmd, n / 2); /* split, so it is gathered in the codec's buffer */
  feed(f, cmd + n / 2, n - n / 2);
  assert_int_equal(f->units, 1);
  assert_int_equal(f->last_argc, 2);
  /* The next call (feed makes one after the unit) gave the megabyte back. */
  assert_true(f->codec.cap <= TR_RESP_KEEP);
  free(cmd);
}

/* Guards against a reader that trusts its payload: junk must read as TR_ETYPE, not as
 * arguments past the end. */
static void the_reader_refuses_what_the_codec_never_delivers(void **state) {
  (void)state;
  static const char *junk[] = {"*2\r\n$1\r\na\r\n", "*1\r\n$5\r\nab\r\n", "+OK\r\n", "*1\r\n$x\r\n",
                               "*1"};
  for (size_t i = 0; i < sizeof junk / sizeof junk[0]; i++) {
    tr_resp_reader_t r;
    tr_resp_cmd_t cmd;
    tr_resp_reader_init(&r, junk[i], strlen(junk[i]));
    assert_int_equal(tr_resp_read(&r, &cmd), TR_ETYPE);
    assert_int_equal(tr_resp_read(&r, &cmd), 0);
  }
  tr_resp_reader_t r;
  tr_resp_cmd_t cmd;
  tr_resp_reader_init(&r, "*0\r\n*-1\r\n", 9);
  assert_int_equal(tr_resp_read(&r, &cmd), 0); /* empty commands are skipped */
}

/* Guards against reply helpers that differ from RESP2 or RESP3 by a byte. */
static void replies_are_exact_resp3(void **state) {
  (void)state;
  tr_resp_buf_t b = {.proto = 3};
  tr_resp_map(&b, 1);
  tr_resp_bulk_str(&b, "k");
  tr_resp_null(&b);
  tr_resp_push(&b, 2);
  tr_resp_set(&b, 0);
  tr_resp_bool(&b, true);
  tr_resp_verbatim(&b, "txt", "hi", 2);
  static const char want3[] = "%1\r\n$1\r\nk\r\n_\r\n>2\r\n~0\r\n#t\r\n=6\r\ntxt:hi\r\n";
  assert_int_equal(b.len, sizeof want3 - 1);
  assert_memory_equal(b.data, want3, b.len);
  b.len = 0;
  b.proto = 2;
  tr_resp_map(&b, 1);
  tr_resp_null(&b);
  tr_resp_push(&b, 2);
  tr_resp_bool(&b, true);
  tr_resp_verbatim(&b, "txt", "hi", 2);
  tr_resp_integer(&b, INT64_MIN);
  static const char want2[] = "*2\r\n$-1\r\n*2\r\n:1\r\n$2\r\nhi\r\n:-9223372036854775808\r\n";
  assert_int_equal(b.len, sizeof want2 - 1);
  assert_memory_equal(b.data, want2, b.len);
  tr_resp_buf_free(&b);
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
      cmocka_unit_test_setup_teardown(whole_commands_of_one_read_come_out_as_one_unit, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(a_command_arriving_one_argument_per_read_costs_one_scan,
                                      setup, teardown),
      cmocka_unit_test_setup_teardown(the_buffer_of_a_big_command_is_given_back, setup, teardown),
      cmocka_unit_test(the_reader_refuses_what_the_codec_never_delivers),
      cmocka_unit_test(replies_are_exact_resp2),
      cmocka_unit_test(replies_are_exact_resp3),
      cmocka_unit_test(the_codec_is_a_valid_spec),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
