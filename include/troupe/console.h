/* The debug console: a line-based TCP service that shows a running node's actors, their
 * state and messages, for an operator at a terminal (nc, telnet, or tools/troupe-console).
 *
 * It is off unless the program starts it, and it is a trusted interface: whoever reaches
 * its port may read any actor's state, send any message (with a tag this node knows: an
 * unknown tag is an error, so a client never grows the atom table) and kill any actor.
 * Bind it to 127.0.0.1 (the default) or another private address only.
 *
 * The protocol. Each request is one line (at most TR_CONSOLE_LINE_MAX bytes, "\n" or
 * "\r\n"); `help` lists the commands. In text mode (the default) each reply is some lines
 * followed by a line holding only "."; a reply line that starts with "." gets one more "."
 * in front (as SMTP does). `json on` switches the session to one single-line JSON document
 * per reply, without the "." line; errors are {"error": "..."}. While `trace ACTOR on` is
 * active, events arrive as extra lines between replies: "trace ..." in text mode,
 * {"trace": {...}} in JSON mode. Actors are named by pid (hex, "0x" optional) or by
 * registered name, optionally followed by "@node".
 *
 * On a node of a cluster (cluster.h), a command with "@node" (`actors @b`, `info rooms@b`,
 * `trace echo@c on`) runs on that node, which must run a console too, and its answer comes
 * back over the authenticated cluster link (in JSON, with "node" set); `json` works on this
 * node only. A trace of another node's actor streams its events here until `off`, until this
 * session ends, or until the link goes down. `stuck` without "@node" asks every node and
 * tags each row with its node; nodes that did not answer are listed as "unreachable". */
#ifndef TROUPE_CONSOLE_H
#define TROUPE_CONSOLE_H

#include "actor.h"
#include "common.h"
#include "net.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Bytes of one command line; a longer line gets an error reply and is discarded. */
#define TR_CONSOLE_LINE_MAX 4096

/* Serve the console on addr:port (addr NULL: "127.0.0.1"; port 0: any free port, read it
 * with tr_listener_port(sys, *out)). Each client gets a connection actor ("console") of its
 * own. Starting a console also starts the coarse clock behind the ages that tr_actor_info
 * reports (running_ms, waiting_ms): a 1 ms timer on the I/O thread, for the rest of the
 * system's life. The listener belongs to the system (it closes at stop) unless called from
 * a handler, when it belongs to that actor. Blocks briefly; any thread.
 * Errors: those of tr_listen (TR_EINVAL, TR_EADDRINUSE, TR_ESYS, TR_ENOMEM, TR_ESTOPPED). */
TR_API int tr_console_start(tr_system_t *sys, const char *addr, uint16_t port, tr_listener_t *out);

/* tr_console_start from a command-line style address: "PORT", "ADDR:PORT" or "[IPV6]:PORT"
 * (what the examples' --console option takes). Errors: TR_EINVAL for a malformed address,
 * and those of tr_console_start. */
TR_API int tr_console_start_at(tr_system_t *sys, const char *spec, tr_listener_t *out);

#ifdef __cplusplus
}
#endif
#endif
