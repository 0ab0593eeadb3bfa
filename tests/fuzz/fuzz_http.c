/* The metrics server's HTTP request heads (metrics/http.c) on arbitrary bytes: each request
 * it completes has a target of at most TR_HTTP_URL_MAX bytes that starts with "/", every
 * error is one of the statuses it may answer, it never takes more than it is given, and the
 * same stream gives the same requests and the same verdict however it is cut into reads
 * (whole, at a fuzzer-chosen offset, a byte at a time). The query decoder runs on every
 * target it accepts.
 *
 * Input: the split point (fuzz.h), then the stream. */
#include <string.h>

#include "fuzz.h"
#include "metrics/http.h"

static tr_http_t h; /* 8 KiB of head: not on the stack */

/* Feed body[from..to) in pieces of at most `step` bytes (0: at once), handling each
 * completed request; false once the parser has refused the stream. */
static bool feed(fuzz_digest_t *d, const uint8_t *body, size_t from, size_t to, size_t step) {
  size_t off = from;
  while (off < to) {
    size_t end = step && off + step < to ? off + step : to, avail = end - off;
    size_t used = tr__http_feed(&h, (const char *)body + off, avail);
    FUZZ_CHECK(used <= avail, "took %zu of %zu bytes", used, avail);
    FUZZ_CHECK(used == avail || h.complete || h.error,
               "stopped at %zu with no request and no "
               "error",
               off + used);
    off += used;
    if (h.error) {
      FUZZ_CHECK(h.error == 400 || h.error == 413 || h.error == 414 || h.error == 431 ||
                     h.error == 505,
                 "status %d", h.error);
      fuzz_digest_int(d, h.error);
      return false;
    }
    if (h.complete) {
      size_t n = strlen(h.url);
      FUZZ_CHECK(n > 0 && n <= TR_HTTP_URL_MAX && h.url[0] == '/', "a target of %zu bytes", n);
      char path[TR_HTTP_URL_MAX + 1], cmd[512];
      FUZZ_CHECK(tr__http_path(&h, path, sizeof path), "the path does not fit");
      if (tr__http_query(&h, "cmd", cmd, sizeof cmd))
        FUZZ_CHECK(strlen(cmd) < sizeof cmd, "the query value overran");
      fuzz_digest_unit(d, h.url, n);
      fuzz_digest_int(d, h.method * 2 + h.keep_alive);
      tr__http_next(&h);
    }
  }
  return true;
}

static fuzz_digest_t run(const fuzz_input_t *in, int how) {
  fuzz_digest_t d = fuzz_digest();
  tr__http_init(&h);
  if (how == 0)
    feed(&d, in->body, 0, in->len, 0);
  else if (how == 1)
    (void)(feed(&d, in->body, 0, in->cut, 0) && feed(&d, in->body, in->cut, in->len, 0));
  else
    feed(&d, in->body, 0, in->len, 1);
  fuzz_digest_int(&d, h.error);
  return d;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  fuzz_input_t in = fuzz_input(data, size, 0);
  fuzz_digest_t whole = run(&in, 0), cut = run(&in, 1), bytes = run(&in, 2);
  FUZZ_CHECK(cut.h == whole.h && cut.units == whole.units, "cut at %zu differs", in.cut);
  FUZZ_CHECK(bytes.h == whole.h && bytes.units == whole.units, "a byte at a time differs");
  return 0;
}
