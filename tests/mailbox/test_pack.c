/* Tests of the format-string layer: tr_pack/tr_pack_into build the bytes each letter
 * promises, never write past a fixed buffer, and reject bad formats; tr_unpack reads every
 * msgpack encoding a letter accepts, and refuses wrong types, wrong counts, truncated or
 * trailing bytes and values past the limits, without reading past the buffer (run it under
 * ASan: the truncation and capacity loops use exact-size heap buffers for that reason). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "troupe/error.h"
#include "troupe/msg.h"

/* Pack into buf (which must be big enough) and return the length. */
static size_t pack(uint8_t *buf, size_t cap, const char *fmt, ...) {
  size_t len = 0;
  va_list ap;
  va_start(ap, fmt);
  int rc = tr_vpack_into(buf, cap, &len, fmt, ap);
  va_end(ap);
  assert_int_equal(rc, 0);
  return len;
}

/* Unpack data by a one-letter format into throwaway variables; returns tr_unpack's code. */
static int unpack_one(char letter, const void *data, size_t len) {
  int64_t i;
  uint64_t u;
  double d;
  bool b;
  const char *s;
  const void *x;
  size_t n;
  switch (letter) {
  case 'i':
    return tr_unpack(data, len, NULL, "i", &i);
  case 'u':
    return tr_unpack(data, len, NULL, "u", &u);
  case 'd':
    return tr_unpack(data, len, NULL, "d", &d);
  case 'b':
    return tr_unpack(data, len, NULL, "b", &b);
  case 'n':
    return tr_unpack(data, len, NULL, "n");
  case 's':
    return tr_unpack(data, len, NULL, "s", &s, &n);
  case 'x':
    return tr_unpack(data, len, NULL, "x", &x, &n);
  case '[':
    return tr_unpack(data, len, NULL, "[]");
  default:
    return tr_unpack(data, len, NULL, "{}");
  }
}

/* Guards against a letter packed with one encoding and read back with another. */
static void every_letter_round_trips_through_pack_and_unpack(void **state) {
  (void)state;
  static const uint8_t blob[] = {0, 1, 0xc1, 0xff};
  uint8_t buf[128];
  size_t len = pack(buf, sizeof buf, "iudbbnsx", (int64_t)-5, (uint64_t)7, 2.5, 1, 0, "hello",
                    (const void *)blob, sizeof blob);
  int64_t i = 0;
  uint64_t u = 0;
  double d = 0;
  bool t = false, f = true;
  const char *s = NULL;
  const void *x = NULL;
  size_t slen = 0, xlen = 0;
  assert_int_equal(tr_unpack(buf, len, NULL, "iudbbnsx", &i, &u, &d, &t, &f, &s, &slen, &x, &xlen),
                   0);
  assert_int_equal(i, -5);
  assert_int_equal(u, 7);
  assert_true(d == 2.5);
  assert_true(t);
  assert_false(f);
  assert_int_equal(slen, 5);
  assert_memory_equal(s, "hello", 5);
  assert_int_equal(xlen, sizeof blob);
  assert_memory_equal(x, blob, sizeof blob);
}

/* Guards against container headers that count the wrong level (nested letters, brackets). */
static void nested_arrays_and_maps_take_their_counts_from_the_format(void **state) {
  (void)state;
  static const uint8_t want[] = {0x93, 0x01, 0x82, 0xa1, 'a',  0x92,
                                 0x02, 0xc3, 0xa1, 'b',  0x80, 0x90};
  uint8_t buf[64];
  size_t len = pack(buf, sizeof buf, "[i{s[ub]s{}}[]]", (int64_t)1, "a", (uint64_t)2, 1, "b");
  assert_int_equal(len, sizeof want);
  assert_memory_equal(buf, want, sizeof want);

  int64_t i = 0;
  uint64_t u = 0;
  bool b = false;
  const char *k1 = NULL, *k2 = NULL;
  size_t n1 = 0, n2 = 0;
  assert_int_equal(tr_unpack(buf, len, NULL, "[i{s[ub]s{}}[]]", &i, &k1, &n1, &u, &b, &k2, &n2), 0);
  assert_int_equal(i, 1);
  assert_int_equal(u, 2);
  assert_true(b);
  assert_true(n1 == 1 && k1[0] == 'a' && n2 == 1 && k2[0] == 'b');
}

/* Write a format of n 'n' letters between the brackets open and close into fmt. */
static const char *nils(char *fmt, char open, size_t n, char close) {
  fmt[0] = open;
  memset(fmt + 1, 'n', n);
  fmt[n + 1] = close;
  fmt[n + 2] = '\0';
  return fmt;
}

/* Guards against a 16-element container written with a fix header (4 bits hold only 15). */
static void sixteen_elements_switch_to_a_16_bit_header(void **state) {
  (void)state;
  char fmt[40];
  uint8_t buf[64];
  assert_int_equal(pack(buf, sizeof buf, nils(fmt, '[', 15, ']')), 1 + 15);
  assert_int_equal(buf[0], 0x9f);
  assert_int_equal(pack(buf, sizeof buf, nils(fmt, '[', 16, ']')), 3 + 16);
  assert_memory_equal(buf, "\xdc\x00\x10", 3);
  assert_int_equal(tr_unpack(buf, 3 + 16, NULL, fmt), 0);
  assert_int_equal(pack(buf, sizeof buf, nils(fmt, '{', 30, '}')), 1 + 30);
  assert_int_equal(buf[0], 0x8f);
  assert_int_equal(pack(buf, sizeof buf, nils(fmt, '{', 32, '}')), 3 + 32);
  assert_memory_equal(buf, "\xde\x00\x10", 3);
  assert_int_equal(tr_unpack(buf, 3 + 32, NULL, fmt), 0);
}

/* Guards against a wrong width at any msgpack integer boundary, on either side of zero. */
static void integers_round_trip_at_every_encoding_width_boundary(void **state) {
  (void)state;
  static const struct {
    uint64_t v;
    size_t len;
  } us[] = {{0, 1},          {127, 1},       {128, 2},       {255, 2},
            {256, 3},        {65535, 3},     {65536, 5},     {UINT32_MAX, 5},
            {1ull << 32, 9}, {INT64_MAX, 9}, {UINT64_MAX, 9}};
  static const struct {
    int64_t v;
    size_t len;
  } is[] = {{INT64_MIN, 9}, {-2147483649ll, 9}, {-2147483648ll, 5}, {-32769, 5},   {-32768, 3},
            {-129, 3},      {-128, 2},          {-33, 2},           {-32, 1},      {-1, 1},
            {0, 1},         {127, 1},           {128, 2},           {255, 2},      {256, 3},
            {65535, 3},     {65536, 5},         {4294967296ll, 9},  {INT64_MAX, 9}};
  uint8_t buf[16];
  for (size_t k = 0; k < sizeof us / sizeof us[0]; k++) {
    uint64_t u = 0;
    assert_int_equal(pack(buf, sizeof buf, "u", us[k].v), us[k].len);
    assert_int_equal(tr_unpack(buf, us[k].len, NULL, "u", &u), 0);
    assert_true(u == us[k].v);
  }
  for (size_t k = 0; k < sizeof is / sizeof is[0]; k++) {
    int64_t i = 0;
    uint64_t u = 0;
    assert_int_equal(pack(buf, sizeof buf, "i", is[k].v), is[k].len);
    assert_int_equal(tr_unpack(buf, is[k].len, NULL, "i", &i), 0);
    assert_true(i == is[k].v);
    /* 'u' takes exactly the non-negative ones. */
    assert_int_equal(tr_unpack(buf, is[k].len, NULL, "u", &u), is[k].v >= 0 ? 0 : TR_ETYPE);
    if (is[k].v >= 0)
      assert_true(u == (uint64_t)is[k].v);
  }
}

/* Guards against a decoder that only knows the widths msgpack-c happens to emit. */
static void integers_in_every_encoding_are_read_by_i_and_by_u_when_non_negative(void **state) {
  (void)state;
  static const struct {
    uint8_t bytes[9];
    size_t len;
    int64_t v;
  } cases[] = {
      {{0x05}, 1, 5},
      {{0xcc, 0x05}, 2, 5},
      {{0xcd, 0x00, 0x05}, 3, 5},
      {{0xce, 0, 0, 0, 0x05}, 5, 5},
      {{0xcf, 0, 0, 0, 0, 0, 0, 0, 0x05}, 9, 5},
      {{0xd0, 0x05}, 2, 5}, /* negative-encoded types holding a non-negative value */
      {{0xd1, 0x00, 0x05}, 3, 5},
      {{0xd2, 0, 0, 0, 0x05}, 5, 5},
      {{0xd3, 0, 0, 0, 0, 0, 0, 0, 0x05}, 9, 5},
      {{0xfb}, 1, -5},
      {{0xd0, 0xfb}, 2, -5},
      {{0xd1, 0xff, 0xfb}, 3, -5},
      {{0xd2, 0xff, 0xff, 0xff, 0xfb}, 5, -5},
      {{0xd3, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfb}, 9, -5},
      {{0xd0, 0x80}, 2, -128},
      {{0xd1, 0x80, 0x00}, 3, -32768},
      {{0xd2, 0x80, 0, 0, 0}, 5, INT32_MIN},
      {{0xd3, 0x80, 0, 0, 0, 0, 0, 0, 0}, 9, INT64_MIN},
      {{0xcf, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, 9, INT64_MAX},
  };
  for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
    int64_t i = 0;
    uint64_t u = 0;
    assert_int_equal(tr_unpack(cases[k].bytes, cases[k].len, NULL, "i", &i), 0);
    assert_true(i == cases[k].v);
    assert_int_equal(tr_unpack(cases[k].bytes, cases[k].len, NULL, "u", &u),
                     cases[k].v >= 0 ? 0 : TR_ETYPE);
    if (cases[k].v >= 0)
      assert_true(u == (uint64_t)cases[k].v);
  }
}

/* Guards against a uint64 above INT64_MAX wrapping to a negative int64_t. */
static void i_rejects_a_uint64_above_int64_max(void **state) {
  (void)state;
  static const uint8_t big[] = {0xcf, 0x80, 0, 0, 0, 0, 0, 0, 0};
  static const uint8_t max[] = {0xcf, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
  int64_t i = 0;
  uint64_t u = 0;
  assert_int_equal(tr_unpack(big, sizeof big, NULL, "i", &i), TR_ETYPE);
  assert_int_equal(tr_unpack(max, sizeof max, NULL, "i", &i), TR_ETYPE);
  assert_int_equal(tr_unpack(max, sizeof max, NULL, "u", &u), 0);
  assert_true(u == UINT64_MAX);
}

/* Guards against float32 being read as raw bits, or only float64 being accepted. */
static void d_reads_float32_and_float64(void **state) {
  (void)state;
  static const uint8_t f32[] = {0xca, 0xbe, 0x80, 0x00, 0x00};
  static const uint8_t f64[] = {0xcb, 0x3f, 0xf8, 0, 0, 0, 0, 0, 0};
  double d = 0;
  assert_int_equal(tr_unpack(f32, sizeof f32, NULL, "d", &d), 0);
  assert_true(d == -0.25);
  assert_int_equal(tr_unpack(f64, sizeof f64, NULL, "d", &d), 0);
  assert_true(d == 1.5);
  uint8_t buf[16];
  assert_int_equal(pack(buf, sizeof buf, "d", 1.5), 9);
  assert_memory_equal(buf, f64, sizeof f64);
}

/* Guards against 'b' packing only the value 1 as true. */
static void b_packs_any_nonzero_int_as_true(void **state) {
  (void)state;
  uint8_t buf[4];
  assert_int_equal(pack(buf, sizeof buf, "bbb", 7, 0, -1), 3);
  assert_memory_equal(buf, "\xc3\xc2\xc3", 3);
}

/* Guards against a write past the end of the caller's buffer, and a false TR_EMSGSIZE. */
static void fixed_buffer_too_small_fails_at_every_capacity_and_exact_fit_succeeds(void **state) {
  (void)state;
  enum { GUARD = 8 };
  static const char fmt[] = "[i u d b n s x {s[ii]} i]";
  char str[40];
  uint8_t bin[300]; /* bin16 and str8 headers: every width of length field is cut */
  memset(str, 'q', sizeof str - 1);
  str[sizeof str - 1] = '\0';
  memset(bin, 0xab, sizeof bin);
  uint8_t want[512];
  size_t len = pack(want, sizeof want, fmt, (int64_t)INT64_MIN, UINT64_MAX, 3.0, 1, str, bin,
                    sizeof bin, "k", (int64_t)1, (int64_t)-70000, (int64_t)65536);
  for (size_t cap = 0; cap <= len; cap++) {
    /* The buffer is its own heap block for ASan, with a guard band for plain builds. */
    uint8_t *buf = malloc(cap + GUARD);
    assert_non_null(buf);
    memset(buf, 0x5a, cap + GUARD);
    size_t got = 12345;
    int rc = tr_pack_into(buf, cap, &got, fmt, (int64_t)INT64_MIN, UINT64_MAX, 3.0, 1, str, bin,
                          sizeof bin, "k", (int64_t)1, (int64_t)-70000, (int64_t)65536);
    for (size_t k = cap; k < cap + GUARD; k++)
      assert_int_equal(buf[k], 0x5a);
    if (cap < len) {
      assert_int_equal(rc, TR_EMSGSIZE);
    } else {
      assert_int_equal(rc, 0);
      assert_int_equal(got, len);
      assert_memory_equal(buf, want, len);
    }
    free(buf);
  }
}

/* Guards against a growing buffer that loses bytes on realloc, or a missing empty buffer. */
static void tr_pack_grows_its_buffer_and_matches_tr_pack_into(void **state) {
  (void)state;
  size_t big = 100000;
  uint8_t *bin = malloc(big);
  uint8_t *want = malloc(big + 64);
  assert_non_null(bin);
  assert_non_null(want);
  for (size_t k = 0; k < big; k++)
    bin[k] = (uint8_t)(k * 7);
  size_t len = pack(want, big + 64, "[s x i]", "head", bin, big, (int64_t)-1);
  void *out = NULL;
  size_t got = 0;
  assert_int_equal(tr_pack(&out, &got, "[s x i]", "head", bin, big, (int64_t)-1), 0);
  assert_int_equal(got, len);
  assert_memory_equal(out, want, len);
  free(out);
  assert_int_equal(tr_pack(&out, &got, ""), 0);
  assert_non_null(out);
  assert_int_equal(got, 0);
  free(out);
  free(want);
  free(bin);
}

/* Guards against formats with stray, mismatched or odd brackets, or unknown letters. */
static void malformed_formats_are_rejected_by_pack_and_unpack(void **state) {
  (void)state;
  static const char *bad[] = {"[",     "]",    "[i", "i]", "[i}", "{i]",  "{i}", "{iii}",
                              "{[i]}", "{[]}", "q",  "i?", "I",   "[i]]", "{{}", "i\t"};
  static const uint8_t one[] = {0x01};
  uint8_t buf[16];
  size_t len = 0;
  void *out = NULL;
  for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
    assert_int_equal(
        tr_pack_into(buf, sizeof buf, &len, bad[k], (int64_t)1, (int64_t)1, (int64_t)1), TR_EINVAL);
    assert_int_equal(tr_pack(&out, &len, bad[k], (int64_t)1, (int64_t)1, (int64_t)1), TR_EINVAL);
    int64_t a, b, c;
    assert_int_equal(tr_unpack(one, sizeof one, NULL, bad[k], &a, &b, &c), TR_EINVAL);
  }
}

/* Guards against a format checked only as far as the values that were packed or read: the
 * format is checked in the same pass, so a bad letter or bracket after values that were
 * already handled must still make the call fail with TR_EINVAL. */
static void a_format_error_after_valid_values_is_still_invalid(void **state) {
  (void)state;
  static const uint8_t two[] = {0x01, 0x02};
  static const uint8_t nested[] = {0x92, 0x01, 0x91, 0x02};
  static const char *bad[] = {"ii?", "ii]", "ii[", "ii{i}", "[ii]}", "i i [", "[i[q]]", "[i[i}]"};
  uint8_t buf[16];
  size_t len = 0;
  void *out = NULL;
  int64_t a = 0, b = 0, c = 0;
  for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
    assert_int_equal(
        tr_pack_into(buf, sizeof buf, &len, bad[k], (int64_t)1, (int64_t)2, (int64_t)3), TR_EINVAL);
    assert_int_equal(tr_pack(&out, &len, bad[k], (int64_t)1, (int64_t)2, (int64_t)3), TR_EINVAL);
    assert_int_equal(tr_unpack(two, sizeof two, NULL, bad[k], &a, &b, &c), TR_EINVAL);
    assert_int_equal(tr_unpack(nested, sizeof nested, NULL, bad[k], &a, &b, &c), TR_EINVAL);
  }
  /* The same formats without the error succeed, so it is the error that is reported. */
  assert_int_equal(tr_pack_into(buf, sizeof buf, &len, "ii", (int64_t)1, (int64_t)2), 0);
  assert_int_equal(tr_unpack(two, sizeof two, NULL, "ii", &a, &b), 0);
  assert_int_equal(tr_unpack(nested, sizeof nested, NULL, "[i[i]]", &a, &b), 0);
}

/* Guards against the error that stopped the pass taking precedence over a format error
 * later in the string: a bad format is TR_EINVAL whatever the buffer or the bytes, as if the
 * whole format had been checked first. */
static void a_format_error_wins_over_the_error_that_stopped_the_pass(void **state) {
  (void)state;
  uint8_t buf[4];
  size_t len = 0;
  int64_t a = 0, b = 0;
  /* A full buffer at the first value, a bad letter, an odd map, a stray or a missing close. */
  assert_int_equal(tr_pack_into(buf, 1, &len, "uu?", (uint64_t)1000, (uint64_t)2), TR_EINVAL);
  assert_int_equal(tr_pack_into(buf, 1, &len, "u{uuu}", (uint64_t)1000), TR_EINVAL);
  assert_int_equal(tr_pack_into(buf, 1, &len, "u u]", (uint64_t)1000, (uint64_t)2), TR_EINVAL);
  assert_int_equal(tr_pack_into(NULL, 0, &len, "u[u", (uint64_t)1, (uint64_t)2), TR_EINVAL);
  assert_int_equal(tr_pack_into(buf, 1, &len, "uu", (uint64_t)1000, (uint64_t)2), TR_EMSGSIZE);

  /* A wrong type, a cut payload, a count mismatch, a limit, trailing bytes, each followed
   * by a format error. */
  static const uint8_t nil[] = {0xc0};
  static const uint8_t one_of_two[] = {0x92, 0x01};
  static const uint8_t deep[] = {0x91, 0x91, 0x01};
  static const uint8_t two[] = {0x01, 0x02};
  tr_limits_t shallow = {.max_depth = 1};
  tr_limits_t tiny = {.max_size = 1};
  assert_int_equal(tr_unpack(nil, sizeof nil, NULL, "i?", &a), TR_EINVAL);
  assert_int_equal(tr_unpack(nil, 0, NULL, "i]", &a), TR_EINVAL);
  assert_int_equal(tr_unpack(one_of_two, sizeof one_of_two, NULL, "[i]}", &a), TR_EINVAL);
  assert_int_equal(tr_unpack(deep, sizeof deep, &shallow, "[[i]]q", &a), TR_EINVAL);
  assert_int_equal(tr_unpack(two, sizeof two, &tiny, "ii{", &a, &b), TR_EINVAL);
  assert_int_equal(tr_unpack(two, sizeof two, NULL, "i[", &a), TR_EINVAL);
  /* Without the format error, each is its own error. */
  assert_int_equal(tr_unpack(nil, sizeof nil, NULL, "i", &a), TR_ETYPE);
  assert_int_equal(tr_unpack(nil, 0, NULL, "i", &a), TR_EPROTO);
  assert_int_equal(tr_unpack(one_of_two, sizeof one_of_two, NULL, "[i]", &a), TR_ETYPE);
  assert_int_equal(tr_unpack(deep, sizeof deep, &shallow, "[[i]]", &a), TR_ELIMIT);
  assert_int_equal(tr_unpack(two, sizeof two, &tiny, "ii", &a, &b), TR_ELIMIT);
  assert_int_equal(tr_unpack(two, sizeof two, NULL, "i", &a), TR_ETYPE);
}

/* Guards against an unbounded bracket stack in the format scanner. */
static void format_nesting_is_limited_to_32_levels(void **state) {
  (void)state;
  char fmt[80];
  uint8_t buf[80];
  size_t len = 0;
  memset(fmt, '[', 32);
  memset(fmt + 32, ']', 32);
  fmt[64] = '\0';
  assert_int_equal(tr_pack_into(buf, sizeof buf, &len, fmt), 0);
  assert_int_equal(len, 32);
  assert_int_equal(tr_unpack(buf, len, NULL, fmt), 0);
  memset(fmt, '[', 33);
  memset(fmt + 33, ']', 33);
  fmt[66] = '\0';
  assert_int_equal(tr_pack_into(buf, sizeof buf, &len, fmt), TR_EINVAL);
  assert_int_equal(tr_unpack(buf, 32, NULL, fmt), TR_EINVAL);
}

/* Guards against spaces being packed as values or shifting the counts. */
static void spaces_in_a_format_are_ignored(void **state) {
  (void)state;
  uint8_t a[16], b[16];
  size_t la = pack(a, sizeof a, "[is]", (int64_t)3, "z");
  size_t lb = pack(b, sizeof b, "  [ i  s ] ", (int64_t)3, "z");
  assert_int_equal(la, lb);
  assert_memory_equal(a, b, la);
  int64_t i = 0;
  const char *s = NULL;
  size_t n = 0;
  assert_int_equal(tr_unpack(a, la, NULL, " [i s ]  ", &i, &s, &n), 0);
  assert_true(i == 3 && n == 1 && s[0] == 'z');
}

/* Guards against a letter accepting an encoding of another type. */
static void a_value_of_the_wrong_type_is_rejected_for_every_letter(void **state) {
  (void)state;
  static const struct {
    const char *bytes;
    size_t len;
    const char *accepted_by; /* the letters that take this encoding */
  } kinds[] = {
      {"\xc0", 1, "n"},
      {"\xc3", 1, "b"},
      {"\x01", 1, "iu"},
      {"\xff", 1, "i"},
      {"\xcb\0\0\0\0\0\0\0\0", 9, "d"},
      {"\xca\0\0\0\0", 5, "d"},
      {"\xa1z", 2, "s"},
      {"\xd9\x01z", 3, "s"},
      {"\xc4\x01z", 3, "x"},
      {"\x90", 1, "["},
      {"\x80", 1, "{"},
      {"\xd4\x01z", 3, ""},
      {"\xc7\x01\x01z", 4, ""},
  };
  static const char letters[] = "iudbnsx[{";
  for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
    for (const char *l = letters; *l != '\0'; l++) {
      int want = strchr(kinds[k].accepted_by, *l) != NULL ? 0 : TR_ETYPE;
      assert_int_equal(unpack_one(*l, kinds[k].bytes, kinds[k].len), want);
    }
  }
}

/* Guards against arrays and maps read by position without comparing their counts. */
static void a_container_whose_count_differs_from_the_format_is_rejected(void **state) {
  (void)state;
  static const uint8_t one[] = {0x91, 0x01};
  static const uint8_t three[] = {0x93, 0x01, 0x02, 0x03};
  static const uint8_t two_pairs[] = {0x82, 0x01, 0x02, 0x03, 0x04};
  static const uint8_t nested[] = {0x91, 0x92, 0x01, 0x02};
  int64_t a = 0, b = 0, c = 0, d = 0;
  assert_int_equal(tr_unpack(one, sizeof one, NULL, "[ii]", &a, &b), TR_ETYPE);
  assert_int_equal(tr_unpack(three, sizeof three, NULL, "[ii]", &a, &b), TR_ETYPE);
  assert_int_equal(tr_unpack(three, sizeof three, NULL, "[iii]", &a, &b, &c), 0);
  assert_int_equal(tr_unpack(two_pairs, sizeof two_pairs, NULL, "{ii}", &a, &b), TR_ETYPE);
  assert_int_equal(tr_unpack(two_pairs, sizeof two_pairs, NULL, "{iiii}", &a, &b, &c, &d), 0);
  assert_true(a == 1 && b == 2 && c == 3 && d == 4);
  assert_int_equal(tr_unpack(nested, sizeof nested, NULL, "[[i]]", &a), TR_ETYPE);
}

/* Guards against reads past the end of a cut payload (ASan) or a cut accepted as valid. */
static void input_cut_at_every_length_is_rejected_as_truncated(void **state) {
  (void)state;
  static const char fmt[] = "[i u d b n s x {s[ii]} i]";
  char str[40];
  uint8_t bin[300];
  memset(str, 'q', sizeof str - 1);
  str[sizeof str - 1] = '\0';
  memset(bin, 0xab, sizeof bin);
  uint8_t full[512];
  size_t len = pack(full, sizeof full, fmt, (int64_t)INT64_MIN, UINT64_MAX, 3.0, 1, str, bin,
                    sizeof bin, "k", (int64_t)1, (int64_t)-70000, (int64_t)65536);
  int64_t i1, i2, i3, i4;
  uint64_t u;
  double d;
  bool b;
  const char *s, *k;
  const void *x;
  size_t sn, xn, kn;
  for (size_t n = 0; n <= len; n++) {
    uint8_t *cut = malloc(n > 0 ? n : 1); /* exact size, so ASan sees any over-read */
    assert_non_null(cut);
    memcpy(cut, full, n);
    int rc =
        tr_unpack(cut, n, NULL, fmt, &i1, &u, &d, &b, &s, &sn, &x, &xn, &k, &kn, &i2, &i3, &i4);
    assert_int_equal(rc, n < len ? TR_EPROTO : 0);
    free(cut);
  }
  assert_true(i1 == INT64_MIN && u == UINT64_MAX && i3 == -70000 && i4 == 65536);
  assert_true(sn == 39 && xn == sizeof bin && kn == 1);
}

/* Guards against a payload with extra values being taken for the one the format names. */
static void bytes_after_the_formatted_values_are_rejected(void **state) {
  (void)state;
  static const uint8_t two[] = {0x01, 0x02};
  static const uint8_t array_then_nil[] = {0x91, 0x01, 0xc0};
  int64_t a = 0, b = 0;
  assert_int_equal(tr_unpack(two, sizeof two, NULL, "i", &a), TR_ETYPE);
  assert_int_equal(tr_unpack(two, sizeof two, NULL, "ii", &a, &b), 0);
  assert_int_equal(tr_unpack(array_then_nil, sizeof array_then_nil, NULL, "[i]", &a), TR_ETYPE);
  assert_int_equal(tr_unpack(two, sizeof two, NULL, ""), TR_ETYPE);
  assert_int_equal(tr_unpack(NULL, 0, NULL, ""), 0);
}

/* Guards against the reserved byte 0xc1 being read as some type. */
static void reserved_type_byte_c1_is_rejected(void **state) {
  (void)state;
  static const uint8_t alone[] = {0xc1};
  static const uint8_t inside[] = {0x92, 0x01, 0xc1};
  static const char letters[] = "iudbnsx[{";
  for (const char *l = letters; *l != '\0'; l++)
    assert_int_equal(unpack_one(*l, alone, sizeof alone), TR_EPROTO);
  int64_t a = 0, b = 0;
  assert_int_equal(tr_unpack(inside, sizeof inside, NULL, "[ii]", &a, &b), TR_EPROTO);
}

/* Guards against tr_unpack ignoring the caller's limits or the defaults of a zero field. */
static void unpack_enforces_size_depth_and_count_limits(void **state) {
  (void)state;
  uint8_t buf[64];
  int64_t a = 0, b = 0, c = 0, d = 0;
  size_t len = pack(buf, sizeof buf, "[[i]]", (int64_t)1);
  tr_limits_t lim = {.max_depth = 1};
  assert_int_equal(tr_unpack(buf, len, &lim, "[[i]]", &a), TR_ELIMIT);
  lim.max_depth = 2;
  assert_int_equal(tr_unpack(buf, len, &lim, "[[i]]", &a), 0);
  lim.max_size = len - 1;
  assert_int_equal(tr_unpack(buf, len, &lim, "[[i]]", &a), TR_ELIMIT);
  lim.max_size = len;
  assert_int_equal(tr_unpack(buf, len, &lim, "[[i]]", &a), 0);

  len = pack(buf, sizeof buf, "[iii]", (int64_t)1, (int64_t)2, (int64_t)3);
  lim = (tr_limits_t){.max_count = 2};
  assert_int_equal(tr_unpack(buf, len, &lim, "[iii]", &a, &b, &c), TR_ELIMIT);
  lim.max_count = 3;
  assert_int_equal(tr_unpack(buf, len, &lim, "[iii]", &a, &b, &c), 0);
  len = pack(buf, sizeof buf, "{iiii}", (int64_t)1, (int64_t)2, (int64_t)3, (int64_t)4);
  lim.max_count = 1; /* a map's count is its pairs */
  assert_int_equal(tr_unpack(buf, len, &lim, "{iiii}", &a, &b, &c, &d), TR_ELIMIT);
  lim.max_count = 2;
  assert_int_equal(tr_unpack(buf, len, &lim, "{iiii}", &a, &b, &c, &d), 0);

  /* The default size is 16 MiB, also for a limits struct of zeros. */
  size_t big = TR_LIMIT_DEFAULT_SIZE;
  void *out = NULL;
  const void *x = NULL;
  size_t xn = 0;
  uint8_t *bin = calloc(big, 1);
  assert_non_null(bin);
  assert_int_equal(tr_pack(&out, &len, "x", bin, big), 0);
  lim = (tr_limits_t){0};
  assert_int_equal(tr_unpack(out, len, NULL, "x", &x, &xn), TR_ELIMIT);
  assert_int_equal(tr_unpack(out, len, &lim, "x", &x, &xn), TR_ELIMIT);
  lim.max_size = len;
  assert_int_equal(tr_unpack(out, len, &lim, "x", &x, &xn), 0);
  assert_int_equal(xn, big);
  free(out);
  free(bin);
}

/* Guards against a declared length being trusted before it is compared with the buffer. */
static void huge_declared_lengths_in_a_tiny_buffer_are_rejected(void **state) {
  (void)state;
  static const uint8_t str32[] = {0xdb, 0xff, 0xff, 0xff, 0xff, 'a'};
  static const uint8_t str16[] = {0xda, 0xff, 0xff, 'a'};
  static const uint8_t bin32[] = {0xc6, 0xff, 0xff, 0xff, 0xff};
  static const uint8_t bin8[] = {0xc4, 0x02, 0x00};
  static const uint8_t arr32[] = {0xdd, 0xff, 0xff, 0xff, 0xff};
  assert_int_equal(unpack_one('s', str32, sizeof str32), TR_EPROTO);
  assert_int_equal(unpack_one('s', str16, sizeof str16), TR_EPROTO);
  assert_int_equal(unpack_one('x', bin32, sizeof bin32), TR_EPROTO);
  assert_int_equal(unpack_one('x', bin8, sizeof bin8), TR_EPROTO);
  int64_t a = 0;
  assert_int_equal(tr_unpack(arr32, sizeof arr32, NULL, "[i]", &a), TR_ELIMIT);
  tr_limits_t lim = {.max_count = UINT32_MAX};
  assert_int_equal(tr_unpack(arr32, sizeof arr32, &lim, "[i]", &a), TR_ETYPE);
}

/* Guards against strings copied to a temporary (dangling) instead of pointing into data. */
static void strings_and_binaries_point_into_the_payload(void **state) {
  (void)state;
  uint8_t buf[32];
  size_t len = pack(buf, sizeof buf, "sx", "abc", "de", (size_t)2);
  const char *s = NULL;
  const void *x = NULL;
  size_t sn = 0, xn = 0;
  assert_int_equal(tr_unpack(buf, len, NULL, "sx", &s, &sn, &x, &xn), 0);
  assert_ptr_equal(s, (const char *)buf + 1);
  assert_ptr_equal(x, buf + 6);
  assert_true(sn == 3 && xn == 2);
}

/* Guards against NULL arguments being dereferenced instead of reported as misuse. */
static void null_arguments_are_rejected_as_invalid(void **state) {
  (void)state;
  uint8_t buf[16];
  size_t len = 0;
  void *out = NULL;
  assert_int_equal(tr_pack_into(buf, sizeof buf, NULL, "n"), TR_EINVAL);
  assert_int_equal(tr_pack_into(buf, sizeof buf, &len, NULL), TR_EINVAL);
  assert_int_equal(tr_pack_into(NULL, 4, &len, "n"), TR_EINVAL);
  assert_int_equal(tr_pack_into(NULL, 0, &len, "n"), TR_EMSGSIZE);
  assert_int_equal(tr_pack_into(buf, sizeof buf, &len, "s", (const char *)NULL), TR_EINVAL);
  assert_int_equal(tr_pack_into(buf, sizeof buf, &len, "x", (const void *)NULL, (size_t)3),
                   TR_EINVAL);
  assert_int_equal(tr_pack(NULL, &len, "n"), TR_EINVAL);
  assert_int_equal(tr_pack(&out, NULL, "n"), TR_EINVAL);
  assert_int_equal(tr_pack(&out, &len, NULL), TR_EINVAL);
  /* An empty binary needs no pointer. */
  assert_int_equal(tr_pack_into(buf, sizeof buf, &len, "x", (const void *)NULL, (size_t)0), 0);
  assert_int_equal(len, 2);
  assert_memory_equal(buf, "\xc4\x00", 2);

  size_t n = 0;
  const char *s = NULL;
  assert_int_equal(tr_unpack(buf, len, NULL, "x", (const void **)NULL, &n), TR_EINVAL);
  assert_int_equal(tr_unpack(buf, len, NULL, "x", (const void **)&s, (size_t *)NULL), TR_EINVAL);
  assert_int_equal(tr_unpack("\x01", 1, NULL, "i", (int64_t *)NULL), TR_EINVAL);
  int64_t i = 0;
  assert_int_equal(tr_unpack(NULL, 1, NULL, "i", &i), TR_EINVAL);
  assert_int_equal(tr_unpack(buf, len, NULL, NULL), TR_EINVAL);
}

/* Guards against a length above 32 bits being truncated into a short msgpack header. */
static void binary_longer_than_32_bits_is_rejected_before_it_is_read(void **state) {
  (void)state;
  if ((uint64_t)SIZE_MAX <= UINT32_MAX)
    skip();
  uint8_t buf[16];
  size_t len = 0;
  void *out = NULL;
  size_t huge = (size_t)((uint64_t)UINT32_MAX + 1);
  assert_int_equal(tr_pack_into(buf, sizeof buf, &len, "x", (const void *)buf, huge), TR_EINVAL);
  assert_int_equal(tr_pack(&out, &len, "x", (const void *)buf, huge), TR_EINVAL);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(every_letter_round_trips_through_pack_and_unpack),
      cmocka_unit_test(nested_arrays_and_maps_take_their_counts_from_the_format),
      cmocka_unit_test(sixteen_elements_switch_to_a_16_bit_header),
      cmocka_unit_test(integers_round_trip_at_every_encoding_width_boundary),
      cmocka_unit_test(integers_in_every_encoding_are_read_by_i_and_by_u_when_non_negative),
      cmocka_unit_test(i_rejects_a_uint64_above_int64_max),
      cmocka_unit_test(d_reads_float32_and_float64),
      cmocka_unit_test(b_packs_any_nonzero_int_as_true),
      cmocka_unit_test(fixed_buffer_too_small_fails_at_every_capacity_and_exact_fit_succeeds),
      cmocka_unit_test(tr_pack_grows_its_buffer_and_matches_tr_pack_into),
      cmocka_unit_test(malformed_formats_are_rejected_by_pack_and_unpack),
      cmocka_unit_test(a_format_error_after_valid_values_is_still_invalid),
      cmocka_unit_test(a_format_error_wins_over_the_error_that_stopped_the_pass),
      cmocka_unit_test(format_nesting_is_limited_to_32_levels),
      cmocka_unit_test(spaces_in_a_format_are_ignored),
      cmocka_unit_test(a_value_of_the_wrong_type_is_rejected_for_every_letter),
      cmocka_unit_test(a_container_whose_count_differs_from_the_format_is_rejected),
      cmocka_unit_test(input_cut_at_every_length_is_rejected_as_truncated),
      cmocka_unit_test(bytes_after_the_formatted_values_are_rejected),
      cmocka_unit_test(reserved_type_byte_c1_is_rejected),
      cmocka_unit_test(unpack_enforces_size_depth_and_count_limits),
      cmocka_unit_test(huge_declared_lengths_in_a_tiny_buffer_are_rejected),
      cmocka_unit_test(strings_and_binaries_point_into_the_payload),
      cmocka_unit_test(null_arguments_are_rejected_as_invalid),
      cmocka_unit_test(binary_longer_than_32_bits_is_rejected_before_it_is_read),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
