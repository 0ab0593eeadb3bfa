/* RESP, the Redis protocol, for actors: reading the commands that the TR_CODEC_RESP codec
 * delivers (net.h), and formatting every reply kind of RESP2 and RESP3, so a server actor
 * never writes protocol by hand.
 *
 * Reading. Each TR_ATOM_TCP_DATA payload of a TR_CODEC_RESP connection holds one or more
 * whole commands (all those of one read, at once: a pipelining client costs one message per
 * read, not one per command), in multibulk form whatever the client sent. Walk them with a
 * tr_resp_reader_t: tr_resp_read gives the next command, tr_resp_args its arguments, which
 * point into the payload and are valid while the message is.
 *
 * Replies are appended to a tr_resp_buf_t, a growable byte buffer the caller owns; its bytes
 * (data[0..len)) are what tr_conn_write sends. `proto` (2 or 3; 0 means 2) picks the RESP
 * version of the types that differ: a map, set or push is a plain array in RESP2, a null is
 * "$-1" or "*-1" in RESP2 and "_" in RESP3, and so on, as Redis does after HELLO. A failed
 * append (out of memory) is remembered in `err`, and every later append returns it without
 * doing anything, so a reply can be built with unchecked calls and checked once at the end.
 * All functions are plain computations: any thread, never block, usable inside handlers. */
#ifndef TROUPE_RESP_H
#define TROUPE_RESP_H

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- replies ---- */

/* A reply under construction. Zero-initialise it (then set proto for RESP3); free it with
 * tr_resp_buf_free. The caller may read data and len, and may set len to 0 to reuse it. */
typedef struct {
  unsigned char *data; /* malloc'd; owned by the buffer */
  size_t len;          /* bytes written */
  size_t cap;          /* bytes allocated */
  int err;             /* 0, or the first error of an append (TR_ENOMEM, TR_EINVAL) */
  int proto;           /* 2 or 3 (0 is 2) */
} tr_resp_buf_t;

/* Free the buffer's memory and zero it but for proto (it may be reused). */
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
/* tr_resp_bulk of a NUL-terminated string. */
TR_API int tr_resp_bulk_str(tr_resp_buf_t *b, const char *text);
/* The null: "$-1\r\n" (RESP2) or "_\r\n" (RESP3). */
TR_API int tr_resp_null(tr_resp_buf_t *b);
/* The null array: "*-1\r\n" (RESP2) or "_\r\n" (RESP3). */
TR_API int tr_resp_null_array(tr_resp_buf_t *b);
/* "*n\r\n": an array header; the caller appends the n elements after it. */
TR_API int tr_resp_array(tr_resp_buf_t *b, size_t n);
/* A map of n pairs: "%n\r\n" (RESP3) or "*2n\r\n" (RESP2); then 2n elements. */
TR_API int tr_resp_map(tr_resp_buf_t *b, size_t n);
/* A set of n: "~n\r\n" (RESP3) or "*n\r\n" (RESP2). */
TR_API int tr_resp_set(tr_resp_buf_t *b, size_t n);
/* An out-of-band push of n elements: ">n\r\n" (RESP3) or "*n\r\n" (RESP2). */
TR_API int tr_resp_push(tr_resp_buf_t *b, size_t n);
/* A boolean: "#t" / "#f" (RESP3) or ":1" / ":0" (RESP2). */
TR_API int tr_resp_bool(tr_resp_buf_t *b, bool v);
/* A verbatim string of format fmt (3 letters, e.g. "txt"): "=len\r\nfmt:..." (RESP3) or a
 * bulk string of the text alone (RESP2), as Redis's INFO and CLIENT LIST reply. */
TR_API int tr_resp_verbatim(tr_resp_buf_t *b, const char *fmt, const void *data, size_t len);
/* Raw bytes, already in RESP (a reply prepared by someone else). */
TR_API int tr_resp_raw(tr_resp_buf_t *b, const void *data, size_t len);

/* ---- reading commands ---- */

/* One argument of a command: it points into the payload it was read from. */
typedef struct {
  const void *data; /* its bytes, not NUL-terminated */
  size_t len;       /* how many */
} tr_resp_arg_t;

/* A walk over the commands of one payload. */
typedef struct {
  const unsigned char *p, *end; /* the bytes not read yet; set by tr_resp_reader_init */
} tr_resp_reader_t;

/* One command: its argument count and where its arguments are still to be read. */
typedef struct {
  size_t argc;                  /* arguments of the command, its name included */
  size_t left;                  /* arguments not yet taken with tr_resp_args */
  const unsigned char *p, *end; /* where they are; tr_resp_args moves p */
} tr_resp_cmd_t;

/* Start reading data[0..len), a TR_ATOM_TCP_DATA payload of a TR_CODEC_RESP connection. */
TR_API void tr_resp_reader_init(tr_resp_reader_t *r, const void *data, size_t len);
/* The next command into *cmd. Returns 1 (a command with argc >= 1), 0 (no more), TR_EPROTO
 * (the codec's protocol-error notice: cmd has one argument, Redis's whole reply to it,
 * "-ERR Protocol error: ...\r\n", which the owner writes before it closes the connection),
 * or TR_ETYPE (bytes that are not what the codec delivers; nothing more is read). */
TR_API int tr_resp_read(tr_resp_reader_t *r, tr_resp_cmd_t *cmd);
/* Take the next min(cap, cmd->left) arguments into argv[]; returns how many it took. */
TR_API size_t tr_resp_args(tr_resp_cmd_t *cmd, tr_resp_arg_t *argv, size_t cap);

#ifdef __cplusplus
}
#endif
#endif
