/* Reading the commands of a TR_CODEC_RESP payload (troupe/resp.h). The codec has checked the
 * framing already, but a reader never trusts bytes it is handed: every length is checked
 * against what is left, so a payload from anywhere else can at worst read as TR_ETYPE. */
#include <string.h>

#include "troupe/error.h"
#include "troupe/resp.h"

void tr_resp_reader_init(tr_resp_reader_t *r, const void *data, size_t len) {
  r->p = data;
  r->end = r->p + (data ? len : 0);
}

/* "<type>N\r\n" at *p: N (0 <= N < 2^62; "-1" and other negatives as -1) and *p past it. */
static bool header(const unsigned char **p, const unsigned char *end, char type, int64_t *v) {
  const unsigned char *q = *p;
  if (q == end || *q++ != (unsigned char)type)
    return false;
  bool neg = q < end && *q == '-';
  q += neg;
  int64_t x = 0;
  int digits = 0;
  while (q < end && *q >= '0' && *q <= '9' && digits < 18) {
    x = x * 10 + (*q++ - '0');
    digits++;
  }
  if (digits == 0 || end - q < 2 || q[0] != '\r' || q[1] != '\n')
    return false;
  *p = q + 2;
  *v = neg ? -1 : x;
  return true;
}

static int stop(tr_resp_reader_t *r) {
  r->p = r->end;
  return TR_ETYPE;
}

int tr_resp_read(tr_resp_reader_t *r, tr_resp_cmd_t *cmd) {
  for (;;) {
    if (r->p >= r->end)
      return 0;
    if (*r->p == '-') { /* the codec's protocol-error notice: the rest of the payload */
      cmd->argc = cmd->left = 1;
      cmd->p = r->p;
      cmd->end = r->end;
      r->p = r->end;
      return TR_EPROTO;
    }
    int64_t n;
    if (!header(&r->p, r->end, '*', &n))
      return stop(r);
    if (n <= 0)
      continue; /* an empty command: Redis ignores it */
    /* Walk the arguments once to find where the command ends. */
    const unsigned char *q = r->p;
    for (int64_t i = 0; i < n; i++) {
      int64_t len;
      if (!header(&q, r->end, '$', &len) || len < 0 || r->end - q < len + 2)
        return stop(r);
      q += len + 2;
    }
    cmd->argc = cmd->left = (size_t)n;
    cmd->p = r->p;
    cmd->end = q;
    r->p = q;
    return 1;
  }
}

size_t tr_resp_args(tr_resp_cmd_t *cmd, tr_resp_arg_t *argv, size_t cap) {
  size_t n = 0;
  if (cmd->left && cmd->p < cmd->end && *cmd->p == '-') { /* the error notice, whole */
    if (cap) {
      argv[0] = (tr_resp_arg_t){cmd->p, (size_t)(cmd->end - cmd->p)};
      cmd->left = 0;
      return 1;
    }
    return 0;
  }
  while (n < cap && cmd->left) {
    int64_t len;
    /* Checked by tr_resp_read: the arguments are well formed up to cmd->end. */
    if (!header(&cmd->p, cmd->end, '$', &len) || len < 0 || cmd->end - cmd->p < len + 2)
      break;
    argv[n++] = (tr_resp_arg_t){cmd->p, (size_t)len};
    cmd->p += len + 2;
    cmd->left--;
  }
  return n;
}
