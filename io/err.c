/* libuv's error codes translated into troupe's, at the one layer that calls libuv. */
#include "io/io.h"

int tr__io_err(int uv_err, const char *what) {
  switch (uv_err) {
  case 0:
  case UV_EOF:
    return 0;
  case UV_EADDRINUSE:
    return TR_EADDRINUSE;
  case UV_EINVAL:
    return TR_EINVAL;
  case UV_ENOMEM:
  case UV_ENOBUFS:
    return TR_ENOMEM;
  case UV_ECONNREFUSED:
    return TR_ECONNREFUSED;
  case UV_ECONNRESET:
  case UV_EPIPE:
    return TR_ECONNRESET;
  case UV_ETIMEDOUT:
    return TR_ETIMEDOUT;
  case UV_ENOTCONN: /* the peer went first (e.g. a QUIT then a disconnect): nothing to report */
    return TR_ECONNRESET;
  default:
    tr_log(TR_LOG_WARN, "%s: %s", what, uv_strerror(uv_err));
    return TR_ESYS;
  }
}
