/* Tests of the input codecs (net/codec.c): a stream cut into lines, raw chunks or msgpack
 * frames must come out the same however the reads split it, limits must be enforced before
 * anything is buffered past them, and bad frames must be refused. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "net/codec.h"
#include "troupe.h"

/* Units one test may collect. */
#define MAX_UNITS 4096
/* Lines of the many-lines and the random-split tests. */
#define MANY_LINES 1000u
#define SPLIT_ROUNDS 200u

typedef struct {
  tr_codec_state_t codec;
  char *unit[MAX_UNITS];
  size_t len[MAX_UNITS];
  size_t n;
} fix_t;

static int setup(void **state) {
  fix_t *f = calloc(1, sizeof *f);
  assert_non_null(f);
  *state = f;
  return 0;
}

static void clear_units(fix_t *f) {
  for (size_t i = 0; i < f->n; i++)
    free(f->unit[i]);
  f->n = 0;
}

static int teardown(void **state) {
  fix_t *f = *state;
  clear_units(f);
  tr__codec_free(&f->codec);
  free(f);
  return 0;
}

static void start(fix_t *f, tr_codec_kind_t kind, size_t max) {
  tr__codec_free(&f->codec);
  clear_units(f);
  tr_codec_t spec = {.kind = kind, .max = max};
  tr__codec_init(&f->codec, &spec);
}

/* Feed one read; collect the units. Returns 0 once the read is consumed, or the error. */
static int feed(fix_t *f, const void *data, size_t len) {
  size_t off = 0;
  for (;;) {
    const void *u;
    size_t n, used;
    int rc = tr__codec_next(&f->codec, (const char *)data + off, len - off, &used, &u, &n);
    assert_true(used <= len - off);
    off += used;
    if (rc < 0)
      return rc;
    if (rc == 0) {
      assert_int_equal(off, len);
      return 0;
    }
    assert_true(f->n < MAX_UNITS);
    f->unit[f->n] = malloc(n + 1);
    assert_non_null(f->unit[f->n]);
    memcpy(f->unit[f->n], u, n);
    f->unit[f->n][n] = '\0';
    f->len[f->n++] = n;
  }
}

static int feed_str(fix_t *f, const char *s) { return feed(f, s, strlen(s)); }

static void assert_unit(fix_t *f, size_t i, const char *want) {
  assert_true(i < f->n);
  assert_int_equal(f->len[i], strlen(want));
  assert_string_equal(f->unit[i], want);
}

/* A line split across reads must be joined, not delivered in pieces. */
static void lines_split_across_reads_are_joined(void **state) {
  fix_t *f = *state;
  start(f, TR_CODEC_LINES, 64);
  assert_int_equal(feed_str(f, "hel"), 0);
  assert_int_equal(f->n, 0);
  assert_int_equal(feed_str(f, "lo\nwor"), 0);
  assert_int_equal(feed_str(f, "l"), 0);
  assert_int_equal(feed_str(f, "d\n"), 0);
  assert_int_equal(f->n, 2);
  assert_unit(f, 0, "hello");
  assert_unit(f, 1, "world");
  assert_int_equal(tr__codec_buffered(&f->codec), 0);
}

/* "\r\n" ends a line like "\n", even when the "\r" and the "\n" come in different reads. */
static void crlf_is_dropped_even_when_split_between_reads(void **state) {
  fix_t *f = *state;
  start(f, TR_CODEC_LINES, 64);
  assert_int_equal(feed_str(f, "one\r\ntwo\r"), 0);
  assert_int_equal(feed_str(f, "\nthr"), 0);
  assert_int_equal(feed_str(f, "ee\r"), 0);
  assert_int_equal(feed_str(f, "\n"), 0);
  assert_int_equal(f->n, 3);
  assert_unit(f, 0, "one");
  assert_unit(f, 1, "two");
  assert_unit(f, 2, "three");
}

/* The end of input (the peer's FIN) ends a last line that has no "\n" (its "\r" dropped),
 * once; a partial frame or RESP command is dropped instead. */
static void the_end_of_input_ends_a_last_line_only(void **state) {
  fix_t *f = *state;
  const void *u;
  size_t n;
  start(f, TR_CODEC_LINES, 64);
  assert_int_equal(feed_str(f, "one\ntw"), 0);
  assert_int_equal(feed_str(f, "o\r"), 0);
  assert_int_equal(tr__codec_end(&f->codec, &u, &n), 1);
  assert_int_equal(n, 3);
  assert_memory_equal(u, "two", 3);
  assert_int_equal(tr__codec_end(&f->codec, &u, &n), 0);
  start(f, TR_CODEC_LINES, 64);
  assert_int_equal(feed_str(f, "whole\n"), 0);
  assert_int_equal(tr__codec_end(&f->codec, &u, &n), 0);
  start(f, TR_CODEC_FRAMES, 64);
  assert_int_equal(feed(f, "\0\0\0\5\x93", 5), 0);
  assert_int_equal(tr__codec_end(&f->codec, &u, &n), 0);
  start(f, TR_CODEC_RESP, 64);
  assert_int_equal(feed_str(f, "*1\r\n$4\r\nPI"), 0);
  assert_int_equal(tr__codec_end(&f->codec, &u, &n), 0);
  assert_int_equal(f->n, 0);
}

/* Only the "\r" right before the "\n" goes; one inside the line stays. */
static void a_carriage_return_inside_a_line_is_kept(void **state) {
  fix_t *f = *state;
  start(f, TR_CODEC_LINES, 64);
  assert_int_equal(feed_str(f, "a\rb\n"), 0);
  assert_int_equal(f->n, 1);
  assert_unit(f, 0, "a\rb");
}

/* The limit counts the line's bytes: exactly max passes (with or without "\r"), max + 1
 * closes, in one read or split. */
static void line_of_exactly_max_passes_and_max_plus_one_is_refused(void **state) {
  fix_t *f = *state;
  start(f, TR_CODEC_LINES, 8);
  assert_int_equal(feed_str(f, "12345678\n"), 0);
  assert_int_equal(feed_str(f, "1234"), 0);
  assert_int_equal(feed_str(f, "5678\r"), 0);
  assert_int_equal(feed_str(f, "\n"), 0);
  assert_int_equal(f->n, 2);
  assert_unit(f, 0, "12345678");
  assert_unit(f, 1, "12345678");
  assert_int_equal(feed_str(f, "123456789\n"), TR_ELIMIT);

  start(f, TR_CODEC_LINES, 8);
  assert_int_equal(feed_str(f, "12345"), 0);
  assert_int_equal(feed_str(f, "6789\n"), TR_ELIMIT);

  start(f, TR_CODEC_LINES, 8);
  assert_int_equal(feed_str(f, "12345678\r"), 0); /* the "\r" may still be dropped */
  assert_int_equal(feed_str(f, "9"), TR_ELIMIT);
}

/* A line that never ends is refused as soon as it passes max: the codec never holds more. */
static void endless_line_is_refused_before_it_grows_past_max(void **state) {
  fix_t *f = *state;
  start(f, TR_CODEC_LINES, 100);
  char chunk[30];
  memset(chunk, 'x', sizeof chunk);
  int rc = 0;
  for (int i = 0; i < 10 && rc == 0; i++) {
    rc = feed(f, chunk, sizeof chunk);
    assert_true(tr__codec_buffered(&f->codec) <= 101);
  }
  assert_int_equal(rc, TR_ELIMIT);
  assert_int_equal(f->n, 0);

  start(f, TR_CODEC_LINES, 100);
  char big[1000];
  memset(big, 'y', sizeof big);
  assert_int_equal(feed(f, big, sizeof big), TR_ELIMIT);
  assert_true(tr__codec_buffered(&f->codec) == 0);
}

/* Empty lines are lines: each "\n" or "\r\n" gives an empty unit. */
static void empty_lines_are_delivered(void **state) {
  fix_t *f = *state;
  start(f, TR_CODEC_LINES, 8);
  assert_int_equal(feed_str(f, "\n\r\n\nx\n\r"), 0);
  assert_int_equal(feed_str(f, "\n"), 0);
  assert_int_equal(f->n, 5);
  assert_unit(f, 0, "");
  assert_unit(f, 1, "");
  assert_unit(f, 2, "");
  assert_unit(f, 3, "x");
  assert_unit(f, 4, "");
}

/* A read holding many lines gives them all, in order. */
static void many_lines_in_one_read_come_out_in_order(void **state) {
  fix_t *f = *state;
  start(f, TR_CODEC_LINES, 0);
  char *buf = malloc(MANY_LINES * 16);
  assert_non_null(buf);
  size_t len = 0;
  for (unsigned i = 0; i < MANY_LINES; i++)
    len += (size_t)sprintf(buf + len, "line %u\n", i);
  assert_int_equal(feed(f, buf, len), 0);
  free(buf);
  assert_int_equal(f->n, MANY_LINES);
  for (unsigned i = 0; i < MANY_LINES; i++) {
    char want[16];
    sprintf(want, "line %u", i);
    assert_unit(f, i, want);
  }
}

/* Whatever the split points, the lines are the same (seeded; the seed is printed). */
static void random_splits_give_the_same_lines(void **state) {
  fix_t *f = *state;
  unsigned seed = (unsigned)time(NULL);
  printf("random_splits_give_the_same_lines: seed %u\n", seed);
  srand(seed);
  char stream[4096];
  size_t len = 0;
  unsigned lines = 0;
  while (len < sizeof stream - 64) {
    int n = rand() % 40;
    for (int k = 0; k < n; k++)
      stream[len++] = (char)('a' + rand() % 26);
    if (rand() % 3 == 0)
      stream[len++] = '\r';
    stream[len++] = '\n';
    lines++;
  }
  for (unsigned round = 0; round < SPLIT_ROUNDS; round++) {
    start(f, TR_CODEC_LINES, 40);
    for (size_t off = 0; off < len;) {
      size_t n = 1 + (size_t)rand() % 97;
      if (n > len - off)
        n = len - off;
      assert_int_equal(feed(f, stream + off, n), 0);
      off += n;
    }
    assert_int_equal(f->n, lines);
  }
  /* Compare the last round with a one-read cut of the same stream. */
  size_t n = f->n;
  char **units = malloc(n * sizeof *units);
  assert_non_null(units);
  for (size_t i = 0; i < n; i++)
    units[i] = strdup(f->unit[i]);
  start(f, TR_CODEC_LINES, 40);
  assert_int_equal(feed(f, stream, len), 0);
  for (size_t i = 0; i < n; i++) {
    assert_string_equal(f->unit[i], units[i]);
    free(units[i]);
  }
  free(units);
}

/* Raw input comes out as it was read, cut into pieces of at most max. */
static void raw_reads_are_cut_at_max(void **state) {
  fix_t *f = *state;
  start(f, TR_CODEC_RAW, 10);
  char data[25];
  for (int i = 0; i < 25; i++)
    data[i] = (char)('A' + i);
  assert_int_equal(feed(f, data, sizeof data), 0);
  assert_int_equal(f->n, 3);
  assert_int_equal(f->len[0], 10);
  assert_int_equal(f->len[1], 10);
  assert_int_equal(f->len[2], 5);
  assert_memory_equal(f->unit[2], data + 20, 5);
  assert_int_equal(feed_str(f, "abc"), 0);
  assert_int_equal(f->n, 4);
  assert_unit(f, 3, "abc");
  assert_int_equal(tr__codec_buffered(&f->codec), 0);
  assert_int_equal(feed(f, "", 0), 0);
  assert_int_equal(f->n, 4);
}

/* Build a frame: prefix + body. */
static size_t frame(unsigned char *out, const void *body, size_t n) {
  tr__codec_frame_header((uint32_t)n, out);
  memcpy(out + TR_FRAME_HEADER, body, n);
  return TR_FRAME_HEADER + n;
}

/* A frame fed one byte at a time is reassembled; two frames in one read both come out. */
static void frames_are_reassembled_from_single_bytes(void **state) {
  fix_t *f = *state;
  start(f, TR_CODEC_FRAMES, 1024);
  unsigned char body[64], wire[256];
  size_t blen, len;
  assert_int_equal(tr_pack_into(body, sizeof body, &blen, "[us]", (uint64_t)7, "frame"), 0);
  len = frame(wire, body, blen);
  len += frame(wire + len, body, blen);
  for (size_t i = 0; i < len / 2; i++)
    assert_int_equal(feed(f, wire + i, 1), 0);
  assert_int_equal(f->n, 1);
  assert_int_equal(feed(f, wire + len / 2, len - len / 2), 0);
  assert_int_equal(f->n, 2);
  for (size_t i = 0; i < 2; i++) {
    assert_int_equal(f->len[i], blen);
    assert_memory_equal(f->unit[i], body, blen);
  }
}

/* A length prefix over max is refused at once, before any body is buffered. */
static void oversized_frame_header_is_refused_at_once(void **state) {
  fix_t *f = *state;
  start(f, TR_CODEC_FRAMES, 1024);
  unsigned char hdr[TR_FRAME_HEADER];
  tr__codec_frame_header(1025, hdr);
  assert_int_equal(feed(f, hdr, 2), 0);
  assert_int_equal(feed(f, hdr + 2, 2), TR_ELIMIT);
  assert_int_equal(tr__codec_buffered(&f->codec), 0);

  start(f, TR_CODEC_FRAMES, 1024);
  unsigned char wire[TR_FRAME_HEADER + 1024];
  memset(wire, 0xc0, sizeof wire); /* 1024 nils: a valid body, but not one value */
  tr__codec_frame_header(0x7fffffffu, wire);
  assert_int_equal(feed(f, wire, sizeof wire), TR_ELIMIT);
}

/* A frame must hold exactly one valid msgpack value: not a reserved byte, not two values,
 * not a truncated array, not nothing. One of exactly max passes. */
static void invalid_msgpack_frames_are_refused(void **state) {
  fix_t *f = *state;
  unsigned char wire[64];
  static const unsigned char reserved[] = {0xc1};
  static const unsigned char two[] = {0x01, 0x02};
  static const unsigned char truncated[] = {0x93, 0x01, 0x02}; /* array of 3, 2 given */
  const struct {
    const unsigned char *body;
    size_t n;
  } bad[] = {{reserved, 1}, {two, 2}, {truncated, 3}};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    start(f, TR_CODEC_FRAMES, 1024);
    size_t len = frame(wire, bad[i].body, bad[i].n);
    assert_int_equal(feed(f, wire, len), TR_EPROTO);
    assert_int_equal(f->n, 0);
  }
  start(f, TR_CODEC_FRAMES, 1024);
  tr__codec_frame_header(0, wire);
  assert_int_equal(feed(f, wire, TR_FRAME_HEADER), TR_EPROTO);

  start(f, TR_CODEC_FRAMES, 3);
  static const unsigned char three[] = {0x92, 0x01, 0x02}; /* [1, 2]: 3 bytes */
  size_t len = frame(wire, three, sizeof three);
  assert_int_equal(feed(f, wire, len), 0);
  assert_int_equal(f->n, 1);
}

/* Zero means the documented default, and a max past TR_MSG_MAX is refused. */
static void defaults_and_bounds_of_max(void **state) {
  (void)state;
  tr_codec_t lines = {.kind = TR_CODEC_LINES}, frames = {.kind = TR_CODEC_FRAMES};
  tr_codec_t raw = {.kind = TR_CODEC_RAW}, huge = {.kind = TR_CODEC_RAW, .max = TR_MSG_MAX + 1};
  tr_codec_t bad = {.kind = (tr_codec_kind_t)7};
  assert_int_equal(tr__codec_max(&lines), 8u << 10);
  assert_int_equal(tr__codec_max(&frames), 1u << 20);
  assert_int_equal(tr__codec_max(&raw), 64u << 10);
  assert_true(tr__codec_valid(&lines));
  assert_false(tr__codec_valid(&huge));
  assert_false(tr__codec_valid(&bad));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(lines_split_across_reads_are_joined, setup, teardown),
      cmocka_unit_test_setup_teardown(crlf_is_dropped_even_when_split_between_reads, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(a_carriage_return_inside_a_line_is_kept, setup, teardown),
      cmocka_unit_test_setup_teardown(the_end_of_input_ends_a_last_line_only, setup, teardown),
      cmocka_unit_test_setup_teardown(line_of_exactly_max_passes_and_max_plus_one_is_refused, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(endless_line_is_refused_before_it_grows_past_max, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(empty_lines_are_delivered, setup, teardown),
      cmocka_unit_test_setup_teardown(many_lines_in_one_read_come_out_in_order, setup, teardown),
      cmocka_unit_test_setup_teardown(random_splits_give_the_same_lines, setup, teardown),
      cmocka_unit_test_setup_teardown(raw_reads_are_cut_at_max, setup, teardown),
      cmocka_unit_test_setup_teardown(frames_are_reassembled_from_single_bytes, setup, teardown),
      cmocka_unit_test_setup_teardown(oversized_frame_header_is_refused_at_once, setup, teardown),
      cmocka_unit_test_setup_teardown(invalid_msgpack_frames_are_refused, setup, teardown),
      cmocka_unit_test(defaults_and_bounds_of_max),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
