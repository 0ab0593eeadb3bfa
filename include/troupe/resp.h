/* RESP2, the Redis protocol, for actors: reading the commands that the TR_CODEC_RESP codec
 * delivers (net.h) and formatting every RESP2 reply kind, so a server actor never writes
 * protocol by hand.
 *
 * Replies are appended to a tr_resp_buf_t, a growable byte buffer the caller owns; its
 * bytes (data[0..len)) are what tr_conn_write sends. A failed append (out of memory) is
 * remembered in `err`, and every later append returns it without doing anything, so a
 * reply can be built with unchecked calls and checked once at the end. All functions are
 * plain computations: any thread, never block, usable inside handlers. */
#ifndef TROUPE_RESP_H
#define TROUPE_RESP_H

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A reply under construction. Zero-initialise it; free it with tr_resp_buf_free. The
 * caller may read data and len, and may set len to 0 to reuse the memory. */
typedef struct {
  unsigned char *data; /* malloc'd; owned by the buffer */
  size_t len;          /* bytes written */
  size_t cap;          /* bytes allocated */
  int err;             /* 0, or the first error of an append (TR_ENOMEM, TR_EINVAL) */
} tr_resp_buf_t;

/* Free the buffer's memory and zero it (it may be reused). */
TR_API void tr_resp_buf_free(tr_resp_buf_t *b);

/* Each append returns 0 or b->err (sticky, see above). */
/* "+text\r\n". text must not hold "\r" or "\n" (TR_EINVAL). */
TR_API int tr_resp_simple(tr_resp_buf_t *b, const char *text);
/* "-text\r\n": text starts with the error code, e.g. "ERR unknown command". No "\r", "\n". */
TR_API int tr_resp_error(tr_resp_buf_t *b, const char *text);
/* ":v\r\n". */
TR_API int tr_resp_integer(tr_resp_buf_t *b, int64_t v);
/* "$len\r\n" data "\r\n": any bytes. */
TR_API int tr_resp_bulk(tr_resp_buf_t *b, const void *data, size_t len);
/* "$-1\r\n", the null bulk string. */
TR_API int tr_resp_null(tr_resp_buf_t *b);
/* "*n\r\n": an array header; the caller appends the n elements after it. */
TR_API int tr_resp_array(tr_resp_buf_t *b, size_t n);
/* "*-1\r\n", the null array. */
TR_API int tr_resp_null_array(tr_resp_buf_t *b);
/* Raw bytes, already in RESP (a reply prepared by someone else). */
TR_API int tr_resp_raw(tr_resp_buf_t *b, const void *data, size_t len);

/* One argument of a command: it points into the message payload it was read from. */
typedef struct {
  const void *data;
  size_t len;
} tr_resp_arg_t;

/* Read the payload of a TR_ATOM_TCP_DATA message of a TR_CODEC_RESP connection (net.h).
 * For a command (a msgpack array of bin) stores its argument count in *argc and the first
 * min(argc, cap) arguments in argv[] (call again with a bigger argv for the rest) and
 * returns 0. For the codec's protocol-error notice (a msgpack str) stores 1 in *argc and
 * the error text in argv[0] (when cap >= 1) and returns TR_EPROTO: reply "-ERR " + text,
 * then close the connection. TR_ETYPE for any other payload. */
TR_API int tr_resp_argv(const void *data, size_t len, tr_resp_arg_t *argv, size_t cap,
                        size_t *argc);

#ifdef __cplusplus
}
#endif
#endif
