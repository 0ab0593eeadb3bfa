/* Tests of the gate in front of untrusted msgpack: tr_msgpack_check accepts every valid
 * encoding (ext included) and rejects cut, trailing, reserved and over-limit bytes without
 * reading past the buffer or allocating; tr_msgpack_parse hands exactly the checked values
 * to msgpack-c and returns an object that lives in the caller's zone. A seeded fuzz loop
 * runs random and mutated bytes through both and through tr_unpack; run it under ASan. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "mailbox/pack_internal.h"
#include "troupe/error.h"
#include "troupe/msg.h"

/* Random byte strings the fuzz loop tries; the seed is fixed, so a failure replays. */
#define FUZZ_ROUNDS 200000
#define FUZZ_SEED 0x74726f757065ull

typedef struct {
  const char *bytes;
  size_t len;
} enc_t;

#define ENC(s)                                                                                     \
  { s, sizeof s - 1 }

/* One valid encoding of every msgpack type and width, ext included. */
static const enc_t kinds[] = {
    ENC("\xc0"),
    ENC("\xc2"),
    ENC("\xc3"),
    ENC("\x00"),
    ENC("\x7f"),
    ENC("\xe0"),
    ENC("\xff"),
    ENC("\xcc\xff"),
    ENC("\xcd\xff\xff"),
    ENC("\xce\x01\x02\x03\x04"),
    ENC("\xcf\x01\x02\x03\x04\x05\x06\x07\x08"),
    ENC("\xd0\x80"),
    ENC("\xd1\x80\x00"),
    ENC("\xd2\x80\x00\x00\x00"),
    ENC("\xd3\x80\x00\x00\x00\x00\x00\x00\x00"),
    ENC("\xca\x3f\x80\x00\x00"),
    ENC("\xcb\x3f\xf0\x00\x00\x00\x00\x00\x00"),
    ENC("\xa0"),
    ENC("\xa3pqr"),
    ENC("\xd9\x01p"),
    ENC("\xda\x00\x01p"),
    ENC("\xdb\x00\x00\x00\x01p"),
    ENC("\xc4\x00"),
    ENC("\xc5\x00\x01p"),
    ENC("\xc6\x00\x00\x00\x01p"),
    ENC("\xd4\x01p"),
    ENC("\xd5\x01pq"),
    ENC("\xd6\x01pqrs"),
    ENC("\xd7\x01pqrstugh"),
    ENC("\xd8\x01pqrstughijklmnop"),
    ENC("\xc7\x02\x05pq"),
    ENC("\xc8\x00\x01\x05p"),
    ENC("\xc9\x00\x00\x00\x01\x05p"),
    ENC("\x90"),
    ENC("\x91\xc0"),
    ENC("\xdc\x00\x01\xc0"),
    ENC("\xdd\x00\x00\x00\x01\xc0"),
    ENC("\x80"),
    ENC("\x81\xc0\xc0"),
    ENC("\xde\x00\x01\xc0\xc0"),
    ENC("\xdf\x00\x00\x00\x01\xc0\xc0"),
};

static int zone_setup(void **state) {
  *state = msgpack_zone_new(MSGPACK_ZONE_CHUNK_SIZE);
  return *state == NULL ? -1 : 0;
}

static int zone_teardown(void **state) {
  msgpack_zone_free(*state);
  return 0;
}

/* A heap copy of exactly n bytes, so that ASan reports any read past them. */
static uint8_t *exact(const void *data, size_t n) {
  uint8_t *p = malloc(n > 0 ? n : 1);
  assert_non_null(p);
  if (n > 0)
    memcpy(p, data, n);
  return p;
}

/* Write `depth` nested one-element arrays around a fixint into buf; returns the length. */
static size_t nest(uint8_t *buf, size_t depth) {
  memset(buf, 0x91, depth);
  buf[depth] = 0x01;
  return depth + 1;
}

/* Guards against a misread width or ext length, or a cut value that still passes. */
static void every_kind_of_value_including_ext_is_accepted_and_every_cut_is_rejected(void **state) {
  msgpack_zone *zone = *state;
  for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
    for (size_t n = 0; n <= kinds[k].len; n++) {
      uint8_t *buf = exact(kinds[k].bytes, n);
      int want = n < kinds[k].len ? TR_EPROTO : 0;
      assert_int_equal(tr_msgpack_check(buf, n, NULL), want);
      msgpack_object obj;
      assert_int_equal(tr_msgpack_parse(buf, n, NULL, zone, &obj), want);
      free(buf);
    }
  }
}

/* Guards against a cut inside a container being missed because the elements are counted
 * wrongly (the whole list of kinds inside one array32). */
static void a_container_cut_at_every_length_is_rejected_as_truncated(void **state) {
  (void)state;
  uint8_t all[512];
  size_t count = sizeof kinds / sizeof kinds[0];
  size_t len = 5;
  memcpy(all, "\xdd\x00\x00\x00", 4);
  all[4] = (uint8_t)count;
  for (size_t k = 0; k < count; k++) {
    memcpy(all + len, kinds[k].bytes, kinds[k].len);
    len += kinds[k].len;
  }
  for (size_t n = 0; n <= len; n++) {
    uint8_t *buf = exact(all, n);
    assert_int_equal(tr_msgpack_check(buf, n, NULL), n < len ? TR_EPROTO : 0);
    free(buf);
  }
}

/* Guards against accepting a payload with more than one value, or none. */
static void trailing_bytes_and_empty_input_are_rejected(void **state) {
  (void)state;
  assert_int_equal(tr_msgpack_check("\x01\x02", 2, NULL), TR_EPROTO);
  assert_int_equal(tr_msgpack_check("\x91\x01\xc0", 3, NULL), TR_EPROTO);
  assert_int_equal(tr_msgpack_check("\x91\x01", 2, NULL), 0);
  assert_int_equal(tr_msgpack_check("", 0, NULL), TR_EPROTO);
  assert_int_equal(tr_msgpack_check(NULL, 0, NULL), TR_EPROTO);
}

/* Guards against the reserved type byte 0xc1 being skipped as some other type. */
static void reserved_byte_c1_is_rejected_anywhere(void **state) {
  msgpack_zone *zone = *state;
  static const enc_t bad[] = {ENC("\xc1"), ENC("\x91\xc1"), ENC("\x81\xc1\x01"),
                              ENC("\x81\x01\xc1"), ENC("\x92\x91\x01\xc1")};
  for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
    msgpack_object obj;
    assert_int_equal(tr_msgpack_check(bad[k].bytes, bad[k].len, NULL), TR_EPROTO);
    assert_int_equal(tr_msgpack_parse(bad[k].bytes, bad[k].len, NULL, zone, &obj), TR_EPROTO);
  }
}

/* Guards against an off-by-one depth limit, or empty containers escaping it. */
static void nesting_deeper_than_max_depth_is_rejected(void **state) {
  (void)state;
  uint8_t buf[64];
  static const uint32_t depths[] = {1, 5, 31};
  for (size_t k = 0; k < sizeof depths / sizeof depths[0]; k++) {
    tr_limits_t lim = {.max_depth = depths[k]};
    assert_int_equal(tr_msgpack_check(buf, nest(buf, depths[k]), &lim), 0);
    assert_int_equal(tr_msgpack_check(buf, nest(buf, depths[k] + 1), &lim), TR_ELIMIT);
    /* An empty array at the bottom is a level too. */
    memset(buf, 0x91, depths[k]);
    buf[depths[k]] = 0x90;
    assert_int_equal(tr_msgpack_check(buf, depths[k] + 1, &lim), TR_ELIMIT);
  }
  /* Maps nest as arrays do: {1: {1: 1}} is two levels. */
  tr_limits_t two = {.max_depth = 2};
  assert_int_equal(tr_msgpack_check("\x81\x01\x81\x01\x01", 5, &two), 0);
  assert_int_equal(tr_msgpack_check("\x81\x01\x81\x01\x81\x01\x01", 7, &two), TR_ELIMIT);
  /* The default, from NULL or from a zero field, is 32. */
  tr_limits_t zero = {0};
  assert_int_equal(tr_msgpack_check(buf, nest(buf, 32), NULL), 0);
  assert_int_equal(tr_msgpack_check(buf, nest(buf, 32), &zero), 0);
  assert_int_equal(tr_msgpack_check(buf, nest(buf, 33), NULL), TR_ELIMIT);
  assert_int_equal(tr_msgpack_check(buf, nest(buf, 33), &zero), TR_ELIMIT);
}

/* Guards against the walker's fixed stack of open containers overflowing when the caller
 * asks for more depth than it holds (ASan reports the overflow). */
static void a_max_depth_beyond_the_walkers_stack_is_capped_not_overflowed(void **state) {
  (void)state;
  enum { DEEP = 100000 };
  uint8_t *buf = malloc(DEEP + 1);
  assert_non_null(buf);
  tr_limits_t lim = {.max_depth = UINT32_MAX};
  assert_int_equal(tr_msgpack_check(buf, nest(buf, TR__CHECK_MAX_DEPTH), &lim), 0);
  assert_int_equal(tr_msgpack_check(buf, nest(buf, TR__CHECK_MAX_DEPTH + 1), &lim), TR_ELIMIT);
  assert_int_equal(tr_msgpack_check(buf, nest(buf, DEEP), &lim), TR_ELIMIT);
  free(buf);
}

/* Guards against an unbounded container count, and maps counted by elements, not pairs. */
static void containers_over_max_count_are_rejected(void **state) {
  (void)state;
  tr_limits_t lim = {.max_count = 3};
  assert_int_equal(tr_msgpack_check("\x93\x01\x02\x03", 4, &lim), 0);
  assert_int_equal(tr_msgpack_check("\x94\x01\x02\x03\x04", 5, &lim), TR_ELIMIT);
  assert_int_equal(tr_msgpack_check("\x83\x01\x01\x02\x02\x03\x03", 7, &lim), 0);
  assert_int_equal(tr_msgpack_check("\x84\x01\x01\x02\x02\x03\x03\x04\x04", 9, &lim), TR_ELIMIT);

  /* The default is 65536 elements. */
  size_t len = 5 + TR_LIMIT_DEFAULT_COUNT + 1;
  uint8_t *buf = malloc(len);
  assert_non_null(buf);
  memset(buf, 0xc0, len);
  memcpy(buf, "\xdd\x00\x01\x00\x00", 5);
  assert_int_equal(tr_msgpack_check(buf, len - 1, NULL), 0);
  memcpy(buf, "\xdd\x00\x01\x00\x01", 5);
  assert_int_equal(tr_msgpack_check(buf, len, NULL), TR_ELIMIT);
  free(buf);
}

/* Guards against the size limit being ignored, or off by one. */
static void values_over_max_size_are_rejected(void **state) {
  (void)state;
  static const char str[] = "\xaaghijklmnop";
  tr_limits_t lim = {.max_size = sizeof str - 2};
  assert_int_equal(tr_msgpack_check(str, sizeof str - 1, &lim), TR_ELIMIT);
  lim.max_size = sizeof str - 1;
  assert_int_equal(tr_msgpack_check(str, sizeof str - 1, &lim), 0);
}

/* Guards against the amplification attack: a 5-byte header claiming 4 billion elements must
 * not reach msgpack-c, which would allocate them all before reading one. */
static void array32_header_with_huge_count_is_rejected_without_allocating(void **state) {
  msgpack_zone *zone = *state;
  static const enc_t huge[] = {ENC("\xdd\xff\xff\xff\xff"), ENC("\xdf\xff\xff\xff\xff"),
                               ENC("\x91\xdd\xff\xff\xff\xff\xc0\xc0"),
                               ENC("\xdd\x00\x00\x00\x03\x01\x01"),
                               ENC("\xde\x00\x03\x01\x01\x01\x01\x01")};
  tr_limits_t any = {.max_count = UINT32_MAX};
  assert_int_equal(tr_msgpack_check(huge[0].bytes, huge[0].len, NULL), TR_ELIMIT);
  for (size_t k = 0; k < sizeof huge / sizeof huge[0]; k++) {
    size_t free_before = zone->chunk_list.free;
    msgpack_zone_chunk *head_before = zone->chunk_list.head;
    msgpack_object obj;
    assert_int_equal(tr_msgpack_check(huge[k].bytes, huge[k].len, &any), TR_EPROTO);
    assert_int_equal(tr_msgpack_parse(huge[k].bytes, huge[k].len, &any, zone, &obj), TR_EPROTO);
    assert_int_equal(zone->chunk_list.free, free_before);
    assert_ptr_equal(zone->chunk_list.head, head_before);
  }
}

/* Guards against a container count trusted until the bytes run out: a count larger than
 * the bytes left (two per map pair) is refused at its header, before any element is read;
 * here the element would otherwise break the depth limit first. */
static void a_count_beyond_the_remaining_bytes_is_refused_at_its_header(void **state) {
  (void)state;
  tr_limits_t lim = {.max_depth = 1, .max_count = UINT32_MAX};
  assert_int_equal(tr_msgpack_check("\xdd\x00\x00\x00\x05\x91\x01", 7, &lim), TR_EPROTO);
  assert_int_equal(tr_msgpack_check("\xdd\x00\x00\x00\x01\x91\x01", 7, &lim), TR_ELIMIT);
  assert_int_equal(tr_msgpack_check("\xde\x00\x02\x01\x91\x01", 6, &lim), TR_EPROTO);
  assert_int_equal(tr_msgpack_check("\xde\x00\x01\x01\x91\x01", 6, &lim), TR_ELIMIT);
}

/* Guards against a declared str/bin/ext length being trusted over the buffer's length. */
static void huge_declared_str_bin_and_ext_lengths_in_a_tiny_buffer_are_rejected(void **state) {
  msgpack_zone *zone = *state;
  static const enc_t huge[] = {
      ENC("\xdb\xff\xff\xff\xffp"), ENC("\xda\xff\xffp"), ENC("\xd9\x02p"),
      ENC("\xc6\xff\xff\xff\xff"),  ENC("\xc5\xff\xff"),  ENC("\xc9\xff\xff\xff\xff\x01"),
      ENC("\xc7\x01\x01"),          ENC("\xd8\x01pqr"),   ENC("\x92\xdb\x7f\xff\xff\xff\x01"),
  };
  tr_limits_t any = {.max_size = SIZE_MAX};
  for (size_t k = 0; k < sizeof huge / sizeof huge[0]; k++) {
    msgpack_object obj;
    assert_int_equal(tr_msgpack_check(huge[k].bytes, huge[k].len, &any), TR_EPROTO);
    assert_int_equal(tr_msgpack_parse(huge[k].bytes, huge[k].len, NULL, zone, &obj), TR_EPROTO);
  }
}

/* Guards against NULL pointers being dereferenced instead of reported as misuse. */
static void invalid_arguments_are_rejected(void **state) {
  msgpack_zone *zone = *state;
  msgpack_object obj;
  assert_int_equal(tr_msgpack_check(NULL, 1, NULL), TR_EINVAL);
  assert_int_equal(tr_msgpack_parse(NULL, 1, NULL, zone, &obj), TR_EINVAL);
  assert_int_equal(tr_msgpack_parse("\x01", 1, NULL, NULL, &obj), TR_EINVAL);
  assert_int_equal(tr_msgpack_parse("\x01", 1, NULL, zone, NULL), TR_EINVAL);
}

/* Guards against parse returning something other than the value the bytes hold. */
static void parse_builds_the_msgpack_object_the_bytes_describe(void **state) {
  msgpack_zone *zone = *state;
  uint8_t buf[64];
  size_t len = 0;
  assert_int_equal(tr_pack_into(buf, sizeof buf, &len, "{s[iu] sd sx sb sn}", "a", (int64_t)-3,
                                (uint64_t)300, "f", 2.5, "x", "\x00\x01", (size_t)2, "t", 1, "z"),
                   0);
  msgpack_object o;
  assert_int_equal(tr_msgpack_parse(buf, len, NULL, zone, &o), 0);
  assert_int_equal(o.type, MSGPACK_OBJECT_MAP);
  assert_int_equal(o.via.map.size, 5);
  msgpack_object_kv *kv = o.via.map.ptr;
  static const char keys[] = "afxtz";
  for (size_t k = 0; k < 5; k++) {
    assert_int_equal(kv[k].key.type, MSGPACK_OBJECT_STR);
    assert_int_equal(kv[k].key.via.str.size, 1);
    assert_int_equal(kv[k].key.via.str.ptr[0], keys[k]);
  }
  msgpack_object arr = kv[0].val;
  assert_int_equal(arr.type, MSGPACK_OBJECT_ARRAY);
  assert_int_equal(arr.via.array.size, 2);
  assert_int_equal(arr.via.array.ptr[0].type, MSGPACK_OBJECT_NEGATIVE_INTEGER);
  assert_true(arr.via.array.ptr[0].via.i64 == -3);
  assert_int_equal(arr.via.array.ptr[1].type, MSGPACK_OBJECT_POSITIVE_INTEGER);
  assert_true(arr.via.array.ptr[1].via.u64 == 300);
  assert_int_equal(kv[1].val.type, MSGPACK_OBJECT_FLOAT64);
  assert_true(kv[1].val.via.f64 == 2.5);
  assert_int_equal(kv[2].val.type, MSGPACK_OBJECT_BIN);
  assert_int_equal(kv[2].val.via.bin.size, 2);
  assert_memory_equal(kv[2].val.via.bin.ptr, "\x00\x01", 2);
  assert_int_equal(kv[3].val.type, MSGPACK_OBJECT_BOOLEAN);
  assert_true(kv[3].val.via.boolean);
  assert_int_equal(kv[4].val.type, MSGPACK_OBJECT_NIL);
}

/* Guards against msgpack-c's habit of pointing strings into its input: the contract says
 * the object lives in the zone, so the input may be freed right after the call. */
static void parsed_strings_live_in_the_zone_not_in_the_input(void **state) {
  msgpack_zone *zone = *state;
  uint8_t *buf = malloc(64);
  assert_non_null(buf);
  size_t len = 0;
  assert_int_equal(tr_pack_into(buf, 64, &len, "[sx]", "hello", "bin", (size_t)3), 0);
  msgpack_object o;
  assert_int_equal(tr_msgpack_parse(buf, len, NULL, zone, &o), 0);
  memset(buf, 0, len);
  free(buf); /* ASan reports a use after free if the object still points here */
  assert_int_equal(o.via.array.ptr[0].via.str.size, 5);
  assert_memory_equal(o.via.array.ptr[0].via.str.ptr, "hello", 5);
  assert_memory_equal(o.via.array.ptr[1].via.bin.ptr, "bin", 3);
}

/* Guards against deep input that check allows but msgpack-c's 32-level stack refuses being
 * reported as TR_ENOMEM (it is a limit, not a shortage of memory). */
static void parse_reports_nesting_msgpack_c_cannot_hold_as_a_limit(void **state) {
  msgpack_zone *zone = *state;
  uint8_t buf[64];
  tr_limits_t lim = {.max_depth = 100};
  msgpack_object o;
  assert_int_equal(tr_msgpack_check(buf, nest(buf, 33), &lim), 0);
  assert_int_equal(tr_msgpack_parse(buf, nest(buf, 33), &lim, zone, &o), TR_ELIMIT);
  assert_int_equal(tr_msgpack_parse(buf, nest(buf, 32), &lim, zone, &o), 0);
  for (int k = 0; k < 32; k++) {
    assert_int_equal(o.type, MSGPACK_OBJECT_ARRAY);
    assert_int_equal(o.via.array.size, 1);
    o = o.via.array.ptr[0];
  }
  assert_int_equal(o.type, MSGPACK_OBJECT_POSITIVE_INTEGER);
  assert_true(o.via.u64 == 1);
}

/* xorshift64*: small, fast and reproducible from its seed. */
static uint64_t rnd(uint64_t *s) {
  *s ^= *s >> 12;
  *s ^= *s << 25;
  *s ^= *s >> 27;
  return *s * 0x2545f4914f6cdd1dull;
}

/* Run data through tr_unpack with a few formats; each must give a defined answer, and a
 * success means one whole value, so tr_msgpack_check must agree. Returns the successes. */
static size_t fuzz_unpack(const uint8_t *data, size_t len, const char *seed_fmt) {
  int64_t i1, i2, i3, i4;
  uint64_t u;
  double d;
  bool b;
  const char *s, *k;
  const void *x;
  size_t sn, xn, kn;
  int rc[4];
  rc[0] = tr_unpack(data, len, NULL, "i", &i1);
  rc[1] = tr_unpack(data, len, NULL, "[s x]", &s, &sn, &x, &xn);
  rc[2] = tr_unpack(data, len, NULL, "{s i}", &s, &sn, &i1);
  rc[3] = tr_unpack(data, len, NULL, seed_fmt, &i1, &u, &d, &b, &s, &sn, &x, &xn, &k, &kn, &i2, &i3,
                    &i4);
  size_t ok = 0;
  for (size_t n = 0; n < 4; n++) {
    assert_true(rc[n] == 0 || rc[n] == TR_ETYPE || rc[n] == TR_EPROTO || rc[n] == TR_ELIMIT);
    if (rc[n] == 0) {
      assert_int_equal(tr_msgpack_check(data, len, NULL), 0);
      ok++;
    }
  }
  return ok;
}

/* Guards against any crash, over-read (ASan) or undefined answer on hostile bytes, and
 * against check passing bytes that msgpack-c then fails to parse. */
static void random_bytes_never_crash_and_check_agrees_with_msgpack_c(void **state) {
  msgpack_zone *zone = *state;
  static const char seed_fmt[] = "[i u d b n s x {s[ii]} i]";
  uint8_t seed[128];
  size_t seed_len = 0;
  assert_int_equal(tr_pack_into(seed, sizeof seed, &seed_len, seed_fmt, (int64_t)-70000,
                                (uint64_t)1 << 40, 0.5, 1, "text", "\x01\x02\x03", (size_t)3, "k",
                                (int64_t)1, (int64_t)300, (int64_t)-1),
                   0);
  static const uint8_t tricky[] = {0xc1, 0xdd, 0xdf, 0xdb, 0xc6, 0xc9, 0xff, 0x00, 0x91, 0x81};
  uint64_t rs = FUZZ_SEED;
  print_message("fuzz seed %#llx, %d rounds\n", (unsigned long long)rs, FUZZ_ROUNDS);
  size_t valid = 0, unpacked = 0;
  for (int round = 0; round < FUZZ_ROUNDS; round++) {
    uint8_t tmp[160];
    size_t len;
    if (round % 2 == 0) { /* random bytes */
      len = rnd(&rs) % 48;
      for (size_t k = 0; k < len; k++)
        tmp[k] = (uint8_t)rnd(&rs);
    } else { /* the seed message with a few bytes changed and maybe cut */
      len = seed_len;
      memcpy(tmp, seed, len);
      for (uint64_t m = rnd(&rs) % 4 + 1; m > 0; m--) {
        uint64_t r = rnd(&rs);
        tmp[r % len] = (r >> 32) % 2 ? (uint8_t)(r >> 40) : tricky[(r >> 40) % sizeof tricky];
      }
      if (rnd(&rs) % 4 == 0)
        len = rnd(&rs) % len;
    }
    uint8_t *buf = exact(tmp, len);
    int rc = tr_msgpack_check(buf, len, NULL);
    assert_true(rc == 0 || rc == TR_EPROTO || rc == TR_ELIMIT);
    if (rc == 0) {
      msgpack_object o;
      assert_int_equal(tr_msgpack_parse(buf, len, NULL, zone, &o), 0);
      msgpack_zone_clear(zone);
      valid++;
    }
    unpacked += fuzz_unpack(buf, len, seed_fmt);
    free(buf);
  }
  print_message("%zu passed the check, %zu unpacks succeeded\n", valid, unpacked);
  /* The loop must have reached the parser and the unpacker's success paths often, or it
   * tested little. */
  assert_true(valid > FUZZ_ROUNDS / 100);
  assert_true(unpacked > FUZZ_ROUNDS / 100);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(
          every_kind_of_value_including_ext_is_accepted_and_every_cut_is_rejected, zone_setup,
          zone_teardown),
      cmocka_unit_test(a_container_cut_at_every_length_is_rejected_as_truncated),
      cmocka_unit_test(trailing_bytes_and_empty_input_are_rejected),
      cmocka_unit_test_setup_teardown(reserved_byte_c1_is_rejected_anywhere, zone_setup,
                                      zone_teardown),
      cmocka_unit_test(nesting_deeper_than_max_depth_is_rejected),
      cmocka_unit_test(a_max_depth_beyond_the_walkers_stack_is_capped_not_overflowed),
      cmocka_unit_test(containers_over_max_count_are_rejected),
      cmocka_unit_test(values_over_max_size_are_rejected),
      cmocka_unit_test_setup_teardown(array32_header_with_huge_count_is_rejected_without_allocating,
                                      zone_setup, zone_teardown),
      cmocka_unit_test(a_count_beyond_the_remaining_bytes_is_refused_at_its_header),
      cmocka_unit_test_setup_teardown(
          huge_declared_str_bin_and_ext_lengths_in_a_tiny_buffer_are_rejected, zone_setup,
          zone_teardown),
      cmocka_unit_test_setup_teardown(invalid_arguments_are_rejected, zone_setup, zone_teardown),
      cmocka_unit_test_setup_teardown(parse_builds_the_msgpack_object_the_bytes_describe,
                                      zone_setup, zone_teardown),
      cmocka_unit_test_setup_teardown(parsed_strings_live_in_the_zone_not_in_the_input, zone_setup,
                                      zone_teardown),
      cmocka_unit_test_setup_teardown(parse_reports_nesting_msgpack_c_cannot_hold_as_a_limit,
                                      zone_setup, zone_teardown),
      cmocka_unit_test_setup_teardown(random_bytes_never_crash_and_check_agrees_with_msgpack_c,
                                      zone_setup, zone_teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
