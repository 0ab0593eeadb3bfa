/* Metrics and the web view: a small HTTP/1.1 server (on the I/O thread's sockets, each
 * connection an actor; requests parsed strictly, as RFC 9112 says) that serves, for
 * monitoring and for people:
 *
 *   GET /metrics        the Prometheus text format (0.0.4): actors, messages, dead letters,
 *                       mailboxes (the deepest ones by name), muted actors, the scheduler per
 *                       worker, timers, each listener's connections and bytes, slow clients
 *                       dropped, and each cluster link; every series labelled with the node
 *                       (node="" for a system that is not a node).
 *   GET /               the web view: one page (no file or network besides this server) that
 *                       shows the cluster's nodes and links and every node's actors, grouped
 *                       by behaviour, with their mailboxes and message rates updating live,
 *                       a search box, and an actor's info and state on a click.
 *   GET /events         what the page listens to: server-sent events, one "snapshot" a second
 *                       ({"nodes", "stats", "actors"}: the console's JSON answers).
 *   GET /api/console?cmd=COMMAND
 *                       one console command that only reads (actors, info, state, nodes,
 *                       stats, names, groups, stuck, conns, help; with @node on a cluster),
 *                       answered with the console's JSON document (include/troupe/console.h).
 *
 * HEAD works wherever GET does; any other method gets 405, any other path 404, a malformed
 * request 400 (and HTTP/1.1 wants a Host field). A request is at most 2 KiB of target (414)
 * and 8 KiB of head (431), has no body (413), and must be whole within 10 s (408); a
 * connection idle for 30 s between requests is closed. The answer to a request that cannot
 * be read (400, 408, 413, 414, 431, 505) closes the connection; 403, 404 and 405 keep it.
 * Connections are kept alive (HTTP/1.1) and pipelined requests are answered in order.
 *
 * Like the console, it is a trusted interface: whoever reaches it sees every actor's state
 * (though it changes nothing). Bind it to 127.0.0.1 (the default) or a private address. On a
 * node, the other nodes' actors are asked through their console agents (started here too),
 * over the authenticated cluster links. */
#ifndef TROUPE_METRICS_H
#define TROUPE_METRICS_H

#include "actor.h"
#include "common.h"
#include "net.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Start serving on addr:port (addr NULL: "127.0.0.1"; port 0: any free port, see
 * tr_listener_port). Any number of servers may run; each is a listener of the system (or of
 * the calling actor, from a handler) and closes with tr_listener_close. Any thread but the
 * I/O thread; blocks until the socket is bound.
 * Errors: those of tr_listen (TR_EINVAL, TR_EADDRINUSE, TR_ESYS, TR_ENOMEM, TR_ESTOPPED). */
TR_API int tr_metrics_start(tr_system_t *sys, const char *addr, uint16_t port, tr_listener_t *out);
/* The same from a spec as the servers' --metrics flag takes it: "PORT", "HOST:PORT" or
 * "[V6]:PORT". Errors: TR_EINVAL for a bad spec, else tr_metrics_start's. */
TR_API int tr_metrics_start_at(tr_system_t *sys, const char *spec, tr_listener_t *out);

#ifdef __cplusplus
}
#endif
#endif
