/* Exit reasons: filling one and naming its kind. */
#include <string.h>

#include "troupe/actor.h"

tr_reason_t *tr_reason_set(tr_reason_t *r, tr_reason_kind_t kind, int code, const char *text) {
  r->kind = kind;
  r->code = code;
  r->text[0] = '\0';
  if (text) {
    size_t n = strnlen(text, TR_REASON_TEXT_MAX - 1);
    memcpy(r->text, text, n);
    r->text[n] = '\0';
  }
  return r;
}

const char *tr_reason_kind_name(tr_reason_kind_t kind) {
  switch (kind) {
  case TR_REASON_NORMAL:
    return "normal";
  case TR_REASON_SHUTDOWN:
    return "shutdown";
  case TR_REASON_KILLED:
    return "killed";
  case TR_REASON_ERROR:
    return "error";
  case TR_REASON_NOPROC:
    return "noproc";
  case TR_REASON_NOCONNECTION:
    return "noconnection";
  }
  return "unknown";
}
