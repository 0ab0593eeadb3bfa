/* The text and the name of every error code, generated from the one list in error.h. */
#include "troupe/error.h"

const char *tr_strerror(int err) {
  switch (err) {
  case TR_OK:
    return "success";
#define TR__ERR_TEXT(name, num, text)                                                              \
  case TR_##name:                                                                                  \
    return text;
    TR_ERRNO_MAP(TR__ERR_TEXT)
#undef TR__ERR_TEXT
  default:
    return "unknown error";
  }
}

const char *tr_err_name(int err) {
  switch (err) {
  case TR_OK:
    return "OK";
#define TR__ERR_NAME(name, num, text)                                                              \
  case TR_##name:                                                                                  \
    return "TR_" #name;
    TR_ERRNO_MAP(TR__ERR_NAME)
#undef TR__ERR_NAME
  default:
    return "TR_UNKNOWN";
  }
}
