/* Error codes. Every public function that can fail returns 0 or a negative TR_E* code, as
 * libuv does; tr_strerror() and tr_err_name() describe a code. */
#ifndef TROUPE_ERROR_H
#define TROUPE_ERROR_H

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The one list of errors: name, positive number, text. */
#define TR_ERRNO_MAP(XX)                                                                           \
  XX(EINVAL, 1, "invalid argument")                                                                \
  XX(ENOMEM, 2, "out of memory")                                                                   \
  XX(ENOENT, 3, "no such actor or name")                                                           \
  XX(EEXIST, 4, "name already registered")                                                         \
  XX(ETIMEDOUT, 5, "operation timed out")                                                          \
  XX(ESTOPPED, 6, "system is stopping or stopped")                                                 \
  XX(ELIMIT, 7, "limit exceeded")                                                                  \
  XX(EMSGSIZE, 8, "message too large")                                                             \
  XX(EPROTO, 9, "malformed msgpack data")                                                          \
  XX(ETYPE, 10, "data does not match the expected format")                                         \
  XX(ENOTLOCAL, 11, "local-only payload cannot leave the node")                                    \
  XX(EBUSY, 12, "resource busy")                                                                   \
  XX(EAGAIN, 13, "resource temporarily unavailable")                                               \
  XX(ESYS, 14, "operating system error")                                                           \
  XX(EADDRINUSE, 15, "address already in use")                                                     \
  XX(ECONNREFUSED, 16, "connection refused")                                                       \
  XX(ECONNRESET, 17, "connection reset by peer")                                                   \
  XX(ENOCONN, 18, "no connection to the actor's node")

/* The error codes, generated from the list: TR_OK (0) is success, every TR_E* is the
 * negative of its number. */
typedef enum {
  TR_OK = 0, /* success */
#define TR__ERRNO_ENUM(name, num, text) TR_##name = -(num),
  TR_ERRNO_MAP(TR__ERRNO_ENUM)
#undef TR__ERRNO_ENUM
} tr_errno_t;

/* Describe an error code. Any thread. Returns a static string; unknown codes get a generic
 * text rather than NULL. */
TR_API const char *tr_strerror(int err);
/* The code's name as the enum spells it ("TR_EINVAL"; "OK" for 0, "TR_UNKNOWN" for a code
 * not in the list), for logs and tests. Any thread; a static string. */
TR_API const char *tr_err_name(int err);

#ifdef __cplusplus
}
#endif
#endif
