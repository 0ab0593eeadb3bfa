/* Decoding the messages a connection's owner receives (include/troupe/net.h). */
#include <string.h>

#include "net/net.h"

static void copy_addr(char out[TR_ADDR_MAX], const char *s, size_t n) {
  if (!out)
    return;
  if (n >= TR_ADDR_MAX)
    n = TR_ADDR_MAX - 1;
  memcpy(out, s, n);
  out[n] = '\0';
}

int tr_msg_tcp_open(const tr_msg_t *m, tr_conn_t *c, char peer[TR_ADDR_MAX],
                    char local[TR_ADDR_MAX]) {
  if (!m)
    return TR_EINVAL;
  if (tr_msg_tag(m) != TR_ATOM_TCP_OPEN)
    return TR_ETYPE;
  uint64_t id;
  const char *p, *l;
  size_t pn, ln;
  int rc = tr_msg_unpack(m, "[uss]", &id, &p, &pn, &l, &ln);
  if (rc)
    return rc;
  if (c)
    c->id = id;
  copy_addr(peer, p, pn);
  copy_addr(local, l, ln);
  return 0;
}

int tr_msg_tcp_eof(const tr_msg_t *m, tr_conn_t *c) {
  if (!m)
    return TR_EINVAL;
  if (tr_msg_tag(m) != TR_ATOM_TCP_EOF)
    return TR_ETYPE;
  uint64_t id;
  int rc = tr_msg_unpack(m, "[u]", &id);
  if (rc == 0 && c)
    c->id = id;
  return rc;
}

int tr_msg_tcp_closed(const tr_msg_t *m, tr_conn_t *c, int *reason) {
  if (!m)
    return TR_EINVAL;
  if (tr_msg_tag(m) != TR_ATOM_TCP_CLOSED)
    return TR_ETYPE;
  uint64_t id;
  int64_t r;
  int rc = tr_msg_unpack(m, "[ui]", &id, &r);
  if (rc)
    return rc;
  if (c)
    c->id = id;
  if (reason)
    *reason = (int)r;
  return 0;
}
