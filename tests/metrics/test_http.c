/* The metrics server's HTTP request heads (metrics/http.h): whole requests whatever the read
 * boundaries, pipelined requests one at a time, keep-alive as HTTP/1.0 and 1.1 say, every
 * malformed or oversized head refused with its status, and the query's decoding. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "metrics/http.h"

/* Feed all of `in` in pieces of `step` bytes (0: at once); returns the status of the first
 * error, or 0 with *n requests seen (their targets joined by " " into targets). */
static int run(const char *in, size_t len, size_t step, int *n, char *targets, size_t cap) {
  static tr_http_t h; /* 8 KiB: not on the stack */
  tr__http_init(&h);
  *n = 0;
  targets[0] = '\0';
  size_t off = 0, end = 0;
  while (off < len) {
    if (end == off)
      end = step && off + step < len ? off + step : len;
    size_t used = tr__http_feed(&h, in + off, end - off);
    off += used;
    if (h.error)
      return h.error;
    if (h.complete) {
      (*n)++;
      snprintf(targets + strlen(targets), cap - strlen(targets), "%s%s %s", *targets ? " " : "",
               h.method == TR_HTTP_GET    ? "GET"
               : h.method == TR_HTTP_HEAD ? "HEAD"
                                          : "OTHER",
               h.url);
      tr__http_next(&h);
    } else if (used == 0 && off < end) {
      fail_msg("the parser took nothing and wants nothing");
    }
  }
  return 0;
}

static int status_of(const char *in) {
  int n;
  char t[256];
  return run(in, strlen(in), 0, &n, t, sizeof t);
}

/* Guards: a request split across reads parsed differently from one read (or lost). */
static void requests_are_the_same_whatever_the_reads(void **state) {
  (void)state;
  const char *in = "\r\nGET /metrics HTTP/1.1\r\nHost: x\r\nAccept: */*\r\n\r\n"
                   "HEAD /?a=1 HTTP/1.1\nHost: x\n\n"
                   "GET /api/console?cmd=stats HTTP/1.0\r\n\r\n";
  size_t len = strlen(in);
  for (size_t step = 0; step <= len; step++) {
    int n;
    char t[256];
    assert_int_equal(run(in, len, step, &n, t, sizeof t), 0);
    assert_int_equal(n, 3);
    assert_string_equal(t, "GET /metrics HEAD /?a=1 GET /api/console?cmd=stats");
  }
}

/* Guards: a pipelined request eaten with the one before it. */
static void a_whole_head_stops_the_parser_until_next(void **state) {
  (void)state;
  static tr_http_t h;
  tr__http_init(&h);
  const char *two = "GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\n\r\n";
  size_t first = strlen("GET /a HTTP/1.1\r\nHost: x\r\n\r\n");
  assert_int_equal(tr__http_feed(&h, two, strlen(two)), first);
  assert_true(h.complete);
  assert_string_equal(h.url, "/a");
  assert_int_equal(tr__http_feed(&h, two + first, strlen(two) - first), 0); /* waits */
  tr__http_next(&h);
  assert_int_equal(tr__http_feed(&h, two + first, strlen(two) - first), strlen(two) - first);
  assert_true(h.complete);
  assert_string_equal(h.url, "/b");
}

static bool keeps(const char *in) {
  static tr_http_t h;
  tr__http_init(&h);
  tr__http_feed(&h, in, strlen(in));
  assert_true(h.complete);
  return h.keep_alive;
}

/* Guards: closing a connection the client wanted kept, or the other way round. */
static void keep_alive_follows_the_version_and_connection(void **state) {
  (void)state;
  assert_true(keeps("GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
  assert_false(keeps("GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"));
  assert_false(keeps("GET / HTTP/1.1\r\nHost: x\r\nConnection: TE, Close\r\n\r\n"));
  assert_false(keeps("GET / HTTP/1.0\r\n\r\n"));
  assert_true(keeps("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"));
}

/* Guards: a malformed or oversized head answered as if it were fine. */
static void bad_heads_get_their_status(void **state) {
  (void)state;
  assert_int_equal(status_of("GET / HTTP/1.1\r\n\r\n"), 400);                       /* no Host */
  assert_int_equal(status_of("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"), 400); /* two */
  assert_int_equal(status_of("GET  / HTTP/1.1\r\nHost: x\r\n\r\n"), 400);
  assert_int_equal(status_of("GET / HTTP/1.1 \r\nHost: x\r\n\r\n"), 400);
  assert_int_equal(status_of("GET http://a/ HTTP/1.1\r\nHost: x\r\n\r\n"), 400); /* proxy form */
  assert_int_equal(status_of("GET / FTP/1.1\r\nHost: x\r\n\r\n"), 400);
  assert_int_equal(status_of("GET / HTTP/2.0\r\nHost: x\r\n\r\n"), 505);
  assert_int_equal(status_of("GET / HTTP/1.1\r\nHost: x\r\n folded\r\n\r\n"), 400);
  assert_int_equal(status_of("GET / HTTP/1.1\r\nHost : x\r\n\r\n"), 400);
  assert_int_equal(status_of("GET / HTTP/1.1\r\nHost: x\r\nX: a\x01b\r\n\r\n"), 400);
  assert_int_equal(status_of("GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\n"), 413);
  assert_int_equal(status_of("GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n"), 0);
  assert_int_equal(status_of("GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 1x\r\n\r\n"), 400);
  assert_int_equal(status_of("GET / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"),
                   413);
  assert_int_equal(status_of("\x01\x02\x03\r\n\r\n"), 400);
  /* Garbage is refused at its first line's end, not after a whole head (or 10 s). */
  assert_int_equal(status_of("\x01\x02\x03\r\n"), 400);
  assert_int_equal(status_of("GET / HTTP/1.1 \n"), 400);
  char *big = malloc(TR_HTTP_HEAD_MAX + 64);
  assert_non_null(big);
  /* A target one byte too long, then a head one byte too long. */
  int n = snprintf(big, TR_HTTP_HEAD_MAX + 64, "GET /");
  memset(big + n, 'a', TR_HTTP_URL_MAX);
  snprintf(big + n + TR_HTTP_URL_MAX, 64, " HTTP/1.1\r\nHost: x\r\n\r\n");
  assert_int_equal(status_of(big), 414);
  n = snprintf(big, TR_HTTP_HEAD_MAX + 64, "GET / HTTP/1.1\r\nHost: x\r\nX: ");
  memset(big + n, 'b', TR_HTTP_HEAD_MAX - (size_t)n);
  snprintf(big + TR_HTTP_HEAD_MAX, 64, "\r\n\r\n");
  assert_int_equal(status_of(big), 431);
  free(big);
}

/* Guards: "get" taken for GET (methods are case-sensitive), a method refused as malformed. */
static void other_methods_parse_as_other(void **state) {
  (void)state;
  static tr_http_t h;
  const char *ins[] = {"POST / HTTP/1.1\r\nHost: x\r\n\r\n", "get / HTTP/1.1\r\nHost: x\r\n\r\n"};
  for (size_t i = 0; i < 2; i++) {
    tr__http_init(&h);
    tr__http_feed(&h, ins[i], strlen(ins[i]));
    assert_true(h.complete);
    assert_int_equal(h.method, TR_HTTP_OTHER);
  }
}

/* Guards: a command decoded wrong, or a NUL smuggled into it. */
static void the_query_is_decoded(void **state) {
  (void)state;
  static tr_http_t h;
  const char *in = "GET /api/console?x=1&cmd=info%20rooms%40n2+now&z HTTP/1.1\r\nHost: x\r\n\r\n";
  tr__http_init(&h);
  tr__http_feed(&h, in, strlen(in));
  char v[64], path[64];
  assert_true(tr__http_path(&h, path, sizeof path));
  assert_string_equal(path, "/api/console");
  assert_true(tr__http_query(&h, "cmd", v, sizeof v));
  assert_string_equal(v, "info rooms@n2 now");
  assert_true(tr__http_query(&h, "x", v, sizeof v));
  assert_string_equal(v, "1");
  assert_false(tr__http_query(&h, "z", v, sizeof v)); /* no value */
  assert_false(tr__http_query(&h, "nope", v, sizeof v));
  const char *bad[] = {"GET /?cmd=a%00b HTTP/1.1\r\nHost: x\r\n\r\n",
                       "GET /?cmd=a%4 HTTP/1.1\r\nHost: x\r\n\r\n",
                       "GET /?cmd=a%zz HTTP/1.1\r\nHost: x\r\n\r\n"};
  for (size_t i = 0; i < 3; i++) {
    tr__http_init(&h);
    tr__http_feed(&h, bad[i], strlen(bad[i]));
    assert_true(h.complete);
    assert_false(tr__http_query(&h, "cmd", v, sizeof v));
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(requests_are_the_same_whatever_the_reads),
      cmocka_unit_test(a_whole_head_stops_the_parser_until_next),
      cmocka_unit_test(keep_alive_follows_the_version_and_connection),
      cmocka_unit_test(bad_heads_get_their_status),
      cmocka_unit_test(other_methods_parse_as_other),
      cmocka_unit_test(the_query_is_decoded),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
