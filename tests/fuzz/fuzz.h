/* What the fuzz targets share (tests/fuzz/, one libFuzzer target per file): cutting an input
 * into its option bytes and a body split at a fuzzer-chosen offset, a digest of what a
 * decoder hands out (so the same bytes fed in different pieces can be compared), and a check
 * that aborts with a message, which libFuzzer reports as a crash with the input kept.
 *
 * Layout of a streaming target's input: two bytes of split point (big-endian, taken modulo
 * the body's length + 1), then the target's option bytes, then the body. So a mutation of
 * the first two bytes moves the cut, and the rest of the input is the stream itself. */
#ifndef TR_TESTS_FUZZ_FUZZ_H
#define TR_TESTS_FUZZ_FUZZ_H

#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>

/* Bytes of split point at the front of a streaming target's input. */
#define FUZZ_SPLIT_BYTES 2u

/* An input cut into its parts: opt[0..nopt) are the option bytes (zeros past the input's
 * end), body[0..len) the stream, which is fed as body[0..cut) and then body[cut..len). */
typedef struct {
  uint8_t opt[8];
  const uint8_t *body;
  size_t len;
  size_t cut;
} fuzz_input_t;

static inline fuzz_input_t fuzz_input(const uint8_t *data, size_t size, size_t nopt) {
  fuzz_input_t in = {{0}, NULL, 0, 0};
  size_t head = FUZZ_SPLIT_BYTES + nopt;
  unsigned split = size >= 2 ? (unsigned)data[0] << 8 | data[1] : size ? data[0] : 0;
  for (size_t i = 0; i < nopt && i < sizeof in.opt && FUZZ_SPLIT_BYTES + i < size; i++)
    in.opt[i] = data[FUZZ_SPLIT_BYTES + i];
  in.body = size > head ? data + head : data + size;
  in.len = size > head ? size - head : 0;
  in.cut = split % (in.len + 1);
  return in;
}

/* FNV-1a over everything a decoder produced, in order. */
typedef struct {
  uint64_t h;
  uint64_t units;
} fuzz_digest_t;

static inline fuzz_digest_t fuzz_digest(void) {
  fuzz_digest_t d = {UINT64_C(14695981039346656037), 0};
  return d;
}

static inline void fuzz_digest_bytes(fuzz_digest_t *d, const void *p, size_t n) {
  const uint8_t *b = p;
  for (size_t i = 0; i < n; i++)
    d->h = (d->h ^ b[i]) * UINT64_C(1099511628211);
}

/* One unit: its length first, so "ab" + "c" differs from "a" + "bc". */
static inline void fuzz_digest_unit(fuzz_digest_t *d, const void *p, size_t n) {
  uint64_t len = n;
  fuzz_digest_bytes(d, &len, sizeof len);
  fuzz_digest_bytes(d, p, n);
  d->units++;
}

static inline void fuzz_digest_int(fuzz_digest_t *d, long long v) {
  fuzz_digest_bytes(d, &v, sizeof v);
}

/* A property the decoder broke: say which, and abort (libFuzzer keeps the input). */
#define FUZZ_CHECK(cond, ...)                                                                      \
  do {                                                                                             \
    if (!(cond)) {                                                                                 \
      fprintf(stderr, "fuzz: %s:%d: check failed: %s: ", __FILE__, __LINE__, #cond);               \
      fprintf(stderr, __VA_ARGS__);                                                                \
      fputc('\n', stderr);                                                                         \
      abort();                                                                                     \
    }                                                                                              \
  } while (0)

/* connect(2) that a signal does not fail: libFuzzer's -timeout is a SIGALRM every second,
 * which interrupts a blocking connect in the fuzzing thread; the connection goes on, so wait
 * for it and read its result. Returns 0 or -1 with errno set. */
static inline int fuzz_connect(int fd, const struct sockaddr *sa, socklen_t len) {
  if (connect(fd, sa, len) == 0)
    return 0;
  if (errno != EINTR)
    return -1;
  struct pollfd pf = {.fd = fd, .events = POLLOUT};
  while (poll(&pf, 1, -1) < 0)
    if (errno != EINTR)
      return -1;
  int err = 0;
  socklen_t elen = sizeof err;
  if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen) != 0)
    return -1;
  errno = err;
  return err ? -1 : 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

#endif
