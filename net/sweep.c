/* The owner sweep: a connection or listener belongs to an actor, and closes when it exits.
 * Exits do not tell the net layer (the actor layer knows nothing of sockets); instead, while
 * any connection or listener is open, the I/O thread looks every TR_NET_SWEEP_MS for those
 * whose owner is no longer in the actor table. */
#include "net/net.h"

void tr__net_on_sweep(uv_timer_t *t) {
  tr_net_t *net = t->data;
  if (!tr__net_enter(net))
    return;
  tr_table_t *table = &net->io->sys->table;
  uint64_t k, v;
  /* Closing deletes from the map being walked; deletion only leaves a tombstone, so the
   * walk stays valid. */
  for (uint32_t i = 0; tr__u64map_next(&net->conns, &i, &k, &v);) {
    tr_tcp_conn_t *c = (tr_tcp_conn_t *)(uintptr_t)v;
    if (!tr__table_get(table, c->owner))
      tr__net_conn_close(c, 0, false);
  }
  for (uint32_t i = 0; tr__u64map_next(&net->listeners, &i, &k, &v);) {
    tr_tcp_listener_t *l = (tr_tcp_listener_t *)(uintptr_t)v;
    if (!tr_pid_is_none(l->owner) && !tr__table_get(table, l->owner))
      tr__net_listener_close(l);
  }
  if (net->conns.count == 0 && net->listeners.count == 0)
    uv_timer_stop(&net->sweep);
  tr__net_leave(net);
}

void tr__net_watch(tr_net_t *net) {
  if (!uv_is_active((uv_handle_t *)&net->sweep))
    uv_timer_start(&net->sweep, tr__net_on_sweep, TR_NET_SWEEP_MS, TR_NET_SWEEP_MS);
}
